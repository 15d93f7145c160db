//! LDAP directories (the `ldaps:` definitions): [`LdapService`] answers the
//! [`RemoteService`] questions of the `ldap_*` rules.
//!
//! ```text
//! config::policy::ldap ─▶ LdapSettings (pure data) ─▶ LdapService::new (no thread yet)
//! first ask ─▶ worker: thread `ringfence-ldap-<name>` with a current-thread tokio runtime
//!          ─▶ directory: connections, user search, user bind, group searches
//! ```
//!
//! How questions map to LDAP operations:
//! * `Authenticate { user, password }`: an empty password is `Rejected` at once (an LDAP
//!   simple bind with an empty password is an unauthenticated bind, which succeeds). The
//!   user is searched under `search_user_base_DN` with `(<user_id_attribute>=<user>)`
//!   (RFC 4515 escaped; none or several entries: `Rejected`), or, with
//!   `skip_user_search`, the DN is built as `<user_id_attribute>=<user>,<base>` (RFC 4514
//!   escaped). Then a simple bind as that DN on a connection that only ever carries user
//!   binds: success is `Known` (with the groups when asked), invalidCredentials (49)
//!   `Rejected`.
//! * `Groups { user }`: the same search; not found is `Rejected`, else `Known { groups }`.
//! * Groups: `search_groups_in_group_entries` (groups under `search_groups_base_DN` whose
//!   `unique_member_attribute` is the user's DN, or its id with `group_attribute_is_dn:
//!   false`, ANDed with `group_search_filter`; the id is `group_id_attribute`) or
//!   `search_groups_in_user_entries` (the user entry's `groups_from_user_attribute` lists
//!   group DNs; see [`GroupSearch::InUserEntries`]). `nested_groups_depth` follows groups
//!   in groups breadth first, cycle-safe; on Active Directory (rootDSE capability
//!   1.2.840.113556.1.4.800) one `LDAP_MATCHING_RULE_IN_CHAIN` search does it all.
//!   Active Directory user ids (`sAMAccountName`, `userPrincipalName`) are plain
//!   `user_id_attribute`s.
//! * Unreachable servers, timeouts and unexpected result codes are [`Unavailable`] with
//!   the definition's name and the cause (never a password). `ignore_ldap_connectivity_problems`
//!   is accepted and changes nothing: Ringfence always fails closed.
//!
//! Must not: start a thread before the first question (`ringfence check` starts none),
//! block the caller (`ask` only queues), or outlive its definition: dropping the last
//! `Arc<LdapService>` closes the queue and the thread ends.

mod directory;
mod entry;
pub mod settings;
mod tls;
mod worker;

pub use settings::{BindCredentials, GroupSearch, HaMode, LdapServer, LdapSettings, UserSearch};

use crate::auth::remote::{
    self, Answer, CircuitBreaker, PendingAnswer, Question, RemoteService, Unavailable,
};
use rustls::ClientConfig;
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// Questions that may wait per connection of `connection_pool_size` before `ask`
/// answers `Unavailable` at once (a directory that slow is better refused than queued).
pub const QUEUED_QUESTIONS_PER_CONNECTION: usize = 8;

/// One `ldaps:` definition, ready to be asked.
pub struct LdapService {
    shared: Arc<Shared>,
    /// The service thread's queue, started by the first question (or why it could not).
    queue: OnceLock<Result<flume::Sender<worker::Job>, String>>,
}

/// What the service thread shares with the askers.
struct Shared {
    settings: LdapSettings,
    breaker: CircuitBreaker,
    /// For `ldaps://` servers.
    tls: Option<Arc<ClientConfig>>,
}

impl Shared {
    fn unavailable(&self, cause: impl fmt::Display) -> Unavailable {
        Unavailable {
            reason: format!("LDAP {}: {cause}", self.settings.name),
        }
    }
}

impl LdapService {
    /// Compiles a definition; reads the system's trusted roots when a server is
    /// `ldaps://` (an error names the cause). Starts nothing.
    pub fn new(settings: LdapSettings) -> Result<LdapService, String> {
        let tls = if settings.servers.iter().any(|s| s.tls) {
            Some(tls::client_config(settings.trust_all_certs)?)
        } else {
            None
        };
        let breaker = CircuitBreaker::new(settings.max_retries, settings.reset_duration);
        Ok(LdapService {
            shared: Arc::new(Shared {
                settings,
                breaker,
                tls,
            }),
            queue: OnceLock::new(),
        })
    }

    pub fn settings(&self) -> &LdapSettings {
        &self.shared.settings
    }

    fn queue(&self) -> &Result<flume::Sender<worker::Job>, String> {
        self.queue.get_or_init(|| {
            let capacity = self
                .shared
                .settings
                .pool_size
                .max(1)
                .saturating_mul(QUEUED_QUESTIONS_PER_CONNECTION);
            worker::start(self.shared.clone(), capacity)
        })
    }
}

impl fmt::Debug for LdapService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LdapService")
            .field("settings", &self.shared.settings)
            .field("started", &self.queue.get().is_some())
            .finish()
    }
}

impl RemoteService for LdapService {
    fn name(&self) -> &str {
        &self.shared.settings.name
    }

    fn ask(&self, question: Question) -> PendingAnswer {
        let shared = &self.shared;
        if let Question::Authenticate { password, .. } = &question {
            if password.is_empty() {
                return remote::ready(Ok(Answer::Rejected));
            }
        }
        if !shared.breaker.allow(Instant::now()) {
            return remote::ready(Err(shared.unavailable(format_args!(
                "circuit open after {} consecutive failures; retrying every {}",
                shared.settings.max_retries.max(1),
                seconds(shared.settings.reset_duration)
            ))));
        }
        let queue = match self.queue() {
            Ok(queue) => queue,
            Err(cause) => return remote::ready(Err(shared.unavailable(cause))),
        };
        let (reply, answer) = flume::bounded(1);
        match queue.try_send(worker::Job { question, reply }) {
            Ok(()) => {
                let ended = shared.unavailable("the service thread ended");
                Box::pin(async move { answer.recv_async().await.unwrap_or(Err(ended)) })
            }
            Err(flume::TrySendError::Full(_)) => {
                remote::ready(Err(shared.unavailable(format_args!(
                    "too many questions waiting ({})",
                    queue.capacity().unwrap_or_default()
                ))))
            }
            Err(flume::TrySendError::Disconnected(_)) => {
                remote::ready(Err(shared.unavailable("the service thread ended")))
            }
        }
    }

    fn cache_ttl(&self) -> Option<Duration> {
        self.shared.settings.cache_ttl
    }
}

/// `10 s`, `0.5 s`: durations in messages.
fn seconds(duration: Duration) -> String {
    format!("{} s", duration.as_secs_f64())
}
