//! Grading a scenario over many seeds: what `distlab check` judges.
//!
//! A [`Plan`] says what is graded, and what is not and why, from one of
//! two sources ([`Grading`]):
//! - the lesson's own **expectations**: a check it expects to hold holds
//!   in every seed; one it expects to break (`holds = false`) breaks in at
//!   least one seed; one it does not grade (`graded = false`) is not
//!   graded; every metric bound holds in every seed; and a check it does
//!   not name is graded as the protocol promises (below);
//! - the protocol's **promises** for its parameters
//!   ([`crate::protocols::Promises`]), for a lesson run under another
//!   nemesis than its own (`check --nemesis`): the promised checks hold in
//!   every seed; the rest, and the lesson's metric bounds (they describe
//!   its own story), are reported but not graded.
//!
//! Either way, histories are checked for linearizability where the
//! protocol promises it, and liveness is required where it promises that.
//!
//! [`grade_seed`] runs one seed in two phases:
//! 1. the scenario, to its `duration`. What the lesson says about the end
//!    of its story is judged here, as `distlab run` judges it: the breaks
//!    it expects, its metric bounds, and the checks it expects to hold;
//! 2. the **liveness phase** (TigerBeetle's VOPR): every fault ends — the
//!    network heals, crashed nodes restart, paused ones resume, clocks are
//!    set back — clients issue nothing new, and the run has up to `settle`
//!    to finish what it started. Then the protocol says what is still
//!    pending ([`crate::check::Checker::pending`]), every check that must
//!    hold is judged again (a violation while recovering is one all the
//!    same), and the whole history is checked for linearizability.
//!
//! A check the lesson names must hold at the end of the scenario *and*
//! after the liveness phase. A check graded only because the protocol
//! promises it is judged once the run has settled: a check of the final
//! state (convergence, the final log) is fair only then, while an online
//! check remembers its first violation from either phase. Either way a
//! failure's detail is the one `distlab run` shows for that seed when the
//! check broke before the scenario's end, and says `phase: liveness` when
//! it broke only after.
//!
//! A seed whose run does not reach its end is graded on nothing else and
//! counted apart, never passed: one that panics (a protocol's assertion)
//! fails as `panic`, one the engine stops for exceeding its budget (a
//! livelock, a message storm) fails as `halt` — each with its message and
//! the phase it stopped in. A linearizability search that runs out of its
//! budget leaves the seed *unknown* for it: neither passed nor failed, and
//! counted apart. [`Tally`] adds the seeds up, item by item.

use super::Expectation;
use super::linearizability::{STATE_BUDGET, check_history_within};
use crate::protocols::{LIVENESS, RunOptions};
use crate::scenario::Scenario;
use crate::sim::{Budget, Cause, Driver, SimDuration, SimTime, TraceLevel};
use serde::Serialize;

/// The name under which linearizability is graded and reported.
pub use crate::protocols::LINEARIZABILITY;

/// The failure of a seed whose run panicked (a protocol's assertion).
pub const PANIC: &str = "panic";

/// The failure of a seed whose run the engine stopped before its end: it
/// exceeded a budget (see [`halted`]).
pub const HALT: &str = "halt";

/// Did the engine stop the run (it exceeded its [`Budget`]) before
/// `until`? The message says why and where.
pub fn halted(run: &dyn Driver, until: SimTime) -> Option<String> {
    run.halted().map(|why| format!("{why} (at {}, before reaching {until})", run.now()))
}

/// How long the liveness phase lets a run settle, by default. Measured on
/// the bundled lessons over 2,000 seeds: a restarted primary repairing its
/// log over a 60ms link in 100ms batches (primary-replica/
/// replication-modes) needed more than 5s in 201 seeds; none of the
/// lessons needs more than 10s, and a run still pending after 10s was
/// still pending after 60s.
pub const DEFAULT_SETTLE: SimDuration = SimDuration::from_secs(10);

/// How often the liveness phase asks whether the run has settled.
const SETTLE_STEP: SimDuration = SimDuration::from_millis(100);

