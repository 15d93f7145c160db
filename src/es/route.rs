//! REST routing: method + request target -> API name -> transport action, plus the named path
//! parts (index lists, aliases, data streams, repositories, snapshots, ids).
//!
//! Owns: the route table generated from the Elasticsearch REST spec (`route/table.rs`, made by
//! `tools/routes/gen_routes.py`), a faithful emulation of how the server picks a handler
//! (`route/trie.rs`: `PathTrie` with its four matching modes, literal before `{param}`), the raw
//! path checks below, and the query-string guard (`route/query.rs`).
//! Must not: do IO, allocate for a plain path such as `POST /logs-2024.01.01/_search`, or panic
//! on any input (a panic on client input is a remote denial of service).
//! Sits in the walk at `es::classify`, after `http::parse_head` and before `acl::evaluate`.
//!
//! ```text
//! target ──► split at '?' ──► raw path checks ──► split on '/' ──► PathTrie emulation
//!                 │                                                 (modern / legacy views)
//!                 └──► query guard ◄── route ──► decode {parts} (index_name) ──► Classified
//! ```
//!
//! Decisions, each mirroring Elasticsearch or failing closed where mirroring is unsafe:
//! * The path ends at the first `?` (ES `RestRequest`: `uri.indexOf('?')`).
//! * It must start with `/` (`NotAbsolutePath`); ES would treat `_search` or an absolute URI as a
//!   relative trie path, which no client sends on purpose.
//! * Raw bytes must be printable ASCII other than `\` and `#` (`InvalidPathByte`). Netty hands ES
//!   raw non-ASCII bytes as Latin-1 characters and decodes them as UTF-8 only when the segment
//!   also holds a `%`, so ES itself names two different things with them; `\` and `#` are
//!   rewritten by some proxies and browsers.
//! * Trailing `/` are ignored, as Java's `String.split("/")` drops trailing empty strings, but an
//!   empty segment anywhere else is `EmptySegment`: ES would bind `""` to `{index}`, and an empty
//!   index list means *all indices* (`//_search`).
//! * A `.` or `..` segment, raw or decoded, is `DotSegment`. ES does not normalize them (they
//!   would be index names `.`/`..`, which are invalid), but a proxy or client in between may.
//! * Segments are matched against route literals *raw*; only `{part}` values are decoded
//!   (`index_name::decode_part`), one segment at a time, so `%2F` never splits a segment and
//!   `%5Fsearch` is an index name, not the `_search` literal. Index-like lists are then split on
//!   `,` *after* decoding, as ES handlers do, so `%2C` separates names.
//! * ES's path trie contains the 7.x typed routes (`/{index}/{type}/_search`, ...) that 8.x keeps
//!   for `compatible-with=7`; they change which handler other paths reach. Every path is resolved
//!   three ways (trie without them; with them, any handler; with them, current handlers only) and
//!   is `AmbiguousRoute` when two resolutions pick different routes.
//! * Query parameters and path parameters share one map in ES, the path winning. A query key that
//!   names a part the API reads (e.g. `GET /_search?index=secret`) is `PathPartInQuery`.
//! * Unknown paths and methods are not errors: they classify as [`UNKNOWN_API`] with
//!   [`UNKNOWN_ACTION`], which the ACL must deny. So are known APIs without a known action, and
//!   paths where `{index}` binds a name starting with `_` (see `NameList::HasReserved`).
//!
//! Checked against real servers (Elasticsearch 7.17.29 and OpenSearch 2.19.6 embedded by
//! `scripts/backend.sh`, indices `logs` and `secret`): `/logs%2Csecret/_search` searches both;
//! `//_search`, `/,/_search` and `/_search?index` search every index; `/_search?index=secret`,
//! `?ind%65x=secret`, `?size=5;index=secret`, `/_cat/indices?index=secret` and
//! `/_mapping?index=secret` all reach `secret`; `/logs/_search?index=secret` stays on `logs`;
//! `/./_search` looks for index `.`; `/logs%%/_search` for `logs%`; `/%5Fsearch` is
//! `GET /{index}` on `_search`; `GET /logs/_doc/_count` counts on 7.17 but is a document get on
//! OpenSearch 2.19 (and `POST` indexes a document `_count` there).

