//! Engine semantics: client histories follow the Jepsen rules, and crashes
//! lose exactly what was not on disk.

mod common;

use common::*;
use distlab::check::HistoryKind;
use distlab::nodes::NodeId;
use distlab::scenario::load_str;
use distlab::sim::{Fault, NodeStatus, SimTime, TraceKind, TraceLevel};
use std::collections::{BTreeMap, BTreeSet};

/// In every lesson's history: one invoke per operation and at most one
/// completion; a process has at most one operation open; a process whose
/// operation ended in `info` never invokes again (it was retired).
#[test]
fn histories_follow_the_jepsen_rules() {
    let mut infos = 0;
    for f in all_lessons() {
        let s = distlab::scenario::load(&distlab::protocols::registry(), &f).unwrap();
        let d = run(&s, options(TraceLevel::Digest, None));
        let mut open: BTreeMap<u32, u64> = BTreeMap::new();
        let mut invoked = BTreeSet::new();
        let mut completed = BTreeSet::new();
        let mut retired = BTreeSet::new();
        let mut last_step = 0;
        for e in &d.history().events {
            assert!(e.step >= last_step, "{}: history is in event order", f.display());
            last_step = e.step;
            match e.kind {
                HistoryKind::Invoke => {
                    assert!(invoked.insert(e.op_id), "{}: op {} invoked twice", f.display(), e.op_id);
                    assert!(
                        !retired.contains(&e.process),
                        "{}: retired process {} invoked",
                        f.display(),
                        e.process
                    );
                    assert!(
                        open.insert(e.process, e.op_id).is_none(),
                        "{}: process {} has two open ops",
                        f.display(),
                        e.process
                    );
                }
                kind => {
                    assert!(completed.insert(e.op_id), "{}: op {} completed twice", f.display(), e.op_id);
                    assert_eq!(
                        open.remove(&e.process),
                        Some(e.op_id),
                        "{}: completion matches the open op",
                        f.display()
                    );
                    if kind == HistoryKind::Info {
                        infos += 1;
                        retired.insert(e.process);
                    }
                }
            }
        }
    }
    assert!(infos > 0, "some lesson times out an operation, so the retire rule was exercised");
}

/// With a slow disk, a crash loses the writes not yet on disk, and the node
/// recovers with exactly what its disk held.
#[test]
fn a_crash_loses_unflushed_writes() {
    let s = load_str(
        &distlab::protocols::registry(),
        "disk.toml",
        r#"
[scenario]
name = "slow-disk"
protocol = "primary-replica"
duration = "1s"
[cluster]
nodes = 3
disk_latency = "30ms"
[protocol]
mode = "async"
[network]
latency = "1ms"
[[clients]]
processes = 4
ops = 1000
interval = "1ms"
read_fraction = 0.0
"#,
    )
    .unwrap();
    let mut d = s.protocol.build(&s, options(TraceLevel::Digest, None));
    d.run_until(SimTime(200_000));
    let row = |d: &dyn distlab::sim::Driver, label: &str| -> u64 {
        let v = d.nodes()[1].view.clone().expect("n2 is up");
        v.sections[0].rows.iter().find(|r| r.0 == label).unwrap().1.parse().unwrap()
    };
    let (in_memory, on_disk) = (row(d.as_ref(), "length"), row(d.as_ref(), "on disk"));
    assert!(on_disk < in_memory, "a 30ms disk lags the log ({on_disk} < {in_memory})");
    d.intervene(Fault::Crash(NodeId(1))).unwrap();
    assert_eq!(d.nodes()[1].status, NodeStatus::Down);
    assert!(d.nodes()[1].view.is_none(), "memory is gone");
    d.intervene(Fault::Restart(NodeId(1))).unwrap();
    assert_eq!(row(d.as_ref(), "length"), on_disk, "it recovers with what its disk held");
}

