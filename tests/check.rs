//! `distlab check`: many seeds, deterministic whatever the thread count,
//! failing seeds found and reported with exit status 1.

use distlab::cli::check::{check_seeds, parse_seeds};
use distlab::scenario::{Scenario, load_str};
use std::process::Command;

/// Quorum reads and writes under a random nemesis. `extra` goes into
/// `[protocol]`.
fn quorum(protocol: &str) -> (String, Scenario) {
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
"#
    );
    let s = load_str("check-quorum.toml", &text).unwrap_or_else(|e| panic!("{e}"));
    (text, s)
}

fn seeds(range: &str) -> Vec<u64> {
    parse_seeds(range).unwrap().slice(None)
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

#[test]
fn weak_quorum_fails_seeds_and_names_the_check() {
    let (_, s) = quorum("r = 1\nw = 1");
    assert!(!s.protocol.promises_linearizability(s.params.as_ref()));
    let results = check_seeds(&s, &seeds("0..20"), 2, &|_, _| {});
    let failures: Vec<_> = results.iter().flatten().collect();
    assert!(failures.len() >= 10, "only {} of 20 seeds failed", failures.len());
    assert!(failures.iter().all(|f| f.check == "fresh-reads"), "{failures:?}");
    // The same seeds fail again: a failure is replayable.
    assert_eq!(results, check_seeds(&s, &seeds("0..20"), 1, &|_, _| {}));
}

#[test]
fn checks_a_lesson_expects_to_break_do_not_fail_a_seed() {
    let lesson = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/quorum/weak-quorum.toml");
    let s = distlab::scenario::load(&lesson).unwrap();
    assert!(check_seeds(&s, &seeds("0..10"), 2, &|_, _| {}).iter().all(Option::is_none));
}

#[test]
fn the_binary_exits_0_1_and_2() {
    let dir = std::env::temp_dir().join(format!("distlab-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bin = env!("CARGO_BIN_EXE_distlab");
    let run = |file: &std::path::Path, args: &[&str]| {
        Command::new(bin).arg("check").arg(file).args(args).output().expect("runs distlab")
    };

    let good = dir.join("good.toml");
    std::fs::write(&good, quorum("consistency = \"quorum\"\nwrite_back = true").0).unwrap();
    let out = run(&good, &["--seeds", "0..8", "--jobs", "2"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("8 checked, 0 failed"), "{text}");
    assert!(text.contains("linearizability"), "{text}");

    let bad = dir.join("bad.toml");
    std::fs::write(&bad, quorum("r = 1\nw = 1").0).unwrap();
    let out = run(&bad, &["--seeds", "0..8", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(json["failed"].as_u64().unwrap() >= 1);
    assert_eq!(json["failures"][0]["check"], "fresh-reads");
    let first = json["failures"][0]["seed"].as_u64().unwrap();
    // Sharding: the slices together find the same failing seeds.
    let mut sharded = Vec::new();
    for i in 1..=3 {
        let out = run(&bad, &["--seeds", "0..8", "--json", "--shard", &format!("{i}/3")]);
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        sharded.extend(json["failures"].as_array().unwrap().iter().map(|f| f["seed"].as_u64().unwrap()));
    }
    sharded.sort();
    assert_eq!(sharded[0], first);
    assert_eq!(sharded.len() as u64, json["failed"].as_u64().unwrap());

    assert_eq!(run(&good, &["--seeds", "9..3"]).status.code(), Some(2));
    assert_eq!(run(&good, &["--shard", "4/3"]).status.code(), Some(2));
    assert_eq!(run(&dir.join("missing.toml"), &[]).status.code(), Some(2));
    std::fs::remove_dir_all(&dir).ok();
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
"#;
    let s = load_str("pr-nemesis.toml", text).unwrap();
    let schedule = s.nemesis.as_ref().unwrap().schedule(4, 3, &s.clocks).len();
    let shrunk = distlab::cli::shrink::shrink(&s, 4, false).expect("seed 4 fails");
    assert!(shrunk.faults.len() < schedule, "{} of {schedule} faults kept", shrunk.faults.len());
    assert_eq!(shrunk.failure.check, "no-stale-reads");

    let dir = std::env::temp_dir().join(format!("distlab-shrink-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (file, out) = (dir.join("pr.toml"), dir.join("cx.toml"));
    std::fs::write(&file, text).unwrap();
    let bin = env!("CARGO_BIN_EXE_distlab");
    let status = Command::new(bin)
        .args([
            "check",
            file.to_str().unwrap(),
            "--seeds",
            "4..5",
            "--save-counterexample",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(status.status.code(), Some(1), "{}", String::from_utf8_lossy(&status.stderr));
    let saved = std::fs::read_to_string(&out).unwrap();
    assert!(!saved.contains("[nemesis]"), "{saved}");
    assert!(saved.contains("crash = \"n1\"") || saved.contains("pause = ") || saved.contains("partition = "));
    assert!(saved.contains("note = ") && saved.contains("check = \"no-stale-reads\""), "{saved}");
    let replay = Command::new(bin).args(["run", out.to_str().unwrap()]).output().unwrap();
    let stdout = String::from_utf8_lossy(&replay.stdout);
    assert_eq!(replay.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("ok   no-stale-reads breaks"), "{stdout}");
    std::fs::remove_dir_all(&dir).ok();
}
