//! Failure limits with exponential back-off, per client address and per username: one
//! budget for the whole process, applied to every kind of Basic credential.
//!
//! Owns: [`SharedLimiter`] (one per process, shared by all workers through an `Arc`),
//! its settings, and [`KnownGood`] (one per worker thread, no locks): credentials that
//! authenticated on that core and may pass a blocked scope.
//!
//! Must not: do IO, read clocks (callers pass `now`), or decide on its own who passes a
//! block: it says whether a scope is blocked, `proxy::credentials` decides what that means
//! for one request. Where it sits in the walk:
//!
//! ```text
//! request with Basic credentials
//!   -> Credentials::admit        any_blocked()? no: go on (one relaxed atomic load)
//!                                yes: check(ip, user) -> Err: known-good here? pass
//!                                                             else deny (429 + Retry-After)
//!   -> acl::evaluate             cheap keys (plain, sha*) inline; expensive keys from the
//!                                cache, else Verify:
//!        Verify, miss, neither matched_before nor known-good -> check() before hashing
//!   -> Allow by these credentials                         -> KnownGood::insert
//!   -> 401, credentials matched no authentication rule    -> record_failure() (once)
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
//! - Failures reported while the scope is blocked (requests admitted just before the
//!   block) are ignored: they are not new guesses.
//!
//! Successes are not recorded on purpose. Resetting a user's count on success
//! would let the owner's periodic logins hand an attacker a fresh budget; resetting an
//! address would let one valid account spray others. The window forgets old failures
//! anyway, and known-good credentials pass a block instead ([`KnownGood`], and for
//! expensive keys `CredentialCache::matched_before`), so an attack on a username does not
//! lock its owner out.
//!
//! One budget: every worker records into and checks the same [`SharedLimiter`], so
//! spreading connections over N cores buys an attacker nothing. Its tallies live in
//! mutex-guarded shards per kind (chosen by a keyed hash), and a check locks nothing
//! unless a block may be current:
//! - `state` says whether any block may be current: a relaxed load of it is the whole
//!   cost of [`SharedLimiter::check`] (and of `admit`) while nothing is blocked.
//! - Otherwise `horizon`, the latest end of any block started so far, tells whether all
//!   of them are over; the first check that finds so marks the limiter quiet again.
//! - Otherwise each shard's own horizon tells whether that shard can hold a current
//!   block; only then is its mutex taken.
//!
//! Recording locks one shard per kind; failures are rare (each is a refused request).
//! A check racing the failure that starts a block may miss it, as if it had arrived a
//! moment earlier. A poisoned shard (a panic while locked) is used as it is: its tallies
//! are plain numbers, and the alternative would spread the panic to every worker. (Every
//! profile unwinds on panic: a worker survives one, and so must the shards it held.)

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
#[cfg(test)]
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Refused requests per address per window, for the whole process. Each is a wrong
/// password for a cheap key or a hash for an expensive one (20 unix-crypt checks are
/// ~0.4 s of one core per minute); a person mistyping has room to spare.
pub const DEFAULT_MAX_FAILURES_PER_ADDRESS: u32 = 20;
/// Higher than per address: one service account (`logstash`) is often shared by
/// many hosts, and a stale password rollout fails on all of them at once.
pub const DEFAULT_MAX_FAILURES_PER_USER: u32 = 50;
pub const DEFAULT_FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Short enough that a person who fat-fingered a password 20 times is back soon;
/// the doubling handles clients that keep going (5 s .. 15 min in 8 steps).
pub const DEFAULT_INITIAL_BACKOFF: Duration = Duration::from_secs(5);
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(15 * 60);
/// Tracked scopes per kind, for the whole process (0 tracks nothing, which disables
/// that limit); a tally is under 100 bytes in the table.
pub const DEFAULT_MAX_TRACKED: usize = 10_000;

/// How long credentials that authenticated stay known-good on a core after their last
/// success. Independent of the cache TTL on purpose: that one bounds how long a verdict
/// is trusted without hashing, while this grants no access at all, only passage through
/// a block to credentials the ACL then checks as usual. It must outlive the gaps between
/// a client's requests, or an attack would lock out owners who poll every few minutes.
pub const KNOWN_GOOD_TTL: Duration = Duration::from_secs(60 * 60);
/// Known-good credentials per core; an entry is ~25 bytes in the table. Only a
/// successful login inserts, so filling it takes that many valid credentials.
pub const MAX_KNOWN_GOOD: usize = 10_000;

