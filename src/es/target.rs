//! What a request touches, as the ACL needs it: every index expression with read or write
//! access, plus repositories, snapshots and data streams, from the path and (for the APIs
//! that carry them there) from the body; for search-family bodies also the indices the query
//! reads from inside (`Access::Lookup`, see `body::lookups`), also those of a `_reindex`'s
//! `source` query and of the searches of a `_rank_eval`.
//!
//! Also the ingest pipelines a request runs or sets (`es::pipeline::PipelineUse`): those
//! its path and body name, the default and final pipelines set in the index settings of its
//! body (`body::settings`), the index whose settings a resize or `_create_from` copies, the
//! component templates a composable template is composed of, and the pipeline definition a
//! `PUT /_ingest/pipeline/{id}` gives (`body::pipeline`).
//!
//! No IO. Built once per request from the route classification; bodies are read only for the
//! APIs that name indices (or set index settings, or define a pipeline) in them, after the
//! proxy buffered (and the caller inflated) them.

use super::body::{
    self, AliasActionKind, BodyError, BulkOp, SearchBody, SettingsBody, TemplateKind,
};
use super::metadata::TemplateKind as ExistingTemplate;
use super::pipeline::PipelineUse;
use super::route::{BodyIndices, Classified, Role};
use std::borrow::Cow;

/// How a request uses an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// Reads only: a mix of allowed and forbidden indices can be narrowed to the allowed ones.
    Read,
    /// Creates, changes or deletes: every index must be allowed.
    Write,
    /// Read from inside a query (a terms lookup, a `more_like_this` document, ...): the
    /// query cannot be rewritten, so every such index must be allowed as written.
    Lookup,
}

/// One index expression the request names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexRef<'a> {
    pub name: Cow<'a, str>,
    pub access: Access,
}

/// Everything the Elasticsearch-aware rules look at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Targets<'a> {
    pub indices: Vec<IndexRef<'a>>,
    /// The API works on every index because the path names none (`GET /_search`).
    pub all_indices: bool,
    /// Indices come only from the path of a read API: the path can be rewritten to narrow it.
    pub narrowable: bool,
    pub repositories: Vec<Cow<'a, str>>,
    pub snapshots: Vec<Cow<'a, str>>,
    pub data_streams: Vec<Cow<'a, str>>,
    /// The API addresses every repository / snapshot / data stream (`GET /_snapshot`).
    pub all_repositories: bool,
    pub all_snapshots: bool,
    pub all_data_streams: bool,
    /// The operations of a `_bulk` body (for per-item action checks).
    pub bulk_ops: Vec<BulkOp>,
    /// The body names indices in a way that is not inspected (SQL text, term vectors, ...):
    /// an `indices` rule cannot be satisfied.
    pub opaque_indices: bool,
    /// The searches of an `_msearch` or the documents of an `_mget`, in body order, each with
    /// the index expressions it reads (`_all` for all indices); an `_msearch` search with no
    /// `index` of its own has an empty list: it reads `subrequest_defaults`. An allow block
    /// narrows each on its own, as a read of its own; `indices` lists their names once each.
    pub subrequests: Vec<Vec<Cow<'a, str>>>,
    /// The sub-requests are `_mget` documents (each read from the one index it names).
    pub documents: bool,
    /// The path's indices an `_msearch` search without `index` reads (none: all indices).
    /// Narrowed once, in the path, for all of them: rewriting each such header would cost
    /// (path indices x searches).
    pub subrequest_defaults: Vec<Cow<'a, str>>,
    /// A listing of index templates: it shows their index patterns, so an allow block
    /// narrows it to the templates whose patterns it grants.
    pub templates: Option<TemplateRead<'a>>,
    /// The ingest pipelines the request names or sets, and whether the written indices' own
    /// run (`es::pipeline`; `acl::indices` looks them up in the metadata).
    pub pipelines: PipelineUse<'a>,
}

/// The index templates a template read lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateRead<'a> {
    pub kinds: &'static [ExistingTemplate],
    /// The names or name patterns asked for; empty: all.
    pub names: Vec<Cow<'a, str>>,
}

