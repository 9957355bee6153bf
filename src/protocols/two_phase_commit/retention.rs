//! *Advanced.* Retention: forgetting finished transactions safely.
//!
//! Nothing finished is kept forever (`retention`, an hour by default; the
//! benchmark keeps 1s, so memory stays bounded). The coordinator forgets a
//! decision once every participant acknowledged it (`End`), a participant
//! its outcome once decided — each only once the transaction finished
//! `retention` ago **and** is older than `retention`: its age is the
//! node's clock minus `invoked_at_us`, the client's clock when it invoked
//! the transaction, which the transaction and every decision message carry.
//!
//! Forgetting is safe only if a late message about a forgotten transaction
//! cannot act as if it were new: a stale `Prepare` voted on afresh would
//! take locks (and, for a commit, apply its leg) again; a stale
//! `Ask` would be presumed aborted, contradicting the logged commit; a
//! client's late retry would run the transaction twice. A node cannot tell a
//! transaction it forgot from one it never saw, but it can tell that a
//! transaction is older than `retention` — and every transaction it
//! forgot is. So a message about a transaction the node does not know and
//! that is older than `retention` is handled as one it may have forgotten:
//! - the coordinator tells the client *unknown* (info), and does not begin;
//! - a participant ignores a `Prepare` (the coordinator, if this is a live
//!   round, times out and aborts) and a peer's `Ask` (a peer truly in
//!   doubt still has the coordinator to ask);
//! - a participant acknowledges a decision and does nothing (it decided and
//!   forgot, or never prepared);
//! - the coordinator answers an `Ask` abort **without logging it**: either
//!   it crashed before deciding, and nobody committed, or it finished and
//!   forgot, and every participant had decided — then the question is a
//!   stale copy and its asker ignores the answer.
//!
//! Each node reads its clock through a floor that never goes back (durable
//! as of its latest forgetting), and it judges ages on the same clock it
//! forgets by — so clock jumps cannot make a forgotten transaction young
//! again. A short `retention` costs liveness, not safety: a transaction
//! still running when it gets that old may be refused or aborted.
//! Validation demands `retention > prepare_timeout + decision_timeout`.
//!
use super::*;

impl Retention {
    pub(super) fn new(forgot_at_us: i64) -> Self {
        Retention { finished: Expiry::default(), clock_floor: ClockFloor::new(forgot_at_us) }
    }

    /// The local clock as retention reads it: never earlier than a time
    /// already read. (A clock set back would otherwise make a transaction
    /// forgotten at that time young again.)
    pub(super) fn now_us(&mut self, ctx: &Context<'_, TwoPhaseCommit>) -> i64 {
        self.clock_floor.read(ctx.local_time_us())
    }

    /// Whether a transaction invoked at `invoked_at_us` is older than
    /// `retention` — one this node may have forgotten, if it does not know
    /// it.
    pub(super) fn too_old(&mut self, ctx: &Context<'_, TwoPhaseCommit>, invoked_at_us: i64) -> bool {
        if !exercises::judge_age_of_unknown(ctx.params()) {
            return false;
        }
        invoked_at_us <= self.now_us(ctx) - ctx.params().retention.as_micros() as i64
    }

    /// `tx` has finished here: forget it once it finished `retention` ago
    /// and is older than `retention`.
    pub(super) fn finished(&mut self, ctx: &Context<'_, TwoPhaseCommit>, tx: Tx, invoked_at_us: i64) {
        let stamp = self.now_us(ctx).max(invoked_at_us);
        self.finished.push(stamp, tx);
    }

    /// The finished transactions due to be forgotten now, and the local
    /// time it is.
    fn due(&mut self, ctx: &Context<'_, TwoPhaseCommit>) -> (Vec<Tx>, i64) {
        let now = self.now_us(ctx);
        let txs = self.finished.due(now - ctx.params().retention.as_micros() as i64).collect();
        (txs, now)
    }
}

impl TwoPhaseCommit {
    pub(super) fn arm_expiry(ctx: Ctx) {
        let every = SimDuration((ctx.params().retention.0 / 4).max(1000));
        ctx.set_timer(Timer::Expire, every);
    }

    /// Retention: forgets the finished transactions that are due. A message
    /// about one of them that comes later finds it older than `retention`
    /// and unknown, and is handled as such.
    pub(super) fn expire(state: &mut State, ctx: Ctx) {
        Self::arm_expiry(ctx);
        let (txs, now) = state.retention().due(ctx);
        if txs.is_empty() {
            return;
        }
        for tx in &txs {
            match state {
                State::Coordinator(c) => c.decisions.remove(tx),
                State::Participant(p) => p.outcomes.remove(tx),
            };
        }
        ctx.observe(Observation::Forgot { count: txs.len() as u32 });
        Self::log(ctx, DiskWrite::Forget { txs, at_us: now });
    }

    /// A message about `tx`, unknown here and older than `retention`.
    pub(super) fn too_old_here(ctx: Ctx, tx: Tx, what: &'static str) {
        ctx.observe(Observation::TooOld { tx });
        ctx.note(|| format!("tx {tx} is unknown here and older than retention: {what}"));
    }
}
