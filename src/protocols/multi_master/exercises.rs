//! The exercises' broken variants (`bug = "..."` in a lesson), each a
//! policy hook named after the decision it makes. With no `bug`, every
//! hook answers as the textbook does. Find a failing seed with `distlab
//! check` first, then read the trace, then come here.

use super::params::{Bug, Params};

/// How two last-write-wins stamps with the same clock reading are ordered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TieBreak {
    /// By the writing node's id: every node picks the same winner.
    ByNode,
    /// The one that arrived first stays.
    FirstArrival,
}

/// The tie-break between two writes stamped with the same clock reading.
pub(super) fn tie_break(params: &Params) -> TieBreak {
    match params.bug {
        Some(Bug::TieByArrival) => TieBreak::FirstArrival,
        None => TieBreak::ByNode,
    }
}
