//! Engine semantics: client histories follow the Jepsen rules, and crashes
//! lose exactly what was not on disk.

mod common;

use common::*;
use distlab::check::HistoryKind;
use distlab::nodes::NodeId;
use distlab::scenario::load_str;
use distlab::sim::{Fault, NodeStatus, SimTime, TraceLevel};
use std::collections::{BTreeMap, BTreeSet};

/// In every lesson's history: one invoke per operation and at most one
/// completion; a process has at most one operation open; a process whose
/// operation ended in `info` never invokes again (it was retired).
#[test]
fn histories_follow_the_jepsen_rules() {
    let mut infos = 0;
    for f in all_lessons() {
        let s = distlab::scenario::load(&f).unwrap();
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
}

/// Regression: a client retrying (5ms timeout, 20ms away) a write whose log
/// entry was already compacted must not get it appended again.
#[test]
fn retries_after_compaction_apply_once() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/regressions/compaction-idempotency.toml");
    let s = distlab::scenario::load(&path).unwrap();
    let d = run(&s, options(TraceLevel::Digest, None));
    let r = d.report();
    assert!(
        r.verdict("writes-applied-once").unwrap().holds,
        "{}",
        r.verdict("writes-applied-once").unwrap().detail
    );
    assert!(d.stats().ops_ok >= 100);
}
