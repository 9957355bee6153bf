//! What a node holds for one key, under each conflict resolution, and how
//! two of those are combined.
//!
//! Every kind of [`Entry`] comes with a [`join`](Entry::join): the entry a
//! node holds after learning another one. Each `join` is *commutative*,
//! *associative* and *idempotent* — the entries form a join semilattice —
//! so it does not matter in which order, how often, or by which path
//! (a `Replicate`, an anti-entropy `Sync`) a node learns the others'
//! entries: once every node has learned every entry, all hold the same
//! one. That is the whole convergence argument of a state-based CRDT
//! (Shapiro, Preguiça, Baquero & Zawirski, "Conflict-free replicated data
//! types", SSS 2011), and it covers last-write-wins too: "keep the greater
//! stamp" is a join (the LWW register of that paper).
//!
//! What differs is what a join keeps:
//! - [`Entry::Register`], [`Entry::StampedCart`] (`lww`): the greater
//!   `(stamp, contents)`. The other side is gone, whatever it held.
//! - [`Entry::Cart`] (`merge`): the union of the items, the greater
//!   quantity for an item in both ([`merge_carts`]). Nothing added is lost.
//! - [`Entry::Siblings`] (`version-vector`): every version no other version
//!   has *seen* (by its [`VersionVector`]); concurrent versions stay side by
//!   side for a reader to resolve.

use crate::nodes::{Item, NodeId, Value};
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

/// A last-write-wins stamp: the accepting node's clock, ties broken by
/// node id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct Stamp {
    pub clock_us: i64,
    pub node: u32,
}

/// A shopping cart: quantity per item.
pub type Cart = BTreeMap<Item, u32>;

/// The application merge of two carts — the course notes'
/// `resolve_cart_conflict(cart1, cart2)`: the union of the items; for an
/// item in both, the greater quantity. (Dynamo's shopping cart, DeCandia
/// et al. 2007, §4.4.)
pub fn merge_carts(a: &Cart, b: &Cart) -> Cart {
    let mut out = a.clone();
    for (&item, &qty) in b {
        let q = out.entry(item).or_insert(0);
        *q = (*q).max(qty);
    }
    out
}

/// A version vector: entry `i` counts the writes to this key that node `i`
/// coordinated and that this version has seen (Parker et al., "Detection
/// of mutual inconsistency in distributed systems", IEEE TSE 1983). One
/// entry per node of the cluster.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct VersionVector(pub Vec<u64>);

impl VersionVector {
    /// The vector of a key nobody has written: all zeros.
    pub fn zero(nodes: usize) -> Self {
        VersionVector(vec![0; nodes])
    }

    /// The entry of node `n`.
    pub fn get(&self, n: NodeId) -> u64 {
        self.0.get(n.index()).copied().unwrap_or(0)
    }

    /// One more write coordinated by `n`.
    pub fn increment(&mut self, n: NodeId) {
        if self.0.len() <= n.index() {
            self.0.resize(n.index() + 1, 0);
        }
        self.0[n.index()] += 1;
    }

    /// The entry-wise maximum: a version that has seen everything either
    /// has seen.
    pub fn join(&self, other: &VersionVector) -> VersionVector {
        let len = self.0.len().max(other.0.len());
        VersionVector((0..len).map(|i| self.at(i).max(other.at(i))).collect())
    }

    /// Whether this version has seen everything `other` has (entry-wise
    /// `>=`).
    pub fn descends(&self, other: &VersionVector) -> bool {
        let len = self.0.len().max(other.0.len());
        (0..len).all(|i| self.at(i) >= other.at(i))
    }

    /// Whether this version has seen `other` and more: `other` is obsolete.
    pub fn dominates(&self, other: &VersionVector) -> bool {
        self.descends(other) && !other.descends(self)
    }

    /// Whether neither has seen the other: the writes were concurrent.
    pub fn concurrent(&self, other: &VersionVector) -> bool {
        !self.descends(other) && !other.descends(self)
    }

    fn at(&self, i: usize) -> u64 {
        self.0.get(i).copied().unwrap_or(0)
    }

    /// `[n1:2 n2:1]`, naming nodes by `names` and leaving out zeros.
    pub fn describe(&self, names: &[String]) -> String {
        let parts: Vec<String> = self
            .0
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(i, c)| format!("{}:{c}", names.get(i).map_or("?", |s| s.as_str())))
            .collect();
        format!("[{}]", parts.join(" "))
    }
}

