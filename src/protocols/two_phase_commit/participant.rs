//! A participant: it votes on a prepare, and completes the transaction
//! when the decision comes. Its share of the transaction — its *leg* — is
//! what it debits and credits among its holdings: accounts (transfers),
//! or, for orders, customers' credit (the payment participant) or items'
//! stock (the inventory participant).
//!
//! - Step 2, *Vote.* A participant locks the holdings of its leg —
//!   no-wait locking: one already locked by another prepared transaction
//!   means vote no (`Locked`) — and checks the debit against what is held:
//!   more than the balance or the customer's credit means vote no
//!   (`InsufficientFunds`), more than the item's stock vote no
//!   (`OutOfStock`). It also refuses at random with probability
//!   `vote_no_rate`. To vote **yes** it first writes `Prepared` (the
//!   transaction and its leg) to its disk and only then sends `Vote yes`:
//!   it has promised to commit if told to, and holds its locks until it
//!   learns the outcome. To vote **no** it aborts at once — it may:
//!   without its yes nobody can commit — logs that, and sends `Vote no`.
//! - Step 4, *Complete.* A participant applies its leg on commit (or drops
//!   it on abort), logs the outcome, releases its locks and sends `Ack`.
//!   The coordinator re-sends the decision every `decision_timeout` to
//!   participants that have not acknowledged it; once all have, it logs
//!   `End`.

use super::*;

impl TwoPhaseCommit {
    /// Phase one at a participant: vote.
    pub(super) fn vote(state: &mut Participant, ctx: Ctx, tx: Tx, work: Work) {
        let coordinator = ctx.params().coordinator;
        if state.prepared.contains_key(&tx) {
            // A duplicate, or a new round after the coordinator restarted:
            // the same vote again.
            return ctx.once_durable(|ctx| ctx.send(coordinator, Msg::Vote { tx, vote: Vote::Yes }));
        }
        if let Some(&outcome) = state.outcomes.get(&tx) {
            let vote = match outcome {
                Decision::Commit => Vote::Yes,
                Decision::Abort => Vote::No(NoReason::AlreadyAborted),
            };
            return ctx.once_durable(|ctx| ctx.send(coordinator, Msg::Vote { tx, vote }));
        }
        if state.retention.too_old(ctx, work.invoked_at_us) {
            // Perhaps decided here and forgotten: a stale copy. Voting
            // afresh could lock (and, for a commit forgotten, apply) again.
            // Silence: the coordinator, if this is a live round, aborts.
            return Self::too_old_here(ctx, tx, "its prepare is ignored");
        }
        let share = ctx.params().share_of(ctx.me(), work);
        let vote = Self::choose_vote(state, ctx, tx, share);
        match vote {
            Vote::Yes => {
                for account in share.accounts() {
                    state.locks.insert(account, tx);
                }
                let p = Prepared { work, share, blocked: false };
                state.prepared.insert(tx, p);
                Self::log(ctx, DiskWrite::Prepared { tx, work, share });
                ctx.once_durable(|ctx| {
                    ctx.observe(Observation::Voted { tx, vote });
                    ctx.send(coordinator, Msg::Vote { tx, vote });
                    Self::await_decision(state, ctx, tx);
                });
            }
            Vote::No(_) => {
                // Abort at once: without this vote nobody can commit.
                Self::log_outcome(state, ctx, tx, Decision::Abort, share, work.invoked_at_us);
                ctx.once_durable(|ctx| {
                    ctx.observe(Observation::Voted { tx, vote });
                    Self::publish_outcome(ctx, tx, Decision::Abort, Learned::VotedNo, share);
                    ctx.send(coordinator, Msg::Vote { tx, vote });
                });
            }
        }
    }

    /// Yes if the holdings are free, the funds (or the stock) are there,
    /// and no random refusal.
    pub(super) fn choose_vote(state: &Participant, ctx: Ctx, tx: Tx, share: Share) -> Vote {
        if share.accounts().any(|a| state.locks.get(&a).is_some_and(|&holder| holder != tx)) {
            return Vote::No(NoReason::Locked);
        }
        if let Some(from) = share.debit
            && Self::balance(state, ctx, from) < share.amount
        {
            return Vote::No(match share.holding {
                Holding::Account | Holding::Credit => NoReason::InsufficientFunds,
                Holding::Stock => NoReason::OutOfStock,
            });
        }
        let rate = ctx.params().vote_no_rate;
        if !rate.is_never() && ctx.chance(rate) {
            return Vote::No(NoReason::Refused);
        }
        Vote::Yes
    }

