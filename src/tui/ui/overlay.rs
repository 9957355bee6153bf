//! Overlays: the help (from the one key table), the details of what is
//! selected, and the one-line prompts.

use super::super::app::{App, Evidence, Focus, Overlay, Prompt, PromptKind};
use super::super::keys::{BINDINGS, Group, keys_label};
use super::{centered, log, wrap};
use crate::sim::NodeStatus;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

pub fn draw(app: &App, frame: &mut Frame, area: Rect) {
    match &app.overlay {
        None => {}
        Some(Overlay::Help) => help(app, frame, area),
        Some(Overlay::Legend) => legend(app, frame, area),
        Some(Overlay::Details) => details(app, frame, area),
        Some(Overlay::Prompt(p)) => prompt(app, p, frame, area),
    }
}

fn boxed<'a>(app: &App, title: &'a str) -> Block<'a> {
    let t = &app.theme;
    Block::new()
        .borders(Borders::ALL)
        .border_style(t.border(true))
        .title(Span::styled(format!(" {title} "), t.title()))
        .title_bottom(Span::styled(" Esc closes ", t.dim()))
}

fn help(app: &App, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    let key_w = BINDINGS.iter().map(|b| keys_label(b).chars().count()).max().unwrap_or(8) + 1;
    let column = |groups: &[Group]| -> Vec<Line<'static>> {
        let mut lines = Vec::new();
        for g in groups {
            if !lines.is_empty() {
                lines.push(Line::raw(""));
            }
            lines.push(Line::styled(g.title(), t.title()));
            for b in BINDINGS.iter().filter(|b| b.group == *g) {
                lines.push(Line::from(vec![
                    Span::styled(format!(" {:<key_w$}", keys_label(b)), t.key()),
                    Span::raw(b.help),
                ]));
            }
        }
        lines
    };
    let left = column(&[Group::Time, Group::Intervene]);
    let right = column(&[Group::View, Group::Session]);
    let two = area.width >= 72;
    let h = if two { left.len().max(right.len()) } else { left.len() + right.len() + 1 } as u16 + 2;
    let r = centered(area, if two { 76 } else { 40 }, h);
    frame.render_widget(Clear, r);
    let block = boxed(app, "Keys").title_bottom(Span::styled(" ? again: what the symbols mean ", t.dim()));
    let inner = block.inner(r);
    frame.render_widget(block, r);
    if two {
        let [a, b] = Layout::horizontal([Constraint::Percentage(50), Constraint::Fill(1)]).areas(inner);
        frame.render_widget(Paragraph::new(left), a);
        frame.render_widget(Paragraph::new(right), b);
    } else {
        let mut all = left;
        all.push(Line::raw(""));
        all.extend(right);
        frame.render_widget(Paragraph::new(all), inner);
    }
}

/// Every symbol the screen uses, by where it appears.
pub const LEGEND: &[(&str, &[(&str, &str)])] = &[
    (
        "Timeline (top)",
        &[
            ("●", "now"),
            ("━", "seen"),
            ("C R P U", "crash, restart, pause, resume"),
            ("X H", "partition/cut, heal"),
            ("K L !", "clock, link, command"),
            ("d D e", "drop, duplicate, deliver next"),
            ("• ◆", "a note, one that waits"),
        ],
    ),
    (
        "Nodes",
        &[
            ("●", "up"),
            ("✗", "down (and what recovery reads)"),
            ("‖", "paused"),
            ("▸", "selected"),
            ("e3", "epoch 3"),
            ("⏲", "pending timers, events held"),
        ],
    ),
    (
        "Space-time diagram",
        &[
            ("●", "sends (#id → to)"),
            ("○─▶", "delivered; sent earlier"),
            ("○─✗", "lost, and why"),
            ("●┄▷", "still in flight"),
            ("✗ ↻", "crash, restart"),
            ("⏸ ▶", "pause, resume"),
            ("┆ ╎", "lifeline down, paused"),
            ("╌", "partition or heal"),
        ],
    ),
    (
        "Logs (4)",
        &[
            ("e3", "appended in epoch 3"),
            ("✗", "differs from most nodes"),
            ("▁", "not on disk yet"),
            ("····", "older, not shown"),
            ("cut", "just truncated"),
        ],
    ),
    (
        "Client history",
        &[
            ("├─┤", "ok"),
            ("×", "failed"),
            ("?", "unknown"),
            ("┄", "still open"),
            ("┝━┥", "a check's cause, or stuck"),
            ("╞═╡", "in the longest legal order (when not linearizable)"),
        ],
    ),
    ("Checks", &[("✓ ✗", "holds, broken"), ("lesson ✓", "what the lesson expects"), ("…", "not met yet")]),
];

