//! What each node keeps on disk, and how it comes back from it.
//!
//! The log, the current epoch, and whom the node voted for in it. Nothing
//! a node says vouches for more than its disk holds: a replica's `Ack`, a
//! vote, a request for votes and the primary's own count of its log all
//! leave once what they speak of is on disk ([`Context::once_durable`]),
//! so a crash loses only what nobody was told about. The store, the
//! commit index, the primary's progress and waiting clients are volatile.
//!
//! A restarted node comes back as a replica with its disk and learns the
//! current primary from its heartbeats. Its log is then the one on disk,
//! which can differ from the one it held at the crash by more than its
//! length: a truncation not yet on disk is lost too, and the entries it cut
//! are back (the primary cuts them again, as any other disagreeing
//! entries).

use super::*;

/// The disk: the log, the epoch, and the vote cast in it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Disk {
    pub epoch: u64,
    pub voted_for: Option<NodeId>,
    pub log: Log,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum DiskWrite {
    /// Record the epoch and this node's vote in it.
    Epoch {
        epoch: u64,
        voted_for: Option<NodeId>,
    },
    Append(Entry),
    /// Keep only entries `1..=keep`.
    Truncate {
        keep: u64,
    },
    /// Fold entries `..=upto` into the snapshot (log compaction).
    Compact {
        upto: u64,
    },
}

impl PrimaryReplica {
    pub(super) fn apply(disk: &mut Disk, write: &DiskWrite) {
        match *write {
            DiskWrite::Epoch { epoch, voted_for } => {
                disk.epoch = epoch;
                disk.voted_for = voted_for;
            }
            DiskWrite::Append(e) => disk.log.push(e),
            DiskWrite::Truncate { keep } => disk.log.truncate(keep),
            DiskWrite::Compact { upto } => disk.log.compact(upto),
        }
    }

    /// The first boot: the initial primary takes over in epoch 0, the
    /// others wait for its heartbeats.
    pub(super) fn start(ctx: Ctx) -> State {
        let primary = ctx.params().initial_primary;
        let mut state = State::new(&Disk::default());
        state.primary = Some(primary);
        if ctx.me() == primary {
            Self::become_primary(&mut state, ctx);
        } else {
            Self::arm_silence_timer(&mut state, ctx);
        }
        state
    }

    /// A restart: a replica with the disk's log, following nobody yet.
    pub(super) fn recover_from(ctx: Ctx, disk: &Disk) -> State {
        let mut state = State::new(disk);
        // The store is not on disk: rebuild it from the log that is, as a
        // replica applies entries as they arrive. (Starting from the
        // snapshot alone, a restarted node answered reads with what it held
        // at its last compaction, though the newer writes were on its disk.)
        state.apply_up_to(state.last_index());
        ctx.observe(Observation::Recovered { base: disk.log.base, entries: disk.log.entries.to_vec() });
        ctx.note(|| {
            format!(
                "recovers from disk: epoch {}, {} log entries; rejoins as a replica",
                disk.epoch,
                disk.log.last_index()
            )
        });
        Self::arm_silence_timer(&mut state, ctx);
        state
    }
}
