//! A minimal blocking HTTP/1.1 client for the audit cluster: one request per connection.
//!
//! Runs only on an output's own bulk thread, where blocking is fine; every socket call has a
//! timeout. It sends `Connection: close` and reads the response framed by `Content-Length`,
//! chunked encoding (RFC 9112 §7.1) or the end of the connection. Bodies larger than
//! [`MAX_RESPONSE_BYTES`] are an error rather than a memory hazard.

use super::settings::BasicAuthorization;
use crate::config::UpstreamUrl;
use crate::http::chunked::ChunkedDecoder;
use crate::tls::blocking::BlockingStream;
use rustls::ClientConfig;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

const MAX_RESPONSE_BYTES: usize = 16 << 20;
const MAX_RESPONSE_HEADERS: usize = 64;

/// One node of the cluster audit documents are written to.
#[derive(Debug, Clone)]
pub struct ClusterTarget {
    pub host: String,
    pub port: u16,
    pub host_header: String,
    pub authorization: Option<BasicAuthorization>,
    /// Set for `https://` nodes.
    pub tls: Option<TargetTls>,
}

/// How an `https://` node is reached: the verifier and the name its certificate must carry.
#[derive(Debug, Clone)]
pub struct TargetTls {
    pub config: Arc<ClientConfig>,
    pub server_name: String,
}

impl TargetTls {
    /// The TLS of a node at `url`: `None` for `http://`; an error for an `https://` node
    /// when the gateway has no TLS client settings (it never sends in clear text instead).
    pub fn for_url(
        url: &UpstreamUrl,
        config: Option<&Arc<ClientConfig>>,
    ) -> io::Result<Option<TargetTls>> {
        if !url.tls {
            return Ok(None);
        }
        let config = config.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("no TLS client settings for {url}"),
            )
        })?;
        Ok(Some(TargetTls {
            config: Arc::clone(config),
            server_name: url.host.clone(),
        }))
    }
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

/// Sends one request and reads the whole response. `body` is `(content type, bytes)`.
pub fn send(
    target: &ClusterTarget,
    method: &str,
    path: &str,
    body: Option<(&str, &[u8])>,
    timeout: Duration,
) -> io::Result<Response> {
    let tcp = connect(target, timeout)?;
    tcp.set_read_timeout(Some(timeout))?;
    tcp.set_write_timeout(Some(timeout))?;
    tcp.set_nodelay(true)?;
    let tls = target
        .tls
        .as_ref()
        .map(|tls| (&tls.config, tls.server_name.as_str()));
    let mut stream = BlockingStream::new(tcp, tls)?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
        target.host_header
    );
    if let Some(authorization) = &target.authorization {
        head.push_str("Authorization: ");
        head.push_str(authorization.header_value());
        head.push_str("\r\n");
    }
    let (content_type, bytes) = body.unwrap_or(("", &[]));
    if body.is_some() {
        head.push_str(&format!(
            "Content-Type: {content_type}\r\nContent-Length: {}\r\n",
            bytes.len()
        ));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(bytes)?;
    read_response(&mut stream)
}

fn connect(target: &ClusterTarget, timeout: Duration) -> io::Result<TcpStream> {
    let mut last_error = io::Error::new(io::ErrorKind::NotFound, "the host has no address");
    for address in (target.host.as_str(), target.port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&address, timeout) {
            Ok(stream) => return Ok(stream),
            Err(e) => last_error = e,
        }
    }
    Err(last_error)
}

enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

fn read_response(stream: &mut BlockingStream) -> io::Result<Response> {
    let mut buffer = Vec::with_capacity(4096);
    let (status, framing, head_len) = loop {
        if read_more(stream, &mut buffer)? == 0 {
            return Err(invalid("the connection closed before the response head"));
        }
        let mut headers = [httparse::EMPTY_HEADER; MAX_RESPONSE_HEADERS];
        let mut response = httparse::Response::new(&mut headers);
        match response.parse(&buffer) {
            Ok(httparse::Status::Complete(head_len)) => {
                let status = response.code.unwrap_or(0);
                break (status, framing(response.headers)?, head_len);
            }
            Ok(httparse::Status::Partial) => continue,
            Err(e) => return Err(invalid(&format!("bad response head: {e}"))),
        }
    };
    let mut raw = buffer.split_off(head_len);
    let body = match framing {
        Framing::Length(length) => {
            while raw.len() < length {
                if read_more(stream, &mut raw)? == 0 {
                    return Err(invalid("the response body was cut short"));
                }
            }
            raw.truncate(length);
            raw
        }
        Framing::UntilClose => {
            while read_more(stream, &mut raw)? > 0 {}
            raw
        }
        Framing::Chunked => {
            let mut decoder = ChunkedDecoder::new();
            let mut body = Vec::new();
            let mut consumed = 0;
            loop {
                let progress = decoder
                    .decode(&raw[consumed..], |data| body.extend_from_slice(data))
                    .map_err(|e| invalid(&format!("bad chunked body: {e:?}")))?;
                consumed += progress.consumed;
                if progress.done {
                    break body;
                }
                if read_more(stream, &mut raw)? == 0 {
                    return Err(invalid("the chunked body was cut short"));
                }
            }
        }
    };
    Ok(Response { status, body })
}

fn framing(headers: &[httparse::Header<'_>]) -> io::Result<Framing> {
    for header in headers {
        if header.name.eq_ignore_ascii_case("transfer-encoding") {
            return Ok(Framing::Chunked);
        }
    }
    for header in headers {
        if header.name.eq_ignore_ascii_case("content-length") {
            let length = std::str::from_utf8(header.value)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .filter(|&n| n <= MAX_RESPONSE_BYTES)
                .ok_or_else(|| invalid("bad or too large Content-Length"))?;
            return Ok(Framing::Length(length));
        }
    }
    Ok(Framing::UntilClose)
}

/// Appends what the socket has; 0 at the end of the stream.
fn read_more(stream: &mut BlockingStream, buffer: &mut Vec<u8>) -> io::Result<usize> {
    if buffer.len() >= MAX_RESPONSE_BYTES {
        return Err(invalid("the response is too large"));
    }
    let mut chunk = [0u8; 8192];
    let n = stream.read(&mut chunk)?;
    buffer.extend_from_slice(&chunk[..n]);
    Ok(n)
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_string())
}