/// Used when `now + duration` overflows `Instant`: far beyond any useful block.
const FAR_FUTURE: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// Mutex-guarded shards per kind of scope: enough that workers checking different
/// scopes under attack rarely meet on one lock, few enough to sum for metrics.
const SHARDS: usize = 16;
/// A table smaller than this per shard gets fewer shards: hashing spreads keys
/// unevenly, and a tiny shard would evict entries the whole table had room for.
const MIN_TALLIES_PER_SHARD: usize = 64;

/// `SharedLimiter::state`: bit 0 set while a block may be current; the bits above count
/// the blocks ever started, so that a stale view can never mark the limiter quiet
/// after a newer block started (the count moved, the exchange fails).
const MAYBE_BLOCKED: u64 = 1;
const ONE_BLOCK: u64 = 2;

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

/// The client is blocked; try again after `retry_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    pub retry_after: Duration,
    pub scope: ThrottleScope,
}

/// The process's failure counts, shared by all workers. See the module docs for the
/// rules and for what a check costs.
#[derive(Debug)]
pub struct SharedLimiter {
    settings: ThrottleSettings,
    /// [`MAYBE_BLOCKED`] and the count of blocks started.
    state: AtomicU64,
    /// Ticks from which every block started so far is over.
    horizon: AtomicU64,
    /// Tick 0. Horizons are nanoseconds since then, so that they fit an atomic.
    origin: Instant,
    addresses: Shards<IpAddr>,
    /// Keyed by a randomly seeded 64-bit hash of the name: an 8 KiB username costs
    /// 8 bytes here. A collision only merges two users' counts, and the seed keeps
    /// anyone from aiming one.
    users: Shards<u64>,
    user_keys: ahash::RandomState,
    /// Shard locks taken (tests: proof that the quiet path never locks).
    #[cfg(test)]
    locks: AtomicUsize,
}

impl SharedLimiter {
    pub fn new(settings: ThrottleSettings) -> SharedLimiter {
        SharedLimiter {
            state: AtomicU64::new(0),
            horizon: AtomicU64::new(0),
            origin: Instant::now(),
            addresses: Shards::new(settings.max_addresses),
            users: Shards::new(settings.max_users),
            user_keys: ahash::RandomState::new(),
            settings,
            #[cfg(test)]
            locks: AtomicUsize::new(0),
        }
    }

    /// Whether any scope may be blocked right now: one relaxed atomic load. `false` means
    /// [`SharedLimiter::check`] would answer `Ok` for everyone, so a caller may skip
    /// even reading the clock for it.
    pub fn any_blocked(&self) -> bool {
        self.state.load(Ordering::Relaxed) & MAYBE_BLOCKED != 0
    }