/// `run_until_quiet` stops once clients are done and nothing is in flight
/// (heartbeat timers alone do not keep a run busy); echo never goes quiet.
#[test]
fn run_until_quiet() {
    let s = lesson("primary-replica/async-lag.toml");
    let mut d = s.protocol.build(&s, options(TraceLevel::Digest, None));
    assert!(d.run_until_quiet(SimTime(60_000_000)), "the workload ends and the cluster settles");
    let st = d.stats();
    assert_eq!(st.ops_invoked, st.ops_ok + st.ops_fail + st.ops_info, "no operation is left open");
    assert!(d.in_flight().is_empty());
    let e = lesson("basics/latency.toml");
    let mut d = e.protocol.build(&e, options(TraceLevel::Digest, None));
    assert!(!d.run_until_quiet(SimTime(100_000)), "pings are always in flight");
    assert!(d.now() <= SimTime(100_000));
}

/// `--trace` writes one JSON object per event, in step order.
#[test]
fn trace_file_is_json_lines() {
    let out = std::env::temp_dir().join(format!("distlab-trace-{}.jsonl", std::process::id()));
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_distlab"))
        .args(["run", "basics/partition", "--trace", out.to_str().unwrap()])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
        .status;
    assert!(status.success());
    let text = std::fs::read_to_string(&out).unwrap();
    std::fs::remove_file(&out).ok();
    let events: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(events.len() > 100);
    assert!(events.windows(2).all(|w| w[0]["step"].as_u64() <= w[1]["step"].as_u64()));
    assert!(events.iter().any(|e| e["kind"] == "partition" && e["text"].as_str().unwrap().contains("{n3}")));
    assert!(
        events.iter().any(|e| e["kind"] == "deliver" && e["node"] == "n2" && e["peer"] == "n1"),
        "endpoints by name"
    );
}

/// Regression: a client retrying (5ms timeout, 20ms away) a write whose log
/// entry was already compacted must not get it appended again.
#[test]
fn retries_after_compaction_apply_once() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/regressions/compaction-idempotency.toml");
    let s = distlab::scenario::load(&distlab::protocols::registry(), &path).unwrap();
    let d = run(&s, options(TraceLevel::Digest, None));
    let r = d.report();
    assert!(
        r.verdict("writes-applied-once").unwrap().holds,
        "{}",
        r.verdict("writes-applied-once").unwrap().detail
    );
    assert!(d.stats().ops_ok >= 100);
}

/// Regression: a retry of an older write, arriving after the same client's
/// next write, must not be appended again (the primary used to recognise
/// only each client's last idempotency key).
#[test]
fn late_retries_of_finished_writes_apply_once() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/regressions/late-retry-applied-once.toml");
    let s = distlab::scenario::load(&distlab::protocols::registry(), &path).unwrap();
    let d = run(&s, options(TraceLevel::Digest, None));
    let v = d.report().verdict("writes-applied-once").unwrap().clone();
    assert!(v.holds, "{}", v.detail);
}

fn scenario(text: &str) -> distlab::scenario::Scenario {
    load_str(&distlab::protocols::registry(), "t.toml", text).unwrap_or_else(|e| panic!("{e}"))
}

const PR: &str = r#"
[scenario]
name = "t"
protocol = "primary-replica"
duration = "1s"
[cluster]
nodes = 3
[network]
latency = "1ms"
[[clients]]
name = "app"
processes = 2
ops = 100
interval = "5ms"
read_fraction = 0.0
"#;

/// A step-keyed entry with an action and a note applies both, exactly
/// before the event it names, without moving the clock.
#[test]
fn step_keyed_entries_apply_every_action() {
    let s =
        scenario(&format!("{PR}\n[[timeline]]\nat = \"0ms\"\nstep = 40\ncrash = \"n2\"\nnote = \"now\"\n"));
    let mut d = s.protocol.build(&s, options(TraceLevel::Full, None));
    d.run_until(s.duration);
    let applied: Vec<_> = d.applied_faults().iter().map(|f| f.fault.name()).collect();
    assert_eq!(applied, ["note", "crash"]);
    assert_eq!(d.nodes()[1].status, NodeStatus::Down);
    let steps: Vec<u64> = d
        .trace()
        .events()
        .iter()
        .filter(|e| e.text == "now" || e.text == "n2 crashes")
        .map(|e| e.step)
        .collect();
    assert_eq!(steps, [40, 41]);
    let times: Vec<u64> = d.trace().events().iter().map(|e| e.time_us).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "time never runs backwards");
}

