//! The client history: each client process's operations as bars from
//! invocation to completion over the recent past, ending now. Completed
//! ok, failed, unknown (info) and still-open operations are drawn
//! differently in glyph as well as colour (`─ × ? ┄`), so the difference
//! survives `NO_COLOR`. The operations a broken check names among its
//! causes are drawn heavy and underlined (`┝━┥`): the violating
//! operations.

use super::super::app::{App, Focus};
use super::{focused, pane, pane_title};
use crate::check::HistoryKind;
use crate::check::history::CompletedOp;
use crate::nodes::RegisterView;
use crate::sim::{SimDuration, SimTime};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use std::collections::BTreeMap;

/// Width of the lane labels.
const LABEL_W: usize = 12;
/// Columns a typical operation should get.
const TYPICAL_OP_W: u64 = 8;

pub fn draw(app: &App, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    let ops = &app.derived.operations;
    let now = app.driver().now();
    let inner_w = area.width.saturating_sub(2) as usize;
    let cols = inner_w.saturating_sub(LABEL_W).max(1) as u64;
    let span = if app.history_whole {
        SimDuration(now.0.max(1_000))
    } else {
        window(ops, cols, app.tape.end(), now)
    };
    let start = SimTime(now.0.saturating_sub(span.0));
    let named = named_ops(app);
    let lin = app.derived.not_linearizable.as_ref();
    let legal: std::collections::BTreeSet<u64> = lin.map(|v| v.prefix_ops().collect()).unwrap_or_default();
    let is_focused = focused(app, Focus::History);
    let what = if app.history_whole { "whole run".to_string() } else { format!("last {span}") };
    let detail = match app.derived.not_linearizable.as_ref() {
        Some(v) => format!("{what} · {} ops · ✗ k{} not linearizable: ┝━┥ stuck", ops.len(), v.key),
        None => format!("{what} · {} ops · ok ─  fail ×  unknown ?  open ┄", ops.len()),
    };
    let block = pane(pane_title("Client history", detail, t, is_focused), is_focused, t);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height < 2 {
        return;
    }
    let col = |at: SimTime| -> usize {
        ((at.0.saturating_sub(start.0) as u128 * (cols as u128 - 1)) / span.0.max(1) as u128) as usize
    };
    // Lanes: processes with an operation in the window, in process order.
    let mut lanes: BTreeMap<u32, Vec<&CompletedOp>> = BTreeMap::new();
    for op in ops {
        let end = op.completed.map_or(now, |(t, _)| t);
        if end >= start {
            lanes.entry(op.process).or_default().push(op);
        }
    }
    let rows = inner.height as usize - 1;
    // The newest lanes, scrolled up by `history_scroll`.
    let skip = lanes.len().saturating_sub(rows).saturating_sub(app.history_scroll as usize);
    let mut lines = Vec::new();
    for (process, ops) in lanes.iter().skip(skip) {
        let client = ops.first().map_or("", |o| {
            app.lesson.scenario.clients.get(o.client as usize).map_or("", |c| c.name.as_str())
        });
        let mut cells = vec![(' ', t.plain()); cols as usize];
        for op in ops {
            let end = op.completed.map_or(now, |(t, _)| t);
            let (a, b) = (col(op.invoked.max(start)), col(end).max(col(op.invoked.max(start))));
            let (fill, style): (char, Style) = match op.outcome {
                Some(HistoryKind::Ok) => ('─', t.ok()),
                Some(HistoryKind::Fail) => ('×', t.bad()),
                Some(HistoryKind::Info) => ('?', t.warn()),
                _ => ('┄', t.dim()),
            };
            let violating = named.contains_key(&op.op_id);
            let (fill, style, caps) = match (violating, fill) {
                (true, '─') => ('━', t.evidence(), ('┝', '┥')),
                (true, _) => (fill, t.evidence(), ('├', '┤')),
                (false, '─') if legal.contains(&op.op_id) => ('═', style, ('╞', '╡')),
                _ => (fill, style, ('├', '┤')),
            };
            for cell in cells.iter_mut().take(b + 1).skip(a) {
                *cell = (fill, style);
            }
            if op.outcome.is_some() && b > a {
                cells[a] = (caps.0, style);
                cells[b] = (caps.1, style);
            }
            let label = label(op);
            if b > a + 1 + label.chars().count() {
                for (i, c) in label.chars().enumerate() {
                    cells[a + 1 + i] = (c, style);
                }
            }
        }
        let mut spans =
            vec![Span::styled(format!("{:<w$}", format!("{client} p{process}"), w = LABEL_W), t.dim())];
        spans.extend(cells.into_iter().map(|(c, s)| Span::styled(c.to_string(), s)));
        lines.push(Line::from(spans));
    }
    if lanes.is_empty() {
        lines.push(Line::styled("no client operation yet", t.dim()));
    }
    while lines.len() < rows {
        lines.push(Line::raw(""));
    }
    let axis = format!("{:<w$}{}", "", start, w = LABEL_W);
    let pad = (inner.width as usize).saturating_sub(axis.chars().count() + 4);
    lines.push(Line::styled(format!("{axis}{:>pad$}", "now", pad = pad + 3), t.dim()));
    frame.render_widget(Paragraph::new(lines), inner);
}