/// The template listing an API reads, if it is one (`GET /_index_template`, `GET /_template`,
/// `GET /_cat/templates`, with or without names).
fn template_read<'a>(classified: &'a Classified<'_>) -> Option<TemplateRead<'a>> {
    use super::metadata::TemplateKind::*;
    let kinds: &'static [ExistingTemplate] = match classified.api {
        "indices.get_index_template" => &[Composable],
        "indices.get_template" => &[Legacy],
        "cat.templates" => &[Composable, Legacy],
        _ => return None,
    };
    let names = classified
        .parts
        .get("name")
        .map(|part| {
            part.value
                .split(',')
                .map(|n| Cow::Owned(n.to_string()))
                .collect()
        })
        .unwrap_or_default();
    Some(TemplateRead { kinds, names })
}

/// Whether an action only reads (ReadonlyREST narrows those; writes must be fully allowed).
pub fn access_of(action: &str) -> Access {
    // Refresh, flush, force-merge and cache clearing change no data; ReadonlyREST narrows them
    // like reads (opensearch-benchmark sends `POST /_all/_refresh`).
    const READ_PREFIXES: [&str; 14] = [
        "indices:data/read/",
        "cluster:monitor/",
        "indices:admin/refresh",
        "indices:admin/flush",
        "indices:admin/forcemerge",
        "indices:admin/cache/clear",
        "indices:monitor/",
        "indices:admin/get",
        "indices:admin/mappings/get",
        "indices:admin/mappings/fields/get",
        "indices:admin/aliases/get",
        "indices:admin/resolve/index",
        "indices:admin/validate/query",
        "indices:admin/analyze",
    ];
    if READ_PREFIXES.iter().any(|p| action.starts_with(p)) {
        Access::Read
    } else {
        Access::Write
    }
}

/// Whether the request's indices are (partly) in its body, so the body must be read before
/// the `indices` rule can decide.
pub fn needs_body(classified: &Classified<'_>) -> bool {
    matches!(
        classified.body,
        BodyIndices::Bulk
            | BodyIndices::Mget
            | BodyIndices::Msearch
            | BodyIndices::MsearchTemplate
            | BodyIndices::Reindex
            | BodyIndices::UpdateAliases
            | BodyIndices::IndexTemplate
            | BodyIndices::NewIndexAliases
            | BodyIndices::IndexSettings
            | BodyIndices::PipelineDefinition
            | BodyIndices::SnapshotCreate
            | BodyIndices::SnapshotRestore
            | BodyIndices::Search
            | BodyIndices::SearchTemplate
            | BodyIndices::RankEval
    )
}

/// Whether what a read works on is named by its path alone, so that the path can be narrowed.
/// A search body adds only lookups, which are checked as written and never narrowed.
fn reads_only_path(classified: &Classified<'_>) -> bool {
    matches!(
        classified.body,
        BodyIndices::Search | BodyIndices::SearchTemplate | BodyIndices::RankEval
    ) || !needs_body(classified)
}

