//! The TUI's model, without a terminal: the tape winds back exactly, a
//! rewind replays the same events, interventions replay and fork, a saved
//! run replays event for event, and the jumps land where they say.

use distlab::sim::{Driver, Fault, NodeStatus, TraceKind};
use distlab::tui::app::{Focus, Msg};
use distlab::tui::keys::Action;
use distlab::tui::tape::SNAPSHOT_EVERY;
use distlab::tui::theme::Theme;
use distlab::tui::{App, Tape};
use std::path::{Path, PathBuf};

fn lesson_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(rel)
}

fn open(rel: &str) -> App {
    App::open(&lesson_path(rel), None, Theme { color: true }).unwrap_or_else(|e| panic!("{e}"))
}

/// The trace events from step `from` on, as comparable tuples.
fn events_from(d: &dyn Driver, from: u64) -> Vec<(u64, u64, TraceKind, u32, u32, u64, String)> {
    d.trace()
        .events()
        .iter()
        .filter(|e| e.step >= from)
        .map(|e| (e.step, e.time_us, e.kind, e.node, e.peer, e.msg, e.text.clone()))
        .collect()
}

/// Stepping forward N and back N returns exactly the initial state (state
/// hash and trace digest), for N below, at and past a snapshot boundary,
/// on a lesson of every protocol in the tree.
#[test]
fn forward_n_then_back_n_is_the_identity() {
    for rel in [
        "primary-replica/async-crash.toml",
        "multi-master/partition-heal.toml",
        "quorum/sloppy-handoff.toml",
        "basics/loss-duplication.toml",
    ] {
        let mut app = open(rel);
        for n in [1, 37, SNAPSHOT_EVERY, SNAPSHOT_EVERY + 45] {
            let start = (app.driver().state_hash(), app.driver().digest(), app.tape.step());
            for _ in 0..n {
                app.tape.forward().expect("the lessons are longer than this");
            }
            assert_ne!(app.driver().state_hash(), start.0, "{rel}: {n} steps changed nothing");
            for _ in 0..n {
                assert!(app.tape.back());
            }
            assert_eq!(
                (app.driver().state_hash(), app.driver().digest(), app.tape.step()),
                start,
                "{rel}: {n} forward then {n} back"
            );
            // Move the starting point on for the next round.
            app.tape.forward();
        }
    }
}

/// Rewinding from step k and stepping forward again reproduces the same
/// events: the same trace (text included) and the same digest, whatever
/// snapshot the rewind restored.
#[test]
fn rewinding_and_replaying_reproduces_the_events() {
    let mut app = open("quorum/strict-quorum.toml");
    let k = 2 * SNAPSHOT_EVERY + 100;
    app.tape.seek(k);
    assert_eq!(app.tape.step(), k);
    let digest = app.driver().digest();
    let hash = app.driver().state_hash();
    for back_to in [k - 1, k - 100, SNAPSHOT_EVERY, SNAPSHOT_EVERY - 1, 3, 0] {
        let expected = events_from(app.driver(), back_to + 1);
        app.tape.seek(back_to);
        assert_eq!(app.tape.step(), back_to);
        assert!(events_from(app.driver(), back_to + 1).is_empty(), "the trace is truncated on rewind");
        while app.tape.step() < k {
            app.tape.forward();
        }
        assert_eq!(events_from(app.driver(), back_to + 1), expected, "replay from {back_to}");
        assert_eq!((app.driver().digest(), app.driver().state_hash()), (digest, hash));
    }
}

/// Near the current step there is a snapshot every SNAPSHOT_EVERY steps
/// (so a step back replays fewer than that); far from it, only every
/// SPARSE_EVERY steps, and a jump back lays the dense ones down again.
#[test]
fn snapshots_are_dense_near_the_current_step_and_sparse_far_away() {
    use distlab::tui::tape::{DENSE_WINDOW, SPARSE_EVERY};
    let s =
        distlab::scenario::load(&distlab::protocols::registry(), &lesson_path("quorum/local-quorum.toml"))
            .unwrap();
    let mut long = s.clone();
    long.duration = distlab::sim::SimTime(60_000_000);
    for c in &mut long.clients {
        c.ops = 1_000_000;
    }
    let options =
        distlab::protocols::RunOptions { trace: distlab::sim::TraceLevel::Full, ..Default::default() };
    let mut tape = Tape::new(long.protocol.build(&long, options), long.duration);
    tape.seek(3 * SNAPSHOT_EVERY + 7);
    assert_eq!(tape.snapshot_count(), 4, "step 0 and three multiples");
    tape.seek(5);
    assert_eq!(tape.snapshot_count(), 4, "rewinding keeps the snapshots");
    let far = 3 * SPARSE_EVERY + 5 * SNAPSHOT_EVERY + 3;
    tape.seek(far);
    let dense = DENSE_WINDOW / SNAPSHOT_EVERY;
    let count = tape.snapshot_count() as u64;
    assert!(count > dense && count <= 1 + 3 + dense + 1, "step 0, the sparse ones, the window: {count}");
    let digest = tape.driver().digest();
    // Far back, then forward again: the same run, and the window moved.
    tape.seek(SNAPSHOT_EVERY + 1);
    assert!(tape.snapshot_count() as u64 <= 1 + 3 + dense + 2);
    tape.seek(far);
    assert_eq!(tape.driver().digest(), digest);
}

