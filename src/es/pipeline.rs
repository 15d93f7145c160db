//! Ingest pipelines: which ones can send a document to another index than the one it was
//! written to, and which pipelines a request runs.
//!
//! Owns: the analysis of the pipeline definitions the metadata refresher reads
//! (`GET /_ingest/pipeline`), the `index.default_pipeline`/`index.final_pipeline` settings of
//! indices and index templates, and what a request itself says about pipelines, those it
//! runs and those it sets ([`PipelineUse`]). Must not: do IO, or trust what it cannot read: anything it does not
//! recognise counts as [`Reroute::Possible`]. `acl::indices` decides with it: a request that
//! may run a rerouting (or unknown) pipeline writes, as far as the ACL is concerned, anywhere.
//!
//! A pipeline can change the target index when any processor it runs can (its own
//! processors, their `on_failure` handlers, the pipeline's `on_failure`, a `foreach`
//! processor's `processor`, and the pipelines its `pipeline` processors call, followed by
//! name). Processor by processor, following the processors of Elasticsearch 7.17/8.x and
//! OpenSearch 2.19 (`ingest-common`, `ingest-geoip`, `ingest-user-agent`, `ingest-attachment`
//! and the x-pack ones):
//! - `script`: always (a script can assign `ctx._index`); `reroute` and `date_index_name`:
//!   always (changing `_index` is what they do).
//! - `pipeline`: what the called pipeline can do. A name that is a template (`{{`), a cycle,
//!   or nesting deeper than [`MAX_NESTING`] counts as possible. A pipeline that does not exist
//!   counts as possible too (the node fails the document today, but the name can be created
//!   later), except with `ignore_missing_pipeline: true` (Elasticsearch 8's `logs@custom`
//!   hooks), where the node skips it: the refresher sees it once it is created.
//! - A processor with a fixed target field: possible when a target names `_index`. Targets
//!   are the values of `field`, `path`, `target_field`, `target_fields` and every key ending
//!   in `_field`/`_fields`, at the top of the processor's configuration and in every object
//!   nested in it (option objects such as `inference`'s `inference_config.*.results_field`,
//!   lists of objects). Sources such as `copy`'s `source_field`, and such keys inside a
//!   `set`/`append` value that is an object, are counted too: that only costs precision. A
//!   target that is neither a string nor a list of strings counts as naming `_index`; one
//!   names it when it is `_index`, starts with `_index.`, or is a template (`{{`,
//!   `set`/`append`/`remove` resolve their `field` per document); a `_source.` prefix is
//!   dropped first, since OpenSearch and Elasticsearch 7 keep `_index` in the same map as the
//!   source (checked: `set` of `_source._index` reroutes on OpenSearch 2.19). These
//!   processors are `append attachment bytes circle community_id convert copy csv date
//!   dot_expander drop enrich fail fingerprint geo_grid geoip gsub html_strip inference
//!   ip_location join lowercase network_direction redact registered_domain remove
//!   remove_by_pattern rename set set_security_user sort split terminate trim uppercase
//!   uri_parts urldecode user_agent`, plus `foreach`.
//! - Processors that write fields named by the data or a pattern: `kv` without a
//!   `target_field` (keys go to the document root) unless `include_keys` is given and no
//!   `prefix`+key names `_index`; `json` with `add_to_root` (checked: reroutes on OpenSearch
//!   2.19); `grok` when a pattern or `pattern_definitions` value mentions `_index`
//!   (`%{WORD:_index}`, `(?<_index>...)`); `dissect` when a key mentions `_index` or is a
//!   reference key (`%{*k}`/`%{&k}` name the field after the data; checked: reroutes).
//! - Any other processor type (OpenSearch's ML processors, future ones): possible.
//! - `if` conditions are scripts, but they run on a read-only view of the document
//!   (`ConditionalProcessor`'s `UnmodifiableIngestData`; checked on OpenSearch 2.19), so
//!   they are not counted.
//! - Setting `_routing`, `_id`, `_version` or other metadata does not move a document to
//!   another index: not counted.
//!
//! A request runs: the pipeline of its `pipeline` query parameter (index, create, bulk,
//! update_by_query), the `pipeline` of each bulk item, and the default and final pipelines
//! of every index it writes documents to (index, create, update (an upsert goes through
//! them; checked on OpenSearch 2.19), bulk (every item, deletes included), update_by_query,
//! reindex (its `dest.pipeline` is opaque to the ACL, `es::target`)). Counting an index's
//! default pipeline also when the request names another one (which replaces it), and the
//! final pipeline (which OpenSearch 2.19 and Elasticsearch 8 forbid to change `_index`),
//! only costs precision. `_none` names no pipeline. `_simulate` writes nothing and is not
//! counted.
//!
//! A request also makes later writes run pipelines when it sets an index's (or a template's)
//! `index.default_pipeline`/`index.final_pipeline` (index creation, settings updates, index,
//! legacy and component templates, rollover, shrink/split/clone, `_create_from`, snapshot
//! restore: `es::body::settings` reads them in every spelling), or creates an index with
//! another's settings (shrink/split/clone, `_create_from`: the source's pipelines are
//! copied), or stores a composable template composed of component templates (theirs become
//! the template's). The metadata learns of those only at its next refresh, so the request
//! itself counts as running them ([`PipelineUse::set`], [`PipelineUse::copied_from`],
//! [`PipelineUse::composed_of`]); a value that cannot be read as a name counts as a pipeline
//! that may reroute. `null`, `_none` and `""` set no pipeline.
//!
//! A request can also change what a pipeline does: `PUT /_ingest/pipeline/{id}` gives `id` a
//! new definition, which every write that runs `id` runs at once, while the metadata keeps
//! the old verdict until its next refresh. So the request counts as running the new
//! definition ([`PipelineUse::defines`], read by `es::body::pipeline`; a body that cannot be
//! read counts as possible), analysed as above with its `pipeline` processors followed by
//! name: `id` is the new definition (calling it is a cycle), any other pipeline counts by the
//! verdict the metadata holds ([`Ingest::pipelines`]; one it does not hold counts as possible,
//! or as skipped with `ignore_missing_pipeline: true`; before the metadata was first read,
//! every other pipeline counts as possible), [`Ingest::definition_may_reroute`].
//! Those verdicts were reached with `id`'s old definition, which is sound: a pipeline known
//! never to reroute has no processor that can and calls only pipelines known never to
//! reroute, `id`, and missing ones it skips; so when the new definition has no such processor
//! either and calls only those, no pipeline it reaches has one. A cycle back to `id` through
//! a known pipeline (which the node fails at run time anyway) is therefore not counted as
//! possible; only a call of `id` inside its own new definition is.