use std::borrow::Cow;

use smallvec::SmallVec;

use crate::http::Method;

use super::index_name::{self, NameList};
use path::Path;

// Submodule paths are explicit so this file compiles the same whether it is reached as
// `es/route.rs` from the crate or through a `#[path]` attribute (scratch and fuzz crates).
#[path = "route/path.rs"]
mod path;
#[path = "route/query.rs"]
mod query;
pub(crate) use query::param as query_param;
#[rustfmt::skip]
#[path = "route/table.rs"]
mod table;
#[path = "route/trie.rs"]
mod trie;

#[cfg(test)]
#[path = "route/tests.rs"]
mod tests;

/// API name of a request whose method and path match no known route.
pub const UNKNOWN_API: &str = "unknown";
/// Action of a request with no known transport action. A glob such as `*` matches this string,
/// so the ACL must test [`Classified::is_unknown`] before matching actions, and deny.
pub const UNKNOWN_ACTION: &str = "unknown";
/// Segments kept for routing; no route is longer, so a longer path is [`UNKNOWN_API`].
pub const MAX_SEGMENTS: usize = 12;

/// A client error found while classifying. All are answered with 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteError {
    /// The path does not start with `/`.
    NotAbsolutePath,
    /// A raw byte that must be percent-encoded: control, space, DEL, non-ASCII, `\` or `#`.
    InvalidPathByte,
    /// `//` inside the path.
    EmptySegment,
    /// A `.` or `..` segment or name, raw or percent-encoded.
    DotSegment,
    /// A malformed `%` escape.
    BadPercentEncoding,
    /// Percent-decoded bytes that are not UTF-8.
    InvalidUtf8,
    /// A percent-decoded control character.
    ControlCharacter,
    /// An empty item in a comma list of names (`a,,b`, `a,`, `,`).
    EmptyName,
    /// A `/` in an index, alias, data stream, repository or snapshot name outside date math.
    SlashInName,
    /// A name starting with `:` (empty remote cluster alias).
    EmptyRemoteCluster,
    /// A query parameter that would stand in for a path part the API reads.
    PathPartInQuery,
    /// Elasticsearch versions would route this path to different handlers.
    AmbiguousRoute,
}

impl RouteError {
    /// Human-readable reason for an Elasticsearch-style `illegal_argument_exception` body.
    pub fn reason(self) -> &'static str {
        match self {
            RouteError::NotAbsolutePath => "request path must start with '/'",
            RouteError::InvalidPathByte => {
                "request path contains a character that must be percent-encoded"
            }
            RouteError::EmptySegment => "request path contains an empty segment ('//')",
            RouteError::DotSegment => "request path contains a '.' or '..' segment or name",
            RouteError::BadPercentEncoding => {
                "request path or query has an invalid escape sequence"
            }
            RouteError::InvalidUtf8 => "request path decodes to invalid UTF-8",
            RouteError::ControlCharacter => "request path decodes to a control character",
            RouteError::EmptyName => "request path has an empty name in a comma-separated list",
            RouteError::SlashInName => "index, alias or snapshot name must not contain '/'",
            RouteError::EmptyRemoteCluster => "index name has an empty remote cluster alias",
            RouteError::PathPartInQuery => {
                "query parameter overrides a path part (put indices and names in the path)"
            }
            RouteError::AmbiguousRoute => {
                "request path is routed differently by different Elasticsearch versions"
            }
        }
    }
}

impl std::fmt::Display for RouteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for RouteError {}

/// What a path part names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Index, alias or data-stream expressions for the `indices` rule (comma list).
    Index,
    /// Data stream names of the data stream APIs (comma list).
    DataStream,
    /// Snapshot repository names (comma list).
    Repository,
    /// Snapshot names (comma list).
    Snapshot,
    /// Anything else: document ids, node ids, metrics, template and pipeline names, ...
    Other,
}

impl Role {
    fn bit(self) -> u8 {
        match self {
            Role::Index => 1,
            Role::DataStream => 2,
            Role::Repository => 4,
            Role::Snapshot => 8,
            Role::Other => 0,
        }
    }
}

