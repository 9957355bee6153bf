//! The model fingerprint (issue 12): the simulated system's state without
//! the engine's bookkeeping. Two runs that reach the same state by
//! different routes fingerprint equal, though their exact state hashes
//! differ; different states fingerprint differently.

mod common;

use common::*;
use distlab::nodes::NodeId;
use distlab::sim::{Driver, Fault, SimTime, TraceLevel};

const LESSON: &str = "primary-replica/async-crash.toml";

fn at(ms: u64) -> Box<dyn Driver> {
    let s = lesson(LESSON);
    let mut d = s.protocol.build(&s, options(TraceLevel::Digest, None));
    d.run_until(SimTime(ms * 1_000));
    d
}

/// A message duplicated by hand and the copy dropped by hand: the system
/// is where it was, but two steps were taken, a message id was used up and
/// the drop was counted. Later messages get other ids; the runs stay the
/// same model.
#[test]
fn a_detour_back_to_the_same_state_fingerprints_equal() {
    let mut a = at(100);
    let mut b = at(100);
    let msg = b.in_flight().first().expect("messages are in flight at 100ms").id;
    b.intervene(Fault::DuplicateMessage(msg)).unwrap();
    let copy = b.in_flight().iter().map(|m| m.id).max().unwrap();
    assert_ne!(copy, msg);
    b.intervene(Fault::DropMessage(copy)).unwrap();

    assert_ne!(a.state_hash(), b.state_hash(), "counters and ids differ");
    assert_eq!(a.fingerprint(), b.fingerprint(), "the model state is the same");

    // Ids stay shifted from here on; the model stays the same.
    a.run_until(SimTime(300_000));
    b.run_until(SimTime(300_000));
    assert_ne!(a.in_flight().first().map(|m| m.id), b.in_flight().first().map(|m| m.id));
    assert_ne!(a.state_hash(), b.state_hash());
    assert_eq!(a.fingerprint(), b.fingerprint());
}

/// A different state is a different fingerprint: a message delivered, a
/// message lost, a node crashed, a clock set.
#[test]
fn different_states_fingerprint_differently() {
    let base = at(100);
    let f = base.fingerprint();
    assert_eq!(at(100).fingerprint(), f, "the same run, the same fingerprint");

    let mut stepped = at(100);
    let before = stepped.in_flight().len();
    while stepped.in_flight().len() == before {
        stepped.step().expect("the run goes on");
    }
    assert_ne!(stepped.fingerprint(), f, "a message delivered (or sent)");

    let mut lost = at(100);
    let msg = lost.in_flight().first().unwrap().id;
    lost.intervene(Fault::DropMessage(msg)).unwrap();
    assert_ne!(lost.fingerprint(), f, "a message lost");

    let mut crashed = at(100);
    crashed.intervene(Fault::Crash(NodeId(2))).unwrap();
    assert_ne!(crashed.fingerprint(), f, "a node crashed");

    let mut skewed = at(100);
    skewed.intervene(Fault::Clock { node: NodeId(1), offset_us: 5_000, drift_ppm: 0 }).unwrap();
    assert_ne!(skewed.fingerprint(), f, "a clock set ahead");
}

/// Restoring a snapshot restores the fingerprint.
#[test]
fn a_snapshot_restores_the_fingerprint() {
    let mut d = at(100);
    let snap = d.snapshot();
    let f = d.fingerprint();
    d.run_until(SimTime(200_000));
    assert_ne!(d.fingerprint(), f);
    d.restore(&snap);
    assert_eq!(d.fingerprint(), f);
}
