//! Determinism: the same scenario and seed give the same trace digest, in
//! any process and at every trace level that computes one; snapshots
//! restore exactly; faults on one link leave other links' draws alone.

mod common;

use common::*;
use distlab::sim::{Fault, SimTime, TraceKind, TraceLevel};
use std::process::Command;

fn digest_from_process(file: &str, seed: u64) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_distlab"))
        .args(["run", file, "--json", "--seed", &seed.to_string()])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run the distlab binary");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    v["digest"].as_str().expect("a digest").to_string()
}

/// Two separate processes agree on the digest, and it is the one this
/// process computes.
#[test]
fn same_seed_same_digest_across_processes() {
    let file = "scenarios/primary-replica/async-crash.toml";
    let a = digest_from_process(file, 7);
    let b = digest_from_process(file, 7);
    assert_eq!(a, b);
    let s = lesson("primary-replica/async-crash.toml");
    let here = run(&s, options(TraceLevel::Digest, Some(7)));
    assert_eq!(here.digest().unwrap().to_string(), a);
}

/// The digest does not depend on how much is traced.
#[test]
fn digest_is_the_same_at_digest_and_full_levels() {
    for rel in
        ["primary-replica/split-brain.toml", "basics/loss-duplication.toml", "primary-replica/async-lag.toml"]
    {
        let s = lesson(rel);
        let d = run(&s, options(TraceLevel::Digest, None));
        let f = run(&s, options(TraceLevel::Full, None));
        assert_eq!(d.digest(), f.digest(), "{rel}");
        assert_eq!(d.state_hash(), f.state_hash(), "{rel}");
        assert!(!f.trace().events().is_empty());
        assert!(d.trace().events().is_empty(), "digest level keeps no events");
        let off = run(&s, options(TraceLevel::Off, None));
        assert_eq!(off.digest(), None, "level off computes no digest");
        assert_eq!(off.state_hash(), d.state_hash(), "{rel}: tracing never changes what happens");
    }
}

/// Different seeds give different runs.
#[test]
fn different_seeds_differ() {
    let s = lesson("primary-replica/async-lag.toml");
    let digests: std::collections::BTreeSet<_> =
        (1..=5).map(|seed| run(&s, options(TraceLevel::Digest, Some(seed))).digest().unwrap()).collect();
    assert_eq!(digests.len(), 5);
}

/// Stepping forward N then restoring the snapshot gives the same state
/// hash, and replaying from there reproduces the same events (digest).
#[test]
fn snapshot_restore_and_replay() {
    let s = lesson("primary-replica/fencing.toml");
    let mut d = s.protocol.build(&s, options(TraceLevel::Full, None));
    for _ in 0..200 {
        d.step();
    }
    let snap = d.snapshot();
    let (hash0, digest0, events0) = (d.state_hash(), d.digest(), d.trace().events().len());
    for _ in 0..500 {
        d.step();
    }
    let (hash1, digest1) = (d.state_hash(), d.digest());
    assert_ne!(hash0, hash1);
    d.restore(&snap);
    assert_eq!(d.state_hash(), hash0);
    assert_eq!(d.digest(), digest0);
    assert_eq!(d.trace().events().len(), events0);
    for _ in 0..500 {
        d.step();
    }
    assert_eq!(d.state_hash(), hash1, "replay after restore reproduces the state");
    assert_eq!(d.digest(), digest1, "and the same events");
}

/// An intervention is a step of its own and changes the run; restoring a
/// snapshot taken before it undoes it completely.
#[test]
fn interventions_rewind() {
    let s = lesson("primary-replica/async-lag.toml");
    let mut d = s.protocol.build(&s, options(TraceLevel::Digest, None));
    d.run_until(SimTime(300_000));
    let snap = d.snapshot();
    let before = d.state_hash();
    let msg = d.in_flight().first().map(|m| m.id).expect("messages in flight");
    d.intervene(Fault::DropMessage(msg)).unwrap();
    assert!(d.in_flight().iter().all(|m| m.id != msg));
    d.intervene(Fault::Crash(distlab::nodes::NodeId(1))).unwrap();
    assert!(d.intervene(Fault::DropMessage(u64::MAX)).is_err(), "unknown messages are refused");
    assert_ne!(d.state_hash(), before);
    d.restore(&snap);
    assert_eq!(d.state_hash(), before);
}

