use super::*;

type Doc = (u32, u32, String);
/// (name, body, default index, expected docs).
type Case<'a> = (
    &'a str,
    &'a str,
    Option<&'a str>,
    Result<Vec<Doc>, BodyError>,
);

fn run(body: &str, default: Option<&str>) -> Result<Vec<(u32, u32, String)>, BodyError> {
    let mut out = Vec::new();
    scan_mget(body.as_bytes(), default, |t| {
        out.push((t.doc, t.line, t.index.to_owned()))
    })?;
    Ok(out)
}

fn d(doc: u32, index: &str) -> (u32, u32, String) {
    (doc, 1, index.to_owned())
}

#[test]
fn table() {
    let cases: &[Case<'_>] = &[
        (
            "docs with and without _index",
            r#"{"docs":[{"_index":"a","_id":"1"},{"_id":"2"},{"_index":null,"_id":"3"}]}"#,
            Some("p"),
            Ok(vec![d(0, "a"), d(1, "p"), d(2, "p")]),
        ),
        (
            "ids use the path index",
            r#"{"ids":["1",2]}"#,
            Some("p"),
            Ok(vec![d(0, "p"), d(1, "p")]),
        ),
        (
            "ids without path index",
            r#"{"ids":["1"]}"#,
            None,
            Err(BodyError::MissingIndex { line: 1 }),
        ),
        (
            "doc without any index",
            r#"{"docs":[{"_id":"1"}]}"#,
            None,
            Err(BodyError::MissingIndex { line: 1 }),
        ),
        (
            "all doc keys",
            r#"{"docs":[{"_index":"a","_id":"1","routing":"r","_type":"_doc","version":1,"version_type":"external","stored_fields":["f","g"],"_source":{"includes":["x"],"exclude":"y"}},{"_index":"b","_id":"2","stored_fields":"f","_source":false}]}"#,
            None,
            Ok(vec![d(0, "a"), d(1, "b")]),
        ),
        (
            "escaped _index key",
            r#"{"docs":[{"\u005findex":"s\u0065cret","_id":"1"}]}"#,
            Some("p"),
            Ok(vec![d(0, "secret")]),
        ),
        (
            "nested unknown object (read as the doc's own keys by Elasticsearch 7)",
            r#"{"docs":[{"_index":"ok","_id":"1","x":{"_index":"secret"}}]}"#,
            None,
            Err(BodyError::UnknownParameter { line: 1 }),
        ),
        (
            "nested array in stored_fields",
            r#"{"docs":[{"_index":"ok","_id":"1","stored_fields":[[],{"_index":"secret"}]}]}"#,
            None,
            Err(BodyError::UnexpectedJson { line: 1 }),
        ),
        (
            "unknown _source key",
            r#"{"docs":[{"_index":"a","_id":"1","_source":{"_index":"x"}}]}"#,
            None,
            Err(BodyError::UnknownParameter { line: 1 }),
        ),
        (
            "duplicate _index",
            r#"{"docs":[{"_index":"a","_index":"b","_id":"1"}]}"#,
            None,
            Err(BodyError::DuplicateKey { line: 1 }),
        ),
        (
            "index as array",
            r#"{"docs":[{"_index":["a"],"_id":"1"}]}"#,
            None,
            Err(BodyError::UnexpectedJson { line: 1 }),
        ),
        (
            "index with comma",
            r#"{"docs":[{"_index":"a,b","_id":"1"}]}"#,
            None,
            Err(BodyError::InvalidIndexName { line: 1 }),
        ),
        (
            "unknown top-level key",
            r#"{"documents":[]}"#,
            None,
            Err(BodyError::UnknownParameter { line: 1 }),
        ),
        (
            "duplicate docs",
            r#"{"docs":[],"docs":[]}"#,
            None,
            Err(BodyError::DuplicateKey { line: 1 }),
        ),
        (
            "docs not an array",
            r#"{"docs":{}}"#,
            None,
            Err(BodyError::UnexpectedJson { line: 1 }),
        ),
        (
            "doc not an object",
            r#"{"docs":["a"]}"#,
            None,
            Err(BodyError::UnexpectedJson { line: 1 }),
        ),
        (
            "null id in ids",
            r#"{"ids":[null]}"#,
            Some("p"),
            Err(BodyError::UnexpectedJson { line: 1 }),
        ),
        (
            "trailing data",
            r#"{"ids":["1"]} {}"#,
            Some("p"),
            Err(BodyError::UnexpectedJson { line: 1 }),
        ),
        (
            "empty body",
            "",
            Some("p"),
            Err(BodyError::MalformedJson { line: 1 }),
        ),
        (
            "not json",
            "docs",
            Some("p"),
            Err(BodyError::MalformedJson { line: 1 }),
        ),
        (
            "both forms",
            r#"{"docs":[{"_index":"a","_id":"1"}],"ids":["2"]}"#,
            Some("p"),
            Ok(vec![d(0, "a"), d(1, "p")]),
        ),
    ];
    for (name, body, default, expected) in cases {
        assert_eq!(&run(body, *default), expected, "{name}");
    }
}

#[test]
fn line_numbers() {
    let body =
        "{\n \"docs\": [\n  {\"_index\": \"a\", \"_id\": \"1\"},\n  {\"_id\": \"2\"}\n ]\n}\n";
    assert_eq!(run(body, None), Err(BodyError::MissingIndex { line: 4 }));
    assert_eq!(
        run(body, Some("p")),
        Ok(vec![(0, 3, "a".into()), (1, 4, "p".into())])
    );
}

#[test]
fn deep_nesting_is_refused_without_recursion() {
    let body = format!("{{\"docs\":[{{\"_source\":{}", "[".repeat(1_000_000));
    assert_eq!(run(&body, None), Err(BodyError::UnexpectedJson { line: 1 }));
}

/// Deterministic mutation fuzzing of every whole-body parser: errors, never panics.
#[test]
fn mutations_never_panic() {
    use super::super::{parse_aliases, parse_reindex, parse_template, TemplateKind};
    let seeds: [&[u8]; 4] = [
        br#"{"docs":[{"_index":"a\u0062","_id":"1","_source":{"includes":["x"]}}],"ids":["2"]}"#,
        br#"{"source":{"index":["a","b"],"remote":{"host":"h"}},"dest":{"index":"d"},"script":{}}"#,
        br#"{"actions":[{"add":{"index":"a","aliases":["x"]}},{"remove_index":{"indices":"b"}}]}"#,
        br#"{"index_patterns":["p*"],"template":{"aliases":{"a":{}},"mappings":{"x":[1,2.5e3,null]}}}"#,
    ];
    let alphabet = b"{}[]\":,\\u0n \tabx_-1.e+\xff";
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..8000 {
        let mut body = seeds[round % seeds.len()].to_vec();
        for _ in 0..(next() % 4 + 1) {
            let at = (next() as usize) % (body.len() + 1);
            match next() % 3 {
                0 if at < body.len() => {
                    body.remove(at);
                }
                1 if at < body.len() => body[at] = alphabet[(next() as usize) % alphabet.len()],
                _ => body.insert(at, alphabet[(next() as usize) % alphabet.len()]),
            }
        }
        let _ = scan_mget(&body, Some("p"), |_| {});
        let _ = parse_reindex(&body);
        let _ = parse_aliases(&body);
        let _ = parse_template(&body, TemplateKind::Composable);
        let _ = parse_template(&body, TemplateKind::Legacy);
    }
}
