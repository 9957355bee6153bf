//! Primary–replica (master–slave) replication with failover.
//!
//! # Model
//! One node is the **primary**; the others are **replicas**. Clients send
//! writes to the primary (a replica answers a write with a redirect to the
//! primary it knows). Reads go where the client's policy sends them; who
//! answers them is the `reads` parameter. The primary keeps an ordered
//! **log** of writes, each entry at a position `(epoch, index)`; replicas
//! copy it in order and apply it to their key–value store.
//!
//! # The algorithm, file by file
//! The book's steps (chapter "Primary–replica replication"), and where
//! each is:
//! 1. **Write** — [`primary`]: a client's write reaches the primary
//!    (`accept_write`), which appends it to its log and starts writing it
//!    to disk (`append`), and ships it (`send_heartbeats`, `replicate_to`)
//!    in a `Replicate` naming the entry before it.
//! 2. **Replicate** — [`replica`]: a replica takes entries only after the
//!    entry they follow, the *log-matching* rule (`on_replicate`); if it
//!    lacks that entry it answers `Behind` (`may_match_up_to`), where its
//!    log disagrees it cuts it back (`truncate`). Once the entries are on
//!    its disk it answers `Ack`.
//! 3. **Acknowledge** — [`primary`]: each `Ack`, the primary's own
//!    included, moves a match index (`on_ack`); when a write counts as
//!    committed under the mode (`committed_index`) the primary answers the
//!    client (`advance_commit`, `acknowledge`).
//! 4. **Heartbeat** — [`primary`]: every `heartbeat`, a `Replicate` with
//!    what each replica lacks, or nothing; a replica that refused entries
//!    is sent them from where the logs agree (`on_behind`).
//! 5. **Failover** — [`election`]: a replica that hears nothing for
//!    `failover_timeout` (`on_primary_silent`) stands in a new epoch
//!    (`start_election`); nodes vote once per epoch, for a candidate whose
//!    log is at least as up to date as theirs (`on_request_vote`); a
//!    majority makes a primary (`on_vote`, `become_primary`), which starts
//!    its epoch with a no-op (`append_no_op`). A timeline `promote` takes
//!    over without a vote (`promote`).
//! 6. **Fencing** — [`replica`] and [`election`]: a `Replicate` from an
//!    older epoch is answered `Fenced` (`on_replicate`); a primary that
//!    hears of a newer epoch steps down (`step_down`).
//!
//! Reads are served in [`replica`] (`read`, `serve_waiting_reads`), by the
//! primary too; log compaction is the primary's (`maybe_compact`).
//! [`messages`] is the rule table: every message and timer, and the
//! handler it runs. [`log`] is the log; [`durable`] what survives a crash
//! and how a node recovers; [`exercises`] the broken variant.
//!
//! # Guarantees (checked in [`checker`])
//! `log-prefix` (every replica's log is a prefix of its primary's),
//! `acked-writes-durable` (every acknowledged write is in the final
//! primary's log), `single-primary` (no primary acknowledges a write it
//! accepted after a newer primary was elected), `writes-applied-once`,
//! `no-stale-reads`, `read-your-writes`. What holds, with fencing on,
//! under crashes, pauses, partitions, lossy and duplicating links and
//! drifting clocks (measured with `distlab check` over thousands of
//! seeds, see the book's chapter):
//! - every mode keeps `log-prefix` and `writes-applied-once`;
//! - `sync` (answer once every replica has it) keeps all six;
//! - `semi-sync` (the primary and one replica) on **three** nodes keeps
//!   `acked-writes-durable` and `single-primary` (the primary and one
//!   replica are a majority), and `read-your-writes` with session tokens;
//!   reads can be stale;
//! - `semi-sync` on five nodes, and `async` (the primary's disk alone),
//!   keep neither, nor read-your-writes even with tokens: a write on two
//!   nodes (or one) is not on every election majority, and a deposed
//!   primary with one replica that has not heard of the new epoch still
//!   acknowledges.
//!
//! Without fencing, `writes-applied-once` holds and runs end, but a
//! replica pulled between two primaries can break `log-prefix`.
//!
//! # What is durable
//! The log, the epoch, and the vote cast in it ([`durable`]). Whatever
//! vouches for them — a replica's `Ack`, the primary's count of its own
//! copy, a vote, a request for votes, a hand promotion — leaves only once
//! they are on disk ([`Context::once_durable`]).
//!
//! # Failure story
//! Replicas lag (async): a read at a replica can miss an acknowledged
//! write, and (replicas apply entries as they arrive) can return a write
//! later lost in a failover — MySQL's "phantom read" of semi-sync. The
//! primary crashes (async): writes it acknowledged but had not shipped are
//! lost when a replica is promoted, and truncated from the old primary's
//! log when it returns. A replica is down (sync): writes stall until it
//! returns. The primary pauses (a long GC pause) and comes back: with
//! fencing it learns of the new epoch and steps down; without, two
//! primaries accept writes. A partition cuts the primary off with fewer
//! than a majority: a new primary is elected on the other side, and until
//! the old one hears of it, it still answers reads (stale ones, outside
//! `sync`) and, in `async` or in `semi-sync` with a replica beside it,
//! acknowledges writes the new primary will discard.
//!
//! Sources: Kleppmann, *Designing Data-Intensive Applications*, ch. 5
//! ("Leaders and Followers", "Handling Node Outages"); the election rule
//! and the commit rule are Raft's (Ongaro & Ousterhout, 2014, §5.4.1 and
//! §5.4.2).

pub mod checker;
pub mod durable;
pub mod election;
pub mod exercises;
pub mod log;
pub mod messages;
pub mod observations;
mod params;
pub mod primary;
pub mod replica;
pub mod view;

