//! Anti-entropy: every `anti_entropy`, a node sends a random peer its
//! whole store; the peer joins it in and sends back what the sender
//! lacked. Once faults stop, every node converges.

use super::*;

impl MultiMaster {
    pub(super) fn anti_entropy(state: &mut State, ctx: Ctx) {
        let every = ctx.params().anti_entropy;
        ctx.set_timer(Timer::AntiEntropy, every);
        let n = ctx.cluster().len() as u64;
        if n < 2 {
            return;
        }
        let mut peer = ctx.choose(n - 1) as u32;
        if peer >= ctx.me().0 {
            peer += 1;
        }
        let entries = Self::shippable(state).map(|(k, e)| (k, e.clone())).collect();
        ctx.send(NodeId(peer), Msg::Sync { entries, reply: false });
    }

    pub(super) fn on_sync(
        state: &mut State,
        ctx: Ctx,
        from: NodeId,
        entries: Vec<(Key, Entry)>,
        reply: bool,
    ) {
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

    /// What this node may send: everything, except (version vectors) keys
    /// whose latest own version is not on disk yet.
    pub(super) fn shippable(state: &State) -> impl Iterator<Item = (Key, &Entry)> {
        state.store.iter().filter(|(k, _)| !state.unshipped.contains_key(k)).map(|(k, e)| (*k, e))
    }

    /// Version vectors: a version of ours that a peer holds left us only
    /// once it was on our disk, so we hold it or something that has seen
    /// it. If not, this node could reissue its vector (see the module
    /// docs).
    pub(super) fn assert_own_versions_known(state: &State, ctx: Ctx, key: Key, incoming: &Entry) {
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
