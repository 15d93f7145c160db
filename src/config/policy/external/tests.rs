use super::*;
use crate::auth::external::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_REQUEST_TIMEOUT, MAX_THREADS};
use crate::config::policy::startup_variables;
use crate::config::{policy, yaml, Diagnostics};

/// Decodes the two sections of `text` (a whole file) as `compile` does, startup variables
/// first; the definitions and every error as `file:line:col: message`.
fn decode(text: &str) -> (ExternalDefinitions, Vec<String>) {
    let root = yaml::parse(text).expect("yaml");
    let mut root = root.get("readonlyrest").expect("readonlyrest:").clone();
    let mut d = Diagnostics::new(std::path::Path::new("readonlyrest.yml"));
    startup_variables::substitute(&mut root, &mut d);
    let mut decoder = Decoder::new(&mut d);
    if let Some(node) = root.get("external_authentication_service_configs") {
        decoder.external_authentication_definitions(node);
    }
    if let Some(node) = root.get("user_groups_providers") {
        decoder.groups_provider_definitions(node);
    }
    let definitions = std::mem::take(&mut decoder.external);
    let errors = match d.finish(()) {
        Ok(()) => Vec::new(),
        Err(e) => e.0.iter().map(ToString::to_string).collect(),
    };
    (definitions, errors)
}

fn valid(text: &str) -> ExternalDefinitions {
    let (definitions, errors) = decode(text);
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    definitions
}

fn errors(text: &str) -> Vec<String> {
    let (_, errors) = decode(text);
    assert!(!errors.is_empty(), "decoded without errors:\n{text}");
    errors
}

#[test]
fn external_authentication_with_defaults_and_with_every_key() {
    let defs = valid(
        "readonlyrest:
  external_authentication_service_configs:
  - name: ext1
    url: http://127.0.0.1:8080/auth
  - name: ext2
    authentication_endpoint: \"https://auth.example.com:8443/check?realm=x\"
    success_status_code: 200
    cache_ttl_in_sec: 60
    http_connection_settings:
      connection_timeout_in_sec: 1
      connection_request_timeout_in_sec: 10
      socket_timeout_in_sec: 3
      connection_pool_size: 30
      validate: false
  - name: ext3
    url: http://h/
    cache_ttl: 2 min
    validate: false
",
    );
    let ext1 = defs.authentication("ext1").expect("ext1");
    let c = ext1.config();
    assert_eq!(c.endpoint.as_str(), "http://127.0.0.1:8080/auth");
    assert_eq!(c.success_status, 204);
    assert_eq!(c.cache_ttl, None);
    assert_eq!(c.http, HttpSettings::default());
    assert_eq!(
        (c.http.connect_timeout, c.http.request_timeout),
        (DEFAULT_CONNECT_TIMEOUT, DEFAULT_REQUEST_TIMEOUT)
    );
    let c = defs.authentication("ext2").expect("ext2").config().clone();
    assert_eq!(c.success_status, 200);
    assert_eq!(c.cache_ttl, Some(Duration::from_secs(60)));
    assert_eq!(c.http.connect_timeout, Duration::from_secs(1));
    assert_eq!(c.http.request_timeout, Duration::from_secs(10));
    assert_eq!(c.http.read_timeout, Some(Duration::from_secs(3)));
    assert_eq!(
        c.http.threads, 30,
        "kept as written; the service caps it at {MAX_THREADS}"
    );
    assert!(!c.http.validate_certificates);
    let c = defs.authentication("ext3").expect("ext3").config().clone();
    assert_eq!(c.cache_ttl, Some(Duration::from_secs(120)));
    assert!(!c.http.validate_certificates);
    assert_eq!(ext1.cache_ttl(), None);
    assert!(defs.groups_provider("ext1").is_none());
    assert_eq!(defs.authentication_names(), "known: ext1, ext2, ext3");
    assert_eq!(
        defs.groups_provider_names(),
        "the `user_groups_providers` section defines none"
    );
}

