use super::*;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::atomic::Ordering;

const SEC: Duration = Duration::from_secs(1);

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
}

fn small() -> ThrottleSettings {
    ThrottleSettings {
        window: 60 * SEC,
        max_failures_per_address: 3,
        max_failures_per_user: 5,
        initial_backoff: SEC,
        max_backoff: 10 * SEC,
        max_addresses: 100,
        max_users: 100,
    }
}

fn blocked(scope: ThrottleScope, retry_after: Duration) -> Result<(), Throttled> {
    Err(Throttled { retry_after, scope })
}

#[test]
fn address_is_blocked_at_its_limit() {
    let t0 = Instant::now();
    let limiter = SharedLimiter::new(small());
    for n in 0..2 {
        limiter.record_failure(ip(1), Some(&format!("user{n}")), t0);
        assert_eq!(limiter.check(ip(1), Some("anyone"), t0), Ok(()));
    }
    limiter.record_failure(ip(1), Some("user2"), t0);
    assert_eq!(
        limiter.check(ip(1), Some("anyone"), t0),
        blocked(ThrottleScope::Address, SEC)
    );
    assert_eq!(
        limiter.check(ip(1), None, t0 + SEC / 2),
        blocked(ThrottleScope::Address, SEC / 2)
    );
    assert_eq!(limiter.check(ip(2), Some("anyone"), t0), Ok(()));
    assert_eq!(limiter.check(ip(1), Some("anyone"), t0 + SEC), Ok(()));
}

#[test]
fn user_is_blocked_at_its_limit_from_any_address() {
    let t0 = Instant::now();
    let limiter = SharedLimiter::new(small());
    for n in 0..5 {
        assert_eq!(limiter.check(ip(n), Some("bob"), t0), Ok(()));
        limiter.record_failure(ip(n), Some("bob"), t0);
    }
    assert_eq!(
        limiter.check(ip(99), Some("bob"), t0),
        blocked(ThrottleScope::User, SEC)
    );
    assert_eq!(limiter.check(ip(99), Some("alice"), t0), Ok(()));
    assert_eq!(limiter.check(ip(99), None, t0), Ok(()));
}

#[test]
fn the_longer_block_is_reported() {
    let t0 = Instant::now();
    let mut s = small();
    s.max_failures_per_address = 1;
    s.max_failures_per_user = 1;
    let limiter = SharedLimiter::new(s);
    limiter.record_failure(ip(1), Some("bob"), t0);
    // Second round: both escalate to 2 s (equal waits report the address) ...
    limiter.record_failure(ip(1), Some("carol"), t0 + SEC);
    limiter.record_failure(ip(2), Some("bob"), t0 + SEC);
    let now = t0 + SEC;
    assert_eq!(
        limiter.check(ip(1), Some("bob"), now),
        blocked(ThrottleScope::Address, 2 * SEC)
    );
    assert_eq!(
        limiter.check(ip(3), Some("bob"), now),
        blocked(ThrottleScope::User, 2 * SEC)
    );
    // ... then only bob fails again: 4 s, longer than the address's block.
    limiter.record_failure(ip(4), Some("bob"), now + 2 * SEC);
    let now = now + 2 * SEC;
    assert_eq!(
        limiter.check(ip(1), Some("bob"), now),
        blocked(ThrottleScope::User, 4 * SEC)
    );
}

#[test]
fn backoff_doubles_up_to_the_cap_then_resets_after_a_quiet_window() {
    let mut now = Instant::now();
    let limiter = SharedLimiter::new(small());
    for _ in 0..3 {
        limiter.record_failure(ip(1), None, now);
    }
    let mut expected = vec![];
    let mut seen = vec![];
    for round in 0..6u32 {
        let Err(throttled) = limiter.check(ip(1), None, now) else {
            panic!("round {round}: not blocked");
        };
        seen.push(throttled.retry_after);
        expected.push((SEC * 2u32.pow(round)).min(10 * SEC));
        // Wait the block out; one more failure blocks again, twice as long.
        now += throttled.retry_after;
        assert_eq!(limiter.check(ip(1), None, now), Ok(()));
        limiter.record_failure(ip(1), None, now);
    }
    assert_eq!(seen, expected);
    // A window without failures after the last (10 s) block forgets everything:
    // the next failures count from zero and the first block is short again.
    now += 10 * SEC + 60 * SEC;
    for _ in 0..2 {
        limiter.record_failure(ip(1), None, now);
        assert_eq!(limiter.check(ip(1), None, now), Ok(()));
    }
    limiter.record_failure(ip(1), None, now);
    assert_eq!(
        limiter.check(ip(1), None, now),
        blocked(ThrottleScope::Address, SEC)
    );
}

