//! Fixed-bucket latency histograms, 100 µs to 10 s.
//!
//! Each worker counts observations per bucket (not cumulatively: one store per
//! observation); the scrape sums workers and accumulates, as Prometheus' `le` buckets
//! require. Bounds are whole nanoseconds so finding a bucket compares integers.

use super::slot::{self, Slot};
use std::time::Duration;

/// Upper bounds (inclusive, Prometheus `le`) of the finite buckets, in nanoseconds.
const BOUNDS_NANOS: [u64; 16] = [
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
];

/// Finite buckets plus the `+Inf` one.
pub(crate) const BUCKET_COUNT: usize = BOUNDS_NANOS.len() + 1;

/// The bucket an observation falls in: the first whose bound it does not exceed, or the
/// last (`+Inf`) one.
pub(crate) fn bucket_of(nanos: u64) -> usize {
    BOUNDS_NANOS.partition_point(|&bound| bound < nanos)
}

/// The `le` label of bucket `index`.
pub(crate) fn le_label(index: usize) -> String {
    match BOUNDS_NANOS.get(index) {
        Some(&nanos) => (nanos as f64 / 1e9).to_string(),
        None => "+Inf".to_string(),
    }
}

/// One worker's histogram.
#[derive(Debug)]
pub(crate) struct Histogram {
    buckets: Box<[Slot]>,
    sum_nanos: Slot,
}

impl Histogram {
    pub(crate) fn new() -> Histogram {
        Histogram {
            buckets: slot::zeroed(BUCKET_COUNT),
            sum_nanos: Slot::default(),
        }
    }

    pub(crate) fn observe(&self, duration: Duration) {
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        self.buckets[bucket_of(nanos)].add(1);
        self.sum_nanos.add(nanos);
    }

    /// Adds this worker's counts to `total`.
    pub(crate) fn add_to(&self, total: &mut HistogramTotal) {
        for (sum, bucket) in total.buckets.iter_mut().zip(self.buckets.iter()) {
            *sum += bucket.get();
        }
        total.sum_nanos = total.sum_nanos.wrapping_add(self.sum_nanos.get());
    }
}

/// Histogram counts summed over workers, per bucket (not yet cumulative).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct HistogramTotal {
    pub(crate) buckets: [u64; BUCKET_COUNT],
    pub(crate) sum_nanos: u64,
}

impl HistogramTotal {
    pub(crate) fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// The cumulative counts, one per `le` bucket, the last one equal to [`Self::count`].
    pub(crate) fn cumulative(&self) -> [u64; BUCKET_COUNT] {
        let mut running = 0;
        self.buckets.map(|count| {
            running += count;
            running
        })
    }
}
