//! The object-safe driver over the generic engine (design rule 4).
//!
//! `Sim<P, C>` is monomorphised per protocol for speed; everything outside
//! the engine — the CLI, the TUI, the checkers' harness, the shrinker —
//! drives a `Box<dyn Driver>` and never names a protocol type.

use super::budget::{Budget, Halt};
use super::engine::{InFlight, Sim, Stats, StepRecord};
use super::fault::{Fault, TimedFault};
use super::faults::InterventionError;
use super::hash::Digest;
use super::history::History;
use super::host::NodeStatus;
use super::monitor::{Checker, Report};
use super::network::EndpointId;
use super::time::SimTime;
use super::trace::{Trace, TraceSink};
use crate::nodes::{NodeView, Protocol};
use std::any::Any;

/// An opaque snapshot of a run, restorable into the driver that took it
/// (or another driver of the same scenario, on another thread; several
/// threads may restore one snapshot shared behind an `Arc`).
pub struct Snapshot(Box<dyn Any + Send + Sync>);

/// A node as the generic views show it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct NodeSummary {
    pub name: String,
    pub status: NodeStatus,
    /// Local clock minus real time, in µs.
    pub clock_offset_us: i64,
    /// The protocol's view; `None` while the node is down.
    pub view: Option<NodeView>,
    /// While down: the view of what recovery will read from its disk.
    pub recovers_to: Option<NodeView>,
    /// Pending timers, soonest first: key and when it fires.
    pub timers: Vec<(String, SimTime)>,
    /// Events waiting for the node to resume (while paused).
    pub held: usize,
}

