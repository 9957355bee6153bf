//! `distlab check FILE`: run a scenario over many seeds and grade it.
//!
//! Each seed is one run of the scenario with that seed — the same
//! timeline, and the scenario's `[nemesis]` (if any) drawing a different
//! fault schedule — with tracing off, followed by a *liveness phase* (every
//! fault healed, nothing new from clients, up to `--settle` to finish).
//! What is graded comes from the lesson's expectations, or, under
//! `--nemesis`, from what the protocol promises; see [`distlab::check::grade`].
//! A seed **fails** when it fails a graded item: a check that must hold
//! breaks, a metric is out of its bounds, a promised linearizability or
//! liveness does not hold, or the run panics. A check the lesson expects to
//! break must break in at least one seed. Seeds run on every core; the
//! result is the same whatever `--jobs` is, and `--shard I/N` checks only
//! every N-th seed starting at the I-th, so a batch scheduler can spread
//! one range over many machines.

use super::Outcome;
use super::style::mark;
use anyhow::{Context as _, bail};
use distlab::check::Expectation;
pub use distlab::check::grade::Failure;
use distlab::check::grade::{
    DEFAULT_SETTLE, Grading, HALT, ItemVerdict, LINEARIZABILITY, NotGradedVerdict, PANIC, Phase, Plan,
    SeedResult,
};
pub use distlab::check::harness::*;
use distlab::check::shrink::ShrinkBudget;
use distlab::protocols::LIVENESS;
use distlab::sim::SimDuration;
use serde::Serialize;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  distlab check quorum/strict-quorum --seeds 0..2000 -j 2
  distlab check primary-replica/async-crash --nemesis aggressive --save-counterexample found.toml
  distlab check my-lesson.toml --seeds 0..10000 --shard 1/4 --json")]
pub struct Args {
    /// A scenario file, or a lesson name such as `quorum/strict-quorum`.
    pub file: PathBuf,
    /// The seeds: `A..B` (B excluded) or `A..=B`.
    #[arg(long, default_value = "0..100", value_parser = parse_seeds)]
    pub seeds: Seeds,
    /// Worker threads (default: every core).
    #[arg(long, short)]
    pub jobs: Option<usize>,
    /// Check only slice I of N (1-based): the seeds at positions I-1,
    /// I-1+N, I-1+2N, ... of the range.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    pub shard: Option<Shard>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Shrink the first failing seed and write it as a scenario file that
    /// replays it (`distlab run OUT.toml`).
    #[arg(long, value_name = "OUT.toml")]
    pub save_counterexample: Option<PathBuf>,
    /// Run under another nemesis than the scenario's, and grade what the
    /// protocol promises for its parameters instead of the lesson's
    /// expectations: `aggressive` (every kind of fault, up to three at
    /// once), `none`, or a file holding a `[nemesis]` table.
    #[arg(long, value_name = "aggressive|none|FILE")]
    pub nemesis: Option<String>,
    /// How long each seed's liveness phase lets the run settle after the
    /// scenario's end (every fault healed, no new client operation)
    /// before what is still pending is reported.
    #[arg(long, default_value = "10s", value_parser = parse_settle)]
    pub settle: SimDuration,
    /// The most candidate runs `--save-counterexample` may try while
    /// shrinking; then it keeps the smallest failing run found so far.
    #[arg(long, default_value_t = ShrinkBudget::default().runs, value_name = "N")]
    pub shrink_runs: usize,
    /// The engine's budget for each seed: a seed whose run exceeds it
    /// fails as `halt` (a livelock or a message storm is a finding).
    #[command(flatten)]
    pub budget: super::BudgetArgs,
}

/// The longest `--settle`: one simulated hour.
pub const MAX_SETTLE: SimDuration = SimDuration::from_secs(3600);

pub fn parse_settle(s: &str) -> Result<SimDuration, String> {
    let d = distlab::sim::time::parse_duration(s)?;
    if d > MAX_SETTLE {
        return Err(format!("--settle is at most {MAX_SETTLE}"));
    }
    Ok(d)
}

/// A seed and a note about it.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct SeedNote {
    pub seed: u64,
    pub detail: String,
}

/// What was still pending after one seed's liveness phase.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct SeedPending {
    pub seed: u64,
    pub items: Vec<String>,
}

