use super::super::{MAX_JSON_DEPTH, MAX_META_LINE_BYTES};
use super::*;

type Item = (u32, BulkOp, String, Option<String>);
/// (name, body, default index, expected items).
type Case<'a> = (
    &'a str,
    &'a str,
    Option<&'a str>,
    Result<Vec<Item>, BodyError>,
);

fn run_chunks(
    chunks: &[&[u8]],
    default: Option<&str>,
) -> Result<(Vec<Item>, BulkSummary), BodyError> {
    let mut out = Vec::new();
    let mut scanner = BulkScanner::new(default);
    let mut each = |i: BulkItem<'_>| {
        out.push((
            i.line,
            i.op,
            i.index.to_owned(),
            i.pipeline.map(str::to_owned),
        ))
    };
    for chunk in chunks {
        scanner.feed(chunk, &mut each)?;
    }
    let summary = scanner.finish()?;
    Ok((out, summary))
}

fn run(body: &[u8], default: Option<&str>) -> Result<Vec<Item>, BodyError> {
    let mut out = Vec::new();
    scan_bulk(body, default, |i| {
        out.push((
            i.line,
            i.op,
            i.index.to_owned(),
            i.pipeline.map(str::to_owned),
        ))
    })?;
    Ok(out)
}

/// Every way of cutting the body in two (and byte by byte) gives the whole-body result.
fn assert_split_invariant(body: &[u8], default: Option<&str>) {
    let whole = run_chunks(&[body], default);
    for cut in 0..=body.len() {
        let split = run_chunks(&[&body[..cut], &body[cut..]], default);
        assert_eq!(
            split,
            whole,
            "cut at {cut} of {:?}",
            String::from_utf8_lossy(body)
        );
    }
    let bytes: Vec<&[u8]> = body.chunks(1).collect();
    assert_eq!(run_chunks(&bytes, default), whole, "byte by byte");
}

fn it(line: u32, op: BulkOp, index: &str) -> Item {
    (line, op, index.to_owned(), None)
}

use BulkOp::{Create, Delete, Index, Update};

