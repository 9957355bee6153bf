//! The capacity model (`[capacity]`) and open-loop clients (`rate`): a
//! node serves one message at a time, a full queue refuses, an open-loop
//! client sheds what its processes cannot carry, hostile values are
//! refused with `file:line:column`, and a `[capacity]` table that costs
//! nothing changes nothing.

mod common;

use common::*;
use distlab::check::report::full_report;
use distlab::scenario::{Scenario, load_str};
use distlab::sim::TraceLevel;

fn scenario(body: &str) -> Scenario {
    load_str(&distlab::protocols::registry(), "cap.toml", body).unwrap_or_else(|e| panic!("{e}"))
}

/// One primary-replica node (so every request goes to it), with `extra`
/// tables appended.
fn one_node(extra: &str) -> String {
    format!(
        r#"
[scenario]
name = "cap"
protocol = "primary-replica"
duration = "2s"

[cluster]
nodes = 1

[network]
latency = "1ms"
{extra}
"#
    )
}

fn metric(s: &Scenario, name: &str) -> f64 {
    let d = run(s, options(TraceLevel::Digest, None));
    let r = full_report(&*d);
    *r.metrics.get(name).unwrap_or_else(|| panic!("no metric {name}: {:?}", r.metrics))
}

const CLOSED_10: &str = r#"
[[clients]]
processes = 10
ops = 100000
interval = "0"
read_fraction = 1.0
timeout = "5s"
"#;

/// A node with a 1ms service time serves at most 1,000 requests a second,
/// however many processes ask; ten closed-loop processes keep it busy, and
/// each waits behind the other nine (about 10ms).
#[test]
fn a_node_serves_one_request_at_a_time() {
    let s = scenario(&one_node(&format!("[capacity]\nrequest = \"1ms\"\n{CLOSED_10}")));
    let t = metric(&s, "throughput_ops_s");
    assert!((950.0..=1000.0).contains(&t), "throughput {t}");
    assert!(metric(&s, "utilisation_max") > 0.98);
    let p50 = metric(&s, "latency_p50_ms");
    assert!((9.0..=12.0).contains(&p50), "median latency {p50}");
    assert_eq!(metric(&s, "queue_max"), 10.0, "all ten requests wait at once");
    // Without capacity the same clients get an answer in a round trip.
    let free = scenario(&one_node(CLOSED_10));
    assert!(metric(&free, "latency_mean_ms") <= 2.0);
}

/// A `[capacity]` table with no service time costs nothing: the run is
/// the same event for event (the same digest) as without it.
#[test]
fn capacity_without_service_time_changes_nothing() {
    let with = scenario(&one_node(&format!("[capacity]\nqueue = 0\n{CLOSED_10}")));
    let without = scenario(&one_node(CLOSED_10));
    let a = run(&with, options(TraceLevel::Digest, None));
    let b = run(&without, options(TraceLevel::Digest, None));
    assert_eq!(a.digest(), b.digest());
    assert_eq!(a.stats(), b.stats());
}

const OPEN_3000: &str = r#"
[[clients]]
processes = 100
ops = 6000
rate = 3000
read_fraction = 1.0
timeout = "100ms"
retries = 0
"#;

/// Offered three times what it can serve, with room for 5 waiting: a
/// node that rejects answers the rest *fail* at once; one that drops lets
/// them time out (*info*).
#[test]
fn a_full_queue_rejects_or_drops() {
    let reject = scenario(&one_node(&format!("[capacity]\nrequest = \"1ms\"\nqueue = 5\n{OPEN_3000}")));
    let served = metric(&reject, "throughput_ops_s");
    assert!((900.0..=1000.0).contains(&served), "throughput {served}");
    assert!(metric(&reject, "refused") > 3000.0);
    assert!(metric(&reject, "ops_fail") > 3000.0);
    assert_eq!(metric(&reject, "ops_info"), 0.0);
    assert!(metric(&reject, "queue_max") <= 6.0);
    let drop = scenario(&one_node(&format!(
        "[capacity]\nrequest = \"1ms\"\nqueue = 5\nwhen_full = \"drop\"\n{OPEN_3000}"
    )));
    assert_eq!(metric(&drop, "ops_fail"), 0.0);
    // A dropped request holds its process for the whole timeout, so most
    // later arrivals find every process busy and are shed.
    assert!(metric(&drop, "ops_info") > 500.0, "{}", metric(&drop, "ops_info"));
    assert!(metric(&drop, "messages_dropped") > 500.0);
    assert!(metric(&drop, "ops_shed") > 1000.0);
}

