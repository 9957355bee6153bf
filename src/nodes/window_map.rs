//! A sorted map for entries keyed by the ids a run hands out one after
//! another — sagas, transactions, idempotency keys, order numbers — which
//! arrive about in key order and are forgotten about oldest first: a
//! sliding window over the ids.
//!
//! [`WindowMap`] has the part of a `BTreeMap`'s API that protocols use
//! (`get`, `get_mut`, `insert`, `remove`, `entry(..).or_default()`,
//! `retain`, `iter` in key order and back, `first`, `last`, `map[&key]`,
//! `collect`), for keys that are ids: numbers ([`Id`]; every map keyed by
//! ids is keyed by `u64`s). It keeps its entries in one `VecDeque` sorted
//! by key, so:
//! - a key later than every key held joins the back, and the oldest key
//!   leaves the front, each without moving any other entry;
//! - a lookup of the newest key is one comparison, of the oldest two; any
//!   other looks first where the key would be if the ids held were evenly
//!   spaced (they are about: consecutive, or a fixed step apart), and
//!   from there gallops (1, 2, 4... entries) toward it and halves the last
//!   gap, so it costs the log of how far off that guess was (on the saga
//!   benchmark, of 321 600 lookups 157 482 guess and 22 500 gallop);
//! - an insert or a removal elsewhere moves the entries between it and the
//!   nearer end: never more than half the map, and as many as the ids
//!   newer than it already held (or older still held, if fewer).
//!
//! So the map fits ids that arrive about in order and leave about oldest
//! first, and its cost is how far they are from that. Saga ids arrive
//! overtaken by the few requests the network reorders. Idempotency keys
//! are the least ordered: a saga's later steps (approve, cancel, refund)
//! come to a service behind the first steps of every saga begun since, so
//! an insert there moves about as many entries as there are sagas in
//! flight — with thousands of clients, a few microseconds' memmove, where
//! a `BTreeMap` walks its nodes in one. Ids that are not about in order
//! (keys spread by node, say) belong in a `BTreeMap`.
//!
//! A `BTreeMap` walks three or four nodes of eleven keys for each of these
//! at the map sizes a run's retention keeps (thousands), and allocates a
//! node every few inserts. Maps keyed by data rather than by ids in the
//! order of the run (balances by customer, a replica's store) stay
//! `BTreeMap`s: their inserts land anywhere.
//!
//! Like [`SmallMap`](super::SmallMap), it iterates in key order, compares
//! equal and hashes the same bytes as a `BTreeMap` of the same entries (the
//! test below), so traces and a search's states do not depend on which of
//! the two holds a map.

use std::cmp::Ordering;
use std::collections::{VecDeque, vec_deque};
use std::fmt;
use std::hash::{Hash, Hasher};

/// What a [`WindowMap`] is keyed by: ids, which are numbers, a later id a
/// larger one. A lookup reads them as numbers to guess where a key is.
///
/// `number` must keep the order: `a < b` exactly when `a.number() <
/// b.number()`. As with an `Ord` that is not a total order for a
/// `BTreeMap`, an implementation that breaks this is a logic error: the
/// map may find the wrong entry or panic (never undefined behaviour).
pub trait Id: Ord {
    /// The id as a number, in the order of the ids.
    fn number(&self) -> u64;
}

macro_rules! ids {
    ($($t:ty),*) => {$(
        impl Id for $t {
            #[inline]
            fn number(&self) -> u64 {
                u64::from(*self)
            }
        }
    )*};
}
ids!(u8, u16, u32, u64);

/// A map over a window of ids: see the module docs.
#[derive(Clone)]
pub struct WindowMap<K, V> {
    /// Sorted by key, no key twice.
    entries: VecDeque<(K, V)>,
}

/// Below this capacity the map never gives memory back.
const KEEP_CAPACITY: usize = 64;

impl<K, V> Default for WindowMap<K, V> {
    fn default() -> Self {
        WindowMap { entries: VecDeque::new() }
    }
}

impl<K: Clone, V: Clone> WindowMap<K, V> {
    /// A copy with room for it to grow: the next power of two, as growth
    /// makes it. For a node that recovers a map from its disk and then
    /// grows it: a buffer of one of the few sizes growth uses is reused
    /// where one of an odd size would take fresh pages from the allocator
    /// at every restart. (`clone`, for snapshots, copies exactly.)
    pub fn copy_to_grow(&self) -> Self {
        if self.entries.is_empty() {
            return Self::default();
        }
        let mut entries = VecDeque::with_capacity(self.entries.len().next_power_of_two());
        entries.extend(self.entries.iter().cloned());
        WindowMap { entries }
    }
}

