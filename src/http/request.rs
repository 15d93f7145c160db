//! Request heads: httparse into the connection's own buffer, then our framing policy.
//!
//! httparse does the tokenising; it does not decide framing. This module applies RFC 9112's
//! rules strictly, because a gateway that reads a body differently from the node behind it
//! is a request-smuggling hole: both `Content-Length` and `Transfer-Encoding` (§6.1),
//! differing lengths (§6.3), any coding but a final `chunked`, obs-fold (§5.2), whitespace
//! before the colon (§5.1), NUL/CR/LF in values, and control or ambiguous bytes in the target
//! are all rejected with 400. Headers are kept as offsets into the buffer, never copied.

use super::error::ClientError;
use super::method::Method;
use smallvec::SmallVec;

/// Header fields httparse may return for one request; more is answered with 431.
pub const MAX_HEADERS: usize = 128;

/// A byte range inside the head buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    /// Where `part`, a sub-slice of `base` (httparse returns sub-slices of its input), lies.
    /// An empty `part` keeps its position when it points into `base` (the empty query of
    /// `/?` sits right after the `?`); one that points elsewhere (a `""` literal) is the
    /// empty span at 0. Never panics, whatever the pointers.
    pub(crate) fn of(base: &[u8], part: &[u8]) -> Span {
        let base_start = base.as_ptr() as usize;
        let start = (part.as_ptr() as usize).wrapping_sub(base_start);
        match start.checked_add(part.len()) {
            Some(end) if start <= base.len() && end <= base.len() => Span {
                start: start as u32,
                end: end as u32,
            },
            _ => {
                debug_assert!(part.is_empty(), "a non-empty part outside its base");
                Span::default()
            }
        }
    }

    /// The bytes of this span in `buf`; empty for a span that does not fit `buf` (a bug,
    /// caught by debug assertions and the fuzzers, never a panic on a worker).
    pub fn get(self, buf: &[u8]) -> &[u8] {
        let range = self.start as usize..self.end as usize;
        debug_assert!(
            buf.get(range.clone()).is_some(),
            "span {self:?} outside its buffer"
        );
        buf.get(range).unwrap_or_default()
    }

    pub fn is_empty(self) -> bool {
        self.start == self.end
    }
}

/// One header field: name and value (value without surrounding whitespace).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderField {
    pub name: Span,
    pub value: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

/// How the request body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    None,
    Length(u64),
    Chunked,
}

/// A parsed and validated request head. Spans index the buffer it was parsed from.
#[derive(Debug, Clone)]
pub struct RequestHead {
    pub method: Method,
    pub version: Version,
    /// The path of the target (origin-form, or the path of an absolute-form target).
    pub path: Span,
    /// The query string after `?`, if any (without the `?`).
    pub query: Option<Span>,
    pub headers: SmallVec<[HeaderField; 24]>,
    /// Bytes of the head including the blank line.
    pub len: usize,
    pub body: BodyFraming,
    /// Whether the client wants the connection kept open after this exchange.
    pub keep_alive: bool,
    pub expect_continue: bool,
    /// `Connection` names header fields besides `close`/`keep-alive`; they must be dropped too.
    pub connection_options: bool,
    /// The target's path lacks its leading `/` (`GET _cluster/health`, as the Java low-level
    /// REST client sends what its caller wrote): it is read, checked and forwarded with one.
    pub slashless: bool,
    pub has_host: bool,
}

impl RequestHead {
    /// The value of the first header named `name` (ASCII case-insensitive).
    pub fn header<'b>(&self, buf: &'b [u8], name: &str) -> Option<&'b [u8]> {
        self.headers
            .iter()
            .find(|h| h.name.get(buf).eq_ignore_ascii_case(name.as_bytes()))
            .map(|h| h.value.get(buf))
    }

    /// The request target as read, checked and forwarded: path plus `?query`, with the
    /// leading `/` a slash-less target lacks.
    pub fn target<'b>(&self, buf: &'b [u8]) -> std::borrow::Cow<'b, [u8]> {
        with_slash(self.slashless, self.path_and_query().get(buf))
    }

    /// The path as read and checked (see [`RequestHead::target`]).
    pub fn path_text<'b>(&self, buf: &'b [u8]) -> std::borrow::Cow<'b, [u8]> {
        with_slash(self.slashless, self.path.get(buf))
    }

    /// The request target as the client wrote it: path plus `?query`.
    pub fn path_and_query(&self) -> Span {
        Span {
            start: self.path.start,
            end: self
                .query
                .map_or(self.path.end, |q| q.end.max(self.path.end)),
        }
    }

    pub fn is_head(&self) -> bool {
        self.method == Method::Head
    }
}