use std::borrow::Cow;
use std::collections::HashMap;

use serde_json::{Map, Value};

use super::body::PipelineSettings;
use super::metadata::TemplateKind;
use super::route::{query_param, Classified};

/// How deep processors and pipeline calls may nest before the analysis gives up (counts as
/// [`Reroute::Possible`]); it also bounds the recursion on the refresher's stack.
pub const MAX_NESTING: usize = 128;

/// The APIs whose documents go through ingest pipelines.
const INGESTING_APIS: [&str; 6] = [
    "index",
    "create",
    "update",
    "bulk",
    "update_by_query",
    "reindex",
];

/// The pipeline name that means "no pipeline" (Elasticsearch `IngestService.NOOP_PIPELINE_NAME`).
pub const NO_PIPELINE: &str = "_none";

/// Whether a pipeline can change a document's `_index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reroute {
    /// No processor it runs can.
    Never,
    /// Some processor can, or the analysis cannot tell (see the module docs).
    Possible,
}

/// What a request says about the pipelines it runs or makes indices run; the metadata adds
/// the default and final pipelines of the indices it writes (`acl::indices`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PipelineUse<'a> {
    /// The API writes documents: the default and final pipelines of the indices it writes
    /// run.
    pub documents: bool,
    /// Pipelines the request names (`?pipeline=`, bulk items' `pipeline`), each once;
    /// `_none` is left out. Only APIs that write documents are asked for the parameter (the
    /// others reject it, or read it as something else).
    pub named: Vec<Cow<'a, str>>,
    /// Default and final pipelines the request sets on indices or templates (index
    /// settings in its body, `es::body::settings`), as often as set (each costs a lookup);
    /// `_none` and `""` are left out. Later writes run them, but the metadata learns of
    /// them only at its next refresh.
    pub set: Vec<Cow<'a, str>>,
    /// The request sets a default or final pipeline to a value that cannot be read as a
    /// name (a number, a list, ...): it counts as setting one that may reroute.
    pub set_unreadable: bool,
    /// Indices whose settings, pipelines included, the request copies into a new index
    /// (`_shrink`, `_split`, `_clone`: Elasticsearch 8 always copies them, OpenSearch with
    /// `copy_settings`; `_create_from`): their pipelines count as set.
    pub copied_from: Vec<Cow<'a, str>>,
    /// Component templates a composable template the request stores is composed of: their
    /// pipelines count as set.
    pub composed_of: Vec<Cow<'a, str>>,
    /// The pipeline the request defines (`PUT /_ingest/pipeline/{id}`): writes that run it
    /// run the new definition, but the metadata learns of it only at its next refresh.
    pub defines: Option<Definition<'a>>,
}

