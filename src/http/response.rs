//! Upstream response heads: parsing, framing (RFC 9112 §6.3) and header rewriting.
//!
//! The node behind us is trusted more than a client, but its framing still decides where one
//! response ends and the next begins on a pooled connection, so it is parsed as carefully.

use super::error::UpstreamError;
use super::request::{parse_decimal, trim, HeaderField, Span};
use smallvec::SmallVec;

/// Header fields parsed on the stack; Elasticsearch answers with a handful.
const USUAL_RESPONSE_HEADERS: usize = 24;
/// How many header fields an upstream response may have (parsed on the heap, rarely).
const MAX_RESPONSE_HEADERS: usize = 256;

/// How the response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseFraming {
    None,
    Length(u64),
    Chunked,
    /// Read until the node closes the connection.
    UntilClose,
}

#[derive(Debug, Clone)]
pub struct ResponseHead {
    pub status: u16,
    pub reason: Span,
    pub headers: SmallVec<[HeaderField; 24]>,
    pub len: usize,
    pub framing: ResponseFraming,
    /// The upstream connection may be reused after this response.
    pub reusable: bool,
    pub connection_options: bool,
}

impl ResponseHead {
    /// An interim response (1xx): another head follows.
    pub fn is_interim(&self) -> bool {
        (100..200).contains(&self.status)
    }
}

