//! The `indices` rule, in allow blocks and in forbid blocks.
//!
//! What a request touches comes from `es::target`: every index expression it names with
//! its access (read, write, or a lookup from inside a query), the sub-requests of an
//! `_msearch`/`_mget`, and whether it addresses all indices. An expression is one of:
//! a local name or wildcard (`logs-1`, `logs-*`, `*`, `_all`), an exclusion after a wildcard
//! (`-logs-old`, which only removes), a remote name (`cluster:index`, either part a
//! wildcard) or date math (`<logs-{now/d}>`).
//!
//! **Allow blocks** grant what their patterns contain, as ReadonlyREST does:
//! - a local expression needs a local pattern containing it (`logs-*` contains `logs-2*`);
//! - a remote one needs a pattern with a `:` whose cluster part and index part contain the
//!   expression's parts (`logs-*` never grants `logs-dc2:secret-1` or `logs-*:*`);
//! - date math is evaluated as Elasticsearch evaluates it (`es::date_math`), now and
//!   [`DATE_MATH_SKEW`] later (the node evaluates it a moment after the gateway), and each
//!   concrete name must be granted; an expression that cannot be evaluated is not granted.
//!
//! Writes and lookups must be granted as written. Reads keep what is granted and replace
//! the rest with the granted names it stands for (wildcards and aliases expanded against the
//! cluster metadata); remote names and date math that are not granted are dropped. A path
//! read is rewritten to the narrowed list, each `_msearch` search and `_mget` document on its
//! own (the body is rewritten); indices named inside a body in any other way cannot be
//! rewritten, so they must be granted as written.
//!
//! **Forbid blocks** match when the request touches *any* name their patterns match, also
//! when it names allowed indices too, and whenever the gateway cannot tell: a local literal
//! that matches or is an alias or data stream with a matching member; a wildcard whose
//! matches could include a matching name (structural overlap, or an alias it expands to in the
//! metadata); a remote name whose index part could match a local pattern, or both parts a
//! remote one; date math whose value now or [`DATE_MATH_SKEW`] later matches, or that cannot
//! be evaluated; indices named in a body the gateway does not read (opaque); all indices.
//! With `must_involve_indices: true` a forbid block, like an allow block, does not match
//! requests that name no index.
//!
//! **Ingest pipelines** can send a written document to any index (`es::pipeline` says which
//! can; `ingest` which ones a request runs: the pipelines it names and the default and final
//! pipelines of the indices it writes; and which ones it makes later writes run: those it
//! sets in index or template settings, those of an index whose settings it copies, and the
//! new definition of a pipeline it defines). A request that may run, set or define one that
//! can, or one the gateway does not know, writes anywhere: an allow block matches it only if
//! its patterns grant `*`, a forbid block always matches it, also when the request names no
//! index (a component template, a pipeline definition). Blocks without an `indices` rule are
//! not affected.
//!
//! Cost: each name is checked against the block's few patterns; a wildcard or alias is
//! expanded against the cluster's names; nothing multiplies two request-sized lists except
//! wildcard exclusions against listed names, bounded by `MAX_EXCLUSION_WORK`. No IO.

use super::kibana::KibanaIndex;
use super::pattern::{Glob, ValuePattern};
use super::rule::{Outcome, Session};
use super::variable::Resolve;
use crate::es::date_math;
use crate::es::index_name::IndexExpr;
use crate::es::metadata::ClusterMetadata;
use crate::es::target::{Access, Targets, TemplateRead};
use ahash::{AHashMap, AHashSet};
use std::borrow::Cow;
use std::time::{Duration, SystemTime};

mod ingest;

/// How much later than the gateway the node may evaluate a date math name: a request that
/// names `<logs-{now/d}>` just before midnight reaches the node just after.
pub const DATE_MATH_SKEW: Duration = Duration::from_secs(120);

