use super::*;

const SEC: Duration = Duration::from_secs(1);

fn hasher() -> KeyedHasher {
    KeyedHasher::from_key([7; 32])
}

fn settings(max_positive: usize, max_negative: usize) -> CacheSettings {
    CacheSettings {
        max_positive,
        max_negative,
        ..CacheSettings::default()
    }
}

/// Distinct tags without hashing: the cache never looks inside them.
fn tag(n: u64) -> CacheTag {
    let mut bytes = [0; 16];
    bytes[..8].copy_from_slice(&n.to_le_bytes());
    bytes[8..].copy_from_slice(&n.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes());
    CacheTag(bytes)
}

#[test]
fn tag_depends_on_every_input_and_the_key() {
    let h = hasher();
    let base = h.tag(1, "alice", "secret");
    assert_eq!(base, h.tag(1, "alice", "secret"));
    assert_ne!(base, h.tag(2, "alice", "secret"));
    assert_ne!(base, h.tag(1, "alicf", "secret"));
    assert_ne!(base, h.tag(1, "alice", "secreu"));
    assert_ne!(
        base,
        KeyedHasher::from_key([8; 32]).tag(1, "alice", "secret")
    );
    // The user is length-prefixed: moving bytes across the boundary changes the tag.
    assert_ne!(h.tag(1, "ab", "c"), h.tag(1, "a", "bc"));
    assert_ne!(h.tag(1, "", "abc"), h.tag(1, "abc", ""));
}

#[test]
fn random_keys_differ_and_debug_hides_secrets() {
    let (a, b) = (KeyedHasher::new().unwrap(), KeyedHasher::new().unwrap());
    assert_ne!(a.tag(0, "u", "p"), b.tag(0, "u", "p"));
    assert_eq!(format!("{a:?}"), "KeyedHasher(***)");
    assert_eq!(format!("{:?}", a.tag(0, "u", "p")), "CacheTag(***)");
}

#[test]
fn tags_do_not_collide_over_many_inputs() {
    let h = hasher();
    let mut seen = std::collections::HashSet::new();
    for i in 0..20_000u32 {
        assert!(seen.insert(h.tag(u64::from(i % 7), &format!("user{}", i / 7), "pw").0));
    }
}

#[test]
fn hit_miss_and_negative_entries() {
    let now = Instant::now();
    let h = hasher();
    let mut cache = CredentialCache::new(&CacheSettings::default());
    let good = h.tag(3, "logstash", "logstash");
    let bad = h.tag(3, "logstash", "wrong");
    assert_eq!(cache.get(&good, now), None);
    cache.insert(good, Verdict::Match, 10 * SEC, now);
    cache.insert(bad, Verdict::WrongPassword, 10 * SEC, now);
    assert_eq!(cache.get(&good, now), Some(Verdict::Match));
    assert_eq!(cache.get(&bad, now), Some(Verdict::WrongPassword));
    assert_eq!(cache.get(&h.tag(4, "logstash", "logstash"), now), None);
    assert_eq!((cache.positive_len(), cache.negative_len()), (1, 1));
    assert!(cache.matched_before(&good));
    assert!(!cache.matched_before(&bad));
}

#[test]
fn entries_expire_at_their_ttl() {
    let t0 = Instant::now();
    let mut cache = CredentialCache::new(&CacheSettings::default());
    cache.insert(tag(1), Verdict::Match, 10 * SEC, t0);
    cache.insert(tag(2), Verdict::WrongPassword, 2 * SEC, t0);
    assert_eq!(cache.get(&tag(2), t0 + SEC), Some(Verdict::WrongPassword));
    assert_eq!(cache.get(&tag(2), t0 + 2 * SEC), None);
    assert_eq!(cache.get(&tag(1), t0 + 9 * SEC), Some(Verdict::Match));
    assert_eq!(cache.get(&tag(1), t0 + 10 * SEC), None);
    // Expired but remembered as known-good until the table needs the room.
    assert!(cache.matched_before(&tag(1)));
    // A refresh replaces the entry in place.
    cache.insert(tag(1), Verdict::Match, 10 * SEC, t0 + 10 * SEC);
    assert_eq!(cache.get(&tag(1), t0 + 15 * SEC), Some(Verdict::Match));
    assert_eq!(cache.positive_len(), 1);
}

#[test]
fn zero_ttl_or_zero_bound_stores_nothing() {
    let now = Instant::now();
    let mut cache = CredentialCache::new(&settings(10, 0));
    cache.insert(tag(1), Verdict::Match, Duration::ZERO, now);
    cache.insert(tag(2), Verdict::WrongPassword, 10 * SEC, now);
    assert!(cache.is_empty());
    cache.insert(tag(3), Verdict::Match, Duration::MAX, now);
    assert_eq!(cache.get(&tag(3), now + 1000 * SEC), Some(Verdict::Match));
}

