//! The report of one run: the protocol's checks and metrics, the engine's
//! counters, and the metrics every protocol has (client latency, the
//! session-guarantee anomaly counts). `distlab run`, sweeps and the TUI
//! all read a run through these.

use super::{HistoryKind, MESSAGES_IN_FLIGHT, Report, Unit};
use crate::protocols::{GENERIC_METRICS, ProtocolEntry};
use crate::sim::{Driver, Stats};

/// The unit `protocol` declares for the metric or gauge `name` (its
/// checker's, or one every run has); `None` for a name it does not
/// declare.
pub fn unit_of(protocol: &dyn ProtocolEntry, name: &str) -> Option<Unit> {
    let metrics = protocol.metrics().iter().chain(GENERIC_METRICS).map(|m| (m.name, m.unit));
    let gauges = protocol
        .gauges()
        .iter()
        .chain([&MESSAGES_IN_FLIGHT, &crate::sim::monitor::QUEUED, &crate::sim::monitor::BUSY])
        .map(|g| (g.name, g.unit));
    metrics.chain(gauges).find(|&(n, _)| n == name).map(|(_, unit)| unit)
}

/// The protocol's report plus the engine's counters (cheap: no history
/// scan).
pub fn counters_report(run: &dyn Driver) -> Report {
    with_counters(run.report(), run.stats())
}

/// A checker's report plus the run's counters: what [`counters_report`]
/// gives, for a run that is no [`Driver`] (a live run).
pub fn with_counters(mut report: Report, s: Stats) -> Report {
    for (name, v) in [
        ("ops_ok", s.ops_ok),
        ("ops_fail", s.ops_fail),
        ("ops_info", s.ops_info),
        ("messages_delivered", s.delivered),
        ("messages_dropped", s.dropped),
        ("messages_duplicated", s.duplicated),
    ] {
        report.metrics.insert(name, v as f64);
    }
    report
}

/// The report of a run with the metrics every protocol has.
pub fn full_report(run: &dyn Driver) -> Report {
    let mut report = with_history_metrics(counters_report(run), run.history());
    if run.models_load() {
        let mut latencies = ok_latencies_us(run);
        latencies.sort_unstable();
        load_metrics(run, &latencies, &mut report);
    }
    report
}

/// A report plus the metrics read from the client history (latency, the
/// session-guarantee anomalies): what [`full_report`] adds, for a run
/// that is no [`Driver`] (a live run).
pub fn with_history_metrics(mut report: Report, history: &crate::sim::History) -> Report {
    let mut latencies = history_ok_latencies_us(history);
    latencies.sort_unstable();
    report.metrics.insert("ryw_anomalies", super::models::read_your_writes(history).len() as f64);
    report.metrics.insert("monotonic_read_anomalies", super::models::monotonic_reads(history).len() as f64);
    if !latencies.is_empty() {
        let mean = latencies.iter().sum::<u64>() as f64 / latencies.len() as f64;
        let p99 = latencies[(latencies.len() * 99).div_ceil(100) - 1];
        report.metrics.insert("latency_mean_ms", mean / 1000.0);
        report.metrics.insert("latency_p99_ms", p99 as f64 / 1000.0);
    }
    report
}

/// The metrics `load_metrics` adds: only a simulated run that models
/// load has them (`distlab live` runs on the machine's own capacity).
pub const LOAD_METRICS: &[&str] = &[
    "throughput_ops_s",
    "read_throughput_ops_s",
    "write_throughput_ops_s",
    "offered_ops_s",
    "ops_shed",
    "latency_p50_ms",
    "utilisation_max",
    "utilisation_mean",
    "queue_max",
    "refused",
];

/// The metrics of a run that models load ([capacity], open-loop
/// clients): throughput (all, reads, writes, offered), the median
/// latency, the nodes' utilisation and queues, what was refused or shed.
/// `latencies` sorted.
fn load_metrics(run: &dyn Driver, latencies: &[u64], report: &mut Report) {
    let secs = run.now().0 as f64 / 1e6;
    let per_s = |n: u64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
    let s = run.stats();
    let ops = run.history().operations();
    let ok = |read: bool| {
        ops.iter()
            .filter(|o| o.outcome == Some(HistoryKind::Ok))
            .filter(|o| matches!(o.register, Some(crate::nodes::RegisterView::Read { .. })) == read)
            .filter(|o| o.register.is_some())
            .count() as u64
    };
    let shed = run.ops_shed();
    report.metrics.insert("throughput_ops_s", per_s(s.ops_ok));
    report.metrics.insert("read_throughput_ops_s", per_s(ok(true)));
    report.metrics.insert("write_throughput_ops_s", per_s(ok(false)));
    report.metrics.insert("offered_ops_s", per_s(s.ops_invoked + shed));
    report.metrics.insert("ops_shed", shed as f64);
    if !latencies.is_empty() {
        report.metrics.insert("latency_p50_ms", latencies[latencies.len().div_ceil(2) - 1] as f64 / 1000.0);
    }
    let loads = run.loads();
    if run.models_capacity() && !loads.is_empty() {
        let util = loads.iter().map(|l| l.utilisation);
        report.metrics.insert("utilisation_max", util.clone().fold(0.0, f64::max));
        report.metrics.insert("utilisation_mean", util.sum::<f64>() / loads.len() as f64);
        report.metrics.insert("queue_max", loads.iter().map(|l| l.waiting_max).max().unwrap_or(0) as f64);
        report.metrics.insert("refused", loads.iter().map(|l| l.refused).sum::<u64>() as f64);
    }
}

/// Client latency of the operations that completed ok, invoke to reply, in
/// µs (in invocation order).
pub fn ok_latencies_us(run: &dyn Driver) -> Vec<u64> {
    history_ok_latencies_us(run.history())
}

/// [`ok_latencies_us`] of a history.
pub fn history_ok_latencies_us(history: &crate::sim::History) -> Vec<u64> {
    history
        .operations()
        .iter()
        .filter(|o| o.outcome == Some(HistoryKind::Ok))
        .filter_map(|o| o.completed.map(|(t, _)| t.since(o.invoked).as_micros()))
        .collect()
}
