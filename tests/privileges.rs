//! Named privileges in `actions` (`@read`, `@write`, ...) through the gateway: for each, a
//! request it allows reaches the stub upstream once, and a request it does not allow (and a
//! `_bulk` with an item it does not allow, where it allows `_bulk` at all) is refused without
//! reaching it.

mod support;

use support::*;

const PRIVILEGES: &[&str] = &[
    "read",
    "view_index_metadata",
    "write",
    "index",
    "create_doc",
    "delete",
    "create_index",
    "delete_index",
    "monitor",
    "manage",
    "all",
    "readonly",
    "readwrite",
    "none",
];

/// One block per privilege; the user is named after it (password = user name). `@none`
/// allows nothing by itself, so `none_plus` has it next to one plain action.
fn policy() -> String {
    let mut policy = String::from("  access_control_rules:\n");
    for name in PRIVILEGES {
        policy.push_str(&format!(
            "  - name: \"{name}\"\n    auth_key: \"{name}:{name}\"\n    actions: [\"@{name}\"]\n"
        ));
    }
    policy.push_str("  - name: \"none plus main\"\n    auth_key: \"none_plus:none_plus\"\n    actions: [\"@none\", \"cluster:monitor/main\"]\n");
    policy
}

const INDEX: &str = "{\"index\":{\"_index\":\"logs\"}}\n{\"a\":1}\n";
const CREATE: &str = "{\"create\":{\"_index\":\"logs\",\"_id\":\"2\"}}\n{\"a\":2}\n";
const UPDATE: &str = "{\"update\":{\"_index\":\"logs\",\"_id\":\"1\"}}\n{\"doc\":{\"a\":3}}\n";
const DELETE: &str = "{\"delete\":{\"_index\":\"logs\",\"_id\":\"1\"}}\n";

/// A `_bulk` request with these items, in this order.
fn bulk(items: &[&str]) -> (&'static str, &'static str, String) {
    ("POST", "/_bulk", items.concat())
}

fn plain(method: &'static str, target: &'static str) -> (&'static str, &'static str, String) {
    (method, target, String::new())
}

/// (privilege, request, allowed)
fn cases() -> Vec<(&'static str, (&'static str, &'static str, String), bool)> {
    vec![
        ("read", plain("GET", "/logs/_search"), true),
        ("read", plain("GET", "/logs/_doc/1"), true),
        ("read", plain("PUT", "/logs/_doc/1"), false),
        ("read", bulk(&[INDEX]), false),
        ("view_index_metadata", plain("GET", "/logs/_mapping"), true),
        ("view_index_metadata", plain("GET", "/logs"), true),
        ("view_index_metadata", plain("GET", "/logs/_search"), false),
        ("view_index_metadata", plain("PUT", "/logs/_mapping"), false),
        ("write", plain("PUT", "/logs/_doc/1"), true),
        ("write", plain("DELETE", "/logs/_doc/1"), true),
        ("write", bulk(&[INDEX, CREATE, UPDATE, DELETE]), true),
        ("write", plain("GET", "/logs/_search"), false),
        ("write", plain("DELETE", "/logs"), false),
        ("index", plain("PUT", "/logs/_doc/1"), true),
        ("index", plain("POST", "/logs/_update/1"), true),
        ("index", bulk(&[INDEX, CREATE, UPDATE]), true),
        ("index", bulk(&[INDEX, DELETE]), false),
        ("index", plain("DELETE", "/logs/_doc/1"), false),
        ("create_doc", plain("PUT", "/logs/_create/1"), true),
        ("create_doc", bulk(&[CREATE]), true),
        ("create_doc", bulk(&[CREATE, UPDATE]), false),
        ("create_doc", bulk(&[CREATE, DELETE]), false),
        ("create_doc", plain("POST", "/logs/_update/1"), false),
        ("delete", plain("DELETE", "/logs/_doc/1"), true),
        ("delete", bulk(&[DELETE]), true),
        ("delete", bulk(&[DELETE, INDEX]), false),
        ("delete", plain("PUT", "/logs/_doc/1"), false),
        ("create_index", plain("PUT", "/logs"), true),
        ("create_index", plain("PUT", "/_data_stream/logs-ds"), true),
        ("create_index", plain("DELETE", "/logs"), false),
        ("create_index", bulk(&[INDEX]), false),
        ("delete_index", plain("DELETE", "/logs"), true),
        ("delete_index", plain("PUT", "/logs"), false),
        ("monitor", plain("GET", "/_cluster/health"), true),
        ("monitor", plain("GET", "/logs/_stats"), true),
        ("monitor", plain("PUT", "/_cluster/settings"), false),
        ("monitor", plain("GET", "/logs/_search"), false),
        ("manage", plain("PUT", "/_cluster/settings"), true),
        ("manage", plain("PUT", "/logs"), true),
        ("manage", plain("GET", "/logs/_search"), false),
        ("manage", bulk(&[INDEX]), false),
        ("all", plain("GET", "/logs/_search"), true),
        ("all", plain("DELETE", "/logs"), true),
        ("all", bulk(&[INDEX, CREATE, UPDATE, DELETE]), true),
        // Even `@all` matches no action of an endpoint the route table does not know.
        ("all", plain("GET", "/_not_an_api/x"), false),
        ("readonly", plain("GET", "/logs/_search"), true),
        ("readonly", plain("GET", "/_cluster/health"), true),
        ("readonly", plain("GET", "/logs/_mapping"), true),
        ("readonly", plain("PUT", "/logs/_doc/1"), false),
        ("readonly", bulk(&[INDEX]), false),
        ("readwrite", plain("PUT", "/logs/_doc/1"), true),
        ("readwrite", plain("PUT", "/logs"), true),
        ("readwrite", bulk(&[INDEX, CREATE, UPDATE, DELETE]), true),
        ("readwrite", plain("DELETE", "/logs"), false),
        ("readwrite", plain("PUT", "/_cluster/settings"), false),
        ("none", plain("GET", "/"), false),
        ("none", plain("GET", "/logs/_search"), false),
        ("none", bulk(&[INDEX]), false),
        ("none_plus", plain("GET", "/"), true),
        ("none_plus", plain("GET", "/logs/_search"), false),
    ]
}