impl<'a> Targets<'a> {
    /// The targets named by the path alone.
    pub fn from_path(classified: &'a Classified<'_>) -> Targets<'a> {
        let access = access_of(classified.action);
        let names = |role| {
            classified
                .parts
                .names(role)
                .map(Cow::Borrowed)
                .collect::<Vec<_>>()
        };
        let indices: Vec<IndexRef<'a>> = classified
            .parts
            .names(Role::Index)
            .map(|name| IndexRef {
                name: Cow::Borrowed(name),
                access,
            })
            .collect();
        // A `pipeline` parameter that cannot be read is a pipeline that cannot be checked.
        let pipelines = PipelineUse::of(classified);
        Targets {
            all_indices: classified.targets_all(Role::Index),
            narrowable: access == Access::Read && reads_only_path(classified),
            repositories: names(Role::Repository),
            snapshots: names(Role::Snapshot),
            data_streams: names(Role::DataStream),
            all_repositories: classified.targets_all(Role::Repository),
            all_snapshots: classified.targets_all(Role::Snapshot),
            all_data_streams: classified.targets_all(Role::DataStream),
            opaque_indices: matches!(
                classified.body,
                BodyIndices::QueryText
                    | BodyIndices::Mtermvectors
                    | BodyIndices::AllocationExplain
                    | BodyIndices::Unread
            ) || pipelines.is_none(),
            indices,
            bulk_ops: Vec::new(),
            subrequests: Vec::new(),
            documents: false,
            subrequest_defaults: Vec::new(),
            templates: template_read(classified),
            pipelines: pipelines.unwrap_or_default(),
        }
    }

    /// Adds the indices an (already inflated) body names.
    pub fn add_body(&mut self, classified: &Classified<'_>, body: &[u8]) -> Result<(), BodyError> {
        let path_index: Option<String> = classified.indices().next().map(str::to_string);
        let default = path_index.as_deref();
        match classified.body {
            BodyIndices::Bulk => {
                let mut seen = FirstSeen::new();
                let mut seen_pipelines = FirstSeen::new();
                for name in &self.pipelines.named {
                    seen_pipelines.add(name, ());
                }
                let known_pipelines = seen_pipelines.pairs.len();
                body::scan_bulk(body, default, |item| {
                    seen.add(item.index, item.op);
                    if let Some(name) = item.pipeline {
                        seen_pipelines.add(name, ());
                    }
                })?;
                for (name, ()) in seen_pipelines.pairs.into_iter().skip(known_pipelines) {
                    self.pipelines.name(Cow::Owned(name));
                }
                self.indices.clear();
                for (index, op) in seen.pairs {
                    self.push_owned(index, Access::Write);
                    if !self.bulk_ops.contains(&op) {
                        self.bulk_ops.push(op);
                    }
                }
            }
            BodyIndices::Msearch | BodyIndices::MsearchTemplate => {
                let defaults: Vec<&str> = classified.indices().collect();
                let mut seen = FirstSeen::new();
                let subrequests = &mut self.subrequests;
                let summary = body::scan_msearch(body, &defaults, |target| {
                    // A search without its own `index` reads the path's indices (reported
                    // once for all such searches): its list stays empty.
                    if target.explicit {
                        let search = target.search as usize;
                        if subrequests.len() <= search {
                            subrequests.resize_with(search + 1, Vec::new);
                        }
                        subrequests[search].push(Cow::Owned(target.index.to_string()));
                    }
                    seen.add(target.index, ());
                })?;
                self.subrequests
                    .resize_with(summary.searches as usize, Vec::new);
                self.subrequest_defaults =
                    defaults.iter().map(|d| Cow::Owned(d.to_string())).collect();
                let kind = search_kind(classified.body);
                let lookups =
                    distinct_lookups(|each| body::scan_msearch_lookups(body, kind, each))?;
                self.indices.clear();
                for (index, ()) in seen.pairs {
                    if index == body::ALL_INDICES {
                        self.all_indices = true;
                    } else {
                        self.push_owned(index, Access::Read);
                    }
                }
                for name in lookups {
                    self.push_owned(name, Access::Lookup);
                }
            }
            BodyIndices::Search | BodyIndices::SearchTemplate | BodyIndices::RankEval => {
                let kind = search_kind(classified.body);
                for name in distinct_lookups(|each| body::scan_lookups(body, kind, each))? {
                    self.push_owned(name, Access::Lookup);
                }
            }
            BodyIndices::Mget => {
                let mut seen = FirstSeen::new();
                self.documents = true;
                let subrequests = &mut self.subrequests;
                body::scan_mget(body, default, |target| {
                    subrequests.push(vec![Cow::Owned(target.index.to_string())]);
                    seen.add(target.index, ());
                })?;
                self.indices.clear();
                for (index, ()) in seen.pairs {
                    self.push_owned(index, Access::Read);
                }
            }
            BodyIndices::Reindex => {
                let reindex = body::parse_reindex(body)?;
                if reindex.remote || reindex.script || reindex.dest_pipeline {
                    // The destination can be changed by code we do not evaluate.
                    self.opaque_indices = true;
                }
                // The source query runs on this cluster unless `remote` (opaque, above).
                let lookups = distinct_lookups(|each| {
                    let span = reindex.source.clone();
                    body::scan_lookups_within(body, span, SearchBody::Search, each)
                })?;
                for source in reindex.source_indices {
                    self.push_owned(source.into_owned(), Access::Read);
                }
                self.push_owned(reindex.dest_index.into_owned(), Access::Write);
                for name in lookups {
                    self.push_owned(name, Access::Lookup);
                }
            }
            BodyIndices::UpdateAliases => {
                for action in body::parse_aliases(body)? {
                    for index in action.indices {
                        self.push_owned(index.into_owned(), Access::Write);
                    }
                    if action.kind != AliasActionKind::RemoveIndex {
                        for alias in action.aliases {
                            self.push_owned(alias.into_owned(), Access::Write);
                        }
                    }
                }
            }
            BodyIndices::IndexTemplate => {
                let kind = if classified.api.starts_with("indices.put_index_template")
                    || classified.api.starts_with("indices.simulate")
                {
                    TemplateKind::Composable
                } else if classified.api.starts_with("cluster.put_component_template") {
                    TemplateKind::Component
                } else {
                    TemplateKind::Legacy
                };
                let template = body::parse_template(body, kind)?;
                for pattern in template.index_patterns.into_iter().chain(template.aliases) {
                    self.push_owned(pattern.into_owned(), Access::Write);
                }
                // A simulation stores nothing: the pipelines it would set never run.
                if !classified.api.starts_with("indices.simulate") {
                    let components = template.composed_of.into_iter();
                    self.pipelines.composed_of =
                        components.map(|c| Cow::Owned(c.into_owned())).collect();
                    let shape = match kind {
                        TemplateKind::Legacy => SettingsBody::LegacyTemplate,
                        TemplateKind::Composable | TemplateKind::Component => {
                            SettingsBody::Template
                        }
                    };
                    self.add_settings(body, shape)?;
                }
            }
            BodyIndices::NewIndexAliases => {
                // `PUT /index {"aliases": {"name": {...}}}`: every alias created is a write.
                if let Some(aliases) = json_object(body)?.get("aliases") {
                    let Some(aliases) = aliases.as_object() else {
                        return Err(BodyError::UnexpectedJson { line: 1 });
                    };
                    for alias in aliases.keys() {
                        self.push_owned(alias.clone(), Access::Write);
                    }
                }
                self.add_settings(body, SettingsBody::NewIndex)?;
            }
            BodyIndices::IndexSettings => {
                let shape = if classified.api == "indices.create_from" {
                    SettingsBody::CreateFrom
                } else {
                    SettingsBody::Update
                };
                self.add_settings(body, shape)?;
            }
            BodyIndices::PipelineDefinition => {
                if let Some(definition) = &mut self.pipelines.defines {
                    definition.body = body::read_pipeline_definition(body);
                }
            }
            BodyIndices::SnapshotCreate | BodyIndices::SnapshotRestore => {
                let restore = classified.body == BodyIndices::SnapshotRestore;
                let access = if restore { Access::Write } else { Access::Read };
                let object = json_object(body)?;
                match object.get("indices") {
                    None => self.all_indices = true,
                    Some(indices) => {
                        for name in json_names(indices)? {
                            self.push_owned(name, access);
                        }
                    }
                }
                // Renamed restores write to names computed by a Java regex replacement:
                // not evaluated here, so an `indices` rule cannot be satisfied.
                if restore
                    && (object.contains_key("rename_pattern")
                        || object.contains_key("rename_replacement"))
                {
                    self.opaque_indices = true;
                }
                if restore {
                    self.add_settings(body, SettingsBody::Restore)?;
                }
                // The snapshot or restore covers indices the path does not name: never narrowed.
                self.narrowable = false;
            }
            _ => {}
        }
        Ok(())
    }

    /// Adds the default and final pipelines the index settings in a body set.
    fn add_settings(&mut self, body: &[u8], shape: SettingsBody) -> Result<(), BodyError> {
        let settings = body::scan_pipeline_settings(body, shape)?;
        self.pipelines.add_settings(settings);
        Ok(())
    }

    /// Adds a write of every index pattern of a template that exists (its overwrite or
    /// deletion changes what happens to those indices).
    pub fn add_existing_template(&mut self, patterns: &[String]) {
        for pattern in patterns {
            self.push_owned(pattern.clone(), Access::Write);
        }
    }

    fn push_owned(&mut self, name: String, access: Access) {
        self.indices.push(IndexRef {
            name: Cow::Owned(name),
            access,
        });
    }

    /// Whether the request names any index at all (a template listing shows index
    /// patterns).
    pub fn involves_indices(&self) -> bool {
        self.all_indices
            || !self.indices.is_empty()
            || self.opaque_indices
            || self.templates.is_some()
    }
}

