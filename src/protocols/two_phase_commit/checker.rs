//! The checks of two-phase commit.
//!
//! The checker follows what the coordinator logged (`DecisionLogged`), how
//! each participant voted (`Voted`) and what it decided (`Decided`), online:
//! a violation is known at the observation that causes it.
//!
//! *Conservation*, precisely, for money and for stock each on its own: a
//! transaction moves what its legs debit to what they credit — a transfer
//! from one account to another, an order from the customer's credit and
//! the item's stock into the order — so the holdings plus what committed
//! orders took never change. Except that the legs of a committed
//! transaction are applied at different nodes at different moments:
//! between them the rest is *in flight* — the coordinator logged commit
//! and a participant has not applied its leg yet. So the invariant is: the
//! net change of all holdings (what participants report applying), plus
//! the legs of committed transactions not yet applied at a participant
//! that has not decided, minus what committed orders took, is zero after
//! every observation. A participant that decides against a logged commit
//! removes its leg from the flight without applying it: money or stock
//! vanishes (or appears). A participant that commits before any commit
//! was logged (a heuristic commit) creates or destroys some until the
//! coordinator logs commit, if it ever does.
//!
//! *What clients are told* is read from the history: a transfer's
//! transaction id is its client's idempotency key, and the engine makes
//! that key the operation id (`ClientRequest::idempotency_key`, the same
//! on every retry), so a history event's `op_id` names its transaction.
//! An ok must come with a logged commit, a fail with a logged abort.
//!
//! *In doubt*: from a participant's yes vote to its decision. The metrics
//! count intervals still open at the end up to the end; a participant that
//! is down is still in doubt (its `Prepared` record and its locks wait on
//! its disk).
//!
//! # Memory
//! Flat as a run grows, but for three bits per transaction. A transaction
//! is *settled* once its decision is logged, every participant it touches
//! has decided that decision, the coordinator ended it and its client was
//! told: nothing still to come can add to its story but repeats (a
//! restarted node reporting again from its disk) and violations (a new
//! prepare round, a different decision). The latest
//! `RECENTLY_SETTLED` settled transactions are kept in full; older ones
//! are *forgotten* down to three bits — settled, committed, and whether a
//! participant voted no — which is all the checks need to judge a late
//! report exactly (a participant that voted or has a share of the transfer
//! is one it touches, and so has decided). Only the evidence of such a
//! late violation is shorter: it cannot name the old decision's moment.

use super::TransferOp;
use super::{
    Conserved, Decision, Learned, NoReason, Observation, Params, Share, TwoPhaseCommit, Tx, Vote, Work,
    WorkKind,
};
use crate::nodes::{Cluster, NodeId, SmallMap};
use crate::sim::monitor::{CheckInfo, GaugeInfo, IdBits, MetricInfo, Unit, ViolationTracker, keep_settled};
use crate::sim::{At, Cause, Checker, HistoryKind, Report, TypedEvent};
use crate::time::SimTime;
use crate::util::{CowArc, IdMap, make_mut};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

/// How many settled transactions the checker keeps in full.
const RECENTLY_SETTLED: usize = 4096;

/// What the checker still knows of a transaction settled long ago (see
/// "Memory"): the decision the coordinator logged and every participant
/// it touches decided, and whether a participant voted no.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Forgotten {
    decision: Decision,
    voted_no: bool,
}

/// What the checker knows of one transaction.
#[derive(Clone, Debug, Default)]
struct TxRecord {
    work: Option<Work>,
    /// The first prepare round.
    started: Option<SimTime>,
    /// Prepare and decision rounds sent so far.
    rounds: u32,
    ended: bool,
    /// The coordinator's logged decision, and when it logged it.
    logged: Option<Decision>,
    logged_at: Option<At>,
    /// Participants that voted no, and when.
    voted_no: SmallMap<NodeId, At>,
    /// Each participant's decision, and when it decided.
    decided: SmallMap<NodeId, (Decision, At)>,
    /// This transaction's parts in flight, per [`Conserved`] unit.
    in_flight: [i128; 2],
    /// Its client was told the outcome.
    told: bool,
    /// Queued among the recently settled.
    queued: bool,
    /// Settled long ago and forgotten, then reported on again: what the
    /// checker still knew of it (its participants' decisions, its no votes).
    forgotten: Option<Forgotten>,
}

impl TxRecord {
    /// The decision another participant than `node` made that differs
    /// from `decision`, if one did: who (when the checker still knows it)
    /// and when.
    fn other_decision(&self, decision: Decision) -> Option<(Option<NodeId>, Decision, Option<At>)> {
        let known = self.decided.iter().find(|(_, (d, _))| *d != decision);
        known
            .map(|(n, &(d, at))| (Some(*n), d, Some(at)))
            .or_else(|| self.forgotten.filter(|f| f.decision != decision).map(|f| (None, f.decision, None)))
    }

    /// A participant that voted no, if one did: who (when still known) and
    /// when.
    fn no_vote(&self) -> Option<(Option<NodeId>, Option<At>)> {
        let known = self.voted_no.first().map(|(n, at)| (Some(*n), Some(*at)));
        known.or_else(|| self.forgotten.filter(|f| f.voted_no).map(|_| (None, None)))
    }
}

/// How a verdict counts its violations: always.
fn violations(count: u64) -> Option<String> {
    Some(format!("{count} violations"))
}

#[derive(Clone, Debug)]
pub struct TwoPhaseCommitChecker {
    /// Shared, not copied, by the clones `distlab explore` makes of a
    /// checker (one per state whose move it heard).
    params: Arc<Params>,
    names: Arc<[String]>,
    /// Each record behind a `CowArc`: a clone shares the records and
    /// copies only the one a move changes. Nearly every event looks one
    /// up: a hash table, read in turn only in id order.
    txs: IdMap<Tx, CowArc<TxRecord>>,

    atomicity: ViolationTracker,
    no_commit_after_no: ViolationTracker,
    agreement: ViolationTracker,
    conservation: ViolationTracker,
    told_the_truth: ViolationTracker,
    runs_once: ViolationTracker,
    /// Clients told ok / fail.
    told_ok: u64,
    told_fail: u64,

    /// Net change of all holdings, as participants applied commits, per
    /// [`Conserved`] unit (money, stock).
    applied: [i128; 2],
    /// Legs of committed transactions not yet applied, minus what
    /// committed orders took (sum over `txs`), per unit.
    in_flight: [i128; 2],
    /// `applied + in_flight` after the previous observation, per unit.
    imbalance: [i128; 2],
    /// No votes by reason (the `votes_no_*` metrics).
    votes_no_by: BTreeMap<&'static str, u64>,

