//! The primary: it takes the clients' writes, ships its log, counts where
//! each entry is stored, and answers a client once its write is committed
//! under the mode. In the book's order: accept a write (`accept_write`,
//! `append`), replicate (`replicate_to`, `send_heartbeats`, `on_behind`),
//! count the acks (`on_ack`, `committed_index`), advance the commit index
//! and acknowledge (`advance_commit`, `acknowledge`); then compaction.
//!
//! When a write is *committed* is the replication mode:
//! - `async`: as soon as the primary's own disk has it — fast, but a
//!   primary crash loses what the replicas had not received yet;
//! - `semi-sync`: when it is on disk at the primary and at least one
//!   replica has acknowledged it;
//! - `sync`: when every replica has acknowledged it — nothing
//!   acknowledged can be lost, but one slow or dead replica stalls every
//!   write.

use super::*;

impl PrimaryReplica {
    /// A client write reaches the primary: append it, or recognise a retry.
    pub(super) fn accept_write(
        state: &mut State,
        ctx: Ctx,
        client: ClientRef,
        key: Key,
        value: Value,
        idempotency_key: u64,
    ) {
        let Role::Primary(lead) = &mut state.role else { return };
        let last = lead.client_table.get(&client.endpoint.0).copied();
        // Keys grow with each of a client's writes, and a client has one
        // write open at a time: a key older than its last one is a late
        // retry of a write the client has finished with (ok, or failed and
        // never to be applied). Applying it now would apply it twice, or
        // apply what the client was told did not happen.
        if let Some((last, _)) = last
            && idempotency_key < last
        {
            return;
        }
        if let Some((k, index)) = last
            && k == idempotency_key
            // Compacted entries are committed everywhere; others must still
            // be this write (not truncated and replaced).
            && (index <= state.log.base
                || state.log.get(index).is_some_and(|e| e.write.is_some_and(|w| w.value == value)))
        {
            // A retry of a write already in the log: answer when committed.
            if index <= state.commit {
                Self::acknowledge(state, ctx, client, index, value);
            } else {
                lead.waiting_writes.entry(index).or_default().push(client);
            }
            return;
        }
        let write = ClientWrite { key, value, client: client.endpoint.0, idempotency_key };
        let index = Self::append(state, ctx, Some(write));
        if let Some(lead) = state.leading() {
            lead.client_table.insert(client.endpoint.0, (idempotency_key, index));
            lead.waiting_writes.entry(index).or_default().push(client);
        }
        let ship_interval = ctx.params().ship_interval;
        if ship_interval == SimDuration::ZERO {
            Self::send_heartbeats(state, ctx);
        } else if !state.ship_scheduled {
            // Async with batching: ship later, together with what follows.
            state.ship_scheduled = true;
            ctx.set_timer(Timer::Ship, ship_interval);
        }
    }

    /// Appends an entry of this epoch (a write, or a no-op) to the log and
    /// starts writing it to disk; returns its index. The primary's own copy
    /// counts by the same rule as a replica's: an `Ack` (to itself), once
    /// it is on disk.
    pub(super) fn append(state: &mut State, ctx: Ctx, write: Option<ClientWrite>) -> u64 {
        let entry = Entry { epoch: state.epoch, index: state.last_index() + 1, write };
        state.log.push(entry);
        ctx.write(DiskWrite::Append(entry));
        ctx.observe(Observation::Appended { entry, from: ctx.me() });
        let epoch = state.epoch;
        ctx.once_durable(|ctx| ctx.loopback(Msg::Ack { epoch, match_index: entry.index }));
        entry.index
    }

    /// Sends every replica what it is missing (or a heartbeat).
    pub(super) fn send_heartbeats(state: &mut State, ctx: Ctx) {
        let (me, n) = (ctx.me(), ctx.cluster().len() as u32);
        for replica in (0..n).map(NodeId).filter(|&r| r != me) {
            Self::replicate_to(state, ctx, replica);
        }
    }

    /// Sends a replica everything from its `next_index` (at most a batch),
    /// or a heartbeat if it has everything.
    pub(super) fn replicate_to(state: &mut State, ctx: Ctx, replica: NodeId) {
        const BATCH: u64 = 64;
        let (last, base) = (state.last_index(), state.log.base);
        let Role::Primary(lead) = &mut state.role else { return };
        let Some(p) = lead.progress.get_mut(&replica) else {
            return;
        };
        // Every node has what was compacted, so nobody needs it resent.
        let from = p.next_index.clamp(base + 1, last + 1);
        let to = (from + BATCH - 1).min(last);
        if !p.probing {
            // Optimistic: assume these arrive; a `Behind` answer corrects it.
            p.next_index = to.max(from - 1) + 1;
        }
        let entries: Vec<Entry> = if from <= to { state.log.slice(from, to) } else { Vec::new() };
        let prev_index = from - 1;
        let prev_epoch =
            state.log.epoch_at(prev_index).expect("the entry before `from` is the base or in the log");
        let (epoch, commit, compacted) = (state.epoch, state.commit, state.log.base);
        ctx.send(
            replica,
            Msg::Replicate(Replicate { epoch, prev_index, prev_epoch, entries, commit, compacted }),
        );
    }

