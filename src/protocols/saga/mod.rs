//! Sagas: one business transaction as a sequence of local transactions on
//! separate services, undone by compensations when a step fails.
//!
//! # Model
//! A shop places an order in three services, each with its own database:
//! the **order service** records the order, the **payment service**
//! charges the customer's credit account, the **inventory service**
//! reserves stock. No transaction spans the three (no two-phase commit):
//! each service commits its own step at once. An **orchestrator** drives
//! the steps one at a time and keeps a durable **saga log**. If a step
//! fails, the orchestrator runs the **compensations** of the steps already
//! done, in reverse order: the payment is refunded, then the order is
//! cancelled. The result is *semantic atomicity*: every saga ends with all
//! its steps done, or with every completed step compensated.
//!
//! Roles are nodes (`[protocol] orchestrator = "n1"`, `order_service =
//! "n2"`, `payment_service = "n3"`, `inventory_service = "n4"` by default).
//! Clients send orders to the orchestrator; a service (or a node without a
//! role) that receives one redirects the client there.
//!
//! # The saga
//! | step | service | may fail with | compensation |
//! | --- | --- | --- | --- |
//! | 1. create the order (pending) | order | `order_fail_rate` | cancel the order |
//! | 2. charge `amount` | payment | insufficient credit; `payment_fail_rate` | refund `amount` |
//! | 3. reserve `qty` of the item | inventory | out of stock; `inventory_fail_rate` | — (the *pivot*) |
//! | 4. approve the order | order | never (retried until done) | — |
//!
//! Step 3 is the **pivot**: the last step that can fail. Before it, every
//! step has a compensation; after it, the saga can only go forward, so step
//! 4 (a *retriable* step) needs none. (Richardson's terms; the course notes'
//! version stops after the reservation and leaves the order pending.)
//!
//! # The algorithm (orchestrator)
//! 1. *Begin.* A client's order arrives with its idempotency key, which
//!    names the saga (a client's retry carries the same key). If the saga
//!    exists, the request only waits for it, or is answered at once if it
//!    has finished: a retry never starts a second saga. If it does not, and
//!    the order is older than `retention`, it is refused (see *Retention*).
//!    Otherwise the orchestrator logs `Begin { order, invoked_at_us }`, and
//!    only once that record is on disk sends the first step.
//! 2. *Steps, one at a time.* Each request carries an idempotency key
//!    derived from (saga, action): [`idempotency_key`]. When a service
//!    answers, the orchestrator logs the answer — `StepDone` (with the
//!    order number the order service gave) or `StepFailed` — and acts on
//!    it (sends the next step) only once the record is on disk.
//! 3. *At-least-once.* A request unanswered within `step_timeout` is sent
//!    again with the same key — forever, until answered: a timeout says
//!    nothing about whether the step happened, so the orchestrator can
//!    neither skip it nor assume it failed.
//! 4. *Compensation.* After `StepFailed`, the orchestrator sends the
//!    compensation of each completed step, last completed first, waiting
//!    for each to be done (and logged as `Compensated`) before the next.
//!    Compensations cannot fail; they are retried until done.
//! 5. *End.* When the last step's (or compensation's) record is on disk the
//!    saga has ended: the client is told ok (completed), or fail with
//!    `"compensated: <reason>"` — the order certainly did not happen, and
//!    will not.
//! 6. *Recovery.* A restarted orchestrator reads its saga log, rebuilds
//!    every saga's position by replaying its records (`SagaRun::apply`,
//!    the same code that advances a saga live), and resumes every
//!    unfinished saga by sending its current step or compensation again,
//!    with the same idempotency key.
//!
//! # The services
//! Each request is a local transaction: read the row, decide, write the
//! row. With `idempotency = true` (the default) a service first looks the
//! request's key up among the keys it has processed; a key seen before is
//! answered with the result stored for it, and nothing is executed again.
//! A new key's result is stored **in the same disk write as the effect**,
//! so a crash keeps both or neither; and the answer goes out only once that
//! write is on disk, so the orchestrator never logs a step whose effect a
//! crash could still undo. Failures are stored too: a retried charge that
//! was declined stays declined.
//!
//! With `idempotency = false` a service executes every request it receives.
//! A duplicated message (`[network] duplicate`), or a retry after a slow or
//! lost answer, charges the customer twice, reserves twice, creates a
//! second (orphan) order, or refunds twice. Approving and cancelling are
//! *naturally* idempotent — they set an order's status, and setting it
//! again changes nothing — while charging, refunding, reserving and
//! creating are not: they add or subtract, or make something new.
//!
//! # Retention
//! Nothing is kept forever: the default `retention`, an hour, outlives
//! every lesson; the benchmark keeps 1s, so memory stays bounded however
//! long it runs. Something may be forgotten only once nobody will ask
//! about it again, and each kind is forgotten on that reasoning:
//! - *A service's key* is kept for `retention` from the moment its write
//!   (the effect and the key together) is on disk and its answer goes out
//!   — not from when the request arrived: with a slow disk, a clock started
//!   then could run out before the key's own answer had left. A request
//!   repeating a forgotten key is executed again. So a key must outlive
//!   every copy of its request still to come: the orchestrator re-sends
//!   every `step_timeout` until an answer reaches it, so `retention` must
//!   exceed a round trip (the answer's way back, the last copy's way in),
//!   plus `step_timeout` for every answer lost, plus the longest outage in
//!   between — a cut link, a paused service, an orchestrator down (it
//!   re-sends on recovery). Validation demands `retention > step_timeout`,
//!   the least that survives one lost answer; the network and the faults
//!   decide the rest, and the protocol cannot know them. The `key-expiry`
//!   lesson shows an outage longer than the keys.
//! - *An ended saga* is forgotten by the orchestrator once it ended
//!   `retention` ago **and** its order is older than `retention` (its age
//!   is the orchestrator's clock minus `invoked_at_us`, the client's clock
//!   when it invoked the order, which every attempt carries). An order for
//!   a saga the orchestrator does not know that is older than `retention`
//!   is refused — answered *unknown*, so the client records *info* — and
//!   never begun: the orchestrator cannot tell a saga it ran and forgot
//!   from one whose first attempt never arrived, and beginning it could run
//!   it twice. So a client's retry never runs a saga twice, whatever
//!   `retention` is; when `retention` is shorter than clients keep retrying
//!   (`timeout` × (`retries` + 1)), late retries learn nothing
//!   (`orders_refused_too_old`). Signed requests expire the same way (AWS
//!   refuses one more than 15 minutes old).
//! - *A finished order* (approved or cancelled) is archived `retention`
//!   after that status is on disk (the simulation drops archived orders: no
//!   saga touches them again; a late approve or cancel finds nothing to
//!   do, which is its answer anyway).
//!
//! # Clocks
//! Retention reads each node's own clock, which can be skewed
//! (`[[timeline]] clock`, the nemesis' `clock`): keys expire by the local
//! clock, as real TTLs do. **A service clock that jumps forward expires
//! its keys early** — by the jump — and a re-sent request may then execute
//! twice: the retention a service needs grows by the largest forward jump
//! of its clock (the `clock-jump` lesson). The orchestrator reads its
//! clock through a floor that never goes back (the latest time read,
//! durable as of its latest forgetting), and it compares an order's age
//! with the same clock it forgets by: a jump forward forgets sagas sooner
//! but refuses their late orders just as soon, and a jump back cannot make
//! a forgotten order young again. An orchestrator clock ahead of the
//! clients' by Δ makes every order look Δ older — orders are refused
//! sooner (more than `retention` ahead: all of them): availability, not
//! safety.
//!
//! # What is durable
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
//! # Guarantees and invariants (checked in [`checker`])
//! - `semantic-atomicity`: every saga that ended, ended with all steps done
//!   (its order approved, charged once, reserved once) or with every
//!   completed step compensated (its orders cancelled, charges refunded,
//!   nothing reserved) — as the services' effects show, not only as the
//!   orchestrator says; and the client was told the truth.
//! - `applied-once`: no (saga, action) takes effect twice.
//! - `compensation-order`: compensations take effect in the reverse order
//!   of the steps they undo, each after its step.
//! - `money-conserved`: charges − refunds = the amounts of completed sagas,
//!   and units reserved = the quantities of completed sagas.
//!
//! All four hold with idempotency on, under any crashes, pauses,
//! partitions, loss and duplication, as long as services keep their keys
//! long enough: `retention` longer than any outage plus a round trip and a
//! `step_timeout`, plus the largest forward jump of a service's clock (see
//! *Retention* and *Clocks*). Nothing on the orchestrator's side depends on
//! `retention`: no saga ever runs twice (the checker would say "saga 4 ran
//! twice"). Sagas still running when the run ends are counted
//! (`sagas_unfinished`), not judged; once the faults stop, every saga
//! ends. With idempotency off, duplication, retries after a timeout, or an
//! orchestrator's recovery break `applied-once`, `money-conserved` and
//! `semantic-atomicity`.
//! Nothing breaks `compensation-order` here — the orchestrator waits for
//! each compensation before the next — so only the checker's unit tests
//! show it firing.
//!
//! What sagas do *not* give: isolation. Between a charge and its refund,
//! other sagas see the lower balance (and may be declined for it); a
//! compensation is a new transaction that runs later, not an undo of the
//! past.
//!
//! # Parameters (`[protocol]`)
//! | parameter | default | meaning |
//! | --- | --- | --- |
//! | `orchestrator`, `order_service`, `payment_service`, `inventory_service` | `n1` .. `n4` | the node of each role (distinct; other nodes only redirect clients) |
//! | `idempotency` | `true` | services remember processed keys |
//! | `order_fail_rate`, `payment_fail_rate`, `inventory_fail_rate` | `0` | chance a step fails for no reason of credit or stock |
//! | `step_timeout` | `100ms` | the orchestrator re-sends an unanswered request after this |
//! | `retention` | `1h` | how long services keep keys (from when they are on disk) and finished orders, and the orchestrator ended sagas; orders older than this are not begun (longer than `step_timeout`) |
//! | `credit` | `1000` | each customer's starting credit |
//! | `stock` | `20` | each item's starting stock |
//! | `items`, `max_qty`, `price` | `4`, `3`, `10` | the workload (below) |
//!
//! The workload ([`Protocol::next_operation`]) is orders only — a client's
//! `read_fraction` does not apply: customer `c0 .. c{keys-1}` from the
//! client's `keys`, an item from `items`, 1 ..= `max_qty` units, paying
//! qty × `price`. Clients should target the orchestrator (`target =
//! "primary"`, the default, finds it).
//!
//! Sources: Garcia-Molina & Salem, "Sagas" (SIGMOD 1987); Richardson,
//! *Microservices Patterns* (2018), ch. 4 (orchestration; compensatable,
//! pivot and retriable transactions); McCaffrey, "Distributed Sagas"
//! (2015, the saga log and at-least-once requests); Kleppmann, *Designing
//! Data-Intensive Applications*, ch. 11–12 (idempotence; operation
//! identifiers, end to end); Leach, "Implementing Stripe-like Idempotency
//! Keys in Postgres" (2017).

