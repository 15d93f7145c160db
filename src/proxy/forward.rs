//! Forwarding one allowed request: head and body up, response down, both streamed.
//!
//! Bodies are never buffered whole: each side's read buffer is written straight to the other
//! socket. Content-Length bodies are counted, chunked bodies are walked by the IO-free
//! decoder so that the exact end of the message is known, and the response is framed per
//! RFC 9112 §6.3.
//!
//! When the node fails, the client gets an honest answer and nothing runs twice that could
//! change the cluster twice:
//!
//! | the failure | what happens |
//! |---|---|
//! | connect refused or timed out (nothing sent) | the node is marked down and the next healthy node is tried, for every method (`upstream::Upstreams::checkout`) |
//! | connection closed or reset after the request went out, before any response byte, for `GET`/`HEAD`/`OPTIONS` without a body | sent once more, on a fresh connection to another healthy node, else to the same node if the failed connection came from the pool (it may only have been stale); whatever that attempt gets is final |
//! | the same for `POST`/`PUT`/`DELETE`/`PATCH` or any request with a body | 502 `bad_gateway_exception`, never sent again: the node may have run it |
//! | no response within `upstream_response_timeout_ms` (or the node stops reading) | 504 `gateway_timeout_exception`, never sent again |
//! | any response byte arrived, then a failure: garbage or an over-long head, bad chunk framing, a body shorter than its Content-Length, a close, reset or stall | never sent again; 502 (504 for a stall) if nothing reached the client yet, else the client connection is reset |
//!
//! `DELETE` is idempotent in RFC 9110 §9.2.2, but a repeated `DELETE /index` can remove an
//! index created in between, so only reads are repeated. A reset (SO_LINGER 0), not a FIN,
//! ends a client connection whose response was cut: with a close-delimited body (an HTTP/1.0
//! client, or a node that sends no length) a FIN would make the cut response look complete.

use super::body;
use super::buffer::{write_all, BodyPace, BodyReadError};
use super::client::{respond, ClientSide, Worker};
use super::decide::Inspected;
use super::denial::Denial;
use super::exchange::UpstreamLeg;
use super::search_contexts::AfterResponse;
use super::splice::{self, SpliceError};
use super::stream::Stream;
use super::upstream::UpstreamConn;
use crate::http::chunked::ChunkedDecoder;
use crate::http::request::{
    write_upstream_head, BodyFraming, RequestHead, RunAs, UpstreamIdentity, Version,
};
use crate::http::response::{
    parse_response_head, write_client_head, ResponseFraming, ResponseHead,
};
use crate::http::{ClientError, Method, UpstreamError};
use crate::metrics::UpstreamFailure;
use monoio::net::TcpStream;
use std::io;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// What the connection does after an exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    KeepAlive,
    Close,
    /// Close after draining what the client may still be sending.
    Linger,
}

/// Largest upstream response head accepted (Elasticsearch can send long `Warning` headers).
const MAX_RESPONSE_HEAD_BYTES: usize = 64 * 1024;
/// Body bytes already buffered up to this size go out in the same write as the head.
const COALESCE_BODY_BYTES: usize = 16 * 1024;

/// Whether a request may be sent a second time after its connection failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Replay {
    /// It may change the cluster (or carries a body): sent at most once.
    Never,
    /// A bodiless read: once more if no byte of a response arrived.
    Once,
}

impl Replay {
    fn for_request(head: &RequestHead) -> Replay {
        match (head.method, head.body) {
            (Method::Get | Method::Head | Method::Options, BodyFraming::None) => Replay::Once,
            _ => Replay::Never,
        }
    }
}

/// How one attempt at a node failed.
#[derive(Debug, Clone, Copy)]
struct Failed {
    error: UpstreamError,
    /// Some byte of a response had arrived: the node took the request.
    response_started: bool,
}

impl Failed {
    fn before_response(error: UpstreamError) -> Failed {
        Failed {
            error,
            response_started: false,
        }
    }

    /// A connection that went away before answering may only have been stale, or its node
    /// may have died; a slow node is still working on the request, so a timeout is final.
    fn may_replay(self) -> bool {
        !self.response_started && self.error == UpstreamError::ClosedEarly
    }

    fn metric_cause(self) -> UpstreamFailure {
        match self.error {
            UpstreamError::Timeout => UpstreamFailure::Timeout,
            UpstreamError::MalformedResponse => UpstreamFailure::BadResponse,
            UpstreamError::Tls => UpstreamFailure::Tls,
            UpstreamError::Unreachable | UpstreamError::Unavailable => UpstreamFailure::Connect,
            UpstreamError::ClosedEarly if self.response_started => UpstreamFailure::Cut,
            UpstreamError::ClosedEarly => UpstreamFailure::ClosedEarly,
        }
    }
}

