//! A lesson on a real network: `distlab live`.
//!
//! Every node is a tokio task around a [`LiveNode`] (the same handlers the
//! simulator steps) with its own UDP socket on `127.0.0.1` (a port the
//! system chooses) and its durable log in a directory of its own; every
//! client process is a task with a socket too, running the lesson's
//! workload with the simulator's client state machine
//! ([`ClientSlot`]: targets, redirects, retries, timeouts). Every datagram
//! goes through a router task in the middle, which applies the lesson's
//! `[network]` with the simulator's own [`Network`] (latency, loss,
//! duplication, reordering, partitions, cuts, per-link faults, each drawn
//! from the seeded link streams) and then delivers it after that delay,
//! on the wall clock. A fault task applies the timeline and the nemesis at
//! their times: a crash aborts the node's task (its state, its timers and
//! the writes it had not fsynced are gone), a restart starts a new one
//! that recovers from its log.
//!
//! One thread runs it all (a current-thread runtime), so the client
//! history and the nodes' observations reach the protocol's checker in
//! the order they happened, numbered as steps. The fault decisions are
//! seeded, but when things happen is up to the machine: a live run is not
//! replayable, and says so.
//!
//! Times: the protocol reads the wall clock times `speed` (10 s of the
//! lesson at speed 10 take one real second); delays (timers, latency,
//! the disk, client timeouts and think times) are divided by it. The disk
//! is modelled as taking the lesson's `disk_latency`: a handler's writes
//! are appended to the node's log at once and fsynced that much later
//! (group commit), and what `once_durable` gated waits for that fsync.
//!
//! Wire format: a datagram is the sender's and the receiver's endpoint
//! numbers (4 bytes each, little-endian), the message's number (8 bytes,
//! as the trace names it) and then the body as JSON.

use super::host::{LiveClock, LiveNode, Output};
use crate::check::report::{with_counters, with_history_metrics};
use crate::check::run::{Sample, TRACE_SAMPLES, TraceOut, origin_name, sample_time};
use crate::nodes::client::{ClientAction, ClientSlot, ClientSpec, Pending};
use crate::nodes::{
    AnswerOf, ClientRef, ClientReply, ClientRequest, Cluster, EndpointId, Message, NodeId, OpOf, Protocol,
    Workload,
};
use crate::rng::{RngStream, StreamKind};
use crate::scenario::Scenario;
use crate::sim::network::{LinkHints, Network, Route};
use crate::sim::{
    At, Checker, Fault, History, HistoryEvent, HistoryKind, Report, Stats, TraceEvent, TraceKind,
};
use crate::time::{SimDuration, SimTime};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;
use tokio::time::sleep_until;

/// How to run a lesson live.
#[derive(Clone, Debug)]
pub struct LiveOptions {
    pub seed: u64,
    /// Lesson seconds per real second.
    pub speed: f64,
    /// Keep the nodes' logs here (one `NAME.log` each) instead of in a
    /// temporary directory removed at the end.
    pub logs: Option<PathBuf>,
    /// Write the run's events to this file, in `distlab run --trace`'s
    /// format (sends, deliveries, drops, faults, client operations, and
    /// the gauges sampled 200 times).
    pub trace: Option<PathBuf>,
}

/// What a live run produced: what the checkers concluded, the counters,
/// the history, and what happened in words.
#[derive(Debug)]
pub struct LiveRun {
    /// The protocol's checks and metrics plus the ones every run has (as
    /// [`crate::check::report::full_report`] gives for a simulated run).
    pub report: Report,
    pub stats: Stats,
    pub history: History,
    /// The faults applied, in words: when (protocol time), what, and where
    /// from (`1.2s n1 crashes (timeline)`).
    pub faults: Vec<String>,
    /// What the live runtime did that a reader should know: writes lost in
    /// a crash, writes recovered on restart, faults it cannot apply.
    pub happened: Vec<String>,
    /// How long the run took on the wall clock.
    pub real: Duration,
}

