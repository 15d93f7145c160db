//! Cluster faults: nodes that refuse, hang, reset, close or answer garbage, alone or beside a
//! healthy node. Each test checks what the client gets (an exact status and `error.type`, or a
//! connection reset after a cut response) and, from the stub nodes' records, how many times
//! the request reached each node: a request that may change the cluster at most once, a
//! bodiless read at most twice and only before any byte of a response.

mod support;

use std::time::{Duration, Instant};
use support::*;

const KEEP: &str = "Host: es\r\n\r\n";

/// One request on an open client connection; the response and the time it took.
fn exchange(client: &mut Client, request: &str) -> (Response, Duration) {
    let started = Instant::now();
    client.send(request.as_bytes());
    let response = client.read_response(request.starts_with("HEAD "));
    (response, started.elapsed())
}

/// Asserts a gateway-made error: its status, `error.type` and that it is JSON throughout.
fn assert_error(response: &Response, status: u16, error_type: &str) {
    assert_eq!(response.status, status, "{}", response.head);
    let json = response.json();
    assert_eq!(json["status"], status);
    assert_eq!(json["error"]["type"], error_type, "{json}");
    assert_eq!(json["error"]["root_cause"][0]["type"], error_type);
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\n{KEEP}")
}

/// Requests that must never be sent twice, each to path `/{tag}-{i}`.
fn non_idempotent(tag: &str) -> Vec<(String, String)> {
    ["POST", "PUT", "PATCH", "DELETE", "GET"]
        .iter()
        .enumerate()
        .map(|(i, method)| {
            let path = format!("/{tag}-{i}");
            // DELETE without a body; GET with one (a search body): neither may be replayed.
            let request = if *method == "DELETE" {
                format!("DELETE {path} HTTP/1.1\r\n{KEEP}")
            } else {
                format!("{method} {path} HTTP/1.1\r\nHost: es\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{{}}")
            };
            (path, request)
        })
        .collect()
}

/// A node that misbehaves with `steps` on the first request it gets and answers every later
/// one with 200, so a request sent again would show as a success.
fn misbehaving_once(steps: Vec<Step>) -> StubUpstream {
    let steps = std::sync::Mutex::new(Some(steps));
    StubUpstream::start(move |_| match steps.lock().unwrap().take() {
        Some(steps) => Reply::Steps(steps),
        None => Reply::Bytes(ok_json("{\"replayed\":true}")),
    })
}

fn path_of(req: &Received) -> String {
    req.head_text().split(' ').nth(1).unwrap_or("").to_string()
}

/// A gateway in front of `nodes`, in this round-robin order; the first request goes to the
/// first node.
fn start(name: &str, nodes: &[String], limits: &[(&str, u64)]) -> ringfence::runtime::Gateway {
    let nodes: Vec<&str> = nodes.iter().map(String::as_str).collect();
    let limits = if limits.is_empty() {
        String::new()
    } else {
        limits_yaml(limits)
    };
    start_gateway_for(name, &nodes, ALLOW_ALL, &limits)
}

#[test]
fn refused_connect_fails_over_for_every_method() {
    let live = StubUpstream::echo();
    // Nothing was sent to the refusing node, so even a POST goes on to the next one. A fresh
    // gateway for each: the first request goes to the first node, which then is down.
    for (i, (path, request)) in non_idempotent("refused").into_iter().enumerate() {
        let gateway = start(
            &format!("refused-{i}"),
            &[closed_port_url(), live.url()],
            &[],
        );
        let mut client = Client::connect(gateway.local_addrs()[0]);
        let (response, _) = exchange(&mut client, &request);
        assert_eq!(response.status, 200, "{path}: {}", response.head);
        assert_eq!(live.count(&path), 1, "{path}");
    }
}