/// One version of a register under version vectors: a value and the
/// vector saying which writes it has seen.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct Sibling {
    pub vector: VersionVector,
    pub value: Value,
}

/// What a node holds for one key. Which kind depends on the scenario's
/// `resolution` and `data`; one run holds one kind.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum Entry {
    /// `lww` register: the value with the greatest stamp.
    Register { stamp: Stamp, value: Value },
    /// `lww` cart: the whole cart is one value, with one stamp. (Boxed so
    /// an entry stays as small as a stamped register: entries travel in
    /// every message.)
    StampedCart { stamp: Stamp, cart: Box<Cart> },
    /// `merge` cart: the merge of every cart written.
    Cart(Cart),
    /// `version-vector` register: the versions no other version has seen,
    /// sorted. Never empty.
    Siblings(Vec<Sibling>),
}

impl Entry {
    /// The entry a node holds after learning `other` while holding `self`:
    /// the least upper bound of the two (see the module docs).
    pub fn join(&self, other: &Entry) -> Entry {
        match (self, other) {
            (Entry::Register { .. }, Entry::Register { .. })
            | (Entry::StampedCart { .. }, Entry::StampedCart { .. }) => {
                if self.absorbs(other) {
                    self.clone()
                } else {
                    other.clone()
                }
            }
            (Entry::Cart(a), Entry::Cart(b)) => Entry::Cart(merge_carts(a, b)),
            (Entry::Siblings(a), Entry::Siblings(b)) => Entry::Siblings(maximal_versions(a, b)),
            _ => unreachable!("one run holds one kind of entry: {self:?} vs {other:?}"),
        }
    }

    /// Whether a node holding `self` that learns `other` keeps what it
    /// has: `self.join(other) == *self`, without building the join.
    #[inline]
    pub fn absorbs(&self, other: &Entry) -> bool {
        match (self, other) {
            // Last-write-wins: the greater stamp. Equal stamps cannot
            // normally happen; should they, the value breaks the tie, so
            // every node still keeps the same one. (Inline: the hot path
            // of the LWW benchmark.)
            (Entry::Register { stamp: a, value: va }, Entry::Register { stamp: b, value: vb }) => {
                (a.clock_us, a.node, va) >= (b.clock_us, b.node, vb)
            }
            _ => self.absorbs_collection(other),
        }
    }

    fn absorbs_collection(&self, other: &Entry) -> bool {
        match (self, other) {
            (Entry::StampedCart { stamp: a, cart: ca }, Entry::StampedCart { stamp: b, cart: cb }) => {
                (a, ca) >= (b, cb)
            }
            (Entry::Cart(mine), Entry::Cart(theirs)) => {
                theirs.iter().all(|(item, qty)| mine.get(item).is_some_and(|q| q >= qty))
            }
            (Entry::Siblings(mine), Entry::Siblings(theirs)) => {
                theirs.iter().all(|s| mine.iter().any(|m| m == s || m.vector.dominates(&s.vector)))
            }
            _ => unreachable!("one run holds one kind of entry: {self:?} vs {other:?}"),
        }
    }

    /// The LWW stamp, for the last-write-wins kinds.
    pub fn stamp(&self) -> Option<Stamp> {
        match self {
            Entry::Register { stamp, .. } | Entry::StampedCart { stamp, .. } => Some(*stamp),
            Entry::Cart(_) | Entry::Siblings(_) => None,
        }
    }

    /// The cart, for the cart kinds.
    pub fn cart(&self) -> Option<&Cart> {
        match self {
            Entry::StampedCart { cart, .. } => Some(cart),
            Entry::Cart(cart) => Some(cart),
            Entry::Register { .. } | Entry::Siblings(_) => None,
        }
    }

    /// The register values held: one under LWW, one per sibling under
    /// version vectors.
    pub fn values(&self) -> Vec<Value> {
        match self {
            Entry::Register { value, .. } => vec![*value],
            Entry::Siblings(s) => s.iter().map(|s| s.value).collect(),
            Entry::StampedCart { .. } | Entry::Cart(_) => Vec::new(),
        }
    }