/// Runs `scenario` live, on this machine's loopback network.
pub fn run(scenario: &Scenario, options: &LiveOptions) -> anyhow::Result<LiveRun> {
    use crate::protocols::*;
    anyhow::ensure!(
        options.speed.is_finite() && options.speed > 0.0,
        "--speed must be a positive number, found {}",
        options.speed
    );
    match scenario.protocol.name() {
        "echo" => run_as::<echo::Echo, echo::EchoChecker>(scenario, options),
        "primary-replica" => {
            run_as::<primary_replica::PrimaryReplica, primary_replica::ReplicationChecker>(scenario, options)
        }
        "multi-master" => {
            run_as::<multi_master::MultiMaster, multi_master::MultiMasterChecker>(scenario, options)
        }
        "quorum" => run_as::<quorum::Quorum, quorum::QuorumChecker>(scenario, options),
        "saga" => run_as::<saga::Saga, saga::SagaChecker>(scenario, options),
        "two-phase-commit" => run_as::<
            two_phase_commit::TwoPhaseCommit,
            two_phase_commit::TwoPhaseCommitChecker,
        >(scenario, options),
        other => anyhow::bail!("`distlab live` runs the bundled protocols; `{other}` is not one of them"),
    }
}

/// A datagram's body.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
enum Wire<P: Protocol> {
    Msg(P::Msg),
    Request(ClientRequest<OpOf<P>>),
    /// A reply, with the attempt it answers.
    Reply(ClientRef, ClientReply<AnswerOf<P>>),
}

/// The largest UDP payload.
const MAX_DATAGRAM: usize = 65_507;

fn encode<P: Protocol>(from: EndpointId, to: EndpointId, body: &Wire<P>) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(128);
    bytes.extend_from_slice(&from.0.to_le_bytes());
    bytes.extend_from_slice(&to.0.to_le_bytes());
    bytes.extend_from_slice(&0u64.to_le_bytes()); // numbered when sent
    serde_json::to_writer(&mut bytes, body).expect("protocol messages serialize");
    bytes
}

/// A datagram's header: sender, receiver, message number.
const HEADER: usize = 16;

fn header(bytes: &[u8]) -> Option<(EndpointId, EndpointId, u64)> {
    let from = u32::from_le_bytes(bytes.get(0..4)?.try_into().ok()?);
    let to = u32::from_le_bytes(bytes.get(4..8)?.try_into().ok()?);
    let msg = u64::from_le_bytes(bytes.get(8..HEADER)?.try_into().ok()?);
    Some((EndpointId(from), EndpointId(to), msg))
}

fn decode<P: Protocol>(bytes: &[u8]) -> Option<(EndpointId, Wire<P>)> {
    let (from, ..) = header(bytes)?;
    Some((from, serde_json::from_slice(&bytes[HEADER..]).ok()?))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Up,
    Down,
    Paused,
}

/// The datagrams one link holds, by when they are due (and arrival).
type LinkQueue = BTreeMap<(Instant, u64), Rc<Vec<u8>>>;

/// What the tasks share (one thread: a `RefCell`, never borrowed across
/// an `.await`).
struct World<C> {
    step: u64,
    checker: C,
    history: History,
    stats: Stats,
    network: Network,
    /// Where the network last found each link's state ([`LinkHints`]).
    link_hints: LinkHints,
    /// Each endpoint's socket address (`None`: a node that is down).
    addrs: Vec<Option<SocketAddr>>,
    status: Vec<Status>,
    /// Per node: writes appended to its log and not yet fsynced, and
    /// records fsynced in it.
    unsynced: Vec<usize>,
    durable: Vec<usize>,
    nodes: Vec<Option<JoinHandle<()>>>,
    faults: Vec<String>,
    happened: Vec<String>,
    next_op: u64,
    issued: Vec<u64>,
    next_process: u32,
    /// Datagrams the router holds, per link `(from, to)`, in the order
    /// they are due.
    links: BTreeMap<(u32, u32), LinkQueue>,
    next_datagram: u64,
    next_msg: u64,
    trace: Option<TraceOut>,
}

/// What every task reads: fixed for the run.
struct Shared<P: Protocol, C> {
    world: RefCell<World<C>>,
    params: P::Params,
    cluster: Arc<Cluster>,
    clients: Vec<ClientSpec>,
    seed: u64,
    clock: LiveClock,
    logs: PathBuf,
    router: SocketAddr,
    disk_latency: SimDuration,
}

