//! The linearizability checker against generated histories with known
//! answers, and against real runs.
//!
//! Generated histories come from a sequential register: each operation gets
//! an interval and a linearization point inside it, and reads return what
//! the register holds at their point — so the history is linearizable by
//! construction. Injecting a read of a value overwritten (in real time)
//! before the read began makes it non-linearizable by construction.

mod common;

use common::*;
use distlab::check::linearizability::{
    RegisterKind, RegisterOp, STATE_BUDGET, check_history, check_history_within, check_register,
};
use distlab::sim::{SimTime, TraceLevel};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

/// One generated operation: which process, read or write, how long it
/// takes, where inside its interval it takes effect (0..=100 %), and
/// whether its outcome is unknown to the client.
type Spec = (u8, bool, u64, u64, bool);

/// Builds a history from sequential processes; see the module docs.
fn generate(specs: &[Spec], processes: u8) -> Vec<RegisterOp> {
    let mut clock = vec![0u64; processes as usize];
    // (point, index) of every operation that takes effect.
    let mut ops: Vec<RegisterOp> = Vec::new();
    let mut points: Vec<(u64, usize)> = Vec::new();
    for (i, &(p, read, dur, frac, unknown)) in specs.iter().enumerate() {
        let p = (p % processes) as usize;
        // Unique instants: time × processes + process.
        let call = clock[p] * processes as u64 + p as u64;
        let end = clock[p] + dur;
        let ret = end * processes as u64 + p as u64;
        clock[p] = end + 1;
        let point = call * 100 + (ret - call) * frac;
        let id = i as u64 + 1;
        let unknown = unknown && !read; // an unknown read constrains nothing: skip the case
        let kind = if read { RegisterKind::Read(None) } else { RegisterKind::Write(id) };
        ops.push(RegisterOp {
            op_id: id,
            kind,
            call,
            ret: if unknown { None } else { Some(ret) },
            invoked: SimTime(call),
            completed: if unknown { None } else { Some(SimTime(ret)) },
        });
        // An unknown write takes effect half of the time.
        if !(unknown && frac % 2 == 0) {
            points.push((point, i));
        }
    }
    points.sort();
    let mut register = None;
    for (_, i) in points {
        match ops[i].kind {
            RegisterKind::Write(v) => register = Some(v),
            RegisterKind::Read(_) => ops[i].kind = RegisterKind::Read(register),
        }
    }
    ops
}

