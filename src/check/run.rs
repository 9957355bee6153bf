//! Running one scenario: to its end, sampling gauges along the way, or
//! streaming its trace to a file; and the summary `distlab run` prints
//! (as text or JSON).

use crate::check::ExpectationResult;
pub use crate::check::report::{counters_report, full_report, ok_latencies_us};
use crate::nodes::RegisterView;
use crate::protocols::RunOptions;
use crate::scenario::Scenario;
use crate::sim::trace::NONE;
use crate::sim::{
    Driver, EndpointId, HistoryEvent, HistoryKind, Origin, SimTime, TraceEvent, TraceKind, TraceLevel,
    TraceSink,
};
use anyhow::Context as _;
use serde::Serialize;
use std::io::Write;
use std::sync::{Arc, Mutex};

/// Everything a run produced, as `--json` prints it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct RunSummary {
    pub scenario: String,
    pub protocol: &'static str,
    pub seed: u64,
    /// The trace digest (absent at trace level `off`).
    pub digest: Option<String>,
    pub events: u64,
    pub messages: Messages,
    pub ops: Ops,
    pub checks: Vec<CheckOut>,
    #[serde(serialize_with = "crate::util::whole::map")]
    pub metrics: std::collections::BTreeMap<&'static str, f64>,
    pub expectations: Vec<ExpectationResult>,
    pub faults: Vec<String>,
    /// Each node's load, when nodes have a capacity (`[capacity]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub load: Vec<crate::sim::LoadSummary>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Messages {
    pub sent: u64,
    pub delivered: u64,
    pub dropped: u64,
    pub duplicated: u64,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Ops {
    pub invoked: u64,
    pub ok: u64,
    pub fail: u64,
    pub info: u64,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct CheckOut {
    pub name: &'static str,
    pub holds: bool,
    pub detail: String,
    /// The step at which it first broke, when the check recorded one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub broke_at_step: Option<u64>,
    /// The events that caused the first violation, in step order (absent
    /// when it holds or the check names none).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub causes: Vec<crate::sim::Cause>,
}

impl RunSummary {
    pub fn all_met(&self) -> bool {
        self.expectations.iter().all(|e| e.met)
    }
}

/// Runs a scenario to its duration and summarises it. (A run that halts
/// stops early: see [`Driver::halted`].)
pub fn execute(scenario: &Scenario, options: RunOptions) -> (Box<dyn Driver>, RunSummary) {
    let mut run = scenario.protocol.build(scenario, options);
    run.run_until(scenario.duration);
    let summary = summarise(scenario, run.as_ref(), options.seed.unwrap_or(scenario.seed));
    (run, summary)
}

/// How many times a traced run samples its gauges (at evenly spaced times,
/// the start and the end included).
pub const TRACE_SAMPLES: u32 = 200;

/// The gauges at one instant of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub time: SimTime,
    pub gauges: Vec<(&'static str, f64)>,
}

/// The time of sample `i` of `samples` over `duration`.
pub fn sample_time(duration: SimTime, i: u32, samples: u32) -> SimTime {
    SimTime((duration.0 as u128 * i as u128 / samples.max(1) as u128) as u64)
}

/// Runs `run` to `until`, reading its gauges at `samples` evenly spaced
/// times on the way (and at the start). Stepping in windows changes
/// nothing: `run_until` never goes past its bound. A run that halts (see
/// [`Driver::halted`]) is sampled no further.
pub fn run_sampled(run: &mut dyn Driver, until: SimTime, samples: u32) -> Vec<Sample> {
    let mut out = Vec::with_capacity(samples as usize + 1);
    for_each_sample(run, until, samples, |s| out.push(s));
    out
}

/// [`run_sampled`], handing each sample to `f` as soon as it is taken.
pub fn for_each_sample(run: &mut dyn Driver, until: SimTime, samples: u32, mut f: impl FnMut(Sample)) {
    for i in 0..=samples {
        let time = sample_time(until, i, samples);
        run.run_until(time);
        if run.halted().is_some() {
            return;
        }
        f(Sample { time, gauges: run.gauges() });
    }
}

pub fn summarise(scenario: &Scenario, run: &dyn Driver, seed: u64) -> RunSummary {
    let faults = run
        .applied_faults()
        .iter()
        .filter(|f| !matches!(f.fault, crate::sim::Fault::Note { .. }))
        .map(|f| format!("{} {} ({})", f.at, run.describe_fault(&f.fault), origin_name(f.origin)))
        .collect();
    let digest = run.digest().map(|d| d.to_string());
    let mut summary = summary_of(scenario, seed, full_report(run), run.stats(), faults, digest);
    if run.models_capacity() {
        summary.load = run.loads();
    }
    summary
}

/// The summary of a run from its parts: the full report (see
/// [`full_report`]), the counters, the applied faults in words and the
/// trace digest. [`summarise`] reads them from a simulated run (and adds
/// each node's load when nodes have a capacity); a live run (`distlab
/// live`) collects its own.
pub fn summary_of(
    scenario: &Scenario,
    seed: u64,
    report: crate::sim::Report,
    s: crate::sim::Stats,
    faults: Vec<String>,
    digest: Option<String>,
) -> RunSummary {
    let expectations = scenario.expectations.iter().map(|e| e.evaluate(&report)).collect();
    RunSummary {
        scenario: scenario.name.clone(),
        protocol: scenario.protocol.name(),
        seed,
        digest,
        events: s.events,
        messages: Messages {
            sent: s.sent,
            delivered: s.delivered,
            dropped: s.dropped,
            duplicated: s.duplicated,
        },
        ops: Ops { invoked: s.ops_invoked, ok: s.ops_ok, fail: s.ops_fail, info: s.ops_info },
        checks: report
            .checks
            .iter()
            .map(|v| CheckOut {
                name: v.name,
                holds: v.holds,
                detail: v.detail.clone(),
                broke_at_step: v.first_violation.map(|at| at.step),
                causes: v.causes.clone(),
            })
            .collect(),
        metrics: report.metrics,
        expectations,
        faults,
        load: Vec::new(),
    }
}

/// Runs a scenario to its end (or until it halts) with tracing `full`,
/// streaming every event to `out` as JSON lines as it happens, with the
/// gauges sampled [`TRACE_SAMPLES`] times in between: the trace keeps no
/// events in memory, however long the run.
pub fn trace_to_file(
    scenario: &Scenario,
    options: RunOptions,
    budget: crate::sim::Budget,
    out: &std::path::Path,
) -> anyhow::Result<Box<dyn Driver>> {
    anyhow::ensure!(
        options.trace == TraceLevel::Full,
        "--trace writes events, which needs --trace-level full"
    );
    let writing = || format!("writing the trace to {}", out.display());
    let mut run = scenario.protocol.build(scenario, options);
    run.set_budget(budget);
    let seed = options.seed.unwrap_or(scenario.seed);
    let file = TraceFile::create(out, scenario, seed, run.as_ref()).with_context(writing)?;
    run.stream_trace(Box::new(file.clone()));
    for_each_sample(run.as_mut(), scenario.duration, TRACE_SAMPLES, |s| file.sample(&s));
    drop(run.take_trace_sink());
    file.finish().with_context(writing)?;
    Ok(run)
}

/// Where a fault came from, as the summary names it.
pub fn origin_name(origin: Origin) -> &'static str {
    match origin {
        Origin::Timeline => "timeline",
        Origin::Nemesis => "nemesis",
        Origin::Intervention => "intervention",
    }
}

