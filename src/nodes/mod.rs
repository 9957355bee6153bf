//! The node runtime: what a protocol is, and the context it acts through.
//!
//! A protocol is a pure state machine (design rule 3). Its handlers receive
//! the node's state, the event, and a [`Context`] that *records* effects —
//! send, set or cancel a timer, reply to a client, write to disk, publish an
//! observation, annotate the trace — and reads only the node's own (possibly
//! skewed) clock and its own RNG stream. What vouches for data on disk is
//! recorded inside [`Context::once_durable`]: it happens once every write
//! issued so far is on disk, and never if the node crashes first. The engine performs the recorded
//! effects after the handler returns. No I/O, no globals, no access to the
//! simulation: the same handler code can later run under exhaustive
//! exploration or on a real network.
//!
//! Memory and disk are separate. [`Protocol::State`] is volatile: a crash
//! loses it. [`Protocol::Durable`] is the disk: it changes only by
//! [`Context::write`], a write completes after the cluster's disk latency,
//! and a crash before completion loses the write (design rule 5). On
//! restart the engine calls [`Protocol::recover`] with what is on disk.

pub mod chunked;
pub mod client;
pub mod retention;
pub mod small_map;
pub mod view;
pub mod window_map;
pub mod workload;

pub use chunked::ChunkedVec;
pub use client::{ClientRef, ClientReply, ClientRequest, ClientSpec, Item, Key, Outcome, Value};
pub use small_map::SmallMap;
pub use view::{LogCell, LogView, NodeView, Section};
pub use window_map::WindowMap;
pub use workload::{Done, KeyValue, KvAnswer, KvOp, RegisterView, Workload};

/// A protocol's client operation (its workload's `Op`).
pub type OpOf<P> = <<P as Protocol>::Workload as Workload>::Op;
/// What a protocol answers an operation with (its workload's `Answer`).
pub type AnswerOf<P> = <<P as Protocol>::Workload as Workload>::Answer;

use crate::rng::{Probability, RngStream};
use crate::time::{SimDuration, SimTime};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;

/// An endpoint of the network: a node (`0..nodes`) or a client process slot
/// (`nodes..`). Clients sit on the network like nodes (design rule 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct EndpointId(pub u32);

/// A server node, `0..nodes`. Nodes are also network endpoints with the
/// same index.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct NodeId(pub u32);

/// A node prints as a student reads it: `n1` for the first node (the
/// default name), never `NodeId(0)` — message and observation texts in
/// traces and the TUI use it. (A lesson that names its
/// nodes shows the names wherever the engine knows the cluster; inside a
/// message's text a node is its position, `n1`, `n2`, ….)
impl std::fmt::Debug for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "n{}", self.0 as u64 + 1)
    }
}

impl NodeId {
    pub fn endpoint(self) -> EndpointId {
        EndpointId(self.0)
    }
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A timer's generation: each [`Context::set_timer`] gets the next one,
/// unique within one node's lifetime. Protocols never see it: they name a
/// timer by its key ([`Protocol::Timer`]). The runtime keeps the latest
/// generation per key, so a timer that was replaced or cancelled, and still
/// fires, is recognised as stale and ignored; traces show it as the timer's
/// id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimerId(pub u64);

/// A durable write handle, unique within one node's lifetime; writes
/// complete in the order they were issued.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WriteId(pub u64);

/// The cluster as every node sees it: names, regions, count.
#[derive(Clone, Debug)]
pub struct Cluster {
    pub names: Vec<String>,
    /// Region of each node (index into `regions`).
    pub region_of: Vec<u16>,
    pub regions: Vec<String>,
}

impl Cluster {
    pub fn len(&self) -> usize {
        self.names.len()
    }
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
    pub fn nodes(&self) -> impl Iterator<Item = NodeId> + Clone {
        (0..self.names.len() as u32).map(NodeId)
    }
    pub fn name(&self, n: NodeId) -> &str {
        &self.names[n.index()]
    }
}

/// An operator command from the scenario's timeline or the TUI, handled by
/// protocols that support it (see [`Protocol::COMMANDS`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Command {
    /// Make this node the primary / leader by hand (manual failover).
    Promote,
}

