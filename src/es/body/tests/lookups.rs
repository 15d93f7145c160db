use super::*;

const S: SearchBody = SearchBody::Search;
const T: SearchBody = SearchBody::Template;

fn run(kind: SearchBody, body: &str) -> Result<Vec<String>, BodyError> {
    let mut out = Vec::new();
    scan_lookups(body.as_bytes(), kind, &mut |name| {
        out.push(name.to_string())
    })?;
    Ok(out)
}

/// A terms lookup of `index` (the other lookup fields as Elasticsearch requires them).
fn lookup(index: &str) -> String {
    format!(r#"{{"terms":{{"user":{{"index":"{index}","id":"1","path":"following"}}}}}}"#)
}

/// (what, kind, body, names reported).
type Case = (&'static str, SearchBody, String, &'static [&'static str]);

fn check(cases: &[Case]) {
    for (what, kind, body, expected) in cases {
        let expected: Vec<String> = expected.iter().map(|name| name.to_string()).collect();
        assert_eq!(run(*kind, body), Ok(expected), "{what}: {body}");
    }
}

#[test]
fn terms_lookups() {
    let cases: &[Case] = &[
        ("lookup", S, format!(r#"{{"query":{}}}"#, lookup("users")), &["users"]),
        (
            "lookup with routing, boost and a name",
            S,
            r#"{"query":{"terms":{"f":{"index":"u","id":"1","path":"p","routing":"r"},"boost":2,"_name":"n"}}}"#.into(),
            &["u"],
        ),
        ("terms values", S, r#"{"query":{"terms":{"f":["a","b"]}}}"#.into(), &[]),
        // A field named `index` is a field, not an index.
        ("term on a field named index", S, r#"{"query":{"term":{"index":"secret"}}}"#.into(), &[]),
        (
            "term on index with options",
            S,
            r#"{"query":{"term":{"index":{"value":"secret"}}}}"#.into(),
            &[],
        ),
        ("terms on a field named index", S, r#"{"query":{"terms":{"index":["secret"]}}}"#.into(), &[]),
        (
            "a lookup into the field named index",
            S,
            r#"{"query":{"terms":{"index":{"index":"secret-1","id":"1","path":"p"}}}}"#.into(),
            &["secret-1"],
        ),
        (
            "a lookup into a field named terms",
            S,
            r#"{"query":{"terms":{"terms":{"index":"secret-1","id":"1","path":"p"}}}}"#.into(),
            &["secret-1"],
        ),
        (
            "index elsewhere in the body",
            S,
            r#"{"query":{"match":{"index":{"query":"x"}}},"sort":[{"index":"asc"}],"_source":{"includes":["index"]}}"#.into(),
            &[],
        ),
        (
            "escaped keys are decoded",
            S,
            r#"{"query":{"te\u0072ms":{"f":{"ind\u0065x":"sec\u0072et","id":"1","path":"p"}}}}"#.into(),
            &["secret"],
        ),
        (
            "lists, wildcards, aliases, date math, remote names as written",
            S,
            r#"{"query":{"bool":{"should":[
                {"terms":{"a":{"index":"x,y,,","id":"1","path":"p"}}},
                {"terms":{"b":{"index":"logs-*","id":"1","path":"p"}}},
                {"terms":{"c":{"index":"<logs-{now/d}>","id":"1","path":"p"}}},
                {"terms":{"d":{"index":"dc2:secret","id":"1","path":"p"}}}]}}}"#
                .into(),
            &["x", "y", "logs-*", "<logs-{now/d}>", "dc2:secret"],
        ),
        ("empty body", S, String::new(), &[]),
        ("blank body", S, " \r\n\t".into(), &[]),
        ("no query", S, r#"{"size":0}"#.into(), &[]),
    ];
    check(cases);
}

#[test]
fn every_place_a_query_nests() {
    let l = |i: &str| lookup(i);
    let cases: &[Case] = &[
        (
            "bool clauses, objects and arrays",
            S,
            format!(
                r#"{{"query":{{"bool":{{"must":{},"filter":[{}],"should":[{}],"must_not":{{"bool":{{"filter":{}}}}}}}}}}}"#,
                l("a"),
                l("b"),
                l("c"),
                l("d")
            ),
            &["a", "b", "c", "d"],
        ),
        (
            "function_score, nested, has_child, has_parent, dis_max, constant_score, boosting",
            S,
            format!(
                r#"{{"query":{{"function_score":{{"query":{{"nested":{{"path":"n","query":{{"has_child":{{"type":"c","query":{}}}}}}}}},"functions":[{{"filter":{{"has_parent":{{"parent_type":"p","query":{}}}}},"weight":2}}]}}}},
                  "post_filter":{{"dis_max":{{"queries":[{{"constant_score":{{"filter":{}}}}},{{"boosting":{{"positive":{},"negative":{},"negative_boost":0.5}}}}]}}}}}}"#,
                l("a"),
                l("b"),
                l("c"),
                l("d"),
                l("e")
            ),
            &["a", "b", "c", "d", "e"],
        ),
        (
            "rescore, highlight, collapse inner hits, knn and neural filters, hybrid",
            S,
            format!(
                r#"{{"rescore":[{{"window_size":10,"query":{{"rescore_query":{}}}}}],
                  "highlight":{{"highlight_query":{},"fields":{{"f":{{"highlight_query":{}}}}}}},
                  "collapse":{{"field":"u","inner_hits":{{"name":"i","highlight":{{"highlight_query":{}}}}}}},
                  "query":{{"hybrid":{{"queries":[{{"knn":{{"v":{{"vector":[1,2],"k":2,"filter":{}}}}}}},
                    {{"neural":{{"terms":{{"query_text":"x","filter":{}}}}}}}]}}}}}}"#,
                l("a"),
                l("b"),
                l("c"),
                l("d"),
                l("e"),
                l("f")
            ),
            &["a", "b", "c", "d", "e", "f"],
        ),
        (
            "index_filter of _field_caps and _terms_enum, an Elasticsearch retriever",
            S,
            format!(
                r#"{{"index_filter":{},"retriever":{{"rrf":{{"retrievers":[{{"standard":{{"query":{}}}}}]}}}}}}"#,
                l("a"),
                l("b")
            ),
            &["a", "b"],
        ),
    ];
    check(cases);
}

#[test]
fn aggregations() {
    let l = |i: &str| lookup(i);
    let cases: &[Case] = &[
        (
            "filter, filters, adjacency_matrix, significant_terms, nested sub-aggregations",
            S,
            format!(
                r#"{{"aggs":{{"f":{{"filter":{},"aggs":{{"g":{{"filters":{{"filters":{{"x":{}}}}},
                  "aggregations":{{"m":{{"adjacency_matrix":{{"filters":{{"y":{}}}}}}},
                  "s":{{"significant_terms":{{"field":"t","background_filter":{}}}}}}}}}}}}}}}}}"#,
                l("a"),
                l("b"),
                l("c"),
                l("d")
            ),
            &["a", "b", "c", "d"],
        ),
        (
            "a terms aggregation ordered by a sub-aggregation named index",
            S,
            r#"{"aggs":{"by":{"terms":{"field":"f","order":{"index":"desc"},"include":{"partition":0,"num_partitions":4}},"aggs":{"index":{"max":{"field":"n"}}}}}}"#.into(),
            &[],
        ),
        (
            "aggregations named like queries; composite and multi_terms sources",
            S,
            r#"{"aggregations":{"terms":{"terms":{"field":"f"}},"more_like_this":{"composite":{"sources":[{"t":{"terms":{"field":"f","order":"asc"}}}]}},
               "percolate":{"multi_terms":{"terms":[{"field":"a"},{"field":"b"}]}}}}"#
                .into(),
            &[],
        ),
        (
            "a top_hits highlight query",
            S,
            format!(
                r#"{{"aggs":{{"t":{{"top_hits":{{"highlight":{{"highlight_query":{}}}}}}}}}}}"#,
                l("a")
            ),
            &["a"],
        ),
        (
            // Below the top level `aggs` is only a possible query's key: read as one.
            "aggs deeper than the top level is not an aggregation map",
            S,
            format!(r#"{{"query":{{"knn":{{"aggs":{{"vector":[1],"filter":{}}}}}}}}}"#, l("a")),
            &["a"],
        ),
    ];
    check(cases);
}