    /// Whether this client may go on at `now`. When both scopes are blocked, the longer
    /// wait is reported. Locks nothing unless a block may be current in the shard of the
    /// address or of the user (see the module docs).
    pub fn check(&self, ip: IpAddr, user: Option<&str>, now: Instant) -> Result<(), Throttled> {
        if !self.any_blocked() {
            return Ok(());
        }
        // Acquire: pairs with the release in `started_block`, so the horizons read below
        // include every block this state counts.
        let state = self.state.load(Ordering::Acquire);
        let now_ticks = self.ticks(now);
        if now_ticks >= self.horizon.load(Ordering::Relaxed) {
            // Every block counted in `state` is over. If another one started since, the
            // count moved and this exchange fails, leaving the limiter marked.
            let quiet = state & !MAYBE_BLOCKED;
            let _ = self
                .state
                .compare_exchange(state, quiet, Ordering::Relaxed, Ordering::Relaxed);
            return Ok(());
        }
        let address = self
            .blocked_for(&self.addresses, &address_key(ip), now_ticks, now)
            .map(|retry_after| Throttled {
                retry_after,
                scope: ThrottleScope::Address,
            });
        let user = user
            .and_then(|user| self.blocked_for(&self.users, &self.user_key(user), now_ticks, now))
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

    /// Counts one refused request (see the module docs for which ones count).
    pub fn record_failure(&self, ip: IpAddr, user: Option<&str>, now: Instant) {
        let s = self.settings;
        if s.max_failures_per_address > 0 {
            let limit = Limit::new(&s, s.max_failures_per_address);
            self.fail(&self.addresses, address_key(ip), &limit, now);
        }
        if let Some(user) = user.filter(|_| s.max_failures_per_user > 0) {
            let limit = Limit::new(&s, s.max_failures_per_user);
            self.fail(&self.users, self.user_key(user), &limit, now);
        }
    }

    /// Tracked addresses and usernames (metrics, tests). Locks every shard in turn.
    pub fn tracked(&self) -> (usize, usize) {
        (self.count(&self.addresses), self.count(&self.users))
    }

    fn count<K>(&self, shards: &Shards<K>) -> usize {
        shards
            .all
            .iter()
            .map(|shard| self.lock(shard).map.len())
            .sum()
    }

    fn blocked_for<K: Hash + Eq + Copy>(
        &self,
        shards: &Shards<K>,
        key: &K,
        now_ticks: u64,
        now: Instant,
    ) -> Option<Duration> {
        let shard = shards.of(key);
        if now_ticks >= shard.horizon.load(Ordering::Relaxed) {
            return None;
        }
        self.lock(shard).blocked_for(key, now)
    }

    fn fail<K: Hash + Eq + Copy>(&self, shards: &Shards<K>, key: K, limit: &Limit, now: Instant) {
        let shard = shards.of(&key);
        let mut tallies = self.lock(shard);
        if let Some(until) = tallies.fail(key, limit, now) {
            // Horizons first, then the state (release): whoever sees the new state sees
            // horizons that cover this block.
            let horizon = self.ticks(until).saturating_add(1);
            shard.horizon.fetch_max(horizon, Ordering::Relaxed);
            self.horizon.fetch_max(horizon, Ordering::Relaxed);
            let mark = |state: u64| Some(state.wrapping_add(ONE_BLOCK) | MAYBE_BLOCKED);
            // The closure never returns `None`, so this cannot fail.
            let _ = self
                .state
                .fetch_update(Ordering::Release, Ordering::Relaxed, mark);
        }
    }

    /// Nanoseconds from `origin` to `at`, 0 before it. A block's horizon is the tick
    /// after its end, so that it is never 0 and a check at a tick below it locks even
    /// when the two instants fall on one tick or before `origin`.
    fn ticks(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.origin).as_nanos()).unwrap_or(u64::MAX)
    }

    fn lock<'s, K>(&self, shard: &'s Shard<K>) -> MutexGuard<'s, Tallies<K>> {
        #[cfg(test)]
        self.locks.fetch_add(1, Ordering::Relaxed);
        shard.tallies.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn user_key(&self, user: &str) -> u64 {
        self.user_keys.hash_one(user)
    }
}

/// One kind's tallies, split over shards by a keyed hash of the key.
#[derive(Debug)]
struct Shards<K> {
    all: Box<[Shard<K>]>,
    picker: ahash::RandomState,
}

#[derive(Debug)]
struct Shard<K> {
    /// Ticks from which every block started in this shard is over.
    horizon: AtomicU64,
    tallies: Mutex<Tallies<K>>,
}

impl<K: Hash + Eq + Copy> Shards<K> {
    /// `max` tallies in all: as many shards as keep at least [`MIN_TALLIES_PER_SHARD`]
    /// each (at most [`SHARDS`]), the remainder spread one each over the first.
    fn new(max: usize) -> Shards<K> {
        let count = (max / MIN_TALLIES_PER_SHARD).clamp(1, SHARDS);
        let all = (0..count)
            .map(|i| Shard {
                horizon: AtomicU64::new(0),
                tallies: Mutex::new(Tallies::new(max / count + usize::from(i < max % count))),
            })
            .collect();
        Shards {
            all,
            picker: ahash::RandomState::new(),
        }
    }

    fn of(&self, key: &K) -> &Shard<K> {
        // `all` has at least one shard, and the remainder is below its length.
        let index = self.picker.hash_one(key) % self.all.len() as u64;
        &self.all[index as usize]
    }
}