#[test]
fn table() {
    let cases: &[Case<'_>] = &[
        (
            "index create update delete",
            "{\"index\":{\"_index\":\"a\",\"_id\":\"1\"}}\n{\"f\":1}\n\
             {\"create\":{\"_index\":\"b\"}}\n{\"f\":2}\n\
             {\"update\":{\"_index\":\"c\",\"_id\":\"1\",\"retry_on_conflict\":3}}\n{\"doc\":{}}\n\
             {\"delete\":{\"_index\":\"d\",\"_id\":\"1\"}}\n",
            None,
            Ok(vec![it(1, Index, "a"), it(3, Create, "b"), it(5, Update, "c"), it(7, Delete, "d")]),
        ),
        (
            "path default index",
            "{\"index\":{}}\n{}\n{\"delete\":{\"_id\":\"1\"}}\n{\"index\":{\"_index\":\"x\"}}\n{}\n",
            Some("logs"),
            Ok(vec![it(1, Index, "logs"), it(3, Delete, "logs"), it(4, Index, "x")]),
        ),
        ("missing index", "{\"index\":{}}\n{}\n", None, Err(BodyError::MissingIndex { line: 1 })),
        (
            "null index falls back to the default",
            "{\"index\":{\"_index\":null}}\n{}\n",
            Some("d"),
            Ok(vec![it(1, Index, "d")]),
        ),
        ("null index, no default", "{\"index\":{\"_index\":null}}\n{}\n", None, Err(BodyError::MissingIndex { line: 1 })),
        (
            "escaped index value",
            "{\"index\":{\"_index\":\"lo\\u0067s\"}}\n{}\n",
            None,
            Ok(vec![it(1, Index, "logs")]),
        ),
        (
            "escaped key and action",
            "{\"\\u0069ndex\":{\"\\u005findex\":\"secret\"}}\n{}\n",
            Some("logs"),
            Ok(vec![it(1, Index, "secret")]),
        ),
        (
            "escaped solidus and surrogate pair",
            "{\"index\":{\"_index\":\"a\\/b\\ud83d\\ude00\"}}\n{}\n",
            None,
            Ok(vec![it(1, Index, "a/b\u{1F600}")]),
        ),
        ("lone surrogate", "{\"index\":{\"_index\":\"a\\ud800\"}}\n{}\n", None, Err(BodyError::MalformedJson { line: 1 })),
        (
            "CRLF line endings",
            "{\"index\":{\"_index\":\"a\"}}\r\n{\"f\":1}\r\n{\"delete\":{\"_index\":\"b\",\"_id\":\"1\"}}\r\n",
            None,
            Ok(vec![it(1, Index, "a"), it(3, Delete, "b")]),
        ),
        (
            "blank and whitespace-only lines are skipped but counted",
            "\n\r\n  \t\n{\"index\":{\"_index\":\"a\"}}\n{}\n\n{\"delete\":{\"_index\":\"b\"}}\n\n",
            None,
            Ok(vec![it(4, Index, "a"), it(7, Delete, "b")]),
        ),
        (
            "blank line as the source line is a source",
            "{\"index\":{\"_index\":\"a\"}}\n\n{\"index\":{\"_index\":\"b\"}}\n\n",
            None,
            Ok(vec![it(1, Index, "a"), it(3, Index, "b")]),
        ),
        (
            "whitespace everywhere",
            "  { \"index\" :\t{ \"_index\" : \"a\" ,\"_id\" : 7 } }  \n{}\n",
            None,
            Ok(vec![it(1, Index, "a")]),
        ),
        (
            "source lines are never parsed",
            "{\"index\":{\"_index\":\"a\"}}\n{\"index\":{\"_index\":\"secret\"}} \u{1} not json\n",
            None,
            Ok(vec![it(1, Index, "a")]),
        ),
        (
            "invalid UTF-8 in a source line is not our business",
            "{\"index\":{\"_index\":\"a\"}}\n\u{fffd}\n",
            None,
            Ok(vec![it(1, Index, "a")]),
        ),
        ("no final newline", "{\"index\":{\"_index\":\"a\"}}\n{}", None, Err(BodyError::MissingFinalNewline { line: 2 })),
        (
            "delete as unterminated last line",
            "{\"delete\":{\"_index\":\"a\"}}",
            None,
            Err(BodyError::MissingFinalNewline { line: 1 }),
        ),
        ("trailing whitespace without newline", "{\"delete\":{\"_index\":\"a\"}}\n ", None, Err(BodyError::MissingFinalNewline { line: 2 })),
        ("missing source line", "{\"index\":{\"_index\":\"a\"}}\n", None, Err(BodyError::MissingSourceLine { line: 1 })),
        ("unknown action", "{\"upsert\":{\"_index\":\"a\"}}\n{}\n", None, Err(BodyError::UnknownBulkAction { line: 1 })),
        ("unknown parameter", "{\"index\":{\"_index\":\"a\",\"index\":\"b\"}}\n{}\n", None, Err(BodyError::UnknownParameter { line: 1 })),
        ("duplicate _index", "{\"index\":{\"_index\":\"a\",\"_index\":\"b\"}}\n{}\n", None, Err(BodyError::DuplicateKey { line: 1 })),
        (
            "duplicate _index hidden by an escape",
            "{\"index\":{\"_index\":\"a\",\"\\u005findex\":\"b\"}}\n{}\n",
            None,
            Err(BodyError::DuplicateKey { line: 1 }),
        ),
        (
            "two actions in one line",
            "{\"index\":{\"_index\":\"a\"},\"delete\":{\"_index\":\"b\"}}\n{}\n",
            None,
            Err(BodyError::UnexpectedJson { line: 1 }),
        ),
        ("trailing data", "{\"index\":{\"_index\":\"a\"}} {}\n{}\n", None, Err(BodyError::UnexpectedJson { line: 1 })),
        ("unclosed action", "{\"index\":{\"_index\":\"a\"}\n{}\n", None, Err(BodyError::MalformedJson { line: 1 })),
        (
            "comments are refused",
            "{\"index\":{/*\"_index\":\"x\",*/\"_index\":\"a\"}}\n{}\n",
            None,
            Err(BodyError::MalformedJson { line: 1 }),
        ),
        ("index as number", "{\"index\":{\"_index\":5}}\n{}\n", None, Err(BodyError::UnexpectedJson { line: 1 })),
        ("index as array", "{\"index\":{\"_index\":[\"a\"]}}\n{}\n", None, Err(BodyError::UnexpectedJson { line: 1 })),
        ("index with comma", "{\"index\":{\"_index\":\"a,secret\"}}\n{}\n", None, Err(BodyError::InvalidIndexName { line: 1 })),
        ("empty index", "{\"index\":{\"_index\":\"\"}}\n{}\n", Some("d"), Err(BodyError::InvalidIndexName { line: 1 })),
        ("action is not an object", "{\"index\":\"a\"}\n{}\n", None, Err(BodyError::UnexpectedJson { line: 1 })),
        ("action is null", "{\"index\":null}\n{}\n", None, Err(BodyError::UnexpectedJson { line: 1 })),
        ("empty object", "{}\n", None, Err(BodyError::UnexpectedJson { line: 1 })),
        ("array line", "[]\n", None, Err(BodyError::UnexpectedJson { line: 1 })),
        ("BOM", "\u{feff}{\"index\":{\"_index\":\"a\"}}\n{}\n", None, Err(BodyError::MalformedJson { line: 1 })),
        ("NUL", "{\"index\":{\"_index\":\"a\"\0}}\n{}\n", None, Err(BodyError::MalformedJson { line: 1 })),
        ("raw control char in string", "{\"index\":{\"_index\":\"a\tb\"}}\n{}\n", None, Err(BodyError::MalformedJson { line: 1 })),
        ("invalid escape", "{\"index\":{\"_index\":\"a\\x\"}}\n{}\n", None, Err(BodyError::MalformedJson { line: 1 })),
        (
            "op_type create",
            "{\"index\":{\"_index\":\"a\",\"op_type\":\"cre\\u0061te\"}}\n{}\n{\"index\":{\"_index\":\"b\",\"op_type\":\"index\"}}\n{}\n",
            None,
            Ok(vec![it(1, Create, "a"), it(3, Index, "b")]),
        ),
        (
            "7.x _type and all known parameters",
            "{\"update\":{\"_index\":\"a\",\"_type\":\"_doc\",\"_id\":\"1\",\"routing\":\"r\",\"retry_on_conflict\":2,\
             \"if_seq_no\":1,\"if_primary_term\":1,\"require_alias\":true,\"_source\":{\"includes\":[\"x\"]}}}\n{}\n\
             {\"index\":{\"_index\":\"b\",\"version\":3,\"version_type\":\"external\",\"require_data_stream\":false,\
             \"list_executed_pipelines\":true,\"dynamic_templates\":{\"f\":\"t\"},\"_source\":false}}\n{}\n",
            None,
            Ok(vec![it(1, Update, "a"), it(3, Index, "b")]),
        ),
        ("_source as array", "{\"update\":{\"_index\":\"a\",\"_source\":[\"x\"]}}\n{}\n", None, Err(BodyError::UnexpectedJson { line: 1 })),
        ("dynamic_templates as string", "{\"index\":{\"_index\":\"a\",\"dynamic_templates\":\"x\"}}\n{}\n", None, Err(BodyError::UnexpectedJson { line: 1 })),
        ("array parameter", "{\"index\":{\"_index\":\"a\",\"routing\":[\"x\"]}}\n{}\n", None, Err(BodyError::UnexpectedJson { line: 1 })),
        ("object parameter", "{\"index\":{\"_index\":\"a\",\"_id\":{}}}\n{}\n", None, Err(BodyError::UnexpectedJson { line: 1 })),
        ("empty body", "", None, Ok(vec![])),
        ("only blank lines", "\n\n\r\n", None, Ok(vec![])),
        (
            "error line counts blank and source lines",
            "\n{\"index\":{\"_index\":\"a\"}}\n{}\n\n{\"bogus\":{}}\n",
            None,
            Err(BodyError::UnknownBulkAction { line: 5 }),
        ),
    ];
    for (name, body, default, expected) in cases {
        assert_eq!(&run(body.as_bytes(), *default), expected, "{name}");
        assert_split_invariant(body.as_bytes(), *default);
    }
}

