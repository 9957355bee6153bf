//! The rule table: the messages and timers of two-phase commit, and which
//! handler each one runs. Read this first; each handler is in
//! `coordinator.rs`, `participant.rs` or (advanced) `termination.rs` and
//! `retention.rs`.

use super::*;

impl Protocol for TwoPhaseCommit {
    const NAME: &'static str = "two-phase-commit";
    type Params = Params;
    type State = State;
    type Durable = Disk;
    type DurableWrite = DiskWrite;
    type Msg = Msg;
    type Timer = Timer;
    type Observation = Observation;
    type Workload = Transfers;

    fn on_message(state: &mut State, ctx: &mut Context<'_, Self>, from: NodeId, msg: Msg) {
        match (state, msg) {
            // The coordinator.
            (State::Coordinator(c), Msg::Vote { tx, vote }) => Self::on_vote(c, ctx, from, tx, vote),
            (State::Coordinator(c), Msg::Ack { tx }) => Self::on_ack(c, ctx, from, tx),
            (State::Coordinator(c), Msg::Ask { tx, work }) => {
                Self::on_ask_coordinator(c, ctx, from, tx, work)
            }
            // A participant.
            (State::Participant(p), Msg::Prepare { tx, work }) => Self::vote(p, ctx, tx, work),
            (State::Participant(p), Msg::Commit { tx, invoked_at_us }) => {
                Self::complete(p, ctx, from, tx, Decision::Commit, invoked_at_us)
            }
            (State::Participant(p), Msg::Abort { tx, invoked_at_us }) => {
                Self::complete(p, ctx, from, tx, Decision::Abort, invoked_at_us)
            }
            (State::Participant(p), Msg::Ask { tx, work }) => Self::on_ask_peer(p, ctx, from, tx, work),
            (State::Participant(p), Msg::Outcome { tx, decision }) => Self::on_outcome(p, ctx, tx, decision),
            // Nobody sends these to this role.
            (State::Coordinator(_), Msg::Prepare { .. } | Msg::Commit { .. } | Msg::Abort { .. })
            | (State::Coordinator(_), Msg::Outcome { .. })
            | (State::Participant(_), Msg::Vote { .. } | Msg::Ack { .. }) => {}
        }
    }

    fn on_timer(state: &mut State, ctx: &mut Context<'_, Self>, timer: Timer) {
        match (state, timer) {
            (State::Coordinator(c), Timer::PrepareTimeout { tx }) => Self::on_prepare_timeout(c, ctx, tx),
            (State::Coordinator(c), Timer::Resend { tx }) => Self::resend_decision(c, ctx, tx),
            (State::Participant(p), Timer::DecisionTimeout { tx }) => Self::on_decision_timeout(p, ctx, tx),
            (state, Timer::Expire) => Self::expire(state, ctx),
            // Each role arms only its own timers.
            (State::Coordinator(_), Timer::DecisionTimeout { .. })
            | (State::Participant(_), Timer::PrepareTimeout { .. } | Timer::Resend { .. }) => {}
        }
    }

    fn on_client_request(state: &mut State, ctx: &mut Context<'_, Self>, request: ClientRequest<TransferOp>) {
        let what = match request.op {
            TransferOp::Transfer { from, to, amount } => What::Transfer { from, to, amount: amount as u64 },
            TransferOp::Order { customer, item, qty } => ctx.params().order(customer, item, qty),
        };
        match state {
            State::Coordinator(c) => {
                let work = Work { what, invoked_at_us: request.invoked_at_us };
                Self::submit(c, ctx, request.from, request.idempotency_key, work)
            }
            State::Participant(_) => {
                ctx.reply(request.from, ClientReply::redirect(Some(ctx.params().coordinator)))
            }
        }
    }

    fn recover(ctx: &mut Context<'_, Self>, disk: &Disk) -> State {
        Self::recover_from(ctx, disk)
    }

    fn apply_write(disk: &mut Disk, write: &DiskWrite) {
        Self::apply(disk, write)
    }

    fn label_observation(obs: &Observation) -> String {
        obs.label()
    }

