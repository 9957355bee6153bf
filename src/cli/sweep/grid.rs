//! The grid of a sweep: `--vary KEY=VALUES` parsed, and each point of the
//! grid written into the scenario's text.
//!
//! A key is a dotted path into the scenario file: `protocol.w`,
//! `network.drop`, `clients.0.ops` (an index picks an entry of an array of
//! tables), `timeline.2.at`; `nodes.n1.clock_offset` is short for
//! `cluster.node.n1.clock_offset`. Values are a comma-separated list, and
//! each item may be an inclusive range: `1..3` (1, 2, 3), `0..0.1/0.025`,
//! `0ms..200ms/50ms`; `-` leaves the key out of the file (so its default
//! applies). A value is written into the file with `toml_edit`,
//! which keeps the rest of the text as it was; the result is then loaded
//! and validated like any scenario file, so a value out of range gets the
//! loader's own error.

use distlab::time::{SimDuration, parse_duration};
use toml_edit::{DocumentMut, Item, Table, TableLike, Value};

/// The most values one `--vary` may expand to.
pub const MAX_VALUES: usize = 1_000;
/// The most configurations (grid points) one sweep may have.
pub const MAX_CONFIGURATIONS: usize = 10_000;

/// One `--vary KEY=VALUES`.
#[derive(Clone, Debug, PartialEq)]
pub struct Vary {
    /// The whole argument as given (`protocol.r=1..3`): what a sweep shard
    /// records, and `distlab merge` parses again.
    pub spec: String,
    /// As written (`nodes.n1.clock_offset`).
    pub key: String,
    /// The path in the file (`cluster`, `node`, `n1`, `clock_offset`).
    pub path: Vec<String>,
    pub values: Vec<Setting>,
}

/// An error of a configuration the sweep wrote, when it is about a line
/// the sweep wrote (a varied key's): shown against the `--vary` argument,
/// the caret under the value (or, for a key the file does not know, the
/// key), instead of a line of the edited copy the user never saw.
pub fn at_argument(
    e: &distlab::scenario::ScenarioError,
    edited: &str,
    vary: &[Vary],
    choice: &[usize],
) -> Option<String> {
    let line = edited.lines().nth(e.line.checked_sub(1)?)?.trim_start();
    let (v, &i) = vary.iter().zip(choice).find(|(v, _)| {
        let last = v.path.last().map_or("", String::as_str);
        line.strip_prefix(last).is_some_and(|rest| rest.trim_start().starts_with('='))
    })?;
    let (key, values) = v.spec.split_once('=')?;
    let arg = format!("--vary {}", v.spec);
    let values_at = "--vary ".len() + key.len() + 1;
    let (at, width) = if e.message.starts_with("unknown field") {
        let last = v.path.last().map_or("", String::as_str);
        let k = key.rfind(last).unwrap_or(0);
        ("--vary ".len() + k, last.len().max(1))
    } else {
        // The value's place in a list (`1,9`); a range's values are not
        // written out, so the caret spans them all.
        let mut offset = 0;
        let mut found = None;
        for item in values.split(',') {
            if item.trim() == v.values[i].label {
                found = Some((values_at + offset, item.len().max(1)));
                break;
            }
            offset += item.len() + 1;
        }
        found.unwrap_or((values_at, values.len().max(1)))
    };
    let mut out = format!(
        "--vary {}: {} (with {} = {})\n  |\n  | {arg}\n  | {}{}",
        v.spec,
        e.message,
        v.key,
        v.values[i].label,
        " ".repeat(at),
        "^".repeat(width)
    );
    if let Some(help) = &e.help {
        out.push_str(&format!("\n  = help: {help}"));
    }
    Some(out)
}

