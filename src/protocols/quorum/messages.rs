//! The rule table: the messages and timers of quorum replication, and
//! which handler each one runs. Read this first; the handlers are in
//! `coordinator.rs`, `replica.rs` and (advanced) `handoff.rs`.

use super::*;

impl Protocol for Quorum {
    const NAME: &'static str = "quorum";
    type Params = Params;
    type State = State;
    type Durable = Disk;
    type DurableWrite = DiskWrite;
    type Msg = Msg;
    type Timer = Timer;
    type Observation = Observation;
    type Workload = crate::nodes::KeyValue<Params>;

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
                    ctx.write(DiskWrite::DropHint { replica: from, key, version });
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

    fn on_client_request(state: &mut State, ctx: &mut Context<'_, Self>, request: ClientRequest<KvOp>) {
        let key = request.op.key();
        let phase = match request.op {
            KvOp::Read { .. } => Phase::Read,
            KvOp::Write { value, .. } if ctx.params().timestamps == Timestamps::Client => {
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
            KvOp::Write { value, .. } => {
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

    fn recover(ctx: &mut Context<'_, Self>, disk: &Disk) -> State {
        let mut state = State {
            store: disk.store.clone(),
            hints: disk.hints.clone(),
            handoff_timer: false,
            // The node's stream is not rewound by a crash: a fresh base.
            req_base: ctx.choose(1 << 32) << 32,
            next_req: 0,
            coordinating: SmallMap::new(),
            suspected: SmallMap::new(),
            newest_seen: disk.store.values().map(|(v, _)| *v).max(),
            stamped: SmallMap::new(),
        };
        Self::arm_handoff(&mut state, ctx);
        state
    }

    fn apply_write(disk: &mut Disk, write: &DiskWrite) {
        Self::apply(disk, write)
    }

    fn label_observation(obs: &Observation) -> String {
        obs.label()
    }

    fn view(state: &State, _disk: &Disk, cluster: &Cluster) -> NodeView {
        Self::view_of(state, cluster)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
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
    const KINDS: &'static [&'static str] =
        &["repair", "store-hinted", "store", "stored", "fetch", "fetched", "handoff", "handed-off"];
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
    fn label(&self) -> String {
        match self {
            Msg::Store { req: 0, key, value, .. } => format!("Repair k{key}={value}"),
            Msg::Store { key, value, hint_for: Some(n), .. } => format!("Store k{key}={value} for {n:?}"),
            Msg::Store { key, value, .. } => format!("Store k{key}={value}"),
            Msg::Stored { .. } => "Stored".into(),
            Msg::Fetch { key, .. } => format!("Fetch k{key}"),
            Msg::Fetched { found: Some((_, v)), .. } => format!("Fetched {v}"),
            Msg::Fetched { found: None, .. } => "Fetched nothing".into(),
            Msg::Handoff { key, value, .. } => format!("Handoff k{key}={value}"),
            Msg::HandedOff { key, .. } => format!("HandedOff k{key}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Timer {
    /// The coordinator of `req` stops waiting.
    Deadline { req: u64 },
    /// The clock has ticked since the phase of `req` began: answer now.
    CommitWait { req: u64 },
    /// A stand-in retries handing its hints back.
    Handoff,
}
