//! The keys of a `jwks_url`, fetched off the worker threads. A Ringfence extension:
//! ReadonlyREST has no JWKS.
//!
//! Owns: [`Fetcher`] (the published [`KeySet`] of one definition, and the background
//! thread `ringfence-jwks-<name>` that fetches it) and the HTTP client settings.
//!
//! Must not: do IO on a worker thread, or block one. Workers only load the published set
//! (`arc-swap`, lock-free) and drop a wake-up into a one-slot channel (`try_send`, never
//! waiting); every request to the identity provider is made on the background thread.
//!
//! ```text
//! worker: JwtDefinition::verify ─▶ Fetcher::current ─▶ the published KeySet (or none yet)
//!                                  Fetcher::ask_refresh (a kid the set does not know)
//! ringfence-jwks-<name>: GET jwks_url ─▶ KeySet::parse ─▶ publish; wait jwks_refresh
//! ```
//!
//! Lifecycle: the thread starts on the first verification that needs keys, never when the
//! policy is decoded (`ringfence check` starts none). It fetches at once, then every
//! `jwks_refresh`; after a failure it tries again within [`MIN_ASKED_INTERVAL`] and keeps
//! serving the last good set. A token naming an unknown `kid` asks for a fetch, granted at
//! most once per [`MIN_ASKED_INTERVAL`] (a flood of made-up `kid`s costs the identity
//! provider one request per 10 s). Until a fetch succeeds there are no keys and tokens are
//! refused (fail closed). The thread ends when the definition is dropped (a policy
//! reload): the channel's sender goes with it.

use super::jwks::KeySet;
use super::SignatureFamily;
use arc_swap::ArcSwapOption;
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tracing::{info, warn};

/// `jwks_refresh` when the definition gives none.
pub const DEFAULT_JWKS_REFRESH: Duration = Duration::from_secs(300);
/// The shortest `jwks_refresh` accepted (a shorter one would hammer the identity provider).
pub const MIN_JWKS_REFRESH: Duration = Duration::from_secs(1);
/// The longest `jwks_refresh` accepted.
pub const MAX_JWKS_REFRESH: Duration = Duration::from_secs(86_400);
/// At most one fetch asked by an unknown `kid` (or made after a failure) per this interval.
pub const MIN_ASKED_INTERVAL: Duration = Duration::from_secs(10);
/// Connecting, and the whole exchange, each within this.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// A larger answer is refused (real sets are a few kilobytes).
pub const MAX_JWKS_BYTES: u64 = 1024 * 1024;

/// Where a `jwks_url` definition's keys come from, and the keys fetched last.
pub struct Fetcher {
    name: String,
    url: String,
    refresh: Duration,
    family: SignatureFamily,
    keys: Arc<ArcSwapOption<KeySet>>,
    /// Set when the thread starts; its receiver is the thread's.
    wake: OnceLock<SyncSender<()>>,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry credentials (`https://user:pass@...`): not printed.
        f.debug_struct("Fetcher")
            .field("name", &self.name)
            .field("refresh", &self.refresh)
            .field("started", &self.wake.get().is_some())
            .finish()
    }
}

impl Fetcher {
    /// A fetcher for `url` (checked by the config decoder); nothing starts yet.
    pub fn new(name: String, url: String, refresh: Duration, family: SignatureFamily) -> Fetcher {
        Fetcher {
            name,
            url,
            refresh,
            family,
            keys: Arc::new(ArcSwapOption::empty()),
            wake: OnceLock::new(),
        }
    }

    /// The set fetched last, `None` until a fetch succeeded. The first call starts the
    /// background thread; while there is no set, each call asks for a fetch.
    pub fn current(&self) -> Option<Arc<KeySet>> {
        let wake = self.wake.get_or_init(|| self.start());
        let keys = self.keys.load_full();
        if keys.is_none() {
            // Full (a wake-up is already queued) or closed (no thread): nothing to add.
            let _ = wake.try_send(());
        }
        keys
    }

    /// Asks the thread for an early fetch: a token named a `kid` the set does not know.
    pub fn ask_refresh(&self) {
        if let Some(wake) = self.wake.get() {
            let _ = wake.try_send(());
        }
    }

