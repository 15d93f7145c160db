//! The Kibana rules: `kibana` and the deprecated `kibana_access`, `kibana_index`,
//! `kibana_template_index` and `kibana_hide_apps`. No IO.
//!
//! A Kibana session needs a fixed set of Elasticsearch actions: reads anywhere, the cluster
//! calls Kibana makes on startup, and writes to its own index (saved objects, config,
//! short URLs). The rule grants that set for one access level. The decision tree is
//! ReadonlyREST's `BaseKibanaRule.shouldMatch`, with the action lists of
//! `KibanaActionMatchers` and the "Kibana-related index" names of `KibanaIndexName` (domain
//! `indices.scala`), as of ReadonlyREST `e9654904cf1c`. In short, the rule matches when any
//! of these holds:
//!
//! ```text
//! unrestricted access                                 anything
//! GET /_readonlyrest/metadata/user                    any access level
//! the only index is .kibana-devnull                   any action
//! read action (RO_ACTIONS) or cluster action          any access level, any index
//! no indices and an RW action                         rw, admin
//! no indices and an admin action                      admin
//! one kibana_sample_data_* index or data stream       rw, admin (any action)
//! only Kibana indices, a non-strict path and action   ro, api_only (not ro_strict)
//! admin action on no index / on .readonlyrest /
//!   from Kibana's index management or tags page       admin
//! only Kibana indices and a read/RW/write action      rw, admin
//! ```
//!
//! "Kibana indices" are the configured index (default `.kibana`, variables allowed) and the
//! names Kibana derives from it (`.kibana_8.8.0_001`, `.kibana_task_manager`, the reporting
//! data stream `.kibana-reporting-.kibana`, ...). An `indices` rule in the same block lets
//! requests that name only Kibana indices through as written (`IndicesRule::kibana`), as
//! ReadonlyREST's `BaseIndicesProcessor.allKibanaRelatedIndicesMatched` does.
//!
//! Where the gateway can only approximate ReadonlyREST (it sees HTTP, not typed requests),
//! it denies:
//! * An unknown route never matches (except with `unrestricted`, which looks at nothing).
//! * "The request's indices" are what `es::target` extracted (path and bodies). When they
//!   cannot be listed (all indices, an uninspected body such as SQL text) the request is
//!   neither "without indices" nor "only Kibana indices".
//! * ReadonlyREST checks `.kibana-devnull`, `.readonlyrest` and the sample-data index
//!   against the first index of an unordered set; here every index must be that one.
//! * The non-strict writes of `ro`/`api_only` (ReadonlyREST's path regex for index patterns,
//!   short URLs, telemetry and `/_template/`) are limited to single-document writes and
//!   template puts: a bulk, delete-by-query or update-by-query whose path happens to match
//!   (`POST /.kibana/url/_delete_by_query` through a 7.x typed route) is denied.
//! * A Kibana index variable that does not resolve (or resolves to nothing) makes the rule
//!   fail; ReadonlyREST's legacy `kibana_index` would fall back to `.kibana` instead.
//! * The user metadata request is recognised by its route (the action the route table gives
//!   `/_readonlyrest/metadata/user`), not by a path prefix.
//!
//! Kept as ReadonlyREST has them, although generous (operators should know):
//! * `cluster:*/xpack/*`, `cluster:*/get`, `cluster:*/info` count as cluster actions for every
//!   level, so `ro` may also run X-Pack cluster writes (watcher, ML, security APIs).
//! * Data stream APIs whose request involves no backing index count as "no indices", so `rw`
//!   may create or delete any data stream (`indices:admin/data_stream/*`) unless a
//!   `data_streams` rule says otherwise.
//! * `x-ror-kibana-request-path` is written by ReadonlyREST's Kibana plugin, but any client
//!   can send it: with it, an `admin` may run admin actions (index deletion, ...) on any
//!   index (an `indices` rule in the same block still applies).
//! * The table in ReadonlyREST's notes gives `ro` full access to the reporting index; the
//!   code does not, and neither does this module (`rw`/`admin` get it as a Kibana index).
//!
//! `hide_apps`, `allowed_api_paths`, `metadata` and `template_index` only feed the user
//! metadata that ReadonlyREST's Kibana plugin reads; no Elasticsearch action depends on them.
//! They are validated and otherwise ignored.

use super::es_rules::EsView;
use super::pattern::Glob;
use super::rule::{Outcome, Session};
use super::variable::{Resolve, Template};
use crate::es::target::Targets;
use std::borrow::Cow;
use std::sync::LazyLock;

#[cfg(test)]
mod tests;