fn legend(app: &App, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    let mut lines = Vec::new();
    for (place, symbols) in LEGEND {
        lines.push(Line::styled(*place, t.title()));
        let mut row: Vec<Span> = Vec::new();
        let mut used = 0;
        let width = area.width.saturating_sub(4) as usize;
        for (sym, meaning) in *symbols {
            let item = format!(" {sym} {meaning} ");
            let w = item.chars().count() + 1;
            if used + w > width && !row.is_empty() {
                lines.push(Line::from(std::mem::take(&mut row)));
                used = 0;
            }
            row.push(Span::styled(format!(" {sym}"), t.key()));
            row.push(Span::raw(format!(" {meaning}  ")));
            used += w + 1;
        }
        lines.push(Line::from(row));
    }
    let r = centered(area, area.width.saturating_sub(2).max(20), lines.len() as u16 + 2);
    frame.render_widget(Clear, r);
    let block = boxed(app, "What the symbols mean");
    let inner = block.inner(r);
    frame.render_widget(block, r);
    frame.render_widget(Paragraph::new(lines), inner);
}

/// Everything about what the focused pane has selected.
fn details(app: &App, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    let r = centered(area, area.width.saturating_sub(6).max(20), area.height.saturating_sub(4).max(5));
    let width = r.width.saturating_sub(2) as usize;
    let (title, lines): (String, Vec<Line>) = match app.focus {
        Focus::Nodes => match app.derived.nodes.get(app.node) {
            None => ("Node".into(), vec![]),
            Some(n) => {
                let status = match n.status {
                    NodeStatus::Up => "up",
                    NodeStatus::Down => "down",
                    NodeStatus::Paused => "paused",
                };
                let mut lines =
                    vec![Line::raw(format!("status {status} · clock offset {}us", n.clock_offset_us))];
                match &n.view {
                    None => lines
                        .push(Line::styled("down: the volatile state is lost; the disk is kept", t.dim())),
                    Some(v) => {
                        lines.push(Line::raw(format!(
                            "role {}{}",
                            v.role,
                            v.epoch.map_or(String::new(), |e| format!(" · epoch {e}"))
                        )));
                        for s in &v.sections {
                            lines.push(Line::styled(s.title.clone(), t.title()));
                            for (label, value) in &s.rows {
                                lines.push(Line::from(vec![
                                    Span::styled(format!("  {label}: "), t.dim()),
                                    Span::raw(value.clone()),
                                ]));
                            }
                        }
                    }
                }
                (format!("Node {}", n.name), lines)
            }
        },
        Focus::Network => match app.derived.in_flight.get(app.message) {
            None => ("Message".into(), vec![Line::styled("no message in flight", t.dim())]),
            Some(m) => {
                let mut lines = vec![Line::raw(format!(
                    "#{} from {} to {} · {} · arrives at {}",
                    m.id,
                    app.lesson.name(m.from.0),
                    app.lesson.name(m.to.0),
                    m.kind,
                    m.arrives
                ))];
                if let Some(orig) = app.derived.duplicates.get(&m.id) {
                    lines.push(Line::styled(format!("a duplicate of #{orig}"), t.warn()));
                }
                lines.extend(wrap(&m.summary, width).into_iter().map(Line::raw));
                (format!("Message #{}", m.id), lines)
            }
        },
        Focus::Log => {
            let events = app.driver().trace().events();
            let shown = app.log.selected.or_else(|| events.iter().rposition(|e| app.log.admits(e)));
            match shown.and_then(|i| events.get(i)) {
                None => ("Event".into(), vec![Line::styled("no event", t.dim())]),
                Some(e) => (
                    format!("Event at step {}", e.step),
                    wrap(&log::describe(app, e), width).into_iter().map(Line::raw).collect(),
                ),
            }
        }
        Focus::Checks => {
            // The selected check's whole reason first, then every check
            // and what the lesson expects.
            let mut lines = Vec::new();
            let selected = app.derived.report.checks.get(app.checks_sel);
            let evidence = app.evidence.as_ref().filter(|e| selected.is_some_and(|v| v.name == e.check));
            if let Some(e) = evidence {
                let at = e.broke.map_or(String::new(), |s| format!(" (broke at step {s})"));
                lines.push(Line::styled(format!("✗ {}{at}", e.check), t.bad()));
                lines.extend(
                    wrap(&e.detail, width.saturating_sub(2)).into_iter().map(|l| Line::raw(format!("  {l}"))),
                );
                lines.extend(cause_lines(app, e, width));
                lines.push(Line::raw(""));
            } else if let Some(v) = selected.filter(|v| !v.holds) {
                let at = v.first_violation.map_or(String::new(), |at| format!(" (step {})", at.step));
                lines.push(Line::styled(format!("✗ {}{at}", v.name), t.bad()));
                lines.extend(
                    wrap(&v.detail, width.saturating_sub(2)).into_iter().map(|l| Line::raw(format!("  {l}"))),
                );
                lines.push(Line::raw(""));
            }
            lines.extend(super::checks::lines(app, true, width));
            (format!("Checks at step {}", app.tape.step()), lines)
        }
        Focus::Sequence => {
            let (title, lines) = super::sequence::details(app);
            (title, lines.iter().flat_map(|l| wrap(l, width)).map(Line::raw).collect())
        }
        Focus::History => (
            format!("Client history: {} operations", app.derived.operations.len()),
            super::history::operation_lines(app).iter().flat_map(|l| wrap(l, width)).map(Line::raw).collect(),
        ),
        Focus::Narrative => ("Narrative".into(), super::narrative::lines(app, width, t)),
    };
    // Longer than the box: the checks from their top (what matters is
    // first), the rest to their end (the newest).
    let room = r.height.saturating_sub(2) as usize;
    let lines = if app.focus == Focus::Checks {
        lines[..lines.len().min(room)].to_vec()
    } else {
        lines[lines.len().saturating_sub(room)..].to_vec()
    };
    frame.render_widget(Clear, r);
    let block = boxed(app, &title);
    let inner = block.inner(r);
    frame.render_widget(block, r);
    frame.render_widget(Paragraph::new(lines), inner);
}

