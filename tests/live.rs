//! `distlab live`: lessons on the loopback network, one or more per
//! protocol, sped up and with faults, judged by the same checkers as the
//! simulator. Live timing is real and the machine may be loaded, so every
//! assertion is on a verdict that the lesson's physics decides whatever
//! the timing (a safety property that holds by design; a count of faults
//! the router applied), or, where a violation needs bad luck at the right
//! moment (a primary killed while writes are unreplicated, a duplicate
//! arriving while a charge is still being made), the run is retried on a
//! bounded number of seeds and the test says so.

use serde_json::Value as Json;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Seeds tried for a violation that needs the timing to cooperate.
const TRIES: u64 = 5;

/// Runs `distlab live ARGS --json`: the exit status and the summary.
fn live(args: &[&str]) -> (i32, Json) {
    let out = Command::new(env!("CARGO_BIN_EXE_distlab"))
        .arg("live")
        .args(args)
        .arg("--json")
        .output()
        .expect("distlab runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "distlab live {args:?}: {e}\nstdout:\n{stdout}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), json)
}

/// Whether check `name` held.
fn holds(run: &Json, name: &str) -> bool {
    run["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no check {name} in {run:#}"))["holds"]
        .as_bool()
        .unwrap()
}

fn metric(run: &Json, name: &str) -> f64 {
    run["metrics"][name].as_f64().unwrap_or_else(|| panic!("no metric {name} in {run:#}"))
}

fn ok_ops(run: &Json) -> u64 {
    run["ops"]["ok"].as_u64().unwrap()
}

fn happened(run: &Json) -> Vec<String> {
    run["live"]["happened"].as_array().unwrap().iter().map(|l| l.as_str().unwrap().to_string()).collect()
}

/// A scenario file in a scratch directory of its own.
fn scratch(name: &str, toml: &str) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("distlab-live-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{name}.toml"));
    std::fs::write(&file, toml).unwrap();
    (dir, file)
}

/// Sync replication keeps every acknowledged write through a replica
/// crash and a primary crash, on real sockets and disks, as in the
/// simulator.
#[test]
fn primary_replica_sync_keeps_acknowledged_writes() {
    let (_, run) = live(&["primary-replica/sync-stall", "--speed", "2"]);
    assert!(ok_ops(&run) > 0, "{run:#}");
    assert!(holds(&run, "acked-writes-durable"), "{run:#}");
    assert!(holds(&run, "log-prefix"), "{run:#}");
    assert!(metric(&run, "failovers") >= 1.0, "{run:#}");
    let faults = run["faults"].as_array().unwrap();
    assert_eq!(faults.len(), 4, "two crashes and two restarts applied: {faults:?}");
}

/// Async replication loses acknowledged writes when the primary is
/// killed while it holds writes the replicas have not been shipped. The
/// lesson kills it at 600ms, the very instant its ship timer fires, which
/// the simulator orders (the crash first) and a real machine does not;
/// this copy kills it halfway through a ship interval.
#[test]
fn primary_replica_async_loses_acknowledged_writes_under_a_primary_kill() {
    let lesson = std::fs::read_to_string("scenarios/primary-replica/async-crash.toml").unwrap();
    let toml = lesson.replace("at = \"600ms\"", "at = \"650ms\"");
    assert_ne!(toml, lesson);
    let (dir, file) = scratch("async-crash", &toml);
    let mut seen = Vec::new();
    for seed in 0..TRIES {
        let (_, run) = live(&[file.to_str().unwrap(), "--seed", &seed.to_string(), "--speed", "2"]);
        assert!(holds(&run, "log-prefix"), "{run:#}");
        if !holds(&run, "acked-writes-durable") {
            assert!(metric(&run, "lost_acked_writes") >= 1.0, "{run:#}");
            std::fs::remove_dir_all(&dir).unwrap();
            return;
        }
        seen.push(metric(&run, "acked_writes"));
    }
    panic!("no acknowledged write lost in {TRIES} seeds (acknowledged: {seen:?})");
}

/// Two-phase commit keeps atomicity and conserves money with its
/// coordinator crashing mid-protocol.
#[test]
fn two_phase_commit_stays_atomic_through_a_coordinator_crash() {
    for lesson in ["two-phase-commit/coordinator-crash", "two-phase-commit/coordinator-recovery"] {
        let (_, run) = live(&[lesson, "--speed", "2"]);
        for check in ["atomicity", "conservation", "agrees-with-coordinator"] {
            assert!(holds(&run, check), "{lesson}: {check}\n{run:#}");
        }
        assert!(!run["faults"].as_array().unwrap().is_empty(), "{lesson}: faults applied");
    }
}

