//! Counting allocations: the binary's global allocator is mimalloc, with
//! a counter of allocations (and reallocations) that `distlab bench` reads
//! before and after a workload to report allocations per event.
//!
//! Why mimalloc and not the system's (glibc's): with two threads — `check
//! --jobs 2`, `sweep -j 2`, `explore --jobs 2` — glibc's per-thread arenas
//! give memory back and fault it in again, and a snapshot freed on another
//! thread than the one that made it takes that arena's lock. Measured with
//! farm-bench against glibc (same code, 2-core machine): `check --jobs 2`
//! cpu 0.82, `sweep -j 2` 0.90, `explore --jobs 2` on bench-abd-2 0.90, one
//! worker on bench-2pc-9 0.92, `bench --checks` two-phase-commit 0.92 and
//! saga 0.94. Built without transparent huge pages (`no_thp`): with them
//! it was faster still on two threads but small runs held twice the
//! memory (primary-replica's bench 35 MB against 17), which the memory
//! figures are about.
//!
//! Allocations of word alignment or less (nearly all) go to `mi_malloc`
//! and its kin, not to the `_aligned` calls the `mimalloc` crate makes for
//! every layout: every mimalloc block is word-aligned already, and the
//! aligned entry takes its fast path only for blocks up to 1 KiB whose free
//! list happens to be non-empty. Otherwise, unless the size is a power of
//! two, it over-allocates (size plus alignment, from a larger size class).
//! Measured with callgrind on `explore`: about 115 instructions per
//! allocation through it (see the README).
//!
//! The counter is per thread: one process-wide atomic was written by every
//! allocation of every thread, so `check --jobs 2` workers bounced its cache
//! line between cores on each allocation (a third more CPU than two
//! processes doing the same seeds). A bench workload runs on the thread
//! that counts, so its figure is exact.

use libmimalloc_sys as mi;
use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::ffi::c_void;

/// The alignment every mimalloc block has whatever its size: a word (its
/// size classes are whole words; `MI_MAX_ALIGN_SIZE`, 16, holds only for
/// some of them).
const WORD: usize = std::mem::size_of::<usize>();

thread_local! {
    /// This thread's allocations. `const`, with no destructor: reading it
    /// never allocates, so the allocator may use it.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

#[inline(always)]
fn counted() {
    ALLOCATIONS.with(|n| n.set(n.get() + 1));
}

/// mimalloc, counting.
pub struct Counting;

// SAFETY: every call goes to mimalloc: a layout of word alignment or less
// to the plain entry points, whose blocks are all word-aligned (see
// `WORD`), any other to the aligned ones; `mi_free` frees both. The
// counter has no effect on memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        counted();
        // SAFETY: the caller's contract, passed on.
        unsafe {
            if layout.align() <= WORD {
                mi::mi_malloc(layout.size()).cast()
            } else {
                mi::mi_malloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        counted();
        // SAFETY: the caller's contract, passed on.
        unsafe {
            if layout.align() <= WORD {
                mi::mi_zalloc(layout.size()).cast()
            } else {
                mi::mi_zalloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        counted();
        let ptr = ptr.cast::<c_void>();
        // SAFETY: the caller's contract, passed on; the block keeps the
        // layout's alignment either way.
        unsafe {
            if layout.align() <= WORD {
                mi::mi_realloc(ptr, new_size).cast()
            } else {
                mi::mi_realloc_aligned(ptr, new_size, layout.align()).cast()
            }
        }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: the caller's contract: `ptr` came from this allocator.
        unsafe { mi::mi_free(ptr.cast()) }
    }
}

/// Gives back to the system the memory freed so far, so that the next
/// peak measured is the next workload's own.
pub fn give_back_freed() {
    // SAFETY: `mi_collect` only frees mimalloc's own empty pages and
    // segments; every live block stays where it is.
    unsafe { libmimalloc_sys::mi_collect(true) }
}

/// Allocations (and reallocations) so far, on this thread.
pub fn count() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

#[cfg(test)]
mod tests {
    use super::count;

    /// This thread's allocations are counted; another thread's are not
    /// (they would need a shared counter, which parallel workers contend
    /// on).
    #[test]
    fn counts_this_threads_allocations_only() {
        let before = count();
        let mine: Vec<Box<u64>> = (0..1000).map(Box::new).collect();
        assert!(count() - before >= 1000, "own allocations counted");
        let before = count();
        std::thread::spawn(|| {
            let theirs: Vec<Box<u64>> = (0..10_000).map(Box::new).collect();
            std::hint::black_box(theirs);
        })
        .join()
        .expect("the thread finishes");
        assert!(count() - before < 1000, "another thread's allocations counted: {}", count() - before);
        std::hint::black_box(mine);
    }
}
