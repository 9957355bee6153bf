//! `distlab run FILE`: run a scenario once, print what happened, the
//! verdict of every check and expectation, and the trace digest.
//!
//! `--trace` streams the events to their file as they happen (the trace
//! keeps none in memory), so a day-long run traces in constant memory. A
//! run stopped by a budget (a livelock at one instant, too many events, too
//! many waiting) prints why and exits with status 2; a trace file then
//! holds the events up to the stop.

use super::Outcome;
pub use distlab::check::run::*;
use distlab::protocols::RunOptions;
use distlab::scenario::Scenario;
use distlab::sim::TraceLevel;
use distlab::util::fmt_num;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  distlab run primary-replica/async-crash
  distlab run quorum/weak-quorum --seed 7 --json
  distlab run two-phase-commit/coordinator-crash --explain
  distlab run my-lesson.toml --trace run.jsonl --export jepsen=history.edn")]
pub struct Args {
    /// A scenario file, or a lesson name such as `primary-replica/async-crash`.
    pub file: PathBuf,
    /// Use this seed instead of the scenario's.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Write every trace event to this file as JSON lines (`-`: standard
    /// output, and the report goes to standard error).
    #[arg(long, value_name = "OUT.jsonl")]
    pub trace: Option<PathBuf>,
    /// Also write the run in another tool's format, FORMAT=PATH (repeat for
    /// several): jepsen, porcupine, shiviz or jsonl, as `distlab export`
    /// writes them.
    #[arg(long, value_name = "FORMAT=PATH", value_parser = parse_export)]
    pub export: Vec<(super::export::Format, PathBuf)>,
    /// How much to trace (`digest` unless --trace, --export or --explain asks for `full`).
    #[arg(long, value_parser = parse_trace_level, value_name = "off|digest|full")]
    pub trace_level: Option<TraceLevel>,
    /// Tell the lesson in words before the report: the whole description,
    /// each timeline note and fault at its time with the events that follow
    /// it, and the protocol's own notes (for reading without the TUI).
    #[arg(long, conflicts_with = "json")]
    pub explain: bool,
    #[command(flatten)]
    pub budget: super::BudgetArgs,
}

/// `--export FORMAT=PATH`.
fn parse_export(s: &str) -> Result<(super::export::Format, PathBuf), String> {
    let (format, path) = s
        .split_once('=')
        .ok_or_else(|| format!("expected FORMAT=PATH (e.g. jepsen=history.edn), found `{s}`"))?;
    if path.is_empty() {
        return Err(format!("`{s}` names no file: expected FORMAT=PATH"));
    }
    Ok((super::export::parse_format(format)?, PathBuf::from(path)))
}

/// `--trace-level`: the library's TraceLevel, named on the command line.
fn parse_trace_level(s: &str) -> Result<TraceLevel, String> {
    match s {
        "off" => Ok(TraceLevel::Off),
        "digest" => Ok(TraceLevel::Digest),
        "full" => Ok(TraceLevel::Full),
        _ => Err(format!("expected off, digest or full, found `{s}`")),
    }
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let path = super::resolve(&args.file);
    let scenario = super::load(&args.file).map_err(|e| anyhow::anyhow!("{e}"))?;
    let wants_events = args.trace.is_some() || !args.export.is_empty() || args.explain;
    let level = args.trace_level.unwrap_or(if wants_events { TraceLevel::Full } else { TraceLevel::Digest });
    if args.trace.is_some() && level != TraceLevel::Full {
        anyhow::bail!("--trace writes events, which needs --trace-level full");
    }
    if args.explain && level != TraceLevel::Full {
        anyhow::bail!("--explain tells the events, which needs --trace-level full");
    }
    if args.explain && (args.trace.is_some() || !args.export.is_empty()) {
        anyhow::bail!(
            "--explain and --trace or --export: run twice (the trace file streams its events and keeps none)"
        );
    }
    if !args.export.is_empty() && level != TraceLevel::Full {
        anyhow::bail!("--export writes events, which needs --trace-level full");
    }
    let to_stdout = usize::from(args.trace.as_deref() == Some(std::path::Path::new("-")))
        + args.export.iter().filter(|(_, p)| p == std::path::Path::new("-")).count();
    if to_stdout > 1 {
        anyhow::bail!("only one of --trace and --export can write to standard output (`-`)");
    }
    // --export reads the trace back: the one asked for, or a temporary one.
    let temporary = (args.trace.is_none() && !args.export.is_empty()).then(|| {
        let name = format!("distlab-export-{}.jsonl", std::process::id());
        TempFile(std::env::temp_dir().join(name))
    });
    let trace_out = args.trace.clone().or_else(|| temporary.as_ref().map(|t| t.0.clone()));
    let options = RunOptions { seed: args.seed, trace: level, ..RunOptions::default() };
    let seed = args.seed.unwrap_or(scenario.seed);
    let budget = args.budget.budget();
    let run = if let Some(out) = &trace_out {
        trace_to_file(&scenario, options, budget, out)?
    } else {
        let mut run = scenario.protocol.build(&scenario, options);
        run.set_budget(budget);
        if level == TraceLevel::Full && !args.explain {
            // Nothing reads the events: don't keep them.
            run.stream_trace(Box::new(Discard));
        }
        run.run_until(scenario.duration);
        run
    };
    if let Some(halt) = run.halted() {
        let kept = args.trace.as_ref().map(|t| format!("\n  the trace up to the stop is in {}", t.display()));
        anyhow::bail!("{} with seed {seed} stopped: {halt}{}", path.display(), kept.unwrap_or_default());
    }
    if let Some(trace) = &trace_out {
        for (format, out) in &args.export {
            super::export::write_export(trace, *format, out, super::export::SHIVIZ_EVENTS)?;
        }
    }
    drop(temporary);
    let summary = summarise(&scenario, run.as_ref(), seed);
    if args.explain {
        for line in distlab::check::explain::explain(&scenario, run.as_ref(), seed) {
            println!("{line}");
        }
        println!("\n{}\n", "─".repeat(78));
    }
    // When the trace or an export goes to standard output, the report
    // goes to standard error.
    let mut out: Box<dyn std::io::Write> =
        if to_stdout > 0 { Box::new(anstream::stderr()) } else { Box::new(anstream::stdout()) };
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&summary)?)?;
    } else {
        print_human(&mut out, &scenario, &summary, &path, None)?;
    }
    Ok(if summary.all_met() { Outcome::Success } else { Outcome::ExpectationFailed })
}

