//! A vector whose elements a clone shares: each behind a [`CowArc`],
//! copied only when it next changes (`IndexMut` is [`make_mut`]). Reading
//! (`Index`, `iter`) never copies. So a clone of the state — a snapshot, a
//! restore — costs a pointer per element, and `distlab explore`'s
//! successors share every element their move did not touch. Hashes and
//! digests are those of the elements themselves (a `CowArc` hashes as what
//! it points to), the same as a plain vector's.
//!
//! Each element also keeps a *memo*: a 128-bit hash of it that the model
//! fingerprint asks for ([`Shared::memo`]), computed once and forgotten
//! whenever the element changes. A state's fingerprint then hashes only
//! what changed since its parent's; the rest is a word per element.

use crate::util::{CowArc, make_mut};
use std::sync::OnceLock;

#[derive(Debug, Hash)]
pub(super) struct Shared<T>(Vec<CowArc<Memo<T>>>);

/// An element and its memo. It hashes (and so digests) as the element
/// alone: the memo is a cache, not state.
#[derive(Clone, Debug)]
pub(super) struct Memo<T> {
    value: T,
    hash: OnceLock<u128>,
}

impl<T: std::hash::Hash> std::hash::Hash for Memo<T> {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.value.hash(h);
    }
}

impl<T: Clone> Memo<T> {
    /// The element, to change: its memo is forgotten.
    #[inline(always)]
    fn change(memo: &mut CowArc<Memo<T>>) -> &mut T {
        let memo = make_mut(memo);
        memo.hash.take();
        &mut memo.value
    }
}

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared(self.0.clone())
    }
    /// A restore: each element the two share already (the same `CowArc`) is
    /// left alone, without touching its reference count.
    fn clone_from(&mut self, source: &Self) {
        if self.0.len() != source.0.len() {
            return self.0.clone_from(&source.0);
        }
        for (mine, theirs) in self.0.iter_mut().zip(&source.0) {
            if !CowArc::ptr_eq(mine, theirs) {
                *mine = theirs.clone();
            }
        }
    }
}

impl<T> Shared<T> {
    pub(super) fn len(&self) -> usize {
        self.0.len()
    }
    pub(super) fn iter(&self) -> impl Iterator<Item = &T> {
        self.into_iter()
    }
    /// Changes every element `picked` picks, and copies only those.
    pub(super) fn change_where(&mut self, picked: impl Fn(&T) -> bool, mut change: impl FnMut(&mut T))
    where
        T: Clone,
    {
        for e in self.0.iter_mut().filter(|e| picked(&e.value)) {
            change(Memo::change(e));
        }
    }

    /// Lets each element that no clone shares (in practice, those changed
    /// since the last clone or restore) give back memory it holds but does
    /// not use, before a clone shares it — where it would stay for as long
    /// as the clone lives. `trim` may only shrink capacities, nothing the
    /// memo sees: the memo is kept.
    pub(super) fn trim_unshared(&mut self, mut trim: impl FnMut(&mut T)) {
        for e in &mut self.0 {
            if let Some(memo) = CowArc::get_mut(e) {
                trim(&mut memo.value);
            }
        }
    }

    /// Element `i`'s memo: `hash` of it, computed the first time it is
    /// asked for since the element last changed. Every caller passes the
    /// same `hash` (for a vector, there is one kind of memo).
    #[inline]
    pub(super) fn memo(&self, i: usize, hash: impl FnOnce(&T) -> u128) -> u128 {
        let memo = &self.0[i];
        *memo.hash.get_or_init(|| hash(&memo.value))
    }
}

impl<T> FromIterator<T> for Shared<T> {
    fn from_iter<I: IntoIterator<Item = T>>(elements: I) -> Self {
        Shared(elements.into_iter().map(|value| CowArc::new(Memo { value, hash: OnceLock::new() })).collect())
    }
}

impl<'a, T> IntoIterator for &'a Shared<T> {
    type Item = &'a T;
    type IntoIter = std::iter::Map<std::slice::Iter<'a, CowArc<Memo<T>>>, fn(&CowArc<Memo<T>>) -> &T>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|e| &e.value)
    }
}

impl<T> std::ops::Index<usize> for Shared<T> {
    type Output = T;
    #[inline]
    fn index(&self, i: usize) -> &T {
        &self.0[i].value
    }
}

impl<T: Clone> std::ops::IndexMut<usize> for Shared<T> {
    /// The element, to change: copied first if a clone shares it, and its
    /// memo forgotten.
    #[inline]
    fn index_mut(&mut self, i: usize) -> &mut T {
        Memo::change(&mut self.0[i])
    }
}

#[cfg(test)]
mod tests {
    use super::Shared;

    /// A trim reaches only the elements no clone shares (those changed
    /// since the clone), and keeps their memos.
    #[test]
    fn trim_reaches_only_what_no_clone_shares() {
        let mut v: Shared<Vec<u8>> = (0..2).map(|_| Vec::with_capacity(64)).collect();
        let snapshot = v.clone();
        v[1].push(7); // copied from the snapshot's, then grown
        assert!(snapshot[1].is_empty(), "a change after a clone leaves the clone as it was");
        let grown = v[1].capacity();
        assert!(grown > 1, "a pushed vector keeps room to grow");
        let memo = v.memo(1, |e| u128::from(e[0]));
        v.trim_unshared(Vec::shrink_to_fit);
        assert_eq!(v[0].capacity(), 64, "shared with the snapshot: left alone");
        assert_eq!(snapshot[0].capacity(), 64);
        assert_eq!(v[1].capacity(), 1, "its own: trimmed to what it holds");
        assert_eq!(v.memo(1, |_| unreachable!("the memo is kept")), memo);
    }
}
