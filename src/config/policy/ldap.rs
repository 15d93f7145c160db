//! The `ldaps:` definitions section, compiled into [`LdapService`]s for the rules that
//! name them (`ldap_authentication`, `ldap_authorization`, `ldap_auth`).
//!
//! Both of ReadonlyREST's spellings load: the classic flat one, and the one with `users:`
//! and `groups:` sub-sections (a key may be written in one place only).
//!
//! ```yaml
//! ldaps:
//! - name: ldap1
//!   host: ldap.example.com        # or hosts: ["ldaps://a:636", "ldaps://b:636"] + ha: FAILOVER|ROUND_ROBIN
//!   port: 389                     # default 636 with ssl_enabled (the default), else 389
//!   ssl_enabled: false
//!   bind_dn: "cn=admin,dc=example,dc=com"    # none: anonymous searches
//!   bind_password: "${env:LDAP_PASSWORD}"
//!   search_user_base_DN: "ou=People,dc=example,dc=com"
//!   user_id_attribute: uid                   # default
//!   search_groups_base_DN: "ou=Groups,dc=example,dc=com"
//!   unique_member_attribute: uniqueMember    # default
//!   group_search_filter: "(objectClass=groupOfUniqueNames)"   # default (cn=*)
//!   group_name_attribute: cn                 # the group id (group_id_attribute wins)
//!   groups_from_user: true                   # search_groups_in_user_entries, with
//!   groups_from_user_attribute: memberOf     #   this attribute (default memberOf)
//!   nested_groups_depth: 2
//!   connection_pool_size: 30
//!   connection_timeout: 10 s                 # or connection_timeout_in_sec: 10
//!   request_timeout: 10 s                    # or request_timeout_in_sec: 10
//!   cache_ttl: 60 s                          # or cache_ttl_in_sec: 60
//!   circuit_breaker: {max_retries: 10, reset_duration: 10 s}
//! ```
//!
//! Accepted and without effect: `group_name_attribute` next to `group_id_attribute`
//! (names only label groups in ROR's Kibana), `server_side_groups_filtering` (the rules
//! filter on the gateway), `connection_health_check_interval` and `connection_max_age`
//! (a pooled connection is checked before each use), and
//! `ignore_ldap_connectivity_problems` (Ringfence always fails closed: an unreachable
//! directory authenticates no one). `ssl_trust_all_certs: true` loads with a warning.
//! `server_discovery` (DNS SRV) is an error: not supported.
//!
//! Startup variables (`${env:X}`) in `bind_password` are replaced before this runs. A
//! definition with errors is reported at its own line and remembered as broken; the
//! rules naming it report nothing more about it. Nothing here starts a thread.

use super::Decoder;
use crate::auth::ldap::settings::{
    DEFAULT_CONNECTION_TIMEOUT, DEFAULT_GROUPS_FROM_USER_ATTRIBUTE, DEFAULT_GROUP_ID_ATTRIBUTE,
    DEFAULT_GROUP_SEARCH_FILTER, DEFAULT_MEMBER_ATTRIBUTE, DEFAULT_POOL_SIZE, DEFAULT_PORT,
    DEFAULT_REQUEST_TIMEOUT, DEFAULT_SSL_PORT, DEFAULT_USER_ID_ATTRIBUTE,
};
use crate::auth::ldap::{
    BindCredentials, GroupSearch, HaMode, LdapServer, LdapService, LdapSettings, UserSearch,
};
use crate::auth::remote::breaker::{DEFAULT_MAX_RETRIES, DEFAULT_RESET_DURATION};
use crate::config::error::entries;
use crate::config::yaml::Node;
use std::sync::Arc;
use std::time::Duration;

/// Keys of a definition itself (the flat spelling's user and group keys included).
const DEFINITION_KEYS: &[&str] = &[
    "name",
    "host",
    "port",
    "hosts",
    "servers",
    "ha",
    "ssl_enabled",
    "ssl_trust_all_certs",
    "bind_dn",
    "bind_password",
    "users",
    "groups",
    "connection_pool_size",
    "connection_timeout",
    "connection_timeout_in_sec",
    "request_timeout",
    "request_timeout_in_sec",
    "connection_health_check_interval",
    "connection_max_age",
    "cache_ttl",
    "cache_ttl_in_sec",
    "circuit_breaker",
    "ignore_ldap_connectivity_problems",
    "server_discovery",
];

