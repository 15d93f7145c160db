use super::*;
use crate::es::pipeline::Reroute;

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
    m.add_templates(
        TemplateKind::Composable,
        br#"{"index_templates":[{"name":"t1","index_template":{"index_patterns":["logs-*"]}}]}"#,
    )
    .unwrap();
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

/// The six answers of one refresh, captured from a real node (`fixtures/<node>/`, made with
/// `scripts/backend.sh` and the requests of `proxy::metadata`), parsed as the refresher does.
macro_rules! captured {
    ($node:literal) => {{
        let file = |name: &str| match name {
            "resolve_index" => {
                &include_bytes!(concat!("fixtures/", $node, "/resolve_index.json"))[..]
            }
            "settings" => include_bytes!(concat!("fixtures/", $node, "/settings.json")),
            "index_template" => include_bytes!(concat!("fixtures/", $node, "/index_template.json")),
            "template" => include_bytes!(concat!("fixtures/", $node, "/template.json")),
            "component_template" => {
                include_bytes!(concat!("fixtures/", $node, "/component_template.json"))
            }
            _ => include_bytes!(concat!("fixtures/", $node, "/ingest_pipeline.json")),
        };
        let mut m = ClusterMetadata::from_resolve_response(file("resolve_index")).unwrap();
        m.add_index_settings(file("settings")).unwrap();
        m.add_templates(TemplateKind::Composable, file("index_template"))
            .unwrap();
        m.add_templates(TemplateKind::Legacy, file("template"))
            .unwrap();
        m.add_component_templates(file("component_template"))
            .unwrap();
        m.add_pipelines(file("ingest_pipeline")).unwrap();
        m
    }};
}

fn pipelines(default: Option<&str>, last: Option<&str>) -> IndexPipelines {
    IndexPipelines {
        default_pipeline: default.map(str::to_string),
        final_pipeline: last.map(str::to_string),
    }
}

/// What both nodes were given (besides their pipelines): `rf-routed` (default
/// `reroute-to-secret`, final `add-field`, alias `rf-alias`), `rf-closed` (closed, default
/// `add-field`), `rf-hidden` (default `_none`), `rf-plain`; templates `rf-composable`
/// (final `add-field`, composed of `rf-component` with default `reroute-to-secret`) and
/// `rf-legacy` (default `by-script`).
fn assert_common(m: &ClusterMetadata) {
    let ingest = &m.ingest;
    assert!(!ingest.unread);
    assert_eq!(
        ingest.indices["rf-routed"],
        pipelines(Some("reroute-to-secret"), Some("add-field"))
    );
    assert_eq!(
        ingest.indices["rf-closed"],
        pipelines(Some("add-field"), None)
    );
    assert!(!ingest.indices.contains_key("rf-hidden"), "`_none` is none");
    assert!(!ingest.indices.contains_key("rf-plain"));
    assert!(m.indices.contains_key("rf-plain"));
    let composable = (TemplateKind::Composable, "rf-composable".to_string());
    assert_eq!(
        ingest.templates[&composable].own,
        pipelines(None, Some("add-field"))
    );
    assert_eq!(ingest.templates[&composable].composed_of, ["rf-component"]);
    assert_eq!(
        ingest.components["rf-component"],
        pipelines(Some("reroute-to-secret"), None)
    );
    let legacy = (TemplateKind::Legacy, "rf-legacy".to_string());
    assert_eq!(
        ingest.templates[&legacy].own,
        pipelines(Some("by-script"), None)
    );
    assert!(ingest.template_may_reroute(&composable));
    assert!(ingest.template_may_reroute(&legacy));
}

#[test]
fn opensearch_2_19_answers() {
    use crate::es::pipeline::Reroute::{Never, Possible};
    let m = captured!("opensearch-2.19");
    assert_common(&m);
    let ingest = &m.ingest;
    assert_eq!(
        ingest.indices["rf-final"],
        pipelines(None, Some("final-reroute"))
    );
    assert_eq!(
        ingest.indices[".ds-rf-ds-one-000001"],
        pipelines(Some("add-field"), None)
    );
    assert_eq!(m.members("rf-ds-one").unwrap(), [".ds-rf-ds-one-000001"]);
    let ds = (TemplateKind::Composable, "rf-ds".to_string());
    assert!(!ingest.template_may_reroute(&ds));
    // Every pipeline the node was given, with what it can do.
    let expected = [
        ("add-field", Never),
        ("by-script", Possible),
        ("calls-missing", Possible),
        ("calls-reroute", Possible),
        ("calls-safe", Never),
        ("cond-writes", Never), // its `if` script cannot write (the node refuses it)
        ("conditional", Never),
        ("copy-to-index", Possible),
        ("cycle-a", Possible),
        ("cycle-b", Possible),
        ("date-index", Possible),
        ("dissect-ref", Possible),
        ("dissect-safe", Never),
        ("final-reroute", Possible),
        ("foreach-reroute", Possible),
        ("foreach-safe", Never),
        ("grok-index", Possible),
        ("grok-safe", Never),
        ("json-root", Possible),
        ("json-safe", Never),
        ("kv-root", Possible),
        ("kv-target", Never),
        ("on-failure-script", Possible),
        ("rename-to-index", Possible),
        ("reroute-to-secret", Possible),
        ("sets-routing", Never),
        ("src-index", Possible),
    ];
    let mut got: Vec<(&str, Reroute)> = ingest
        .pipelines
        .iter()
        .map(|(name, verdict)| (name.as_str(), *verdict))
        .collect();
    got.sort_unstable_by_key(|(name, _)| *name);
    assert_eq!(got, expected);
}

#[test]
fn elasticsearch_7_17_answers() {
    let m = captured!("elasticsearch-7.17");
    assert_common(&m);
    // The node has no ingest-common module: one pipeline without processors.
    assert_eq!(m.ingest.pipelines.len(), 1);
    assert!(m.ingest.never_reroutes("empty"));
}

#[test]
fn ingest_answers_that_are_refused_or_empty() {
    let mut m = ClusterMetadata::default();
    // `GET /_ingest/pipeline` with no pipeline: `404 {}` (both nodes).
    m.add_pipelines(b"{}").unwrap();
    assert!(m.ingest.pipelines.is_empty() && !m.ingest.unread);
    assert!(ClusterMetadata::unread().ingest.unread);
    assert!(m.add_pipelines(b"[]").is_err());
    assert!(m.add_index_settings(b"{\"i\":\"x\"}").is_err());
    assert!(m.add_index_settings(b"[]").is_err());
    assert!(m.add_component_templates(b"{}").is_err());
    assert!(m
        .add_component_templates(b"{\"component_templates\":[{\"component_template\":{}}]}")
        .is_err());
    m.add_index_settings(b"{\"i\":{\"settings\":{}}}").unwrap();
    assert!(m.ingest.indices.is_empty());
}
