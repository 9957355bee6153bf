//! The scenario writer (`distlab::scenario::writer`), behind the
//! shrinker's counterexamples and the TUI's saved runs: what it writes
//! loads back as what it was given.

use distlab::nodes::{Command, NodeId};
use distlab::protocols::registry;
use distlab::rng::Probability;
use distlab::scenario::load_str;
use distlab::scenario::writer::ScenarioWriter;
use distlab::sim::network::LinkFaults;
use distlab::sim::{EndpointId, Fault, SimTime};

const BASE: &str = r#"# A lesson's own comment.
[scenario]
name = "writer"
protocol = "primary-replica"
duration = "2s"
description = """
A description whose lines look like TOML:
[nemesis]
seed = 3
"""

[cluster]
nodes = 3

[network]
latency = "2ms"
drop = 0.1

[[clients]]
name = "app"
processes = 2
ops = 10
interval = "5ms"
"#;

/// Every fault the timeline can say, written and loaded back, is the same
/// fault at the same time and step.
#[test]
fn every_fault_round_trips() {
    let base = load_str(&registry(), "base.toml", BASE).unwrap_or_else(|e| panic!("{e}"));
    let e = EndpointId;
    let faults = vec![
        Fault::Crash(NodeId(0)),
        Fault::Restart(NodeId(0)),
        Fault::Pause(NodeId(1)),
        Fault::Resume(NodeId(1)),
        Fault::Partition(vec![vec![e(0)], vec![e(1), e(2), e(3), e(4)]]),
        Fault::Heal,
        Fault::Cut { from: vec![e(0)], to: vec![e(3), e(4)] },
        Fault::Clock { node: NodeId(2), offset_us: -1500, drift_ppm: 200 },
        Fault::Link {
            from: Some(e(0)),
            to: None,
            faults: Some(LinkFaults {
                drop: Probability::new(0.25),
                duplicate: Probability::new(0.5),
                reorder: Probability::NEVER,
            }),
        },
        Fault::Command { node: NodeId(1), command: Command::Promote },
        Fault::DropMessage(17),
        Fault::DuplicateMessage(18),
        Fault::DeliverNext(19),
        Fault::Choose(vec![1, 0, 3]),
        Fault::Note { text: "a \"quoted\" \\ note\non two lines".into(), pause: true },
    ];
    let mut file = ScenarioWriter::new(BASE).unwrap();
    file.seed(9).comment("the faults");
    for (i, f) in faults.iter().enumerate() {
        let step = (i % 2 == 0).then_some(100 + i as u64);
        assert!(file.timeline(&base, SimTime(1000 * i as u64), step, f), "{f:?}");
    }
    let text = file.finish();
    let back = load_str(&registry(), "written.toml", &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(back.seed, 9);
    assert_eq!(back.description, base.description, "{text}");
    let got: Vec<_> = back.timeline.iter().map(|t| (t.at, t.step, t.fault.clone())).collect();
    let want: Vec<_> = faults
        .iter()
        .enumerate()
        .map(|(i, f)| (SimTime(1000 * i as u64), (i % 2 == 0).then_some(100 + i as u64), f.clone()))
        .collect();
    assert_eq!(got, want, "{text}");
    assert!(text.starts_with("# A lesson's own comment.\n[scenario]\n"), "{text}");
    assert!(
        text.contains("\n# the faults\n\n[[timeline]]\nat = \"0us\"\nstep = 100\ncrash = \"n1\"\n"),
        "{text}"
    );
}

/// A fault naming part of a client (one process of two) cannot be said in
/// a file: the writer says so rather than writing another fault.
#[test]
fn part_of_a_client_cannot_be_written() {
    let base = load_str(&registry(), "base.toml", BASE).unwrap();
    let mut file = ScenarioWriter::new(BASE).unwrap();
    let cut = Fault::Cut { from: vec![EndpointId(0)], to: vec![EndpointId(3)] };
    assert!(!file.timeline(&base, SimTime(0), None, &cut));
    assert!(!file.finish().contains("[[timeline]]"));
}
