//! What decides that a run must stop: its deadline, cancellation by the embedder, and the memory
//! its JavaScript heap holds, counted by an allocator of our own.
//!
//! QuickJS calls the interrupt handler every few thousand bytecode instructions, including inside
//! regular-expression backtracking and long built-in loops. The handler answers "stop" once any
//! reason is recorded; QuickJS then throws an error that JavaScript cannot catch. The first
//! reason recorded wins, so the outcome names what really broke.

use std::alloc::{Layout, alloc, alloc_zeroed, dealloc, realloc};
use std::mem;
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::Instant;

use rquickjs::allocator::Allocator;
use tokio_util::sync::CancellationToken;

use crate::limits::Limit;

/// Why a run stopped before its snippet finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    Limit(Limit),
    Cancelled,
}

const CANCELLED: u8 = u8::MAX;

/// After the memory limit trips, QuickJS still needs a little memory to throw and unwind; the
/// run is already lost, so this slack only keeps the teardown orderly.
const SLACK_AFTER_TRIP: usize = 1 << 20;

/// State shared by the interrupt handler, the allocator, the host functions and the event loop
/// of one run.
pub(crate) struct Guard {
    stop: AtomicU8,
    deadline: Instant,
    /// Time the host paused the deadline for (see [`crate::Pauses`]).
    pauses: Option<crate::Pauses>,
    cancel: CancellationToken,
    memory_limit: usize,
    memory_used: AtomicUsize,
    memory_peak: AtomicUsize,
}

impl Guard {
    pub(crate) fn new(deadline: Instant, memory_limit: usize, cancel: CancellationToken) -> Self {
        Guard {
            stop: AtomicU8::new(0),
            deadline,
            pauses: None,
            cancel,
            memory_limit,
            memory_used: AtomicUsize::new(0),
            memory_peak: AtomicUsize::new(0),
        }
    }

    /// Records why the run must stop, unless a reason is recorded already.
    pub(crate) fn trip(&self, stop: Stop) {
        let code = match stop {
            Stop::Limit(limit) => limit as u8,
            Stop::Cancelled => CANCELLED,
        };
        let _ = self
            .stop
            .compare_exchange(0, code, Ordering::AcqRel, Ordering::Acquire);
    }

    pub(crate) fn stopped(&self) -> Option<Stop> {
        match self.stop.load(Ordering::Acquire) {
            0 => None,
            CANCELLED => Some(Stop::Cancelled),
            code => Limit::ALL
                .into_iter()
                .find(|limit| *limit as u8 == code)
                .map(Stop::Limit),
        }
    }

    /// Checks the clock and the cancellation token, recording a reason when one applies.
    /// This is the interrupt handler's body, so it must stay cheap.
    pub(crate) fn should_stop(&self) -> bool {
        if self.stop.load(Ordering::Relaxed) != 0 {
            return true;
        }
        if self.cancel.is_cancelled() {
            self.trip(Stop::Cancelled);
            return true;
        }
        if Instant::now() >= self.deadline && Instant::now() >= self.deadline() {
            self.trip(Stop::Limit(Limit::Timeout));
            return true;
        }
        false
    }

    /// The deadline, moved by the time the host paused it.
    pub(crate) fn deadline(&self) -> Instant {
        match &self.pauses {
            Some(pauses) => self.deadline + pauses.paused(),
            None => self.deadline,
        }
    }

    /// Whether the deadline stands still now.
    pub(crate) fn paused(&self) -> bool {
        self.pauses.as_ref().is_some_and(crate::Pauses::is_paused)
    }

    /// Lets the host pause the deadline through `pauses`.
    pub(crate) fn with_pauses(mut self, pauses: Option<crate::Pauses>) -> Self {
        self.pauses = pauses;
        self
    }

    pub(crate) fn cancel_token(&self) -> &CancellationToken {
        &self.cancel
    }