impl<K, V> WindowMap<K, V> {
    pub fn new() -> Self {
        Self::default()
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry with the least key (`BTreeMap::first_key_value`).
    #[inline]
    pub fn first(&self) -> Option<(&K, &V)> {
        self.entries.front().map(|(k, v)| (k, v))
    }

    /// The entry with the greatest key (`BTreeMap::last_key_value`).
    #[inline]
    pub fn last(&self) -> Option<(&K, &V)> {
        self.entries.back().map(|(k, v)| (k, v))
    }

    /// The entries in key order (and back, with `rev`).
    #[inline]
    pub fn iter(&self) -> Iter<'_, K, V> {
        Iter(self.entries.iter())
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &K> + ExactSizeIterator {
        self.entries.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> + ExactSizeIterator {
        self.entries.iter().map(|(_, v)| v)
    }

    pub fn values_mut(&mut self) -> impl DoubleEndedIterator<Item = &mut V> + ExactSizeIterator {
        self.entries.iter_mut().map(|(_, v)| v)
    }

    pub fn clear(&mut self) {
        self.entries.clear();
        self.give_back();
    }

    /// Memory follows the window: once it holds under a quarter of its
    /// room, its room is the power of two at or above twice what it holds.
    #[inline]
    fn give_back(&mut self) {
        let room = self.entries.capacity();
        if room > KEEP_CAPACITY && self.entries.len() < room / 4 {
            self.entries.shrink_to((self.entries.len() * 2).next_power_of_two().max(KEEP_CAPACITY));
        }
    }
}

impl<K: Id, V> WindowMap<K, V> {
    /// Where `key` is (`Ok`) or would go (`Err`). A key at or past the
    /// newest — the common case — costs one comparison, and the oldest —
    /// what retention forgets — two.
    #[inline]
    fn find(&self, key: &K) -> Result<usize, usize> {
        let n = self.entries.len();
        let (Some((first, _)), Some((last, _))) = (self.entries.front(), self.entries.back()) else {
            return Err(0);
        };
        match key.cmp(last) {
            Ordering::Greater => Err(n),
            Ordering::Equal => Ok(n - 1),
            Ordering::Less => match key.cmp(first) {
                Ordering::Less => Err(0),
                Ordering::Equal => Ok(0),
                Ordering::Greater => self.find_inside(key, n - 1),
            },
        }
    }

    /// Where `key`, between the oldest key and the newest (at `last`), is
    /// or would go. The ids a window holds are about evenly spaced
    /// (consecutive, or the same number apart, as a service's idempotency
    /// keys are), so the search first looks where the key would be if they
    /// were exactly: as far back from the newest, in entries, as it is in
    /// ids, over the ids' average spacing. That finds most keys at once.
    /// From there it gallops (1, 2, 4... entries) toward the key and halves
    /// the last gap, so a guess that is off costs the log of how far off.
    fn find_inside(&self, key: &K, last: usize) -> Result<usize, usize> {
        let e = &self.entries;
        let (oldest, newest, id) = (e[0].0.number(), e[last].0.number(), key.number());
        // oldest < id < newest, so `gap` < `span`, `back` < `last` and
        // 1 ≤ `guess` ≤ `last` (`last` ≥ 1). Consecutive ids (`span` is
        // `last`: every id between is held) need no division and place the
        // key exactly; spans too wide to multiply fall back to the middle.
        let (span, gap) = (newest - oldest, newest - id);
        let back = if span == last as u64 {
            gap
        } else {
            gap.checked_mul(last as u64).map_or(last as u64 / 2, |ids| ids / span)
        };
        let guess = last - back as usize;
        match e[guess].0.cmp(key) {
            Ordering::Equal => Ok(guess),
            // Every entry up to `guess` is less, the newest greater.
            Ordering::Less => self.gallop(key, guess, last, true),
            // The oldest entry is less, every one from `guess` on greater.
            Ordering::Greater => self.gallop(key, 0, guess, false),
        }
    }

    /// Where `key` is or would go, strictly between `lo` (whose key is
    /// less) and `hi` (whose key is greater): galloping up from `lo`
    /// (`up`) or down from `hi`, then halving the last gap.
    fn gallop(&self, key: &K, mut lo: usize, mut hi: usize, up: bool) -> Result<usize, usize> {
        let e = &self.entries;
        let mut step = 1;
        while lo + step < hi {
            let probe = if up { lo + step } else { hi - step };
            // Until a probe passes the key: the gap it closes is the last.
            match e[probe].0.cmp(key) {
                Ordering::Equal => return Ok(probe),
                Ordering::Less if up => lo = probe,
                Ordering::Greater if !up => hi = probe,
                Ordering::Less => {
                    lo = probe;
                    break;
                }
                Ordering::Greater => {
                    hi = probe;
                    break;
                }
            }
            step *= 2;
        }
        // The key is strictly between `lo` and `hi`.
        let (mut lo, mut hi) = (lo + 1, hi);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match e[mid].0.cmp(key) {
                Ordering::Equal => return Ok(mid),
                Ordering::Less => lo = mid + 1,
                Ordering::Greater => hi = mid,
            }
        }
        Err(lo)
    }

    #[inline]
    pub fn get(&self, key: &K) -> Option<&V> {
        self.find(key).ok().map(|i| &self.entries[i].1)
    }

    #[inline]
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.find(key).ok().map(|i| &mut self.entries[i].1)
    }