/// Credentials that authenticated on one core, as keyed 64-bit hashes: never a
/// password. While their user or address is blocked, these exact credentials still pass
/// (the ACL then checks them as usual), so an attack on a name does not lock its owner
/// out of the clients it already uses.
///
/// Why a 64-bit hash is enough: an entry grants passage through a block, never access,
/// and the seed is random per core and never leaves the process, so an attacker cannot
/// aim a collision; a blind one among 10,000 entries has odds of about 2^-50.
///
/// Bounded by `max`: when full, expired entries go first; if that frees less than an
/// eighth, the entries expiring soonest (the longest unused, since every success
/// extends its entry) go until an eighth is free, so the O(n) pass is amortised.
#[derive(Debug)]
pub struct KnownGood {
    map: HashMap<u64, Instant, ahash::RandomState>,
    keys: ahash::RandomState,
    max: usize,
    ttl: Duration,
}

/// The keyed hash of one user and password, as [`KnownGood`] stores them.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint(u64);

impl std::fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Fingerprint(***)")
    }
}

impl KnownGood {
    /// An empty set of at most `max` entries (0 remembers nothing), each kept `ttl`
    /// after its last success.
    pub fn new(max: usize, ttl: Duration) -> KnownGood {
        KnownGood {
            map: HashMap::default(),
            keys: ahash::RandomState::new(),
            max,
            ttl,
        }
    }

    /// One pass of a fast keyed hash over the credentials; no allocation.
    pub fn fingerprint(&self, user: &str, password: &str) -> Fingerprint {
        // `str` hashes its bytes and then 0xff, which UTF-8 never contains: no two
        // (user, password) pairs feed the hasher the same bytes.
        Fingerprint(self.keys.hash_one((user, password)))
    }

    /// Whether these credentials succeeded within `ttl` before `now`.
    pub fn contains(&self, fingerprint: Fingerprint, now: Instant) -> bool {
        self.map
            .get(&fingerprint.0)
            .is_some_and(|until| *until > now)
    }

    /// Records a success at `now`: a new entry, or a known one extended.
    pub fn insert(&mut self, fingerprint: Fingerprint, now: Instant) {
        if self.max == 0 {
            return;
        }
        let until = later(now, self.ttl);
        if let Some(entry) = self.map.get_mut(&fingerprint.0) {
            *entry = until;
            return;
        }
        if self.map.len() >= self.max {
            self.make_room(now);
        }
        self.map.insert(fingerprint.0, until);
    }

    /// Stored entries, including expired ones not yet evicted.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    fn make_room(&mut self, now: Instant) {
        self.map.retain(|_, until| *until > now);
        let target = (self.max - self.max / 8).min(self.max - 1);
        let excess = self.map.len().saturating_sub(target);
        if excess == 0 {
            return;
        }
        let mut order: Vec<(Instant, u64)> = self.map.iter().map(|(k, v)| (*v, *k)).collect();
        // `excess` is at least 1 and at most `len`. Sorting only the prefix we drop.
        order.select_nth_unstable(excess - 1);
        for (_, key) in order.iter().take(excess) {
            self.map.remove(key);
        }
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

    /// Counts one failure; returns the end of the block it starts, if it starts one.
    fn fail(&mut self, limit: &Limit, now: Instant) -> Option<Instant> {
        if self.blocked_for(now).is_some() {
            return None;
        }
        let mut started = None;
        if now.saturating_duration_since(self.window_start) >= limit.window {
            self.window_start = now;
            self.failures = 0;
        }
        self.failures = self.failures.saturating_add(1);
        if self.level > 0 || self.failures >= limit.max_failures {
            let until = later(now, limit.backoff(self.level));
            self.blocked_until = Some(until);
            started = Some(until);
            self.level = self.level.saturating_add(1);
            self.failures = 0;
            self.window_start = now;
        }
        let quiet_from = self.blocked_until.map_or(now, |until| until.max(now));
        self.forget_at = later(quiet_from, limit.window);
        started
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
/// touching a blocked address or a user under sustained attack. Only failures (each a
/// whole refused request) insert, so the O(n) pass, amortised over an eighth of the
/// table, is never the bottleneck.
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

    /// Counts one failure of `key`; returns the end of the block it starts, if any.
    fn fail(&mut self, key: K, limit: &Limit, now: Instant) -> Option<Instant> {
        if self.max == 0 {
            return None;
        }
        if !self.map.contains_key(&key) && self.map.len() >= self.max {
            self.make_room(now);
        }
        let tally = self.map.entry(key).or_insert_with(|| Tally::new(now));
        if tally.forget_at <= now {
            *tally = Tally::new(now);
        }
        tally.fail(limit, now)
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