#[derive(Debug, Clone)]
pub struct IndicesRule {
    pub patterns: Vec<ValuePattern>,
    pub must_involve_indices: bool,
    /// The Kibana index of a Kibana rule in the same block: requests that name only
    /// Kibana indices pass as written (`BaseIndicesProcessor.allKibanaRelatedIndicesMatched`).
    pub kibana: Option<KibanaIndex>,
    /// The rule belongs to a `type: forbid` block: it matches on any overlap.
    pub forbid: bool,
}

/// The longest index expression the rule evaluates (Elasticsearch index names have at most
/// 255 bytes; date math and a cluster alias add some).
const MAX_EXPRESSION_BYTES: usize = 1024;

/// The most bytes of names the narrowed lists of one request's sub-requests may hold
/// together: each search or document gets its own list, so without a bound many searches of
/// `*` against a large cluster would cost sub-requests x cluster names. Past it the block does
/// not match (fail closed).
const MAX_NARROWED_BYTES: usize = 8 << 20;

/// How an allowed read is rewritten to name only what is granted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Narrowing {
    /// The path's index list, narrowed (empty: nothing of it is granted; only for the
    /// path indices of an `_msearch`, where a path read would be `IndexNotFound` instead).
    pub path: Option<Vec<String>>,
    /// The index templates a template listing may show (those whose every index pattern
    /// is granted; an empty list: none).
    pub templates: Option<Vec<String>>,
    /// Per `_msearch` search or `_mget` document, in body order: `None` as written,
    /// `Some(list)` replaced (an empty list: nothing of it is granted).
    pub subrequests: Option<Vec<Option<Vec<String>>>>,
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
            // A forbid block cannot tell what an unknown API touches: it matches.
            return yes(self.forbid);
        }
        let Some(targets) = es.targets else {
            return Outcome::NeedsBody;
        };
        let may_reroute = || {
            *s.req
                .may_reroute
                .get_or_init(|| ingest::may_reroute(targets, es.metadata))
        };
        if !targets.involves_indices() {
            // A component template (or data stream settings, or a pipeline definition)
            // names no index, yet the pipelines it sets (or defines) run on later writes.
            if may_reroute() {
                let patterns = Patterns::resolve(&self.patterns, s);
                return yes(self.forbid || patterns.grants("*"));
            }
            return yes(!self.must_involve_indices);
        }
        if targets
            .indices
            .iter()
            .any(|i| i.name.len() > MAX_EXPRESSION_BYTES)
        {
            // Longer than any index name (255 bytes) with room for date math and a cluster:
            // not evaluated (its cost would grow with its length); cannot tell.
            return yes(self.forbid);
        }
        let patterns = Patterns::resolve(&self.patterns, s);
        if self.forbid {
            return yes(touches(targets, &patterns, es.metadata) || may_reroute());
        }
        if targets.opaque_indices {
            return Outcome::NoMatch;
        }
        // A pipeline that may reroute writes anywhere: only a grant of every index covers it.
        if !patterns.grants("*") && may_reroute() {
            return Outcome::NoMatch;
        }
        if self.kibana.as_ref().is_some_and(|k| k.covers(targets, s)) {
            return Outcome::Match;
        }
        allow(targets, &patterns, es.metadata, self.kibana.as_ref(), s)
    }
}

fn yes<'r>(matched: bool) -> Outcome<'r> {
    if matched {
        Outcome::Match
    } else {
        Outcome::NoMatch
    }
}