/// Interventions are steps of their own, enter the trace like scripted
/// faults, replay when the tape passes them again, and an intervention
/// after a rewind forks the run: the old future and its interventions go.
#[test]
fn interventions_replay_and_fork() {
    let mut app = open("primary-replica/async-crash.toml");
    app.tape.seek(100);
    app.node = 1;
    app.update(Msg::Action(Action::Crash));
    assert_eq!(app.tape.step(), 101);
    assert_eq!(app.derived.nodes[1].status, NodeStatus::Down);
    let last = app.driver().trace().events().last().cloned().expect("an event");
    assert_eq!((last.kind, last.step, last.text.as_str()), (TraceKind::Crash, 101, "n2 crashes"));
    assert!(!app.tape.forked());
    app.tape.seek(300);
    let digest = app.driver().digest();

    // Back before the crash and forward again: the crash replays.
    app.tape.seek(50);
    assert_eq!(app.tape.interventions().len(), 1);
    app.tape.seek(300);
    assert_eq!(app.driver().digest(), digest);
    assert_eq!(app.driver().nodes()[1].status, NodeStatus::Down);

    // Back again, and intervene differently: a fork.
    app.tape.seek(80);
    app.update(Msg::Action(Action::StepForward)); // refresh the derived views
    app.node = 2;
    // A fork asks first: `n` keeps the run as it was...
    app.update(Msg::Action(Action::PauseResume));
    let Some(distlab::tui::app::Overlay::Prompt(p)) = &app.overlay else { panic!("no fork question") };
    assert!(
        p.kind.question().contains("after step 81 and 1 intervention is discarded"),
        "{}",
        p.kind.question()
    );
    app.update(key(ratatui::crossterm::event::KeyCode::Char('n')));
    assert!(app.overlay.is_none());
    assert!(!app.tape.forked());
    assert_eq!(app.tape.interventions().len(), 1);
    // ...and `y` forks it.
    app.update(Msg::Action(Action::PauseResume));
    app.update(key(ratatui::crossterm::event::KeyCode::Char('y')));
    assert!(app.tape.forked());
    assert_eq!(app.tape.frontier(), 82, "the old future is discarded");
    let kept: Vec<u64> = app.tape.interventions().keys().copied().collect();
    assert_eq!(kept, vec![82], "the later crash went with the old future");
    assert_eq!(app.derived.nodes[2].status, NodeStatus::Paused);
    assert_eq!(app.derived.nodes[1].status, NodeStatus::Up);
    assert!(app.status.as_ref().is_some_and(|s| s.text.contains("forked")));
}

/// Nonsense interventions are refused with a reason, and change nothing.
#[test]
fn impossible_interventions_are_refused() {
    let mut app = open("primary-replica/async-crash.toml");
    app.update(Msg::Action(Action::Restart));
    assert!(app.status.as_ref().is_some_and(|s| s.text.contains("n1 is running")));
    app.update(Msg::Action(Action::Heal));
    assert!(app.status.as_ref().is_some_and(|s| s.text.contains("nothing to heal")));
    assert_eq!(app.tape.step(), 0);
    assert!(app.tape.interventions().is_empty());
}

