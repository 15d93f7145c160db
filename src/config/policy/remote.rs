//! The rules that name an identity service: `ldap_authentication`, `ldap_auth`,
//! `ldap_authorization` (an `ldaps:` definition), `external_authentication` (an
//! `external_authentication_service_configs:` entry) and `groups_provider_authorization`
//! (a `user_groups_providers:` entry).
//!
//! ```yaml
//! - ldap_authentication: ldap1                       # or {name: ldap1, cache_ttl: 10 sec}
//! - ldap_auth: {name: ldap1, groups_any_of: ["admins", "ops*"]}
//! - ldap_authorization: {name: ldap1, groups_all_of: [...], cache_ttl_in_sec: 60}
//! - external_authentication: ext1                    # or {service: ext1, cache_ttl: 60s}
//! - groups_provider_authorization: {user_groups_provider: gp1, groups_any_of: [...]}
//! ```
//!
//! Each service gets a number per policy on its first mention (answers are cached by it).

use super::{At, Decoder};
use crate::acl::groups::GroupsLogic;
use crate::acl::remote::RemoteRule;
use crate::acl::rule::{AuthRule, Rule};
use crate::auth::remote::RemoteService;
use crate::config::error::entries;
use crate::config::yaml::Node;
use std::sync::Arc;
use std::time::Duration;

/// Which definitions section a rule names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum ServiceKind {
    Ldap,
    ExternalAuthentication,
    GroupsProvider,
}

/// What a rule does with its service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Use {
    /// Basic credentials checked by the service.
    Authentication,
    /// Authentication and a groups check (`ldap_auth`).
    AuthenticationWithGroups,
    /// A groups check of the user another rule authenticated.
    Authorization,
}

