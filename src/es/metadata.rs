//! What the cluster has: indices (and whether they are hidden), aliases, data streams, index
//! templates, and the ingest pipelines and the indices and templates that run them.
//!
//! Read by a background refresher (`proxy::metadata`) from `GET /_resolve/index/*`, the
//! templates, the indices' pipeline settings and `GET /_ingest/pipeline`; the ACL uses it to
//! expand wildcards and aliases in read requests before filtering them, as ReadonlyREST does
//! inside Elasticsearch, and to tell which pipelines a write runs (`es::pipeline`). No IO here.

use super::pipeline::{self, IndexPipelines, Ingest, TemplatePipelines};
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
    /// Ingest pipelines, and the indices and templates that run them.
    pub ingest: Ingest,
}

/// Composable (`_index_template`) or legacy (`_template`) index templates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TemplateKind {
    Composable,
    Legacy,
}

/// The metadata response could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unexpected cluster metadata response: {0}")]
pub struct MetadataError(String);

impl ClusterMetadata {
    /// The snapshot before the first refresh: nothing known, ingest pipelines not read
    /// ([`Ingest::unread`]).
    pub fn unread() -> ClusterMetadata {
        ClusterMetadata {
            ingest: Ingest::unread(),
            ..ClusterMetadata::default()
        }
    }

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
                        let body = template.get("index_template");
                        let found = patterns(body.and_then(|t| t.get("index_patterns")));
                        self.templates.insert((kind, name.to_string()), found);
                        let pipelines = TemplatePipelines {
                            own: template_pipelines(body),
                            composed_of: patterns(body.and_then(|t| t.get("composed_of"))),
                        };
                        self.ingest
                            .add_template((kind, name.to_string()), pipelines);
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
                    let pipelines = TemplatePipelines {
                        own: IndexPipelines::from_settings(template.get("settings")),
                        composed_of: Vec::new(),
                    };
                    self.ingest.add_template((kind, name.clone()), pipelines);
                }
            }
        }
        Ok(())
    }

    /// Adds the pipeline settings of a `GET /_component_template` response.
    pub fn add_component_templates(&mut self, body: &[u8]) -> Result<(), MetadataError> {
        let value = json(body)?;
        let list = value
            .get("component_templates")
            .and_then(|v| v.as_array())
            .ok_or_else(|| MetadataError("no `component_templates`".into()))?;
        for component in list {
            let Some(name) = component.get("name").and_then(|n| n.as_str()) else {
                return Err(MetadataError("a component template without a name".into()));
            };
            let pipelines = template_pipelines(component.get("component_template"));
            if !pipelines.is_empty() {
                self.ingest.components.insert(name.to_string(), pipelines);
            }
        }
        Ok(())
    }

    /// Adds the indices' pipelines from a `GET /_all/_settings/index.default_pipeline,
    /// index.final_pipeline` response (index -> `{"settings": {...}}`; indices that set
    /// neither are left out by the node).
    pub fn add_index_settings(&mut self, body: &[u8]) -> Result<(), MetadataError> {
        let value = json(body)?;
        let object = value
            .as_object()
            .ok_or_else(|| MetadataError("settings: not an object".into()))?;
        for (index, entry) in object {
            let Some(entry) = entry.as_object() else {
                return Err(MetadataError(format!("settings of {index}: not an object")));
            };
            let pipelines = IndexPipelines::from_settings(entry.get("settings"));
            if !pipelines.is_empty() {
                self.ingest.indices.insert(index.clone(), pipelines);
            }
        }
        Ok(())
    }

    /// Analyses the pipelines of a `GET /_ingest/pipeline` response (`{}` when there are
    /// none).
    pub fn add_pipelines(&mut self, body: &[u8]) -> Result<(), MetadataError> {
        let value = json(body)?;
        let definitions = value
            .as_object()
            .ok_or_else(|| MetadataError("pipelines: not an object".into()))?;
        self.ingest.pipelines = pipeline::analyze(definitions);
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

fn json(body: &[u8]) -> Result<serde_json::Value, MetadataError> {
    serde_json::from_slice(body).map_err(|e| MetadataError(e.to_string()))
}

/// The pipelines of a template body's `template.settings` (composable and component).
fn template_pipelines(body: Option<&serde_json::Value>) -> IndexPipelines {
    IndexPipelines::from_settings(
        body.and_then(|t| t.get("template"))
            .and_then(|t| t.get("settings")),
    )
}

#[cfg(test)]
mod tests;
