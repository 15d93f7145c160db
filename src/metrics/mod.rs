//! Metrics: per-core counters written without locks, read and summed at scrape time.
//!
//! Each worker thread owns one [`WorkerMetrics`] and is its only writer, so recording a
//! request is a few relaxed loads and stores on memory no other core writes; nothing here
//! allocates or locks per request. The [`Registry`] holds every worker's metrics plus the
//! process-wide collectors and renders them in the Prometheus text format (0.0.4) when the
//! admin listener ([`crate::admin`]) is scraped, on its own thread, never on a worker.
//!
//! ```text
//! worker N ── WorkerMetrics::request(..) ──┐  (Relaxed stores, one writer each)
//!                                          ├─ Registry::render ── sum over workers ── Exposition
//! collectors (hash queue, audit, ...) ─────┘
//! ```

mod exposition;
mod histogram;
mod registry;
mod slot;
mod status;
mod worker;

#[cfg(test)]
mod tests;

pub use exposition::Exposition;
pub use registry::{Collector, Registry};
pub use worker::WorkerMetrics;

/// How a request ended, from the gateway's point of view (the `outcome` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Forwarded and answered by the cluster (whatever the cluster's status).
    Allowed,
    /// The request's framing was refused (bad head, bad chunking, too large, too slow).
    ClientFraming,
    /// The path or method matched no known Elasticsearch route.
    Route,
    /// The body could not be read or inspected.
    Body,
    Forbidden,
    /// No ACL block matched.
    NoMatch,
    Unauthorized,
    IndexNotFound,
    /// A scroll or point-in-time context the caller does not own or that expired.
    ContextMissing,
    /// Too many failed logins from this address or user.
    Throttled,
    /// A queue was full (hash pool, buffered bodies): 503 at once.
    Busy,
    /// An identity service (LDAP, external authentication or groups) could not answer.
    IdentityServiceUnavailable,
    /// No valid policy has loaded yet.
    NotStarted,
    /// The cluster could not be reached or answered badly.
    Upstream,
    Internal,
}

impl Outcome {
    pub const ALL: [Outcome; 15] = [
        Outcome::Allowed,
        Outcome::ClientFraming,
        Outcome::Route,
        Outcome::Body,
        Outcome::Forbidden,
        Outcome::NoMatch,
        Outcome::Unauthorized,
        Outcome::IndexNotFound,
        Outcome::ContextMissing,
        Outcome::Throttled,
        Outcome::Busy,
        Outcome::IdentityServiceUnavailable,
        Outcome::NotStarted,
        Outcome::Upstream,
        Outcome::Internal,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::ClientFraming => "client_framing",
            Outcome::Route => "route",
            Outcome::Body => "body",
            Outcome::Forbidden => "forbidden",
            Outcome::NoMatch => "no_match",
            Outcome::Unauthorized => "unauthorized",
            Outcome::IndexNotFound => "index_not_found",
            Outcome::ContextMissing => "context_missing",
            Outcome::Throttled => "throttled",
            Outcome::Busy => "busy",
            Outcome::IdentityServiceUnavailable => "identity_service_unavailable",
            Outcome::NotStarted => "not_started",
            Outcome::Upstream => "upstream",
            Outcome::Internal => "internal",
        }
    }
}

/// The family of the Elasticsearch action a request was classified as (the `class` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionClass {
    Read,
    Write,
    Admin,
    Monitor,
    Cluster,
    /// No action was found (refused before classification, or an unknown route).
    Unknown,
}

impl ActionClass {
    pub const ALL: [ActionClass; 6] = [
        ActionClass::Read,
        ActionClass::Write,
        ActionClass::Admin,
        ActionClass::Monitor,
        ActionClass::Cluster,
        ActionClass::Unknown,
    ];

    /// Classifies an action name such as `indices:data/read/search`.
    pub fn of(action: &str) -> ActionClass {
        if action.starts_with("indices:data/read/") {
            ActionClass::Read
        } else if action.starts_with("indices:data/write/") {
            ActionClass::Write
        } else if action.starts_with("indices:admin/") {
            ActionClass::Admin
        } else if action.starts_with("cluster:monitor/") || action.starts_with("indices:monitor/") {
            ActionClass::Monitor
        } else if action.starts_with("cluster:") {
            ActionClass::Cluster
        } else {
            ActionClass::Unknown
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            ActionClass::Read => "read",
            ActionClass::Write => "write",
            ActionClass::Admin => "admin",
            ActionClass::Monitor => "monitor",
            ActionClass::Cluster => "cluster",
            ActionClass::Unknown => "unknown",
        }
    }
}

/// Why a request to an upstream node failed (the `cause` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamFailure {
    /// The node refused the connection or did not accept it in time.
    Connect,
    /// The node closed the connection before a complete response head.
    ClosedEarly,
    /// No response within `upstream_response_timeout_ms`.
    Timeout,
    /// The response head or framing was invalid.
    BadResponse,
    /// The response body stopped before its end (the client's response was cut).
    Cut,
    /// The TLS handshake with the node failed.
    Tls,
}

impl UpstreamFailure {
    pub const ALL: [UpstreamFailure; 6] = [
        UpstreamFailure::Connect,
        UpstreamFailure::ClosedEarly,
        UpstreamFailure::Timeout,
        UpstreamFailure::BadResponse,
        UpstreamFailure::Cut,
        UpstreamFailure::Tls,
    ];

    pub fn label(self) -> &'static str {
        match self {
            UpstreamFailure::Connect => "connect",
            UpstreamFailure::ClosedEarly => "closed_early",
            UpstreamFailure::Tls => "tls",
            UpstreamFailure::Timeout => "timeout",
            UpstreamFailure::BadResponse => "bad_response",
            UpstreamFailure::Cut => "cut",
        }
    }
}