/// Why streaming a request body stopped early.
enum BodyError {
    /// The client went away or stalled: nothing can be answered.
    ClientGone,
    /// The client broke the framing; answer with this and close.
    Client(ClientError),
    /// Writing to the node failed (it closed, reset or stopped reading).
    Upstream(UpstreamError),
}

/// Why relaying a response stopped early.
#[derive(Debug, Clone, Copy)]
enum Broken {
    /// Writing to the client failed: it went away or stopped reading.
    Client,
    /// The node closed, reset or stalled, or broke the framing.
    Upstream(UpstreamError),
}

/// Forwards an allowed request. `inspected` holds its head and body when the body was read
/// for the decision (then it is sent from there); `target` replaces the request target;
/// `contexts` is what the response tells the search context store.
pub async fn forward(
    worker: &Rc<Worker>,
    client: &mut ClientSide<'_>,
    head: &RequestHead,
    inspected: Option<Inspected>,
    target: Option<String>,
    contexts: AfterResponse,
) -> Next {
    let head_buf = inspected
        .as_ref()
        .map_or(client.buf.data(), |i| &i.head[..]);
    let identity = contexts.upstream_head(head, head_buf);
    let head = identity.as_ref().unwrap_or(head);
    let body_read = inspected.is_some();
    if let (BodyFraming::Length(n), false) = (head.body, body_read) {
        if n > worker.limits.max_body_bytes {
            return respond(
                worker,
                client,
                head,
                ClientError::BodyTooLarge.into(),
                false,
            )
            .await;
        }
    }
    // The user the node runs the request as, when the gateway authenticates as itself.
    let run_as = match &worker.upstream_auth {
        Some(auth) if auth.run_as_logged_user => client.exchange.decided.user.clone(),
        _ => None,
    };
    if run_as
        .as_deref()
        .is_some_and(|user| RunAs::new(user).is_none())
    {
        let denial = Denial::bad_request(
            "the user name cannot be sent to the cluster as es-security-runas-user",
        );
        return respond(worker, client, head, denial, body_read).await;
    }
    if !body_read {
        if let Some(next) = preread_small_body(worker, client, head).await {
            return next;
        }
    }
    let upstreams = &worker.upstreams;
    let mut conn = match upstreams.checkout().await {
        Ok(conn) => conn,
        Err(e) => return respond(worker, client, head, e.into(), body_read).await,
    };
    client.exchange.upstream = Some(UpstreamLeg {
        node: conn.node,
        sent: Instant::now(),
        answered: None,
    });
    let (inspected_head, buffered) = match inspected {
        Some(inspected) => {
            if let Some(decoded) = inspected.decoded {
                body::give_back(decoded, worker.limits.max_buffered_body_bytes);
            }
            (Some(inspected.head), Some(inspected.raw))
        }
        None => (None, None),
    };
    let mut replay = Replay::for_request(head);
    let ip = client.peer_ip;
    // The connection's own buffer for upstream heads: no allocation per request.
    let gateway_identity = worker
        .upstream_auth
        .as_deref()
        .map(|auth| UpstreamIdentity {
            authorization: &auth.authorization,
            run_as: run_as.as_deref().and_then(RunAs::new),
        });
    let mut upstream_head = std::mem::take(client.upstream_out);
    upstream_head.clear();
    write_upstream_head(
        &mut upstream_head,
        inspected_head.as_deref().unwrap_or(client.buf.data()),
        head,
        target.as_deref(),
        ip,
        upstreams.authority(conn.node),
        gateway_identity,
    );
    // A request that may be sent again keeps its head in the client's buffer until it is
    // done (it has no body behind it), so that it can be written again for another node.
    let head_in_client_buf = !body_read && replay == Replay::Once;
    let mut body_left = 0;
    if !body_read && replay == Replay::Never {
        client.buf.consume(head.len);
        if let BodyFraming::Length(n) = head.body {
            body_left = n;
        }
    }
    // A small body goes out in the same write as the head.
    match &buffered {
        Some(body) if body.len() <= COALESCE_BODY_BYTES => upstream_head.extend_from_slice(body),
        Some(_) => {}
        None if body_left <= COALESCE_BODY_BYTES as u64 => {
            let first = (body_left as usize).min(client.buf.len());
            upstream_head.extend_from_slice(&client.buf.data()[..first]);
            client.buf.consume(first);
            body_left -= first as u64;
        }
        None => {}
    }
    let mut buffered = match buffered {
        Some(small) if small.len() <= COALESCE_BODY_BYTES => {
            body::give_back(small, worker.limits.max_buffered_body_bytes);
            None
        }
        buffered => buffered,
    };
    // Whether the client's body has left the client connection completely; if not, a failure
    // must close it (the rest of the body would otherwise be read as the next request).
    let mut body_done = body_read
        || match head.body {
            BodyFraming::None => true,
            BodyFraming::Length(_) => body_left == 0,
            BodyFraming::Chunked => false,
        };

    let write_timeout = worker.limits.upstream_response_timeout;
    let response = loop {
        let (sent, returned) = write_all(&mut conn.stream, upstream_head, write_timeout).await;
        upstream_head = returned;
        let outcome = match sent {
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                Err(Failed::before_response(UpstreamError::Timeout))
            }
            Err(_) => Err(Failed::before_response(UpstreamError::ClosedEarly)),
            Ok(_) => {
                let sent_body = match buffered.take() {
                    Some(raw) => {
                        let (result, raw) = write_all(&mut conn.stream, raw, write_timeout).await;
                        body::give_back(raw, worker.limits.max_buffered_body_bytes);
                        result.map_err(|e| BodyError::Upstream(upstream_error(&e)))
                    }
                    None if body_read => Ok(()),
                    None => send_body(worker, client, head, &mut conn.stream, body_left).await,
                };
                body_done |= sent_body.is_ok();
                if let Err(e) = sent_body {
                    return match e {
                        BodyError::ClientGone => Next::Close,
                        BodyError::Client(e) => answer(worker, client, head, e.into(), false).await,
                        BodyError::Upstream(e) => {
                            answer(worker, client, head, e.into(), body_read).await
                        }
                    };
                }
                read_response_head(worker, &mut conn, head.is_head()).await
            }
        };
        let failed = match outcome {
            Ok(response) => break response,
            Err(failed) => failed,
        };
        worker
            .metrics
            .upstream_failure(conn.node, failed.metric_cause());
        if replay == Replay::Once && failed.may_replay() {
            replay = Replay::Never;
            if let Some(fresh) = upstreams.replay_connection(conn.node, conn.reused).await {
                conn = fresh;
                if let Some(leg) = &mut client.exchange.upstream {
                    leg.node = conn.node;
                }
                // A timed-out write takes the buffer with it, but a timeout is never replayed.
                upstream_head.clear();
                write_upstream_head(
                    &mut upstream_head,
                    inspected_head.as_deref().unwrap_or(client.buf.data()),
                    head,
                    target.as_deref(),
                    ip,
                    upstreams.authority(conn.node),
                    gateway_identity,
                );
                continue;
            }
        }
        if head_in_client_buf {
            client.buf.consume(head.len);
        }
        return answer(worker, client, head, failed.error.into(), body_done).await;
    };
    if head_in_client_buf {
        client.buf.consume(head.len);
    }
    if let Some(leg) = &mut client.exchange.upstream {
        leg.answered = Some(Instant::now());
    }
    client.exchange.status = response.status;
    *client.upstream_out = upstream_head;
    relay_response(worker, client, head, conn, response, &contexts).await
}

