//! The one point where a request's outcome is recorded: metrics always, the audit trail and
//! the access log when they are on. Called once per request by `client::serve` (a panic
//! included), and for connection events by the accept loop.
//!
//! ```text
//! Exchange (+ Seen, captured at the head when details are recorded)
//!   ├▶ metrics: outcome, status, action class, gateway and upstream time, bytes
//!   ├▶ audit::Recorder::record(Event)   never blocks: a full queue drops and counts
//!   └▶ access log: one line
//! ```

use super::client::Worker;
use super::exchange::Exchange;
use crate::audit::{BlocksHistory, Event, EventType, FinalState, RequestRecord, SinkFilter};
use crate::http::request::RequestHead;
use crate::http::Method;
use crate::metrics::{ActionClass, Outcome};
use crate::snapshot::Snapshot;
use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The header that carries a correlation id across systems (ReadonlyREST's).
const CORRELATION_HEADER: &str = "x-ror-correlation-id";
/// The longest request target kept for the audit trail and the access log.
const MAX_RECORDED_TARGET_BYTES: usize = 4096;

/// What the audit trail and the access log need from the request head, copied before the
/// connection's buffer moves on (only when they are on). Shared with the audit event, which
/// takes a reference instead of copies.
#[derive(Debug)]
pub struct Seen {
    pub request: Arc<RequestRecord>,
}

/// The header fields whose values are kept; of every other field only the name is.
#[derive(Default)]
struct KeptValues {
    correlation_id: Option<String>,
    forwarded_for: Option<String>,
    content_length: Option<u64>,
}

impl KeptValues {
    /// Notes `value` if `name` is one of the fields kept (the first of each counts).
    fn note(&mut self, name: &[u8], value: &[u8]) {
        let value_text = || Some(text(value).trim().to_string());
        if name.eq_ignore_ascii_case(CORRELATION_HEADER.as_bytes()) {
            // An empty one correlates nothing: the request id stands in for it.
            let id = || value_text().filter(|id| !id.is_empty());
            self.correlation_id = self.correlation_id.take().or_else(id);
        } else if name.eq_ignore_ascii_case(b"x-forwarded-for") {
            self.forwarded_for = self.forwarded_for.take().or_else(value_text);
        } else if name.eq_ignore_ascii_case(b"content-length") && self.content_length.is_none() {
            self.content_length = std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.trim().parse().ok());
        }
    }
}

/// The recorded part of a request target, at most [`MAX_RECORDED_TARGET_BYTES`].
fn recorded_target(target: &[u8]) -> String {
    text(&target[..target.len().min(MAX_RECORDED_TARGET_BYTES)]).into_owned()
}