pub mod checker;
pub mod exercises;
mod params;

pub use checker::SagaChecker;
pub use params::{Params, RawParams, Role};

use crate::nodes::retention::{ClockFloor, Expiry};
use crate::nodes::{
    ClientRef, ClientReply, ClientRequest, ClientSpec, Cluster, Context, Item, Key, Message, NodeId,
    NodeView, Operation, Protocol, TimerId, WriteId, client,
};
use crate::rng::RngStream;
use crate::time::SimDuration;
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Saga;

/// A saga is named by its client's idempotency key (the operation id).
pub type SagaId = u64;
/// An order number, given by the order service.
pub type OrderNo = u64;

/// What the orchestrator asks a service to do: the four steps and the two
/// compensations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    CreateOrder,
    Charge,
    Reserve,
    ApproveOrder,
    CancelOrder,
    Refund,
}

impl Action {
    /// The saga's steps, in order.
    pub const STEPS: [Action; 4] =
        [Action::CreateOrder, Action::Charge, Action::Reserve, Action::ApproveOrder];

    /// What undoes this step, if it can be undone. The reservation is the
    /// pivot and approval the retriable step after it: neither has one.
    pub fn compensation(self) -> Option<Action> {
        match self {
            Action::CreateOrder => Some(Action::CancelOrder),
            Action::Charge => Some(Action::Refund),
            _ => None,
        }
    }
    pub fn is_compensation(self) -> bool {
        matches!(self, Action::CancelOrder | Action::Refund)
    }
    /// Whether the step may fail (compensations and approval may not).
    pub fn may_fail(self) -> bool {
        matches!(self, Action::CreateOrder | Action::Charge | Action::Reserve)
    }
    /// The service that performs it.
    pub fn service(self) -> Role {
        match self {
            Action::CreateOrder | Action::ApproveOrder | Action::CancelOrder => Role::OrderService,
            Action::Charge | Action::Refund => Role::PaymentService,
            Action::Reserve => Role::InventoryService,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Action::CreateOrder => "create-order",
            Action::Charge => "charge",
            Action::Reserve => "reserve",
            Action::ApproveOrder => "approve-order",
            Action::CancelOrder => "cancel-order",
            Action::Refund => "refund",
        }
    }
    fn code(self) -> u64 {
        self as u64
    }
    fn from_code(code: u64) -> Option<Action> {
        [
            Action::CreateOrder,
            Action::Charge,
            Action::Reserve,
            Action::ApproveOrder,
            Action::CancelOrder,
            Action::Refund,
        ]
        .get(code as usize)
        .copied()
    }
}

