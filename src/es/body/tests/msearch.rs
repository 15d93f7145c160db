use super::*;

type Target = (u32, u32, String);
/// (name, body, path indices, expected targets).
type Case<'a> = (
    &'a str,
    String,
    &'a [&'a str],
    Result<Vec<Target>, BodyError>,
);

fn run_chunks(
    chunks: &[&[u8]],
    defaults: &[&str],
) -> Result<(Vec<Target>, MsearchSummary), BodyError> {
    let mut out = Vec::new();
    let mut scanner = MsearchScanner::new(defaults);
    let mut each = |t: MsearchTarget<'_>| out.push((t.search, t.line, t.index.to_owned()));
    for chunk in chunks {
        scanner.feed(chunk, &mut each)?;
    }
    let summary = scanner.finish()?;
    Ok((out, summary))
}

fn run(body: &str, defaults: &[&str]) -> Result<Vec<Target>, BodyError> {
    let mut out = Vec::new();
    scan_msearch(body.as_bytes(), defaults, |t| {
        out.push((t.search, t.line, t.index.to_owned()))
    })?;
    Ok(out)
}

fn t(search: u32, line: u32, index: &str) -> Target {
    (search, line, index.to_owned())
}

#[test]
fn table() {
    let q = "{\"query\":{\"match_all\":{}}}";
    let cases: Vec<Case<'_>> = vec![
        (
            "string, array, comma list",
            format!("{{\"index\":\"a\"}}\n{q}\n{{\"index\":[\"b\",\"c\"]}}\n{q}\n{{\"index\":\"d,e\"}}\n{q}\n"),
            &[],
            Ok(vec![t(0, 1, "a"), t(1, 3, "b"), t(1, 3, "c"), t(2, 5, "d"), t(2, 5, "e")]),
        ),
        (
            "indices key and escapes",
            format!("{{\"indices\":\"lo\\u0067s\"}}\n{q}\n"),
            &[],
            Ok(vec![t(0, 1, "logs")]),
        ),
        (
            "defaults from the path, once: empty object, blank and CR-only headers",
            format!("{{}}\n{q}\n\r\n{q}\n\n{q}\n{{\"preference\":\"_local\"}}\n{q}\n"),
            &["p1", "p2"],
            Ok(vec![t(0, 1, "p1"), t(0, 1, "p2")]),
        ),
        (
            "defaults reported with the first search that uses them",
            format!("{{\"index\":\"a\"}}\n{q}\n{{}}\n{q}\n{{\"index\":\"b\"}}\n{q}\n{{}}\n{q}\n"),
            &["p"],
            Ok(vec![t(0, 1, "a"), t(1, 3, "p"), t(2, 5, "b")]),
        ),
        (
            "explicit index overrides the path",
            format!("{{\"index\":\"x\"}}\n{q}\n"),
            &["p"],
            Ok(vec![t(0, 1, "x")]),
        ),
        (
            "no index anywhere means all",
            format!("{{}}\n{q}\n{{\"index\":\"\"}}\n{q}\n{{\"index\":[]}}\n{q}\n{{\"index\":\",\"}}\n{q}\n"),
            &[],
            Ok(vec![t(0, 1, "_all"), t(1, 3, "_all"), t(2, 5, "_all"), t(3, 7, "_all")]),
        ),
        (
            "known keys with CRLF",
            format!("{{\"index\":\"a\",\"ignore_unavailable\":true,\"expand_wildcards\":\"open,closed\",\"search_type\":\"dfs_query_then_fetch\",\"types\":[\"t\"]}}\r\n{q}\r\n"),
            &[],
            Ok(vec![t(0, 1, "a")]),
        ),
        (
            "body lines are not parsed",
            "{\"index\":\"a\"}\n{\"index\":\"secret\"}\n".to_owned(),
            &[],
            Ok(vec![t(0, 1, "a")]),
        ),
        ("empty first line", format!("\n{{\"index\":\"a\"}}\n{q}\n"), &[], Err(BodyError::EmptyFirstLine)),
        ("unknown key", format!("{{\"index\":\"a\",\"unknown_key\":1}}\n{q}\n"), &[], Err(BodyError::UnknownParameter { line: 1 })),
        ("index and indices", format!("{{\"index\":\"a\",\"indices\":\"b\"}}\n{q}\n"), &[], Err(BodyError::DuplicateKey { line: 1 })),
        ("duplicate index", format!("{{\"index\":\"a\",\"index\":\"b\"}}\n{q}\n"), &[], Err(BodyError::DuplicateKey { line: 1 })),
        ("scalar header", format!("\"a\"\n{q}\n"), &[], Err(BodyError::UnexpectedJson { line: 1 })),
        ("null index", format!("{{\"index\":null}}\n{q}\n"), &[], Err(BodyError::UnexpectedJson { line: 1 })),
        ("numeric index element", format!("{{\"index\":[\"a\",1]}}\n{q}\n"), &[], Err(BodyError::UnexpectedJson { line: 1 })),
        ("trailing data", format!("{{\"index\":\"a\"}} {{}}\n{q}\n"), &[], Err(BodyError::UnexpectedJson { line: 1 })),
        ("header without body", format!("{{\"index\":\"a\"}}\n{q}\n{{\"index\":\"b\"}}\n"), &[], Err(BodyError::MissingSourceLine { line: 3 })),
        ("no final newline", format!("{{\"index\":\"a\"}}\n{q}"), &[], Err(BodyError::MissingFinalNewline { line: 2 })),
        ("malformed header", format!("{{\"index\":\"a\"\n{q}\n"), &[], Err(BodyError::MalformedJson { line: 1 })),
        ("empty body", String::new(), &[], Ok(vec![])),
    ];
    for (name, body, defaults, expected) in &cases {
        assert_eq!(&run(body, defaults), expected, "{name}");
        let whole = run_chunks(&[body.as_bytes()], defaults);
        for cut in 0..=body.len() {
            let b = body.as_bytes();
            assert_eq!(
                run_chunks(&[&b[..cut], &b[cut..]], defaults),
                whole,
                "{name}: cut at {cut}"
            );
        }
    }
}

#[test]
fn summary() {
    let s = scan_msearch(b"{}\n{}\n{\"index\":\"a\"}\n{}\n", &[], |_| {}).unwrap();
    assert_eq!(
        s,
        MsearchSummary {
            searches: 2,
            lines: 4
        }
    );
}
