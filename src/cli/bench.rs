//! `distlab bench`: simulator speed on fixed workloads, tracing off.
//!
//! History and checks are off too, except in the workloads that measure
//! the checkers (`quorum-long`, or any workload with `--checks`): a
//! checker must cost the same per event however long the run, so a long
//! run with checks on shows one that does work per event that grows with
//! the history.
//!
//! `--faults` runs any workload under a nemesis (crashes, pauses,
//! partitions, clock jumps, message loss) for its whole length, with
//! duplicated messages and disk latency: the recovery paths must keep
//! memory bounded too, and `--scale` shows whether they do.
//!
//! Reads the wall clock — the only command that does, and only around
//! whole runs, never inside the simulator.

use super::Outcome;
use distlab::protocols::RunOptions;
use distlab::sim::{Budget, SimTime, TraceLevel};
use serde::Serialize;

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  distlab bench
  distlab bench --workload echo --json
  distlab bench --checks --scale 1 --scale 20   # cost per event and memory flat as runs grow?")]
pub struct Args {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Only this workload.
    #[arg(long, value_parser = workload_names())]
    pub workload: Option<String>,
    /// Multiply each workload's simulated duration (longer runs, steadier
    /// figures; and a memory check: peak memory should not grow with it).
    /// Give it twice (`--scale 1 --scale 20`) to run every workload at
    /// both and print how time per event and peak memory changed.
    #[arg(long, default_value = "1", value_name = "X")]
    pub scale: Vec<f64>,
    /// Run the protocol's checkers too (online, as `distlab run` and
    /// `distlab check` do), to measure what they cost.
    #[arg(long)]
    pub checks: bool,
    /// Run under a nemesis (crash, pause, partition, clock, loss; a fault
    /// every 300ms or so, for the whole run), with 5% of messages
    /// duplicated and 1ms disk latency.
    #[arg(long)]
    pub faults: bool,
}

/// `--workload`: the workloads' names, which `--help` lists.
fn workload_names() -> clap::builder::PossibleValuesParser {
    let names = WORKLOADS
        .iter()
        .chain(CHECKER_WORKLOADS)
        .map(|w| clap::builder::PossibleValue::new(w.name).help(w.about));
    clap::builder::PossibleValuesParser::new(names)
}

/// A fixed benchmark workload.
pub struct Workload {
    pub name: &'static str,
    pub about: &'static str,
    pub scenario: &'static str,
    /// Run with the protocol's checkers on.
    pub checks: bool,
}