/// A pipeline definition a request gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition<'a> {
    /// The pipeline defined.
    pub id: Cow<'a, str>,
    /// The body (`es::body::pipeline`); `None` until it is read, or when it cannot be: a
    /// definition that may reroute.
    pub body: Option<Value>,
}

/// The APIs that create an index with the settings of another, and the path part naming it.
const SETTINGS_COPIES: [(&str, &str); 4] = [
    ("indices.shrink", "index"),
    ("indices.split", "index"),
    ("indices.clone", "index"),
    ("indices.create_from", "source"),
];

impl<'a> PipelineUse<'a> {
    /// What the route says: whether its API writes documents, the pipeline its `pipeline`
    /// query parameter names, and the index whose settings it copies. `None` when that
    /// parameter cannot be read (given twice, bad escapes, not UTF-8).
    pub fn of(classified: &Classified<'_>) -> Option<PipelineUse<'a>> {
        let mut uses = PipelineUse {
            documents: INGESTING_APIS.contains(&classified.api),
            ..PipelineUse::default()
        };
        if uses.documents {
            if let Some(query) = classified.query {
                if let Some(name) = query_param(query, "pipeline").ok()? {
                    uses.name(Cow::Owned(String::from_utf8(name).ok()?));
                }
            }
        }
        let source = SETTINGS_COPIES
            .iter()
            .find(|(api, _)| *api == classified.api)
            .and_then(|(_, part)| classified.parts.get(part));
        if let Some(source) = source {
            uses.copied_from = source.items().map(|i| Cow::Owned(i.to_string())).collect();
        }
        if classified.api == "ingest.put_pipeline" {
            uses.defines = classified.parts.get("id").map(|id| Definition {
                id: Cow::Owned(id.value.to_string()),
                body: None,
            });
        }
        Some(uses)
    }

    /// Adds a pipeline the request names (`_none` is dropped); the caller keeps them
    /// distinct.
    pub fn name(&mut self, name: Cow<'a, str>) {
        if name != NO_PIPELINE {
            self.named.push(name);
        }
    }

    /// Adds what a body's index settings set (`_none` and `""`, which no pipeline can be
    /// called, are no pipeline).
    pub fn add_settings(&mut self, settings: PipelineSettings<'_>) {
        self.set_unreadable |= settings.unreadable;
        for name in settings.names {
            if !name.is_empty() && name != NO_PIPELINE {
                self.set.push(Cow::Owned(name.into_owned()));
            }
        }
    }
}

/// The pipelines an index (or a template, for the indices it creates) runs by itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexPipelines {
    /// `index.default_pipeline` (runs when the request names none).
    pub default_pipeline: Option<String>,
    /// `index.final_pipeline` (runs last, always).
    pub final_pipeline: Option<String>,
}

