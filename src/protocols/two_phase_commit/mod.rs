//! Two-phase commit (2PC): transfers between accounts held on different
//! nodes, all or nothing.
//!
//! # Model
//! One node is the **coordinator** (`coordinator`, default the first node);
//! every other node is a **participant** holding bank accounts. Account `a`
//! (the client's key `k{a}`) lives on participant number
//! `a % participants`, in node order, and starts with `initial_balance`.
//! Clients submit transfers (`transfer 30 from a1 to a2`, 1 ..= `max_amount`),
//! drawn so that the two accounts live on different participants, and send
//! them to the coordinator (a participant redirects them there). A transfer
//! is a **transaction**: the debit on one node and the credit on the other
//! both happen or neither does. Its id is the client's idempotency key, the
//! same on every retry, so a retry finds its transaction: decided, it is
//! answered from the log; running, it waits for it; unknown, it starts — a
//! new prepare round, even for a transaction a crashed coordinator had
//! begun and forgotten (see "What is durable" for why that is safe).
//! Clients only transfer: `read_fraction` does not apply to this protocol.
//!
//! # The algorithm
//! 1. *Prepare* (phase one). The coordinator sends `Prepare`, with the
//!    transfer, to the participants holding its two accounts, and waits up
//!    to `prepare_timeout` for their votes.
//! 2. *Vote.* A participant locks its accounts of the transfer — no-wait
//!    locking: an account already locked by another prepared transaction
//!    means vote no — and checks the funds: a debit larger than the balance
//!    means vote no. It also refuses at random with probability
//!    `vote_no_rate`. To vote **yes** it first writes `Prepared` (the
//!    transfer) to its disk and only then sends `Vote yes`: it has promised
//!    to commit if told to, and holds its locks until it learns the outcome.
//!    To vote **no** it aborts at once — it may: without its yes nobody can
//!    commit — logs that, and sends `Vote no`.
//! 3. *Decide.* All yes: commit. Any no, or a vote still missing at
//!    `prepare_timeout`: abort. The coordinator writes the decision to its
//!    log and only once it is on disk sends `Commit` or `Abort` (phase two)
//!    and answers the client (commit: ok; abort: fail, "aborted"). That is
//!    two round trips: prepare/vote, then decision/ack.
//! 4. *Apply.* A participant applies its part of a commit (or drops it on
//!    abort), logs the outcome, releases its locks and sends `Ack`. The
//!    coordinator re-sends the decision every `decision_timeout` to
//!    participants that have not acknowledged it; once all have, it logs
//!    `End`.
//! 5. *Uncertainty.* Between its yes vote and the decision a participant is
//!    **in doubt**: it cannot commit (someone may have voted no) and cannot
//!    abort (the coordinator may have decided commit and told the others).
//!    If the decision has not come `decision_timeout` after its vote, it is
//!    **blocked**: it asks the coordinator (`Ask`), again every
//!    `decision_timeout`, holding its locks all the while — other
//!    transactions that need those accounts are refused (vote no, locked).
//! 6. *Termination* (`termination`), what a blocked participant does:
//!    - `"wait"` (default): asks the coordinator; only it can end the doubt.
//!      While the coordinator is down, its in-doubt participants stay
//!      blocked.
//!    - `"cooperative"`: the cooperative termination protocol. It also asks
//!      the other participants. One that knows the outcome tells it
//!      (`Outcome`); one that has *not voted* aborts the transaction on its
//!      own — it may, as in step 2 — remembers that (a late prepare gets a
//!      no) and tells abort; one that is itself in doubt cannot help. When
//!      every participant voted yes and none heard the decision, they stay
//!      blocked: cooperative termination shortens blocking, it cannot end it.
//!    - `"heuristic-abort"` / `"heuristic-commit"`: what real databases call
//!      a *heuristic decision* (XA's "heuristic hazard"): the blocked
//!      participant aborts (commits) on its own and releases its locks.
//!      Unsafe: when the coordinator decided the other way, the transaction
//!      is half committed and money vanishes (or appears).
//!
//! # What is durable
//! - *Coordinator*: each decision, with its transfer (to re-send it), and
//!   `End` once every participant acknowledged. Nothing is logged before the
//!   decision: **presumed abort** — no record means no decision was ever
//!   sent, so no participant can have committed. After a crash the
//!   coordinator re-sends the decisions not yet acknowledged. A transaction
//!   it began but has no decision for is settled by whoever asks first:
//!   - a participant in doubt (`Ask`): the coordinator presumes abort,
//!     logs it, and only then answers abort; a client's retry after that
//!     hears abort from the log (the `coordinator-recovery` lesson);
//!   - the client, retrying: the coordinator knows nothing of the transfer
//!     and runs it as a new one — a new prepare round, which may
//!     **commit**. That is safe because nobody was told an outcome and
//!     participants remember theirs: one that voted yes is still prepared
//!     (its `Prepared` record and locks survive) and votes yes again; one
//!     that voted no, or aborted on its own (cooperative termination),
//!     logged that abort and votes no again. So the new round commits
//!     only if every participant is still prepared to — when the first
//!     round could have committed too. (A participant forgets an outcome
//!     only once the transaction is older than `retention`, and then
//!     ignores its prepares: see *Retention*.)
//! - *Participant*: balances, `Prepared` for each yes vote, and the outcome
//!   of every transaction it decided (including its no votes and unilateral
//!   aborts) until it forgets it. After a crash it re-takes the locks of
//!   its prepared transactions, is in doubt again, and asks at once.
//! - *Both*: the local time of the latest forgetting (the floor of the
//!   retention clock).
//! - A write can reach the disk while its node is paused; the node hears of
//!   it when it resumes — or, if it crashes first, when it recovers. So a
//!   recovering node reports what its disk holds (decisions, outcomes, yes
//!   votes) to the checkers again; they ignore what they already knew.
//!
//! Every message that vouches for something on disk — a vote, an ack, an
//! outcome told to a peer, a client's answer — is sent only once that is on
//! disk ([`Context::once_durable`]).
//!
//! # Invariants (checked in [`checker`])
//! - `atomicity`: no transaction commits at one participant and aborts at
//!   another.
//! - `no-commit-after-no`: no transaction some participant voted no on is
//!   committed, by the coordinator or at a participant.
//! - `agrees-with-coordinator`: no participant decides differently from the
//!   coordinator's logged decision.
//! - `conservation`: money is neither created nor destroyed — the balances,
//!   plus the parts of committed transfers some participant has yet to
//!   apply, always add up to what the accounts started with.
//! - `client-told-the-truth`: a client told ok has its transfer's commit in
//!   the coordinator's log, one told it failed has its abort there.
//!
//! - `runs-once`: no transaction gets a new prepare round after its
//!   decision was logged — which would run the transfer twice.
//!
//! They hold under any crashes, pauses, partitions, loss, duplication and
//! clock skew with `wait` and `cooperative`, whatever `retention`; the
//! price is blocking. The heuristic decisions trade them for availability.
//! Three deliberately broken variants (`bug`) show checks firing:
//! `commit-on-timeout` (atomicity), `answer-before-log` (the client hears
//! a decision a crash then loses: `client-told-the-truth`) and
//! `no-age-check` (a forgotten transaction's late retry runs again:
//! `runs-once`).
//!
//! # Retention
//! Nothing finished is kept forever (`retention`, an hour by default; the
//! benchmark keeps 1s, so memory stays bounded). The coordinator forgets a
//! decision once every participant acknowledged it (`End`), a participant
//! its outcome once decided — each only once the transaction finished
//! `retention` ago **and** is older than `retention`: its age is the
//! node's clock minus `invoked_at_us`, the client's clock when it invoked
//! the transfer, which the transfer and every decision message carry.
//!
//! Forgetting is safe only if a late message about a forgotten transaction
//! cannot act as if it were new: a stale `Prepare` voted on afresh would
//! take locks (and, for a commit, apply the transfer) again; a stale
//! `Ask` would be presumed aborted, contradicting the logged commit; a
//! client's late retry would run the transfer twice. A node cannot tell a
//! transaction it forgot from one it never saw, but it can tell that a
//! transaction is older than `retention` — and every transaction it
//! forgot is. So a message about a transaction the node does not know and
//! that is older than `retention` is handled as one it may have forgotten:
//! - the coordinator tells the client *unknown* (info), and does not begin;
//! - a participant ignores a `Prepare` (the coordinator, if this is a live
//!   round, times out and aborts) and a peer's `Ask` (a peer truly in
//!   doubt still has the coordinator to ask);
//! - a participant acknowledges a decision and does nothing (it decided and
//!   forgot, or never prepared);
//! - the coordinator answers an `Ask` abort **without logging it**: either
//!   it crashed before deciding, and nobody committed, or it finished and
//!   forgot, and every participant had decided — then the question is a
//!   stale copy and its asker ignores the answer.
//!
//! Each node reads its clock through a floor that never goes back (durable
//! as of its latest forgetting), and it judges ages on the same clock it
//! forgets by — so clock jumps cannot make a forgotten transaction young
//! again. A short `retention` costs liveness, not safety: a transaction
//! still running when it gets that old may be refused or aborted.
//! Validation demands `retention > prepare_timeout + decision_timeout`.
//!
//! # Simplifications
//! - A participant does its work when `Prepare` arrives (the transfer rides
//!   on it), so "a participant that has not voted" is one the prepare has
//!   not reached.
//! - Abort decisions are logged and acknowledged like commits. Presumed
//!   abort lets real coordinators skip both; here the log answers a
//!   client's retry.
//!
//! Sources: Gray, "Notes on Data Base Operating Systems" (1978); Bernstein,
//! Hadzilacos & Goodman, *Concurrency Control and Recovery in Database
//! Systems* (1987), ch. 7 (two-phase commit, the cooperative termination
//! protocol); Mohan, Lindsay & Obermarck, "Transaction Management in the R*
//! Distributed Database Management System" (TODS 1986), presumed abort;
//! Kleppmann, *Designing Data-Intensive Applications*, ch. 9 ("Atomic
//! Commit and Two-Phase Commit", "Coordinator failure", "heuristic
//! decisions"); Gray & Lamport, "Consensus on Transaction Commit" (2006).

