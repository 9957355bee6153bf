//! Rendered screens, compared with the snapshots in `tests/snapshots/`
//! (insta; with `CI=true` a missing or changed snapshot fails). Each
//! protocol's lesson at a few steps, the help overlay, a violation, an
//! intervention and a fork, the sequence and history views — at 80×24, the
//! smallest size the UI promises, and one larger screen.
//!
//! To review a change: `INSTA_UPDATE=always cargo test --test tui_snapshots`
//! and read the diff of `tests/snapshots/`.

use distlab::sim::TraceKind;
use distlab::tui::App;
use distlab::tui::app::{Focus, Msg};
use distlab::tui::keys::Action;
use distlab::tui::theme::Theme;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;
use std::path::Path;

fn open(rel: &str) -> App {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(rel);
    let mut app = App::open(&path, None, Theme { color: true }).unwrap_or_else(|e| panic!("{e}"));
    // One chunk of a `v` search a slice, whatever the machine's speed: how
    // far the search looked ahead ("step N of M seen") never depends on
    // the wall clock (a slow machine would otherwise shrink its chunks).
    app.search_slice = std::time::Duration::ZERO;
    app
}

fn act(app: &mut App, actions: &[Action]) {
    for a in actions {
        app.update(Msg::Action(*a));
        // A search (`v`) goes on between frames.
        while app.searching() {
            app.update(Msg::Tick);
        }
    }
}

fn screen(app: &App, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| distlab::tui::ui::view(app, f)).unwrap();
    t
}

/// A primary–replica lesson: the start, the note that asks the student
/// to wait, the crash, and the moment `acked-writes-durable` breaks.
#[test]
fn primary_replica_async_crash() {
    let mut app = open("primary-replica/async-crash.toml");
    insta::assert_snapshot!("pr_async_crash_start", screen(&app, 80, 24).backend());
    act(&mut app, &[Action::NextNote, Action::NextNote]);
    insta::assert_snapshot!("pr_async_crash_wait_note", screen(&app, 80, 24).backend());
    act(&mut app, &[Action::StepForward]);
    insta::assert_snapshot!("pr_async_crash_crashed", screen(&app, 80, 24).backend());
    act(&mut app, &[Action::NextViolation]);
    insta::assert_snapshot!("pr_async_crash_violation", screen(&app, 80, 24).backend());
    insta::assert_snapshot!("pr_async_crash_violation_large", screen(&app, 140, 42).backend());
}

/// Multi-master during a partition: the reachability matrix and the
/// nodes' diverging stores.
#[test]
fn multi_master_partition() {
    let mut app = open("multi-master/partition-heal.toml");
    act(&mut app, &[Action::NextFault]);
    for _ in 0..40 {
        act(&mut app, &[Action::StepForward]);
    }
    insta::assert_snapshot!("mm_partition", screen(&app, 80, 24).backend());
    act(&mut app, &[Action::ShowSequence]);
    insta::assert_snapshot!("mm_partition_sequence", screen(&app, 80, 24).backend());
}

/// Quorum with sloppy quorums: a stale read breaks `fresh-reads`; the
/// client history shows the operations around it.
#[test]
fn quorum_sloppy_handoff() {
    let mut app = open("quorum/sloppy-handoff.toml");
    act(&mut app, &[Action::NextViolation]);
    insta::assert_snapshot!("quorum_sloppy_violation", screen(&app, 80, 24).backend());
    act(&mut app, &[Action::ShowHistory]);
    insta::assert_snapshot!("quorum_sloppy_history", screen(&app, 80, 24).backend());
}

/// Two-phase commit: the coordinator has crashed after prepare, and the
/// participants that voted yes sit blocked, holding their locks.
#[test]
fn two_phase_commit_blocked() {
    let mut app = open("two-phase-commit/coordinator-crash.toml");
    act(&mut app, &[Action::NextFault, Action::NextFault]);
    for _ in 0..30 {
        act(&mut app, &[Action::StepForward]);
    }
    insta::assert_snapshot!("two_phase_commit_blocked", screen(&app, 80, 24).backend());
}

/// A saga compensating: the reservation failed, the refund and the
/// cancellation follow in reverse order.
#[test]
fn saga_compensating() {
    let mut app = open("saga/inventory-fails.toml");
    for _ in 0..120 {
        act(&mut app, &[Action::StepForward]);
    }
    insta::assert_snapshot!("saga_compensating", screen(&app, 80, 24).backend());
}

