//! Per-core credential cache: verdicts of expensive `auth_key*` checks, keyed by a
//! secret-keyed tag of the credentials.
//!
//! Owns: [`KeyedHasher`] (one per process or snapshot, shared by all workers),
//! [`CacheTag`] and [`CredentialCache`] (one per worker thread, no locks).
//!
//! Must not: do IO, spawn threads, lock, or store a clear password. Hashing itself
//! happens on the hashing pool (`auth::pool`); this module only remembers results.
//!
//! Where it sits in the walk:
//!
//! ```text
//! acl::evaluate -> Verifier::cached -> KeyedHasher::tag -> CredentialCache::get
//!                                        hit: verdict (tens of nanoseconds)
//!                                        miss: Decision::Verify -> pool -> insert
//! ```
//!
//! Key ids are only meaningful within one config snapshot: on reload call
//! [`CredentialCache::clear`], and preferably give each snapshot a fresh
//! [`KeyedHasher`] so that tags of different snapshots can never meet (in the cache
//! or in the pool's single-flight map).

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::auth::key::Verdict;

/// ReadonlyREST 1.16's `auth_cache_ttl_sec` default (readonlyrest.md §3.2).
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(10);
pub const DEFAULT_NEGATIVE_TTL: Duration = Duration::from_secs(10);
/// Per core. An entry is ~40 bytes in the table, so a full cache is well under 1 MiB.
pub const DEFAULT_MAX_POSITIVE_ENTRIES: usize = 10_000;
pub const DEFAULT_MAX_NEGATIVE_ENTRIES: usize = 10_000;

/// Fills the first SHA-256 block together with the 32-byte key, so the keyed state
/// is one compression that [`KeyedHasher::tag`] clones instead of recomputing.
const TAG_DOMAIN: &[u8; 32] = b"ringfence credential cache tag 1";

/// 128 bits of a keyed SHA-256 of `(key_id, user, password)`.
///
/// `Debug` does not print the bytes: tags stay inside the process, which is what
/// makes a truncated secret-prefix hash enough (see [`KeyedHasher`]).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CacheTag([u8; 16]);

impl fmt::Debug for CacheTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CacheTag(***)")
    }
}

impl Hash for CacheTag {
    /// The tag is already a uniformly distributed keyed hash, so 8 of its bytes are
    /// a perfect table hash; an attacker who never sees tags cannot aim collisions.
    fn hash<H: Hasher>(&self, state: &mut H) {
        let [a, b, c, d, e, f, g, h, ..] = self.0;
        state.write_u64(u64::from_le_bytes([a, b, c, d, e, f, g, h]));
    }
}

/// Passes [`CacheTag`]'s `write_u64` through instead of running SipHash again.
#[derive(Default, Clone, Copy)]
struct TagHasher(u64);

impl Hasher for TagHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }

    /// Only reached if `CacheTag`'s `Hash` impl changes; still a valid (slow) hash.
    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }
}

type TagMap = HashMap<CacheTag, Entry, BuildHasherDefault<TagHasher>>;

/// Turns credentials into [`CacheTag`]s with a random per-process key.
///
/// The tag is `SHA-256(key ‖ TAG_DOMAIN ‖ key_id ‖ len(user) ‖ user ‖ password)`
/// truncated to 16 bytes. The encoding is injective (fixed-size fields, the user
/// length-prefixed, the password the rest), so equal tags mean equal inputs unless
/// SHA-256 collides. Without the key, an attacker cannot compute any tag, so the
/// best attack on a cached `Match` is guessing a 128-bit value. Length extension
/// needs a full digest and tags never leave the process, so HMAC's second pass
/// buys nothing here; a secret prefix costs one compression per short credential.
#[derive(Clone)]
pub struct KeyedHasher {
    keyed: Sha256,
}

impl fmt::Debug for KeyedHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyedHasher(***)")
    }
}

impl KeyedHasher {
    /// A hasher with 32 bytes from the OS generator. Fails only if the OS has no
    /// randomness to give, which must stop startup rather than fall back to a
    /// predictable key.
    pub fn new() -> Result<KeyedHasher, getrandom::Error> {
        let mut key = [0; 32];
        getrandom::fill(&mut key)?;
        Ok(KeyedHasher::from_key(key))
    }