impl IndexPipelines {
    /// Reads the two settings from a settings object, flat (`"index.default_pipeline"`) or
    /// nested (`"index": {"default_pipeline"}`); `_none` is no pipeline.
    pub fn from_settings(settings: Option<&Value>) -> IndexPipelines {
        let read = |name: &str| {
            let settings = settings?;
            let value =
                setting(settings, &format!("index.{name}")).or_else(|| setting(settings, name))?;
            (value != NO_PIPELINE).then(|| value.to_string())
        };
        IndexPipelines {
            default_pipeline: read("default_pipeline"),
            final_pipeline: read("final_pipeline"),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.default_pipeline.is_none() && self.final_pipeline.is_none()
    }

    fn names(&self) -> impl Iterator<Item = &str> {
        self.default_pipeline
            .iter()
            .chain(&self.final_pipeline)
            .map(String::as_str)
    }
}

/// A template's own pipelines and the component templates whose settings it merges in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TemplatePipelines {
    pub own: IndexPipelines,
    pub composed_of: Vec<String>,
}

/// What the cluster metadata knows about ingest pipelines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ingest {
    /// Nothing has been read yet (the refresher has not succeeded once): no index's
    /// pipelines are known, so every document write counts as running an unknown pipeline.
    /// An empty [`Ingest`] (the default) is a cluster known to have no pipelines.
    pub unread: bool,
    /// Every pipeline that exists, with what it can do.
    pub pipelines: HashMap<String, Reroute>,
    /// Indices that have a default or final pipeline.
    pub indices: HashMap<String, IndexPipelines>,
    /// Index templates that set one or are composed of component templates (their index
    /// patterns are in `ClusterMetadata::templates`).
    pub templates: HashMap<(TemplateKind, String), TemplatePipelines>,
    /// Component templates that set one.
    pub components: HashMap<String, IndexPipelines>,
}

impl Ingest {
    /// The state before the first read (see [`Ingest::unread`]).
    pub fn unread() -> Ingest {
        Ingest {
            unread: true,
            ..Ingest::default()
        }
    }

    /// Records a template's pipelines, if it has or can merge in any.
    pub fn add_template(&mut self, key: (TemplateKind, String), pipelines: TemplatePipelines) {
        if !pipelines.own.is_empty() || !pipelines.composed_of.is_empty() {
            self.templates.insert(key, pipelines);
        }
    }

    /// Whether the pipeline `name` exists and cannot change `_index`.
    pub fn never_reroutes(&self, name: &str) -> bool {
        name == NO_PIPELINE || self.pipelines.get(name) == Some(&Reroute::Never)
    }

    /// Whether writing to the existing index `index` may run a rerouting or unknown pipeline.
    pub fn index_may_reroute(&self, index: &str) -> bool {
        self.indices
            .get(index)
            .is_some_and(|p| self.any_may_reroute(p))
    }

    /// Whether an index created by the template `key` may run a rerouting or unknown pipeline.
    pub fn template_may_reroute(&self, key: &(TemplateKind, String)) -> bool {
        let Some(template) = self.templates.get(key) else {
            return false;
        };
        self.any_may_reroute(&template.own)
            || template
                .composed_of
                .iter()
                .any(|c| self.component_may_reroute(c))
    }

    /// Whether the component template `name` sets a rerouting or unknown pipeline (one the
    /// metadata does not hold sets none).
    pub fn component_may_reroute(&self, name: &str) -> bool {
        self.components
            .get(name)
            .is_some_and(|p| self.any_may_reroute(p))
    }

    /// Whether some index may run a rerouting or unknown pipeline.
    pub fn some_index_may_reroute(&self) -> bool {
        self.indices.values().any(|p| self.any_may_reroute(p))
    }