    pub(crate) fn memory_peak(&self) -> usize {
        self.memory_peak.load(Ordering::Relaxed)
    }

    /// Accounts for `bytes` more, or refuses them (and trips the memory limit).
    fn reserve(&self, bytes: usize) -> bool {
        let limit = if self.stop.load(Ordering::Relaxed) == Limit::Memory as u8 {
            self.memory_limit.saturating_add(SLACK_AFTER_TRIP)
        } else {
            self.memory_limit
        };
        let used = self.memory_used.load(Ordering::Relaxed);
        let Some(after) = used.checked_add(bytes).filter(|after| *after <= limit) else {
            self.trip(Stop::Limit(Limit::Memory));
            return false;
        };
        // One runtime is only ever used by one thread at a time: no lost updates.
        self.memory_used.store(after, Ordering::Relaxed);
        if after > self.memory_peak.load(Ordering::Relaxed) {
            self.memory_peak.store(after, Ordering::Relaxed);
        }
        true
    }

    fn release(&self, bytes: usize) {
        self.memory_used.fetch_sub(bytes, Ordering::Relaxed);
    }
}

/// The allocator QuickJS uses for one runtime: the system allocator, with every byte counted
/// against the run's memory limit. Each block carries its size in a header, as QuickJS needs
/// `usable_size`.
pub(crate) struct CountingAllocator {
    pub(crate) guard: Arc<Guard>,
}

const ALIGN: usize = mem::align_of::<u64>();
const HEADER: usize = if mem::size_of::<usize>() > ALIGN {
    mem::size_of::<usize>()
} else {
    ALIGN
};

fn layout_for(size: usize) -> Option<Layout> {
    let total = size.checked_next_multiple_of(ALIGN)?.checked_add(HEADER)?;
    Layout::from_size_align(total, ALIGN).ok()
}

/// # Safety
/// `block` must come from `alloc`/`alloc_zeroed` with `layout_for(size)`.
unsafe fn finish(block: *mut u8, size: usize) -> *mut u8 {
    if block.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: the block is at least HEADER bytes and aligned for usize.
    unsafe {
        block.cast::<usize>().write(size);
        block.add(HEADER)
    }
}

/// # Safety
/// `user` must be a pointer returned by this allocator and not yet freed.
unsafe fn header(user: *mut u8) -> (*mut u8, usize) {
    // SAFETY: every user pointer sits HEADER bytes after the start of its block.
    unsafe {
        let block = user.sub(HEADER);
        (block, block.cast::<usize>().read())
    }
}

unsafe impl Allocator for CountingAllocator {
    fn alloc(&mut self, size: usize) -> *mut u8 {
        let Some(layout) = layout_for(size) else {
            return ptr::null_mut();
        };
        if !self.guard.reserve(layout.size()) {
            return ptr::null_mut();
        }
        // SAFETY: the layout has a non-zero size (it includes the header).
        let user = unsafe { finish(alloc(layout), size) };
        if user.is_null() {
            self.guard.release(layout.size());
        }
        user
    }

    fn calloc(&mut self, count: usize, size: usize) -> *mut u8 {
        let Some(size) = count.checked_mul(size) else {
            return ptr::null_mut();
        };
        let Some(layout) = layout_for(size) else {
            return ptr::null_mut();
        };
        if !self.guard.reserve(layout.size()) {
            return ptr::null_mut();
        }
        // SAFETY: as in `alloc`.
        let user = unsafe { finish(alloc_zeroed(layout), size) };
        if user.is_null() {
            self.guard.release(layout.size());
        }
        user
    }

    unsafe fn dealloc(&mut self, user: *mut u8) {
        if user.is_null() {
            return;
        }
        // SAFETY: the caller passes a live pointer from this allocator.
        unsafe {
            let (block, size) = header(user);
            let layout = layout_for(size).expect("the block was allocated with this layout");
            self.guard.release(layout.size());
            dealloc(block, layout);
        }
    }