#[test]
fn groups_provider_forms() {
    let defs = valid(
        "readonlyrest:
  user_groups_providers:
  - name: GroupsService
    groups_endpoint: \"http://localhost:8080/groups\"
    auth_token_name: \"user\"
    auth_token_passed_as: QUERY_PARAM
    response_group_ids_json_path: \"$..groups[?(@.id)].id\"
    response_group_names_json_path: \"$..groups[?(@.name)].name\"
    cache_ttl_in_sec: 60
    http_connection_settings:
      connection_timeout: 5
      request_timeout: 3 sec
      connection_pool_size: 10
  - name: posted
    url: https://groups.example.com/api
    auth_token_name: X-User
    auth_token_passed_as: HEADER
    http_method: post
    response_groups_json_path: $.groups[*]
    default_headers: \"x-api-key: k1:with-colon ; accept:application/json\"
    default_query_parameters: \"realm:corp;v:2\"
  - name: mapped
    url: http://h
    auth_token_name: u
    auth_token_passed_as: HEADER
    response_group_ids_json_path: $.a.b
    default_headers: {x-one: \"1\"}
",
    );
    let c = defs
        .groups_provider("GroupsService")
        .expect("one")
        .config()
        .clone();
    assert_eq!(c.token, TokenPassing::QueryParameter("user".to_string()));
    assert_eq!(c.method, HttpMethod::Get);
    assert_eq!(c.group_ids_path.as_str(), "$..groups[?(@.id)].id");
    assert_eq!(c.cache_ttl, Some(Duration::from_secs(60)));
    assert_eq!(c.http.connect_timeout, Duration::from_secs(5));
    assert_eq!(c.http.request_timeout, Duration::from_secs(3));
    assert_eq!(c.http.threads, 10);
    let c = defs
        .groups_provider("posted")
        .expect("two")
        .config()
        .clone();
    assert_eq!(
        c.token,
        TokenPassing::Header(HeaderName::from_static("x-user"))
    );
    assert_eq!(c.method, HttpMethod::Post);
    let headers: Vec<(&str, &[u8])> = c
        .default_headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_bytes()))
        .collect();
    assert_eq!(
        headers,
        [
            ("x-api-key", &b"k1:with-colon"[..]),
            ("accept", &b"application/json"[..])
        ]
    );
    assert!(
        !format!("{c:?}").contains("k1:with-colon"),
        "default header values are not printed"
    );
    assert_eq!(
        c.default_query,
        [
            ("realm".to_string(), "corp".to_string()),
            ("v".to_string(), "2".to_string())
        ]
    );
    let c = defs
        .groups_provider("mapped")
        .expect("three")
        .config()
        .clone();
    assert_eq!(c.default_headers.len(), 1);
    assert_eq!(
        defs.groups_provider_names(),
        "known: GroupsService, posted, mapped"
    );
}

use crate::auth::external::{HttpMethod, TokenPassing};
use ureq::http::HeaderName;

#[test]
fn startup_variables_reach_urls_and_headers() {
    std::env::set_var("RINGFENCE_TEST_EXT_URL", "http://127.0.0.1:9/from-env");
    std::env::set_var("RINGFENCE_TEST_EXT_KEY", "secret-from-env");
    let defs = valid(
        "readonlyrest:
  external_authentication_service_configs:
  - name: ext
    url: \"${env:RINGFENCE_TEST_EXT_URL}\"
  user_groups_providers:
  - name: g
    url: \"env:RINGFENCE_TEST_EXT_URL\"
    auth_token_name: user
    auth_token_passed_as: HEADER
    response_group_ids_json_path: $.groups
    default_headers: \"x-key:${env:RINGFENCE_TEST_EXT_KEY}\"
",
    );
    let ext = defs.authentication("ext").expect("ext");
    assert_eq!(
        ext.config().endpoint.as_str(),
        "http://127.0.0.1:9/from-env"
    );
    let g = defs.groups_provider("g").expect("g");
    assert_eq!(g.config().endpoint.as_str(), "http://127.0.0.1:9/from-env");
    assert_eq!(
        g.config().default_headers[0].1.as_bytes(),
        b"secret-from-env"
    );
    let errors = errors(
        "readonlyrest:
  external_authentication_service_configs:
  - name: ext
    url: \"${env:RINGFENCE_TEST_EXT_UNSET}\"
",
    );
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("readonlyrest.yml:4:10:")
                && e.contains("RINGFENCE_TEST_EXT_UNSET")),
        "{errors:?}"
    );
}

