//! The rules that ask identity services (`ldap_*`, `external_authentication`,
//! `groups_provider_authorization`) and `users` entries that map a service's groups,
//! decided with a directory written here (the verifier answers for the services: no
//! network; the services themselves are tested against real servers in `tests/`).

use super::*;
use crate::auth::remote::{Answer, Asked, Unavailable};

/// Answers every service from a table: `user:password` pairs, and each user's groups.
struct Directory {
    passwords: &'static [(&'static str, &'static str)],
    groups: &'static [(&'static str, &'static [&'static str])],
    down: bool,
}

const DIRECTORY: Directory = Directory {
    passwords: &[("cartman", "pw1"), ("bong", "pw2"), ("morgan", "pw3")],
    groups: &[
        ("cartman", &["group1", "group2"]),
        ("bong", &["group1"]),
        ("morgan", &[]),
        ("proxied", &["group2"]),
    ],
    down: false,
};

impl Directory {
    fn groups_of(&self, user: &str) -> Vec<String> {
        self.groups
            .iter()
            .find(|(u, _)| *u == user)
            .map(|(_, g)| g.iter().map(|s| s.to_string()).collect())
            .unwrap_or_default()
    }
}

impl Verifier for Directory {
    fn cached(&self, _: u32, _: &str, _: &str) -> Option<crate::auth::key::Verdict> {
        None
    }

    fn remote(&self, _: u32, asked: Asked<'_>) -> Option<Result<Answer, Unavailable>> {
        if self.down {
            return Some(Err(Unavailable {
                reason: "LDAP ldap1: cannot connect".into(),
            }));
        }
        Some(Ok(match asked {
            Asked::Authenticate {
                user,
                password,
                with_groups,
            } => {
                if !self.passwords.contains(&(user, password)) {
                    Answer::Rejected
                } else {
                    let groups = if with_groups {
                        self.groups_of(user)
                    } else {
                        Vec::new()
                    };
                    Answer::Known { groups }
                }
            }
            Asked::Groups { user } => Answer::Known {
                groups: self.groups_of(user),
            },
        }))
    }
}

const DEFINITIONS: &str = r#"
  ldaps:
  - name: ldap1
    host: 127.0.0.1
    port: 389
    search_user_base_DN: "ou=People,dc=example,dc=com"
    search_groups_base_DN: "ou=Groups,dc=example,dc=com"
  - name: no-groups
    host: 127.0.0.1
    port: 389
    search_user_base_DN: "ou=People,dc=example,dc=com"
  external_authentication_service_configs:
  - name: ext1
    authentication_endpoint: "http://127.0.0.1:8080/auth"
    success_status_code: 200
  user_groups_providers:
  - name: gp1
    groups_endpoint: "http://127.0.0.1:8080/groups"
    auth_token_name: user
    auth_token_passed_as: QUERY_PARAM
    response_group_ids_json_path: "$..groups[*]"
"#;

fn policy(blocks: &str) -> Acl {
    compile(&format!(
        "readonlyrest:\n  access_control_rules:\n{blocks}{DEFINITIONS}"
    ))
}

fn decide_with(acl: &Acl, r: &Req, verifier: &dyn Verifier) -> String {
    with_request(r, |request| summary(acl.evaluate(request, verifier)))
}

fn as_user(user: &str, password: &str) -> Req {
    req(
        "GET",
        "/logs/_search",
        &[("Authorization", &basic_value(user, password))],
    )
}

