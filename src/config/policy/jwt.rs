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
//! - name: idp                      # Ringfence extensions (ReadonlyREST has none of these):
//!   signature_algo: RSA            # RSA or EC with a key set
//!   jwks_url: https://idp.example.com/.well-known/jwks.json   # or jwks_file: /etc/jwks.json
//!   jwks_refresh: 5 min            # jwks_url only; the default
//!   audience: es-gateway           # or a list: `aud` must hold one of them
//!   issuer: "https://idp.example.com/"   # or a list: `iss` must be one of them
//!   user_claim: sub
//! ```
//!
//! Startup variables in `signature_key` are replaced before this runs (the whole section
//! goes through `startup_variables`). A definition that does not compile is an error at its
//! own line; the rules that name it then report nothing more about it.
//!
//! Exactly one of `signature_key`, `jwks_file` and `jwks_url`. A `jwks_file` (relative to
//! the policy file's folder) is read here, so an unreadable or unusable one is an error at
//! its line, and it is read again whenever the policy reloads (SIGHUP, or the watched file
//! changing): that is how a file's keys rotate. A `jwks_url` is only checked here; nothing
//! is fetched and no thread starts until a token needs its keys (`auth::jwt::fetcher`).

use super::{At, Decoder};
use crate::acl::groups::GroupsLogic;
use crate::acl::jwt::JwtRule;
use crate::acl::rule::{AuthRule, Rule};
use crate::auth::jwt::fetcher::{
    Fetcher, DEFAULT_JWKS_REFRESH, MAX_JWKS_REFRESH, MIN_JWKS_REFRESH,
};
use crate::auth::jwt::jwks::KeySet;
use crate::auth::jwt::{ClaimPath, JwksSource, JwtClaims, JwtDefinition, SignatureFamily};
use crate::config::error::entries;
use crate::config::yaml::Node;
use std::sync::Arc;
use std::time::Duration;

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
    "jwks_file",
    "jwks_url",
    "jwks_refresh",
    "audience",
    "issuer",
];

