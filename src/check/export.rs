//! `distlab export`: a run's trace in the formats of other tools.
//!
//! The trace file (`distlab run --trace`) holds every event and, after
//! each client invocation and completion, a history line (`"kind":"op"`).
//! From it:
//! - [`Format::Jepsen`]: the client history as Jepsen writes it, one EDN map
//!   per line (`:type` `:invoke`/`:ok`/`:fail`/`:info`, `:process`, `:f`,
//!   `:value`, `:time` in ns, `:index`), which Knossos and Elle read.
//!   Register operations are `:f :read`/`:f :write` with `:value [key v]`,
//!   the tuples of `jepsen.independent` (one register per key); other
//!   operations (transfers, orders, carts) have `:f` named after their
//!   first word and their words as `:value`.
//! - [`Format::Porcupine`]: the register operations as one JSON array of
//!   Porcupine's `Operation` (`ClientId`, `Input`, `Call`, `Output`,
//!   `Return`), which `json.Unmarshal` reads into `[]porcupine.Operation`
//!   for `CheckOperationsVerbose` and its visualizer. `Call` and `Return`
//!   are positions in the history (a strict order: the simulator's own);
//!   `CallUs`/`ReturnUs` carry the simulated times. A failed operation did
//!   not happen and is left out; a write whose outcome is unknown returns
//!   after everything else; a read whose outcome is unknown says nothing
//!   and is left out.
//! - [`Format::Shiviz`]: a ShiViz log — its parsing regex on the first
//!   line, an empty execution delimiter on the second, then one line per
//!   event: `host {vector clock} event`. The vector clocks are rebuilt from
//!   the send/deliver pairs (a duplicate carries its original's clock; a
//!   lost message is never received), so ShiViz draws the space-time
//!   diagram in a browser. Capped at a number of events (ShiViz is for
//!   small runs): the log says where it stopped.
//! - [`Format::Jsonl`]: the client history alone as JSON lines (the trace's
//!   `op` lines, Jepsen's processes), for scripts.
//!
//! Processes are the history's own: as in Jepsen, a process whose
//! operation ended `info` (unknown: it may still take effect) never
//! invokes again — a fresh process takes its place.

use super::trace_file::{Line, for_each_line};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// The formats `distlab export` writes. See the module docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Jepsen,
    Porcupine,
    Shiviz,
    Jsonl,
}

impl Format {
    pub const ALL: [Format; 4] = [Format::Jepsen, Format::Porcupine, Format::Shiviz, Format::Jsonl];

    pub fn name(self) -> &'static str {
        match self {
            Format::Jepsen => "jepsen",
            Format::Porcupine => "porcupine",
            Format::Shiviz => "shiviz",
            Format::Jsonl => "jsonl",
        }
    }
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Format::ALL.into_iter().find(|f| f.name() == s).ok_or_else(|| {
            let names: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
            format!("unknown export format `{s}`: expected one of {}", names.join(", "))
        })
    }
}

/// A ShiViz log stops after this many events unless told otherwise.
pub const SHIVIZ_EVENTS: u64 = 20_000;

/// What an export wrote.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Exported {
    /// Operations (history formats) or events (ShiViz) written.
    pub written: u64,
    /// Left out, with why, for the user to be told.
    pub left_out: Option<String>,
}

/// Writes the trace at `trace` to `out` in `format`. `shiviz_events` caps
/// a ShiViz log.
pub fn export(
    trace: &Path,
    format: Format,
    out: &mut dyn Write,
    shiviz_events: u64,
) -> anyhow::Result<Exported> {
    match format {
        Format::Jepsen => jepsen(trace, out),
        Format::Porcupine => porcupine(trace, out),
        Format::Shiviz => shiviz(trace, out, shiviz_events),
        Format::Jsonl => jsonl(trace, out),
    }
}

fn history_lines(trace: &Path, mut each: impl FnMut(Line) -> anyhow::Result<()>) -> anyhow::Result<()> {
    for_each_line(trace, |_, l: Line| {
        if l.kind != "op" {
            return Ok(());
        }
        if !matches!(l.outcome.as_str(), "invoke" | "ok" | "fail" | "info") {
            anyhow::bail!("an op line of type `{}`: expected invoke, ok, fail or info", l.outcome);
        }
        each(l)
    })
}

/// An EDN string literal.
fn edn_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A keyword for an operation that is not a register access: its first
/// word (`transfer 30 from a1 to a2` → `:transfer`).
fn op_keyword(op: &str) -> String {
    let word: String = op
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect::<String>()
        .to_ascii_lowercase();
    if word.is_empty() || word.starts_with(|c: char| c.is_ascii_digit()) { "op".into() } else { word }
}