impl<P: Protocol, C: Checker<P>> Shared<P, C> {
    /// The real instant at protocol time `t`.
    fn real(&self, t: SimTime) -> Instant {
        self.clock.deadline(self.clock.start, SimDuration(t.0))
    }
    /// The real length of a protocol duration.
    fn real_len(&self, d: SimDuration) -> Duration {
        Duration::from_secs_f64(d.0 as f64 / 1e6 / self.clock.speed)
    }
    /// Writes a trace event at the current step (when tracing): of
    /// `kind`, at endpoint `node` with `peer` (`ends`), about message or
    /// operation `msg`.
    fn trace(
        &self,
        w: &mut World<C>,
        kind: TraceKind,
        (node, peer): (u32, u32),
        msg: u64,
        text: impl FnOnce() -> String,
        label: String,
    ) {
        let Some(out) = w.trace.as_mut() else { return };
        let event = TraceEvent {
            step: w.step,
            time_us: self.clock.now().0,
            kind,
            node,
            peer,
            msg,
            text: text(),
            label,
        };
        out.event(&event);
    }
    /// The next step, numbered, at the protocol time now.
    fn at(&self, w: &mut World<C>) -> At {
        w.step += 1;
        At { step: w.step, time: self.clock.now() }
    }
    fn name(&self, e: EndpointId) -> String {
        let nodes = self.cluster.len() as u32;
        if e.0 < nodes {
            return self.cluster.name(NodeId(e.0)).to_string();
        }
        let mut slot = e.0 - nodes;
        for spec in &self.clients {
            if slot < spec.processes {
                return if spec.processes == 1 { spec.name.clone() } else { format!("{}.{slot}", spec.name) };
            }
            slot -= spec.processes;
        }
        format!("endpoint {}", e.0)
    }
    fn describe(&self, f: &Fault) -> String {
        f.describe(|n| self.cluster.name(n).to_string(), |e| self.name(e))
    }
}

fn run_as<P: Protocol, C: Checker<P> + 'static>(
    scenario: &Scenario,
    options: &LiveOptions,
) -> anyhow::Result<LiveRun> {
    let params: P::Params =
        scenario.params.downcast_ref::<P::Params>().expect("parameters were parsed by this protocol").clone();
    let (logs, temporary) = match &options.logs {
        Some(dir) => (dir.clone(), false),
        None => {
            let dir = std::env::temp_dir().join(format!(
                "distlab-live-{}-{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_nanos()
            ));
            (dir, true)
        }
    };
    std::fs::create_dir_all(&logs)
        .map_err(|e| anyhow::anyhow!("creating the log directory {}: {e}", logs.display()))?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let local = tokio::task::LocalSet::new();
    let started = Instant::now();
    let result = local.block_on(&runtime, main::<P, C>(scenario, options, params, logs.clone()));
    drop(local);
    drop(runtime);
    if temporary {
        let _ = std::fs::remove_dir_all(&logs);
    }
    let mut run = result?;
    run.real = started.elapsed();
    Ok(run)
}

