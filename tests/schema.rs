//! The scenario format's JSON Schema (`distlab schema`,
//! `distlab::scenario::schema`): every bundled lesson, regression, book
//! example and reference example validates against it; files with a
//! mistake the schema can see fail it (and the loader too); the copy
//! committed for editors (`scenarios/scenario.schema.json`) is current.

use distlab::protocols::registry;
use distlab::scenario::library::scenario_files;
use serde_json::Value;
use std::path::{Path, PathBuf};

const URL: &str = "file:///scenario.schema.json";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn schema() -> Value {
    distlab::scenario::schema::json_schema(&registry())
}

/// The schema, compiled by an independent validator.
struct Validator {
    schemas: boon::Schemas,
    index: boon::SchemaIndex,
}

impl Validator {
    fn new() -> Self {
        let mut schemas = boon::Schemas::new();
        let mut compiler = boon::Compiler::new();
        compiler.add_resource(URL, schema()).unwrap();
        let index =
            compiler.compile(URL, &mut schemas).unwrap_or_else(|e| panic!("the schema compiles: {e:#}"));
        Validator { schemas, index }
    }

    /// `Err(why)` when the TOML text does not fit the schema.
    fn check(&self, text: &str) -> Result<(), String> {
        let value: Value = toml::from_str(text).map_err(|e| format!("not TOML: {e}"))?;
        self.schemas.validate(&value, self.index).map_err(|e| format!("{e:#}"))
    }
}

/// The bundled scenario files: lessons, regressions, the book's examples
/// (but the one with a mistake), the hostile corpus's valid files.
fn bundled() -> Vec<PathBuf> {
    let mut files = scenario_files(&root().join("scenarios"));
    for dir in ["tests/regressions", "book/examples", "tests/hostile/valid"] {
        files.extend(scenario_files(&root().join(dir)));
    }
    files.retain(|f| !f.starts_with(root().join("book/examples/mistakes")));
    files
}

/// The complete scenarios shown in the reference (`toml` blocks with a
/// `[scenario]` table).
fn reference_examples() -> Vec<String> {
    let text = std::fs::read_to_string(root().join("book/src/reference.md")).unwrap();
    let mut out = Vec::new();
    let mut block: Option<String> = None;
    for line in text.lines() {
        match (&mut block, line.trim_start()) {
            (None, l) if l.starts_with("```toml") => block = Some(String::new()),
            (Some(b), l) if l.starts_with("```") => {
                if b.contains("[scenario]") {
                    out.push(b.clone());
                }
                block = None;
            }
            (Some(b), _) => {
                b.push_str(line);
                b.push('\n');
            }
            _ => {}
        }
    }
    out
}

#[test]
fn every_bundled_scenario_fits_the_schema() {
    let v = Validator::new();
    let files = bundled();
    assert!(files.len() > 80, "{} files", files.len());
    let mut problems = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        if let Err(e) = v.check(&text) {
            problems.push(format!("{}: {e}", f.display()));
        }
        // Each of them loads, so what the schema accepts here, the loader
        // does too.
        distlab::scenario::load(&registry(), f).unwrap_or_else(|e| panic!("{e}"));
    }
    let examples = reference_examples();
    assert!(!examples.is_empty());
    for (i, text) in examples.iter().enumerate() {
        if let Err(e) = v.check(text) {
            problems.push(format!("reference.md example {i}: {e}"));
        }
    }
    assert!(
        problems.is_empty(),
        "{} files do not fit the schema:\n{}",
        problems.len(),
        problems.join("\n\n")
    );
}