/// Partitioning n3 away changes nothing on the n1 ↔ n2 links: their
/// deliveries happen at exactly the same times (per-link RNG streams).
#[test]
fn a_fault_elsewhere_does_not_shift_unrelated_links() {
    let with = lesson("basics/partition.toml");
    let mut without = with.clone();
    without.timeline.retain(|f| !matches!(f.fault, Fault::Partition(_) | Fault::Heal));
    // Random latency, so equal times really mean equal draws.
    let mut cfg = (*with.network).clone();
    cfg.latency = distlab::sim::network::LatencyDist::Exponential { mean_us: 10_000 };
    let with = distlab::scenario::Scenario { network: std::sync::Arc::new(cfg.clone()), ..with };
    let without = distlab::scenario::Scenario { network: std::sync::Arc::new(cfg), ..without };
    let deliveries = |s: &distlab::scenario::Scenario| -> Vec<(u64, u32, u32)> {
        let d = run(s, options(TraceLevel::Full, None));
        d.trace()
            .events()
            .iter()
            .filter(|e| e.kind == TraceKind::Deliver && e.node < 2 && e.peer < 2)
            .map(|e| (e.time_us, e.node, e.peer))
            .collect()
    };
    let (a, b) = (deliveries(&with), deliveries(&without));
    assert!(a.len() > 100);
    assert_eq!(a, b);
}

/// The digest the README quotes for its quick-start lesson is the one the
/// simulator produces, so the README cannot drift from the code.
#[test]
fn readme_digest_is_current() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let quoted = readme
        .lines()
        .find_map(|l| l.trim().strip_prefix("trace-digest: "))
        .expect("the README quotes a trace digest");
    let s = lesson("primary-replica/async-crash.toml");
    let d = run(&s, options(TraceLevel::Digest, None));
    assert_eq!(d.digest().unwrap().to_string(), quoted, "update the README's quick-start output");
}

/// Streaming the trace changes nothing: the events `run --trace` writes as
/// they happen are exactly the events a run keeping its trace in memory
/// records (same steps, times, kinds, endpoints, ids and text, notes
/// included), its history lines are the run's history, and the digest is
/// the same.
#[test]
fn a_streamed_trace_is_the_trace_kept_in_memory() {
    for rel in
        ["primary-replica/split-brain.toml", "basics/loss-duplication.toml", "saga/orchestrator-crash.toml"]
    {
        let s = lesson(rel);
        let kept = run(&s, options(TraceLevel::Full, None));
        let out = std::env::temp_dir().join(format!("distlab-streamed-{}.jsonl", std::process::id()));
        let streamed = distlab::check::run::trace_to_file(
            &s,
            options(TraceLevel::Full, None),
            distlab::sim::Budget::DEFAULT,
            &out,
        )
        .unwrap();
        let text = std::fs::read_to_string(&out).unwrap();
        std::fs::remove_file(&out).ok();
        let all: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let lines: Vec<&serde_json::Value> =
            all.iter().filter(|v| !["sample", "op", "run"].contains(&v["kind"].as_str().unwrap())).collect();
        assert_eq!(all[0]["kind"], "run", "{rel}: the first line names the run");
        assert_eq!(all[0]["scenario"], s.name.as_str(), "{rel}");
        // The history lines are the run's history, entry for entry.
        let ops: Vec<&serde_json::Value> = all.iter().filter(|v| v["kind"] == "op").collect();
        let history = &kept.history().events;
        assert_eq!(ops.len(), history.len(), "{rel}");
        for (line, h) in ops.iter().zip(history) {
            assert_eq!(line["step"].as_u64(), Some(h.step), "{rel}");
            assert_eq!(line["type"], serde_json::to_value(h.kind).unwrap(), "{rel}");
            assert_eq!(line["process"].as_u64(), Some(u64::from(h.process)), "{rel}");
            assert_eq!(line["op_id"].as_u64(), Some(h.op_id), "{rel}");
            assert_eq!(line["op"].as_str(), Some(h.op.as_str()), "{rel}");
        }
        assert_eq!(lines.len(), kept.trace().events().len(), "{rel}");
        for (line, e) in lines.iter().zip(kept.trace().events()) {
            let name = |ep: u32| (ep != u32::MAX).then(|| kept.endpoint_name(distlab::sim::EndpointId(ep)));
            assert_eq!(line["step"].as_u64(), Some(e.step), "{rel}");
            assert_eq!(line["time_us"].as_u64(), Some(e.time_us), "{rel}");
            assert_eq!(line["kind"], serde_json::to_value(e.kind).unwrap(), "{rel}");
            assert_eq!(line["node"].as_str().map(String::from), name(e.node), "{rel}");
            assert_eq!(line["peer"].as_str().map(String::from), name(e.peer), "{rel}");
            assert_eq!(line["msg"].as_u64().unwrap_or(0), e.msg, "{rel}");
            assert_eq!(line["text"].as_str(), Some(e.text.as_str()), "{rel}");
        }
        assert_eq!(streamed.digest(), kept.digest(), "{rel}");
        assert_eq!(streamed.trace().held(), 0);
    }
}
