use super::*;

fn names(v: &[Cow<'_, str>]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn basic() {
    let r =
        parse_reindex(br#"{"source":{"index":"a","query":{"match_all":{}}},"dest":{"index":"b"}}"#)
            .unwrap();
    assert_eq!(names(&r.source_indices), ["a"]);
    assert_eq!(r.dest_index, "b");
    assert!(!r.remote && !r.script && !r.dest_pipeline);
    assert_eq!(r.source, 10..48, "the source object, for its query");
}

#[test]
fn lists_flags_and_escapes() {
    let body = br#"{"conflicts":"proceed","source":{"\u0069ndex":["a","b,c"],"remote":{"host":"http://h:9200"},"size":10},
        "dest":{"index":"d","pipeline":"p","op_type":"create"},"script":{"source":"ctx._index='x'"},"max_docs":5}"#;
    let r = parse_reindex(body).unwrap();
    assert_eq!(names(&r.source_indices), ["a", "b", "c"]);
    assert_eq!(r.dest_index, "d");
    assert!(r.remote && r.script && r.dest_pipeline);
}

#[test]
fn errors() {
    let cases: &[(&str, &str, BodyError)] = &[
        (
            "no source",
            r#"{"dest":{"index":"b"}}"#,
            BodyError::MissingIndex { line: 1 },
        ),
        (
            "null source index",
            r#"{"source":{"index":null},"dest":{"index":"b"}}"#,
            BodyError::MissingIndex { line: 1 },
        ),
        (
            "empty source index",
            r#"{"source":{"index":""},"dest":{"index":"b"}}"#,
            BodyError::MissingIndex { line: 1 },
        ),
        (
            "no dest index",
            r#"{"source":{"index":"a"},"dest":{}}"#,
            BodyError::MissingIndex { line: 1 },
        ),
        (
            "dest index list",
            r#"{"source":{"index":"a"},"dest":{"index":"b,c"}}"#,
            BodyError::InvalidIndexName { line: 1 },
        ),
        (
            "numeric source index",
            r#"{"source":{"index":1},"dest":{"index":"b"}}"#,
            BodyError::UnexpectedJson { line: 1 },
        ),
        (
            "duplicate source",
            r#"{"source":{"index":"a"},"source":{"index":"x"},"dest":{"index":"b"}}"#,
            BodyError::DuplicateKey { line: 1 },
        ),
        (
            "duplicate source index",
            r#"{"source":{"index":"a","index":"x"},"dest":{"index":"b"}}"#,
            BodyError::DuplicateKey { line: 1 },
        ),
        (
            "duplicate dest index",
            r#"{"source":{"index":"a"},"dest":{"index":"b","index":"c"}}"#,
            BodyError::DuplicateKey { line: 1 },
        ),
        (
            "source not an object",
            r#"{"source":"a","dest":{"index":"b"}}"#,
            BodyError::UnexpectedJson { line: 1 },
        ),
        (
            "trailing data",
            r#"{"source":{"index":"a"},"dest":{"index":"b"}}x"#,
            BodyError::UnexpectedJson { line: 1 },
        ),
        (
            "malformed",
            r#"{"source":{"index":"a"},"dest":{"index":"b"}"#,
            BodyError::MalformedJson { line: 1 },
        ),
    ];
    for (name, body, expected) in cases {
        assert_eq!(parse_reindex(body.as_bytes()), Err(*expected), "{name}");
    }
}