/// Without idempotency keys, the network's duplicates charge a customer
/// twice; with them, every action takes effect once and money balances.
#[test]
fn saga_double_charges_without_keys_and_not_with_them() {
    let (_, run) = live(&["saga/duplicates-idempotent", "--speed", "2"]);
    assert!(holds(&run, "applied-once"), "{run:#}");
    assert!(holds(&run, "money-conserved"), "{run:#}");
    // Broke once on the first version ("saga 32 took effect or was
    // acknowledged, but never began"), which both let a stale reply
    // complete the current operation and recorded observations after
    // earlier sends; not reproduced since with either reverted alone.
    assert!(holds(&run, "semantic-atomicity"), "{run:#}");
    assert!(metric(&run, "duplicates_suppressed") >= 1.0, "the router duplicated requests: {run:#}");
    for seed in 0..TRIES {
        let (_, run) = live(&["saga/duplicates-double-charge", "--seed", &seed.to_string(), "--speed", "2"]);
        if !holds(&run, "applied-once") {
            assert!(metric(&run, "double_charges") >= 1.0, "{run:#}");
            return;
        }
    }
    panic!("no double charge in {TRIES} seeds");
}

/// Strict quorums (R + W > N) read fresh values on the real network too.
#[test]
fn quorum_strict_reads_are_fresh() {
    let (_, run) = live(&["quorum/strict-quorum", "--speed", "2"]);
    assert!(ok_ops(&run) > 0, "{run:#}");
    assert!(holds(&run, "fresh-reads"), "{run:#}");
}

