//! The checks of quorum replication.
//!
//! Freshness is judged by real (simulated) time, not by the protocol's own
//! versions: a read is stale when it returns a value whose write had
//! *finished* before another write to the key *began* — that other write
//! being acknowledged before the read began. (Concurrent writes may be
//! returned in either order.) A client writes a unique value, its
//! operation id, so a value names its write and that write's times. Clock
//! skew, which bends the versions, cannot hide a stale read from this.
//!
//! "Before" is the history's order, as in the linearizability checker:
//! events in one microsecond are still ordered (one process's write that
//! completes and its next operation, invoked in the same microsecond, are
//! not concurrent).
//!
//! # Cost
//! Per key the checker keeps the acknowledged write that *began* last, and
//! a read remembers it when it is invoked. A read is stale exactly when it
//! returns nothing while such a write exists, or a value acknowledged
//! before that write began (any other write acknowledged before the read
//! began started earlier still, so it supersedes the value read only if
//! this one does). Each event costs a map lookup: O(n log n) for n events.
//!
//! # Memory
//! Flat as a run grows, but for one bit per operation. A write is kept
//! while a read could still fairly return it. Once it was acknowledged
//! before the latest acknowledged write to its key began, and before the
//! newest write every open read of the key remembers began, every read
//! still to come back — open or not yet invoked — is stale if it returns
//! it: the checker *settles* it, keeping only one bit (its value is its
//! operation id). A read that returns a settled write is a violation
//! either way, stale or (if the write was to another key, which the bit
//! no longer says) from the wrong key. Writes never acknowledged (failed,
//! or unknown) are kept: any read may return them.

use super::{Observation, Params, Quorum};
use crate::nodes::{Cluster, Key, KvOp, NodeId, Value};
use crate::sim::monitor::{CheckInfo, IdBits, MetricInfo, Unit, ViolationTracker};
use crate::sim::{At, Cause, Checker, HistoryKind, Report, TypedEvent};
use crate::time::SimTime;
use crate::util::VecMap;
use std::collections::{BTreeMap, VecDeque};

/// How many settled writes the checker keeps in full.
const RECENTLY_SETTLED: usize = 4096;

/// A moment of the history: its position in history order (which orders
/// events in one microsecond) and its time, for explanations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Moment {
    order: u64,
    time: SimTime,
    /// The engine's step (for the evidence of a stale read).
    step: u64,
}

impl Moment {
    fn at(self) -> At {
        At { step: self.step, time: self.time }
    }
}

/// A client's write: its key, when it was invoked, and when it was
/// acknowledged (`None`: not, or not yet).
#[derive(Clone, Copy, Debug)]
struct Write {
    key: Key,
    /// The client operation.
    op: u64,
    invoked: Moment,
    acked: Option<Moment>,
}

/// Of the writes to a key acknowledged so far, the one invoked last.
#[derive(Clone, Copy, Debug)]
struct LatestBegun {
    value: Value,
    invoked: Moment,
    /// Its client operation, and when it was acknowledged.
    op: u64,
    acked: Moment,
}

#[derive(Clone, Debug, Default)]
pub struct QuorumChecker {
    /// History events seen so far: the next event's position.
    events: u64,
    /// Writes a read could still fairly return, by value.
    writes: VecMap<Value, Write>,
    /// Writes settled as superseded for every read to come (see
    /// "Memory"): a bit per value.
    settled: IdBits,
    /// The latest [`RECENTLY_SETTLED`] settled writes in full, oldest
    /// first: a stale read mostly returns one of them, and its report
    /// then names the write's key and acknowledgement.
    recently_settled: VecDeque<(Value, Write)>,
    /// Per key: the acknowledged writes still in `writes`, by the position
    /// of their acknowledgement.
    acked_live: BTreeMap<Key, BTreeMap<u64, Value>>,
    /// Per key: how many open reads remember a write begun at each
    /// position (0: none acknowledged yet).
    open_floor: BTreeMap<Key, BTreeMap<u64, u32>>,
    /// Per key: of the acknowledged writes, the one invoked last.
    latest_acked: VecMap<Key, LatestBegun>,
    /// Open reads: op id → when the read was invoked, and what
    /// `latest_acked` held for the key then.
    reads: VecMap<u64, (Moment, Option<LatestBegun>)>,
    /// Stale reads: the first, and how many.
    stale: ViolationTracker,
    reads_ok: u64,
    completed: u64,
    completed_ok: u64,
    unavailable: u64,
    repairs: u64,
    handoffs: u64,
    hinted_stores: u64,
    overlap: bool,
    names: std::sync::Arc<[String]>,
}