pub const WORKLOADS: &[Workload] = &[
    Workload {
        name: "echo",
        about: "1 pinger, 4 echo servers, 1ms constant latency, 16 pings in flight per server",
        scenario: r#"
[scenario]
name = "bench-echo"
protocol = "echo"
duration = "100s"
[cluster]
nodes = 5
[protocol]
window = 16
[network]
latency = "1ms"
"#,
        checks: false,
    },
    Workload {
        name: "primary-replica",
        about: "5 nodes, async replication, 16 closed-loop writers, 1ms constant latency",
        scenario: r#"
[scenario]
name = "bench-primary-replica"
protocol = "primary-replica"
duration = "50s"
[cluster]
nodes = 5
[protocol]
mode = "async"
[network]
latency = "1ms"
[[clients]]
processes = 16
ops = 10000000
interval = "0"
read_fraction = 0.0
keys = 64
timeout = "1s"
"#,
        checks: false,
    },
    Workload {
        name: "multi-master",
        about: "5 masters, LWW, 16 closed-loop writers at random masters, anti-entropy every 200ms, 1ms constant latency",
        scenario: r#"
[scenario]
name = "bench-multi-master"
protocol = "multi-master"
duration = "50s"
[cluster]
nodes = 5
[protocol]
anti_entropy = "200ms"
[network]
latency = "1ms"
[[clients]]
processes = 16
ops = 10000000
interval = "0"
read_fraction = 0.2
keys = 64
target = "random"
timeout = "1s"
"#,
        checks: false,
    },
    Workload {
        name: "quorum",
        about: "5 nodes, n = 3, r = w = 2, 16 closed-loop clients at random coordinators, 1ms constant latency",
        scenario: r#"
[scenario]
name = "bench-quorum"
protocol = "quorum"
duration = "50s"
[cluster]
nodes = 5
[protocol]
n = 3
consistency = "quorum"
[network]
latency = "1ms"
[[clients]]
processes = 16
ops = 10000000
interval = "0"
read_fraction = 0.5
keys = 64
target = "random"
timeout = "1s"
"#,
        checks: false,
    },
    Workload {
        name: "saga",
        about: "orchestrator + 3 services, idempotency keys kept 1s, 16 closed-loop clients placing orders, 1ms constant latency",
        scenario: r#"
[scenario]
name = "bench-saga"
protocol = "saga"
duration = "50s"
[cluster]
nodes = 4
[protocol]
items = 64
credit = 1000000000000000
stock = 1000000000000
retention = "1s"
[network]
latency = "1ms"
[[clients]]
processes = 16
ops = 10000000
interval = "0"
keys = 64
timeout = "1s"
"#,
        checks: false,
    },
    Workload {
        name: "two-phase-commit",
        about: "1 coordinator, 4 participants, finished transactions kept 1s, 16 closed-loop clients transferring between 64 accounts, 1ms constant latency",
        scenario: r#"
[scenario]
name = "bench-two-phase-commit"
protocol = "two-phase-commit"
duration = "50s"
[cluster]
nodes = 5
[protocol]
initial_balance = 1000
retention = "1s"
[network]
latency = "1ms"
[[clients]]
processes = 16
ops = 10000000
interval = "0"
keys = 64
timeout = "1s"
"#,
        checks: false,
    },
    Workload {
        name: "quorum-long",
        about: "the quorum workload for 400s with its checker on (1.6 million operations): a checker's cost per event must not grow with the run",
        scenario: r#"
[scenario]
name = "bench-quorum-long"
protocol = "quorum"
duration = "400s"
[cluster]
nodes = 5
[protocol]
n = 3
consistency = "quorum"
[network]
latency = "1ms"
[[clients]]
processes = 16
ops = 10000000
interval = "0"
read_fraction = 0.5
keys = 64
target = "random"
timeout = "1s"
"#,
        checks: true,
    },
    Workload {
        name: "saga-long",
        about: "the saga workload for 200s with a node crashing every 200ms or so, checker on: a restart must not cost the checker a pass over every saga so far",
        scenario: r#"
[scenario]
name = "bench-saga-long"
protocol = "saga"
duration = "200s"
[cluster]
nodes = 4
[protocol]
items = 64
credit = 1000000000000000
stock = 1000000000000
retention = "1s"
[network]
latency = "1ms"
[[clients]]
processes = 16
ops = 10000000
interval = "0"
keys = 64
timeout = "1s"
[nemesis]
faults = ["crash"]
interval = "200ms"
stop = "200s"
"#,
        checks: true,
    },
];

#[derive(Debug, Serialize)]
pub struct BenchResult {
    pub name: &'static str,
    /// Whether the protocol's checkers ran.
    pub checks: bool,
    /// Whether it ran under faults (`--faults`).
    pub faults: bool,
    pub simulated_seconds: f64,
    pub wall_seconds: f64,
    pub events: u64,
    pub delivered: u64,
    pub events_per_sec: f64,
    pub delivered_per_sec: f64,
    /// The duration multiplier (`--scale`).
    pub scale: f64,
    /// Wall time per simulated event.
    pub ns_per_event: f64,
    /// Heap allocations (and reallocations) per event.
    pub allocations_per_event: f64,
    /// Peak resident memory during this workload, MB (Linux: the peak is
    /// reset before each workload).
    pub peak_rss_mb: Option<f64>,
}