#[test]
fn pipeline_is_reported() {
    let body = b"{\"index\":{\"_index\":\"a\",\"pipeline\":\"p\"}}\n{}\n{\"index\":{\"_index\":\"b\",\"pipeline\":null}}\n{}\n";
    let items = run(body, None).unwrap();
    assert_eq!(
        items,
        vec![
            (1, Index, "a".into(), Some("p".into())),
            (3, Index, "b".into(), None)
        ]
    );
    let summary = scan_bulk(body, None, |_| {}).unwrap();
    assert_eq!(summary.with_pipeline, 1);
    assert_eq!(summary.items(), 2);
    assert_eq!(summary.lines, 4);
    // Decoded; a number or boolean is named by its JSON text (OpenSearch 2.19 answers
    // "pipeline with id [5] does not exist" for `"pipeline": 5`).
    let body = b"{\"index\":{\"_index\":\"a\",\"pipeline\":\"re\\u0072oute\"}}\n{}\n{\"create\":{\"pipeline\": 5 ,\"_index\":\"b\"}}\n{}\n{\"update\":{\"_index\":\"c\",\"_id\":\"1\",\"pipeline\":true}}\n{}\n";
    let items = run(body, None).unwrap();
    let pipelines: Vec<Option<String>> = items.into_iter().map(|i| i.3).collect();
    assert_eq!(
        pipelines,
        [
            Some("reroute".into()),
            Some("5".into()),
            Some("true".into())
        ]
    );
    assert_split_invariant(body, None);
    // Arrays and objects are refused, as before.
    let body = b"{\"index\":{\"_index\":\"a\",\"pipeline\":[\"p\"]}}\n{}\n";
    assert_eq!(run(body, None), Err(BodyError::UnexpectedJson { line: 1 }));
}