/// One line of the `--trace` file: a [`TraceEvent`] with its endpoints
/// named (`n1`, `app.0`) instead of numbered.
#[derive(Serialize)]
struct TraceLine<'a> {
    step: u64,
    time_us: u64,
    kind: TraceKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    node: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    peer: Option<&'a str>,
    /// A message id; for client operation events, the operation id.
    #[serde(skip_serializing_if = "is_zero")]
    msg: u64,
    text: &'a str,
    /// A message's short label (sends and deliveries).
    #[serde(skip_serializing_if = "str::is_empty")]
    label: &'a str,
}

/// The first line of the `--trace` file (`kind` is `run`): the scenario,
/// its protocol and the seed.
#[derive(Serialize)]
struct RunLine<'a> {
    step: u64,
    time_us: u64,
    kind: &'static str,
    scenario: &'a str,
    protocol: &'static str,
    seed: u64,
    text: String,
}

/// A line of the `--trace` file with one client history entry (`kind` is
/// `op`), right after the `invoke` or `complete` event that records it:
/// what `distlab export` turns into Jepsen, Porcupine and JSON-lines
/// histories. `f`, `key` and `value` are there for operations on a
/// register (reads and writes of a key): a read's `value` is what it
/// returned, on its completion.
#[derive(Serialize)]
struct OpLine<'a> {
    step: u64,
    time_us: u64,
    kind: &'static str,
    /// `invoke`, then one of `ok`, `fail` (it did not happen) or `info`
    /// (unknown).
    #[serde(rename = "type")]
    outcome: HistoryKind,
    process: u32,
    /// The scenario's `[[clients]]` entry.
    client: u16,
    op_id: u64,
    /// The operation in words.
    op: &'a str,
    /// What an ok operation returned, in words.
    #[serde(skip_serializing_if = "str::is_empty")]
    answer: &'a str,
    /// The node whose reply completed it.
    #[serde(skip_serializing_if = "Option::is_none")]
    node: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    f: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<u64>,
}

