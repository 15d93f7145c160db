//! Expensive credentials through the gateway: ReadonlyREST's hashes verify, the per-core
//! cache makes repeats free, concurrent first requests share one hash, a reload empties the
//! cache, and a flood of wrong passwords is throttled while cached users keep working.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};
use support::*;

/// ReadonlyREST's documented vectors (readonlyrest.md §3.3).
const UNIX_TEST: &str = "test:$6$rounds=65535$d07dnv4N$QeErsDT9Mz.ZoEPXW3dwQGL7tzwRz.eOrTBepIwfGEwdUAYSy/NirGoOaNyPx8lqiR6DYRSsDzVvVbhP4Y9wf0";
const PBKDF2_LOGSTASH: &str = "logstash:JltDNAoXNtc7MIBs2FYlW0o1f815ucj+bel3drdAk2yOufg2PNfQ51qr0EQ6RSkojw/DzrDLFDeXONumzwKjOA==";

fn policy() -> String {
    format!(
        "  access_control_rules:\n  - name: unix\n    auth_key_unix: \"{UNIX_TEST}\"\n  - name: pbkdf2\n    auth_key_pbkdf2: \"{PBKDF2_LOGSTASH}\"\n"
    )
}

fn get(addr: std::net::SocketAddr, user: &str, password: &str) -> Response {
    use base64::Engine;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    roundtrip(
        addr,
        format!("GET / HTTP/1.1\r\nHost: es\r\nAuthorization: Basic {token}\r\n\r\n").as_bytes(),
    )
}

#[test]
fn ror_hashes_verify_and_repeats_hit_the_cache() {
    let upstream = StubUpstream::echo();
    let gateway = start_gateway("vectors", &upstream.url(), &policy(), "");
    let addr = gateway.local_addrs()[0];
    assert_eq!(get(addr, "test", "test").status, 200);
    assert_eq!(get(addr, "logstash", "logstash").status, 200);
    assert_eq!(gateway.hash_computations(), 2);
    for _ in 0..20 {
        assert_eq!(get(addr, "test", "test").status, 200);
        assert_eq!(get(addr, "logstash", "logstash").status, 200);
    }
    assert_eq!(
        gateway.hash_computations(),
        2,
        "cached verdicts cost no hash"
    );
    // A wrong password is hashed once, then answered from the negative cache.
    assert_eq!(get(addr, "test", "wrong").status, 401);
    assert_eq!(get(addr, "test", "wrong").status, 401);
    assert_eq!(gateway.hash_computations(), 3);
    // A wrong user for a `user:hash` key is refused before any hashing.
    assert_eq!(get(addr, "nobody", "test").status, 401);
    assert_eq!(gateway.hash_computations(), 3);
}

#[test]
fn concurrent_first_requests_share_one_hash() {
    let upstream = StubUpstream::echo();
    let gateway = start_gateway(
        "single-flight",
        &upstream.url(),
        &policy(),
        "  workers: 2\n",
    );
    let addr = gateway.local_addrs()[0];
    let clients: Vec<_> = (0..16)
        .map(|_| std::thread::spawn(move || get(addr, "test", "test").status))
        .collect();
    for client in clients {
        assert_eq!(client.join().unwrap(), 200);
    }
    assert_eq!(gateway.hash_computations(), 1);
}

