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
//! # The code, file by file
//! [`messages`] is the rule table: every message and timer, and the
//! handler it runs. [`orchestrator`] begins a saga, logs each step's
//! result and, once it is durable, sends the next step or compensation
//! (`on_order`, `log`, `advance`, `on_reply`, `on_retry`). [`service`]
//! runs a step at most once per idempotency key and answers once durable
//! (`on_request`, `execute`). [`durable`] is the saga log and the
//! services' tables; [`retention`] (advanced) what is forgotten, when;
//! [`exercises`] the broken variants.
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
//! The workload ([`Orders`]) is orders only — a client's
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
pub mod durable;
pub mod exercises;
pub mod messages;
pub mod observations;
pub mod orchestrator;
mod params;
pub mod retention;
pub mod service;
pub mod view;

pub use checker::SagaChecker;
pub use durable::{Disk, DiskWrite, OrderRow, OrderStatus, Record, Row};
pub use messages::{Msg, OrderOp, Orders, Timer};
pub use observations::{Effect, Observation};
pub use params::{Params, RawParams, Role};

use retention::arm_expiry;

use crate::nodes::retention::{ClockFloor, Expiry};
use crate::nodes::{
    ClientRef, ClientReply, ClientRequest, ClientSpec, Cluster, Context, Item, Key, Message, NodeId,
    NodeView, Protocol, WindowMap, WriteId, client,
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Order {
    pub customer: Key,
    pub item: Item,
    pub qty: u32,
    pub amount: u64,
}

/// Why a step failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum Reason {
    OrderRejected,
    InsufficientCredit,
    PaymentDeclined,
    OutOfStock,
    ReservationDeclined,
}

impl Reason {
    /// Every reason, in declaration order.
    pub const ALL: [Reason; 5] = [
        Reason::OrderRejected,
        Reason::InsufficientCredit,
        Reason::PaymentDeclined,
        Reason::OutOfStock,
        Reason::ReservationDeclined,
    ];

    /// The metric that counts sagas compensated for this reason.
    pub fn metric(self) -> &'static str {
        match self {
            Reason::OrderRejected => "compensated_order_rejected",
            Reason::InsufficientCredit => "compensated_insufficient_credit",
            Reason::PaymentDeclined => "compensated_payment_declined",
            Reason::OutOfStock => "compensated_out_of_stock",
            Reason::ReservationDeclined => "compensated_reservation_declined",
        }
    }

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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum SagaOutcome {
    /// Every step done.
    Completed,
    /// A step failed for this reason, and every completed step was
    /// compensated.
    Compensated(Reason),
}

/// Where a saga stands now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Phase {
    /// A record is on its way to disk; the saga moves on once it is there.
    Logging,
    /// Waiting for a service to answer `action`.
    Awaiting {
        action: Action,
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

/// The orchestrator's memory: every saga it knows, running or ended (an
/// ended saga answers its client's late retries).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Orchestrator {
    sagas: WindowMap<SagaId, SagaRun>,
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
    orders: WindowMap<OrderNo, OrderRow>,
    last_order: OrderNo,
    /// Approved or cancelled orders, to archive after `retention`.
    finished_orders: Expiry<OrderNo>,
    balances: BTreeMap<Key, u64>,
    stock: BTreeMap<Item, u64>,
    processed: WindowMap<u64, (StepResult, u64)>,
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