pub use checker::ReplicationChecker;
pub use durable::{Disk, DiskWrite};
pub use log::{ClientWrite, Entry, Log};
pub use messages::{Msg, Replicate, Timer};
pub use observations::Observation;
pub use params::{Failover, Mode, Params, RawParams, Reads};

use crate::nodes::{
    ChunkedVec, ClientRef, ClientReply, ClientRequest, Cluster, Command, Context, Key, KvOp, LogCell,
    LogView, Message, NodeId, NodeView, Protocol, SmallMap, Value,
};
use crate::time::SimDuration;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PrimaryReplica;

/// What a node is, with what only that role keeps.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Takes writes and ships its log ([`primary`]).
    Primary(Leading),
    /// Copies the primary's log ([`replica`]).
    Replica,
    /// Stands for election ([`election`]). `votes`: who granted it their
    /// vote in its epoch, itself included. A set of voters, not a count
    /// of messages: a duplicated `Vote`, or a second grant to a duplicated
    /// `RequestVote`, is the same voter again and must not count twice.
    Candidate { votes: BTreeSet<NodeId> },
}

/// What a primary keeps in memory while it leads.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Leading {
    /// How much of its own log is on its own disk, as its own `Ack`s (by
    /// loopback, once on disk) report it: it counts itself as it counts a
    /// replica.
    pub stored: u64,
    /// What it knows of each replica.
    pub progress: SmallMap<NodeId, Progress>,
    /// Clients waiting for their write to commit: index → client.
    pub waiting_writes: BTreeMap<u64, Vec<ClientRef>>,
    /// The last write of each client endpoint: idempotency key → index.
    pub client_table: SmallMap<u32, (u64, u64)>,
}

/// What the primary remembers about one replica.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Progress {
    /// Highest index known to be on the replica's disk.
    pub match_index: u64,
    /// Next index to send.
    pub next_index: u64,
    /// The replica refused an entry, and the primary is looking for where
    /// their logs agree: it sends from `next_index` without moving it on,
    /// and answers only the refusal of that very position. (Otherwise it
    /// sends optimistically, moving `next_index` past what it sent.) Raft
    /// implementations call these *probe* and *replicate* states.
    pub probing: bool,
}

/// A node's state in memory.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct State {
    pub role: Role,
    pub epoch: u64,
    pub voted_for: Option<NodeId>,
    pub log: Log,
    /// The primary this node follows (as far as it knows).
    pub primary: Option<NodeId>,
    /// Highest index known committed.
    pub commit: u64,
    /// The key–value store: the applied prefix of the log.
    pub store: BTreeMap<Key, (Value, u64)>,
    /// How far `store` has applied the log.
    pub applied: u64,
    /// Session reads waiting for this node to catch up: (client, key,
    /// token).
    waiting_reads: Vec<(ClientRef, Key, u64)>,
    /// The `PrimarySilent` timer is pending.
    silence_timer: bool,
    /// Local time at which the primary counts as silent.
    silence_deadline_us: i64,
    /// Local time the primary was last heard from (leader stickiness: a
    /// replica that hears its primary does not vote for another).
    last_heard_us: i64,
    /// A `Ship` timer is pending (async batching). Kept across roles, as
    /// the timer is.
    ship_scheduled: bool,
}

impl State {
    fn new(disk: &Disk) -> Self {
        State {
            role: Role::Replica,
            epoch: disk.epoch,
            voted_for: disk.voted_for,
            log: disk.log.clone(),
            primary: None,
            commit: disk.log.base,
            store: disk.log.snapshot.clone(),
            applied: disk.log.base,
            waiting_reads: Vec::new(),
            silence_timer: false,
            silence_deadline_us: 0,
            last_heard_us: i64::MIN,
            ship_scheduled: false,
        }
    }

    pub fn is_primary(&self) -> bool {
        matches!(self.role, Role::Primary(_))
    }
    /// This node is the primary of `epoch`.
    fn leads(&self, epoch: u64) -> bool {
        self.is_primary() && epoch == self.epoch
    }
    /// The primary's own data; `None` on any other node.
    fn leading(&mut self) -> Option<&mut Leading> {
        match &mut self.role {
            Role::Primary(lead) => Some(lead),
            _ => None,
        }
    }
    fn last_index(&self) -> u64 {
        self.log.last_index()
    }
    fn last_epoch(&self) -> u64 {
        self.log.last_epoch()
    }
    /// Applies log entries to the store up to `upto`.
    fn apply_up_to(&mut self, upto: u64) {
        let upto = upto.min(self.last_index());
        while self.applied < upto {
            let e = *self.log.get(self.applied + 1).expect("entries after `applied` are in the log");
            if let Some(w) = e.write {
                self.store.insert(w.key, (w.value, e.index));
            }
            self.applied += 1;
        }
    }
    /// The session token of log position `index`: its epoch and index in
    /// one number, so that tokens compare as positions do (by epoch, then
    /// index) and a client keeps the newest by keeping the largest. The
    /// index alone is not enough: after a failover a replica may hold, at
    /// the index of a client's write, an entry of an older epoch that will
    /// be truncated, and it must not count as caught up. (A compacted
    /// position, on every node, gets epoch 0.)
    fn session_token(&self, index: u64) -> u64 {
        let epoch = self.log.epoch_at(index).unwrap_or(0);
        debug_assert!(epoch < 1 << 24 && index < 1 << 40, "a position fits a session token");
        (epoch << 40) | index
    }
    /// After a truncation below `applied`: rebuild the store.
    fn rebuild_store(&mut self, upto: u64) {
        self.store = self.log.snapshot.clone();
        self.applied = self.log.base;
        self.apply_up_to(upto);
    }
}

type Ctx<'a, 'b> = &'a mut Context<'b, PrimaryReplica>;
