//! A sorted map for the maps of a node's state that are usually small —
//! transactions in progress, locks held, the replicas a request asked, the
//! timers a node has set — but may grow with the number of clients.
//!
//! [`SmallMap`] has the part of a `BTreeMap`'s API that protocols use
//! (`get`, `insert`, `remove`, `entry`, `iter` in key order, `retain`,
//! `clear`, `map[&key]`, `collect`), with `first` and `last` for
//! `first_key_value` and `last_key_value`; it takes keys as `&K`, and
//! `retain` shows values as `&V`. Up to
//! [`FLAT_UP_TO`] entries it keeps them in one vector sorted by key
//! (`litemap`'s [`LiteMap`], the ICU4X project's flat map); past that it
//! moves them into a `BTreeMap`, and back once no more than half that
//! many are left. Either way it iterates in key order,
//! compares equal and hashes the same bytes as a `BTreeMap` of the same
//! entries (the test below), so a protocol's traces and a search's states
//! do not depend on which of the two holds a map, or on how it is held.
//!
//! Why: a node's state is copied whenever it changes while a snapshot
//! shares it — at every step `distlab explore` takes, and in the TUI's
//! tape. A `BTreeMap` allocates a node of eleven slots for its first
//! entry, so a map holding two transactions copies, and keeps, all eleven;
//! a flat map copies the two, in one allocation, and finds a key in a few
//! comparisons. But an insert or a removal in a vector moves the entries
//! after it, which a map of a thousand clients' transactions would pay on
//! every one: that is what the `BTreeMap` past [`FLAT_UP_TO`] is for. Maps
//! that grow with the data (a replica's store, balances) are `BTreeMap`s
//! from the start, and maps keyed by the run's ids that grow with the run
//! (the decisions, sagas and keys kept for retention) are
//! [`WindowMap`](super::WindowMap)s.

use litemap::LiteMap;
use std::collections::{BTreeMap, btree_map};
use std::fmt;
use std::hash::{Hash, Hasher};

/// The most entries a [`SmallMap`] keeps in one sorted vector.
pub const FLAT_UP_TO: usize = 32;

/// A map, flat while small: see the module docs.
#[derive(Clone)]
pub struct SmallMap<K, V>(Repr<K, V>);

#[derive(Clone)]
enum Repr<K, V> {
    Flat(LiteMap<K, V>),
    Tree(BTreeMap<K, V>),
}

impl<K, V> Default for SmallMap<K, V> {
    fn default() -> Self {
        SmallMap(Repr::Flat(LiteMap::new()))
    }
}

impl<K: Ord, V> SmallMap<K, V> {
    pub fn new() -> Self {
        Self::default()
    }

    #[inline(always)]
    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Flat(m) => m.len(),
            Repr::Tree(m) => m.len(),
        }
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[inline(always)]
    pub fn get(&self, key: &K) -> Option<&V> {
        match &self.0 {
            Repr::Flat(m) => m.get(key),
            Repr::Tree(m) => m.get(key),
        }
    }

    #[inline]
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        match &mut self.0 {
            Repr::Flat(m) => m.get_mut(key),
            Repr::Tree(m) => m.get_mut(key),
        }
    }

    #[inline]
    pub fn contains_key(&self, key: &K) -> bool {
        self.get(key).is_some()
    }

    /// Inserts `value` under `key`; returns the value it replaced.
    #[inline(always)]
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        self.room_for(&key);
        match &mut self.0 {
            Repr::Flat(m) => m.insert(key, value),
            Repr::Tree(m) => m.insert(key, value),
        }
    }

    #[inline(always)]
    pub fn remove(&mut self, key: &K) -> Option<V> {
        let removed = match &mut self.0 {
            Repr::Flat(m) => m.remove(key),
            Repr::Tree(m) => m.remove(key),
        };
        self.shrink_back();
        removed
    }

    /// The entry of `key`, to read, change or fill in place.
    #[inline(always)]
    pub fn entry(&mut self, key: K) -> Entry<'_, K, V> {
        self.room_for(&key);
        match &mut self.0 {
            Repr::Flat(m) => Entry::Flat(m.entry(key)),
            Repr::Tree(m) => Entry::Tree(m.entry(key)),
        }
    }

    /// Keeps only the entries for which `keep` says yes.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &V) -> bool) {
        match &mut self.0 {
            Repr::Flat(m) => m.retain(|k, v| keep(k, v)),
            Repr::Tree(m) => m.retain(|k, v| keep(k, v)),
        }
        self.shrink_back();
    }

    pub fn clear(&mut self) {
        self.0 = Repr::Flat(LiteMap::new());
    }

    /// The entry with the least key.
    pub fn first(&self) -> Option<(&K, &V)> {
        self.iter().next()
    }

    /// The entry with the greatest key.
    pub fn last(&self) -> Option<(&K, &V)> {
        self.iter().next_back()
    }

    /// The entries in key order.
    #[inline]
    pub fn iter(&self) -> Iter<'_, K, V> {
        match &self.0 {
            Repr::Flat(m) => Iter::Flat(m.as_slice().iter()),
            Repr::Tree(m) => Iter::Tree(m.iter()),
        }
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &K> {
        self.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> {
        self.iter().map(|(_, v)| v)
    }

    /// Before adding `key`: a flat map that is full becomes a tree.
    #[inline(always)]
    fn room_for(&mut self, key: &K) {
        if let Repr::Flat(m) = &self.0
            && m.len() >= FLAT_UP_TO
            && m.get(key).is_none()
        {
            self.spill_to_tree();
        }
    }

    /// After removing: a tree that has shrunk to half a flat map's room
    /// becomes flat again (not at once below it, so a map that hovers at
    /// the limit does not move its entries back and forth).
    #[inline(always)]
    fn shrink_back(&mut self) {
        if let Repr::Tree(m) = &self.0
            && m.len() <= FLAT_UP_TO / 2
        {
            self.flatten();
        }
    }

    #[cold]
    #[inline(never)]
    fn spill_to_tree(&mut self) {
        if let Repr::Flat(m) = &mut self.0 {
            let entries = std::mem::take(m).into_tuple_vec();
            self.0 = Repr::Tree(entries.into_iter().collect());
        }
    }

    #[cold]
    #[inline(never)]
    fn flatten(&mut self) {
        if let Repr::Tree(m) = &mut self.0 {
            let entries: Vec<(K, V)> = std::mem::take(m).into_iter().collect();
            self.0 = Repr::Flat(LiteMap::from_sorted_store_unchecked(entries));
        }
    }
}