/// The basics: a lossy, duplicating network, with a message duplicated
/// by the network marked in the network pane, and the log filtered.
#[test]
fn basics_loss_duplication() {
    let mut app = open("basics/loss-duplication.toml");
    // Step until the network has duplicated a message still in flight.
    for _ in 0..2000 {
        act(&mut app, &[Action::StepForward]);
        if app.derived.in_flight.iter().any(|m| app.derived.duplicates.contains_key(&m.id)) {
            break;
        }
    }
    assert!(app.derived.in_flight.iter().any(|m| app.derived.duplicates.contains_key(&m.id)));
    insta::assert_snapshot!("basics_duplicate_in_flight", screen(&app, 80, 24).backend());
    act(&mut app, &[Action::FocusNext, Action::FocusNext, Action::FilterKind, Action::Up, Action::Up]);
    assert_eq!(app.focus, Focus::Log);
    insta::assert_snapshot!("basics_log_filtered", screen(&app, 80, 24).backend());
}

/// The help overlay lists every key.
#[test]
fn help_overlay() {
    let mut app = open("primary-replica/fencing.toml");
    act(&mut app, &[Action::Help]);
    insta::assert_snapshot!("help", screen(&app, 80, 24).backend());
    act(&mut app, &[Action::Close]);
    assert!(app.overlay.is_none());
    // `?` twice: what every symbol means, at 80x24.
    act(&mut app, &[Action::Help, Action::Help]);
    insta::assert_snapshot!("legend", screen(&app, 80, 24).backend());
    act(&mut app, &[Action::Help]);
    assert!(app.overlay.is_none());
}

/// Every symbol the diagram, the history and the timeline draw is in the
/// legend (issue 13: a legend for every symbol).
#[test]
fn the_legend_names_every_symbol_drawn() {
    use distlab::tui::ui::LEGEND;
    let legend: String = LEGEND.iter().flat_map(|(_, s)| s.iter().map(|(sym, _)| *sym)).collect();
    let mut app = open("two-phase-commit/coordinator-crash.toml");
    let mut drawn = std::collections::BTreeSet::new();
    for center in [Action::ShowSequence, Action::ShowHistory, Action::ShowCluster] {
        act(&mut app, &[Action::GotoStart, center]);
        for _ in 0..60 {
            act(&mut app, &[Action::StepForward]);
            let text = format!("{}", screen(&app, 100, 30).backend());
            for line in text.lines().skip(1).take(13) {
                drawn.extend(line.chars().filter(|c| "●○▶◀▷◁✗↻⏸┆╎╌├┤×┄◆•━".contains(*c)));
            }
        }
    }
    let missing: Vec<char> =
        drawn.iter().copied().filter(|c| !legend.contains(*c) && !"◀◁".contains(*c)).collect();
    assert!(missing.is_empty(), "drawn but not in the legend: {missing:?}");
    assert!(drawn.len() >= 8, "{drawn:?}");
}

/// An intervention shows at once (the node is down, the title counts the
/// intervention); one after a rewind marks the run FORKED.
#[test]
fn intervention_and_fork() {
    let mut app = open("primary-replica/split-brain.toml");
    for _ in 0..60 {
        act(&mut app, &[Action::StepForward]);
    }
    act(&mut app, &[Action::Down, Action::Crash]);
    insta::assert_snapshot!("intervention_crash", screen(&app, 80, 24).backend());
    for _ in 0..10 {
        act(&mut app, &[Action::StepBack]);
    }
    act(&mut app, &[Action::Down, Action::Isolate]);
    // Forking asks first (what would be discarded), then `y` does it.
    insta::assert_snapshot!("intervention_fork_question", screen(&app, 80, 24).backend());
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    app.update(Msg::Key(KeyEvent::new(KeyCode::Char('y'), KeyModifiers::NONE)));
    insta::assert_snapshot!("intervention_fork", screen(&app, 80, 24).backend());
}

/// Under NO_COLOR nothing is coloured; with colour, what the last step
/// changed is highlighted.
#[test]
fn no_color_uses_no_colour() {
    let mut app = open("primary-replica/async-crash.toml");
    act(&mut app, &[Action::NextNote, Action::NextNote, Action::StepForward]);
    let coloured = screen(&app, 80, 24);
    let cells = coloured.backend().buffer().content();
    assert!(cells.iter().any(|c| c.bg == Color::Yellow), "the crash is highlighted");
    app.theme = Theme { color: false };
    let plain = screen(&app, 80, 24);
    let cells = plain.backend().buffer().content();
    assert!(cells.iter().all(|c| c.fg == Color::Reset && c.bg == Color::Reset), "no colour under NO_COLOR");
    // The same text either way.
    assert_eq!(format!("{}", coloured.backend()), format!("{}", plain.backend()));
}