    /// For people: the value, the cart, or the siblings with their vectors.
    pub fn describe(&self, names: &[String]) -> String {
        let by = |s: &Stamp| names.get(s.node as usize).map_or("?", |n| n.as_str()).to_string();
        match self {
            Entry::Register { stamp, value } => format!("{value} (t={}us by {})", stamp.clock_us, by(stamp)),
            Entry::StampedCart { stamp, cart } => {
                format!("{} (t={}us by {})", describe_cart(cart), stamp.clock_us, by(stamp))
            }
            Entry::Cart(cart) => describe_cart(cart),
            Entry::Siblings(s) => {
                let parts: Vec<String> =
                    s.iter().map(|s| format!("{} {}", s.value, s.vector.describe(names))).collect();
                let siblings = if s.len() > 1 { "siblings " } else { "" };
                format!("{siblings}{}", parts.join(" | "))
            }
        }
    }
}

/// `{item1 x2, item4 x1}`.
pub fn describe_cart(cart: &Cart) -> String {
    super::CartAnswer::Cart(Box::new(cart.clone())).to_string()
}

/// The versions of `a ∪ b` that no other version in it dominates, sorted
/// and without repeats: what a node keeps when it learns `b` holding `a`.
fn maximal_versions(a: &[Sibling], b: &[Sibling]) -> Vec<Sibling> {
    let mut all: Vec<Sibling> = a.iter().chain(b).cloned().collect();
    all.sort();
    all.dedup();
    let keep: Vec<bool> = all.iter().map(|s| !all.iter().any(|t| t.vector.dominates(&s.vector))).collect();
    all.into_iter().zip(keep).filter_map(|(s, k)| k.then_some(s)).collect()
}

/// Cloned by hand only to keep a register's clone inline: it is the hot
/// path of the LWW benchmark.
impl Clone for Entry {
    #[inline]
    fn clone(&self) -> Self {
        match self {
            Entry::Register { stamp, value } => Entry::Register { stamp: *stamp, value: *value },
            _ => self.clone_collection(),
        }
    }
}

impl Entry {
    fn clone_collection(&self) -> Self {
        match self {
            Entry::Register { stamp, value } => Entry::Register { stamp: *stamp, value: *value },
            Entry::StampedCart { stamp, cart } => Entry::StampedCart { stamp: *stamp, cart: cart.clone() },
            Entry::Cart(cart) => Entry::Cart(cart.clone()),
            Entry::Siblings(s) => Entry::Siblings(s.clone()),
        }
    }
}