#[test]
fn cache_entries_expire_and_reload_empties_the_cache() {
    let upstream = StubUpstream::echo();
    let auth = "  auth:\n    cache_ttl_ms: 300\n";
    let path = config_file("expiry", &upstream.url(), &policy(), auth);
    let config = ringfence::config::Config::load(&path).unwrap();
    let store = Arc::new(ringfence::snapshot::PolicyStore::new(
        ringfence::snapshot::Snapshot::load(&config.policy_source, 1).unwrap(),
    ));
    let gateway = ringfence::runtime::Gateway::start(&config.gateway, Arc::clone(&store)).unwrap();
    let addr = gateway.local_addrs()[0];
    assert_eq!(get(addr, "test", "test").status, 200);
    assert_eq!(get(addr, "test", "test").status, 200);
    assert_eq!(gateway.hash_computations(), 1);
    std::thread::sleep(Duration::from_millis(400));
    // Expired: still accepted at once (it matched under this policy), re-verified behind.
    assert_eq!(get(addr, "test", "test").status, 200);
    let deadline = Instant::now() + Duration::from_secs(5);
    while gateway.hash_computations() < 2 {
        assert!(
            Instant::now() < deadline,
            "no re-verification after the TTL"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // A password that never matched gets no such grace.
    assert_eq!(get(addr, "test", "other").status, 401);
    assert_eq!(gateway.hash_computations(), 3);
    store.reload(&config.policy_source).unwrap();
    assert_eq!(get(addr, "test", "test").status, 200);
    assert_eq!(
        gateway.hash_computations(),
        4,
        "a new policy starts with an empty cache"
    );
}

#[test]
fn random_credential_flood_is_throttled_but_cached_users_keep_working() {
    let upstream = StubUpstream::echo();
    let auth = "  auth:\n    max_failures_per_address: 5\n    max_failures_per_user: 1000\n";
    let gateway = start_gateway("flood", &upstream.url(), &policy(), auth);
    let addr = gateway.local_addrs()[0];
    assert_eq!(get(addr, "test", "test").status, 200);
    let statuses: Vec<u16> = (0..5)
        .map(|i| get(addr, "test", &format!("guess-{i}")).status)
        .collect();
    assert_eq!(statuses, [401; 5]);
    // Over the limit: 429 with Retry-After, held back for a second (a tarpit), no hash.
    let started = Instant::now();
    let throttled: Vec<_> = (5..9)
        .map(|i| std::thread::spawn(move || get(addr, "test", &format!("guess-{i}"))))
        .collect();
    for response in throttled {
        let response = response.join().unwrap();
        assert_eq!(response.status, 429);
        assert!(response.header("retry-after").is_some());
        assert_eq!(response.json()["error"]["type"], "too_many_requests");
    }
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        gateway.hash_computations(),
        6,
        "throttled guesses cost no hash"
    );
    // The valid user, from the same address, is served from the cache.
    let started = Instant::now();
    assert_eq!(get(addr, "test", "test").status, 200);
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[test]
fn a_full_pool_answers_503_at_once() {
    let upstream = StubUpstream::echo();
    let auth = "  auth:\n    hash_threads: 1\n    max_pending_hashes: 1\n    max_failures_per_address: 0\n";
    let gateway = start_gateway("busy", &upstream.url(), &policy(), auth);
    let addr = gateway.local_addrs()[0];
    let clients: Vec<_> = (0..6)
        .map(|i| std::thread::spawn(move || get(addr, "test", &format!("distinct-{i}")).status))
        .collect();
    let statuses: Vec<u16> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    assert!(statuses.contains(&503), "{statuses:?}");
    assert!(
        statuses.iter().all(|&s| s == 503 || s == 401),
        "{statuses:?}"
    );
}

#[test]
fn no_caching_still_decides_and_many_keys_do_not_lock_users_out() {
    // Nine full-form PBKDF2 keys (no user name: every one must be tried) and no cache at
    // all: the ninth user still gets in, every time, and is never throttled for the eight
    // keys that were not theirs.
    let upstream = StubUpstream::echo();
    let mut acl = String::from("  access_control_rules:\n");
    for i in 0..9 {
        let line = pbkdf2_full(&format!("user{i}"), &format!("pw{i}"));
        acl.push_str(&format!(
            "  - name: k{i}\n    auth_key_pbkdf2: \"{line}\"\n"
        ));
    }
    let auth = "  auth:\n    cache_ttl_ms: 0\n    negative_cache_ttl_ms: 0\n    max_failures_per_address: 5\n";
    let gateway = start_gateway("no-cache", &upstream.url(), &acl, auth);
    let addr = gateway.local_addrs()[0];
    for _ in 0..4 {
        assert_eq!(get(addr, "user8", "pw8").status, 200);
    }
    assert_eq!(get(addr, "user8", "wrong").status, 401);
}

/// The full-form `auth_key_pbkdf2` value for `user:password` (PBKDF2-HMAC-SHA512, 10 000
/// rounds, the input as its own salt, as ReadonlyREST computes it).
fn pbkdf2_full(user: &str, password: &str) -> String {
    use base64::Engine;
    let input = format!("{user}:{password}");
    let mut key = [0u8; 64];
    pbkdf2::pbkdf2_hmac::<sha2::Sha512>(input.as_bytes(), input.as_bytes(), 10_000, &mut key);
    base64::engine::general_purpose::STANDARD.encode(key)
}

#[test]
fn a_hash_running_across_a_reload_is_not_cached_for_the_new_policy() {
    // A deliberately slow hash (999 999 rounds) so the reload lands while it runs.
    const OLD: &str = "u:$6$rounds=999999$saltsalt$K2mpvgWa3bjcWrCfFzHvnqDdgfU4OR4jEoitJwxyHTVTBjIohbT3YHZ.x2yUoWZjyUREspVFblGfPInSpmhom.";
    const NEW: &str = "u:$6$rounds=999999$saltsalt$cH443zxIZv/s5.GwK8zbr.EfdsdJLm35PIjYEYvvV/jsBzJX9F10BKDHlAl0h.l6pnQ4hdNBxOgdboD8qrbTv0";
    let upstream = StubUpstream::echo();
    let dir = std::env::temp_dir().join(format!("ringfence-rotation-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let acl = |hash: &str| {
        format!(
            "readonlyrest:\n  access_control_rules:\n  - name: u\n    auth_key_unix: \"{hash}\"\n"
        )
    };
    std::fs::write(dir.join("readonlyrest.yml"), acl(OLD)).unwrap();
    let config_path = dir.join("gateway.yml");
    std::fs::write(
        &config_path,
        format!("gateway:\n  listen: 127.0.0.1:0\n  upstreams: [\"{}\"]\n  workers: 1\n  metadata_refresh_ms: 0\n  acl_file: readonlyrest.yml\n", upstream.url()),
    )
    .unwrap();
    let config = ringfence::config::Config::load(&config_path).unwrap();
    let store = Arc::new(ringfence::snapshot::PolicyStore::new(
        ringfence::snapshot::Snapshot::load(&config.policy_source, 1).unwrap(),
    ));
    let gateway = ringfence::runtime::Gateway::start(&config.gateway, Arc::clone(&store)).unwrap();
    let addr = gateway.local_addrs()[0];
    let during = std::thread::spawn(move || get(addr, "u", "old-pw").status);
    std::thread::sleep(Duration::from_millis(50));
    std::fs::write(dir.join("readonlyrest.yml"), acl(NEW)).unwrap();
    store.reload(&config.policy_source).unwrap();
    // Decided under the policy it started with.
    assert_eq!(during.join().unwrap(), 200);
    // The rotated password no longer works, and the new one does.
    assert_eq!(get(addr, "u", "old-pw").status, 401);
    assert_eq!(get(addr, "u", "new-pw").status, 200);
}
