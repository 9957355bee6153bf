//! Multi-master (multi-leader) replication, with three conflict
//! resolutions: last-write-wins, an application merge (a shopping cart),
//! and version vectors with siblings.
//!
//! # Model
//! Every node accepts reads and writes for every key. A write is applied
//! where it lands and copied to the other nodes asynchronously. Two nodes
//! can therefore accept conflicting writes to the same key at the same
//! time; a **conflict resolution** rule (`resolution`) decides what
//! survives. A key holds a register (one value, `data = "register"`) or a
//! shopping cart (quantity per item, `data = "cart"`).
//!
//! # The algorithm
//! 1. *Write.* The node that takes a client's write turns it into an
//!    [`Entry`] — what the key should hold (below, per resolution) — and
//!    **joins** it into what it holds for the key, then sends the entry to
//!    every peer (`Replicate`).
//! 2. *Replicate.* A node that receives an entry joins it into what it
//!    holds. Each resolution's join is commutative, associative and
//!    idempotent (see [`entry`]), so every node that has received the same
//!    entries holds the same thing, whatever the order.
//! 3. *Anti-entropy.* Messages get lost and nodes crash, so every
//!    `anti_entropy` each node sends a random peer its whole store
//!    (`Sync`); the peer joins it in and sends back whatever it holds that
//!    the sender lacked. Once faults stop, every node converges.
//! 4. *Reads* answer from the local store: fast, available during a
//!    partition, and possibly stale.
//!
//! # Conflict resolution
//! - `lww` (register): the write is stamped `(the node's local clock in µs,
//!   its node id)`; the join keeps the greater stamp. Every node ends with
//!   the value of the greatest stamp: the "last" write — by the clocks. If
//!   the stamp is not greater than what the node holds, LWW discards the
//!   write on arrival — and the client is told "ok" all the same.
//! - `lww` with `data = "cart"`: the whole cart is one value with one
//!   stamp. A cart-add reads the local cart, adds the item, stamps the
//!   result and replicates the whole cart. Two masters that add different
//!   items at about the same time each stamp a cart without the other's
//!   item; the greater stamp wins and the other addition is gone.
//! - `merge` (cart): a cart-add puts the item in the local cart (keeping
//!   the greater quantity if it is there already) and replicates the whole
//!   cart; the join is the course notes' `resolve_cart_conflict` — the
//!   union of the items, the greater quantity per item
//!   ([`entry::merge_carts`]). A state-based CRDT: nothing added is ever
//!   lost, and no clock is involved.
//! - `version-vector` (register): a key holds a set of **siblings**, each a
//!   value with a [`VersionVector`]. A client's write at node X gets the
//!   join of the vectors of all siblings X holds, incremented at X: it has
//!   seen — and so replaces — everything X has, and is *concurrent* with
//!   writes X has not seen. The join keeps the siblings no other sibling
//!   dominates. A read returns every sibling (one value when there is one;
//!   [`Answer::Siblings`], sorted, when there are several); the next write
//!   through a node that holds them replaces them all.
//!
//! # What is durable
//! The store (with stamps, carts, siblings and their vectors). A client is
//! answered once what the node holds after its write is on the node's
//! disk; replication is fire-and-forget. Under version vectors one more
//! rule: a node sends its own new version to anyone (by `Replicate` or in
//! a `Sync`) only once it is on its disk. Otherwise a crash could lose a
//! version that peers already hold, and the node, restarting from its
//! disk, would give the next write the *same* vector — two different
//! writes with one identity, and a later write that had seen one of them
//! would silently replace the other. (Riak's put path writes locally
//! before it forwards, for the same reason.)
//!
//! # Invariants and what breaks (checked in [`checker`])
//! - `convergence` (every resolution): when the network is quiet after the
//!   last fault, all nodes hold the same entry for every key.
//! - `lww-greatest` (`lww`): that entry is the write with the greatest
//!   `(timestamp, node)`.
//! - `no-lost-updates` / `lost_updates` (`lww` registers): acknowledged
//!   writes overwritten by a write that *began earlier* in real time. With
//!   synchronised clocks this is rare; a node whose clock runs behind loses
//!   every race — its later writes are silently discarded.
//! - `concurrent-writes-kept` (registers): no acknowledged write vanishes
//!   unless a write that had seen it replaced it. Version vectors keep it
//!   by construction; LWW breaks it whenever two writes are concurrent,
//!   whatever the clocks.
//! - `no-lost-additions` (carts): every acknowledged cart-add is in every
//!   node's final cart, with at least its quantity. `merge` keeps it; `lww`
//!   breaks it with concurrent additions on two masters.
//!
//! # Where this is simpler than real systems
//! - Writes are *blind*: a client does not send back the context (vector)
//!   of what it read, as Dynamo's and Riak's clients do. A write replaces
//!   whatever the node it lands on holds — the siblings a client read
//!   elsewhere and the ones it never saw alike.
//! - Vectors have one entry per node (Riak's "vnode vclocks"), not per
//!   client.
//! - Carts only grow: removal is not modelled. Dynamo's cart merge is known
//!   to bring deleted items back, since a union cannot tell "removed" from
//!   "never added" (DeCandia et al. §4.4; an OR-Set fixes it with tags).
//!
//! Sources: Kleppmann, *Designing Data-Intensive Applications*, ch. 5
//! ("Multi-Leader Replication", "Last write wins", "Detecting concurrent
//! writes", "Version vectors"); Demers et al., "Epidemic algorithms for
//! replicated database maintenance" (PODC 1987) for anti-entropy; DeCandia
//! et al., "Dynamo: Amazon's Highly Available Key-value Store" (SOSP
//! 2007) for the cart and version vectors in practice; Parker et al.,
//! "Detection of mutual inconsistency in distributed systems" (IEEE TSE
//! 1983); Shapiro et al., "Conflict-free replicated data types" (SSS 2011).
//!
//! [`Answer::Siblings`]: crate::nodes::Answer::Siblings