/// Runs one workload with tracing and history off, and checks off unless
/// the workload or `checks` asks for them; under faults if `faults`.
pub fn measure(w: &Workload, scale: f64, checks: bool, faults: bool) -> anyhow::Result<BenchResult> {
    let text = if faults { with_faults(w.scenario) } else { w.scenario.to_string() };
    let mut scenario = distlab::scenario::load_str(&distlab::protocols::registry(), w.name, &text)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let checks = checks || w.checks;
    let options = RunOptions { seed: None, trace: TraceLevel::Off, record_history: false, checks };
    let until = SimTime((scenario.duration.0 as f64 * scale) as u64);
    if faults && let Some(n) = &mut scenario.nemesis {
        n.stop = until; // faults all the way, however long the run
    }
    reset_peak_rss();
    let allocations = super::alloc::count();
    let mut run = scenario.protocol.build(&scenario, options);
    // A benchmark may run far longer than any lesson (`--scale`), so it
    // lifts the total-events budget; the spin and in-flight guards stay,
    // and a run they stop is an error, never a silently shorter figure.
    run.set_budget(Budget { events: u64::MAX, ..Budget::DEFAULT });
    let start = std::time::Instant::now();
    run.run_until(until);
    let wall = start.elapsed().as_secs_f64();
    let allocations = super::alloc::count() - allocations;
    if let Some(halt) = run.halted() {
        anyhow::bail!("benchmark {} stopped: {halt}", w.name);
    }
    let s = run.stats();
    let per_event = |x: f64| if s.events == 0 { 0.0 } else { x / s.events as f64 };
    Ok(BenchResult {
        name: w.name,
        checks,
        faults,
        simulated_seconds: until.0 as f64 / 1e6,
        wall_seconds: wall,
        events: s.events,
        delivered: s.delivered,
        events_per_sec: s.events as f64 / wall,
        delivered_per_sec: s.delivered as f64 / wall,
        scale,
        ns_per_event: per_event(wall * 1e9),
        allocations_per_event: per_event(allocations as f64),
        peak_rss_mb: peak_rss_mb(),
    })
}

/// A workload's scenario made hostile (`--faults`): 1ms disk latency, 5%
/// of messages duplicated, and a nemesis, unless it has one already.
fn with_faults(scenario: &str) -> String {
    let mut text = scenario.replacen("[cluster]\n", "[cluster]\ndisk_latency = \"1ms\"\n", 1).replacen(
        "[network]\n",
        "[network]\nduplicate = 0.05\n",
        1,
    );
    if !text.contains("[nemesis]") {
        text.push_str(
            "[nemesis]\nfaults = [\"crash\", \"pause\", \"partition\", \"clock\", \"loss\"]\n\
             interval = \"300ms\"\nclock_skew = \"200ms\"\n",
        );
    }
    text
}

/// The linearizability checker's workload: a history of 100 000 operations
/// over 100 keys by 10 concurrent clients, from a strict quorum with
/// write-back (so it is linearizable and the search must go all the way).
pub const LINEARIZABILITY: Workload = Workload {
    name: "linearizability",
    about: "check a 100 000-operation history (100 keys, 10 concurrent clients, strict quorum + write-back)",
    scenario: r#"
[scenario]
name = "bench-linearizability"
protocol = "quorum"
duration = "1000s"
[cluster]
nodes = 3
[protocol]
consistency = "quorum"
write_back = true
[network]
latency = "1ms"
distribution = "exponential"
[[clients]]
processes = 10
ops = 100000
interval = "0"
read_fraction = 0.5
keys = 100
target = "random"
timeout = "1s"
"#,
    checks: false,
};

/// The linearizability checker on one hot key: 10 000 operations on a
/// single key by 16 concurrent clients — the hard case for a search
/// (every operation overlaps many others), where the zones decide.
pub const LINEARIZABILITY_HOT: Workload = Workload {
    name: "linearizability-hot",
    about: "check a 10 000-operation history on one key by 16 concurrent clients (strict quorum + write-back): every operation overlaps many others",
    scenario: r#"
[scenario]
name = "bench-linearizability-hot"
protocol = "quorum"
duration = "1000s"
[cluster]
nodes = 3
[protocol]
consistency = "quorum"
write_back = true
[network]
latency = "1ms"
distribution = "exponential"
[[clients]]
processes = 16
ops = 10000
interval = "0"
read_fraction = 0.5
keys = 1
target = "random"
timeout = "1s"
"#,
    checks: false,
};