/// Where a definition's keys come from, as written.
enum KeyText<'n> {
    SignatureKey(&'n str),
    JwksFile(&'n str),
    JwksUrl(&'n str),
}

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
        let mut key: Option<(KeyText, &Node)> = None;
        let mut key_sources: Vec<&Node> = Vec::new();
        let mut refresh: Option<(Duration, &Node)> = None;
        let mut family_node: Option<&Node> = None;
        let mut url_written = false;
        let mut claims = JwtClaims::default();
        let mut group_ids_key: Option<&Node> = None;
        let mut none_algorithm = None;
        for (key_name, key_node, value) in entries(item, section, self.d) {
            let text = value.as_str().filter(|_| !value.is_null());
            match (key_name, text) {
                ("name", Some(text)) if !text.is_empty() => name = Some(text.to_string()),
                ("signature_algo", Some(text)) => match SignatureFamily::parse(text) {
                    Some(parsed) => {
                        family = parsed;
                        family_node = Some(value);
                    }
                    None if text.eq_ignore_ascii_case("none") => none_algorithm = Some(value),
                    None => self.d.error(
                        value,
                        format!("jwt entry: signature_algo `{text}` must be HMAC, RSA or EC"),
                    ),
                },
                ("signature_key", Some(text)) => {
                    key_sources.push(key_node);
                    key = Some((KeyText::SignatureKey(text), value));
                }
                ("jwks_file", Some(text)) if !text.trim().is_empty() => {
                    key_sources.push(key_node);
                    key = Some((KeyText::JwksFile(text.trim()), value));
                }
                ("jwks_url", Some(text)) => {
                    key_sources.push(key_node);
                    url_written = true;
                    if let Some(url) = self.jwks_url(value, text) {
                        key = Some((KeyText::JwksUrl(url), value));
                    }
                }
                ("jwks_refresh", _) => refresh = self.jwks_refresh(value).map(|r| (r, key_node)),
                ("audience", _) => claims.audience = self.jwt_texts(value, key_name),
                ("issuer", _) => claims.issuer = self.jwt_texts(value, key_name),
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
        if let [_, second, ..] = key_sources[..] {
            self.d.error(
                second,
                format!("jwt `{name}`: give exactly one of signature_key, jwks_file and jwks_url"),
            );
        }
        if let (Some((_, node)), false) = (refresh, url_written) {
            self.d
                .error(node, format!("jwt `{name}`: jwks_refresh needs jwks_url"));
        }
        let Some((key_text, key_node)) = key else {
            if none_algorithm.is_none() && key_sources.is_empty() {
                self.d.error(
                    item,
                    format!("jwt `{name}`: needs `signature_key` (or, beyond ReadonlyREST, `jwks_file` or `jwks_url`)"),
                );
            }
            self.jwt.broken.push(name);
            return;
        };
        if !matches!(key_text, KeyText::SignatureKey(_)) && family == SignatureFamily::Hmac {
            self.d.error(
                family_node.unwrap_or(key_node),
                format!("jwt `{name}`: a key set (jwks_file, jwks_url) needs signature_algo RSA or EC: shared HMAC secrets (`oct` keys) from a key set are not supported"),
            );
        }
        if self.d.error_count() > errors_before {
            self.jwt.broken.push(name);
            return;
        }
        let id = self.next_key_id + 1;
        let compiled = match key_text {
            KeyText::SignatureKey(text) => {
                JwtDefinition::new(name.clone(), id, family, text, claims)
                    // The message never contains the key itself.
                    .map_err(|e| e.to_string())
            }
            KeyText::JwksFile(path) => self.jwks_file(path, family).map(|set| {
                JwtDefinition::with_jwks(name.clone(), id, family, JwksSource::File(set), claims)
            }),
            KeyText::JwksUrl(url) => {
                let refresh = refresh.map_or(DEFAULT_JWKS_REFRESH, |(r, _)| r);
                let fetcher = Fetcher::new(name.clone(), url.to_string(), refresh, family);
                Ok(JwtDefinition::with_jwks(
                    name.clone(),
                    id,
                    family,
                    JwksSource::Url(fetcher),
                    claims,
                ))
            }
        };
        match compiled {
            Ok(definition) => {
                self.next_key_id = id;
                self.jwt.compiled.push(Arc::new(definition));
            }
            Err(e) => {
                self.d.error(key_node, format!("jwt `{name}`: {e}"));
                self.jwt.broken.push(name);
            }
        }
    }

    /// The usable keys of the JWK Set in the file at `path` (relative: to the policy
    /// file's folder), or why there are none.
    fn jwks_file(&self, path: &str, family: SignatureFamily) -> Result<KeySet, String> {
        let base = self.d.file().parent().unwrap_or(std::path::Path::new(""));
        let full = base.join(path);
        let bytes = std::fs::read(&full)
            .map_err(|e| format!("jwks_file `{}` cannot be read: {e}", full.display()))?;
        KeySet::parse(&bytes, family).map_err(|e| format!("jwks_file `{}` {e}", full.display()))
    }

    /// A `jwks_url`: an absolute `http` or `https` URL with a host.
    fn jwks_url<'t>(&mut self, node: &Node, text: &'t str) -> Option<&'t str> {
        let url = text.trim();
        let parsed = url.parse::<ureq::http::Uri>().ok();
        let fits = parsed.as_ref().is_some_and(|uri| {
            let scheme = uri.scheme_str().map(str::to_ascii_lowercase);
            matches!(scheme.as_deref(), Some("http" | "https"))
                && uri.host().is_some_and(|h| !h.is_empty())
        });
        if !fits {
            self.d.error(
                node,
                "jwt entry: jwks_url must be an absolute http:// or https:// URL",
            );
            return None;
        }
        let plain_remote = parsed.as_ref().is_some_and(|uri| {
            uri.scheme_str()
                .is_some_and(|s| s.eq_ignore_ascii_case("http"))
                && !matches!(uri.host(), Some("127.0.0.1" | "localhost" | "[::1]"))
        });
        if plain_remote {
            self.d.warn(
                node,
                "jwt entry: jwks_url over plain http: anyone on the path can hand the gateway keys of their own and forge tokens; use https",
            );
        }
        Some(url)
    }

    /// `jwks_refresh`: a duration (`5 min`, `30 sec`, `60`) within the accepted bounds.
    fn jwks_refresh(&mut self, node: &Node) -> Option<Duration> {
        let refresh = node
            .as_str()
            .filter(|_| !node.is_null())
            .and_then(crate::config::policy::parse_duration);
        match refresh {
            Some(r) if (MIN_JWKS_REFRESH..=MAX_JWKS_REFRESH).contains(&r) => Some(r),
            _ => {
                self.d.error(
                    node,
                    format!(
                        "jwt entry: jwks_refresh must be a duration from {} s to {} s, such as `5 min`, `30 sec` or `60` (seconds)",
                        MIN_JWKS_REFRESH.as_secs(),
                        MAX_JWKS_REFRESH.as_secs()
                    ),
                );
                None
            }
        }
    }

    /// `audience` or `issuer`: one non-empty string or a non-empty list of them.
    fn jwt_texts(&mut self, node: &Node, key: &str) -> Vec<String> {
        let text = |n: &Node| {
            n.as_str()
                .filter(|t| !n.is_null() && !t.is_empty())
                .map(str::to_string)
        };
        let texts: Option<Vec<String>> = match node.as_seq() {
            Some(items) if !items.is_empty() => items.iter().map(text).collect(),
            Some(_) => None,
            None => text(node).map(|t| vec![t]),
        };
        texts.unwrap_or_else(|| {
            self.d.error(
                node,
                format!("jwt entry: {key} must be a non-empty string or a list of them"),
            );
            Vec::new()
        })
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
