//! The exercise's broken variant (`bug = "..."` in a lesson), a policy
//! hook named after the decision it makes. With no `bug`, the hook
//! answers as the textbook does. Find a failing seed with `distlab check`
//! first, then read the trace, then come here.

use super::params::{Bug, Params};

/// Whether a voter counts a candidate's log, `(last epoch, last index)`,
/// as at least as up to date as its own.
pub(super) fn candidate_is_up_to_date(params: &Params, candidate: (u64, u64), mine: (u64, u64)) -> bool {
    match params.bug {
        Some(Bug::VoteForStaleLog) => true,
        None => candidate >= mine,
    }
}
