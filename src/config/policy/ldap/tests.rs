use super::*;
use crate::config::error::Diagnostics;
use crate::config::yaml;
use std::path::Path;

/// Decodes an `ldaps:` section (YAML list items, written from line 2) and returns the
/// definitions, or every error as `line:col: message`.
fn decode(section: &str) -> Result<LdapDefinitions, Vec<String>> {
    let text = format!("ldaps:\n{section}");
    let root = yaml::parse(&text).expect("yaml");
    let mut d = Diagnostics::new(Path::new("readonlyrest.yml"));
    let mut decoder = Decoder::new(&mut d);
    decoder.ldap_definitions(root.get("ldaps").expect("ldaps:"));
    let definitions = std::mem::take(&mut decoder.ldap);
    d.finish(definitions).map_err(|e| {
        e.0.iter()
            .map(|e| format!("{}:{}: {}", e.line, e.col, e.message))
            .collect()
    })
}

fn settings(section: &str) -> LdapSettings {
    let definitions = decode(section).unwrap_or_else(|e| panic!("{}", e.join("\n")));
    let service = definitions
        .compiled
        .first()
        .expect("one definition")
        .clone();
    service.settings().clone()
}

fn errors(section: &str) -> Vec<String> {
    match decode(section) {
        Ok(_) => panic!("decoded without errors:\n{section}"),
        Err(errors) => errors,
    }
}

#[test]
fn the_flat_spelling_with_defaults() {
    let s = settings(
        "- name: ldap1\n  host: ldap.example.com\n  ssl_enabled: false\n  bind_dn: cn=admin,dc=example,dc=com\n  bind_password: secret\n  search_user_base_DN: ou=People,dc=example,dc=com\n  search_groups_base_DN: ou=Groups,dc=example,dc=com\n",
    );
    assert_eq!(s.name, "ldap1");
    assert_eq!(
        s.servers,
        [LdapServer {
            host: "ldap.example.com".into(),
            port: 389,
            tls: false
        }]
    );
    assert_eq!(s.ha, HaMode::Failover);
    assert_eq!(
        s.bind,
        Some(BindCredentials {
            dn: "cn=admin,dc=example,dc=com".into(),
            password: "secret".into()
        })
    );
    assert!(
        !format!("{s:?}").contains("secret"),
        "Debug hides the password"
    );
    assert_eq!(
        s.users,
        UserSearch {
            base_dn: "ou=People,dc=example,dc=com".into(),
            id_attribute: "uid".into(),
            skip_search: false
        }
    );
    assert_eq!(
        s.groups,
        Some(GroupSearch::InGroupEntries {
            base_dn: "ou=Groups,dc=example,dc=com".into(),
            id_attribute: "cn".into(),
            member_attribute: "uniqueMember".into(),
            filter: "(cn=*)".into(),
            member_is_dn: true,
        })
    );
    assert_eq!(s.pool_size, 30);
    assert_eq!(s.connection_timeout, Duration::from_secs(10));
    assert_eq!(s.request_timeout, Duration::from_secs(10));
    assert_eq!(
        (s.max_retries, s.reset_duration),
        (10, Duration::from_secs(10))
    );
    assert_eq!(s.cache_ttl, None);
    assert_eq!(s.nested_groups_depth, 0);
}

#[test]
fn the_flat_spelling_in_full() {
    let s = settings(concat!(
        "- name: ldap1\n",
        "  hosts: [\"ldap://a.example.com\", \"ldap://[::1]:3389/\"]\n",
        "  ha: ROUND_ROBIN\n",
        "  search_user_base_DN: ou=People,dc=x\n",
        "  user_id_attribute: sAMAccountName\n",
        "  search_groups_base_DN: ou=Groups,dc=x\n",
        "  unique_member_attribute: member\n",
        "  group_search_filter: (objectClass=groupOfNames)\n",
        "  group_name_attribute: ou\n",
        "  group_attribute_is_dn: false\n",
        "  nested_groups_depth: 3\n",
        "  connection_pool_size: 5\n",
        "  connection_timeout_in_sec: 2\n",
        "  request_timeout: 500 ms\n",
        "  cache_ttl: 1 min\n",
        "  circuit_breaker: {max_retries: 3, reset_duration: 2s}\n",
        "  ignore_ldap_connectivity_problems: true\n",
    ));
    assert_eq!(
        s.servers,
        [
            LdapServer {
                host: "a.example.com".into(),
                port: 389,
                tls: false
            },
            LdapServer {
                host: "::1".into(),
                port: 3389,
                tls: false
            }
        ]
    );
    assert_eq!(s.servers[1].url(), "ldap://[::1]:3389");
    assert_eq!(s.ha, HaMode::RoundRobin);
    assert_eq!(s.bind, None);
    assert_eq!(s.users.id_attribute, "sAMAccountName");
    assert_eq!(
        s.groups,
        Some(GroupSearch::InGroupEntries {
            base_dn: "ou=Groups,dc=x".into(),
            id_attribute: "ou".into(),
            member_attribute: "member".into(),
            filter: "(objectClass=groupOfNames)".into(),
            member_is_dn: false,
        })
    );
    assert_eq!(s.nested_groups_depth, 3);
    assert_eq!(s.pool_size, 5);
    assert_eq!(s.connection_timeout, Duration::from_secs(2));
    assert_eq!(s.request_timeout, Duration::from_millis(500));
    assert_eq!(s.cache_ttl, Some(Duration::from_secs(60)));
    assert_eq!(
        (s.max_retries, s.reset_duration),
        (3, Duration::from_secs(2))
    );
}

