//! A vector whose clones share what they have in common: for logs that grow
//! at the end, are cut at the end and dropped from the front.
//!
//! A node's state is cloned whenever the simulator takes a snapshot (the
//! TUI's tape, the explorer's frontier). A replicated log held in a `Vec`
//! would be copied whole each time, so a tape of a long run would hold a
//! copy of the log per snapshot — memory quadratic in the run's length.
//! [`ChunkedVec`] keeps its elements in fixed-size chunks behind `CowArc`s:
//! a clone copies only the chunk pointers, and a push, truncation or front
//! removal copies at most the one chunk it changes (copy on write). To the
//! protocol it reads like a `Vec`: `len`, `get`, `push`, `truncate`,
//! `iter`.

use crate::util::{CowArc, make_mut};
use std::fmt;
use std::hash::{Hash, Hasher};

/// Elements per chunk: a changed chunk copies at most this many.
const CHUNK: usize = 64;

/// A vector of `T` in shared chunks. See the module docs.
#[derive(Clone)]
pub struct ChunkedVec<T> {
    /// Every chunk but the last holds `CHUNK` slots; the first `skip`
    /// slots of the first chunk were removed from the front.
    chunks: Vec<CowArc<Vec<T>>>,
    skip: usize,
    len: usize,
}

impl<T> Default for ChunkedVec<T> {
    fn default() -> Self {
        ChunkedVec { chunks: Vec::new(), skip: 0, len: 0 }
    }
}

impl<T: Clone> ChunkedVec<T> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The element at `i`, if there is one.
    pub fn get(&self, i: usize) -> Option<&T> {
        if i >= self.len {
            return None;
        }
        let at = self.skip + i;
        Some(&self.chunks[at / CHUNK][at % CHUNK])
    }

    pub fn last(&self) -> Option<&T> {
        self.len.checked_sub(1).and_then(|i| self.get(i))
    }

    /// Appends `value` at the end (copying the last chunk if a clone
    /// shares it).
    pub fn push(&mut self, value: T) {
        match self.chunks.last_mut() {
            Some(last) if last.len() < CHUNK => make_mut(last).push(value),
            _ => {
                let mut chunk = Vec::with_capacity(CHUNK);
                chunk.push(value);
                self.chunks.push(CowArc::new(chunk));
            }
        }
        self.len += 1;
    }

    /// Keeps the first `len` elements (no effect if there are no more).
    pub fn truncate(&mut self, len: usize) {
        if len >= self.len {
            return;
        }
        if len == 0 {
            *self = Self::default();
            return;
        }
        let end = self.skip + len; // slots kept, counting the skipped ones
        self.chunks.truncate(end.div_ceil(CHUNK));
        let keep = end - (self.chunks.len() - 1) * CHUNK;
        let last = self.chunks.last_mut().expect("len > 0 keeps a chunk");
        if last.len() > keep {
            make_mut(last).truncate(keep);
        }
        self.len = len;
    }

    /// Drops the first `n` elements (all of them if there are fewer).
    pub fn remove_front(&mut self, n: usize) {
        if n >= self.len {
            *self = Self::default();
            return;
        }
        self.skip += n;
        self.len -= n;
        let whole = self.skip / CHUNK;
        self.chunks.drain(..whole);
        self.skip -= whole * CHUNK;
    }

    /// The elements in order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &T> + Clone + '_ {
        self.range(0, self.len)
    }

    /// Elements `from .. to` in order.
    pub fn range(&self, from: usize, to: usize) -> impl DoubleEndedIterator<Item = &T> + Clone + '_ {
        assert!(from <= to && to <= self.len, "range {from}..{to} of a vector of {}", self.len);
        let (first, last) = (self.skip + from, self.skip + to);
        self.chunks
            .iter()
            .enumerate()
            .skip(first / CHUNK)
            .take(last.div_ceil(CHUNK).saturating_sub(first / CHUNK))
            .flat_map(move |(c, chunk)| {
                let start = if c == first / CHUNK { first % CHUNK } else { 0 };
                let end = if c == (last - 1) / CHUNK { (last - 1) % CHUNK + 1 } else { CHUNK };
                &chunk[start..end]
            })
    }

    pub fn to_vec(&self) -> Vec<T> {
        self.iter().cloned().collect()
    }
}

