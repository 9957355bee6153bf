//! The rule table: the messages and timers of the saga, and which handler
//! each one runs. Read this first; the handlers are in `orchestrator.rs`,
//! `service.rs` and (advanced) `retention.rs`.

use super::*;

impl Protocol for Saga {
    const NAME: &'static str = "saga";
    type Params = Params;
    type State = State;
    type Durable = Disk;
    type DurableWrite = DiskWrite;
    type Msg = Msg;
    type Timer = Timer;
    type Observation = Observation;
    type Workload = Orders;

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

    fn on_client_request(state: &mut State, ctx: &mut Context<'_, Self>, request: ClientRequest<OrderOp>) {
        match (state, request.op) {
            (State::Orchestrator(o), OrderOp::Order { customer, item, qty }) => {
                let amount = qty as u64 * ctx.params().price;
                o.on_order(ctx, request, Order { customer, item, qty, amount })
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

    fn recover(ctx: &mut Context<'_, Self>, disk: &Disk) -> State {
        match ctx.params().role_of(ctx.me()) {
            Some(Role::Orchestrator) => State::Orchestrator(Orchestrator::recover(ctx, disk)),
            Some(role) => State::Service(Service::recover(ctx, role, disk)),
            None => State::Bystander,
        }
    }

    fn apply_write(disk: &mut Disk, write: &DiskWrite) {
        Self::apply(disk, write)
    }

    fn label_observation(obs: &Observation) -> String {
        obs.label()
    }

    fn view(state: &State, disk: &Disk, _cluster: &Cluster) -> NodeView {
        Self::view_of(state, disk)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
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
    pub(super) fn request(&self) -> Option<(u64, SagaId, Action)> {
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
    const KINDS: &'static [&'static str] =
        &["create-order", "charge", "reserve", "approve-order", "cancel-order", "refund", "reply"];
    fn kind(&self) -> &'static str {
        match self.request() {
            Some((_, _, action)) => action.name(),
            None => "reply",
        }
    }
    fn label(&self) -> String {
        match self {
            Msg::CreateOrder { saga, .. } => format!("CreateOrder saga {saga}"),
            Msg::Charge { saga, amount, .. } => format!("Charge {amount} saga {saga}"),
            Msg::Reserve { saga, qty, .. } => format!("Reserve {qty} saga {saga}"),
            Msg::ApproveOrder { saga, order, .. } => format!("Approve order {order} saga {saga}"),
            Msg::CancelOrder { saga, order, .. } => format!("Cancel order {order} saga {saga}"),
            Msg::Refund { saga, amount, .. } => format!("Refund {amount} saga {saga}"),
            Msg::Reply { result, .. } => format!("Reply {result}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Timer {
    /// No answer yet to `action` of `saga`: send it again.
    Retry { saga: SagaId, action: Action },
    /// Time to forget what is older than `retention`.
    Expire,
}

/// The saga's workload: orders.
pub struct Orders;

/// A client's order: customer `customer` orders `qty` units of `item`
/// (the shop sets the price). (Tagged `order`, as the shared operation
/// was: same encoding.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(tag = "f", rename_all = "kebab-case")]
pub enum OrderOp {
    Order { customer: Key, item: Item, qty: u32 },
}

impl std::fmt::Display for OrderOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let OrderOp::Order { customer, item, qty } = self;
        write!(f, "order {qty} x item{item} for c{customer}")
    }
}

impl crate::nodes::Workload for Orders {
    type Params = Params;
    type Op = OrderOp;
    type Answer = crate::nodes::Done;
    /// The workload: orders only (`read_fraction` does not apply). A
    /// customer from the client's `keys`, an item from `items`, 1 ..=
    /// `max_qty` units at `price` each.
    fn next_op(p: &Params, spec: &ClientSpec, rng: &mut RngStream, _id: u64) -> OrderOp {
        let customer = client::draw_key(spec, rng);
        let item = rng.below(p.items as u64) as Item;
        let qty = 1 + rng.below(p.max_qty as u64) as u32;
        OrderOp::Order { customer, item, qty }
    }
}
