//! A bounded table of expiring values keyed by [`CacheTag`]: the building block of the
//! per-core caches of JWT verifications (`auth::jwt::cache`) and identity-service answers
//! (`auth::remote::cache`).
//!
//! Must not: do IO, lock, or grow past its bound. One per worker thread, in a `RefCell`.

use crate::auth::cache::CacheTag;
use std::collections::HashMap;
use std::time::Instant;

#[derive(Debug)]
struct Entry<V> {
    value: V,
    expires_at: Instant,
}

#[derive(Debug)]
pub struct BoundedTable<V> {
    map: HashMap<CacheTag, Entry<V>>,
    max: usize,
}

impl<V: Clone> BoundedTable<V> {
    pub fn new(max: usize) -> BoundedTable<V> {
        BoundedTable {
            map: HashMap::new(),
            max,
        }
    }

    /// Inserts, first making room when full: expired entries go; if none had, the whole
    /// table goes (a table only fills under a flood of distinct keys, when every entry is
    /// as good as any other; clearing is O(1) amortised over the inserts that filled it).
    pub fn insert(&mut self, tag: CacheTag, value: V, expires_at: Instant, now: Instant) {
        if self.max == 0 {
            return;
        }
        if self.map.len() >= self.max && !self.map.contains_key(&tag) {
            self.map.retain(|_, e| e.expires_at > now);
            if self.map.len() >= self.max {
                self.map.clear();
            }
        }
        self.map.insert(tag, Entry { value, expires_at });
    }

    /// The value for `tag`, unless it expired at `now`.
    pub fn get(&self, tag: &CacheTag, now: Instant) -> Option<V> {
        let entry = self.map.get(tag)?;
        (entry.expires_at > now).then(|| entry.value.clone())
    }

    pub fn remove(&mut self, tag: &CacheTag) {
        self.map.remove(tag);
    }

    pub fn clear(&mut self) {
        self.map.clear();
    }

    /// Stored entries, expired ones not yet evicted included.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}
