//! A block's `verbosity` (legacy) or `audit` key → [`BlockAudit`] (ReadonlyREST reference,
//! section 2.4). Only the shape is checked here; whether the sink names exist is for the
//! audit layer to say, through `Acl::audit_sink_references`.

use super::Decoder;
use crate::acl::{BlockAudit, BlockSinks};
use crate::config::error::entries;
use crate::config::yaml::Node;

#[cfg(test)]
mod tests;

const AUDIT_KEYS: &[&str] = &[
    "enabled",
    "log_allowed_events",
    "enabled_audit_sinks",
    "disabled_audit_sinks",
];

/// A block's `verbosity` and `audit` keys as written: `(key node, value node)` each.
#[derive(Default)]
pub(super) struct AuditKeys<'n> {
    pub(super) verbosity: Option<(&'n Node, &'n Node)>,
    pub(super) audit: Option<(&'n Node, &'n Node)>,
}

impl Decoder<'_> {
    /// The block's audit settings; the defaults when neither key is written.
    pub(super) fn block_audit(&mut self, block: &str, keys: AuditKeys) -> BlockAudit {
        match (keys.verbosity, keys.audit) {
            (None, None) => BlockAudit::default(),
            (Some((_, value)), None) => self.verbosity(block, value),
            (None, Some((_, value))) => self.audit(block, value),
            (Some((verbosity_key, _)), Some((audit_key, _))) => {
                // Point at whichever comes second: that is the key to delete.
                let position = |key: &Node| (key.mark.line, key.mark.col);
                let later = if position(audit_key) > position(verbosity_key) {
                    audit_key
                } else {
                    verbosity_key
                };
                self.d.error(
                    later,
                    format!("block `{block}`: `verbosity` and `audit` cannot be used together (`verbosity: error` is the legacy spelling of `audit: {{log_allowed_events: false}}`)"),
                );
                BlockAudit::default()
            }
        }
    }

    fn verbosity(&mut self, block: &str, value: &Node) -> BlockAudit {
        let log_allowed_events = match value.as_str() {
            Some("info") => true,
            Some("error") => false,
            _ => {
                self.d.error(
                    value,
                    format!("block `{block}`: verbosity must be info or error"),
                );
                true
            }
        };
        BlockAudit {
            log_allowed_events,
            ..BlockAudit::default()
        }
    }

    /// `audit: {enabled, log_allowed_events, enabled_audit_sinks | disabled_audit_sinks}`.
    fn audit(&mut self, block: &str, value: &Node) -> BlockAudit {
        let mut audit = BlockAudit::default();
        if value.as_map().is_none() {
            self.d.error(
                value,
                format!(
                    "block `{block}`: audit must be a mapping ({})",
                    AUDIT_KEYS.join(", ")
                ),
            );
            return audit;
        }
        let section = format!("the audit settings of block `{block}`");
        let mut sinks_key: Option<&Node> = None;
        for (key, key_node, v) in entries(value, &section, self.d) {
            match key {
                "enabled" | "log_allowed_events" => match v.as_bool() {
                    Some(flag) if key == "enabled" => audit.enabled = flag,
                    Some(flag) => audit.log_allowed_events = flag,
                    None => self.d.error(
                        v,
                        format!("block `{block}`: audit.{key} must be true or false"),
                    ),
                },
                "enabled_audit_sinks" | "disabled_audit_sinks" => {
                    if sinks_key.is_some() {
                        self.d.error(
                            key_node,
                            format!("block `{block}`: audit takes enabled_audit_sinks or disabled_audit_sinks, not both"),
                        );
                        continue;
                    }
                    sinks_key = Some(key_node);
                    let Some(names) = self.sink_names(block, key, v) else {
                        continue;
                    };
                    audit.sinks = if key == "enabled_audit_sinks" {
                        BlockSinks::Only(names)
                    } else {
                        BlockSinks::Except(names)
                    };
                }
                _ => self.d.unknown_key(key_node, &section, AUDIT_KEYS),
            }
        }
        audit
    }

    /// A non-empty list of non-empty sink names.
    fn sink_names(&mut self, block: &str, key: &str, value: &Node) -> Option<Vec<String>> {
        let message = format!("block `{block}`: audit.{key} must be a non-empty list of sink names (outputs[].name or default_acl_log)");
        let Some(items) = value.as_seq().filter(|items| !items.is_empty()) else {
            self.d.error(value, message);
            return None;
        };
        let mut names = Vec::with_capacity(items.len());
        for item in items {
            match item.as_str() {
                Some(name) if !item.is_null() && !name.is_empty() => names.push(name.to_string()),
                _ => self.d.error(item, message.clone()),
            }
        }
        (names.len() == items.len()).then_some(names)
    }
}
