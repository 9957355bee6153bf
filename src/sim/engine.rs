//! The engine: `Sim<P>`, one deterministic run of protocol `P`.
//!
//! The state that changes ([`SimState`]) is one `Hash` value — clock,
//! event queue, nodes, clients, network, RNG positions, counters — so a
//! snapshot is a copy of it (the queue kept as its order, the nodes and
//! clients shared until they change) and the state hash is canonical
//! (design rule 6). The trace, the history and the observation log are append-only and
//! live outside it; a restore truncates them.
//!
//! This file is the loop: take the next event, process it as one step,
//! within the run's budgets. The rest of the engine, by concern:
//! `queue.rs` (the time-ordered event queue over a slab, `slab.rs`, whose
//! snapshots share the chunks a step did not write),
//! `host.rs` (runs handlers and performs their effects: the one
//! place each effect's meaning is written; each node's runtime),
//! `clients.rs` (the client processes and their history), and
//! `faults.rs` (applying faults and interventions).
//!
//! Every step is counted against the run's [`Budget`]: too many events at
//! one instant (a livelock), too many in all, or too many waiting at once
//! stop the run with a [`Halt`] that names what was spinning or piling up
//! (see [`super::budget`]). Nothing the engine keeps grows with the length
//! of a run except what a caller asked to keep: the client history when
//! `record_history` is on, and the trace's events at level `full` when
//! they are not streamed.

use super::budget::{Budget, Halt, most_frequent};
use super::capacity::{Capacity, NodeLoad};
use super::fault::TimedFault;
use super::hash::{Digest, StableHasher};
use super::history::{History, HistoryEvent};
use super::host::{NodeRt, NodeStatus};
use super::monitor::{At, Checker, Report};
use super::network::{DropReason, EndpointId, Network, NetworkConfig};
use super::queue::{
    Event, EventHeap, Payload, PendingEvent, PendingSlot, QueueOrder, WirePayload, describe, label,
};
use super::rng::{RngStream, StreamKind};
use super::time::{SimDuration, SimTime};
use super::trace::{NONE, Trace, TraceKind, TraceLevel};
use crate::nodes::client::{ClientSlot, ClientSpec};
use crate::nodes::{Clock, Cluster, Message, NodeId, Outbox, Protocol, SmallMap, WriteId};
use crate::util::CowArc;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// Everything fixed for a run: built once from a scenario.
pub struct SimConfig<P: Protocol> {
    pub seed: u64,
    pub params: P::Params,
    pub cluster: Arc<Cluster>,
    pub network: Arc<NetworkConfig>,
    pub clients: Vec<ClientSpec>,
    /// Scripted faults and notes (timeline and nemesis), any order.
    pub faults: Vec<TimedFault>,
    /// How long a durable write takes to reach the disk.
    pub disk_latency: SimDuration,
    /// Initial clock `(offset_us, drift_ppm)` of each node.
    pub clocks: Vec<(i64, i64)>,
    pub trace: TraceLevel,
    /// Record the client history (off for benchmarks: then memory does not
    /// grow with the number of operations).
    pub record_history: bool,
    /// Run the protocol's checker online.
    pub checks: bool,
    /// The most work and memory the run may use (see [`Sim::set_budget`]).
    pub budget: Budget,
    /// Every node's capacity (`None`: infinite, every message is handled
    /// the instant it arrives). See [`super::capacity`].
    pub capacity: Option<Capacity>,
}

/// Counters of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Stats {
    /// Events processed (steps).
    pub events: u64,
    pub sent: u64,
    pub delivered: u64,
    pub dropped: u64,
    pub duplicated: u64,
    pub ops_invoked: u64,
    pub ops_ok: u64,
    pub ops_fail: u64,
    pub ops_info: u64,
}

/// The simulation state: everything a snapshot captures. See module docs.
#[derive(Debug)]
pub struct SimState<P: Protocol> {
    pub(super) now: SimTime,
    pub(super) stats: Stats,
    pub(super) next_key: u64,
    pub(super) next_msg: u64,
    pub(super) next_op: u64,
    pub(super) next_process: u32,
    pub(super) queue: EventHeap,
    pub(super) slab: super::slab::Slab<PendingSlot<P>>,
    pub(super) free: Vec<u32>,
    pub(super) nodes: super::host::Nodes<P>,
    pub(super) clients: super::shared::Shared<ClientSlot<crate::nodes::OpOf<P>>>,
    /// Operations issued so far per `[[clients]]` entry.
    pub(super) issued: Vec<u64>,
    /// Per `[[clients]]` entry: its arrival stream (used by open-loop
    /// entries only) and the arrivals it shed because every process of
    /// the entry had an operation open.
    pub(super) arrivals: Vec<RngStream>,
    pub(super) shed: Vec<u64>,
    pub(super) network: Network,
    /// Deliveries in the queue (for quiescence).
    pub(super) in_flight: u64,
    /// Scripted faults still to come.
    pub(super) faults_pending: u64,
    /// Index of the next step-keyed fault (see `SimConfig::faults`).
    pub(super) next_keyed: usize,
    /// Budget bookkeeping, left out of the state hash (it describes how
    /// the run is going, not what the simulated system is): the instant
    /// of the last step, and the steps before it (so the steps at it are
    /// `stats.events - events_before_instant`); near the limit, what the
    /// last steps at that instant were, which instant that was, and what
    /// the next event is (with the step count when it was noted: it counts
    /// once it has run); and why the run stopped, once it has.
    pub(super) instant: SimTime,
    pub(super) events_before_instant: u64,
    pub(super) spinning: BTreeMap<String, u64>,
    pub(super) spinning_at: SimTime,
    pub(super) spin_next: Option<(String, u64)>,
    pub(super) halt: Option<Box<Halt>>,
    /// How many events may wait (slab slots taken) before the queue is
    /// next swept of void ones ([`Sim::sweep_void`]): bookkeeping too,
    /// kept by snapshots so that a run replayed from one sweeps where the
    /// run did.
    pub(super) sweep_at: u64,
    /// The values the next choices handlers make take, in order (the
    /// intervention `choose`, [`Fault::Choose`](super::Fault::Choose)):
    /// what is left of them (see [`crate::nodes::Choices`]).
    pub(super) script: Option<Box<[u64]>>,
}