impl Command {
    pub fn name(&self) -> &'static str {
        match self {
            Command::Promote => "promote",
        }
    }
}

/// A protocol's messages name their kind for traces and views.
pub trait Message: Clone + Debug + Hash + Serialize + DeserializeOwned {
    /// Every name [`kind`](Message::kind) returns: what `[capacity.kind]`
    /// may give a service time of (empty: the protocol lists none, and a
    /// scenario cannot).
    const KINDS: &'static [&'static str] = &[];
    /// The protocol step this message belongs to, e.g. `"replicate"`.
    fn kind(&self) -> &'static str;
    /// A short label in the protocol's words for the space-time diagram
    /// (`Commit tx 1`, `Vote yes tx 3`, `Charge order 6`): what a student
    /// needs to follow the arrow, never the whole `Debug` form. The kind,
    /// unless the protocol says more.
    fn label(&self) -> String {
        self.kind().to_string()
    }
}

/// A protocol: its types and its handlers. See the module docs.
/// The implementing type is a marker (`struct PrimaryReplica;`): its
/// derives let the engine derive `Clone` and `Hash` for generic state.
pub trait Protocol: Sized + Clone + Debug + Hash + Default + 'static {
    /// The name used in scenario files (`protocol = "..."`).
    const NAME: &'static str;
    /// Operator commands this protocol handles (see [`Command`]).
    const COMMANDS: &'static [&'static str] = &[];

    /// Parameters from the scenario's `[protocol]` table.
    type Params: Clone + Debug;
    /// A node's volatile state (lost on crash).
    type State: Clone + Debug + Eq + Hash;
    /// A node's disk (survives crashes).
    type Durable: Clone + Debug + Hash + Default;
    /// One write to the disk.
    type DurableWrite: Clone + Debug + Hash + Serialize + DeserializeOwned;
    /// The messages nodes exchange.
    type Msg: Message;
    /// The timers a node sets, by *key*: at most one timer per key is
    /// pending; setting a key again replaces it, and a timer is cancelled by
    /// its key. A timer that needs an identity per item carries it in its
    /// key (`Timer::VoteTimeout(tx)`).
    type Timer: Clone + Debug + Ord + Hash;
    /// What a node publishes for the checkers (design rule 9).
    type Observation: Clone + Debug + Hash + Serialize + DeserializeOwned;
    /// The client operations this protocol serves and how clients draw
    /// them: its *workload* ([`KeyValue`] for the key–value stores).
    type Workload: Workload<Params = Self::Params>;

    /// A node starts for the first time, with an empty disk. Most protocols
    /// need nothing more than recovering from that empty disk, which is
    /// what this does unless a protocol says otherwise.
    fn init(ctx: &mut Context<'_, Self>) -> Self::State {
        Self::recover(ctx, &Self::Durable::default())
    }
    /// A node restarts after a crash; `disk` is what survived.
    fn recover(ctx: &mut Context<'_, Self>, disk: &Self::Durable) -> Self::State;
    /// A message from another node arrives.
    fn on_message(state: &mut Self::State, ctx: &mut Context<'_, Self>, from: NodeId, msg: Self::Msg);
    /// A timer set earlier fires.
    fn on_timer(state: &mut Self::State, ctx: &mut Context<'_, Self>, timer: Self::Timer);
    /// A client's request arrives.
    fn on_client_request(
        state: &mut Self::State,
        ctx: &mut Context<'_, Self>,
        request: ClientRequest<OpOf<Self>>,
    );
    /// A write issued with [`Context::write`] is now on disk.
    fn on_persisted(_state: &mut Self::State, _ctx: &mut Context<'_, Self>, _write: WriteId) {}
    /// An operator command (only those named in [`Protocol::COMMANDS`]).
    fn on_command(_state: &mut Self::State, _ctx: &mut Context<'_, Self>, _command: &Command) {}
    /// Applies a completed write to the disk.
    fn apply_write(disk: &mut Self::Durable, write: &Self::DurableWrite);
    /// Describes a node for the CLI and the TUI, generically.
    fn view(state: &Self::State, disk: &Self::Durable, cluster: &Cluster) -> NodeView;

    /// An observation in the protocol's words, for the trace and the TUI's
    /// log (`appended k0=5 at 3 (epoch 1)`), as [`Message::label`] is for
    /// messages: what a student reads, not the `Debug` form it defaults to.
    fn label_observation(obs: &Self::Observation) -> String {
        format!("{obs:?}")
    }
}

/// One thing a handler did, recorded by its [`Context`] and performed by
/// the runtime after the handler returns. What each means is written down
/// once, in the simulator's host (`sim::host`), which performs them.
#[derive(Debug)]
pub enum Effect<P: Protocol> {
    /// Send `msg` to node `to` over the network ([`Context::send`]).
    Send { to: NodeId, msg: P::Msg },
    /// Hand `msg` to this node's own `on_message` ([`Context::loopback`]).
    Loopback(P::Msg),
    /// Answer a client ([`Context::reply`]).
    Reply { to: ClientRef, reply: ClientReply<AnswerOf<P>> },
    /// Arm the timer with this key, replacing a pending one
    /// ([`Context::set_timer`]). `generation` is drawn when the handler
    /// sets it, so the ids a trace shows follow the handler's order.
    SetTimer { timer: P::Timer, after: SimDuration, generation: TimerId },
    /// Disarm the timer with this key ([`Context::cancel_timer`]).
    CancelTimer(P::Timer),
    /// Start durable write `id` ([`Context::write`]).
    Write { id: WriteId, write: P::DurableWrite },
    /// Publish an observation for the checkers ([`Context::observe`]).
    Observe(P::Observation),
    /// Annotate the trace ([`Context::note`]).
    Note(String),
}

impl<P: Protocol> Clone for Effect<P> {
    fn clone(&self) -> Self {
        match self {
            Effect::Send { to, msg } => Effect::Send { to: *to, msg: msg.clone() },
            Effect::Loopback(m) => Effect::Loopback(m.clone()),
            Effect::Reply { to, reply } => Effect::Reply { to: *to, reply: reply.clone() },
            Effect::SetTimer { timer, after, generation } => {
                Effect::SetTimer { timer: timer.clone(), after: *after, generation: *generation }
            }
            Effect::CancelTimer(t) => Effect::CancelTimer(t.clone()),
            Effect::Write { id, write } => Effect::Write { id: *id, write: write.clone() },
            Effect::Observe(o) => Effect::Observe(o.clone()),
            Effect::Note(text) => Effect::Note(text.clone()),
        }
    }
}

impl<P: Protocol> Hash for Effect<P> {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        std::mem::discriminant(self).hash(h);
        match self {
            Effect::Send { to, msg } => (to, msg).hash(h),
            Effect::Loopback(m) => m.hash(h),
            Effect::Reply { to, reply } => (to, reply).hash(h),
            Effect::SetTimer { timer, after, generation } => (timer, after, generation).hash(h),
            Effect::CancelTimer(t) => t.hash(h),
            Effect::Write { id, write } => (id, write).hash(h),
            Effect::Observe(o) => o.hash(h),
            Effect::Note(text) => text.hash(h),
        }
    }
}

/// An effect and its gate: `Some(w)` holds it until write `w` (and so
/// every earlier one) is on disk ([`Context::once_durable`]).
pub type Gated<P> = (Option<WriteId>, Effect<P>);

/// The effects a handler recorded, in the order it recorded them; the
/// runtime performs them after the handler returns. Reused between steps
/// so the inner loop does not allocate.
#[derive(Debug)]
pub struct Outbox<P: Protocol> {
    pub effects: Vec<Gated<P>>,
    /// While recording inside [`Context::once_durable`]: the write to wait
    /// for.
    hold: Option<WriteId>,
}

impl<P: Protocol> Default for Outbox<P> {
    fn default() -> Self {
        Outbox { effects: Vec::new(), hold: None }
    }
}

impl<P: Protocol> Outbox<P> {
    pub fn is_empty(&self) -> bool {
        self.effects.is_empty()
    }
    /// Records the effect `make` builds, gated if inside
    /// [`Context::once_durable`].
    ///
    /// Why a closure: on the usual path the effect is built only once the
    /// outbox is known to have room, so nothing that could panic (growing
    /// the vector) comes between building it and storing it, and the
    /// compiler writes its fields straight into the outbox. Built first
    /// and then pushed, it was kept in a copy on the stack for as long as
    /// a panic could still need to drop it, and moved from there with
    /// wide loads that the narrow stores which had just built it could
    /// not forward from the store buffer: a stall of a dozen cycles or
    /// so, on every send. (Echo's handler, which sends one pong, took 23%
    /// of the run's time; 6% since, with the step's own copy gone too.)
    /// This leans on the compiler seeing that `Vec::push` cannot grow
    /// after the check; `Vec::push_within_capacity`, once stable, would
    /// say it outright.
    #[inline(always)]
    fn push(&mut self, make: impl FnOnce() -> Effect<P>) {
        self.record(self.hold, make);
    }

    /// Records the effect `make` builds, gated on write `hold` if any.
    #[inline(always)]
    fn record(&mut self, hold: Option<WriteId>, make: impl FnOnce() -> Effect<P>) {
        if self.effects.len() < self.effects.capacity() {
            self.effects.push((hold, make()));
        } else {
            self.record_growing(hold, make);
        }
    }

    /// The outbox is full: built first and pushed, growing it (the rare
    /// path, once per handler that records more than any before it).
    #[cold]
    #[inline(never)]
    fn record_growing(&mut self, hold: Option<WriteId>, make: impl FnOnce() -> Effect<P>) {
        self.effects.push((hold, make()));
    }
}

/// A node's local clock: real time plus an offset, running fast or slow by
/// `drift_ppm` parts per million since the clock was last set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Clock {
    /// Real time when the clock was last set.
    pub set_at: SimTime,
    /// What the clock read then, in µs (may be negative: behind real time).
    pub reading_at_set_us: i64,
    /// How fast it runs: +100 gains 100 µs per real second.
    pub drift_ppm: i64,
}

impl Clock {
    /// A clock `offset_us` ahead of real time at `now`, drifting as given.
    pub fn new(now: SimTime, offset_us: i64, drift_ppm: i64) -> Self {
        Clock { set_at: now, reading_at_set_us: now.0 as i64 + offset_us, drift_ppm }
    }
    /// The local reading at real time `now`, in µs.
    pub fn read(&self, now: SimTime) -> i64 {
        let elapsed = now.0.saturating_sub(self.set_at.0);
        if self.drift_ppm == 0 {
            // The common clock, without the 128-bit division (same reading).
            return (self.reading_at_set_us as i128 + elapsed as i128) as i64;
        }
        let elapsed = elapsed as i128;
        (self.reading_at_set_us as i128 + elapsed + elapsed * self.drift_ppm as i128 / 1_000_000) as i64
    }
    /// Local minus real time, in µs, at `now`.
    pub fn offset_us(&self, now: SimTime) -> i64 {
        self.read(now) - now.0 as i64
    }
    /// How much real time passes while this clock advances by `local`:
    /// the timer delay the engine schedules for a local timer.
    ///
    /// Rounded *up*, so a timer never fires before its local delay has
    /// passed on a fast clock (one that gains), and a delay of at least
    /// 1µs always moves real time forward. Rounding down made a 1µs timer
    /// on a fast clock fire 0µs later, before the clock had moved: a
    /// handler that re-arms for "the time still left" then re-armed at the
    /// same instant forever. (On a slow clock the reading truncates toward
    /// zero, so a timer may fire up to 1µs early by the local clock; real
    /// time still moves forward.)
    pub fn real_duration(&self, local: SimDuration) -> SimDuration {
        if self.drift_ppm == 0 {
            return local;
        }
        let rate = 1_000_000i64.saturating_add(self.drift_ppm).max(1) as u128;
        SimDuration((local.0 as u128 * 1_000_000).div_ceil(rate) as u64)
    }
}

/// The parts of a node's runtime its context reads and advances: its
/// clock, its random stream, and the counters behind timer and write
/// handles.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NodeIo {
    pub clock: Clock,
    pub rng: RngStream,
    pub next_timer: u64,
    /// The latest write issued.
    pub next_write: u64,
    /// The latest write the node has been told is on disk.
    pub on_disk: u64,
}

/// How a runtime steers a handler's nondeterministic choices
/// ([`Context::choose`], [`Context::chance`]) instead of leaving them to
/// the node's random stream, and what it learns of them: `distlab
/// explore` branches on each choice (with the intervention `choose`, see
/// `Fault::Choose`), and a replay of what it found makes the same ones.
///
/// Only a real choice counts: `choose(n)` with `n` of at least 2, and a
/// `chance(p)` with `p` neither 0 nor 1 (two options: 0 for false, 1 for
/// true). The random stream is drawn as it would be anyway, so a choice
/// steered leaves the stream where it would have been.
///
/// Both parts are the runtime's, lent to the handler's context: the
/// script is part of the run's state (a snapshot keeps what is left of
/// it), the record is not.
pub struct Choices<'a> {
    /// The values the next choices take, in order, each taken off the
    /// front; a value not below the number of options is the random
    /// stream's draw instead. `None` when there is none left.
    script: &'a mut Option<Box<[u64]>>,
    /// Each choice made, as (options, value taken), while the runtime
    /// records them (`Some`).
    made: &'a mut Option<Vec<(u64, u64)>>,
}

