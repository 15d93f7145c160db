//! What the admin listener answers, as values: no sockets here.
//!
//! `/metrics` is the Prometheus scrape, `/health` says the process is alive (liveness),
//! `/ready` says it can serve (a policy is loaded and an upstream node is up), for a load
//! balancer or an orchestrator's readiness probe. Everything else is a JSON error.

use crate::metrics::Registry;

/// Content type of the Prometheus text format, version 0.0.4.
const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
const JSON_CONTENT_TYPE: &str = "application/json";

/// Whether the gateway can serve requests, as reported by `/ready`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Readiness {
    /// A valid policy has loaded (requests are not all answered "not started").
    pub policy_loaded: bool,
    /// At least one upstream node is considered up by some worker.
    pub upstream_up: bool,
}

/// An answer to one admin request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) content_type: &'static str,
    pub(crate) body: String,
}

impl Reply {
    pub(crate) fn json(status: u16, body: &str) -> Reply {
        Reply {
            status,
            content_type: JSON_CONTENT_TYPE,
            body: body.to_string(),
        }
    }
}

/// Answers `method target`; the query string, if any, is ignored.
pub(crate) fn answer(
    method: &str,
    target: &str,
    registry: &Registry,
    readiness: &dyn Fn() -> Readiness,
) -> Reply {
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    if !matches!(path, "/metrics" | "/health" | "/ready") {
        return Reply::json(
            404,
            r#"{"error":"not found: the admin listener serves /metrics, /health and /ready"}"#,
        );
    }
    if method != "GET" {
        return Reply::json(405, r#"{"error":"method not allowed: use GET"}"#);
    }
    match path {
        "/metrics" => Reply {
            status: 200,
            content_type: METRICS_CONTENT_TYPE,
            body: registry.render(),
        },
        "/health" => Reply::json(200, r#"{"status":"ok"}"#),
        _ => ready(readiness()),
    }
}

fn ready(readiness: Readiness) -> Reply {
    let missing: Vec<&str> = [
        (!readiness.policy_loaded).then_some(r#""policy""#),
        (!readiness.upstream_up).then_some(r#""upstream""#),
    ]
    .into_iter()
    .flatten()
    .collect();
    if missing.is_empty() {
        Reply::json(200, r#"{"ready":true}"#)
    } else {
        Reply::json(
            503,
            &format!(r#"{{"ready":false,"missing":[{}]}}"#, missing.join(",")),
        )
    }
}

/// The reason phrase sent with `status` (RFC 9110 section 15).
pub(crate) fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    }
}
