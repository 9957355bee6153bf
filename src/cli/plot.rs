//! `distlab plot TRACE.jsonl`: draw one run's charts from the trace that
//! `distlab run --trace` saved.
//!
//! - `latency-over-time`: every client operation's latency, at the time it ended,
//!   coloured by outcome (ok, fail, info) — when the run has any;
//! - `messages_in_flight-over-time`: sent (and duplicated) minus delivered (and
//!   dropped), after every event;
//! - one chart per gauge the trace sampled (`replication_lag_ms-over-time`,
//!   `participants_in_doubt-over-time`, ...), named as `distlab sweep`
//!   names its charts over time.
//!
//! Faults (crash, restart, pause, partition, heal, clock, link) are marked
//! on every chart.

use super::Outcome;
use anyhow::Context as _;
pub use distlab::plot::trace::*;
use distlab::plot::{self, Formats};
use distlab::util::escape;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  distlab run primary-replica/async-crash --trace run.jsonl
  distlab plot run.jsonl --out charts")]
pub struct Args {
    /// A trace written by `distlab run FILE --trace TRACE.jsonl`.
    pub trace: PathBuf,
    /// The folder for the charts (default: beside the trace, named after
    /// it: `run.jsonl` → `run-charts/`).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Draw SVG only (PNG copies are drawn too by default).
    #[arg(long)]
    pub no_png: bool,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let data = read(&args.trace)?;
    let stem =
        args.trace.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "trace".into());
    let out = args.out.unwrap_or_else(|| args.trace.with_file_name(format!("{stem}-charts")));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    // Titled with the run the trace names (older traces: the file's name).
    let charts = charts(&data, data.run.as_deref().unwrap_or(&stem));
    let formats = Formats { svg: true, png: !args.no_png };
    let mut written = 0;
    for (name, figure) in &charts {
        written += plot::save(figure, &out.join(name), formats)?.len();
    }
    let ops: usize = data.latency.iter().map(Vec::len).sum();
    println!(
        "{}: {} trace events, {ops} client operations, {} faults, gauges: {}",
        escape(&args.trace.display().to_string()),
        data.events,
        data.faults.len(),
        if data.gauges.is_empty() {
            "none".to_string()
        } else {
            data.gauges.keys().cloned().collect::<Vec<_>>().join(", ")
        },
    );
    let names: Vec<&str> = charts.iter().map(|c| c.0.as_str()).collect();
    println!("wrote {written} files to {}: {}", escape(&out.display().to_string()), names.join(", "));
    if ops == 0 {
        println!("(no client operations in this run: no latency chart)");
    }
    Ok(Outcome::Success)
}
