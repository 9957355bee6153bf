//! `distlab live LESSON`: the lesson on a real network (see
//! [`distlab::live::net`]): the same report as `run`, from the same
//! checkers, then what the live run did. Fault decisions are seeded but
//! timing is real, so a live run is not replayable: the report says so.

use super::Outcome;
use distlab::check::report::LOAD_METRICS;
use distlab::check::run::summary_of;
use distlab::live::net::{LiveOptions, LiveRun};
use distlab::scenario::expect::Expectation;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  distlab live primary-replica/async-crash --speed 5
  distlab live two-phase-commit/coordinator-crash --seed 3
  distlab live quorum/strict-quorum --speed 10 --logs /tmp/logs
  distlab live saga/duplicates-double-charge --trace live.jsonl")]
pub struct Args {
    /// A scenario file, or a lesson name such as `primary-replica/async-crash`.
    pub file: PathBuf,
    /// Use this seed (for the workload and the fault decisions) instead of the scenario's.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Lesson seconds per real second: timers, latencies, the disk and the
    /// clients' think times are divided by it.
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Keep the nodes' durable logs in this directory (`NAME.log` each;
    /// by default a temporary directory, removed at the end).
    #[arg(long, value_name = "DIR")]
    pub logs: Option<PathBuf>,
    /// Write the run's events to this file as JSON lines, in `run --trace`'s
    /// format (`distlab plot` and `distlab export` read it).
    #[arg(long, value_name = "OUT.jsonl")]
    pub trace: Option<PathBuf>,
    /// Print one JSON object (the `run --json` summary plus a `live` part).
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let path = super::resolve(&args.file);
    let scenario = super::load(&args.file).map_err(|e| anyhow::anyhow!("{e}"))?;
    if !(args.speed.is_finite() && args.speed > 0.0) {
        anyhow::bail!("--speed must be a positive number, found {}", args.speed);
    }
    let seed = args.seed.unwrap_or(scenario.seed);
    if args.trace.as_deref() == Some(std::path::Path::new("-")) {
        anyhow::bail!("--trace -: a live run writes its trace to a file (the report is on standard output)");
    }
    let options = LiveOptions { seed, speed: args.speed, logs: args.logs.clone(), trace: args.trace.clone() };
    let live = distlab::live::net::run(&scenario, &options)?;
    let LiveRun { report, stats, faults, happened, real, history } = live;
    // Expectations resting on the simulator's exact timing are not judged,
    // nor those on its load model (service times, queues, open-loop
    // arrivals): a live run has this machine's capacity instead.
    let simulated_load = |e: &Expectation| matches!(e, Expectation::Metric { name, .. } if LOAD_METRICS.contains(&name.as_str()));
    let not_judged: Vec<usize> = (0..scenario.expectations.len())
        .filter(|&i| scenario.sim_only.contains(&i) || simulated_load(&scenario.expectations[i]))
        .collect();
    let mut judged = scenario.clone();
    judged.expectations = (0..scenario.expectations.len())
        .filter(|i| !not_judged.contains(i))
        .map(|i| scenario.expectations[i].clone())
        .collect();
    let sim_only: Vec<String> =
        not_judged.iter().map(|&i| scenario.expectations[i].evaluate(&report).name).collect();
    let models_load = scenario.capacity.is_some() || scenario.clients.iter().any(|c| c.arrival.is_some());
    let summary = summary_of(&judged, seed, report, stats, faults, None);
    let ops = history.operations();
    let ok = ops.iter().filter(|o| o.outcome == Some(distlab::sim::HistoryKind::Ok)).count();
    let throughput = ok as f64 / real.as_secs_f64().max(1e-9);
    if args.json {
        let mut value = serde_json::to_value(&summary)?;
        value["live"] = serde_json::json!({
            "speed": args.speed,
            "real_seconds": real.as_secs_f64(),
            "ok_per_real_second": throughput,
            "happened": happened,
            "sim_only": sim_only,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        let mut out = anstream::stdout();
        super::run::print_human(&mut out, &scenario, &summary, &path, Some(args.speed))?;
        println!("\nlive:");
        println!("  not replayable: fault decisions are seeded (seed {seed}), message timing is real");
        println!("  {:.2}s real; {ok} ok operations, {throughput:.0} per real second", real.as_secs_f64());
        if models_load {
            println!(
                "  the lesson's load model ([capacity], open-loop clients) is the simulator's: live nodes run at this machine's speed, clients closed-loop"
            );
        }
        if !sim_only.is_empty() {
            println!(
                "  not judged live (sim_only, or the simulator's load metrics): {}",
                sim_only.join(", ")
            );
        }
        for line in &happened {
            println!("  {line}");
        }
    }
    Ok(if summary.all_met() { Outcome::Success } else { Outcome::ExpectationFailed })
}