/// The `users:` keys, also accepted flat.
const USER_KEYS: &[&str] = &[
    "search_user_base_DN",
    "user_id_attribute",
    "skip_user_search",
];

/// The `groups:` keys, also accepted flat (`mode` only nested, `groups_from_user` only flat).
const GROUP_KEYS: &[&str] = &[
    "mode",
    "search_groups_base_DN",
    "group_id_attribute",
    "group_name_attribute",
    "unique_member_attribute",
    "group_search_filter",
    "group_attribute_is_dn",
    "groups_from_user",
    "groups_from_user_attribute",
    "server_side_groups_filtering",
    "nested_groups_depth",
];

const CIRCUIT_BREAKER_KEYS: &[&str] = &["max_retries", "reset_duration"];

/// Bounds on numbers an operator might mistype.
const MAX_POOL_SIZE: u64 = 10_000;
const MAX_NESTED_GROUPS_DEPTH: u64 = 100;

/// The compiled `ldaps:` section.
#[derive(Debug, Default)]
pub(super) struct LdapDefinitions {
    compiled: Vec<Arc<LdapService>>,
    /// Definitions with errors already reported.
    broken: Vec<String>,
}

impl LdapDefinitions {
    pub(super) fn find(&self, name: &str) -> Option<Arc<LdapService>> {
        self.compiled
            .iter()
            .find(|s| s.settings().name == name)
            .cloned()
    }

    /// Defined, but with errors (already reported).
    pub(super) fn is_broken(&self, name: &str) -> bool {
        self.broken.iter().any(|n| n == name)
    }

    /// For "names no ldap definition (known: ...)".
    pub(super) fn names(&self) -> String {
        let names: Vec<&str> = self
            .compiled
            .iter()
            .map(|s| s.settings().name.as_str())
            .collect();
        if names.is_empty() {
            "the `ldaps` section defines none".to_string()
        } else {
            format!("known: {}", names.join(", "))
        }
    }
}

/// A definition's keys after the `users:` and `groups:` sections are merged in.
struct Keys<'a> {
    found: Vec<(&'a str, &'a Node, &'a Node)>,
}

impl<'a> Keys<'a> {
    fn get(&self, name: &str) -> Option<&'a Node> {
        self.found
            .iter()
            .find(|(key, _, _)| *key == name)
            .map(|(_, _, value)| *value)
    }

    fn key(&self, name: &str) -> Option<&'a Node> {
        self.found
            .iter()
            .find(|(key, _, _)| *key == name)
            .map(|(_, key, _)| *key)
    }
}