    committed: u64,
    aborted: u64,
    votes_no: u64,
    latency_sum_us: u128,
    rounds_sum: u64,
    ended: u64,
    resent: u64,
    resolved_by_peers: u64,
    heuristic: u64,
    /// Retention: finished transactions forgotten (per node), and messages
    /// about unknown transactions older than `retention`.
    forgotten: u64,
    too_old: u64,
    /// Open in-doubt intervals: (participant, tx) → since (its yes vote).
    in_doubt: SmallMap<(NodeId, Tx), At>,
    in_doubt_closed: u64,
    in_doubt_sum_us: u128,
    in_doubt_max_us: u64,
    blocked: BTreeSet<(NodeId, Tx)>,

    /// Settled transactions still kept in full, oldest first (see
    /// "Memory").
    recently_settled: VecDeque<Tx>,
    /// Transactions settled long ago and forgotten, three bits each.
    long_ago: LongAgo,
}

/// Transactions settled long ago and forgotten: whether each was, was
/// committed, and had a no vote — all a late report about one needs.
#[derive(Clone, Debug, Default)]
struct LongAgo {
    settled: IdBits,
    commits: IdBits,
    no_votes: IdBits,
}

impl LongAgo {
    fn contains(&self, tx: Tx) -> bool {
        self.settled.contains(tx)
    }

    /// Keeps the three bits of settled `tx`'s record `r`.
    fn keep(&mut self, tx: Tx, r: &TxRecord) {
        self.settled.insert(tx);
        if r.logged == Some(Decision::Commit) {
            self.commits.insert(tx);
        }
        if r.no_vote().is_some() {
            self.no_votes.insert(tx);
        }
    }

    /// The record of `tx` to keep in full again: brought back from its
    /// bits if it was settled long ago (and taken out of them), else new.
    fn take(&mut self, tx: Tx) -> TxRecord {
        if !self.settled.remove(tx) {
            return TxRecord::default();
        }
        let decision = if self.commits.remove(tx) { Decision::Commit } else { Decision::Abort };
        let forgotten = Some(Forgotten { decision, voted_no: self.no_votes.remove(tx) });
        TxRecord { logged: Some(decision), ended: true, told: true, forgotten, ..TxRecord::default() }
    }
}

/// The record of `tx`, to change: brought back from what `long_ago` keeps
/// of it, or begun, if the checker holds none in full.
fn record<'a>(txs: &'a mut IdMap<Tx, CowArc<TxRecord>>, long_ago: &mut LongAgo, tx: Tx) -> &'a mut TxRecord {
    make_mut(txs.entry(tx).or_insert_with(|| CowArc::new(long_ago.take(tx))))
}

fn name(d: Decision) -> &'static str {
    match d {
        Decision::Commit => "commit",
        Decision::Abort => "abort",
    }
}

/// What the coordinator logged for `tx`, as a cause.
fn logged_cause(tx: Tx, r: &TxRecord) -> Option<Cause> {
    let (d, at) = (r.logged?, r.logged_at?);
    Some(Cause::new(at, format!("the coordinator logged {} for tx {tx}", name(d))))
}

impl TwoPhaseCommitChecker {
    fn node(&self, n: NodeId) -> &str {
        &self.names[n.index()]
    }

    /// The trackers of the invariants [`Checker::report`] judges, one each.
    fn trackers(&self) -> [&ViolationTracker; 6] {
        [
            &self.atomicity,
            &self.no_commit_after_no,
            &self.agreement,
            &self.conservation,
            &self.runs_once,
            &self.told_the_truth,
        ]
    }

    /// `n` by name, or "a participant" when the checker forgot who.
    fn who(&self, n: Option<NodeId>) -> String {
        n.map_or("a participant".to_string(), |n| self.node(n).to_string())
    }

    /// Whether `r` is settled: its decision logged, decided by every
    /// participant it touches (and by nobody otherwise), ended, and its
    /// client told.
    fn is_settled(params: &Params, r: &TxRecord) -> bool {
        let Some(d) = r.logged else { return false };
        let touched = |t| params.participants_of(t).all(|n| r.decided.contains_key(&n));
        r.ended
            && r.told
            && (r.forgotten.is_some() || r.work.is_some_and(touched))
            && r.other_decision(d).is_none()
    }

    /// Counts `tx` among the recently settled if it is settled now, and
    /// forgets the oldest of them beyond [`RECENTLY_SETTLED`].
    fn settle(&mut self, tx: Tx) {
        // Looked at before it is changed: a record shared with a snapshot
        // is copied only when it does change.
        match self.txs.get_mut(&tx) {
            Some(r) if !r.queued && Self::is_settled(&self.params, r) => make_mut(r).queued = true,
            _ => return,
        }
        self.recently_settled.push_back(tx);
        if self.recently_settled.len() > keep_settled(RECENTLY_SETTLED) {
            let old = self.recently_settled.pop_front().expect("not empty");
            self.forget(old);
        }
    }

    /// Keeps only three bits of settled transaction `tx` (see "Memory"),
    /// unless a report since it settled made it unsettled again.
    fn forget(&mut self, tx: Tx) {
        let Some(r) = self.txs.get_mut(&tx) else { return };
        if !Self::is_settled(&self.params, r) || tx >= IdBits::LIMIT {
            make_mut(r).queued = false;
            return;
        }
        let r = self.txs.remove(&tx).expect("present");
        self.long_ago.keep(tx, &r);
    }

    /// The parts of `tx` in flight, per unit: the legs of a logged commit
    /// at participants that have not decided yet, minus everything its
    /// legs move (what an order takes; nothing, for a transfer) — that is,
    /// minus the legs decided.
    fn parts_in_flight(&self, r: &TxRecord) -> [i128; 2] {
        let mut sum = [0; 2];
        let (Some(Decision::Commit), Some(w), None) = (r.logged, r.work, r.forgotten) else { return sum };
        for (node, share) in self.params.legs(w) {
            if r.decided.contains_key(&node) {
                sum[share.holding.unit() as usize] -= share.net();
            }
        }
        sum
    }

    /// Re-evaluates `tx`'s parts in flight, then the totals.
    fn check_conservation(&mut self, at: At, tx: Tx, after: impl Fn() -> String) {
        let r = &self.txs[&tx];
        let now = self.parts_in_flight(r);
        let before = r.in_flight;
        if now != before {
            make_mut(self.txs.get_mut(&tx).expect("present")).in_flight = now;
        }
        for (unit, what) in [(Conserved::Money, "money"), (Conserved::Stock, "stock")] {
            let u = unit as usize;
            self.in_flight[u] += now[u] - before[u];
            let off = self.applied[u] + self.in_flight[u];
            // One violation per change of the imbalance, not per observation.
            if off != 0 && off != self.imbalance[u] {
                let how = if off > 0 { "created" } else { "destroyed" };
                self.conservation.record(at, || {
                    format!("{} units of {what} were {how} (net, since the start) {}", off.abs(), after())
                });
            }
            self.imbalance[u] = off;
        }
    }