#[test]
fn connect_timeout_fails_over() {
    // A listener whose accept queue is full drops further SYNs: connects to it hang.
    let full = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    full.bind(
        &"127.0.0.1:0"
            .parse::<std::net::SocketAddr>()
            .unwrap()
            .into(),
    )
    .unwrap();
    full.listen(0).unwrap();
    let full_addr = full.local_addr().unwrap().as_socket().unwrap();
    let _queued: Vec<_> = (0..2)
        .filter_map(|_| {
            std::net::TcpStream::connect_timeout(&full_addr, Duration::from_millis(200)).ok()
        })
        .collect();
    let live = StubUpstream::echo();
    let gateway = start(
        "connect-timeout",
        &[format!("http://{full_addr}"), live.url()],
        &[("upstream_connect_timeout_ms", 300)],
    );
    let mut client = Client::connect(gateway.local_addrs()[0]);
    let (path, request) = &non_idempotent("connect-timeout")[0];
    let (response, took) = exchange(&mut client, request);
    assert_eq!(response.status, 200, "{}", response.head);
    assert_eq!(live.count(path), 1);
    assert!(
        took >= Duration::from_millis(250),
        "no connect timeout: {took:?}"
    );
}

#[test]
fn dead_pooled_connection_never_replays_a_non_idempotent_request() {
    // The node answers /warm and then drops the connection on the next request, unanswered:
    // the pooled connection looks alive until the request is on it.
    let node = StubUpstream::start(|req| {
        if path_of(req) == "/warm" {
            Reply::Bytes(ok_json("{}"))
        } else {
            Reply::close()
        }
    });
    let gateway = start("dead-pooled-write", &[node.url()], &[]);
    let mut client = Client::connect(gateway.local_addrs()[0]);
    let requests = non_idempotent("once");
    for (path, request) in &requests {
        assert_eq!(exchange(&mut client, &get("/warm")).0.status, 200);
        let (response, _) = exchange(&mut client, request);
        assert_error(&response, 502, "bad_gateway_exception");
        assert_eq!(node.count(path), 1, "{path} was sent again");
    }
    // One connection per /warm, none for a second attempt; the client connection survived.
    assert_eq!(
        node.connections.load(std::sync::atomic::Ordering::SeqCst),
        requests.len()
    );
}

#[test]
fn dead_pooled_connection_replays_a_read_once_on_a_fresh_connection() {
    for (kind, dies) in [
        ("close", Reply::close as fn() -> Reply),
        ("reset", Reply::reset),
    ] {
        // Only the first request on each connection is answered.
        let node = StubUpstream::start(move |req| {
            if req.nth_on_connection == 0 {
                let path = path_of(req);
                Reply::Bytes(ok_json(&format!("{{\"path\":\"{path}\"}}")))
            } else {
                dies()
            }
        });
        let gateway = start(&format!("dead-pooled-read-{kind}"), &[node.url()], &[]);
        let mut client = Client::connect(gateway.local_addrs()[0]);
        for method in ["GET", "HEAD", "OPTIONS"] {
            assert_eq!(exchange(&mut client, &get("/warm")).0.status, 200);
            let path = format!("/{kind}-{method}");
            let (response, _) =
                exchange(&mut client, &format!("{method} {path} HTTP/1.1\r\n{KEEP}"));
            assert_eq!(response.status, 200, "{kind} {method}: {}", response.head);
            assert_eq!(node.count(&path), 2, "{kind} {method}");
        }
    }
}

