//! `distlab export`: golden files for a small run, and each format's
//! structure checked on real lesson runs — Jepsen's invoke/complete
//! discipline, Porcupine's operations judged by distlab's own
//! linearizability checker (the same verdict as the run's), and ShiViz's
//! vector clocks consistent with every send and delivery.
//!
//! `DISTLAB_BLESS=1 cargo test --test export` rewrites the golden files.

mod common;
use common::distlab;

use distlab::check::export::{Format, SHIVIZ_EVENTS, export};
use distlab::check::linearizability::{RegisterKind, RegisterOp, check_history, check_register};
use distlab::check::run::trace_to_file;
use distlab::sim::{Driver, SimTime, TraceLevel};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("distlab-export-test-{}-{name}", std::process::id()))
}

/// Runs a scenario with its trace written to a temporary file.
fn traced(scenario: &distlab::scenario::Scenario, name: &str) -> (PathBuf, Box<dyn Driver>) {
    let path = temp(&format!("{name}.jsonl"));
    let opts = common::options(TraceLevel::Full, None);
    let run = trace_to_file(scenario, opts, distlab::sim::Budget::DEFAULT, &path).expect("trace written");
    (path, run)
}

fn exported(trace: &Path, format: Format) -> String {
    let mut out = Vec::new();
    export(trace, format, &mut out, SHIVIZ_EVENTS).expect("exported");
    String::from_utf8(out).expect("UTF-8")
}

fn small() -> distlab::scenario::Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/export/small.toml");
    distlab::scenario::library::load(&distlab::protocols::registry(), &path)
        .expect("the small scenario loads")
}

#[test]
fn golden_files_of_a_small_run() {
    let (trace, _run) = traced(&small(), "golden");
    let bless = std::env::var("DISTLAB_BLESS").is_ok_and(|v| v == "1");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/export");
    for (format, file) in [
        (Format::Jepsen, "small.edn"),
        (Format::Porcupine, "small.porcupine.json"),
        (Format::Shiviz, "small.shiviz"),
        (Format::Jsonl, "small.history.jsonl"),
    ] {
        let got = exported(&trace, format);
        let golden = dir.join(file);
        if bless {
            std::fs::write(&golden, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&golden)
            .unwrap_or_else(|_| panic!("{} is missing (DISTLAB_BLESS=1 writes it)", golden.display()));
        assert!(
            got == want,
            "{} differs from the export (DISTLAB_BLESS=1 rewrites it):\n{got}",
            golden.display()
        );
    }
    std::fs::remove_file(trace).ok();
}

// ---- Jepsen -------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Edn {
    Int(i64),
    Nil,
    Keyword(String),
    Str(String),
    Vector(Vec<Edn>),
}

/// Parses one line of the export: a flat EDN map of keywords to
/// integers, nil, keywords, strings and vectors of those.
fn parse_edn_map(line: &str) -> BTreeMap<String, Edn> {
    let mut chars = line.trim().chars().peekable();
    assert_eq!(chars.next(), Some('{'), "a map: {line}");
    let mut map = BTreeMap::new();
    fn skip(chars: &mut std::iter::Peekable<std::str::Chars>) {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
    }
    fn value(chars: &mut std::iter::Peekable<std::str::Chars>, line: &str) -> Edn {
        skip(chars);
        match chars.peek().copied() {
            Some(':') => {
                chars.next();
                let mut k = String::new();
                while chars.peek().is_some_and(|c| c.is_alphanumeric() || "-_?!*".contains(*c)) {
                    k.push(chars.next().unwrap());
                }
                assert!(!k.is_empty(), "an empty keyword in {line}");
                Edn::Keyword(k)
            }
            Some('"') => {
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next().expect("a closed string") {
                        '"' => break,
                        '\\' => s.push(match chars.next().unwrap() {
                            'n' => '\n',
                            't' => '\t',
                            'r' => '\r',
                            c => c,
                        }),
                        c => s.push(c),
                    }
                }
                Edn::Str(s)
            }
            Some('[') => {
                chars.next();
                let mut items = Vec::new();
                loop {
                    skip(chars);
                    if chars.peek() == Some(&']') {
                        chars.next();
                        break;
                    }
                    items.push(value(chars, line));
                }
                Edn::Vector(items)
            }
            Some('n') => {
                let word: String = chars.by_ref().take(3).collect();
                assert_eq!(word, "nil", "{line}");
                Edn::Nil
            }
            _ => {
                let mut n = String::new();
                while chars.peek().is_some_and(|c| c.is_ascii_digit() || *c == '-') {
                    n.push(chars.next().unwrap());
                }
                Edn::Int(n.parse().unwrap_or_else(|_| panic!("a value at `{n}` in {line}")))
            }
        }
    }
    loop {
        skip(&mut chars);
        if chars.peek() == Some(&'}') {
            chars.next();
            break;
        }
        let Edn::Keyword(k) = value(&mut chars, line) else { panic!("a keyword key in {line}") };
        let v = value(&mut chars, line);
        assert!(map.insert(k.clone(), v).is_none(), "{k} twice in {line}");
    }
    skip(&mut chars);
    assert_eq!(chars.next(), None, "nothing after the map: {line}");
    map
}