#[test]
fn more_like_this_shapes_percolate_runtime_fields() {
    let cases: &[Case] = &[
        (
            "like: text, one item, items with and without _index; unlike",
            S,
            r#"{"query":{"more_like_this":{"fields":["t"],"like":["some text",{"_index":"a","_id":"1"},{"_id":"2"},{"_index":"b","doc":{"t":"x"}}],
               "unlike":{"_index":"c","_id":"3"},"min_term_freq":1}}}"#
                .into(),
            &["a", "b", "c"],
        ),
        ("like as text only", S, r#"{"query":{"more_like_this":{"like":"text"}}}"#.into(), &[]),
        (
            "geo_shape with and without an index, shape, xy_shape",
            S,
            r#"{"query":{"bool":{"filter":[
                {"geo_shape":{"loc":{"indexed_shape":{"index":"a","id":"1","path":"s"},"relation":"within"},"ignore_unmapped":true}},
                {"geo_shape":{"loc":{"indexed_shape":{"id":"2"}}}},
                {"shape":{"geometry":{"indexed_shape":{"index":"b","id":"3"}}}},
                {"xy_shape":{"geometry":{"indexed_shape":{"index":"c","id":"4"}}}},
                {"geo_shape":{"loc":{"shape":{"type":"envelope","coordinates":[[0,1],[1,0]]}}}}]}}}"#
                .into(),
            &["a", "shapes", "b", "c"],
        ),
        (
            "percolate a stored document; documents given inline",
            S,
            r#"{"query":{"bool":{"should":[{"percolate":{"field":"q","index":"a","id":"1"}},{"percolate":{"field":"q","documents":[{"index":"not-a-lookup"}]}}]}}}"#.into(),
            &["a"],
        ),
        (
            "a lookup runtime field",
            S,
            r#"{"runtime_mappings":{"who":{"type":"lookup","target_index":"a","input_field":"u","target_field":"id","fetch_fields":["n"]},"day":{"type":"keyword","script":"emit('x')"}}}"#.into(),
            &["a"],
        ),
    ];
    check(cases);
}

