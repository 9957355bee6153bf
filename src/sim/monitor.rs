//! What the engine tells a protocol's checker, and what a checker
//! concludes: the [`Checker`] trait (a monitor of one run), [`Report`],
//! [`Verdict`], [`At`]; what a checker declares it decides and measures
//! ([`CheckInfo`], [`MetricInfo`], [`GaugeInfo`], each metric and gauge
//! with its [`Unit`]); and the [`ViolationTracker`] a checker keeps per
//! invariant whose violations have a moment. They live with the engine, which drives them, so the
//! engine never names the checks built on them (`crate::check`).

use super::driver::NodeSummary;
use super::fault::Fault;
use super::history::TypedEvent;
use crate::nodes::{Cluster, NodeId, Protocol};
use crate::time::SimTime;
use serde::Serialize;
use std::collections::BTreeMap;

/// When something happened: the event sequence number and virtual time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct At {
    pub step: u64,
    pub time: SimTime,
}

/// One event that caused a violation: its step (the engine's event
/// sequence number, the step the TUI's timeline and `g #N` go to), its
/// time, and what happened there in words (`n1 acknowledged k1=3 to a
/// client`). A check's evidence is a few of these, in step order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Cause {
    pub step: u64,
    pub time: SimTime,
    pub what: String,
    /// The client operation (its op id in the history) this event belongs
    /// to, when it is one: the history view marks it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub op: Option<u64>,
}

impl Cause {
    /// `what` happened at `at`.
    pub fn new(at: At, what: impl Into<String>) -> Self {
        Cause { step: at.step, time: at.time, what: what.into(), op: None }
    }
    /// `what` happened at `at`, an event of client operation `op_id`.
    pub fn of_op(at: At, op_id: u64, what: impl Into<String>) -> Self {
        Cause { op: Some(op_id), ..Cause::new(at, what) }
    }
    /// When it happened.
    pub fn at(&self) -> At {
        At { step: self.step, time: self.time }
    }
}

/// The verdict on one invariant.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verdict {
    pub name: &'static str,
    pub holds: bool,
    /// What was found, in words (the first violation, or a summary).
    pub detail: String,
    /// When it first broke.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_violation: Option<At>,
    /// The events that caused the first violation, in step order (empty
    /// when it holds, or when the checker cannot name them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<Cause>,
}

impl Verdict {
    /// A verdict with no recorded moment and no causes.
    pub fn new(name: &'static str, holds: bool, detail: String) -> Self {
        Verdict { name, holds, detail, first_violation: None, causes: Vec::new() }
    }
}

/// Everything a checker concluded.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Report {
    pub checks: Vec<Verdict>,
    pub metrics: BTreeMap<&'static str, f64>,
}

impl Report {
    pub fn verdict(&self, name: &str) -> Option<&Verdict> {
        self.checks.iter().find(|v| v.name == name)
    }
}

/// What a checker keeps of one invariant's violations: the earliest one
/// (when, and in words) and how many there were. A checker records each
/// violation as it finds it — online, at the observation that causes it,
/// or at report time from facts that survived — and turns the tracker
/// into the invariant's [`Verdict`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ViolationTracker {
    /// Boxed: a checker holds a tracker per invariant and is copied into
    /// every snapshot that follows a change to it (`distlab explore` keeps
    /// one per expanded state), while a violation is rare — 16 bytes a
    /// tracker instead of 72.
    first: Option<Box<(At, String, Vec<Cause>)>>,
    count: u64,
}

impl ViolationTracker {
    /// Records a violation at `at`. `what` says it in words; it is asked
    /// for only when this is the earliest violation so far (of several
    /// at the same moment, the first recorded is kept), so a checker
    /// builds the words once per invariant, not once per violation.
    pub fn record(&mut self, at: At, what: impl FnOnce() -> String) {
        self.record_because(at, || (what(), Vec::new()));
    }

    /// Records a violation at `at` with its evidence: `what` says it in
    /// words and names the events that caused it ([`Cause`], sorted here
    /// by step). Like [`ViolationTracker::record`], it is asked only for
    /// the earliest violation, so evidence costs nothing on the hot path.
    pub fn record_because(&mut self, at: At, what: impl FnOnce() -> (String, Vec<Cause>)) {
        self.count += 1;
        if self.first.as_ref().is_none_or(|first| at < first.0) {
            let (words, mut causes) = what();
            causes.sort_by_key(|c| c.step);
            self.first = Some(Box::new((at, words, causes)));
        }
    }

