//! Compiling a `readonlyrest:` section into an [`Acl`], with every mistake reported.
//!
//! Existing `readonlyrest.yml` files must load unchanged, so every spelling ReadonlyREST
//! accepts is accepted here (deprecated aliases included). Rules Ringfence does not
//! implement are errors, never silently ignored: a policy that loads is a policy that is
//! enforced as written. Errors name the block, the rule, the line and the column.

use crate::acl::es_rules::{privilege, ActionsRule, NameKind, NamesRule};
use crate::acl::groups::{GroupsLogic, UserDef, UsersSection};
use crate::acl::indices::IndicesRule;
use crate::acl::kibana::{self, KibanaKeys};
use crate::acl::network::{parse_net, HostName, HostPattern};
use crate::acl::pattern::{Glob, ValuePattern};
use crate::acl::rule::{method_bit, AuthRule, ForwardedMode, HeaderItem, Rule, UriPattern};
use crate::acl::variable::Template;
use crate::acl::{Acl, Block, Mode, Policy, Settings};
use crate::auth::key::{AuthKey, KeyKind};
use crate::config::error::{entries, Diagnostics};
use crate::config::yaml::{Node, NodeKind};
use crate::http::Method;
use std::collections::HashMap;
use std::sync::Arc;

const SETTINGS_KEYS: &[&str] = &[
    "prompt_for_basic_auth",
    "response_if_req_forbidden",
    "username_case_sensitivity",
    "users_section_duplicate_usernames_detection",
    "fls_engine",
];

/// Sections ReadonlyREST knows that configure features Ringfence does not have yet; they are
/// accepted (a warning says they are ignored) so existing files load, and any rule that
/// would need them is an error.
const IGNORED_SECTIONS: &[&str] = &[
    "audit",
    "audit_collector",
    "audit_serializer",
    "audit_index_template",
    "audit_cluster",
    "obfuscated_headers",
    "ldaps",
    "jwt",
    "ror_kbn",
    "external_authentication_service_configs",
    "user_groups_providers",
    "impersonation",
    "variables_function_aliases",
    "ssl",
    "ssl_internode",
];

/// Rules ReadonlyREST has that Ringfence does not implement (yet).
const UNSUPPORTED_RULES: &[&str] = &[
    "jwt_auth",
    "jwt_authentication",
    "jwt_authorization",
    "ldap_auth",
    "ldap_authentication",
    "ldap_authorization",
    "ror_kbn_auth",
    "ror_kbn_authentication",
    "ror_kbn_authorization",
    "external_authentication",
    "groups_provider_authorization",
    "filter",
    "fields",
    "response_fields",
    "session_max_idle",
];

/// Compiles the `readonlyrest:` node. Errors go to `d`; the returned ACL is only used when
/// there were none.
pub fn compile(readonlyrest: &Node, d: &mut Diagnostics) -> Acl {
    let mut root = readonlyrest.clone();
    substitute_startup_variables(&mut root, d);
    let mut decoder = Decoder {
        d,
        settings: Settings::default(),
        proxy_configs: HashMap::new(),
        host_names: Vec::new(),
        next_key_id: 0,
        duplicate_detection: true,
    };
    let mut mode = Mode::Enabled;
    let mut blocks_node = None;
    let mut users_node = None;
    for (key, key_node, value) in entries(&root, "readonlyrest", decoder.d) {
        match key {
            "enable" => match value.as_bool() {
                Some(true) => mode = Mode::Enabled,
                Some(false) => mode = Mode::Disabled,
                None => decoder
                    .d
                    .error(value, "readonlyrest.enable must be true or false"),
            },
            "access_control_rules" => blocks_node = Some(value),
            "users" => users_node = Some(value),
            "global_settings" => {
                for (key, key_node, value) in entries(value, "global_settings", decoder.d) {
                    if SETTINGS_KEYS.contains(&key) {
                        decoder.setting(key, value);
                    } else {
                        decoder
                            .d
                            .unknown_key(key_node, "global_settings", SETTINGS_KEYS);
                    }
                }
            }
            "proxy_auth_configs" => decoder.proxy_auth_configs(value),
            _ if SETTINGS_KEYS.contains(&key) => decoder.setting(key, value),
            _ if IGNORED_SECTIONS.contains(&key) => decoder.d.warn(
                key_node,
                format!("readonlyrest.{key} is not supported by Ringfence yet and is ignored"),
            ),
            _ => {
                let known: Vec<&str> = [
                    "enable",
                    "access_control_rules",
                    "users",
                    "global_settings",
                    "proxy_auth_configs",
                ]
                .into_iter()
                .chain(SETTINGS_KEYS.iter().copied())
                .chain(IGNORED_SECTIONS.iter().copied())
                .collect();
                decoder.d.unknown_key(key_node, "readonlyrest", &known);
            }
        }
    }
    let users = users_node.map(|n| decoder.users(n)).unwrap_or_default();
    let blocks = match blocks_node {
        Some(node) => decoder.blocks(node),
        None => {
            if mode == Mode::Enabled {
                decoder.d.warn(
                    &root,
                    "readonlyrest.access_control_rules is missing: every request is denied",
                );
            }
            Vec::new()
        }
    };
    Acl {
        mode,
        blocks,
        users,
        settings: decoder.settings,
        host_names: decoder.host_names,
    }
}