/// The idempotency key of one action of one saga: the same on every
/// re-send, different for every other (saga, action).
pub fn idempotency_key(saga: SagaId, action: Action) -> u64 {
    saga.wrapping_mul(8).wrapping_add(action.code())
}

/// The saga and action an idempotency key names (the orchestrator's own
/// encoding; services treat keys as opaque).
fn decode_key(key: u64) -> Option<(SagaId, Action)> {
    Some((key / 8, Action::from_code(key % 8)?))
}

/// An order: the saga's input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Order {
    pub customer: Key,
    pub item: Item,
    pub qty: u32,
    pub amount: u64,
}

/// Why a step failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reason {
    OrderRejected,
    InsufficientCredit,
    PaymentDeclined,
    OutOfStock,
    ReservationDeclined,
}

impl Reason {
    pub fn text(self) -> &'static str {
        match self {
            Reason::OrderRejected => "order rejected",
            Reason::InsufficientCredit => "insufficient credit",
            Reason::PaymentDeclined => "payment declined",
            Reason::OutOfStock => "out of stock",
            Reason::ReservationDeclined => "reservation declined",
        }
    }
    /// What the client is told when the saga has been compensated.
    fn client_reason(self) -> &'static str {
        match self {
            Reason::OrderRejected => "compensated: order rejected",
            Reason::InsufficientCredit => "compensated: insufficient credit",
            Reason::PaymentDeclined => "compensated: payment declined",
            Reason::OutOfStock => "compensated: out of stock",
            Reason::ReservationDeclined => "compensated: reservation declined",
        }
    }
}

/// A service's answer to one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StepResult {
    /// Done; creating an order gives its number.
    Done {
        order: Option<OrderNo>,
    },
    Failed(Reason),
}

impl std::fmt::Display for StepResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StepResult::Done { order: Some(no) } => write!(f, "done (order {no})"),
            StepResult::Done { order: None } => f.write_str("done"),
            StepResult::Failed(reason) => write!(f, "failed: {}", reason.text()),
        }
    }
}

/// How a saga ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SagaOutcome {
    /// Every step done.
    Completed,
    /// A step failed for this reason, and every completed step was
    /// compensated.
    Compensated(Reason),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Msg {
    // --- orchestrator → services: the steps ---
    CreateOrder {
        key: u64,
        saga: SagaId,
        order: Order,
    },
    Charge {
        key: u64,
        saga: SagaId,
        customer: Key,
        amount: u64,
    },
    Reserve {
        key: u64,
        saga: SagaId,
        item: Item,
        qty: u32,
    },
    ApproveOrder {
        key: u64,
        saga: SagaId,
        order: OrderNo,
    },
    // --- orchestrator → services: the compensations ---
    CancelOrder {
        key: u64,
        saga: SagaId,
        order: OrderNo,
    },
    Refund {
        key: u64,
        saga: SagaId,
        customer: Key,
        amount: u64,
    },
    // --- service → orchestrator ---
    /// The result of the request with this key.
    Reply {
        key: u64,
        result: StepResult,
    },
}

impl Msg {
    /// (key, saga, action) of a request.
    fn request(&self) -> Option<(u64, SagaId, Action)> {
        Some(match *self {
            Msg::CreateOrder { key, saga, .. } => (key, saga, Action::CreateOrder),
            Msg::Charge { key, saga, .. } => (key, saga, Action::Charge),
            Msg::Reserve { key, saga, .. } => (key, saga, Action::Reserve),
            Msg::ApproveOrder { key, saga, .. } => (key, saga, Action::ApproveOrder),
            Msg::CancelOrder { key, saga, .. } => (key, saga, Action::CancelOrder),
            Msg::Refund { key, saga, .. } => (key, saga, Action::Refund),
            Msg::Reply { .. } => return None,
        })
    }
}

