//! Decoding the Kibana rules of a block (`kibana` and its deprecated siblings) into one
//! [`KibanaRule`]; what the rule then matches is `acl::kibana`'s business.

use crate::acl::kibana::{KibanaAccess, KibanaIndex, KibanaRule, DEFAULT_KIBANA_INDEX};
use crate::acl::variable::Template;
use crate::config::error::{entries, Diagnostics};
use crate::config::yaml::{Node, NodeKind};

/// Every rule name this module decodes.
pub const RULE_NAMES: &[&str] = &[
    "kibana",
    "kibana_access",
    "kibana_index",
    "kibana_template_index",
    "kibana_hide_apps",
];

/// The Kibana rules of one block, gathered while the block's keys are read and merged into
/// one [`KibanaRule`] at the end (ReadonlyREST runs `kibana_index` before `kibana_access`
/// and lets the latter read the former, so they act as one rule).
#[derive(Default)]
pub struct KibanaKeys<'n> {
    /// The `kibana` key, if written.
    current: Option<&'n Node>,
    /// The deprecated keys written, with their key nodes.
    legacy: Vec<(&'n str, &'n Node)>,
    access: Option<KibanaAccess>,
    index: Option<KibanaIndex>,
    template_index: Option<KibanaIndex>,
    /// The first key whose value reads the authenticated user.
    needs_user: Option<&'n Node>,
    /// A key could not be decoded (its error is recorded); no rule is built.
    failed: bool,
}

/// `block `b`: rule `r`: message`, as the other rules' errors read.
fn msg(block: &str, rule: &str, message: impl std::fmt::Display) -> String {
    format!("block `{block}`: rule `{rule}`: {message}")
}

impl<'n> KibanaKeys<'n> {
    /// Reads one of [`RULE_NAMES`].
    pub fn add(
        &mut self,
        d: &mut Diagnostics,
        block: &str,
        key: &'n str,
        key_node: &'n Node,
        value: &'n Node,
    ) {
        let ok = match key {
            "kibana" => {
                self.current = Some(key_node);
                self.kibana(d, block, value)
            }
            "kibana_access" => {
                self.legacy.push((key, key_node));
                match access(d, block, key, value) {
                    Some(a) => {
                        self.access = Some(a);
                        true
                    }
                    None => false,
                }
            }
            "kibana_index" | "kibana_template_index" => {
                self.legacy.push((key, key_node));
                match index(d, block, key, value) {
                    Some(i) => {
                        if i.needs_user() {
                            self.needs_user.get_or_insert(key_node);
                        }
                        if key == "kibana_index" {
                            self.index = Some(i);
                        } else {
                            self.template_index = Some(i);
                        }
                        true
                    }
                    None => false,
                }
            }
            "kibana_hide_apps" => {
                self.legacy.push((key, key_node));
                // A non-empty list of application names or `/regex/`es; only ReadonlyREST's
                // Kibana plugin reads it.
                apps(d, block, key, value, false)
            }
            _ => {
                d.error(key_node, format!("block `{block}`: unknown rule `{key}`"));
                false
            }
        };
        self.failed |= !ok;
    }

