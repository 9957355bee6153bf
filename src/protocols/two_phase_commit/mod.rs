//! Two-phase commit (2PC): transactions with legs on different nodes, all
//! or nothing — transfers between accounts, or the saga's order across
//! payment and inventory.
//!
//! # Model
//! One node is the **coordinator** (`coordinator`, default the first node);
//! every other node is a **participant** (a resource manager) holding
//! some of the data. A client's request is a **transaction**: a *leg* — a
//! debit, a credit, or both — on each participant it touches
//! ([`Params::legs`]), all of which happen or none does. Two workloads
//! (`workload`):
//! - `transfer` (default): account `a` (the client's key `k{a}`) lives on
//!   participant number `a % participants`, in node order, and starts with
//!   `initial_balance`. Clients submit transfers (`transfer 30 from a1 to
//!   a2`, 1 ..= `max_amount`), drawn so that the two accounts live on
//!   different participants: the debit is one leg, the credit the other.
//! - `order`: the saga's business operation as one transaction. The
//!   `payment` participant holds each customer's credit (`credit`), the
//!   `inventory` participant each item's stock (`stock`); an order (`order
//!   2 x i3 for c1`, drawn as the saga's clients draw them) charges qty ×
//!   `price` to the customer — one leg — and reserves the units — the
//!   other. The coordinator's log is the order book: a logged commit is a
//!   placed order. Money and stock are conserved each on its own.
//!
//! Clients send transactions to the coordinator (a participant redirects
//! them there). A transaction's id is the client's idempotency key, the
//! same on every retry, so a retry finds its transaction: decided, it is
//! answered from the log; running, it waits for it; unknown, it starts — a
//! new prepare round, even for a transaction a crashed coordinator had
//! begun and forgotten (see "What is durable" for why that is safe).
//! `read_fraction` does not apply to this protocol.
//!
//! # The algorithm, file by file
//! The book's steps (chapter "Two-phase commit"), and where each is:
//! 1. **Prepare** — [`coordinator`]: a client's transaction arrives
//!    (`submit`); the coordinator sends `Prepare` (`prepare`).
//! 2. **Vote** — [`participant`]: lock its leg's holdings, check the
//!    funds (or the stock), log `Prepared`, and once it is durable vote
//!    yes (`vote`); or vote no — insufficient funds, out of stock, locked.
//! 3. **Decide** — [`coordinator`]: all yes, commit; a no or a missing
//!    vote, abort (`on_vote`, `on_prepare_timeout`). `decide` logs the
//!    decision; once it is durable it answers the client and sends it to
//!    every participant (`send_decision`).
//! 4. **Complete** — [`participant`]: apply or drop its leg, log the
//!    outcome, and once it is durable acknowledge (`complete`). The
//!    coordinator logs `End` when all have (`on_ack`).
//! 5. **In doubt, blocked** (advanced) — [`termination`]: a decision that
//!    does not come (`on_decision_timeout`, `ask`; cooperative
//!    termination: `on_ask_peer`).
//!
//! A node's [`State`] is its role's: a [`Coordinator`] (the decisions and
//! the transactions running) or a [`Participant`] (balances, locks, yes
//! votes in doubt, outcomes). [`messages`] is the rule table: every
//! message and timer, the role it is for, and the handler it runs. [`durable`] is what survives a crash and how a node
//! recovers (presumed abort); [`retention`] (advanced) how finished
//! transactions are forgotten safely.
//!
//! # Guarantees (checked in [`checker`])
//! - `atomicity`: no transaction commits at one participant and aborts at
//!   another.
//! - `no-commit-after-no`: no transaction some participant voted no on is
//!   committed, by the coordinator or at a participant.
//! - `agrees-with-coordinator`: no participant decides differently from the
//!   coordinator's logged decision.
//! - `conservation`: money (and, for orders, stock) is neither created nor
//!   destroyed — the holdings, plus the legs of committed transactions
//!   some participant has yet to apply, plus what committed orders took,
//!   always add up to what they started with.
//! - `client-told-the-truth`: a client told ok has its transfer's commit in
//!   the coordinator's log, one told it failed has its abort there.
//! - `runs-once`: no transaction gets a new prepare round after its
//!   decision was logged — which would run the transaction twice.
//!
//! They hold under any crashes, pauses, partitions, loss, duplication and
//! clock skew with `wait` and `cooperative`, whatever `retention`; the
//! price is blocking. The heuristic decisions trade them for availability.
//! Three deliberately broken variants (`bug`, in [`exercises`]) show checks firing:
//! `commit-on-timeout` (atomicity), `answer-before-log` (the client hears
//! a decision a crash then loses: `client-told-the-truth`) and
//! `no-age-check` (a forgotten transaction's late retry runs again:
//! `runs-once`).
//!
//! # Failure story
//! A participant is **in doubt** between its yes vote and the decision, and
//! holds its locks all that time. A coordinator that crashes after the
//! prepares and before logging a decision leaves its yes-voters blocked
//! until it returns and presumes abort; one that crashes after logging
//! re-sends the decision on recovery. Cooperative termination shortens
//! blocking but cannot end it when every participant voted yes; heuristic
//! decisions end it and may break atomicity. Lost, duplicated and
//! reordered messages are re-sent or ignored; nothing a node said is taken
//! back, because every message that vouches for a record leaves only once
//! the record is on disk ([`Context::once_durable`]).
//!
//! # Simplifications
//! - A participant does its work when `Prepare` arrives (the transaction rides
//!   on it), so "a participant that has not voted" is one the prepare has
//!   not reached.
//! - Abort decisions are logged and acknowledged like commits. Presumed
//!   abort lets real coordinators skip both; here the log answers a
//!   client's retry.
//!
//! Sources: Gray, "Notes on Data Base Operating Systems" (1978); Bernstein,
//! Hadzilacos & Goodman, *Concurrency Control and Recovery in Database
//! Systems* (1987), ch. 7 (two-phase commit, the cooperative termination
//! protocol); Mohan, Lindsay & Obermarck, "Transaction Management in the R*
//! Distributed Database Management System" (TODS 1986), presumed abort;
//! Kleppmann, *Designing Data-Intensive Applications*, ch. 9 ("Atomic
//! Commit and Two-Phase Commit", "Coordinator failure", "heuristic
//! decisions"); Gray & Lamport, "Consensus on Transaction Commit" (2006).