impl Message for Msg {
    fn kind(&self) -> &'static str {
        match self.request() {
            Some((_, _, action)) => action.name(),
            None => "reply",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Timer {
    /// No answer yet to `action` of `saga`: send it again.
    Retry { saga: SagaId, action: Action },
    /// Time to forget what is older than `retention`.
    Expire,
}

/// Sets the next `Expire` timer.
fn arm_expiry(ctx: Ctx) {
    let every = SimDuration((ctx.params().retention.0 / 4).max(1000));
    ctx.set_timer(every, Timer::Expire);
}

/// One record of the saga log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OrderRow {
    pub saga: SagaId,
    pub order: Order,
    pub status: OrderStatus,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    Pending,
    Approved,
    Cancelled,
}

/// A row a service's local transaction writes, with its new value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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
    pub saga_log: BTreeMap<SagaId, Vec<Record>>,
    /// The orchestrator's clock (µs, local) when it last forgot a saga:
    /// after a restart its retention clock never reads earlier.
    pub forgot_at_us: i64,
    // --- services ---
    /// Orders, until archived `retention` after they were approved or
    /// cancelled.
    pub orders: BTreeMap<OrderNo, OrderRow>,
    /// The last order number given.
    pub last_order: OrderNo,
    pub balances: BTreeMap<Key, u64>,
    pub stock: BTreeMap<Item, u64>,
    /// Processed idempotency keys (idempotency on): the result, and the
    /// number of the write that stored it (keys expire by it).
    pub processed: BTreeMap<u64, (StepResult, u64)>,
    // --- every node ---
    /// Writes this disk has completed (see [`Observation`]).
    pub writes: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
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

/// What a service's request changed, as the checker sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
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

// ----- the orchestrator -----------------------------------------------------

/// Where a saga stands now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Phase {
    /// A record is on its way to disk; the saga moves on once it is there.
    Logging,
    /// Waiting for a service to answer `action`.
    Awaiting {
        action: Action,
        timer: TimerId,
    },
    Ended(SagaOutcome),
}

/// What a saga does next, decided by its log alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Next {
    Send(Action),
    End(SagaOutcome),
}

/// One saga at the orchestrator: its position (rebuilt from the log after
/// a crash) and what it is doing now.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SagaRun {
    order: Order,
    /// When the client invoked the order (its clock): the saga is
    /// forgotten only once its requests are older than `retention`.
    invoked_at_us: i64,
    /// Set once the order service created the order.
    order_no: Option<OrderNo>,
    /// Steps done, a prefix of [`Action::STEPS`].
    done: usize,
    /// The step that failed, if one did: the saga is compensating.
    failed: Option<(Action, Reason)>,
    /// Compensations done, in the order run.
    compensated: usize,
    /// The client attempt to answer (not durable: a retry finds the saga).
    client: Option<ClientRef>,
    phase: Phase,
}

impl SagaRun {
    fn begin(order: Order, invoked_at_us: i64) -> Self {
        SagaRun {
            order,
            invoked_at_us,
            order_no: None,
            done: 0,
            failed: None,
            compensated: 0,
            client: None,
            phase: Phase::Logging,
        }
    }

    /// Folds one log record into the saga's position: the live path and
    /// recovery both go through here.
    fn apply(&mut self, record: &Record) {
        match *record {
            Record::Begin { order, invoked_at_us } => {
                *self = SagaRun { client: self.client, ..SagaRun::begin(order, invoked_at_us) }
            }
            Record::StepDone { step, order_no } => {
                assert!(self.failed.is_none(), "no step is done after a step failed");
                assert_eq!(Action::STEPS[self.done], step, "steps are done in order");
                self.done += 1;
                if order_no.is_some() {
                    self.order_no = order_no;
                }
            }
            Record::StepFailed { step, reason } => {
                assert!(self.failed.is_none(), "a saga fails once");
                assert_eq!(Action::STEPS[self.done], step, "the failed step is the next one");
                self.failed = Some((step, reason));
            }
            Record::Compensated { compensation } => {
                assert_eq!(self.next(), Next::Send(compensation), "compensations run in reverse order");
                self.compensated += 1;
            }
        }
    }

    /// The completed steps that have a compensation, last completed first:
    /// what a failure must undo, in that order.
    fn to_undo(&self) -> impl Iterator<Item = Action> + '_ {
        Action::STEPS[..self.done].iter().rev().filter_map(|s| s.compensation())
    }

    fn next(&self) -> Next {
        match self.failed {
            None if self.done < Action::STEPS.len() => Next::Send(Action::STEPS[self.done]),
            None => Next::End(SagaOutcome::Completed),
            Some((_, reason)) => {
                debug_assert!(
                    Action::STEPS[..self.done].iter().all(|s| s.compensation().is_some()),
                    "no step fails after the pivot"
                );
                match self.to_undo().nth(self.compensated) {
                    Some(compensation) => Next::Send(compensation),
                    None => Next::End(SagaOutcome::Compensated(reason)),
                }
            }
        }
    }

    /// The request for `action` of saga `saga`.
    fn request(&self, saga: SagaId, action: Action) -> Msg {
        let key = idempotency_key(saga, action);
        let o = self.order;
        let order_no = || self.order_no.expect("the order exists before it is approved or cancelled");
        match action {
            Action::CreateOrder => Msg::CreateOrder { key, saga, order: o },
            Action::Charge => Msg::Charge { key, saga, customer: o.customer, amount: o.amount },
            Action::Reserve => Msg::Reserve { key, saga, item: o.item, qty: o.qty },
            Action::ApproveOrder => Msg::ApproveOrder { key, saga, order: order_no() },
            Action::CancelOrder => Msg::CancelOrder { key, saga, order: order_no() },
            Action::Refund => Msg::Refund { key, saga, customer: o.customer, amount: o.amount },
        }
    }

    /// A row for the node view.
    fn describe(&self) -> String {
        let position = match (self.phase, self.failed) {
            (Phase::Ended(SagaOutcome::Completed), _) => "completed".to_string(),
            (Phase::Ended(SagaOutcome::Compensated(r)), _) => format!("compensated ({})", r.text()),
            (Phase::Awaiting { action, .. }, None) => format!("awaiting {}", action.name()),
            (Phase::Awaiting { action, .. }, Some((step, r))) => {
                format!("{} failed ({}); awaiting {}", step.name(), r.text(), action.name())
            }
            (Phase::Logging, _) => "logging".to_string(),
        };
        let o = self.order;
        format!("c{} {} x item{} ({}): {position}", o.customer, o.qty, o.item, o.amount)
    }
}

