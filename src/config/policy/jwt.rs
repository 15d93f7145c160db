//! The `jwt:` definitions section and the rules that name its entries
//! (`jwt_authentication`, `jwt_auth`, `jwt_authorization`).
//!
//! ```yaml
//! jwt:
//! - name: jwt1
//!   signature_algo: RSA            # HMAC (the default), RSA or EC; NONE is refused
//!   signature_key: "${env:JWT_KEY}" # HMAC secret, or a PEM / base64 DER public key
//!   user_claim: preferred_username
//!   group_ids_claim: realm_access.roles   # aliases groups_claim, roles_claim
//!   header_name: Authorization     # default
//!   header_prefix: "Bearer "       # default
//! ```
//!
//! Startup variables in `signature_key` are replaced before this runs (the whole section
//! goes through `startup_variables`). A definition that does not compile is an error at its
//! own line; the rules that name it then report nothing more about it.

use super::{At, Decoder};
use crate::acl::groups::GroupsLogic;
use crate::acl::jwt::JwtRule;
use crate::acl::rule::{AuthRule, Rule};
use crate::auth::jwt::{ClaimPath, JwtClaims, JwtDefinition, SignatureFamily};
use crate::config::error::entries;
use crate::config::yaml::Node;
use std::sync::Arc;

const DEFINITION_KEYS: &[&str] = &[
    "name",
    "signature_algo",
    "signature_key",
    "user_claim",
    "group_ids_claim",
    "groups_claim",
    "roles_claim",
    "group_names_claim",
    "header_name",
    "header_prefix",
    "external_validator",
];

/// The compiled `jwt:` section.
#[derive(Debug, Default)]
pub(super) struct JwtDefinitions {
    compiled: Vec<Arc<JwtDefinition>>,
    /// Definitions with errors already reported.
    broken: Vec<String>,
}

impl JwtDefinitions {
    fn find(&self, name: &str) -> Option<&Arc<JwtDefinition>> {
        self.compiled.iter().find(|d| d.name == name)
    }

    fn names(&self) -> String {
        let names: Vec<&str> = self.compiled.iter().map(|d| d.name.as_str()).collect();
        if names.is_empty() {
            "the `jwt` section defines none".to_string()
        } else {
            format!("known: {}", names.join(", "))
        }
    }
}

/// Which JWT rule is being decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JwtRuleKind {
    Authentication,
    Auth,
    Authorization,
}

