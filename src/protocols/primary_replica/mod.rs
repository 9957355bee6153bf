//! Primary–replica (master–slave) replication with failover.
//!
//! # Model
//! One node is the **primary**; the others are **replicas**. Clients send
//! writes to the primary (a replica answers a write with a redirect to the
//! primary it knows). Reads go where the client's policy sends them; who
//! answers them is the `reads` parameter (see "Reads"). The primary keeps
//! an ordered **log** of writes; replicas copy it in order and apply it to
//! their key–value store.
//!
//! # The algorithm
//! 1. *Write.* The primary appends the write to its log as entry
//!    `(epoch, index)`, starts writing it to disk, and sends it to every
//!    replica in a `Replicate` message that also names the entry before it
//!    (`prev_index`, `prev_epoch`).
//! 2. *Replicate.* A replica accepts entries only if it holds the entry
//!    before them (the *log-matching* rule); otherwise it answers `Behind`
//!    with how much of the log it may share, and the primary resends from
//!    there. (Where its entry is of another epoch, it skips that whole
//!    epoch: one round trip per epoch, not per entry.)
//!    Where its log disagrees with the primary's (left over from an old
//!    primary), it truncates its log and takes the primary's. Once the
//!    entries are on its disk it answers `Ack` with its match index.
//! 3. *Acknowledge.* When the write counts as **committed** the primary
//!    answers the client. A primary counts where an entry of its *own*
//!    epoch is stored; the entries before it commit with it (an older
//!    epoch's entry can be on enough nodes and still be overwritten:
//!    Raft's Figure 8). That moment is the replication mode:
//!    - `async`: as soon as the primary's own disk has it — fast, but a
//!      primary crash loses what the replicas had not received yet;
//!    - `semi-sync`: when it is on disk at the primary and at least one
//!      replica has acknowledged it;
//!    - `sync`: when every replica has acknowledged it — nothing
//!      acknowledged can be lost, but one slow or dead replica stalls every
//!      write.
//! 4. *Heartbeat.* Every `heartbeat` the primary sends each replica a
//!    `Replicate` with no entries, carrying its commit index; it also
//!    repairs lost messages (a replica that is behind says so).
//! 5. *Failover.* A replica that hears nothing from the primary for
//!    `failover_timeout` (plus a random jitter, so two replicas rarely try
//!    at once) becomes a **candidate**: it increments the **epoch** (term),
//!    votes for itself, and asks the others for votes. A node votes for at
//!    most one candidate per epoch, and only for one whose log is at least
//!    as up to date as its own (compared by last epoch, then last index).
//!    A candidate with votes from a majority of all nodes becomes primary —
//!    so the most up-to-date replica a majority can vouch for is promoted.
//!    A timeline `promote` does the same by hand, without a vote. A new
//!    primary appends a **no-op** entry of its epoch at once: when it
//!    commits, so do the entries it inherited; and where it lands on a
//!    replica holding entries past the new primary's log (a deposed
//!    primary's writes that nobody else got), they disagree with it and
//!    are truncated.
//! 6. *Fencing.* Every message carries the sender's epoch. With `fencing =
//!    true`, a node rejects a `Replicate` from an older epoch and answers
//!    with the newer one, and an old primary that hears of a newer epoch
//!    steps down. With `fencing = false` replicas follow whoever sends to
//!    them, and an old primary that comes back keeps acting as primary:
//!    **split brain**.
//!
//! # Reads
//! With `reads = "any"` (the default) every node answers a read from what
//! it has applied. A replica applies entries as they arrive, so it lags:
//! its reads can be stale, and can show a write that is later lost. With
//! `reads = "primary"` a replica redirects a read to the primary, as it
//! does a write, and reads see no replication lag; but a primary that has
//! been deposed without hearing of it (cut off, or paused) still answers,
//! so outside `sync` mode a read can still be stale during a failover.
//! (Linearizable reads would need the primary to confirm it still leads,
//! with a round of heartbeats or a lease: Raft, §8. Not done here.)
//! A client with `read_your_writes = "session"` carries a **session
//! token**, the newest log position `(epoch, index)` it has seen; any node,
//! the primary too, waits until it has applied that far before answering.
//!
//! # What is durable
//! The log, the current epoch, and whom this node voted for in it. A write
//! is acknowledged (by the primary to a client, by a replica to the
//! primary) only after it is on disk, so a crash loses only what nobody
//! was told about. A restarted node comes back as a replica with its disk
//! and learns the current primary from its heartbeats. Its log is then the
//! one on disk, which can differ from the one it held at the crash by more
//! than its length: a truncation not yet on disk is lost too, and the
//! entries it cut are back (the primary cuts them again, as any other
//! disagreeing entries).
//!
//! # Invariants (checked in [`checker`])
//! - `log-prefix`: every replica's log is a prefix of the log of the
//!   primary it copies from.
//! - `acked-writes-durable`: every acknowledged write is in the final
//!   primary's log.
//! - `single-primary`: no primary acknowledges a write it accepted after a
//!   newer primary was elected (no split brain).
//! - `no-stale-reads`, `read-your-writes`: what readers see.
//!
//! What holds, with fencing on, under crashes, pauses, partitions, lossy
//! and duplicating links and drifting clocks (measured with `distlab
//! check` over thousands of seeds, see the book's chapter):
//! - every mode keeps `log-prefix` and `writes-applied-once`;
//! - `sync` keeps all six: an acknowledged write is on every node;
//! - `semi-sync` on **three** nodes keeps `acked-writes-durable` and
//!   `single-primary` (the primary and one replica are a majority), and
//!   `read-your-writes` with session tokens; reads can be stale;
//! - `semi-sync` on five nodes, and `async`, keep neither, nor
//!   read-your-writes even with tokens: a write on two nodes (or one) is
//!   not on every election majority, and a deposed primary with one
//!   replica that has not heard of the new epoch still acknowledges.
//!
//! Without fencing, `writes-applied-once` holds and runs end, but a
//! replica pulled between two primaries can break `log-prefix`.
//!
//! # Failure story
//! Replicas lag (async): a read at a replica can miss an acknowledged
//! write. Replicas also apply entries as they arrive, before the primary
//! counts them committed, so a replica read can return a write that is
//! later lost in a failover (MySQL's "phantom read" of semi-sync). The
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
mod params;

