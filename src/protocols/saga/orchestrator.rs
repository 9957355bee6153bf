//! The orchestrator: it drives each saga's steps and compensations from
//! its durable saga log.
//!
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
use super::*;

impl SagaRun {
    pub(super) fn begin(order: Order, invoked_at_us: i64) -> Self {
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
    pub(super) fn apply(&mut self, record: &Record) {
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
    pub(super) fn to_undo(&self) -> impl Iterator<Item = Action> + '_ {
        Action::STEPS[..self.done].iter().rev().filter_map(|s| s.compensation())
    }

    pub(super) fn next(&self) -> Next {
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
    pub(super) fn request(&self, saga: SagaId, action: Action) -> Msg {
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
}

impl Orchestrator {
    pub(super) fn recover(ctx: Ctx, disk: &Disk) -> Orchestrator {
        ctx.observe(Observation::Restarted { writes_on_disk: disk.writes });
        let mut o = Orchestrator {
            sagas: WindowMap::new(),
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

    /// A client's order (or its retry: the same idempotency key).
    pub(super) fn on_order(&mut self, ctx: Ctx, request: ClientRequest<OrderOp>, order: Order) {
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
    pub(super) fn log(&mut self, ctx: Ctx, saga: SagaId, record: Record) {
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
    pub(super) fn advance(&mut self, ctx: Ctx, saga: SagaId, logged: Option<WriteId>) {
        let run = self.sagas.get_mut(&saga).expect("advancing a known saga");
        debug_assert_eq!(run.phase, Phase::Logging, "a saga acts on its latest record once");
        match run.next() {
            Next::Send(action) => {
                let service = service_node(ctx, action);
                ctx.send(service, run.request(saga, action));
                ctx.set_timer(Timer::Retry { saga, action }, ctx.params().step_timeout);
                run.phase = Phase::Awaiting { action };
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
    pub(super) fn on_reply(&mut self, ctx: Ctx, key: u64, result: StepResult) {
        let Some((saga, action)) = decode_key(key) else { return };
        let Some(run) = self.sagas.get_mut(&saga) else { return };
        let Phase::Awaiting { action: awaited } = run.phase else {
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
        ctx.cancel_timer(&Timer::Retry { saga, action });
        self.log(ctx, saga, record);
    }

    /// No answer in time: send the same request again (same key).
    pub(super) fn on_retry(&mut self, ctx: Ctx, saga: SagaId, action: Action) {
        let Some(run) = self.sagas.get_mut(&saga) else { return };
        if !matches!(run.phase, Phase::Awaiting { action: a, .. } if a == action) {
            return;
        }
        ctx.observe(Observation::Retried { saga, action });
        ctx.send(service_node(ctx, action), run.request(saga, action));
        ctx.set_timer(Timer::Retry { saga, action }, ctx.params().step_timeout);
        run.phase = Phase::Awaiting { action };
    }
}

pub(super) fn service_node(ctx: &Context<'_, Saga>, action: Action) -> NodeId {
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
pub(super) const TOO_OLD: &str = "too old: it may have run and been forgotten";

pub(super) fn client_reply(outcome: SagaOutcome) -> ClientReply<crate::nodes::Done> {
    match outcome {
        SagaOutcome::Completed => ClientReply::answer(crate::nodes::Done, 0),
        SagaOutcome::Compensated(reason) => ClientReply::fail(reason.client_reason()),
    }
}