/// The Kibana index when none is configured (`KibanaIndexName.default`).
pub const DEFAULT_KIBANA_INDEX: &str = ".kibana";
/// Requests about only this index pass for every access level (`KibanaIndexName.devNullKibana`).
const DEV_NULL_INDEX: &str = ".kibana-devnull";
/// ReadonlyREST's settings index (`RorSettingsIndex.default`); admins may act on it.
const ROR_SETTINGS_INDEX: &str = ".readonlyrest";
/// Set by ReadonlyREST's Kibana plugin to the Kibana page a request comes from.
const KIBANA_REQUEST_PATH_HEADER: &str = "x-ror-kibana-request-path";
/// `constants.USER_METADATA_PATH`, as the route table names its action.
const USER_METADATA_ACTION: &str = "cluster:internal_ror/user_metadata/get";

/// `access:` of the rule (`KibanaAccess`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KibanaAccess {
    Ro,
    RoStrict,
    Rw,
    Admin,
    ApiOnly,
    Unrestricted,
}

impl KibanaAccess {
    /// `BaseKibanaRule.kibanaCanBeModified`.
    fn can_modify_kibana(self) -> bool {
        matches!(
            self,
            KibanaAccess::Rw | KibanaAccess::Admin | KibanaAccess::Unrestricted
        )
    }
}

/// The Kibana index a block works with, possibly per user (`.kibana_@{user}`).
#[derive(Debug, Clone)]
pub enum KibanaIndex {
    /// Spaces already replaced by `_`.
    Static(String),
    Dynamic(Template),
}

impl KibanaIndex {
    pub fn needs_user(&self) -> bool {
        matches!(self, KibanaIndex::Dynamic(t) if t.needs_user())
    }

    /// The index name for this request; `None` when a variable does not resolve. Spaces
    /// become `_`, as ReadonlyREST's `kibanaIndexNameConvertible` does.
    pub fn resolve<'t>(&'t self, from: &dyn Resolve) -> Option<Cow<'t, str>> {
        match self {
            KibanaIndex::Static(name) => Some(Cow::Borrowed(name)),
            KibanaIndex::Dynamic(template) => {
                let mut values = template.resolve(from);
                if values.len() != 1 {
                    return None;
                }
                let name = values.pop()?.replace(' ', "_");
                (!name.is_empty()).then_some(Cow::Owned(name))
            }
        }
    }

    /// Whether the request names only Kibana indices (`IndicesRule` lets those through).
    pub fn covers(&self, targets: &Targets<'_>, from: &dyn Resolve) -> bool {
        self.resolve(from)
            .is_some_and(|kibana| only_indices(targets, |name| is_kibana_related(name, &kibana)))
    }

    /// The same for one `_msearch` search or `_mget` document: it names only Kibana indices
    /// (ReadonlyREST checks each sub-request of a multi-request on its own).
    pub fn covers_names<'n>(
        &self,
        mut names: impl Iterator<Item = &'n str>,
        from: &dyn Resolve,
    ) -> bool {
        let Some(kibana) = self.resolve(from) else {
            return false;
        };
        let mut any = false;
        names.all(|name| {
            any = true;
            name != crate::es::body::ALL_INDICES && is_kibana_related(name, &kibana)
        }) && any
    }
}

/// A block's Kibana rule(s), merged: `kibana`, or the legacy rules together.
#[derive(Debug, Clone)]
pub struct KibanaRule {
    /// `None` for a block with legacy `kibana_index`/`kibana_template_index`/
    /// `kibana_hide_apps` but no `kibana_access`: those only set the Kibana index (for
    /// `indices`) and always match, like ReadonlyREST's `MatchingAlwaysRule`s.
    pub access: Option<KibanaAccess>,
    pub index: KibanaIndex,
    /// Read by ReadonlyREST's Kibana plugin only (enterprise multi-tenancy); grants nothing.
    pub template_index: Option<KibanaIndex>,
    /// Written with the deprecated rule names.
    pub legacy: bool,
}

