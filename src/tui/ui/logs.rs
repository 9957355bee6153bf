//! The nodes' replicated logs aligned by index (RaftScope's log view), for
//! protocols that keep one: one row per node, one column per log index,
//! each entry showing the epoch that appended it. Where nodes disagree at
//! an index, the entries that differ from the majority's are marked; the
//! committed prefix is drawn solid, the part not yet on a node's disk dim,
//! and an entry that the last step removed (a truncation) is called out.

use super::super::app::App;
use super::{pane, pane_title};
use crate::nodes::LogView;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use std::collections::BTreeMap;

/// Width of the node-name column.
const NAME_W: usize = 9;
/// Width of one entry's cell (`e12 `).
const CELL_W: usize = 4;

/// Whether any node shows a log to align.
pub fn any(app: &App) -> bool {
    app.derived
        .nodes
        .iter()
        .any(|n| n.view.as_ref().or(n.recovers_to.as_ref()).is_some_and(|v| v.log.is_some()))
}

pub fn draw(app: &App, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    let block = pane(
        pane_title("Logs", "aligned by index · e = epoch · ✗ disagrees · ▁ not on disk".into(), t, false),
        false,
        t,
    );
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let logs: Vec<(String, Option<&LogView>, bool)> = app
        .derived
        .nodes
        .iter()
        .map(|n| {
            let down = n.view.is_none();
            (n.name.clone(), n.view.as_ref().or(n.recovers_to.as_ref()).and_then(|v| v.log.as_ref()), down)
        })
        .collect();
    let last = logs.iter().filter_map(|(_, l, _)| l.map(|l| l.last)).max().unwrap_or(0);
    let cols = (inner.width as usize).saturating_sub(NAME_W) / CELL_W;
    if cols == 0 || inner.height < 2 {
        return;
    }
    // The epochs at each index the nodes show: the majority's is what a
    // disagreeing entry is measured against.
    let mut votes: BTreeMap<u64, BTreeMap<u64, usize>> = BTreeMap::new();
    for (_, log, _) in &logs {
        for c in log.iter().flat_map(|l| &l.entries) {
            *votes.entry(c.index).or_default().entry(c.epoch).or_default() += 1;
        }
    }
    // Where the logs first disagree, if they do: the window starts just
    // before it; otherwise it shows the newest entries.
    let split = votes.iter().find(|(_, v)| v.len() > 1).map(|(i, _)| *i);
    let first = match split {
        Some(i) => i.saturating_sub(2).max(1),
        None => last.saturating_sub(cols as u64 - 1).max(1),
    };
    let last = last.min(first + cols as u64 - 1);
    let majority =
        |i: u64| votes.get(&i).and_then(|v| v.iter().max_by_key(|(e, n)| (**n, **e)).map(|(e, _)| *e));
    // Entries the last step took away: in a log before it, not now.
    let before: BTreeMap<&str, &LogView> = app
        .derived
        .before
        .iter()
        .flatten()
        .filter_map(|n| n.view.as_ref().and_then(|v| v.log.as_ref()).map(|l| (n.name.as_str(), l)))
        .collect();

    let mut lines = Vec::new();
    let mut head = vec![Span::styled(format!("{:<NAME_W$}", "index"), t.dim())];
    for i in first..=last.max(first) {
        head.push(Span::styled(format!("{:<CELL_W$}", i % 10_000), t.dim()));
    }
    lines.push(Line::from(head));
    for (name, log, down) in &logs {
        let mut spans = vec![Span::styled(
            format!("{:<NAME_W$}", format!("{name}{}", if *down { " ✗" } else { "" })),
            if *down { t.bad() } else { t.plain() },
        )];
        let Some(log) = log else {
            spans.push(Span::styled("no log", t.dim()));
            lines.push(Line::from(spans));
            continue;
        };
        if log.last < first {
            spans.push(Span::styled(format!("its log ends at {}", log.last), t.dim()));
            lines.push(Line::from(spans));
            continue;
        }
        for i in first..=last.max(first) {
            let cell = log.entries.iter().find(|c| c.index == i);
            let (text, style) = match cell {
                None if i <= log.last => ("····".to_string(), t.dim()),
                None => {
                    let gone = before.get(name.as_str()).is_some_and(|b| i <= b.last && i > log.last);
                    if gone { ("cut ".to_string(), t.changed()) } else { (" ".repeat(CELL_W), t.plain()) }
                }
                Some(c) => {
                    let differs = majority(i).is_some_and(|m| m != c.epoch);
                    let mark = if differs {
                        "✗"
                    } else if i > log.on_disk {
                        "▁"
                    } else {
                        " "
                    };
                    let style = if differs {
                        t.bad()
                    } else if i <= log.commit {
                        t.ok()
                    } else if i > log.on_disk {
                        t.dim()
                    } else {
                        t.plain()
                    };
                    (format!("{:<CELL_W$}", format!("e{}{mark}", c.epoch)), style)
                }
            };
            spans.push(Span::styled(text, style));
        }
        let commit = if log.commit > 0 { format!(" commit {}", log.commit) } else { String::new() };
        spans.push(Span::styled(commit, t.dim()));
        lines.push(Line::from(spans));
    }
    lines.push(Line::styled(
        match split {
            Some(i) => format!("the logs disagree from index {i} · green: committed"),
            None => "the logs agree · green: committed · dim: not on this node's disk".to_string(),
        },
        t.dim(),
    ));
    frame.render_widget(Paragraph::new(lines), inner);
}
