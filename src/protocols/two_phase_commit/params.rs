//! The `[protocol]` table of `two-phase-commit`, and where accounts live.

use super::{Holding, Share, What, Work};
use crate::nodes::{Item, Key, NodeId};
use crate::protocols::Configure;
use crate::rng::Probability;
use crate::scenario::{ParamContext, ScenarioError, raw::S};
use crate::time::SimDuration;
use serde::Deserialize;

/// What a blocked participant (in doubt past `decision_timeout`) does. See
/// the module docs, "Termination".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Termination {
    /// Ask the coordinator, again and again; only it can end the doubt.
    Wait,
    /// The cooperative termination protocol: ask the other participants too.
    Cooperative,
    /// Give up and abort on its own (unsafe).
    HeuristicAbort,
    /// Give up and commit on its own (unsafe).
    HeuristicCommit,
}

/// Deliberately broken variants, for exercises: find the bug with
/// `distlab check` (see `scenarios/two-phase-commit/exercise-*.toml`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Bug {
    /// A coordinator whose votes do not all arrive in time commits instead
    /// of aborting.
    CommitOnTimeout,
    /// The coordinator answers the client as soon as it decides, before
    /// the decision is on its disk: a crash in between loses a decision
    /// the client has heard (`client-told-the-truth`).
    AnswerBeforeLog,
    /// Nodes handle a message about a transaction they do not know as
    /// new, however old it is: a client's retry that arrives after the
    /// coordinator forgot the transaction runs it again (`runs-once`).
    NoAgeCheck,
}

/// What the clients' transactions do (`workload`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WorkKind {
    /// Transfers between two accounts on different participants.
    Transfer,
    /// Orders: a charge on the payment participant and a reservation on
    /// the inventory participant — the saga's business operation.
    Order,
}

const WORKLOADS: &[&str] = &["transfer", "order"];

impl<'de> Deserialize<'de> for WorkKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        one_of(d, WORKLOADS, &[WorkKind::Transfer, WorkKind::Order])
    }
}

impl schemars::JsonSchema for WorkKind {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "TwoPhaseCommitWorkload".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        crate::scenario::schema::one_of(WORKLOADS)
    }
}

/// The order workload's shop: who holds what, and what orders look like.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Shop {
    /// The participant holding the customers' credit.
    pub payment: NodeId,
    /// The participant holding the items' stock.
    pub inventory: NodeId,
    /// Every customer's starting credit.
    pub credit: u64,
    /// Every item's starting stock.
    pub stock: u64,
    /// Items are `i0 .. i{items-1}`.
    pub items: u32,
    /// An order is for 1 ..= `max_qty` units.
    pub max_qty: u32,
    /// The price of one unit: an order charges qty × price.
    pub price: u64,
}

/// The names `termination` takes, and `bug`.
const TERMINATIONS: &[&str] = &["wait", "cooperative", "heuristic-abort", "heuristic-commit"];
const BUGS: &[&str] = &["commit-on-timeout", "answer-before-log", "no-age-check"];

impl<'de> Deserialize<'de> for Termination {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use Termination::*;
        one_of(d, TERMINATIONS, &[Wait, Cooperative, HeuristicAbort, HeuristicCommit])
    }
}

impl<'de> Deserialize<'de> for Bug {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        one_of(d, BUGS, &[Bug::CommitOnTimeout, Bug::AnswerBeforeLog, Bug::NoAgeCheck])
    }
}

impl schemars::JsonSchema for Termination {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Termination".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        crate::scenario::schema::one_of(TERMINATIONS)
    }
}

impl schemars::JsonSchema for Bug {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "TwoPhaseCommitBug".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        crate::scenario::schema::one_of(BUGS)
    }
}