/// An allow block's `indices` rule on a request that names indices.
fn allow<'r>(
    targets: &Targets<'_>,
    patterns: &Patterns,
    metadata: &ClusterMetadata,
    kibana: Option<&KibanaIndex>,
    from: &dyn Resolve,
) -> Outcome<'r> {
    if let Some(read) = &targets.templates {
        // Always the explicit list: a template created after the metadata was read is not
        // shown until it is known to be visible.
        return Outcome::Narrowed(Narrowing {
            templates: Some(visible_templates(read, metadata, |p| patterns.grants(p))),
            ..Narrowing::default()
        });
    }
    // Writes and lookups, as written; an exclusion after a wildcard only takes away.
    let mut after_wildcard = false;
    let exact = targets
        .indices
        .iter()
        .filter(|i| i.access != Access::Read)
        .all(|i| {
            let expr = IndexExpr::parse(&i.name);
            if expr.exclusion && after_wildcard {
                return true;
            }
            after_wildcard |= expr.wildcard || expr.is_all();
            patterns.grants(&i.name)
        });
    let all_unnarrowable =
        targets.all_indices && !targets.narrowable && targets.subrequests.is_empty();
    if !exact || (all_unnarrowable && !patterns.grants("*")) {
        return Outcome::NoMatch;
    }
    if !targets.subrequests.is_empty() {
        let mut changed = false;
        // Searches without an `index` of their own read the path's indices: narrowed once,
        // in the path.
        let mut path = None;
        if targets.subrequests.iter().any(Vec::is_empty) {
            let defaults = || {
                let all = targets.subrequest_defaults.is_empty().then_some("*");
                targets
                    .subrequest_defaults
                    .iter()
                    .map(|n| n.as_ref())
                    .chain(all)
            };
            if !kibana.is_some_and(|k| k.covers_names(defaults(), from)) {
                path = match narrow_read(defaults(), patterns, metadata) {
                    Read::AsWritten => None,
                    Read::Narrowed(list) => Some(list),
                    Read::Nothing => Some(Vec::new()),
                    Read::TooMuch => return Outcome::NoMatch,
                };
            }
        }
        changed |= path.is_some();
        // Sub-requests naming the same list are narrowed once.
        let mut narrowed: AHashMap<&[Cow<'_, str>], Option<Vec<String>>> = AHashMap::new();
        let mut narrowed_bytes = 0usize;
        let mut lists = Vec::with_capacity(targets.subrequests.len());
        for names in &targets.subrequests {
            if names.is_empty() {
                lists.push(None);
                continue;
            }
            if let Some(list) = narrowed.get(names.as_slice()) {
                narrowed_bytes += list.iter().flatten().map(String::len).sum::<usize>();
                if narrowed_bytes > MAX_NARROWED_BYTES {
                    return Outcome::NoMatch;
                }
                changed |= list.is_some();
                lists.push(list.clone());
                continue;
            }
            let each = || names.iter().map(|n| n.as_ref());
            let list = if kibana.is_some_and(|k| k.covers_names(each(), from)) {
                None
            } else if targets.documents {
                // A document is read from the one index it names: granted as written, or not
                // at all (expanding it to names it could stand for reads nothing).
                (!each().all(|n| patterns.grants(n))).then(Vec::new)
            } else {
                match narrow_read(each(), patterns, metadata) {
                    Read::AsWritten => None,
                    Read::Narrowed(list) => Some(list),
                    Read::Nothing => Some(Vec::new()),
                    Read::TooMuch => return Outcome::NoMatch,
                }
            };
            narrowed_bytes += list.iter().flatten().map(String::len).sum::<usize>();
            if narrowed_bytes > MAX_NARROWED_BYTES {
                return Outcome::NoMatch;
            }
            changed |= list.is_some();
            narrowed.insert(names.as_slice(), list.clone());
            lists.push(list);
        }
        if !changed {
            return Outcome::Match;
        }
        return Outcome::Narrowed(Narrowing {
            path,
            subrequests: Some(lists),
            ..Narrowing::default()
        });
    }
    let reads = targets
        .indices
        .iter()
        .filter(|i| i.access == Access::Read)
        .map(|i| i.name.as_ref())
        .chain(targets.all_indices.then_some("*"));
    if !targets.narrowable {
        // Read elsewhere than in a path or a sub-request (a reindex source, a snapshot):
        // nothing can be rewritten, so every read must be granted as written.
        return yes(reads.clone().all(|name| patterns.grants(name)));
    }
    match narrow_read(reads, patterns, metadata) {
        Read::AsWritten => Outcome::Match,
        Read::Narrowed(list) => Outcome::Narrowed(Narrowing {
            path: Some(list),
            ..Narrowing::default()
        }),
        Read::Nothing => Outcome::IndexNotFound,
        Read::TooMuch => Outcome::NoMatch,
    }
}

