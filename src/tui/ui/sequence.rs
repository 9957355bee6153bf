//! The space-time diagram (Lamport's, drawn in text): one lifeline per
//! node and one for the clients, time flowing down, the newest event at
//! the bottom (or where the student scrolled to).
//!
//! A message is drawn twice, as it happens: where it is **sent** (`●` on
//! the sender's lifeline, `#id label → receiver`), and where it is
//! **delivered** (an arrow from the sender's lifeline, hollow `○` because
//! the sender acted earlier, to `▶` at the receiver, with when it was
//! sent). A lost message ends in `✗` with why. Crashes, restarts, pauses
//! and partitions mark the lifelines, and a lifeline is drawn `┆` while
//! its node is down and `╎` while it is paused, so a crashed node never
//! appears to act. The messages still in flight follow, dashed.

use super::super::app::{App, Focus};
use super::super::theme::Theme;
use super::{focused, pane, pane_title, until};
use crate::sim::{SimTime, TraceEvent, TraceKind};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use std::collections::{BTreeMap, BTreeSet};

/// Width of the time column.
const TIME_W: usize = 10;
/// In-flight messages drawn under the events, at most.
const PENDING_SHOWN: usize = 3;

/// What a lifeline is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Life {
    Up,
    Down,
    Paused,
}

/// Whether an event is drawn in the diagram.
pub fn drawn(e: &TraceEvent) -> bool {
    match e.kind {
        TraceKind::Send | TraceKind::Deliver | TraceKind::Drop => e.msg != 0 && e.peer != u32::MAX,
        TraceKind::Hold => e.msg != 0,
        TraceKind::Crash
        | TraceKind::Restart
        | TraceKind::Pause
        | TraceKind::Resume
        | TraceKind::Partition
        | TraceKind::Heal => true,
        _ => false,
    }
}

/// The diagram's rows so far, oldest first (indices into the trace).
pub fn rows(app: &App) -> Vec<usize> {
    let events = app.driver().trace().events();
    (0..events.len()).filter(|&i| drawn(&events[i])).collect()
}