#[test]
fn ldap_rules_authenticate_and_check_groups() {
    let acl = policy(
        r#"
  - name: admins
    ldap_auth: {name: ldap1, groups_all_of: ["group1", "group2"]}
  - name: group1 readers
    ldap_authentication: {name: ldap1, cache_ttl: 10 sec}
    ldap_authorization: {name: ldap1, groups_any_of: ["group1"]}
    methods: [GET]
  - name: anyone from the directory
    ldap_authentication: ldap1
    indices: ["public"]
"#,
    );
    let d = &DIRECTORY;
    assert_eq!(
        decide_with(&acl, &as_user("cartman", "pw1"), d),
        "allow:admins:cartman"
    );
    assert_eq!(
        decide_with(&acl, &as_user("bong", "pw2"), d),
        "allow:group1 readers:bong"
    );
    // Known, in no group: only the last block, for its index (others look missing).
    assert_eq!(decide_with(&acl, &as_user("morgan", "pw3"), d), "404");
    let public = req(
        "GET",
        "/public/_search",
        &[("Authorization", &basic_value("morgan", "pw3"))],
    );
    assert_eq!(
        decide_with(&acl, &public, d),
        "allow:anyone from the directory:morgan"
    );
    // A wrong password, an empty one (never sent to the directory: a simple bind without
    // a password is anonymous, and succeeds) and no credentials ask for credentials.
    assert_eq!(decide_with(&acl, &as_user("cartman", "wrong"), d), "401");
    assert_eq!(decide(&acl, &as_user("cartman", "")), "401");
    assert_eq!(
        decide_with(&acl, &req("GET", "/logs/_search", &[]), d),
        "401"
    );
}

#[test]
fn an_unknown_answer_asks_the_service() {
    let acl =
        policy("  - name: admins\n    ldap_auth: {name: ldap1, groups_any_of: [\"group1\"]}\n");
    let summary = decide(&acl, &as_user("cartman", "pw1"));
    assert_eq!(
        summary, "ask:ldap1:Authenticate { user: \"cartman\", with_groups: true, .. }",
        "the password never shows in a question's Debug"
    );
}

#[test]
fn an_unavailable_service_never_allows_and_a_forbid_block_that_needs_it_denies() {
    let down = Directory {
        down: true,
        ..DIRECTORY
    };
    let allow_first = policy(
        r#"
  - name: directory users
    ldap_authentication: ldap1
  - name: health
    uri_re: ["^/_cluster/health$"]
"#,
    );
    assert_eq!(
        decide_with(&allow_first, &as_user("cartman", "pw1"), &down),
        "503:LDAP ldap1: cannot connect"
    );
    // A later block that needs no directory still allows.
    let health = req(
        "GET",
        "/_cluster/health",
        &[("Authorization", &basic_value("cartman", "pw1"))],
    );
    assert_eq!(decide_with(&allow_first, &health, &down), "allow:health:-");
    let forbid_first = policy(
        r#"
  - name: no interns
    type: forbid
    ldap_auth: {name: ldap1, groups_any_of: ["interns"]}
  - name: health
    uri_re: ["^/_cluster/health$"]
"#,
    );
    // Cannot tell whether the forbid block matches: deny, even where a later block allows.
    assert_eq!(
        decide_with(&forbid_first, &health, &down),
        "503:LDAP ldap1: cannot connect"
    );
    // With the directory up: cartman is no intern, so the health block decides.
    assert_eq!(
        decide_with(&forbid_first, &health, &DIRECTORY),
        "allow:health:-"
    );
}

#[test]
fn external_authentication_and_a_groups_provider() {
    let acl = policy(
        r#"
  - name: group2 via provider
    external_authentication: {service: ext1, cache_ttl: 60s}
    groups_provider_authorization: {user_groups_provider: gp1, groups_any_of: ["group2"]}
  - name: proxied users with group2
    proxy_auth: "*"
    groups_provider_authorization: {user_groups_provider: gp1, groups: {any_of: ["group*"], not_any_of: ["group1"]}}
"#,
    );
    let d = &DIRECTORY;
    assert_eq!(
        decide_with(&acl, &as_user("cartman", "pw1"), d),
        "allow:group2 via provider:cartman"
    );
    assert_eq!(
        decide_with(&acl, &as_user("bong", "pw2"), d),
        "forbid:-:Forbidden by ReadonlyREST"
    );
    let proxied = req("GET", "/logs/_search", &[("X-Forwarded-User", "proxied")]);
    assert_eq!(
        decide_with(&acl, &proxied, d),
        "allow:proxied users with group2:proxied"
    );
}