/// Reads one of `names` (a string), as the value at the same place in
/// `values`. Written out rather than derived so that a value of another
/// type (`termination = 5`) gets an error that lists the names, where the
/// derived enum says only "wanted string or table".
fn one_of<'de, D: serde::Deserializer<'de>, T: Copy + 'static>(
    d: D,
    names: &'static [&'static str],
    values: &'static [T],
) -> Result<T, D::Error> {
    struct Choice<T: 'static>(&'static [&'static str], &'static [T]);
    impl<T: Copy> serde::de::Visitor<'_> for Choice<T> {
        type Value = T;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            let quoted: Vec<String> = self.0.iter().map(|n| format!("`{n}`")).collect();
            write!(f, "one of {}", quoted.join(", "))
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<T, E> {
            match self.0.iter().position(|n| *n == v) {
                Some(i) => Ok(self.1[i]),
                None => Err(E::unknown_variant(v, self.0)),
            }
        }
    }
    debug_assert_eq!(names.len(), values.len());
    d.deserialize_str(Choice(names, values))
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Params {
    /// A deliberate bug (exercises), or none.
    pub bug: Option<Bug>,
    /// The node that runs every transaction.
    pub coordinator: NodeId,
    /// Every other node, in node order: participant `i` holds the accounts
    /// `a` with `a % participants.len() == i`.
    pub participants: Vec<NodeId>,
    /// What every account holds at the start.
    pub initial_balance: u64,
    /// Transfers move 1 ..= `max_amount`.
    pub max_amount: u64,
    /// A participant votes no at random with this probability, even when it
    /// could commit.
    pub vote_no_rate: Probability,
    /// How long the coordinator waits for votes before it aborts.
    pub prepare_timeout: SimDuration,
    /// How long a participant waits for the decision after voting yes
    /// before it is blocked (and asks, again every `decision_timeout`); also
    /// how often the coordinator re-sends a decision not yet acknowledged.
    pub decision_timeout: SimDuration,
    pub termination: Termination,
    /// How long nodes remember a finished transaction: the coordinator its
    /// decision once every participant acknowledged it, a participant its
    /// outcome — each until the transaction is older than this (by the
    /// client's invoke time) and finished this long ago. A node that meets
    /// a transaction it does not know, older than this, treats it as one
    /// it may have forgotten (module docs, "Retention").
    pub retention: SimDuration,
    /// The order workload's shop (`workload = "order"`), or none: transfers.
    pub shop: Option<Shop>,
}

impl Params {
    /// What the clients' transactions do.
    pub fn workload(&self) -> WorkKind {
        if self.shop.is_some() { WorkKind::Order } else { WorkKind::Transfer }
    }

    /// What `node`'s holdings are, and what each starts with.
    pub fn holding(&self, node: NodeId) -> (Holding, u64) {
        match &self.shop {
            None => (Holding::Account, self.initial_balance),
            Some(shop) if node == shop.inventory => (Holding::Stock, shop.stock),
            Some(shop) => (Holding::Credit, shop.credit),
        }
    }

    /// A transaction's legs: each participant it touches, with its share,
    /// in the order the coordinator prepares them.
    pub fn legs(&self, w: Work) -> impl Iterator<Item = (NodeId, Share)> + use<> {
        let legs: [Option<(NodeId, Share)>; 2] = match (w.what, &self.shop) {
            (What::Transfer { from, to, amount }, _) => {
                let (a, b) = (self.home(from), self.home(to));
                let at = |node: NodeId| Share {
                    holding: Holding::Account,
                    debit: (a == node).then_some(from),
                    credit: (b == node).then_some(to),
                    amount,
                };
                [Some((a, at(a))), (b != a).then(|| (b, at(b)))]
            }
            (What::Order { customer, item, qty, charge }, Some(shop)) => [
                Some((
                    shop.payment,
                    Share { holding: Holding::Credit, debit: Some(customer), credit: None, amount: charge },
                )),
                Some((
                    shop.inventory,
                    Share { holding: Holding::Stock, debit: Some(item as Key), credit: None, amount: qty },
                )),
            ],
            // Orders come only from the order workload's clients.
            (What::Order { .. }, None) => [None, None],
        };
        legs.into_iter().flatten()
    }
    /// The participant that holds `account`.
    pub fn home(&self, account: Key) -> NodeId {
        self.participants[account as usize % self.participants.len()]
    }

