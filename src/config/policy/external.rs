//! The `external_authentication_service_configs:` and `user_groups_providers:` definitions
//! sections, compiled into `auth::external` services (which start no thread until asked).
//!
//! ```yaml
//! external_authentication_service_configs:
//! - name: ext1
//!   authentication_endpoint: "https://auth.example.com/check"   # alias url
//!   success_status_code: 200          # default 204
//!   cache_ttl_in_sec: 60              # alias cache_ttl (a number of seconds or "1 min")
//!   http_connection_settings:         # or `validate: false` alone
//!     connection_timeout_in_sec: 2    # alias connection_timeout
//!     connection_request_timeout_in_sec: 5   # aliases connection_request_timeout, request_timeout
//!     socket_timeout_in_sec: 3        # each read
//!     connection_pool_size: 4         # threads, at most auth::external::MAX_THREADS
//!     validate: true                  # check the TLS certificate
//! user_groups_providers:
//! - name: groups1
//!   groups_endpoint: "http://groups.local/groups"               # alias url
//!   auth_token_name: user
//!   auth_token_passed_as: QUERY_PARAM # or HEADER
//!   http_method: POST                 # default GET
//!   response_group_ids_json_path: "$..groups[?(@.id)].id"       # alias response_groups_json_path
//!   default_headers: "x-api-key:${env:GROUPS_KEY};accept:application/json"
//!   default_query_parameters: "realm:corp"
//! ```
//!
//! Startup variables are replaced in the whole section before this runs. A definition with
//! an error is reported at its own line and remembered as broken, so that the rules naming
//! it report nothing more.

use super::Decoder;
use crate::auth::external::{
    default_header, Endpoint, ExternalAuthConfig, ExternalAuthService, GroupsProviderConfig,
    GroupsProviderService, HttpMethod, HttpSettings, JsonPath, TokenPassing,
    DEFAULT_SUCCESS_STATUS,
};
use crate::auth::remote::RemoteService;
use crate::config::error::entries;
use crate::config::yaml::Node;
use std::sync::Arc;
use std::time::Duration;

const AUTHENTICATION_KEYS: &[&str] = &[
    "name",
    "authentication_endpoint",
    "url",
    "success_status_code",
    "cache_ttl_in_sec",
    "cache_ttl",
    "validate",
    "http_connection_settings",
];

const GROUPS_PROVIDER_KEYS: &[&str] = &[
    "name",
    "groups_endpoint",
    "url",
    "auth_token_name",
    "auth_token_passed_as",
    "http_method",
    "response_group_ids_json_path",
    "response_groups_json_path",
    "response_group_names_json_path",
    "default_headers",
    "default_query_parameters",
    "cache_ttl_in_sec",
    "cache_ttl",
    "validate",
    "http_connection_settings",
];

const CONNECTION_KEYS: &[&str] = &[
    "connection_timeout_in_sec",
    "connection_timeout",
    "connection_request_timeout_in_sec",
    "connection_request_timeout",
    "request_timeout",
    "socket_timeout_in_sec",
    "connection_pool_size",
    "validate",
];

/// The compiled sections.
#[derive(Debug, Default)]
pub(super) struct ExternalDefinitions {
    authentication: Vec<Arc<ExternalAuthService>>,
    groups_providers: Vec<Arc<GroupsProviderService>>,
    /// Definitions with errors already reported, per section.
    broken_authentication: Vec<String>,
    broken_groups_providers: Vec<String>,
}

// The rules that name these definitions (`external_authentication`,
// `groups_provider_authorization`) are decoded in `rule`; until they call these, only the
// tests do.
impl ExternalDefinitions {
    pub(super) fn authentication(&self, name: &str) -> Option<Arc<ExternalAuthService>> {
        self.authentication
            .iter()
            .find(|s| s.name() == name)
            .cloned()
    }

    pub(super) fn groups_provider(&self, name: &str) -> Option<Arc<GroupsProviderService>> {
        self.groups_providers
            .iter()
            .find(|s| s.name() == name)
            .cloned()
    }

