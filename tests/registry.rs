//! A library user adds their own protocol to the registry and runs a
//! scenario file naming it: the loader knows protocols only through the
//! registry it is given (`distlab::scenario::Registry`), not a list
//! compiled into it.

use distlab::nodes::{ClientReply, ClientRequest, Cluster, Context, Message, NodeId, NodeView, Protocol};
use distlab::protocols::{Configure, LIVENESS, Promises, entry, registry};
use distlab::scenario::{ParamContext, Registry, ScenarioError, load_str, raw::S};
use distlab::sim::monitor::{CheckInfo, MetricInfo, Unit};
use distlab::sim::{At, Checker, Report, TraceLevel, Verdict};
use distlab::time::SimTime;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Greet: the first node greets every other node `rounds` times; each
/// greeted node notes it. Nothing is durable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
struct Greet;

#[derive(Clone, Debug)]
struct GreetParams {
    rounds: u32,
}

#[derive(Deserialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawGreetParams {
    /// How many times the first node greets each other node.
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    rounds: Option<S<u32>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
enum GreetMsg {
    Hello,
}

impl Message for GreetMsg {
    fn kind(&self) -> &'static str {
        "hello"
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
struct Greeted;

impl Protocol for Greet {
    const NAME: &'static str = "greet";
    type Params = GreetParams;
    /// Hellos received.
    type State = u64;
    type Durable = ();
    type DurableWrite = ();
    type Msg = GreetMsg;
    type Timer = ();
    type Observation = Greeted;
    type Workload = distlab::nodes::KeyValue<GreetParams>;

    fn recover(ctx: &mut Context<'_, Self>, _disk: &()) -> u64 {
        if ctx.me() == NodeId(0) {
            for _ in 0..ctx.params().rounds {
                ctx.broadcast(GreetMsg::Hello);
            }
        }
        0
    }
    fn on_message(state: &mut u64, ctx: &mut Context<'_, Self>, _from: NodeId, GreetMsg::Hello: GreetMsg) {
        *state += 1;
        ctx.observe(Greeted);
    }
    fn on_timer(_: &mut u64, _: &mut Context<'_, Self>, _: ()) {}
    fn on_client_request(_: &mut u64, ctx: &mut Context<'_, Self>, request: ClientRequest) {
        ctx.reply(request.from, ClientReply::fail("greet serves no client operations"));
    }
    fn apply_write(_: &mut (), _: &()) {}
    fn view(state: &u64, _: &(), _: &Cluster) -> NodeView {
        let mut v = NodeView::new("greeter", None);
        v.section("hellos").row("received", state);
        v
    }
}

impl Configure for Greet {
    type Raw = RawGreetParams;
    const SUMMARY: &'static str = "the first node says hello to everyone";
    fn configure(raw: RawGreetParams, cx: &ParamContext<'_>) -> Result<GreetParams, ScenarioError> {
        match raw.rounds {
            Some(r) if *r.get_ref() == 0 => Err(cx.error(r.span(), "rounds must be at least 1")),
            r => Ok(GreetParams { rounds: r.map_or(1, |r| *r.get_ref()) }),
        }
    }
}

impl Promises for Greet {
    fn promise(_: &GreetParams, _nodes: usize, check: &str) -> Result<(), &'static str> {
        match check {
            "everyone-greeted" | LIVENESS => Err("hellos are not resent after a loss"),
            _ => Ok(()),
        }
    }
}

/// Holds when every node but the first was greeted.
#[derive(Clone, Debug)]
struct GreetChecker {
    nodes: usize,
    greeted: BTreeSet<NodeId>,
    hellos: u64,
}

impl Checker<Greet> for GreetChecker {
    const CHECKS: &'static [CheckInfo] =
        &[CheckInfo::new("everyone-greeted", "every node but the first received a hello")];
    const METRICS: &'static [MetricInfo] = &[MetricInfo::new("hellos", Unit::Count, "hellos received")];
    fn new(_: &GreetParams, cluster: &Cluster) -> Self {
        GreetChecker { nodes: cluster.len(), greeted: BTreeSet::new(), hellos: 0 }
    }
    fn on_observation(&mut self, _at: At, node: NodeId, _: &Greeted) {
        self.greeted.insert(node);
        self.hellos += 1;
    }
    fn report(&self, _now: SimTime) -> Report {
        let mut r = Report::default();
        r.checks.push(Verdict {
            name: "everyone-greeted",
            holds: self.greeted.len() + 1 == self.nodes,
            detail: format!("{} of {} nodes greeted", self.greeted.len(), self.nodes - 1),
            first_violation: None,
        });
        r.metrics.insert("hellos", self.hellos as f64);
        r
    }
}

const LESSON: &str = r#"
[scenario]
name = "Greetings"
description = "The first node greets the others three times."
protocol = "greet"
duration = "1s"

[cluster]
nodes = 4

[protocol]
rounds = 3

[[expect]]
check = "everyone-greeted"

[[expect]]
metric = "hellos"
at_least = 9
at_most = 9

[[expect]]
metric = "messages_delivered"
at_least = 9
"#;

fn with_greet() -> Registry {
    registry().with(entry::<Greet, GreetChecker>())
}

#[test]
fn a_scenario_names_a_protocol_registered_by_its_user() {
    let s = load_str(&with_greet(), "greet.toml", LESSON).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.protocol.name(), "greet");
    let (run, summary) = distlab::check::run::execute(
        &s,
        distlab::protocols::RunOptions { trace: TraceLevel::Digest, ..Default::default() },
    );
    assert_eq!(summary.expectations.len(), 3);
    assert!(summary.all_met(), "{:?}", summary.expectations);
    assert_eq!(run.report().metrics["hellos"], 9.0);
    // Its parameters were read by its own parser, with positions.
    let zero = LESSON.replace("rounds = 3", "rounds = 0");
    let e = load_str(&with_greet(), "greet.toml", &zero).unwrap_err();
    assert_eq!((e.message.as_str(), e.line, e.column), ("rounds must be at least 1", 12, 10), "{e}");
}

/// `distlab schema`'s schema of a registry describes the protocols added
/// to it: the name, its `[protocol]` table, its checks.
#[test]
fn the_schema_knows_a_registered_protocol() {
    let schema = distlab::scenario::schema::json_schema(&with_greet());
    let names = &schema["definitions"]["RawMeta"]["properties"]["protocol"]["enum"];
    assert!(names.as_array().unwrap().contains(&"greet".into()), "{names}");
    let greet = schema["allOf"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c.pointer("/if/properties/scenario/properties/protocol/const") == Some(&"greet".into()))
        .expect("a condition for greet");
    let then = &greet["then"]["properties"];
    assert_eq!(
        then["expect"]["items"]["properties"]["check"]["enum"],
        serde_json::json!(["everyone-greeted"])
    );
    let params = then["protocol"]["$ref"].as_str().unwrap().trim_start_matches("#/definitions/");
    assert!(schema["definitions"][params]["properties"]["rounds"].is_object(), "{schema:#}");
}

#[test]
fn without_it_the_protocol_is_unknown() {
    let e = load_str(&registry(), "greet.toml", LESSON).unwrap_err();
    assert!(e.message.contains("unknown protocol `greet`"), "{e}");
    // The bundled protocols are all still there with it.
    let names: Vec<&str> = with_greet().names().collect();
    assert_eq!(names.len(), registry().names().count() + 1);
    assert_eq!(names.last(), Some(&"greet"));
}

#[test]
#[should_panic(expected = "a protocol named `greet` is registered already")]
fn a_name_is_registered_once() {
    let _ = with_greet().with(entry::<Greet, GreetChecker>());
}
