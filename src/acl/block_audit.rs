//! A block's own audit settings: ReadonlyREST's block `audit:` and its legacy form
//! `verbosity:` (ReadonlyREST reference, section 2.4). No IO.
//!
//! Only data: whether the events of requests this block decides are audited, and to which
//! sinks. What the sinks are and how events reach them belongs to the audit layer, which
//! checks the names blocks reference against its configured outputs
//! ([`super::Acl::audit_sink_references`]).

/// ReadonlyREST's reserved sink name for its ACL log (here: the process log). Blocks may
/// name it whether or not any output is configured.
pub const DEFAULT_ACL_LOG_SINK: &str = "default_acl_log";

/// How the requests a block decides are audited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockAudit {
    /// `enabled: false`: no event from this block reaches any sink.
    pub enabled: bool,
    /// `false` (`verbosity: error`): allowed requests are neither logged nor audited;
    /// forbidden ones still are.
    pub log_allowed_events: bool,
    pub sinks: BlockSinks,
}

impl Default for BlockAudit {
    /// `verbosity: info`, or no `verbosity` and no `audit` at all.
    fn default() -> BlockAudit {
        BlockAudit {
            enabled: true,
            log_allowed_events: true,
            sinks: BlockSinks::All,
        }
    }
}

/// The sinks a block's events go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockSinks {
    /// Every configured sink (neither list written).
    All,
    /// `enabled_audit_sinks`: these sinks only.
    Only(Vec<String>),
    /// `disabled_audit_sinks`: every configured sink but these.
    Except(Vec<String>),
}

impl BlockSinks {
    /// Whether events go to the sink named `sink`.
    pub fn includes(&self, sink: &str) -> bool {
        match self {
            BlockSinks::All => true,
            BlockSinks::Only(names) => names.iter().any(|n| n == sink),
            BlockSinks::Except(names) => !names.iter().any(|n| n == sink),
        }
    }

    /// The sink names written in the block (either list).
    pub fn named(&self) -> &[String] {
        match self {
            BlockSinks::All => &[],
            BlockSinks::Only(names) | BlockSinks::Except(names) => names,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sinks_include_what_their_list_says() {
        let names = vec!["index".to_string(), DEFAULT_ACL_LOG_SINK.to_string()];
        assert!(BlockSinks::All.includes("anything"));
        assert!(BlockSinks::Only(names.clone()).includes("index"));
        assert!(!BlockSinks::Only(names.clone()).includes("other"));
        assert!(!BlockSinks::Except(names.clone()).includes(DEFAULT_ACL_LOG_SINK));
        assert!(BlockSinks::Except(names.clone()).includes("other"));
        assert!(BlockSinks::All.named().is_empty());
        assert_eq!(BlockSinks::Except(names.clone()).named(), &names[..]);
    }
}