    /// Whether `name` was defined with errors (already reported).
    pub(super) fn is_broken(&self, name: &str) -> bool {
        self.broken_authentication
            .iter()
            .chain(&self.broken_groups_providers)
            .any(|b| b == name)
    }

    fn authentication_defined(&self, name: &str) -> bool {
        self.authentication.iter().any(|s| s.name() == name)
            || self.broken_authentication.iter().any(|b| b == name)
    }

    fn groups_provider_defined(&self, name: &str) -> bool {
        self.groups_providers.iter().any(|s| s.name() == name)
            || self.broken_groups_providers.iter().any(|b| b == name)
    }

    /// "known: a, b", or that the section defines none (for "names no ..." errors).
    pub(super) fn authentication_names(&self) -> String {
        names(
            self.authentication.iter().map(|s| s.name()),
            "external_authentication_service_configs",
        )
    }

    pub(super) fn groups_provider_names(&self) -> String {
        names(
            self.groups_providers.iter().map(|s| s.name()),
            "user_groups_providers",
        )
    }
}

fn names<'a>(names: impl Iterator<Item = &'a str>, section: &str) -> String {
    let names: Vec<&str> = names.collect();
    if names.is_empty() {
        format!("the `{section}` section defines none")
    } else {
        format!("known: {}", names.join(", "))
    }
}

/// A positive duration: a number of seconds, or a number and a unit ("500 ms", "10s",
/// "2 min", "1 hour"), as ReadonlyREST reads durations.
fn duration(node: &Node) -> Result<Duration, String> {
    let text = node.as_str().filter(|_| !node.is_null()).unwrap_or("");
    let parsed = super::parse_duration(text)
        .ok_or("must be a number of seconds, or a number and a unit (ms, s, min, h)")?;
    if parsed.is_zero() {
        return Err("must be more than zero".to_string());
    }
    Ok(parsed)
}

/// One `key:value` pair per `;` (ReadonlyREST's form), or a mapping.
fn pairs(node: &Node) -> Result<Vec<(String, String)>, String> {
    if let Some(map) = node.as_map() {
        return map
            .iter()
            .map(|(k, v)| match (k.as_str(), v.as_str()) {
                (Some(k), Some(v)) if !k.trim().is_empty() && !v.trim().is_empty() => {
                    Ok((k.trim().to_string(), v.trim().to_string()))
                }
                _ => Err("each entry must be a non-empty name and value".to_string()),
            })
            .collect();
    }
    let Some(text) = node.as_str().filter(|_| !node.is_null()) else {
        return Err("must be a string `name:value;name:value` or a mapping".to_string());
    };
    text.split(';')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.split_once(':') {
            Some((k, v)) if !k.trim().is_empty() && !v.trim().is_empty() => {
                Ok((k.trim().to_string(), v.trim().to_string()))
            }
            // The pair is not echoed: a default header may carry an API key.
            _ => Err("each `;`-separated entry must be `name:value`".to_string()),
        })
        .collect()
}

/// The keys the two kinds of definition share, read the same way.
#[derive(Default)]
struct Common<'n> {
    name: Option<String>,
    endpoint: Option<(Endpoint, &'n Node)>,
    /// An endpoint key was written (valid or not: an invalid one is reported already).
    endpoint_key: Option<&'n Node>,
    cache_ttl: Option<Duration>,
    http: HttpSettings,
    validate_key: Option<&'n Node>,
    settings_key: Option<&'n Node>,
    cache_key: Option<&'n Node>,
}

