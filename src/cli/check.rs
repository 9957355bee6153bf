//! `distlab check FILE`: run a scenario over many seeds and report which
//! break an invariant.
//!
//! Each seed is one run of the scenario with that seed — the same
//! timeline, and the scenario's `[nemesis]` (if any) drawing a different
//! fault schedule — with tracing off. A seed **fails** when one of the
//! protocol's checks does not hold (except the checks the scenario itself
//! expects to break: the lesson says they do), or when the protocol
//! promises linearizability for these parameters and the history is not
//! linearizable. Seeds run on every core; the result is the same whatever
//! `--jobs` is, and `--shard I/N` checks only every N-th seed starting at
//! the I-th, so a batch scheduler can spread one range over many machines.

use super::Outcome;
use super::panic_message;
use crate::check::Expectation;
use crate::check::linearizability::check_history;
use crate::protocols::RunOptions;
use crate::scenario::Scenario;
use crate::sim::{SimTime, TraceLevel};
use anyhow::{Context as _, bail};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// A scenario file, or a lesson name such as `quorum/strict-quorum`.
    pub file: PathBuf,
    /// The seeds: `A..B` (B excluded) or `A..=B`.
    #[arg(long, default_value = "0..100", value_parser = parse_seeds)]
    pub seeds: Seeds,
    /// Worker threads (default: every core).
    #[arg(long)]
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
}

/// A half-open range of seeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Seeds {
    pub start: u64,
    /// Excluded.
    pub end: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
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

/// Why one seed failed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Failure {
    pub seed: u64,
    /// The violated check (`linearizability` for the history check).
    pub check: String,
    pub detail: String,
    /// When the violation happened, if the check knows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<SimTime>,
}

/// What `check` found.
#[derive(Debug, Serialize)]
pub struct CheckSummary {
    pub scenario: String,
    pub protocol: &'static str,
    pub seeds: Seeds,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
    pub checked: usize,
    pub failed: usize,
    /// Whether each history was also checked for linearizability.
    pub linearizability: bool,
    /// Every failing seed, in seed order.
    pub failures: Vec<Failure>,
}

/// Runs one seed and returns why it failed, if it did: the first check
/// that does not hold, skipping those the scenario expects to break or
/// does not grade.
pub fn check_seed(scenario: &Scenario, seed: u64, linearizable: bool) -> Option<Failure> {
    let options =
        RunOptions { seed: Some(seed), trace: TraceLevel::Off, record_history: linearizable, checks: true };
    // A protocol's assertion that fires is a failing seed like any other,
    // not the end of the whole search.
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut run = scenario.protocol.build(scenario, options);
        run.run_until(scenario.duration);
        run
    }));
    let run = match outcome {
        Ok(run) => run,
        Err(payload) => {
            return Some(Failure { seed, check: "panic".into(), detail: panic_message(&*payload), at: None });
        }
    };
    let expected_to_break = |name: &str| {
        scenario.expectations.iter().any(|e| match e {
            Expectation::Check { name: n, holds: false } | Expectation::Ungraded { name: n } => n == name,
            _ => false,
        })
    };
    let report = run.report();
    if let Some(v) = report.checks.iter().find(|v| !v.holds && !expected_to_break(v.name)) {
        let at = v.first_violation.map(|a| a.time);
        return Some(Failure { seed, check: v.name.to_string(), detail: v.detail.clone(), at });
    }
    if linearizable && let Some(v) = check_history(run.history()).violation {
        // Clear once the last of the stuck operations has completed.
        let at = v.stuck.iter().filter_map(|o| o.completed).max();
        return Some(Failure { seed, check: "linearizability".into(), detail: v.to_string(), at });
    }
    None
}

