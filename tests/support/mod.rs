//! Test support: an in-process stub upstream, a gateway on port 0, and a raw HTTP client.
//!
//! The stub records every request it receives byte for byte, so tests can prove both what was
//! forwarded and that a denied request never reached it.

#![allow(dead_code)] // Each test binary uses a different part of this module.

use ringfence::config::{Config, Limits};
use ringfence::http::chunked::ChunkedDecoder;
use ringfence::runtime::Gateway;
use ringfence::snapshot::{PolicyStore, Snapshot};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A request as the stub upstream received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub head: Vec<u8>,
    /// The body, if it was at most `KEEP_BODY_BYTES`.
    pub body: Vec<u8>,
    pub body_len: u64,
    pub connection: usize,
    /// How many requests came before this one on the same connection (0: the first).
    pub on_connection: usize,
}

const KEEP_BODY_BYTES: u64 = 1 << 20;

impl Received {
    pub fn head_text(&self) -> String {
        String::from_utf8_lossy(&self.head).into_owned()
    }
}

/// What the stub answers, given the request.
pub type Responder = dyn Fn(&Received) -> Reply + Send + Sync;

pub enum Reply {
    /// Write these bytes and keep the connection.
    Bytes(Vec<u8>),
    /// Write these bytes and close the connection.
    BytesThenClose(Vec<u8>),
    /// A misbehaving node: these steps in order, then keep the connection unless one ends it.
    Steps(Vec<Step>),
}

/// One thing a misbehaving stub node does after reading a request.
pub enum Step {
    Write(Vec<u8>),
    Sleep(Duration),
    /// Close with a FIN.
    Close,
    /// Close with a RST (SO_LINGER 0), as a node killed mid-request or a middlebox does.
    Reset,
}

impl Reply {
    /// Read the request and close without a byte of answer.
    pub fn close() -> Reply {
        Reply::Steps(vec![Step::Close])
    }

    /// Read the request and reset the connection.
    pub fn reset() -> Reply {
        Reply::Steps(vec![Step::Reset])
    }

    /// Answer after a delay.
    pub fn after(delay: Duration, bytes: Vec<u8>) -> Reply {
        Reply::Steps(vec![Step::Sleep(delay), Step::Write(bytes)])
    }
}

