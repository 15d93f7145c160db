//! Forwarding one allowed request: head and body up, response down, both streamed.
//!
//! Bodies are never buffered whole: each side's read buffer is written straight to the other
//! socket. Content-Length bodies are counted, chunked bodies are walked by the IO-free
//! decoder so that the exact end of the message is known, and the response is framed per
//! RFC 9112 §6.3. A pooled connection that turns out to be dead is retried once on a fresh
//! connection, but only for a bodiless idempotent request, so nothing is ever sent twice
//! that could change the cluster twice.

use super::buffer::{write_all, BodyPace, BodyReadError};
use super::client::{respond_without_body, ClientSide, ResponseBytes, Worker};
use super::decide::Inspected;
use super::upstream::UpstreamConn;
use crate::http::canned::Canned;
use crate::http::chunked::ChunkedDecoder;
use crate::http::request::{write_upstream_head, BodyFraming, RequestHead, Version};
use crate::http::response::{
    parse_response_head, write_client_head, ResponseFraming, ResponseHead,
};
use crate::http::{ClientError, Fault, Method, UpstreamError};
use monoio::net::TcpStream;
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

/// Why streaming a body stopped early.
enum BodyError {
    /// The client went away or stalled: nothing can be answered.
    ClientGone,
    /// The client broke the framing; answer with this and close.
    Client(ClientError),
    /// Writing to the node failed.
    Upstream,
}

/// Forwards an allowed request. `inspected` holds its head and body when the body was read
/// for the decision (then it is sent from there); `target` replaces the request target.
pub async fn forward(
    worker: &Rc<Worker>,
    client: &mut ClientSide<'_>,
    head: &RequestHead,
    inspected: Option<Inspected>,
    target: Option<String>,
) -> Next {
    let body_read = inspected.is_some();
    if let (BodyFraming::Length(n), false) = (head.body, body_read) {
        if n > worker.limits.max_body_bytes {
            return fail(
                worker,
                client,
                head,
                ClientError::BodyTooLarge.into(),
                false,
            )
            .await;
        }
    }
    let mut conn = match worker.upstreams.checkout().await {
        Ok(conn) => conn,
        Err(e) => return fail(worker, client, head, e.into(), body_read).await,
    };
    let host = worker.upstreams.authority(conn.node);
    // The connection's own buffer for upstream heads: no allocation per request.
    let mut upstream_head = std::mem::take(client.upstream_out);
    upstream_head.clear();
    let ip = client.peer_ip;
    let (mut body_left, buffered) = match inspected {
        Some(inspected) => {
            write_upstream_head(
                &mut upstream_head,
                &inspected.head,
                head,
                target.as_deref(),
                ip,
                host,
            );
            (0, Some(inspected.raw))
        }
        None => {
            write_upstream_head(
                &mut upstream_head,
                client.buf.data(),
                head,
                target.as_deref(),
                ip,
                host,
            );
            client.buf.consume(head.len);
            let length = match head.body {
                BodyFraming::Length(n) => n,
                _ => 0,
            };
            (length, None)
        }
    };
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
    let mut buffered = buffered.filter(|body| body.len() > COALESCE_BODY_BYTES);
    // Only reads are retried: the node may have run the request before it closed, and
    // `PUT /index` or `DELETE /index` twice is not the same as once.
    let retryable = conn.reused
        && head.body == BodyFraming::None
        && matches!(head.method, Method::Get | Method::Head | Method::Options);
    // Whether the client's body has left the client connection completely; if not, a failure
    // must close it (the rest of the body would otherwise be read as the next request).
    let mut body_done = body_read
        || match head.body {
            BodyFraming::None => true,
            BodyFraming::Length(_) => body_left == 0,
            BodyFraming::Chunked => false,
        };

    let write_timeout = Duration::from_millis(worker.limits.upstream_response_timeout_ms);
    let response = loop {
        let (sent, returned) = write_all(&mut conn.stream, upstream_head, write_timeout).await;
        upstream_head = returned;
        let outcome = match sent {
            // The head buffer is gone with the timed-out write: no retry.
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => Err(UpstreamError::Timeout),
            Err(_) => Err(UpstreamError::ClosedEarly),
            Ok(_) => {
                let sent_body = match buffered.take() {
                    Some(body) => {
                        let (result, _) = write_all(&mut conn.stream, body, write_timeout).await;
                        result.map_err(|_| BodyError::Upstream)
                    }
                    None if body_read => Ok(()),
                    None => send_body(worker, client, head, &mut conn.stream, body_left).await,
                };
                body_done |= sent_body.is_ok();
                if let Err(e) = sent_body {
                    return match e {
                        BodyError::ClientGone => Next::Close,
                        BodyError::Client(e) => answer(worker, client, head, e.into(), false).await,
                        BodyError::Upstream => {
                            let fault = UpstreamError::ClosedEarly.into();
                            answer(worker, client, head, fault, body_read).await
                        }
                    };
                }
                read_response_head(worker, &mut conn, head.is_head()).await
            }
        };
        match outcome {
            Ok(response) => break response,
            Err(UpstreamError::ClosedEarly) if retryable && conn.reused => {
                conn = match worker.upstreams.reconnect(conn.node).await {
                    Ok(fresh) => fresh,
                    Err(e) => return answer(worker, client, head, e.into(), body_done).await,
                };
            }
            Err(e) => return answer(worker, client, head, e.into(), body_done).await,
        }
    };
    *client.upstream_out = upstream_head;
    relay_response(worker, client, head, conn, response).await
}