#[test]
fn external_authentication_errors_at_their_positions() {
    let errors = errors(
        "readonlyrest:
  external_authentication_service_configs:
  - name: a
    url: ftp://host/x
  - name: b
    url: \"http://user:pw@host/\"
    success_status_code: 700
  - name: c
    authentication_endpoint: http://h/
    url: http://h/
    cache_ttl: 0
  - name: d
    url: http://h/
    validate: true
    http_connection_settings:
      connection_timeout_in_sec: soon
      connection_pool_size: 0
      keep_alive: true
  - url: http://nameless/
  - name: e
  - name: f
    url: http://h/
    endpoint: http://h/
  - name: f
    url: http://h/
",
    );
    let expected = [
        "readonlyrest.yml:4:10: external_authentication_service_configs entry: url `ftp://host/x` must be an http:// or https:// URL",
        "readonlyrest.yml:6:10: external_authentication_service_configs entry: url `http://user:pw@host/`: credentials in the URL are not supported",
        "readonlyrest.yml:7:26: external_authentication_service_configs entry: success_status_code must be an HTTP status (100-599)",
        "readonlyrest.yml:10:5: external_authentication_service_configs entry: authentication_endpoint is given twice (its alias is url)",
        "readonlyrest.yml:11:16: external_authentication_service_configs entry: cache_ttl must be more than zero",
        "readonlyrest.yml:14:5: external_authentication_service_configs entry: with http_connection_settings, `validate` goes inside that section",
        "readonlyrest.yml:16:34: external_authentication_service_configs entry: http_connection_settings: connection_timeout_in_sec must be a number of seconds, or a number and a unit (ms, s, min, h)",
        "readonlyrest.yml:17:29: external_authentication_service_configs entry: http_connection_settings: connection_pool_size must be a positive number",
        "readonlyrest.yml:18:7: unknown key `keep_alive` in external_authentication_service_configs entry: http_connection_settings (expected one of: connection_timeout_in_sec, connection_timeout, connection_request_timeout_in_sec, connection_request_timeout, request_timeout, socket_timeout_in_sec, connection_pool_size, validate)",
        "readonlyrest.yml:19:8: external_authentication_service_configs entry: needs a `name`",
        "readonlyrest.yml:20:9: external_authentication_service_configs entry `e`: needs `authentication_endpoint` (or its alias `url`)",
        "readonlyrest.yml:23:5: unknown key `endpoint` in external_authentication_service_configs entry (expected one of: name, authentication_endpoint, url, success_status_code, cache_ttl_in_sec, cache_ttl, validate, http_connection_settings)",
        "readonlyrest.yml:24:9: duplicate external_authentication_service_configs entry name `f`",
    ];
    assert_eq!(errors, expected, "\n{}", errors.join("\n"));
}

#[test]
fn broken_definitions_are_remembered() {
    let (defs, errors) = decode(
        "readonlyrest:
  external_authentication_service_configs:
  - name: bad
    url: nope
  user_groups_providers:
  - name: bad_groups
    url: http://h
",
    );
    assert_eq!(errors.len(), 4, "{errors:?}");
    assert!(defs.authentication("bad").is_none());
    assert!(defs.is_broken("bad") && defs.is_broken("bad_groups"));
    assert!(!defs.is_broken("other"));
    assert_eq!(
        defs.authentication_names(),
        "the `external_authentication_service_configs` section defines none"
    );
}

