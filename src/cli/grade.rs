//! `distlab grade DIR-or-FILE...`: grade a course's lessons and exercises
//! at once, for autograders.
//!
//! Each argument is a scenario file, a lesson name (`quorum/weak-quorum`)
//! or a folder, searched (with its subfolders, hidden ones excepted) for
//! `*.toml` files, each of which must be a scenario. Every file is graded
//! as `distlab check FILE` grades it — its expectations, its own nemesis,
//! the liveness phase — by the same library code
//! ([`distlab::check::harness::Grader`]), over `--seeds`, or, without
//! it, at the file's own `seed` (the story the lesson tells, as `distlab
//! run` shows it: a lesson's metric bounds often describe that one
//! story). Every file is loaded before anything runs: one that does not
//! load is bad input (exit status 2), named with its line and column.
//!
//! The result is one table — lesson, graded checks met, seeds passed,
//! verdict — or, with `--json`, one object whose schema the book's
//! checking chapter documents. The exit status is 0 when every file
//! passed, 1 when one failed.

use super::Outcome;
use super::check::{MAX_SEEDS, Seeds, parse_seeds};
use anyhow::{Context as _, bail};
use distlab::check::grade::{Failure, ItemVerdict, Phase};
use distlab::check::harness::Grader;
use distlab::util::count;
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  distlab grade scenarios/
  distlab grade course/ --seeds 0..20 --json -j 2
  distlab grade quorum/weak-quorum saga/orchestrator-crash")]
pub struct Args {
    /// Scenario files, lesson names (`quorum/weak-quorum`), or folders
    /// searched for `*.toml` scenario files.
    #[arg(required = true, value_name = "DIR-or-FILE")]
    pub paths: Vec<PathBuf>,
    /// The seeds every file is graded over: `A..B` (B excluded) or
    /// `A..=B`. Default: each file's own `seed`.
    #[arg(long, value_parser = parse_seeds)]
    pub seeds: Option<Seeds>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Worker threads (default: every core).
    #[arg(short = 'j', long)]
    pub jobs: Option<usize>,
}

/// What `grade --json` prints.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct GradeSummary {
    /// Every file passed (exit status 0).
    pub passed: bool,
    /// `--seeds`, or `null`: each file at its own seed.
    pub seeds: Option<Seeds>,
    pub lessons: Vec<LessonGrade>,
    pub total: Total,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Total {
    pub lessons: usize,
    pub passed: usize,
    pub failed: usize,
}

/// One file's grade.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct LessonGrade {
    /// The file as found (`scenarios/quorum/weak-quorum.toml`) or the
    /// lesson name as given.
    pub lesson: String,
    /// The `[scenario]` name.
    pub scenario: String,
    pub protocol: &'static str,
    /// The seeds it was graded over.
    pub seeds: Seeds,
    pub checked: usize,
    /// Seeds that failed a graded item, panicked or halted.
    pub failed: usize,
    /// Seeds that passed: `checked - failed`.
    pub seeds_passed: usize,
    /// Graded items met, of `graded`'s.
    pub met: usize,
    pub passed: bool,
    /// Every graded item's verdict, as `distlab check --json` gives it.
    pub graded: Vec<ItemVerdict>,
    /// The first failing seed's failure, as in `check --json`'s
    /// `failures`.
    pub first_failure: Option<Failure>,
    /// A command that shows the first failure.
    pub replay: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let files = lesson_files(&args.paths)?;
    let mut graders = Vec::new();
    let mut errors = Vec::new();
    for (shown, path) in &files {
        match super::load(path) {
            Ok(scenario) => graders.push((shown.clone(), Grader::of_lesson(&scenario))),
            Err(e) => errors.push(e.to_string()),
        }
    }
    if !errors.is_empty() {
        bail!(
            "{} of {} files do not load as scenarios; nothing was graded:\n{}",
            errors.len(),
            files.len(),
            errors.join("\n")
        );
    }
    let jobs = super::jobs(args.jobs)?;
    let mut ranges: Vec<Seeds> = Vec::new();
    for (shown, g) in &graders {
        let own = g.scenario.seed;
        ranges.push(match (args.seeds, own.checked_add(1)) {
            (Some(seeds), _) => seeds,
            (None, Some(end)) => Seeds { start: own, end },
            // As `check --seeds` cannot name it either.
            (None, None) => {
                bail!("{shown}: its seed {own} is past the last seed a range can hold; give --seeds")
            }
        });
    }
    let runs = ranges.iter().try_fold(0u64, |n, r| n.checked_add(r.end - r.start));
    if runs.is_none_or(|n| n > MAX_SEEDS) {
        bail!(
            "{} lessons × {} seeds is more than {MAX_SEEDS} runs; grade fewer seeds or fewer files per command",
            graders.len(),
            ranges.first().map_or(0, |r| r.end - r.start)
        );
    }
    let items: Vec<(usize, u64)> =
        ranges.iter().enumerate().flat_map(|(l, r)| (r.start..r.end).map(move |s| (l, s))).collect();
    if !args.json {
        let over = match args.seeds {
            Some(s) => format!("over seeds {}..{}", s.start, s.end),
            None => "(each at its own seed)".to_string(),
        };
        println!(
            "grading {} {over}: {}, {}",
            count(graders.len(), "lesson"),
            count(items.len(), "run"),
            count(jobs, "job")
        );
    }
    let bar = (!args.json).then(|| super::progress_bar(items.len() as u64, "runs"));
    let results = super::parallel_map(
        &items,
        jobs,
        &|done| {
            if let Some(bar) = &bar {
                bar.set_position(done as u64);
            }
        },
        |&(l, seed)| graders[l].1.seed(seed),
    );
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let mut lessons = Vec::new();
    let mut at = 0;
    for ((shown, grader), seeds) in graders.iter().zip(&ranges) {
        let n = (seeds.end - seeds.start) as usize;
        let mine = &results[at..at + n];
        at += n;
        let verdict = grader.verdict(mine);
        let first_failure = verdict.failures.first().cloned();
        let replay = first_failure.as_ref().map(|f| replay(shown, f));
        lessons.push(LessonGrade {
            lesson: shown.clone(),
            scenario: grader.scenario.name.clone(),
            protocol: grader.scenario.protocol.name(),
            seeds: *seeds,
            checked: n,
            failed: verdict.failures.len(),
            seeds_passed: n - verdict.failures.len(),
            met: verdict.graded.iter().filter(|v| v.met).count(),
            passed: verdict.passed,
            graded: verdict.graded,
            first_failure,
            replay,
        });
    }
    let passed = lessons.iter().filter(|l| l.passed).count();
    let summary = GradeSummary {
        passed: passed == lessons.len(),
        seeds: args.seeds,
        total: Total { lessons: lessons.len(), passed, failed: lessons.len() - passed },
        lessons,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary).context("printing JSON")?);
    } else {
        print_table(&summary);
    }
    Ok(if summary.passed { Outcome::Success } else { Outcome::ExpectationFailed })
}

