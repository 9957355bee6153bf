//! The event queue: small entries in time order (a sorted run and a
//! heap, [`EventHeap`]) over a slab of pending events.
//!
//! Entries are `(time, key, slot)`; `key` orders events at equal times:
//! scripted faults and "deliver next" interventions carry a key with the
//! top bit clear and run before everything else at their time, other
//! events run in the order they were scheduled (design rule 1). A slab
//! slot remembers its key, so moving an event (deliver next) or removing
//! it (drop) just makes the old queue entry stale; a stale entry is skipped
//! when it comes up. The slab grows only when every slot is taken, so its
//! length is the number of events waiting (the `pending` budget).

use super::engine::Sim;
use super::monitor::Checker;
use super::network::EndpointId;
use super::slab::Slab;
use super::time::SimTime;
use crate::nodes::{AnswerOf, ClientReply, ClientRequest, Message, NodeId, OpOf, Protocol, TimerId, WriteId};
use std::collections::VecDeque;

/// What a message carries on the wire.
#[derive(Clone, Debug, Hash, serde::Serialize)]
pub enum Payload<M, O, A> {
    /// Node to node.
    Peer(M),
    /// Client to node.
    Request(ClientRequest<O>),
    /// Node to client.
    Reply { op_id: u64, attempt: u32, reply: ClientReply<A> },
}

/// A pending event in the slab.
#[derive(Clone, Debug, Hash)]
pub(super) enum Event<M, T, O, A> {
    Deliver {
        id: u64,
        from: EndpointId,
        to: EndpointId,
        payload: Payload<M, O, A>,
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
    /// The next arrival of an open-loop `[[clients]]` entry.
    Arrival {
        spec: u32,
    },
    Fault {
        index: u32,
    },
}

#[derive(Clone, Debug, Hash)]
pub(super) struct Slot<M, T, O, A> {
    pub(super) key: u64,
    pub(super) time: SimTime,
    pub(super) event: Event<M, T, O, A>,
}

/// A queue entry: small and `Copy`, ordered by `(time, key)` (keys are
/// unique, so the order is total and pops are the same on every run).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Entry {
    pub(super) time: u64,
    pub(super) key: u64,
    pub(super) slot: u32,
}
impl Entry {
    /// Whether `self` runs before `other` (one 128-bit comparison,
    /// which compiles without branches).
    #[inline(always)]
    fn before(&self, other: &Entry) -> bool {
        self.rank() < other.rank()
    }

    /// The order the engine takes entries in: by time, then by key.
    #[inline(always)]
    pub(super) fn rank(&self) -> u128 {
        (u128::from(self.time) << 64) | u128::from(self.key)
    }
}

/// The queue's order, in two parts: a *run* of entries each later than
/// the one before, and a 4-ary min-heap of the rest. An event scheduled
/// later than every event in the run joins the run's end; one that would
/// come before the run's last goes to the heap. The next event is the
/// earlier of the run's first and the heap's top. Events are scheduled
/// from a clock that never goes back, so on echo (one constant latency)
/// every event takes the run, and a run costs a comparison to push or pop
/// where the heap walks its levels. The protocols gain less: once a long
/// timer or timeout is the run's last, the 1 ms messages go to the heap
/// until it comes up (6–14% of their pushes take the run on the
/// benchmarks; several runs would keep more). A
/// snapshot's queue comes back as one run (it is kept sorted). The pop
/// order is exactly the `(time, key)` order, whichever part holds what.
#[derive(Debug, Default)]
pub(super) struct EventHeap {
    /// Entries in `(time, key)` order, each pushed after the one before.
    run: VecDeque<Entry>,
    /// The other entries: a 4-ary min-heap. Shallower than a binary heap
    /// (half the levels), and a node's four children sit side by side in
    /// memory, so a pop touches fewer cache lines; `push` and `pop` move a
    /// hole instead of swapping.
    v: Vec<Entry>,
}

const ARITY: usize = 4;

impl EventHeap {
    pub(super) fn new() -> Self {
        EventHeap::default()
    }