/// `w` writes a scenario that replays the run with its interventions
/// exactly: the same trace digest at the same step, with `distlab run`'s
/// loader and a fresh driver.
#[test]
fn a_saved_run_replays_exactly() {
    let mut app = open("quorum/partition-one.toml");
    app.tape.seek(200);
    app.node = 2;
    app.update(Msg::Action(Action::Isolate));
    app.tape.seek(420);
    app.focus = Focus::Network;
    assert!(!app.derived.in_flight.is_empty(), "something is in flight at step 420");
    app.update(Msg::Action(Action::DuplicateMessage));
    app.update(Msg::Action(Action::Down));
    app.update(Msg::Action(Action::DeliverNext));
    app.update(Msg::Action(Action::DropMessage));
    app.update(Msg::Action(Action::Heal));
    app.node = 0;
    app.update(Msg::Action(Action::Crash));
    for _ in 0..150 {
        app.update(Msg::Action(Action::StepForward));
    }
    app.update(Msg::Action(Action::Restart));
    for _ in 0..50 {
        app.update(Msg::Action(Action::StepForward));
    }
    assert_eq!(app.tape.interventions().len(), 7, "{:?}", app.status);
    let (step, digest) = (app.tape.step(), app.driver().digest());

    let dir = std::env::temp_dir().join(format!("distlab-tui-save-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("saved.toml");
    app.update(Msg::Action(Action::Save));
    let Some(distlab::tui::app::Overlay::Prompt(p)) = &app.overlay else { panic!("no save prompt") };
    assert_eq!(p.text, "partition-one-my-run.toml");
    // Replace the default name with the test's file.
    let default_len = p.text.len();
    for _ in 0..default_len {
        app.update(key(ratatui::crossterm::event::KeyCode::Backspace));
    }
    for c in file.display().to_string().chars() {
        app.update(key(ratatui::crossterm::event::KeyCode::Char(c)));
    }
    app.update(key(ratatui::crossterm::event::KeyCode::Enter));
    assert!(app.overlay.is_none(), "saved: {:?}", app.status);

    let saved =
        distlab::scenario::load(&distlab::protocols::registry(), &file).unwrap_or_else(|e| panic!("{e}"));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("step = 201\npartition = [[\"n3\"], [\"n1\", \"n2\"]]"), "{text}");
    let options = distlab::protocols::RunOptions {
        trace: distlab::sim::TraceLevel::Digest,
        ..distlab::protocols::RunOptions::default()
    };
    let mut replay = saved.protocol.build(&saved, options);
    while replay.stats().events < step {
        replay.step().expect("the replay reaches the same step");
    }
    assert_eq!(replay.digest(), digest, "the saved run replays event for event");
    // And the TUI opens the saved file at the same place.
    let mut again = App::open(&file, None, Theme { color: true }).unwrap();
    again.tape.seek(step);
    assert_eq!(again.driver().digest(), digest);
    std::fs::remove_dir_all(&dir).ok();
}

fn key(code: ratatui::crossterm::event::KeyCode) -> Msg {
    Msg::Key(ratatui::crossterm::event::KeyEvent::new(code, ratatui::crossterm::event::KeyModifiers::NONE))
}

/// Jumps: to the next note, the next fault, the next violation (the step
/// at which a check that held breaks), and to a time.
#[test]
fn jumps_land_where_they_say() {
    let mut app = open("primary-replica/async-crash.toml");
    app.update(Msg::Action(Action::NextNote));
    assert_eq!(app.derived.notes.len(), 1, "the note at 0ms");
    app.update(Msg::Action(Action::NextNote));
    assert_eq!(app.driver().now().0, 600_000, "the note at 600ms");
    assert!(app.derived.waiting, "it asks the student to wait");
    app.update(Msg::Action(Action::NextFault));
    assert_eq!(app.tape.current().map(|r| r.kind), Some(TraceKind::Crash));
    assert_eq!(app.derived.nodes[0].status, NodeStatus::Down);

    let holds = |app: &App| app.derived.report.verdict("acked-writes-durable").unwrap().holds;
    assert!(holds(&app));
    app.update(Msg::Action(Action::NextViolation));
    settle(&mut app);
    let at = app.tape.step();
    assert!(!holds(&app), "stopped where the check broke");
    assert!(app.derived.newly_broken.contains("acked-writes-durable"));
    assert!(app.status.as_ref().is_some_and(|s| s.text.contains("acked-writes-durable broke")));
    app.update(Msg::Action(Action::StepBack));
    assert!(holds(&app), "one step earlier it held: {at} is the first broken step");

    // Go to a time, forward and back.
    app.update(Msg::Action(Action::GotoTime));
    for c in "1.5s".chars() {
        app.update(key(ratatui::crossterm::event::KeyCode::Char(c)));
    }
    app.update(key(ratatui::crossterm::event::KeyCode::Enter));
    let t = app.driver().now().0;
    assert!(t <= 1_500_000 && app.tape.time_of(app.tape.step() + 1).is_none_or(|n| n.0 > 1_500_000), "{t}");
    app.update(Msg::Action(Action::GotoTime));
    for c in "#42".chars() {
        app.update(key(ratatui::crossterm::event::KeyCode::Char(c)));
    }
    app.update(key(ratatui::crossterm::event::KeyCode::Enter));
    assert_eq!(app.tape.step(), 42);
    app.update(Msg::Action(Action::GotoTime));
    for c in "9s".chars() {
        app.update(key(ratatui::crossterm::event::KeyCode::Char(c)));
    }
    app.update(key(ratatui::crossterm::event::KeyCode::Enter));
    let Some(distlab::tui::app::Overlay::Prompt(p)) = &app.overlay else { panic!("the prompt stays open") };
    assert!(p.error.as_deref().is_some_and(|e| e.contains("ends at 2s")), "{p:?}");
}

/// A jump past the moment a check broke names the step where it broke
/// (the checker's record), not the step the jump landed on.
#[test]
fn a_jump_past_a_violation_names_where_it_broke() {
    let mut app = open("quorum/sloppy-handoff.toml");
    app.update(Msg::Action(Action::GotoTime));
    for c in "2s".chars() {
        app.update(key(ratatui::crossterm::event::KeyCode::Char(c)));
    }
    app.update(key(ratatui::crossterm::event::KeyCode::Enter));
    let v = app.derived.report.verdict("fresh-reads").unwrap().clone();
    assert!(!v.holds);
    let at = v.first_violation.expect("fresh-reads records where it broke").step;
    assert!(at < app.tape.step());
    let status = app.status.as_ref().map(|s| s.text.clone()).unwrap_or_default();
    assert!(status.contains(&format!("fresh-reads broke at step {at}:")), "{status}");
}

/// Playing stops at a note that asks the student to wait, and at the end
/// of the scenario, where the clock stays within the scenario's duration.
#[test]
fn playing_stops_at_wait_notes_and_at_the_end() {
    let mut app = open("primary-replica/async-crash.toml");
    app.speed = distlab::tui::app::SPEEDS.len() - 1;
    app.update(Msg::Action(Action::TogglePlay));
    let mut frames = 0;
    while app.playing {
        app.update(Msg::Tick);
        frames += 1;
        assert!(frames < 10_000);
    }
    assert!(app.derived.waiting);
    assert_eq!(app.driver().now().0, 600_000);
    app.update(Msg::Action(Action::TogglePlay));
    while app.playing {
        app.update(Msg::Tick);
    }
    assert!(app.derived.at_end);
    assert!(app.driver().now() <= app.tape.end());
    assert_eq!(app.tape.step(), distlab_run_events("primary-replica/async-crash.toml"));
}

/// Seeking past the end stops exactly where `distlab run` stops, for
/// every lesson (a void event at the end must not let a later one in).
#[test]
fn the_end_is_where_distlab_run_ends_for_every_lesson() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    for f in distlab::scenario::library::scenario_files(&dir) {
        let rel = f.strip_prefix(&dir).unwrap().to_string_lossy().replace('\\', "/");
        let mut app = open(&rel);
        app.tape.seek(u64::MAX);
        assert_eq!(app.tape.step(), distlab_run_events(&rel), "{rel}");
    }
}

