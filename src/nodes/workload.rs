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
//! Each workload has its own operation and answer types (there is no
//! global list of operations: a protocol a user registers brings its
//! own). The engine, the client and the history reach operations only
//! through this trait and the erased view.

use super::client::{ClientSpec, Key, Value};
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

/// An operation of the key–value workload: read a key, or write a value
/// to it. Encoded as the shared `Operation` enum it replaced encoded
/// reads and writes (the same tags), so payload hashes and traces did not
/// change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(tag = "f", rename_all = "kebab-case")]
pub enum KvOp {
    Read { key: Key },
    Write { key: Key, value: Value },
}

impl KvOp {
    pub fn key(&self) -> Key {
        match *self {
            KvOp::Read { key } | KvOp::Write { key, .. } => key,
        }
    }
}

impl Display for KvOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KvOp::Read { key } => write!(f, "read k{key}"),
            KvOp::Write { key, value } => write!(f, "write k{key}={value}"),
        }
    }
}

/// What a key–value store answers: nothing (a write's acknowledgement, a
/// read of a key never written) or the value read. An enum rather than an
/// `Option`, encoded untagged as the shared `Answer` enum was, so that digests
/// did not change.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum KvAnswer {
    #[default]
    None,
    Value(Value),
}

impl KvAnswer {
    /// The value read, if any.
    pub fn as_value(&self) -> Option<Value> {
        match *self {
            KvAnswer::Value(v) => Some(v),
            KvAnswer::None => None,
        }
    }
}

impl From<Option<Value>> for KvAnswer {
    fn from(v: Option<Value>) -> Self {
        v.map_or(KvAnswer::None, KvAnswer::Value)
    }
}

impl Display for KvAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KvAnswer::None => Ok(()),
            KvAnswer::Value(v) => write!(f, "{v}"),
        }
    }
}

/// The answer of a workload whose operations return nothing but their
/// success (a transfer, an order). Encoded as nothing, as the shared
/// `Answer` enum's `None` was.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
pub struct Done;

impl Display for Done {
    fn fmt(&self, _f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        Ok(())
    }
}

/// The key–value workload: a read with probability `read_fraction`,
/// otherwise a write of the unique value `id`, to a key drawn uniformly.
/// `P` is the protocol's parameters (the draw does not read them).
pub struct KeyValue<P>(PhantomData<fn() -> P>);

impl<P: 'static> Workload for KeyValue<P> {
    type Params = P;
    type Op = KvOp;
    type Answer = KvAnswer;
    fn next_op(_params: &P, spec: &ClientSpec, rng: &mut RngStream, id: u64) -> KvOp {
        // The same draws as the shared operation enum's key-value draw had.
        let key = super::client::draw_key(spec, rng);
        if rng.chance(spec.read_fraction) { KvOp::Read { key } } else { KvOp::Write { key, value: id } }
    }
    fn as_register(op: &KvOp, answer: Option<&KvAnswer>) -> Option<RegisterView> {
        Some(match *op {
            KvOp::Read { key } => RegisterView::Read { key, value: answer.and_then(KvAnswer::as_value) },
            KvOp::Write { key, value } => RegisterView::Write { key, value },
        })
    }
    fn is_read(op: &KvOp) -> bool {
        matches!(op, KvOp::Read { .. })
    }
    fn key(op: &KvOp) -> Option<Key> {
        Some(op.key())
    }
}
