//! A circuit breaker: after `max_retries` consecutive failures to reach a service, questions
//! are answered `Unavailable` at once for `reset_duration`; then one question is let
//! through (half-open), and its outcome closes the circuit or opens it again.
//!
//! Thread-safe and lock-free (a service may run several threads); callers pass `now`.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// ReadonlyREST's defaults (`circuit_breaker: {max_retries: 10, reset_duration: 10 s}`).
pub const DEFAULT_MAX_RETRIES: u32 = 10;
pub const DEFAULT_RESET_DURATION: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub struct CircuitBreaker {
    max_retries: u32,
    reset_duration: Duration,
    /// Consecutive failures since the last success.
    failures: AtomicU32,
    /// While open: nanoseconds after `epoch` when the next trial may go; 0 when closed.
    open_until: AtomicU64,
    epoch: OnceLock<Instant>,
}

impl Default for CircuitBreaker {
    fn default() -> CircuitBreaker {
        CircuitBreaker::new(DEFAULT_MAX_RETRIES, DEFAULT_RESET_DURATION)
    }
}

impl CircuitBreaker {
    /// `max_retries` 0 is taken as 1 (a breaker that never closes would be no service).
    pub fn new(max_retries: u32, reset_duration: Duration) -> CircuitBreaker {
        CircuitBreaker {
            max_retries: max_retries.max(1),
            reset_duration,
            failures: AtomicU32::new(0),
            open_until: AtomicU64::new(0),
            epoch: OnceLock::new(),
        }
    }

    fn nanos(&self, now: Instant) -> u64 {
        let epoch = *self.epoch.get_or_init(|| now);
        // Counted from 1, so that 0 keeps meaning "closed".
        (now.saturating_duration_since(epoch).as_nanos() as u64).saturating_add(1)
    }

    /// Whether a question may go to the service now. While open, `false` until
    /// `reset_duration` has passed; then `true` for exactly one caller (the trial), which
    /// pushes the deadline on by another `reset_duration` for everyone else.
    pub fn allow(&self, now: Instant) -> bool {
        let until = self.open_until.load(Ordering::Acquire);
        if until == 0 {
            return true;
        }
        let at = self.nanos(now);
        if at < until {
            return false;
        }
        let next = at.saturating_add(self.reset_duration.as_nanos() as u64);
        self.open_until
            .compare_exchange(until, next, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// The service answered (whatever it said about the credentials): the circuit closes.
    pub fn success(&self) {
        self.failures.store(0, Ordering::Release);
        self.open_until.store(0, Ordering::Release);
    }

    /// The service could not be reached or did not answer in time.
    pub fn failure(&self, now: Instant) {
        let failures = self
            .failures
            .fetch_add(1, Ordering::AcqRel)
            .saturating_add(1);
        if failures >= self.max_retries {
            let until = self
                .nanos(now)
                .saturating_add(self.reset_duration.as_nanos() as u64);
            self.open_until.store(until, Ordering::Release);
        }
    }

    /// Whether questions are being refused (for errors and metrics).
    pub fn is_open(&self) -> bool {
        self.open_until.load(Ordering::Acquire) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_max_retries_and_lets_one_trial_through_after_the_reset() {
        let breaker = CircuitBreaker::new(3, Duration::from_secs(10));
        let t0 = Instant::now();
        for _ in 0..2 {
            breaker.failure(t0);
            assert!(breaker.allow(t0), "still closed below max_retries");
        }
        breaker.failure(t0);
        assert!(breaker.is_open());
        assert!(!breaker.allow(t0 + Duration::from_secs(9)));
        let later = t0 + Duration::from_secs(10);
        assert!(breaker.allow(later), "the trial");
        assert!(!breaker.allow(later), "only one trial");
        breaker.failure(later);
        assert!(!breaker.allow(later + Duration::from_secs(9)), "open again");
        let trial = later + Duration::from_secs(20);
        assert!(breaker.allow(trial));
        breaker.success();
        assert!(!breaker.is_open());
        assert!(breaker.allow(trial) && breaker.allow(trial), "closed");
    }

    #[test]
    fn a_success_resets_the_count() {
        let breaker = CircuitBreaker::new(2, Duration::from_secs(1));
        let now = Instant::now();
        breaker.failure(now);
        breaker.success();
        breaker.failure(now);
        assert!(!breaker.is_open());
    }
}