/// Where the graded items come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Grading {
    /// The lesson's `[[expect]]` entries (and every other check holds).
    Expectations,
    /// What the protocol promises for its parameters.
    Promises,
}

/// What a graded item requires.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Judge {
    /// The check holds in every seed.
    Holds,
    /// The check breaks in at least one seed (the lesson shows it break).
    Breaks,
    /// The metric lies within bounds in every seed.
    Metric {
        #[serde(skip_serializing_if = "Option::is_none", serialize_with = "crate::util::whole::option")]
        at_least: Option<f64>,
        #[serde(skip_serializing_if = "Option::is_none", serialize_with = "crate::util::whole::option")]
        at_most: Option<f64>,
    },
    /// Every history is linearizable.
    Linearizable,
    /// Every seed settles in the liveness phase: nothing pending.
    Settles,
}

/// One graded item.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Item {
    /// The check or metric, or `linearizability`, `liveness`.
    pub name: String,
    /// As printed: `fresh-reads holds`, `stale_reads >= 1`.
    pub label: String,
    pub judge: Judge,
    /// Named by the lesson's expectations (a check it does not name is
    /// graded as the protocol promises; one no seed ran with these
    /// parameters is then reported as not graded).
    pub named: bool,
}

/// Something reported but not graded, and why.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct NotGraded {
    pub name: String,
    pub why: String,
}

/// What a `distlab check` grades.
#[derive(Clone, Debug)]
pub struct Plan {
    pub grading: Grading,
    pub items: Vec<Item>,
    /// Checks (and linearizability, liveness, metric bounds) left out.
    pub not_graded: Vec<NotGraded>,
    /// The liveness phase's length.
    pub settle: SimDuration,
    /// States the linearizability search may explore per key.
    pub linearizability_budget: u64,
    /// The engine's budget for each seed's run (events, events at one
    /// instant, events waiting): a run that exceeds it fails as `halt`.
    pub budget: Budget,
}

impl Plan {
    /// The plan for `scenario`, graded by `grading`.
    pub fn new(scenario: &Scenario, grading: Grading, settle: SimDuration) -> Plan {
        let protocol = &scenario.protocol;
        let params = scenario.params.as_ref();
        let nodes = scenario.cluster.len();
        let promise = |check: &str| protocol.promise(params, nodes, check);
        let mut items = Vec::new();
        let mut not_graded = Vec::new();
        let mut item = |name: &str, label: String, judge: Judge, named: bool| {
            items.push(Item { name: name.to_string(), label, judge, named });
        };
        for check in protocol.checks().iter().map(|c| c.name) {
            let expected = scenario.expectations.iter().find_map(|e| match e {
                Expectation::Check { name, holds } if name == check => Some(Some(*holds)),
                Expectation::Ungraded { name } if name == check => Some(None),
                _ => None,
            });
            match (grading, expected) {
                (Grading::Expectations, Some(None)) => not_graded.push(NotGraded {
                    name: check.into(),
                    why: "the lesson does not grade it (graded = false)".into(),
                }),
                (Grading::Expectations, Some(Some(false))) => {
                    item(check, format!("{check} breaks"), Judge::Breaks, true)
                }
                (Grading::Expectations, Some(Some(true))) => {
                    item(check, format!("{check} holds"), Judge::Holds, true)
                }
                // A check the lesson does not name is graded where the
                // protocol promises it.
                (Grading::Expectations, None) | (Grading::Promises, _) => match promise(check) {
                    Ok(()) => item(check, format!("{check} holds"), Judge::Holds, false),
                    Err(why) => {
                        not_graded.push(NotGraded { name: check.into(), why: format!("not promised: {why}") })
                    }
                },
            }
        }
        for e in &scenario.expectations {
            if let Expectation::Metric { name, at_least, at_most } = e {
                let label = metric_label(name, *at_least, *at_most);
                match grading {
                    Grading::Expectations => {
                        item(name, label, Judge::Metric { at_least: *at_least, at_most: *at_most }, true)
                    }
                    Grading::Promises => not_graded.push(NotGraded {
                        name: label,
                        why: "the lesson's bound describes its own faults, not this nemesis".into(),
                    }),
                }
            }
        }
        if protocol.promises_linearizability(params) {
            item(LINEARIZABILITY, LINEARIZABILITY.into(), Judge::Linearizable, false);
        } else {
            let why = promise(LINEARIZABILITY).err().unwrap_or("not promised with these parameters");
            not_graded.push(NotGraded { name: LINEARIZABILITY.into(), why: format!("not promised: {why}") });
        }
        match promise(LIVENESS) {
            Ok(()) => item(LIVENESS, LIVENESS.into(), Judge::Settles, false),
            Err(why) => {
                not_graded.push(NotGraded { name: LIVENESS.into(), why: format!("not promised: {why}") })
            }
        }
        Plan {
            grading,
            items,
            not_graded,
            settle,
            linearizability_budget: STATE_BUDGET,
            budget: Budget::DEFAULT,
        }
    }

