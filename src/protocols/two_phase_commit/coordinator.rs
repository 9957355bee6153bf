//! The coordinator: phase one (prepare, collect the votes), the decision,
//! and phase two (send it until every participant acknowledged it).
//!
//! - Step 1, *Prepare* (phase one). The coordinator sends `Prepare`, with the
//!   transaction, to the participants it has a leg on (a transfer's two
//!   accounts, an order's payment and inventory), and waits up
//!   to `prepare_timeout` for their votes.
//! - Step 3, *Decide.* All yes: commit. Any no, or a vote still missing at
//!   `prepare_timeout`: abort. The coordinator writes the decision to its
//!   log and only once it is on disk sends `Commit` or `Abort` (phase two)
//!   and answers the client (commit: ok; abort: fail, "aborted"). That is
//!   two round trips: prepare/vote, then decision/ack.
//!
//! Then it re-sends the decision every `decision_timeout` to participants
//! that have not acknowledged it; once all have, it logs `End`.

use super::*;

impl TwoPhaseCommit {
    /// A client's transaction (or its retry) arrives at the coordinator.
    pub(super) fn submit(state: &mut Coordinator, ctx: Ctx, client: ClientRef, tx: Tx, work: Work) {
        if let Some(&decision) = state.decisions.get(&tx) {
            // Decided: answer from the log (once the decision is on disk).
            return ctx.once_durable(|ctx| ctx.reply(client, Self::client_reply(decision)));
        }
        if let Some(r) = state.running.get_mut(&tx) {
            r.client = Some(client); // still voting: answer this attempt
            return;
        }
        if state.retention.too_old(ctx, work.invoked_at_us) {
            // It may have run, ended and been forgotten: running it again
            // could move the money twice. Nobody can tell now.
            Self::too_old_here(ctx, tx, "the client is told unknown");
            return ctx.reply(client, ClientReply::unknown("too old: it may have run and been forgotten"));
        }
        Self::prepare(state, ctx, tx, work, Some(client));
    }

    /// Phase one: prepare at every participant the transaction touches.
    pub(super) fn prepare(state: &mut Coordinator, ctx: Ctx, tx: Tx, work: Work, client: Option<ClientRef>) {
        let participants: Vec<NodeId> = ctx.params().participants_of(work).collect();
        for &p in &participants {
            ctx.send(p, Msg::Prepare { tx, work });
        }
        ctx.observe(Observation::PrepareRound { tx, work });
        ctx.set_timer(Timer::PrepareTimeout { tx }, ctx.params().prepare_timeout);
        let phase = Phase::Voting { yes: BTreeSet::new() };
        state.running.insert(tx, Running { work, participants, phase, client });
    }

    pub(super) fn on_vote(state: &mut Coordinator, ctx: Ctx, from: NodeId, tx: Tx, vote: Vote) {
        // Votes for a transaction already decided (or unknown after a crash:
        // presumed aborted) change nothing.
        let Some(r) = state.running.get_mut(&tx) else { return };
        let Phase::Voting { yes } = &mut r.phase else { return };
        if !r.participants.contains(&from) {
            return;
        }
        let decision = match vote {
            Vote::No(_) => Decision::Abort,
            Vote::Yes => {
                yes.insert(from);
                if yes.len() < r.participants.len() {
                    return; // still waiting
                }
                Decision::Commit
            }
        };
        Self::decide(state, ctx, tx, decision);
    }

    pub(super) fn on_prepare_timeout(state: &mut Coordinator, ctx: Ctx, tx: Tx) {
        if state.running.get(&tx).is_some_and(|r| matches!(r.phase, Phase::Voting { .. })) {
            let decision = exercises::on_missing_votes(ctx.params());
            Self::decide(state, ctx, tx, decision);
        }
    }

    /// The decision: log it; once it is durable, answer the client and
    /// send it to every participant (phase two).
    pub(super) fn decide(state: &mut Coordinator, ctx: Ctx, tx: Tx, decision: Decision) {
        let r = state.running.get_mut(&tx).expect("only a running transaction is decided");
        assert!(
            matches!(r.phase, Phase::Voting { .. }),
            "tx {tx}: a transaction is decided once (it was {:?})",
            r.phase
        );
        assert!(!state.decisions.contains_key(&tx), "tx {tx}: the log already holds a decision");
        ctx.cancel_timer(&Timer::PrepareTimeout { tx });
        if exercises::answer_before_logging(ctx.params())
            && let Some(client) = r.client.take()
        {
            ctx.reply(client, Self::client_reply(decision));
        }
        state.decisions.insert(tx, decision);
        r.phase = Phase::Finishing { decision, acked: BTreeSet::new() };
        let work = r.work;
        Self::log(ctx, DiskWrite::Decision { tx, decision, work });
        ctx.once_durable(|ctx| {
            ctx.observe(Observation::DecisionLogged { tx, decision, work });
            if let Some(client) = r.client.take() {
                ctx.reply(client, Self::client_reply(decision));
            }
            Self::send_decision(r, ctx, tx, false);
        });
    }

