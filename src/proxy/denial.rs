//! Every way a request can end without the node's answer, as one typed value, and the one
//! place where each becomes a status, an Elasticsearch-shaped body, an audit event type and
//! a metric label.
//!
//! ```text
//! decide / read_body / credentials / forward ─▶ Denial ─┬▶ answer(): status + JSON body
//!                                                        ├▶ outcome(): metric label
//!                                                        └▶ event(): audit type + final state
//! ```

use crate::audit::{EventType, FinalState};
use crate::es::body::BodyError;
use crate::es::search_context::ContextError;
use crate::http::canned::Canned;
use crate::http::{ClientError, Fault, UpstreamError};
use crate::metrics::Outcome;
use std::time::Duration;

/// `Basic realm="ringfence"`, the challenge sent with 401.
const UNAUTHORIZED_CHALLENGE: &str = "Basic realm=\"ringfence\"";

/// Why a request was not forwarded, or why its forwarding failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// The client broke HTTP framing or limits (malformed, ambiguous, too large, too slow).
    Client(ClientError),
    /// The method and path name no route the gateway can read, or a parameter is malformed.
    Route(String),
    /// A body the decision must read cannot be read as the node would read it.
    Body {
        status: u16,
        error_type: &'static str,
        reason: String,
    },
    /// A `type: forbid` block matched.
    Forbidden { reason: String },
    /// No block matched, or an allowed request could not be narrowed as granted.
    NoMatch { reason: String },
    /// No block matched and the credentials were the problem: ask for them.
    Unauthorized { reason: String },
    /// A read of forbidden indices only, answered as the node answers for a missing one.
    IndexNotFound { name: String },
    /// Too many failed logins from this address or for this user.
    Throttled(Throttle),
    /// The gateway is at capacity (hashing queue, body buffers).
    Busy {
        reason: &'static str,
        delay: Option<Duration>,
    },
    /// An identity service (LDAP, an external authentication or groups service) the
    /// decision needs could not answer: down, slow, or its circuit open.
    Unavailable { reason: String },
    /// No valid policy has loaded yet.
    NotStarted { status: u16 },
    /// The node failed; the cause is kept.
    Upstream(UpstreamError),
    /// A gateway fault (a panic, a decision that did not settle).
    Internal(&'static str),
}

/// A throttled answer: 429 with `Retry-After`, or 401 (`throttled_status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Throttle {
    pub reason: String,
    pub retry_after: Duration,
    /// Answer 401 with a challenge instead of 429.
    pub as_unauthorized: bool,
    /// Held back this long before the answer goes out (a tarpit).
    pub delay: Duration,
}

impl From<ClientError> for Denial {
    fn from(e: ClientError) -> Denial {
        Denial::Client(e)
    }
}

impl From<UpstreamError> for Denial {
    fn from(e: UpstreamError) -> Denial {
        Denial::Upstream(e)
    }
}

impl From<Fault> for Denial {
    fn from(fault: Fault) -> Denial {
        match fault {
            Fault::Client(e) => Denial::Client(e),
            Fault::Upstream(e) => Denial::Upstream(e),
            Fault::Internal => Denial::Internal("internal gateway error"),
        }
    }
}

impl From<BodyError> for Denial {
    fn from(e: BodyError) -> Denial {
        Denial::Body {
            status: e.status(),
            error_type: e.es_type(),
            reason: e.reason(),
        }
    }
}

impl From<ContextError> for Denial {
    fn from(e: ContextError) -> Denial {
        Denial::Body {
            status: e.status(),
            error_type: e.es_type(),
            reason: e.reason(),
        }
    }
}

impl Denial {
    /// A 400 for a request the node would refuse as malformed.
    pub fn bad_request(reason: impl Into<String>) -> Denial {
        Denial::Body {
            status: 400,
            error_type: "illegal_argument_exception",
            reason: reason.into(),
        }
    }