    /// The yes vote is out: the decision should come within
    /// `decision_timeout`.
    pub(super) fn await_decision(state: &mut Participant, ctx: Ctx, tx: Tx) {
        let timeout = ctx.params().decision_timeout;
        if state.prepared.contains_key(&tx) {
            ctx.set_timer(Timer::DecisionTimeout { tx }, timeout);
        }
    }

    /// Phase two at a participant: the coordinator's decision.
    pub(super) fn complete(
        state: &mut Participant,
        ctx: Ctx,
        from: NodeId,
        tx: Tx,
        decision: Decision,
        invoked_at_us: i64,
    ) {
        if state.prepared.contains_key(&tx) {
            Self::decide_here(state, ctx, tx, decision, Learned::Coordinator);
        } else if let Some(&mine) = state.outcomes.get(&tx) {
            if mine != decision {
                // Only a heuristic decision gets here.
                ctx.note(|| {
                    format!("heuristic hazard: tx {tx} was {mine:?} here, the coordinator says {decision:?}")
                });
            }
        } else if state.retention.too_old(ctx, invoked_at_us) {
            // Decided here and forgotten (the coordinator missed the ack,
            // or this is a stale copy), or never prepared: acknowledged,
            // nothing to do.
            Self::too_old_here(ctx, tx, "its decision is acknowledged, nothing done");
        } else {
            // A transaction this participant never voted yes on (its
            // prepare was lost): only an abort can come — unless the
            // coordinator is broken (`bug = "commit-on-timeout"`).
            if decision == Decision::Commit {
                ctx.note(|| format!("protocol violation: commit of tx {tx}, which was never prepared here"));
            } else {
                let share = Share::default();
                Self::log_outcome(state, ctx, tx, decision, share, invoked_at_us);
                Self::publish_outcome(ctx, tx, decision, Learned::Coordinator, share);
            }
        }
        // Acknowledged once the outcome is on disk; repeated for re-sends.
        ctx.once_durable(|ctx| ctx.send(from, Msg::Ack { tx }));
    }

    /// Decides a prepared transaction here: apply (or drop) the share,
    /// release the locks.
    pub(super) fn decide_here(
        state: &mut Participant,
        ctx: Ctx,
        tx: Tx,
        decision: Decision,
        learned: Learned,
    ) {
        let p = state.prepared.remove(&tx).expect("only a prepared transaction is decided here");
        ctx.cancel_timer(&Timer::DecisionTimeout { tx });
        for account in p.share.accounts() {
            let holder = state.locks.remove(&account);
            assert_eq!(holder, Some(tx), "tx {tx} held the lock of a{account}");
        }
        Self::log_outcome(state, ctx, tx, decision, p.share, p.work.invoked_at_us);
        Self::publish_outcome(ctx, tx, decision, learned, p.share);
    }

    /// Applies a commit's share to the balances and logs the outcome.
    pub(super) fn log_outcome(
        state: &mut Participant,
        ctx: Ctx,
        tx: Tx,
        decision: Decision,
        share: Share,
        invoked_at_us: i64,
    ) {
        let mut balances = Vec::new();
        if decision == Decision::Commit {
            if let Some(a) = share.debit {
                let b = Self::balance(state, ctx, a);
                assert!(b >= share.amount, "tx {tx}: a{a} was checked for funds and locked since");
                state.balances.insert(a, b - share.amount);
            }
            if let Some(a) = share.credit {
                let b = Self::balance(state, ctx, a);
                state.balances.insert(a, b + share.amount);
            }
            balances = share.accounts().map(|a| (a, state.balances[&a])).collect();
        }
        let previous = state.outcomes.insert(tx, decision);
        assert!(previous.is_none(), "tx {tx}: decided once per participant");
        Self::log(ctx, DiskWrite::Outcome { tx, decision, share, invoked_at_us, balances });
        state.retention.finished(ctx, tx, invoked_at_us);
    }

    /// Tells the checkers, once the outcome is on disk.
    pub(super) fn publish_outcome(ctx: Ctx, tx: Tx, decision: Decision, learned: Learned, share: Share) {
        let decided = Observation::Decided { tx, decision, learned, share };
        ctx.once_durable(|ctx| ctx.observe(decided));
    }

    pub(super) fn balance(state: &Participant, ctx: Ctx, account: Key) -> u64 {
        let (_, opening) = ctx.params().holding(ctx.me());
        state.balances.get(&account).copied().unwrap_or(opening)
    }
}