    /// `kibana: {access, index, template_index, hide_apps, allowed_api_paths, metadata}`.
    fn kibana(&mut self, d: &mut Diagnostics, block: &str, value: &'n Node) -> bool {
        const KEYS: [&str; 6] = [
            "access",
            "index",
            "template_index",
            "hide_apps",
            "allowed_api_paths",
            "metadata",
        ];
        if value.as_map().is_none() {
            d.error(
                value,
                msg(
                    block,
                    "kibana",
                    format!("must be a mapping with `access` ({})", ACCESS_LEVELS),
                ),
            );
            return false;
        }
        let mut ok = true;
        let mut api_paths = None;
        let mut own_access = None;
        let section = format!("the kibana rule of block `{block}`");
        for (key, key_node, v) in entries(value, &section, d) {
            match key {
                "access" => match access(d, block, "kibana", v) {
                    Some(a) => own_access = Some(a),
                    None => ok = false,
                },
                "index" | "template_index" => match index(d, block, "kibana", v) {
                    Some(i) => {
                        if i.needs_user() {
                            self.needs_user.get_or_insert(key_node);
                        }
                        if key == "index" {
                            self.index = Some(i);
                        } else {
                            self.template_index = Some(i);
                        }
                    }
                    None => ok = false,
                },
                // Only ReadonlyREST's Kibana plugin reads these.
                "hide_apps" => ok &= apps(d, block, "kibana", v, true),
                "allowed_api_paths" => {
                    ok &= api_paths_valid(d, block, v);
                    api_paths = Some(key_node);
                }
                // Any YAML; handed to the Kibana plugin as JSON.
                "metadata" => {}
                _ => {
                    d.unknown_key(key_node, &section, &KEYS);
                    ok = false;
                }
            }
        }
        let Some(own_access) = own_access else {
            if value.get("access").is_none() {
                d.error(
                    value,
                    msg(block, "kibana", format!("needs `access` ({ACCESS_LEVELS})")),
                );
            }
            return false;
        };
        if let Some(node) = api_paths {
            if own_access != KibanaAccess::ApiOnly {
                d.error(
                    node,
                    msg(
                        block,
                        "kibana",
                        "`allowed_api_paths` can only be used with `access: api_only`",
                    ),
                );
                ok = false;
            }
        }
        self.access = Some(own_access);
        ok
    }

    /// The key that made the block read the authenticated user (`@{user}` in an index).
    pub fn needs_user(&self) -> Option<&'n Node> {
        self.needs_user
    }

    /// Validates the block's combination (`BlockValidator.validateKibanaRuleInContextOfOtherRules`)
    /// and builds the rule. `actions` is the block's `actions` key, if any.
    pub fn finish(
        self,
        d: &mut Diagnostics,
        block: &str,
        actions: Option<&Node>,
    ) -> Option<KibanaRule> {
        if self.current.is_none() && self.legacy.is_empty() {
            return None;
        }
        let mut ok = !self.failed;
        if self.current.is_some() {
            for (key, key_node) in &self.legacy {
                d.error(
                    key_node,
                    msg(block, key, "cannot be used together with the `kibana` rule in one block (it is deprecated; `kibana` offers everything it does)"),
                );
                ok = false;
            }
        }
        // Without an access level the legacy rules are `unrestricted` for this check.
        let access = self.access;
        if let Some(node) = actions {
            if !matches!(access, None | Some(KibanaAccess::Unrestricted)) {
                d.error(
                    node,
                    msg(block, "actions", "cannot be used together with a kibana rule in one block unless its access is `unrestricted`"),
                );
                ok = false;
            }
        }
        ok.then(|| KibanaRule {
            access,
            index: self
                .index
                .unwrap_or_else(|| KibanaIndex::Static(DEFAULT_KIBANA_INDEX.to_string())),
            template_index: self.template_index,
            legacy: self.current.is_none(),
        })
    }
}

const ACCESS_LEVELS: &str = "ro, ro_strict, rw, api_only, admin or unrestricted";

fn access(d: &mut Diagnostics, block: &str, rule: &str, value: &Node) -> Option<KibanaAccess> {
    let parsed = value
        .as_str()
        .filter(|_| !value.is_null())
        .and_then(parse_access);
    if parsed.is_none() {
        let found = value.as_str().unwrap_or_else(|| value.kind_name());
        d.error(
            value,
            msg(
                block,
                rule,
                format!("unknown kibana access `{found}` (expected {ACCESS_LEVELS})"),
            ),
        );
    }
    parsed
}