impl Decoder<'_> {
    pub(super) fn external_authentication_definitions(&mut self, node: &Node) {
        let Some(items) = node.as_seq() else {
            self.d.error(
                node,
                "readonlyrest.external_authentication_service_configs must be a list",
            );
            return;
        };
        for item in items {
            self.external_authentication_definition(item);
        }
    }

    pub(super) fn groups_provider_definitions(&mut self, node: &Node) {
        let Some(items) = node.as_seq() else {
            self.d
                .error(node, "readonlyrest.user_groups_providers must be a list");
            return;
        };
        for item in items {
            self.groups_provider_definition(item);
        }
    }

    /// A key both kinds accept; false when `key` is not one of them.
    fn common_key<'n>(
        &mut self,
        common: &mut Common<'n>,
        section: &str,
        endpoint_key: &str,
        (key, key_node, value): (&str, &'n Node, &'n Node),
    ) -> bool {
        let text = value.as_str().filter(|_| !value.is_null());
        match key {
            "name" => match text {
                Some(name) if !name.trim().is_empty() => common.name = Some(name.to_string()),
                _ => self
                    .d
                    .error(value, format!("{section}: name must be a non-empty string")),
            },
            "url" | "authentication_endpoint" | "groups_endpoint"
                if key == "url" || key == endpoint_key =>
            {
                if common.endpoint_key.replace(key_node).is_some() {
                    self.d.error(
                        key_node,
                        format!("{section}: {endpoint_key} is given twice (its alias is url)"),
                    );
                }
                let parsed = match text {
                    Some(text) => Endpoint::parse(text),
                    None => Err("must be a URL".to_string()),
                };
                match parsed {
                    Ok(endpoint) => common.endpoint = Some((endpoint, key_node)),
                    Err(e) => self.d.error(value, format!("{section}: {key} {e}")),
                }
            }
            "cache_ttl" | "cache_ttl_in_sec" => {
                if common.cache_key.replace(key_node).is_some() {
                    self.d.error(
                        key_node,
                        format!(
                            "{section}: cache_ttl is given twice (its alias is cache_ttl_in_sec)"
                        ),
                    );
                }
                match duration(value) {
                    Ok(ttl) => common.cache_ttl = Some(ttl),
                    Err(e) => self.d.error(value, format!("{section}: {key} {e}")),
                }
            }
            "validate" => {
                common.validate_key = Some(key_node);
                match value.as_bool() {
                    Some(flag) => common.http.validate_certificates = flag,
                    None => self
                        .d
                        .error(value, format!("{section}: validate must be true or false")),
                }
            }
            "http_connection_settings" => {
                common.settings_key = Some(key_node);
                self.connection_settings(&mut common.http, section, value);
            }
            _ => return false,
        }
        true
    }

    fn connection_settings(&mut self, http: &mut HttpSettings, section: &str, node: &Node) {
        let here = format!("{section}: http_connection_settings");
        let mut seen: [Option<&Node>; 2] = [None, None];
        for (key, key_node, value) in entries(node, &here, self.d) {
            let slot = match key {
                "connection_timeout_in_sec" | "connection_timeout" => Some(0),
                "connection_request_timeout_in_sec"
                | "connection_request_timeout"
                | "request_timeout" => Some(1),
                _ => None,
            };
            if let Some(slot) = slot {
                if seen[slot].replace(key_node).is_some() {
                    self.d.error(
                        key_node,
                        format!("{here}: {key} repeats a timeout given under another name"),
                    );
                }
            }
            match key {
                "connection_timeout_in_sec" | "connection_timeout" => match duration(value) {
                    Ok(t) => http.connect_timeout = t,
                    Err(e) => self.d.error(value, format!("{here}: {key} {e}")),
                },
                "connection_request_timeout_in_sec"
                | "connection_request_timeout"
                | "request_timeout" => match duration(value) {
                    Ok(t) => http.request_timeout = t,
                    Err(e) => self.d.error(value, format!("{here}: {key} {e}")),
                },
                "socket_timeout_in_sec" => match duration(value) {
                    Ok(t) => http.read_timeout = Some(t),
                    Err(e) => self.d.error(value, format!("{here}: {key} {e}")),
                },
                "connection_pool_size" => match value.as_u64() {
                    Some(n) if n > 0 => http.threads = usize::try_from(n).unwrap_or(usize::MAX),
                    _ => self.d.error(
                        value,
                        format!("{here}: connection_pool_size must be a positive number"),
                    ),
                },
                "validate" => match value.as_bool() {
                    Some(flag) => http.validate_certificates = flag,
                    None => self
                        .d
                        .error(value, format!("{here}: validate must be true or false")),
                },
                _ => self.d.unknown_key(key_node, &here, CONNECTION_KEYS),
            }
        }
    }

    /// The checks both kinds share once all keys are read; the name when the definition
    /// may go on.
    fn finish_common(
        &mut self,
        item: &Node,
        common: &mut Common<'_>,
        section: &str,
        endpoint_key: &str,
        defined: fn(&ExternalDefinitions, &str) -> bool,
    ) -> Option<String> {
        if let (Some(validate), Some(_)) = (common.validate_key, common.settings_key) {
            self.d.error(
                validate,
                format!(
                    "{section}: with http_connection_settings, `validate` goes inside that section"
                ),
            );
        }
        let Some(name) = common.name.take() else {
            self.d.error(item, format!("{section}: needs a `name`"));
            return None;
        };
        if defined(&self.external, &name) {
            self.d
                .error(item, format!("duplicate {section} name `{name}`"));
        }
        if common.endpoint_key.is_none() {
            self.d.error(
                item,
                format!("{section} `{name}`: needs `{endpoint_key}` (or its alias `url`)"),
            );
        }
        Some(name)
    }

    fn external_authentication_definition(&mut self, item: &Node) {
        let errors_before = self.d.error_count();
        let section = "external_authentication_service_configs entry";
        let mut common = Common::default();
        let mut success_status = DEFAULT_SUCCESS_STATUS;
        for entry @ (key, key_node, value) in entries(item, section, self.d) {
            if self.common_key(&mut common, section, "authentication_endpoint", entry) {
                continue;
            }
            match key {
                "success_status_code" => match value.as_u64() {
                    Some(code @ 100..=599) => success_status = code as u16,
                    _ => self.d.error(
                        value,
                        format!("{section}: success_status_code must be an HTTP status (100-599)"),
                    ),
                },
                _ => self.d.unknown_key(key_node, section, AUTHENTICATION_KEYS),
            }
        }
        let Some(name) = self.finish_common(
            item,
            &mut common,
            section,
            "authentication_endpoint",
            ExternalDefinitions::authentication_defined,
        ) else {
            return;
        };
        let Some((endpoint, _)) = common
            .endpoint
            .filter(|_| self.d.error_count() == errors_before)
        else {
            self.external.broken_authentication.push(name);
            return;
        };
        let service = ExternalAuthService::new(ExternalAuthConfig {
            name,
            endpoint,
            success_status,
            cache_ttl: common.cache_ttl,
            http: common.http,
        });
        self.external.authentication.push(Arc::new(service));
    }

    fn groups_provider_definition(&mut self, item: &Node) {
        let errors_before = self.d.error_count();
        let section = "user_groups_providers entry";
        let mut common = Common::default();
        let mut token_name: Option<(&str, &Node)> = None;
        let mut passed_as_header: Option<bool> = None;
        let mut passed_as_key: Option<&Node> = None;
        let mut token_key: Option<&Node> = None;
        let mut method = HttpMethod::Get;
        let mut path: Option<JsonPath> = None;
        let mut path_key: Option<&Node> = None;
        let mut headers = Vec::new();
        let mut query = Vec::new();
        for entry @ (key, key_node, value) in entries(item, section, self.d) {
            if self.common_key(&mut common, section, "groups_endpoint", entry) {
                continue;
            }
            let text = value.as_str().filter(|_| !value.is_null());
            match key {
                "auth_token_passed_as" => passed_as_key = Some(key_node),
                "auth_token_name" => token_key = Some(key_node),
                _ => {}
            }
            match (key, text) {
                ("auth_token_name", Some(text)) if !text.trim().is_empty() => {
                    token_name = Some((text.trim(), value))
                }
                ("auth_token_passed_as", Some("HEADER")) => passed_as_header = Some(true),
                ("auth_token_passed_as", Some("QUERY_PARAM")) => passed_as_header = Some(false),
                ("auth_token_passed_as", _) => self.d.error(
                    value,
                    format!("{section}: auth_token_passed_as must be HEADER or QUERY_PARAM"),
                ),
                ("http_method", Some(m)) if m.eq_ignore_ascii_case("get") => {
                    method = HttpMethod::Get
                }
                ("http_method", Some(m)) if m.eq_ignore_ascii_case("post") => {
                    method = HttpMethod::Post
                }
                ("http_method", _) => self
                    .d
                    .error(value, format!("{section}: http_method must be GET or POST")),
                ("response_group_ids_json_path" | "response_groups_json_path", Some(text)) => {
                    if path_key.replace(key_node).is_some() {
                        self.d.error(
                            key_node,
                            format!("{section}: response_group_ids_json_path is given twice (its deprecated alias is response_groups_json_path)"),
                        );
                    }
                    match JsonPath::parse(text) {
                        Ok(parsed) => path = Some(parsed),
                        Err(e) => self.d.error(value, format!("{section}: {key}: {e}")),
                    }
                }
                // Group names only label groups in ReadonlyREST's Kibana plugin, which the
                // gateway does not serve: the path is checked, then has no use.
                ("response_group_names_json_path", Some(text)) => {
                    if let Err(e) = JsonPath::parse(text) {
                        self.d.error(value, format!("{section}: {key}: {e}"));
                    }
                }
                ("default_headers", _) => match pairs(value) {
                    Ok(pairs) => {
                        for (name, text) in pairs {
                            match default_header(&name, &text) {
                                Ok(header) => headers.push(header),
                                Err(e) => self
                                    .d
                                    .error(value, format!("{section}: default_headers: {e}")),
                            }
                        }
                    }
                    Err(e) => self
                        .d
                        .error(value, format!("{section}: default_headers {e}")),
                },
                ("default_query_parameters", _) => match pairs(value) {
                    Ok(pairs) => query = pairs,
                    Err(e) => self
                        .d
                        .error(value, format!("{section}: default_query_parameters {e}")),
                },
                _ if GROUPS_PROVIDER_KEYS.contains(&key) => self.d.error(
                    value,
                    format!("{section}: {key} must be a non-empty string"),
                ),
                _ => self.d.unknown_key(key_node, section, GROUPS_PROVIDER_KEYS),
            }
        }
        let Some(name) = self.finish_common(
            item,
            &mut common,
            section,
            "groups_endpoint",
            ExternalDefinitions::groups_provider_defined,
        ) else {
            return;
        };
        if token_key.is_none() {
            self.d
                .error(item, format!("{section} `{name}`: needs `auth_token_name`"));
        }
        if passed_as_key.is_none() {
            self.d.error(
                item,
                format!("{section} `{name}`: needs `auth_token_passed_as` (HEADER or QUERY_PARAM)"),
            );
        }
        if path_key.is_none() {
            self.d.error(
                item,
                format!("{section} `{name}`: needs `response_group_ids_json_path`"),
            );
        }
        let token = match (token_name, passed_as_header) {
            (Some((token, _)), Some(false)) => {
                Some(TokenPassing::QueryParameter(token.to_string()))
            }
            (Some((token, node)), Some(true)) => match default_header(token, "-") {
                Ok((header, _)) => Some(TokenPassing::Header(header)),
                Err(e) => {
                    self.d
                        .error(node, format!("{section} `{name}`: auth_token_name {e}"));
                    None
                }
            },
            _ => None,
        };
        let (Some((endpoint, _)), Some(token), Some(group_ids_path), true) = (
            common.endpoint,
            token,
            path,
            self.d.error_count() == errors_before,
        ) else {
            self.external.broken_groups_providers.push(name);
            return;
        };
        let service = GroupsProviderService::new(GroupsProviderConfig {
            name,
            endpoint,
            token,
            method,
            group_ids_path,
            default_headers: headers,
            default_query: query,
            cache_ttl: common.cache_ttl,
            http: common.http,
        });
        self.external.groups_providers.push(Arc::new(service));
    }
}

#[cfg(test)]
mod tests;