    /// What a snapshot keeps of the queue: the slots of its live entries
    /// (those whose slot still holds the event they were queued for), in
    /// the order they pop. An entry's time and key are in its slot, which
    /// the snapshot's slab keeps: four bytes an event where a copy of the
    /// queue took twenty-four. Stale entries (an event dropped from its
    /// slot) are left out: the run skips them when they come up, and
    /// nothing hashes them or counts them.
    pub(super) fn order<M, T, O, A>(&self, slab: &Slab<Slot<M, T, O, A>>) -> QueueOrder {
        let mut live: Vec<Entry> = self.iter().copied().filter(|e| is_live(slab, e)).collect();
        live.sort_unstable_by_key(Entry::rank);
        QueueOrder(live.into_iter().map(|e| e.slot).collect())
    }

    /// The queue a snapshot kept (see [`EventHeap::order`]), with this
    /// queue's buffers: its entries sorted, which is a run. A run restored
    /// from it and moved on by a step or two has its entries nearly in
    /// order, so the model fingerprint, which reads them in order, sorts
    /// them in a few moves (a stable sort finds the runs).
    pub(super) fn refill<M, T, O, A>(&mut self, order: &QueueOrder, slab: &Slab<Slot<M, T, O, A>>) {
        self.v.clear();
        self.run.clear();
        self.run.extend(order.0.iter().map(|&slot| {
            let s = slab[slot as usize].as_ref().expect("a snapshot's queued slot holds its event");
            Entry { time: s.time.0, key: s.key, slot }
        }));
    }

    /// Keeps the entries `keep` keeps, sorted (one run).
    pub(super) fn retain_sorted(&mut self, mut keep: impl FnMut(&Entry) -> bool) {
        let mut all = std::mem::take(&mut self.v);
        all.retain(&mut keep);
        all.extend(self.run.drain(..).filter(|e| keep(e)));
        all.sort_unstable_by_key(Entry::rank);
        self.run.extend(all.drain(..));
        self.v = all;
    }

    /// The earliest entry.
    #[inline(always)]
    pub(super) fn peek(&self) -> Option<&Entry> {
        match (self.run.front(), self.v.first()) {
            (Some(r), Some(h)) => Some(if h.before(r) { h } else { r }),
            (r, h) => r.or(h),
        }
    }

    /// The earliest live entry, without changing the queue: the first, or,
    /// when stale entries come first (a step drops them before it takes
    /// an event), the earliest of the live ones after them.
    pub(super) fn first_live<M, T, O, A>(&self, slab: &Slab<Slot<M, T, O, A>>) -> Option<Entry> {
        match self.peek() {
            Some(top) if is_live(slab, top) => Some(*top),
            Some(_) => self.iter().copied().filter(|e| is_live(slab, e)).min_by_key(Entry::rank),
            None => None,
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.run.is_empty() && self.v.is_empty()
    }

    /// How many entries are queued, stale ones included.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.run.len() + self.v.len()
    }

    /// Every entry, in no particular order (off the hot path: a loop that
    /// reads every entry often reads [`EventHeap::parts`] one by one).
    pub(super) fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.parts().into_iter().flatten()
    }

    /// Every entry, in no particular order, as three slices (the run's
    /// two, then the heap): read in a plain loop each, where one iterator
    /// over all three tests which part it is in at every entry. The run's
    /// entries come first, in order.
    pub(super) fn parts(&self) -> [&[Entry]; 3] {
        let (front, back) = self.run.as_slices();
        [front, back, &self.v]
    }

    /// Queues `e`: at the run's end if it comes after the run's last
    /// entry, else in the heap.
    #[inline(always)]
    pub(super) fn push(&mut self, e: Entry) {
        if self.run.back().is_none_or(|last| last.before(&e)) {
            self.run.push_back(e);
            return;
        }
        let i = self.v.len();
        self.v.push(e);
        self.sift_up(i, e);
    }

    /// Puts `e` at the heap's hole `i`, moving it up past later parents.
    #[inline(always)]
    fn sift_up(&mut self, mut i: usize, e: Entry) {
        while i > 0 {
            let parent = (i - 1) / ARITY;
            let p = self.v[parent];
            if !e.before(&p) {
                break;
            }
            self.v[i] = p;
            i = parent;
        }
        self.v[i] = e;
    }

    /// Removes and returns the earliest entry.
    #[inline(always)]
    pub(super) fn pop(&mut self) -> Option<Entry> {
        match (self.run.front(), self.v.first()) {
            (Some(r), Some(h)) if h.before(r) => self.pop_heap(),
            (Some(_), _) => self.run.pop_front(),
            (None, _) => self.pop_heap(),
        }
    }

    /// Removes and returns the heap's earliest entry.
    #[inline(always)]
    fn pop_heap(&mut self) -> Option<Entry> {
        let last = self.v.pop()?;
        let Some(&top) = self.v.first() else {
            return Some(last);
        };
        // Move the hole at the root down to a leaf along the earliest
        // children, then `last` up from there (it usually belongs low).
        let n = self.v.len();
        let mut i = 0;
        loop {
            let first = ARITY * i + 1;
            if first + ARITY <= n {
                let (a, b) = (first + usize::from(self.v[first + 1].before(&self.v[first])), first + 2);
                let b = b + usize::from(self.v[b + 1].before(&self.v[b]));
                let m = if self.v[b].before(&self.v[a]) { b } else { a };
                self.v[i] = self.v[m];
                i = m;
            } else {
                if first < n {
                    let mut m = first;
                    for c in first + 1..n {
                        if self.v[c].before(&self.v[m]) {
                            m = c;
                        }
                    }
                    self.v[i] = self.v[m];
                    i = m;
                }
                break;
            }
        }
        self.sift_up(i, last);
        Some(top)
    }
}

