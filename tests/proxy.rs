//! End-to-end framing tests: a real gateway on port 0 in front of an in-process stub upstream.

mod support;

use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use support::*;

#[test]
fn exact_bytes_both_ways() {
    let upstream = StubUpstream::start(|_| {
        Reply::Bytes(
            b"HTTP/1.1 201 Created\r\nX-elastic-product: Elasticsearch\r\nWarning: 299 Elasticsearch-7.17 \"x\"\r\nKeep-Alive: timeout=5\r\ncontent-type: application/json\r\ncontent-length: 14\r\n\r\n{\"result\":\"x\"}"
                .to_vec(),
        )
    });
    let gateway = start_gateway("exact", &upstream.url(), ALLOW_ALL, "");
    let addr = gateway.local_addrs()[0];
    let mut client = Client::connect(addr);
    client.send(b"PUT /logs/_doc/1?refresh=true HTTP/1.1\r\nHost: es\r\nAuthorization: Basic dTpw\r\nContent-Type: application/json\r\nConnection: keep-alive\r\nContent-Length: 9\r\n\r\n{\"a\":\"b\"}");
    let response = client.read_response(false);

    let requests = upstream.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].head_text(),
        "PUT /logs/_doc/1?refresh=true HTTP/1.1\r\nHost: es\r\nAuthorization: Basic dTpw\r\nContent-Type: application/json\r\ncontent-length: 9\r\nx-forwarded-for: 127.0.0.1\r\n\r\n"
    );
    assert_eq!(requests[0].body, b"{\"a\":\"b\"}");
    assert_eq!(response.status, 201);
    assert_eq!(
        response.head,
        "HTTP/1.1 201 Created\r\nX-elastic-product: Elasticsearch\r\nWarning: 299 Elasticsearch-7.17 \"x\"\r\ncontent-type: application/json\r\ncontent-length: 14\r\n\r\n"
    );
    assert_eq!(response.body, b"{\"result\":\"x\"}");
}

