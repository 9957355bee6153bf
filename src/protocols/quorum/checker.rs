//! The checks of quorum replication.
//!
//! Freshness is judged by real (simulated) time, not by the protocol's own
//! versions: a read is stale when it returns a value whose write had
//! *finished* before another write to the key *began* — that other write
//! being acknowledged before the read began. (Concurrent writes may be
//! returned in either order.) A client writes a unique value, its
//! operation id, so a value names its write and that write's times. Clock
//! skew, which bends the versions, cannot hide a stale read from this.

use super::{Observation, Params, Quorum};
use crate::check::{At, Checker, HistoryEvent, HistoryKind, Report, Verdict};
use crate::nodes::{Cluster, Key, NodeId, Operation, Value};
use crate::sim::time::SimTime;
use std::collections::BTreeMap;

/// A client's write: its key, when it was invoked, and when it was
/// acknowledged (`None`: not, or not yet).
#[derive(Clone, Copy, Debug)]
struct Write {
    key: Key,
    invoked: SimTime,
    acked: Option<SimTime>,
}

#[derive(Clone, Debug, Default)]
pub struct QuorumChecker {
    writes: BTreeMap<Value, Write>,
    /// Per key: acknowledged writes as (ack time, value).
    acked: BTreeMap<Key, Vec<(SimTime, Value)>>,
    /// Open reads: op id → invoke time.
    reads: BTreeMap<u64, SimTime>,
    stale_reads: u64,
    first_stale: Option<(At, String)>,
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
    /// Why the read of `key` (invoked at `invoked`) returning `value` is
    /// stale, if it is.
    fn staleness(&self, key: Key, invoked: SimTime, value: Option<Value>) -> Option<String> {
        let seen = value.map(|v| (v, self.writes.get(&v)));
        if let Some((v, Some(w))) = seen
            && w.key != key
        {
            return Some(format!("returned {v}, a value written to k{}", w.key));
        }
        let before: Vec<Value> = self
            .acked
            .get(&key)
            .into_iter()
            .flatten()
            .filter(|(t, _)| *t < invoked)
            .map(|(_, v)| *v)
            .collect();
        for newer in before {
            let n = &self.writes[&newer];
            let superseded = match seen {
                None => true,
                Some((v, _)) if v == newer => false,
                // The value read was acknowledged before the newer write began.
                Some((_, Some(w))) => w.acked.is_some_and(|done| done < n.invoked),
                Some((_, None)) => false,
            };
            if superseded {
                let shown = value.map_or("nothing".to_string(), |v| v.to_string());
                return Some(format!(
                    "returned {shown}, but write {newer} (begun at {}) was acknowledged before the read began",
                    n.invoked
                ));
            }
        }
        None
    }
}

impl Checker<Quorum> for QuorumChecker {
    const CHECKS: &'static [(&'static str, &'static str)] = &[(
        "fresh-reads",
        "no read returns a value older than a write acknowledged before the read began (in real time)",
    )];
    const METRICS: &'static [(&'static str, &'static str)] = &[
        ("stale_reads", "reads older than a write acknowledged before they began"),
        ("stale_read_rate", "stale reads as a fraction of the reads that completed ok (0 when none did)"),
        ("availability", "fraction of completed client operations that were ok"),
        ("unavailable", "coordinations that gave up: too few replicas answered"),
        ("read_repairs", "repair rounds: reads (or late replies) that sent newer values to stale replicas"),
        ("hinted_stores", "writes a stand-in took for an unreachable replica"),
        ("handoffs", "hinted values handed back to their replica"),
        (
            "quorums_overlap",
            "1 when every read quorum meets every write quorum (r + w > n, no sloppy or local quorum), else 0",
        ),
    ];

    fn new(p: &Params, cluster: &Cluster) -> Self {
        QuorumChecker {
            // A local quorum overlaps only within its own region.
            overlap: !p.local && p.r + p.w > p.n && !p.sloppy,
            names: cluster.names.clone(),
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

    fn on_history(&mut self, at: At, e: &HistoryEvent) {
        if e.kind != HistoryKind::Invoke {
            self.completed += 1;
        }
        match (e.kind, e.op) {
            (HistoryKind::Invoke, Operation::Write { key, value }) => {
                self.writes.insert(value, Write { key, invoked: e.time, acked: None });
            }
            (HistoryKind::Invoke, Operation::Read { .. }) => {
                self.reads.insert(e.op_id, e.time);
            }
            (HistoryKind::Ok, Operation::Write { key, value }) => {
                self.completed_ok += 1;
                if let Some(w) = self.writes.get_mut(&value) {
                    w.acked = Some(e.time);
                }
                self.acked.entry(key).or_default().push((e.time, value));
            }
            (HistoryKind::Ok, Operation::Read { key }) => {
                self.completed_ok += 1;
                self.reads_ok += 1;
                let Some(invoked) = self.reads.remove(&e.op_id) else { return };
                if let Some(why) = self.staleness(key, invoked, e.value.as_value()) {
                    self.stale_reads += 1;
                    if self.first_stale.is_none() {
                        let node = e.node.map_or("?", |n| self.names[n.index()].as_str());
                        self.first_stale =
                            Some((at, format!("a read of k{key} coordinated by {node} {why}")));
                    }
                }
            }
            (_, Operation::Read { .. }) => {
                self.reads.remove(&e.op_id);
            }
            _ => {}
        }
    }

    fn report(&self, _now: SimTime) -> Report {
        let mut r = Report::default();
        r.checks.push(Verdict {
            name: "fresh-reads",
            holds: self.first_stale.is_none(),
            detail: match &self.first_stale {
                Some((at, what)) => {
                    format!(
                        "{what} (at {}, step {}; {} stale reads of {})",
                        at.time, at.step, self.stale_reads, self.reads_ok
                    )
                }
                None => format!("all {} reads were fresh", self.reads_ok),
            },
            first_violation: self.first_stale.as_ref().map(|f| f.0),
        });
        r.metrics.insert("stale_reads", self.stale_reads as f64);
        r.metrics.insert(
            "stale_read_rate",
            if self.reads_ok == 0 { 0.0 } else { self.stale_reads as f64 / self.reads_ok as f64 },
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
