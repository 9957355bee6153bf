//! The host: runs a node's handlers and performs what they recorded. The
//! one place the meaning of every [`Effect`] is written down (see
//! `Sim::perform`): durability order and gating (`once_durable`),
//! drift-scaled timers, keyed timer replacement, incarnations (effects of a
//! crashed node's earlier life are void). Also each node's runtime around
//! the protocol's state ([`NodeRt`]): status, disk, unflushed writes,
//! pending timers, gated effects, incarnation, events held while paused;
//! and what a crash, a restart and a resume do to it.

use super::engine::{Sim, SimConfig, StepRecord};
use super::monitor::Checker;
use super::network::{EndpointId, Route};
use super::queue::{Event, NORMAL, Payload, PendingEvent, Slot, WirePayload, describe, label};
use super::shared::Shared;
use super::time::{SimDuration, SimTime};
use super::trace::{NONE, TraceKind};
use crate::nodes::{
    AnswerOf, Choices, ClientRef, ClientReply, Context, Effect, NodeId, Outbox, Protocol, SmallMap, TimerId,
    WriteId,
};
use crate::util::{CowArc, make_mut};
use std::collections::VecDeque;

/// Is a node running?
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeStatus {
    Up,
    Down,
    Paused,
}

/// A node's runtime around the protocol's state.
#[derive(Clone, Debug, Hash)]
pub(super) struct NodeRt<P: Protocol> {
    pub(super) status: NodeStatus,
    /// `None` while down.
    pub(super) state: Option<P::State>,
    /// Shared with snapshots until a write reaches it: a node changes on
    /// almost every event, its disk far less often.
    pub(super) disk: CowArc<P::Durable>,
    /// Writes issued but not yet on disk, oldest first.
    pub(super) unflushed: VecDeque<(WriteId, P::DurableWrite)>,
    /// Pending timers by key, with the generation that counts: a popped
    /// timer whose generation is not the one here was replaced or
    /// cancelled.
    pub(super) timers: SmallMap<P::Timer, TimerId>,
    /// Clock, RNG stream and handle counters (what a context needs).
    pub(super) io: crate::nodes::NodeIo,
    /// Bumped on crash and restart: events of an earlier life are void.
    pub(super) incarnation: u32,
    /// Events that arrived while paused, in arrival order.
    pub(super) held: Vec<u32>,
    /// Effects waiting for the disk ([`Context::once_durable`]), each with
    /// the write it waits for, in the order recorded.
    pub(super) after_disk: VecDeque<(WriteId, Effect<P>)>,
    /// The node's server, when capacity is modelled ([`super::capacity`]);
    /// `None` otherwise. Boxed: 120 bytes that every copy of a node (one a
    /// move of `distlab explore` or the TUI's tape makes) would carry.
    pub(super) load: Option<Box<super::capacity::NodeLoad>>,
}

/// Every node's runtime, each behind a `CowArc` ([`Shared`]): a snapshot
/// shares the nodes with the run, and a node is copied only when it next
/// changes. Writing to a node (`IndexMut`) also forgets its memo, the
/// hash of what the model fingerprint takes from it ([`Shared::memo`]).
pub(super) type Nodes<P> = Shared<NodeRt<P>>;

impl<P: Protocol> NodeRt<P> {
    /// The node's server. Only where capacity is modelled (a programming
    /// error otherwise).
    pub(super) fn load_mut(&mut self) -> &mut super::capacity::NodeLoad {
        self.load.as_deref_mut().expect("capacity is modelled")
    }

    /// Gives back the room its queues keep beyond what they hold, which a
    /// snapshot sharing the node would keep for as long as it lives. After
    /// a copy (a move of `distlab explore` copies the nodes it changes), a
    /// node's first effect that waits for a write allocates `after_disk`
    /// for four; a zero-latency disk completes the write within the step
    /// and empties it again, but the room stays. Changes nothing the
    /// node's memo or the state hash sees (they read elements, not
    /// capacities).
    pub(super) fn trim(&mut self) {
        self.after_disk.shrink_to_fit();
        self.unflushed.shrink_to_fit();
        self.held.shrink_to_fit();
    }
}

// ----- effects: running handlers and performing what they recorded -------