    #[inline]
    pub fn contains_key(&self, key: &K) -> bool {
        self.find(key).is_ok()
    }

    /// Inserts `value` under `key`, returning the value it replaces.
    #[inline]
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.find(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.entries[i].1, value)),
            Err(i) => {
                self.put(i, key, value);
                None
            }
        }
    }

    /// Puts a new entry at its place `i`: the back, or between others.
    /// (`VecDeque::insert` at the back and `remove` at the front do the
    /// same, but the plain push and pop below take saga and two-phase
    /// commit 1.3–1.8% fewer instructions.)
    #[inline]
    fn put(&mut self, i: usize, key: K, value: V) -> &mut V {
        if i == self.entries.len() {
            self.entries.push_back((key, value));
        } else {
            self.entries.insert(i, (key, value));
        }
        &mut self.entries[i].1
    }

    #[inline]
    pub fn remove(&mut self, key: &K) -> Option<V> {
        let i = self.find(key).ok()?;
        let (_, value) = if i == 0 { self.entries.pop_front() } else { self.entries.remove(i) }?;
        self.give_back();
        Some(value)
    }

    /// The entry of `key`, to fill if it is vacant.
    #[inline]
    pub fn entry(&mut self, key: K) -> Entry<'_, K, V> {
        let at = self.find(&key);
        Entry { map: self, key, at }
    }

    /// Keeps only the entries for which `keep` says so.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        self.entries.retain_mut(|(k, v)| keep(k, v));
        self.give_back();
    }
}

/// A key's place in a [`WindowMap`], found once (`WindowMap::entry`).
pub struct Entry<'a, K, V> {
    map: &'a mut WindowMap<K, V>,
    key: K,
    at: Result<usize, usize>,
}

impl<'a, K: Id, V> Entry<'a, K, V> {
    pub fn or_insert_with(self, default: impl FnOnce() -> V) -> &'a mut V {
        match self.at {
            Ok(i) => &mut self.map.entries[i].1,
            Err(i) => self.map.put(i, self.key, default()),
        }
    }

    pub fn or_insert(self, default: V) -> &'a mut V {
        self.or_insert_with(|| default)
    }

    pub fn or_default(self) -> &'a mut V
    where
        V: Default,
    {
        self.or_insert_with(V::default)
    }
}

/// The entries of a [`WindowMap`] in key order.
pub struct Iter<'a, K, V>(vec_deque::Iter<'a, (K, V)>);

impl<'a, K, V> Iterator for Iter<'a, K, V> {
    type Item = (&'a K, &'a V);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(k, v)| (k, v))
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl<K, V> DoubleEndedIterator for Iter<'_, K, V> {
    #[inline]
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.next_back().map(|(k, v)| (k, v))
    }
}

impl<K, V> ExactSizeIterator for Iter<'_, K, V> {}

impl<K, V> std::iter::FusedIterator for Iter<'_, K, V> {}

impl<'a, K, V> IntoIterator for &'a WindowMap<K, V> {
    type Item = (&'a K, &'a V);
    type IntoIter = Iter<'a, K, V>;

    fn into_iter(self) -> Iter<'a, K, V> {
        self.iter()
    }
}

