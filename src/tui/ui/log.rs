//! The event log: the trace up to the current step, newest at the bottom,
//! filtered by node and kind, with the selected (or newest) event's full
//! details under it.

use super::super::app::{App, Focus};
use super::{focused, pane, pane_title, wrap};
use crate::sim::trace::NONE;
use crate::sim::{TraceEvent, TraceKind};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// Lines kept for the selected event's details.
const DETAIL_LINES: u16 = 2;

pub fn draw(app: &App, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    let is_focused = focused(app, Focus::Log);
    let mut filters = Vec::new();
    if let Some(n) = app.log.node {
        filters.push(format!("node {}", app.lesson.name(n)));
    }
    if app.log.kind != super::super::app::KindFilter::All {
        filters.push(app.log.kind.name().to_string());
    }
    let detail = if filters.is_empty() { String::new() } else { format!("only {}", filters.join(", ")) };
    let title = pane_title("Log", detail, t, is_focused);
    let block = pane(title, is_focused, t);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if inner.height == 0 {
        return;
    }
    let details_h = if inner.height > 4 { DETAIL_LINES } else { 0 };
    let [list, details] = Layout::vertical([Constraint::Fill(1), Constraint::Length(details_h)]).areas(inner);

    let events = app.driver().trace().events();
    let admits = |e: &TraceEvent| app.log.admits(e);
    let rows = list.height as usize;
    // The window: the selected event with a few after it, or the newest.
    let anchor = app.log.selected.unwrap_or(events.len());
    let after: Vec<usize> = if app.log.selected.is_some() {
        (anchor + 1..events.len()).filter(|&i| admits(&events[i])).take(rows / 2).collect()
    } else {
        Vec::new()
    };
    let mut shown: Vec<usize> = Vec::with_capacity(rows);
    let upto = if app.log.selected.is_some() { anchor + 1 } else { anchor };
    for i in (0..upto).rev() {
        if shown.len() + after.len() >= rows {
            break;
        }
        if admits(&events[i]) {
            shown.push(i);
        }
    }
    shown.reverse();
    shown.extend(after);
    let step = app.tape.step();
    let widths = Widths {
        step: shown.iter().map(|&i| events[i].step.to_string().len()).max().unwrap_or(1),
        time: shown.iter().map(|&i| time(&events[i]).chars().count()).max().unwrap_or(2),
        route: shown.iter().map(|&i| route(app, &events[i]).chars().count()).max().unwrap_or(0),
    };
    let lines: Vec<Line> = shown
        .iter()
        .map(|&i| {
            let e = &events[i];
            let selected = app.log.selected == Some(i);
            let mut line = row(app, e, step, &widths);
            if selected {
                line = line.style(if is_focused { t.selected() } else { t.title() });
            }
            line
        })
        .collect();
    if lines.is_empty() {
        let what = if events.is_empty() { "nothing has happened yet" } else { "no event matches the filter" };
        frame.render_widget(Paragraph::new(Line::styled(what, t.dim())), list);
    } else {
        frame.render_widget(Paragraph::new(super::fit(lines, list.width as usize)), list);
    }

    // Details of the selected event, else of the newest shown.
    let focus_event = app.log.selected.or_else(|| shown.last().copied()).and_then(|i| events.get(i));
    if let (Some(e), true) = (focus_event, details_h > 0) {
        let text = describe(app, e);
        let mut wrapped = wrap(&text, details.width as usize);
        wrapped.truncate(details.height as usize);
        let lines: Vec<Line> = wrapped.into_iter().map(|l| Line::styled(l, t.dim())).collect();
        frame.render_widget(Paragraph::new(lines), details);
    }
}

/// The endpoints of an event as an arrow: `n1→n2` for a send, `n1←n2`
/// for what arrives at `n1`.
pub fn route(app: &App, e: &TraceEvent) -> String {
    let name = |x: u32| if x == NONE { String::new() } else { app.lesson.name(x).to_string() };
    let (a, b) = (name(e.node), name(e.peer));
    if b.is_empty() {
        return a;
    }
    match e.kind {
        TraceKind::Send | TraceKind::Invoke | TraceKind::Retry => format!("{a}→{b}"),
        _ => format!("{a}←{b}"),
    }
}

/// An event kind's name as the log shows it.
pub fn kind_name(k: TraceKind) -> &'static str {
    use TraceKind::*;
    match k {
        Start => "start",
        Send => "send",
        Deliver => "deliver",
        Drop => "drop",
        Duplicate => "duplicate",
        Timer => "timer",
        Persisted => "disk",
        Invoke => "invoke",
        Complete => "complete",
        Retry => "retry",
        Crash => "crash",
        Restart => "restart",
        Pause => "pause",
        Resume => "resume",
        Partition => "partition",
        Heal => "heal",
        Clock => "clock",
        Link => "link",
        Command => "command",
        Observation => "observe",
        Note => "note",
        Hold => "hold",
        Choose => "choose",
    }
}

fn kind_style(app: &App, k: TraceKind) -> Style {
    use TraceKind::*;
    let t = &app.theme;
    match k {
        Drop | Crash | Partition | Pause => t.bad(),
        Duplicate | Retry | Hold | Clock | Link | Choose => t.warn(),
        Restart | Resume | Heal | Complete => t.ok(),
        Note => t.note(),
        _ => t.plain(),
    }
}

/// Column widths of the rows shown (as narrow as their content).
struct Widths {
    step: usize,
    time: usize,
    route: usize,
}

fn time(e: &TraceEvent) -> String {
    crate::sim::SimTime(e.time_us).to_string()
}

/// A row of the log: a message by its protocol-written label (its whole
/// contents are in [`describe`], for the selected event), anything else
/// by its text.
fn row<'a>(app: &App, e: &'a TraceEvent, current: u64, w: &Widths) -> Line<'a> {
    let t = &app.theme;
    let shown = if e.label.is_empty() { e.text.as_str() } else { e.label.as_str() };
    let step_style = if e.step == current { t.title() } else { t.dim() };
    Line::from(vec![
        Span::styled(format!("{:>w$} ", e.step, w = w.step), step_style),
        Span::styled(format!("{:>w$} ", time(e), w = w.time), t.dim()),
        Span::styled(format!("{:<9} ", kind_name(e.kind)), kind_style(app, e.kind)),
        Span::styled(format!("{:<w$} ", route(app, e), w = w.route), t.plain()),
        Span::styled(shown, t.plain()),
    ])
}

/// Everything about one event, in one line of words.
pub fn describe(app: &App, e: &TraceEvent) -> String {
    let msg = match e.kind {
        _ if e.msg == 0 => String::new(),
        TraceKind::Invoke | TraceKind::Complete | TraceKind::Retry => format!(" · op {}", e.msg),
        _ => format!(" · message #{}", e.msg),
    };
    format!(
        "step {} · {} · {} {}{msg} · {}",
        e.step,
        crate::sim::SimTime(e.time_us),
        kind_name(e.kind),
        route(app, e),
        e.text
    )
}