/// An open-loop client at the highest rate allowed stays bounded: its
/// processes carry what they can, the rest is shed, the run ends.
#[test]
fn an_open_loop_client_at_a_huge_rate_sheds_and_ends() {
    let body = one_node(
        r#"
[capacity]
request = "1ms"

[[clients]]
processes = 8
ops = 50000
rate = 1000000
read_fraction = 1.0
"#,
    )
    .replace("duration = \"2s\"", "duration = \"1s\"");
    let s = scenario(&body);
    let d = run(&s, options(TraceLevel::Digest, None));
    assert!(d.halted().is_none());
    let r = full_report(&*d);
    let shed = r.metrics["ops_shed"];
    assert!(shed > 45_000.0, "shed {shed}");
    assert!(d.in_flight().len() <= 16, "at most one request and one reply per process");
}

/// A crash loses what waited in the node's queue; the run goes on.
#[test]
fn a_crash_empties_the_queue() {
    let clients = CLOSED_10.replace("timeout = \"5s\"", "timeout = \"50ms\"");
    let body = one_node(&format!(
        "[capacity]\nrequest = \"1ms\"\n{clients}\n[[timeline]]\nat = \"1s\"\ncrash = \"n1\"\n\n[[timeline]]\nat = \"1.5s\"\nrestart = \"n1\"\n"
    ));
    let s = scenario(&body);
    let d = run(&s, options(TraceLevel::Digest, None));
    assert!(d.halted().is_none());
    let loads = d.loads();
    assert!(loads[0].served > 1000, "served before and after the crash: {loads:?}");
    assert!(d.stats().dropped >= 9, "the nine waiting requests were lost: {:?}", d.stats());
}

/// Each hostile value is refused with its line and column, and says what
/// is allowed.
#[test]
fn hostile_values_are_refused_with_their_place() {
    let cases: &[(&str, &str, &str)] = &[
        ("[capacity]\nrequest = \"-1ms\"\n", "cap.toml:13:11", ""),
        ("[capacity]\nmessage = \"2m\"\n", "cap.toml:13:11", "at most \"1m\""),
        ("[capacity]\nqueue = 1000000\n", "cap.toml:13:9", "queue must be at most 100000"),
        ("[capacity]\nqueue = -1\n", "cap.toml:13:9", ""),
        ("[capacity]\nspread = nan\n", "cap.toml:13:10", "spread must be between 0 and 1"),
        ("[capacity]\nsigma = 1e300\n", "cap.toml:13:9", "sigma must be between 0 and 5"),
        ("[capacity]\nwhen_full = \"explode\"\n", "cap.toml:13:13", "expected reject or drop"),
        ("[capacity]\nbusy = 1\n", "cap.toml:13:1", "unknown field"),
        ("[capacity.kind]\nreplicat = \"1ms\"\n", "cap.toml:13:1", "unknown message kind `replicat`"),
        ("[capacity.kind]\nreplicat = \"1ms\"\n", "cap.toml:13:1", "did you mean `replicate`?"),
        ("[capacity.kind]\nprepare = \"1ms\"\n", "cap.toml:13:1", "its kinds: heartbeat, replicate"),
        ("[capacity.kind]\nreplicate = \"2m\"\n", "cap.toml:13:13", "at most \"1m\""),
        ("[capacity.kind]\nreplicate = 5\n", "cap.toml:13:13", ""),
        ("[capacity]\ndisk_bandwidth = 0\n", "cap.toml:13:18", "disk_bandwidth must be between 1 and"),
        ("[capacity]\ndisk_bandwidth = -1\n", "cap.toml:13:18", ""),
        ("[capacity]\ndisk_bandwidth = 1e99\n", "cap.toml:13:18", ""),
        ("[[clients]]\nops = 1\nrate = nan\n", "cap.toml:14:8", "rate must be more than 0"),
        ("[[clients]]\nops = 1\nrate = -5.0\n", "cap.toml:14:8", "rate must be more than 0"),
        ("[[clients]]\nops = 1\nrate = 1e12\n", "cap.toml:14:8", "at most 1000000"),
        ("[[clients]]\nops = 1\nrate = inf\n", "cap.toml:14:8", "at most 1000000"),
        ("[[clients]]\nops = 1\narrival = \"poisson\"\n", "cap.toml:14:11", "arrival needs a rate"),
        (
            "[[clients]]\nops = 1\nrate = 10\narrival = \"bursty\"\n",
            "cap.toml:15:11",
            "expected poisson or constant",
        ),
        ("[[clients]]\nops = 1\nrate = 10\ninterval = \"1ms\"\n", "cap.toml:15:12", "this one has a rate"),
    ];
    for (extra, place, says) in cases {
        let body = one_node(extra);
        let e = match load_str(&distlab::protocols::registry(), "cap.toml", &body) {
            Ok(_) => panic!("accepted:\n{extra}"),
            Err(e) => e.to_string(),
        };
        assert!(e.contains(place), "{extra}: expected {place} in:\n{e}");
        assert!(e.contains(says), "{extra}: expected {says:?} in:\n{e}");
    }
}

