//! The model fingerprint: a hash of the simulated system's state as a
//! model sees it. Two runs that reach the same state by different routes
//! fingerprint equal, and two states with equal fingerprints have the same
//! future: whatever the search or the engine does next, both do the same
//! thing. That is what lets `distlab explore` merge them without losing a
//! path, and makes what a complete search covers independent of the order
//! it searches in.
//!
//! It covers the clock's reading (protocols keep readings of their local
//! clocks and compare them later); per node: status, the protocol's state,
//! the disk, the writes still on their way to the disk (in order), the
//! clock (its offset now and its drift), the pending timers (key and time
//! left), the effects waiting for the disk (each with how many more writes
//! it waits for), the disk's completions and the news of writes held for a
//! paused node (time left), and how far its random stream is drawn; the
//! messages in flight, each with the time left until it arrives; each
//! client process (its open operation with its age, what it believes,
//! whether it is done, its pending timeout or next operation with time
//! left, how far its random stream is drawn) and how many operations each
//! client entry has issued; the network's faults in force (partitions,
//! cuts, link overrides) and, of each link a message has crossed, how far
//! its random stream is drawn and how long its FIFO order holds; and the
//! scripted faults still to come, with time left; and the values the next
//! choices are to take, if an intervention gave some. The pending events are
//! hashed in the order the engine will take them: events due at one
//! instant run in the order they were scheduled, so two messages due
//! together but sent in the other order are another state (the next
//! `step` delivers the other one). What it takes from a node or a client
//! process that does not depend on the time now is hashed once after each
//! change and kept beside it (a memo: `sim::shared`), so a state costs a
//! hash of what its step changed, not of every node.
//!
//! It leaves out what only the engine's bookkeeping knows and no future
//! event depends on: step and event counters, message ids, the queue's
//! sequence keys (only their order counts) and slab slots, timer ids and
//! generations, write ids (a gate is counted relative to what is on disk),
//! incarnations, process ids, the random streams' seeds (only their
//! positions), and void events (a timer replaced or cancelled, anything of
//! a node's earlier life, the timeout of an attempt no longer open: they
//! change nothing when they come up). [`Sim::state_hash`] remains the
//! exact state hash (rewinds are checked with it).
//!
//! (It once left out when messages arrive, the order of events due
//! together and the random streams, as the network's and the dice's
//! choices; but the next `step` depends on them, so two states it merged
//! could go different ways, and a breadth-first and a depth-first search
//! covered different states — `tests/explore.rs` shows they now agree.)

use super::engine::Sim;
use super::hash::Digest;
use super::host::{NodeRt, NodeStatus};
use super::monitor::Checker;
use super::queue::{Entry, Event, Queued};
use crate::nodes::client::ClientSlot;
use crate::nodes::{Effect, Protocol};
use crate::rng::RngStream;
use std::hash::{Hash, Hasher};

thread_local! {
    /// The list a fingerprint sorts the pending events into, as their
    /// queue entries `(time, key, slab slot)`. One per thread, kept from
    /// call to call: `distlab explore` takes a fingerprint of every state
    /// it generates, and this would otherwise be an allocation each time.
    static PENDING: std::cell::Cell<Vec<Entry>> = const { std::cell::Cell::new(Vec::new()) };
}

impl<P: Protocol, C: Checker<P>> Sim<P, C> {
    /// The model fingerprint of the state now (see the module docs): equal
    /// for equal model states, however they were reached.
    pub fn fingerprint(&self) -> Digest {
        let mut pending = PENDING.take();
        pending.clear();
        let digest = self.fingerprint_with(&mut pending);
        PENDING.set(pending);
        digest
    }

