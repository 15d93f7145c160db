//! One `access_control_rules` entry: its name, `type`, block settings (audit settings in
//! `block_audit`) and rules, checked together (one authentication rule, `@{user}` needs one,
//! `jwt_authorization` needs one, `@{jwt:...}` needs a JWT rule, forbid blocks match on
//! overlap).

use super::block_audit::AuditKeys;
use super::kibana::{self, KibanaKeys};
use super::{At, Decoder};
use crate::acl::rule::{AuthRule, Rule};
use crate::acl::{Block, Policy};
use crate::config::error::entries;
use crate::config::yaml::{Node, NodeKind};

impl Decoder<'_> {
    pub(super) fn blocks(&mut self, node: &Node) -> Vec<Block> {
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
        let mut authorization_node: Option<&Node> = None;
        let mut has_jwt_rule = false;
        let mut rule_keys = 0;
        // `kibana` and its deprecated siblings merge into one rule once the block is read.
        let mut kibana = KibanaKeys::default();
        let mut actions_key: Option<&Node> = None;
        let mut audit_keys = AuditKeys::default();
        for (key, key_node, value) in entries(node, &format!("block `{name}`"), self.d) {
            let at = At {
                block: &name,
                rule: key,
            };
            match key {
                "name" => {}
                "type" => policy = self.policy(value, &name),
                "verbosity" => audit_keys.verbosity = Some((key_node, value)),
                "audit" => audit_keys.audit = Some((key_node, value)),
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
                        if matches!(rule, Rule::JwtAuthorization(_) | Rule::RemoteGroups(_)) {
                            authorization_node.get_or_insert(key_node);
                        }
                        has_jwt_rule |= matches!(
                            rule,
                            Rule::Auth(AuthRule::Jwt(_)) | Rule::JwtAuthorization(_)
                        );
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
        if let (Some(node), false) = (authorization_node, has_auth) {
            self.d.error(
                node,
                format!("block `{name}`: an authorization rule needs an authentication rule in the same block"),
            );
        }
        if let (Some(node), false) = (first_jwt_variable(node), has_jwt_rule) {
            self.d.error(
                node,
                format!("block `{name}`: @{{jwt:...}} reads the token a JWT rule verified, so the block needs jwt_authentication, jwt_auth or jwt_authorization"),
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
        let audit = self.block_audit(&name, audit_keys);
        Some(Block {
            name,
            policy,
            audit,
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
}

/// The first value under `node` that uses `@{jwt:...}` (or `@explode{jwt:...}`).
fn first_jwt_variable(node: &Node) -> Option<&Node> {
    match &node.kind {
        NodeKind::Scalar { value, .. } => value.contains("{jwt:").then_some(node),
        NodeKind::Seq(items) => items.iter().find_map(first_jwt_variable),
        NodeKind::Map(entries) => entries.iter().find_map(|(_, v)| first_jwt_variable(v)),
    }
}
