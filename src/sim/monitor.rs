//! What the engine tells a protocol's checker, and what a checker
//! concludes: the [`Checker`] trait (a monitor of one run), [`Report`],
//! [`Verdict`], [`At`]. They live with the engine, which drives them, so
//! the engine never names the checks built on them (`crate::check`).

use super::driver::NodeSummary;
use super::fault::Fault;
use super::history::HistoryEvent;
use crate::nodes::{Cluster, NodeId, Protocol};
use crate::time::SimTime;
use serde::Serialize;
use std::collections::BTreeMap;

/// When something happened: the event sequence number and virtual time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct At {
    pub step: u64,
    pub time: SimTime,
}

/// The verdict on one invariant.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verdict {
    pub name: &'static str,
    pub holds: bool,
    /// What was found, in words (the first violation, or a summary).
    pub detail: String,
    /// When it first broke.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_violation: Option<At>,
}

/// Everything a checker concluded.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Report {
    pub checks: Vec<Verdict>,
    pub metrics: BTreeMap<&'static str, f64>,
}

impl Report {
    pub fn verdict(&self, name: &str) -> Option<&Verdict> {
        self.checks.iter().find(|v| v.name == name)
    }
}

/// A protocol's online checker. Cloned with snapshots, so it rewinds with
/// the simulation.
pub trait Checker<P: Protocol>: Clone {
    /// The invariants this checker decides, with one line each saying what
    /// they mean (shown by `distlab list` and validated in scenarios).
    const CHECKS: &'static [(&'static str, &'static str)];
    /// The metrics it reports.
    const METRICS: &'static [(&'static str, &'static str)];

    fn new(params: &P::Params, cluster: &Cluster) -> Self;
    /// A node published an observation.
    fn on_observation(&mut self, at: At, node: NodeId, observation: &P::Observation);
    /// A client history event was recorded.
    fn on_history(&mut self, _at: At, _event: &HistoryEvent) {}
    /// A fault was applied.
    fn on_fault(&mut self, _at: At, _fault: &Fault) {}
    /// The verdicts as of now (the run may go on).
    fn report(&self, now: SimTime) -> Report;
    /// The gauges it keeps, with one line each: quantities that have a
    /// value *now* (replication lag, participants in doubt), which `distlab
    /// sweep` and `distlab run --trace` sample over the run to draw them
    /// against time. Most checkers keep none.
    const GAUGES: &'static [(&'static str, &'static str)] = &[];
    /// The gauges' values now, in the order of [`Checker::GAUGES`].
    fn gauges(&self, _now: SimTime) -> Vec<(&'static str, f64)> {
        Vec::new()
    }
    /// What is still unfinished now, one line in words each (`n3 is in
    /// doubt about tx 77`, `n2 has 40 of the primary n1's 45 log
    /// entries`); empty once the run has settled. `distlab check` asks
    /// after its liveness phase — every fault healed, no new client
    /// operation, a bounded time to settle — and requires it empty where
    /// the protocol promises liveness
    /// (`Promises` in the protocol registry). `nodes` are the nodes as they
    /// are now (status and the protocol's own view), for what the
    /// observations do not say (which nodes act as primary). The default
    /// knows of nothing pending.
    fn pending(&self, _now: SimTime, _nodes: &[NodeSummary]) -> Vec<String> {
        Vec::new()
    }
}

/// A record of one observation, for reports and the TUI.
#[derive(Clone, Debug)]
pub struct ObservationRecord<O> {
    pub at: At,
    pub node: NodeId,
    pub observation: O,
}
