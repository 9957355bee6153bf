//! Budgets: the most work and memory one run may use, and why a run
//! stopped when it used more.
//!
//! A scenario file is data, and some valid-looking data describes a run
//! the simulator cannot finish: with `latency = "0"` a ping and its pong
//! chase each other forever without simulated time ever advancing; a
//! timer re-armed with a zero delay fires at one instant forever; a
//! message storm fills the queue faster than the network empties it. The
//! engine does not spin or grow until the machine gives up. It keeps a
//! [`Budget`] and, the moment one is exceeded, stops stepping and records
//! a [`Halt`] that says what was spinning or piling up. The CLI prints it
//! and exits with status 2 (bad input): the scenario asks for something
//! that cannot be simulated, whatever the protocol does.
//!
//! The defaults sit far above every bundled lesson (at most 45 events at
//! one instant, at most ~6 000 events a run) and the benchmarks (64 M
//! events at `--scale 10`), and above the largest legitimate burst the
//! scenario limits allow (64 nodes × a window of 1 024 pings, ~65 000
//! deliveries at one instant), so they never change a run that finishes.

use super::time::SimTime;

/// The most work and memory one run may use. Every field is a count; see
/// the module docs for how the defaults were chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Budget {
    /// Events processed at one instant of simulated time. More means time
    /// has stopped: a livelock.
    pub events_per_instant: u64,
    /// Events processed in the whole run (per seed, for `check` and
    /// `sweep`).
    pub events: u64,
    /// Events waiting at once: messages in flight (held for a paused node
    /// included), timers, disk writes and client events. This is what the
    /// engine's memory grows with; at the default, a few hundred MB. Void
    /// events (a timer cancelled, a timeout of an operation that has
    /// ended) are swept out before the run halts on it, and do not count
    /// (but in `distlab explore`, which keeps them).
    pub pending: u64,
}

impl Budget {
    /// The defaults (see the module docs).
    pub const DEFAULT: Budget =
        Budget { events_per_instant: 1_000_000, events: 1_000_000_000, pending: 4_000_000 };
    /// No limit at all (for embedding, or a benchmark that means to run long).
    pub const UNLIMITED: Budget =
        Budget { events_per_instant: u64::MAX, events: u64::MAX, pending: u64::MAX };
}

impl Default for Budget {
    fn default() -> Self {
        Budget::DEFAULT
    }
}

/// Why a run stopped before its end: a budget was exceeded. The message
/// (a summary line, then indented detail) names what was spinning or
/// piling up, and the flag that raises the limit.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Halt {
    /// More than [`Budget::events_per_instant`] events at one instant.
    /// `spinning` counts the last `sampled` of them by what they were
    /// (`n1 timer PrimarySilent`, `n2 receives ping from n1`), most
    /// frequent first.
    #[error(
        "livelock at t={time}: more than {limit} events without simulated time advancing\n  \
         the last {sampled}: {}\n  \
         events that cause each other with no delay between them (messages over a zero latency, \
         a timer re-armed at once) never let time pass, so the run cannot reach its end; \
         --max-events-per-instant raises the limit",
        counts(.spinning)
    )]
    Livelock { time: SimTime, limit: u64, sampled: u64, spinning: Vec<(String, u64)> },
    /// The run processed [`Budget::events`] events before its end.
    #[error(
        "event budget spent at t={time}: the run processed {limit} events, the most one run may\n  \
         --max-events raises the budget; a shorter duration or fewer clients makes the run smaller"
    )]
    Events { time: SimTime, limit: u64 },
    /// More than [`Budget::pending`] events waiting at once. `most` counts
    /// the waiting events by what they are, most frequent first.
    #[error(
        "more than {limit} events pending at t={time} (messages in flight, timers, client events)\n  \
         most are: {}\n  \
         something sends faster than the network delivers; --max-pending raises the limit",
        counts(.most)
    )]
    Pending { time: SimTime, limit: u64, most: Vec<(String, u64)> },
}

impl Halt {
    /// When the run stopped.
    pub fn time(&self) -> SimTime {
        match self {
            Halt::Livelock { time, .. } | Halt::Events { time, .. } | Halt::Pending { time, .. } => *time,
        }
    }
}

/// `2048 × n2 receives ping from n1, 2048 × n1 receives pong from n2`.
fn counts(list: &[(String, u64)]) -> String {
    list.iter().map(|(what, n)| format!("{n} × {what}")).collect::<Vec<_>>().join(", ")
}

/// Counts what events were, keeping the `top` most frequent (ties by
/// name, so the message is deterministic).
pub(crate) fn most_frequent(
    tally: &std::collections::BTreeMap<String, u64>,
    top: usize,
) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = tally.iter().map(|(k, &n)| (k.clone(), n)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(top);
    v
}
