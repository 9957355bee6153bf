//! The seed harness: which seeds, under which nemesis, graded how — what
//! `distlab check` runs, and what tests and other tools can run the same
//! way without the command line.

use super::grade::{
    DEFAULT_SETTLE, Failure, Grading, ItemVerdict, NotGradedVerdict, Plan, SeedResult, Tally, grade_seed,
};
use crate::scenario::Scenario;
use crate::sim::SimDuration;
use crate::sim::fault::NemesisConfig;
use anyhow::Context as _;
use serde::Serialize;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A half-open range of seeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Seeds {
    pub start: u64,
    /// Excluded.
    pub end: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Shard {
    /// 1-based.
    pub index: u64,
    pub of: u64,
}

/// The most seeds one command checks.
pub const MAX_SEEDS: u64 = 10_000_000;

pub fn parse_seeds(s: &str) -> Result<Seeds, String> {
    let bad = || format!("expected a seed range such as `0..1000` or `5..=9`, found `{s}`");
    let (a, b, inclusive) = if let Some((a, b)) = s.split_once("..=") {
        (a, b, true)
    } else if let Some((a, b)) = s.split_once("..") {
        (a, b, false)
    } else {
        return Err(bad());
    };
    let start: u64 = a.trim().parse().map_err(|_| bad())?;
    let last: u64 = b.trim().parse().map_err(|_| bad())?;
    let end = if inclusive { last.checked_add(1).ok_or_else(bad)? } else { last };
    if end <= start {
        return Err(format!("the seed range `{s}` is empty"));
    }
    if end - start > MAX_SEEDS {
        return Err(format!(
            "at most {MAX_SEEDS} seeds per command (split the range over several commands; `check --shard` does that)"
        ));
    }
    Ok(Seeds { start, end })
}

pub fn parse_shard(s: &str) -> Result<Shard, String> {
    let bad = || format!("expected a shard such as `1/4` (the first of four slices), found `{s}`");
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let index: u64 = i.trim().parse().map_err(|_| bad())?;
    let of: u64 = n.trim().parse().map_err(|_| bad())?;
    if of == 0 || index == 0 || index > of {
        return Err(format!("a shard is I/N with 1 <= I <= N, found `{s}`"));
    }
    Ok(Shard { index, of })
}

impl Seeds {
    /// The seeds this shard checks, in order.
    pub fn slice(&self, shard: Option<Shard>) -> Vec<u64> {
        let (skip, step) = shard.map_or((0, 1), |s| (s.index - 1, s.of));
        (self.start..self.end).skip(skip as usize).step_by(step as usize).collect()
    }
}

/// Which nemesis the seeds run under (`--nemesis`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NemesisChoice {
    /// The scenario's own `[nemesis]` (or none): grade the lesson's
    /// expectations.
    Scenario,
    /// [`NemesisConfig::aggressive`]: every kind of fault, overlapping,
    /// and at least [`AGGRESSIVE_DISK_LATENCY`] per durable write.
    Aggressive,
    /// No nemesis at all (the timeline stays).
    None,
    /// A file holding one `[nemesis]` table.
    File(PathBuf),
}

impl NemesisChoice {
    pub fn parse(s: &str) -> NemesisChoice {
        match s {
            "aggressive" => NemesisChoice::Aggressive,
            "none" => NemesisChoice::None,
            file => NemesisChoice::File(PathBuf::from(file)),
        }
    }

    /// As the summary names it.
    pub fn describe(&self) -> String {
        match self {
            NemesisChoice::Scenario => "scenario".into(),
            NemesisChoice::Aggressive => "aggressive".into(),
            NemesisChoice::None => "none".into(),
            NemesisChoice::File(f) => f.display().to_string(),
        }
    }

    /// The scenario as the seeds run it, and how they are graded: a lesson
    /// under another nemesis than its own is graded by what its protocol
    /// promises (its expectations describe its own faults).
    pub fn apply(&self, scenario: &Scenario) -> anyhow::Result<(Scenario, Grading)> {
        let mut s = scenario.clone();
        s.nemesis = match self {
            NemesisChoice::Scenario => return Ok((s, Grading::Expectations)),
            NemesisChoice::Aggressive => {
                // Disk latency is no nemesis fault (it is the same for
                // every write of a run): the hostile run gets some.
                s.disk_latency = s.disk_latency.max(AGGRESSIVE_DISK_LATENCY);
                Some(NemesisConfig::aggressive(s.duration))
            }
            NemesisChoice::None => None,
            NemesisChoice::File(f) => {
                let file = f.display().to_string();
                let text = std::fs::read_to_string(f).with_context(|| format!("reading {file}"))?;
                let n = crate::scenario::load_nemesis_str(&file, &text, s.duration)
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                Some(n)
            }
        };
        Ok((s, Grading::Promises))
    }
}

