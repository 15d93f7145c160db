//! The audit trail and the metrics through the whole request path, in process: a gateway in
//! front of a stub upstream writes every kind of event to a JSON-lines file with the fields
//! that explain it, never a credential; a stalled index sink drops and counts events while
//! requests keep being answered; the per-core counters move with traffic.
//! The same against a real OpenSearch with real clients: tests/e2e/test_audit.py.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use support::*;

const ALICE_SECRET: &str = "alice-pw-9d1f";

fn policy(outputs: &str) -> String {
    format!(
        "  audit:\n    enabled: true\n    outputs:\n{outputs}  access_control_rules:\n  - name: \"Quiet readers\"\n    verbosity: error\n    auth_key: \"reader:reader\"\n    methods: [GET]\n  - name: \"No secrets\"\n    type: forbid\n    auth_key: \"alice:{ALICE_SECRET}\"\n    indices: [\"secret*\"]\n  - name: \"Alice\"\n    auth_key: \"alice:{ALICE_SECRET}\"\n"
    )
}

fn file_output(path: &Path) -> String {
    format!("    - type: file\n      path: \"{}\"\n", path.display())
}

fn audit_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ringfence-audit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.jsonl"));
    let _ = std::fs::remove_file(&path);
    path
}

fn alice() -> String {
    use base64::Engine;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("alice:{ALICE_SECRET}"));
    format!("Authorization: Basic {token}\r\n")
}

fn get(addr: SocketAddr, target: &str, auth: &str, correlation: &str) -> u16 {
    let raw = format!(
        "GET {target} HTTP/1.1\r\nHost: es\r\n{auth}x-ror-correlation-id: {correlation}\r\n\r\n"
    );
    roundtrip(addr, raw.as_bytes()).status
}

