use super::*;

const MAX: usize = 16 * 1024;

fn parse(raw: &[u8]) -> Result<Option<RequestHead>, ClientError> {
    parse_request_head(raw, MAX)
}

fn complete(raw: &[u8]) -> RequestHead {
    parse(raw).expect("valid").expect("complete")
}

const SEARCH: &[u8] = b"POST /logs-2024.01.01/_search?size=10&q=a HTTP/1.1\r\nHost: es:9200\r\nContent-Type: application/json\r\nContent-Length: 27\r\nAuthorization: Basic bG9nc3Rhc2g6bG9nc3Rhc2g=\r\n\r\n{\"query\":{\"match_all\":{}}}";

#[test]
fn parses_a_search_request() {
    let head = complete(SEARCH);
    assert_eq!(head.method, Method::Post);
    assert_eq!(head.version, Version::Http11);
    assert_eq!(head.path.get(SEARCH), b"/logs-2024.01.01/_search");
    assert_eq!(head.query.unwrap().get(SEARCH), b"size=10&q=a");
    assert_eq!(
        head.path_and_query().get(SEARCH),
        b"/logs-2024.01.01/_search?size=10&q=a"
    );
    assert_eq!(head.body, BodyFraming::Length(27));
    assert!(head.keep_alive);
    assert_eq!(head.headers.len(), 4);
    assert_eq!(
        head.header(SEARCH, "content-type"),
        Some(&b"application/json"[..])
    );
    assert_eq!(&SEARCH[head.len..], b"{\"query\":{\"match_all\":{}}}");
}

#[test]
fn every_prefix_of_a_head_is_partial() {
    let head_len = complete(SEARCH).len;
    for end in 0..head_len {
        assert!(
            matches!(parse(&SEARCH[..end]), Ok(None)),
            "prefix of {end} bytes was not partial"
        );
    }
}

#[test]
fn framing_and_connection_table() {
    let cases: &[(&[u8], BodyFraming, bool, bool)] = &[
        (
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
            BodyFraming::None,
            true,
            false,
        ),
        (b"GET / HTTP/1.0\r\n\r\n", BodyFraming::None, false, false),
        (
            b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            BodyFraming::None,
            true,
            false,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            BodyFraming::None,
            false,
            false,
        ),
        (
            b"PUT /i HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
            BodyFraming::None,
            true,
            false,
        ),
        (
            b"PUT /i HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
            BodyFraming::Length(5),
            true,
            false,
        ),
        (
            b"PUT /i HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n",
            BodyFraming::Length(5),
            true,
            false,
        ),
        (
            b"POST /_bulk HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n",
            BodyFraming::Chunked,
            true,
            false,
        ),
        (
            b"POST /_bulk HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\nExpect: 100-continue\r\n\r\n",
            BodyFraming::Length(9),
            true,
            true,
        ),
        // Nothing to continue without a body.
        (
            b"POST /_bulk HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n",
            BodyFraming::None,
            true,
            false,
        ),
        // HTTP/1.0 clients cannot wait for 100 Continue; the expectation is ignored.
        (
            b"POST / HTTP/1.0\r\nContent-Length: 1\r\nExpect: 100-continue\r\n\r\n",
            BodyFraming::Length(1),
            false,
            false,
        ),
        (
            b"GET http://es:9200/_cat/indices?v HTTP/1.1\r\nHost: es\r\n\r\n",
            BodyFraming::None,
            true,
            false,
        ),
        (
            b"GET / HTTP/1.1\nHost: a\n\n",
            BodyFraming::None,
            true,
            false,
        ),
    ];
    for (raw, body, keep_alive, expect) in cases {
        let head = complete(raw);
        let text = String::from_utf8_lossy(raw);
        assert_eq!(head.body, *body, "{text}");
        assert_eq!(head.keep_alive, *keep_alive, "{text}");
        assert_eq!(head.expect_continue, *expect, "{text}");
    }
}

#[test]
fn absolute_form_forwards_only_the_path() {
    let raw = b"GET http://es:9200/_cat/indices?v HTTP/1.1\r\nHost: es\r\n\r\n";
    let head = complete(raw);
    assert_eq!(head.path.get(raw), b"/_cat/indices");
    assert_eq!(head.path_and_query().get(raw), b"/_cat/indices?v");
}

