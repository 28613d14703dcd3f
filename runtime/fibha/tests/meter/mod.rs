//! A global allocator that measures a closure: how many allocations its thread makes, and
//! the peak of the bytes the whole process holds above what it held when the measurement
//! began (a decoder may hand work to threads of its own, which allocate and free for it).
//! Shared by the tests that claim something about allocation (`alloc.rs`: none per
//! inference; `images.rs`: a bounded peak while decoding). A test binary installs it with
//! `#[global_allocator] static METER: meter::Meter = meter::Meter;`.
//!
//! Allocation counts are per thread, so tests running meanwhile do not disturb them;
//! measurements are serialised (a lock), and a test that measures a peak must not run
//! beside tests that allocate much.

// A `GlobalAlloc` implementation is an `unsafe impl` by definition: the one exception to the
// workspace's `unsafe_code = "deny"` outside the board crate.
#![allow(unsafe_code, dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

/// What a measured closure allocated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    /// Allocations (and reallocations) made.
    pub allocations: u64,
    /// The most bytes held at once, above what was held when the measurement began.
    pub peak_bytes: u64,
}

thread_local! {
    // Const-initialised and without destructors: reading them never allocates, so the
    // allocator can consult them without recursing.
    static MEASURING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

/// Whether every thread's allocations are counted (see [`measure_process`]).
static COUNT_ALL: AtomicBool = AtomicBool::new(false);
static ALL_ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
/// Bytes the process holds, and the most it held since the last reset.
static HELD: AtomicI64 = AtomicI64::new(0);
static PEAK: AtomicI64 = AtomicI64::new(0);
/// One measurement at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs `f` on this thread and returns what it allocated.
pub fn measure<T>(f: impl FnOnce() -> T) -> (T, Usage) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    ALLOCATIONS.with(|c| c.set(0));
    let start = HELD.load(Ordering::SeqCst);
    PEAK.store(start, Ordering::SeqCst);
    MEASURING.with(|c| c.set(true));
    let value = f();
    MEASURING.with(|c| c.set(false));
    let usage = Usage {
        allocations: ALLOCATIONS.with(Cell::get),
        peak_bytes: (PEAK.load(Ordering::SeqCst) - start).max(0) as u64,
    };
    (value, usage)
}

/// Runs `f` and returns the allocations every thread of the process made meanwhile
/// (threads `f` starts included): only meaningful while nothing else runs.
pub fn measure_process<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    ALL_ALLOCATIONS.store(0, Ordering::SeqCst);
    COUNT_ALL.store(true, Ordering::SeqCst);
    let value = f();
    COUNT_ALL.store(false, Ordering::SeqCst);
    (value, ALL_ALLOCATIONS.load(Ordering::SeqCst))
}

fn record(grown: i64, counted: bool) {
    if counted && MEASURING.with(Cell::get) {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
    }
    if counted && COUNT_ALL.load(Ordering::Relaxed) {
        ALL_ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
    let held = HELD.fetch_add(grown, Ordering::Relaxed) + grown;
    PEAK.fetch_max(held, Ordering::Relaxed);
}

/// The measuring allocator: [`System`] underneath.
pub struct Meter;

// SAFETY: every method only records sizes in atomics and const-initialised thread-locals
// (neither allocates) and forwards its arguments unchanged to `System`, which upholds `GlobalAlloc`'s
// contract.
unsafe impl GlobalAlloc for Meter {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size() as i64, true);
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record(layout.size() as i64, true);
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record(new_size as i64 - layout.size() as i64, true);
        // SAFETY: as above; `ptr` came from this allocator, i.e. from `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        record(-(layout.size() as i64), false);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}