/// How the searches of a search-family body are written.
fn search_kind(body: BodyIndices) -> SearchBody {
    match body {
        BodyIndices::SearchTemplate | BodyIndices::MsearchTemplate => SearchBody::Template,
        BodyIndices::RankEval => SearchBody::RankEval,
        _ => SearchBody::Search,
    }
}

/// Each index a query reads from inside, as `scan` reports them, once, in first-seen order.
fn distinct_lookups(
    scan: impl FnOnce(&mut dyn FnMut(&str)) -> Result<(), BodyError>,
) -> Result<Vec<String>, BodyError> {
    let mut seen = FirstSeen::new();
    scan(&mut |name| seen.add(name, ()))?;
    Ok(seen.pairs.into_iter().map(|(name, ())| name).collect())
}

/// The (name, kind) pairs a body names, each once, in the order they first appear.
///
/// Every check is one hash lookup, so a body naming n indices costs O(n); the linear scan this
/// replaces made a `_bulk` of 80k distinct names (3.6 MB) cost ~19 s of a core. Each name is
/// stored once, in `pairs`; the table holds only its hash and position, so growing the table
/// never reads the names again (they are scattered over the heap, and a body of distinct
/// names makes the table outgrow the caches). The hasher is seeded at random, so names chosen
/// to collide cannot be prepared.
struct FirstSeen<K> {
    pairs: Vec<(String, K)>,
    table: hashbrown::HashTable<(u64, usize)>,
    hasher: ahash::RandomState,
}