fn with_slash(slashless: bool, bytes: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if slashless {
        let mut owned = Vec::with_capacity(bytes.len() + 1);
        owned.push(b'/');
        owned.extend_from_slice(bytes);
        std::borrow::Cow::Owned(owned)
    } else {
        std::borrow::Cow::Borrowed(bytes)
    }
}

/// Parses a request head at the start of `buf`.
///
/// `Ok(None)` means the head is incomplete and more bytes are needed; once `buf` holds
/// `max_head_bytes` without a complete head the answer is [`ClientError::HeaderTooLarge`].
pub fn parse_request_head(
    buf: &[u8],
    max_head_bytes: usize,
) -> Result<Option<RequestHead>, ClientError> {
    // Uninitialised slots: zeroing 128 headers would cost more than parsing a typical head.
    let mut fields =
        [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut []);
    let len = match request.parse_with_uninit_headers(buf, &mut fields) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() >= max_head_bytes => {
            return Err(ClientError::HeaderTooLarge)
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(diagnose(e, buf)),
    };
    if len > max_head_bytes {
        return Err(ClientError::HeaderTooLarge);
    }
    let method = request.method.unwrap_or_default();
    let method = Method::from_bytes(method.as_bytes()).ok_or(ClientError::UnsupportedMethod)?;
    let version = match request.version {
        Some(0) => Version::Http10,
        _ => Version::Http11,
    };
    let target = request.path.unwrap_or_default().as_bytes();
    let (path, query, slashless) = split_target(buf, target)?;

    let mut head = RequestHead {
        method,
        version,
        path,
        query,
        headers: SmallVec::with_capacity(request.headers.len()),
        len,
        body: BodyFraming::None,
        keep_alive: version == Version::Http11,
        expect_continue: false,
        connection_options: false,
        slashless,
        has_host: false,
    };
    let mut content_length: Option<u64> = None;
    let mut chunked = false;
    let mut transfer_encoding = false;
    for field in request.headers.iter() {
        let value = field.value;
        if value.iter().any(|&b| b == 0 || b == b'\r' || b == b'\n') {
            return Err(ClientError::InvalidHeaderValue);
        }
        let name = field.name.as_bytes();
        head.headers.push(HeaderField {
            name: Span::of(buf, name),
            value: Span::of(buf, value),
        });
        if name.eq_ignore_ascii_case(b"content-length") {
            for item in value.split(|&b| b == b',') {
                let length = parse_decimal(trim(item)).ok_or(ClientError::InvalidContentLength)?;
                if content_length.is_some_and(|known| known != length) {
                    return Err(ClientError::ConflictingContentLength);
                }
                content_length = Some(length);
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            transfer_encoding = true;
            for coding in value.split(|&b| b == b',').map(trim) {
                // `chunked` must be the only coding: anything before it would be a coding we
                // cannot decode, and anything after it leaves the length undefined (§6.3).
                if chunked || !coding.eq_ignore_ascii_case(b"chunked") {
                    return Err(ClientError::UnsupportedTransferCoding);
                }
                chunked = true;
            }
        } else if name.eq_ignore_ascii_case(b"host") {
            if head.has_host {
                return Err(ClientError::DuplicateHost);
            }
            head.has_host = true;
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in value.split(|&b| b == b',').map(trim) {
                if token.eq_ignore_ascii_case(b"close") {
                    head.keep_alive = false;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    head.keep_alive |= version == Version::Http10;
                } else if END_TO_END.iter().any(|h| token.eq_ignore_ascii_case(h)) {
                    return Err(ClientError::ConnectionNamesEndToEndHeader);
                } else if !token.is_empty() {
                    head.connection_options = true;
                }
            }
        } else if name.eq_ignore_ascii_case(b"expect") && version == Version::Http11 {
            // RFC 9110 §10.1.1: a 1.0 client cannot wait for 100, so 1.0 Expect is ignored.
            if !trim(value).eq_ignore_ascii_case(b"100-continue") {
                return Err(ClientError::UnsupportedExpectation);
            }
            head.expect_continue = true;
        }
    }
    if transfer_encoding {
        if version == Version::Http10 {
            return Err(ClientError::TransferEncodingInHttp10);
        }
        if content_length.is_some() {
            return Err(ClientError::ContentLengthWithTransferEncoding);
        }
        if !chunked {
            return Err(ClientError::UnsupportedTransferCoding);
        }
        head.body = BodyFraming::Chunked;
    } else if let Some(length) = content_length {
        head.body = if length == 0 {
            BodyFraming::None
        } else {
            BodyFraming::Length(length)
        };
    }
    if version == Version::Http11 && !head.has_host {
        return Err(ClientError::MissingHost);
    }
    // Without a body there is nothing to continue; never send a stray 100.
    head.expect_continue &= head.body != BodyFraming::None;
    Ok(Some(head))
}

/// Header fields the gateway reads or re-states and the node relies on: a `Connection`
/// option naming one would make the node see a request other than the one checked (the
/// gateway inflating a body whose encoding is then dropped, say). RFC 9110 §7.6.1 lets a
/// client name any field; naming these is refused instead.
const END_TO_END: [&[u8]; 6] = [
    b"host",
    b"authorization",
    b"content-type",
    b"content-length",
    b"content-encoding",
    b"transfer-encoding",
];

/// Splits the request target into path and query, accepting origin-form, absolute-form and
/// an origin-form path without its leading `/` (the last flag).
fn split_target(buf: &[u8], target: &[u8]) -> Result<(Span, Option<Span>, bool), ClientError> {
    // httparse already refused controls and spaces. '#' never belongs in a request target
    // (the node would cut the path there while we would not) and raw non-ASCII bytes are
    // decoded differently by different servers: refuse both rather than guess.
    if target
        .iter()
        .any(|&b| b == b'#' || !(0x21..0x80).contains(&b))
    {
        return Err(ClientError::InvalidTarget);
    }
    let mut slashless = false;
    let path_start = if target.first() == Some(&b'/') {
        0
    } else if let Some(rest) = strip_prefix_ignore_case(target, b"http://")
        .or_else(|| strip_prefix_ignore_case(target, b"https://"))
    {
        // absolute-form (RFC 9112 §3.2.2): servers must accept it; forward only the path.
        let authority_len = rest
            .iter()
            .position(|&b| b == b'/' || b == b'?')
            .unwrap_or(rest.len());
        let offset = target.len() - rest.len() + authority_len;
        if target.get(offset) != Some(&b'/') {
            return Err(ClientError::UnsupportedTargetForm);
        }
        offset
    } else {
        // The node reads `_cluster/health` as `/_cluster/health`, and `*` (which RFC 9112
        // §3.2.4 would call the asterisk-form) as `/*`, every index; so does the gateway.
        slashless = true;
        0
    };
    let target = &target[path_start..];
    let path_end = memchr::memchr(b'?', target).unwrap_or(target.len());
    let path = Span::of(buf, &target[..path_end]);
    let query = (path_end < target.len()).then(|| Span::of(buf, &target[path_end + 1..]));
    Ok((path, query, slashless))
}

fn strip_prefix_ignore_case<'a>(text: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    (text.len() >= prefix.len() && text[..prefix.len()].eq_ignore_ascii_case(prefix))
        .then(|| &text[prefix.len()..])
}

