//! The checks of the saga.
//!
//! The checker follows what the orchestrator *logged* (a record, as it is
//! written), what the services *did* (an `Applied` effect, as it is
//! written) and what clients were told (the history; a saga is named by
//! its client's operation id, which is the request's idempotency key). A
//! node that restarts says how many of its writes its disk kept, and the
//! checker forgets the facts of the writes a crash lost (see
//! [`Observation`]). The verdicts are reached over the facts that
//! survive, so they are computed when the report is asked for.
//!
//! A saga the orchestrator begins a second time — after it forgot the
//! first run — breaks `semantic-atomicity` however its runs end, and the
//! verdict says so plainly: "saga 4 ran twice: begun at … and again at …".
//!
//! It judges the services' effects, not the orchestrator's word for them:
//! a saga the orchestrator calls completed but whose customer was charged
//! twice is not atomic. Sagas still running when the run ends are counted
//! (`sagas_unfinished`), not judged: their effects are legitimately
//! partial.
//!
//! # Memory
//! Flat as a run grows, but for three bits per saga. A saga is *settled*
//! once it ended atomic in one of four shapes (every step took effect;
//! or compensated before creating its order, after creating it, or after
//! charging too — each action once), applied nothing twice or out of
//! order, got the same answer to every request sent again, its client was
//! told, and every fact of it is on disk (the engine says when a node's
//! disk has caught up: [`Checker::on_durable`]). Only a late fact can
//! change its story then. The latest `RECENTLY_SETTLED` settled sagas
//! are kept in full; an older one is *forgotten* down to its shape, once
//! the charges of its customer's other sagas it may have seen are settled
//! too, and what it counted for (ended, completed, money and units,
//! latency, compensations, isolation anomalies) is added to running sums.
//! A saga charged and refunded marks, as it is forgotten, the charges of
//! others made while its charge was in place. A late fact for a forgotten
//! saga brings it back standing on its shape: begun again is running
//! twice; an action that took effect again is applied twice; money,
//! units or an order moved, a record logged, or its client told the
//! other outcome breaks atomicity. What is not judged again for it:
//! the order of a late compensation, and whether a request answered
//! again got the first answer (that answer is forgotten). A test grades
//! every saga lesson forgetting each saga the moment it settles, and
//! gets every verdict and metric of the checker that keeps them all.

use super::OrderOp;
use super::observations::effect_words;
use super::{
    Action, Effect, Observation, Order, OrderNo, Params, Reason, Saga, SagaId, SagaOutcome, StepResult,
};
use crate::nodes::{Cluster, NodeId};
use crate::sim::monitor::{CheckInfo, IdBits, MetricInfo, Unit, ViolationTracker, keep_settled};
use crate::sim::{At, Cause, Checker, HistoryKind, Report, TypedEvent, Verdict};
use crate::time::SimTime;
use crate::util::IdMap;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Which write of which node a fact depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Written {
    node: NodeId,
    write: u64,
}

impl Written {
    /// Whether the fact was lost when `node` restarted with
    /// `writes_on_disk` writes on its disk.
    fn lost(&self, node: NodeId, writes_on_disk: u64) -> bool {
        self.node == node && self.write > writes_on_disk
    }
}

/// One effect a service applied for a saga.
#[derive(Clone, Copy, Debug)]
struct Applied {
    action: Action,
    effect: Effect,
    at: At,
    written: Written,
}

/// What the checker knows of one saga.
#[derive(Clone, Debug, Default)]
struct SagaFacts {
    /// From `SagaBegun`: the saga's input, and when it began.
    begun: Option<(Order, At, Written)>,
    /// A second `SagaBegun` while the first survives: the saga ran twice.
    again: Option<(At, Written)>,
    /// When the orchestrator forgot the saga (retention), if it did.
    forgotten: Option<(At, Written)>,
    /// Steps and compensations the orchestrator logged, in order.
    steps: Vec<(Action, Written)>,
    compensations: Vec<(Action, Written)>,
    ended: Option<(SagaOutcome, At, Written)>,
    /// Every effect the services applied for this saga, in order.
    effects: Vec<Applied>,
    /// What the client was told: ok (`true`) or fail (`false`).
    told: Option<(bool, At)>,
    /// The client gave up on it (its outcome unknown): it will not be told.
    gave_up: bool,
    /// The services' answers to this saga's requests that executed them:
    /// the first per action (its idempotency key), and any later one that
    /// executed the request again. A request sent again must get the
    /// first answer; declined charges count for isolation.
    answers: Vec<Answered>,
    /// Facts resting on writes not yet known to be on their disk.
    unsettled: u32,
    /// Brought back from long ago: the saga ended atomic, in this shape,
    /// and was counted then; the facts above came after (see "Memory").
    past: Option<Shape>,
    /// A service answered one of its requests differently the second time.
    answer_changed: bool,
    /// Its charge attempts that a saga forgotten since found dirty
    /// (made while that saga's charge, later refunded, was in place).
    marked: Vec<At>,
    /// In the queue of the recently settled.
    queued: bool,
    /// Something happened to it since it was queued.
    touched: bool,
}

/// The shape of a saga that ended atomic: which actions took effect, once
/// each. All that is kept of a saga settled long ago (two bits), and
/// enough to judge anything that still comes for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    /// Every step took effect.
    Completed,
    /// Compensated before any order was created.
    CompensatedEarly,
    /// The order was created and cancelled.
    CompensatedCreated,
    /// The order was created and cancelled, the customer charged and refunded.
    CompensatedCharged,
}

impl Shape {
    /// Every shape; a shape's place here is its two bits ([`LongAgo`]).
    const ALL: [Shape; 4] =
        [Shape::Completed, Shape::CompensatedEarly, Shape::CompensatedCreated, Shape::CompensatedCharged];

    fn took_effect(self) -> &'static [Action] {
        match self {
            Shape::Completed => &Action::STEPS,
            Shape::CompensatedEarly => &[],
            Shape::CompensatedCreated => &[Action::CreateOrder, Action::CancelOrder],
            Shape::CompensatedCharged => {
                &[Action::CreateOrder, Action::CancelOrder, Action::Charge, Action::Refund]
            }
        }
    }

    fn completed(self) -> bool {
        self == Shape::Completed
    }

    /// The actions its services answered: those that took effect, and the
    /// step whose failure made it compensate.
    fn answered(self) -> &'static [Action] {
        match self {
            Shape::Completed => &Action::STEPS,
            Shape::CompensatedEarly => &[Action::CreateOrder],
            Shape::CompensatedCreated => &[Action::CreateOrder, Action::CancelOrder, Action::Charge],
            Shape::CompensatedCharged => {
                &[Action::CreateOrder, Action::CancelOrder, Action::Charge, Action::Refund, Action::Reserve]
            }
        }
    }

    /// The actions as a set of bits.
    fn mask(actions: impl IntoIterator<Item = Action>) -> u8 {
        actions.into_iter().fold(0, |m, a| m | 1 << a as u8)
    }

    /// The shape of an ended saga whose effects are exactly one of the
    /// shapes', each once (in any order).
    fn of(f: &SagaFacts) -> Option<Shape> {
        let (outcome, _, _) = f.ended?;
        let took = Self::mask(f.effects.iter().map(|e| e.action));
        let shapes: &[Shape] = match outcome {
            SagaOutcome::Completed => &[Shape::Completed],
            SagaOutcome::Compensated(_) => {
                &[Shape::CompensatedEarly, Shape::CompensatedCreated, Shape::CompensatedCharged]
            }
        };
        let once = |s: &&Shape| s.took_effect().len() == f.effects.len();
        shapes.iter().filter(once).copied().find(|s| Self::mask(s.took_effect().iter().copied()) == took)
    }
}

impl SagaFacts {
    fn forget_lost(&mut self, node: NodeId, writes_on_disk: u64) {
        let lost = |w: &Written| w.lost(node, writes_on_disk);
        if self.begun.is_some_and(|b| lost(&b.2)) {
            self.begun = None;
        }
        if self.again.is_some_and(|a| lost(&a.1)) {
            self.again = None;
        }
        if self.forgotten.is_some_and(|f| lost(&f.1)) {
            self.forgotten = None;
        }
        if self.ended.is_some_and(|e| lost(&e.2)) {
            self.ended = None;
        }
        self.steps.retain(|s| !lost(&s.1));
        self.compensations.retain(|c| !lost(&c.1));
        self.effects.retain(|e| !lost(&e.written));
    }

    fn order(&self) -> Option<Order> {
        self.begun.map(|b| b.0)
    }

    fn customer(&self) -> Option<u64> {
        self.order().map(|o| o.customer as u64)
    }

    /// Where isolation files it (once it began).
    fn indexed(&self, saga: SagaId) -> Option<Indexed> {
        Some((self.customer()?, self.first_effect(Action::Charge).unwrap_or(NEVER), saga))
    }