impl<P: Protocol> SimState<P> {
    /// A copy for a snapshot. The queue's order is kept apart, as the
    /// slots of its live events ([`EventHeap::order`]); the copy's own
    /// queue is empty, and [`SimState::restore_from`] fills it again. The
    /// nodes the copy will share and nothing else holds (those changed
    /// since the last snapshot or restore) first give back the room their
    /// queues keep for writes and effects that have gone
    /// ([`NodeRt::trim`]).
    fn snapshot(&mut self) -> (Self, QueueOrder) {
        self.nodes.trim_unshared(NodeRt::trim);
        let copy = SimState {
            now: self.now,
            stats: self.stats,
            next_key: self.next_key,
            next_msg: self.next_msg,
            next_op: self.next_op,
            next_process: self.next_process,
            queue: EventHeap::new(),
            slab: self.slab.clone(),
            free: self.free.clone(),
            nodes: self.nodes.clone(),
            clients: self.clients.clone(),
            issued: self.issued.clone(),
            arrivals: self.arrivals.clone(),
            shed: self.shed.clone(),
            network: self.network.clone(),
            in_flight: self.in_flight,
            faults_pending: self.faults_pending,
            next_keyed: self.next_keyed,
            instant: self.instant,
            events_before_instant: self.events_before_instant,
            spinning: self.spinning.clone(),
            spinning_at: self.spinning_at,
            spin_next: self.spin_next.clone(),
            halt: self.halt.clone(),
            sweep_at: self.sweep_at,
            script: self.script.clone(),
        };
        (copy, self.queue.order(&self.slab))
    }

    /// Copies a snapshot's state `source` into this state field by field,
    /// reusing this state's buffers (the queue, the slab, the network's
    /// links; nodes and clients are shared, `sim::shared`; the slab copies
    /// only the chunks that differ, `sim::slab`), and refills the queue
    /// from the snapshot's `order`: a restore — `distlab explore` makes
    /// one per move — then allocates almost nothing. (The pattern names
    /// every field, so a new one cannot be forgotten here.)
    fn restore_from(&mut self, source: &Self, order: &QueueOrder) {
        let SimState {
            now,
            stats,
            next_key,
            next_msg,
            next_op,
            next_process,
            queue,
            slab,
            free,
            nodes,
            clients,
            issued,
            arrivals,
            shed,
            network,
            in_flight,
            faults_pending,
            next_keyed,
            instant,
            events_before_instant,
            spinning,
            spinning_at,
            spin_next,
            halt,
            sweep_at,
            script,
        } = source;
        self.now = *now;
        self.stats = *stats;
        self.next_key = *next_key;
        self.next_msg = *next_msg;
        self.next_op = *next_op;
        self.next_process = *next_process;
        debug_assert!(queue.is_empty(), "a snapshot's queue is kept as its order");
        self.slab.clone_from(slab);
        self.queue.refill(order, &self.slab);
        self.free.clone_from(free);
        self.nodes.clone_from(nodes);
        self.clients.clone_from(clients);
        self.issued.clone_from(issued);
        self.arrivals.clone_from(arrivals);
        self.shed.clone_from(shed);
        self.network.clone_from(network);
        self.in_flight = *in_flight;
        self.faults_pending = *faults_pending;
        self.next_keyed = *next_keyed;
        self.instant = *instant;
        self.events_before_instant = *events_before_instant;
        self.spinning.clone_from(spinning);
        self.spinning_at = *spinning_at;
        self.spin_next.clone_from(spin_next);
        self.halt.clone_from(halt);
        self.sweep_at = *sweep_at;
        self.script.clone_from(script);
    }
}

/// How many of the last events before a livelock halt are counted by what
/// they were, to name what was spinning.
pub(super) const SPIN_SAMPLE: u64 = 4096;

