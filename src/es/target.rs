//! What a request touches, as the ACL needs it: every index expression with read or write
//! access, plus repositories, snapshots and data streams, from the path and (for the APIs
//! that carry them there) from the body.
//!
//! No IO. Built once per request from the route classification; bodies are read only for the
//! APIs that name indices in them, after the proxy buffered (and the caller inflated) them.

use super::body::{self, AliasActionKind, BodyError, BulkOp, TemplateKind};
use super::route::{BodyIndices, Classified, Role};
use std::borrow::Cow;

/// How a request uses an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// Reads only: a mix of allowed and forbidden indices can be narrowed to the allowed ones.
    Read,
    /// Creates, changes or deletes: every index must be allowed.
    Write,
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
            ),
            indices,
            bulk_ops: Vec::new(),
        }
    }

    /// Adds the indices an (already inflated) body names.
    pub fn add_body(&mut self, classified: &Classified<'_>, body: &[u8]) -> Result<(), BodyError> {
        let path_index: Option<String> = classified.indices().next().map(str::to_string);
        let default = path_index.as_deref();
        match classified.body {
            BodyIndices::Bulk => {
                let mut seen: Vec<(String, BulkOp)> = Vec::new();
                body::scan_bulk(body, default, |item| {
                    if !seen.iter().any(|(i, op)| i == item.index && *op == item.op) {
                        seen.push((item.index.to_string(), item.op));
                    }
                })?;
                self.indices.clear();
                for (index, op) in seen {
                    self.push_owned(index, Access::Write);
                    if !self.bulk_ops.contains(&op) {
                        self.bulk_ops.push(op);
                    }
                }
            }
            BodyIndices::Msearch => {
                let defaults: Vec<&str> = classified.indices().collect();
                let mut seen: Vec<String> = Vec::new();
                body::scan_msearch(body, &defaults, |target| {
                    if !seen.iter().any(|s| s == target.index) {
                        seen.push(target.index.to_string());
                    }
                })?;
                self.indices.clear();
                for index in seen {
                    if index == body::ALL_INDICES {
                        self.all_indices = true;
                    } else {
                        self.push_owned(index, Access::Read);
                    }
                }
            }
            BodyIndices::Mget => {
                let mut seen: Vec<String> = Vec::new();
                body::scan_mget(body, default, |target| {
                    if !seen.iter().any(|s| s == target.index) {
                        seen.push(target.index.to_string());
                    }
                })?;
                self.indices.clear();
                for index in seen {
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
            _ => {}
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::es::route::classify;
    use crate::http::Method;

    fn names(t: &Targets<'_>) -> Vec<(String, Access)> {
        t.indices
            .iter()
            .map(|i| (i.name.to_string(), i.access))
            .collect()
    }

    #[test]
    fn path_targets() {
        let c = classify(Method::Post, "/logs-1,logs-2/_search").unwrap();
        let t = Targets::from_path(&c);
        assert_eq!(
            names(&t),
            [
                ("logs-1".into(), Access::Read),
                ("logs-2".into(), Access::Read)
            ]
        );
        assert!(t.narrowable && !t.all_indices);

        let c = classify(Method::Get, "/_search").unwrap();
        assert!(Targets::from_path(&c).all_indices);

        let c = classify(Method::Put, "/logs-1").unwrap();
        let t = Targets::from_path(&c);
        assert_eq!(names(&t), [("logs-1".into(), Access::Write)]);
        assert!(!t.narrowable);

        let c = classify(Method::Get, "/").unwrap();
        assert!(!Targets::from_path(&c).involves_indices());
        // Cluster health without an index covers all of them (and can be narrowed).
        let c = classify(Method::Get, "/_cluster/health").unwrap();
        let t = Targets::from_path(&c);
        assert!(t.all_indices && t.narrowable);

        let c = classify(Method::Put, "/_snapshot/repo1/snap1").unwrap();
        let t = Targets::from_path(&c);
        assert_eq!((t.repositories.len(), t.snapshots.len()), (1, 1));
    }

    #[test]
    fn body_targets() {
        let c = classify(Method::Post, "/logstash-x/_bulk").unwrap();
        let mut t = Targets::from_path(&c);
        t.add_body(&c, b"{\"index\":{}}\n{}\n{\"delete\":{\"_index\":\"other\",\"_id\":\"1\"}}\n{\"index\":{}}\n{}\n").unwrap();
        assert_eq!(
            names(&t),
            [
                ("logstash-x".into(), Access::Write),
                ("other".into(), Access::Write)
            ]
        );
        assert_eq!(t.bulk_ops, [BulkOp::Index, BulkOp::Delete]);

        let c = classify(Method::Post, "/_msearch").unwrap();
        let mut t = Targets::from_path(&c);
        t.add_body(&c, b"{\"index\":\"a\"}\n{}\n{}\n{}\n").unwrap();
        assert_eq!(names(&t), [("a".into(), Access::Read)]);
        assert!(t.all_indices, "the second search has no index: all indices");

        let c = classify(Method::Post, "/_reindex").unwrap();
        let mut t = Targets::from_path(&c);
        t.add_body(
            &c,
            b"{\"source\":{\"index\":\"src\"},\"dest\":{\"index\":\"dst\"}}",
        )
        .unwrap();
        assert_eq!(
            names(&t),
            [("src".into(), Access::Read), ("dst".into(), Access::Write)]
        );

        let c = classify(Method::Post, "/_aliases").unwrap();
        let mut t = Targets::from_path(&c);
        t.add_body(
            &c,
            b"{\"actions\":[{\"add\":{\"index\":\"i\",\"alias\":\"a\"}}]}",
        )
        .unwrap();
        assert_eq!(
            names(&t),
            [("i".into(), Access::Write), ("a".into(), Access::Write)]
        );

        let c = classify(Method::Put, "/_index_template/t").unwrap();
        let mut t = Targets::from_path(&c);
        t.add_body(&c, b"{\"index_patterns\":[\"x-*\"]}").unwrap();
        assert_eq!(names(&t), [("x-*".into(), Access::Write)]);
    }
}