#[test]
fn read_fails_over_to_another_node_but_a_write_does_not() {
    for (kind, dies) in [
        ("close", Reply::close as fn() -> Reply),
        ("reset", Reply::reset),
    ] {
        // Fresh gateways: the first request goes to the first node, the failing one.
        let failing = StubUpstream::start(move |_| dies());
        let live = StubUpstream::echo();
        let nodes = [failing.url(), live.url()];

        for method in ["GET", "HEAD", "OPTIONS"] {
            let gateway = start(&format!("failover-{kind}-{method}"), &nodes, &[]);
            let mut client = Client::connect(gateway.local_addrs()[0]);
            let path = format!("/{kind}-read-{method}");
            let (response, _) =
                exchange(&mut client, &format!("{method} {path} HTTP/1.1\r\n{KEEP}"));
            assert_eq!(response.status, 200, "{kind} {method}: {}", response.head);
            assert_eq!(
                (failing.count(&path), live.count(&path)),
                (1, 1),
                "{kind} {method}"
            );
        }

        for (i, (path, request)) in non_idempotent(&format!("{kind}-write")).iter().enumerate() {
            let gateway = start(&format!("no-failover-{kind}-{i}"), &nodes, &[]);
            let mut client = Client::connect(gateway.local_addrs()[0]);
            let (response, _) = exchange(&mut client, request);
            assert_error(&response, 502, "bad_gateway_exception");
            assert_eq!(
                (failing.count(path), live.count(path)),
                (1, 0),
                "{kind} {path}"
            );
        }
    }
}

#[test]
fn a_read_is_sent_at_most_twice() {
    let first = StubUpstream::start(|_| Reply::reset());
    let second = StubUpstream::start(|_| Reply::close());
    let gateway = start("twice", &[first.url(), second.url()], &[]);
    let mut client = Client::connect(gateway.local_addrs()[0]);
    let (response, _) = exchange(&mut client, &get("/twice"));
    assert_error(&response, 502, "bad_gateway_exception");
    assert_eq!((first.count("/twice"), second.count("/twice")), (1, 1));

    // One node and a fresh connection: no stale connection to blame, nowhere else to go.
    let only = StubUpstream::start(|_| Reply::close());
    let gateway = start("once", &[only.url()], &[]);
    let mut client = Client::connect(gateway.local_addrs()[0]);
    let (response, _) = exchange(&mut client, &get("/once"));
    assert_error(&response, 502, "bad_gateway_exception");
    assert_eq!(only.count("/once"), 1);
    // The error kept the client connection: the request was complete.
    let (response, _) = exchange(&mut client, &get("/once-more"));
    assert_error(&response, 502, "bad_gateway_exception");
}

#[test]
fn no_replay_after_a_response_byte() {
    let partial = b"HTTP/1.1 200 OK\r\nContent-".to_vec();
    let cases: Vec<(&str, Vec<Step>)> = vec![
        (
            "partial-head-close",
            vec![Step::Write(partial.clone()), Step::Close],
        ),
        (
            "partial-head-reset",
            vec![Step::Write(partial), Step::Reset],
        ),
        (
            "interim-then-close",
            vec![
                Step::Write(b"HTTP/1.1 100 Continue\r\n\r\n".to_vec()),
                Step::Close,
            ],
        ),
    ];
    for (name, steps) in cases {
        let failing = misbehaving_once(steps);
        let live = StubUpstream::echo();
        let gateway = start(name, &[failing.url(), live.url()], &[]);
        let mut client = Client::connect(gateway.local_addrs()[0]);
        let path = format!("/{name}");
        let (response, _) = exchange(&mut client, &get(&path));
        assert_error(&response, 502, "bad_gateway_exception");
        assert_eq!((failing.count(&path), live.count(&path)), (1, 0), "{name}");
    }
}

#[test]
fn slow_node_gives_504_and_is_not_replayed() {
    let slow = StubUpstream::start(|_| Reply::after(Duration::from_secs(3), ok_json("{}")));
    let live = StubUpstream::echo();
    let nodes = [slow.url(), live.url()];
    let limits = [("upstream_response_timeout_ms", 300)];
    let mut requests = vec![("/slow-read".to_string(), get("/slow-read"))];
    requests.extend(non_idempotent("slow"));
    for (i, (path, request)) in requests.into_iter().enumerate() {
        let gateway = start(&format!("slow-{i}"), &nodes, &limits);
        let mut client = Client::connect(gateway.local_addrs()[0]);
        let (response, took) = exchange(&mut client, &request);
        assert_error(&response, 504, "gateway_timeout_exception");
        assert!(
            took >= Duration::from_millis(290) && took < Duration::from_secs(3),
            "{path}: {took:?}"
        );
        assert_eq!((slow.count(&path), live.count(&path)), (1, 0), "{path}");
        assert_eq!(
            response.json()["error"]["reason"],
            "the upstream node did not respond in time"
        );
    }
}