/// One value of a varied key.
#[derive(Clone, Debug, PartialEq)]
pub struct Setting {
    pub value: Scalar,
    /// As charts and tables show it (`150ms`, `0.05`, `sync`).
    pub label: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Scalar {
    Int(i64),
    Float(f64),
    Bool(bool),
    /// A duration, written into the file as text (`"150ms"`).
    Duration {
        us: i64,
    },
    Text(String),
    /// `-`: the key is left out of the file (its default applies).
    Absent,
}

impl Setting {
    /// Where the value sits on a numeric axis (durations in ms); `None`
    /// for words, which are drawn as categories.
    pub fn number(&self) -> Option<f64> {
        match self.value {
            Scalar::Int(i) => Some(i as f64),
            Scalar::Float(f) => Some(f),
            Scalar::Duration { us } => Some(us as f64 / 1000.0),
            Scalar::Bool(_) | Scalar::Text(_) | Scalar::Absent => None,
        }
    }
}

impl Vary {
    /// Are all its values numbers (or durations), so an axis can be
    /// numeric?
    pub fn numeric(&self) -> bool {
        self.values.iter().all(|v| v.number().is_some())
    }

    /// The unit of its values, for axis labels.
    pub fn unit(&self) -> Option<&'static str> {
        let last = self.path.last().map(String::as_str).unwrap_or_default();
        if self.values.iter().any(|v| matches!(v.value, Scalar::Duration { .. })) {
            Some("ms")
        } else if self.path.first().is_some_and(|p| p == "protocol") && matches!(last, "n" | "r" | "w") {
            Some("replicas")
        } else if ["drop", "duplicate", "reorder", "probability", "fail", "failure", "rate"]
            .iter()
            .any(|w| last == *w || last.ends_with(&format!("_{w}")) || last.starts_with(&format!("{w}_")))
        {
            Some("probability")
        } else {
            None
        }
    }
}

/// Parses `KEY=VALUES` (clap's value parser for `--vary`).
pub fn parse_vary(s: &str) -> Result<Vary, String> {
    let (key, values) = s.split_once('=').ok_or_else(|| {
        format!("expected KEY=VALUES such as `protocol.w=1,2,3` or `network.drop=0..0.1/0.05`, found `{s}`")
    })?;
    let key = key.trim();
    let path = parse_key(key)?;
    let mut settings = Vec::new();
    for item in values.split(',') {
        let item = item.trim();
        if item.is_empty() {
            return Err(format!("`{s}` has an empty value (values are separated by commas)"));
        }
        if item.contains("..") {
            settings.extend(parse_range(item)?);
        } else {
            settings.push(parse_scalar(item));
        }
        if settings.len() > MAX_VALUES {
            return Err(format!("`{key}` has more than {MAX_VALUES} values"));
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for v in &settings {
        if !seen.insert(v.label.as_str()) {
            return Err(format!("`{key}` lists the value `{}` twice", v.label));
        }
    }
    Ok(Vary { spec: s.trim().to_string(), key: key.to_string(), path, values: settings })
}

/// The tables of a scenario file (a test keeps this in step with
/// `scenario::raw::RawFile`).
pub const TABLES: &[&str] =
    &["scenario", "cluster", "protocol", "network", "capacity", "clients", "timeline", "nemesis", "expect"];

/// `nodes.n1.clock_offset` → `cluster.node.n1.clock_offset`.
fn parse_key(key: &str) -> Result<Vec<String>, String> {
    let parts: Vec<&str> = key.split('.').map(str::trim).collect();
    if parts.len() < 2 || parts.iter().any(|p| p.is_empty()) {
        return Err(format!(
            "`{key}` is not a key path; write it as in the file, e.g. `protocol.w` or `network.drop`"
        ));
    }
    let mut path: Vec<String> = parts.iter().map(|p| p.to_string()).collect();
    if matches!(parts[0], "nodes" | "node") {
        path.splice(0..1, ["cluster".to_string(), "node".to_string()]);
    }
    if !TABLES.contains(&path[0].as_str()) {
        let hint = distlab::scenario::did_you_mean(&path[0], TABLES.iter().copied())
            .map(|t| format!("did you mean `{t}`? "))
            .unwrap_or_default();
        return Err(format!(
            "`{key}`: a scenario file has no table `{}`; {hint}(tables: {}, and `nodes.NAME` for `cluster.node.NAME`)",
            path[0],
            TABLES.join(", ")
        ));
    }
    if path == ["scenario", "seed"] {
        return Err("`scenario.seed`: a sweep runs the seeds of --seeds, whatever the file says".into());
    }
    Ok(path)
}

fn parse_scalar(item: &str) -> Setting {
    if item == "-" {
        // Shown as what it means: the file's key is left to its default.
        return Setting { value: Scalar::Absent, label: "default".into() };
    }
    let value = if let Ok(i) = item.parse::<i64>() {
        Scalar::Int(i)
    } else if let Ok(f) =
        item.parse::<f64>().map_err(|_| ()).and_then(|f| if f.is_finite() { Ok(f) } else { Err(()) })
    {
        Scalar::Float(f)
    } else if let Ok(b) = item.parse::<bool>() {
        Scalar::Bool(b)
    } else if let Some(us) = signed_duration(item) {
        Scalar::Duration { us }
    } else {
        Scalar::Text(item.to_string())
    };
    Setting { value, label: item.to_string() }
}

/// `-100ms` → -100000: a duration with an optional sign (clock offsets
/// may be negative).
fn signed_duration(text: &str) -> Option<i64> {
    let (sign, rest) = match text.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, text),
    };
    let d = parse_duration(rest).ok()?;
    i64::try_from(d.as_micros()).ok().map(|us| sign * us)
}