fn is_zero(x: &u64) -> bool {
    *x == 0
}

/// A line of the `--trace` file with the gauges at one instant (`kind` is
/// `sample`; `step` is the last event's at or before `time_us`), and each
/// gauge's unit as the protocol declares it (so `distlab plot` labels its
/// axes without knowing the protocol).
#[derive(Serialize)]
struct SampleLine<'a> {
    step: u64,
    time_us: u64,
    kind: &'static str,
    gauges: std::collections::BTreeMap<&'a str, f64>,
    units: std::collections::BTreeMap<&'a str, &'static str>,
}

/// The `--trace` file, written as the run goes: the engine streams each
/// event into it (through a [`TraceSink`]) and the sampling loop adds the
/// gauges after each sampled instant, so a sample line follows every event
/// at or before its time. Shared between the two, hence the lock (taken
/// once per line, never contended).
#[derive(Clone)]
struct TraceFile(Arc<Mutex<TraceWriter>>);

struct TraceWriter {
    out: std::io::BufWriter<Box<dyn Write + Send>>,
    /// Endpoint names by index (`n1`, `app.0`).
    names: Vec<String>,
    /// The step of the last event written (a sample line repeats it).
    step: u64,
    /// Each gauge's unit, as its sample lines write it.
    units: std::collections::BTreeMap<&'static str, &'static str>,
    /// The first write error; later lines are skipped.
    error: Option<std::io::Error>,
}

/// A `--trace` file for a run that is no [`Driver`] (`distlab live`): the
/// same lines, written as the run hands them over.
pub struct TraceOut(TraceFile);

impl TraceOut {
    /// Creates the file and writes its first line; `names` are the
    /// endpoints' names by index (`n1`, `app.0`).
    pub fn create(
        path: &std::path::Path,
        scenario: &Scenario,
        seed: u64,
        names: Vec<String>,
    ) -> std::io::Result<Self> {
        TraceFile::create_named(path, scenario, seed, names).map(TraceOut)
    }
    pub fn event(&mut self, e: &TraceEvent) {
        self.0.event(e)
    }
    /// A client history entry, right after the event that records it.
    pub fn history(&mut self, h: &HistoryEvent) {
        self.0.history(h)
    }
    /// The gauges at one instant.
    pub fn sample(&self, s: &Sample) {
        self.0.sample(s)
    }
    /// Flushes the file; the first error of the whole write, if any.
    pub fn finish(&self) -> std::io::Result<()> {
        self.0.finish()
    }
}

impl TraceFile {
    fn create(
        path: &std::path::Path,
        scenario: &Scenario,
        seed: u64,
        run: &dyn Driver,
    ) -> std::io::Result<Self> {
        let endpoints =
            scenario.cluster.len() as u32 + scenario.clients.iter().map(|c| c.processes).sum::<u32>();
        let names = (0..endpoints).map(|e| run.endpoint_name(EndpointId(e))).collect();
        Self::create_named(path, scenario, seed, names)
    }

