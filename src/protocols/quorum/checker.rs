//! The checks of quorum replication.
//!
//! Versions come from the coordinators' `Versioned` observations; the
//! history says which writes were acknowledged when, and what reads
//! returned. Nothing here looks at protocol state.

use super::{Observation, Params, Quorum, Version};
use crate::check::{At, Checker, HistoryEvent, HistoryKind, Report, Verdict};
use crate::nodes::{Cluster, Key, NodeId, Operation, Value};
use crate::sim::time::SimTime;
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default)]
pub struct QuorumChecker {
    /// The version each written value was stamped with.
    version_of: BTreeMap<Value, Version>,
    /// Per key: acknowledged writes as (ack time, version).
    acked: BTreeMap<Key, Vec<(SimTime, Version)>>,
    /// Open operations: op id → invoke time.
    invoked: BTreeMap<u64, SimTime>,
    stale_reads: u64,
    first_stale: Option<(At, String)>,
    reads_ok: u64,
    writes_ok: u64,
    completed: u64,
    completed_ok: u64,
    unavailable: u64,
    repairs: u64,
    handoffs: u64,
    hinted_stores: u64,
    overlap: bool,
    names: Vec<String>,
}

impl Checker<Quorum> for QuorumChecker {
    const CHECKS: &'static [(&'static str, &'static str)] = &[(
        "fresh-reads",
        "every read returns a version at least as new as every write acknowledged before the read began",
    )];
    const METRICS: &'static [(&'static str, &'static str)] = &[
        ("stale_reads", "reads older than a write acknowledged before they began"),
        ("availability", "fraction of completed client operations that were ok"),
        ("unavailable", "coordinations that gave up: too few replicas answered"),
        ("read_repairs", "reads that sent newer values to stale replicas"),
        ("hinted_stores", "values a stand-in stored for an unreachable replica"),
        ("handoffs", "hinted values handed back to their replica"),
        ("quorums_overlap", "1 when r + w > n (and no sloppy quorum), else 0"),
    ];

    fn new(p: &Params, cluster: &Cluster) -> Self {
        QuorumChecker {
            overlap: !p.local && p.r + p.w > p.n && !p.sloppy,
            names: cluster.names.clone(),
            ..Default::default()
        }
    }

    fn on_observation(&mut self, _at: At, _node: NodeId, obs: &Observation) {
        match *obs {
            Observation::Versioned { value, version, .. } => {
                self.version_of.insert(value, version);
            }
            Observation::Stored { hinted: true, .. } => self.hinted_stores += 1,
            Observation::Stored { .. } => {}
            Observation::Repaired { .. } => self.repairs += 1,
            Observation::HandedOff { .. } => self.handoffs += 1,
            Observation::Unavailable { .. } => self.unavailable += 1,
        }
    }

    fn on_history(&mut self, at: At, e: &HistoryEvent) {
        match (e.kind, e.op) {
            (HistoryKind::Invoke, _) => {
                self.invoked.insert(e.op_id, e.time);
            }
            (HistoryKind::Ok, Operation::Write { key, value }) => {
                self.invoked.remove(&e.op_id);
                self.completed_ok += 1;
                self.writes_ok += 1;
                if let Some(&v) = self.version_of.get(&value) {
                    self.acked.entry(key).or_default().push((e.time, v));
                }
            }
            (HistoryKind::Ok, Operation::Read { key }) => {
                self.completed_ok += 1;
                self.reads_ok += 1;
                let Some(invoked) = self.invoked.remove(&e.op_id) else { return };
                let seen = e.value.and_then(|v| self.version_of.get(&v).copied());
                let newest = self
                    .acked
                    .get(&key)
                    .into_iter()
                    .flatten()
                    .filter(|(t, _)| *t < invoked)
                    .map(|(_, v)| *v)
                    .max();
                if let Some(newest) = newest
                    && seen.is_none_or(|s| s < newest)
                {
                    self.stale_reads += 1;
                    if self.first_stale.is_none() {
                        let node = e.node.map_or("?", |n| self.names[n.index()].as_str());
                        let shown = e.value.map_or("nothing".into(), |v| v.to_string());
                        self.first_stale = Some((
                            at,
                            format!(
                                "a read of k{key} coordinated by {node} returned {shown}, older than a write acknowledged before the read began"
                            ),
                        ));
                    }
                }
            }
            _ => {
                self.invoked.remove(&e.op_id);
            }
        }
        if e.kind != HistoryKind::Invoke {
            self.completed += 1;
        }
    }

    fn report(&self, _now: SimTime) -> Report {
        let mut r = Report::default();
        r.checks.push(Verdict {
            name: "fresh-reads",
            holds: self.first_stale.is_none(),
            detail: match &self.first_stale {
                Some((at, what)) => format!(
                    "{what} (at {}, step {}; {} stale reads of {})",
                    at.time, at.step, self.stale_reads, self.reads_ok
                ),
                None => format!("all {} reads were fresh", self.reads_ok),
            },
            first_violation: self.first_stale.as_ref().map(|f| f.0),
        });
        r.metrics.insert("stale_reads", self.stale_reads as f64);
        r.metrics.insert(
            "availability",
            // Of the operations that completed (still-open ones at the end
            // of the run are neither available nor unavailable).
            if self.completed == 0 { 1.0 } else { self.completed_ok as f64 / self.completed as f64 },
        );
        r.metrics.insert("unavailable", self.unavailable as f64);
        r.metrics.insert("read_repairs", self.repairs as f64);
        r.metrics.insert("hinted_stores", self.hinted_stores as f64);
        r.metrics.insert("handoffs", self.handoffs as f64);
        r.metrics.insert("quorums_overlap", if self.overlap { 1.0 } else { 0.0 });
        r
    }
}
