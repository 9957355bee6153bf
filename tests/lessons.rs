//! Every bundled lesson validates, runs, and meets its expectations; and
//! each check is shown to fire in a lesson where it must.

mod common;

use common::*;
use distlab::sim::TraceLevel;

/// All files under scenarios/ load and meet their own expectations.
#[test]
fn every_lesson_meets_its_expectations() {
    let files = all_lessons();
    assert!(files.len() >= 10, "the lesson library is there");
    let mut failures = Vec::new();
    for f in files {
        let s =
            distlab::scenario::load(&distlab::protocols::registry(), &f).unwrap_or_else(|e| panic!("{e}"));
        assert!(!s.description.is_empty(), "{}: a lesson explains itself", f.display());
        let exercise = f.file_stem().is_some_and(|n| n.to_string_lossy().starts_with("exercise-"));
        let searched = f.parent().is_some_and(|d| d.ends_with("explore"));
        if exercise && !searched {
            // An exercise hides its answer: the student finds it with
            // `distlab check` over the nemesis's seeds (tests/exercises.rs);
            // those under explore/ with `distlab explore` (tests/explore.rs).
            assert!(s.nemesis.is_some(), "{}: an exercise has a [nemesis] to search", f.display());
        } else if !exercise {
            assert!(!s.expectations.is_empty(), "{}: a lesson states what it shows", f.display());
        }
        let (_, summary) = distlab::check::run::execute(&s, options(TraceLevel::Digest, None));
        for e in summary.expectations.iter().filter(|e| !e.met) {
            failures.push(format!("{}: {} ({})", f.display(), e.name, e.detail));
        }
    }
    assert!(failures.is_empty(), "unmet expectations:\n{}", failures.join("\n"));
}

/// Every check a lesson's run decides, every metric it reports and every
/// gauge it samples is declared: in its checker's `CHECKS`, `METRICS`,
/// `GAUGES`, or among the metrics and the gauge every run has. What is
/// declared is what `distlab list` shows, what `[[expect]]` may name, and
/// where the charts read a quantity's unit from; a metric a checker
/// reports without declaring it would be unreachable from a lesson and
/// drawn without its unit.
#[test]
fn every_reported_check_metric_and_gauge_is_declared() {
    use distlab::check::MESSAGES_IN_FLIGHT;
    let mut undeclared = Vec::new();
    let mut protocols = std::collections::BTreeSet::new();
    for f in all_lessons() {
        let s =
            distlab::scenario::load(&distlab::protocols::registry(), &f).unwrap_or_else(|e| panic!("{e}"));
        let p = &s.protocol;
        protocols.insert(p.name());
        let mut run = p.build(&s, options(TraceLevel::Digest, None));
        let samples = distlab::check::run::run_sampled(run.as_mut(), s.duration, 8);
        let report = distlab::check::report::full_report(run.as_ref());
        let checks: Vec<&str> = p.checks().iter().map(|c| c.name).collect();
        let metrics: Vec<&str> =
            p.metrics().iter().chain(distlab::protocols::GENERIC_METRICS).map(|m| m.name).collect();
        // The engine's: messages in flight, and with `[capacity]` the queues.
        let engine = [&MESSAGES_IN_FLIGHT, &distlab::sim::monitor::QUEUED, &distlab::sim::monitor::BUSY];
        let gauges: Vec<&str> = p.gauges().iter().chain(engine).map(|g| g.name).collect();
        let mut missing = |kind: &str, name: &str, declared: &[&str]| {
            if !declared.contains(&name) {
                undeclared.push(format!("{}: {} reports {kind} `{name}`, undeclared", f.display(), p.name()));
            }
        };
        for v in &report.checks {
            missing("check", v.name, &checks);
        }
        for m in report.metrics.keys() {
            missing("metric", m, &metrics);
        }
        for (g, _) in samples.iter().flat_map(|s| &s.gauges) {
            missing("gauge", g, &gauges);
        }
    }
    assert_eq!(protocols.len(), distlab::protocols::registry().len(), "every protocol has a lesson");
    assert!(undeclared.is_empty(), "{}", undeclared.join("\n"));
}

/// Each primary-replica check fires where the lesson says it must.
#[test]
fn each_check_fires() {
    let crash = run(&lesson("primary-replica/async-crash.toml"), options(TraceLevel::Digest, None));
    assert!(!holds(crash.as_ref(), "acked-writes-durable"));
    assert!(crash.report().metrics["lost_acked_writes"] >= 1.0);
    let lag = run(&lesson("primary-replica/async-lag.toml"), options(TraceLevel::Digest, None));
    assert!(!holds(lag.as_ref(), "no-stale-reads"));
    assert!(!holds(lag.as_ref(), "read-your-writes"));
    let brain = run(&lesson("primary-replica/split-brain.toml"), options(TraceLevel::Digest, None));
    assert!(!holds(brain.as_ref(), "single-primary"));
    let fenced = run(&lesson("primary-replica/fencing.toml"), options(TraceLevel::Digest, None));
    assert!(holds(fenced.as_ref(), "single-primary"), "the twin with fencing holds");
    let lossy = run(&lesson("basics/loss-duplication.toml"), options(TraceLevel::Digest, None));
    assert!(!holds(lossy.as_ref(), "every-ping-answered"));
}

/// The CLI's exit status: 0 when expectations are met, 1 when one is not,
/// 2 for bad input.
#[test]
fn exit_statuses() {
    let bin = env!("CARGO_BIN_EXE_distlab");
    let dir = env!("CARGO_MANIFEST_DIR");
    let status = |args: &[&str]| {
        std::process::Command::new(bin).args(args).current_dir(dir).output().unwrap().status.code()
    };
    assert_eq!(status(&["run", "scenarios/primary-replica/async-crash.toml"]), Some(0));
    // The fencing lesson expects single-primary to hold; with fencing off
    // (the split-brain twin) it would not. A lesson by name also works.
    assert_eq!(status(&["run", "primary-replica/fencing"]), Some(0));
    let tmp = std::env::temp_dir().join(format!("distlab-exit-{}.toml", std::process::id()));
    let text = std::fs::read_to_string(format!("{dir}/scenarios/primary-replica/fencing.toml")).unwrap();
    std::fs::write(&tmp, text.replace("fencing = true", "fencing = false")).unwrap();
    assert_eq!(status(&["run", tmp.to_str().unwrap()]), Some(1), "an unmet expectation exits 1");
    std::fs::write(&tmp, "[scenario]\nname = 'x'\n").unwrap();
    assert_eq!(status(&["run", tmp.to_str().unwrap()]), Some(2), "bad input exits 2");
    assert_eq!(status(&["validate", tmp.to_str().unwrap()]), Some(2));
    std::fs::remove_file(&tmp).ok();
    assert_eq!(status(&["validate", "scenarios/basics/latency.toml"]), Some(0));
    assert_eq!(status(&["list"]), Some(0));
}

/// A mistyped lesson name exits 2 with a suggestion.
#[test]
fn mistyped_lesson_names_get_a_suggestion() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_distlab"))
        .args(["run", "primary-replica/fencin"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("did you mean `primary-replica/fencing`?"), "{stderr}");
}
