//! Narrative: the lesson's description, then each timeline note as it is
//! reached, newest at the bottom. A note that asks the student to stop
//! (`wait = true`) is marked, and highlighted while the run waits at it.

use super::super::app::{App, Focus};
use super::super::theme::Theme;
use super::{focused, pane, pane_title, wrap};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::Paragraph;

pub fn draw(app: &App, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    let is_focused = focused(app, Focus::Narrative);
    let notes = app.derived.notes.len();
    let detail =
        if notes == 0 { String::new() } else { format!("{notes} note{}", if notes == 1 { "" } else { "s" }) };
    let block = pane(pane_title("Narrative", detail, t, is_focused), is_focused, t);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let lines = lines(app, inner.width as usize, t);
    // Unless the student scrolled: before the first note, the description
    // from its start; after, the newest note at the bottom.
    let h = inner.height as usize;
    let max_top = lines.len().saturating_sub(h);
    let top = match app.narrative_top {
        Some(top) => (top as usize).min(max_top),
        None if notes == 0 => 0,
        None => max_top,
    };
    // What was drawn, for ↑/↓ to move from (see `App::narrative_top`).
    app.narrative_drawn.set((top as u16, max_top as u16));
    frame.render_widget(Paragraph::new(lines[top..(top + h).min(lines.len())].to_vec()), inner);
}

/// The whole narrative wrapped to `width`.
pub fn lines(app: &App, width: usize, t: &Theme) -> Vec<Line<'static>> {
    let mut out: Vec<Line> = wrap(&reflow(&app.lesson.scenario.description), width)
        .into_iter()
        .map(|l| Line::styled(l, t.plain()))
        .collect();
    let last = app.derived.notes.len().saturating_sub(1);
    for (i, n) in app.derived.notes.iter().enumerate() {
        let mark = if n.wait { "◆" } else { "•" };
        let style = if i == last && app.derived.waiting { t.changed() } else { t.note() };
        let text = format!("{mark} {} {}", n.at, reflow(&n.text));
        out.extend(wrap(&text, width).into_iter().map(|l| Line::styled(l, style)));
    }
    out
}

/// Text as written in a TOML file, hard-wrapped: single line breaks become
/// spaces, blank lines stay paragraph breaks.
fn reflow(text: &str) -> String {
    text.trim()
        .split("\n\n")
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    #[test]
    fn reflow_joins_lines_and_keeps_paragraphs() {
        assert_eq!(super::reflow("one\ntwo\n\nthree\n"), "one two\nthree");
    }
}
