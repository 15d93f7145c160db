use super::*;
use crate::es::route::classify;
use crate::http::Method;

/// A scroll id of OpenSearch 2.19 naming shard context 2 (`include_context_uuid`,
/// `queryAndFetch`, one shard).
const SCROLL_ID: &str = "FGluY2x1ZGVfY29udGV4dF91dWlkDXF1ZXJ5QW5kRmV0Y2gBFkxjWTJORUJ3UUNTUDlaWUU5bzNsSlEAAAAAAAAAAhY5RmJuWnVZUVREQzBfOWNTbTE2R0ZR";

fn read(method: Method, target: &str, body: Option<&str>) -> Result<ContextUse, ContextError> {
    let classified = classify(method, target).unwrap();
    let (path, query) = match target.split_once('?') {
        Some((path, query)) => (path, Some(query.as_bytes())),
        None => (target, None),
    };
    ContextUse::read(
        &classified,
        path,
        query,
        body.map(str::as_bytes),
        body.is_some(),
    )
}

fn strings(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

#[test]
fn requests_that_open_contexts() {
    use Method::*;
    let minute = Some(Duration::from_secs(60));
    let cases: &[(Method, &str, Option<&str>, ContextUse)] = &[
        (
            Get,
            "/logs/_search?scroll=1m",
            None,
            ContextUse::Open {
                field: IdField::ScrollId,
                keep_alive: minute,
            },
        ),
        (
            Post,
            "/logs/_search?size=10&scroll=60s",
            Some("{}"),
            ContextUse::Open {
                field: IdField::ScrollId,
                keep_alive: minute,
            },
        ),
        (
            Post,
            "/_search?scroll=1m",
            Some(r#"{"query":{"match_all":{}}}"#),
            ContextUse::Open {
                field: IdField::ScrollId,
                keep_alive: minute,
            },
        ),
        (
            Post,
            "/logs/_search/template?scroll=1m",
            Some("{}"),
            ContextUse::Open {
                field: IdField::ScrollId,
                keep_alive: minute,
            },
        ),
        (
            Post,
            "/logs/_search/point_in_time?keep_alive=1m",
            None,
            ContextUse::Open {
                field: IdField::PitId,
                keep_alive: minute,
            },
        ),
        (
            Post,
            "/logs/_pit?keep_alive=1m",
            None,
            ContextUse::Open {
                field: IdField::Id,
                keep_alive: minute,
            },
        ),
        // An unreadable keep-alive is the node's to refuse.
        (
            Get,
            "/logs/_search?scroll=soon",
            None,
            ContextUse::Open {
                field: IdField::ScrollId,
                keep_alive: None,
            },
        ),
        (Get, "/logs/_search", None, ContextUse::None),
        (Get, "/_search", None, ContextUse::None),
        (
            Post,
            "/logs/_msearch?scroll=1m",
            Some("{}\n{}\n"),
            ContextUse::None,
        ),
        (Post, "/logs/_count", Some("{}"), ContextUse::None),
    ];
    for (method, target, body, expected) in cases {
        assert_eq!(
            &read(*method, target, *body).unwrap(),
            expected,
            "{method:?} {target}"
        );
    }
}

#[test]
fn requests_that_continue_contexts() {
    use Method::*;
    let minute = Some(Duration::from_secs(60));
    let cont = |ids: &[&str], field, keep_alive| ContextUse::Continue {
        ids: strings(ids),
        field,
        keep_alive,
    };
    let cases: &[(Method, &str, Option<&str>, ContextUse)] = &[
        (
            Post,
            "/_search/scroll",
            Some(r#"{"scroll":"1m","scroll_id":"s1"}"#),
            cont(&["s1"], IdField::ScrollId, minute),
        ),
        (
            Get,
            "/_search/scroll/s1?scroll=1m",
            None,
            cont(&["s1"], IdField::ScrollId, minute),
        ),
        (
            Get,
            "/_search/scroll?scroll_id=s1",
            None,
            cont(&["s1"], IdField::ScrollId, None),
        ),
        // An id in the body replaces the parameters, as the node reads it.
        (
            Post,
            "/_search/scroll/s1?scroll_id=s2",
            Some(r#"{"scroll_id":"s3","scroll":"2m"}"#),
            cont(&["s3"], IdField::ScrollId, Some(Duration::from_secs(120))),
        ),
        // Without one, every parameter id is checked, whichever the node would use.
        (
            Post,
            "/_search/scroll/s1?scroll_id=s2",
            Some(r#"{"scroll":"2m"}"#),
            cont(
                &["s1", "s2"],
                IdField::ScrollId,
                Some(Duration::from_secs(120)),
            ),
        ),
        (
            Post,
            "/_search",
            Some(r#"{"size":1,"pit":{"id":"p1","keep_alive":"1m"}}"#),
            cont(&["p1"], IdField::PitId, minute),
        ),
        (
            Get,
            "/_search",
            Some(r#"{"pit":{"id":"p1"}}"#),
            cont(&["p1"], IdField::PitId, None),
        ),
        // With indices in the path the node refuses a PIT: the body is not read.
        (
            Post,
            "/logs/_search",
            Some(r#"{"pit":{"id":"p1"}}"#),
            ContextUse::None,
        ),
        (
            Post,
            "/_search",
            Some(r#"{"query":{"match_all":{}}}"#),
            ContextUse::None,
        ),
    ];
    for (method, target, body, expected) in cases {
        assert_eq!(
            &read(*method, target, *body).unwrap(),
            expected,
            "{method:?} {target}"
        );
    }
}

#[test]
fn requests_that_clear_contexts_or_address_all() {
    use Method::*;
    let clear = |ids: &[&str], missing| ContextUse::Clear {
        ids: strings(ids),
        missing,
    };
    let cases: &[(Method, &str, Option<&str>, ContextUse)] = &[
        (
            Delete,
            "/_search/scroll",
            Some(r#"{"scroll_id":["s1","s2"]}"#),
            clear(&["s1", "s2"], Missing::ClearScroll),
        ),
        (
            Delete,
            "/_search/scroll/s1,s2",
            None,
            clear(&["s1", "s2"], Missing::ClearScroll),
        ),
        (
            Delete,
            "/_search/scroll?scroll_id=s1,s2",
            None,
            clear(&["s1", "s2"], Missing::ClearScroll),
        ),
        // A body replaces the parameters' ids, even one that names none.
        (
            Delete,
            "/_search/scroll/s1?scroll_id=s2",
            Some(r#"{"scroll_id":"s3"}"#),
            clear(&["s3"], Missing::ClearScroll),
        ),
        (
            Delete,
            "/_search/scroll/s1",
            Some("{}"),
            clear(&[], Missing::ClearScroll),
        ),
        (
            Delete,
            "/_search/scroll/s1,_all",
            Some(r#"{"scroll_id":"s3"}"#),
            clear(&["s3"], Missing::ClearScroll),
        ),
        (
            Delete,
            "/_search/point_in_time",
            Some(r#"{"pit_id":["p1"]}"#),
            clear(&["p1"], Missing::DeletePit),
        ),
        (
            Delete,
            "/_pit",
            Some(r#"{"id":"p1"}"#),
            clear(&["p1"], Missing::ClearScroll),
        ),
        (Delete, "/_search/scroll/_all", None, ContextUse::All),
        (Delete, "/_search/scroll/s1,_all", None, ContextUse::All),
        (
            Delete,
            "/_search/scroll?scroll_id=_all",
            None,
            ContextUse::All,
        ),
        (
            Delete,
            "/_search/scroll",
            Some(r#"{"scroll_id":"_all"}"#),
            ContextUse::All,
        ),
        (Delete, "/_search/point_in_time/_all", None, ContextUse::All),
        (
            Delete,
            "/_search/point_in_time",
            Some(r#"{"pit_id":["_all"]}"#),
            ContextUse::All,
        ),
        (Get, "/_search/point_in_time/_all", None, ContextUse::All),
        (Get, "/_cat/pit_segments/_all", None, ContextUse::All),
        (
            Get,
            "/_cat/pit_segments",
            Some(r#"{"pit_id":["p1"]}"#),
            ContextUse::All,
        ),
    ];
    for (method, target, body, expected) in cases {
        assert_eq!(
            &read(*method, target, *body).unwrap(),
            expected,
            "{method:?} {target}"
        );
    }
}

#[test]
fn ids_in_an_unread_body_ask_for_it() {
    let classified = classify(Method::Post, "/_search/scroll/s1").unwrap();
    let unread = ContextUse::read(&classified, "/_search/scroll/s1", None, None, true);
    assert_eq!(unread, Ok(ContextUse::NeedsBody));
    for (method, target) in [
        (Method::Delete, "/_search/scroll"),
        (Method::Delete, "/_search/point_in_time"),
        (Method::Delete, "/_pit"),
        (Method::Post, "/_search?scroll=1m"),
    ] {
        let classified = classify(method, target).unwrap();
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let used = ContextUse::read(&classified, path, Some(query.as_bytes()), None, true);
        assert_eq!(used, Ok(ContextUse::NeedsBody), "{target}");
    }
    // The `_all` path form needs no body.
    let classified = classify(Method::Delete, "/_search/point_in_time/_all").unwrap();
    let all = ContextUse::read(&classified, "/_search/point_in_time/_all", None, None, true);
    assert_eq!(all, Ok(ContextUse::All));
}

#[test]
fn unreadable_ids_are_refused() {
    let bad = read(Method::Post, "/_search/scroll", Some(r#"{"scroll_id":7}"#));
    assert_eq!(
        bad,
        Err(ContextError::Body(BodyError::UnexpectedJson { line: 1 }))
    );
    let twice = read(Method::Get, "/_search/scroll?scroll_id=a&scroll_id=b", None);
    assert_eq!(twice, Err(ContextError::Query(RouteError::PathPartInQuery)));
    let error = twice.unwrap_err();
    assert_eq!(
        (error.status(), error.es_type()),
        (400, "illegal_argument_exception")
    );
}

#[test]
fn all_contexts_touch_every_index_unnarrowed() {
    let classified = classify(Method::Delete, "/_search/scroll/_all").unwrap();
    let mut targets = Targets::from_path(&classified);
    assert!(!targets.all_indices && targets.narrowable);
    ContextUse::All.restrict(&mut targets);
    assert!(targets.all_indices && !targets.narrowable);
    let mut untouched = Targets::from_path(&classified);
    ContextUse::Clear {
        ids: strings(&["s1"]),
        missing: Missing::ClearScroll,
    }
    .restrict(&mut untouched);
    assert!(!untouched.all_indices);
}

#[test]
fn keep_alive_values() {
    let ms = Duration::from_millis;
    let cases: &[(&str, Option<Duration>)] = &[
        ("1m", Some(ms(60_000))),
        ("30s", Some(ms(30_000))),
        ("250ms", Some(ms(250))),
        ("2h", Some(ms(7_200_000))),
        ("1d", Some(ms(86_400_000))),
        ("1500micros", Some(Duration::from_micros(1500))),
        ("10nanos", Some(Duration::from_nanos(10))),
        (" 5M ", Some(ms(300_000))),
        ("+5s", Some(ms(5000))),
        ("0", Some(Duration::ZERO)),
        ("00", Some(Duration::ZERO)),
        ("0s", Some(Duration::ZERO)),
        ("-1", None),
        ("-5s", None),
        ("1.5m", None),
        ("5", None),
        ("m", None),
        ("", None),
        ("5 minutes", None),
        ("99999999999999999999d", None),
        ("9999999999999d", None),
    ];
    for (text, expected) in cases {
        assert_eq!(parse_keep_alive(text), *expected, "{text:?}");
    }
}

#[test]
fn scroll_ids_name_their_first_context() {
    assert_eq!(first_scroll_context(SCROLL_ID), Some(2));
    // The context number ends at byte 67 (Base64 character 90): every shorter prefix is
    // too short to name it.
    for end in 0..90 {
        assert_eq!(first_scroll_context(&SCROLL_ID[..end]), None, "{end}");
    }
    for garbage in ["", "garbage", "////", "AAAA", "_w==", "FAAAAA"] {
        assert_eq!(first_scroll_context(garbage), None, "{garbage}");
    }
}

#[test]
fn missing_answers_are_the_nodes_own() {
    // OpenSearch 2.19, after the scroll was cleared.
    let expected = r#"{"error":{"root_cause":[{"type":"search_context_missing_exception","reason":"No search context found for id [2]"}],"type":"search_phase_execution_exception","reason":"all shards failed","phase":"query","grouped":true,"failed_shards":[{"shard":-1,"index":null,"reason":{"type":"search_context_missing_exception","reason":"No search context found for id [2]"}}],"caused_by":{"type":"search_context_missing_exception","reason":"No search context found for id [2]"}},"status":404}"#;
    let answer = NodeAnswer::continued(&strings(&[SCROLL_ID]), IdField::ScrollId);
    assert_eq!(
        (answer.status, String::from_utf8(answer.body).unwrap()),
        (404, expected.to_string())
    );
    let cleared = NodeAnswer::cleared(&strings(&["s1"]), Missing::ClearScroll);
    assert_eq!(
        (cleared.status, cleared.body),
        (404, br#"{"succeeded":true,"num_freed":0}"#.to_vec())
    );
    let deleted = NodeAnswer::cleared(&strings(&["p1", "p2"]), Missing::DeletePit);
    assert_eq!(
        (deleted.status, String::from_utf8(deleted.body).unwrap()),
        (
            200,
            r#"{"pits":[{"successful":true,"pit_id":"p1"},{"successful":true,"pit_id":"p2"}]}"#
                .to_string()
        )
    );
    let pit = NodeAnswer::continued(&strings(&["p1"]), IdField::PitId);
    assert!(String::from_utf8(pit.body).unwrap().contains("for id [0]"));
}
