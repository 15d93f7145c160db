//! Failure limits with exponential back-off, per client address and per username.
//!
//! Owns: [`FailureLimiter`] (one per worker thread, no locks) and its settings.
//!
//! Must not: do IO, read clocks (the caller passes `now`), or gate anything but new
//! expensive hash computations. The caller consults it only after a cache miss:
//!
//! ```text
//! cache hit                      -> verdict, limiter not asked (an attacked user
//!                                   whose credentials are cached keeps working)
//! miss, cache.matched_before()   -> refresh on the pool, limiter not asked
//! miss otherwise                 -> limiter.check() -> Err: deny (429 + Retry-After)
//!                                                   -> Ok: pool; on a computed
//!                                   failure (not a joined one) record_failure()
//! ```
//!
//! Semantics of one scope (an address or a username), with the default numbers:
//! - Failures count in a window that opens with the first failure and lasts
//!   `window` (60 s). The `max`-th failure inside it (20 per address, 50 per user)
//!   blocks the scope for `initial_backoff` (5 s).
//! - Once blocked, every further failure before a quiet window blocks again for
//!   twice as long as the last time, up to `max_backoff` (15 min).
//! - A quiet window (`window` without failures after the last block ended) forgets
//!   the scope entirely.
//! - Failures reported while the scope is blocked (computations admitted just
//!   before the block) are ignored: they are not new guesses.
//!
//! Successes are not recorded on purpose. Resetting a user's count on success
//! would let the owner's periodic cache refresh (every TTL) hand an attacker a
//! fresh budget; resetting an address would let one valid account spray others.
//! The window forgets old failures anyway, and known-good credentials bypass the
//! limiter through `CredentialCache::matched_before`.
//!
//! Limits are per core: with N workers, an attacker whose connections spread over
//! all of them gets up to N times the budget. That keeps to rule 3 (nothing shared
//! per request) and still caps the CPU an attacker burns per core.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Failed expensive checks per address per window. A misconfigured client
/// resending one stale password costs one hash per negative-cache TTL (6 per
/// minute per core at 10 s), so even three such clients behind one address stay
/// below it; 20 unix-crypt checks are ~0.4 s of one core per minute.
pub const DEFAULT_MAX_FAILURES_PER_ADDRESS: u32 = 20;
/// Higher than per address: one service account (`logstash`) is often shared by
/// many hosts, and a stale password rollout fails on all of them at once.
pub const DEFAULT_MAX_FAILURES_PER_USER: u32 = 50;
pub const DEFAULT_FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Short enough that a person who fat-fingered a password 20 times is back soon;
/// the doubling handles clients that keep going (5 s .. 15 min in 8 steps).
pub const DEFAULT_INITIAL_BACKOFF: Duration = Duration::from_secs(5);
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(15 * 60);
/// Tracked scopes per core and kind (0 tracks nothing, which disables that limit);
/// a tally is under 100 bytes in the table.
pub const DEFAULT_MAX_TRACKED: usize = 10_000;

