//! What a request touches, as the ACL needs it: every index expression with read or write
//! access, plus repositories, snapshots and data streams, from the path and (for the APIs
//! that carry them there) from the body.
//!
//! No IO. Built once per request from the route classification; bodies are read only for the
//! APIs that name indices in them, after the proxy buffered (and the caller inflated) them.

use super::body::{self, AliasActionKind, BodyError, BulkOp, TemplateKind};
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
    /// the index expressions it reads (`_all` for all indices). An allow block narrows each
    /// on its own, as a read of its own; `indices` lists their names once each.
    pub subrequests: Vec<Vec<Cow<'a, str>>>,
    /// The ingest pipelines the request names, and whether the written indices' own run
    /// (`es::pipeline`; `acl::indices` looks them up in the metadata).
    pub pipelines: PipelineUse<'a>,
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
            | BodyIndices::Reindex
            | BodyIndices::UpdateAliases
            | BodyIndices::IndexTemplate
            | BodyIndices::NewIndexAliases
            | BodyIndices::SnapshotCreate
            | BodyIndices::SnapshotRestore
    )
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
            narrowable: access == Access::Read && !needs_body(classified),
            repositories: names(Role::Repository),
            snapshots: names(Role::Snapshot),
            data_streams: names(Role::DataStream),
            all_repositories: classified.targets_all(Role::Repository),
            all_snapshots: classified.targets_all(Role::Snapshot),
            all_data_streams: classified.targets_all(Role::DataStream),
            opaque_indices: matches!(
                classified.body,
                BodyIndices::QueryText | BodyIndices::Mtermvectors | BodyIndices::AllocationExplain
            ) || pipelines.is_none(),
            indices,
            bulk_ops: Vec::new(),
            subrequests: Vec::new(),
            pipelines: pipelines.unwrap_or_default(),
        }
    }

    /// Adds the indices an (already inflated) body names.
    pub fn add_body(&mut self, classified: &Classified<'_>, body: &[u8]) -> Result<(), BodyError> {
        let path_index: Option<String> = classified.indices().next().map(str::to_string);
        let default = path_index.as_deref();
        match classified.body {
            BodyIndices::Bulk => {
                let mut seen = Distinct::default();
                let mut pairs: Vec<(String, BulkOp)> = Vec::new();
                let mut seen_pipelines = Distinct::default();
                for name in &self.pipelines.named {
                    seen_pipelines.first(name, 0);
                }
                let mut pipelines: Vec<String> = Vec::new();
                body::scan_bulk(body, default, |item| {
                    if seen.first(item.index, item.op as u8) {
                        pairs.push((item.index.to_string(), item.op));
                    }
                    if let Some(name) = item.pipeline.filter(|p| seen_pipelines.first(p, 0)) {
                        pipelines.push(name.to_string());
                    }
                })?;
                for name in pipelines {
                    self.pipelines.name(Cow::Owned(name));
                }
                self.indices.clear();
                for (index, op) in pairs {
                    self.push_owned(index, Access::Write);
                    if !self.bulk_ops.contains(&op) {
                        self.bulk_ops.push(op);
                    }
                }
            }
            BodyIndices::Msearch => {
                let defaults: Vec<&str> = classified.indices().collect();
                let mut seen = Distinct::default();
                let mut names: Vec<String> = Vec::new();
                let subrequests = &mut self.subrequests;
                body::scan_msearch(body, &defaults, |target| {
                    let search = target.search as usize;
                    if subrequests.len() <= search {
                        subrequests.resize_with(search + 1, Vec::new);
                    }
                    subrequests[search].push(Cow::Owned(target.index.to_string()));
                    if seen.first(target.index, 0) {
                        names.push(target.index.to_string());
                    }
                })?;
                self.indices.clear();
                for index in names {
                    if index == body::ALL_INDICES {
                        self.all_indices = true;
                    } else {
                        self.push_owned(index, Access::Read);
                    }
                }
            }
            BodyIndices::Mget => {
                let mut seen = Distinct::default();
                let mut names: Vec<String> = Vec::new();
                let subrequests = &mut self.subrequests;
                body::scan_mget(body, default, |target| {
                    subrequests.push(vec![Cow::Owned(target.index.to_string())]);
                    if seen.first(target.index, 0) {
                        names.push(target.index.to_string());
                    }
                })?;
                self.indices.clear();
                for index in names {
                    self.push_owned(index, Access::Read);
                }
            }
            BodyIndices::Reindex => {
                let reindex = body::parse_reindex(body)?;
                if reindex.remote || reindex.script || reindex.dest_pipeline {
                    // The destination can be changed by code we do not evaluate.
                    self.opaque_indices = true;
                }
                for source in reindex.source_indices {
                    self.push_owned(source.into_owned(), Access::Read);
                }
                self.push_owned(reindex.dest_index.into_owned(), Access::Write);
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
                // The snapshot or restore covers indices the path does not name: never narrowed.
                self.narrowable = false;
            }
            _ => {}
        }
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

    /// Whether the request names any index at all.
    pub fn involves_indices(&self) -> bool {
        self.all_indices || !self.indices.is_empty() || self.opaque_indices
    }
}

/// The (name, kind) pairs a body named so far, for keeping each pair once in first-seen order.
///
/// Every check is one hash lookup, so a body naming n indices costs O(n). The linear scan
/// this replaces made a `_bulk` of 80k distinct names (3.6 MB) cost ~19 s of a core. The
/// hasher is seeded at random per process, so names chosen to collide cannot be prepared.
#[derive(Default)]
struct Distinct {
    /// Name -> one bit per kind already seen with it.
    kinds: ahash::AHashMap<String, u8>,
}

impl Distinct {
    /// Records `name` with `kind` (< 8); true the first time this pair is seen.
    fn first(&mut self, name: &str, kind: u8) -> bool {
        let bit = 1u8 << kind;
        match self.kinds.get_mut(name) {
            Some(kinds) => {
                let fresh = *kinds & bit == 0;
                *kinds |= bit;
                fresh
            }
            None => {
                self.kinds.insert(name.to_string(), bit);
                true
            }
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