fn jepsen(trace: &Path, out: &mut dyn Write) -> anyhow::Result<Exported> {
    let mut index = 0u64;
    history_lines(trace, |l| {
        let process = l.process;
        let (f, value) = match (l.f.as_deref(), l.key) {
            (Some(f @ ("read" | "write")), Some(key)) => {
                let v = match (f, l.outcome.as_str(), l.value) {
                    // A read's value is known only on its ok completion.
                    ("read", "ok", Some(v)) | ("write", _, Some(v)) => v.to_string(),
                    _ => "nil".into(),
                };
                (f.to_string(), format!("[{key} {v}]"))
            }
            _ => {
                let v = if l.outcome == "ok" && !l.answer.is_empty() { &l.answer } else { &l.op };
                (op_keyword(&l.op), edn_string(v))
            }
        };
        let mut line = format!(
            "{{:index {index}, :time {}, :type :{}, :process {process}, :f :{f}, :value {value}, :op-id {}",
            l.time_us * 1000,
            l.outcome,
            l.op_id
        );
        if !l.node.is_empty() {
            line.push_str(&format!(", :node {}", edn_string(&l.node)));
        }
        line.push('}');
        writeln!(out, "{line}")?;
        index += 1;
        Ok(())
    })?;
    Ok(Exported { written: index, left_out: None })
}

/// A history line of the JSON-lines export.
#[derive(Serialize)]
struct JsonlOp<'a> {
    index: u64,
    time_us: u64,
    #[serde(rename = "type")]
    outcome: &'a str,
    process: u32,
    op_id: u64,
    op: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    answer: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    node: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    f: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<u64>,
}

fn jsonl(trace: &Path, out: &mut dyn Write) -> anyhow::Result<Exported> {
    let mut index = 0u64;
    history_lines(trace, |l| {
        let line = JsonlOp {
            index,
            time_us: l.time_us,
            outcome: &l.outcome,
            process: l.process,
            op_id: l.op_id,
            op: &l.op,
            answer: &l.answer,
            node: &l.node,
            f: l.f.as_deref(),
            key: l.key,
            value: l.value,
        };
        serde_json::to_writer(&mut *out, &line)?;
        out.write_all(b"\n")?;
        index += 1;
        Ok(())
    })?;
    Ok(Exported { written: index, left_out: None })
}

