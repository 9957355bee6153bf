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
    let gauges = protocol.gauges().iter().chain([&MESSAGES_IN_FLIGHT]).map(|g| (g.name, g.unit));
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
    with_history_metrics(counters_report(run), run.history())
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