fn specs() -> impl Strategy<Value = (Vec<Spec>, u8)> {
    (1u8..6).prop_flat_map(|processes| {
        (
            prop::collection::vec(
                (0u8..6, any::<bool>(), 1u64..30, 0u64..=100, prop::bool::weighted(0.1)),
                1..60,
            ),
            Just(processes),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 300,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct("tests/linearizability.proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    /// Histories of a sequential register are linearizable, whatever the
    /// concurrency and unknown outcomes.
    #[test]
    fn register_histories_are_linearizable((specs, processes) in specs()) {
        let ops = generate(&specs, processes);
        let verdict = check_register(0, &ops, STATE_BUDGET);
        prop_assert!(verdict.is_linearizable(), "{:?}", verdict);
    }

    /// A read that returns a value overwritten, in real time, before it
    /// began is never linearizable.
    #[test]
    fn an_injected_stale_read_is_caught((specs, processes) in specs(), pick in any::<prop::sample::Index>()) {
        let mut ops = generate(&specs, processes);
        // Triples w1 -> w2 -> r, each completing before the next begins.
        let done = |o: &RegisterOp| o.ret.is_some();
        let mut triples = Vec::new();
        for (a, w1) in ops.iter().enumerate() {
            let RegisterKind::Write(v1) = w1.kind else { continue };
            for w2 in ops.iter().filter(|o| matches!(o.kind, RegisterKind::Write(_)) && done(o)) {
                if !(done(w1) && w1.ret < Some(w2.call)) {
                    continue;
                }
                for (c, r) in ops.iter().enumerate() {
                    if matches!(r.kind, RegisterKind::Read(_)) && w2.ret < Some(r.call) {
                        triples.push((a, c, v1));
                    }
                }
            }
        }
        prop_assume!(!triples.is_empty());
        let (_, r, v1) = triples[pick.index(triples.len())];
        ops[r].kind = RegisterKind::Read(Some(v1));
        prop_assert!(check_register(0, &ops, STATE_BUDGET).violation().is_some());
    }
}

/// On a real run: a strict quorum with ABD write-back is linearizable.
#[test]
fn strict_quorum_with_write_back_is_linearizable() {
    let text = std::fs::read_to_string("scenarios/quorum/strict-quorum.toml").unwrap();
    let s = with_protocol_line(&text, "write_back = true");
    let sim = run(&s, options(TraceLevel::Off, None));
    let result = check_history(sim.history());
    assert!(result.operations > 100, "{} operations", result.operations);
    assert!(result.violation.is_none(), "{}", result.violation.unwrap());
    assert!(result.unknown.is_none(), "a real history fits the budget: {:?}", result.unknown);
    assert!(
        result.states < 20 * result.operations as u64,
        "{} states for {} operations",
        result.states,
        result.operations
    );
}

/// On a real run: r + w ≤ n gives stale reads, which are not linearizable;
/// the explanation names the read.
#[test]
fn weak_quorum_is_not_linearizable() {
    let s = lesson("quorum/weak-quorum.toml");
    let sim = run(&s, options(TraceLevel::Off, None));
    let v = check_history(sim.history()).violation.expect("weak quorum must not be linearizable");
    assert!(!v.stuck.is_empty());
    assert!(v.to_string().contains("read"), "{v}");
}

/// The lesson's text with `line` added to its `[protocol]` table.
fn with_protocol_line(text: &str, line: &str) -> distlab::scenario::Scenario {
    let text = text.replacen("[protocol]\n", &format!("[protocol]\n{line}\n"), 1);
    distlab::scenario::load_str(&distlab::protocols::registry(), "with-line.toml", &text)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A real history whose every write wrote its own value is decided by the
/// zones, without a search: a budget of 5 states does not matter. One the
/// zones find not linearizable is searched for its explanation, within the
/// budget: cut short, the verdict is "unknown", never "linearizable".
#[test]
fn zones_decide_without_the_budget_and_a_short_search_says_unknown() {
    let text = std::fs::read_to_string("scenarios/quorum/strict-quorum.toml").unwrap();
    let s = with_protocol_line(&text, "write_back = true");
    let sim = run(&s, options(TraceLevel::Off, None));
    let result = check_history_within(sim.history(), 5);
    assert!(result.is_linearizable(), "{result:?}");
    assert_eq!(result.states, 0, "no key needed the search");

    let sim = run(&lesson("quorum/weak-quorum.toml"), options(TraceLevel::Off, None));
    let short = check_history_within(sim.history(), 5);
    assert!(!short.is_linearizable());
    let unknown = short.unknown.expect("5 states do not explain the stale reads");
    assert_eq!(unknown.states, 5);
    assert!(check_history(sim.history()).violation.is_some(), "the full search explains it");
}

/// A violation's evidence (issue 13): the operation that ends the longest
/// legal order and each stuck operation's invocation and return, each at
/// the step where the history records that event.
#[test]
fn a_violation_names_its_operations_at_their_history_steps() {
    let s = lesson("quorum/weak-quorum.toml");
    let sim = run(&s, options(TraceLevel::Off, None));
    let v = check_history(sim.history()).violation.expect("weak quorum must not be linearizable");
    let causes = v.causes();
    let stuck: Vec<u64> = v.stuck_ops().collect();
    assert!(causes.iter().filter(|c| c.what.ends_with("(stuck)")).count() == stuck.len(), "{causes:?}");
    let last = v.prefix_ops().last();
    assert!(causes.iter().any(|c| c.op == last && c.what.contains("in a legal order")), "{causes:?}");
    for c in &causes {
        let op = c.op.expect("each cause is an operation's event");
        assert!(stuck.contains(&op) || v.prefix_ops().any(|p| p == op), "{c:?}");
        assert!(
            sim.history().events.iter().any(|e| e.op_id == op && e.step == c.step && e.time == c.time),
            "{c:?}: the history has op {op} at step {}",
            c.step
        );
    }
    assert!(causes.windows(2).all(|w| w[0].step <= w[1].step));
}