/// Streams the rest of the request body to the node (after `100 Continue` if expected). A
/// node that stops reading it for `upstream_response_timeout_ms` is as slow as one that does
/// not answer.
async fn send_body(
    worker: &Worker,
    client: &mut ClientSide<'_>,
    head: &RequestHead,
    upstream: &mut Stream,
    length_left: u64,
) -> Result<(), BodyError> {
    // Nothing left: no body, or a small one that went out with the head.
    if head.body == BodyFraming::None
        || matches!(head.body, BodyFraming::Length(_) if length_left == 0)
    {
        return Ok(());
    }
    client
        .continue_if_expected(head)
        .await
        .map_err(|_| BodyError::ClientGone)?;
    let pace = BodyPace::new(&worker.limits, Instant::now());
    let upstream_timeout = worker.limits.upstream_response_timeout;
    let mut received = 0;
    let mut fill = async |client: &mut ClientSide<'_>| -> Result<(), BodyError> {
        match pace.fill(client.buf, client.stream, received).await {
            Ok(n) => {
                received += n as u64;
                Ok(())
            }
            Err(BodyReadError::TooSlow) => Err(BodyError::Client(ClientError::BodyTimeout)),
            Err(BodyReadError::Closed) => Err(BodyError::ClientGone),
        }
    };
    match head.body {
        BodyFraming::None => Ok(()),
        BodyFraming::Length(_) => {
            let mut left = length_left;
            while left > 0 {
                if client.buf.is_empty() {
                    fill(client).await?;
                }
                let take = left.min(client.buf.len() as u64) as usize;
                client
                    .buf
                    .write_prefix(upstream, take, upstream_timeout)
                    .await
                    .map_err(|e| BodyError::Upstream(upstream_error(&e)))?;
                left -= take as u64;
            }
            Ok(())
        }
        BodyFraming::Chunked => {
            let mut decoder = ChunkedDecoder::new();
            loop {
                if client.buf.is_empty() {
                    fill(client).await?;
                }
                let progress = decoder
                    .decode(client.buf.data(), |_| {})
                    .map_err(BodyError::Client)?;
                if decoder.data_bytes() > worker.limits.max_body_bytes {
                    return Err(BodyError::Client(ClientError::BodyTooLarge));
                }
                client
                    .buf
                    .write_prefix(upstream, progress.consumed, upstream_timeout)
                    .await
                    .map_err(|e| BodyError::Upstream(upstream_error(&e)))?;
                if progress.done {
                    return Ok(());
                }
            }
        }
    }
}

