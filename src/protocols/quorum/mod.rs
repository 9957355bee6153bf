//! Quorum replication with tunable N, R and W (Dynamo / Cassandra style).
//!
//! # Model
//! Every key lives on `n` replicas: the first `n` nodes clockwise from the
//! key's position on a consistent-hash ring (every node, when the cluster
//! has `n` nodes). A client may send a request to *any* node; that node
//! becomes the request's **coordinator**.
//!
//! # The code, file by file
//! [`messages`] is the rule table: every message and timer, and the
//! handler it runs. [`coordinator`] holds the algorithm — write, read,
//! why `r + w > n` works, unavailability, read repair, write-back and
//! commit wait (`start`, `count_answer`, `maybe_finish`, `finish`);
//! [`replica`] what a replica does with a `Store` (`store`,
//! `acknowledge`); [`handoff`] (advanced) sloppy quorums and hinted
//! handoff; [`durable`] what survives a crash; [`exercises`] the broken
//! variant.
//!
//! # Invariants (checked in [`checker`])
//! - `fresh-reads`: every read returns a version at least as new as every
//!   write acknowledged before the read began. Holds when `r + w > n`
//!   without sloppy quorum (and synchronised clocks: versions come from
//!   clocks); breaks when `r + w ≤ n`.
//!
//! # Failure story
//! A replica that is down, cut off or slow just does not answer: the
//! coordinator needs only `w` (or `r`) of the `n`, so the request goes on
//! while enough answer, and fails (a read) or ends unknown (a write) at
//! `timeout` when too few do. A crashed coordinator's requests time out
//! at their clients; what replicas stored stays. With `r + w ≤ n`, or with
//! sloppy quorums through a partition, reads can be stale with no fault at
//! all; with strict quorums and write-back they are linearizable. Clock
//! skew bends the version order, since versions come from clocks.
//!
//! Sources: DeCandia et al., "Dynamo: Amazon's Highly Available Key-value
//! Store" (SOSP 2007); Kleppmann, *Designing Data-Intensive Applications*,
//! ch. 5 ("Quorums for reading and writing", "Sloppy Quorums and Hinted
//! Handoff"); Attiya, Bar-Noy & Dolev, "Sharing memory robustly in
//! message-passing systems" (JACM 1995); Corbett et al., "Spanner:
//! Google's Globally-Distributed Database" (OSDI 2012), for commit wait.

pub mod checker;
pub mod coordinator;
pub mod durable;
pub mod exercises;
pub mod handoff;
pub mod messages;
mod params;
pub mod replica;
pub mod view;

pub use checker::QuorumChecker;
pub use durable::{Disk, DiskWrite};
pub use messages::{Msg, Timer};
pub use params::{Level, Params, RawParams, Timestamps};

use replica::Ack;

use crate::nodes::{
    ClientRef, ClientReply, ClientRequest, Cluster, Context, Key, KvOp, Message, NodeId, NodeView, Protocol,
    SmallMap, Value,
};
use crate::time::SimDuration;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Quorum;

/// Which write is newer: the later timestamp, ties broken by the writer
/// (the client's endpoint with client-side timestamps, the coordinator's
/// node id with coordinator timestamps), then by the writer's sequence
/// number.
///
/// The sequence number keeps one writer's versions strictly increasing
/// when its clock has not moved between two writes — a client that
/// invokes its next write in the microsecond its last one was invoked
/// (zero think time and a write that completed at once). Without it the
/// two writes would carry the same version, replicas would keep the first,
/// and the second would be acknowledged yet never visible. (Cassandra's
/// drivers do the same with a monotonic timestamp generator.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct Version {
    pub clock_us: i64,
    pub writer: u32,
    /// Client-side timestamps: the write's idempotency key, which grows
    /// with every operation of a client endpoint (and is the same for
    /// every attempt of one write). Coordinator timestamps: 0 (the
    /// coordinator already stamps each write above everything it has seen).
    pub seq: u64,
}