async fn main<P: Protocol, C: Checker<P> + 'static>(
    scenario: &Scenario,
    options: &LiveOptions,
    params: P::Params,
    logs: PathBuf,
) -> anyhow::Result<LiveRun> {
    let nodes = scenario.cluster.len();
    let processes: usize = scenario.clients.iter().map(|c| c.processes as usize).sum();
    let endpoints = nodes + processes;
    let router = Rc::new(UdpSocket::bind("127.0.0.1:0").await?);
    let clock = LiveClock::new(options.speed);
    let shared = Rc::new(Shared::<P, C> {
        world: RefCell::new(World {
            step: 0,
            checker: C::new(&params, &scenario.cluster),
            history: History::default(),
            stats: Stats::default(),
            network: Network::new(scenario.network.clone(), endpoints, options.seed),
            link_hints: LinkHints::default(),
            addrs: vec![None; endpoints],
            status: vec![Status::Up; nodes],
            unsynced: vec![0; nodes],
            durable: vec![0; nodes],
            nodes: (0..nodes).map(|_| None).collect(),
            faults: Vec::new(),
            happened: Vec::new(),
            next_op: 0,
            issued: vec![0; scenario.clients.len()],
            next_process: processes as u32,
            links: BTreeMap::new(),
            next_datagram: 0,
            next_msg: 0,
            trace: None,
        }),
        params,
        cluster: scenario.cluster.clone(),
        clients: scenario.clients.clone(),
        seed: options.seed,
        clock,
        logs,
        router: router.local_addr()?,
        disk_latency: scenario.disk_latency,
    });
    if let Some(path) = &options.trace {
        let names = (0..endpoints as u32).map(|e| shared.name(EndpointId(e))).collect();
        let out = TraceOut::create(path, scenario, options.seed, names)
            .map_err(|e| anyhow::anyhow!("writing the trace to {}: {e}", path.display()))?;
        shared.world.borrow_mut().trace = Some(out);
    }
    for n in scenario.cluster.nodes() {
        start_node(&shared, n)?;
    }
    let mut tasks = vec![tokio::task::spawn_local(route(shared.clone(), router))];
    let mut endpoint = nodes as u32;
    for (s, spec) in scenario.clients.iter().enumerate() {
        for p in 0..spec.processes {
            let socket = UdpSocket::bind("127.0.0.1:0").await?;
            shared.world.borrow_mut().addrs[endpoint as usize] = Some(socket.local_addr()?);
            let slot = ClientSlot {
                spec: s as u16,
                endpoint: EndpointId(endpoint),
                process: endpoint - nodes as u32,
                rng: RngStream::new(options.seed, StreamKind::Client, s as u64, p as u64),
                pending: None,
                believed_leader: NodeId(0),
                session_token: 0,
                written: BTreeSet::new(),
                done: false,
            };
            let stagger = spec.interval.0 * (p as u64) / spec.processes.max(1) as u64;
            let first = spec.start.after(SimDuration(stagger));
            tasks.push(tokio::task::spawn_local(client(shared.clone(), slot, socket, first)));
            endpoint += 1;
        }
    }
    let mut faults: Vec<_> =
        scenario.faults_for_seed(options.seed).into_iter().filter(|f| f.step.is_none()).collect();
    faults.sort_by_key(|f| f.at);
    tasks.push(tokio::task::spawn_local(apply_faults(shared.clone(), faults)));
    if options.trace.is_some() {
        tasks.push(tokio::task::spawn_local(sample(shared.clone(), scenario.duration)));
    }
    sleep_until(shared.real(scenario.duration).into()).await;
    for t in &tasks {
        t.abort();
    }
    let mut w = shared.world.borrow_mut();
    for handle in w.nodes.iter_mut().filter_map(Option::take) {
        handle.abort();
    }
    let now = shared.clock.now().min(scenario.duration);
    let mut stats = w.stats;
    stats.events = w.step;
    let report = with_history_metrics(with_counters(w.checker.report(now), stats), &w.history);
    if let (Some(out), Some(path)) = (w.trace.take(), &options.trace) {
        out.finish().map_err(|e| anyhow::anyhow!("writing the trace to {}: {e}", path.display()))?;
    }
    Ok(LiveRun {
        report,
        stats,
        history: std::mem::take(&mut w.history),
        faults: std::mem::take(&mut w.faults),
        happened: std::mem::take(&mut w.happened),
        real: Duration::ZERO,
    })
}

/// Starts node `n` (recovering from its log if it has one) as a task with
/// a new socket.
fn start_node<P: Protocol, C: Checker<P> + 'static>(
    shared: &Rc<Shared<P, C>>,
    n: NodeId,
) -> std::io::Result<()> {
    let name = shared.cluster.name(n).to_string();
    let path = shared.logs.join(format!("{name}.log"));
    let socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
    socket.set_nonblocking(true)?;
    let socket = UdpSocket::from_std(socket)?;
    let mut out = Vec::new();
    let defer = shared.disk_latency.0 > 0;
    let node = LiveNode::<P>::start_with(
        n,
        shared.params.clone(),
        shared.cluster.clone(),
        shared.seed,
        shared.clock,
        &path,
        defer,
        &mut out,
    )?;
    let mut w = shared.world.borrow_mut();
    if let Some(records) = node.recovered() {
        let at = shared.clock.now();
        w.happened.push(format!("{at} {name} recovered {records} write(s) from its log"));
    }
    w.addrs[n.index()] = Some(socket.local_addr()?);
    w.status[n.index()] = Status::Up;
    w.nodes[n.index()] = Some(tokio::task::spawn_local(run_node(shared.clone(), node, socket, out)));
    Ok(())
}

