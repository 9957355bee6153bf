//! Client histories, Jepsen style.
//!
//! One *invoke* per logical operation (retries are attempts inside it), then
//! exactly one completion: *ok*, *fail* (certainly did not happen) or *info*
//! (unknown: a final timeout is always info, never fail). Entries are in
//! event order; `step` is the engine's event sequence number.

use crate::nodes::{NodeId, RegisterView};
use crate::time::SimTime;
use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HistoryKind {
    Invoke,
    Ok,
    Fail,
    Info,
}

/// One history event. A protocol's checker sees it typed (`O`, `A`: the
/// protocol's workload's operation and answer, [`TypedEvent`]); the
/// history a run keeps, read by everything that does not know the
/// protocol (the TUI, the session-guarantee and linearizability checks,
/// reports), holds the erased form: the operation and the answer as their
/// `Display` text, plus the [`register`](Self::register) view.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct HistoryEvent<O = String, A = String> {
    pub step: u64,
    pub time: SimTime,
    /// The client process (each has at most one operation open).
    pub process: u32,
    /// Index of the scenario's `[[clients]]` entry.
    pub client: u16,
    pub op_id: u64,
    pub kind: HistoryKind,
    pub op: O,
    /// For an ok operation, what it returned.
    pub value: A,
    /// The node whose reply completed the operation.
    pub node: Option<NodeId>,
    /// The erased view for readers that do not know the protocol: the
    /// operation as a register access (with what it returned, on a
    /// completion), from the protocol's [`crate::nodes::Workload`] when the
    /// event was recorded. `None`: not a register operation.
    #[serde(skip)]
    pub register: Option<RegisterView>,
}

/// A history event of protocol `P`, as its checker sees it.
pub type TypedEvent<P> = HistoryEvent<crate::nodes::OpOf<P>, crate::nodes::AnswerOf<P>>;

impl<O: std::fmt::Display, A: std::fmt::Display> HistoryEvent<O, A> {
    /// The erased form the run's history keeps.
    pub fn erase(&self) -> HistoryEvent {
        HistoryEvent {
            step: self.step,
            time: self.time,
            process: self.process,
            client: self.client,
            op_id: self.op_id,
            kind: self.kind,
            op: self.op.to_string(),
            value: self.value.to_string(),
            node: self.node,
            register: self.register,
        }
    }
}

impl Serialize for SimTime {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0)
    }
}

/// The append-only history of a run, kept outside the simulation state.
#[derive(Clone, Debug, Default)]
pub struct History {
    pub events: Vec<HistoryEvent>,
}

/// One operation with its invocation and completion paired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompletedOp {
    pub process: u32,
    pub client: u16,
    pub op_id: u64,
    /// The operation, in words.
    pub op: String,
    pub invoked: SimTime,
    pub invoke_step: u64,
    /// `None` while still open at the end of the run.
    pub completed: Option<(SimTime, u64)>,
    pub outcome: Option<HistoryKind>,
    /// What an ok operation returned, in words (empty: nothing).
    pub value: String,
    /// The register view (see [`HistoryEvent::register`]): the
    /// completion's, or the invocation's while the operation is open.
    pub register: Option<RegisterView>,
}

impl History {
    /// Pairs invocations with completions, in invocation order.
    pub fn operations(&self) -> Vec<CompletedOp> {
        let mut ops: Vec<CompletedOp> = Vec::new();
        let mut open = std::collections::BTreeMap::new();
        for e in &self.events {
            match e.kind {
                HistoryKind::Invoke => {
                    open.insert(e.op_id, ops.len());
                    ops.push(CompletedOp {
                        process: e.process,
                        client: e.client,
                        op_id: e.op_id,
                        op: e.op.clone(),
                        invoked: e.time,
                        invoke_step: e.step,
                        completed: None,
                        outcome: None,
                        value: String::new(),
                        register: e.register,
                    });
                }
                kind => {
                    if let Some(i) = open.remove(&e.op_id) {
                        let op: &mut CompletedOp = &mut ops[i];
                        op.completed = Some((e.time, e.step));
                        op.outcome = Some(kind);
                        op.value = e.value.clone();
                        op.register = e.register;
                    }
                }
            }
        }
        ops
    }
}