    /// The response the client gets.
    pub fn answer(&self) -> Answer {
        match self {
            Denial::Client(e) => Answer::fault(Fault::Client(*e)),
            Denial::Route(reason) => {
                Answer::plain(400, "illegal_argument_exception", reason.clone())
            }
            Denial::Body {
                status,
                error_type,
                reason,
            } => Answer::plain(*status, error_type, reason.clone()),
            Denial::Forbidden { reason } => forbidden(reason, "FORBIDDEN_BY_BLOCK"),
            Denial::NoMatch { reason } => forbidden(reason, "OPERATION_NOT_ALLOWED"),
            Denial::Unauthorized { reason } => Answer {
                status: 401,
                headers: vec![("www-authenticate", UNAUTHORIZED_CHALLENGE.to_string())],
                ..forbidden(reason, "OPERATION_NOT_ALLOWED")
            },
            Denial::IndexNotFound { name } => Answer {
                extra: vec![
                    ("resource.type", "index_or_alias".to_string()),
                    ("resource.id", name.clone()),
                    ("index_uuid", "_na_".to_string()),
                    ("index", name.clone()),
                ],
                ..Answer::plain(
                    404,
                    "index_not_found_exception",
                    format!("no such index [{name}]"),
                )
            },
            Denial::Throttled(throttle) if throttle.as_unauthorized => Answer {
                extra: vec![("due_to", "AUTHENTICATION_THROTTLED".to_string())],
                headers: vec![("www-authenticate", UNAUTHORIZED_CHALLENGE.to_string())],
                delay: Some(throttle.delay),
                ..Answer::plain(401, "forbidden_response", throttle.reason.clone())
            },
            Denial::Throttled(throttle) => {
                let wait = throttle.retry_after;
                // Rounded up: a client that waits the seconds it was told finds the block over.
                let seconds = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
                Answer {
                    headers: vec![("retry-after", seconds.to_string())],
                    delay: Some(throttle.delay),
                    ..Answer::plain(429, "too_many_requests", throttle.reason.clone())
                }
            }
            Denial::Busy { reason, delay } => Answer {
                headers: vec![("retry-after", "1".to_string())],
                delay: *delay,
                ..Answer::plain(503, "es_rejected_execution_exception", reason.to_string())
            },
            // The cause names hosts, DNs and the directory's own words: it goes to the log
            // (`proxy::credentials`); the client learns only which service failed.
            Denial::Unavailable { reason } => {
                let service = reason.split(": ").next().unwrap_or_default();
                Answer {
                    headers: vec![("retry-after", "1".to_string())],
                    ..Answer::plain(
                        503,
                        "authentication_service_unavailable_exception",
                        format!("{service} is unavailable; the gateway's log has the cause"),
                    )
                }
            }
            Denial::NotStarted { status } => Answer {
                status: *status,
                ..forbidden(
                    "Ringfence has no valid access control list loaded yet; see the gateway's log",
                    "READONLYREST_FAILED_TO_START",
                )
            },
            Denial::Upstream(e) => Answer::fault(Fault::Upstream(*e)),
            Denial::Internal(reason) => {
                Answer::plain(500, "internal_server_error", reason.to_string())
            }
        }
    }

    /// The status the client gets (without building the answer).
    pub fn status(&self) -> u16 {
        match self {
            Denial::Client(e) => Fault::Client(*e).status(),
            Denial::Route(_) => 400,
            Denial::Body { status, .. } => *status,
            Denial::Forbidden { .. } | Denial::NoMatch { .. } => 403,
            Denial::Unauthorized { .. } => 401,
            Denial::IndexNotFound { .. } => 404,
            Denial::Throttled(t) if t.as_unauthorized => 401,
            Denial::Throttled(_) => 429,
            Denial::Busy { .. } | Denial::Unavailable { .. } => 503,
            Denial::NotStarted { status } => *status,
            Denial::Upstream(e) => Fault::Upstream(*e).status(),
            Denial::Internal(_) => 500,
        }
    }