/// Streams the rest of the request body to the node (after `100 Continue` if expected).
async fn send_body(
    worker: &Worker,
    client: &mut ClientSide<'_>,
    head: &RequestHead,
    upstream: &mut TcpStream,
    length_left: u64,
) -> Result<(), BodyError> {
    if head.body == BodyFraming::None {
        return Ok(());
    }
    client
        .continue_if_expected(head)
        .await
        .map_err(|_| BodyError::ClientGone)?;
    let pace = BodyPace::new(&worker.limits, Instant::now());
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
                    .write_prefix(upstream, take, client.write_timeout)
                    .await
                    .map_err(|_| BodyError::Upstream)?;
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
                    .write_prefix(upstream, progress.consumed, client.write_timeout)
                    .await
                    .map_err(|_| BodyError::Upstream)?;
                if progress.done {
                    return Ok(());
                }
            }
        }
    }
}

/// Reads the final response head, passing interim (1xx) responses on to HTTP/1.1 clients.
async fn read_response_head(
    worker: &Worker,
    conn: &mut UpstreamConn,
    request_was_head: bool,
) -> Result<ResponseHead, UpstreamError> {
    let timeout = Duration::from_millis(worker.limits.upstream_response_timeout_ms);
    loop {
        if !conn.buf.is_empty() {
            if let Some(head) =
                parse_response_head(conn.buf.data(), MAX_RESPONSE_HEAD_BYTES, request_was_head)?
            {
                if !head.is_interim() {
                    return Ok(head);
                }
                // We answered `Expect` ourselves and never ask for other 1xx; drop them.
                conn.buf.consume(head.len);
                continue;
            }
        }
        let nothing_yet = conn.buf.is_empty();
        match conn.buf.fill(&mut conn.stream, timeout).await {
            Ok(0) if nothing_yet => return Err(UpstreamError::ClosedEarly),
            Ok(0) => return Err(UpstreamError::MalformedResponse),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                return Err(UpstreamError::Timeout)
            }
            Err(_) => return Err(UpstreamError::ClosedEarly),
        }
    }
}

/// Sends the response head and streams its body to the client.
async fn relay_response(
    worker: &Rc<Worker>,
    client: &mut ClientSide<'_>,
    request: &RequestHead,
    mut conn: UpstreamConn,
    response: ResponseHead,
) -> Next {
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
    let timeout = Duration::from_millis(worker.limits.upstream_response_timeout_ms);
    let streamed = match response.framing {
        ResponseFraming::None => flush(client).await,
        ResponseFraming::Length(n) => relay_length(client, &mut conn, n, timeout).await,
        ResponseFraming::Chunked => relay_chunked(client, &mut conn, dechunk, timeout).await,
        ResponseFraming::UntilClose => relay_until_close(client, &mut conn, timeout).await,
    };
    match streamed {
        Ok(()) if response.reusable => worker.upstreams.checkin(conn),
        Ok(()) => {}
        Err(()) => return Next::Close,
    }
    if close {
        Next::Close
    } else {
        Next::KeepAlive
    }
}