    fn fingerprint_with(&self, pending: &mut Vec<Entry>) -> Digest {
        let now = self.state.now.0;
        let left = |t: u64| t.saturating_sub(now);
        let slab = &self.state.slab;
        let event = |slot: u32| &slab[slot as usize].as_ref().expect("a pending event's slot is taken").event;
        // Every pending event, in the order the engine takes them: queued
        // (live) ones by time, then by key at one instant; then those held
        // for a paused node, in the order they are held (they count as due
        // now). Each is hashed in that order.
        // Void events (`Sim::void`: a timer replaced or cancelled, a timer
        // or disk event of a node's earlier life, a timeout of an attempt
        // no longer open) change nothing when they come up: they take no
        // place in the order.
        for part in self.state.queue.parts() {
            for e in part {
                if let Queued::Live = self.queued(e) {
                    pending.push(*e);
                }
            }
        }
        let mut held = 0u64;
        for rt in &self.state.nodes {
            for &slot in &rt.held {
                if let Some(held_event) = &slab[slot as usize] {
                    if !self.void(&held_event.event) {
                        pending.push(Entry { time: u64::MAX, key: held, slot });
                    }
                    held += 1;
                }
            }
        }
        // (The queue's own 24-byte entries, by their 128-bit rank: a
        // narrower element than a tuple with the time left sorts faster.
        // A stable sort, though ranks are unique: it finds what is in order
        // already, and restored from a snapshot, whose queue is sorted, and
        // moved on by a step, they nearly are.)
        pending.sort_by_key(Entry::rank);
        // Each node's and client process's memo first: a hash of what is
        // taken from it that does not depend on the time now, kept until
        // it changes (most do not from one state to the next). Computed
        // here, outside the hasher below, each takes the thread's buffer.
        let nodes = &self.state.nodes;
        let clients = &self.state.clients;
        let memo_of_node = |i| nodes.memo(i, |rt| self.node_memo(rt));
        let memo_of_client = |i| clients.memo(i, client_memo);
        (0..nodes.len()).for_each(|i| _ = memo_of_node(i));
        (0..clients.len()).for_each(|i| _ = memo_of_client(i));
        debug_assert!(
            self.state.nodes.iter().enumerate().all(|(i, rt)| rt.timers.len()
                == pending
                    .iter()
                    .filter(|e| matches!(event(e.slot), Event::Timer { node, .. } if node.index() == i))
                    .count()),
            "each live timer of a node has one live event, and only those"
        );
        super::hash::buffered(|h| {
            now.hash(h);
            for &Entry { time, slot, .. } in pending.iter() {
                // (Held events, at `u64::MAX`, count as due now.)
                let left = if time == u64::MAX { 0 } else { left(time) };
                // Each event goes into the hash as it comes, in rank order
                // (so its place in that order is said by where it is),
                // with its time left, after a marker of its kind, with the
                // node, client or fault it is for (one hasher, no list per
                // node or client to sort). A live timer is its node's
                // entry for its key: every entry has one.
                match event(slot) {
                    Event::Deliver { from, to, payload, .. } => (1u8, left, from, to, payload).hash(h),
                    Event::Timer { node, timer, .. } => (2u8, left, node, timer).hash(h),
                    Event::Disk { node, .. } => (3u8, left, node).hash(h),
                    Event::Persisted { node, .. } => (4u8, left, node).hash(h),
                    Event::ClientNext { slot } => (5u8, left, slot).hash(h),
                    Event::ClientTimeout { slot, op_id, attempt } => {
                        (6u8, left, slot, op_id, attempt).hash(h)
                    }
                    Event::Arrival { spec } => (7u8, left, spec).hash(h),
                    Event::Fault { index } => (8u8, left, index).hash(h),
                }
            }
            0u8.hash(h); // the last event
            for (i, rt) in nodes.iter().enumerate() {
                memo_of_node(i).hash(h);
                if rt.status != NodeStatus::Down {
                    rt.io.clock.offset_us(self.state.now).hash(h);
                    if let Some(load) = &rt.load {
                        load.busy_until.0.saturating_sub(now).hash(h);
                    }
                }
            }
            for (i, c) in clients.iter().enumerate() {
                memo_of_client(i).hash(h);
                c.pending.as_ref().map(|p| now.saturating_sub(p.invoked_at.0)).hash(h);
            }
            self.state.issued.hash(h);
            self.state.arrivals.iter().map(RngStream::position).for_each(|p| p.hash(h));
            self.state.network.hash_model(self.state.now, h);
            // The values the next choices are to take (the intervention
            // `choose`): a search's move takes them all within its step.
            if let Some(script) = &self.state.script {
                script.hash(h);
            }
        })
    }
}

impl<P: Protocol, C: Checker<P>> Sim<P, C> {
    /// What the fingerprint takes from a node but its clock's reading and
    /// how long its server stays busy (those depend on the time now): its
    /// status; a crashed node's disk (nothing volatile survives), or a
    /// running node's protocol state, disk, writes on their way to the
    /// disk, clock drift, how far its random stream is drawn, effects
    /// waiting for the disk (each with how many more writes it waits for)
    /// and, with capacity modelled, its queue's length. (Its timers go in
    /// with their events: every live timer has one, the debug check says.)
    fn node_memo(&self, rt: &NodeRt<P>) -> u128 {
        super::hash::buffered(|h| {
            rt.status.hash(h);
            if rt.status == NodeStatus::Down {
                rt.disk.hash(h);
                return;
            }
            (&rt.state, &rt.disk).hash(h);
            rt.unflushed.len().hash(h);
            for (_, write) in &rt.unflushed {
                write.hash(h);
            }
            (rt.io.clock.drift_ppm, rt.io.rng.position()).hash(h);
            rt.after_disk.len().hash(h);
            for (gate, effect) in &rt.after_disk {
                gate.0.saturating_sub(rt.io.on_disk).hash(h);
                hash_effect(effect, h);
            }
            if let Some(load) = &rt.load {
                load.queued.len().hash(h);
            }
        })
        .0
    }
}

/// What the fingerprint takes from a client process but its open
/// operation's age: what it believes, whether it is done, how far its
/// random stream is drawn, and its open operation.
fn client_memo<O: Hash>(c: &ClientSlot<O>) -> u128 {
    super::hash::buffered(|h| {
        (c.spec, c.endpoint, c.believed_leader, c.session_token, &c.written, c.done, c.rng.position())
            .hash(h);
        c.pending.as_ref().map(|p| (p.op_id, &p.op, p.attempt, p.target, p.redirects)).hash(h);
    })
    .0
}

/// An effect without its timer generation.
fn hash_effect<P: Protocol, H: Hasher>(effect: &Effect<P>, h: &mut H) {
    match effect {
        Effect::SetTimer { timer, after, .. } => (0u8, timer, after).hash(h),
        other => (1u8, other).hash(h),
    }
}