/// `1*DIGIT` (a Content-Length), at most 19 digits so it always fits in a u64.
pub(crate) fn parse_decimal(text: &[u8]) -> Option<u64> {
    if text.is_empty() || text.len() > 19 || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(text.iter().fold(0u64, |n, &d| n * 10 + u64::from(d - b'0')))
}

/// A header value without the optional whitespace around it (RFC 9110 §5.6.3).
pub(crate) fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |p| p + 1);
    &bytes[start..end]
}

/// Turns an httparse error into a precise reason, looking at the offending line.
fn diagnose(error: httparse::Error, buf: &[u8]) -> ClientError {
    match error {
        httparse::Error::TooManyHeaders => ClientError::TooManyHeaders,
        httparse::Error::Version => ClientError::UnsupportedVersion,
        httparse::Error::Token => {
            // The method or the target: tell an invalid target apart from a broken line.
            match buf.split(|&b| b == b'\n').next() {
                Some(line) if line.split(|&b| b == b' ').count() == 3 => ClientError::InvalidTarget,
                _ => ClientError::MalformedRequestLine,
            }
        }
        httparse::Error::HeaderName => diagnose_header_line(buf),
        httparse::Error::HeaderValue => ClientError::InvalidHeaderValue,
        _ => ClientError::MalformedRequestLine,
    }
}