/// The orchestrator's memory: every saga it knows, running or ended (an
/// ended saga answers its client's late retries).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Orchestrator {
    sagas: BTreeMap<SagaId, SagaRun>,
    /// Writes issued since the disk was new.
    writes: u64,
    /// Ended sagas, to forget once they ended `retention` ago and their
    /// requests are older than `retention`.
    ended: Expiry<SagaId>,
    /// The latest local time (µs) the orchestrator has read — durable as
    /// of its latest forgetting. Retention reads the clock through it, so
    /// a clock set back cannot make a forgotten saga's request young
    /// again (see [`Orchestrator::now_us`]).
    clock_floor: ClockFloor,
}

// ----- the services ---------------------------------------------------------

/// An answer a service owes once its disk has caught up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Answer {
    to: NodeId,
    saga: SagaId,
    action: Action,
    key: u64,
    result: StepResult,
    repeat: bool,
}

/// A service: its table, and the keys it has processed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Service {
    role: Role,
    orders: BTreeMap<OrderNo, OrderRow>,
    last_order: OrderNo,
    /// Approved or cancelled orders, to archive after `retention`.
    finished_orders: Expiry<OrderNo>,
    balances: BTreeMap<Key, u64>,
    stock: BTreeMap<Item, u64>,
    processed: BTreeMap<u64, (StepResult, u64)>,
    /// Writes that stored keys, to forget `retention` after they reached
    /// the disk.
    stored_keys: Expiry<u64>,
    /// Untouched rows hold these (`credit`, `stock`).
    start_balance: u64,
    start_stock: u64,
    /// Writes issued since the disk was new.
    writes: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum State {
    Orchestrator(Orchestrator),
    Service(Service),
    /// A node with no role: it redirects clients to the orchestrator.
    Bystander,
}

type Ctx<'a, 'b> = &'a mut Context<'b, Saga>;

impl Orchestrator {
    fn recover(ctx: Ctx, disk: &Disk) -> Orchestrator {
        ctx.observe(Observation::Restarted { writes_on_disk: disk.writes });
        let mut o = Orchestrator {
            sagas: BTreeMap::new(),
            writes: disk.writes,
            ended: Expiry::default(),
            clock_floor: ClockFloor::new(disk.forgot_at_us),
        };
        arm_expiry(ctx);
        let now = o.now_us(ctx);
        for (&saga, records) in &disk.saga_log {
            let Some(&Record::Begin { order, invoked_at_us }) = records.first() else {
                unreachable!("a saga's log starts with Begin");
            };
            let mut run = SagaRun::begin(order, invoked_at_us);
            for r in &records[1..] {
                run.apply(r);
            }
            match run.next() {
                Next::End(outcome) => {
                    run.phase = Phase::Ended(outcome);
                    o.ended.push(now.max(invoked_at_us), saga);
                }
                Next::Send(_) => ctx.observe(Observation::Resumed { saga }),
            }
            o.sagas.insert(saga, run);
        }
        let unfinished: Vec<SagaId> =
            o.sagas.iter().filter(|(_, r)| r.phase == Phase::Logging).map(|(s, _)| *s).collect();
        for saga in unfinished {
            o.advance(ctx, saga, None);
        }
        o
    }

    /// The local clock as retention reads it: never earlier than a time
    /// already read. (A clock set back would otherwise make the request of
    /// a saga forgotten at that time young again, and let it run twice.)
    fn now_us(&mut self, ctx: &Context<'_, Saga>) -> i64 {
        self.clock_floor.read(ctx.local_time_us())
    }

    /// A client's order (or its retry: the same idempotency key).
    fn on_order(&mut self, ctx: Ctx, request: ClientRequest, order: Order) {
        let saga = request.idempotency_key;
        if let Some(run) = self.sagas.get_mut(&saga) {
            // A retry: never a second saga. Answer if it has ended,
            // otherwise answer this attempt when it does.
            run.client = Some(request.from);
            if let Phase::Ended(outcome) = run.phase {
                // (Once its end is on disk.)
                ctx.once_durable(|ctx| ctx.reply(request.from, client_reply(outcome)));
            }
            return;
        }
        let invoked_at_us = request.invoked_at_us;
        let cutoff = self.now_us(ctx) - ctx.params().retention.as_micros() as i64;
        if invoked_at_us <= cutoff {
            // Older than `retention`: this saga may have run, ended and
            // been forgotten — or never have arrived. Which, nobody can
            // tell now; beginning it could run it twice.
            ctx.observe(Observation::RefusedTooOld { saga });
            ctx.note(|| format!("saga {saga}: the order is older than retention; it may have run already"));
            return ctx.reply(request.from, ClientReply::unknown(TOO_OLD));
        }
        let mut run = SagaRun::begin(order, invoked_at_us);
        run.client = Some(request.from);
        self.sagas.insert(saga, run);
        ctx.note(|| format!("saga {saga} begins: logging it before the first step"));
        self.log(ctx, saga, Record::Begin { order, invoked_at_us });
    }

    /// Appends `record` to the saga's log; the saga moves on once it is on
    /// disk.
    fn log(&mut self, ctx: Ctx, saga: SagaId, record: Record) {
        let run = self.sagas.get_mut(&saga).expect("logging a known saga");
        run.apply(&record);
        run.phase = Phase::Logging;
        let w = ctx.write(DiskWrite::Log { saga, record });
        self.writes += 1;
        let write = self.writes;
        ctx.observe(match record {
            Record::Begin { order, .. } => Observation::SagaBegun { saga, order, write },
            Record::StepDone { step, .. } => Observation::StepDone { saga, step, write },
            Record::StepFailed { step, reason } => Observation::StepFailed { saga, step, reason, write },
            Record::Compensated { compensation } => Observation::Compensated { saga, compensation, write },
        });
        if let Next::End(outcome) = run.next() {
            ctx.observe(Observation::SagaEnded { saga, outcome, write });
        }
        // Nothing the record decides leaves before it is on disk.
        ctx.once_durable(|ctx| self.advance(ctx, saga, Some(w)));
    }