/// The context a handler of `node` acts through.
pub(super) fn context<'a, P: Protocol>(
    node: NodeId,
    now: SimTime,
    notes_on: bool,
    cfg: &'a SimConfig<P>,
    io: &'a mut crate::nodes::NodeIo,
    out: &'a mut Outbox<P>,
    choices: Option<Choices<'a>>,
) -> Context<'a, P> {
    let mut ctx = Context::new(node, now, &cfg.params, &cfg.cluster, io, notes_on, out);
    if let Some(choices) = choices {
        ctx.steer_choices(choices);
    }
    ctx
}

impl<P: Protocol, C: Checker<P>> Sim<P, C> {
    /// Runs one handler of a live node and performs its effects.
    #[inline(always)]
    pub(super) fn handle(&mut self, node: NodeId, f: impl FnOnce(&mut P::State, &mut Context<'_, P>)) {
        let (now, notes_on) = (self.state.now, self.trace.full());
        // Borrowed field by field (no clone of the shared configuration:
        // its reference count is an atomic, and this runs every event).
        let rt = &mut self.state.nodes[node.index()];
        let Some(state) = rt.state.as_mut() else {
            debug_assert!(false, "handlers run only on live nodes");
            return;
        };
        let choices = Some(Choices::new(&mut self.state.script, &mut self.choices_made));
        f(state, &mut context(node, now, notes_on, &self.cfg, &mut rt.io, &mut self.out, choices));
        self.perform(node);
    }

    /// Starts a node: `init` the first time, `recover` from disk after a
    /// crash.
    pub(super) fn boot(&mut self, node: NodeId, recovering: bool) {
        let (now, notes_on) = (self.state.now, self.trace.full());
        let rt = &mut self.state.nodes[node.index()];
        let choices = Some(Choices::new(&mut self.state.script, &mut self.choices_made));
        let ctx = &mut context(node, now, notes_on, &self.cfg, &mut rt.io, &mut self.out, choices);
        let state = if recovering { P::recover(ctx, &rt.disk) } else { P::init(ctx) };
        rt.state = Some(state);
        rt.status = NodeStatus::Up;
        self.perform(node);
    }

    /// Performs the effects the handler recorded ([`Effect`]). This is the
    /// one place their meaning is written down:
    ///
    /// - `Write`: the write joins the node's unflushed writes and reaches
    ///   the disk `disk_latency` later (after its transfer, with a
    ///   `[capacity] disk_bandwidth`), writes in issue order (a zero
    ///   latency disk with nothing unflushed completes it within the step,
    ///   and the node hears of it after the handler's other effects). A
    ///   crash before then loses it.
    /// - `SetTimer`: arms the timer with this key after its delay on the
    ///   node's *local* clock, scaled to real time by the clock's drift
    ///   (rounded up: a timer always moves time forward by at least 1µs).
    ///   A pending timer with the same key is replaced: the key now names
    ///   this generation, and the old event, still queued, is void:
    ///   nothing happens when its time comes (it may be swept out before,
    ///   [`Sim::sweep_void`]). `CancelTimer`: the key names no timer any
    ///   more (and a timer with this key still waiting for the disk is
    ///   dropped).
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
    pub(super) fn perform(&mut self, node: NodeId) {
        if self.out.is_empty() {
            return;
        }
        let mut out = std::mem::take(&mut self.out);
        // (Writes completed within the step and messages to itself are
        // gathered in the engine's own lists, empty at every call's start:
        // the one that drains them takes them first.)
        //
        // The usual effects — a send, a reply, an observation — are
        // performed in place, moving only the message or answer out of the
        // outbox. Moved out whole, an effect was read with wide loads over
        // the narrow stores the handler had just made, which the store
        // buffer cannot forward (see `Outbox::push`), and what came next
        // waited on that copy: a stall on every send. So the vector
        // forgets its effects before the loop, each is moved out (or
        // dropped) exactly once below, and a panic midway (a checker's,
        // say) leaks the effect in hand and the rest rather than dropping
        // any twice.
        let effects = &mut out.effects;
        let len = effects.len();
        // SAFETY: 0 is within the capacity. The effects in `0..len` stay
        // initialised in the buffer, owned by the loop alone from here.
        unsafe { effects.set_len(0) };
        let base = effects.as_mut_ptr();
        for i in 0..len {
            // SAFETY: `i < len`: initialised, and not moved out yet.
            let place = unsafe { &mut *base.add(i) };
            match place {
                (None, Effect::Send { to, msg }) => {
                    // SAFETY: the message is moved out once and not read
                    // or dropped again; what stays (`to`, the gate, the
                    // kind) is `Copy` and needs no drop.
                    let msg = unsafe { std::ptr::read(msg) };
                    self.send(node.endpoint(), to.endpoint(), Payload::Peer(msg));
                }
                (None, Effect::Reply { to, reply }) => {
                    // SAFETY: as for a send (`to` is a `Copy` `ClientRef`).
                    let reply = unsafe { std::ptr::read(reply) };
                    self.reply(node, *to, reply);
                }
                (None, Effect::Observe(obs)) => {
                    self.observe(node, obs);
                    // SAFETY: dropped once, and not read again.
                    unsafe { std::ptr::drop_in_place(obs) };
                }
                _ => {
                    // SAFETY: moved out whole once, and not read again.
                    let (gate, effect) = unsafe { std::ptr::read(place) };
                    match gate {
                        Some(w) => self.state.nodes[node.index()].after_disk.push_back((w, effect)),
                        None => self.perform_one(node, effect),
                    }
                }
            }
        }
        // Nothing performed above runs a handler (loopbacks and writes done
        // within the step wait for `after_effects`): no effect was recorded
        // into the outbox put back here.
        debug_assert!(self.out.is_empty(), "an effect recorded while effects were performed");
        self.out = out;
        if !self.persisted_scratch.is_empty() || !self.loopback_scratch.is_empty() {
            self.after_effects(node);
        }
    }

    /// Performs one effect of node `node`'s handler (see [`Sim::perform`]).
    fn perform_one(&mut self, node: NodeId, effect: Effect<P>) {
        let now = self.state.now;
        let incarnation = self.state.nodes[node.index()].incarnation;
        match effect {
            Effect::Write { id, write } => {
                let rt = &mut self.state.nodes[node.index()];
                let bandwidth = self.cfg.capacity.as_ref().and_then(|c| c.disk_bandwidth);
                if self.cfg.disk_latency == SimDuration::ZERO
                    && rt.unflushed.is_empty()
                    && bandwidth.is_none()
                {
                    // A zero-latency disk completes the write within the step.
                    P::apply_write(make_mut(&mut rt.disk), &write);
                    self.persisted_scratch.push(id);
                } else {
                    // With a bandwidth, the write's bytes take their time first.
                    let start = match bandwidth {
                        Some(bw) => rt.load_mut().disk_transfer(now, super::capacity::write_size(&write), bw),
                        None => now,
                    };
                    rt.unflushed.push_back((id, write));
                    let at = start.after(self.cfg.disk_latency);
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
            // (`perform` performs these three in place; here for the
            // record of what every effect means.)
            Effect::Send { to, msg } => self.send(node.endpoint(), to.endpoint(), Payload::Peer(msg)),
            Effect::Reply { to, reply } => self.reply(node, to, reply),
            Effect::Observe(obs) => self.observe(node, &obs),
            Effect::Note(text) => self.trace.annotate(self.state.stats.events, now.0, node.0, text),
            Effect::Loopback(msg) => self.loopback_scratch.push(msg),
        }
    }

    /// Node `node` answers a client.
    fn reply(&mut self, node: NodeId, to: ClientRef, reply: ClientReply<AnswerOf<P>>) {
        let payload = Payload::Reply { op_id: to.op_id, attempt: to.attempt, reply };
        self.send(node.endpoint(), to.endpoint, payload);
    }

    /// Node `node` publishes an observation: the checker hears it, the
    /// trace keeps its label.
    fn observe(&mut self, node: NodeId, obs: &P::Observation) {
        let at = self.at();
        if let Some(c) = self.checker.as_mut().map(make_mut) {
            c.on_observation(at, node, obs);
        }
        self.trace.record(at.step, at.time.0, TraceKind::Observation, node.0, NONE, 0, 0, || {
            P::label_observation(obs)
        });
    }

    /// What a handler's effects started within the step: the node hears
    /// of the writes a zero-latency disk completed, after handling the
    /// messages it sent itself.
    fn after_effects(&mut self, node: NodeId) {
        let mut persisted_now = std::mem::take(&mut self.persisted_scratch);
        let mut loopback = std::mem::take(&mut self.loopback_scratch);
        // A zero-latency disk completed this step's writes: once the
        // step's observations are in, everything the node wrote is durable.
        if C::HEARS_DISK && !persisted_now.is_empty() {
            self.tell_durable(node);
        }
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
    pub(super) fn persisted(&mut self, node: NodeId, id: WriteId) {
        let rt = &mut self.state.nodes[node.index()];
        rt.io.on_disk = rt.io.on_disk.max(id.0);
        while rt.after_disk.front().is_some_and(|(w, _)| *w <= id) {
            if let Some((_, effect)) = rt.after_disk.pop_front() {
                self.out.effects.push((None, effect));
            }
        }
        self.handle(node, |s, ctx| P::on_persisted(s, ctx, id));
    }

    /// Puts a message on the network. (Inlined: echo, whose every step is
    /// one send, takes 6% less time than with a call, and the protocols no
    /// more.)
    #[inline(always)]
    pub(super) fn send(&mut self, from: EndpointId, to: EndpointId, payload: WirePayload<P>) {
        self.state.next_msg += 1;
        let id = self.state.next_msg;
        self.state.stats.sent += 1;
        let now = self.state.now;
        let step = self.state.stats.events;
        if self.trace.on() {
            let h = super::canon::hash(&payload) as u64;
            let words = || (describe(&payload), label(&payload));
            self.trace.record_message(step, now.0, TraceKind::Send, from.0, to.0, id, h, words);
        }
        match self.state.network.route(&mut self.link_hints, from, to, now) {
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

    pub(super) fn hold(&mut self, node: NodeId, event: PendingEvent<P>) {
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

    pub(super) fn crash(&mut self, n: NodeId) {
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
        if self.cfg.capacity.is_some() {
            self.empty_queue(n);
        }
    }

    /// Re-queues what arrived while the node was paused, in arrival order,
    /// ahead of anything else now.
    pub(super) fn resume(&mut self, n: NodeId) {
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

    // ----- the node's own events -------------------------------------------

    /// A timer's time has come. It fires only if its key still names this
    /// generation (not replaced, not cancelled) in this life of the node;
    /// while the node is paused it waits for the resume.
    pub(super) fn timer_fires(
        &mut self,
        node: NodeId,
        incarnation: u32,
        id: TimerId,
        timer: P::Timer,
    ) -> Option<StepRecord> {
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
        let full = self.trace.builds_text();
        let text = if full { format!("{timer:?}") } else { String::new() };
        self.trace.record(step, now, TraceKind::Timer, node.0, NONE, 0, id.0, || text);
        self.handle(node, |s, ctx| P::on_timer(s, ctx, timer));
        Some(self.record(TraceKind::Timer, Some(node.endpoint()), None, None))
    }

    /// The oldest unflushed write of `node` reaches its disk.
    pub(super) fn disk_completes(&mut self, node: NodeId, incarnation: u32) -> Option<StepRecord> {
        if self.state.nodes[node.index()].incarnation != incarnation {
            return None;
        }
        // The disk finishes the write on time, even while the node
        // is paused; only telling the node waits for it to resume.
        let step = self.begin_step();
        let rt = &mut self.state.nodes[node.index()];
        let (id, write) = rt.unflushed.pop_front().expect("a disk event has a write");
        P::apply_write(make_mut(&mut rt.disk), &write);
        let paused = rt.status == NodeStatus::Paused;
        if C::HEARS_DISK {
            self.tell_durable(node);
        }
        let now = self.state.now.0;
        self.trace
            .record(step, now, TraceKind::Persisted, node.0, NONE, 0, id.0, || format!("on disk: {write:?}"));
        if paused {
            self.hold(node, Event::Persisted { node, incarnation, id });
        } else {
            self.persisted(node, id);
        }
        Some(self.record(TraceKind::Persisted, Some(node.endpoint()), None, None))
    }

    /// Tells the checker that every write of `node` is on disk, if it is.
    fn tell_durable(&mut self, node: NodeId) {
        if self.state.nodes[node.index()].unflushed.is_empty() {
            let at = self.at();
            if let Some(c) = self.checker.as_mut().map(make_mut) {
                c.on_durable(at, node);
            }
        }
    }

    /// A node that was paused when its write reached the disk hears of it.
    pub(super) fn told_persisted(
        &mut self,
        node: NodeId,
        incarnation: u32,
        id: WriteId,
    ) -> Option<StepRecord> {
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
}
