//! *Advanced.* Retention: forgetting ended sagas, processed keys and
//! finished orders safely, by clocks that can jump.
//!
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
//! ## Clocks
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
use super::*;

/// Sets the next `Expire` timer.
pub(super) fn arm_expiry(ctx: Ctx) {
    let every = SimDuration((ctx.params().retention.0 / 4).max(1000));
    ctx.set_timer(Timer::Expire, every);
}

impl Orchestrator {
    /// The local clock as retention reads it: never earlier than a time
    /// already read. (A clock set back would otherwise make the request of
    /// a saga forgotten at that time young again, and let it run twice.)
    pub(super) fn now_us(&mut self, ctx: &Context<'_, Saga>) -> i64 {
        self.clock_floor.read(ctx.local_time_us())
    }

    /// Retention: forgets the sagas that ended more than `retention` ago
    /// and whose requests are older than `retention`. A retry that comes
    /// after that is refused as too old (`on_order`), never begun anew.
    pub(super) fn expire(&mut self, ctx: Ctx) {
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

impl Service {
    /// Write `w` is on disk: the retention of its key and order starts.
    pub(super) fn on_persisted(&mut self, ctx: Ctx, w: WriteId) {
        let now = ctx.local_time_us();
        self.stored_keys.persisted(w, now);
        self.finished_orders.persisted(w, now);
    }

    /// Retention: forgets the keys that reached the disk more than
    /// `retention` ago (by this node's clock), and archives the orders
    /// finished that long ago. A request repeating a forgotten key is
    /// executed again.
    pub(super) fn expire(&mut self, ctx: Ctx) {
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
