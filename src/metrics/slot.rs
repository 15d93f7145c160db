//! One number written by a single worker thread and read by the scrape thread.
//!
//! The writer does a relaxed load and store instead of an atomic read-modify-write: with one
//! writer nothing can be lost, and a plain store costs no locked instruction on the hot
//! path. The reader may see a value a moment old, which a scrape tolerates.

use std::sync::atomic::{AtomicU64, Ordering};

/// A `u64` owned by one writer thread: a counter (`add`) or a gauge (`set`).
#[derive(Debug, Default)]
pub(crate) struct Slot(AtomicU64);

impl Slot {
    pub(crate) fn new(value: u64) -> Slot {
        Slot(AtomicU64::new(value))
    }

    /// Only the owning worker calls this; a second writer would lose increments.
    pub(crate) fn add(&self, amount: u64) {
        self.set(self.get().wrapping_add(amount));
    }

    pub(crate) fn set(&self, value: u64) {
        self.0.store(value, Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// `count` slots at zero, allocated once when a worker's metrics are built.
pub(crate) fn zeroed(count: usize) -> Box<[Slot]> {
    (0..count).map(|_| Slot::default()).collect()
}