    /// The metric label.
    pub fn outcome(&self) -> Outcome {
        match self {
            Denial::Client(_) => Outcome::ClientFraming,
            Denial::Route(_) => Outcome::Route,
            Denial::Body { .. } => Outcome::Body,
            Denial::Forbidden { .. } => Outcome::Forbidden,
            Denial::NoMatch { .. } => Outcome::NoMatch,
            Denial::Unauthorized { .. } => Outcome::Unauthorized,
            Denial::IndexNotFound { .. } => Outcome::IndexNotFound,
            Denial::Throttled(_) => Outcome::Throttled,
            Denial::Busy { .. } => Outcome::Busy,
            Denial::Unavailable { .. } => Outcome::IdentityServiceUnavailable,
            Denial::NotStarted { .. } => Outcome::NotStarted,
            Denial::Upstream(_) => Outcome::Upstream,
            Denial::Internal(_) => Outcome::Internal,
        }
    }

    /// The audit event type and final state. `presented` says the request carried
    /// credentials; `rejected` that they are valid for no rule.
    pub fn event(&self, presented: bool, rejected: bool) -> (EventType, FinalState) {
        let denied = if presented {
            EventType::AccessDenied
        } else {
            EventType::AnonymousAccessDenied
        };
        match self {
            Denial::Client(_) | Denial::Route(_) => {
                (EventType::TamperedRequest, FinalState::Errored)
            }
            Denial::Throttled(_) => (EventType::AuthenticationFailed, FinalState::Forbidden),
            Denial::Unauthorized { .. } | Denial::NoMatch { .. } | Denial::Forbidden { .. }
                if rejected =>
            {
                (EventType::AuthenticationFailed, FinalState::Forbidden)
            }
            Denial::Forbidden { .. } | Denial::NoMatch { .. } | Denial::Unauthorized { .. } => {
                (denied, FinalState::Forbidden)
            }
            Denial::IndexNotFound { .. } => (denied, FinalState::IndexNotExist),
            // The ACL allowed it; the node (or the way there) failed.
            Denial::Upstream(_) => (EventType::AccessGranted, FinalState::Errored),
            Denial::Body { .. }
            | Denial::Busy { .. }
            | Denial::Unavailable { .. }
            | Denial::NotStarted { .. }
            | Denial::Internal(_) => (denied, FinalState::Errored),
        }
    }

    /// How long the answer is held back (a throttled or busy client is slowed down).
    pub fn delay(&self) -> Option<Duration> {
        match self {
            Denial::Throttled(t) => Some(t.delay),
            Denial::Busy { delay, .. } => *delay,
            _ => None,
        }
    }
}

