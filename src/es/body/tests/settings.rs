use super::*;

/// The names a body sets, and whether something at the keys could not be read.
fn read(body: &str, shape: SettingsBody) -> (Vec<String>, bool) {
    let found = scan_pipeline_settings(body.as_bytes(), shape).unwrap();
    let names = found.names.iter().map(|n| n.to_string()).collect();
    (names, found.unreadable)
}

fn names(list: &[&str]) -> (Vec<String>, bool) {
    (list.iter().map(|n| n.to_string()).collect(), false)
}

const UNREADABLE: (Vec<String>, bool) = (Vec::new(), true);

#[test]
fn every_spelling_elasticsearch_normalises_to_the_two_settings() {
    use SettingsBody::NewIndex;
    let cases: &[(&str, &[&str])] = &[
        (r#"{"settings":{"index.default_pipeline":"p"}}"#, &["p"]),
        (r#"{"settings":{"index":{"default_pipeline":"p"}}}"#, &["p"]),
        (r#"{"settings":{"default_pipeline":"p"}}"#, &["p"]),
        (r#"{"settings":{"index":{"final_pipeline":"f"}}}"#, &["f"]),
        (
            r#"{"settings":{"final_pipeline":"f","number_of_shards":1}}"#,
            &["f"],
        ),
        // Mixtures, each key read; a key given twice counts twice.
        (
            r#"{"settings":{"index":{"default_pipeline":"a","number_of_shards":1},"index.final_pipeline":"b","default_pipeline":"c"}}"#,
            &["a", "b", "c"],
        ),
        // Escaped keys are decoded before they are placed.
        (
            r#"{"settings":{"ind\u0065x":{"default_pipelin\u0065":"p"}}}"#,
            &["p"],
        ),
        (
            r#"{"settings":{"index.default_pipeline":"r\u00e9"}}"#,
            &["ré"],
        ),
        // Reported as written: `es::pipeline` decides what `_none` and "" mean.
        (
            r#"{"settings":{"index.default_pipeline":"_none","final_pipeline":""}}"#,
            &["_none", ""],
        ),
        // Null resets the setting.
        (
            r#"{"settings":{"index.default_pipeline":null,"index":{"final_pipeline":null}}}"#,
            &[],
        ),
        // Mappings and aliases are not settings.
        (
            r#"{"mappings":{"properties":{"default_pipeline":{"type":"keyword"}}},"aliases":{"index.default_pipeline":{}}}"#,
            &[],
        ),
    ];
    for (body, expected) in cases {
        assert_eq!(read(body, NewIndex), names(expected), "{body}");
    }
}

#[test]
fn keys_that_only_look_alike_are_other_settings() {
    for body in [
        // `index.index.default_pipeline`, `index..default_pipeline`, `.default_pipeline`.
        r#"{"settings":{"index":{"index.default_pipeline":"p"}}}"#,
        r#"{"settings":{"index.":{"default_pipeline":"p"}}}"#,
        r#"{"settings":{"":{"default_pipeline":"p"}}}"#,
        // Archived and wildcard keys keep their names.
        r#"{"settings":{"archived.index.default_pipeline":"p"}}"#,
        r#"{"settings":{"index.default_pipeline*":"p"}}"#,
        r#"{"settings":{"index.default":{"pipeline":"p"}}}"#,
        r#"{"settings":{"other":{"default_pipeline":"p"}}}"#,
        // A list or scalar where an object would lead to the settings.
        r#"{"settings":{"index":["default_pipeline"]}}"#,
        r#"{"settings":{"index":null}}"#,
    ] {
        assert_eq!(read(body, SettingsBody::NewIndex), names(&[]), "{body}");
    }
}

#[test]
fn values_that_are_not_names_are_unreadable() {
    for body in [
        r#"{"settings":{"index.default_pipeline":5}}"#,
        r#"{"settings":{"index":{"final_pipeline":true}}}"#,
        r#"{"settings":{"default_pipeline":["p"]}}"#,
        r#"{"settings":{"index.default_pipeline":{"0":"p"}}}"#,
        r#"{"settings":{"index.default_pipeline":{}}}"#,
        // Folded into a list at the key by `Settings.Builder`.
        r#"{"settings":{"index.default_pipeline.0":"p"}}"#,
        r#"{"settings":{"index":{"default_pipeline.0":"p"}}}"#,
        r#"{"settings":{"default_pipeline.x":{"y":1}}}"#,
    ] {
        assert_eq!(read(body, SettingsBody::NewIndex), UNREADABLE, "{body}");
    }
    // A readable name next to an unreadable one is still reported.
    assert_eq!(
        read(
            r#"{"settings":{"index.default_pipeline":"p","final_pipeline":1.5}}"#,
            SettingsBody::NewIndex
        ),
        (vec!["p".to_string()], true)
    );
    // Null under a key is nothing.
    assert_eq!(
        read(
            r#"{"settings":{"index.default_pipeline.0":null}}"#,
            SettingsBody::NewIndex
        ),
        names(&[])
    );
}

#[test]
fn each_api_keeps_its_settings_in_its_own_place() {
    use SettingsBody::*;
    let cases: &[(SettingsBody, &str, &[&str])] = &[
        // A settings update: the body, or its `settings` wrapper; both are read.
        (Update, r#"{"index.default_pipeline":"a"}"#, &["a"]),
        (Update, r#"{"index":{"final_pipeline":"b"}}"#, &["b"]),
        (Update, r#"{"default_pipeline":"c"}"#, &["c"]),
        (
            Update,
            r#"{"settings":{"index":{"default_pipeline":"d"}}}"#,
            &["d"],
        ),
        (
            Update,
            r#"{"settings":{"final_pipeline":"e"},"default_pipeline":"f"}"#,
            &["e", "f"],
        ),
        // Only the top-level wrapper is unwrapped.
        (
            Update,
            r#"{"settings":{"settings":{"default_pipeline":"g"}}}"#,
            &[],
        ),
        (
            Update,
            r#"{"settings":"x","index":{"number_of_replicas":1}}"#,
            &[],
        ),
        (
            Update,
            r#"{"index":{"settings":{"default_pipeline":"h"}}}"#,
            &[],
        ),
        // Index creation reads `settings` only.
        (NewIndex, r#"{"default_pipeline":"a","settings":{}}"#, &[]),
        // Templates.
        (
            LegacyTemplate,
            r#"{"index_patterns":["l-*"],"settings":{"index":{"default_pipeline":"a"}}}"#,
            &["a"],
        ),
        (
            LegacyTemplate,
            r#"{"template":{"settings":{"default_pipeline":"b"}}}"#,
            &[],
        ),
        (
            Template,
            r#"{"index_patterns":["c-*"],"template":{"settings":{"final_pipeline":"c"}}}"#,
            &["c"],
        ),
        (
            Template,
            r#"{"settings":{"default_pipeline":"d"},"template":{"mappings":{}}}"#,
            &[],
        ),
        (Template, r#"{"template":null}"#, &[]),
        (Template, r#"{"template":{"settings":null}}"#, &[]),
        // `_create_from` and snapshot restore.
        (
            CreateFrom,
            r#"{"settings_override":{"index.default_pipeline":"e"},"remove_index_blocks":true}"#,
            &["e"],
        ),
        (
            Restore,
            r#"{"indices":"l-1","index_settings":{"index":{"final_pipeline":"f"}}}"#,
            &["f"],
        ),
        // An empty body sets nothing.
        (Update, " \n", &[]),
    ];
    for (shape, body, expected) in cases {
        assert_eq!(read(body, *shape), names(expected), "{shape:?} {body}");
    }
}

#[test]
fn bodies_that_cannot_be_read_are_errors() {
    use SettingsBody::*;
    let cases: &[(SettingsBody, &str, BodyError)] = &[
        (
            Update,
            "index.default_pipeline: p",
            BodyError::MalformedJson { line: 1 },
        ),
        (Update, r#"["p"]"#, BodyError::UnexpectedJson { line: 1 }),
        (
            NewIndex,
            r#"{"settings":"index.default_pipeline=p"}"#,
            BodyError::UnexpectedJson { line: 1 },
        ),
        (
            NewIndex,
            r#"{"settings":{"index":{"default_pipeline":"p"}}"#,
            BodyError::MalformedJson { line: 1 },
        ),
        (
            Template,
            r#"{"template":[]}"#,
            BodyError::UnexpectedJson { line: 1 },
        ),
        (
            NewIndex,
            "{\"settings\":{}}\n{}",
            BodyError::UnexpectedJson { line: 2 },
        ),
        // Comments could hide a key from one reader and not another.
        (
            Update,
            "{/* x */\"default_pipeline\":\"p\"}",
            BodyError::MalformedJson { line: 1 },
        ),
    ];
    for (shape, body, error) in cases {
        assert_eq!(
            scan_pipeline_settings(body.as_bytes(), *shape),
            Err(*error),
            "{shape:?} {body}"
        );
    }
}

#[test]
fn deep_bodies_are_skipped_without_recursion() {
    let deep = format!(
        "{{\"settings\":{{\"index\":{{\"x\":{}1{}}},\"default_pipeline\":\"p\"}}}}",
        "[".repeat(900),
        "]".repeat(900)
    );
    assert_eq!(read(&deep, SettingsBody::NewIndex), names(&["p"]));
}
