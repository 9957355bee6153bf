//! `distlab run --explain`: a lesson told in words for a student without
//! the TUI — the whole description, then each timeline note, fault and
//! protocol note at its time, in order, with the events after each note
//! and fault; then the usual report.

mod common;
use common::distlab;

#[test]
fn explain_tells_the_lesson_in_order() {
    let out = distlab(&["run", "primary-replica/async-crash", "--explain"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    // In this order: the description's last sentence, the note before the
    // crash, the crash, the election, the restart note, the truncation,
    // then the report.
    let wanted = [
        "old primary returns and throws away its unshipped tail",
        "note   The primary crashes now",
        "fault  n1 crashes",
        "n2     becomes primary in epoch 1",
        "note   The old primary returns as a replica",
        "n1     truncates its log",
        "checks:",
        "BROKEN acked-writes-durable",
    ];
    let mut at = 0;
    for w in wanted {
        match text[at..].find(w) {
            Some(i) => at += i + w.len(),
            None => panic!("{w:?} missing or out of order in:\n{text}"),
        }
    }
    // A slice of what follows the crash: the writes the clients keep
    // sending are lost at the crashed primary.
    assert!(text.contains("✗ n1") && text.contains("NodeDown"), "{text}");
}

#[test]
fn explain_needs_the_events() {
    let out = distlab(&["run", "basics/latency", "--explain", "--trace-level", "digest"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--explain tells the events"));
    let out = distlab(&["run", "basics/latency", "--explain", "--json"]);
    assert_eq!(out.status.code(), Some(2), "conflicting flags are bad input");
}

/// A lesson with no timeline still says what to do (the walk-through found
/// an empty "What happens:").
#[test]
fn a_lesson_without_a_timeline_says_so() {
    let out = distlab(&["run", "quorum/weak-quorum", "--explain"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("What happens:\n  no timeline note, fault or protocol note"), "{text}");
}
