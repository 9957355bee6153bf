//! `distlab export TRACE.jsonl --format FORMAT`: a saved run's trace in
//! another tool's format — a Jepsen (EDN) or Porcupine (JSON) history, a
//! ShiViz log, or the history as JSON lines. See
//! [`distlab::check::export`] for each format.

use super::Outcome;
use anyhow::Context as _;
pub use distlab::check::export::*;
use distlab::util::escape;
use std::io::Write as _;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  distlab run quorum/weak-quorum --trace run.jsonl
  distlab export run.jsonl --format jepsen -o history.edn
  distlab export run.jsonl --format shiviz -o run.shiviz   # open it at https://bestchai.bitbucket.io/shiviz/")]
pub struct Args {
    /// A trace written by `distlab run FILE --trace TRACE.jsonl`.
    pub trace: PathBuf,
    /// jepsen (EDN history), porcupine (JSON operations), shiviz (log with
    /// vector clocks) or jsonl (the history as JSON lines).
    #[arg(long, short, value_parser = parse_format, value_name = "jepsen|porcupine|shiviz|jsonl")]
    pub format: Format,
    /// Where to write it (`-`: standard output).
    #[arg(long, short, value_name = "OUT", default_value = "-")]
    pub out: PathBuf,
    /// A ShiViz log stops after this many events.
    #[arg(long, value_name = "N", default_value_t = SHIVIZ_EVENTS,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_events: u64,
}

pub fn parse_format(s: &str) -> Result<Format, String> {
    s.parse()
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    write_export(&args.trace, args.format, &args.out, args.max_events)?;
    Ok(Outcome::Success)
}

/// Exports `trace` to `out` (`-`: standard output) and says what it wrote
/// on standard error.
pub fn write_export(trace: &Path, format: Format, out: &Path, max_events: u64) -> anyhow::Result<()> {
    let shown = escape(&out.display().to_string()).into_owned();
    let exported = if out == Path::new("-") {
        let stdout = std::io::stdout();
        let mut lock = std::io::BufWriter::new(stdout.lock());
        let e = export(trace, format, &mut lock, max_events)?;
        lock.flush()?;
        e
    } else {
        let file = std::fs::File::create(out).with_context(|| format!("creating {shown}"))?;
        let mut w = std::io::BufWriter::new(file);
        let e = export(trace, format, &mut w, max_events).with_context(|| format!("writing {shown}"))?;
        w.flush().with_context(|| format!("writing {shown}"))?;
        e
    };
    let what = if format == Format::Shiviz { "events" } else { "history entries" };
    let target = if out == Path::new("-") { "standard output".to_string() } else { shown };
    eprintln!("{} export: {} {what} to {target}", format.name(), exported.written);
    if let Some(note) = exported.left_out {
        eprintln!("  note: {note}");
    }
    Ok(())
}