/// Undoing a nemesis fault restores the scenario's own settings: after the
/// nemesis stops, configured duplication still happens.
#[test]
fn nemesis_undo_restores_the_network() {
    let text = PR.replace("latency = \"1ms\"", "latency = \"1ms\"\nduplicate = 0.2")
        + "[nemesis]\nfaults = [\"loss\"]\ninterval = \"100ms\"\nstop = \"500ms\"\n";
    let s = scenario(&text);
    let d = run(&s, options(TraceLevel::Full, None));
    assert!(d.applied_faults().iter().any(|f| f.fault.name() == "link"), "the nemesis ran");
    let late_dups = d
        .trace()
        .events()
        .iter()
        .filter(|e| e.kind == distlab::sim::TraceKind::Duplicate && e.time_us > 600_000)
        .count();
    assert!(late_dups > 0, "duplication is back after the nemesis stopped");
}

/// A cut may name a client with several processes: every process is cut.
#[test]
fn cut_names_a_multi_process_client() {
    let s =
        scenario(&format!("{PR}\n[[timeline]]\nat = \"100ms\"\ncut = {{ from = \"app\", to = \"n1\" }}\n"));
    let d = run(&s, options(TraceLevel::Digest, None));
    let cuts: Vec<_> = d.applied_faults().iter().filter(|f| f.fault.name() == "cut").collect();
    assert_eq!(cuts.len(), 1);
    assert!(d.stats().ops_ok < 100, "the clients lost their primary at 100ms");
}

/// A disk write due while its node is paused completes on time: a crash
/// during the pause does not lose it.
#[test]
fn disk_writes_complete_during_a_pause() {
    let s = scenario(&PR.replace("nodes = 3", "nodes = 3\ndisk_latency = \"20ms\""));
    let mut d = s.protocol.build(&s, options(TraceLevel::Digest, None));
    d.run_until(SimTime(200_000));
    let row = |d: &dyn distlab::sim::Driver, label: &str| -> u64 {
        let v = d.nodes()[1].view.clone().expect("n2 is up");
        v.sections[0].rows.iter().find(|r| r.0 == label).unwrap().1.parse().unwrap()
    };
    let in_memory = row(d.as_ref(), "length");
    d.intervene(Fault::Pause(NodeId(1))).unwrap();
    d.run_until(SimTime(260_000));
    d.intervene(Fault::Crash(NodeId(1))).unwrap();
    d.intervene(Fault::Restart(NodeId(1))).unwrap();
    assert!(row(d.as_ref(), "length") >= in_memory, "what was in flight to disk before the pause is on disk");
}

/// Interventions with ids that do not exist are refused, not panics.
#[test]
fn bad_interventions_are_refused() {
    let s = scenario(PR);
    let mut d = s.protocol.build(&s, options(TraceLevel::Digest, None));
    use distlab::sim::network::EndpointId;
    assert!(d.intervene(Fault::Clock { node: NodeId(9), offset_us: 0, drift_ppm: 0 }).is_err());
    assert!(d.intervene(Fault::Cut { from: vec![EndpointId(99)], to: vec![EndpointId(0)] }).is_err());
    assert!(d.intervene(Fault::Partition(vec![vec![EndpointId(77)]])).is_err());
    assert!(d.intervene(Fault::Clock { node: NodeId(0), offset_us: 0, drift_ppm: i64::MIN }).is_err());
}

const TWO_PC_SLOW_DISK: &str = r#"
[scenario]
name = "slow-disk-2pc"
protocol = "two-phase-commit"
duration = "1s"
[cluster]
nodes = 3
disk_latency = "7ms"
[network]
latency = "2ms"
[[clients]]
processes = 2
ops = 20
interval = "5ms"
"#;

