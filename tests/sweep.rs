//! `distlab sweep` and `distlab plot`, end to end: the files they write,
//! their determinism, and their errors.

use std::path::{Path, PathBuf};
use std::process::Output;

mod common;
use common::distlab;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("distlab-sweep-test-{}-{name}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    dir
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect();
    out.sort();
    out
}

/// The summary row of configuration `config`, as column → value.
fn summary_row(dir: &Path, config: usize) -> std::collections::BTreeMap<String, String> {
    let mut reader = csv::Reader::from_path(dir.join("summary.csv")).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    let row = reader.records().nth(config).unwrap().unwrap();
    header.into_iter().zip(row.iter().map(String::from)).collect()
}

/// The same sweep on one thread and on two writes the same bytes (CSV
/// and charts), and the figures show the quorum trade-off: r + w <= n
/// reads go stale, r + w > n reads never do.
#[test]
fn sweeps_are_deterministic_and_show_the_trade_off() {
    let (one, two) = (scratch("j1"), scratch("j2"));
    for (dir, jobs) in [(&one, "1"), (&two, "2")] {
        let o = distlab(&[
            "sweep",
            "quorum/nrw-tradeoff",
            "--vary",
            "protocol.r=1..2",
            "--vary",
            "protocol.w=1,2",
            "--seeds",
            "0..4",
            "--jobs",
            jobs,
            "--out",
            dir.to_str().unwrap(),
            "--plot",
            "availability,stale_read_rate",
            "--plot",
            "fresh-reads",
        ]);
        assert!(o.status.success(), "{}", text(&o));
        assert!(text(&o).contains("4 configurations × 4 seeds = 16 runs"), "{}", text(&o));
    }
    let (a, b) = (files(&one), files(&two));
    let names: Vec<&str> = a.iter().map(|f| f.0.as_str()).collect();
    for expected in [
        "runs.csv",
        "summary.csv",
        "latency.csv",
        "gauges.csv",
        "latency-cdf.svg",
        "latency-cdf.png",
        "availability+stale_read_rate.svg",
        "fresh-reads.svg",
        "messages_in_flight-over-time.svg",
    ] {
        assert!(names.contains(&expected), "{expected} missing from {names:?}");
    }
    assert_eq!(a, b, "--jobs changes nothing");

    let weak = summary_row(&one, 0);
    let strict = summary_row(&one, 3);
    assert_eq!((weak["protocol.r"].as_str(), weak["protocol.w"].as_str()), ("1", "1"));
    assert_eq!((strict["protocol.r"].as_str(), strict["protocol.w"].as_str()), ("2", "2"));
    assert!(weak["stale_read_rate"].parse::<f64>().unwrap() > 0.0, "{weak:?}");
    assert_eq!(strict["stale_read_rate"], "0", "{strict:?}");
    assert_eq!(strict["check:fresh-reads"], "1");
    assert_eq!(weak["runs"], "4");
    let svg = std::fs::read_to_string(one.join("availability+stale_read_rate.svg")).unwrap();
    for label in ["protocol.r (replicas)", "stale_read_rate (fraction, mean of 4 seeds)", "w=1", "w=2"] {
        assert!(svg.contains(label), "the chart names {label}");
    }
    let runs = std::fs::read_to_string(one.join("runs.csv")).unwrap();
    assert_eq!(runs.lines().count(), 1 + 16, "a row per run");
    std::fs::remove_dir_all(&one).ok();
    std::fs::remove_dir_all(&two).ok();
}

