//! The `[protocol]` table of `saga`.

use crate::nodes::NodeId;
use crate::protocols::Configure;
use crate::rng::Probability;
use crate::scenario::{ParamContext, ScenarioError, raw::S};
use crate::time::SimDuration;
use serde::Deserialize;

/// Deliberately broken variants, for exercises: find the bug with
/// `distlab check` (see `scenarios/saga/exercise-*.toml`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Bug {
    /// Services keep processed idempotency keys in memory only: a restart
    /// forgets them.
    KeysInMemory,
}

/// Read by hand rather than derived, so that a value of another type
/// (`bug = 5`) gets an error that lists the names, where the derived enum
/// says only "wanted string or table".
impl<'de> Deserialize<'de> for Bug {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Name;
        impl serde::de::Visitor<'_> for Name {
            type Value = Bug;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("one of `keys-in-memory`")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Bug, E> {
                match v {
                    "keys-in-memory" => Ok(Bug::KeysInMemory),
                    _ => Err(E::unknown_variant(v, BUGS)),
                }
            }
        }
        d.deserialize_str(Name)
    }
}

/// The names `bug` takes.
const BUGS: &[&str] = &["keys-in-memory"];

impl schemars::JsonSchema for Bug {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SagaBug".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        crate::scenario::schema::one_of(BUGS)
    }
}

/// The saga's parameters, validated. See the module docs for what each
/// one does.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Params {
    /// A deliberate bug (exercises), or none.
    pub bug: Option<Bug>,
    /// The node that runs sagas and keeps the saga log.
    pub orchestrator: NodeId,
    /// The services, one node each.
    pub order_service: NodeId,
    pub payment_service: NodeId,
    pub inventory_service: NodeId,
    /// Services remember processed idempotency keys (durably, with the
    /// effect) and answer a repeated key without a second effect.
    pub idempotency: bool,
    /// Chance that the order service rejects an order.
    pub order_fail_rate: Probability,
    /// Chance that the payment service declines a charge the customer
    /// could afford.
    pub payment_fail_rate: Probability,
    /// Chance that the inventory service declines a reservation it has
    /// stock for.
    pub inventory_fail_rate: Probability,
    /// How long the orchestrator waits for a service's answer before
    /// sending the same request again (same idempotency key).
    pub step_timeout: SimDuration,
    /// How long services keep processed idempotency keys (from when they
    /// are on disk) and finished orders; how long the orchestrator keeps an
    /// ended saga, and how old an order it still begins. See the module
    /// docs, "Retention", for what it must exceed.
    pub retention: SimDuration,
    /// Workload: items are `item0 .. item{items-1}`.
    pub items: u32,
    /// Workload: an order is for 1 ..= `max_qty` units.
    pub max_qty: u32,
    /// Workload: the price of one unit; an order's amount is qty × price.
    pub price: u64,
    /// Every customer's starting credit at the payment service.
    pub credit: u64,
    /// Every item's starting stock at the inventory service.
    pub stock: u64,
}

impl Params {
    /// The node that plays `role`, if any.
    pub fn role_of(&self, node: NodeId) -> Option<Role> {
        [
            (self.orchestrator, Role::Orchestrator),
            (self.order_service, Role::OrderService),
            (self.payment_service, Role::PaymentService),
            (self.inventory_service, Role::InventoryService),
        ]
        .into_iter()
        .find(|(n, _)| *n == node)
        .map(|(_, r)| r)
    }
}

/// What a node does in the saga.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Orchestrator,
    OrderService,
    PaymentService,
    InventoryService,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Orchestrator => "orchestrator",
            Role::OrderService => "order service",
            Role::PaymentService => "payment service",
            Role::InventoryService => "inventory service",
        }
    }
}

/// The most items, units per order, and so on that a scenario may ask for
/// (so a mistyped file gets an error, not an exhausted machine).
const MAX_ITEMS: i64 = 100_000;
const MAX_QTY: i64 = 1_000;
const MAX_PRICE: i64 = 1_000_000;
const MAX_CREDIT: i64 = 1_000_000_000_000_000;
const MAX_STOCK: i64 = 1_000_000_000_000;

#[derive(Deserialize, Default, Debug, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "SagaParams")]
pub struct RawParams {
    /// Default `n1`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub orchestrator: Option<S<String>>,
    /// Default `n2`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub order_service: Option<S<String>>,
    /// Default `n3`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub payment_service: Option<S<String>>,
    /// Default `n4`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub inventory_service: Option<S<String>>,
    /// Default true.
    #[serde(default)]
    pub idempotency: Option<bool>,
    /// A deliberately broken variant, for exercises.
    #[serde(default)]
    pub bug: Option<Bug>,
    /// Default 0.
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub order_fail_rate: Option<S<f64>>,
    /// Default 0.
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub payment_fail_rate: Option<S<f64>>,
    /// Default 0.
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    pub inventory_fail_rate: Option<S<f64>>,
    /// Default 100ms.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub step_timeout: Option<S<String>>,
    /// Default 1h.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub retention: Option<S<String>>,
    /// Default 4.
    #[serde(default)]
    #[schemars(with = "Option<i64>")]
    pub items: Option<S<i64>>,
    /// Default 3.
    #[serde(default)]
    #[schemars(with = "Option<i64>")]
    pub max_qty: Option<S<i64>>,
    /// Default 10.
    #[serde(default)]
    #[schemars(with = "Option<i64>")]
    pub price: Option<S<i64>>,
    /// Default 1000.
    #[serde(default)]
    #[schemars(with = "Option<i64>")]
    pub credit: Option<S<i64>>,
    /// Default 20.
    #[serde(default)]
    #[schemars(with = "Option<i64>")]
    pub stock: Option<S<i64>>,
}