    /// Acts on the saga's last record (what it sends waits until that is
    /// on disk): send the next step or compensation, or end the saga and
    /// answer its client.
    /// `logged` is the record's write (none after a restart: the log is on
    /// disk); an ended saga's retention starts once it is on disk.
    fn advance(&mut self, ctx: Ctx, saga: SagaId, logged: Option<WriteId>) {
        let run = self.sagas.get_mut(&saga).expect("advancing a known saga");
        debug_assert_eq!(run.phase, Phase::Logging, "a saga acts on its latest record once");
        match run.next() {
            Next::Send(action) => {
                let service = service_node(ctx, action);
                ctx.send(service, run.request(saga, action));
                let timer = ctx.set_timer(ctx.params().step_timeout, Timer::Retry { saga, action });
                run.phase = Phase::Awaiting { action, timer };
            }
            Next::End(outcome) => {
                run.phase = Phase::Ended(outcome);
                let invoked_at_us = run.invoked_at_us;
                if let Some(client) = run.client {
                    ctx.reply(client, client_reply(outcome));
                }
                match logged {
                    Some(w) => self.ended.push_once_durable_not_before(w, invoked_at_us, saga),
                    None => {
                        let now = self.now_us(ctx);
                        self.ended.push(now.max(invoked_at_us), saga)
                    }
                }
            }
        }
    }

    /// A service answered the request with this key.
    fn on_reply(&mut self, ctx: Ctx, key: u64, result: StepResult) {
        let Some((saga, action)) = decode_key(key) else { return };
        let Some(run) = self.sagas.get_mut(&saga) else { return };
        let Phase::Awaiting { action: awaited, timer } = run.phase else {
            return; // a duplicate, or an answer to a request re-sent before
        };
        if awaited != action {
            return;
        }
        let record = match result {
            StepResult::Done { order } if action.is_compensation() => {
                debug_assert!(order.is_none());
                Record::Compensated { compensation: action }
            }
            StepResult::Done { order } => Record::StepDone { step: action, order_no: order },
            StepResult::Failed(reason) => {
                assert!(action.may_fail(), "{} cannot fail", action.name());
                ctx.note(|| {
                    format!("saga {saga}: {} failed ({}); compensating", action.name(), reason.text())
                });
                Record::StepFailed { step: action, reason }
            }
        };
        ctx.cancel_timer(timer);
        self.log(ctx, saga, record);
    }

    /// No answer in time: send the same request again (same key).
    fn on_retry(&mut self, ctx: Ctx, saga: SagaId, action: Action) {
        let Some(run) = self.sagas.get_mut(&saga) else { return };
        if !matches!(run.phase, Phase::Awaiting { action: a, .. } if a == action) {
            return;
        }
        ctx.observe(Observation::Retried { saga, action });
        ctx.send(service_node(ctx, action), run.request(saga, action));
        let timer = ctx.set_timer(ctx.params().step_timeout, Timer::Retry { saga, action });
        run.phase = Phase::Awaiting { action, timer };
    }

    /// Retention: forgets the sagas that ended more than `retention` ago
    /// and whose requests are older than `retention`. A retry that comes
    /// after that is refused as too old (`on_order`), never begun anew.
    fn expire(&mut self, ctx: Ctx) {
        arm_expiry(ctx);
        let now = self.now_us(ctx);
        let cutoff = now - ctx.params().retention.as_micros() as i64;
        let old: Vec<SagaId> = self.ended.due(cutoff).collect();
        for saga in old {
            let run = self.sagas.remove(&saga).expect("an ended saga is known until forgotten");
            assert!(run.invoked_at_us <= cutoff, "saga {saga}: forgotten while its client may still retry");
            ctx.write(DiskWrite::ForgetSaga { saga, at_us: now });
            self.writes += 1;
            ctx.observe(Observation::SagaForgotten { saga, write: self.writes });
        }
    }
}

fn service_node(ctx: &Context<'_, Saga>, action: Action) -> NodeId {
    let p = ctx.params();
    match action.service() {
        Role::OrderService => p.order_service,
        Role::PaymentService => p.payment_service,
        Role::InventoryService => p.inventory_service,
        Role::Orchestrator => unreachable!("the orchestrator performs no action itself"),
    }
}

/// What a client hears when its order is too old to begin (see
/// [`Orchestrator::on_order`]).
const TOO_OLD: &str = "too old: it may have run and been forgotten";

fn client_reply(outcome: SagaOutcome) -> ClientReply {
    match outcome {
        SagaOutcome::Completed => ClientReply::ok(None, 0),
        SagaOutcome::Compensated(reason) => ClientReply::fail(reason.client_reason()),
    }
}

impl Service {
    fn recover(ctx: Ctx, role: Role, disk: &Disk) -> Service {
        ctx.observe(Observation::Restarted { writes_on_disk: disk.writes });
        arm_expiry(ctx);
        let now = ctx.local_time_us();
        let mut stored_keys = Expiry::default();
        stored_keys.push(now, disk.writes);
        let mut finished_orders = Expiry::default();
        for (&no, row) in &disk.orders {
            if row.status != OrderStatus::Pending {
                finished_orders.push(now, no);
            }
        }
        let p = ctx.params();
        Service {
            writes: disk.writes,
            role,
            orders: disk.orders.clone(),
            last_order: disk.last_order,
            finished_orders,
            balances: disk.balances.clone(),
            stock: disk.stock.clone(),
            processed: disk.processed.clone(),
            stored_keys,
            start_balance: p.credit,
            start_stock: p.stock,
        }
    }

