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
    let s = distlab::scenario::load_str(
        &distlab::protocols::registry(),
        "recorder.toml",
        "[scenario]\nname = \"r\"\nprotocol = \"echo\"\nduration = \"1s\"\n[cluster]\nnodes = 2\n",
    )
    .expect("a valid scenario");
    let mut sim = Sim::<Recorder, NoChecks>::new(SimConfig {
        seed: 1,
        params: (),
        cluster: Arc::clone(&s.cluster),
        network: s.network.clone(),
        clients: Vec::new(),
        faults: Vec::new(),
        disk_latency: SimDuration(2_000),
        clocks: Vec::new(),
        trace: TraceLevel::Full,
        record_history: false,
        checks: false,
        budget: Budget::DEFAULT,
        capacity: None,
    });
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