/// Writes whatever is in `client.out`.
async fn flush(client: &mut ClientSide<'_>) -> Result<(), ()> {
    client.flush().await.map_err(|_| ())
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
) -> Result<(), ()> {
    let mut left = length - coalesce(client, conn, length);
    flush(client).await?;
    while left > 0 {
        if conn.buf.is_empty() {
            match conn.buf.fill(&mut conn.stream, timeout).await {
                Ok(n) if n > 0 => {}
                _ => return Err(()),
            }
        }
        let take = left.min(conn.buf.len() as u64) as usize;
        conn.buf
            .write_prefix(client.stream, take, client.write_timeout)
            .await
            .map_err(|_| ())?;
        left -= take as u64;
    }
    Ok(())
}

async fn relay_chunked(
    client: &mut ClientSide<'_>,
    conn: &mut UpstreamConn,
    dechunk: bool,
    timeout: Duration,
) -> Result<(), ()> {
    let mut decoder = ChunkedDecoder::new();
    loop {
        if !conn.buf.is_empty() {
            let progress = if dechunk {
                // HTTP/1.0 clients do not know chunked: copy out only the data.
                let out = &mut *client.out;
                let progress = decoder.decode(conn.buf.data(), |data| out.extend_from_slice(data));
                let progress = progress.map_err(|_| ())?;
                conn.buf.consume(progress.consumed);
                flush(client).await?;
                progress
            } else {
                let progress = decoder.decode(conn.buf.data(), |_| {}).map_err(|_| ())?;
                if client.out.len() + progress.consumed <= COALESCE_BODY_BYTES {
                    client
                        .out
                        .extend_from_slice(&conn.buf.data()[..progress.consumed]);
                    conn.buf.consume(progress.consumed);
                    flush(client).await?;
                } else {
                    flush(client).await?;
                    conn.buf
                        .write_prefix(client.stream, progress.consumed, client.write_timeout)
                        .await
                        .map_err(|_| ())?;
                }
                progress
            };
            if progress.done {
                return Ok(());
            }
        } else {
            flush(client).await?;
        }
        match conn.buf.fill(&mut conn.stream, timeout).await {
            Ok(n) if n > 0 => {}
            _ => return Err(()),
        }
    }
}

async fn relay_until_close(
    client: &mut ClientSide<'_>,
    conn: &mut UpstreamConn,
    timeout: Duration,
) -> Result<(), ()> {
    flush(client).await?;
    loop {
        if !conn.buf.is_empty() {
            let all = conn.buf.len();
            conn.buf
                .write_prefix(client.stream, all, client.write_timeout)
                .await
                .map_err(|_| ())?;
        }
        match conn.buf.fill(&mut conn.stream, timeout).await {
            Ok(0) => return Ok(()),
            Ok(_) => {}
            Err(_) => return Err(()),
        }
    }
}

/// Answers a fault before anything was forwarded.
async fn fail(
    worker: &Worker,
    client: &mut ClientSide<'_>,
    head: &RequestHead,
    fault: Fault,
    body_read: bool,
) -> Next {
    let mut response = Vec::new();
    Canned::for_fault(fault, false, head.is_head()).write_to(&mut response);
    respond_without_body(worker, client, head, ResponseBytes(response), body_read).await
}

/// Answers a fault once the request body was handled: `body_done` means the whole body was
/// consumed, so the connection can stay open; otherwise it is closed after a linger.
async fn answer(
    worker: &Worker,
    client: &mut ClientSide<'_>,
    head: &RequestHead,
    fault_: Fault,
    body_done: bool,
) -> Next {
    let keep_alive = body_done && head.keep_alive && !worker.draining.get();
    Canned::for_fault(fault_, !keep_alive, head.is_head()).write_to(client.out);
    if flush(client).await.is_err() {
        return Next::Close;
    }
    match (keep_alive, body_done) {
        (true, _) => Next::KeepAlive,
        (false, true) => Next::Close,
        (false, false) => Next::Linger,
    }
}