#[test]
fn invalid_utf8_in_action_line() {
    let body = b"{\"index\":{\"_index\":\"a\xff\"}}\n{}\n";
    assert_eq!(run(body, None), Err(BodyError::MalformedJson { line: 1 }));
    let body = b"{\"index\":{\"_index\":\"\xc3\xa9t\xc3\xa9\"}}\n{}\n";
    assert_eq!(run(body, None), Ok(vec![it(1, Index, "\u{e9}t\u{e9}")]));
}

#[test]
fn summary_counts() {
    let body = "{\"index\":{}}\n{}\n{\"create\":{}}\n{}\n{\"create\":{}}\n{}\n{\"update\":{\"_id\":1}}\n{}\n{\"delete\":{\"_id\":1}}\n";
    let s = scan_bulk(body.as_bytes(), Some("x"), |_| {}).unwrap();
    assert_eq!(
        (s.index, s.create, s.update, s.delete, s.lines),
        (1, 2, 1, 1, 9)
    );
}

#[test]
fn long_lines() {
    let id = "x".repeat(MAX_META_LINE_BYTES);
    let body = format!("{{\"index\":{{\"_index\":\"a\",\"_id\":\"{id}\"}}}}\n{{}}\n");
    assert_eq!(
        run(body.as_bytes(), None),
        Err(BodyError::LineTooLong { line: 1 })
    );
    let cut = body.len() / 2;
    let chunks: [&[u8]; 2] = [&body.as_bytes()[..cut], &body.as_bytes()[cut..]];
    assert_eq!(
        run_chunks(&chunks, None),
        Err(BodyError::LineTooLong { line: 1 })
    );
    // A long source line is fine: it is skipped, never buffered.
    let source = "y".repeat(4 * MAX_META_LINE_BYTES);
    let body = format!("{{\"index\":{{\"_index\":\"a\"}}}}\n{{\"m\":\"{source}\"}}\n");
    assert_eq!(run(body.as_bytes(), None), Ok(vec![it(1, Index, "a")]));
}

