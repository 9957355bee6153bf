//! Counting allocations: the binary's global allocator is the system's,
//! with a counter of allocations (and reallocations) that `distlab bench`
//! reads before and after a workload to report allocations per event.
//!
//! The counter is per thread: one process-wide atomic was written by every
//! allocation of every thread, so `check --jobs 2` workers bounced its cache
//! line between cores on each allocation (a third more CPU than two
//! processes doing the same seeds). A bench workload runs on the thread
//! that counts, so its figure is exact.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    /// This thread's allocations. `const`, with no destructor: reading it
    /// never allocates, so the allocator may use it.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

#[inline(always)]
fn counted() {
    ALLOCATIONS.with(|n| n.set(n.get() + 1));
}

/// The system allocator, counting.
pub struct Counting;

// SAFETY: every call is passed to the system allocator unchanged; the
// counter has no effect on memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        counted();
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        counted();
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        counted();
        // SAFETY: the caller's contract, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
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