/// A [`SmallMap`]'s entry for one key (see [`SmallMap::entry`]).
pub enum Entry<'a, K: Ord, V> {
    Flat(litemap::Entry<'a, K, V, Vec<(K, V)>>),
    Tree(btree_map::Entry<'a, K, V>),
}

impl<'a, K: Ord, V> Entry<'a, K, V> {
    pub fn or_insert(self, default: V) -> &'a mut V {
        self.or_insert_with(|| default)
    }

    #[inline]
    pub fn or_insert_with(self, default: impl FnOnce() -> V) -> &'a mut V {
        match self {
            Entry::Flat(e) => e.or_insert_with(default),
            Entry::Tree(e) => e.or_insert_with(default),
        }
    }

    pub fn or_default(self) -> &'a mut V
    where
        V: Default,
    {
        self.or_insert_with(V::default)
    }
}

/// The entries of a [`SmallMap`], in key order.
pub enum Iter<'a, K, V> {
    Flat(std::slice::Iter<'a, (K, V)>),
    Tree(btree_map::Iter<'a, K, V>),
}

impl<'a, K, V> Iterator for Iter<'a, K, V> {
    type Item = (&'a K, &'a V);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Flat(i) => i.next().map(|(k, v)| (k, v)),
            Iter::Tree(i) => i.next(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            Iter::Flat(i) => i.size_hint(),
            Iter::Tree(i) => i.size_hint(),
        }
    }
}

impl<K, V> DoubleEndedIterator for Iter<'_, K, V> {
    #[inline]
    fn next_back(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Flat(i) => i.next_back().map(|(k, v)| (k, v)),
            Iter::Tree(i) => i.next_back(),
        }
    }
}

impl<K, V> ExactSizeIterator for Iter<'_, K, V> {}

impl<'a, K: Ord, V> IntoIterator for &'a SmallMap<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = Iter<'a, K, V>;

    fn into_iter(self) -> Iter<'a, K, V> {
        self.iter()
    }
}

impl<K: Ord, V> IntoIterator for SmallMap<K, V> {
    type Item = (K, V);
    type IntoIter = std::vec::IntoIter<(K, V)>;

    fn into_iter(self) -> Self::IntoIter {
        match self.0 {
            Repr::Flat(m) => m.into_tuple_vec().into_iter(),
            Repr::Tree(m) => m.into_iter().collect::<Vec<_>>().into_iter(),
        }
    }
}

impl<K: Ord, V> FromIterator<(K, V)> for SmallMap<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(entries: I) -> Self {
        // Through a `BTreeMap`: what it keeps of a key given twice is
        // what this keeps.
        let mut map = SmallMap(Repr::Tree(entries.into_iter().collect()));
        if map.len() <= FLAT_UP_TO {
            map.flatten();
        }
        map
    }
}

/// `map[&key]`: the value of a key the map holds (it panics if not, as a
/// `BTreeMap` does).
impl<K: Ord, V> std::ops::Index<&K> for SmallMap<K, V> {
    type Output = V;

    #[inline]
    fn index(&self, key: &K) -> &V {
        self.get(key).expect("no entry for the key in the SmallMap")
    }
}

impl<K: Ord, V: PartialEq> PartialEq for SmallMap<K, V> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl<K: Ord, V: Eq> Eq for SmallMap<K, V> {}