#[test]
fn rejection_table() {
    use ClientError::*;
    let cases: &[(&[u8], ClientError)] = &[
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", ContentLengthWithTransferEncoding),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", ContentLengthWithTransferEncoding),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", ConflictingContentLength),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 4\r\n\r\n", ConflictingContentLength),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\n", InvalidContentLength),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", InvalidContentLength),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", InvalidContentLength),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", InvalidContentLength),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", InvalidContentLength),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", UnsupportedTransferCoding),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", UnsupportedTransferCoding),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", UnsupportedTransferCoding),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", UnsupportedTransferCoding),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", UnsupportedTransferCoding),
        (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", TransferEncodingInHttp10),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n  folded\r\n\r\n", ObsFold),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n\tfolded\r\n\r\n", ObsFold),
        (b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", WhitespaceBeforeColon),
        (b"GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", WhitespaceBeforeColon),
        (b"GET / HTTP/1.1\r\nHo\"st: a\r\n\r\n", InvalidHeaderName),
        (b"GET / HTTP/1.1\r\n: a\r\n\r\n", InvalidHeaderName),
        (b"GET / HTTP/1.1\r\nHost: a\x00b\r\n\r\n", InvalidHeaderValue),
        (b"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", InvalidHeaderValue),
        (b"GET /a\x00b HTTP/1.1\r\nHost: a\r\n\r\n", InvalidTarget),
        (b"GET /a\rb HTTP/1.1\r\nHost: a\r\n\r\n", InvalidTarget),
        (b"GET /secret#/../public HTTP/1.1\r\nHost: a\r\n\r\n", InvalidTarget),
        (b"GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", InvalidTarget),
        (b"CONNECT es:9200 HTTP/1.1\r\nHost: a\r\n\r\n", UnsupportedMethod),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Content-Encoding\r\n\r\n",
            ConnectionNamesEndToEndHeader,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: authorization\r\n\r\n",
            ConnectionNamesEndToEndHeader,
        ),
        (b"GET http://es:9200 HTTP/1.1\r\nHost: a\r\n\r\n", UnsupportedTargetForm),
        (b"TRACE / HTTP/1.1\r\nHost: a\r\n\r\n", UnsupportedMethod),
        (b"get / HTTP/1.1\r\nHost: a\r\n\r\n", UnsupportedMethod),
        (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", UnsupportedVersion),
        (b"GET / HTTP/1.1\r\n\r\n", MissingHost),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", DuplicateHost),
        (b"GET / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n", UnsupportedExpectation),
        (b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", MalformedRequestLine),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", MalformedRequestLine),
    ];
    for (raw, expected) in cases {
        let text = String::from_utf8_lossy(raw);
        assert_eq!(parse(raw).err(), Some(*expected), "{text}");
    }
}

#[test]
fn head_size_limits() {
    let mut raw = b"GET / HTTP/1.1\r\nHost: a\r\nX-Pad: ".to_vec();
    raw.extend(std::iter::repeat_n(b'a', 2000));
    // Incomplete and already at the limit: 431 without waiting for more.
    assert_eq!(
        parse_request_head(&raw, 1024).err(),
        Some(ClientError::HeaderTooLarge)
    );
    raw.extend_from_slice(b"\r\n\r\n");
    // Complete but over the limit.
    assert_eq!(
        parse_request_head(&raw, 1024).err(),
        Some(ClientError::HeaderTooLarge)
    );
    assert!(parse_request_head(&raw, 4096).unwrap().is_some());

    let mut many = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
    for i in 0..MAX_HEADERS {
        many.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    assert_eq!(parse(&many).err(), Some(ClientError::TooManyHeaders));
}

#[test]
fn connection_options_are_noticed() {
    let head = complete(
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Trace\r\nX-Trace: 1\r\n\r\n",
    );
    assert!(head.connection_options);
    assert!(head.keep_alive);
}

#[test]
fn pipelined_requests_parse_one_at_a_time() {
    let raw = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n";
    let first = complete(raw);
    assert_eq!(first.path.get(raw), b"/a");
    let rest = &raw[first.len..];
    let second = complete(rest);
    assert_eq!(second.path.get(rest), b"/b");
    assert_eq!(second.len, rest.len());
}

#[test]
fn upstream_head_rewrites_only_what_it_must() {
    let raw = b"POST /_bulk HTTP/1.1\r\nHost: gw\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nTE: trailers\r\nExpect: 100-continue\r\nX-Forwarded-For: 10.0.0.1\r\nContent-Length: 7, 7\r\nX-Elastic-Product: Elasticsearch\r\nX-Forwarded-For: 10.0.0.2\r\n\r\n";
    let head = complete(raw);
    let mut out = Vec::new();
    write_upstream_head(&mut out, raw, &head, None, "192.0.2.7", "es:9200", None);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "POST /_bulk HTTP/1.1\r\nHost: gw\r\nX-Elastic-Product: Elasticsearch\r\nx-forwarded-for: 10.0.0.1\r\ncontent-length: 7\r\nx-forwarded-for: 10.0.0.2, 192.0.2.7\r\n\r\n"
    );
}