/// Multi-master last-writer-wins converges after a partition heals. Live
/// writes are slower than simulated ones (each waits for a real fsync), so
/// the lesson's 150 writes per client would still be arriving at the end,
/// when convergence is judged; this copy issues 30, done well before.
#[test]
fn multi_master_converges_after_a_partition() {
    let lesson = std::fs::read_to_string("scenarios/multi-master/partition-heal.toml").unwrap();
    let toml = lesson.replace("ops = 150", "ops = 30");
    assert_ne!(toml, lesson);
    let (dir, file) = scratch("partition-heal", &toml);
    let (_, run) = live(&[file.to_str().unwrap(), "--speed", "2"]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(run["ops"]["invoked"], 60, "the workload ran to its end: {run:#}");
    assert!(holds(&run, "convergence"), "{run:#}");
    assert!(holds(&run, "lww-greatest"), "{run:#}");
    let faults = run["faults"].as_array().unwrap();
    assert!(faults.iter().any(|f| f.as_str().unwrap().contains("partition")), "{faults:?}");
}

/// The router applies the lesson's loss and duplication (seeded
/// decisions): echo's pings see both.
#[test]
fn echo_sees_the_lessons_loss_and_duplication() {
    let (_, run) = live(&["basics/loss-duplication", "--speed", "2"]);
    assert!(metric(&run, "messages_dropped") >= 1.0, "{run:#}");
    assert!(metric(&run, "messages_duplicated") >= 1.0, "{run:#}");
    assert!(metric(&run, "duplicate_pongs") >= 1.0, "{run:#}");
}

/// The numbers in `n1 crashed: 12 fsynced write(s) stay in its log, 3
/// appended and not yet fsynced are lost`.
fn crash_counts(line: &str) -> (usize, usize) {
    let words: Vec<&str> = line.split_whitespace().collect();
    let kept = words.iter().position(|w| *w == "fsynced").map(|i| words[i - 1].parse().unwrap()).unwrap();
    let lost = words.iter().position(|w| *w == "appended").map(|i| words[i - 1].parse().unwrap()).unwrap();
    (kept, lost)
}

fn records(log: &Path) -> usize {
    std::fs::read_to_string(log).unwrap().lines().count()
}

/// A node killed while writes sit in its log unsynced (the disk takes
/// 40ms; writes arrive every few ms) loses exactly those: the log it
/// leaves holds the fsynced records and nothing else, and a restart
/// recovers exactly them. n2 is killed for good (its log file is counted);
/// n3 is killed and restarted (its recovery is counted).
#[test]
fn a_killed_node_keeps_only_its_fsynced_writes() {
    let toml = r#"
[scenario]
name = "kill-mid-write"
protocol = "primary-replica"
seed = 1
duration = "1500ms"

[cluster]
nodes = 3
disk_latency = "40ms"

[protocol]
mode = "async"
ship_interval = "10ms"

[network]
latency = "2ms"

[[clients]]
name = "writer"
processes = 4
ops = 2000
interval = "2ms"
read_fraction = 0.0
keys = 8
target = "primary"
timeout = "300ms"
retries = 3

[[timeline]]
at = "700ms"
crash = "n2"

[[timeline]]
at = "710ms"
crash = "n3"

[[timeline]]
at = "1000ms"
restart = "n3"
"#;
    let (dir, file) = scratch("kill-mid-write", toml);
    let logs = dir.join("logs");
    for seed in 0..TRIES {
        let _ = std::fs::remove_dir_all(&logs);
        let (_, run) =
            live(&[file.to_str().unwrap(), "--seed", &seed.to_string(), "--logs", logs.to_str().unwrap()]);
        let lines = happened(&run);
        let crash = |n: &str| {
            let line = lines
                .iter()
                .find(|l| l.contains(&format!("{n} crashed")))
                .unwrap_or_else(|| panic!("{lines:?}"));
            crash_counts(line)
        };
        let (n2_kept, n2_lost) = crash("n2");
        let (n3_kept, n3_lost) = crash("n3");
        // What is on disk after the kill is exactly what was fsynced.
        assert_eq!(records(&logs.join("n2.log")), n2_kept, "{lines:?}");
        let recovered =
            lines.iter().find(|l| l.contains("n3 recovered")).unwrap_or_else(|| panic!("{lines:?}"));
        assert!(recovered.contains(&format!("recovered {n3_kept} write(s)")), "{recovered} after {lines:?}");
        assert!(n2_kept > 0 && n3_kept > 0, "{lines:?}");
        if n2_lost + n3_lost > 0 {
            std::fs::remove_dir_all(&dir).unwrap();
            return;
        }
    }
    panic!("no kill caught a write between its append and its fsync in {TRIES} seeds");
}

/// Expectations marked `sim_only` (they rest on the simulator's exact
/// timing) are listed as not judged live and left out of the verdict;
/// the others are judged as `run` judges them.
#[test]
fn sim_only_expectations_are_not_judged_live() {
    let (_, run) = live(&["primary-replica/async-crash", "--speed", "2"]);
    let skipped: Vec<&str> =
        run["live"]["sim_only"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    assert_eq!(skipped, ["acked-writes-durable breaks", "lost_acked_writes >= 1"], "{run:#}");
    let judged: Vec<&str> =
        run["expectations"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(judged, ["log-prefix holds", "failovers >= 1", "acked-on-a-replica breaks"], "{run:#}");
}

/// A lesson that models load (service times, open-loop arrivals) runs
/// live on this machine's capacity: its expectations on the simulator's
/// load metrics are not judged (they would read "no such metric"), the
/// others are.
#[test]
fn the_simulators_load_model_is_not_judged_live() {
    let (code, run) = live(&["capacity/read-scaling", "--speed", "8"]);
    let skipped: Vec<&str> =
        run["live"]["sim_only"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    assert_eq!(skipped, ["read_throughput_ops_s >= 2500", "utilisation_max <= 0.97"], "{run:#}");
    assert_eq!(code, 0, "{run:#}");
}

/// `--trace` writes `run --trace`'s format, which `distlab plot` and
/// `distlab export` read: the router's duplicates and the client history
/// are in it.
#[test]
fn a_live_trace_is_read_by_plot_and_export() {
    let (dir, _) = scratch("trace", "");
    let trace = dir.join("live.jsonl");
    let (_, run) = live(&["basics/loss-duplication", "--speed", "2", "--trace", trace.to_str().unwrap()]);
    let text = std::fs::read_to_string(&trace).unwrap();
    let kinds: std::collections::BTreeSet<String> = text
        .lines()
        .map(|l| serde_json::from_str::<Json>(l).unwrap()["kind"].as_str().unwrap().to_string())
        .collect();
    for kind in ["run", "send", "deliver", "drop", "duplicate", "sample"] {
        assert!(kinds.contains(kind), "no {kind} line in the trace: {kinds:?}");
    }
    let duplicates = text.lines().filter(|l| l.contains("\"kind\":\"duplicate\"")).count() as f64;
    assert_eq!(duplicates, metric(&run, "messages_duplicated"), "every duplicate the router made is traced");
    let plot = Command::new(env!("CARGO_BIN_EXE_distlab"))
        .args(["plot", trace.to_str().unwrap(), "--no-png", "--out"])
        .arg(dir.join("charts"))
        .output()
        .unwrap();
    assert!(plot.status.success(), "{}", String::from_utf8_lossy(&plot.stderr));
    assert!(dir.join("charts/messages_in_flight-over-time.svg").exists());
    // A lesson with clients: its history exports.
    let (_, _) = live(&["quorum/strict-quorum", "--speed", "2", "--trace", trace.to_str().unwrap()]);
    let export = Command::new(env!("CARGO_BIN_EXE_distlab"))
        .args(["export", trace.to_str().unwrap(), "--format", "jepsen"])
        .output()
        .unwrap();
    assert!(export.status.success(), "{}", String::from_utf8_lossy(&export.stderr));
    let history = String::from_utf8_lossy(&export.stdout);
    assert!(history.lines().any(|l| l.contains(":type :ok")), "{history}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The router keeps the lesson's link order: with `reorder` it reorders
/// (echo counts pongs overtaking earlier ones), and on FIFO links it never
/// does — though the runtime's timers have a millisecond's grain and
/// wake datagrams due within one millisecond in any order.
#[test]
fn the_router_reorders_only_where_the_lesson_says() {
    let (_, run) = live(&["basics/reordering", "--speed", "2"]);
    assert!(metric(&run, "reordered_pongs") >= 1.0, "{run:#}");
    let lesson = std::fs::read_to_string("scenarios/basics/reordering.toml").unwrap();
    let toml = lesson.replace("reorder = 0.1\nreorder_delay = \"20ms\"", "fifo = true");
    assert_ne!(toml, lesson);
    let (dir, file) = scratch("fifo", &toml);
    for speed in ["2", "10"] {
        let (_, run) = live(&[file.to_str().unwrap(), "--speed", speed]);
        assert!(metric(&run, "messages_delivered") >= 100.0, "{run:#}");
        assert_eq!(metric(&run, "reordered_pongs"), 0.0, "speed {speed}: {run:#}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