#[test]
fn garbage_heads_give_502_and_keep_the_client() {
    let mut over_long = b"HTTP/1.1 200 OK\r\nX-Long: ".to_vec();
    over_long.extend(std::iter::repeat_n(b'a', 70 * 1024));
    let mut over_long_complete = over_long.clone();
    over_long_complete.extend_from_slice(b"\r\ncontent-length: 0\r\n\r\n");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("words", b"garbage garbage\r\n\r\n".to_vec()),
        (
            "binary",
            vec![0, 1, 2, 0xff, 0xfe, b'\r', b'\n', b'\r', b'\n'],
        ),
        (
            "bad-length",
            b"HTTP/1.1 200 OK\r\ncontent-length: ten\r\n\r\n".to_vec(),
        ),
        (
            "two-lengths",
            b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nab".to_vec(),
        ),
        (
            "switching",
            b"HTTP/1.1 101 Switching Protocols\r\n\r\n".to_vec(),
        ),
        // The node keeps the connection open: the limit, not a close, ends the wait.
        ("over-long-unfinished", over_long),
        ("over-long", over_long_complete),
        // Bad chunk framing in the same packet as the head: nothing went to the client yet.
        (
            "bad-chunk-size",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n".to_vec(),
        ),
    ];
    for (name, bytes) in cases {
        let node = StubUpstream::start(move |_| Reply::Bytes(bytes.clone()));
        let gateway = start(&format!("garbage-{name}"), &[node.url()], &[]);
        let mut client = Client::connect(gateway.local_addrs()[0]);
        for i in 0..2 {
            let path = format!("/{name}-{i}");
            let (response, _) = exchange(&mut client, &get(&path));
            assert_error(&response, 502, "bad_gateway_exception");
            assert_eq!(
                response.json()["error"]["reason"],
                "the upstream node sent a malformed response",
                "{name}"
            );
            assert_eq!(node.count(&path), 1, "{name}");
        }
    }
}

#[test]
fn cut_responses_reset_the_client_connection() {
    let length_head = b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789".to_vec();
    let chunked_head = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
    let mut cut_chunk = chunked_head.clone();
    cut_chunk.extend_from_slice(b"a\r\n01234");
    let pause = Step::Sleep(Duration::from_millis(200));
    let cases: Vec<(&str, &str, Vec<Step>)> = vec![
        (
            "short-length-close",
            "1.1",
            vec![Step::Write(length_head.clone()), Step::Close],
        ),
        (
            "short-length-reset",
            "1.1",
            vec![Step::Write(length_head.clone()), Step::Reset],
        ),
        (
            "short-length-stall",
            "1.1",
            vec![
                Step::Write(length_head),
                Step::Sleep(Duration::from_secs(3)),
            ],
        ),
        (
            "chunk-cut-close",
            "1.1",
            vec![Step::Write(cut_chunk.clone()), Step::Close],
        ),
        (
            "bad-chunk-later",
            "1.1",
            vec![
                Step::Write(chunked_head),
                pause,
                Step::Write(b"zz\r\n".to_vec()),
            ],
        ),
        // A close-delimited body to the client: a FIN would pass the cut for the end.
        (
            "dechunked-cut-close",
            "1.0",
            vec![Step::Write(cut_chunk), Step::Close],
        ),
        (
            "until-close-reset",
            "1.1",
            vec![
                Step::Write(b"HTTP/1.1 200 OK\r\n\r\npartial".to_vec()),
                Step::Reset,
            ],
        ),
    ];
    for (name, version, steps) in cases {
        let node = misbehaving_once(steps);
        let gateway = start(
            &format!("cut-{name}"),
            &[node.url()],
            &[("upstream_response_timeout_ms", 500)],
        );
        let mut client = Client::connect(gateway.local_addrs()[0]);
        let path = format!("/{name}");
        client.send(format!("GET {path} HTTP/{version}\r\n{KEEP}").as_bytes());
        let (bytes, ending) = client.read_until_end();
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{name}: {text}");
        assert!(!text.contains("replayed"), "{name}: {text}");
        assert_eq!(ending, PeerState::Reset, "{name}: {text}");
        assert_eq!(node.count(&path), 1, "{name}");
    }

    // The contrast: a close-delimited body that the node ends cleanly ends with a FIN.
    let node =
        StubUpstream::start(|_| Reply::BytesThenClose(b"HTTP/1.1 200 OK\r\n\r\ncomplete".to_vec()));
    let gateway = start("until-close-clean", &[node.url()], &[]);
    let mut client = Client::connect(gateway.local_addrs()[0]);
    client.send(get("/clean").as_bytes());
    let (bytes, ending) = client.read_until_end();
    assert!(bytes.ends_with(b"\r\n\r\ncomplete"));
    assert_eq!(ending, PeerState::Eof);
}