    /// Starts the thread; returns the sender that wakes it (and whose drop ends it).
    fn start(&self) -> SyncSender<()> {
        let (wake, woken) = sync_channel(1);
        let job = Job {
            name: self.name.clone(),
            url: self.url.clone(),
            refresh: self.refresh,
            family: self.family,
            keys: Arc::clone(&self.keys),
        };
        let spawned = std::thread::Builder::new()
            .name(crate::auth::remote::thread_name(
                "ringfence-jwks",
                &self.name,
            ))
            .spawn(move || job.run(&woken));
        if let Err(e) = spawned {
            // The receiver is gone with the closure: tokens stay refused (fail closed).
            warn!(jwt = %self.name, error = %e, "jwks_url: cannot start the fetching thread; tokens are refused");
        }
        wake
    }
}

/// What the background thread needs (never the `Fetcher`: its drop is the stop signal).
struct Job {
    name: String,
    url: String,
    refresh: Duration,
    family: SignatureFamily,
    keys: Arc<ArcSwapOption<KeySet>>,
}

impl Job {
    fn run(self, woken: &Receiver<()>) {
        let agent = agent();
        let mut last_asked: Option<Instant> = None;
        let mut asked = false;
        loop {
            let fetched_at = Instant::now();
            if asked {
                last_asked = Some(fetched_at);
            }
            let next_interval = match fetch(&agent, &self.url)
                .and_then(|body| KeySet::parse(&body, self.family).map_err(|e| e.to_string()))
            {
                Ok(set) => {
                    info!(jwt = %self.name, keys = set.key_count(), "jwks_url: keys fetched");
                    self.keys.store(Some(Arc::new(set)));
                    self.refresh
                }
                Err(error) => {
                    let kept = if self.keys.load().is_some() {
                        "the last good set stays in use"
                    } else {
                        "tokens are refused until a fetch succeeds"
                    };
                    warn!(jwt = %self.name, %error, "jwks_url: fetch failed; {kept}");
                    self.refresh.min(MIN_ASKED_INTERVAL)
                }
            };
            // `jwks_refresh` is at most a day (the decoder's limit); checked all the same.
            let mut next = fetched_at
                .checked_add(next_interval)
                .unwrap_or(fetched_at + MIN_ASKED_INTERVAL);
            asked = false;
            // An ask that came while fetching (a worker finding no keys yet) is answered
            // (the channel holds one).
            let _ = woken.try_recv();
            loop {
                let now = Instant::now();
                if now >= next {
                    break;
                }
                match woken.recv_timeout(next - now) {
                    Ok(()) => {
                        let allowed = last_asked.map_or(now, |t| t + MIN_ASKED_INTERVAL);
                        if allowed < next {
                            next = allowed.max(now);
                            asked = true;
                        }
                    }
                    Err(RecvTimeoutError::Timeout) => break,
                    // The definition is gone (a new policy): so is this thread.
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            }
        }
    }
}

/// A blocking client with timeouts and without redirects (a JWKS that moved is an error to
/// fix in the configuration, not a hop to follow to wherever a reply points).
fn agent() -> ureq::Agent {
    let tls = ureq::tls::TlsConfig::builder()
        .provider(ureq::tls::TlsProvider::Rustls)
        .root_certs(crate::auth::remote::https_roots())
        .build();
    ureq::Agent::config_builder()
        .tls_config(tls)
        .proxy(None)
        .timeout_connect(Some(FETCH_TIMEOUT))
        .timeout_global(Some(FETCH_TIMEOUT))
        .max_redirects(0)
        .http_status_as_error(false)
        .user_agent("ringfence-jwks")
        .build()
        .new_agent()
}

/// The body of a 200 answer to `GET url`, at most [`MAX_JWKS_BYTES`].
fn fetch(agent: &ureq::Agent, url: &str) -> Result<Vec<u8>, String> {
    let mut response = agent
        .get(url)
        .header("Accept", "application/json")
        .call()
        .map_err(|e| e.to_string())?;
    let status = response.status();
    if status != 200 {
        return Err(format!("HTTP status {}", status.as_u16()));
    }
    response
        .body_mut()
        .with_config()
        .limit(MAX_JWKS_BYTES)
        .read_to_vec()
        .map_err(|e| e.to_string())
}

#[cfg(test)]
pub(crate) mod tests;
