//! A vector whose elements a clone shares: each behind an `Arc`, copied
//! only when it next changes (`IndexMut` is `Arc::make_mut`). Reading
//! (`Index`, `iter`) never copies. So a clone of the state — a snapshot, a
//! restore — costs a pointer per element, and `distlab explore`'s
//! successors share every element their move did not touch. Hashes and
//! digests are those of the elements themselves (an `Arc` hashes as what
//! it points to), the same as a plain vector's.

use std::sync::Arc;

#[derive(Debug, Hash)]
pub(super) struct Shared<T>(Vec<Arc<T>>);

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared(self.0.clone())
    }
    /// A restore: each element the two share already (the same `Arc`) is
    /// left alone, without touching its reference count.
    fn clone_from(&mut self, source: &Self) {
        if self.0.len() != source.0.len() {
            return self.0.clone_from(&source.0);
        }
        for (mine, theirs) in self.0.iter_mut().zip(&source.0) {
            if !Arc::ptr_eq(mine, theirs) {
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
        for e in self.0.iter_mut().filter(|e| picked(e)) {
            change(Arc::make_mut(e));
        }
    }
}

impl<T> FromIterator<T> for Shared<T> {
    fn from_iter<I: IntoIterator<Item = T>>(elements: I) -> Self {
        Shared(elements.into_iter().map(Arc::new).collect())
    }
}

impl<'a, T> IntoIterator for &'a Shared<T> {
    type Item = &'a T;
    type IntoIter = std::iter::Map<std::slice::Iter<'a, Arc<T>>, fn(&Arc<T>) -> &T>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|e| &**e)
    }
}

impl<T> std::ops::Index<usize> for Shared<T> {
    type Output = T;
    #[inline]
    fn index(&self, i: usize) -> &T {
        &self.0[i]
    }
}

impl<T: Clone> std::ops::IndexMut<usize> for Shared<T> {
    #[inline]
    fn index_mut(&mut self, i: usize) -> &mut T {
        Arc::make_mut(&mut self.0[i])
    }
}
