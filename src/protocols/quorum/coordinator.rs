//! The coordinator: the node a client's request reaches. It asks the
//! key's replicas and answers once `w` (or `r`) have.
//!
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
//! 6. *Write-back* (option, after Attiya, Bar-Noy and Dolev): before
//!    answering a read, the coordinator stores the value it is about to
//!    return on `w` replicas. Without it, two reads can disagree about a
//!    write still in progress (one sees it, a later one does not); with it,
//!    reads are linearizable.
//! 7. *Commit wait* (Spanner's rule, when r + w > n without sloppy or local
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
use super::*;

/// How long a commit wait lasts on the local clock: at least one real
/// microsecond on a clock drifting by up to ±10% (the limit a scenario may
/// set), however the engine rounds.
const COMMIT_WAIT: SimDuration = SimDuration::from_micros(2);

impl Quorum {
    /// Sends a phase's requests to the key's replicas (or, sloppily, to
    /// stand-ins for suspected ones) and arms the deadline.
    pub(super) fn start(state: &mut State, ctx: Ctx, client: ClientRef, key: Key, phase: Phase) {
        let req = Self::new_request(state);
        ctx.set_timer(Timer::Deadline { req }, ctx.params().timeout);
        let c = Coordination {
            client,
            key,
            phase,
            asked: SmallMap::new(),
            answered: BTreeSet::new(),
            counted: 0,
            needed: 0,
            replies: Vec::new(),
            answered_client: false,
            began_local_us: 0,
            commit_waiting: false,
        };
        Self::ask_and_wait(state, ctx, req, c);
    }

    pub(super) fn new_request(state: &mut State) -> u64 {
        state.next_req += 1;
        state.req_base.wrapping_add(state.next_req)
    }

    /// Registers the coordination, asks, and handles this node's own part
    /// (it may be one of the replicas).
    pub(super) fn ask_and_wait(state: &mut State, ctx: Ctx, req: u64, mut c: Coordination) {
        let local = Self::ask(state, ctx, req, &mut c);
        state.coordinating.insert(req, c);
        if let Some(msg) = local {
            Self::handle_locally(state, ctx, req, msg);
        }
        Self::maybe_finish(state, ctx, req);
    }

    /// Picks whom to ask for the coordination's current phase and asks the
    /// others; returns the request for this node itself, if it is asked.
    pub(super) fn ask(state: &State, ctx: Ctx, req: u64, c: &mut Coordination) -> Option<Msg> {
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
    pub(super) fn handle_locally(state: &mut State, ctx: Ctx, req: u64, msg: Msg) {
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
    pub(super) fn count_answer(state: &mut State, ctx: Ctx, from: NodeId, req: u64, answer: Answer) {
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
    pub(super) fn maybe_finish(state: &mut State, ctx: Ctx, req: u64) {
        let Some(c) = state.coordinating.get_mut(&req) else { return };
        if c.answered_client || c.commit_waiting || c.counted < c.needed {
            return;
        }
        let stores = matches!(c.phase, Phase::Write { .. } | Phase::WriteBack { .. });
        if stores && ctx.params().quorums_overlap() && ctx.local_time_us() == c.began_local_us {
            // Commit wait: the version may carry this very microsecond.
            c.commit_waiting = true;
            ctx.set_timer(Timer::CommitWait { req }, COMMIT_WAIT);
            return;
        }
        Self::finish(state, ctx, req);
    }

    /// The phase's quorum has answered (and the clock has ticked since it
    /// began, if it stored a version): answer the client, or go on to the
    /// write-back.
    pub(super) fn finish(state: &mut State, ctx: Ctx, req: u64) {
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
                    ctx.cancel_timer(&Timer::Deadline { req });
                    let req = Self::new_request(state);
                    ctx.set_timer(Timer::Deadline { req }, ctx.params().timeout);
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
        if state.coordinating.remove(&req).is_some() {
            ctx.cancel_timer(&Timer::Deadline { req });
        }
    }

    /// Sends the newest version to every replica that answered with older.
    pub(super) fn read_repair(state: &mut State, ctx: Ctx, req: u64) {
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
    pub(super) fn on_deadline(state: &mut State, ctx: Ctx, req: u64) {
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
}
