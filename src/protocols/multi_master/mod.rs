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
//! # The code, file by file
//! [`messages`] is the rule table: every message and timer, and the
//! handler it runs. [`writes`] turns a client's write into an entry per
//! conflict resolution and joins it in (`write_register`,
//! `add_to_merged_cart`, `write_version`, `learn`); [`entry`] holds the
//! joins themselves; [`anti_entropy`] the periodic sync; [`durable`] what
//! survives a crash; [`exercises`] the broken variant.
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
//! # Failure story
//! A partition splits the masters: both sides keep accepting writes, and
//! the conflict resolution decides what survives when they meet again.
//! Lost messages and crashed nodes are repaired by anti-entropy; a node
//! answers a write only once it is on its disk, so a crash loses nothing
//! acknowledged at that node. A clock that runs behind makes its node lose
//! every last-write-wins race.
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
//! [`Answer::Siblings`]: CartAnswer::Siblings

pub mod anti_entropy;
pub mod checker;
pub mod durable;
pub mod entry;
pub mod exercises;
pub mod messages;
mod params;
pub mod view;
pub mod workload;
pub mod writes;

pub use checker::MultiMasterChecker;
pub use durable::DiskWrite;
pub use entry::{Cart, Entry, Sibling, Stamp, VersionVector};
pub use messages::{Msg, Timer};
pub use params::{Data, Params, RawParams, Resolution};
pub use workload::{CartAnswer, CartOp, Carts};

use crate::nodes::{
    ClientRef, ClientReply, ClientRequest, Cluster, Context, Item, Key, Message, NodeId, NodeView, Protocol,
    Value, WriteId,
};
use crate::time::SimDuration;
use std::collections::BTreeMap;
use std::collections::btree_map::Entry as Slot;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct MultiMaster;

/// The reason a cart store gives for an operation it does not serve.
/// The reason a register store gives for a cart operation.
pub const NOT_KEY_VALUE: &str = "a key-value store serves reads and writes only";
pub const NOT_A_CART: &str = "a cart store serves cart-adds and reads only";

pub type Store = BTreeMap<Key, Entry>;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct State {
    pub store: Store,
    /// The clock part of this node's latest LWW stamp.
    last_stamp_us: i64,
    /// Version vectors: keys whose latest own write is not on disk yet,
    /// with that write. Anti-entropy leaves them out until it is.
    unshipped: BTreeMap<Key, WriteId>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
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

impl Observation {
    /// In the protocol's words, for the trace and the TUI's log (nodes as
    /// `n1`, `n2`, … in stamps and vectors).
    pub fn label(&self) -> String {
        // The nodes an entry names: by position, as messages name them.
        let names = |entry: &Entry| -> Vec<String> {
            let n = match entry {
                Entry::Register { stamp, .. } | Entry::StampedCart { stamp, .. } => stamp.node as usize + 1,
                Entry::Siblings(s) => s.iter().map(|s| s.vector.0.len()).max().unwrap_or(0),
                Entry::Cart(_) => 0,
            };
            (0..n).map(|i| format!("{:?}", NodeId(i as u32))).collect()
        };
        match self {
            Observation::Accepted { key, op, entry } => {
                format!("accepted op {op} on k{key}: {}", entry.describe(&names(entry)))
            }
            Observation::Holds { key, entry } => format!("holds k{key} = {}", entry.describe(&names(entry))),
            Observation::Restarted => "started with what its disk holds".to_string(),
        }
    }
}