#[test]
fn failures_spread_over_windows_never_block() {
    let t0 = Instant::now();
    let limiter = SharedLimiter::new(small());
    for window in 0..10u32 {
        let now = t0 + window * 61 * SEC;
        limiter.record_failure(ip(1), Some("bob"), now);
        limiter.record_failure(ip(1), Some("bob"), now);
        assert_eq!(limiter.check(ip(1), Some("bob"), now), Ok(()));
    }
}

#[test]
fn failures_while_blocked_are_ignored() {
    let t0 = Instant::now();
    let limiter = SharedLimiter::new(small());
    for _ in 0..3 {
        limiter.record_failure(ip(1), None, t0);
    }
    // Late results of checks admitted before the block: no escalation.
    for _ in 0..10 {
        limiter.record_failure(ip(1), None, t0 + SEC / 2);
    }
    assert_eq!(
        limiter.check(ip(1), None, t0),
        blocked(ThrottleScope::Address, SEC)
    );
    assert_eq!(limiter.check(ip(1), None, t0 + SEC), Ok(()));
}

#[test]
fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
    let t0 = Instant::now();
    let limiter = SharedLimiter::new(small());
    let net = |host: u16| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 2, host, host, host, host));
    for host in 0..3 {
        limiter.record_failure(net(host), None, t0);
    }
    assert!(limiter.check(net(1000), None, t0).is_err());
    let other = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 3, 0, 0, 0, 1));
    assert_eq!(limiter.check(other, None, t0), Ok(()));

    for _ in 0..3 {
        limiter.record_failure(ip(7), None, t0);
    }
    let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 7).to_ipv6_mapped());
    assert!(limiter.check(mapped, None, t0).is_err());
}

#[test]
fn zero_limits_disable_a_scope() {
    let t0 = Instant::now();
    let mut s = small();
    s.max_failures_per_address = 0;
    s.max_failures_per_user = 0;
    let limiter = SharedLimiter::new(s);
    for _ in 0..100 {
        limiter.record_failure(ip(1), Some("bob"), t0);
    }
    assert_eq!(limiter.check(ip(1), Some("bob"), t0), Ok(()));
    assert_eq!(limiter.tracked(), (0, 0));
}

#[test]
fn huge_durations_do_not_panic() {
    let t0 = Instant::now();
    let mut s = small();
    s.initial_backoff = Duration::MAX;
    s.max_backoff = Duration::MAX;
    s.window = Duration::MAX;
    let limiter = SharedLimiter::new(s);
    for _ in 0..10 {
        limiter.record_failure(ip(1), Some("bob"), t0);
    }
    assert!(limiter.check(ip(1), Some("bob"), t0 + 1000 * SEC).is_err());
}

#[test]
fn memory_stays_bounded_and_floods_evict_their_own_entries_first() {
    let t0 = Instant::now();
    let s = ThrottleSettings {
        max_addresses: 1_000,
        max_users: 1_000,
        ..ThrottleSettings::default()
    };
    let limiter = SharedLimiter::new(s);
    let attacked = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));
    for _ in 0..s.max_failures_per_address {
        limiter.record_failure(attacked, Some("admin"), t0);
    }
    for _ in s.max_failures_per_address..s.max_failures_per_user {
        limiter.record_failure(ip(1), Some("admin"), t0);
    }
    assert!(limiter.check(attacked, None, t0).is_err());
    assert!(limiter.check(ip(2), Some("admin"), t0).is_err());

    // 100,000 distinct addresses and usernames, one failure each, within the window.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for n in 0..100_000u32 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let addr = IpAddr::V4(Ipv4Addr::from((state >> 32) as u32 | 0x0100_0000));
        let now = t0 + Duration::from_micros(u64::from(n) * 100);
        limiter.record_failure(addr, Some(&format!("u{state:x}")), now);
        let (addresses, users) = limiter.tracked();
        assert!(addresses <= 1_000 && users <= 1_000, "{addresses} {users}");
    }
    let now = t0 + 2 * SEC;
    assert!(limiter.check(attacked, None, now).is_err());
    assert!(limiter.check(ip(2), Some("admin"), now).is_err());
}

