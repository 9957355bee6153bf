//! Keyed timers (issue 12): a protocol names a timer by its key; setting a
//! key again replaces the pending timer, cancelling takes the key, and a
//! replaced or cancelled timer that is still queued is void when its time
//! comes. These run a toy protocol whose node records every timer that
//! fires, with the local time.

use distlab::check::{At, Checker, Report};
use distlab::nodes::{ClientRequest, Cluster, Context, KvOp, Message, NodeId, NodeView, Protocol};
use distlab::sim::{Budget, Sim, SimConfig, SimDuration, SimTime, TraceKind, TraceLevel};
use std::sync::Arc;

/// Timers keyed by what they are for; `Item(n)` carries an identity.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Tick {
    Replaced,
    Cancelled,
    Item(u32),
    SetThenCancelled,
    CancelledThenSet,
    HeldThenCancelled,
    Held,
    Rearmed,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
struct Ticker;

#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
struct NoMsg;

impl Message for NoMsg {
    fn kind(&self) -> &'static str {
        "none"
    }
}

/// Every timer that fired, with the local time in ms.
type Fired = Vec<(Tick, i64)>;

const MS: u64 = 1_000;

impl Protocol for Ticker {
    const NAME: &'static str = "ticker";
    type Params = ();
    type State = Fired;
    type Durable = ();
    type DurableWrite = ();
    type Msg = NoMsg;
    type Timer = Tick;
    type Observation = ();
    type Workload = distlab::nodes::KeyValue<()>;