    /// Sends the decision to the participants that have not acknowledged
    /// it, and arms the re-send timer.
    pub(super) fn send_decision(r: &mut Running, ctx: Ctx, tx: Tx, resend: bool) {
        let Phase::Finishing { decision, acked } = &r.phase else { return };
        for &p in r.participants.iter().filter(|p| !acked.contains(p)) {
            ctx.send(p, Msg::decision(tx, *decision, r.work.invoked_at_us));
        }
        ctx.observe(Observation::DecisionRound { tx, resend });
        ctx.set_timer(Timer::Resend { tx }, ctx.params().decision_timeout);
    }

    /// No ack from every participant within `decision_timeout`: send the
    /// decision again to those missing.
    pub(super) fn resend_decision(state: &mut Coordinator, ctx: Ctx, tx: Tx) {
        if let Some(r) = state.running.get_mut(&tx) {
            Self::send_decision(r, ctx, tx, true)
        }
    }

    pub(super) fn on_ack(state: &mut Coordinator, ctx: Ctx, from: NodeId, tx: Tx) {
        let Some(r) = state.running.get_mut(&tx) else { return };
        let Phase::Finishing { acked, .. } = &mut r.phase else { return };
        if !r.participants.contains(&from) {
            return;
        }
        acked.insert(from);
        if acked.len() == r.participants.len() {
            ctx.cancel_timer(&Timer::Resend { tx });
            let invoked_at_us = r.work.invoked_at_us;
            state.running.remove(&tx);
            Self::log(ctx, DiskWrite::End { tx });
            ctx.observe(Observation::Ended { tx });
            state.retention.finished(ctx, tx, invoked_at_us);
        }
    }

    /// A blocked participant asks what was decided.
    pub(super) fn on_ask_coordinator(state: &mut Coordinator, ctx: Ctx, from: NodeId, tx: Tx, work: Work) {
        let invoked_at_us = work.invoked_at_us;
        match state.running.get(&tx).map(|r| &r.phase) {
            // Not decided: the decision goes to every participant once it
            // is logged.
            Some(Phase::Voting { .. }) => {}
            // Decided: answered once the decision is on disk.
            Some(&Phase::Finishing { decision, .. }) => {
                ctx.once_durable(|ctx| ctx.send(from, Msg::decision(tx, decision, invoked_at_us)))
            }
            None => match state.decisions.get(&tx).copied() {
                // Finished: every participant acknowledged — this is an old
                // question, but the answer is on disk.
                Some(decision) => ctx.send(from, Msg::decision(tx, decision, invoked_at_us)),
                // No record, and older than retention: either this
                // coordinator crashed before deciding — then nobody
                // committed — or it finished and forgot the transaction —
                // then every participant had decided, and this question is
                // a stale copy its asker ignores. Abort is the answer
                // either way; it is not logged, which in the second case
                // would contradict the forgotten decision.
                None if state.retention.too_old(ctx, invoked_at_us) => {
                    Self::too_old_here(ctx, tx, "answered abort, not logged");
                    ctx.send(from, Msg::Abort { tx, invoked_at_us });
                }
                // No record: this coordinator crashed before deciding.
                // Presumed abort — logged first, so that a client's retry
                // hears the same.
                None => Self::presume_abort(state, ctx, tx, work),
            },
        }
    }

    pub(super) fn presume_abort(state: &mut Coordinator, ctx: Ctx, tx: Tx, work: Work) {
        let participants = ctx.params().participants_of(work).collect();
        let phase = Phase::Voting { yes: BTreeSet::new() };
        state.running.insert(tx, Running { work, participants, phase, client: None });
        Self::decide(state, ctx, tx, Decision::Abort);
    }

    pub(super) fn client_reply(decision: Decision) -> ClientReply<crate::nodes::Done> {
        match decision {
            Decision::Commit => ClientReply::answer(crate::nodes::Done, 0),
            Decision::Abort => ClientReply::fail("aborted"),
        }
    }
}
