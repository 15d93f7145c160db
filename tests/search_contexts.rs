//! Scroll and point-in-time ids belong to the user who opened them, against a stub node that
//! hands out ids as a node does: only the owner continues or clears them, every other
//! attempt gets the node's own "missing context" answer and never reaches the node, and the
//! `_all` forms need a block that grants every index.

mod support;

use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::{json, Value};
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use support::*;

const POLICY: &str = r#"  access_control_rules:
  - name: "alice"
    auth_key: "alice:alice"
    indices: ["logs-a*"]
  - name: "bob"
    auth_key: "bob:bob"
    indices: ["logs-b*"]
  - name: "admin"
    auth_key: "admin:admin"
    indices: ["*"]
  - name: "root"
    auth_key: "root:root"
  - name: "carol's logs"
    auth_key: "carol:carol"
    indices: ["logs-c*"]
  - name: "carol's metrics"
    auth_key: "carol:carol"
    indices: ["metrics-c*"]
  - name: "anonymous"
    hosts: ["127.0.0.1"]
    indices: ["logs-a*"]
"#;

/// Index names that make the stub answer in a particular way.
const CHUNKED: &str = "logs-a-chunked";
/// The id comes after this many bytes of other keys.
const LATE: &str = "logs-a-late";
const FAR: &str = "logs-a-far";