#[test]
fn idle_entries_are_forgotten_when_room_is_needed() {
    let t0 = Instant::now();
    let mut s = small();
    s.max_addresses = 10;
    let limiter = SharedLimiter::new(s);
    for n in 0..10 {
        limiter.record_failure(ip(n), None, t0);
    }
    // Everything is idle a window later: one sweep empties the table.
    limiter.record_failure(ip(200), None, t0 + 61 * SEC);
    assert_eq!(limiter.tracked().0, 1);
}

#[test]
fn defaults_are_the_documented_ones() {
    let s = ThrottleSettings::default();
    assert_eq!(s.max_failures_per_address, 20);
    assert_eq!(s.max_failures_per_user, 50);
    assert_eq!(s.window, 60 * SEC);
    let limit = Limit::new(&s, 20);
    let steps: Vec<u64> = (0..10).map(|l| limit.backoff(l).as_secs()).collect();
    assert_eq!(steps, [5, 10, 20, 40, 80, 160, 320, 640, 900, 900]);
    assert_eq!(limit.backoff(u32::MAX), 15 * 60 * SEC);
}

/// Shard locks taken so far.
fn locks(limiter: &SharedLimiter) -> usize {
    limiter.locks.load(Ordering::Relaxed)
}

#[test]
fn the_limiter_is_shared_between_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<SharedLimiter>();
}

#[test]
fn failures_from_several_threads_add_up_to_one_budget() {
    let t0 = Instant::now();
    let mut s = small();
    s.max_failures_per_user = 1_000;
    s.max_failures_per_address = 0;
    let limiter = SharedLimiter::new(s);
    // 999 failures from three threads: one short of the limit.
    std::thread::scope(|scope| {
        for thread in 0..3u8 {
            let limiter = &limiter;
            scope.spawn(move || {
                for _ in 0..333 {
                    limiter.record_failure(ip(thread), Some("bob"), t0);
                }
            });
        }
    });
    assert_eq!(limiter.check(ip(9), Some("bob"), t0), Ok(()));
    std::thread::scope(|scope| {
        scope.spawn(|| limiter.record_failure(ip(3), Some("bob"), t0));
    });
    // Blocked for every thread, whichever recorded the failures.
    std::thread::scope(|scope| {
        for thread in 0..4u8 {
            let limiter = &limiter;
            scope.spawn(move || {
                assert_eq!(
                    limiter.check(ip(thread), Some("bob"), t0),
                    blocked(ThrottleScope::User, SEC)
                );
            });
        }
    });
}

#[test]
fn checks_lock_nothing_while_nothing_is_blocked() {
    let t0 = Instant::now();
    let limiter = SharedLimiter::new(small());
    assert!(!limiter.any_blocked());
    // Failures below every limit lock (to count) but block nothing.
    limiter.record_failure(ip(1), Some("bob"), t0);
    limiter.record_failure(ip(1), Some("bob"), t0);
    assert!(!limiter.any_blocked());
    let before = locks(&limiter);
    for n in 0..100 {
        assert_eq!(limiter.check(ip(n), Some("bob"), t0), Ok(()));
    }
    assert_eq!(locks(&limiter), before);

    // A block: checks lock while it lasts ...
    limiter.record_failure(ip(1), Some("bob"), t0);
    assert!(limiter.any_blocked());
    assert!(limiter.check(ip(1), None, t0).is_err());
    assert!(locks(&limiter) > before);
    // ... and once it is over, the first check finds so without a lock and marks the
    // limiter quiet again.
    let before = locks(&limiter);
    assert_eq!(limiter.check(ip(1), Some("bob"), t0 + 2 * SEC), Ok(()));
    assert!(!limiter.any_blocked());
    assert_eq!(limiter.check(ip(1), Some("bob"), t0 + 3 * SEC), Ok(()));
    assert_eq!(locks(&limiter), before);

    // A new block marks it again.
    for _ in 0..3 {
        limiter.record_failure(ip(2), None, t0 + 3 * SEC);
    }
    assert!(limiter.any_blocked());
    assert!(limiter.check(ip(2), None, t0 + 3 * SEC).is_err());
}

#[test]
fn only_a_shard_with_a_current_block_is_locked() {
    let t0 = Instant::now();
    let s = ThrottleSettings {
        max_failures_per_address: 1,
        ..ThrottleSettings::default()
    };
    let limiter = SharedLimiter::new(s);
    assert_eq!(limiter.addresses.all.len(), SHARDS);
    limiter.record_failure(ip(1), None, t0);
    let attacked = limiter.addresses.of(&address_key(ip(1)));
    let elsewhere = (2..=255)
        .map(ip)
        .find(|other| !std::ptr::eq(limiter.addresses.of(&address_key(*other)), attacked))
        .expect("16 shards: some address lands in another one");
    let before = locks(&limiter);
    assert_eq!(limiter.check(elsewhere, None, t0), Ok(()));
    assert_eq!(locks(&limiter), before);
    assert!(limiter.check(ip(1), None, t0).is_err());
    assert_eq!(locks(&limiter), before + 1);
}