fn diagnose_header_line(buf: &[u8]) -> ClientError {
    for line in buf.split(|&b| b == b'\n').skip(1) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            return ClientError::ObsFold;
        }
        let name_end = memchr::memchr(b':', line).unwrap_or(line.len());
        let name = &line[..name_end];
        if name.ends_with(b" ") || name.ends_with(b"\t") {
            return ClientError::WhitespaceBeforeColon;
        }
    }
    ClientError::InvalidHeaderName
}

/// Whether `value` can be written as one header field's value: visible ASCII, spaces and
/// tabs (nothing that ends the field, nothing another reader could take differently).
pub fn is_field_value(value: &[u8]) -> bool {
    value
        .iter()
        .all(|&b| b == b'\t' || (0x20..0x7f).contains(&b))
}

/// The head of the same request carrying a body of `length` bytes as sent, instead of the
/// one received (a body the gateway rewrote): the request line and every field as the
/// client sent them but for the framing and coding fields (`Content-Length`,
/// `Transfer-Encoding`, `Content-Encoding`) and `Expect`, plus the new `Content-Length`, and
/// `content_type` (replacing the client's) when given. Returns the new head's bytes and the
/// head parsed from them.
pub fn with_rewritten_body(
    buf: &[u8],
    head: &RequestHead,
    length: u64,
    content_type: Option<&[u8]>,
) -> Result<(Vec<u8>, RequestHead), ClientError> {
    const REPLACED: [&[u8]; 4] = [
        b"content-length",
        b"transfer-encoding",
        b"content-encoding",
        b"expect",
    ];
    // The type comes from a query parameter: it must not end the field and start another.
    if content_type.is_some_and(|v| !is_field_value(v)) {
        return Err(ClientError::InvalidHeaderValue);
    }
    let mut out = Vec::with_capacity(head.len + 32);
    // The request line, as received.
    let line_end = memchr::memchr(b'\n', &buf[..head.len]).map_or(0, |i| i + 1);
    out.extend_from_slice(&buf[..line_end]);
    for field in &head.headers {
        let name = field.name.get(buf);
        let replaced_type = content_type.is_some() && name.eq_ignore_ascii_case(b"content-type");
        if replaced_type || REPLACED.iter().any(|r| name.eq_ignore_ascii_case(r)) {
            continue;
        }
        super::response::push_field(&mut out, name, field.value.get(buf));
    }
    if let Some(value) = content_type {
        super::response::push_field(&mut out, b"content-type", value);
    }
    out.extend_from_slice(b"content-length: ");
    super::response::push_decimal(&mut out, length);
    out.extend_from_slice(b"\r\n\r\n");
    let limit = out.len();
    let rewritten = parse_request_head(&out, limit)?.ok_or(ClientError::MalformedRequestLine)?;
    Ok((out, rewritten))
}

/// The run-as header of Elasticsearch's security (`run_as` privilege).
pub const RUN_AS_HEADER: &str = "es-security-runas-user";

/// Who the gateway says is asking when it authenticates to the cluster itself
/// (`gateway.upstream_auth`): its own `Authorization` value, and the user to run as.
#[derive(Clone, Copy)]
pub struct UpstreamIdentity<'a> {
    /// The whole `Authorization` value (`Basic …`, `ApiKey …`), written as it is.
    pub authorization: &'a str,
    /// `es-security-runas-user`: the user the ACL authenticated.
    pub run_as: Option<RunAs<'a>>,
}

