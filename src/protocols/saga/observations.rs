//! What a node publishes for the checkers.

use super::*;

/// What a service's request changed, as the checker sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Effect {
    OrderCreated { order: OrderNo },
    OrderApproved { order: OrderNo },
    OrderCancelled { order: OrderNo },
    Charged { customer: Key, amount: u64 },
    Refunded { customer: Key, amount: u64 },
    Reserved { item: Item, qty: u32 },
}

/// What nodes publish for the checker.
///
/// Durable facts (a log record, a service's effect) are published when
/// the node makes them — in memory, with the disk write on its way — and
/// name that write by its number (`write`: the node's `n`-th write since
/// its disk was new). A write can be lost in a crash; it can also reach
/// the disk while the node never hears of it (the node was paused, then
/// crashed). So at every start a node says how many of its writes its disk
/// holds (`Restarted`), and the checker forgets the facts of the writes
/// that did not make it. Writes complete in order: what survives is a
/// prefix.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Observation {
    // --- the orchestrator, as it writes the record ---
    SagaBegun {
        saga: SagaId,
        order: Order,
        write: u64,
    },
    StepDone {
        saga: SagaId,
        step: Action,
        write: u64,
    },
    StepFailed {
        saga: SagaId,
        step: Action,
        reason: Reason,
        write: u64,
    },
    Compensated {
        saga: SagaId,
        compensation: Action,
        write: u64,
    },
    /// The record just written ends the saga.
    SagaEnded {
        saga: SagaId,
        outcome: SagaOutcome,
        write: u64,
    },
    /// A request went unanswered for `step_timeout` and was sent again.
    Retried {
        saga: SagaId,
        action: Action,
    },
    /// After a restart, an unfinished saga resumed from its log.
    Resumed {
        saga: SagaId,
    },
    /// Retention: an ended saga's log is forgotten (by this write).
    SagaForgotten {
        saga: SagaId,
        write: u64,
    },
    /// An order for a saga the orchestrator does not know, invoked more
    /// than `retention` ago, was answered "unknown" and not begun.
    RefusedTooOld {
        saga: SagaId,
    },
    // --- the services ---
    /// A request took effect (as it is written to disk).
    Applied {
        saga: SagaId,
        action: Action,
        key: u64,
        effect: Effect,
        write: u64,
    },
    /// A service answered (once its disk had caught up); `repeat`: from
    /// its store of processed keys, without executing anything.
    Replied {
        saga: SagaId,
        action: Action,
        key: u64,
        result: StepResult,
        repeat: bool,
    },
    // --- any node with a role ---
    /// The node (re)started; its disk holds its first `writes_on_disk`
    /// writes.
    Restarted {
        writes_on_disk: u64,
    },
}
