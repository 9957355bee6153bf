//! Simulated clients.
//!
//! A `[[clients]]` entry of a scenario is a group of client *processes*.
//! Each process has one operation open at a time (Jepsen's model, see the
//! design page's "Clients and histories"): it invokes an operation, sends it
//! to a node chosen by its policy, and waits. A reply completes it (*ok*, or
//! *fail* when the node says it certainly did not happen); a timeout retries
//! it with the **same idempotency key**, so a server can recognise a retry
//! of something it already did; after the last retry the outcome is unknown
//! (*info*), and the process is retired and replaced by a fresh process id.
//!
//! This module holds the client's decisions (which operation, which node,
//! what a reply means); the engine performs them and records the history.

use super::EndpointId;
use super::NodeId;
use super::workload::{RegisterView, Workload};
use crate::rng::{Probability, RngStream};
use crate::time::{SimDuration, SimTime};
use std::collections::BTreeSet;

/// A key of the key–value store: small integers (`k0`, `k1`, ...).
pub type Key = u32;
/// A value. Clients write unique values (the operation's id), so a read
/// names exactly which write it saw.
pub type Value = u64;

/// An item of a shopping cart or of a shop's inventory.
pub type Item = u32;

/// A key drawn uniformly from the client's `keys`.
pub fn draw_key(spec: &ClientSpec, rng: &mut RngStream) -> Key {
    if spec.keys <= 1 { 0 } else { rng.below(spec.keys as u64) as Key }
}

/// Where a reply goes: the client endpoint and which attempt of which
/// operation it answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct ClientRef {
    pub endpoint: EndpointId,
    pub op_id: u64,
    pub attempt: u32,
}

/// A client's request as a node receives it, carrying one operation of
/// the protocol's workload (`O`: [`crate::nodes::OpOf`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct ClientRequest<O> {
    pub from: ClientRef,
    /// The same for every attempt of one logical operation.
    pub idempotency_key: u64,
    pub op: O,
    /// A session token: the largest token this client has seen in replies
    /// (a position in the protocol's order, such as a log index); a server
    /// that offers read-your-writes waits until it has applied at least
    /// this much before answering a read.
    pub session: u64,
    /// The client's clock (µs) when it invoked the operation — the same on
    /// every retry. Protocols that take "client-side timestamps" use it.
    pub invoked_at_us: i64,
}

/// What a node answers; `A` is the workload's answer
/// ([`crate::nodes::AnswerOf`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Outcome<A> {
    /// Done, with what a read returned.
    Ok { answer: A },
    /// Certainly not done, and it will not be.
    Fail { reason: Reason },
    /// Not done here: ask another node (`to`, if the node knows which).
    Redirect { to: Option<NodeId> },
    /// The server gave up without knowing whether it took effect (e.g. a
    /// write reached some replicas but too few answered in time). The
    /// client records *info* and retires the process, as for a timeout.
    Unknown { reason: Reason },
}

/// Why a node did not do what a client asked, in words: owned, so a reply
/// that came off a wire (a live runtime decodes them) carries it as well
/// as one built from a fixed text in the protocol's code. A `Box<str>`
/// rather than a `Cow<'static, str>`: replies travel through the event
/// queue, and the `Cow` made every reply 40 bytes instead of 32
/// (the `operation_stays_small` test); the allocation is paid only by
/// failures.
pub type Reason = Box<str>;

#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct ClientReply<A> {
    pub outcome: Outcome<A>,
    /// The position the answer reflects, as a number that grows with
    /// position in the protocol's order (primary–replica packs the epoch
    /// and the log index); the client keeps the largest as its session
    /// token.
    pub token: u64,
}

impl<A: From<Option<Value>>> ClientReply<A> {
    /// Done; a read returns `value` (`None`: the key was never written).
    pub fn ok(value: Option<Value>, token: u64) -> Self {
        Self::answer(value.into(), token)
    }
}

impl<A> ClientReply<A> {
    /// Done, returning `answer`.
    pub fn answer(answer: A, token: u64) -> Self {
        ClientReply { outcome: Outcome::Ok { answer }, token }
    }
    pub fn fail(reason: impl Into<Reason>) -> Self {
        ClientReply { outcome: Outcome::Fail { reason: reason.into() }, token: 0 }
    }
    pub fn redirect(to: Option<NodeId>) -> Self {
        ClientReply { outcome: Outcome::Redirect { to }, token: 0 }
    }
    pub fn unknown(reason: impl Into<Reason>) -> Self {
        ClientReply { outcome: Outcome::Unknown { reason: reason.into() }, token: 0 }
    }
}