impl<K, V> IntoIterator for WindowMap<K, V> {
    type Item = (K, V);
    type IntoIter = vec_deque::IntoIter<(K, V)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

/// Collects entries in any order; of a key given twice the later value
/// stays, as in a `BTreeMap`.
impl<K: Ord, V> FromIterator<(K, V)> for WindowMap<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(entries: I) -> Self {
        let mut entries: Vec<(K, V)> = entries.into_iter().collect();
        // Stable: equal keys keep the order given; of each run of equal
        // keys the last stays (`dedup_by` keeps the first, so each later
        // one is swapped into its place before it is dropped).
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        entries.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                std::mem::swap(later, kept);
            }
            same
        });
        WindowMap { entries: VecDeque::from(entries) }
    }
}

/// `map[&key]`: the value of a key the map holds (it panics if not, as a
/// `BTreeMap` does).
impl<K: Id, V> std::ops::Index<&K> for WindowMap<K, V> {
    type Output = V;

    #[inline]
    fn index(&self, key: &K) -> &V {
        self.get(key).expect("no entry for the key in the WindowMap")
    }
}

impl<K: PartialEq, V: PartialEq> PartialEq for WindowMap<K, V> {
    fn eq(&self, other: &Self) -> bool {
        self.entries == other.entries
    }
}

impl<K: Eq, V: Eq> Eq for WindowMap<K, V> {}

/// Hashes as a `BTreeMap` does: its length, then each entry in key order.
impl<K: Hash, V: Hash> Hash for WindowMap<K, V> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.entries.hash(h)
    }
}