    /// A replica refused entries after `refused`. Only news moves the
    /// primary back: the refusal of what it sends now (while probing), or
    /// of entries the replica has not acknowledged (before). A stale or
    /// duplicated refusal is ignored — answering each one with a resend
    /// multiplied the messages of every refusal the network duplicated,
    /// and with two unfenced primaries pulling a replica back and forth
    /// the resends never ended. Anything still missing goes out again
    /// with the next heartbeat.
    pub(super) fn on_behind(state: &mut State, ctx: Ctx, replica: NodeId, refused: u64, have: u64) {
        let Some(p) = state.leading().and_then(|lead| lead.progress.get_mut(&replica)) else {
            return;
        };
        let news = if p.probing { refused + 1 == p.next_index } else { refused >= p.match_index };
        if !news {
            return;
        }
        debug_assert!(have < refused.max(1), "a replica may match only below what it refused");
        p.probing = true;
        p.next_index = have + 1;
        Self::replicate_to(state, ctx, replica);
    }

    /// `from` has this primary's log up to `match_index` on its disk: a
    /// replica, or the primary itself (its own `Ack`, by loopback).
    pub(super) fn on_ack(state: &mut State, ctx: Ctx, from: NodeId, match_index: u64) {
        let me = ctx.me();
        let Some(lead) = state.leading() else { return };
        if from == me {
            lead.stored = lead.stored.max(match_index);
        } else if let Some(p) = lead.progress.get_mut(&from) {
            p.match_index = p.match_index.max(match_index);
            if p.probing && match_index + 1 >= p.next_index {
                p.probing = false; // found where the logs agree
            }
            p.next_index = p.next_index.max(match_index + 1);
        }
        Self::advance_commit(state, ctx);
    }

    /// The highest index that counts as committed under the mode.
    ///
    /// Only an entry of the primary's *own* epoch is committed by counting
    /// where it is stored; the entries before it commit with it. An entry
    /// of an older epoch may be on enough nodes and still be replaced: a
    /// node whose last entry is of a newer epoch (appended by a primary in
    /// between, and never replicated) can win an election with the votes of
    /// nodes that hold the old entry, and overwrite it. (Raft, §5.4.2 and
    /// its Figure 8.)
    pub(super) fn committed_index(state: &State, lead: &Leading, ctx: Ctx) -> u64 {
        let own = lead.stored;
        let mut acks: Vec<u64> = lead.progress.values().map(|p| p.match_index.min(own)).collect();
        acks.sort_unstable_by(|a, b| b.cmp(a));
        let stored = match ctx.params().mode {
            Mode::Async => own,
            Mode::SemiSync => acks.first().copied().unwrap_or(own),
            Mode::Sync => acks.last().copied().unwrap_or(own),
        };
        if state.log.epoch_at(stored) == Some(state.epoch) { stored } else { state.commit }
    }

    /// Advances the commit index and answers the clients whose writes are
    /// now committed.
    pub(super) fn advance_commit(state: &mut State, ctx: Ctx) {
        let Role::Primary(lead) = &state.role else { return };
        let new = Self::committed_index(state, lead, ctx).max(state.commit);
        if new == state.commit {
            return;
        }
        state.commit = new;
        state.apply_up_to(new);
        Self::serve_waiting_reads(state, ctx);
        let Some(lead) = state.leading() else { return };
        let still_waiting = lead.waiting_writes.split_off(&(new + 1));
        let done = std::mem::replace(&mut lead.waiting_writes, still_waiting);
        for (index, clients) in done {
            let e = *state.log.get(index).expect("a write waiting for commit is not compacted");
            let w = e.write.expect("clients wait only for writes, not no-ops");
            for c in clients {
                Self::acknowledge(state, ctx, c, index, w.value);
            }
        }
        Self::maybe_compact(state, ctx);
    }

    /// Tells a client its write (at `index`) is committed, and the
    /// checkers that it was acknowledged.
    pub(super) fn acknowledge(state: &State, ctx: Ctx, client: ClientRef, index: u64, value: Value) {
        ctx.observe(Observation::Acknowledged { epoch: state.epoch, index, value });
        ctx.reply(client, ClientReply::ok(None, state.session_token(index)));
    }

    // ----- log compaction -------------------------------------------------

    /// The primary compacts, `compact_after` entries at a time, what every
    /// replica has acknowledged and is committed; replicas follow the
    /// `compacted` mark it sends.
    fn maybe_compact(state: &mut State, ctx: Ctx) {
        let every = ctx.params().compact_after;
        let Role::Primary(lead) = &state.role else { return };
        if every == 0 {
            return;
        }
        let everywhere = lead.progress.values().map(|p| p.match_index).min().unwrap_or(state.commit);
        let safe = everywhere.min(state.commit).min(state.applied);
        if safe >= state.log.base + every {
            Self::compact(state, ctx, safe);
        }
    }

    /// Folds the log up to `upto` into a snapshot, in memory and on disk;
    /// once it is on disk, says so (the checkers forget what no node can
    /// change any more).
    pub(super) fn compact(state: &mut State, ctx: Ctx, upto: u64) {
        state.log.compact(upto);
        let upto = state.log.base;
        ctx.write(DiskWrite::Compact { upto });
        ctx.once_durable(|ctx| ctx.observe(Observation::Compacted { upto }));
    }
}
