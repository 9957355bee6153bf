//! Failover: a replica that hears nothing from the primary stands for
//! election in a new **epoch** (Raft's *term*), and a majority's votes
//! make it primary. In the book's order: the primary falls silent
//! (`arm_silence_timer`, `on_primary_silent`), a replica stands
//! (`start_election`), nodes vote (`on_request_vote`), the votes are
//! counted (`on_vote`), the winner takes over (`become_primary`,
//! `append_no_op`), and a primary that hears of a newer epoch steps down
//! (`step_down`). A timeline `promote` takes over without a vote
//! (`promote`, `take_over`).
//!
//! A node votes for at most one candidate per epoch, and only for one
//! whose log is at least as up to date as its own (compared by last epoch,
//! then last index): so the most up-to-date replica a majority can vouch
//! for is promoted. The epoch and the vote are on disk before the vote
//! leaves, so a restarted node cannot vote twice in one epoch. Every
//! message carries the sender's epoch: with `fencing = true` an old
//! primary that hears of a newer one steps down; with `fencing = false`
//! it keeps acting as primary — **split brain**.

use super::*;

impl PrimaryReplica {
    /// Restarts the countdown to suspecting the primary: `failover_timeout`
    /// plus a random jitter from now (so two replicas rarely stand at
    /// once). One timer stays pending; when it fires early (the deadline
    /// moved on), it is set again for the rest.
    pub(super) fn arm_silence_timer(state: &mut State, ctx: Ctx) {
        if ctx.params().failover == Failover::Manual {
            return;
        }
        let base = ctx.params().failover_timeout.as_micros();
        let jitter = ctx.choose(base / 2 + 1);
        state.silence_deadline_us = ctx.local_time_us().saturating_add((base + jitter) as i64);
        if !state.silence_timer {
            state.silence_timer = true;
            ctx.set_timer(Timer::PrimarySilent, SimDuration(base + jitter));
        }
    }

    /// The silence timer fired: stand for election, unless the primary was
    /// heard from meanwhile (or this node is the primary).
    pub(super) fn on_primary_silent(state: &mut State, ctx: Ctx) {
        state.silence_timer = false;
        let left = state.silence_deadline_us.saturating_sub(ctx.local_time_us());
        if state.is_primary() {
            // A primary suspects nobody.
        } else if left > 0 {
            // The deadline moved on (the primary was heard from): wait for
            // the rest. A timer of 1µs or more always lets the clock move
            // on (`Clock::real_duration` rounds up), so this cannot re-arm
            // at one instant forever.
            state.silence_timer = true;
            ctx.set_timer(Timer::PrimarySilent, SimDuration(left as u64));
        } else {
            Self::start_election(state, ctx);
        }
    }

    /// Becomes a candidate in the next epoch and votes for itself; once
    /// that vote is on disk, asks the others and counts its own vote as it
    /// counts theirs.
    fn start_election(state: &mut State, ctx: Ctx) {
        state.role = Role::Candidate { votes: BTreeSet::new() };
        state.primary = None;
        let epoch = state.epoch + 1;
        Self::adopt_epoch(state, ctx, epoch, Some(ctx.me()));
        ctx.note(|| format!("primary silent: stands for election in epoch {epoch}"));
        Self::arm_silence_timer(state, ctx);
        let (last_epoch, last_index) = (state.last_epoch(), state.last_index());
        ctx.once_durable(|ctx| {
            ctx.broadcast(Msg::RequestVote { epoch, last_epoch, last_index });
            ctx.loopback(Msg::Vote { epoch, granted: true });
        });
    }

    /// A candidate asks for this node's vote in `epoch`.
    pub(super) fn on_request_vote(
        state: &mut State,
        ctx: Ctx,
        candidate: NodeId,
        epoch: u64,
        last_epoch: u64,
        last_index: u64,
    ) {
        let heard_recently = state.role == Role::Replica
            && ctx.local_time_us().saturating_sub(state.last_heard_us)
                < ctx.params().failover_timeout.as_micros() as i64;
        if heard_recently {
            // Our primary is alive as far as we can tell: no election.
            ctx.send(candidate, Msg::Vote { epoch: state.epoch, granted: false });
            return;
        }
        if epoch > state.epoch {
            if state.is_primary() && !ctx.params().fencing {
                // An unfenced primary does not hear of newer epochs.
                return;
            }
            if state.role != Role::Replica {
                Self::step_down(state, ctx, epoch, None);
            }
            Self::adopt_epoch(state, ctx, epoch, None);
        }
        let up_to_date = exercises::candidate_is_up_to_date(
            ctx.params(),
            (last_epoch, last_index),
            (state.last_epoch(), state.last_index()),
        );
        let granted = epoch == state.epoch && state.voted_for.is_none_or(|v| v == candidate) && up_to_date;
        if granted {
            Self::adopt_epoch(state, ctx, epoch, Some(candidate));
            Self::arm_silence_timer(state, ctx);
        }
        let epoch = state.epoch;
        ctx.once_durable(|ctx| ctx.send(candidate, Msg::Vote { epoch, granted }));
    }