    fn any_may_reroute(&self, pipelines: &IndexPipelines) -> bool {
        pipelines.names().any(|name| !self.never_reroutes(name))
    }

    /// Whether a pipeline definition a request gives may change `_index`, calling the
    /// pipelines this metadata knows (module docs).
    pub fn definition_may_reroute(&self, definition: &Definition<'_>) -> bool {
        let Some(body) = &definition.body else {
            return true;
        };
        let mut analysis = Analysis {
            pipelines: Pipelines::Redefined {
                id: &definition.id,
                definition: body,
                known: (!self.unread).then_some(&self.pipelines),
            },
            states: HashMap::new(),
        };
        analysis.pipeline(&definition.id, 0) == Reroute::Possible
    }
}

/// Analyses every pipeline of a `GET /_ingest/pipeline` response (name -> definition).
pub fn analyze(definitions: &Map<String, Value>) -> HashMap<String, Reroute> {
    let mut analysis = Analysis {
        pipelines: Pipelines::Read(definitions),
        states: HashMap::with_capacity(definitions.len()),
    };
    for name in definitions.keys() {
        analysis.pipeline(name, 0);
    }
    analysis
        .states
        .into_iter()
        .filter_map(|(name, state)| match state {
            State::Done(verdict) => Some((name.to_string(), verdict)),
            State::Visiting => None,
        })
        .collect()
}

enum State {
    Visiting,
    Done(Reroute),
}

/// Where the analysis finds the pipelines it follows by name.
enum Pipelines<'d> {
    /// Every definition, analysed as reached (a `GET /_ingest/pipeline` response).
    Read(&'d Map<String, Value>),
    /// A new definition of `id`; every other pipeline by the verdict the metadata holds
    /// (`None` before it was first read: every other name counts as possible, whether it
    /// exists or not).
    Redefined {
        id: &'d str,
        definition: &'d Value,
        known: Option<&'d HashMap<String, Reroute>>,
    },
}

/// A pipeline found by name.
enum Found<'d> {
    /// Its definition, to analyse.
    Definition(&'d str, &'d Value),
    /// Its verdict, already reached.
    Verdict(Reroute),
}

impl<'d> Pipelines<'d> {
    fn find(&self, name: &str) -> Option<Found<'d>> {
        match *self {
            Pipelines::Read(definitions) => definitions
                .get_key_value(name)
                .map(|(name, definition)| Found::Definition(name, definition)),
            Pipelines::Redefined { id, definition, .. } if id == name => {
                Some(Found::Definition(id, definition))
            }
            Pipelines::Redefined {
                known: Some(known), ..
            } => known.get(name).copied().map(Found::Verdict),
            Pipelines::Redefined { known: None, .. } => Some(Found::Verdict(Reroute::Possible)),
        }
    }
}

struct Analysis<'d> {
    pipelines: Pipelines<'d>,
    states: HashMap<&'d str, State>,
}

impl<'d> Analysis<'d> {
    /// The verdict for a pipeline by name; unknown names and cycles are `Possible`.
    fn pipeline(&mut self, name: &str, depth: usize) -> Reroute {
        let (name, definition) = match self.pipelines.find(name) {
            None => return Reroute::Possible,
            Some(Found::Verdict(verdict)) => return verdict,
            Some(Found::Definition(name, definition)) => (name, definition),
        };
        match self.states.get(name) {
            Some(State::Done(verdict)) => return *verdict,
            Some(State::Visiting) => return Reroute::Possible,
            None => {}
        }
        self.states.insert(name, State::Visiting);
        let verdict = self.definition(definition, depth);
        self.states.insert(name, State::Done(verdict));
        verdict
    }

    fn definition(&mut self, definition: &Value, depth: usize) -> Reroute {
        let Some(definition) = definition.as_object() else {
            return Reroute::Possible;
        };
        let Some(processors) = definition.get("processors") else {
            return Reroute::Possible;
        };
        let on_failure = definition.get("on_failure").unwrap_or(&Value::Null);
        either(
            self.processors(processors, depth),
            self.handlers(on_failure, depth),
        )
    }

