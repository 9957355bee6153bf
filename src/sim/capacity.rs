//! The capacity model: each node is one server with a bounded queue
//! (`[capacity]` in a scenario; off by default, when every node handles
//! every message the instant it arrives, as before).
//!
//! With capacity on, a message from another node or a client request that
//! arrives at a node takes a *service time* drawn from the node's own
//! service stream (`message` or `request`). The node serves one at a time,
//! in arrival order: a message that arrives while the node is busy waits
//! in the node's queue, and its handler runs when its service *ends*
//! (`busy_until`), so whatever the handler sends leaves then, and a
//! client's latency includes the wait. The queue holds at most `queue`
//! messages behind the one in service; one that arrives when it is full is
//! not served:
//!
//! - `when_full = "reject"` (default): a client request gets a *fail*
//!   answer at once ("overloaded": it certainly did not happen; the client
//!   records `fail`), a peer message is dropped;
//! - `when_full = "drop"`: both are dropped (the client times out and
//!   retries, or records `info`).
//!
//! What costs no service time: timers, messages a node sends itself
//! (loopbacks), disk completions, replies to clients (clients have no
//! capacity model). A crash empties the queue (what waited is lost, like
//! any message to a crashed node); a paused node's server stops: what
//! finishes service while it is paused is held and handled on resume.
//!
//! A waiting message stays an ordinary delivery event, rescheduled for
//! the end of its service; the node's `queued` set of message ids tells a
//! served delivery from a new arrival. (A separate event kind would make
//! every queued event larger, and the engine slower with capacity off.)
//!
//! Off, none of this runs: the engine checks one `Option` per delivery.

use super::network::LatencyDist;
use super::time::SimTime;
use crate::rng::RngStream;

/// What a node does with a message that arrives when its queue is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WhenFull {
    /// A client request gets a *fail* answer ("overloaded"); a peer message
    /// is dropped.
    Reject,
    /// Dropped, whoever sent it.
    Drop,
}

/// The capacity of every node (see the module docs).
#[derive(Clone, Debug, PartialEq, Hash)]
pub struct Capacity {
    /// Service time of one message from another node (`None`: none).
    pub message: Option<LatencyDist>,
    /// Service time of one client request (`None`: none).
    pub request: Option<LatencyDist>,
    /// Messages that may wait behind the one in service.
    pub queue: u32,
    pub when_full: WhenFull,
    /// Service times of messages of these kinds (`[capacity.kind]`),
    /// instead of `message` (`None`: free).
    pub by_kind: Vec<(&'static str, Option<LatencyDist>)>,
    /// Disk bandwidth, bytes per second (`None`: unlimited).
    pub disk_bandwidth: Option<u64>,
}

impl Capacity {
    /// The service time of a message of `kind` from another node: its
    /// kind's, else `message`.
    pub fn message_service(&self, kind: &str) -> Option<&LatencyDist> {
        match self.by_kind.iter().find(|(k, _)| *k == kind) {
            Some((_, dist)) => dist.as_ref(),
            None => self.message.as_ref(),
        }
    }
}

/// One node's server: when it is free, what waits, and its counters.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct NodeLoad {
    /// When the last accepted message's service ends.
    pub(super) busy_until: SimTime,
    /// Ids of the messages accepted and not yet handled (the one in
    /// service too). Each one's delivery is rescheduled for the end of its
    /// service: a delivery whose id is here has been served.
    pub(super) queued: std::collections::BTreeSet<u64>,
    /// The node's service-time draws.
    pub(super) rng: RngStream,
    /// Messages handled after their service.
    pub(super) served: u64,
    /// Service time accepted in all, µs.
    pub(super) busy_us: u64,
    /// Messages refused because the queue was full.
    pub(super) refused: u64,
    /// The most messages that waited at once (in service included).
    pub(super) waiting_max: u32,
    /// When the disk finishes transferring the writes issued so far
    /// (`disk_bandwidth`).
    pub(super) disk_busy_until: SimTime,
    /// The service intervals (start, end), µs, that may still overlap the
    /// last [`BUSY_WINDOW`] (contiguous ones merged): the gauge `busy`.
    pub(super) recent: std::collections::VecDeque<(u64, u64)>,
}

/// The window of the gauge `busy`: a node's utilisation over the last
/// 100ms.
pub const BUSY_WINDOW_US: u64 = 100_000;

