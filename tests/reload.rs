//! Policy reloads while serving: no request fails during swaps, a broken file keeps the old
//! policy, file changes are picked up, and a gateway without a valid policy refuses all.

mod support;

use ringfence::config::{Config, PolicySource};
use ringfence::snapshot::{PolicyStore, Snapshot};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::*;

const POLICY_A: &str =
    "readonlyrest:\n  access_control_rules:\n  - name: a\n    auth_key: u:p\n    methods: [GET]\n";
const POLICY_B: &str = "readonlyrest:\n  access_control_rules:\n  - name: b\n    auth_key: u:p\n    methods: [GET, POST]\n";
const AUTH: &str = "Authorization: Basic dTpw\r\n";

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
    let (_upstream, gateway, store, source) = gateway_with_acl_file("load", POLICY_A);
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
    let path = source.path().to_path_buf();
    for i in 0..40 {
        std::fs::write(&path, if i % 2 == 0 { POLICY_B } else { POLICY_A }).unwrap();
        store.reload(&source).unwrap();
        std::thread::sleep(Duration::from_millis(10));
    }
    // A broken file is refused; the last good policy (A: GET only) keeps serving.
    std::fs::write(
        &path,
        "readonlyrest:\n  access_control_rules:\n  - name: broken\n    methodz: GET\n",
    )
    .unwrap();
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
    let post = roundtrip(
        addr,
        format!("POST /x HTTP/1.1\r\nHost: es\r\n{AUTH}Content-Length: 0\r\n\r\n").as_bytes(),
    );
    assert_eq!(post.status, 403, "policy A (GET only) is still in force");
}

#[test]
fn file_changes_are_picked_up() {
    let (_upstream, gateway, store, source) = gateway_with_acl_file("watch", POLICY_A);
    let addr = gateway.local_addrs()[0];
    ringfence::runtime::watch::start(Arc::clone(&store), source.clone(), 50).unwrap();
    let post = || {
        roundtrip(
            addr,
            format!("POST /x HTTP/1.1\r\nHost: es\r\n{AUTH}Content-Length: 0\r\n\r\n").as_bytes(),
        )
        .status
    };
    assert_eq!(post(), 403);
    std::fs::write(source.path(), POLICY_B).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while post() != 200 {
        assert!(Instant::now() < deadline, "the new file was not loaded");
        std::thread::sleep(Duration::from_millis(50));
    }
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
