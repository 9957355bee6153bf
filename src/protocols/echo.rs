//! Echo: the smallest protocol, for learning the network model and for
//! benchmarking the engine.
//!
//! # Model
//! One node, the *pinger* (the first node unless `pinger` says otherwise),
//! keeps `window` pings in flight to every other node, the *servers*. A
//! server answers each `Ping(seq)` with `Pong(seq)`; the pong of a ping in
//! flight lets the pinger send the next ping to that server. This is the
//! shape other simulators are benchmarked with (one client, four echo
//! servers, 16 requests in flight per server), so our figures compare side
//! by side.
//!
//! # Invariant
//! At most `window` pings are in flight to each server: the pinger
//! remembers the sequence numbers it is waiting for, and a pong for any
//! other (a duplicate) sends nothing. Without that rule a duplicated pong
//! would add a ping to the window, and duplication without loss would grow
//! the traffic without bound.
//!
//! # What it shows
//! Everything here is the network's doing: the round-trip time is two
//! latency draws; a lost ping or pong shrinks the window for good (echo
//! does not retransmit — watch `outstanding` grow under loss or a
//! partition); a duplicated message produces a duplicate pong, which the
//! pinger notices and ignores; reordering makes a pong overtake an earlier
//! one.
//!
//! # Memory
//! The pinger keeps the pings it waits for (at most `window` per server),
//! the checker the same plus counters: nothing grows with the length of a
//! run.
//!
//! # Durable state
//! None: echo keeps nothing on disk, so a crashed server forgets nothing
//! that matters, and a crashed pinger restarts with a fresh window.

use crate::nodes::{
    ClientReply, ClientRequest, Cluster, Context, KvOp, Message, NodeId, NodeView, Protocol, SmallMap,
};
use crate::scenario::{ParamContext, ScenarioError, raw::S};
use crate::sim::monitor::{CheckInfo, MetricInfo, Unit};
use crate::sim::{At, Checker, Report, Verdict};
use crate::time::{SimDuration, SimTime};
use serde::Deserialize;
use std::collections::VecDeque;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Echo;

#[derive(Clone, Debug)]
pub struct EchoParams {
    pub pinger: NodeId,
    /// Pings in flight per server.
    pub window: u32,
    /// A ping unanswered for longer than this breaks `every-ping-answered`.
    pub patience: SimDuration,
}

#[derive(Deserialize, Default, Debug, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "EchoParams")]
pub struct RawEchoParams {
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pinger: Option<S<String>>,
    #[serde(default)]
    #[schemars(with = "Option<u32>")]
    window: Option<S<u32>>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    patience: Option<S<String>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum EchoMsg {
    Ping { seq: u64 },
    Pong { seq: u64 },
}

impl Message for EchoMsg {
    const KINDS: &'static [&'static str] = &["ping", "pong"];
    fn kind(&self) -> &'static str {
        match self {
            EchoMsg::Ping { .. } => "ping",
            EchoMsg::Pong { .. } => "pong",
        }
    }
    fn label(&self) -> String {
        match self {
            EchoMsg::Ping { seq } => format!("Ping {seq}"),
            EchoMsg::Pong { seq } => format!("Pong {seq}"),
        }
    }
}

/// A node's state: the pinger's bookkeeping per server (servers keep only
/// a count).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EchoState {
    /// The pinger's pings, per server (empty on a server).
    servers: SmallMap<NodeId, Pings>,
    /// Pongs received, duplicates included (pinger), or pings answered
    /// (server).
    count: u64,
}

/// The pings sent to one server.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Pings {
    /// The last sequence number sent.
    last_seq: u64,
    /// The pings not answered yet, oldest first (at most `window`). Pongs
    /// mostly come back in order, so the answered ping is usually the
    /// oldest; otherwise it is found by binary search.
    waiting: VecDeque<u64>,
}

impl Pings {
    /// The next ping's sequence number, now waiting for its pong.
    fn next(&mut self) -> u64 {
        self.last_seq += 1;
        self.waiting.push_back(self.last_seq);
        self.last_seq
    }