/// The step count of `distlab run` on a lesson: the TUI's end is the same.
fn distlab_run_events(rel: &str) -> u64 {
    let s = distlab::scenario::load(&distlab::protocols::registry(), &lesson_path(rel)).unwrap();
    let mut d = s.protocol.build(&s, Default::default());
    d.run_until(s.duration);
    d.stats().events
}

/// The tape on its own: a hand-made intervention through the tape replays
/// after a rewind, and a fork leaves no trace of the old future.
#[test]
fn tape_forks_discard_the_old_future() {
    let s = distlab::scenario::load(
        &distlab::protocols::registry(),
        &lesson_path("multi-master/concurrent-writes.toml"),
    )
    .unwrap();
    let options =
        distlab::protocols::RunOptions { trace: distlab::sim::TraceLevel::Full, ..Default::default() };
    let mut tape = Tape::new(s.protocol.build(&s, options), s.duration);
    tape.seek(700);
    let crash = tape.intervene(Fault::Crash(distlab::nodes::NodeId(0))).unwrap();
    assert_eq!(crash.step, 701);
    tape.seek(900);
    tape.seek(600);
    tape.intervene(Fault::Pause(distlab::nodes::NodeId(1))).unwrap();
    assert!(tape.forked());
    tape.seek(900);
    assert!(tape.driver().trace().events().iter().all(|e| e.kind != TraceKind::Crash), "the crash is gone");
    assert_eq!(tape.driver().nodes()[1].status, NodeStatus::Paused);
}

/// Every lesson in the tree — including protocols added after the TUI —
/// opens, plays to its end through every jump, and renders at 80×24 and
/// 160×48 at every stop, with no protocol-specific code.
#[test]
fn every_lesson_works_in_the_tui() {
    use ratatui::{Terminal, backend::TestBackend};
    for path in
        distlab::scenario::library::scenario_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios"))
    {
        let mut app = App::open(&path, None, Theme { color: true }).unwrap();
        let mut small = Terminal::new(TestBackend::new(80, 24)).unwrap();
        let mut large = Terminal::new(TestBackend::new(160, 48)).unwrap();
        let mut stops = 0;
        let (mut last, mut still) = (0, 0);
        for action in [Action::NextNote, Action::NextFault, Action::NextViolation, Action::NextNote]
            .into_iter()
            .cycle()
            .take(40)
        {
            app.update(Msg::Action(action));
            settle(&mut app);
            for center in [Action::ShowSequence, Action::ShowHistory, Action::ShowCluster] {
                app.update(Msg::Action(center));
                small.draw(|f| distlab::tui::ui::view(&app, f)).unwrap();
                large.draw(|f| distlab::tui::ui::view(&app, f)).unwrap();
            }
            stops += 1;
            // Every kind of jump stays put once nothing is left ahead.
            still = if app.tape.step() == last { still + 1 } else { 0 };
            last = app.tape.step();
            if app.derived.at_end || still >= 4 {
                break;
            }
        }
        assert!(stops > 0);
        let end = app.tape.step();
        app.tape.seek(end / 2);
        app.tape.seek(end);
        assert_eq!(app.tape.step(), end, "{}", path.display());
    }
}