/// `once_durable` on a real run: with a 7ms disk, every yes vote leaves
/// its participant exactly when the `Prepared` record it vouches for is on
/// disk (the same step), never earlier; every Commit leaves the
/// coordinator when its decision is on disk.
#[test]
fn once_durable_sends_when_the_disk_has_it() {
    let s = scenario(TWO_PC_SLOW_DISK);
    let d = run(&s, options(TraceLevel::Full, None));
    let events = d.trace().events();
    let mut votes = 0;
    let mut commits = 0;
    for e in events.iter().filter(|e| e.kind == TraceKind::Send) {
        let wanted = if e.text.starts_with("Vote { tx") && e.text.contains("Yes") {
            votes += 1;
            "on disk: Prepared"
        } else if e.text.starts_with("Commit {") {
            commits += 1;
            "on disk: Decision"
        } else {
            continue;
        };
        let same_step = events.iter().filter(|p| p.step == e.step && p.kind == TraceKind::Persisted);
        assert!(
            same_step.into_iter().any(|p| p.node == e.node && p.text.starts_with(wanted)),
            "step {}: {} sent before `{wanted}`",
            e.step,
            e.text
        );
    }
    assert!(votes >= 10 && commits >= 5, "the run exercised it: {votes} yes votes, {commits} commits");
}

/// A crash before the disk has the write loses what waited for it: the
/// participant that crashes 3ms after a prepare arrives (its 7ms write
/// unfinished) never sends that vote.
#[test]
fn once_durable_effects_die_with_the_node() {
    let s = scenario(TWO_PC_SLOW_DISK);
    let mut d = s.protocol.build(&s, options(TraceLevel::Full, None));
    // Run until n2 receives its first Prepare, then 3ms more: the vote waits.
    while !d
        .trace()
        .events()
        .iter()
        .any(|e| e.kind == TraceKind::Deliver && e.node == 1 && e.text.starts_with("Prepare"))
    {
        d.step().expect("the run goes on");
    }
    let t = d.now();
    d.run_until(SimTime(t.0 + 3_000));
    let votes_before = |d: &dyn distlab::sim::Driver| {
        d.trace()
            .events()
            .iter()
            .filter(|e| e.kind == TraceKind::Send && e.node == 1 && e.text.starts_with("Vote"))
            .count()
    };
    assert_eq!(votes_before(d.as_ref()), 0, "the vote waits for the disk");
    d.intervene(Fault::Crash(NodeId(1))).unwrap();
    d.run_until(SimTime(t.0 + 20_000));
    assert_eq!(votes_before(d.as_ref()), 0, "a crashed node's waiting vote is gone");
}

/// `loopback` on a real run: with w = n = 3 a write needs the
/// coordinator's own copy, which it hands itself once durable; with a 5ms
/// disk every write still completes, and none before its coordinator's
/// copy is on disk.
#[test]
fn a_coordinator_counts_its_own_copy_once_durable() {
    let s = scenario(
        r#"
[scenario]
name = "own-copy"
protocol = "quorum"
duration = "1s"
[cluster]
nodes = 3
disk_latency = "5ms"
[protocol]
n = 3
w = 3
r = 1
[network]
latency = "1ms"
[[clients]]
processes = 2
ops = 40
interval = "5ms"
read_fraction = 0.0
"#,
    );
    let d = run(&s, options(TraceLevel::Digest, None));
    let s = d.stats();
    assert_eq!((s.ops_ok, s.ops_fail, s.ops_info), (40, 0, 0), "every write reached all three copies");
    let latencies: Vec<u64> = distlab::check::report::ok_latencies_us(d.as_ref());
    assert!(latencies.iter().all(|&l| l >= 5_000), "no write is acknowledged before the disk has it");
}

/// A checker that hears faults (`Checker::HEARS_FAULTS`, the
/// primary–replica one: it notes which nodes are down) is told of a crash;
/// one that does not is not copied for it. A crash between steps changes
/// nothing else the checker sees, so its state changes exactly when it
/// heard the fault.
#[test]
fn a_checker_that_hears_faults_is_told_of_a_crash() {
    for (file, hears) in [("primary-replica/async-crash.toml", true), ("quorum/strict-quorum.toml", false)] {
        let s = lesson(file);
        let mut d = s.protocol.build(&s, options(TraceLevel::Digest, None));
        d.run_until(SimTime(20_000));
        let before = d.checker_digest();
        d.intervene(Fault::Crash(NodeId(1))).unwrap();
        assert_eq!(d.checker_digest() != before, hears, "{file}");
    }
}
