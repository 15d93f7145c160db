//! Everything that can go wrong with one request, tagged by who caused it.
//!
//! Hot-path errors are small `Copy` values. [`Fault::status`] and [`Fault::reason`] are the one
//! place that maps them to an HTTP status, an Elasticsearch-style error type and a message;
//! `http::canned` turns that into the JSON body.

/// Why a request failed before or while it was forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Client(ClientError),
    Upstream(UpstreamError),
    Internal,
}

/// The client sent something we refuse (RFC 9112 framing rules, limits, timeouts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientError {
    MalformedRequestLine,
    UnsupportedMethod,
    UnsupportedVersion,
    InvalidTarget,
    UnsupportedTargetForm,
    /// `Connection` names a header the gateway relies on (it would be dropped on the way).
    ConnectionNamesEndToEndHeader,
    InvalidHeaderName,
    WhitespaceBeforeColon,
    ObsFold,
    InvalidHeaderValue,
    MissingHost,
    DuplicateHost,
    ContentLengthWithTransferEncoding,
    InvalidContentLength,
    ConflictingContentLength,
    UnsupportedTransferCoding,
    TransferEncodingInHttp10,
    UnsupportedExpectation,
    BadChunkSize,
    BadChunkFraming,
    ChunkLineTooLong,
    ChunkOverhead,
    HeaderTooLarge,
    TooManyHeaders,
    BodyTooLarge,
    HeadTimeout,
    BodyTimeout,
    MalformedAuthorization,
    InvalidPathEncoding,
}

/// The cluster side failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamError {
    /// No node accepted a connection.
    Unreachable,
    /// Every node is marked down by the health checks.
    Unavailable,
    /// The node did not answer within `upstream_response_timeout_ms`.
    Timeout,
    /// The node's response could not be framed.
    MalformedResponse,
    /// The node closed the connection before a complete response.
    ClosedEarly,
    /// The TLS handshake with the node failed (its certificate is not trusted, say).
    Tls,
}

impl Fault {
    pub fn status(self) -> u16 {
        use ClientError::*;
        match self {
            Fault::Client(e) => match e {
                UnsupportedMethod => 405,
                UnsupportedVersion => 505,
                UnsupportedExpectation => 417,
                HeaderTooLarge | TooManyHeaders => 431,
                BodyTooLarge => 413,
                HeadTimeout | BodyTimeout => 408,
                _ => 400,
            },
            Fault::Upstream(UpstreamError::Unavailable) => 503,
            Fault::Upstream(UpstreamError::Timeout) => 504,
            Fault::Upstream(_) => 502,
            Fault::Internal => 500,
        }
    }

    /// The Elasticsearch-style `error.type`.
    pub fn error_type(self) -> &'static str {
        match self.status() {
            400 => "illegal_argument_exception",
            405 => "method_not_allowed_exception",
            408 => "request_timeout_exception",
            413 => "content_too_long_exception",
            417 => "expectation_failed_exception",
            431 => "request_header_fields_too_large_exception",
            505 => "http_version_not_supported_exception",
            502 => "bad_gateway_exception",
            503 => "no_upstream_available_exception",
            504 => "gateway_timeout_exception",
            _ => "internal_server_error",
        }
    }

    /// A precise, human-readable reason (also the audit reason).
    pub fn reason(self) -> &'static str {
        use ClientError::*;
        match self {
            Fault::Client(e) => match e {
                MalformedRequestLine => "malformed HTTP request line",
                UnsupportedMethod => "HTTP method not supported",
                UnsupportedVersion => "only HTTP/1.0 and HTTP/1.1 are supported",
                InvalidTarget => {
                    "request target contains a character that is not allowed (control, space, '#' or non-ASCII)"
                }
                UnsupportedTargetForm => "request target must be an absolute path (origin-form)",
                ConnectionNamesEndToEndHeader => {
                    "the Connection header names Host, Authorization, Content-Type, Content-Length, Content-Encoding or Transfer-Encoding; those are end-to-end and may not be dropped"
                }
                InvalidHeaderName => "invalid header field name",
                WhitespaceBeforeColon => {
                    "whitespace between a header field name and the colon is not allowed (RFC 9112 section 5.1)"
                }
                ObsFold => "obsolete line folding in header fields is not allowed (RFC 9112 section 5.2)",
                InvalidHeaderValue => "header field value contains NUL, CR or LF",
                MissingHost => "HTTP/1.1 request without a Host header",
                DuplicateHost => "request with more than one Host header",
                ContentLengthWithTransferEncoding => {
                    "request has both Content-Length and Transfer-Encoding"
                }
                InvalidContentLength => "Content-Length is not a non-negative decimal number",
                ConflictingContentLength => "request has differing Content-Length values",
                UnsupportedTransferCoding => "only the transfer coding \"chunked\" is supported",
                TransferEncodingInHttp10 => "Transfer-Encoding is not allowed in an HTTP/1.0 request",
                UnsupportedExpectation => "only the expectation \"100-continue\" is supported",
                BadChunkSize => "malformed chunked body: invalid chunk size",
                BadChunkFraming => "malformed chunked body: missing CRLF after chunk data",
                ChunkLineTooLong => "malformed chunked body: chunk header or trailer line too long",
                ChunkOverhead => "malformed chunked body: far more framing than data",
                HeaderTooLarge => "request head is larger than the configured max_header_bytes",
                TooManyHeaders => "request has too many header fields",
                BodyTooLarge => "request body is larger than the configured max_body_bytes",
                HeadTimeout => "request head not received within header_timeout_ms",
                BodyTimeout => {
                    "request body arrived slower than body_timeout_ms and min_body_bytes_per_sec allow"
                }
                MalformedAuthorization => "malformed Authorization header: Basic credentials must be base64 of user:password",
                InvalidPathEncoding => "request path has invalid percent-encoding or is not UTF-8",
            },
            Fault::Upstream(e) => match e {
                UpstreamError::Unreachable => "no upstream node accepted the connection",
                UpstreamError::Unavailable => "every upstream node is marked down",
                UpstreamError::Timeout => "the upstream node did not respond in time",
                UpstreamError::MalformedResponse => "the upstream node sent a malformed response",
                UpstreamError::Tls => {
                    "the TLS handshake with the upstream node failed (is its certificate trusted by gateway.upstream_tls.ca_file?); the gateway log has the details"
                }
                UpstreamError::ClosedEarly => {
                    "the upstream node closed the connection before a complete response"
                }
            },
            Fault::Internal => "internal gateway error",
        }
    }
}

impl From<ClientError> for Fault {
    fn from(e: ClientError) -> Fault {
        Fault::Client(e)
    }
}

impl From<UpstreamError> for Fault {
    fn from(e: UpstreamError) -> Fault {
        Fault::Upstream(e)
    }
}
