//! Elasticsearch-aware rules through the gateway, against the stub upstream: every deny is
//! proven to leave the upstream untouched, every narrowing is checked on the bytes it got.

mod support;

use flate2::write::GzEncoder;
use flate2::Compression;
use ringfence::es::metadata::ClusterMetadata;
use std::io::Write;
use std::sync::Arc;
use support::*;

const POLICY: &str = r#"  access_control_rules:
  - name: "Logstash writer"
    auth_key: "logstash:logstash"
    actions: ["indices:data/write/*", "indices:admin/create", "cluster:monitor/*", "indices:admin/mapping/put"]
    indices: ["logstash-*"]
  - name: "Reader"
    auth_key: "reader:reader"
    indices: ["logs-*"]
  - name: "Team admin"
    auth_key: "team:team"
    indices: ["team-*"]
  - name: "Indexer via privileges"
    auth_key: "indexer:indexer"
    actions: ["@index"]
    indices: ["idx-*"]
"#;

fn gateway(name: &str) -> (StubUpstream, ringfence::runtime::Gateway) {
    let upstream = StubUpstream::echo();
    let gateway = start_gateway(name, &upstream.url(), POLICY, "");
    (upstream, gateway)
}

fn forwarded_target(upstream: &StubUpstream) -> String {
    let requests = upstream.requests();
    let head = requests
        .last()
        .expect("a request reached the upstream")
        .head_text();
    head.split(' ').nth(1).unwrap().to_string()
}

const GOOD_BULK: &[u8] = b"{\"index\":{\"_index\":\"logstash-2024.01.01\"}}\n{\"message\":\"a\"}\n{\"create\":{\"_index\":\"logstash-2024.01.02\",\"_id\":\"1\"}}\n{\"message\":\"b\"}\n";
const BAD_BULK: &[u8] = b"{\"index\":{\"_index\":\"logstash-2024.01.01\"}}\n{\"message\":\"a\"}\n{\"index\":{\"_index\":\"secret\"}}\n{\"message\":\"b\"}\n";

#[test]
fn logstash_writer_bulk_indexes_into_its_indices_only() {
    let (upstream, gateway) = gateway("writer");
    let addr = gateway.local_addrs()[0];
    let ok = roundtrip(
        addr,
        &request(
            "POST",
            "/_bulk",
            "logstash",
            "Content-Type: application/x-ndjson\r\n",
            GOOD_BULK,
        ),
    );
    assert_eq!(ok.status, 200);
    assert_eq!(
        upstream.requests()[0].body,
        GOOD_BULK,
        "the body is forwarded unchanged"
    );

    let denied = roundtrip(addr, &request("POST", "/_bulk", "logstash", "", BAD_BULK));
    assert_eq!(denied.status, 403);
    // Default index from the path, forbidden.
    let denied = roundtrip(
        addr,
        &request(
            "POST",
            "/secret/_bulk",
            "logstash",
            "",
            b"{\"index\":{}}\n{}\n",
        ),
    );
    assert_eq!(denied.status, 403);
    // Escaped index names are decoded before they are checked.
    let escaped = b"{\"index\":{\"_index\":\"s\\u0065cret\"}}\n{}\n";
    assert_eq!(
        roundtrip(addr, &request("POST", "/_bulk", "logstash", "", escaped)).status,
        403
    );
    // Anything but writes to its indices.
    assert_eq!(
        roundtrip(
            addr,
            &request("GET", "/logstash-1/_search", "logstash", "", b"")
        )
        .status,
        403
    );
    assert_eq!(
        roundtrip(addr, &request("DELETE", "/logstash-1", "logstash", "", b"")).status,
        403
    );
    assert_eq!(
        upstream.requests().len(),
        1,
        "only the allowed bulk reached the upstream"
    );
}

#[test]
fn chunked_and_gzip_bulk_bodies_are_inspected_and_forwarded_unchanged() {
    let (upstream, gateway) = gateway("gzip");
    let addr = gateway.local_addrs()[0];
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(GOOD_BULK).unwrap();
    let compressed = gz.finish().unwrap();
    let ok = roundtrip(
        addr,
        &request(
            "POST",
            "/_bulk",
            "logstash",
            "Content-Encoding: gzip\r\n",
            &compressed,
        ),
    );
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
    assert_eq!(
        upstream.requests()[0].body,
        compressed,
        "forwarded exactly as sent, still compressed"
    );

    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    gz.write_all(BAD_BULK).unwrap();
    let bad = gz.finish().unwrap();
    assert_eq!(
        roundtrip(
            addr,
            &request(
                "POST",
                "/_bulk",
                "logstash",
                "Content-Encoding: gzip\r\n",
                &bad
            )
        )
        .status,
        403
    );
    let unknown = roundtrip(
        addr,
        &request(
            "POST",
            "/_bulk",
            "logstash",
            "Content-Encoding: br\r\n",
            GOOD_BULK,
        ),
    );
    assert_eq!(unknown.status, 415);

    // Chunked: inspected whole, then forwarded as the same chunks.
    let mut client = Client::connect(addr);
    let head = format!(
        "POST /_bulk HTTP/1.1\r\nHost: es\r\n{}Transfer-Encoding: chunked\r\n\r\n",
        basic("logstash")
    );
    client.send(head.as_bytes());
    client.send(format!("{:x}\r\n", GOOD_BULK.len()).as_bytes());
    client.send(GOOD_BULK);
    client.send(b"\r\n0\r\n\r\n");
    assert_eq!(client.read_response(false).status, 200);
    let forwarded = upstream.requests();
    assert_eq!(forwarded.len(), 2);
    assert_eq!(forwarded[1].body, GOOD_BULK);
    assert!(forwarded[1]
        .head_text()
        .contains("transfer-encoding: chunked"));
}