fn duration_label(us: i64) -> String {
    if us == 0 {
        return "0ms".into();
    }
    let text = SimDuration(us.unsigned_abs()).to_string();
    if us < 0 { format!("-{text}") } else { text }
}

/// `A..B`, `A..=B` (the same: both ends included) with an optional
/// `/STEP`; integers step by 1 unless told, decimals and durations need a
/// step.
fn parse_range(item: &str) -> Result<Vec<Setting>, String> {
    let (range, step) = match item.split_once('/') {
        Some((r, s)) => (r, Some(s.trim())),
        None => (item, None),
    };
    let (a, b) = range
        .split_once("..=")
        .or_else(|| range.split_once(".."))
        .map(|(a, b)| (a.trim(), b.trim()))
        .ok_or_else(|| format!("`{item}` is not a range"))?;
    let bad = |why: &str| format!("`{item}`: {why} (ranges are `1..3`, `0..0.1/0.025` or `0ms..200ms/50ms`)");
    if let (Ok(a), Ok(b)) = (a.parse::<i64>(), b.parse::<i64>())
        && step.is_none_or(|s| s.parse::<i64>().is_ok())
    {
        let step =
            step.map_or(Ok(1), |s| s.parse::<i64>().map_err(|_| bad("the step is not a whole number")))?;
        return expand(a as f64, b as f64, step as f64, item)
            .map(|xs| xs.into_iter().map(|x| int_setting(x as i64)).collect());
    }
    if let (Ok(a), Ok(b)) = (a.parse::<f64>(), b.parse::<f64>()) {
        let step = step.ok_or_else(|| bad("a range of decimals needs a step"))?;
        let step: f64 = step.parse().map_err(|_| bad("the step is not a number"))?;
        return expand(a, b, step, item).map(|xs| {
            xs.into_iter()
                .map(|x| {
                    // 0.1 + 0.2 is 0.30000000000000004: keep ten decimals.
                    let x = (x * 1e10).round() / 1e10;
                    Setting { value: Scalar::Float(x), label: x.to_string() }
                })
                .collect()
        });
    }
    if let (Some(a), Some(b)) = (signed_duration(a), signed_duration(b)) {
        let step = step.ok_or_else(|| bad("a range of durations needs a step such as `/50ms`"))?;
        let step = signed_duration(step).ok_or_else(|| bad("the step is not a duration"))?;
        return expand(a as f64, b as f64, step as f64, item).map(|xs| {
            xs.into_iter()
                .map(|x| {
                    let us = x.round() as i64;
                    Setting { value: Scalar::Duration { us }, label: duration_label(us) }
                })
                .collect()
        });
    }
    Err(bad("its ends are not two numbers or two durations"))
}

fn int_setting(i: i64) -> Setting {
    Setting { value: Scalar::Int(i), label: i.to_string() }
}

/// `a, a + step, ..., b` (b included when the step lands on it).
fn expand(a: f64, b: f64, step: f64, item: &str) -> Result<Vec<f64>, String> {
    if step <= 0.0 || !step.is_finite() {
        return Err(format!("`{item}`: the step must be more than zero"));
    }
    if b < a {
        return Err(format!("`{item}`: the range ends before it starts"));
    }
    let count = ((b - a) / step + 1e-9).floor();
    if count >= MAX_VALUES as f64 {
        return Err(format!("`{item}` expands to more than {MAX_VALUES} values"));
    }
    Ok((0..=count as usize).map(|i| a + i as f64 * step).collect())
}