/// One node: its messages, its timers and its disk, until it crashes.
async fn run_node<P: Protocol, C: Checker<P>>(
    shared: Rc<Shared<P, C>>,
    mut node: LiveNode<P>,
    socket: UdpSocket,
    first: Vec<Output<P>>,
) {
    let me = node.me();
    let nodes = shared.cluster.len() as u32;
    let mut buf = vec![0u8; MAX_DATAGRAM + HEADER];
    let mut sync_at: Option<Instant> = None;
    let mut out = first;
    loop {
        {
            let mut w = shared.world.borrow_mut();
            w.unsynced[me.index()] = node.unsynced();
            w.durable[me.index()] = node.durable();
        }
        emit(&shared, me.endpoint(), &socket, &mut out).await;
        while shared.world.borrow().status[me.index()] == Status::Paused {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let wake = [node.next_deadline(), sync_at].into_iter().flatten().min();
        let far = Instant::now() + Duration::from_secs(3600);
        let done = tokio::select! {
            got = socket.recv_from(&mut buf) => match got {
                Ok((len, _)) => match decode::<P>(&buf[..len]) {
                    Some((from, Wire::Msg(msg))) if from.0 < nodes => node.on_message(NodeId(from.0), msg, &mut out),
                    Some((_, Wire::Request(request))) => node.on_client_request(request, &mut out),
                    _ => Ok(()),
                },
                Err(_) => Ok(()), // e.g. an ICMP "port unreachable" from a crashed peer
            },
            _ = sleep_until(wake.unwrap_or(far).into()) => {
                let now = Instant::now();
                let mut done = Ok(());
                if sync_at.is_some_and(|t| t <= now) {
                    sync_at = None;
                    done = node.sync(&mut out);
                }
                done.and_then(|()| node.fire_due_timers(now, &mut out))
            }
        };
        if let Err(e) = done {
            let at = shared.clock.now();
            let name = shared.cluster.name(me);
            shared.world.borrow_mut().happened.push(format!("{at} {name} stopped: its disk failed: {e}"));
            return;
        }
        if node.unsynced() > 0 && sync_at.is_none() {
            sync_at = Some(Instant::now() + shared.real_len(shared.disk_latency));
        }
    }
}

/// Sends what a node's handlers produced and tells the checker what they
/// observed.
async fn emit<P: Protocol, C: Checker<P>>(
    shared: &Shared<P, C>,
    me: EndpointId,
    socket: &UdpSocket,
    out: &mut Vec<Output<P>>,
) {
    // What the handlers observed first: in the simulator a step's effects
    // all happen at that step, before any message it sent is delivered;
    // a send below may yield to the tasks that deliver and handle it.
    let outputs = std::mem::take(out);
    let mut sends = Vec::with_capacity(outputs.len());
    for o in outputs {
        match o {
            Output::Observe(observation) => {
                let mut w = shared.world.borrow_mut();
                let at = shared.at(&mut w);
                w.checker.on_observation(at, NodeId(me.0), &observation);
            }
            Output::Note(_) | Output::Persisted(_) => {}
            send => sends.push(send),
        }
    }
    for o in sends {
        let (bytes, label) = match o {
            Output::Send { to, msg } => {
                let label = msg.label();
                (encode::<P>(me, to.endpoint(), &Wire::Msg(msg)), label)
            }
            Output::Reply { to, reply } => {
                (encode::<P>(me, to.endpoint, &Wire::Reply(to, reply)), format!("reply to op {}", to.op_id))
            }
            _ => continue,
        };
        send(shared, socket, bytes, label).await;
    }
}

/// Numbers a datagram, traces it and hands it to the router.
async fn send<P: Protocol, C: Checker<P>>(
    shared: &Shared<P, C>,
    socket: &UdpSocket,
    mut bytes: Vec<u8>,
    label: String,
) {
    {
        let mut w = shared.world.borrow_mut();
        w.stats.sent += 1;
        w.next_msg += 1;
        let id = w.next_msg;
        bytes[8..HEADER].copy_from_slice(&id.to_le_bytes());
        if let Some((from, to, _)) = header(&bytes) {
            w.step += 1;
            let text = || format!("send {label}");
            shared.trace(&mut w, TraceKind::Send, (from.0, to.0), id, text, label.clone());
        }
        if bytes.len() > MAX_DATAGRAM {
            w.stats.dropped += 1;
            let at = shared.clock.now();
            w.happened.push(format!(
                "{at} a message of {} bytes was too large for a datagram: dropped",
                bytes.len()
            ));
            return;
        }
    }
    // A failed send is a lost datagram, as on any network.
    let _ = socket.send_to(&bytes, shared.router).await;
}

/// The router: decides each datagram's fate with the lesson's network,
/// then delivers it (and a duplicate) at the time it drew.
async fn route<P: Protocol, C: Checker<P> + 'static>(shared: Rc<Shared<P, C>>, socket: Rc<UdpSocket>) {
    let mut buf = vec![0u8; MAX_DATAGRAM + HEADER];
    loop {
        let Ok((len, _)) = socket.recv_from(&mut buf).await else { continue };
        let Some((from, to, id)) = header(&buf[..len]) else { continue };
        let fate = {
            let mut w = shared.world.borrow_mut();
            if to.0 as usize >= w.addrs.len() {
                continue;
            }
            let World { network, link_hints, .. } = &mut *w;
            let fate = network.route(link_hints, from, to, shared.clock.now());
            match fate {
                Route::Drop(why) => {
                    w.stats.dropped += 1;
                    w.step += 1;
                    let text = || format!("message {id} dropped ({why:?})");
                    shared.trace(&mut w, TraceKind::Drop, (to.0, from.0), id, text, String::new());
                }
                Route::Deliver { duplicate_at: Some(_), .. } => {
                    w.stats.duplicated += 1;
                    w.step += 1;
                    let text = || format!("message {id} duplicated");
                    shared.trace(&mut w, TraceKind::Duplicate, (from.0, to.0), id, text, String::new());
                }
                Route::Deliver { .. } => {}
            }
            fate
        };
        let Route::Deliver { at, duplicate_at } = fate else { continue };
        let bytes = Rc::new(buf[..len].to_vec());
        for at in std::iter::once(at).chain(duplicate_at) {
            let due = shared.real(at);
            {
                let mut w = shared.world.borrow_mut();
                w.next_datagram += 1;
                let seq = w.next_datagram;
                w.links.entry((from.0, to.0)).or_default().insert((due, seq), bytes.clone());
            }
            let link = (from.0, to.0);
            tokio::task::spawn_local(deliver(shared.clone(), socket.clone(), link, due));
        }
    }
}