    fn needs_history(&self) -> bool {
        self.items.iter().any(|i| matches!(i.judge, Judge::Metric { .. } | Judge::Linearizable))
    }

    /// The graded item named `name`, if any.
    pub fn item(&self, name: &str) -> Option<&Item> {
        self.items.iter().find(|i| i.name == name)
    }
}

/// `stale_reads >= 1`, `lag_ms >= 1 and <= 5`, `in_doubt_at_end = 4`.
pub fn metric_label(name: &str, at_least: Option<f64>, at_most: Option<f64>) -> String {
    if let (Some(lo), Some(hi)) = (at_least, at_most)
        && lo == hi
    {
        return format!("{name} = {}", crate::util::fmt_num(lo));
    }
    let mut label = name.to_string();
    if let Some(lo) = at_least {
        label.push_str(&format!(" >= {}", crate::util::fmt_num(lo)));
    }
    if let Some(hi) = at_most {
        label.push_str(&format!(
            "{} <= {}",
            if at_least.is_some() { " and" } else { "" },
            crate::util::fmt_num(hi)
        ));
    }
    label
}

/// Why one seed failed: the first graded item it fails, in plan order.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Failure {
    pub seed: u64,
    /// The graded item: a check, a metric's label, `linearizability`,
    /// `liveness`; or `panic` when the run panicked, `halt` when the
    /// engine stopped it (its budget).
    pub check: String,
    pub detail: String,
    /// When the violation happened, if the check knows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<SimTime>,
    /// Before the scenario's end, or in (or after) the liveness phase.
    pub phase: Phase,
    /// The events that caused it, in step order, when the check names
    /// them (absent otherwise).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub causes: Vec<Cause>,
}

/// When in a seed a graded item broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Before the scenario's end: `distlab run FILE --seed N` shows it.
    Scenario,
    /// In the liveness phase, or judged after it (liveness,
    /// linearizability of the whole history): `distlab check FILE --seeds
    /// N..=N` replays it.
    Liveness,
}

/// What one seed showed for one item.
#[derive(Clone, Debug, PartialEq)]
pub enum Seen {
    Held,
    Broke {
        detail: String,
        at: Option<SimTime>,
        phase: Phase,
        /// The events that caused it, as the check names them.
        causes: Vec<Cause>,
    },
    /// A metric's value.
    Value(f64),
    /// The check or metric is not in the report (not run with these
    /// parameters).
    Absent,
    /// Linearizability: the search gave up.
    Unknown(String),
}

/// One seed's grading.
#[derive(Clone, Debug, PartialEq)]
pub struct SeedResult {
    pub seed: u64,
    /// Per plan item, in plan order.
    pub seen: Vec<Seen>,
    /// Per not-graded check, in plan order (`Absent` for the rest).
    pub not_graded_seen: Vec<Seen>,
    /// What was still pending after the liveness phase.
    pub pending: Vec<String>,
    /// The first graded item this seed fails.
    pub failure: Option<Failure>,
}

