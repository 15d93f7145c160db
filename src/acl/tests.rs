//! ACL tests: a realistic readonlyrest.yml, rule by rule, block order, responses, errors,
//! and a randomized comparison against a tiny reference model.

use super::*;
use crate::http::request::parse_request_head;
use std::net::IpAddr;

use super::test_support::{basic_value, compile, try_acl};

/// A request built from a raw head, from `peer` to the gateway at 10.0.0.1.
struct Req {
    raw: Vec<u8>,
    peer: IpAddr,
}

fn req(method: &str, path: &str, headers: &[(&str, &str)]) -> Req {
    let mut raw = format!("{method} {path} HTTP/1.1\r\nHost: es\r\n");
    for (name, value) in headers {
        raw.push_str(&format!("{name}: {value}\r\n"));
    }
    raw.push_str("\r\n");
    Req {
        raw: raw.into_bytes(),
        peer: "192.168.1.10".parse().unwrap(),
    }
}

fn basic(user: &str, password: &str) -> (&'static str, String) {
    ("Authorization", basic_value(user, password))
}

/// The decision, summarised: `allow:<block>:<user>`, `forbid:<block>:<reason>`, `401`.
fn decide(acl: &Acl, r: &Req) -> String {
    with_request(r, |request| summary(acl.evaluate(request, &NoCache)))
}