/// What `--save-counterexample` did.
#[derive(Clone, Debug, PartialEq, Serialize, schemars::JsonSchema)]
pub struct CounterexampleOut {
    pub seed: u64,
    pub file: String,
    /// The graded item it breaks.
    pub check: String,
    /// Faults the nemesis drew for the seed (a fault and its undo count
    /// as two).
    pub schedule: usize,
    /// Nemesis faults kept.
    pub faults: usize,
    /// Client operations kept.
    pub ops: u64,
    /// Candidate runs tried (at most `--shrink-runs`).
    pub runs: usize,
    /// The shrinker's run budget ran out: it gave up after `runs` runs
    /// (the file still reproduces, it may just be larger than it could
    /// be).
    pub gave_up: bool,
}

/// What `check` found (and `--json` prints).
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct CheckSummary {
    pub scenario: String,
    pub protocol: &'static str,
    pub seeds: Seeds,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
    /// `scenario` (the file's own `[nemesis]`, or none), `aggressive`,
    /// `none`, or the `--nemesis` file.
    pub nemesis: String,
    /// What was graded: the lesson's `expectations`, or the protocol's
    /// `promises`.
    pub grading: Grading,
    /// The liveness phase's length, in µs.
    pub settle_us: u64,
    pub checked: usize,
    /// Seeds that failed a graded item (or panicked).
    pub failed: usize,
    /// Seeds whose linearizability search gave up (neither passed nor
    /// failed for it).
    pub unknown: usize,
    /// Seeds whose run panicked (also counted in `failed`; graded on
    /// nothing else).
    pub panicked: usize,
    /// Seeds whose run the engine stopped before its end for exceeding
    /// its budget (also counted in `failed`; graded on nothing else).
    pub halted: usize,
    /// The command's verdict: no seed failed and every graded item was
    /// met (exit status 0).
    pub passed: bool,
    /// Whether each history was also checked for linearizability.
    pub linearizability: bool,
    /// Every graded item, with its verdict over the seeds.
    pub graded: Vec<ItemVerdict>,
    /// What was not graded, and why.
    pub not_graded: Vec<NotGradedVerdict>,
    /// Every failing seed, in seed order, with its first failure.
    pub failures: Vec<Failure>,
    /// Seeds left unknown for linearizability, and which key.
    pub unknown_seeds: Vec<SeedNote>,
    /// Seeds with something still pending after the liveness phase.
    pub pending: Vec<SeedPending>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counterexample: Option<CounterexampleOut>,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let lesson = super::load(&args.file).map_err(|e| anyhow::anyhow!("{e}"))?;
    let choice = args.nemesis.as_deref().map_or(NemesisChoice::Scenario, NemesisChoice::parse);
    let (scenario, grading) = choice.apply(&lesson)?;
    let seeds = args.seeds.slice(args.shard);
    if seeds.is_empty() {
        bail!(
            "shard {}/{} of {}..{} holds no seeds",
            args.shard.map_or(1, |s| s.index),
            args.shard.map_or(1, |s| s.of),
            args.seeds.start,
            args.seeds.end
        );
    }
    let jobs = super::jobs(args.jobs)?;
    let mut grader = Grader::new(scenario, grading, args.settle);
    grader.plan.budget = args.budget.budget();
    let bar = (!args.json).then(|| super::progress_bar(seeds.len() as u64, "seeds"));
    let progress = |done: usize, failed: usize| {
        if let Some(bar) = &bar {
            bar.set_position(done as u64);
            if failed > 0 {
                bar.set_message(format!("{failed} failed"));
            }
        }
    };
    let results = grader.seeds(&seeds, jobs, &progress);
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let mut summary = summarise(&grader, &args, &choice, &results);
    let replay = replay_command(&args, &choice, &grader.plan, summary.failures.first());
    if !args.json {
        print_human(&summary, &replay);
    }
    let mut saved = None;
    match (&args.save_counterexample, summary.failures.first()) {
        (Some(out), Some(first)) => {
            let budget = ShrinkBudget { runs: args.shrink_runs, ..ShrinkBudget::default() };
            saved = Some(save_counterexample(&grader, &args.file, first, out, budget, args.json)?);
        }
        (Some(out), None) if !args.json => println!("no seed failed: nothing to save to {}", out.display()),
        _ => {}
    }
    summary.counterexample = saved;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary).context("printing JSON")?);
    }
    Ok(if summary.passed { Outcome::Success } else { Outcome::ExpectationFailed })
}