pub mod checker;
pub mod entry;
pub mod exercises;
mod params;

pub use checker::MultiMasterChecker;
pub use entry::{Cart, Entry, Sibling, Stamp, VersionVector};
pub use params::{Data, Params, RawParams, Resolution};

use crate::nodes::client::{self, NOT_KEY_VALUE};
use crate::nodes::{
    Answer, ClientRef, ClientReply, ClientRequest, ClientSpec, Cluster, Context, Item, Key, Message, NodeId,
    NodeView, Operation, Protocol, Value, WriteId,
};
use crate::rng::RngStream;
use crate::time::SimDuration;
use std::collections::BTreeMap;
use std::collections::btree_map::Entry as Slot;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct MultiMaster;

/// The reason a cart store gives for an operation it does not serve.
pub const NOT_A_CART: &str = "a cart store serves cart-adds and reads only";

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Msg {
    /// A client's write, pushed to every peer once it is accepted (under
    /// version vectors: once it is on the accepting node's disk).
    Replicate { key: Key, entry: Entry },
    /// Anti-entropy: my whole store; send back whatever you have that I
    /// lack.
    Sync { entries: Vec<(Key, Entry)>, reply: bool },
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

pub type Store = BTreeMap<Key, Entry>;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum DiskWrite {
    /// What the node now holds for `key`; it covers every earlier write
    /// for the key (what a node holds only grows).
    Put { key: Key, entry: Entry },
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct State {
    pub store: Store,
    /// The clock part of this node's latest LWW stamp.
    last_stamp_us: i64,
    /// Version vectors: keys whose latest own write is not on disk yet,
    /// with that write. Anti-entropy leaves them out until it is.
    unshipped: BTreeMap<Key, WriteId>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Observation {
    /// A node accepted client operation `op` (a write or a cart-add), which
    /// it turned into `entry`: a stamped value or cart, a cart with the
    /// item added, or one sibling with its version vector.
    Accepted { key: Key, op: u64, entry: Entry },
    /// A node now holds `entry` for the key (after its own write, a
    /// replicated one, or one learned by anti-entropy).
    Holds { key: Key, entry: Entry },
    /// A node restarted; what it holds is what its disk held.
    Restarted,
}

type Ctx<'a, 'b> = &'a mut Context<'b, MultiMaster>;

impl MultiMaster {
    /// Joins `incoming` into what this node holds for `key`. Returns the
    /// write that puts the result on disk, if anything changed.
    fn learn(state: &mut State, ctx: Ctx, key: Key, incoming: &Entry) -> Option<WriteId> {
        if let Some(stamp) = incoming.stamp()
            && stamp.node == ctx.me().0
        {
            // One of our own stamps, back from a peer: never issue it again
            // (after a crash, the disk may not have remembered it).
            state.last_stamp_us = state.last_stamp_us.max(stamp.clock_us);
        }
        let held = match state.store.entry(key) {
            Slot::Vacant(slot) => slot.insert(incoming.clone()),
            Slot::Occupied(slot) => {
                let held = slot.into_mut();
                if exercises::tie_break(ctx.params()) == exercises::TieBreak::FirstArrival
                    && let (Some(mine), Some(theirs)) = (held.stamp(), incoming.stamp())
                    && mine.clock_us == theirs.clock_us
                {
                    return None;
                }
                if held.absorbs(incoming) {
                    return None;
                }
                *held = held.join(incoming);
                held
            }
        };
        if let Entry::Siblings(s) = &*held
            && s.len() > 1
        {
            ctx.note(|| {
                let mut values = held.values();
                values.sort_unstable();
                format!("k{key} holds {} concurrent siblings: {values:?}", s.len())
            });
        }
        ctx.observe(Observation::Holds { key, entry: held.clone() });
        Some(ctx.write(DiskWrite::Put { key, entry: held.clone() }))
    }

    /// A fresh LWW stamp. A node's stamps strictly increase: two writes in
    /// the same microsecond (say, both held through a pause) must not tie,
    /// or nodes would keep different ones.
    fn next_stamp(state: &mut State, ctx: Ctx) -> Stamp {
        let clock_us = ctx.local_time_us().max(state.last_stamp_us.saturating_add(1));
        state.last_stamp_us = clock_us;
        Stamp { clock_us, node: ctx.me().0 }
    }

    /// LWW: a stamped value or cart, kept if its stamp is the greatest.
    fn accept_stamped(state: &mut State, ctx: Ctx, client: ClientRef, key: Key, entry: Entry) {
        ctx.observe(Observation::Accepted { key, op: client.op_id, entry: entry.clone() });
        match Self::learn(state, ctx, key, &entry) {
            Some(_) => ctx.once_durable(|ctx| ctx.reply(client, ClientReply::ok(None, 0))),
            // Already older than what this node holds: LWW discards it at
            // once, and the client is told "ok" all the same.
            None => {
                ctx.note(|| format!("k{key}: a newer stamp is here already; LWW discards this write"));
                ctx.reply(client, ClientReply::ok(None, 0))
            }
        }
        ctx.broadcast(Msg::Replicate { key, entry });
    }

    /// `lww` register: stamp the value.
    fn write_register(state: &mut State, ctx: Ctx, client: ClientRef, key: Key, value: Value) {
        let stamp = Self::next_stamp(state, ctx);
        Self::accept_stamped(state, ctx, client, key, Entry::Register { stamp, value });
    }

    /// The local cart for `key` with `qty` of `item` in it (the greater
    /// quantity, if the item is there already).
    fn local_cart_with(state: &State, key: Key, item: Item, qty: u32) -> Cart {
        let mut cart = state.store.get(&key).and_then(Entry::cart).cloned().unwrap_or_default();
        let q = cart.entry(item).or_insert(0);
        *q = (*q).max(qty);
        cart
    }

    /// `lww` cart: read the local cart, add the item, and write the whole
    /// cart back as one stamped value.
    fn add_to_stamped_cart(state: &mut State, ctx: Ctx, client: ClientRef, key: Key, item: Item, qty: u32) {
        let cart = Self::local_cart_with(state, key, item, qty);
        let stamp = Self::next_stamp(state, ctx);
        Self::accept_stamped(state, ctx, client, key, Entry::StampedCart { stamp, cart: Box::new(cart) });
    }

    /// `merge` cart: add the item to the local cart and ship the cart;
    /// receivers merge.
    fn add_to_merged_cart(state: &mut State, ctx: Ctx, client: ClientRef, key: Key, item: Item, qty: u32) {
        let entry = Entry::Cart(Self::local_cart_with(state, key, item, qty));
        ctx.observe(Observation::Accepted { key, op: client.op_id, entry: entry.clone() });
        if Self::learn(state, ctx, key, &entry).is_none() {
            // The cart had the item already — perhaps only in memory,
            // learned from a peer: answer once the cart is on our disk.
            ctx.write(DiskWrite::Put { key, entry: entry.clone() });
        }
        ctx.once_durable(|ctx| ctx.reply(client, ClientReply::ok(None, 0)));
        ctx.broadcast(Msg::Replicate { key, entry });
    }

    /// `version-vector` register: a new version that has seen everything
    /// this node holds for the key, and one more write by this node.
    fn write_version(state: &mut State, ctx: Ctx, client: ClientRef, key: Key, value: Value) {
        let mut vector = VersionVector::zero(ctx.cluster().len());
        if let Some(Entry::Siblings(siblings)) = state.store.get(&key) {
            for s in siblings {
                vector = vector.join(&s.vector);
            }
        }
        vector.increment(ctx.me());
        ctx.note(|| {
            format!("k{key}={value} gets version vector {:?} (a count per node, in node order)", vector.0)
        });
        let version = Entry::Siblings(vec![Sibling { vector, value }]);
        ctx.observe(Observation::Accepted { key, op: client.op_id, entry: version.clone() });
        let w = Self::learn(state, ctx, key, &version)
            .expect("a new version dominates every sibling this node holds, so it replaces them");
        state.unshipped.insert(key, w);
        // A version leaves the node only once it is on disk.
        ctx.once_durable(|ctx| {
            ctx.reply(client, ClientReply::ok(None, 0));
            ctx.broadcast(Msg::Replicate { key, entry: version });
        });
    }

    /// A read answers from the local store.
    fn read(state: &State, ctx: Ctx, client: ClientRef, key: Key) {
        let answer = match state.store.get(&key) {
            None if ctx.params().data == Data::Cart => Answer::Cart(Box::default()),
            None => Answer::None,
            Some(Entry::Register { value, .. }) => Answer::Value(*value),
            Some(Entry::StampedCart { cart, .. }) => Answer::Cart(cart.clone()),
            Some(Entry::Cart(cart)) => Answer::Cart(Box::new(cart.clone())),
            Some(Entry::Siblings(s)) if s.len() == 1 => Answer::Value(s[0].value),
            Some(Entry::Siblings(s)) => {
                let mut values: Vec<Value> = s.iter().map(|s| s.value).collect();
                values.sort_unstable();
                Answer::Siblings(values.into())
            }
        };
        ctx.reply(client, ClientReply::answer(answer, 0));
    }

    /// What this node may send: everything, except (version vectors) keys
    /// whose latest own version is not on disk yet.
    fn shippable(state: &State) -> impl Iterator<Item = (Key, &Entry)> {
        state.store.iter().filter(|(k, _)| !state.unshipped.contains_key(k)).map(|(k, e)| (*k, e))
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
        let entries = Self::shippable(state).map(|(k, e)| (k, e.clone())).collect();
        ctx.send(NodeId(peer), Msg::Sync { entries, reply: false });
    }

    fn on_sync(state: &mut State, ctx: Ctx, from: NodeId, entries: Vec<(Key, Entry)>, reply: bool) {
        let mut theirs: BTreeMap<Key, Entry> = BTreeMap::new();
        for (key, entry) in entries {
            Self::assert_own_versions_known(state, ctx, key, &entry);
            Self::learn(state, ctx, key, &entry);
            theirs.insert(key, entry);
        }
        if !reply {
            // After the join, ours is at least theirs: send back what
            // differs.
            let newer: Vec<_> = Self::shippable(state)
                .filter(|(k, mine)| theirs.get(k) != Some(*mine))
                .map(|(k, e)| (k, e.clone()))
                .collect();
            if !newer.is_empty() {
                ctx.send(from, Msg::Sync { entries: newer, reply: true });
            }
        }
    }

    /// Version vectors: a version of ours that a peer holds left us only
    /// once it was on our disk, so we hold it or something that has seen
    /// it. If not, this node could reissue its vector (see the module
    /// docs).
    fn assert_own_versions_known(state: &State, ctx: Ctx, key: Key, incoming: &Entry) {
        if let Entry::Siblings(theirs) = incoming {
            let me = ctx.me();
            let ours = match state.store.get(&key) {
                Some(Entry::Siblings(s)) => s.iter().map(|s| s.vector.get(me)).max().unwrap_or(0),
                _ => 0,
            };
            debug_assert!(
                theirs.iter().all(|s| s.vector.get(me) <= ours),
                "{}: a version of ours for k{key} reached a peer before our disk had it",
                ctx.cluster().name(me)
            );
        }
    }
}

/// The cart workload: a read with probability `read_fraction`, otherwise
/// `1..=max_qty` units of one of `items` items, into a cart drawn
/// uniformly from the client's `keys`.
fn cart_operation(params: &Params, spec: &ClientSpec, rng: &mut RngStream) -> Operation {
    let key = client::draw_key(spec, rng);
    if rng.chance(spec.read_fraction) {
        return Operation::Read { key };
    }
    let item = rng.below(params.items as u64) as Item;
    let qty = 1 + rng.below(params.max_qty as u64) as u32;
    Operation::CartAdd { key, item, qty }
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

    fn recover(ctx: &mut Context<'_, Self>, disk: &Store) -> State {
        ctx.observe(Observation::Restarted);
        for (&key, entry) in disk {
            ctx.observe(Observation::Holds { key, entry: entry.clone() });
        }
        let every = ctx.params().anti_entropy;
        if every > SimDuration::ZERO {
            // Spread the first round so nodes do not sync in lockstep.
            let first = ctx.rng().below(every.as_micros()) + 1;
            ctx.set_timer(SimDuration(first), Timer::AntiEntropy);
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

    fn on_client_request(state: &mut State, ctx: &mut Context<'_, Self>, request: ClientRequest) {
        let client = request.from;
        let params = ctx.params();
        match (request.op, params.resolution, params.data) {
            (Operation::Read { key }, _, _) => Self::read(state, ctx, client, key),
            (Operation::Write { key, value }, Resolution::Lww, Data::Register) => {
                Self::write_register(state, ctx, client, key, value)
            }
            (Operation::Write { key, value }, Resolution::VersionVector, Data::Register) => {
                Self::write_version(state, ctx, client, key, value)
            }
            (Operation::CartAdd { key, item, qty }, Resolution::Lww, Data::Cart) => {
                Self::add_to_stamped_cart(state, ctx, client, key, item, qty)
            }
            (Operation::CartAdd { key, item, qty }, Resolution::Merge, Data::Cart) => {
                Self::add_to_merged_cart(state, ctx, client, key, item, qty)
            }
            (_, _, Data::Register) => ctx.reply(client, ClientReply::fail(NOT_KEY_VALUE)),
            (_, _, Data::Cart) => ctx.reply(client, ClientReply::fail(NOT_A_CART)),
        }
    }

    fn on_persisted(state: &mut State, _ctx: &mut Context<'_, Self>, write: WriteId) {
        if !state.unshipped.is_empty() {
            state.unshipped.retain(|_, w| *w > write);
        }
    }

    fn apply_write(disk: &mut Store, write: &DiskWrite) {
        // A node writes what it holds, and what it holds only grows (by
        // joins), so each write covers every earlier one for the key.
        let DiskWrite::Put { key, entry } = write;
        if let Some(old) = disk.insert(*key, entry.clone()) {
            debug_assert!(entry.absorbs(&old), "a disk write for k{key} does not cover the one before it");
        }
    }

    fn next_operation(params: &Params, spec: &ClientSpec, rng: &mut RngStream, id: u64) -> Operation {
        match params.data {
            Data::Register => client::key_value_operation(spec, rng, id),
            Data::Cart => cart_operation(params, spec, rng),
        }
    }

    fn view(state: &State, _disk: &Store, cluster: &Cluster) -> NodeView {
        let mut v = NodeView::new("master", None);
        let s = v.section("store");
        for (k, entry) in &state.store {
            s.row(format!("k{k}"), entry.describe(&cluster.names));
        }
        v
    }
}
