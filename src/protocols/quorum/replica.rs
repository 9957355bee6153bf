//! A replica: it keeps the newest version of each key it holds, and
//! acknowledges a store once it is on disk.

use super::*;

/// Whom a replica tells once its disk has caught up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Ack {
    /// `Stored` to a coordinator (possibly this node).
    Stored { coordinator: NodeId, req: u64 },
    /// `HandedOff` to the stand-in that held the hint.
    HandedOff { standin: NodeId, key: Key, version: Version },
}

impl Quorum {
    /// Keeps `value` if it is newer (as a stand-in: keeps the hint if it
    /// is newer), then owes `ack` once the disk has caught up — also when
    /// nothing new was written, since an older write of the same value may
    /// still be on its way to disk.
    pub(super) fn store(
        state: &mut State,
        ctx: Ctx,
        key: Key,
        version: Version,
        value: Value,
        hint_for: Option<NodeId>,
        ack: Option<Ack>,
    ) {
        state.newest_seen = state.newest_seen.max(Some(version));
        if let Some(replica) = hint_for {
            ctx.observe(Observation::Stored { key, version, hinted: true });
            if state.hints.get(&(replica, key)).is_none_or(|(v, _)| *v < version) {
                state.hints.insert((replica, key), (version, value));
                ctx.write(DiskWrite::Hint { replica, key, version, value });
                Self::arm_handoff(state, ctx);
            }
        }
        if state.store.get(&key).is_none_or(|(v, _)| *v < version) {
            state.store.insert(key, (version, value));
            if hint_for.is_none() {
                ctx.observe(Observation::Stored { key, version, hinted: false });
            }
            ctx.write(DiskWrite::Put { key, version, value });
        }
        let Some(ack) = ack else { return }; // read repair: nobody waits
        ctx.once_durable(|ctx| Self::acknowledge(ctx, ack));
    }

    pub(super) fn acknowledge(ctx: Ctx, ack: Ack) {
        match ack {
            // The coordinator's own copy counts like any replica's.
            Ack::Stored { coordinator, req } if coordinator == ctx.me() => ctx.loopback(Msg::Stored { req }),
            Ack::Stored { coordinator, req } => ctx.send(coordinator, Msg::Stored { req }),
            Ack::HandedOff { standin, key, version } => ctx.send(standin, Msg::HandedOff { key, version }),
        }
    }
}
