//! Per-core cache of JWT verifications, keyed by a secret-keyed tag of the token.
//!
//! Owns: [`TokenCache`] (one per worker thread, in a `RefCell`, no locks).
//!
//! Must not: do IO, lock, or keep a token's text: entries are keyed by
//! `auth::cache::KeyedHasher` tags, as the Basic credential cache is.
//!
//! Why: an HMAC check costs about a microsecond, but an RSA or ECDSA signature check costs
//! tens of microseconds, several proxied requests' worth of CPU; a client sends the same
//! token for its whole lifetime. A verified token is kept until its `exp` or for
//! [`VERIFIED_TTL`], whichever comes first; a refused one for [`REFUSED_TTL`] only (a
//! flood of one bad token costs one check per second per core, and a token that becomes
//! valid, `nbf`, is not refused for long). Verified and refused tokens live in separately
//! bounded tables, so a flood of random tokens can never push a good one out.
//!
//! Key rotation (`jwks_file` reloaded, `jwks_url` fetched again): a verified entry is not
//! dropped when its key leaves the set; it is served until its TTL ends, so a token of a
//! rotated-out key passes at most [`VERIFIED_TTL`] longer. A policy reload clears the
//! cache anyway (new definition ids).

use super::VerifiedToken;
use crate::auth::bounded::BoundedTable;
use crate::auth::cache::CacheTag;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a verified token is served without checking its signature again (at most).
pub const VERIFIED_TTL: Duration = Duration::from_secs(60);
/// How long a refused token is refused without checking it again.
pub const REFUSED_TTL: Duration = Duration::from_secs(1);
/// Per core and per table. A verified entry holds the token's payload (typically under a
/// kilobyte), so a full table stays within a few MiB.
pub const MAX_TOKEN_ENTRIES: usize = 4_096;

/// What a cached verification said.
pub type Cached = Option<Arc<VerifiedToken>>;

/// One worker's JWT verifications.
#[derive(Debug)]
pub struct TokenCache {
    verified: BoundedTable<Cached>,
    refused: BoundedTable<Cached>,
}

impl Default for TokenCache {
    fn default() -> TokenCache {
        TokenCache {
            verified: BoundedTable::new(MAX_TOKEN_ENTRIES),
            refused: BoundedTable::new(MAX_TOKEN_ENTRIES),
        }
    }
}

impl TokenCache {
    /// The cached verification of the token tagged `tag`: `Some(Some(token))` verified,
    /// `Some(None)` refused, `None` unknown (or expired).
    pub fn get(&self, tag: &CacheTag, now: Instant) -> Option<Cached> {
        self.verified
            .get(tag, now)
            .or_else(|| self.refused.get(tag, now))
    }

    /// Remembers a verification done at `now` (`wall` is the same moment on the system
    /// clock, to turn the token's `exp` into an instant).
    pub fn insert(&mut self, tag: CacheTag, token: Cached, now: Instant, wall: SystemTime) {
        match token {
            Some(verified) => {
                let ttl = match verified.expires_at_unix() {
                    Some(exp) => {
                        let now_unix = wall.duration_since(UNIX_EPOCH).unwrap_or_default();
                        Duration::from_secs(exp)
                            .saturating_sub(now_unix)
                            .min(VERIFIED_TTL)
                    }
                    None => VERIFIED_TTL,
                };
                if ttl.is_zero() {
                    return;
                }
                let Some(expires_at) = now.checked_add(ttl) else {
                    return;
                };
                self.refused.remove(&tag);
                self.verified.insert(tag, Some(verified), expires_at, now);
            }
            None => {
                let Some(expires_at) = now.checked_add(REFUSED_TTL) else {
                    return;
                };
                self.verified.remove(&tag);
                self.refused.insert(tag, None, expires_at, now);
            }
        }
    }

    /// Forgets everything (a new policy: definition ids now mean other definitions).
    pub fn clear(&mut self) {
        self.verified.clear();
        self.refused.clear();
    }

    /// Stored entries, expired ones not yet evicted included.
    pub fn len(&self) -> usize {
        self.verified.len() + self.refused.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::cache::KeyedHasher;

    fn tag(n: u64) -> CacheTag {
        KeyedHasher::from_key([7; 32]).tag(n, "jwt", "token")
    }

    fn verified(exp: Option<u64>) -> Cached {
        let claims = match exp {
            Some(exp) => serde_json::json!({"sub": "a", "exp": exp}),
            None => serde_json::json!({"sub": "a"}),
        };
        Some(Arc::new(VerifiedToken { claims }))
    }

    #[test]
    fn verified_tokens_expire_at_exp_or_the_ttl() {
        let (now, wall) = (Instant::now(), SystemTime::now());
        let now_unix = wall.duration_since(UNIX_EPOCH).unwrap().as_secs();
        let mut cache = TokenCache::default();
        cache.insert(tag(1), verified(Some(now_unix + 10)), now, wall);
        cache.insert(tag(2), verified(None), now, wall);
        cache.insert(tag(3), verified(Some(now_unix - 1)), now, wall);
        assert!(matches!(cache.get(&tag(1), now), Some(Some(_))));
        assert!(cache.get(&tag(1), now + Duration::from_secs(11)).is_none());
        assert!(matches!(
            cache.get(&tag(2), now + Duration::from_secs(59)),
            Some(Some(_))
        ));
        assert!(cache.get(&tag(2), now + VERIFIED_TTL).is_none());
        assert!(cache.get(&tag(3), now).is_none(), "already expired");
    }

    #[test]
    fn refusals_are_short_and_bounded() {
        let (now, wall) = (Instant::now(), SystemTime::now());
        let mut cache = TokenCache::default();
        cache.insert(tag(0), verified(None), now, wall);
        for n in 1..=(MAX_TOKEN_ENTRIES as u64 + 10) {
            cache.insert(tag(n), None, now, wall);
        }
        assert!(cache.len() <= MAX_TOKEN_ENTRIES + 1);
        assert!(
            matches!(cache.get(&tag(0), now), Some(Some(_))),
            "a flood of refusals keeps the verified"
        );
        let last = tag(MAX_TOKEN_ENTRIES as u64 + 10);
        assert!(matches!(cache.get(&last, now), Some(None)));
        assert!(cache.get(&last, now + REFUSED_TTL).is_none());
        cache.clear();
        assert!(cache.is_empty());
    }
}
