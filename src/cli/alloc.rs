//! Counting allocations: the binary's global allocator is mimalloc, with
//! a counter of allocations (and reallocations) that `distlab bench` reads
//! before and after a workload to report allocations per event.
//!
//! Why mimalloc and not the system's (glibc's): with two threads — `check
//! --jobs 2`, `sweep -j 2`, `explore --jobs 2` — glibc's per-thread arenas
//! give memory back and fault it in again, and a snapshot freed on another
//! thread than the one that made it takes that arena's lock. Measured with
//! whole-process timings against glibc (same code, 2-core machine): `check --jobs 2`
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
//! allocation through it (see the README). Layouts aligned to 16 bytes
//! (anything holding a `u128`: a node behind its memo, a search's keys, a
//! `HashMap`'s table) take the plain entry too, and the block's address is
//! checked. On 64-bit targets mimalloc rounds every size over 8 bytes to
//! an even number of words and starts each page's blocks at a multiple of
//! 16, so every block over 8 bytes is 16-aligned (mimalloc asserts it); a
//! block that is not — a layout of 8 bytes or less aligned to 16, or
//! another target — is given back for one from the aligned entry.
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
/// size classes are whole words; `MI_MAX_ALIGN_SIZE`, 16, holds for blocks
/// over 8 bytes on 64-bit targets, see [`MAX_ALIGN`]).
const WORD: usize = std::mem::size_of::<usize>();

/// The alignment every block of more than 8 bytes has on 64-bit targets
/// (`MI_MAX_ALIGN_SIZE`: pages start their blocks there, and the size
/// classes past one word are even numbers of words). Layouts aligned to at
/// most this take the plain entry, with each block's address checked.
const MAX_ALIGN: usize = 16;

/// A block from the plain entry `plain` if it has the layout's alignment
/// (every block over 8 bytes, on 64-bit targets: [`MAX_ALIGN`]), else,
/// the plain one given back, from `aligned`.
///
/// # Safety
/// `plain` and `aligned` allocate `layout.size()` bytes from mimalloc.
#[inline(always)]
unsafe fn checked(
    layout: Layout,
    plain: unsafe extern "C" fn(usize) -> *mut c_void,
    aligned: unsafe extern "C" fn(usize, usize) -> *mut c_void,
) -> *mut u8 {
    // SAFETY: the caller's contract; a block given back is mimalloc's own.
    unsafe {
        let p = plain(layout.size());
        if p.is_null() || (p as usize).is_multiple_of(layout.align()) {
            return p.cast();
        }
        mi::mi_free(p);
        aligned(layout.size(), layout.align()).cast()
    }
}

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
// `WORD`); one aligned to at most `MAX_ALIGN` to the plain entry points
// too, its block's address checked and the block exchanged for one from
// the aligned entry if it is not aligned (`checked`); any other to the
// aligned entries. `mi_realloc_aligned` keeps a block only where it is
// aligned. `mi_free` frees them all. The counter has no effect on memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        counted();
        // SAFETY: the caller's contract, passed on.
        unsafe {
            if layout.align() <= WORD {
                mi::mi_malloc(layout.size()).cast()
            } else if layout.align() <= MAX_ALIGN {
                checked(layout, mi::mi_malloc, mi::mi_malloc_aligned)
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
            } else if layout.align() <= MAX_ALIGN {
                checked(layout, mi::mi_zalloc, mi::mi_zalloc_aligned)
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

    /// What the plain entry for 16-aligned layouts counts on: mimalloc's
    /// blocks for sizes that are multiples of 16 sit at multiples of 16,
    /// small and large, fresh and reused (the allocator checks each block
    /// anyway, and falls back to the aligned entry).
    #[test]
    fn blocks_of_sizes_in_sixteens_are_16_aligned() {
        use libmimalloc_sys as mi;
        let mut held = Vec::new();
        for round in 0..3 {
            for size in (16..=4096).step_by(16).chain((4096..=262_144).step_by(4096 + 16 * round)) {
                for _ in 0..4 {
                    // SAFETY: a plain allocation, freed below.
                    let p = unsafe { mi::mi_malloc(size) };
                    assert!(!p.is_null());
                    assert_eq!(p as usize % 16, 0, "a block of {size} bytes at {p:p}");
                    held.push(p);
                }
            }
            // Free every other one, so the next round reuses blocks.
            let mut i = 0;
            held.retain(|&p| {
                i += 1;
                // SAFETY: from `mi_malloc` above, freed once.
                (i % 2 == 0)
                    || unsafe {
                        mi::mi_free(p);
                        false
                    }
            });
        }
        for p in held {
            // SAFETY: from `mi_malloc` above, freed once.
            unsafe { mi::mi_free(p) };
        }
        // And through the allocator, a `u128` box and a vector of them.
        let boxes: Vec<Box<u128>> = (0..1000).map(Box::new).collect();
        assert!(boxes.iter().all(|b| (&**b as *const u128 as usize).is_multiple_of(16)));
    }

    /// Through the allocator itself, 16-aligned layouts of every small
    /// size — 8 bytes or less, whose plain blocks need not be aligned (the
    /// fallback), and sizes not in sixteens (a hash table's) — come back
    /// aligned, zeroed when asked, and reallocate aligned.
    #[test]
    fn layouts_aligned_to_16_come_back_aligned() {
        use super::Counting;
        use std::alloc::{GlobalAlloc, Layout};
        let mut held = Vec::new();
        for size in 1..=200 {
            let layout = Layout::from_size_align(size, 16).expect("a valid layout");
            for zeroed in [false, true] {
                for _ in 0..8 {
                    // SAFETY: a non-zero size; freed below with its layout.
                    let p = unsafe {
                        if zeroed { Counting.alloc_zeroed(layout) } else { Counting.alloc(layout) }
                    };
                    assert!(!p.is_null());
                    assert!((p as usize).is_multiple_of(16), "{size} bytes at {p:p}");
                    if zeroed {
                        // SAFETY: `size` bytes just allocated.
                        assert!(unsafe { std::slice::from_raw_parts(p, size) }.iter().all(|&b| b == 0));
                    }
                    // SAFETY: `p` came from `Counting` with `layout`.
                    let q = unsafe { Counting.realloc(p, layout, size * 3) };
                    assert!((q as usize).is_multiple_of(16), "{size} -> {} bytes at {q:p}", size * 3);
                    held.push((q, Layout::from_size_align(size * 3, 16).expect("a valid layout")));
                }
            }
        }
        for (p, layout) in held {
            // SAFETY: from `Counting` with this layout, freed once.
            unsafe { Counting.dealloc(p, layout) };
        }
    }
}
