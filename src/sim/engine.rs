//! The engine: `Sim<P>`, one deterministic run of protocol `P`.
//!
//! The state that changes ([`SimState`]) is one `Clone + Hash` value —
//! clock, event queue, nodes, clients, network, RNG positions, counters —
//! so a snapshot is a clone and the state hash is canonical (design rule
//! 6). The trace, the history and the observation log are append-only and
//! live outside it; a restore truncates them.
//!
//! The queue holds small entries `(time, key, slot)` over a slab of pending
//! events; `key` orders events at equal times: scripted faults and
//! "deliver next" interventions carry a key with the top bit clear and run
//! before everything else at their time, other events run in the order they
//! were scheduled (design rule 1). A slab slot remembers its key, so moving
//! an event (deliver next) or removing it (drop) just makes the old queue
//! entry stale.
//!
//! Every step is counted against the run's [`Budget`]: too many events at
//! one instant (a livelock), too many in all, or too many waiting at once
//! stop the run with a [`Halt`] that names what was spinning or piling up
//! (see [`super::budget`]). Nothing the engine keeps grows with the length
//! of a run except what a caller asked to keep: the client history when
//! `record_history` is on, and the trace's events at level `full` when
//! they are not streamed.

use super::budget::{Budget, Halt, most_frequent};
use super::fault::{Fault, Origin, TimedFault};
use super::hash::{Digest, StableHasher};
use super::history::{History, HistoryEvent, HistoryKind};
use super::monitor::{At, Checker, Report};
use super::network::{DropReason, EndpointId, Network, NetworkConfig, Route};
use super::rng::{RngStream, StreamKind};
use super::time::{SimDuration, SimTime};
use super::trace::{NONE, Trace, TraceKind, TraceLevel};
use crate::nodes::client::{ClientAction, ClientSlot, ClientSpec, Pending as PendingOp};
use crate::nodes::{
    Answer, ClientRef, ClientReply, ClientRequest, Clock, Cluster, Context, Effect, Message, NodeId, Outbox,
    Protocol, TimerId, WriteId,
};
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque};
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
}

/// Is a node running?
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeStatus {
    Up,
    Down,
    Paused,
}

/// What a message carries on the wire.
#[derive(Clone, Debug, Hash, serde::Serialize)]
pub enum Payload<M> {
    /// Node to node.
    Peer(M),
    /// Client to node.
    Request(ClientRequest),
    /// Node to client.
    Reply { op_id: u64, attempt: u32, reply: ClientReply },
}

/// A pending event in the slab.
#[derive(Clone, Debug, Hash)]
enum Event<M, T> {
    Deliver {
        id: u64,
        from: EndpointId,
        to: EndpointId,
        payload: Payload<M>,
    },
    Timer {
        node: NodeId,
        incarnation: u32,
        id: TimerId,
        timer: T,
    },
    /// The oldest unflushed write of `node` reaches its disk.
    Disk {
        node: NodeId,
        incarnation: u32,
    },
    /// Tell a node that was paused that write `id` is on disk.
    Persisted {
        node: NodeId,
        incarnation: u32,
        id: WriteId,
    },
    ClientNext {
        slot: u32,
    },
    ClientTimeout {
        slot: u32,
        op_id: u64,
        attempt: u32,
    },
    Fault {
        index: u32,
    },
}

#[derive(Clone, Debug, Hash)]
struct Slot<M, T> {
    key: u64,
    time: SimTime,
    event: Event<M, T>,
}

/// A queue entry: small and `Copy`. Ordered so the max-heap pops the
/// earliest `(time, key)` first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    time: u64,
    key: u64,
    slot: u32,
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (other.time, other.key).cmp(&(self.time, self.key))
    }
}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

const NORMAL: u64 = 1 << 63;

/// A pending event of protocol `P`.
type PendingEvent<P> = Event<<P as Protocol>::Msg, <P as Protocol>::Timer>;

/// A node's runtime around the protocol's state.
#[derive(Clone, Debug, Hash)]
struct NodeRt<P: Protocol> {
    status: NodeStatus,
    /// `None` while down.
    state: Option<P::State>,
    disk: P::Durable,
    /// Writes issued but not yet on disk, oldest first.
    unflushed: VecDeque<(WriteId, P::DurableWrite)>,
    /// Pending timers by key, with the generation that counts: a popped
    /// timer whose generation is not the one here was replaced or
    /// cancelled.
    timers: BTreeMap<P::Timer, TimerId>,
    /// Clock, RNG stream and handle counters (what a context needs).
    io: crate::nodes::NodeIo,
    /// Bumped on crash and restart: events of an earlier life are void.
    incarnation: u32,
    /// Events that arrived while paused, in arrival order.
    held: Vec<u32>,
    /// Effects waiting for the disk ([`Context::once_durable`]), each with
    /// the write it waits for, in the order recorded.
    after_disk: VecDeque<(WriteId, Effect<P>)>,
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
#[derive(Clone, Debug)]
pub struct SimState<P: Protocol> {
    now: SimTime,
    stats: Stats,
    next_key: u64,
    next_msg: u64,
    next_op: u64,
    next_process: u32,
    queue: BinaryHeap<Entry>,
    slab: Vec<Option<Slot<P::Msg, P::Timer>>>,
    free: Vec<u32>,
    nodes: Vec<NodeRt<P>>,
    clients: Vec<ClientSlot>,
    /// Operations issued so far per `[[clients]]` entry.
    issued: Vec<u64>,
    network: Network,
    /// Deliveries in the queue (for quiescence).
    in_flight: u64,
    /// Scripted faults still to come.
    faults_pending: u64,
    /// Index of the next step-keyed fault (see `SimConfig::faults`).
    next_keyed: usize,
    /// Budget bookkeeping, left out of the state hash (it describes how
    /// the run is going, not what the simulated system is): the instant
    /// of the last step, and the steps before it (so the steps at it are
    /// `stats.events - events_before_instant`); near the limit, what the
    /// last steps at that instant were, which instant that was, and what
    /// the next event is (with the step count when it was noted: it counts
    /// once it has run); and why the run stopped, once it has.
    instant: SimTime,
    events_before_instant: u64,
    spinning: BTreeMap<String, u64>,
    spinning_at: SimTime,
    spin_next: Option<(String, u64)>,
    halt: Option<Box<Halt>>,
}

/// How many of the last events before a livelock halt are counted by what
/// they were, to name what was spinning.
const SPIN_SAMPLE: u64 = 4096;

impl<P: Protocol> Hash for SimState<P> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.now.hash(h);
        self.stats.hash(h);
        (self.next_key, self.next_msg, self.next_op, self.next_process).hash(h);
        // The queue in pop order, without slot numbers (which are an
        // artefact of the slab's free list).
        let mut live: Vec<&Slot<P::Msg, P::Timer>> = self
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
            (&n.io, n.incarnation).hash(h);
            for &slot in &n.held {
                self.slab[slot as usize].as_ref().map(|s| (&s.event, s.key)).hash(h);
            }
        }
        self.clients.hash(h);
        self.issued.hash(h);
        self.network.hash(h);
        (self.in_flight, self.faults_pending, self.next_keyed).hash(h);
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
#[derive(Clone)]
pub struct SimSnapshot<P: Protocol, C> {
    state: SimState<P>,
    checker: Option<C>,
    trace: super::trace::TraceMark,
    history: usize,
    applied_faults: usize,
}