/// `bytes` as text, invalid UTF-8 replaced (`from_utf8` first: its ASCII path is the fast one).
fn text(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

impl Seen {
    /// Copies what is recorded about `head` (parsed from `buf`); `id` names the request.
    pub fn capture(head: &RequestHead, buf: &[u8], id: String) -> Box<Seen> {
        let mut kept = KeptValues::default();
        let header_names = head
            .headers
            .iter()
            .map(|field| {
                let name = field.name.get(buf);
                kept.note(name, field.value.get(buf));
                text(name)
            })
            .collect();
        Box::new(Seen {
            request: Arc::new(RequestRecord {
                id,
                correlation_id: kept.correlation_id,
                method: head.method.as_str(),
                path: recorded_target(&head.target(buf)),
                header_names,
                forwarded_for: kept.forwarded_for,
                content_length: kept.content_length.unwrap_or(0),
            }),
        })
    }

    /// What can be read of a head the gateway refused to parse (a malformed or smuggling
    /// attempt), line by line without any framing rule, so that the audit trail still names
    /// its method, target and header fields. `None` without a request line.
    pub fn capture_refused(buf: &[u8], id: String) -> Option<Box<Seen>> {
        let end = memchr::memmem::find(buf, b"\r\n\r\n").unwrap_or(buf.len());
        let mut lines = buf[..end]
            .split(|&b| b == b'\n')
            .map(|line| line.strip_suffix(b"\r").unwrap_or(line));
        let mut request_line = lines.next()?.split(|&b| b == b' ');
        let method = request_line
            .next()
            .and_then(Method::from_bytes)
            .map_or("-", Method::as_str);
        let target = request_line.next().unwrap_or_default();
        let mut kept = KeptValues::default();
        let header_names = lines
            .take(MAX_RECORDED_REFUSED_FIELDS)
            .filter_map(|line| {
                let colon = memchr::memchr(b':', line)?;
                let name = line[..colon].trim_ascii();
                kept.note(name, &line[colon + 1..]);
                Some(text(name))
            })
            .collect();
        Some(Box::new(Seen {
            request: Arc::new(RequestRecord {
                id,
                correlation_id: kept.correlation_id,
                method,
                path: recorded_target(target.trim_ascii()),
                header_names,
                forwarded_for: kept.forwarded_for,
                // A refused head's framing is not trusted.
                content_length: 0,
            }),
        }))
    }
}

/// Header fields read from a refused head for the audit trail.
const MAX_RECORDED_REFUSED_FIELDS: usize = 64;

/// Records how one request ended. `seen` is there when details are recorded.
pub fn complete(
    worker: &Worker,
    exchange: Exchange,
    seen: Option<&Seen>,
    peer: SocketAddr,
    local: SocketAddr,
) {
    let outcome = match &exchange.denial {
        Some(denial) => denial.outcome(),
        None if exchange.context_missing => Outcome::ContextMissing,
        None => Outcome::Allowed,
    };
    // A forwarded request's own clock readings suffice: the gateway's part ends when it
    // sent the request, the node's when its answer arrived.
    let (gateway, upstream) = match exchange.upstream {
        Some(leg) => (
            leg.sent.saturating_duration_since(exchange.started),
            leg.answered
                .map(|at| at.saturating_duration_since(leg.sent)),
        ),
        None => (exchange.started.elapsed(), None),
    };
    let metrics = &worker.metrics;
    let class = ActionClass::of(exchange.decided.action);
    metrics.request(outcome, exchange.status, class, gateway, upstream);
    metrics.bytes(exchange.bytes_in, exchange.bytes_out);
    let Some(seen) = seen else {
        return;
    };
    let processing = exchange.started.elapsed();
    if worker.access_log {
        access_line(&exchange, seen, outcome, peer, processing);
    }
    if worker.audit.enabled() {
        let snapshot = Arc::clone(&worker.policy.current());
        if let Some(event) = event(worker, snapshot, exchange, seen, peer, local, processing) {
            worker.audit.record(event);
        }
    }
}

/// The audit event for a request; `None` when the block that decided it is not audited.
fn event(
    worker: &Worker,
    snapshot: Arc<Snapshot>,
    exchange: Exchange,
    seen: &Seen,
    peer: SocketAddr,
    local: SocketAddr,
    processing: Duration,
) -> Option<Event> {
    let decided = exchange.decided;
    let (event_type, final_state) = match &exchange.denial {
        Some(denial) => denial.event(decided.presented, decided.credentials_rejected),
        None if exchange.context_missing => (EventType::AccessDenied, FinalState::Forbidden),
        None => (EventType::AccessGranted, FinalState::Allowed),
    };
    let answer = exchange.denial.as_ref().map(|d| d.answer());
    let blocks = snapshot.acl.blocks();
    let matched = decided.block.and_then(|position| blocks.get(position));
    if matched.is_some_and(|block| !block.audit.enabled) {
        return None;
    }
    let (log_allowed, sinks) = match matched {
        Some(block) => (
            block.audit.log_allowed_events,
            sink_filter(&block.audit.sinks),
        ),
        None => (true, SinkFilter::All),
    };
    // Blocks are tried in order and the first match decides: every block before it was
    // tried and did not match; without a match, every block was.
    let tried = decided
        .block
        .map_or(blocks.len(), |p| p + 1)
        .min(blocks.len());
    Some(Event {
        event_type,
        final_state,
        timestamp: SystemTime::now(),
        request: Arc::clone(&seen.request),
        processing,
        status: exchange.status,
        error_type: answer.as_ref().map(|a| a.error_type),
        error_message: answer.map(|a| a.reason),
        logged_user: decided.user,
        presented_identity: decided.presented_user,
        action: decided.action,
        indices: decided.indices,
        origin: peer,
        destination: local,
        content_length: exchange.bytes_in.max(seen.request.content_length),
        content: exchange.content,
        blocks_history: Some(BlocksHistory {
            tried,
            matched: decided.block,
            causes: Vec::new(),
            policy: snapshot,
        }),
        upstream_node: exchange
            .upstream
            .map(|leg| worker.upstreams.authority(leg.node).to_string()),
        log_allowed,
        sinks,
    })
}

fn sink_filter(sinks: &crate::acl::BlockSinks) -> SinkFilter {
    use crate::acl::BlockSinks;
    match sinks {
        BlockSinks::All => SinkFilter::All,
        BlockSinks::Only(names) => SinkFilter::Only(names.as_slice().into()),
        BlockSinks::Except(names) => SinkFilter::Except(names.as_slice().into()),
    }
}

/// One access-log line.
fn access_line(
    exchange: &Exchange,
    seen: &Seen,
    outcome: Outcome,
    peer: SocketAddr,
    processing: Duration,
) {
    tracing::info!(
        target: "ringfence::access",
        id = %seen.request.id,
        peer = %peer,
        method = seen.request.method,
        target = %seen.request.path,
        status = exchange.status,
        outcome = outcome.label(),
        action = exchange.decided.action,
        user = exchange.decided.user.as_deref().unwrap_or("-"),
        micros = processing.as_micros() as u64,
        bytes_in = exchange.bytes_in,
        bytes_out = exchange.bytes_out,
    );
}

/// Records a connection accepted or refused at accept (address filter, connection limits).
pub fn connection(worker: &Worker, granted: bool, peer: SocketAddr, local: SocketAddr) {
    connection_event(worker, granted, peer, local, None);
}

/// Records a `connection_denied` event for a client whose TLS handshake failed, with the
/// reason as its error message.
pub fn tls_handshake_failed(worker: &Worker, peer: SocketAddr, local: SocketAddr, reason: &str) {
    connection_event(worker, false, peer, local, Some(reason));
}

fn connection_event(
    worker: &Worker,
    granted: bool,
    peer: SocketAddr,
    local: SocketAddr,
    tls_failure: Option<&str>,
) {
    if !worker.audit.enabled() {
        return;
    }
    let (event_type, final_state) = if granted {
        (EventType::ConnectionGranted, FinalState::Allowed)
    } else {
        (EventType::ConnectionDenied, FinalState::Forbidden)
    };
    worker.audit.record(Event {
        event_type,
        final_state,
        timestamp: SystemTime::now(),
        request: Arc::new(RequestRecord {
            id: worker.next_request_id(),
            correlation_id: Some(String::new()),
            ..RequestRecord::default()
        }),
        processing: Duration::ZERO,
        status: 0,
        error_type: tls_failure.map(|_| "tls_handshake"),
        error_message: tls_failure.map(str::to_string),
        logged_user: None,
        presented_identity: None,
        action: "",
        indices: Vec::new(),
        origin: peer,
        destination: local,
        content_length: 0,
        content: None,
        blocks_history: None,
        upstream_node: None,
        log_allowed: true,
        sinks: SinkFilter::All,
    });
}

#[cfg(test)]
mod tests {
    use super::Seen;

    #[test]
    fn correlation_ids_are_taken_once_and_read_whatever_they_hold() {
        let raw = b"GET /x HTTP/1.1\r\nHost: es\r\nx-ror-correlation-id: first \xff\r\nX-Ror-Correlation-Id: second\r\n\r\n";
        let head = crate::http::request::parse_request_head(raw, 16 * 1024)
            .unwrap()
            .unwrap();
        let seen = Seen::capture(&head, raw, "7".to_string());
        assert_eq!(seen.request.correlation_id(), "first \u{fffd}");
        let raw = b"GET /x HTTP/1.1\r\nHost: es\r\nx-ror-correlation-id:\r\n\r\n";
        let head = crate::http::request::parse_request_head(raw, 16 * 1024)
            .unwrap()
            .unwrap();
        // Empty: the request's own id stands in for it.
        let seen = Seen::capture(&head, raw, "7".to_string());
        assert_eq!(seen.request.correlation_id(), "7");
    }

    #[test]
    fn refused_heads_are_read_whatever_they_hold() {
        let id = || "7".to_string();
        assert!(Seen::capture_refused(b"", id()).is_some_and(|s| s.request.method == "-"));
        let binary: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
        assert!(Seen::capture_refused(&binary, id()).is_some());
        let many = format!("GET / HTTP/1.1\r\n{}\r\n", "x: y\r\n".repeat(10_000));
        let seen = Seen::capture_refused(many.as_bytes(), id()).unwrap();
        assert_eq!(seen.request.method, "GET");
        let smuggled = b"POST /_bulk HTTP/1.1\r\nX-Ror-Correlation-Id: c-1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
        let seen = Seen::capture_refused(smuggled, id()).unwrap();
        assert_eq!(seen.request.correlation_id(), "c-1");
        assert_eq!(seen.request.path, "/_bulk");
    }
}