impl<'a> Choices<'a> {
    pub fn new(script: &'a mut Option<Box<[u64]>>, made: &'a mut Option<Vec<(u64, u64)>>) -> Self {
        Choices { script, made }
    }
    /// Whether a choice needs this at all (a script to follow, or choices
    /// to record); otherwise the random stream makes it.
    fn active(&self) -> bool {
        self.script.is_some() || self.made.is_some()
    }
    /// A choice among `options` that the random stream would make `drawn`.
    fn take(&mut self, options: u64, drawn: u64) -> u64 {
        let value = match self.script.take() {
            Some(script) => {
                if script.len() > 1 {
                    *self.script = Some(script[1..].into());
                }
                script.first().copied().filter(|&v| v < options).unwrap_or(drawn)
            }
            None => drawn,
        };
        if let Some(made) = self.made.as_mut() {
            made.push((options, value));
        }
        value
    }
}

/// What a handler may see and do. See the module docs.
pub struct Context<'a, P: Protocol> {
    me: NodeId,
    now: SimTime,
    params: &'a P::Params,
    cluster: &'a Arc<Cluster>,
    io: &'a mut NodeIo,
    notes_on: bool,
    out: &'a mut Outbox<P>,
    /// Set by a runtime that steers or records the choices
    /// ([`Context::steer_choices`]).
    choices: Option<Choices<'a>>,
}

