//! What one audit event says: the request, the decision and who asked.
//!
//! The proxy fills an [`Event`] after it has answered (or refused) a request and hands it to a
//! [`super::Recorder`]; nothing here does IO or formatting beyond the names ReadonlyREST and
//! Shield used, so existing dashboards keep their filters.

use crate::snapshot::Snapshot;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Why the event was recorded (the names X-Pack Shield audit logs used).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    AccessGranted,
    AccessDenied,
    AnonymousAccessDenied,
    AuthenticationFailed,
    TamperedRequest,
    ConnectionGranted,
    ConnectionDenied,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::AccessGranted => "access_granted",
            EventType::AccessDenied => "access_denied",
            EventType::AnonymousAccessDenied => "anonymous_access_denied",
            EventType::AuthenticationFailed => "authentication_failed",
            EventType::TamperedRequest => "tampered_request",
            EventType::ConnectionGranted => "connection_granted",
            EventType::ConnectionDenied => "connection_denied",
        }
    }
}

/// How the request ended, as ReadonlyREST's `final_state` field spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinalState {
    Allowed,
    Forbidden,
    Errored,
    IndexNotExist,
}

impl FinalState {
    pub fn as_str(self) -> &'static str {
        match self {
            FinalState::Allowed => "ALLOWED",
            FinalState::Forbidden => "FORBIDDEN",
            FinalState::Errored => "ERRORED",
            FinalState::IndexNotExist => "INDEX NOT EXIST",
        }
    }
}

/// The blocks a request was checked against, in evaluation order (ROR's `blocks_history`).
///
/// Holds the policy that decided the request rather than copies of its block names: a
/// reference count per event instead of a string per block.
#[derive(Debug, Clone)]
pub struct BlocksHistory {
    pub policy: Arc<Snapshot>,
    /// The first `tried` blocks of the policy were checked (the ACL tries them in order).
    pub tried: usize,
    /// The position of the block that matched, the last one tried.
    pub matched: Option<usize>,
    /// Why each tried block did not match, by position, where known (empty when not).
    pub causes: Vec<Option<&'static str>>,
}

/// One entry of a [`BlocksHistory`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockTrace<'a> {
    pub name: &'a str,
    pub matched: bool,
    /// The denial cause when the block did not match (`AUTH_FAIL`, `IDX_NOT_FOUND`, ...).
    pub cause: Option<&'static str>,
}

impl BlocksHistory {
    /// The blocks tried, in order.
    pub fn iter(&self) -> impl Iterator<Item = BlockTrace<'_>> + Clone {
        let blocks = self.policy.acl.blocks();
        blocks[..self.tried.min(blocks.len())]
            .iter()
            .enumerate()
            .map(|(position, block)| BlockTrace {
                name: &block.name,
                matched: Some(position) == self.matched,
                cause: self.causes.get(position).copied().flatten(),
            })
    }

    /// The name of the block that matched.
    pub fn matched_name(&self) -> Option<&str> {
        let block = self.policy.acl.block(self.matched?)?;
        Some(&block.name)
    }
}

/// Request header names in arrival order, in one string. Values are never kept: no
/// serializer writes them, and they carry credentials.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderNames {
    /// The names separated by `\n`, which no header name can hold (a head is split into
    /// lines before names are read).
    joined: String,
    count: usize,
}

impl HeaderNames {
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let mut rest = self.joined.as_str();
        (0..self.count).map(move |_| {
            let end = memchr::memchr(b'\n', rest.as_bytes()).unwrap_or(rest.len());
            let name = &rest[..end];
            rest = rest.get(end + 1..).unwrap_or_default();
            name
        })
    }
}

impl<S: AsRef<str>> FromIterator<S> for HeaderNames {
    fn from_iter<I: IntoIterator<Item = S>>(names: I) -> HeaderNames {
        let mut header_names = HeaderNames::default();
        for name in names {
            if header_names.count > 0 {
                header_names.joined.push('\n');
            }
            header_names.joined.push_str(name.as_ref());
            header_names.count += 1;
        }
        header_names
    }
}

/// What was read from the request head, shared by the worker's access log and the event.
#[derive(Debug, Clone, Default)]
pub struct RequestRecord {
    /// The request id, made by the caller.
    pub id: String,
    /// `x-ror-correlation-id` from the request; the request id stands in for it when absent.
    pub correlation_id: Option<String>,
    pub method: &'static str,
    pub path: String,
    pub header_names: HeaderNames,
    /// `X-Forwarded-For` as received.
    pub forwarded_for: Option<String>,
    /// `Content-Length` as declared (0 when absent or unreadable).
    pub content_length: u64,
}

impl RequestRecord {
    pub fn correlation_id(&self) -> &str {
        self.correlation_id.as_deref().unwrap_or(&self.id)
    }
}

/// Which outputs a block's events go to (`enabled_audit_sinks` / `disabled_audit_sinks`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SinkFilter {
    #[default]
    All,
    Only(Arc<[String]>),
    Except(Arc<[String]>),
}

impl SinkFilter {
    /// Whether the output called `name` receives the event.
    pub fn allows(&self, name: &str) -> bool {
        match self {
            SinkFilter::All => true,
            SinkFilter::Only(names) => names.iter().any(|n| n == name),
            SinkFilter::Except(names) => !names.iter().any(|n| n == name),
        }
    }
}

/// One audited request or connection.
#[derive(Debug, Clone)]
pub struct Event {
    pub event_type: EventType,
    pub final_state: FinalState,
    pub timestamp: SystemTime,
    /// The request id, method, path, header names and the like; connection events carry
    /// only an id.
    pub request: Arc<RequestRecord>,
    pub processing: Duration,
    /// The status sent to the client; 0 for connection events or when none was sent.
    pub status: u16,
    pub error_type: Option<&'static str>,
    pub error_message: Option<String>,
    pub logged_user: Option<String>,
    /// The Basic user name as presented (never a password).
    pub presented_identity: Option<String>,
    /// The Elasticsearch transport action; empty for connection events.
    pub action: &'static str,
    pub indices: Vec<String>,
    pub origin: SocketAddr,
    pub destination: SocketAddr,
    /// Bytes of the request body: received, or declared if more.
    pub content_length: u64,
    /// The request body, filled only when [`super::Recorder::wants_content`] is true.
    pub content: Option<Vec<u8>>,
    /// `None` when no block was tried (connection events).
    pub blocks_history: Option<BlocksHistory>,
    pub upstream_node: Option<String>,
    /// The matched block's `log_allowed_events` (`verbosity: error` means false).
    pub log_allowed: bool,
    /// The matched block's sink selection.
    pub sinks: SinkFilter,
}

impl Event {
    /// The name of the block that decided the request.
    pub fn matched_block(&self) -> Option<&str> {
        self.blocks_history.as_ref()?.matched_name()
    }
}
