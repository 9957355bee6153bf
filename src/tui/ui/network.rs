//! Network: which nodes reach which, the messages in flight (sender,
//! receiver, kind, a short payload, when each arrives), duplicates marked,
//! and the messages lost most recently.

use super::super::app::{App, Focus};
use super::{focused, pane, pane_title, until};
use crate::sim::TraceKind;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// Larger clusters get reachability as groups, not a matrix.
const MATRIX_MAX_NODES: usize = 6;
/// How many recent losses are listed.
const LOSSES_SHOWN: usize = 3;
/// How far back (in steps) a loss still counts as recent.
const LOSS_WINDOW_STEPS: u64 = 50;

pub fn draw(app: &App, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    let d = &app.derived;
    let is_focused = focused(app, Focus::Network);
    let title = pane_title("Network", format!("{} in flight", d.in_flight.len()), t, is_focused);
    let block = pane(title, is_focused, t);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let mut lines: Vec<Line> = reachability(app);

    // Recent losses, newest first.
    let step = app.tape.step();
    let events = app.driver().trace().events();
    let losses: Vec<Line> = events
        .iter()
        .rev()
        .take_while(|e| e.step + LOSS_WINDOW_STEPS > step)
        .filter(|e| e.kind == TraceKind::Drop)
        .take(LOSSES_SHOWN)
        .map(|e| {
            let route = if e.msg == 0 {
                String::new()
            } else {
                format!("#{} {}→{} ", e.msg, app.lesson.name(e.peer), app.lesson.name(e.node))
            };
            Line::from(vec![Span::styled("✗ ", t.bad()), Span::styled(format!("{route}{}", e.text), t.dim())])
        })
        .collect();

    let now = app.driver().now();
    let room = (inner.height as usize).saturating_sub(lines.len() + losses.len());
    // Keep the selected message in view.
    let first = app.message.saturating_sub(room.saturating_sub(1));
    for (i, m) in d.in_flight.iter().enumerate().skip(first).take(room) {
        let selected = i == app.message;
        let mut spans = vec![
            Span::styled(format!("{:>6} ", until(now, m.arrives)), t.dim()),
            Span::styled(format!("#{} ", m.id), t.plain()),
        ];
        if let Some(orig) = d.duplicates.get(&m.id) {
            spans.push(Span::styled(format!("dup of #{orig} "), t.warn()));
        }
        spans.push(Span::styled(
            format!("{}→{} ", app.lesson.name(m.from.0), app.lesson.name(m.to.0)),
            t.plain(),
        ));
        spans.push(Span::styled(format!("{} ", m.kind), t.title()));
        // The summary without a leading word that repeats the kind.
        let summary = match m.summary.split_once(' ') {
            Some((first, rest)) if first.eq_ignore_ascii_case(m.kind) => rest,
            _ if m.summary.eq_ignore_ascii_case(m.kind) => "",
            _ => m.summary.as_str(),
        };
        spans.push(Span::styled(summary.to_string(), t.dim()));
        let mut line = Line::from(spans);
        if selected && is_focused {
            line = line.style(t.selected());
        } else if selected {
            line.spans.insert(0, Span::styled("▸", t.title()));
        }
        lines.push(line);
    }
    if d.in_flight.is_empty() {
        lines.push(Line::styled("no message in flight", t.dim()));
    }
    lines.extend(losses);
    frame.render_widget(Paragraph::new(super::fit(lines, inner.width as usize)), inner);
}

/// One line when every node reaches every other; else a matrix of who can
/// send to whom (rows send, columns receive).
fn reachability(app: &App) -> Vec<Line<'static>> {
    let t = &app.theme;
    let reach = &app.derived.reach;
    if reach.iter().all(|r| r.iter().all(|x| *x)) {
        return vec![Line::styled("links: every node reaches every other", t.dim())];
    }
    let names: Vec<&str> = (0..reach.len() as u32).map(|i| app.lesson.name(i)).collect();
    if reach.len() > MATRIX_MAX_NODES {
        // Too many for a matrix: one line per set of nodes that reach the
        // same nodes (under a partition, one line per side).
        let mut rows: Vec<(&Vec<bool>, Vec<&str>)> = Vec::new();
        for (a, row) in reach.iter().enumerate() {
            match rows.iter_mut().find(|(r, _)| *r == row) {
                Some((_, members)) => members.push(names[a]),
                None => rows.push((row, vec![names[a]])),
            }
        }
        return rows
            .into_iter()
            .map(|(row, members)| {
                let to: Vec<&str> = row.iter().zip(&names).filter(|(ok, _)| **ok).map(|(_, n)| *n).collect();
                Line::from(vec![
                    Span::styled(format!("{} ", members.join(" ")), t.plain()),
                    Span::styled("→ ", t.dim()),
                    Span::styled(to.join(" "), t.warn()),
                ])
            })
            .collect();
    }
    let w = names.iter().map(|n| n.chars().count()).max().unwrap_or(2);
    let mut head = vec![Span::styled(format!("{:w$} ", "→", w = w), t.dim())];
    head.extend(names.iter().map(|n| Span::styled(format!("{n:>w$} ", w = w), t.dim())));
    let mut out = vec![Line::from(head)];
    for (a, row) in reach.iter().enumerate() {
        let mut spans = vec![Span::styled(format!("{:w$} ", names[a], w = w), t.dim())];
        for (b, ok) in row.iter().enumerate() {
            let (c, style) = if a == b {
                ("·", t.dim())
            } else if *ok {
                ("✓", t.ok())
            } else {
                ("✗", t.bad())
            };
            spans.push(Span::styled(format!("{c:>w$} ", w = w), style));
        }
        out.push(Line::from(spans));
    }
    out
}