/// Runs `f` on the ACL's view of `r`.
fn with_request<T>(r: &Req, f: impl FnOnce(&Request<'_>) -> T) -> T {
    with_request_dn(r, None, f)
}

/// [`with_request`] over a connection whose verified client certificate has `dn`.
fn with_request_dn<T>(r: &Req, dn: Option<&str>, f: impl FnOnce(&Request<'_>) -> T) -> T {
    let head = parse_request_head(&r.raw, 16384).unwrap().unwrap();
    let path =
        crate::es::index_name::decode_part(std::str::from_utf8(head.path.get(&r.raw)).unwrap())
            .unwrap();
    let target = std::str::from_utf8(head.path_and_query().get(&r.raw)).unwrap();
    let classified = crate::es::route::classify(head.method, target).unwrap();
    let targets = crate::es::target::Targets::from_path(&classified);
    let metadata = crate::es::metadata::ClusterMetadata::default();
    let mut request = Request::new(
        head.method,
        &path,
        &r.raw,
        &head.headers,
        r.peer,
        "10.0.0.1".parse().unwrap(),
        Some(0),
    )
    .unwrap();
    request.certificate_dn = dn;
    request.es = Some(es_rules::EsView {
        action: classified.action,
        unknown: classified.is_unknown(),
        // As in `proxy::decide`: only a body that is there is waited for.
        targets: (!crate::es::target::needs_body(&classified)
            || head.body == crate::http::request::BodyFraming::None)
            .then_some(&targets),
        metadata: &metadata,
    });
    f(&request)
}

fn summary(decision: Decision<'_>) -> String {
    match decision {
        Decision::Allow { block, user, .. } => format!(
            "allow:{}:{}",
            block.unwrap_or("-"),
            user.as_deref().unwrap_or("-")
        ),
        Decision::Forbid { block, reason, .. } => {
            format!("forbid:{}:{reason}", block.unwrap_or("-"))
        }
        Decision::Unauthorized { .. } => "401".to_string(),
        Decision::Verify(p, _) => format!("verify:{}", p.key_id),
        Decision::Ask(ask, _) => format!("ask:{}:{:?}", ask.service.name(), ask.question),
        Decision::Unavailable(u) => format!("503:{}", u.reason),
        Decision::ReadBody(_) => "read-body".to_string(),
        Decision::IndexNotFound => "404".to_string(),
    }
}

fn with_headers(method: &str, path: &str, headers: Vec<(&str, String)>) -> Req {
    let borrowed: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    req(method, path, &borrowed)
}

const REALISTIC: &str = r#"
readonlyrest:
  prompt_for_basic_auth: true
  response_if_req_forbidden: "Access denied by policy"
  access_control_rules:
  - name: "Health checks from the load balancer"
    hosts: ["10.0.0.0/8", "192.168.1.0/24"]
    methods: [GET, HEAD]
    uri_re: ["^/_cluster/health", "^/$"]

  - name: "Block deletes for everyone"
    type:
      policy: forbid
      response_message: "Deletes are not allowed"
    methods: DELETE

  - name: "Logstash writer"
    auth_key_sha256: "logstash:76cd2c0d589e224531fc6af2c5850e3c9b2aca6902d813ce598833c7c1b28bee"
    methods: [POST, PUT, GET, HEAD]

  - name: "Claire, full hash form"
    auth_key_sha256: "e0bba5fda92dbb0570fd2e729a3c8ed6b1d52b380581f32427a38e396ba28ec6"

  - name: "Admins"
    groups: ["admins"]

  - name: "Developers read only"
    groups_any_of: ["dev*"]
    methods: GET

  users:
  - username: alice
    groups: ["admins", "developers"]
    auth_key: "alice:wonderland"
  - username: ["bob", "bobby"]
    groups: [{id: developers, name: "Developers"}]
    auth_key_sha1: "bob:bd0e7b5efc4d1f7b6e3b26e2a6e6d1a6e0d1c7a1"
  - username: dev3
    groups: ["devops"]
    auth_key_sha1: "9986e90bf8a4add7a56be873273e6e0997220b0f"
"#;

#[test]
fn realistic_readonlyrest_yml_behaves_as_documented() {
    let acl = compile(REALISTIC);
    let get = |path: &str, headers: Vec<(&str, String)>| {
        decide(&acl, &with_headers("GET", path, headers))
    };

    // Network + HTTP rules, no credentials needed.
    assert_eq!(
        get("/_cluster/health", vec![]),
        "allow:Health checks from the load balancer:-"
    );
    assert_eq!(
        decide(&acl, &req("HEAD", "/", &[])),
        "allow:Health checks from the load balancer:-"
    );
    let mut outside = req("GET", "/_cluster/health", &[]);
    outside.peer = "203.0.113.5".parse().unwrap();
    assert_eq!(decide(&acl, &outside), "401");

    // A forbid block wins over later allow blocks, with its own message.
    assert_eq!(
        decide(
            &acl,
            &with_headers("DELETE", "/logs", vec![basic("logstash", "logstash")])
        ),
        "forbid:Block deletes for everyone:Deletes are not allowed"
    );

    // sha256 user:hash form and full-hash form (reference test vectors).
    assert_eq!(
        decide(
            &acl,
            &with_headers("POST", "/_bulk", vec![basic("logstash", "logstash")])
        ),
        "allow:Logstash writer:logstash"
    );
    assert_eq!(
        get("/x", vec![basic("claire", "p455key")]),
        "allow:Claire, full hash form:claire"
    );

    // Wrong password: credentials were the problem, so 401 with the prompt on.
    assert_eq!(get("/x", vec![basic("logstash", "nope")]), "401");
    assert_eq!(get("/x", vec![]), "401");

    // Groups through the users section.
    assert_eq!(
        get("/x", vec![basic("alice", "wonderland")]),
        "allow:Admins:alice"
    );
    assert_eq!(
        decide(
            &acl,
            &with_headers("POST", "/x", vec![basic("alice", "wonderland")])
        ),
        "allow:Admins:alice"
    );
    assert_eq!(
        get("/x", vec![basic("dev3", "test")]),
        "allow:Developers read only:dev3"
    );
    // dev3 is a developer (devops matches dev*) but only for GET: no block matches a POST,
    // and the credentials were fine, so this is a 403, not a prompt.
    assert_eq!(
        decide(
            &acl,
            &with_headers("POST", "/x", vec![basic("dev3", "test")])
        ),
        "forbid:-:Access denied by policy"
    );
}

#[test]
fn sha_test_vectors_both_forms() {
    let cases = [
        ("auth_key_sha1", "4338fa3ea95532196849ae27615e14dda95c77b1"),
        ("auth_key_sha1", "logstash:9208e8476a2e8adc584bf2f613842177a39645b4"),
        ("auth_key_sha256", "280ac6f756a64a80143447c980289e7e4c6918b92588c8095c7c3f049a13fbf9"),
        ("auth_key_sha256", "logstash:76cd2c0d589e224531fc6af2c5850e3c9b2aca6902d813ce598833c7c1b28bee"),
        ("auth_key_sha512", "3586d5752240fd09e967383d3f1bad025bbc6953ba7c6d2135670631b4e326fee0cc8bd81addb9f6de111b9c380505b5ea0531598c21b0906d8e726f24e0dbe2"),
        ("auth_key_sha512", "logstash:2963e577145fb7f675c6726800691b3432020f8373cc5a3e8b30ca0856047846d10c96b7cfe64ed750637e09d7266e6eb464628995eed5368ef4780868f230ea"),
        ("auth_key", "logstash:logstash"),
    ];
    for (rule, value) in cases {
        let acl = compile(&format!(
            "readonlyrest:\n  access_control_rules:\n  - name: b\n    {rule}: \"{value}\"\n"
        ));
        assert_eq!(
            decide(
                &acl,
                &with_headers("GET", "/", vec![basic("logstash", "logstash")])
            ),
            "allow:b:logstash",
            "{rule} {value}"
        );
        assert_eq!(
            decide(
                &acl,
                &with_headers("GET", "/", vec![basic("logstash", "logstasH")])
            ),
            "401",
            "{rule} {value}"
        );
        assert_eq!(
            decide(
                &acl,
                &with_headers("GET", "/", vec![basic("logstasH", "logstash")])
            ),
            "401",
            "{rule} {value}"
        );
    }
}

#[test]
fn expensive_hashes_are_never_computed_inline() {
    let acl = compile("readonlyrest:\n  access_control_rules:\n  - name: b\n    hosts: [192.168.1.0/24]\n    auth_key_unix: \"test:$6$rounds=65535$d07dnv4N$QeErsDT9Mz.ZoEPXW3dwQGL7tzwRz.eOrTBepIwfGEwdUAYSy/NirGoOaNyPx8lqiR6DYRSsDzVvVbhP4Y9wf0\"\n");
    assert_eq!(
        decide(&acl, &with_headers("GET", "/", vec![basic("test", "test")])),
        "verify:1"
    );
    // Wrong user: refused before any hashing.
    assert_eq!(
        decide(
            &acl,
            &with_headers("GET", "/", vec![basic("nobody", "test")])
        ),
        "401"
    );
    // Wrong host: the network rule runs first, no hash is even asked for.
    let mut far = with_headers("GET", "/", vec![basic("test", "test")]);
    far.peer = "203.0.113.1".parse().unwrap();
    assert_eq!(decide(&acl, &far), "forbid:-:Forbidden by ReadonlyREST");
}

#[test]
fn first_matching_block_decides_and_no_match_denies() {
    let acl = compile("readonlyrest:\n  access_control_rules:\n  - name: first\n    methods: GET\n  - name: second\n    type: forbid\n    methods: [GET, POST]\n");
    assert_eq!(decide(&acl, &req("GET", "/", &[])), "allow:first:-");
    assert_eq!(
        decide(&acl, &req("POST", "/", &[])),
        "forbid:second:Forbidden by ReadonlyREST"
    );
    assert_eq!(
        decide(&acl, &req("PUT", "/", &[])),
        "forbid:-:Forbidden by ReadonlyREST"
    );
    let empty = compile("readonlyrest:\n  access_control_rules: []\n");
    assert_eq!(
        decide(&empty, &req("GET", "/", &[])),
        "forbid:-:Forbidden by ReadonlyREST"
    );
    let disabled = compile("readonlyrest:\n  enable: false\n");
    assert_eq!(decide(&disabled, &req("DELETE", "/", &[])), "allow:-:-");
}

#[test]
fn prompt_off_means_403() {
    let acl = compile("readonlyrest:\n  global_settings:\n    prompt_for_basic_auth: false\n  access_control_rules:\n  - name: b\n    auth_key: u:p\n");
    assert_eq!(
        decide(&acl, &req("GET", "/", &[])),
        "forbid:-:Forbidden by ReadonlyREST"
    );
}

#[test]
fn network_rules() {
    let acl = compile(
        r#"
readonlyrest:
  access_control_rules:
  - name: local
    hosts_local: ["10.0.0.1"]
    headers: ["x-zone:local"]
  - name: xff-leftmost
    x_forwarded_for: ["203.0.113.0/24"]
  - name: xff-trusted
    x_forwarded_for:
      hosts: ["198.51.100.0/24"]
      trusted_proxies: ["192.168.1.0/24", "10.9.9.9"]
  - name: hosts-xff
    accept_x-forwarded-for_header: true
    hosts: ["172.16.0.0/12"]
"#,
    );
    assert_eq!(
        decide(&acl, &req("GET", "/", &[("X-Zone", "local")])),
        "allow:local:-"
    );
    assert_eq!(
        decide(
            &acl,
            &req("GET", "/", &[("X-Forwarded-For", "203.0.113.7, 10.0.0.9")])
        ),
        "allow:xff-leftmost:-"
    );
    // Trusted mode: the peer (192.168.1.10) and 10.9.9.9 are proxies; the client is 198.51.100.4,
    // whatever the client wrote on the left.
    assert_eq!(
        decide(
            &acl,
            &req(
                "GET",
                "/",
                &[("X-Forwarded-For", "1.1.1.1, 198.51.100.4, 10.9.9.9")]
            )
        ),
        "allow:xff-trusted:-"
    );
    assert_eq!(
        decide(
            &acl,
            &req("GET", "/", &[("X-Forwarded-For", "198.51.100.4, 1.1.1.1")])
        ),
        "forbid:-:Forbidden by ReadonlyREST"
    );
    assert_eq!(
        decide(&acl, &req("GET", "/", &[("X-Forwarded-For", "172.16.5.5")])),
        "allow:hosts-xff:-"
    );
}

#[test]
fn http_rules() {
    let acl = compile(
        r#"
readonlyrest:
  access_control_rules:
  - name: negated-header
    headers_and: ["x-team:ops*", "~x-debug:*"]
  - name: any-header
    headers_or: ["x-a:1", "x-b:2"]
  - name: api-key
    api_keys: ["k1", "k2"]
  - name: uri
    uri_re: ["^/public/.*"]
  - name: small-body
    maxBodyLength: 0
    methods: PUT
"#,
    );
    assert_eq!(
        decide(&acl, &req("GET", "/", &[("X-Team", "ops-eu")])),
        "allow:negated-header:-"
    );
    assert_eq!(
        decide(
            &acl,
            &req("GET", "/", &[("X-Team", "ops-eu"), ("X-Debug", "1")])
        ),
        "forbid:-:Forbidden by ReadonlyREST"
    );
    assert_eq!(
        decide(&acl, &req("GET", "/", &[("x-b", "2")])),
        "allow:any-header:-"
    );
    assert_eq!(
        decide(&acl, &req("GET", "/", &[("X-Api-Key", "k2")])),
        "allow:api-key:-"
    );
    assert_eq!(
        decide(&acl, &req("GET", "/", &[("X-Api-Key", "k3")])),
        "forbid:-:Forbidden by ReadonlyREST"
    );
    assert_eq!(decide(&acl, &req("GET", "/public/x", &[])), "allow:uri:-");
    // uri_re sees the decoded path: an encoded letter cannot dodge it.
    assert_eq!(decide(&acl, &req("GET", "/%70ublic/x", &[])), "allow:uri:-");
    assert_eq!(
        decide(&acl, &req("GET", "/public?x", &[])),
        "forbid:-:Forbidden by ReadonlyREST"
    );
    assert_eq!(decide(&acl, &req("PUT", "/i", &[])), "allow:small-body:-");
}

#[test]
fn proxy_auth_token_users_and_variables() {
    let acl = compile(
        r#"
readonlyrest:
  proxy_auth_configs:
  - name: sso
    user_id_header: X-Auth-User
  access_control_rules:
  - name: proxy
    proxy_auth:
      proxy_auth_config: sso
      users: ["*@corp.com"]
    uri_re: ["^/@{user}/"]
  - name: token
    token_authentication:
      token: "Bearer s3cret"
      username: svc
    users: ["svc", "other"]
  - name: default-proxy-header
    proxy_auth: "kibana"
"#,
    );
    assert_eq!(
        decide(
            &acl,
            &req(
                "GET",
                "/ann@corp.com/_search",
                &[("X-Auth-User", "ann@corp.com")]
            )
        ),
        "allow:proxy:ann@corp.com"
    );
    assert_eq!(
        decide(
            &acl,
            &req(
                "GET",
                "/bob@corp.com/_search",
                &[("X-Auth-User", "ann@corp.com")]
            )
        ),
        "forbid:-:Forbidden by ReadonlyREST"
    );
    assert_eq!(
        decide(
            &acl,
            &req("GET", "/", &[("Authorization", "Bearer s3cret")])
        ),
        "allow:token:svc"
    );
    assert_eq!(
        decide(
            &acl,
            &req("GET", "/", &[("Authorization", "Bearer s3creT")])
        ),
        "forbid:-:Forbidden by ReadonlyREST"
    );
    assert_eq!(
        decide(&acl, &req("GET", "/", &[("X-Forwarded-User", "kibana")])),
        "allow:default-proxy-header:kibana"
    );
}

#[test]
fn groups_logic_variants() {
    let acl = compile(
        r#"
readonlyrest:
  access_control_rules:
  - name: all-of
    groups_all_of: ["a", "b*"]
  - name: combined
    groups:
      any_of: ["c"]
      not_any_of: ["banned"]
  - name: not-all
    groups_not_all_of: ["x", "y"]
    methods: PUT
  users:
  - username: u1
    groups: [a, b2]
    auth_key: u1:p
  - username: u2
    groups: [c, banned]
    auth_key: u2:p
  - username: u3
    groups: [c]
    auth_key: u3:p
  - username: robot
    groups: [c]
    token_authentication:
      token: "Bearer r0b0t"
      username: robot
  - username: "svc-*"
    groups: [x]
    auth_key_sha256: "e0bba5fda92dbb0570fd2e729a3c8ed6b1d52b380581f32427a38e396ba28ec6"
"#,
    );
    let as_user =
        |m: &str, u: &str, p: &str| decide(&acl, &with_headers(m, "/", vec![basic(u, p)]));
    assert_eq!(as_user("GET", "u1", "p"), "allow:all-of:u1");
    assert_eq!(
        as_user("GET", "u2", "p"),
        "forbid:-:Forbidden by ReadonlyREST"
    );
    assert_eq!(as_user("GET", "u3", "p"), "allow:combined:u3");
    assert_eq!(as_user("GET", "u3", "wrong"), "401");
    let robot = req("GET", "/", &[("Authorization", "Bearer r0b0t")]);
    assert_eq!(decide(&acl, &robot), "allow:combined:robot");
    assert_eq!(as_user("PUT", "u2", "p"), "allow:not-all:u2");
    // A full-hash key in a users entry: only entries whose username matches are tried.
    assert_eq!(as_user("PUT", "claire", "p455key"), "401");
}

#[test]
fn startup_variables_are_substituted() {
    std::env::set_var("RINGFENCE_TEST_PASSWORD", "from-env");
    let acl = compile("readonlyrest:\n  access_control_rules:\n  - name: a\n    auth_key: \"u:${env:RINGFENCE_TEST_PASSWORD}\"\n  - name: b\n    auth_key: \"env:RINGFENCE_TEST_KEY_UNSET_OK\"\n".replace("env:RINGFENCE_TEST_KEY_UNSET_OK", "text:v:w").as_str());
    assert_eq!(
        decide(
            &acl,
            &with_headers("GET", "/", vec![basic("u", "from-env")])
        ),
        "allow:a:u"
    );
    assert_eq!(
        decide(&acl, &with_headers("GET", "/", vec![basic("v", "w")])),
        "allow:b:v"
    );
    let errors = try_acl("readonlyrest:\n  access_control_rules:\n  - name: a\n    auth_key: \"u:@{env:RINGFENCE_SURELY_UNSET_VAR}\"\n").unwrap_err();
    assert_eq!(
        errors,
        ["readonlyrest.yml:4:15: environment variable `RINGFENCE_SURELY_UNSET_VAR` is not set"]
    );
}

#[test]
fn config_errors_name_block_rule_line_and_column() {
    let errors = try_acl(
        r#"
readonlyrest:
  access_control_rules:
  - name: one
    methods: [GET, FETCH]
    hostz: ["1.2.3.4"]
  - name: two
    auth_key: "a:b"
    auth_key_sha256: "nothex"
  - name: three
    users: ["x"]
  - name: four
    indices: ["logs-@{user}"]
  - name: one
    ror_kbn_auth: {name: l, groups: [g]}
  - type: allow
    uri_re: ["(unclosed"]
"#,
    )
    .unwrap_err();
    let expected = [
        "readonlyrest.yml:5:20: block `one`: rule `methods`: unknown method `FETCH` (GET, POST, PUT, DELETE, OPTIONS or HEAD)",
        "readonlyrest.yml:6:5: block `one`: unknown rule `hostz`",
        "readonlyrest.yml:9:22: block `two`: auth_key_sha256: expected 64 hex digits",
        "readonlyrest.yml:11:5: block `three`: this rule reads the authenticated user",
        "readonlyrest.yml:13:5: block `four`: this rule reads the authenticated user",
        "readonlyrest.yml:14:11: duplicate block name `one`",
        "readonlyrest.yml:15:5: block `one`: rule `ror_kbn_auth`: this ReadonlyREST rule is not supported by Ringfence yet",
        "readonlyrest.yml:16:5: a block needs a `name`",
        "readonlyrest.yml:17:14: block `?`: rule `uri_re`: invalid regular expression `(unclosed`: unclosed group",
    ];
    assert_eq!(errors.len(), expected.len(), "{errors:#?}");
    for (error, prefix) in errors.iter().zip(expected) {
        assert!(
            error.starts_with(prefix),
            "{error}\n  expected to start with\n{prefix}"
        );
    }
}

#[test]
fn users_section_validation() {
    let errors = try_acl("readonlyrest:\n  access_control_rules:\n  - name: g\n    groups: [a]\n  users:\n  - username: alice\n    groups: [a]\n    auth_key: bob:x\n  - username: alice\n    groups: [a]\n    auth_key: alice:y\n  - username: carol\n    groups: [a]\n").unwrap_err();
    assert_eq!(errors.len(), 3, "{errors:#?}");
    assert!(
        errors[0].contains("the user `bob` of the rule does not match"),
        "{errors:#?}"
    );
    assert!(
        errors[1].contains("duplicate username `alice`"),
        "{errors:#?}"
    );
    assert!(
        errors[2].contains("one authentication rule is required"),
        "{errors:#?}"
    );
}

/// A tiny independent model of block semantics for methods/hosts/auth_key/headers, used to
/// check the engine on random policies and requests: the engine allows exactly when the
/// first block whose every rule holds is an allow block.
#[test]
fn randomized_policies_agree_with_a_reference_model() {
    #[derive(Clone, Copy, Debug)]
    enum R {
        Method(&'static str),
        Net(&'static str, [u8; 3]),
        Key(&'static str, &'static str),
        Header(&'static str),
    }
    const METHODS: [&str; 3] = ["GET", "POST", "PUT"];
    const NETS: [(&str, [u8; 3]); 2] = [
        ("192.168.1.0/24", [192, 168, 1]),
        ("10.0.0.0/8", [10, 0, 0]),
    ];
    const USERS: [(&str, &str); 2] = [("u", "p"), ("v", "q")];
    let mut seed: u64 = 0x9E3779B97F4A7C15;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    for _ in 0..300 {
        let mut yaml = String::from(
            "readonlyrest:\n  prompt_for_basic_auth: false\n  access_control_rules:\n",
        );
        let mut blocks = Vec::new();
        for b in 0..(1 + next(4)) {
            let forbid = next(3) == 0;
            let mut rules: Vec<R> = Vec::new();
            for _ in 0..(1 + next(3)) {
                let rule = match next(4) {
                    0 => R::Method(METHODS[next(3) as usize]),
                    1 => {
                        let (net, prefix) = NETS[next(2) as usize];
                        R::Net(net, prefix)
                    }
                    2 => {
                        let (u, p) = USERS[next(2) as usize];
                        R::Key(u, p)
                    }
                    _ => R::Header(["x-a:1", "~x-a:1"][next(2) as usize]),
                };
                let kind = std::mem::discriminant(&rule);
                if !rules.iter().any(|r| std::mem::discriminant(r) == kind) {
                    rules.push(rule);
                }
            }
            yaml.push_str(&format!(
                "  - name: b{b}\n    type: {}\n",
                if forbid { "forbid" } else { "allow" }
            ));
            for rule in &rules {
                yaml.push_str(&match rule {
                    R::Method(m) => format!("    methods: {m}\n"),
                    R::Net(net, _) => format!("    hosts: [\"{net}\"]\n"),
                    R::Key(u, p) => format!("    auth_key: \"{u}:{p}\"\n"),
                    R::Header(h) => format!("    headers: [\"{h}\"]\n"),
                });
            }
            blocks.push((format!("b{b}"), forbid, rules));
        }
        let compiled = compile(&yaml);
        for _ in 0..20 {
            let method = METHODS[next(3) as usize];
            let peer: [u8; 4] =
                [[192, 168, 1, 5], [10, 0, 0, 7], [172, 16, 0, 1]][next(3) as usize];
            let creds =
                [None, Some(("u", "p")), Some(("v", "q")), Some(("u", "q"))][next(4) as usize];
            let header = next(2) == 0;
            let mut headers = Vec::new();
            if let Some((u, p)) = creds {
                headers.push(basic(u, p));
            }
            if header {
                headers.push(("X-A", "1".to_string()));
            }
            let mut r = with_headers(method, "/", headers);
            r.peer = IpAddr::from(peer);
            let holds = |rule: &R| match rule {
                R::Method(m) => *m == method,
                R::Net(_, prefix) => peer[..3] == prefix[..] || (prefix[0] == 10 && peer[0] == 10),
                R::Key(u, p) => creds == Some((*u, *p)),
                R::Header(h) => header != h.starts_with('~'),
            };
            let expected = match blocks.iter().find(|(_, _, rules)| rules.iter().all(holds)) {
                Some((name, false, _)) => format!("allow:{name}"),
                Some((name, true, _)) => format!("forbid:{name}"),
                None => "forbid:-".to_string(),
            };
            let got = decide(&compiled, &r);
            assert!(
                got.starts_with(&expected),
                "{yaml}\n{method} {peer:?} {creds:?} x-a={header}: got {got}, expected {expected}"
            );
        }
    }
}

/// A verifier that has checked every expensive key with the same result.
struct Checked(crate::auth::key::Verdict);

impl Verifier for Checked {
    fn cached(&self, _: u32, _: &str, _: &str) -> Option<crate::auth::key::Verdict> {
        Some(self.0)
    }
}

#[test]
fn an_evaluation_stopped_for_a_hash_resumes_at_its_block_with_what_came_before() {
    use crate::auth::key::Verdict;
    let acl = compile("readonlyrest:\n  access_control_rules:\n  - name: first\n    auth_key: \"alice:right\"\n  - name: unix\n    auth_key_unix: \"test:$6$rounds=65535$d07dnv4N$QeErsDT9Mz.ZoEPXW3dwQGL7tzwRz.eOrTBepIwfGEwdUAYSy/NirGoOaNyPx8lqiR6DYRSsDzVvVbhP4Y9wf0\"\n");
    for (verdict, expected) in [
        (Verdict::Match, "allow:unix:test"),
        (Verdict::WrongPassword, "401"),
    ] {
        let r = with_headers("GET", "/", vec![basic("test", "guess")]);
        let (resumed, from_scratch) = with_request(&r, |request| {
            let Decision::Verify(_, resume) = acl.evaluate(request, &NoCache) else {
                panic!("the unix key is pending first");
            };
            let checked = Checked(verdict);
            let resumed = acl.evaluate_from(request, &checked, resume);
            let from_scratch = acl.evaluate(request, &checked);
            // The first block's rejection of these credentials is carried into the end.
            if let Decision::Unauthorized {
                credentials_rejected,
                ..
            } = resumed
            {
                assert!(credentials_rejected);
            }
            (summary(resumed), summary(from_scratch))
        });
        assert_eq!(resumed, expected);
        assert_eq!(resumed, from_scratch);
    }
}

#[test]
fn what_blocks_before_a_resumed_one_said_about_the_indices_still_counts() {
    use crate::auth::key::Verdict;
    let unix = "$6$rounds=65535$d07dnv4N$QeErsDT9Mz.ZoEPXW3dwQGL7tzwRz.eOrTBepIwfGEwdUAYSy/NirGoOaNyPx8lqiR6DYRSsDzVvVbhP4Y9wf0";
    let acl = compile(&format!("readonlyrest:\n  access_control_rules:\n  - name: logs\n    auth_key: \"test:test\"\n    indices: [\"logs\"]\n  - name: unix\n    auth_key_unix: \"test:{unix}\"\n    users: [\"somebody-else\"]\n"));
    let r = with_headers("GET", "/missing/_search", vec![basic("test", "test")]);
    let (resumed, from_scratch) = with_request(&r, |request| {
        let Decision::Verify(_, resume) = acl.evaluate(request, &NoCache) else {
            panic!("the unix key is pending");
        };
        let checked = Checked(Verdict::Match);
        (
            summary(acl.evaluate_from(request, &checked, resume)),
            summary(acl.evaluate(request, &checked)),
        )
    });
    // The first block found the index missing; the second authenticated and failed on
    // `users`: the node's own "no such index" answer, not a 403.
    assert_eq!(from_scratch, "404");
    assert_eq!(resumed, from_scratch);
}

/// The decision for `r` arriving over a connection whose client certificate has `dn`.
fn decide_with_dn(acl: &Acl, r: &Req, dn: Option<&str>) -> String {
    with_request_dn(r, dn, |request| summary(acl.evaluate(request, &NoCache)))
}

const PKI: &str = r#"
readonlyrest:
  access_control_rules:
  - name: ops
    certificate_authentication:
      username_pattern: "CN=(.*?)(?:,|$)"
    indices: ["@{user}-*", "shared"]
  - name: by-group
    groups: [auditors]
    methods: [GET]
  - name: basic
    auth_key: "kim:pw"
  users:
  - username: "aud-*"
    groups: [auditors]
    certificate_authentication: true
"#;

#[test]
fn certificate_authentication_names_the_user_from_the_dn() {
    let acl = compile(PKI);
    let search = |index: &str| req("GET", &format!("/{index}/_search"), &[]);
    assert_eq!(
        decide_with_dn(&acl, &search("alice-1"), Some("CN=alice,OU=ops,O=Example")),
        "allow:ops:alice"
    );
    assert_eq!(
        decide_with_dn(&acl, &search("shared"), Some("CN=alice,OU=ops,O=Example")),
        "allow:ops:alice"
    );
    // The index narrowing sees the name taken from the certificate.
    assert_ne!(
        decide_with_dn(&acl, &search("bob-1"), Some("CN=alice,O=Example")),
        "allow:ops:alice"
    );
    assert_eq!(
        decide_with_dn(&acl, &search("bob-1"), Some("CN=bob")),
        "allow:ops:bob"
    );
}

#[test]
fn no_certificate_or_a_dn_the_pattern_misses_does_not_match() {
    let acl = compile(PKI);
    let r = req("GET", "/alice-1/_search", &[]);
    // No certificate: no credentials for this rule, not wrong ones; the basic block's
    // missing credentials are what asks for a login.
    assert_eq!(decide_with_dn(&acl, &r, None), "401");
    let acl = compile(
        "readonlyrest:\n  access_control_rules:\n  - name: pki\n    certificate_authentication: {username_pattern: \"UID=([^,]+)\"}\n",
    );
    assert_eq!(
        decide_with_dn(&acl, &r, None),
        "forbid:-:Forbidden by ReadonlyREST"
    );
    assert_eq!(
        decide_with_dn(&acl, &r, Some("CN=alice,O=Example")),
        "forbid:-:Forbidden by ReadonlyREST"
    );
    // An empty first group is no user name.
    assert_eq!(
        decide_with_dn(&acl, &r, Some("UID=,CN=x")),
        "forbid:-:Forbidden by ReadonlyREST"
    );
    assert_eq!(
        decide_with_dn(&acl, &r, Some("CN=x,UID=carol")),
        "allow:pki:carol"
    );
}

#[test]
fn the_default_pattern_reads_only_a_real_cn() {
    let acl = compile(
        "readonlyrest:\n  access_control_rules:\n  - name: pki\n    certificate_authentication: true\n    indices: [\"@{user}-*\"]\n",
    );
    let r = req("GET", "/admin-1/_search", &[]);
    assert_eq!(
        decide_with_dn(&acl, &r, Some("CN=admin,O=Example")),
        "allow:pki:admin"
    );
    // A certificate without a CN whose OU looks like one names nobody.
    assert_ne!(
        decide_with_dn(&acl, &r, Some("OU=CN=admin,O=Example")),
        "allow:pki:admin"
    );
    assert_ne!(
        decide_with_dn(&acl, &r, Some("UID=x,OU=CN=admin")),
        "allow:pki:admin"
    );
}

#[test]
fn a_users_entry_authenticates_by_certificate_for_groups_rules() {
    let acl = compile(PKI);
    let get = req("GET", "/_cluster/health", &[]);
    // `certificate_authentication: true` is the first CN; the entry's username patterns
    // and groups apply as with any other authentication rule.
    assert_eq!(
        decide_with_dn(&acl, &get, Some("CN=aud-1,O=Example")),
        "allow:by-group:aud-1"
    );
    let put = req("PUT", "/_cluster/settings", &[]);
    assert_ne!(
        decide_with_dn(&acl, &put, Some("CN=aud-1,O=Example")),
        "allow:by-group:aud-1"
    );
    // A certificate whose name no entry lists has no groups.
    assert_ne!(
        decide_with_dn(&acl, &get, Some("CN=mallory,O=Example")),
        "allow:by-group:mallory"
    );
    // Basic credentials still work next to it.
    let kim = with_headers("GET", "/kim-1/_search", vec![basic("kim", "pw")]);
    assert_eq!(decide_with_dn(&acl, &kim, None), "allow:basic:kim");
}

#[test]
fn the_certificate_dn_is_a_variable() {
    let acl = compile(
        "readonlyrest:\n  access_control_rules:\n  - name: dn\n    proxy_auth: \"*\"\n    users: [\"@{acl:certificate_dn}\"]\n  - name: user\n    certificate_authentication: true\n    uri_re: [\"^/@{user}/\"]\n",
    );
    let dn = "CN=alice,O=Example";
    // The user a proxy names must be the certificate's DN.
    let r = req("GET", "/x/_search", &[("X-Forwarded-User", dn)]);
    assert_eq!(
        decide_with_dn(&acl, &r, Some(dn)),
        "allow:dn:CN=alice,O=Example"
    );
    assert_ne!(
        decide_with_dn(&acl, &r, Some("CN=bob")),
        "allow:dn:CN=alice,O=Example"
    );
    assert_ne!(
        decide_with_dn(&acl, &r, None),
        "allow:dn:CN=alice,O=Example"
    );
    let r = req("GET", "/alice/_search", &[]);
    assert_eq!(decide_with_dn(&acl, &r, Some(dn)), "allow:user:alice");
    let r = req("GET", "/bob/_search", &[]);
    assert_ne!(decide_with_dn(&acl, &r, Some(dn)), "allow:user:alice");
}

#[test]
fn certificate_authentication_errors_are_positioned() {
    for (rule, expected) in [
        (
            "{username_pattern: \"CN=(\"}",
            "readonlyrest.yml:4:52: block `b`: rule `certificate_authentication`: invalid regular expression `CN=(`",
        ),
        (
            "{username_pattern: \"CN=[^,]+\"}",
            "readonlyrest.yml:4:52: block `b`: rule `certificate_authentication`: username_pattern `CN=[^,]+` must have exactly one capture group (the user name), it has 0",
        ),
        (
            "{username_pattern: \"(CN)=([^,]+)\"}",
            "it has 2",
        ),
        ("false", "readonlyrest.yml:4:33: block `b`: rule `certificate_authentication`: must be true"),
        ("{pattern: x}", "readonlyrest.yml:4:34: unknown key `pattern` in certificate_authentication"),
        ("{}", "needs `username_pattern`"),
        ("CN", "must be true or {username_pattern"),
    ] {
        let errors = try_acl(&format!(
            "readonlyrest:\n  access_control_rules:\n  - name: b\n    certificate_authentication: {rule}\n"
        ))
        .unwrap_err();
        assert!(
            errors.iter().any(|e| e.contains(expected)),
            "{rule}: {errors:?}"
        );
    }
    // Non-capturing groups are fine.
    assert!(try_acl(
        "readonlyrest:\n  access_control_rules:\n  - name: b\n    certificate_authentication: {username_pattern: \"CN=(.*?)(?:,|$)\"}\n"
    )
    .is_ok());
}

mod jwt;
mod remote;