/// Hashed by hand for one reason: a register hashes exactly as the
/// `(stamp, value)` pair that multi-master sent before it had carts and
/// version vectors, so the lessons written then keep their trace digests
/// (the digest hashes every message). The other kinds hash a tag first.
impl Hash for Entry {
    fn hash<H: Hasher>(&self, h: &mut H) {
        match self {
            Entry::Register { stamp, value } => {
                stamp.hash(h);
                value.hash(h);
            }
            Entry::StampedCart { stamp, cart } => {
                1u8.hash(h);
                stamp.hash(h);
                cart.hash(h);
            }
            Entry::Cart(cart) => {
                2u8.hash(h);
                cart.hash(h);
            }
            Entry::Siblings(s) => {
                3u8.hash(h);
                s.hash(h);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vv(v: &[u64]) -> VersionVector {
        VersionVector(v.to_vec())
    }
    fn sib(v: &[u64], value: Value) -> Sibling {
        Sibling { vector: vv(v), value }
    }
    fn cart(items: &[(Item, u32)]) -> Cart {
        items.iter().copied().collect()
    }

    /// The course notes' example: both sides' additions survive; an item
    /// in both keeps the greater quantity.
    #[test]
    fn cart_merge_is_union_with_max_quantity() {
        let merged = merge_carts(&cart(&[(1, 2), (2, 1)]), &cart(&[(2, 3), (5, 1)]));
        assert_eq!(merged, cart(&[(1, 2), (2, 3), (5, 1)]));
    }

    /// Vectors: dominance, concurrency, join.
    #[test]
    fn version_vectors_order_writes_by_what_they_have_seen() {
        assert!(vv(&[2, 1]).dominates(&vv(&[1, 1])));
        assert!(!vv(&[1, 1]).dominates(&vv(&[1, 1])));
        assert!(vv(&[1, 0]).concurrent(&vv(&[0, 1])));
        assert!(!vv(&[1, 0]).concurrent(&vv(&[1, 0])));
        assert_eq!(vv(&[2, 0, 1]).join(&vv(&[1, 3, 0])), vv(&[2, 3, 1]));
        let mut v = vv(&[0, 0]);
        v.increment(NodeId(1));
        assert_eq!(v, vv(&[0, 1]));
    }

    /// Concurrent versions are kept side by side; a version that has seen
    /// them both replaces them.
    #[test]
    fn siblings_keep_concurrent_versions_and_drop_dominated_ones() {
        let a = Entry::Siblings(vec![sib(&[1, 0], 10)]);
        let b = Entry::Siblings(vec![sib(&[0, 1], 20)]);
        let both = a.join(&b);
        assert_eq!(both, Entry::Siblings(vec![sib(&[0, 1], 20), sib(&[1, 0], 10)]));
        let c = Entry::Siblings(vec![sib(&[2, 1], 30)]);
        assert_eq!(both.join(&c), c);
    }

    /// The join laws that make replicas converge, on each kind: commutative,
    /// associative, idempotent.
    #[test]
    fn every_join_is_a_semilattice_join() {
        let stamp = |clock_us, node| Stamp { clock_us, node };
        let kinds: Vec<[Entry; 3]> = vec![
            [
                Entry::Register { stamp: stamp(5, 0), value: 1 },
                Entry::Register { stamp: stamp(5, 1), value: 2 },
                Entry::Register { stamp: stamp(3, 2), value: 3 },
            ],
            [
                Entry::StampedCart { stamp: stamp(5, 0), cart: Box::new(cart(&[(1, 1)])) },
                Entry::StampedCart { stamp: stamp(7, 1), cart: Box::new(cart(&[(2, 1)])) },
                Entry::StampedCart { stamp: stamp(7, 1), cart: Box::new(cart(&[(3, 1)])) },
            ],
            [
                Entry::Cart(cart(&[(1, 1), (2, 2)])),
                Entry::Cart(cart(&[(2, 3)])),
                Entry::Cart(cart(&[(1, 2), (9, 1)])),
            ],
            [
                // Sorted, as a node keeps them.
                Entry::Siblings(vec![sib(&[0, 1, 0], 2), sib(&[1, 0, 0], 1)]),
                Entry::Siblings(vec![sib(&[1, 1, 0], 3)]),
                Entry::Siblings(vec![sib(&[0, 0, 1], 4), sib(&[1, 0, 0], 1)]),
            ],
        ];
        for [a, b, c] in kinds {
            for (x, y) in [(&a, &b), (&b, &a), (&a, &c), (&c, &a), (&b, &c), (&c, &b), (&a, &a)] {
                assert_eq!(
                    x.absorbs(y),
                    x.join(y) == *x,
                    "absorbs means the join changes nothing: {x:?} {y:?}"
                );
                assert!(x.join(y).absorbs(y) && x.join(y).absorbs(x), "the join covers both: {x:?} {y:?}");
            }
            assert_eq!(a.join(&b), b.join(&a), "commutative: {a:?} {b:?}");
            assert_eq!(a.join(&b).join(&c), a.join(&b.join(&c)), "associative: {a:?} {b:?} {c:?}");
            assert_eq!(a.join(&a), a, "idempotent: {a:?}");
        }
    }

    /// A register hashes as the `(stamp, value)` pair the LWW-only protocol
    /// sent: the existing lessons' trace digests depend on it.
    #[test]
    fn a_register_hashes_as_a_stamp_value_pair() {
        use crate::sim::hash::StableHasher;
        let stamp = Stamp { clock_us: 42, node: 1 };
        let mut a = StableHasher::new();
        Entry::Register { stamp, value: 7 }.hash(&mut a);
        let mut b = StableHasher::new();
        (stamp, 7u64).hash(&mut b);
        assert_eq!(a.finish128(), b.finish128());
    }

    /// An entry is no bigger than a stamped register with its tag: entries
    /// travel in every `Replicate` and `Sync` (the LWW benchmark).
    #[test]
    fn entries_stay_small() {
        assert!(std::mem::size_of::<Entry>() <= 32, "{}", std::mem::size_of::<Entry>());
    }
}
