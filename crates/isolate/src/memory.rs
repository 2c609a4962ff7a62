//! A worker's memory outside the JavaScript heap, capped near the run's `memoryMb`.
//!
//! The sandbox counts the JavaScript heap itself and stops the run cleanly at `memoryMb`. What
//! the worker allocates besides (the transpiler's tree, the lines the parent sends, the values
//! they parse into, the outcome) is Rust memory. This crate makes its `Allocator` the global
//! allocator of every binary that links it (so a binary that links it cannot pick another).
//! Once a worker knows its run's limits, every allocation past the run's [`budget`] is
//! refused, and the worker ends saying [`OUT_OF_MEMORY`], which the parent reports as a
//! `LimitError` naming `memoryMb`. In any other process (the parent) the allocator only reads
//! one flag per allocation.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};

/// The line a worker writes on stderr when it was refused memory, before it aborts.
pub const OUT_OF_MEMORY: &str = "worker: out of memory outside the JavaScript heap";

/// What a run may hold outside its JavaScript heap, on top of what the worker held when the
/// run began: as much again as the heap (a tool result on its way in, its parsed value, the
/// transpiler's tree), and a fixed slack for the worker's own buffers.
pub fn budget(memory_mb: u64) -> usize {
    let heap = usize::try_from(memory_mb.saturating_mul(1 << 20)).unwrap_or(usize::MAX);
    heap.saturating_mul(2).saturating_add(32 << 20)
}

#[global_allocator]
static ALLOCATOR: Allocator = Allocator::new();

/// The system allocator, counting the bytes live once [`count`] is called and refusing those
/// past [`cap`]; once [`zero_freed`] is called, every block is zeroed before it is freed.
struct Allocator {
    counting: AtomicBool,
    zeroing: AtomicBool,
    /// Live bytes allocated since counting began, less those freed since (which may include
    /// blocks from before: it can go below zero).
    live: AtomicIsize,
    /// The most `live` may reach; `isize::MAX` until a run sets it.
    cap: AtomicIsize,
}

impl Allocator {
    const fn new() -> Self {
        Allocator {
            counting: AtomicBool::new(false),
            zeroing: AtomicBool::new(false),
            live: AtomicIsize::new(0),
            cap: AtomicIsize::new(isize::MAX),
        }
    }

    fn grow(&self, bytes: usize) -> bool {
        let bytes = bytes as isize;
        let now = self.live.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if now > self.cap.load(Ordering::Relaxed) {
            self.live.fetch_sub(bytes, Ordering::Relaxed);
            refused();
            return false;
        }
        true
    }

    fn shrink(&self, bytes: usize) {
        self.live.fetch_sub(bytes as isize, Ordering::Relaxed);
    }
}

/// Says why on stderr, once, without allocating; Rust's allocation-failure handler aborts the
/// worker after.
fn refused() {
    static SAID: AtomicBool = AtomicBool::new(false);
    if !SAID.swap(true, Ordering::Relaxed) {
        for part in [OUT_OF_MEMORY, "\n"] {
            // SAFETY: writing a static string to stderr.
            unsafe { libc::write(2, part.as_ptr().cast(), part.len()) };
        }
    }
}

// SAFETY: every method forwards to the system allocator with the same layout; the counting
// only decides whether to forward an allocation at all.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if self.counting.load(Ordering::Relaxed) && !self.grow(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's layout, as GlobalAlloc requires.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if self.counting.load(Ordering::Relaxed) && !self.grow(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if self.counting.load(Ordering::Relaxed) {
            self.shrink(layout.size());
        }
        if self.zeroing.load(Ordering::Relaxed) {
            // SAFETY: the block is ours until it is freed below, all of its size.
            unsafe { ptr.write_bytes(0, layout.size()) };
        }
        // SAFETY: a block this allocator gave out, with its layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if self.zeroing.load(Ordering::Relaxed) {
            // A block moved by the system's realloc would leave its old bytes in freed memory:
            // a new block instead, and the old one zeroed as it is freed.
            // SAFETY: the caller's alignment with a size it promises is valid for it.
            let grown = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
            // SAFETY: as in alloc and dealloc, with the caller's live block.
            unsafe {
                let moved = self.alloc(grown);
                if !moved.is_null() {
                    std::ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size));
                    self.dealloc(ptr, layout);
                }
                return moved;
            }
        }
        let counting = self.counting.load(Ordering::Relaxed);
        if counting && new_size > layout.size() && !self.grow(new_size - layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: a block this allocator gave out, with its layout.
        let moved = unsafe { System.realloc(ptr, layout, new_size) };
        if counting {
            if moved.is_null() && new_size > layout.size() {
                self.shrink(new_size - layout.size());
            } else if !moved.is_null() && new_size < layout.size() {
                self.shrink(layout.size() - new_size);
            }
        }
        moved
    }
}

/// Starts counting (a worker, at its start).
pub(crate) fn count() {
    ALLOCATOR.counting.store(true, Ordering::Relaxed);
}

/// From now on, zeroes every block before it is freed (a worker that serves several runs:
/// nothing one run leaves in freed memory is there for the next).
pub(crate) fn zero_freed() {
    ALLOCATOR.zeroing.store(true, Ordering::Relaxed);
}

/// Lifts the cap (a worker between runs: the next run sets its own).
pub(crate) fn uncap() {
    ALLOCATOR.cap.store(isize::MAX, Ordering::Relaxed);
}

/// Caps what may be allocated from now on at `budget` bytes more than is live now.
pub(crate) fn cap(budget: usize) {
    let live = ALLOCATOR.live.load(Ordering::Relaxed);
    let budget = isize::try_from(budget).unwrap_or(isize::MAX);
    ALLOCATOR
        .cap
        .store(live.saturating_add(budget), Ordering::Relaxed);
}