#[test]
fn keep_alive_reuses_both_connections() {
    let upstream = StubUpstream::echo();
    let gateway = start_gateway("keepalive", &upstream.url(), ALLOW_ALL, "");
    let mut client = Client::connect(gateway.local_addrs()[0]);
    for i in 0..5 {
        client.send(format!("GET /i{i}/_search HTTP/1.1\r\nHost: es\r\n\r\n").as_bytes());
        let response = client.read_response(false);
        assert_eq!(response.json()["path"], format!("/i{i}/_search"));
    }
    // A second client on the same worker reuses the pooled upstream connection too.
    let response = roundtrip(
        gateway.local_addrs()[0],
        b"GET /other HTTP/1.1\r\nHost: es\r\n\r\n",
    );
    assert_eq!(response.status, 200);
    assert_eq!(
        upstream
            .connections
            .load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    assert_eq!(upstream.requests().len(), 6);
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let upstream = StubUpstream::echo();
    let gateway = start_gateway("pipeline", &upstream.url(), ALLOW_ALL, "");
    let mut client = Client::connect(gateway.local_addrs()[0]);
    let mut batch = Vec::new();
    for i in 0..10 {
        batch.extend_from_slice(
            format!(
                "POST /p{i}/_doc HTTP/1.1\r\nHost: es\r\nContent-Length: {}\r\n\r\n{}",
                i + 1,
                "x".repeat(i + 1)
            )
            .as_bytes(),
        );
    }
    client.send(&batch);
    for i in 0..10 {
        let json = client.read_response(false).json();
        assert_eq!(json["path"], format!("/p{i}/_doc"));
        assert_eq!(json["body_len"], i + 1);
    }
}

#[test]
fn chunked_request_body_is_streamed_as_chunks() {
    let upstream = StubUpstream::echo();
    let gateway = start_gateway("chunked", &upstream.url(), ALLOW_ALL, "");
    let mut client = Client::connect(gateway.local_addrs()[0]);
    client.send(b"POST /_bulk HTTP/1.1\r\nHost: es\r\nTransfer-Encoding: chunked\r\nContent-Type: application/x-ndjson\r\n\r\n");
    std::thread::sleep(Duration::from_millis(50));
    client.send(b"5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\n");
    let json = client.read_response(false).json();
    assert_eq!(json["body_len"], 11);
    let requests = upstream.requests();
    assert_eq!(requests[0].body, b"hello world");
    assert!(requests[0]
        .head_text()
        .contains("\r\ntransfer-encoding: chunked\r\n"));
}

#[test]
fn expect_continue_gets_100_before_the_body() {
    let upstream = StubUpstream::echo();
    let gateway = start_gateway("expect", &upstream.url(), ALLOW_ALL, "");
    let mut client = Client::connect(gateway.local_addrs()[0]);
    client.send(
        b"POST /_bulk HTTP/1.1\r\nHost: es\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
    );
    let interim = client.read_response(false);
    assert_eq!(interim.head, "HTTP/1.1 100 Continue\r\n\r\n");
    client.send(b"abcd");
    let response = client.read_response(false);
    assert_eq!(response.json()["body_len"], 4);
    assert!(!upstream.requests()[0]
        .head_text()
        .to_ascii_lowercase()
        .contains("expect"));
}

#[test]
fn head_requests_get_no_body_and_keep_the_connection() {
    let upstream = StubUpstream::start(|_| {
        Reply::Bytes(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1234\r\n\r\n"
                .to_vec(),
        )
    });
    let gateway = start_gateway("head", &upstream.url(), ALLOW_ALL, "");
    let mut client = Client::connect(gateway.local_addrs()[0]);
    for _ in 0..2 {
        client.send(b"HEAD /logs HTTP/1.1\r\nHost: es\r\n\r\n");
        let response = client.read_response(true);
        assert_eq!(response.status, 200);
        assert_eq!(response.header("content-length").as_deref(), Some("1234"));
    }
}

#[test]
fn http10_client_gets_a_dechunked_close_delimited_body() {
    let upstream = StubUpstream::start(|_| {
        Reply::Bytes(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n".to_vec())
    });
    let gateway = start_gateway("http10", &upstream.url(), ALLOW_ALL, "");
    let response = roundtrip(
        gateway.local_addrs()[0],
        b"GET /_cat/indices HTTP/1.0\r\n\r\n",
    );
    assert_eq!(response.status, 200);
    assert_eq!(response.body, b"abcde");
    assert_eq!(response.header("connection").as_deref(), Some("close"));
    assert!(response.header("transfer-encoding").is_none());
    let forwarded = upstream.requests()[0].head_text();
    assert!(
        forwarded.starts_with("GET /_cat/indices HTTP/1.1\r\nhost: "),
        "{forwarded}"
    );
}

#[test]
fn chunked_response_passes_through_to_http11_clients() {
    let upstream = StubUpstream::start(|_| {
        Reply::Bytes(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n".to_vec(),
        )
    });
    let gateway = start_gateway("chunked-resp", &upstream.url(), ALLOW_ALL, "");
    let mut client = Client::connect(gateway.local_addrs()[0]);
    for _ in 0..2 {
        client.send(b"GET / HTTP/1.1\r\nHost: es\r\n\r\n");
        let response = client.read_response(false);
        assert_eq!(response.body, b"abc");
        assert_eq!(
            response.header("transfer-encoding").as_deref(),
            Some("chunked")
        );
    }
}

#[test]
fn close_delimited_response_closes_the_client() {
    let upstream = StubUpstream::start(|_| {
        Reply::BytesThenClose(b"HTTP/1.1 200 OK\r\n\r\nuntil close".to_vec())
    });
    let gateway = start_gateway("until-close", &upstream.url(), ALLOW_ALL, "");
    let response = roundtrip(
        gateway.local_addrs()[0],
        b"GET / HTTP/1.1\r\nHost: es\r\n\r\n",
    );
    assert_eq!(response.body, b"until close");
    assert_eq!(response.header("connection").as_deref(), Some("close"));
}

#[test]
fn framing_violations_are_rejected_and_never_forwarded() {
    let upstream = StubUpstream::echo();
    let gateway = start_gateway("reject", &upstream.url(), ALLOW_ALL, "");
    let addr = gateway.local_addrs()[0];
    let cases: &[(&[u8], u16, &str)] = &[
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc", 400, "request has both Content-Length and Transfer-Encoding"),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400, "request has differing Content-Length values"),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 400, "only the transfer coding \"chunked\" is supported"),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n folded\r\n\r\n", 400, "obsolete line folding in header fields is not allowed (RFC 9112 section 5.2)"),
        (b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400, "whitespace between a header field name and the colon is not allowed (RFC 9112 section 5.1)"),
        (b"GET /a%00 HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n", 400, "header field value contains NUL, CR or LF"),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400, "malformed chunked body: invalid chunk size"),
        (b"TRACE / HTTP/1.1\r\nHost: a\r\n\r\n", 405, "HTTP method not supported"),
    ];
    for (raw, status, reason) in cases {
        let mut client = Client::connect(addr);
        client.send(raw);
        let response = client.read_response(false);
        let json = response.json();
        assert_eq!(response.status, *status, "{}", String::from_utf8_lossy(raw));
        assert_eq!(json["status"], *status);
        assert_eq!(json["error"]["reason"], *reason);
        assert_eq!(json["error"]["root_cause"][0]["reason"], *reason);
        // A clean close (FIN) right after the answer; an open connection fails this.
        assert_eq!(
            client.wait_for_close(Duration::from_secs(5)),
            PeerState::Eof,
            "connection must close after a framing error: {}",
            String::from_utf8_lossy(raw)
        );
    }
    // The bad-chunk request was forwarded up to the point of the error: its head went out,
    // but the node never saw a complete request. Everything else never left the gateway.
    let complete: Vec<_> = upstream.requests();
    assert!(complete.is_empty(), "{complete:?}");
}

