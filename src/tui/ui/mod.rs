//! Drawing: a pure function of the [`App`], one file per pane.
//!
//! ```text
//!  title: lesson, seed, step, time, playing / paused / forked
//!  timeline: progress over the scenario's duration, fault and note markers
//!  ┌ nodes ───────────────┐┌ network ────────┐   (or the space-time diagram,
//!  │ one panel per node   ││ links, in flight │    or the client history)
//!  └──────────────────────┘└─────────────────┘
//!  ┌ log ─────────────────┐┌ checks ─────────┐
//!  │ trace, newest last   │├ narrative ──────┤
//!  └──────────────────────┘└─────────────────┘
//!  footer: the last thing done, or the main keys
//! ```
//!
//! Everything fits 80×24 (smaller panes clip and show the newest); larger
//! terminals get more of each pane.

mod bars;
mod checks;
mod history;
mod log;
mod logs;
mod narrative;
mod network;
mod nodes;
mod overlay;
mod sequence;

pub use history::{named_ops, operation_lines as history_lines};
pub use logs::any as has_logs;
pub use overlay::LEGEND;
pub use sequence::rows as sequence_rows;

use super::app::{App, Center, Focus};
use super::theme::Theme;
use crate::sim::TraceKind;
use crate::util::wrap;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders};

/// Draws the whole screen.
pub fn view(app: &App, frame: &mut Frame) {
    let area = frame.area();
    let rest = area.height.saturating_sub(4);
    let body_h = (rest * 9 / 20).max(6.min(rest));
    let [title, timeline, body, lower, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(2),
        Constraint::Length(body_h),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(area);
    bars::title(app, frame, title);
    bars::timeline(app, frame, timeline);
    match app.center {
        Center::Cluster => {
            let [left, right] =
                Layout::horizontal([Constraint::Percentage(58), Constraint::Fill(1)]).areas(body);
            nodes::draw(app, frame, left);
            network::draw(app, frame, right);
        }
        Center::Sequence => sequence::draw(app, frame, body),
        Center::History => history::draw(app, frame, body),
        Center::Logs => logs::draw(app, frame, body),
    }
    let [left, right] = Layout::horizontal([Constraint::Percentage(58), Constraint::Fill(1)]).areas(lower);
    log::draw(app, frame, left);
    // The checks get the room they need, unless the run stands at a note:
    // then the narrative gets most of it.
    let wanted = checks::height(app);
    let narrative_min =
        if app.derived.waiting || app.tape.current().is_some_and(|r| r.kind == TraceKind::Note) {
            right.height * 3 / 5
        } else {
            4
        };
    let checks_h = wanted.min(right.height.saturating_sub(narrative_min));
    let [top, bottom] = Layout::vertical([Constraint::Length(checks_h), Constraint::Fill(1)]).areas(right);
    checks::draw(app, frame, top);
    narrative::draw(app, frame, bottom);
    bars::footer(app, frame, footer);
    overlay::draw(app, frame, area);
}

/// A pane's frame: its title, and a bright border when it has the focus.
fn pane<'a>(title: impl Into<Line<'a>>, focused: bool, theme: &Theme) -> Block<'a> {
    Block::new().borders(Borders::ALL).border_style(theme.border(focused)).title(title.into())
}

/// A pane title: the name, then dim details.
fn pane_title<'a>(name: &'a str, detail: String, theme: &Theme, focused: bool) -> Line<'a> {
    let name_style = if focused { theme.title() } else { theme.plain() };
    let mut spans = vec![Span::styled(format!(" {name} "), name_style)];
    if !detail.is_empty() {
        spans.push(Span::styled(format!("{detail} "), theme.dim()));
    }
    Line::from(spans)
}

fn focused(app: &App, f: Focus) -> bool {
    app.focus == f && app.overlay.is_none()
}

/// A rectangle of at most `w`×`h` centred in `area`.
fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect { x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2, width: w, height: h }
}

/// Lines cut to `width` columns, a cut one ending in `…`, so that a
/// clipped value never reads as another (`seq: 5` for `seq: 57`).
fn fit<'a>(lines: Vec<Line<'a>>, width: usize) -> Vec<Line<'a>> {
    lines
        .into_iter()
        .map(|line| {
            let total: usize = line.spans.iter().map(|s| s.content.chars().count()).sum();
            if total <= width || width == 0 {
                return line;
            }
            let mut left = width - 1;
            let mut spans = Vec::new();
            for s in line.spans {
                if left == 0 {
                    break;
                }
                let n = s.content.chars().count();
                if n <= left {
                    left -= n;
                    spans.push(s);
                } else {
                    spans.push(Span::styled(s.content.chars().take(left).collect::<String>(), s.style));
                    left = 0;
                }
            }
            let style = spans.last().map(|s| s.style).unwrap_or_default();
            spans.push(Span::styled("…", style));
            Line { spans, ..line }
        })
        .collect()
}

/// A time relative to now, short: `now`, `+5ms`, `+1.2s`.
fn until(now: crate::sim::SimTime, t: crate::sim::SimTime) -> String {
    if t <= now { "now".into() } else { format!("+{}", t.since(now)) }
}

#[cfg(test)]
mod tests {
    use super::fit;
    use ratatui::text::{Line, Span};

    /// A cut line ends in `…`, so `seq: 57` never reads as `seq: 5`.
    #[test]
    fn a_cut_line_says_so() {
        let line = Line::from(vec![Span::raw("pong "), Span::raw("{ seq: 57 }")]);
        let cut = fit(vec![line.clone()], 12);
        let text: String = cut[0].spans.iter().map(|s| s.content.as_ref()).collect();
        assert_eq!(text, "pong { seq:…");
        assert_eq!(fit(vec![line], 40)[0].spans.len(), 2, "a line that fits is left alone");
    }
}
