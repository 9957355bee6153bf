//! The rule table: the messages and timers of multi-master replication,
//! and which handler each one runs. Read this first; the handlers are in
//! `writes.rs` and `anti_entropy.rs`.

use super::*;
use crate::util::count;

impl Protocol for MultiMaster {
    const NAME: &'static str = "multi-master";
    type Params = Params;
    type State = State;
    type Durable = Store;
    type DurableWrite = DiskWrite;
    type Msg = Msg;
    type Timer = Timer;
    type Observation = Observation;
    type Workload = Carts;

    fn on_client_request(state: &mut State, ctx: &mut Context<'_, Self>, request: ClientRequest<CartOp>) {
        let client = request.from;
        let params = ctx.params();
        match (request.op, params.resolution, params.data) {
            (CartOp::Read { key }, _, _) => Self::read(state, ctx, client, key),
            (CartOp::Write { key, value }, Resolution::Lww, Data::Register) => {
                Self::write_register(state, ctx, client, key, value)
            }
            (CartOp::Write { key, value }, Resolution::VersionVector, Data::Register) => {
                Self::write_version(state, ctx, client, key, value)
            }
            (CartOp::CartAdd { key, item, qty }, Resolution::Lww, Data::Cart) => {
                Self::add_to_stamped_cart(state, ctx, client, key, item, qty)
            }
            (CartOp::CartAdd { key, item, qty }, Resolution::Merge, Data::Cart) => {
                Self::add_to_merged_cart(state, ctx, client, key, item, qty)
            }
            (_, _, Data::Register) => ctx.reply(client, ClientReply::fail(NOT_KEY_VALUE)),
            (_, _, Data::Cart) => ctx.reply(client, ClientReply::fail(NOT_A_CART)),
        }
    }

    fn on_message(state: &mut State, ctx: &mut Context<'_, Self>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Replicate { key, entry } => {
                Self::assert_own_versions_known(state, ctx, key, &entry);
                Self::learn(state, ctx, key, &entry);
            }
            Msg::Sync { entries, reply } => Self::on_sync(state, ctx, from, entries, reply),
        }
    }

    fn on_timer(state: &mut State, ctx: &mut Context<'_, Self>, timer: Timer) {
        match timer {
            Timer::AntiEntropy => Self::anti_entropy(state, ctx),
        }
    }

    fn on_persisted(state: &mut State, _ctx: &mut Context<'_, Self>, write: WriteId) {
        if !state.unshipped.is_empty() {
            state.unshipped.retain(|_, w| *w > write);
        }
    }

    fn recover(ctx: &mut Context<'_, Self>, disk: &Store) -> State {
        ctx.observe(Observation::Restarted);
        for (&key, entry) in disk {
            ctx.observe(Observation::Holds { key, entry: entry.clone() });
        }
        let every = ctx.params().anti_entropy;
        if every > SimDuration::ZERO {
            // Spread the first round so nodes do not sync in lockstep.
            let first = ctx.choose(every.as_micros()) + 1;
            ctx.set_timer(Timer::AntiEntropy, SimDuration(first));
        }
        // After a restart, never reuse a stamp this node gave before.
        let me = ctx.me().0;
        let last_stamp_us = disk
            .values()
            .filter_map(Entry::stamp)
            .filter(|s| s.node == me)
            .map(|s| s.clock_us)
            .max()
            .unwrap_or(i64::MIN);
        State { store: disk.clone(), last_stamp_us, unshipped: BTreeMap::new() }
    }

    fn apply_write(disk: &mut Store, write: &DiskWrite) {
        Self::apply(disk, write)
    }

    fn label_observation(obs: &Observation) -> String {
        obs.label()
    }

    fn view(state: &State, _disk: &Store, cluster: &Cluster) -> NodeView {
        Self::view_of(state, cluster)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Msg {
    /// A client's write, pushed to every peer once it is accepted (under
    /// version vectors: once it is on the accepting node's disk).
    Replicate { key: Key, entry: Entry },
    /// Anti-entropy: my whole store; send back whatever you have that I
    /// lack.
    Sync { entries: Vec<(Key, Entry)>, reply: bool },
}

impl Message for Msg {
    const KINDS: &'static [&'static str] = &["replicate", "sync", "sync-back"];
    fn kind(&self) -> &'static str {
        match self {
            Msg::Replicate { .. } => "replicate",
            Msg::Sync { reply: false, .. } => "sync",
            Msg::Sync { reply: true, .. } => "sync-back",
        }
    }
    fn label(&self) -> String {
        match self {
            Msg::Replicate { key, .. } => format!("Replicate k{key}"),
            Msg::Sync { entries, reply: false } => format!("Sync {}", count(entries.len(), "key")),
            Msg::Sync { entries, reply: true } => format!("Sync {}, reply", count(entries.len(), "key")),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Timer {
    AntiEntropy,
}