/// Bad grids are bad input (exit status 2) with a message that says what
/// was expected, and nothing runs.
#[test]
fn bad_sweeps_say_why() {
    let out = scratch("bad");
    let dir = out.to_str().unwrap();
    for (args, says) in [
        (vec!["--vary", "protocol.r"], "expected KEY=VALUES"),
        // A value the sweep wrote is shown in the argument, not in a copy
        // of the file the user never saw.
        (vec!["--vary", "protocol.r=1,9"], "--vary protocol.r=1,9: r must be between 1 and n (3), not 9"),
        (vec!["--vary", "protocol.r=1,9"], "  | --vary protocol.r=1,9\n  |                     ^\n"),
        (vec!["--vary", "protocol.rr=1"], "  | --vary protocol.rr=1\n  |                 ^^\n"),
        (
            vec!["--vary", "clients.ops=5"],
            "`clients` is a list of tables: pick one by index, e.g. `clients.0.ops`",
        ),
        (vec!["--vary", "protocol.r=1", "--vary", "protocol.r=2"], "given twice"),
        (vec!["--vary", "protocol.r=1", "--plot", "availabilty"], "did you mean `availability`?"),
        (vec!["--vary", "network.drop=0..0.1"], "needs a step"),
    ] {
        let mut all = vec!["sweep", "quorum/nrw-tradeoff", "--seeds", "0..2", "--out", dir];
        all.extend(args.iter().copied());
        let o = distlab(&all);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(text(&o).contains(says), "{args:?} should say {says:?}: {}", text(&o));
        assert!(!text(&o).contains("panicked"), "{}", text(&o));
    }
    std::fs::remove_dir_all(&out).ok();
}

/// Values that do not go together are left out with --skip-invalid, and
/// listed; `-` leaves a key out of the file.
#[test]
fn skip_invalid_lists_what_it_left_out() {
    let out = scratch("skip");
    let o = distlab(&[
        "sweep",
        "primary-replica/replication-modes",
        "--vary",
        "protocol.mode=async,sync",
        "--vary",
        "protocol.ship_interval=100ms,-",
        "--seeds",
        "0..2",
        "--out",
        out.to_str().unwrap(),
        "--no-png",
        "--skip-invalid",
    ]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("3 configurations × 2 seeds"), "{t}");
    assert!(
        t.contains("skipped protocol.mode = sync, protocol.ship_interval = 100ms: ship_interval applies to mode = \"async\" only"),
        "{t}"
    );
    assert!(out.join("replication_lag_ms-over-time.svg").exists(), "the gauge is drawn over time");
    assert!(!out.join("latency-cdf.png").exists(), "--no-png");
    std::fs::remove_dir_all(&out).ok();
}