pub struct StubUpstream {
    pub addr: SocketAddr,
    pub received: Arc<Mutex<Vec<Received>>>,
    pub connections: Arc<AtomicUsize>,
    /// Whether requests are kept in `received` (on unless a test turns it off).
    recording: Arc<AtomicBool>,
    stopped: Arc<AtomicBool>,
    /// Handles on the connections being served, to close them on `stop`.
    open: Arc<Mutex<HashMap<usize, TcpStream>>>,
    acceptor: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl StubUpstream {
    pub fn start(responder: impl Fn(&Received) -> Reply + Send + Sync + 'static) -> StubUpstream {
        StubUpstream::start_on("127.0.0.1:0".parse().unwrap(), responder)
    }

    /// A stub on this address (a node started again on the port of a stopped one).
    pub fn start_on(
        addr: SocketAddr,
        responder: impl Fn(&Received) -> Reply + Send + Sync + 'static,
    ) -> StubUpstream {
        let listener = TcpListener::bind(addr).unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let responder: Arc<Responder> = Arc::new(responder);
        let recording = Arc::new(AtomicBool::new(true));
        let stopped = Arc::new(AtomicBool::new(false));
        let open = Arc::new(Mutex::new(HashMap::new()));
        let (r, c, k) = (received.clone(), connections.clone(), recording.clone());
        let (s, o) = (stopped.clone(), open.clone());
        let acceptor = std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                if s.load(Ordering::SeqCst) {
                    return;
                }
                let id = c.fetch_add(1, Ordering::SeqCst);
                if let Ok(handle) = stream.try_clone() {
                    o.lock().unwrap().insert(id, handle);
                }
                let (r, responder, k, o) = (r.clone(), responder.clone(), k.clone(), o.clone());
                std::thread::spawn(move || {
                    serve_stub(stream, id, r, k, responder);
                    o.lock().unwrap().remove(&id);
                });
            }
        });
        StubUpstream {
            addr,
            received,
            connections,
            recording,
            stopped,
            open,
            acceptor: Mutex::new(Some(acceptor)),
        }
    }

    /// Stops the node as a restart would: its connections are closed (FIN) and its port is
    /// free once this returns.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        // Wakes the accept loop, which sees the flag and drops the listener.
        let _ = TcpStream::connect(self.addr);
        if let Some(acceptor) = self.acceptor.lock().unwrap().take() {
            acceptor.join().unwrap();
        }
        for (_, stream) in self.open.lock().unwrap().drain() {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }

    /// Answers every request with `200` and a small JSON body naming the path.
    pub fn echo() -> StubUpstream {
        StubUpstream::start(|req| {
            let path = req.head_text().split(' ').nth(1).unwrap_or("").to_string();
            let body = format!("{{\"path\":\"{path}\",\"body_len\":{}}}", req.body_len);
            Reply::Bytes(ok_json(&body))
        })
    }

    /// Stops keeping requests (a long run would otherwise grow the process).
    pub fn stop_recording(&self) {
        self.recording.store(false, Ordering::SeqCst);
    }

    pub fn requests(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// How many requests for exactly this path (query included) reached the stub.
    pub fn count(&self, path: &str) -> usize {
        let prefix = format!(" {path} ");
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|r| {
                r.head_text()
                    .split("\r\n")
                    .next()
                    .unwrap()
                    .contains(&prefix)
            })
            .count()
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

pub fn ok_json(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nX-elastic-product: Elasticsearch\r\ncontent-type: application/json; charset=UTF-8\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn serve_stub(
    mut stream: TcpStream,
    id: usize,
    received: Arc<Mutex<Vec<Received>>>,
    recording: Arc<AtomicBool>,
    responder: Arc<Responder>,
) {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let mut on_connection = 0;
    loop {
        // Read a head.
        let head_len = loop {
            if let Some(pos) = find(&buf, b"\r\n\r\n") {
                break pos + 4;
            }
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head: Vec<u8> = buf.drain(..head_len).collect();
        let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
        let mut req = Received {
            head,
            body: Vec::new(),
            body_len: 0,
            connection: id,
            on_connection,
        };
        on_connection += 1;
        if let Some(len) = header(&text, "content-length") {
            let mut left: u64 = len.parse().unwrap();
            while left > 0 {
                if buf.is_empty() {
                    match stream.read(&mut chunk) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let take = (left as usize).min(buf.len());
                keep(&mut req, &buf[..take]);
                buf.drain(..take);
                left -= take as u64;
            }
        } else if header(&text, "transfer-encoding").is_some() {
            let mut decoder = ChunkedDecoder::new();
            loop {
                if buf.is_empty() {
                    match stream.read(&mut chunk) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let mut data = Vec::new();
                let progress = decoder.decode(&buf, |d| data.extend_from_slice(d)).unwrap();
                keep(&mut req, &data);
                buf.drain(..progress.consumed);
                if progress.done {
                    break;
                }
            }
        }
        let reply = responder(&req);
        if recording.load(Ordering::SeqCst) {
            received.lock().unwrap().push(req);
        }
        match reply {
            Reply::Bytes(bytes) => {
                if stream.write_all(&bytes).is_err() {
                    return;
                }
            }
            Reply::BytesThenClose(bytes) => {
                let _ = stream.write_all(&bytes);
                return;
            }
            Reply::Steps(steps) => {
                for step in steps {
                    match step {
                        Step::Write(bytes) => {
                            if stream.write_all(&bytes).is_err() {
                                return;
                            }
                        }
                        Step::Sleep(delay) => std::thread::sleep(delay),
                        Step::Close => return,
                        Step::Reset => {
                            let _ =
                                socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
                            return;
                        }
                    }
                }
            }
        }
    }
}

fn keep(req: &mut Received, data: &[u8]) {
    req.body_len += data.len() as u64;
    if req.body_len <= KEEP_BODY_BYTES {
        req.body.extend_from_slice(data);
    }
}

fn header<'a>(lower_head: &'a str, name: &str) -> Option<&'a str> {
    lower_head
        .split("\r\n")
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':').map(str::trim))
}

pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Writes a config file for `upstream` with the given ACL section and limits.
pub fn config_file(name: &str, upstream: &str, readonlyrest: &str, extra_gateway: &str) -> PathBuf {
    config_file_for(name, &[upstream], readonlyrest, extra_gateway)
}

/// Writes a config file for these upstream nodes (round-robin in this order).
pub fn config_file_for(
    name: &str,
    upstreams: &[&str],
    readonlyrest: &str,
    extra_gateway: &str,
) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ringfence-it-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.yml"));
    // One worker unless the test asks for more: connection reuse is then deterministic.
    let workers = if extra_gateway.contains("  workers:") {
        ""
    } else {
        "  workers: 1\n"
    };
    std::fs::write(
        &path,
        format!(
            // No metadata refresher: the stub must see only the test's own requests.
            "gateway:\n  listen: 127.0.0.1:0\n  upstreams: [{upstreams}]\n{workers}  metadata_refresh_ms: 0\n{extra_gateway}readonlyrest:\n{readonlyrest}",
            upstreams = upstreams
                .iter()
                .map(|url| format!("\"{url}\""))
                .collect::<Vec<_>>()
                .join(", "),
        ),
    )
    .unwrap();
    path
}

