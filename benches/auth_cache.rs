//! The credential cache's hit path: what an already-verified expensive credential
//! costs per request (keyed tag + lookup), next to the ~7-20 ms a miss costs the
//! hashing pool (see `auth_hash`); and the same for an identity service's answer (an LDAP
//! or external authentication: tag + lookup + a copy of the user's groups), next to the
//! round trips to the directory a miss costs (`tuning/load/ldap.py`).
//!
//! Run on a shared machine with short timings, e.g.
//! `cargo bench --bench auth_cache -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use ringfence::auth::cache::{CacheSettings, CredentialCache, KeyedHasher};
use ringfence::auth::key::Verdict;
use ringfence::auth::remote::cache::AnswerCache;
use ringfence::auth::remote::Answer;

/// Entries in the benchmarked cache: the default positive bound, full.
const ENTRIES: u32 = 10_000;
const KEY_ID: u64 = 3;

fn user(n: u32) -> String {
    format!("logstash-{n:05}")
}

/// A typical service-account password (24 characters).
fn password(n: u32) -> String {
    format!("Zq8-pW3r-kT5v-{n:010}")
}

fn cache(c: &mut Criterion) {
    let hasher = KeyedHasher::from_key([0x5a; 32]);
    let now = Instant::now();
    let ttl = Duration::from_secs(3600);
    let mut cache = CredentialCache::new(&CacheSettings::default());
    for n in 0..ENTRIES {
        let tag = hasher.tag(KEY_ID, &user(n), &password(n));
        cache.insert(tag, Verdict::Match, ttl, now);
    }
    assert_eq!(cache.positive_len(), ENTRIES as usize);

    let (hit_user, hit_password) = (user(4242), password(4242));
    let hit_tag = hasher.tag(KEY_ID, &hit_user, &hit_password);
    let miss_tag = hasher.tag(KEY_ID, &hit_user, "not the password");
    assert_eq!(cache.get(&hit_tag, now), Some(Verdict::Match));
    assert_eq!(cache.get(&miss_tag, now), None);

    let mut group = c.benchmark_group("auth_cache");
    group.bench_function("tag", |b| {
        b.iter(|| {
            hasher.tag(
                black_box(KEY_ID),
                black_box(&hit_user),
                black_box(&hit_password),
            )
        })
    });
    group.bench_function("get_hit_10k", |b| {
        b.iter(|| cache.get(black_box(&hit_tag), black_box(now)))
    });
    group.bench_function("get_miss_10k", |b| {
        b.iter(|| cache.get(black_box(&miss_tag), black_box(now)))
    });
    group.bench_function("hit_path_tag_and_get", |b| {
        b.iter(|| {
            let tag = hasher.tag(
                black_box(KEY_ID),
                black_box(&hit_user),
                black_box(&hit_password),
            );
            cache.get(&tag, black_box(now))
        })
    });
    group.finish();
}

/// A full per-core answer cache of LDAP users, each in three groups.
fn remote_answers(c: &mut Criterion) {
    let hasher = KeyedHasher::from_key([0x5a; 32]);
    let now = Instant::now();
    let mut cache = AnswerCache::default();
    let groups = |n: u32| {
        vec![
            format!("team-{}", n % 50),
            "logstash".into(),
            "readers".into(),
        ]
    };
    for n in 0..ENTRIES {
        let tag = hasher.tag(KEY_ID, &user(n), &password(n));
        let answer = Ok(Answer::Known { groups: groups(n) });
        cache.insert(tag, answer, Some(Duration::from_secs(3600)), now);
    }
    let (hit_user, hit_password) = (user(4242), password(4242));
    let hit_tag = hasher.tag(KEY_ID, &hit_user, &hit_password);
    assert_eq!(
        cache.get(&hit_tag, now),
        Some(Ok(Answer::Known {
            groups: groups(4242)
        }))
    );
    let mut group = c.benchmark_group("remote_answers");
    group.bench_function("hit_path_tag_and_get_10k", |b| {
        b.iter(|| {
            let tag = hasher.tag(
                black_box(KEY_ID),
                black_box(&hit_user),
                black_box(&hit_password),
            );
            cache.get(&tag, black_box(now))
        })
    });
    group.finish();
}

criterion_group!(benches, cache, remote_answers);
criterion_main!(benches);
