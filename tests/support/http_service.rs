//! A real HTTP/1.1 service on 127.0.0.1 for the external-service tests: a std thread
//! accepts, each connection gets its own thread (so a slow answer delays no other), the
//! request line and headers are parsed by hand, and a handler picks the reply. Every
//! request is recorded. Each reply closes its connection. Use from any test file with
//! `#[path = "support/http_service.rs"] mod http_service;`.

#![allow(dead_code, reason = "each test file uses a different part")]

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// One request as the service saw it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The request target: path and query, as sent.
    pub target: String,
    /// Names lower-cased.
    pub headers: Vec<(String, String)>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The query string's `key=value` pairs, still percent-encoded.
    pub fn query(&self) -> Vec<(String, String)> {
        let Some((_, query)) = self.target.split_once('?') else {
            return Vec::new();
        };
        query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (pair.to_string(), String::new()),
            })
            .collect()
    }
}

/// What the service answers.
pub enum Reply {
    /// A status and a body (`Content-Type: application/json` when it starts with `{`).
    Body(u16, String),
    /// The same after a pause.
    After(Duration, u16),
    /// A status and a body of this many bytes, written in chunks.
    Huge(u16, usize),
}

type Handler = dyn Fn(&Request) -> Reply + Send + Sync;

pub struct HttpService {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl HttpService {
    pub fn start(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> HttpService {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let accept = {
            let (requests, stop) = (Arc::clone(&requests), Arc::clone(&stop));
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::Acquire) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let (requests, handler) = (Arc::clone(&requests), Arc::clone(&handler));
                    std::thread::spawn(move || serve(stream, &requests, &*handler));
                }
            })
        };
        HttpService {
            addr,
            requests,
            stop,
            accept: Some(accept),
        }
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{path_and_query}", self.addr)
    }

    pub fn count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for HttpService {
    /// Stops accepting: the port is closed when this returns.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wake the blocking accept.
        let _ = TcpStream::connect(self.addr);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

fn serve(stream: TcpStream, requests: &Mutex<Vec<Request>>, handler: &Handler) {
    let Ok(clone) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(clone);
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return; // The wake-up connection of `drop`, or a client that gave up.
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
        return;
    };
    let mut request = Request {
        method: method.to_string(),
        target: target.to_string(),
        headers: Vec::new(),
    };
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 {
            return;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            request
                .headers
                .push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    // No request the services send has a body (POST included).
    let reply = handler(&request);
    requests.lock().unwrap().push(request);
    let mut stream = stream;
    let (status, body) = match reply {
        Reply::Body(status, body) => (status, body),
        Reply::After(pause, status) => {
            std::thread::sleep(pause);
            (status, String::new())
        }
        Reply::Huge(status, size) => {
            let head = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {size}\r\nconnection: close\r\n\r\n"
            );
            if stream.write_all(head.as_bytes()).is_err() {
                return;
            }
            let chunk = vec![b' '; 64 * 1024];
            let mut left = size;
            while left > 0 {
                let n = left.min(chunk.len());
                if stream.write_all(&chunk[..n]).is_err() {
                    return; // The client stopped reading: expected.
                }
                left -= n;
            }
            return;
        }
    };
    let content_type = if body.starts_with('{') || body.starts_with('[') {
        "application/json"
    } else {
        "text/plain"
    };
    let response = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
}
