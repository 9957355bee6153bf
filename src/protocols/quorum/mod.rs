//! Quorum replication with tunable N, R and W (Dynamo / Cassandra style).
//!
//! # Model
//! Every key lives on `n` replicas: the first `n` nodes clockwise from the
//! key's position on a consistent-hash ring (every node, when the cluster
//! has `n` nodes). A client may send a request to *any* node; that node
//! becomes the request's **coordinator**.
//!
//! # The algorithm
//! 1. *Write.* The value gets a **version**, the newest-wins order
//!    Cassandra uses: by default a *client-side timestamp* — `(the client's
//!    clock when it invoked the write, the client, the client's sequence
//!    number)` — or, with `timestamps = "coordinator"`, `(the coordinator's
//!    clock, its node id)`. The
//!    coordinator sends `Store` to the key's `n` replicas. Each replica keeps
//!    the value if its version is newer than what it has, and answers
//!    `Stored` once the value is on disk. After `w` acknowledgements the
//!    coordinator tells the client "ok".
//! 2. *Read.* The coordinator sends `Fetch` to the `n` replicas and answers
//!    after `r` replies, with the value of the newest version among them.
//! 3. *Why it works.* If `r + w > n`, every set of `r` replicas shares at
//!    least one replica with every set of `w` replicas, so a read sees the
//!    newest acknowledged write (or something newer). If `r + w ≤ n`, a
//!    read can miss it entirely: a **stale read**.
//! 4. *Unavailability.* If fewer than `w` (or `r`) replicas answer within
//!    `timeout`, the coordinator gives up: a read *fails*; a write's outcome
//!    is *unknown* (some replicas may have stored it). `all` is the first
//!    to become unavailable when a replica is unreachable; `one` the last.
//! 5. *Read repair* (option): replicas that answered a read with an older
//!    version are sent the newest one.
//! 6. *Sloppy quorum and hinted handoff* (option): when a replica does not
//!    answer, the coordinator suspects it for a while and writes to the
//!    next node on the ring instead, a **stand-in**, with a *hint* naming
//!    the replica it stands in for. The stand-in keeps trying to hand the
//!    value back; once the replica has it, the hint is dropped. Writes stay
//!    available through a partition — but a read quorum may then miss a
//!    write quorum even with `r + w > n`.
//! 7. *Write-back* (option, after Attiya, Bar-Noy and Dolev): before
//!    answering a read, the coordinator stores the value it is about to
//!    return on `w` replicas. Without it, two reads can disagree about a
//!    write still in progress (one sees it, a later one does not); with it,
//!    reads are linearizable.
//! 8. *Commit wait* (Spanner's rule, when r + w > n without sloppy or local
//!    quorums): a coordinator does not acknowledge a store — a write, or a
//!    read's write-back — in the microsecond its version may carry. If its
//!    quorum answered before its own clock ticked since the phase began (no
//!    latency at all), it waits for the tick. Clocks count microseconds, so
//!    without it a write completing in the microsecond it was invoked ties
//!    with a write another client invokes after it in that microsecond, and
//!    the writer ids, not real time, pick the winner.
//!
//! Versions of one writer always increase: two writes a client invokes in
//! one microsecond differ in the sequence number. Together with the commit
//! wait, a write invoked after another completed (or after a read returned
//! it) has the greater version — the real-time order that freshness and
//! linearizability need.
//!
//! The commit wait trusts "my clock has not ticked" to mean "no real time
//! has passed". A time-keyed clock fault is applied before anything else
//! in its microsecond, so it cannot fool that; only an operator stepping a
//! clock *between two events of one microsecond* (a `step`-keyed timeline
//! entry) could. A real node would use its monotonic clock here.
//!
//! *Why client-side timestamps.* A coordinator that stamps a write when it
//! *receives* it can stamp an old request late: one held by a long GC
//! pause, or delayed by the network, gets a fresh timestamp and overwrites
//! writes made since — even with `r + w > n`. Stamping at the client fixes
//! the order at invocation. Either way versions come from clocks, so clock
//! skew bends them (see the multi-master lessons).
//!
//! # What is durable
//! Each replica's key–value store, with versions, and a stand-in's hints.
//! A replica acknowledges a `Store` only after it is on disk. Coordinations
//! in progress are volatile: a crashed coordinator's clients time out.
//!
//! # Invariants (checked in [`checker`])
//! - `fresh-reads`: every read returns a version at least as new as every
//!   write acknowledged before the read began. Holds when `r + w > n`
//!   without sloppy quorum (and synchronised clocks: versions come from
//!   clocks); breaks when `r + w ≤ n`.
//!
//! Sources: DeCandia et al., "Dynamo: Amazon's Highly Available Key-value
//! Store" (SOSP 2007); Kleppmann, *Designing Data-Intensive Applications*,
//! ch. 5 ("Quorums for reading and writing", "Sloppy Quorums and Hinted
//! Handoff"); Attiya, Bar-Noy & Dolev, "Sharing memory robustly in
//! message-passing systems" (JACM 1995); Corbett et al., "Spanner:
//! Google's Globally-Distributed Database" (OSDI 2012), for commit wait.

