//! Kibana rule tests: realistic Kibana 7.x / OpenSearch Dashboards traffic per access level,
//! the `indices` interplay, the legacy rules, variables, and configuration errors.
//!
//! Every expectation cites the ReadonlyREST source it follows (`BaseKibanaRule.scala`,
//! `KibanaActionMatchers.scala`, `indices.scala` for `KibanaIndexName`, `BlockValidator.scala`,
//! and the unit tests in `BaseKibanaAccessBasedTests.scala`), or says where Ringfence denies
//! more on purpose.

use super::super::test_support::{basic_value, compile, try_acl};
use super::super::*;
use super::{is_kibana_related, is_non_strict_path};
use crate::http::request::parse_request_head;
use std::net::IpAddr;

fn basic(user: &str, password: &str) -> (String, String) {
    ("Authorization".to_string(), basic_value(user, password))
}

/// One request as the proxy would present it: the real route classifier and target
/// extraction, with the body (if given) read the way the proxy reads it after `ReadBody`.
struct Call<'a> {
    method: &'a str,
    target: &'a str,
    headers: Vec<(String, String)>,
    body: Option<&'a str>,
    /// The request has a body that was not read yet (`body` is `None`).
    unread: bool,
}

fn call<'a>(method: &'a str, target: &'a str) -> Call<'a> {
    Call {
        method,
        target,
        headers: Vec::new(),
        body: None,
        unread: false,
    }
}

impl<'a> Call<'a> {
    fn body(mut self, body: &'a str) -> Call<'a> {
        self.body = Some(body);
        self
    }

    fn unread_body(mut self) -> Call<'a> {
        self.unread = true;
        self
    }

    fn header(mut self, name: &str, value: &str) -> Call<'a> {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    fn user(mut self, user: &str, password: &str) -> Call<'a> {
        self.headers.push(basic(user, password));
        self
    }
}

/// `allow:<block>`, `allow:<block>:narrowed=<indices>`, `deny`, `401`, `404`, `read-body`.
fn decide(acl: &Acl, c: &Call<'_>) -> String {
    let mut raw = format!("{} {} HTTP/1.1\r\nHost: es\r\n", c.method, c.target);
    for (name, value) in &c.headers {
        raw.push_str(&format!("{name}: {value}\r\n"));
    }
    raw.push_str("\r\n");
    let raw = raw.into_bytes();
    let head = parse_request_head(&raw, 16384).unwrap().unwrap();
    let path =
        crate::es::index_name::decode_part(std::str::from_utf8(head.path.get(&raw)).unwrap())
            .unwrap();
    let target = std::str::from_utf8(head.path_and_query().get(&raw)).unwrap();
    let classified = crate::es::route::classify(head.method, target).unwrap();
    let mut targets = crate::es::target::Targets::from_path(&classified);
    let body_needed = crate::es::target::needs_body(&classified);
    if let (true, Some(body)) = (body_needed, c.body) {
        targets.add_body(&classified, body.as_bytes()).unwrap();
    }
    let metadata = crate::es::metadata::ClusterMetadata::default();
    let peer: IpAddr = "192.168.1.10".parse().unwrap();
    let mut request = Request::new(
        head.method,
        &path,
        &raw,
        &head.headers,
        peer,
        "10.0.0.1".parse().unwrap(),
        Some(c.body.map_or(0, |b| b.len() as u64)),
    )
    .unwrap();
    request.es = Some(es_rules::EsView {
        action: classified.action,
        unknown: classified.is_unknown(),
        // As in `proxy::decide`: only a body that is there (and not read yet) is waited for.
        targets: (!body_needed || !c.unread).then_some(&targets),
        metadata: &metadata,
    });
    match acl.evaluate(&request, &NoCache) {
        Decision::Allow {
            block,
            narrowed: None,
            ..
        } => format!("allow:{}", block.unwrap_or("-")),
        Decision::Allow {
            block,
            narrowed: Some(n),
            ..
        } => {
            let narrowed = match (n.path, n.subrequests) {
                (Some(path), _) => path.join(","),
                (None, Some(subs)) => {
                    let subs: Vec<String> = subs
                        .iter()
                        .map(|s| s.as_ref().map_or("-".into(), |l| l.join(",")))
                        .collect();
                    format!("[{}]", subs.join("|"))
                }
                (None, None) => String::new(),
            };
            format!("allow:{}:narrowed={narrowed}", block.unwrap_or("-"))
        }
        Decision::Forbid { .. } => "deny".to_string(),
        Decision::Unauthorized { .. } => "401".to_string(),
        Decision::Verify(..) => "verify".to_string(),
        Decision::Ask(..) => "ask".to_string(),
        Decision::Unavailable(_) => "503".to_string(),
        Decision::ReadBody(_) => "read-body".to_string(),
        Decision::IndexNotFound => "404".to_string(),
    }
}

