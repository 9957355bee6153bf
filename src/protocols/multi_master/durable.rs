//! What each node keeps on disk.
//!
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
use super::*;

#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum DiskWrite {
    /// What the node now holds for `key`; it covers every earlier write
    /// for the key (what a node holds only grows).
    Put { key: Key, entry: Entry },
}

impl MultiMaster {
    pub(super) fn apply(disk: &mut Store, write: &DiskWrite) {
        // A node writes what it holds, and what it holds only grows (by
        // joins), so each write covers every earlier one for the key.
        let DiskWrite::Put { key, entry } = write;
        if let Some(old) = disk.insert(*key, entry.clone()) {
            debug_assert!(entry.absorbs(&old), "a disk write for k{key} does not cover the one before it");
        }
    }
}
