//! The message sequence diagram: one lifeline per node (clients share
//! one), and one arrow per recent message from sender to receiver, in
//! delivery order, newest at the bottom (Lamport's space-time diagram,
//! drawn in text). Lost messages end in `✗`; the messages still in flight
//! follow, dashed.

use super::super::app::{App, Focus};
use super::super::theme::Theme;
use super::{focused, kind_word, pane, pane_title, until};
use crate::sim::TraceKind;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// Width of the time column.
const TIME_W: usize = 10;
/// In-flight messages drawn under the delivered ones, at most.
const PENDING_SHOWN: usize = 3;

pub fn draw(app: &App, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    let is_focused = focused(app, Focus::Nodes) || focused(app, Focus::Network);
    let block = pane(
        pane_title("Message sequence", "recent messages, newest last".into(), t, is_focused),
        is_focused,
        t,
    );
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height < 2 || (inner.width as usize) < TIME_W + 4 {
        return;
    }
    let nodes = app.lesson.nodes();
    let has_clients = app.lesson.endpoints.len() > nodes;
    let lanes = nodes + usize::from(has_clients);
    let width = inner.width as usize;
    let span = (width - TIME_W) / lanes.max(1);
    let x_of = |lane: usize| TIME_W + lane * span + span / 2;
    let lane_of = |e: u32| if (e as usize) < nodes { e as usize } else { nodes };
    let lane_name =
        |lane: usize| if lane < nodes { app.lesson.name(lane as u32).to_string() } else { "clients".into() };

    let mut lines = Vec::new();
    // The header: lane names centred over their lifelines.
    let mut head = vec![(' ', t.plain()); width];
    for lane in 0..lanes {
        let name = lane_name(lane);
        let style = if lane == app.node { t.title() } else { t.dim() };
        let start = x_of(lane).saturating_sub(name.chars().count() / 2);
        for (i, c) in name.chars().enumerate() {
            if start + i < width {
                head[start + i] = (c, style);
            }
        }
    }
    lines.push(cells_line(&head));

    let now = app.driver().now();
    let pending: Vec<_> = app.derived.in_flight.iter().take(PENDING_SHOWN).collect();
    let rows = inner.height as usize - 1 - pending.len().min((inner.height as usize - 1) / 3);
    let events = app.driver().trace().events();
    let recent: Vec<_> = events
        .iter()
        .rev()
        .filter(|e| {
            matches!(e.kind, TraceKind::Deliver | TraceKind::Drop) && e.msg != 0 && e.peer != u32::MAX
        })
        .take(rows)
        .collect();
    let blank = |t: &Theme| -> Vec<(char, Style)> {
        let mut row = vec![(' ', t.plain()); width];
        for lane in 0..lanes {
            row[x_of(lane)] = ('│', if lane == app.node { t.title() } else { t.dim() });
        }
        row
    };
    for e in recent.iter().rev() {
        let mut row = blank(t);
        put(&mut row, 0, &format!("{:>8}", crate::sim::SimTime(e.time_us).to_string()), t.dim());
        let (from, to) = (lane_of(e.peer), lane_of(e.node));
        let lost = e.kind == TraceKind::Drop;
        let label = if lost { "lost".to_string() } else { kind_word(&e.text).to_string() };
        let style = if lost { t.bad() } else { t.plain() };
        arrow(&mut row, x_of(from), x_of(to), &label, style, if lost { '✗' } else { '▶' }, '─');
        lines.push(cells_line(&row));
    }
    let room = inner.height as usize - lines.len();
    for m in pending.iter().take(room) {
        let mut row = blank(t);
        put(&mut row, 0, &format!("{:>8}", until(now, m.arrives)), t.dim());
        arrow(&mut row, x_of(lane_of(m.from.0)), x_of(lane_of(m.to.0)), m.kind, t.dim(), '▷', '┄');
        lines.push(cells_line(&row));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

/// Draws an arrow from column `a` to column `b` with a label on it.
fn arrow(row: &mut [(char, Style)], a: usize, b: usize, label: &str, style: Style, head: char, line: char) {
    if a == b {
        // To itself (a client lane to a client): a loop mark.
        put(row, a + 1, &format!("↺ {label}"), style);
        return;
    }
    let (lo, hi) = (a.min(b), a.max(b));
    for cell in row.iter_mut().take(hi).skip(lo + 1) {
        *cell = (line, style);
    }
    let head = if b > a {
        head
    } else if head == '▶' {
        '◀'
    } else if head == '▷' {
        '◁'
    } else {
        head
    };
    row[b] = (head, style);
    row[a] = ('●', style);
    let len = label.chars().count();
    let gap = hi - lo - 1;
    let at = if len + 2 <= gap { lo + 1 + (gap - len) / 2 } else { hi + 2 };
    put(row, at, label, style);
}

/// Writes text into a row from column `at`, clipped.
fn put(row: &mut [(char, Style)], at: usize, text: &str, style: Style) {
    for (i, c) in text.chars().enumerate() {
        if let Some(cell) = row.get_mut(at + i) {
            *cell = (c, style);
        }
    }
}

/// A row of styled cells as a line, one span per run of equal style.
fn cells_line(cells: &[(char, Style)]) -> Line<'static> {
    let mut spans: Vec<Span> = Vec::new();
    let mut text = String::new();
    let mut style = cells.first().map(|c| c.1).unwrap_or_default();
    for (c, s) in cells {
        if *s != style && !text.is_empty() {
            spans.push(Span::styled(std::mem::take(&mut text), style));
        }
        style = *s;
        text.push(*c);
    }
    if !text.is_empty() {
        spans.push(Span::styled(text, style));
    }
    Line::from(spans)
}

#[cfg(test)]
mod tests {
    use super::{arrow, put};
    use ratatui::style::Style;

    fn text(row: &[(char, Style)]) -> String {
        row.iter().map(|c| c.0).collect()
    }

    /// Arrows point from sender to receiver, with the label on the shaft
    /// when it fits and beside the head when it does not.
    #[test]
    fn arrows_point_at_the_receiver() {
        let mut row = vec![(' ', Style::new()); 24];
        arrow(&mut row, 2, 20, "Ack", Style::new(), '▶', '─');
        assert_eq!(text(&row), "  ●───────Ack───────▶   ");
        let mut row = vec![(' ', Style::new()); 24];
        arrow(&mut row, 10, 4, "Replicate", Style::new(), '▶', '─');
        assert_eq!(text(&row), "    ◀─────● Replicate   ");
        let mut row = vec![(' ', Style::new()); 6];
        put(&mut row, 4, "long", Style::new());
        assert_eq!(text(&row), "    lo");
    }
}
