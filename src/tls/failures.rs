//! Handshake failures: every one counted, logged at most once per client address per minute.
//!
//! A scanner or a misconfigured client retrying in a loop must not flood the log, and a flood
//! of distinct addresses must not grow memory: at most `MAX_TRACKED_ADDRESSES` are remembered.
//! When the table is full, expired entries are swept (at most once per `SWEEP_INTERVAL`, so a
//! flood does not pay a full scan per failure); if it is still full, failures from new
//! addresses are counted but not logged until room frees up. Shared by all workers; the
//! lock is taken only on a failed handshake, never on the request path.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// One log line per client address per this long.
pub const LOG_INTERVAL: Duration = Duration::from_secs(60);
/// Addresses remembered at once.
pub const MAX_TRACKED_ADDRESSES: usize = 10_000;
/// A full table is swept for expired entries at most this often.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// Failed TLS handshakes, counted and rate-limited in the log.
pub struct HandshakeFailures {
    total: AtomicU64,
    limit: usize,
    table: Mutex<Table>,
}

struct Table {
    last_logged: HashMap<IpAddr, Instant>,
    last_sweep: Option<Instant>,
}

impl Default for HandshakeFailures {
    fn default() -> Self {
        HandshakeFailures::new()
    }
}

impl HandshakeFailures {
    pub fn new() -> HandshakeFailures {
        HandshakeFailures::with_limit(MAX_TRACKED_ADDRESSES)
    }

    fn with_limit(limit: usize) -> HandshakeFailures {
        HandshakeFailures {
            total: AtomicU64::new(0),
            limit,
            table: Mutex::new(Table {
                last_logged: HashMap::new(),
                last_sweep: None,
            }),
        }
    }

    /// Counts a failed handshake from `peer` and logs it unless that address was logged
    /// within the last minute.
    pub fn record(&self, peer: IpAddr, reason: &str) {
        self.record_at(peer, reason, Instant::now());
    }

    /// `record` with the clock passed in; returns whether the failure was logged.
    pub fn record_at(&self, peer: IpAddr, reason: &str, now: Instant) -> bool {
        self.total.fetch_add(1, Ordering::Relaxed);
        let log = self.should_log(peer, now);
        if log {
            tracing::warn!(
                %peer,
                reason,
                "TLS handshake failed (more failures from this address within a minute are counted, not logged)"
            );
        }
        log
    }

    /// Failed handshakes since start.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    fn should_log(&self, peer: IpAddr, now: Instant) -> bool {
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        let expired = |last: Instant| now.saturating_duration_since(last) >= LOG_INTERVAL;
        if let Some(last) = table.last_logged.get_mut(&peer) {
            if !expired(*last) {
                return false;
            }
            *last = now;
            return true;
        }
        if table.last_logged.len() >= self.limit {
            let swept_recently = table
                .last_sweep
                .is_some_and(|at| now.saturating_duration_since(at) < SWEEP_INTERVAL);
            if swept_recently {
                return false;
            }
            table.last_sweep = Some(now);
            table.last_logged.retain(|_, last| !expired(*last));
            if table.last_logged.len() >= self.limit {
                return false;
            }
        }
        table.last_logged.insert(peer, now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ip(n: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(n))
    }

    #[test]
    fn once_per_address_per_minute() {
        let failures = HandshakeFailures::new();
        let t0 = Instant::now();
        assert!(failures.record_at(ip(1), "bad certificate", t0));
        assert!(!failures.record_at(ip(1), "bad certificate", t0 + Duration::from_secs(59)));
        assert!(failures.record_at(ip(2), "no shared cipher", t0 + Duration::from_secs(59)));
        assert!(failures.record_at(ip(1), "again", t0 + Duration::from_secs(60)));
        assert!(!failures.record_at(ip(1), "again", t0 + Duration::from_secs(119)));
        assert_eq!(failures.total(), 5);
    }

    #[test]
    fn a_full_table_sweeps_expired_entries_then_stops_logging_new_addresses() {
        let failures = HandshakeFailures::with_limit(3);
        let t0 = Instant::now();
        for n in 0..3 {
            assert!(failures.record_at(ip(n), "x", t0));
        }
        // Full, nothing expired: a new address is counted, not logged; known ones as before.
        assert!(!failures.record_at(ip(10), "x", t0 + Duration::from_secs(30)));
        assert!(!failures.record_at(ip(0), "x", t0 + Duration::from_secs(30)));
        // Within the sweep interval no second sweep, even though entries have now expired.
        assert!(!failures.record_at(ip(11), "x", t0 + Duration::from_millis(30_500)));
        // Later: the expired entries are swept and the new address is logged.
        assert!(failures.record_at(ip(12), "x", t0 + Duration::from_secs(61)));
        assert_eq!(failures.table.lock().unwrap().last_logged.len(), 1);
        assert_eq!(failures.total(), 7);
    }

    #[test]
    fn the_default_limit_holds() {
        let failures = HandshakeFailures::new();
        let t0 = Instant::now();
        let limit = MAX_TRACKED_ADDRESSES as u32;
        for n in 0..limit {
            assert!(failures.record_at(ip(n), "x", t0));
        }
        assert!(!failures.record_at(ip(limit), "x", t0));
        assert_eq!(
            failures.table.lock().unwrap().last_logged.len(),
            MAX_TRACKED_ADDRESSES
        );
        assert_eq!(failures.total(), u64::from(limit) + 1);
    }

    #[test]
    fn shared_between_threads() {
        let failures = std::sync::Arc::new(HandshakeFailures::new());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let failures = failures.clone();
                std::thread::spawn(move || {
                    for n in 0..100 {
                        failures.record(ip(t * 1000 + n % 10), "x");
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(failures.total(), 400);
    }
}