    /// A vote granted to this candidate in its epoch (its own included).
    /// More than half of *all* nodes makes it primary: any two majorities
    /// share a node, and a node votes once per epoch.
    pub(super) fn on_vote(state: &mut State, ctx: Ctx, voter: NodeId) {
        let Role::Candidate { votes } = &mut state.role else { return };
        votes.insert(voter);
        if votes.len() > ctx.cluster().len() / 2 {
            Self::become_primary(state, ctx);
        }
    }

    /// Takes over as primary in `state.epoch`.
    pub(super) fn become_primary(state: &mut State, ctx: Ctx) {
        let next = state.last_index() + 1;
        let progress =
            ctx.peers().map(|p| (p, Progress { match_index: 0, next_index: next, probing: false })).collect();
        let mut client_table = state.log.sessions.clone();
        for e in state.log.entries.iter() {
            if let Some(w) = e.write {
                client_table.insert(w.client, (w.idempotency_key, e.index));
            }
        }
        // Its own disk counts from its own acks, as a replica's does.
        state.role =
            Role::Primary(Leading { stored: 0, progress, waiting_writes: BTreeMap::new(), client_table });
        state.primary = Some(ctx.me());
        if std::mem::take(&mut state.silence_timer) {
            ctx.cancel_timer(&Timer::PrimarySilent);
        }
        ctx.observe(Observation::BecamePrimary { epoch: state.epoch });
        ctx.note(|| format!("becomes primary in epoch {}", state.epoch));
        if state.epoch > 0 {
            // (Epoch 0's primary starts the log: nothing came before it.)
            Self::append_no_op(state, ctx);
        }
        Self::send_heartbeats(state, ctx);
        ctx.set_timer(Timer::Heartbeat, ctx.params().heartbeat);
    }

    /// A new primary starts its epoch with a no-op entry, for two reasons.
    /// Entries it inherited may not be committed, and a primary commits
    /// only entries of its own epoch (see `committed_index`): the no-op
    /// commits them with it. And a replica may hold entries past the end
    /// of its log, from an old primary that shipped them to that replica
    /// alone: they match nothing the new primary sends until an entry of
    /// the new epoch lands at their index and truncates them. Without the
    /// no-op, once clients stopped writing they stayed for ever.
    fn append_no_op(state: &mut State, ctx: Ctx) {
        Self::append(state, ctx, None);
    }

    /// Hears of a newer epoch (or, as a candidate, of this epoch's
    /// primary): follows `primary`, if known.
    pub(super) fn step_down(state: &mut State, ctx: Ctx, epoch: u64, primary: Option<NodeId>) {
        if state.is_primary() {
            ctx.observe(Observation::SteppedDown { epoch: state.epoch });
            ctx.note(|| format!("steps down: epoch {epoch} is newer than {}", state.epoch));
        }
        // Writes waiting here will never be acknowledged by this node; the
        // clients time out and retry at the new primary with the same
        // idempotency key.
        state.role = Role::Replica;
        state.primary = primary;
        if epoch > state.epoch {
            Self::adopt_epoch(state, ctx, epoch, None);
        }
        Self::arm_silence_timer(state, ctx);
    }

    /// Records a (newer) epoch, and the vote cast in it, durably. What a
    /// node says from it — a vote, a request for votes — leaves only once
    /// it is on disk (`once_durable`): a vote that a crash could forget
    /// would let this node vote twice in one epoch, and two primaries could
    /// share it.
    pub(super) fn adopt_epoch(state: &mut State, ctx: Ctx, epoch: u64, voted_for: Option<NodeId>) {
        if epoch != state.epoch || voted_for != state.voted_for {
            state.epoch = epoch;
            state.voted_for = voted_for;
            ctx.write(DiskWrite::Epoch { epoch, voted_for });
        }
    }

    /// A timeline `promote`: take over in the next epoch without a vote,
    /// once that epoch is on disk.
    pub(super) fn promote(state: &mut State, ctx: Ctx) {
        if state.is_primary() {
            return;
        }
        let epoch = state.epoch + 1;
        Self::adopt_epoch(state, ctx, epoch, Some(ctx.me()));
        ctx.note(|| format!("promoted by hand in epoch {epoch}"));
        ctx.once_durable(|ctx| ctx.loopback(Msg::TakeOver { epoch }));
    }

    /// The hand promotion's epoch is on disk (and nothing newer came).
    pub(super) fn take_over(state: &mut State, ctx: Ctx) {
        if !state.is_primary() {
            Self::become_primary(state, ctx);
        }
    }
}