/// The least disk latency a run under `--nemesis aggressive` has: a
/// crash then loses writes still on their way to the disk.
pub const AGGRESSIVE_DISK_LATENCY: SimDuration = SimDuration::from_millis(1);

/// How one `check` grades: the plan, and the scenario as its seeds run.
pub struct Grader {
    pub scenario: Scenario,
    pub plan: Plan,
}

impl Grader {
    pub fn new(scenario: Scenario, grading: Grading, settle: SimDuration) -> Grader {
        let plan = Plan::new(&scenario, grading, settle);
        Grader { scenario, plan }
    }

    /// The lesson's own nemesis, its expectations, the default settle.
    pub fn of_lesson(scenario: &Scenario) -> Grader {
        Grader::new(scenario.clone(), Grading::Expectations, DEFAULT_SETTLE)
    }

    pub fn seed(&self, seed: u64) -> SeedResult {
        grade_seed(&self.plan, &self.scenario, seed)
    }

    /// Grades every seed on `jobs` threads; results in seed order.
    pub fn seeds(
        &self,
        seeds: &[u64],
        jobs: usize,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Vec<SeedResult> {
        let failed = AtomicUsize::new(0);
        crate::util::parallel_map(
            seeds,
            jobs,
            &|done| progress(done, failed.load(Ordering::Relaxed)),
            |&seed| {
                let result = self.seed(seed);
                if result.failure.is_some() {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
                result
            },
        )
    }
}

/// A scenario's seeds added up and judged, as `distlab check` (and
/// `distlab grade`, for each file) gives its verdict.
#[derive(Clone, Debug)]
pub struct Verdict {
    pub tally: Tally,
    /// Every graded item's verdict over the seeds.
    pub graded: Vec<ItemVerdict>,
    pub not_graded: Vec<NotGradedVerdict>,
    /// Every failing seed's first failure, in seed order.
    pub failures: Vec<Failure>,
    /// No seed failed and every graded item was met.
    pub passed: bool,
}

impl Grader {
    /// The verdict on `results` (this grader's seeds).
    pub fn verdict(&self, results: &[SeedResult]) -> Verdict {
        let tally = Tally::new(&self.plan, results);
        let graded = tally.verdicts(&self.plan);
        let not_graded = tally.not_graded(&self.plan);
        let failures: Vec<Failure> = results.iter().filter_map(|r| r.failure.clone()).collect();
        let passed = failures.is_empty() && graded.iter().all(|v| v.met);
        Verdict { tally, graded, not_graded, failures, passed }
    }
}

/// Checks every seed of `seeds` as `distlab check` does by default (the
/// lesson's expectations, its own nemesis); each seed's first failure, in
/// seed order.
pub fn check_seeds(
    scenario: &Scenario,
    seeds: &[u64],
    jobs: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Vec<Option<Failure>> {
    Grader::of_lesson(scenario).seeds(seeds, jobs, progress).into_iter().map(|r| r.failure).collect()
}

/// Tests of checkers that forget what they settled.
#[cfg(test)]
mod forgetting {
    use super::*;
    use crate::check::grade::Seen;
    use crate::sim::monitor::KEEP_SETTLED;

    /// What a seed's grading says, without the words and evidence (a
    /// checker that forgot a settled thing names it less fully).
    fn outline(r: &SeedResult) -> Vec<String> {
        let seen = r.seen.iter().chain(&r.not_graded_seen);
        seen.map(|s| match s {
            Seen::Broke { at, phase, .. } => format!("broke at {at:?} ({phase:?})"),
            other => format!("{other:?}"),
        })
        .chain(r.failure.as_ref().map(|f| format!("failure at seed {}", f.seed)))
        .collect()
    }

    /// Every lesson in `scenarios/{folder}`, its text passed through
    /// `edit`, over `seeds` of its own nemesis and of the aggressive one,
    /// grades the same whether its checker keeps everything it settled or
    /// forgets it at once (`words`: the violations' wording too); returns
    /// how many seeds ran.
    fn grades_the_same_edited(
        folder: &str,
        seeds: std::ops::Range<u64>,
        edit: impl Fn(&str) -> String,
        words: bool,
    ) -> usize {
        grades_the_same_keeping(folder, seeds, edit, words, 0)
    }

    /// [`grades_the_same_edited`], the checker that forgets keeping
    /// `recent` settled things in full.
    fn grades_the_same_keeping(
        folder: &str,
        seeds: std::ops::Range<u64>,
        edit: impl Fn(&str) -> String,
        words: bool,
        recent: usize,
    ) -> usize {
        let registry = crate::protocols::registry();
        let mut files: Vec<_> = std::fs::read_dir(format!("scenarios/{folder}"))
            .expect("the lessons")
            .map(|e| e.expect("an entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        files.sort();
        let mut runs = 0;
        for file in &files {
            let source = edit(&std::fs::read_to_string(file).expect("a lesson"));
            let name = file.display().to_string();
            let lesson = crate::scenario::load_str(&registry, &name, &source).expect("a lesson loads");
            for nemesis in [NemesisChoice::Scenario, NemesisChoice::Aggressive] {
                let (scenario, grading) = nemesis.apply(&lesson).expect("a nemesis");
                let grader = Grader::new(scenario, grading, DEFAULT_SETTLE);
                for seed in seeds.clone() {
                    KEEP_SETTLED.with(|k| k.set(Some(usize::MAX)));
                    let kept = grader.seed(seed);
                    KEEP_SETTLED.with(|k| k.set(Some(recent)));
                    let forgot = grader.seed(seed);
                    KEEP_SETTLED.with(|k| k.set(None));
                    let said = |r: &SeedResult| -> Vec<String> {
                        let all = r.seen.iter().chain(&r.not_graded_seen);
                        all.filter_map(|s| match s {
                            Seen::Broke { detail, .. } => Some(detail.clone()),
                            _ => None,
                        })
                        .collect()
                    };
                    let context = format!("{name} seed {seed} under {} nemesis", nemesis.describe());
                    assert_eq!(outline(&kept), outline(&forgot), "{context}");
                    if words {
                        assert_eq!(said(&kept), said(&forgot), "{context}");
                    }
                    runs += 1;
                }
            }
        }
        runs
    }

    fn grades_the_same(folder: &str, seeds: std::ops::Range<u64>) -> usize {
        grades_the_same_edited(folder, seeds, str::to_string, false)
    }

    /// The two-phase-commit checker forgets every transaction the moment
    /// it settles, and grades every lesson, under its own faults and the
    /// aggressive nemesis (restarts reporting old decisions again,
    /// duplicates, new rounds), exactly as one that keeps them all.
    #[test]
    fn two_phase_commit_forgets_settled_transactions_without_changing_a_verdict() {
        assert!(grades_the_same("two-phase-commit", 0..6) > 0);
    }

    /// The saga checker forgets every saga the moment it settles (down to
    /// its shape), and grades every lesson — under its own faults and the
    /// aggressive nemesis (crashes losing records, duplicated requests
    /// executed again once their keys expired, sagas begun again after
    /// the orchestrator forgot them) — exactly as one that keeps them all.
    #[test]
    fn saga_forgets_settled_sagas_without_changing_a_verdict() {
        assert!(grades_the_same("saga", 0..6) > 0);
    }

    /// The multi-master checker forgets each write as it settles (ended,
    /// every earlier write to its key settled, and for registers held
    /// nowhere with every disk past it), and grades every lesson — LWW,
    /// merged carts, version vectors; partitions, skew, restarts and the
    /// aggressive nemesis's duplicated requests — as one that keeps every
    /// write: forgetting at once, with the same verdicts; forgetting once
    /// 128 more operations began (not 4,096), in the same words too. (At
    /// once, a duplicated request accepted again a few operations after
    /// its write ended can find it forgotten, and change a count.)
    #[test]
    fn multi_master_forgets_settled_writes_without_changing_a_verdict() {
        assert!(grades_the_same_keeping("multi-master", 0..6, str::to_string, false, 0) > 0);
        assert!(grades_the_same_keeping("multi-master", 0..6, str::to_string, true, 128) > 0);
    }

    /// The primary-replica checker forgets the settled prefix of the logs
    /// (what every node compacted on disk and holds alike) at once, and
    /// grades every lesson — compacting every two entries, so the prefix
    /// settles all the time, under its own faults and the aggressive
    /// nemesis (failovers, truncations, restarts, duplicated retries) —
    /// exactly as one that keeps the whole logs, violations' words
    /// included.
    #[test]
    fn primary_replica_forgets_the_settled_logs_without_changing_a_verdict() {
        let compact_often = |s: &str| s.replacen("[protocol]\n", "[protocol]\ncompact_after = 2\n", 1);
        assert!(grades_the_same_edited("primary-replica", 0..6, compact_often, true) > 0);
    }
}
