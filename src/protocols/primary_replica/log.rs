//! The replicated log, with its compacted prefix.

use super::*;

/// One entry of the log: a client's write, or the no-op a new primary
/// appends to commit what it inherited (see `election::become_primary`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    /// The epoch of the primary that appended it.
    pub epoch: u64,
    /// Position in the log, from 1.
    pub index: u64,
    /// The write, or `None` for a no-op.
    pub write: Option<ClientWrite>,
}

/// A client's write, as it stands in the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct ClientWrite {
    pub key: Key,
    pub value: Value,
    /// The client endpoint and idempotency key of the write, so a retried
    /// request is recognised instead of applied twice.
    pub client: u32,
    pub idempotency_key: u64,
}

/// The replicated log. Entries up to `base` have been *compacted*: folded
/// into `snapshot`, the store as of `base` (a checkpoint), and dropped. A
/// node compacts only entries every node has acknowledged, so no node ever
/// needs a compacted entry again.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Log {
    pub base: u64,
    /// The epoch of the entry at `base`.
    pub base_epoch: u64,
    /// The store as of `base`.
    pub snapshot: BTreeMap<Key, (Value, u64)>,
    /// The last compacted write of each client endpoint: (idempotency key,
    /// index). Kept with the snapshot so a retry of a compacted write is
    /// still recognised (Raft's client sessions).
    pub sessions: SmallMap<u32, (u64, u64)>,
    /// Entries `base + 1 ..= last_index()`, in chunks that the copies of
    /// this log in snapshots share (see [`ChunkedVec`]).
    pub entries: ChunkedVec<Entry>,
}

impl Log {
    pub fn last_index(&self) -> u64 {
        self.base + self.entries.len() as u64
    }
    pub fn last_epoch(&self) -> u64 {
        self.entries.last().map_or(self.base_epoch, |e| e.epoch)
    }
    /// The entry at `index`, unless it was compacted (or is not there).
    pub fn get(&self, index: u64) -> Option<&Entry> {
        index.checked_sub(self.base + 1).and_then(|i| self.entries.get(i as usize))
    }
    /// The epoch of the entry at `index`; `None` if compacted or absent.
    pub fn epoch_at(&self, index: u64) -> Option<u64> {
        if index == self.base { Some(self.base_epoch) } else { self.get(index).map(|e| e.epoch) }
    }
    /// Entries `from ..= to` (both after `base`).
    pub fn slice(&self, from: u64, to: u64) -> Vec<Entry> {
        self.entries.range((from - self.base - 1) as usize, (to - self.base) as usize).copied().collect()
    }
    pub fn push(&mut self, e: Entry) {
        debug_assert_eq!(e.index, self.last_index() + 1, "a log grows one entry at a time");
        self.entries.push(e);
    }
    /// Keeps entries `..= keep`.
    pub fn truncate(&mut self, keep: u64) {
        assert!(keep >= self.base, "compacted entries are never truncated: every node acknowledged them");
        self.entries.truncate((keep - self.base) as usize);
    }
    /// Folds entries `..= upto` into the snapshot.
    pub fn compact(&mut self, upto: u64) {
        let upto = upto.min(self.last_index());
        if upto <= self.base {
            return;
        }
        let n = (upto - self.base) as usize;
        for e in self.entries.range(0, n) {
            if let Some(w) = e.write {
                self.snapshot.insert(w.key, (w.value, e.index));
                self.sessions.insert(w.client, (w.idempotency_key, e.index));
            }
            self.base_epoch = e.epoch;
        }
        self.entries.remove_front(n);
        self.base = upto;
    }
}