/// Whether queue entry `e` is live: its slot still holds the event it was
/// queued for.
#[inline(always)]
fn is_live<M, T, O, A>(slab: &Slab<Slot<M, T, O, A>>, e: &Entry) -> bool {
    matches!(&slab[e.slot as usize], Some(s) if s.key == e.key)
}

/// A snapshot's queue: see [`EventHeap::order`].
#[derive(Clone, Debug)]
pub(super) struct QueueOrder(Box<[u32]>);

pub(super) const NORMAL: u64 = 1 << 63;

/// What a queue entry stands for now: an event still to happen, a void
/// one (its slot taken, nothing to happen when it comes up), or none (its
/// event dropped from the slot, which may hold another since).
pub(super) enum Queued {
    Live,
    Void,
    Stale,
}

/// The fewest events waiting at which the queue is swept of void ones
/// ([`Sim::sweep_void`]).
pub(super) const SWEEP_FROM: u64 = 256;

/// A pending event of protocol `P`.
pub(super) type PendingEvent<P> = Event<<P as Protocol>::Msg, <P as Protocol>::Timer, OpOf<P>, AnswerOf<P>>;
/// A slab slot of protocol `P`.
pub(super) type PendingSlot<P> = Slot<<P as Protocol>::Msg, <P as Protocol>::Timer, OpOf<P>, AnswerOf<P>>;
/// A message of protocol `P` on the wire.
pub(super) type WirePayload<P> = Payload<<P as Protocol>::Msg, OpOf<P>, AnswerOf<P>>;

impl<P: Protocol, C: Checker<P>> Sim<P, C> {
    /// Puts an event in a free slab slot (reusing freed ones). (Inlined:
    /// passed to a call, the event was one more copy on the way to its
    /// slot; echo takes 4.5% less time.)
    #[inline(always)]
    pub(super) fn alloc(&mut self, slot: PendingSlot<P>) -> u32 {
        match self.state.free.pop() {
            Some(i) => {
                self.state.slab[i as usize] = Some(slot);
                i
            }
            None => self.grow(slot),
        }
    }

    /// Empties slab slot `slot` (dropping its event, if any) and puts it
    /// on the free list, for the next event to take. A queue entry for it
    /// goes stale (the step skips it).
    #[inline(always)]
    pub(super) fn free_slot(&mut self, slot: u32) {
        self.state.slab[slot as usize] = None;
        self.state.free.push(slot);
    }

    /// Puts an event in a new slab slot. The slab grows only when every
    /// slot is taken, so its length is the number of events waiting: the
    /// `pending` budget is checked here, off the hot path — and, when the
    /// slab has doubled since the last sweep or is about to pass the
    /// budget, void events are swept first ([`Sim::sweep_void`]), so the
    /// budget counts events that will do something.
    #[inline(never)]
    pub(super) fn grow(&mut self, slot: PendingSlot<P>) -> u32 {
        let len = self.state.slab.len() as u64;
        if self.sweeps && (len >= self.state.sweep_at || len >= self.budget.pending) {
            self.sweep_void();
            if let Some(i) = self.state.free.pop() {
                self.state.slab[i as usize] = Some(slot);
                return i;
            }
        }
        self.state.slab.push(Some(slot));
        if self.state.slab.len() as u64 > self.budget.pending && self.state.halt.is_none() {
            self.halt_pending();
        }
        (self.state.slab.len() - 1) as u32
    }

