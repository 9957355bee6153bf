//! *Advanced.* When the decision does not come: a participant in doubt,
//! blocked, and what it may do about it (`termination`).
//!
//! 5. *Uncertainty.* Between its yes vote and the decision a participant is
//!    **in doubt**: it cannot commit (someone may have voted no) and cannot
//!    abort (the coordinator may have decided commit and told the others).
//!    If the decision has not come `decision_timeout` after its vote, it is
//!    **blocked**: it asks the coordinator (`Ask`), again every
//!    `decision_timeout`, holding its locks all the while — other
//!    transactions that need those accounts are refused (vote no, locked).
//! 6. *Termination* (`termination`), what a blocked participant does:
//!    - `"wait"` (default): asks the coordinator; only it can end the doubt.
//!      While the coordinator is down, its in-doubt participants stay
//!      blocked.
//!    - `"cooperative"`: the cooperative termination protocol. It also asks
//!      the other participants. One that knows the outcome tells it
//!      (`Outcome`); one that has *not voted* aborts the transaction on its
//!      own — it may, as in step 2 — remembers that (a late prepare gets a
//!      no) and tells abort; one that is itself in doubt cannot help. When
//!      every participant voted yes and none heard the decision, they stay
//!      blocked: cooperative termination shortens blocking, it cannot end it.
//!    - `"heuristic-abort"` / `"heuristic-commit"`: what real databases call
//!      a *heuristic decision* (XA's "heuristic hazard"): the blocked
//!      participant aborts (commits) on its own and releases its locks.
//!      Unsafe: when the coordinator decided the other way, the transaction
//!      is half committed and money vanishes (or appears).
//!
use super::*;

impl TwoPhaseCommit {
    /// The decision is late: blocked.
    pub(super) fn on_decision_timeout(state: &mut Participant, ctx: Ctx, tx: Tx) {
        let Some(p) = state.prepared.get_mut(&tx) else { return };
        if !p.blocked {
            p.blocked = true;
            ctx.observe(Observation::Blocked { tx });
        }
        match ctx.params().termination {
            Termination::Wait | Termination::Cooperative => {
                Self::ask(state, ctx, tx);
                Self::await_decision(state, ctx, tx);
            }
            Termination::HeuristicAbort => {
                Self::decide_here(state, ctx, tx, Decision::Abort, Learned::Heuristic)
            }
            Termination::HeuristicCommit => {
                Self::decide_here(state, ctx, tx, Decision::Commit, Learned::Heuristic)
            }
        }
    }

    /// Asks the coordinator — and, with cooperative termination, the other
    /// participants — what was decided.
    pub(super) fn ask(state: &Participant, ctx: Ctx, tx: Tx) {
        let p = &state.prepared[&tx];
        let work = p.work;
        let params = ctx.params();
        ctx.send(params.coordinator, Msg::Ask { tx, work });
        if params.termination == Termination::Cooperative {
            let me = ctx.me();
            for peer in params.participants_of(work).filter(|&n| n != me) {
                ctx.send(peer, Msg::Ask { tx, work });
            }
        }
    }

    /// Cooperative termination: a blocked peer asks this participant.
    pub(super) fn on_ask_peer(state: &mut Participant, ctx: Ctx, from: NodeId, tx: Tx, work: Work) {
        if state.prepared.contains_key(&tx) {
            // In doubt itself: cannot help.
            return ctx.note(|| format!("in doubt about tx {tx} too: cannot help"));
        }
        let decision = match state.outcomes.get(&tx).copied() {
            Some(d) => d,
            None if state.retention.too_old(ctx, work.invoked_at_us) => {
                // Perhaps decided here and forgotten: a stale question (a
                // peer in doubt now still has the coordinator to ask).
                return Self::too_old_here(ctx, tx, "a peer's question is ignored");
            }
            None => {
                // Never voted: abort on its own, and remember it.
                let share = ctx.params().share_of(ctx.me(), work);
                Self::log_outcome(state, ctx, tx, Decision::Abort, share, work.invoked_at_us);
                Self::publish_outcome(ctx, tx, Decision::Abort, Learned::Unilateral, share);
                Decision::Abort
            }
        };
        ctx.once_durable(|ctx| ctx.send(from, Msg::Outcome { tx, decision }));
    }

    pub(super) fn on_outcome(state: &mut Participant, ctx: Ctx, tx: Tx, decision: Decision) {
        if state.prepared.contains_key(&tx) {
            Self::decide_here(state, ctx, tx, decision, Learned::Peer);
        }
    }
}
