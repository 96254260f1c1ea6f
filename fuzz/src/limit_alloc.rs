//! A global allocator that counts the heap bytes each thread holds, so that the
//! memory one input takes can be bounded: issue 12 calls an input that needs more
//! than [`LIMIT`] a bug.
//!
//! It is shared, by `#[path]`, between the fuzz targets and the corpus replay test
//! (`tests/fuzz_corpus.rs`), so both hold an input to the same bound. Counting is
//! per thread because the test harness runs tests on several threads at once; the
//! code under test does all its work on the calling thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::{Cell, RefCell};

/// The most heap one input may hold at once, above what was held before it.
pub const LIMIT: usize = 64 << 20;

/// The system allocator, counting. Install it with `#[global_allocator]`.
pub struct Counting;

thread_local! {
    /// Bytes this thread allocated and has not freed (wrapping: a block freed by
    /// another thread than the one that allocated it moves the count of both).
    static HELD: Cell<usize> = const { Cell::new(0) };
    /// `Some(base)` while an input runs: the count when it started.
    static ARMED: Cell<Option<usize>> = const { Cell::new(None) };
    /// The highest count since the input started.
    static PEAK: Cell<usize> = const { Cell::new(0) };
    /// What runs, named in the message when it goes over the limit.
    static LABEL: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Counts `grown` more bytes on this thread; over the limit, aborts the process with
/// a message (returning an error from the allocation could be caught; an abort is a
/// crash every fuzzer and test runner records).
fn grow(grown: usize) {
    let Ok(held) = HELD.try_with(|h| {
        let held = h.get().wrapping_add(grown);
        h.set(held);
        held
    }) else {
        return;
    };
    let _ = PEAK.try_with(|p| p.set(p.get().max(held)));
    if let Ok(Some(base)) = ARMED.try_with(Cell::get)
        && held.wrapping_sub(base) > LIMIT
    {
        // Disarmed first: the message itself allocates.
        ARMED.set(None);
        let label = LABEL.with_borrow(Clone::clone);
        eprintln!(
            "one input held more than {} MiB of heap: {label}",
            LIMIT >> 20
        );
        std::process::abort();
    }
}

fn shrink(shrunk: usize) {
    let _ = HELD.try_with(|h| h.set(h.get().wrapping_sub(shrunk)));
}

// SAFETY: every call is passed to `System` unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let block = unsafe { System.alloc(layout) };
        if !block.is_null() {
            grow(layout.size());
        }
        block
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let block = unsafe { System.alloc_zeroed(layout) };
        if !block.is_null() {
            grow(layout.size());
        }
        block
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(block, layout) };
        shrink(layout.size());
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let moved = unsafe { System.realloc(block, layout, new_size) };
        if !moved.is_null() {
            shrink(layout.size());
            grow(new_size);
        }
        moved
    }
}

/// Runs `f` with this thread's heap bounded to [`LIMIT`] more than it holds now
/// (the process aborts, naming `label`, past it), and returns its result with the
/// peak it reached above the start. Only bounds anything in a binary that
/// installed [`Counting`].
pub fn bounded<R>(label: &str, f: impl FnOnce() -> R) -> (R, usize) {
    // (Left armed by an input that panicked: the label's copy must not count.)
    ARMED.set(None);
    LABEL.with_borrow_mut(|l| label.clone_into(l));
    let base = HELD.get();
    PEAK.set(base);
    ARMED.set(Some(base));
    let result = f();
    ARMED.set(None);
    (result, PEAK.get().wrapping_sub(base))
}