/// Which node a client sends an operation to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// The node the client believes leads (the primary, for primary–replica):
    /// at first the first node, then the one redirects name; on a timeout it
    /// tries the next node. Scenario files say `primary` or `leader`.
    Leader,
    /// Any node, uniformly at random.
    Random,
    /// Any node except the one believed to lead (read scaling).
    AnyReplica,
    /// Always this node.
    Node(NodeId),
}

/// Read-your-writes, as a client option.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReadYourWrites {
    Off,
    /// After writing a key, read that key from the node believed to lead
    /// (`primary` or `leader` in scenario files).
    Leader,
    /// Carry a session token; servers wait until they have caught up to it.
    Session,
}

/// One `[[clients]]` entry, validated.
#[derive(Clone, Debug)]
pub struct ClientSpec {
    pub name: String,
    /// Concurrent processes (each with at most one operation open).
    pub processes: u32,
    /// Operations this entry issues in all, across its processes.
    pub ops: u64,
    /// Think time between one process's operations.
    pub interval: SimDuration,
    /// When the first operation is issued.
    pub start: SimTime,
    pub read_fraction: Probability,
    /// Keys are `k0 .. k{keys-1}`, chosen uniformly.
    pub keys: u32,
    pub target: Target,
    /// Where reads go, when different from `target`.
    pub read_target: Option<Target>,
    /// How long one attempt waits for a reply.
    pub timeout: SimDuration,
    /// Attempts after the first one, before giving up with *info*.
    pub retries: u32,
    pub read_your_writes: ReadYourWrites,
    /// Region of this client's endpoints.
    pub region: u16,
    /// Open loop: the time between arrivals (`None`: closed loop, each
    /// process issues its next operation `interval` after the last one
    /// completed).
    pub arrival: Option<Arrival>,
}

/// How an open-loop group's operations arrive: the mean gap between two,
/// in µs, and whether gaps are exponential (a Poisson process) or all
/// equal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Arrival {
    pub mean_gap_us: u64,
    pub poisson: bool,
}

impl Arrival {
    /// The gap to the next arrival, in whole µs (a Poisson gap may round
    /// to zero: two arrivals at one instant).
    pub fn next_gap(&self, rng: &mut crate::rng::RngStream) -> SimDuration {
        if !self.poisson {
            return SimDuration(self.mean_gap_us);
        }
        let us = rng.exponential(self.mean_gap_us as f64);
        SimDuration(if us <= 0.0 { 0 } else { us.round() as u64 })
    }
}

/// The attempt a process is waiting on.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Pending<O> {
    pub op_id: u64,
    pub op: O,
    pub attempt: u32,
    pub invoked_at: SimTime,
    pub target: NodeId,
    /// Redirects followed so far; they do not use up retries, but at most
    /// one per node is followed (no endless ping-pong).
    pub redirects: u32,
}

/// One client process slot: a network endpoint whose process id changes
/// when a process is retired.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientSlot<O> {
    pub spec: u16,
    pub endpoint: EndpointId,
    /// The current process id (as in the history).
    pub process: u32,
    pub rng: RngStream,
    pub pending: Option<Pending<O>>,
    pub believed_leader: NodeId,
    pub session_token: u64,
    /// Keys this process has written (read-your-writes = leader).
    pub written: BTreeSet<Key>,
    /// No more operations to issue.
    pub done: bool,
}

/// What a client does next, decided by the slot and performed by the
/// engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientAction<A> {
    /// Send (another) attempt to this node.
    Send(NodeId),
    /// The operation completed: ok (with what it returned) or fail.
    Complete { ok: bool, answer: A },
    /// Out of retries: the outcome is unknown.
    GiveUp,
    /// A stale or duplicate reply: nothing to do.
    Ignore,
}

impl<O> ClientSlot<O> {
    /// Picks the node for an operation's first attempt.
    pub fn choose_target<W: Workload<Op = O>>(&mut self, spec: &ClientSpec, op: &O, nodes: u32) -> NodeId {
        let policy = if W::is_read(op) {
            let wrote = matches!(W::as_register(op, None), Some(RegisterView::Read { key, .. }) if self.written.contains(&key));
            if spec.read_your_writes == ReadYourWrites::Leader && wrote {
                Target::Leader
            } else {
                spec.read_target.unwrap_or(spec.target)
            }
        } else {
            spec.target
        };
        match policy {
            Target::Leader => self.believed_leader,
            Target::Node(n) => n,
            Target::Random => NodeId(self.rng.below(nodes as u64) as u32),
            Target::AnyReplica if nodes > 1 => {
                let pick = self.rng.below(nodes as u64 - 1) as u32;
                NodeId(if pick >= self.believed_leader.0 { pick + 1 } else { pick })
            }
            Target::AnyReplica => NodeId(0),
        }
    }