/// One of Porcupine's `Operation`s (field names as the Go struct's).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PorcupineOp {
    client_id: u32,
    input: PorcupineInput,
    call: u64,
    output: PorcupineOutput,
    #[serde(rename = "Return")]
    ret: u64,
    call_us: u64,
    /// `None`: the write's outcome is unknown.
    return_us: Option<u64>,
    op_id: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PorcupineInput {
    op: &'static str,
    key: u32,
    /// A write's value.
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<u64>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct PorcupineOutput {
    /// What a read returned (`null`: nothing).
    value: Option<u64>,
    /// The operation's outcome is unknown (a write that may or may not
    /// have happened).
    unknown: bool,
}

/// An invocation waiting for its completion.
struct Open {
    client_id: u32,
    input: PorcupineInput,
    call: u64,
    call_us: u64,
}

fn porcupine(trace: &Path, out: &mut dyn Write) -> anyhow::Result<Exported> {
    let mut open: BTreeMap<u64, Open> = BTreeMap::new();
    let (mut position, mut written, mut skipped) = (0u64, 0u64, 0u64);
    let mut write_op = |out: &mut dyn Write, op: PorcupineOp| -> anyhow::Result<()> {
        out.write_all(if written == 0 { b"[\n" } else { b",\n" })?;
        serde_json::to_writer(&mut *out, &op)?;
        written += 1;
        Ok(())
    };
    history_lines(trace, |l| {
        position += 1;
        let client_id = l.process;
        let register = match (l.f.as_deref(), l.key) {
            (Some("read"), Some(key)) => Some(PorcupineInput { op: "read", key, value: None }),
            (Some("write"), Some(key)) => Some(PorcupineInput { op: "write", key, value: l.value }),
            _ => None,
        };
        let Some(input) = register else {
            skipped += u64::from(l.outcome == "invoke");
            return Ok(());
        };
        if l.outcome == "invoke" {
            open.insert(l.op_id, Open { client_id, input, call: position, call_us: l.time_us });
            return Ok(());
        }
        let Some(o) = open.remove(&l.op_id) else { return Ok(()) };
        match l.outcome.as_str() {
            "ok" => {
                let value = if o.input.op == "read" { l.value } else { o.input.value };
                let output = PorcupineOutput { value, unknown: false };
                let op = PorcupineOp {
                    client_id: o.client_id,
                    input: o.input,
                    call: o.call,
                    output,
                    ret: position,
                    call_us: o.call_us,
                    return_us: Some(l.time_us),
                    op_id: l.op_id,
                };
                write_op(out, op)
            }
            // Did not happen.
            "fail" => Ok(()),
            // Unknown: a write may take effect at any time after its call.
            _ => {
                if o.input.op == "write" {
                    open.insert(l.op_id, o);
                }
                Ok(())
            }
        }
    })?;
    // Unknown writes (and operations still open at the end) return after
    // everything; unknown reads say nothing.
    for (op_id, o) in std::mem::take(&mut open) {
        if o.input.op != "write" {
            continue;
        }
        let output = PorcupineOutput { value: None, unknown: true };
        let (client_id, call, call_us) = (o.client_id, o.call, o.call_us);
        let op = PorcupineOp {
            client_id,
            input: o.input,
            call,
            output,
            ret: position + 1,
            call_us,
            return_us: None,
            op_id,
        };
        write_op(out, op)?;
    }
    out.write_all(if written == 0 { b"[]\n" } else { b"\n]\n" })?;
    let left_out = (skipped > 0).then(|| {
        format!("{skipped} operations are not register reads or writes; Porcupine's export leaves them out")
    });
    Ok(Exported { written, left_out })
}

/// ShiViz's parsing regex for the lines `shiviz` writes.
pub const SHIVIZ_REGEX: &str = r"(?<host>\S+) (?<clock>\{[^}]*\}) (?<event>.*)";

fn shiviz(trace: &Path, out: &mut dyn Write, limit: u64) -> anyhow::Result<Exported> {
    writeln!(out, "{SHIVIZ_REGEX}")?;
    writeln!(out)?;
    // Host → its vector clock (host index → count), hosts numbered as met.
    let mut hosts: BTreeMap<String, usize> = BTreeMap::new();
    let mut names: Vec<String> = Vec::new();
    let mut clocks: Vec<Vec<u64>> = Vec::new();
    // Message → the sender's clock when it sent it (until it is delivered
    // or lost).
    let mut sent: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    let mut written = 0u64;
    let mut more = 0u64;
    let host_of = |name: &str,
                   hosts: &mut BTreeMap<String, usize>,
                   names: &mut Vec<String>,
                   clocks: &mut Vec<Vec<u64>>| {
        let shown: String =
            name.chars().map(|c| if c.is_whitespace() || c == '{' { '_' } else { c }).collect();
        *hosts.entry(shown.clone()).or_insert_with(|| {
            names.push(shown);
            clocks.push(Vec::new());
            names.len() - 1
        })
    };
    for_each_line(trace, |_, l: Line| {
        let event = match l.kind.as_str() {
            "send" => format!("send {} to {}", label(&l), l.peer),
            "deliver" => format!("receive {} from {}", label(&l), l.peer),
            "duplicate" => {
                // The network's copy carries the original's clock.
                let original = l.text.rsplit(' ').next().and_then(|m| m.parse::<u64>().ok());
                if let Some(c) = original.and_then(|m| sent.get(&m)).cloned() {
                    sent.insert(l.msg, c);
                }
                return Ok(());
            }
            "drop" => {
                sent.remove(&l.msg);
                return Ok(());
            }
            "invoke" | "complete" | "crash" | "restart" | "pause" | "resume" | "note" => l.text.clone(),
            _ => return Ok(()),
        };
        if l.node.is_empty() {
            return Ok(());
        }
        if written == limit {
            more += 1;
            return Ok(());
        }
        let h = host_of(&l.node, &mut hosts, &mut names, &mut clocks);
        let clock = &mut clocks[h];
        if clock.len() <= h {
            clock.resize(h + 1, 0);
        }
        if l.kind == "deliver"
            && let Some(theirs) = sent.remove(&l.msg)
        {
            if clock.len() < theirs.len() {
                clock.resize(theirs.len(), 0);
            }
            for (mine, &t) in clock.iter_mut().zip(&theirs) {
                *mine = (*mine).max(t);
            }
        }
        clock[h] += 1;
        if l.kind == "send" {
            sent.insert(l.msg, clock.clone());
        }
        let entries: Vec<String> = clock
            .iter()
            .enumerate()
            .filter(|&(_, &c)| c > 0)
            .map(|(i, c)| format!("{}:{c}", serde_json::to_string(&names[i]).unwrap_or_default()))
            .collect();
        let text: String = event.chars().map(|c| if c == '\n' || c == '\r' { ' ' } else { c }).collect();
        writeln!(out, "{} {{{}}} {}", names[h], entries.join(", "), text)?;
        written += 1;
        Ok(())
    })?;
    let left_out = (more > 0).then(|| {
        format!("the log stops after {limit} events ({more} more in the trace); ShiViz is for small runs")
    });
    Ok(Exported { written, left_out })
}

/// A message's label in the ShiViz log: the protocol's short label, else
/// its text.
fn label(l: &Line) -> &str {
    if l.label.is_empty() { &l.text } else { &l.label }
}
