//! The Elasticsearch-aware rules: `actions`, `indices`, `repositories`, `snapshots`,
//! `data_streams`.
//!
//! They read what `es::route` and `es::target` derived from the request: the transport
//! action and every index expression with its access. Reads that name some forbidden
//! indices are narrowed to the allowed ones (wildcards and aliases expanded against the
//! cluster metadata), reads that name only forbidden ones look like a missing index, writes
//! must be allowed for every index. No IO.
//!
//! Cost: each name a request carries is checked against the policy's patterns and, when a
//! wildcard or alias is expanded, against the cluster's names; neither grows with the request,
//! so the work is linear in it. The one product of two request-sized lists, wildcard
//! exclusions against the names a path lists, is bounded by `MAX_EXCLUSION_WORK`.

use super::pattern::{Glob, ValuePattern};
use super::rule::{Outcome, Session};
use super::variable::Resolve;
use crate::es::body::BulkOp;
use crate::es::index_name::IndexExpr;
use crate::es::metadata::ClusterMetadata;
use crate::es::target::{Access, Targets};
use ahash::AHashSet;

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
            if !targets.bulk_ops.iter().all(|op| allowed(item_action(*op))) {
                return Outcome::NoMatch;
            }
        }
        Outcome::Match
    }
}

#[derive(Debug, Clone)]
pub struct IndicesRule {
    pub patterns: Vec<ValuePattern>,
    pub must_involve_indices: bool,
    /// The Kibana index of a Kibana rule in the same block: requests that name only
    /// Kibana indices pass as written (`BaseIndicesProcessor.allKibanaRelatedIndicesMatched`).
    pub kibana: Option<super::kibana::KibanaIndex>,
}

impl IndicesRule {
    pub fn needs_user(&self) -> bool {
        self.patterns.iter().any(ValuePattern::needs_user)
    }

    pub fn check<'r>(&self, s: &Session<'r>) -> Outcome<'r> {
        let Some(es) = s.req.es.as_ref() else {
            return Outcome::NoMatch;
        };
        if es.unknown {
            return Outcome::NoMatch;
        }
        let Some(targets) = es.targets else {
            return Outcome::NeedsBody;
        };
        if !targets.involves_indices() {
            return if self.must_involve_indices {
                Outcome::NoMatch
            } else {
                Outcome::Match
            };
        }
        if targets.opaque_indices {
            return Outcome::NoMatch;
        }
        if self.kibana.as_ref().is_some_and(|k| k.covers(targets, s)) {
            return Outcome::Match;
        }
        let patterns = resolve(&self.patterns, s);
        let allowed = |name: &str| patterns.iter().any(|p| p.matches(name));
        let covered = |expr: &str| patterns.iter().any(|p| p.contains_pattern(expr));

        // Writes: every index must be allowed as written; nothing is expanded or narrowed.
        let writes_ok = targets
            .indices
            .iter()
            .filter(|i| i.access == Access::Write)
            .all(|i| covered(&i.name));
        if !writes_ok || (targets.all_indices && !targets.narrowable && !covered("*")) {
            return Outcome::NoMatch;
        }
        // Reads: keep what is allowed, expanding wildcards and aliases that are not.
        let mut kept = Kept::default();
        let mut exclusions = Exclusions::default();
        // Bytes of the concrete names the path lists and keeps as written.
        let mut written_bytes = 0usize;
        let mut changed = false;
        let mut after_wildcard = false;
        let requested = targets
            .indices
            .iter()
            .filter(|i| i.access == Access::Read)
            .map(|i| i.name.as_ref())
            .chain(targets.all_indices.then_some("*"));
        for name in requested {
            let expr = IndexExpr::parse(name);
            // Elasticsearch reads `-x` as an exclusion only after a wildcard item.
            if expr.exclusion && after_wildcard {
                exclusions.add(expr.name);
                kept.push(name);
                continue;
            }
            after_wildcard |= expr.wildcard || expr.is_all();
            if covered(name) {
                if kept.push(name) && !expr.wildcard && !expr.exclusion {
                    written_bytes += name.len();
                }
                continue;
            }
            if !targets.narrowable {
                // Indices named in a body (msearch, mget) are not rewritten: fail closed, and
                // before expanding anything (body names x cluster names would be wasted work).
                return Outcome::NoMatch;
            }
            changed = true;
            if expr.remote.is_some() || expr.date_math {
                continue; // cannot be expanded here; dropped unless allowed as written
            }
            narrow(
                name,
                expr.wildcard || expr.is_all(),
                es.metadata,
                &allowed,
                &mut kept,
            );
        }
        if !changed {
            return Outcome::Match;
        }
        if exclusions.wildcard_bytes.saturating_mul(written_bytes) > MAX_EXCLUSION_WORK {
            return Outcome::NoMatch;
        }
        // Exclusions are applied here to the concrete names the expansion produced. They stay
        // in the list only while a wildcard still precedes them; after concrete names alone
        // Elasticsearch would read `-x` as an index name. (Whether a name is kept depends on
        // the name alone, so filtering the deduplicated list keeps the same first occurrences
        // as deduplicating the filtered one.)
        let mut kept = kept.names;
        let keeps_wildcard = kept.iter().any(|k| {
            let expr = IndexExpr::parse(k);
            expr.wildcard && !expr.exclusion
        });
        kept.retain(|k| {
            let expr = IndexExpr::parse(k);
            let excluded = !expr.wildcard && !expr.exclusion && exclusions.matches(k);
            (!expr.exclusion || keeps_wildcard) && !excluded
        });
        if kept.iter().all(|k| IndexExpr::parse(k).exclusion) {
            return Outcome::IndexNotFound;
        }
        Outcome::Narrowed(kept.into_iter().map(str::to_string).collect())
    }
}