#[test]
fn a_block_before_the_limiter_was_made_still_counts() {
    // Injected instants may precede the limiter's own origin (ticks saturate at 0).
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_millis(2));
    let mut s = small();
    s.initial_backoff = Duration::from_millis(1);
    let limiter = SharedLimiter::new(s);
    for _ in 0..3 {
        limiter.record_failure(ip(1), None, t0);
    }
    assert!(limiter.check(ip(1), None, t0).is_err());
    assert_eq!(limiter.check(ip(1), None, t0 + SEC), Ok(()));
}

#[test]
fn a_poisoned_shard_keeps_counting() {
    let t0 = Instant::now();
    let limiter = SharedLimiter::new(small());
    assert_eq!(limiter.addresses.all.len(), 1);
    let panicked = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                let _guard = limiter.addresses.all[0].tallies.lock();
                panic!("poisoning the shard on purpose");
            })
            .join()
    });
    assert!(panicked.is_err());
    assert!(limiter.addresses.all[0].tallies.is_poisoned());
    for _ in 0..3 {
        limiter.record_failure(ip(1), None, t0);
    }
    assert!(limiter.check(ip(1), None, t0).is_err());
    assert_eq!(limiter.tracked(), (1, 0));
}

#[test]
fn shards_share_the_bound_exactly() {
    for max in [0, 1, 10, 63, 64, 1_000, 1_025, 10_000] {
        let shards = Shards::<u64>::new(max);
        let total: usize = shards
            .all
            .iter()
            .map(|shard| shard.tallies.lock().map_or(0, |t| t.max))
            .sum();
        assert_eq!(total, max, "max {max}");
        assert!(shards.all.len() <= SHARDS);
        assert!(max < MIN_TALLIES_PER_SHARD || max / shards.all.len() >= MIN_TALLIES_PER_SHARD);
    }
}

#[test]
fn known_good_credentials_expire_unless_used() {
    let t0 = Instant::now();
    let mut known = KnownGood::new(100, 60 * SEC);
    let bob = known.fingerprint("bob", "secret");
    assert!(!known.contains(bob, t0));
    known.insert(bob, t0);
    assert!(known.contains(bob, t0 + 59 * SEC));
    assert!(!known.contains(known.fingerprint("bob", "Secret"), t0));
    assert!(!known.contains(known.fingerprint("bobs", "ecret"), t0));
    // Each success extends the entry.
    known.insert(bob, t0 + 50 * SEC);
    assert!(known.contains(bob, t0 + 100 * SEC));
    assert!(!known.contains(bob, t0 + 110 * SEC));
    assert_eq!(format!("{bob:?}"), "Fingerprint(***)");
}

#[test]
fn known_good_stays_bounded_and_keeps_credentials_in_use() {
    let t0 = Instant::now();
    let mut known = KnownGood::new(100, KNOWN_GOOD_TTL);
    let owner = known.fingerprint("owner", "pw");
    for n in 0..10_000u32 {
        let now = t0 + Duration::from_millis(u64::from(n));
        if n % 50 == 0 {
            known.insert(owner, now);
        }
        let other = known.fingerprint(&format!("user{n}"), "pw");
        known.insert(other, now);
        assert!(known.len() <= 100, "{}", known.len());
    }
    let now = t0 + 10 * SEC;
    assert!(known.contains(owner, now));
    // The newest entries are there, the oldest were evicted.
    assert!(known.contains(known.fingerprint("user9999", "pw"), now));
    assert!(!known.contains(known.fingerprint("user0", "pw"), now));
}

#[test]
fn a_full_known_good_set_drops_expired_entries_first() {
    let t0 = Instant::now();
    let mut known = KnownGood::new(8, 10 * SEC);
    for n in 0..8 {
        known.insert(known.fingerprint(&format!("old{n}"), "pw"), t0);
    }
    known.insert(known.fingerprint("new", "pw"), t0 + 11 * SEC);
    assert_eq!(known.len(), 1);
    let mut nothing = KnownGood::new(0, KNOWN_GOOD_TTL);
    nothing.insert(nothing.fingerprint("bob", "pw"), t0);
    assert!(nothing.is_empty());
}
