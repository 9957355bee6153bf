//! Multi-master's workload: reads and writes of registers, or reads of
//! shopping carts and additions to them (`data = "cart"`), and what the
//! store answers (a value, siblings, a cart).

use super::{Data, Params};
use crate::nodes::client::{ClientSpec, draw_key};
use crate::nodes::{Item, Key, KeyValue, KvOp, RegisterView, Value, Workload};
use crate::rng::RngStream;
use std::collections::BTreeMap;
use std::fmt::Display;

/// Multi-master's workload (see the module docs).
pub struct Carts;

/// A client operation on a multi-master store. Tagged as the shared
/// operation enum it replaced was (`read`, `write`, `cart-add`), so
/// payload encodings and digests did not change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(tag = "f", rename_all = "kebab-case")]
pub enum CartOp {
    Read {
        key: Key,
    },
    Write {
        key: Key,
        value: Value,
    },
    /// Put `qty` units of `item` into the shopping cart stored at `key`.
    CartAdd {
        key: Key,
        item: Item,
        qty: u32,
    },
}

impl Display for CartOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CartOp::Read { key } => write!(f, "read k{key}"),
            CartOp::Write { key, value } => write!(f, "write k{key}={value}"),
            CartOp::CartAdd { key, item, qty } => write!(f, "add {qty} x item{item} to cart k{key}"),
        }
    }
}

/// What a multi-master store answers. Untagged, as the shared answer enum
/// it replaced was.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum CartAnswer {
    /// Nothing: an acknowledgement, or a read of a key never written.
    #[default]
    None,
    /// One value.
    Value(Value),
    /// Concurrent versions of a key that a version-vector store keeps
    /// side by side for the reader to resolve (sorted).
    Siblings(Box<[Value]>),
    /// A shopping cart: quantity per item (boxed, so that every reply
    /// stays small).
    Cart(Box<BTreeMap<Item, u32>>),
}

impl CartAnswer {
    /// The single value read, if the answer is one.
    pub fn as_value(&self) -> Option<Value> {
        match *self {
            CartAnswer::Value(v) => Some(v),
            _ => None,
        }
    }
}

impl From<Option<Value>> for CartAnswer {
    fn from(v: Option<Value>) -> Self {
        v.map_or(CartAnswer::None, CartAnswer::Value)
    }
}

impl Display for CartAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CartAnswer::None => Ok(()),
            CartAnswer::Value(v) => write!(f, "{v}"),
            CartAnswer::Siblings(vs) => {
                let vs: Vec<String> = vs.iter().map(|v| v.to_string()).collect();
                write!(f, "siblings [{}]", vs.join(", "))
            }
            CartAnswer::Cart(items) => {
                let items: Vec<String> = items.iter().map(|(i, q)| format!("item{i} x{q}")).collect();
                write!(f, "cart {{{}}}", items.join(", "))
            }
        }
    }
}

impl Workload for Carts {
    type Params = Params;
    type Op = CartOp;
    type Answer = CartAnswer;
    fn next_op(params: &Params, spec: &ClientSpec, rng: &mut RngStream, id: u64) -> CartOp {
        match params.data {
            Data::Register => match KeyValue::<Params>::next_op(params, spec, rng, id) {
                KvOp::Read { key } => CartOp::Read { key },
                KvOp::Write { key, value } => CartOp::Write { key, value },
            },
            Data::Cart => cart_operation(params, spec, rng),
        }
    }
    /// Register reads and writes are register operations (a read of a
    /// cart reads no single value); additions to carts are not.
    fn as_register(op: &CartOp, answer: Option<&CartAnswer>) -> Option<RegisterView> {
        match *op {
            CartOp::Read { key } => {
                Some(RegisterView::Read { key, value: answer.and_then(CartAnswer::as_value) })
            }
            CartOp::Write { key, value } => Some(RegisterView::Write { key, value }),
            CartOp::CartAdd { .. } => None,
        }
    }
    fn is_read(op: &CartOp) -> bool {
        matches!(op, CartOp::Read { .. })
    }
    fn key(op: &CartOp) -> Option<Key> {
        match *op {
            CartOp::Read { key } | CartOp::Write { key, .. } | CartOp::CartAdd { key, .. } => Some(key),
        }
    }
}

/// The cart workload: a read with probability `read_fraction`, otherwise
/// `1..=max_qty` units of one of `items` items, into a cart drawn
/// uniformly from the client's `keys`.
fn cart_operation(params: &Params, spec: &ClientSpec, rng: &mut RngStream) -> CartOp {
    let key = draw_key(spec, rng);
    if rng.chance(spec.read_fraction) {
        return CartOp::Read { key };
    }
    let item = rng.below(params.items as u64) as Item;
    let qty = 1 + rng.below(params.max_qty as u64) as u32;
    CartOp::CartAdd { key, item, qty }
}

#[cfg(test)]
mod tests {
    /// Requests and replies travel through the event queue: as small as
    /// the key–value workload's (16-byte operations, 32-byte replies).
    #[test]
    fn operations_and_replies_stay_small() {
        assert_eq!(std::mem::size_of::<super::CartOp>(), 16);
        assert_eq!(std::mem::size_of::<crate::nodes::ClientReply<super::CartAnswer>>(), 32);
    }
}
