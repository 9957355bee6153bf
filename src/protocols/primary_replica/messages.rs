//! The rule table: the messages and timers of primary–replica replication,
//! and which handler each one runs. Read this first; the handlers are in
//! `primary.rs`, `replica.rs` and `election.rs`.

use super::*;

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
    type Workload = crate::nodes::KeyValue<Params>;

    fn on_message(state: &mut State, ctx: &mut Context<'_, Self>, from: NodeId, msg: Msg) {
        match msg {
            Msg::Replicate(r) => Self::on_replicate(state, ctx, from, r),
            Msg::Ack { epoch, match_index } if state.leads(epoch) => {
                Self::on_ack(state, ctx, from, match_index)
            }
            Msg::Behind { epoch, refused, have } if state.leads(epoch) => {
                Self::on_behind(state, ctx, from, refused, have)
            }
            Msg::Fenced { epoch } if epoch > state.epoch && ctx.params().fencing => {
                Self::step_down(state, ctx, epoch, None)
            }
            Msg::RequestVote { epoch, last_epoch, last_index } => {
                Self::on_request_vote(state, ctx, from, epoch, last_epoch, last_index)
            }
            Msg::Vote { epoch, granted: true } if epoch == state.epoch => Self::on_vote(state, ctx, from),
            Msg::Vote { epoch, .. } if epoch > state.epoch => Self::step_down(state, ctx, epoch, None),
            Msg::TakeOver { epoch } if epoch == state.epoch => Self::take_over(state, ctx),
            // Anything else is stale: from an old epoch, or for a role this
            // node no longer has.
            _ => {}
        }
    }

    fn on_timer(state: &mut State, ctx: &mut Context<'_, Self>, timer: Timer) {
        match timer {
            Timer::Heartbeat if state.is_primary() => {
                Self::send_heartbeats(state, ctx);
                ctx.set_timer(Timer::Heartbeat, ctx.params().heartbeat);
            }
            Timer::Heartbeat => {}
            Timer::Ship => {
                state.ship_scheduled = false;
                if state.is_primary() {
                    Self::send_heartbeats(state, ctx);
                }
            }
            Timer::PrimarySilent => Self::on_primary_silent(state, ctx),
        }
    }

    fn on_client_request(state: &mut State, ctx: &mut Context<'_, Self>, request: ClientRequest<KvOp>) {
        match request.op {
            KvOp::Write { key, value } if state.is_primary() => {
                Self::accept_write(state, ctx, request.from, key, value, request.idempotency_key)
            }
            KvOp::Write { .. } => Self::redirect(state, ctx, request.from),
            KvOp::Read { key } => Self::read(state, ctx, request.from, key, request.session),
        }
    }

    fn on_command(state: &mut State, ctx: &mut Context<'_, Self>, command: &Command) {
        match command {
            Command::Promote => Self::promote(state, ctx),
        }
    }

    fn init(ctx: &mut Context<'_, Self>) -> State {
        Self::start(ctx)
    }

    fn recover(ctx: &mut Context<'_, Self>, disk: &Disk) -> State {
        Self::recover_from(ctx, disk)
    }

    fn apply_write(disk: &mut Disk, write: &DiskWrite) {
        Self::apply(disk, write)
    }

    fn label_observation(obs: &Observation) -> String {
        obs.label()
    }

    fn view(state: &State, disk: &Disk, cluster: &Cluster) -> NodeView {
        Self::view_of(state, disk, cluster)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Msg {
    /// Primary → replica: log entries, or none (a heartbeat).
    Replicate(Replicate),
    /// Replica → primary, once on its disk: I hold your log up to
    /// `match_index`. (The primary's own, by loopback, counts its own disk.)
    Ack { epoch: u64, match_index: u64 },
    /// Replica → primary: I refuse the entries after `refused` (the
    /// `prev_index` of your `Replicate`): I lack that entry, or mine there
    /// differs. I may match up to `have`.
    Behind { epoch: u64, refused: u64, have: u64 },
    /// Replica → old primary: there is a newer epoch (fencing).
    Fenced { epoch: u64 },
    /// Candidate → all, once its own vote is on disk: vote for me in
    /// `epoch`.
    RequestVote { epoch: u64, last_epoch: u64, last_index: u64 },
    /// Voter → candidate, once the vote is on disk. (A candidate's own
    /// vote reaches it by loopback.)
    Vote { epoch: u64, granted: bool },
    /// A node → itself, by loopback: a hand promotion's epoch is on disk;
    /// take over.
    TakeOver { epoch: u64 },
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

impl Message for Msg {
    const KINDS: &'static [&'static str] =
        &["heartbeat", "replicate", "ack", "behind", "fenced", "request-vote", "vote", "take-over"];
    fn kind(&self) -> &'static str {
        match self {
            Msg::Replicate(r) if r.entries.is_empty() => "heartbeat",
            Msg::Replicate(_) => "replicate",
            Msg::Ack { .. } => "ack",
            Msg::Behind { .. } => "behind",
            Msg::Fenced { .. } => "fenced",
            Msg::RequestVote { .. } => "request-vote",
            Msg::Vote { .. } => "vote",
            Msg::TakeOver { .. } => "take-over",
        }
    }
    fn label(&self) -> String {
        match self {
            Msg::Replicate(r) if r.entries.is_empty() => format!("Heartbeat e{}", r.epoch),
            Msg::Replicate(r) => {
                let (first, last) = (r.prev_index + 1, r.prev_index + r.entries.len() as u64);
                if first == last {
                    format!("Replicate #{first} e{}", r.epoch)
                } else {
                    format!("Replicate #{first}..{last} e{}", r.epoch)
                }
            }
            Msg::Ack { epoch, match_index } => format!("Ack #{match_index} e{epoch}"),
            Msg::Behind { refused, .. } => format!("Behind at #{refused}"),
            Msg::Fenced { epoch } => format!("Fenced e{epoch}"),
            Msg::RequestVote { epoch, .. } => format!("RequestVote e{epoch}"),
            Msg::Vote { epoch, granted: true } => format!("Vote yes e{epoch}"),
            Msg::Vote { epoch, granted: false } => format!("Vote no e{epoch}"),
            Msg::TakeOver { epoch } => format!("TakeOver e{epoch}"),
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