impl QuorumChecker {
    /// Why a read of `key` returning `value` is stale, given the
    /// acknowledged write invoked last before the read began, if it is.
    /// The write of `value`, if the checker still knows it in full.
    fn write_of(&self, value: Value) -> Option<&Write> {
        self.writes
            .get(&value)
            .or_else(|| self.recently_settled.iter().rev().find(|(v, _)| *v == value).map(|(_, w)| w))
    }

    fn staleness(&self, key: Key, before: Option<LatestBegun>, value: Option<Value>) -> Option<String> {
        let seen = value.map(|v| (v, self.write_of(v)));
        if let Some((v, Some(w))) = seen
            && w.key != key
        {
            return Some(format!("returned {v}, a value written to k{}", w.key));
        }
        if let Some((v, None)) = seen
            && self.settled.contains(v)
        {
            let newer =
                before.map_or(String::new(), |n| format!(", acknowledged before write {} began", n.value));
            return Some(format!("returned {v}, an old write{newer} (or one to another key)"));
        }
        let newer = before?;
        let superseded = match seen {
            None => true,
            Some((v, _)) if v == newer.value => false,
            // The value read was acknowledged before the newer write began.
            Some((_, Some(w))) => w.acked.is_some_and(|done| done < newer.invoked),
            Some((_, None)) => false,
        };
        superseded.then(|| {
            let shown = value.map_or("nothing".to_string(), |v| v.to_string());
            format!(
                "returned {shown}, but write {} (begun at {}) was acknowledged before the read began",
                newer.value, newer.invoked.time
            )
        })
    }

    /// Settles the acknowledged writes to `key` that every read to come
    /// back would be stale to return: acknowledged before the latest
    /// acknowledged write began, and before the write each open read
    /// remembers began.
    fn settle(&mut self, key: Key) {
        let Some(latest) = self.latest_acked.get(&key) else { return };
        let oldest_open = self.open_floor.get(&key).and_then(|f| f.first_key_value()).map(|(&o, _)| o);
        let bound = oldest_open.map_or(latest.invoked.order, |o| o.min(latest.invoked.order));
        let Some(live) = self.acked_live.get_mut(&key) else { return };
        while let Some(entry) = live.first_entry() {
            if *entry.key() >= bound {
                break;
            }
            let value = entry.remove();
            if let Some(w) = self.writes.remove(&value) {
                if self.recently_settled.len() == RECENTLY_SETTLED {
                    self.recently_settled.pop_front();
                }
                self.recently_settled.push_back((value, w));
            }
            self.settled.insert(value);
        }
    }

    /// A read of `key` that remembered `before` is no longer open.
    fn close_read(&mut self, key: Key, before: Option<LatestBegun>) {
        let floor = before.map_or(0, |b| b.invoked.order);
        if let Some(f) = self.open_floor.get_mut(&key)
            && let Some(n) = f.get_mut(&floor)
        {
            *n -= 1;
            if *n == 0 {
                f.remove(&floor);
            }
        }
        self.settle(key);
    }
}