    /// The participants a transaction touches: for a transfer, the home
    /// of the debited account, then that of the credited one if it is
    /// another node; for an order, payment then inventory.
    pub fn participants_of(&self, w: Work) -> impl Iterator<Item = NodeId> + use<> {
        self.legs(w).map(|(node, _)| node)
    }

    /// `node`'s part of a transaction (nothing, if it touches none of its
    /// holdings).
    pub fn share_of(&self, node: NodeId, w: Work) -> Share {
        let (holding, _) = self.holding(node);
        self.legs(w)
            .find(|(n, _)| *n == node)
            .map_or(Share { holding, ..Share::default() }, |(_, share)| share)
    }

    /// An order's work: `qty` of `item` for `customer`, at the shop's
    /// price.
    pub fn order(&self, customer: Key, item: Item, qty: u32) -> What {
        let price = self.shop.as_ref().map_or(0, |s| s.price);
        What::Order { customer, item, qty: qty as u64, charge: qty as u64 * price }
    }

    /// An account to credit, for a transfer out of `from` among `keys`
    /// accounts: uniform over the accounts held by *another* participant.
    /// (With a single account there is none: the transfer is to itself.)
    pub fn counterparty(&self, from: Key, keys: u32, rng: &mut crate::rng::RngStream) -> Key {
        if keys <= 1 {
            return from;
        }
        for _ in 0..32 {
            let to = rng.below(keys as u64) as Key;
            if self.home(to) != self.home(from) {
                return to;
            }
        }
        // Accounts 0 and 1 live on different participants (there are at
        // least two), so one of them is elsewhere than `from`.
        if self.home(0) != self.home(from) { 0 } else { 1 }
    }
}

/// Upper bound on `initial_balance` and `max_amount`, so that the sum of a
/// million accounts cannot overflow.
const MONEY_MAX: u64 = 1_000_000_000_000;

#[derive(Deserialize, Default, Debug, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "TwoPhaseCommitParams")]
pub struct RawParams {
    /// Default: the first node.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub coordinator: Option<S<String>>,
    /// Default 100.
    #[serde(default)]
    #[schemars(with = "Option<u64>")]
    pub initial_balance: Option<S<u64>>,
    /// Default 50.
    #[serde(default)]
    #[schemars(with = "Option<u64>")]
    pub max_amount: Option<S<u64>>,
    /// Default 0.
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub vote_no_rate: Option<S<f64>>,
    /// Default 100ms.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub prepare_timeout: Option<S<String>>,
    /// Default 200ms.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub decision_timeout: Option<S<String>>,
    /// `wait` (default), `cooperative`, `heuristic-abort` or
    /// `heuristic-commit`.
    #[serde(default)]
    pub termination: Option<Termination>,
    /// A deliberately broken variant, for exercises.
    #[serde(default)]
    pub bug: Option<Bug>,
    /// Default 1h.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub retention: Option<S<String>>,
    /// `transfer` (default) or `order`.
    #[serde(default)]
    #[schemars(with = "Option<WorkKind>")]
    pub workload: Option<S<WorkKind>>,
    /// Orders: the participant holding the customers' credit (default the
    /// first participant).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub payment: Option<S<String>>,
    /// Orders: the participant holding the stock (default the second).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub inventory: Option<S<String>>,
    /// Orders: every customer's starting credit. Default 1000.
    #[serde(default)]
    #[schemars(with = "Option<u64>")]
    pub credit: Option<S<u64>>,
    /// Orders: every item's starting stock. Default 20.
    #[serde(default)]
    #[schemars(with = "Option<u64>")]
    pub stock: Option<S<u64>>,
    /// Orders: how many items. Default 4.
    #[serde(default)]
    #[schemars(with = "Option<u64>")]
    pub items: Option<S<u64>>,
    /// Orders: the most units in an order. Default 3.
    #[serde(default)]
    #[schemars(with = "Option<u64>")]
    pub max_qty: Option<S<u64>>,
    /// Orders: the price of one unit. Default 10.
    #[serde(default)]
    #[schemars(with = "Option<u64>")]
    pub price: Option<S<u64>>,
}

