//! One run's charts from the trace `distlab run --trace` saved: reading
//! the JSON lines (bounded: a hostile file ends in an error, never an
//! exhausted machine) and drawing latency, messages in flight and every
//! gauge, faults marked.

use crate::check::trace_file::{Line, for_each_line};
use crate::plot::{self, Chart, Figure, Kind, Marker, Series};
use crate::util::{clip, escape};
use anyhow::bail;
use std::collections::BTreeMap;
use std::path::Path;

/// What the charts are drawn from.
#[derive(Debug, Default, PartialEq)]
pub struct RunData {
    /// (end time s, latency ms) per outcome: ok, fail, info.
    pub latency: [Vec<(f64, f64)>; 3],
    /// (time s, messages in flight) after each change.
    pub in_flight: Vec<(f64, f64)>,
    /// Gauge → (time s, value).
    pub gauges: BTreeMap<String, Vec<(f64, f64)>>,
    /// Gauge → its unit, where the trace says (escaped, clipped).
    pub units: BTreeMap<String, String>,
    pub faults: Vec<Marker>,
    pub events: usize,
    /// The run, from the trace's first line (`name, seed N`), escaped;
    /// `None` for a trace without one.
    pub run: Option<String>,
}

/// At most this many gauges are drawn (a protocol has a few).
const MAX_GAUGES: usize = 100;

/// A gauge's name is shown by at most this many characters.
const GAUGE_NAME_CHARS: usize = 80;

/// A gauge's unit is shown by at most this many characters.
const UNIT_CHARS: usize = 40;

/// A fault's label on a chart is at most this many characters.
const LABEL_CHARS: usize = 120;

/// Trace kinds that are faults, marked on the charts.
const FAULT_KINDS: &[&str] = &["crash", "restart", "pause", "resume", "partition", "heal", "clock", "link"];

/// Reads a trace file.
pub fn read(path: &Path) -> anyhow::Result<RunData> {
    let shown = escape(&path.display().to_string()).into_owned();
    let mut data = RunData::default();
    let mut invoked: BTreeMap<u64, u64> = BTreeMap::new();
    let mut in_flight: i64 = 0;
    // Messages held at a paused node, by node: still in flight, and lost
    // (with no event of their own) if the node crashes before resuming.
    let mut held: BTreeMap<String, std::collections::BTreeSet<u64>> = BTreeMap::new();
    for_each_line(path, |_, l: Line| {
        let t = l.time_us as f64 / 1e6;
        // Sample lines, history lines (`op`) and the run's line are not
        // events.
        data.events += usize::from(!matches!(l.kind.as_str(), "sample" | "op" | "run"));
        if l.kind == "run" {
            let seed = l.seed.map(|s| format!(", seed {s}")).unwrap_or_default();
            data.run = Some(escape(&clip(&format!("{}{seed}", l.scenario), LABEL_CHARS)).into_owned());
            return Ok(());
        }
        match l.kind.as_str() {
            "invoke" => {
                invoked.insert(l.msg, l.time_us);
            }
            "complete" => {
                if let Some(start) = invoked.remove(&l.msg) {
                    let outcome = match l.text.rsplit("-> ").next().unwrap_or_default() {
                        o if o.starts_with("Ok") => 0,
                        o if o.starts_with("Fail") => 1,
                        _ => 2,
                    };
                    data.latency[outcome].push((t, l.time_us.saturating_sub(start) as f64 / 1000.0));
                }
            }
            "send" | "duplicate" => in_flight += 1,
            "deliver" | "drop" => {
                in_flight -= 1;
                if let Some(h) = held.get_mut(&l.node) {
                    h.remove(&l.msg);
                }
            }
            "hold" => {
                held.entry(l.node.clone()).or_default().insert(l.msg);
                return Ok(());
            }
            "sample" => {
                for (raw, v) in l.gauges {
                    if raw == "messages_in_flight" {
                        continue;
                    }
                    // A name from the file: printable, and short enough
                    // for a title.
                    let name = escape(&clip(&raw, GAUGE_NAME_CHARS)).into_owned();
                    if !data.gauges.contains_key(&name) && data.gauges.len() == MAX_GAUGES {
                        bail!("more than {MAX_GAUGES} gauges; a distlab trace samples a few");
                    }
                    if let Some(unit) = l.units.get(&raw) {
                        data.units.insert(name.clone(), escape(&clip(unit, UNIT_CHARS)).into_owned());
                    }
                    data.gauges.entry(name).or_default().push((t, v));
                }
                return Ok(());
            }
            kind if FAULT_KINDS.contains(&kind) => {
                if kind == "crash"
                    && let Some(lost) = held.remove(&l.node)
                {
                    in_flight -= lost.len() as i64;
                }
                data.faults.push(Marker { x: t, label: escape(&clip(&l.text, LABEL_CHARS)).into_owned() });
            }
            _ => return Ok(()),
        }
        if matches!(l.kind.as_str(), "send" | "duplicate" | "deliver" | "drop" | "crash") {
            match data.in_flight.last_mut() {
                Some(last) if last.0 == t => last.1 = in_flight as f64,
                _ => data.in_flight.push((t, in_flight as f64)),
            }
        }
        Ok(())
    })?;
    if data.events == 0 {
        bail!("{shown} is empty: no trace events to draw");
    }
    Ok(data)
}