/// What a replica answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    Stored,
    Fetched(Option<(Version, Value)>),
}

/// What a coordination is doing.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Phase {
    /// Waiting for `w` acknowledgements of this write.
    Write { version: Version, value: Value },
    /// Waiting for `r` replies to a read.
    Read,
    /// A read that found `found` and is storing it back on `w` replicas
    /// before answering (write-back).
    WriteBack { found: Option<(Version, Value)> },
}

/// One client request in progress at its coordinator.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Coordination {
    client: ClientRef,
    key: Key,
    phase: Phase,
    /// Nodes asked in this phase, and whether each counts toward the quorum.
    asked: SmallMap<NodeId, bool>,
    /// Nodes that answered in this phase.
    answered: BTreeSet<NodeId>,
    /// Answers that count toward the quorum.
    counted: usize,
    needed: usize,
    /// Reads: every reply, for choosing the newest and for read repair.
    replies: Vec<(NodeId, Option<(Version, Value)>)>,
    /// The client has its answer; the entry stays until the deadline to
    /// read-repair late replies.
    answered_client: bool,
    /// This node's clock when the phase's requests went out (commit wait).
    began_local_us: i64,
    /// The quorum has answered; the answer waits for the clock to tick.
    commit_waiting: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct State {
    // --- replica ---
    pub store: BTreeMap<Key, (Version, Value)>,

    // --- stand-in ---
    pub hints: BTreeMap<(NodeId, Key), (Version, Value)>,
    handoff_timer: bool,

    // --- coordinator ---
    /// Request ids are `req_base + counter`; the base is drawn afresh at
    /// every boot, so answers to requests from before a crash never match.
    req_base: u64,
    next_req: u64,
    coordinating: SmallMap<u64, Coordination>,
    /// Replicas that did not answer in time, suspected until this local
    /// time (sloppy quorum only).
    suspected: SmallMap<NodeId, i64>,
    /// The newest version this node has issued or seen: a coordinator never
    /// stamps a write older than what it has already seen.
    newest_seen: Option<Version>,
    /// The latest write of each client endpoint: (idempotency key, the
    /// version it was stamped with). A repeated request (a duplicate, or a
    /// retry) keeps its version, so storing it again changes nothing;
    /// stamped anew it would overwrite writes made since.
    stamped: SmallMap<u32, (u64, Version)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Observation {
    /// A coordinator stamped a client's write.
    Versioned { key: Key, value: Value, version: Version },
    /// A replica stored a value (possibly as a stand-in).
    Stored { key: Key, version: Version, hinted: bool },
    /// A read found older versions and repaired them.
    Repaired { key: Key, replicas: u32 },
    /// A stand-in handed a hinted value back.
    HandedOff { key: Key, to: NodeId },
    /// A coordinator gave up: too few replicas answered.
    Unavailable { key: Key, answered: u32, needed: u32 },
}

type Ctx<'a, 'b> = &'a mut Context<'b, Quorum>;

impl Observation {
    /// In the protocol's words, for the trace and the TUI's log.
    pub fn label(&self) -> String {
        match self {
            Observation::Versioned { key, value, version } => {
                format!("stamped k{key}={value} with version {}.{}", version.clock_us, version.writer)
            }
            Observation::Stored { key, version, hinted: true } => {
                format!("stored k{key} v{}.{} as a stand-in (a hint)", version.clock_us, version.writer)
            }
            Observation::Stored { key, version, .. } => {
                format!("stored k{key} v{}.{}", version.clock_us, version.writer)
            }
            Observation::Repaired { key, replicas } => {
                format!("repaired k{key} on {replicas} stale replica(s)")
            }
            Observation::HandedOff { key, to } => format!("handed k{key} back to {to:?}"),
            Observation::Unavailable { key, answered, needed } => {
                format!("gave up on k{key}: {answered} of {needed} replicas answered")
            }
        }
    }
}