/// Reads the final response head, dropping interim (1xx) responses.
async fn read_response_head(
    worker: &Worker,
    conn: &mut UpstreamConn,
    request_was_head: bool,
) -> Result<ResponseHead, Failed> {
    let timeout = worker.limits.upstream_response_timeout;
    // Set by the first byte, interim responses included: from then on the node has taken
    // the request and it is never sent again.
    let mut response_started = false;
    loop {
        if !conn.buf.is_empty() {
            response_started = true;
            let parsed =
                parse_response_head(conn.buf.data(), MAX_RESPONSE_HEAD_BYTES, request_was_head);
            match parsed {
                Ok(Some(head)) if !head.is_interim() => return Ok(head),
                // We answered `Expect` ourselves and never ask for other 1xx; drop them.
                Ok(Some(head)) => {
                    conn.buf.consume(head.len);
                    continue;
                }
                Ok(None) => {}
                Err(error) => {
                    return Err(Failed {
                        error,
                        response_started,
                    })
                }
            }
        }
        let error = match conn.buf.fill(&mut conn.stream, timeout).await {
            Ok(0) if conn.buf.is_empty() => UpstreamError::ClosedEarly,
            // A head cut short.
            Ok(0) => UpstreamError::MalformedResponse,
            Ok(_) => continue,
            Err(e) => upstream_error(&e),
        };
        return Err(Failed {
            error,
            response_started,
        });
    }
}

/// What a failed read from or write to the node means for the client.
fn upstream_error(e: &io::Error) -> UpstreamError {
    if e.kind() == io::ErrorKind::TimedOut {
        UpstreamError::Timeout
    } else {
        UpstreamError::ClosedEarly
    }
}

/// Sends the response head and streams its body to the client.
async fn relay_response(
    worker: &Rc<Worker>,
    client: &mut ClientSide<'_>,
    request: &RequestHead,
    mut conn: UpstreamConn,
    response: ResponseHead,
    contexts: &AfterResponse,
) -> Next {
    let timeout = worker.limits.upstream_response_timeout;
    if let Err(error) = contexts
        .observe(&worker.contexts, &mut conn, &response, timeout)
        .await
    {
        // Nothing reached the client yet: it gets an honest error.
        return answer(worker, client, request, error.into(), true).await;
    }
    let http10 = request.version == Version::Http10;
    let dechunk = response.framing == ResponseFraming::Chunked && http10;
    let close = !request.keep_alive
        || worker.draining.get()
        || response.framing == ResponseFraming::UntilClose
        || dechunk;
    let chunked_to_client = response.framing == ResponseFraming::Chunked && !http10;
    write_client_head(
        client.out,
        conn.buf.data(),
        &response,
        chunked_to_client,
        close,
        http10 && !close,
    );
    conn.buf.consume(response.len);
    let conn_node = conn.node;
    let streamed = match response.framing {
        ResponseFraming::None => flush(client).await,
        ResponseFraming::Length(n) => relay_length(client, &mut conn, n, timeout).await,
        ResponseFraming::Chunked => relay_chunked(client, &mut conn, dechunk, timeout).await,
        ResponseFraming::UntilClose => relay_until_close(client, &mut conn, timeout).await,
    };
    match streamed {
        Ok(()) if response.reusable => worker.upstreams.checkin(conn),
        Ok(()) => {}
        Err(Broken::Client) => return Next::Close,
        Err(Broken::Upstream(error)) => {
            let cause = Failed {
                error,
                response_started: true,
            };
            worker
                .metrics
                .upstream_failure(conn_node, cause.metric_cause());
            if !client.answered.get() {
                // The head never left `out`: the client gets an honest error instead, and
                // the request was read completely, so its connection can stay.
                client.out.clear();
                return answer(worker, client, request, error.into(), true).await;
            }
            client.exchange.denial = Some(error.into());
            abort(client.stream.tcp());
            return Next::Close;
        }
    }
    if close {
        Next::Close
    } else {
        Next::KeepAlive
    }
}