/// Used when `now + duration` overflows `Instant`: far beyond any useful block.
const FAR_FUTURE: Duration = Duration::from_secs(365 * 24 * 60 * 60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleSettings {
    pub window: Duration,
    /// 0 disables the per-address limit.
    pub max_failures_per_address: u32,
    /// 0 disables the per-user limit.
    pub max_failures_per_user: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Bound on tracked addresses (IPv6 counted per /64).
    pub max_addresses: usize,
    /// Bound on tracked usernames.
    pub max_users: usize,
}

impl Default for ThrottleSettings {
    fn default() -> ThrottleSettings {
        ThrottleSettings {
            window: DEFAULT_FAILURE_WINDOW,
            max_failures_per_address: DEFAULT_MAX_FAILURES_PER_ADDRESS,
            max_failures_per_user: DEFAULT_MAX_FAILURES_PER_USER,
            initial_backoff: DEFAULT_INITIAL_BACKOFF,
            max_backoff: DEFAULT_MAX_BACKOFF,
            max_addresses: DEFAULT_MAX_TRACKED,
            max_users: DEFAULT_MAX_TRACKED,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleScope {
    Address,
    User,
}

/// A new expensive check was refused; try again after `retry_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    pub retry_after: Duration,
    pub scope: ThrottleScope,
}

/// One worker's failure counts. See the module docs for the rules.
#[derive(Debug)]
pub struct FailureLimiter {
    settings: ThrottleSettings,
    addresses: Tallies<IpAddr>,
    /// Keyed by a randomly seeded 64-bit hash of the name: an 8 KiB username costs
    /// 8 bytes here. A collision only merges two users' counts, and the seed keeps
    /// anyone from aiming one.
    users: Tallies<u64>,
    user_keys: ahash::RandomState,
}

impl FailureLimiter {
    pub fn new(settings: ThrottleSettings) -> FailureLimiter {
        FailureLimiter {
            addresses: Tallies::new(settings.max_addresses),
            users: Tallies::new(settings.max_users),
            user_keys: ahash::RandomState::new(),
            settings,
        }
    }

    /// Whether a new expensive check for this client may start at `now`. When both
    /// scopes are blocked, the longer wait is reported.
    pub fn check(&self, ip: IpAddr, user: Option<&str>, now: Instant) -> Result<(), Throttled> {
        let address = self
            .addresses
            .blocked_for(&address_key(ip), now)
            .map(|retry_after| Throttled {
                retry_after,
                scope: ThrottleScope::Address,
            });
        let user = user
            .and_then(|user| self.users.blocked_for(&self.user_key(user), now))
            .map(|retry_after| Throttled {
                retry_after,
                scope: ThrottleScope::User,
            });
        match (address, user) {
            (Some(a), Some(u)) if u.retry_after > a.retry_after => Err(u),
            (Some(a), _) => Err(a),
            (None, Some(u)) => Err(u),
            (None, None) => Ok(()),
        }
    }

    /// Counts one computed failed check (not a cache hit, not a joined computation).
    pub fn record_failure(&mut self, ip: IpAddr, user: Option<&str>, now: Instant) {
        let s = self.settings;
        if s.max_failures_per_address > 0 {
            let limit = Limit::new(&s, s.max_failures_per_address);
            self.addresses.fail(address_key(ip), &limit, now);
        }
        if let Some(user) = user.filter(|_| s.max_failures_per_user > 0) {
            let limit = Limit::new(&s, s.max_failures_per_user);
            let key = self.user_key(user);
            self.users.fail(key, &limit, now);
        }
    }

    /// Tracked addresses and usernames (metrics, tests).
    pub fn tracked(&self) -> (usize, usize) {
        (self.addresses.map.len(), self.users.map.len())
    }

    fn user_key(&self, user: &str) -> u64 {
        self.user_keys.hash_one(user)
    }
}

/// IPv4-mapped IPv6 counts as the IPv4 address; other IPv6 addresses count per
/// /64, the smallest block a site gets, or an attacker would rotate through 2^64.
fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        },
    }
}

fn later(now: Instant, by: Duration) -> Instant {
    now.checked_add(by)
        .or_else(|| now.checked_add(FAR_FUTURE))
        .unwrap_or(now)
}

/// The settings that apply to one scope.
struct Limit {
    window: Duration,
    max_failures: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
}

impl Limit {
    fn new(s: &ThrottleSettings, max_failures: u32) -> Limit {
        Limit {
            window: s.window,
            max_failures,
            initial_backoff: s.initial_backoff,
            max_backoff: s.max_backoff,
        }
    }

    /// `initial_backoff * 2^level`, capped at `max_backoff`.
    fn backoff(&self, level: u32) -> Duration {
        let factor = 1u32.checked_shl(level).unwrap_or(u32::MAX);
        self.initial_backoff
            .checked_mul(factor)
            .unwrap_or(Duration::MAX)
            .min(self.max_backoff)
    }
}