    /// A list of processors.
    fn processors(&mut self, list: &Value, depth: usize) -> Reroute {
        if depth >= MAX_NESTING {
            return Reroute::Possible;
        }
        let Some(list) = list.as_array() else {
            return Reroute::Possible;
        };
        for processor in list {
            if self.processor(processor, depth + 1) == Reroute::Possible {
                return Reroute::Possible;
            }
        }
        Reroute::Never
    }

    /// An optional `on_failure` list.
    fn handlers(&mut self, handlers: &Value, depth: usize) -> Reroute {
        match handlers {
            Value::Null => Reroute::Never,
            list => self.processors(list, depth),
        }
    }

    /// One processor: `{"type": {config}}`.
    fn processor(&mut self, processor: &Value, depth: usize) -> Reroute {
        let Some(processor) = processor.as_object() else {
            return Reroute::Possible;
        };
        let mut entries = processor.iter();
        let (Some((kind, config)), None) = (entries.next(), entries.next()) else {
            return Reroute::Possible;
        };
        // `script` may also be a bare string (an inline script): possible either way.
        let Some(config) = config.as_object().filter(|_| kind != "script") else {
            return Reroute::Possible;
        };
        let on_failure = config.get("on_failure").unwrap_or(&Value::Null);
        if self.handlers(on_failure, depth) == Reroute::Possible {
            return Reroute::Possible;
        }
        let own = match kind.as_str() {
            "reroute" | "date_index_name" => false,
            "pipeline" => return self.call(config, depth),
            "foreach" => {
                let inner = config.get("processor").unwrap_or(&Value::Null);
                if self.processor(inner, depth + 1) == Reroute::Possible {
                    return Reroute::Possible;
                }
                true
            }
            "kv" => kv_keys_stay(config),
            "json" => matches!(config.get("add_to_root"), None | Some(Value::Bool(false))),
            "grok" => grok_captures_stay(config),
            "dissect" => dissect_keys_stay(config),
            kind => FIELD_PROCESSORS.contains(&kind),
        };
        if own && !targets_index(config) {
            Reroute::Never
        } else {
            Reroute::Possible
        }
    }

    /// A `pipeline` processor.
    fn call(&mut self, config: &Map<String, Value>, depth: usize) -> Reroute {
        let Some(name) = config.get("name").and_then(Value::as_str) else {
            return Reroute::Possible;
        };
        if name.contains("{{") {
            return Reroute::Possible;
        }
        let skipped_when_missing =
            config.get("ignore_missing_pipeline") == Some(&Value::Bool(true));
        if skipped_when_missing && self.pipelines.find(name).is_none() {
            return Reroute::Never;
        }
        if depth >= MAX_NESTING {
            return Reroute::Possible;
        }
        self.pipeline(name, depth + 1)
    }
}

/// Processors that write only the fields their configuration names (module docs).
const FIELD_PROCESSORS: [&str; 38] = [
    "append",
    "attachment",
    "bytes",
    "circle",
    "community_id",
    "convert",
    "copy",
    "csv",
    "date",
    "dot_expander",
    "drop",
    "enrich",
    "fail",
    "fingerprint",
    "geo_grid",
    "geoip",
    "gsub",
    "html_strip",
    "inference",
    "ip_location",
    "join",
    "lowercase",
    "network_direction",
    "redact",
    "registered_domain",
    "remove",
    "remove_by_pattern",
    "rename",
    "set",
    "set_security_user",
    "sort",
    "split",
    "terminate",
    "trim",
    "uppercase",
    "uri_parts",
    "urldecode",
    "user_agent",
];

fn either(a: Reroute, b: Reroute) -> Reroute {
    if a == Reroute::Possible || b == Reroute::Possible {
        Reroute::Possible
    } else {
        Reroute::Never
    }
}

