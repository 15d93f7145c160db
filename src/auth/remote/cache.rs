//! Per-core cache of identity-service answers, keyed by a secret-keyed tag of the
//! question (service, user and password: the password itself is never kept).
//!
//! Owns: [`AnswerCache`] (one per worker thread, in a `RefCell`, no locks).
//!
//! Bounded, unlike ReadonlyREST's: users the service knew and everything else live in
//! separately bounded tables, so a flood of wrong passwords can never push a good user
//! out. A known user is kept for the rule's or the service's `cache_ttl`, else
//! [`DEFAULT_KNOWN_TTL`]; a rejection for [`REJECTED_TTL`] (a client with a stale
//! password asks the directory once per core per period, and a password just changed
//! in the directory works soon); "unavailable" for [`UNAVAILABLE_TTL`] (the circuit
//! breaker decides when to try again; this only spares the service's queue).

use super::{Answer, Unavailable};
use crate::auth::bounded::BoundedTable;
use crate::auth::cache::CacheTag;
use std::time::{Duration, Instant};

/// A known user's answer, when neither the rule nor the service sets `cache_ttl`.
pub const DEFAULT_KNOWN_TTL: Duration = Duration::from_secs(60);
pub const REJECTED_TTL: Duration = Duration::from_secs(5);
pub const UNAVAILABLE_TTL: Duration = Duration::from_secs(1);
/// Per core and per table. A known answer holds a user's group ids (typically well under
/// a kilobyte), so a full table stays within a few MiB.
pub const MAX_ANSWER_ENTRIES: usize = 10_000;

pub type Cached = Result<Answer, Unavailable>;

/// One worker's answers.
#[derive(Debug)]
pub struct AnswerCache {
    known: BoundedTable<Cached>,
    other: BoundedTable<Cached>,
}

impl Default for AnswerCache {
    fn default() -> AnswerCache {
        AnswerCache {
            known: BoundedTable::new(MAX_ANSWER_ENTRIES),
            other: BoundedTable::new(MAX_ANSWER_ENTRIES),
        }
    }
}

impl AnswerCache {
    pub fn get(&self, tag: &CacheTag, now: Instant) -> Option<Cached> {
        self.known
            .get(tag, now)
            .or_else(|| self.other.get(tag, now))
    }

    /// Remembers an answer given at `now`; `known_ttl` is how long a known user's answer
    /// is good for (`None`: [`DEFAULT_KNOWN_TTL`]; zero: not cached).
    pub fn insert(
        &mut self,
        tag: CacheTag,
        answer: Cached,
        known_ttl: Option<Duration>,
        now: Instant,
    ) {
        let (table, other, ttl) = match &answer {
            Ok(Answer::Known { .. }) => (
                &mut self.known,
                &mut self.other,
                known_ttl.unwrap_or(DEFAULT_KNOWN_TTL),
            ),
            Ok(Answer::Rejected) => (&mut self.other, &mut self.known, REJECTED_TTL),
            Err(_) => (&mut self.other, &mut self.known, UNAVAILABLE_TTL),
        };
        other.remove(&tag);
        if ttl.is_zero() {
            table.remove(&tag);
            return;
        }
        if let Some(expires_at) = now.checked_add(ttl) {
            table.insert(tag, answer, expires_at, now);
        }
    }

    /// Forgets everything (a new policy: service numbers now mean other services).
    pub fn clear(&mut self) {
        self.known.clear();
        self.other.clear();
    }

    pub fn len(&self) -> usize {
        self.known.len() + self.other.len()
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
        KeyedHasher::from_key([3; 32]).tag(n, "user", "password")
    }

    fn known() -> Cached {
        Ok(Answer::Known {
            groups: vec!["g1".into()],
        })
    }

    #[test]
    fn answers_expire_by_kind() {
        let now = Instant::now();
        let mut cache = AnswerCache::default();
        cache.insert(tag(1), known(), Some(Duration::from_secs(30)), now);
        cache.insert(tag(2), Ok(Answer::Rejected), None, now);
        let down = Err(Unavailable {
            reason: "down".into(),
        });
        cache.insert(tag(3), down.clone(), None, now);
        cache.insert(tag(4), known(), None, now);
        cache.insert(tag(5), known(), Some(Duration::ZERO), now);
        assert_eq!(
            cache.get(&tag(1), now + Duration::from_secs(29)),
            Some(known())
        );
        assert_eq!(cache.get(&tag(1), now + Duration::from_secs(30)), None);
        assert_eq!(cache.get(&tag(2), now), Some(Ok(Answer::Rejected)));
        assert_eq!(cache.get(&tag(2), now + REJECTED_TTL), None);
        assert_eq!(cache.get(&tag(3), now), Some(down));
        assert_eq!(cache.get(&tag(3), now + UNAVAILABLE_TTL), None);
        assert_eq!(
            cache.get(&tag(4), now + DEFAULT_KNOWN_TTL - Duration::from_secs(1)),
            Some(known())
        );
        assert_eq!(cache.get(&tag(5), now), None, "cache_ttl 0 caches nothing");
    }

    #[test]
    fn a_flood_of_rejections_keeps_the_known_users() {
        let now = Instant::now();
        let mut cache = AnswerCache::default();
        cache.insert(tag(0), known(), None, now);
        for n in 1..=(MAX_ANSWER_ENTRIES as u64 + 10) {
            cache.insert(tag(n), Ok(Answer::Rejected), None, now);
        }
        assert!(cache.len() <= MAX_ANSWER_ENTRIES + 1);
        assert_eq!(cache.get(&tag(0), now), Some(known()));
        cache.insert(tag(0), Ok(Answer::Rejected), None, now);
        assert_eq!(
            cache.get(&tag(0), now),
            Some(Ok(Answer::Rejected)),
            "a newer answer replaces"
        );
        cache.clear();
        assert!(cache.is_empty());
    }
}
