//! `distlab grade`, end to end: the bundled course, a failing exercise
//! and its solution, the JSON it prints, and bad input.

use std::path::{Path, PathBuf};
use std::process::Output;

mod common;
use common::distlab;

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(o)))
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("distlab-grade-test-{}-{name}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The keys of a JSON object, sorted.
fn keys(v: &serde_json::Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().expect("an object").keys().map(String::as_str).collect();
    k.sort();
    k
}

/// The bundled course, each lesson at its own seed (the story it tells):
/// every lesson passes; the exercises pass or fail as their bug shows at
/// that seed, and the exit status says whether all passed. The JSON has
/// the fields the checking chapter documents.
#[test]
fn the_bundled_course_grades() {
    let o = distlab(&["grade", "scenarios", "--json", "-j", "2"]);
    let v = json(&o);
    assert_eq!(keys(&v), ["lessons", "passed", "seeds", "total"]);
    assert!(v["seeds"].is_null(), "each lesson at its own seed");
    let lessons = v["lessons"].as_array().unwrap();
    let on_disk = walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios"));
    assert_eq!(lessons.len(), on_disk, "every lesson of the folder, once");
    assert_eq!(v["total"]["lessons"], on_disk);
    for l in lessons {
        assert_eq!(
            keys(l),
            [
                "checked",
                "failed",
                "first_failure",
                "graded",
                "lesson",
                "met",
                "passed",
                "protocol",
                "replay",
                "scenario",
                "seeds",
                "seeds_passed"
            ]
        );
        let name = l["lesson"].as_str().unwrap();
        assert!(name.starts_with("scenarios/") && name.ends_with(".toml"), "{name}");
        assert_eq!(l["checked"], 1, "{name}");
        if !name.contains("/exercise-") {
            assert_eq!(l["passed"], true, "{name}: {l:#}");
            assert_eq!(l["met"], l["graded"].as_array().unwrap().len(), "{name}");
        }
        assert_eq!(
            l["passed"],
            l["first_failure"].is_null() && l["met"] == l["graded"].as_array().unwrap().len()
        );
    }
    let failed = lessons.iter().filter(|l| l["passed"] == false).count();
    assert_eq!(v["total"]["failed"], failed);
    assert_eq!(v["passed"], failed == 0);
    assert_eq!(o.status.code(), Some(if failed == 0 { 0 } else { 1 }), "{}", text(&o));

    // Over a few seeds, by folder and by lesson name: one table.
    let o = distlab(&[
        "grade",
        "scenarios/basics",
        "quorum/weak-quorum",
        "saga/happy-path",
        "--seeds",
        "0..3",
        "-j",
        "2",
    ]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(t.contains("grading 7 lessons over seeds 0..3: 21 runs"), "{t}");
    assert!(t.contains("lesson"), "{t}");
    let row = t.lines().find(|l| l.starts_with("quorum/weak-quorum ")).unwrap_or_else(|| panic!("{t}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells, ["quorum/weak-quorum", "4/4", "3/3", "pass"], "{t}");
    assert!(t.contains("7 of 7 lessons passed"), "{t}");
}

fn walk(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| if p.is_dir() { walk(&p) } else { usize::from(p.extension().is_some_and(|e| e == "toml")) })
        .sum()
}

/// An unsolved exercise fails (status 1) with the check its bug breaks
/// and a command that replays it; the same exercise with the student's
/// answer (the check expected to break) passes.
#[test]
fn a_failing_exercise_fails_and_its_solution_passes() {
    let o = distlab(&["grade", "quorum/exercise-first-reply", "--seeds", "0..10", "--json", "-j", "2"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let v = json(&o);
    assert_eq!(v["passed"], false);
    assert_eq!(v["seeds"]["start"], 0);
    assert_eq!(v["seeds"]["end"], 10);
    let l = &v["lessons"][0];
    assert_eq!(l["passed"], false);
    assert_eq!(l["first_failure"]["check"], "fresh-reads");
    let seed = l["first_failure"]["seed"].as_u64().unwrap();
    assert!(l["failed"].as_u64().unwrap() >= 1 && l["seeds_passed"].as_u64().unwrap() < 10);
    assert_eq!(
        l["replay"].as_str().unwrap(),
        format!("distlab run quorum/exercise-first-reply --seed {seed}"),
        "{l:#}"
    );
    let fresh = l["graded"].as_array().unwrap().iter().find(|g| g["name"] == "fresh-reads").unwrap();
    assert_eq!(fresh["met"], false);

    let o = distlab(&["grade", "quorum/exercise-first-reply", "--seeds", "0..10", "-j", "2"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains(&format!("quorum/exercise-first-reply: seed {seed}: `fresh-reads` does not hold")),
        "{t}"
    );
    assert!(t.contains("0 of 1 lesson passed"), "{t}");

    // The student's answer: fresh-reads breaks.
    let dir = scratch("solved");
    let source = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/quorum/exercise-first-reply.toml"),
    )
    .unwrap();
    std::fs::write(
        dir.join("answer.toml"),
        format!("{source}\n[[expect]]\ncheck = \"fresh-reads\"\nholds = false\n"),
    )
    .unwrap();
    let o = distlab(&["grade", dir.to_str().unwrap(), "--seeds", "0..10", "-j", "2"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(t.contains("1 of 1 lesson passed"), "{t}");
    std::fs::remove_dir_all(&dir).ok();
}

/// A file that does not load, a missing lesson, a folder with no lesson:
/// bad input (status 2), named, and nothing is graded.
#[test]
fn bad_input_is_named_and_nothing_runs() {
    let dir = scratch("bad");
    std::fs::write(
        dir.join("a-good.toml"),
        std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/quorum/weak-quorum.toml"),
        )
        .unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.join("b-typo.toml"),
        "[scenario]\nname = \"x\"\nprotocol = \"quorom\"\nduration = \"1s\"\n",
    )
    .unwrap();
    let last_seed = scratch("last-seed");
    let weak = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/quorum/weak-quorum.toml"),
    )
    .unwrap();
    assert!(weak.contains("\nseed = 21\n"));
    std::fs::write(
        last_seed.join("max.toml"),
        weak.replace("\nseed = 21\n", "\nseed = 18446744073709551615\n"),
    )
    .unwrap();
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    for (args, says) in [
        (vec![dir.to_str().unwrap()], "b-typo.toml:3:12: unknown protocol `quorom`"),
        (vec![dir.to_str().unwrap()], "1 of 2 files do not load as scenarios; nothing was graded"),
        (vec!["quorum/weak-quorm"], "did you mean `quorum/weak-quorum`?"),
        (vec![empty.to_str().unwrap()], "a folder with no *.toml scenario files"),
        (vec!["quorum/weak-quorum", "--seeds", "5..5"], "is empty"),
        (vec![last_seed.to_str().unwrap()], "max.toml: its seed 18446744073709551615 is past the last seed"),
    ] {
        let mut all = vec!["grade"];
        all.extend(args.iter().copied());
        let o = distlab(&all);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(text(&o).contains(says), "{args:?} should say {says:?}: {}", text(&o));
        assert!(
            !text(&o).contains(" of ") || !text(&o).contains("passed"),
            "nothing was graded: {}",
            text(&o)
        );
    }
    std::fs::remove_dir_all(&dir).ok();
    std::fs::remove_dir_all(&last_seed).ok();
}