/// A broken check's causes, one line each (`▸ #312  560ms  n1 appended
/// k1=75`), the selected one marked, the one the tape is at in bold.
fn cause_lines(app: &App, e: &Evidence, width: usize) -> Vec<Line<'static>> {
    let t = &app.theme;
    if e.causes.is_empty() {
        return vec![Line::styled("  (this check names no causes)", t.dim())];
    }
    let mut lines = vec![Line::styled("Causes — ↑↓ choose, Enter goes to its step:", t.title())];
    let here = app.tape.step();
    for (i, c) in e.causes.iter().enumerate() {
        let chosen = e.selected == Some(i);
        let mark = if chosen { "▸" } else { " " };
        let text = format!("{mark} #{:<6} {:>9}  {}", c.step, c.time.to_string(), c.what);
        let text: String = text.chars().take(width).collect();
        let style = match (chosen, c.step == here) {
            (true, _) => t.selected(),
            (false, true) => t.changed(),
            _ => t.plain(),
        };
        lines.push(Line::styled(text, style));
    }
    lines
}

fn prompt(app: &App, p: &Prompt, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    let r = centered(area, 64, 5);
    frame.render_widget(Clear, r);
    let title = match p.kind {
        PromptKind::GotoTime => "Go to",
        PromptKind::Save => "Save",
        PromptKind::Fork { .. } => "Fork the run?",
    };
    let block = boxed(app, title);
    let inner = block.inner(r);
    frame.render_widget(block, r);
    let mut lines = vec![Line::raw(p.kind.question())];
    if p.kind.is_confirmation() {
        lines.push(Line::styled("y or Enter: yes · n or Esc: no", t.dim()));
    } else {
        lines.push(Line::from(vec![
            Span::styled("> ", t.key()),
            Span::raw(p.text.clone()),
            Span::styled("█", t.dim()),
        ]));
        match &p.error {
            Some(e) => lines.push(Line::styled(e.clone(), t.bad())),
            None => lines.push(Line::styled("Enter confirms", t.dim())),
        }
    }
    frame.render_widget(Paragraph::new(lines).wrap(ratatui::widgets::Wrap { trim: true }), inner);
}
