//! Policy reloads while serving: no request fails during swaps, a broken file keeps the old
//! policy, file changes are picked up, and a gateway without a valid policy refuses all.

mod support;

use ringfence::config::{Config, PolicySource};
use ringfence::snapshot::{PolicyStore, Snapshot};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::*;

// A allows GET and PUT, B allows GET and POST: GET passes both, PUT only A, POST only B.
const POLICY_A: &str = "readonlyrest:\n  access_control_rules:\n  - name: a\n    auth_key: u:p\n    methods: [GET, PUT]\n";
const POLICY_B: &str = "readonlyrest:\n  access_control_rules:\n  - name: b\n    auth_key: u:p\n    methods: [GET, POST]\n";
const BROKEN: &str = "readonlyrest:\n  access_control_rules:\n  - name: broken\n    methodz: GET\n";
const AUTH: &str = "Authorization: Basic dTpw\r\n";

fn put_and_post_statuses(client: &mut Client) -> (u16, u16) {
    let mut status = |method: &str| {
        client.send(
            format!("{method} /x HTTP/1.1\r\nHost: es\r\n{AUTH}Content-Length: 0\r\n\r\n")
                .as_bytes(),
        );
        client.read_response(false).status
    };
    (status("PUT"), status("POST"))
}

/// How many requests with this method reached the upstream.
fn reached(upstream: &StubUpstream, method: &str) -> usize {
    let line = format!("{method} /x ");
    upstream
        .requests()
        .iter()
        .filter(|r| r.head_text().starts_with(&line))
        .count()
}