    #[inline(always)]
    pub(super) fn push(&mut self, time: SimTime, key: u64, event: PendingEvent<P>) {
        let slot = self.alloc(Slot { key, time, event });
        self.state.queue.push(Entry { time: time.0, key, slot });
    }

    /// Takes the void events out of the queue and frees their slots: a
    /// timer cancelled or set again; a timer, disk completion or news of a
    /// write of a node's earlier life (before a crash; the messages it sent
    /// still arrive); the timeout of an operation that has ended. Nothing
    /// happens when one comes up ([`Sim::peek_time`] takes it out then);
    /// until then it would take a slot and make every step of the queue
    /// deeper. A workload with timeouts longer than its operations
    /// (two-phase commit's clients wait a second for transactions that take
    /// milliseconds) would otherwise keep many times more void events than
    /// live ones. Run from [`Sim::grow`], when every slot of the slab is
    /// taken and the slab holds at least twice the events the last sweep
    /// left (and [`SWEEP_FROM`]): a sweep then costs each event a few
    /// instructions, whatever the run, and the inner loop nothing. The
    /// trigger is the slab and its free list, which a snapshot keeps
    /// exactly, so a run replayed from one sweeps where the run did.
    #[cold]
    #[inline(never)]
    pub(super) fn sweep_void(&mut self) {
        let mut queue = std::mem::take(&mut self.state.queue);
        let mut voided = Vec::new();
        queue.retain_sorted(|e| match self.queued(e) {
            Queued::Live => true,
            Queued::Void => {
                voided.push(e.slot);
                false
            }
            Queued::Stale => false, // the step would skip it
        });
        self.state.queue = queue;
        // (Freed in slot order, not the heap's, which a restore changes:
        // the free list, and so where later events go, is the same in a
        // run replayed from a snapshot.)
        voided.sort_unstable();
        for &slot in voided.iter().rev() {
            self.free_slot(slot);
        }
        self.state.sweep_at = SWEEP_FROM.max(2 * self.events_waiting() as u64);
    }

    /// Events waiting: queued or held for a paused node, void ones not
    /// swept yet included (the slab's slots taken).
    pub fn events_waiting(&self) -> usize {
        self.state.slab.len() - self.state.free.len()
    }

    /// Keeps void events queued until they come up, as a run did before
    /// sweeps. `distlab explore` asks for it: a void event at the head of
    /// the queue decides whether a delivery due now is a move of its own
    /// ([`Sim::delivers_next_now`]), so a sweep would change which moves a
    /// search makes; kept, it makes exactly the moves it made before.
    pub fn keep_void_events(&mut self) {
        self.sweeps = false;
    }

    #[inline(always)]
    pub(super) fn schedule(&mut self, time: SimTime, event: PendingEvent<P>) {
        self.state.next_key += 1;
        let key = NORMAL | self.state.next_key;
        self.push(time, key, event);
    }

    /// Schedules ahead of normal events at the same time.
    pub(super) fn schedule_first(&mut self, time: SimTime, event: PendingEvent<P>) {
        self.state.next_key += 1;
        let key = self.state.next_key;
        self.push(time, key, event);
    }

    /// Pops the next event, which [`Sim::peek_time`] just found live: its
    /// slot is taken without looking at its key again.
    #[inline(always)]
    pub(super) fn pop_live(&mut self) -> (SimTime, PendingEvent<P>) {
        let e = self.state.queue.pop().expect("peek_time found an event");
        // The slot goes on the free list before its event is taken out.
        // Pushing may grow the list, and a call that could panic, placed
        // after the take, made the compiler keep the event whole on the
        // stack (to drop it on a panic) and copy it from there once more,
        // with wide loads over the narrow stores of the copy before (see
        // `Outbox::push` for what that costs). Echo takes 14% less time
        // since.
        self.state.free.push(e.slot);
        let slot = self.state.slab[e.slot as usize].take().expect("peek_time found it live");
        debug_assert_eq!(slot.key, e.key, "peek_time found it live");
        (SimTime(e.time), slot.event)
    }