    /// A hasher with a chosen key: for tests and benches. Production uses
    /// [`KeyedHasher::new`].
    pub fn from_key(key: [u8; 32]) -> KeyedHasher {
        let mut keyed = Sha256::new();
        keyed.update(key);
        keyed.update(TAG_DOMAIN);
        KeyedHasher { keyed }
    }

    /// The tag of one set of Basic credentials for one configured key. `key`
    /// identifies the key across reloads (the proxy uses the policy generation in
    /// the high half and the key's number in the low half). No allocation; about
    /// one SHA-256 block for typical credentials.
    pub fn tag(&self, key: u64, user: &str, password: &str) -> CacheTag {
        let mut hasher = self.keyed.clone();
        hasher.update(key.to_le_bytes());
        hasher.update((user.len() as u64).to_le_bytes());
        hasher.update(user.as_bytes());
        hasher.update(password.as_bytes());
        let digest = hasher.finalize();
        let mut tag = [0; 16];
        // SHA-256 digests are 32 bytes; zip stops at the shorter side anyway.
        for (out, byte) in tag.iter_mut().zip(digest.iter()) {
            *out = *byte;
        }
        CacheTag(tag)
    }
}

/// Lifetimes and bounds of one worker's [`CredentialCache`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheSettings {
    /// How long a `Match` is served without hashing again.
    pub ttl: Duration,
    /// How long a failed check is remembered: repeated wrong credentials (a client
    /// with a stale password) then cost one hash per `negative_ttl` per core.
    pub negative_ttl: Duration,
    /// Entries per core for `Match`; 0 disables positive caching.
    pub max_positive: usize,
    /// Entries per core for everything else; 0 disables negative caching.
    pub max_negative: usize,
}

impl Default for CacheSettings {
    fn default() -> CacheSettings {
        CacheSettings {
            ttl: DEFAULT_CACHE_TTL,
            negative_ttl: DEFAULT_NEGATIVE_TTL,
            max_positive: DEFAULT_MAX_POSITIVE_ENTRIES,
            max_negative: DEFAULT_MAX_NEGATIVE_ENTRIES,
        }
    }
}

