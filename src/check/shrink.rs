//! Shrinking a failing seed to a small scenario a student can replay.
//!
//! A failing seed's faults are the scenario's timeline plus the schedule
//! its nemesis drew. The shrinker turns that schedule into explicit faults
//! and makes the run smaller while it still fails the same graded item:
//! 0. drop at once every nemesis fault that begins after the violation
//!    (a deterministic run before time t does not depend on what happens
//!    after it, so for an online check this one run keeps failing);
//! 1. drop nemesis faults, each together with the fault that undoes it
//!    (crash with its restart; the schedule keeps them side by side):
//!    first half of them at once, then quarters, and so on down to one
//!    pair at a time (Zeller's delta debugging), so a schedule of
//!    thousands of faults loses most of them in a few runs; then single
//!    faults;
//! 2. move each remaining fault later, by halves of the time left, while it
//!    still fails (a later fault disturbs less of the run before it);
//! 3. shorten the workload: halve each client's operation count while it
//!    still fails.
//!
//! Every candidate is a whole run, so shrinking has a budget
//! ([`ShrinkBudget`]): at most `runs` candidate runs, each with at most the
//! schedule the nemesis drew (which [`crate::sim::fault::MAX_SCHEDULE_FAULTS`]
//! bounds). When the runs are spent the shrinker stops, keeps the smallest
//! failing run found so far, and says it gave up after that many runs. The
//! faults it keeps must fit in a scenario file (`faults`, at most
//! [`crate::scenario::limits::TIMELINE_ENTRIES`] timeline entries with the
//! lesson's own): a counterexample that does not is an error that says to
//! raise `--shrink-runs`, never a file that does not load.
//!
//! The scenario's own timeline is kept as written: it is the lesson's. The
//! result is written as an ordinary scenario file — the original text with
//! the `[nemesis]` table removed, `seed` fixed, client `ops` shortened, and
//! the kept faults appended as `[[timeline]]` entries, with a note at the
//! violation — and loaded and run again to confirm that it reproduces.

use super::grade::{Failure, Phase, grade_seed};
use super::harness::Grader;
use crate::scenario::Scenario;
use crate::scenario::writer::{NotToml, ScenarioWriter};
use crate::sim::{Fault, Origin, SimDuration, SimTime, TimedFault};

/// How much shrinking may cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShrinkBudget {
    /// Candidate runs at most (each a whole run of the scenario).
    pub runs: usize,
    /// Timeline entries the counterexample file may hold at most: the
    /// lesson's own, the faults kept, and the note at the violation.
    pub timeline: usize,
}

impl Default for ShrinkBudget {
    fn default() -> Self {
        ShrinkBudget { runs: 500, timeline: crate::scenario::limits::TIMELINE_ENTRIES }
    }
}

/// Why no counterexample could be made.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ShrinkError {
    /// The seed passes: nothing to shrink.
    #[error("seed {0} does not fail")]
    Passes(u64),
    /// The runs were spent before the faults fit in a scenario file.
    #[error(
        "the shrinker gave up after {runs} runs with {faults} faults still kept: with the lesson's \
         {timeline} timeline entries and the note that is more than the {limit} a scenario file may \
         hold; raise --shrink-runs (it was {runs})"
    )]
    TooLarge { runs: usize, faults: usize, timeline: usize, limit: usize },
}

/// A shrunk counterexample.
#[derive(Clone, Debug)]
pub struct Shrunk {
    pub seed: u64,
    /// The nemesis faults kept, as timeline faults, in order.
    pub faults: Vec<TimedFault>,
    /// Operations per `[[clients]]` entry.
    pub ops: Vec<u64>,
    pub failure: Failure,
    /// Candidate runs tried, within the budget (the last run, which
    /// records the kept candidate's failure, is not counted).
    pub runs: usize,
    /// The budget ran out before the shrinker was done.
    pub gave_up: bool,
    /// Faults the nemesis drew for the seed: what shrinking began from.
    pub schedule: usize,
}

impl Shrunk {
    /// `57 runs`, or `gave up after 500 runs` when the budget was spent.
    pub fn runs_in_words(&self) -> String {
        if self.gave_up {
            format!("gave up after {} runs, the --shrink-runs budget; it may not be the smallest", self.runs)
        } else {
            format!("{} runs", self.runs)
        }
    }
}

/// The scenario with the nemesis replaced by `faults` and the clients'
/// operation counts by `ops`.
fn candidate(base: &Scenario, faults: &[TimedFault], ops: &[u64]) -> Scenario {
    let mut s = base.clone();
    s.nemesis = None;
    s.timeline.extend(faults.iter().cloned());
    for (c, &n) in s.clients.iter_mut().zip(ops) {
        c.ops = n;
    }
    s
}