#[test]
fn unreadable_parts_stand_for_all_indices() {
    let cases: &[Case] = &[
        (
            "a wrapper query",
            S,
            r#"{"query":{"wrapper":{"query":"eyJ0ZXJtIjp7fX0="}}}"#.into(),
            &["*"],
        ),
        (
            "match on a field named wrapper, with options",
            S,
            r#"{"query":{"match":{"wrapper":{"query":"x","operator":"and"}}}}"#.into(),
            &[],
        ),
        (
            "a template query with placeholders",
            S,
            r#"{"query":{"template":{"knn":{"v":{"vector":"${embedding}","k":2}}}}}"#.into(),
            &["*"],
        ),
        (
            "a template query without placeholders is read as a query",
            S,
            format!(r#"{{"query":{{"template":{}}}}}"#, lookup("a")),
            &["a"],
        ),
        (
            "a phrase suggester collate query: stored, text, inline",
            S,
            format!(
                r#"{{"suggest":{{"s":{{"text":"x","phrase":{{"field":"t","collate":{{"query":{{"id":"stored"}}}}}}}},
                  "u":{{"text":"x","phrase":{{"field":"t","collate":{{"query":"{{{{text}}}}"}}}}}},
                  "v":{{"text":"x","phrase":{{"field":"t","collate":{{"query":{{"source":{}}},"params":{{"p":1}},"prune":true}}}}}}}}}}"#,
                lookup("{{suggestion}}")
            ),
            &["*", "*", "*"],
        ),
        (
            "an inline collate query without placeholders",
            S,
            format!(
                r#"{{"suggest":{{"s":{{"phrase":{{"collate":{{"query":{{"source":{}}}}}}}}}}}}}"#,
                lookup("a")
            ),
            &["a"],
        ),
    ];
    check(cases);
}