impl<P: Protocol> Hash for SimState<P> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.now.hash(h);
        self.stats.hash(h);
        (self.next_key, self.next_msg, self.next_op, self.next_process).hash(h);
        // The queue in pop order, without slot numbers (which are an
        // artefact of the slab's free list). Void events not swept yet are
        // in it: two states of one hash have the same events queued, but
        // `sweep_at` (left out, as bookkeeping) may sweep them at different
        // times later; a run replayed from a snapshot, which keeps it,
        // sweeps where the run did.
        let mut live: Vec<&PendingSlot<P>> = self
            .queue
            .iter()
            .filter_map(|e| self.slab[e.slot as usize].as_ref().filter(|s| s.key == e.key))
            .collect();
        live.sort_by_key(|s| (s.time, s.key));
        live.len().hash(h);
        for s in live {
            (s.time, s.key).hash(h);
            s.event.hash(h);
        }
        for n in &self.nodes {
            (n.status, &n.state, &n.disk, &n.unflushed, &n.timers, &n.after_disk).hash(h);
            (&n.io, n.incarnation, &n.load).hash(h);
            for &slot in &n.held {
                self.slab[slot as usize].as_ref().map(|s| (&s.event, s.key)).hash(h);
            }
        }
        self.clients.hash(h);
        (&self.issued, &self.arrivals, &self.shed).hash(h);
        self.network.hash(h);
        (self.in_flight, self.faults_pending, self.next_keyed).hash(h);
        // (Only when there is one: every other state hashes as it did
        // before the intervention existed.)
        if let Some(script) = &self.script {
            script.hash(h);
        }
    }
}

/// What one step did, small and unformatted (design rule 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct StepRecord {
    pub step: u64,
    pub time: SimTime,
    pub kind: TraceKind,
    /// The endpoint the event happened at.
    pub node: Option<EndpointId>,
    /// The other endpoint (a message's sender).
    pub peer: Option<EndpointId>,
    /// A message id, for deliveries and drops.
    pub msg: Option<u64>,
}

/// A message in flight, for views and interventions.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct InFlight {
    pub id: u64,
    pub from: EndpointId,
    pub to: EndpointId,
    pub kind: &'static str,
    pub summary: String,
    pub arrives: SimTime,
}

/// A snapshot: the state, the checker, and where the logs were.
pub struct SimSnapshot<P: Protocol, C> {
    state: SimState<P>,
    /// The queue, as its live events' slots in pop order.
    order: QueueOrder,
    checker: Option<CowArc<C>>,
    trace: super::trace::TraceMark,
    history: usize,
    applied_faults: usize,
}

/// One deterministic run of protocol `P`, checked by `C`.
pub struct Sim<P: Protocol, C: Checker<P>> {
    pub(super) cfg: Arc<SimConfig<P>>,
    /// Scripted faults sorted by `(at, original order)`; step-keyed ones
    /// are in `keyed`, sorted by step.
    pub(super) faults: Vec<TimedFault>,
    pub(super) keyed: Vec<TimedFault>,
    pub(super) state: SimState<P>,
    /// Shared with snapshots until it next changes (copy on write:
    /// [`crate::util::make_mut`]).
    pub(super) checker: Option<CowArc<C>>,
    pub(super) trace: Trace,
    pub(super) history: History,
    /// Faults applied so far, including interventions, in order.
    pub(super) applied: Vec<TimedFault>,
    /// The known future of the history and the applied faults: what a
    /// [`Sim::restore_keeping`] took off their ends, the next first (the
    /// trace keeps its own). A replay takes each back; a restore to a
    /// later snapshot brings them back at once.
    pub(super) history_ahead: VecDeque<HistoryEvent>,
    pub(super) applied_ahead: VecDeque<TimedFault>,
    pub(super) budget: Budget,
    /// Steps at one instant from which the engine notes what each step is
    /// (`budget.events_per_instant - SPIN_SAMPLE`).
    pub(super) crowd_from: u64,
    pub(super) out: Outbox<P>,
    /// Reused buffer of writes completed within a step (no allocation in
    /// the inner loop).
    pub(super) persisted_scratch: Vec<WriteId>,
    /// Reused buffer of messages a handler sent its own node.
    pub(super) loopback_scratch: Vec<P::Msg>,
    /// Where the network last found each link's state: a cache of the
    /// engine's, not part of the state (a snapshot does not copy it, a
    /// restore leaves it alone).
    pub(super) link_hints: super::network::LinkHints,
    /// The choices the handlers made, as (options, value taken), while
    /// recorded ([`Sim::record_choices`]; `distlab explore` branches on
    /// them): engine bookkeeping, not part of the state.
    pub(super) choices_made: Option<Vec<(u64, u64)>>,
    /// Whether the queue is swept of void events ([`Sim::sweep_void`]);
    /// `distlab explore` keeps them ([`Sim::keep_void_events`]).
    pub(super) sweeps: bool,
}