#[derive(Debug, Clone, Copy)]
struct Tally {
    window_start: Instant,
    failures: u32,
    /// Blocks since the last quiet window; the next one lasts `initial << level`.
    level: u32,
    blocked_until: Option<Instant>,
    /// When this tally becomes equivalent to no tally: a window after the later of
    /// the last failure and the end of the block.
    forget_at: Instant,
}

impl Tally {
    fn blocked_for(&self, now: Instant) -> Option<Duration> {
        self.blocked_until
            .filter(|until| *until > now)
            .map(|until| until.saturating_duration_since(now))
    }

    fn fail(&mut self, limit: &Limit, now: Instant) {
        if self.blocked_for(now).is_some() {
            return;
        }
        if now.saturating_duration_since(self.window_start) >= limit.window {
            self.window_start = now;
            self.failures = 0;
        }
        self.failures = self.failures.saturating_add(1);
        if self.level > 0 || self.failures >= limit.max_failures {
            let until = later(now, limit.backoff(self.level));
            self.blocked_until = Some(until);
            self.level = self.level.saturating_add(1);
            self.failures = 0;
            self.window_start = now;
        }
        let quiet_from = self.blocked_until.map_or(now, |until| until.max(now));
        self.forget_at = later(quiet_from, limit.window);
    }

    fn new(now: Instant) -> Tally {
        Tally {
            window_start: now,
            failures: 0,
            level: 0,
            blocked_until: None,
            forget_at: now,
        }
    }

    /// Eviction order, least worth keeping first: never blocked before escalated
    /// ones, fewer failures first, then the ones forgotten soonest anyway.
    fn keep_priority(&self) -> (u32, u32, Instant) {
        (self.level, self.failures, self.forget_at)
    }
}

/// A bounded map of tallies. When full, idle tallies go first; if that frees less
/// than an eighth, the lowest [`Tally::keep_priority`] go until an eighth is free.
/// A flood of random names therefore evicts its own single-failure entries before
/// touching a blocked address or a user under sustained attack. Only failures
/// (which each followed a hash of milliseconds) insert, so the O(n) pass, amortised
/// over an eighth of the table, is never the bottleneck.
#[derive(Debug)]
struct Tallies<K> {
    map: HashMap<K, Tally, ahash::RandomState>,
    max: usize,
}

impl<K: Hash + Eq + Copy> Tallies<K> {
    fn new(max: usize) -> Tallies<K> {
        Tallies {
            map: HashMap::default(),
            max,
        }
    }

    fn blocked_for(&self, key: &K, now: Instant) -> Option<Duration> {
        self.map.get(key).and_then(|tally| tally.blocked_for(now))
    }

    fn fail(&mut self, key: K, limit: &Limit, now: Instant) {
        if self.max == 0 {
            return;
        }
        if !self.map.contains_key(&key) && self.map.len() >= self.max {
            self.make_room(now);
        }
        let tally = self.map.entry(key).or_insert_with(|| Tally::new(now));
        if tally.forget_at <= now {
            *tally = Tally::new(now);
        }
        tally.fail(limit, now);
    }

    fn make_room(&mut self, now: Instant) {
        self.map.retain(|_, tally| tally.forget_at > now);
        let target = (self.max - self.max / 8).min(self.max - 1);
        let excess = self.map.len().saturating_sub(target);
        if excess == 0 {
            return;
        }
        let mut order: Vec<((u32, u32, Instant), K)> = self
            .map
            .iter()
            .map(|(key, tally)| (tally.keep_priority(), *key))
            .collect();
        // `excess` is at least 1 and at most `len`. Sorting only the prefix we drop.
        order.select_nth_unstable_by_key(excess - 1, |(priority, _)| *priority);
        for (_, key) in order.iter().take(excess) {
            self.map.remove(key);
        }
    }
}

#[cfg(test)]
#[path = "throttle/tests.rs"]
mod tests;