pub fn draw(app: &App, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    let is_focused = focused(app, Focus::Sequence);
    let events = app.driver().trace().events();
    let all = rows(app);
    let detail = if app.sequence_scroll == 0 {
        format!("{} events · newest last", all.len())
    } else {
        format!("{} events · {} up from the newest", all.len(), app.sequence_scroll)
    };
    let block = pane(pane_title("Space-time diagram", detail, t, is_focused), is_focused, t);
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
    let name = |e: u32| app.lesson.name(e).to_string();

    let mut lines = Vec::new();
    // The header: lane names centred over their lifelines.
    let mut head = vec![(' ', t.plain()); width];
    for lane in 0..lanes {
        let n = lane_name(lane);
        let start = x_of(lane).saturating_sub(n.chars().count() / 2);
        put(&mut head, start, &n, t.title());
    }
    lines.push(cells_line(&head));

    let now = app.driver().now();
    let pending: Vec<_> = if app.sequence_scroll == 0 {
        app.derived.in_flight.iter().take(PENDING_SHOWN).collect()
    } else {
        vec![]
    };
    let room = inner.height as usize - 1;
    let rows_n = room - pending.len().min(room / 3);
    let end = all.len().saturating_sub(app.sequence_scroll as usize);
    let shown = &all[end.saturating_sub(rows_n)..end];

    // Lifelines as they were where the window starts, then as each row
    // changes them.
    let mut life = vec![Life::Up; lanes];
    let first = shown.first().copied().unwrap_or(events.len());
    for e in &events[..first] {
        mark_life(&mut life, e, nodes);
    }
    // When each message was sent (for the deliveries shown).
    // When each message shown was sent, and its label (deliveries and
    // losses show both).
    let wanted: BTreeSet<u64> = shown
        .iter()
        .map(|&i| &events[i])
        .filter(|e| matches!(e.kind, TraceKind::Deliver | TraceKind::Drop))
        .map(|e| e.msg)
        .collect();
    let sent: BTreeMap<u64, (u64, String)> = events[..first]
        .iter()
        .chain(shown.iter().map(|&i| &events[i]))
        .filter(|e| e.kind == TraceKind::Send && wanted.contains(&e.msg))
        .map(|e| (e.msg, (e.time_us, label_of(e))))
        .collect();
    let blank = |life: &[Life], t: &Theme| -> Vec<(char, Style)> {
        let mut row = vec![(' ', t.plain()); width];
        for (lane, l) in life.iter().enumerate() {
            row[x_of(lane)] = match l {
                Life::Up => ('│', t.dim()),
                Life::Down => ('┆', t.bad()),
                Life::Paused => ('╎', t.warn()),
            };
        }
        row
    };
    let explained = shown.last().copied();
    for &i in shown {
        let e = &events[i];
        let mut row = blank(&life, t);
        // Column 0 is the marker's; the time takes the next eight (or
        // more), right-aligned, so the marker never covers a digit.
        put(&mut row, 1, &format!("{:>8}", SimTime(e.time_us).to_string()), t.dim());
        if is_focused && Some(i) == explained {
            // The row Enter explains.
            put(&mut row, 0, "▸", t.title());
        }
        let label = label_of(e);
        match e.kind {
            TraceKind::Send => {
                let (from, to) = (lane_of(e.node), lane_of(e.peer));
                let x = x_of(from);
                row[x] = ('●', t.plain());
                let text = format!("#{} {label} → {}", e.msg, name(e.peer));
                let len = text.chars().count();
                // Toward the receiver, where the arrow will go; never over
                // the time column.
                let at = if to < from && x > TIME_W + len { x - len - 1 } else { x + 2 };
                put(&mut row, at, &text, t.dim());
            }
            TraceKind::Deliver => {
                let (from, to) = (lane_of(e.peer), lane_of(e.node));
                let after = sent.get(&e.msg).map(|s| e.time_us.saturating_sub(s.0));
                let text = match after {
                    Some(d) => format!("#{} {label} +{}", e.msg, crate::sim::SimDuration(d)),
                    None => format!("#{} {label}", e.msg),
                };
                arrow(&mut row, x_of(from), x_of(to), &text, t.plain(), '○', '▶', '─');
            }
            TraceKind::Drop => {
                let (from, to) = (lane_of(e.peer), lane_of(e.node));
                let why = e.text.trim_start_matches("dropped: ").trim_start_matches("lost in the network: ");
                arrow(
                    &mut row,
                    x_of(from),
                    x_of(to),
                    &match sent.get(&e.msg) {
                        Some((_, l)) => format!("#{} {l} lost: {why}", e.msg),
                        None => format!("#{} lost: {why}", e.msg),
                    },
                    t.bad(),
                    '○',
                    '✗',
                    '─',
                );
            }
            TraceKind::Hold => {
                let x = x_of(lane_of(e.node));
                put(&mut row, x, "⏸", t.warn());
                put(&mut row, x + 2, &format!("#{} held", e.msg), t.warn());
            }
            TraceKind::Crash | TraceKind::Restart | TraceKind::Pause | TraceKind::Resume => {
                let (sym, style) = match e.kind {
                    TraceKind::Crash => ('✗', t.bad()),
                    TraceKind::Restart => ('↻', t.ok()),
                    TraceKind::Pause => ('⏸', t.warn()),
                    _ => ('▶', t.ok()),
                };
                let x = x_of(lane_of(e.node));
                row[x] = (sym, style);
                put(&mut row, x + 2, &e.text, style);
            }
            _ => {
                // A partition or a heal: across the diagram.
                let text = format!(" {} ", e.text);
                for cell in row.iter_mut().skip(TIME_W) {
                    *cell = ('╌', t.warn());
                }
                put(&mut row, TIME_W + 1, &text, t.warn());
            }
        }
        mark_life(&mut life, e, nodes);
        lines.push(cells_line(&row));
    }
    let room = inner.height as usize - lines.len();
    for m in pending.iter().take(room) {
        let mut row = blank(&life, t);
        put(&mut row, 1, &format!("{:>8}", until(now, m.arrives)), t.dim());
        let text = format!("#{} {}", m.id, m.kind);
        arrow(&mut row, x_of(lane_of(m.from.0)), x_of(lane_of(m.to.0)), &text, t.dim(), '●', '▷', '┄');
        lines.push(cells_line(&row));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

/// What the row at the bottom of the diagram means, in full: for a
/// message, when and where it was sent and what became of it; for a
/// delivery, also what the receiving handler did in response (the events
/// of the same step after it).
pub fn details(app: &App) -> (String, Vec<String>) {
    let events = app.driver().trace().events();
    let all = rows(app);
    let end = all.len().saturating_sub(app.sequence_scroll as usize);
    let Some(&i) = end.checked_sub(1).and_then(|k| all.get(k)) else {
        return ("Space-time diagram".into(), vec!["nothing has happened yet".into()]);
    };
    let e = &events[i];
    let name = |x: u32| app.lesson.name(x).to_string();
    let at = |e: &TraceEvent| format!("step {} at {}", e.step, SimTime(e.time_us));
    let mut out = Vec::new();
    if e.msg == 0
        || !matches!(e.kind, TraceKind::Send | TraceKind::Deliver | TraceKind::Drop | TraceKind::Hold)
    {
        out.push(format!("{}: {}", at(e), e.text));
        return (format!("Event at step {}", e.step), out);
    }
    let of = |k: TraceKind| events.iter().filter(move |x| x.kind == k && x.msg == e.msg);
    match of(TraceKind::Send).next() {
        Some(s) => out.push(format!("sent by {} to {}, {}: {}", name(s.node), name(s.peer), at(s), s.text)),
        None => out.push("sent before the trace began".into()),
    }
    for x in events.iter().filter(|x| x.msg == e.msg && x.kind == TraceKind::Hold) {
        out.push(format!("held at paused {}, {}", name(x.node), at(x)));
    }
    let fates: Vec<_> = events
        .iter()
        .filter(|x| x.msg == e.msg && matches!(x.kind, TraceKind::Deliver | TraceKind::Drop))
        .collect();
    if fates.is_empty() {
        out.push("still in flight".into());
    }
    for x in fates {
        if x.kind == TraceKind::Drop {
            out.push(format!("lost, {}: {}", at(x), x.text));
            continue;
        }
        out.push(format!("delivered to {}, {}", name(x.node), at(x)));
        let pos = events.iter().position(|y| std::ptr::eq(y, x)).unwrap_or(0);
        let response: Vec<_> = events[pos + 1..]
            .iter()
            .take_while(|y| y.step == x.step)
            .map(|y| format!("    {} {}", format!("{:?}", y.kind).to_lowercase(), y.text))
            .collect();
        if response.is_empty() {
            out.push("  the handler did nothing visible".into());
        } else {
            out.push("  in response, in the same step:".into());
            out.extend(response);
        }
    }
    (format!("Message #{}", e.msg), out)
}

/// How `e` changes the lifelines (node lanes only).
fn mark_life(life: &mut [Life], e: &TraceEvent, nodes: usize) {
    let lane = e.node as usize;
    if lane >= nodes {
        return;
    }
    match e.kind {
        TraceKind::Crash => life[lane] = Life::Down,
        TraceKind::Pause => life[lane] = Life::Paused,
        TraceKind::Restart | TraceKind::Resume => life[lane] = Life::Up,
        _ => {}
    }
}

/// A message event's label: the protocol's own, recorded with the event,
/// or one made from its text.
fn label_of(e: &TraceEvent) -> String {
    if e.label.is_empty() { short_label(&e.text) } else { e.label.clone() }
}

/// A message's short label: its kind and its first field's value
/// (`Prepare { tx: 1, .. }` → `Prepare 1`, `request write k1=3 (op 4, ..)`
/// → `request write k1=3`).
pub fn short_label(text: &str) -> String {
    let brace = text.find(" { ").unwrap_or(usize::MAX);
    let paren = text.find('(').unwrap_or(usize::MAX);
    if brace < paren {
        let (kind, rest) = (&text[..brace], &text[brace + 3..]);
        if kind.contains(' ') {
            return kind.to_string(); // `reply to op 1: Ok { .. }`
        }
        let first = rest.split([',', '}']).next().unwrap_or("").trim();
        let value = first.split_once(": ").map_or(first, |(_, v)| v);
        // A long number is an id nobody reads (`Fetch 352567002400`).
        let id_like = value.len() > 6 && value.chars().all(|c| c.is_ascii_digit());
        let value: String = value.chars().take(12).collect();
        return if value.is_empty() || id_like { kind.to_string() } else { format!("{kind} {value}") };
    }
    let text = if paren < usize::MAX { text[..paren].trim_end() } else { text };
    // `Replicate(Replicate { epoch: 0, .. })`: the outer name;
    // `reply to op 1: Ok { .. }`: the first words.
    text.split_whitespace().take(5).collect::<Vec<_>>().join(" ")
}

/// Draws an arrow from column `a` to column `b` with a label on it.
#[allow(clippy::too_many_arguments)]
fn arrow(
    row: &mut [(char, Style)],
    a: usize,
    b: usize,
    label: &str,
    style: Style,
    tail: char,
    head: char,
    line: char,
) {
    if a == b {
        // To itself (a client lane to a client): a loop mark.
        put(row, a + 1, &format!("↺ {label}"), style);
        return;
    }
    let (lo, hi) = (a.min(b), a.max(b));
    for cell in row.iter_mut().take(hi).skip(lo + 1) {
        *cell = (line, style);
    }
    let head = match (b > a, head) {
        (false, '▶') => '◀',
        (false, '▷') => '◁',
        (_, h) => h,
    };
    row[b] = (head, style);
    row[a] = (tail, style);
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
    use super::{arrow, put, short_label};
    use ratatui::style::Style;

    fn text(row: &[(char, Style)]) -> String {
        row.iter().map(|c| c.0).collect()
    }

    /// Arrows point from sender to receiver, with the label on the shaft
    /// when it fits and beside the head when it does not.
    #[test]
    fn arrows_point_at_the_receiver() {
        let mut row = vec![(' ', Style::new()); 24];
        arrow(&mut row, 2, 20, "Ack", Style::new(), '○', '▶', '─');
        assert_eq!(text(&row), "  ○───────Ack───────▶   ");
        let mut row = vec![(' ', Style::new()); 24];
        arrow(&mut row, 10, 4, "Replicate", Style::new(), '○', '▶', '─');
        assert_eq!(text(&row), "    ◀─────○ Replicate   ");
        let mut row = vec![(' ', Style::new()); 6];
        put(&mut row, 4, "long", Style::new());
        assert_eq!(text(&row), "    lo");
    }

    #[test]
    fn labels_are_short() {
        assert_eq!(short_label("Prepare { tx: 1, transfer: 20 a4→a3 }"), "Prepare 1");
        assert_eq!(short_label("Vote { tx: 1, vote: Yes }"), "Vote 1");
        assert_eq!(
            short_label("request transfer 20 from a4 to a3 (op 1, attempt 0)"),
            "request transfer 20 from a4"
        );
        assert_eq!(short_label("reply to op 1: Ok { answer: None }"), "reply to op 1: Ok");
        assert_eq!(short_label("Replicate(Replicate { epoch: 0, entries: [] })"), "Replicate");
        assert_eq!(short_label("AntiEntropy"), "AntiEntropy");
        assert_eq!(short_label("Fetch { req: 352567002400, key: 1 }"), "Fetch");
    }
}