impl<P: Protocol, C: Checker<P>> Sim<P, C> {
    /// Builds the run and starts every node (their `init` handlers run at
    /// time zero, as step zero).
    pub fn new(cfg: SimConfig<P>) -> Self {
        let nodes_n = cfg.cluster.len();
        let endpoints = nodes_n + cfg.clients.iter().map(|c| c.processes as usize).sum::<usize>();
        let mut faults: Vec<TimedFault> = Vec::new();
        let mut keyed: Vec<TimedFault> = Vec::new();
        for f in &cfg.faults {
            if f.step.is_some() { keyed.push(f.clone()) } else { faults.push(f.clone()) }
        }
        faults.sort_by_key(|f| f.at); // stable: equal times keep file order
        keyed.sort_by_key(|f| f.step);
        let nodes = (0..nodes_n)
            .map(|i| NodeRt {
                status: NodeStatus::Up,
                state: None,
                disk: CowArc::default(),
                unflushed: VecDeque::new(),
                timers: SmallMap::new(),
                incarnation: 0,
                io: crate::nodes::NodeIo {
                    clock: {
                        let (off, drift) = cfg.clocks.get(i).copied().unwrap_or((0, 0));
                        Clock::new(SimTime::ZERO, off, drift)
                    },
                    rng: RngStream::new(cfg.seed, StreamKind::Node, i as u64, 0),
                    next_timer: 0,
                    next_write: 0,
                    on_disk: 0,
                },
                held: Vec::new(),
                after_disk: VecDeque::new(),
                load: cfg.capacity.is_some().then(|| {
                    Box::new(NodeLoad::new(RngStream::new(cfg.seed, StreamKind::Service, i as u64, 0)))
                }),
            })
            .collect();
        let mut clients = Vec::new();
        let mut endpoint = nodes_n as u32;
        for (s, spec) in cfg.clients.iter().enumerate() {
            for p in 0..spec.processes {
                clients.push(ClientSlot {
                    spec: s as u16,
                    endpoint: EndpointId(endpoint),
                    process: endpoint - nodes_n as u32,
                    rng: RngStream::new(cfg.seed, StreamKind::Client, s as u64, p as u64),
                    pending: None,
                    believed_leader: NodeId(0),
                    session_token: 0,
                    written: BTreeSet::new(),
                    done: false,
                });
                endpoint += 1;
            }
        }
        let state = SimState {
            now: SimTime::ZERO,
            stats: Stats::default(),
            next_key: 0,
            next_msg: 0,
            next_op: 0,
            next_process: clients.len() as u32,
            queue: EventHeap::new(),
            slab: Default::default(),
            free: Vec::new(),
            nodes,
            clients: clients.into_iter().collect(),
            issued: vec![0; cfg.clients.len()],
            arrivals: (0..cfg.clients.len())
                .map(|s| RngStream::new(cfg.seed, StreamKind::Arrival, s as u64, 0))
                .collect(),
            shed: vec![0; cfg.clients.len()],
            network: Network::new(cfg.network.clone(), endpoints, cfg.seed),
            in_flight: 0,
            faults_pending: faults.len() as u64,
            next_keyed: 0,
            instant: SimTime::ZERO,
            events_before_instant: 0,
            spinning: BTreeMap::new(),
            spinning_at: SimTime::ZERO,
            spin_next: None,
            halt: None,
            sweep_at: super::queue::SWEEP_FROM,
            script: None,
        };
        let checker = cfg.checks.then(|| CowArc::new(C::new(&cfg.params, &cfg.cluster)));
        let trace = Trace::new(cfg.trace);
        let budget = cfg.budget;
        let mut sim = Sim {
            cfg: Arc::new(cfg),
            faults,
            keyed,
            state,
            checker,
            trace,
            history: History::default(),
            applied: Vec::new(),
            history_ahead: VecDeque::new(),
            applied_ahead: VecDeque::new(),
            budget,
            crowd_from: budget.events_per_instant.saturating_sub(SPIN_SAMPLE),
            out: Outbox::default(),
            persisted_scratch: Vec::new(),
            loopback_scratch: Vec::new(),
            link_hints: Default::default(),
            choices_made: None,
            sweeps: true,
        };
        for i in 0..sim.faults.len() {
            let at = sim.faults[i].at;
            sim.schedule_first(at, Event::Fault { index: i as u32 });
        }
        for n in 0..nodes_n {
            sim.trace.record(0, 0, TraceKind::Start, n as u32, NONE, 0, 0, || "node starts".into());
            sim.boot(NodeId(n as u32), false);
        }
        // Open-loop entries: arrivals drive them (see `clients.rs`).
        for s in 0..sim.cfg.clients.len() {
            let spec = &sim.cfg.clients[s];
            if spec.arrival.is_some() && spec.ops > 0 {
                let at = spec.start;
                sim.schedule(at, Event::Arrival { spec: s as u32 });
            }
        }
        for slot in 0..sim.state.clients.len() {
            let c = &sim.state.clients[slot];
            let spec = &sim.cfg.clients[c.spec as usize];
            if spec.arrival.is_some() {
                continue;
            }
            let stagger =
                spec.interval.0 * (slot as u64 % spec.processes.max(1) as u64) / spec.processes.max(1) as u64;
            let at = spec.start.after(SimDuration(stagger));
            sim.schedule(at, Event::ClientNext { slot: slot as u32 });
        }
        sim
    }
}

impl<P: Protocol, C: Checker<P>> Sim<P, C> {
    // ----- stepping -------------------------------------------------------

    /// Processes the next event. `None` when nothing is left to happen.
    pub fn step(&mut self) -> Option<StepRecord> {
        self.step_within(SimTime(u64::MAX))
    }

    /// Processes the next event at or before `limit`; `None` when there is
    /// none. (Void events — a cancelled timer, a timeout of an operation
    /// that has ended — are taken out as they come up, with no step and
    /// without moving the clock.)
    pub fn step_within(&mut self, limit: SimTime) -> Option<StepRecord> {
        loop {
            if self.state.halt.is_some() {
                return None;
            }
            // Step-keyed faults run exactly before the event they name (one
            // per step; several with one number run back to back). Their
            // `at` is informational: the clock is where that step was.
            if self.keyed_due() {
                let f = self.keyed[self.state.next_keyed].clone();
                self.state.next_keyed += 1;
                return Some(self.apply_fault(f));
            }
            let next = self.peek_time()?;
            if next > limit {
                return None;
            }
            if self.state.stats.events >= self.budget.events {
                let (time, limit) = (self.state.now, self.budget.events);
                self.state.halt = Some(Box::new(Halt::Events { time, limit }));
                return None;
            }
            // Near the limit of events at one instant: halt at the limit,
            // and below it note what each event is.
            if next == self.state.instant
                && self.state.stats.events - self.state.events_before_instant >= self.crowd_from
                && self.crowded(next)
            {
                return None;
            }
            let (time, event) = self.pop_live();
            debug_assert!(time >= self.state.now, "time went backwards");
            self.state.now = time;
            if let Some(rec) = self.process(event) {
                if time != self.state.instant {
                    // The first step at a new instant.
                    self.state.instant = time;
                    self.state.events_before_instant = self.state.stats.events - 1;
                }
                return Some(rec);
            }
        }
    }