pub use checker::ReplicationChecker;
pub use params::{Failover, Mode, Params, RawParams, Reads};

use crate::nodes::{
    ClientRef, ClientReply, ClientRequest, Cluster, Command, Context, Key, Message, NodeId, NodeView,
    Operation, Protocol, Value, WriteId,
};
use crate::time::SimDuration;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct PrimaryReplica;

/// One entry of the log: a client's write, or the no-op a new primary
/// appends to commit what it inherited (see "Failover").
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

/// Primary → replica: the entries after `(prev_index, prev_epoch)`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Replicate {
    pub epoch: u64,
    pub prev_index: u64,
    pub prev_epoch: u64,
    /// Empty: a heartbeat.
    pub entries: Vec<Entry>,
    /// The primary's commit index.
    pub commit: u64,
    /// Entries up to here every node has: safe to compact.
    pub compacted: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Msg {
    /// Primary → replica: log entries, or none (a heartbeat).
    Replicate(Replicate),
    /// Replica → primary: I hold your log up to `match_index`.
    Ack { epoch: u64, match_index: u64 },
    /// Replica → primary: I refuse the entries after `refused` (the
    /// `prev_index` of your `Replicate`): I lack that entry, or mine there
    /// differs. I may match up to `have`.
    Behind { epoch: u64, refused: u64, have: u64 },
    /// Replica → old primary: there is a newer epoch (fencing).
    Fenced { epoch: u64 },
    /// Candidate → all: vote for me in `epoch`.
    RequestVote { epoch: u64, last_epoch: u64, last_index: u64 },
    /// Voter → candidate.
    Vote { epoch: u64, granted: bool },
}

