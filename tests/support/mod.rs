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
    pub nth_on_connection: usize,
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
    /// A misbehaving node: these steps in order, then keep the connection unless one ends it
    /// (or the request asked for `Connection: close`).
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
    /// Close the connection without answering (the request was read and is recorded): a
    /// node that died, or a keep-alive connection it timed out, just as a request came in.
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
    responder: Arc<Responder>,
    /// Whether requests are kept in `received` (on unless a test turns it off).
    recording: Arc<AtomicBool>,
    /// Connections being served, by id (clones, so that `kill` can shut them down).
    open: Arc<Mutex<HashMap<usize, TcpStream>>>,
    /// The accepting thread, and its stop flag; `None` while killed.
    acceptor: Mutex<Option<(Arc<AtomicBool>, std::thread::JoinHandle<()>)>>,
}

impl StubUpstream {
    pub fn start(responder: impl Fn(&Received) -> Reply + Send + Sync + 'static) -> StubUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let stub = StubUpstream {
            addr: listener.local_addr().unwrap(),
            received: Arc::new(Mutex::new(Vec::new())),
            connections: Arc::new(AtomicUsize::new(0)),
            responder: Arc::new(responder),
            recording: Arc::new(AtomicBool::new(true)),
            open: Arc::new(Mutex::new(HashMap::new())),
            acceptor: Mutex::new(None),
        };
        stub.accept_on(listener);
        stub
    }

    fn accept_on(&self, listener: TcpListener) {
        let stop = Arc::new(AtomicBool::new(false));
        let (r, c, k, responder, open) = (
            self.received.clone(),
            self.connections.clone(),
            self.recording.clone(),
            self.responder.clone(),
            self.open.clone(),
        );
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                if stopping.load(Ordering::SeqCst) {
                    return; // the listener is dropped: the port refuses from now on
                }
                let id = c.fetch_add(1, Ordering::SeqCst);
                open.lock().unwrap().insert(id, stream.try_clone().unwrap());
                let (r, k, responder, open) =
                    (r.clone(), k.clone(), responder.clone(), open.clone());
                std::thread::spawn(move || {
                    serve_stub(stream, id, r, k, responder);
                    open.lock().unwrap().remove(&id);
                });
            }
        });
        *self.acceptor.lock().unwrap() = Some((stop, thread));
    }

    /// The node dies (or stops for a restart): its port refuses connections and is free once
    /// this returns, and every open connection is closed (FIN).
    pub fn kill(&self) {
        let Some((stop, thread)) = self.acceptor.lock().unwrap().take() else {
            return;
        };
        stop.store(true, Ordering::SeqCst);
        // Wakes the blocking accept so that the thread sees the flag and drops the listener.
        let _ = TcpStream::connect(self.addr);
        thread.join().unwrap();
        for (_, stream) in self.open.lock().unwrap().drain() {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }

    /// The node comes back on the same port (a restart), with the same responder and record;
    /// connections accepted from now on have ids from `connections` at this moment.
    pub fn revive(&self) {
        self.accept_on(TcpListener::bind(self.addr).unwrap());
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
    for nth_on_connection in 0.. {
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
            nth_on_connection,
        };
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
        // Recorded before the responder runs: a test can see a request that is still being
        // answered (a slow node).
        if recording.load(Ordering::SeqCst) {
            received.lock().unwrap().push(req.clone());
        }
        let reply = responder(&req);
        // Like a node, close after answering a request that asked for it.
        let close = header(&text, "connection").is_some_and(|v| v == "close");
        match reply {
            Reply::Bytes(bytes) => {
                if stream.write_all(&bytes).is_err() || close {
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
                if close {
                    return;
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

/// Writes a config file for several upstream nodes (round-robin in this order).
pub fn config_file_for(
    name: &str,
    upstreams: &[&str],
    readonlyrest: &str,
    extra_gateway: &str,
) -> PathBuf {
    let upstreams = upstreams
        .iter()
        .map(|u| format!("\"{u}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let dir = std::env::temp_dir().join(format!("ringfence-it-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.yml"));
    // One worker unless the test asks for more: connection reuse is then deterministic.
    let workers = if extra_gateway.contains("  workers:") {
        ""
    } else {
        "  workers: 1\n"
    };
    // No metadata refresher unless the test asks: the stub must see only its own requests.
    let refresh = if extra_gateway.contains("  metadata_refresh_ms:") {
        ""
    } else {
        "  metadata_refresh_ms: 0\n"
    };
    std::fs::write(
        &path,
        format!(
            "gateway:\n  listen: 127.0.0.1:0\n  upstreams: [{upstreams}]\n{workers}{refresh}{extra_gateway}readonlyrest:\n{readonlyrest}"
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

/// Starts a gateway in front of several upstream nodes.
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

    /// One read under the current read timeout, and what it showed: `Data` (appended to the
    /// buffer), `Eof`, `Reset`, or `Open` when the timeout passed first. The one place that
    /// tells a close from a stall: `fill`, `wait_for_close` and `read_until_end` all use it.
    fn read_once(&mut self) -> PeerState {
        let mut chunk = [0u8; 16384];
        let read = loop {
            // With a read timeout set, Linux ends a read with `EINTR` after the test
            // process was stopped and continued, even without a signal handler.
            match self.stream.read(&mut chunk) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                read => break read,
            }
        };
        match read {
            Ok(0) => PeerState::Eof,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                PeerState::Data
            }
            Err(e) => match e.kind() {
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => PeerState::Open,
                std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::ConnectionAborted
                | std::io::ErrorKind::BrokenPipe => PeerState::Reset,
                _ => panic!("unexpected error reading from the server: {e}"),
            },
        }
    }

    /// Reads more bytes; `None` when the server closed (EOF or reset). A read timeout is
    /// not a close: it panics, so a stalled server never passes for a finished response.
    fn fill(&mut self) -> Option<usize> {
        let before = self.buf.len();
        match self.read_once() {
            PeerState::Data => Some(self.buf.len() - before),
            PeerState::Eof | PeerState::Reset => None,
            PeerState::Open => panic!("no answer within the client's read timeout"),
        }
    }

    /// True if the server closed the connection (EOF or a reset) within 5 s. A connection
    /// that is still open when the time is up is not closed: a read timeout is `false`.
    pub fn is_closed(&mut self) -> bool {
        matches!(
            self.wait_for_close(Duration::from_secs(5)),
            PeerState::Eof | PeerState::Reset
        )
    }

    /// Waits up to `within` for the server to end the connection and says how it did (or
    /// that it did not). Bytes already buffered or arriving meanwhile count as `Data`.
    pub fn wait_for_close(&mut self, within: Duration) -> PeerState {
        if !self.buf.is_empty() {
            return PeerState::Data;
        }
        self.stream.set_read_timeout(Some(within)).unwrap();
        let state = self.read_once();
        self.stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        state
    }

    /// Reads until the server ends the connection (or the read timeout passes): every byte
    /// not yet consumed, and how it ended (`Eof`, `Reset`, or `Open` on a timeout; never
    /// `Data`). For responses that may be cut, where only the ending tells a whole one.
    pub fn read_until_end(&mut self) -> (Vec<u8>, PeerState) {
        let state = loop {
            match self.read_once() {
                PeerState::Data => continue,
                ended => break ended,
            }
        };
        (std::mem::take(&mut self.buf), state)
    }
}

/// How a connection looked from the client after waiting for the server to end it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerState {
    /// The server closed it in order (FIN).
    Eof,
    /// The server reset it (RST): a response, if any, is known to be cut.
    Reset,
    /// Still open when the wait ended: a timeout is not a close.
    Open,
    /// The server sent more bytes instead of closing.
    Data,
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

/// Writes `files` (name, contents) into a fresh directory for this test and returns it.
pub fn test_dir(name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ringfence-it-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (file, text) in files {
        std::fs::write(dir.join(file), text).unwrap();
    }
    dir
}

/// The real `ringfence run` binary as a child process, with its log captured.
pub struct Binary {
    child: std::process::Child,
    /// The first address it listens on (read from its log: the config asks for port 0).
    pub addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl Binary {
    /// Starts `ringfence run --config <config>` and waits until it listens.
    pub fn start(config: &std::path::Path) -> Binary {
        use std::io::BufRead;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ringfence"))
            .args(["run", "--config"])
            .arg(config)
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "info")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                lines.lock().unwrap().push(strip_ansi(&line));
            }
        });
        let mut binary = Binary {
            child,
            addr: "0.0.0.0:0".parse().unwrap(),
            log,
        };
        let line = binary.wait_for_log("listening", Duration::from_secs(10));
        let addr = line
            .split_whitespace()
            .find_map(|word| word.strip_prefix("addr="))
            .unwrap_or_else(|| panic!("no addr= in {line:?}"));
        binary.addr = addr.parse().unwrap();
        binary
    }

    /// Sends `signal` ("HUP", "TERM", ...) to the process. Through kill(1): the package
    /// forbids `unsafe`, which `libc::kill` would need, in tests too.
    pub fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .args(["-s", signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -s {signal} {}", self.child.id());
    }

    /// The first log line (so far or within `within`) containing `needle`; panics on timeout
    /// with the whole log.
    pub fn wait_for_log(&self, needle: &str, within: Duration) -> String {
        let deadline = std::time::Instant::now() + within;
        loop {
            if let Some(line) = self.log.lock().unwrap().iter().find(|l| l.contains(needle)) {
                return line.clone();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no log line with {needle:?} within {within:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// How many log lines contain `needle` so far.
    pub fn log_count(&self, needle: &str) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Waits up to `within` for the process to exit.
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        // Our own child, by its handle; a test that failed half-way must not leave it running.
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Removes terminal colour sequences (`ESC [ ... m`) from a log line.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `Authorization: Basic` for `user` with the password `user`, as a header line.
pub fn basic(user: &str) -> String {
    use base64::Engine;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{user}"));
    format!("Authorization: Basic {token}\r\n")
}

/// A request from `user` (password `user`) with a Content-Length body.
pub fn request(method: &str, target: &str, user: &str, extra: &str, body: &[u8]) -> Vec<u8> {
    let mut raw = format!(
        "{method} {target} HTTP/1.1\r\nHost: es\r\n{}{extra}Content-Length: {}\r\n\r\n",
        basic(user),
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(body);
    raw
}

/// Sends `raw` on a new connection and checks the decision: the status, and that the
/// upstream received the request exactly once if it was allowed (2xx) and not at all if not.
pub fn assert_decided(
    addr: SocketAddr,
    upstream: &StubUpstream,
    raw: &[u8],
    status: u16,
) -> Response {
    let before = upstream.requests().len();
    let response = roundtrip(addr, raw);
    let what = String::from_utf8_lossy(&raw[..find(raw, b"\r\n").unwrap_or(raw.len())]);
    assert_eq!(
        response.status,
        status,
        "{what}: {}",
        String::from_utf8_lossy(&response.body)
    );
    let reached = upstream.requests().len() - before;
    let expected = usize::from((200..300).contains(&status));
    assert_eq!(
        reached, expected,
        "{what}: reached the upstream {reached} times"
    );
    if !(200..300).contains(&status) {
        // Every refusal is an Elasticsearch-shaped JSON error.
        assert_eq!(response.json()["status"], status, "{what}");
    }
    response
}
