//! The one-line bars: the title, the timeline, the footer.

use super::super::app::{App, Focus, SPEEDS, Tone};
use super::super::keys::{BINDINGS, keys_label};
use crate::sim::{Fault, SimTime, TimedFault};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// Lesson, protocol, seed, and whether the run plays, waits or is forked.
pub fn title(app: &App, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    let s = &app.lesson.scenario;
    let mut spans = vec![Span::styled(" distlab ", t.title()), Span::raw(format!("{} ", s.name))];
    let state = if app.playing {
        Span::styled(format!("▶ playing {}/s ", SPEEDS[app.speed]), t.ok())
    } else if app.derived.waiting {
        Span::styled("◆ at a note: space goes on ", t.note())
    } else if app.derived.at_end {
        Span::styled("■ end ", t.dim())
    } else {
        Span::styled("⏸ paused ", t.dim())
    };
    spans.push(state);
    if app.tape.forked() {
        spans.push(Span::styled(" FORKED ", t.bad()));
        spans.push(Span::raw(" "));
    }
    let n = app.tape.interventions().len();
    if n > 0 {
        spans.push(Span::styled(format!("{n} intervention{} ", if n == 1 { "" } else { "s" }), t.warn()));
    }
    // Least important last: it is what a narrow screen cuts.
    spans.push(Span::styled(format!(" {} · seed {}", s.protocol.name(), app.lesson.seed), t.dim()));
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// A fault's one-letter marker on the timeline.
fn marker(f: &Fault) -> char {
    match f {
        Fault::Crash(_) => 'C',
        Fault::Restart(_) => 'R',
        Fault::Pause(_) => 'P',
        Fault::Resume(_) => 'U',
        Fault::Partition(_) | Fault::Cut { .. } => 'X',
        Fault::Heal => 'H',
        Fault::Clock { .. } => 'K',
        Fault::Link { .. } => 'L',
        Fault::Command { .. } => '!',
        Fault::DropMessage(_) => 'd',
        Fault::DuplicateMessage(_) => 'D',
        Fault::DeliverNext(_) => 'e',
        Fault::Choose(_) => '?',
        Fault::Note { pause: true, .. } => '◆',
        Fault::Note { .. } => '•',
    }
}

/// The scenario's faults and notes, and the interventions, in time order.
fn markers(app: &App) -> Vec<TimedFault> {
    let mut all: Vec<TimedFault> = app.driver().scheduled_faults().to_vec();
    all.extend(app.driver().applied_faults().iter().filter(|f| f.step.is_some()).cloned());
    all.sort_by_key(|f| f.at);
    all
}

/// Progress over the scenario's duration with its markers, then the step,
/// the time and what comes next.
pub fn timeline(app: &App, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    let end = app.tape.end().0.max(1);
    let now = app.driver().now();
    let label_l = format!(" {:>8} ", now.to_string());
    let label_r = format!(" {} ", SimTime(end));
    let width =
        (area.width as usize).saturating_sub(label_l.chars().count() + label_r.chars().count()).max(1);
    let pos = |at: SimTime| ((at.0.min(end) as u128 * (width as u128 - 1)) / end as u128) as usize;
    let cur = pos(now);
    let mut cells: Vec<(char, Style)> =
        (0..width).map(|i| if i <= cur { ('━', t.ok()) } else { ('─', t.dim()) }).collect();
    let all = markers(app);
    for f in &all {
        let style = if matches!(f.fault, Fault::Note { .. }) { t.note() } else { t.bad() };
        cells[pos(f.at)] = (marker(&f.fault), style);
    }
    if cells[cur].0 == '━' || cells[cur].0 == '─' {
        cells[cur] = ('●', t.title());
    }
    let mut spans = vec![Span::styled(label_l, t.plain())];
    spans.extend(cells.into_iter().map(|(c, s)| Span::styled(c.to_string(), s)));
    spans.push(Span::styled(label_r, t.dim()));
    let bar = Line::from(spans);

    let step = app.tape.step();
    let mut info = vec![Span::styled(format!(" step {step}"), t.title())];
    if app.tape.frontier() > step {
        info.push(Span::styled(format!(" of {} seen", app.tape.frontier()), t.dim()));
    }
    info.push(Span::styled(format!(" · speed {}/s", SPEEDS[app.speed]), t.dim()));
    if let Some(next) = all.iter().find(|f| f.at > now && !matches!(f.fault, Fault::Note { .. })) {
        info.push(Span::styled(" · next: ", t.dim()));
        info.push(Span::styled(
            format!("{} at {}", app.driver().describe_fault(&next.fault), next.at),
            t.warn(),
        ));
    }
    let legend = "  C crash R restart P pause X partition H heal ◆ note";
    let used: usize = info.iter().map(|s| s.content.chars().count()).sum();
    if used + legend.chars().count() <= area.width as usize {
        info.push(Span::styled(legend, t.dim()));
    }
    frame.render_widget(Paragraph::new(vec![bar, Line::from(info)]), area);
}

/// The last thing done, or the main keys for the focused pane.
pub fn footer(app: &App, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    if let Some(s) = &app.status {
        let style = match s.tone {
            Tone::Info => t.plain(),
            Tone::Good => t.ok(),
            Tone::Bad => t.bad(),
        };
        let line =
            Line::from(vec![Span::styled(format!(" {}", s.text), style), Span::styled("  ? help", t.dim())]);
        frame.render_widget(Paragraph::new(line), area);
        return;
    }
    let mut items: Vec<(String, &str)> =
        BINDINGS.iter().filter_map(|b| b.footer.map(|word| (keys_label(b), word))).collect();
    let extra: &[(&str, &str)] = match app.focus {
        Focus::Nodes => &[("c/r/p", "crash/restart/pause"), ("x/H", "cut/heal")],
        Focus::Network => &[("d/D/e", "drop/dup/next")],
        Focus::Log => &[("o/t", "filter"), ("Enter", "details")],
        Focus::Checks => &[("↑/↓", "select"), ("Enter", "where it broke")],
        Focus::Sequence => &[("↑/↓", "scroll"), ("Enter", "why")],
        Focus::History => &[("↑/↓", "scroll"), ("z", "zoom"), ("Enter", "every operation")],
        Focus::Narrative => &[("↑/↓", "scroll"), ("Enter", "all")],
    };
    // Keys for the focused pane go before the general ones past `play`.
    let at = items.iter().position(|(_, w)| *w == "play").map_or(0, |i| i + 1);
    for (i, (k, w)) in extra.iter().enumerate() {
        items.insert(at + i, (k.to_string(), w));
    }
    let mut spans = vec![Span::raw(" ")];
    let mut used = 1;
    let quit = "? help  q quit".len();
    for (k, w) in items.iter().filter(|(_, w)| *w != "help" && *w != "quit") {
        let len = k.chars().count() + w.chars().count() + 3;
        if used + len + quit > area.width as usize {
            break;
        }
        spans.push(Span::styled(k.clone(), t.key()));
        spans.push(Span::styled(format!(" {w}  "), t.dim()));
        used += len;
    }
    spans.push(Span::styled("?", t.key()));
    spans.push(Span::styled(" help  ", t.dim()));
    spans.push(Span::styled("q", t.key()));
    spans.push(Span::styled(" quit", t.dim()));
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