/// The book's example of a mistyped parameter fails the schema, and so do
/// files with one mistake the schema can see; the loader refuses each.
#[test]
fn files_with_a_mistake_fail_the_schema() {
    let v = Validator::new();
    let typo = std::fs::read_to_string(root().join("book/examples/mistakes/typo.toml")).unwrap();
    let e = v.check(&typo).unwrap_err();
    assert!(e.contains("failover_timout"), "{e}");

    let good = std::fs::read_to_string(root().join("scenarios/primary-replica/async-crash.toml")).unwrap();
    v.check(&good).unwrap();
    let mistakes = [
        // A table no scenario has.
        (format!("{good}\n[networks]\nlatency = \"1ms\"\n"), "networks"),
        // A value of the wrong type.
        (good.replacen("nodes = 3", "nodes = \"three\"", 1), "/cluster/nodes"),
        // A protocol no one registered.
        (good.replacen("protocol = \"primary-replica\"", "protocol = \"raft\"", 1), "/scenario/protocol"),
        // Another protocol's parameter.
        (good.replacen("[protocol]\n", "[protocol]\nr = 2\n", 1), "/protocol"),
        // Another protocol's check.
        (format!("{good}\n[[expect]]\ncheck = \"fresh-reads\"\n"), "/expect/"),
        // A metric no one reports.
        (format!("{good}\n[[expect]]\nmetric = \"lost_writes\"\nat_most = 0\n"), "/expect/"),
        // A name that is no choice of the parameter.
        (good.replacen("mode = \"async\"", "mode = \"eventual\"", 1), "/protocol/mode"),
    ];
    for (text, place) in &mistakes {
        assert!(text != &good, "the mistake was made: {place}");
        let e = v.check(text).expect_err(place);
        assert!(e.contains(place), "{place}: {e}");
        distlab::scenario::load_str(&registry(), "mistake.toml", text).expect_err(place);
    }
}

/// Editors read the committed copy (`.taplo.toml`): it is what
/// `distlab schema` prints. `DISTLAB_BLESS=1` rewrites it.
#[test]
fn the_committed_schema_is_current() {
    let path = root().join("scenarios/scenario.schema.json");
    let now = serde_json::to_string_pretty(&schema()).unwrap() + "\n";
    if std::env::var_os("DISTLAB_BLESS").is_some() {
        std::fs::write(&path, &now).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(committed == now, "{} is stale: run `DISTLAB_BLESS=1 cargo test --test schema`", path.display());
}

// ---- the --json outputs ----------------------------------------------------

/// What `run`, `check` and `grade` print with `--json` fits the schema
/// `distlab schema --of run|check|grade` prints — on real runs: checks
/// that hold and break (with causes), failing seeds, a counterexample, a
/// course graded.
#[test]
fn json_outputs_fit_their_schemas() {
    let exe = env!("CARGO_BIN_EXE_distlab");
    let json = |args: &[&str]| -> Value {
        let o = std::process::Command::new(exe).args(args).output().expect("distlab runs");
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e})"))
    };
    let counterexample = std::env::temp_dir().join(format!("distlab-schema-cx-{}.toml", std::process::id()));
    let cx = counterexample.to_str().unwrap();
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("run", vec!["run", "quorum/weak-quorum", "--json"]),
        ("run", vec!["run", "primary-replica/async-crash", "--json"]),
        ("run", vec!["run", "two-phase-commit/heuristic-abort", "--json"]),
        ("check", vec!["check", "quorum/strict-quorum", "--seeds", "0..3", "--json"]),
        (
            "check",
            vec![
                "check",
                "quorum/exercise-first-reply",
                "--seeds",
                "0..5",
                "--json",
                "--save-counterexample",
                cx,
            ],
        ),
        ("grade", vec!["grade", "scenarios/quorum", "--json"]),
    ];
    for (of, args) in cases {
        let schema = json(&["schema", "--of", of]);
        let mut schemas = boon::Schemas::new();
        let mut compiler = boon::Compiler::new();
        let url = format!("file:///{of}.schema.json");
        compiler.add_resource(&url, schema).unwrap();
        let index = compiler
            .compile(&url, &mut schemas)
            .unwrap_or_else(|e| panic!("{of}: the schema compiles: {e:#}"));
        let output = json(&args);
        if let Err(e) = schemas.validate(&output, index) {
            panic!("{args:?} does not fit `distlab schema --of {of}`: {e:#}");
        }
    }
    std::fs::remove_file(counterexample).ok();
    // The schemas say something: a wrong type fails.
    let schema = json(&["schema", "--of", "run"]);
    let mut schemas = boon::Schemas::new();
    let mut compiler = boon::Compiler::new();
    compiler.add_resource("file:///run.schema.json", schema).unwrap();
    let index = compiler.compile("file:///run.schema.json", &mut schemas).unwrap();
    let mut output = json(&["run", "quorum/weak-quorum", "--json"]);
    output["events"] = Value::String("many".into());
    assert!(schemas.validate(&output, index).is_err(), "a string where a count belongs is caught");
}
