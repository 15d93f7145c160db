use super::*;
use std::net::Ipv4Addr;

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
}

fn settings(per_address: u32, per_user: u32) -> AuthSettings {
    AuthSettings {
        hash_threads: Some(1),
        max_failures_per_address: per_address,
        max_failures_per_user: per_user,
        ..AuthSettings::default()
    }
}

/// Two workers of one process.
fn two_workers(settings: &AuthSettings) -> (SharedCredentials, Credentials, Credentials) {
    let shared = SharedCredentials::start(settings).expect("hashing pool");
    let metrics = || Arc::new(crate::metrics::WorkerMetrics::new(1));
    let a = Credentials::new(&shared, settings, metrics());
    let b = Credentials::new(&shared, settings, metrics());
    (shared, a, b)
}

#[test]
fn admit_is_free_until_something_is_blocked() {
    let (shared, a, _) = two_workers(&settings(20, 3));
    for _ in 0..100 {
        assert!(a.admit(ip(1), "bob", "guess").is_ok());
    }
    a.record_failure(ip(1), "bob", "guess-1");
    a.record_failure(ip(2), "bob", "guess-2");
    assert!(!shared.limiter.any_blocked());
    assert!(a.admit(ip(3), "bob", "guess").is_ok());
}

#[test]
fn failures_on_two_workers_share_one_budget_and_block_on_both() {
    let (_shared, a, b) = two_workers(&settings(20, 2));
    a.record_failure(ip(1), "bob", "guess-3");
    assert!(b.admit(ip(2), "bob", "guess").is_ok());
    b.record_failure(ip(2), "bob", "guess-4");
    for worker in [&a, &b] {
        let Err(denial) = worker.admit(ip(3), "bob", "another") else {
            panic!("bob is not blocked");
        };
        assert_eq!(denial.delay(), Some(THROTTLED_DELAY));
        let answer = denial.answer();
        assert_eq!(answer.status, 429);
        assert_eq!(answer.error_type, "too_many_requests");
        assert_eq!(answer.headers, vec![("retry-after", "5".to_string())]);
        assert!(answer.reason.contains("this user"), "{}", answer.reason);
    }
    // Another user from the same addresses is not affected.
    assert!(a.admit(ip(1), "alice", "pw").is_ok());
}

#[test]
fn known_good_credentials_pass_a_blocked_user_on_their_own_core() {
    let (_shared, a, b) = two_workers(&settings(20, 2));
    a.remember_success("bob", "right");
    a.record_failure(ip(9), "bob", "guess-5");
    a.record_failure(ip(9), "bob", "guess-6");
    assert!(a.admit(ip(1), "bob", "right").is_ok());
    assert!(a.admit(ip(1), "bob", "wrong").is_err());
    // The set is per core: the other worker has not seen bob succeed.
    assert!(b.admit(ip(1), "bob", "right").is_err());
    b.remember_success("bob", "right");
    assert!(b.admit(ip(1), "bob", "right").is_ok());
}

#[test]
fn known_good_credentials_pass_a_blocked_address() {
    let (_shared, a, _) = two_workers(&settings(2, 50));
    a.remember_success("carol", "pw");
    a.record_failure(ip(1), "x", "guess-7");
    a.record_failure(ip(1), "y", "guess-8");
    let Err(denial) = a.admit(ip(1), "dave", "pw") else {
        panic!("the address is not blocked");
    };
    let answer = denial.answer();
    assert!(answer.reason.contains("this address"), "{}", answer.reason);
    assert!(a.admit(ip(1), "carol", "pw").is_ok());
    assert!(a.admit(ip(2), "dave", "pw").is_ok());
}

#[test]
fn a_throttled_status_of_401_challenges_again() {
    let mut settings = settings(1, 50);
    settings.throttled_status = 401;
    let (_shared, a, _) = two_workers(&settings);
    a.record_failure(ip(1), "bob", "guess-9");
    let Err(denial) = a.admit(ip(1), "bob", "guess") else {
        panic!("not blocked");
    };
    assert_eq!(denial.delay(), Some(THROTTLED_DELAY));
    let answer = denial.answer();
    assert_eq!(answer.status, 401);
    assert_eq!(
        answer.headers,
        vec![("www-authenticate", "Basic realm=\"ringfence\"".to_string())]
    );
}

/// ReadonlyREST's documented vector (readonlyrest.md §3.3): `logstash:logstash`.
const PBKDF2_LOGSTASH: &str = "logstash:JltDNAoXNtc7MIBs2FYlW0o1f815ucj+bel3drdAk2yOufg2PNfQ51qr0EQ6RSkojw/DzrDLFDeXONumzwKjOA==";

#[test]
fn a_blocked_user_hashes_only_known_good_credentials() {
    use crate::auth::key::{AuthKey, KeyKind};
    let (shared, a, _) = two_workers(&settings(20, 2));
    let key = Arc::new(AuthKey::parse(KeyKind::Pbkdf2, PBKDF2_LOGSTASH).expect("valid key"));
    let pending = || Pending {
        key_id: 0,
        key: Arc::clone(&key),
        cache_ttl: None,
    };
    // Known-good through another key (a cheap one, say) before the attack.
    a.remember_success("logstash", "logstash");
    a.record_failure(ip(9), "logstash", "guess-10");
    a.record_failure(ip(9), "logstash", "guess-11");
    let mut runtime = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let guess = a
            .verify(0, pending(), "logstash".into(), "guess".into(), ip(1))
            .await;
        assert_eq!(guess.err().map(|denial| denial.status()), Some(429));
        assert_eq!(
            shared.pool.computations(),
            0,
            "a throttled guess costs no hash"
        );
        let owner = a
            .verify(0, pending(), "logstash".into(), "logstash".into(), ip(1))
            .await;
        assert_eq!(owner.ok(), Some(Verdict::Match));
        assert_eq!(shared.pool.computations(), 1);
    });
}

#[test]
fn the_same_wrong_password_again_counts_once() {
    let (shared, a, _) = two_workers(&settings(2, 50));
    for _ in 0..10 {
        a.record_failure(ip(1), "logstash", "stale");
    }
    assert!(
        !shared.limiter.any_blocked(),
        "a stale password blocked its client"
    );
    a.record_failure(ip(1), "logstash", "another");
    assert!(shared.limiter.any_blocked());
}

#[test]
fn verified_tokens_are_remembered_per_policy() {
    use crate::auth::jwt::{ClaimPath, JwtClaims, SignatureFamily};
    let (_shared, a, _) = two_workers(&settings(20, 3));
    let claims = JwtClaims {
        user_claim: Some(ClaimPath::parse("sub").unwrap()),
        ..JwtClaims::default()
    };
    let secret = "a-shared-secret-of-at-least-32-bytes!";
    let definition = JwtDefinition::new("j".into(), 1, SignatureFamily::Hmac, secret, claims)
        .expect("an HMAC definition");
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &serde_json::json!({"sub": "alice"}),
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap();
    let verified = a.verifier(1).jwt(&definition, &token).expect("verified");
    assert_eq!(verified.claims["sub"], "alice");
    assert!(a.verifier(1).jwt(&definition, "not.a.token").is_none());
    assert_eq!(a.tokens.borrow().len(), 2, "one verified, one refused");
    let again = a
        .verifier(1)
        .jwt(&definition, &token)
        .expect("from the cache");
    assert!(Arc::ptr_eq(&verified, &again), "the cached verification");
    // A new policy: definition numbers mean other definitions now.
    a.verifier(2);
    assert!(a.tokens.borrow().is_empty());
}
