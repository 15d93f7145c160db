use super::*;

fn names(v: &[Cow<'_, str>]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn actions() {
    let body = br#"{"actions":[
        {"add":{"index":"logs-1","alias":"logs","is_write_index":true,"filter":{"term":{"u":"x"}}}},
        {"remove":{"indices":["a","b,c"],"aliases":["x","y"],"must_exist":false}},
        {"remove_index":{"index":"old"}},
        {"add":{"indices":"s","aliases":"t"}}
    ]}"#;
    let a = parse_aliases(body).unwrap();
    assert_eq!(a.len(), 4);
    assert_eq!((a[0].kind, a[0].line), (AliasActionKind::Add, 2));
    assert_eq!(
        (names(&a[0].indices), names(&a[0].aliases)),
        (vec!["logs-1".into()], vec!["logs".to_string()])
    );
    assert_eq!(a[1].kind, AliasActionKind::Remove);
    assert_eq!(names(&a[1].indices), ["a", "b", "c"]);
    assert_eq!(names(&a[1].aliases), ["x", "y"]);
    assert_eq!(a[2].kind, AliasActionKind::RemoveIndex);
    assert_eq!(names(&a[2].indices), ["old"]);
    assert!(a[2].aliases.is_empty());
    assert_eq!(
        (names(&a[3].indices), names(&a[3].aliases)),
        (vec!["s".into()], vec!["t".to_string()])
    );
}

#[test]
fn errors() {
    let cases: &[(&str, &str, BodyError)] = &[
        (
            "index and indices",
            r#"{"actions":[{"add":{"index":"a","indices":["b"],"alias":"x"}}]}"#,
            BodyError::DuplicateKey { line: 1 },
        ),
        (
            "alias and aliases",
            r#"{"actions":[{"add":{"index":"a","alias":"x","aliases":["y"]}}]}"#,
            BodyError::DuplicateKey { line: 1 },
        ),
        (
            "two actions in one element",
            r#"{"actions":[{"add":{"index":"a","alias":"x"},"remove":{"index":"s","alias":"x"}}]}"#,
            BodyError::UnexpectedJson { line: 1 },
        ),
        (
            "unknown action",
            r#"{"actions":[{"rename":{"index":"a"}}]}"#,
            BodyError::UnknownParameter { line: 1 },
        ),
        (
            "empty element",
            r#"{"actions":[{}]}"#,
            BodyError::UnexpectedJson { line: 1 },
        ),
        (
            "no index",
            r#"{"actions":[{"add":{"alias":"x"}}]}"#,
            BodyError::MissingIndex { line: 1 },
        ),
        (
            "remove_index with alias",
            r#"{"actions":[{"remove_index":{"index":"a","alias":"x"}}]}"#,
            BodyError::UnknownParameter { line: 1 },
        ),
        (
            "unknown top-level key",
            r#"{"foo":1,"actions":[]}"#,
            BodyError::UnknownParameter { line: 1 },
        ),
        (
            "duplicate actions",
            r#"{"actions":[],"actions":[]}"#,
            BodyError::DuplicateKey { line: 1 },
        ),
        (
            "index as number",
            r#"{"actions":[{"add":{"index":1,"alias":"x"}}]}"#,
            BodyError::UnexpectedJson { line: 1 },
        ),
        (
            "not an object",
            r#"[]"#,
            BodyError::UnexpectedJson { line: 1 },
        ),
    ];
    for (name, body, expected) in cases {
        assert_eq!(parse_aliases(body.as_bytes()), Err(*expected), "{name}");
    }
}