impl SeedResult {
    /// Linearizability left unknown in this seed: why.
    pub fn unknown(&self) -> Option<&str> {
        self.seen.iter().find_map(|s| match s {
            Seen::Unknown(why) => Some(why.as_str()),
            _ => None,
        })
    }
}

/// How an item failed in one seed.
struct Fails {
    detail: String,
    at: Option<SimTime>,
    phase: Phase,
    causes: Vec<Cause>,
}

/// Does this item fail in a seed where it showed `seen`? How, if so.
fn fails(judge: Judge, seen: &Seen) -> Option<Fails> {
    match (judge, seen) {
        (Judge::Holds | Judge::Linearizable | Judge::Settles, Seen::Broke { detail, at, phase, causes }) => {
            Some(Fails { detail: detail.clone(), at: *at, phase: *phase, causes: causes.clone() })
        }
        (Judge::Metric { at_least, at_most }, Seen::Value(v)) => {
            let within = at_least.is_none_or(|lo| *v >= lo) && at_most.is_none_or(|hi| *v <= hi);
            (!within).then(|| Fails {
                detail: format!("it was {}", crate::util::fmt_num(*v)),
                at: None,
                phase: Phase::Scenario,
                causes: Vec::new(),
            })
        }
        (Judge::Metric { .. }, _) => Some(Fails {
            detail: "no such metric was reported".into(),
            at: None,
            phase: Phase::Scenario,
            causes: Vec::new(),
        }),
        _ => None,
    }
}

/// Runs one seed of `scenario` and grades it by `plan` (see the module
/// docs). A panic in the run, or a halt, is the seed's failure, not the
/// end of the search.
pub fn grade_seed(plan: &Plan, scenario: &Scenario, seed: u64) -> SeedResult {
    let options = RunOptions {
        seed: Some(seed),
        trace: TraceLevel::Off,
        record_history: plan.needs_history(),
        checks: true,
    };
    let phase = std::cell::Cell::new(Phase::Scenario);
    let outcome =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| observe(plan, scenario, options, &phase)));
    let stopped = |check: &str, detail: String| SeedResult {
        seed,
        seen: vec![Seen::Absent; plan.items.len()],
        not_graded_seen: vec![Seen::Absent; plan.not_graded.len()],
        pending: Vec::new(),
        failure: Some(Failure {
            seed,
            check: check.into(),
            detail,
            at: None,
            phase: phase.get(),
            causes: Vec::new(),
        }),
    };
    let (seen, not_graded_seen, pending) = match outcome {
        Ok(Ok(observed)) => observed,
        Ok(Err(Halted(detail))) => return stopped(HALT, detail),
        Err(payload) => return stopped(PANIC, crate::util::panic_message(&*payload)),
    };
    let failure = plan.items.iter().zip(&seen).find_map(|(item, seen)| {
        fails(item.judge, seen).map(|f| Failure {
            seed,
            check: item.label_for_failure(),
            detail: f.detail,
            at: f.at,
            phase: f.phase,
            causes: f.causes,
        })
    });
    SeedResult { seed, seen, not_graded_seen, pending, failure }
}

impl Item {
    /// The name a failure gives: the check or metric (as the lesson names
    /// it), so that a counterexample can expect it.
    fn label_for_failure(&self) -> String {
        match self.judge {
            Judge::Metric { .. } => self.label.clone(),
            _ => self.name.clone(),
        }
    }
}

type Observed = (Vec<Seen>, Vec<Seen>, Vec<String>);

/// A run the engine stopped before its end, and where.
struct Halted(String);

