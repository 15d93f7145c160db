//! What one audit event says: the request, the decision and who asked.
//!
//! The proxy fills an [`Event`] after it has answered (or refused) a request and hands it to a
//! [`super::Recorder`]; nothing here does IO or formatting beyond the names ReadonlyREST and
//! Shield used, so existing dashboards keep their filters.

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

/// One block the request was checked against, in evaluation order (ROR's `blocks_history`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockTrace {
    pub name: String,
    pub matched: bool,
    /// The denial cause when the block did not match (`AUTH_FAIL`, `IDX_NOT_FOUND`, ...).
    pub cause: Option<&'static str>,
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
    /// The request id, made by the caller.
    pub id: String,
    /// `x-ror-correlation-id` from the request, or one the caller generated.
    pub correlation_id: String,
    pub processing: Duration,
    /// The status sent to the client; 0 for connection events or when none was sent.
    pub status: u16,
    pub error_type: Option<&'static str>,
    pub error_message: Option<String>,
    pub matched_block: Option<String>,
    pub logged_user: Option<String>,
    /// The Basic user name as presented (never a password).
    pub presented_identity: Option<String>,
    /// The Elasticsearch transport action; empty for connection events.
    pub action: &'static str,
    pub indices: Vec<String>,
    pub method: &'static str,
    pub path: String,
    /// Request header names and values as received; serializers write the names only.
    pub headers: Vec<(String, String)>,
    pub origin: SocketAddr,
    pub destination: SocketAddr,
    pub xff: Option<String>,
    pub content_length: u64,
    /// The request body, filled only when [`super::Recorder::wants_content`] is true.
    pub content: Option<Vec<u8>>,
    pub blocks_history: Vec<BlockTrace>,
    pub upstream_node: Option<String>,
    /// The matched block's `log_allowed_events` (`verbosity: error` means false).
    pub log_allowed: bool,
    /// The matched block's sink selection.
    pub sinks: SinkFilter,
}