/// Delivers what is due on link `link` by `due`, in the order the
/// network decided (a timer of the runtime has a millisecond's grain:
/// two datagrams due within one may wake in either order, and a lesson
/// whose links keep order must not see them swapped).
async fn deliver<P: Protocol, C: Checker<P>>(
    shared: Rc<Shared<P, C>>,
    socket: Rc<UdpSocket>,
    link: (u32, u32),
    due: Instant,
) {
    sleep_until(due.into()).await;
    let to = link.1 as usize;
    loop {
        let (bytes, addr) = {
            let mut w = shared.world.borrow_mut();
            let Some(queue) = w.links.get_mut(&link) else { return };
            let Some(entry) = queue.first_entry() else { return };
            if entry.key().0 > due.max(Instant::now()) {
                return; // its own task delivers it
            }
            let bytes = entry.remove();
            let down = to < w.status.len() && w.status[to] == Status::Down;
            let id = header(&bytes).map_or(0, |(.., id)| id);
            w.step += 1;
            match w.addrs[to] {
                Some(addr) if !down => {
                    w.stats.delivered += 1;
                    let text = || format!("deliver message {id}");
                    shared.trace(&mut w, TraceKind::Deliver, (link.1, link.0), id, text, String::new());
                    (bytes, addr)
                }
                _ => {
                    w.stats.dropped += 1;
                    let text = || format!("message {id} dropped (the receiver is down)");
                    shared.trace(&mut w, TraceKind::Drop, (link.1, link.0), id, text, String::new());
                    continue;
                }
            }
        };
        let _ = socket.send_to(&bytes, addr).await;
    }
}

