//! One rule key of a block (or of a `users` entry) → [`Rule`], and the value shapes rules
//! share (a string or a list of strings, value patterns, host patterns).

use super::kibana;
use super::{At, Decoder};
use crate::acl::es_rules::{privilege, ActionsRule, NameKind, NamesRule};
use crate::acl::groups::GroupsLogic;
use crate::acl::indices::IndicesRule;
use crate::acl::network::{parse_net, HostPattern};
use crate::acl::pattern::{Glob, ValuePattern};
use crate::acl::rule::{
    method_bit, AuthRule, ForwardedMode, HeaderItem, Rule, UriPattern,
    DEFAULT_CERTIFICATE_USERNAME_PATTERN,
};
use crate::acl::variable::Template;
use crate::auth::key::{AuthKey, KeyKind};
use crate::config::error::entries;
use crate::config::yaml::{Node, NodeKind};
use crate::http::Method;
use std::sync::Arc;

/// Rules ReadonlyREST has that Ringfence does not implement (yet).
const UNSUPPORTED_RULES: &[&str] = &[
    "ror_kbn_auth",
    "ror_kbn_authentication",
    "ror_kbn_authorization",
    "filter",
    "fields",
    "response_fields",
    "session_max_idle",
];

/// The groups keys a rule with a groups condition accepts (`jwt_auth`, `ldap_auth`, ...),
/// deprecated aliases included, as in a block.
pub(super) const GROUPS_KEYS: &[&str] = &[
    "groups",
    "groups_any_of",
    "groups_or",
    "roles",
    "groups_all_of",
    "groups_and",
    "roles_and",
    "groups_not_any_of",
    "groups_not_all_of",
];