    /// Records the choices handlers make from now on, afresh ([`Sim::choices_made`]
    /// then holds only those), or stops recording them
    /// ([`crate::nodes::Choices`]; `distlab explore` branches on them).
    pub fn record_choices(&mut self, on: bool) {
        match (&mut self.choices_made, on) {
            (Some(made), true) => made.clear(),
            (made, on) => *made = on.then(Vec::new),
        }
    }

    /// The choices handlers made since [`Sim::record_choices`], as
    /// (options, value taken).
    pub fn choices_made(&self) -> &[(u64, u64)] {
        self.choices_made.as_deref().unwrap_or_default()
    }

    /// At a crowded instant, within [`SPIN_SAMPLE`] events of the limit:
    /// halts at the limit, naming what spun (then `true`); below it, notes
    /// what the next event is. Off the hot path: a run that can finish
    /// never comes here.
    #[cold]
    #[inline(never)]
    pub(super) fn crowded(&mut self, next: SimTime) -> bool {
        let steps = self.state.stats.events - self.state.events_before_instant;
        if self.state.spinning_at != next {
            self.state.spinning.clear();
            self.state.spinning_at = next;
            self.state.spin_next = None;
        }
        // The event noted last time counts if it was a step (not void).
        if let Some((what, events)) = self.state.spin_next.take()
            && self.state.stats.events > events
        {
            *self.state.spinning.entry(what).or_default() += 1;
        }
        if steps >= self.budget.events_per_instant {
            self.state.halt = Some(Box::new(Halt::Livelock {
                time: next,
                limit: self.budget.events_per_instant,
                sampled: self.state.spinning.values().sum(),
                spinning: most_frequent(&self.state.spinning, 4),
            }));
            return true;
        }
        // `peek_time` left a live entry on top.
        let top = self.state.queue.peek().expect("an event is due");
        let slot = self.state.slab[top.slot as usize].as_ref().expect("the top entry is live");
        self.state.spin_next = Some((self.label(&slot.event), self.state.stats.events));
        false
    }

    /// Halts because more than `budget.pending` events wait, naming the
    /// most common. (Off the hot path.)
    #[cold]
    #[inline(never)]
    pub(super) fn halt_pending(&mut self) {
        let mut tally: BTreeMap<String, u64> = BTreeMap::new();
        for s in self.state.slab.iter().flatten() {
            *tally.entry(self.label(&s.event)).or_default() += 1;
        }
        self.state.halt = Some(Box::new(Halt::Pending {
            time: self.state.now,
            limit: self.budget.pending,
            most: most_frequent(&tally, 4),
        }));
    }

    /// What an event is, in words a halt message can count:
    /// `n1 timer PrimarySilent`, `n2 receives ping from n1`.
    pub(super) fn label(&self, event: &PendingEvent<P>) -> String {
        let node = |n: &NodeId| self.cfg.cluster.name(*n).to_string();
        match event {
            Event::Deliver { from, to, payload, .. } => {
                let kind = match payload {
                    Payload::Peer(m) => m.kind(),
                    Payload::Request(_) => "request",
                    Payload::Reply { .. } => "reply",
                };
                format!("{} receives {kind} from {}", self.endpoint_name(*to), self.endpoint_name(*from))
            }
            Event::Arrival { spec } => format!("{} arrival", self.cfg.clients[*spec as usize].name),
            Event::Timer { node: n, timer, .. } => {
                // The timer's name, without its fields.
                let text = format!("{timer:?}");
                let name = text.split([' ', '(', '{']).next().unwrap_or_default();
                format!("{} timer {name}", node(n))
            }
            Event::Disk { node: n, .. } => format!("{} disk write completes", node(n)),
            Event::Persisted { node: n, .. } => format!("{} is told a write is on disk", node(n)),
            Event::ClientNext { slot } => format!("{} issues an operation", self.client_name(*slot)),
            Event::ClientTimeout { slot, .. } => format!("{} times out", self.client_name(*slot)),
            Event::Fault { index } => self.describe_fault(&self.faults[*index as usize].fault),
        }
    }

    /// Why the run stopped before its end, if it did: a budget was
    /// exceeded (see [`super::budget`]). A halted run takes no more steps
    /// until a snapshot from before the halt is restored.
    pub fn halted(&self) -> Option<&Halt> {
        self.state.halt.as_deref()
    }

    /// Replaces the run's budget (the one in [`SimConfig::budget`]). It
    /// applies from the next step on; a run already holding more pending
    /// events than the new budget allows halts at once.
    pub fn set_budget(&mut self, budget: Budget) {
        self.budget = budget;
        self.crowd_from = budget.events_per_instant.saturating_sub(SPIN_SAMPLE);
        let pending = self.state.slab.len() - self.state.free.len();
        if pending as u64 > budget.pending && self.state.halt.is_none() {
            self.halt_pending();
        }
    }