/// Which part of the body can name further indices; a hint for the body extractors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyIndices {
    /// The body names no index.
    None,
    /// `_bulk`: the `_index` of every action line (the path index is the default).
    Bulk,
    /// `_mget`: `docs[]._index` (the path index is the default).
    Mget,
    /// `_msearch`: the `index` of every header line; every search line is a search body
    /// (see `Search`).
    Msearch,
    /// `_msearch/template`: like `Msearch`, with search template requests as search lines
    /// (see `SearchTemplate`).
    MsearchTemplate,
    /// A search-family body (`_search`, `_count`, `_validate/query`, `_explain`,
    /// `_delete_by_query`, `_field_caps`, ...): the query may read other indices from inside
    /// (terms lookups, `more_like_this` documents, ...). The searched indices stay in the path.
    Search,
    /// `_search/template`: an inline template read as a search body, or a stored one.
    SearchTemplate,
    /// `_rank_eval`: every `requests[].request` is a search body; `templates` stand for `*`.
    RankEval,
    /// `_mtermvectors`: `docs[]._index`.
    Mtermvectors,
    /// `_reindex`: `source.index` and `dest.index`; `source` is a search body too.
    Reindex,
    /// `POST /_aliases`: the `index`/`indices`/`alias`/`aliases` of every action.
    UpdateAliases,
    /// Index creation, rollover, shrink/split/clone: the `aliases` object names new aliases;
    /// `settings` may set ingest pipelines.
    NewIndexAliases,
    /// Index templates: `index_patterns` (and `aliases`); their settings may set ingest
    /// pipelines.
    IndexTemplate,
    /// Settings updates (`PUT /_settings`, data stream settings) and `_create_from`: no
    /// index, but the settings may set ingest pipelines.
    IndexSettings,
    /// `PUT /_ingest/pipeline/{id}`: no index, but the definition is what later writes that
    /// run the pipeline run (`es::pipeline`).
    PipelineDefinition,
    /// SQL / ES|QL: the `FROM` clause of the query text.
    QueryText,
    /// Indices named where the gateway does not look: a body it does not parse or a stored
    /// definition the request creates, previews or runs (transforms, datafeeds, enrich
    /// policies, watches, ...; `tools/routes/gen_routes.py` `UNREAD`).
    Unread,
    /// `_cluster/allocation/explain`: `index`.
    AllocationExplain,
    /// Snapshot creation: `indices` (all when absent) are read into the snapshot.
    SnapshotCreate,
    /// Snapshot restore: `indices` (all when absent) are written, possibly renamed.
    SnapshotRestore,
}

/// One named part of the matched route, percent-decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part<'a> {
    /// The part's name in the route template, e.g. `index`, `id`, `repository`.
    pub name: &'static str,
    /// What the part names.
    pub role: Role,
    /// The decoded segment; borrowed from the request unless it held a `%` escape.
    pub value: Cow<'a, str>,
}

impl Part<'_> {
    /// The names in the part: the comma-separated items for list roles, the whole value for
    /// [`Role::Other`].
    pub fn items(&self) -> impl Iterator<Item = &str> {
        let list = self.role != Role::Other;
        let mut whole = Some(self.value.as_ref());
        let mut split = self.value.split(',');
        std::iter::from_fn(move || if list { split.next() } else { whole.take() })
    }
}

/// Inline capacity of [`Parts`]. The routes of everyday traffic have at most 2 `{parts}`
/// (`/{index}/_doc/{id}`); the few with more (`/_snapshot/{repository}/{snapshot}/_clone/
/// {target_snapshot}`, 7.x `/{index}/{type}/{id}`, `/{index}/_mvt/{field}/{zoom}/{x}/{y}`) spill
/// to the heap. A smaller `Classified` is cheaper to return on every request.
const PART_CAPACITY: usize = 2;

/// The named parts of the matched route, in path order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parts<'a>(SmallVec<[Part<'a>; PART_CAPACITY]>);