    /// The events that caused the earliest violation.
    pub fn causes(&self) -> &[Cause] {
        self.first.as_ref().map_or(&[], |f| &f.2)
    }

    /// Whether nothing was recorded: the invariant holds.
    pub fn holds(&self) -> bool {
        self.first.is_none()
    }

    /// How many violations were recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The earliest violation: when, and in words.
    pub fn first(&self) -> Option<(At, &str)> {
        self.first.as_deref().map(|(at, what, _)| (*at, what.as_str()))
    }

    /// The verdict on invariant `name`: it holds, detailed `fine`, when
    /// nothing was recorded; otherwise it broke at the earliest
    /// violation, detailed `{what} (at {time}, step {step})`, or `{what}
    /// (at {time}, step {step}; {tally})` when `tally(count)` has
    /// something to add (`3 violations`, `5 stale reads of 40`).
    pub fn verdict(
        &self,
        name: &'static str,
        fine: String,
        tally: impl FnOnce(u64) -> Option<String>,
    ) -> Verdict {
        self.verdict_with(name, fine, |at, what, count| match tally(count) {
            Some(tally) => format!("{what} (broke at {}, step {}; {tally})", at.time, at.step),
            None => format!("{what} (broke at {}, step {})", at.time, at.step),
        })
    }

    /// [`ViolationTracker::verdict`] with the broken verdict's detail in
    /// the checker's own words: `detail(at, what, count)` of the earliest
    /// violation.
    pub fn verdict_with(
        &self,
        name: &'static str,
        fine: String,
        detail: impl FnOnce(At, &str, u64) -> String,
    ) -> Verdict {
        Verdict {
            name,
            holds: self.holds(),
            detail: match self.first.as_deref() {
                Some((at, what, _)) => detail(*at, what, self.count),
                None => fine,
            },
            first_violation: self.first.as_ref().map(|f| f.0),
            causes: self.causes().to_vec(),
        }
    }
}

/// A set of operation ids, one bit each: what a checker keeps of the
/// things it has *settled* — judged as far as anything still to come can
/// change — so that its memory stays flat as a run grows. Ids are the
/// engine's operation ids (dense from 0), kept in pages of
/// [`IdBits::PAGE`] ids, so memory follows the ids seen, not the largest
/// (a stray id near the limit costs one page); ids past [`IdBits::LIMIT`]
/// are never kept, whatever a protocol reports.
#[derive(Clone, Debug, Default)]
pub struct IdBits {
    /// The pages of ids below [`IdBits::DENSE`], by page number.
    dense: Vec<Option<Box<Page>>>,
    /// Pages past it.
    far: BTreeMap<u64, Box<Page>>,
}

type Page = [u64; 64];

impl IdBits {
    /// Ids past this are never kept (a run's operation ids stay far below).
    pub const LIMIT: u64 = 1 << 32;
    /// Ids per page.
    pub const PAGE: u64 = 64 * 64;
    /// Pages of ids below this are found by index (a run's ids), the rest
    /// by search.
    const DENSE: u64 = 1 << 26;

    fn place(id: u64) -> (u64, usize, u64) {
        (id / Self::PAGE, (id % Self::PAGE / 64) as usize, 1 << (id % 64))
    }

    fn page(&self, page: u64) -> Option<&Page> {
        match self.dense.get(page as usize) {
            Some(p) => p.as_deref(),
            None if page * Self::PAGE < Self::DENSE => None,
            None => self.far.get(&page).map(|p| &**p),
        }
    }

    fn page_mut(&mut self, page: u64) -> &mut Option<Box<Page>> {
        let i = page as usize;
        if self.dense.len() <= i {
            self.dense.resize(i + 1, None);
        }
        &mut self.dense[i]
    }

    /// Adds `id`; returns whether it is kept (below the limit).
    pub fn insert(&mut self, id: u64) -> bool {
        if id >= Self::LIMIT {
            return false;
        }
        let (page, word, bit) = Self::place(id);
        let words = if id < Self::DENSE {
            self.page_mut(page).get_or_insert_with(|| Box::new([0; 64]))
        } else {
            self.far.entry(page).or_insert_with(|| Box::new([0; 64]))
        };
        words[word] |= bit;
        true
    }