/// The command that shows a failure: `distlab run` for one before the
/// scenario's end, `distlab check` on that seed for one in the liveness
/// phase (as `distlab check` says).
fn replay(lesson: &str, f: &Failure) -> String {
    match f.phase {
        Phase::Scenario => format!("distlab run {lesson} --seed {}", f.seed),
        Phase::Liveness => format!("distlab check {lesson} --seeds {}..={}", f.seed, f.seed),
    }
}

/// Every file the arguments name, as shown and as loaded: a folder's
/// `*.toml` files in path order, each file once.
fn lesson_files(args: &[PathBuf]) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    for arg in args {
        if arg.is_dir() {
            let mut found = Vec::new();
            walk(arg, &mut found)?;
            found.sort();
            if found.is_empty() {
                bail!("{}: a folder with no *.toml scenario files", arg.display());
            }
            files.extend(found.into_iter().map(|p| (p.display().to_string(), p)));
        } else {
            files.push((arg.display().to_string(), arg.clone()));
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    files.retain(|(_, p)| seen.insert(super::resolve(p)));
    Ok(files)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    for entry in entries {
        let path = entry.with_context(|| format!("reading {}", dir.display()))?.path();
        let hidden = path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        if path.is_dir() {
            walk(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "toml") {
            out.push(path);
        }
    }
    Ok(())
}

fn print_table(s: &GradeSummary) {
    let mut rows = vec![["lesson", "graded checks", "seeds passed", "verdict"].map(String::from).to_vec()];
    for l in &s.lessons {
        rows.push(vec![
            l.lesson.clone(),
            format!("{}/{}", l.met, l.graded.len()),
            format!("{}/{}", l.seeds_passed, l.checked),
            if l.passed { "pass" } else { "FAIL" }.to_string(),
        ]);
    }
    let widths: Vec<usize> =
        (0..4).map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0)).collect();
    for (i, row) in rows.iter().enumerate() {
        // The verdict in colour (on a terminal), the header plain.
        let verdict = if i == 0 { row[3].clone() } else { super::style::verdict(row[3] == "pass", &row[3]) };
        anstream::println!(
            "{:<w0$}  {:>w1$}  {:>w2$}  {verdict}",
            row[0],
            row[1],
            row[2],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2]
        );
    }
    let failed: Vec<&LessonGrade> = s.lessons.iter().filter(|l| !l.passed).collect();
    if !failed.is_empty() {
        println!("\nfailed:");
    }
    for l in &failed {
        match (&l.first_failure, &l.replay) {
            (Some(f), Some(replay)) => {
                println!("  {}: seed {}: `{}` does not hold: {}", l.lesson, f.seed, f.check, f.detail);
                println!("    replay it: {replay}");
            }
            _ => {
                // No seed failed: an item was not met over the seeds (a
                // break the lesson expects never happened).
                for v in l.graded.iter().filter(|v| !v.met) {
                    println!("  {}: {}: {}", l.lesson, v.item.label, v.detail);
                }
            }
        }
    }
    println!(
        "\n{} of {} passed{}",
        s.total.passed,
        count(s.total.lessons, "lesson"),
        if s.passed { "" } else { " (`distlab check FILE` reports on one in full)" }
    );
}