struct Decoder<'d> {
    d: &'d mut Diagnostics,
    settings: Settings,
    /// `proxy_auth_configs`: name -> lower-case user header.
    proxy_configs: HashMap<String, String>,
    host_names: Vec<Arc<HostName>>,
    next_key_id: u32,
    duplicate_detection: bool,
}

/// Where a rule is written, for error messages.
#[derive(Clone, Copy)]
struct At<'a> {
    block: &'a str,
    rule: &'a str,
}

impl At<'_> {
    fn msg(&self, message: impl std::fmt::Display) -> String {
        format!("block `{}`: rule `{}`: {message}", self.block, self.rule)
    }
}

impl Decoder<'_> {
    fn setting(&mut self, key: &str, value: &Node) {
        match key {
            "prompt_for_basic_auth" => match value.as_bool() {
                Some(flag) => self.settings.prompt_for_basic_auth = flag,
                None => self
                    .d
                    .error(value, "prompt_for_basic_auth must be true or false"),
            },
            "response_if_req_forbidden" => match value.as_str() {
                Some(text) if !value.is_null() => {
                    self.settings.forbidden_message = text.to_string()
                }
                _ => self
                    .d
                    .error(value, "response_if_req_forbidden must be a string"),
            },
            "username_case_sensitivity" => match value.as_str() {
                Some("case_sensitive") => self.settings.username_ignore_case = false,
                Some("case_insensitive") => self.settings.username_ignore_case = true,
                _ => self.d.error(
                    value,
                    "username_case_sensitivity must be case_sensitive or case_insensitive",
                ),
            },
            "users_section_duplicate_usernames_detection" => match value.as_bool() {
                Some(flag) => self.duplicate_detection = flag,
                None => self.d.error(
                    value,
                    "users_section_duplicate_usernames_detection must be true or false",
                ),
            },
            // Field-level security is not implemented; the engine choice has nothing to pick.
            _ => self
                .d
                .warn(value, format!("{key} has no effect in Ringfence")),
        }
    }

    fn proxy_auth_configs(&mut self, node: &Node) {
        let Some(items) = node.as_seq() else {
            self.d.error(node, "proxy_auth_configs must be a list");
            return;
        };
        for item in items {
            let (mut name, mut header) = (None, None);
            for (key, key_node, value) in entries(item, "proxy_auth_configs entry", self.d) {
                match (key, value.as_str()) {
                    ("name", Some(v)) => name = Some(v.to_string()),
                    ("user_id_header", Some(v)) => header = Some(v.to_ascii_lowercase()),
                    ("name" | "user_id_header", None) => {
                        self.d.error(value, format!("{key} must be a string"))
                    }
                    _ => self.d.unknown_key(
                        key_node,
                        "proxy_auth_configs entry",
                        &["name", "user_id_header"],
                    ),
                }
            }
            match (name, header) {
                (Some(name), Some(header)) => {
                    if self.proxy_configs.insert(name.clone(), header).is_some() {
                        self.d
                            .error(item, format!("duplicate proxy_auth_configs name `{name}`"));
                    }
                }
                _ => self.d.error(
                    item,
                    "a proxy_auth_configs entry needs `name` and `user_id_header`",
                ),
            }
        }
    }

    fn blocks(&mut self, node: &Node) -> Vec<Block> {
        let Some(items) = node.as_seq() else {
            self.d
                .error(node, "access_control_rules must be a list of blocks");
            return Vec::new();
        };
        let mut blocks: Vec<Block> = Vec::with_capacity(items.len());
        for item in items {
            if let Some(block) = self.block(item) {
                if blocks.iter().any(|b| b.name == block.name) {
                    let at = item.get("name").unwrap_or(item);
                    self.d
                        .error(at, format!("duplicate block name `{}`", block.name));
                }
                blocks.push(block);
            }
        }
        blocks
    }

    fn block(&mut self, node: &Node) -> Option<Block> {
        let Some(first_key) = node.as_map().and_then(|m| m.first()).map(|(k, _)| k) else {
            self.d.error(
                node,
                format!(
                    "a block must be a non-empty mapping, found {}",
                    node.kind_name()
                ),
            );
            return None;
        };
        let name_node = node.get("name");
        let name = match name_node.and_then(Node::as_str) {
            Some(name) if !name.is_empty() => name.to_string(),
            _ => {
                self.d.error(first_key, "a block needs a `name`");
                "?".to_string()
            }
        };
        let mut policy = Policy::Allow;
        let mut accept_forwarded_for = false;
        let mut cache_ttl = None;
        let mut rules = Vec::new();
        let mut has_auth = false;
        let mut auth_rule_nodes = Vec::new();
        let mut needs_user: Option<&Node> = None;
        let mut rule_keys = 0;
        // `kibana` and its deprecated siblings merge into one rule once the block is read.
        let mut kibana = KibanaKeys::default();
        let mut actions_key: Option<&Node> = None;
        for (key, key_node, value) in entries(node, &format!("block `{name}`"), self.d) {
            let at = At {
                block: &name,
                rule: key,
            };
            match key {
                "name" => {}
                "type" => policy = self.policy(value, &name),
                "verbosity" => {
                    if !matches!(value.as_str(), Some("info" | "error")) {
                        self.d.error(
                            value,
                            format!("block `{name}`: verbosity must be info or error"),
                        );
                    }
                }
                "audit" => {}
                // ReadonlyREST 1.16's cache TTL for the block's credential checks.
                "auth_cache_ttl_sec" => match value.as_u64() {
                    Some(seconds) => cache_ttl = Some(std::time::Duration::from_secs(seconds)),
                    None => self.d.error(
                        value,
                        format!("block `{name}`: auth_cache_ttl_sec must be a number of seconds"),
                    ),
                },
                "accept_x-forwarded-for_header" => match value.as_bool() {
                    Some(flag) => accept_forwarded_for = flag,
                    None => self.d.error(
                        value,
                        format!(
                            "block `{name}`: accept_x-forwarded-for_header must be true or false"
                        ),
                    ),
                },
                _ if kibana::RULE_NAMES.contains(&key) => {
                    rule_keys += 1;
                    kibana.add(self.d, &name, key, key_node, value);
                }
                _ => {
                    rule_keys += 1;
                    if key == "actions" {
                        actions_key = Some(key_node);
                    }
                    if let Some(rule) = self.rule(at, key_node, value) {
                        if matches!(rule, Rule::Auth(_)) {
                            auth_rule_nodes.push(key_node);
                        }
                        has_auth |= matches!(rule, Rule::Auth(_) | Rule::Groups(_));
                        if rule.reads_user() {
                            needs_user.get_or_insert(key_node);
                        }
                        rules.push(rule);
                    }
                }
            }
        }
        if let Some(Rule::Hosts {
            accept_forwarded_for: flag,
            ..
        }) = rules.iter_mut().find(|r| matches!(r, Rule::Hosts { .. }))
        {
            *flag = accept_forwarded_for;
        }
        if let Some(ttl) = cache_ttl {
            for rule in &mut rules {
                if let Rule::Auth(AuthRule::Key { cache_ttl, .. }) = rule {
                    *cache_ttl = Some(ttl);
                }
            }
        }
        if let Some(node) = kibana.needs_user() {
            needs_user.get_or_insert(node);
        }
        if let Some(rule) = kibana.finish(self.d, &name, actions_key) {
            // An `indices` rule lets requests that name only Kibana indices through.
            for other in &mut rules {
                if let Rule::Indices(indices) = other {
                    indices.kibana = Some(rule.index.clone());
                }
            }
            rules.push(Rule::Kibana(rule));
        }
        if auth_rule_nodes.len() > 1 {
            self.d.error(
                auth_rule_nodes[1],
                format!("block `{name}`: only one authentication rule is allowed per block"),
            );
        }
        if let (Some(node), false) = (needs_user, has_auth) {
            self.d.error(
                node,
                format!("block `{name}`: this rule reads the authenticated user (@{{user}} or `users`), so the block needs an authentication rule"),
            );
        }
        if rule_keys == 0 {
            self.d
                .error(first_key, format!("block `{name}` has no rules"));
        }
        if matches!(policy, Policy::Forbid { .. }) {
            // Forbid blocks match on any overlap (`acl::indices`): "cannot tell" is a match.
            for rule in &mut rules {
                match rule {
                    Rule::Indices(r) => r.forbid = true,
                    Rule::Names(r) => r.forbid = true,
                    Rule::Actions(r) => r.forbid = true,
                    _ => {}
                }
            }
        }
        rules.sort_by_key(Rule::phase);
        Some(Block {
            name,
            policy,
            rules,
        })
    }

    fn policy(&mut self, value: &Node, block: &str) -> Policy {
        let parse = |text: Option<&str>| match text {
            Some("allow") => Some(Policy::Allow),
            Some("forbid") => Some(Policy::Forbid { message: None }),
            _ => None,
        };
        if let Some(policy) = parse(value.as_str()) {
            return policy;
        }
        if value.as_map().is_some() {
            let mut policy = None;
            let mut message = None;
            for (key, key_node, v) in entries(value, &format!("block `{block}` type"), self.d) {
                match key {
                    "policy" => policy = parse(v.as_str()),
                    "response_message" => message = v.as_str().map(str::to_string),
                    _ => self.d.unknown_key(
                        key_node,
                        &format!("block `{block}` type"),
                        &["policy", "response_message"],
                    ),
                }
            }
            return match policy {
                Some(Policy::Forbid { .. }) => Policy::Forbid { message },
                Some(Policy::Allow) => Policy::Allow,
                None => {
                    self.d.error(
                        value,
                        format!("block `{block}`: type.policy must be allow or forbid"),
                    );
                    Policy::Allow
                }
            };
        }
        self.d.error(
            value,
            format!("block `{block}`: type must be allow, forbid or {{policy, response_message}}"),
        );
        Policy::Allow
    }

    /// Decodes one rule; `None` (with an error recorded) when it is invalid.
    fn rule(&mut self, at: At, key_node: &Node, value: &Node) -> Option<Rule> {
        let name = at.rule;
        if let Some(kind) = KeyKind::from_rule_name(name) {
            return self.auth_key(at, kind, value).map(Rule::Auth);
        }
        let rule = match name {
            "proxy_auth" => self.proxy_auth(at, value).map(Rule::Auth),
            "token_authentication" => self.token(at, value).map(Rule::Auth),
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

    fn groups_extended(&mut self, at: At, value: &Node) -> Option<GroupsLogic> {
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

    fn value_pattern(
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
                        Err(e) => {
                            // regex's message spans lines (it draws the position); keep the gist.
                            let gist = e
                                .to_string()
                                .lines()
                                .last()
                                .unwrap_or_default()
                                .trim_start_matches("error: ")
                                .to_string();
                            self.d.error(
                                &node,
                                at.msg(format!("invalid regular expression `{re}`: {gist}")),
                            )
                        }
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

    fn patterns(&mut self, at: At, value: &Node) -> Option<Vec<ValuePattern>> {
        let items = self.strings(at, value)?;
        Some(
            items
                .iter()
                .filter_map(|(text, node)| self.value_pattern(at, node, text, false))
                .collect(),
        )
    }

    /// A string or a non-empty list of strings, with their nodes.
    fn strings(&mut self, at: At, value: &Node) -> Option<Vec<(String, Node)>> {
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

    fn users(&mut self, node: &Node) -> UsersSection {
        let Some(items) = node.as_seq() else {
            self.d.error(node, "users must be a list");
            return UsersSection::default();
        };
        let mut section = UsersSection::default();
        let mut seen: HashMap<String, ()> = HashMap::new();
        for item in items {
            let Some(def) = self.user_def(item) else {
                continue;
            };
            if self.duplicate_detection {
                for glob in def.usernames.iter().filter(|g| g.is_literal()) {
                    if seen.insert(glob.as_str().to_string(), ()).is_some() {
                        self.d.error(item, format!("users: duplicate username `{}` (set users_section_duplicate_usernames_detection: false to allow)", glob.as_str()));
                    }
                }
            }
            section.users.push(def);
        }
        section
    }

    fn user_def(&mut self, node: &Node) -> Option<UserDef> {
        let mut usernames = None;
        let mut groups = Vec::new();
        let mut auth: Option<(AuthRule, &Node)> = None;
        let label = node
            .get("username")
            .and_then(|u| {
                u.as_str().map(str::to_string).or_else(|| {
                    u.as_seq()
                        .and_then(|s| s.first())
                        .and_then(|n| n.as_str())
                        .map(str::to_string)
                })
            })
            .unwrap_or_else(|| "?".to_string());
        let block = format!("users entry `{label}`");
        for (key, key_node, value) in entries(node, &block, self.d) {
            let at = At {
                block: &block,
                rule: key,
            };
            match key {
                "username" => {
                    usernames = self.strings(at, value).map(|items| {
                        items
                            .into_iter()
                            .map(|(text, _)| {
                                Glob::with_case(&text, self.settings.username_ignore_case)
                            })
                            .collect::<Vec<_>>()
                    })
                }
                "groups" => groups = self.local_groups(at, value),
                _ => match self.rule(at, key_node, value) {
                    Some(Rule::Auth(rule)) => {
                        if auth.is_some() {
                            self.d.error(
                                key_node,
                                format!("{block}: exactly one authentication rule is allowed"),
                            );
                        }
                        auth = Some((rule, key_node));
                    }
                    Some(_) => self.d.error(
                        key_node,
                        format!("{block}: `{key}` is not an authentication rule"),
                    ),
                    None => {}
                },
            }
        }
        let Some(usernames) = usernames else {
            self.d
                .error(node, format!("{block}: `username` is required"));
            return None;
        };
        let Some((auth, auth_node)) = auth else {
            self.d.error(node, format!("{block}: one authentication rule is required (auth_key, auth_key_sha256, proxy_auth, ...)"));
            return None;
        };
        if let AuthRule::Key { key, .. } = &auth {
            if let Some(user) = key.username() {
                if !usernames.iter().any(|g| g.matches(user)) {
                    self.d.error(auth_node, format!("{block}: the user `{user}` of the rule does not match the entry's username patterns"));
                }
            }
        }
        Some(UserDef {
            usernames,
            groups,
            auth,
        })
    }

    /// `groups: [g1, g2]` or `[{id: g1, name: "Group 1"}]`.
    fn local_groups(&mut self, at: At, value: &Node) -> Vec<String> {
        let Some(items) = value.as_seq() else {
            self.d.error(value, at.msg("must be a list"));
            return Vec::new();
        };
        let mut groups = Vec::new();
        for item in items {
            if let Some(id) = item.as_str().filter(|_| !item.is_null()) {
                groups.push(id.to_string());
            } else if let Some(id) = item.get("id").and_then(Node::as_str) {
                groups.push(id.to_string());
            } else {
                self.d.error(item, at.msg("group mapping to external groups needs LDAP/JWT/external authorization, which is not supported yet; use group ids"));
            }
        }
        groups
    }
}

/// Replaces startup variables in every scalar: `${env:X}`, `@{env:X}`, the legacy `${X}`,
/// and the whole-value prefixes `env:X` and `text:literal` (ReadonlyREST's static variables).
fn substitute_startup_variables(root: &mut Node, d: &mut Diagnostics) {
    let mut errors = Vec::new();
    root.for_each_scalar_mut(&mut |value, _plain, mark| {
        if let Some(name) = value.strip_prefix("env:") {
            match std::env::var(name) {
                Ok(v) => *value = v,
                Err(_) => errors.push((mark, format!("environment variable `{name}` is not set"))),
            }
            return;
        }
        if let Some(text) = value.strip_prefix("text:") {
            *value = text.to_string();
            return;
        }
        if !value.contains("${") && !value.contains("@{env:") {
            return;
        }
        let mut out = String::with_capacity(value.len());
        let mut rest = value.as_str();
        while let Some(at) = rest.find("${").into_iter().chain(rest.find("@{env:")).min() {
            out.push_str(&rest[..at]);
            let from = &rest[at..];
            let Some(close) = from.find('}') else {
                out.push_str(from);
                rest = "";
                break;
            };
            let inner = &from[2..close];
            let name = inner.strip_prefix("env:").unwrap_or(inner);
            match std::env::var(name) {
                Ok(v) => out.push_str(&v),
                Err(_) => {
                    errors.push((mark, format!("environment variable `{name}` is not set")));
                    out.push_str(&from[..=close]);
                }
            }
            rest = &from[close + 1..];
        }
        out.push_str(rest);
        *value = out;
    });
    for (mark, message) in errors {
        d.at(mark, message);
    }
}