    fn on_voted(&mut self, at: At, node: NodeId, tx: Tx, vote: Vote) {
        match vote {
            Vote::Yes => {
                // A participant that voted was prepared: one the transaction
                // touches, so one that decided it if it was settled.
                let decided = self.long_ago.contains(tx)
                    || self
                        .txs
                        .get(&tx)
                        .is_some_and(|r| r.decided.contains_key(&node) || r.forgotten.is_some());
                if !decided {
                    self.in_doubt.entry((node, tx)).or_insert(at);
                }
            }
            Vote::No(reason) => {
                self.votes_no += 1;
                let why = match reason {
                    NoReason::InsufficientFunds => "votes_no_insufficient_funds",
                    NoReason::OutOfStock => "votes_no_out_of_stock",
                    NoReason::Locked => "votes_no_locked",
                    NoReason::Refused | NoReason::AlreadyAborted => "votes_no_other",
                };
                *self.votes_no_by.entry(why).or_default() += 1;
                let r = record(&mut self.txs, &mut self.long_ago, tx);
                r.voted_no.entry(node).or_insert(at);
                let committed_by = (r.logged == Some(Decision::Commit))
                    .then(|| ("the coordinator", logged_cause(tx, r)))
                    .or_else(|| {
                        r.decided.iter().find(|(_, (d, _))| *d == Decision::Commit).map(|(n, (_, when))| {
                            let who = self.names[n.index()].as_str();
                            (who, Some(Cause::new(*when, format!("{who} decided commit for tx {tx}"))))
                        })
                    });
                if let Some((who, commit)) = committed_by {
                    let me = self.node(node).to_string();
                    self.no_commit_after_no.record_because(at, || {
                        let vote = Cause::new(at, format!("{me} voted no ({reason:?}) on tx {tx}"));
                        (
                            format!("{me} voted no ({reason:?}) on tx {tx}, which {who} committed"),
                            commit.into_iter().chain([vote]).collect(),
                        )
                    });
                }
            }
        }
    }

    fn on_logged(&mut self, at: At, tx: Tx, decision: Decision, work: Work) {
        let r = record(&mut self.txs, &mut self.long_ago, tx);
        r.work = Some(work);
        match r.logged {
            Some(before) if before == decision => return, // reported again after a restart
            Some(before) => {
                let first = logged_cause(tx, r);
                self.agreement.record_because(at, || {
                    let then =
                        Cause::new(at, format!("the coordinator logged {} for tx {tx}", name(decision)));
                    (
                        format!(
                            "the coordinator logged {} for tx {tx}, then {}",
                            name(before),
                            name(decision)
                        ),
                        first.into_iter().chain([then]).collect(),
                    )
                });
            }
            None => {
                if let Some(started) = r.started {
                    self.latency_sum_us += at.time.since(started).as_micros() as u128;
                }
                match decision {
                    Decision::Commit => self.committed += 1,
                    Decision::Abort => self.aborted += 1,
                }
            }
        }
        if r.logged != Some(decision) {
            r.logged_at = Some(at);
        }
        r.logged = Some(decision);
        let r = &self.txs[&tx];
        let logged = || Cause::new(at, format!("the coordinator logged {} for tx {tx}", name(decision)));
        if decision == Decision::Commit
            && let Some((n, voted)) = r.no_vote()
        {
            let n = self.who(n);
            self.no_commit_after_no.record_because(at, || {
                let vote = voted.map(|voted| Cause::new(voted, format!("{n} voted no on tx {tx}")));
                (
                    format!("the coordinator committed tx {tx}, on which {n} voted no"),
                    vote.into_iter().chain([logged()]).collect(),
                )
            });
        }
        if let Some((n, d, when)) = r.other_decision(decision) {
            let n = self.who(n);
            self.agreement.record_because(at, || {
                let decided =
                    when.map(|when| Cause::new(when, format!("{n} decided {} for tx {tx}", name(d))));
                (
                    format!(
                        "the coordinator logged {} for tx {tx}, but {n} had decided {}",
                        name(decision),
                        name(d)
                    ),
                    decided.into_iter().chain([logged()]).collect(),
                )
            });
        }
        self.check_conservation(at, tx, || {
            format!("when the coordinator logged {} for tx {tx}", name(decision))
        });
        self.settle(tx);
    }

    fn on_decided(
        &mut self,
        at: At,
        node: NodeId,
        tx: Tx,
        decision: Decision,
        learned: Learned,
        share: Share,
    ) {
        let me = self.node(node).to_string();
        let r = record(&mut self.txs, &mut self.long_ago, tx);
        let this =
            |me: &str| Cause::new(at, format!("{me} decided {} ({learned:?}) for tx {tx}", name(decision)));
        // A node with a share of the transfer is one it touches: if the
        // transaction was forgotten, that node had decided its decision.
        let touched = share.debit.is_some() || share.credit.is_some();
        let before = r.decided.get(&node).map(|&(d, when)| (d, Some(when)));
        if let Some((before, when)) = before.or(r.forgotten.filter(|_| touched).map(|f| (f.decision, None))) {
            if before != decision {
                self.atomicity.record_because(at, || {
                    let first = when
                        .map(|when| Cause::new(when, format!("{me} decided {} for tx {tx}", name(before))));
                    (
                        format!("{me} decided tx {tx} twice: {} then {}", name(before), name(decision)),
                        first.into_iter().chain([this(&me)]).collect(),
                    )
                });
            }
            return; // reported again after a restart: counted the first time
        }
        r.decided.insert(node, (decision, at));
        match learned {
            Learned::Peer => self.resolved_by_peers += 1,
            Learned::Heuristic => self.heuristic += 1,
            _ => {}
        }
        if let Some(since) = self.in_doubt.remove(&(node, tx)) {
            let us = at.time.since(since.time).as_micros();
            self.in_doubt_closed += 1;
            self.in_doubt_sum_us += us as u128;
            self.in_doubt_max_us = self.in_doubt_max_us.max(us);
        }
        if decision == Decision::Commit {
            self.applied[share.holding.unit() as usize] += share.net();
        }
        let r = &self.txs[&tx];
        if let Some((other, d, when)) = r.other_decision(decision) {
            let other = self.who(other);
            let (in_doubt, names) = (&self.in_doubt, &self.names);
            self.atomicity.record_because(at, || {
                let first =
                    when.map(|when| Cause::new(when, format!("{other} decided {} for tx {tx}", name(d))));
                let mut causes: Vec<Cause> = first.into_iter().chain([this(&me)]).collect();
                causes.extend(logged_cause(tx, r));
                // Who else is still in doubt about it, holding its locks.
                causes.extend(in_doubt.iter().filter(|((_, t), _)| *t == tx).map(|((n, _), since)| {
                    Cause::new(*since, format!("{} voted yes on tx {tx}, still in doubt", names[n.index()]))
                }));
                (format!("{me} decided {} for tx {tx}, {other} decided {}", name(decision), name(d)), causes)
            });
        }
        if let Some(logged) = r.logged
            && logged != decision
        {
            self.agreement.record_because(at, || {
                (
                    format!(
                        "{me} decided {} ({learned:?}) for tx {tx}; the coordinator logged {}",
                        name(decision),
                        name(logged)
                    ),
                    logged_cause(tx, r).into_iter().chain([this(&me)]).collect(),
                )
            });
        }
        if decision == Decision::Commit
            && let Some((n, voted)) = r.no_vote()
        {
            let n = self.who(n);
            self.no_commit_after_no.record_because(at, || {
                let vote = voted.map(|voted| Cause::new(voted, format!("{n} voted no on tx {tx}")));
                (
                    format!("{me} committed tx {tx}, on which {n} voted no"),
                    vote.into_iter().chain([this(&me)]).collect(),
                )
            });
        }
        self.check_conservation(at, tx, || format!("when {me} decided {} for tx {tx}", name(decision)));
        self.settle(tx);
    }

