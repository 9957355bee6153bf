//! Multi-master (multi-leader) replication with last-write-wins.
//!
//! # Model
//! Every node accepts reads and writes for every key. A write is applied
//! where it lands and copied to the other nodes asynchronously. Two nodes
//! can therefore accept conflicting writes to the same key at the same
//! time; a **conflict resolution** rule decides which survives.
//!
//! # The algorithm (last-write-wins)
//! 1. *Write.* The node that takes a client's write stamps it with
//!    `(its local clock in µs, its node id)` and sends `Replicate` to every
//!    peer. If that stamp is greater than the stamp of what it holds for
//!    the key, it keeps the write and answers the client once the write is
//!    on disk; if not, LWW discards the write on arrival — and the client
//!    is told "ok" all the same.
//! 2. *Replicate.* A node keeps a replicated value only if its stamp is
//!    greater than what it holds. Every node thus ends with the value of
//!    the greatest stamp it has seen: the "last" write — by the clocks.
//! 3. *Anti-entropy.* Messages get lost and nodes crash, so every
//!    `anti_entropy` each node sends a random peer its whole store
//!    (`Sync`); the peer keeps what is newer and sends back what it has
//!    that is newer still. Once faults stop, every node converges.
//! 4. *Reads* answer from the local store: fast, available during a
//!    partition, and possibly stale.
//!
//! # What is durable
//! The store, with stamps. A client's write that the node keeps is
//! acknowledged after it is on the accepting node's disk; replication is
//! fire-and-forget.
//!
//! # Invariants and what breaks (checked in [`checker`])
//! - `convergence`: when the network is quiet after the last fault, all
//!   nodes hold the same value for every key.
//! - `lww-greatest`: the value they agree on is the write with the
//!   greatest `(timestamp, node)`.
//! - `lost_updates` (a metric, and the check `no-lost-updates`):
//!   acknowledged writes overwritten by a write that *began earlier* in
//!   real time. With synchronised clocks this is rare (only writes
//!   concurrent within the network delay); a node whose clock runs behind
//!   loses every race — its later writes are silently discarded.
//!
//! Sources: Kleppmann, *Designing Data-Intensive Applications*, ch. 5
//! ("Multi-Leader Replication", "Last write wins"); Demers et al.,
//! "Epidemic algorithms for replicated database maintenance" (PODC 1987)
//! for anti-entropy.

pub mod checker;

pub use checker::MultiMasterChecker;

use crate::nodes::{
    AfterDisk, ClientRef, ClientReply, ClientRequest, Cluster, Context, Key, Message, NodeId, NodeView,
    Operation, Protocol, Value, WriteId,
};
use crate::protocols::Configure;
use crate::scenario::{ParamContext, ScenarioError, raw::S};
use crate::sim::time::SimDuration;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct MultiMaster;

/// A write's stamp: the accepting node's clock, ties broken by node id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Stamp {
    pub clock_us: i64,
    pub node: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Params {
    /// How often a node syncs its whole store with a random peer (zero:
    /// never).
    pub anti_entropy: SimDuration,
}

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
pub struct RawParams {
    /// Conflict resolution; `lww` (last-write-wins) is the one there is.
    #[serde(default)]
    pub resolution: Option<Resolution>,
    /// Default 200ms; "0" turns anti-entropy off.
    #[serde(default)]
    pub anti_entropy: Option<S<String>>,
}

#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Resolution {
    Lww,
}

impl Configure for MultiMaster {
    type Raw = RawParams;
    const SUMMARY: &'static str = "every node takes writes and replicates them asynchronously; conflicts resolved by last-write-wins on skewable clocks; anti-entropy";

