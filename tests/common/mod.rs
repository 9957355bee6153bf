//! Helpers shared by the integration tests.
#![allow(dead_code)]

use distlab::protocols::RunOptions;
use distlab::scenario::Scenario;
use distlab::sim::{Driver, TraceLevel};
use std::path::{Path, PathBuf};

/// Runs the `distlab` binary from the crate's root (where `scenarios/`
/// is), with `NO_COLOR` unset so that colour follows the flags alone.
pub fn distlab(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_distlab"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("NO_COLOR")
        .output()
        .expect("run the distlab binary")
}

pub fn lesson(rel: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(rel);
    distlab::scenario::load(&distlab::protocols::registry(), &path).unwrap_or_else(|e| panic!("{e}"))
}

pub fn all_lessons() -> Vec<PathBuf> {
    distlab::scenario::library::scenario_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios"))
}

pub fn options(trace: TraceLevel, seed: Option<u64>) -> RunOptions {
    RunOptions { seed, trace, ..RunOptions::default() }
}

/// Runs a scenario to its end.
pub fn run(s: &Scenario, opts: RunOptions) -> Box<dyn Driver> {
    let mut d = s.protocol.build(s, opts);
    d.run_until(s.duration);
    d
}

pub fn holds(d: &dyn Driver, check: &str) -> bool {
    d.report().verdict(check).unwrap_or_else(|| panic!("no check {check}")).holds
}

/// One random fault for property tests: a crash, restart, pause, resume,
/// an isolation of one node, or heal, at 50ms..1.8s, on one of `nodes`.
pub fn random_fault(nodes: u32) -> impl proptest::strategy::Strategy<Value = distlab::sim::TimedFault> {
    use distlab::nodes::NodeId;
    use distlab::sim::network::EndpointId;
    use distlab::sim::{Fault, Origin, SimTime, TimedFault};
    use proptest::strategy::Strategy;
    (50u64..1800, 0u8..6, 0..nodes).prop_map(move |(ms, kind, n)| {
        let node = NodeId(n);
        let fault = match kind {
            0 => Fault::Crash(node),
            1 => Fault::Restart(node),
            2 => Fault::Pause(node),
            3 => Fault::Resume(node),
            4 => Fault::Partition(vec![
                vec![EndpointId(n)],
                (0..nodes).filter(|&x| x != n).map(EndpointId).collect(),
            ]),
            _ => Fault::Heal,
        };
        TimedFault { at: SimTime(ms * 1000), step: None, fault, origin: Origin::Timeline }
    })
}

/// Runs a scenario from `tests/regressions/` (tracing off) and returns its
/// report.
pub fn regression(name: &str) -> distlab::check::Report {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/regressions").join(name);
    let s = distlab::scenario::load(&distlab::protocols::registry(), &path).unwrap_or_else(|e| panic!("{e}"));
    run(&s, options(TraceLevel::Off, None)).report()
}
