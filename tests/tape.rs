//! The tape's jumps over known steps: a jump forward restores the last
//! snapshot on the way instead of replaying from where the tape stands,
//! and lands on exactly the run that stepping there gives (state, digest,
//! trace text, history, applied faults); an intervention after a rewind
//! forgets the known future, so the new line runs afresh.

use distlab::nodes::NodeId;
use distlab::sim::{Driver, Fault, SimTime, TraceLevel};
use distlab::tui::Tape;
use distlab::tui::tape::{SNAPSHOT_EVERY, SPARSE_EVERY};
use std::path::Path;

/// A long primary–replica run with a crash and a restart, at full trace.
fn tape() -> Tape {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/primary-replica/async-crash.toml");
    let mut s = distlab::scenario::load(&distlab::protocols::registry(), &path).unwrap();
    s.duration = SimTime(60_000_000);
    for c in &mut s.clients {
        c.ops = 1_000_000;
    }
    let options = distlab::protocols::RunOptions { trace: TraceLevel::Full, ..Default::default() };
    Tape::new(s.protocol.build(&s, options), s.duration)
}

/// Everything a view or a saved run reads of where the run stands.
#[derive(Debug, PartialEq)]
struct Seen {
    step: u64,
    state: distlab::sim::Digest,
    digest: Option<distlab::sim::Digest>,
    trace: Vec<(u64, u64, String, String)>,
    history: usize,
    last_history: Option<(u64, u64, String)>,
    faults: Vec<String>,
    report: String,
}

fn seen(d: &dyn Driver) -> Seen {
    let h = &d.history().events;
    Seen {
        step: d.stats().events,
        state: d.state_hash(),
        digest: d.digest(),
        trace: d.trace().events().iter().map(|e| (e.step, e.msg, e.text.clone(), e.label.clone())).collect(),
        history: h.len(),
        last_history: h.last().map(|e| (e.step, e.op_id, e.value.clone())),
        faults: d.applied_faults().iter().map(|f| format!("{f:?}")).collect(),
        report: format!("{:?}", d.report()),
    }
}

/// A jump forward over known steps lands on the run stepping gives, and
/// costs at most a sparse gap of replay, not the whole way from where the
/// tape stood.
#[test]
fn a_jump_forward_over_known_steps_restores_a_later_snapshot() {
    let far = 4 * SPARSE_EVERY + 300;
    let mut fresh = tape();
    let mut marks = Vec::new();
    for to in [SNAPSHOT_EVERY - 1, 2 * SPARSE_EVERY + 17, 3 * SPARSE_EVERY, far - 1] {
        fresh.seek(to);
        marks.push((to, seen(fresh.driver())));
    }

    let mut t = tape();
    t.seek(far);
    t.seek(3);
    for (to, expected) in &marks {
        let before = t.steps_run();
        t.seek(*to);
        let replayed = t.steps_run() - before;
        assert!(replayed <= SPARSE_EVERY, "a jump from step 3 to step {to} replayed {replayed} steps");
        assert_eq!(&seen(t.driver()), expected, "jumping forward to step {to}");
    }
    // And back and forth once more, past the end of what is known.
    t.seek(2 * SPARSE_EVERY + 17);
    assert_eq!(seen(t.driver()), marks[1].1);
    t.seek(far + 500);
    fresh.seek(far + 500);
    assert_eq!(seen(t.driver()), seen(fresh.driver()));
}

/// `skip` takes the steps `forward_while` takes, jumping where it can.
#[test]
fn skip_lands_where_stepping_does() {
    let mut stepped = tape();
    stepped.forward_while(3 * SPARSE_EVERY + 5, |_, _| false);
    let mut t = tape();
    t.seek(4 * SPARSE_EVERY);
    t.seek(10);
    let before = t.steps_run();
    assert_eq!(t.skip(3 * SPARSE_EVERY + 5 - 10), 3 * SPARSE_EVERY + 5 - 10);
    assert!(t.steps_run() - before <= SPARSE_EVERY);
    assert_eq!(seen(t.driver()), seen(stepped.driver()));
}

/// An intervention after a rewind makes the run go another way: the old
/// future's trace, history and faults are not taken back, and a jump
/// forward runs the new line.
#[test]
fn an_intervention_after_a_rewind_forgets_the_known_future() {
    let at = 2 * SPARSE_EVERY + 40;
    let mut t = tape();
    t.seek(4 * SPARSE_EVERY);
    t.seek(at);
    t.intervene(Fault::Crash(NodeId(0))).unwrap();
    assert!(t.forked());
    t.seek(3 * SPARSE_EVERY + 9);

    let mut fresh = tape();
    fresh.seek(at);
    fresh.intervene(Fault::Crash(NodeId(0))).unwrap();
    fresh.seek(3 * SPARSE_EVERY + 9);
    assert_eq!(seen(t.driver()), seen(fresh.driver()));
}