    /// Removes `id`; returns whether it was there. An emptied page is freed.
    pub fn remove(&mut self, id: u64) -> bool {
        if !self.contains(id) {
            return false;
        }
        let (page, word, bit) = Self::place(id);
        let words = if id < Self::DENSE {
            self.dense[page as usize].as_deref_mut()
        } else {
            self.far.get_mut(&page).map(|p| &mut **p)
        };
        let words = words.expect("a page holds what it contains");
        words[word] &= !bit;
        if words.iter().all(|&w| w == 0) {
            if id < Self::DENSE {
                self.dense[page as usize] = None;
            } else {
                self.far.remove(&page);
            }
        }
        true
    }

    pub fn contains(&self, id: u64) -> bool {
        let (page, word, bit) = Self::place(id);
        id < Self::LIMIT && self.page(page).is_some_and(|words| words[word] & bit != 0)
    }

    /// Pages held (memory is this times [`IdBits::PAGE`] bits).
    pub fn pages(&self) -> usize {
        self.dense.iter().flatten().count() + self.far.len()
    }
}

/// How many settled things a checker keeps in full before it forgets
/// them down to bits: `default`, or in this crate's tests what
/// `KEEP_SETTLED` says (0: forget at once; `usize::MAX`: keep
/// everything), so a short real run shows that forgetting changes no
/// verdict.
pub fn keep_settled(default: usize) -> usize {
    #[cfg(test)]
    {
        KEEP_SETTLED.with(|k| k.get()).unwrap_or(default)
    }
    #[cfg(not(test))]
    {
        default
    }
}

#[cfg(test)]
thread_local! {
    /// Overrides [`keep_settled`] on this thread (tests only).
    pub static KEEP_SETTLED: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

/// What a quantity is measured in: said once where the metric or gauge is
/// declared, and read by everything that shows one (`distlab list`, the
/// sweep's axis labels, `distlab plot`), never guessed from its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Unit {
    /// A number of things (operations, messages, rounds), or a mean of
    /// such numbers.
    Count,
    /// Simulated milliseconds.
    Ms,
    /// A fraction, from 0 to 1.
    Ratio,
    /// A yes-or-no property of the run's configuration: 1 yes, 0 no.
    Flag,
    /// Units of money (the balances of two-phase commit's accounts).
    Money,
}

impl Unit {
    /// How the unit is written after a quantity's name (`lag_max_ms (ms)`)
    /// and in `distlab list --verbose`: at most 8 characters.
    pub const fn suffix(self) -> &'static str {
        match self {
            Unit::Count => "count",
            Unit::Ms => "ms",
            Unit::Ratio => "fraction",
            Unit::Flag => "0 or 1",
            Unit::Money => "money",
        }
    }
}

impl std::fmt::Display for Unit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.suffix())
    }
}

/// An invariant a checker decides: its name (what scenarios' `[[expect]]
/// check = ...` and `distlab check` name) and one line saying what it
/// means (shown by `distlab list --verbose`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckInfo {
    pub name: &'static str,
    pub meaning: &'static str,
    /// Judged on the state at the end of the run (`convergence`: every
    /// node holds the same value *at the end*). Before the end its verdict
    /// says what it would be if the run ended now, and breaking there is
    /// no violation: the TUI shows it as not judged yet and `v` does not
    /// stop at it.
    pub at_end: bool,
}

impl CheckInfo {
    pub const fn new(name: &'static str, meaning: &'static str) -> Self {
        CheckInfo { name, meaning, at_end: false }
    }
    /// This check is judged at the end of the run (see [`CheckInfo::at_end`]).
    pub const fn at_end(self) -> Self {
        CheckInfo { at_end: true, ..self }
    }
}

/// A number a checker reports at the end of a run (see [`Report::metrics`]):
/// its name, one line saying what it counts or measures, and its unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricInfo {
    pub name: &'static str,
    pub unit: Unit,
    pub meaning: &'static str,
}

impl MetricInfo {
    pub const fn new(name: &'static str, unit: Unit, meaning: &'static str) -> Self {
        MetricInfo { name, unit, meaning }
    }
}

/// A quantity with a value at every instant of a run (see
/// [`Checker::gauges`]): its name, what it measures, and its unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GaugeInfo {
    pub name: &'static str,
    pub unit: Unit,
    pub meaning: &'static str,
}