/// The summary of graded seeds.
pub fn summarise(
    grader: &Grader,
    args: &Args,
    choice: &NemesisChoice,
    results: &[SeedResult],
) -> CheckSummary {
    let plan = &grader.plan;
    let Verdict { tally, graded, not_graded, failures, passed } = grader.verdict(results);
    let unknown_seeds: Vec<SeedNote> = results
        .iter()
        .filter_map(|r| r.unknown().map(|d| SeedNote { seed: r.seed, detail: d.to_string() }))
        .collect();
    let pending: Vec<SeedPending> = results
        .iter()
        .filter(|r| !r.pending.is_empty())
        .map(|r| SeedPending { seed: r.seed, items: r.pending.clone() })
        .collect();
    CheckSummary {
        scenario: grader.scenario.name.clone(),
        protocol: grader.scenario.protocol.name(),
        seeds: args.seeds,
        shard: args.shard,
        nemesis: choice.describe(),
        grading: plan.grading,
        settle_us: plan.settle.as_micros(),
        checked: results.len(),
        failed: failures.len(),
        unknown: unknown_seeds.len(),
        panicked: tally.panics.len(),
        halted: tally.halts.len(),
        passed,
        linearizability: plan.item(LINEARIZABILITY).is_some(),
        not_graded,
        graded,
        failures,
        unknown_seeds,
        pending,
        counterexample: None,
    }
}

/// The command that replays a failing seed: `distlab run` shows a seed of
/// the lesson as it is (with its own nemesis) up to its end; a failure
/// under another nemesis, or in the liveness phase, is replayed by `check`
/// on that one seed.
fn replay_command(args: &Args, choice: &NemesisChoice, plan: &Plan, first: Option<&Failure>) -> String {
    let Some(f) = first else { return String::new() };
    let file = args.file.display();
    if *choice == NemesisChoice::Scenario && f.phase == Phase::Scenario {
        return format!("distlab run {file} --seed {}", f.seed);
    }
    let nemesis = match choice {
        NemesisChoice::Scenario => String::new(),
        other => format!(" --nemesis {}", other.describe()),
    };
    let settle =
        if plan.settle == DEFAULT_SETTLE { String::new() } else { format!(" --settle {}", plan.settle) };
    format!("distlab check {file}{nemesis}{settle} --seeds {}..={}", f.seed, f.seed)
}

/// Shrinks a failing seed, writes the scenario file, and confirms that the
/// file reproduces the failure.
fn save_counterexample(
    grader: &Grader,
    arg: &std::path::Path,
    first: &Failure,
    out: &std::path::Path,
    budget: ShrinkBudget,
    quiet: bool,
) -> anyhow::Result<CounterexampleOut> {
    let seed = first.seed;
    let shrunk = distlab::check::shrink::shrink(grader, seed, budget)?;
    let path = super::resolve(arg);
    let source = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let text =
        distlab::check::shrink::counterexample_file(grader, &source, &shrunk, &arg.display().to_string())
            .with_context(|| format!("writing a counterexample from {}", path.display()))?;
    std::fs::write(out, &text).with_context(|| format!("writing {}", out.display()))?;
    let saved = super::load(out).map_err(|e| anyhow::anyhow!("the counterexample does not load: {e}"))?;
    // The file expects the check to break: grade it as the seed was
    // graded (it must hold), and it must fail the same way.
    let mut saved = saved;
    for e in &mut saved.expectations {
        if let Expectation::Check { name, holds } = e
            && *name == shrunk.failure.check
        {
            *holds = true;
        }
    }
    let mut replay = Grader::new(saved, grader.plan.grading, grader.plan.settle);
    replay.plan.budget = grader.plan.budget;
    let replay = replay.seed(seed);
    if replay.failure.as_ref().map(|f| &f.check) != Some(&shrunk.failure.check) {
        bail!("{} was written but does not reproduce the failure", out.display());
    }
    let kept = shrunk.faults.len();
    let ops: u64 = shrunk.ops.iter().sum();
    if !quiet {
        println!(
            "shrunk seed {seed} from {} to {kept} nemesis fault{} and {ops} operations ({}); wrote {}",
            shrunk.schedule,
            if kept == 1 { "" } else { "s" },
            shrunk.runs_in_words(),
            out.display()
        );
        if shrunk.failure.phase == distlab::check::grade::Phase::Liveness {
            println!("replay it: distlab check {} --seeds {seed}..{}", out.display(), seed + 1);
        } else {
            println!("replay it: distlab run {}", out.display());
        }
    }
    Ok(CounterexampleOut {
        seed,
        file: out.display().to_string(),
        check: shrunk.failure.check.clone(),
        schedule: shrunk.schedule,
        faults: kept,
        ops,
        runs: shrunk.runs,
        gave_up: shrunk.gave_up,
    })
}

