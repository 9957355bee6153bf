//! The model fingerprint: a hash of the simulated system's state as a
//! model sees it, so two runs that reach the same state by different
//! routes fingerprint equal.
//!
//! It covers, per node: status, the protocol's state, the disk, the writes
//! still on their way to the disk (in order), the clock (its offset now and
//! its drift), the pending timers (key and time left), the effects waiting
//! for the disk (each with how many more writes it waits for), and news of
//! writes held for a paused node; the messages in flight as a *multiset*
//! (each message's stable hash, sorted: the order they
//! were sent in does not count); each client process (its open operation
//! with its age, what it believes, whether it is done, its pending
//! timeout or next operation with time left) and how many operations each
//! client entry has issued; the network's faults in force (partitions,
//! cuts, link overrides); and the scripted faults still to come, with time
//! left.
//!
//! It leaves out what only the engine's bookkeeping or its dice know: the
//! clock's absolute reading, step and event counters, message ids, the
//! queue's sequence keys and slab slots, timer generations, write ids (a
//! gate is counted relative to what is on disk), incarnations, process
//! ids, the network's per-link state (FIFO tails, RNG positions), and every
//! random stream's position (the dice are the model's choices, not its
//! state). It also leaves out when each message will arrive: delivery
//! delay is the network's choice. [`Sim::state_hash`] remains the exact
//! state hash (rewinds are checked with it).

use super::engine::Sim;
use super::hash::{Digest, StableHasher};
use super::host::NodeStatus;
use super::monitor::Checker;
use super::queue::{Event, PendingEvent, Slot};
use crate::nodes::{Effect, NodeId, Protocol, TimerId};
use std::hash::{Hash, Hasher};

impl<P: Protocol, C: Checker<P>> Sim<P, C> {
    /// The model fingerprint of the state now (see the module docs): equal
    /// for equal model states, however they were reached.
    pub fn fingerprint(&self) -> Digest {
        let now = self.state.now.0;
        let left = |t: u64| t.saturating_sub(now);
        // Every pending event: queued (live) ones at their time; those held
        // for a paused node count as due now.
        let mut pending: Vec<(u64, &PendingEvent<P>)> = self
            .state
            .queue
            .iter()
            .filter_map(|e| self.state.slab[e.slot as usize].as_ref().filter(|s| s.key == e.key))
            .map(|s: &Slot<_, _, _, _>| (left(s.time.0), &s.event))
            .collect();
        for rt in &self.state.nodes {
            for &slot in &rt.held {
                if let Some(s) = &self.state.slab[slot as usize] {
                    pending.push((0, &s.event));
                }
            }
        }
        let mut messages: Vec<u128> = Vec::new();
        // Live timers, (node, id) → time left (sorted below; of two with
        // one key, the later found counts, as a map would keep it).
        let mut timers: Vec<((NodeId, TimerId), u64)> = Vec::new();
        // Writes each node is still to be told are on disk.
        let mut told: Vec<u64> = vec![0; self.state.nodes.len()];
        let mut client_events: Vec<(u32, u8, u64, u64, u32)> = Vec::new();
        let mut faults: Vec<(u32, u64)> = Vec::new();
        for (left, event) in pending {
            match event {
                Event::Deliver { from, to, payload, .. } => {
                    messages.push(super::hash::stable_hash(&(from, to, payload)).0);
                }
                Event::Arrival { spec } => client_events.push((*spec, 2, left, 0, 0)),
                Event::Timer { node, incarnation, id, .. } => {
                    if *incarnation == self.state.nodes[node.index()].incarnation {
                        timers.push(((*node, *id), left));
                    }
                }
                Event::Persisted { node, incarnation, .. } => {
                    if *incarnation == self.state.nodes[node.index()].incarnation {
                        told[node.index()] += 1;
                    }
                }
                // The disk events follow from the unflushed writes.
                Event::Disk { .. } => {}
                Event::ClientNext { slot } => client_events.push((*slot, 0, left, 0, 0)),
                Event::ClientTimeout { slot, op_id, attempt } => {
                    // Only the open attempt's timeout counts; others are void.
                    let open = self.state.clients[*slot as usize].pending.as_ref();
                    if open.is_some_and(|p| p.op_id == *op_id && p.attempt == *attempt) {
                        client_events.push((*slot, 1, left, *op_id, *attempt))
                    }
                }
                Event::Fault { index } => faults.push((*index, left)),
            }
        }
        timers.sort_by_key(|t| t.0);
        timers.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                *kept = *later;
            }
            same
        });
        messages.sort_unstable();
        client_events.sort_unstable();
        faults.sort_unstable();

        let mut h = StableHasher::new();
        for (i, rt) in self.state.nodes.iter().enumerate() {
            let node = NodeId(i as u32);
            rt.status.hash(&mut h);
            if rt.status == NodeStatus::Down {
                // A crashed node is its disk: nothing volatile survives.
                rt.disk.hash(&mut h);
                continue;
            }
            // The protocol's state and disk, hashed once per change.
            rt.model_hash.0.get_or_init(|| super::hash::stable_hash(&(&rt.state, &rt.disk)).0).hash(&mut h);
            rt.unflushed.len().hash(&mut h);
            for (_, write) in &rt.unflushed {
                write.hash(&mut h);
            }
            (rt.io.clock.offset_us(self.state.now), rt.io.clock.drift_ppm).hash(&mut h);
            rt.timers.len().hash(&mut h);
            for (timer, id) in &rt.timers {
                let left = timers.binary_search_by_key(&(node, *id), |t| t.0).ok().map(|i| &timers[i].1);
                (timer, left).hash(&mut h);
            }
            rt.after_disk.len().hash(&mut h);
            for (gate, effect) in &rt.after_disk {
                gate.0.saturating_sub(rt.io.on_disk).hash(&mut h);
                hash_effect(effect, &mut h);
            }
            Some(&told[i]).filter(|&&n| n > 0).hash(&mut h);
            if self.cfg.capacity.is_some() {
                (rt.load.busy_until.0.saturating_sub(now), rt.load.queued.len()).hash(&mut h);
            }
        }
        messages.hash(&mut h);
        for (slot, c) in self.state.clients.iter().enumerate() {
            (c.spec, c.endpoint, c.believed_leader, c.session_token, &c.written, c.done).hash(&mut h);
            c.pending
                .as_ref()
                .map(|p| {
                    (p.op_id, &p.op, p.attempt, p.target, p.redirects, now.saturating_sub(p.invoked_at.0))
                })
                .hash(&mut h);
            let events = client_events.iter().filter(|e| e.0 as usize == slot);
            events
                .map(|&(_, kind, left, op, attempt)| (kind, left, op, attempt))
                .for_each(|e| e.hash(&mut h));
        }
        self.state.issued.hash(&mut h);
        self.state.network.hash_faults(&mut h);
        faults.hash(&mut h);
        Digest(h.finish128())
    }
}

/// An effect without its timer generation.
fn hash_effect<P: Protocol, H: Hasher>(effect: &Effect<P>, h: &mut H) {
    match effect {
        Effect::SetTimer { timer, after, .. } => (0u8, timer, after).hash(h),
        other => (1u8, other).hash(h),
    }
}