impl GaugeInfo {
    pub const fn new(name: &'static str, unit: Unit, meaning: &'static str) -> Self {
        GaugeInfo { name, unit, meaning }
    }
}

/// The gauge every run has, whatever the protocol: the engine's own
/// (`Driver::gauges` reports it first).
pub const MESSAGES_IN_FLIGHT: GaugeInfo = GaugeInfo::new(
    "messages_in_flight",
    Unit::Count,
    "messages sent and not yet delivered or dropped (held at a paused node included)",
);

/// The engine's gauge of a run whose nodes have a capacity
/// (`[capacity]`): `Driver::gauges` reports it second, then.
pub const QUEUED: GaugeInfo = GaugeInfo::new(
    "queued",
    Unit::Count,
    "messages waiting at the nodes, the ones in service included ([capacity] only)",
);

/// The engine's other gauge of a run whose nodes have a capacity:
/// `Driver::gauges` reports it third. Utilisation over time, as
/// `utilisation_max` is over the whole run.
pub const BUSY: GaugeInfo = GaugeInfo::new(
    "busy",
    Unit::Ratio,
    "the busiest node's share of the last 100ms spent serving ([capacity] only): utilisation over time",
);

/// A protocol's online checker. Cloned with snapshots, so it rewinds with
/// the simulation.
pub trait Checker<P: Protocol>: Clone {
    /// The invariants this checker decides, with one line each saying what
    /// they mean (shown by `distlab list` and validated in scenarios).
    const CHECKS: &'static [CheckInfo];
    /// The metrics it reports (each one `report` puts in
    /// [`Report::metrics`] is declared here, with its unit).
    const METRICS: &'static [MetricInfo];

    fn new(params: &P::Params, cluster: &Cluster) -> Self;
    /// A node published an observation.
    fn on_observation(&mut self, at: At, node: NodeId, observation: &P::Observation);
    /// A client history event was recorded.
    fn on_history(&mut self, _at: At, _event: &TypedEvent<P>) {}
    /// Whether [`Checker::on_fault`] wants to hear of faults: a checker that
    /// overrides it sets this. The engine copies a checker shared with a
    /// snapshot before it changes it (copy on write), and most checkers
    /// ignore faults, so a fault does not copy them (in `distlab explore`
    /// every message delivered early is a fault).
    const HEARS_FAULTS: bool = false;
    /// A fault was applied (the simulator calls it only when
    /// [`Checker::HEARS_FAULTS`]).
    fn on_fault(&mut self, _at: At, _fault: &Fault) {}
    /// Whether [`Checker::on_durable`] wants to hear when a node's disk
    /// has caught up (as [`Checker::HEARS_FAULTS`], so that most checkers
    /// are not copied for it).
    const HEARS_DISK: bool = false;
    /// Every write `node` has issued so far is on its disk: whatever it
    /// observed so far rests on writes no crash can lose. Called (only
    /// when [`Checker::HEARS_DISK`]) when a disk completion leaves the node
    /// nothing unflushed, and after a step whose writes a zero-latency
    /// disk completed at once — after the step's observations.
    fn on_durable(&mut self, _at: At, _node: NodeId) {}
    /// The verdicts as of now (the run may go on).
    fn report(&self, now: SimTime) -> Report;
    /// Whether every invariant in [`Checker::report`] holds now, answered
    /// without building the report's words: `distlab explore` asks it of
    /// every state and builds the report only when it is `false`. The
    /// default builds the report; a checker whose verdicts are its
    /// [`ViolationTracker`]s answers from them.
    fn all_hold(&self, now: SimTime) -> bool {
        self.report(now).checks.iter().all(|c| c.holds)
    }
    /// The gauges it keeps, with one line each: quantities that have a
    /// value *now* (replication lag, participants in doubt), which `distlab
    /// sweep` and `distlab run --trace` sample over the run to draw them
    /// against time. Most checkers keep none.
    const GAUGES: &'static [GaugeInfo] = &[];
    /// The gauges' values now, in the order of [`Checker::GAUGES`].
    fn gauges(&self, _now: SimTime) -> Vec<(&'static str, f64)> {
        Vec::new()
    }
    /// What is still unfinished now, one line in words each (`n3 is in
    /// doubt about tx 77`, `n2 has 40 of the primary n1's 45 log
    /// entries`); empty once the run has settled. `distlab check` asks
    /// after its liveness phase — every fault healed, no new client
    /// operation, a bounded time to settle — and requires it empty where
    /// the protocol promises liveness
    /// (`Promises` in the protocol registry). `nodes` are the nodes as they
    /// are now (status and the protocol's own view), for what the
    /// observations do not say (which nodes act as primary). The default
    /// knows of nothing pending.
    fn pending(&self, _now: SimTime, _nodes: &[NodeSummary]) -> Vec<String> {
        Vec::new()
    }
}