#[test]
fn limits_give_431_413_and_408() {
    let upstream = StubUpstream::echo();
    let limits = limits_yaml(&[
        ("max_header_bytes", 1024),
        ("max_body_bytes", 100),
        ("header_timeout_ms", 300),
    ]);
    let gateway = start_gateway("limits", &upstream.url(), ALLOW_ALL, &limits);
    let addr = gateway.local_addrs()[0];

    let big_head = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: {}\r\n\r\n",
        "a".repeat(2000)
    );
    assert_eq!(roundtrip(addr, big_head.as_bytes()).status, 431);

    let response = roundtrip(
        addr,
        b"POST /_bulk HTTP/1.1\r\nHost: a\r\nContent-Length: 101\r\n\r\n",
    );
    assert_eq!(response.status, 413);
    assert_eq!(
        response.json()["error"]["type"],
        "content_too_long_exception"
    );

    let mut chunked = Client::connect(addr);
    chunked.send(b"POST /_bulk HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n65\r\n");
    chunked.send(&[b'x'; 101]);
    chunked.send(b"\r\n0\r\n\r\n");
    assert_eq!(chunked.read_response(false).status, 413);

    let mut slow = Client::connect(addr);
    slow.send(b"GET / HTTP/1.1\r\nHost: a\r\n");
    let started = Instant::now();
    let response = slow.read_response(false);
    assert_eq!(response.status, 408);
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert!(upstream.requests().is_empty());
}

#[test]
fn denied_requests_never_reach_the_upstream() {
    let upstream = StubUpstream::echo();
    let gateway = start_gateway("deny", &upstream.url(), "  access_control_rules: []\n", "");
    let mut client = Client::connect(gateway.local_addrs()[0]);
    client.send(b"POST /logs/_doc HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello");
    let response = client.read_response(false);
    assert_eq!(response.status, 403);
    assert_eq!(response.json()["error"]["type"], "forbidden_response");
    // A small body is read and dropped: the connection stays usable.
    client.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(client.read_response(false).status, 403);

    // With Expect: 100-continue the body is never read: answered at once, then closed.
    let mut expect = Client::connect(gateway.local_addrs()[0]);
    expect.send(b"POST /_bulk HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\nExpect: 100-continue\r\n\r\n");
    let response = expect.read_response(false);
    assert_eq!(response.status, 403);
    assert_eq!(response.header("connection").as_deref(), Some("close"));
    assert!(upstream.requests().is_empty());
    assert_eq!(
        upstream
            .connections
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );
}