pub mod checker;
pub mod coordinator;
pub mod durable;
pub mod exercises;
pub mod messages;
pub mod observations;
mod params;
pub mod participant;
pub mod retention;
pub mod termination;
pub mod view;

pub use checker::TwoPhaseCommitChecker;
pub use durable::{Disk, DiskWrite, Logged};
pub use messages::{Msg, Timer, TransferOp, Transfers};
pub use observations::{Learned, Observation};
pub use params::WorkKind;
pub use params::{Params, RawParams, Termination};

use crate::nodes::client::{ClientSpec, draw_key};
use crate::nodes::retention::{ClockFloor, Expiry};
use crate::nodes::{
    ClientRef, ClientReply, ClientRequest, Cluster, Context, Item, Key, Message, NodeId, NodeView, Protocol,
    SmallMap, WindowMap,
};
use crate::rng::RngStream;
use crate::time::SimDuration;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TwoPhaseCommit;

/// A transaction's id: the client's idempotency key.
pub type Tx = u64;

/// What a transaction does, as its client asked for it, and when.
#[derive(Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Work {
    pub what: What,
    /// When the client invoked it (µs, its clock; the same on every
    /// retry): the transaction's age, by which nodes forget it (see
    /// "Retention").
    pub invoked_at_us: i64,
}

/// The two workloads (`[protocol] workload`). Untagged: a transfer is
/// encoded as it was before orders existed (its three fields, no variant
/// index), so the trace digests of transfer runs are unchanged; the field
/// names tell the two apart when decoded (`distlab live`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum What {
    /// Move `amount` from account `from` to account `to`.
    Transfer { from: Key, to: Key, amount: u64 },
    /// Place an order: charge `customer`'s credit `charge` (the payment
    /// participant) and reserve `qty` units of `item` (the inventory
    /// participant).
    Order { customer: Key, item: Item, qty: u64, charge: u64 },
}

/// What a participant's holdings are.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Holding {
    /// Bank accounts `a0, a1, ..` (money).
    #[default]
    Account,
    /// Customers' credit `c0, c1, ..` (money): the payment participant.
    Credit,
    /// Items' stock `i0, i1, ..` (units): the inventory participant.
    Stock,
}

/// What is conserved: money and stock, each on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Conserved {
    Money = 0,
    Stock = 1,
}

impl Holding {
    pub fn unit(self) -> Conserved {
        match self {
            Holding::Account | Holding::Credit => Conserved::Money,
            Holding::Stock => Conserved::Stock,
        }
    }
    /// How traces name its holdings: `a1`, `c1`, `i1`.
    pub fn prefix(self) -> &'static str {
        match self {
            Holding::Account => "a",
            Holding::Credit => "c",
            Holding::Stock => "i",
        }
    }
}

/// One participant's part of a transaction — its *leg*: the holding it
/// debits and the one it credits, when it holds them. A transfer has a
/// debit leg and a credit leg (one leg, when both accounts live on one
/// participant); an order a charge on the payment participant and a
/// reservation on the inventory participant, both debits: what they take
/// goes to the order.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Share {
    pub holding: Holding,
    pub debit: Option<Key>,
    pub credit: Option<Key>,
    pub amount: u64,
}

