use super::super::MAX_JSON_DEPTH;
use super::*;

fn names(v: &[Cow<'_, str>]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn legacy() {
    let body = br#"{"index_patterns":["logs-*","te*"],"order":1,"settings":{"number_of_shards":1},
        "mappings":{"properties":{"f":{"type":"keyword"}}},"aliases":{"all-logs":{},"{index}-alias":{"filter":{}}}}"#;
    let t = parse_template(body, TemplateKind::Legacy).unwrap();
    assert_eq!(names(&t.index_patterns), ["logs-*", "te*"]);
    assert_eq!(names(&t.aliases), ["all-logs", "{index}-alias"]);
    let t = parse_template(br#"{"index_patterns":"x*"}"#, TemplateKind::Legacy).unwrap();
    assert_eq!(names(&t.index_patterns), ["x*"]);
    let t = parse_template(br#"{"template":"old-*"}"#, TemplateKind::Legacy).unwrap();
    assert_eq!(names(&t.index_patterns), ["old-*"]);
}

#[test]
fn composable_and_component() {
    let body = br#"{"index_patterns":["metrics-*"],"priority":200,"composed_of":["c1"],"data_stream":{},
        "template":{"settings":{},"aliases":{"m":{"is_hidden":true}}},"_meta":{"aliases":{"nope":{}}}}"#;
    let t = parse_template(body, TemplateKind::Composable).unwrap();
    assert_eq!(names(&t.index_patterns), ["metrics-*"]);
    assert_eq!(names(&t.aliases), ["m"]);
    assert_eq!(names(&t.composed_of), ["c1"]);
    let t = parse_template(
        br#"{"index_patterns":"a","composed_of":["c1","c2,c3"]}"#,
        TemplateKind::Composable,
    )
    .unwrap();
    assert_eq!(names(&t.composed_of), ["c1", "c2", "c3"]);
    // Only composable templates are composed of others.
    let t = parse_template(br#"{"composed_of":["c"]}"#, TemplateKind::Component).unwrap();
    assert!(t.composed_of.is_empty());
    let t = parse_template(
        br#"{"template":{"aliases":{"c":{}}},"version":1}"#,
        TemplateKind::Component,
    )
    .unwrap();
    assert!(t.index_patterns.is_empty());
    assert_eq!(names(&t.aliases), ["c"]);
    // Top-level aliases belong to legacy templates only.
    let t = parse_template(
        br#"{"index_patterns":"a","aliases":{"x":{}}}"#,
        TemplateKind::Composable,
    )
    .unwrap();
    assert!(t.aliases.is_empty());
}

#[test]
fn errors() {
    use TemplateKind::*;
    let cases: &[(&str, &str, TemplateKind, BodyError)] = &[
        (
            "duplicate patterns",
            r#"{"index_patterns":"a","index_patterns":"b"}"#,
            Legacy,
            BodyError::DuplicateKey { line: 1 },
        ),
        (
            "patterns and old template",
            r#"{"index_patterns":"a","template":"b"}"#,
            Legacy,
            BodyError::DuplicateKey { line: 1 },
        ),
        (
            "numeric pattern",
            r#"{"index_patterns":[1]}"#,
            Composable,
            BodyError::UnexpectedJson { line: 1 },
        ),
        (
            "duplicate template.aliases",
            r#"{"template":{"aliases":{},"aliases":{"x":{}}}}"#,
            Composable,
            BodyError::DuplicateKey { line: 1 },
        ),
        (
            "aliases not an object",
            r#"{"template":{"aliases":["x"]}}"#,
            Component,
            BodyError::UnexpectedJson { line: 1 },
        ),
        (
            "trailing data",
            r#"{"index_patterns":"a"}]"#,
            Legacy,
            BodyError::UnexpectedJson { line: 1 },
        ),
    ];
    for (name, body, kind, expected) in cases {
        assert_eq!(
            parse_template(body.as_bytes(), *kind),
            Err(*expected),
            "{name}"
        );
    }
}

#[test]
fn nesting_limit() {
    let ok = format!(
        "{{\"index_patterns\":\"a\",\"mappings\":{}{}}}",
        "[".repeat(MAX_JSON_DEPTH),
        "]".repeat(MAX_JSON_DEPTH)
    );
    assert!(parse_template(ok.as_bytes(), TemplateKind::Legacy).is_ok());
    let deep = format!(
        "{{\"index_patterns\":\"a\",\"mappings\":{}{}}}",
        "[".repeat(MAX_JSON_DEPTH + 1),
        "]".repeat(MAX_JSON_DEPTH + 1)
    );
    assert_eq!(
        parse_template(deep.as_bytes(), TemplateKind::Legacy),
        Err(BodyError::JsonTooDeep { line: 1 })
    );
    let huge = format!("{{\"mappings\":{}", "{\"a\":".repeat(2_000_000));
    assert_eq!(
        parse_template(huge.as_bytes(), TemplateKind::Legacy),
        Err(BodyError::JsonTooDeep { line: 1 })
    );
}