impl NodeLoad {
    pub(super) fn new(rng: RngStream) -> Self {
        NodeLoad {
            busy_until: SimTime::ZERO,
            queued: std::collections::BTreeSet::new(),
            rng,
            served: 0,
            busy_us: 0,
            refused: 0,
            waiting_max: 0,
            disk_busy_until: SimTime::ZERO,
            recent: std::collections::VecDeque::new(),
        }
    }

    /// Service accepted at `now` for the interval `start .. end`: kept for
    /// the gauge, and what can no longer overlap a window ending at `now`
    /// or later forgotten.
    pub(super) fn serving(&mut self, now: SimTime, start: SimTime, end: SimTime) {
        let horizon = now.0.saturating_sub(BUSY_WINDOW_US);
        while self.recent.front().is_some_and(|&(_, e)| e <= horizon) {
            self.recent.pop_front();
        }
        match self.recent.back_mut() {
            Some((_, e)) if *e == start.0 => *e = end.0,
            _ => self.recent.push_back((start.0, end.0)),
        }
    }

    /// The share of the last [`BUSY_WINDOW_US`] before `now` (of the run so
    /// far, early on) this node spent serving.
    pub(super) fn busy_share(&self, now: SimTime) -> f64 {
        let from = now.0.saturating_sub(BUSY_WINDOW_US);
        let window = now.0 - from;
        if window == 0 {
            return 0.0;
        }
        let busy: u64 = self.recent.iter().map(|&(s, e)| e.min(now.0).saturating_sub(s.max(from))).sum();
        busy as f64 / window as f64
    }

    /// A durable write of `bytes` issued at `now` to a disk of `bandwidth`
    /// bytes a second: the disk transfers one write at a time, each for
    /// bytes / bandwidth (in whole µs: a write of less than a µs's worth
    /// is free), after those issued before.
    /// Returns when its transfer ends (the write is on disk `disk_latency`
    /// after that).
    pub(super) fn disk_transfer(&mut self, now: SimTime, bytes: u64, bandwidth: u64) -> SimTime {
        let us = (bytes as u128 * 1_000_000 / bandwidth as u128) as u64;
        let done = self.disk_busy_until.max(now).after(super::time::SimDuration(us));
        self.disk_busy_until = done;
        done
    }
}

/// The size of a durable write, in bytes: its JSON encoding (what `distlab
/// live` appends to a node's log).
pub(super) fn write_size<W: serde::Serialize>(write: &W) -> u64 {
    struct Count(u64);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len() as u64;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut n = Count(0);
    serde_json::to_writer(&mut n, write).expect("a durable write encodes as JSON");
    n.0
}

/// A node's load over a run so far, for metrics and views.
#[derive(Clone, Debug, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct LoadSummary {
    pub node: String,
    /// Messages and requests handled after their service.
    pub served: u64,
    /// Share of the time so far the node was serving, 0 to 1.
    pub utilisation: f64,
    /// Messages waiting now (the one in service included).
    pub waiting: u32,
    /// The most that waited at once.
    pub waiting_max: u32,
    /// Messages and requests refused because the queue was full.
    pub refused: u64,
}

impl LoadSummary {
    /// A node that has served nothing (capacity is not modelled).
    fn idle(node: String) -> Self {
        LoadSummary { node, served: 0, utilisation: 0.0, waiting: 0, waiting_max: 0, refused: 0 }
    }
}

impl NodeLoad {
    /// The summary at time `now`: service accepted but still to come (past
    /// `now`) is not counted as busy yet.
    pub(super) fn summary(&self, node: String, now: SimTime) -> LoadSummary {
        let ahead = self.busy_until.0.saturating_sub(now.0);
        let busy = self.busy_us.saturating_sub(ahead);
        LoadSummary {
            node,
            served: self.served,
            utilisation: if now.0 == 0 { 0.0 } else { (busy as f64 / now.0 as f64).min(1.0) },
            waiting: self.queued.len() as u32,
            waiting_max: self.waiting_max,
            refused: self.refused,
        }
    }
}

// ----- the engine's side ----------------------------------------------------

use super::engine::{Sim, StepRecord};
use super::monitor::Checker;
use super::network::{DropReason, EndpointId};
use super::queue::{Event, Payload, Slot, WirePayload};
use super::trace::TraceKind;
use crate::nodes::{ClientReply, NodeId, Protocol};

