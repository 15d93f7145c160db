use super::*;
use serde_json::json;

/// The verdict for a pipeline `p` with these processors, next to `others` (name -> processors).
fn verdict_with(processors: Value, others: &[(&str, Value)]) -> Reroute {
    let mut definitions = Map::new();
    definitions.insert("p".into(), json!({ "processors": processors }));
    for (name, processors) in others {
        definitions.insert((*name).into(), json!({ "processors": processors }));
    }
    analyze(&definitions)["p"]
}

fn verdict(processors: Value) -> Reroute {
    verdict_with(processors, &[])
}

use Reroute::{Never, Possible};

#[test]
fn each_processor_kind() {
    #[rustfmt::skip]
    let cases: &[(&str, Value, Reroute)] = &[
        ("set other", json!([{"set": {"field": "tag", "value": "x"}}]), Never),
        ("set _index", json!([{"set": {"field": "_index", "value": "secret"}}]), Possible),
        ("set _source._index", json!([{"set": {"field": "_source._index", "value": "s"}}]), Possible),
        ("set under _index", json!([{"set": {"field": "_index.x", "value": "s"}}]), Possible),
        ("set templated field", json!([{"set": {"field": "{{name}}", "value": "s"}}]), Possible),
        ("set templated value", json!([{"set": {"field": "a", "value": "{{_index}}"}}]), Never),
        ("set copy_from _index", json!([{"set": {"field": "a", "copy_from": "_index"}}]), Never),
        ("set _routing and _id", json!([{"set": {"field": "_routing", "value": "r"}}, {"set": {"field": "_id", "value": "i"}}]), Never),
        ("rename to _index", json!([{"rename": {"field": "t", "target_field": "_index"}}]), Possible),
        ("rename elsewhere", json!([{"rename": {"field": "t", "target_field": "u"}}]), Never),
        ("copy to _index", json!([{"copy": {"source_field": "t", "target_field": "_index"}}]), Possible),
        ("append _index", json!([{"append": {"field": "_index", "value": ["x"]}}]), Possible),
        ("remove list with _index", json!([{"remove": {"field": ["a", "_index"]}}]), Possible),
        ("remove list", json!([{"remove": {"field": ["a", "b"]}}]), Never),
        ("lowercase in place _index", json!([{"lowercase": {"field": "_index"}}]), Possible),
        ("gsub", json!([{"gsub": {"field": "m", "pattern": "a", "replacement": "b"}}]), Never),
        ("csv target_fields", json!([{"csv": {"field": "m", "target_fields": ["a", "_index"]}}]), Possible),
        ("geo_grid parent_field", json!([{"geo_grid": {"field": "g", "tile_type": "geotile", "parent_field": "_index"}}]), Possible),
        ("date", json!([{"date": {"field": "t", "formats": ["ISO8601"]}}]), Never),
        ("dot_expander", json!([{"dot_expander": {"field": "a.b"}}]), Never),
        ("target not a string", json!([{"convert": {"field": {"x": 1}, "type": "integer"}}]), Possible),
        ("script", json!([{"script": {"source": "ctx.x = 1"}}]), Possible),
        ("inline script", json!([{"script": "ctx.x = 1"}]), Possible),
        ("reroute", json!([{"reroute": {"dataset": "d"}}]), Possible),
        ("date_index_name", json!([{"date_index_name": {"field": "t", "date_rounding": "d"}}]), Possible),
        ("unknown type", json!([{"text_embedding": {"model_id": "m", "field_map": {"a": "b"}}}]), Possible),
        ("kv to root", json!([{"kv": {"field": "m", "field_split": " ", "value_split": "="}}]), Possible),
        ("kv to a target", json!([{"kv": {"field": "m", "field_split": " ", "value_split": "=", "target_field": "kv"}}]), Never),
        ("kv to _index", json!([{"kv": {"field": "m", "field_split": " ", "value_split": "=", "target_field": "_index"}}]), Possible),
        ("kv included keys", json!([{"kv": {"field": "m", "field_split": " ", "value_split": "=", "include_keys": ["a", "index"]}}]), Never),
        ("kv included keys with prefix", json!([{"kv": {"field": "m", "field_split": " ", "value_split": "=", "include_keys": ["a", "index"], "prefix": "_"}}]), Possible),
        ("json in place", json!([{"json": {"field": "m"}}]), Never),
        ("json to root", json!([{"json": {"field": "m", "add_to_root": true}}]), Possible),
        ("json to _index", json!([{"json": {"field": "m", "target_field": "_index"}}]), Possible),
        ("grok", json!([{"grok": {"field": "m", "patterns": ["%{IP:client} %{WORD:method}"]}}]), Never),
        ("grok capture _index", json!([{"grok": {"field": "m", "patterns": ["%{WORD:_index}"]}}]), Possible),
        ("grok definition _index", json!([{"grok": {"field": "m", "patterns": ["%{X}"], "pattern_definitions": {"X": "(?<_index>\\w+)"}}}]), Possible),
        ("dissect", json!([{"dissect": {"field": "m", "pattern": "%{a} %{+a} %{?skip}"}}]), Never),
        ("dissect _index key", json!([{"dissect": {"field": "m", "pattern": "%{_index} %{b}"}}]), Possible),
        ("dissect reference keys", json!([{"dissect": {"field": "m", "pattern": "%{*k}=%{&k}"}}]), Possible),
        ("conditional", json!([{"set": {"if": "ctx._index = 'x'; return true", "field": "a", "value": "b"}}]), Never),
        ("empty", json!([]), Never),
        ("not a list", json!({"set": {"field": "a", "value": "b"}}), Possible),
        ("two types in one", json!([{"set": {"field": "a", "value": "b"}, "lowercase": {"field": "c"}}]), Possible),
        ("not an object", json!(["set"]), Possible),
    ];
    for (name, processors, expected) in cases {
        assert_eq!(verdict(processors.clone()), *expected, "{name}");
    }
}