/// The two phases of one seed: what each item showed, what each
/// not-graded check showed, and what was left pending. `phase` follows
/// the run (for a panic's report).
fn observe(
    plan: &Plan,
    scenario: &Scenario,
    options: RunOptions,
    phase: &std::cell::Cell<Phase>,
) -> Result<Observed, Halted> {
    let mut run = scenario.protocol.build(scenario, options);
    run.set_budget(plan.budget);
    run.run_until(scenario.duration);
    if let Some(why) = halted(run.as_ref(), scenario.duration) {
        return Err(Halted(why));
    }
    let metrics_needed = plan.items.iter().any(|i| matches!(i.judge, Judge::Metric { .. }));
    let at_end = if metrics_needed { super::report::full_report(run.as_ref()) } else { run.report() };
    phase.set(Phase::Liveness);
    let pending = settle(run.as_mut(), scenario.duration, plan.settle).map_err(Halted)?;
    let after = run.report();
    let check_seen = |report: &super::Report, name: &str, phase: Phase| match report.verdict(name) {
        Some(v) if v.holds => Seen::Held,
        Some(v) => Seen::Broke {
            detail: v.detail.clone(),
            at: v.first_violation.map(|a| a.time),
            phase,
            causes: v.causes.clone(),
        },
        None => Seen::Absent,
    };
    // A check that must hold, over both phases (see the module docs):
    // `strict` for one the lesson names, which must hold at its end too.
    let must_hold = |name: &str, strict: bool| {
        let end = check_seen(&at_end, name, Phase::Scenario);
        let settled = check_seen(&after, name, Phase::Liveness);
        match (end, settled) {
            (broke @ Seen::Broke { .. }, Seen::Broke { .. }) => broke,
            (broke @ Seen::Broke { .. }, _) if strict => broke,
            (Seen::Broke { .. }, settled) => settled,
            (_, broke @ Seen::Broke { .. }) => broke,
            (end, _) => end,
        }
    };
    let seen = plan
        .items
        .iter()
        .map(|item| match item.judge {
            Judge::Breaks => check_seen(&at_end, &item.name, Phase::Scenario),
            Judge::Metric { .. } => {
                at_end.metrics.get(item.name.as_str()).map_or(Seen::Absent, |v| Seen::Value(*v))
            }
            Judge::Holds => must_hold(&item.name, item.named),
            Judge::Linearizable => {
                let verdict = check_history_within(run.history(), plan.linearizability_budget);
                if let Some(v) = verdict.violation {
                    let at = v.stuck.iter().filter_map(|o| o.completed).max();
                    Seen::Broke { detail: v.to_string(), at, phase: Phase::Liveness, causes: v.causes() }
                } else if let Some(u) = verdict.unknown {
                    Seen::Unknown(u.to_string())
                } else {
                    Seen::Held
                }
            }
            Judge::Settles if pending.is_empty() => Seen::Held,
            Judge::Settles => Seen::Broke {
                detail: format!(
                    "still pending {} after the faults ended: {}",
                    plan.settle,
                    pending.join("; ")
                ),
                at: None,
                phase: Phase::Liveness,
                causes: Vec::new(),
            },
        })
        .collect();
    let not_graded_seen = plan.not_graded.iter().map(|n| must_hold(&n.name, false)).collect();
    Ok((seen, not_graded_seen, pending))
}

/// The liveness phase: ends every fault at `end` (the scenario's end) and
/// runs, a `SETTLE_STEP` (100ms) at a time, until nothing is pending or `settle`
/// has passed. Returns what is still pending, or why the run stopped
/// ([`halted`]). It takes at most `settle / SETTLE_STEP + 1` steps
/// whatever the run does.
pub fn settle(run: &mut dyn Driver, end: SimTime, settle: SimDuration) -> Result<Vec<String>, String> {
    run.end_faults();
    let deadline = end.after(settle);
    let mut t = end;
    loop {
        let pending = run.pending();
        if pending.is_empty() || t >= deadline {
            return Ok(pending);
        }
        t = SimTime(t.0.saturating_add(SETTLE_STEP.0).min(deadline.0));
        run.run_until(t);
        if let Some(why) = halted(run, t) {
            return Err(why);
        }
    }
}

/// The first seed an item failed or broke in (or was left unknown), and
/// what it showed.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct FirstSeen {
    pub seed: u64,
    pub detail: String,
}