/// A record of one observation, for reports and the TUI.
#[derive(Clone, Debug)]
pub struct ObservationRecord<O> {
    pub at: At,
    pub node: NodeId,
    pub observation: O,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(step: u64, ms: u64) -> At {
        At { step, time: SimTime(ms * 1000) }
    }

    /// The tracker keeps the earliest violation and counts them all; the
    /// words of a later one are never built.
    #[test]
    fn a_tracker_keeps_the_earliest_violation_and_counts_every_one() {
        let mut t = ViolationTracker::default();
        assert!(t.holds());
        assert_eq!(t.verdict("x", "fine".into(), |_| None).detail, "fine");
        t.record(at(5, 2), || "first".into());
        t.record(at(6, 2), || panic!("a later violation's words are not needed"));
        assert_eq!((t.count(), t.first()), (2, Some((at(5, 2), "first"))));
        // Recorded out of order (at report time): the earliest wins; of
        // two at the same moment, the first recorded.
        t.record(at(3, 1), || "earlier".into());
        t.record(at(3, 1), || panic!("a tie keeps the first recorded"));
        assert_eq!((t.count(), t.first()), (4, Some((at(3, 1), "earlier"))));
    }

    /// A verdict: the earliest violation in words, dated, with the
    /// checker's tally, and when it broke; or the checker's words for a
    /// run in which it held.
    #[test]
    fn a_tracker_turns_into_a_verdict() {
        let mut t = ViolationTracker::default();
        let held = t.verdict("log-prefix", "all good".into(), |n| Some(format!("{n} times")));
        assert_eq!(held, Verdict::new("log-prefix", true, "all good".into()));
        t.record(at(7, 12), || "n2 diverged".into());
        let once = |n: u64| (n > 1).then(|| format!("{n} times in all"));
        let v = t.verdict("log-prefix", "all good".into(), once);
        assert_eq!((v.holds, v.first_violation), (false, Some(at(7, 12))));
        assert_eq!(v.detail, "n2 diverged (broke at 12ms, step 7)");
        t.record(at(9, 15), String::new);
        assert_eq!(
            t.verdict("log-prefix", String::new(), once).detail,
            "n2 diverged (broke at 12ms, step 7; 2 times in all)"
        );
        let worded = t
            .verdict_with("log-prefix", String::new(), |at, what, n| format!("{what}: {n} from {}", at.step));
        assert_eq!(worded.detail, "n2 diverged: 2 from 7");
    }

    /// The bits behave as a set, and memory follows the ids seen: one id
    /// just under the limit costs one page (it cost 512 MiB when the bits
    /// were one vector up to the largest id), an emptied page is freed.
    #[test]
    fn id_bits_are_a_set_in_pages_of_the_ids_seen() {
        let mut bits = IdBits::default();
        let mut model = std::collections::BTreeSet::new();
        let far = IdBits::LIMIT - 1;
        let ids = (0..5000u64).map(|i| i * 7 % 9001).chain([far, far - 1, 4095, 4096]);
        for id in ids {
            assert!(bits.insert(id));
            model.insert(id);
        }
        assert!(!bits.insert(IdBits::LIMIT) && !bits.contains(IdBits::LIMIT), "past the limit: never kept");
        for id in (0..10_000).chain([far, far - 1, far - 2]) {
            assert_eq!(bits.contains(id), model.contains(&id), "{id}");
        }
        assert_eq!(bits.pages(), 3 + 1, "ids below 9001 fill three pages, the far ones one");
        assert!(bits.remove(far) && !bits.remove(far) && bits.remove(far - 1));
        assert_eq!(bits.pages(), 3, "the emptied far page is freed");
        assert!(bits.insert(100_000) && bits.pages() == 4 && bits.remove(100_000));
        assert_eq!(bits.pages(), 3, "and so is an emptied near one");
    }
}