impl Decoder<'_> {
    /// One groups key of a rule's map: `None` when `key` is not a groups key, `Some(None)`
    /// when it is and its value had errors (reported).
    pub(super) fn groups_condition(
        &mut self,
        at: At,
        key: &str,
        value: &Node,
    ) -> Option<Option<GroupsLogic>> {
        Some(match key {
            "groups" if value.as_map().is_some() => self.groups_extended(at, value),
            "groups" | "groups_any_of" | "groups_or" | "roles" => {
                self.patterns(at, value).map(GroupsLogic::AnyOf)
            }
            "groups_all_of" | "groups_and" | "roles_and" => {
                self.patterns(at, value).map(GroupsLogic::AllOf)
            }
            "groups_not_any_of" => self.patterns(at, value).map(GroupsLogic::NotAnyOf),
            "groups_not_all_of" => self.patterns(at, value).map(GroupsLogic::NotAllOf),
            _ => return None,
        })
    }

    pub(super) fn rule(&mut self, at: At, key_node: &Node, value: &Node) -> Option<Rule> {
        let name = at.rule;
        if let Some(kind) = KeyKind::from_rule_name(name) {
            return self.auth_key(at, kind, value).map(Rule::Auth);
        }
        let rule = match name {
            "proxy_auth" => self.proxy_auth(at, value).map(Rule::Auth),
            "token_authentication" => self.token(at, value).map(Rule::Auth),
            "certificate_authentication" => self.certificate(at, value).map(Rule::Auth),
            "jwt_authentication" | "jwt_auth" | "jwt_authorization" => self.jwt_rule(at, value),
            "ldap_authentication"
            | "ldap_auth"
            | "ldap_authorization"
            | "external_authentication"
            | "groups_provider_authorization" => self.remote_rule(at, value),
            "groups" if value.as_map().is_some() => {
                self.groups_extended(at, value).map(Rule::Groups)
            }
            "groups" | "groups_any_of" | "groups_or" | "roles" => self
                .patterns(at, value)
                .map(|p| Rule::Groups(GroupsLogic::AnyOf(p))),
            "groups_all_of" | "groups_and" | "roles_and" => self
                .patterns(at, value)
                .map(|p| Rule::Groups(GroupsLogic::AllOf(p))),
            "groups_not_any_of" => self
                .patterns(at, value)
                .map(|p| Rule::Groups(GroupsLogic::NotAnyOf(p))),
            "groups_not_all_of" => self
                .patterns(at, value)
                .map(|p| Rule::Groups(GroupsLogic::NotAllOf(p))),
            "users" => self
                .strings(at, value)
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|(text, node)| {
                            self.value_pattern(at, node, text, self.settings.username_ignore_case)
                        })
                        .collect::<Vec<_>>()
                })
                .map(Rule::Users),
            "hosts" => self.hosts(at, value).map(|hosts| Rule::Hosts {
                hosts,
                accept_forwarded_for: false,
            }),
            "hosts_local" => self.hosts(at, value).map(Rule::HostsLocal),
            "x_forwarded_for" => self.forwarded_for(at, value),
            "methods" => self.methods(at, value),
            "headers" | "headers_and" => self
                .headers(at, value)
                .map(|items| Rule::Headers { all: true, items }),
            "headers_or" => self
                .headers(at, value)
                .map(|items| Rule::Headers { all: false, items }),
            "uri_re" => self.uri_re(at, value),
            "max_body_length" | "maxBodyLength" => match value.as_u64() {
                Some(n) => Some(Rule::MaxBodyLength(n)),
                None => {
                    self.d
                        .error(value, at.msg("must be a non-negative integer (bytes)"));
                    None
                }
            },
            "api_keys" => self.strings(at, value).map(|items| {
                Rule::ApiKeys(
                    items
                        .into_iter()
                        .map(|(t, _)| t.as_bytes().into())
                        .collect(),
                )
            }),
            "actions" => self.actions(at, value),
            "indices" => self.indices(at, value),
            "repositories" => self.names(at, value, NameKind::Repositories),
            "snapshots" => self.names(at, value, NameKind::Snapshots),
            "data_streams" => self.names(at, value, NameKind::DataStreams),
            // Blocks read these before calling here (see `block`); elsewhere they are misplaced.
            _ if kibana::RULE_NAMES.contains(&name) => {
                self.d
                    .error(key_node, at.msg("a kibana rule is only allowed in a block"));
                None
            }
            _ if UNSUPPORTED_RULES.contains(&name) => {
                self.d.error(
                    key_node,
                    at.msg("this ReadonlyREST rule is not supported by Ringfence yet"),
                );
                None
            }
            _ => {
                self.d.error(
                    key_node,
                    format!("block `{}`: unknown rule `{name}`", at.block),
                );
                None
            }
        };
        rule
    }

    fn auth_key(&mut self, at: At, kind: KeyKind, value: &Node) -> Option<AuthRule> {
        let Some(text) = value.as_str().filter(|_| !value.is_null()) else {
            self.d.error(value, at.msg("must be a string"));
            return None;
        };
        match AuthKey::parse(kind, text) {
            Ok(key) => {
                self.next_key_id += 1;
                Some(AuthRule::Key {
                    id: self.next_key_id,
                    key: Arc::new(key),
                    cache_ttl: None,
                })
            }
            Err(e) => {
                // The key's error already names the rule.
                self.d.error(value, format!("block `{}`: {e}", at.block));
                None
            }
        }
    }

    fn proxy_auth(&mut self, at: At, value: &Node) -> Option<AuthRule> {
        let (header, users_node) = if value.as_map().is_some() {
            let mut header = "x-forwarded-user".to_string();
            let mut users = None;
            for (key, key_node, v) in entries(value, "proxy_auth", self.d) {
                match key {
                    "proxy_auth_config" => match v.as_str().and_then(|n| self.proxy_configs.get(n))
                    {
                        Some(h) => header = h.clone(),
                        None => self.d.error(
                            v,
                            at.msg("proxy_auth_config names no entry of proxy_auth_configs"),
                        ),
                    },
                    "users" => users = Some(v),
                    _ => {
                        self.d
                            .unknown_key(key_node, "proxy_auth", &["proxy_auth_config", "users"])
                    }
                }
            }
            let Some(users) = users else {
                self.d.error(value, at.msg("needs `users`"));
                return None;
            };
            (header, users)
        } else {
            ("x-forwarded-user".to_string(), value)
        };
        let ignore_case = self.settings.username_ignore_case;
        let users = self
            .strings(at, users_node)?
            .iter()
            .filter_map(|(text, node)| self.value_pattern(at, node, text, ignore_case))
            .collect();
        Some(AuthRule::Proxy { header, users })
    }

    fn token(&mut self, at: At, value: &Node) -> Option<AuthRule> {
        let (mut token, mut username, mut header) = (None, None, "authorization".to_string());
        for (key, key_node, v) in entries(value, "token_authentication", self.d) {
            match (key, v.as_str()) {
                ("type", Some("static")) => {}
                ("type", _) => self.d.error(v, at.msg("only `type: static` is supported (service-token and api-key need Elasticsearch's own services)")),
                ("token", Some(t)) => token = Some(t.as_bytes().into()),
                ("username", Some(u)) => username = Some(u.to_string()),
                ("header", Some(h)) => header = h.to_ascii_lowercase(),
                ("token" | "username" | "header", None) => self.d.error(v, at.msg(format!("{key} must be a string"))),
                _ => self.d.unknown_key(key_node, "token_authentication", &["type", "token", "username", "header"]),
            }
        }
        match (token, username) {
            (Some(token), Some(username)) => Some(AuthRule::Token {
                header,
                token,
                username,
            }),
            _ => {
                self.d.error(value, at.msg("needs `token` and `username`"));
                None
            }
        }
    }

    /// `certificate_authentication: true` or `{username_pattern: "CN=([^,]+)"}`: a regular
    /// expression with exactly one capture group, searched in the client certificate's DN.
    fn certificate(&mut self, at: At, value: &Node) -> Option<AuthRule> {
        let (text, node) = match value.as_bool() {
            Some(true) => (DEFAULT_CERTIFICATE_USERNAME_PATTERN.to_string(), value),
            Some(false) => {
                self.d.error(value, at.msg("must be true or {username_pattern: \"...\"} (remove the rule to turn it off)"));
                return None;
            }
            None if value.as_map().is_some() => {
                let mut pattern = None;
                for (key, key_node, v) in entries(value, "certificate_authentication", self.d) {
                    match (key, v.as_str().filter(|_| !v.is_null())) {
                        ("username_pattern", Some(text)) => pattern = Some((text.to_string(), v)),
                        ("username_pattern", None) => {
                            self.d.error(v, at.msg("username_pattern must be a string"))
                        }
                        _ => self.d.unknown_key(
                            key_node,
                            "certificate_authentication",
                            &["username_pattern"],
                        ),
                    }
                }
                match pattern {
                    Some(pattern) => pattern,
                    None => {
                        self.d.error(value, at.msg("needs `username_pattern`"));
                        return None;
                    }
                }
            }
            None => {
                self.d
                    .error(value, at.msg("must be true or {username_pattern: \"...\"}"));
                return None;
            }
        };
        let pattern = match regex::Regex::new(&text) {
            Ok(pattern) => pattern,
            Err(e) => {
                self.d.error(
                    node,
                    at.msg(format!(
                        "invalid regular expression `{text}`: {}",
                        regex_gist(&e)
                    )),
                );
                return None;
            }
        };
        // `captures_len` counts the whole match as group 0.
        if pattern.captures_len() != 2 {
            self.d.error(
                node,
                at.msg(format!(
                    "username_pattern `{text}` must have exactly one capture group (the user name), it has {}",
                    pattern.captures_len() - 1
                )),
            );
            return None;
        }
        Some(AuthRule::Certificate { pattern })
    }

    pub(super) fn groups_extended(&mut self, at: At, value: &Node) -> Option<GroupsLogic> {
        let mut positive = None;
        let mut negative = None;
        for (key, key_node, v) in entries(value, "groups", self.d) {
            let logic = match key {
                "any_of" => self.patterns(at, v).map(GroupsLogic::AnyOf),
                "all_of" => self.patterns(at, v).map(GroupsLogic::AllOf),
                "not_any_of" => self.patterns(at, v).map(GroupsLogic::NotAnyOf),
                "not_all_of" => self.patterns(at, v).map(GroupsLogic::NotAllOf),
                _ => {
                    self.d.unknown_key(
                        key_node,
                        "groups",
                        &["any_of", "all_of", "not_any_of", "not_all_of"],
                    );
                    None
                }
            };
            let slot = if matches!(key, "any_of" | "all_of") {
                &mut positive
            } else {
                &mut negative
            };
            if let Some(logic) = logic {
                if slot.replace(logic).is_some() {
                    self.d.error(key_node, at.msg("at most one positive (any_of/all_of) and one negative (not_any_of/not_all_of) condition"));
                }
            }
        }
        match (positive, negative) {
            (Some(p), Some(n)) => Some(GroupsLogic::Combined(Box::new(p), Box::new(n))),
            (Some(one), None) | (None, Some(one)) => Some(one),
            (None, None) => {
                self.d.error(
                    value,
                    at.msg("needs any_of, all_of, not_any_of or not_all_of"),
                );
                None
            }
        }
    }

    pub(super) fn value_pattern(
        &mut self,
        at: At,
        node: &Node,
        text: &str,
        ignore_case: bool,
    ) -> Option<ValuePattern> {
        match ValuePattern::parse(text, ignore_case, true) {
            Ok(pattern) => Some(pattern),
            Err(e) => {
                self.d.error(node, at.msg(e));
                None
            }
        }
    }

    fn hosts(&mut self, at: At, value: &Node) -> Option<Vec<HostPattern>> {
        let items = self.strings(at, value)?;
        let mut hosts = Vec::with_capacity(items.len());
        for (text, node) in items {
            match HostPattern::parse(&text, &mut self.host_names) {
                Ok(host) => hosts.push(host),
                Err(e) => self.d.error(&node, at.msg(e)),
            }
        }
        Some(hosts)
    }

    fn forwarded_for(&mut self, at: At, value: &Node) -> Option<Rule> {
        if value.as_map().is_none() {
            let hosts = self.hosts(at, value)?;
            return Some(Rule::ForwardedFor {
                hosts,
                mode: ForwardedMode::Leftmost,
            });
        }
        let (mut hosts, mut trusted) = (None, None);
        for (key, key_node, v) in entries(value, "x_forwarded_for", self.d) {
            match key {
                "hosts" => hosts = self.hosts(at, v),
                "trusted_proxies" => {
                    let items = self.strings(at, v)?;
                    let mut nets = Vec::new();
                    for (text, node) in items {
                        match parse_net(&text) {
                            Some(net) => nets.push(net),
                            None => self.d.error(
                                &node,
                                at.msg(format!("trusted proxy `{text}` must be an IP or CIDR")),
                            ),
                        }
                    }
                    trusted = Some(nets);
                }
                _ => self
                    .d
                    .unknown_key(key_node, "x_forwarded_for", &["hosts", "trusted_proxies"]),
            }
        }
        let Some(hosts) = hosts else {
            self.d.error(value, at.msg("needs `hosts`"));
            return None;
        };
        let mode = match trusted {
            Some(nets) => ForwardedMode::TrustedProxies(nets),
            None => ForwardedMode::Leftmost,
        };
        Some(Rule::ForwardedFor { hosts, mode })
    }

    fn methods(&mut self, at: At, value: &Node) -> Option<Rule> {
        let mut bits = 0;
        for (text, node) in self.strings(at, value)? {
            match Method::from_bytes(text.to_ascii_uppercase().as_bytes()) {
                Some(
                    m @ (Method::Get
                    | Method::Post
                    | Method::Put
                    | Method::Delete
                    | Method::Options
                    | Method::Head),
                ) => bits |= method_bit(m),
                _ => self.d.error(
                    &node,
                    at.msg(format!(
                        "unknown method `{text}` (GET, POST, PUT, DELETE, OPTIONS or HEAD)"
                    )),
                ),
            }
        }
        Some(Rule::Methods(bits))
    }

    fn headers(&mut self, at: At, value: &Node) -> Option<Vec<HeaderItem>> {
        let mut items = Vec::new();
        for (text, node) in self.strings(at, value)? {
            let (negated, rest) = match text.strip_prefix('~') {
                Some(rest) => (true, rest),
                None => (false, text.as_str()),
            };
            match rest.split_once(':') {
                Some((name, pattern)) if !name.trim().is_empty() => items.push(HeaderItem {
                    name: name.trim().to_ascii_lowercase(),
                    value: Glob::new(pattern),
                    negated,
                }),
                _ => self.d.error(
                    &node,
                    at.msg(format!("`{text}` must be `name:value` (or `~name:value`)")),
                ),
            }
        }
        Some(items)
    }

    fn uri_re(&mut self, at: At, value: &Node) -> Option<Rule> {
        let mut patterns = Vec::new();
        for (text, node) in self.strings(at, value)? {
            match Template::parse(&text, true) {
                Ok(template) => match template.as_static() {
                    Some(re) => match regex::Regex::new(re) {
                        Ok(re) => patterns.push(UriPattern::Static(re)),
                        Err(e) => self.d.error(
                            &node,
                            at.msg(format!(
                                "invalid regular expression `{re}`: {}",
                                regex_gist(&e)
                            )),
                        ),
                    },
                    None => patterns.push(UriPattern::Dynamic(template)),
                },
                Err(e) => self.d.error(&node, at.msg(e)),
            }
        }
        Some(Rule::UriRe(patterns))
    }

    fn actions(&mut self, at: At, value: &Node) -> Option<Rule> {
        let mut patterns = Vec::new();
        let mut check_bulk_items = false;
        for (text, node) in self.strings(at, value)? {
            if let Some(name) = text.strip_prefix('@') {
                match privilege(name) {
                    Some(actions) => {
                        patterns.extend(actions.iter().map(|a| Glob::new(a)));
                        check_bulk_items = true;
                    }
                    None => self.d.error(&node, at.msg(format!("unknown privilege `{text}` (read, view_index_metadata, write, index, create_doc, delete, create_index, delete_index, monitor, manage, all, readonly, readwrite, none)"))),
                }
            } else {
                patterns.push(Glob::new(&text));
            }
        }
        Some(Rule::Actions(ActionsRule {
            patterns,
            check_bulk_items,
            forbid: false,
        }))
    }

    fn indices(&mut self, at: At, value: &Node) -> Option<Rule> {
        let (list, must_involve_indices) = if value.as_map().is_some() {
            let (mut list, mut must) = (None, false);
            for (key, key_node, v) in entries(value, "indices", self.d) {
                match key {
                    "patterns" => list = Some(v),
                    "must_involve_indices" => match v.as_bool() {
                        Some(flag) => must = flag,
                        None => self
                            .d
                            .error(v, at.msg("must_involve_indices must be true or false")),
                    },
                    _ => self.d.unknown_key(
                        key_node,
                        "indices",
                        &["patterns", "must_involve_indices"],
                    ),
                }
            }
            let Some(list) = list else {
                self.d.error(value, at.msg("needs `patterns`"));
                return None;
            };
            (list, must)
        } else {
            (value, false)
        };
        let patterns = self.patterns(at, list)?;
        Some(Rule::Indices(IndicesRule {
            patterns,
            must_involve_indices,
            kibana: None,
            forbid: false,
        }))
    }

    fn names(&mut self, at: At, value: &Node, kind: NameKind) -> Option<Rule> {
        let patterns = self.patterns(at, value)?;
        Some(Rule::Names(NamesRule {
            kind,
            patterns,
            forbid: false,
        }))
    }

    pub(super) fn patterns(&mut self, at: At, value: &Node) -> Option<Vec<ValuePattern>> {
        let items = self.strings(at, value)?;
        Some(
            items
                .iter()
                .filter_map(|(text, node)| self.value_pattern(at, node, text, false))
                .collect(),
        )
    }

    /// A string or a non-empty list of strings, with their nodes.
    pub(super) fn strings(&mut self, at: At, value: &Node) -> Option<Vec<(String, Node)>> {
        let items: Vec<&Node> = match &value.kind {
            NodeKind::Seq(items) => items.iter().collect(),
            NodeKind::Scalar { .. } if !value.is_null() => vec![value],
            _ => {
                self.d
                    .error(value, at.msg("must be a string or a list of strings"));
                return None;
            }
        };
        if items.is_empty() {
            self.d.error(value, at.msg("must not be empty"));
            return None;
        }
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            match item.as_str() {
                Some(text) if !item.is_null() => out.push((text.to_string(), item.clone())),
                _ => self.d.error(
                    item,
                    at.msg(format!(
                        "list items must be strings, found {}",
                        item.kind_name()
                    )),
                ),
            }
        }
        Some(out)
    }
}

/// regex's message spans lines (it draws the position); keep the gist.
fn regex_gist(e: &regex::Error) -> String {
    e.to_string()
        .lines()
        .last()
        .unwrap_or_default()
        .trim_start_matches("error: ")
        .to_string()
}
