//! What each node keeps on disk, and how it recovers from it.
//!
//! - *Coordinator*: each decision, with its transaction (to re-send it), and
//!   `End` once every participant acknowledged. Nothing is logged before the
//!   decision: **presumed abort** — no record means no decision was ever
//!   sent, so no participant can have committed. After a crash the
//!   coordinator re-sends the decisions not yet acknowledged. A transaction
//!   it began but has no decision for is settled by whoever asks first:
//!   - a participant in doubt (`Ask`): the coordinator presumes abort,
//!     logs it, and only then answers abort; a client's retry after that
//!     hears abort from the log (the `coordinator-recovery` lesson);
//!   - the client, retrying: the coordinator knows nothing of the transaction
//!     and runs it as a new one — a new prepare round, which may
//!     **commit**. That is safe because nobody was told an outcome and
//!     participants remember theirs: one that voted yes is still prepared
//!     (its `Prepared` record and locks survive) and votes yes again; one
//!     that voted no, or aborted on its own (cooperative termination),
//!     logged that abort and votes no again. So the new round commits
//!     only if every participant is still prepared to — when the first
//!     round could have committed too. (A participant forgets an outcome
//!     only once the transaction is older than `retention`, and then
//!     ignores its prepares: see *Retention*.)
//! - *Participant*: balances, `Prepared` for each yes vote, and the outcome
//!   of every transaction it decided (including its no votes and unilateral
//!   aborts) until it forgets it. After a crash it re-takes the locks of
//!   its prepared transactions, is in doubt again, and asks at once.
//! - *Both*: the local time of the latest forgetting (the floor of the
//!   retention clock).
//! - A write can reach the disk while its node is paused; the node hears of
//!   it when it resumes — or, if it crashes first, when it recovers. So a
//!   recovering node reports what its disk holds (decisions, outcomes, yes
//!   votes) to the checkers again; they ignore what they already knew.
//!
//! Every message that vouches for something on disk — a vote, an ack, an
//! outcome told to a peer, a client's answer — is sent only once that is on
//! disk ([`Context::once_durable`]).
//!
use super::*;

/// A decision on the coordinator's log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Logged {
    pub decision: Decision,
    pub work: Work,
    /// Every participant acknowledged it.
    pub ended: bool,
}

/// The disk. The coordinator uses the first part, participants the rest.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Disk {
    // --- the coordinator's log ---
    pub decisions: WindowMap<Tx, Logged>,
    // --- a participant's log ---
    /// Accounts that have changed (the others hold `initial_balance`).
    pub balances: BTreeMap<Key, u64>,
    /// Yes votes without an outcome yet.
    pub prepared: SmallMap<Tx, (Work, Share)>,
    /// Every outcome not yet forgotten, with this participant's share of
    /// the transaction and the transaction's `invoked_at_us`.
    pub outcomes: WindowMap<Tx, (Decision, Share, i64)>,
    // --- both ---
    /// The local time (µs) of the latest forgetting: after a restart the
    /// retention clock never reads earlier.
    pub forgot_at_us: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum DiskWrite {
    /// Coordinator: the decision.
    Decision { tx: Tx, decision: Decision, work: Work },
    /// Coordinator: every participant acknowledged.
    End { tx: Tx },
    /// Participant: a yes vote.
    Prepared { tx: Tx, work: Work, share: Share },
    /// Participant: the outcome, with the new balances of a commit.
    Outcome { tx: Tx, decision: Decision, share: Share, invoked_at_us: i64, balances: Vec<(Key, u64)> },
    /// Retention: forget these finished transactions (decisions or
    /// outcomes), at this local time.
    Forget { txs: Vec<Tx>, at_us: i64 },
}

impl TwoPhaseCommit {
    pub(super) fn log(ctx: Ctx, write: DiskWrite) {
        ctx.write(write);
    }

    pub(super) fn recover_from(ctx: Ctx, disk: &Disk) -> State {
        // Finished transactions on disk start their retention again.
        Self::arm_expiry(ctx);
        let retention = Retention::new(disk.forgot_at_us);
        if ctx.me() == ctx.params().coordinator {
            State::Coordinator(Self::recover_coordinator(ctx, disk, retention))
        } else {
            State::Participant(Self::recover_participant(ctx, disk, retention))
        }
    }