#[test]
fn a_tag_lives_in_one_table() {
    let now = Instant::now();
    let mut cache = CredentialCache::new(&CacheSettings::default());
    cache.insert(tag(1), Verdict::WrongPassword, 10 * SEC, now);
    cache.insert(tag(1), Verdict::Match, 10 * SEC, now);
    assert_eq!(cache.get(&tag(1), now), Some(Verdict::Match));
    assert_eq!(cache.len(), 1);
    cache.insert(tag(1), Verdict::UserMismatch, 10 * SEC, now);
    assert_eq!(cache.get(&tag(1), now), Some(Verdict::UserMismatch));
    assert_eq!((cache.positive_len(), cache.negative_len()), (0, 1));
}

#[test]
fn negative_flood_never_evicts_valid_users() {
    let now = Instant::now();
    let mut cache = CredentialCache::new(&settings(100, 1_000));
    for user in 0..100 {
        cache.insert(tag(user), Verdict::Match, 10 * SEC, now);
    }
    for junk in 1_000..101_000 {
        cache.insert(tag(junk), Verdict::WrongPassword, 10 * SEC, now);
        assert!(cache.negative_len() <= 1_000);
    }
    for user in 0..100 {
        assert_eq!(cache.get(&tag(user), now), Some(Verdict::Match));
    }
    // The newest failure is always kept.
    assert_eq!(cache.get(&tag(100_999), now), Some(Verdict::WrongPassword));
}

#[test]
fn full_table_drops_expired_entries_first() {
    let t0 = Instant::now();
    let mut cache = CredentialCache::new(&settings(16, 16));
    for n in 0..8 {
        cache.insert(tag(n), Verdict::Match, SEC, t0);
    }
    for n in 8..16 {
        cache.insert(tag(n), Verdict::Match, 100 * SEC, t0);
    }
    cache.insert(tag(99), Verdict::Match, 100 * SEC, t0 + 2 * SEC);
    assert_eq!(cache.positive_len(), 9);
    for n in (8..16).chain([99]) {
        assert_eq!(cache.get(&tag(n), t0 + 2 * SEC), Some(Verdict::Match));
    }
    assert!(!cache.matched_before(&tag(0)));
}

#[test]
fn full_table_of_live_entries_drops_the_soonest_expiring_eighth() {
    let t0 = Instant::now();
    let mut cache = CredentialCache::new(&settings(64, 64));
    for n in 0..64 {
        cache.insert(tag(n), Verdict::Match, 100 * SEC, t0 + n as u32 * SEC);
    }
    cache.insert(tag(1_000), Verdict::Match, 100 * SEC, t0 + 64 * SEC);
    // 64 - 64/8 = 56 kept before the insert, the oldest 8 gone.
    assert_eq!(cache.positive_len(), 57);
    let now = t0 + 64 * SEC;
    for n in 0..8 {
        assert_eq!(cache.get(&tag(n), now), None, "entry {n}");
    }
    for n in (8..64).chain([1_000]) {
        assert_eq!(cache.get(&tag(n), now), Some(Verdict::Match), "entry {n}");
    }
}

#[test]
fn eviction_with_identical_expiry_removes_exactly_an_eighth() {
    let now = Instant::now();
    for max in [1, 2, 7, 8, 9, 100] {
        let mut cache = CredentialCache::new(&settings(max, max));
        for n in 0..=max as u64 {
            cache.insert(tag(n), Verdict::Match, SEC, now);
        }
        let expected = (max - max / 8).min(max - 1) + 1;
        assert_eq!(cache.positive_len(), expected, "max {max}");
        assert_eq!(cache.get(&tag(max as u64), now), Some(Verdict::Match));
    }
}

#[test]
fn clear_forgets_everything() {
    let now = Instant::now();
    let mut cache = CredentialCache::new(&CacheSettings::default());
    cache.insert(tag(1), Verdict::Match, SEC, now);
    cache.insert(tag(2), Verdict::WrongPassword, SEC, now);
    cache.clear();
    assert!(cache.is_empty());
    assert_eq!(cache.get(&tag(1), now), None);
    assert!(!cache.matched_before(&tag(1)));
}

#[test]
fn settings_pick_ttl_by_verdict() {
    let s = CacheSettings {
        ttl: 5 * SEC,
        negative_ttl: 2 * SEC,
        ..CacheSettings::default()
    };
    assert_eq!(s.ttl_for(Verdict::Match), 5 * SEC);
    assert_eq!(s.ttl_for(Verdict::WrongPassword), 2 * SEC);
    assert_eq!(s.ttl_for(Verdict::UserMismatch), 2 * SEC);
    assert_eq!(CacheSettings::default().ttl, DEFAULT_CACHE_TTL);
}