    /// Whether `event` will change nothing when it comes up: a timer
    /// replaced or cancelled since; a timer, disk completion or news of a
    /// write of a node's earlier life (the messages it sent still arrive);
    /// the timeout of an attempt that is no longer open. (Inlined into the
    /// step's look at the queue and the fingerprint's scan of it: a
    /// delivery, the usual event, is never void, and is seen to be at a
    /// glance.)
    #[inline(always)]
    pub(super) fn void(&self, event: &PendingEvent<P>) -> bool {
        if matches!(event, Event::Deliver { .. }) {
            return false;
        }
        let nodes = &self.state.nodes;
        match event {
            Event::Timer { node, incarnation, id, timer } => {
                let rt = &nodes[node.index()];
                *incarnation != rt.incarnation || rt.timers.get(timer) != Some(id)
            }
            Event::Persisted { node, incarnation, .. } | Event::Disk { node, incarnation } => {
                *incarnation != nodes[node.index()].incarnation
            }
            Event::ClientTimeout { slot, op_id, attempt } => {
                let open = self.state.clients[*slot as usize].pending.as_ref();
                !open.is_some_and(|p| p.op_id == *op_id && p.attempt == *attempt)
            }
            Event::Deliver { .. }
            | Event::Arrival { .. }
            | Event::ClientNext { .. }
            | Event::Fault { .. } => false,
        }
    }

    /// What queue entry `e` stands for now.
    #[inline(always)]
    pub(super) fn queued(&self, e: &Entry) -> Queued {
        match &self.state.slab[e.slot as usize] {
            Some(s) if s.key == e.key => {
                if self.void(&s.event) {
                    Queued::Void
                } else {
                    Queued::Live
                }
            }
            _ => Queued::Stale,
        }
    }

    /// The time of the next live event, if any. Stale entries on top are
    /// dropped, and void events taken out (their slots freed) as a sweep
    /// would: nothing happens when they come up, so they take no step
    /// and do not move the clock. The top entry is then that live event.
    #[inline(always)]
    pub(super) fn peek_time(&mut self) -> Option<SimTime> {
        while let Some(e) = self.state.queue.peek().copied() {
            match self.queued(&e) {
                Queued::Live => return Some(SimTime(e.time)),
                Queued::Void => self.free_slot(e.slot),
                Queued::Stale => {}
            }
            self.state.queue.pop();
        }
        None
    }

    pub(super) fn find_message(&self, id: u64) -> Option<usize> {
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
}

/// A message in words, for the trace and views.
/// A payload's short label for the diagram: the protocol's own
/// ([`Message::label`]) or, for client traffic, what the client asked and
/// how it was answered.
pub(super) fn label<M: Message, O: std::fmt::Display, A: std::fmt::Display>(p: &Payload<M, O, A>) -> String {
    match p {
        Payload::Peer(m) => m.label(),
        Payload::Request(r) => r.op.to_string(),
        Payload::Reply { reply, .. } => match &reply.outcome {
            crate::nodes::client::Outcome::Ok { answer } => {
                let a = answer.to_string();
                if a.is_empty() { "reply ok".into() } else { format!("reply ok {a}") }
            }
            crate::nodes::client::Outcome::Fail { .. } => "reply fail".into(),
            crate::nodes::client::Outcome::Redirect { .. } => "reply redirect".into(),
            crate::nodes::client::Outcome::Unknown { .. } => "reply unknown".into(),
        },
    }
}

pub(super) fn describe<M: Message, O: std::fmt::Display, A: std::fmt::Debug>(p: &Payload<M, O, A>) -> String {
    match p {
        Payload::Peer(m) => format!("{m:?}"),
        Payload::Request(r) => format!("request {} (op {}, attempt {})", r.op, r.from.op_id, r.from.attempt),
        Payload::Reply { op_id, reply, .. } => format!("reply to op {op_id}: {:?}", reply.outcome),
    }
}

#[cfg(test)]
mod tests {
    use super::{Entry, Event, EventHeap, Slab, Slot, is_live};
    use crate::sim::time::SimTime;
    use std::collections::BTreeSet;

    /// A slab of events that are nothing but their time and key.
    type TestSlab = Slab<Slot<(), (), (), ()>>;

    /// Pops the earliest live entry, dropping stale ones on the way, as
    /// the engine's `peek_time` and `pop_live` do.
    fn pop_live(heap: &mut EventHeap, slab: &mut TestSlab) -> Option<Entry> {
        loop {
            let e = heap.pop()?;
            if is_live(slab, &e) {
                slab[e.slot as usize] = None;
                return Some(e);
            }
        }
    }