#[test]
fn users_entries_map_external_groups_to_local_ones() {
    let acl = compile(&format!(
        r#"readonlyrest:
  access_control_rules:
  - name: devops
    groups: ["devops"]
  - name: developers
    groups_any_of: ["developers"]
  users:
  - username: "*"
    groups:
    - devops: ["group2", "ops_*"]
    - local_group: {{id: developers, name: Developers}}
      external_group_ids: ["group1"]
    ldap_auth: {{name: ldap1, groups_any_of: ["group*"]}}
{DEFINITIONS}"#
    ));
    let d = &DIRECTORY;
    assert_eq!(
        decide_with(&acl, &as_user("cartman", "pw1"), d),
        "allow:devops:cartman"
    );
    assert_eq!(
        decide_with(&acl, &as_user("bong", "pw2"), d),
        "allow:developers:bong"
    );
    // In the directory, but in no group the entry's ldap_auth accepts.
    assert_eq!(
        decide_with(&acl, &as_user("morgan", "pw3"), d),
        "forbid:-:Forbidden by ReadonlyREST"
    );
    assert_eq!(decide_with(&acl, &as_user("cartman", "nope"), d), "401");
}

#[test]
fn users_entries_with_an_authorization_rule_and_fixed_groups() {
    let acl = compile(&format!(
        r#"readonlyrest:
  access_control_rules:
  - name: admins
    groups: ["admin"]
  users:
  - username: ["cartman", "bong"]
    groups: ["admin"]
    ldap_authentication: ldap1
    ldap_authorization: {{name: ldap1, groups_all_of: ["group2"]}}
{DEFINITIONS}"#
    ));
    let d = &DIRECTORY;
    assert_eq!(
        decide_with(&acl, &as_user("cartman", "pw1"), d),
        "allow:admins:cartman"
    );
    assert_eq!(
        decide_with(&acl, &as_user("bong", "pw2"), d),
        "forbid:-:Forbidden by ReadonlyREST"
    );
}

#[test]
fn rule_errors_name_the_place() {
    let errors = try_acl(&format!(
        r#"readonlyrest:
  access_control_rules:
  - name: one
    ldap_auth: {{name: nope, groups_any_of: ["g"]}}
  - name: two
    ldap_authorization: {{name: ldap1}}
    auth_key: a:b
  - name: three
    ldap_authentication: {{name: ldap1, groups_any_of: ["g"]}}
  - name: four
    groups_provider_authorization: {{user_groups_provider: gp1, groups_any_of: ["g"]}}
  - name: five
    external_authentication: {{service: ext1, cache_ttl: soon}}
  - name: six
    ldap_auth: {{name: no-groups, groups_not_any_of: ["banned"]}}
  users:
  - username: "*"
    groups: [{{devops: ["x"]}}]
    auth_key: a:b
{DEFINITIONS}"#
    ))
    .unwrap_err()
    .join("\n");
    // A definition without a group search gives every user no groups: a groups condition
    // on it would let `groups_not_any_of` (or a forbid block) fail open.
    for expected in [
        "readonlyrest.yml:4:23: block `one`: rule `ldap_auth`: `nope` names no ldaps definition (known: ldap1, no-groups)",
        "readonlyrest.yml:6:25: block `two`: rule `ldap_authorization`: needs a groups condition",
        "readonlyrest.yml:9:40: unknown key `groups_any_of` in ldap_authentication",
        "readonlyrest.yml:11:5: block `four`: an authorization rule needs an authentication rule in the same block",
        "readonlyrest.yml:13:57: block `five`: rule `external_authentication`: cache_ttl must be a duration",
        "block `six`: rule `ldap_auth`: ldaps `no-groups` has no group search (search_groups_base_DN), which a groups condition needs",
        "readonlyrest.yml:17:13: users entry `*`: mapping groups to external ones needs external groups",
    ] {
        assert!(errors.contains(expected), "missing {expected:?} in:\n{errors}");
    }
}