#[test]
fn deep_nesting_does_not_overflow() {
    let deep = "[".repeat(200_000);
    let body = format!("{{\"update\":{{\"_index\":\"a\",\"_source\":{{\"x\":{deep}}}}}}}\n{{}}\n");
    assert_eq!(
        run(body.as_bytes(), None),
        Err(BodyError::LineTooLong { line: 1 })
    );
    let deep = "[".repeat(MAX_JSON_DEPTH + 1);
    let body = format!("{{\"update\":{{\"_index\":\"a\",\"_source\":{{\"x\":{deep}}}}}}}\n{{}}\n");
    assert_eq!(
        run(body.as_bytes(), None),
        Err(BodyError::JsonTooDeep { line: 1 })
    );
    // Nesting inside a skipped source line costs nothing.
    let body = format!(
        "{{\"index\":{{\"_index\":\"a\"}}}}\n{}\n",
        "[".repeat(1_000_000)
    );
    assert_eq!(run(body.as_bytes(), None), Ok(vec![it(1, Index, "a")]));
}

#[test]
fn errors_are_sticky() {
    let mut scanner = BulkScanner::new(None);
    let mut each = |_: BulkItem<'_>| {};
    assert_eq!(
        scanner.feed(b"{\"bad\":{}}\n", &mut each),
        Err(BodyError::UnknownBulkAction { line: 1 })
    );
    assert_eq!(
        scanner.feed(b"{\"index\":{\"_index\":\"a\"}}\n{}\n", &mut each),
        Err(BodyError::UnknownBulkAction { line: 1 })
    );
    assert_eq!(
        scanner.finish(),
        Err(BodyError::UnknownBulkAction { line: 1 })
    );
}

#[test]
fn encoded_matches_plain() {
    use flate2::write::GzEncoder;
    use std::io::Write;
    let body = b"{\"index\":{\"_index\":\"a\"}}\n{\"m\":1}\n{\"delete\":{\"_index\":\"b\"}}\n";
    let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(body).unwrap();
    let gz = enc.finish().unwrap();
    let mut got = Vec::new();
    let summary = scan_bulk_encoded(&gz, ContentEncoding::Gzip, None, 1 << 20, |i| {
        got.push((
            i.line,
            i.op,
            i.index.to_owned(),
            i.pipeline.map(str::to_owned),
        ))
    })
    .unwrap();
    assert_eq!(got, run(body, None).unwrap());
    assert_eq!(summary.items(), 2);
    assert_eq!(
        scan_bulk_encoded(&gz, ContentEncoding::Gzip, None, 10, |_| {}),
        Err(BodyError::InflatedTooLarge)
    );
}

/// Deterministic mutation fuzzing: no panic, and split feeding always agrees.
#[test]
fn mutations_never_panic_and_splits_agree() {
    let seed = b"{\"index\":{\"_index\":\"lo\\u0067s\",\"_id\":\"1\"}}\r\n{\"a\":[1,2,{\"b\":null}]}\n\n{\"delete\":{\"_index\":\"x\",\"_id\":2}}\n{\"update\":{\"_id\":\"3\",\"_source\":{\"includes\":[\"a\"]}}}\n{\"doc\":{}}\n";
    let alphabet = b"{}[]\":,\\u0n\r\n \tabcdefx_-1.e+\xff\xc3";
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..4000 {
        let mut body = seed.to_vec();
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
        let whole = run_chunks(&[&body], Some("d"));
        let cut = (next() as usize) % (body.len() + 1);
        assert_eq!(run_chunks(&[&body[..cut], &body[cut..]], Some("d")), whole);
    }
}

