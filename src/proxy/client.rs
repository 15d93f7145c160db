//! One client connection: read a head, decide, answer or forward, repeat.
//!
//! Requests on a connection are handled strictly one after another, so pipelined requests
//! are answered in order by construction: the next head is parsed from whatever followed the
//! previous body in the same buffer.

use super::buffer::{linger_close, wait_readable, write_all, BodyPace, BodyReadError, ReadBuf};
use super::catch::{guarded, spawn_guarded};
use super::completion::{complete, tls_handshake_failed, Seen};
use super::credentials::Credentials;
use super::deadline;
use super::decide::{Context, Inspected, Verdict};
use super::denial::Denial;
use super::exchange::{BodyCollector, Exchange, Outgoing};
use super::forward::{forward, Next};
use super::pool::WriteBuf;
use super::search_contexts::SearchContexts;
use super::stream::Stream;
use super::upstream::Upstreams;
use crate::audit::Recorder;
use crate::config::{Limits, UpstreamAuth};
use crate::es::metadata::ClusterMetadata;
use crate::http::request::{parse_request_head, BodyFraming, RequestHead};
use crate::http::{ClientError, Fault};
use crate::metrics::WorkerMetrics;
use crate::snapshot::LocalPolicy;
use crate::tls::failures::HandshakeFailures;
use crate::tls::identity::subject_dn;
use crate::tls::stream::{HandshakeError, TlsStream};
use arc_swap::ArcSwap;
use monoio::net::TcpStream;
use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A denied request's body up to this size is read and dropped to keep the connection;
/// anything larger (or unknown) is answered and the connection closed.
const DISCARD_BODY_BYTES: u64 = 64 * 1024;

/// State shared by all connections of one worker thread (never across threads).
pub struct Worker {
    pub limits: Limits,
    pub policy: LocalPolicy,
    pub upstreams: Rc<Upstreams>,
    /// The credential cache, failure limits and the way to the hashing pool.
    pub credentials: Credentials,
    /// The cluster's indices, aliases and data streams (refreshed in the background).
    pub metadata: Arc<ArcSwap<ClusterMetadata>>,
    /// Requests being handled right now (graceful shutdown waits for zero).
    pub in_flight: Cell<usize>,
    /// Set on shutdown: finish the current request, then close.
    pub draining: Cell<bool>,
    /// Request-body bytes held for inspection right now (see [`BodyBudget`]).
    pub buffered_body_bytes: Cell<u64>,
    /// Who opened which scroll and point-in-time context (one for the process).
    pub contexts: Arc<SearchContexts>,
    /// Ids for the requests (and connection events) this worker records.
    pub request_ids: RequestIds,
    /// This worker's counters, read by the admin listener on scrape.
    pub metrics: Arc<WorkerMetrics>,
    /// This worker's way into the audit trail.
    pub audit: Recorder,
    /// Log one line per request.
    pub access_log: bool,
    /// Failed TLS handshakes (one for the process: logs are limited per client address).
    pub tls_failures: Arc<HandshakeFailures>,
    /// `gateway.upstream_auth`: the credentials sent upstream instead of the client's.
    pub upstream_auth: Option<Arc<UpstreamAuth>>,
}

impl Worker {
    /// Whether requests are recorded in detail (audit trail, access log): it costs copies.
    pub fn records_details(&self) -> bool {
        self.access_log || self.audit.enabled()
    }

    /// Whether the audit trail wants request bodies.
    pub fn audit_wants_content(&self) -> bool {
        self.audit.wants_content()
    }

    /// A process-unique id for a request or connection event.
    pub fn next_request_id(&self) -> String {
        self.request_ids.next()
    }
}

/// `<process start, seconds since the epoch>-<worker>-<sequence>`: unique across the workers
/// of a process and across restarts. The prefix is formatted once per worker.
pub struct RequestIds {
    prefix: String,
    next: Cell<u64>,
}

impl RequestIds {
    pub fn new(worker: usize) -> RequestIds {
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        RequestIds {
            prefix: format!("{started}-{worker}-"),
            next: Cell::new(0),
        }
    }