impl<P: Protocol, C: Checker<P>> Sim<P, C> {
    /// A delivery when nodes have a capacity. A message or request that
    /// reaches a live node: If it was waiting in the node's queue, its service has
    /// ended: it is handled now. Otherwise it has just arrived: it is
    /// refused if the queue is full, else it joins the queue and its
    /// delivery is rescheduled for when its service ends (a step of its
    /// own, traced as a hold: "queued").
    #[inline(never)]
    pub(super) fn arrive(
        &mut self,
        id: u64,
        from: EndpointId,
        to: EndpointId,
        payload: WirePayload<P>,
    ) -> StepRecord {
        // What capacity does not touch takes the ordinary way: replies to
        // clients, and messages to a node that is paused (held) or down
        // (dropped).
        let nodes = self.cfg.cluster.len() as u32;
        if to.0 >= nodes
            || matches!(payload, Payload::Reply { .. })
            || self.state.nodes[to.0 as usize].status != super::host::NodeStatus::Up
        {
            return self.deliver(id, from, to, payload);
        }
        let load = self.state.nodes[to.0 as usize].load_mut();
        if load.queued.remove(&id) {
            load.served += 1;
            return self.hand_over(id, from, to, payload);
        }
        if !self.state.network.reachable(from, to) {
            return self.drop_msg(id, from, to, DropReason::Partition);
        }
        let cap = self.cfg.capacity.as_ref().expect("capacity is modelled");
        let dist = match &payload {
            Payload::Request(_) => cap.request.as_ref(),
            Payload::Peer(msg) => {
                let kind = crate::nodes::Message::kind(msg);
                debug_assert!(
                    <P::Msg as crate::nodes::Message>::KINDS.contains(&kind),
                    "{}: message kind `{kind}` is missing from Message::KINDS",
                    P::NAME
                );
                cap.message_service(kind)
            }
            _ => cap.message.as_ref(),
        };
        let (queue, when_full) = (cap.queue, cap.when_full);
        let now = self.state.now;
        let load = self.state.nodes[to.0 as usize].load_mut();
        if load.queued.len() as u64 > queue as u64 {
            load.refused += 1;
            return self.refuse(id, from, to, payload, when_full);
        }
        let service = dist.map_or(super::time::SimDuration::ZERO, |d| d.sample(&mut load.rng));
        let start = load.busy_until.max(now);
        if start == now && service.0 == 0 {
            // Free and nothing to do: handled at once, as without capacity.
            load.served += 1;
            return self.hand_over(id, from, to, payload);
        }
        let done = start.after(service);
        load.serving(now, start, done);
        load.busy_until = done;
        load.busy_us += service.0;
        load.queued.insert(id);
        let waiting = load.queued.len() as u32;
        load.waiting_max = load.waiting_max.max(waiting);
        let step = self.begin_step();
        self.trace.record(step, now.0, TraceKind::Hold, to.0, from.0, id, 1, || {
            format!("queued behind {}: served at {done}", waiting - 1)
        });
        self.state.in_flight += 1; // still in flight until it is served
        self.schedule(done, Event::Deliver { id, from, to, payload });
        self.record(TraceKind::Hold, Some(to), Some(from), Some(id))
    }

    /// The queue is full: a client request is answered *fail* at once
    /// (`reject`), anything else is dropped.
    fn refuse(
        &mut self,
        id: u64,
        from: EndpointId,
        to: EndpointId,
        payload: WirePayload<P>,
        when_full: WhenFull,
    ) -> StepRecord {
        match payload {
            Payload::Request(req) if when_full == WhenFull::Reject => {
                let step = self.begin_step();
                let now = self.state.now.0;
                let reason = DropReason::Overloaded as u64;
                self.trace.record(step, now, TraceKind::Drop, to.0, from.0, id, reason, || {
                    "rejected: the queue is full (overloaded)".into()
                });
                let reply = ClientReply::fail("overloaded");
                let (op_id, attempt) = (req.from.op_id, req.from.attempt);
                self.send(to, from, Payload::Reply { op_id, attempt, reply });
                self.record(TraceKind::Drop, Some(to), Some(from), Some(id))
            }
            _ => self.drop_msg(id, from, to, DropReason::Overloaded),
        }
    }

