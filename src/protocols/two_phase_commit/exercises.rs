//! The exercises' broken variants (`bug = "..."` in a lesson). Each is a
//! policy hook named after the decision it makes; the protocol asks the
//! hook, and with no `bug` every hook answers as the textbook does. Find a
//! failing seed with `distlab check` first, then read the trace, then come
//! here.

use super::Decision;
use super::params::{Bug, Params};

/// The coordinator's decision when `prepare_timeout` passes with votes
/// still missing.
pub(super) fn on_missing_votes(params: &Params) -> Decision {
    match params.bug {
        Some(Bug::CommitOnTimeout) => Decision::Commit,
        _ => Decision::Abort,
    }
}

/// Whether the coordinator answers the client as it decides, before the
/// decision is on its disk.
pub(super) fn answer_before_logging(params: &Params) -> bool {
    params.bug == Some(Bug::AnswerBeforeLog)
}

/// Whether a node judges the age of a transaction it does not know (and so
/// may have forgotten) before acting on it.
pub(super) fn judge_age_of_unknown(params: &Params) -> bool {
    params.bug != Some(Bug::NoAgeCheck)
}