/// The names a narrowed read keeps, each once, in the order they were first found. A wildcard
/// repeated in the path, or expansions that overlap, add nothing: the list never grows past
/// the distinct requested and cluster names, so work on it stays linear in the request.
#[derive(Default)]
struct Kept<'n> {
    names: Vec<&'n str>,
    seen: AHashSet<&'n str>,
}

impl<'n> Kept<'n> {
    /// Adds `name` unless it is there already; true if it was new.
    fn push(&mut self, name: &'n str) -> bool {
        let new = self.seen.insert(name);
        if new {
            self.names.push(name);
        }
        new
    }
}

/// How much matching the wildcard exclusions of one narrowed read may cost against the
/// concrete names its path lists: the bytes of the one times the bytes of the other, a bound on
/// the steps of matching every pair (`Glob::matches` is O(pattern x name)). Both sides come from
/// the request, and matching many wildcard patterns against many names is quadratic in general,
/// so unbounded this would be quadratic in the path (a 16 KiB path: ~10^8 steps). Real reads
/// carry a handful of short exclusions; past the bound the block does not match (fail closed).
const MAX_EXCLUSION_WORK: usize = 1 << 20;

/// The `-x` items of a read. Literal names are looked up in a set, so any number of them costs
/// O(1) a name; wildcard exclusions are matched one by one (each distinct pattern once, within
/// `MAX_EXCLUSION_WORK`).
#[derive(Default)]
struct Exclusions<'n> {
    literal: AHashSet<&'n str>,
    wildcard: Vec<Glob>,
    wildcard_texts: AHashSet<&'n str>,
    /// Bytes of the distinct wildcard exclusions.
    wildcard_bytes: usize,
}

impl<'n> Exclusions<'n> {
    fn add(&mut self, name: &'n str) {
        let glob = Glob::new(name);
        if glob.is_literal() {
            self.literal.insert(name);
        } else if self.wildcard_texts.insert(name) {
            self.wildcard_bytes += name.len();
            self.wildcard.push(glob);
        }
    }

    fn matches(&self, name: &str) -> bool {
        self.literal.contains(name) || self.wildcard.iter().any(|g| g.matches(name))
    }
}

/// Adds the allowed names `name` stands for: matching indices, aliases and data streams for a
/// wildcard (hidden ones only if the wildcard starts with a dot, as Elasticsearch expands),
/// and the allowed members of an alias or data stream.
fn narrow<'n>(
    name: &'n str,
    wildcard: bool,
    metadata: &'n ClusterMetadata,
    allowed: &dyn Fn(&str) -> bool,
    kept: &mut Kept<'n>,
) {
    let mut add = |candidate: &'n str| {
        if allowed(candidate) {
            kept.push(candidate);
        } else if let Some(members) = metadata.members(candidate) {
            for member in members.iter().filter(|m| allowed(m)) {
                kept.push(member);
            }
        }
    };
    if wildcard {
        let glob = Glob::new(if name == "_all" { "*" } else { name });
        let mut names: Vec<&str> = metadata
            .names()
            .filter(|(n, hidden)| glob.matches(n) && (!hidden || name.starts_with('.')))
            .map(|(n, _)| n)
            .collect();
        names.sort_unstable();
        for candidate in names {
            add(candidate);
        }
    } else {
        add(name);
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
}

impl NamesRule {
    pub fn check<'r>(&self, s: &Session<'r>) -> Outcome<'r> {
        let Some(targets) = s.req.es.as_ref().and_then(|es| es.targets) else {
            return Outcome::NoMatch;
        };
        let (names, all) = match self.kind {
            NameKind::Repositories => (&targets.repositories, targets.all_repositories),
            NameKind::Snapshots => (&targets.snapshots, targets.all_snapshots),
            NameKind::DataStreams => (&targets.data_streams, targets.all_data_streams),
        };
        let patterns = resolve(&self.patterns, s);
        let covered = |n: &str| patterns.iter().any(|p| p.contains_pattern(n));
        // A request about no such names passes; one about all of them (GET /_snapshot)
        // needs a pattern covering `*`.
        let ok = names.iter().all(|n| covered(n)) && (!all || covered("*"));
        if ok {
            Outcome::Match
        } else {
            Outcome::NoMatch
        }
    }
}

#[cfg(test)]
mod tests;