#[test]
fn zip_bombs_are_refused() {
    let (upstream, gateway) = start_gateway_with("bomb", &[("max_body_bytes", 1 << 20)]);
    let addr = gateway.local_addrs()[0];
    let mut bomb = b"{\"index\":{\"_index\":\"logstash-1\"}}\n{\"a\":\"".to_vec();
    bomb.extend(std::iter::repeat_n(b'a', 8 << 20));
    bomb.extend_from_slice(b"\"}\n");
    let mut gz = GzEncoder::new(Vec::new(), Compression::best());
    gz.write_all(&bomb).unwrap();
    let compressed = gz.finish().unwrap();
    assert!(compressed.len() < 1 << 20);
    let response = roundtrip(
        addr,
        &request(
            "POST",
            "/_bulk",
            "logstash",
            "Content-Encoding: gzip\r\n",
            &compressed,
        ),
    );
    assert_eq!(response.status, 413);
    assert!(upstream.requests().is_empty());
}

fn start_gateway_with(
    name: &str,
    limits: &[(&str, u64)],
) -> (StubUpstream, ringfence::runtime::Gateway) {
    let upstream = StubUpstream::echo();
    let gateway = start_gateway(name, &upstream.url(), POLICY, &limits_yaml(limits));
    (upstream, gateway)
}

#[test]
fn reads_are_narrowed_to_allowed_indices() {
    let (upstream, gateway) = gateway("narrow");
    let metadata = ClusterMetadata::from_resolve_response(
        br#"{"indices":[{"name":"logs-1","aliases":["mixed"]},{"name":"logs-2"},{"name":"secret","aliases":["mixed"]},{"name":".hidden-logs","attributes":["hidden"]}],
             "aliases":[{"name":"mixed","indices":["logs-1","secret"]}],"data_streams":[]}"#,
    )
    .unwrap();
    gateway.metadata().store(Arc::new(metadata));
    let addr = gateway.local_addrs()[0];
    let cases: &[(&str, &str)] = &[
        ("/logs-1/_search?q=x", "/logs-1/_search?q=x"),
        ("/logs-1,secret/_search", "/logs-1/_search"),
        ("/logs-1,%73ecret/_search", "/logs-1/_search"),
        ("/logs-1%2Csecret/_search", "/logs-1/_search"),
        ("/_search", "/logs-1,logs-2/_search"),
        ("/*/_count", "/logs-1,logs-2/_count"),
        ("/mixed/_search", "/logs-1/_search"),
        (
            "/_cat/indices?format=json",
            "/_cat/indices/logs-1,logs-2?format=json",
        ),
        ("/logs-*/_search", "/logs-*/_search"),
        // Exclusions are applied here when the list is narrowed to concrete names.
        ("/*,-logs-2/_search", "/logs-1/_search"),
        ("/logs-*,-logs-2/_search", "/logs-*,-logs-2/_search"),
        ("/logs-*,secret,-logs-2/_search", "/logs-*,-logs-2/_search"),
    ];
    for (asked, forwarded) in cases {
        let response = roundtrip(addr, &request("GET", asked, "reader", "", b""));
        assert_eq!(
            response.status,
            200,
            "{asked}: {}",
            String::from_utf8_lossy(&response.body)
        );
        assert_eq!(forwarded_target(&upstream), *forwarded, "{asked}");
    }
    let before = upstream.requests().len();
    // Only forbidden indices: the same 404 Elasticsearch gives for a missing index.
    let missing = roundtrip(addr, &request("GET", "/secret/_search", "reader", "", b""));
    assert_eq!(missing.status, 404);
    let json = missing.json();
    assert_eq!(json["error"]["type"], "index_not_found_exception");
    assert_eq!(json["error"]["reason"], "no such index [secret]");
    assert_eq!(json["error"]["index"], "secret");
    assert_eq!(
        upstream.requests().len(),
        before,
        "a 404 for a forbidden index never reaches the node"
    );
    // A forbidden wildcard becomes one that matches nothing: the node answers as usual.
    let empty = roundtrip(addr, &request("GET", "/secret*/_search", "reader", "", b""));
    assert_eq!(empty.status, 200);
    assert!(
        forwarded_target(&upstream).starts_with("/.rf-none-"),
        "{}",
        forwarded_target(&upstream)
    );
    // Writes are never narrowed.
    let write = roundtrip(
        addr,
        &request("PUT", "/logs-1,secret/_settings", "reader", "", b"{}"),
    );
    assert_eq!(write.status, 403);
}

#[test]
fn msearch_and_mget_are_narrowed_per_subrequest() {
    let (upstream, gateway) = gateway("multi");
    let addr = gateway.local_addrs()[0];
    // (target, body, status, what the node must receive instead, if rewritten)
    let cases: &[(&str, &[u8], u16, Option<&str>)] = &[
        (
            "/_msearch",
            b"{\"index\":\"logs-1\"}\n{}\n{\"index\":\"logs-2\"}\n{}\n",
            200,
            None,
        ),
        // The secret search asks an index that cannot exist; the other one is untouched.
        (
            "/_msearch",
            b"{\"index\":\"logs-1\"}\n{}\n{\"index\":\"secret\"}\n{}\n",
            200,
            Some("{\"index\":\"logs-1\"}\n{}\n{\"index\":\".rf-none-"),
        ),
        ("/logs-1/_mget", b"{\"ids\":[\"1\"]}", 200, None),
        (
            "/_mget",
            b"{\"docs\":[{\"_index\":\"secret\",\"_id\":\"1\"},{\"_index\":\"logs-1\",\"_id\":\"2\"}]}",
            200,
            Some("{\"docs\":[{\"_index\":\".rf-none-"),
        ),
        // An unknown key inside a doc could hide an index from an older parser: refused.
        (
            "/_mget",
            b"{\"docs\":[{\"_index\":\"ok\",\"x\":{\"_index\":\"secret\"}}]}",
            400,
            None,
        ),
    ];
    for (target, body, status, rewritten) in cases {
        let before = upstream.requests().len();
        let response = roundtrip(addr, &request("POST", target, "reader", "", body));
        let shown = String::from_utf8_lossy(body);
        assert_eq!(response.status, *status, "{target} {shown}");
        let received = upstream.requests();
        if *status != 200 {
            assert_eq!(received.len(), before, "{target} {shown} reached the node");
            continue;
        }
        let forwarded = String::from_utf8_lossy(&received[before].body).into_owned();
        assert!(!forwarded.contains("secret"), "{forwarded}");
        match rewritten {
            None => assert_eq!(forwarded.as_bytes(), *body),
            Some(prefix) => {
                assert!(forwarded.starts_with(prefix), "{forwarded}");
                let head = received[before].head_text().to_ascii_lowercase();
                assert!(
                    head.contains(&format!("content-length: {}\r\n", forwarded.len())),
                    "{head}"
                );
            }
        }
    }
}