    /// A request from the orchestrator: a key seen before gets its stored
    /// result; a new one is executed as a local transaction.
    fn on_request(&mut self, ctx: Ctx, from: NodeId, msg: Msg) {
        let (key, saga, action) = msg.request().expect("a request");
        if action.service() != self.role {
            debug_assert!(false, "{} sent to the {}", action.name(), self.role.name());
            return;
        }
        let idempotent = ctx.params().idempotency;
        if idempotent && let Some(&(result, _)) = self.processed.get(&key) {
            ctx.note(|| format!("key {key} seen before: answering \"{result}\" again, executing nothing"));
            return self.answer(ctx, Answer { to: from, saga, action, key, result, repeat: true });
        }
        let (result, row, effect) = self.execute(ctx, &msg);
        if row.is_some() || idempotent {
            let on_disk = exercises::keys_on_disk(ctx.params());
            let remember = (idempotent && on_disk).then_some((key, result));
            let w = ctx.write(DiskWrite::Local { row, processed: remember });
            self.writes += 1;
            let write = self.writes;
            if idempotent {
                // Remembered at once (a repeat arriving before the write
                // is on disk is answered after it); kept for `retention`
                // from when it is on disk and answered.
                self.processed.insert(key, (result, write));
                self.stored_keys.push_once_durable(w, write);
            }
            if let Some(effect) = effect {
                ctx.observe(Observation::Applied { saga, action, key, effect, write });
                if let Effect::OrderApproved { order } | Effect::OrderCancelled { order } = effect {
                    self.finished_orders.push_once_durable(w, order);
                }
            }
        }
        self.answer(ctx, Answer { to: from, saga, action, key, result, repeat: false });
    }

    /// The local transaction: decides, and changes the row in memory.
    /// Returns the result, the row to write, and the effect.
    fn execute(&mut self, ctx: Ctx, msg: &Msg) -> (StepResult, Option<Row>, Option<Effect>) {
        let p = ctx.params();
        let done = StepResult::Done { order: None };
        match *msg {
            Msg::CreateOrder { saga, order, .. } => {
                if ctx.rng().chance(p.order_fail_rate) {
                    return (StepResult::Failed(Reason::OrderRejected), None, None);
                }
                self.last_order += 1;
                let no = self.last_order;
                let row = OrderRow { saga, order, status: OrderStatus::Pending };
                self.orders.insert(no, row);
                let effect = Effect::OrderCreated { order: no };
                (StepResult::Done { order: Some(no) }, Some(Row::Order(no, row)), Some(effect))
            }
            Msg::ApproveOrder { order, .. } => self.set_status(ctx, order, OrderStatus::Approved),
            Msg::CancelOrder { order, .. } => self.set_status(ctx, order, OrderStatus::Cancelled),
            Msg::Charge { customer, amount, .. } => {
                let balance = self.balances.get(&customer).copied().unwrap_or(self.start_balance);
                if balance < amount {
                    return (StepResult::Failed(Reason::InsufficientCredit), None, None);
                }
                if ctx.rng().chance(p.payment_fail_rate) {
                    return (StepResult::Failed(Reason::PaymentDeclined), None, None);
                }
                self.balances.insert(customer, balance - amount);
                let row = Row::Balance(customer, balance - amount);
                (done, Some(row), Some(Effect::Charged { customer, amount }))
            }
            Msg::Refund { customer, amount, .. } => {
                let balance = self.balances.get(&customer).copied().unwrap_or(self.start_balance);
                self.balances.insert(customer, balance + amount);
                let row = Row::Balance(customer, balance + amount);
                (done, Some(row), Some(Effect::Refunded { customer, amount }))
            }
            Msg::Reserve { item, qty, .. } => {
                let on_hand = self.stock.get(&item).copied().unwrap_or(self.start_stock);
                if on_hand < qty as u64 {
                    return (StepResult::Failed(Reason::OutOfStock), None, None);
                }
                if ctx.rng().chance(p.inventory_fail_rate) {
                    return (StepResult::Failed(Reason::ReservationDeclined), None, None);
                }
                self.stock.insert(item, on_hand - qty as u64);
                let row = Row::Stock(item, on_hand - qty as u64);
                (done, Some(row), Some(Effect::Reserved { item, qty }))
            }
            Msg::Reply { .. } => unreachable!("services receive requests only"),
        }
    }

    /// Approving or cancelling: naturally idempotent — setting the status a
    /// second time changes nothing.
    fn set_status(
        &mut self,
        ctx: Ctx,
        order: OrderNo,
        status: OrderStatus,
    ) -> (StepResult, Option<Row>, Option<Effect>) {
        let done = StepResult::Done { order: None };
        let Some(row) = self.orders.get_mut(&order) else {
            // The order's creation was answered only once on disk, so the
            // order is here, or finished and archived: this is a copy that
            // arrived more than `retention` late.
            ctx.note(|| format!("order {order} is archived: nothing to do"));
            return (done, None, None);
        };
        if row.status == status {
            return (done, None, None);
        }
        debug_assert_eq!(row.status, OrderStatus::Pending, "a saga never both approves and cancels an order");
        row.status = status;
        let effect = match status {
            OrderStatus::Approved => Effect::OrderApproved { order },
            _ => Effect::OrderCancelled { order },
        };
        (done, Some(Row::Order(order, *row)), Some(effect))
    }

    /// Sends `a` once every write so far is on disk.
    fn answer(&mut self, ctx: Ctx, a: Answer) {
        ctx.once_durable(|ctx| Self::send_answer(ctx, a));
    }

    /// Write `w` is on disk: the retention of its key and order starts.
    fn on_persisted(&mut self, ctx: Ctx, w: WriteId) {
        let now = ctx.local_time_us();
        self.stored_keys.persisted(w, now);
        self.finished_orders.persisted(w, now);
    }

    fn send_answer(ctx: Ctx, a: Answer) {
        ctx.observe(Observation::Replied {
            saga: a.saga,
            action: a.action,
            key: a.key,
            result: a.result,
            repeat: a.repeat,
        });
        ctx.send(a.to, Msg::Reply { key: a.key, result: a.result });
    }

    /// Retention: forgets the keys that reached the disk more than
    /// `retention` ago (by this node's clock), and archives the orders
    /// finished that long ago. A request repeating a forgotten key is
    /// executed again.
    fn expire(&mut self, ctx: Ctx) {
        arm_expiry(ctx);
        let cutoff = ctx.local_time_us() - ctx.params().retention.as_micros() as i64;
        let orders: Vec<OrderNo> = self.finished_orders.due(cutoff).collect();
        if !orders.is_empty() {
            for no in &orders {
                self.orders.remove(no);
            }
            ctx.write(DiskWrite::ArchiveOrders { orders });
            self.writes += 1;
        }
        let Some(through_write) = self.stored_keys.due(cutoff).last() else { return };
        let before = self.processed.len();
        self.processed.retain(|_, (_, w)| *w > through_write);
        if self.processed.len() < before {
            ctx.write(DiskWrite::ForgetKeys { through_write });
            self.writes += 1;
        }
    }
}

