//! The checks of the saga.
//!
//! The checker follows what the orchestrator *logged* (its observations are
//! published once a record is on disk), what the services *did* (an
//! `Applied` observation once an effect is on a service's disk) and what
//! clients were told (the history; a saga is named by its client's
//! operation id, which is the request's idempotency key). It judges the
//! services' effects, not the orchestrator's word for them: a saga the
//! orchestrator calls completed but whose customer was charged twice is
//! not atomic.
//!
//! Sagas still running when the run ends are counted (`sagas_unfinished`),
//! not judged: their effects are legitimately partial.

use super::{Action, Effect, Observation, Order, OrderNo, Params, Saga, SagaId, SagaOutcome};
use crate::check::{At, Checker, HistoryEvent, HistoryKind, Report, Verdict};
use crate::nodes::{Cluster, NodeId, Operation};
use crate::sim::time::SimTime;
use std::collections::BTreeMap;

/// What the checker knows of one saga.
#[derive(Clone, Debug, Default)]
struct SagaFacts {
    /// From `SagaBegun`: the saga's input, and when it began.
    order: Option<Order>,
    begun: Option<SimTime>,
    /// Steps and compensations the orchestrator logged, in order.
    steps: Vec<Action>,
    compensations: Vec<Action>,
    ended: Option<(SagaOutcome, At)>,
    /// Every effect the services applied for this saga, in order.
    effects: Vec<(Action, Effect, At)>,
    /// What the client was told: ok (`true`) or fail (`false`).
    told: Option<(bool, At)>,
}

impl SagaFacts {
    /// When `action` first took effect.
    fn first_effect(&self, action: Action) -> Option<At> {
        self.effects.iter().find(|(a, _, _)| *a == action).map(|(_, _, at)| *at)
    }

    /// Money charged minus refunded, and units reserved, for this saga.
    fn net(&self) -> (i128, i128) {
        let mut money = 0i128;
        let mut units = 0i128;
        for (_, effect, _) in &self.effects {
            match *effect {
                Effect::Charged { amount, .. } => money += amount as i128,
                Effect::Refunded { amount, .. } => money -= amount as i128,
                Effect::Reserved { qty, .. } => units += qty as i128,
                _ => {}
            }
        }
        (money, units)
    }

    /// Each order created for this saga, with whether it was approved and
    /// whether it was cancelled.
    fn orders(&self) -> BTreeMap<OrderNo, (bool, bool)> {
        let mut orders: BTreeMap<OrderNo, (bool, bool)> = BTreeMap::new();
        for (_, effect, _) in &self.effects {
            match *effect {
                Effect::OrderCreated { order } => {
                    orders.entry(order).or_default();
                }
                Effect::OrderApproved { order } => orders.entry(order).or_default().0 = true,
                Effect::OrderCancelled { order } => orders.entry(order).or_default().1 = true,
                _ => {}
            }
        }
        orders
    }

    /// Orders created for this saga that are neither approved nor
    /// cancelled.
    fn orphans(&self) -> usize {
        self.orders().values().filter(|(approved, cancelled)| !approved && !cancelled).count()
    }