#[test]
fn search_templates() {
    let cases: &[Case] = &[
        ("a stored template", T, r#"{"id":"t1","params":{"q":"x"}}"#.into(), &["*"]),
        (
            "a template as text",
            T,
            r#"{"source":"{\"query\":{{#toJson}}q{{/toJson}}}","params":{"q":{}}}"#.into(),
            &["*"],
        ),
        (
            "an inline template is read as a search body",
            T,
            format!(
                r#"{{"source":{{"query":{},"aggs":{{"x":{{"terms":{{"field":"f","order":{{"index":"asc"}}}}}}}}}},"params":{{}}}}"#,
                lookup("a")
            ),
            &["a"],
        ),
        (
            "its old names",
            T,
            format!(r#"{{"inline":{{"query":{}}}}}"#, lookup("a")),
            &["a"],
        ),
        ("and the other", T, format!(r#"{{"template":{{"query":{}}}}}"#, lookup("b")), &["b"]),
        (
            "plain variables in values and keys of leaf queries",
            T,
            r#"{"source":{"query":{"bool":{"must":[{"match":{"{{field}}":"{{value}}"}},{"range":{"{{f}}":{"gte":"{{from}}","lte":"{{ to }}"}}}]}},"size":"{{size}}"},"params":{"field":"a"}}"#.into(),
            &[],
        ),
        (
            "a variable as the lookup index",
            T,
            format!(r#"{{"source":{{"query":{}}}}}"#, lookup("{{idx}}")),
            &["*"],
        ),
        (
            "a variable key that can become terms",
            T,
            r#"{"source":{"query":{"{{kind}}":{"f":{"index":"secret","id":"1","path":"p"}}}}}"#.into(),
            &["secret"],
        ),
        (
            "a variable key that can become index",
            T,
            r#"{"source":{"query":{"terms":{"f":{"{{k}}":"secret","id":"1","path":"p"}}}}}"#.into(),
            &["secret"],
        ),
        (
            "a variable key that can become wrapper",
            T,
            r#"{"source":{"query":{"match":{"{{f}}":{"query":"{{q}}"}}}}}"#.into(),
            &["*"],
        ),
        ("triple mustache", T, r#"{"source":{"query":{"match":{"f":"{{{q}}}"}}}}"#.into(), &["*"]),
        ("a section", T, r#"{"source":{"size":"{{#s}}1{{/s}}"}}"#.into(), &["*"]),
        ("an unterminated tag", T, r#"{"source":{"query":{"match":{"f":"{{q"}}}}"#.into(), &["*"]),
        ("a tag in a key", T, r#"{"source":{"query":{"{{#x}}":{}}}}"#.into(), &["*"]),
        (
            "params are data",
            T,
            format!(r#"{{"id":"t","params":{{"q":{}}},"explain":true}}"#, lookup("a")),
            &["*"],
        ),
        (
            "params of an inline template are not read",
            T,
            format!(r#"{{"source":{{"size":1}},"params":{{"q":{},"s":"{{{{{{x}}}}}}"}}}}"#, lookup("a")),
            &[],
        ),
        // Outside templates braces are literal.
        ("braces in a plain search", S, format!(r#"{{"query":{}}}"#, lookup("{{x}}")), &["{{x}}"]),
    ];
    check(cases);
}

#[test]
fn rank_eval_requests_are_search_bodies() {
    const R: SearchBody = SearchBody::RankEval;
    let cases: &[Case] = &[
        (
            "every rated request's search",
            R,
            format!(
                r#"{{"requests":[{{"id":"q1","request":{{"query":{}}},"ratings":[{{"_index":"r","_id":"1","rating":1}}]}},
                  {{"id":"q2","request":{{"query":{{"percolate":{{"field":"q","index":"p","id":"1"}}}}}},"ratings":[]}}],
                  "metric":{{"precision":{{"k":10}}}}}}"#,
                lookup("a")
            ),
            &["a", "p"],
        ),
        (
            "one request in place of the array",
            R,
            format!(
                r#"{{"requests":{{"id":"q","request":{{"query":{}}}}}}}"#,
                lookup("a")
            ),
            &["a"],
        ),
        (
            "templates, whatever they hold",
            R,
            r#"{"templates":[{"id":"t","template":{"source":{"query":{"match_all":{}}}}}],
               "requests":[{"id":"q","template_id":"t","params":{},"ratings":[]}]}"#
                .into(),
            &["*"],
        ),
        (
            "ratings, params and metrics are data",
            R,
            format!(
                r#"{{"requests":[{{"id":"q","params":{{"q":{}}},"ratings":[{}],"request":{{}}}}],"metric":{{"x":{}}}}}"#,
                lookup("a"),
                lookup("b"),
                lookup("c")
            ),
            &[],
        ),
        (
            "the top level is not a query",
            R,
            format!(r#"{{"query":{}}}"#, lookup("a")),
            &[],
        ),
    ];
    check(cases);
}

#[test]
fn a_value_inside_a_body_is_scanned_alone() {
    let body = format!(
        "{{\"source\":\n{{\"index\":\"logs\",\"query\":{}}},\"dest\":{{\"q\":{}}}}}",
        lookup("a"),
        lookup("b")
    );
    let start = body.find("\n{").unwrap() + 1;
    let end = body.find(",\"dest\"").unwrap();
    let mut out = Vec::new();
    scan_lookups_within(body.as_bytes(), start..end, S, &mut |n| {
        out.push(n.to_string())
    })
    .unwrap();
    assert_eq!(out, ["a"]);
    // Errors name the line in the body.
    let bad = "{\"source\":\n{\"query\":{\"terms\":{\"f\":{\"index\":1}}}}}";
    let start = bad.find("\n{").unwrap() + 1;
    let result = scan_lookups_within(bad.as_bytes(), start..bad.len() - 1, S, &mut |_| {});
    assert_eq!(result, Err(BodyError::UnexpectedJson { line: 2 }));
}

#[test]
fn refused_bodies() {
    let unexpected = |line| BodyError::UnexpectedJson { line };
    let malformed = |line| BodyError::MalformedJson { line };
    let cases: &[(&str, &str, BodyError)] = &[
        ("not JSON", "{\"query\":", malformed(1)),
        ("a comment", "{\"query\":{}/* x */}", malformed(1)),
        ("an array", "[]", unexpected(1)),
        ("a string", "\"x\"", unexpected(1)),
        ("trailing data", "{} {}", unexpected(1)),
        (
            "a number as the lookup index",
            "{\"query\":\n{\"terms\":{\"f\":{\"index\":1,\"id\":\"1\",\"path\":\"p\"}}}}",
            unexpected(2),
        ),
        (
            "null as the lookup index",
            "{\"query\":{\"terms\":{\"f\":{\"index\":null}}}}",
            unexpected(1),
        ),
        (
            "an object as an item's _index",
            "{\"query\":{\"more_like_this\":{\"like\":{\"_index\":{}}}}}",
            unexpected(1),
        ),
        (
            "a list as a percolated index",
            "{\"query\":{\"percolate\":{\"index\":[\"a\"]}}}",
            unexpected(1),
        ),
        (
            "an object as a runtime field's target index",
            "{\"runtime_mappings\":{\"f\":{\"target_index\":{}}}}",
            unexpected(1),
        ),
        (
            "a lone surrogate in a key",
            "{\"qu\\ud800ery\":{}}",
            malformed(1),
        ),
    ];
    for (what, body, expected) in cases {
        assert_eq!(run(S, body), Err(*expected), "{what}");
    }
    // Every proper prefix of a body is refused, never half read.
    let body = format!(
        r#"{{"query":{{"bool":{{"must":[{},{{"more_like_this":{{"like":[{{"_index":"b","_id":"1"}}]}}}}]}}}}}}"#,
        lookup("a")
    );
    assert_eq!(run(S, &body), Ok(vec!["a".into(), "b".into()]));
    for end in 1..body.len() {
        let prefix = &body[..end];
        if prefix.trim().is_empty() {
            continue;
        }
        assert!(run(S, prefix).is_err(), "{prefix}");
    }
}

/// Nested arrays, `depth` deep, with a lookup at the bottom.
fn nested(depth: usize) -> String {
    // The object and its `query` object are 2 levels; the lookup object adds 3.
    let arrays = depth - 5;
    format!(
        r#"{{"query":{{"bool":{}{}{}}}}}"#,
        "[".repeat(arrays),
        lookup("deep"),
        "]".repeat(arrays)
    )
}

#[test]
fn depth_is_bounded() {
    let deepest = nested(MAX_JSON_DEPTH);
    assert_eq!(run(S, &deepest), Ok(vec!["deep".into()]));
    let too_deep = nested(MAX_JSON_DEPTH + 1);
    assert_eq!(run(S, &too_deep), Err(BodyError::JsonTooDeep { line: 1 }));
    // The same bound inside data that is not read.
    let params = format!(
        "{{\"source\":{{}},\"params\":{}1{}}}",
        "[".repeat(MAX_JSON_DEPTH),
        "]".repeat(MAX_JSON_DEPTH)
    );
    assert_eq!(run(T, &params), Err(BodyError::JsonTooDeep { line: 1 }));
}

#[test]
fn msearch_search_lines() {
    let body = format!(
        "{{\"index\":\"logs-1\"}}\n{{\"query\":{}}}\n{{}}\n\n{{\"index\":\"x\"}}\n{{\"query\":{}}}\n",
        lookup("a"),
        lookup("b")
    );
    let mut out = Vec::new();
    scan_msearch_lookups(body.as_bytes(), S, &mut |n| out.push(n.to_string())).unwrap();
    // Header `index` keys are searches' targets, not lookups.
    assert_eq!(out, ["a", "b"]);

    let templates = "{}\n{\"id\":\"t\"}\n{}\n{\"source\":{\"query\":{\"percolate\":{\"index\":\"p\",\"id\":\"1\"}}}}\n";
    let mut out = Vec::new();
    scan_msearch_lookups(templates.as_bytes(), T, &mut |n| out.push(n.to_string())).unwrap();
    assert_eq!(out, ["*", "p"]);

    // An error names the line of the search.
    let bad = "{}\n{}\n{}\n{\"query\":{\"terms\":{\"f\":{\"index\":7}}}}\n";
    let result = scan_msearch_lookups(bad.as_bytes(), S, &mut |_| {});
    assert_eq!(result, Err(BodyError::UnexpectedJson { line: 4 }));
}

/// About 1 MB of bool clauses nested 300 deep, with a lookup in every leaf. The scan is one
/// pass over the bytes (see the module docs), so this takes milliseconds even unoptimised;
/// anything that re-reads what it has read (counting lines from the start, re-scanning a
/// subtree per level) would take seconds.
#[test]
fn a_large_body_is_read_in_one_pass() {
    let (open, close) = (r#"{"bool":{"should":["#, "]}}");
    let mut clauses = Vec::new();
    let (mut leaves, mut bytes) = (0usize, 0usize);
    while bytes < 1 << 20 {
        let lookups: Vec<String> = (leaves..leaves + 41)
            .map(|i| lookup(&format!("logs-{i}")))
            .collect();
        leaves += lookups.len();
        let clause = format!(
            "{}{}{}",
            open.repeat(100),
            lookups.join(","),
            close.repeat(100)
        );
        bytes += clause.len() + 1;
        clauses.push(clause);
    }
    // The clauses sit side by side in one more `should` array.
    let body = format!(
        r#"{{"query":{{"bool":{{"should":[{}]}}}}}}"#,
        clauses.join(",")
    );
    assert!(body.len() >= 1 << 20);
    let start = std::time::Instant::now();
    let mut count = 0usize;
    scan_lookups(body.as_bytes(), S, &mut |_| count += 1).unwrap();
    let took = start.elapsed();
    assert_eq!(count, leaves);
    assert!(
        took < std::time::Duration::from_secs(1),
        "{} bytes took {took:?}",
        body.len()
    );
}
