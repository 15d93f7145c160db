//! What the ACL sees of a request: method, decoded path, headers, addresses, credentials.
//!
//! Built once per request by the proxy from the parsed head (no copies of headers); the
//! Basic credentials are decoded once, here, and every rule reads them from here.

use crate::http::request::HeaderField;
use crate::http::Method;
use base64::Engine;
use std::net::IpAddr;

/// `Authorization: Basic` credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct Basic {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for Basic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Basic {{ user: {:?}, password: *** }}", self.user)
    }
}

/// A request as the rules see it.
#[derive(Debug)]
pub struct Request<'a> {
    pub method: Method,
    /// The percent-decoded path, without the query string.
    pub path: &'a str,
    buf: &'a [u8],
    fields: &'a [HeaderField],
    /// The connection's remote address (IPv4-mapped addresses already unmapped).
    pub peer: IpAddr,
    /// The gateway's own address of the connection (`hosts_local`).
    pub local: IpAddr,
    /// The length of the body the node will read (de-chunked, inflated), or `None` while
    /// that is unknown (a chunked or compressed body not read yet).
    pub content_length: Option<u64>,
    pub basic: Option<Basic>,
    /// The subject DN of the client certificate the TLS handshake verified (RFC 4514 form,
    /// `CN=alice,OU=ops,O=example`); `None` without TLS or without a certificate. Set by the
    /// connection after [`Request::new`]; `certificate_authentication` reads it.
    pub certificate_dn: Option<&'a str>,
    /// The Elasticsearch view (action, indices); `None` only in tests of non-ES rules.
    pub es: Option<super::es_rules::EsView<'a>>,
    /// The `users` entries that can authenticate this request, found once for all blocks.
    pub(crate) user_candidates: std::cell::OnceCell<smallvec::SmallVec<[usize; 8]>>,
    /// Whether the request may run (or set, or define) a pipeline that reroutes documents,
    /// found once for all blocks with an `indices` rule (it depends on the request alone).
    pub(crate) may_reroute: std::cell::OnceCell<bool>,
}

/// The `Authorization` header claims Basic but is not valid Basic credentials (400, as
/// ReadonlyREST answers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MalformedAuthorization;

impl<'a> Request<'a> {
    #[allow(clippy::too_many_arguments)] // One constructor for the one place that builds it.
    pub fn new(
        method: Method,
        path: &'a str,
        buf: &'a [u8],
        fields: &'a [HeaderField],
        peer: IpAddr,
        local: IpAddr,
        content_length: Option<u64>,
    ) -> Result<Request<'a>, MalformedAuthorization> {
        let mut request = Request {
            method,
            path,
            buf,
            fields,
            peer: peer.to_canonical(),
            local: local.to_canonical(),
            content_length,
            basic: None,
            certificate_dn: None,
            es: None,
            user_candidates: std::cell::OnceCell::new(),
            may_reroute: std::cell::OnceCell::new(),
        };
        if let Some(value) = request.header("authorization") {
            request.basic = parse_basic(value)?;
        }
        Ok(request)
    }

    /// Values of every header named `lower_name` (given in lower case), in order.
    pub fn headers<'s>(&'s self, lower_name: &'s str) -> impl Iterator<Item = &'a [u8]> + 's {
        self.fields
            .iter()
            .filter(move |f| {
                f.name
                    .get(self.buf)
                    .eq_ignore_ascii_case(lower_name.as_bytes())
            })
            .map(|f| f.value.get(self.buf))
    }

    /// The first header named `lower_name`, if it is valid UTF-8.
    pub fn header(&self, lower_name: &str) -> Option<&'a str> {
        self.headers(lower_name)
            .next()
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// All header fields as (name, value) pairs.
    pub fn all_headers(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + '_ {
        self.fields
            .iter()
            .map(|f| (f.name.get(self.buf), f.value.get(self.buf)))
    }
}

/// Decodes `Basic <base64(user:password)>`; other schemes are not Basic credentials.
fn parse_basic(value: &str) -> Result<Option<Basic>, MalformedAuthorization> {
    let mut words = value.splitn(2, ' ');
    let scheme = words.next().unwrap_or_default();
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let encoded = words.next().unwrap_or_default().trim();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| MalformedAuthorization)?;
    let text = String::from_utf8(decoded).map_err(|_| MalformedAuthorization)?;
    let (user, password) = text.split_once(':').ok_or(MalformedAuthorization)?;
    Ok(Some(Basic {
        user: user.to_string(),
        password: password.to_string(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials() {
        let basic = parse_basic("Basic bG9nc3Rhc2g6bG9nc3Rhc2c6eA==")
            .unwrap()
            .unwrap();
        assert_eq!(basic.user, "logstash");
        assert_eq!(basic.password, "logstasg:x");
        assert_eq!(parse_basic("Bearer abc"), Ok(None));
        assert_eq!(parse_basic("basic dTpw").unwrap().unwrap().user, "u");
        assert_eq!(parse_basic("Basic !!!"), Err(MalformedAuthorization));
        assert_eq!(parse_basic("Basic dXNlcg=="), Err(MalformedAuthorization)); // no colon
        assert!(!format!("{basic:?}").contains("logstasg"));
    }

    /// The path the rules see (`uri_re`) is decoded by the same function that decodes the
    /// route's parts, so the ACL and the route table never read a path differently.
    #[test]
    fn path_decoding() {
        use crate::es::index_name::decode_part as decode_path;
        assert_eq!(decode_path("/logs/_search").unwrap(), "/logs/_search");
        assert_eq!(decode_path("/%6cogs/_search").unwrap(), "/logs/_search");
        assert_eq!(decode_path("/a%2Fb").unwrap(), "/a/b");
        assert_eq!(decode_path("/caf%C3%A9").unwrap(), "/café");
        assert!(decode_path("/%zz").is_err());
        assert!(decode_path("/%4").is_err());
        assert!(decode_path("/%ff").is_err());
    }
}