impl KibanaRule {
    /// The ReadonlyREST name (for logs and audit).
    pub fn name(&self) -> &'static str {
        match (self.legacy, self.access) {
            (false, _) => "kibana",
            (true, Some(_)) => "kibana_access",
            (true, None) => "kibana_index",
        }
    }

    /// Whether the rule reads the request's indices (then it runs in the `Indices` phase, as
    /// it may need the body).
    pub fn reads_indices(&self) -> bool {
        !matches!(self.access, None | Some(KibanaAccess::Unrestricted))
    }

    /// `BaseKibanaRule.shouldMatch`, checks that need only the action first (no body).
    pub fn check<'r>(&self, s: &Session<'r>) -> Outcome<'r> {
        let access = match self.access {
            None | Some(KibanaAccess::Unrestricted) => return Outcome::Match,
            Some(access) => access,
        };
        let Some(es) = s.req.es.as_ref() else {
            return Outcome::NoMatch;
        };
        if es.unknown {
            return Outcome::NoMatch;
        }
        let action = es.action;
        // isUserMetadataRequest, isRoAction, isClusterAction.
        if action == USER_METADATA_ACTION
            || any(&RO_ACTIONS, action)
            || any(&CLUSTER_ACTIONS, action)
        {
            return Outcome::Match;
        }
        let Some(kibana) = self.index.resolve(s) else {
            return Outcome::NoMatch;
        };
        let Some(targets) = es.targets else {
            return Outcome::NeedsBody;
        };
        if decide(access, &kibana, es, targets, s) {
            Outcome::Match
        } else {
            Outcome::NoMatch
        }
    }
}

/// The part of `shouldMatch` that depends on the request's indices.
fn decide(
    access: KibanaAccess,
    kibana: &str,
    es: &EsView<'_>,
    targets: &Targets<'_>,
    s: &Session<'_>,
) -> bool {
    let action = es.action;
    let can_modify = access.can_modify_kibana();
    let admin = access == KibanaAccess::Admin;
    let no_indices = !targets.involves_indices();
    let rw_action = any(&RW_ACTIONS, action);
    let admin_action = any(&ADMIN_ACTIONS, action);
    let targets_kibana = only_indices(targets, |name| is_kibana_related(name, kibana));

    // isDevNullKibanaRelated
    if only_indices(targets, |name| name == DEV_NULL_INDEX) {
        return true;
    }
    // emptyIndicesMatch
    if no_indices && ((can_modify && rw_action) || (admin && admin_action)) {
        return true;
    }
    // isKibanaSimpleData
    if can_modify && (single_sample_data_index(targets) || single_sample_data_stream(targets)) {
        return true;
    }
    // isRoNonStrictCase
    if targets_kibana
        && access != KibanaAccess::RoStrict
        && !can_modify
        && any(&NON_STRICT_ACTIONS, action)
        && is_non_strict_path(s.req.path, kibana)
    {
        return true;
    }
    // isAdminAccessEligible
    if admin && admin_action {
        let from_kibana_page = |page: &str| {
            s.req
                .header(KIBANA_REQUEST_PATH_HEADER)
                .is_some_and(|path| path.contains(page))
        };
        if no_indices
            || only_indices(targets, |name| name == ROR_SETTINGS_INDEX)
            || from_kibana_page("/index_management/")
            || from_kibana_page("/tags/")
        {
            return true;
        }
    }
    // isKibanaIndexRequest (read actions already matched before the body was needed)
    can_modify && targets_kibana && (rw_action || any(&INDICES_WRITE_ACTIONS, action))
}

/// Whether the request names at least one index, can list all of them, and every one
/// satisfies `pred`. A request on all indices, or with indices in an uninspected body,
/// does not (fail closed).
fn only_indices(targets: &Targets<'_>, pred: impl Fn(&str) -> bool) -> bool {
    !targets.all_indices
        && !targets.opaque_indices
        && !targets.indices.is_empty()
        && targets.indices.iter().all(|i| pred(&i.name))
}

/// `isRelatedToKibanaSampleDataIndex`: exactly one (distinct) index, a sample data one.
fn single_sample_data_index(targets: &Targets<'_>) -> bool {
    let Some(first) = targets.indices.first() else {
        return false;
    };
    SAMPLE_DATA.matches(&first.name) && only_indices(targets, |name| name == first.name)
}

/// `isRelatedToKibanaSampleDataStream`: exactly one (distinct) data stream.
fn single_sample_data_stream(targets: &Targets<'_>) -> bool {
    let streams = &targets.data_streams;
    !targets.all_data_streams
        && streams
            .first()
            .is_some_and(|first| SAMPLE_DATA.matches(first) && streams.iter().all(|d| d == first))
}