#[test]
fn the_nested_spelling() {
    let s = settings(concat!(
        "- name: ldap2\n",
        "  host: 127.0.0.1\n",
        "  port: 3636\n",
        "  ssl_trust_all_certs: true\n",
        "  users:\n",
        "    search_user_base_DN: ou=People,dc=x\n",
        "    skip_user_search: true\n",
        "  groups:\n",
        "    mode: search_groups_in_user_entries\n",
        "    search_groups_base_DN: ou=Groups,dc=x\n",
        "    groups_from_user_attribute: seeAlso\n",
        "    server_side_groups_filtering: false\n",
    ));
    assert_eq!(
        s.servers,
        [LdapServer {
            host: "127.0.0.1".into(),
            port: 3636,
            tls: true
        }],
        "ssl_enabled defaults to true, as in ReadonlyREST"
    );
    assert!(s.trust_all_certs);
    assert!(s.users.skip_search);
    assert_eq!(
        s.groups,
        Some(GroupSearch::InUserEntries {
            base_dn: "ou=Groups,dc=x".into(),
            id_attribute: "cn".into(),
            user_attribute: "seeAlso".into(),
        })
    );
}

#[test]
fn groups_from_user_selects_user_entries_in_the_flat_spelling() {
    let s = settings(
        "- name: l\n  host: h\n  ssl_enabled: false\n  search_user_base_DN: ou=P\n  search_groups_base_DN: ou=G\n  groups_from_user: true\n",
    );
    assert_eq!(
        s.groups,
        Some(GroupSearch::InUserEntries {
            base_dn: "ou=G".into(),
            id_attribute: "cn".into(),
            user_attribute: "memberOf".into(),
        })
    );
}

#[test]
fn without_a_groups_base_there_are_no_groups() {
    let s = settings("- name: l\n  host: h\n  ssl_enabled: false\n  search_user_base_DN: ou=P\n");
    assert_eq!(s.groups, None);
}

#[test]
fn durations_in_every_spelling() {
    for (text, expected) in [
        ("10", 10_000),
        ("\"10\"", 10_000),
        ("10 s", 10_000),
        ("10s", 10_000),
        ("10 sec", 10_000),
        ("10 seconds", 10_000),
        ("1.5 s", 1_500),
        ("250ms", 250),
        ("2 min", 120_000),
        ("1 h", 3_600_000),
    ] {
        let s = settings(&format!(
            "- name: l\n  host: h\n  ssl_enabled: false\n  search_user_base_DN: ou=P\n  request_timeout: {text}\n"
        ));
        assert_eq!(s.request_timeout, Duration::from_millis(expected), "{text}");
    }
}

#[test]
fn errors_name_their_position() {
    let e = errors(concat!(
        "- name: l\n",
        "  host: h\n",
        "  ssl_enabled: maybe\n",
        "  search_user_base_DN: ou=P\n",
        "  request_timeout: soon\n",
        "  colour: blue\n",
        "  circuit_breaker: {max_retries: 0}\n",
    ));
    assert_eq!(e.len(), 4, "{e:?}");
    assert!(
        e.iter()
            .any(|m| m.starts_with("4:16: ") && m.contains("ssl_enabled must be true or false")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|m| m.starts_with("6:20: ") && m.contains("request_timeout must be a duration")),
        "{e:?}"
    );
    assert!(
        e.iter().any(|m| m.starts_with("7:3: unknown key `colour`")),
        "{e:?}"
    );
    assert!(e.iter().any(|m| m.starts_with("8:34: ") && m.contains("max_retries must be a positive number")), "{e:?}");
}