/// Runs candidates: does this smaller run still fail the same way?
struct Trial<'a> {
    grader: &'a Grader,
    seed: u64,
    check: String,
    /// The phase the seed failed in: a failure during the scenario stays
    /// one (its file then replays with `distlab run`), rather than
    /// becoming a different failure after the faults are healed.
    phase: Phase,
    runs: usize,
    budget: ShrinkBudget,
    gave_up: bool,
    /// The failure of the last candidate that still failed.
    failure: Failure,
}

impl Trial<'_> {
    fn fails(&mut self, faults: &[TimedFault], ops: &[u64]) -> bool {
        if self.runs >= self.budget.runs {
            self.gave_up = true;
            return false;
        }
        self.runs += 1;
        let scenario = candidate(&self.grader.scenario, faults, ops);
        match grade_seed(&self.grader.plan, &scenario, self.seed).failure {
            Some(f) if f.check == self.check && f.phase == self.phase => {
                self.failure = f;
                true
            }
            _ => false,
        }
    }

    /// Drops groups of faults: `groups.len() / 2` at a time, then half as
    /// many, down to one group, and again until none can go (dropping a
    /// late fault can make an early one unnecessary).
    fn drop_groups(&mut self, groups: &mut Vec<Vec<TimedFault>>, ops: &[u64]) {
        let flat = |g: &[Vec<TimedFault>]| g.iter().flatten().cloned().collect::<Vec<_>>();
        loop {
            let before = groups.len();
            let mut width = (groups.len() / 2).max(1);
            while width >= 1 && !groups.is_empty() && !self.gave_up {
                let mut i = 0;
                while i < groups.len() && !self.gave_up {
                    let end = (i + width).min(groups.len());
                    let mut fewer = groups.clone();
                    fewer.drain(i..end);
                    if self.fails(&flat(&fewer), ops) {
                        *groups = fewer;
                    } else {
                        i = end;
                    }
                }
                width /= 2;
            }
            if groups.len() == before || self.gave_up {
                return;
            }
        }
    }

    /// Drops faults: each with its undo, then single ones.
    fn drop_faults(&mut self, faults: &mut Vec<TimedFault>, ops: &[u64]) {
        let mut pairs: Vec<Vec<TimedFault>> = faults.chunks(2).map(<[TimedFault]>::to_vec).collect();
        self.drop_groups(&mut pairs, ops);
        let mut singles: Vec<Vec<TimedFault>> = pairs.into_iter().flatten().map(|f| vec![f]).collect();
        self.drop_groups(&mut singles, ops);
        *faults = singles.into_iter().flatten().collect();
    }
}

/// Shrinks a failing seed within `budget` (see the module docs).
pub fn shrink(grader: &Grader, seed: u64, budget: ShrinkBudget) -> Result<Shrunk, ShrinkError> {
    let scenario = &grader.scenario;
    let first = grader.seed(seed).failure.ok_or(ShrinkError::Passes(seed))?;
    let mut faults: Vec<TimedFault> = scenario
        .nemesis
        .as_ref()
        .map(|n| n.schedule(seed, scenario.cluster.len() as u32, &scenario.clocks))
        .unwrap_or_default()
        .into_iter()
        .map(|f| TimedFault { origin: Origin::Timeline, ..f })
        .collect();
    let mut ops: Vec<u64> = scenario.clients.iter().map(|c| c.ops).collect();
    let schedule = faults.len();
    let at = first.at;
    let mut t = Trial {
        grader,
        seed,
        check: first.check.clone(),
        phase: first.phase,
        runs: 0,
        budget,
        gave_up: false,
        failure: first,
    };
    let done = |t: Trial, faults: Vec<TimedFault>, ops: Vec<u64>| {
        let timeline = scenario.timeline.len();
        let limit = budget.timeline;
        if timeline + faults.len() + 1 > limit {
            return Err(ShrinkError::TooLarge { runs: t.runs, faults: faults.len(), timeline, limit });
        }
        Ok(Shrunk { seed, faults, ops, failure: t.failure, runs: t.runs, gave_up: t.gave_up, schedule })
    };
    if !t.fails(&faults, &ops) {
        // The same faults, now from the timeline: only an exhausted
        // budget gets here.
        return done(t, faults, ops);
    }
    // 0. Nothing that begins after the violation (each fault with its
    //    undo, which may come later).
    if let Some(at) = at {
        let before: Vec<TimedFault> =
            faults.chunks(2).filter(|pair| pair[0].at <= at).flatten().cloned().collect();
        if before.len() < faults.len() && t.fails(&before, &ops) {
            faults = before;
        }
    }
    // 1. Fewer faults.
    t.drop_faults(&mut faults, &ops);
    // 2. Later faults, as late as they keep failing (never past the next
    //    fault, to keep their order).
    for i in 0..faults.len() {
        let limit = faults.get(i + 1).map_or(scenario.duration, |f| f.at);
        let mut gap = limit.0.saturating_sub(faults[i].at.0) / 2;
        while gap >= 1000 && !t.gave_up {
            let mut later = faults.clone();
            later[i].at = SimTime(later[i].at.0 + gap);
            if t.fails(&later, &ops) {
                faults = later;
            }
            gap /= 2;
        }
    }
    // 3. A shorter workload.
    for c in 0..ops.len() {
        while ops[c] > 1 && !t.gave_up {
            let mut fewer = ops.clone();
            fewer[c] /= 2;
            if !t.fails(&faults, &fewer) {
                break;
            }
            ops = fewer;
        }
    }
    // Moving and shortening can make more faults unnecessary.
    t.drop_faults(&mut faults, &ops);
    // Leave the recorded failure that of the final candidate (outside the
    // budget: one run, and the file must be described by it).
    let (gave_up, runs) = (t.gave_up, t.runs);
    t.budget.runs = usize::MAX;
    t.fails(&faults, &ops);
    t.runs = runs;
    t.gave_up = gave_up;
    done(t, faults, ops)
}