/// The order workload's limits: the saga's.
const MAX_ITEMS: u64 = 100_000;
const MAX_QTY: u64 = 1_000;
const MAX_PRICE: u64 = 1_000_000;
const MAX_STOCK: u64 = 1_000_000_000_000;

impl RawParams {
    /// The order workload's shop, checked; `None` for transfers (where
    /// naming a shop's field is a mistake, and the reverse).
    fn shop(&self, cx: &ParamContext<'_>, participants: &[NodeId]) -> Result<Option<Shop>, ScenarioError> {
        let order = self.workload.as_ref().is_some_and(|w| *w.get_ref() == WorkKind::Order);
        type Given = (&'static str, Option<std::ops::Range<usize>>);
        let spans =
            |fields: &[Given]| fields.iter().find_map(|(name, span)| span.clone().map(|s| (*name, s)));
        let shop_fields = [
            ("payment", self.payment.as_ref().map(|v| v.span())),
            ("inventory", self.inventory.as_ref().map(|v| v.span())),
            ("credit", self.credit.as_ref().map(|v| v.span())),
            ("stock", self.stock.as_ref().map(|v| v.span())),
            ("items", self.items.as_ref().map(|v| v.span())),
            ("max_qty", self.max_qty.as_ref().map(|v| v.span())),
            ("price", self.price.as_ref().map(|v| v.span())),
        ];
        let transfer_fields = [
            ("initial_balance", self.initial_balance.as_ref().map(|v| v.span())),
            ("max_amount", self.max_amount.as_ref().map(|v| v.span())),
        ];
        if !order {
            if let Some((name, span)) = spans(&shop_fields) {
                return Err(cx
                    .error(span, format!("{name} is a field of the order workload"))
                    .with_help("add workload = \"order\" to [protocol], or leave it out"));
            }
            return Ok(None);
        }
        if let Some((name, span)) = spans(&transfer_fields) {
            return Err(cx
                .error(span, format!("{name} is a field of the transfer workload, not of orders"))
                .with_help("orders use credit, stock, items, max_qty and price"));
        }
        let role = |given: &Option<S<String>>,
                    name: &str,
                    default: NodeId|
         -> Result<NodeId, ScenarioError> {
            let Some(g) = given else { return Ok(default) };
            let node = cx.node(g)?;
            if !participants.contains(&node) {
                return Err(cx.error(g.span(), format!("{name} must be a participant, not the coordinator")));
            }
            Ok(node)
        };
        let payment = role(&self.payment, "payment", participants[0])?;
        let inventory = role(&self.inventory, "inventory", participants[1])?;
        if payment == inventory {
            let span = self.inventory.as_ref().or(self.payment.as_ref()).map_or(0..0, |v| v.span());
            return Err(cx
                .error(span, format!("payment and inventory are both {}", cx.cluster.name(payment)))
                .with_help("an order's two legs live on two participants"));
        }
        Ok(Some(Shop {
            payment,
            inventory,
            credit: cx.within(&self.credit, "credit", 0..=MONEY_MAX, 1000)?,
            stock: cx.within(&self.stock, "stock", 0..=MAX_STOCK, 20)?,
            items: cx.within(&self.items, "items", 1..=MAX_ITEMS, 4)? as u32,
            max_qty: cx.within(&self.max_qty, "max_qty", 1..=MAX_QTY, 3)? as u32,
            price: cx.within(&self.price, "price", 1..=MAX_PRICE, 10)?,
        }))
    }
}

impl Configure for super::TwoPhaseCommit {
    type Raw = RawParams;
    const SUMMARY: &'static str = "atomic transfers across nodes: prepare, vote, commit or abort from the coordinator's log; blocking, cooperative termination, heuristic decisions";

