//! Workloads: which operations a protocol's clients invoke.
//!
//! Each protocol names its workload ([`crate::nodes::Protocol::Workload`]):
//! how a client draws its next operation, and what the parts of the
//! program that do not know the protocol may learn about an operation —
//! whether it only reads, which key it touches, and, for the register
//! checkers (linearizability, the session guarantees), the operation as a
//! read or a write of one register. The history records that erased view
//! once, when it records the event ([`crate::sim::HistoryEvent::register`]).
//!
//! The shared workloads: [`KeyValue`] (reads and writes; primary–replica,
//! quorum, echo); multi-master's carts, two-phase commit's transfers and
//! the saga's orders live with their protocols.
//!
//! Their operations and answers are, for now, still the one closed
//! [`Operation`] / [`Answer`] pair every protocol shares; each workload's
//! own `Op` type is the next step (issue 12). The engine, the client and
//! the history already reach operations only through this trait and the
//! erased view, except where they still name `Operation` as the type.

use super::client::{Answer, ClientSpec, Key, Operation, Value};
use crate::rng::RngStream;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::{Debug, Display};
use std::hash::Hash;
use std::marker::PhantomData;

/// The operations a protocol's clients invoke.
pub trait Workload: 'static {
    /// The protocol's parameters (the draw may depend on them).
    type Params;
    /// One logical client operation.
    type Op: Clone + Debug + Display + Eq + Hash + Serialize + DeserializeOwned;
    /// What an operation that completed *ok* returned.
    type Answer: Clone + Debug + Display + Default + Eq + Hash + Serialize + DeserializeOwned;

    /// Draws a client's next operation. `id` is the operation's id, unique
    /// in the run (writes write it as their value, so a read names the
    /// write it saw). Every draw comes from the client's `rng` stream.
    fn next_op(params: &Self::Params, spec: &ClientSpec, rng: &mut RngStream, id: u64) -> Self::Op;

    /// The operation as a read or write of one register, for the checkers
    /// that judge registers; `answer` is what it returned (`None` while it
    /// is open or when it did not complete ok). `None`: not a register op.
    fn as_register(_op: &Self::Op, _answer: Option<&Self::Answer>) -> Option<RegisterView> {
        None
    }
    /// Whether the operation only reads (a client may send reads elsewhere).
    fn is_read(_op: &Self::Op) -> bool {
        false
    }
    /// The key the operation is about, if it has one (read-your-writes
    /// remembers the keys a client wrote).
    fn key(_op: &Self::Op) -> Option<Key> {
        None
    }
}

/// An operation seen as an access to one register.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegisterView {
    /// A read of `key` that returned `value` (`None`: nothing, or not known yet).
    Read { key: Key, value: Option<Value> },
    /// A write of `value` to `key`.
    Write { key: Key, value: Value },
}

impl RegisterView {
    pub fn key(&self) -> Key {
        match *self {
            RegisterView::Read { key, .. } | RegisterView::Write { key, .. } => key,
        }
    }
}

/// The register view of the shared operations: reads and writes are
/// register accesses, everything else is not.
pub fn register_of(op: &Operation, answer: Option<&Answer>) -> Option<RegisterView> {
    match *op {
        Operation::Read { key } => Some(RegisterView::Read { key, value: answer.and_then(Answer::as_value) }),
        Operation::Write { key, value } => Some(RegisterView::Write { key, value }),
        _ => None,
    }
}

/// The key–value workload: a read with probability `read_fraction`,
/// otherwise a write of the unique value `id`, to a key drawn uniformly.
/// `P` is the protocol's parameters (the draw does not read them).
pub struct KeyValue<P>(PhantomData<fn() -> P>);

impl<P: 'static> Workload for KeyValue<P> {
    type Params = P;
    type Op = Operation;
    type Answer = Answer;
    fn next_op(_params: &P, spec: &ClientSpec, rng: &mut RngStream, id: u64) -> Operation {
        super::client::key_value_operation(spec, rng, id)
    }
    fn as_register(op: &Operation, answer: Option<&Answer>) -> Option<RegisterView> {
        register_of(op, answer)
    }
    fn is_read(op: &Operation) -> bool {
        op.is_read()
    }
    fn key(op: &Operation) -> Option<Key> {
        Some(op.key())
    }
}