/// The counterexample as a scenario file: the lesson's text as written
/// (`source`), without `[nemesis]`, with the seed and the clients' `ops`
/// fixed, the run's disk latency where the nemesis set one, the shrunk
/// faults as `[[timeline]]` entries, a note where the check breaks, and
/// an expectation that it does (in place of the lesson's own about it).
pub fn counterexample_file(
    grader: &Grader,
    source: &str,
    shrunk: &Shrunk,
    from: &str,
) -> Result<String, NotToml> {
    let scenario = &grader.scenario;
    let replay = if shrunk.failure.phase == Phase::Liveness {
        // `run` and `tui` stop at the scenario's end, before the liveness
        // phase heals every fault: only `check` replays it.
        format!(
            "It breaks only in check's liveness phase, after every fault is healed:\n\
             replay it with `distlab check FILE --seeds {}..{}`.",
            shrunk.seed,
            shrunk.seed + 1
        )
    } else {
        "Replay it with `distlab run` or step through it with `distlab tui`.".to_string()
    };
    let mut file = ScenarioWriter::new(source)?;
    file.header(&format!(
        "A counterexample found by `distlab check {from}`: seed {} breaks `{}`.\n\
         Shrunk from the nemesis's {} faults to the faults below ({}).\n\
         {replay}",
        shrunk.seed,
        shrunk.failure.check,
        shrunk.schedule,
        shrunk.runs_in_words()
    ));
    // Only a check of the protocol can be expected in a file (not a
    // metric's bound, linearizability or liveness): the file expects it to
    // break, in place of what the lesson said about it.
    let check = shrunk.failure.check.as_str();
    let a_check = scenario.protocol.checks().iter().any(|c| c.name == check);
    file.without_nemesis().seed(shrunk.seed).client_ops(&shrunk.ops);
    if a_check {
        file.without_expectations_of(check);
    }
    // The run's disk latency, where it is not the file's own (under
    // `--nemesis aggressive`).
    if scenario.disk_latency > SimDuration::ZERO {
        file.disk_latency(scenario.disk_latency);
    }
    file.comment("---- the shrunk fault schedule ----");
    for f in &shrunk.faults {
        file.timeline(scenario, f.at, None, &f.fault);
    }
    // The step numbers of the detail are the original run's: the replay's
    // differ (its notes are events too), so the note gives times only.
    // A failure in the liveness phase (after the scenario's end) gets its
    // note at the end: a timeline entry after it would not load, and
    // `distlab check` on the file replays the phase.
    let after_end =
        shrunk.failure.at.map_or(shrunk.failure.phase == Phase::Liveness, |a| a > scenario.duration);
    let note = format!(
        "`{}` breaks{}: {}",
        shrunk.failure.check,
        if after_end { " after the end, in the liveness phase (replay it with distlab check)" } else { "" },
        without_steps(&shrunk.failure.detail)
    );
    let at = shrunk.failure.at.filter(|a| *a <= scenario.duration).unwrap_or(scenario.duration);
    file.timeline(scenario, at, None, &Fault::Note { text: note, pause: true });
    if a_check {
        file.expect_check(check, false);
    }
    Ok(file.finish())
}

/// `(at 1.2s, step 2026)` → `(at 1.2s)`: drops every `, step N`.
fn without_steps(detail: &str) -> String {
    let mut out = String::with_capacity(detail.len());
    let mut rest = detail;
    while let Some(i) = rest.find(", step ") {
        let digits = rest[i + 7..].bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            out.push_str(&rest[..i + 7]);
        } else {
            out.push_str(&rest[..i]);
        }
        rest = &rest[i + 7 + digits..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::without_steps;

    #[test]
    fn notes_give_times_not_the_original_run_s_steps() {
        assert_eq!(without_steps("x (at 1.2s, step 2026)"), "x (at 1.2s)");
        assert_eq!(without_steps("x (at 1s, step 7; 3 times in all)"), "x (at 1s; 3 times in all)");
        assert_eq!(without_steps("a, step up, step 5"), "a, step up");
    }
}
