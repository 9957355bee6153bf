//! Checks record evidence (issue 13): a violation on a real run names the
//! events that caused it, at the steps where the trace shows those
//! events; `run --json` and `run --explain` print them.

use distlab::sim::{Cause, Driver, TraceEvent, TraceKind, TraceLevel};
use std::path::Path;

/// A bundled lesson run to its end with a full trace.
fn run(rel: &str) -> Box<dyn Driver> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(rel);
    let s = distlab::scenario::load(&distlab::protocols::registry(), &path).unwrap();
    let options = distlab::protocols::RunOptions { trace: TraceLevel::Full, ..Default::default() };
    let mut d = s.protocol.build(&s, options);
    d.run_until(s.duration);
    d
}

/// The causes of `check`, which must be broken.
fn causes(d: &dyn Driver, check: &str) -> Vec<Cause> {
    let report = d.report();
    let v = report.verdict(check).unwrap_or_else(|| panic!("no check {check}"));
    assert!(!v.holds, "{check} breaks in this lesson");
    v.causes.clone()
}

/// The trace events at `step`.
fn at(d: &dyn Driver, step: u64) -> Vec<&TraceEvent> {
    d.trace().events().iter().filter(|e| e.step == step).collect()
}

/// Whether some event at `step` is of `kind`, at `node`, and says `text`.
fn shows(d: &dyn Driver, step: u64, kind: TraceKind, node: &str, text: &str) -> bool {
    at(d, step).iter().any(|e| {
        e.kind == kind && d.endpoint_name(distlab::sim::EndpointId(e.node)) == node && e.text.contains(text)
    })
}

/// Primary–replica, async replication, the primary crashes: the first
/// acknowledged write lost is named by its append at the old primary,
/// the client's acknowledgement, the crash, the election of the primary
/// without it, and the old primary's truncation that cut it — each at
/// the step where the trace shows it.
#[test]
fn a_lost_acknowledged_write_names_its_append_ack_crash_and_election() {
    let d = run("primary-replica/async-crash.toml");
    let c = causes(d.as_ref(), "acked-writes-durable");
    let what: Vec<&str> = c.iter().map(|c| c.what.as_str()).collect();
    assert_eq!(
        what,
        [
            "n1 appended k1=75 at index 75 (epoch 0)",
            "the client was told k1=75 is written",
            "n1 crashed",
            "n2 became primary in epoch 1 without k1=75",
            "n1 truncated its log to 74 entries, cutting k1=75",
        ]
    );
    let d = d.as_ref();
    assert!(
        shows(d, c[0].step, TraceKind::Observation, "n1", "appended k1=75 at index 75"),
        "{:?}",
        at(d, c[0].step)
    );
    assert!(
        shows(d, c[1].step, TraceKind::Complete, "writer.0", "write k1=75 -> Ok"),
        "{:?}",
        at(d, c[1].step)
    );
    assert!(shows(d, c[2].step, TraceKind::Crash, "n1", "crashes"), "{:?}", at(d, c[2].step));
    assert!(
        shows(d, c[3].step, TraceKind::Note, "n2", "becomes primary in epoch 1"),
        "{:?}",
        at(d, c[3].step)
    );
    assert!(shows(d, c[4].step, TraceKind::Note, "n1", "truncates its log to 74"), "{:?}", at(d, c[4].step));
    // The write and its acknowledgement are the client's operation 75,
    // which the history view marks.
    assert_eq!((c[0].op, c[1].op, c[2].op), (Some(75), Some(75), None));
    assert!(c.windows(2).all(|w| w[0].step < w[1].step), "in step order");
}