/// One block per access level; each user only passes its own block's authentication.
const LEVELS: &str = r#"
readonlyrest:
  access_control_rules:
  - name: unrestricted
    auth_key: "unrestricted:p"
    kibana: {access: unrestricted}
  - name: admin
    auth_key: "admin:p"
    kibana: {access: admin}
  - name: rw
    auth_key: "rw:p"
    kibana:
      access: rw
      index: ".kibana"
      hide_apps: ["Security", "/^Enterprise.*/"]
      metadata: {dept: "ops", tags: [a, b]}
  - name: ro
    auth_key: "ro:p"
    kibana: {access: ro}
  - name: ro_strict
    auth_key: "ro_strict:p"
    kibana: {access: ro_strict}
  - name: api_only
    auth_key: "api_only:p"
    kibana:
      access: api_only
      allowed_api_paths:
      - "^/api/spaces/.*$"
      - {http_method: POST, http_path: "^/api/saved_objects/.*$"}
"#;

/// Column order of the expectation strings: `A` allowed (by the level's own block), `D` denied.
const LEVEL_USERS: [&str; 6] = ["unrestricted", "admin", "rw", "ro", "ro_strict", "api_only"];

const BULK_INTO_KIBANA: &str = "{\"index\":{\"_index\":\".kibana\",\"_id\":\"index-pattern:1\"}}\n{\"type\":\"index-pattern\"}\n{\"update\":{\"_index\":\".kibana\",\"_id\":\"config:7.17.0\"}}\n{\"doc\":{}}\n";
const BULK_KIBANA_AND_LOGS: &str = "{\"index\":{\"_index\":\".kibana\",\"_id\":\"x\"}}\n{}\n{\"index\":{\"_index\":\"logs-1\"}}\n{}\n";
const BULK_TASK_MANAGER: &str =
    "{\"update\":{\"_index\":\".kibana_task_manager\",\"_id\":\"task:1\"}}\n{\"doc\":{}}\n";
const MSEARCH: &str = "{\"index\":\".kibana\"}\n{\"query\":{\"match_all\":{}}}\n{\"index\":\"logs-*\"}\n{\"size\":0}\n";
const MGET: &str = "{\"docs\":[{\"_id\":\"config:7.17.0\"},{\"_index\":\".kibana_task_manager\",\"_id\":\"task:x\"}]}";