/// The checker workloads: a history simulated untimed, then checked.
pub const CHECKER_WORKLOADS: [&Workload; 2] = [&LINEARIZABILITY, &LINEARIZABILITY_HOT];

#[derive(Debug, Serialize)]
pub struct CheckerResult {
    pub name: &'static str,
    pub operations: usize,
    pub keys: usize,
    pub linearizable: bool,
    /// The search gave up on a key (its state budget ran out): neither
    /// linearizable nor not.
    pub unknown: bool,
    /// States the search explored, over every key.
    pub states: u64,
    pub wall_seconds: f64,
    pub operations_per_sec: f64,
}

/// Simulates the history (untimed), then times the checker on it.
pub fn measure_linearizability(w: &Workload) -> anyhow::Result<CheckerResult> {
    let scenario = distlab::scenario::load_str(&distlab::protocols::registry(), w.name, w.scenario)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let options = RunOptions { seed: None, trace: TraceLevel::Off, record_history: true, checks: false };
    let mut run = scenario.protocol.build(&scenario, options);
    run.run_until(scenario.duration);
    if let Some(halt) = run.halted() {
        anyhow::bail!("benchmark {} stopped: {halt}", w.name);
    }
    let start = std::time::Instant::now();
    let verdict = distlab::check::linearizability::check_history(run.history());
    let wall = start.elapsed().as_secs_f64();
    Ok(CheckerResult {
        name: w.name,
        operations: verdict.operations,
        keys: verdict.keys,
        linearizable: verdict.violation.is_none() && verdict.unknown.is_none(),
        unknown: verdict.unknown.is_some(),
        states: verdict.states,
        wall_seconds: wall,
        operations_per_sec: verdict.operations as f64 / wall,
    })
}

