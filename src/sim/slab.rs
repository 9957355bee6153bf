//! The queue's slab of pending events, whose copies share what did not
//! change.
//!
//! The engine reads and writes the slots of a flat vector, as it would a
//! `Vec`. A copy of the slab — a snapshot — keeps its slots in shared
//! chunks of [`CHUNK`] slots instead, and the live slab remembers the
//! chunks of the snapshot it was last restored from (its *base*) and which
//! of its chunks it has written since (every write goes through
//! `IndexMut` or `push`, which mark the chunk). So:
//!
//! - a snapshot shares each chunk not written since the restore with the
//!   snapshot restored (a state `distlab explore` expands is its parent's
//!   snapshot and one move, which writes a slot or two: its snapshot
//!   shares the other chunks with its parent's);
//! - a restore copies only the chunks that differ: those written since,
//!   and those the snapshot does not share with the base.
//!
//! A run that never snapshots pays one bit set per write. The tracking
//! relies on every change to a slot going through `&mut`: the events in
//! the slots have no interior mutability.
//!
//! A snapshot taken without a restore before it (the TUI's tape, taken as
//! the run goes) shares nothing the run wrote since its last restore: the
//! base moves only on a restore.

use std::ops::{Index, IndexMut};
use std::sync::Arc;

/// Slots per shared chunk. Four, not eight: a move writes a slot or two,
/// so a snapshot copies a chunk or two, and a smaller chunk copies less
/// (on bench-2pc-9, 6.5% less memory per explored state than eight, and
/// 0.75% fewer instructions; a run's cost is the same).
const CHUNK: usize = 4;

#[derive(Debug)]
pub(super) struct Slab<T> {
    /// The slots, as the engine uses them. Empty in a copy.
    slots: Vec<Option<T>>,
    /// Two roles. A copy's slots, in chunks, every chunk full but the
    /// last. The live slab's *base*: the chunks of the snapshot it was last
    /// restored from (empty before the first restore), which each of its
    /// unwritten chunks still equals.
    chunks: Vec<Arc<[Option<T>]>>,
    /// Of the live slab: the chunks written since its restore. Chunk `c`
    /// is bit `c % 64`, so past 64 chunks (a slab of more than 256 slots)
    /// a write to chunk `c` marks chunks `c ± 64k` written too: more is
    /// copied, never less.
    dirty: u64,
    /// A copy (a snapshot's), whose slots are in `chunks` only.
    copy: bool,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab { slots: Vec::new(), chunks: Vec::new(), dirty: 0, copy: false }
    }
}

impl<T> Slab<T> {
    pub(super) fn len(&self) -> usize {
        debug_assert!(!self.copy, "a snapshot's slab is only restored");
        self.slots.len()
    }

    pub(super) fn iter(&self) -> std::slice::Iter<'_, Option<T>> {
        debug_assert!(!self.copy, "a snapshot's slab is only restored");
        self.slots.iter()
    }

    pub(super) fn push(&mut self, slot: Option<T>) {
        self.written(self.slots.len());
        self.slots.push(slot);
    }

    /// Marks slot `i`'s chunk written.
    #[inline(always)]
    fn written(&mut self, i: usize) {
        self.dirty |= 1u64.rotate_left((i / CHUNK) as u32);
    }

    /// Whether chunk `c` has not been written since the restore: then it
    /// holds what the base's chunk `c` does, if the base has one.
    fn unwritten(&self, c: usize) -> bool {
        self.dirty & 1u64.rotate_left(c as u32) == 0
    }
}

impl<T> Index<usize> for Slab<T> {
    type Output = Option<T>;
    #[inline(always)]
    fn index(&self, i: usize) -> &Option<T> {
        debug_assert!(!self.copy, "a snapshot's slab is only restored");
        &self.slots[i]
    }
}

impl<T> IndexMut<usize> for Slab<T> {
    #[inline(always)]
    fn index_mut(&mut self, i: usize) -> &mut Option<T> {
        self.written(i);
        &mut self.slots[i]
    }
}

impl<T: Clone> Clone for Slab<T> {
    /// A copy: each chunk unwritten since the restore is the base's,
    /// shared; the others are copied.
    fn clone(&self) -> Self {
        if self.copy {
            return Slab { slots: Vec::new(), chunks: self.chunks.clone(), dirty: 0, copy: true };
        }
        let chunks = self
            .slots
            .chunks(CHUNK)
            .enumerate()
            .map(|(c, part)| match self.chunks.get(c) {
                Some(base) if self.unwritten(c) && base.len() == part.len() => base.clone(),
                _ => Arc::from(part),
            })
            .collect();
        Slab { slots: Vec::new(), chunks, dirty: 0, copy: true }
    }