/// Writes `value` at `path` in the document, creating tables on the way
/// when they are missing. A number replacing a decimal is written as a
/// decimal (`drop = 0` would not be a valid probability otherwise).
pub fn assign(doc: &mut DocumentMut, vary: &Vary, setting: &Setting) -> Result<(), String> {
    let (last, parents) = vary.path.split_last().expect("a key has at least one part");
    let mut table: &mut dyn TableLike = doc.as_table_mut();
    let mut walked = String::new();
    let mut parts = parents.iter();
    while let Some(part) = parts.next() {
        let here = join(&walked, part);
        if table.get(part).is_none() {
            if parts.clone().next().is_some_and(|next| next.parse::<usize>().is_ok()) {
                return Err(format!(
                    "`{here}` has no entries in the file, so there is none to pick by index"
                ));
            }
            let mut new = Table::new();
            new.set_implicit(true);
            table.insert(part, Item::Table(new));
        }
        let item = table.get_mut(part).expect("inserted above");
        table = if item.is_array_of_tables() {
            let array = item.as_array_of_tables_mut().expect("checked");
            let index = parts.next().filter(|i| i.parse::<usize>().is_ok()).ok_or_else(|| {
                format!("`{here}` is a list of tables: pick one by index, e.g. `{here}.0.{last}`")
            })?;
            let len = array.len();
            let i: usize = index.parse().expect("checked");
            let entry = array.get_mut(i).ok_or_else(|| {
                format!("`{here}` has {len} entries (0 to {}), not {i}", len.saturating_sub(1))
            })?;
            walked = join(&here, index);
            entry
        } else {
            walked = here.clone();
            item.as_table_like_mut().ok_or_else(|| format!("`{here}` is a value, not a table"))?
        };
    }
    let decimal = table.get(last).and_then(Item::as_value).is_some_and(Value::is_float);
    if setting.value == Scalar::Absent {
        return match table.remove(last) {
            Some(_) => Ok(()),
            None => Err(format!("`{}` is not in the file, so `-` has nothing to leave out", vary.key)),
        };
    }
    let mut value: Value = match &setting.value {
        Scalar::Int(i) if decimal => Value::from(*i as f64),
        Scalar::Int(i) => Value::from(*i),
        Scalar::Float(f) => Value::from(*f),
        Scalar::Bool(b) => Value::from(*b),
        Scalar::Duration { .. } => Value::from(setting.label.as_str()),
        Scalar::Text(t) => Value::from(t.as_str()),
        Scalar::Absent => unreachable!("removed above"),
    };
    match table.get_mut(last) {
        Some(Item::Value(old)) => {
            // Keep the comment and spacing around the old value.
            *value.decor_mut() = old.decor().clone();
            *old = value;
        }
        Some(Item::None) | None => {
            table.insert(last, Item::Value(value));
        }
        Some(_) => return Err(format!("`{}` is a table, not a value", vary.key)),
    }
    Ok(())
}