    /// Runs every event up to and including `until`, then sets the clock
    /// to `until`.
    pub fn run_until(&mut self, until: SimTime) {
        // `step_within` looks at the next event's time itself: no second
        // look per event.
        while self.step_within(until).is_some() {}
        if self.state.halt.is_none() {
            self.state.now = self.state.now.max(until);
        }
    }

    /// The message the next step delivers, if it is due now. Delivering
    /// it next (`deliver-next`, then a step) is then the same move as the
    /// step itself: `distlab explore` makes only the step. `None` when the
    /// next step does something else or happens later. (Stale entries —
    /// an event dropped from its slot, which a step skips — are looked
    /// past: this changes nothing. It once stopped at one, and the search
    /// made the step's delivery as a move of its own as well.)
    pub fn delivers_next_now(&self) -> Option<u64> {
        if self.keyed_due() || self.state.halt.is_some() {
            return None;
        }
        let next = self.state.queue.first_live(&self.state.slab)?;
        let slot = self.state.slab[next.slot as usize].as_ref()?;
        match slot.event {
            Event::Deliver { id, .. } if next.time == self.state.now.0 => Some(id),
            _ => None,
        }
    }

    /// When the next step happens: now, if a step-keyed fault is due;
    /// else the next queued event's time (`None`: nothing is left). The
    /// next step may still be later, if that event turns out to be void.
    pub fn next_time(&mut self) -> Option<SimTime> {
        if self.keyed_due() { Some(self.state.now) } else { self.peek_time() }
    }

    pub(super) fn keyed_due(&self) -> bool {
        self.keyed
            .get(self.state.next_keyed)
            .is_some_and(|f| f.step.is_some_and(|s| s <= self.state.stats.events + 1))
    }

    /// Runs until no message is in flight, no client operation is open or
    /// still to be issued, and no scripted fault is pending (timers alone do
    /// not count: heartbeats never stop), or until `limit`, or until the
    /// run halts. Returns whether the system went quiet.
    pub fn run_until_quiet(&mut self, limit: SimTime) -> bool {
        loop {
            if self.is_quiet() {
                return true;
            }
            match self.peek_time() {
                Some(t) if t <= limit && self.state.halt.is_none() => {
                    self.step();
                }
                _ => return self.is_quiet(),
            }
        }
    }

    /// Messages sent (or duplicated) and not yet delivered or dropped,
    /// those held for a paused node included.
    pub fn messages_in_flight(&self) -> u64 {
        self.state.in_flight
    }

    pub fn is_quiet(&self) -> bool {
        self.state.in_flight == 0
            && self.state.faults_pending == 0
            && self.state.clients.iter().all(|c| c.done && c.pending.is_none())
    }

    /// A record for the step just taken.
    pub(super) fn record(
        &self,
        kind: TraceKind,
        node: Option<EndpointId>,
        peer: Option<EndpointId>,
        msg: Option<u64>,
    ) -> StepRecord {
        StepRecord { step: self.state.stats.events, time: self.state.now, kind, node, peer, msg }
    }

    pub(super) fn begin_step(&mut self) -> u64 {
        self.state.stats.events += 1;
        self.state.stats.events
    }

    pub(super) fn at(&self) -> At {
        At { step: self.state.stats.events, time: self.state.now }
    }

    /// Handles one popped event; `None` if it turned out to be void
    /// (a cancelled timer, an event of a crashed node's earlier life) or was
    /// held for a paused node.
    pub(super) fn process(&mut self, event: PendingEvent<P>) -> Option<StepRecord> {
        match event {
            Event::Deliver { id, from, to, payload } => {
                self.state.in_flight -= 1;
                if self.cfg.capacity.is_some() {
                    return Some(self.arrive(id, from, to, payload));
                }
                Some(self.deliver(id, from, to, payload))
            }
            Event::Timer { node, incarnation, id, timer } => self.timer_fires(node, incarnation, id, timer),
            Event::Disk { node, incarnation } => self.disk_completes(node, incarnation),
            Event::Persisted { node, incarnation, id } => self.told_persisted(node, incarnation, id),
            Event::ClientNext { slot } => self.client_next(slot),
            Event::ClientTimeout { slot, op_id, attempt } => self.client_timeout(slot, op_id, attempt),
            Event::Arrival { spec } => self.arrival(spec),
            Event::Fault { index } => {
                self.state.faults_pending -= 1;
                let f = self.faults[index as usize].clone();
                Some(self.apply_fault(f))
            }
        }
    }

    #[inline(always)]
    pub(super) fn deliver(
        &mut self,
        id: u64,
        from: EndpointId,
        to: EndpointId,
        payload: WirePayload<P>,
    ) -> StepRecord {
        let nodes = self.cfg.cluster.len() as u32;
        if to.0 < nodes {
            let node = NodeId(to.0);
            match self.state.nodes[node.index()].status {
                NodeStatus::Paused => {
                    self.hold(node, Event::Deliver { id, from, to, payload });
                    // Holding is not an event of its own; the delivery is
                    // processed on resume. Report the hold as a step so
                    // callers see time pass.
                    let step = self.begin_step();
                    let now = self.state.now.0;
                    self.trace.record(step, now, TraceKind::Hold, to.0, from.0, id, 0, || {
                        "held: node is paused".into()
                    });
                    return self.record(TraceKind::Hold, Some(to), Some(from), Some(id));
                }
                NodeStatus::Down => return self.drop_msg(id, from, to, DropReason::NodeDown),
                NodeStatus::Up => {}
            }
        }
        if !self.state.network.reachable(from, to) {
            return self.drop_msg(id, from, to, DropReason::Partition);
        }
        self.hand_over(id, from, to, payload)
    }