    /// A restore: only the chunks written since the last restore, or not
    /// shared with the base, are copied into the slots.
    fn clone_from(&mut self, source: &Self) {
        debug_assert!(!self.copy, "a restore is into the live slab");
        if !source.copy {
            self.slots.clone_from(&source.slots);
            self.chunks.clear();
            self.dirty = 0;
            return;
        }
        debug_assert!(
            source.chunks.iter().rev().skip(1).all(|c| c.len() == CHUNK),
            "every chunk of a copy is full but the last"
        );
        let len = source.chunks.iter().map(|c| c.len()).sum();
        self.slots.truncate(len);
        for (c, chunk) in source.chunks.iter().enumerate() {
            let start = c * CHUNK;
            let have = self.slots.len().saturating_sub(start).min(chunk.len());
            let based = self.chunks.get(c).is_some_and(|base| Arc::ptr_eq(base, chunk));
            if !(based && have == chunk.len() && self.unwritten(c)) {
                self.slots[start..start + have].clone_from_slice(&chunk[..have]);
                self.slots.extend_from_slice(&chunk[have..]);
            }
            // The new base (a chunk already in it is not cloned again: its
            // reference count is an atomic).
            if !based {
                match self.chunks.get_mut(c) {
                    Some(base) => *base = chunk.clone(),
                    None => self.chunks.push(chunk.clone()),
                }
            }
        }
        self.chunks.truncate(source.chunks.len());
        self.dirty = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BITS: usize = u64::BITS as usize;

    fn live(slab: &Slab<u32>) -> Vec<Option<u32>> {
        slab.iter().copied().collect()
    }

    #[test]
    fn a_restore_brings_back_every_slot_whatever_was_written_since() {
        let mut slab = Slab::default();
        for i in 0..20 {
            slab.push(Some(i));
        }
        let before = live(&slab);
        let snap = slab.clone();
        slab[3] = None;
        slab[17] = Some(99);
        slab.push(Some(100));
        let after = live(&slab);
        let later = slab.clone();
        slab.clone_from(&snap);
        assert_eq!(live(&slab), before);
        // Written after a restore: the chunk is copied again.
        slab[9] = Some(7);
        slab.clone_from(&snap);
        assert_eq!(live(&slab), before);
        slab.clone_from(&later);
        assert_eq!(live(&slab), after);
        slab.clone_from(&snap);
        assert_eq!(live(&slab), before);
        // A snapshot of a snapshot, and a restore from a live slab.
        let copy = snap.clone();
        slab.clone_from(&later);
        slab.clone_from(&copy);
        assert_eq!(live(&slab), before);
        let mut other = Slab::default();
        other.clone_from(&slab);
        assert_eq!(live(&other), before);
    }

    #[test]
    fn a_snapshot_shares_the_chunks_not_written_since_the_restore() {
        let mut slab = Slab::default();
        for i in 0..3 * CHUNK as u32 {
            slab.push(Some(i));
        }
        let parent = slab.clone();
        slab.clone_from(&parent);
        slab[CHUNK + 2] = Some(0);
        let child = slab.clone();
        let shared: Vec<bool> =
            parent.chunks.iter().zip(&child.chunks).map(|(a, b)| Arc::ptr_eq(a, b)).collect();
        assert_eq!(shared, [true, false, true]);
        // Growing writes the last chunk, or makes a new one.
        slab.clone_from(&parent);
        slab.push(Some(3 * CHUNK as u32));
        let grown = slab.clone();
        assert!(Arc::ptr_eq(&parent.chunks[2], &grown.chunks[2]));
        assert_eq!(grown.chunks.len(), 4);
        slab.clone_from(&grown);
        slab.push(Some(3 * CHUNK as u32 + 1));
        let grown_again = slab.clone();
        assert!(!Arc::ptr_eq(&grown.chunks[3], &grown_again.chunks[3]));
        assert_eq!(grown_again.chunks[3].len(), 2);
    }

    #[test]
    fn chunks_past_64_share_a_bit_with_an_earlier_one() {
        let mut slab = Slab::default();
        let n = (BITS + 2) * CHUNK;
        for i in 0..n as u32 {
            slab.push(Some(i));
        }
        let snap = slab.clone();
        slab.clone_from(&snap);
        slab[n - 1] = None;
        let before = live(&slab);
        slab.clone_from(&snap);
        assert_eq!(slab[n - 1], Some(n as u32 - 1));
        slab[n - 1] = None;
        assert_eq!(live(&slab), before);
        // A write to chunk 65 is one to chunk 1 too, so both are copied.
        slab.clone_from(&snap);
        slab[CHUNK] = None;
        slab[(BITS + 1) * CHUNK] = None;
        slab.clone_from(&snap);
        assert_eq!(slab[CHUNK], Some(CHUNK as u32));
        assert_eq!(slab[(BITS + 1) * CHUNK], Some(((BITS + 1) * CHUNK) as u32));
    }
}
