//! Nodes: one panel per node, with what the last step changed highlighted.
//!
//! A panel's top line is the node's name, status, role, epoch and clock
//! offset; below it, the protocol's own view (titled sections of rows, the
//! generic [`crate::nodes::NodeView`] every protocol fills), so the pane
//! works for any protocol without knowing it. A row is highlighted when its
//! value differs from the view just before the current step, or is new.

use super::super::app::{App, Focus};
use super::super::theme::Theme;
use super::{focused, pane, pane_title};
use crate::nodes::NodeView;
use crate::sim::{NodeStatus, NodeSummary};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

/// The narrowest a panel gets before more columns stop being added.
const MIN_PANEL_W: u16 = 18;
/// A comfortable panel width.
const GOOD_PANEL_W: u16 = 26;

pub fn draw(app: &App, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    let is_focused = focused(app, Focus::Nodes);
    let up = app.derived.nodes.iter().filter(|n| n.status == NodeStatus::Up).count();
    let title = pane_title("Nodes", format!("{up}/{} up", app.derived.nodes.len()), t, is_focused);
    let block = pane(title, is_focused, t);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let n = app.derived.nodes.len() as u16;
    if n == 0 || inner.width == 0 || inner.height == 0 {
        return;
    }
    let (cols, rows) = grid(n, inner.width, inner.height);
    let w = inner.width / cols;
    let h = inner.height / rows;
    for (i, node) in app.derived.nodes.iter().enumerate() {
        let (c, r) = (i as u16 % cols, i as u16 / cols);
        let cell = Rect {
            x: inner.x + c * w,
            y: inner.y + r * h,
            // A column apart, so one panel's text never runs into the next.
            width: if c + 1 == cols { inner.width - c * w } else { w.saturating_sub(1) },
            height: if r + 1 == rows { inner.height - r * h } else { h },
        };
        let before = app.derived.before.as_ref().and_then(|b| b.get(i));
        let now = app.driver().now();
        panel(frame, cell, node, before, now, i == app.node, is_focused, t);
    }
}

/// Columns and rows of the panel grid: as wide as comfortable, narrower
/// when that lets every panel show more than its top line.
fn grid(n: u16, width: u16, height: u16) -> (u16, u16) {
    let mut cols = (width / GOOD_PANEL_W).clamp(1, n);
    while cols < n && height / n.div_ceil(cols) < 3 && width / (cols + 1) >= MIN_PANEL_W {
        cols += 1;
    }
    (cols, n.div_ceil(cols))
}

#[allow(clippy::too_many_arguments)]
fn panel(
    frame: &mut Frame,
    area: Rect,
    node: &NodeSummary,
    before: Option<&NodeSummary>,
    now: crate::sim::SimTime,
    selected: bool,
    pane_focused: bool,
    t: &Theme,
) {
    let changed = |same: bool| if same { t.plain() } else { t.changed() };
    let status_same = before.is_none_or(|b| b.status == node.status);
    let (symbol, status_style) = match node.status {
        NodeStatus::Up => ("● up", t.ok()),
        NodeStatus::Down => ("✗ down", t.bad()),
        NodeStatus::Paused => ("‖ paused", t.warn()),
    };
    let name_style = match (selected, pane_focused) {
        (true, true) => t.selected(),
        (true, false) => t.title(),
        _ => t.plain(),
    };
    let mut head = vec![
        Span::styled(format!("{}{}", if selected { "▸" } else { "" }, node.name), name_style),
        Span::raw(" "),
        Span::styled(symbol, if status_same { status_style } else { t.changed() }),
    ];
    let view_before = before.and_then(|b| b.view.as_ref());
    if let Some(v) = &node.view {
        let role_same = view_before.is_none_or(|b| b.role == v.role);
        head.push(Span::raw(" "));
        head.push(Span::styled(v.role.clone(), changed(role_same)));
        if let Some(e) = v.epoch {
            let same = view_before.is_none_or(|b| b.epoch == v.epoch);
            head.push(Span::styled(" e", t.dim()));
            head.push(Span::styled(e.to_string(), changed(same)));
        }
    }
    if node.clock_offset_us != 0 {
        let same = before.is_none_or(|b| b.clock_offset_us == node.clock_offset_us);
        head.push(Span::styled(" clock ", t.dim()));
        head.push(Span::styled(offset(node.clock_offset_us), changed(same)));
    }
    let block = Block::new()
        .borders(Borders::TOP)
        .border_style(if selected { t.border(pane_focused) } else { t.dim() })
        .title(Line::from(head));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    match &node.view {
        None => {
            // Down: the volatile state is gone; show what recovery will
            // read from the disk.
            let mut lines = vec![Line::styled("down · disk holds:", t.dim())];
            if let Some(r) = &node.recovers_to {
                let room = (inner.height as usize).saturating_sub(1);
                lines.extend(rows(r, None, room, t).into_iter().map(|l| l.style(t.dim())));
            }
            frame.render_widget(Paragraph::new(lines), inner);
        }
        Some(v) => {
            // The protocol's rows first; what the node waits for on the
            // last line, when there is room for it.
            let wait = waiting(node, now, inner.width as usize, t);
            let rows_room = (inner.height as usize).saturating_sub(usize::from(wait.is_some()));
            let mut lines = rows(v, view_before, rows_room, t);
            lines.truncate(rows_room);
            if let Some(w) = wait.filter(|_| lines.len() < inner.height as usize) {
                lines.push(w);
            }
            frame.render_widget(Paragraph::new(lines), inner);
        }
    }
}