    /// A message is handed to its receiver's handler (a node's, or a
    /// client's): the delivery proper.
    #[inline(always)]
    pub(super) fn hand_over(
        &mut self,
        id: u64,
        from: EndpointId,
        to: EndpointId,
        payload: WirePayload<P>,
    ) -> StepRecord {
        let nodes = self.cfg.cluster.len() as u32;
        let step = self.begin_step();
        self.state.stats.delivered += 1;
        let now = self.state.now.0;
        // The words are built only when the trace keeps them.
        let words = || (describe(&payload), label(&payload));
        self.trace.record_message(step, now, TraceKind::Deliver, to.0, from.0, id, 0, words);
        match payload {
            Payload::Peer(msg) => {
                self.handle(NodeId(to.0), |s, ctx| P::on_message(s, ctx, NodeId(from.0), msg))
            }
            Payload::Request(req) => self.handle(NodeId(to.0), |s, ctx| P::on_client_request(s, ctx, req)),
            Payload::Reply { op_id, attempt: _, reply } => {
                let slot = (to.0 - nodes) as usize;
                let c = &mut self.state.clients[slot];
                let spec = &self.cfg.clients[c.spec as usize];
                let action = c.on_reply::<P::Workload>(spec, op_id, &reply, nodes);
                self.client_act(slot as u32, action, Some(NodeId(from.0)));
            }
        }
        self.record(TraceKind::Deliver, Some(to), Some(from), Some(id))
    }

    pub(super) fn drop_msg(
        &mut self,
        id: u64,
        from: EndpointId,
        to: EndpointId,
        reason: DropReason,
    ) -> StepRecord {
        let step = self.begin_step();
        self.state.stats.dropped += 1;
        let now = self.state.now.0;
        self.trace.record(step, now, TraceKind::Drop, to.0, from.0, id, reason as u64, || {
            format!("dropped: {reason:?}")
        });
        self.record(TraceKind::Drop, Some(to), Some(from), Some(id))
    }
}

// ----- inspection, snapshots ----------------------------------------------

impl<P: Protocol, C: Checker<P>> Sim<P, C> {
    pub fn now(&self) -> SimTime {
        self.state.now
    }
    pub fn stats(&self) -> Stats {
        self.state.stats
    }
    pub fn config(&self) -> &SimConfig<P> {
        &self.cfg
    }
    pub fn trace(&self) -> &Trace {
        &self.trace
    }
    /// Streams the trace to `sink` from now on (see [`Trace::stream_to`]).
    pub fn stream_trace(&mut self, sink: Box<dyn super::trace::TraceSink>) {
        self.trace.stream_to(sink);
    }
    /// Ends streaming and returns the sink.
    pub fn take_trace_sink(&mut self) -> Option<Box<dyn super::trace::TraceSink>> {
        self.trace.take_sink()
    }
    pub fn history(&self) -> &History {
        &self.history
    }
    /// Faults applied so far (timeline, nemesis, interventions), in order.
    pub fn applied_faults(&self) -> &[TimedFault] {
        &self.applied
    }
    /// Every scripted fault of the run (timeline and nemesis), in time order.
    pub fn scheduled_faults(&self) -> &[TimedFault] {
        &self.faults
    }
    pub fn report(&self) -> Report {
        self.checker.as_ref().map(|c| c.report(self.state.now)).unwrap_or_default()
    }
    /// Whether every check holds now (see [`Checker::all_hold`]); `true`
    /// when checks are off.
    pub fn checks_hold(&self) -> bool {
        self.checker.as_ref().is_none_or(|c| c.all_hold(self.state.now))
    }
    /// The checker (none when checks are off), for tests that look inside.
    #[cfg(test)]
    pub(crate) fn checker(&self) -> Option<&C> {
        self.checker.as_deref()
    }
    /// The checker's gauges now (none when checks are off).
    pub fn checker_gauges(&self) -> Vec<(&'static str, f64)> {
        self.checker.as_ref().map(|c| c.gauges(self.state.now)).unwrap_or_default()
    }
    pub fn node_status(&self, n: NodeId) -> NodeStatus {
        self.state.nodes[n.index()].status
    }
    pub fn node_clock_offset_us(&self, n: NodeId) -> i64 {
        self.state.nodes[n.index()].io.clock.offset_us(self.state.now)
    }
    /// The protocol's view of a node (`None` while it is down, but the disk
    /// is still shown through `disk_view`).
    pub fn node_view(&self, n: NodeId) -> Option<crate::nodes::NodeView> {
        let rt = &self.state.nodes[n.index()];
        rt.state.as_ref().map(|s| P::view(s, &rt.disk, &self.cfg.cluster))
    }
    pub fn node_state(&self, n: NodeId) -> Option<&P::State> {
        self.state.nodes[n.index()].state.as_ref()
    }
    pub fn node_disk(&self, n: NodeId) -> &P::Durable {
        &self.state.nodes[n.index()].disk
    }
    pub fn network(&self) -> &Network {
        &self.state.network
    }