#[test]
fn jepsen_histories_follow_jepsens_discipline() {
    for lesson in [
        "quorum/weak-quorum.toml",
        "two-phase-commit/coordinator-crash.toml",
        "saga/duplicates-double-charge.toml",
    ] {
        let (trace, run) = traced(&common::lesson(lesson), "jepsen");
        let text = exported(&trace, Format::Jepsen);
        let mut open: BTreeMap<i64, (String, Edn)> = BTreeMap::new();
        let mut retired = std::collections::BTreeSet::new();
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        for (i, line) in text.lines().enumerate() {
            let op = parse_edn_map(line);
            for key in ["index", "time", "type", "process", "f", "value"] {
                assert!(op.contains_key(key), "{lesson}: :{key} missing from {line}");
            }
            assert_eq!(op["index"], Edn::Int(i as i64), "{lesson}: indices count up: {line}");
            let (Edn::Keyword(kind), Edn::Int(p), Edn::Keyword(f)) = (&op["type"], &op["process"], &op["f"])
            else {
                panic!("{lesson}: :type, :process, :f have the wrong shape: {line}")
            };
            *counts.entry(kind.clone()).or_default() += 1;
            if kind == "invoke" {
                assert!(!retired.contains(p), "{lesson}: process {p} invokes after an info: {line}");
                assert!(
                    open.insert(*p, (f.clone(), op["value"].clone())).is_none(),
                    "{lesson}: process {p} has two open: {line}"
                );
            } else {
                let (invoked_f, _) =
                    open.remove(p).unwrap_or_else(|| panic!("{lesson}: {kind} without an invoke: {line}"));
                assert_eq!(&invoked_f, f, "{lesson}: the completion has the invocation's :f: {line}");
                assert!(["ok", "fail", "info"].contains(&kind.as_str()), "{lesson}: {line}");
                if kind == "info" {
                    retired.insert(*p);
                }
            }
            if f == "read" || f == "write" {
                let Edn::Vector(kv) = &op["value"] else {
                    panic!("{lesson}: a register :value is [key value]: {line}")
                };
                assert_eq!(kv.len(), 2, "{lesson}: {line}");
                assert!(matches!(kv[0], Edn::Int(_)), "{lesson}: {line}");
            } else {
                assert!(matches!(op["value"], Edn::Str(_)), "{lesson}: {line}");
            }
        }
        let s = run.stats();
        let count = |k: &str| counts.get(k).copied().unwrap_or(0);
        assert_eq!(
            (count("invoke"), count("ok"), count("fail"), count("info")),
            (s.ops_invoked, s.ops_ok, s.ops_fail, s.ops_info),
            "{lesson}: the export holds every operation of the run"
        );
        assert!(count("invoke") > 0, "{lesson}: a history to export");
        std::fs::remove_file(trace).ok();
    }
}

// ---- Porcupine ----------------------------------------------------------

/// Porcupine's operations, read back into distlab's linearizability
/// checker: per key, the same verdict as the run's own history.
#[test]
fn porcupine_operations_get_the_runs_linearizability_verdict() {
    let mut violated = 0;
    for lesson in ["quorum/weak-quorum.toml", "quorum/strict-quorum.toml", "primary-replica/async-crash.toml"]
    {
        let (trace, run) = traced(&common::lesson(lesson), "porcupine");
        let ops: Vec<serde_json::Value> =
            serde_json::from_str(&exported(&trace, Format::Porcupine)).expect("a JSON array");
        let mut by_key: BTreeMap<u32, Vec<RegisterOp>> = BTreeMap::new();
        for op in &ops {
            let (call, ret) = (op["Call"].as_u64().unwrap(), op["Return"].as_u64().unwrap());
            assert!(call < ret, "{lesson}: an operation returns after its call: {op}");
            let input = &op["Input"];
            let unknown = op["Output"]["Unknown"].as_bool().unwrap();
            let kind = match input["Op"].as_str().unwrap() {
                "write" => RegisterKind::Write(input["Value"].as_u64().unwrap()),
                "read" => {
                    assert!(!unknown, "{lesson}: an unknown read says nothing and is left out: {op}");
                    RegisterKind::Read(op["Output"]["Value"].as_u64())
                }
                other => panic!("{lesson}: op {other}"),
            };
            let key = input["Key"].as_u64().unwrap() as u32;
            by_key.entry(key).or_default().push(RegisterOp {
                op_id: op["OpId"].as_u64().unwrap(),
                kind,
                call,
                ret: (!unknown).then_some(ret),
                invoked: SimTime(op["CallUs"].as_u64().unwrap()),
                completed: op["ReturnUs"].as_u64().map(SimTime),
            });
        }
        let exported_ok =
            by_key.iter().all(|(&key, ops)| check_register(key, ops, 1_000_000).is_linearizable());
        let run_ok = check_history(run.history()).is_linearizable();
        assert_eq!(exported_ok, run_ok, "{lesson}: the exported history gets the run's verdict");
        violated += usize::from(!run_ok);
        std::fs::remove_file(trace).ok();
    }
    assert!(
        violated > 0,
        "at least one of the runs is not linearizable, so the verdicts are compared both ways"
    );
}