pub trait Driver {
    fn protocol(&self) -> &'static str;
    fn now(&self) -> SimTime;
    fn stats(&self) -> Stats;
    /// Processes one event; `None` when nothing is left, or the run has
    /// halted (see [`Driver::halted`]).
    fn step(&mut self) -> Option<StepRecord>;
    /// Processes the next event at or before `limit` (see
    /// [`Sim::step_within`]); `None` when there is none.
    fn step_within(&mut self, limit: SimTime) -> Option<StepRecord>;
    fn run_until(&mut self, until: SimTime);
    /// See [`Sim::next_time`].
    fn next_time(&mut self) -> Option<SimTime>;
    /// See [`Sim::delivers_next_now`].
    fn delivers_next_now(&self) -> Option<u64>;
    /// See [`Sim::record_choices`].
    fn record_choices(&mut self, on: bool);
    /// See [`Sim::keep_void_events`].
    fn keep_void_events(&mut self);
    /// See [`Sim::events_waiting`].
    fn events_waiting(&self) -> usize;
    /// See [`Sim::choices_made`]: what `distlab explore` branches on.
    fn choices_made(&self) -> &[(u64, u64)];
    /// See [`Sim::run_until_quiet`].
    fn run_until_quiet(&mut self, limit: SimTime) -> bool;
    fn intervene(&mut self, fault: Fault) -> Result<StepRecord, InterventionError>;
    /// See [`Sim::snapshot`]. `&mut` because it first trims the nodes it
    /// will share, which costs a run that takes no snapshots nothing.
    fn snapshot(&mut self) -> Snapshot;
    /// Restores a snapshot taken from this driver. Panics on a snapshot of
    /// another protocol, which is a programming error.
    fn restore(&mut self, snapshot: &Snapshot);
    /// Restores a snapshot of this line of the run, earlier or later than
    /// now, keeping the logs' known future (see [`Sim::restore_keeping`]).
    fn restore_keeping(&mut self, snapshot: &Snapshot);
    /// An intervention that makes a run restored with
    /// [`Driver::restore_keeping`] go another way from here (see
    /// [`Sim::intervene_anew`]).
    fn intervene_anew(&mut self, fault: Fault) -> Result<StepRecord, InterventionError>;
    fn state_hash(&self) -> Digest;
    /// The model fingerprint: the simulated system's state without the
    /// engine's bookkeeping (counters, ids, sequence keys, slab slots,
    /// timer generations, random-stream seeds), equal for equal states
    /// however they were reached; two states with one fingerprint have the
    /// same future. See `sim::fingerprint`.
    fn fingerprint(&self) -> Digest;
    /// A digest of the checker's whole state (its `Debug` form, hashed as
    /// it is written): two runs whose model states fingerprint equal may
    /// still differ here, by what their checkers heard on the way. Zero
    /// when checks are off.
    fn checker_digest(&self) -> Digest;
    /// The trace digest (`None` at trace level `off`).
    fn digest(&self) -> Option<Digest>;
    fn trace(&self) -> &Trace;
    /// Streams the trace's events to `sink` as they happen instead of
    /// keeping them (those kept so far go first); see [`Trace::stream_to`].
    fn stream_trace(&mut self, sink: Box<dyn TraceSink>);
    /// Ends streaming and returns the sink, to flush and close it.
    fn take_trace_sink(&mut self) -> Option<Box<dyn TraceSink>>;
    /// Why the run stopped before its end: a budget was exceeded (a
    /// livelock at one instant, the event budget, too many events
    /// waiting). Once halted, a run takes no more steps (`step` returns
    /// `None`, `run_until` returns at once and leaves the clock where the
    /// run stopped) until a snapshot from before the halt is restored.
    /// The CLI prints the message and exits with status 2.
    fn halted(&self) -> Option<Halt>;
    /// Replaces the run's budget; it applies from the next step on.
    fn set_budget(&mut self, budget: Budget);
    fn history(&self) -> &History;
    /// Each node's load so far ([`super::capacity`]; zeros without it).
    fn loads(&self) -> Vec<super::capacity::LoadSummary>;
    /// Open-loop arrivals shed so far, all `[[clients]]` entries together.
    fn ops_shed(&self) -> u64;
    /// Whether nodes have a capacity (`[capacity]`).
    fn models_capacity(&self) -> bool;
    /// Whether the run models load: nodes with a capacity, or an open-loop
    /// client (then its report has throughput metrics).
    fn models_load(&self) -> bool;
    fn report(&self) -> Report;
    /// Whether every check in [`Driver::report`] holds now, without
    /// building the report (see [`Checker::all_hold`]).
    fn checks_hold(&self) -> bool;
    /// Values with a meaning at this instant, sampled over a run to draw
    /// them against time: `messages_in_flight`, then the checker's
    /// [`Checker::GAUGES`].
    fn gauges(&self) -> Vec<(&'static str, f64)>;
    fn nodes(&self) -> Vec<NodeSummary>;
    fn in_flight(&self) -> Vec<InFlight>;
    /// The ids of [`Driver::in_flight`], in its order, without describing
    /// each message (for `distlab explore`'s inner loop).
    fn in_flight_ids(&self) -> Vec<u64>;
    /// Whether [`Driver::in_flight_ids`] would list any message (without
    /// listing them: `distlab explore` asks of every new state).
    fn delivering(&self) -> bool;
    fn endpoint_name(&self, e: EndpointId) -> String;
    /// Can a message from `from` reach `to` right now (partitions, cuts)?
    fn reachable(&self, from: EndpointId, to: EndpointId) -> bool;
    fn applied_faults(&self) -> &[TimedFault];
    fn scheduled_faults(&self) -> &[TimedFault];
    /// A fault in words, with names (`n1 crashes`).
    fn describe_fault(&self, fault: &Fault) -> String;
    /// Begins the liveness phase: every fault ends and clients issue
    /// nothing new (see [`Sim::end_faults`]).
    fn end_faults(&mut self);
    /// What is still unfinished now, one line each: client operations
    /// still open, then what the protocol's checker reports
    /// ([`Checker::pending`]). Empty once the run has settled.
    fn pending(&self) -> Vec<String>;
}

impl<P: Protocol, C: Checker<P> + std::fmt::Debug + 'static> Driver for Sim<P, C>
where
    super::engine::SimSnapshot<P, C>: Send + Sync,
{
    fn protocol(&self) -> &'static str {
        P::NAME
    }
    fn now(&self) -> SimTime {
        Sim::now(self)
    }
    fn stats(&self) -> Stats {
        Sim::stats(self)
    }
    fn step(&mut self) -> Option<StepRecord> {
        Sim::step(self)
    }
    fn step_within(&mut self, limit: SimTime) -> Option<StepRecord> {
        Sim::step_within(self, limit)
    }
    fn run_until(&mut self, until: SimTime) {
        Sim::run_until(self, until)
    }
    fn next_time(&mut self) -> Option<SimTime> {
        Sim::next_time(self)
    }
    fn delivers_next_now(&self) -> Option<u64> {
        Sim::delivers_next_now(self)
    }
    fn record_choices(&mut self, on: bool) {
        Sim::record_choices(self, on)
    }
    fn keep_void_events(&mut self) {
        Sim::keep_void_events(self)
    }
    fn events_waiting(&self) -> usize {
        Sim::events_waiting(self)
    }
    fn choices_made(&self) -> &[(u64, u64)] {
        Sim::choices_made(self)
    }
    fn run_until_quiet(&mut self, limit: SimTime) -> bool {
        Sim::run_until_quiet(self, limit)
    }
    fn intervene(&mut self, fault: Fault) -> Result<StepRecord, InterventionError> {
        Sim::intervene(self, fault)
    }
    fn snapshot(&mut self) -> Snapshot {
        Snapshot(Box::new(Sim::snapshot(self)))
    }
    fn restore(&mut self, snapshot: &Snapshot) {
        let snap = snapshot.0.downcast_ref().expect("a snapshot is restored into the driver that took it");
        Sim::restore(self, snap)
    }
    fn restore_keeping(&mut self, snapshot: &Snapshot) {
        let snap = snapshot.0.downcast_ref().expect("a snapshot is restored into the driver that took it");
        Sim::restore_keeping(self, snap)
    }
    fn intervene_anew(&mut self, fault: Fault) -> Result<StepRecord, InterventionError> {
        Sim::intervene_anew(self, fault)
    }
    fn state_hash(&self) -> Digest {
        Sim::state_hash(self)
    }
    fn fingerprint(&self) -> Digest {
        Sim::fingerprint(self)
    }
    fn digest(&self) -> Option<Digest> {
        Sim::trace(self).digest()
    }
    fn trace(&self) -> &Trace {
        Sim::trace(self)
    }
    fn stream_trace(&mut self, sink: Box<dyn TraceSink>) {
        Sim::stream_trace(self, sink)
    }
    fn take_trace_sink(&mut self) -> Option<Box<dyn TraceSink>> {
        Sim::take_trace_sink(self)
    }
    fn halted(&self) -> Option<Halt> {
        Sim::halted(self).cloned()
    }
    fn set_budget(&mut self, budget: Budget) {
        Sim::set_budget(self, budget)
    }
    fn history(&self) -> &History {
        Sim::history(self)
    }
    fn loads(&self) -> Vec<super::capacity::LoadSummary> {
        Sim::loads(self)
    }
    fn ops_shed(&self) -> u64 {
        self.shed().iter().sum()
    }
    fn models_capacity(&self) -> bool {
        self.config().capacity.is_some()
    }
    fn models_load(&self) -> bool {
        self.models_capacity() || self.config().clients.iter().any(|c| c.arrival.is_some())
    }
    fn report(&self) -> Report {
        Sim::report(self)
    }
    fn checks_hold(&self) -> bool {
        Sim::checks_hold(self)
    }
    fn gauges(&self) -> Vec<(&'static str, f64)> {
        let mut g = vec![("messages_in_flight", self.messages_in_flight() as f64)];
        if self.config().capacity.is_some() {
            g.push((super::monitor::QUEUED.name, self.loads().iter().map(|l| l.waiting as f64).sum()));
            g.push((super::monitor::BUSY.name, self.busy_now()));
        }
        g.extend(self.checker_gauges());
        g
    }
    fn nodes(&self) -> Vec<NodeSummary> {
        self.config()
            .cluster
            .nodes()
            .map(|n| NodeSummary {
                name: self.config().cluster.name(n).to_string(),
                status: self.node_status(n),
                clock_offset_us: self.node_clock_offset_us(n),
                view: self.node_view(n),
                recovers_to: self.node_recovery_view(n),
                timers: self.node_timers(n),
                held: self.node_held(n),
            })
            .collect()
    }
    fn in_flight(&self) -> Vec<InFlight> {
        Sim::in_flight(self)
    }
    fn checker_digest(&self) -> Digest {
        /// Hashes text as it is formatted, without keeping it.
        struct Hashing(super::hash::StableHasher);
        impl std::fmt::Write for Hashing {
            fn write_str(&mut self, s: &str) -> std::fmt::Result {
                std::hash::Hasher::write(&mut self.0, s.as_bytes());
                Ok(())
            }
        }
        let Some(checker) = self.checker.as_deref() else { return Digest(0) };
        let mut h = Hashing(super::hash::StableHasher::new());
        std::fmt::Write::write_fmt(&mut h, format_args!("{checker:?}")).expect("hashing cannot fail");
        Digest(h.0.finish128())
    }
    fn in_flight_ids(&self) -> Vec<u64> {
        self.deliveries(|_, id, _, _, _| id)
    }
    fn delivering(&self) -> bool {
        Sim::delivering(self)
    }
    fn endpoint_name(&self, e: EndpointId) -> String {
        Sim::endpoint_name(self, e)
    }
    fn reachable(&self, from: EndpointId, to: EndpointId) -> bool {
        self.network().reachable(from, to)
    }
    fn applied_faults(&self) -> &[TimedFault] {
        Sim::applied_faults(self)
    }
    fn scheduled_faults(&self) -> &[TimedFault] {
        Sim::scheduled_faults(self)
    }
    fn describe_fault(&self, fault: &Fault) -> String {
        Sim::describe_fault(self, fault)
    }
    fn end_faults(&mut self) {
        Sim::end_faults(self)
    }
    fn pending(&self) -> Vec<String> {
        let s = Sim::stats(self);
        let open = s.ops_invoked - s.ops_ok - s.ops_fail - s.ops_info;
        let mut out = Vec::new();
        if open > 0 {
            out.push(format!("{open} client operation{} still open", if open == 1 { "" } else { "s" }));
        }
        out.extend(self.checker_pending(&Driver::nodes(self)));
        out
    }
}