/// A cluster too large for a reachability matrix shows the partition as
/// one line per side.
#[test]
fn large_cluster_partition_as_groups() {
    let source =
        "[scenario]\nname = \"seven\"\nprotocol = \"echo\"\nduration = \"1s\"\n[cluster]\nnodes = 7\n";
    let scenario =
        distlab::scenario::load_str(&distlab::protocols::registry(), "seven.toml", source).unwrap();
    let mut app = App::new(scenario, source.into(), "seven.toml".into(), None, Theme { color: true });
    act(&mut app, &[Action::StepForward, Action::Down, Action::Isolate]);
    let text = format!("{}", screen(&app, 100, 30).backend());
    assert!(text.contains("n2 → n2\n") || text.contains("n2 → n2 "), "{text}");
    assert!(text.contains("n1 n3 n4 n5 n6 n7 → n1 n3 n4 n5 n6 n7"), "{text}");
}

/// Regression (issue 13): at the end of cart-merge the history pane said
/// "no client operation yet" after 26 operations (its window was sized
/// from latencies and ended at now, long after the clients went quiet).
/// It reaches back to the last operation, scrolls, zooms to the whole
/// run, and Enter lists every operation with its value.
#[test]
fn history_shows_every_operation() {
    let mut app = open("multi-master/cart-merge.toml");
    app.tape.forward_while(u64::MAX, |_, _| false);
    act(&mut app, &[Action::ShowHistory]);
    let n = app.derived.operations.len();
    assert!(n >= 20, "{n}");
    let text = format!("{}", screen(&app, 80, 24).backend());
    assert!(!text.contains("no client operation yet"), "{text}");
    assert!(text.contains(&format!("{n} ops")), "{text}");
    // Every client's last operation is in view (the walk-through saw only
    // carol's at the end).
    for who in ["alice", "bob", "carol"] {
        assert!(text.contains(who), "{who} is missing:\n{text}");
    }
    insta::assert_snapshot!("history_end_of_cart_merge", screen(&app, 80, 24).backend());
    act(&mut app, &[Action::ZoomHistory]);
    let whole = format!("{}", screen(&app, 80, 24).backend());
    assert!(whole.contains("whole run"), "{whole}");
    act(&mut app, &[Action::Details]);
    let list = format!("{}", screen(&app, 80, 24).backend());
    assert!(list.contains(&format!("Client history: {n} operations")), "{list}");
    assert!(list.contains("→ ok"), "{list}");
}

/// Regression (issue 13): the sequence view drew each message at its
/// delivery from the sender's lifeline with a filled dot, so a crashed
/// 2PC coordinator appeared to send. The space-time diagram draws the
/// send where it happens (`●`), the delivery from a hollow `○` with how
/// long it travelled, the crash on the lifeline (`✗`, then `┆` while
/// down), losses ending in `✗` with why; Enter explains the message at
/// the bottom: where it was sent and what became of it.
#[test]
fn space_time_diagram_of_a_coordinator_crash() {
    let mut app = open("two-phase-commit/coordinator-crash.toml");
    app.tape.seek(32);
    act(&mut app, &[Action::ShowSequence]);
    // Up three rows: the crash, and what was delivered and lost after it.
    act(&mut app, &[Action::Up, Action::Up, Action::Up]);
    let text = format!("{}", screen(&app, 80, 24).backend());
    insta::assert_snapshot!("space_time_coordinator_crash", screen(&app, 80, 24).backend());
    assert!(text.contains("✗ n1 crashes"), "{text}");
    let commit = text.lines().find(|l| l.contains("#13 Commit tx 1 +10ms")).expect("the commit's delivery");
    assert!(
        commit.contains('○') && !commit.contains('●'),
        "delivered after the crash, sent before it:\n{text}"
    );
    assert!(text.contains("lost: Partition"), "{text}");
    // After the crash, n1 sends nothing, and its lifeline shows it down.
    let events = app.driver().trace().events();
    let crash = events.iter().find(|e| e.kind == TraceKind::Crash).unwrap().step;
    assert!(!events.iter().any(|e| e.kind == TraceKind::Send && e.node == 0 && e.step > crash));
    let crash_line = text.lines().find(|l| l.contains("n1 crashes")).unwrap();
    let n1 = crash_line.chars().position(|c| c == '✗').unwrap();
    for l in text.lines().skip_while(|l| !l.contains("n1 crashes")).skip(1).take_while(|l| l.contains('│'))
    {
        assert_ne!(l.chars().nth(n1), Some('●'), "n1 acts after its crash:\n{text}");
    }
    // Enter explains the message at the bottom: a commit lost to the
    // partition...
    act(&mut app, &[Action::Details]);
    let why = format!("{}", screen(&app, 80, 24).backend());
    assert!(why.contains("Message #14") && why.contains("lost") && why.contains("Partition"), "{why}");
    // ...one row up, the commit delivered to n2 after the crash...
    act(&mut app, &[Action::Close, Action::Up, Action::Details]);
    let why = format!("{}", screen(&app, 80, 24).backend());
    assert!(why.contains("Message #13") && why.contains("delivered to n2"), "{why}");
    act(&mut app, &[Action::Close, Action::Down]);
    // ...and one row down, a vote lost at the crashed coordinator.
    act(&mut app, &[Action::Close, Action::Down, Action::Details]);
    let why = format!("{}", screen(&app, 80, 24).backend());
    assert!(why.contains("Message #15") && why.contains("sent by n2 to n1") && why.contains("lost"), "{why}");
}