impl std::fmt::Debug for UpstreamIdentity<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamIdentity")
            .field("authorization", &"***")
            .field("run_as", &self.run_as)
            .finish()
    }
}

/// A user name that can be written as a header value as it is: not empty, no control
/// character (a CR or LF would end the field and let the client write its own), no
/// surrounding whitespace (a parser trims it, so the node would run as another name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunAs<'a>(&'a str);

impl<'a> RunAs<'a> {
    /// `None` when `user` cannot be sent as it is (the request must then not go out).
    pub fn new(user: &'a str) -> Option<RunAs<'a>> {
        let fits =
            !user.is_empty() && !user.bytes().any(|b| b.is_ascii_control()) && user.trim() == user;
        fits.then_some(RunAs(user))
    }

    pub fn as_str(&self) -> &'a str {
        self.0
    }
}

/// Writes the head to send upstream for `head` (parsed from `buf`).
///
/// Hop-by-hop fields (RFC 9110 §7.6.1) and those named in `Connection` are dropped, `Expect`
/// too (the gateway answers `100 Continue` itself), the length is re-stated once in
/// canonical form, and the client address is appended to `X-Forwarded-For`. Everything else
/// passes through byte for byte. `target` replaces the request target (a narrowed read);
/// `host_fallback` is used when an HTTP/1.0 client sent no Host. With an `identity` every
/// `Authorization` and `es-security-runas-user` field of the client is dropped and the
/// gateway's are written instead: a client never chooses whom the gateway's account acts as.
pub fn write_upstream_head(
    out: &mut Vec<u8>,
    buf: &[u8],
    head: &RequestHead,
    target: Option<&str>,
    client_ip: &str,
    host_fallback: &str,
    identity: Option<UpstreamIdentity<'_>>,
) {
    use super::response::{is_hop_by_hop, named_by_connection, push_field};
    out.extend_from_slice(head.method.as_str().as_bytes());
    out.push(b' ');
    match target {
        Some(target) => out.extend_from_slice(target.as_bytes()),
        None => out.extend_from_slice(&head.target(buf)),
    }
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let mut forwarded_for: Option<Span> = None;
    for field in &head.headers {
        let name = field.name.get(buf);
        if name.eq_ignore_ascii_case(b"x-forwarded-for") {
            // Several XFF fields are one comma list (RFC 9110 §5.3); keep them merged in order.
            if let Some(first) = forwarded_for {
                out.extend_from_slice(b"x-forwarded-for: ");
                out.extend_from_slice(first.get(buf));
                out.extend_from_slice(b"\r\n");
            }
            forwarded_for = Some(field.value);
            continue;
        }
        if is_hop_by_hop(name)
            || name.eq_ignore_ascii_case(b"content-length")
            || name.eq_ignore_ascii_case(b"expect")
            || (head.connection_options && named_by_connection(buf, &head.headers, name))
            || (identity.is_some()
                && (name.eq_ignore_ascii_case(b"authorization")
                    || name.eq_ignore_ascii_case(RUN_AS_HEADER.as_bytes())))
        {
            continue;
        }
        push_field(out, name, field.value.get(buf));
    }
    if !head.has_host {
        push_field(out, b"host", host_fallback.as_bytes());
    }
    if let Some(identity) = identity {
        push_field(out, b"authorization", identity.authorization.as_bytes());
        if let Some(user) = identity.run_as {
            push_field(out, RUN_AS_HEADER.as_bytes(), user.as_str().as_bytes());
        }
    }
    match head.body {
        BodyFraming::None => {}
        BodyFraming::Length(n) => {
            out.extend_from_slice(b"content-length: ");
            super::response::push_decimal(out, n);
            out.extend_from_slice(b"\r\n");
        }
        BodyFraming::Chunked => out.extend_from_slice(b"transfer-encoding: chunked\r\n"),
    }
    out.extend_from_slice(b"x-forwarded-for: ");
    if let Some(previous) = forwarded_for {
        out.extend_from_slice(previous.get(buf));
        out.extend_from_slice(b", ");
    }
    out.extend_from_slice(client_ip.as_bytes());
    out.extend_from_slice(b"\r\n\r\n");
}

#[cfg(test)]
mod tests;