fn print_human(s: &CheckSummary, replay: &str) {
    let shard = s.shard.map(|sh| format!(", shard {}/{}", sh.index, sh.of)).unwrap_or_default();
    println!("scenario: {} (protocol {})", s.scenario, s.protocol);
    let unknown = if s.unknown > 0 { format!(", {} unknown", s.unknown) } else { String::new() };
    let stopped: Vec<String> = [(s.panicked, "panicked"), (s.halted, "halted")]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
    let panicked = if stopped.is_empty() { String::new() } else { format!(" ({})", stopped.join(", ")) };
    println!(
        "seeds {}..{}{shard}: {} checked, {} failed{panicked}{unknown}{}",
        s.seeds.start,
        s.seeds.end,
        s.checked,
        s.failed,
        if s.linearizability { " (histories also checked for linearizability)" } else { "" }
    );
    match s.grading {
        Grading::Expectations => println!("graded, as the lesson expects and {} promises:", s.protocol),
        Grading::Promises => println!("graded, as {} promises (nemesis: {}):", s.protocol, s.nemesis),
    }
    let width = s
        .graded
        .iter()
        .map(|v| v.item.label.len())
        .chain(s.not_graded.iter().map(|n| n.not_graded.name.len()))
        .max()
        .unwrap_or(0)
        .max(24);
    for v in &s.graded {
        anstream::println!("  {} {:<width$}  {}", mark(v.met), v.item.label, v.detail);
    }
    // Seeds that stopped were graded on nothing: say so beside the items.
    let stops = [
        (PANIC, "runs without panicking", "panicked"),
        (HALT, "runs within its budget", "halted: the engine stopped it"),
    ];
    for (check, label, what) in stops {
        let seeds: Vec<String> =
            s.failures.iter().filter(|f| f.check == check).map(|f| f.seed.to_string()).collect();
        if !seeds.is_empty() {
            let shown = seeds.iter().take(10).cloned().collect::<Vec<_>>().join(", ");
            let more = if seeds.len() > 10 { ", ..." } else { "" };
            anstream::println!(
                "  {} {label:<width$}  {what} in {}/{} seeds (seeds {shown}{more})",
                mark(false),
                seeds.len(),
                s.checked
            );
        }
    }
    if !s.not_graded.is_empty() {
        println!("not graded:");
        for n in &s.not_graded {
            let seen = n.seen.as_ref().map(|x| format!(" ({x})")).unwrap_or_default();
            println!("       {:<width$}  {}{seen}", n.not_graded.name, n.not_graded.why);
        }
    }
    if !s.pending.is_empty() {
        println!(
            "still pending {} after the faults ended, in {} seeds:",
            distlab::sim::SimDuration(s.settle_us),
            s.pending.len()
        );
        for p in s.pending.iter().take(3) {
            println!("  seed {}: {}", p.seed, p.items.join("; "));
        }
        if s.pending.len() > 3 {
            println!("  ...");
        }
    }
    for u in s.unknown_seeds.iter().take(3) {
        println!("linearizability unknown in seed {}: {}", u.seed, u.detail);
    }
    if let Some(f) = s.failures.first() {
        let when = match f.phase {
            Phase::Liveness if f.check != LIVENESS && f.check != LINEARIZABILITY => {
                " (in the liveness phase)"
            }
            _ => "",
        };
        println!("first failure: seed {}: `{}` does not hold: {}{when}", f.seed, f.check, f.detail);
        println!("replay it: {replay}");
        if s.failures.len() > 1 {
            let more: Vec<String> = s.failures.iter().skip(1).take(20).map(|f| f.seed.to_string()).collect();
            let ellipsis = if s.failures.len() > 21 { ", ..." } else { "" };
            println!("other failing seeds: {}{ellipsis}", more.join(", "));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::panic_message;
    use super::*;

    #[test]
    fn seed_ranges() {
        assert_eq!(parse_seeds("0..100"), Ok(Seeds { start: 0, end: 100 }));
        assert_eq!(parse_seeds("5..=9"), Ok(Seeds { start: 5, end: 10 }));
        assert!(parse_seeds("9..5").unwrap_err().contains("empty"));
        assert!(parse_seeds("abc").unwrap_err().contains("expected a seed range"));
        assert!(parse_seeds("0..=18446744073709551615").is_err());
        assert!(parse_seeds("0..100000000").unwrap_err().contains("--shard"));
    }

    /// `--settle`'s default is the library's.
    #[test]
    fn the_settle_default_is_the_library_s() {
        use clap::Parser as _;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            args: Args,
        }
        let cli = Cli::try_parse_from(["check", "x.toml"]).unwrap();
        assert_eq!(cli.args.settle, DEFAULT_SETTLE);
    }

    /// A seed that panicked or that the engine halted is graded on
    /// nothing else: it fails, is counted apart, and `--json` says which
    /// seed, what kind and why, beside the graded items' tallies.
    #[test]
    fn panics_and_halts_fail_and_are_counted_apart_in_the_json() {
        use clap::Parser as _;
        use distlab::check::grade::Seen;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            args: Args,
        }
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/quorum/strict-quorum.toml");
        let grader = Grader::of_lesson(&super::super::load(&path).unwrap());
        let mut results = vec![grader.seed(0), grader.seed(1), grader.seed(2)];
        assert!(results.iter().all(|r| r.failure.is_none()));
        let stopped = |seed: u64, check: &str, detail: &str| SeedResult {
            seed,
            seen: vec![Seen::Absent; grader.plan.items.len()],
            not_graded_seen: vec![Seen::Absent; grader.plan.not_graded.len()],
            pending: Vec::new(),
            failure: Some(Failure {
                seed,
                check: check.into(),
                detail: detail.into(),
                at: None,
                phase: Phase::Liveness,
                causes: Vec::new(),
            }),
        };
        results[1] = stopped(1, PANIC, "index out of bounds");
        results[2] = stopped(2, HALT, "the run stopped at 1s before reaching 3s");
        let args = Cli::try_parse_from(["check", "x.toml", "--seeds", "0..3"]).unwrap().args;
        let s = summarise(&grader, &args, &NemesisChoice::Scenario, &results);
        assert_eq!((s.checked, s.failed, s.panicked, s.halted, s.passed), (3, 2, 1, 1, false));
        // The stopped seeds showed nothing: the items are tallied on seed 0.
        assert!(s.graded.iter().all(|v| v.met && v.tally.seeds == 1), "{:?}", s.graded);
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["panicked"], 1);
        assert_eq!(json["halted"], 1);
        assert_eq!(json["failures"][0]["check"], "panic");
        assert_eq!(json["failures"][0]["detail"], "index out of bounds");
        assert_eq!(json["failures"][0]["phase"], "liveness");
        assert_eq!(json["failures"][1]["check"], "halt");
        assert_eq!(json["failures"][1]["seed"], 2);
    }

    #[test]
    fn a_panic_becomes_its_message() {
        let caught =
            std::panic::catch_unwind(|| panic!("a disk write for k{} does not cover", 3)).unwrap_err();
        assert_eq!(panic_message(&*caught), "a disk write for k3 does not cover");
        let caught = std::panic::catch_unwind(|| std::panic::panic_any(7u8)).unwrap_err();
        assert_eq!(panic_message(&*caught), "the simulation panicked");
    }

    #[test]
    fn shards_cover_the_range_once() {
        let seeds = Seeds { start: 10, end: 27 };
        let mut all: Vec<u64> = (1..=4).flat_map(|i| seeds.slice(Some(Shard { index: i, of: 4 }))).collect();
        all.sort();
        assert_eq!(all, (10..27).collect::<Vec<_>>());
        assert_eq!(seeds.slice(Some(Shard { index: 2, of: 4 })), vec![11, 15, 19, 23]);
        assert!(parse_shard("0/4").is_err());
        assert!(parse_shard("5/4").is_err());
        assert!(parse_shard("1-4").is_err());
        assert_eq!(parse_shard("3/4"), Ok(Shard { index: 3, of: 4 }));
    }
}