/// Parses a response head. `Ok(None)` means more bytes are needed.
pub fn parse_response_head(
    buf: &[u8],
    max_head_bytes: usize,
    request_was_head: bool,
) -> Result<Option<ResponseHead>, UpstreamError> {
    let mut fields = [httparse::EMPTY_HEADER; USUAL_RESPONSE_HEADERS];
    let mut many: Vec<httparse::Header<'_>>;
    let mut response = httparse::Response::new(&mut fields);
    let mut parsed = response.parse(buf);
    if parsed == Err(httparse::Error::TooManyHeaders) {
        many = vec![httparse::EMPTY_HEADER; MAX_RESPONSE_HEADERS];
        response = httparse::Response::new(&mut many);
        parsed = response.parse(buf);
    }
    let len = match parsed {
        Ok(httparse::Status::Complete(len)) if len <= max_head_bytes => len,
        Ok(httparse::Status::Partial) if buf.len() < max_head_bytes => return Ok(None),
        _ => return Err(UpstreamError::MalformedResponse),
    };
    let status = response.code.unwrap_or(0);
    let http10 = response.version == Some(0);
    let reason = response.reason.unwrap_or("").as_bytes();
    let mut head = ResponseHead {
        status,
        reason: Span::of(buf, reason),
        headers: SmallVec::with_capacity(response.headers.len()),
        len,
        framing: ResponseFraming::UntilClose,
        reusable: !http10,
        connection_options: false,
    };
    let mut content_length: Option<u64> = None;
    let mut transfer_encoding: Option<bool> = None;
    for field in response.headers.iter() {
        let name = field.name.as_bytes();
        let value = field.value;
        head.headers.push(HeaderField {
            name: Span::of(buf, name),
            value: Span::of(buf, value),
        });
        if name.eq_ignore_ascii_case(b"content-length") {
            for item in value.split(|&b| b == b',') {
                let n = parse_decimal(trim(item)).ok_or(UpstreamError::MalformedResponse)?;
                if content_length.is_some_and(|known| known != n) {
                    return Err(UpstreamError::MalformedResponse);
                }
                content_length = Some(n);
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            // Only the final coding matters for framing (§6.3 rule 4).
            let last = value.rsplit(|&b| b == b',').next().map(trim).unwrap_or(b"");
            transfer_encoding = Some(last.eq_ignore_ascii_case(b"chunked"));
        } else if name.eq_ignore_ascii_case(b"connection") {
            for token in value.split(|&b| b == b',').map(trim) {
                if token.eq_ignore_ascii_case(b"close") {
                    head.reusable = false;
                } else if token.eq_ignore_ascii_case(b"keep-alive") {
                    head.reusable |= http10;
                } else if !token.is_empty() {
                    head.connection_options = true;
                }
            }
        }
    }
    head.framing = if request_was_head || head.is_interim() || status == 204 || status == 304 {
        ResponseFraming::None
    } else if let Some(chunked) = transfer_encoding {
        if chunked {
            ResponseFraming::Chunked
        } else {
            ResponseFraming::UntilClose
        }
    } else if let Some(n) = content_length {
        ResponseFraming::Length(n)
    } else {
        ResponseFraming::UntilClose
    };
    if head.framing == ResponseFraming::UntilClose {
        head.reusable = false;
    }
    if status == 101 {
        // We never forward Upgrade, so a protocol switch is a broken upstream.
        return Err(UpstreamError::MalformedResponse);
    }
    Ok(Some(head))
}

/// Header fields that describe one connection, not the message (RFC 9110 §7.6.1).
pub fn is_hop_by_hop(name: &[u8]) -> bool {
    const HOP_BY_HOP: [&[u8]; 7] = [
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"upgrade",
        b"transfer-encoding",
        b"trailer",
    ];
    HOP_BY_HOP.iter().any(|h| name.eq_ignore_ascii_case(h))
}

/// Whether the `Connection` header(s) among `headers` name `name` as a connection option.
pub fn named_by_connection(buf: &[u8], headers: &[HeaderField], name: &[u8]) -> bool {
    headers
        .iter()
        .filter(|h| h.name.get(buf).eq_ignore_ascii_case(b"connection"))
        .flat_map(|h| h.value.get(buf).split(|&b| b == b','))
        .any(|token| trim(token).eq_ignore_ascii_case(name))
}

/// Writes the response head to send to the client.
///
/// `chunked_to_client` keeps `Transfer-Encoding: chunked` (the body is passed through
/// as chunks); `close` adds `Connection: close`; `keep_alive_http10` answers an HTTP/1.0
/// client that asked for keep-alive.
pub fn write_client_head(
    out: &mut Vec<u8>,
    buf: &[u8],
    head: &ResponseHead,
    chunked_to_client: bool,
    close: bool,
    keep_alive_http10: bool,
) {
    out.extend_from_slice(b"HTTP/1.1 ");
    push_status(out, head.status);
    out.push(b' ');
    out.extend_from_slice(head.reason.get(buf));
    out.extend_from_slice(b"\r\n");
    for field in &head.headers {
        let name = field.name.get(buf);
        if is_hop_by_hop(name)
            || (head.connection_options && named_by_connection(buf, &head.headers, name))
        {
            continue;
        }
        push_field(out, name, field.value.get(buf));
    }
    if chunked_to_client {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    } else if keep_alive_http10 {
        out.extend_from_slice(b"connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

pub fn push_field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Appends `n` in decimal (what `write!` does, without the formatting machinery).
pub fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

fn push_status(out: &mut Vec<u8>, status: u16) {
    out.extend_from_slice(&[
        b'0' + (status / 100 % 10) as u8,
        b'0' + (status / 10 % 10) as u8,
        b'0' + (status % 10) as u8,
    ]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &[u8], head_request: bool) -> ResponseHead {
        parse_response_head(raw, 16384, head_request)
            .unwrap()
            .unwrap()
    }

    #[test]
    fn framing_table() {
        let cases: &[(&[u8], bool, ResponseFraming, bool)] = &[
            (
                b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n",
                false,
                ResponseFraming::Length(5),
                true,
            ),
            (
                b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n",
                true,
                ResponseFraming::None,
                true,
            ),
            (
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n",
                false,
                ResponseFraming::Chunked,
                true,
            ),
            (
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\n",
                false,
                ResponseFraming::UntilClose,
                false,
            ),
            (
                b"HTTP/1.1 200 OK\r\n\r\n",
                false,
                ResponseFraming::UntilClose,
                false,
            ),
            (
                b"HTTP/1.1 204 No Content\r\n\r\n",
                false,
                ResponseFraming::None,
                true,
            ),
            (
                b"HTTP/1.1 304 Not Modified\r\ncontent-length: 9\r\n\r\n",
                false,
                ResponseFraming::None,
                true,
            ),
            (
                b"HTTP/1.1 100 Continue\r\n\r\n",
                false,
                ResponseFraming::None,
                true,
            ),
            (
                b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 1\r\n\r\n",
                false,
                ResponseFraming::Length(1),
                false,
            ),
            (
                b"HTTP/1.0 200 OK\r\ncontent-length: 1\r\n\r\n",
                false,
                ResponseFraming::Length(1),
                false,
            ),
            (
                b"HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 1\r\n\r\n",
                false,
                ResponseFraming::Length(1),
                true,
            ),
        ];
        for (raw, head_request, framing, reusable) in cases {
            let head = parse(raw, *head_request);
            let text = String::from_utf8_lossy(raw);
            assert_eq!(head.framing, *framing, "{text}");
            assert_eq!(head.reusable, *reusable, "{text}");
        }
    }

    #[test]
    fn many_header_fields_are_parsed_too() {
        let mut raw = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n".to_vec();
        for i in 0..100 {
            raw.extend_from_slice(format!("Warning: 299 x \"{i}\"\r\n").as_bytes());
        }
        raw.extend_from_slice(b"\r\n");
        assert_eq!(parse(&raw, false).headers.len(), 101);
    }

    #[test]
    fn malformed_responses_are_errors() {
        for raw in [
            &b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n",
            b"HTTP/1.1 101 Switching Protocols\r\nupgrade: h2c\r\n\r\n",
            b"garbage\r\n\r\n",
        ] {
            assert_eq!(
                parse_response_head(raw, 16384, false).err(),
                Some(UpstreamError::MalformedResponse)
            );
        }
        assert!(matches!(
            parse_response_head(b"HTTP/1.1 200 OK\r\n", 16384, false),
            Ok(None)
        ));
    }

    #[test]
    fn client_head_drops_hop_by_hop_and_keeps_the_rest() {
        let raw = b"HTTP/1.1 200 OK\r\nX-Elastic-Product: Elasticsearch\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n";
        let head = parse(raw, false);
        let mut out = Vec::new();
        write_client_head(&mut out, raw, &head, false, false, false);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 200 OK\r\nX-Elastic-Product: Elasticsearch\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n"
        );
    }
}