    fn next(&self) -> String {
        let n = self.next.get();
        self.next.set(n + 1);
        let mut digits = [0u8; 20];
        let mut at = digits.len();
        let mut rest = n;
        loop {
            at -= 1;
            digits[at] = b'0' + (rest % 10) as u8;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        let mut id = String::with_capacity(self.prefix.len() + digits.len() - at);
        id.push_str(&self.prefix);
        // Only ASCII digits were written.
        id.extend(digits[at..].iter().map(|&d| char::from(d)));
        id
    }
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

/// Counts a client connection as open while alive (the `connections_open` gauge).
struct OpenConnection(Rc<Worker>);

impl OpenConnection {
    fn count(worker: Rc<Worker>) -> OpenConnection {
        worker.metrics.connection_opened();
        OpenConnection(worker)
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.metrics.connection_closed();
    }
}

/// The client's side of one exchange, handed to the forwarder.
pub struct ClientSide<'a> {
    pub stream: &'a mut Stream,
    pub buf: &'a mut ReadBuf,
    pub out: &'a mut Vec<u8>,
    /// Reused for the heads sent upstream.
    pub upstream_out: &'a mut Vec<u8>,
    pub peer: SocketAddr,
    /// The peer's address as text, for `X-Forwarded-For` (formatted once per connection).
    pub peer_ip: &'a str,
    pub local: SocketAddr,
    /// The subject DN of the client's verified certificate (TLS with client certificates).
    pub certificate_dn: Option<&'a str>,
    /// Longest a write to the client may take (the idle timeout).
    pub write_timeout: Duration,
    /// Set once any byte of a final answer went to the client (after a panic, a 500 can
    /// only be sent before that).
    pub answered: &'a Cell<bool>,
    /// The request being served: what it learned and how it ends.
    pub exchange: &'a mut Exchange,
}

impl ClientSide<'_> {
    /// Writes whatever is in `out` and keeps the buffer for the next response.
    pub async fn flush(&mut self) -> std::io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        self.answered.set(true);
        self.exchange.bytes_out += self.out.len() as u64;
        let out = std::mem::take(self.out);
        let (result, mut out) = write_all(self.stream, out, self.write_timeout).await;
        out.clear();
        *self.out = out;
        result
    }

    /// Tells a client waiting on `Expect: 100-continue` to send its body, unless it already
    /// started (RFC 9110 §10.1.1).
    pub async fn continue_if_expected(&mut self, head: &RequestHead) -> std::io::Result<()> {
        if head.expect_continue && self.buf.is_empty() {
            return self.send_continue().await;
        }
        Ok(())
    }

    /// Writes `100 Continue`: an interim answer, after which a final one (a 500 after a
    /// panic, say) may still follow.
    pub async fn send_continue(&mut self) -> std::io::Result<()> {
        let interim = b"HTTP/1.1 100 Continue\r\n\r\n".to_vec();
        write_all(self.stream, interim, self.write_timeout).await.0
    }
}

// Returned by value once per request; boxing the head would cost an allocation per request.
#[allow(clippy::large_enum_variant)]
enum HeadRead {
    Head(RequestHead),
    Closed,
    Fault(Fault),
}