/// Regression (issue 13): Tab in the history and sequence views visited
/// the hidden network pane, and `d` then dropped a message the student
/// could not see. Tab visits only the panes on the screen (the checks
/// pane included, so clipped reasons can be read), and an intervention
/// whose selection is off the screen is refused with what to do.
#[test]
fn tab_visits_only_what_is_on_the_screen() {
    use distlab::tui::app::{Center, Focus};
    let mut app = open("primary-replica/async-crash.toml");
    app.tape.seek(6);
    app.update(Msg::Action(Action::StepForward));
    assert!(!app.derived.in_flight.is_empty(), "a message is in flight to drop");
    let mut seen = Vec::new();
    for _ in 0..5 {
        seen.push(app.focus);
        app.update(Msg::Action(Action::FocusNext));
    }
    assert_eq!(seen, [Focus::Nodes, Focus::Network, Focus::Log, Focus::Checks, Focus::Narrative]);
    app.update(Msg::Action(Action::ShowHistory));
    assert_eq!(app.center, Center::History);
    let mut seen = Vec::new();
    for _ in 0..4 {
        app.update(Msg::Action(Action::FocusNext));
        seen.push(app.focus);
    }
    assert!(seen.iter().all(|f| Focus::order(Center::History).contains(f)), "{seen:?}");
    let before = app.tape.interventions().len();
    app.update(Msg::Action(Action::DropMessage));
    app.update(Msg::Action(Action::Crash));
    assert_eq!(app.tape.interventions().len(), before, "nothing was done out of sight");
    assert!(app.status.as_ref().is_some_and(|s| s.text.contains("press 1")), "{:?}", app.status);
    // Back on the cluster view, `d` drops the message the student sees.
    app.update(Msg::Action(Action::ShowCluster));
    app.update(Msg::Action(Action::DropMessage));
    assert_eq!(app.tape.interventions().len(), before + 1);
}

mod common;