fn join(walked: &str, part: &str) -> String {
    if walked.is_empty() { part.to_string() } else { format!("{walked}.{part}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(s: &str) -> Vec<String> {
        parse_vary(s).unwrap().values.into_iter().map(|v| v.label).collect()
    }

    #[test]
    fn values_lists_and_ranges_expand() {
        assert_eq!(labels("protocol.w=1,2,3"), ["1", "2", "3"]);
        assert_eq!(labels("protocol.r=1..3"), ["1", "2", "3"]);
        assert_eq!(labels("protocol.r=1..=3"), ["1", "2", "3"]);
        assert_eq!(labels("network.drop=0..0.1/0.025"), ["0", "0.025", "0.05", "0.075", "0.1"]);
        assert_eq!(
            labels("nodes.n1.clock_offset=0ms..200ms/50ms"),
            ["0ms", "50ms", "100ms", "150ms", "200ms"]
        );
        assert_eq!(labels("nodes.n1.clock_offset=-100ms..100ms/100ms"), ["-100ms", "0ms", "100ms"]);
        assert_eq!(labels("protocol.mode=async,semi-sync,sync"), ["async", "semi-sync", "sync"]);
        let v = parse_vary("nodes.n1.clock_offset=0ms,1s").unwrap();
        assert_eq!(v.path, ["cluster", "node", "n1", "clock_offset"]);
        assert_eq!(v.values[1].number(), Some(1000.0));
        assert_eq!(v.unit(), Some("ms"));
        assert!(!parse_vary("protocol.mode=async,sync").unwrap().numeric());
    }

    #[test]
    fn bad_grids_say_what_was_expected() {
        for (arg, says) in [
            ("protocol.w", "expected KEY=VALUES"),
            ("protocol..w=1", "not a key path"),
            ("protocol.w=1,,2", "empty value"),
            ("network.drop=0..0.1", "needs a step"),
            ("nodes.n1.clock_offset=0ms..1s", "needs a step"),
            ("protocol.r=3..1", "ends before it starts"),
            ("protocol.r=1..5/0", "more than zero"),
            ("protocol.r=1..100000", "more than 1000 values"),
            ("protocol.r=1,2,1", "twice"),
            ("protocol.r=1..x", "not two numbers"),
            ("protocl.r=1", "no table `protocl`; did you mean `protocol`?"),
            ("r=1", "not a key path"),
            ("network=1", "not a key path"),
            ("scenario.seed=1,2", "runs the seeds of --seeds"),
        ] {
            let err = parse_vary(arg).unwrap_err();
            assert!(err.contains(says), "{arg}: {err}");
        }
    }

    #[test]
    fn the_tables_are_the_scenario_file_s() {
        // serde names the fields it expected when it meets an unknown one.
        let err = toml::from_str::<distlab::scenario::raw::RawFile>("bogus = 1").unwrap_err().to_string();
        for t in TABLES {
            assert!(err.contains(&format!("`{t}`")), "{t} is not a table of RawFile: {err}");
        }
        let listed = err.matches('`').count() / 2 - 1; // minus `bogus`
        assert_eq!(listed, TABLES.len(), "RawFile has a table TABLES lacks: {err}");
    }

    #[test]
    fn assignments_edit_the_file_in_place() {
        let text = "[scenario]\nname = \"x\" # the name\n\n[network]\ndrop = 0.5 # lossy\n\n[[clients]]\nops = 5\n\n[[clients]]\nops = 6\n";
        let set = |doc: &mut DocumentMut, arg: &str| {
            let v = parse_vary(arg).unwrap();
            assign(doc, &v, &v.values[0])
        };
        let mut doc: DocumentMut = text.parse().unwrap();
        set(&mut doc, "network.drop=0").unwrap();
        set(&mut doc, "clients.1.ops=9").unwrap();
        set(&mut doc, "nodes.n2.clock_offset=150ms").unwrap();
        set(&mut doc, "protocol.mode=sync").unwrap();
        set(&mut doc, "scenario.name=-").unwrap();
        let out = doc.to_string();
        assert!(out.contains("drop = 0.0 # lossy"), "{out}");
        assert!(out.contains("ops = 5\n") && out.contains("ops = 9\n"), "{out}");
        assert!(out.contains("[cluster.node.n2]\nclock_offset = \"150ms\""), "{out}");
        assert!(out.contains("[protocol]\nmode = \"sync\""), "{out}");
        assert!(
            out.starts_with("[scenario]\n\n[network]\ndrop = 0.0 # lossy\n"),
            "`-` removes, the rest stays: {out}"
        );
        for (arg, says) in [
            ("clients.ops=1", "is a list of tables: pick one by index, e.g. `clients.0.ops`"),
            ("clients.7.ops=1", "`clients` has 2 entries (0 to 1), not 7"),
            ("network.drop.x=1", "`network.drop` is a value, not a table"),
            ("nodes.n2=1", "`nodes.n2` is a table, not a value"),
            ("timeline.0.at=1s", "`timeline` has no entries in the file"),
            ("network.spread=-", "`network.spread` is not in the file, so `-` has nothing to leave out"),
        ] {
            let err = set(&mut doc, arg).unwrap_err();
            assert!(err.contains(says), "{arg}: {err}");
        }
    }
}
