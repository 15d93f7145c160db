//! What the cluster has: indices (and whether they are hidden), aliases, data streams.
//!
//! Read from `GET /_resolve/index/*?expand_wildcards=all` by a background refresher
//! (`proxy::metadata`); the ACL uses it to expand wildcards and aliases in read requests
//! before filtering them, as ReadonlyREST does inside Elasticsearch. No IO here.

use std::collections::HashMap;

/// A snapshot of the cluster's names. Empty until the first refresh succeeds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterMetadata {
    /// Index name -> hidden (dot-prefixed system indices and `index.hidden`).
    pub indices: HashMap<String, bool>,
    /// Alias name -> the indices it points at.
    pub aliases: HashMap<String, Vec<String>>,
    /// Data stream name -> its backing indices.
    pub data_streams: HashMap<String, Vec<String>>,
    /// Index templates that exist -> their index patterns.
    pub templates: HashMap<(TemplateKind, String), Vec<String>>,
}

/// Composable (`_index_template`) or legacy (`_template`) index templates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TemplateKind {
    Composable,
    Legacy,
}

/// The metadata response could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unexpected _resolve/index response: {0}")]
pub struct MetadataError(String);

impl ClusterMetadata {
    /// Parses a `_resolve/index` response body.
    pub fn from_resolve_response(body: &[u8]) -> Result<ClusterMetadata, MetadataError> {
        let value: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| MetadataError(e.to_string()))?;
        let list = |key: &str| {
            value
                .get(key)
                .and_then(|v| v.as_array())
                .cloned()
                .unwrap_or_default()
        };
        let strings = |v: Option<&serde_json::Value>| -> Vec<String> {
            v.and_then(|v| v.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut metadata = ClusterMetadata::default();
        for index in list("indices") {
            let Some(name) = index.get("name").and_then(|n| n.as_str()) else {
                return Err(MetadataError("an index without a name".into()));
            };
            let hidden = strings(index.get("attributes"))
                .iter()
                .any(|a| a == "hidden")
                || name.starts_with('.');
            metadata.indices.insert(name.to_string(), hidden);
        }
        for alias in list("aliases") {
            if let Some(name) = alias.get("name").and_then(|n| n.as_str()) {
                metadata
                    .aliases
                    .insert(name.to_string(), strings(alias.get("indices")));
            }
        }
        for stream in list("data_streams") {
            if let Some(name) = stream.get("name").and_then(|n| n.as_str()) {
                metadata
                    .data_streams
                    .insert(name.to_string(), strings(stream.get("backing_indices")));
            }
        }
        if value.get("indices").is_none() {
            return Err(MetadataError("no `indices` list".into()));
        }
        Ok(metadata)
    }

    /// Adds the templates of a `GET /_index_template` (composable) or `GET /_template`
    /// (legacy) response.
    pub fn add_templates(&mut self, kind: TemplateKind, body: &[u8]) -> Result<(), MetadataError> {
        let value: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| MetadataError(e.to_string()))?;
        let patterns = |v: Option<&serde_json::Value>| -> Vec<String> {
            match v {
                Some(serde_json::Value::String(s)) => vec![s.clone()],
                Some(serde_json::Value::Array(a)) => a
                    .iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect(),
                _ => Vec::new(),
            }
        };
        match kind {
            TemplateKind::Composable => {
                let list = value
                    .get("index_templates")
                    .and_then(|v| v.as_array())
                    .ok_or_else(|| MetadataError("no `index_templates`".into()))?;
                for template in list {
                    if let Some(name) = template.get("name").and_then(|n| n.as_str()) {
                        let found = patterns(
                            template
                                .get("index_template")
                                .and_then(|t| t.get("index_patterns")),
                        );
                        self.templates.insert((kind, name.to_string()), found);
                    }
                }
            }
            TemplateKind::Legacy => {
                let object = value
                    .as_object()
                    .ok_or_else(|| MetadataError("not an object".into()))?;
                for (name, template) in object {
                    // 5.x's `template` string is the pattern of very old templates.
                    let found = patterns(
                        template
                            .get("index_patterns")
                            .or_else(|| template.get("template")),
                    );
                    self.templates.insert((kind, name.clone()), found);
                }
            }
        }
        Ok(())
    }

    /// What an alias or data stream stands for, if `name` is one.
    pub fn members(&self, name: &str) -> Option<&[String]> {
        self.aliases
            .get(name)
            .or_else(|| self.data_streams.get(name))
            .map(Vec::as_slice)
    }

    /// Every index, alias and data stream name, with whether it is hidden (aliases and data
    /// streams count as hidden when their name starts with a dot).
    pub fn names(&self) -> impl Iterator<Item = (&str, bool)> {
        self.indices
            .iter()
            .map(|(n, hidden)| (n.as_str(), *hidden))
            .chain(
                self.aliases
                    .keys()
                    .map(|n| (n.as_str(), n.starts_with('.'))),
            )
            .chain(
                self.data_streams
                    .keys()
                    .map(|n| (n.as_str(), n.starts_with('.'))),
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_resolve_index() {
        let body = br#"{"indices":[{"name":"logs-1","aliases":["all"],"attributes":["open"]},
            {"name":".kibana_1","aliases":[".kibana"],"attributes":["hidden","open"]},
            {"name":"h","attributes":["hidden","open"]}],
            "aliases":[{"name":"all","indices":["logs-1","secret"]},{"name":".kibana","indices":[".kibana_1"]}],
            "data_streams":[{"name":"ds","backing_indices":[".ds-ds-000001"],"timestamp_field":"@timestamp"}]}"#;
        let m = ClusterMetadata::from_resolve_response(body).unwrap();
        assert_eq!(m.indices.get("logs-1"), Some(&false));
        assert_eq!(m.indices.get(".kibana_1"), Some(&true));
        assert_eq!(m.indices.get("h"), Some(&true));
        assert_eq!(m.members("all").unwrap(), ["logs-1", "secret"]);
        assert_eq!(m.members("ds").unwrap(), [".ds-ds-000001"]);
        assert_eq!(m.names().count(), 6);
        assert!(ClusterMetadata::from_resolve_response(b"{}").is_err());
        let mut m = m;
        m.add_templates(TemplateKind::Composable, br#"{"index_templates":[{"name":"t1","index_template":{"index_patterns":["logs-*"]}}]}"#).unwrap();
        m.add_templates(
            TemplateKind::Legacy,
            br#"{"old":{"index_patterns":["a-*","b-*"]},"ancient":{"template":"c-*"}}"#,
        )
        .unwrap();
        assert_eq!(
            m.templates[&(TemplateKind::Composable, "t1".into())],
            ["logs-*"]
        );
        assert_eq!(
            m.templates[&(TemplateKind::Legacy, "old".into())],
            ["a-*", "b-*"]
        );
        assert_eq!(
            m.templates[&(TemplateKind::Legacy, "ancient".into())],
            ["c-*"]
        );
        assert!(ClusterMetadata::from_resolve_response(b"nope").is_err());
    }
}
