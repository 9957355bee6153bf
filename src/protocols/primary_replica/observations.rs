//! What a node publishes for the checkers ([`super::checker`]).

use super::*;

#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Observation {
    BecamePrimary {
        epoch: u64,
    },
    SteppedDown {
        epoch: u64,
    },
    /// This node put `entry` into its log (`from`: whose log it copies).
    Appended {
        entry: Entry,
        from: NodeId,
    },
    /// This node cut its log back to `keep` entries.
    Truncated {
        keep: u64,
    },
    /// After a restart: the log on disk, which is now this node's log.
    /// It is the log the node held when its last completed disk write was
    /// issued, not the one it held at the crash: the writes still on their
    /// way to disk are lost, appends and truncations alike, so entries it
    /// had cut can be back.
    Recovered {
        /// Entries up to here are compacted (the node published them).
        base: u64,
        /// The entries after `base`.
        entries: Vec<Entry>,
    },
    /// This node's disk now holds its log compacted up to `upto`: entries
    /// `..= upto` are folded into its snapshot for good. (Published once
    /// the compaction is durable, so no crash can bring them back.)
    Compacted {
        upto: u64,
    },
    /// The primary of `epoch` acknowledged a client's write: the one at
    /// `index` of its log (appended in this epoch or inherited).
    Acknowledged {
        epoch: u64,
        index: u64,
        value: Value,
    },
}

impl Observation {
    /// In the protocol's words, for the trace and the TUI's log.
    pub fn label(&self) -> String {
        let entry = |e: &Entry| match e.write {
            Some(w) => format!("k{}={} at index {}, epoch {}", w.key, w.value, e.index, e.epoch),
            None => format!("a no-op at index {}, epoch {}", e.index, e.epoch),
        };
        match self {
            Observation::BecamePrimary { epoch } => format!("became primary of epoch {epoch}"),
            Observation::SteppedDown { epoch } => format!("stepped down (epoch {epoch})"),
            Observation::Appended { entry: e, from } => format!("appended {} (primary {from:?})", entry(e)),
            Observation::Truncated { keep } => format!("cut its log back to {keep} entries"),
            Observation::Recovered { base, entries } => {
                format!("recovered its log from disk: {} entries", base + entries.len() as u64)
            }
            Observation::Compacted { upto } => format!("compacted its log up to index {upto} (on disk)"),
            Observation::Acknowledged { epoch, index, value } => {
                format!("acknowledged write {value} (index {index}, epoch {epoch})")
            }
        }
    }
}
