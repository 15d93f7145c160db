//! The admin listener: `/metrics`, `/health` and `/ready` over plain HTTP/1.1.
//!
//! It runs on its own std thread with blocking sockets, never on a worker core, so a scrape
//! costs the workers nothing but the relaxed loads of [`Registry::render`]. Requests are
//! served one at a time, one per connection (`Connection: close`); a client gets
//! [`CLIENT_DEADLINE`] in all to send its head, and a write it does not drain for that long
//! ends the connection, so a slow or silent client cannot hold the listener. It serves no authentication: bind it to loopback or a
//! management network (`gateway.admin.listen`).

mod route;
#[cfg(test)]
mod tests;

pub use route::Readiness;

use crate::http::request::parse_request_head;
use crate::http::ClientError;
use crate::metrics::Registry;
use route::Reply;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tracing::warn;

/// Time a client has to send its request head, and again to take the response.
pub const CLIENT_DEADLINE: Duration = Duration::from_secs(2);
/// A request head larger than this is refused (431); probes and scrapes send a few hundred.
const MAX_HEAD_BYTES: usize = 8 * 1024;
/// How long, in all, a closing connection keeps reading what the client still sends, and
/// how much.
const LINGER: Duration = Duration::from_millis(500);
const MAX_LINGER_BYTES: usize = 64 * 1024;
/// Pause after a failed accept (out of descriptors, ...) so the thread does not spin.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(100);

/// Computes readiness at each `/ready` request (from the policy snapshot and the registry).
pub type ReadinessCheck = Arc<dyn Fn() -> Readiness + Send + Sync>;

/// A running admin listener; stops (and joins its thread) on [`AdminServer::shutdown`] or drop.
#[derive(Debug)]
pub struct AdminServer {
    local_addr: SocketAddr,
    stopping: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// Serves the admin endpoints of a bound `listener` on a new thread.
pub fn start(
    listener: TcpListener,
    registry: Arc<Registry>,
    readiness: ReadinessCheck,
) -> io::Result<AdminServer> {
    let local_addr = listener.local_addr()?;
    let stopping = Arc::new(AtomicBool::new(false));
    let thread = std::thread::Builder::new()
        .name("ringfence-admin".into())
        .spawn({
            let stopping = Arc::clone(&stopping);
            move || accept_loop(&listener, &stopping, &registry, &*readiness)
        })?;
    Ok(AdminServer {
        local_addr,
        stopping,
        thread: Some(thread),
    })
}

impl AdminServer {
    /// The bound address (the actual port when `addr` had port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting, waits for the request being served, and closes the listener.
    pub fn shutdown(self) {
        // The work is in `Drop`, so that a server going out of scope stops the same way.
    }
}

impl Drop for AdminServer {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::Relaxed);
        // The thread is blocked in accept: one connection of our own wakes it to see the flag.
        let wake = TcpStream::connect_timeout(&reachable(self.local_addr), CLIENT_DEADLINE);
        if let (Ok(_), Some(thread)) = (wake, self.thread.take()) {
            let _ = thread.join();
        }
        // If the wake-up connection failed the thread is left to end with the process,
        // rather than hanging whoever drops the server.
    }
}

/// `addr` with an unspecified IP (`0.0.0.0`, `::`) replaced by loopback, to connect to.
fn reachable(addr: SocketAddr) -> SocketAddr {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, addr.port())
}

fn accept_loop(
    listener: &TcpListener,
    stopping: &AtomicBool,
    registry: &Registry,
    readiness: &dyn Fn() -> Readiness,
) {
    for stream in listener.incoming() {
        if stopping.load(Ordering::Relaxed) {
            return;
        }
        match stream {
            Ok(stream) => serve(stream, registry, readiness),
            Err(e) => {
                warn!(error = %e, "admin listener: accept failed");
                std::thread::sleep(ACCEPT_RETRY_DELAY);
            }
        }
    }
}

/// Reads one request, answers it and closes the connection. IO errors only end the
/// connection: the client is gone or too slow.
fn serve(mut stream: TcpStream, registry: &Registry, readiness: &dyn Fn() -> Readiness) {
    let _ = stream.set_nodelay(true);
    let reply = match read_head(&mut stream) {
        Ok(Head::Request { method, target }) => {
            // A panicking collector or readiness check answers 500 instead of ending the
            // listener: the workers are fine and /health must keep answering.
            panic::catch_unwind(AssertUnwindSafe(|| {
                route::answer(&method, &target, registry, readiness)
            }))
            .unwrap_or_else(|_| Reply::json(500, r#"{"error":"internal error"}"#))
        }
        Ok(Head::Malformed) => Reply::json(400, r#"{"error":"malformed request"}"#),
        Ok(Head::TooLarge) => Reply::json(431, r#"{"error":"request head too large"}"#),
        Err(_) => return,
    };
    if write_reply(&mut stream, &reply).is_ok() {
        linger(&mut stream);
    }
}

/// Closes in stages (RFC 9112 section 9.6): stop writing, then read and discard what the
/// client still sends (a body, the rest of a head too large) until it closes. Closing with
/// unread bytes would reset the connection, and the client could lose the answer.
fn linger(stream: &mut TcpStream) {
    if stream.shutdown(std::net::Shutdown::Write).is_err() {
        return;
    }
    let deadline = Instant::now() + LINGER;
    let mut scratch = [0; 4096];
    let mut drained = 0;
    while drained < MAX_LINGER_BYTES {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream.read(&mut scratch) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Ok(0) | Err(_) => return,
            Ok(read) => drained += read,
        }
    }
}

/// What the client sent, as far as the admin listener cares.
enum Head {
    Request { method: String, target: String },
    Malformed,
    TooLarge,
}

/// Reads until a complete request head, within [`CLIENT_DEADLINE`] in total.
fn read_head(stream: &mut TcpStream) -> io::Result<Head> {
    let deadline = Instant::now() + CLIENT_DEADLINE;
    let mut buffer = vec![0; MAX_HEAD_BYTES];
    let mut filled = 0;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        stream.set_read_timeout(Some(left))?;
        // With a read timeout set, a stop and continue of the process ends the read with
        // `EINTR` even without a signal handler.
        let read = match stream.read(&mut buffer[filled..]) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            read => read?,
        };
        if read == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        filled += read;
        // The gateway's own strict parser (which also requires `Host`).
        match parse_request_head(&buffer[..filled], MAX_HEAD_BYTES) {
            Ok(Some(head)) => {
                let target = head.target(&buffer[..filled]);
                return Ok(Head::Request {
                    method: head.method.as_str().to_string(),
                    target: String::from_utf8_lossy(&target).into_owned(),
                });
            }
            Ok(None) if filled == buffer.len() => return Ok(Head::TooLarge),
            Ok(None) => {}
            Err(ClientError::HeaderTooLarge | ClientError::TooManyHeaders) => {
                return Ok(Head::TooLarge)
            }
            Err(_) => return Ok(Head::Malformed),
        }
    }
}

fn write_reply(stream: &mut TcpStream, reply: &Reply) -> io::Result<()> {
    stream.set_write_timeout(Some(CLIENT_DEADLINE))?;
    let allow = if reply.status == 405 {
        "Allow: GET\r\n"
    } else {
        ""
    };
    let head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{allow}Cache-Control: no-store\r\nConnection: close\r\n\r\n",
        reply.status,
        route::reason(reply.status),
        reply.content_type,
        reply.body.len(),
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(reply.body.as_bytes())?;
    stream.flush()
}
