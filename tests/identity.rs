//! Identity services through the whole gateway: a `readonlyrest.yml` with an `ldaps:`
//! definition (a real slapd, tests/support/slapd.rs) and an external authentication
//! service and groups provider (a real HTTP service started here), in front of the stub
//! upstream. Allowed users are forwarded, and answered from the worker's cache while the
//! directory is down; everything else is refused and never reaches the upstream.

#[path = "support/http_service.rs"]
mod http_service;
#[path = "support/slapd.rs"]
mod slapd;
mod support;

use base64::Engine;
use http_service::{HttpService, Reply};
use slapd::Slapd;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use support::*;

fn policy(ldap_port: u16, auth_url: &str, groups_url: &str) -> String {
    format!(
        r#"  access_control_rules:
  - name: "no members of group5"
    type: forbid
    ldap_authorization: {{name: ldap1, groups_any_of: ["group5"]}}
    ldap_authentication: ldap1
    uri_re: ["^/secret"]
  - name: admins
    ldap_auth: {{name: ldap1, groups_all_of: ["group1", "group2"]}}
  - name: nested readers
    ldap_authentication: {{name: ldap1, cache_ttl: 30 sec}}
    ldap_authorization: {{name: ldap1, groups_any_of: ["group3"]}}
    indices: ["logs-*"]
  - name: external ops
    external_authentication: {{service: ext1, cache_ttl: 30s}}
    groups_provider_authorization: {{user_groups_provider: gp1, groups_any_of: ["ops"]}}
  - name: health
    uri_re: ["^/_cluster/health$"]
  ldaps:
  - name: ldap1
    host: 127.0.0.1
    port: {ldap_port}
    ssl_enabled: false
    bind_dn: "cn=admin,dc=example,dc=com"
    bind_password: "admin-secret"
    search_user_base_DN: "ou=People,dc=example,dc=com"
    user_id_attribute: uid
    search_groups_base_DN: "ou=Groups,dc=example,dc=com"
    unique_member_attribute: uniqueMember
    nested_groups_depth: 2
    connection_timeout: 1 s
    request_timeout: 1 s
    circuit_breaker: {{max_retries: 2, reset_duration: 1 s}}
  external_authentication_service_configs:
  - name: ext1
    authentication_endpoint: "{auth_url}"
    success_status_code: 204
  user_groups_providers:
  - name: gp1
    groups_endpoint: "{groups_url}"
    auth_token_name: user
    auth_token_passed_as: QUERY_PARAM
    response_group_ids_json_path: "$..groups[*].id"
"#
    )
}

fn basic(user: &str, password: &str) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {token}")
}

fn get(path: &str, credentials: Option<(&str, &str)>) -> Vec<u8> {
    let authorization = credentials
        .map(|(u, p)| format!("Authorization: {}\r\n", basic(u, p)))
        .unwrap_or_default();
    format!("GET {path} HTTP/1.1\r\nHost: es\r\n{authorization}Content-Length: 0\r\n\r\n")
        .into_bytes()
}

/// The external services: `alice:wonderland` authenticates; alice is in `ops`, carol in
/// `dev`.
fn external_services() -> HttpService {
    HttpService::start(|request| {
        if request.target.starts_with("/auth") {
            let good = basic("alice", "wonderland");
            return match request.header("authorization") {
                Some(value) if value == good => Reply::Body(204, String::new()),
                _ => Reply::Body(401, String::new()),
            };
        }
        let user = request
            .query()
            .into_iter()
            .find(|(k, _)| k == "user")
            .map(|(_, v)| v)
            .unwrap_or_default();
        let groups = match user.as_str() {
            "alice" => r#"[{"id": "ops"}, {"id": "dev"}]"#,
            _ => r#"[{"id": "dev"}]"#,
        };
        Reply::Body(200, format!(r#"{{"groups": {groups}}}"#))
    })
}

/// Repeats `request` until the gateway answers `status`, for up to `within`.
fn eventually(addr: SocketAddr, request: &[u8], status: u16, within: Duration) -> Response {
    let deadline = Instant::now() + within;
    loop {
        let response = roundtrip(addr, request);
        if response.status == status || Instant::now() > deadline {
            return response;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn ldap_and_external_users_through_the_gateway() {
    let mut directory = Slapd::start();
    let services = external_services();
    let upstream = StubUpstream::echo();
    let readonlyrest = policy(
        directory.port(),
        &services.url("/auth"),
        &services.url("/groups"),
    );
    let gateway = start_gateway("identity", &upstream.url(), &readonlyrest, "");
    let addr = gateway.local_addrs()[0];

    // cartman: group1 and group2 (admins); bong: group3 through group1 (nested readers).
    assert_decided(
        addr,
        &upstream,
        &get("/any/_search", Some(("cartman", "user1"))),
        200,
    );
    assert_decided(
        addr,
        &upstream,
        &get("/logs-1/_search", Some(("bong", "user2"))),
        200,
    );
    // cartman is in group5 (through group2): the forbid block.
    let forbidden = assert_decided(
        addr,
        &upstream,
        &get("/secret/_search", Some(("cartman", "user1"))),
        403,
    );
    assert_eq!(
        forbidden.json()["error"]["reason"],
        "Forbidden by ReadonlyREST"
    );
    // bong reads only logs-*; morgan is in no group; wrong and empty passwords.
    assert_ne!(
        roundtrip(addr, &get("/other/_search", Some(("bong", "user2")))).status,
        200
    );
    assert_decided(
        addr,
        &upstream,
        &get("/logs-1/_search", Some(("morgan", "user3"))),
        403,
    );
    for (user, password) in [
        ("cartman", "wrong"),
        ("cartman", ""),
        ("*", "user1"),
        ("nobody", "x"),
    ] {
        let refused = assert_decided(
            addr,
            &upstream,
            &get("/any/_search", Some((user, password))),
            401,
        );
        assert!(refused.header("www-authenticate").is_some(), "{user}");
    }
    // External: alice authenticates at the service and is in ops.
    assert_decided(
        addr,
        &upstream,
        &get("/any/_search", Some(("alice", "wonderland"))),
        200,
    );
    assert_decided(
        addr,
        &upstream,
        &get("/any/_search", Some(("alice", "nope"))),
        401,
    );
    let asked = services.count();

    // The directory goes down: users answered before are served from the worker's cache
    // (the test gateway has one worker: every connection lands on the core that cached
    // them)...
    directory.stop();
    assert_decided(
        addr,
        &upstream,
        &get("/any/_search", Some(("cartman", "user1"))),
        200,
    );
    assert_decided(
        addr,
        &upstream,
        &get("/any/_search", Some(("alice", "wonderland"))),
        200,
    );
    assert_eq!(services.count(), asked, "alice came from the cache");
    // ...anyone else gets a clear 503 at once, and requests that need no directory pass.
    let started = Instant::now();
    let down = assert_decided(
        addr,
        &upstream,
        &get("/logs-1/_search", Some(("stan", "user4"))),
        503,
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let reason = down.json()["error"]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        reason,
        "LDAP ldap1 is unavailable; the gateway's log has the cause"
    );
    assert_decided(addr, &upstream, &get("/_cluster/health", None), 200);

    // Back up: after the breaker's reset, stan (in no group) is answered by the directory.
    directory.start_again();
    let back = eventually(
        addr,
        &get("/logs-1/_search", Some(("stan", "user4"))),
        403,
        Duration::from_secs(10),
    );
    assert_eq!(back.status, 403, "{}", back.json());
}