#[test]
fn definition_errors() {
    let e = errors(concat!(
        "- name: a\n",
        "  host: h\n",
        "  hosts: [\"ldap://h\"]\n",
        "  search_user_base_DN: ou=P\n",
        "- name: b\n",
        "  hosts: [\"http://h\", \"ldap://h:0\"]\n",
        "  ha: SOMETIMES\n",
        "  search_user_base_DN: ou=P\n",
        "- name: b\n",
        "  host: h\n",
        "  bind_dn: cn=x\n",
        "  server_discovery: true\n",
        "- host: h\n",
        "- name: c\n",
        "  host: h\n",
        "  search_user_base_DN: ou=P\n",
        "  users:\n",
        "    search_user_base_DN: ou=Q\n",
        "  groups:\n",
        "    search_groups_base_DN: ou=G\n",
        "    group_search_filter: \"(cn=\"\n",
        "    groups_from_user: true\n",
        "- name: d\n",
        "  host: h\n",
        "  search_user_base_DN: ou=P\n",
        "  unique_member_attribute: member\n",
    ));
    let expected = [
        "4:10: ldaps `a`: give `host` or `hosts`, not both",
        "7:11: ldaps `b`: `http://h` is not an ldap://host[:port] or ldaps://host[:port] URL",
        "7:23: ldaps `b`: `ldap://h:0` is not an ldap://host[:port] or ldaps://host[:port] URL",
        "8:7: ldaps `b`: ha must be FAILOVER or ROUND_ROBIN",
        "10:7: duplicate ldaps definition name `b`",
        "10:7: ldaps `b`: needs `search_user_base_DN`",
        "12:12: ldaps `b`: bind_dn and bind_password go together (neither: anonymous searches)",
        "13:3: ldaps `b`: server_discovery (DNS SRV) is not supported by Ringfence; list the servers in `hosts`",
        "14:7: an ldaps entry needs a `name`",
        "19:5: ldaps entry: `search_user_base_DN` is given twice (flat and in `users:`/`groups:`)",
        "22:26: ldaps `c`: group_search_filter `(cn=` is not an LDAP filter (RFC 4515)",
        "23:5: unknown key `groups_from_user` in ldaps entry groups (expected one of: mode, search_groups_base_DN, group_id_attribute, group_name_attribute, unique_member_attribute, group_search_filter, group_attribute_is_dn, groups_from_user_attribute, server_side_groups_filtering, nested_groups_depth)",
        "27:3: ldaps `d`: group settings need `search_groups_base_DN`",
    ];
    let mut sorted = e.clone();
    sorted.sort_by_key(|m| {
        let mut parts = m.splitn(3, ':');
        let line: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        let col: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        (line, col)
    });
    assert_eq!(sorted, expected, "{e:#?}");
}

#[test]
fn a_broken_definition_is_remembered_and_names_are_listed() {
    let text = "ldaps:\n- name: good\n  host: h\n  ssl_enabled: false\n  search_user_base_DN: ou=P\n- name: bad\n  host: h\n";
    let root = yaml::parse(text).expect("yaml");
    let mut d = Diagnostics::new(Path::new("readonlyrest.yml"));
    let mut decoder = Decoder::new(&mut d);
    assert_eq!(decoder.ldap.names(), "the `ldaps` section defines none");
    decoder.ldap_definitions(root.get("ldaps").expect("ldaps:"));
    assert!(decoder.ldap.find("good").is_some());
    assert!(decoder.ldap.find("bad").is_none());
    assert!(decoder.ldap.is_broken("bad"));
    assert!(!decoder.ldap.is_broken("good"));
    assert_eq!(decoder.ldap.names(), "known: good");
    assert_eq!(d.error_count(), 1);
}

#[test]
fn startup_variables_reach_the_bind_password_and_no_thread_starts() {
    std::env::set_var("RINGFENCE_TEST_LDAP_BIND_PASSWORD", "from-env");
    let text = "ldaps:\n- name: l\n  host: 127.0.0.1\n  ssl_enabled: false\n  search_user_base_DN: ou=P\n  bind_dn: cn=admin\n  bind_password: \"${env:RINGFENCE_TEST_LDAP_BIND_PASSWORD}\"\n";
    let mut root = yaml::parse(text).expect("yaml");
    let mut d = Diagnostics::new(Path::new("readonlyrest.yml"));
    super::super::startup_variables::substitute(&mut root, &mut d);
    let mut decoder = Decoder::new(&mut d);
    decoder.ldap_definitions(root.get("ldaps").expect("ldaps:"));
    let service = decoder.ldap.find("l").expect("compiled");
    assert!(d.is_empty());
    let bind = service.settings().bind.clone().expect("bind");
    assert_eq!(bind.password, "from-env");
    // No service thread (`ringfence-ldap-<name>`, cut to 15 bytes in /proc) was started.
    let threads = std::fs::read_dir("/proc/self/task").expect("/proc/self/task");
    for thread in threads.flatten() {
        let name = std::fs::read_to_string(thread.path().join("comm")).unwrap_or_default();
        assert!(!name.starts_with("ringfence-ldap"), "{name}");
    }
}

#[test]
fn servers_is_an_alias_of_hosts_and_one_scheme_serves_them_all() {
    let servers = settings(
        "- name: l\n  servers: [\"ldap://a:389\", \"ldap://b:1389\"]\n  search_user_base_DN: \"ou=People,dc=x\"\n",
    )
    .servers;
    let hosts: Vec<(&str, u16)> = servers.iter().map(|s| (s.host.as_str(), s.port)).collect();
    assert_eq!(hosts, [("a", 389), ("b", 1389)]);
    let mixed = errors(
        "- name: l\n  hosts: [\"ldaps://a\", \"ldap://b\"]\n  search_user_base_DN: \"ou=People,dc=x\"\n",
    );
    assert!(
        mixed
            .iter()
            .any(|e| e.starts_with("3:10:") && e.contains("mixes ldap:// and ldaps://")),
        "{mixed:?}"
    );
}