pub const ALLOW_ALL: &str = "  enable: false\n";

/// Starts a gateway from a config file written for this test.
pub fn start_gateway(
    name: &str,
    upstream: &str,
    readonlyrest: &str,
    extra_gateway: &str,
) -> Gateway {
    start_gateway_for(name, &[upstream], readonlyrest, extra_gateway)
}

/// Starts a gateway in front of several nodes.
pub fn start_gateway_for(
    name: &str,
    upstreams: &[&str],
    readonlyrest: &str,
    extra_gateway: &str,
) -> Gateway {
    let path = config_file_for(name, upstreams, readonlyrest, extra_gateway);
    let config = Config::load(&path).unwrap();
    let snapshot = Snapshot::load(&config.policy_source, 1).unwrap();
    Gateway::start(&config.gateway, Arc::new(PolicyStore::new(snapshot))).unwrap()
}

pub fn limits_yaml(limits: &[(&str, u64)]) -> String {
    let mut out = String::from("  limits:\n");
    for (k, v) in limits {
        out.push_str(&format!("    {k}: {v}\n"));
    }
    out
}

pub fn default_limits() -> Limits {
    Limits::default()
}

/// A raw HTTP/1.1 client for exact-byte tests.
pub struct Client {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

/// A response as read off the wire.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl Response {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        let lower = self.head.to_ascii_lowercase();
        header(&lower, &name.to_ascii_lowercase()).map(str::to_string)
    }
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Reads one response; `head_request` means no body follows whatever the headers say.
    pub fn read_response(&mut self, head_request: bool) -> Response {
        let head_len = loop {
            if let Some(pos) = find(&self.buf, b"\r\n\r\n") {
                break pos + 4;
            }
            self.fill()
                .expect("connection closed before a response head");
        };
        let head = String::from_utf8(self.buf.drain(..head_len).collect()).unwrap();
        let status = head[9..12].parse().unwrap();
        let lower = head.to_ascii_lowercase();
        let mut body = Vec::new();
        if head_request || status == 204 || status == 304 || (100..200).contains(&status) {
        } else if let Some(len) = header(&lower, "content-length") {
            let len: usize = len.parse().unwrap();
            while self.buf.len() < len {
                self.fill().expect("connection closed inside a body");
            }
            body = self.buf.drain(..len).collect();
        } else if header(&lower, "transfer-encoding").is_some() {
            let mut decoder = ChunkedDecoder::new();
            loop {
                let progress = decoder
                    .decode(&self.buf, |d| body.extend_from_slice(d))
                    .unwrap();
                self.buf.drain(..progress.consumed);
                if progress.done {
                    break;
                }
                self.fill()
                    .expect("connection closed inside a chunked body");
            }
        } else {
            while self.fill().is_some() {}
            body = std::mem::take(&mut self.buf);
        }
        Response { status, head, body }
    }

    fn fill(&mut self) -> Option<usize> {
        let mut chunk = [0u8; 16384];
        match self.stream.read(&mut chunk) {
            Ok(0) | Err(_) => None,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Some(n)
            }
        }
    }

    /// True if the server closed the connection (EOF, or a reset, within the timeout).
    pub fn is_closed(&mut self) -> bool {
        self.stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut byte = [0u8; 1];
        matches!(self.stream.read(&mut byte), Ok(0) | Err(_))
    }
}

/// How a server ended a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// A clean close (FIN).
    Fin,
    /// A reset (RST): the response, if any, is known to be cut.
    Reset,
    /// Nothing within the read timeout.
    StillOpen,
}

impl Client {
    /// Reads until the server ends the connection: every byte not yet consumed, and how it
    /// ended.
    pub fn read_until_end(&mut self) -> (Vec<u8>, Ending) {
        let mut chunk = [0u8; 16384];
        let ending = loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => break Ending::Fin,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break Ending::Reset,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    break Ending::StillOpen
                }
                Err(e) => panic!("reading the response: {e}"),
            }
        };
        (std::mem::take(&mut self.buf), ending)
    }
}

/// A URL on which nothing listens (the port was free a moment ago).
pub fn closed_port_url() -> String {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("http://127.0.0.1:{port}")
}

/// Sends one request on a new connection and reads the response.
pub fn roundtrip(addr: SocketAddr, request: &[u8]) -> Response {
    let mut client = Client::connect(addr);
    client.send(request);
    client.read_response(request.starts_with(b"HEAD "))
}

/// Peak resident set size of this process, in KiB (Linux `VmHWM`).
pub fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}
