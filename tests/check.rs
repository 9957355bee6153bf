//! `distlab check`: many seeds, deterministic whatever the thread count,
//! every expectation graded (breaks the lesson shows, metric bounds),
//! a liveness phase after the faults, a hostile nemesis that grades what
//! the protocol promises, failing seeds reported with exit status 1, and
//! shrinking within a budget.

use distlab::check::grade::{Grading, Judge, LINEARIZABILITY, Plan};
use distlab::check::harness::{Grader, check_seeds, parse_seeds};
use distlab::check::shrink::{ShrinkBudget, ShrinkError};
use distlab::protocols::LIVENESS;
use distlab::scenario::{Scenario, load_str};
use distlab::sim::SimDuration;
use std::path::{Path, PathBuf};
use std::process::Output;

mod common;
use common::distlab;

/// Quorum reads and writes under a random nemesis. `protocol` goes into
/// `[protocol]`, `extra` at the end of the file.
fn quorum_with(protocol: &str, extra: &str) -> (String, Scenario) {
    let text = format!(
        r#"
[scenario]
name = "check-quorum"
protocol = "quorum"
duration = "2s"
[cluster]
nodes = 3
[protocol]
{protocol}
[network]
latency = "5ms"
distribution = "exponential"
[[clients]]
processes = 4
ops = 300
interval = "3ms"
read_fraction = 0.6
keys = 2
target = "random"
timeout = "200ms"
[nemesis]
faults = ["crash", "pause", "partition", "loss"]
interval = "200ms"
heal_after = "150ms"
stop = "1500ms"
{extra}
"#
    );
    let s = load_str(&distlab::protocols::registry(), "check-quorum.toml", &text)
        .unwrap_or_else(|e| panic!("{e}"));
    (text, s)
}

fn quorum(protocol: &str) -> (String, Scenario) {
    quorum_with(protocol, "")
}

fn seeds(range: &str) -> Vec<u64> {
    parse_seeds(range).unwrap().slice(None)
}

fn lesson_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(rel)
}

/// A scratch folder for files the binary reads and writes.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("distlab-check-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn json_of(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    })
}

/// The graded item named `name` in a `--json` summary.
fn graded<'a>(json: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    json["graded"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == name)
        .unwrap_or_else(|| panic!("{name} is not graded: {json:#}"))
}

#[test]
fn abd_is_linearizable_over_many_seeds_and_jobs_do_not_change_the_result() {
    let (_, s) = quorum("consistency = \"quorum\"\nwrite_back = true");
    assert!(s.protocol.promises_linearizability(s.params.as_ref()));
    let one = check_seeds(&s, &seeds("0..60"), 1, &|_, _| {});
    let two = check_seeds(&s, &seeds("0..60"), 2, &|_, _| {});
    assert_eq!(one, two);
    assert!(one.iter().all(Option::is_none), "{:?}", one.iter().flatten().next());
}

/// A check the instructor expects to hold is graded in every seed; a weak
/// quorum breaks it on most, and the same seeds fail again.
#[test]
fn weak_quorum_fails_seeds_and_names_the_check() {
    let (_, s) = quorum_with("r = 1\nw = 1", "[[expect]]\ncheck = \"fresh-reads\"\nholds = true\n");
    assert!(!s.protocol.promises_linearizability(s.params.as_ref()));
    let results = check_seeds(&s, &seeds("0..20"), 2, &|_, _| {});
    let failures: Vec<_> = results.iter().flatten().collect();
    assert!(failures.len() >= 10, "only {} of 20 seeds failed", failures.len());
    assert!(failures.iter().all(|f| f.check == "fresh-reads"), "{failures:?}");
    // The same seeds fail again: a failure is replayable.
    assert_eq!(results, check_seeds(&s, &seeds("0..20"), 1, &|_, _| {}));
}

/// A check the lesson does not name is graded as the protocol promises:
/// r = w = 1 does not promise fresh reads, so without an expectation
/// nothing fails, and the summary says why it was not graded.
#[test]
fn an_unnamed_check_is_graded_as_the_protocol_promises() {
    let (_, weak) = quorum("r = 1\nw = 1");
    let plan = Plan::new(&weak, Grading::Expectations, SimDuration::from_secs(1));
    assert!(plan.item("fresh-reads").is_none());
    let why = &plan.not_graded.iter().find(|n| n.name == "fresh-reads").unwrap().why;
    assert!(why.contains("r + w <= n"), "{why}");
    let (_, strict) = quorum("consistency = \"quorum\"");
    let plan = Plan::new(&strict, Grading::Expectations, SimDuration::from_secs(1));
    assert_eq!(plan.item("fresh-reads").unwrap().judge, Judge::Holds);
}

