//! What each node keeps on disk.
//!
//! - The orchestrator's **saga log**, per saga: `Begin { order,
//!   invoked_at_us }`, then
//!   `StepDone { step, order_no }` or `StepFailed { step, reason }` for
//!   each step answered, then `Compensated { compensation }` for each
//!   compensation done. A saga has ended when its records say so (every
//!   step done, or every completed step compensated); no separate end
//!   record is needed. Nothing is logged when a request is *sent*: the
//!   records say which step comes next, and sending it again is harmless
//!   because of its idempotency key. Which client waits for a saga is not
//!   logged either: the client's retry finds the saga again. And the
//!   local time of its latest forgetting (the floor of its retention clock).
//! - Each service's table (orders, with the last order number given;
//!   credit balances; stock) and, with idempotency on, every processed key
//!   with its result and the number of the write that stored it.
//! - On every node, how many writes the disk has completed. Observations of
//!   durable facts name their write, and a restarted node publishes this
//!   count, so the checker can forget what a crash lost (see
//!   [`Observation`]).
//!
//! Why log every answer before acting on it: a decision the orchestrator
//! acts on (go forward, or compensate) must survive its crash, or it might
//! decide differently after recovery. With idempotent services the replies
//! would come out the same anyway; without them, a re-sent charge could now
//! succeed where it failed before, and a saga that already cancelled its
//! order would go forward.
//!
use super::*;

/// One record of the saga log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Record {
    /// The saga begins, with its input and when its client invoked it (the
    /// client's clock, carried by every attempt: the request's age).
    /// Logged before the first step is sent.
    Begin { order: Order, invoked_at_us: i64 },
    /// A step was done (creating the order: the number it got).
    StepDone { step: Action, order_no: Option<OrderNo> },
    /// A step failed: from here on the saga compensates.
    StepFailed { step: Action, reason: Reason },
    /// A compensation was done.
    Compensated { compensation: Action },
}

/// An order as the order service keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct OrderRow {
    pub saga: SagaId,
    pub order: Order,
    pub status: OrderStatus,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum OrderStatus {
    Pending,
    Approved,
    Cancelled,
}

/// A row a service's local transaction writes, with its new value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Row {
    Order(OrderNo, OrderRow),
    /// A customer's credit balance.
    Balance(Key, u64),
    /// An item's stock on hand.
    Stock(Item, u64),
}

/// A node's disk: the saga log (orchestrator) or a service's tables.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Disk {
    // --- orchestrator ---
    pub saga_log: WindowMap<SagaId, Vec<Record>>,
    /// The orchestrator's clock (µs, local) when it last forgot a saga:
    /// after a restart its retention clock never reads earlier.
    pub forgot_at_us: i64,
    // --- services ---
    /// Orders, until archived `retention` after they were approved or
    /// cancelled.
    pub orders: WindowMap<OrderNo, OrderRow>,
    /// The last order number given.
    pub last_order: OrderNo,
    pub balances: BTreeMap<Key, u64>,
    pub stock: BTreeMap<Item, u64>,
    /// Processed idempotency keys (idempotency on): the result, and the
    /// number of the write that stored it (keys expire by it).
    pub processed: WindowMap<u64, (StepResult, u64)>,
    // --- every node ---
    /// Writes this disk has completed (see [`Observation`]).
    pub writes: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum DiskWrite {
    /// The orchestrator appends a record to a saga's log.
    Log { saga: SagaId, record: Record },
    /// A service's local transaction: the row it changed (if any) and,
    /// with idempotency on, the key with its result — one write, so a crash
    /// keeps both or neither.
    Local { row: Option<Row>, processed: Option<(u64, StepResult)> },
    /// Retention: forget the keys stored by writes up to this one.
    ForgetKeys { through_write: u64 },
    /// Retention: forget an ended saga's log, at this local time.
    ForgetSaga { saga: SagaId, at_us: i64 },
    /// Retention: move finished orders to the archive (which the
    /// simulation does not keep: no saga touches them again).
    ArchiveOrders { orders: Vec<OrderNo> },
}

impl Saga {
    pub(super) fn apply(disk: &mut Disk, write: &DiskWrite) {
        disk.writes += 1;
        match *write {
            DiskWrite::Log { saga, record } => disk.saga_log.entry(saga).or_default().push(record),
            DiskWrite::ForgetSaga { saga, at_us } => {
                disk.saga_log.remove(&saga);
                disk.forgot_at_us = disk.forgot_at_us.max(at_us);
            }
            DiskWrite::ForgetKeys { through_write } => disk.processed.retain(|_, (_, w)| *w > through_write),
            DiskWrite::ArchiveOrders { ref orders } => {
                for no in orders {
                    disk.orders.remove(no);
                }
            }
            DiskWrite::Local { row, processed } => {
                match row {
                    Some(Row::Order(no, order)) => {
                        disk.orders.insert(no, order);
                        disk.last_order = disk.last_order.max(no);
                    }
                    Some(Row::Balance(customer, balance)) => {
                        disk.balances.insert(customer, balance);
                    }
                    Some(Row::Stock(item, on_hand)) => {
                        disk.stock.insert(item, on_hand);
                    }
                    None => {}
                }
                if let Some((key, result)) = processed {
                    disk.processed.insert(key, (result, disk.writes));
                }
            }
        }
    }
}
