//! CPU cost of one `AuthKey::verify` per credential scheme: what a cache miss
//! costs the hashing pool (Expensive) or the worker itself (Cheap).
//!
//! Run on a shared machine with short timings, e.g.
//! `cargo bench --bench auth_hash -- --warm-up-time 1 --measurement-time 3`.
//! The slow schemes take 10 samples (criterion's minimum), so bcrypt cost 12
//! alone needs a few seconds.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use ringfence::auth::key::{AuthKey, KeyKind, Verdict};

/// (bench name, rule, configured value); every one matches `logstash:logstash`.
/// The crypt strings were made with Python's `crypt` (libxcrypt) and the
/// reference `argon2` CLI; the rest are ReadonlyREST's test vectors.
const CASES: &[(&str, KeyKind, &str)] = &[
    ("plain", KeyKind::Plain, "logstash:logstash"),
    ("sha256_full", KeyKind::Sha256, "280ac6f756a64a80143447c980289e7e4c6918b92588c8095c7c3f049a13fbf9"),
    ("sha256_user", KeyKind::Sha256, "logstash:76cd2c0d589e224531fc6af2c5850e3c9b2aca6902d813ce598833c7c1b28bee"),
    ("sha512_user", KeyKind::Sha512, "logstash:2963e577145fb7f675c6726800691b3432020f8373cc5a3e8b30ca0856047846d10c96b7cfe64ed750637e09d7266e6eb464628995eed5368ef4780868f230ea"),
    ("pbkdf2_user", KeyKind::Pbkdf2, "logstash:JltDNAoXNtc7MIBs2FYlW0o1f815ucj+bel3drdAk2yOufg2PNfQ51qr0EQ6RSkojw/DzrDLFDeXONumzwKjOA=="),
    ("sha512crypt_5000", KeyKind::Unix, "logstash:$6$d07dnv4N$PttFn7LnWkuR38ZlouPX6VpmPVBG0Tj0Ksf.5KsAy/fXAsDwbzQWwVvqTAkx5DeuU3uqbxpzmHBLv9bp5YPbe0"),
    ("sha512crypt_65535", KeyKind::Unix, "logstash:$6$rounds=65535$d07dnv4N$jh8an.nDSXG6PZlfVh5ehigYL8.5gtV.9yoXAOYFHTQvwPWhBdEIOxnS8tpbuIAk86shjJiqxeap5o0A1PoFI/"),
    ("sha256crypt_5000", KeyKind::Unix, "logstash:$5$d07dnv4N$CxCja0TjzhB56MFfKudIWCO5unhNMnpNphLQ25LTOw2"),
    ("md5crypt", KeyKind::Unix, "logstash:$1$d07dnv4N$.cOGTiJYGFq46kdHQrpIm0"),
    ("bcrypt_10", KeyKind::Unix, "logstash:$2b$10$ringfencebenchsaltxxxuHoWt.s7aSeVWuBQ1M8SpuKmrbHpaBJm"),
    ("bcrypt_12", KeyKind::Unix, "logstash:$2b$12$ringfencebenchsaltxxxu0zSYpc9H38sEHIi1XjrX4o/9s3ST97i"),
    ("argon2id_default", KeyKind::Unix, "logstash:$argon2id$v=19$m=19456,t=2,p=1$cmluZ2ZlbmNlc2FsdDAx$//H6+qj3HJg6AxqPRi3tsMU+uf8ZQgMvApQG59HVoP8"),
];

fn parse(kind: KeyKind, configured: &str) -> AuthKey {
    match AuthKey::parse(kind, configured) {
        Ok(key) => key,
        Err(e) => panic!("bench vector {configured:?}: {e}"),
    }
}

fn verify(c: &mut Criterion) {
    let mut group = c.benchmark_group("auth_key_verify");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    for &(name, kind, configured) in CASES {
        let key = parse(kind, configured);
        assert_eq!(
            key.verify(b"logstash", b"logstash"),
            Verdict::Match,
            "{name}"
        );
        group.bench_function(name, |b| {
            b.iter(|| key.verify(black_box(b"logstash"), black_box(b"logstash")))
        });
    }
    // A wrong user on a `user:<hash>` rule is rejected before any hashing.
    let unix = parse(KeyKind::Unix, CASES[6].2);
    group.bench_function("sha512crypt_65535_wrong_user", |b| {
        b.iter(|| unix.verify(black_box(b"intruder"), black_box(b"logstash")))
    });
    group.finish();
}

criterion_group!(benches, verify);
criterion_main!(benches);