/// Makes the coming close of a client connection a reset (RST) instead of a FIN: part of a
/// response went out and the rest never will, and a FIN would end a close-delimited
/// response as if it were complete (RFC 9112 §6.3 rule 8). The caller closes at once.
fn abort(stream: &TcpStream) {
    use nix::sys::socket::{setsockopt, sockopt::Linger};
    let reset = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // nix 0.26 takes the raw descriptor; `stream` owns it and outlives this call.
    if let Err(e) = setsockopt(stream.as_raw_fd(), Linger, &reset) {
        tracing::warn!(error = %e, "could not arm a reset on a cut client connection");
    }
}

/// Writes whatever is in `client.out`.
async fn flush(client: &mut ClientSide<'_>) -> Result<(), Broken> {
    client.flush().await.map_err(|_| Broken::Client)
}

/// Reads more of the response body; running out before its end is the node's failure.
async fn fill_body(conn: &mut UpstreamConn, timeout: Duration) -> Result<(), Broken> {
    match conn.buf.fill(&mut conn.stream, timeout).await {
        Ok(0) => Err(Broken::Upstream(UpstreamError::ClosedEarly)),
        Ok(_) => Ok(()),
        Err(e) => Err(Broken::Upstream(upstream_error(&e))),
    }
}

/// Moves up to `limit` buffered body bytes behind the head when they are few, so that a
/// small response leaves in one write.
fn coalesce(client: &mut ClientSide<'_>, conn: &mut UpstreamConn, limit: u64) -> u64 {
    let take = (conn.buf.len() as u64).min(limit);
    if take as usize <= COALESCE_BODY_BYTES {
        client
            .out
            .extend_from_slice(&conn.buf.data()[..take as usize]);
        conn.buf.consume(take as usize);
        take
    } else {
        0
    }
}

async fn relay_length(
    client: &mut ClientSide<'_>,
    conn: &mut UpstreamConn,
    length: u64,
    timeout: Duration,
) -> Result<(), Broken> {
    let mut left = length - coalesce(client, conn, length);
    flush(client).await?;
    let plain = matches!(
        (&conn.stream, &*client.stream),
        (Stream::Plain(_), Stream::Plain(_))
    );
    if length >= splice::SPLICE_MIN_BYTES && plain && splice::available() {
        // What the node's buffer holds already goes first; the rest is spliced.
        let buffered = left.min(conn.buf.len() as u64) as usize;
        write_buffered(client, conn, buffered).await?;
        left -= buffered as u64;
        if let (Stream::Plain(upstream), Stream::Plain(downstream), true) =
            (&mut conn.stream, &mut *client.stream, left > 0)
        {
            let mut moved = 0;
            let write_timeout = client.write_timeout;
            let spliced = splice::relay(
                upstream,
                downstream,
                left,
                timeout,
                write_timeout,
                &mut moved,
            )
            .await;
            client.exchange.bytes_out += moved;
            match spliced {
                Ok(()) => return Ok(()),
                // Nothing moved: copied below.
                Err(SpliceError::Unavailable) => {}
                Err(SpliceError::Client) => return Err(Broken::Client),
                Err(SpliceError::Upstream(error)) => return Err(Broken::Upstream(error)),
            }
        }
    }
    while left > 0 {
        if conn.buf.is_empty() {
            fill_body(conn, timeout).await?;
        }
        let take = left.min(conn.buf.len() as u64) as usize;
        write_buffered(client, conn, take).await?;
        left -= take as u64;
    }
    Ok(())
}