/// Regression: `check` skipped the checks a lesson expects to break and
/// every metric bound, and reported "100 checked, 0 failed". Now the
/// expected break is tallied ("broke in 9/10 seeds, as expected") and the
/// lesson's metric bound `stale_reads >= 1` is judged per seed: the seeds
/// without a stale read fail it.
#[test]
fn a_lesson_s_expected_break_is_tallied_and_its_metric_bounds_judged_per_seed() {
    let lesson = lesson_path("quorum/weak-quorum.toml");
    let out = distlab(&["check", lesson.to_str().unwrap(), "--seeds", "0..20", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let json = json_of(&out);
    let breaks = graded(&json, "fresh-reads");
    assert_eq!(breaks["judge"], "breaks");
    assert_eq!(breaks["met"], true);
    let broke = breaks["broke"].as_u64().unwrap();
    assert!((10..20).contains(&broke), "{breaks:#}");
    assert_eq!(breaks["detail"], format!("broke in {broke}/20 seeds, as expected"));
    let bound = graded(&json, "stale_reads");
    assert_eq!(bound["label"], "stale_reads >= 1");
    assert_eq!(bound["met"], false);
    // Exactly the seeds where the expected break did not happen fail the bound.
    let failed: Vec<u64> =
        bound["failed_seeds"].as_array().unwrap().iter().map(|s| s.as_u64().unwrap()).collect();
    assert_eq!(failed.len() as u64, 20 - broke);
    let seeds_failing: Vec<u64> =
        json["failures"].as_array().unwrap().iter().map(|f| f["seed"].as_u64().unwrap()).collect();
    assert_eq!(seeds_failing, failed);
    assert_eq!(json["failures"][0]["check"], "stale_reads >= 1");
    assert_eq!(json["failures"][0]["detail"], "it was 0");
}

/// Regression: a lesson that expects a break which never happens passed
/// every seed. Now it fails (exit status 1), and says so.
#[test]
fn an_expected_break_that_never_happens_fails() {
    let (text, s) =
        quorum_with("consistency = \"quorum\"", "[[expect]]\ncheck = \"fresh-reads\"\nholds = false\n");
    let grader = Grader::of_lesson(&s);
    let results = grader.seeds(&seeds("0..6"), 2, &|_, _| {});
    assert!(results.iter().all(|r| r.failure.is_none()), "no seed fails on its own");
    let dir = scratch("never");
    let file = dir.join("never.toml");
    std::fs::write(&file, text).unwrap();
    let out = distlab(&["check", file.to_str().unwrap(), "--seeds", "0..6"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("6 checked, 0 failed"), "{stdout}");
    assert!(
        stdout.contains("FAIL fresh-reads breaks")
            && stdout.contains("held in all 6 seeds: the break the lesson expects never happened"),
        "{stdout}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// The liveness phase heals every fault and lets the run settle. The
/// 2PC lesson's coordinator crashes for good, leaving participants in
/// doubt at the end of the scenario (its metric says 4); restarted in the
/// liveness phase, it resolves them. With no time to settle, the doubt is
/// still pending, and the summary says so in words.
#[test]
fn the_liveness_phase_resolves_a_crashed_coordinator_and_reports_what_is_pending() {
    let lesson = lesson_path("two-phase-commit/coordinator-crash.toml");
    let s = distlab::scenario::load(&distlab::protocols::registry(), &lesson).unwrap();
    let settled = Grader::new(s.clone(), Grading::Expectations, SimDuration::from_secs(5)).seed(0);
    assert!(settled.pending.is_empty(), "{:?}", settled.pending);
    assert!(settled.failure.is_none(), "{:?}", settled.failure);
    let unsettled = Grader::new(s, Grading::Expectations, SimDuration::ZERO).seed(0);
    assert!(!unsettled.pending.is_empty());
    assert!(unsettled.pending.iter().any(|p| p.contains("is in doubt about tx")), "{:?}", unsettled.pending);
    let f = unsettled.failure.expect("liveness fails without time to settle");
    assert_eq!(f.check, LIVENESS);
    assert!(f.detail.starts_with("still pending 0s after the faults ended: "), "{}", f.detail);

    let out = distlab(&["check", lesson.to_str().unwrap(), "--seeds", "0..1", "--settle", "0"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAIL liveness"), "{stdout}");
    assert!(stdout.contains("still pending 0s after the faults ended, in 1 seeds:"), "{stdout}");
    assert!(stdout.contains("  seed 0: n"), "{stdout}");
    assert!(stdout.contains("replay it: distlab check"), "{stdout}");
    assert!(stdout.contains("--settle 0s --seeds 0..=0"), "{stdout}");
}

/// Liveness fires on a real bug: masters that break clock ties by arrival
/// never converge, and what is pending names the key and what each node
/// holds.
#[test]
fn liveness_fails_where_a_bug_keeps_nodes_apart() {
    let s = distlab::scenario::load(
        &distlab::protocols::registry(),
        &lesson_path("multi-master/exercise-tie-by-arrival.toml"),
    )
    .unwrap();
    let r = Grader::of_lesson(&s).seed(2);
    assert!(!r.pending.is_empty());
    assert!(r.pending[0].starts_with("k0: n1 holds"), "{:?}", r.pending);
    let liveness = r.seen[Plan::new(&s, Grading::Expectations, SimDuration::from_secs(5))
        .items
        .iter()
        .position(|i| i.name == LIVENESS)
        .unwrap()]
    .clone();
    assert!(matches!(liveness, distlab::check::grade::Seen::Broke { .. }), "{liveness:?}");
}

/// `--nemesis aggressive` runs a lesson under every kind of fault,
/// overlapping, and grades what the protocol promises: a strict quorum's
/// fresh reads and liveness; not the lesson's metric bounds, which are
/// listed as not graded with the reason.
#[test]
fn an_aggressive_nemesis_grades_the_protocol_s_promises() {
    let lesson = lesson_path("quorum/strict-quorum.toml");
    let out =
        distlab(&["check", lesson.to_str().unwrap(), "--seeds", "0..4", "--nemesis", "aggressive", "--json"]);
    let json = json_of(&out);
    assert_eq!(json["grading"], "promises");
    assert_eq!(json["nemesis"], "aggressive");
    assert_eq!(graded(&json, "fresh-reads")["judge"], "holds");
    assert_eq!(graded(&json, LIVENESS)["judge"], "settles");
    let not_graded: Vec<&str> =
        json["not_graded"].as_array().unwrap().iter().map(|n| n["name"].as_str().unwrap()).collect();
    assert!(not_graded.contains(&"availability >= 1"), "{not_graded:?}");
    assert!(not_graded.contains(&LINEARIZABILITY), "{not_graded:?}");
    assert_eq!(out.status.code(), Some(if json["passed"] == true { 0 } else { 1 }));

    // The hostile schedule overlaps faults and uses the new kinds.
    let s = distlab::scenario::load(&distlab::protocols::registry(), &lesson).unwrap();
    let (aggressive, grading) =
        distlab::check::harness::NemesisChoice::Aggressive.apply(&s).expect("the preset applies");
    assert_eq!(grading, Grading::Promises);
    assert_eq!(s.disk_latency, SimDuration::ZERO);
    assert_eq!(aggressive.disk_latency, distlab::check::harness::AGGRESSIVE_DISK_LATENCY, "writes take time");
    let n = aggressive.nemesis.as_ref().unwrap();
    let mut kinds = std::collections::BTreeSet::new();
    let mut overlapped = false;
    for seed in 0..20 {
        let schedule = n.schedule(seed, 3, &aggressive.clocks);
        let pairs: Vec<_> = schedule.chunks(2).collect();
        for (i, p) in pairs.iter().enumerate() {
            kinds.insert(p[0].fault.name());
            overlapped |= pairs[..i].iter().any(|q| q[1].at > p[0].at);
        }
    }
    assert!(overlapped, "faults overlap");
    assert_eq!(
        kinds.len(),
        5,
        "crash, pause, partition, clock (and drift), link (loss and duplication): {kinds:?}"
    );
}

/// `--nemesis FILE` reads a `[nemesis]` table; a bad one is bad input
/// (exit status 2) with its position, and `--nemesis none` runs without.
#[test]
fn a_nemesis_file_is_validated() {
    let dir = scratch("nemesis-file");
    let lesson = lesson_path("quorum/strict-quorum.toml");
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[nemesis]\nfaults = [\"crash\", \"drfit\"]\ninterval = \"100ms\"\n").unwrap();
    let out =
        distlab(&["check", lesson.to_str().unwrap(), "--seeds", "0..2", "--nemesis", bad.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("bad.toml:2:20") && stderr.contains("did you mean `drift`?"), "{stderr}");
    let good = dir.join("good.toml");
    std::fs::write(
        &good,
        "[nemesis]\nfaults = [\"duplicate\", \"drift\"]\ninterval = \"100ms\"\nmax_concurrent = 2\n",
    )
    .unwrap();
    let out =
        distlab(&["check", lesson.to_str().unwrap(), "--seeds", "0..2", "--nemesis", good.to_str().unwrap()]);
    assert!(out.status.code().is_some_and(|c| c < 2), "{}", String::from_utf8_lossy(&out.stderr));
    let out = distlab(&["check", lesson.to_str().unwrap(), "--seeds", "0..2", "--nemesis", "none", "--json"]);
    assert_eq!(json_of(&out)["nemesis"], "none");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_binary_exits_0_1_and_2() {
    let dir = scratch("exits");
    let run = |file: &Path, args: &[&str]| {
        let mut all = vec!["check", file.to_str().unwrap()];
        all.extend_from_slice(args);
        distlab(&all)
    };

    let good = dir.join("good.toml");
    std::fs::write(&good, quorum("consistency = \"quorum\"\nwrite_back = true").0).unwrap();
    let out = run(&good, &["--seeds", "0..8", "--jobs", "2"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("8 checked, 0 failed"), "{text}");
    assert!(text.contains("linearizability"), "{text}");

    let bad = dir.join("bad.toml");
    std::fs::write(&bad, quorum_with("r = 1\nw = 1", "[[expect]]\ncheck = \"fresh-reads\"\n").0).unwrap();
    let out = run(&bad, &["--seeds", "0..8", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let json = json_of(&out);
    assert!(json["failed"].as_u64().unwrap() >= 1);
    assert_eq!(json["failures"][0]["check"], "fresh-reads");
    let first = json["failures"][0]["seed"].as_u64().unwrap();
    // Sharding: the slices together find the same failing seeds.
    let mut sharded = Vec::new();
    for i in 1..=3 {
        let out = run(&bad, &["--seeds", "0..8", "--json", "--shard", &format!("{i}/3")]);
        let json = json_of(&out);
        sharded.extend(json["failures"].as_array().unwrap().iter().map(|f| f["seed"].as_u64().unwrap()));
    }
    sharded.sort();
    assert_eq!(sharded[0], first);
    assert_eq!(sharded.len() as u64, json["failed"].as_u64().unwrap());

    assert_eq!(run(&good, &["--seeds", "9..3"]).status.code(), Some(2));
    assert_eq!(run(&good, &["--shard", "4/3"]).status.code(), Some(2));
    assert_eq!(run(&good, &["--settle", "2h"]).status.code(), Some(2));
    assert_eq!(run(&dir.join("missing.toml"), &[]).status.code(), Some(2));
    std::fs::remove_dir_all(&dir).ok();
}

/// `--json` is complete: every field the book documents is there.
#[test]
fn the_json_summary_is_complete() {
    let lesson = lesson_path("quorum/weak-quorum.toml");
    let out = distlab(&["check", lesson.to_str().unwrap(), "--seeds", "0..3", "--json"]);
    let json = json_of(&out);
    for key in [
        "scenario",
        "protocol",
        "seeds",
        "nemesis",
        "grading",
        "settle_us",
        "checked",
        "failed",
        "unknown",
        "panicked",
        "halted",
        "passed",
        "linearizability",
        "graded",
        "not_graded",
        "failures",
        "unknown_seeds",
        "pending",
    ] {
        assert!(json.get(key).is_some(), "no `{key}` in {json:#}");
    }
    let item = &json["graded"][0];
    for key in [
        "name",
        "label",
        "judge",
        "named",
        "met",
        "detail",
        "seeds",
        "held",
        "broke",
        "absent",
        "unknown",
        "failed_seeds",
    ] {
        assert!(item.get(key).is_some(), "no `{key}` in {item:#}");
    }
    let ng = &json["not_graded"][0];
    assert!(ng.get("name").is_some() && ng.get("why").is_some(), "{ng:#}");
}

/// `--json` carries what is still pending after the liveness phase, seed
/// by seed, and each metric bound with its bounds and range.
#[test]
fn the_json_summary_carries_pending_items_and_metric_bounds() {
    let lesson = lesson_path("two-phase-commit/coordinator-crash.toml");
    let out = distlab(&["check", lesson.to_str().unwrap(), "--seeds", "0..2", "--settle", "0", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let json = json_of(&out);
    let pending = json["pending"].as_array().unwrap();
    assert_eq!(pending.len(), 2, "{json:#}");
    assert_eq!(pending[0]["seed"], 0);
    assert!(pending[0]["items"][0].as_str().unwrap().contains("is in doubt about tx"), "{json:#}");
    let graded = json["graded"].as_array().unwrap();
    let metric = graded.iter().find(|g| g["name"] == "in_doubt_ms_max").expect("the metric bound is graded");
    assert_eq!(metric["judge"]["metric"]["at_least"], 2900.0, "{metric:#}");
    assert!(metric["min"].is_number() && metric["max"].is_number(), "{metric:#}");
    let liveness = graded.iter().find(|g| g["name"] == "liveness").unwrap();
    assert_eq!(
        (liveness["met"].as_bool(), liveness["failed_seeds"].as_array().unwrap().len()),
        (Some(false), 2)
    );
}

/// A failing seed shrinks to fewer faults, and the written file replays the
/// failure: it loads, it breaks the same check, and `distlab run` on it
/// meets its expectation that the check breaks.
#[test]
fn a_failing_seed_shrinks_to_a_replayable_scenario() {
    let text = r#"# async primary-replica under a nemesis
[scenario]
name = "pr-nemesis"
protocol = "primary-replica"
duration = "3s"
seed = 4

[cluster]
nodes = 3

[protocol]
mode = "async"

[network]
latency = "5ms"

[[clients]]
name = "w"
processes = 2
ops = 400
interval = "5ms"
read_fraction = 0.2
keys = 2
timeout = "200ms"

[nemesis]
faults = ["crash", "pause", "partition"]
interval = "300ms"
heal_after = "200ms"
stop = "2500ms"

[[expect]]
check = "no-stale-reads"
holds = true
"#;
    let s = load_str(&distlab::protocols::registry(), "pr-nemesis.toml", text).unwrap();
    let schedule = s.nemesis.as_ref().unwrap().schedule(4, 3, &s.clocks).len();
    let shrunk = distlab::check::shrink::shrink(&Grader::of_lesson(&s), 4, ShrinkBudget::default())
        .expect("seed 4 fails");
    assert!(shrunk.faults.len() < schedule, "{} of {schedule} faults kept", shrunk.faults.len());
    assert_eq!(shrunk.failure.check, "no-stale-reads");
    assert!(!shrunk.gave_up);

    let dir = scratch("shrink");
    let (file, out) = (dir.join("pr.toml"), dir.join("cx.toml"));
    std::fs::write(&file, text).unwrap();
    let status = distlab(&[
        "check",
        file.to_str().unwrap(),
        "--seeds",
        "4..5",
        "--save-counterexample",
        out.to_str().unwrap(),
    ]);
    assert_eq!(status.status.code(), Some(1), "{}", String::from_utf8_lossy(&status.stderr));
    let saved = std::fs::read_to_string(&out).unwrap();
    assert!(!saved.contains("[nemesis]"), "{saved}");
    assert!(saved.contains("crash = \"n1\"") || saved.contains("pause = ") || saved.contains("partition = "));
    assert!(saved.contains("note = ") && saved.contains("check = \"no-stale-reads\""), "{saved}");
    let replay = distlab(&["run", out.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&replay.stdout);
    assert!(stdout.contains("ok   no-stale-reads breaks"), "{stdout}");
    std::fs::remove_dir_all(&dir).ok();
}

/// Regression: shrinking tried one pair of faults per run, so a schedule
/// of 10,000 faults took thousands of runs, with no bound. Now it drops
/// every fault after the violation, then half of them at once, then
/// quarters, ..., and stops at its run budget, saying it gave up after
/// that many runs; the file it writes still reproduces the failure. What
/// it keeps must fit in a scenario file, or it says to raise the budget.
#[test]
fn a_10000_fault_schedule_shrinks_within_its_budget() {
    let text = std::fs::read_to_string(lesson_path("quorum/exercise-first-reply.toml")).unwrap();
    let nemesis = text.find("[nemesis]").unwrap();
    let text = format!(
        "{}[nemesis]\nfaults = [\"pause\"]\ninterval = \"150us\"\nheal_after = \"75us\"\nstop = \"1500ms\"\n",
        &text[..nemesis]
    );
    let s = load_str(&distlab::protocols::registry(), "dense.toml", &text).unwrap_or_else(|e| panic!("{e}"));
    let schedule = s.nemesis.as_ref().unwrap().schedule(1, 3, &s.clocks).len();
    assert!(schedule >= 10_000, "{schedule} faults");
    let grader = Grader::of_lesson(&s);
    let budget = ShrinkBudget { runs: 60, ..ShrinkBudget::default() };
    let shrunk = distlab::check::shrink::shrink(&grader, 1, budget).expect("seed 1 fails");
    assert!(shrunk.runs <= budget.runs, "{} runs", shrunk.runs);
    assert!(shrunk.faults.len() <= 4, "{} faults kept", shrunk.faults.len());
    assert_eq!(shrunk.failure.check, "fresh-reads");
    assert_eq!(shrunk.schedule, schedule);

    // A budget too small to finish: it says it gave up, and what it kept
    // still fails.
    let tight =
        distlab::check::shrink::shrink(&grader, 1, ShrinkBudget { runs: 5, ..ShrinkBudget::default() })
            .unwrap();
    assert!(tight.gave_up);
    assert_eq!(tight.runs, 5);
    assert!(tight.faults.len() < schedule / 2, "the faults after the violation go in the second run");
    assert!(tight.runs_in_words().starts_with("gave up after 5 runs"), "{}", tight.runs_in_words());

    // Too many faults kept for a scenario file: an error, not a file
    // that does not load.
    let err =
        distlab::check::shrink::shrink(&grader, 1, ShrinkBudget { runs: 1, timeline: 100 }).unwrap_err();
    assert!(matches!(err, ShrinkError::TooLarge { runs: 1, .. }), "{err:?}");
    assert!(err.to_string().contains("gave up after 1 runs"), "{err}");

    let dir = scratch("dense");
    let (file, out) = (dir.join("dense.toml"), dir.join("cx.toml"));
    std::fs::write(&file, &text).unwrap();
    let status = distlab(&[
        "check",
        file.to_str().unwrap(),
        "--seeds",
        "1..2",
        "--save-counterexample",
        out.to_str().unwrap(),
        "--shrink-runs",
        "5",
        "--json",
    ]);
    let stdout = String::from_utf8_lossy(&status.stdout);
    assert_eq!(status.status.code(), Some(1), "{stdout}{}", String::from_utf8_lossy(&status.stderr));
    let json = json_of(&status);
    let cx = &json["counterexample"];
    assert_eq!((cx["runs"].as_u64(), cx["gave_up"].as_bool()), (Some(5), Some(true)), "{cx:#}");
    assert_eq!(cx["schedule"].as_u64(), Some(schedule as u64));
    let saved = std::fs::read_to_string(&out).unwrap();
    assert!(saved.contains("gave up after 5 runs"), "{}", &saved[..400]);
    std::fs::remove_dir_all(&dir).ok();
}

/// A check the lesson names is judged at the end of its story, as
/// `distlab run` judges it; a check graded only because the protocol
/// promises it is judged once the liveness phase has healed the faults.
/// Masters split by a partition that lasts to the end have not converged
/// at the end; after the liveness phase they have. And the failure of a
/// check that broke before the end carries the detail `distlab run`
/// shows for that seed (not the one after the liveness phase, which has
/// counted more operations).
#[test]
fn a_named_check_is_judged_at_the_end_and_a_promised_one_once_settled() {
    let text = std::fs::read_to_string(lesson_path("multi-master/partition-heal.toml")).unwrap();
    let heal = text.find("[[timeline]]\nat = \"1200ms\"").unwrap();
    let unhealed = &text[..heal];
    let s = load_str(&distlab::protocols::registry(), "unhealed.toml", unhealed)
        .unwrap_or_else(|e| panic!("{e}"));
    let promised = Grader::of_lesson(&s);
    assert!(!promised.plan.item("convergence").unwrap().named);
    let r = promised.seed(33);
    assert!(r.failure.is_none(), "convergence holds once the partition heals: {:?}", r.failure);

    let named = format!("{unhealed}\n[[expect]]\ncheck = \"convergence\"\nholds = true\n");
    let s =
        load_str(&distlab::protocols::registry(), "unhealed.toml", &named).unwrap_or_else(|e| panic!("{e}"));
    let f = Grader::of_lesson(&s).seed(33).failure.expect("the lesson's own end has not converged");
    assert_eq!((f.check.as_str(), f.phase), ("convergence", distlab::check::grade::Phase::Scenario));
    let mut run = s.protocol.build(&s, distlab::protocols::RunOptions::default());
    run.run_until(s.duration);
    assert_eq!(run.report().verdict("convergence").unwrap().detail, f.detail);

    // An online check's detail is the one `distlab run --seed 1` shows.
    let lesson = distlab::scenario::load(
        &distlab::protocols::registry(),
        &lesson_path("quorum/exercise-first-reply.toml"),
    )
    .unwrap();
    let f = Grader::of_lesson(&lesson).seed(1).failure.unwrap();
    let options = distlab::protocols::RunOptions { seed: Some(1), ..Default::default() };
    let mut run = lesson.protocol.build(&lesson, options);
    run.run_until(lesson.duration);
    assert_eq!(run.report().verdict("fresh-reads").unwrap().detail, f.detail);
}

/// Regression: echo's pinger never stops sending, so the liveness phase
/// found pings in flight in every seed and reported them as pending (2000
/// of 2000 seeds of basics/latency). Only a ping unanswered for longer
/// than `patience` — what breaks `every-ping-answered` — is pending: none
/// on a healthy network, the lost ones behind a partition.
#[test]
fn echo_reports_only_lost_pings_as_pending() {
    let healthy =
        distlab::scenario::load(&distlab::protocols::registry(), &lesson_path("basics/latency.toml"))
            .unwrap();
    let r = Grader::of_lesson(&healthy).seed(0);
    assert!(r.pending.is_empty(), "{:?}", r.pending);
    let cut = distlab::scenario::load(&distlab::protocols::registry(), &lesson_path("basics/partition.toml"))
        .unwrap();
    let r = Grader::of_lesson(&cut).seed(0);
    assert!(r.pending.first().is_some_and(|p| p.ends_with("is unanswered")), "{:?}", r.pending);
}

/// Regression: a counterexample found under `--nemesis aggressive` was
/// written without the disk latency that nemesis adds (1ms per durable
/// write), so its file replayed another run (primary-replica/
/// replication-modes seed 87 under aggressive: its file showed n3 where
/// the seed showed n2). The file now says `disk_latency` in `[cluster]`.
#[test]
fn a_counterexample_keeps_the_aggressive_nemesis_s_disk_latency() {
    use distlab::check::harness::NemesisChoice;
    use distlab::check::shrink::{Shrunk, counterexample_file};
    let path = lesson_path("primary-replica/replication-modes.toml");
    let source = std::fs::read_to_string(&path).unwrap();
    let lesson = distlab::scenario::load(&distlab::protocols::registry(), &path).unwrap();
    assert_eq!(lesson.disk_latency, SimDuration::ZERO);
    let (scenario, grading) = NemesisChoice::Aggressive.apply(&lesson).unwrap();
    let grader = Grader::new(scenario, grading, SimDuration::from_secs(10));
    let shrunk = Shrunk {
        seed: 87,
        faults: Vec::new(),
        ops: lesson.clients.iter().map(|c| c.ops).collect(),
        failure: distlab::check::grade::Failure {
            seed: 87,
            check: "liveness".into(),
            detail: "pending".into(),
            at: None,
            phase: distlab::check::grade::Phase::Liveness,
            causes: Vec::new(),
        },
        runs: 1,
        gave_up: false,
        schedule: 16,
    };
    let text = counterexample_file(&grader, &source, &shrunk, "x").unwrap();
    let saved =
        load_str(&distlab::protocols::registry(), "cx.toml", &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(saved.disk_latency, grader.scenario.disk_latency, "{text}");
    assert_eq!(saved.disk_latency, SimDuration::from_millis(1));
}

/// Regression: a failure found in the liveness phase (after the
/// scenario's end) put the counterexample's note at the failure's time,
/// after the end, and the file did not load (primary-replica/split-brain
/// seed 77 under --nemesis aggressive: "`at` is after the end of the
/// scenario"). The note now goes at the end.
#[test]
fn a_counterexample_of_a_liveness_phase_failure_loads() {
    use distlab::check::shrink::{Shrunk, counterexample_file};
    let path = lesson_path("primary-replica/split-brain.toml");
    let source = std::fs::read_to_string(&path).unwrap();
    let lesson = distlab::scenario::load(&distlab::protocols::registry(), &path).unwrap();
    let grader = Grader::of_lesson(&lesson);
    let shrunk = Shrunk {
        seed: 77,
        faults: Vec::new(),
        ops: lesson.clients.iter().map(|c| c.ops).collect(),
        failure: distlab::check::grade::Failure {
            seed: 77,
            check: "log-prefix".into(),
            detail: "n2 copied index 36 (epoch 0) from n1 with a different history".into(),
            at: Some(lesson.duration.after(SimDuration::from_millis(14))),
            phase: distlab::check::grade::Phase::Liveness,
            causes: Vec::new(),
        },
        runs: 1,
        gave_up: false,
        schedule: 16,
    };
    let text = counterexample_file(&grader, &source, &shrunk, "x").unwrap();
    load_str(&distlab::protocols::registry(), "cx.toml", &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    // `run` stops at the end, before the phase: the file says to replay
    // it with check.
    assert!(text.contains("replay it with `distlab check FILE --seeds 77..78`"), "{text}");
    assert!(!text.contains("Replay it with `distlab run`"), "{text}");
}

/// The engine's budget applies to every seed `check` runs: a file whose
/// run spins at one instant (zero-latency echo, from the hostile corpus)
/// fails as `halt` under a lowered budget, counted apart, with the
/// engine's reason, and check ends (exit 1) instead of spinning.
#[test]
fn a_seed_over_the_engine_budget_fails_as_halt() {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/hostile/budget-bound/echo-zero-latency.toml");
    let out = distlab(&[
        "check",
        file.to_str().unwrap(),
        "--seeds",
        "0..2",
        "--jobs",
        "1",
        "--max-events-per-instant",
        "10000",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let json = json_of(&out);
    assert_eq!(json["halted"], 2, "{json}");
    assert_eq!(json["failed"], 2, "{json}");
    let first = json["failures"][0].to_string();
    assert!(first.contains("halt") && first.contains("10000"), "{first}");
}

/// A seed that fails during the scenario shrinks to a counterexample that
/// fails during the scenario too, so `distlab run` on the file shows it.
/// (The stale-vote exercise's seed 0 once shrank to one pause whose
/// failure came only after the liveness phase healed it: the file said
/// "replay it with distlab run", and the run held.)
#[test]
fn a_counterexample_replays_with_run_when_the_failure_did() {
    let out = std::env::temp_dir().join(format!("distlab-cx-run-{}.toml", std::process::id()));
    let checked = distlab(&[
        "check",
        "primary-replica/exercise-stale-vote",
        "--seeds",
        "0..1",
        "--save-counterexample",
        out.to_str().unwrap(),
    ]);
    assert_eq!(checked.status.code(), Some(1));
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(!text.contains("liveness phase"), "{text}");
    let ran = distlab(&["run", out.to_str().unwrap()]);
    std::fs::remove_file(&out).ok();
    let stdout = String::from_utf8_lossy(&ran.stdout);
    assert!(stdout.contains("BROKEN acked-writes-durable"), "{stdout}");
    assert_eq!(ran.status.code(), Some(0), "the file's expectation (it breaks) is met: {stdout}");
}

/// Regression (issue 11): primary-replica under the aggressive nemesis did
/// not settle in these seeds. A deposed primary kept entries past the end
/// of the new primary's log, which heartbeats matched and never truncated
/// (replication-modes 25, read-your-writes 155; see
/// `tests/regressions/pr-lingering-entries.toml`), or its divergent
/// entries were walked back one per round trip, too slowly for the
/// liveness phase (replication-modes 619; `pr-walk-back.toml`).
#[test]
fn primary_replica_settles_after_the_aggressive_nemesis() {
    for (lesson, seed) in [("replication-modes", 25), ("replication-modes", 619), ("read-your-writes", 155)] {
        let (lesson, seeds) = (format!("primary-replica/{lesson}"), format!("{seed}..{}", seed + 1));
        let out = distlab(&["check", &lesson, "--nemesis", "aggressive", "--seeds", &seeds, "--json"]);
        let json = json_of(&out);
        let liveness = graded(&json, LIVENESS);
        assert_eq!(liveness["met"], true, "{lesson} seed {seed}: {liveness:#}");
        assert_eq!(out.status.code(), Some(0), "{lesson} seed {seed}: {json:#}");
    }
}