#[test]
fn handlers_and_foreach_are_followed() {
    let script = json!({"script": {"source": "ctx._index = 'x'"}});
    let safe = json!({"set": {"field": "a", "value": "b"}});
    assert_eq!(
        verdict(json!([{"set": {"field": "a", "value": "b", "on_failure": [script]}}])),
        Possible
    );
    assert_eq!(
        verdict(json!([{"set": {"field": "a", "value": "b", "on_failure": [safe]}}])),
        Never
    );
    assert_eq!(
        verdict(
            json!([{"foreach": {"field": "tags", "processor": {"uppercase": {"field": "_ingest._value"}}}}])
        ),
        Never
    );
    assert_eq!(
        verdict(
            json!([{"foreach": {"field": "tags", "processor": {"set": {"field": "_index", "value": "{{_ingest._value}}"}}}}])
        ),
        Possible
    );
    assert_eq!(
        verdict(
            json!([{"foreach": {"field": "tags", "processor": {"foreach": {"field": "_ingest._value", "processor": script}}}}])
        ),
        Possible
    );
    assert_eq!(verdict(json!([{"foreach": {"field": "tags"}}])), Possible);
    // The pipeline's own `on_failure`.
    let mut definitions = Map::new();
    definitions.insert(
        "p".into(),
        json!({"processors": [safe], "on_failure": [{"script": {"source": "x"}}]}),
    );
    definitions.insert(
        "q".into(),
        json!({"processors": [safe], "on_failure": [safe]}),
    );
    definitions.insert("no-processors".into(), json!({"description": "x"}));
    let verdicts = analyze(&definitions);
    assert_eq!(verdicts["p"], Possible);
    assert_eq!(verdicts["q"], Never);
    assert_eq!(verdicts["no-processors"], Possible);
}

#[test]
fn target_fields_nested_in_options_are_counted() {
    #[rustfmt::skip]
    let cases: &[(&str, Value, Reroute)] = &[
        ("inference results_field", json!([{"inference": {"model_id": "m", "inference_config": {"regression": {"results_field": "_index"}}}}]), Possible),
        ("inference elsewhere", json!([{"inference": {"model_id": "m", "inference_config": {"regression": {"results_field": "out"}}}}]), Never),
        ("nested target_field", json!([{"user_agent": {"field": "ua", "options": {"target_field": "_source._index"}}}]), Possible),
        ("nested field list", json!([{"geoip": {"field": "ip", "extra": [{"fields": "x"}, {"output_fields": ["a", "_index"]}]}}]), Possible),
        ("nested in a list of lists", json!([{"csv": {"field": "m", "target_fields": ["a"], "x": [[{"path": "_index.y"}]]}}]), Possible),
        ("nested template", json!([{"enrich": {"field": "f", "target_field": "t", "o": {"source_field": "{{f}}"}}}]), Possible),
        ("nested target not a string", json!([{"convert": {"field": "f", "type": "long", "o": {"target_field": 1}}}]), Possible),
        ("nested others", json!([{"set": {"field": "a", "value": {"tag": "_index", "list": ["_index"]}}}]), Never),
        // A `set` value that looks like configuration counts: that only costs precision.
        ("set value with a field key", json!([{"set": {"field": "a", "value": {"field": "_index"}}}]), Possible),
    ];
    for (name, processors, expected) in cases {
        assert_eq!(verdict(processors.clone()), *expected, "{name}");
    }
}