    /// Why this ended saga is not atomic, if it is not.
    fn atomicity_violation(&self, saga: SagaId) -> Option<String> {
        let (outcome, _) = self.ended?;
        let Some(order) = self.order else {
            return Some(format!("saga {saga} ended but never began"));
        };
        let (money, units) = self.net();
        let orders = self.orders();
        match outcome {
            SagaOutcome::Completed => {
                if self.steps != Action::STEPS || !self.compensations.is_empty() {
                    return Some(format!(
                        "saga {saga} completed with steps {:?} and compensations {:?} logged",
                        self.steps, self.compensations
                    ));
                }
                if orders.len() != 1 || orders.values().any(|&(approved, cancelled)| !approved || cancelled) {
                    return Some(format!(
                        "saga {saga} completed, but its orders are {} (one approved order expected)",
                        describe_orders(&orders)
                    ));
                }
                if money != order.amount as i128 {
                    return Some(format!(
                        "saga {saga} completed, but c{} was charged a net {money} for an order of {}",
                        order.customer, order.amount
                    ));
                }
                if units != order.qty as i128 {
                    return Some(format!(
                        "saga {saga} completed, but {units} units of item{} were reserved for an order of {}",
                        order.item, order.qty
                    ));
                }
            }
            SagaOutcome::Compensated(reason) => {
                let done = Action::STEPS[..self.steps.len()].iter().filter_map(|s| s.compensation());
                let mut owed: Vec<Action> = done.collect();
                let mut ran = self.compensations.clone();
                owed.sort();
                ran.sort();
                if owed != ran {
                    return Some(format!(
                        "saga {saga} ended compensated ({}) after steps {:?}, but ran compensations {:?}",
                        reason.text(),
                        self.steps,
                        self.compensations
                    ));
                }
                if orders.values().any(|&(_, cancelled)| !cancelled) {
                    return Some(format!(
                        "saga {saga} was compensated, but its orders are {}",
                        describe_orders(&orders)
                    ));
                }
                if money != 0 {
                    return Some(format!(
                        "saga {saga} was compensated, but c{} was charged a net {money}",
                        order.customer
                    ));
                }
                if units != 0 {
                    return Some(format!(
                        "saga {saga} was compensated, but {units} units of item{} stay reserved",
                        order.item
                    ));
                }
            }
        }
        match (self.told, outcome) {
            (Some((true, _)), SagaOutcome::Compensated(_)) => {
                Some(format!("saga {saga} was compensated, but its client was told ok"))
            }
            (Some((false, _)), SagaOutcome::Completed) => {
                Some(format!("saga {saga} completed, but its client was told it failed"))
            }
            _ => None,
        }
    }

    /// When this saga's story was last added to.
    fn last_at(&self) -> Option<At> {
        let effects = self.effects.iter().map(|e| e.2);
        self.ended.map(|e| e.1).into_iter().chain(effects).chain(self.told.map(|t| t.1)).max()
    }
}

fn describe_orders(orders: &BTreeMap<OrderNo, (bool, bool)>) -> String {
    if orders.is_empty() {
        return "none".into();
    }
    let each: Vec<String> = orders
        .iter()
        .map(|(no, (approved, cancelled))| {
            let status = match (approved, cancelled) {
                (false, false) => "pending",
                (true, false) => "approved",
                (false, true) => "cancelled",
                (true, true) => "approved and cancelled",
            };
            format!("order {no} {status}")
        })
        .collect();
    each.join(", ")
}

#[derive(Clone, Debug, Default)]
pub struct SagaChecker {
    sagas: BTreeMap<SagaId, SagaFacts>,
    /// The first (saga, action) that took effect twice.
    first_duplicate: Option<(At, String)>,
    duplicate_effects: u64,
    double_charges: u64,
    /// The first compensation out of order.
    first_misordered: Option<(At, String)>,
    compensations: u64,
    retries: u64,
    suppressed: u64,
    resumed: u64,
}

impl SagaChecker {
    fn facts(&mut self, saga: SagaId) -> &mut SagaFacts {
        self.sagas.entry(saga).or_default()
    }

