//! Responses the gateway writes itself: Elasticsearch-shaped JSON errors.
//!
//! Every gateway-made error has the body
//! `{"error":{"root_cause":[{"type":T,"reason":R}],"type":T,"reason":R},"status":S}` and is
//! written as one buffer (head and body together) so it leaves in one write.

use std::io::Write;

/// Extra fields placed in both the root cause and the error object (ROR adds `due_to`).
pub type ExtraFields<'a> = &'a [(&'a str, &'a str)];

/// A canned response to write.
#[derive(Debug, Clone, Copy)]
pub struct Canned<'a> {
    pub status: u16,
    pub error_type: &'a str,
    pub reason: &'a str,
    pub extra: ExtraFields<'a>,
    /// Additional response headers, e.g. `WWW-Authenticate`.
    pub headers: &'a [(&'a str, &'a str)],
    /// Send `Connection: close` (the connection is closed after this response).
    pub close: bool,
    /// A response to HEAD carries the length of the body but not the body.
    pub head_only: bool,
}

impl Canned<'_> {
    /// Appends the whole response (head and body) to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let mut body = Vec::with_capacity(256);
        write_error_body(
            &mut body,
            self.status,
            self.error_type,
            self.reason,
            self.extra,
        );
        // Writing into a Vec cannot fail.
        let _ = write!(
            out,
            "HTTP/1.1 {} {}\r\ncontent-type: application/json; charset=UTF-8\r\ncontent-length: {}\r\n",
            self.status,
            reason_phrase(self.status),
            body.len()
        );
        for (name, value) in self.headers {
            let _ = write!(out, "{name}: {value}\r\n");
        }
        if self.close {
            out.extend_from_slice(b"connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        if !self.head_only {
            out.extend_from_slice(&body);
        }
    }
}

/// The Elasticsearch error body.
pub fn write_error_body(
    out: &mut Vec<u8>,
    status: u16,
    error_type: &str,
    reason: &str,
    extra: ExtraFields<'_>,
) {
    let mut cause = Vec::with_capacity(128);
    cause.extend_from_slice(b"\"type\":");
    json_string(&mut cause, error_type);
    cause.extend_from_slice(b",\"reason\":");
    json_string(&mut cause, reason);
    for (key, value) in extra {
        cause.push(b',');
        json_string(&mut cause, key);
        cause.push(b':');
        json_string(&mut cause, value);
    }
    out.extend_from_slice(b"{\"error\":{\"root_cause\":[{");
    out.extend_from_slice(&cause);
    out.extend_from_slice(b"}],");
    out.extend_from_slice(&cause);
    let _ = write!(out, "}},\"status\":{status}}}");
}

/// Appends `text` as a JSON string literal.
fn json_string(out: &mut Vec<u8>, text: &str) {
    // serde_json's escaping is exact for every control and non-ASCII character; a
    // `Vec<u8>` writer cannot fail.
    let _ = serde_json::to_writer(out, text);
}

/// The standard reason phrase (RFC 9110 section 15) for statuses the gateway writes.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        417 => "Expectation Failed",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::error::{ClientError, Fault, UpstreamError};

    /// The canned response for a gateway fault.
    fn for_fault(fault: Fault, close: bool, head_only: bool) -> Canned<'static> {
        Canned {
            status: fault.status(),
            error_type: fault.error_type(),
            reason: fault.reason(),
            extra: &[],
            headers: &[],
            close,
            head_only,
        }
    }

    #[test]
    fn error_body_has_the_elasticsearch_shape() {
        let mut out = Vec::new();
        for_fault(
            Fault::Client(ClientError::ConflictingContentLength),
            true,
            false,
        )
        .write_to(&mut out);
        let text = String::from_utf8(out).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 400 Bad Request\r\n"));
        assert!(head.contains("\r\nconnection: close"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        let reason = "request has differing Content-Length values";
        assert_eq!(
            json,
            serde_json::json!({"error":{"root_cause":[{"type":"illegal_argument_exception","reason":reason}],
                "type":"illegal_argument_exception","reason":reason},"status":400})
        );
    }

    #[test]
    fn head_responses_keep_the_length_but_not_the_body() {
        let mut out = Vec::new();
        for_fault(Fault::Upstream(UpstreamError::Unavailable), false, true).write_to(&mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
        assert!(!text.contains("content-length: 0"));
    }

    #[test]
    fn extra_fields_and_reasons_are_escaped() {
        let mut out = Vec::new();
        write_error_body(
            &mut out,
            403,
            "forbidden_response",
            "say \"no\"\n",
            &[("due_to", "X")],
        );
        let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(json["error"]["reason"], "say \"no\"\n");
        assert_eq!(json["error"]["root_cause"][0]["due_to"], "X");
    }
}