pub mod checker;
mod params;

pub use checker::TwoPhaseCommitChecker;
pub use params::{Params, RawParams, Termination};

use crate::nodes::client::{ClientSpec, draw_key};
use crate::nodes::retention::{ClockFloor, Expiry};
use crate::nodes::{
    ClientRef, ClientReply, ClientRequest, Cluster, Context, Key, Message, NodeId, NodeView, Operation,
    Protocol, TimerId,
};
use crate::rng::RngStream;
use crate::time::SimDuration;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TwoPhaseCommit;

/// A transaction's id: the client's idempotency key.
pub type Tx = u64;

/// What a transaction does: move `amount` from account `from` to `to`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Transfer {
    pub from: Key,
    pub to: Key,
    pub amount: u64,
    /// When the client invoked it (µs, its clock; the same on every
    /// retry): the transaction's age, by which nodes forget it (see
    /// "Retention").
    pub invoked_at_us: i64,
}

/// One participant's part of a transfer: the account it debits and the one
/// it credits, when it holds them.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Share {
    pub debit: Option<Key>,
    pub credit: Option<Key>,
    pub amount: u64,
}

/// As traces show it: `30 a1→a2`.
impl std::fmt::Debug for Transfer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} a{}→a{}", self.amount, self.from, self.to)
    }
}

/// As traces show it: `-30 a1`, `+30 a2`, `-30 a1 +30 a3`, or `nothing`.
impl std::fmt::Debug for Share {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if let Some(a) = self.debit {
            parts.push(format!("-{} a{a}", self.amount));
        }
        if let Some(a) = self.credit {
            parts.push(format!("+{} a{a}", self.amount));
        }
        if parts.is_empty() { f.write_str("nothing") } else { f.write_str(&parts.join(" ")) }
    }
}