    /// A service applied `effect` for `action` of `saga`.
    fn on_applied(&mut self, at: At, saga: SagaId, action: Action, effect: Effect) {
        let facts = self.sagas.entry(saga).or_default();
        let before = facts.effects.iter().filter(|(a, _, _)| *a == action).count();
        if before == 0 && action.is_compensation() {
            if let Some(why) = misordered(facts, action) {
                self.first_misordered.get_or_insert((at, format!("saga {saga}: {why}")));
            }
        }
        facts.effects.push((action, effect, at));
        if before > 0 {
            self.duplicate_effects += 1;
            if action == Action::Charge {
                self.double_charges += 1;
            }
            let what = match effect {
                Effect::Charged { customer, amount } => format!(" (c{customer} charged {amount} again)"),
                Effect::Refunded { customer, amount } => format!(" (c{customer} refunded {amount} again)"),
                Effect::Reserved { item, qty } => format!(" ({qty} more units of item{item})"),
                Effect::OrderCreated { order } => format!(" (a second order, {order})"),
                _ => String::new(),
            };
            self.first_duplicate.get_or_insert((
                at,
                format!("saga {saga}: {} took effect {} times{what}", action.name(), before + 1),
            ));
        }
    }
}

/// Why compensation `comp` of a saga, taking effect now for the first
/// time, is out of order, if it is: its step must have taken effect, and
/// every compensated step completed after that step must already be
/// compensated.
fn misordered(facts: &SagaFacts, comp: Action) -> Option<String> {
    let step = Action::STEPS.into_iter().find(|s| s.compensation() == Some(comp)).expect("a compensation");
    let Some(step_at) = facts.first_effect(step) else {
        return Some(format!("{} took effect, but {} never did", comp.name(), step.name()));
    };
    for later in Action::STEPS {
        let Some(later_comp) = later.compensation() else { continue };
        if later == step || facts.first_effect(later).is_none_or(|t| t < step_at) {
            continue;
        }
        if facts.first_effect(later_comp).is_none() {
            return Some(format!(
                "{} took effect before {}, though {} was completed after {}",
                comp.name(),
                later_comp.name(),
                later.name(),
                step.name()
            ));
        }
    }
    None
}