/// The space-time diagram and the client history at 80x24, one lesson per
/// protocol, where something happens: after the lesson's first fault
/// (or a third of the run where there is none) and 30 steps more.
#[test]
fn new_views_for_every_protocol() {
    for (name, rel) in [
        ("echo", "basics/loss-duplication.toml"),
        ("pr", "primary-replica/fencing.toml"),
        ("mm", "multi-master/cart-merge-partition.toml"),
        ("quorum", "quorum/partition-all.toml"),
        ("twopc", "two-phase-commit/cooperative-termination.toml"),
        ("saga", "saga/orchestrator-crash.toml"),
    ] {
        let mut app = open(rel);
        act(&mut app, &[Action::NextFault]);
        if app.tape.step() == 0 {
            app.tape.forward_to_time(distlab::sim::SimTime(app.tape.end().0 / 3));
        }
        for _ in 0..30 {
            act(&mut app, &[Action::StepForward]);
        }
        act(&mut app, &[Action::ShowSequence]);
        insta::assert_snapshot!(format!("diagram_{name}"), screen(&app, 80, 24).backend());
        act(&mut app, &[Action::ShowHistory]);
        insta::assert_snapshot!(format!("history_{name}"), screen(&app, 80, 24).backend());
    }
}

/// The logs aligned by index (issue 13, RaftScope's log view): after the
/// old primary of async-crash returns, its unshipped epoch-0 tail stands
/// against the new primary's epoch-1 entries at the same indexes, marked
/// where it disagrees. A protocol without a log says so.
#[test]
fn logs_aligned_by_index() {
    let mut app = open("primary-replica/async-crash.toml");
    app.tape.forward_to_time(distlab::sim::SimTime(1_250_000));
    act(&mut app, &[Action::StepForward, Action::ShowLogs]);
    let text = format!("{}", screen(&app, 80, 24).backend());
    assert!(text.contains("the logs disagree from index 75"), "{text}");
    assert!(text.contains("e0✗"), "{text}");
    insta::assert_snapshot!("logs_async_crash", screen(&app, 80, 24).backend());
    let mut app = open("quorum/weak-quorum.toml");
    act(&mut app, &[Action::ShowLogs]);
    assert!(app.status.as_ref().is_some_and(|s| s.text.contains("no replicated log")), "{:?}", app.status);
}

/// Enter on a broken check lists its causes (issue 13); ↓ chooses one,
/// Enter goes to its step, and Enter on the check shows the list again,
/// the cause the tape is at marked. Two-phase commit's heuristic abort:
/// atomicity names the logged commit and both decisions.
#[test]
fn check_causes_overlay() {
    let mut app = open("two-phase-commit/heuristic-abort.toml");
    app.tape.forward_while(u64::MAX, |_, _| false);
    act(&mut app, &[Action::StepForward]);
    while app.focus != Focus::Checks {
        act(&mut app, &[Action::FocusNext]);
    }
    act(&mut app, &[Action::Details]);
    insta::assert_snapshot!("tpc_check_causes", screen(&app, 80, 24).backend());
    act(&mut app, &[Action::Down, Action::Down, Action::Details]);
    insta::assert_snapshot!("tpc_at_a_cause", screen(&app, 80, 24).backend());
    act(&mut app, &[Action::Details]);
    insta::assert_snapshot!("tpc_check_causes_again", screen(&app, 80, 24).backend());
}
