//! A replica: it copies the primary's log in order, by the log-matching
//! rule, acknowledges what is on its disk, and serves reads (as the
//! primary does) from what it has applied.
//!
//! With `reads = "any"` (the default) every node answers a read from what
//! it has applied. A replica applies entries as they arrive, so it lags:
//! its reads can be stale, and can show a write that is later lost. With
//! `reads = "primary"` a replica redirects a read to the primary, as it
//! does a write, and reads see no replication lag; but a primary that has
//! been deposed without hearing of it (cut off, or paused) still answers,
//! so outside `sync` mode a read can still be stale during a failover.
//! (Linearizable reads would need the primary to confirm it still leads,
//! with a round of heartbeats or a lease: Raft, §8. Not done here.)
//! A client with `read_your_writes = "session"` carries a **session
//! token**, the newest log position `(epoch, index)` it has seen; any node,
//! the primary too, waits until it has applied that far before answering.

use super::*;

impl PrimaryReplica {
    /// `Replicate` from a primary: fencing, the log-matching rule, then
    /// append, and acknowledge once on disk.
    pub(super) fn on_replicate(state: &mut State, ctx: Ctx, from: NodeId, r: Replicate) {
        let Replicate { epoch, prev_index, prev_epoch, entries, commit, compacted } = r;
        let fencing = ctx.params().fencing;
        if fencing && epoch < state.epoch {
            // Fencing: an old primary is told about the newer epoch.
            ctx.send(from, Msg::Fenced { epoch: state.epoch });
            return;
        }
        match state.role {
            Role::Primary(_) if fencing && epoch > state.epoch => {
                Self::step_down(state, ctx, epoch, Some(from))
            }
            // A primary takes no entries from another primary. Without
            // fencing nobody tells it to stop: split brain.
            Role::Primary(_) => return,
            Role::Candidate { .. } if epoch >= state.epoch => Self::step_down(state, ctx, epoch, Some(from)),
            _ => {}
        }
        if epoch > state.epoch {
            Self::adopt_epoch(state, ctx, epoch, None);
        }
        state.primary = Some(from);
        state.last_heard_us = ctx.local_time_us();
        Self::arm_silence_timer(state, ctx);

        // Log matching: accept entries only after the entry they follow.
        // (An entry this node compacted is one every node acknowledged: it
        // matches.)
        let matches = match state.log.epoch_at(prev_index) {
            Some(e) => e == prev_epoch,
            None => prev_index < state.log.base,
        };
        if !matches {
            let have = Self::may_match_up_to(state, prev_index);
            ctx.send(from, Msg::Behind { epoch, refused: prev_index, have });
            return;
        }
        let match_index = prev_index + entries.len() as u64;
        let base = state.log.base;
        for e in entries.into_iter().filter(|e| e.index > base) {
            match state.log.get(e.index) {
                Some(mine) if mine.epoch == e.epoch => continue,
                Some(_) => Self::truncate(state, ctx, e.index - 1),
                None => {}
            }
            state.log.push(e);
            ctx.write(DiskWrite::Append(e));
            ctx.observe(Observation::Appended { entry: e, from });
        }
        // Acknowledge only what is on disk.
        ctx.once_durable(|ctx| ctx.send(from, Msg::Ack { epoch, match_index }));
        state.commit = state.commit.max(commit.min(match_index));
        state.apply_up_to(state.last_index());
        Self::serve_waiting_reads(state, ctx);
        if compacted > state.log.base {
            Self::compact(state, ctx, compacted.min(state.applied));
        }
    }

    /// Where this replica's log may agree with the primary's, given that it
    /// refused the entries after `refused`. A replica that lacks that entry
    /// may match up to its end. One whose entry there is of another epoch
    /// names the entry before the first it holds *of that epoch*: the whole
    /// epoch is suspect, so the primary skips it in one round trip instead
    /// of stepping back one entry per round trip (Raft, §5.3) — hundreds
    /// of a deposed primary's entries took longer to walk back than a
    /// healed network gave.
    fn may_match_up_to(state: &State, refused: u64) -> u64 {
        let below = refused.saturating_sub(1);
        let Some(epoch) = state.log.get(refused).map(|e| e.epoch) else {
            return state.last_index().min(below);
        };
        let first_of_epoch = state.log.entries.iter().find(|e| e.epoch == epoch).map_or(refused, |e| e.index);
        first_of_epoch.saturating_sub(1).max(state.log.base).min(below)
    }

    /// Drops entries after `keep`: they came from a primary whose log lost.
    /// (An `Ack` already waiting for the disk still tells the truth: it
    /// leaves once the entries it names are on disk, before this cut.)
    fn truncate(state: &mut State, ctx: Ctx, keep: u64) {
        ctx.note(|| format!("truncates its log to {keep}: entries after it disagree with the primary's"));
        state.log.truncate(keep);
        ctx.write(DiskWrite::Truncate { keep });
        ctx.observe(Observation::Truncated { keep });
        if state.applied > keep {
            state.rebuild_store(keep);
        }
    }

    /// A client's read, at whichever node the client asked.
    pub(super) fn read(state: &mut State, ctx: Ctx, client: ClientRef, key: Key, session: u64) {
        let primary = state.is_primary();
        if !primary && ctx.params().reads == Reads::Primary {
            // Primary-only reads: a replica sends the client on.
            Self::redirect(state, ctx, client)
        } else if session > state.session_token(state.applied) {
            // Read-your-writes by session token: wait until caught up.
            // A primary waits too: one deposed without knowing it has
            // not seen the client's newer writes, and never will.
            state.waiting_reads.push((client, key, session));
        } else {
            // The primary answers from what it has applied: committed
            // entries, plus — just after a failover — the entries it
            // inherited and has not yet seen acknowledged. A replica
            // answers from what it has applied, which lags.
            let token = state.session_token(if primary { state.commit } else { state.applied });
            ctx.reply(client, ClientReply::ok(state.store.get(&key).map(|v| v.0), token))
        }
    }

    /// Answers the session reads this node has now caught up with.
    pub(super) fn serve_waiting_reads(state: &mut State, ctx: Ctx) {
        let applied = state.session_token(state.applied);
        let (ready, waiting): (Vec<_>, Vec<_>) =
            state.waiting_reads.drain(..).partition(|(_, _, token)| *token <= applied);
        state.waiting_reads = waiting;
        for (client, key, _) in ready {
            ctx.reply(client, ClientReply::ok(state.store.get(&key).map(|v| v.0), applied));
        }
    }

    /// Sends a client to the primary this node knows of (if any).
    pub(super) fn redirect(state: &State, ctx: Ctx, client: ClientRef) {
        ctx.reply(client, ClientReply::redirect(state.primary.filter(|&p| p != ctx.me())))
    }
}