#[test]
fn pipeline_calls_are_followed_by_name() {
    let call = |name: &str| json!([{"pipeline": {"name": name}}]);
    let safe = ("safe", json!([{"set": {"field": "a", "value": "b"}}]));
    let routes = (
        "routes",
        json!([{"set": {"field": "_index", "value": "x"}}]),
    );
    assert_eq!(
        verdict_with(call("safe"), std::slice::from_ref(&safe)),
        Never
    );
    assert_eq!(
        verdict_with(call("routes"), std::slice::from_ref(&routes)),
        Possible
    );
    assert_eq!(verdict_with(call("missing"), &[]), Possible);
    assert_eq!(
        verdict_with(call("{{which}}"), std::slice::from_ref(&safe)),
        Possible
    );
    // Two calls deep.
    let via = ("via", call("routes"));
    assert_eq!(verdict_with(call("via"), &[via, routes.clone()]), Possible);
    // Skipped when missing (Elasticsearch 8's `@custom` hooks); followed when it exists.
    let optional =
        |name: &str| json!([{"pipeline": {"name": name, "ignore_missing_pipeline": true}}]);
    assert_eq!(verdict_with(optional("logs@custom"), &[]), Never);
    assert_eq!(verdict_with(optional("routes"), &[routes]), Possible);
    // Cycles, including a pipeline calling itself.
    let a = ("a", call("b"));
    let b = ("b", call("a"));
    assert_eq!(verdict_with(call("a"), &[a, b]), Possible);
    assert_eq!(verdict_with(call("p"), &[]), Possible);
    // A diamond is not a cycle.
    let left = ("left", call("safe"));
    let right = ("right", call("safe"));
    let both = json!([{"pipeline": {"name": "left"}}, {"pipeline": {"name": "right"}}]);
    assert_eq!(verdict_with(both, &[left, right, safe]), Never);
}

#[test]
fn nesting_deeper_than_the_limit_counts_as_possible() {
    let chain = |length: usize| {
        let mut definitions = Map::new();
        for i in 0..length {
            let next = if i + 1 == length {
                json!([{"set": {"field": "a", "value": "b"}}])
            } else {
                json!([{"pipeline": {"name": format!("p{}", i + 1)}}])
            };
            definitions.insert(format!("p{i}"), json!({ "processors": next }));
        }
        analyze(&definitions)["p0"]
    };
    assert_eq!(chain(10), Never);
    assert_eq!(chain(MAX_NESTING), Possible);
}

#[test]
fn settings_flat_nested_and_none() {
    let read = |v: Value| IndexPipelines::from_settings(Some(&v));
    let both = IndexPipelines {
        default_pipeline: Some("d".into()),
        final_pipeline: Some("f".into()),
    };
    assert_eq!(
        read(json!({"index.default_pipeline": "d", "index.final_pipeline": "f"})),
        both
    );
    assert_eq!(
        read(json!({"index": {"default_pipeline": "d", "final_pipeline": "f"}})),
        both
    );
    assert_eq!(
        read(json!({"default_pipeline": "d", "index": {"final_pipeline": "f"}})),
        both
    );
    assert!(read(json!({"index": {"default_pipeline": "_none"}})).is_empty());
    assert!(read(json!({"index": {"number_of_shards": "1"}})).is_empty());
    assert!(IndexPipelines::from_settings(None).is_empty());
}

#[test]
fn requests_name_pipelines_only_for_document_writes() {
    use crate::es::route::classify;
    use crate::http::Method;
    let uses = |method, target| {
        let classified = classify(method, target).unwrap();
        PipelineUse::of(&classified).map(|u| (u.documents, u.named))
    };
    assert_eq!(
        uses(Method::Put, "/logs/_doc/1?pipeline=p"),
        Some((true, vec!["p".into()]))
    );
    assert_eq!(
        uses(Method::Post, "/_bulk?refresh=true&pipeline=a%2Db"),
        Some((true, vec!["a-b".into()]))
    );
    assert_eq!(
        uses(Method::Post, "/logs/_update_by_query?pipeline=_none"),
        Some((true, vec![]))
    );
    assert_eq!(uses(Method::Post, "/logs/_update/1"), Some((true, vec![])));
    assert_eq!(uses(Method::Post, "/_reindex"), Some((true, vec![])));
    assert_eq!(
        uses(Method::Get, "/logs/_search?pipeline=p"),
        Some((false, vec![]))
    );
    assert_eq!(
        uses(Method::Post, "/_ingest/pipeline/p/_simulate"),
        Some((false, vec![]))
    );
    // Read differently by different readers: refused.
    assert_eq!(
        uses(Method::Put, "/logs/_doc/1?pipeline=a&pipeline=b"),
        None
    );
    assert_eq!(uses(Method::Put, "/logs/_doc/1?pipeline=%FF"), None);
}

