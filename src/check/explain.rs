//! A lesson told in words, for a student without the TUI (`distlab run
//! --explain`): the whole description, then what happens in time order —
//! each timeline note at its time, each fault, the protocol's own notes
//! ("becomes primary in epoch 1") — and after each note and fault a short
//! slice of the events that follow it, so the text shows what the note
//! asked the student to watch.

use crate::scenario::Scenario;
use crate::sim::{Driver, EndpointId, SimTime, TraceEvent, TraceKind};

/// Events shown after each timeline note and fault.
pub const SLICE: usize = 6;
/// Protocol notes shown in all; the rest are counted.
pub const PROTOCOL_NOTES: usize = 40;

/// The lines of the explanation of a finished run with a full trace.
pub fn explain(scenario: &Scenario, run: &dyn Driver, seed: u64) -> Vec<String> {
    let mut out = Vec::new();
    out.push(format!("{} ({}), seed {}", scenario.name, scenario.protocol.name(), seed));
    for para in scenario.description.split("\n\n") {
        out.push(String::new());
        out.extend(
            crate::util::wrap(&para.split_whitespace().collect::<Vec<_>>().join(" "), 76)
                .into_iter()
                .map(|l| format!("  {l}")),
        );
    }
    out.push(String::new());
    out.push("What happens:".into());
    let events = run.trace().events();
    if events.is_empty() {
        out.push("  (no events: the trace was off)".into());
        return out;
    }
    let name =
        |e: u32| if e == crate::sim::trace::NONE { String::new() } else { run.endpoint_name(EndpointId(e)) };
    let mut protocol_notes = 0usize;
    let mut hidden_notes = 0usize;
    let mut slice_left = 0usize;
    for e in events {
        let at = SimTime(e.time_us).to_string();
        match e.kind {
            TraceKind::Note if e.node == crate::sim::trace::NONE => {
                out.push(format!("  {at:>9}  note   {}", e.text));
                slice_left = SLICE;
            }
            TraceKind::Note => {
                if protocol_notes < PROTOCOL_NOTES {
                    out.push(format!("  {at:>9}  {:<6} {}", name(e.node), e.text));
                } else {
                    hidden_notes += 1;
                }
                protocol_notes += 1;
            }
            k if is_fault(k) => {
                out.push(format!("  {at:>9}  fault  {}", e.text));
                slice_left = SLICE;
            }
            k if slice_left > 0 && is_step(k) => {
                slice_left -= 1;
                out.push(format!("  {at:>9}         · {}", describe(e, &name)));
            }
            _ => {}
        }
    }
    if out.last().is_some_and(|l| l == "What happens:") {
        out.push("  no timeline note, fault or protocol note in this lesson: run it, or step through it with `distlab tui`".into());
    }
    if hidden_notes > 0 {
        out.push(format!(
            "  … and {hidden_notes} more protocol notes (`distlab tui` steps through them all)"
        ));
    }
    out.extend(evidence(&run.report()));
    out
}

/// Each broken check with the events that caused it (its evidence), at
/// their steps and times: `distlab tui` goes to a step with `g #STEP`.
pub fn evidence(report: &crate::sim::Report) -> Vec<String> {
    let mut out = Vec::new();
    for v in report.checks.iter().filter(|v| !v.holds && !v.causes.is_empty()) {
        if out.is_empty() {
            out.push(String::new());
            out.push("Why checks broke (the events that caused it; `g #STEP` in the TUI goes there):".into());
        }
        out.push(format!("  {}", v.name));
        for c in &v.causes {
            out.push(format!("    step {:<7} {:>9}  {}", c.step, c.time.to_string(), c.what));
        }
    }
    out
}

fn is_fault(k: TraceKind) -> bool {
    matches!(
        k,
        TraceKind::Crash
            | TraceKind::Restart
            | TraceKind::Pause
            | TraceKind::Resume
            | TraceKind::Partition
            | TraceKind::Heal
            | TraceKind::Clock
            | TraceKind::Link
            | TraceKind::Command
    )
}

/// Events worth showing in a slice: what moves the protocol on.
fn is_step(k: TraceKind) -> bool {
    matches!(
        k,
        TraceKind::Deliver | TraceKind::Drop | TraceKind::Timer | TraceKind::Complete | TraceKind::Hold
    )
}

/// One event in words: `n2 ← n1 Replicate #5..7 e1`, `n3 timer
/// PrimarySilent`. A message is named by its protocol-written label when
/// it has one (the trace's text is its full contents).
fn describe(e: &TraceEvent, name: &dyn Fn(u32) -> String) -> String {
    let full = if e.label.is_empty() { &e.text } else { &e.label };
    let text: String = full.chars().take(90).collect();
    let more = if full.chars().count() > 90 { "…" } else { "" };
    match e.kind {
        TraceKind::Deliver => format!("{} ← {} {text}{more}", name(e.node), name(e.peer)),
        TraceKind::Drop => format!("{} ✗ {} #{} {text}", name(e.peer), name(e.node), e.msg),
        TraceKind::Timer => format!("{} timer {text}{more}", name(e.node)),
        TraceKind::Complete => format!("{} ← {} {text}{more}", name(e.node), name(e.peer)),
        _ => format!("{} {text}{more}", name(e.node)),
    }
}