impl CacheSettings {
    /// The lifetime for a computed verdict.
    pub fn ttl_for(&self, verdict: Verdict) -> Duration {
        match verdict {
            Verdict::Match => self.ttl,
            Verdict::UserMismatch | Verdict::WrongPassword => self.negative_ttl,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    verdict: Verdict,
    expires_at: Instant,
}

/// One worker's verdicts. Lookups take `&self` and never allocate; inserts take
/// `&mut self` (the worker wraps the cache in a `RefCell`).
///
/// `Match` and failures live in two separately bounded tables, so a flood of random
/// credentials fills only the negative table and can never push a valid user out.
///
/// Eviction, only when a table is full: first every expired entry goes; if that
/// frees less than an eighth of the table, the entries that expire soonest go until
/// an eighth is free. With one TTL per table that is the oldest inserts, which would
/// have expired first anyway. Doing it in batches of an eighth makes the O(n) scan
/// cost O(1) per insert on average; and every insert follows a hash that took
/// milliseconds, so the scan (microseconds) is never the bottleneck.
///
/// Expired positive entries stay until the table needs room: they are how
/// [`CredentialCache::matched_before`] recognises a refresh of known-good credentials.
#[derive(Debug)]
pub struct CredentialCache {
    positive: Table,
    negative: Table,
}

impl CredentialCache {
    pub fn new(settings: &CacheSettings) -> CredentialCache {
        CredentialCache {
            positive: Table::new(settings.max_positive),
            negative: Table::new(settings.max_negative),
        }
    }

    /// The cached verdict for `tag`, unless it has expired at `now`.
    pub fn get(&self, tag: &CacheTag, now: Instant) -> Option<Verdict> {
        self.positive
            .get(tag, now)
            .or_else(|| self.negative.get(tag, now))
    }

    /// Whether these exact credentials produced `Match` earlier in this snapshot,
    /// even if that entry has expired. Verification is a pure function of the key
    /// and the credentials, so re-verifying such a tag is a refresh, not a guess:
    /// the caller may let it past the failure limiter (`auth::throttle`), which keeps
    /// an attack on a username from locking out its owner when the entry expires.
    pub fn matched_before(&self, tag: &CacheTag) -> bool {
        self.positive.map.contains_key(tag)
    }

    /// Remembers a computed verdict for `ttl` from `now`. A zero `ttl` or a table
    /// bound of 0 stores nothing.
    pub fn insert(&mut self, tag: CacheTag, verdict: Verdict, ttl: Duration, now: Instant) {
        if ttl.is_zero() {
            return;
        }
        // A TTL past the clock's range is capped rather than dropped.
        let Some(expires_at) = now.checked_add(ttl).or_else(|| now.checked_add(MAX_TTL)) else {
            return;
        };
        let entry = Entry {
            verdict,
            expires_at,
        };
        // A tag lives in one table only. Verdicts cannot change within a snapshot,
        // but a caller that forgets `clear` on reload must not get both.
        if verdict == Verdict::Match {
            self.negative.map.remove(&tag);
            self.positive.insert(tag, entry, now);
        } else {
            self.positive.map.remove(&tag);
            self.negative.insert(tag, entry, now);
        }
    }

    /// Forgets everything (config reload: key ids now mean other keys).
    pub fn clear(&mut self) {
        self.positive.map.clear();
        self.negative.map.clear();
    }

    /// Stored entries, including expired ones not yet evicted.
    pub fn len(&self) -> usize {
        self.positive.map.len() + self.negative.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stored `Match` entries (metrics).
    pub fn positive_len(&self) -> usize {
        self.positive.map.len()
    }

    /// Stored failure entries (metrics).
    pub fn negative_len(&self) -> usize {
        self.negative.map.len()
    }
}

/// Used when `now + ttl` overflows `Instant`: far beyond any useful TTL.
const MAX_TTL: Duration = Duration::from_secs(365 * 24 * 60 * 60);

#[derive(Debug)]
struct Table {
    map: TagMap,
    max: usize,
}

impl Table {
    fn new(max: usize) -> Table {
        Table {
            map: TagMap::default(),
            max,
        }
    }

    fn get(&self, tag: &CacheTag, now: Instant) -> Option<Verdict> {
        self.map
            .get(tag)
            .filter(|entry| entry.expires_at > now)
            .map(|entry| entry.verdict)
    }

    fn insert(&mut self, tag: CacheTag, entry: Entry, now: Instant) {
        if self.max == 0 {
            return;
        }
        if let Some(existing) = self.map.get_mut(&tag) {
            *existing = entry;
            return;
        }
        if self.map.len() >= self.max {
            self.make_room(now);
        }
        self.map.insert(tag, entry);
    }

    /// Brings the table down to 7/8 of its bound (at least one free slot): expired
    /// entries first, then those expiring soonest.
    fn make_room(&mut self, now: Instant) {
        self.map.retain(|_, entry| entry.expires_at > now);
        let target = (self.max - self.max / 8).min(self.max - 1);
        let excess = self.map.len().saturating_sub(target);
        if excess == 0 {
            return;
        }
        let mut expiries: Vec<Instant> = self.map.values().map(|e| e.expires_at).collect();
        // `excess` is at least 1 and at most `len`, so `excess - 1` is an index.
        let (_, &mut cutoff, _) = expiries.select_nth_unstable(excess - 1);
        // At most `excess - 1` entries are strictly below the cutoff; ties at the
        // cutoff (common with a coarse or injected clock) are taken one by one so
        // exactly `excess` entries go.
        let mut budget = excess;
        self.map.retain(|_, entry| {
            if entry.expires_at < cutoff {
                budget = budget.saturating_sub(1);
                false
            } else {
                true
            }
        });
        self.map.retain(|_, entry| {
            if budget > 0 && entry.expires_at == cutoff {
                budget = budget.saturating_sub(1);
                false
            } else {
                true
            }
        });
    }
}

#[cfg(test)]
#[path = "cache/tests.rs"]
mod tests;