impl<'a> Parts<'a> {
    /// The part with this template name.
    pub fn get(&self, name: &str) -> Option<&Part<'a>> {
        self.0.iter().find(|p| p.name == name)
    }

    /// All parts in path order.
    pub fn iter(&self) -> impl Iterator<Item = &Part<'a>> {
        self.0.iter()
    }

    /// Every item of every part with `role`, e.g. all index expressions of
    /// `/{index}/_clone/{target}`.
    pub fn names(&self, role: Role) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter(move |p| p.role == role)
            .flat_map(|p| p.items())
    }

    /// Number of parts.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The route has no parts.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The classification of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified<'a> {
    /// The REST API name from the spec (`search`, `indices.create`, ...), or [`UNKNOWN_API`].
    pub api: &'static str,
    /// The transport action ReadonlyREST would check, or [`UNKNOWN_ACTION`].
    pub action: &'static str,
    /// Which part of the body may name more indices.
    pub body: BodyIndices,
    /// The route's named path parts.
    pub parts: Parts<'a>,
    /// Bit set of roles the API addresses but this path form leaves out (see `targets_all`).
    implicit_all: u8,
    /// Resolved only through an Elasticsearch 7.x typed route.
    legacy: bool,
    /// The query string (after `?`), for the parameters that change what a request touches.
    pub query: Option<&'a [u8]>,
}

impl<'a> Classified<'a> {
    /// The request has no known action; the ACL must deny it.
    pub fn is_unknown(&self) -> bool {
        self.action == UNKNOWN_ACTION
    }

    /// The API addresses names of `role`, but this path form names none, so the server applies
    /// it to all of them: `GET /_search` (all indices), `GET /_snapshot` (all repositories).
    /// False for APIs whose names then come from the body (`POST /_bulk`, `POST /_reindex`).
    pub fn targets_all(&self, role: Role) -> bool {
        self.implicit_all & role.bit() != 0
    }

    /// Index expressions named by the path ([`Role::Index`] parts, comma-split).
    pub fn indices(&self) -> impl Iterator<Item = &str> {
        self.parts.names(Role::Index)
    }

    /// The route exists only as an Elasticsearch 7.x typed route (`/{index}/{type}/...`); an
    /// 8.x server without `compatible-with=7` and OpenSearch 2.x reject such requests.
    pub fn is_legacy(&self) -> bool {
        self.legacy
    }

    fn unknown() -> Classified<'a> {
        Classified {
            api: UNKNOWN_API,
            action: UNKNOWN_ACTION,
            body: BodyIndices::None,
            parts: Parts::default(),
            implicit_all: 0,
            legacy: false,
            query: None,
        }
    }
}

/// Classifies a request. `target` is the request-target as sent (`/logs/_search?q=x`; httparse
/// hands it over as `&str`); pass the query string along, the guard against `?index=` overrides
/// needs it. Borrowed parts point into `target`.
pub fn classify(method: Method, target: &str) -> Result<Classified<'_>, RouteError> {
    // ES `RestRequest`: the path ends at the first '?'.
    match target.as_bytes().iter().position(|&b| b == b'?') {
        Some(q) => {
            let (path, query) = target.split_at(q);
            classify_path(method, path, query.as_bytes().get(1..))
        }
        None => classify_path(method, target, None),
    }
}

/// [`classify`] for a target held as bytes. Bytes that are not UTF-8 are `InvalidPathByte` in
/// the path (they would have to be percent-encoded); in the query only keys are read.
pub fn classify_bytes(method: Method, target: &[u8]) -> Result<Classified<'_>, RouteError> {
    let end = target
        .iter()
        .position(|&b| b == b'?')
        .unwrap_or(target.len());
    let (path, query) = target.split_at(end);
    let path = std::str::from_utf8(path).map_err(|_| match target.first() {
        Some(b'/') => RouteError::InvalidPathByte,
        _ => RouteError::NotAbsolutePath,
    })?;
    classify_path(method, path, query.get(1..))
}