#[test]
fn named_privileges_check_each_bulk_item() {
    let (upstream, gateway) = gateway("privileges");
    let addr = gateway.local_addrs()[0];
    let index_only = b"{\"index\":{\"_index\":\"idx-1\"}}\n{}\n{\"update\":{\"_index\":\"idx-1\",\"_id\":\"1\"}}\n{\"doc\":{}}\n";
    assert_eq!(
        roundtrip(addr, &request("POST", "/_bulk", "indexer", "", index_only)).status,
        200
    );
    let with_delete = b"{\"index\":{\"_index\":\"idx-1\"}}\n{}\n{\"delete\":{\"_index\":\"idx-1\",\"_id\":\"1\"}}\n";
    assert_eq!(
        roundtrip(addr, &request("POST", "/_bulk", "indexer", "", with_delete)).status,
        403
    );
    assert_eq!(upstream.requests().len(), 1);
}

#[test]
fn unknown_endpoints_and_bad_paths_fail_closed() {
    let upstream = StubUpstream::echo();
    let policy = "  access_control_rules:\n  - name: all actions\n    actions: [\"*\"]\n    indices: [\"*\"]\n";
    let gateway = start_gateway("unknown", &upstream.url(), policy, "");
    let addr = gateway.local_addrs()[0];
    assert_eq!(
        roundtrip(
            addr,
            b"GET /_plugins/_security/api/internalusers HTTP/1.1\r\nHost: es\r\n\r\n"
        )
        .status,
        403
    );
    for bad in [
        "/logs%2Fsecret/_search",
        "/./_search",
        "//_search",
        "/_search?index=secret",
        "/%zz/_search",
    ] {
        let response = roundtrip(
            addr,
            format!("GET {bad} HTTP/1.1\r\nHost: es\r\n\r\n").as_bytes(),
        );
        assert_eq!(response.status, 400, "{bad}");
        assert_eq!(
            response.json()["error"]["type"],
            "illegal_argument_exception"
        );
    }
    assert!(upstream.requests().is_empty());
}