    fn recover(ctx: &mut Context<'_, Self>, _: &()) -> Fired {
        if ctx.me() != NodeId(0) {
            return Vec::new();
        }
        // Set twice: only the second counts.
        ctx.set_timer(Tick::Replaced, SimDuration(10 * MS));
        ctx.set_timer(Tick::Replaced, SimDuration(30 * MS));
        ctx.set_timer(Tick::Cancelled, SimDuration(20 * MS));
        ctx.cancel_timer(&Tick::Cancelled);
        // Distinct keys are distinct timers.
        ctx.set_timer(Tick::Item(1), SimDuration(5 * MS));
        ctx.set_timer(Tick::Item(2), SimDuration(5 * MS));
        // In one handler, the order counts.
        ctx.set_timer(Tick::SetThenCancelled, SimDuration(7 * MS));
        ctx.cancel_timer(&Tick::SetThenCancelled);
        ctx.cancel_timer(&Tick::CancelledThenSet);
        ctx.set_timer(Tick::CancelledThenSet, SimDuration(8 * MS));
        // Timers that wait for the disk (a 2ms write).
        ctx.write(());
        ctx.once_durable(|ctx| {
            ctx.set_timer(Tick::HeldThenCancelled, SimDuration(MS));
            ctx.set_timer(Tick::Held, SimDuration(MS));
        });
        ctx.cancel_timer(&Tick::HeldThenCancelled);
        ctx.set_timer(Tick::Rearmed, SimDuration(40 * MS));
        Vec::new()
    }
    fn on_message(_: &mut Fired, _: &mut Context<'_, Self>, _: NodeId, _: NoMsg) {}
    fn on_timer(fired: &mut Fired, ctx: &mut Context<'_, Self>, tick: Tick) {
        fired.push((tick.clone(), ctx.local_time_us() / MS as i64));
        if tick == Tick::Rearmed && fired.iter().filter(|(t, _)| *t == Tick::Rearmed).count() == 1 {
            // Re-armed from its own handler: fires again.
            ctx.set_timer(Tick::Rearmed, SimDuration(5 * MS));
        }
    }
    fn on_client_request(_: &mut Fired, _: &mut Context<'_, Self>, _: ClientRequest<KvOp>) {}
    fn apply_write(_: &mut (), _: &()) {}
    fn view(_: &Fired, _: &(), _: &Cluster) -> NodeView {
        NodeView::new("ticker", None)
    }
}

#[derive(Clone, Debug, Default)]
struct NoChecks;

impl Checker<Ticker> for NoChecks {
    const CHECKS: &'static [distlab::check::CheckInfo] = &[];
    const METRICS: &'static [distlab::check::MetricInfo] = &[];
    fn new(_: &(), _: &Cluster) -> Self {
        NoChecks
    }
    fn on_observation(&mut self, _: At, _: NodeId, _: &()) {}
    fn report(&self, _: SimTime) -> Report {
        Report::default()
    }
}

fn ticker() -> Sim<Ticker, NoChecks> {
    let s = distlab::scenario::load_str(
        &distlab::protocols::registry(),
        "ticker.toml",
        "[scenario]\nname = \"t\"\nprotocol = \"echo\"\nduration = \"1s\"\n[cluster]\nnodes = 2\n",
    )
    .expect("a valid scenario");
    Sim::new(SimConfig {
        seed: 1,
        params: (),
        cluster: Arc::clone(&s.cluster),
        network: s.network.clone(),
        clients: Vec::new(),
        faults: Vec::new(),
        disk_latency: SimDuration(2 * MS),
        clocks: Vec::new(),
        trace: TraceLevel::Full,
        record_history: false,
        checks: false,
        budget: Budget::DEFAULT,
        capacity: None,
    })
}

#[test]
fn a_timer_is_named_by_its_key() {
    let mut sim = ticker();
    sim.run_until(SimTime(100 * MS));
    let fired = sim.node_state(NodeId(0)).expect("n1 is up").clone();
    assert_eq!(
        fired,
        vec![
            (Tick::Held, 3), // armed once the write is on disk at 2ms
            (Tick::Item(1), 5),
            (Tick::Item(2), 5),
            (Tick::CancelledThenSet, 8),
            (Tick::Replaced, 30),
            (Tick::Rearmed, 40),
            (Tick::Rearmed, 45),
        ]
    );
    // The replaced `Replaced` (10ms) and the cancelled ones were queued and
    // are void: no step, no trace event.
    let timer_steps = sim.trace().events().iter().filter(|e| e.kind == TraceKind::Timer).count();
    assert_eq!(timer_steps, fired.len());
}

/// A crash forgets every pending timer; after the restart, the node's
/// timers are those its recovery sets.
#[test]
fn a_crash_forgets_pending_timers() {
    let mut sim = ticker();
    sim.run_until(SimTime(6 * MS));
    sim.intervene(distlab::sim::Fault::Crash(NodeId(0))).unwrap();
    sim.run_until(SimTime(12 * MS));
    sim.intervene(distlab::sim::Fault::Restart(NodeId(0))).unwrap();
    sim.run_until(SimTime(100 * MS));
    let fired = sim.node_state(NodeId(0)).expect("n1 is up again").clone();
    // Recovery at 12ms set them all again, from then.
    assert_eq!(
        fired,
        vec![
            (Tick::Held, 15),
            (Tick::Item(1), 17),
            (Tick::Item(2), 17),
            (Tick::CancelledThenSet, 20),
            (Tick::Replaced, 42),
            (Tick::Rearmed, 52),
            (Tick::Rearmed, 57),
        ],
        "the first life's timers (`Replaced` at 30ms, `Rearmed` at 40ms) never fire"
    );
}

/// The contract is runtime-neutral (issue 12): a runtime outside the
/// simulator builds a `Context` for a handler, runs it, and reads the
/// effects it recorded, in order — what a live runtime or an explorer
/// does with the same protocol code.
#[test]
fn a_runtime_outside_the_simulator_runs_a_handler() {
    use distlab::nodes::{Clock, Effect, NodeIo, Outbox, WriteId};
    use distlab::rng::{RngStream, StreamKind};
    let cluster =
        Arc::new(Cluster { names: vec!["n1".into()], region_of: vec![0], regions: vec!["here".into()] });
    let mut io = NodeIo {
        clock: Clock::new(SimTime(0), 0, 0),
        rng: RngStream::new(1, StreamKind::Node, 0, 0),
        next_timer: 0,
        next_write: 0,
        on_disk: 0,
    };
    let mut out = Outbox::<Ticker>::default();
    let mut ctx = Context::new(NodeId(0), SimTime(0), &(), &cluster, &mut io, false, &mut out);
    let fired = Ticker::recover(&mut ctx, &());
    assert!(fired.is_empty());
    let first: Vec<String> = out
        .effects
        .iter()
        .take(4)
        .map(|(gate, e)| match e {
            Effect::SetTimer { timer, after, .. } => format!("{gate:?} set {timer:?} {after}"),
            Effect::CancelTimer(timer) => format!("{gate:?} cancel {timer:?}"),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        first,
        [
            "None set Replaced 10ms",
            "None set Replaced 30ms",
            "None set Cancelled 20ms",
            "None cancel Cancelled"
        ]
    );
    // The timers armed inside once_durable wait for the write before them.
    let held: Vec<&Tick> = out
        .effects
        .iter()
        .filter_map(|(gate, e)| match e {
            Effect::SetTimer { timer, .. } if *gate == Some(WriteId(1)) => Some(timer),
            _ => None,
        })
        .collect();
    assert_eq!(held, [&Tick::HeldThenCancelled, &Tick::Held]);
}

/// Two-phase commit kept busy for 3 s: clients wait a second for
/// transactions that take milliseconds, so nearly every client timeout,
/// and every prepare and decision timeout cancelled by a decision, is void
/// long before it comes up. `timeline` adds faults.
fn busy_two_phase_commit(timeline: &str) -> distlab::scenario::Scenario {
    let text = format!(
        "[scenario]\nname = \"sweep\"\nprotocol = \"two-phase-commit\"\nduration = \"3s\"\n\
         [cluster]\nnodes = 5\n[network]\nlatency = \"1ms\"\n\
         [[clients]]\nprocesses = 16\nops = 100000\ninterval = \"0\"\nkeys = 64\ntimeout = \"1s\"\n{timeline}"
    );
    distlab::scenario::load_str(&distlab::protocols::registry(), "sweep.toml", &text)
        .expect("a valid scenario")
}

fn digest_only() -> distlab::scenario::RunOptions {
    distlab::scenario::RunOptions { trace: TraceLevel::Digest, ..Default::default() }
}

/// Void events are swept out of the queue. Kept, they pile up by the
/// thousand; swept, what waits stays near what is live — and the run is
/// the same event for event (trace digest) and verdict for verdict.
#[test]
fn void_events_are_swept_without_changing_the_run() {
    let s = busy_two_phase_commit("");
    let run = |sweep: bool| {
        let mut d = s.protocol.build(&s, digest_only());
        if !sweep {
            d.keep_void_events();
        }
        let mut most = 0;
        for ms in (10..=3_000).step_by(10) {
            d.run_until(SimTime(ms * MS));
            most = most.max(d.events_waiting());
        }
        (d.digest(), d.report(), d.stats().events, most)
    };
    let (kept, swept) = (run(false), run(true));
    assert!(kept.2 > 100_000, "a busy run: {} events", kept.2);
    assert!(kept.3 > 4_000, "kept, void events pile up: at most {} waiting", kept.3);
    assert!(swept.3 < 600, "swept, few wait: at most {}", swept.3);
    assert!(kept.0.is_some());
    assert_eq!(kept.0, swept.0, "the same run, event for event");
    assert_eq!(kept.1, swept.1, "the same verdicts and metrics");
}

/// A run restored from a snapshot sweeps where the run did: with a crash,
/// a pause and interventions that leave stale queue entries (a message
/// delivered next, one dropped), every replay from each of six snapshots,
/// restored plainly or as the TUI's tape restores them, ends in the
/// state (exact state hash) and trace of the run straight through — which
/// is also the run that keeps its void events.
#[test]
fn sweeps_replay_from_snapshots() {
    use distlab::sim::{Driver, Fault, Snapshot};
    const END: u64 = 60_000;
    const SNAPSHOTS: [u64; 6] = [300, 1_234, 5_000, 9_999, 20_001, 33_333];
    /// Steps to event `to`, intervening at fixed step numbers, and takes a
    /// snapshot once the run passes each step `take` names.
    fn drive(d: &mut dyn Driver, to: u64, snapshots: &mut Vec<(u64, Snapshot)>, take: &[u64]) {
        while d.stats().events < to {
            let next = d.stats().events + 1;
            let ids = d.in_flight_ids();
            if (next.is_multiple_of(2_500) || next.is_multiple_of(3_700)) && !ids.is_empty() {
                let fault = if next.is_multiple_of(2_500) {
                    Fault::DeliverNext(*ids.iter().max().expect("not empty"))
                } else {
                    Fault::DropMessage(*ids.iter().min().expect("not empty"))
                };
                d.intervene(fault).expect("the message is in flight");
            } else if d.step().is_none() {
                break;
            }
            let step = d.stats().events;
            if take.get(snapshots.len()).is_some_and(|&t| step >= t) {
                snapshots.push((step, d.snapshot()));
            }
        }
    }
    let s = busy_two_phase_commit(
        "[[timeline]]\nat = \"200ms\"\ncrash = \"n1\"\n[[timeline]]\nat = \"260ms\"\nrestart = \"n1\"\n\
         [[timeline]]\nat = \"300ms\"\npause = \"n2\"\n[[timeline]]\nat = \"420ms\"\nresume = \"n2\"\n",
    );
    let mut d = s.protocol.build(&s, digest_only());
    let mut snapshots = Vec::new();
    drive(d.as_mut(), END, &mut snapshots, &SNAPSHOTS);
    assert_eq!(snapshots.len(), SNAPSHOTS.len());
    assert_eq!(d.stats().events, END, "a run long enough to sweep many times");
    let (hash, digest, report) = (d.state_hash(), d.digest(), d.report());
    let mut kept = s.protocol.build(&s, digest_only());
    kept.keep_void_events();
    drive(kept.as_mut(), END, &mut Vec::new(), &[]);
    assert_eq!(kept.digest(), digest, "keeping void events changes nothing");
    assert_eq!(kept.report(), report);
    for (step, snapshot) in &snapshots {
        d.restore(snapshot);
        assert_eq!(d.stats().events, *step);
        drive(d.as_mut(), END, &mut Vec::new(), &[]);
        assert_eq!(d.digest(), digest, "replayed from step {step}");
        assert_eq!(d.state_hash(), hash, "replayed from step {step}");
    }
    for (step, snapshot) in snapshots.iter().rev() {
        d.restore_keeping(snapshot);
        drive(d.as_mut(), END, &mut Vec::new(), &[]);
        assert_eq!(d.state_hash(), hash, "replayed from step {step}, as the tape restores");
    }
}
