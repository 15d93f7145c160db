//! The `users:` section: user definitions that blocks reach through `groups` rules.
//!
//! An entry has one authentication rule, and may add an authorization rule that asks an
//! identity service for the user's groups (`ldap_authorization`,
//! `groups_provider_authorization`); with external groups (that rule, or `ldap_auth`) its
//! `groups` may map them to local ones:
//!
//! ```yaml
//! - username: "*"
//!   groups:
//!   - devops: ["ldap_role_ops", "ldap_*_devops"]          # local: [external patterns]
//!   - local_group: {id: developers, name: Developers}
//!     external_group_ids: ["ldap_role_dev"]
//!   ldap_auth: {name: ldap1, groups_any_of: ["ldap_*"]}
//! ```

use super::{At, Decoder};
use crate::acl::groups::{GroupMapping, LocalGroups, UserDef, UsersSection};
use crate::acl::pattern::Glob;
use crate::acl::rule::{AuthRule, Rule};
use crate::config::error::entries;
use crate::config::yaml::Node;
use std::collections::HashMap;

impl Decoder<'_> {
    pub(super) fn users(&mut self, node: &Node) -> UsersSection {
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
        let mut groups = LocalGroups::Fixed(Vec::new());
        let mut auth: Option<(AuthRule, &Node)> = None;
        let mut authorization = None;
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
                    // Only a verified token names its user, and an entry is chosen by the
                    // user a request presents before anything is verified.
                    Some(Rule::Auth(AuthRule::Jwt(_))) => self.d.error(
                        key_node,
                        format!("{block}: `{key}` is not supported in the users section by Ringfence (use it in a block)"),
                    ),
                    Some(Rule::RemoteGroups(_)) if authorization.is_some() => {
                        self.d.error(
                            key_node,
                            format!("{block}: at most one authorization rule is allowed"),
                        );
                    }
                    Some(Rule::RemoteGroups(rule)) => authorization = Some(rule),
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
        let Some((mut auth, auth_node)) = auth else {
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
        if let LocalGroups::Mapped(_) = groups {
            match &mut auth {
                // The service's groups are what the mapping reads: ask for them.
                // (Its groups condition already required a group search.)
                AuthRule::Remote(rule) if rule.rule_name == "ldap_auth" => rule.with_groups = true,
                _ if authorization.is_some() => {}
                _ => self.d.error(node, format!("{block}: mapping groups to external ones needs external groups: use ldap_auth, or add ldap_authorization or groups_provider_authorization")),
            }
        }
        Some(UserDef {
            usernames,
            groups,
            auth,
            authorization,
        })
    }

    /// `groups: [g1, g2]` or `[{id: g1, name: "Group 1"}]` (fixed), or a mapping from
    /// external groups: `[{local: [external, ...]}]` or
    /// `[{local_group: {id, name}, external_group_ids: [...]}]`. One entry uses one form.
    fn local_groups(&mut self, at: At, value: &Node) -> LocalGroups {
        let Some(items) = value.as_seq() else {
            self.d.error(value, at.msg("must be a list"));
            return LocalGroups::Fixed(Vec::new());
        };
        let mut fixed = Vec::new();
        let mut mapped = Vec::new();
        for item in items {
            if let Some(id) = item.as_str().filter(|_| !item.is_null()) {
                fixed.push(id.to_string());
            } else if let (Some(id), None) = (
                item.get("id").and_then(Node::as_str),
                item.get("external_group_ids"),
            ) {
                fixed.push(id.to_string());
            } else if let Some(mapping) = self.group_mapping(at, item) {
                mapped.push(mapping);
            }
        }
        match (fixed.is_empty(), mapped.is_empty()) {
            (_, true) => LocalGroups::Fixed(fixed),
            (true, false) => LocalGroups::Mapped(mapped),
            (false, false) => {
                self.d.error(
                    value,
                    at.msg("either group ids or mappings to external groups, not both"),
                );
                LocalGroups::Fixed(fixed)
            }
        }
    }

    /// `{local: [external patterns]}` or `{local_group: {id, name}, external_group_ids: [...]}`.
    fn group_mapping(&mut self, at: At, item: &Node) -> Option<GroupMapping> {
        let (local, external) = match (item.get("local_group"), item.get("external_group_ids")) {
            (Some(local), Some(external)) => {
                let id = local
                    .get("id")
                    .and_then(Node::as_str)
                    .or_else(|| local.as_str());
                let Some(id) = id else {
                    self.d.error(local, at.msg("local_group needs an `id`"));
                    return None;
                };
                (id.to_string(), external)
            }
            _ => match item.as_map() {
                Some([(key, external)]) => match key.as_str() {
                    Some(local) => (local.to_string(), external),
                    None => {
                        self.d
                            .error(key, at.msg("a local group id must be a string"));
                        return None;
                    }
                },
                _ => {
                    self.d.error(item, at.msg("a group is an id, `{id, name}`, `{local: [external groups]}` or `{local_group: {id, name}, external_group_ids: [...]}`"));
                    return None;
                }
            },
        };
        let external = self
            .strings(at, external)?
            .into_iter()
            .map(|(text, _)| Glob::new(&text))
            .collect();
        Some(GroupMapping { local, external })
    }
}