/// The seeds added up for one item (graded or not).
#[derive(Clone, Debug, Default, PartialEq, Serialize, schemars::JsonSchema)]
pub struct ItemTally {
    pub seeds: usize,
    pub held: usize,
    pub broke: usize,
    /// Not in the report (not run with these parameters), or a panic.
    pub absent: usize,
    /// Linearizability left unknown.
    pub unknown: usize,
    /// Seeds this item failed, in seed order.
    pub failed_seeds: Vec<u64>,
    /// A metric's smallest and largest value.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "crate::util::whole::option")]
    pub min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "crate::util::whole::option")]
    pub max: Option<f64>,
    /// The first seed it failed (or broke, for a not-graded check), and
    /// what it showed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first: Option<FirstSeen>,
}

impl ItemTally {
    fn add(&mut self, seed: u64, seen: &Seen, failed: Option<String>) {
        self.seeds += 1;
        match seen {
            Seen::Held => self.held += 1,
            Seen::Broke { detail, .. } => {
                self.broke += 1;
                if self.first.is_none() && failed.is_none() {
                    self.first = Some(FirstSeen { seed, detail: detail.clone() });
                }
            }
            Seen::Value(v) => {
                self.min = Some(self.min.map_or(*v, |m| m.min(*v)));
                self.max = Some(self.max.map_or(*v, |m| m.max(*v)));
            }
            Seen::Absent => self.absent += 1,
            Seen::Unknown(why) => {
                self.unknown += 1;
                if self.first.is_none() {
                    self.first = Some(FirstSeen { seed, detail: why.clone() });
                }
            }
        }
        if let Some(detail) = failed {
            if self.failed_seeds.is_empty() {
                self.first = Some(FirstSeen { seed, detail });
            }
            self.failed_seeds.push(seed);
        }
    }
}

/// The verdict on one graded item over every seed.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct ItemVerdict {
    #[serde(flatten)]
    pub item: Item,
    pub met: bool,
    /// In words: `broke in 90/100 seeds, as expected`.
    pub detail: String,
    #[serde(flatten)]
    pub tally: ItemTally,
}

/// A not-graded item over every seed.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct NotGradedVerdict {
    #[serde(flatten)]
    pub not_graded: NotGraded,
    /// What happened anyway, in words (`broke in 40/100 seeds`), if
    /// anything is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seen: Option<String>,
    #[serde(flatten)]
    pub tally: ItemTally,
}

/// Every seed of a check, added up.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    pub items: Vec<ItemTally>,
    pub not_graded: Vec<ItemTally>,
    /// Seeds with something pending after the liveness phase.
    pub pending_seeds: usize,
    pub seeds: usize,
    /// Seeds whose run panicked, with the panic's message.
    pub panics: Vec<(u64, String)>,
    /// Seeds whose run the engine halted, with why.
    pub halts: Vec<(u64, String)>,
}

impl Tally {
    pub fn new(plan: &Plan, results: &[SeedResult]) -> Tally {
        let mut t = Tally {
            items: vec![ItemTally::default(); plan.items.len()],
            not_graded: vec![ItemTally::default(); plan.not_graded.len()],
            pending_seeds: 0,
            seeds: results.len(),
            panics: Vec::new(),
            halts: Vec::new(),
        };
        for r in results {
            // A seed that panicked or halted showed nothing: it is
            // counted apart.
            match r.failure.as_ref() {
                Some(f) if f.check == PANIC => {
                    t.panics.push((r.seed, f.detail.clone()));
                    continue;
                }
                Some(f) if f.check == HALT => {
                    t.halts.push((r.seed, f.detail.clone()));
                    continue;
                }
                _ => {}
            }
            for (i, item) in plan.items.iter().enumerate() {
                let failed = fails(item.judge, &r.seen[i]).map(|f| f.detail);
                t.items[i].add(r.seed, &r.seen[i], failed);
            }
            for (i, seen) in r.not_graded_seen.iter().enumerate() {
                t.not_graded[i].add(r.seed, seen, None);
            }
            if !r.pending.is_empty() {
                t.pending_seeds += 1;
            }
        }
        t
    }