/// As traces show it: `30 a1→a2`, `order 2 x i3 for c1 (20)`.
impl std::fmt::Debug for Work {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.what {
            What::Transfer { from, to, amount } => write!(f, "{amount} a{from}→a{to}"),
            What::Order { customer, item, qty, charge } => {
                write!(f, "order {qty} x i{item} for c{customer} ({charge})")
            }
        }
    }
}

/// As traces show it: `-30 a1`, `+30 a2`, `-30 a1 +30 a3`, `-2 i3`, or
/// `nothing`.
impl std::fmt::Debug for Share {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        let h = self.holding.prefix();
        if let Some(a) = self.debit {
            parts.push(format!("-{} {h}{a}", self.amount));
        }
        if let Some(a) = self.credit {
            parts.push(format!("+{} {h}{a}", self.amount));
        }
        if parts.is_empty() { f.write_str("nothing") } else { f.write_str(&parts.join(" ")) }
    }
}

impl Share {
    /// The holdings it touches, which it locks (one, for a transfer to
    /// the same account).
    pub fn accounts(&self) -> impl Iterator<Item = Key> + use<> {
        let second = self.credit.filter(|c| Some(*c) != self.debit);
        self.debit.into_iter().chain(second)
    }
    /// Whether it touches anything.
    pub fn touches(&self) -> bool {
        self.debit.is_some() || self.credit.is_some()
    }
    /// What committing it adds to the total of this participant's
    /// holdings (its credit minus its debit), in its unit.
    pub fn net(&self) -> i128 {
        let amount = self.amount as i128;
        let credit = if self.credit.is_some() { amount } else { 0 };
        let debit = if self.debit.is_some() { amount } else { 0 };
        credit - debit
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Decision {
    Commit,
    Abort,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Vote {
    /// Prepared: on my disk, accounts locked; I will commit if told to.
    Yes,
    No(NoReason),
}

/// Why a participant voted no.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum NoReason {
    /// The debit is larger than the balance (or the customer's credit).
    InsufficientFunds,
    /// Another prepared transaction holds a lock on one of the accounts.
    Locked,
    /// Refused at random (`vote_no_rate`).
    Refused,
    /// This participant had already aborted the transaction (a duplicate
    /// prepare, or one that arrived after a unilateral abort).
    AlreadyAborted,
    /// The reservation is larger than the item's stock (orders; last, so
    /// that the other reasons keep their encoding).
    OutOfStock,
}

/// A node's state: its role's.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum State {
    Coordinator(Coordinator),
    Participant(Participant),
}

/// The coordinator's state.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Coordinator {
    /// Every decision taken and not yet forgotten (mirrors the log, plus
    /// one being written).
    decisions: WindowMap<Tx, Decision>,
    /// The transactions not yet finished: voting, or deciding.
    running: SmallMap<Tx, Running>,
    retention: Retention,
}

/// A participant's state.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Participant {
    /// What its holdings are (accounts, credit or stock): fixed by the
    /// parameters, kept for its view.
    holding: Holding,
    /// Holdings that have changed (the others hold what they started
    /// with: `initial_balance`, `credit` or `stock`).
    balances: BTreeMap<Key, u64>,
    /// Account → the prepared transaction holding its lock.
    locks: SmallMap<Key, Tx>,
    /// Yes votes awaiting the decision: in doubt.
    prepared: SmallMap<Tx, Prepared>,
    /// Every transaction this participant decided (and has not forgotten).
    outcomes: WindowMap<Tx, Decision>,
    retention: Retention,
}

/// What both roles keep to forget finished transactions (see
/// [`retention`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Retention {
    /// Finished transactions to forget.
    finished: Expiry<Tx>,
    /// The latest local time (µs) read for retention — durable as of the
    /// latest forgetting (see [`Retention::now_us`]).
    clock_floor: ClockFloor,
}

impl State {
    fn retention(&mut self) -> &mut Retention {
        match self {
            State::Coordinator(c) => &mut c.retention,
            State::Participant(p) => &mut p.retention,
        }
    }
}

/// A transaction the coordinator has not finished.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Running {
    work: Work,
    participants: Vec<NodeId>,
    phase: Phase,
    /// The client waiting for the outcome (its latest attempt).
    client: Option<ClientRef>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Phase {
    /// Phase one: collecting votes (the yes votes so far).
    Voting { yes: BTreeSet<NodeId> },
    /// Phase two: the decision is logged (and, once durable, sent);
    /// waiting for acks.
    Finishing { decision: Decision, acked: BTreeSet<NodeId> },
}

/// A participant's yes vote awaiting the outcome.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Prepared {
    work: Work,
    share: Share,
    /// In doubt past `decision_timeout`.
    blocked: bool,
}

type Ctx<'a, 'b> = &'a mut Context<'b, TwoPhaseCommit>;