/// A gateway whose ACL lives in its own file, so tests can rewrite it.
fn gateway_with_acl_file(
    name: &str,
    acl: &str,
) -> (
    StubUpstream,
    ringfence::runtime::Gateway,
    Arc<PolicyStore>,
    PolicySource,
) {
    let upstream = StubUpstream::echo();
    let dir = std::env::temp_dir().join(format!("ringfence-reload-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("readonlyrest.yml"), acl).unwrap();
    let config_path = dir.join("gateway.yml");
    std::fs::write(
        &config_path,
        format!("gateway:\n  listen: 127.0.0.1:0\n  upstreams: [\"{}\"]\n  workers: 2\n  metadata_refresh_ms: 0\n  acl_file: readonlyrest.yml\n", upstream.url()),
    )
    .unwrap();
    let config = Config::load(&config_path).unwrap();
    let store = Arc::new(PolicyStore::new(
        Snapshot::load(&config.policy_source, 1).unwrap(),
    ));
    let gateway = ringfence::runtime::Gateway::start(&config.gateway, Arc::clone(&store)).unwrap();
    (upstream, gateway, store, config.policy_source)
}

#[test]
fn swaps_under_load_fail_no_request_and_broken_files_keep_the_old_policy() {
    let (upstream, gateway, store, source) = gateway_with_acl_file("load", POLICY_A);
    let addr = gateway.local_addrs()[0];
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (stop, done, failures) = (stop.clone(), done.clone(), failures.clone());
            std::thread::spawn(move || {
                let mut client = Client::connect(addr);
                while !stop.load(Ordering::Relaxed) {
                    client.send(format!("GET /x HTTP/1.1\r\nHost: es\r\n{AUTH}\r\n").as_bytes());
                    if client.read_response(false).status != 200 {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    // A kept-alive connection sees each new policy from its next request on: PUT is allowed
    // only by A, POST only by B.
    let mut probe = Client::connect(addr);
    assert_eq!(put_and_post_statuses(&mut probe), (200, 403));
    let path = source.path().to_path_buf();
    for i in 0..40 {
        let (policy, expected) = if i % 2 == 0 {
            (POLICY_B, (403, 200))
        } else {
            (POLICY_A, (200, 403))
        };
        std::fs::write(&path, policy).unwrap();
        store.reload(&source).unwrap();
        assert_eq!(
            put_and_post_statuses(&mut probe),
            expected,
            "after reload {i}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // 21 PUTs under A (the first probe and 20 reloads to A), 20 POSTs under B; the denied
    // ones never reached the upstream.
    assert_eq!(
        (reached(&upstream, "PUT"), reached(&upstream, "POST")),
        (21, 20)
    );
    // A broken file is refused; the last good policy (A) keeps serving.
    std::fs::write(&path, BROKEN).unwrap();
    let errors = store.reload(&source).unwrap_err().to_string();
    assert!(errors.contains("unknown rule `methodz`"), "{errors}");
    std::thread::sleep(Duration::from_millis(100));
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().unwrap();
    }
    assert!(
        done.load(Ordering::Relaxed) > 100,
        "only {} requests ran",
        done.load(Ordering::Relaxed)
    );
    assert_eq!(failures.load(Ordering::Relaxed), 0);
    assert_eq!(store.current().generation, 41);
    assert_eq!(
        put_and_post_statuses(&mut Client::connect(addr)),
        (200, 403),
        "policy A is still in force"
    );
    assert_eq!(
        (reached(&upstream, "PUT"), reached(&upstream, "POST")),
        (22, 20)
    );
}

#[test]
fn file_changes_are_picked_up() {
    let (upstream, gateway, store, source) = gateway_with_acl_file("watch", POLICY_A);
    let addr = gateway.local_addrs()[0];
    ringfence::runtime::watch::start(
        Arc::clone(&store),
        source.clone(),
        Duration::from_millis(50),
    )
    .unwrap();
    let statuses = || put_and_post_statuses(&mut Client::connect(addr));
    assert_eq!(statuses(), (200, 403));
    std::fs::write(source.path(), POLICY_B).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while statuses() != (403, 200) {
        assert!(Instant::now() < deadline, "the new file was not loaded");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(reached(&upstream, "POST") >= 1);
}

/// A config for the real binary whose ACL is in its own file; the file is not watched
/// (policy_watch_ms: 0), so only SIGHUP can reload it.
fn binary_with_acl_file(name: &str, upstream: &StubUpstream, acl: &str) -> (Binary, PathBuf) {
    let gateway = format!(
        "gateway:\n  listen: 127.0.0.1:0\n  upstreams: [\"{}\"]\n  workers: 2\n  metadata_refresh_ms: 0\n  policy_watch_ms: 0\n  acl_file: readonlyrest.yml\n",
        upstream.url()
    );
    let dir = test_dir(
        name,
        &[("gateway.yml", &gateway), ("readonlyrest.yml", acl)],
    );
    (
        Binary::start(&dir.join("gateway.yml")),
        dir.join("readonlyrest.yml"),
    )
}

#[test]
fn sighup_makes_the_binary_load_the_changed_policy_file() {
    let upstream = StubUpstream::echo();
    let (binary, acl) = binary_with_acl_file("sighup", &upstream, POLICY_A);
    let mut client = Client::connect(binary.addr);
    assert_eq!(put_and_post_statuses(&mut client), (200, 403));
    std::fs::write(&acl, POLICY_B).unwrap();
    // Not watched: the change alone does nothing.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(put_and_post_statuses(&mut client), (200, 403));
    binary.signal("HUP");
    let reloaded = binary.wait_for_log("policy reloaded", Duration::from_secs(5));
    assert!(reloaded.contains("trigger=\"SIGHUP\""), "{reloaded}");
    // The same kept-alive connection gets the new policy.
    assert_eq!(put_and_post_statuses(&mut client), (403, 200));
    assert_eq!(
        (reached(&upstream, "PUT"), reached(&upstream, "POST")),
        (2, 1)
    );
}

#[test]
fn sighup_with_an_invalid_policy_file_keeps_the_old_policy() {
    let upstream = StubUpstream::echo();
    let (binary, acl) = binary_with_acl_file("sighup-broken", &upstream, POLICY_A);
    let mut client = Client::connect(binary.addr);
    assert_eq!(put_and_post_statuses(&mut client), (200, 403));
    std::fs::write(&acl, BROKEN).unwrap();
    binary.signal("HUP");
    binary.wait_for_log("policy reload failed", Duration::from_secs(5));
    let cause = binary.wait_for_log("unknown rule `methodz`", Duration::from_secs(1));
    assert!(cause.contains("trigger=\"SIGHUP\""), "{cause}");
    assert_eq!(put_and_post_statuses(&mut client), (200, 403));
    assert_eq!(
        put_and_post_statuses(&mut Client::connect(binary.addr)),
        (200, 403)
    );
    // A good file after the bad one loads.
    std::fs::write(&acl, POLICY_B).unwrap();
    binary.signal("HUP");
    binary.wait_for_log("policy reloaded", Duration::from_secs(5));
    assert_eq!(put_and_post_statuses(&mut client), (403, 200));
    assert_eq!(binary.log_count("policy reloaded"), 1);
}

#[test]
fn ip_filter_drops_connections_before_reading() {
    let upstream = StubUpstream::echo();
    let denied = start_gateway(
        "ipf-deny",
        &upstream.url(),
        ALLOW_ALL,
        "  ip_filter:\n    allow: [\"10.0.0.0/8\"]\n    deny: _all\n",
    );
    let mut client = Client::connect(denied.local_addrs()[0]);
    client
        .stream
        .set_write_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let _ = std::io::Write::write_all(&mut client.stream, b"GET / HTTP/1.1\r\nHost: es\r\n\r\n");
    assert!(client.is_closed());
    let allowed = start_gateway(
        "ipf-allow",
        &upstream.url(),
        ALLOW_ALL,
        "  ip_filter:\n    allow: [\"127.0.0.1\"]\n    deny: [\"_all\"]\n",
    );
    assert_eq!(
        roundtrip(
            allowed.local_addrs()[0],
            b"GET / HTTP/1.1\r\nHost: es\r\n\r\n"
        )
        .status,
        200
    );
    assert_eq!(upstream.requests().len(), 1);
}

/// An edit followed by SIGHUP is loaded once: the watcher compares the file with what the
/// last reload read, SIGHUP's included (each load empties the credential cache).
#[test]
fn an_edit_and_a_sighup_load_the_policy_once() {
    let upstream = StubUpstream::echo();
    let gateway = format!(
        "gateway:\n  listen: 127.0.0.1:0\n  upstreams: [\"{}\"]\n  workers: 1\n  metadata_refresh_ms: 0\n  policy_watch_ms: 300\n  acl_file: readonlyrest.yml\n",
        upstream.url()
    );
    let dir = test_dir(
        "sighup-once",
        &[("gateway.yml", &gateway), ("readonlyrest.yml", POLICY_A)],
    );
    let binary = Binary::start(&dir.join("gateway.yml"));
    std::fs::write(dir.join("readonlyrest.yml"), POLICY_B).unwrap();
    binary.signal("HUP");
    binary.wait_for_log("trigger=\"SIGHUP\"", Duration::from_secs(5));
    // Several watcher ticks later, nothing was loaded after the SIGHUP's load.
    std::thread::sleep(Duration::from_millis(1500));
    let log = binary.log();
    let after_sighup = &log[log.find("trigger=\"SIGHUP\"").unwrap()..];
    assert!(
        !after_sighup.contains("trigger=\"file changed\""),
        "the watcher loaded the same file again:\n{log}"
    );
    let mut client = Client::connect(binary.addr);
    assert_eq!(put_and_post_statuses(&mut client), (403, 200));
}