    /// The deliveries waiting in the queue, in arrival order, as `each`
    /// makes them of (arrival time, message id, from, to, payload).
    pub(super) fn deliveries<T>(
        &self,
        each: impl Fn(u64, u64, EndpointId, EndpointId, &super::queue::WirePayload<P>) -> T,
    ) -> Vec<T> {
        let mut v: Vec<(u64, u64, T)> = self
            .state
            .queue
            .iter()
            .filter_map(|e| {
                let s = self.state.slab[e.slot as usize].as_ref().filter(|s| s.key == e.key)?;
                match &s.event {
                    Event::Deliver { id, from, to, payload } => {
                        Some((e.time, e.key, each(e.time, *id, *from, *to, payload)))
                    }
                    _ => None,
                }
            })
            .collect();
        v.sort_unstable_by_key(|(t, k, _)| (*t, *k));
        v.into_iter().map(|(_, _, m)| m).collect()
    }

    /// Whether a delivery waits in the queue: whether
    /// [`Sim::deliveries`] would list any.
    pub(super) fn delivering(&self) -> bool {
        self.state.queue.iter().any(|e| {
            self.state.slab[e.slot as usize]
                .as_ref()
                .is_some_and(|s| s.key == e.key && matches!(s.event, Event::Deliver { .. }))
        })
    }

    /// Messages in flight, in arrival order.
    pub fn in_flight(&self) -> Vec<InFlight> {
        self.deliveries(|time, id, from, to, payload| InFlight {
            id,
            from,
            to,
            kind: match payload {
                Payload::Peer(m) => m.kind(),
                Payload::Request(_) => "request",
                Payload::Reply { .. } => "reply",
            },
            summary: describe(payload),
            arrives: SimTime(time),
        })
    }

    /// The canonical hash of the simulation state.
    pub fn state_hash(&self) -> Digest {
        let mut h = StableHasher::new();
        self.state.hash(&mut h);
        Digest(h.finish128())
    }

    /// A snapshot of the run now, to [`Sim::restore`] later: the state
    /// (sharing what did not change since the last snapshot or restore),
    /// the checker, and where the logs were. `&mut`, though it changes
    /// nothing a run or a hash sees: first, the nodes it will share and
    /// nothing else holds give back the room their queues keep beyond what
    /// they hold, which the snapshot would otherwise keep for as long as it
    /// lives.
    pub fn snapshot(&mut self) -> SimSnapshot<P, C> {
        let (state, order) = self.state.snapshot();
        SimSnapshot {
            state,
            order,
            checker: self.checker.clone(),
            trace: self.trace.mark(),
            history: self.history.events.len(),
            applied_faults: self.applied.len(),
        }
    }

    /// Returns to a snapshot of this run: the state, the checker, and the
    /// logs truncated to where they were.
    pub fn restore(&mut self, snap: &SimSnapshot<P, C>) {
        self.state.restore_from(&snap.state, &snap.order);
        share_from(&mut self.checker, &snap.checker);
        self.trace.rewind(&snap.trace);
        self.history.events.truncate(snap.history);
        self.applied.truncate(snap.applied_faults);
        self.forget_ahead();
    }

    /// Returns to a snapshot of this line of the run — earlier than now,
    /// or later (one taken before a rewind) — keeping the logs after it
    /// as the known future: a replay takes the events back instead of
    /// building them again, and a later snapshot brings them back at
    /// once. Only for a run that goes on as it went: before making it go
    /// another way (an intervention not made the first time), call
    /// [`Sim::forget_ahead`]. Panics on a snapshot past the known future
    /// (a programming error).
    pub fn restore_keeping(&mut self, snap: &SimSnapshot<P, C>) {
        self.state.restore_from(&snap.state, &snap.order);
        share_from(&mut self.checker, &snap.checker);
        self.trace.rewind_keeping(&snap.trace);
        move_to(&mut self.history.events, &mut self.history_ahead, snap.history);
        move_to(&mut self.applied, &mut self.applied_ahead, snap.applied_faults);
    }

    /// Forgets the known future kept by [`Sim::restore_keeping`].
    pub fn forget_ahead(&mut self) {
        self.trace.forget_ahead();
        self.history_ahead.clear();
        self.applied_ahead.clear();
    }
}

/// `*mine = theirs.clone()`, but nothing at all when the two already
/// share their value: a restore leaves what the move did not change
/// without touching its reference count.
fn share_from<T>(mine: &mut Option<CowArc<T>>, theirs: &Option<CowArc<T>>) {
    match (mine.as_ref(), theirs) {
        (Some(a), Some(b)) if CowArc::ptr_eq(a, b) => {}
        _ => mine.clone_from(theirs),
    }
}

/// Makes `log` `len` long, moving what it loses to the front of `ahead`
/// or taking what it lacks from there.
fn move_to<T>(log: &mut Vec<T>, ahead: &mut VecDeque<T>, len: usize) {
    if len <= log.len() {
        for e in log.drain(len..).rev() {
            ahead.push_front(e);
        }
    } else {
        let more = len - log.len();
        assert!(more <= ahead.len(), "a log moves forward only within its known future");
        log.extend(ahead.drain(..more));
    }
}