#[test]
fn expect_continue_is_answered_before_the_body_when_credentials_fail() {
    let (upstream, gateway) = gateway("expect-es");
    let addr = gateway.local_addrs()[0];
    // Wrong password: answered on the head, the body is never read.
    let mut client = Client::connect(addr);
    client.send(b"POST /_bulk HTTP/1.1\r\nHost: es\r\nAuthorization: Basic bG9nc3Rhc2g6eA==\r\nContent-Length: 1000000\r\nExpect: 100-continue\r\n\r\n");
    let response = client.read_response(false);
    assert_eq!(
        response.status,
        401,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    // Right password: 100 Continue, then the body is read, inspected and forwarded.
    let mut client = Client::connect(addr);
    let head = format!(
        "POST /_bulk HTTP/1.1\r\nHost: es\r\n{}Content-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        basic("logstash"),
        GOOD_BULK.len()
    );
    client.send(head.as_bytes());
    assert_eq!(client.read_response(false).status, 100);
    client.send(GOOD_BULK);
    assert_eq!(client.read_response(false).status, 200);
    assert_eq!(upstream.requests().len(), 1);
}

#[test]
fn templates_aliases_and_snapshots_are_checked_against_what_they_change() {
    let (upstream, gateway) = gateway("admin-bodies");
    gateway.metadata().store(Arc::new({
        let mut m = ClusterMetadata::default();
        m.add_templates(
            ringfence::es::metadata::TemplateKind::Composable,
            br#"{"index_templates":[{"name":"theirs","index_template":{"index_patterns":["other-*"]}},
                                    {"name":"mine","index_template":{"index_patterns":["team-*"]}}]}"#,
        )
        .unwrap();
        m
    }));
    let addr = gateway.local_addrs()[0];
    let team = |method: &str, target: &str, body: &[u8]| {
        roundtrip(addr, &request(method, target, "team", "", body)).status
    };
    let ours = br#"{"index_patterns":["team-*"]}"#;
    assert_eq!(team("PUT", "/_index_template/new-one", ours), 200);
    assert_eq!(team("PUT", "/_index_template/mine", ours), 200);
    // Overwriting someone else's template, or deleting it, changes their indices.
    assert_eq!(team("PUT", "/_index_template/theirs", ours), 403);
    assert_eq!(team("DELETE", "/_index_template/theirs", b""), 403);
    assert_eq!(team("DELETE", "/_index_template/mine", b""), 200);
    // Aliases created with an index are names like any other.
    assert_eq!(
        team("PUT", "/team-1", br#"{"aliases":{"team-all":{}}}"#),
        200
    );
    assert_eq!(
        team(
            "PUT",
            "/team-2",
            br#"{"aliases":{"other-logs":{"is_write_index":true}}}"#
        ),
        403
    );
    // Snapshots read what they include; restores write what they restore.
    assert_eq!(
        team("PUT", "/_snapshot/repo/s1", br#"{"indices":"team-1"}"#),
        200
    );
    assert_eq!(
        team(
            "PUT",
            "/_snapshot/repo/s2",
            br#"{"indices":["team-1","other-1"]}"#
        ),
        403
    );
    assert_eq!(team("PUT", "/_snapshot/repo/s3", b"{}"), 403);
    assert_eq!(
        team(
            "POST",
            "/_snapshot/repo/s1/_restore",
            br#"{"indices":"team-1"}"#
        ),
        200
    );
    assert_eq!(
        team(
            "POST",
            "/_snapshot/repo/s1/_restore",
            br#"{"indices":"team-1","rename_pattern":"(.+)","rename_replacement":"x$1"}"#
        ),
        403
    );
    // Bodies in other media types are not read differently: they are refused.
    let yaml = roundtrip(
        addr,
        &request(
            "PUT",
            "/team-3",
            "team",
            "Content-Type: application/yaml\r\n",
            b"aliases:\n  other: {}\n",
        ),
    );
    assert_eq!(yaml.status, 415);
    assert_eq!(upstream.requests().len(), 6);
}

#[test]
fn inspected_bodies_are_bounded() {
    let (upstream, bounded) = start_gateway_with("bounded", &[("max_buffered_body_bytes", 4096)]);
    let addr = bounded.local_addrs()[0];
    // More than this worker may hold for inspection at once: 503, try again later.
    let mut big = Vec::new();
    while big.len() < 8192 {
        big.extend_from_slice(
            b"{\"index\":{\"_index\":\"logstash-1\"}}\n{\"m\":\"xxxxxxxxxxxxxxxx\"}\n",
        );
    }
    let response = roundtrip(addr, &request("POST", "/_bulk", "logstash", "", &big));
    assert_eq!(response.status, 503);
    assert!(response.header("retry-after").is_some());
    assert!(upstream.requests().is_empty());

    let (upstream, gateway) = gateway("framing");
    let addr = gateway.local_addrs()[0];
    // Chunk framing far larger than the data it carries is refused, not buffered.
    let mut client = Client::connect(addr);
    let head = format!(
        "POST /_bulk HTTP/1.1\r\nHost: es\r\n{}Transfer-Encoding: chunked\r\n\r\n",
        basic("logstash")
    );
    client.send(head.as_bytes());
    let chunk = format!("1;{}\r\nx\r\n", "e".repeat(4000));
    for _ in 0..64 {
        if std::io::Write::write_all(&mut client.stream, chunk.as_bytes()).is_err() {
            break;
        }
    }
    let response = client.read_response(false);
    assert_eq!(response.status, 400);
    assert!(String::from_utf8_lossy(&response.body).contains("far more framing than data"));
    assert!(upstream.requests().is_empty());
    // A body in the `source` query parameter is inspected like one sent as the body: narrowed,
    // it goes as the body, and the parameter leaves the query.
    let sneaky = roundtrip(addr, &request("GET", "/_msearch?source=%7B%22index%22%3A%22secret%22%7D%0A%7B%7D%0A&source_content_type=application/x-ndjson&pretty", "reader", "", b""));
    assert_eq!(sneaky.status, 200);
    let forwarded = &upstream.requests()[0];
    let head = forwarded.head_text();
    assert!(
        head.starts_with("GET /_msearch?pretty HTTP/1.1\r\n"),
        "{head}"
    );
    let body = String::from_utf8_lossy(&forwarded.body);
    assert!(
        body.starts_with("{\"index\":\".rf-none-") && !body.contains("secret"),
        "{body}"
    );
    // Without its content type it is refused, as Elasticsearch refuses it.
    let untyped = roundtrip(
        addr,
        &request(
            "GET",
            "/_msearch?source=%7B%7D%0A%7B%7D%0A",
            "reader",
            "",
            b"",
        ),
    );
    assert_eq!(untyped.status, 400);
    assert_eq!(upstream.requests().len(), 1);
    // The type becomes a header of the rewritten request: one that would end the field and
    // start another (here a second Content-Length) is refused, not sent.
    for content_type in [
        "application/x-ndjson%0D%0AContent-Length:%200",
        "application/x-ndjson%0AX-Opaque-Id:%20x",
        "application/x-ndjson%3B%00",
    ] {
        let target = format!(
            "/_msearch?source=%7B%22index%22%3A%22secret%22%7D%0A%7B%7D%0A&source_content_type={content_type}"
        );
        let injected = roundtrip(addr, &request("GET", &target, "reader", "", b""));
        assert_eq!(injected.status, 400, "{content_type}");
        assert_eq!(injected.json()["status"], 400, "{content_type}");
    }
    assert_eq!(upstream.requests().len(), 1);
}

#[test]
fn indices_read_from_inside_a_query_must_be_granted() {
    let (upstream, gateway) = gateway("lookups");
    let addr = gateway.local_addrs()[0];
    let json = "Content-Type: application/json\r\n";
    let lookup = |index: &str| {
        format!(
            r#"{{"query":{{"terms":{{"user":{{"index":"{index}","id":"1","path":"name"}}}}}}}}"#
        )
    };
    let validate = |body: &str| {
        request(
            "POST",
            "/logs-*/_validate/query?explain",
            "reader",
            json,
            body.as_bytes(),
        )
    };
    // Issue 10: a `logs-*` reader printed a field of `secret-1/_doc/1` this way.
    let denied = assert_decided(addr, &upstream, &validate(&lookup("secret-1")), 403);
    assert_eq!(denied.json()["error"]["type"], "forbidden_response");
    // A lookup of an index the reader may read goes through, body untouched.
    let allowed = lookup("logs-2");
    assert_decided(addr, &upstream, &validate(&allowed), 200);
    assert_eq!(upstream.requests().last().unwrap().body, allowed.as_bytes());
    // The same inside an `_msearch` search, and a stored template (which needs every index).
    let msearch = format!("{{\"index\":\"logs-1\"}}\n{}\n", lookup("secret-1"));
    assert_decided(
        addr,
        &upstream,
        &request("POST", "/_msearch", "reader", "", msearch.as_bytes()),
        403,
    );
    let stored = br#"{"id":"all-users","params":{}}"#;
    assert_decided(
        addr,
        &upstream,
        &request("POST", "/logs-1/_search/template", "reader", json, stored),
        403,
    );
    // The query of a `_reindex` source, and the searches of a `_rank_eval`.
    let reindex = |index: &str| {
        let body = format!(
            r#"{{"source":{{"index":"logs-1","query":{{"terms":{{"f":{{"index":"{index}","id":"1","path":"ssn"}}}}}}}},"dest":{{"index":"logs-copy"}}}}"#
        );
        request("POST", "/_reindex", "reader", json, body.as_bytes())
    };
    assert_decided(addr, &upstream, &reindex("secret"), 403);
    assert_decided(addr, &upstream, &reindex("logs-2"), 200);
    let rank_eval = |index: &str| {
        let body = format!(
            r#"{{"requests":[{{"id":"q","request":{{"query":{{"percolate":{{"field":"q","index":"{index}","id":"1"}}}}}},"ratings":[]}}],"metric":{{"precision":{{}}}}}}"#
        );
        request(
            "POST",
            "/logs-1/_rank_eval",
            "reader",
            json,
            body.as_bytes(),
        )
    };
    assert_decided(addr, &upstream, &rank_eval("secret"), 403);
    assert_decided(addr, &upstream, &rank_eval("logs-2"), 200);
    let templates = br#"{"templates":[{"id":"t","template":{"id":"stored"}}],"requests":[{"id":"q","template_id":"t","params":{},"ratings":[]}]}"#;
    assert_decided(
        addr,
        &upstream,
        &request("POST", "/logs-1/_rank_eval", "reader", json, templates),
        403,
    );
}

/// A body in a media type the gateway does not read (CBOR here) is refused only when the
/// decision needs what is in it; a block without an `indices` rule never reads it.
#[test]
fn bodies_are_judged_only_when_the_decision_reads_them() {
    const POLICY: &str = r#"  access_control_rules:
  - name: "Reader"
    auth_key: "reader:reader"
    indices: ["logs-*"]
  - name: "Admin"
    auth_key: "admin:admin"
"#;
    let upstream = StubUpstream::echo();
    let gateway = start_gateway("judged-bodies", &upstream.url(), POLICY, "");
    let addr = gateway.local_addrs()[0];
    // `{"query":{"match_all":{}}}` in CBOR.
    let cbor: &[u8] = b"\xa1\x65query\xa1\x69match_all\xa0";
    let cbor_search = |user| {
        request(
            "POST",
            "/logs-1/_search",
            user,
            "Content-Type: application/cbor\r\n",
            cbor,
        )
    };
    assert_decided(addr, &upstream, &cbor_search("admin"), 200);
    assert_eq!(upstream.requests().last().unwrap().body, cbor);
    let refused = assert_decided(addr, &upstream, &cbor_search("reader"), 415);
    assert_eq!(
        refused.json()["error"]["type"],
        "media_type_not_supported_exception"
    );
    // Malformed NDJSON is the node's to answer when nothing in the policy reads it.
    let broken: &[u8] = b"{\"index\":{\"_index\":\n";
    let bulk = |user| request("POST", "/_bulk", user, "", broken);
    assert_decided(addr, &upstream, &bulk("admin"), 200);
    assert_decided(addr, &upstream, &bulk("reader"), 400);
}

/// APIs that read or write indices named where the gateway does not look (a transform's
/// source in its body, a stored datafeed, ...) are never granted by an `indices` rule.
#[test]
fn indices_named_where_the_gateway_does_not_look_are_never_granted() {
    const POLICY: &str = r#"  access_control_rules:
  - name: "No secrets"
    type: forbid
    auth_key: "other:other"
    indices: ["secret*"]
  - name: "Reader"
    auth_key: "reader:reader"
    indices: ["logs-*"]
  - name: "Admin"
    auth_key: "admin:admin"
  - name: "Other"
    auth_key: "other:other"
"#;
    let upstream = StubUpstream::echo();
    let gateway = start_gateway("unread", &upstream.url(), POLICY, "");
    let addr = gateway.local_addrs()[0];
    let json = "Content-Type: application/json\r\n";
    let preview = br#"{"source":{"index":"secret-1"},"pivot":{"group_by":{"u":{"terms":{"field":"user"}}},"aggregations":{"n":{"value_count":{"field":"user"}}}}}"#;
    let requests = [
        request("POST", "/_transform/_preview", "U", json, preview),
        request("POST", "/_ml/datafeeds/feed-1/_start", "U", "", b""),
        request(
            "PUT",
            "/_enrich/policy/p",
            "U",
            json,
            br#"{"match":{"indices":"secret-1","match_field":"u","enrich_fields":["x"]}}"#,
        ),
        request(
            "POST",
            "/_data_stream/_modify",
            "U",
            json,
            br#"{"actions":[{"add_backing_index":{"data_stream":"logs-mine","index":"secret-1"}}]}"#,
        ),
        request(
            "POST",
            "/_text_structure/find_field_structure?index=secret-1&field=message",
            "U",
            "",
            b"",
        ),
    ];
    for raw in &requests {
        let as_user = |user: &str| {
            String::from_utf8(raw.clone())
                .unwrap()
                .replace(&basic("U"), &basic(user))
                .into_bytes()
        };
        assert_decided(addr, &upstream, &as_user("reader"), 403);
        // A forbid block cannot tell that such a request stays away from its indices.
        assert_decided(addr, &upstream, &as_user("other"), 403);
        assert_decided(addr, &upstream, &as_user("admin"), 200);
    }
}

const NAMES_POLICY: &str = r#"  access_control_rules:
  - name: "Backups"
    auth_key: "backup:backup"
    repositories: ["backup-*"]
    snapshots: ["nightly-*"]
  - name: "Streams"
    auth_key: "streams:streams"
    data_streams: ["logs-ds-*"]
  - name: "Must involve indices"
    auth_key: "involve:involve"
    indices:
      patterns: ["logs-*"]
      must_involve_indices: true
  - name: "May involve indices"
    auth_key: "loose:loose"
    indices: ["logs-*"]
"#;

#[test]
fn repositories_and_snapshots_rules() {
    let upstream = StubUpstream::echo();
    let gateway = start_gateway("repositories", &upstream.url(), NAMES_POLICY, "");
    let addr = gateway.local_addrs()[0];
    let cases: &[(&str, &str, &[u8], u16)] = &[
        ("GET", "/_snapshot/backup-1", b"", 200),
        ("GET", "/_snapshot/backup-1/nightly-1", b"", 200),
        ("DELETE", "/_snapshot/backup-1/nightly-1", b"", 200),
        ("PUT", "/_snapshot/backup-1/nightly-2", b"", 200),
        ("GET", "/_snapshot/other", b"", 403),
        ("GET", "/_snapshot/backup-1,other", b"", 403),
        ("GET", "/_snapshot/backup-1/weekly-1", b"", 403),
        ("GET", "/_snapshot/other/nightly-1", b"", 403),
        ("POST", "/_snapshot/other/nightly-1/_restore", b"", 403),
        // All repositories, or all snapshots, need a pattern covering `*`.
        ("GET", "/_snapshot", b"", 403),
        ("GET", "/_snapshot/backup-1/_all", b"", 403),
    ];
    for (method, target, body, status) in cases {
        assert_decided(
            addr,
            &upstream,
            &request(method, target, "backup", "", body),
            *status,
        );
    }
}

#[test]
fn snapshot_creation_with_a_body_is_decided_on_its_repository_and_name() {
    let upstream = StubUpstream::echo();
    let gateway = start_gateway("snapshot-body", &upstream.url(), NAMES_POLICY, "");
    let addr = gateway.local_addrs()[0];
    let body = br#"{"indices":"logs-1"}"#;
    let create = |target: &str| request("PUT", target, "backup", "", body);
    assert_decided(
        addr,
        &upstream,
        &create("/_snapshot/backup-1/nightly-3"),
        200,
    );
    assert_eq!(upstream.requests().last().unwrap().body, body);
    assert_decided(addr, &upstream, &create("/_snapshot/other/nightly-3"), 403);
    assert_decided(
        addr,
        &upstream,
        &create("/_snapshot/backup-1/weekly-3"),
        403,
    );
}

#[test]
fn data_streams_rule() {
    let upstream = StubUpstream::echo();
    let gateway = start_gateway("data-streams", &upstream.url(), NAMES_POLICY, "");
    let addr = gateway.local_addrs()[0];
    let cases: &[(&str, &str, u16)] = &[
        ("GET", "/_data_stream/logs-ds-1", 200),
        ("PUT", "/_data_stream/logs-ds-2", 200),
        ("DELETE", "/_data_stream/logs-ds-2", 200),
        ("GET", "/_data_stream/other", 403),
        ("PUT", "/_data_stream/other", 403),
        ("DELETE", "/_data_stream/logs-ds-1,other", 403),
        ("GET", "/_data_stream", 403),
    ];
    for (method, target, status) in cases {
        assert_decided(
            addr,
            &upstream,
            &request(method, target, "streams", "", b""),
            *status,
        );
    }
}

#[test]
fn must_involve_indices_refuses_requests_about_no_index() {
    let upstream = StubUpstream::echo();
    let gateway = start_gateway("must-involve", &upstream.url(), NAMES_POLICY, "");
    let addr = gateway.local_addrs()[0];
    let get = |target: &str, user: &str| request("GET", target, user, "", b"");
    // A request that names no index matches only the block that does not insist.
    assert_decided(addr, &upstream, &get("/", "involve"), 403);
    assert_decided(addr, &upstream, &get("/_nodes", "involve"), 403);
    assert_decided(addr, &upstream, &get("/", "loose"), 200);
    assert_decided(addr, &upstream, &get("/_nodes", "loose"), 200);
    // Requests about indices are decided by the patterns either way.
    for user in ["involve", "loose"] {
        assert_decided(addr, &upstream, &get("/logs-1/_search", user), 200);
        let missing = assert_decided(addr, &upstream, &get("/secret/_search", user), 404);
        assert_eq!(missing.json()["error"]["type"], "index_not_found_exception");
        assert_decided(
            addr,
            &upstream,
            &request("PUT", "/secret/_doc/1", user, "", b"{}"),
            403,
        );
    }
}

/// A node whose refresher answers hold two pipelines (`add-field`, and `reroute-to-secret`,
/// which sets `_index`) and an index `logstash-routed` that runs the second by default;
/// every other request is echoed.
fn node_with_pipelines() -> StubUpstream {
    StubUpstream::start(|req| {
        let path = req.head_text().split(' ').nth(1).unwrap_or("").to_string();
        let body = match path.as_str() {
            "/_resolve/index/*?expand_wildcards=all" => {
                r#"{"indices":[{"name":"logstash-1"},{"name":"logstash-routed"},{"name":"secret"}],"aliases":[],"data_streams":[]}"#
            }
            "/_all/_settings/index.default_pipeline,index.final_pipeline?expand_wildcards=all&flat_settings=true" => {
                r#"{"logstash-routed":{"settings":{"index.default_pipeline":"reroute-to-secret"}}}"#
            }
            "/_index_template" => r#"{"index_templates":[]}"#,
            "/_component_template" => r#"{"component_templates":[]}"#,
            "/_template" => "{}",
            "/_ingest/pipeline" => {
                r#"{"add-field":{"processors":[{"set":{"field":"tag","value":"x"}}]},
                    "reroute-to-secret":{"processors":[{"set":{"field":"_index","value":"secret"}}]}}"#
            }
            _ => return Reply::Bytes(ok_json(&format!("{{\"path\":\"{path}\"}}"))),
        };
        Reply::Bytes(ok_json(body))
    })
}