/// `KibanaIndexName.isRelatedToKibanaIndex`: the Kibana index itself or one of the names
/// Kibana derives from it. ReadonlyREST matches anchored regexes with the index quoted; the
/// same shapes are checked here by hand (see the tests for the cross-check):
///
/// ```text
/// {k}_1.2.3   {k}_1.2.3_001   .kibana-reporting-{k}   .ds-.kibana-reporting-{k}-2025.01.01-000001
/// {k}_alerting_cases[_1.2.3[_001]]   {k}-event-log-1.2.3
/// {k}_{analytics,ingest,security_solution,search_solution,task_manager,usage_counters}[_1.2.3]
/// ```
pub fn is_kibana_related(name: &str, kibana: &str) -> bool {
    if name == kibana {
        return true;
    }
    if let Some(rest) = name.strip_prefix(kibana) {
        if let Some(suffix) = rest.strip_prefix('_') {
            if is_version(suffix) || is_version_and_counter(suffix) {
                return true;
            }
            const FAMILIES: [&str; 7] = [
                "alerting_cases",
                "analytics",
                "ingest",
                "security_solution",
                "search_solution",
                "task_manager",
                "usage_counters",
            ];
            for family in FAMILIES {
                let Some(after) = suffix.strip_prefix(family) else {
                    continue;
                };
                if after.is_empty() {
                    return true;
                }
                if let Some(version) = after.strip_prefix('_') {
                    if is_version(version)
                        || (family == "alerting_cases" && is_version_and_counter(version))
                    {
                        return true;
                    }
                }
            }
        }
        if rest.strip_prefix("-event-log-").is_some_and(is_version) {
            return true;
        }
    }
    if name.strip_prefix(".kibana-reporting-") == Some(kibana) {
        return true;
    }
    name.strip_prefix(".ds-.kibana-reporting-")
        .and_then(|rest| rest.strip_prefix(kibana))
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(is_backing_index_suffix)
}

fn digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// `\d+\.\d+\.\d+`
fn is_version(text: &str) -> bool {
    let mut parts = text.split('.');
    (0..3).all(|_| parts.next().is_some_and(digits)) && parts.next().is_none()
}

/// `\d+\.\d+\.\d+_\d+`
fn is_version_and_counter(text: &str) -> bool {
    text.split_once('_')
        .is_some_and(|(version, counter)| is_version(version) && digits(counter))
}

/// `\d{4}\.\d{2}\.\d{2}-\d+` (a data stream backing index's date and generation).
fn is_backing_index_suffix(text: &str) -> bool {
    let Some((date, generation)) = text.split_once('-') else {
        return false;
    };
    let mut parts = date.split('.');
    [4, 2, 2]
        .iter()
        .all(|&len| parts.next().is_some_and(|p| p.len() == len && digits(p)))
        && parts.next().is_none()
        && digits(generation)
}

/// ReadonlyREST's non-strict paths ("save UI state in Discover and short URLs"), the regex
/// `nonStrictAllowedPathsRegexTemplate` with `{k}` the quoted Kibana index, found at the
/// start of the (decoded) path:
///
/// ```text
/// /{k}/(url|config/.*/_create|index-pattern|doc/index-pattern.*|doc/url.*)/.*
/// /_template/.*      /{k}/doc/telemetry.*      /{k}/_update/index-pattern.*
/// /{k}/_update/url.*      /{k}/_create/url:.*
/// ```
///
/// Java's `.` does not match line terminators; a path with one is refused outright.
pub fn is_non_strict_path(path: &str, kibana: &str) -> bool {
    if path.contains(['\n', '\r', '\u{85}', '\u{2028}', '\u{2029}']) {
        return false;
    }
    if path.starts_with("/_template/") {
        return true;
    }
    let Some(rest) = path
        .strip_prefix('/')
        .and_then(|p| p.strip_prefix(kibana))
        .and_then(|p| p.strip_prefix('/'))
    else {
        return false;
    };
    rest.starts_with("url/")
        || rest.starts_with("index-pattern/")
        || rest
            .strip_prefix("config/")
            .is_some_and(|r| r.contains("/_create/"))
        || rest
            .strip_prefix("doc/index-pattern")
            .is_some_and(|r| r.contains('/'))
        || rest
            .strip_prefix("doc/url")
            .is_some_and(|r| r.contains('/'))
        || rest.starts_with("doc/telemetry")
        || rest.starts_with("_update/index-pattern")
        || rest.starts_with("_update/url")
        || rest.starts_with("_create/url:")
}

// The action lists of `KibanaActionMatchers` (globs, `*` is any run of characters).

/// `roActionPatternsMatcher`.
const RO_ACTION_PATTERNS: &[&str] = &[
    "indices:admin/exists",
    "indices:admin/mappings/fields/get*",
    "indices:admin/mappings/get*",
    "indices:admin/validate/query",
    "indices:admin/get",
    "indices:admin/refresh*",
    "indices:data/read/*",
    "indices:admin/resolve/*",
    "indices:admin/aliases/get",
    "indices:admin/data_stream/get",
    "indices:admin/data_stream/lifecycle/get",
    "cluster:admin/component_template/get",
    "indices:admin/index_template/get",
    "cluster:admin/scripts/painless/context",
    "indices:admin/*/explain",
    "indices:data/read/xpack/rollup/get/*",
    "indices:monitor/*",
];