    /// A crash loses what waited in the node's queue, and frees its server.
    pub(super) fn empty_queue(&mut self, n: NodeId) {
        let queued = std::mem::take(&mut self.state.nodes[n.index()].load_mut().queued);
        if !queued.is_empty() {
            for i in 0..self.state.slab.len() {
                let lost = matches!(&self.state.slab[i],
                    Some(Slot { event: Event::Deliver { id, to, .. }, .. }) if to.0 == n.0 && queued.contains(id));
                if lost {
                    self.free_slot(i as u32);
                    self.state.in_flight -= 1;
                    self.state.stats.dropped += 1;
                }
            }
        }
        let now = self.state.now;
        let load = self.state.nodes[n.index()].load_mut();
        // Service accepted but not given is not counted as busy.
        load.busy_us = load.busy_us.saturating_sub(load.busy_until.0.saturating_sub(now.0));
        load.busy_until = load.busy_until.min(now);
        // The writes still transferring are lost with the node's memory.
        load.disk_busy_until = load.disk_busy_until.min(now);
        // So is the service that was still to come.
        load.recent.retain(|&(s, _)| s < now.0);
        if let Some((_, e)) = load.recent.back_mut() {
            *e = (*e).min(now.0);
        }
    }

    /// Each node's load so far (all zero when capacity is not modelled).
    pub fn loads(&self) -> Vec<LoadSummary> {
        let now = self.state.now;
        self.cfg
            .cluster
            .nodes()
            .map(|n| {
                let name = self.cfg.cluster.name(n).to_string();
                match &self.state.nodes[n.index()].load {
                    Some(load) => load.summary(name, now),
                    None => LoadSummary::idle(name),
                }
            })
            .collect()
    }

    /// The gauge `busy`: the busiest node's share of the last
    /// [`BUSY_WINDOW_US`] spent serving (utilisation over time).
    pub fn busy_now(&self) -> f64 {
        let now = self.state.now;
        let share = |n: NodeId| self.state.nodes[n.index()].load.as_ref().map_or(0.0, |l| l.busy_share(now));
        self.cfg.cluster.nodes().map(share).fold(0.0, f64::max)
    }

    /// Arrivals shed per `[[clients]]` entry (open-loop entries whose
    /// processes were all busy).
    pub fn shed(&self) -> &[u64] {
        &self.state.shed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::SimDuration;

    /// A write takes its bytes over the bandwidth, one write at a time: at
    /// a million bytes a second, 1,000 bytes take 1ms, a second write
    /// issued at once ends 1ms after the first, a write issued later on an
    /// idle disk starts when issued, and a write under a µs's worth is
    /// free.
    #[test]
    fn the_disk_transfers_one_write_at_a_time() {
        let mut load = NodeLoad::new(RngStream::new(0, crate::rng::StreamKind::Service, 0, 0));
        let t0 = SimTime::ZERO;
        assert_eq!(load.disk_transfer(t0, 1000, 1_000_000), t0.after(SimDuration::from_millis(1)));
        assert_eq!(load.disk_transfer(t0, 1000, 1_000_000), t0.after(SimDuration::from_millis(2)));
        assert_eq!(
            load.disk_transfer(t0, 4000, 1_000_000),
            t0.after(SimDuration::from_millis(6)),
            "a big write takes longer"
        );
        let later = SimTime(10_000);
        assert_eq!(load.disk_transfer(later, 500, 1_000_000), later.after(SimDuration(500)));
        assert_eq!(load.disk_transfer(later, 1, 10_000_000), later.after(SimDuration(500)), "free");
    }

    /// `busy_share` is the share of the last 100ms spent serving: contiguous
    /// services merge, old ones are forgotten, and early in a run the
    /// window is the run so far.
    #[test]
    fn busy_is_the_share_of_the_last_window() {
        let mut load = NodeLoad::new(RngStream::new(0, crate::rng::StreamKind::Service, 0, 0));
        let ms = |m: u64| SimTime(m * 1000);
        load.serving(ms(0), ms(0), ms(10));
        load.serving(ms(0), ms(10), ms(20)); // queued behind: merged
        assert_eq!(load.recent.len(), 1);
        assert_eq!(load.busy_share(ms(40)), 0.5, "20 of the first 40ms");
        assert_eq!(load.busy_share(ms(100)), 0.2);
        load.serving(ms(150), ms(150), ms(200));
        assert_eq!(load.recent.len(), 1, "the first interval can no longer count");
        assert_eq!(load.busy_share(ms(200)), 0.5);
        assert_eq!(load.busy_share(ms(175)), 0.25);
    }

    /// A write's size is its JSON encoding.
    #[test]
    fn a_write_is_as_big_as_its_json() {
        assert_eq!(write_size(&("key", 12u32)), r#"["key",12]"#.len() as u64);
    }
}