/// A gateway in front of [`node_with_pipelines`] whose policy adds a block granting every
/// index (`admin`), once it has read the node's metadata.
fn gateway_with_pipelines(name: &str) -> (StubUpstream, ringfence::runtime::Gateway) {
    let upstream = node_with_pipelines();
    let policy = format!(
        "{POLICY}  - name: \"Admin\"\n    auth_key: \"admin:admin\"\n    indices: [\"*\"]\n"
    );
    // One refresh at start, then none while the test runs: the stub sees only its requests.
    let gateway = start_gateway(
        name,
        &upstream.url(),
        &policy,
        "  metadata_refresh_ms: 600000\n",
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while gateway.metadata().load().ingest.pipelines.len() < 2 {
        assert!(std::time::Instant::now() < deadline, "metadata not loaded");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    (upstream, gateway)
}

#[test]
fn pipelines_that_may_reroute_are_refused_before_the_node() {
    let (upstream, gateway) = gateway_with_pipelines("pipelines");
    let addr = gateway.local_addrs()[0];
    let doc = |user: &str, target: &str| request("PUT", target, user, "", b"{}");
    let bulk = |user: &str, item: &str| {
        let body = format!("{item}\n{{}}\n");
        request("POST", "/_bulk", user, "", body.as_bytes())
    };
    #[rustfmt::skip]
    let cases: &[(Vec<u8>, u16)] = &[
        (doc("logstash", "/logstash-1/_doc/1"), 200),
        (doc("logstash", "/logstash-1/_doc/1?pipeline=add-field"), 200),
        (doc("logstash", "/logstash-1/_doc/1?pipeline=reroute-to-secret"), 403),
        (doc("logstash", "/logstash-1/_doc/1?pipeline=unknown"), 403),
        (doc("logstash", "/logstash-routed/_doc/1"), 403),
        (bulk("logstash", r#"{"index":{"_index":"logstash-1","pipeline":"add-field"}}"#), 200),
        (bulk("logstash", r#"{"index":{"_index":"logstash-1","pipeline":"reroute-to-secret"}}"#), 403),
        (bulk("logstash", r#"{"index":{"_index":"logstash-routed"}}"#), 403),
        // A user who may write every index may use them.
        (doc("admin", "/logstash-1/_doc/1?pipeline=reroute-to-secret"), 200),
        (doc("admin", "/logstash-routed/_doc/1"), 200),
    ];
    for (raw, status) in cases {
        assert_decided(addr, &upstream, raw, *status);
    }
}

/// Setting an index's default or final pipeline (creation, settings update, templates) takes
/// effect before the next metadata refresh: the request that sets one that may reroute, or
/// one the gateway does not know, is refused unless every index is granted.
#[test]
fn pipelines_set_in_settings_are_refused_before_the_node() {
    let (upstream, gateway) = gateway_with_pipelines("pipelines-set");
    let addr = gateway.local_addrs()[0];
    let put = |user: &str, target: &str, body: &str| {
        request(
            "PUT",
            target,
            user,
            "Content-Type: application/json\r\n",
            body.as_bytes(),
        )
    };
    #[rustfmt::skip]
    let cases: &[(Vec<u8>, u16)] = &[
        // Index creation, in each spelling Elasticsearch accepts.
        (put("team", "/team-x", r#"{"settings":{"index.default_pipeline":"reroute-to-secret"}}"#), 403),
        (put("team", "/team-x", r#"{"settings":{"index":{"default_pipeline":"reroute-to-secret"}}}"#), 403),
        (put("team", "/team-x", r#"{"settings":{"final_pipeline":"reroute-to-secret"}}"#), 403),
        (put("team", "/team-x", r#"{"settings":{"index":{"final_pipeline":"unknown"}}}"#), 403),
        (put("team", "/team-x", r#"{"settings":{"index.default_pipeline":["add-field"]}}"#), 403),
        (put("team", "/team-x", r#"{"settings":{"index":{"default_pipeline":"add-field"}}}"#), 200),
        (put("logstash", "/logstash-x", r#"{"settings":{"index.default_pipeline":"reroute-to-secret"}}"#), 403),
        (put("logstash", "/logstash-x", r#"{"settings":{"index.default_pipeline":"add-field"}}"#), 200),
        // Settings updates, bare or wrapped in `settings`.
        (put("team", "/team-1/_settings", r#"{"index.final_pipeline":"reroute-to-secret"}"#), 403),
        (put("team", "/team-1/_settings", r#"{"settings":{"index":{"default_pipeline":"reroute-to-secret"}}}"#), 403),
        (put("team", "/team-1/_settings", r#"{"settings":{"index":{"default_pipeline":"add-field"}}}"#), 200),
        (put("team", "/team-1/_settings", r#"{"index":{"default_pipeline":null}}"#), 200),
        // Index, legacy and component templates.
        (put("team", "/_index_template/t", r#"{"index_patterns":["team-t-*"],"template":{"settings":{"index":{"default_pipeline":"reroute-to-secret"}}}}"#), 403),
        (put("team", "/_index_template/t", r#"{"index_patterns":["team-t-*"],"template":{"settings":{"index":{"default_pipeline":"add-field"}}}}"#), 200),
        (put("team", "/_template/t", r#"{"index_patterns":["team-t-*"],"settings":{"final_pipeline":"unknown"}}"#), 403),
        (put("team", "/_component_template/c", r#"{"template":{"settings":{"index.default_pipeline":"reroute-to-secret"}}}"#), 403),
        // A user who may write every index may set them.
        (put("admin", "/team-x", r#"{"settings":{"index.default_pipeline":"reroute-to-secret"}}"#), 200),
        (put("admin", "/_settings", r#"{"index":{"final_pipeline":"unknown"}}"#), 200),
        (put("admin", "/_component_template/c", r#"{"template":{"settings":{"index.default_pipeline":"reroute-to-secret"}}}"#), 200),
    ];
    for (raw, status) in cases {
        assert_decided(addr, &upstream, raw, *status);
    }
}

/// Redefining a pipeline takes effect before the next metadata refresh: a definition that
/// may reroute (or cannot be read) is refused unless every index is granted; one known never
/// to reroute reaches the node.
#[test]
fn pipeline_definitions_that_may_reroute_are_refused_before_the_node() {
    let (upstream, gateway) = gateway_with_pipelines("pipelines-defined");
    let addr = gateway.local_addrs()[0];
    let put = |user: &str, id: &str, body: &str| {
        request(
            "PUT",
            &format!("/_ingest/pipeline/{id}"),
            user,
            "Content-Type: application/json\r\n",
            body.as_bytes(),
        )
    };
    #[rustfmt::skip]
    let cases: &[(Vec<u8>, u16)] = &[
        // `team` may write only `team-*`: `add-field`, known never to reroute, must stay so.
        (put("team", "add-field", r#"{"processors":[{"set":{"field":"_index","value":"secret"}}]}"#), 403),
        (put("team", "add-field", r#"{"processors":[{"script":{"source":"ctx._index = 'secret'"}}]}"#), 403),
        (put("team", "add-field", r#"{"processors":[{"pipeline":{"name":"reroute-to-secret"}}]}"#), 403),
        (put("team", "new", r#"{"processors":[{"pipeline":{"name":"new"}}]}"#), 403),
        (put("team", "add-field", "processors: []"), 403),
        (put("team", "add-field", r#"{"processors":[{"set":{"field":"tag","value":"y"}}]}"#), 200),
        (put("team", "new", r#"{"processors":[{"pipeline":{"name":"add-field"}}]}"#), 200),
        // A user who may write every index may define them.
        (put("admin", "add-field", r#"{"processors":[{"set":{"field":"_index","value":"secret"}}]}"#), 200),
    ];
    for (raw, status) in cases {
        assert_decided(addr, &upstream, raw, *status);
    }
    let last = upstream.requests().last().unwrap().body.clone();
    assert_eq!(
        last, br#"{"processors":[{"set":{"field":"_index","value":"secret"}}]}"#,
        "the definition is forwarded unchanged"
    );
}

/// A `_bulk` body of about `len` bytes whose documents say `tag`, into `index`.
fn tagged_bulk(len: usize, tag: char, index: &str) -> Vec<u8> {
    let mut body = Vec::with_capacity(len + 200);
    let mut n = 0;
    while body.len() < len {
        body.extend_from_slice(format!("{{\"index\":{{\"_index\":\"{index}\"}}}}\n").as_bytes());
        let pad: String = std::iter::repeat_n(tag, 40 + n % 60).collect();
        body.extend_from_slice(format!("{{\"n\":{n},\"tag\":\"{pad}\"}}\n").as_bytes());
        n += 1;
    }
    body
}

/// Large inspected bodies on one connection reuse the worker's body buffers: each one
/// reaches the node exactly as sent (nothing of a longer body before it, nothing of the
/// request after it), a denied one never does, and pipelined bodies stay apart.
#[test]
fn large_inspected_bodies_reach_the_node_exactly_as_sent() {
    let (upstream, gateway) = gateway("pooled-bodies");
    let addr = gateway.local_addrs()[0];
    let mut client = Client::connect(addr);
    let ndjson = "Content-Type: application/x-ndjson\r\n";
    let long = tagged_bulk(900 * 1024, 'a', "logstash-1");
    let short = tagged_bulk(300 * 1024, 'b', "logstash-2");
    let denied = tagged_bulk(500 * 1024, 'c', "secret");
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(&tagged_bulk(800 * 1024, 'd', "logstash-3"))
        .unwrap();
    let gzipped = gz.finish().unwrap();
    let mut expected = Vec::new();
    for (body, extra, status) in [
        (&long, ndjson, 200),
        (&short, ndjson, 200),
        (&denied, ndjson, 403),
        (&gzipped, "Content-Encoding: gzip\r\n", 200),
        (&short, ndjson, 200),
    ] {
        client.send(&request("POST", "/_bulk", "logstash", extra, body));
        let response = client.read_response(false);
        assert_eq!(
            response.status,
            status,
            "{}",
            String::from_utf8_lossy(&response.body)
        );
        if status == 200 {
            expected.push(body.clone());
        }
    }
    // Two requests in one write: the first body's end is where the second request starts.
    let mut two = request("POST", "/_bulk", "logstash", ndjson, &long);
    two.extend_from_slice(&request("POST", "/_bulk", "logstash", ndjson, &short));
    client.send(&two);
    for _ in 0..2 {
        assert_eq!(client.read_response(false).status, 200);
    }
    expected.push(long.clone());
    expected.push(short.clone());
    let received = upstream.requests();
    assert_eq!(received.len(), expected.len());
    for (i, (got, want)) in received.iter().zip(&expected).enumerate() {
        assert_eq!(got.body_len, want.len() as u64, "request {i}");
        assert!(got.body == *want, "request {i}: the body differs");
    }
}
