//! Checks: invariants over histories and observations, and the scenario's
//! expectations.
//!
//! A protocol's checker watches what the protocol *published*
//! (observations) and what clients *saw* (the history) — never private
//! fields — and runs online, so a violation is known at the step it happens
//! (design rule 9). It ends with a [`Report`]: one [`Verdict`] per named
//! invariant, plus named metrics (lost writes, stale reads, lag) that
//! scenario expectations can compare against.

pub mod explain;
pub mod export;
pub mod grade;
pub mod harness;
pub mod linearizability;
pub mod models;
pub mod report;
pub mod run;
pub mod shrink;
pub mod trace_file;

pub use crate::scenario::expect::{self, Expectation, ExpectationResult};
pub use crate::sim::history::{self, History, HistoryEvent, HistoryKind, TypedEvent};
pub use crate::sim::monitor::{
    At, CheckInfo, Checker, GaugeInfo, MESSAGES_IN_FLIGHT, MetricInfo, ObservationRecord, Report, Unit,
    Verdict, ViolationTracker,
};
