//! The Elasticsearch-aware rules besides `indices` (see `acl::indices`): `actions`,
//! `repositories`, `snapshots`, `data_streams`, and what they all see of a request.
//!
//! They read what `es::route` and `es::target` derived from the request: the transport
//! action, the `_bulk` item operations, the repository, snapshot and data stream names. In
//! an allow block every name must be allowed (and every bulk item's action, when named
//! privileges are used); in a forbid block one is enough for the block to match. No IO.

use super::pattern::{Glob, ValuePattern};
use super::rule::{Outcome, Session};
use super::variable::Resolve;
use crate::es::body::BulkOp;
use crate::es::metadata::ClusterMetadata;
use crate::es::target::Targets;

/// What the Elasticsearch-aware rules see of a request.
#[derive(Debug, Clone, Copy)]
pub struct EsView<'a> {
    pub action: &'static str,
    /// The route has no known action: every `actions`/`indices` rule fails closed.
    pub unknown: bool,
    /// `None` while the body that names the indices has not been read yet.
    pub targets: Option<&'a Targets<'a>>,
    pub metadata: &'a ClusterMetadata,
}

/// Named privileges usable in `actions` as `@name` (X-Pack/Shield style), and the levels of
/// the older security plugin (READONLY, READWRITE, ALL, NONE as `@readonly`, ...).
pub fn privilege(name: &str) -> Option<&'static [&'static str]> {
    const READ: &[&str] = &[
        "indices:data/read/*",
        "indices:admin/mappings/fields/get*",
        "indices:admin/resolve/index",
    ];
    const VIEW_METADATA: &[&str] = &[
        "indices:admin/get",
        "indices:admin/aliases/get",
        "indices:admin/mappings/get",
        "indices:admin/mappings/fields/get*",
        "indices:monitor/settings/get",
        "indices:admin/resolve/index",
        "indices:admin/validate/query",
        "indices:admin/analyze",
    ];
    Some(match name {
        "read" => READ,
        "view_index_metadata" => VIEW_METADATA,
        "write" => &["indices:data/write/*"],
        "index" => &[
            "indices:data/write/index*",
            "indices:data/write/update*",
            "indices:data/write/bulk*",
        ],
        "create_doc" | "create" => &["indices:data/write/index*", "indices:data/write/bulk*"],
        "delete" => &["indices:data/write/delete*", "indices:data/write/bulk*"],
        "create_index" => &["indices:admin/create", "indices:admin/data_stream/create"],
        "delete_index" => &["indices:admin/delete", "indices:admin/data_stream/delete"],
        "monitor" => &["cluster:monitor/*", "indices:monitor/*"],
        "manage" => &["cluster:*", "indices:admin/*", "indices:monitor/*"],
        "all" => &["*"],
        "readonly" => &[
            "indices:data/read/*",
            "indices:admin/get",
            "indices:admin/aliases/get",
            "indices:admin/mappings/get",
            "indices:admin/mappings/fields/get*",
            "indices:admin/resolve/index",
            "indices:monitor/*",
            "cluster:monitor/*",
        ],
        "readwrite" => &[
            "indices:data/*",
            "indices:admin/get",
            "indices:admin/create",
            "indices:admin/aliases/get",
            "indices:admin/mappings/*",
            "indices:admin/resolve/index",
            "indices:admin/refresh*",
            "indices:monitor/*",
            "cluster:monitor/*",
        ],
        "none" => &[],
        _ => return None,
    })
}

/// The action a bulk item runs as (checked when a rule uses named privileges).
fn item_action(op: BulkOp) -> &'static str {
    match op {
        BulkOp::Index | BulkOp::Create => "indices:data/write/index",
        BulkOp::Update => "indices:data/write/update",
        BulkOp::Delete => "indices:data/write/delete",
    }
}

#[derive(Debug, Clone)]
pub struct ActionsRule {
    pub patterns: Vec<Glob>,
    /// Named privileges were used: each `_bulk` item's own action must match too.
    pub check_bulk_items: bool,
    /// In a forbid block one bulk item whose action matches is enough.
    pub forbid: bool,
}

impl ActionsRule {
    pub fn check<'r>(&self, es: Option<&EsView<'_>>) -> Outcome<'r> {
        let Some(es) = es else {
            return Outcome::NoMatch;
        };
        let allowed = |action: &str| self.patterns.iter().any(|p| p.matches(action));
        if es.unknown || !allowed(es.action) {
            return Outcome::NoMatch;
        }
        if self.check_bulk_items && es.action == "indices:data/write/bulk" {
            let Some(targets) = es.targets else {
                return Outcome::NeedsBody;
            };
            let mut items = targets.bulk_ops.iter().map(|op| allowed(item_action(*op)));
            let matched = if self.forbid {
                items.any(|item| item)
            } else {
                items.all(|item| item)
            };
            if !matched {
                return Outcome::NoMatch;
            }
        }
        Outcome::Match
    }
}

fn resolve(patterns: &[ValuePattern], from: &dyn Resolve) -> Vec<Glob> {
    let mut out = Vec::with_capacity(patterns.len());
    for pattern in patterns {
        match pattern {
            ValuePattern::Static(glob) => out.push(glob.clone()),
            ValuePattern::Dynamic(template, ignore_case) => out.extend(
                template
                    .resolve(from)
                    .iter()
                    .map(|p| Glob::with_case(p, *ignore_case)),
            ),
        }
    }
    out
}

/// `repositories`, `snapshots`, `data_streams`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    Repositories,
    Snapshots,
    DataStreams,
}

#[derive(Debug, Clone)]
pub struct NamesRule {
    pub kind: NameKind,
    pub patterns: Vec<ValuePattern>,
    /// In a forbid block the rule matches when any name could match a pattern.
    pub forbid: bool,
}

impl NamesRule {
    pub fn check<'r>(&self, s: &Session<'r>) -> Outcome<'r> {
        let Some(es) = s.req.es.as_ref() else {
            return Outcome::NoMatch;
        };
        // The targets wait for a body that names indices (snapshot creation and restore):
        // ask for it, as `indices` does, rather than refuse the request.
        let Some(targets) = es.targets else {
            return Outcome::NeedsBody;
        };
        let (names, all) = match self.kind {
            NameKind::Repositories => (&targets.repositories, targets.all_repositories),
            NameKind::Snapshots => (&targets.snapshots, targets.all_snapshots),
            NameKind::DataStreams => (&targets.data_streams, targets.all_data_streams),
        };
        let patterns = resolve(&self.patterns, s);
        let ok = if self.forbid {
            // Any name, or all of them, that could be one the block forbids.
            let overlaps = |n: &str| patterns.iter().any(|p| p.overlaps(n));
            names.is_empty() || all || names.iter().any(|n| overlaps(n))
        } else {
            // A request about no such names passes; one about all of them (GET /_snapshot)
            // needs a pattern covering `*`.
            let covered = |n: &str| patterns.iter().any(|p| p.contains_pattern(n));
            names.iter().all(|n| covered(n)) && (!all || covered("*"))
        };
        if ok {
            Outcome::Match
        } else {
            Outcome::NoMatch
        }
    }
}