#[test]
fn resizes_and_create_from_copy_the_source_pipelines() {
    use crate::es::route::classify;
    use crate::http::Method;
    let copied = |method, target| {
        let classified = classify(method, target).unwrap();
        let uses = PipelineUse::of(&classified).unwrap();
        assert!(!uses.documents, "{target}");
        uses.copied_from
    };
    let source: Vec<Cow<'_, str>> = vec!["logs-1".into()];
    assert_eq!(copied(Method::Post, "/logs-1/_shrink/logs-2"), source);
    assert_eq!(copied(Method::Put, "/logs-1/_split/logs-2"), source);
    assert_eq!(copied(Method::Post, "/logs-1/_clone/logs-2"), source);
    assert_eq!(copied(Method::Post, "/_create_from/logs-1/logs-2"), source);
    assert!(copied(Method::Post, "/logs-w/_rollover/logs-2").is_empty());
    assert!(copied(Method::Put, "/logs-2").is_empty());
}

#[test]
fn settings_set_no_pipeline_when_none_empty_or_null() {
    let mut uses = PipelineUse::default();
    uses.add_settings(PipelineSettings {
        names: vec!["_none".into(), "".into(), "p".into(), "p".into()],
        unreadable: false,
    });
    assert_eq!(uses.set, ["p", "p"]);
    assert!(!uses.set_unreadable);
    uses.add_settings(PipelineSettings {
        names: vec![],
        unreadable: true,
    });
    assert!(uses.set_unreadable);
    assert!(uses.named.is_empty() && !uses.documents);
}

#[test]
fn ingest_lookups() {
    let mut ingest = Ingest::default();
    ingest.pipelines.insert("safe".into(), Never);
    ingest.pipelines.insert("routes".into(), Possible);
    let with = |d: &str| IndexPipelines {
        default_pipeline: Some(d.into()),
        final_pipeline: None,
    };
    ingest.indices.insert("a".into(), with("safe"));
    ingest.indices.insert("b".into(), with("routes"));
    ingest.indices.insert("c".into(), with("missing"));
    assert!(ingest.never_reroutes("safe") && ingest.never_reroutes(NO_PIPELINE));
    assert!(!ingest.never_reroutes("routes") && !ingest.never_reroutes("missing"));
    assert!(!ingest.index_may_reroute("a") && !ingest.index_may_reroute("none"));
    assert!(ingest.index_may_reroute("b") && ingest.index_may_reroute("c"));
    assert!(ingest.some_index_may_reroute());
    let key = (TemplateKind::Composable, "t".to_string());
    ingest.add_template(
        key.clone(),
        TemplatePipelines {
            own: with("safe"),
            composed_of: vec!["comp".into()],
        },
    );
    assert!(!ingest.template_may_reroute(&key));
    ingest.components.insert("comp".into(), with("routes"));
    assert!(ingest.template_may_reroute(&key));
    // A template with neither is not kept.
    let bare = (TemplateKind::Legacy, "bare".to_string());
    ingest.add_template(bare.clone(), TemplatePipelines::default());
    assert!(!ingest.templates.contains_key(&bare));
}

/// Whether `PUT /_ingest/pipeline/{id}` with `body` may reroute, next to the pipelines the
/// metadata knows: `safe`, `routes` (sets `_index`), and `calls-p` (calls `p`, which is
/// `safe` as the metadata knows it).
fn defines(ingest: &Ingest, id: &str, body: &str) -> bool {
    let definition = Definition {
        id: id.into(),
        body: crate::es::body::read_pipeline_definition(body.as_bytes()),
    };
    ingest.definition_may_reroute(&definition)
}

