//! Property tests for multi-master LWW: once the faults stop, anti-entropy
//! brings every node to the same, greatest-stamped values; without
//! anti-entropy a partition leaves them apart (the check fires).

mod common;

use common::*;
use distlab::scenario::{Scenario, load_str};
use distlab::sim::TraceLevel;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

fn base(anti_entropy: &str, extra: &str) -> Scenario {
    let text = format!(
        r#"
[scenario]
name = "mm-property"
protocol = "multi-master"
duration = "3s"
[cluster]
nodes = 3
[protocol]
anti_entropy = "{anti_entropy}"
[network]
latency = "3ms"
distribution = "exponential"
[[clients]]
processes = 3
ops = 300
interval = "4ms"
read_fraction = 0.3
keys = 4
target = "random"
timeout = "100ms"
{extra}"#
    );
    load_str("mm-property.toml", &text).unwrap_or_else(|e| panic!("{e}"))
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 100,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct("tests/multi_master_properties.proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    /// Under random crashes, pauses, partitions, loss and clock skew that
    /// stop at 1.5s, all nodes converge by 3s on the greatest-stamped
    /// values.
    #[test]
    fn lww_converges_after_heal(seed in any::<u64>()) {
        let s = base(
            "100ms",
            "[nemesis]\nfaults = [\"crash\", \"pause\", \"partition\", \"loss\", \"clock\"]\ninterval = \"200ms\"\nheal_after = \"150ms\"\nstop = \"1500ms\"\n",
        );
        let r = run(&s, options(TraceLevel::Off, Some(seed))).report();
        for check in ["convergence", "lww-greatest"] {
            let v = r.verdict(check).unwrap();
            prop_assert!(v.holds, "{check}: {}", v.detail);
        }
    }
}

/// Without anti-entropy, writes made on each side of a partition never
/// reach the other side: `convergence` fires.
#[test]
fn without_anti_entropy_a_partition_leaves_nodes_apart() {
    let s = base(
        "0",
        "[[timeline]]\nat = \"100ms\"\npartition = [[\"n1\"], [\"n2\", \"n3\"]]\n[[timeline]]\nat = \"2500ms\"\nheal = true\n",
    );
    let r = run(&s, options(TraceLevel::Off, None)).report();
    assert!(!r.verdict("convergence").unwrap().holds);
    assert!(r.metrics["divergent_keys"] >= 1.0);
}

/// Regression (found by `lww_converges_after_heal`): a node paused with two
/// client writes held resumed and stamped both with the same microsecond;
/// the tie left nodes holding different values for ever. Stamps of one
/// node now strictly increase.
#[test]
fn writes_held_through_a_pause_get_distinct_stamps() {
    let s = base(
        "100ms",
        "[nemesis]\nfaults = [\"crash\", \"pause\", \"partition\", \"loss\", \"clock\"]\ninterval = \"200ms\"\nheal_after = \"150ms\"\nstop = \"1500ms\"\n",
    );
    let r = run(&s, options(TraceLevel::Off, Some(17196600264518545403))).report();
    assert!(r.verdict("convergence").unwrap().holds, "{}", r.verdict("convergence").unwrap().detail);
}

/// Regressions from the multi-master review: a stamp reused after a crash
/// no longer leaves nodes apart, and neither `lww-greatest` nor
/// `no-lost-updates` blames a write that lost only to an unacknowledged
/// write that vanished in a crash.
#[test]
fn review_regressions() {
    for (file, check) in [
        ("mm-reuse-diverge.toml", "convergence"),
        ("mm-greatest-fp.toml", "lww-greatest"),
        ("mm-lost-fp.toml", "no-lost-updates"),
        ("mm-lost-fp.toml", "lww-greatest"),
    ] {
        let r = regression(file);
        assert!(r.verdict(check).unwrap().holds, "{file} {check}: {}", r.verdict(check).unwrap().detail);
    }
}
