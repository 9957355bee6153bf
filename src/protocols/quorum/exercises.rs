//! The exercises' broken variants (`bug = "..."` in a lesson), each a
//! policy hook named after the decision it makes. With no `bug`, every
//! hook answers as the textbook does. Find a failing seed with `distlab
//! check` first, then read the trace, then come here.

use super::Version;
use super::params::{Bug, Params};
use crate::nodes::{NodeId, Value};

/// The value a read answers with, from the `r` replies it collected (each
/// replica's newest version of the key, if it has one).
pub(super) fn pick_read_value(
    params: &Params,
    replies: &[(NodeId, Option<(Version, Value)>)],
) -> Option<(Version, Value)> {
    match params.bug {
        Some(Bug::FirstReplyWins) => replies.first().and_then(|r| r.1),
        None => replies.iter().filter_map(|r| r.1).max(),
    }
}