fn known_pipelines() -> Ingest {
    let definitions = json!({
        "safe": {"processors": [{"set": {"field": "tag", "value": "x"}}]},
        "routes": {"processors": [{"set": {"field": "_index", "value": "secret"}}]},
        "p": {"processors": [{"set": {"field": "tag", "value": "y"}}]},
        "calls-p": {"processors": [{"pipeline": {"name": "p"}}]},
    });
    Ingest {
        pipelines: analyze(definitions.as_object().unwrap()),
        ..Ingest::default()
    }
}

#[test]
fn a_definition_is_analysed_against_the_known_pipelines() {
    let ingest = known_pipelines();
    #[rustfmt::skip]
    let cases: &[(&str, &str, bool)] = &[
        ("harmless", r#"{"description":"d","processors":[{"set":{"field":"tag","value":"v"}}]}"#, false),
        ("set _index", r#"{"processors":[{"set":{"field":"_index","value":"secret"}}]}"#, true),
        ("set _index on failure", r#"{"processors":[],"on_failure":[{"set":{"field":"_index","value":"s"}}]}"#, true),
        ("script", r#"{"processors":[{"script":{"source":"ctx._index = 'secret'"}}]}"#, true),
        ("calls a rerouting pipeline", r#"{"processors":[{"pipeline":{"name":"routes"}}]}"#, true),
        ("calls a harmless pipeline", r#"{"processors":[{"pipeline":{"name":"safe"}}]}"#, false),
        ("calls an unknown pipeline", r#"{"processors":[{"pipeline":{"name":"other"}}]}"#, true),
        ("skips a missing pipeline", r#"{"processors":[{"pipeline":{"name":"other","ignore_missing_pipeline":true}}]}"#, false),
        ("calls itself", r#"{"processors":[{"pipeline":{"name":"p"}}]}"#, true),
        ("calls itself from foreach", r#"{"processors":[{"foreach":{"field":"f","processor":{"pipeline":{"name":"p"}}}}]}"#, true),
        // A pipeline that calls `p` counts by its verdict, reached with the old `p`: sound
        // (module docs), though the node would find a cycle.
        ("calls a pipeline that calls it", r#"{"processors":[{"pipeline":{"name":"calls-p"}}]}"#, false),
        ("no processors", r#"{"description":"d"}"#, true),
        ("not an object", r#"[{"set":{"field":"tag","value":"v"}}]"#, true),
        ("not JSON", "processors: []", true),
        ("repeated key", r#"{"processors":[{"set":{"field":"_index","field":"tag","value":"v"}}]}"#, true),
        ("empty", "", true),
    ];
    for (name, body, expected) in cases {
        assert_eq!(defines(&ingest, "p", body), *expected, "{name}");
    }
    // The old definition does not matter: `routes` can be made harmless, `safe` cannot be
    // made to reroute.
    let harmless = r#"{"processors":[{"set":{"field":"tag","value":"v"}}]}"#;
    assert!(!defines(&ingest, "routes", harmless));
    let rerouting = r#"{"processors":[{"set":{"field":"_index","value":"secret"}}]}"#;
    assert!(defines(&ingest, "safe", rerouting));
    // A body not read yet (or not sent) is no definition.
    let unread_body = Definition {
        id: "p".into(),
        body: None,
    };
    assert!(ingest.definition_may_reroute(&unread_body));
}

#[test]
fn before_the_metadata_is_read_a_definition_may_call_nothing() {
    let ingest = Ingest::unread();
    let harmless = r#"{"processors":[{"set":{"field":"tag","value":"v"}}]}"#;
    assert!(!defines(&ingest, "p", harmless));
    let calls = r#"{"processors":[{"pipeline":{"name":"safe"}}]}"#;
    assert!(defines(&ingest, "p", calls));
    let optional = r#"{"processors":[{"pipeline":{"name":"x","ignore_missing_pipeline":true}}]}"#;
    assert!(defines(&ingest, "p", optional));
}

#[test]
fn only_pipeline_puts_define_a_pipeline() {
    use crate::es::route::classify;
    use crate::http::Method;
    let defined = |method, target| {
        let classified = classify(method, target).unwrap();
        PipelineUse::of(&classified).unwrap().defines
    };
    assert_eq!(
        defined(Method::Put, "/_ingest/pipeline/my%2Dp"),
        Some(Definition {
            id: "my-p".into(),
            body: None
        })
    );
    assert_eq!(defined(Method::Get, "/_ingest/pipeline/p"), None);
    assert_eq!(defined(Method::Delete, "/_ingest/pipeline/p"), None);
    assert_eq!(defined(Method::Post, "/_ingest/pipeline/p/_simulate"), None);
}