/// Hashes as a `BTreeMap` does (its length, then each entry in key order),
/// however the map is held.
impl<K: Ord + Hash, V: Hash> Hash for SmallMap<K, V> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        match &self.0 {
            Repr::Flat(m) => m.as_slice().hash(h),
            Repr::Tree(m) => m.hash(h),
        }
    }
}

impl<K: Ord + fmt::Debug, V: fmt::Debug> fmt::Debug for SmallMap<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::{FLAT_UP_TO, SmallMap};
    use proptest::prelude::*;
    use std::collections::BTreeMap;
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};

    #[derive(Clone, Debug)]
    enum Op {
        Insert(u8, u64),
        Remove(u8),
        /// `entry(key).or_insert(0) += 1`
        Bump(u8),
        /// `retain` the entries whose value is even.
        RetainEven,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (any::<u8>(), any::<u64>()).prop_map(|(k, v)| Op::Insert(k, v)),
            2 => any::<u8>().prop_map(Op::Remove),
            2 => any::<u8>().prop_map(Op::Bump),
            1 => Just(Op::RetainEven),
        ]
    }

    proptest! {
        /// Under every operation it answers as a `BTreeMap`, holds the same
        /// entries in the same order, compares and hashes the same — flat,
        /// as a tree, and across the moves between the two (keys up to 255,
        /// so maps grow well past `FLAT_UP_TO`).
        #[test]
        fn behaves_and_hashes_as_a_btreemap(ops in proptest::collection::vec(op(), 0..400)) {
            let hasher = BuildHasherDefault::<DefaultHasher>::default();
            let mut small: SmallMap<u8, u64> = SmallMap::new();
            let mut tree: BTreeMap<u8, u64> = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Insert(k, v) => prop_assert_eq!(small.insert(k, v), tree.insert(k, v)),
                    Op::Remove(k) => prop_assert_eq!(small.remove(&k), tree.remove(&k)),
                    Op::Bump(k) => {
                        let (a, b) = (small.entry(k).or_insert(0), tree.entry(k).or_insert(0));
                        *a = a.wrapping_add(1);
                        *b = b.wrapping_add(1);
                    }
                    Op::RetainEven => {
                        small.retain(|_, v| *v % 2 == 0);
                        tree.retain(|_, v| *v % 2 == 0);
                    }
                }
                prop_assert_eq!(small.len(), tree.len());
                prop_assert_eq!(small.iter().collect::<Vec<_>>(), tree.iter().collect::<Vec<_>>());
                prop_assert_eq!(small.iter().rev().collect::<Vec<_>>(), tree.iter().rev().collect::<Vec<_>>());
                prop_assert_eq!(small.first(), tree.first_key_value());
                prop_assert_eq!(small.last(), tree.last_key_value());
                prop_assert_eq!(hasher.hash_one(&small), hasher.hash_one(&tree));
                prop_assert_eq!(format!("{small:?}"), format!("{tree:?}"));
            }
            let copy: SmallMap<u8, u64> = small.iter().map(|(&k, &v)| (k, v)).collect();
            prop_assert!(copy == small);
            // Each key given twice: the later value stays, as in a `BTreeMap`.
            let twice = || tree.iter().flat_map(|(&k, &v)| [(k, v), (k, v ^ 1)]);
            let (a, b): (SmallMap<u8, u64>, BTreeMap<u8, u64>) = (twice().collect(), twice().collect());
            prop_assert_eq!(a.iter().collect::<Vec<_>>(), b.iter().collect::<Vec<_>>());
            prop_assert_eq!(small.into_iter().collect::<Vec<_>>(), tree.into_iter().collect::<Vec<_>>());
        }
    }

    /// The map is flat up to `FLAT_UP_TO` entries, a tree past them, and
    /// flat again at half: equal and hashing the same throughout.
    #[test]
    fn moves_to_a_tree_past_the_limit_and_back_at_half() {
        let hasher = BuildHasherDefault::<DefaultHasher>::default();
        let flat = |m: &SmallMap<usize, usize>| matches!(m.0, super::Repr::Flat(_));
        let mut m = SmallMap::new();
        for k in 0..FLAT_UP_TO {
            m.insert(k, k);
        }
        assert!(flat(&m));
        let before = hasher.hash_one(&m);
        m.insert(FLAT_UP_TO, 0);
        assert!(!flat(&m), "past the limit");
        m.remove(&FLAT_UP_TO);
        assert!(!flat(&m), "not back at once");
        assert_eq!(hasher.hash_one(&m), before, "the same entries hash the same, flat or not");
        for k in FLAT_UP_TO / 2..FLAT_UP_TO {
            m.remove(&k);
        }
        assert!(flat(&m), "flat again at half");
        assert_eq!(m.len(), FLAT_UP_TO / 2);
        assert!(m.iter().map(|(k, _)| *k).eq(0..FLAT_UP_TO / 2));
    }
}
