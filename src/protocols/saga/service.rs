//! A service: it runs one local transaction per request, at most once per
//! idempotency key.
//!
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
use super::*;

impl Service {
    pub(super) fn recover(ctx: Ctx, role: Role, disk: &Disk) -> Service {
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
            orders: disk.orders.copy_to_grow(),
            last_order: disk.last_order,
            finished_orders,
            balances: disk.balances.clone(),
            stock: disk.stock.clone(),
            processed: disk.processed.copy_to_grow(),
            stored_keys,
            start_balance: p.credit,
            start_stock: p.stock,
        }
    }

    /// A request from the orchestrator: a key seen before gets its stored
    /// result; a new one is executed as a local transaction.
    pub(super) fn on_request(&mut self, ctx: Ctx, from: NodeId, msg: Msg) {
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
    pub(super) fn execute(&mut self, ctx: Ctx, msg: &Msg) -> (StepResult, Option<Row>, Option<Effect>) {
        let p = ctx.params();
        let done = StepResult::Done { order: None };
        match *msg {
            Msg::CreateOrder { saga, order, .. } => {
                if ctx.chance(p.order_fail_rate) {
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
                if ctx.chance(p.payment_fail_rate) {
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
                if ctx.chance(p.inventory_fail_rate) {
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
    pub(super) fn set_status(
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
    pub(super) fn answer(&mut self, ctx: Ctx, a: Answer) {
        ctx.once_durable(|ctx| Self::send_answer(ctx, a));
    }

    pub(super) fn send_answer(ctx: Ctx, a: Answer) {
        ctx.observe(Observation::Replied {
            saga: a.saga,
            action: a.action,
            key: a.key,
            result: a.result,
            repeat: a.repeat,
        });
        ctx.send(a.to, Msg::Reply { key: a.key, result: a.result });
    }
}
