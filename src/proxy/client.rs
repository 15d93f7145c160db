//! One client connection: read a head, decide, answer or forward, repeat.
//!
//! Requests on a connection are handled strictly one after another, so pipelined requests
//! are answered in order by construction: the next head is parsed from whatever followed the
//! previous body in the same buffer.

use super::buffer::{linger_close, write_all, ReadBuf};
use super::forward::{forward, Next};
use super::upstream::Upstreams;
use crate::acl::request::{decode_path, MalformedAuthorization};
use crate::acl::{Decision, NoCache, Request};
use crate::config::Limits;
use crate::http::canned::Canned;
use crate::http::request::{parse_request_head, BodyFraming, RequestHead};
use crate::http::{ClientError, Fault};
use crate::snapshot::LocalPolicy;
use monoio::net::TcpStream;
use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Initial read buffer of a client connection; it grows up to the head limit when needed.
const CLIENT_BUFFER_BYTES: usize = 32 * 1024;
/// A denied request's body up to this size is read and dropped to keep the connection;
/// anything larger (or unknown) is answered and the connection closed.
const DISCARD_BODY_BYTES: u64 = 64 * 1024;

/// State shared by all connections of one worker thread (never across threads).
pub struct Worker {
    pub limits: Limits,
    pub policy: LocalPolicy,
    pub upstreams: Rc<Upstreams>,
    /// Requests being handled right now (graceful shutdown waits for zero).
    pub in_flight: Cell<usize>,
    /// Set on shutdown: finish the current request, then close.
    pub draining: Cell<bool>,
}

/// Counts a request as in flight while alive.
struct InFlight<'a>(&'a Worker);

impl<'a> InFlight<'a> {
    fn enter(worker: &'a Worker) -> InFlight<'a> {
        worker.in_flight.set(worker.in_flight.get() + 1);
        InFlight(worker)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.set(self.0.in_flight.get() - 1);
    }
}

/// The client's side of one exchange, handed to the forwarder.
pub struct ClientSide<'a> {
    pub stream: &'a mut TcpStream,
    pub buf: &'a mut ReadBuf,
    pub out: &'a mut Vec<u8>,
    pub peer: SocketAddr,
    pub local: SocketAddr,
}

// Returned by value once per request; boxing the head would cost an allocation per request.
#[allow(clippy::large_enum_variant)]
enum HeadRead {
    Head(RequestHead),
    Closed,
    Fault(Fault),
}

/// Serves one accepted connection until it closes.
pub async fn serve(worker: Rc<Worker>, mut stream: TcpStream, peer: SocketAddr) {
    let Ok(local) = stream.local_addr() else {
        return;
    };
    let mut buf = ReadBuf::with_capacity(CLIENT_BUFFER_BYTES);
    let mut out = Vec::with_capacity(1024);
    let mut first = true;
    loop {
        let head = match read_head(&worker, &mut stream, &mut buf, first).await {
            HeadRead::Head(head) => head,
            HeadRead::Closed => return,
            HeadRead::Fault(fault) => {
                Canned::for_fault(fault, true, false).write_to(&mut out);
                let (_, _) = write_all(&mut stream, out).await;
                linger_close(stream, buf).await;
                return;
            }
        };
        first = false;
        let _in_flight = InFlight::enter(&worker);
        let mut client = ClientSide {
            stream: &mut stream,
            buf: &mut buf,
            out: &mut out,
            peer,
            local,
        };
        let next = handle(&worker, &mut client, &head).await;
        match next {
            Next::KeepAlive if !worker.draining.get() => continue,
            Next::KeepAlive | Next::Close => return,
            Next::Linger => {
                linger_close(stream, buf).await;
                return;
            }
        }
    }
}