#[test]
fn upstream_head_for_http10_adds_host_rewrites_targets_and_chunked_stays_chunked() {
    let raw = b"GET /_cat/health?v HTTP/1.0\r\n\r\n";
    let mut out = Vec::new();
    write_upstream_head(
        &mut out,
        raw,
        &complete(raw),
        Some("/_cat/health/narrowed?v"),
        "::1",
        "127.0.0.1:9200",
        None,
    );
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "GET /_cat/health/narrowed?v HTTP/1.1\r\nhost: 127.0.0.1:9200\r\nx-forwarded-for: ::1\r\n\r\n"
    );
    let raw = b"POST /_bulk HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n";
    let mut out = Vec::new();
    write_upstream_head(&mut out, raw, &complete(raw), None, "127.0.0.1", "x", None);
    assert!(String::from_utf8(out)
        .unwrap()
        .contains("\r\ntransfer-encoding: chunked\r\n"));
}

/// `/?` once panicked a worker (an empty query became the span 0..0, behind the path).
#[test]
fn empty_query_strings_keep_their_place() {
    for (raw, path, query, target) in [
        (&b"GET /? HTTP/1.1\r\nHost: a\r\n\r\n"[..], "/", "", "/?"),
        (
            b"GET /_search? HTTP/1.1\r\nHost: a\r\n\r\n",
            "/_search",
            "",
            "/_search?",
        ),
        (b"GET /x?? HTTP/1.1\r\nHost: a\r\n\r\n", "/x", "?", "/x??"),
        (b"GET http://h/? HTTP/1.1\r\nHost: a\r\n\r\n", "/", "", "/?"),
        (b"GET http://h? HTTP/1.1\r\nHost: a\r\n\r\n", "", "", ""),
    ] {
        let Ok(Some(head)) = parse(raw) else {
            // `http://h?` has no path: refused as an unsupported target form.
            assert_eq!(path, "", "{}", String::from_utf8_lossy(raw));
            continue;
        };
        assert_eq!(head.path.get(raw), path.as_bytes());
        assert_eq!(head.query.unwrap().get(raw), query.as_bytes());
        assert_eq!(head.path_and_query().get(raw), target.as_bytes());
        let mut out = Vec::new();
        write_upstream_head(&mut out, raw, &head, None, "10.0.0.1", "up", None);
        assert!(out.starts_with(format!("GET {target} HTTP/1.1\r\n").as_bytes()));
    }
}

#[test]
fn spans_never_panic() {
    let buf = b"abc";
    assert_eq!(Span::of(buf, b""), Span::default());
    assert_eq!(Span::of(buf, &buf[3..]), Span { start: 3, end: 3 });
    assert_eq!(Span::of(buf, &buf[1..2]).get(buf), b"b");
}

/// The Java low-level REST client sends what its caller wrote (`_cluster/health`); the node
/// reads it with a leading `/`, and so does everything behind the parser.
#[test]
fn slashless_targets_are_read_with_their_slash() {
    for (raw, path, target) in [
        (
            &b"GET _cluster/health HTTP/1.1\r\nHost: a\r\n\r\n"[..],
            "/_cluster/health",
            "/_cluster/health",
        ),
        (b"DELETE * HTTP/1.1\r\nHost: a\r\n\r\n", "/*", "/*"),
        (
            b"GET logs/_search?q=a HTTP/1.1\r\nHost: a\r\n\r\n",
            "/logs/_search",
            "/logs/_search?q=a",
        ),
        (
            b"GET es:9200 HTTP/1.1\r\nHost: a\r\n\r\n",
            "/es:9200",
            "/es:9200",
        ),
        (b"GET ?pretty HTTP/1.1\r\nHost: a\r\n\r\n", "/", "/?pretty"),
    ] {
        let head = complete(raw);
        assert!(head.slashless);
        assert_eq!(*head.path_text(raw), *path.as_bytes());
        assert_eq!(*head.target(raw), *target.as_bytes());
        let mut out = Vec::new();
        write_upstream_head(&mut out, raw, &head, None, "10.0.0.1", "up", None);
        let method = head.method.as_str();
        assert!(out.starts_with(format!("{method} {target} HTTP/1.1\r\n").as_bytes()));
    }
}

