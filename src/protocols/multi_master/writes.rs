//! Writes and reads at one master, and how each conflict resolution
//! turns a client's write into what the key holds.
//!
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
//!   [`Answer::Siblings`](CartAnswer::Siblings), sorted, when there are several); the next write
//!   through a node that holds them replaces them all.
//!
use super::*;

impl MultiMaster {
    /// `lww` register: stamp the value.
    pub(super) fn write_register(state: &mut State, ctx: Ctx, client: ClientRef, key: Key, value: Value) {
        let stamp = Self::next_stamp(state, ctx);
        Self::accept_stamped(state, ctx, client, key, Entry::Register { stamp, value });
    }

    /// `lww` cart: read the local cart, add the item, and write the whole
    /// cart back as one stamped value.
    pub(super) fn add_to_stamped_cart(
        state: &mut State,
        ctx: Ctx,
        client: ClientRef,
        key: Key,
        item: Item,
        qty: u32,
    ) {
        let cart = Self::local_cart_with(state, key, item, qty);
        let stamp = Self::next_stamp(state, ctx);
        Self::accept_stamped(state, ctx, client, key, Entry::StampedCart { stamp, cart: Box::new(cart) });
    }

    /// `merge` cart: add the item to the local cart and ship the cart;
    /// receivers merge.
    pub(super) fn add_to_merged_cart(
        state: &mut State,
        ctx: Ctx,
        client: ClientRef,
        key: Key,
        item: Item,
        qty: u32,
    ) {
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
    pub(super) fn write_version(state: &mut State, ctx: Ctx, client: ClientRef, key: Key, value: Value) {
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

    /// LWW: a stamped value or cart, kept if its stamp is the greatest.
    pub(super) fn accept_stamped(state: &mut State, ctx: Ctx, client: ClientRef, key: Key, entry: Entry) {
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

    /// A fresh LWW stamp. A node's stamps strictly increase: two writes in
    /// the same microsecond (say, both held through a pause) must not tie,
    /// or nodes would keep different ones.
    pub(super) fn next_stamp(state: &mut State, ctx: Ctx) -> Stamp {
        let clock_us = ctx.local_time_us().max(state.last_stamp_us.saturating_add(1));
        state.last_stamp_us = clock_us;
        Stamp { clock_us, node: ctx.me().0 }
    }

    /// The local cart for `key` with `qty` of `item` in it (the greater
    /// quantity, if the item is there already).
    pub(super) fn local_cart_with(state: &State, key: Key, item: Item, qty: u32) -> Cart {
        let mut cart = state.store.get(&key).and_then(Entry::cart).cloned().unwrap_or_default();
        let q = cart.entry(item).or_insert(0);
        *q = (*q).max(qty);
        cart
    }

    /// Joins `incoming` into what this node holds for `key`. Returns the
    /// write that puts the result on disk, if anything changed.
    pub(super) fn learn(state: &mut State, ctx: Ctx, key: Key, incoming: &Entry) -> Option<WriteId> {
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

    /// A read answers from the local store.
    pub(super) fn read(state: &State, ctx: Ctx, client: ClientRef, key: Key) {
        let answer = match state.store.get(&key) {
            None if ctx.params().data == Data::Cart => CartAnswer::Cart(Box::default()),
            None => CartAnswer::None,
            Some(Entry::Register { value, .. }) => CartAnswer::Value(*value),
            Some(Entry::StampedCart { cart, .. }) => CartAnswer::Cart(cart.clone()),
            Some(Entry::Cart(cart)) => CartAnswer::Cart(Box::new(cart.clone())),
            Some(Entry::Siblings(s)) if s.len() == 1 => CartAnswer::Value(s[0].value),
            Some(Entry::Siblings(s)) => {
                let mut values: Vec<Value> = s.iter().map(|s| s.value).collect();
                values.sort_unstable();
                CartAnswer::Siblings(values.into())
            }
        };
        ctx.reply(client, ClientReply::answer(answer, 0));
    }
}
