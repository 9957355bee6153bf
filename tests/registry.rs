//! A library user adds their own protocol to the registry and runs a
//! scenario file naming it: the loader knows protocols only through the
//! registry it is given (`distlab::scenario::Registry`), not a list
//! compiled into it. Greet also has operations of its own (a
//! [`Workload`]): clients ask a node to greet a name, and its checker and
//! the run's history see them.

use distlab::nodes::client::ClientSpec;
use distlab::nodes::{
    ClientReply, ClientRequest, Cluster, Context, Message, NodeId, NodeView, Protocol, Workload,
};
use distlab::protocols::{Configure, LIVENESS, Promises, entry, registry};
use distlab::rng::RngStream;
use distlab::scenario::{ParamContext, Registry, ScenarioError, load_str, raw::S};
use distlab::sim::monitor::{CheckInfo, MetricInfo, Unit};
use distlab::sim::{At, Checker, HistoryKind, Report, TraceLevel, TypedEvent, Verdict};
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
    /// A broken variant: nodes answer clients without their name.
    rude: bool,
}

#[derive(Deserialize, Default, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawGreetParams {
    /// How many times the first node greets each other node.
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    rounds: Option<S<u32>>,
    /// Answer clients rudely (a broken variant, for the checker to catch).
    #[serde(default)]
    #[schemars(with = "Option<bool>")]
    rude: Option<S<bool>>,
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

/// Greet's client operations: greet a name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
enum GreetOp {
    Greet { name: String },
}

impl std::fmt::Display for GreetOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let GreetOp::Greet { name } = self;
        write!(f, "greet {name}")
    }
}

/// What a node answers: a greeting.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
struct Greeting(String);

impl std::fmt::Display for Greeting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Greet's workload: each client asks to greet one of a few names.
struct Greetings;

const NAMES: [&str; 3] = ["ada", "grace", "edsger"];

impl Workload for Greetings {
    type Params = GreetParams;
    type Op = GreetOp;
    type Answer = Greeting;
    fn next_op(_: &GreetParams, _: &ClientSpec, rng: &mut RngStream, _id: u64) -> GreetOp {
        GreetOp::Greet { name: NAMES[rng.below(NAMES.len() as u64) as usize].to_string() }
    }
}

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
    type Workload = Greetings;

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
    fn on_client_request(_: &mut u64, ctx: &mut Context<'_, Self>, request: ClientRequest<GreetOp>) {
        let GreetOp::Greet { name } = request.op;
        let greeting = if ctx.params().rude { "go away".to_string() } else { format!("hello, {name}") };
        ctx.reply(request.from, ClientReply::answer(Greeting(greeting), 0));
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
            r => Ok(GreetParams {
                rounds: r.map_or(1, |r| *r.get_ref()),
                rude: raw.rude.is_some_and(|r| *r.get_ref()),
            }),
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

/// Holds when every node but the first was greeted, and every client
/// was greeted by the name it gave.
#[derive(Clone, Debug)]
struct GreetChecker {
    nodes: usize,
    greeted: BTreeSet<NodeId>,
    hellos: u64,
    /// Client operations answered ok, and those whose greeting was wrong.
    answered: u64,
    wrong: u64,
}

impl Checker<Greet> for GreetChecker {
    const CHECKS: &'static [CheckInfo] = &[
        CheckInfo::new("everyone-greeted", "every node but the first received a hello"),
        CheckInfo::new("greeted-by-name", "every client greeting names the name the client gave"),
    ];
    const METRICS: &'static [MetricInfo] = &[
        MetricInfo::new("hellos", Unit::Count, "hellos received"),
        MetricInfo::new("greetings", Unit::Count, "client greetings answered"),
    ];
    fn new(_: &GreetParams, cluster: &Cluster) -> Self {
        GreetChecker { nodes: cluster.len(), greeted: BTreeSet::new(), hellos: 0, answered: 0, wrong: 0 }
    }
    /// The checker sees its own operations, typed.
    fn on_history(&mut self, _at: At, e: &TypedEvent<Greet>) {
        if e.kind == HistoryKind::Ok {
            let GreetOp::Greet { name } = &e.op;
            self.answered += 1;
            if e.value.0 != format!("hello, {name}") {
                self.wrong += 1;
            }
        }
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
            causes: Vec::new(),
        });
        r.checks.push(Verdict {
            name: "greeted-by-name",
            holds: self.wrong == 0,
            detail: format!("{} of {} greetings wrong", self.wrong, self.answered),
            first_violation: None,
            causes: Vec::new(),
        });
        r.metrics.insert("hellos", self.hellos as f64);
        r.metrics.insert("greetings", self.answered as f64);
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
        serde_json::json!(["everyone-greeted", "greeted-by-name"])
    );
    let params = then["protocol"]["$ref"].as_str().unwrap().trim_start_matches("#/definitions/");
    assert!(schema["definitions"][params]["properties"]["rounds"].is_object(), "{schema:#}");
}

/// A user protocol's own operations, end to end: clients draw them from
/// its workload, its handler reads them typed, its checker judges the
/// typed answers, and the run's history (read by the TUI and reports,
/// which know no protocol) shows them in words.
#[test]
fn a_registered_protocol_serves_operations_of_its_own() {
    let lesson = format!(
        "{LESSON}\n[[clients]]\nops = 12\ntarget = \"random\"\n\n[[expect]]\ncheck = \"greeted-by-name\"\n"
    );
    let s = load_str(&with_greet(), "greet.toml", &lesson).unwrap_or_else(|e| panic!("{e}"));
    let (run, summary) = distlab::check::run::execute(
        &s,
        distlab::protocols::RunOptions {
            trace: TraceLevel::Digest,
            record_history: true,
            ..Default::default()
        },
    );
    assert!(summary.all_met(), "{:?}", summary.expectations);
    assert_eq!(run.report().metrics["greetings"], 12.0);
    let ops = run.history().operations();
    assert_eq!(ops.len(), 12);
    for op in &ops {
        let name = op.op.strip_prefix("greet ").unwrap_or_else(|| panic!("{}", op.op));
        assert!(NAMES.contains(&name), "{}", op.op);
        assert_eq!(op.outcome, Some(HistoryKind::Ok));
        assert_eq!(op.value, format!("hello, {name}"));
        assert_eq!(op.register, None, "a greeting is no register operation");
    }
    // The checker fires on a real run of a node that answers wrongly.
    let rude = lesson.replace("rounds = 3", "rounds = 3\nrude = true");
    let s = load_str(&with_greet(), "rude.toml", &rude).unwrap_or_else(|e| panic!("{e}"));
    let (run, summary) = distlab::check::run::execute(&s, distlab::protocols::RunOptions::default());
    assert!(!summary.all_met());
    let verdict = run.report().checks.into_iter().find(|v| v.name == "greeted-by-name").unwrap();
    assert!(!verdict.holds, "{verdict:?}");
    assert_eq!(verdict.detail, "12 of 12 greetings wrong");
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
