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
//! Linear in the history: per key the checker keeps only the acknowledged
//! write that *began* last, and a read remembers it when it is invoked. A
//! read is stale exactly when it returns nothing while such a write
//! exists, or a value acknowledged before that write began (any other
//! write acknowledged before the read began started earlier still, so it
//! supersedes the value read only if this one does). Each event costs a
//! map lookup: O(n log n) for n events.

use super::{Observation, Params, Quorum};
use crate::nodes::{Cluster, Key, KvOp, NodeId, Value};
use crate::sim::monitor::{CheckInfo, MetricInfo, Unit, ViolationTracker};
use crate::sim::{At, Cause, Checker, HistoryKind, Report, TypedEvent};
use crate::time::SimTime;
use std::collections::BTreeMap;

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
    writes: BTreeMap<Value, Write>,
    /// Per key: of the acknowledged writes, the one invoked last.
    latest_acked: BTreeMap<Key, LatestBegun>,
    /// Open reads: op id → when the read was invoked, and what
    /// `latest_acked` held for the key then.
    reads: BTreeMap<u64, (Moment, Option<LatestBegun>)>,
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
    names: Vec<String>,
}

impl QuorumChecker {
    /// Why a read of `key` returning `value` is stale, given the
    /// acknowledged write invoked last before the read began, if it is.
    fn staleness(&self, key: Key, before: Option<LatestBegun>, value: Option<Value>) -> Option<String> {
        let seen = value.map(|v| (v, self.writes.get(&v)));
        if let Some((v, Some(w))) = seen
            && w.key != key
        {
            return Some(format!("returned {v}, a value written to k{}", w.key));
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
        QuorumChecker { overlap: p.quorums_overlap(), names: cluster.names.clone(), ..Default::default() }
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
                self.reads.insert(e.op_id, (now, self.latest_acked.get(&key).copied()));
            }
            (HistoryKind::Ok, KvOp::Write { key, value }) => {
                self.completed_ok += 1;
                let Some(w) = self.writes.get_mut(&value) else { return };
                w.acked = Some(now);
                let this = LatestBegun { value, invoked: w.invoked, op: w.op, acked: now };
                let latest = self.latest_acked.entry(key).or_insert(this);
                if latest.invoked < this.invoked {
                    *latest = this;
                }
            }
            (HistoryKind::Ok, KvOp::Read { key }) => {
                self.completed_ok += 1;
                self.reads_ok += 1;
                let Some((began, before)) = self.reads.remove(&e.op_id) else { return };
                if let Some(why) = self.staleness(key, before, e.value.as_value()) {
                    let node = e.node.map_or("?", |n| self.names[n.index()].as_str());
                    let writes = &self.writes;
                    let read = e.op_id;
                    let value = e.value.as_value();
                    self.stale.record_because(at, || {
                        let shown = value.map_or("nothing".to_string(), |v| v.to_string());
                        let mut causes = Vec::new();
                        // The write whose value was read, when it was acknowledged.
                        if let Some(w) = value.and_then(|v| writes.get(&v).map(|w| (v, w)))
                            && let (v, Write { acked: Some(acked), op, key: k, .. }) = w
                        {
                            causes.push(Cause::of_op(
                                acked.at(),
                                *op,
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
            (_, KvOp::Read { .. }) => {
                self.reads.remove(&e.op_id);
            }
            _ => {}
        }
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