/// Two-phase commit, a heuristic abort: atomicity names the logged
/// commit, the participant that committed, and the one that aborted on
/// its own — the last at the step the check broke.
#[test]
fn a_half_committed_transaction_names_both_decisions_and_the_log() {
    let d = run("two-phase-commit/heuristic-abort.toml");
    let d = d.as_ref();
    let c = causes(d, "atomicity");
    let what: Vec<&str> = c.iter().map(|c| c.what.as_str()).collect();
    assert_eq!(
        what,
        [
            "the coordinator logged commit for tx 1",
            "n2 decided commit for tx 1",
            "n3 decided abort (Heuristic) for tx 1",
        ]
    );
    assert!(shows(d, c[0].step, TraceKind::Observation, "n1", "logged commit for tx 1"));
    assert!(shows(d, c[1].step, TraceKind::Observation, "n2", "decided commit for tx 1"));
    assert!(shows(d, c[2].step, TraceKind::Observation, "n3", "decided abort for tx 1"));
    let broke = d.report().verdict("atomicity").unwrap().first_violation.unwrap();
    assert_eq!(c[2].at(), broke, "the last cause is the violation itself");
}

/// A quorum stale read names the newer write (begun and acknowledged)
/// and the read (begun and returned), at their history steps.
#[test]
fn a_stale_read_names_the_newer_write_and_the_read() {
    let d = run("quorum/partition-one.toml");
    let d = d.as_ref();
    let c = causes(d, "fresh-reads");
    let history = d.history();
    for cause in &c {
        let op = cause.op.expect("every cause of a stale read is a client operation's event");
        assert!(
            history.events.iter().any(|e| e.op_id == op && e.step == cause.step),
            "{cause:?}: the history shows op {op} at step {}",
            cause.step
        );
    }
    assert!(c.iter().any(|c| c.what.contains("was acknowledged")));
    assert!(c.last().unwrap().what.starts_with("the read returned"));
}

/// Every lesson that breaks a check with recorded causes names them in
/// step order, each at a step the trace has.
#[test]
fn causes_are_in_step_order_at_steps_the_trace_has() {
    for rel in [
        "saga/retries-double-charge.toml",
        "multi-master/clock-skew.toml",
        "multi-master/cart-lww.toml",
        "two-phase-commit/exercise-commit-on-timeout.toml",
    ] {
        let d = run(rel);
        let report = d.report();
        let broken: Vec<_> = report.checks.iter().filter(|v| !v.holds).collect();
        assert!(broken.iter().any(|v| !v.causes.is_empty()), "{rel}: a broken check names its causes");
        if rel.starts_with("saga/") {
            let money = report.verdict("money-conserved").unwrap();
            assert!(!money.holds && !money.causes.is_empty(), "{rel}: the saga whose money is off");
            assert!(money.causes.iter().all(|c| c.op == money.causes[0].op), "{rel}: one saga's story");
        }
        for v in broken {
            assert!(v.causes.windows(2).all(|w| w[0].step <= w[1].step), "{rel} {}", v.name);
            for c in &v.causes {
                assert!(!at(d.as_ref(), c.step).is_empty(), "{rel} {}: no event at step {}", v.name, c.step);
            }
        }
    }
}

/// `run --json` carries each broken check's causes; `--explain` lists
/// them after the story.
#[test]
fn run_prints_the_causes() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_distlab"))
        .args(["run", "two-phase-commit/heuristic-abort", "--json"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let atomicity = json["checks"].as_array().unwrap().iter().find(|c| c["name"] == "atomicity").unwrap();
    assert_eq!(atomicity["broke_at_step"], 36);
    let steps: Vec<u64> =
        atomicity["causes"].as_array().unwrap().iter().map(|c| c["step"].as_u64().unwrap()).collect();
    assert_eq!(steps, [17, 32, 36]);
    assert_eq!(atomicity["causes"][1]["what"], "n2 decided commit for tx 1");
    let held = json["checks"].as_array().unwrap().iter().find(|c| c["holds"] == true).unwrap();
    assert!(held.get("causes").is_none() && held.get("broke_at_step").is_none(), "{held}");

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_distlab"))
        .args(["run", "two-phase-commit/heuristic-abort", "--explain"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let why = text.find("Why checks broke").expect("the causes are told");
    let rest = &text[why..];
    let a = rest.find("  atomicity").unwrap();
    let n2 = rest.find("step 32").unwrap();
    let line = rest[n2..].lines().next().unwrap();
    assert!(a < n2 && line.contains("43ms") && line.ends_with("n2 decided commit for tx 1"), "{rest}");
}
