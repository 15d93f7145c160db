//! The audit part of a `readonlyrest:` section, decoded once with every mistake positioned.
//!
//! Reads `audit: {enabled, outputs}` and the legacy `audit_collector`, `audit_index_template`,
//! `audit_serializer`, `audit_cluster` keys, plus `obfuscated_headers`. The other keys of the
//! section belong to the ACL decoder and are left alone. No IO: a `file` output's directory is
//! checked when the sinks start ([`super::Audit::start`]).

use super::index_template::{check_index_name_part, IndexTemplate};
use crate::config::error::{entries, Diagnostics};
use crate::config::gateway::{bool_value, string_or_list};
use crate::config::yaml::Node;
use crate::config::UpstreamUrl;
use std::fmt;
use std::path::PathBuf;

/// The sink name ReadonlyREST reserves for its one-line ACL log.
pub const RESERVED_SINK_NAME: &str = "default_acl_log";
pub const DEFAULT_DATA_STREAM: &str = "readonlyrest_audit";
const CLASS_PREFIXES: &[&str] = &[
    "tech.beshu.ror.audit.instances.",
    "tech.beshu.ror.requestcontext.",
];

/// Everything the audit sinks need, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditSettings {
    /// The configured outputs; empty when auditing is off. Disabled ones are kept (and skipped).
    pub outputs: Vec<OutputSettings>,
    /// Lower-cased names of headers whose values must never be logged.
    pub obfuscated_headers: Vec<String>,
    /// `audit.default_acl_log_enabled`: ROR's one-line-per-request ACL log (default true).
    pub acl_log_enabled: bool,
}

impl Default for AuditSettings {
    fn default() -> Self {
        AuditSettings {
            outputs: Vec::new(),
            obfuscated_headers: vec!["authorization".to_string()],
            acl_log_enabled: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct OutputSettings {
    /// `name`, by default the output's type; block `enabled_audit_sinks` refer to it.
    pub name: String,
    pub enabled: bool,
    pub serializer: Serializer,
    pub kind: OutputKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum OutputKind {
    /// One JSON line per event on the gateway's log stream.
    Log { logger_name: Option<String> },
    /// JSON lines appended to a file (a Ringfence extension).
    File { path: PathBuf },
    /// Daily (or as templated) indices; `cluster: None` means the gateway's own upstreams.
    Index {
        template: IndexTemplate,
        cluster: Option<Vec<ClusterNode>>,
    },
    DataStream {
        name: String,
        cluster: Option<Vec<ClusterNode>>,
    },
}

impl AuditSettings {
    /// Whether an enabled output writes to an `https://` node of its own cluster (the
    /// gateway then needs its TLS client settings even with plain upstreams).
    pub fn has_https_cluster(&self) -> bool {
        self.outputs
            .iter()
            .filter(|o| o.enabled)
            .any(|o| match &o.kind {
                OutputKind::Index { cluster, .. } | OutputKind::DataStream { cluster, .. } => {
                    cluster.iter().flatten().any(|node| node.url.tls)
                }
                _ => false,
            })
    }
}

/// Which events a serializer writes and what it adds to them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serializer {
    /// ReadonlyREST's static serializers (`BlockVerbosityAware…`, `Query…`, `Full…`).
    Standard {
        allowed: AllowedEvents,
        include_content: bool,
    },
    /// Elastic Common Schema documents.
    Ecs { include_full_request_content: bool },
}

/// Which allowed requests are written (denied and failed ones always are).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllowedEvents {
    /// Only those matched by a block with `log_allowed_events` (not `verbosity: error`).
    FromBlocksThatLogThem,
    All,
}

impl Serializer {
    pub const DEFAULT: Serializer = Serializer::Standard {
        allowed: AllowedEvents::FromBlocksThatLogThem,
        include_content: false,
    };

    /// Whether events must carry the request body for this serializer.
    pub fn includes_content(&self) -> bool {
        match *self {
            Serializer::Standard {
                include_content, ..
            } => include_content,
            Serializer::Ecs {
                include_full_request_content,
            } => include_full_request_content,
        }
    }
}

/// A node of a remote audit cluster: `http://user:pass@host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterNode {
    pub url: UpstreamUrl,
    pub authorization: Option<BasicAuthorization>,
}

/// A ready `Authorization` value (`Basic …`, or `ApiKey …` from `gateway.upstream_auth`);
/// `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct BasicAuthorization(String);

impl BasicAuthorization {
    pub fn new(user: &str, password: &str) -> BasicAuthorization {
        use base64::Engine;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        BasicAuthorization(format!("Basic {token}"))
    }

