//! Effects (issue 12): a handler's effects are one list, performed in the
//! order the handler recorded them; those recorded inside `once_durable`
//! wait for the disk, in order; a message to itself runs after the
//! handler. A toy protocol records them and the trace shows the order.

use distlab::check::{At, Checker, Report};
use distlab::nodes::{ClientRequest, Cluster, Context, KvOp, Message, NodeId, NodeView, Protocol};
use distlab::sim::{Budget, Sim, SimConfig, SimDuration, SimTime, TraceKind, TraceLevel};
use std::sync::Arc;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
struct Recorder;

#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
struct Hello;

impl Message for Hello {
    fn kind(&self) -> &'static str {
        "hello"
    }
}

impl Protocol for Recorder {
    const NAME: &'static str = "recorder";
    type Params = ();
    type State = ();
    type Durable = ();
    type DurableWrite = ();
    type Msg = Hello;
    type Timer = ();
    type Observation = u8;
    type Workload = distlab::nodes::KeyValue<()>;

    fn recover(ctx: &mut Context<'_, Self>, _: &()) {
        if ctx.me() != NodeId(0) {
            return;
        }
        ctx.observe(1);
        ctx.send(NodeId(1), Hello);
        ctx.note(|| "between".into());
        ctx.observe(2);
        ctx.write(());
        ctx.once_durable(|ctx| {
            ctx.observe(5);
            ctx.loopback(Hello);
        });
        ctx.loopback(Hello);
        ctx.observe(3);
    }
    fn on_message(_: &mut (), ctx: &mut Context<'_, Self>, from: NodeId, _: Hello) {
        if from == ctx.me() {
            // Handled after the handler that sent it (4 at once, 6 once
            // the write is on disk).
            ctx.observe(if ctx.local_time_us() == 0 { 4 } else { 6 });
        }
    }
    fn on_timer(_: &mut (), _: &mut Context<'_, Self>, _: ()) {}
    fn on_client_request(_: &mut (), _: &mut Context<'_, Self>, _: ClientRequest<KvOp>) {}
    fn apply_write(_: &mut (), _: &()) {}
    fn view(_: &(), _: &(), _: &Cluster) -> NodeView {
        NodeView::new("recorder", None)
    }
}

#[derive(Clone, Debug, Default)]
struct NoChecks;

impl Checker<Recorder> for NoChecks {
    const CHECKS: &'static [distlab::check::CheckInfo] = &[];
    const METRICS: &'static [distlab::check::MetricInfo] = &[];
    fn new(_: &(), _: &Cluster) -> Self {
        NoChecks
    }
    fn on_observation(&mut self, _: At, _: NodeId, _: &u8) {}
    fn report(&self, _: SimTime) -> Report {
        Report::default()
    }
}

#[test]
fn effects_are_performed_in_the_order_recorded() {
    let mut sim = two_nodes::<Recorder, NoChecks>(1, 2_000);
    sim.run_until(SimTime(10_000));
    let n1: Vec<String> = sim
        .trace()
        .events()
        .iter()
        .filter(|e| e.node == 0 && e.kind != TraceKind::Start)
        .map(|e| match e.kind {
            TraceKind::Send => "send".to_string(),
            TraceKind::Persisted => "persisted".to_string(),
            _ => e.text.clone(),
        })
        .collect();
    assert_eq!(n1, ["1", "send", "between", "2", "3", "4", "persisted", "5", "6"]);
}

// ----- every effect is moved out or dropped exactly once ---------------------

std::thread_local! {
    /// `Tracked` values alive on this thread (each test runs on its own).
    static LIVE: std::cell::Cell<i64> = const { std::cell::Cell::new(0) };
    /// The observation the checker panics on, if any.
    static PANIC_ON: std::cell::Cell<Option<u64>> = const { std::cell::Cell::new(None) };
}

/// A value on the heap that counts its copies: a message or observation
/// the host dropped twice would take the count below zero (or crash the
/// allocator), one it forgot would leave it above.
#[derive(Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
struct Tracked(Box<u64>);

impl Tracked {
    fn new(n: u64) -> Self {
        LIVE.with(|l| l.set(l.get() + 1));
        Tracked(Box::new(n))
    }
}
impl Clone for Tracked {
    fn clone(&self) -> Self {
        Tracked::new(*self.0)
    }
}
impl Drop for Tracked {
    fn drop(&mut self) {
        LIVE.with(|l| l.set(l.get() - 1));
    }
}
impl Message for Tracked {
    fn kind(&self) -> &'static str {
        "tracked"
    }
}

/// Node 0 sends, observes, writes and waits for the disk; node 1 answers
/// every message with two, up to a bound, and node 0 sends back what it
/// hears: sends, observations, a write, a note and a loopback, gated and
/// not, with heap values in the messages and observations. (Replies carry
/// the workload's answers, not counted here; timers carry `()`.)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
struct Counted;

impl Protocol for Counted {
    const NAME: &'static str = "counted";
    type Params = ();
    type State = ();
    type Durable = ();
    type DurableWrite = ();
    type Msg = Tracked;
    type Timer = ();
    type Observation = Tracked;
    type Workload = distlab::nodes::KeyValue<()>;

