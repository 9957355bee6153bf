//! The exercises' broken variants (`bug = "..."` in a lesson), each a
//! policy hook named after the decision it makes. With no `bug`, every
//! hook answers as the textbook does. Find a failing seed with `distlab
//! check` first, then read the trace, then come here.

use super::params::{Bug, Params};

/// Whether a service writes the idempotency keys it processed to its disk
/// (with the row the step changed), or keeps them in memory only.
pub(super) fn keys_on_disk(params: &Params) -> bool {
    params.bug != Some(Bug::KeysInMemory)
}