#[test]
fn node_failing_while_a_body_streams_gives_502_or_504_once() {
    const BODY_BYTES: usize = 32 << 20;
    for (name, status, error_type) in [
        ("reset", 502, "bad_gateway_exception"),
        ("stall", 504, "gateway_timeout_exception"),
    ] {
        // A node that takes the head and then resets, or never reads again.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = accepted.clone();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut head = [0u8; 1024];
                let _ = std::io::Read::read(&mut stream, &mut head);
                if name == "reset" {
                    socket2::SockRef::from(&stream)
                        .set_linger(Some(Duration::ZERO))
                        .unwrap();
                    drop(stream);
                } else {
                    std::thread::sleep(Duration::from_secs(5));
                }
            }
        });
        let gateway = start(
            &format!("body-{name}"),
            &[url],
            &[("upstream_response_timeout_ms", 500)],
        );
        let mut client = Client::connect(gateway.local_addrs()[0]);
        client.send(
            format!("POST /_bulk HTTP/1.1\r\nHost: es\r\nContent-Length: {BODY_BYTES}\r\n\r\n")
                .as_bytes(),
        );
        let mut body_writer = client.stream.try_clone().unwrap();
        let writer = std::thread::spawn(move || {
            let block = vec![b'x'; 1 << 20];
            for _ in 0..BODY_BYTES >> 20 {
                if std::io::Write::write_all(&mut body_writer, &block).is_err() {
                    return;
                }
            }
        });
        let response = client.read_response(false);
        assert_error(&response, status, error_type);
        // The rest of the body cannot be told from a next request: the connection closes.
        assert_eq!(
            response.header("connection").as_deref(),
            Some("close"),
            "{name}"
        );
        assert_eq!(
            accepted.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "{name}"
        );
        drop(client);
        writer.join().unwrap();
    }
}

#[test]
fn node_restart_between_requests_costs_no_request() {
    let node = StubUpstream::echo();
    let gateway = start("restart", &[node.url()], &[]);
    let mut client = Client::connect(gateway.local_addrs()[0]);
    assert_eq!(exchange(&mut client, &get("/before")).0.status, 200);
    // The node restarts between two requests; the gateway's pooled connection to the old
    // process is dead, which is seen before anything is sent on it.
    node.kill();
    let old_process = node.requests();
    node.revive();
    let first_after_restart = node.connections.load(std::sync::atomic::Ordering::SeqCst);
    for (path, request) in non_idempotent("after-restart") {
        let (response, _) = exchange(&mut client, &request);
        assert_eq!(response.status, 200, "{path}: {}", response.head);
        assert_eq!(node.count(&path), 1, "{path}");
    }
    // The old process got only the first request; every later one reached the restarted
    // node, on connections it accepted.
    assert_eq!(old_process.len(), 1);
    let after = &node.requests()[1..];
    assert!(
        after.iter().all(|r| r.connection >= first_after_restart),
        "{after:?}"
    );
}