/// The events in `path` whose correlation id is `correlation`, waiting for the writer.
fn events(path: &Path, correlation: &str, at_least: usize) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let found: Vec<serde_json::Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).expect("each line is one JSON object"))
            .filter(|e: &serde_json::Value| e["correlation_id"] == correlation)
            .collect();
        if found.len() >= at_least || Instant::now() > deadline {
            return found;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn every_kind_of_request_leaves_its_event_and_no_credential() {
    let upstream = StubUpstream::echo();
    let path = audit_path("kinds");
    let gateway = start_gateway(
        "audit-kinds",
        &upstream.url(),
        &policy(&file_output(&path)),
        "",
    );
    let addr = gateway.local_addrs()[0];

    assert_eq!(get(addr, "/logs/_search", &alice(), "granted"), 200);
    assert_eq!(get(addr, "/secret-1/_search", &alice(), "forbidden"), 403);
    let wrong = {
        use base64::Engine;
        let token = base64::engine::general_purpose::STANDARD.encode("alice:guess-1234");
        format!("Authorization: Basic {token}\r\n")
    };
    assert_eq!(get(addr, "/", &wrong, "wrong-password"), 401);
    assert_eq!(get(addr, "/", "", "anonymous"), 401);
    assert_eq!(get(addr, "/", &basic("reader"), "quiet"), 200);
    let smuggled = "POST /_bulk HTTP/1.1\r\nHost: es\r\nx-ror-correlation-id: smuggled\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    assert_eq!(roundtrip(addr, smuggled.as_bytes()).status, 400);

    let [granted] = &events(&path, "granted", 1)[..] else {
        panic!("one event for the allowed request")
    };
    assert_eq!(granted["type"], "access_granted");
    assert_eq!(granted["final_state"], "ALLOWED");
    assert_eq!(granted["logged_user"], "alice");
    assert_eq!(granted["action"], "indices:data/read/search");
    assert_eq!(granted["indices"], serde_json::json!(["logs"]));
    assert_eq!(granted["path"], "/logs/_search");
    assert_eq!(granted["status"], 200);
    assert_eq!(granted["matched_block_names"], serde_json::json!(["Alice"]));
    let history: Vec<bool> = granted["blocks_history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["matched"].as_bool().unwrap())
        .collect();
    assert_eq!(history, [false, false, true]);
    assert_eq!(
        granted["upstream_node"],
        upstream.url().trim_start_matches("http://")
    );

    let [forbidden] = &events(&path, "forbidden", 1)[..] else {
        panic!("one event for the forbidden request")
    };
    assert_eq!(forbidden["type"], "access_denied");
    assert_eq!(forbidden["final_state"], "FORBIDDEN");
    assert_eq!(
        forbidden["matched_block_names"],
        serde_json::json!(["No secrets"])
    );
    assert_eq!(forbidden["status"], 403);

    let [failed] = &events(&path, "wrong-password", 1)[..] else {
        panic!("one event for the wrong password")
    };
    assert_eq!(failed["type"], "authentication_failed");
    assert_eq!(failed["presented_identity"], "alice");
    assert!(
        failed.get("logged_user").is_none_or(|u| u.is_null()),
        "{failed}"
    );

    let [anonymous] = &events(&path, "anonymous", 1)[..] else {
        panic!("one event for the anonymous request")
    };
    assert_eq!(anonymous["type"], "anonymous_access_denied");

    let [smuggling] = &events(&path, "smuggled", 1)[..] else {
        panic!("one event for the smuggling attempt")
    };
    assert_eq!(smuggling["type"], "tampered_request");
    assert_eq!(smuggling["final_state"], "ERRORED");
    assert_eq!(smuggling["status"], 400);

    // `verbosity: error`: the quiet block's allowed requests leave no event (one worker, one
    // queue: the smuggling attempt sent after it is written after it).
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("\"quiet\""), "{text}");
    for secret in [ALICE_SECRET, "guess-1234"] {
        assert!(!text.contains(secret), "{secret} in the audit file");
    }
    for header in [alice(), wrong, basic("reader")] {
        let token = header.trim_end().rsplit(' ').next().unwrap().to_string();
        assert!(
            !text.contains(&token),
            "an Authorization value in the audit file"
        );
    }
    gateway.shutdown();
}

#[test]
fn connections_refused_by_the_address_filter_are_audited() {
    let upstream = StubUpstream::echo();
    let path = audit_path("connections");
    let gateway = start_gateway(
        "audit-connections",
        &upstream.url(),
        &policy(&file_output(&path)),
        "  ip_filter:\n    deny: [\"127.0.0.2\"]\n",
    );
    let addr = gateway.local_addrs()[0];
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(&SocketAddr::from(([127, 0, 0, 2], 0)).into())
        .unwrap();
    socket.connect(&addr.into()).unwrap();
    let mut refused: TcpStream = socket.into();
    let _ = refused.write_all(b"GET / HTTP/1.1\r\nHost: es\r\n\r\n");
    let mut rest = Vec::new();
    let _ = refused.read_to_end(&mut rest);
    assert!(
        rest.is_empty(),
        "a filtered address is closed without an answer"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let denied = loop {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let denied: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|e| e["type"] == "connection_denied")
            .collect();
        if !denied.is_empty() || Instant::now() > deadline {
            break denied;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(denied.len(), 1, "{denied:?}");
    assert_eq!(denied[0]["origin"], "127.0.0.2");
    gateway.shutdown();
}

/// A cluster that accepts connections and never answers.
fn stalled_cluster() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    (listener, url)
}

#[test]
fn a_stalled_index_sink_drops_and_counts_while_requests_are_answered() {
    let upstream = StubUpstream::echo();
    let (_stalled, cluster) = stalled_cluster();
    let outputs = format!("    - type: index\n      cluster: [\"{cluster}\"]\n");
    let gateway = start_gateway("audit-stalled", &upstream.url(), &policy(&outputs), "");
    let addr = gateway.local_addrs()[0];
    upstream.stop_recording();
    // More events than the index output's queue holds while its first bulk hangs.
    let clients: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                let mut client = Client::connect(addr);
                let request = format!("GET /logs/_search HTTP/1.1\r\nHost: es\r\n{}\r\n", alice());
                for _ in 0..3_000 {
                    client.send(request.as_bytes());
                    assert_eq!(client.read_response(false).status, 200);
                }
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let dropped = loop {
        let stats = gateway.audit_stats().unwrap();
        let dropped: u64 =
            stats.outputs.iter().map(|o| o.dropped).sum::<u64>() + stats.dropped_full;
        if dropped > 0 || Instant::now() > deadline {
            break dropped;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(dropped > 0, "the stalled sink's overflow is counted");
    let metrics = gateway.metrics().render();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("ringfence_audit_output_events_total{")
                && l.contains("result=\"dropped\"")
                && !l.ends_with(" 0")),
        "{metrics}"
    );
    gateway.shutdown();
}

#[test]
fn counters_move_with_traffic() {
    let upstream = StubUpstream::echo();
    let gateway = start_gateway(
        "metrics-traffic",
        &upstream.url(),
        &policy("    - type: log\n"),
        "",
    );
    let addr = gateway.local_addrs()[0];
    for _ in 0..3 {
        assert_eq!(get(addr, "/logs/_search", &alice(), "m"), 200);
        assert_eq!(get(addr, "/secret-1/_search", &alice(), "m"), 403);
    }
    let value = |text: &str, needle: &str| -> f64 {
        text.lines()
            .filter(|l| l.starts_with("ringfence_requests_total{") && l.contains(needle))
            .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
            .sum()
    };
    // A request is counted once it is complete, just after its answer went out.
    let counted = "ringfence_request_duration_seconds_count 6";
    let deadline = Instant::now() + Duration::from_secs(5);
    let text = loop {
        let text = gateway.metrics().render();
        if text.contains(counted) || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(text.contains(counted), "{text}");
    assert_eq!(value(&text, "outcome=\"allowed\""), 3.0, "{text}");
    assert_eq!(value(&text, "outcome=\"forbidden\""), 3.0, "{text}");
    gateway.shutdown();
}

#[test]
fn shutdown_writes_every_queued_event() {
    let upstream = StubUpstream::echo();
    let path = audit_path("shutdown");
    let gateway = start_gateway(
        "audit-shutdown",
        &upstream.url(),
        &policy(&file_output(&path)),
        "",
    );
    let addr = gateway.local_addrs()[0];
    let mut client = Client::connect(addr);
    let request = format!(
        "GET /logs/_search HTTP/1.1\r\nHost: es\r\n{}x-ror-correlation-id: at-shutdown\r\n\r\n",
        alice()
    );
    for _ in 0..200 {
        client.send(request.as_bytes());
        assert_eq!(client.read_response(false).status, 200);
    }
    drop(client);
    // The file output flushes about once a second; shutdown must not wait for that.
    gateway.shutdown();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.matches("\"at-shutdown\"").count(), 200);
}
