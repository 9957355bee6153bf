//! Checks: every invariant's verdict as of the current step, what the
//! lesson expects of it, and the metric expectations. A check that broke on
//! the last move is highlighted the moment it happens.

use super::super::app::{App, Focus};
use super::{focused, pane, pane_title, wrap};
use crate::check::Expectation;
use crate::util::fmt_num;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// The lines the pane would like, borders included.
pub fn height(app: &App) -> u16 {
    let broken = app.derived.report.checks.iter().filter(|v| !v.holds).count();
    let metrics =
        app.lesson.scenario.expectations.iter().filter(|e| matches!(e, Expectation::Metric { .. })).count();
    (app.derived.report.checks.len() + broken + metrics + 2) as u16
}

pub fn draw(app: &App, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    let d = &app.derived;
    let broken =
        d.report.checks.iter().filter(|v| !v.holds && (d.at_end || !app.judged_at_end(v.name))).count();
    let detail = if broken == 0 { "all hold".to_string() } else { format!("{broken} broken") };
    let is_focused = focused(app, Focus::Checks);
    let title = pane_title("Checks", detail, t, is_focused);
    let block = pane(title, is_focused, t);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let room = inner.height as usize;
    // Check lines first; the details of broken checks only if they fit
    // (or the student is reading this pane: then it scrolls).
    let metric_lines =
        app.lesson.scenario.expectations.iter().filter(|e| matches!(e, Expectation::Metric { .. })).count();
    let with_details = is_focused || d.report.checks.len() + broken + metric_lines <= room;
    // Unfocused, a reason takes one line (clipped); focused, it wraps.
    let width = if is_focused { inner.width as usize } else { usize::MAX };
    let (lines, selected_at) = lines_with_selection(app, with_details, width, is_focused);
    // Keep the selected check on the screen.
    let skip = selected_at.map_or(0, |at| (at + 1).saturating_sub(room));
    frame.render_widget(Paragraph::new(lines[skip.min(lines.len())..].to_vec()), inner);
}

/// The pane's lines: each check (with why it broke, if `with_details`,
/// wrapped to `width`; `usize::MAX`: one line each), then the metric
/// expectations.
pub fn lines(app: &App, with_details: bool, width: usize) -> Vec<Line<'static>> {
    lines_with_selection(app, with_details, width, false).0
}

/// [`lines`], marking the selected check (`▸`) when `select`, and the line
/// it is on.
fn lines_with_selection(
    app: &App,
    with_details: bool,
    width: usize,
    select: bool,
) -> (Vec<Line<'static>>, Option<usize>) {
    let t = &app.theme;
    let d = &app.derived;
    let expectations = &app.lesson.scenario.expectations;
    let mut lines = Vec::new();
    let mut selected_at = None;
    for (i, v) in d.report.checks.iter().enumerate() {
        // A check of the state at the end, broken before the end: not a
        // violation (yet), shown as not judged.
        let not_yet = !v.holds && !d.at_end && app.judged_at_end(v.name);
        let (sym, style) = if v.holds {
            ("✓", t.ok())
        } else if not_yet {
            ("…", t.dim())
        } else {
            ("✗", t.bad())
        };
        let name_style = if d.newly_broken.contains(v.name) { t.changed() } else { style };
        let chosen = select && i == app.checks_sel;
        if chosen {
            selected_at = Some(lines.len());
        }
        let sym = if chosen { format!("▸{sym} ") } else { format!("{sym} ") };
        let mut spans = vec![Span::styled(sym, style), Span::styled(v.name, name_style)];
        if not_yet {
            spans.push(Span::styled("  judged at the end", t.dim()));
        } else if chosen && !v.holds && v.first_violation.is_some() {
            spans.push(Span::styled("  Enter: where it broke", t.dim()));
        }
        let expected = expectations.iter().zip(&d.expectations).find_map(|(e, r)| match e {
            Expectation::Check { name, holds } if name == v.name => Some((*holds, r.met)),
            _ => None,
        });
        if let Some((holds, met)) = expected {
            // What the lesson expects: shown met (colour, or plain under
            // NO_COLOR) or not yet (dim).
            let want = if holds { "lesson ✓" } else { "lesson ✗" };
            spans.push(Span::styled(format!("  {want}"), if met { t.ok() } else { t.dim() }));
        }
        lines.push(Line::from(spans));
        if !v.holds && with_details && !not_yet {
            if width == usize::MAX {
                lines.push(Line::styled(format!("  {}", v.detail), t.dim()));
            } else {
                for l in wrap(&v.detail, width.saturating_sub(2)) {
                    lines.push(Line::styled(format!("  {l}"), t.dim()));
                }
            }
        }
    }
    let mut i = d.report.checks.len();
    for (e, r) in expectations.iter().zip(&d.expectations) {
        if let Expectation::Metric { name, .. } = e {
            let now = d.report.metrics.get(name.as_str()).map_or("-".into(), |v| fmt_num(*v));
            let (sym, style) = if r.met { ("✓", t.ok()) } else { ("…", t.dim()) };
            let chosen = select && i == app.checks_sel;
            if chosen {
                selected_at = Some(lines.len());
            }
            i += 1;
            lines.push(Line::from(vec![
                Span::styled(if chosen { format!("▸{sym} ") } else { format!("{sym} ") }, style),
                Span::styled(r.name.clone(), t.plain()),
                Span::styled(format!("  now {now}"), t.dim()),
            ]));
        }
    }
    (lines, selected_at)
}