// ---- ShiViz -------------------------------------------------------------

type Clock = BTreeMap<String, u64>;

struct ShivizLine {
    host: String,
    clock: BTreeMap<String, u64>,
    event: String,
}

fn parse_shiviz(text: &str) -> Vec<ShivizLine> {
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(distlab::check::export::SHIVIZ_REGEX), "the parsing regex first");
    assert_eq!(lines.next(), Some(""), "an empty execution delimiter second");
    lines
        .map(|l| {
            let (host, rest) = l.split_once(' ').expect("host, clock, event");
            let end = rest.find('}').expect("a clock") + 1;
            let clock: BTreeMap<String, u64> = serde_json::from_str(&rest[..end]).expect("the clock is JSON");
            let event = rest[end..].strip_prefix(' ').expect("an event").to_string();
            ShivizLine { host: host.into(), clock, event }
        })
        .collect()
}

#[test]
fn shiviz_vector_clocks_follow_every_message() {
    for lesson in
        ["quorum/partition-one.toml", "basics/loss-duplication.toml", "saga/duplicates-double-charge.toml"]
    {
        let (trace, run) = traced(&common::lesson(lesson), "shiviz");
        let lines = parse_shiviz(&exported(&trace, Format::Shiviz));
        let mut last: BTreeMap<&str, &BTreeMap<String, u64>> = BTreeMap::new();
        // (sender, receiver, label) → the sender's clocks at its sends.
        let mut sends: BTreeMap<(String, String, String), Vec<&Clock>> = BTreeMap::new();
        let mut receives = 0;
        for l in &lines {
            let before = last.get(l.host.as_str());
            let own_before = before.and_then(|c| c.get(&l.host)).copied().unwrap_or(0);
            assert_eq!(
                l.clock.get(&l.host),
                Some(&(own_before + 1)),
                "{lesson}: {}'s own entry counts its events",
                l.host
            );
            if let Some(before) = before {
                for (h, &c) in before.iter() {
                    assert!(
                        l.clock.get(h).copied().unwrap_or(0) >= c,
                        "{lesson}: {}'s clock never goes back",
                        l.host
                    );
                }
            }
            last.insert(&l.host, &l.clock);
            if let Some(rest) = l.event.strip_prefix("send ") {
                let (label, to) = rest.rsplit_once(" to ").expect("send LABEL to HOST");
                sends.entry((l.host.clone(), to.into(), label.into())).or_default().push(&l.clock);
            } else if let Some(rest) = l.event.strip_prefix("receive ") {
                receives += 1;
                let (label, from) = rest.rsplit_once(" from ").expect("receive LABEL from HOST");
                let candidates = sends.get(&(from.into(), l.host.clone(), label.into()));
                let dominated = candidates.is_some_and(|cs| {
                    cs.iter().any(|s| s.iter().all(|(h, &c)| l.clock.get(h).copied().unwrap_or(0) >= c))
                });
                assert!(
                    dominated,
                    "{lesson}: a receipt happens after a send of that message: {} {}",
                    l.host, l.event
                );
            }
        }
        let delivered = run.stats().delivered;
        assert_eq!(receives as u64, delivered, "{lesson}: one receive per delivery");
        assert!(delivered > 0);
        std::fs::remove_file(trace).ok();
    }
}

// ---- The command line ---------------------------------------------------

#[test]
fn run_export_writes_each_format_and_export_rejects_what_is_not_a_trace() {
    let (edn, shiviz) = (temp("cli.edn"), temp("cli.shiviz"));
    let small = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/export/small.toml");
    let o = distlab(&[
        "run",
        small.to_str().unwrap(),
        "--export",
        &format!("jepsen={}", edn.display()),
        "--export",
        &format!("shiviz={}", shiviz.display()),
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("jepsen export: 24 history entries"), "{stderr}");
    assert!(stderr.contains("shiviz export:"), "{stderr}");
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/export/small.edn");
    assert_eq!(std::fs::read_to_string(&edn).unwrap(), std::fs::read_to_string(golden).unwrap());
    // `export` on what is not a trace: exit 2, pointing at the line.
    let o = distlab(&["export", edn.to_str().unwrap(), "--format", "jepsen"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cli.edn:1: not a line of a distlab trace"));
    let o = distlab(&["export", edn.to_str().unwrap(), "--format", "knossos"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("expected one of jepsen, porcupine, shiviz, jsonl"));
    for f in [edn, shiviz] {
        std::fs::remove_file(f).ok();
    }
}