fn classify_path<'a>(
    method: Method,
    target: &'a str,
    query: Option<&'a [u8]>,
) -> Result<Classified<'a>, RouteError> {
    let mut path = Path::default();
    path.split(target)?;
    if path.too_long {
        return Ok(Classified::unknown());
    }
    let route_id = match trie::resolve(&path.segs, method) {
        trie::Resolution::None => return Ok(Classified::unknown()),
        trie::Resolution::Ambiguous => return Err(RouteError::AmbiguousRoute),
        trie::Resolution::Route(id) => id,
    };
    let Some(route) = table::ROUTES.get(usize::from(route_id)) else {
        return Ok(Classified::unknown());
    };
    let Some(api) = table::APIS.get(usize::from(route.api)) else {
        return Ok(Classified::unknown());
    };
    let legacy = route.views & trie::MODERN == 0;

    let mut parts = Parts::default();
    let mut foreign = false;
    for param in route.params {
        let pos = usize::from(param.pos);
        let raw = path.segs.get(pos).copied().unwrap_or_default();
        let plain = path.plain & (1 << pos) != 0;
        let value = match plain {
            // No '%' and no ',': the value is the raw segment, one name (checked in `Path::split`).
            true => Cow::Borrowed(raw),
            false => index_name::decode_part(raw)?,
        };
        let list = match (param.role, plain) {
            (Role::Other, _) => NameList::Ordinary,
            (_, true) => index_name::check_name(&value)?,
            (_, false) => index_name::check_name_list(&value)?,
        };
        foreign |= match param.role {
            Role::Index | Role::DataStream => list == NameList::HasReserved,
            Role::Other => legacy && is_reserved_type(param.name, &value),
            Role::Repository | Role::Snapshot => false,
        };
        parts.0.push(Part {
            name: param.name,
            role: param.role,
            value,
        });
    }
    if let Some(query) = query {
        query::check(query, route.guard)?;
    }
    // A generic route caught a path of an endpoint we do not know: see `NameList::HasReserved`.
    if foreign {
        return Ok(Classified::unknown());
    }
    Ok(Classified {
        api: api.name,
        action: api.action,
        body: api.body,
        parts,
        implicit_all: route.implicit_all,
        legacy,
        query,
    })
}

/// The 7.x `{type}` part with a name ES 7 rejects (`_` first, `_doc` aside): the path belongs to
/// an endpoint we do not know, e.g. OpenSearch's `PUT /_plugins/_ism/x` or `POST /logs/_scale`.
fn is_reserved_type(name: &str, value: &str) -> bool {
    name == "type" && value.starts_with('_') && value != "_doc"
}

/// One API of the table.
struct Api {
    name: &'static str,
    action: &'static str,
    body: BodyIndices,
}

/// One `{part}` of a route template.
struct Param {
    /// Segment index in the path.
    pos: u8,
    name: &'static str,
    role: Role,
}

/// One (method, path shape) with its handler's API.
struct Route {
    method: Method,
    /// `trie::MODERN` and/or `trie::LEGACY`.
    views: u8,
    /// Index into `APIS`.
    api: u16,
    params: &'static [Param],
    /// `Role::bit`s the API has in other templates but not in this one.
    implicit_all: u8,
    /// Part names (of list roles) the API reads but this template lacks: forbidden query keys.
    guard: &'static [&'static str],
}

/// Sentinel for "no `{param}` child".
const NO_NODE: u16 = u16::MAX;

/// One node of the path trie.
struct Node {
    /// Literal children `(key, literal, node)`, sorted by literal bytes; `key` is
    /// `trie::segment_key(literal)`, which sorts the same way.
    lits: &'static [(u64, &'static [u8], u16)],
    /// Open-addressing hash table over `lits` (indices; `u16::MAX` empty), a power of two long,
    /// probed linearly from `trie::slot_hash(literal)`; empty when there are no literals.
    slots: &'static [u16],
    /// The `{param}` child or `NO_NODE`.
    param: u16,
    /// Views that contain the node.
    views: u8,
    /// Views in which some route ends here (ES: `node.value != null`).
    value: u8,
    /// Some route ending here exists only in the legacy view.
    legacy_routes: bool,
    /// Routes ending here (indices into `ROUTES`).
    routes: &'static [u16],
}