/// Each item as a scanner of its own line reads it: what a repeated action line must give.
fn run_each_line_alone(body: &str, default: Option<&str>) -> Result<Vec<Item>, BodyError> {
    let mut items = Vec::new();
    let mut lines = body.split_inclusive('\n').enumerate().peekable();
    while let Some((at, line)) = lines.next() {
        let mut alone = line.to_string();
        // Its source line goes along (or the scanner would say it is missing).
        let mut extra = 0;
        if let Some((_, next)) = lines.peek() {
            if !line.starts_with("{\"delete\"") && !line.trim().is_empty() {
                alone.push_str(next);
                extra = 1;
            }
        }
        for _ in 0..extra {
            lines.next();
        }
        for (line, op, index, pipeline) in run(alone.as_bytes(), default)? {
            items.push((line + at as u32, op, index, pipeline));
        }
    }
    Ok(items)
}

#[test]
fn repeated_action_lines_read_as_if_parsed_each_time() {
    let body = "{\"index\":{\"_index\":\"logs-1\"}}\n{\"a\":1}\n\
                {\"index\":{\"_index\":\"logs-1\"}}\n{\"a\":2}\n\
                {\"index\":{\"_index\":\"logs-1\"}} \n{\"a\":3}\n\
                {\"index\":{\"_index\":\"logs-2\"}}\n{\"a\":4}\n\
                {\"index\":{\"_index\":\"logs-1\"}}\n{\"a\":5}\n\
                {\"delete\":{\"_index\":\"logs-1\",\"_id\":\"1\"}}\n\
                {\"delete\":{\"_index\":\"logs-1\",\"_id\":\"1\"}}\n\
                {\"create\":{\"_index\":\"logs-1\",\"pipeline\":\"p\"}}\n{}\n\
                {\"create\":{\"_index\":\"logs-1\",\"pipeline\":\"p\"}}\n{}\n\
                {\"create\":{\"_index\":\"logs-1\"}}\n{}\n\
                {\"create\":{\"_index\":\"logs-1\"}}\n{}\n\
                {\"index\":{\"op_type\":\"create\"}}\n{}\n\
                {\"index\":{\"op_type\":\"create\"}}\n{}\n";
    let whole = run(body.as_bytes(), Some("dflt")).unwrap();
    assert_eq!(whole, run_each_line_alone(body, Some("dflt")).unwrap());
    assert_eq!(whole.len(), 13);
    assert_eq!(whole[1], it(3, Index, "logs-1"));
    assert_eq!(whole[6], it(12, Delete, "logs-1"));
    assert_eq!(whole[8], (15, Create, "logs-1".into(), Some("p".into())));
    assert_eq!(whole[9], it(17, Create, "logs-1"));
    assert_eq!(whole[12], it(23, Create, "dflt"));
    assert_split_invariant(body.as_bytes(), Some("dflt"));
    let summary = scan_bulk(body.as_bytes(), Some("dflt"), |_| {}).unwrap();
    assert_eq!((summary.index, summary.create, summary.delete), (5, 6, 2));
    assert_eq!(summary.with_pipeline, 2);
}

#[test]
fn a_repeated_line_that_is_an_error_stays_an_error() {
    // The first line is refused: nothing is remembered, the body fails at line 1.
    let body = "{\"index\":{\"_index\":\"a\",\"bogus\":1}}\n{}\n{\"index\":{\"_index\":\"a\",\"bogus\":1}}\n{}\n";
    assert_eq!(
        run(body.as_bytes(), None),
        Err(BodyError::UnknownParameter { line: 1 })
    );
    // A good line, then one that differs by a byte and is wrong.
    let body = "{\"index\":{\"_index\":\"a\"}}\n{}\n{\"index\":{\"_index\":\"a\"}}}\n{}\n";
    assert_eq!(
        run(body.as_bytes(), None),
        Err(BodyError::UnexpectedJson { line: 3 })
    );
}