    fn recover(ctx: &mut Context<'_, Self>, _: &()) {
        if ctx.me() != NodeId(0) {
            return;
        }
        for n in 0..4 {
            ctx.send(NodeId(1), Tracked::new(n));
            ctx.observe(Tracked::new(100 + n));
        }
        ctx.write(());
        ctx.once_durable(|ctx| {
            ctx.observe(Tracked::new(200));
            ctx.send(NodeId(1), Tracked::new(1));
            ctx.loopback(Tracked::new(2));
        });
        ctx.note(|| "recovered".into());
    }
    fn on_message(_: &mut (), ctx: &mut Context<'_, Self>, from: NodeId, msg: Tracked) {
        // Each sends before it observes, so an observation that makes the
        // checker panic comes after a message already moved out.
        if ctx.me() == NodeId(1) && *msg.0 < 64 {
            ctx.send(from, Tracked::new(*msg.0 * 2 + 1));
            ctx.observe(msg.clone());
            ctx.send(from, Tracked::new(*msg.0 * 2 + 2));
        } else if ctx.me() == NodeId(0) && from == NodeId(1) {
            ctx.send(from, msg.clone());
            ctx.observe(msg);
        } else {
            ctx.observe(msg);
        }
    }
    fn on_timer(_: &mut (), _: &mut Context<'_, Self>, _: ()) {}
    fn on_client_request(_: &mut (), _: &mut Context<'_, Self>, _: ClientRequest<KvOp>) {}
    fn apply_write(_: &mut (), _: &()) {}
    fn view(_: &(), _: &(), _: &Cluster) -> NodeView {
        NodeView::new("counted", None)
    }
}

#[derive(Clone, Debug, Default)]
struct Watcher {
    seen: u64,
}

impl Checker<Counted> for Watcher {
    const CHECKS: &'static [distlab::check::CheckInfo] = &[];
    const METRICS: &'static [distlab::check::MetricInfo] = &[];
    fn new(_: &(), _: &Cluster) -> Self {
        Watcher::default()
    }
    fn on_observation(&mut self, _: At, _: NodeId, obs: &Tracked) {
        self.seen += 1;
        assert_ne!(PANIC_ON.with(|p| p.get()), Some(*obs.0), "the checker gives up");
    }
    fn report(&self, _: SimTime) -> Report {
        Report::default()
    }
}

/// Two nodes on the default network, traced in full, with checks on:
/// `seed` and the disk's latency in µs as given.
fn two_nodes<P: Protocol<Params = ()>, C: Checker<P>>(seed: u64, disk_latency: u64) -> Sim<P, C> {
    let s = distlab::scenario::load_str(
        &distlab::protocols::registry(),
        "two.toml",
        "[scenario]\nname = \"two\"\nprotocol = \"echo\"\nduration = \"1s\"\n[cluster]\nnodes = 2\n",
    )
    .expect("a valid scenario");
    Sim::new(SimConfig {
        seed,
        params: (),
        cluster: Arc::clone(&s.cluster),
        network: s.network.clone(),
        clients: Vec::new(),
        faults: Vec::new(),
        disk_latency: SimDuration(disk_latency),
        clocks: Vec::new(),
        trace: TraceLevel::Full,
        record_history: false,
        checks: true,
        budget: Budget::DEFAULT,
        capacity: None,
    })
}

fn counted_sim(disk_latency: u64) -> Sim<Counted, Watcher> {
    two_nodes(7, disk_latency)
}

/// The host performs a send, a reply and an observation in place, moving
/// only the message out of the outbox, and the rest whole: every value a
/// handler handed over is dropped exactly once, with a disk that answers
/// within the step and one that takes its time.
#[test]
fn every_effect_is_moved_out_or_dropped_once() {
    for latency in [0, 2_000] {
        // Stopped midway, with messages in flight and effects waiting for
        // the disk; and run to the end.
        for (until, delivered) in [(3_000, 4), (1_000_000, 250)] {
            let mut sim = counted_sim(latency);
            sim.run_until(SimTime(until));
            assert!(sim.stats().delivered >= delivered, "{until} µs: {:?}", sim.stats());
            drop(sim);
            assert_eq!(LIVE.with(|l| l.get()), 0, "disk latency {latency} µs, until {until} µs");
        }
    }
}

/// A checker that panics midway through a handler's effects: the host
/// leaks the effects not yet performed rather than dropping any twice.
#[test]
fn a_panic_midway_through_the_effects_drops_nothing_twice() {
    // Node 0 hears 5 first (node 1's answer to 2): it sends it back, then
    // observes it, and the checker panics with the send already performed.
    PANIC_ON.with(|p| p.set(Some(5)));
    let mut sim = counted_sim(0);
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sim.run_until(SimTime(1_000_000))));
    PANIC_ON.with(|p| p.set(None));
    assert!(run.is_err(), "the checker panicked");
    drop(sim);
    let live = LIVE.with(|l| l.get());
    assert!(live >= 0, "{live}: a value was dropped twice");
}