/// What an allow block makes of one list of read expressions.
enum Read {
    AsWritten,
    /// Only these names (in first-found order).
    Narrowed(Vec<String>),
    /// Nothing of it is granted.
    Nothing,
    /// The exclusions would cost more than `MAX_EXCLUSION_WORK`: fail closed.
    TooMuch,
}

/// Narrows one list of read expressions (a path, one search, one document).
fn narrow_read<'n>(
    requested: impl Iterator<Item = &'n str>,
    patterns: &Patterns,
    metadata: &'n ClusterMetadata,
) -> Read {
    let mut kept = Kept::default();
    let mut exclusions = Exclusions::default();
    // Bytes of the concrete names the list keeps as written.
    let mut written_bytes = 0usize;
    let mut changed = false;
    let mut after_wildcard = false;
    for name in requested {
        let expr = IndexExpr::parse(name);
        // Elasticsearch reads `-x` as an exclusion only after a wildcard item.
        if expr.exclusion && after_wildcard {
            exclusions.add(expr.name);
            kept.push(name);
            continue;
        }
        after_wildcard |= expr.wildcard || expr.is_all();
        if patterns.grants(name) {
            if kept.push(name) && !expr.wildcard && !expr.exclusion {
                written_bytes += name.len();
            }
            continue;
        }
        changed = true;
        if expr.remote.is_some() || expr.date_math || expr.exclusion {
            continue; // cannot be expanded here: dropped
        }
        expand_granted(
            name,
            expr.wildcard || expr.is_all(),
            metadata,
            patterns,
            &mut kept,
        );
    }
    if !changed {
        return Read::AsWritten;
    }
    // Every concrete name kept, written or expanded, is matched against every wildcard
    // exclusion below.
    let concrete_bytes = written_bytes
        + kept
            .names
            .iter()
            .filter(|k| !k.contains('*') && !k.starts_with('-'))
            .map(|k| k.len())
            .sum::<usize>();
    if exclusions.wildcard_bytes.saturating_mul(concrete_bytes) > MAX_EXCLUSION_WORK {
        return Read::TooMuch;
    }
    // Exclusions are applied here to the concrete names the expansion produced. They stay
    // in the list only where a wildcard still precedes them; after concrete names alone
    // Elasticsearch would read `-x` as an index name (found by the whole-path fuzzer:
    // `*,-d,public-*` narrowed to `public-1,-d,public-*`). (Whether a concrete name is kept
    // depends on the name alone, so filtering the deduplicated list keeps the same first
    // occurrences as deduplicating the filtered one.)
    let mut kept = kept.names;
    let mut wildcard_before = false;
    kept.retain(|k| {
        let expr = IndexExpr::parse(k);
        if expr.exclusion {
            return wildcard_before;
        }
        let wildcard = expr.wildcard || expr.is_all();
        wildcard_before |= wildcard;
        wildcard || !exclusions.matches(k)
    });
    if kept.iter().all(|k| IndexExpr::parse(k).exclusion) {
        return Read::Nothing;
    }
    Read::Narrowed(kept.into_iter().map(str::to_string).collect())
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
/// concrete names its list holds: the bytes of the one times the bytes of the other, a bound on
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

/// Adds the granted names `name` stands for: matching indices, aliases and data streams for a
/// wildcard (hidden ones only if the wildcard starts with a dot, as Elasticsearch expands),
/// and the granted members of an alias or data stream.
fn expand_granted<'n>(
    name: &'n str,
    wildcard: bool,
    metadata: &'n ClusterMetadata,
    patterns: &Patterns,
    kept: &mut Kept<'n>,
) {
    let mut add = |candidate: &'n str| {
        if patterns.grants_local(candidate) {
            kept.push(candidate);
        } else if let Some(members) = metadata.members(candidate) {
            for member in members.iter().filter(|m| patterns.grants_local(m)) {
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

/// The templates of `read` (sorted by name) whose every index pattern `visible` accepts.
fn visible_templates(
    read: &TemplateRead<'_>,
    metadata: &ClusterMetadata,
    visible: impl Fn(&str) -> bool,
) -> Vec<String> {
    let asked: Vec<Glob> = read.names.iter().map(|n| Glob::new(n)).collect();
    let mut names: Vec<String> = metadata
        .templates
        .iter()
        .filter(|((kind, name), _)| {
            read.kinds.contains(kind) && (asked.is_empty() || asked.iter().any(|g| g.matches(name)))
        })
        .filter(|(_, index_patterns)| index_patterns.iter().all(|p| visible(p)))
        .map(|((_, name), _)| name.clone())
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// Whether a forbid block's patterns touch anything the request names (module docs).
fn touches(targets: &Targets<'_>, patterns: &Patterns, metadata: &ClusterMetadata) -> bool {
    if targets.opaque_indices || (targets.all_indices && patterns.touches("*", metadata)) {
        return true;
    }
    if let Some(read) = &targets.templates {
        // A listing shows the index patterns of the templates it lists; before the
        // metadata is known, any.
        let any = visible_templates(read, metadata, |_| true);
        let shown = visible_templates(read, metadata, |p| !patterns.touches(p, metadata));
        if metadata.indices.is_empty() || any.len() != shown.len() {
            return true;
        }
    }
    // `indices` holds every name of every sub-request once.
    targets
        .indices
        .iter()
        .any(|i| patterns.touches(&i.name, metadata))
}

/// One rule's patterns for one request (variables resolved), split by what they address.
struct Patterns {
    local: Vec<Glob>,
    /// `cluster:index` patterns, as (cluster, index).
    remote: Vec<(Glob, Glob)>,
}

impl Patterns {
    fn resolve(patterns: &[ValuePattern], from: &dyn Resolve) -> Patterns {
        let mut resolved = Patterns {
            local: Vec::with_capacity(patterns.len()),
            remote: Vec::new(),
        };
        let mut add = |glob: Glob| match glob.as_str().split_once(':') {
            Some((cluster, index)) => {
                let case = glob.ignores_case();
                resolved
                    .remote
                    .push((Glob::with_case(cluster, case), Glob::with_case(index, case)));
            }
            None => resolved.local.push(glob),
        };
        for pattern in patterns {
            match pattern {
                ValuePattern::Static(glob) => add(glob.clone()),
                ValuePattern::Dynamic(template, ignore_case) => {
                    for text in template.resolve(from).iter() {
                        add(Glob::with_case(text, *ignore_case));
                    }
                }
            }
        }
        resolved
    }

    /// Whether a local name (no cluster, no date math) is granted.
    fn grants_local(&self, name: &str) -> bool {
        self.local.iter().any(|p| p.contains_pattern(name))
    }

    /// Whether the expression `name` is granted as written (module docs).
    fn grants(&self, name: &str) -> bool {
        let expr = IndexExpr::parse(name);
        if expr.exclusion {
            // Not after a wildcard (callers handle that case), Elasticsearch reads `-x` as the
            // name `-x`, which is no valid index: never granted.
            return false;
        }
        let Some(names) = index_part_names(&expr) else {
            return false; // date math that cannot be evaluated exactly
        };
        match expr.remote {
            Some(cluster) => self.remote.iter().any(|(c, i)| {
                c.contains_pattern(cluster) && names.iter().all(|n| i.contains_pattern(n))
            }),
            None => names.iter().all(|n| self.grants_local(n)),
        }
    }

    /// Whether the expression `name` could touch a name these patterns match (module docs).
    fn touches(&self, name: &str, metadata: &ClusterMetadata) -> bool {
        let expr = IndexExpr::parse(name);
        if expr.exclusion && expr.raw.starts_with('-') {
            // After a wildcard an exclusion only takes away; before one Elasticsearch reads
            // `-x` as the (invalid) name `-x`. Which one it is depends on the list it stood
            // in, and `indices` merges lists: the name counts whenever a pattern could match
            // it as written (found by the whole-path fuzzer: `-<x-private` and `*-private`).
            return self.local.iter().any(|p| p.overlaps(expr.raw));
        }
        let Some(names) = index_part_names(&expr) else {
            return true; // date math that cannot be evaluated exactly
        };
        match expr.remote {
            // Another cluster's names cannot be looked up: what its index part could match
            // counts, for local patterns too.
            Some(cluster) => names.iter().any(|n| {
                self.local.iter().any(|p| p.overlaps(n))
                    || self
                        .remote
                        .iter()
                        .any(|(c, i)| c.overlaps(cluster) && i.overlaps(n))
            }),
            None => names.iter().any(|n| self.touches_local(n, metadata)),
        }
    }

    fn touches_local(&self, name: &str, metadata: &ClusterMetadata) -> bool {
        if self.local.is_empty() {
            return false;
        }
        if metadata.ingest.unread {
            // Before the cluster's aliases and data streams are known, any name could be one
            // holding a forbidden index.
            return true;
        }
        // A data stream's backing index (`.ds-<stream>-<date>-<generation>`) belongs to the
        // stream: a pattern that could match a stream name it starts with touches it.
        if let Some(rest) = name.strip_prefix(".ds-") {
            if self
                .local
                .iter()
                .any(|p| Glob::new(&format!("{}*", p.as_str())).overlaps(rest))
            {
                return true;
            }
        }
        let member_matches = |candidate: &str| {
            metadata
                .members(candidate)
                .is_some_and(|members| members.iter().any(|m| self.matches_local(m)))
        };
        if !name.contains('*') {
            return self.matches_local(name) || member_matches(name);
        }
        if self.local.iter().any(|p| p.overlaps(name)) {
            return true;
        }
        // A wildcard also reaches the members of the aliases and data streams it matches.
        let glob = Glob::new(name);
        metadata
            .aliases
            .keys()
            .chain(metadata.data_streams.keys())
            .any(|alias| glob.matches(alias) && member_matches(alias))
    }

    fn matches_local(&self, name: &str) -> bool {
        self.local.iter().any(|p| p.matches(name))
    }
}

/// The index part of an expression as the names to check: date math evaluated
/// ([`date_math_names`]; `None` when it cannot be), `_all` as `*`, anything else as written.
fn index_part_names(expr: &IndexExpr<'_>) -> Option<Vec<String>> {
    if expr.date_math {
        return date_math_names(expr.name).map(Vec::from);
    }
    let all = expr.name == "_all" || expr.is_all();
    Some(vec![if all { "*" } else { expr.name }.to_string()])
}

/// The concrete names a date math expression takes [`DATE_MATH_SKEW`] before now, now, and
/// as long after (the node's clock may lag or lead, and it evaluates the expression a moment
/// later); `None` when it cannot be evaluated exactly. `es::date_math` refuses formats finer
/// than an hour, so three samples see every name the window holds.
fn date_math_names(expression: &str) -> Option<[String; 3]> {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .ok()?
        .as_millis();
    let now = i64::try_from(now).ok()?;
    let skew = DATE_MATH_SKEW.as_millis() as i64;
    Some([
        date_math::resolve(expression, now.checked_sub(skew)?).ok()?,
        date_math::resolve(expression, now).ok()?,
        date_math::resolve(expression, now.checked_add(skew)?).ok()?,
    ])
}

#[cfg(test)]
mod tests;
