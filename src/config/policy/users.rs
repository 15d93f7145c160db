//! The `users:` section: user definitions that blocks reach through `groups` rules.

use super::{At, Decoder};
use crate::acl::groups::{UserDef, UsersSection};
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
                    // Only a verified token names its user, and an entry is chosen by the
                    // user a request presents before anything is verified.
                    Some(Rule::Auth(AuthRule::Jwt(_))) => self.d.error(
                        key_node,
                        format!("{block}: `{key}` is not supported in the users section by Ringfence (use it in a block)"),
                    ),
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