    /// Takes the ping `seq` as answered; `false` if it was not waiting (a
    /// duplicate pong).
    fn answer(&mut self, seq: u64) -> bool {
        if self.waiting.front() == Some(&seq) {
            self.waiting.pop_front();
            return true;
        }
        match self.waiting.binary_search(&seq) {
            Ok(i) => self.waiting.remove(i).is_some(),
            Err(_) => false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum EchoObservation {
    PingSent { server: NodeId, seq: u64 },
    PongReceived { server: NodeId, seq: u64 },
}

impl Echo {
    fn send_ping(ctx: &mut Context<'_, Self>, server: NodeId, seq: u64) {
        ctx.send(server, EchoMsg::Ping { seq });
        ctx.observe(EchoObservation::PingSent { server, seq });
    }
}

impl Protocol for Echo {
    const NAME: &'static str = "echo";
    type Params = EchoParams;
    type State = EchoState;
    type Durable = ();
    type DurableWrite = ();
    type Msg = EchoMsg;
    type Timer = ();
    type Observation = EchoObservation;
    type Workload = crate::nodes::KeyValue<EchoParams>;

    fn init(ctx: &mut Context<'_, Self>) -> EchoState {
        let mut state = EchoState { servers: SmallMap::new(), count: 0 };
        if ctx.me() == ctx.params().pinger {
            let servers: Vec<NodeId> = ctx.peers().collect();
            for server in servers {
                let pings = state.servers.entry(server).or_default();
                for _ in 0..ctx.params().window {
                    Self::send_ping(ctx, server, pings.next());
                }
            }
        }
        state
    }

    fn recover(ctx: &mut Context<'_, Self>, _disk: &()) -> EchoState {
        Self::init(ctx)
    }

    fn on_message(state: &mut EchoState, ctx: &mut Context<'_, Self>, from: NodeId, msg: EchoMsg) {
        match msg {
            EchoMsg::Ping { seq } => {
                state.count += 1;
                ctx.send(from, EchoMsg::Pong { seq });
            }
            EchoMsg::Pong { seq } => {
                state.count += 1;
                ctx.observe(EchoObservation::PongReceived { server: from, seq });
                // The pong of a waiting ping lets the next ping go; a
                // duplicate pong (its ping was answered already) does not.
                if let Some(pings) = state.servers.get_mut(&from)
                    && pings.answer(seq)
                {
                    Self::send_ping(ctx, from, pings.next());
                }
            }
        }
    }

    fn on_timer(_: &mut EchoState, _: &mut Context<'_, Self>, _: ()) {}

    fn on_client_request(_: &mut EchoState, ctx: &mut Context<'_, Self>, request: ClientRequest<KvOp>) {
        ctx.reply(request.from, ClientReply::fail("echo serves no client operations"));
    }

    fn apply_write(_: &mut (), _: &()) {}

    fn view(state: &EchoState, _: &(), cluster: &Cluster) -> NodeView {
        let pinger = !state.servers.is_empty();
        let mut v = NodeView::new(if pinger { "pinger" } else { "server" }, None);
        let s = v.section(if pinger { "pings" } else { "answered" });
        if pinger {
            s.row("pongs received", state.count);
            for (server, pings) in &state.servers {
                s.row(format!("sent to {}", cluster.name(*server)), pings.last_seq);
            }
        } else {
            s.row("pings answered", state.count);
        }
        v
    }
}

impl super::Configure for Echo {
    type Raw = RawEchoParams;
    const SUMMARY: &'static str =
        "one pinger keeps a window of pings in flight to echo servers: the network model, and the benchmark";

    fn configure(raw: RawEchoParams, cx: &ParamContext<'_>) -> Result<EchoParams, ScenarioError> {
        let pinger = raw.pinger.as_ref().map(|p| cx.node(p)).transpose()?.unwrap_or(NodeId(0));
        let window = raw.window.as_ref().map_or(16, |w| *w.get_ref());
        if !(1..=1024).contains(&window) {
            return Err(
                cx.error(raw.window.as_ref().expect("given").span(), "window must be between 1 and 1024")
            );
        }
        if cx.cluster.len() < 2 {
            return Err(
                cx.error(cx.nodes_span.clone(), "echo needs at least two nodes: a pinger and a server")
            );
        }
        let patience =
            raw.patience.as_ref().map(|p| cx.duration(p)).transpose()?.unwrap_or(SimDuration::from_secs(1));
        Ok(EchoParams { pinger, window, patience })
    }
}

/// Watches pings and pongs: round-trip times, duplicates, reordering, and
/// pings left unanswered. It keeps the unanswered pings (at most `window`
/// per server) and counters, never the answered ones.
#[derive(Clone, Debug, Default)]
pub struct EchoChecker {
    /// Send time of every unanswered ping, by `(server, seq)`.
    outstanding: Outstanding,
    /// Pings answered (a first pong arrived).
    answered: u64,
    /// Highest pong sequence seen per server (for reordering), by index.
    highest: Vec<u64>,
    pongs: u64,
    duplicates: u64,
    reordered: u64,
    rtt_sum_us: u128,
    rtt_max_us: u64,
    patience: SimDuration,
    names: std::sync::Arc<[String]>,
}

/// The unanswered pings: per server, `(seq, sent)` in order of `seq`.
/// Pings go out in order and pongs mostly come back in order, so a ping
/// joins at the back and its pong usually takes the front; the others are
/// found by binary search. (A map on `(server, seq)` cost more than the
/// rest of the run's events together.)
#[derive(Clone, Debug, Default)]
struct Outstanding {
    by_server: Vec<VecDeque<(u64, SimTime)>>,
    len: usize,
}

impl Outstanding {
    /// Ping `seq` to `server` was sent at `sent` (a restarted pinger
    /// numbers its pings from 1 again: the later send time counts).
    fn insert(&mut self, server: NodeId, seq: u64, sent: SimTime) {
        if self.by_server.len() <= server.index() {
            self.by_server.resize_with(server.index() + 1, VecDeque::new);
        }
        let pings = &mut self.by_server[server.index()];
        if pings.back().is_none_or(|&(last, _)| last < seq) {
            pings.push_back((seq, sent));
            self.len += 1;
            return;
        }
        match pings.binary_search_by_key(&seq, |&(s, _)| s) {
            Ok(i) => pings[i].1 = sent,
            Err(i) => {
                pings.insert(i, (seq, sent));
                self.len += 1;
            }
        }
    }

    /// Takes ping `seq` to `server` as answered: when it was sent, or
    /// `None` if it was not waiting.
    fn remove(&mut self, server: NodeId, seq: u64) -> Option<SimTime> {
        let pings = self.by_server.get_mut(server.index())?;
        let sent = if pings.front().is_some_and(|&(first, _)| first == seq) {
            pings.pop_front().map(|(_, sent)| sent)
        } else {
            let i = pings.binary_search_by_key(&seq, |&(s, _)| s).ok()?;
            pings.remove(i).map(|(_, sent)| sent)
        };
        self.len -= 1;
        sent
    }

    /// Every unanswered ping, in order of `(server, seq)`.
    fn iter(&self) -> impl Iterator<Item = ((NodeId, u64), SimTime)> + '_ {
        self.by_server.iter().enumerate().flat_map(|(server, pings)| {
            pings.iter().map(move |&(seq, sent)| ((NodeId(server as u32), seq), sent))
        })
    }
}

impl Checker<Echo> for EchoChecker {
    const CHECKS: &'static [CheckInfo] =
        &[CheckInfo::new("every-ping-answered", "no ping waits longer than `patience` for its pong")];
    const METRICS: &'static [MetricInfo] = &[
        MetricInfo::new("pongs", Unit::Count, "pongs received (including duplicates)"),
        MetricInfo::new("duplicate_pongs", Unit::Count, "pongs for a ping already answered"),
        MetricInfo::new("reordered_pongs", Unit::Count, "pongs that arrived after a later ping's pong"),
        MetricInfo::new("outstanding", Unit::Count, "pings never answered"),
        MetricInfo::new("rtt_mean_ms", Unit::Ms, "mean round-trip time"),
        MetricInfo::new("rtt_max_ms", Unit::Ms, "largest round-trip time"),
    ];

    fn new(params: &EchoParams, cluster: &Cluster) -> Self {
        EchoChecker { patience: params.patience, names: cluster.names.clone().into(), ..Default::default() }
    }

    fn on_observation(&mut self, at: At, _node: NodeId, obs: &EchoObservation) {
        match *obs {
            EchoObservation::PingSent { server, seq } => {
                self.outstanding.insert(server, seq, at.time);
            }
            EchoObservation::PongReceived { server, seq } => {
                self.pongs += 1;
                if let Some(sent) = self.outstanding.remove(server, seq) {
                    let rtt = at.time.since(sent).0;
                    self.rtt_sum_us += rtt as u128;
                    self.rtt_max_us = self.rtt_max_us.max(rtt);
                    self.answered += 1;
                } else {
                    self.duplicates += 1;
                }
                if self.highest.len() <= server.index() {
                    self.highest.resize(server.index() + 1, 0);
                }
                let high = &mut self.highest[server.index()];
                if seq < *high {
                    self.reordered += 1;
                }
                *high = (*high).max(seq);
            }
        }
    }

    fn report(&self, now: SimTime) -> Report {
        let late = self.outstanding.iter().find(|(_, sent)| now.since(*sent) > self.patience);
        let answered = self.answered as f64;
        let mut r = Report::default();
        r.checks.push(Verdict {
            name: "every-ping-answered",
            holds: late.is_none(),
            detail: match late {
                Some(((server, seq), sent)) => {
                    format!(
                        "ping {seq} to {} sent at {sent} was not answered within its patience of {}",
                        self.names[server.index()],
                        self.patience
                    )
                }
                None => format!("{} pings answered", self.answered),
            },
            first_violation: None,
            causes: Vec::new(),
        });
        r.metrics.insert("pongs", self.pongs as f64);
        r.metrics.insert("duplicate_pongs", self.duplicates as f64);
        r.metrics.insert("reordered_pongs", self.reordered as f64);
        r.metrics.insert("outstanding", self.outstanding.len as f64);
        r.metrics.insert(
            "rtt_mean_ms",
            if answered > 0.0 { self.rtt_sum_us as f64 / answered / 1000.0 } else { 0.0 },
        );
        r.metrics.insert("rtt_max_ms", self.rtt_max_us as f64 / 1000.0);
        r
    }

    /// Pings unanswered for longer than `patience` (the pinger never
    /// re-sends one): what breaks `every-ping-answered`. The pinger never
    /// stops, so a ping still on its way is not pending.
    fn pending(&self, now: SimTime, _nodes: &[crate::sim::NodeSummary]) -> Vec<String> {
        let lost: Vec<_> =
            self.outstanding.iter().filter(|(_, sent)| now.since(*sent) > self.patience).collect();
        let mut out: Vec<String> = lost
            .iter()
            .take(5)
            .map(|((server, seq), sent)| {
                format!("ping {seq} to {} (sent at {sent}) is unanswered", self.names[server.index()])
            })
            .collect();
        if lost.len() > 5 {
            out.push(format!("and {} more pings", lost.len() - 5));
        }
        out
    }
}

/// The pinger never re-sends a ping: a lost one stays unanswered.
impl super::Promises for Echo {
    fn promise(_: &EchoParams, _nodes: usize, check: &str) -> Result<(), &'static str> {
        match check {
            "every-ping-answered" | super::LIVENESS => Err("a lost ping is never sent again"),
            super::LINEARIZABILITY => Err("its clients do not read or write"),
            _ => Err("not a check of this protocol"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{NodeId, Outstanding, SimTime};
    use std::collections::BTreeMap;

    /// The unanswered pings behave as a map on `(server, seq)`: pings out
    /// of order, sent again with a later time (a restarted pinger), pongs
    /// for pings never sent, out of order and twice; the same answers and
    /// the same iteration order as a `BTreeMap`.
    #[test]
    fn outstanding_pings_are_a_map_on_server_and_seq() {
        let mut pings = Outstanding::default();
        let mut model: BTreeMap<(NodeId, u64), SimTime> = BTreeMap::new();
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut last = [0u64; 3];
        for t in 0..20_000u64 {
            let r = next();
            let server = NodeId((r % 3) as u32 + 1);
            let slot = (r % 3) as usize;
            let seq = match (r >> 8) % 10 {
                // Mostly the next ping, sometimes an old or a future one.
                0..=5 => {
                    last[slot] += 1;
                    last[slot]
                }
                6 => (r >> 16) % (last[slot] + 2),
                _ => last[slot].saturating_sub((r >> 16) % 20),
            };
            if (r >> 12) % 2 == 0 {
                pings.insert(server, seq, SimTime(t));
                model.insert((server, seq), SimTime(t));
            } else {
                assert_eq!(
                    pings.remove(server, seq),
                    model.remove(&(server, seq)),
                    "pong {seq} from {server:?}"
                );
            }
            assert_eq!(pings.len, model.len());
        }
        let listed: Vec<_> = pings.iter().collect();
        let want: Vec<_> = model.into_iter().collect();
        assert_eq!(listed, want);
    }
}