#[test]
fn kibana_traffic_per_access_level() {
    let acl = compile(LEVELS);
    #[rustfmt::skip]
    let table: Vec<(Call, &str, &str)> = vec![
        // --- Kibana / OpenSearch Dashboards startup ---
        (call("GET", "/"), "AAAAAA",
         "cluster:monitor/main: clusterActionPatternsMatcher `cluster:monitor/*` (isClusterAction)"),
        (call("HEAD", "/"), "AAAAAA", "same action as GET /"),
        (call("GET", "/_nodes?filter_path=nodes.*.version,nodes.*.http.publish_address,nodes.*.ip"), "AAAAAA",
         "cluster:monitor/nodes/info: `cluster:monitor/*`"),
        (call("GET", "/_xpack?accept_enterprise=true"), "AAAAAA",
         "cluster:monitor/xpack/info: `cluster:monitor/*` (test 'X-Pack cluster settings update')"),
        (call("GET", "/_license"), "AAAAAA", "cluster:monitor/xpack/license/get: `cluster:monitor/*`"),
        (call("GET", "/_cluster/health?wait_for_status=yellow"), "AAAAAA", "cluster:monitor/health"),
        (call("GET", "/_cluster/settings"), "AAAAAA", "cluster:monitor/settings (state before 8.3)"),
        (call("GET", "/_readonlyrest/metadata/user"), "AAAAAA",
         "isUserMetadataRequest (and `cluster:*/get`)"),
        (call("GET", "/_template/kibana_index_template*"), "AAAAAA",
         "indices:admin/template/get: clusterActionPatternsMatcher `indices:admin/template/get*`"),
        (call("GET", "/_index_template/logs"), "AAAAAA",
         "indices:admin/index_template/get: roActionPatternsMatcher"),
        // --- browsing: reads anywhere ---
        (call("GET", "/.kibana/_doc/config:7.17.0"), "AAAAAA", "indices:data/read/get: `indices:data/read/*` (isRoAction)"),
        (call("POST", "/.kibana/_search"), "AAAAAA", "indices:data/read/search"),
        (call("POST", "/logs-*/_search"), "AAAAAA",
         "reads of data indices: isRoAction ignores the indices ('RO action is passed with other indices')"),
        (call("POST", "/.kibana/_mget").body(MGET), "AAAAAA", "indices:data/read/mget"),
        (call("POST", "/_msearch").body(MSEARCH), "AAAAAA",
         "indices:data/read/msearch ('RO action is passed with mixed indices')"),
        (call("GET", "/_cat/indices?format=json"), "AAAAAA", "indices:monitor/settings/get: `indices:monitor/*`"),
        (call("POST", "/.kibana/_refresh"), "AAAAAA", "indices:admin/refresh: `indices:admin/refresh*`"),
        // --- saved objects in the Kibana index ---
        (call("POST", "/.kibana/_update/config:7.17.0?refresh=wait_for"), "AAADDD",
         "rw/admin: isKibanaIndexRequest; ro: `_update/config:` is not among the non-strict paths"),
        (call("PUT", "/.kibana/_doc/index-pattern:xyz"), "AAADDD",
         "rw/admin: isKibanaIndexRequest; ro: the regex knows `doc/index-pattern` (6.x), not `_doc/`"),
        (call("POST", "/.kibana/_update/index-pattern:xyz"), "AAAADA",
         "isRoNonStrictCase `/{k}/_update/index-pattern.*` (test 'non strict operations (9)'); not ro_strict"),
        (call("PUT", "/.kibana/_create/url:710d2a92ef849fc282bcb8a216f39046"), "AAAADA",
         "isRoNonStrictCase `/{k}/_create/url:.*` ('non strict operations (11)')"),
        (call("PUT", "/.kibana/doc/telemetry:telemetry?refresh=wait_for"), "AAAADA",
         "isRoNonStrictCase `/{k}/doc/telemetry.*` ('non strict operations (5)')"),
        (call("PUT", "/.kibana/index-pattern/job"), "AAAADA",
         "isRoNonStrictCase `/{k}/index-pattern/.*` ('non strict operations (1)')"),
        (call("DELETE", "/.kibana/_doc/x"), "AAADDD",
         "indices:data/write/delete: rwActionPatternsMatcher on the Kibana index; ro path not non-strict"),
        (call("POST", "/_bulk").body(BULK_INTO_KIBANA), "AAADDD",
         "indices:data/write/bulk on .kibana only: isKibanaIndexRequest; ro: `/_bulk` is not a non-strict path"),
        (call("POST", "/.kibana/_bulk").body(BULK_INTO_KIBANA), "AAADDD", "same, index from the path"),
        (call("POST", "/_bulk").body(BULK_KIBANA_AND_LOGS), "ADDDDD",
         "isTargetingKibana needs every index Kibana-related ('RW action is passed with mixed indices')"),
        (call("POST", "/_bulk").body(BULK_TASK_MANAGER), "AAADDD",
         "`{k}_task_manager` is Kibana-related (KibanaIndexName regexes)"),
        (call("POST", "/.kibana_8.8.0_001/_doc/x"), "AAADDD", "`{k}_\\d+.\\d+.\\d+_\\d+` is Kibana-related"),
        (call("POST", "/.kibana-reporting-.kibana/_doc"), "AAADDD",
         "reporting data stream `.kibana-reporting-{k}` is Kibana-related ('is kibana reporting data stream')"),
        (call("PUT", "/.kibana_1/_doc/x"), "ADDDDD",
         "`.kibana_1` (Kibana < 7.11 migrations) is not among ReadonlyREST's Kibana-related names"),
        (call("POST", "/.kibana/url/_delete_by_query"), "AAADDD",
         "rw: `indices:data/write/delete*`; ro: ReadonlyREST would pass it (path `/{k}/url/.*`, \
          action `indices:data/write/*`), Ringfence limits non-strict writes to single documents"),
        (call("PUT", "/_template/kibana_index_template:.kibana").body("{\"index_patterns\":[\".kibana\"]}"), "AAAADA",
         "indices:admin/template/put with Kibana patterns: non-strict `/_template/.*` ('non strict operations (3)')"),
        (call("PUT", "/_template/logs").body("{\"index_patterns\":[\"logs-*\"]}"), "ADDDDD",
         "a template for data indices: not Kibana, not an admin action (only index_template/put is)"),
        (call("PUT", "/_index_template/logs").body("{\"index_patterns\":[\"logs-*\"]}"), "ADDDDD",
         "admin action, but the request has indices (its patterns) and no index-management header"),
        (call("PUT", "/_component_template/x").body("{\"template\":{}}"), "AAADDD",
         "cluster:admin/component_template/put: rw action without indices (emptyIndicesMatch)"),
        // --- data indices ---
        (call("POST", "/logs-2024/_doc"), "ADDDDD", "writes outside Kibana: only unrestricted"),
        (call("DELETE", "/logs-2024.01.01"), "ADDDDD",
         "indices:admin/delete is an admin action, but only without indices / on .readonlyrest"),
        (call("DELETE", "/logs-2024.01.01")
            .header("x-ror-kibana-request-path", "/s/default/api/index_management/indices/delete"),
         "AADDDD", "admin from Kibana's index management page (isRequestRelatedToIndexManagementPath)"),
        (call("DELETE", "/.kibana"), "ADDDDD",
         "indices:admin/delete is neither an RW nor an indices-write action; admin needs no indices"),
        (call("PUT", "/kibana_sample_data_logs").body("{}"), "AAADDD", "isKibanaSimpleData (any action, rw/admin)"),
        (call("PUT", "/_data_stream/kibana_sample_data_logs"), "AAADDD",
         "indices:admin/data_stream/create ('is kibana_sample_data_logs' data stream)"),
        (call("POST", "/.kibana-devnull/_doc"), "AAAAAA", "isDevNullKibanaRelated: any action, any level"),
        // --- cluster management and ReadonlyREST APIs ---
        (call("PUT", "/_cluster/settings"), "AAADDD",
         "cluster:admin/settings/update: rw action without indices ('RW can change cluster settings')"),
        (call("PUT", "/_ingest/pipeline/p"), "AADDDD", "cluster:admin/ingest/pipeline/put: admin action"),
        (call("GET", "/_readonlyrest/admin/config"), "AADDDD",
         "cluster:internal_ror/config/manage: RorAction.adminActions"),
        (call("POST", "/_readonlyrest/admin/refreshconfig"), "AADDDD", "cluster:internal_ror/config/refreshsettings"),
        (call("POST", "/_readonlyrest/admin/audit/event"), "AAADDD",
         "cluster:internal_ror/audit_event/put is an RwRorAction"),
        (call("PUT", "/.readonlyrest/_doc/1"), "AADDDD", "admin action on the ReadonlyREST settings index"),
        (call("PUT", "/_security/user/x"), "AAAAAA",
         "cluster:admin/xpack/security/user/put matches `cluster:*/xpack/*` (ReadonlyREST grants it to ro)"),
        // --- routes the gateway does not know ---
        (call("GET", "/_plugins/_ism/policies"), "ADDDDD", "unknown action: fail closed unless unrestricted"),
    ];
    let mut failures = Vec::new();
    for (c, expected, why) in table {
        for (user, want) in LEVEL_USERS.iter().zip(expected.chars()) {
            let mut c = Call {
                method: c.method,
                target: c.target,
                headers: c.headers.clone(),
                body: c.body,
                unread: c.unread,
            };
            c = c.user(user, "p");
            let got = decide(&acl, &c);
            let want = match want {
                'A' => format!("allow:{user}"),
                _ => "deny".to_string(),
            };
            if got != want {
                failures.push(format!(
                    "{} {} as {user}: got {got}, want {want} ({why})",
                    c.method, c.target
                ));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn the_body_is_read_only_when_the_action_does_not_decide() {
    let acl = compile(LEVELS);
    // A read is allowed from the action alone: no body needed.
    assert_eq!(
        decide(
            &acl,
            &call("POST", "/_msearch").unread_body().user("ro", "p")
        ),
        "allow:ro"
    );
    // A bulk depends on the indices in its body.
    assert_eq!(
        decide(&acl, &call("POST", "/_bulk").unread_body().user("rw", "p")),
        "read-body"
    );
    // Unrestricted looks at nothing.
    assert_eq!(
        decide(
            &acl,
            &call("POST", "/_bulk")
                .unread_body()
                .user("unrestricted", "p")
        ),
        "allow:unrestricted"
    );
    // Bad credentials never get as far as the body.
    assert_eq!(
        decide(&acl, &call("POST", "/_bulk").unread_body().user("rw", "x")),
        "401"
    );
}

#[test]
fn devnull_and_settings_index_must_be_the_only_index() {
    let acl = compile(LEVELS);
    // ReadonlyREST looks at the first index of an unordered set; Ringfence wants all of them.
    let bulk = "{\"index\":{\"_index\":\".kibana-devnull\"}}\n{}\n{\"index\":{\"_index\":\".kibana-devnull\"}}\n{}\n";
    assert_eq!(
        decide(&acl, &call("POST", "/_bulk").body(bulk).user("ro", "p")),
        "allow:ro"
    );
    let mixed =
        "{\"index\":{\"_index\":\".kibana-devnull\"}}\n{}\n{\"index\":{\"_index\":\"logs\"}}\n{}\n";
    assert_eq!(
        decide(&acl, &call("POST", "/_bulk").body(mixed).user("ro", "p")),
        "deny"
    );
    let ror =
        "{\"index\":{\"_index\":\".readonlyrest\"}}\n{}\n{\"index\":{\"_index\":\"logs\"}}\n{}\n";
    assert_eq!(
        decide(&acl, &call("POST", "/_bulk").body(ror).user("admin", "p")),
        "deny"
    );
}

#[test]
fn indices_rule_lets_kibana_indices_through() {
    // IndicesRule docs: "When a `kibana` rule is in the same block, the Kibana indices are
    // implicitly allowed" (BaseIndicesProcessor.allKibanaRelatedIndicesMatched).
    let acl = compile(
        r#"
readonlyrest:
  access_control_rules:
  - name: analysts
    auth_key: "ann:p"
    kibana: {access: ro}
    indices: ["logs-*"]
  - name: editors
    auth_key: "ed:p"
    kibana: {access: rw, index: ".kibana_editors"}
    indices: ["logs-*"]
"#,
    );
    let ann = |c: Call| decide(&acl, &c.user("ann", "p"));
    let ed = |c: Call| decide(&acl, &c.user("ed", "p"));
    assert_eq!(ann(call("POST", "/.kibana/_search")), "allow:analysts");
    assert_eq!(ann(call("POST", "/logs-1/_search")), "allow:analysts");
    assert_eq!(
        ann(call("POST", "/.kibana/_update/index-pattern:xyz")),
        "allow:analysts"
    );
    assert_eq!(
        ann(call("POST", "/_msearch")
            .body("{\"index\":\".kibana\"}\n{}\n{\"index\":\".kibana_task_manager\"}\n{}\n")),
        "allow:analysts"
    );
    // Not Kibana, not allowed by `indices`: looks like a missing index.
    assert_eq!(ann(call("POST", "/secret/_search")), "404");
    // A mix is not "only Kibana indices": `indices` alone decides and narrows the read.
    assert_eq!(
        ann(call("POST", "/logs-1,.kibana/_search")),
        "allow:analysts:narrowed=logs-1"
    );
    // A mixed msearch: each search on its own, the Kibana one as written.
    assert_eq!(
        ann(call("POST", "/_msearch").body(MSEARCH)),
        "allow:analysts"
    );
    let mixed = "{\"index\":\".kibana\"}\n{}\n{\"index\":\"secret\"}\n{}\n";
    assert_eq!(
        ann(call("POST", "/_msearch").body(mixed)),
        "allow:analysts:narrowed=[-|]"
    );
    // The editors' Kibana index is theirs; the default one is not.
    assert_eq!(
        ed(call("POST", "/_bulk").body(
            "{\"index\":{\"_index\":\".kibana_editors\",\"_id\":\"x\"}}\n{}\n{\"delete\":{\"_index\":\".kibana_editors_8.8.0_001\",\"_id\":\"y\"}}\n"
        )),
        "allow:editors"
    );
    assert_eq!(ed(call("POST", "/_bulk").body(BULK_INTO_KIBANA)), "deny");
    assert_eq!(
        ed(call("POST", "/.kibana_editors/_search")),
        "allow:editors"
    );
    assert_eq!(ed(call("POST", "/.kibana/_search")), "404");
}

#[test]
fn legacy_rules_and_per_user_index() {
    let acl = compile(
        r#"
readonlyrest:
  access_control_rules:
  - name: legacy
    auth_key: "alice:p"
    kibana_access: rw
    kibana_index: ".kibana_@{user}"
    kibana_template_index: ".kibana_template"
    kibana_hide_apps: ["Monitoring"]
  - name: per-user
    auth_key: "bob:p"
    kibana:
      access: RW
      index: ".kibana_@{user}"
      template_index: ".kibana_tpl_@{user}"
  - name: tenant-header
    auth_key: "carol:p"
    kibana: {access: rw, index: ".kibana_@{header:x-tenant}"}
  - name: index-only
    auth_key: "dave:p"
    kibana_index: ".kibana_dave"
    actions: ["indices:data/read/*"]
    indices: ["logs-*"]
"#,
    );
    let run = |user: &str, c: Call| decide(&acl, &c.user(user, "p"));
    assert_eq!(
        run("alice", call("PUT", "/.kibana_alice/_doc/x")),
        "allow:legacy"
    );
    assert_eq!(run("alice", call("PUT", "/.kibana/_doc/x")), "deny");
    assert_eq!(
        run("bob", call("PUT", "/.kibana_bob/_doc/x")),
        "allow:per-user"
    );
    assert_eq!(
        run("bob", call("PUT", "/.kibana_bob_task_manager/_doc/x")),
        "allow:per-user"
    );
    assert_eq!(run("bob", call("PUT", "/.kibana_alice/_doc/x")), "deny");
    // Spaces in a resolved name become `_` (kibanaIndexNameConvertible).
    assert_eq!(
        run(
            "carol",
            call("PUT", "/.kibana_acme_corp/_doc/x").header("X-Tenant", "acme corp")
        ),
        "allow:tenant-header"
    );
    // A variable that does not resolve: the rule fails (ReadonlyREST's KibanaUserDataRule
    // throws, which fails the block).
    assert_eq!(run("carol", call("PUT", "/.kibana_/_doc/x")), "deny");
    // Reads are granted from the action alone, before the index is needed.
    assert_eq!(
        run("carol", call("GET", "/.kibana/_doc/config:7.17.0")),
        "allow:tenant-header"
    );
    // `kibana_index` alone matches always and only feeds `indices` (MatchingAlwaysRule).
    assert_eq!(
        run("dave", call("POST", "/.kibana_dave/_search")),
        "allow:index-only"
    );
    assert_eq!(run("dave", call("POST", "/.kibana/_search")), "404");
    assert_eq!(run("dave", call("PUT", "/.kibana_dave/_doc/1")), "deny");
}

#[test]
fn unrestricted_coexists_with_actions() {
    // BlockValidator: `actions` is fine next to a kibana rule with unrestricted access.
    let acl = compile(
        r#"
readonlyrest:
  access_control_rules:
  - name: ops
    auth_key: "ops:p"
    kibana: {access: unrestricted}
    actions: ["cluster:*", "indices:data/read/*"]
"#,
    );
    assert_eq!(
        decide(&acl, &call("GET", "/_cluster/health").user("ops", "p")),
        "allow:ops"
    );
    assert_eq!(
        decide(&acl, &call("PUT", "/.kibana/_doc/x").user("ops", "p")),
        "deny"
    );
}

#[test]
fn kibana_related_names_match_readonlyrest_regexes() {
    // The regexes of KibanaIndexName.createKibanaRelatedIndicesRegexes, with `{k}` quoted.
    fn reference(name: &str, k: &str) -> bool {
        let q = regex::escape(k);
        let patterns = [
            format!(r"^{q}_\d+\.\d+\.\d+$"),
            format!(r"^{q}_\d+\.\d+\.\d+_\d+$"),
            format!(r"^\.kibana-reporting-{q}$"),
            format!(r"^\.ds-\.kibana-reporting-{q}-\d{{4}}\.\d{{2}}\.\d{{2}}-\d+$"),
            format!(r"^{q}_alerting_cases$"),
            format!(r"^{q}_alerting_cases_\d+\.\d+\.\d+$"),
            format!(r"^{q}_alerting_cases_\d+\.\d+\.\d+_\d+$"),
            format!(r"^{q}_analytics$"),
            format!(r"^{q}_analytics_\d+\.\d+\.\d+$"),
            format!(r"^{q}_ingest$"),
            format!(r"^{q}_ingest_\d+\.\d+\.\d+$"),
            format!(r"^{q}-event-log-\d+\.\d+\.\d+$"),
            format!(r"^{q}_security_solution$"),
            format!(r"^{q}_security_solution_\d+\.\d+\.\d+$"),
            format!(r"^{q}_search_solution$"),
            format!(r"^{q}_search_solution_\d+\.\d+\.\d+$"),
            format!(r"^{q}_task_manager$"),
            format!(r"^{q}_task_manager_\d+\.\d+\.\d+$"),
            format!(r"^{q}_usage_counters$"),
            format!(r"^{q}_usage_counters_\d+\.\d+\.\d+$"),
        ];
        name == k
            || patterns.iter().any(|p| {
                // ASCII digits only, as Java's `\d` without UNICODE_CHARACTER_CLASS.
                regex::Regex::new(&format!("(?-u){p}"))
                    .unwrap()
                    .is_match(name)
            })
    }
    let kibanas = [
        ".kibana",
        ".kibana_admin",
        ".custom+kibana",
        ".kibana-admin",
    ];
    let suffixes = [
        "",
        "_8.8.0",
        "_8.8.0_001",
        "_8.8",
        "_8.8.0.1",
        "_8.8.0_",
        "_a.b.c",
        "_1",
        "_alerting_cases",
        "_alerting_cases_8.8.0",
        "_alerting_cases_8.11.3_001",
        "_analytics",
        "_analytics_8.0.0",
        "_analytics_8.0.0_001",
        "_ingest",
        "_ingest_9.1.0",
        "-event-log-8.8.0",
        "-event-log-8.8.0-000001",
        "_security_solution",
        "_search_solution_9.1.0",
        "_task_manager",
        "_task_manager_8.8.0",
        "_usage_counters",
        "_usage_counters_8.16.0",
        "_task_manager_x",
        "x",
        "_analytics_",
        "_8.8.0_001x",
        "_١.٢.٣",
    ];
    let mut names: Vec<String> = Vec::new();
    for k in kibanas {
        for s in suffixes {
            names.push(format!("{k}{s}"));
        }
        names.push(format!(".kibana-reporting-{k}"));
        names.push(format!(".kibana-reporting-{k}x"));
        names.push(format!(".ds-.kibana-reporting-{k}-2025.01.01-000001"));
        names.push(format!(".ds-.kibana-reporting-{k}-2025.1.01-000001"));
        names.push(format!(".ds-.kibana-reporting-{k}-2025.01.01-"));
        names.push(format!(".ds-.kibana-reporting-{k}-2025.01.01"));
    }
    names.push(".kibanaX8.8.0".to_string());
    for k in kibanas {
        for name in &names {
            assert_eq!(
                is_kibana_related(name, k),
                reference(name, k),
                "{name} related to {k}?"
            );
        }
    }
}

#[test]
fn non_strict_paths_match_readonlyrest_regex() {
    // BaseKibanaRule.nonStrictAllowedPathsRegexTemplate, `find()` on the path.
    fn reference(path: &str, k: &str) -> bool {
        let q = regex::escape(k);
        let re = format!(
            "^/{q}/(url|config/.*/_create|index-pattern|doc/index-pattern.*|doc/url.*)/.*|^/_template/.*|^/{q}/doc/telemetry.*|^/{q}/(_update/index-pattern.*|_update/url.*)|^/{q}/_create/(url:.*)"
        );
        regex::Regex::new(&re).unwrap().is_match(path)
    }
    let kibanas = [".kibana", ".custom_kibana", ".k+b"];
    let tails = [
        "url/1234/",
        "url/1234",
        "url",
        "config/1234/_create/something",
        "config/1234/_create",
        "config//_create/x",
        "config/a/b/_create/c",
        "index-pattern/job",
        "index-pattern",
        "doc/index-pattern:895e/_update?",
        "doc/index-pattern:895e",
        "doc/url1234/_update",
        "doc/url1234",
        "doc/telemetry:telemetry",
        "doc/telemetry",
        "_update/index-pattern:895e",
        "_update/url1234",
        "_update/config:7.17.0",
        "_create/url:710d",
        "_create/url",
        "_doc/index-pattern:xyz",
        "_doc/url:1",
        "_bulk",
        "url/_delete_by_query",
    ];
    for k in kibanas {
        let mut paths: Vec<String> = tails.iter().map(|t| format!("/{k}/{t}")).collect();
        paths.push(format!("/{k}x/url/1"));
        paths.push(format!("{k}/url/1"));
        paths.push("/_template/kibana_index_template:.kibana".to_string());
        paths.push("/_template/".to_string());
        paths.push("/_template".to_string());
        paths.push("/_index_template/x".to_string());
        for path in &paths {
            assert_eq!(
                is_non_strict_path(path, k),
                reference(path, k),
                "{path} with {k}"
            );
        }
    }
    // A line terminator: Java's `.` stops there; refused outright.
    assert!(!is_non_strict_path("/.kibana/url/a\nb", ".kibana"));
}

fn errors_of(text: &str) -> Vec<String> {
    try_acl(text).expect_err("config should not load")
}

fn assert_errors(text: &str, expected: &[&str]) {
    let errors = errors_of(text);
    assert_eq!(errors.len(), expected.len(), "{errors:#?}");
    for (error, want) in errors.iter().zip(expected) {
        assert!(error.contains(want), "{error}\n  should contain\n{want}");
    }
}

#[test]
fn config_errors() {
    // BlockValidator.validateIfKibanaUserDataRuleIsNotUsedWithOldDeprecatedKibanaRules.
    assert_errors(
        r#"
readonlyrest:
  access_control_rules:
  - name: mixed
    auth_key: "u:p"
    kibana: {access: ro}
    kibana_access: rw
    kibana_index: ".k"
"#,
        &[
            "readonlyrest.yml:7:5: block `mixed`: rule `kibana_access`: cannot be used together with the `kibana` rule",
            "readonlyrest.yml:8:5: block `mixed`: rule `kibana_index`: cannot be used together with the `kibana` rule",
        ],
    );
    // BlockValidator.validateRuleUsageInContextOf: `actions` only with unrestricted access.
    assert_errors(
        r#"
readonlyrest:
  access_control_rules:
  - name: a
    kibana: {access: ro}
    actions: ["indices:data/read/*"]
  - name: b
    actions: ["*"]
    kibana_access: rw
"#,
        &[
            "readonlyrest.yml:6:5: block `a`: rule `actions`: cannot be used together with a kibana rule",
            "readonlyrest.yml:8:5: block `b`: rule `actions`: cannot be used together with a kibana rule",
        ],
    );
    // Access values (`kibanaAccessDecoder`), required `access`, allowed_api_paths only with
    // api_only (KibanaUserDataRuleDecoder), unknown keys, empty index names.
    assert_errors(
        r#"
readonlyrest:
  access_control_rules:
  - name: a
    kibana: {access: readonly}
  - name: b
    kibana: {index: ".k"}
  - name: c
    kibana:
      access: ro
      allowed_api_paths: ["^/api/spaces/.*$"]
  - name: d
    kibana: {access: rw, indx: ".k"}
  - name: e
    kibana_index: ""
  - name: f
    kibana: ro
  - name: g
    kibana:
      access: api_only
      allowed_api_paths: [{http_method: PATCH, http_path: "^/x$"}]
"#,
        &[
            "readonlyrest.yml:5:22: block `a`: rule `kibana`: unknown kibana access `readonly` (expected ro, ro_strict, rw, api_only, admin or unrestricted)",
            "readonlyrest.yml:7:13: block `b`: rule `kibana`: needs `access`",
            "readonlyrest.yml:11:7: block `c`: rule `kibana`: `allowed_api_paths` can only be used with `access: api_only`",
            "readonlyrest.yml:13:26: unknown key `indx` in the kibana rule of block `d`",
            "readonlyrest.yml:15:19: block `e`: rule `kibana_index`: the Kibana index name must be a non-empty string",
            "readonlyrest.yml:17:13: block `f`: rule `kibana`: must be a mapping",
            "readonlyrest.yml:21:41: block `g`: rule `kibana`: http_method must be GET, POST, PUT or DELETE",
        ],
    );
    // `@{user}` in the index needs an authentication rule (BlockValidator
    // .validateRequirementsForRulesUsingVariables); `@{jwt:...}` needs a JWT rule.
    assert_errors(
        r#"
readonlyrest:
  access_control_rules:
  - name: a
    kibana: {access: rw, index: ".kibana_@{user}"}
  - name: b
    auth_key: "u:p"
    kibana: {access: rw, template_index: ".t_@{jwt:tenant}"}
"#,
        &[
            "readonlyrest.yml:5:26: block `a`: this rule reads the authenticated user",
            "readonlyrest.yml:8:42: block `b`: @{jwt:...} reads the token a JWT rule verified, so the block needs jwt_authentication",
        ],
    );
    // Only blocks hold kibana rules.
    assert_errors(
        r#"
readonlyrest:
  access_control_rules:
  - name: a
    groups: [g]
  users:
  - username: u
    groups: [g]
    auth_key: "u:p"
    kibana: {access: ro}
"#,
        &["rule `kibana`: a kibana rule is only allowed in a block"],
    );
}

#[test]
fn accepted_spellings() {
    // Access is case-insensitive (`_.toLowerCase`); hide_apps may be a single string; legacy
    // rules without `kibana_access` are unrestricted for the `actions` check.
    compile(
        r#"
readonlyrest:
  access_control_rules:
  - name: a
    kibana: {access: RO_STRICT, hide_apps: "Security", metadata: "anything"}
  - name: b
    kibana_hide_apps: "Security"
    kibana_template_index: ".tpl"
    actions: ["indices:data/read/*"]
  - name: c
    kibana_access: Admin
    kibana_index: ".kibana_admins"
"#,
    );
}