/// Regression (issue 13): at the end of a lesson the TUI must show the
/// verdicts `distlab run` prints — the same checks, reasons, metrics the
/// lesson expects, and expectations met — for every bundled lesson. (2PC
/// coordinator-crash showed `in_doubt_ms_max` at 2825 where `run` says
/// 2979: the TUI judged at the last event, `run` at the scenario's end.)
#[test]
fn every_lesson_ends_with_the_verdicts_of_run() {
    let mut differ = Vec::new();
    for path in common::all_lessons() {
        let mut app = App::open(&path, None, Theme { color: true }).unwrap();
        let scenario = app.lesson.scenario.clone();
        app.tape.forward_while(u64::MAX, |_, _| false);
        app.update(Msg::Action(Action::StepForward)); // at the end: refreshes
        let (_, run) = distlab::check::run::execute(&scenario, Default::default());
        let tui: Vec<(&str, bool, &str)> =
            app.derived.report.checks.iter().map(|v| (v.name, v.holds, v.detail.as_str())).collect();
        let cli: Vec<(&str, bool, &str)> =
            run.checks.iter().map(|c| (c.name, c.holds, c.detail.as_str())).collect();
        if tui != cli {
            differ.push(format!("{}: checks\n  tui {tui:?}\n  run {cli:?}", path.display()));
        }
        for (t, r) in app.derived.expectations.iter().zip(&run.expectations) {
            if (t.met, &t.name, &t.detail) != (r.met, &r.name, &r.detail) {
                differ.push(format!("{}: expectation\n  tui {t:?}\n  run {r:?}", path.display()));
            }
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}

/// Types `text` into the open prompt and presses Enter.
fn type_in(app: &mut App, text: &str) {
    use ratatui::crossterm::event::KeyCode;
    for c in text.chars() {
        app.update(key(KeyCode::Char(c)));
    }
    app.update(key(KeyCode::Enter));
}

/// Regression (issue 13): `g TIME` must land on the same step however
/// much of the run was already seen — the last step at or before TIME.
/// (In a saga lesson `g 2s` from the start stopped at 1.012s, and `→`
/// then jumped to 1.441s.)
#[test]
fn goto_lands_on_the_same_step_however_much_was_seen() {
    let mut differ = Vec::new();
    for path in common::all_lessons() {
        let mut seen = App::open(&path, None, Theme { color: true }).unwrap();
        seen.tape.forward_while(u64::MAX, |_, _| false);
        let end = seen.tape.end();
        for frac in [3, 2] {
            let at = distlab::sim::SimTime(end.0 / frac);
            let text = format!("{}ms", at.0 as f64 / 1000.0);
            let expected = seen.tape.last_step_at(at);
            let mut fresh = App::open(&path, None, Theme { color: true }).unwrap();
            fresh.update(Msg::Action(Action::GotoTime));
            type_in(&mut fresh, &text);
            seen.update(Msg::Action(Action::GotoTime));
            type_in(&mut seen, &text);
            let (a, b) = (fresh.tape.step(), seen.tape.step());
            if (a, b) != (expected, expected) {
                differ.push(format!(
                    "{}: g {text}: fresh {a}, after seeing all {b}, expected {expected}",
                    path.display()
                ));
            }
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}

/// Lets a search (`v`) run to its end, a slice per frame.
fn settle(app: &mut App) {
    while app.searching() {
        app.update(Msg::Tick);
    }
}

/// Regression (issue 13): `v` took 7–8 s at 130k events, blocking every
/// key. It now runs in slices between frames, shows where it is, stops
/// on any key (which does nothing else), and lands on the first step at
/// which a check that held breaks — the step a step-by-step search finds.
/// (On split-brain, whose first violation is hundreds of steps in: the
/// first chunk of 64 does not reach it.)
#[test]
fn next_violation_runs_in_slices_and_a_key_stops_it() {
    use ratatui::crossterm::event::KeyCode;
    let mut app = open("primary-replica/split-brain.toml");
    app.search_slice = std::time::Duration::ZERO; // one chunk a slice
    app.update(Msg::Action(Action::NextViolation));
    assert!(app.searching(), "the first chunk does not reach the violation");
    assert!(app.status.as_ref().is_some_and(|s| s.text.contains("any key stops")), "{:?}", app.status);
    let reached = app.tape.step();
    app.update(key(KeyCode::Char('x'))); // `x` would partition a node
    assert!(!app.searching());
    assert!(app.tape.interventions().is_empty(), "the key only stopped the search");
    assert_eq!(app.tape.step(), reached);
    assert!(app.status.as_ref().is_some_and(|s| s.text.contains("stopped")), "{:?}", app.status);

    // Again, to the end of the search, a chunk a frame.
    app.update(Msg::Action(Action::GotoStart));
    app.update(Msg::Action(Action::NextViolation));
    let mut frames = 0;
    while app.searching() {
        app.update(Msg::Tick);
        frames += 1;
    }
    assert!(frames > 1, "{frames}");
    let found = app.tape.step();
    // Step by step from the start: the first step where a check breaks.
    let mut slow = open("primary-replica/split-brain.toml");
    let first = loop {
        slow.tape.forward().expect("a check breaks before the end");
        if slow.driver().report().checks.iter().any(|v| !v.holds) {
            break slow.tape.step();
        }
    };
    assert_eq!(found, first);
}

/// `n` stops at the protocol's own notes too, and a jump with nothing
/// ahead stays where it was (issue 13) instead of running to the end.
#[test]
fn jumps_stop_at_protocol_notes_and_stay_put_when_nothing_is_ahead() {
    let mut app = open("primary-replica/async-crash.toml");
    app.update(Msg::Action(Action::NextFault)); // the crash at 600ms
    app.update(Msg::Action(Action::NextNote));
    let events = app.driver().trace().events();
    let step = app.tape.step();
    assert!(
        events
            .iter()
            .any(|e| e.step == step && e.kind == TraceKind::Note && e.text.contains("stands for election")),
        "stopped at the protocol's note: {:?}",
        events.iter().filter(|e| e.step == step).collect::<Vec<_>>()
    );
    // Past the last fault: `f` stays put.
    while app.tape.forward().is_some() && app.driver().now().0 < 1_900_000 {}
    let here = app.tape.step();
    app.update(Msg::Action(Action::NextFault));
    assert_eq!(app.tape.step(), here);
    assert!(app.status.as_ref().is_some_and(|s| s.text.contains("stayed here")), "{:?}", app.status);
}

/// Causes linked to effects (issue 13): in the checks pane, Enter on a
/// broken check goes to the step where it broke — the step the check
/// recorded, or for a check of a final state the first step at which it
/// reads broken — and says why.
#[test]
fn enter_on_a_broken_check_goes_where_it_broke() {
    let mut app = open("primary-replica/async-crash.toml");
    app.tape.forward_while(u64::MAX, |_, _| false);
    for _ in 0..3 {
        app.update(Msg::Action(Action::FocusNext));
    }
    assert_eq!(app.focus, Focus::Checks);
    let i = app.derived.report.checks.iter().position(|v| v.name == "acked-writes-durable").unwrap();
    for _ in 0..i {
        app.update(Msg::Action(Action::Down));
    }
    app.update(Msg::Action(Action::Details));
    settle(&mut app); // this check judges a final state: a search finds the step
    let at = app.tape.step();
    let holds = |app: &App| app.derived.report.verdict("acked-writes-durable").unwrap().holds;
    assert!(!holds(&app));
    assert!(
        app.status.as_ref().is_some_and(|s| s.text.contains("acked-writes-durable broke")),
        "{:?}",
        app.status
    );
    // The whole reason is open over the screen (the pane clips it).
    assert_eq!(app.overlay, Some(distlab::tui::app::Overlay::Details));
    app.update(Msg::Action(Action::Close));
    app.update(Msg::Action(Action::StepBack));
    assert!(holds(&app), "one step earlier it held: {at} is where it broke");
}

/// The same for a check that records the step it broke at (quorum's
/// stale read): Enter goes straight there.
#[test]
fn enter_on_a_check_with_a_recorded_step_goes_straight_there() {
    let mut app = open("quorum/sloppy-handoff.toml");
    app.tape.forward_while(u64::MAX, |_, _| false);
    app.update(Msg::Action(Action::StepForward));
    let (i, v) =
        app.derived.report.checks.iter().enumerate().find(|(_, v)| !v.holds).expect("a broken check");
    let recorded = v.first_violation.expect("the check recorded where it broke").step;
    let name = v.name;
    while app.focus != Focus::Checks {
        app.update(Msg::Action(Action::FocusNext));
    }
    for _ in 0..i {
        app.update(Msg::Action(Action::Down));
    }
    app.update(Msg::Action(Action::Details));
    assert!(!app.searching(), "no search: the step is known");
    assert_eq!(app.tape.step(), recorded);
    assert!(
        app.status.as_ref().is_some_and(|s| s.text.contains(&format!("where {name} broke"))),
        "{:?}",
        app.status
    );
}

/// What a node waits for and what a crashed node will recover (issue 13):
/// pending timers per node, events held for a paused node, and a down
/// node's disk as recovery will read it.
#[test]
fn nodes_show_timers_held_events_and_what_recovery_reads() {
    let mut app = open("primary-replica/async-crash.toml");
    app.tape.forward_to_time(distlab::sim::SimTime(700_000));
    app.update(Msg::Action(Action::StepForward));
    let n = &app.derived.nodes;
    assert_eq!(n[0].status, NodeStatus::Down);
    let disk = n[0].recovers_to.as_ref().expect("a down node shows what recovery reads");
    assert!(disk.sections.iter().flat_map(|s| &s.rows).any(|(l, v)| l == "length" && v == "80"), "{disk:?}");
    assert!(n[0].timers.is_empty(), "a down node has no timers");
    assert!(
        n[1].timers.iter().any(|(k, at)| k == "PrimarySilent" && *at > app.driver().now()),
        "{:?}",
        n[1].timers
    );
    assert!(n[1].recovers_to.is_none());

    let mut app = open("primary-replica/fencing.toml");
    app.tape.forward_to_time(distlab::sim::SimTime(900_000));
    app.update(Msg::Action(Action::StepForward));
    let n = &app.derived.nodes;
    assert_eq!(n[0].status, NodeStatus::Paused);
    assert!(n[0].held > 0, "messages wait for the paused node");
    let text = {
        use ratatui::{Terminal, backend::TestBackend};
        let mut t = Terminal::new(TestBackend::new(80, 24)).unwrap();
        t.draw(|f| distlab::tui::ui::view(&app, f)).unwrap();
        format!("{}", t.backend())
    };
    assert!(text.contains(&format!("⏲ {} held", n[0].held)), "{text}");
}

/// The student walk-through (issue 13) found the narrative scrolling
/// backwards: at the start, ↓ did nothing and the first ↑ jumped near the
/// end. ↓ now moves down the text from where it is, ↑ back up.
#[test]
fn the_narrative_scrolls_the_way_the_arrows_point() {
    use ratatui::{Terminal, backend::TestBackend};
    let mut app = open("two-phase-commit/coordinator-crash.toml");
    let mut term = Terminal::new(TestBackend::new(80, 24)).unwrap();
    let draw = |app: &App, term: &mut Terminal<TestBackend>| {
        term.draw(|f| distlab::tui::ui::view(app, f)).unwrap();
        app.narrative_drawn.get().0
    };
    while app.focus != Focus::Narrative {
        app.update(Msg::Action(Action::FocusNext));
    }
    assert_eq!(draw(&app, &mut term), 0, "the description from its start");
    app.update(Msg::Action(Action::Down));
    assert_eq!(draw(&app, &mut term), 1, "down moves down the text");
    app.update(Msg::Action(Action::Down));
    app.update(Msg::Action(Action::Up));
    assert_eq!(draw(&app, &mut term), 1, "up moves back");
}

/// A check of the state at the end (multi-master's convergence) broken
/// mid-run is no violation: the walk-through's `v` stopped at step 4 of
/// cart-merge with "✗ convergence" in a lesson that expects it to hold.
/// `v` passes it by, and the pane says it is judged at the end.
#[test]
fn checks_of_the_end_state_are_not_violations_mid_run() {
    use ratatui::{Terminal, backend::TestBackend};
    let mut app = open("multi-master/cart-merge.toml");
    assert!(app.judged_at_end("convergence"));
    app.update(Msg::Action(Action::NextViolation));
    settle(&mut app);
    assert!(
        app.status.as_ref().is_some_and(|s| s.text.contains("no check breaks")),
        "v stopped at step {}: {:?}",
        app.tape.step(),
        app.status
    );
    // Mid-run, a moment when the nodes disagree: shown as not judged yet.
    app.tape.seek(4);
    app.update(Msg::Action(Action::StepForward));
    app.update(Msg::Action(Action::StepBack));
    let diverged = !app.derived.report.verdict("convergence").unwrap().holds;
    let mut t = Terminal::new(TestBackend::new(80, 24)).unwrap();
    t.draw(|f| distlab::tui::ui::view(&app, f)).unwrap();
    let text = format!("{}", t.backend());
    if diverged {
        assert!(text.contains("convergence  judged at the end"), "{text}");
        assert!(!text.contains("✗ convergence"), "{text}");
    }
    assert!(diverged, "step 4 of cart-merge has the carts apart (the walk-through's case)");
}

/// Causes linked to effects (issue 13): Enter on a broken check lists
/// the events that caused it; ↓ chooses one and Enter lands on its step —
/// here the crash that lost an acknowledged write — and the history view
/// marks the violating operation. Enter on the check there lists the
/// causes again, without moving.
#[test]
fn a_chosen_cause_of_a_broken_check_lands_on_its_step() {
    use distlab::tui::app::Overlay;
    let mut app = open("primary-replica/async-crash.toml");
    app.tape.forward_while(u64::MAX, |_, _| false);
    app.update(Msg::Action(Action::StepForward));
    while app.focus != Focus::Checks {
        app.update(Msg::Action(Action::FocusNext));
    }
    let i = app.derived.report.checks.iter().position(|v| v.name == "acked-writes-durable").unwrap();
    for _ in 0..i {
        app.update(Msg::Action(Action::Down));
    }
    app.update(Msg::Action(Action::Details));
    settle(&mut app);
    assert_eq!(app.overlay, Some(Overlay::Details));
    let ev = app.evidence.clone().expect("the broken check's causes are listed");
    assert_eq!(ev.check, "acked-writes-durable");
    let crash = ev.causes.iter().position(|c| c.what == "n1 crashed").expect("the crash is a cause");
    // ↓ to the crash (the first ↓ chooses the first cause), Enter.
    for _ in 0..=crash {
        app.update(Msg::Action(Action::Down));
    }
    assert_eq!(app.evidence.as_ref().unwrap().selected, Some(crash));
    app.update(Msg::Action(Action::Details));
    let step = ev.causes[crash].step;
    assert_eq!(app.tape.step(), step);
    assert_eq!(app.overlay, None, "the screen shows the step");
    assert!(
        app.driver()
            .trace()
            .events()
            .iter()
            .any(|e| e.step == step && e.kind == TraceKind::Crash && app.lesson.name(e.node) == "n1"),
        "step {step} is where n1 crashes"
    );
    assert!(app.status.as_ref().is_some_and(|s| s.text.contains("n1 crashed")), "{:?}", app.status);
    // The acknowledged write that was lost is marked in the history.
    let op = ev.causes.iter().find_map(|c| c.op).expect("the write's client operation");
    assert_eq!(distlab::tui::ui::named_ops(&app).get(&op), Some(&"acked-writes-durable"));
    // Enter on the check here: the list again, the tape stays.
    app.update(Msg::Action(Action::Details));
    settle(&mut app);
    assert_eq!((app.tape.step(), app.overlay.clone()), (step, Some(Overlay::Details)));
    // ↑ then Enter: the cause before it, still without a search.
    app.update(Msg::Action(Action::Up));
    app.update(Msg::Action(Action::Details));
    assert!(!app.searching());
    assert_eq!(app.tape.step(), ev.causes[crash - 1].step);
    // Another check's overlay lists none of these: ↓ and Enter there do
    // not go to a cause the screen does not show.
    let here = app.tape.step();
    app.update(Msg::Action(Action::Up));
    app.update(Msg::Action(Action::Details));
    assert_eq!(app.overlay, Some(Overlay::Details));
    app.update(Msg::Action(Action::Down));
    app.update(Msg::Action(Action::Details));
    assert_eq!((app.tape.step(), app.overlay.clone()), (here, None));
}

/// The history view marks why the client history is not linearizable
/// (issue 13): the stuck operations as violating, the longest legal
/// order found apart — the checker's own verdict on the run so far.
#[test]
fn the_history_view_marks_the_operations_no_legal_order_can_place() {
    let mut app = open("quorum/weak-quorum.toml");
    app.tape.forward_while(u64::MAX, |_, _| false);
    app.update(Msg::Action(Action::StepForward));
    assert!(app.derived.not_linearizable.is_none(), "computed only while the history is shown");
    app.update(Msg::Action(Action::ShowHistory));
    let v = app.derived.not_linearizable.clone().expect("a weak quorum's history is not linearizable");
    let expected = distlab::check::linearizability::check_history(app.driver().history()).violation.unwrap();
    assert_eq!(v, expected, "the view shows the checker's verdict");
    let named = distlab::tui::ui::named_ops(&app);
    for op in v.stuck_ops() {
        assert_eq!(named.get(&op), Some(&"linearizability"), "stuck op {op} is marked");
    }
    let lines = distlab::tui::ui::history_lines(&app);
    assert!(lines[0].contains("is not linearizable"), "{}", lines[0]);
    let legal = v.prefix_ops().next().expect("a legal prefix");
    assert!(
        lines.iter().any(|l| l.contains(&format!("op {legal}:")) && l.ends_with("(in the legal order)")),
        "{lines:?}"
    );
}