impl Message for Msg {
    fn kind(&self) -> &'static str {
        match self {
            Msg::Replicate(r) if r.entries.is_empty() => "heartbeat",
            Msg::Replicate(_) => "replicate",
            Msg::Ack { .. } => "ack",
            Msg::Behind { .. } => "behind",
            Msg::Fenced { .. } => "fenced",
            Msg::RequestVote { .. } => "request-vote",
            Msg::Vote { .. } => "vote",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Timer {
    /// Primary: time to send heartbeats.
    Heartbeat,
    /// Primary (async with `ship_interval`): time to ship new entries.
    Ship,
    /// Replica or candidate: the primary has been silent too long.
    PrimarySilent,
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
    pub sessions: BTreeMap<u32, (u64, u64)>,
    /// Entries `base + 1 ..= last_index()`.
    pub entries: Vec<Entry>,
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
    pub fn slice(&self, from: u64, to: u64) -> &[Entry] {
        &self.entries[(from - self.base - 1) as usize..(to - self.base) as usize]
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
        for e in self.entries.drain(..n) {
            if let Some(w) = e.write {
                self.snapshot.insert(w.key, (w.value, e.index));
                self.sessions.insert(w.client, (w.idempotency_key, e.index));
            }
            self.base_epoch = e.epoch;
        }
        self.base = upto;
    }
}

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

/// What waits for the epoch and vote to be on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum AfterEpoch {
    /// Answer a candidate.
    Vote { candidate: NodeId, epoch: u64, granted: bool },
    /// Count our own vote and ask the others for theirs.
    StandForElection { epoch: u64 },
    /// Become primary by hand (promote).
    TakeOver { epoch: u64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    Primary,
    Replica,
    Candidate,
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
    // --- every node ---
    pub role: Role,
    pub epoch: u64,
    pub voted_for: Option<NodeId>,
    pub log: Log,
    /// How much of the log is on this node's disk.
    pub persisted: u64,
    /// The primary this node follows (as far as it knows).
    pub primary: Option<NodeId>,
    /// Highest index known committed.
    pub commit: u64,
    /// The key–value store: the applied prefix of the log.
    pub store: BTreeMap<Key, (Value, u64)>,
    /// How far `store` has applied the log.
    pub applied: u64,
    /// The `PrimarySilent` timer is pending.
    silence_timer: bool,
    /// The latest epoch/vote write not yet on disk, and what waits for it.
    epoch_write: Option<WriteId>,
    after_epoch: Vec<AfterEpoch>,
    /// Local time at which the primary counts as silent.
    silence_deadline_us: i64,
    /// Log length on disk once each outstanding disk write completes.
    disk_marks: VecDeque<(WriteId, u64)>,
    /// Local time the primary was last heard from (leader stickiness: a
    /// replica that hears its primary does not vote for another).
    last_heard_us: i64,

    // --- replica ---
    /// Acks owed to the primary once the disk holds `match_index` entries:
    /// (primary, epoch, match index).
    acks_owed: Vec<(NodeId, u64, u64)>,
    /// Session reads waiting for this node to catch up: (client, key,
    /// token).
    waiting_reads: Vec<(ClientRef, Key, u64)>,

    // --- candidate ---
    /// Who granted this candidate their vote in its epoch (itself
    /// included). A set of voters, not a count of messages: a duplicated
    /// `Vote`, or a second grant to a duplicated `RequestVote`, is the same
    /// voter again and must not count twice.
    votes: BTreeSet<NodeId>,

    // --- primary ---
    /// A `Ship` timer is pending.
    ship_scheduled: bool,
    progress: BTreeMap<NodeId, Progress>,
    /// Clients waiting for their write to commit: index → client.
    waiting_writes: BTreeMap<u64, Vec<ClientRef>>,
    /// The last write of each client endpoint: idempotency key → index.
    client_table: BTreeMap<u32, (u64, u64)>,
}

/// What a node publishes for the checkers.
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
    /// The primary of `epoch` acknowledged a client's write: the one at
    /// `index` of its log (appended in this epoch or inherited).
    Acknowledged {
        epoch: u64,
        index: u64,
        value: Value,
    },
}

impl State {
    fn new(me: NodeId, disk: &Disk, initial_primary: NodeId, recovering: bool) -> Self {
        let mut s = State {
            role: Role::Replica,
            epoch: disk.epoch,
            voted_for: disk.voted_for,
            log: disk.log.clone(),
            persisted: disk.log.last_index(),
            primary: None,
            commit: disk.log.base,
            store: disk.log.snapshot.clone(),
            applied: disk.log.base,
            silence_timer: false,
            epoch_write: None,
            after_epoch: Vec::new(),
            silence_deadline_us: 0,
            disk_marks: VecDeque::new(),
            last_heard_us: i64::MIN,
            acks_owed: Vec::new(),
            waiting_reads: Vec::new(),
            votes: BTreeSet::new(),
            ship_scheduled: false,
            progress: BTreeMap::new(),
            waiting_writes: BTreeMap::new(),
            client_table: BTreeMap::new(),
        };
        if !recovering && me == initial_primary {
            s.role = Role::Primary;
        }
        if !recovering {
            s.primary = Some(initial_primary);
        }
        s
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

impl PrimaryReplica {
    // ----- timers ---------------------------------------------------------

    /// Restarts the countdown to suspecting the primary: `failover_timeout`
    /// plus a random jitter from now. One timer stays pending; when it
    /// fires early (the deadline moved on), it is set again for the rest.
    fn arm_silence_timer(state: &mut State, ctx: Ctx) {
        if ctx.params().failover == Failover::Manual {
            return;
        }
        let base = ctx.params().failover_timeout.as_micros();
        let jitter = ctx.choose(base / 2 + 1);
        state.silence_deadline_us = ctx.local_time_us().saturating_add((base + jitter) as i64);
        if !state.silence_timer {
            state.silence_timer = true;
            ctx.set_timer(Timer::PrimarySilent, SimDuration(base + jitter));
        }
    }

    // ----- the primary ----------------------------------------------------

    /// Takes over as primary in `state.epoch`.
    fn become_primary(state: &mut State, ctx: Ctx) {
        state.role = Role::Primary;
        state.primary = Some(ctx.me());
        if std::mem::take(&mut state.silence_timer) {
            ctx.cancel_timer(&Timer::PrimarySilent);
        }
        let next = state.last_index() + 1;
        state.progress =
            ctx.peers().map(|p| (p, Progress { match_index: 0, next_index: next, probing: false })).collect();
        state.client_table = state.log.sessions.clone();
        for e in &state.log.entries {
            if let Some(w) = e.write {
                state.client_table.insert(w.client, (w.idempotency_key, e.index));
            }
        }
        state.waiting_writes.clear();
        ctx.observe(Observation::BecamePrimary { epoch: state.epoch });
        ctx.note(|| format!("becomes primary in epoch {}", state.epoch));
        if state.epoch > 0 {
            // (Epoch 0's primary starts the log: nothing came before it.)
            Self::append_no_op(state, ctx);
        }
        Self::send_heartbeats(state, ctx);
        ctx.set_timer(Timer::Heartbeat, ctx.params().heartbeat);
    }

    /// A new primary starts its epoch with a no-op entry, for two reasons.
    /// Entries it inherited may not be committed, and a primary commits
    /// only entries of its own epoch (see `committed_index`): the no-op
    /// commits them with it. And a replica may hold entries past the end
    /// of its log, from an old primary that shipped them to that replica
    /// alone: they match nothing the new primary sends until an entry of
    /// the new epoch lands at their index and truncates them. Without the
    /// no-op, once clients stopped writing they stayed for ever.
    fn append_no_op(state: &mut State, ctx: Ctx) {
        Self::append(state, ctx, None);
    }

    fn step_down(state: &mut State, ctx: Ctx, epoch: u64, primary: Option<NodeId>) {
        if state.role == Role::Primary {
            ctx.observe(Observation::SteppedDown { epoch: state.epoch });
            ctx.note(|| format!("steps down: epoch {epoch} is newer than {}", state.epoch));
        }
        state.role = Role::Replica;
        state.primary = primary;
        // Writes waiting here will never be acknowledged by this node; the
        // clients time out and retry at the new primary with the same
        // idempotency key.
        state.waiting_writes.clear();
        state.progress.clear();
        if epoch > state.epoch {
            Self::adopt_epoch(state, ctx, epoch, None);
        }
        Self::arm_silence_timer(state, ctx);
    }

    /// Records a (newer) epoch durably.
    fn adopt_epoch(state: &mut State, ctx: Ctx, epoch: u64, voted_for: Option<NodeId>) {
        if epoch != state.epoch || voted_for != state.voted_for {
            state.epoch = epoch;
            state.voted_for = voted_for;
            state.epoch_write = Some(ctx.write(DiskWrite::Epoch { epoch, voted_for }));
        }
    }

    /// Does `then` once the current epoch and vote are on disk: a vote
    /// that a crash could forget would let this node vote twice in one
    /// epoch, and two primaries could share it.
    fn once_epoch_durable(state: &mut State, ctx: Ctx, then: AfterEpoch) {
        if state.epoch_write.is_some() {
            state.after_epoch.push(then);
        } else {
            Self::after_epoch_durable(state, ctx, then);
        }
    }

    fn after_epoch_durable(state: &mut State, ctx: Ctx, then: AfterEpoch) {
        match then {
            AfterEpoch::Vote { candidate, epoch, granted } => {
                ctx.send(candidate, Msg::Vote { epoch, granted })
            }
            AfterEpoch::StandForElection { epoch }
                if state.role == Role::Candidate && state.epoch == epoch =>
            {
                state.votes.insert(ctx.me()); // our own vote, now durable
                ctx.broadcast(Msg::RequestVote {
                    epoch,
                    last_epoch: state.last_epoch(),
                    last_index: state.last_index(),
                });
                if Self::has_majority(&state.votes, ctx) {
                    Self::become_primary(state, ctx);
                }
            }
            AfterEpoch::TakeOver { epoch } if state.epoch == epoch && state.role != Role::Primary => {
                Self::become_primary(state, ctx)
            }
            AfterEpoch::StandForElection { .. } | AfterEpoch::TakeOver { .. } => {} // overtaken meanwhile
        }
    }

    /// Starts a log write to disk, remembering how long the log on disk
    /// will be when it completes.
    fn write_log(state: &mut State, ctx: Ctx, write: DiskWrite) {
        let len_after = match write {
            DiskWrite::Append(e) => e.index,
            DiskWrite::Truncate { keep } => keep,
            DiskWrite::Epoch { .. } | DiskWrite::Compact { .. } => {
                unreachable!("only appends and truncations change the log's length")
            }
        };
        let id = ctx.write(write);
        state.disk_marks.push_back((id, len_after));
    }

    /// A client write reaches the primary: append it, or recognise a retry.
    fn accept_write(
        state: &mut State,
        ctx: Ctx,
        client: ClientRef,
        key: Key,
        value: Value,
        idempotency_key: u64,
    ) {
        // Keys grow with each of a client's writes, and a client has one
        // write open at a time: a key older than its last one is a late
        // retry of a write the client has finished with (ok, or failed and
        // never to be applied). Applying it now would apply it twice, or
        // apply what the client was told did not happen.
        if let Some(&(last, _)) = state.client_table.get(&client.endpoint.0)
            && idempotency_key < last
        {
            return;
        }
        if let Some(&(k, index)) = state.client_table.get(&client.endpoint.0)
            && k == idempotency_key
            // Compacted entries are committed everywhere; others must still
            // be this write (not truncated and replaced).
            && (index <= state.log.base
                || state.log.get(index).is_some_and(|e| e.write.is_some_and(|w| w.value == value)))
        {
            // A retry of a write already in the log: answer when committed.
            if index <= state.commit {
                Self::acknowledge(state, ctx, client, index, value);
            } else {
                state.waiting_writes.entry(index).or_default().push(client);
            }
            return;
        }
        let write = ClientWrite { key, value, client: client.endpoint.0, idempotency_key };
        let index = Self::append(state, ctx, Some(write));
        state.client_table.insert(client.endpoint.0, (idempotency_key, index));
        state.waiting_writes.entry(index).or_default().push(client);
        let ship_interval = ctx.params().ship_interval;
        if ship_interval == SimDuration::ZERO {
            Self::send_heartbeats(state, ctx);
        } else if !state.ship_scheduled {
            // Async with batching: ship later, together with what follows.
            state.ship_scheduled = true;
            ctx.set_timer(Timer::Ship, ship_interval);
        }
    }

    /// Appends an entry of this epoch (a write, or a no-op) to the log and
    /// starts writing it to disk; returns its index.
    fn append(state: &mut State, ctx: Ctx, write: Option<ClientWrite>) -> u64 {
        let entry = Entry { epoch: state.epoch, index: state.last_index() + 1, write };
        state.log.push(entry);
        Self::write_log(state, ctx, DiskWrite::Append(entry));
        ctx.observe(Observation::Appended { entry, from: ctx.me() });
        entry.index
    }

    /// Tells a client its write (at `index`) is committed, and the
    /// checkers that it was acknowledged.
    fn acknowledge(state: &State, ctx: Ctx, client: ClientRef, index: u64, value: Value) {
        ctx.observe(Observation::Acknowledged { epoch: state.epoch, index, value });
        ctx.reply(client, ClientReply::ok(None, state.session_token(index)));
    }

    /// Sends a replica everything from its `next_index` (at most a batch),
    /// or a heartbeat if it has everything.
    fn replicate_to(state: &mut State, ctx: Ctx, replica: NodeId) {
        const BATCH: u64 = 64;
        let (last, base) = (state.last_index(), state.log.base);
        let Some(p) = state.progress.get_mut(&replica) else {
            return;
        };
        // Every node has what was compacted, so nobody needs it resent.
        let from = p.next_index.clamp(base + 1, last + 1);
        let to = (from + BATCH - 1).min(last);
        if !p.probing {
            // Optimistic: assume these arrive; a `Behind` answer corrects it.
            p.next_index = to.max(from - 1) + 1;
        }
        let entries: Vec<Entry> = if from <= to { state.log.slice(from, to).to_vec() } else { Vec::new() };
        let prev_index = from - 1;
        let prev_epoch =
            state.log.epoch_at(prev_index).expect("the entry before `from` is the base or in the log");
        let (epoch, commit, compacted) = (state.epoch, state.commit, state.log.base);
        ctx.send(
            replica,
            Msg::Replicate(Replicate { epoch, prev_index, prev_epoch, entries, commit, compacted }),
        );
    }

    /// Sends every replica what it is missing (or a heartbeat).
    fn send_heartbeats(state: &mut State, ctx: Ctx) {
        let (me, n) = (ctx.me(), ctx.cluster().len() as u32);
        for replica in (0..n).map(NodeId).filter(|&r| r != me) {
            Self::replicate_to(state, ctx, replica);
        }
    }

    /// The highest index that counts as committed under the mode.
    ///
    /// Only an entry of the primary's *own* epoch is committed by counting
    /// where it is stored; the entries before it commit with it. An entry
    /// of an older epoch may be on enough nodes and still be replaced: a
    /// node whose last entry is of a newer epoch (appended by a primary in
    /// between, and never replicated) can win an election with the votes of
    /// nodes that hold the old entry, and overwrite it. (Raft, §5.4.2 and
    /// its Figure 8.)
    fn committed_index(state: &State, ctx: Ctx) -> u64 {
        let own = state.persisted;
        let mut acks: Vec<u64> = state.progress.values().map(|p| p.match_index.min(own)).collect();
        acks.sort_unstable_by(|a, b| b.cmp(a));
        let stored = match ctx.params().mode {
            Mode::Async => own,
            Mode::SemiSync => acks.first().copied().unwrap_or(own),
            Mode::Sync => acks.last().copied().unwrap_or(own),
        };
        if state.log.epoch_at(stored) == Some(state.epoch) { stored } else { state.commit }
    }

    /// Advances the commit index and answers the clients whose writes are
    /// now committed.
    fn advance_commit(state: &mut State, ctx: Ctx) {
        let new = Self::committed_index(state, ctx).max(state.commit);
        if new == state.commit {
            return;
        }
        state.commit = new;
        state.apply_up_to(new);
        Self::serve_waiting_reads(state, ctx);
        let still_waiting = state.waiting_writes.split_off(&(new + 1));
        let done = std::mem::replace(&mut state.waiting_writes, still_waiting);
        for (index, clients) in done {
            let e = *state.log.get(index).expect("a write waiting for commit is not compacted");
            let w = e.write.expect("clients wait only for writes, not no-ops");
            for c in clients {
                Self::acknowledge(state, ctx, c, index, w.value);
            }
        }
        Self::maybe_compact(state, ctx);
    }

    /// A replica refused entries after `refused`. Only news moves the
    /// primary back: the refusal of what it sends now (while probing), or
    /// of entries the replica has not acknowledged (before). A stale or
    /// duplicated refusal is ignored — answering each one with a resend
    /// multiplied the messages of every refusal the network duplicated,
    /// and with two unfenced primaries pulling a replica back and forth
    /// the resends never ended. Anything still missing goes out again
    /// with the next heartbeat.
    fn on_behind(state: &mut State, ctx: Ctx, replica: NodeId, refused: u64, have: u64) {
        let Some(p) = state.progress.get_mut(&replica) else {
            return;
        };
        let news = if p.probing { refused + 1 == p.next_index } else { refused >= p.match_index };
        if !news {
            return;
        }
        debug_assert!(have < refused.max(1), "a replica may match only below what it refused");
        p.probing = true;
        p.next_index = have + 1;
        Self::replicate_to(state, ctx, replica);
    }

    // ----- log compaction -------------------------------------------------

    /// Folds the log up to `upto` into a snapshot, in memory and on disk.
    fn compact(state: &mut State, ctx: Ctx, upto: u64) {
        state.log.compact(upto);
        ctx.write(DiskWrite::Compact { upto: state.log.base });
    }

    /// The primary compacts, `compact_after` entries at a time, what every
    /// replica has acknowledged and is committed; replicas follow the
    /// `compacted` mark it sends.
    fn maybe_compact(state: &mut State, ctx: Ctx) {
        let every = ctx.params().compact_after;
        if every == 0 {
            return;
        }
        let everywhere = state.progress.values().map(|p| p.match_index).min().unwrap_or(state.commit);
        let safe = everywhere.min(state.commit).min(state.applied);
        if safe >= state.log.base + every {
            Self::compact(state, ctx, safe);
        }
    }

    // ----- the replica ----------------------------------------------------

    /// `Replicate` from a primary: fencing, the log-matching rule, then
    /// append.
    fn on_replicate(state: &mut State, ctx: Ctx, from: NodeId, r: Replicate) {
        let Replicate { epoch, prev_index, prev_epoch, entries, commit, compacted } = r;
        let fencing = ctx.params().fencing;
        if fencing && epoch < state.epoch {
            // Fencing: an old primary is told about the newer epoch.
            ctx.send(from, Msg::Fenced { epoch: state.epoch });
            return;
        }
        match state.role {
            Role::Primary if fencing && epoch > state.epoch => Self::step_down(state, ctx, epoch, Some(from)),
            // A primary takes no entries from another primary. Without
            // fencing nobody tells it to stop: split brain.
            Role::Primary => return,
            Role::Candidate if epoch >= state.epoch => Self::step_down(state, ctx, epoch, Some(from)),
            _ => {}
        }
        if epoch > state.epoch {
            Self::adopt_epoch(state, ctx, epoch, None);
        }
        state.primary = Some(from);
        state.last_heard_us = ctx.local_time_us();
        Self::arm_silence_timer(state, ctx);

        // Log matching: accept entries only after the entry they follow.
        // (An entry this node compacted is one every node acknowledged: it
        // matches.)
        let matches = match state.log.epoch_at(prev_index) {
            Some(e) => e == prev_epoch,
            None => prev_index < state.log.base,
        };
        if !matches {
            let have = Self::may_match_up_to(state, prev_index);
            ctx.send(from, Msg::Behind { epoch, refused: prev_index, have });
            return;
        }
        let match_index = prev_index + entries.len() as u64;
        let base = state.log.base;
        for e in entries.into_iter().filter(|e| e.index > base) {
            match state.log.get(e.index) {
                Some(mine) if mine.epoch == e.epoch => continue,
                Some(_) => Self::truncate(state, ctx, e.index - 1),
                None => {}
            }
            state.log.push(e);
            Self::write_log(state, ctx, DiskWrite::Append(e));
            ctx.observe(Observation::Appended { entry: e, from });
        }
        state.commit = state.commit.max(commit.min(match_index));
        state.apply_up_to(state.last_index());
        Self::serve_waiting_reads(state, ctx);
        if compacted > state.log.base {
            Self::compact(state, ctx, compacted.min(state.applied));
        }
        // Acknowledge only what is on disk.
        state.acks_owed.push((from, epoch, match_index));
        Self::send_owed_acks(state, ctx);
    }

    /// Where this replica's log may agree with the primary's, given that it
    /// refused the entries after `refused`. A replica that lacks that entry
    /// may match up to its end. One whose entry there is of another epoch
    /// names the entry before the first it holds *of that epoch*: the whole
    /// epoch is suspect, so the primary skips it in one round trip instead
    /// of stepping back one entry per round trip (Raft, §5.3) — hundreds
    /// of a deposed primary's entries took longer to walk back than a
    /// healed network gave.
    fn may_match_up_to(state: &State, refused: u64) -> u64 {
        let below = refused.saturating_sub(1);
        let Some(epoch) = state.log.get(refused).map(|e| e.epoch) else {
            return state.last_index().min(below);
        };
        let first_of_epoch = state.log.entries.iter().find(|e| e.epoch == epoch).map_or(refused, |e| e.index);
        first_of_epoch.saturating_sub(1).max(state.log.base).min(below)
    }

    /// Drops entries after `keep`: they came from a primary whose log lost.
    fn truncate(state: &mut State, ctx: Ctx, keep: u64) {
        ctx.note(|| format!("truncates its log to {keep}: entries after it disagree with the primary's"));
        state.log.truncate(keep);
        state.persisted = state.persisted.min(keep);
        // Appends still on their way to disk were of the discarded entries;
        // acks owed for them would acknowledge entries that are gone.
        state.disk_marks.clear();
        state.acks_owed.retain(|&(_, _, match_index)| match_index <= keep);
        Self::write_log(state, ctx, DiskWrite::Truncate { keep });
        ctx.observe(Observation::Truncated { keep });
        if state.applied > keep {
            state.rebuild_store(keep);
        }
    }

    fn send_owed_acks(state: &mut State, ctx: Ctx) {
        let persisted = state.persisted;
        state.acks_owed.retain(|&(primary, epoch, match_index)| {
            if match_index <= persisted {
                ctx.send(primary, Msg::Ack { epoch, match_index });
                false
            } else {
                true
            }
        });
    }

    fn serve_waiting_reads(state: &mut State, ctx: Ctx) {
        let applied = state.session_token(state.applied);
        let (ready, waiting): (Vec<_>, Vec<_>) =
            state.waiting_reads.drain(..).partition(|(_, _, token)| *token <= applied);
        state.waiting_reads = waiting;
        for (client, key, _) in ready {
            ctx.reply(client, ClientReply::ok(state.store.get(&key).map(|v| v.0), applied));
        }
    }

    // ----- elections ------------------------------------------------------

    fn start_election(state: &mut State, ctx: Ctx) {
        state.role = Role::Candidate;
        state.primary = None;
        let epoch = state.epoch + 1;
        Self::adopt_epoch(state, ctx, epoch, Some(ctx.me()));
        state.votes.clear();
        ctx.note(|| format!("primary silent: stands for election in epoch {epoch}"));
        Self::arm_silence_timer(state, ctx);
        Self::once_epoch_durable(state, ctx, AfterEpoch::StandForElection { epoch });
    }

    /// More than half of *all* nodes voted for us: any two majorities
    /// share a node, and a node votes once per epoch.
    fn has_majority(voters: &BTreeSet<NodeId>, ctx: Ctx) -> bool {
        voters.len() > ctx.cluster().len() / 2
    }

    fn on_request_vote(
        state: &mut State,
        ctx: Ctx,
        candidate: NodeId,
        epoch: u64,
        last_epoch: u64,
        last_index: u64,
    ) {
        let heard_recently = state.role == Role::Replica
            && ctx.local_time_us().saturating_sub(state.last_heard_us)
                < ctx.params().failover_timeout.as_micros() as i64;
        if heard_recently {
            // Our primary is alive as far as we can tell: no election.
            ctx.send(candidate, Msg::Vote { epoch: state.epoch, granted: false });
            return;
        }
        if epoch > state.epoch {
            if state.role == Role::Primary && !ctx.params().fencing {
                // An unfenced primary does not hear of newer epochs.
                return;
            }
            if state.role != Role::Replica {
                Self::step_down(state, ctx, epoch, None);
            }
            Self::adopt_epoch(state, ctx, epoch, None);
        }
        let up_to_date = (last_epoch, last_index) >= (state.last_epoch(), state.last_index())
            // The bug: forget the election restriction.
            || ctx.params().bug == Some(params::Bug::VoteForStaleLog);
        let granted = epoch == state.epoch && state.voted_for.is_none_or(|v| v == candidate) && up_to_date;
        if granted {
            Self::adopt_epoch(state, ctx, epoch, Some(candidate));
            Self::arm_silence_timer(state, ctx);
        }
        let epoch = state.epoch;
        Self::once_epoch_durable(state, ctx, AfterEpoch::Vote { candidate, epoch, granted });
    }
}

impl Protocol for PrimaryReplica {
    const NAME: &'static str = "primary-replica";
    const COMMANDS: &'static [&'static str] = &["promote"];
    type Params = Params;
    type State = State;
    type Durable = Disk;
    type DurableWrite = DiskWrite;
    type Msg = Msg;
    type Timer = Timer;
    type Observation = Observation;

    fn init(ctx: &mut Context<'_, Self>) -> State {
        let primary = ctx.params().initial_primary;
        let mut state = State::new(ctx.me(), &Disk::default(), primary, false);
        if state.role == Role::Primary {
            Self::become_primary(&mut state, ctx);
        } else {
            Self::arm_silence_timer(&mut state, ctx);
        }
        state
    }

    fn recover(ctx: &mut Context<'_, Self>, disk: &Disk) -> State {
        let mut state = State::new(ctx.me(), disk, ctx.params().initial_primary, true);
        // The store is not on disk: rebuild it from the log that is, as a
        // replica applies entries as they arrive. (Starting from the
        // snapshot alone, a restarted node answered reads with what it held
        // at its last compaction, though the newer writes were on its disk.)
        state.apply_up_to(state.last_index());
        ctx.observe(Observation::Recovered { base: disk.log.base, entries: disk.log.entries.clone() });
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

    fn on_message(state: &mut State, ctx: &mut Context<'_, Self>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Replicate(r) => Self::on_replicate(state, ctx, from, r),
            Msg::Ack { epoch, match_index } if state.role == Role::Primary && epoch == state.epoch => {
                if let Some(p) = state.progress.get_mut(&from) {
                    p.match_index = p.match_index.max(match_index);
                    if p.probing && match_index + 1 >= p.next_index {
                        p.probing = false; // found where the logs agree
                    }
                    p.next_index = p.next_index.max(match_index + 1);
                }
                Self::advance_commit(state, ctx);
            }
            Msg::Behind { epoch, refused, have } if state.role == Role::Primary && epoch == state.epoch => {
                Self::on_behind(state, ctx, from, refused, have)
            }
            Msg::Fenced { epoch } if epoch > state.epoch && ctx.params().fencing => {
                Self::step_down(state, ctx, epoch, None)
            }
            Msg::RequestVote { epoch, last_epoch, last_index } => {
                Self::on_request_vote(state, ctx, from, epoch, last_epoch, last_index)
            }
            Msg::Vote { epoch, granted }
                if state.role == Role::Candidate && epoch == state.epoch && granted =>
            {
                state.votes.insert(from);
                if Self::has_majority(&state.votes, ctx) {
                    Self::become_primary(state, ctx);
                }
            }
            Msg::Vote { epoch, .. } if epoch > state.epoch => Self::step_down(state, ctx, epoch, None),
            // Anything else is stale: from an old epoch, or for a role this
            // node no longer has.
            _ => {}
        }
    }

    fn on_timer(state: &mut State, ctx: &mut Context<'_, Self>, timer: Timer) {
        match timer {
            Timer::Heartbeat if state.role == Role::Primary => {
                Self::send_heartbeats(state, ctx);
                ctx.set_timer(Timer::Heartbeat, ctx.params().heartbeat);
            }
            Timer::Ship => {
                state.ship_scheduled = false;
                if state.role == Role::Primary {
                    Self::send_heartbeats(state, ctx);
                }
            }
            Timer::PrimarySilent => {
                state.silence_timer = false;
                let left = state.silence_deadline_us.saturating_sub(ctx.local_time_us());
                if state.role == Role::Primary {
                    // A primary suspects nobody.
                } else if left > 0 {
                    // The deadline moved on (the primary was heard from):
                    // wait for the rest. A timer of 1µs or more always
                    // lets the clock move on (`Clock::real_duration` rounds
                    // up), so this cannot re-arm at one instant forever.
                    state.silence_timer = true;
                    ctx.set_timer(Timer::PrimarySilent, SimDuration(left as u64));
                } else {
                    Self::start_election(state, ctx);
                }
            }
            _ => {}
        }
    }

    fn on_client_request(state: &mut State, ctx: &mut Context<'_, Self>, request: ClientRequest) {
        match request.op {
            Operation::Write { key, value } if state.role == Role::Primary => {
                Self::accept_write(state, ctx, request.from, key, value, request.idempotency_key)
            }
            Operation::Write { .. } => {
                ctx.reply(request.from, ClientReply::redirect(state.primary.filter(|&p| p != ctx.me())))
            }
            Operation::Read { .. } if state.role != Role::Primary && ctx.params().reads == Reads::Primary => {
                // Primary-only reads: a replica sends the client on.
                ctx.reply(request.from, ClientReply::redirect(state.primary.filter(|&p| p != ctx.me())))
            }
            Operation::Read { key } if request.session > state.session_token(state.applied) => {
                // Read-your-writes by session token: wait until caught up.
                // A primary waits too: one deposed without knowing it has
                // not seen the client's newer writes, and never will.
                state.waiting_reads.push((request.from, key, request.session));
            }
            Operation::Read { key } if state.role == Role::Primary => {
                // The primary answers from what it has applied: committed
                // entries, plus — just after a failover — the entries it
                // inherited and has not yet seen acknowledged.
                let token = state.session_token(state.commit);
                ctx.reply(request.from, ClientReply::ok(state.store.get(&key).map(|v| v.0), token));
            }
            Operation::Read { key } => {
                let token = state.session_token(state.applied);
                ctx.reply(request.from, ClientReply::ok(state.store.get(&key).map(|v| v.0), token))
            }
            _ => ctx.reply(request.from, ClientReply::fail(crate::nodes::client::NOT_KEY_VALUE)),
        }
    }

    fn on_persisted(state: &mut State, ctx: &mut Context<'_, Self>, write: WriteId) {
        // Disk writes complete in the order they were issued.
        if state.epoch_write.is_some_and(|w| w <= write) {
            state.epoch_write = None;
            for then in std::mem::take(&mut state.after_epoch) {
                Self::after_epoch_durable(state, ctx, then);
            }
        }
        // Epoch writes carry no log length and are not in `disk_marks`.
        let Some(&(_, len)) = state.disk_marks.front().filter(|m| m.0 == write) else {
            return;
        };
        state.disk_marks.pop_front();
        state.persisted = len.min(state.last_index());
        match state.role {
            Role::Primary => Self::advance_commit(state, ctx),
            _ => Self::send_owed_acks(state, ctx),
        }
    }

    fn on_command(state: &mut State, ctx: &mut Context<'_, Self>, command: &Command) {
        match command {
            Command::Promote if state.role != Role::Primary => {
                let epoch = state.epoch + 1;
                Self::adopt_epoch(state, ctx, epoch, Some(ctx.me()));
                ctx.note(|| format!("promoted by hand in epoch {epoch}"));
                Self::once_epoch_durable(state, ctx, AfterEpoch::TakeOver { epoch });
            }
            Command::Promote => {}
        }
    }

    fn apply_write(disk: &mut Disk, write: &DiskWrite) {
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

    fn view(state: &State, disk: &Disk, cluster: &Cluster) -> NodeView {
        let role = match state.role {
            Role::Primary => "primary",
            Role::Replica => "replica",
            Role::Candidate => "candidate",
        };
        let mut v = NodeView::new(role, Some(state.epoch));
        let log = v.section("log");
        log.row("length", state.last_index())
            .row("on disk", disk.log.last_index())
            .row("commit", state.commit);
        if state.log.base > 0 {
            log.row("compacted", format!("entries 1..={} (snapshot)", state.log.base));
        }
        if let Some(p) = state.primary {
            log.row("follows", cluster.name(p));
        }
        for e in state.log.entries.iter().rev().take(5).rev() {
            let what = e.write.map_or("no-op".to_string(), |w| format!("k{} = {}", w.key, w.value));
            log.row(format!("#{} (epoch {})", e.index, e.epoch), what);
        }
        let store = v.section("store");
        for (k, (val, idx)) in &state.store {
            store.row(format!("k{k}"), format!("{val} (#{idx})"));
        }
        if state.role == Role::Primary {
            let r = v.section("replicas");
            for (n, p) in &state.progress {
                r.row(cluster.name(*n), format!("match {} next {}", p.match_index, p.next_index));
            }
        }
        v
    }
}