#[test]
fn groups_provider_errors_at_their_positions() {
    let errors = errors(
        "readonlyrest:
  user_groups_providers:
  - name: a
    url: http://h
    auth_token_name: user
    auth_token_passed_as: COOKIE
    http_method: PUT
    response_group_ids_json_path: \"$.groups[?(@.id == 'x')]\"
  - name: b
    url: http://h
    auth_token_name: \"bad header\"
    auth_token_passed_as: HEADER
    response_group_ids_json_path: $.g
    response_groups_json_path: $.g
    default_headers: \"novalue\"
    default_query_parameters: [1]
  - name: c
    url: http://h
    auth_token_name: \"\"
    response_group_names_json_path: \"g\"
",
    );
    let expected = [
        "readonlyrest.yml:6:27: user_groups_providers entry: auth_token_passed_as must be HEADER or QUERY_PARAM",
        "readonlyrest.yml:7:18: user_groups_providers entry: http_method must be GET or POST",
        "readonlyrest.yml:8:35: user_groups_providers entry: response_group_ids_json_path: JSON path `$.groups[?(@.id == 'x')]`: only `[?(@.field)]` filters are supported (no comparisons) at character 16 (supported: $, .key, ..key, .*, [*], [n], ['key'], [?(@.field)])",
        "readonlyrest.yml:11:22: user_groups_providers entry `b`: auth_token_name `bad header` is not a valid header name",
        "readonlyrest.yml:14:5: user_groups_providers entry: response_group_ids_json_path is given twice (its deprecated alias is response_groups_json_path)",
        "readonlyrest.yml:15:22: user_groups_providers entry: default_headers each `;`-separated entry must be `name:value`",
        "readonlyrest.yml:16:31: user_groups_providers entry: default_query_parameters must be a string `name:value;name:value` or a mapping",
        "readonlyrest.yml:17:9: user_groups_providers entry `c`: needs `auth_token_passed_as` (HEADER or QUERY_PARAM)",
        "readonlyrest.yml:17:9: user_groups_providers entry `c`: needs `response_group_ids_json_path`",
        "readonlyrest.yml:19:22: user_groups_providers entry: auth_token_name must be a non-empty string",
        "readonlyrest.yml:20:37: user_groups_providers entry: response_group_names_json_path: JSON path `g`: a path starts with `$` at character 1 (supported: $, .key, ..key, .*, [*], [n], ['key'], [?(@.field)])",
    ];
    assert_eq!(errors, expected, "\n{}", errors.join("\n"));
}

#[test]
fn durations() {
    let node = |text: &str| {
        yaml::parse(&format!("k: {text}"))
            .unwrap()
            .get("k")
            .unwrap()
            .clone()
    };
    for (text, expected) in [
        ("10", Duration::from_secs(10)),
        ("\"10\"", Duration::from_secs(10)),
        ("10s", Duration::from_secs(10)),
        ("10 sec", Duration::from_secs(10)),
        ("500 ms", Duration::from_millis(500)),
        ("1 minute", Duration::from_secs(60)),
        ("2h", Duration::from_secs(7200)),
        ("1.5", Duration::from_millis(1500)),
    ] {
        assert_eq!(duration(&node(text)), Ok(expected), "{text}");
    }
    for text in ["0", "0 ms", "-1", "ten", "5 fortnights", "~", "[1]"] {
        assert!(duration(&node(text)).is_err(), "{text}");
    }
}

#[test]
fn the_sections_compile_with_the_policy_and_start_no_thread() {
    let text = "readonlyrest:
  access_control_rules:
  - name: b
    methods: GET
  external_authentication_service_configs:
  - name: ZZcompile
    url: http://127.0.0.1:9/
  user_groups_providers:
  - name: ZZcompile
    url: http://127.0.0.1:9/
    auth_token_name: user
    auth_token_passed_as: QUERY_PARAM
    response_group_ids_json_path: $.groups
";
    let root = yaml::parse(text).expect("yaml");
    let mut d = Diagnostics::new(std::path::Path::new("readonlyrest.yml"));
    let _acl = policy::compile(root.get("readonlyrest").unwrap(), &mut d);
    assert!(
        d.take_warnings().is_empty(),
        "the sections are no longer ignored"
    );
    d.finish(()).expect("compiles");
    let threads = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.starts_with("ringfence-ext-Z"))
        .count();
    assert_eq!(threads, 0);
}