impl<K: Copy + Eq + std::hash::Hash> FirstSeen<K> {
    fn new() -> Self {
        FirstSeen {
            pairs: Vec::new(),
            table: hashbrown::HashTable::new(),
            hasher: ahash::RandomState::new(),
        }
    }

    /// Adds the pair unless it is there already.
    fn add(&mut self, name: &str, kind: K) {
        // Items of a batch mostly repeat the last pair: no hash for those.
        if self
            .pairs
            .last()
            .is_some_and(|(n, k)| *k == kind && n == name)
        {
            return;
        }
        let hash = self.hasher.hash_one((name, kind));
        let pairs = &self.pairs;
        let same = |&(h, at): &(u64, usize)| {
            h == hash && pairs.get(at).is_some_and(|(n, k)| *k == kind && n == name)
        };
        if let hashbrown::hash_table::Entry::Vacant(slot) =
            self.table.entry(hash, same, |&(h, _)| h)
        {
            slot.insert((hash, self.pairs.len()));
            self.pairs.push((name.to_string(), kind));
        }
    }
}

/// A JSON object body (an empty body is an empty object). These bodies are small and
/// rare, so they are read with serde_json rather than the streaming scanners.
fn json_object(body: &[u8]) -> Result<serde_json::Map<String, serde_json::Value>, BodyError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Map::new());
    }
    match serde_json::from_slice(body) {
        Ok(serde_json::Value::Object(object)) => Ok(object),
        Ok(_) => Err(BodyError::UnexpectedJson { line: 1 }),
        Err(e) => Err(BodyError::MalformedJson {
            line: e.line() as u32,
        }),
    }
}

/// Index names given as `"a,b"` or `["a", "b"]`, split on commas as Elasticsearch does.
fn json_names(value: &serde_json::Value) -> Result<Vec<String>, BodyError> {
    let items: Vec<&str> = match value {
        serde_json::Value::String(s) => vec![s.as_str()],
        serde_json::Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().ok_or(BodyError::UnexpectedJson { line: 1 }))
            .collect::<Result<_, _>>()?,
        _ => return Err(BodyError::UnexpectedJson { line: 1 }),
    };
    Ok(items
        .iter()
        .flat_map(|s| s.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect())
}

/// The template a template API names (`PUT`/`DELETE /_index_template/{name}`, ...), if any.
pub fn template_target<'c>(
    classified: &'c Classified<'_>,
) -> Option<(super::metadata::TemplateKind, &'c str)> {
    use super::metadata::TemplateKind::*;
    let kind = match classified.api {
        "indices.put_index_template" | "indices.delete_index_template" => Composable,
        "indices.put_template" | "indices.delete_template" => Legacy,
        _ => return None,
    };
    classified
        .parts
        .get("name")
        .map(|part| (kind, part.value.as_ref()))
}

#[cfg(test)]
mod tests;