impl Decoder<'_> {
    pub(super) fn jwt_definitions(&mut self, node: &Node) {
        let Some(items) = node.as_seq() else {
            self.d.error(node, "readonlyrest.jwt must be a list");
            return;
        };
        for item in items {
            self.jwt_definition(item);
        }
    }

    fn jwt_definition(&mut self, item: &Node) {
        let errors_before = self.d.error_count();
        let section = "jwt entry";
        let mut name: Option<String> = None;
        let mut family = SignatureFamily::Hmac;
        let mut key: Option<(&str, &Node)> = None;
        let mut claims = JwtClaims::default();
        let mut group_ids_key: Option<&Node> = None;
        let mut none_algorithm = None;
        for (key_name, key_node, value) in entries(item, section, self.d) {
            let text = value.as_str().filter(|_| !value.is_null());
            match (key_name, text) {
                ("name", Some(text)) if !text.is_empty() => name = Some(text.to_string()),
                ("signature_algo", Some(text)) => match SignatureFamily::parse(text) {
                    Some(parsed) => family = parsed,
                    None if text.eq_ignore_ascii_case("none") => none_algorithm = Some(value),
                    None => self.d.error(
                        value,
                        format!("jwt entry: signature_algo `{text}` must be HMAC, RSA or EC"),
                    ),
                },
                ("signature_key", Some(text)) => key = Some((text, value)),
                ("user_claim", Some(text)) => claims.user_claim = self.claim_path(value, text),
                ("group_ids_claim" | "groups_claim" | "roles_claim", Some(text)) => {
                    if group_ids_key.replace(key_node).is_some() {
                        self.d.error(key_node, "jwt entry: group_ids_claim is given twice (its aliases are groups_claim and roles_claim)");
                    }
                    claims.group_ids_claim = self.claim_path(value, text);
                }
                // Group names only label groups in ReadonlyREST's Kibana plugin, which the
                // gateway does not serve: the path is checked, then has no use.
                ("group_names_claim", Some(text)) => {
                    self.claim_path(value, text);
                }
                ("header_name", Some(text)) if !text.trim().is_empty() => {
                    claims.header_name = Some(text.trim().to_string())
                }
                ("header_prefix", Some(text)) => claims.header_prefix = Some(text.to_string()),
                ("external_validator", _) => self.d.error(
                    key_node,
                    "jwt entry: external_validator is not supported by Ringfence (tokens are verified with signature_key only)",
                ),
                _ if DEFINITION_KEYS.contains(&key_name) => self.d.error(
                    value,
                    format!("jwt entry: {key_name} must be a non-empty string"),
                ),
                _ => self.d.unknown_key(key_node, section, DEFINITION_KEYS),
            }
        }
        let Some(name) = name else {
            self.d.error(item, "a jwt entry needs a `name`");
            return;
        };
        if let Some(node) = none_algorithm {
            self.d.error(
                node,
                format!("jwt `{name}`: signature_algo NONE is not supported: ReadonlyREST accepts unsigned tokens only with an external_validator, which Ringfence does not implement (use HMAC, RSA or EC)"),
            );
        }
        if self.jwt.find(&name).is_some() || self.jwt.broken.contains(&name) {
            self.d
                .error(item, format!("duplicate jwt definition name `{name}`"));
        }
        let Some((key_text, key_node)) = key else {
            if none_algorithm.is_none() {
                self.d
                    .error(item, format!("jwt `{name}`: needs `signature_key`"));
            }
            self.jwt.broken.push(name);
            return;
        };
        if self.d.error_count() > errors_before {
            self.jwt.broken.push(name);
            return;
        }
        self.next_key_id += 1;
        match JwtDefinition::new(name.clone(), self.next_key_id, family, key_text, claims) {
            Ok(definition) => self.jwt.compiled.push(Arc::new(definition)),
            Err(e) => {
                // The message never contains the key itself.
                self.d.error(key_node, format!("jwt `{name}`: {e}"));
                self.jwt.broken.push(name);
            }
        }
    }

    fn claim_path(&mut self, node: &Node, text: &str) -> Option<ClaimPath> {
        match ClaimPath::parse(text) {
            Ok(path) => Some(path),
            Err(e) => {
                self.d.error(node, format!("jwt entry: {e}"));
                None
            }
        }
    }

    /// `jwt_authentication`, `jwt_auth` or `jwt_authorization`: `name` or `{name, groups...}`.
    pub(super) fn jwt_rule(&mut self, at: At, value: &Node) -> Option<Rule> {
        let kind = match at.rule {
            "jwt_authentication" => JwtRuleKind::Authentication,
            "jwt_auth" => JwtRuleKind::Auth,
            _ => JwtRuleKind::Authorization,
        };
        let (name, name_node, groups) = if let Some(name) =
            value.as_str().filter(|_| !value.is_null())
        {
            (name.to_string(), value, None)
        } else {
            let mut name = None;
            let mut groups: Option<(GroupsLogic, &Node)> = None;
            for (key, key_node, v) in entries(value, at.rule, self.d) {
                let logic = match key {
                    "name" => {
                        match v.as_str().filter(|_| !v.is_null()) {
                            Some(text) => name = Some((text.to_string(), v)),
                            None => self.d.error(v, at.msg("name must be a string")),
                        }
                        continue;
                    }
                    _ if kind == JwtRuleKind::Authentication => {
                        self.d.unknown_key(key_node, at.rule, &["name"]);
                        continue;
                    }
                    _ => match self.groups_condition(at, key, v) {
                        Some(logic) => logic,
                        None => {
                            let known: Vec<&str> = ["name"]
                                .into_iter()
                                .chain(super::rule::GROUPS_KEYS.iter().copied())
                                .collect();
                            self.d.unknown_key(key_node, at.rule, &known);
                            continue;
                        }
                    },
                };
                if let Some(logic) = logic {
                    if groups.replace((logic, key_node)).is_some() {
                        self.d.error(
                            key_node,
                            at.msg("only one groups condition (use `groups: {any_of|all_of: [...], not_any_of|not_all_of: [...]}` to combine two)"),
                        );
                    }
                }
            }
            let Some((name, name_node)) = name else {
                self.d
                    .error(value, at.msg("needs `name` (a jwt definition)"));
                return None;
            };
            (name, name_node, groups)
        };
        if kind == JwtRuleKind::Authorization && groups.is_none() {
            self.d.error(
                value,
                at.msg("needs a groups condition (groups_any_of, groups_all_of, ...)"),
            );
            return None;
        }
        let Some(definition) = self.jwt.find(&name).cloned() else {
            if !self.jwt.broken.contains(&name) {
                let known = self.jwt.names();
                self.d.error(
                    name_node,
                    at.msg(format!("`{name}` names no jwt definition ({known})")),
                );
            }
            return None;
        };
        if kind != JwtRuleKind::Authorization && definition.user_claim.is_none() {
            self.d.error(
                name_node,
                at.msg(format!(
                    "jwt `{name}` has no user_claim, which authentication needs"
                )),
            );
            return None;
        }
        if let (Some((_, node)), None) = (&groups, &definition.group_ids_claim) {
            self.d.error(
                node,
                at.msg(format!(
                    "jwt `{name}` has no group_ids_claim, which a groups condition needs"
                )),
            );
            return None;
        }
        let rule = JwtRule {
            definition,
            groups: groups.map(|(logic, _)| logic),
            rule_name: match kind {
                JwtRuleKind::Authentication => "jwt_authentication",
                JwtRuleKind::Auth => "jwt_auth",
                JwtRuleKind::Authorization => "jwt_authorization",
            },
        };
        Some(match kind {
            JwtRuleKind::Authorization => Rule::JwtAuthorization(rule),
            _ => Rule::Auth(AuthRule::Jwt(rule)),
        })
    }
}
