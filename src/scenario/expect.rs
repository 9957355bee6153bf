//! Scenario expectations: which invariants a lesson shows holding or
//! breaking, and bounds on metrics.
//!
//! A lesson that demonstrates a failure expects its check to *break*; the
//! run then passes when the check breaks (exit status 0) and fails when the
//! protocol unexpectedly survives (exit status 1).

use crate::sim::Report;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq)]
pub enum Expectation {
    /// The named check holds (`true`) or is shown to break (`false`).
    Check { name: String, holds: bool },
    /// The lesson does not judge the named check: it may hold or break
    /// (say, last-write-wins losing concurrent writes in a lesson about
    /// something else). Always met; `distlab check` ignores it too.
    Ungraded { name: String },
    /// A metric lies within bounds (inclusive).
    Metric { name: String, at_least: Option<f64>, at_most: Option<f64> },
}

#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct ExpectationResult {
    pub name: String,
    pub met: bool,
    pub detail: String,
}

impl Expectation {
    pub fn evaluate(&self, report: &Report) -> ExpectationResult {
        match self {
            Expectation::Check { name, holds } => {
                let label = format!("{name} {}", if *holds { "holds" } else { "breaks" });
                match report.verdict(name) {
                    Some(v) => ExpectationResult {
                        met: v.holds == *holds,
                        detail: if v.holds { "it held".into() } else { format!("it broke: {}", v.detail) },
                        name: label,
                    },
                    None => {
                        ExpectationResult { name: label, met: false, detail: "no such check was run".into() }
                    }
                }
            }
            Expectation::Ungraded { name } => ExpectationResult {
                name: format!("{name} (not graded)"),
                met: true,
                detail: match report.verdict(name) {
                    Some(v) if v.holds => "it held".into(),
                    Some(v) => format!("it broke: {}", v.detail),
                    None => "no such check was run".into(),
                },
            },
            Expectation::Metric { name, at_least, at_most } => {
                let mut label = name.clone();
                if let Some(lo) = at_least {
                    label.push_str(&format!(" >= {lo}"));
                }
                if let Some(hi) = at_most {
                    label.push_str(&format!(" <= {hi}"));
                }
                match report.metrics.get(name.as_str()) {
                    Some(&v) => ExpectationResult {
                        met: at_least.is_none_or(|lo| v >= lo) && at_most.is_none_or(|hi| v <= hi),
                        detail: format!("it was {}", crate::util::fmt_num(v)),
                        name: label,
                    },
                    None => ExpectationResult { name: label, met: false, detail: "no such metric".into() },
                }
            }
        }
    }
}