impl<T: Clone> FromIterator<T> for ChunkedVec<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        let mut v = Self::new();
        for x in iter {
            v.push(x);
        }
        v
    }
}

/// Equal when the elements are, however the chunks fall.
impl<T: Clone + PartialEq> PartialEq for ChunkedVec<T> {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}
impl<T: Clone + Eq> Eq for ChunkedVec<T> {}

/// Hashes exactly as a `Vec<T>` of the same elements does (the length,
/// then each element), so a state's hash does not depend on the layout.
impl<T: Clone + Hash> Hash for ChunkedVec<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_usize(self.len);
        for x in self.iter() {
            x.hash(state);
        }
    }
}

impl<T: Clone + fmt::Debug> fmt::Debug for ChunkedVec<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::hash_map::DefaultHasher;

    #[derive(Clone, Debug)]
    enum Op {
        Push(u32),
        Truncate(usize),
        RemoveFront(usize),
        Clone,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => any::<u32>().prop_map(Op::Push),
            1 => (0usize..300).prop_map(Op::Truncate),
            1 => (0usize..100).prop_map(Op::RemoveFront),
            1 => Just(Op::Clone),
        ]
    }

    fn hash_of<T: Hash>(x: &T) -> u64 {
        let mut h = DefaultHasher::new();
        x.hash(&mut h);
        h.finish()
    }

    proptest! {
        /// Behaves as a `Vec` under every operation, hashes as one, and
        /// a clone taken along the way never sees a later change.
        #[test]
        fn behaves_like_a_vec(ops in proptest::collection::vec(op(), 0..400)) {
            let mut v = ChunkedVec::new();
            let mut model: Vec<u32> = Vec::new();
            let mut clones = Vec::new();
            for op in ops {
                match op {
                    Op::Push(x) => { v.push(x); model.push(x); }
                    Op::Truncate(n) => { v.truncate(n); model.truncate(n); }
                    Op::RemoveFront(n) => { v.remove_front(n); model.drain(..n.min(model.len())); }
                    Op::Clone => clones.push((v.clone(), model.clone())),
                }
                prop_assert_eq!(v.len(), model.len());
                prop_assert_eq!(v.to_vec(), model.clone());
                prop_assert_eq!(v.last(), model.last());
                prop_assert_eq!(hash_of(&v), hash_of(&model));
            }
            for i in 0..model.len() {
                prop_assert_eq!(v.get(i), model.get(i));
                for j in i..(i + 3).min(model.len()) {
                    prop_assert_eq!(v.range(i, j).copied().collect::<Vec<_>>(), model[i..j].to_vec());
                    prop_assert_eq!(v.range(i, j).rev().copied().collect::<Vec<_>>(),
                        model[i..j].iter().rev().copied().collect::<Vec<_>>());
                }
            }
            prop_assert_eq!(v.get(model.len()), None);
            for (c, m) in clones {
                prop_assert_eq!(c.to_vec(), m.clone());
                prop_assert!(c == m.iter().copied().collect::<ChunkedVec<u32>>());
            }
        }
    }

    #[test]
    fn a_clone_shares_all_but_the_chunk_that_changes() {
        let v: ChunkedVec<u64> = (0..10 * CHUNK as u64).collect();
        let mut w = v.clone();
        w.push(1);
        w.truncate(10 * CHUNK - 3);
        let shared = v.chunks.iter().zip(&w.chunks).filter(|(a, b)| CowArc::ptr_eq(a, b)).count();
        assert_eq!(shared, 9, "only the last chunk was copied");
        assert_eq!(v.len(), 10 * CHUNK);
    }
}