    /// Its charge attempts: every charge that took effect, and every one
    /// declined for want of credit, with whether it was declined.
    fn attempts(&self) -> impl Iterator<Item = (At, bool)> + '_ {
        let done = self.effects.iter().filter(|e| e.action == Action::Charge).map(|e| (e.at, false));
        let declined = self
            .answers
            .iter()
            .filter(|a| {
                a.action == Action::Charge && a.result == StepResult::Failed(Reason::InsufficientCredit)
            })
            .map(|a| (a.at, true));
        done.chain(declined)
    }

    /// While its charge was in place and later refunded: (charged, refunded).
    fn interval(&self) -> Option<(At, At)> {
        Some((self.first_effect(Action::Charge)?, self.first_effect(Action::Refund)?))
    }

    fn logged(list: &[(Action, Written)]) -> Vec<Action> {
        list.iter().map(|l| l.0).collect()
    }

    /// When `action` first took effect.
    fn first_effect(&self, action: Action) -> Option<At> {
        self.effects.iter().find(|e| e.action == action).map(|e| e.at)
    }

    /// Money charged minus refunded, and units reserved, for this saga.
    fn net(&self) -> (i128, i128) {
        let mut money = 0i128;
        let mut units = 0i128;
        for e in &self.effects {
            match e.effect {
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
        for e in &self.effects {
            match e.effect {
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

    /// The effects that repeat an action that had already taken effect.
    fn duplicates(&self) -> impl Iterator<Item = (usize, &Applied)> {
        let long_ago = self.past.map_or(&[][..], Shape::took_effect);
        self.effects.iter().enumerate().filter_map(move |(i, e)| {
            let before = self.effects[..i].iter().filter(|p| p.action == e.action).count()
                + usize::from(long_ago.contains(&e.action));
            (before > 0).then_some((before + 1, e))
        })
    }

    /// The first compensation that took effect out of order, if one did:
    /// its step must have taken effect before it, and every compensated
    /// step completed after that step must be compensated before it.
    fn misordered(&self) -> Option<(At, String)> {
        if self.past.is_some() {
            // Its steps took effect long ago, in order: what came since is
            // judged by applied-once and atomicity.
            return None;
        }
        let mut comps: Vec<(At, Action)> = [Action::CancelOrder, Action::Refund]
            .into_iter()
            .filter_map(|c| self.first_effect(c).map(|at| (at, c)))
            .collect();
        comps.sort();
        for (at, comp) in comps {
            let step =
                Action::STEPS.into_iter().find(|s| s.compensation() == Some(comp)).expect("a compensation");
            let Some(step_at) = self.first_effect(step).filter(|t| *t < at) else {
                return Some((at, format!("{} took effect, but {} had not", comp.name(), step.name())));
            };
            for later in Action::STEPS {
                let Some(later_comp) = later.compensation() else { continue };
                if later == step || self.first_effect(later).is_none_or(|t| t < step_at) {
                    continue;
                }
                if self.first_effect(later_comp).is_none_or(|t| t > at) {
                    return Some((
                        at,
                        format!(
                            "{} took effect before {}, though {} was completed after {}",
                            comp.name(),
                            later_comp.name(),
                            later.name(),
                            step.name()
                        ),
                    ));
                }
            }
        }
        None
    }

    /// Why this saga ran twice, if it did: it began, and began again.
    fn ran_twice(&self, saga: SagaId) -> Option<String> {
        if let (Some(_), Some((again, _))) = (self.past, self.again) {
            return Some(format!(
                "saga {saga} ran twice: it had ended long ago, and began again at {}",
                again.time
            ));
        }
        let ((_, first, _), (again, _)) = (self.begun?, self.again?);
        let after = match self.forgotten {
            Some((forgot, _)) if forgot < again => {
                format!(", after the orchestrator forgot it at {}", forgot.time)
            }
            _ => String::new(),
        };
        Some(format!("saga {saga} ran twice: begun at {} and again at {}{after}", first.time, again.time))
    }

    /// Why this saga is not atomic, if it is not: it ran twice, or it
    /// ended neither completed nor compensated (a saga still running is
    /// not judged).
    fn atomicity_violation(&self, saga: SagaId) -> Option<String> {
        if let Some(twice) = self.ran_twice(saga) {
            return Some(twice);
        }
        if let Some(past) = self.past {
            return self.late_violation(saga, past);
        }
        let (outcome, _, _) = self.ended?;
        let Some(order) = self.order() else {
            return Some(format!("saga {saga} ended but never began"));
        };
        let (money, units) = self.net();
        let orders = self.orders();
        let steps = Self::logged(&self.steps);
        let compensations = Self::logged(&self.compensations);
        match outcome {
            SagaOutcome::Completed => {
                if steps != Action::STEPS || !compensations.is_empty() {
                    return Some(format!(
                        "saga {saga} completed with steps {steps:?} and compensations {compensations:?} logged"
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
                let mut owed: Vec<Action> =
                    Action::STEPS[..steps.len()].iter().filter_map(|s| s.compensation()).collect();
                let mut ran = compensations.clone();
                owed.sort();
                ran.sort();
                if owed != ran {
                    return Some(format!(
                        "saga {saga} ended compensated ({}) after steps {steps:?}, but ran compensations {compensations:?}",
                        reason.text(),
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

    /// Why a saga that ended atomic long ago (in shape `past`) is not any
    /// more, given what came since: what the full story would say —
    /// money or units moved, an order created, a completed order
    /// cancelled, a record logged after the end, or its client told the
    /// other outcome.
    fn late_violation(&self, saga: SagaId, past: Shape) -> Option<String> {
        let (money, units) = self.net();
        if money != 0 {
            return Some(format!("saga {saga} ended long ago, but a net {money} more was charged since"));
        }
        if units != 0 {
            return Some(format!("saga {saga} ended long ago, but {units} more units were reserved since"));
        }
        let orders = self.orders();
        let created = self.effects.iter().any(|e| matches!(e.effect, Effect::OrderCreated { .. }));
        let cancelled = past.completed() && orders.values().any(|&(_, cancelled)| cancelled);
        if created || cancelled {
            return Some(format!(
                "saga {saga} ended long ago, but its orders are {} since",
                describe_orders(&orders)
            ));
        }
        if !self.steps.is_empty() || !self.compensations.is_empty() || self.ended.is_some() {
            return Some(format!("saga {saga} ended long ago, but the orchestrator logged more of it since"));
        }
        match self.told {
            Some((ok, _)) if ok != past.completed() => {
                let told = if ok { "ok" } else { "that it failed" };
                Some(format!("saga {saga} ended long ago, but its client was told {told} since"))
            }
            _ => None,
        }
    }

    /// This saga's story as the evidence of a violation, in step order:
    /// when it began (and again), each effect of `only` (every effect
    /// when `None`), how it ended, and what its client was told. At most
    /// [`EVIDENCE`] events.
    fn evidence(&self, saga: SagaId, names: &[String], only: Option<Action>) -> Vec<Cause> {
        let name = |n: NodeId| names.get(n.index()).map_or("?", String::as_str);
        let mut out = Vec::new();
        if let Some((order, at, w)) = self.begun {
            let what = format!(
                "{} began saga {saga} (c{} orders {} units for {})",
                name(w.node),
                order.customer,
                order.qty,
                order.amount
            );
            out.push(Cause::of_op(at, saga, what));
        }
        if let Some((at, w)) = self.again {
            out.push(Cause::of_op(at, saga, format!("{} began saga {saga} again", name(w.node))));
        }
        if let Some((at, w)) = self.forgotten {
            out.push(Cause::new(at, format!("{} forgot saga {saga}", name(w.node))));
        }
        for e in self.effects.iter().filter(|e| only.is_none_or(|a| a == e.action)) {
            let what = format!(
                "{}: {} for saga {saga} ({})",
                name(e.written.node),
                e.action.name(),
                effect_words(e.effect)
            );
            out.push(Cause::of_op(e.at, saga, what));
        }
        if let Some((outcome, at, _)) = self.ended {
            let how = match outcome {
                SagaOutcome::Completed => "completed".to_string(),
                SagaOutcome::Compensated(r) => format!("compensated ({})", r.text()),
            };
            out.push(Cause::of_op(at, saga, format!("saga {saga} {how}")));
        }
        if let Some((ok, at)) = self.told {
            let told = if ok { "ok" } else { "that it failed" };
            out.push(Cause::of_op(at, saga, format!("the client of saga {saga} was told {told}")));
        }
        out.sort_by_key(|c| c.step);
        out.truncate(EVIDENCE);
        out
    }

    /// When this saga's story was last added to.
    fn last_at(&self) -> Option<At> {
        let effects = self.effects.iter().map(|e| e.at);
        let again = self.again.map(|a| a.0);
        self.ended.map(|e| e.1).into_iter().chain(effects).chain(self.told.map(|t| t.1)).chain(again).max()
    }
}

/// The most events a saga's evidence names.
const EVIDENCE: usize = 12;

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
    /// The sagas kept in full. Nearly every event looks one up: a hash
    /// table, read in turn only in id order (the report) or into what is
    /// sorted after (isolation's sweep).
    sagas: IdMap<SagaId, SagaFacts>,
    /// Per node, (write, saga) for every fact resting on one of its writes
    /// not yet known to be on its disk. A restart loses the writes past
    /// what its disk holds and keeps the others for good, so it needs to
    /// look only at these — not at every saga of the run — and then
    /// forgets them: each entry is looked at once. When the node's disk
    /// catches up ([`Checker::on_durable`]) they are all kept for good and
    /// forgotten too, so the list holds only what is in flight to the disk.
    unsettled: BTreeMap<NodeId, Vec<(u64, SagaId)>>,
    retries: u64,
    suppressed: u64,
    resumed: u64,
    refused_too_old: u64,
    /// Node names, for the evidence.
    names: std::sync::Arc<[String]>,
    /// Answers that differ from the first one for their key.
    changed_answers: ViolationTracker,
    /// Requests answered again for a key answered before.
    answered_again: u64,
    /// Sagas settled lately, oldest first: kept in full until
    /// [`RECENTLY_SETTLED`] more have settled (see "Memory").
    recently_settled: VecDeque<SagaId>,
    /// The sagas kept in full, by customer, each with when its charge
    /// first took effect and when its refund did (what isolation needs
    /// of the others when one is forgotten).
    by_customer: ByCustomer,
    /// What is kept of sagas settled long ago.
    long_ago: LongAgo,
    /// What they counted for.
    folded: Folded,
}

/// A saga kept in full, as isolation finds it: its customer, when its
/// charge first took effect ([`NEVER`] if it has not), and its id.
type Indexed = (u64, At, SagaId);

/// The sagas kept in full, by customer: each customer's in the order
/// their charges first took effect ([`NEVER`] for one that has not), with
/// when the refund did. A customer has few sagas kept at a time (of the
/// last few thousand to settle), so each customer's are one sorted
/// vector: filing a saga as it begins and again as it first charges costs
/// 0.58 of the instructions it cost in one tree of every saga's.
#[derive(Clone, Debug, Default)]
struct ByCustomer(IdMap<u64, Vec<(At, SagaId, Option<At>)>>);

impl ByCustomer {
    /// Files saga `saga` under `customer` and when it charged, with when
    /// it refunded.
    fn insert(&mut self, (customer, charged, saga): Indexed, refunded: Option<At>) {
        let list = self.0.entry(customer).or_default();
        let i = list.partition_point(|&(at, s, _)| (at, s) < (charged, saga));
        match list.get_mut(i) {
            Some(entry) if (entry.0, entry.1) == (charged, saga) => entry.2 = refunded,
            _ => list.insert(i, (charged, saga, refunded)),
        }
    }

    /// Takes saga `saga` out from under `customer` and when it charged
    /// (nothing, if it is not filed there).
    fn remove(&mut self, &(customer, charged, saga): &Indexed) {
        let Some(list) = self.0.get_mut(&customer) else { return };
        if let Ok(i) = list.binary_search_by(|&(at, s, _)| (at, s).cmp(&(charged, saga))) {
            list.remove(i);
        }
        if list.is_empty() {
            self.0.remove(&customer);
        }
    }

    /// The sagas of `customer` kept in full, in the order they charged:
    /// (when it charged, the saga, when it refunded).
    fn of(&self, customer: u64) -> &[(At, SagaId, Option<At>)] {
        self.0.get(&customer).map_or(&[], Vec::as_slice)
    }

    /// Those of them that charged before `at`.
    fn charged_before(&self, customer: u64, at: At) -> &[(At, SagaId, Option<At>)] {
        let all = self.of(customer);
        &all[..all.partition_point(|&(charged, ..)| charged < at)]
    }
}

/// Later than anything.
const NEVER: At = At { step: u64::MAX, time: SimTime(u64::MAX) };

/// How many settled sagas are kept in full before the oldest is forgotten
/// down to its [`Shape`].
const RECENTLY_SETTLED: usize = 4096;

/// Two bits per saga settled long ago (its [`Shape`]) and one that says so.
#[derive(Clone, Debug, Default)]
struct LongAgo {
    settled: IdBits,
    a: IdBits,
    b: IdBits,
}

impl LongAgo {
    fn keep(&mut self, saga: SagaId, shape: Shape) {
        let i = Shape::ALL.iter().position(|&s| s == shape).expect("a shape");
        self.settled.insert(saga);
        if i & 2 != 0 {
            self.a.insert(saga);
        }
        if i & 1 != 0 {
            self.b.insert(saga);
        }
    }

    /// The facts of `saga` to keep in full again: standing for what was
    /// forgotten if it settled long ago (and taken out of the bits), else
    /// none yet.
    fn take(&mut self, saga: SagaId) -> SagaFacts {
        if !self.settled.remove(saga) {
            return SagaFacts::default();
        }
        let i = 2 * usize::from(self.a.remove(saga)) + usize::from(self.b.remove(saga));
        SagaFacts { past: Some(Shape::ALL[i]), ..SagaFacts::default() }
    }
}

/// What the sagas forgotten down to their shape counted for, in the
/// report's sums.
#[derive(Clone, Debug, Default)]
struct Folded {
    completed: u64,
    /// Compensated, per reason ([`Reason::ALL`]).
    compensated: [u64; 5],
    compensations: u64,
    refunds: u64,
    latency_us: u64,
    charged: i128,
    refunded: i128,
    reserved: i128,
    owed_money: i128,
    owed_units: i128,
    /// Their charges that saw another saga's intermediate state, and of
    /// those, the ones declined.
    dirty: u64,
    declined: u64,
}

impl Folded {
    fn ended(&self) -> u64 {
        self.completed + self.compensated.iter().sum::<u64>()
    }
}

/// A service's answer to a request of a saga (its key is the saga's and
/// the action's: [`super::idempotency_key`]).
#[derive(Clone, Copy, Debug)]
struct Answered {
    action: Action,
    result: StepResult,
    at: At,
}

impl SagaChecker {
    /// The facts of `saga`, about to gain one that rests on `node`'s
    /// write number `write`.
    fn facts(&mut self, saga: SagaId, node: NodeId, write: u64) -> &mut SagaFacts {
        self.unsettled.entry(node).or_default().push((write, saga));
        let f = self.saga(saga);
        f.unsettled += 1;
        f
    }

    /// The facts of `saga`, brought back if it was forgotten long ago.
    fn saga(&mut self, saga: SagaId) -> &mut SagaFacts {
        let long_ago = &mut self.long_ago;
        let f = self.sagas.entry(saga).or_insert_with(|| long_ago.take(saga));
        f.touched = true;
        f
    }

    /// `node` answered `saga`'s request for `this.action`: the same answer
    /// as the first time, if it answered before. `executed`: not from its
    /// store of keys.
    fn answer(&mut self, saga: SagaId, node: NodeId, this: Answered, executed: bool) {
        let f = self.saga(saga);
        let answered_long_ago = f.past.is_some_and(|p| p.answered().contains(&this.action));
        let Some(&first) = f.answers.iter().find(|a| a.action == this.action) else {
            if !answered_long_ago || executed {
                f.answers.push(this);
            }
            // Answered again long after: the first answer was forgotten
            // with the saga, so this one is not compared.
            self.answered_again += u64::from(answered_long_ago);
            return;
        };
        let answers = &mut f.answers;
        if executed {
            answers.push(this);
        }
        self.answered_again += 1;
        if first.result == this.result {
            return;
        }
        self.saga(saga).answer_changed = true;
        let service = &self.names[node.index()];
        let key = super::idempotency_key(saga, this.action);
        self.changed_answers.record_because(this.at, || {
            let what =
                |a: Answered| format!("{service} answered {} for saga {saga}: {}", a.action.name(), a.result);
            (
                format!(
                    "{service} answered key {key} ({} for saga {saga}) \"{}\", then \"{}\" when it came again",
                    this.action.name(),
                    first.result,
                    this.result
                ),
                vec![Cause::of_op(first.at, saga, what(first)), Cause::of_op(this.at, saga, what(this))],
            )
        });
    }

    /// Isolation: charges that saw another saga's intermediate state — a
    /// customer's balance lowered by a charge that its saga later refunded.
    /// Returns how many did, and how many of those were declined for want
    /// of the credit that was about to come back.
    fn dirty_charges(&self) -> (u64, u64) {
        // Per customer, the sagas whose charge is in place and later
        // refunded: (when it opens or closes, +1 / -1, saga). Gathered in
        // the table's order, then sorted on every field.
        let mut edges: Vec<(At, i8, u64, SagaId)> = Vec::new();
        for (&saga, f) in self.sagas.iter_any_order() {
            let (Some(customer), Some((charged, refunded))) = (f.customer(), f.interval()) else { continue };
            edges.push((charged, 1, customer, saga));
            edges.push((refunded, -1, customer, saga));
        }
        // Every charge a service decided: done (an effect), or declined for
        // want of credit; and whether a saga forgotten since found it dirty.
        let mut attempts: Vec<(At, u64, SagaId, bool, bool)> = Vec::new();
        for (&saga, f) in self.sagas.iter_any_order() {
            let Some(customer) = f.customer() else { continue };
            attempts.extend(f.attempts().map(|(at, d)| (at, customer, saga, d, f.marked.contains(&at))));
        }
        edges.sort();
        attempts.sort();
        // Sweep in step order: a charge counts when, at its moment, another
        // saga's to-be-refunded charge to the same customer is in place.
        let mut open: BTreeMap<(u64, SagaId), u32> = BTreeMap::new();
        let (mut dirty, mut declined) = (self.folded.dirty, self.folded.declined);
        let mut e = edges.iter().peekable();
        for &(at, customer, saga, was_declined, marked) in &attempts {
            while let Some(&&(t, delta, c, s)) = e.peek() {
                if t > at || (t == at && delta > 0) {
                    break;
                }
                let n = open.entry((c, s)).or_default();
                if delta > 0 {
                    *n += 1;
                } else {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        open.remove(&(c, s));
                    }
                }
                e.next();
            }
            if marked
                || open.range((customer, 0)..=(customer, SagaId::MAX)).any(|(&(_, other), _)| other != saga)
            {
                dirty += 1;
                declined += u64::from(was_declined);
            }
        }
        (dirty, declined)
    }

    /// Files `saga` for isolation as it stands now, in place of `was`.
    fn reindex(&mut self, saga: SagaId, was: Option<Indexed>) {
        if let Some(was) = was {
            self.by_customer.remove(&was);
        }
        if let Some(f) = self.sagas.get(&saga)
            && let Some(key) = f.indexed(saga)
        {
            self.by_customer.insert(key, f.first_effect(Action::Refund));
        }
    }

    /// Whether `saga` is settled: it began, ended atomic in one of the
    /// shapes, applied each action once and in order, answered every
    /// request the same, its client was told, and every fact of it is on
    /// disk. Only a late fact can change its story now.
    fn is_settled(saga: SagaId, f: &SagaFacts) -> bool {
        if let Some(past) = f.past {
            // Brought back by something harmless (a request answered again,
            // its client told again the same): forgotten again.
            let quiet = f.effects.is_empty() && f.steps.is_empty() && f.compensations.is_empty();
            return quiet
                && f.ended.is_none()
                && f.again.is_none()
                && f.unsettled == 0
                && !f.answer_changed
                && f.late_violation(saga, past).is_none();
        }
        f.begun.is_some()
            && (f.told.is_some() || f.gave_up)
            && f.again.is_none()
            && f.unsettled == 0
            && !f.answer_changed
            && Shape::of(f).is_some()
            && f.atomicity_violation(saga).is_none()
            && f.duplicates().next().is_none()
            && f.misordered().is_none()
    }

    /// Queues `saga` among the recently settled if it is settled now, and
    /// forgets the oldest of them beyond [`RECENTLY_SETTLED`].
    fn consider(&mut self, saga: SagaId) {
        match self.sagas.get_mut(&saga) {
            Some(f) if !f.queued && Self::is_settled(saga, f) => (f.queued, f.touched) = (true, false),
            _ => return,
        }
        self.recently_settled.push_back(saga);
        if self.recently_settled.len() > keep_settled(RECENTLY_SETTLED) {
            let old = self.recently_settled.pop_front().expect("not empty");
            if !self.forget(old) {
                // Not yet: another saga's charge it may have seen is still
                // open. Back of the queue.
                self.recently_settled.push_back(old);
            }
        }
    }

    /// Forgets settled `saga` down to its shape, counting what it counted
    /// for — unless something since made it unsettled again (it stays, out
    /// of the queue: true), or a charge of its could still turn out to
    /// have seen another saga's intermediate state (false).
    fn forget(&mut self, saga: SagaId) -> bool {
        let Some(f) = self.sagas.get(&saga) else { return true };
        if f.touched && !Self::is_settled(saga, f) {
            self.sagas.get_mut(&saga).expect("present").queued = false;
            return true;
        }
        if let Some(past) = f.past {
            // Counted long ago; what came since counted nothing.
            self.sagas.remove(&saga);
            self.long_ago.keep(saga, past);
            return true;
        }
        // Isolation: its charges are judged once every saga of the same
        // customer that charged before them has a final charge interval:
        // it ended and its facts are on disk (a refund comes before the
        // end; only a late fact could change it, and late facts are judged
        // on their own).
        let customer = f.customer().expect("a settled saga began");
        let mut intervals: Vec<(At, At)> = Vec::new();
        if let Some(last) = f.attempts().map(|a| a.0).max() {
            let before = self.by_customer.charged_before(customer, last);
            for &(charged, other, refunded) in before.iter().filter(|&&(_, s, _)| s != saga) {
                let o = &self.sagas[&other];
                if o.ended.is_none() || o.unsettled > 0 {
                    return false;
                }
                intervals.extend(refunded.map(|r| (charged, r)));
            }
        }
        for (at, declined) in f.attempts() {
            if f.marked.contains(&at) || intervals.iter().any(|&(from, to)| from < at && at < to) {
                self.folded.dirty += 1;
                self.folded.declined += u64::from(declined);
            }
        }
        // Its own interval: the charges of others made within it are dirty.
        let key = f.indexed(saga);
        if let Some((from, to)) = f.interval() {
            let all = self.by_customer.of(customer);
            let others: Vec<SagaId> = all.iter().map(|&(_, s, _)| s).filter(|&s| s != saga).collect();
            for other in others {
                let o = self.sagas.get_mut(&other).expect("present");
                let within: Vec<At> = o.attempts().map(|a| a.0).filter(|&at| from < at && at < to).collect();
                for at in within {
                    if !o.marked.contains(&at) {
                        o.marked.push(at);
                    }
                }
            }
        }
        let f = self.sagas.remove(&saga).expect("present");
        if let Some(k) = key {
            self.by_customer.remove(&k);
        }
        let shape = Shape::of(&f).expect("settled");
        self.fold(&f);
        self.long_ago.keep(saga, shape);
        true
    }

    /// Adds what settled saga `f` counts for to the report's sums.
    fn fold(&mut self, f: &SagaFacts) {
        let sums = &mut self.folded;
        let (outcome, ended, _) = f.ended.expect("settled");
        let order = f.order().expect("settled");
        match outcome {
            SagaOutcome::Completed => {
                sums.completed += 1;
                sums.owed_money += order.amount as i128;
                sums.owed_units += order.qty as i128;
            }
            SagaOutcome::Compensated(reason) => {
                let i = Reason::ALL.iter().position(|&r| r == reason).expect("a reason");
                sums.compensated[i] += 1;
            }
        }
        sums.compensations += f.compensations.len() as u64;
        sums.latency_us += ended.time.0.saturating_sub(f.begun.expect("settled").1.time.0);
        for e in &f.effects {
            match e.effect {
                Effect::Charged { amount, .. } => sums.charged += amount as i128,
                Effect::Refunded { amount, .. } => {
                    sums.refunded += amount as i128;
                    sums.refunds += 1;
                }
                Effect::Reserved { qty, .. } => sums.reserved += qty as i128,
                _ => {}
            }
        }
    }

    /// `node` restarted with its first `writes_on_disk` writes: forgets the
    /// facts of the writes it lost. Its writes are all settled now, kept or
    /// lost.
    fn restarted(&mut self, node: NodeId, writes_on_disk: u64) {
        let Some(unsettled) = self.unsettled.remove(&node) else { return };
        let mut lost = BTreeSet::new();
        for &(write, saga) in &unsettled {
            if let Some(f) = self.sagas.get_mut(&saga) {
                f.unsettled -= 1;
            }
            if write > writes_on_disk {
                lost.insert(saga);
            }
        }
        for &saga in &lost {
            if let Some(facts) = self.sagas.get_mut(&saga) {
                let was = facts.indexed(saga);
                facts.forget_lost(node, writes_on_disk);
                facts.touched = true;
                self.reindex(saga, was);
            }
        }
        let touched: BTreeSet<SagaId> = unsettled.into_iter().map(|(_, saga)| saga).collect();
        for saga in touched {
            self.consider(saga);
        }
    }
}

impl Checker<Saga> for SagaChecker {
    const CHECKS: &'static [CheckInfo] = &[
        CheckInfo::new(
            "semantic-atomicity",
            "every saga that ended did all its steps (one approved order, charged and reserved once) or compensated every completed step (orders cancelled, charges refunded, nothing reserved), and its client was told which",
        ),
        CheckInfo::new(
            "applied-once",
            "no action of a saga (charge, refund, reserve, create, ...) takes effect twice",
        ),
        CheckInfo::new(
            "compensation-order",
            "compensations take effect in the reverse order of the steps they undo, each after its step",
        ),
        CheckInfo::new(
            "retries-same-answer",
            "a request sent again (the same idempotency key) gets the answer the service gave the first time",
        ),
        CheckInfo::new(
            "money-conserved",
            "over the sagas that ended: charges − refunds = the amounts of completed orders, and units reserved = their quantities",
        ),
    ];
    const METRICS: &'static [MetricInfo] = &[
        MetricInfo::new("sagas_begun", Unit::Count, "sagas the orchestrator logged as begun"),
        MetricInfo::new("sagas_completed", Unit::Count, "sagas that ended with every step done"),
        MetricInfo::new(
            "sagas_compensated",
            Unit::Count,
            "sagas that ended with their completed steps compensated",
        ),
        MetricInfo::new(
            "completion_rate",
            Unit::Ratio,
            "sagas completed as a fraction of sagas begun (left out when none began)",
        ),
        MetricInfo::new(
            "compensation_rate",
            Unit::Ratio,
            "sagas compensated as a fraction of sagas begun (left out when none began)",
        ),
        MetricInfo::new("sagas_unfinished", Unit::Count, "sagas still running when the run ended"),
        MetricInfo::new(
            "duplicate_effects",
            Unit::Count,
            "effects applied again for a (saga, action) that had already taken effect",
        ),
        MetricInfo::new("double_charges", Unit::Count, "charges applied again for a saga already charged"),
        MetricInfo::new(
            "orphan_orders",
            Unit::Count,
            "orders of ended sagas left neither approved nor cancelled",
        ),
        MetricInfo::new("compensations", Unit::Count, "compensations the orchestrator logged as done"),
        MetricInfo::new("refunds", Unit::Count, "refunds the payment service applied"),
        MetricInfo::new(
            "step_retries",
            Unit::Count,
            "requests the orchestrator sent again after step_timeout",
        ),
        MetricInfo::new(
            "duplicates_suppressed",
            Unit::Count,
            "requests a service answered from its idempotency keys, without executing",
        ),
        MetricInfo::new(
            "sagas_resumed",
            Unit::Count,
            "unfinished sagas an orchestrator resumed from its log after a restart",
        ),
        MetricInfo::new(
            "saga_latency_mean_ms",
            Unit::Ms,
            "mean time from a saga's begin record to its last record (left out when no saga ended)",
        ),
        MetricInfo::new(
            "sagas_run_twice",
            Unit::Count,
            "sagas the orchestrator began a second time (after forgetting the first run)",
        ),
        MetricInfo::new(
            "answered_again",
            Unit::Count,
            "requests a service answered again for an idempotency key it had answered before",
        ),
        MetricInfo::new(
            "isolation_anomalies",
            Unit::Count,
            "charges that saw another saga's intermediate state: made while another saga's charge to the same customer was in place, a charge that saga later refunded",
        ),
        MetricInfo::new(
            "declined_by_intermediate_state",
            Unit::Count,
            "of those, charges declined for insufficient credit: the credit was about to come back",
        ),
        MetricInfo::new(
            "compensated_order_rejected",
            Unit::Count,
            "sagas compensated because the order service rejected the order",
        ),
        MetricInfo::new(
            "compensated_insufficient_credit",
            Unit::Count,
            "sagas compensated because the customer's credit did not cover the amount",
        ),
        MetricInfo::new(
            "compensated_payment_declined",
            Unit::Count,
            "sagas compensated because the payment service declined the charge",
        ),
        MetricInfo::new(
            "compensated_out_of_stock",
            Unit::Count,
            "sagas compensated because the item was out of stock",
        ),
        MetricInfo::new(
            "compensated_reservation_declined",
            Unit::Count,
            "sagas compensated because the inventory service declined the reservation",
        ),
        MetricInfo::new(
            "orders_refused_too_old",
            Unit::Count,
            "orders for an unknown saga refused (answered unknown) because they were invoked more than retention ago",
        ),
    ];

    fn new(_: &Params, cluster: &Cluster) -> Self {
        SagaChecker { names: cluster.names.clone().into(), ..SagaChecker::default() }
    }

    fn on_observation(&mut self, at: At, node: NodeId, obs: &Observation) {
        let written = |write| Written { node, write };
        match *obs {
            Observation::SagaBegun { saga, order, write } => {
                let f = self.facts(saga, node, write);
                if f.begun.is_some() || f.past.is_some() {
                    f.again.get_or_insert((at, written(write)));
                } else {
                    f.begun = Some((order, at, written(write)));
                    self.reindex(saga, None);
                }
            }
            // The orchestrator forgetting a saga the checker forgot long
            // ago adds nothing to judge (its moment is only words).
            Observation::SagaForgotten { saga, .. } if self.long_ago.settled.contains(saga) => {}
            Observation::SagaForgotten { saga, write } => {
                // The forgetting that let it run again, not a later one.
                let f = self.facts(saga, node, write);
                if f.again.is_none() {
                    f.forgotten = Some((at, written(write)));
                }
            }
            Observation::RefusedTooOld { .. } => self.refused_too_old += 1,
            Observation::StepDone { saga, step, write } => {
                self.facts(saga, node, write).steps.push((step, written(write)))
            }
            Observation::StepFailed { .. } => {}
            Observation::Compensated { saga, compensation, write } => {
                self.facts(saga, node, write).compensations.push((compensation, written(write)));
            }
            Observation::SagaEnded { saga, outcome, write } => {
                self.facts(saga, node, write).ended = Some((outcome, at, written(write)));
            }
            Observation::Retried { .. } => self.retries += 1,
            Observation::Resumed { .. } => self.resumed += 1,
            Observation::Applied { saga, action, effect, write, .. } => {
                let f = self.facts(saga, node, write);
                let first = f.first_effect(action).is_none();
                let was = f.indexed(saga);
                f.effects.push(Applied { action, effect, at, written: written(write) });
                // Isolation keeps the first charge and refund of each saga.
                if first && matches!(action, Action::Charge | Action::Refund) {
                    self.reindex(saga, was);
                }
            }
            Observation::Replied { saga, action, key, result, repeat } => {
                if repeat {
                    self.suppressed += 1;
                }
                debug_assert_eq!(
                    key,
                    super::idempotency_key(saga, action),
                    "a request's key is its saga's and action's"
                );
                self.answer(saga, node, Answered { action, result, at }, !repeat);
                self.consider(saga);
            }
            Observation::Restarted { writes_on_disk } => self.restarted(node, writes_on_disk),
        }
    }

    const HEARS_DISK: bool = true;

    /// Everything `node` wrote is on its disk: no crash can lose the facts
    /// resting on its writes, so they are settled for good.
    fn on_durable(&mut self, _at: At, node: NodeId) {
        let Some(list) = self.unsettled.get_mut(&node) else { return };
        let mut settled = std::mem::take(list);
        for &(_, saga) in &settled {
            if let Some(f) = self.sagas.get_mut(&saga) {
                f.unsettled -= 1;
                // (Told first, in the usual order: a saga running on is
                // not looked at again.)
                if f.unsettled == 0 && (f.told.is_some() || f.gave_up) {
                    self.consider(saga);
                }
            }
        }
        // The list's buffer serves the node's next writes.
        settled.clear();
        self.unsettled.insert(node, settled);
    }

    fn on_history(&mut self, at: At, e: &TypedEvent<Saga>) {
        if !matches!(e.op, OrderOp::Order { .. }) {
            return;
        }
        match e.kind {
            HistoryKind::Ok => self.saga(e.op_id).told = Some((true, at)),
            HistoryKind::Fail => self.saga(e.op_id).told = Some((false, at)),
            HistoryKind::Info => self.saga(e.op_id).gave_up = true,
            HistoryKind::Invoke => return,
        }
        self.consider(e.op_id);
    }

    fn report(&self, _now: SimTime) -> Report {
        let mut r = Report::default();
        let sagas = self.sagas.in_order();
        // The sagas that ended, kept in full; those forgotten long ago are
        // in `folded`, and the ones brought back since (`past`) add only
        // what came after.
        let ended: Vec<(&SagaId, &SagaFacts)> =
            sagas.iter().copied().filter(|(_, f)| f.ended.is_some() && f.past.is_none()).collect();
        let came_back: Vec<&SagaFacts> = sagas.iter().map(|&(_, f)| f).filter(|f| f.past.is_some()).collect();
        let folded = &self.folded;
        let begun =
            self.sagas.values_any_order().filter(|f| f.begun.is_some()).count() + folded.ended() as usize;
        let completed =
            ended.iter().filter(|(_, f)| matches!(f.ended, Some((SagaOutcome::Completed, _, _)))).count()
                + folded.completed as usize;
        let ended_count = ended.len() + folded.ended() as usize;
        let compensated = ended_count - completed;

        // semantic-atomicity: every ended saga, judged by its effects; no
        // saga run twice; and no effect or answer for a saga that never
        // began.
        let mut broken = ViolationTracker::default();
        for &(saga, f) in &sagas {
            if let Some(why) = f.atomicity_violation(*saga) {
                broken.record_because(f.last_at().expect("ended or begun twice"), || {
                    (why, f.evidence(*saga, &self.names, None))
                });
            }
        }
        let ran_twice = self.sagas.values_any_order().filter(|f| f.again.is_some()).count();
        for &(saga, f) in &sagas {
            if f.begun.is_none() && f.past.is_none() && (!f.effects.is_empty() || f.told.is_some_and(|t| t.0))
            {
                let at = f.last_at().expect("something happened");
                broken.record_because(at, || {
                    (
                        format!("saga {saga} took effect or was acknowledged, but never began"),
                        f.evidence(*saga, &self.names, None),
                    )
                });
            }
        }
        r.checks.push(broken.verdict_with(
            "semantic-atomicity",
            format!(
                "all {ended_count} ended sagas are atomic: {completed} completed, {compensated} compensated"
            ),
            |_, why, count| format!("{why} ({count} of {ended_count} ended sagas not atomic)"),
        ));

        // applied-once
        let mut duplicates = ViolationTracker::default();
        let mut double_charges = 0;
        let duplicate_effects: usize = self.sagas.values_any_order().map(|f| f.duplicates().count()).sum();
        for &(saga, f) in &sagas {
            for (nth, e) in f.duplicates() {
                if e.action == Action::Charge {
                    double_charges += 1;
                }
                // One violation per (saga, action), dated by its first repeat.
                if nth == 2 {
                    duplicates.record_because(e.at, || {
                        let long_ago = f.past.is_some_and(|p| p.took_effect().contains(&e.action));
                        let times =
                            f.effects.iter().filter(|o| o.action == e.action).count() + usize::from(long_ago);
                        let each = match e.effect {
                            Effect::Charged { customer, amount } => {
                                format!(" (c{customer} charged {amount} each time)")
                            }
                            Effect::Refunded { customer, amount } => {
                                format!(" (c{customer} refunded {amount} each time)")
                            }
                            Effect::Reserved { item, qty } => {
                                format!(" ({qty} units of item{item} each time)")
                            }
                            Effect::OrderCreated { .. } => " (a new order each time)".to_string(),
                            _ => String::new(),
                        };
                        let twice = if f.again.is_some() { " ran twice" } else { "" };
                        (
                            format!(
                                "saga {saga}{twice}: {} took effect {times} times{each}",
                                e.action.name()
                            ),
                            f.evidence(*saga, &self.names, Some(e.action)),
                        )
                    });
                }
            }
        }
        r.checks.push(duplicates.verdict_with(
            "applied-once",
            "every action took effect at most once".into(),
            |_, what, count| {
                format!(
                    "{what}; {} more than once, {} in all",
                    crate::util::count_as(count, "action took effect", "actions took effect"),
                    crate::util::count(duplicate_effects, "extra effect")
                )
            },
        ));

        // compensation-order
        let mut misordered = ViolationTracker::default();
        for &(saga, f) in &sagas {
            if let Some((at, why)) = f.misordered() {
                misordered.record_because(at, || {
                    (format!("saga {saga}: {why}"), f.evidence(*saga, &self.names, None))
                });
            }
        }
        let compensations: usize =
            self.sagas.values_any_order().map(|f| f.compensations.len()).sum::<usize>()
                + folded.compensations as usize;
        r.checks.push(misordered.verdict_with(
            "compensation-order",
            format!("{compensations} compensations, each in reverse order of its step"),
            |_, what, _| what.to_string(),
        ));

        r.checks.push(self.changed_answers.verdict_with(
            "retries-same-answer",
            match self.answered_again {
                1 => "the one request answered again got its first answer".to_string(),
                n => format!("all {n} requests answered again got their first answer"),
            },
            |_, what, count| format!("{what} ({count} of {} answers changed)", self.answered_again),
        ));

        // money-conserved
        let (mut charged, mut refunded, mut reserved) = (folded.charged, folded.refunded, folded.reserved);
        let (mut owed_money, mut owed_units) = (folded.owed_money, folded.owed_units);
        for f in ended.iter().map(|(_, f)| *f).chain(came_back.iter().copied()) {
            for e in &f.effects {
                match e.effect {
                    Effect::Charged { amount, .. } => charged += amount as i128,
                    Effect::Refunded { amount, .. } => refunded += amount as i128,
                    Effect::Reserved { qty, .. } => reserved += qty as i128,
                    _ => {}
                }
            }
            if let (Some((SagaOutcome::Completed, _, _)), Some(o)) = (f.ended, f.order()) {
                owed_money += o.amount as i128;
                owed_units += o.qty as i128;
            }
        }
        let money_ok = charged - refunded == owed_money;
        let units_ok = reserved == owed_units;
        // The evidence: the first ended saga whose own money or units are
        // off (what it was charged and reserved, against what it owed).
        let off = ended.iter().find(|(_, f)| {
            let (money, units) = f.net();
            let owed = match (f.ended, f.order()) {
                (Some((SagaOutcome::Completed, _, _)), Some(o)) => (o.amount as i128, o.qty as i128),
                _ => (0, 0),
            };
            (money, units) != owed
        });
        let conserved_causes = match off {
            Some((saga, f)) if !(money_ok && units_ok) => f.evidence(**saga, &self.names, None),
            _ => Vec::new(),
        };
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
            causes: conserved_causes,
        });

        let latencies: Vec<u64> = ended
            .iter()
            .filter_map(|(_, f)| Some(f.ended?.1.time.0.saturating_sub(f.begun?.1.time.0)))
            .collect();
        // No mean without a saga that ended: the metric is left out.
        let latency_n = latencies.len() as u64 + folded.ended();
        if latency_n > 0 {
            let sum = latencies.iter().sum::<u64>() + folded.latency_us;
            r.metrics.insert("saga_latency_mean_ms", sum as f64 / latency_n as f64 / 1000.0);
        }
        let orphans: usize =
            ended.iter().map(|(_, f)| *f).chain(came_back.iter().copied()).map(SagaFacts::orphans).sum();
        let refunds = self
            .sagas
            .values_any_order()
            .flat_map(|f| &f.effects)
            .filter(|e| e.action == Action::Refund)
            .count()
            + folded.refunds as usize;
        r.metrics.insert("sagas_begun", begun as f64);
        r.metrics.insert("sagas_completed", completed as f64);
        r.metrics.insert("sagas_compensated", compensated as f64);
        if begun > 0 {
            r.metrics.insert("completion_rate", completed as f64 / begun as f64);
            r.metrics.insert("compensation_rate", compensated as f64 / begun as f64);
        }
        r.metrics.insert("sagas_unfinished", begun.saturating_sub(ended_count) as f64);
        r.metrics.insert("duplicate_effects", duplicate_effects as f64);
        r.metrics.insert("double_charges", double_charges as f64);
        r.metrics.insert("orphan_orders", orphans as f64);
        r.metrics.insert("compensations", compensations as f64);
        r.metrics.insert("refunds", refunds as f64);
        r.metrics.insert("step_retries", self.retries as f64);
        r.metrics.insert("duplicates_suppressed", self.suppressed as f64);
        r.metrics.insert("sagas_resumed", self.resumed as f64);
        r.metrics.insert("sagas_run_twice", ran_twice as f64);
        r.metrics.insert("orders_refused_too_old", self.refused_too_old as f64);
        r.metrics.insert("answered_again", self.answered_again as f64);
        let (dirty, declined) = self.dirty_charges();
        r.metrics.insert("isolation_anomalies", dirty as f64);
        r.metrics.insert("declined_by_intermediate_state", declined as f64);
        for (i, reason) in Reason::ALL.into_iter().enumerate() {
            let n = ended
                .iter()
                .filter(|(_, f)| f.ended.is_some_and(|e| e.0 == SagaOutcome::Compensated(reason)))
                .count();
            r.metrics.insert(reason.metric(), (n as u64 + folded.compensated[i]) as f64);
        }
        r
    }

    /// Liveness: every saga the orchestrator began has ended (completed or
    /// compensated).
    fn pending(&self, _now: SimTime, _nodes: &[crate::sim::NodeSummary]) -> Vec<String> {
        let open: Vec<String> = self
            .sagas
            .in_order()
            .into_iter()
            .filter(|(_, f)| f.ended.is_none() && f.forgotten.is_none())
            .filter_map(|(saga, f)| {
                f.begun.map(|b| format!("saga {saga} (begun at {}) has not ended", b.1.time))
            })
            .collect();
        let mut out: Vec<String> = open.iter().take(10).cloned().collect();
        if open.len() > 10 {
            out.push(format!("and {} more sagas", open.len() - 10));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::Reason;
    use super::*;

    fn at(step: u64) -> At {
        At { step, time: SimTime(step * 1000) }
    }

    const ORDER: Order = Order { customer: 1, item: 2, qty: 3, amount: 30 };
    const ORCHESTRATOR: NodeId = NodeId(0);
    const SERVICE: NodeId = NodeId(1);

    /// Feeds the observations of saga 7: begun; the services' `effects` in
    /// the order given (each forward step logged done after its first
    /// effect);
    /// the compensations logged; the end. Everything at its own step, on
    /// disk as write 1, 2, 3, ... of its node.
    fn checker_with(
        effects: &[(Action, Effect)],
        logged_comps: &[Action],
        outcome: SagaOutcome,
    ) -> SagaChecker {
        let mut c = SagaChecker::default();
        let mut step = 1;
        let mut next = || {
            step += 1;
            at(step)
        };
        c.on_observation(next(), ORCHESTRATOR, &Observation::SagaBegun { saga: 7, order: ORDER, write: 1 });
        for (i, &(action, effect)) in effects.iter().enumerate() {
            let write = i as u64 + 1;
            c.on_observation(
                next(),
                SERVICE,
                &Observation::Applied { saga: 7, action, key: 0, effect, write },
            );
            if !action.is_compensation() && !effects[..i].iter().any(|e| e.0 == action) {
                c.on_observation(
                    next(),
                    ORCHESTRATOR,
                    &Observation::StepDone { saga: 7, step: action, write: 9 },
                );
            }
        }
        for &comp in logged_comps {
            let logged = Observation::Compensated { saga: 7, compensation: comp, write: 9 };
            c.on_observation(next(), ORCHESTRATOR, &logged);
        }
        c.on_observation(next(), ORCHESTRATOR, &Observation::SagaEnded { saga: 7, outcome, write: 9 });
        c
    }

    fn holds(r: &Report, check: &str) -> bool {
        r.verdict(check).unwrap().holds
    }

    const CREATED: (Action, Effect) = (Action::CreateOrder, Effect::OrderCreated { order: 1 });
    const CHARGED: (Action, Effect) = (Action::Charge, Effect::Charged { customer: 1, amount: 30 });
    const REFUNDED: (Action, Effect) = (Action::Refund, Effect::Refunded { customer: 1, amount: 30 });
    const CANCELLED: (Action, Effect) = (Action::CancelOrder, Effect::OrderCancelled { order: 1 });
    const RESERVED: (Action, Effect) = (Action::Reserve, Effect::Reserved { item: 2, qty: 3 });
    const APPROVED: (Action, Effect) = (Action::ApproveOrder, Effect::OrderApproved { order: 1 });
    const OUT_OF_STOCK: SagaOutcome = SagaOutcome::Compensated(Reason::OutOfStock);
    const ALL: [&str; 4] = ["semantic-atomicity", "applied-once", "compensation-order", "money-conserved"];

    /// The textbook compensation — refund, then cancel — passes every check.
    #[test]
    fn reverse_order_compensation_holds() {
        let c = checker_with(
            &[CREATED, CHARGED, REFUNDED, CANCELLED],
            &[Action::Refund, Action::CancelOrder],
            OUT_OF_STOCK,
        );
        let r = c.report(SimTime(0));
        for check in ALL {
            assert!(holds(&r, check), "{check}: {}", r.verdict(check).unwrap().detail);
        }
        assert_eq!(r.metrics["sagas_compensated"], 1.0);
    }

    /// Cancelling the order before refunding the later charge breaks
    /// compensation-order — and only it: the end state is still atomic.
    /// No configuration of the protocol does this (the orchestrator waits
    /// for each compensation before the next), so only this test shows
    /// the check firing.
    #[test]
    fn compensation_in_completion_order_fires() {
        let c = checker_with(
            &[CREATED, CHARGED, CANCELLED, REFUNDED],
            &[Action::CancelOrder, Action::Refund],
            OUT_OF_STOCK,
        );
        let r = c.report(SimTime(0));
        let v = r.verdict("compensation-order").unwrap();
        assert!(!v.holds);
        assert!(v.detail.contains("cancel-order took effect before refund"), "{}", v.detail);
        assert_eq!(v.first_violation, Some(at(7)), "when the cancellation took effect");
        assert!(holds(&r, "semantic-atomicity") && holds(&r, "money-conserved") && holds(&r, "applied-once"));
    }

    /// A refund with no charge before it breaks compensation-order.
    #[test]
    fn compensation_before_its_step_fires() {
        let c = checker_with(&[CREATED, REFUNDED, CANCELLED], &[Action::CancelOrder], OUT_OF_STOCK);
        let v = c.report(SimTime(0)).verdict("compensation-order").unwrap().clone();
        assert!(!v.holds);
        assert!(v.detail.contains("refund took effect, but charge had not"), "{}", v.detail);
    }

    /// A compensated saga that forgot a compensation is not atomic, and
    /// its money is not conserved.
    #[test]
    fn missing_compensation_breaks_atomicity() {
        let r = checker_with(&[CREATED, CHARGED, CANCELLED], &[Action::CancelOrder], OUT_OF_STOCK)
            .report(SimTime(0));
        assert!(!holds(&r, "semantic-atomicity"));
        assert!(!holds(&r, "money-conserved"));
        assert!(holds(&r, "applied-once"));
    }

    /// A completed saga charged twice breaks applied-once, atomicity and
    /// money; one completed normally holds them all.
    #[test]
    fn double_charge_fires() {
        let ok = checker_with(&[CREATED, CHARGED, RESERVED, APPROVED], &[], SagaOutcome::Completed)
            .report(SimTime(0));
        for check in ALL {
            assert!(holds(&ok, check), "{check}");
        }
        let twice =
            checker_with(&[CREATED, CHARGED, CHARGED, RESERVED, APPROVED], &[], SagaOutcome::Completed)
                .report(SimTime(0));
        assert!(!holds(&twice, "applied-once"));
        assert!(!holds(&twice, "semantic-atomicity"));
        assert!(!holds(&twice, "money-conserved"));
        assert_eq!(twice.metrics["double_charges"], 1.0);
    }

    /// An effect whose write a crash lost is forgotten when its node
    /// restarts: the second charge (write 3) did not survive a restart with
    /// two writes on disk, so the saga was charged once.
    #[test]
    fn effects_lost_in_a_crash_are_forgotten() {
        let mut c =
            checker_with(&[CREATED, CHARGED, CHARGED, RESERVED, APPROVED], &[], SagaOutcome::Completed);
        c.on_observation(at(50), SERVICE, &Observation::Restarted { writes_on_disk: 2 });
        // Writes 4 and 5 (reserve, approve) were lost too: apply them again.
        c.on_observation(
            at(51),
            SERVICE,
            &Observation::Applied { saga: 7, action: RESERVED.0, key: 0, effect: RESERVED.1, write: 3 },
        );
        c.on_observation(
            at(52),
            SERVICE,
            &Observation::Applied { saga: 7, action: APPROVED.0, key: 0, effect: APPROVED.1, write: 4 },
        );
        let r = c.report(SimTime(0));
        for check in ALL {
            assert!(holds(&r, check), "{check}: {}", r.verdict(check).unwrap().detail);
        }
        // A restart of another node forgets nothing of this one.
        c.on_observation(at(53), ORCHESTRATOR, &Observation::Restarted { writes_on_disk: 0 });
        assert!(
            !holds(&c.report(SimTime(0)), "semantic-atomicity"),
            "the orchestrator's log was lost: never began"
        );
    }

    /// A saga the orchestrator forgot and then began again (a client's
    /// late retry, before orders too old were refused) ran twice: the
    /// checks say so plainly, even before its second run ends.
    #[test]
    fn a_saga_begun_again_ran_twice() {
        let mut c = checker_with(&[CREATED, CHARGED, RESERVED, APPROVED], &[], SagaOutcome::Completed);
        assert!(holds(&c.report(SimTime(0)), "semantic-atomicity"));
        c.on_observation(at(40), ORCHESTRATOR, &Observation::SagaForgotten { saga: 7, write: 10 });
        c.on_observation(at(60), ORCHESTRATOR, &Observation::SagaBegun { saga: 7, order: ORDER, write: 11 });
        let r = c.report(SimTime(0));
        let v = r.verdict("semantic-atomicity").unwrap();
        assert!(!v.holds);
        assert!(
            v.detail.starts_with(
                "saga 7 ran twice: begun at 2ms and again at 60ms, after the orchestrator forgot it at 40ms"
            ),
            "{}",
            v.detail
        );
        assert_eq!(r.metrics["sagas_run_twice"], 1.0);
        c.on_observation(
            at(61),
            SERVICE,
            &Observation::Applied { saga: 7, action: CHARGED.0, key: 0, effect: CHARGED.1, write: 5 },
        );
        let v = c.report(SimTime(0)).verdict("applied-once").unwrap().clone();
        assert!(v.detail.starts_with("saga 7 ran twice: charge took effect 2 times"), "{}", v.detail);
        // A second begin whose first was lost in a crash is no second run.
        let mut lost = SagaChecker::default();
        lost.on_observation(at(1), ORCHESTRATOR, &Observation::SagaBegun { saga: 7, order: ORDER, write: 1 });
        lost.on_observation(at(2), ORCHESTRATOR, &Observation::Restarted { writes_on_disk: 0 });
        lost.on_observation(at(3), ORCHESTRATOR, &Observation::SagaBegun { saga: 7, order: ORDER, write: 1 });
        assert_eq!(lost.report(SimTime(0)).metrics["sagas_run_twice"], 0.0);
    }

    /// An effect for a saga the orchestrator never began breaks atomicity.
    #[test]
    fn effect_without_saga_fires() {
        let mut c = SagaChecker::default();
        let applied =
            Observation::Applied { saga: 9, action: CHARGED.0, key: 0, effect: CHARGED.1, write: 1 };
        c.on_observation(at(1), SERVICE, &applied);
        assert!(!holds(&c.report(SimTime(0)), "semantic-atomicity"));
    }

    /// A client told ok for a compensated saga breaks atomicity.
    #[test]
    fn client_told_the_wrong_outcome_fires() {
        let mut c = checker_with(
            &[CREATED, CHARGED, REFUNDED, CANCELLED],
            &[Action::Refund, Action::CancelOrder],
            OUT_OF_STOCK,
        );
        let op = OrderOp::Order { customer: 1, item: 2, qty: 3 };
        let e = crate::sim::HistoryEvent {
            register: None,
            step: 99,
            time: SimTime(99_000),
            process: 0,
            client: 0,
            op_id: 7,
            kind: HistoryKind::Ok,
            op,
            value: Default::default(),
            node: None,
        };
        c.on_history(at(99), &e);
        let r = c.report(SimTime(0));
        assert!(!holds(&r, "semantic-atomicity"));
        assert!(r.verdict("semantic-atomicity").unwrap().detail.contains("told ok"));
    }

    /// On a real run, whether its disk takes 1ms or completes each write
    /// within the step, the facts waiting to be known durable are only
    /// those of writes still on their way to a disk: the checker hears
    /// each disk catch up (`on_durable`) and settles the rest. Without
    /// that it would keep an entry for every fact of the run until the
    /// node restarts, which here it never does.
    #[test]
    fn facts_known_durable_are_settled_as_the_disks_catch_up() {
        let registry = crate::protocols::registry();
        let file = "scenarios/saga/happy-path.toml";
        let slow = std::fs::read_to_string(file).expect("the lesson");
        let instant = slow.replace("disk_latency = \"1ms\"", "disk_latency = \"0ms\"");
        assert_ne!(slow, instant);
        for source in [slow, instant] {
            let lesson = crate::scenario::load_str(&registry, file, &source).expect("a lesson");
            let options = crate::scenario::RunOptions::default();
            let mut sim = crate::protocols::Entry::<Saga, SagaChecker>::sim(&lesson, options);
            sim.run_until(SimTime(lesson.duration.0 / 2));
            let c = sim.checker().expect("checks are on");
            let facts: usize = c.sagas.values_any_order().map(|f| f.steps.len() + f.effects.len()).sum();
            let unsettled: usize = c.unsettled.values().map(Vec::len).sum();
            let disk = lesson.disk_latency;
            assert!(facts > 50, "the run got going: {facts} facts (disk {disk:?})");
            assert!(unsettled < 20, "{unsettled} facts wait for a disk, of {facts} (disk {disk:?})");
        }
    }

    /// Every saga lesson, over a few seeds of its own faults, reports the
    /// same — every verdict with its first violation, every metric —
    /// whether the checker keeps every settled saga or forgets each the
    /// moment it settles; and forgetting happens: most sagas end up as
    /// bits.
    #[test]
    fn forgetting_settled_sagas_changes_no_verdict_and_no_metric() {
        use crate::sim::monitor::KEEP_SETTLED;
        let registry = crate::protocols::registry();
        let mut files: Vec<_> = std::fs::read_dir("scenarios/saga")
            .expect("the lessons")
            .map(|e| e.expect("an entry").path())
            .chain([std::path::PathBuf::from("scenarios/compare/order-saga.toml")])
            .collect();
        files.sort();
        let (mut forgotten, mut settled_at_all) = (0, 0);
        for file in &files {
            let name = file.display().to_string();
            let source = std::fs::read_to_string(file).expect("a lesson");
            let lesson = crate::scenario::load_str(&registry, &name, &source).expect("a lesson");
            for seed in 0..3 {
                let run = |keep: usize| {
                    KEEP_SETTLED.with(|k| k.set(Some(keep)));
                    let options = crate::scenario::RunOptions { seed: Some(seed), ..Default::default() };
                    let mut sim = crate::protocols::Entry::<Saga, SagaChecker>::sim(&lesson, options);
                    sim.run_until(lesson.duration);
                    KEEP_SETTLED.with(|k| k.set(None));
                    let c = sim.checker().expect("checks are on");
                    let report = c.report(lesson.duration);
                    let verdicts: Vec<_> =
                        report.checks.iter().map(|v| (v.name, v.holds, v.first_violation)).collect();
                    (verdicts, report.metrics, c.long_ago.settled.pages(), c.sagas.len())
                };
                let (kept, forgot) = (run(usize::MAX), run(0));
                assert_eq!(kept.0, forgot.0, "{name} seed {seed}: verdicts");
                assert_eq!(kept.1, forgot.1, "{name} seed {seed}: metrics");
                assert_eq!(kept.2, 0, "{name}: nothing forgotten when everything is kept");
                forgotten += usize::from(forgot.2 > 0);
                settled_at_all += usize::from(forgot.3 < kept.3);
            }
        }
        assert!(forgotten > 20 && settled_at_all == forgotten, "{forgotten} runs forgot sagas");
    }

    /// Saga `saga` ends with `outcome` at step `step` (logged as write
    /// `step`), its client is told at the next, and every disk catches up.
    fn end(c: &mut SagaChecker, saga: SagaId, outcome: SagaOutcome, step: u64) {
        c.on_observation(at(step), ORCHESTRATOR, &Observation::SagaEnded { saga, outcome, write: step });
        c.saga(saga).told = Some((outcome == SagaOutcome::Completed, at(step + 1)));
        c.on_durable(at(step + 1), ORCHESTRATOR);
        c.on_durable(at(step + 1), SERVICE);
    }

    /// A charge declined while another saga's charge, later refunded, was
    /// in place counts as an isolation anomaly whichever of the two sagas
    /// is forgotten first: here the one whose charge was in place, so its
    /// interval is gone when the declined one is judged — it marked it.
    #[test]
    fn a_dirty_charge_counts_when_the_saga_it_saw_was_forgotten_first() {
        use crate::sim::monitor::KEEP_SETTLED;
        let run = |keep: usize| {
            KEEP_SETTLED.with(|k| k.set(Some(keep)));
            let mut c = SagaChecker::default();
            let applied = |saga, (action, effect): (Action, Effect), write| Observation::Applied {
                saga,
                action,
                key: 0,
                effect,
                write,
            };
            let logged = |saga, step, write| Observation::StepDone { saga, step, write };
            c.on_observation(
                at(1),
                ORCHESTRATOR,
                &Observation::SagaBegun { saga: 1, order: ORDER, write: 1 },
            );
            c.on_observation(at(2), SERVICE, &applied(1, CREATED, 1));
            c.on_observation(at(2), ORCHESTRATOR, &logged(1, Action::CreateOrder, 2));
            c.on_observation(at(3), SERVICE, &applied(1, CHARGED, 2));
            c.on_observation(at(3), ORCHESTRATOR, &logged(1, Action::Charge, 3));
            c.on_observation(
                at(4),
                ORCHESTRATOR,
                &Observation::SagaBegun { saga: 2, order: ORDER, write: 4 },
            );
            let declined = StepResult::Failed(Reason::InsufficientCredit);
            let key = crate::protocols::saga::idempotency_key(2, Action::Charge);
            let replied = Observation::Replied {
                saga: 2,
                action: Action::Charge,
                key,
                result: declined,
                repeat: false,
            };
            c.on_observation(at(5), SERVICE, &replied);
            c.on_observation(at(6), SERVICE, &applied(1, REFUNDED, 3));
            c.on_observation(at(7), SERVICE, &applied(1, CANCELLED, 4));
            for (step, comp) in [(6, Action::Refund), (7, Action::CancelOrder)] {
                let compensated = Observation::Compensated { saga: 1, compensation: comp, write: step };
                c.on_observation(at(step), ORCHESTRATOR, &compensated);
            }
            end(&mut c, 1, OUT_OF_STOCK, 8);
            let first_forgotten = c.long_ago.settled.contains(1) && !c.long_ago.settled.contains(2);
            end(&mut c, 2, SagaOutcome::Compensated(Reason::InsufficientCredit), 10);
            KEEP_SETTLED.with(|k| k.set(None));
            let r = c.report(SimTime(0));
            (first_forgotten, c.long_ago.settled.contains(2), r.metrics)
        };
        let (kept, forgot) = (run(usize::MAX), run(0));
        assert!(!kept.0 && !kept.1, "nothing is forgotten when everything is kept");
        assert!(forgot.0 && forgot.1, "saga 1 is forgotten first, then saga 2");
        assert_eq!(kept.2["isolation_anomalies"], 1.0);
        assert_eq!(kept.2["declined_by_intermediate_state"], 1.0);
        assert_eq!(kept.2, forgot.2);
    }

    /// A saga forgotten long ago that a harmless late fact brings back (a
    /// request answered again from the keys, the orchestrator forgetting
    /// it) does not stay: the checker's memory does not grow with them.
    #[test]
    fn a_harmless_late_fact_does_not_keep_a_forgotten_saga() {
        use crate::sim::monitor::KEEP_SETTLED;
        KEEP_SETTLED.with(|k| k.set(Some(0)));
        let mut c = checker_with(&[CREATED, CHARGED, RESERVED, APPROVED], &[], SagaOutcome::Completed);
        c.saga(7).told = Some((true, at(50)));
        c.on_durable(at(50), ORCHESTRATOR);
        c.on_durable(at(50), SERVICE);
        assert!(c.long_ago.settled.contains(7) && c.sagas.is_empty(), "forgotten once settled");
        let key = crate::protocols::saga::idempotency_key(7, Action::Charge);
        let done = StepResult::Done { order: None };
        let again = Observation::Replied { saga: 7, action: Action::Charge, key, result: done, repeat: true };
        c.on_observation(at(51), SERVICE, &again);
        c.on_observation(at(52), ORCHESTRATOR, &Observation::SagaForgotten { saga: 7, write: 10 });
        c.on_durable(at(52), ORCHESTRATOR);
        KEEP_SETTLED.with(|k| k.set(None));
        assert!(c.long_ago.settled.contains(7) && c.sagas.is_empty(), "forgotten again");
        let r = c.report(SimTime(0));
        assert_eq!(r.metrics["answered_again"], 1.0);
        assert_eq!(r.metrics["sagas_completed"], 1.0);
        assert!(r.checks.iter().all(|v| v.holds));
    }
}