/// One client process: issues the workload's operations, one at a time,
/// with the simulator's client rules, and records the history.
async fn client<P: Protocol, C: Checker<P>>(
    shared: Rc<Shared<P, C>>,
    mut slot: ClientSlot<OpOf<P>>,
    socket: UdpSocket,
    first: SimTime,
) {
    let spec = shared.clients[slot.spec as usize].clone();
    let nodes = shared.cluster.len() as u32;
    let mut buf = vec![0u8; MAX_DATAGRAM + HEADER];
    sleep_until(shared.real(first).into()).await;
    loop {
        let op_id = {
            let mut w = shared.world.borrow_mut();
            let issued = &mut w.issued[slot.spec as usize];
            if *issued >= spec.ops {
                return;
            }
            *issued += 1;
            w.next_op += 1;
            w.next_op
        };
        let op = <P::Workload as Workload>::next_op(&shared.params, &spec, &mut slot.rng, op_id);
        let target = slot.choose_target::<P::Workload>(&spec, &op, nodes);
        let invoked_at = shared.clock.now();
        slot.pending = Some(Pending { op_id, op: op.clone(), attempt: 0, invoked_at, target, redirects: 0 });
        shared.world.borrow_mut().stats.ops_invoked += 1;
        record(&shared, &slot, HistoryKind::Invoke, op_id, op, AnswerOf::<P>::default(), None);
        let (outcome, from) = loop {
            let Some(p) = slot.pending.as_ref() else { return };
            let request = ClientRequest {
                from: ClientRef { endpoint: slot.endpoint, op_id, attempt: p.attempt },
                idempotency_key: op_id,
                op: p.op.clone(),
                invoked_at_us: invoked_at.0 as i64,
                session: if spec.read_your_writes == crate::nodes::client::ReadYourWrites::Session {
                    slot.session_token
                } else {
                    0
                },
            };
            let attempt = p.attempt;
            let bytes = encode::<P>(slot.endpoint, p.target.endpoint(), &Wire::Request(request));
            send(&shared, &socket, bytes, format!("op {op_id} attempt {attempt}")).await;
            let deadline = Instant::now() + shared.real_len(spec.timeout);
            let (action, from) = loop {
                tokio::select! {
                    got = socket.recv_from(&mut buf) => {
                        let Ok((len, _)) = got else { continue };
                        let Some((from, Wire::Reply(to, reply))) = decode::<P>(&buf[..len]) else { continue };
                        // A late or duplicated reply names an operation
                        // this process has finished with: ignored.
                        match slot.on_reply::<P::Workload>(&spec, to.op_id, &reply, nodes) {
                            ClientAction::Ignore => continue,
                            action => break (action, (from.0 < nodes).then_some(NodeId(from.0))),
                        }
                    }
                    _ = sleep_until(deadline.into()) => {
                        break (slot.on_timeout::<P::Workload>(&spec, op_id, attempt, nodes), None);
                    }
                }
            };
            match action {
                ClientAction::Send(_) | ClientAction::Ignore => continue,
                outcome => break (outcome, from),
            }
        };
        let Some(p) = slot.pending.take() else { return };
        match outcome {
            ClientAction::Complete { ok, answer } => {
                let kind = if ok { HistoryKind::Ok } else { HistoryKind::Fail };
                {
                    let mut w = shared.world.borrow_mut();
                    if ok { w.stats.ops_ok += 1 } else { w.stats.ops_fail += 1 }
                }
                record(&shared, &slot, kind, op_id, p.op, answer, from);
            }
            _ => {
                shared.world.borrow_mut().stats.ops_info += 1;
                record(&shared, &slot, HistoryKind::Info, op_id, p.op, AnswerOf::<P>::default(), None);
                // Jepsen's rule: a process whose last operation is unknown
                // is retired; a fresh one takes the slot.
                let mut w = shared.world.borrow_mut();
                slot.process = w.next_process;
                w.next_process += 1;
                slot.written.clear();
                slot.session_token = 0;
            }
        }
        tokio::time::sleep(shared.real_len(spec.interval)).await;
    }
}

/// Records a history event and hands it to the checker.
fn record<P: Protocol, C: Checker<P>>(
    shared: &Shared<P, C>,
    slot: &ClientSlot<OpOf<P>>,
    kind: HistoryKind,
    op_id: u64,
    op: OpOf<P>,
    value: AnswerOf<P>,
    node: Option<NodeId>,
) {
    let answer = if kind == HistoryKind::Invoke { None } else { Some(&value) };
    let register = <P::Workload as Workload>::as_register(&op, answer);
    let mut w = shared.world.borrow_mut();
    let at = shared.at(&mut w);
    let event = HistoryEvent {
        step: at.step,
        time: at.time,
        process: slot.process,
        client: slot.spec,
        op_id,
        kind,
        op,
        value,
        node,
        register,
    };
    w.checker.on_history(at, &event);
    let erased = event.erase();
    if w.trace.is_some() {
        let (me, peer) = (slot.endpoint.0, node.map_or(crate::sim::trace::NONE, |n| n.0));
        let process = slot.process;
        let (trace_kind, text) = match kind {
            HistoryKind::Invoke => (TraceKind::Invoke, format!("process {process} invokes {}", erased.op)),
            _ => (
                TraceKind::Complete,
                format!("process {process}: {} -> {kind:?} {}", erased.op, erased.value),
            ),
        };
        shared.trace(&mut w, trace_kind, (me, peer), op_id, || text, String::new());
        if let Some(out) = w.trace.as_mut() {
            out.history(&erased);
        }
    }
    w.history.events.push(erased);
}