impl Checker<Saga> for SagaChecker {
    const CHECKS: &'static [(&'static str, &'static str)] = &[
        (
            "semantic-atomicity",
            "every saga that ended did all its steps (one approved order, charged and reserved once) or compensated every completed step (orders cancelled, charges refunded, nothing reserved), and its client was told which",
        ),
        ("applied-once", "no action of a saga (charge, refund, reserve, create, ...) takes effect twice"),
        (
            "compensation-order",
            "compensations take effect in the reverse order of the steps they undo, each after its step",
        ),
        (
            "money-conserved",
            "over the sagas that ended: charges − refunds = the amounts of completed orders, and units reserved = their quantities",
        ),
    ];
    const METRICS: &'static [(&'static str, &'static str)] = &[
        ("sagas_begun", "sagas the orchestrator logged as begun"),
        ("sagas_completed", "sagas that ended with every step done"),
        ("sagas_compensated", "sagas that ended with their completed steps compensated"),
        ("sagas_unfinished", "sagas still running when the run ended"),
        ("duplicate_effects", "effects applied again for a (saga, action) that had already taken effect"),
        ("double_charges", "charges applied again for a saga already charged"),
        ("orphan_orders", "orders of ended sagas left neither approved nor cancelled"),
        ("compensations", "compensations the orchestrator logged as done"),
        ("refunds", "refunds the payment service applied"),
        ("step_retries", "requests the orchestrator sent again after step_timeout"),
        ("duplicates_suppressed", "requests a service answered from its idempotency keys, without executing"),
        ("sagas_resumed", "unfinished sagas an orchestrator resumed from its log after a restart"),
        ("saga_latency_mean_ms", "mean time from a saga's begin record to its last record, both on disk"),
    ];

    fn new(_: &Params, _: &Cluster) -> Self {
        SagaChecker::default()
    }

    fn on_observation(&mut self, at: At, _node: NodeId, obs: &Observation) {
        match *obs {
            Observation::SagaBegun { saga, order } => {
                let f = self.facts(saga);
                f.order = Some(order);
                f.begun = Some(at.time);
            }
            Observation::StepDone { saga, step } => self.facts(saga).steps.push(step),
            Observation::StepFailed { .. } => {}
            Observation::Compensated { saga, compensation } => {
                self.compensations += 1;
                self.facts(saga).compensations.push(compensation);
            }
            Observation::SagaEnded { saga, outcome } => self.facts(saga).ended = Some((outcome, at)),
            Observation::Retried { .. } => self.retries += 1,
            Observation::Resumed { .. } => self.resumed += 1,
            Observation::Applied { saga, action, effect, .. } => self.on_applied(at, saga, action, effect),
            Observation::Replied { repeat, .. } => {
                if repeat {
                    self.suppressed += 1;
                }
            }
        }
    }

    fn on_history(&mut self, at: At, e: &HistoryEvent) {
        if !matches!(e.op, Operation::Order { .. }) {
            return;
        }
        match e.kind {
            HistoryKind::Ok => self.facts(e.op_id).told = Some((true, at)),
            HistoryKind::Fail => self.facts(e.op_id).told = Some((false, at)),
            HistoryKind::Invoke | HistoryKind::Info => {}
        }
    }

    fn report(&self, _now: SimTime) -> Report {
        let mut r = Report::default();
        let ended: Vec<(&SagaId, &SagaFacts)> = self.sagas.iter().filter(|(_, f)| f.ended.is_some()).collect();
        let begun = self.sagas.values().filter(|f| f.order.is_some()).count();
        let completed = ended.iter().filter(|(_, f)| matches!(f.ended, Some((SagaOutcome::Completed, _)))).count();
        let compensated = ended.len() - completed;

        // semantic-atomicity: every ended saga, judged by its effects; and
        // no effect or answer for a saga that never began.
        let mut broken: Vec<(At, String)> = ended
            .iter()
            .filter_map(|(saga, f)| {
                f.atomicity_violation(**saga).map(|why| (f.last_at().expect("ended"), why))
            })
            .collect();
        for (saga, f) in &self.sagas {
            if f.order.is_none() && (!f.effects.is_empty() || f.told.is_some_and(|t| t.0)) {
                let at = f.last_at().expect("something happened");
                broken.push((at, format!("saga {saga} took effect or was acknowledged, but never began")));
            }
        }
        broken.sort_by_key(|b| b.0);
        r.checks.push(Verdict {
            name: "semantic-atomicity",
            holds: broken.is_empty(),
            detail: match broken.first() {
                Some((_, why)) => format!("{why} ({} of {} ended sagas not atomic)", broken.len(), ended.len()),
                None => format!(
                    "all {} ended sagas are atomic: {completed} completed, {compensated} compensated",
                    ended.len()
                ),
            },
            first_violation: broken.first().map(|b| b.0),
        });

        r.checks.push(Verdict {
            name: "applied-once",
            holds: self.first_duplicate.is_none(),
            detail: match &self.first_duplicate {
                Some((_, what)) => format!("{what}; {} duplicate effects in all", self.duplicate_effects),
                None => "every action took effect at most once".into(),
            },
            first_violation: self.first_duplicate.as_ref().map(|d| d.0),
        });

        r.checks.push(Verdict {
            name: "compensation-order",
            holds: self.first_misordered.is_none(),
            detail: match &self.first_misordered {
                Some((_, what)) => what.clone(),
                None => format!("{} compensations, each in reverse order of its step", self.compensations),
            },
            first_violation: self.first_misordered.as_ref().map(|d| d.0),
        });

        let (mut charged, mut refunded, mut reserved) = (0i128, 0i128, 0i128);
        let (mut owed_money, mut owed_units) = (0i128, 0i128);
        for (_, f) in &ended {
            for (_, effect, _) in &f.effects {
                match *effect {
                    Effect::Charged { amount, .. } => charged += amount as i128,
                    Effect::Refunded { amount, .. } => refunded += amount as i128,
                    Effect::Reserved { qty, .. } => reserved += qty as i128,
                    _ => {}
                }
            }
            if let (Some((SagaOutcome::Completed, _)), Some(o)) = (f.ended, f.order) {
                owed_money += o.amount as i128;
                owed_units += o.qty as i128;
            }
        }
        let money_ok = charged - refunded == owed_money;
        let units_ok = reserved == owed_units;
        r.checks.push(Verdict {
            name: "money-conserved",
            holds: money_ok && units_ok,
            detail: format!(
                "charges {charged} − refunds {refunded} = {}{} completed orders' total {owed_money}; units reserved {reserved} {} their {owed_units}",
                charged - refunded,
                if money_ok { " =" } else { ", but" },
                if units_ok { "=" } else { "≠" },
            ),
            first_violation: None,
        });

        let latencies: Vec<u64> = ended
            .iter()
            .filter_map(|(_, f)| Some(f.ended?.1.time.0.saturating_sub(f.begun?.0)))
            .collect();
        let mean_ms = if latencies.is_empty() {
            0.0
        } else {
            latencies.iter().sum::<u64>() as f64 / latencies.len() as f64 / 1000.0
        };
        let orphans: usize = ended.iter().map(|(_, f)| f.orphans()).sum();
        r.metrics.insert("sagas_begun", begun as f64);
        r.metrics.insert("sagas_completed", completed as f64);
        r.metrics.insert("sagas_compensated", compensated as f64);
        r.metrics.insert("sagas_unfinished", (begun - ended.len().min(begun)) as f64);
        r.metrics.insert("duplicate_effects", self.duplicate_effects as f64);
        r.metrics.insert("double_charges", self.double_charges as f64);
        r.metrics.insert("orphan_orders", orphans as f64);
        r.metrics.insert("compensations", self.compensations as f64);
        let refunds = self.sagas.values().flat_map(|f| &f.effects).filter(|e| e.0 == Action::Refund).count();
        r.metrics.insert("refunds", refunds as f64);
        r.metrics.insert("step_retries", self.retries as f64);
        r.metrics.insert("duplicates_suppressed", self.suppressed as f64);
        r.metrics.insert("sagas_resumed", self.resumed as f64);
        r.metrics.insert("saga_latency_mean_ms", mean_ms);
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(step: u64) -> At {
        At { step, time: SimTime(step * 1000) }
    }

    const ORDER: Order = Order { customer: 1, item: 2, qty: 3, amount: 30 };

    /// Feeds the orchestrator's observations of a saga that fails at
    /// `failed_at` and compensates the given actions, in that order, with
    /// the services' effects in the same order.
    fn checker_with(effects: &[(Action, Effect)], logged_comps: &[Action], outcome: SagaOutcome) -> Report {
        let mut c = SagaChecker::default();
        let n = NodeId(0);
        let mut step = 1;
        let mut next = || {
            step += 1;
            at(step)
        };
        c.on_observation(next(), n, &Observation::SagaBegun { saga: 7, order: ORDER });
        for &(action, effect) in effects {
            c.on_observation(next(), n, &Observation::Applied { saga: 7, action, key: 0, effect });
            if !action.is_compensation() {
                c.on_observation(next(), n, &Observation::StepDone { saga: 7, step: action });
            }
        }
        for &comp in logged_comps {
            c.on_observation(next(), n, &Observation::Compensated { saga: 7, compensation: comp });
        }
        c.on_observation(next(), n, &Observation::SagaEnded { saga: 7, outcome });
        c.report(SimTime(0))
    }

    const CREATED: (Action, Effect) = (Action::CreateOrder, Effect::OrderCreated { order: 1 });
    const CHARGED: (Action, Effect) = (Action::Charge, Effect::Charged { customer: 1, amount: 30 });
    const REFUNDED: (Action, Effect) = (Action::Refund, Effect::Refunded { customer: 1, amount: 30 });
    const CANCELLED: (Action, Effect) = (Action::CancelOrder, Effect::OrderCancelled { order: 1 });
    const RESERVED: (Action, Effect) = (Action::Reserve, Effect::Reserved { item: 2, qty: 3 });
    const APPROVED: (Action, Effect) = (Action::ApproveOrder, Effect::OrderApproved { order: 1 });
    const OUT_OF_STOCK: SagaOutcome = SagaOutcome::Compensated(super::super::Reason::OutOfStock);

    /// The textbook compensation — refund, then cancel — passes every check.
    #[test]
    fn reverse_order_compensation_holds() {
        let r = checker_with(
            &[CREATED, CHARGED, REFUNDED, CANCELLED],
            &[Action::Refund, Action::CancelOrder],
            OUT_OF_STOCK,
        );
        for check in ["compensation-order", "semantic-atomicity", "applied-once", "money-conserved"] {
            assert!(r.verdict(check).unwrap().holds, "{check}: {}", r.verdict(check).unwrap().detail);
        }
        assert_eq!(r.metrics["sagas_compensated"], 1.0);
    }

    /// Cancelling the order before refunding the later charge breaks
    /// compensation-order (and only it: the end state is still atomic).
    #[test]
    fn compensation_in_completion_order_fires() {
        let r = checker_with(
            &[CREATED, CHARGED, CANCELLED, REFUNDED],
            &[Action::CancelOrder, Action::Refund],
            OUT_OF_STOCK,
        );
        let v = r.verdict("compensation-order").unwrap();
        assert!(!v.holds);
        assert!(v.detail.contains("cancel-order took effect before refund"), "{}", v.detail);
        assert_eq!(v.first_violation, Some(at(7)));
        assert!(r.verdict("semantic-atomicity").unwrap().holds);
    }

    /// A refund with no charge before it breaks compensation-order.
    #[test]
    fn compensation_before_its_step_fires() {
        let r = checker_with(&[CREATED, REFUNDED, CANCELLED], &[Action::CancelOrder], OUT_OF_STOCK);
        let v = r.verdict("compensation-order").unwrap();
        assert!(!v.holds);
        assert!(v.detail.contains("refund took effect, but charge never did"), "{}", v.detail);
    }

    /// A compensated saga that forgot a compensation is not atomic, and
    /// its money is not conserved.
    #[test]
    fn missing_compensation_breaks_atomicity() {
        let r = checker_with(&[CREATED, CHARGED, CANCELLED], &[Action::CancelOrder], OUT_OF_STOCK);
        assert!(!r.verdict("semantic-atomicity").unwrap().holds);
        assert!(!r.verdict("money-conserved").unwrap().holds);
        assert!(r.verdict("applied-once").unwrap().holds);
    }

    /// A completed saga charged twice breaks applied-once, atomicity and
    /// money; one completed normally holds them all.
    #[test]
    fn double_charge_fires() {
        let ok = checker_with(&[CREATED, CHARGED, RESERVED, APPROVED], &[], SagaOutcome::Completed);
        for check in ["semantic-atomicity", "applied-once", "money-conserved", "compensation-order"] {
            assert!(ok.verdict(check).unwrap().holds, "{check}");
        }
        let twice =
            checker_with(&[CREATED, CHARGED, CHARGED, RESERVED, APPROVED], &[], SagaOutcome::Completed);
        assert!(!twice.verdict("applied-once").unwrap().holds);
        assert!(!twice.verdict("semantic-atomicity").unwrap().holds);
        assert!(!twice.verdict("money-conserved").unwrap().holds);
        assert_eq!(twice.metrics["double_charges"], 1.0);
    }

    /// An effect for a saga the orchestrator never began breaks atomicity.
    #[test]
    fn effect_without_saga_fires() {
        let mut c = SagaChecker::default();
        c.on_observation(at(1), NodeId(1), &Observation::Applied { saga: 9, action: CHARGED.0, key: 0, effect: CHARGED.1 });
        let r = c.report(SimTime(0));
        assert!(!r.verdict("semantic-atomicity").unwrap().holds);
    }
}
