//! When each request is due: request `i` at `start + i / rate` (wrk2's constant rate).
//!
//! Times are nanoseconds since the start of the window. No IO and no clock here: the event
//! loop asks how many requests are due by now and when the next one is.

/// Nanoseconds in a second.
pub const NANOS_PER_SEC: u64 = 1_000_000_000;

/// A constant-rate schedule over a window of `duration_ns`.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    rate: f64,
    total: u64,
}

impl Schedule {
    /// `rate` requests per second (positive) for `duration_ns`.
    pub fn new(rate: f64, duration_ns: u64) -> Schedule {
        let mut schedule = Schedule { rate, total: 0 };
        // Every request due strictly inside the window.
        schedule.total = if duration_ns == 0 {
            0
        } else {
            schedule.due_by_unbounded(duration_ns - 1)
        };
        schedule
    }

    /// Requests due in the window.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// When request `i` is due.
    pub fn due_ns(&self, i: u64) -> u64 {
        // f64 holds integers exactly up to 2^53 ns (104 days): exact for any window here.
        (i as f64 * NANOS_PER_SEC as f64 / self.rate).round() as u64
    }

    /// How many requests are due at or before `elapsed_ns`, at most [`Schedule::total`].
    pub fn due_by(&self, elapsed_ns: u64) -> u64 {
        self.due_by_unbounded(elapsed_ns).min(self.total)
    }

    fn due_by_unbounded(&self, elapsed_ns: u64) -> u64 {
        // The estimate can be one off either way after rounding in `due_ns`; settle it
        // against `due_ns` so that the two always agree.
        let mut n = (elapsed_ns as f64 * self.rate / NANOS_PER_SEC as f64).floor() as u64 + 1;
        while n > 0 && self.due_ns(n - 1) > elapsed_ns {
            n -= 1;
        }
        while self.due_ns(n) <= elapsed_ns {
            n += 1;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn due_times_are_evenly_spaced_from_zero() {
        let s = Schedule::new(1000.0, NANOS_PER_SEC);
        assert_eq!(s.due_ns(0), 0);
        assert_eq!(s.due_ns(1), MS);
        assert_eq!(s.due_ns(999), 999 * MS);
        assert_eq!(s.total(), 1000);
    }

    #[test]
    fn due_by_counts_requests_due_at_or_before() {
        let s = Schedule::new(1000.0, NANOS_PER_SEC);
        assert_eq!(s.due_by(0), 1);
        assert_eq!(s.due_by(MS - 1), 1);
        assert_eq!(s.due_by(MS), 2);
        assert_eq!(s.due_by(10 * MS + 1), 11);
        // Capped at the window's requests.
        assert_eq!(s.due_by(5 * NANOS_PER_SEC), 1000);
    }

    #[test]
    fn fractional_rates_agree_with_due_ns() {
        for rate in [0.5, 3.0, 7.3, 999.9, 33_333.3, 123_456.0] {
            let s = Schedule::new(rate, 2 * NANOS_PER_SEC);
            for elapsed in (0..2 * NANOS_PER_SEC).step_by(7_919_113) {
                let n = s.due_by(elapsed);
                if n > 0 {
                    assert!(s.due_ns(n - 1) <= elapsed, "rate {rate} at {elapsed}");
                }
                if n < s.total() {
                    assert!(s.due_ns(n) > elapsed, "rate {rate} at {elapsed}");
                }
            }
            let expected = (rate * 2.0).ceil() as u64;
            assert_eq!(s.total(), expected, "rate {rate}");
        }
    }

    #[test]
    fn an_empty_window_schedules_nothing() {
        assert_eq!(Schedule::new(1000.0, 0).total(), 0);
        assert_eq!(Schedule::new(1000.0, 0).due_by(NANOS_PER_SEC), 0);
    }
}
