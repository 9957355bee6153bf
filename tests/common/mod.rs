//! Helpers shared by the integration tests.
#![allow(dead_code)]

use distlab::protocols::RunOptions;
use distlab::scenario::Scenario;
use distlab::sim::{Driver, TraceLevel};
use std::path::{Path, PathBuf};

pub fn lesson(rel: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(rel);
    distlab::scenario::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

pub fn all_lessons() -> Vec<PathBuf> {
    distlab::cli::scenario_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios"))
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
