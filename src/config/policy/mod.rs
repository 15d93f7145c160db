//! The compile layer: a `readonlyrest:` YAML node in, a compiled [`Acl`] out, with every
//! mistake reported.
//!
//! Existing `readonlyrest.yml` files must load unchanged, so every spelling ReadonlyREST
//! accepts is accepted here (deprecated aliases included). Rules Ringfence does not
//! implement are errors, never silently ignored: a policy that loads is a policy that is
//! enforced as written. Errors name the block, the rule, the line and the column.
//!
//! ```text
//! readonlyrest: ─▶ startup_variables ─▶ compile (sections, settings, proxy_auth_configs)
//!                                          ├─ jwt       the `jwt:` definitions
//!                                          ├─ ldap      the `ldaps:` definitions
//!                                          ├─ external  external_authentication_service_configs,
//!                                          │            user_groups_providers
//!                                          ├─ users     the `users:` section
//!                                          └─ block     each access_control_rules entry
//!                                               ├─ rule     one rule key → acl::rule::Rule
//!                                               ├─ jwt      the JWT rules
//!                                               └─ kibana   the Kibana keys, merged
//! ```
//!
//! This layer owns the YAML; `acl` owns the compiled policy and its evaluation and never
//! sees a YAML node. Reading files is `config`'s job, not this module's.

mod block;
mod block_audit;
mod duration;
mod external;
mod jwt;
mod kibana;
mod ldap;
mod remote;
mod rule;
mod startup_variables;
mod users;

use crate::acl::block_audit::DEFAULT_ACL_LOG_SINK;
use crate::acl::network::HostName;
use crate::acl::{Acl, Mode, Settings};
use crate::audit::AuditSettings;
use crate::config::error::{entries, Diagnostics};
use crate::config::yaml::Node;
pub(crate) use duration::parse_duration;
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
    "ror_kbn",
    "impersonation",
    "variables_function_aliases",
    "ssl_internode",
];

/// Sections decoded elsewhere (`config::Config::load` reads `ssl` for the listeners): the
/// policy accepts them without a word.
const OTHER_SECTIONS: &[&str] = &["ssl"];

/// The audit keys of the section, decoded by `audit::decode`.
const AUDIT_KEYS: &[&str] = &[
    "audit",
    "audit_collector",
    "audit_serializer",
    "audit_index_template",
    "audit_cluster",
    "obfuscated_headers",
];

/// Replaces ReadonlyREST's startup variables (`${env:X}`, ...) in `node`, as the policy
/// compiler does for the whole section (for sections decoded outside it, such as `ssl`).
pub fn substitute_startup_variables(node: &mut Node, d: &mut Diagnostics) {
    startup_variables::substitute(node, d);
}

/// Compiles the `readonlyrest:` node. Errors go to `d`; the returned ACL is only used when
/// there were none.
pub fn compile(readonlyrest: &Node, d: &mut Diagnostics) -> Acl {
    compile_with_audit(readonlyrest, d).0
}

/// Compiles the `readonlyrest:` node into the ACL and the audit settings, and checks that
/// every sink a block names is a configured audit output.
pub fn compile_with_audit(readonlyrest: &Node, d: &mut Diagnostics) -> (Acl, AuditSettings) {
    let mut root = readonlyrest.clone();
    startup_variables::substitute(&mut root, d);
    let acl = compile_acl(&root, d);
    let audit = crate::audit::decode(&root, d);
    for (block, sink) in acl.audit_sink_references() {
        let known = sink == DEFAULT_ACL_LOG_SINK || audit.outputs.iter().any(|o| o.name == sink);
        if !known {
            let at = block_audit_node(&root, block).unwrap_or(&root);
            d.error(
                at,
                format!(
                    "block `{block}`: audit sink `{sink}` is not a configured audit output (known: {})",
                    audit
                        .outputs
                        .iter()
                        .map(|o| o.name.as_str())
                        .chain([DEFAULT_ACL_LOG_SINK])
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
    }
    (acl, audit)
}

/// The `audit` node of the block named `name`, for an error's position.
fn block_audit_node<'n>(root: &'n Node, name: &str) -> Option<&'n Node> {
    root.get("access_control_rules")?
        .as_seq()?
        .iter()
        .find(|block| block.get("name").and_then(Node::as_str) == Some(name))?
        .get("audit")
}

fn compile_acl(root: &Node, d: &mut Diagnostics) -> Acl {
    let mut decoder = Decoder::new(d);
    let mut mode = Mode::Enabled;
    let mut blocks_node = None;
    let mut users_node = None;
    let mut jwt_node = None;
    let mut ldap_node = None;
    let mut external_authentication_node = None;
    let mut groups_providers_node = None;
    for (key, key_node, value) in entries(root, "readonlyrest", decoder.d) {
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
            "jwt" => jwt_node = Some(value),
            "ldaps" => ldap_node = Some(value),
            "external_authentication_service_configs" => external_authentication_node = Some(value),
            "user_groups_providers" => groups_providers_node = Some(value),
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
            _ if AUDIT_KEYS.contains(&key) || OTHER_SECTIONS.contains(&key) => {}
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
                    "jwt",
                    "ldaps",
                    "external_authentication_service_configs",
                    "user_groups_providers",
                ]
                .into_iter()
                .chain(SETTINGS_KEYS.iter().copied())
                .chain(AUDIT_KEYS.iter().copied())
                .chain(OTHER_SECTIONS.iter().copied())
                .chain(IGNORED_SECTIONS.iter().copied())
                .collect();
                decoder.d.unknown_key(key_node, "readonlyrest", &known);
            }
        }
    }
    // Before the rules that name the definitions, wherever the section is in the file.
    if let Some(node) = jwt_node {
        decoder.jwt_definitions(node);
    }
    if let Some(node) = ldap_node {
        decoder.ldap_definitions(node);
    }
    if let Some(node) = external_authentication_node {
        decoder.external_authentication_definitions(node);
    }
    if let Some(node) = groups_providers_node {
        decoder.groups_provider_definitions(node);
    }
    let users = users_node.map(|n| decoder.users(n)).unwrap_or_default();
    let blocks = match blocks_node {
        Some(node) => decoder.blocks(node),
        None => {
            if mode == Mode::Enabled {
                decoder.d.warn(
                    root,
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
    /// Also numbers the `jwt` definitions (the per-core token cache keys by it).
    next_key_id: u32,
    duplicate_detection: bool,
    jwt: jwt::JwtDefinitions,
    ldap: ldap::LdapDefinitions,
    external: external::ExternalDefinitions,
    /// The numbers given to the identity services the rules name (by the same counter).
    remote_ids: HashMap<(remote::ServiceKind, String), u32>,
}

impl<'d> Decoder<'d> {
    fn new(d: &'d mut Diagnostics) -> Decoder<'d> {
        Decoder {
            d,
            settings: Settings::default(),
            proxy_configs: HashMap::new(),
            host_names: Vec::new(),
            next_key_id: 0,
            duplicate_detection: true,
            jwt: jwt::JwtDefinitions::default(),
            ldap: ldap::LdapDefinitions::default(),
            external: external::ExternalDefinitions::default(),
            remote_ids: HashMap::new(),
        }
    }
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
}
