//! The known-buggy variants: for each exercise lesson, `distlab check`
//! finds a failing seed within a stated bound, and the same scenario
//! without its `bug` line passes the same seeds.

use distlab::check::harness::{check_seeds, parse_seeds};
use distlab::scenario::load_str;
use std::path::Path;

/// (exercise, the check that must break, seeds searched).
const EXERCISES: &[(&str, &str, &str)] = &[
    ("quorum/exercise-first-reply.toml", "fresh-reads", "0..10"),
    ("primary-replica/exercise-stale-vote.toml", "acked-writes-durable", "0..10"),
    ("two-phase-commit/exercise-commit-on-timeout.toml", "atomicity", "0..10"),
    ("saga/exercise-keys-in-memory.toml", "semantic-atomicity", "0..10"),
    ("multi-master/exercise-tie-by-arrival.toml", "convergence", "0..10"),
];

#[test]
fn every_buggy_variant_is_caught_and_the_correct_protocol_passes() {
    for &(file, check, range) in EXERCISES {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("\nbug = "), "{file} names its bug");
        let seeds = parse_seeds(range).unwrap().slice(None);

        let buggy = load_str(&distlab::protocols::registry(), file, &text).unwrap_or_else(|e| panic!("{e}"));
        let found = check_seeds(&buggy, &seeds, 2, &|_, _| {});
        let first =
            found.iter().flatten().next().unwrap_or_else(|| panic!("{file}: no failing seed in {range}"));
        assert_eq!(first.check, check, "{file}: {}", first.detail);

        let correct: String =
            text.lines().filter(|l| !l.starts_with("bug = ")).map(|l| format!("{l}\n")).collect();
        let correct =
            load_str(&distlab::protocols::registry(), file, &correct).unwrap_or_else(|e| panic!("{e}"));
        let passed = check_seeds(&correct, &seeds, 2, &|_, _| {});
        assert!(
            passed.iter().all(Option::is_none),
            "{file} without its bug: {:?}",
            passed.iter().flatten().next()
        );
    }
}

/// Every exercise lesson is in the table above.
#[test]
fn every_exercise_is_listed() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    for f in distlab::scenario::library::scenario_files(&dir) {
        let rel = f.strip_prefix(&dir).unwrap().to_string_lossy().replace('\\', "/");
        // Those under explore/ are graded by search (tests/explore.rs).
        if f.file_stem().unwrap().to_string_lossy().starts_with("exercise-") && !rel.starts_with("explore/") {
            assert!(EXERCISES.iter().any(|e| e.0 == rel), "{rel} is not in EXERCISES");
        }
    }
}