    fn create_named(
        path: &std::path::Path,
        scenario: &Scenario,
        seed: u64,
        names: Vec<String>,
    ) -> std::io::Result<Self> {
        let units =
            [&crate::check::MESSAGES_IN_FLIGHT, &crate::sim::monitor::QUEUED, &crate::sim::monitor::BUSY]
                .into_iter()
                .chain(scenario.protocol.gauges())
                .map(|g| (g.name, g.unit.suffix()))
                .collect();
        // `-`: standard output.
        let sink: Box<dyn Write + Send> = if path == std::path::Path::new("-") {
            Box::new(std::io::stdout())
        } else {
            Box::new(std::fs::File::create(path)?)
        };
        let mut out = std::io::BufWriter::new(sink);
        // The first line says which run this is (`distlab plot` titles its
        // charts with it).
        let head = RunLine {
            step: 0,
            time_us: 0,
            kind: "run",
            scenario: &scenario.name,
            protocol: scenario.protocol.name(),
            seed,
            text: format!("{} ({}), seed {seed}", scenario.name, scenario.protocol.name()),
        };
        serde_json::to_writer(&mut out, &head)?;
        out.write_all(b"\n")?;
        Ok(TraceFile(Arc::new(Mutex::new(TraceWriter { out, names, step: 0, units, error: None }))))
    }

    fn writer(&self) -> std::sync::MutexGuard<'_, TraceWriter> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Writes the gauges at one instant (after every event at or before it).
    fn sample(&self, s: &Sample) {
        let mut guard = self.writer();
        let w = &mut *guard;
        let line = SampleLine {
            step: w.step,
            time_us: s.time.0,
            kind: "sample",
            gauges: s.gauges.iter().map(|&(k, v)| (k, v)).collect(),
            units: s.gauges.iter().filter_map(|&(k, _)| Some((k, *w.units.get(k)?))).collect(),
        };
        write_line(&mut w.out, &mut w.error, &line);
    }

    /// Flushes the file; the first error of the whole write, if any.
    fn finish(&self) -> std::io::Result<()> {
        let mut w = self.writer();
        match w.error.take() {
            Some(e) => Err(e),
            None => w.out.flush(),
        }
    }
}

/// Writes one JSON line, unless an earlier line failed; keeps the first
/// error.
fn write_line(
    out: &mut std::io::BufWriter<Box<dyn Write + Send>>,
    error: &mut Option<std::io::Error>,
    line: &impl Serialize,
) {
    if error.is_some() {
        return;
    }
    let written = serde_json::to_writer(&mut *out, line)
        .map_err(std::io::Error::from)
        .and_then(|()| out.write_all(b"\n"));
    if let Err(e) = written {
        *error = Some(e);
    }
}

impl TraceSink for TraceFile {
    fn event(&mut self, e: &TraceEvent) {
        let mut guard = self.writer();
        let TraceWriter { out, names, step, error, .. } = &mut *guard;
        *step = e.step;
        let name = |ep: u32| if ep == NONE { None } else { names.get(ep as usize).map(String::as_str) };
        let line = TraceLine {
            step: e.step,
            time_us: e.time_us,
            kind: e.kind,
            node: name(e.node),
            peer: name(e.peer),
            msg: e.msg,
            text: &e.text,
            label: &e.label,
        };
        write_line(out, error, &line);
    }

    fn history(&mut self, h: &HistoryEvent) {
        let mut guard = self.writer();
        let TraceWriter { out, names, error, .. } = &mut *guard;
        let (f, key, value) = match h.register {
            Some(RegisterView::Read { key, value }) => (Some("read"), Some(key), value),
            Some(RegisterView::Write { key, value }) => (Some("write"), Some(key), Some(value)),
            None => (None, None, None),
        };
        let line = OpLine {
            step: h.step,
            time_us: h.time.0,
            kind: "op",
            outcome: h.kind,
            process: h.process,
            client: h.client,
            op_id: h.op_id,
            op: &h.op,
            answer: if h.kind == HistoryKind::Ok { &h.value } else { "" },
            node: h.node.and_then(|n| names.get(n.index()).map(String::as_str)),
            f,
            key,
            value,
        };
        write_line(out, error, &line);
    }
}

/// A sink that keeps nothing: `--trace-level full` without a file.
pub struct Discard;

impl TraceSink for Discard {
    fn event(&mut self, _: &TraceEvent) {}
}