/// A connection admitted at accept, not yet served.
pub struct Accepted {
    pub worker: Rc<Worker>,
    pub tcp: TcpStream,
    pub peer: SocketAddr,
    /// The listener's TLS configuration when it speaks TLS (current at accept).
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// What a connection keeps between its requests, in one allocation: an idle connection's
/// task holds a pointer to it and its wait for the next bytes, nothing more.
struct Session {
    worker: Rc<Worker>,
    stream: Stream,
    buf: ReadBuf,
    connection: Connection,
}

/// Serves one accepted connection until it closes, after a TLS handshake when it came to a
/// TLS listener. A panic while serving a request ends only this connection: it gets a 500
/// if nothing of its answer was sent yet.
///
/// Every argument of an `async fn` is stored twice in its state (as argument and as local),
/// for as long as the connection lives; hence one boxed argument, and the connection's state
/// in a [`Session`] box rather than in locals.
pub async fn serve(accepted: Box<Accepted>) {
    let _open = OpenConnection::count(Rc::clone(&accepted.worker));
    // Boxed: the opening's state (a TLS handshake's is large) would otherwise size the
    // whole task, for the connection's life.
    let Some(mut session) = Box::pin(open_session(accepted)).await else {
        return;
    };
    let Session {
        worker,
        stream,
        buf,
        connection,
    } = &mut *session;
    // Requests served in a row from bytes the client had already sent (pipelining).
    let mut pipelined: u32 = 0;
    // The first head must be complete within the head timeout of the connection's start.
    let mut head_deadline = Some(Instant::now() + worker.limits.header_timeout);
    loop {
        if buf.is_empty() {
            // Idle: wait without a buffer and in a small state; what serving a request
            // needs is allocated once bytes are there.
            buf.release();
            let wait = match head_deadline {
                Some(at) => at.saturating_duration_since(Instant::now()),
                None => worker.limits.idle_timeout,
            };
            match deadline::timeout(wait, wait_readable(stream)).await {
                Ok(Ok(())) => {}
                Err(_) if head_deadline.is_some() => {
                    let fault = ClientError::HeadTimeout.into();
                    Box::pin(async {
                        refuse_head(worker, stream, buf, fault, connection).await;
                        linger_close(stream, buf).await;
                    })
                    .await;
                    return;
                }
                // An idle keep-alive connection is closed silently.
                Ok(Err(_)) | Err(_) => return,
            }
        }
        let head_deadline = head_deadline
            .take()
            .unwrap_or_else(|| Instant::now() + worker.limits.header_timeout);
        // Boxed: the state of a request in progress is allocated per request.
        let next = Box::pin(next_request(
            worker,
            stream,
            buf,
            head_deadline,
            pipelined,
            connection,
        ))
        .await;
        pipelined = if buf.is_empty() { 0 } else { pipelined + 1 };
        match next {
            Next::KeepAlive if !worker.draining.get() => continue,
            Next::KeepAlive | Next::Close => return,
            Next::Linger => {
                Box::pin(linger_close(stream, buf)).await;
                return;
            }
        }
    }
}

/// The connection's session: after a TLS handshake if it came to a TLS listener (`None` when
/// the handshake failed or the socket is already gone).
async fn open_session(accepted: Box<Accepted>) -> Option<Box<Session>> {
    let Accepted {
        worker,
        tcp,
        peer,
        tls,
    } = *accepted;
    let local = tcp.local_addr().ok()?;
    let (stream, certificate_dn) = match tls {
        None => (Stream::Plain(tcp), None),
        Some(config) => handshake(&worker, tcp, peer, local, config).await?,
    };
    Some(Box::new(Session {
        worker,
        stream,
        buf: ReadBuf::new(),
        connection: Connection {
            peer,
            peer_ip: peer.ip().to_canonical().to_string(),
            local,
            certificate_dn,
        },
    }))
}

/// Reads the next head (complete by `head_deadline`) and serves it; a head that cannot be
/// read is answered and the connection closed.
async fn next_request(
    worker: &Rc<Worker>,
    stream: &mut Stream,
    buf: &mut ReadBuf,
    head_deadline: Instant,
    pipelined: u32,
    connection: &Connection,
) -> Next {
    let mut head = match read_head(worker, stream, buf, head_deadline).await {
        HeadRead::Head(head) => head,
        HeadRead::Closed => return Next::Close,
        HeadRead::Fault(fault) => {
            refuse_head(worker, stream, buf, fault, connection).await;
            return Next::Linger;
        }
    };
    let max_pipelined = worker.limits.max_pipelined_requests;
    if max_pipelined > 0 && pipelined >= max_pipelined {
        // Answer this one and close: the client sends the rest again on a new connection.
        head.keep_alive = false;
    }
    serve_request(worker, stream, buf, head, connection).await
}

/// What a connection's requests share: who is at the other end.
struct Connection {
    peer: SocketAddr,
    /// The peer's address as text, for `X-Forwarded-For` (formatted once per connection).
    peer_ip: String,
    local: SocketAddr,
    /// The subject DN of the client's verified certificate (TLS with client certificates).
    certificate_dn: Option<String>,
}

/// Answers a head that could not be read (malformed, too large, too slow); the caller
/// closes the connection after a linger.
async fn refuse_head(
    worker: &Worker,
    stream: &mut Stream,
    buf: &ReadBuf,
    fault: Fault,
    connection: &Connection,
) {
    let Connection { peer, local, .. } = *connection;
    let seen = worker
        .records_details()
        .then(|| Seen::capture_refused(buf.data(), worker.next_request_id()))
        .flatten();
    let mut exchange = Exchange::new(Instant::now());
    let mut out = WriteBuf::take();
    exchange.deny(fault.into()).write_to(&mut out, false, true);
    exchange.bytes_out = out.len() as u64;
    let _ = write_all(
        stream,
        std::mem::take(&mut *out),
        worker.limits.idle_timeout,
    )
    .await;
    complete(worker, exchange, seen.as_deref(), peer, local);
}

/// Serves one request whose head is in `buf`: decides, answers or forwards, and records it.
/// Its write vectors come from the worker's pool and go back when it ends. A panic gets a
/// 500 (if nothing of another answer was sent yet) and closes the connection.
async fn serve_request(
    worker: &Rc<Worker>,
    stream: &mut Stream,
    buf: &mut ReadBuf,
    head: RequestHead,
    connection: &Connection,
) -> Next {
    let head = &head;
    let (peer, local) = (connection.peer, connection.local);
    let mut out = WriteBuf::take();
    let mut upstream_out = WriteBuf::take();
    // The request line, for the log if it panics.
    let mut request_line = WriteBuf::take();
    request_line.extend_from_slice(head.method.as_str().as_bytes());
    request_line.push(b' ');
    let target = head.target(buf.data());
    request_line.extend_from_slice(&target[..target.len().min(MAX_LOGGED_TARGET_BYTES)]);
    let seen = worker
        .records_details()
        .then(|| Seen::capture(head, buf.data(), worker.next_request_id()));
    let _in_flight = InFlight::enter(worker);
    let answered = Cell::new(false);
    let mut exchange = Exchange::new(Instant::now());
    let mut client = ClientSide {
        stream,
        buf,
        out: &mut out,
        upstream_out: &mut upstream_out,
        peer,
        peer_ip: &connection.peer_ip,
        local,
        certificate_dn: connection.certificate_dn.as_deref(),
        write_timeout: worker.limits.idle_timeout,
        answered: &answered,
        exchange: &mut exchange,
    };
    let handled = guarded("request", handle(worker, &mut client, head)).await;
    let Ok(next) = handled else {
        tracing::error!(
            peer = %peer,
            request = %String::from_utf8_lossy(&request_line),
            "the request above panicked; its connection is closed"
        );
        let sent = exchange.status;
        let answer = exchange.deny(Denial::Internal("internal gateway error"));
        if answered.get() {
            // The client got (part of) another answer, not this one.
            exchange.status = sent;
        } else {
            out.clear();
            answer.write_to(&mut out, head.is_head(), true);
            let response = std::mem::take(&mut *out);
            let _ = write_all(stream, response, worker.limits.idle_timeout).await;
        }
        complete(worker, exchange, seen.as_deref(), peer, local);
        return Next::Linger;
    };
    complete(worker, exchange, seen.as_deref(), peer, local);
    next
}

/// Completes the TLS handshake of a new connection within the head timeout. A failure is
/// counted, logged (rate-limited per address), audited as `connection_denied` and closes
/// the connection; a client that closes before saying anything is none of these.
async fn handshake(
    worker: &Worker,
    tcp: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    config: Arc<rustls::ServerConfig>,
) -> Option<(Stream, Option<String>)> {
    let accepting = TlsStream::accept(tcp, config);
    let error = match deadline::timeout(worker.limits.header_timeout, accepting).await {
        Ok(Ok(tls)) => {
            let dn = tls
                .peer_certificates()
                .and_then(|chain| chain.first())
                .and_then(|leaf| subject_dn(leaf));
            return Some((Stream::Tls(Box::new(tls)), dn));
        }
        Ok(Err(HandshakeError::Closed)) => return None,
        Ok(Err(e)) => e.to_string(),
        Err(_) => "handshake timed out".to_string(),
    };
    worker.tls_failures.record(peer.ip().to_canonical(), &error);
    tls_handshake_failed(worker, peer, local, &error);
    None
}

/// The longest request target kept for the log of a panicking request.
const MAX_LOGGED_TARGET_BYTES: usize = 1024;

/// Reads until a complete head is buffered, by `deadline` (slowloris). The connection was
/// readable (or had bytes) when this started.
async fn read_head(
    worker: &Worker,
    stream: &mut Stream,
    buf: &mut ReadBuf,
    deadline: Instant,
) -> HeadRead {
    let limits = &worker.limits;
    loop {
        if !buf.is_empty() {
            match parse_request_head(buf.data(), limits.max_header_bytes) {
                Ok(Some(head)) => return HeadRead::Head(head),
                Ok(None) => {}
                Err(e) => return HeadRead::Fault(e.into()),
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        match deadline::timeout(left, buf.read_more(stream)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return HeadRead::Closed,
            Ok(Ok(_)) => {}
            Err(_) => return HeadRead::Fault(ClientError::HeadTimeout.into()),
        }
    }
}

/// Decides and then answers or forwards one request: the rounds of its [`Exchange`], with
/// the IO each round asks for.
async fn handle(worker: &Rc<Worker>, client: &mut ClientSide<'_>, head: &RequestHead) -> Next {
    // The policy the request started with decides all of its rounds.
    let snapshot = worker.policy.current();
    let mut budget = BodyBudget::new(worker);
    let ip = client.peer.ip().to_canonical();
    #[cfg(feature = "fault-injection")]
    super::fault_injection::before_decision(head, client.buf.data());
    loop {
        let verdict = {
            let metadata = worker.metadata.load();
            let ctx = Context {
                snapshot: &snapshot,
                metadata: &metadata,
                peer: client.peer,
                local: client.local,
                certificate_dn: client.certificate_dn,
                gate: &worker.credentials,
                max_body_bytes: worker.limits.max_body_bytes,
                contexts: &worker.contexts,
                details: worker.records_details(),
                record_user: worker
                    .upstream_auth
                    .as_ref()
                    .is_some_and(|auth| auth.run_as_logged_user),
            };
            let cache = worker.credentials.verifier(snapshot.generation);
            client.exchange.step(&ctx, head, client.buf.data(), &cache)
        };
        match verdict {
            Verdict::Forward {
                target,
                body,
                contexts,
                ..
            } => {
                let body_in_query = client.exchange.body_in_query();
                return match client.exchange.outgoing(head, target, body) {
                    Ok(Outgoing::AsReceived(inspected, target)) => {
                        forward(worker, client, head, inspected, target, contexts).await
                    }
                    Ok(Outgoing::Rewritten(rewritten, inspected, target)) => {
                        if body_in_query {
                            // Sent from `inspected`, like a body read from the connection.
                            client.buf.consume(head.len);
                        }
                        let inspected = Some(inspected);
                        forward(worker, client, &rewritten, inspected, target, contexts).await
                    }
                    Err(e) => respond(worker, client, head, e.into(), !body_in_query).await,
                };
            }
            Verdict::Deny(denial) => {
                let body_read = client.exchange.body_was_read();
                return respond(worker, client, head, denial, body_read).await;
            }
            Verdict::Missing(missing) => {
                let body_read = client.exchange.body_was_read();
                client.exchange.context_missing = true;
                client.exchange.status = missing.status();
                let response = missing.response(head);
                return respond_without_body(worker, client, head, response, body_read).await;
            }
            Verdict::ReadBody => match read_body(worker, client, head, &mut budget).await {
                Ok(body) => client
                    .exchange
                    .body_read(body, worker.audit_wants_content()),
                Err(next) => return next,
            },
            Verdict::Ask(generation, ask) => {
                let (service_id, question) = (ask.service_id, ask.question.clone());
                match worker.credentials.ask(generation, ask, ip).await {
                    Ok(answer) => client.exchange.answered(service_id, question, answer),
                    Err(denial) => {
                        let body_read = client.exchange.body_was_read();
                        return respond(worker, client, head, denial, body_read).await;
                    }
                }
            }
            Verdict::Verify(generation, pending, user, password) => {
                let credentials = &worker.credentials;
                if credentials.accept_known(generation, pending.key_id, &user, &password) {
                    // Re-verified in the background; this request goes on at once.
                    let worker = Rc::clone(worker);
                    spawn_guarded("credential revalidation", async move {
                        let _ = worker
                            .credentials
                            .verify(generation, pending, user, password, ip)
                            .await;
                    });
                    continue;
                }
                let key_id = pending.key_id;
                match credentials
                    .verify(generation, pending, user, password, ip)
                    .await
                {
                    Ok(verdict) => client.exchange.verified(key_id, verdict),
                    Err(denial) => {
                        let body_read = client.exchange.body_was_read();
                        return respond(worker, client, head, denial, body_read).await;
                    }
                }
            }
        }
    }
}

/// Reads the whole request body (the ACL needs the indices it names), keeping it as received
/// for forwarding and as payload (de-chunked, inflated) for inspection. On failure the client
/// has been answered and the connection's fate is returned.
async fn read_body(
    worker: &Worker,
    client: &mut ClientSide<'_>,
    head: &RequestHead,
    budget: &mut BodyBudget<'_>,
) -> Result<Inspected, Next> {
    let max = worker.limits.max_body_bytes;
    if matches!(head.body, BodyFraming::Length(n) if n > max) {
        let denial = ClientError::BodyTooLarge.into();
        return Err(respond(worker, client, head, denial, false).await);
    }
    let head_bytes = client.buf.data()[..head.len].to_vec();
    client.buf.consume(head.len);
    client
        .continue_if_expected(head)
        .await
        .map_err(|_| Next::Close)?;
    let pace = BodyPace::new(&worker.limits, Instant::now());
    let mut body = BodyCollector::new(head.body, max);
    loop {
        let fed = match body.feed(client.buf.data()) {
            Ok(fed) => fed,
            Err(e) => return Err(answer_and_close(client, head, e.into()).await),
        };
        client.buf.consume(fed.consumed);
        if !budget.hold(body.held_bytes()) {
            return Err(answer_and_close(client, head, busy_buffering()).await);
        }
        if fed.done {
            break;
        }
        match super::body::fill(&mut body, &pace, client.buf, client.stream).await {
            Ok(_) => {}
            Err(BodyReadError::TooSlow) => {
                let denial = ClientError::BodyTimeout.into();
                return Err(answer_and_close(client, head, denial).await);
            }
            Err(BodyReadError::Closed) => return Err(Next::Close),
        }
    }
    client.exchange.bytes_in = body.received_bytes();
    let inspected = match body.finish(head, head_bytes) {
        Ok(inspected) => inspected,
        Err(denial) => return Err(respond(worker, client, head, denial, true).await),
    };
    if !budget.hold(inspected.held_bytes()) {
        return Err(respond(worker, client, head, busy_buffering(), true).await);
    }
    Ok(inspected)
}

fn busy_buffering() -> Denial {
    Denial::Busy {
        reason: "too many large bodies are being inspected on this worker; retry later",
        delay: None,
    }
}

/// Bytes of request bodies one worker holds for inspection, at most
/// `limits.max_buffered_body_bytes`; a request keeps its share until it is done.
pub struct BodyBudget<'w> {
    in_use: &'w Cell<u64>,
    limit: u64,
    held: u64,
}

impl<'w> BodyBudget<'w> {
    pub fn new(worker: &'w Worker) -> BodyBudget<'w> {
        BodyBudget {
            in_use: &worker.buffered_body_bytes,
            limit: worker.limits.max_buffered_body_bytes,
            held: 0,
        }
    }

    /// Grows (or shrinks) this request's share to `bytes`; false if that would exceed the
    /// worker's limit (the share stays as it was).
    fn hold(&mut self, bytes: u64) -> bool {
        let others = self.in_use.get() - self.held;
        if bytes > self.held && others + bytes > self.limit {
            return false;
        }
        self.in_use.set(others + bytes);
        self.held = bytes;
        true
    }
}

impl Drop for BodyBudget<'_> {
    fn drop(&mut self) {
        self.in_use.set(self.in_use.get() - self.held);
    }
}

/// Answers and closes (after a linger): the rest of the request cannot be read reliably.
async fn answer_and_close(client: &mut ClientSide<'_>, head: &RequestHead, denial: Denial) -> Next {
    let answer = client.exchange.deny(denial);
    answer.write_to(client.out, head.is_head(), true);
    let _ = client.flush().await;
    Next::Linger
}

/// Answers a request without forwarding it (after the denial's delay, if any). `body_read`
/// says its body was already read.
pub async fn respond(
    worker: &Worker,
    client: &mut ClientSide<'_>,
    head: &RequestHead,
    denial: Denial,
    body_read: bool,
) -> Next {
    if let Some(delay) = denial.delay() {
        monoio::time::sleep(delay).await;
    }
    let mut response = Vec::new();
    let answer = client.exchange.deny(denial);
    answer.write_to(&mut response, head.is_head(), false);
    respond_without_body(worker, client, head, ResponseBytes(response), body_read).await
}

/// An answer already written, with `Connection` still to decide.
pub struct ResponseBytes(pub Vec<u8>);

/// Answers a request whose body must not be forwarded. A small body is read and dropped to
/// keep the connection; otherwise the answer says `Connection: close` and the connection is
/// closed after a linger. `response` is a complete response without a `Connection` header.
pub async fn respond_without_body(
    worker: &Worker,
    client: &mut ClientSide<'_>,
    head: &RequestHead,
    response: ResponseBytes,
    body_read: bool,
) -> Next {
    let already = client.buf.len().saturating_sub(head.len) as u64;
    let discard = match head.body {
        _ if body_read => Some(0),
        BodyFraming::None => Some(0),
        BodyFraming::Length(n)
            if n <= DISCARD_BODY_BYTES && (!head.expect_continue || already >= n) =>
        {
            Some(n)
        }
        _ => None,
    };
    let keep_alive = head.keep_alive && discard.is_some() && !worker.draining.get();
    let mut response = response.0;
    if !keep_alive {
        // Insert `connection: close` before the blank line ending the head.
        if let Some(end) = response.windows(4).position(|w| w == b"\r\n\r\n") {
            response.splice(end + 2..end + 2, b"connection: close\r\n".iter().copied());
        }
    }
    client.out.extend_from_slice(&response);
    let result = client.flush().await;
    if !body_read {
        client.buf.consume(head.len);
    }
    if result.is_err() {
        return Next::Close;
    }
    let Some(mut remaining) = discard.filter(|_| keep_alive) else {
        return if head.body == BodyFraming::None || body_read {
            Next::Close
        } else {
            Next::Linger
        };
    };
    // A denied body trickling in is held to the same pace as any other.
    let pace = BodyPace::new(&worker.limits, Instant::now());
    let mut drained = 0;
    while remaining > 0 {
        if client.buf.is_empty() && pace.fill(client.buf, client.stream, drained).await.is_err() {
            return Next::Close;
        }
        let take = remaining.min(client.buf.len() as u64);
        client.buf.consume(take as usize);
        remaining -= take;
        drained += take;
    }
    Next::KeepAlive
}

#[cfg(test)]
mod tests {
    use super::{serve, RequestIds, Session};
    use std::mem::size_of;

    /// The size of what `f` returns, without calling it.
    fn size_of_output<A, R>(_: impl Fn(A) -> R) -> usize {
        size_of::<R>()
    }

    #[test]
    fn an_idle_connection_holds_a_small_task_and_session() {
        // Between requests a connection costs its task (this future, plus the runtime's task
        // header) and its session; with 10,000 idle keep-alive connections every byte here is
        // 10 kB (tuning/README.md, "Idle connections"). A request's state is boxed per request.
        let task = size_of_output(serve);
        let session = size_of::<Session>();
        assert!(task <= 320, "the connection's future grew to {task} bytes");
        assert!(session <= 256, "a session grew to {session} bytes");
    }

    #[test]
    fn request_ids_count_up_after_their_worker_prefix() {
        let ids = RequestIds::new(3);
        let first = ids.next();
        let (prefix, n) = first.rsplit_once('-').unwrap();
        assert!(prefix.ends_with("-3"), "{first}");
        assert_eq!(n, "0");
        for _ in 1..10 {
            ids.next();
        }
        assert_eq!(ids.next(), format!("{prefix}-10"));
    }
}
