use super::*;

fn ids(list: &[&str], keep_alive: Option<&str>) -> ContextIds {
    ContextIds {
        ids: list.iter().map(|s| s.to_string()).collect(),
        keep_alive: keep_alive.map(str::to_string),
    }
}

#[test]
fn scroll_bodies() {
    let scan = |body: &str| scan_context_ids(body.as_bytes(), "scroll_id", Some("scroll"));
    let cases: &[(&str, Result<ContextIds, BodyError>)] = &[
        ("", Ok(ids(&[], None))),
        ("  \n", Ok(ids(&[], None))),
        (r#"{"scroll_id":"abc"}"#, Ok(ids(&["abc"], None))),
        (
            r#"{"scroll":"1m","scroll_id":"abc"}"#,
            Ok(ids(&["abc"], Some("1m"))),
        ),
        (r#"{"scroll_id":["a","b"]}"#, Ok(ids(&["a", "b"], None))),
        // Escapes are decoded: the id is what the node reads.
        (r#"{"scroll_id":"a\u0062c"}"#, Ok(ids(&["abc"], None))),
        // Every occurrence counts (the node refuses duplicates; a check must see all).
        (
            r#"{"scroll_id":"a","scroll_id":"b"}"#,
            Ok(ids(&["a", "b"], None)),
        ),
        // A keep-alive that is not a string is not ours to interpret.
        (r#"{"scroll":60,"scroll_id":"a"}"#, Ok(ids(&["a"], None))),
        // Unknown keys are the node's to refuse.
        (
            r#"{"other":{"x":[1]},"scroll_id":"a"}"#,
            Ok(ids(&["a"], None)),
        ),
        (
            r#"{"scroll_id":1}"#,
            Err(BodyError::UnexpectedJson { line: 1 }),
        ),
        (
            r#"{"scroll_id":["a",null]}"#,
            Err(BodyError::UnexpectedJson { line: 1 }),
        ),
        (
            r#"{"scroll_id":{"id":"a"}}"#,
            Err(BodyError::UnexpectedJson { line: 1 }),
        ),
        (r#"["abc"]"#, Err(BodyError::UnexpectedJson { line: 1 })),
        ("abc", Err(BodyError::MalformedJson { line: 1 })),
        (
            r#"{"scroll_id":"a"} {"scroll_id":"b"}"#,
            Err(BodyError::UnexpectedJson { line: 1 }),
        ),
        (
            "{\"scroll_id\":\"a\"\n/* c */}",
            Err(BodyError::MalformedJson { line: 2 }),
        ),
    ];
    for (body, expected) in cases {
        assert_eq!(&scan(body), expected, "{body}");
    }
}

#[test]
fn point_in_time_deletion_bodies() {
    let scan = |body: &str, key: &str| scan_context_ids(body.as_bytes(), key, None);
    assert_eq!(
        scan(r#"{"pit_id":["p1","p2"]}"#, "pit_id"),
        Ok(ids(&["p1", "p2"], None))
    );
    assert_eq!(scan(r#"{"pit_id":"p1"}"#, "pit_id"), Ok(ids(&["p1"], None)));
    assert_eq!(scan(r#"{"id":"p1"}"#, "id"), Ok(ids(&["p1"], None)));
    assert_eq!(scan(r#"{"pit_id":"p1"}"#, "id"), Ok(ids(&[], None)));
}

#[test]
fn search_bodies_with_and_without_a_point_in_time() {
    let scan = |body: &str| scan_search_pit(body.as_bytes());
    assert_eq!(scan(""), Ok(None));
    assert_eq!(scan(r#"{"query":{"match_all":{}}}"#), Ok(None));
    assert_eq!(
        scan(r#"{"size":1,"pit":{"id":"p1","keep_alive":"2m"},"sort":[{"a":"asc"}]}"#),
        Ok(Some(ids(&["p1"], Some("2m"))))
    );
    // A `pit` nested anywhere else is not the search's point in time.
    assert_eq!(
        scan(r#"{"query":{"term":{"pit":{"value":"x"}}}}"#),
        Ok(None)
    );
    assert_eq!(scan(r#"{"pit":{}}"#), Ok(Some(ids(&[], None))));
    assert_eq!(
        scan(r#"{"pit":"p1"}"#),
        Err(BodyError::UnexpectedJson { line: 1 })
    );
    assert_eq!(
        scan(r#"{"pit":{"id":"p1"}"#),
        Err(BodyError::MalformedJson { line: 1 })
    );
}

#[test]
fn response_ids_are_found_at_the_beginning() {
    let scroll = r#"{"_scroll_id":"FGluY2x1ZGU=","took":3,"hits":{"hits":[]}}"#;
    assert_eq!(
        response_id(scroll.as_bytes(), "_scroll_id"),
        IdScan::Found("FGluY2x1ZGU=".into())
    );
    let pretty = "{\n  \"pit_id\" : \"p\\u0031\",\n  \"_shards\" : {}\n}";
    assert_eq!(
        response_id(pretty.as_bytes(), "pit_id"),
        IdScan::Found("p1".into())
    );
    // Not first: the keys before it are skipped.
    let later = r#"{"took":1,"_shards":{"total":1},"pit_id":"p2","hits":{}}"#;
    assert_eq!(
        response_id(later.as_bytes(), "pit_id"),
        IdScan::Found("p2".into())
    );
    // `id` at the top level only, never an `id` inside another object.
    let nested = r#"{"x":{"id":"no"},"id":"yes"}"#;
    assert_eq!(
        response_id(nested.as_bytes(), "id"),
        IdScan::Found("yes".into())
    );
    assert_eq!(response_id(br#"{"took":1}"#, "_scroll_id"), IdScan::Absent);
    assert_eq!(
        response_id(br#"{"_scroll_id":null}"#, "_scroll_id"),
        IdScan::Absent
    );
    assert_eq!(
        response_id(b"---\n_scroll_id: abc\n", "_scroll_id"),
        IdScan::Incomplete
    );
}

#[test]
fn every_prefix_short_of_the_id_is_incomplete() {
    let body = r#"{"took":1,"pit_id":"p-1","hits":{"hits":[]}}"#;
    let id_end = body.find("p-1").unwrap() + "p-1\"".len();
    for end in 0..body.len() {
        let expected = if end < id_end {
            IdScan::Incomplete
        } else {
            IdScan::Found("p-1".into())
        };
        assert_eq!(
            response_id(&body.as_bytes()[..end], "pit_id"),
            expected,
            "{}",
            &body[..end]
        );
    }
}