/// The charts of one run, by file stem, named as `distlab sweep` names its
/// charts over time: `latency-over-time`, `messages_in_flight-over-time`,
/// and `GAUGE-over-time` per gauge, the gauge's name made safe by
/// [`plot::file_stem`] (so a name read from the trace cannot leave the
/// output folder) and unique.
pub fn charts(data: &RunData, title: &str) -> Vec<(String, Figure)> {
    let title = escape(title);
    let mut latency =
        Chart::new(format!("{title}: client latency"), "time the operation ended (s)", "latency (ms)");
    latency.kind = Kind::Points;
    for (name, points) in ["ok", "fail", "info (unknown)"].into_iter().zip(&data.latency) {
        if !points.is_empty() {
            latency.series.push(Series { name: name.into(), points: points.clone() });
        }
    }
    latency.markers = data.faults.clone();
    let mut out = Vec::new();
    if !latency.series.is_empty() {
        out.push(("latency-over-time".to_string(), Figure::from(latency)));
    }
    let mut in_flight =
        Chart::new(format!("{title}: messages in flight"), "time (s)", "messages in flight (count)");
    in_flight.series.push(Series { name: String::new(), points: data.in_flight.clone() });
    in_flight.markers = data.faults.clone();
    out.push(("messages_in_flight-over-time".into(), in_flight.into()));
    for (name, points) in &data.gauges {
        let y_label = match data.units.get(name) {
            Some(unit) => format!("{name} ({unit})"),
            None => name.clone(),
        };
        let mut chart = Chart::new(format!("{title}: {name}"), "time (s)", y_label);
        chart.series.push(Series { name: String::new(), points: points.clone() });
        chart.markers = data.faults.clone();
        let stem = format!("{}-over-time", plot::file_stem(name));
        let taken = |s: &str| out.iter().any(|(o, _): &(String, Figure)| o.eq_ignore_ascii_case(s));
        let unique = (1..)
            .map(|k| if k == 1 { stem.clone() } else { format!("{stem}-{k}") })
            .find(|s| !taken(s))
            .expect("some suffix is free");
        out.push((unique, chart.into()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A gauge's chart is labelled with the unit its sample lines carry
    /// (as the protocol declares it), and with none when the trace does
    /// not say: the unit is never guessed from the name (`lag` was drawn
    /// as a count, `hops_ms` in ms). A unit read from the file is escaped.
    #[test]
    fn gauge_charts_take_their_unit_from_the_trace() {
        let path = std::env::temp_dir().join(format!("distlab-trace-units-{}.jsonl", std::process::id()));
        let lines = [
            r#"{"step":1,"time_us":0,"kind":"send","msg":1,"text":"x"}"#,
            r#"{"step":1,"time_us":0,"kind":"sample","gauges":{"lag":3,"hops_ms":2,"x":1},"units":{"lag":"ms","x":"\u001b]0;pwned\u0007"}}"#,
        ];
        std::fs::write(&path, lines.join("\n")).expect("write the trace");
        let data = read(&path).expect("a trace");
        std::fs::remove_file(&path).ok();
        let label = |name: &str| {
            let stem = format!("{name}-over-time");
            let (_, figure) = charts(&data, "t").into_iter().find(|c| c.0 == stem).expect("drawn");
            figure.panels[0].y_label.clone()
        };
        assert_eq!(label("lag"), "lag (ms)");
        assert_eq!(label("hops_ms"), "hops_ms");
        assert!(!label("x").contains('\u{1b}'), "a unit from the file is printed escaped: {}", label("x"));
    }
}