impl Checker<Quorum> for QuorumChecker {
    const CHECKS: &'static [CheckInfo] = &[CheckInfo::new(
        "fresh-reads",
        "no read returns a value older than a write acknowledged before the read began (in real time)",
    )];
    const METRICS: &'static [MetricInfo] = &[
        MetricInfo::new(
            "stale_reads",
            Unit::Count,
            "reads older than a write acknowledged before they began",
        ),
        MetricInfo::new(
            "stale_read_rate",
            Unit::Ratio,
            "stale reads as a fraction of the reads that completed ok (0 when none did)",
        ),
        MetricInfo::new("availability", Unit::Ratio, "fraction of completed client operations that were ok"),
        MetricInfo::new("unavailable", Unit::Count, "coordinations that gave up: too few replicas answered"),
        MetricInfo::new(
            "read_repairs",
            Unit::Count,
            "repair rounds: reads (or late replies) that sent newer values to stale replicas",
        ),
        MetricInfo::new("hinted_stores", Unit::Count, "writes a stand-in took for an unreachable replica"),
        MetricInfo::new("handoffs", Unit::Count, "hinted values handed back to their replica"),
        MetricInfo::new(
            "quorums_overlap",
            Unit::Flag,
            "1 when every read quorum meets every write quorum (r + w > n, no sloppy or local quorum), else 0",
        ),
    ];

    fn new(p: &Params, cluster: &Cluster) -> Self {
        QuorumChecker {
            overlap: p.quorums_overlap(),
            names: cluster.names.clone().into(),
            ..Default::default()
        }
    }

    fn on_observation(&mut self, _at: At, _node: NodeId, obs: &Observation) {
        match *obs {
            Observation::Versioned { .. } => {}
            Observation::Stored { hinted: true, .. } => self.hinted_stores += 1,
            Observation::Stored { .. } => {}
            Observation::Repaired { .. } => self.repairs += 1,
            Observation::HandedOff { .. } => self.handoffs += 1,
            Observation::Unavailable { .. } => self.unavailable += 1,
        }
    }

    fn on_history(&mut self, at: At, e: &TypedEvent<Quorum>) {
        let now = Moment { order: self.events, time: e.time, step: at.step };
        self.events += 1;
        if e.kind != HistoryKind::Invoke {
            self.completed += 1;
        }
        match (e.kind, e.op) {
            (HistoryKind::Invoke, KvOp::Write { key, value }) => {
                self.writes.insert(value, Write { key, op: e.op_id, invoked: now, acked: None });
            }
            (HistoryKind::Invoke, KvOp::Read { key }) => {
                let before = self.latest_acked.get(&key).copied();
                *self
                    .open_floor
                    .entry(key)
                    .or_default()
                    .entry(before.map_or(0, |b| b.invoked.order))
                    .or_default() += 1;
                self.reads.insert(e.op_id, (now, before));
            }
            (HistoryKind::Ok, KvOp::Write { key, value }) => {
                self.completed_ok += 1;
                let Some(w) = self.writes.get_mut(&value) else { return };
                w.acked = Some(now);
                let this = LatestBegun { value, invoked: w.invoked, op: w.op, acked: now };
                let latest = self.latest_acked.or_insert(key, this);
                if latest.invoked < this.invoked {
                    *latest = this;
                }
                self.acked_live.entry(key).or_default().insert(now.order, value);
                self.settle(key);
            }
            (HistoryKind::Ok, KvOp::Read { key }) => {
                self.completed_ok += 1;
                self.reads_ok += 1;
                let Some((began, before)) = self.reads.remove(&e.op_id) else { return };
                let stale = self.staleness(key, before, e.value.as_value());
                self.close_read(key, before);
                if let Some(why) = stale {
                    let node = e.node.map_or("?", |n| self.names[n.index()].as_str());
                    let read = e.op_id;
                    let value = e.value.as_value();
                    let read_write = value.and_then(|v| self.write_of(v).map(|w| (v, *w)));
                    self.stale.record_because(at, || {
                        let shown = value.map_or("nothing".to_string(), |v| v.to_string());
                        let mut causes = Vec::new();
                        // The write whose value was read, when it was acknowledged.
                        if let Some(w) = read_write
                            && let (v, Write { acked: Some(acked), op, key: k, .. }) = w
                        {
                            causes.push(Cause::of_op(
                                acked.at(),
                                op,
                                format!("write {v} to k{k} was acknowledged"),
                            ));
                        }
                        if let Some(newer) = before {
                            causes.push(Cause::of_op(
                                newer.invoked.at(),
                                newer.op,
                                format!("write {} to k{key} began", newer.value),
                            ));
                            causes.push(Cause::of_op(
                                newer.acked.at(),
                                newer.op,
                                format!("write {} to k{key} was acknowledged", newer.value),
                            ));
                        }
                        causes.push(Cause::of_op(began.at(), read, format!("a read of k{key} began")));
                        causes.push(Cause::of_op(
                            at,
                            read,
                            format!("the read returned {shown} (coordinated by {node})"),
                        ));
                        (format!("a read of k{key} coordinated by {node} {why}"), causes)
                    });
                }
            }
            (_, KvOp::Read { key }) => {
                if let Some((_, before)) = self.reads.remove(&e.op_id) {
                    self.close_read(key, before);
                }
            }
            _ => {}
        }
    }

    /// The report's one check is `fresh-reads`.
    fn all_hold(&self, _now: SimTime) -> bool {
        self.stale.holds()
    }

    fn report(&self, _now: SimTime) -> Report {
        let mut r = Report::default();
        r.checks.push(self.stale.verdict(
            "fresh-reads",
            match self.reads_ok {
                1 => "the one read was fresh".to_string(),
                n => format!("all {n} reads were fresh"),
            },
            |stale| Some(format!("{stale} stale reads of {}", self.reads_ok)),
        ));
        let stale_reads = self.stale.count();
        r.metrics.insert("stale_reads", stale_reads as f64);
        r.metrics.insert(
            "stale_read_rate",
            if self.reads_ok == 0 { 0.0 } else { stale_reads as f64 / self.reads_ok as f64 },
        );
        // Of the operations that completed (still-open ones at the end of
        // the run are neither available nor unavailable).
        r.metrics.insert(
            "availability",
            if self.completed == 0 { 1.0 } else { self.completed_ok as f64 / self.completed as f64 },
        );
        r.metrics.insert("unavailable", self.unavailable as f64);
        r.metrics.insert("read_repairs", self.repairs as f64);
        r.metrics.insert("hinted_stores", self.hinted_stores as f64);
        r.metrics.insert("handoffs", self.handoffs as f64);
        r.metrics.insert("quorums_overlap", if self.overlap { 1.0 } else { 0.0 });
        r
    }

    /// Liveness: no coordination still open, and no stand-in still holding
    /// hints (read from the nodes' views). Replicas need not agree: with
    /// no anti-entropy, a replica that missed a write keeps its old value
    /// until a read repairs it.
    fn pending(&self, _now: SimTime, nodes: &[crate::sim::NodeSummary]) -> Vec<String> {
        let mut out = Vec::new();
        for n in nodes {
            let Some(view) = &n.view else { continue };
            for s in &view.sections {
                let rows: Vec<String> = s.rows.iter().map(|(label, _)| label.clone()).collect();
                match s.title.as_str() {
                    "hints" if !rows.is_empty() => out.push(format!(
                        "{} still holds {} hint(s): {}",
                        n.name,
                        rows.len(),
                        rows.join(", ")
                    )),
                    "coordinating" if !rows.is_empty() => out.push(format!(
                        "{} still coordinates {} request(s): {}",
                        n.name,
                        rows.len(),
                        rows.join(", ")
                    )),
                    _ => {}
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nodes::KvAnswer;

    fn event(step: u64, op_id: u64, kind: HistoryKind, op: KvOp, value: Option<Value>) -> TypedEvent<Quorum> {
        crate::sim::HistoryEvent {
            register: None,
            step,
            time: SimTime(step * 1000),
            process: 0,
            client: 0,
            op_id,
            kind,
            op,
            value: value.map_or(KvAnswer::None, KvAnswer::Value),
            node: Some(NodeId(0)),
        }
    }

    fn feed(
        c: &mut QuorumChecker,
        step: &mut u64,
        op_id: u64,
        kind: HistoryKind,
        op: KvOp,
        value: Option<Value>,
    ) {
        *step += 1;
        c.on_history(At { step: *step, time: SimTime(*step * 1000) }, &event(*step, op_id, kind, op, value));
    }

    fn checker() -> QuorumChecker {
        QuorumChecker { names: vec!["n1".into()].into(), ..Default::default() }
    }

    /// One write after another to k0, each acknowledged before the next
    /// begins: all but the latest are settled, so the checker holds a
    /// bounded number of writes however long the run — and a read that
    /// returns a settled write long after is still stale, with its key
    /// and acknowledgement named while the write is recent.
    #[test]
    fn settled_writes_are_forgotten_and_still_judged() {
        let mut c = checker();
        let mut step = 0;
        for op in 1..=10_000 {
            feed(&mut c, &mut step, op, HistoryKind::Invoke, KvOp::Write { key: 0, value: op }, None);
            feed(&mut c, &mut step, op, HistoryKind::Ok, KvOp::Write { key: 0, value: op }, None);
        }
        assert!(c.writes.len() <= 2, "{} writes kept", c.writes.len());
        assert_eq!(c.recently_settled.len(), RECENTLY_SETTLED);

        // A recent settled write: named in full.
        feed(&mut c, &mut step, 20_001, HistoryKind::Invoke, KvOp::Read { key: 0 }, None);
        feed(&mut c, &mut step, 20_001, HistoryKind::Ok, KvOp::Read { key: 0 }, Some(9_990));
        let v = c.report(SimTime(0)).verdict("fresh-reads").unwrap().clone();
        assert!(!v.holds);
        assert!(v.detail.contains("returned 9990, but write 10000"), "{}", v.detail);
        assert!(v.causes.iter().any(|c| c.what == "write 9990 to k0 was acknowledged"), "{:?}", v.causes);

        // One settled long ago: still stale, said without its key.
        let mut old = checker();
        let mut step = 0;
        for op in 1..=10_000 {
            feed(&mut old, &mut step, op, HistoryKind::Invoke, KvOp::Write { key: 0, value: op }, None);
            feed(&mut old, &mut step, op, HistoryKind::Ok, KvOp::Write { key: 0, value: op }, None);
        }
        feed(&mut old, &mut step, 20_001, HistoryKind::Invoke, KvOp::Read { key: 0 }, None);
        feed(&mut old, &mut step, 20_001, HistoryKind::Ok, KvOp::Read { key: 0 }, Some(3));
        let v = old.report(SimTime(0)).verdict("fresh-reads").unwrap().clone();
        assert!(!v.holds);
        assert!(
            v.detail.contains("returned 3, an old write, acknowledged before write 10000 began"),
            "{}",
            v.detail
        );
    }

    /// An open read pins what it may fairly return: writes acknowledged
    /// after the write it remembers began are kept until it is answered.
    #[test]
    fn an_open_read_keeps_the_writes_it_may_return() {
        let mut c = checker();
        let mut step = 0;
        feed(&mut c, &mut step, 1, HistoryKind::Invoke, KvOp::Write { key: 0, value: 1 }, None);
        feed(&mut c, &mut step, 1, HistoryKind::Ok, KvOp::Write { key: 0, value: 1 }, None);
        // The read begins: it may return 1 or anything newer.
        feed(&mut c, &mut step, 100, HistoryKind::Invoke, KvOp::Read { key: 0 }, None);
        for op in 2..=50 {
            feed(&mut c, &mut step, op, HistoryKind::Invoke, KvOp::Write { key: 0, value: op }, None);
            feed(&mut c, &mut step, op, HistoryKind::Ok, KvOp::Write { key: 0, value: op }, None);
        }
        assert!(c.writes.contains_key(&1), "the open read may still return write 1");
        feed(&mut c, &mut step, 100, HistoryKind::Ok, KvOp::Read { key: 0 }, Some(1));
        assert!(c.report(SimTime(0)).verdict("fresh-reads").unwrap().holds);
        assert!(c.writes.len() <= 2, "answered: {} writes kept", c.writes.len());
    }

    /// A read of k1 that returns a write to k0 is from the wrong key, and
    /// says so while the write is known in full.
    #[test]
    fn a_value_of_another_key_is_named() {
        let mut c = checker();
        let mut step = 0;
        feed(&mut c, &mut step, 1, HistoryKind::Invoke, KvOp::Write { key: 0, value: 1 }, None);
        feed(&mut c, &mut step, 1, HistoryKind::Ok, KvOp::Write { key: 0, value: 1 }, None);
        feed(&mut c, &mut step, 2, HistoryKind::Invoke, KvOp::Read { key: 1 }, None);
        feed(&mut c, &mut step, 2, HistoryKind::Ok, KvOp::Read { key: 1 }, Some(1));
        let v = c.report(SimTime(0)).verdict("fresh-reads").unwrap().clone();
        assert!(v.detail.contains("a value written to k0"), "{}", v.detail);
    }
}
