//! The admin listener over a real loopback socket.

use super::*;
use std::sync::atomic::AtomicBool;

/// Sends `request` raw and returns the status, the head and the body.
fn exchange(addr: SocketAddr, request: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    let status = head[9..12].parse().unwrap();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("Content-Length: "))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(length, body.len(), "{head}");
    (status, head.to_string(), body.to_string())
}

fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    exchange(addr, &format!("GET {path} HTTP/1.1\r\nHost: admin\r\n\r\n"))
}

/// A server on an ephemeral loopback port whose readiness follows the two flags.
fn server(policy_loaded: Arc<AtomicBool>, registry: Arc<Registry>) -> AdminServer {
    let check = Arc::clone(&registry);
    let readiness: ReadinessCheck = Arc::new(move || Readiness {
        policy_loaded: policy_loaded.load(Ordering::Relaxed),
        upstream_up: check.any_upstream_up(),
    });
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    start(listener, registry, readiness).unwrap()
}

#[test]
fn metrics_health_and_unknown_paths() {
    let registry = Arc::new(Registry::new(1, vec!["es:9200".into()]));
    registry.worker(0).throttled();
    let admin = server(Arc::new(AtomicBool::new(true)), registry);
    let addr = admin.local_addr();

    let (status, head, body) = get(addr, "/metrics?name[]=x");
    assert_eq!(status, 200);
    assert!(
        head.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8"),
        "{head}"
    );
    assert!(head.contains("Connection: close"), "{head}");
    assert!(
        body.contains("\nringfence_throttled_requests_total 1\n"),
        "{body}"
    );

    let (status, _, body) = get(addr, "/health");
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ok"}"#));
    let (status, head, body) = get(addr, "/nope");
    assert_eq!(status, 404);
    assert!(head.contains("Content-Type: application/json"), "{head}");
    assert!(body.starts_with(r#"{"error":"#), "{body}");

    let (status, head, _) = exchange(
        addr,
        "POST /metrics HTTP/1.1\r\nHost: admin\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(status, 405);
    assert!(head.contains("Allow: GET"), "{head}");
    assert_eq!(exchange(addr, "GET /metrics\r\n\r\n").0, 400);
    let huge = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(MAX_HEAD_BYTES));
    assert_eq!(exchange(addr, &huge).0, 431);
}

#[test]
fn ready_names_what_is_missing() {
    let policy_loaded = Arc::new(AtomicBool::new(false));
    let registry = Arc::new(Registry::new(1, vec!["es:9200".into()]));
    let admin = server(Arc::clone(&policy_loaded), Arc::clone(&registry));
    let addr = admin.local_addr();

    assert_eq!(
        get(addr, "/ready").2,
        r#"{"ready":false,"missing":["policy"]}"#
    );
    registry.worker(0).upstream_state(0, false);
    let (status, _, body) = get(addr, "/ready");
    assert_eq!(status, 503);
    assert_eq!(body, r#"{"ready":false,"missing":["policy","upstream"]}"#);

    policy_loaded.store(true, Ordering::Relaxed);
    assert_eq!(
        get(addr, "/ready").2,
        r#"{"ready":false,"missing":["upstream"]}"#
    );
    registry.worker(0).upstream_state(0, true);
    let (status, _, body) = get(addr, "/ready");
    assert_eq!(status, 200);
    assert_eq!(body, r#"{"ready":true}"#);
    // Liveness does not depend on readiness.
    policy_loaded.store(false, Ordering::Relaxed);
    assert_eq!(get(addr, "/health").0, 200);
}

#[test]
fn a_silent_client_is_dropped_and_the_next_one_served() {
    let registry = Arc::new(Registry::new(1, Vec::new()));
    let admin = server(Arc::new(AtomicBool::new(true)), registry);
    let addr = admin.local_addr();
    let started = Instant::now();
    let mut silent = TcpStream::connect(addr).unwrap();
    silent.write_all(b"GET /metr").unwrap();
    assert_eq!(get(addr, "/health").0, 200);
    let waited = started.elapsed();
    assert!(
        waited >= CLIENT_DEADLINE - Duration::from_millis(100),
        "served before the silent client's deadline: {waited:?}"
    );
    assert!(waited < CLIENT_DEADLINE * 2, "{waited:?}");
    let mut rest = Vec::new();
    silent
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(
        silent.read_to_end(&mut rest).unwrap(),
        0,
        "closed unanswered"
    );
}

#[test]
fn a_panicking_collector_answers_500_and_the_listener_survives() {
    let registry = Arc::new(Registry::new(1, Vec::new()));
    registry.add_collector(Box::new(|_| panic!("collector bug")));
    let admin = server(Arc::new(AtomicBool::new(true)), registry);
    let addr = admin.local_addr();
    assert_eq!(get(addr, "/metrics").0, 500);
    assert_eq!(get(addr, "/health").0, 200);
}

#[test]
fn shutdown_closes_the_listener() {
    let registry = Arc::new(Registry::new(1, Vec::new()));
    let admin = server(Arc::new(AtomicBool::new(true)), registry);
    let addr = admin.local_addr();
    assert_eq!(get(addr, "/health").0, 200);
    admin.shutdown();
    assert!(TcpStream::connect(addr).is_err());
}