    /// A ready `Authorization` value of any scheme (`gateway.upstream_auth`'s `ApiKey …`).
    pub fn from_value(value: String) -> BasicAuthorization {
        BasicAuthorization(value)
    }

    pub fn header_value(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for BasicAuthorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

const AUDIT_KEYS: &[&str] = &["enabled", "outputs", "default_acl_log_enabled"];
const LEGACY_KEYS: &[&str] = &[
    "audit_collector",
    "audit_index_template",
    "audit_serializer",
    "audit_cluster",
];

/// Decodes the audit settings of a `readonlyrest:` node. Errors go to `d`.
pub fn decode(readonlyrest: &Node, d: &mut Diagnostics) -> AuditSettings {
    let mut settings = AuditSettings::default();
    let mut audit = None;
    let mut legacy: Vec<(&str, &Node, &Node)> = Vec::new();
    for (key_node, value) in readonlyrest.as_map().unwrap_or_default() {
        match key_node.as_str() {
            Some("audit") => audit = Some(value),
            Some("obfuscated_headers") => {
                settings.obfuscated_headers =
                    string_or_list(value, "readonlyrest.obfuscated_headers", d)
                        .into_iter()
                        .filter_map(|item| item.as_str().map(str::to_ascii_lowercase))
                        .collect();
            }
            Some(key) if LEGACY_KEYS.contains(&key) => legacy.push((key, key_node, value)),
            _ => {}
        }
    }
    match audit {
        Some(audit) => {
            for (key, key_node, _) in &legacy {
                d.error(
                    key_node,
                    format!("readonlyrest.{key} is the legacy form of `audit:`; use one or the other, not both"),
                );
            }
            decode_audit_section(audit, &mut settings, d);
        }
        None => decode_legacy(&legacy, &mut settings, d),
    }
    settings
}

fn decode_audit_section(audit: &Node, settings: &mut AuditSettings, d: &mut Diagnostics) {
    let mut enabled = false;
    let mut outputs = None;
    for (key, key_node, value) in entries(audit, "readonlyrest.audit", d) {
        match key {
            "enabled" => enabled = bool_value(value, "audit.enabled", d),
            "default_acl_log_enabled" => {
                settings.acl_log_enabled = bool_value(value, "audit.default_acl_log_enabled", d)
            }
            "outputs" => outputs = Some(value),
            _ => d.unknown_key(key_node, "readonlyrest.audit", AUDIT_KEYS),
        }
    }
    let Some(outputs) = outputs else {
        if enabled {
            settings.outputs.push(default_index_output());
        }
        return;
    };
    let Some(items) = outputs.as_seq() else {
        d.error(
            outputs,
            format!(
                "audit.outputs must be a list, found {}",
                outputs.kind_name()
            ),
        );
        return;
    };
    let decoded: Vec<OutputSettings> = items
        .iter()
        .filter_map(|item| decode_output(item, d))
        .collect();
    for (i, output) in decoded.iter().enumerate() {
        if decoded[..i]
            .iter()
            .any(|earlier| earlier.name == output.name)
        {
            // Blocks pick sinks by name: two outputs with one name could not be told apart.
            d.error(
                &items[i],
                format!("audit output name `{}` is used twice", output.name),
            );
        }
    }
    if enabled {
        settings.outputs = if items.is_empty() {
            vec![default_index_output()]
        } else {
            decoded
        };
    }
}

fn default_index_output() -> OutputSettings {
    OutputSettings {
        name: "index".to_string(),
        enabled: true,
        serializer: Serializer::DEFAULT,
        kind: OutputKind::Index {
            template: default_template(),
            cluster: None,
        },
    }
}

fn default_template() -> IndexTemplate {
    // The default is a constant that the tests parse; it cannot fail.
    IndexTemplate::parse(IndexTemplate::DEFAULT).expect("the default index template parses")
}

const OUTPUT_TYPES: &[&str] = &["log", "file", "index", "data_stream"];
const COMMON_OUTPUT_KEYS: &[&str] = &["type", "name", "enabled", "serializer"];

fn decode_output(node: &Node, d: &mut Diagnostics) -> Option<OutputSettings> {
    let section = "an audit output";
    let fields = entries(node, section, d);
    let Some((_, _, type_node)) = fields.iter().find(|(key, _, _)| *key == "type") else {
        if node.as_map().is_some() {
            d.error(
                node,
                format!(
                    "an audit output needs a `type` ({})",
                    OUTPUT_TYPES.join(", ")
                ),
            );
        }
        return None;
    };
    let output_type = match type_node.as_str() {
        Some(t) if OUTPUT_TYPES.contains(&t) => t,
        _ => {
            d.error(
                type_node,
                format!(
                    "audit output type must be one of: {}",
                    OUTPUT_TYPES.join(", ")
                ),
            );
            return None;
        }
    };
    let type_keys: &[&str] = match output_type {
        "log" => &["logger_name"],
        "file" => &["path"],
        "index" => &["index_template", "cluster"],
        _ => &["data_stream", "cluster"],
    };
    let mut output = OutputSettings {
        name: output_type.to_string(),
        enabled: true,
        serializer: Serializer::DEFAULT,
        kind: OutputKind::Log { logger_name: None },
    };
    let mut logger_name = None;
    let mut path = None;
    let mut template = None;
    let mut cluster = None;
    let mut data_stream = None;
    for (key, key_node, value) in &fields {
        match *key {
            "type" => {}
            "name" => match non_empty_str(value) {
                Some(RESERVED_SINK_NAME) => d.error(
                    value,
                    format!("`{RESERVED_SINK_NAME}` is reserved for the ACL log; choose another output name"),
                ),
                Some(name) => output.name = name.to_string(),
                None => d.error(value, "audit output name must be a non-empty string"),
            },
            "enabled" => output.enabled = bool_value(value, "audit output `enabled`", d),
            "serializer" => {
                if let Some(serializer) = decode_serializer(value, d) {
                    output.serializer = serializer;
                }
            }
            "logger_name" if output_type == "log" => logger_name = string(value, key, d),
            "path" if output_type == "file" => path = string(value, key, d).map(PathBuf::from),
            "index_template" if output_type == "index" => template = decode_template(value, d),
            "data_stream" if output_type == "data_stream" => {
                data_stream = string(value, key, d);
                if let Some(name) = &data_stream {
                    if let Err(e) = check_index_name_part(name) {
                        d.error(value, format!("data_stream: {e}"));
                    }
                }
            }
            "cluster" if type_keys.contains(&"cluster") => cluster = Some(decode_cluster(value, d)),
            _ => {
                let known: Vec<&str> = COMMON_OUTPUT_KEYS.iter().chain(type_keys).copied().collect();
                d.unknown_key(key_node, &format!("a `{output_type}` audit output"), &known);
            }
        }
    }
    output.kind = match output_type {
        "log" => OutputKind::Log { logger_name },
        "file" => {
            let Some(path) = path else {
                d.error(type_node, "a `file` audit output needs a `path`");
                return None;
            };
            OutputKind::File { path }
        }
        "index" => OutputKind::Index {
            template: template.unwrap_or_else(default_template),
            cluster,
        },
        _ => OutputKind::DataStream {
            name: data_stream.unwrap_or_else(|| DEFAULT_DATA_STREAM.to_string()),
            cluster,
        },
    };
    Some(output)
}

fn decode_legacy(
    legacy: &[(&str, &Node, &Node)],
    settings: &mut AuditSettings,
    d: &mut Diagnostics,
) {
    let mut collector = false;
    let mut template = default_template();
    let mut serializer = Serializer::DEFAULT;
    let mut cluster = None;
    for (key, _, value) in legacy {
        match *key {
            "audit_collector" => collector = bool_value(value, "readonlyrest.audit_collector", d),
            "audit_index_template" => template = decode_template(value, d).unwrap_or(template),
            "audit_serializer" => serializer = decode_serializer(value, d).unwrap_or(serializer),
            _ => cluster = Some(decode_cluster(value, d)),
        }
    }
    if collector {
        settings.outputs.push(OutputSettings {
            name: "index".to_string(),
            enabled: true,
            serializer,
            kind: OutputKind::Index { template, cluster },
        });
    } else {
        for (key, key_node, _) in legacy
            .iter()
            .filter(|(key, _, _)| *key != "audit_collector")
        {
            d.warn(
                key_node,
                format!("readonlyrest.{key} is ignored without `audit_collector: true`"),
            );
        }
    }
}

fn decode_template(node: &Node, d: &mut Diagnostics) -> Option<IndexTemplate> {
    let text = string(node, "index_template", d)?;
    IndexTemplate::parse(&text)
        .map_err(|e| d.error(node, e))
        .ok()
}

const SHORT_SERIALIZERS: &[&str] = &["default", "query", "full", "full_with_query", "ecs"];

fn decode_serializer(node: &Node, d: &mut Diagnostics) -> Option<Serializer> {
    if let Some(name) = non_empty_str(node) {
        let serializer = short_serializer(name).or_else(|| static_serializer(name));
        if serializer.is_none() {
            d.error(
                node,
                format!(
                    "unknown audit serializer `{name}` (use one of {} or a \
                     tech.beshu.ror.audit.instances.* class name; custom classes cannot be loaded)",
                    SHORT_SERIALIZERS.join(", ")
                ),
            );
        }
        return serializer;
    }
    let fields = entries(node, "an audit serializer", d);
    let Some((_, _, kind)) = fields.iter().find(|(key, _, _)| *key == "type") else {
        if node.as_map().is_some() {
            d.error(node, "an audit serializer needs a `type` (static or ecs)");
        }
        return None;
    };
    match kind.as_str() {
        Some("static") => {
            let mut serializer = None;
            for (key, key_node, value) in &fields {
                match *key {
                    "type" => {}
                    "class_name" => match non_empty_str(value).and_then(static_serializer) {
                        Some(found) => serializer = Some(found),
                        None => d.error(
                            value,
                            "class_name must be tech.beshu.ror.audit.instances.<X> with X one of \
                             DefaultAuditLogSerializer, BlockVerbosityAwareAuditLogSerializer, \
                             QueryAuditLogSerializer, FullAuditLogSerializer, \
                             FullAuditLogWithQuerySerializer (custom classes cannot be loaded)",
                        ),
                    },
                    _ => d.unknown_key(
                        key_node,
                        "a static audit serializer",
                        &["type", "class_name"],
                    ),
                }
            }
            if serializer.is_none() && !fields.iter().any(|(key, _, _)| *key == "class_name") {
                d.error(node, "a static audit serializer needs a `class_name`");
            }
            serializer
        }
        Some("ecs") => {
            let mut include_full_request_content = false;
            for (key, key_node, value) in &fields {
                match *key {
                    "type" => {}
                    "include_full_request_content" => {
                        include_full_request_content =
                            bool_value(value, "include_full_request_content", d)
                    }
                    _ => d.unknown_key(
                        key_node,
                        "an ecs audit serializer",
                        &["type", "include_full_request_content"],
                    ),
                }
            }
            Some(Serializer::Ecs {
                include_full_request_content,
            })
        }
        Some("configurable") => {
            d.error(
                kind,
                "the `configurable` audit serializer is not supported by Ringfence yet",
            );
            None
        }
        _ => {
            d.error(kind, "audit serializer type must be static or ecs");
            None
        }
    }
}

fn short_serializer(name: &str) -> Option<Serializer> {
    let standard = |allowed, include_content| Serializer::Standard {
        allowed,
        include_content,
    };
    Some(match name {
        "default" => Serializer::DEFAULT,
        "query" => standard(AllowedEvents::FromBlocksThatLogThem, true),
        "full" => standard(AllowedEvents::All, false),
        "full_with_query" => standard(AllowedEvents::All, true),
        "ecs" => Serializer::Ecs {
            include_full_request_content: false,
        },
        _ => return None,
    })
}

/// ReadonlyREST's built-in serializer classes (V1/V2 variants write the same fields here).
fn static_serializer(class_name: &str) -> Option<Serializer> {
    let class = CLASS_PREFIXES
        .iter()
        .find_map(|prefix| class_name.strip_prefix(prefix))?;
    let class = class.trim_end_matches("V1").trim_end_matches("V2");
    short_serializer(match class {
        "DefaultAuditLogSerializer" | "BlockVerbosityAwareAuditLogSerializer" => "default",
        "QueryAuditLogSerializer" => "query",
        "FullAuditLogSerializer" => "full",
        "FullAuditLogWithQuerySerializer" => "full_with_query",
        _ => return None,
    })
}

fn decode_cluster(node: &Node, d: &mut Diagnostics) -> Vec<ClusterNode> {
    string_or_list(node, "audit cluster", d)
        .into_iter()
        .filter_map(|item| {
            let text = item.as_str().unwrap_or_default();
            parse_cluster_node(text).map_err(|e| d.error(item, e)).ok()
        })
        .collect()
}

/// `http[s]://[user:password@]host[:port]`; the password may be percent-encoded. https nodes
/// are verified with `gateway.upstream_tls`.
fn parse_cluster_node(text: &str) -> Result<ClusterNode, String> {
    let (scheme, rest) = match text.split_once("://") {
        Some((scheme @ ("http" | "https"), rest)) => (scheme, rest),
        _ => {
            return Err(format!(
                "audit cluster `{}` must start with http:// or https://",
                redact(text)
            ))
        }
    };
    let (authorization, authority) = match rest.rsplit_once('@') {
        Some((userinfo, authority)) => {
            let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
            let user = percent_decode(user).ok_or("audit cluster user has a bad %-escape")?;
            let password =
                percent_decode(password).ok_or("audit cluster password has a bad %-escape")?;
            (Some(BasicAuthorization::new(&user, &password)), authority)
        }
        None => (None, rest),
    };
    let url = UpstreamUrl::parse(&format!("{scheme}://{authority}"))
        .map_err(|e| format!("audit cluster: {e}"))?;
    Ok(ClusterNode { url, authorization })
}

/// The URL with any `user:password@` replaced, for error messages.
fn redact(text: &str) -> String {
    match text
        .split_once("://")
        .and_then(|(scheme, rest)| Some((scheme, rest.rsplit_once('@')?.1)))
    {
        Some((scheme, authority)) => format!("{scheme}://***@{authority}"),
        None => text.to_string(),
    }
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn non_empty_str(node: &Node) -> Option<&str> {
    node.as_str().filter(|s| !s.is_empty() && !node.is_null())
}

fn string(node: &Node, key: &str, d: &mut Diagnostics) -> Option<String> {
    let value = non_empty_str(node).map(str::to_string);
    if value.is_none() {
        d.error(
            node,
            format!(
                "`{key}` must be a non-empty string, found {}",
                node.kind_name()
            ),
        );
    }
    value
}

#[cfg(test)]
mod tests;