/// One deterministic run of protocol `P`, checked by `C`.
pub struct Sim<P: Protocol, C: Checker<P>> {
    cfg: Arc<SimConfig<P>>,
    /// Scripted faults sorted by `(at, original order)`; step-keyed ones
    /// are in `keyed`, sorted by step.
    faults: Vec<TimedFault>,
    keyed: Vec<TimedFault>,
    state: SimState<P>,
    checker: Option<C>,
    trace: Trace,
    history: History,
    /// Faults applied so far, including interventions, in order.
    applied: Vec<TimedFault>,
    budget: Budget,
    /// Steps at one instant from which the engine notes what each step is
    /// (`budget.events_per_instant - SPIN_SAMPLE`).
    crowd_from: u64,
    out: Outbox<P>,
    /// Reused buffer of writes completed within a step (no allocation in
    /// the inner loop).
    persisted_scratch: Vec<WriteId>,
    /// Reused buffer of messages a handler sent its own node.
    loopback_scratch: Vec<P::Msg>,
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
                disk: P::Durable::default(),
                unflushed: VecDeque::new(),
                timers: BTreeMap::new(),
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
                    believed_primary: NodeId(0),
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
            queue: BinaryHeap::new(),
            slab: Vec::new(),
            free: Vec::new(),
            nodes,
            clients,
            issued: vec![0; cfg.clients.len()],
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
        };
        let checker = cfg.checks.then(|| C::new(&cfg.params, &cfg.cluster));
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
            budget,
            crowd_from: budget.events_per_instant.saturating_sub(SPIN_SAMPLE),
            out: Outbox::default(),
            persisted_scratch: Vec::new(),
            loopback_scratch: Vec::new(),
        };
        for i in 0..sim.faults.len() {
            let at = sim.faults[i].at;
            sim.schedule_first(at, Event::Fault { index: i as u32 });
        }
        for n in 0..nodes_n {
            sim.trace.record(0, 0, TraceKind::Start, n as u32, NONE, 0, 0, || "node starts".into());
            sim.boot(NodeId(n as u32), false);
        }
        for slot in 0..sim.state.clients.len() {
            let c = &sim.state.clients[slot];
            let spec = &sim.cfg.clients[c.spec as usize];
            let stagger =
                spec.interval.0 * (slot as u64 % spec.processes.max(1) as u64) / spec.processes.max(1) as u64;
            let at = spec.start.after(SimDuration(stagger));
            sim.schedule(at, Event::ClientNext { slot: slot as u32 });
        }
        sim
    }

    // ----- the queue ------------------------------------------------------

    /// Puts an event in a free slab slot (reusing freed ones).
    fn alloc(&mut self, slot: Slot<P::Msg, P::Timer>) -> u32 {
        match self.state.free.pop() {
            Some(i) => {
                self.state.slab[i as usize] = Some(slot);
                i
            }
            None => self.grow(slot),
        }
    }

    /// Puts an event in a new slab slot. The slab grows only when every
    /// slot is taken, so its length is the number of events waiting: the
    /// `pending` budget is checked here, off the hot path.
    #[inline(never)]
    fn grow(&mut self, slot: Slot<P::Msg, P::Timer>) -> u32 {
        self.state.slab.push(Some(slot));
        if self.state.slab.len() as u64 > self.budget.pending && self.state.halt.is_none() {
            self.halt_pending();
        }
        (self.state.slab.len() - 1) as u32
    }

    #[inline(always)]
    fn push(&mut self, time: SimTime, key: u64, event: Event<P::Msg, P::Timer>) {
        let slot = self.alloc(Slot { key, time, event });
        self.state.queue.push(Entry { time: time.0, key, slot });
    }

    #[inline(always)]
    fn schedule(&mut self, time: SimTime, event: Event<P::Msg, P::Timer>) {
        self.state.next_key += 1;
        let key = NORMAL | self.state.next_key;
        self.push(time, key, event);
    }

    /// Schedules ahead of normal events at the same time.
    fn schedule_first(&mut self, time: SimTime, event: Event<P::Msg, P::Timer>) {
        self.state.next_key += 1;
        let key = self.state.next_key;
        self.push(time, key, event);
    }

    /// Pops the next live event, skipping stale entries.
    fn pop(&mut self) -> Option<(SimTime, PendingEvent<P>)> {
        while let Some(e) = self.state.queue.pop() {
            let live = matches!(&self.state.slab[e.slot as usize], Some(s) if s.key == e.key);
            if live {
                let slot = self.state.slab[e.slot as usize].take().expect("checked live");
                self.state.free.push(e.slot);
                return Some((SimTime(e.time), slot.event));
            }
        }
        None
    }

    /// The time of the next live event, if any.
    fn peek_time(&mut self) -> Option<SimTime> {
        while let Some(e) = self.state.queue.peek().copied() {
            if matches!(&self.state.slab[e.slot as usize], Some(s) if s.key == e.key) {
                return Some(SimTime(e.time));
            }
            self.state.queue.pop();
        }
        None
    }

    // ----- stepping -------------------------------------------------------

    /// Processes the next event. `None` when nothing is left to happen.
    pub fn step(&mut self) -> Option<StepRecord> {
        self.step_within(SimTime(u64::MAX))
    }

    /// Processes the next event at or before `limit`; `None` when there is
    /// none. (An event can turn out to be void — a cancelled timer, a
    /// message to a crashed node — and the next one may lie past `limit`.)
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
            let (time, event) = self.pop()?;
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

    /// At a crowded instant, within [`SPIN_SAMPLE`] events of the limit:
    /// halts at the limit, naming what spun (then `true`); below it, notes
    /// what the next event is. Off the hot path: a run that can finish
    /// never comes here.
    #[cold]
    #[inline(never)]
    fn crowded(&mut self, next: SimTime) -> bool {
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
    fn halt_pending(&mut self) {
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
    fn label(&self, event: &PendingEvent<P>) -> String {
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

    fn client_name(&self, slot: u32) -> String {
        self.endpoint_name(self.state.clients[slot as usize].endpoint)
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
        while self.peek_time().is_some_and(|t| t <= until) || self.keyed_due() {
            if self.step_within(until).is_none() {
                break;
            }
        }
        if self.state.halt.is_none() {
            self.state.now = self.state.now.max(until);
        }
    }

    /// When the next step happens: now, if a step-keyed fault is due;
    /// else the next queued event's time (`None`: nothing is left). The
    /// next step may still be later, if that event turns out to be void.
    pub fn next_time(&mut self) -> Option<SimTime> {
        if self.keyed_due() { Some(self.state.now) } else { self.peek_time() }
    }

    fn keyed_due(&self) -> bool {
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
    fn record(
        &self,
        kind: TraceKind,
        node: Option<EndpointId>,
        peer: Option<EndpointId>,
        msg: Option<u64>,
    ) -> StepRecord {
        StepRecord { step: self.state.stats.events, time: self.state.now, kind, node, peer, msg }
    }

    fn begin_step(&mut self) -> u64 {
        self.state.stats.events += 1;
        self.state.stats.events
    }

    fn at(&self) -> At {
        At { step: self.state.stats.events, time: self.state.now }
    }

    /// Handles one popped event; `None` if it turned out to be void
    /// (a cancelled timer, an event of a crashed node's earlier life) or was
    /// held for a paused node.
    fn process(&mut self, event: Event<P::Msg, P::Timer>) -> Option<StepRecord> {
        match event {
            Event::Deliver { id, from, to, payload } => {
                self.state.in_flight -= 1;
                Some(self.deliver(id, from, to, payload))
            }
            Event::Timer { node, incarnation, id, timer } => {
                let rt = &mut self.state.nodes[node.index()];
                if rt.incarnation != incarnation || rt.timers.get(&timer) != Some(&id) {
                    return None;
                }
                if rt.status == NodeStatus::Paused {
                    self.hold(node, Event::Timer { node, incarnation, id, timer });
                    return None;
                }
                rt.timers.remove(&timer);
                let step = self.begin_step();
                let now = self.state.now.0;
                let full = self.trace.full();
                let text = if full { format!("{timer:?}") } else { String::new() };
                self.trace.record(step, now, TraceKind::Timer, node.0, NONE, 0, id.0, || text);
                self.handle(node, |s, ctx| P::on_timer(s, ctx, timer));
                Some(self.record(TraceKind::Timer, Some(node.endpoint()), None, None))
            }
            Event::Disk { node, incarnation } => {
                if self.state.nodes[node.index()].incarnation != incarnation {
                    return None;
                }
                // The disk finishes the write on time, even while the node
                // is paused; only telling the node waits for it to resume.
                let step = self.begin_step();
                let rt = &mut self.state.nodes[node.index()];
                let (id, write) = rt.unflushed.pop_front().expect("a disk event has a write");
                P::apply_write(&mut rt.disk, &write);
                let paused = rt.status == NodeStatus::Paused;
                let now = self.state.now.0;
                self.trace.record(step, now, TraceKind::Persisted, node.0, NONE, 0, id.0, || {
                    format!("on disk: {write:?}")
                });
                if paused {
                    self.hold(node, Event::Persisted { node, incarnation, id });
                } else {
                    self.persisted(node, id);
                }
                Some(self.record(TraceKind::Persisted, Some(node.endpoint()), None, None))
            }
            Event::Persisted { node, incarnation, id } => {
                if self.state.nodes[node.index()].incarnation != incarnation {
                    return None;
                }
                if self.state.nodes[node.index()].status == NodeStatus::Paused {
                    self.hold(node, Event::Persisted { node, incarnation, id });
                    return None;
                }
                let step = self.begin_step();
                let now = self.state.now.0;
                self.trace.record(step, now, TraceKind::Persisted, node.0, NONE, 0, id.0, || {
                    "told: the write is on disk".into()
                });
                self.persisted(node, id);
                Some(self.record(TraceKind::Persisted, Some(node.endpoint()), None, None))
            }
            Event::ClientNext { slot } => self.client_next(slot),
            Event::ClientTimeout { slot, op_id, attempt } => {
                let c = &self.state.clients[slot as usize];
                if c.pending.as_ref().is_none_or(|p| p.op_id != op_id || p.attempt != attempt) {
                    return None;
                }
                let (spec_i, endpoint) = (c.spec as usize, c.endpoint);
                let step = self.begin_step();
                let now = self.state.now.0;
                self.trace.record(step, now, TraceKind::Timer, endpoint.0, NONE, 0, op_id, || {
                    format!("client timeout: op {op_id} attempt {attempt}")
                });
                let spec = &self.cfg.clients[spec_i];
                let nodes = self.cfg.cluster.len() as u32;
                let action = self.state.clients[slot as usize].on_timeout(spec, op_id, attempt, nodes);
                self.client_act(slot, action, None);
                Some(self.record(TraceKind::Timer, Some(endpoint), None, None))
            }
            Event::Fault { index } => {
                self.state.faults_pending -= 1;
                let f = self.faults[index as usize].clone();
                Some(self.apply_fault(f))
            }
        }
    }

    fn hold(&mut self, node: NodeId, event: Event<P::Msg, P::Timer>) {
        // Park the event in the slab under a key no queue entry has, so it
        // survives snapshots and is counted by the state hash.
        if matches!(event, Event::Deliver { .. }) {
            self.state.in_flight += 1; // still in flight: it arrives on resume
        }
        self.state.next_key += 1;
        let key = NORMAL | self.state.next_key;
        let idx = self.alloc(Slot { key, time: self.state.now, event });
        self.state.nodes[node.index()].held.push(idx);
    }

    fn deliver(&mut self, id: u64, from: EndpointId, to: EndpointId, payload: Payload<P::Msg>) -> StepRecord {
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
        let step = self.begin_step();
        self.state.stats.delivered += 1;
        let now = self.state.now.0;
        let full = self.trace.full();
        let text = if full { describe(&payload) } else { String::new() };
        self.trace.record(step, now, TraceKind::Deliver, to.0, from.0, id, 0, || text);
        match payload {
            Payload::Peer(msg) => {
                self.handle(NodeId(to.0), |s, ctx| P::on_message(s, ctx, NodeId(from.0), msg))
            }
            Payload::Request(req) => self.handle(NodeId(to.0), |s, ctx| P::on_client_request(s, ctx, req)),
            Payload::Reply { op_id, attempt: _, reply } => {
                let slot = (to.0 - nodes) as usize;
                let c = &mut self.state.clients[slot];
                let spec = &self.cfg.clients[c.spec as usize];
                let action = c.on_reply(spec, op_id, &reply, nodes);
                self.client_act(slot as u32, action, Some(NodeId(from.0)));
            }
        }
        self.record(TraceKind::Deliver, Some(to), Some(from), Some(id))
    }

    fn drop_msg(&mut self, id: u64, from: EndpointId, to: EndpointId, reason: DropReason) -> StepRecord {
        let step = self.begin_step();
        self.state.stats.dropped += 1;
        let now = self.state.now.0;
        self.trace.record(step, now, TraceKind::Drop, to.0, from.0, id, reason as u64, || {
            format!("dropped: {reason:?}")
        });
        self.record(TraceKind::Drop, Some(to), Some(from), Some(id))
    }
}

fn describe<M: Message>(p: &Payload<M>) -> String {
    match p {
        Payload::Peer(m) => format!("{m:?}"),
        Payload::Request(r) => format!("request {} (op {}, attempt {})", r.op, r.from.op_id, r.from.attempt),
        Payload::Reply { op_id, reply, .. } => format!("reply to op {op_id}: {:?}", reply.outcome),
    }
}

// ----- effects: running handlers and performing what they recorded -------

/// The context a handler of `node` acts through.
fn context<'a, P: Protocol>(
    node: NodeId,
    now: SimTime,
    notes_on: bool,
    cfg: &'a SimConfig<P>,
    io: &'a mut crate::nodes::NodeIo,
    out: &'a mut Outbox<P>,
) -> Context<'a, P> {
    Context { me: node, now, params: &cfg.params, cluster: &cfg.cluster, io, notes_on, out }
}

impl<P: Protocol, C: Checker<P>> Sim<P, C> {
    /// Runs one handler of a live node and performs its effects.
    fn handle(&mut self, node: NodeId, f: impl FnOnce(&mut P::State, &mut Context<'_, P>)) {
        let cfg = self.cfg.clone();
        let (now, notes_on) = (self.state.now, self.trace.full());
        let rt = &mut self.state.nodes[node.index()];
        let Some(state) = rt.state.as_mut() else {
            debug_assert!(false, "handlers run only on live nodes");
            return;
        };
        f(state, &mut context(node, now, notes_on, &cfg, &mut rt.io, &mut self.out));
        self.perform(node);
    }

    /// Starts a node: `init` the first time, `recover` from disk after a
    /// crash.
    fn boot(&mut self, node: NodeId, recovering: bool) {
        let cfg = self.cfg.clone();
        let (now, notes_on) = (self.state.now, self.trace.full());
        let rt = &mut self.state.nodes[node.index()];
        let ctx = &mut context(node, now, notes_on, &cfg, &mut rt.io, &mut self.out);
        let state = if recovering { P::recover(ctx, &rt.disk) } else { P::init(ctx) };
        rt.state = Some(state);
        rt.status = NodeStatus::Up;
        self.perform(node);
    }

    /// Performs the effects the handler recorded ([`Effect`]). This is the
    /// one place their meaning is written down:
    ///
    /// - `Write`: the write joins the node's unflushed writes and reaches
    ///   the disk `disk_latency` later, writes in issue order (a zero
    ///   latency disk with nothing unflushed completes it within the step,
    ///   and the node hears of it after the handler's other effects). A
    ///   crash before then loses it.
    /// - `SetTimer`: arms the timer with this key after its delay on the
    ///   node's *local* clock, scaled to real time by the clock's drift
    ///   (rounded up: a timer always moves time forward by at least 1µs).
    ///   A pending timer with the same key is replaced: the key now names
    ///   this generation, and the old event, still queued, is void when
    ///   popped. `CancelTimer`: the key names no timer any more (and a
    ///   timer with this key still waiting for the disk is dropped).
    ///   Timers are set and cancelled in the order recorded.
    /// - Gated effects (recorded inside `once_durable`) wait in the node's
    ///   `after_disk` queue, in the order recorded, until the write they
    ///   name is on disk ([`Sim::persisted`]); then they are performed as
    ///   if the `on_persisted` handler had recorded them. A crash drops
    ///   them with the writes.
    /// - `Send` and `Reply`: onto the network (which draws delay, loss and
    ///   duplication for each); `Observe`: to the checker and the trace;
    ///   `Note`: to the trace.
    /// - `Loopback`: the node's own `on_message` runs with the message
    ///   right after this handler, in a handler of its own, if the node is
    ///   still up.
    /// - Every effect of a node's earlier life is void: events carry the
    ///   node's incarnation, bumped on crash and restart.
    ///
    /// The order is the handler's: effects are performed in the order
    /// recorded (the network draws each message's delay as it is sent, so
    /// this order is part of the run), except the two that run handlers of
    /// their own, after this one: loopbacks, then the news of writes a
    /// zero-latency disk completed.
    fn perform(&mut self, node: NodeId) {
        if self.out.is_empty() {
            return;
        }
        let mut out = std::mem::take(&mut self.out);
        let step = self.state.stats.events;
        let now = self.state.now;
        let at = self.at();
        let incarnation = self.state.nodes[node.index()].incarnation;
        let mut persisted_now = std::mem::take(&mut self.persisted_scratch);
        let mut loopback = std::mem::take(&mut self.loopback_scratch);

        for (gate, effect) in out.effects.drain(..) {
            if let Some(w) = gate {
                self.state.nodes[node.index()].after_disk.push_back((w, effect));
                continue;
            }
            match effect {
                Effect::Write { id, write } => {
                    let rt = &mut self.state.nodes[node.index()];
                    if self.cfg.disk_latency == SimDuration::ZERO && rt.unflushed.is_empty() {
                        // A zero-latency disk completes the write within the step.
                        P::apply_write(&mut rt.disk, &write);
                        persisted_now.push(id);
                    } else {
                        rt.unflushed.push_back((id, write));
                        let at = now.after(self.cfg.disk_latency);
                        self.schedule(at, Event::Disk { node, incarnation });
                    }
                }
                Effect::SetTimer { timer, after, generation } => {
                    let rt = &mut self.state.nodes[node.index()];
                    let at = now.after(rt.io.clock.real_duration(after));
                    rt.timers.insert(timer.clone(), generation);
                    self.schedule(at, Event::Timer { node, incarnation, id: generation, timer });
                }
                Effect::CancelTimer(timer) => {
                    // Also one set earlier to wait for the disk (in this
                    // handler too: it is in `after_disk` by now).
                    let rt = &mut self.state.nodes[node.index()];
                    rt.timers.remove(&timer);
                    if !rt.after_disk.is_empty() {
                        rt.after_disk
                            .retain(|(_, e)| !matches!(e, Effect::SetTimer { timer: t, .. } if *t == timer));
                    }
                }
                Effect::Send { to, msg } => self.send(node.endpoint(), to.endpoint(), Payload::Peer(msg)),
                Effect::Reply { to, reply } => self.send(
                    node.endpoint(),
                    to.endpoint,
                    Payload::Reply { op_id: to.op_id, attempt: to.attempt, reply },
                ),
                Effect::Observe(obs) => {
                    if let Some(c) = self.checker.as_mut() {
                        c.on_observation(at, node, &obs);
                    }
                    self.trace.record(step, now.0, TraceKind::Observation, node.0, NONE, 0, 0, || {
                        format!("{obs:?}")
                    });
                }
                Effect::Note(text) => self.trace.annotate(step, now.0, node.0, text),
                Effect::Loopback(msg) => loopback.push(msg),
            }
        }
        self.out = out;
        // Messages to itself are handled now, one handler each, as long as
        // the node lives.
        for msg in loopback.drain(..) {
            if self.state.nodes[node.index()].state.is_some() {
                self.handle(node, |s, ctx| P::on_message(s, ctx, node, msg));
            }
        }
        self.loopback_scratch = loopback;
        // Writes that completed within the step report back now, after the
        // handler's other effects, as the disk would.
        for id in persisted_now.drain(..) {
            if self.state.nodes[node.index()].state.is_some() {
                self.persisted(node, id);
            }
        }
        self.persisted_scratch = persisted_now;
    }

    /// The node hears that write `id` (and every earlier one) is on disk:
    /// what waited for it ([`Context::once_durable`]) is performed with the
    /// effects of the protocol's [`Protocol::on_persisted`], as if that
    /// handler had recorded it first.
    fn persisted(&mut self, node: NodeId, id: WriteId) {
        let rt = &mut self.state.nodes[node.index()];
        rt.io.on_disk = rt.io.on_disk.max(id.0);
        while rt.after_disk.front().is_some_and(|(w, _)| *w <= id) {
            if let Some((_, effect)) = rt.after_disk.pop_front() {
                self.out.effects.push((None, effect));
            }
        }
        self.handle(node, |s, ctx| P::on_persisted(s, ctx, id));
    }

    /// Puts a message on the network.
    fn send(&mut self, from: EndpointId, to: EndpointId, payload: Payload<P::Msg>) {
        self.state.next_msg += 1;
        let id = self.state.next_msg;
        self.state.stats.sent += 1;
        let now = self.state.now;
        let step = self.state.stats.events;
        if self.trace.on() {
            let h = super::canon::hash(&payload) as u64;
            let full = self.trace.full();
            let text = if full { describe(&payload) } else { String::new() };
            self.trace.record(step, now.0, TraceKind::Send, from.0, to.0, id, h, || text);
        }
        match self.state.network.route(from, to, now) {
            Route::Drop(reason) => {
                self.state.stats.dropped += 1;
                self.trace.record(step, now.0, TraceKind::Drop, to.0, from.0, id, reason as u64, || {
                    format!("lost in the network: {reason:?}")
                });
            }
            Route::Deliver { at, duplicate_at } => {
                if let Some(dup_at) = duplicate_at {
                    self.state.next_msg += 1;
                    let dup = self.state.next_msg;
                    self.state.stats.duplicated += 1;
                    self.trace.record(step, now.0, TraceKind::Duplicate, to.0, from.0, dup, id, || {
                        format!("network duplicates message {id}")
                    });
                    self.state.in_flight += 1;
                    self.schedule(dup_at, Event::Deliver { id: dup, from, to, payload: payload.clone() });
                }
                self.state.in_flight += 1;
                self.schedule(at, Event::Deliver { id, from, to, payload });
            }
        }
    }

    // ----- clients --------------------------------------------------------

    fn client_next(&mut self, slot: u32) -> Option<StepRecord> {
        let c = &self.state.clients[slot as usize];
        let spec_i = c.spec as usize;
        if self.state.issued[spec_i] >= self.cfg.clients[spec_i].ops {
            self.state.clients[slot as usize].done = true;
            return None;
        }
        self.state.issued[spec_i] += 1;
        if self.state.issued[spec_i] >= self.cfg.clients[spec_i].ops {
            // The last operation of this entry: every slot of the entry is
            // done issuing (open operations still complete).
            for c in self.state.clients.iter_mut().filter(|c| c.spec as usize == spec_i) {
                c.done = true;
            }
        }
        let step = self.begin_step();
        self.state.next_op += 1;
        let op_id = self.state.next_op;
        let now = self.state.now;
        let nodes = self.cfg.cluster.len() as u32;
        let spec = &self.cfg.clients[spec_i];
        let c = &mut self.state.clients[slot as usize];
        let op = P::next_operation(&self.cfg.params, spec, &mut c.rng, op_id);
        let target = c.choose_target(spec, &op, nodes);
        c.pending = Some(PendingOp { op_id, op, attempt: 0, invoked_at: now, target, redirects: 0 });
        let (endpoint, process) = (c.endpoint, c.process);
        self.state.stats.ops_invoked += 1;
        self.trace.record(step, now.0, TraceKind::Invoke, endpoint.0, target.0, op_id, 0, || {
            format!("process {process} invokes {op}")
        });
        self.history_event(slot, HistoryKind::Invoke, op_id, op, Answer::None, None);
        self.send_attempt(slot);
        Some(self.record(TraceKind::Invoke, Some(endpoint), Some(target.endpoint()), None))
    }

    /// Sends the open operation's current attempt and arms its timeout.
    fn send_attempt(&mut self, slot: u32) {
        let c = &self.state.clients[slot as usize];
        let p = c.pending.as_ref().expect("an attempt needs an open operation");
        let spec = &self.cfg.clients[c.spec as usize];
        let req = ClientRequest {
            from: ClientRef { endpoint: c.endpoint, op_id: p.op_id, attempt: p.attempt },
            idempotency_key: p.op_id,
            op: p.op,
            invoked_at_us: p.invoked_at.0 as i64,
            session: if spec.read_your_writes == crate::nodes::client::ReadYourWrites::Session {
                c.session_token
            } else {
                0
            },
        };
        let (endpoint, target, op_id, attempt) = (c.endpoint, p.target, p.op_id, p.attempt);
        let at = self.state.now.after(spec.timeout);
        self.send(endpoint, target.endpoint(), Payload::Request(req));
        self.schedule(at, Event::ClientTimeout { slot, op_id, attempt });
    }

    fn client_act(&mut self, slot: u32, action: ClientAction, from: Option<NodeId>) {
        let now = self.state.now;
        let step = self.state.stats.events;
        match action {
            ClientAction::Ignore => {}
            ClientAction::Send(to) => {
                let c = &self.state.clients[slot as usize];
                let (endpoint, op_id) = (c.endpoint, c.pending.as_ref().map_or(0, |p| p.op_id));
                let name = self.cfg.cluster.name(to).to_string();
                self.trace.record(step, now.0, TraceKind::Retry, endpoint.0, to.0, op_id, 0, || {
                    format!("retry op {op_id} at {name}")
                });
                self.send_attempt(slot);
            }
            ClientAction::Complete { ok, answer } => {
                let p =
                    self.state.clients[slot as usize].pending.take().expect("completing an open operation");
                let kind = if ok { HistoryKind::Ok } else { HistoryKind::Fail };
                if ok {
                    self.state.stats.ops_ok += 1
                } else {
                    self.state.stats.ops_fail += 1
                }
                self.complete(slot, kind, p.op_id, p.op, answer, from);
            }
            ClientAction::GiveUp => {
                let p =
                    self.state.clients[slot as usize].pending.take().expect("giving up an open operation");
                self.state.stats.ops_info += 1;
                self.complete(slot, HistoryKind::Info, p.op_id, p.op, Answer::None, None);
                // A process whose last operation is unknown is retired; a
                // fresh process takes the slot (Jepsen's rule).
                let fresh = self.state.next_process;
                self.state.next_process += 1;
                let c = &mut self.state.clients[slot as usize];
                c.process = fresh;
                c.written.clear();
                c.session_token = 0;
            }
        }
    }

    fn complete(
        &mut self,
        slot: u32,
        kind: HistoryKind,
        op_id: u64,
        op: crate::nodes::Operation,
        value: Answer,
        from: Option<NodeId>,
    ) {
        let now = self.state.now;
        let step = self.state.stats.events;
        let c = &self.state.clients[slot as usize];
        let (endpoint, process, spec_i) = (c.endpoint, c.process, c.spec as usize);
        self.trace.record(
            step,
            now.0,
            TraceKind::Complete,
            endpoint.0,
            from.map_or(NONE, |n| n.0),
            op_id,
            kind as u64,
            || {
                format!(
                    "process {process}: {op} -> {kind:?}{}",
                    if value == Answer::None { String::new() } else { format!(" {value}") }
                )
            },
        );
        self.history_event(slot, kind, op_id, op, value, from);
        let at = now.after(self.cfg.clients[spec_i].interval);
        self.schedule(at, Event::ClientNext { slot });
    }

    fn history_event(
        &mut self,
        slot: u32,
        kind: HistoryKind,
        op_id: u64,
        op: crate::nodes::Operation,
        value: Answer,
        node: Option<NodeId>,
    ) {
        if !self.cfg.record_history && self.checker.is_none() {
            return;
        }
        let c = &self.state.clients[slot as usize];
        let ev = HistoryEvent {
            step: self.state.stats.events,
            time: self.state.now,
            process: c.process,
            client: c.spec,
            op_id,
            kind,
            op,
            value,
            node,
        };
        if let Some(ch) = self.checker.as_mut() {
            ch.on_history(At { step: ev.step, time: ev.time }, &ev);
        }
        if self.cfg.record_history {
            self.history.events.push(ev);
        }
    }
}

// ----- faults and interventions -------------------------------------------

/// Why an intervention could not be applied.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InterventionError {
    #[error("no node {0}")]
    NoSuchNode(u32),
    #[error("no message {0} is in flight")]
    NoSuchMessage(u64),
    #[error("{0}")]
    NotApplicable(String),
}

impl<P: Protocol, C: Checker<P>> Sim<P, C> {
    /// Applies a fault as one step and records it.
    fn apply_fault(&mut self, f: TimedFault) -> StepRecord {
        let step = self.begin_step();
        let now = self.state.now;
        let at = self.at();
        let mut node_ep = None;
        let kind = match &f.fault {
            Fault::Crash(n) => {
                node_ep = Some(n.endpoint());
                self.crash(*n);
                TraceKind::Crash
            }
            Fault::Restart(n) => {
                node_ep = Some(n.endpoint());
                TraceKind::Restart
            }
            Fault::Pause(n) => {
                node_ep = Some(n.endpoint());
                if self.state.nodes[n.index()].status == NodeStatus::Up {
                    self.state.nodes[n.index()].status = NodeStatus::Paused;
                }
                TraceKind::Pause
            }
            Fault::Resume(n) => {
                node_ep = Some(n.endpoint());
                TraceKind::Resume
            }
            Fault::Partition(groups) => {
                self.state.network.partition(groups);
                TraceKind::Partition
            }
            Fault::Cut { from, to } => {
                for f in from {
                    for t in to {
                        self.state.network.cut(*f, *t);
                    }
                }
                TraceKind::Partition
            }
            Fault::Heal => {
                self.state.network.heal();
                TraceKind::Heal
            }
            Fault::Clock { node, offset_us, drift_ppm } => {
                node_ep = Some(node.endpoint());
                self.state.nodes[node.index()].io.clock = Clock::new(now, *offset_us, *drift_ppm);
                TraceKind::Clock
            }
            Fault::Link { from, to, faults } => {
                self.state.network.set_link_faults(*from, *to, faults.clone());
                TraceKind::Link
            }
            Fault::Command { node, .. } => {
                node_ep = Some(node.endpoint());
                TraceKind::Command
            }
            Fault::DropMessage(id) => {
                if let Some(slot) = self.find_message(*id) {
                    self.state.slab[slot] = None;
                    self.state.free.push(slot as u32);
                    self.state.in_flight -= 1;
                    self.state.stats.dropped += 1;
                }
                TraceKind::Drop
            }
            Fault::DuplicateMessage(id) => {
                if let Some(slot) = self.find_message(*id)
                    && let Some(Slot { time, event: Event::Deliver { from, to, payload, .. }, .. }) =
                        self.state.slab[slot].clone()
                {
                    self.state.next_msg += 1;
                    let dup = self.state.next_msg;
                    self.state.stats.duplicated += 1;
                    self.state.in_flight += 1;
                    self.schedule(time, Event::Deliver { id: dup, from, to, payload });
                }
                TraceKind::Duplicate
            }
            Fault::DeliverNext(id) => {
                if let Some(slot) = self.find_message(*id) {
                    self.state.next_key += 1;
                    let key = self.state.next_key; // top bit clear: first
                    let s = self.state.slab[slot].as_mut().expect("found");
                    s.key = key;
                    s.time = now;
                    self.state.queue.push(Entry { time: now.0, key, slot: slot as u32 });
                }
                TraceKind::Deliver
            }
            Fault::Note { .. } => TraceKind::Note,
        };
        let text_fault = &f.fault;
        let payload = super::canon::hash(text_fault) as u64;
        let full = self.trace.full();
        let text = if full { self.describe_fault(text_fault) } else { String::new() };
        self.trace.record(step, now.0, kind, node_ep.map_or(NONE, |e| e.0), NONE, 0, payload, || text);
        if let Some(c) = self.checker.as_mut() {
            c.on_fault(at, &f.fault);
        }
        // Effects that run protocol handlers come after the fault's record.
        match &f.fault {
            Fault::Restart(n) if self.state.nodes[n.index()].status == NodeStatus::Down => {
                self.state.nodes[n.index()].incarnation += 1;
                self.boot(*n, true);
            }
            Fault::Resume(n) if self.state.nodes[n.index()].status == NodeStatus::Paused => self.resume(*n),
            Fault::Command { node, command } if self.state.nodes[node.index()].status == NodeStatus::Up => {
                let command = command.clone();
                self.handle(*node, |s, ctx| P::on_command(s, ctx, &command));
            }
            _ => {}
        }
        self.applied.push(f);
        self.record(kind, node_ep, None, None)
    }

    fn crash(&mut self, n: NodeId) {
        let held = {
            let rt = &mut self.state.nodes[n.index()];
            if rt.status == NodeStatus::Down {
                return;
            }
            rt.status = NodeStatus::Down;
            rt.state = None;
            rt.unflushed.clear();
            rt.timers.clear();
            rt.after_disk.clear();
            // The writes in flight are lost: none is outstanding now.
            rt.io.on_disk = rt.io.next_write;
            rt.incarnation += 1;
            std::mem::take(&mut rt.held)
        };
        // Messages held while paused are lost with the node.
        for slot in held {
            if let Some(Slot { event: Event::Deliver { .. }, .. }) = self.state.slab[slot as usize].take() {
                self.state.in_flight -= 1;
                self.state.stats.dropped += 1;
            }
            self.state.free.push(slot);
        }
    }

    /// Re-queues what arrived while the node was paused, in arrival order,
    /// ahead of anything else now.
    fn resume(&mut self, n: NodeId) {
        let held = std::mem::take(&mut self.state.nodes[n.index()].held);
        self.state.nodes[n.index()].status = NodeStatus::Up;
        let now = self.state.now;
        for slot in held {
            if let Some(s) = self.state.slab[slot as usize].take() {
                self.state.free.push(slot);
                self.schedule(now, s.event);
            }
        }
    }

    fn find_message(&self, id: u64) -> Option<usize> {
        self.state
            .slab
            .iter()
            .position(|s| matches!(s, Some(Slot { event: Event::Deliver { id: m, .. }, .. }) if *m == id))
            .filter(|&slot| {
                self.state.queue.iter().any(|e| {
                    e.slot as usize == slot && self.state.slab[slot].as_ref().is_some_and(|s| s.key == e.key)
                })
            })
    }

    /// Applies an intervention now, between steps, as a step of its own.
    /// It is kept with the applied faults (keyed by this step number) so a
    /// saved run replays it exactly.
    pub fn intervene(&mut self, fault: Fault) -> Result<StepRecord, InterventionError> {
        let nodes = self.cfg.cluster.len() as u32;
        let endpoints = nodes + self.state.clients.len() as u32;
        let bad_endpoint = |e: &EndpointId| e.0 >= endpoints;
        match &fault {
            Fault::Crash(n)
            | Fault::Restart(n)
            | Fault::Pause(n)
            | Fault::Resume(n)
            | Fault::Clock { node: n, .. }
            | Fault::Command { node: n, .. }
                if n.0 >= nodes =>
            {
                return Err(InterventionError::NoSuchNode(n.0));
            }
            Fault::Partition(groups) if groups.iter().flatten().any(bad_endpoint) => {
                return Err(InterventionError::NotApplicable(
                    "the partition names an endpoint that does not exist".into(),
                ));
            }
            Fault::Cut { from, to } if from.iter().chain(to).any(bad_endpoint) => {
                return Err(InterventionError::NotApplicable(
                    "the cut names an endpoint that does not exist".into(),
                ));
            }
            Fault::Link { from, to, .. } if from.iter().chain(to.iter()).any(bad_endpoint) => {
                return Err(InterventionError::NotApplicable(
                    "the link names an endpoint that does not exist".into(),
                ));
            }
            Fault::Clock { drift_ppm, .. } if drift_ppm.unsigned_abs() > 100_000 => {
                return Err(InterventionError::NotApplicable("drift must be within ±100000 ppm".into()));
            }
            Fault::DropMessage(id) | Fault::DuplicateMessage(id) | Fault::DeliverNext(id)
                if self.find_message(*id).is_none() =>
            {
                return Err(InterventionError::NoSuchMessage(*id));
            }
            Fault::Command { command, .. } if !P::COMMANDS.contains(&command.name()) => {
                return Err(InterventionError::NotApplicable(format!(
                    "{} does not support `{}`",
                    P::NAME,
                    command.name()
                )));
            }
            _ => {}
        }
        let step = self.state.stats.events + 1;
        Ok(self.apply_fault(TimedFault {
            at: self.state.now,
            step: Some(step),
            fault,
            origin: Origin::Intervention,
        }))
    }

    pub fn endpoint_name(&self, e: EndpointId) -> String {
        let nodes = self.cfg.cluster.len() as u32;
        if e.0 < nodes {
            self.cfg.cluster.names[e.0 as usize].clone()
        } else {
            let c = &self.state.clients[(e.0 - nodes) as usize];
            let spec = &self.cfg.clients[c.spec as usize];
            let first = self.state.clients.iter().position(|x| x.spec == c.spec).unwrap_or(0) as u32;
            if spec.processes == 1 {
                spec.name.clone()
            } else {
                format!("{}.{}", spec.name, e.0 - nodes - first)
            }
        }
    }

    /// A fault in words, with node and client names (`n1 crashes`).
    pub fn describe_fault(&self, f: &Fault) -> String {
        let ep = |e: &EndpointId| self.endpoint_name(*e);
        let node = |n: &NodeId| self.cfg.cluster.name(*n).to_string();
        match f {
            Fault::Crash(n) => format!("{} crashes", node(n)),
            Fault::Restart(n) => format!("{} restarts", node(n)),
            Fault::Pause(n) => format!("{} pauses", node(n)),
            Fault::Resume(n) => format!("{} resumes", node(n)),
            Fault::Partition(groups) => format!(
                "partition {}",
                groups
                    .iter()
                    .map(|g| format!("{{{}}}", g.iter().map(ep).collect::<Vec<_>>().join(" ")))
                    .collect::<Vec<_>>()
                    .join(" | ")
            ),
            Fault::Cut { from, to } => {
                let names = |v: &[EndpointId]| v.iter().map(ep).collect::<Vec<_>>().join(" ");
                format!("cut {} -> {}", names(from), names(to))
            }
            Fault::Heal => "network heals".into(),
            Fault::Clock { node: n, offset_us, drift_ppm } => {
                format!("{} clock offset {offset_us}us drift {drift_ppm}ppm", node(n))
            }
            Fault::Link { from, to, faults } => {
                let (f, t) = (from.as_ref().map_or("*".into(), ep), to.as_ref().map_or("*".into(), ep));
                match faults {
                    Some(x) => format!(
                        "link {f} -> {t}: drop {} duplicate {} reorder {}",
                        x.drop.as_f64(),
                        x.duplicate.as_f64(),
                        x.reorder.as_f64()
                    ),
                    None => format!("link {f} -> {t}: back to the scenario's network"),
                }
            }
            Fault::Command { node: n, command } => {
                format!("{} ordered to {}", node(n), command.name())
            }
            Fault::DropMessage(id) => format!("message {id} dropped by hand"),
            Fault::DuplicateMessage(id) => format!("message {id} duplicated by hand"),
            Fault::DeliverNext(id) => format!("message {id} delivered next"),
            Fault::Note { text, .. } => text.clone(),
        }
    }
}

// ----- the liveness phase ---------------------------------------------------

impl<P: Protocol, C: Checker<P>> Sim<P, C> {
    /// Ends every fault, for the liveness phase of `distlab check`
    /// (TigerBeetle's VOPR "transition to liveness mode"): scripted faults
    /// not yet applied are dropped, clients issue no new operation (open
    /// ones run to their end), and then, each as a nemesis fault applied
    /// now, the network heals (partitions and cuts gone, every link back
    /// to `[network]`), every crashed node restarts, every paused node
    /// resumes, and every clock is set back to the scenario's own (its
    /// configured offset and drift, as if never disturbed).
    pub fn end_faults(&mut self) {
        for slot in 0..self.state.slab.len() {
            if matches!(&self.state.slab[slot], Some(Slot { event: Event::Fault { .. }, .. })) {
                self.state.slab[slot] = None;
                self.state.free.push(slot as u32);
            }
        }
        self.state.faults_pending = 0;
        self.state.next_keyed = self.keyed.len();
        for (i, spec) in self.cfg.clients.iter().enumerate() {
            self.state.issued[i] = spec.ops;
        }
        for c in &mut self.state.clients {
            c.done = true;
        }
        let now = self.state.now;
        let mut heals = vec![Fault::Heal, Fault::Link { from: None, to: None, faults: None }];
        for (i, rt) in self.state.nodes.iter().enumerate() {
            let n = NodeId(i as u32);
            match rt.status {
                NodeStatus::Down => heals.push(Fault::Restart(n)),
                NodeStatus::Paused => heals.push(Fault::Resume(n)),
                NodeStatus::Up => {}
            }
            let (offset_us, drift_ppm) = self.cfg.clocks.get(i).copied().unwrap_or((0, 0));
            let own = Clock::new(SimTime::ZERO, offset_us, drift_ppm);
            let clock = rt.io.clock;
            if clock.offset_us(now) != own.offset_us(now) || clock.drift_ppm != drift_ppm {
                heals.push(Fault::Clock { node: n, offset_us: own.offset_us(now), drift_ppm });
            }
        }
        for fault in heals {
            self.apply_fault(TimedFault { at: now, step: None, fault, origin: Origin::Nemesis });
        }
    }

    /// What the checker reports still pending now (nothing when checks
    /// are off); see [`Checker::pending`].
    pub fn checker_pending(&self, nodes: &[super::driver::NodeSummary]) -> Vec<String> {
        self.checker.as_ref().map(|c| c.pending(self.state.now, nodes)).unwrap_or_default()
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

    /// Messages in flight, in arrival order.
    pub fn in_flight(&self) -> Vec<InFlight> {
        let mut v: Vec<(u64, u64, InFlight)> = self
            .state
            .queue
            .iter()
            .filter_map(|e| {
                let s = self.state.slab[e.slot as usize].as_ref().filter(|s| s.key == e.key)?;
                match &s.event {
                    Event::Deliver { id, from, to, payload } => Some((
                        e.time,
                        e.key,
                        InFlight {
                            id: *id,
                            from: *from,
                            to: *to,
                            kind: match payload {
                                Payload::Peer(m) => m.kind(),
                                Payload::Request(_) => "request",
                                Payload::Reply { .. } => "reply",
                            },
                            summary: describe(payload),
                            arrives: SimTime(e.time),
                        },
                    )),
                    _ => None,
                }
            })
            .collect();
        v.sort_by_key(|(t, k, _)| (*t, *k));
        v.into_iter().map(|(_, _, m)| m).collect()
    }

    /// The canonical hash of the simulation state.
    pub fn state_hash(&self) -> Digest {
        let mut h = StableHasher::new();
        self.state.hash(&mut h);
        Digest(h.finish128())
    }

    pub fn snapshot(&self) -> SimSnapshot<P, C> {
        SimSnapshot {
            state: self.state.clone(),
            checker: self.checker.clone(),
            trace: self.trace.mark(),
            history: self.history.events.len(),
            applied_faults: self.applied.len(),
        }
    }

    /// Returns to a snapshot of this run: the state, the checker, and the
    /// logs truncated to where they were.
    pub fn restore(&mut self, snap: &SimSnapshot<P, C>) {
        self.state = snap.state.clone();
        self.checker = snap.checker.clone();
        self.trace.rewind(&snap.trace);
        self.history.events.truncate(snap.history);
        self.applied.truncate(snap.applied_faults);
    }
}