fn index(d: &mut Diagnostics, block: &str, rule: &str, value: &Node) -> Option<KibanaIndex> {
    let Some(text) = value.as_str().filter(|t| !value.is_null() && !t.is_empty()) else {
        d.error(
            value,
            msg(
                block,
                rule,
                "the Kibana index name must be a non-empty string",
            ),
        );
        return None;
    };
    match Template::parse(text, false) {
        Ok(template) => Some(match template.as_static() {
            Some(name) => KibanaIndex::Static(name.replace(' ', "_")),
            None => KibanaIndex::Dynamic(template),
        }),
        Err(e) => {
            d.error(value, msg(block, rule, e));
            None
        }
    }
}

/// `hide_apps`: a string or a list of non-empty strings (application names or `/regex/`).
fn apps(d: &mut Diagnostics, block: &str, rule: &str, value: &Node, may_be_empty: bool) -> bool {
    let items: Vec<&Node> = match &value.kind {
        NodeKind::Seq(items) => items.iter().collect(),
        NodeKind::Scalar { .. } if !value.is_null() => vec![value],
        _ => {
            d.error(
                value,
                msg(block, rule, "must be an application name or a list of them"),
            );
            return false;
        }
    };
    if items.is_empty() && !may_be_empty {
        d.error(value, msg(block, rule, "must not be empty"));
        return false;
    }
    let mut ok = true;
    for item in items {
        if !matches!(item.as_str(), Some(t) if !t.is_empty() && !item.is_null()) {
            d.error(
                item,
                msg(block, rule, "application names must be non-empty strings"),
            );
            ok = false;
        }
    }
    ok
}

/// `allowed_api_paths`: a list of path regexes (strings) or `{http_method, http_path}`.
fn api_paths_valid(d: &mut Diagnostics, block: &str, value: &Node) -> bool {
    let Some(items) = value.as_seq() else {
        d.error(
            value,
            msg(block, "kibana", "`allowed_api_paths` must be a list"),
        );
        return false;
    };
    let mut ok = true;
    for item in items {
        if item.as_map().is_some() {
            let mut method = false;
            let mut path = false;
            for (key, key_node, v) in entries(item, "allowed_api_paths entry", d) {
                match (key, v.as_str()) {
                    ("http_method", Some(m))
                        if matches!(
                            m.to_ascii_uppercase().as_str(),
                            "GET" | "POST" | "PUT" | "DELETE"
                        ) =>
                    {
                        method = true
                    }
                    ("http_method", _) => {
                        d.error(
                            v,
                            msg(
                                block,
                                "kibana",
                                "http_method must be GET, POST, PUT or DELETE",
                            ),
                        );
                        ok = false;
                    }
                    ("http_path", Some(p)) if !p.is_empty() && !v.is_null() => path = true,
                    ("http_path", _) => {
                        d.error(
                            v,
                            msg(block, "kibana", "http_path must be a non-empty string"),
                        );
                        ok = false;
                    }
                    _ => {
                        d.unknown_key(
                            key_node,
                            "allowed_api_paths entry",
                            &["http_method", "http_path"],
                        );
                        ok = false;
                    }
                }
            }
            if !(method && path) && ok {
                d.error(
                    item,
                    msg(
                        block,
                        "kibana",
                        "an allowed_api_paths entry needs `http_method` and `http_path`",
                    ),
                );
                ok = false;
            }
        } else if !matches!(item.as_str(), Some(t) if !t.is_empty() && !item.is_null()) {
            d.error(
                item,
                msg(
                    block,
                    "kibana",
                    "allowed_api_paths items must be non-empty strings or {http_method, http_path}",
                ),
            );
            ok = false;
        }
    }
    ok
}

fn parse_access(text: &str) -> Option<KibanaAccess> {
    Some(match text.to_ascii_lowercase().as_str() {
        "ro" => KibanaAccess::Ro,
        "ro_strict" => KibanaAccess::RoStrict,
        "rw" => KibanaAccess::Rw,
        "admin" => KibanaAccess::Admin,
        "api_only" => KibanaAccess::ApiOnly,
        "unrestricted" => KibanaAccess::Unrestricted,
        _ => return None,
    })
}