/// Writes the first `n` bytes of the node connection's buffer to the client.
async fn write_buffered(
    client: &mut ClientSide<'_>,
    conn: &mut UpstreamConn,
    n: usize,
) -> Result<(), Broken> {
    if n == 0 {
        return Ok(());
    }
    conn.buf
        .write_prefix(client.stream, n, client.write_timeout)
        .await
        .map_err(|_| Broken::Client)?;
    client.exchange.bytes_out += n as u64;
    Ok(())
}

async fn relay_chunked(
    client: &mut ClientSide<'_>,
    conn: &mut UpstreamConn,
    dechunk: bool,
    timeout: Duration,
) -> Result<(), Broken> {
    let bad_framing = |_| Broken::Upstream(UpstreamError::MalformedResponse);
    let mut decoder = ChunkedDecoder::new();
    loop {
        if !conn.buf.is_empty() {
            let progress = if dechunk {
                // HTTP/1.0 clients do not know chunked: copy out only the data.
                let out = &mut *client.out;
                let progress = decoder.decode(conn.buf.data(), |data| out.extend_from_slice(data));
                let progress = progress.map_err(bad_framing)?;
                conn.buf.consume(progress.consumed);
                flush(client).await?;
                progress
            } else {
                let progress = decoder
                    .decode(conn.buf.data(), |_| {})
                    .map_err(bad_framing)?;
                if client.out.len() + progress.consumed <= COALESCE_BODY_BYTES {
                    client
                        .out
                        .extend_from_slice(&conn.buf.data()[..progress.consumed]);
                    conn.buf.consume(progress.consumed);
                    flush(client).await?;
                } else {
                    flush(client).await?;
                    write_buffered(client, conn, progress.consumed).await?;
                }
                progress
            };
            if progress.done {
                return Ok(());
            }
        } else {
            flush(client).await?;
        }
        fill_body(conn, timeout).await?;
    }
}

async fn relay_until_close(
    client: &mut ClientSide<'_>,
    conn: &mut UpstreamConn,
    timeout: Duration,
) -> Result<(), Broken> {
    flush(client).await?;
    loop {
        let all = conn.buf.len();
        write_buffered(client, conn, all).await?;
        // Only a clean close ends this body; a reset or a stall cuts it.
        match conn.buf.fill(&mut conn.stream, timeout).await {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(e) => return Err(Broken::Upstream(upstream_error(&e))),
        }
    }
}

/// Answers a fault once the request body was handled: `body_done` means the whole body was
/// consumed, so the connection can stay open; otherwise it is closed after a linger.
/// A `Content-Length` body up to this size is read before a node connection is taken.
const PREREAD_BODY_BYTES: u64 = COALESCE_BODY_BYTES as u64;

/// Reads a small body completely (at the body pace) before the request takes a connection to
/// a node: a client trickling it then holds only its own connection, never one of the node's.
/// `Some` when the request ended here (too slow: 408; the client went away).
async fn preread_small_body(
    worker: &Worker,
    client: &mut ClientSide<'_>,
    head: &RequestHead,
) -> Option<Next> {
    let BodyFraming::Length(n) = head.body else {
        return None;
    };
    let whole = head.len as u64 + n;
    if n > PREREAD_BODY_BYTES || client.buf.len() as u64 >= whole {
        return None;
    }
    if head.expect_continue && client.buf.len() == head.len {
        // The client waits for this before it sends the body (RFC 9110 §10.1.1).
        if client.send_continue().await.is_err() {
            return Some(Next::Close);
        }
    }
    let pace = BodyPace::new(&worker.limits, Instant::now());
    while (client.buf.len() as u64) < whole {
        let received = (client.buf.len() - head.len) as u64;
        match pace.fill(client.buf, client.stream, received).await {
            Ok(_) => {}
            Err(BodyReadError::TooSlow) => {
                let fault = ClientError::BodyTimeout.into();
                return Some(answer(worker, client, head, fault, false).await);
            }
            Err(BodyReadError::Closed) => return Some(Next::Close),
        }
    }
    None
}

async fn answer(
    worker: &Worker,
    client: &mut ClientSide<'_>,
    head: &RequestHead,
    denial: Denial,
    body_done: bool,
) -> Next {
    let keep_alive = body_done && head.keep_alive && !worker.draining.get();
    let answer = client.exchange.deny(denial);
    answer.write_to(client.out, head.is_head(), !keep_alive);
    if flush(client).await.is_err() {
        return Next::Close;
    }
    match (keep_alive, body_done) {
        (true, _) => Next::KeepAlive,
        (false, true) => Next::Close,
        (false, false) => Next::Linger,
    }
}