impl Protocol for Saga {
    const NAME: &'static str = "saga";
    type Params = Params;
    type State = State;
    type Durable = Disk;
    type DurableWrite = DiskWrite;
    type Msg = Msg;
    type Timer = Timer;
    type Observation = Observation;

    fn recover(ctx: &mut Context<'_, Self>, disk: &Disk) -> State {
        match ctx.params().role_of(ctx.me()) {
            Some(Role::Orchestrator) => State::Orchestrator(Orchestrator::recover(ctx, disk)),
            Some(role) => State::Service(Service::recover(ctx, role, disk)),
            None => State::Bystander,
        }
    }

    fn on_message(state: &mut State, ctx: &mut Context<'_, Self>, from: NodeId, msg: Msg) {
        match (state, msg) {
            (State::Orchestrator(o), Msg::Reply { key, result }) => o.on_reply(ctx, key, result),
            (State::Service(s), msg) if msg.request().is_some() => s.on_request(ctx, from, msg),
            _ => {} // not for this node
        }
    }

    fn on_timer(state: &mut State, ctx: &mut Context<'_, Self>, timer: Timer) {
        match (state, timer) {
            (State::Orchestrator(o), Timer::Retry { saga, action }) => o.on_retry(ctx, saga, action),
            (State::Orchestrator(o), Timer::Expire) => o.expire(ctx),
            (State::Service(s), Timer::Expire) => s.expire(ctx),
            _ => {}
        }
    }

    fn on_client_request(state: &mut State, ctx: &mut Context<'_, Self>, request: ClientRequest) {
        match (state, request.op) {
            (State::Orchestrator(o), Operation::Order { customer, item, qty }) => {
                let amount = qty as u64 * ctx.params().price;
                o.on_order(ctx, request, Order { customer, item, qty, amount })
            }
            (State::Orchestrator(_), _) => {
                ctx.reply(request.from, ClientReply::fail("the saga orchestrator takes orders only"))
            }
            _ => {
                let orchestrator = ctx.params().orchestrator;
                ctx.reply(request.from, ClientReply::redirect(Some(orchestrator)))
            }
        }
    }

    fn on_persisted(state: &mut State, ctx: &mut Context<'_, Self>, write: WriteId) {
        match state {
            State::Orchestrator(o) => {
                let now = o.now_us(ctx);
                o.ended.persisted(write, now);
            }
            State::Service(s) => s.on_persisted(ctx, write),
            State::Bystander => {}
        }
    }

    fn apply_write(disk: &mut Disk, write: &DiskWrite) {
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

    /// The workload: orders only (`read_fraction` does not apply). A
    /// customer from the client's `keys`, an item from `items`, 1 ..=
    /// `max_qty` units at `price` each.
    fn next_operation(p: &Params, spec: &ClientSpec, rng: &mut RngStream, _id: u64) -> Operation {
        let customer = client::draw_key(spec, rng);
        let item = rng.below(p.items as u64) as Item;
        let qty = 1 + rng.below(p.max_qty as u64) as u32;
        Operation::Order { customer, item, qty }
    }

    fn view(state: &State, disk: &Disk, _cluster: &Cluster) -> NodeView {
        /// Tables can be long: the views show their most recent rows.
        const SHOWN: usize = 12;
        match state {
            State::Orchestrator(o) => {
                let mut v = NodeView::new("orchestrator", None);
                let running: Vec<_> =
                    o.sagas.iter().filter(|(_, r)| !matches!(r.phase, Phase::Ended(_))).collect();
                let s = v.section(format!("sagas running ({})", running.len()));
                for (saga, run) in running.iter().take(SHOWN) {
                    s.row(format!("saga {saga}"), run.describe());
                }
                let ended = o.sagas.len() - running.len();
                let s = v.section(format!("sagas ended ({ended}), latest"));
                for (saga, run) in
                    o.sagas.iter().rev().filter(|(_, r)| matches!(r.phase, Phase::Ended(_))).take(SHOWN)
                {
                    s.row(format!("saga {saga}"), run.describe());
                }
                let s = v.section("saga log (disk), latest sagas");
                for (saga, records) in disk.saga_log.iter().rev().take(SHOWN) {
                    let text: Vec<String> = records.iter().map(describe_record).collect();
                    s.row(format!("saga {saga}"), text.join(" → "));
                }
                v
            }
            State::Service(svc) => {
                let mut v = NodeView::new(svc.role.name(), None);
                match svc.role {
                    Role::OrderService => {
                        let s = v.section(format!("orders ({}), latest", svc.orders.len()));
                        for (no, row) in svc.orders.iter().rev().take(SHOWN) {
                            let o = row.order;
                            s.row(
                                format!("order {no}"),
                                format!(
                                    "saga {}: c{} {} x item{}: {:?}",
                                    row.saga, o.customer, o.qty, o.item, row.status
                                ),
                            );
                        }
                    }
                    Role::PaymentService => {
                        let s = v.section(format!("balances (untouched: {})", svc.start_balance));
                        for (c, b) in &svc.balances {
                            s.row(format!("c{c}"), b);
                        }
                    }
                    _ => {
                        let s = v.section(format!("stock (untouched: {})", svc.start_stock));
                        for (i, n) in &svc.stock {
                            s.row(format!("item{i}"), n);
                        }
                    }
                }
                v.section("idempotency").row("keys remembered", svc.processed.len());
                v
            }
            State::Bystander => NodeView::new("bystander", None),
        }
    }
}

fn describe_record(r: &Record) -> String {
    match *r {
        Record::Begin { order, .. } => format!("begin (c{} pays {})", order.customer, order.amount),
        Record::StepDone { step, .. } => format!("{} done", step.name()),
        Record::StepFailed { step, reason } => format!("{} failed: {}", step.name(), reason.text()),
        Record::Compensated { compensation } => format!("{} done", compensation.name()),
    }
}
