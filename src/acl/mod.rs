//! The compiled access-control list and its decisions (no IO).
//!
//! This is the placeholder the gateway core is built around: `enable: false` allows
//! everything, an empty `access_control_rules` denies everything. The ReadonlyREST rule
//! engine replaces the inside of [`Acl`] without changing how the proxy calls it.

use crate::config::error::{entries, Diagnostics};
use crate::config::yaml::Node;

/// ROR's default forbidden message (`GlobalSettings.defaultForbiddenRequestMessage`).
pub const DEFAULT_FORBIDDEN_MESSAGE: &str = "Forbidden by ReadonlyREST";

/// A compiled policy. Immutable once built; shared by all workers through a `Snapshot`.
#[derive(Debug)]
pub struct Acl {
    enabled: bool,
}

/// What the ACL says about one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Forbid {
        reason: String,
        due_to: &'static str,
    },
}

impl Acl {
    /// Compiles the `readonlyrest:` section.
    pub fn compile(readonlyrest: &Node, d: &mut Diagnostics) -> Acl {
        let mut enabled = true;
        for (key, key_node, value) in entries(readonlyrest, "readonlyrest", d) {
            match key {
                "enable" => match value.as_bool() {
                    Some(flag) => enabled = flag,
                    None => d.error(value, "readonlyrest.enable must be true or false"),
                },
                "access_control_rules" => {
                    if value.as_seq().is_none_or(|blocks| !blocks.is_empty()) {
                        d.error(value, "access control blocks are not supported yet");
                    }
                }
                _ => d.unknown_key(
                    key_node,
                    "readonlyrest",
                    &["enable", "access_control_rules"],
                ),
            }
        }
        Acl { enabled }
    }

    /// Decides one request.
    pub fn evaluate(&self) -> Decision {
        if self.enabled {
            Decision::Forbid {
                reason: DEFAULT_FORBIDDEN_MESSAGE.to_string(),
                due_to: "OPERATION_NOT_ALLOWED",
            }
        } else {
            Decision::Allow
        }
    }
}