/// A response the gateway writes itself, rendered from a [`Denial`].
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub error_type: &'static str,
    pub reason: String,
    pub extra: Vec<(&'static str, String)>,
    /// `WWW-Authenticate`, `Retry-After`.
    pub headers: Vec<(&'static str, String)>,
    /// Hold the answer back this long (a throttled client is slowed down, cheaply: its
    /// connection waits on a timer instead of being served again at once).
    pub delay: Option<Duration>,
}

impl Answer {
    fn plain(status: u16, error_type: &'static str, reason: String) -> Answer {
        Answer {
            status,
            error_type,
            reason,
            extra: Vec::new(),
            headers: Vec::new(),
            delay: None,
        }
    }

    fn fault(fault: Fault) -> Answer {
        Answer::plain(
            fault.status(),
            fault.error_type(),
            fault.reason().to_string(),
        )
    }

    /// Writes the whole response (head and body); `head_only` for a `HEAD` request.
    pub fn write_to(&self, out: &mut Vec<u8>, head_only: bool, close: bool) {
        let extra: Vec<(&str, &str)> = self.extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let headers: Vec<(&str, &str)> =
            self.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Canned {
            status: self.status,
            error_type: self.error_type,
            reason: &self.reason,
            extra: &extra,
            headers: &headers,
            close,
            head_only,
        }
        .write_to(out);
    }

    #[cfg(test)]
    fn write_body(&self, out: &mut Vec<u8>) {
        let extra: Vec<(&str, &str)> = self.extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
        crate::http::canned::write_error_body(
            out,
            self.status,
            self.error_type,
            &self.reason,
            &extra,
        );
    }
}

fn forbidden(reason: &str, due_to: &'static str) -> Answer {
    Answer {
        extra: vec![("due_to", due_to.to_string())],
        ..Answer::plain(403, "forbidden_response", reason.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_of(denial: &Denial) -> serde_json::Value {
        let mut out = Vec::new();
        denial.answer().write_body(&mut out);
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn every_denial_states_its_status_in_the_answer_and_the_body() {
        let throttle = Throttle {
            reason: "too many".into(),
            retry_after: Duration::from_millis(1500),
            as_unauthorized: false,
            delay: Duration::ZERO,
        };
        let all = [
            Denial::Client(ClientError::ConflictingContentLength),
            Denial::Route("bad".into()),
            Denial::bad_request("bad body"),
            Denial::Forbidden {
                reason: "no".into(),
            },
            Denial::NoMatch {
                reason: "no".into(),
            },
            Denial::Unauthorized {
                reason: "who".into(),
            },
            Denial::IndexNotFound { name: "x".into() },
            Denial::Throttled(throttle.clone()),
            Denial::Throttled(Throttle {
                as_unauthorized: true,
                ..throttle
            }),
            Denial::Busy {
                reason: "busy",
                delay: None,
            },
            Denial::NotStarted { status: 503 },
            Denial::Upstream(UpstreamError::Timeout),
            Denial::Internal("boom"),
        ];
        for denial in &all {
            let answer = denial.answer();
            assert_eq!(answer.status, denial.status(), "{denial:?}");
            assert_eq!(body_of(denial)["status"], denial.status(), "{denial:?}");
        }
    }

    #[test]
    fn challenges_and_retry_hints_go_with_their_statuses() {
        let answer = Denial::Unauthorized { reason: "r".into() }.answer();
        assert!(answer.headers.iter().any(|(k, _)| *k == "www-authenticate"));
        let throttled = Denial::Throttled(Throttle {
            reason: "r".into(),
            retry_after: Duration::from_millis(1001),
            as_unauthorized: false,
            delay: Duration::from_secs(1),
        });
        let answer = throttled.answer();
        assert_eq!(answer.headers, vec![("retry-after", "2".to_string())]);
        assert_eq!(throttled.delay(), Some(Duration::from_secs(1)));
        let missing = body_of(&Denial::IndexNotFound {
            name: "logs".into(),
        });
        assert_eq!(missing["error"]["index"], "logs");
        assert_eq!(missing["error"]["type"], "index_not_found_exception");
    }

    #[test]
    fn audit_types_follow_who_was_refused_and_why() {
        let forbid = Denial::Forbidden { reason: "r".into() };
        assert_eq!(
            forbid.event(false, false).0,
            EventType::AnonymousAccessDenied
        );
        assert_eq!(forbid.event(true, false).0, EventType::AccessDenied);
        assert_eq!(forbid.event(true, true).0, EventType::AuthenticationFailed);
        let smuggled = Denial::Client(ClientError::ContentLengthWithTransferEncoding);
        assert_eq!(smuggled.event(true, false).0, EventType::TamperedRequest);
        let missing = Denial::IndexNotFound { name: "x".into() };
        assert_eq!(missing.event(true, false).1, FinalState::IndexNotExist);
        let cut = Denial::Upstream(UpstreamError::ClosedEarly);
        assert_eq!(
            cut.event(true, false),
            (EventType::AccessGranted, FinalState::Errored)
        );
    }
}