/// Dropping by hand a request that waits in a node's queue takes it out
/// of the queue too: the node serves the others, and ends with an empty
/// queue (before, a dropped queued message stayed counted as waiting).
#[test]
fn dropping_a_queued_message_by_hand_leaves_the_queue() {
    let s = scenario(&one_node(&format!("[capacity]\nrequest = \"1ms\"\n{CLOSED_10}")));
    let mut d = s.protocol.build(&s, options(TraceLevel::Digest, None));
    d.run_until(distlab::sim::SimTime(500_000));
    let waiting = d.loads()[0].waiting;
    assert!(waiting >= 5, "requests wait at n1: {waiting}");
    // A request to n1 that has arrived: it is due at the end of its
    // service, later than a network delay from now.
    let now = d.now();
    let queued = d
        .in_flight()
        .into_iter()
        .find(|m| m.kind == "request" && m.arrives.0 > now.0 + 2_000)
        .expect("a queued request");
    d.intervene(distlab::sim::Fault::DropMessage(queued.id)).expect("drop it");
    assert_eq!(d.loads()[0].waiting, waiting - 1);
    d.run_until(s.duration);
    assert!(d.halted().is_none());
    assert!(d.loads()[0].waiting <= 10);
}

/// Two nodes, a primary and a replica, with synchronous replication and
/// a 1ms disk, ten closed-loop writers, `capacity` appended.
fn replicated(capacity: &str) -> Scenario {
    scenario(&format!(
        r#"
[scenario]
name = "cap"
protocol = "primary-replica"
duration = "2s"

[cluster]
nodes = 2
disk_latency = "1ms"

[protocol]
mode = "sync"

[network]
latency = "1ms"

[[clients]]
processes = 10
ops = 100000
interval = "0"
read_fraction = 0.0
timeout = "5s"
{capacity}
"#
    ))
}

/// `[capacity.kind]` gives one kind of message its own service time: the
/// replica, which serves the `replicate` messages, is busy with them, and
/// the writes wait for it; with no kind given, messages stay free.
#[test]
fn a_message_kind_has_its_own_service_time() {
    let free = replicated("[capacity]\n");
    assert_eq!(metric(&free, "utilisation_max"), 0.0);
    let costly = replicated("[capacity]\n[capacity.kind]\nreplicate = \"2ms\"\n");
    let busy = metric(&costly, "utilisation_max");
    assert!(busy > 0.9, "the replica serves replicate messages, 2ms each: busy {busy}");
    // At most one replicate every 2ms: about 500 writes a second.
    let t = metric(&costly, "throughput_ops_s");
    assert!(t <= 520.0, "throughput {t}");
    // A kind's time replaces `message` for that kind only: heartbeats
    // and acks at 0, replicates at 2ms, whatever `message` says.
    let both = replicated(
        "[capacity]\nmessage = \"5ms\"\n[capacity.kind]\nreplicate = \"2ms\"\nack = \"0\"\nheartbeat = \"0\"\n",
    );
    assert_eq!(metric(&both, "throughput_ops_s"), t, "the same run as replicate alone");
}