/// `rwActionPatternsMatcher` (with `RorAction.writeActions`).
const RW_ACTION_PATTERNS: &[&str] = &[
    "cluster:internal_ror/audit_event/put",
    "indices:admin/create",
    "indices:admin/create_index",
    "indices:admin/mapping/put",
    "indices:data/write/delete*",
    "indices:data/write/index",
    "indices:data/write/update*",
    "indices:data/write/bulk*",
    "indices:admin/template/*",
    "cluster:admin/settings/*",
    "indices:admin/aliases/*",
    "indices:admin/data_stream/*",
    "indices:admin/index_template/*",
    "cluster:admin/component_template/*",
    "cluster:admin/migration/get_system_feature",
    "cluster:admin/scripts/painless/execute",
];

/// `clusterActionPatternsMatcher`. Note that `cluster:*/xpack/*` also covers X-Pack
/// cluster writes (ML, watcher, security APIs): ReadonlyREST grants them to every level.
const CLUSTER_ACTION_PATTERNS: &[&str] = &[
    "cluster:monitor/*",
    "cluster:*/xpack/*",
    "indices:admin/template/get*",
    "cluster:*/info",
    "cluster:*/get",
    "cluster:*/simulate",
];

/// `adminActionPatternsMatcher` (with `RorAction.adminActions`).
const ADMIN_ACTION_PATTERNS: &[&str] = &[
    "cluster:internal_ror/config/manage",
    "cluster:internal_ror/testconfig/manage",
    "cluster:internal_ror/authmock/manage",
    "cluster:internal_ror/config/refreshsettings",
    "cluster:internal_ror/*",
    "indices:data/write/*",
    "indices:admin/create",
    "indices:admin/create_index",
    "indices:admin/ilm/*",
    "cluster:admin/ingest/pipeline/put",
    "cluster:admin/ingest/pipeline/delete",
    "indices:admin/data_stream/get",
    "indices:admin/settings/update",
    "cluster:admin/ilm/put",
    "cluster:admin/ilm/delete",
    "cluster:admin/repository/put",
    "cluster:admin/repository/delete",
    "indices:data/write/update/byquery",
    "indices:admin/data_stream/delete",
    "cluster:admin/component_template/get",
    "cluster:admin/component_template/delete",
    "cluster:admin/component_template/put",
    "indices:admin/delete",
    "indices:admin/index_template/get",
    "indices:admin/index_template/delete",
    "indices:admin/index_template/put",
    "indices:admin/index_template/simulate",
    "cluster:admin/slm/put",
    "cluster:admin/slm/execute",
    "cluster:admin/slm/delete",
];

/// `nonStrictActions` is `indices:data/write/*` and `indices:admin/template/put`; narrowed
/// here to single-document writes (see the module comment).
const NON_STRICT_ACTION_PATTERNS: &[&str] = &[
    "indices:data/write/index",
    "indices:data/write/update",
    "indices:data/write/delete",
    "indices:admin/template/put",
];

/// `indicesWriteAction`.
const INDICES_WRITE_ACTION_PATTERNS: &[&str] = &["indices:data/write/*"];

fn globs(patterns: &[&str]) -> Vec<Glob> {
    patterns.iter().map(|p| Glob::new(p)).collect()
}

static RO_ACTIONS: LazyLock<Vec<Glob>> = LazyLock::new(|| globs(RO_ACTION_PATTERNS));
static RW_ACTIONS: LazyLock<Vec<Glob>> = LazyLock::new(|| globs(RW_ACTION_PATTERNS));
static CLUSTER_ACTIONS: LazyLock<Vec<Glob>> = LazyLock::new(|| globs(CLUSTER_ACTION_PATTERNS));
static ADMIN_ACTIONS: LazyLock<Vec<Glob>> = LazyLock::new(|| globs(ADMIN_ACTION_PATTERNS));
static NON_STRICT_ACTIONS: LazyLock<Vec<Glob>> =
    LazyLock::new(|| globs(NON_STRICT_ACTION_PATTERNS));
static INDICES_WRITE_ACTIONS: LazyLock<Vec<Glob>> =
    LazyLock::new(|| globs(INDICES_WRITE_ACTION_PATTERNS));
/// `kibanaSampleDataIndexMatcher` / `kibanaSampleDataStreamMatcher`.
static SAMPLE_DATA: LazyLock<Glob> = LazyLock::new(|| Glob::new("kibana_sample_data_*"));

fn any(set: &[Glob], action: &str) -> bool {
    set.iter().any(|g| g.matches(action))
}