    /// In-doubt time of intervals closed and still open at `now`: (count,
    /// sum, max) in µs.
    fn in_doubt_totals(&self, now: SimTime) -> (u64, u128, u64) {
        let mut count = self.in_doubt_closed;
        let mut sum = self.in_doubt_sum_us;
        let mut max = self.in_doubt_max_us;
        for since in self.in_doubt.values() {
            let us = now.since(since.time).as_micros();
            count += 1;
            sum += us as u128;
            max = max.max(us);
        }
        (count, sum, max)
    }
}

impl Checker<TwoPhaseCommit> for TwoPhaseCommitChecker {
    const CHECKS: &'static [CheckInfo] = &[
        CheckInfo::new("atomicity", "no transaction commits at one participant and aborts at another"),
        CheckInfo::new(
            "no-commit-after-no",
            "no transaction that a participant voted no on is committed, by the coordinator or at a participant",
        ),
        CheckInfo::new(
            "agrees-with-coordinator",
            "no participant decides differently from the decision the coordinator logged",
        ),
        CheckInfo::new(
            "conservation",
            "money and stock are conserved: the holdings plus the legs of committed transactions not yet applied (and what committed orders took) always add up to the initial total",
        ),
        CheckInfo::new(
            "runs-once",
            "no transaction gets a new prepare round after its decision was logged: a transaction runs at most once",
        ),
        CheckInfo::new(
            "client-told-the-truth",
            "a client told ok has its transaction's commit in the coordinator's log, one told it failed has its abort there",
        ),
    ];
    const GAUGES: &'static [GaugeInfo] = &[GaugeInfo::new(
        "participants_in_doubt",
        Unit::Count,
        "participant-transaction pairs that voted yes and do not know the outcome yet (holding their locks)",
    )];
    const METRICS: &'static [MetricInfo] = &[
        MetricInfo::new("tx_committed", Unit::Count, "transactions the coordinator logged commit for"),
        MetricInfo::new("tx_aborted", Unit::Count, "transactions the coordinator logged abort for"),
        MetricInfo::new(
            "tx_latency_mean_ms",
            Unit::Ms,
            "mean time from the first prepare to the logged decision (left out when nothing was decided)",
        ),
        MetricInfo::new(
            "round_trips_mean",
            Unit::Count,
            "mean rounds (prepare, decision, re-sent decisions) of transactions every participant acknowledged (left out when none was)",
        ),
        MetricInfo::new("votes_no", Unit::Count, "no votes"),
        MetricInfo::new(
            "in_doubt_ms_mean",
            Unit::Ms,
            "mean time a participant held its locks between its yes vote and learning the outcome (open intervals up to the end; left out when nobody voted yes)",
        ),
        MetricInfo::new("in_doubt_ms_max", Unit::Ms, "the longest such time"),
        MetricInfo::new(
            "blocked",
            Unit::Count,
            "participant-transaction pairs still in doubt decision_timeout after the yes vote",
        ),
        MetricInfo::new(
            "in_doubt_at_end",
            Unit::Count,
            "participant-transaction pairs still in doubt at the end",
        ),
        MetricInfo::new(
            "decisions_resent",
            Unit::Count,
            "decision rounds after the first (lost messages, a recovered coordinator)",
        ),
        MetricInfo::new(
            "resolved_by_peers",
            Unit::Count,
            "in-doubt participants that learned the outcome from another participant (cooperative termination)",
        ),
        MetricInfo::new(
            "heuristic_decisions",
            Unit::Count,
            "participants that decided on their own after decision_timeout",
        ),
        MetricInfo::new(
            "tx_forgotten",
            Unit::Count,
            "finished transactions forgotten after retention, counted once per node that forgot them",
        ),
        MetricInfo::new(
            "too_old",
            Unit::Count,
            "messages about a transaction unknown to their node and older than retention: client told unknown, prepare or peer's question ignored, abort answered unlogged",
        ),
        MetricInfo::new(
            "imbalance",
            Unit::Money,
            "money created (positive) or destroyed (negative): balances plus parts in flight, minus the initial total",
        ),
        MetricInfo::new(
            "stock_imbalance",
            Unit::Count,
            "orders: stock created (positive) or destroyed (negative): stock plus parts in flight plus units reserved by committed orders, minus the initial stock",
        ),
        MetricInfo::new(
            "votes_no_insufficient_funds",
            Unit::Count,
            "orders: no votes of the payment participant, the customer's credit too low",
        ),
        MetricInfo::new(
            "votes_no_out_of_stock",
            Unit::Count,
            "orders: no votes of the inventory participant, the item's stock too low",
        ),
        MetricInfo::new(
            "votes_no_locked",
            Unit::Count,
            "orders: no votes because another prepared transaction held the lock (no-wait locking)",
        ),
        MetricInfo::new(
            "votes_no_other",
            Unit::Count,
            "orders: other no votes (vote_no_rate, already aborted)",
        ),
    ];

    fn new(params: &Params, cluster: &Cluster) -> Self {
        TwoPhaseCommitChecker {
            params: Arc::new(params.clone()),
            names: cluster.names.clone().into(),
            txs: IdMap::default(),
            atomicity: ViolationTracker::default(),
            no_commit_after_no: ViolationTracker::default(),
            agreement: ViolationTracker::default(),
            conservation: ViolationTracker::default(),
            told_the_truth: ViolationTracker::default(),
            runs_once: ViolationTracker::default(),
            told_ok: 0,
            told_fail: 0,
            applied: [0; 2],
            in_flight: [0; 2],
            imbalance: [0; 2],
            votes_no_by: BTreeMap::new(),
            committed: 0,
            aborted: 0,
            votes_no: 0,
            latency_sum_us: 0,
            rounds_sum: 0,
            ended: 0,
            resent: 0,
            resolved_by_peers: 0,
            heuristic: 0,
            forgotten: 0,
            too_old: 0,
            in_doubt: SmallMap::new(),
            in_doubt_closed: 0,
            in_doubt_sum_us: 0,
            in_doubt_max_us: 0,
            blocked: BTreeSet::new(),
            recently_settled: VecDeque::new(),
            long_ago: LongAgo::default(),
        }
    }

    fn on_observation(&mut self, at: At, node: NodeId, obs: &Observation) {
        match *obs {
            Observation::PrepareRound { tx, work } => {
                let r = record(&mut self.txs, &mut self.long_ago, tx);
                r.work = Some(work);
                r.started.get_or_insert(at.time);
                r.rounds += 1;
                if let Some(d) = r.logged {
                    // A decision is observed once on disk: a new round
                    // means the coordinator forgot it, and the transfer
                    // runs again. (Participants that forgot their outcome
                    // would apply it twice; this checker would take their
                    // second report for a restart's.)
                    let logged = logged_cause(tx, r);
                    self.runs_once.record_because(at, || {
                        (
                            format!(
                                "tx {tx} ran twice: a new prepare round after the coordinator logged {}",
                                name(d)
                            ),
                            logged
                                .into_iter()
                                .chain([Cause::new(at, format!("a new prepare round of tx {tx}"))])
                                .collect(),
                        )
                    });
                }
            }
            Observation::Voted { tx, vote } => self.on_voted(at, node, tx, vote),
            Observation::DecisionLogged { tx, decision, work } => self.on_logged(at, tx, decision, work),
            Observation::DecisionRound { tx, resend } => {
                record(&mut self.txs, &mut self.long_ago, tx).rounds += 1;
                if resend {
                    self.resent += 1;
                }
            }
            Observation::Ended { tx } => {
                let r = record(&mut self.txs, &mut self.long_ago, tx);
                if !r.ended {
                    r.ended = true;
                    self.ended += 1;
                    self.rounds_sum += r.rounds as u64;
                }
                self.settle(tx);
            }
            Observation::Blocked { tx } => {
                self.blocked.insert((node, tx));
            }
            Observation::Decided { tx, decision, learned, share } => {
                self.on_decided(at, node, tx, decision, learned, share)
            }
            Observation::Forgot { count } => self.forgotten += count as u64,
            Observation::TooOld { .. } => self.too_old += 1,
        }
    }

    /// A client heard its transfer's outcome: the coordinator must have
    /// logged that decision, and before telling it.
    fn on_history(&mut self, at: At, e: &TypedEvent<TwoPhaseCommit>) {
        if !matches!(e.op, TransferOp::Transfer { .. } | TransferOp::Order { .. }) {
            return;
        }
        let told = match e.kind {
            HistoryKind::Ok => Decision::Commit,
            HistoryKind::Fail => Decision::Abort,
            HistoryKind::Invoke | HistoryKind::Info => return,
        };
        match told {
            Decision::Commit => self.told_ok += 1,
            Decision::Abort => self.told_fail += 1,
        }
        // The transaction id is the idempotency key, which is the op id.
        let tx = e.op_id;
        record(&mut self.txs, &mut self.long_ago, tx).told = true;
        let record = self.txs.get(&tx);
        let logged = record.and_then(|r| r.logged);
        if logged != Some(told) {
            let log_cause = record.and_then(|r| logged_cause(tx, r));
            let heard = if told == Decision::Commit { "ok" } else { "that it failed" };
            let log = match logged {
                Some(d) => format!("the coordinator logged {}", name(d)),
                None => "the coordinator logged no decision".to_string(),
            };
            self.told_the_truth.record_because(at, || {
                (
                    format!("the client of tx {tx} was told {heard}, but {log}"),
                    log_cause
                        .into_iter()
                        .chain([Cause::of_op(at, e.op_id, format!("the client of tx {tx} was told {heard}"))])
                        .collect(),
                )
            });
        }
        self.settle(tx);
    }

    fn gauges(&self, _now: SimTime) -> Vec<(&'static str, f64)> {
        vec![("participants_in_doubt", self.in_doubt.len() as f64)]
    }

    fn all_hold(&self, _now: SimTime) -> bool {
        self.trackers().iter().all(|t| t.holds())
    }

    fn report(&self, now: SimTime) -> Report {
        let decided = self.committed + self.aborted;
        let mut r = Report::default();
        r.checks.push(self.atomicity.verdict(
            "atomicity",
            format!(
                "no transaction was half committed ({} committed, {} aborted)",
                self.committed, self.aborted
            ),
            violations,
        ));
        r.checks.push(self.no_commit_after_no.verdict(
            "no-commit-after-no",
            format!("{} no votes, none overruled", self.votes_no),
            violations,
        ));
        r.checks.push(self.agreement.verdict(
            "agrees-with-coordinator",
            format!("every participant decision matched the coordinator's log ({decided} decisions logged)"),
            violations,
        ));
        r.checks.push(self.conservation.verdict(
            "conservation",
            match self.params.workload() {
                WorkKind::Transfer => "the total balance never changed".to_string(),
                WorkKind::Order => {
                    "credit and stock, plus what committed orders took, never changed".to_string()
                }
            },
            violations,
        ));
        r.checks.push(self.runs_once.verdict(
            "runs-once",
            "no transaction was prepared again once decided".to_string(),
            violations,
        ));
        r.checks.push(self.told_the_truth.verdict(
            "client-told-the-truth",
            format!(
                "every client heard what the coordinator logged ({} ok, {} fail)",
                self.told_ok, self.told_fail
            ),
            violations,
        ));
        let (count, sum, max) = self.in_doubt_totals(now);
        // A mean of nothing is left out rather than shown as 0.
        let mut mean = |metric, sum: u128, n: u64, scale: f64| {
            if n > 0 {
                r.metrics.insert(metric, sum as f64 / n as f64 / scale);
            }
        };
        mean("tx_latency_mean_ms", self.latency_sum_us, decided, 1000.0);
        mean("round_trips_mean", self.rounds_sum as u128, self.ended, 1.0);
        mean("in_doubt_ms_mean", sum, count, 1000.0);
        r.metrics.insert("tx_committed", self.committed as f64);
        r.metrics.insert("tx_aborted", self.aborted as f64);
        r.metrics.insert("votes_no", self.votes_no as f64);
        r.metrics.insert("in_doubt_ms_max", max as f64 / 1000.0);
        r.metrics.insert("blocked", self.blocked.len() as f64);
        r.metrics.insert("in_doubt_at_end", self.in_doubt.len() as f64);
        r.metrics.insert("decisions_resent", self.resent as f64);
        r.metrics.insert("resolved_by_peers", self.resolved_by_peers as f64);
        r.metrics.insert("heuristic_decisions", self.heuristic as f64);
        r.metrics.insert("imbalance", self.imbalance[Conserved::Money as usize] as f64);
        if self.params.workload() == WorkKind::Order {
            r.metrics.insert("stock_imbalance", self.imbalance[Conserved::Stock as usize] as f64);
            for why in
                ["votes_no_insufficient_funds", "votes_no_out_of_stock", "votes_no_locked", "votes_no_other"]
            {
                r.metrics.insert(why, self.votes_no_by.get(why).copied().unwrap_or(0) as f64);
            }
        }
        r.metrics.insert("tx_forgotten", self.forgotten as f64);
        r.metrics.insert("too_old", self.too_old as f64);
        r
    }

    /// Liveness: no participant in doubt (holding locks), and every
    /// decision the coordinator logged acknowledged by every participant
    /// (the transaction ended). A transaction with no logged decision is
    /// aborted by presumption: nothing is left to do for it.
    fn pending(&self, _now: SimTime, _nodes: &[crate::sim::NodeSummary]) -> Vec<String> {
        let mut out: Vec<String> = self
            .in_doubt
            .iter()
            .map(|((n, tx), since)| {
                format!("{} is in doubt about tx {tx} since {}, holding its locks", self.node(*n), since.time)
            })
            .collect();
        for (tx, r) in self.txs.in_order() {
            if let Some(d) = r.logged.filter(|_| !r.ended) {
                out.push(format!(
                    "the coordinator's {} of tx {tx} is not acknowledged by every participant",
                    name(d)
                ));
            }
        }
        if out.len() > 10 {
            let more = out.len() - 10;
            out.truncate(10);
            out.push(format!("and {more} more"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    //! Each check fires on hand-made observations, and holds on a clean
    //! transaction.
    use super::*;
    use crate::protocols::two_phase_commit::params::Shop;
    use crate::protocols::two_phase_commit::{Holding, NoReason, Share, Termination, What};
    use crate::rng::Probability;
    use crate::time::SimDuration;

    const N1: NodeId = NodeId(0);
    const N2: NodeId = NodeId(1);
    const N3: NodeId = NodeId(2);
    /// 30 from a0 (on n2) to a1 (on n3).
    const T: Work = Work { what: What::Transfer { from: 0, to: 1, amount: 30 }, invoked_at_us: 0 };
    const DEBIT: Share = Share { holding: Holding::Account, debit: Some(0), credit: None, amount: 30 };
    const CREDIT: Share = Share { holding: Holding::Account, debit: None, credit: Some(1), amount: 30 };
    /// An order: 2 of item 1 for customer 0, charged 20 (payment on n2,
    /// inventory on n3).
    const O: Work = Work { what: What::Order { customer: 0, item: 1, qty: 2, charge: 20 }, invoked_at_us: 0 };
    const CHARGE: Share = Share { holding: Holding::Credit, debit: Some(0), credit: None, amount: 20 };
    const RESERVE: Share = Share { holding: Holding::Stock, debit: Some(1), credit: None, amount: 2 };

    fn checker() -> TwoPhaseCommitChecker {
        checker_with(None)
    }

    fn shop_checker() -> TwoPhaseCommitChecker {
        let shop =
            Shop { payment: N2, inventory: N3, credit: 100, stock: 5, items: 2, max_qty: 3, price: 10 };
        checker_with(Some(shop))
    }

    fn checker_with(shop: Option<Shop>) -> TwoPhaseCommitChecker {
        let params = Params {
            bug: None,
            coordinator: N1,
            participants: vec![N2, N3],
            initial_balance: 100,
            max_amount: 50,
            vote_no_rate: Probability::NEVER,
            prepare_timeout: SimDuration::from_millis(100),
            decision_timeout: SimDuration::from_millis(200),
            termination: Termination::Wait,
            retention: SimDuration::from_secs(3600),
            shop,
        };
        let cluster = Cluster {
            names: vec!["n1".into(), "n2".into(), "n3".into()],
            region_of: vec![0; 3],
            regions: vec!["default".into()],
        };
        TwoPhaseCommitChecker::new(&params, &cluster)
    }

    fn feed(c: &mut TwoPhaseCommitChecker, events: &[(NodeId, Observation)]) -> Report {
        for (i, (node, obs)) in events.iter().enumerate() {
            let at = At { step: i as u64, time: SimTime(i as u64 * 1000) };
            c.on_observation(at, *node, obs);
        }
        let now = SimTime(events.len() as u64 * 1000);
        let report = c.report(now);
        assert_eq!(report.checks.len(), c.trackers().len(), "a tracker per check");
        assert_eq!(c.all_hold(now), report.checks.iter().all(|v| v.holds), "all_hold agrees with the report");
        report
    }

    fn decided(tx: Tx, decision: Decision, share: Share) -> Observation {
        Observation::Decided { tx, decision, learned: Learned::Coordinator, share }
    }

    fn holding(r: &Report) -> Vec<&'static str> {
        r.checks.iter().filter(|v| v.holds).map(|v| v.name).collect()
    }

    /// A committed transfer, its halves applied one after the other: every
    /// check holds, including conservation between the two halves.
    #[test]
    fn a_clean_commit_holds() {
        let r = feed(
            &mut checker(),
            &[
                (N1, Observation::PrepareRound { tx: 1, work: T }),
                (N2, Observation::Voted { tx: 1, vote: Vote::Yes }),
                (N3, Observation::Voted { tx: 1, vote: Vote::Yes }),
                (N1, Observation::DecisionLogged { tx: 1, decision: Decision::Commit, work: T }),
                (N1, Observation::DecisionRound { tx: 1, resend: false }),
                (N2, decided(1, Decision::Commit, DEBIT)),
                (N3, decided(1, Decision::Commit, CREDIT)),
                (N1, Observation::Ended { tx: 1 }),
            ],
        );
        assert_eq!(holding(&r).len(), 6, "{:?}", r.checks);
        assert_eq!(r.metrics["round_trips_mean"], 2.0);
        assert_eq!(r.metrics["in_doubt_at_end"], 0.0);
        assert_eq!(r.metrics["imbalance"], 0.0);
    }

    /// An order committed, its charge and its reservation applied one
    /// after the other: money and stock are both conserved, each leg in
    /// flight until its participant applies it.
    #[test]
    fn an_order_conserves_money_and_stock() {
        let r = feed(
            &mut shop_checker(),
            &[
                (N1, Observation::PrepareRound { tx: 1, work: O }),
                (N2, Observation::Voted { tx: 1, vote: Vote::Yes }),
                (N3, Observation::Voted { tx: 1, vote: Vote::Yes }),
                (N1, Observation::DecisionLogged { tx: 1, decision: Decision::Commit, work: O }),
                (N2, decided(1, Decision::Commit, CHARGE)),
                (N3, decided(1, Decision::Commit, RESERVE)),
            ],
        );
        assert_eq!(holding(&r).len(), 6, "{:?}", r.checks);
        assert_eq!(r.metrics["imbalance"], 0.0);
        assert_eq!(r.metrics["stock_imbalance"], 0.0);
    }

    /// The inventory drops the reservation of a committed order (as a
    /// heuristic abort would): atomicity breaks, and the order holds 2
    /// units nobody gave up — stock created. Money stays conserved.
    #[test]
    fn an_order_half_applied_breaks_stock_conservation() {
        let r = feed(
            &mut shop_checker(),
            &[
                (N1, Observation::PrepareRound { tx: 1, work: O }),
                (N2, Observation::Voted { tx: 1, vote: Vote::Yes }),
                (N3, Observation::Voted { tx: 1, vote: Vote::Yes }),
                (N1, Observation::DecisionLogged { tx: 1, decision: Decision::Commit, work: O }),
                (N2, decided(1, Decision::Commit, CHARGE)),
                (N3, decided(1, Decision::Abort, RESERVE)),
            ],
        );
        let broke: Vec<&str> = r.checks.iter().filter(|v| !v.holds).map(|v| v.name).collect();
        assert_eq!(broke, ["atomicity", "agrees-with-coordinator", "conservation"]);
        assert_eq!(r.metrics["imbalance"], 0.0);
        assert_eq!(r.metrics["stock_imbalance"], 2.0);
        let conservation = r.checks.iter().find(|v| v.name == "conservation").unwrap();
        assert!(format!("{conservation:?}").contains("2 units of stock were created"), "{conservation:?}");
    }

    /// An order's no votes are counted by reason.
    #[test]
    fn order_no_votes_are_counted_by_reason() {
        let r = feed(
            &mut shop_checker(),
            &[
                (N1, Observation::PrepareRound { tx: 1, work: O }),
                (N3, Observation::Voted { tx: 1, vote: Vote::No(NoReason::OutOfStock) }),
                (N1, Observation::DecisionLogged { tx: 1, decision: Decision::Abort, work: O }),
                (N1, Observation::PrepareRound { tx: 2, work: O }),
                (N2, Observation::Voted { tx: 2, vote: Vote::No(NoReason::InsufficientFunds) }),
                (N3, Observation::Voted { tx: 2, vote: Vote::No(NoReason::Locked) }),
            ],
        );
        assert_eq!(r.metrics["votes_no_out_of_stock"], 1.0);
        assert_eq!(r.metrics["votes_no_insufficient_funds"], 1.0);
        assert_eq!(r.metrics["votes_no_locked"], 1.0);
        assert_eq!(holding(&r).len(), 6);
    }

    /// One participant commits, the other aborts: atomicity fires (and
    /// agreement, and conservation: the debit happened, the credit never
    /// will).
    #[test]
    fn atomicity_fires() {
        let r = feed(
            &mut checker(),
            &[
                (N1, Observation::DecisionLogged { tx: 1, decision: Decision::Commit, work: T }),
                (N2, decided(1, Decision::Commit, DEBIT)),
                (
                    N3,
                    Observation::Decided {
                        tx: 1,
                        decision: Decision::Abort,
                        learned: Learned::Heuristic,
                        share: CREDIT,
                    },
                ),
            ],
        );
        assert_eq!(holding(&r), ["no-commit-after-no", "runs-once", "client-told-the-truth"]);
        assert_eq!(r.metrics["imbalance"], -30.0);
        assert_eq!(r.metrics["heuristic_decisions"], 1.0);
    }

    /// The coordinator logs commit though a participant voted no.
    #[test]
    fn no_commit_after_no_fires() {
        let r = feed(
            &mut checker(),
            &[
                (N2, Observation::Voted { tx: 1, vote: Vote::No(NoReason::InsufficientFunds) }),
                (N1, Observation::DecisionLogged { tx: 1, decision: Decision::Commit, work: T }),
            ],
        );
        assert!(!r.verdict("no-commit-after-no").unwrap().holds);
        assert!(r.verdict("atomicity").unwrap().holds);
    }

    /// A participant decides before the coordinator logs the opposite.
    #[test]
    fn agreement_fires_in_either_order() {
        let r = feed(
            &mut checker(),
            &[
                (
                    N3,
                    Observation::Decided {
                        tx: 1,
                        decision: Decision::Abort,
                        learned: Learned::Unilateral,
                        share: CREDIT,
                    },
                ),
                (N1, Observation::DecisionLogged { tx: 1, decision: Decision::Commit, work: T }),
            ],
        );
        assert!(!r.verdict("agrees-with-coordinator").unwrap().holds);
        assert!(r.verdict("atomicity").unwrap().holds, "only one participant decided");
    }

    /// A participant applies a commit nobody logged: money appears.
    #[test]
    fn conservation_fires() {
        let r = feed(&mut checker(), &[(N3, decided(1, Decision::Commit, CREDIT))]);
        assert_eq!(
            holding(&r),
            [
                "atomicity",
                "no-commit-after-no",
                "agrees-with-coordinator",
                "runs-once",
                "client-told-the-truth"
            ]
        );
        assert_eq!(r.metrics["imbalance"], 30.0);
    }

    /// A client's answer for transaction `tx`.
    fn told(tx: Tx, kind: HistoryKind) -> TypedEvent<TwoPhaseCommit> {
        crate::sim::HistoryEvent {
            register: None,
            step: 50,
            time: SimTime(50_000),
            process: 0,
            client: 0,
            op_id: tx,
            kind,
            op: TransferOp::Transfer { from: 0, to: 1, amount: 30 },
            value: Default::default(),
            node: Some(N1),
        }
    }

    /// Clients told what the coordinator logged (ok for a commit, fail for
    /// an abort) keep client-told-the-truth; ok for an abort, or fail with
    /// no decision logged at all, break it.
    #[test]
    fn client_told_the_truth_fires() {
        let at = At { step: 50, time: SimTime(50_000) };
        let mut c = checker();
        feed(
            &mut c,
            &[
                (N1, Observation::DecisionLogged { tx: 1, decision: Decision::Abort, work: T }),
                (N1, Observation::DecisionLogged { tx: 2, decision: Decision::Commit, work: T }),
            ],
        );
        c.on_history(at, &told(1, HistoryKind::Invoke));
        c.on_history(at, &told(1, HistoryKind::Fail));
        c.on_history(at, &told(2, HistoryKind::Ok));
        c.on_history(at, &told(4, HistoryKind::Info));
        let v = c.report(SimTime(60_000)).verdict("client-told-the-truth").unwrap().clone();
        assert!(v.holds, "{}", v.detail);
        assert!(v.detail.ends_with("(1 ok, 1 fail)"), "{}", v.detail);
        assert!(c.all_hold(SimTime(60_000)));

        let mut lied = c.clone();
        lied.on_history(at, &told(1, HistoryKind::Ok));
        let v = lied.report(SimTime(60_000)).verdict("client-told-the-truth").unwrap().clone();
        assert!(!v.holds);
        assert!(!lied.all_hold(SimTime(60_000)), "all_hold hears the history too");
        assert!(v.detail.contains("tx 1 was told ok, but the coordinator logged abort"), "{}", v.detail);
        assert_eq!(v.first_violation, Some(at));

        c.on_history(at, &told(3, HistoryKind::Fail));
        let v = c.report(SimTime(60_000)).verdict("client-told-the-truth").unwrap().clone();
        assert!(!v.holds);
        assert!(v.detail.contains("tx 3 was told that it failed, but the coordinator logged no decision"));
        assert_eq!(holding(&c.report(SimTime(60_000))).len(), 5, "the other checks read no history");
    }

    /// A prepare round for a transaction whose decision is logged — the
    /// coordinator forgot it and ran it again — breaks runs-once; rounds
    /// before the decision (a recovered coordinator's new round) do not.
    #[test]
    fn a_second_run_fires() {
        let round = (N1, Observation::PrepareRound { tx: 1, work: T });
        let logged = (N1, Observation::DecisionLogged { tx: 1, decision: Decision::Commit, work: T });
        let r = feed(&mut checker(), &[round.clone(), round.clone(), logged.clone()]);
        assert!(r.verdict("runs-once").unwrap().holds);
        let r = feed(&mut checker(), &[round.clone(), logged, round]);
        let v = r.verdict("runs-once").unwrap();
        assert!(!v.holds);
        assert!(
            v.detail.starts_with("tx 1 ran twice: a new prepare round after the coordinator logged commit")
        );
        assert_eq!(holding(&r).len(), 5, "only runs-once: {:?}", r.checks);
    }

    /// A run in which no transaction ended reports no `round_trips_mean`
    /// (nor other means of nothing) rather than a misleading 0.
    #[test]
    fn means_of_nothing_are_left_out() {
        let r = feed(&mut checker(), &[(N1, Observation::PrepareRound { tx: 1, work: T })]);
        for metric in ["round_trips_mean", "tx_latency_mean_ms", "in_doubt_ms_mean"] {
            assert!(!r.metrics.contains_key(metric), "{metric}");
        }
        assert_eq!(r.metrics["tx_committed"], 0.0);
    }

    /// What a restarted node reports again from its disk is not counted
    /// twice; a yes vote still open is in doubt at the end, and counts its
    /// time up to the end.
    #[test]
    fn reports_after_a_restart_are_idempotent() {
        let logged = Observation::DecisionLogged { tx: 1, decision: Decision::Commit, work: T };
        let r = feed(
            &mut checker(),
            &[
                (N3, Observation::Voted { tx: 2, vote: Vote::Yes }),
                (N1, logged.clone()),
                (N2, decided(1, Decision::Commit, DEBIT)),
                (N1, logged),
                (
                    N2,
                    Observation::Decided {
                        tx: 1,
                        decision: Decision::Commit,
                        learned: Learned::Disk,
                        share: DEBIT,
                    },
                ),
                (N2, Observation::Voted { tx: 1, vote: Vote::Yes }),
            ],
        );
        assert_eq!(holding(&r).len(), 6, "{:?}", r.checks);
        assert_eq!(r.metrics["tx_committed"], 1.0);
        assert_eq!(r.metrics["imbalance"], 0.0, "the credit is in flight to n3");
        assert_eq!(r.metrics["in_doubt_at_end"], 1.0, "n3 on tx 2; n2's late report on tx 1 opens nothing");
        assert_eq!(r.metrics["in_doubt_ms_max"], 6.0);
    }

    /// A transaction settled long ago keeps three bits, and a late report
    /// on it is judged as if it were kept in full: a participant that
    /// reports its decision again is fine, one that reports the opposite
    /// breaks atomicity, and a new prepare round breaks runs-once.
    #[test]
    fn a_forgotten_transaction_is_still_judged() {
        let at = At { step: 100, time: SimTime(100_000) };
        let settled = |c: &mut TwoPhaseCommitChecker, tx: Tx| {
            feed(
                c,
                &[
                    (N1, Observation::PrepareRound { tx, work: T }),
                    (N2, Observation::Voted { tx, vote: Vote::Yes }),
                    (N3, Observation::Voted { tx, vote: Vote::Yes }),
                    (N1, Observation::DecisionLogged { tx, decision: Decision::Commit, work: T }),
                    (N2, decided(tx, Decision::Commit, DEBIT)),
                    (N3, decided(tx, Decision::Commit, CREDIT)),
                    (N1, Observation::Ended { tx }),
                ],
            );
            c.on_history(at, &told(tx, HistoryKind::Ok));
        };
        let mut c = checker();
        for tx in 1..=RECENTLY_SETTLED as u64 + 2 {
            settled(&mut c, tx);
        }
        assert!(c.long_ago.contains(1) && c.long_ago.contains(2) && !c.txs.contains_key(&1));
        assert_eq!(c.txs.len(), RECENTLY_SETTLED, "only the latest are kept in full");

        let again = |d| Observation::Decided { tx: 1, decision: d, learned: Learned::Disk, share: DEBIT };
        c.on_observation(at, N2, &again(Decision::Commit));
        c.on_observation(at, N2, &Observation::Voted { tx: 1, vote: Vote::Yes });
        let r = c.report(SimTime(200_000));
        assert_eq!(holding(&r).len(), 6, "{:?}", r.checks);
        assert_eq!(r.metrics["tx_committed"], RECENTLY_SETTLED as f64 + 2.0, "counted once");
        assert_eq!(r.metrics["in_doubt_at_end"], 0.0, "n2 decided tx 1 long ago");

        let mut flipped = c.clone();
        flipped.on_observation(at, N2, &again(Decision::Abort));
        let v = flipped.report(SimTime(200_000)).verdict("atomicity").unwrap().clone();
        assert!(!v.holds);
        assert!(v.detail.starts_with("n2 decided tx 1 twice: commit then abort"), "{}", v.detail);

        let mut rerun = c.clone();
        rerun.on_observation(at, N1, &Observation::PrepareRound { tx: 2, work: T });
        let v = rerun.report(SimTime(200_000)).verdict("runs-once").unwrap().clone();
        assert!(!v.holds);
        assert!(v.detail.starts_with("tx 2 ran twice"), "{}", v.detail);
    }
}