#[test]
fn each_named_privilege_allows_its_actions_and_nothing_else() {
    let upstream = StubUpstream::echo();
    let gateway = start_gateway("privileges", &upstream.url(), &policy(), "");
    let addr = gateway.local_addrs()[0];
    let cases = cases();
    for name in PRIVILEGES {
        let mine: Vec<_> = cases.iter().filter(|(p, _, _)| p == name).collect();
        assert!(
            mine.iter().any(|c| c.2) || *name == "none",
            "@{name}: no allowed case"
        );
        assert!(mine.iter().any(|c| !c.2), "@{name}: no denied case");
    }
    for (user, (method, target, body), allowed) in &cases {
        let extra = if body.is_empty() {
            ""
        } else {
            "Content-Type: application/x-ndjson\r\n"
        };
        let raw = request(method, target, user, extra, body.as_bytes());
        let status = if *allowed { 200 } else { 403 };
        let response = assert_decided(addr, &upstream, &raw, status);
        if *allowed {
            // Forwarded as received.
            let forwarded = upstream.requests().pop().unwrap();
            assert_eq!(forwarded.body, body.as_bytes(), "@{user} {method} {target}");
        } else {
            assert_eq!(
                response.json()["error"]["type"],
                "forbidden_response",
                "@{user} {method} {target}"
            );
        }
    }
}

/// X-Pack's `create_doc` "does not grant the permission to update or overwrite existing
/// documents": an `index` operation with an id (which overwrites) must be refused.
#[test]
#[ignore = "needs the request's API (create vs index) in acl::es_rules::EsView, which src/proxy/decide.rs builds; today @create_doc allows PUT /logs/_doc/1 and bulk `index` items"]
fn create_doc_does_not_overwrite() {
    let upstream = StubUpstream::echo();
    let gateway = start_gateway("create-doc", &upstream.url(), &policy(), "");
    let addr = gateway.local_addrs()[0];
    let overwrite = request("PUT", "/logs/_doc/1", "create_doc", "", b"{}");
    assert_decided(addr, &upstream, &overwrite, 403);
    let bulk_index = request("POST", "/_bulk", "create_doc", "", INDEX.as_bytes());
    assert_decided(addr, &upstream, &bulk_index, 403);
}