#[test]
fn a_rewritten_body_type_cannot_add_fields() {
    let raw = b"GET /_msearch?source=x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n";
    let head = complete(raw);
    let (bytes, rewritten) =
        with_rewritten_body(raw, &head, 7, Some(b"application/x-ndjson; charset=UTF-8")).unwrap();
    assert_eq!(rewritten.headers.len(), 3);
    assert!(bytes.ends_with(
        b"content-type: application/x-ndjson; charset=UTF-8\r\ncontent-length: 7\r\n\r\n"
    ));
    for injected in [
        &b"application/json\r\nX-Opaque-Id: x"[..],
        b"application/json\nTransfer-Encoding: chunked",
        b"application/json\0",
    ] {
        let result = with_rewritten_body(raw, &head, 7, Some(injected));
        assert_eq!(result.err(), Some(ClientError::InvalidHeaderValue));
    }
}

const GATEWAY: &str = "ApiKey Z2F0ZXdheTprZXk=";

/// The values of every field named `name` in a written head.
fn field_values(out: &[u8], name: &str) -> Vec<String> {
    let head = complete(out);
    head.headers
        .iter()
        .filter(|f| f.name.get(out).eq_ignore_ascii_case(name.as_bytes()))
        .map(|f| String::from_utf8(f.value.get(out).to_vec()).unwrap())
        .collect()
}

#[test]
fn upstream_identity_replaces_every_client_authorization_and_run_as() {
    let raw = b"GET /_search HTTP/1.1\r\nHost: gw\r\nAuthorization: Basic YWxpY2U6cHc=\r\nes-security-runas-user: admin\r\nAUTHORIZATION: Bearer x\r\nES-Security-RunAs-User: root\r\nX-Opaque-Id: 7\r\n\r\n";
    let head = complete(raw);
    let mut out = Vec::new();
    let identity = UpstreamIdentity {
        authorization: GATEWAY,
        run_as: RunAs::new("alice"),
    };
    write_upstream_head(&mut out, raw, &head, None, "10.0.0.1", "up", Some(identity));
    assert_eq!(field_values(&out, "authorization"), [GATEWAY]);
    assert_eq!(field_values(&out, RUN_AS_HEADER), ["alice"]);
    assert_eq!(field_values(&out, "x-opaque-id"), ["7"]);
    assert!(!String::from_utf8_lossy(&out).contains("YWxpY2U6cHc="));

    // Without a logged user (an anonymous block) the client's run-as is still dropped.
    let mut out = Vec::new();
    let identity = UpstreamIdentity {
        authorization: GATEWAY,
        run_as: None,
    };
    write_upstream_head(&mut out, raw, &head, None, "10.0.0.1", "up", Some(identity));
    assert_eq!(field_values(&out, "authorization"), [GATEWAY]);
    assert!(field_values(&out, RUN_AS_HEADER).is_empty());
}

#[test]
fn without_upstream_identity_the_client_headers_pass_unchanged() {
    let raw = b"GET / HTTP/1.1\r\nHost: gw\r\nAuthorization: Basic YWxpY2U6cHc=\r\nes-security-runas-user: admin\r\n\r\n";
    let mut out = Vec::new();
    write_upstream_head(&mut out, raw, &complete(raw), None, "10.0.0.1", "up", None);
    assert_eq!(field_values(&out, "authorization"), ["Basic YWxpY2U6cHc="]);
    assert_eq!(field_values(&out, RUN_AS_HEADER), ["admin"]);
}

#[test]
fn a_client_without_authorization_gets_the_gateways_and_debug_hides_it() {
    let raw = b"GET / HTTP/1.0\r\n\r\n";
    let mut out = Vec::new();
    let identity = UpstreamIdentity {
        authorization: GATEWAY,
        run_as: RunAs::new("bob"),
    };
    write_upstream_head(
        &mut out,
        raw,
        &complete(raw),
        None,
        "10.0.0.1",
        "up",
        Some(identity),
    );
    assert_eq!(
        String::from_utf8(out).unwrap(),
        format!("GET / HTTP/1.1\r\nhost: up\r\nauthorization: {GATEWAY}\r\nes-security-runas-user: bob\r\nx-forwarded-for: 10.0.0.1\r\n\r\n")
    );
    assert!(!format!("{identity:?}").contains("Z2F0"));
}

/// A name that would end the header line (a CR or LF the client put in its Basic user) or
/// that a parser would trim cannot become a run-as value.
#[test]
fn run_as_names_that_cannot_be_written_as_they_are_are_refused() {
    for bad in [
        "",
        "a\r\nx-evil: 1",
        "a\nb",
        "a\0",
        " alice",
        "alice\t",
        "a\x7f",
    ] {
        assert_eq!(RunAs::new(bad), None, "{bad:?}");
    }
    for good in ["alice", "Ünïcode user", "cn=a,o=b", "a b"] {
        assert_eq!(RunAs::new(good).map(|r| r.as_str()), Some(good));
    }
}