    fn view(state: &State, _disk: &Disk, cluster: &Cluster) -> NodeView {
        Self::view_of(state, cluster)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Msg {
    /// Coordinator → participant, phase one: can you commit your part?
    Prepare {
        tx: Tx,
        work: Work,
    },
    /// Participant → coordinator.
    Vote {
        tx: Tx,
        vote: Vote,
    },
    /// Coordinator → participant, phase two: the logged decision (with
    /// the transaction's age, for a participant that has forgotten it).
    Commit {
        tx: Tx,
        invoked_at_us: i64,
    },
    Abort {
        tx: Tx,
        invoked_at_us: i64,
    },
    /// Participant → coordinator: the decision is applied and on my disk.
    Ack {
        tx: Tx,
    },
    /// Blocked participant → coordinator (and, cooperative termination,
    /// the other participants): what was decided? The transfer lets a
    /// recovered coordinator that has no record log an abort for it.
    Ask {
        tx: Tx,
        work: Work,
    },
    /// Participant → blocked peer (cooperative termination): the outcome I
    /// know.
    Outcome {
        tx: Tx,
        decision: Decision,
    },
}

impl Message for Msg {
    const KINDS: &'static [&'static str] =
        &["prepare", "vote-yes", "vote-no", "commit", "abort", "ack", "ask", "outcome"];
    fn kind(&self) -> &'static str {
        match self {
            Msg::Prepare { .. } => "prepare",
            Msg::Vote { vote: Vote::Yes, .. } => "vote-yes",
            Msg::Vote { vote: Vote::No(_), .. } => "vote-no",
            Msg::Commit { .. } => "commit",
            Msg::Abort { .. } => "abort",
            Msg::Ack { .. } => "ack",
            Msg::Ask { .. } => "ask",
            Msg::Outcome { .. } => "outcome",
        }
    }
    fn label(&self) -> String {
        match self {
            Msg::Prepare { tx, .. } => format!("Prepare tx {tx}"),
            Msg::Vote { tx, vote: Vote::Yes } => format!("Vote yes tx {tx}"),
            Msg::Vote { tx, vote: Vote::No(_) } => format!("Vote no tx {tx}"),
            Msg::Commit { tx, .. } => format!("Commit tx {tx}"),
            Msg::Abort { tx, .. } => format!("Abort tx {tx}"),
            Msg::Ack { tx } => format!("Ack tx {tx}"),
            Msg::Ask { tx, .. } => format!("Ask tx {tx}"),
            Msg::Outcome { tx, decision } => format!("Outcome {decision:?} tx {tx}"),
        }
    }
}

impl Msg {
    /// The coordinator's phase-two message for `decision`.
    pub(super) fn decision(tx: Tx, decision: Decision, invoked_at_us: i64) -> Msg {
        match decision {
            Decision::Commit => Msg::Commit { tx, invoked_at_us },
            Decision::Abort => Msg::Abort { tx, invoked_at_us },
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Timer {
    /// Coordinator: votes still missing now mean abort.
    PrepareTimeout { tx: Tx },
    /// Coordinator: re-send the decision to participants that have not
    /// acknowledged it.
    Resend { tx: Tx },
    /// Participant: the decision is late — blocked.
    DecisionTimeout { tx: Tx },
    /// Both: forget the finished transactions older than `retention`.
    Expire,
}

/// Two-phase commit's workload: transfers between accounts, or orders
/// (`[protocol] workload`).
pub struct Transfers;

/// A client's transaction: move `amount` from account `from` to account
/// `to`, or order `qty` units of `item` for `customer`. (Tagged
/// `transfer`, as the shared operation was: same encoding.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(tag = "f", rename_all = "kebab-case")]
pub enum TransferOp {
    Transfer { from: Key, to: Key, amount: u32 },
    Order { customer: Key, item: Item, qty: u32 },
}

impl std::fmt::Display for TransferOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TransferOp::Transfer { from, to, amount } => write!(f, "transfer {amount} from a{from} to a{to}"),
            TransferOp::Order { customer, item, qty } => write!(f, "order {qty} x i{item} for c{customer}"),
        }
    }
}

impl crate::nodes::Workload for Transfers {
    type Params = Params;
    type Op = TransferOp;
    type Answer = crate::nodes::Done;
    /// Transfers: from an account of the client's `keys` to one on
    /// another participant, 1 ..= `max_amount`. Orders, as the saga's
    /// clients draw them: a customer from the client's `keys`, an item,
    /// 1 ..= `max_qty` units.
    fn next_op(params: &Params, spec: &ClientSpec, rng: &mut RngStream, _id: u64) -> TransferOp {
        if let Some(shop) = &params.shop {
            let customer = draw_key(spec, rng);
            let item = rng.below(shop.items as u64) as Item;
            let qty = 1 + rng.below(shop.max_qty as u64) as u32;
            return TransferOp::Order { customer, item, qty };
        }
        let from = draw_key(spec, rng);
        let to = params.counterparty(from, spec.keys, rng);
        let amount = 1 + rng.below(params.max_amount) as u32;
        TransferOp::Transfer { from, to, amount }
    }
}