impl Decoder<'_> {
    pub(super) fn ldap_definitions(&mut self, node: &Node) {
        let Some(items) = node.as_seq() else {
            self.d.error(node, "readonlyrest.ldaps must be a list");
            return;
        };
        for item in items {
            self.ldap_definition(item);
        }
    }

    fn ldap_definition(&mut self, item: &Node) {
        let errors_before = self.d.error_count();
        let section = "ldaps entry";
        let mut keys = Keys { found: Vec::new() };
        for (name, key, value) in entries(item, section, self.d) {
            match name {
                "users" => self.ldap_subsection(&mut keys, value, "ldaps entry users", USER_KEYS),
                "groups" => {
                    let nested: Vec<&str> = GROUP_KEYS
                        .iter()
                        .copied()
                        .filter(|k| *k != "groups_from_user")
                        .collect();
                    self.ldap_subsection(&mut keys, value, "ldaps entry groups", &nested)
                }
                // ReadonlyREST's older spelling of `hosts`.
                "servers" => keys.found.push(("hosts", key, value)),
                _ if DEFINITION_KEYS.contains(&name) => keys.found.push((name, key, value)),
                _ if USER_KEYS.contains(&name)
                    || (GROUP_KEYS.contains(&name) && name != "mode") =>
                {
                    self.ldap_key_once(&mut keys, name, key, value)
                }
                _ => {
                    let known: Vec<&str> = DEFINITION_KEYS
                        .iter()
                        .chain(USER_KEYS)
                        .chain(GROUP_KEYS.iter().filter(|k| **k != "mode"))
                        .copied()
                        .collect();
                    self.d.unknown_key(key, section, &known)
                }
            }
        }
        let Some(name) = self.ldap_text(&keys, "name") else {
            if keys.get("name").is_none() {
                self.d.error(item, "an ldaps entry needs a `name`");
            }
            return;
        };
        if self.ldap.find(&name).is_some() || self.ldap.is_broken(&name) {
            self.d
                .error(item, format!("duplicate ldaps definition name `{name}`"));
        }
        let settings = self.ldap_settings(item, &name, &keys);
        match settings {
            Some(settings) if self.d.error_count() == errors_before => {
                match LdapService::new(settings) {
                    Ok(service) => self.ldap.compiled.push(Arc::new(service)),
                    Err(e) => {
                        self.d.error(item, format!("ldaps `{name}`: {e}"));
                        self.ldap.broken.push(name);
                    }
                }
            }
            _ => self.ldap.broken.push(name),
        }
    }

    /// `users:` or `groups:`: their keys join the definition's (each in one place only).
    fn ldap_subsection<'a>(
        &mut self,
        keys: &mut Keys<'a>,
        node: &'a Node,
        section: &str,
        known: &[&str],
    ) {
        for (name, key, value) in entries(node, section, self.d) {
            if known.contains(&name) {
                self.ldap_key_once(keys, name, key, value);
            } else {
                self.d.unknown_key(key, section, known);
            }
        }
    }

    fn ldap_key_once<'a>(
        &mut self,
        keys: &mut Keys<'a>,
        name: &'a str,
        key: &'a Node,
        value: &'a Node,
    ) {
        if keys.get(name).is_some() {
            self.d.error(
                key,
                format!("ldaps entry: `{name}` is given twice (flat and in `users:`/`groups:`)"),
            );
        } else {
            keys.found.push((name, key, value));
        }
    }

    fn ldap_settings(&mut self, item: &Node, name: &str, keys: &Keys) -> Option<LdapSettings> {
        let at = |key: &str| format!("ldaps `{name}`: {key}");
        if let Some(key) = keys.key("server_discovery") {
            self.d.error(
                key,
                at("server_discovery (DNS SRV) is not supported by Ringfence; list the servers in `hosts`"),
            );
        }
        let tls = self.ldap_bool(keys, name, "ssl_enabled").unwrap_or(true);
        let trust_all_certs = self
            .ldap_bool(keys, name, "ssl_trust_all_certs")
            .unwrap_or(false);
        if trust_all_certs {
            if let Some(key) = keys.key("ssl_trust_all_certs") {
                self.d.warn(
                    key,
                    at("ssl_trust_all_certs: the directory's certificate is not checked, so anyone on the path can read the passwords sent to it"),
                );
            }
        }
        let servers = self.ldap_servers(item, name, keys, tls);
        // A failover from ldaps:// to ldap:// would send the passwords in clear.
        if servers.iter().any(|s| s.tls) && servers.iter().any(|s| !s.tls) {
            self.d.error(
                keys.get("hosts").unwrap_or(item),
                at("hosts mixes ldap:// and ldaps:// servers: use one scheme for all"),
            );
        }
        let ha = match (keys.get("ha"), keys.get("hosts")) {
            (None, _) => HaMode::Failover,
            (Some(node), Some(_)) => match node.as_str() {
                Some("FAILOVER") => HaMode::Failover,
                Some("ROUND_ROBIN") => HaMode::RoundRobin,
                _ => {
                    self.d.error(node, at("ha must be FAILOVER or ROUND_ROBIN"));
                    HaMode::Failover
                }
            },
            (Some(node), None) => {
                self.d.error(node, at("ha needs `hosts`"));
                HaMode::Failover
            }
        };
        let bind = match (keys.get("bind_dn"), keys.get("bind_password")) {
            (None, None) => None,
            (Some(_), Some(_)) => Some(BindCredentials {
                dn: self.ldap_text(keys, "bind_dn")?,
                password: self.ldap_text(keys, "bind_password")?,
            }),
            (Some(node), None) | (None, Some(node)) => {
                self.d.error(
                    node,
                    at("bind_dn and bind_password go together (neither: anonymous searches)"),
                );
                None
            }
        };
        let users = UserSearch {
            base_dn: match keys.get("search_user_base_DN") {
                Some(_) => self.ldap_text(keys, "search_user_base_DN")?,
                None => {
                    self.d.error(item, at("needs `search_user_base_DN`"));
                    return None;
                }
            },
            id_attribute: self
                .ldap_text(keys, "user_id_attribute")
                .unwrap_or_else(|| DEFAULT_USER_ID_ATTRIBUTE.to_string()),
            skip_search: self
                .ldap_bool(keys, name, "skip_user_search")
                .unwrap_or(false),
        };
        let groups = self.ldap_groups(name, keys);
        let nested_groups_depth = self
            .ldap_number(keys, name, "nested_groups_depth", MAX_NESTED_GROUPS_DEPTH)
            .unwrap_or(0) as u32;
        self.ldap_bool(keys, name, "server_side_groups_filtering");
        self.ldap_bool(keys, name, "ignore_ldap_connectivity_problems");
        let pool_size = match self.ldap_number(keys, name, "connection_pool_size", MAX_POOL_SIZE) {
            Some(0) => {
                self.d.error(
                    keys.get("connection_pool_size").unwrap_or(item),
                    at("connection_pool_size must be at least 1"),
                );
                DEFAULT_POOL_SIZE
            }
            Some(size) => size as usize,
            None => DEFAULT_POOL_SIZE,
        };
        let connection_timeout = self
            .ldap_duration(keys, name, "connection_timeout")
            .unwrap_or(DEFAULT_CONNECTION_TIMEOUT);
        let request_timeout = self
            .ldap_duration(keys, name, "request_timeout")
            .unwrap_or(DEFAULT_REQUEST_TIMEOUT);
        self.ldap_duration(keys, name, "connection_health_check_interval");
        self.ldap_duration(keys, name, "connection_max_age");
        // `0` is kept: it turns the cache off (every request asks the directory).
        let cache_ttl = self.ldap_duration(keys, name, "cache_ttl");
        let (max_retries, reset_duration) = self.ldap_circuit_breaker(keys, name);
        Some(LdapSettings {
            name: name.to_string(),
            servers,
            ha,
            bind,
            users,
            groups,
            nested_groups_depth,
            pool_size,
            connection_timeout,
            request_timeout,
            max_retries,
            reset_duration,
            cache_ttl,
            trust_all_certs,
        })
    }

    fn ldap_servers(&mut self, item: &Node, name: &str, keys: &Keys, tls: bool) -> Vec<LdapServer> {
        match (keys.get("host"), keys.get("hosts")) {
            (Some(_), Some(node)) => {
                self.d.error(
                    node,
                    format!("ldaps `{name}`: give `host` or `hosts`, not both"),
                );
                Vec::new()
            }
            (None, None) => {
                self.d
                    .error(item, format!("ldaps `{name}`: needs `host` (or `hosts`)"));
                Vec::new()
            }
            (Some(_), None) => {
                let Some(host) = self.ldap_text(keys, "host") else {
                    return Vec::new();
                };
                let default = if tls { DEFAULT_SSL_PORT } else { DEFAULT_PORT };
                let port = match keys.get("port") {
                    None => default,
                    Some(node) => match node.as_u64().and_then(|p| u16::try_from(p).ok()) {
                        Some(port) if port > 0 => port,
                        _ => {
                            self.d
                                .error(node, format!("ldaps `{name}`: port must be 1 to 65535"));
                            default
                        }
                    },
                };
                // A `host` written as a URL (`ldap://h:389`) says its own scheme and port.
                if host.contains("://") {
                    return self
                        .ldap_url(keys.get("host").unwrap_or(item), name, &host)
                        .into_iter()
                        .collect();
                }
                let host = host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_string();
                vec![LdapServer { host, port, tls }]
            }
            (None, Some(node)) => {
                if let Some(port) = keys.get("port") {
                    self.d.error(
                        port,
                        format!("ldaps `{name}`: with `hosts`, each URL carries its port"),
                    );
                }
                let urls: Vec<&Node> = match (node.as_seq(), node.as_str()) {
                    (Some(items), _) => items.iter().collect(),
                    (None, Some(_)) if !node.is_null() => vec![node],
                    _ => Vec::new(),
                };
                if urls.is_empty() {
                    self.d.error(node, format!("ldaps `{name}`: hosts must be a non-empty list of ldap:// or ldaps:// URLs"));
                }
                urls.into_iter()
                    .filter_map(|url| match url.as_str().filter(|_| !url.is_null()) {
                        Some(text) => self.ldap_url(url, name, text),
                        None => {
                            self.d
                                .error(url, format!("ldaps `{name}`: hosts entries must be URLs"));
                            None
                        }
                    })
                    .collect()
            }
        }
    }

    /// `ldap://host[:port][/]` or `ldaps://...` (IPv6 in brackets).
    fn ldap_url(&mut self, node: &Node, name: &str, url: &str) -> Option<LdapServer> {
        let parsed = parse_url(url);
        if parsed.is_none() {
            self.d.error(
                node,
                format!("ldaps `{name}`: `{url}` is not an ldap://host[:port] or ldaps://host[:port] URL"),
            );
        }
        parsed
    }

    fn ldap_groups(&mut self, name: &str, keys: &Keys) -> Option<GroupSearch> {
        let at = |key: &str| format!("ldaps `{name}`: {key}");
        let in_user_entries = match (keys.get("mode"), keys.get("groups_from_user")) {
            (Some(node), _) => match node.as_str() {
                Some("search_groups_in_group_entries") => false,
                Some("search_groups_in_user_entries") => true,
                _ => {
                    self.d.error(
                        node,
                        at("groups mode must be search_groups_in_group_entries or search_groups_in_user_entries"),
                    );
                    false
                }
            },
            (None, Some(_)) => self
                .ldap_bool(keys, name, "groups_from_user")
                .unwrap_or(false),
            (None, None) => keys.get("groups_from_user_attribute").is_some(),
        };
        // The id attribute: group_id_attribute, else (ReadonlyREST's older spelling)
        // group_name_attribute, else cn.
        let id_attribute = self
            .ldap_text(keys, "group_id_attribute")
            .or_else(|| self.ldap_text(keys, "group_name_attribute"))
            .unwrap_or_else(|| DEFAULT_GROUP_ID_ATTRIBUTE.to_string());
        let member_attribute = self
            .ldap_text(keys, "unique_member_attribute")
            .unwrap_or_else(|| DEFAULT_MEMBER_ATTRIBUTE.to_string());
        let filter = match self.ldap_text(keys, "group_search_filter") {
            Some(filter) => {
                if ldap3::parse_filter(&filter).is_err() {
                    self.d.error(
                        keys.get("group_search_filter")?,
                        at(&format!(
                            "group_search_filter `{filter}` is not an LDAP filter (RFC 4515)"
                        )),
                    );
                }
                filter
            }
            None => DEFAULT_GROUP_SEARCH_FILTER.to_string(),
        };
        let member_is_dn = self
            .ldap_bool(keys, name, "group_attribute_is_dn")
            .unwrap_or(true);
        let user_attribute = self
            .ldap_text(keys, "groups_from_user_attribute")
            .unwrap_or_else(|| DEFAULT_GROUPS_FROM_USER_ATTRIBUTE.to_string());
        let Some(base_dn) = self.ldap_text(keys, "search_groups_base_DN") else {
            // Without a groups base the definition resolves no groups (authentication only).
            let group_only = [
                "mode",
                "groups_from_user",
                "groups_from_user_attribute",
                "group_search_filter",
                "unique_member_attribute",
                "group_id_attribute",
                "group_attribute_is_dn",
                "nested_groups_depth",
            ];
            if let Some(key) = group_only.iter().find_map(|k| keys.key(k)) {
                self.d
                    .error(key, at("group settings need `search_groups_base_DN`"));
            }
            return None;
        };
        Some(if in_user_entries {
            GroupSearch::InUserEntries {
                base_dn,
                id_attribute,
                user_attribute,
            }
        } else {
            GroupSearch::InGroupEntries {
                base_dn,
                id_attribute,
                member_attribute,
                filter,
                member_is_dn,
            }
        })
    }

    fn ldap_circuit_breaker(&mut self, keys: &Keys, name: &str) -> (u32, Duration) {
        let mut max_retries = DEFAULT_MAX_RETRIES;
        let mut reset_duration = DEFAULT_RESET_DURATION;
        let Some(node) = keys.get("circuit_breaker") else {
            return (max_retries, reset_duration);
        };
        let section = "ldaps entry circuit_breaker";
        for (key, key_node, value) in entries(node, section, self.d) {
            match key {
                "max_retries" => match value.as_u64().and_then(|n| u32::try_from(n).ok()) {
                    Some(n) if n > 0 => max_retries = n,
                    _ => self.d.error(
                        value,
                        format!("ldaps `{name}`: circuit_breaker.max_retries must be a positive number"),
                    ),
                },
                "reset_duration" => match value.as_str().and_then(super::parse_duration) {
                    Some(duration) if !duration.is_zero() => reset_duration = duration,
                    _ => self.d.error(
                        value,
                        format!("ldaps `{name}`: circuit_breaker.reset_duration must be a positive duration (`10 s`, `500 ms`, `1 min`, or seconds)"),
                    ),
                },
                _ => self.d.unknown_key(key_node, section, CIRCUIT_BREAKER_KEYS),
            }
        }
        (max_retries, reset_duration)
    }

    /// A non-empty string value (reported otherwise).
    fn ldap_text(&mut self, keys: &Keys, key: &str) -> Option<String> {
        let node = keys.get(key)?;
        match node
            .as_str()
            .filter(|t| !node.is_null() && !t.trim().is_empty())
        {
            Some(text) => Some(text.to_string()),
            None => {
                self.d.error(
                    node,
                    format!("ldaps entry: {key} must be a non-empty string"),
                );
                None
            }
        }
    }

    fn ldap_bool(&mut self, keys: &Keys, name: &str, key: &str) -> Option<bool> {
        let node = keys.get(key)?;
        let flag = node.as_bool();
        if flag.is_none() {
            self.d
                .error(node, format!("ldaps `{name}`: {key} must be true or false"));
        }
        flag
    }

    fn ldap_number(&mut self, keys: &Keys, name: &str, key: &str, max: u64) -> Option<u64> {
        let node = keys.get(key)?;
        match node.as_u64().filter(|n| *n <= max) {
            Some(n) => Some(n),
            None => {
                self.d.error(
                    node,
                    format!("ldaps `{name}`: {key} must be a number from 0 to {max}"),
                );
                None
            }
        }
    }

    /// `key` as a duration, or `key_in_sec` as seconds (not both).
    fn ldap_duration(&mut self, keys: &Keys, name: &str, key: &str) -> Option<Duration> {
        let in_sec = format!("{key}_in_sec");
        match (keys.get(key), keys.get(&in_sec)) {
            (Some(_), Some(node)) => {
                self.d.error(
                    node,
                    format!("ldaps `{name}`: give {key} or {in_sec}, not both"),
                );
                None
            }
            (Some(node), None) => {
                let duration = node.as_str().and_then(super::parse_duration);
                if duration.is_none() {
                    self.d.error(
                        node,
                        format!("ldaps `{name}`: {key} must be a duration (`10 s`, `10s`, `10 sec`, `500 ms`, `1 min`, or seconds)"),
                    );
                }
                duration
            }
            (None, Some(node)) => {
                let seconds = node.as_u64().map(Duration::from_secs);
                if seconds.is_none() {
                    self.d.error(
                        node,
                        format!("ldaps `{name}`: {in_sec} must be a number of seconds"),
                    );
                }
                seconds
            }
            (None, None) => None,
        }
    }
}

/// `ldap://host[:port][/]` or `ldaps://host[:port][/]`; IPv6 literals in brackets.
fn parse_url(url: &str) -> Option<LdapServer> {
    let (tls, rest) = if let Some(rest) = url.strip_prefix("ldaps://") {
        (true, rest)
    } else {
        (false, url.strip_prefix("ldap://")?)
    };
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.contains(['/', '?', '#', '@']) {
        return None;
    }
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']')?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() || (host.contains(':') && !authority.starts_with('[')) {
        return None;
    }
    let port = match port {
        Some(port) => port.parse::<u16>().ok().filter(|p| *p > 0)?,
        None if tls => DEFAULT_SSL_PORT,
        None => DEFAULT_PORT,
    };
    Some(LdapServer {
        host: host.to_string(),
        port,
        tls,
    })
}

#[cfg(test)]
mod tests;