impl<'a, P: Protocol> Context<'a, P> {
    /// A context for one handler of node `me`, built by whatever runtime
    /// runs the protocol — the simulator's host, an explorer, a live
    /// runtime on real sockets. `now` is real time (the node reads its
    /// local clock through `io.clock`); `io` holds the node's clock,
    /// random stream and handle counters; the handler's effects are
    /// recorded in `out`, in order, for the runtime to perform afterwards
    /// (see [`Effect`]). `notes` says whether [`Context::note`] builds its
    /// text (off in fast runs).
    pub fn new(
        me: NodeId,
        now: SimTime,
        params: &'a P::Params,
        cluster: &'a Arc<Cluster>,
        io: &'a mut NodeIo,
        notes: bool,
        out: &'a mut Outbox<P>,
    ) -> Self {
        Context { me, now, params, cluster, io, notes_on: notes, out, choices: None }
    }
    /// For a runtime that may steer and record the handler's choices:
    /// they go through `choices` (see [`Choices`]; while it has no script
    /// and records nothing, the random stream makes them).
    #[inline]
    pub fn steer_choices(&mut self, choices: Choices<'a>) {
        self.choices = Some(choices);
    }
    /// This node.
    pub fn me(&self) -> NodeId {
        self.me
    }
    /// The protocol's parameters from the scenario.
    pub fn params(&self) -> &'a P::Params {
        self.params
    }
    /// The cluster's membership.
    pub fn cluster(&self) -> &Cluster {
        self.cluster
    }
    /// Every other node.
    pub fn peers(&self) -> impl Iterator<Item = NodeId> + use<'_, 'a, P> {
        let me = self.me;
        self.cluster.nodes().filter(move |&n| n != me)
    }
    /// This node's local clock reading in µs — skewed by its offset and
    /// drift, exactly as a real node's `now()` would be.
    pub fn local_time_us(&self) -> i64 {
        self.io.clock.read(self.now)
    }
    /// A nondeterministic choice among `n` options: a number in `0..n`.
    /// The only randomness a handler has. The simulator draws it from this
    /// node's seeded stream (so runs replay); `distlab explore` branches on
    /// it (every option, for `n` up to its `--choices`; see [`Choices`]); a
    /// live runtime uses the node's own stream.
    pub fn choose(&mut self, n: u64) -> u64 {
        let drawn = self.io.rng.below(n);
        match &mut self.choices {
            Some(choices) if n >= 2 && choices.active() => choices.take(n, drawn),
            _ => drawn,
        }
    }
    /// True with probability `p`: a weighted choice between two outcomes
    /// (draws nothing when `p` is 0 or 1). An explorer branches on both
    /// outcomes, however unlikely one is.
    pub fn chance(&mut self, p: Probability) -> bool {
        let drawn = self.io.rng.chance(p);
        match &mut self.choices {
            Some(choices) if p.is_uncertain() && choices.active() => choices.take(2, u64::from(drawn)) == 1,
            _ => drawn,
        }
    }
    /// Sends `msg` to node `to`; the network decides when (and whether) it
    /// arrives.
    pub fn send(&mut self, to: NodeId, msg: P::Msg) {
        debug_assert_ne!(to, self.me, "a node does not message itself; act directly");
        self.out.push(|| Effect::Send { to, msg });
    }
    /// Hands `msg` to this node's own [`Protocol::on_message`] (from
    /// itself) right after the current handler, never over the network:
    /// for a node that is one of the parties it addresses (a coordinator
    /// that also stores a copy). Mostly used inside [`Self::once_durable`],
    /// where it means "once this is on disk, count my own answer".
    pub fn loopback(&mut self, msg: P::Msg) {
        self.out.push(|| Effect::Loopback(msg));
    }
    /// Sends a copy of `msg` to every other node.
    pub fn broadcast(&mut self, msg: P::Msg) {
        for to in self.cluster.nodes() {
            if to != self.me {
                self.send(to, msg.clone());
            }
        }
    }
    /// Fires `timer` after `after` of this node's *local* time. A pending
    /// timer with the same key is replaced: only this one fires.
    pub fn set_timer(&mut self, timer: P::Timer, after: SimDuration) {
        self.io.next_timer += 1;
        let generation = TimerId(self.io.next_timer);
        self.out.push(|| Effect::SetTimer { timer, after, generation });
    }
    /// Cancels the pending timer with this key — also one still waiting
    /// for the disk inside [`Self::once_durable`]. Cancelling a timer that
    /// is not pending (it fired, or was never set) is harmless.
    pub fn cancel_timer(&mut self, timer: &P::Timer) {
        // A cancel itself never waits.
        self.out.record(None, || Effect::CancelTimer(timer.clone()));
    }
    /// Answers a client's request.
    pub fn reply(&mut self, to: ClientRef, reply: ClientReply<AnswerOf<P>>) {
        self.out.push(|| Effect::Reply { to, reply });
    }
    /// Starts a durable write; [`Protocol::on_persisted`] is called when it
    /// is on disk. A crash before then loses it.
    pub fn write(&mut self, write: P::DurableWrite) -> WriteId {
        self.io.next_write += 1;
        let id = WriteId(self.io.next_write);
        // A write starts now, even inside `once_durable`.
        self.out.record(None, || Effect::Write { id, write });
        id
    }
    /// Publishes an observation for the checkers.
    pub fn observe(&mut self, observation: P::Observation) {
        self.out.push(|| Effect::Observe(observation));
    }
    /// Does what `then` sends, replies, publishes and arms only once every
    /// write this node has issued so far is on disk — at once, if it
    /// already is. The rule behind every "answer only what is durable":
    /// log the decision, and *once it is durable*, announce it. A crash
    /// before then loses the writes and these effects with them.
    ///
    /// Writes issued inside `then` are not waited for (they start now,
    /// like any other write).
    pub fn once_durable(&mut self, then: impl FnOnce(&mut Self)) {
        if self.io.next_write <= self.io.on_disk {
            return then(self); // nothing to wait for
        }
        let outer = self.out.hold;
        self.out.hold = Some(WriteId(self.io.next_write));
        then(self);
        self.out.hold = outer;
    }
    /// Annotates the trace. The text is built only when the trace is kept in
    /// full, so notes cost nothing in fast runs.
    pub fn note(&mut self, text: impl FnOnce() -> String) {
        if self.notes_on {
            // A note describes the handler's step: it never waits.
            self.out.effects.push((None, Effect::Note(text())));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Choices, Clock};
    use crate::time::{SimDuration, SimTime};

    /// The choices take the script in order, each value off the front; a
    /// value not below the number of options, or any past the script's
    /// end, is the stream's draw; each choice is recorded as (options,
    /// value taken) while recording, and what is left of the script stays
    /// for the next choices.
    #[test]
    fn choices_follow_the_script_then_the_seed_and_are_recorded() {
        let (mut script, mut made) = (None, None);
        assert!(!Choices::new(&mut script, &mut made).active(), "nothing to steer or record");
        script = Some(vec![1, 9, 0, 1].into_boxed_slice());
        made = Some(Vec::new());
        let mut c = Choices::new(&mut script, &mut made);
        assert!(c.active());
        assert_eq!(c.take(2, 0), 1, "the script's value");
        assert_eq!(c.take(3, 2), 2, "9 is not one of 3 options: the draw");
        assert_eq!(c.take(4, 3), 0, "the script's value");
        assert_eq!(script.as_deref(), Some(&[1][..]), "what is left waits for the next choice");
        let mut c = Choices::new(&mut script, &mut made);
        assert_eq!(c.take(2, 0), 1);
        assert_eq!(c.take(5, 4), 4, "past the script: the draw");
        assert_eq!(script, None);
        assert_eq!(made.as_deref(), Some(&[(2, 1), (3, 2), (4, 0), (2, 1), (5, 4)][..]));
        let mut none = None;
        assert!(!Choices::new(&mut script, &mut none).active(), "the script is used up, nothing recorded");
    }

    /// Regression (issue 11, a hang under clock drift): a local timer of
    /// 1µs or more always takes at least 1µs of real time, whatever the
    /// drift; rounding down gave 0µs on a fast clock, and a re-arming
    /// timer spun at one instant forever.
    #[test]
    fn a_local_timer_always_moves_real_time_forward() {
        for drift_ppm in [-100_000, -1, 1, 50, 100_000] {
            let clock = Clock::new(SimTime(0), 0, drift_ppm);
            for local in [1, 2, 3, 999, 1_000_000] {
                let real = clock.real_duration(SimDuration(local));
                assert!(real.0 >= 1, "drift {drift_ppm}ppm: a {local}µs timer took no real time");
            }
        }
    }

    /// On a clock that gains, a timer fires no earlier than its delay by
    /// the local clock (and no later than 1µs after), from any moment:
    /// the local reading over the real duration advances by the delay.
    #[test]
    fn a_fast_clock_timer_fires_once_its_local_delay_has_passed() {
        for drift_ppm in [1, 7, 50, 999, 100_000] {
            for set_at in [0u64, 1, 333, 999_999] {
                let clock = Clock::new(SimTime(set_at), 12, drift_ppm);
                for start in [set_at, set_at + 1, set_at + 17, set_at + 1_000_003] {
                    for local in [1u64, 2, 5, 19, 1_000, 123_457] {
                        let real = clock.real_duration(SimDuration(local));
                        let advanced = clock.read(SimTime(start + real.0)) - clock.read(SimTime(start));
                        assert!(
                            advanced >= local as i64,
                            "drift {drift_ppm}: {local}µs local took {}µs real, advanced only {advanced}µs",
                            real.0
                        );
                        let earlier = clock.read(SimTime(start + real.0 - 1)) - clock.read(SimTime(start));
                        assert!(earlier < local as i64 + 1, "not more than 1µs late");
                    }
                }
            }
        }
    }
}