    fn configure(raw: RawParams, cx: &ParamContext<'_>) -> Result<Params, ScenarioError> {
        let anti_entropy = raw
            .anti_entropy
            .as_ref()
            .map(|d| cx.duration(d))
            .transpose()?
            .unwrap_or(SimDuration::from_millis(200));
        if anti_entropy.0 > 0 && anti_entropy < SimDuration::from_millis(1) {
            return Err(cx.error(
                raw.anti_entropy.as_ref().expect("given").span(),
                "anti_entropy must be 0 or at least 1ms",
            ));
        }
        Ok(Params { anti_entropy })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Msg {
    /// A write, pushed to every peer as soon as it is accepted.
    Replicate { key: Key, stamp: Stamp, value: Value },
    /// Anti-entropy: my whole store; send back whatever you have newer.
    Sync { entries: Vec<(Key, Stamp, Value)>, reply: bool },
}

impl Message for Msg {
    fn kind(&self) -> &'static str {
        match self {
            Msg::Replicate { .. } => "replicate",
            Msg::Sync { reply: false, .. } => "sync",
            Msg::Sync { reply: true, .. } => "sync-back",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Timer {
    AntiEntropy,
}

pub type Store = BTreeMap<Key, (Stamp, Value)>;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum DiskWrite {
    Put { key: Key, stamp: Stamp, value: Value },
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct State {
    pub store: Store,
    /// Clients waiting for their write to reach the disk.
    acks_after: AfterDisk<ClientRef>,
    /// The clock part of this node's latest stamp.
    last_stamp_us: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observation {
    /// A node accepted a client's write with this stamp.
    Accepted { key: Key, value: Value, stamp: Stamp },
    /// A node now holds this value for the key (its own write, a
    /// replicated one, or one learned by anti-entropy).
    Holds { key: Key, value: Value, stamp: Stamp },
    /// A node restarted; what it holds is what its disk held.
    Restarted,
}

type Ctx<'a, 'b> = &'a mut Context<'b, MultiMaster>;

impl MultiMaster {
    /// Keeps `value` if its stamp is the greatest seen for `key` (LWW).
    /// Returns the write that puts it on disk, if it was kept.
    fn keep_if_newer(state: &mut State, ctx: Ctx, key: Key, stamp: Stamp, value: Value) -> Option<WriteId> {
        if stamp.node == ctx.me().0 {
            // One of our own stamps, back from a peer: never issue it again
            // (after a crash, the disk may not have remembered it).
            state.last_stamp_us = state.last_stamp_us.max(stamp.clock_us);
        }
        // Equal stamps cannot normally happen; should they, the value
        // breaks the tie, so every node still picks the same write.
        if state.store.get(&key).is_some_and(|&(s, v)| (s, v) >= (stamp, value)) {
            return None;
        }
        state.store.insert(key, (stamp, value));
        ctx.observe(Observation::Holds { key, value, stamp });
        Some(ctx.write(DiskWrite::Put { key, stamp, value }))
    }

    fn accept_write(state: &mut State, ctx: Ctx, client: ClientRef, key: Key, value: Value) {
        // A node's stamps strictly increase: two writes in the same
        // microsecond (say, both held through a pause) must not tie, or
        // nodes would keep different ones.
        let clock_us = ctx.local_time_us().max(state.last_stamp_us.saturating_add(1));
        state.last_stamp_us = clock_us;
        let stamp = Stamp { clock_us, node: ctx.me().0 };
        ctx.observe(Observation::Accepted { key, value, stamp });
        match Self::keep_if_newer(state, ctx, key, stamp, value) {
            Some(w) => state.acks_after.push(w, client),
            // Already older than what this node holds: LWW discards it at
            // once, and the client is told "ok" all the same.
            None => ctx.reply(client, ClientReply::ok(None, 0)),
        }
        ctx.broadcast(Msg::Replicate { key, stamp, value });
    }

    fn anti_entropy(state: &mut State, ctx: Ctx) {
        let every = ctx.params().anti_entropy;
        ctx.set_timer(every, Timer::AntiEntropy);
        let n = ctx.cluster().len() as u64;
        if n < 2 {
            return;
        }
        let mut peer = ctx.rng().below(n - 1) as u32;
        if peer >= ctx.me().0 {
            peer += 1;
        }
        let entries = state.store.iter().map(|(k, (s, v))| (*k, *s, *v)).collect();
        ctx.send(NodeId(peer), Msg::Sync { entries, reply: false });
    }

    fn on_sync(state: &mut State, ctx: Ctx, from: NodeId, entries: Vec<(Key, Stamp, Value)>, reply: bool) {
        let mut theirs: BTreeMap<Key, (Stamp, Value)> = BTreeMap::new();
        for (key, stamp, value) in entries {
            theirs.insert(key, (stamp, value));
            Self::keep_if_newer(state, ctx, key, stamp, value);
        }
        if !reply {
            let newer: Vec<_> = state
                .store
                .iter()
                .filter(|(k, mine)| theirs.get(k).is_none_or(|t| t < *mine))
                .map(|(k, (s, v))| (*k, *s, *v))
                .collect();
            if !newer.is_empty() {
                ctx.send(from, Msg::Sync { entries: newer, reply: true });
            }
        }
    }
}

impl Protocol for MultiMaster {
    const NAME: &'static str = "multi-master";
    type Params = Params;
    type State = State;
    type Durable = Store;
    type DurableWrite = DiskWrite;
    type Msg = Msg;
    type Timer = Timer;
    type Observation = Observation;

    fn init(ctx: &mut Context<'_, Self>) -> State {
        Self::recover(ctx, &Store::new())
    }

    fn recover(ctx: &mut Context<'_, Self>, disk: &Store) -> State {
        ctx.observe(Observation::Restarted);
        for (&key, &(stamp, value)) in disk {
            ctx.observe(Observation::Holds { key, value, stamp });
        }
        let every = ctx.params().anti_entropy;
        if every > SimDuration::ZERO {
            // Spread the first round so nodes do not sync in lockstep.
            let first = ctx.rng().below(every.as_micros()) + 1;
            ctx.set_timer(SimDuration(first), Timer::AntiEntropy);
        }
        // After a restart, never reuse a stamp this node gave before.
        let me = ctx.me().0;
        let last_stamp_us =
            disk.values().filter(|(s, _)| s.node == me).map(|(s, _)| s.clock_us).max().unwrap_or(i64::MIN);
        State { store: disk.clone(), acks_after: AfterDisk::default(), last_stamp_us }
    }

    fn on_message(state: &mut State, ctx: &mut Context<'_, Self>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Replicate { key, stamp, value } => {
                Self::keep_if_newer(state, ctx, key, stamp, value);
            }
            Msg::Sync { entries, reply } => Self::on_sync(state, ctx, from, entries, reply),
        }
    }

    fn on_timer(state: &mut State, ctx: &mut Context<'_, Self>, timer: Timer) {
        match timer {
            Timer::AntiEntropy => Self::anti_entropy(state, ctx),
        }
    }

    fn on_client_request(state: &mut State, ctx: &mut Context<'_, Self>, request: ClientRequest) {
        match request.op {
            Operation::Write { key, value } => Self::accept_write(state, ctx, request.from, key, value),
            Operation::Read { key } => {
                ctx.reply(request.from, ClientReply::ok(state.store.get(&key).map(|(_, v)| *v), 0));
            }
            _ => ctx.reply(request.from, ClientReply::fail(crate::nodes::client::NOT_KEY_VALUE)),
        }
    }

    fn on_persisted(state: &mut State, ctx: &mut Context<'_, Self>, write: WriteId) {
        while let Some(client) = state.acks_after.pop_due(write) {
            ctx.reply(client, ClientReply::ok(None, 0));
        }
    }

    fn apply_write(disk: &mut Store, write: &DiskWrite) {
        let DiskWrite::Put { key, stamp, value } = *write;
        if disk.get(&key).is_none_or(|&(s, v)| (s, v) < (stamp, value)) {
            disk.insert(key, (stamp, value));
        }
    }

    fn view(state: &State, _disk: &Store, cluster: &Cluster) -> NodeView {
        let mut v = NodeView::new("master", None);
        let s = v.section("store");
        for (k, (stamp, val)) in &state.store {
            s.row(
                format!("k{k}"),
                format!("{val} (t={}us by {})", stamp.clock_us, cluster.names[stamp.node as usize]),
            );
        }
        v
    }
}
