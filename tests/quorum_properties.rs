//! Property tests for quorum replication: with r + w > n (strict quorum),
//! reads are fresh whatever crashes, pauses and partitions happen; with
//! r + w <= n the `fresh-reads` check fires; and no operation hangs.

mod common;

use common::*;
use distlab::nodes::NodeId;
use distlab::scenario::{Scenario, load_str};
use distlab::sim::{Fault, Origin, SimTime, TimedFault, TraceLevel};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

fn base(n: u32, nodes: u32, level: &str, extra: &str) -> Scenario {
    base_with(n, nodes, level, extra, 0, 0.0)
}

fn base_with(n: u32, nodes: u32, level: &str, extra: &str, disk_ms: u64, dup: f64) -> Scenario {
    let text = format!(
        r#"
[scenario]
name = "quorum-property"
protocol = "quorum"
duration = "2s"
[cluster]
nodes = {nodes}
disk_latency = "{disk_ms}ms"
[protocol]
n = {n}
consistency = "{level}"
{extra}
[network]
latency = "3ms"
distribution = "exponential"
duplicate = {dup}
[[clients]]
processes = 4
ops = 300
interval = "4ms"
read_fraction = 0.5
keys = 3
target = "random"
timeout = "300ms"
retries = 1
"#
    );
    load_str("quorum-property.toml", &text).unwrap_or_else(|e| panic!("{e}"))
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 150,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct("tests/quorum_properties.proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    /// Strict quorums (r = w = majority, optionally read repair or
    /// write-back): every read is fresh under any crash/pause/partition
    /// schedule, and every operation completes (no hangs).
    #[test]
    fn strict_quorum_reads_are_fresh(
        seed in any::<u64>(),
        extra in prop::sample::select(vec!["", "read_repair = true", "write_back = true"]),
        disk_ms in prop::sample::select(vec![0u64, 5]),
        dup in prop::sample::select(vec![0.0, 0.1]),
        faults in prop::collection::vec(random_fault(5), 0..8),
    ) {
        let mut s = base_with(3, 5, "quorum", extra, disk_ms, dup);
        s.timeline = faults;
        let d = run(&s, options(TraceLevel::Off, Some(seed)));
        let r = d.report();
        let v = r.verdict("fresh-reads").unwrap();
        prop_assert!(v.holds, "{}", v.detail);
    }
}

/// With r + w <= n, `fresh-reads` fires for some seed of a small range, and
/// with r + w > n it never does over the same seeds.
#[test]
fn weak_quorums_go_stale_strict_ones_do_not() {
    let weak = base(3, 3, "one", "");
    let strict = base(3, 3, "quorum", "");
    let mut stale = 0;
    for seed in 0..20 {
        if !run(&weak, options(TraceLevel::Off, Some(seed))).report().verdict("fresh-reads").unwrap().holds {
            stale += 1;
        }
        let r = run(&strict, options(TraceLevel::Off, Some(seed))).report();
        assert!(
            r.verdict("fresh-reads").unwrap().holds,
            "seed {seed}: {}",
            r.verdict("fresh-reads").unwrap().detail
        );
    }
    assert!(stale > 0, "r = w = 1 never produced a stale read");
}

/// Unavailable operations end (fail or unknown), they do not hang: with
/// consistency `all` and a replica crashed for good, every invoked
/// operation completes before the run ends.
#[test]
fn unavailable_operations_fail_instead_of_hanging() {
    let mut s = base(3, 3, "all", "");
    s.timeline = vec![TimedFault {
        at: SimTime(100_000),
        step: None,
        fault: Fault::Crash(NodeId(2)),
        origin: Origin::Timeline,
    }];
    let mut d = s.protocol.build(&s, options(TraceLevel::Off, None));
    assert!(d.run_until_quiet(SimTime(20_000_000)), "the run settles: nothing hangs");
    let st = d.stats();
    assert!(st.ops_fail + st.ops_info > 0, "operations after the crash could not complete");
    assert_eq!(st.ops_invoked, st.ops_ok + st.ops_fail + st.ops_info);
}

/// Regressions from the quorum review: stale answers across a restart, an
/// acknowledgement before the disk, and a write-back counting read replies
/// no longer produce a stale read; local-quorum is available without
/// faults; and clock skew cannot hide a stale read from the checker.
#[test]
fn review_regressions() {
    for name in ["quorum-reqreuse.toml", "quorum-dup-ack.toml", "quorum-wb.toml"] {
        let r = regression(name);
        assert!(
            r.verdict("fresh-reads").unwrap().holds,
            "{name}: {}",
            r.verdict("fresh-reads").unwrap().detail
        );
    }
    let lq = regression("quorum-lq64.toml");
    assert_eq!(lq.metrics["unavailable"], 0.0, "local-quorum finds local replicas for every key");
    let skew = regression("quorum-skew1.toml");
    assert!(
        !skew.verdict("fresh-reads").unwrap().holds,
        "with coordinator timestamps, a coordinator 250ms behind makes a read stale"
    );
}