/// Reads until a complete head is buffered. The first request of a connection and any
/// partly received head must arrive within `header_timeout_ms` (slowloris); an idle
/// keep-alive connection is closed silently after `idle_timeout_ms`.
async fn read_head(
    worker: &Worker,
    stream: &mut TcpStream,
    buf: &mut ReadBuf,
    first: bool,
) -> HeadRead {
    let limits = &worker.limits;
    let header_timeout = Duration::from_millis(limits.header_timeout_ms);
    let mut deadline = (first || !buf.is_empty()).then(|| Instant::now() + header_timeout);
    loop {
        if !buf.is_empty() {
            match parse_request_head(buf.data(), limits.max_header_bytes) {
                Ok(Some(head)) => return HeadRead::Head(head),
                Ok(None) => {}
                Err(e) => return HeadRead::Fault(e.into()),
            }
        }
        let timeout = match deadline {
            Some(at) => at.saturating_duration_since(Instant::now()),
            None => Duration::from_millis(limits.idle_timeout_ms),
        };
        match buf.fill(stream, timeout).await {
            Ok(0) => return HeadRead::Closed,
            Ok(_) => {
                deadline.get_or_insert_with(|| Instant::now() + header_timeout);
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut && deadline.is_some() => {
                return HeadRead::Fault(ClientError::HeadTimeout.into())
            }
            Err(_) => return HeadRead::Closed,
        }
    }
}

/// Decides and then answers or forwards one request.
async fn handle(worker: &Rc<Worker>, client: &mut ClientSide<'_>, head: &RequestHead) -> Next {
    let snapshot = worker.policy.current();
    let buf = client.buf.data();
    let Some(path) = decode_path(head.path.get(buf)) else {
        return refuse(worker, client, head, ClientError::InvalidPathEncoding).await;
    };
    let content_length = match head.body {
        BodyFraming::None => Some(0),
        BodyFraming::Length(n) => Some(n),
        BodyFraming::Chunked => None,
    };
    let request = match Request::new(
        head.method,
        &path,
        buf,
        &head.headers,
        client.peer.ip(),
        client.local.ip(),
        content_length,
    ) {
        Ok(request) => request,
        Err(MalformedAuthorization) => {
            return refuse(worker, client, head, ClientError::MalformedAuthorization).await
        }
    };
    // What to answer is copied out of the decision, so the request (which borrows the read
    // buffer) ends before the buffer is used again.
    let denial = match snapshot.acl.evaluate(&request, &NoCache) {
        Decision::Allow { .. } => None,
        Decision::Forbid { reason, due_to, .. } => Some((403, reason.to_string(), due_to)),
        Decision::Unauthorized { reason } => {
            Some((401, reason.to_string(), "OPERATION_NOT_ALLOWED"))
        }
        Decision::Verify(_) => {
            drop(request);
            return refuse(worker, client, head, Fault::Internal).await;
        }
    };
    drop(request);
    drop(path);
    drop(snapshot);
    let Some((status, reason, due_to)) = denial else {
        return forward(worker, client, head).await;
    };
    let challenge = [("www-authenticate", UNAUTHORIZED_CHALLENGE)];
    let canned = Canned {
        status,
        error_type: "forbidden_response",
        reason: &reason,
        extra: &[("due_to", due_to)],
        headers: if status == 401 { &challenge } else { &[] },
        close: false,
        head_only: head.is_head(),
    };
    respond_without_body(worker, client, head, &canned).await
}

/// `Basic realm="ringfence"`, the challenge sent with 401.
const UNAUTHORIZED_CHALLENGE: &str = "Basic realm=\"ringfence\"";

/// Refuses a request with a gateway error, without forwarding anything.
async fn refuse(
    worker: &Worker,
    client: &mut ClientSide<'_>,
    head: &RequestHead,
    fault: impl Into<Fault>,
) -> Next {
    let canned = Canned::for_fault(fault.into(), false, head.is_head());
    respond_without_body(worker, client, head, &canned).await
}

/// Answers a request whose body must not be forwarded. A small body is read and dropped to
/// keep the connection; otherwise the answer says `Connection: close` and the connection is
/// closed after a linger.
pub async fn respond_without_body(
    worker: &Worker,
    client: &mut ClientSide<'_>,
    head: &RequestHead,
    canned: &Canned<'_>,
) -> Next {
    let already = client.buf.len().saturating_sub(head.len) as u64;
    let discard = match head.body {
        BodyFraming::None => Some(0),
        BodyFraming::Length(n)
            if n <= DISCARD_BODY_BYTES && (!head.expect_continue || already >= n) =>
        {
            Some(n)
        }
        _ => None,
    };
    let keep_alive = head.keep_alive && discard.is_some() && !worker.draining.get();
    let canned = Canned {
        close: !keep_alive,
        ..*canned
    };
    canned.write_to(client.out);
    let out = std::mem::take(client.out);
    let (result, out) = write_all(client.stream, out).await;
    *client.out = out;
    client.buf.consume(head.len);
    if result.is_err() {
        return Next::Close;
    }
    let Some(mut remaining) = discard.filter(|_| keep_alive) else {
        return if head.body == BodyFraming::None {
            Next::Close
        } else {
            Next::Linger
        };
    };
    let timeout = Duration::from_millis(worker.limits.idle_timeout_ms);
    while remaining > 0 {
        if client.buf.is_empty() {
            match client.buf.fill(client.stream, timeout).await {
                Ok(n) if n > 0 => {}
                _ => return Next::Close,
            }
        }
        let take = remaining.min(client.buf.len() as u64);
        client.buf.consume(take as usize);
        remaining -= take;
    }
    Next::KeepAlive
}