impl<K: fmt::Debug, V: fmt::Debug> fmt::Debug for WindowMap<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.entries.iter().map(|(k, v)| (k, v))).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::{KEEP_CAPACITY, WindowMap};
    use proptest::prelude::*;
    use std::collections::BTreeMap;
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};

    #[derive(Clone, Debug)]
    enum Op {
        /// Inserts the next id less `back` (0: the newest yet), with a value.
        Next(u8, u64),
        /// Inserts any key up to the newest.
        Insert(u16, u64),
        Remove(u16),
        /// Removes the oldest key.
        Forget,
        /// `entry(key).or_insert(0) += 1`
        Bump(u16),
        /// `retain` the entries whose value is even, halving them.
        RetainEven,
        /// `get_mut(key)` += 1, `entry(key).or_default()` += 3.
        Mutate(u16),
        /// Every value += 1 (`values_mut`).
        BumpAll,
        Clear,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (prop_oneof![3 => Just(0u8), 1 => any::<u8>()], any::<u64>()).prop_map(|(b, v)| Op::Next(b, v)),
            1 => (any::<u16>(), any::<u64>()).prop_map(|(k, v)| Op::Insert(k, v)),
            2 => any::<u16>().prop_map(Op::Remove),
            3 => Just(Op::Forget),
            2 => any::<u16>().prop_map(Op::Bump),
            1 => Just(Op::RetainEven),
            2 => any::<u16>().prop_map(Op::Mutate),
            1 => Just(Op::BumpAll),
            1 => prop_oneof![9 => Just(Op::Forget), 1 => Just(Op::Clear)],
        ]
    }

    proptest! {
        /// Under every operation — ids mostly in order, some overtaken,
        /// some anywhere; the oldest forgotten, others removed anywhere —
        /// it answers as a `BTreeMap`, holds the same entries in the same
        /// order, and compares, hashes and prints the same.
        #[test]
        fn behaves_and_hashes_as_a_btreemap(ops in proptest::collection::vec(op(), 0..600)) {
            let hasher = BuildHasherDefault::<DefaultHasher>::default();
            let mut window: WindowMap<u64, u64> = WindowMap::new();
            let mut tree: BTreeMap<u64, u64> = BTreeMap::new();
            let mut next = 300u64;
            for op in ops {
                match op {
                    Op::Next(back, v) => {
                        next += 1;
                        let k = next - back as u64;
                        prop_assert_eq!(window.insert(k, v), tree.insert(k, v));
                    }
                    Op::Insert(k, v) => {
                        let k = k as u64 % next;
                        prop_assert_eq!(window.insert(k, v), tree.insert(k, v));
                    }
                    Op::Remove(k) => {
                        let k = k as u64 % next;
                        prop_assert_eq!(window.remove(&k), tree.remove(&k));
                    }
                    Op::Forget => {
                        let oldest = tree.first_key_value().map(|(&k, _)| k);
                        if let Some(k) = oldest {
                            prop_assert_eq!(window.remove(&k), tree.remove(&k));
                        }
                    }
                    Op::Bump(k) => {
                        let k = k as u64 % next;
                        let (a, b) = (window.entry(k).or_insert(0), tree.entry(k).or_insert(0));
                        *a = a.wrapping_add(1);
                        *b = b.wrapping_add(1);
                    }
                    Op::RetainEven => {
                        // Visited in key order, as a `BTreeMap` visits them.
                        let (mut a, mut b) = (Vec::new(), Vec::new());
                        window.retain(|&k, v| { a.push(k); *v /= 2; *v % 2 == 0 });
                        tree.retain(|&k, v| { b.push(k); *v /= 2; *v % 2 == 0 });
                        prop_assert_eq!(a, b);
                    }
                    Op::Mutate(k) => {
                        let k = k as u64 % next;
                        if let (Some(a), Some(b)) = (window.get_mut(&k), tree.get_mut(&k)) {
                            *a = a.wrapping_add(1);
                            *b = b.wrapping_add(1);
                        }
                        prop_assert_eq!(window.contains_key(&k), tree.contains_key(&k));
                        *window.entry(k).or_default() += 3;
                        *tree.entry(k).or_default() += 3;
                    }
                    Op::BumpAll => {
                        window.values_mut().for_each(|v| *v = v.wrapping_add(1));
                        tree.values_mut().for_each(|v| *v = v.wrapping_add(1));
                    }
                    Op::Clear => {
                        window.clear();
                        tree.clear();
                    }
                }
                prop_assert_eq!(window.len(), tree.len());
                prop_assert!(window.iter().eq(tree.iter()));
                prop_assert!(window.iter().rev().eq(tree.iter().rev()));
                prop_assert_eq!(window.first(), tree.first_key_value());
                prop_assert_eq!(window.last(), tree.last_key_value());
                prop_assert_eq!(hasher.hash_one(&window), hasher.hash_one(&tree));
                prop_assert_eq!(format!("{window:?}"), format!("{tree:?}"));
                for k in tree.keys() {
                    prop_assert_eq!(window.get(k), tree.get(k));
                    prop_assert_eq!(window[k], tree[k]);
                }
                for k in [0, next / 2, next + 1] {
                    prop_assert_eq!(window.contains_key(&k), tree.contains_key(&k));
                }
            }
            let copy: WindowMap<u64, u64> = window.iter().rev().map(|(&k, &v)| (k, v)).collect();
            prop_assert!(copy == window);
            let clone = window.clone();
            prop_assert!(clone == window);
            let grown = window.copy_to_grow();
            prop_assert!(grown == window);
            prop_assert!(window.is_empty() || grown.entries.capacity() >= window.len().next_power_of_two());
            // Unequal where a `BTreeMap` is: one value changed, one entry gone.
            if let Some((&k, _)) = tree.iter().nth(tree.len() / 2) {
                let (mut w, mut t) = (window.clone(), tree.clone());
                *w.get_mut(&k).expect("held") ^= 1;
                *t.get_mut(&k).expect("held") ^= 1;
                prop_assert_eq!(w == window, t == tree);
                prop_assert!(w != window);
                w.remove(&k);
                t.remove(&k);
                prop_assert_eq!(w == window, t == tree);
                prop_assert_eq!(w.len() + 1, window.len());
            }
            // Each key given twice: the later value stays, as in a `BTreeMap`.
            let twice = || tree.iter().flat_map(|(&k, &v)| [(k, v), (k, v ^ 1)]);
            let (a, b): (WindowMap<u64, u64>, BTreeMap<u64, u64>) = (twice().collect(), twice().collect());
            prop_assert!(a.iter().eq(b.iter()));
            prop_assert!(window.into_iter().eq(tree.into_iter()));
        }

        /// However the ids are spaced — evenly, in clumps, with one far
        /// out, wrapped around the deque's buffer — every id finds its entry,
        /// and every id between, where it would go: the guess from the
        /// spacing is a shortcut, never the answer.
        #[test]
        fn finds_every_key_however_spaced(
            gaps in proptest::collection::vec(prop_oneof![6 => 1u64..4, 2 => 4u64..40, 1 => Just(1u64 << 40)], 1..120),
            wrap in 0usize..70,
        ) {
            let mut ids: Vec<u64> = gaps.iter().scan(0u64, |id, g| { *id += g; Some(*id) }).collect();
            let mut window: WindowMap<u64, usize> = WindowMap::new();
            // Older ids held first and forgotten one by one as the ids
            // come, so the entries wrap around the deque's buffer.
            for i in 0..wrap as u64 {
                window.insert(i, 0);
            }
            let base = wrap as u64;
            for id in ids.iter_mut() {
                *id += base;
            }
            for (i, &id) in ids.iter().enumerate() {
                window.insert(id, i);
                if window.first().is_some_and(|(&oldest, _)| oldest < base) {
                    window.remove(&window.first().map(|(&k, _)| k).expect("held"));
                }
            }
            while window.first().is_some_and(|(&oldest, _)| oldest < base) {
                window.remove(&window.first().map(|(&k, _)| k).expect("held"));
            }
            for probe in base..=ids[ids.len() - 1].min(base + 4000) + 1 {
                prop_assert_eq!(window.find(&probe), ids.binary_search(&probe), "id {}", probe);
            }
            for (i, id) in ids.iter().enumerate() {
                prop_assert_eq!(window.find(id), Ok(i));
                prop_assert_eq!(window.find(&(id - 1)), ids.binary_search(&(id - 1)));
                prop_assert_eq!(window.find(&(id + 1)), ids.binary_search(&(id + 1)));
            }
        }

        /// Collected from entries in any order, with keys given several
        /// times apart: the last value given for a key stays.
        #[test]
        fn collects_as_a_btreemap(entries in proptest::collection::vec((0u8..40, any::<u64>()), 0..200)) {
            let window: WindowMap<u8, u64> = entries.iter().copied().collect();
            let tree: BTreeMap<u8, u64> = entries.iter().copied().collect();
            prop_assert!(window.iter().eq(tree.iter()));
        }
    }

    /// Ids spread over the whole range of `u64`, so a guess's product
    /// overflows and it starts from the middle: every subset of these
    /// ids still finds every key and every gap.
    #[test]
    fn finds_keys_spread_too_wide_to_multiply() {
        let extremes =
            [0, 1, 2, 3, 1 << 32, 1 << 62, 1 << 63, (1 << 63) + 1, u64::MAX - 2, u64::MAX - 1, u64::MAX];
        for subset in 1u32..1 << extremes.len() {
            let ids: Vec<u64> =
                (0..extremes.len()).filter(|i| subset & (1 << i) != 0).map(|i| extremes[i]).collect();
            let window: WindowMap<u64, ()> = ids.iter().map(|&id| (id, ())).collect();
            for &id in &extremes {
                for probe in [id.wrapping_sub(1), id, id.wrapping_add(1)] {
                    assert_eq!(window.find(&probe), ids.binary_search(&probe), "{probe} in {ids:?}");
                }
            }
        }
    }

    #[test]
    #[should_panic(expected = "no entry for the key")]
    fn indexing_a_missing_key_panics() {
        let m: WindowMap<u64, u64> = [(1, 1), (3, 3)].into_iter().collect();
        let _ = m[&2];
    }

    /// An empty map copies without allocating; a copy to grow has room to
    /// the next power of two, a clone exactly what it holds.
    #[test]
    fn copies_take_the_room_they_need() {
        let empty: WindowMap<u64, u64> = WindowMap::new();
        assert_eq!(empty.clone().entries.capacity(), 0);
        assert_eq!(empty.copy_to_grow().entries.capacity(), 0);
        let m: WindowMap<u64, u64> = (0..100).map(|k| (k, k)).collect();
        assert_eq!(m.clone().entries.capacity(), 100);
        assert_eq!(m.copy_to_grow().entries.capacity(), 128);
    }

    /// A window that slides keeps the memory of what it holds, not of all
    /// it has held; one that empties gives its room back.
    #[test]
    fn memory_follows_the_window() {
        let mut m = WindowMap::new();
        for id in 0..100_000u64 {
            m.insert(id, id);
            if id >= 100 {
                m.remove(&(id - 100));
            }
        }
        assert_eq!(m.len(), 100);
        assert!(m.entries.capacity() <= 256, "room for {}", m.entries.capacity());
        for id in 0..50_000u64 {
            m.insert(200_000 + id, id);
        }
        assert!(m.entries.capacity() >= 50_000);
        m.retain(|k, _| *k < 200_010);
        assert!(m.entries.capacity() <= 4 * m.len().max(KEEP_CAPACITY), "room for {}", m.entries.capacity());
        assert_eq!(
            m.keys().copied().collect::<Vec<_>>(),
            (99_900..100_000).chain(200_000..200_010).collect::<Vec<_>>()
        );
    }
}