/// The client operations a broken check names among its causes (the
/// violating operations), with the check: the checks broken now, and the
/// one whose causes the student is walking through (which may hold at
/// this step, before it broke).
pub fn named_ops(app: &App) -> BTreeMap<u64, &'static str> {
    let mut out = BTreeMap::new();
    // The operations no legal order can place next: why the history is
    // not linearizable.
    for op in app.derived.not_linearizable.iter().flat_map(|v| v.stuck_ops()) {
        out.insert(op, "linearizability");
    }
    let broken = app.derived.report.checks.iter().filter(|v| !v.holds).map(|v| (v.name, &v.causes[..]));
    let walked = app.evidence.iter().map(|e| (e.check, &e.causes[..]));
    for (check, causes) in walked.chain(broken) {
        for op in causes.iter().filter_map(|c| c.op) {
            out.entry(op).or_insert(check);
        }
    }
    out
}

/// The time window, ending now: wide enough that a typical (median)
/// operation gets a few columns, at least a millisecond, at most the whole
/// scenario — and reaching back at least to the last operation, so that
/// the pane never says there is none after the clients went quiet.
fn window(ops: &[CompletedOp], cols: u64, end: SimTime, now: SimTime) -> SimDuration {
    let mut lat: Vec<u64> =
        ops.iter().filter_map(|o| o.completed.map(|(t, _)| t.since(o.invoked).0)).collect();
    lat.sort_unstable();
    let typical = lat.get(lat.len() / 2).copied().unwrap_or(10_000).max(100);
    let recent = SimDuration((typical * cols / TYPICAL_OP_W).clamp(1_000, end.0.max(1_000)));
    // Every process's last operation in view: the earliest of their ends.
    let mut last_of: std::collections::BTreeMap<u32, SimTime> = std::collections::BTreeMap::new();
    for o in ops {
        let end = o.completed.map_or(now, |(t, _)| t);
        let e = last_of.entry(o.process).or_insert(end);
        *e = (*e).max(end);
    }
    match last_of.values().min() {
        Some(last) => {
            SimDuration(recent.0.max(now.since(*last).0 + recent.0 / 4)).min(SimDuration(now.0.max(1_000)))
        }
        None => recent,
    }
}

/// One line per operation, oldest first: who, what, when, how it ended.
pub fn operation_lines(app: &App) -> Vec<String> {
    let ops = &app.derived.operations;
    if ops.is_empty() {
        return vec!["no client operation yet".into()];
    }
    let named = named_ops(app);
    let legal: std::collections::BTreeSet<u64> =
        app.derived.not_linearizable.iter().flat_map(|v| v.prefix_ops()).collect();
    let mut lines: Vec<String> = app
        .derived
        .not_linearizable
        .iter()
        .flat_map(|v| {
            std::iter::once(v.to_string())
                .chain(v.causes().into_iter().map(|c| format!("  step {} at {}: {}", c.step, c.time, c.what)))
        })
        .collect();
    lines.extend(ops.iter().map(|op| {
        let client = app.lesson.scenario.clients.get(op.client as usize).map_or("", |c| c.name.as_str());
        let end = match (op.outcome, op.completed) {
            (Some(HistoryKind::Ok), Some((t, _))) => {
                let value = op.value.to_string();
                let value = if value.is_empty() { String::new() } else { format!(" {value}") };
                format!("ok{value} at {t} ({})", t.since(op.invoked))
            }
            (Some(HistoryKind::Fail), Some((t, _))) => format!("fail at {t}"),
            (Some(HistoryKind::Info), Some((t, _))) => format!("unknown at {t}"),
            _ => "open".into(),
        };
        let why = match named.get(&op.op_id) {
            Some(c) => format!("  ← {c} names it"),
            None if legal.contains(&op.op_id) => "  (in the legal order)".to_string(),
            None => String::new(),
        };
        format!("{} {client} p{} op {}: {} → {end}{why}", op.invoked, op.process, op.op_id, op.op)
    }));
    lines
}

/// A short label for a bar: `w k1=5`, `r k1→5`.
fn label(op: &CompletedOp) -> String {
    match op.register {
        Some(RegisterView::Read { key, value: Some(v) }) => format!("r k{key}→{v}"),
        Some(RegisterView::Read { key, value: None }) => format!("r k{key}"),
        Some(RegisterView::Write { key, value }) => format!("w k{key}={value}"),
        None => op.op.to_string().split_whitespace().next().unwrap_or("op").to_string(),
    }
}