/// `disk_bandwidth` makes a write take its size over the bandwidth on top
/// of the disk latency, one write at a time: at 20,000 bytes a second
/// each of the primary's log writes (JSON, tens of bytes) takes ms, so
/// synchronous writes slow down; with no bandwidth they take the 1ms
/// latency only.
#[test]
fn disk_bandwidth_makes_big_writes_slow() {
    let fast = replicated("[capacity]\n");
    let slow = replicated("[capacity]\ndisk_bandwidth = 20000\n");
    let (p50_fast, p50_slow) = (metric(&fast, "latency_p50_ms"), metric(&slow, "latency_p50_ms"));
    assert!(p50_slow > 3.0 * p50_fast, "p50 {p50_fast} ms -> {p50_slow} ms");
    let (t_fast, t_slow) = (metric(&fast, "throughput_ops_s"), metric(&slow, "throughput_ops_s"));
    assert!(t_slow < t_fast / 3.0, "throughput {t_fast} -> {t_slow}");
    // A bandwidth too large to matter is the unlimited disk, event for event.
    let huge = replicated("[capacity]\ndisk_bandwidth = 1000000000000\n");
    let (a, b) =
        (run(&huge, options(TraceLevel::Digest, None)), run(&fast, options(TraceLevel::Digest, None)));
    assert_eq!(a.digest(), b.digest());
}

/// Every message kind a protocol sends is in its `Message::KINDS` (what
/// `[capacity.kind]` accepts): every lesson, run with a free capacity
/// model, asserts it (in debug builds) for each message a node serves.
#[test]
fn every_kind_sent_is_listed() {
    for f in all_lessons() {
        let mut s =
            distlab::scenario::load(&distlab::protocols::registry(), &f).unwrap_or_else(|e| panic!("{e}"));
        s.capacity.get_or_insert(distlab::sim::capacity::Capacity {
            message: None,
            request: None,
            queue: 1000,
            when_full: distlab::sim::capacity::WhenFull::Reject,
            by_kind: Vec::new(),
            disk_bandwidth: None,
        });
        run(&s, options(TraceLevel::Off, None));
    }
}

/// The gauge `busy` is utilisation over time: the busiest node's share
/// of the last 100ms spent serving. Sampled every 5ms through a run, it
/// stays near one half for a 1ms server offered 500 requests a second
/// (its mean is the run's utilisation) and near one with ten closed-loop
/// processes; a run without `[capacity]` has no such gauge.
#[test]
fn busy_is_utilisation_over_time() {
    let open_500 =
        "[[clients]]\nprocesses = 50\nops = 100000\nrate = 500\nread_fraction = 1.0\ntimeout = \"5s\"\n";
    for (clients, low, high) in [(open_500, 0.4, 0.6), (CLOSED_10, 0.97, 1.0)] {
        let s = scenario(&one_node(&format!(
            "[capacity]\nrequest = \"1ms\"\ndistribution = \"exponential\"\n{clients}"
        )));
        let utilisation = full_report(&*run(&s, options(TraceLevel::Off, None))).metrics["utilisation_max"];
        let mut d = s.protocol.build(&s, options(TraceLevel::Off, None));
        let mut samples = Vec::new();
        for t in (100_000..=2_000_000).step_by(5_000) {
            d.run_until(distlab::sim::SimTime(t));
            let busy = d.gauges().iter().find(|(name, _)| *name == "busy").expect("a busy gauge").1;
            assert!((0.0..=1.0).contains(&busy), "a share: {busy}");
            samples.push(busy);
        }
        let mean = samples.iter().sum::<f64>() / samples.len() as f64;
        assert!((low..=high).contains(&mean), "mean busy {mean}, utilisation {utilisation}");
        assert!((mean - utilisation).abs() < 0.05, "mean busy {mean} against utilisation {utilisation}");
        // Over a 100ms window, never far from the mean.
        assert!(samples.iter().all(|b| (b - mean).abs() < 0.3), "{samples:?}");
    }
    let free = scenario(&one_node(CLOSED_10));
    let d = run(&free, options(TraceLevel::Off, None));
    assert!(d.gauges().iter().all(|(name, _)| *name != "busy"));
}