/// Whether a field name (or template) can name `_index` (module docs).
fn names_index(field: &str) -> bool {
    let mut path = field;
    while let Some(rest) = path.strip_prefix("_source.") {
        path = rest;
    }
    path == "_index" || path.starts_with("_index.") || field.contains("{{")
}

/// Whether any target field of a processor's configuration can name `_index`: its own keys,
/// and those of every object nested in it (option objects such as `inference`'s
/// `inference_config.*.results_field`, lists of them, inner processors). A target that is
/// neither a string nor a list of strings counts as naming it. No recursion: a stack of the
/// values still to look into.
fn targets_index(config: &Map<String, Value>) -> bool {
    let mut objects = vec![config];
    let mut nested: Vec<&Value> = Vec::new();
    while let Some(object) = objects.pop() {
        for (key, value) in object {
            if is_target_key(key) && target_names_index(value) {
                return true;
            }
            nested.push(value);
        }
        while let Some(value) = nested.pop() {
            match value {
                Value::Object(object) => objects.push(object),
                Value::Array(items) => nested.extend(items),
                _ => {}
            }
        }
    }
    false
}

/// Whether a configuration key names a field the processor may write (module docs).
fn is_target_key(key: &str) -> bool {
    matches!(key, "field" | "path" | "target_field" | "target_fields")
        || key.ends_with("_field")
        || key.ends_with("_fields")
}

/// Whether the value of a target key can name `_index`.
fn target_names_index(value: &Value) -> bool {
    match value {
        Value::String(field) => names_index(field),
        Value::Array(fields) => fields.iter().any(|f| f.as_str().is_none_or(names_index)),
        _ => true,
    }
}

/// `kv`: its keys land under `target_field`, or at the root, where only `include_keys`
/// (with `prefix`) says which fields can appear.
fn kv_keys_stay(config: &Map<String, Value>) -> bool {
    if config.get("target_field").is_some_and(Value::is_string) {
        return true; // `targets_index` checks the target itself
    }
    let prefix = match config.get("prefix") {
        None => "",
        Some(Value::String(prefix)) => prefix.as_str(),
        Some(_) => return false,
    };
    match config.get("include_keys") {
        Some(Value::Array(keys)) => keys.iter().all(|key| {
            key.as_str()
                .is_some_and(|key| !names_index(&format!("{prefix}{key}")))
        }),
        _ => false,
    }
}

/// `grok`: named captures become fields; none may mention `_index`.
fn grok_captures_stay(config: &Map<String, Value>) -> bool {
    let clean = |text: &Value| text.as_str().is_some_and(|t| !t.contains("_index"));
    let patterns_clean = match config.get("patterns") {
        Some(Value::Array(patterns)) => patterns.iter().all(clean),
        _ => false,
    };
    let definitions_clean = match config.get("pattern_definitions") {
        None => true,
        Some(Value::Object(definitions)) => definitions.values().all(clean),
        Some(_) => false,
    };
    patterns_clean && definitions_clean
}

/// `dissect`: every `%{key}` of the pattern becomes a field; reference keys (`*`, `&`) take
/// their name from the data.
fn dissect_keys_stay(config: &Map<String, Value>) -> bool {
    let Some(pattern) = config.get("pattern").and_then(Value::as_str) else {
        return false;
    };
    let mut rest = pattern;
    while let Some(start) = rest.find("%{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return false;
        };
        let key = &after[..end];
        if key.contains('*') || key.contains('&') || key.contains("_index") {
            return false;
        }
        rest = &after[end + 1..];
    }
    true
}

/// The string value of a setting, flat (`a.b.c`) or nested at any split (`a: {b.c}`).
fn setting<'v>(settings: &'v Value, key: &str) -> Option<&'v str> {
    let object = settings.as_object()?;
    if let Some(value) = object.get(key) {
        return value.as_str();
    }
    key.match_indices('.').find_map(|(dot, _)| {
        let inner = object.get(&key[..dot])?;
        setting(inner, &key[dot + 1..])
    })
}

#[cfg(test)]
mod tests;