/// A file removed when dropped.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The report `run` prints, and `live` (`live`: the run's speed-up; then
/// the first line says how the lesson ran, and no digest or replay command
/// is offered, since a live run has neither).
pub(super) fn print_human(
    out: &mut dyn std::io::Write,
    scenario: &Scenario,
    s: &RunSummary,
    path: &std::path::Path,
    live: Option<f64>,
) -> std::io::Result<()> {
    match live {
        None => writeln!(
            out,
            "{} ({}), seed {}, {} simulated",
            s.scenario, s.protocol, s.seed, scenario.duration
        )?,
        Some(speed) => writeln!(
            out,
            "{} ({}), seed {}, {} live on localhost at speed {speed}",
            s.scenario, s.protocol, s.seed, scenario.duration
        )?,
    }
    let first = super::first_sentence(&scenario.description);
    if !first.is_empty() {
        writeln!(out, "  {first}")?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "events {}   messages: sent {}, delivered {}, dropped {}, duplicated {}",
        s.events, s.messages.sent, s.messages.delivered, s.messages.dropped, s.messages.duplicated
    )?;
    writeln!(
        out,
        "client operations: {} invoked, {} ok, {} fail, {} info (unknown)",
        s.ops.invoked, s.ops.ok, s.ops.fail, s.ops.info
    )?;
    if !s.faults.is_empty() {
        writeln!(out, "faults: {}", s.faults.join(", "))?;
    }
    writeln!(out, "\nchecks:")?;
    for c in &s.checks {
        writeln!(out, "  {} {:<22} {}", super::style::holds(c.holds), c.name, c.detail)?;
    }
    writeln!(out, "\nmetrics:")?;
    let line: Vec<String> = s.metrics.iter().map(|(k, v)| format!("{k} {}", fmt_num(*v))).collect();
    for chunk in line.chunks(4) {
        writeln!(out, "  {}", chunk.join("   "))?;
    }
    if !s.load.is_empty() {
        // Per node: what it served (and at what rate), how busy it was,
        // the longest queue, what a full queue refused.
        writeln!(out, "\nload per node:")?;
        let secs = scenario.duration.0 as f64 / 1e6;
        for l in &s.load {
            writeln!(
                out,
                "  {:<6} served {} ({}/s)   utilisation {}   queue max {}   refused {}",
                l.node,
                l.served,
                fmt_num(l.served as f64 / secs),
                fmt_num(l.utilisation),
                l.waiting_max,
                l.refused
            )?;
        }
    }
    if !s.expectations.is_empty() {
        writeln!(out, "\nexpectations:")?;
        for e in &s.expectations {
            writeln!(out, "  {} {:<34} {}", super::style::mark(e.met), e.name, e.detail)?;
        }
    }
    let failed = s.expectations.iter().filter(|e| !e.met).count();
    if live.is_some() {
        if failed > 0 {
            writeln!(
                out,
                "\n{failed} expectation(s) not met in this live run; the simulated one: distlab run {} --seed {}",
                path.display(),
                s.seed
            )?;
        }
        return Ok(());
    }
    if failed > 0 {
        writeln!(
            out,
            "\n{failed} expectation(s) not met; reproduce with: distlab run {} --seed {}",
            path.display(),
            s.seed
        )?;
    }
    writeln!(out, "\ntrace-digest: {}", s.digest.as_deref().unwrap_or("(off)"))?;
    Ok(())
}