impl Share {
    /// The accounts it touches (one, for a transfer to the same account).
    pub fn accounts(&self) -> impl Iterator<Item = Key> + use<> {
        let second = self.credit.filter(|c| Some(*c) != self.debit);
        self.debit.into_iter().chain(second)
    }
    /// What committing it adds to the total of all balances (its credit
    /// minus its debit).
    pub fn net(&self) -> i128 {
        let amount = self.amount as i128;
        let credit = if self.credit.is_some() { amount } else { 0 };
        let debit = if self.debit.is_some() { amount } else { 0 };
        credit - debit
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Decision {
    Commit,
    Abort,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Vote {
    /// Prepared: on my disk, accounts locked; I will commit if told to.
    Yes,
    No(NoReason),
}

/// Why a participant voted no.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NoReason {
    /// The debit is larger than the balance.
    InsufficientFunds,
    /// Another prepared transaction holds a lock on one of the accounts.
    Locked,
    /// Refused at random (`vote_no_rate`).
    Refused,
    /// This participant had already aborted the transaction (a duplicate
    /// prepare, or one that arrived after a unilateral abort).
    AlreadyAborted,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Msg {
    /// Coordinator → participant, phase one: can you commit your part?
    Prepare {
        tx: Tx,
        transfer: Transfer,
    },
    /// Participant → coordinator.
    Vote {
        tx: Tx,
        vote: Vote,
    },
    /// Coordinator → participant, phase two: the logged decision (with
    /// the transaction's age, for a participant that has forgotten it).
    Commit {
        tx: Tx,
        invoked_at_us: i64,
    },
    Abort {
        tx: Tx,
        invoked_at_us: i64,
    },
    /// Participant → coordinator: the decision is applied and on my disk.
    Ack {
        tx: Tx,
    },
    /// Blocked participant → coordinator (and, cooperative termination,
    /// the other participants): what was decided? The transfer lets a
    /// recovered coordinator that has no record log an abort for it.
    Ask {
        tx: Tx,
        transfer: Transfer,
    },
    /// Participant → blocked peer (cooperative termination): the outcome I
    /// know.
    Outcome {
        tx: Tx,
        decision: Decision,
    },
}

impl Message for Msg {
    fn kind(&self) -> &'static str {
        match self {
            Msg::Prepare { .. } => "prepare",
            Msg::Vote { vote: Vote::Yes, .. } => "vote-yes",
            Msg::Vote { vote: Vote::No(_), .. } => "vote-no",
            Msg::Commit { .. } => "commit",
            Msg::Abort { .. } => "abort",
            Msg::Ack { .. } => "ack",
            Msg::Ask { .. } => "ask",
            Msg::Outcome { .. } => "outcome",
        }
    }
}

impl Msg {
    /// The coordinator's phase-two message for `decision`.
    fn decision(tx: Tx, decision: Decision, invoked_at_us: i64) -> Msg {
        match decision {
            Decision::Commit => Msg::Commit { tx, invoked_at_us },
            Decision::Abort => Msg::Abort { tx, invoked_at_us },
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Timer {
    /// Coordinator: votes still missing now mean abort.
    PrepareTimeout { tx: Tx },
    /// Coordinator: re-send the decision to participants that have not
    /// acknowledged it.
    Resend { tx: Tx },
    /// Participant: the decision is late — blocked.
    DecisionTimeout { tx: Tx },
    /// Both: forget the finished transactions older than `retention`.
    Expire,
}

/// A decision on the coordinator's log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Logged {
    pub decision: Decision,
    pub transfer: Transfer,
    /// Every participant acknowledged it.
    pub ended: bool,
}

/// The disk. The coordinator uses the first part, participants the rest.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Disk {
    // --- the coordinator's log ---
    pub decisions: BTreeMap<Tx, Logged>,
    // --- a participant's log ---
    /// Accounts that have changed (the others hold `initial_balance`).
    pub balances: BTreeMap<Key, u64>,
    /// Yes votes without an outcome yet.
    pub prepared: BTreeMap<Tx, (Transfer, Share)>,
    /// Every outcome not yet forgotten, with this participant's share of
    /// the transfer and the transfer's `invoked_at_us`.
    pub outcomes: BTreeMap<Tx, (Decision, Share, i64)>,
    // --- both ---
    /// The local time (µs) of the latest forgetting: after a restart the
    /// retention clock never reads earlier.
    pub forgot_at_us: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum DiskWrite {
    /// Coordinator: the decision.
    Decision { tx: Tx, decision: Decision, transfer: Transfer },
    /// Coordinator: every participant acknowledged.
    End { tx: Tx },
    /// Participant: a yes vote.
    Prepared { tx: Tx, transfer: Transfer, share: Share },
    /// Participant: the outcome, with the new balances of a commit.
    Outcome { tx: Tx, decision: Decision, share: Share, invoked_at_us: i64, balances: Vec<(Key, u64)> },
    /// Retention: forget these finished transactions (decisions or
    /// outcomes), at this local time.
    Forget { txs: Vec<Tx>, at_us: i64 },
}

/// How a participant came to its decision (for the checker and the trace).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Learned {
    /// The coordinator told it.
    Coordinator,
    /// Another participant told it (cooperative termination).
    Peer,
    /// It voted no.
    VotedNo,
    /// It had not voted and a blocked peer asked (cooperative termination).
    Unilateral,
    /// It gave up waiting (heuristic decision).
    Heuristic,
    /// Read back from its own disk after a restart (see `recover`).
    Disk,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Observation {
    /// Coordinator: `Prepare` sent for `tx` (a prepare round).
    PrepareRound { tx: Tx, transfer: Transfer },
    /// Participant: its vote, once on disk, as it is sent (a yes vote still
    /// undecided is reported again after a restart).
    Voted { tx: Tx, vote: Vote },
    /// Coordinator: the decision is on its disk.
    DecisionLogged { tx: Tx, decision: Decision, transfer: Transfer },
    /// Coordinator: the decision sent to participants that have not
    /// acknowledged it (`resend`: not for the first time).
    DecisionRound { tx: Tx, resend: bool },
    /// Coordinator: every participant acknowledged.
    Ended { tx: Tx },
    /// Participant: in doubt past `decision_timeout`, holding its locks.
    Blocked { tx: Tx },
    /// Participant: its outcome is on disk (`share` applied, for a commit;
    /// reported again after a restart, with `learned: Disk`).
    Decided { tx: Tx, decision: Decision, learned: Learned, share: Share },
    /// Retention: this node forgot `count` finished transactions.
    Forgot { count: u32 },
    /// A message (a client's request, a prepare, a question) about a
    /// transaction this node does not know and that is older than
    /// `retention`: handled as one it may have forgotten.
    TooOld { tx: Tx },
}

/// A transaction the coordinator has not finished.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Running {
    transfer: Transfer,
    participants: Vec<NodeId>,
    phase: Phase,
    /// The client waiting for the outcome (its latest attempt).
    client: Option<ClientRef>,
    /// The prepare timeout, then the re-send timer.
    timer: Option<TimerId>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Phase {
    /// Phase one: collecting votes (the yes votes so far).
    Voting { yes: BTreeSet<NodeId> },
    /// Phase two: the decision is logged (and, once durable, sent);
    /// waiting for acks.
    Finishing { decision: Decision, acked: BTreeSet<NodeId> },
}

/// A participant's yes vote awaiting the outcome.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Prepared {
    transfer: Transfer,
    share: Share,
    /// In doubt past `decision_timeout`.
    blocked: bool,
    timer: Option<TimerId>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct State {
    // --- both roles ---
    /// This node is the coordinator (otherwise a participant).
    coordinator: bool,
    /// Finished transactions to forget (see "Retention").
    finished: Expiry<Tx>,
    /// The latest local time (µs) read for retention — durable as of the
    /// latest forgetting (see [`TwoPhaseCommit::now_us`]).
    clock_floor: ClockFloor,

    // --- coordinator ---
    /// Every decision taken and not yet forgotten (mirrors the log, plus
    /// one being written).
    decisions: BTreeMap<Tx, Decision>,
    running: BTreeMap<Tx, Running>,

    // --- participant ---
    balances: BTreeMap<Key, u64>,
    /// Account → the prepared transaction holding its lock.
    locks: BTreeMap<Key, Tx>,
    prepared: BTreeMap<Tx, Prepared>,
    /// Every transaction this participant decided (and has not forgotten).
    outcomes: BTreeMap<Tx, Decision>,
}

type Ctx<'a, 'b> = &'a mut Context<'b, TwoPhaseCommit>;

impl TwoPhaseCommit {
    // ----- the disk -------------------------------------------------------

    fn log(ctx: Ctx, write: DiskWrite) {
        ctx.write(write);
    }

    // ----- retention ------------------------------------------------------

    /// The local clock as retention reads it: never earlier than a time
    /// already read. (A clock set back would otherwise make a transaction
    /// forgotten at that time young again.)
    fn now_us(state: &mut State, ctx: &Context<'_, Self>) -> i64 {
        state.clock_floor.read(ctx.local_time_us())
    }

    /// Whether a transaction invoked at `invoked_at_us` is older than
    /// `retention` — one this node may have forgotten, if it does not know
    /// it.
    fn too_old(state: &mut State, ctx: &Context<'_, Self>, invoked_at_us: i64) -> bool {
        if ctx.params().bug == Some(params::Bug::NoAgeCheck) {
            // The bug: an unknown transaction is always a new one.
            return false;
        }
        invoked_at_us <= Self::now_us(state, ctx) - ctx.params().retention.as_micros() as i64
    }

    /// `tx` has finished here: forget it once it finished `retention` ago
    /// and is older than `retention`.
    fn finished(state: &mut State, ctx: &Context<'_, Self>, tx: Tx, invoked_at_us: i64) {
        let stamp = Self::now_us(state, ctx).max(invoked_at_us);
        state.finished.push(stamp, tx);
    }

    fn arm_expiry(ctx: Ctx) {
        let every = SimDuration((ctx.params().retention.0 / 4).max(1000));
        ctx.set_timer(every, Timer::Expire);
    }

    /// Retention: forgets the finished transactions that are due. A message
    /// about one of them that comes later finds it older than `retention`
    /// and unknown, and is handled as such.
    fn expire(state: &mut State, ctx: Ctx) {
        Self::arm_expiry(ctx);
        let now = Self::now_us(state, ctx);
        let txs: Vec<Tx> = state.finished.due(now - ctx.params().retention.as_micros() as i64).collect();
        if txs.is_empty() {
            return;
        }
        for tx in &txs {
            state.decisions.remove(tx);
            state.outcomes.remove(tx);
        }
        ctx.observe(Observation::Forgot { count: txs.len() as u32 });
        Self::log(ctx, DiskWrite::Forget { txs, at_us: now });
    }

    /// A message about `tx`, unknown here and older than `retention`.
    fn too_old_here(ctx: Ctx, tx: Tx, what: &'static str) {
        ctx.observe(Observation::TooOld { tx });
        ctx.note(|| format!("tx {tx} is unknown here and older than retention: {what}"));
    }

    // ----- the coordinator ------------------------------------------------

    fn client_reply(decision: Decision) -> ClientReply {
        match decision {
            Decision::Commit => ClientReply::ok(None, 0),
            Decision::Abort => ClientReply::fail("aborted"),
        }
    }

    /// A client's transfer (or its retry) arrives at the coordinator.
    fn submit(state: &mut State, ctx: Ctx, client: ClientRef, tx: Tx, transfer: Transfer) {
        if let Some(&decision) = state.decisions.get(&tx) {
            // Decided: answer from the log (once the decision is on disk).
            return ctx.once_durable(|ctx| ctx.reply(client, Self::client_reply(decision)));
        }
        if let Some(r) = state.running.get_mut(&tx) {
            r.client = Some(client); // still voting: answer this attempt
            return;
        }
        if Self::too_old(state, ctx, transfer.invoked_at_us) {
            // It may have run, ended and been forgotten: running it again
            // could move the money twice. Nobody can tell now.
            Self::too_old_here(ctx, tx, "the client is told unknown");
            return ctx.reply(client, ClientReply::unknown("too old: it may have run and been forgotten"));
        }
        Self::begin(state, ctx, tx, transfer, Some(client));
    }

    /// Phase one: prepare at every participant the transfer touches.
    fn begin(state: &mut State, ctx: Ctx, tx: Tx, transfer: Transfer, client: Option<ClientRef>) {
        let participants: Vec<NodeId> = ctx.params().participants_of(transfer).collect();
        for &p in &participants {
            ctx.send(p, Msg::Prepare { tx, transfer });
        }
        ctx.observe(Observation::PrepareRound { tx, transfer });
        let timer = Some(ctx.set_timer(ctx.params().prepare_timeout, Timer::PrepareTimeout { tx }));
        let phase = Phase::Voting { yes: BTreeSet::new() };
        state.running.insert(tx, Running { transfer, participants, phase, client, timer });
    }

    fn on_vote(state: &mut State, ctx: Ctx, from: NodeId, tx: Tx, vote: Vote) {
        // Votes for a transaction already decided (or unknown after a crash:
        // presumed aborted) change nothing.
        let Some(r) = state.running.get_mut(&tx) else { return };
        let Phase::Voting { yes } = &mut r.phase else { return };
        if !r.participants.contains(&from) {
            return;
        }
        let decision = match vote {
            Vote::No(_) => Decision::Abort,
            Vote::Yes => {
                yes.insert(from);
                if yes.len() < r.participants.len() {
                    return; // still waiting
                }
                Decision::Commit
            }
        };
        Self::decide(state, ctx, tx, decision);
    }

    fn on_prepare_timeout(state: &mut State, ctx: Ctx, tx: Tx) {
        if state.running.get(&tx).is_some_and(|r| matches!(r.phase, Phase::Voting { .. })) {
            let decision = match ctx.params().bug {
                // The bug: silence taken for consent.
                Some(params::Bug::CommitOnTimeout) => Decision::Commit,
                _ => Decision::Abort,
            };
            Self::decide(state, ctx, tx, decision);
        }
    }

    /// The decision: log it; once it is durable, answer the client and
    /// send it to every participant (phase two).
    fn decide(state: &mut State, ctx: Ctx, tx: Tx, decision: Decision) {
        let r = state.running.get_mut(&tx).expect("only a running transaction is decided");
        assert!(
            matches!(r.phase, Phase::Voting { .. }),
            "tx {tx}: a transaction is decided once (it was {:?})",
            r.phase
        );
        assert!(!state.decisions.contains_key(&tx), "tx {tx}: the log already holds a decision");
        if let Some(t) = r.timer.take() {
            ctx.cancel_timer(t);
        }
        if ctx.params().bug == Some(params::Bug::AnswerBeforeLog)
            && let Some(client) = r.client.take()
        {
            // The bug: the client hears the decision before it is on disk.
            ctx.reply(client, Self::client_reply(decision));
        }
        state.decisions.insert(tx, decision);
        r.phase = Phase::Finishing { decision, acked: BTreeSet::new() };
        let transfer = r.transfer;
        Self::log(ctx, DiskWrite::Decision { tx, decision, transfer });
        ctx.once_durable(|ctx| {
            ctx.observe(Observation::DecisionLogged { tx, decision, transfer });
            if let Some(client) = r.client.take() {
                ctx.reply(client, Self::client_reply(decision));
            }
            Self::send_decision(r, ctx, tx, false);
        });
    }

    /// Sends the decision to the participants that have not acknowledged
    /// it, and arms the re-send timer.
    fn send_decision(r: &mut Running, ctx: Ctx, tx: Tx, resend: bool) {
        let Phase::Finishing { decision, acked } = &r.phase else { return };
        for &p in r.participants.iter().filter(|p| !acked.contains(p)) {
            ctx.send(p, Msg::decision(tx, *decision, r.transfer.invoked_at_us));
        }
        ctx.observe(Observation::DecisionRound { tx, resend });
        r.timer = Some(ctx.set_timer(ctx.params().decision_timeout, Timer::Resend { tx }));
    }

    fn on_ack(state: &mut State, ctx: Ctx, from: NodeId, tx: Tx) {
        let Some(r) = state.running.get_mut(&tx) else { return };
        let Phase::Finishing { acked, .. } = &mut r.phase else { return };
        if !r.participants.contains(&from) {
            return;
        }
        acked.insert(from);
        if acked.len() == r.participants.len() {
            if let Some(t) = r.timer.take() {
                ctx.cancel_timer(t);
            }
            let invoked_at_us = r.transfer.invoked_at_us;
            state.running.remove(&tx);
            Self::log(ctx, DiskWrite::End { tx });
            ctx.observe(Observation::Ended { tx });
            Self::finished(state, ctx, tx, invoked_at_us);
        }
    }

    /// A blocked participant asks what was decided.
    fn on_ask_coordinator(state: &mut State, ctx: Ctx, from: NodeId, tx: Tx, transfer: Transfer) {
        let invoked_at_us = transfer.invoked_at_us;
        match state.running.get(&tx).map(|r| &r.phase) {
            // Not decided: the decision goes to every participant once it
            // is logged.
            Some(Phase::Voting { .. }) => {}
            // Decided: answered once the decision is on disk.
            Some(&Phase::Finishing { decision, .. }) => {
                ctx.once_durable(|ctx| ctx.send(from, Msg::decision(tx, decision, invoked_at_us)))
            }
            None => match state.decisions.get(&tx).copied() {
                // Finished: every participant acknowledged — this is an old
                // question, but the answer is on disk.
                Some(decision) => ctx.send(from, Msg::decision(tx, decision, invoked_at_us)),
                // No record, and older than retention: either this
                // coordinator crashed before deciding — then nobody
                // committed — or it finished and forgot the transaction —
                // then every participant had decided, and this question is
                // a stale copy its asker ignores. Abort is the answer
                // either way; it is not logged, which in the second case
                // would contradict the forgotten decision.
                None if Self::too_old(state, ctx, invoked_at_us) => {
                    Self::too_old_here(ctx, tx, "answered abort, not logged");
                    ctx.send(from, Msg::Abort { tx, invoked_at_us });
                }
                // No record: this coordinator crashed before deciding.
                // Presumed abort — logged first, so that a client's retry
                // hears the same.
                None => Self::begin_presumed_abort(state, ctx, tx, transfer),
            },
        }
    }

    fn begin_presumed_abort(state: &mut State, ctx: Ctx, tx: Tx, transfer: Transfer) {
        let participants = ctx.params().participants_of(transfer).collect();
        let phase = Phase::Voting { yes: BTreeSet::new() };
        state.running.insert(tx, Running { transfer, participants, phase, client: None, timer: None });
        Self::decide(state, ctx, tx, Decision::Abort);
    }

    // ----- the participant ------------------------------------------------

    fn balance(state: &State, ctx: Ctx, account: Key) -> u64 {
        state.balances.get(&account).copied().unwrap_or(ctx.params().initial_balance)
    }

    /// Phase one at a participant: vote.
    fn on_prepare(state: &mut State, ctx: Ctx, tx: Tx, transfer: Transfer) {
        let coordinator = ctx.params().coordinator;
        if state.prepared.contains_key(&tx) {
            // A duplicate, or a new round after the coordinator restarted:
            // the same vote again.
            return ctx.once_durable(|ctx| ctx.send(coordinator, Msg::Vote { tx, vote: Vote::Yes }));
        }
        if let Some(&outcome) = state.outcomes.get(&tx) {
            let vote = match outcome {
                Decision::Commit => Vote::Yes,
                Decision::Abort => Vote::No(NoReason::AlreadyAborted),
            };
            return ctx.once_durable(|ctx| ctx.send(coordinator, Msg::Vote { tx, vote }));
        }
        if Self::too_old(state, ctx, transfer.invoked_at_us) {
            // Perhaps decided here and forgotten: a stale copy. Voting
            // afresh could lock (and, for a commit forgotten, apply) again.
            // Silence: the coordinator, if this is a live round, aborts.
            return Self::too_old_here(ctx, tx, "its prepare is ignored");
        }
        let share = ctx.params().share_of(ctx.me(), transfer);
        let vote = Self::choose_vote(state, ctx, tx, share);
        match vote {
            Vote::Yes => {
                for account in share.accounts() {
                    state.locks.insert(account, tx);
                }
                let p = Prepared { transfer, share, blocked: false, timer: None };
                state.prepared.insert(tx, p);
                Self::log(ctx, DiskWrite::Prepared { tx, transfer, share });
                ctx.once_durable(|ctx| {
                    ctx.observe(Observation::Voted { tx, vote });
                    ctx.send(coordinator, Msg::Vote { tx, vote });
                    Self::await_decision(state, ctx, tx);
                });
            }
            Vote::No(_) => {
                // Abort at once: without this vote nobody can commit.
                Self::log_outcome(state, ctx, tx, Decision::Abort, share, transfer.invoked_at_us);
                ctx.once_durable(|ctx| {
                    ctx.observe(Observation::Voted { tx, vote });
                    Self::publish_outcome(ctx, tx, Decision::Abort, Learned::VotedNo, share);
                    ctx.send(coordinator, Msg::Vote { tx, vote });
                });
            }
        }
    }

    /// Yes if the accounts are free, the funds are there, and no random
    /// refusal.
    fn choose_vote(state: &State, ctx: Ctx, tx: Tx, share: Share) -> Vote {
        if share.accounts().any(|a| state.locks.get(&a).is_some_and(|&holder| holder != tx)) {
            return Vote::No(NoReason::Locked);
        }
        if let Some(from) = share.debit
            && Self::balance(state, ctx, from) < share.amount
        {
            return Vote::No(NoReason::InsufficientFunds);
        }
        let rate = ctx.params().vote_no_rate;
        if !rate.is_never() && ctx.rng().chance(rate) {
            return Vote::No(NoReason::Refused);
        }
        Vote::Yes
    }

    /// The yes vote is out: the decision should come within
    /// `decision_timeout`.
    fn await_decision(state: &mut State, ctx: Ctx, tx: Tx) {
        let timeout = ctx.params().decision_timeout;
        if let Some(p) = state.prepared.get_mut(&tx) {
            p.timer = Some(ctx.set_timer(timeout, Timer::DecisionTimeout { tx }));
        }
    }

    /// The decision is late: blocked.
    fn on_decision_timeout(state: &mut State, ctx: Ctx, tx: Tx) {
        let Some(p) = state.prepared.get_mut(&tx) else { return };
        p.timer = None;
        if !p.blocked {
            p.blocked = true;
            ctx.observe(Observation::Blocked { tx });
        }
        match ctx.params().termination {
            Termination::Wait | Termination::Cooperative => {
                Self::ask(state, ctx, tx);
                Self::await_decision(state, ctx, tx);
            }
            Termination::HeuristicAbort => {
                Self::decide_here(state, ctx, tx, Decision::Abort, Learned::Heuristic)
            }
            Termination::HeuristicCommit => {
                Self::decide_here(state, ctx, tx, Decision::Commit, Learned::Heuristic)
            }
        }
    }

    /// Asks the coordinator — and, with cooperative termination, the other
    /// participants — what was decided.
    fn ask(state: &State, ctx: Ctx, tx: Tx) {
        let p = &state.prepared[&tx];
        let transfer = p.transfer;
        let params = ctx.params();
        ctx.send(params.coordinator, Msg::Ask { tx, transfer });
        if params.termination == Termination::Cooperative {
            let me = ctx.me();
            for peer in params.participants_of(transfer).filter(|&n| n != me) {
                ctx.send(peer, Msg::Ask { tx, transfer });
            }
        }
    }

    /// Phase two at a participant: the coordinator's decision.
    fn on_decision(
        state: &mut State,
        ctx: Ctx,
        from: NodeId,
        tx: Tx,
        decision: Decision,
        invoked_at_us: i64,
    ) {
        if state.prepared.contains_key(&tx) {
            Self::decide_here(state, ctx, tx, decision, Learned::Coordinator);
        } else if let Some(&mine) = state.outcomes.get(&tx) {
            if mine != decision {
                // Only a heuristic decision gets here.
                ctx.note(|| {
                    format!("heuristic hazard: tx {tx} was {mine:?} here, the coordinator says {decision:?}")
                });
            }
        } else if Self::too_old(state, ctx, invoked_at_us) {
            // Decided here and forgotten (the coordinator missed the ack,
            // or this is a stale copy), or never prepared: acknowledged,
            // nothing to do.
            Self::too_old_here(ctx, tx, "its decision is acknowledged, nothing done");
        } else {
            // A transaction this participant never voted yes on (its
            // prepare was lost): only an abort can come — unless the
            // coordinator is broken (`bug = "commit-on-timeout"`).
            if decision == Decision::Commit {
                ctx.note(|| format!("protocol violation: commit of tx {tx}, which was never prepared here"));
            } else {
                let share = Share::default();
                Self::log_outcome(state, ctx, tx, decision, share, invoked_at_us);
                Self::publish_outcome(ctx, tx, decision, Learned::Coordinator, share);
            }
        }
        // Acknowledged once the outcome is on disk; repeated for re-sends.
        ctx.once_durable(|ctx| ctx.send(from, Msg::Ack { tx }));
    }

    /// Decides a prepared transaction here: apply (or drop) the share,
    /// release the locks.
    fn decide_here(state: &mut State, ctx: Ctx, tx: Tx, decision: Decision, learned: Learned) {
        let p = state.prepared.remove(&tx).expect("only a prepared transaction is decided here");
        if let Some(t) = p.timer {
            ctx.cancel_timer(t);
        }
        for account in p.share.accounts() {
            let holder = state.locks.remove(&account);
            assert_eq!(holder, Some(tx), "tx {tx} held the lock of a{account}");
        }
        Self::log_outcome(state, ctx, tx, decision, p.share, p.transfer.invoked_at_us);
        Self::publish_outcome(ctx, tx, decision, learned, p.share);
    }

    /// Applies a commit's share to the balances and logs the outcome.
    fn log_outcome(
        state: &mut State,
        ctx: Ctx,
        tx: Tx,
        decision: Decision,
        share: Share,
        invoked_at_us: i64,
    ) {
        let mut balances = Vec::new();
        if decision == Decision::Commit {
            if let Some(a) = share.debit {
                let b = Self::balance(state, ctx, a);
                assert!(b >= share.amount, "tx {tx}: a{a} was checked for funds and locked since");
                state.balances.insert(a, b - share.amount);
            }
            if let Some(a) = share.credit {
                let b = Self::balance(state, ctx, a);
                state.balances.insert(a, b + share.amount);
            }
            balances = share.accounts().map(|a| (a, state.balances[&a])).collect();
        }
        let previous = state.outcomes.insert(tx, decision);
        assert!(previous.is_none(), "tx {tx}: decided once per participant");
        Self::log(ctx, DiskWrite::Outcome { tx, decision, share, invoked_at_us, balances });
        Self::finished(state, ctx, tx, invoked_at_us);
    }

    /// Tells the checkers, once the outcome is on disk.
    fn publish_outcome(ctx: Ctx, tx: Tx, decision: Decision, learned: Learned, share: Share) {
        let decided = Observation::Decided { tx, decision, learned, share };
        ctx.once_durable(|ctx| ctx.observe(decided));
    }

    /// Cooperative termination: a blocked peer asks this participant.
    fn on_ask_peer(state: &mut State, ctx: Ctx, from: NodeId, tx: Tx, transfer: Transfer) {
        if state.prepared.contains_key(&tx) {
            // In doubt itself: cannot help.
            return ctx.note(|| format!("in doubt about tx {tx} too: cannot help"));
        }
        let decision = match state.outcomes.get(&tx).copied() {
            Some(d) => d,
            None if Self::too_old(state, ctx, transfer.invoked_at_us) => {
                // Perhaps decided here and forgotten: a stale question (a
                // peer in doubt now still has the coordinator to ask).
                return Self::too_old_here(ctx, tx, "a peer's question is ignored");
            }
            None => {
                // Never voted: abort on its own, and remember it.
                let share = ctx.params().share_of(ctx.me(), transfer);
                Self::log_outcome(state, ctx, tx, Decision::Abort, share, transfer.invoked_at_us);
                Self::publish_outcome(ctx, tx, Decision::Abort, Learned::Unilateral, share);
                Decision::Abort
            }
        };
        ctx.once_durable(|ctx| ctx.send(from, Msg::Outcome { tx, decision }));
    }

    fn on_outcome(state: &mut State, ctx: Ctx, tx: Tx, decision: Decision) {
        if state.prepared.contains_key(&tx) {
            Self::decide_here(state, ctx, tx, decision, Learned::Peer);
        }
    }
}

impl Protocol for TwoPhaseCommit {
    const NAME: &'static str = "two-phase-commit";
    type Params = Params;
    type State = State;
    type Durable = Disk;
    type DurableWrite = DiskWrite;
    type Msg = Msg;
    type Timer = Timer;
    type Observation = Observation;

    fn recover(ctx: &mut Context<'_, Self>, disk: &Disk) -> State {
        let mut state = State {
            coordinator: ctx.me() == ctx.params().coordinator,
            finished: Expiry::default(),
            clock_floor: ClockFloor::new(disk.forgot_at_us),
            decisions: disk.decisions.iter().map(|(&tx, l)| (tx, l.decision)).collect(),
            running: BTreeMap::new(),
            balances: disk.balances.clone(),
            locks: BTreeMap::new(),
            prepared: BTreeMap::new(),
            outcomes: disk.outcomes.iter().map(|(&tx, &(d, _, _))| (tx, d)).collect(),
        };
        // Finished transactions on disk start their retention again.
        Self::arm_expiry(ctx);
        for (&tx, logged) in disk.decisions.iter().filter(|(_, l)| l.ended) {
            Self::finished(&mut state, ctx, tx, logged.transfer.invoked_at_us);
        }
        for (&tx, &(_, _, invoked_at_us)) in &disk.outcomes {
            Self::finished(&mut state, ctx, tx, invoked_at_us);
        }
        // What the disk holds is reported again: a write can complete while
        // its node is paused, and a crash before the node resumes loses the
        // `on_persisted` that would have published it. The checker ignores
        // what it already knew.
        for (&tx, logged) in disk.decisions.iter().filter(|(_, l)| !l.ended) {
            let (decision, transfer) = (logged.decision, logged.transfer);
            ctx.observe(Observation::DecisionLogged { tx, decision, transfer });
        }
        for (&tx, &(decision, share, _)) in &disk.outcomes {
            ctx.observe(Observation::Decided { tx, decision, learned: Learned::Disk, share });
        }
        for &tx in disk.prepared.keys() {
            ctx.observe(Observation::Voted { tx, vote: Vote::Yes });
        }
        // Coordinator: decisions not yet acknowledged by all go out again.
        for (&tx, logged) in disk.decisions.iter().filter(|(_, l)| !l.ended) {
            let participants = ctx.params().participants_of(logged.transfer).collect();
            let phase = Phase::Finishing { decision: logged.decision, acked: BTreeSet::new() };
            let mut r = Running { transfer: logged.transfer, participants, phase, client: None, timer: None };
            Self::send_decision(&mut r, ctx, tx, true);
            state.running.insert(tx, r);
        }
        // Participant: prepared transactions are in doubt again — re-take
        // their locks and ask at once.
        for (&tx, &(transfer, share)) in &disk.prepared {
            for account in share.accounts() {
                let holder = state.locks.insert(account, tx);
                assert!(holder.is_none(), "a{account} was locked by two prepared transactions");
            }
            state.prepared.insert(tx, Prepared { transfer, share, blocked: false, timer: None });
            if matches!(ctx.params().termination, Termination::Wait | Termination::Cooperative) {
                Self::ask(&state, ctx, tx);
            }
            Self::await_decision(&mut state, ctx, tx);
        }
        state
    }

    fn on_message(state: &mut State, ctx: &mut Context<'_, Self>, from: NodeId, msg: Msg) {
        let coordinator = ctx.me() == ctx.params().coordinator;
        match msg {
            Msg::Prepare { tx, transfer } => Self::on_prepare(state, ctx, tx, transfer),
            Msg::Vote { tx, vote } => Self::on_vote(state, ctx, from, tx, vote),
            Msg::Commit { tx, invoked_at_us } => {
                Self::on_decision(state, ctx, from, tx, Decision::Commit, invoked_at_us)
            }
            Msg::Abort { tx, invoked_at_us } => {
                Self::on_decision(state, ctx, from, tx, Decision::Abort, invoked_at_us)
            }
            Msg::Ack { tx } => Self::on_ack(state, ctx, from, tx),
            Msg::Ask { tx, transfer } if coordinator => {
                Self::on_ask_coordinator(state, ctx, from, tx, transfer)
            }
            Msg::Ask { tx, transfer } => Self::on_ask_peer(state, ctx, from, tx, transfer),
            Msg::Outcome { tx, decision } => Self::on_outcome(state, ctx, tx, decision),
        }
    }

    fn on_timer(state: &mut State, ctx: &mut Context<'_, Self>, timer: Timer) {
        match timer {
            Timer::PrepareTimeout { tx } => Self::on_prepare_timeout(state, ctx, tx),
            Timer::Resend { tx } => {
                if let Some(r) = state.running.get_mut(&tx) {
                    Self::send_decision(r, ctx, tx, true)
                }
            }
            Timer::DecisionTimeout { tx } => Self::on_decision_timeout(state, ctx, tx),
            Timer::Expire => Self::expire(state, ctx),
        }
    }

    fn on_client_request(state: &mut State, ctx: &mut Context<'_, Self>, request: ClientRequest) {
        let Operation::Transfer { from, to, amount } = request.op else {
            return ctx.reply(request.from, ClientReply::fail("two-phase commit serves transfers only"));
        };
        let coordinator = ctx.params().coordinator;
        if ctx.me() != coordinator {
            return ctx.reply(request.from, ClientReply::redirect(Some(coordinator)));
        }
        let transfer = Transfer { from, to, amount: amount as u64, invoked_at_us: request.invoked_at_us };
        Self::submit(state, ctx, request.from, request.idempotency_key, transfer);
    }

    fn apply_write(disk: &mut Disk, write: &DiskWrite) {
        match write {
            &DiskWrite::Decision { tx, decision, transfer } => {
                disk.decisions.insert(tx, Logged { decision, transfer, ended: false });
            }
            DiskWrite::End { tx } => {
                if let Some(l) = disk.decisions.get_mut(tx) {
                    l.ended = true;
                }
            }
            &DiskWrite::Prepared { tx, transfer, share } => {
                disk.prepared.insert(tx, (transfer, share));
            }
            DiskWrite::Outcome { tx, decision, share, invoked_at_us, balances } => {
                disk.prepared.remove(tx);
                disk.outcomes.insert(*tx, (*decision, *share, *invoked_at_us));
                disk.balances.extend(balances.iter().copied());
            }
            DiskWrite::Forget { txs, at_us } => {
                for tx in txs {
                    disk.decisions.remove(tx);
                    disk.outcomes.remove(tx);
                }
                disk.forgot_at_us = disk.forgot_at_us.max(*at_us);
            }
        }
    }

    fn next_operation(params: &Params, spec: &ClientSpec, rng: &mut RngStream, _id: u64) -> Operation {
        let from = draw_key(spec, rng);
        let to = params.counterparty(from, spec.keys, rng);
        let amount = 1 + rng.below(params.max_amount) as u32;
        Operation::Transfer { from, to, amount }
    }

    fn view(state: &State, _disk: &Disk, cluster: &Cluster) -> NodeView {
        /// Rows shown per section at most (the TUI stays readable).
        const SHOWN: usize = 16;
        if state.coordinator {
            let mut v = NodeView::new("coordinator", None);
            let s = v.section("transactions");
            for (tx, r) in state.running.iter().take(SHOWN) {
                let t = r.transfer;
                let what = match &r.phase {
                    Phase::Voting { yes } => format!("voting: {} of {} yes", yes.len(), r.participants.len()),
                    Phase::Finishing { decision, acked } => {
                        let waiting: Vec<&str> = r
                            .participants
                            .iter()
                            .filter(|p| !acked.contains(p))
                            .map(|p| cluster.name(*p))
                            .collect();
                        format!("{decision:?}, waiting for acks from {}", waiting.join(", "))
                    }
                };
                s.row(format!("tx {tx}: {} a{}→a{}", t.amount, t.from, t.to), what);
            }
            let commits = state.decisions.values().filter(|d| **d == Decision::Commit).count();
            let log = v.section("log (decisions remembered)");
            log.row("committed", commits);
            log.row("aborted", state.decisions.len() - commits);
            return v;
        }
        let mut v = NodeView::new("participant", None);
        let s = v.section("accounts changed");
        for (a, b) in state.balances.iter().take(SHOWN) {
            s.row(format!("a{a}"), b);
        }
        if state.balances.len() > SHOWN {
            s.row("…", format!("{} more", state.balances.len() - SHOWN));
        }
        if !state.prepared.is_empty() {
            let s = v.section("prepared (in doubt)");
            for (tx, p) in state.prepared.iter().take(SHOWN) {
                let locks: Vec<String> = p.share.accounts().map(|a| format!("a{a}")).collect();
                let how = if p.blocked { "blocked" } else { "waiting" };
                s.row(format!("tx {tx}"), format!("{how}, holding {}", locks.join(", ")));
            }
        }
        let commits = state.outcomes.values().filter(|d| **d == Decision::Commit).count();
        let o = v.section("outcomes remembered");
        o.row("committed", commits);
        o.row("aborted", state.outcomes.len() - commits);
        v
    }
}
