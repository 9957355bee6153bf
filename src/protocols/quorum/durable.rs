//! What each node keeps on disk.
//!
//! Each replica's key–value store, with versions, and a stand-in's hints.
//! A replica acknowledges a `Store` only after it is on disk. Coordinations
//! in progress are volatile: a crashed coordinator's clients time out.
//!
use super::*;

/// The disk: versioned values, and hints held for other replicas.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Disk {
    pub store: BTreeMap<Key, (Version, Value)>,
    /// (replica the value belongs to, key) → the value to hand back.
    pub hints: BTreeMap<(NodeId, Key), (Version, Value)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum DiskWrite {
    Put { key: Key, version: Version, value: Value },
    Hint { replica: NodeId, key: Key, version: Version, value: Value },
    DropHint { replica: NodeId, key: Key, version: Version },
}

impl Quorum {
    pub(super) fn apply(disk: &mut Disk, write: &DiskWrite) {
        match *write {
            DiskWrite::Put { key, version, value } => {
                if disk.store.get(&key).is_none_or(|(v, _)| *v < version) {
                    disk.store.insert(key, (version, value));
                }
            }
            DiskWrite::Hint { replica, key, version, value } => {
                if disk.hints.get(&(replica, key)).is_none_or(|(v, _)| *v < version) {
                    disk.hints.insert((replica, key), (version, value));
                }
            }
            DiskWrite::DropHint { replica, key, version } => {
                if disk.hints.get(&(replica, key)).is_some_and(|(v, _)| *v == version) {
                    disk.hints.remove(&(replica, key));
                }
            }
        }
    }
}