    fn configure(raw: RawParams, cx: &ParamContext<'_>) -> Result<Params, ScenarioError> {
        if cx.cluster.len() < 3 {
            return Err(cx
                .error(
                    cx.nodes_span.clone(),
                    format!(
                        "two-phase commit needs at least 3 nodes (a coordinator and two participants), not {}",
                        cx.cluster.len()
                    ),
                )
                .with_help("a transfer moves money between accounts held on two different participants"));
        }
        let coordinator = raw.coordinator.as_ref().map(|n| cx.node(n)).transpose()?.unwrap_or(NodeId(0));
        let participants: Vec<NodeId> = cx.cluster.nodes().filter(|&n| n != coordinator).collect();
        let shop = raw.shop(cx, &participants)?;
        let initial_balance = cx.within(&raw.initial_balance, "initial_balance", 0..=MONEY_MAX, 100)?;
        // A transfer's amount travels in a 32-bit field of the request.
        let max_amount = cx.within(&raw.max_amount, "max_amount", 1..=u32::MAX as u64, 50)?;
        let vote_no_rate = cx.probability(&raw.vote_no_rate, "vote_no_rate")?;
        let timeout = |given: &Option<S<String>>, name: &str, default_ms: u64| {
            let Some(d) = given else { return Ok(SimDuration::from_millis(default_ms)) };
            let t = cx.duration(d)?;
            if t < SimDuration::from_millis(1) {
                return Err(cx.error(d.span(), format!("{name} must be at least 1ms, not {t}")));
            }
            Ok(t)
        };
        let prepare_timeout = timeout(&raw.prepare_timeout, "prepare_timeout", 100)?;
        let decision_timeout = timeout(&raw.decision_timeout, "decision_timeout", 200)?;
        let retention = cx.duration_or(&raw.retention, SimDuration::from_secs(3600))?;
        let lifetime = SimDuration(prepare_timeout.0 + decision_timeout.0);
        if retention <= lifetime {
            let span = raw.retention.as_ref().map_or(0..0, |d| d.span());
            return Err(cx
                .error(
                    span,
                    format!(
                        "retention ({retention}) must be longer than prepare_timeout + decision_timeout \
                         ({lifetime})"
                    ),
                )
                .with_help(
                    "a node treats a transaction older than retention that it does not know as one it may \
                     have forgotten: it ignores its prepare, refuses its client — retention must outlast \
                     a transaction's life, and the longest outage for it to still commit",
                ));
        }
        Ok(Params {
            bug: raw.bug,
            coordinator,
            participants,
            initial_balance,
            max_amount,
            vote_no_rate,
            prepare_timeout,
            decision_timeout,
            termination: raw.termination.unwrap_or(Termination::Wait),
            retention,
            shop,
        })
    }
}

/// What two-phase commit promises, check by check (the book's
/// two-phase-commit chapter, "What it promises").
impl crate::protocols::Promises for super::TwoPhaseCommit {
    fn promise(p: &Params, _nodes: usize, check: &str) -> Result<(), &'static str> {
        let heuristic = matches!(p.termination, Termination::HeuristicAbort | Termination::HeuristicCommit);
        match check {
            "atomicity" | "agrees-with-coordinator" | "conservation" if heuristic => {
                Err("a heuristic decision may contradict the coordinator's")
            }
            "no-commit-after-no" if p.termination == Termination::HeuristicCommit => {
                Err("a heuristic commit ignores a no vote it never heard")
            }
            "atomicity" | "agrees-with-coordinator" | "conservation" | "no-commit-after-no" => Ok(()),
            "runs-once" | "client-told-the-truth" => Ok(()),
            // The liveness phase restarts a crashed coordinator, which
            // finishes what its log holds; participants in doubt ask again.
            crate::protocols::LIVENESS => Ok(()),
            crate::protocols::LINEARIZABILITY => {
                Err("its clients make transactions (transfers or orders), not reads and writes of registers")
            }
            _ => Err("not a check of this protocol"),
        }
    }
}