/// A stub node: scroll searches, continues and clears, PIT creation (both flavours),
/// searches and deletion. Ids count up, like the context numbers inside real ids.
fn node() -> StubUpstream {
    let next = Arc::new(AtomicUsize::new(1));
    StubUpstream::start(move |req| {
        let head = req.head_text();
        let line = head.split("\r\n").next().unwrap().to_string();
        let mut parts = line.split(' ');
        let (method, target) = (parts.next().unwrap(), parts.next().unwrap());
        let path = target.split('?').next().unwrap();
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let fresh = || next.fetch_add(1, Ordering::SeqCst);
        let answer = match (method, path) {
            ("DELETE", "/_search/scroll") | ("DELETE", "/_pit") => {
                json!({"succeeded": true, "num_freed": 1})
            }
            ("DELETE", p) if p.starts_with("/_search/scroll/") => {
                json!({"succeeded": true, "num_freed": 1})
            }
            ("DELETE", "/_search/point_in_time") => json!({"pits": [{"successful": true}]}),
            ("GET" | "POST", p) if p.starts_with("/_search/scroll") => {
                json!({"_scroll_id": body["scroll_id"], "took": 1, "hits": {"hits": []}})
            }
            (_, p) if p.ends_with("/_search/point_in_time") => {
                json!({"pit_id": format!("pit-{}", fresh()), "_shards": {"total": 1}})
            }
            (_, p) if p.ends_with("/_pit") => json!({"id": format!("espit-{}", fresh())}),
            // A PIT search: the node may name the PIT with a new id.
            (_, "/_search") if body["pit"]["id"].is_string() => {
                let id = body["pit"]["id"].as_str().unwrap();
                json!({"pit_id": format!("{id}+"), "took": 1, "hits": {"hits": []}})
            }
            (_, p) if target.contains("scroll=") => {
                let id = format!("scroll-{}", fresh());
                if p.starts_with(&format!("/{FAR}/")) {
                    let pad = "x".repeat(70 * 1024);
                    json!({"took": 1, "pad": pad, "_scroll_id": id})
                } else if p.starts_with(&format!("/{LATE}/")) {
                    json!({"took": 1, "_shards": {"total": 1}, "_scroll_id": id})
                } else {
                    json!({"_scroll_id": id, "took": 1, "hits": {"hits": [{"_id": "1"}]}})
                }
            }
            _ => json!({"path": path}),
        };
        let text = answer.to_string();
        let gzip = head.to_ascii_lowercase().contains("accept-encoding: gzip");
        if gzip {
            let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
            encoder.write_all(text.as_bytes()).unwrap();
            let body = encoder.finish().unwrap();
            let mut out = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json; charset=UTF-8\r\ncontent-encoding: gzip\r\ncontent-length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes();
            out.extend_from_slice(&body);
            return Reply::Bytes(out);
        }
        if target.contains(CHUNKED) {
            // Cut in small chunks, the id across several.
            let mut out = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
            for piece in text.as_bytes().chunks(7) {
                out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                out.extend_from_slice(piece);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n\r\n");
            return Reply::Bytes(out);
        }
        Reply::Bytes(ok_json(&text))
    })
}

fn start(name: &str, extra: &str) -> (StubUpstream, ringfence::runtime::Gateway, SocketAddr) {
    let upstream = node();
    let gateway = start_gateway(name, &upstream.url(), POLICY, extra);
    let addr = gateway.local_addrs()[0];
    (upstream, gateway, addr)
}

fn json_body(body: &Value) -> Vec<u8> {
    body.to_string().into_bytes()
}

const JSON: &str = "Content-Type: application/json\r\n";

/// Opens a scroll as `user` on `index` and returns its id.
fn open_scroll(addr: SocketAddr, user: &str, index: &str) -> String {
    let target = format!("/{index}/_search?scroll=1m&size=1");
    let response = roundtrip(addr, &request("GET", &target, user, "", b""));
    assert_eq!(
        response.status,
        200,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    response.json()["_scroll_id"].as_str().unwrap().to_string()
}

fn continue_scroll(user: &str, id: &str) -> Vec<u8> {
    let body = json_body(&json!({"scroll": "1m", "scroll_id": id}));
    request("POST", "/_search/scroll", user, JSON, &body)
}

/// Sends `raw` and checks that the gateway answered `status` itself (the node's answers
/// for missing contexts are not all errors: a PIT deletion is a 200).
fn assert_answered(addr: SocketAddr, upstream: &StubUpstream, raw: &[u8], status: u16) -> Response {
    let before = upstream.requests().len();
    let response = roundtrip(addr, raw);
    assert_eq!(
        response.status,
        status,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    assert_eq!(upstream.requests().len(), before, "the node heard of it");
    response
}

/// The node's answer to a continue of a context that does not exist, from the gateway.
fn assert_search_context_missing(response: &Response) {
    let error = &response.json()["error"];
    assert_eq!(error["type"], "search_phase_execution_exception", "{error}");
    assert_eq!(
        error["root_cause"][0]["type"],
        "search_context_missing_exception"
    );
    assert_eq!(
        error["caused_by"]["type"],
        "search_context_missing_exception"
    );
}

#[test]
fn a_scroll_is_continued_and_cleared_only_by_its_owner() {
    let (upstream, _gateway, addr) = start("scroll-owner", "");
    let id = open_scroll(addr, "alice", "logs-a");
    let continued = assert_decided(addr, &upstream, &continue_scroll("alice", &id), 200);
    assert_eq!(continued.json()["_scroll_id"], id.as_str());

    // Bob, in every place an id can be named: the node never hears of it.
    let path = format!("/_search/scroll/{id}?scroll=1m");
    let query = format!("/_search/scroll?scroll_id={id}");
    for raw in [
        continue_scroll("bob", &id),
        request("GET", &path, "bob", "", b""),
        request("GET", &query, "bob", "", b""),
        // Bob's own id does not carry Alice's along.
        request(
            "POST",
            &path,
            "bob",
            JSON,
            &json_body(&json!({"scroll_id": "other"})),
        ),
    ] {
        let refused = assert_decided(addr, &upstream, &raw, 404);
        assert_search_context_missing(&refused);
    }
    // Guessed neighbours of Alice's id, and an id nobody opened, for Alice herself too.
    for guess in ["scroll-0", "scroll-2", "scroll-3"] {
        for user in ["bob", "alice"] {
            assert_decided(addr, &upstream, &continue_scroll(user, guess), 404);
        }
    }
    let clear = |user: &str, body: Value| {
        request("DELETE", "/_search/scroll", user, JSON, &json_body(&body))
    };
    for raw in [
        clear("bob", json!({"scroll_id": [id]})),
        clear("bob", json!({"scroll_id": id})),
        request("DELETE", &format!("/_search/scroll/{id}"), "bob", "", b""),
        request(
            "DELETE",
            &format!("/_search/scroll/x,{id}"),
            "alice",
            "",
            b"",
        ),
    ] {
        let refused = assert_answered(addr, &upstream, &raw, 404);
        assert_eq!(refused.json(), json!({"succeeded": true, "num_freed": 0}));
    }
    // Refusals changed nothing: Alice continues, then clears, and the id is gone.
    assert_decided(addr, &upstream, &continue_scroll("alice", &id), 200);
    assert_decided(
        addr,
        &upstream,
        &clear("alice", json!({"scroll_id": [id]})),
        200,
    );
    assert_decided(addr, &upstream, &continue_scroll("alice", &id), 404);
}

#[test]
fn ids_in_the_source_parameter_and_odd_bodies_are_checked_too() {
    let (upstream, _gateway, addr) = start("scroll-source", "");
    let id = open_scroll(addr, "alice", "logs-a");
    let source = format!(
        "/_search/scroll?source=%7B%22scroll_id%22%3A%22{id}%22%7D&source_content_type=application/json"
    );
    assert_decided(
        addr,
        &upstream,
        &request("GET", &source, "bob", "", b""),
        404,
    );
    assert_decided(
        addr,
        &upstream,
        &request("GET", &source, "alice", "", b""),
        200,
    );
    let yaml = format!("scroll_id: {id}\n");
    let raw = request(
        "POST",
        "/_search/scroll",
        "alice",
        "Content-Type: application/yaml\r\n",
        yaml.as_bytes(),
    );
    assert_decided(addr, &upstream, &raw, 415);
    let raw = request(
        "POST",
        "/_search/scroll",
        "bob",
        JSON,
        br#"{"scroll_id":42}"#,
    );
    assert_decided(addr, &upstream, &raw, 400);
    // An empty body makes the node read `source`: never an empty body instead of it.
    let mut chunked = format!(
        "POST {source} HTTP/1.1\r\nHost: es\r\n{}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        basic("bob")
    );
    assert_decided(addr, &upstream, chunked.as_bytes(), 400);
    chunked = chunked.replace(&basic("bob"), &basic("alice"));
    assert_decided(addr, &upstream, chunked.as_bytes(), 400);
}

#[test]
fn clearing_every_context_needs_a_block_that_grants_every_index() {
    let (upstream, _gateway, addr) = start("scroll-all", "");
    let all = [
        request("DELETE", "/_search/scroll/_all", "U", "", b""),
        request(
            "DELETE",
            "/_search/scroll",
            "U",
            JSON,
            br#"{"scroll_id":"_all"}"#,
        ),
        request(
            "DELETE",
            "/_search/scroll",
            "U",
            JSON,
            br#"{"scroll_id":["x","_all"]}"#,
        ),
        request("DELETE", "/_search/point_in_time/_all", "U", "", b""),
        request(
            "DELETE",
            "/_search/point_in_time",
            "U",
            JSON,
            br#"{"pit_id":["_all"]}"#,
        ),
        request("GET", "/_search/point_in_time/_all", "U", "", b""),
        // The segments of every PIT, or of the PITs a body names (not read).
        request("GET", "/_cat/pit_segments/_all", "U", "", b""),
        request(
            "GET",
            "/_cat/pit_segments",
            "U",
            JSON,
            br#"{"pit_id":["p"]}"#,
        ),
    ];
    for raw in &all {
        let for_user = |user: &str| {
            String::from_utf8(raw.clone())
                .unwrap()
                .replace(&basic("U"), &basic(user))
                .into_bytes()
        };
        let refused = assert_decided(addr, &upstream, &for_user("alice"), 403);
        assert_eq!(refused.json()["error"]["type"], "forbidden_response");
        assert_decided(addr, &upstream, &for_user("admin"), 200);
        assert_decided(addr, &upstream, &for_user("root"), 200);
    }
}

#[test]
fn point_in_time_ids_belong_to_their_creator() {
    let (upstream, _gateway, addr) = start("pit-owner", "");
    // OpenSearch: created on an index, used by an index-less search.
    let created = assert_decided(
        addr,
        &upstream,
        &request(
            "POST",
            "/logs-a/_search/point_in_time?keep_alive=1m",
            "admin",
            "",
            b"",
        ),
        200,
    );
    let pit = created.json()["pit_id"].as_str().unwrap().to_string();
    let search = |user: &str, id: &str| {
        let body = json!({"size": 1, "pit": {"id": id, "keep_alive": "1m"}});
        request("POST", "/_search", user, JSON, &json_body(&body))
    };
    let refused = assert_decided(addr, &upstream, &search("root", &pit), 404);
    assert_search_context_missing(&refused);
    // The node names the PIT with a new id: both work for the owner.
    let searched = assert_decided(addr, &upstream, &search("admin", &pit), 200);
    let renamed = searched.json()["pit_id"].as_str().unwrap().to_string();
    assert_ne!(renamed, pit);
    assert_decided(addr, &upstream, &search("admin", &renamed), 200);
    assert_decided(addr, &upstream, &search("root", &renamed), 404);
    // A user who may read none of what `/_search` names is not sent on with the PIT either.
    let refused = assert_decided(addr, &upstream, &search("bob", &renamed), 404);
    assert_search_context_missing(&refused);
    let delete = |user: &str, ids: Value| {
        request(
            "DELETE",
            "/_search/point_in_time",
            user,
            JSON,
            &json_body(&json!({"pit_id": ids})),
        )
    };
    // OpenSearch reports a PIT that is gone as deleted.
    let refused = assert_answered(addr, &upstream, &delete("root", json!([pit])), 200);
    assert_eq!(
        refused.json(),
        json!({"pits": [{"successful": true, "pit_id": pit}]})
    );
    assert_decided(
        addr,
        &upstream,
        &delete("admin", json!([pit, renamed])),
        200,
    );
    assert_decided(addr, &upstream, &search("admin", &pit), 404);

    // Elasticsearch: `POST /{index}/_pit`, `DELETE /_pit`.
    let created = assert_decided(
        addr,
        &upstream,
        &request("POST", "/logs-a/_pit?keep_alive=1m", "alice", "", b""),
        200,
    );
    let pit = created.json()["id"].as_str().unwrap().to_string();
    let close = |user: &str| {
        request(
            "DELETE",
            "/_pit",
            user,
            JSON,
            &json_body(&json!({"id": pit})),
        )
    };
    let refused = assert_answered(addr, &upstream, &close("bob"), 404);
    assert_eq!(refused.json(), json!({"succeeded": true, "num_freed": 0}));
    assert_decided(addr, &upstream, &close("alice"), 200);
}

#[test]
fn a_gzip_accepting_client_still_gets_its_scroll_recorded() {
    let (upstream, _gateway, addr) = start("scroll-gzip", "");
    let gzip = "Accept-Encoding: gzip\r\n";
    let raw = request("GET", "/logs-a/_search?scroll=1m", "alice", gzip, b"");
    let opened = assert_decided(addr, &upstream, &raw, 200);
    assert_eq!(
        opened.header("content-encoding"),
        None,
        "asked for as identity"
    );
    let forwarded = upstream
        .requests()
        .last()
        .unwrap()
        .head_text()
        .to_ascii_lowercase();
    assert!(!forwarded.contains("accept-encoding"), "{forwarded}");
    let id = opened.json()["_scroll_id"].as_str().unwrap().to_string();
    let body = json_body(&json!({"scroll_id": id}));
    assert_decided(
        addr,
        &upstream,
        &request("POST", "/_search/scroll", "alice", gzip, &body),
        200,
    );
    assert_decided(
        addr,
        &upstream,
        &request("POST", "/_search/scroll", "bob", gzip, &body),
        404,
    );
    // Requests that open nothing keep the client's Accept-Encoding.
    let plain = assert_decided(
        addr,
        &upstream,
        &request("GET", "/logs-a/_search", "alice", gzip, b""),
        200,
    );
    assert_eq!(plain.header("content-encoding").as_deref(), Some("gzip"));
}

#[test]
fn ids_are_read_from_chunked_and_later_keys_but_not_past_the_prefix() {
    let (upstream, _gateway, addr) = start("scroll-framing", "");
    for index in [CHUNKED, LATE] {
        let id = open_scroll(addr, "alice", index);
        assert_decided(addr, &upstream, &continue_scroll("alice", &id), 200);
        assert_decided(addr, &upstream, &continue_scroll("bob", &id), 404);
    }
    // The id follows 70 KiB of other keys: the whole response reaches the client, but the
    // id is not recorded, so it cannot be continued through the gateway.
    let target = format!("/{FAR}/_search?scroll=1m");
    let response = roundtrip(addr, &request("GET", &target, "alice", "", b""));
    assert_eq!(response.status, 200);
    assert!(response.body.len() > 70 * 1024);
    let id = response.json()["_scroll_id"].as_str().unwrap().to_string();
    assert_decided(addr, &upstream, &continue_scroll("alice", &id), 404);
}

#[test]
fn a_scroll_opened_on_one_worker_continues_on_any() {
    let (upstream, _gateway, addr) = start("scroll-workers", "  workers: 4\n");
    let id = open_scroll(addr, "alice", "logs-a");
    // New connections spread over the workers (SO_REUSEPORT hashes each one).
    for _ in 0..16 {
        assert_decided(addr, &upstream, &continue_scroll("alice", &id), 200);
        assert_decided(addr, &upstream, &continue_scroll("bob", &id), 404);
    }
}

#[test]
fn a_scroll_opened_under_a_users_later_block_continues() {
    let (upstream, _gateway, addr) = start("scroll-two-blocks", "");
    // The continue names no index: it matches carol's first block, the search her second.
    let id = open_scroll(addr, "carol", "metrics-c1");
    assert_decided(addr, &upstream, &continue_scroll("carol", &id), 200);
    assert_decided(addr, &upstream, &continue_scroll("alice", &id), 404);
}

#[test]
fn without_a_user_the_matched_block_owns_the_scroll() {
    let (upstream, _gateway, addr) = start("scroll-anonymous", "");
    let anonymous = |target: &str, body: &[u8]| {
        let mut raw = format!(
            "POST {target} HTTP/1.1\r\nHost: es\r\n{JSON}Content-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        raw.extend_from_slice(body);
        raw
    };
    let opened = assert_decided(
        addr,
        &upstream,
        &anonymous("/logs-a/_search?scroll=1m", b"{}"),
        200,
    );
    let id = opened.json()["_scroll_id"].as_str().unwrap().to_string();
    let body = json_body(&json!({"scroll_id": id}));
    assert_decided(addr, &upstream, &anonymous("/_search/scroll", &body), 200);
    assert_decided(
        addr,
        &upstream,
        &request("POST", "/_search/scroll", "alice", JSON, &body),
        404,
    );
}

#[test]
fn after_a_reload_earlier_scrolls_cannot_be_continued() {
    let upstream = node();
    let path = config_file("scroll-reload", &upstream.url(), POLICY, "");
    let config = ringfence::config::Config::load(&path).unwrap();
    let snapshot = ringfence::snapshot::Snapshot::load(&config.policy_source, 1).unwrap();
    let store = Arc::new(ringfence::snapshot::PolicyStore::new(snapshot));
    let gateway = ringfence::runtime::Gateway::start(&config.gateway, Arc::clone(&store)).unwrap();
    let addr = gateway.local_addrs()[0];
    let id = open_scroll(addr, "alice", "logs-a");
    assert_decided(addr, &upstream, &continue_scroll("alice", &id), 200);
    store.reload(&config.policy_source).unwrap();
    assert_decided(addr, &upstream, &continue_scroll("alice", &id), 404);
    let fresh = open_scroll(addr, "alice", "logs-a");
    assert_decided(addr, &upstream, &continue_scroll("alice", &fresh), 200);
}