/// Checks every seed of `seeds` on `jobs` threads; results in seed order.
pub fn check_seeds(
    scenario: &Scenario,
    seeds: &[u64],
    jobs: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Vec<Option<Failure>> {
    let linearizable = scenario.protocol.promises_linearizability(scenario.params.as_ref());
    let failed = AtomicUsize::new(0);
    super::parallel_map(seeds, jobs, &|done| progress(done, failed.load(Ordering::Relaxed)), |&seed| {
        let outcome = check_seed(scenario, seed, linearizable);
        if outcome.is_some() {
            failed.fetch_add(1, Ordering::Relaxed);
        }
        outcome
    })
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let scenario = super::load(&args.file).map_err(|e| anyhow::anyhow!("{e}"))?;
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
    let bar = (!args.json).then(|| super::progress_bar(seeds.len() as u64, "seeds"));
    let progress = |done: usize, failed: usize| {
        if let Some(bar) = &bar {
            bar.set_position(done as u64);
            if failed > 0 {
                bar.set_message(format!("{failed} failed"));
            }
        }
    };
    let results = check_seeds(&scenario, &seeds, jobs, &progress);
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let failures: Vec<Failure> = results.into_iter().flatten().collect();
    let summary = CheckSummary {
        scenario: scenario.name.clone(),
        protocol: scenario.protocol.name(),
        seeds: args.seeds,
        shard: args.shard,
        checked: seeds.len(),
        failed: failures.len(),
        linearizability: scenario.protocol.promises_linearizability(scenario.params.as_ref()),
        failures,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary).context("printing JSON")?);
    } else {
        print_human(&summary, &args.file);
    }
    match (&args.save_counterexample, summary.failures.first()) {
        (Some(out), Some(first)) => save_counterexample(&scenario, &args.file, first.seed, out, args.json)?,
        (Some(out), None) if !args.json => println!("no seed failed: nothing to save to {}", out.display()),
        _ => {}
    }
    Ok(if summary.failed == 0 { Outcome::Success } else { Outcome::ExpectationFailed })
}

/// Shrinks a failing seed, writes the scenario file, and confirms that the
/// file reproduces the failure.
fn save_counterexample(
    scenario: &Scenario,
    arg: &std::path::Path,
    seed: u64,
    out: &std::path::Path,
    quiet: bool,
) -> anyhow::Result<()> {
    let linearizable = scenario.protocol.promises_linearizability(scenario.params.as_ref());
    let shrunk = super::shrink::shrink(scenario, seed, linearizable)
        .ok_or_else(|| anyhow::anyhow!("seed {seed} no longer fails"))?;
    let path = super::resolve(arg);
    let source = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let text = super::shrink::counterexample_file(scenario, &source, &shrunk, &arg.display().to_string());
    std::fs::write(out, &text).with_context(|| format!("writing {}", out.display()))?;
    let saved =
        crate::scenario::load(out).map_err(|e| anyhow::anyhow!("the counterexample does not load: {e}"))?;
    // The file expects the check to break: count it all the same.
    let mut saved = saved;
    saved
        .expectations
        .retain(|e| !matches!(e, Expectation::Check { name, holds: false } if *name == shrunk.failure.check));
    let replay = check_seed(&saved, seed, linearizable);
    if replay.as_ref().map(|f| &f.check) != Some(&shrunk.failure.check) {
        bail!("{} was written but does not reproduce the failure", out.display());
    }
    if !quiet {
        let kept = shrunk.faults.len();
        let ops: u64 = shrunk.ops.iter().sum();
        println!(
            "shrunk seed {seed} to {kept} nemesis fault{} and {ops} operations ({} runs); wrote {}",
            if kept == 1 { "" } else { "s" },
            shrunk.runs,
            out.display()
        );
        println!("replay it: distlab run {}", out.display());
    }
    Ok(())
}

fn print_human(s: &CheckSummary, file: &std::path::Path) {
    let shard = s.shard.map(|sh| format!(", shard {}/{}", sh.index, sh.of)).unwrap_or_default();
    println!("scenario: {} (protocol {})", s.scenario, s.protocol);
    println!(
        "seeds {}..{}{shard}: {} checked, {} failed{}",
        s.seeds.start,
        s.seeds.end,
        s.checked,
        s.failed,
        if s.linearizability { " (histories also checked for linearizability)" } else { "" }
    );
    if let Some(f) = s.failures.first() {
        println!("first failure: seed {}: `{}` does not hold: {}", f.seed, f.check, f.detail);
        println!("replay it: distlab run {} --seed {}", file.display(), f.seed);
        if s.failures.len() > 1 {
            let more: Vec<String> = s.failures.iter().skip(1).take(20).map(|f| f.seed.to_string()).collect();
            let ellipsis = if s.failures.len() > 21 { ", ..." } else { "" };
            println!("other failing seeds: {}{ellipsis}", more.join(", "));
        }
    }
}

#[cfg(test)]
mod tests {
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