/// Samples the gauges for the trace, as `distlab run --trace` does: at
/// [`TRACE_SAMPLES`] evenly spaced times and the start.
async fn sample<P: Protocol, C: Checker<P>>(shared: Rc<Shared<P, C>>, duration: SimTime) {
    for i in 0..=TRACE_SAMPLES {
        let time = sample_time(duration, i, TRACE_SAMPLES);
        sleep_until(shared.real(time).into()).await;
        let w = shared.world.borrow();
        let s = w.stats;
        let in_flight = (s.sent + s.duplicated).saturating_sub(s.delivered + s.dropped);
        let mut gauges = vec![("messages_in_flight", in_flight as f64)];
        gauges.extend(w.checker.gauges(time));
        if let Some(out) = w.trace.as_ref() {
            out.sample(&Sample { time, gauges });
        }
    }
}

/// The timeline and the nemesis, applied at their times.
async fn apply_faults<P: Protocol, C: Checker<P> + 'static>(
    shared: Rc<Shared<P, C>>,
    faults: Vec<crate::sim::TimedFault>,
) {
    for f in faults {
        sleep_until(shared.real(f.at).into()).await;
        if matches!(f.fault, Fault::Note { .. }) {
            continue;
        }
        let now = shared.clock.now();
        let said = shared.describe(&f.fault);
        let applied = apply(&shared, &f.fault);
        let mut w = shared.world.borrow_mut();
        match applied {
            Ok(()) => {
                w.faults.push(format!("{now} {said} ({})", origin_name(f.origin)));
                let at = shared.at(&mut w);
                w.checker.on_fault(at, &f.fault);
                let node = match &f.fault {
                    Fault::Crash(n) | Fault::Restart(n) | Fault::Pause(n) | Fault::Resume(n) => n.0,
                    _ => crate::sim::trace::NONE,
                };
                let kind = match &f.fault {
                    Fault::Crash(_) => TraceKind::Crash,
                    Fault::Restart(_) => TraceKind::Restart,
                    Fault::Pause(_) => TraceKind::Pause,
                    Fault::Resume(_) => TraceKind::Resume,
                    Fault::Heal => TraceKind::Heal,
                    Fault::Link { .. } => TraceKind::Link,
                    _ => TraceKind::Partition,
                };
                let none = crate::sim::trace::NONE;
                shared.trace(&mut w, kind, (node, none), 0, || said.clone(), String::new());
            }
            Err(why) => w.happened.push(format!("{now} {said}: not applied live ({why})")),
        }
    }
}

fn apply<P: Protocol, C: Checker<P> + 'static>(
    shared: &Rc<Shared<P, C>>,
    fault: &Fault,
) -> Result<(), String> {
    let mut w = shared.world.borrow_mut();
    match fault {
        Fault::Crash(n) => {
            if let Some(task) = w.nodes[n.index()].take() {
                task.abort();
                let lost = std::mem::take(&mut w.unsynced[n.index()]);
                let kept = w.durable[n.index()];
                let (at, name) = (shared.clock.now(), shared.cluster.name(*n));
                w.happened.push(format!(
                    "{at} {name} crashed: {kept} fsynced write(s) stay in its log, \
                     {lost} appended and not yet fsynced are lost"
                ));
            }
            w.status[n.index()] = Status::Down;
            w.addrs[n.index()] = None;
        }
        Fault::Restart(n) => {
            if w.status[n.index()] == Status::Down {
                drop(w);
                start_node(shared, *n).map_err(|e| format!("restarting failed: {e}"))?;
            }
        }
        Fault::Pause(n) => {
            if w.status[n.index()] == Status::Up {
                w.status[n.index()] = Status::Paused;
            }
        }
        Fault::Resume(n) => {
            if w.status[n.index()] == Status::Paused {
                w.status[n.index()] = Status::Up;
            }
        }
        Fault::Partition(groups) => w.network.partition(groups),
        Fault::Cut { from, to } => {
            for f in from {
                for t in to {
                    w.network.cut(*f, *t);
                }
            }
        }
        Fault::Heal => w.network.heal(),
        Fault::Link { from, to, faults } => w.network.set_link_faults(*from, *to, faults.clone()),
        Fault::Clock { .. } => return Err("live nodes read this machine's clock".into()),
        Fault::Command { .. } => return Err("operator commands are for the simulator and the TUI".into()),
        Fault::Choose(_) => return Err("live nodes make their own choices".into()),
        _ => return Err("an intervention on one simulated message".into()),
    }
    Ok(())
}