    /// The coordinator re-sends the decisions not yet acknowledged by all.
    fn recover_coordinator(ctx: Ctx, disk: &Disk, retention: Retention) -> Coordinator {
        let decisions = disk.decisions.iter().map(|(&tx, l)| (tx, l.decision)).collect();
        let mut state = Coordinator { decisions, running: SmallMap::new(), retention };
        for (&tx, logged) in disk.decisions.iter().filter(|(_, l)| l.ended) {
            state.retention.finished(ctx, tx, logged.work.invoked_at_us);
        }
        // What the disk holds is reported again: a write can complete while
        // its node is paused, and a crash before the node resumes loses the
        // `once_durable` that would have published it. The checker ignores
        // what it already knew.
        for (&tx, logged) in disk.decisions.iter().filter(|(_, l)| !l.ended) {
            let (decision, work) = (logged.decision, logged.work);
            ctx.observe(Observation::DecisionLogged { tx, decision, work });
        }
        for (&tx, logged) in disk.decisions.iter().filter(|(_, l)| !l.ended) {
            let participants = ctx.params().participants_of(logged.work).collect();
            let phase = Phase::Finishing { decision: logged.decision, acked: BTreeSet::new() };
            let mut r = Running { work: logged.work, participants, phase, client: None };
            Self::send_decision(&mut r, ctx, tx, true);
            state.running.insert(tx, r);
        }
        state
    }

    /// A participant's prepared transactions are in doubt again: it
    /// re-takes their locks and asks at once.
    fn recover_participant(ctx: Ctx, disk: &Disk, retention: Retention) -> Participant {
        let mut state = Participant {
            holding: ctx.params().holding(ctx.me()).0,
            balances: disk.balances.clone(),
            locks: SmallMap::new(),
            prepared: SmallMap::new(),
            outcomes: disk.outcomes.iter().map(|(&tx, &(d, _, _))| (tx, d)).collect(),
            retention,
        };
        for (&tx, &(_, _, invoked_at_us)) in &disk.outcomes {
            state.retention.finished(ctx, tx, invoked_at_us);
        }
        // Reported again, as the coordinator's decisions are.
        for (&tx, &(decision, share, _)) in &disk.outcomes {
            ctx.observe(Observation::Decided { tx, decision, learned: Learned::Disk, share });
        }
        for &tx in disk.prepared.keys() {
            ctx.observe(Observation::Voted { tx, vote: Vote::Yes });
        }
        for (&tx, &(work, share)) in &disk.prepared {
            for account in share.accounts() {
                let holder = state.locks.insert(account, tx);
                assert!(holder.is_none(), "a{account} was locked by two prepared transactions");
            }
            state.prepared.insert(tx, Prepared { work, share, blocked: false });
            if matches!(ctx.params().termination, Termination::Wait | Termination::Cooperative) {
                Self::ask(&state, ctx, tx);
            }
            Self::await_decision(&mut state, ctx, tx);
        }
        state
    }

    pub(super) fn apply(disk: &mut Disk, write: &DiskWrite) {
        match write {
            &DiskWrite::Decision { tx, decision, work } => {
                disk.decisions.insert(tx, Logged { decision, work, ended: false });
            }
            DiskWrite::End { tx } => {
                if let Some(l) = disk.decisions.get_mut(tx) {
                    l.ended = true;
                }
            }
            &DiskWrite::Prepared { tx, work, share } => {
                disk.prepared.insert(tx, (work, share));
            }
            DiskWrite::Outcome { tx, decision, share, invoked_at_us, balances } => {
                disk.prepared.remove(tx);
                disk.outcomes.insert(*tx, (*decision, *share, *invoked_at_us));
                disk.balances.extend(balances.iter().copied());
            }
            DiskWrite::Forget { txs, at_us } => {
                for tx in txs {
                    disk.decisions.remove(tx);
                    disk.outcomes.remove(tx);
                }
                disk.forgot_at_us = disk.forgot_at_us.max(*at_us);
            }
        }
    }
}