/// What the node waits for, on one line: its pending timers, soonest
/// first (`⏲ PrimarySilent +96ms`), and while paused the events held for
/// it (`3 held`).
fn waiting<'a>(node: &NodeSummary, now: crate::sim::SimTime, width: usize, t: &Theme) -> Option<Line<'a>> {
    let mut parts: Vec<String> = Vec::new();
    if node.held > 0 {
        parts.push(format!("{} held", node.held));
    }
    for (key, at) in &node.timers {
        let name: String = key.split([' ', '(', '{']).next().unwrap_or(key).to_string();
        parts.push(format!("{name} {}", super::until(now, *at)));
    }
    if parts.is_empty() {
        return None;
    }
    // As many as fit, then how many more.
    let mut text = String::from("⏲ ");
    for (i, p) in parts.iter().enumerate() {
        let more = parts.len() - i - 1;
        let tail = if more > 0 { format!(" +{more} more") } else { String::new() };
        let sep = if i == 0 { "" } else { ", " };
        if i > 0 && text.chars().count() + sep.len() + p.chars().count() + tail.len() > width {
            text.push_str(&format!(" +{} more", parts.len() - i));
            break;
        }
        text.push_str(sep);
        text.push_str(p);
    }
    Some(Line::styled(text, t.dim()))
}

/// A clock offset: `+50ms`, `-1.5ms`.
fn offset(us: i64) -> String {
    let sign = if us < 0 { "-" } else { "+" };
    format!("{sign}{}", crate::sim::SimDuration(us.unsigned_abs()))
}

/// The view's rows, with section titles when there is room for them.
fn rows<'a>(v: &'a NodeView, before: Option<&NodeView>, height: usize, t: &Theme) -> Vec<Line<'a>> {
    let total_rows: usize = v.sections.iter().map(|s| s.rows.len()).sum();
    let titles = total_rows + v.sections.len() <= height;
    let old = |section: &str, label: &str| -> Option<&str> {
        let s = before?.sections.iter().find(|s| s.title == section)?;
        s.rows.iter().find(|(l, _)| l == label).map(|(_, v)| v.as_str())
    };
    let mut out = Vec::new();
    for s in &v.sections {
        if titles {
            out.push(Line::styled(s.title.clone(), t.dim()));
        }
        for (label, value) in &s.rows {
            let same = before.is_none() || old(&s.title, label) == Some(value.as_str());
            let style: Style = if same { t.plain() } else { t.changed() };
            let lead = if titles { " " } else { "" };
            out.push(Line::from(vec![
                Span::styled(format!("{lead}{label} "), t.dim()),
                Span::styled(value.as_str(), style),
            ]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::grid;

    /// Three nodes on a wide pane sit side by side; on a short, narrow one
    /// they still get a row each for their state.
    #[test]
    fn grid_fits_panels() {
        assert_eq!(grid(3, 100, 10), (3, 1));
        assert_eq!(grid(3, 44, 12), (1, 3));
        assert_eq!(grid(5, 44, 7), (2, 3));
        assert_eq!(grid(1, 10, 2), (1, 1));
    }
}
