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

/// An effect in words: `c3 charged 20`.
pub fn effect_words(e: Effect) -> String {
    match e {
        Effect::OrderCreated { order } => format!("order {order} created"),
        Effect::OrderApproved { order } => format!("order {order} approved"),
        Effect::OrderCancelled { order } => format!("order {order} cancelled"),
        Effect::Charged { customer, amount } => format!("c{customer} charged {amount}"),
        Effect::Refunded { customer, amount } => format!("c{customer} refunded {amount}"),
        Effect::Reserved { item, qty } => format!("{qty} units of item{item} reserved"),
    }
}

impl Observation {
    /// In the protocol's words, for the trace and the TUI's log.
    pub fn label(&self) -> String {
        match *self {
            Observation::SagaBegun { saga, order, .. } => format!(
                "began saga {saga}: c{} orders {} of item{} for {}",
                order.customer, order.qty, order.item, order.amount
            ),
            Observation::StepDone { saga, step, .. } => format!("saga {saga}: {} done", step.name()),
            Observation::StepFailed { saga, step, reason, .. } => {
                format!("saga {saga}: {} failed ({})", step.name(), reason.text())
            }
            Observation::Compensated { saga, compensation, .. } => {
                format!("saga {saga}: compensated by {}", compensation.name())
            }
            Observation::SagaEnded { saga, outcome: SagaOutcome::Completed, .. } => {
                format!("saga {saga} completed")
            }
            Observation::SagaEnded { saga, outcome: SagaOutcome::Compensated(reason), .. } => {
                format!("saga {saga} ended compensated ({})", reason.text())
            }
            Observation::Retried { saga, action } => format!("saga {saga}: sent {} again", action.name()),
            Observation::Resumed { saga } => format!("resumed saga {saga} from its log"),
            Observation::SagaForgotten { saga, .. } => format!("forgot saga {saga} (retention)"),
            Observation::RefusedTooOld { saga } => {
                format!("refused saga {saga}: unknown and older than retention")
            }
            Observation::Applied { saga, action, key, effect, .. } => {
                format!("{} for saga {saga} (key {key}): {}", action.name(), effect_words(effect))
            }
            Observation::Replied { saga, action, key, result, repeat: true } => {
                format!("answered {} for saga {saga} from key {key}: {result}", action.name())
            }
            Observation::Replied { saga, action, result, .. } => {
                format!("answered {} for saga {saga}: {result}", action.name())
            }
            Observation::Restarted { writes_on_disk } => {
                format!("started: its disk holds {writes_on_disk} writes")
            }
        }
    }
}
