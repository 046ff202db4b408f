//! A global allocator that counts heap allocations (and reallocations) across all
//! threads, only while counting is switched on.
//!
//! The timed phases run with counting off, so that contenders that allocate more are
//! not charged for the counter's atomic increments as well; allocation counts come
//! from separate windows of the same workload with counting on.
//!
//! The bench binary installs it:
//! `#[global_allocator] static GLOBAL: Counting = Counting;`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The allocator: [`System`], plus a count while [`Window`]s are open.
pub struct Counting;

static ENABLED: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

#[inline]
fn count() {
    if ENABLED.load(Ordering::Relaxed) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        System.alloc_zeroed(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        System.realloc(ptr, layout, new_size)
    }
}

/// An open counting window: every allocation on any thread counts until
/// [`Window::finish`]. Windows must not overlap.
pub struct Window {
    start: u64,
}

impl Window {
    /// Switches counting on.
    pub fn open() -> Self {
        let start = ALLOCATIONS.load(Ordering::SeqCst);
        ENABLED.store(true, Ordering::SeqCst);
        Window { start }
    }

    /// Switches counting off and returns the allocations made while it was on.
    pub fn finish(self) -> u64 {
        ENABLED.store(false, Ordering::SeqCst);
        ALLOCATIONS.load(Ordering::SeqCst) - self.start
    }
}

/// Whether the running binary has installed [`Counting`] (an allocation made in a
/// window is seen).
pub fn installed() -> bool {
    let window = Window::open();
    drop(std::hint::black_box(Box::new(0u64)));
    window.finish() > 0
}