    /// Interleaved pushes, pops and events dropped from their slots (their
    /// entries going stale), with many equal times, come out in exactly
    /// `(time, key)` order, as a sorted set would give them; and now and
    /// then the queue is kept as a snapshot keeps it and refilled, as a
    /// restore does, and comes out the same, stale entries gone. Times at
    /// random, so most entries go to the heap.
    #[test]
    fn queue_pops_in_time_key_order() {
        pops_in_time_key_order(|r, step| (r >> 8) % 16 + u64::from(step / 1000));
    }

    /// The same, with times that mostly come after the ones before (a
    /// clock that moves on, events after the same few delays), so most
    /// entries go to the run, and the rest to the heap between them; and
    /// many at one time, where an entry with the top bit of its key clear
    /// comes before the run's last though its time is the same.
    #[test]
    fn queue_pops_in_time_key_order_when_most_come_in_order() {
        pops_in_time_key_order(|r, step| {
            u64::from(step / 4) + [3, 3, 3, 3, 3, 3, 1, 40][(r >> 8) as usize % 8]
        });
    }

    fn pops_in_time_key_order(time: impl Fn(u64, u32) -> u64) {
        let mut heap = EventHeap::new();
        let mut slab = TestSlab::default();
        let mut model: BTreeSet<(u64, u64, u32)> = BTreeSet::new();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut key = 0u64;
        let (mut stale, mut refills, mut sweeps) = (0, 0, 0);
        let (mut in_run, mut in_heap) = (0, 0);
        for step in 0..20_000u32 {
            let r = next();
            // Slot `step` holds this step's event, if it queues one.
            if r % 6 < 3 || model.is_empty() {
                key += 1;
                // Few distinct times, and some keys with the top bit clear.
                let k = if r % 7 == 0 { key } else { super::NORMAL | key };
                let e = Entry { time: time(r, step), key: k, slot: step };
                (in_run, in_heap) =
                    (in_run + usize::from(!heap.run.is_empty()), in_heap + usize::from(!heap.v.is_empty()));
                heap.push(e);
                slab.push(Some(Slot { key: k, time: SimTime(e.time), event: Event::Fault { index: 0 } }));
                model.insert((e.time, e.key, e.slot));
            } else if r % 6 == 3 {
                // An event dropped from its slot, the first or the last.
                let (_, _, slot) =
                    if r % 2 == 0 { model.pop_first() } else { model.pop_last() }.expect("not empty");
                slab[slot as usize] = None;
                slab.push(None);
                stale += 1;
            } else {
                let want = model.pop_first().expect("not empty");
                let got = pop_live(&mut heap, &mut slab).expect("not empty");
                assert_eq!((got.time, got.key, got.slot), want);
                slab.push(None);
            }
            assert_eq!(heap.first_live(&slab).map(|e| (e.time, e.key, e.slot)), model.first().copied());
            if r % 97 == 0 {
                let order = heap.order(&slab);
                heap.refill(&order, &slab);
                assert!(heap.iter().all(|e| is_live(&slab, e)), "a refilled queue holds no stale entry");
                assert_eq!(heap.len(), model.len());
                refills += 1;
            }
            if r % 89 == 1 {
                // As a sweep does: the void events (here, the live ones in
                // slots that are multiples of 3) taken out and their slots
                // freed, and the stale entries dropped.
                let void = |slot: u32| slot.is_multiple_of(3);
                heap.retain_sorted(|e| is_live(&slab, e) && !void(e.slot));
                for &(_, _, slot) in model.iter().filter(|(.., slot)| void(*slot)) {
                    slab[slot as usize] = None;
                }
                model.retain(|(.., slot)| !void(*slot));
                assert!(heap.iter().all(|e| is_live(&slab, e)), "a swept queue holds no stale entry");
                assert_eq!(heap.len(), model.len());
                sweeps += 1;
            }
        }
        assert!(
            stale > 1_000 && refills > 100 && sweeps > 100,
            "{stale} dropped, {refills} refills, {sweeps} sweeps"
        );
        assert!(in_run > 1_000 && in_heap > 1_000, "both parts used: {in_run}, {in_heap}");
        while let Some(want) = model.pop_first() {
            let got = pop_live(&mut heap, &mut slab).expect("not empty");
            assert_eq!((got.time, got.key, got.slot), want);
        }
        assert!(pop_live(&mut heap, &mut slab).is_none());
    }
}
