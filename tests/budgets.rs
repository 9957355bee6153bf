//! Budgets on work and memory (issue 11): a run that would spin at one
//! instant, run on without end, or pile up events stops with a message
//! that names what went wrong (exit status 2 from the CLI) instead of
//! hanging or aborting out of memory; and a long traced run keeps no
//! events in memory.

mod common;
use common::distlab;

use common::*;
use distlab::check::{At, CheckInfo, Checker, MetricInfo, Report};
use distlab::nodes::{ClientRequest, Cluster, Context, KvOp, Message, NodeId, NodeView, Protocol};
use distlab::scenario::Scenario;
use distlab::sim::{Budget, Halt, Sim, SimConfig, SimDuration, SimTime, TraceLevel};
use std::path::Path;

fn regression_scenario(name: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/regressions").join(name);
    distlab::scenario::load(&distlab::protocols::registry(), &path).unwrap_or_else(|e| panic!("{e}"))
}

/// Regression: with `latency = "0"`, echo's ping and pong chase each other
/// at t=0 forever. `distlab run` used to spin until it ran out of memory;
/// it now stops after a million events at one instant, names the two
/// deliveries that spun, and exits with status 2 (bad input).
#[test]
fn zero_latency_livelock_exits_2_naming_what_spun() {
    let out = distlab(&["run", "tests/regressions/zero-latency-livelock.toml"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("livelock at t=0s: more than 1000000 events without simulated time advancing"),
        "{stderr}"
    );
    assert!(
        stderr.contains("the last 4096: 2048 × n1 receives pong from n2, 2048 × n2 receives ping from n1\n"),
        "{stderr}"
    );
    assert!(stderr.contains("--max-events-per-instant"), "the message names the flag: {stderr}");
    assert!(out.stdout.is_empty(), "no summary of a run that did not finish");
}

/// A halted run takes no more steps: `step` and `run_until` return at
/// once, the clock stays where the run stopped, `run_until_quiet` does not
/// loop; restoring a snapshot from before the halt clears it.
#[test]
fn a_halted_run_takes_no_more_steps() {
    let s = regression_scenario("zero-latency-livelock.toml");
    let mut d = s.protocol.build(&s, options(TraceLevel::Digest, None));
    d.set_budget(Budget { events_per_instant: 10_000, ..Budget::DEFAULT });
    let before = d.snapshot();
    d.run_until(s.duration);
    let halt = d.halted().expect("the run halts");
    assert!(matches!(halt, Halt::Livelock { limit: 10_000, time: SimTime::ZERO, .. }), "{halt}");
    assert_eq!(d.stats().events, 10_000, "exactly the budget of events ran");
    assert_eq!(d.now(), SimTime::ZERO, "the clock stays where the run stopped");
    assert!(d.step().is_none());
    assert!(!d.run_until_quiet(s.duration), "returns at once instead of spinning");
    assert_eq!(d.stats().events, 10_000);
    d.restore(&before);
    assert!(d.halted().is_none(), "restoring from before the halt clears it");
    assert!(d.step().is_some());
}

/// A protocol whose only timer re-arms itself with no delay: the shape of
/// the clock-drift hang (a 1µs local delay rounded to 0µs of real time).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
struct Spinner;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum SpinTimer {
    Recheck { round: u64 },
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
struct NoMsg;

impl Message for NoMsg {
    fn kind(&self) -> &'static str {
        "none"
    }
}

impl Protocol for Spinner {
    const NAME: &'static str = "spinner";
    type Params = ();
    type State = u64;
    type Durable = ();
    type DurableWrite = ();
    type Msg = NoMsg;
    type Timer = SpinTimer;
    type Observation = ();
    type Workload = distlab::nodes::KeyValue<()>;

    fn recover(ctx: &mut Context<'_, Self>, _: &()) -> u64 {
        if ctx.me() == NodeId(1) {
            ctx.set_timer(SpinTimer::Recheck { round: 0 }, SimDuration::from_millis(5));
        }
        0
    }
    fn on_message(_: &mut u64, _: &mut Context<'_, Self>, _: NodeId, _: NoMsg) {}
    fn on_timer(round: &mut u64, ctx: &mut Context<'_, Self>, _: SpinTimer) {
        *round += 1;
        ctx.set_timer(SpinTimer::Recheck { round: *round }, SimDuration::ZERO);
    }
    fn on_client_request(_: &mut u64, _: &mut Context<'_, Self>, _: ClientRequest<KvOp>) {}
    fn apply_write(_: &mut (), _: &()) {}
    fn view(_: &u64, _: &(), _: &Cluster) -> NodeView {
        NodeView::new("spinner", None)
    }
}

#[derive(Clone, Debug, Default)]
struct NoChecks;

impl Checker<Spinner> for NoChecks {
    const CHECKS: &'static [CheckInfo] = &[];
    const METRICS: &'static [MetricInfo] = &[];
    fn new(_: &(), _: &Cluster) -> Self {
        NoChecks
    }
    fn on_observation(&mut self, _: At, _: NodeId, _: &()) {}
    fn report(&self, _: SimTime) -> Report {
        Report::default()
    }
}

/// Issue 11 item 4, the engine's half: a timer that fires again at the
/// same instant for ever no longer hangs the run; the halt names the node
/// and the timer (without its fields, so every round counts as one).
#[test]
fn a_timer_re_armed_at_once_is_named() {
    let s = regression_scenario("zero-latency-livelock.toml");
    let mut sim = Sim::<Spinner, NoChecks>::new(SimConfig {
        seed: 1,
        params: (),
        cluster: s.cluster.clone(),
        network: s.network.clone(),
        clients: Vec::new(),
        faults: Vec::new(),
        disk_latency: SimDuration::ZERO,
        clocks: Vec::new(),
        trace: TraceLevel::Digest,
        record_history: false,
        checks: true,
        budget: Budget { events_per_instant: 50_000, ..Budget::DEFAULT },
        capacity: None,
    });
    sim.run_until(SimTime(1_000_000));
    let halt = sim.halted().expect("the timer spins").to_string();
    assert!(halt.starts_with("livelock at t=5ms: more than 50000 events"), "{halt}");
    assert!(halt.contains("the last 4096: 4096 × n2 timer Recheck\n"), "{halt}");
}

/// Regression (issue 11 item 4): n2's fast clock used to re-arm
/// `PrimarySilent` with 0µs of real time for ever, and `run` never
/// finished. Whatever the rounding of local to real time, the run now
/// ends: it finishes, or it stops naming the timer that spun.
#[test]
fn a_drifting_clock_never_hangs_the_run() {
    let s = regression_scenario("drift-timer-spin.toml");
    let d = run(&s, options(TraceLevel::Digest, None));
    match d.halted() {
        None => assert_eq!(d.now(), s.duration, "the run reached its end"),
        Some(halt) => {
            let text = halt.to_string();
            assert!(text.contains("n2 timer PrimarySilent"), "{text}");
        }
    }
}

/// Regression: echo's pinger sent a new ping for every pong, duplicates
/// included, so duplication without loss grew the pings in flight
/// exponentially until the run aborted out of memory. Now at most
/// `window` pings per server are in flight, so the messages in flight stay
/// below a small bound all run long, and no budget is needed.
#[test]
fn echo_duplication_without_loss_stays_bounded() {
    let s = regression_scenario("echo-duplication-without-loss.toml");
    let mut d = s.protocol.build(&s, options(TraceLevel::Off, None));
    // 2 servers × window 4 pings, each possibly duplicated, and its pongs.
    let bound = 2.0 * 4.0 * 4.0;
    let mut most = 0.0f64;
    for i in 1..=100 {
        d.run_until(SimTime(s.duration.0 * i / 100));
        let in_flight = d.gauges()[0];
        assert_eq!(in_flight.0, "messages_in_flight");
        most = most.max(in_flight.1);
        assert!(in_flight.1 <= bound, "{} messages in flight at {}", in_flight.1, d.now());
    }
    assert!(d.halted().is_none());
    let r = d.report();
    assert!(r.metrics["duplicate_pongs"] > 100.0, "the network did duplicate");
    assert_eq!(r.metrics["outstanding"], 8.0, "the window stays 4 per server");
    assert!(most >= 8.0);
}

/// `run --trace` streams its events: after a long traced run the trace
/// holds no event in memory, and every event recorded is in the file.
/// (The trace used to keep every event until the run ended: a day-long
/// basics lesson aborted at 4 GB.)
#[test]
fn a_traced_run_keeps_no_events_in_memory() {
    let mut s = lesson("basics/latency.toml");
    s.duration = SimTime(30_000_000);
    let out = std::env::temp_dir().join(format!("distlab-budgets-{}.jsonl", std::process::id()));
    let d = distlab::check::run::trace_to_file(&s, options(TraceLevel::Full, None), Budget::DEFAULT, &out)
        .expect("the trace is written");
    let lines =
        std::fs::read_to_string(&out).unwrap().lines().filter(|l| !l.contains(r#""kind":"sample""#)).count();
    std::fs::remove_file(&out).ok();
    assert!(d.stats().events > 15_000, "a long run: {} events", d.stats().events);
    assert_eq!(d.trace().held(), 0, "no event is held in memory");
    assert!(d.trace().events().is_empty());
    assert!(lines as u64 >= d.trace().count(), "{lines} lines for {} events", d.trace().count());
}

/// The event budget (`--max-events`) stops a run after that many events
/// with status 2 and says so; `check`, `sweep` and `run` share it.
#[test]
fn the_event_budget_stops_a_run_with_exit_2() {
    let out = distlab(&["run", "basics/latency", "--max-events", "100"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("event budget spent at t="), "{stderr}");
    assert!(stderr.contains("the run processed 100 events"), "{stderr}");
    let s = lesson("basics/latency.toml");
    let mut d = s.protocol.build(&s, options(TraceLevel::Digest, None));
    d.set_budget(Budget { events: 100, ..Budget::DEFAULT });
    d.run_until(s.duration);
    assert!(matches!(d.halted(), Some(Halt::Events { limit: 100, .. })));
    assert_eq!(d.stats().events, 100);
    assert!(d.now() < s.duration);
    assert_eq!(
        distlab(&["run", "basics/latency", "--max-events", "0"]).status.code(),
        Some(2),
        "0 is refused"
    );
}

/// Too many events waiting at once (`--max-pending`) stop a run with
/// status 2, naming what piled up.
#[test]
fn too_many_pending_events_stop_a_run() {
    let out = distlab(&["run", "basics/latency", "--max-pending", "5"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("more than 5 events pending at t=0s"), "{stderr}");
    assert!(
        stderr.contains("most are: 4 × n2 receives ping from n1, 4 × n3 receives ping from n1\n"),
        "{stderr}"
    );
}

/// Void events do not count against `--max-pending`: they are swept out
/// before the run would halt. In `capacity/knee` each overloaded client
/// leaves a timeout behind for every operation answered in time, and 600
/// pending events stopped the run, "most are: 117 × users.0 times out"
/// — timeouts that would have done nothing. Now it runs to its end, the
/// same run as without the budget.
#[test]
fn void_events_do_not_count_against_the_pending_budget() {
    let digest = |args: &[&str]| {
        let out = distlab(args);
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(out.status.code(), Some(0), "{}{stdout}", String::from_utf8_lossy(&out.stderr));
        stdout.lines().find(|l| l.starts_with("trace-digest:")).expect("a digest").to_string()
    };
    assert_eq!(
        digest(&["run", "capacity/knee", "--max-pending", "600"]),
        digest(&["run", "capacity/knee"]),
        "the same run"
    );
}

/// `sweep` leaves a run stopped by its budget out of the figures, still
/// writes its files, names the run and exits with status 2.
#[test]
fn sweep_reports_runs_stopped_by_their_budget() {
    let dir = std::env::temp_dir().join(format!("distlab-budgets-sweep-{}", std::process::id()));
    let out = distlab(&[
        "sweep",
        "tests/regressions/zero-latency-livelock.toml",
        "--vary",
        "network.latency=0ms,1ms",
        "--seeds",
        "0..1",
        "--samples",
        "2",
        "--no-png",
        "--max-events-per-instant",
        "1000",
        "--out",
        dir.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let wrote = dir.join("runs.csv").exists();
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("1 runs were stopped by their budget"), "{stderr}");
    assert!(stderr.contains("latency=0ms seed 0: livelock at t=0s"), "{stderr}");
    assert!(wrote, "the files are written");
}

/// The defaults sit far above every bundled lesson: none comes within a
/// thousandth of the event budget, and none halts.
#[test]
fn lessons_run_far_below_the_default_budget() {
    for path in all_lessons() {
        let s = distlab::scenario::load(&distlab::protocols::registry(), &path).unwrap();
        let d = run(&s, options(TraceLevel::Off, None));
        assert!(d.halted().is_none(), "{}: {}", path.display(), d.halted().unwrap());
        assert!(d.stats().events < Budget::DEFAULT.events / 1000, "{}", path.display());
    }
}