    /// Each graded item's verdict over every seed.
    pub fn verdicts(&self, plan: &Plan) -> Vec<ItemVerdict> {
        plan.items
            .iter()
            .zip(&self.items)
            .map(|(item, t)| {
                let n = t.seeds;
                let failed = t.failed_seeds.len();
                let seeds = |v: &[u64]| {
                    let shown: Vec<String> = v.iter().take(10).map(u64::to_string).collect();
                    format!("{}{}", shown.join(", "), if v.len() > 10 { ", ..." } else { "" })
                };
                let (met, detail) = match item.judge {
                    Judge::Breaks if t.absent == n => (false, "no such check was run".to_string()),
                    Judge::Breaks if t.broke == 0 => (
                        false,
                        format!(
                            "held in {}: the break the lesson expects never happened",
                            if n == 1 { "its one seed".to_string() } else { format!("all {n} seeds") }
                        ),
                    ),
                    Judge::Breaks => (true, format!("broke in {}/{n} seeds, as expected", t.broke)),
                    _ if failed > 0 => {
                        let what = match item.judge {
                            Judge::Metric { .. } => "out of bounds",
                            Judge::Settles => "still pending",
                            _ => "broke",
                        };
                        (false, format!("{what} in {failed}/{n} seeds (seeds {})", seeds(&t.failed_seeds)))
                    }
                    Judge::Holds if t.absent == n && item.named => {
                        (false, "no such check was run".to_string())
                    }
                    Judge::Holds => (true, format!("held in {}/{n} seeds", t.held)),
                    Judge::Metric { .. } => {
                        let range = match (t.min, t.max) {
                            (Some(lo), Some(hi)) if lo == hi => {
                                format!(" (always {})", crate::util::fmt_num(lo))
                            }
                            (Some(lo), Some(hi)) => {
                                format!(
                                    " (from {} to {})",
                                    crate::util::fmt_num(lo),
                                    crate::util::fmt_num(hi)
                                )
                            }
                            _ => String::new(),
                        };
                        (true, format!("within bounds in {n}/{n} seeds{range}"))
                    }
                    Judge::Linearizable if t.unknown > 0 => (
                        true,
                        format!(
                            "linearizable in {}/{n} seeds; unknown in {} (the search gave up)",
                            n - t.unknown,
                            t.unknown
                        ),
                    ),
                    Judge::Linearizable => (true, format!("linearizable in {n}/{n} seeds")),
                    Judge::Settles => (true, format!("settled in {n}/{n} seeds within {}", plan.settle)),
                };
                ItemVerdict { item: item.clone(), met, detail, tally: t.clone() }
            })
            // A check named by no expectation and run in no seed (not
            // with these parameters) is not graded: see `not_graded`.
            .filter(|v| {
                !(v.item.judge == Judge::Holds
                    && !v.item.named
                    && v.tally.absent == v.tally.seeds
                    && v.tally.seeds > 0)
            })
            .collect()
    }

    /// The not-graded items, with what happened anyway; checks the
    /// lesson left unnamed and no seed ran come last.
    pub fn not_graded(&self, plan: &Plan) -> Vec<NotGradedVerdict> {
        let mut out: Vec<NotGradedVerdict> = plan
            .not_graded
            .iter()
            .zip(&self.not_graded)
            .map(|(ng, t)| {
                let seen = if ng.name == LIVENESS {
                    Some(format!(
                        "pending after the liveness phase in {}/{} seeds",
                        self.pending_seeds, self.seeds
                    ))
                } else if t.absent < t.seeds {
                    Some(format!("broke in {}/{} seeds", t.broke, t.seeds))
                } else {
                    None
                };
                NotGradedVerdict { not_graded: ng.clone(), seen, tally: t.clone() }
            })
            .collect();
        for (item, t) in plan.items.iter().zip(&self.items) {
            if item.judge == Judge::Holds && !item.named && t.seeds > 0 && t.absent == t.seeds {
                out.push(NotGradedVerdict {
                    not_graded: NotGraded {
                        name: item.name.clone(),
                        why: "not run with these parameters".into(),
                    },
                    seen: None,
                    tally: t.clone(),
                });
            }
        }
        out
    }
}