impl Configure for super::Saga {
    type Raw = RawParams;
    const SUMMARY: &'static str = "an orchestrator runs order → payment → inventory as a saga with a durable saga log; a failed step is undone by compensations in reverse order; idempotency keys make retries and duplicates harmless";

    fn configure(raw: RawParams, cx: &ParamContext<'_>) -> Result<Params, ScenarioError> {
        let nodes = cx.cluster.len();
        let roles = [
            ("orchestrator", &raw.orchestrator, 0u32),
            ("order_service", &raw.order_service, 1),
            ("payment_service", &raw.payment_service, 2),
            ("inventory_service", &raw.inventory_service, 3),
        ];
        let mut chosen: Vec<(&str, NodeId, Option<std::ops::Range<usize>>)> = Vec::new();
        for (name, given, default) in roles {
            let node = match given {
                Some(n) => cx.node(n)?,
                None if (default as usize) < nodes => NodeId(default),
                None => {
                    return Err(cx
                        .error(
                            cx.nodes_span.clone(),
                            format!(
                                "a saga needs four nodes — the orchestrator and the order, payment and \
                                 inventory services — but the cluster has {nodes}"
                            ),
                        )
                        .with_help("use nodes = 4, or name the roles in [protocol] (orchestrator = \"n1\", order_service = \"n2\", ...)"));
                }
            };
            if let Some((other, _, _)) = chosen.iter().find(|(_, n, _)| *n == node) {
                let span = given
                    .as_ref()
                    .map(|g| g.span())
                    .or_else(|| chosen.iter().find(|(o, _, _)| o == other).and_then(|c| c.2.clone()));
                return Err(cx
                    .error(
                        span.unwrap_or(0..0),
                        format!("{name} and {other} are both {}", cx.cluster.name(node)),
                    )
                    .with_help("each role needs a node of its own"));
            }
            chosen.push((name, node, given.as_ref().map(|g| g.span())));
        }
        let step_timeout = cx.duration_or(&raw.step_timeout, SimDuration::from_millis(100))?;
        if step_timeout < SimDuration::from_millis(1) {
            return Err(cx
                .error(raw.step_timeout.as_ref().expect("given").span(), "step_timeout must be at least 1ms")
                .with_help("the orchestrator re-sends an unanswered request every step_timeout"));
        }
        let retention = cx.duration_or(&raw.retention, SimDuration::from_secs(3600))?;
        if retention <= step_timeout {
            let span = raw.retention.as_ref().or(raw.step_timeout.as_ref()).map_or(0..0, |d| d.span());
            return Err(cx
                .error(
                    span,
                    format!("retention ({retention}) must be longer than step_timeout ({step_timeout})"),
                )
                .with_help(
                    "a service keeps a key for retention once it is on disk, and the orchestrator re-sends \
                     an unanswered request every step_timeout: the key must outlive at least one re-send \
                     — in truth a round trip and the longest outage more",
                ));
        }
        let items = cx.within(&raw.items, "items", 1..=MAX_ITEMS, 4)?;
        let max_qty = cx.within(&raw.max_qty, "max_qty", 1..=MAX_QTY, 3)?;
        let price = cx.within(&raw.price, "price", 1..=MAX_PRICE, 10)?;
        let credit = cx.within(&raw.credit, "credit", 0..=MAX_CREDIT, 1000)?;
        let stock = cx.within(&raw.stock, "stock", 0..=MAX_STOCK, 20)?;
        Ok(Params {
            bug: raw.bug,
            orchestrator: chosen[0].1,
            order_service: chosen[1].1,
            payment_service: chosen[2].1,
            inventory_service: chosen[3].1,
            idempotency: raw.idempotency.unwrap_or(true),
            order_fail_rate: cx.probability(&raw.order_fail_rate, "order_fail_rate")?,
            payment_fail_rate: cx.probability(&raw.payment_fail_rate, "payment_fail_rate")?,
            inventory_fail_rate: cx.probability(&raw.inventory_fail_rate, "inventory_fail_rate")?,
            step_timeout,
            retention,
            items: items as u32,
            max_qty: max_qty as u32,
            price: price as u64,
            credit: credit as u64,
            stock: stock as u64,
        })
    }
}

/// The shortest `retention` under which the saga promises its checks: longer
/// than the outages and clock jumps a nemesis makes (see the module docs,
/// "Retention" and "Clocks").
pub const PROMISED_RETENTION: SimDuration = SimDuration::from_secs(1);

/// What the saga promises, check by check (the book's saga chapter, "What
/// it promises").
impl crate::protocols::Promises for super::Saga {
    fn promise(p: &Params, _nodes: usize, check: &str) -> Result<(), &'static str> {
        match check {
            "compensation-order" => Ok(()),
            "semantic-atomicity" | "applied-once" | "money-conserved" | "retries-same-answer"
                if !p.idempotency =>
            {
                Err("without idempotency keys a re-sent request takes effect again")
            }
            "semantic-atomicity" | "applied-once" | "money-conserved" | "retries-same-answer"
                if p.retention < PROMISED_RETENTION =>
            {
                Err("keys kept less than 1s may expire before a re-sent request (or a clock jump) arrives")
            }
            "semantic-atomicity" | "applied-once" | "money-conserved" | "retries-same-answer" => Ok(()),
            // A restarted orchestrator resumes every saga its log holds.
            crate::protocols::LIVENESS => Ok(()),
            crate::protocols::LINEARIZABILITY => {
                Err("its clients place orders, not reads and writes of registers")
            }
            _ => Err("not a check of this protocol"),
        }
    }
}
