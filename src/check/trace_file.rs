//! Reading a `--trace` file back: one bounded JSON line at a time, so a
//! hostile file (no line breaks, a FIFO, a device) ends in an error, never
//! an exhausted machine. `distlab plot` and `distlab export` read traces
//! through it.

use anyhow::{Context as _, bail};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::io::{BufRead as _, Read as _};
use std::path::Path;

/// A line of a trace file, as its readers take it: an event, a sample
/// of the gauges (`kind` `sample`) or a client history entry (`kind`
/// `op`); what a line does not have is left at its default.
#[derive(Debug, Default, Deserialize)]
pub struct Line {
    pub time_us: u64,
    pub kind: String,
    #[serde(default)]
    pub node: String,
    #[serde(default)]
    pub peer: String,
    /// A message id; for client operation events, the operation id.
    #[serde(default)]
    pub msg: u64,
    #[serde(default)]
    pub text: String,
    /// A message's short label.
    #[serde(default)]
    pub label: String,
    /// A sample's gauges, and their units (`ms`, `count`) as the protocol
    /// declares them.
    #[serde(default)]
    pub gauges: BTreeMap<String, f64>,
    #[serde(default)]
    pub units: BTreeMap<String, String>,
    /// A history entry's `type`: `invoke`, `ok`, `fail` or `info`.
    #[serde(default, rename = "type")]
    pub outcome: String,
    #[serde(default)]
    pub process: u32,
    #[serde(default)]
    pub op_id: u64,
    #[serde(default)]
    pub op: String,
    #[serde(default)]
    pub answer: String,
    /// For a read or write of a key: `read`/`write`, the key, the value.
    #[serde(default)]
    pub f: Option<String>,
    #[serde(default)]
    pub key: Option<u32>,
    #[serde(default)]
    pub value: Option<u64>,
    /// The first line's (`kind` `run`): the scenario's name and seed.
    #[serde(default)]
    pub scenario: String,
    #[serde(default)]
    pub seed: Option<u64>,
}

/// A trace line is at most this long (a note is at most 20,000
/// characters; events are short).
pub const TRACE_LINE_BYTES: u64 = 1 << 20;

/// Calls `each(line_number, line)` for every non-empty line of the trace
/// at `path`, parsed as `L`, in order; stops at the first error (`each`'s,
/// or a line that is not JSON of that shape, named by `file:line`).
pub fn for_each_line<L: DeserializeOwned>(
    path: &Path,
    mut each: impl FnMut(usize, L) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let shown = crate::util::escape(&path.display().to_string()).into_owned();
    // Look before opening: a FIFO would block, a device never end.
    let meta = std::fs::metadata(path).with_context(|| format!("cannot open {shown}"))?;
    if !meta.is_file() {
        bail!("cannot read {shown}: it is not a regular file");
    }
    let file = std::fs::File::open(path).with_context(|| format!("cannot open {shown}"))?;
    let mut reader = std::io::BufReader::new(file);
    let mut bytes = Vec::new();
    for i in 1.. {
        // One line at a time, each at most TRACE_LINE_BYTES: a file with no
        // line breaks is not read into memory whole.
        bytes.clear();
        let read = (&mut reader)
            .take(TRACE_LINE_BYTES + 1)
            .read_until(b'\n', &mut bytes)
            .with_context(|| format!("reading {shown}"))?;
        if read == 0 {
            break;
        }
        let not_a_trace = |why: String| {
            anyhow::anyhow!(
                "{shown}:{i}: not a line of a distlab trace ({why}); write one with `distlab run SCENARIO --trace OUT.jsonl`",
            )
        };
        if bytes.len() as u64 > TRACE_LINE_BYTES {
            return Err(not_a_trace(format!("longer than {} MiB", TRACE_LINE_BYTES >> 20)));
        }
        let line = std::str::from_utf8(&bytes).map_err(|_| not_a_trace("not UTF-8".into()))?;
        if line.trim().is_empty() {
            continue;
        }
        let parsed: L = serde_json::from_str(line).map_err(|e| not_a_trace(e.to_string()))?;
        each(i, parsed).with_context(|| format!("{shown}:{i}"))?;
    }
    Ok(())
}