/// Starts measuring the peak resident memory afresh (Linux: writing 5 to
/// `/proc/self/clear_refs` resets `VmHWM` to what is resident now;
/// elsewhere nothing happens). The allocator first gives back what an
/// earlier workload freed, or its pages would count as this one's.
fn reset_peak_rss() {
    super::alloc::give_back_freed();
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident memory of this process, in MB (Linux; `None` elsewhere).
fn peak_rss_mb() -> Option<f64> {
    Some(distlab::util::process_memory("VmHWM")? as f64 / (1024.0 * 1024.0))
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    if let Some(bad) = args.scale.iter().find(|s| !(**s > 0.0 && **s <= 1000.0)) {
        anyhow::bail!("--scale must be in (0, 1000], not {bad}");
    }
    let checkers_chosen: Vec<&Workload> = CHECKER_WORKLOADS
        .into_iter()
        .filter(|w| args.workload.as_deref().is_none_or(|n| n == w.name))
        .collect();
    let chosen: Vec<&Workload> = match args.workload.as_deref() {
        None => WORKLOADS.iter().collect(),
        Some(_) if !checkers_chosen.is_empty() => Vec::new(),
        Some(name) => {
            let w = WORKLOADS.iter().find(|w| w.name == name).ok_or_else(|| {
                let all: Vec<&str> = WORKLOADS.iter().chain(CHECKER_WORKLOADS).map(|w| w.name).collect();
                anyhow::anyhow!("no workload `{name}`; the workloads are: {}", all.join(", "))
            })?;
            vec![w]
        }
    };
    let mut results = Vec::new();
    for w in chosen {
        let mut first: Option<BenchResult> = None;
        for &scale in &args.scale {
            let r = measure(w, scale, args.checks, args.faults)?;
            if !args.json {
                print_result(&r, w);
                if let Some(f) = &first {
                    print_growth(f, &r);
                }
            }
            if first.is_none() {
                first = Some(r);
            } else {
                results.push(r);
            }
        }
        results.extend(first);
    }
    results.sort_by(|a, b| {
        (a.name, a.scale).partial_cmp(&(b.name, b.scale)).unwrap_or(std::cmp::Ordering::Equal)
    });
    let mut checkers = Vec::new();
    for w in checkers_chosen {
        let r = measure_linearizability(w)?;
        if !args.json {
            let verdict = match (r.linearizable, r.unknown) {
                (true, _) => "linearizable".to_string(),
                (false, true) => format!("unknown: the search gave up after {} states", r.states),
                (false, false) => "NOT linearizable".to_string(),
            };
            println!(
                "{:<16} {:>12.0} ops/s checked   ({} operations over {} in {:.3}s, {} states, {verdict})   {}",
                r.name,
                r.operations_per_sec,
                r.operations,
                distlab::util::count(r.keys, "key"),
                r.wall_seconds,
                r.states,
                w.about
            );
        }
        checkers.push(r);
    }
    // The process's peak: the largest of the workloads' (each measured
    // from its start) and the checkers'.
    let rss = results.iter().filter_map(|r| r.peak_rss_mb).chain(peak_rss_mb()).reduce(f64::max);
    if args.json {
        println!("{}", serde_json::json!({ "workloads": results, "checkers": checkers, "peak_rss_mb": rss }));
    } else if let Some(mb) = rss {
        println!("peak memory: {mb:.1} MB");
    }
    Ok(Outcome::Success)
}

fn print_result(r: &BenchResult, w: &Workload) {
    let rss = r.peak_rss_mb.map(|mb| format!(", peak {mb:.1} MB")).unwrap_or_default();
    println!(
        "{:<16} {:>12.0} events/s {:>12.0} delivered/s {:>7.1} ns/event {:>6.2} allocs/event   ({} events, {} delivered, {:.1}s simulated in {:.2}s{}{}{rss})   {}",
        r.name,
        r.events_per_sec,
        r.delivered_per_sec,
        r.ns_per_event,
        r.allocations_per_event,
        r.events,
        r.delivered,
        r.simulated_seconds,
        r.wall_seconds,
        if r.checks { ", checks on" } else { "" },
        if r.faults { ", under faults" } else { "" },
        w.about
    );
}

/// How a workload's cost per event and peak memory changed from one
/// `--scale` to the next (flat: within 10%).
fn print_growth(a: &BenchResult, b: &BenchResult) {
    let ratio = |x: f64, y: f64| if x > 0.0 { y / x } else { f64::NAN };
    let time = ratio(a.ns_per_event, b.ns_per_event);
    let memory = match (a.peak_rss_mb, b.peak_rss_mb) {
        (Some(x), Some(y)) => format!(", peak memory x{:.2}", ratio(x, y)),
        _ => String::new(),
    };
    let flat = time <= 1.1 && a.peak_rss_mb.zip(b.peak_rss_mb).is_none_or(|(x, y)| ratio(x, y) <= 1.1);
    println!(
        "{:<16} scale {} -> {}: time per event x{time:.2}{memory}  ({})",
        "",
        a.scale,
        b.scale,
        if flat { "flat" } else { "GROWS" }
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--faults` makes every workload hostile: it still loads, and it has
    /// a nemesis, duplicated messages and disk latency.
    #[test]
    fn every_workload_loads_under_faults() {
        for w in WORKLOADS.iter().chain(CHECKER_WORKLOADS) {
            let s = distlab::scenario::load_str(
                &distlab::protocols::registry(),
                w.name,
                &with_faults(w.scenario),
            )
            .unwrap_or_else(|e| panic!("{}: {e}", w.name));
            let n = s.nemesis.as_ref().unwrap_or_else(|| panic!("{}: no nemesis", w.name));
            assert!(!n.faults.is_empty(), "{}", w.name);
            assert!(!s.network.faults.duplicate.is_never(), "{}: no duplication", w.name);
            assert!(s.disk_latency.0 > 0, "{}: no disk latency", w.name);
        }
    }
}