pub mod checker;
pub mod exercises;
mod params;

pub use checker::QuorumChecker;
pub use params::{Level, Params, RawParams, Timestamps};

use crate::nodes::{
    ClientRef, ClientReply, ClientRequest, Cluster, Context, Key, Message, NodeId, NodeView, Operation,
    Protocol, TimerId, Value,
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub clock_us: i64,
    pub writer: u32,
    /// Client-side timestamps: the write's idempotency key, which grows
    /// with every operation of a client endpoint (and is the same for
    /// every attempt of one write). Coordinator timestamps: 0 (the
    /// coordinator already stamps each write above everything it has seen).
    pub seq: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Msg {
    /// Coordinator → replica (or stand-in, with `hint_for`): keep this value
    /// if it is newer. `req` 0 asks for no answer (read repair).
    Store { req: u64, key: Key, version: Version, value: Value, hint_for: Option<NodeId> },
    /// Replica → coordinator: it is on my disk.
    Stored { req: u64 },
    /// Coordinator → replica: what do you have for `key`?
    Fetch { req: u64, key: Key },
    /// Replica → coordinator.
    Fetched { req: u64, found: Option<(Version, Value)> },
    /// Stand-in → replica: a value written while you were unreachable.
    Handoff { key: Key, version: Version, value: Value },
    /// Replica → stand-in: got it; drop the hint.
    HandedOff { key: Key, version: Version },
}

impl Message for Msg {
    fn kind(&self) -> &'static str {
        match self {
            Msg::Store { req: 0, .. } => "repair",
            Msg::Store { hint_for: Some(_), .. } => "store-hinted",
            Msg::Store { .. } => "store",
            Msg::Stored { .. } => "stored",
            Msg::Fetch { .. } => "fetch",
            Msg::Fetched { .. } => "fetched",
            Msg::Handoff { .. } => "handoff",
            Msg::HandedOff { .. } => "handed-off",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Timer {
    /// The coordinator of `req` stops waiting.
    Deadline { req: u64 },
    /// The clock has ticked since the phase of `req` began: answer now.
    CommitWait { req: u64 },
    /// A stand-in retries handing its hints back.
    Handoff,
}

/// The disk: versioned values, and hints held for other replicas.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Disk {
    pub store: BTreeMap<Key, (Version, Value)>,
    /// (replica the value belongs to, key) → the value to hand back.
    pub hints: BTreeMap<(NodeId, Key), (Version, Value)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum DiskWrite {
    Put { key: Key, version: Version, value: Value },
    Hint { replica: NodeId, key: Key, version: Version, value: Value },
    DropHint { replica: NodeId, key: Key, version: Version },
}

/// Whom a replica tells once its disk has caught up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Ack {
    /// `Stored` to a coordinator (possibly this node).
    Stored { coordinator: NodeId, req: u64 },
    /// `HandedOff` to the stand-in that held the hint.
    HandedOff { standin: NodeId, key: Key, version: Version },
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
    asked: BTreeMap<NodeId, bool>,
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
    deadline: TimerId,
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
    coordinating: BTreeMap<u64, Coordination>,
    /// Replicas that did not answer in time, suspected until this local
    /// time (sloppy quorum only).
    suspected: BTreeMap<NodeId, i64>,
    /// The newest version this node has issued or seen: a coordinator never
    /// stamps a write older than what it has already seen.
    newest_seen: Option<Version>,
    /// The latest write of each client endpoint: (idempotency key, the
    /// version it was stamped with). A repeated request (a duplicate, or a
    /// retry) keeps its version, so storing it again changes nothing;
    /// stamped anew it would overwrite writes made since.
    stamped: BTreeMap<u32, (u64, Version)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
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

/// How long a commit wait lasts on the local clock: at least one real
/// microsecond on a clock drifting by up to ±10% (the limit a scenario may
/// set), however the engine rounds.
const COMMIT_WAIT: SimDuration = SimDuration::from_micros(2);

impl Quorum {
    // ----- the coordinator ------------------------------------------------

    /// Sends a phase's requests to the key's replicas (or, sloppily, to
    /// stand-ins for suspected ones) and arms the deadline.
    fn start(state: &mut State, ctx: Ctx, client: ClientRef, key: Key, phase: Phase) {
        let req = Self::new_request(state);
        let deadline = ctx.set_timer(ctx.params().timeout, Timer::Deadline { req });
        let c = Coordination {
            client,
            key,
            phase,
            asked: BTreeMap::new(),
            answered: BTreeSet::new(),
            counted: 0,
            needed: 0,
            replies: Vec::new(),
            answered_client: false,
            began_local_us: 0,
            commit_waiting: false,
            deadline,
        };
        Self::ask_and_wait(state, ctx, req, c);
    }

    fn new_request(state: &mut State) -> u64 {
        state.next_req += 1;
        state.req_base.wrapping_add(state.next_req)
    }

    /// Registers the coordination, asks, and handles this node's own part
    /// (it may be one of the replicas).
    fn ask_and_wait(state: &mut State, ctx: Ctx, req: u64, mut c: Coordination) {
        let local = Self::ask(state, ctx, req, &mut c);
        state.coordinating.insert(req, c);
        if let Some(msg) = local {
            Self::handle_locally(state, ctx, req, msg);
        }
        Self::maybe_finish(state, ctx, req);
    }

    /// Picks whom to ask for the coordination's current phase and asks the
    /// others; returns the request for this node itself, if it is asked.
    fn ask(state: &State, ctx: Ctx, req: u64, c: &mut Coordination) -> Option<Msg> {
        let p = ctx.params();
        let me = ctx.me();
        let my_region = p.region_of[me.index()];
        c.asked.clear();
        c.answered.clear();
        c.counted = 0;
        c.replies.clear();
        let now = ctx.local_time_us();
        c.began_local_us = now;
        c.commit_waiting = false;
        let suspected = |n: &NodeId| p.sloppy && state.suspected.get(n).is_some_and(|&until| until > now);
        // (node, stands in for)
        let mut targets: Vec<(NodeId, Option<NodeId>)> = Vec::new();
        if p.local {
            // local-quorum: n replicas in every region; only this region's
            // count toward the quorum.
            for region in 0..p.regions {
                targets.extend(
                    p.ring_from(c.key)
                        .filter(|n| p.region_of[n.index()] == region)
                        .take(p.n)
                        .map(|n| (n, None)),
                );
            }
        } else {
            let mut standins = p.ring_from(c.key).skip(p.n).filter(|n| !suspected(n));
            for replica in p.preference_list(c.key) {
                if !suspected(&replica) {
                    targets.push((replica, None));
                } else if let Some(standin) = standins.next() {
                    targets.push((standin, Some(replica)));
                }
            }
        }
        let local_count = targets.iter().filter(|(n, _)| p.region_of[n.index()] == my_region).count();
        c.needed = match (&c.phase, p.local) {
            (_, true) => local_count / 2 + 1,
            (Phase::Read, false) => p.r,
            (_, false) => p.w,
        };
        let mut local = None;
        for (node, hint_for) in targets {
            c.asked.insert(node, !p.local || p.region_of[node.index()] == my_region);
            let msg = match &c.phase {
                Phase::Read => Msg::Fetch { req, key: c.key },
                Phase::Write { version, value } => {
                    Msg::Store { req, key: c.key, version: *version, value: *value, hint_for }
                }
                Phase::WriteBack { found: Some((version, value)) } => {
                    Msg::Store { req, key: c.key, version: *version, value: *value, hint_for }
                }
                Phase::WriteBack { found: None } => unreachable!("only a found value is written back"),
            };
            if node == me {
                local = Some(msg);
            } else {
                ctx.send(node, msg);
            }
        }
        local
    }

    /// The coordinator is itself one of the nodes it asks.
    fn handle_locally(state: &mut State, ctx: Ctx, req: u64, msg: Msg) {
        let me = ctx.me();
        match msg {
            Msg::Fetch { key, .. } => {
                let found = state.store.get(&key).copied();
                Self::count_answer(state, ctx, me, req, Answer::Fetched(found));
            }
            Msg::Store { key, version, value, hint_for, .. } => {
                let ack = (req != 0).then_some(Ack::Stored { coordinator: me, req });
                Self::store(state, ctx, key, version, value, hint_for, ack)
            }
            _ => unreachable!("a coordinator only fetches and stores locally"),
        }
    }

    /// An answer from `from` for `req`: count it, and finish if enough.
    fn count_answer(state: &mut State, ctx: Ctx, from: NodeId, req: u64, answer: Answer) {
        state.suspected.remove(&from);
        let Some(c) = state.coordinating.get_mut(&req) else { return };
        let fits = matches!(
            (&c.phase, answer),
            (Phase::Read, Answer::Fetched(_))
                | (Phase::Write { .. } | Phase::WriteBack { .. }, Answer::Stored)
        );
        if !fits || !c.asked.contains_key(&from) || !c.answered.insert(from) {
            return; // not an answer to this phase, not asked, or a duplicate
        }
        if let Answer::Fetched(found) = answer {
            if let Some((v, _)) = found {
                state.newest_seen = state.newest_seen.max(Some(v));
            }
            c.replies.push((from, found));
            if c.answered_client && ctx.params().read_repair {
                Self::read_repair(state, ctx, req);
                return;
            }
        }
        if c.asked[&from] {
            c.counted += 1;
        }
        Self::maybe_finish(state, ctx, req);
    }

    /// Finishes a phase once enough replicas answered.
    fn maybe_finish(state: &mut State, ctx: Ctx, req: u64) {
        let Some(c) = state.coordinating.get_mut(&req) else { return };
        if c.answered_client || c.commit_waiting || c.counted < c.needed {
            return;
        }
        let stores = matches!(c.phase, Phase::Write { .. } | Phase::WriteBack { .. });
        if stores && ctx.params().quorums_overlap() && ctx.local_time_us() == c.began_local_us {
            // Commit wait: the version may carry this very microsecond.
            c.commit_waiting = true;
            ctx.set_timer(COMMIT_WAIT, Timer::CommitWait { req });
            return;
        }
        Self::finish(state, ctx, req);
    }

    /// The phase's quorum has answered (and the clock has ticked since it
    /// began, if it stored a version): answer the client, or go on to the
    /// write-back.
    fn finish(state: &mut State, ctx: Ctx, req: u64) {
        let Some(c) = state.coordinating.get_mut(&req) else { return };
        match c.phase.clone() {
            Phase::Write { .. } => {
                c.answered_client = true;
                ctx.reply(c.client, ClientReply::ok(None, 0));
            }
            Phase::Read => {
                let newest = exercises::pick_read_value(ctx.params(), &c.replies);
                if ctx.params().write_back && newest.is_some() {
                    // A new phase under a new request id and deadline, so no
                    // answer of the read phase can count for it.
                    let mut c = state.coordinating.remove(&req).expect("present");
                    ctx.cancel_timer(c.deadline);
                    let req = Self::new_request(state);
                    c.deadline = ctx.set_timer(ctx.params().timeout, Timer::Deadline { req });
                    c.phase = Phase::WriteBack { found: newest };
                    return Self::ask_and_wait(state, ctx, req, c);
                }
                c.answered_client = true;
                ctx.reply(c.client, ClientReply::ok(newest.map(|(_, v)| v), 0));
                if ctx.params().read_repair {
                    // Stay until the deadline to repair late replies too.
                    return Self::read_repair(state, ctx, req);
                }
            }
            Phase::WriteBack { found } => {
                c.answered_client = true;
                ctx.reply(c.client, ClientReply::ok(found.map(|(_, v)| v), 0));
            }
        }
        // Done: late answers are ignored.
        if let Some(c) = state.coordinating.remove(&req) {
            ctx.cancel_timer(c.deadline);
        }
    }

    /// Sends the newest version to every replica that answered with older.
    fn read_repair(state: &mut State, ctx: Ctx, req: u64) {
        let Some(c) = state.coordinating.get_mut(&req) else { return };
        let Some((version, value)) = c.replies.iter().filter_map(|r| r.1).max() else { return };
        let key = c.key;
        let stale: Vec<NodeId> =
            c.replies.iter().filter(|(_, f)| f.is_none_or(|(v, _)| v < version)).map(|(n, _)| *n).collect();
        // Repaired replicas now hold the newest version.
        for (_, f) in c.replies.iter_mut() {
            *f = Some((version, value));
        }
        if stale.is_empty() {
            return;
        }
        ctx.observe(Observation::Repaired { key, replicas: stale.len() as u32 });
        for node in stale {
            let msg = Msg::Store { req: 0, key, version, value, hint_for: None };
            if node == ctx.me() {
                Self::handle_locally(state, ctx, 0, msg);
            } else {
                ctx.send(node, msg);
            }
        }
    }

    /// The deadline of `req`: answered already (stop read-repairing), or
    /// give up and suspect the silent replicas.
    fn on_deadline(state: &mut State, ctx: Ctx, req: u64) {
        let Some(c) = state.coordinating.remove(&req) else { return };
        if c.answered_client {
            return;
        }
        if c.commit_waiting {
            // The quorum answered; the commit wait answers the client.
            state.coordinating.insert(req, c);
            return;
        }
        let until = ctx.local_time_us().saturating_add(4 * ctx.params().timeout.as_micros() as i64);
        for n in c.asked.keys().filter(|n| !c.answered.contains(n)) {
            state.suspected.insert(*n, until);
        }
        ctx.observe(Observation::Unavailable {
            key: c.key,
            answered: c.counted as u32,
            needed: c.needed as u32,
        });
        let reply = match c.phase {
            // A read changes nothing (a write-back only re-stores a value
            // already written): it certainly failed.
            Phase::Read | Phase::WriteBack { .. } => {
                ClientReply::fail("unavailable: too few replicas answered")
            }
            // Some replicas may have stored it: the outcome is unknown.
            Phase::Write { .. } => ClientReply::unknown("timed out: too few replicas acknowledged"),
        };
        ctx.reply(c.client, reply);
    }

    // ----- the replica ----------------------------------------------------

    /// Keeps `value` if it is newer (as a stand-in: keeps the hint if it
    /// is newer), then owes `ack` once the disk has caught up — also when
    /// nothing new was written, since an older write of the same value may
    /// still be on its way to disk.
    fn store(
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
                Self::disk_write(ctx, DiskWrite::Hint { replica, key, version, value });
                Self::arm_handoff(state, ctx);
            }
        }
        if state.store.get(&key).is_none_or(|(v, _)| *v < version) {
            state.store.insert(key, (version, value));
            if hint_for.is_none() {
                ctx.observe(Observation::Stored { key, version, hinted: false });
            }
            Self::disk_write(ctx, DiskWrite::Put { key, version, value });
        }
        let Some(ack) = ack else { return }; // read repair: nobody waits
        ctx.once_durable(|ctx| Self::acknowledge(ctx, ack));
    }

    fn disk_write(ctx: Ctx, write: DiskWrite) {
        ctx.write(write);
    }

    fn acknowledge(ctx: Ctx, ack: Ack) {
        match ack {
            // The coordinator's own copy counts like any replica's.
            Ack::Stored { coordinator, req } if coordinator == ctx.me() => ctx.loopback(Msg::Stored { req }),
            Ack::Stored { coordinator, req } => ctx.send(coordinator, Msg::Stored { req }),
            Ack::HandedOff { standin, key, version } => ctx.send(standin, Msg::HandedOff { key, version }),
        }
    }

    // ----- hinted handoff -------------------------------------------------

    fn arm_handoff(state: &mut State, ctx: Ctx) {
        if !state.handoff_timer && !state.hints.is_empty() {
            state.handoff_timer = true;
            ctx.set_timer(ctx.params().handoff_interval, Timer::Handoff);
        }
    }

    fn hand_off(state: &mut State, ctx: Ctx) {
        state.handoff_timer = false;
        let hints: Vec<_> = state
            .hints
            .iter()
            .map(|(&(replica, key), &(version, value))| (replica, key, version, value))
            .collect();
        for (replica, key, version, value) in hints {
            ctx.send(replica, Msg::Handoff { key, version, value });
        }
        Self::arm_handoff(state, ctx);
    }
}

impl Protocol for Quorum {
    const NAME: &'static str = "quorum";
    type Params = Params;
    type State = State;
    type Durable = Disk;
    type DurableWrite = DiskWrite;
    type Msg = Msg;
    type Timer = Timer;
    type Observation = Observation;

    fn recover(ctx: &mut Context<'_, Self>, disk: &Disk) -> State {
        let mut state = State {
            store: disk.store.clone(),
            hints: disk.hints.clone(),
            handoff_timer: false,
            // The node's stream is not rewound by a crash: a fresh base.
            req_base: ctx.rng().next_u64() & !0xffff_ffff,
            next_req: 0,
            coordinating: BTreeMap::new(),
            suspected: BTreeMap::new(),
            newest_seen: disk.store.values().map(|(v, _)| *v).max(),
            stamped: BTreeMap::new(),
        };
        Self::arm_handoff(&mut state, ctx);
        state
    }

    fn on_message(state: &mut State, ctx: &mut Context<'_, Self>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Store { req, key, version, value, hint_for } => {
                let ack = (req != 0).then_some(Ack::Stored { coordinator: from, req });
                Self::store(state, ctx, key, version, value, hint_for, ack)
            }
            Msg::Stored { req } => Self::count_answer(state, ctx, from, req, Answer::Stored),
            Msg::Fetch { req, key } => {
                let found = state.store.get(&key).copied();
                ctx.send(from, Msg::Fetched { req, found });
            }
            Msg::Fetched { req, found } => Self::count_answer(state, ctx, from, req, Answer::Fetched(found)),
            Msg::Handoff { key, version, value } => {
                // "Got it" only once it is on disk: the stand-in then drops
                // its hint, the last other copy.
                let ack = Ack::HandedOff { standin: from, key, version };
                Self::store(state, ctx, key, version, value, None, Some(ack));
            }
            Msg::HandedOff { key, version } => {
                if state.hints.get(&(from, key)).is_some_and(|(v, _)| *v == version) {
                    state.hints.remove(&(from, key));
                    Self::disk_write(ctx, DiskWrite::DropHint { replica: from, key, version });
                    ctx.observe(Observation::HandedOff { key, to: from });
                }
            }
        }
    }

    fn on_timer(state: &mut State, ctx: &mut Context<'_, Self>, timer: Timer) {
        match timer {
            Timer::Deadline { req } => Self::on_deadline(state, ctx, req),
            Timer::CommitWait { req } => Self::finish(state, ctx, req),
            Timer::Handoff => Self::hand_off(state, ctx),
        }
    }

    fn on_client_request(state: &mut State, ctx: &mut Context<'_, Self>, request: ClientRequest) {
        let key = request.op.key();
        let phase = match request.op {
            Operation::Read { .. } => Phase::Read,
            Operation::CartAdd { .. } | Operation::Transfer { .. } | Operation::Order { .. } => {
                return ctx.reply(request.from, ClientReply::fail(crate::nodes::client::NOT_KEY_VALUE));
            }
            Operation::Write { value, .. } if ctx.params().timestamps == Timestamps::Client => {
                // Client-side timestamp: when the client invoked the write.
                // A request delayed in the network (or held by a paused
                // coordinator) keeps its age, and a retry its version.
                let version = Version {
                    clock_us: request.invoked_at_us,
                    writer: request.from.endpoint.0,
                    seq: request.idempotency_key,
                };
                ctx.observe(Observation::Versioned { key, value, version });
                Phase::Write { version, value }
            }
            Operation::Write { value, .. } => {
                let client = request.from.endpoint.0;
                let version = match state.stamped.get(&client) {
                    Some(&(k, version)) if k == request.idempotency_key => version,
                    // A client has one operation open at a time, and its
                    // keys grow: an older key is a stale duplicate of an
                    // operation that has finished. Drop it.
                    Some(&(k, _)) if request.idempotency_key < k => return,
                    _ => {
                        // Stamp with the local clock, but never older than a
                        // version this node has already seen.
                        let mut version =
                            Version { clock_us: ctx.local_time_us(), writer: ctx.me().0, seq: 0 };
                        if let Some(seen) = state.newest_seen
                            && version <= seen
                        {
                            version.clock_us = seen.clock_us + 1;
                        }
                        state.newest_seen = Some(version);
                        state.stamped.insert(client, (request.idempotency_key, version));
                        ctx.observe(Observation::Versioned { key, value, version });
                        version
                    }
                };
                Phase::Write { version, value }
            }
        };
        Self::start(state, ctx, request.from, key, phase);
    }

    fn apply_write(disk: &mut Disk, write: &DiskWrite) {
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

    fn view(state: &State, _disk: &Disk, cluster: &Cluster) -> NodeView {
        let mut v =
            NodeView::new(if state.coordinating.is_empty() { "replica" } else { "coordinator" }, None);
        let s = v.section("store");
        for (k, (ver, val)) in &state.store {
            let writer = cluster
                .names
                .get(ver.writer as usize)
                .cloned()
                .unwrap_or_else(|| format!("client #{}", ver.writer));
            s.row(format!("k{k}"), format!("{val} (v{}@{writer})", ver.clock_us));
        }
        if !state.hints.is_empty() {
            let h = v.section("hints");
            for ((replica, k), (_, val)) in &state.hints {
                h.row(format!("k{k} for {}", cluster.name(*replica)), val);
            }
        }
        if !state.coordinating.is_empty() {
            let c = v.section("coordinating");
            for (req, co) in &state.coordinating {
                c.row(format!("#{req} k{}", co.key), format!("{}/{} answers", co.counted, co.needed));
            }
        }
        v
    }
}