/// `distlab plot` draws a run from its trace; the messages in flight it
/// counts from send/deliver/drop events agree with the engine's own
/// gauge, sampled in the same trace.
#[test]
fn plot_draws_a_run_from_its_trace() {
    let dir = scratch("plot");
    std::fs::create_dir_all(&dir).unwrap();
    let trace = dir.join("run.jsonl");
    let o = distlab(&["run", "primary-replica/async-crash", "--trace", trace.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let o = distlab(&["plot", trace.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let charts = dir.join("run-charts");
    for name in ["latency-over-time", "messages_in_flight-over-time", "replication_lag_ms-over-time"] {
        for ext in ["svg", "png"] {
            assert!(charts.join(format!("{name}.{ext}")).exists(), "{name}.{ext}: {}", text(&o));
        }
    }
    let svg = std::fs::read_to_string(charts.join("latency-over-time.svg")).unwrap();
    assert!(svg.contains("n1 crashes"), "faults are marked");

    let data = distlab::plot::trace::read(&trace).unwrap();
    assert!(data.latency[0].len() > 100, "ok operations are drawn");
    assert_eq!(data.units["replication_lag_ms"], "ms", "the trace carries the declared unit");
    let svg = std::fs::read_to_string(charts.join("replication_lag_ms-over-time.svg")).unwrap();
    assert!(svg.contains("replication_lag_ms (ms)"), "the axis shows it");
    std::fs::remove_dir_all(&dir).ok();
}

/// The messages in flight that `plot` counts from send / deliver / drop /
/// hold / crash events agree with the engine's own gauge at every sample
/// of the trace, through pauses (held messages) and crashes (held
/// messages lost with their node).
#[test]
fn messages_in_flight_from_events_match_the_engine() {
    let dir = scratch("inflight");
    std::fs::create_dir_all(&dir).unwrap();
    for lesson in ["primary-replica/fencing", "primary-replica/async-crash", "saga/retries-double-charge"] {
        let trace = dir.join("t.jsonl");
        let o = distlab(&["run", lesson, "--trace", trace.to_str().unwrap()]);
        assert!(o.status.success(), "{}", text(&o));
        let data = distlab::plot::trace::read(&trace).unwrap();
        let text = std::fs::read_to_string(&trace).unwrap();
        let samples: Vec<(f64, f64)> = text
            .lines()
            .filter(|l| l.contains("\"kind\":\"sample\""))
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .map(|v| {
                (v["time_us"].as_f64().unwrap() / 1e6, v["gauges"]["messages_in_flight"].as_f64().unwrap())
            })
            .collect();
        assert!(
            text.contains("\"kind\":\"hold\"") || lesson != "primary-replica/fencing",
            "a pause holds messages"
        );
        for (t, engine) in samples {
            let counted = data.in_flight.iter().take_while(|p| p.0 <= t).last().map_or(0.0, |p| p.1);
            assert_eq!(counted, engine, "{lesson} at {t}s");
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// A file that is not a trace is bad input, named by line.
#[test]
fn plot_rejects_what_is_not_a_trace() {
    let dir = scratch("notrace");
    std::fs::create_dir_all(&dir).unwrap();
    let bogus = dir.join("x.jsonl");
    std::fs::write(&bogus, "{\"step\":0,\"time_us\":0,\"kind\":\"start\"}\nnot json\n").unwrap();
    let o = distlab(&["plot", bogus.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("x.jsonl:2: not a line of a distlab trace"), "{}", text(&o));
    let o = distlab(&["plot", dir.join("missing.jsonl").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("cannot open"), "{}", text(&o));
    std::fs::remove_dir_all(&dir).ok();
}

/// A sweep may change the cluster its timeline names: the faults marked on
/// the charts are described with the varied cluster, not the file's.
#[test]
fn faults_on_a_varied_cluster_are_described_with_it() {
    let out = scratch("cluster");
    let o = distlab(&[
        "sweep",
        "quorum/nrw-tradeoff",
        "--vary",
        "cluster.nodes=4",
        "--vary",
        "timeline.0.crash=n4",
        "--vary",
        "timeline.1.restart=n4",
        "--seeds",
        "0..2",
        "--out",
        out.to_str().unwrap(),
        "--no-png",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let svg = std::fs::read_to_string(out.join("messages_in_flight-over-time.svg")).unwrap();
    assert!(svg.contains("n4 crashes"), "the marker names the varied cluster's node");
    std::fs::remove_dir_all(&out).ok();
}

/// A sweep run as three shards (`--shard I/N`, two of them sharing a
/// folder) and merged writes the same bytes, every CSV and chart, as the
/// sweep run in one go.
#[test]
fn shards_merge_into_the_unsharded_sweep() {
    let root = scratch("shards");
    let sweep_seeds = |seeds: &str, extra: &[&str], out: &Path| {
        let mut args = vec![
            "sweep",
            "quorum/nrw-tradeoff",
            "--vary",
            "protocol.r=1..2",
            "--vary",
            "protocol.w=1,2",
            "--seeds",
            seeds,
            "--plot",
            "availability,stale_read_rate",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend(extra);
        distlab(&args)
    };
    let sweep = |extra: &[&str], out: &Path| sweep_seeds("0..3", extra, out);
    let whole = root.join("whole");
    let o = sweep(&[], &whole);
    assert!(o.status.success(), "{}", text(&o));
    let (one, rest) = (root.join("one"), root.join("rest"));
    for (shard, dir) in [("1/3", &one), ("2/3", &rest), ("3/3", &rest)] {
        let o = sweep(&["--shard", shard], dir);
        assert!(o.status.success(), "{}", text(&o));
        assert!(text(&o).contains(&format!("shard {shard} runs 4 of them")), "{}", text(&o));
    }
    assert_eq!(files(&one).len(), 1, "a shard writes its shard file only");
    let merged = root.join("merged");
    let o =
        distlab(&["merge", one.to_str().unwrap(), rest.to_str().unwrap(), "--out", merged.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("merge 3 shards of sweep nrw-tradeoff (quorum): 4 configurations × 3 seeds"));
    let (a, b) = (files(&whole), files(&merged));
    assert_eq!(a.iter().map(|f| &f.0).collect::<Vec<_>>(), b.iter().map(|f| &f.0).collect::<Vec<_>>());
    for ((name, x), (_, y)) in a.iter().zip(&b) {
        assert!(x == y, "{name} differs between the sweep and its merged shards");
    }
    assert!(a.iter().any(|f| f.0 == "summary.csv") && a.iter().any(|f| f.0 == "latency-cdf.svg"));

    // Bad input, named: a shard missing, a shard twice, another sweep's.
    let other = root.join("other");
    let o = sweep_seeds("0..4", &["--shard", "2/3"], &other);
    assert!(o.status.success(), "{}", text(&o));
    let (one_s, rest_s, other_s) = (one.to_str().unwrap(), rest.to_str().unwrap(), other.to_str().unwrap());
    let out = root.join("bad");
    let out = out.to_str().unwrap();
    let second = rest.join("shard-2-of-3.json");
    let summary = whole.join("summary.csv").to_str().unwrap().to_string();
    for (args, says) in [
        (vec![one_s], "missing shards 2/3, 3/3 of sweep".to_string()),
        (vec![one_s, rest_s, rest_s], format!("shard 2/3 is given twice: {}", second.display())),
        (vec![one_s, other_s], "are shards of different sweeps".to_string()),
        (vec![one_s, other_s], "--seeds `0..3` against `0..4`".to_string()),
        (vec![one_s, root.join("nothing").to_str().unwrap()], "no such file or folder".to_string()),
        (vec![whole.to_str().unwrap()], "holds no sweep shard".to_string()),
        (vec![summary.as_str()], format!("{summary}:1:1: not a JSON object")),
    ] {
        let mut all = vec!["merge"];
        all.extend(args.iter().copied());
        all.extend(["--out", out]);
        let o = distlab(&all);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(text(&o).contains(&says), "{args:?} should say {says:?}: {}", text(&o));
    }
    assert!(!Path::new(out).exists(), "nothing is written from bad shards");
    let o = sweep(&["--shard", "13/13"], &other);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("shard 13/13 holds no runs: the sweep has only 12"), "{}", text(&o));
    std::fs::remove_dir_all(&root).ok();
}

/// `--out` into a folder no sweep wrote is refused before anything runs;
/// a second sweep into a sweep's folder replaces what the first wrote (no
/// chart of the earlier grid lingers); `summary.csv` names each column
/// once.
#[test]
fn out_folders_are_owned_and_columns_unique() {
    let out = scratch("owned");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    let dir = out.to_str().unwrap();
    let o = distlab(&[
        "sweep",
        "quorum/nrw-tradeoff",
        "--vary",
        "protocol.w=1,2",
        "--seeds",
        "0..1",
        "--no-png",
        "--out",
        dir,
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("is not empty and no sweep wrote it"), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(out.join("notes.txt")).unwrap(), "mine");
    std::fs::remove_dir_all(&out).unwrap();

    let sweep_plotting = |metric: &str| {
        distlab(&[
            "sweep",
            "quorum/nrw-tradeoff",
            "--vary",
            "protocol.w=1,2",
            "--seeds",
            "0..1",
            "--no-png",
            "--plot",
            metric,
            "--out",
            dir,
        ])
    };
    assert!(sweep_plotting("stale_reads").status.success());
    assert!(out.join("stale_reads.svg").exists());
    let header = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    let columns: Vec<&str> = header.lines().next().unwrap().split(',').collect();
    let unique: std::collections::BTreeSet<&str> = columns.iter().copied().collect();
    assert_eq!(unique.len(), columns.len(), "a column twice: {columns:?}");
    let o = sweep_plotting("availability");
    assert!(o.status.success(), "{}", text(&o));
    assert!(out.join("availability.svg").exists());
    assert!(!out.join("stale_reads.svg").exists(), "the first sweep's chart is gone");
    std::fs::remove_dir_all(&out).ok();
}