    /// A reply arrived for `op_id`.
    pub fn on_reply<W: Workload<Op = O>>(
        &mut self,
        spec: &ClientSpec,
        op_id: u64,
        reply: &ClientReply<W::Answer>,
        nodes: u32,
    ) -> ClientAction<W::Answer> {
        let Some(p) = &self.pending else {
            return ClientAction::Ignore;
        };
        if p.op_id != op_id {
            return ClientAction::Ignore;
        }
        self.session_token = self.session_token.max(reply.token);
        match &reply.outcome {
            Outcome::Ok { answer } => {
                if let Some(RegisterView::Write { key, .. }) = W::as_register(&p.op, None) {
                    self.written.insert(key);
                }
                ClientAction::Complete { ok: true, answer: answer.clone() }
            }
            Outcome::Fail { .. } => ClientAction::Complete { ok: false, answer: W::Answer::default() },
            Outcome::Unknown { .. } => ClientAction::GiveUp,
            &Outcome::Redirect { to } => {
                let next = to.unwrap_or(NodeId((p.target.0 + 1) % nodes));
                if to.is_some() {
                    self.believed_leader = next;
                }
                let p = self.pending.as_mut().expect("checked above");
                if p.redirects < nodes {
                    p.redirects += 1;
                    p.attempt += 1;
                    p.target = next;
                    ClientAction::Send(next)
                } else {
                    self.retry(spec, next)
                }
            }
        }
    }

    /// The current attempt of `op_id` timed out.
    pub fn on_timeout<W: Workload<Op = O>>(
        &mut self,
        spec: &ClientSpec,
        op_id: u64,
        attempt: u32,
        nodes: u32,
    ) -> ClientAction<W::Answer> {
        let Some(p) = &self.pending else {
            return ClientAction::Ignore;
        };
        if p.op_id != op_id || p.attempt != attempt {
            return ClientAction::Ignore;
        }
        // The node we tried may be down: if we were looking for the leader,
        // suspect it and try the next node, which will redirect us.
        let mut next = p.target;
        let via_leader = if W::is_read(&p.op) {
            spec.read_target.unwrap_or(spec.target) == Target::Leader
        } else {
            spec.target == Target::Leader
        };
        if via_leader || matches!(spec.target, Target::Random | Target::AnyReplica) {
            next = NodeId((p.target.0 + 1) % nodes);
            if via_leader {
                self.believed_leader = next;
            }
        }
        self.retry(spec, next)
    }

    fn retry<A>(&mut self, spec: &ClientSpec, to: NodeId) -> ClientAction<A> {
        let p = self.pending.as_mut().expect("retry needs an open operation");
        if p.attempt >= spec.retries + p.redirects {
            return ClientAction::GiveUp;
        }
        p.attempt += 1;
        p.target = to;
        ClientAction::Send(to)
    }
}

#[cfg(test)]
mod tests {
    /// Every request carries an operation through the event queue: a
    /// bigger one slows every protocol's inner loop (measured: 16 → 24
    /// bytes cost the echo benchmark about 10%).
    #[test]
    fn operation_stays_small() {
        use crate::nodes::{KvAnswer, KvOp};
        assert_eq!(std::mem::size_of::<KvOp>(), 16);
        // Replies too: 32 bytes (multi-master's, with carts, as well).
        assert_eq!(std::mem::size_of::<super::ClientReply<KvAnswer>>(), 32);
    }

    /// A reply survives a wire: its reason comes back owned, equal to the
    /// fixed text the node sent.
    #[test]
    fn replies_deserialize() {
        use super::ClientReply;
        use crate::nodes::KvAnswer;
        for reply in [
            ClientReply::fail("not the primary"),
            ClientReply::unknown(String::from("too few replicas answered")),
            ClientReply::answer(KvAnswer::Value(7), 3),
            ClientReply::redirect(Some(crate::nodes::NodeId(2))),
        ] {
            let wire = serde_json::to_string(&reply).unwrap();
            let back: ClientReply<KvAnswer> = serde_json::from_str(&wire).unwrap();
            assert_eq!(back, reply, "{wire}");
        }
    }
}