    unsafe fn realloc(&mut self, user: *mut u8, new_size: usize) -> *mut u8 {
        if user.is_null() {
            return self.alloc(new_size);
        }
        if new_size == 0 {
            // SAFETY: the caller passes a live pointer from this allocator.
            unsafe { self.dealloc(user) };
            return ptr::null_mut();
        }
        let Some(new_layout) = layout_for(new_size) else {
            return ptr::null_mut();
        };
        // SAFETY: the caller passes a live pointer from this allocator.
        unsafe {
            let (block, old_size) = header(user);
            let old_layout =
                layout_for(old_size).expect("the block was allocated with this layout");
            let grow = new_layout.size().saturating_sub(old_layout.size());
            if grow > 0 && !self.guard.reserve(grow) {
                return ptr::null_mut();
            }
            let moved = realloc(block, old_layout, new_layout.size());
            if moved.is_null() {
                self.guard.release(grow);
                return ptr::null_mut();
            }
            let shrink = old_layout.size().saturating_sub(new_layout.size());
            self.guard.release(shrink);
            finish(moved, new_size)
        }
    }

    unsafe fn usable_size(user: *mut u8) -> usize {
        // SAFETY: the caller passes a live pointer from this allocator.
        unsafe { header(user).1 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn guard(limit: usize) -> Arc<Guard> {
        Arc::new(Guard::new(
            Instant::now() + Duration::from_secs(60),
            limit,
            CancellationToken::new(),
        ))
    }

    #[test]
    fn the_first_reason_wins() {
        let guard = guard(1 << 20);
        assert_eq!(guard.stopped(), None);
        guard.trip(Stop::Limit(Limit::ToolCalls));
        guard.trip(Stop::Cancelled);
        assert_eq!(guard.stopped(), Some(Stop::Limit(Limit::ToolCalls)));
        assert!(guard.should_stop());
    }

    #[test]
    fn cancellation_and_deadline_are_noticed() {
        let cancel = CancellationToken::new();
        let guard = Guard::new(Instant::now() + Duration::from_secs(60), 1, cancel.clone());
        assert!(!guard.should_stop());
        cancel.cancel();
        assert!(guard.should_stop());
        assert_eq!(guard.stopped(), Some(Stop::Cancelled));

        let late = Guard::new(Instant::now(), 1, CancellationToken::new());
        assert!(late.should_stop());
        assert_eq!(late.stopped(), Some(Stop::Limit(Limit::Timeout)));
    }

    #[test]
    fn the_allocator_counts_refuses_and_releases() {
        let guard = guard(4096);
        let mut allocator = CountingAllocator {
            guard: guard.clone(),
        };
        let a = allocator.alloc(1000);
        assert!(!a.is_null());
        assert_eq!(unsafe { CountingAllocator::usable_size(a) }, 1000);
        let used = guard.memory_used.load(Ordering::Relaxed);
        assert!((1000..1100).contains(&used), "{used}");

        assert!(allocator.alloc(8000).is_null(), "over the limit");
        assert_eq!(guard.stopped(), Some(Stop::Limit(Limit::Memory)));

        let b = unsafe { allocator.realloc(a, 2000) };
        assert!(!b.is_null());
        assert_eq!(unsafe { CountingAllocator::usable_size(b) }, 2000);
        let c = allocator.calloc(10, 10);
        assert!(
            unsafe { std::slice::from_raw_parts(c, 100) }
                .iter()
                .all(|b| *b == 0)
        );
        unsafe {
            allocator.dealloc(b);
            allocator.dealloc(c);
        }
        assert_eq!(guard.memory_used.load(Ordering::Relaxed), 0);
        assert!(guard.memory_peak() >= 2000);
        assert!(
            allocator.calloc(usize::MAX, 2).is_null(),
            "overflow is refused, not a panic"
        );
    }
}
