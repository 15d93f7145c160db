//! Identity services asked over the network: LDAP directories (`auth::ldap`) and external
//! HTTP authentication and groups services (`auth::external`).
//!
//! Owns: the [`RemoteService`] contract, the [`Question`]s a rule can ask, the [`Answer`]s
//! and the [`Unavailable`] error, and the [`CircuitBreaker`] every service uses.
//!
//! Must not: block a worker. A service runs its own thread(s) (started on the first
//! question, so a policy that is only checked, or never used, starts none) and answers
//! through a future that any executor can poll; `ask` only queues, and answers
//! [`Unavailable`] at once when its queue is full or its circuit is open.
//!
//! Where it sits in the walk:
//!
//! ```text
//! acl rule (ldap_*, external_authentication, groups_provider_authorization)
//!   -> Verifier::remote (the worker's cache, then this request's own answers)
//!      hit: decide; miss: Decision::Ask(question)
//!   -> proxy: RemoteService::ask(question).await -> cache the answer -> evaluate again
//! ```
//!
//! Fail closed (rule 5): an [`Unavailable`] service never authenticates anyone and never
//! grants a group; a forbid block that cannot be decided because of it denies.

pub mod breaker;
pub mod cache;

pub use breaker::CircuitBreaker;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// The most groups an answer may name: a cached answer's groups are copied for every
/// request that reads them. A service naming more is unavailable (never truncated: a group
/// past a cut could be the one a forbid block looks for).
pub const MAX_GROUPS: usize = 4_096;

/// What a rule asks a service.
#[derive(Clone, PartialEq, Eq)]
pub enum Question {
    /// Are these the credentials of `user`? With `with_groups`, also: which groups is
    /// the user in (asked by `ldap_auth`, one round trip instead of two).
    Authenticate {
        user: String,
        password: String,
        with_groups: bool,
    },
    /// Which groups is `user` in (a user some other rule authenticated).
    Groups { user: String },
}

impl fmt::Debug for Question {
    /// Never prints the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Question::Authenticate {
                user, with_groups, ..
            } => f
                .debug_struct("Authenticate")
                .field("user", user)
                .field("with_groups", with_groups)
                .finish_non_exhaustive(),
            Question::Groups { user } => f.debug_struct("Groups").field("user", user).finish(),
        }
    }
}

impl Question {
    pub fn user(&self) -> &str {
        match self {
            Question::Authenticate { user, .. } | Question::Groups { user } => user,
        }
    }

    /// The question, borrowed (how answers are looked up).
    pub fn asked(&self) -> Asked<'_> {
        match self {
            Question::Authenticate {
                user,
                password,
                with_groups,
            } => Asked::Authenticate {
                user,
                password,
                with_groups: *with_groups,
            },
            Question::Groups { user } => Asked::Groups { user },
        }
    }
}

/// A [`Question`] borrowed from the request: what the ACL looks up on every evaluation,
/// without copying the credentials (only a question that must go out is owned).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Asked<'a> {
    Authenticate {
        user: &'a str,
        password: &'a str,
        with_groups: bool,
    },
    Groups {
        user: &'a str,
    },
}

impl Asked<'_> {
    pub fn to_question(self) -> Question {
        match self {
            Asked::Authenticate {
                user,
                password,
                with_groups,
            } => Question::Authenticate {
                user: user.to_string(),
                password: password.to_string(),
                with_groups,
            },
            Asked::Groups { user } => Question::Groups {
                user: user.to_string(),
            },
        }
    }
}

/// A service's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The credentials are good (`Authenticate`) or the user is known (`Groups`); the
    /// user's group ids, empty when they were not asked for or the user has none.
    Known { groups: Vec<String> },
    /// Wrong password, unknown user, or a user the service refuses.
    Rejected,
}

/// The service could not answer: unreachable, timed out, an unexpected reply, a full
/// queue, or its circuit open. Never a rejection of the credentials (not cached as one,
/// not counted as a failed login); the request is denied with 503 unless a block that
/// does not need the service allows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable {
    /// For the client and the log: which service, and why (no credentials in it).
    pub reason: String,
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for Unavailable {}

/// The future `ask` returns: `Send`, so it can be handed between threads, and polled by
/// the worker's executor (it is a channel receiver underneath, no IO of its own).
pub type PendingAnswer = Pin<Box<dyn Future<Output = Result<Answer, Unavailable>> + Send>>;

/// An identity service named by a definition of the policy (`ldaps:`,
/// `external_authentication_service_configs:`, `user_groups_providers:`).
pub trait RemoteService: Send + Sync + fmt::Debug {
    /// The definition's `name`.
    fn name(&self) -> &str;

    /// Queues `question` and returns its answer's future. Never blocks, never does IO on
    /// the caller's thread beyond waking the service's own.
    fn ask(&self, question: Question) -> PendingAnswer;

    /// The definition's `cache_ttl`: how long an answer may be reused (`None`: the
    /// gateway's default for remote answers).
    fn cache_ttl(&self) -> Option<Duration>;
}

/// The name of a service's thread: `prefix` and the definition's name, with anything but
/// printable ASCII replaced (a NUL byte in a configured name would make `spawn` panic).
pub fn thread_name(prefix: &str, name: &str) -> String {
    let printable: String = name
        .chars()
        .map(|c| if c.is_ascii_graphic() { c } else { '_' })
        .collect();
    format!("{prefix}-{printable}")
}

/// The certificates HTTPS services are checked against (external services, JWKS URLs): the
/// system's bundle (`tls::client::SYSTEM_CA_BUNDLE`, where an internal CA is installed, as
/// LDAP over TLS uses), or Mozilla's list when the system has none.
pub fn https_roots() -> ureq::tls::RootCerts {
    let bundle = std::path::Path::new(crate::tls::client::SYSTEM_CA_BUNDLE);
    match crate::tls::keys::pem_certificates(bundle) {
        Ok(certificates) if !certificates.is_empty() => {
            ureq::tls::RootCerts::Specific(std::sync::Arc::new(
                certificates
                    .iter()
                    .map(|der| ureq::tls::Certificate::from_der(der).to_owned())
                    .collect(),
            ))
        }
        _ => ureq::tls::RootCerts::WebPki,
    }
}

/// An answer for a future that is already complete (a full queue, an open circuit).
pub fn ready(answer: Result<Answer, Unavailable>) -> PendingAnswer {
    Box::pin(std::future::ready(answer))
}