impl Decoder<'_> {
    /// One of the five rules, in a block or a `users` entry.
    pub(super) fn remote_rule(&mut self, at: At, value: &Node) -> Option<Rule> {
        let (kind, usage, name_key, rule_name) = match at.rule {
            "ldap_authentication" => (
                ServiceKind::Ldap,
                Use::Authentication,
                "name",
                "ldap_authentication",
            ),
            "ldap_auth" => (
                ServiceKind::Ldap,
                Use::AuthenticationWithGroups,
                "name",
                "ldap_auth",
            ),
            "ldap_authorization" => (
                ServiceKind::Ldap,
                Use::Authorization,
                "name",
                "ldap_authorization",
            ),
            "external_authentication" => (
                ServiceKind::ExternalAuthentication,
                Use::Authentication,
                "service",
                "external_authentication",
            ),
            _ => (
                ServiceKind::GroupsProvider,
                Use::Authorization,
                "user_groups_provider",
                "groups_provider_authorization",
            ),
        };
        let mut name: Option<(String, &Node)> = None;
        let mut groups: Option<(GroupsLogic, &Node)> = None;
        let mut cache_ttl = None;
        if let Some(text) = value.as_str().filter(|_| !value.is_null()) {
            name = Some((text.to_string(), value));
        } else {
            for (key, key_node, v) in entries(value, at.rule, self.d) {
                match key {
                    _ if key == name_key => match v.as_str().filter(|_| !v.is_null()) {
                        Some(text) => name = Some((text.to_string(), v)),
                        None => self
                            .d
                            .error(v, at.msg(format!("{name_key} must be a string"))),
                    },
                    "cache_ttl" | "cache_ttl_in_sec" => cache_ttl = self.ttl(at, v),
                    _ if usage != Use::Authentication => match self.groups_condition(at, key, v) {
                        Some(Some(logic)) => {
                            if groups.replace((logic, key_node)).is_some() {
                                self.d.error(key_node, at.msg("only one groups condition (use `groups: {any_of|all_of: [...], not_any_of|not_all_of: [...]}` to combine two)"));
                            }
                        }
                        Some(None) => {}
                        None => {
                            let known: Vec<&str> = [name_key, "cache_ttl"]
                                .into_iter()
                                .chain(super::rule::GROUPS_KEYS.iter().copied())
                                .collect();
                            self.d.unknown_key(key_node, at.rule, &known);
                        }
                    },
                    _ => self
                        .d
                        .unknown_key(key_node, at.rule, &[name_key, "cache_ttl"]),
                }
            }
        }
        let Some((name, name_node)) = name else {
            self.d.error(value, at.msg(format!("needs `{name_key}`")));
            return None;
        };
        if usage != Use::Authentication && groups.is_none() {
            self.d.error(
                value,
                at.msg("needs a groups condition (groups_any_of, groups_all_of, ...)"),
            );
            return None;
        }
        let (service, service_id) = self.remote_service(at, kind, &name, name_node)?;
        if kind == ServiceKind::Ldap && usage != Use::Authentication && !self.ldap_has_groups(&name)
        {
            self.d.error(name_node, at.msg(format!("ldaps `{name}` has no group search (search_groups_base_DN), which a groups condition needs")));
            return None;
        }
        let rule = RemoteRule {
            service,
            service_id,
            with_groups: groups.is_some(),
            groups: groups.map(|(logic, _)| logic),
            cache_ttl,
            rule_name,
        };
        Some(match usage {
            Use::Authorization => Rule::RemoteGroups(rule),
            _ => Rule::Auth(AuthRule::Remote(rule)),
        })
    }

    /// Whether the `ldaps` definition `name` searches groups: without a group search every
    /// user would have none, and `groups_not_any_of` or a forbid block would fail open.
    pub(super) fn ldap_has_groups(&self, name: &str) -> bool {
        self.ldap
            .find(name)
            .is_some_and(|service| service.settings().groups.is_some())
    }

    /// `cache_ttl: 10 sec` (ReadonlyREST's duration forms) or a number of seconds.
    fn ttl(&mut self, at: At, value: &Node) -> Option<Duration> {
        let parsed = match value.as_u64() {
            Some(seconds) => Some(Duration::from_secs(seconds)),
            None => value.as_str().and_then(super::parse_duration),
        };
        if parsed.is_none() {
            self.d.error(
                value,
                at.msg("cache_ttl must be a duration such as `60 s`, `10 sec`, `5 min` or a number of seconds"),
            );
        }
        parsed
    }

    /// The service `name` of `kind`, with its number in this policy; an error at
    /// `name_node` when there is none (unless its definition already reported one).
    fn remote_service(
        &mut self,
        at: At,
        kind: ServiceKind,
        name: &str,
        name_node: &Node,
    ) -> Option<(Arc<dyn RemoteService>, u32)> {
        let (found, broken, known, section): (Option<Arc<dyn RemoteService>>, bool, String, &str) =
            match kind {
                ServiceKind::Ldap => (
                    self.ldap.find(name).map(|s| s as Arc<dyn RemoteService>),
                    self.ldap.is_broken(name),
                    self.ldap.names(),
                    "ldaps",
                ),
                ServiceKind::ExternalAuthentication => (
                    self.external
                        .authentication(name)
                        .map(|s| s as Arc<dyn RemoteService>),
                    self.external.is_broken(name),
                    self.external.authentication_names(),
                    "external_authentication_service_configs",
                ),
                ServiceKind::GroupsProvider => (
                    self.external
                        .groups_provider(name)
                        .map(|s| s as Arc<dyn RemoteService>),
                    self.external.is_broken(name),
                    self.external.groups_provider_names(),
                    "user_groups_providers",
                ),
            };
        let Some(service) = found else {
            if !broken {
                self.d.error(
                    name_node,
                    at.msg(format!("`{name}` names no {section} definition ({known})")),
                );
            }
            return None;
        };
        let key = (kind, name.to_string());
        let id = match self.remote_ids.get(&key) {
            Some(id) => *id,
            None => {
                let id = self.next_key_id;
                self.next_key_id += 1;
                self.remote_ids.insert(key, id);
                id
            }
        };
        Some((service, id))
    }
}