#[test]
fn upstream_down_gives_502_then_503_and_recovers() {
    // Reserve a port, then free it: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let gateway = start_gateway("down", &url, ALLOW_ALL, "");
    let addr = gateway.local_addrs()[0];
    let first = roundtrip(addr, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(first.status, 502);
    assert_eq!(first.json()["error"]["type"], "bad_gateway_exception");
    let second = roundtrip(addr, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(second.status, 503);
    assert_eq!(second.json()["status"], 503);

    // Bring a node up on that port: the background probe finds it.
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut buf = [0u8; 4096];
                while let Ok(n) = std::io::Read::read(&mut stream, &mut buf) {
                    if n == 0 || stream.write_all(&ok_json("{}")).is_err() {
                        return;
                    }
                }
            });
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let response = roundtrip(addr, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        if response.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "gateway did not recover");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn upstream_closing_after_each_answer_costs_no_request() {
    // The node closes every connection right after answering, without saying so: the
    // pooled connection is found closed at checkout and a new one is opened each time.
    let upstream = StubUpstream::start(|_| Reply::BytesThenClose(ok_json("{}")));
    let gateway = start_gateway("closing", &upstream.url(), ALLOW_ALL, "");
    let mut client = Client::connect(gateway.local_addrs()[0]);
    for _ in 0..3 {
        client.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(client.read_response(false).status, 200);
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(upstream.requests().len(), 3);
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 3);
}

/// A node whose keep-alive connections die when the next request arrives: each connection
/// answers its first request, then reads the second and closes without answering. The
/// pooled connection passes the gateway's staleness check (it is open until the request is
/// written) and fails on the read: `ClosedEarly` on a reused connection.
fn dying_keep_alive_upstream() -> StubUpstream {
    StubUpstream::start(|req| match req.nth_on_connection {
        0 => {
            let mut answer = ok_json(&format!("{{\"connection\":{}}}", req.connection));
            if req.head.starts_with(b"HEAD ") {
                let end = find(&answer, b"\r\n\r\n").unwrap() + 4;
                answer.truncate(end);
            }
            Reply::Bytes(answer)
        }
        _ => Reply::close(),
    })
}

#[test]
fn stale_pooled_connection_is_retried_for_idempotent_requests() {
    let upstream = dying_keep_alive_upstream();
    let gateway = start_gateway("stale", &upstream.url(), ALLOW_ALL, "");
    let mut client = Client::connect(gateway.local_addrs()[0]);
    client.send(b"GET /first HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(client.read_response(false).json()["connection"], 0);
    for method in ["GET", "HEAD"] {
        let before = upstream.requests().len();
        client.send(format!("{method} /again HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes());
        let response = client.read_response(method == "HEAD");
        assert_eq!(response.status, 200, "{method}: {}", response.head);
        let seen: Vec<_> = upstream.requests()[before..]
            .iter()
            .map(|r| (r.head_text(), r.connection, r.nth_on_connection))
            .collect();
        // Sent on the pooled connection (which died with it), then once more on a fresh one.
        assert_eq!(seen.len(), 2, "{method}: {seen:?}");
        assert_eq!(
            seen[0].0, seen[1].0,
            "{method}: the retry is the same request"
        );
        assert_eq!((seen[0].2, seen[1].2), (1, 0), "{method}: {seen:?}");
        assert_ne!(seen[0].1, seen[1].1, "{method}: {seen:?}");
    }
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 3);
}

#[test]
fn non_idempotent_requests_on_a_dead_pooled_connection_are_not_retried() {
    let upstream = dying_keep_alive_upstream();
    let gateway = start_gateway("stale-writes", &upstream.url(), ALLOW_ALL, "");
    let addr = gateway.local_addrs()[0];
    let cases: &[(&str, &[u8])] = &[
        ("POST /logs/_doc", b"{\"a\":1}"),
        ("PUT /logs/_doc/1", b"{\"a\":2}"),
        ("DELETE /logs", b""),
        // A read with a body is not retried either: the body may be gone.
        ("GET /logs/_search", b"{}"),
    ];
    for (i, (request, body)) in cases.iter().enumerate() {
        let mut client = Client::connect(addr);
        // Puts a live connection in the pool (the previous one died with its request).
        client.send(b"GET /warm HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(client.read_response(false).status, 200);
        assert_eq!(upstream.connections.load(Ordering::SeqCst), i + 1);
        let length = if body.is_empty() {
            String::new()
        } else {
            format!("Content-Length: {}\r\n", body.len())
        };
        let mut raw = format!("{request} HTTP/1.1\r\nHost: a\r\n{length}\r\n").into_bytes();
        raw.extend_from_slice(body);
        client.send(&raw);
        let response = client.read_response(false);
        assert_eq!(response.status, 502, "{request}: {}", response.head);
        assert_eq!(response.json()["error"]["type"], "bad_gateway_exception");
        let line = format!("{request} HTTP/1.1\r\n");
        let sent: Vec<_> = upstream
            .requests()
            .into_iter()
            .filter(|r| r.head_text().starts_with(&line))
            .collect();
        assert_eq!(
            sent.len(),
            1,
            "{request} reached the node {} times",
            sent.len()
        );
        assert_eq!(sent[0].body, *body);
        // No second connection was opened for it.
        assert_eq!(upstream.connections.load(Ordering::SeqCst), i + 1);
    }
}

#[test]
fn large_bodies_stream_without_buffering() {
    const SIZE: u64 = 100 * 1024 * 1024;
    let upstream = StubUpstream::echo();
    let gateway = start_gateway("large", &upstream.url(), ALLOW_ALL, "");
    let before = peak_rss_kib();
    let mut client = Client::connect(gateway.local_addrs()[0]);
    client.send(
        format!("POST /_bulk HTTP/1.1\r\nHost: a\r\nContent-Length: {SIZE}\r\n\r\n").as_bytes(),
    );
    let block = vec![b'x'; 1 << 20];
    for _ in 0..SIZE / (1 << 20) {
        client.send(&block);
    }
    let response = client.read_response(false);
    assert_eq!(response.json()["body_len"], SIZE);
    let growth_mib = (peak_rss_kib().saturating_sub(before)) / 1024;
    // The stub keeps the first MiB; the gateway must hold no more than its buffers.
    assert!(
        growth_mib < 32,
        "peak RSS grew by {growth_mib} MiB while streaming 100 MiB"
    );
}

#[test]
fn shutdown_lets_in_flight_requests_finish() {
    let upstream = StubUpstream::start(|_| {
        std::thread::sleep(Duration::from_millis(500));
        Reply::Bytes(ok_json("{\"slow\":true}"))
    });
    let gateway = start_gateway("shutdown", &upstream.url(), ALLOW_ALL, "");
    let addr = gateway.local_addrs()[0];
    let mut client = Client::connect(addr);
    client.send(b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n");
    std::thread::sleep(Duration::from_millis(100));
    let stopping = std::thread::spawn(move || gateway.shutdown());
    let response = client.read_response(false);
    assert_eq!(response.status, 200);
    assert_eq!(response.header("connection").as_deref(), Some("close"));
    stopping.join().unwrap();
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "still accepting after shutdown"
    );
}

/// A response body no byte of which is where a shifted or repeated copy would put it.
fn patterned_body(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + i / 251) as u8).collect()
}

fn length_response(body: &[u8]) -> Vec<u8> {
    let mut response = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    response.extend_from_slice(body);
    response
}

/// Response bodies around and far above the splice threshold, on one keep-alive client
/// connection and one pooled node connection: every byte arrives, in order, and the next
/// response on both connections is intact (nothing of the node's next bytes was taken).
/// CI runs this file on the epoll driver too.
#[test]
fn large_response_bodies_are_spliced_byte_for_byte() {
    use ringfence::proxy::splice::{spliced_responses, SPLICE_MIN_BYTES};
    let threshold = SPLICE_MIN_BYTES as usize;
    let sizes = [
        threshold - 1,
        threshold,
        threshold + 1,
        1024 * 1024 + 7,
        5 * 1024 * 1024 + 3,
        100,
    ];
    let upstream = StubUpstream::start(move |req| {
        let path = req.head_text().split(' ').nth(1).unwrap_or("").to_string();
        let len: usize = path.trim_start_matches("/bytes/").parse().unwrap_or(0);
        if path.starts_with("/slow/") {
            // The head alone first: the gateway's buffer holds no body byte.
            let len: usize = path.trim_start_matches("/slow/").parse().unwrap();
            let body = patterned_body(len);
            let whole = length_response(&body);
            let head_len = whole.len() - body.len();
            return Reply::Steps(vec![
                Step::Write(whole[..head_len].to_vec()),
                Step::Sleep(Duration::from_millis(50)),
                Step::Write(whole[head_len..].to_vec()),
            ]);
        }
        Reply::Bytes(length_response(&patterned_body(len)))
    });
    let gateway = start_gateway("splice", &upstream.url(), ALLOW_ALL, "");
    let mut client = Client::connect(gateway.local_addrs()[0]);
    let before = spliced_responses();
    let mut expect_spliced = 0;
    for (i, &size) in sizes.iter().chain(&[threshold * 3]).enumerate() {
        let path = if i == sizes.len() {
            format!("/slow/{size}")
        } else {
            format!("/bytes/{size}")
        };
        client.send(format!("GET {path} HTTP/1.1\r\nHost: es\r\n\r\n").as_bytes());
        let response = client.read_response(false);
        assert_eq!(response.status, 200, "{path}");
        assert_eq!(response.header("content-length"), Some(size.to_string()));
        assert!(
            response.body == patterned_body(size),
            "{path}: body differs"
        );
        expect_spliced += usize::from(size >= threshold);
    }
    assert_eq!(upstream.connections.load(Ordering::SeqCst), 1);
    // Other tests in this process may splice too: at least these were.
    let spliced = (spliced_responses() - before) as usize;
    assert!(
        spliced >= expect_spliced,
        "{spliced} of {expect_spliced} spliced"
    );
    // A HEAD answer says a large length and has no body: nothing to splice, nothing hangs.
    client.send(b"HEAD /bytes/1000000 HTTP/1.1\r\nHost: es\r\n\r\n");
    let head = client.read_response(true);
    assert_eq!(head.status, 200);
}

/// A node that ends a large body early, or stalls in it, after part of it was spliced: the
/// client's connection is reset (its response is cut), never ended as if complete.
#[test]
fn a_spliced_body_cut_short_resets_the_client() {
    let size = 4 * 1024 * 1024;
    let body = patterned_body(size);
    let whole = length_response(&body);
    let cut = whole.len() - body.len() + size / 3;
    for (name, last) in [
        ("close", Step::Close),
        ("reset", Step::Reset),
        ("stall", Step::Sleep(Duration::from_secs(3))),
    ] {
        let part = whole[..cut].to_vec();
        let steps = std::sync::Mutex::new(Some(vec![
            Step::Write(part),
            Step::Sleep(Duration::from_millis(50)),
            last,
        ]));
        let node = StubUpstream::start(move |_| match steps.lock().unwrap().take() {
            Some(steps) => Reply::Steps(steps),
            None => Reply::Bytes(ok_json("{\"replayed\":true}")),
        });
        let gateway = start_gateway(
            &format!("splice-cut-{name}"),
            &node.url(),
            ALLOW_ALL,
            &limits_yaml(&[("upstream_response_timeout_ms", 500)]),
        );
        let mut client = Client::connect(gateway.local_addrs()[0]);
        client.send(b"GET /big HTTP/1.1\r\nHost: es\r\n\r\n");
        let (bytes, ending) = client.read_until_end();
        assert!(bytes.starts_with(b"HTTP/1.1 200 OK\r\n"), "{name}");
        assert_eq!(ending, PeerState::Reset, "{name}: {} bytes", bytes.len());
        assert!(bytes.len() < whole.len(), "{name}");
        // What arrived is a prefix of the body, in order.
        assert_eq!(&bytes[..], &whole[..bytes.len()], "{name}");
        assert_eq!(node.count("/big"), 1, "{name}");
    }
}
