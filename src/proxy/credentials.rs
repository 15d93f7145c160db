//! A worker's side of credential checks: the per-core cache of expensive verdicts, the
//! per-core known-good credentials, the process-wide failure limiter, and the round trip
//! to the shared hashing pool.
//!
//! The cache hit path (the ACL asking [`CachedVerifier::cached`]) is a keyed hash and a
//! table lookup on this core: no lock, no allocation, no cross-core traffic. A miss is
//! throttled per address and per user, then computed on the pool while this worker keeps
//! serving other connections; the verdict is cached and the request evaluated again.
//!
//! Failure throttling covers every kind of Basic credential, cheap keys (`auth_key`,
//! `auth_key_sha*`, checked inline by the ACL) as much as expensive ones, with one budget
//! for the whole process ([`SharedLimiter`], shared by all workers; ARCHITECTURE rule 3).
//! The request path, for a request that presents Basic credentials:
//!
//! ```text
//! before the ACL            admit(ip, user, password)?   Err: answer it (after its delay)
//! ACL allowed, the user
//!   authenticated by these
//!   Basic credentials       remember_success(user, password)
//! ACL refused: the Basic
//!   credentials are valid
//!   for no rule             record_failure(ip, user, password)   once per request
//! Verify (expensive key)    verify(..)                    throttles a miss itself
//! ```
//!
//! JWT verifications are remembered per core too ([`TokenCache`], keyed by the same keyed
//! hash of the token): an RSA or ECDSA check costs tens of microseconds, done inline on a
//! miss (no pool round trip is worth it at that cost).
//!
//! (`decide` calls these through [`CredentialGate`].) A failure repeating the same user and
//! password within the failure window counts once per core: a client stuck on a stale
//! password is one mistake, not a guessing attack, and must not block its address.
//!
//! While nothing is blocked anywhere in the process, `admit` is one relaxed atomic load.
//! While something is, a blocked address or user still gets through with credentials
//! that authenticated on this core within [`KNOWN_GOOD_TTL`] (or, for an expensive key,
//! that matched it before under this policy): an attack on a name does not lock its
//! owner out of the clients already in use. Known-good entries are per core, so a
//! client's first connection to another core during an attack on its user waits like
//! anyone else.

use super::decide::CredentialGate;
use super::denial::{Denial, Throttle};
use crate::acl::remote::Ask;
use crate::acl::{Pending, Verifier};
use crate::auth::cache::{CacheSettings, CacheTag, CredentialCache, KeyedHasher};
use crate::auth::jwt::cache::TokenCache;
use crate::auth::jwt::{JwtDefinition, VerifiedToken};
use crate::auth::key::Verdict;
use crate::auth::pool::HashPool;
use crate::auth::remote::cache::{AnswerCache, Cached};
use crate::auth::remote::{Answer, Asked, PendingAnswer, Question, Unavailable};
use crate::auth::throttle::{
    KnownGood, SharedLimiter, ThrottleScope, ThrottleSettings, Throttled, KNOWN_GOOD_TTL,
    MAX_KNOWN_GOOD,
};
use crate::config::AuthSettings;
use crate::metrics::WorkerMetrics;
use futures_util::future::{FutureExt, Shared};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a throttled client waits for its 429: a flood from one address then costs a
/// timer per connection instead of a full request cycle each time (a tarpit).
const THROTTLED_DELAY: Duration = Duration::from_secs(1);
/// How long a request waits for its 503 when the hashing pool is full.
const BUSY_DELAY: Duration = Duration::from_millis(250);

/// How long a known-good credential is accepted while it is being re-verified.
const REVALIDATE_GRACE: Duration = Duration::from_secs(2);

/// One worker's credential state.
pub struct Credentials {
    hasher: KeyedHasher,
    cache: RefCell<CredentialCache>,
    /// JWT verifications under the current policy.
    tokens: RefCell<TokenCache>,
    /// Identity-service answers under the current policy.
    answers: RefCell<AnswerCache>,
    /// When this core last logged a service's failure (at most one line a second).
    unavailable_logged: Cell<Option<Instant>>,
    /// Questions on their way to a service from this core: a burst of requests with the
    /// same credentials (a client opening many connections) asks once.
    asking: RefCell<HashMap<CacheTag, Shared<PendingAnswer>>>,
    /// Shared by every worker: one failure budget for the process.
    limiter: Arc<SharedLimiter>,
    /// Credentials that authenticated on this core (keyed hashes, no passwords).
    known_good: RefCell<KnownGood>,
    /// Credentials that failed on this core within the failure window (counted once).
    recent_failures: RefCell<KnownGood>,
    pool: Arc<HashPool>,
    /// The policy generation the cached verdicts belong to (key ids mean nothing across).
    generation: Cell<u64>,
    cache_settings: CacheSettings,
    throttled_status: u16,
    /// This worker's counters (cache hits and misses, throttled requests).
    metrics: Arc<WorkerMetrics>,
}

/// The shared, process-wide parts: the hashing pool, the cache key and the failure limits.
#[derive(Clone)]
pub struct SharedCredentials {
    pub hasher: KeyedHasher,
    pub pool: Arc<HashPool>,
    pub limiter: Arc<SharedLimiter>,
}

impl SharedCredentials {
    pub fn start(settings: &AuthSettings) -> std::io::Result<SharedCredentials> {
        let threads = settings.hash_threads.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
        });
        let hasher = KeyedHasher::new().map_err(|e| std::io::Error::other(e.to_string()))?;
        let throttle = ThrottleSettings {
            window: settings.failure_window,
            max_failures_per_address: settings.max_failures_per_address,
            max_failures_per_user: settings.max_failures_per_user,
            ..ThrottleSettings::default()
        };
        Ok(SharedCredentials {
            hasher,
            pool: HashPool::start(threads, settings.max_pending_hashes)?,
            limiter: Arc::new(SharedLimiter::new(throttle)),
        })
    }
}

impl Credentials {
    pub fn new(
        shared: &SharedCredentials,
        settings: &AuthSettings,
        metrics: Arc<WorkerMetrics>,
    ) -> Credentials {
        let cache_settings = CacheSettings {
            ttl: settings.cache_ttl,
            negative_ttl: settings.negative_cache_ttl,
            max_positive: settings.cache_max_entries,
            max_negative: settings.cache_max_entries,
        };
        Credentials {
            hasher: shared.hasher.clone(),
            cache: RefCell::new(CredentialCache::new(&cache_settings)),
            tokens: RefCell::new(TokenCache::default()),
            answers: RefCell::new(AnswerCache::default()),
            asking: RefCell::new(HashMap::new()),
            unavailable_logged: Cell::new(None),
            limiter: Arc::clone(&shared.limiter),
            known_good: RefCell::new(KnownGood::new(MAX_KNOWN_GOOD, KNOWN_GOOD_TTL)),
            recent_failures: RefCell::new(KnownGood::new(MAX_KNOWN_GOOD, settings.failure_window)),
            pool: Arc::clone(&shared.pool),
            generation: Cell::new(0),
            cache_settings,
            throttled_status: settings.throttled_status,
            metrics,
        }
    }

    /// The cache as a verifier for one evaluation under the policy of `generation`. A
    /// newer policy drops every cached verdict first; a request still deciding under an
    /// older one (it keeps the policy it started with) gets no cached verdicts at all
    /// rather than turning the cache back.
    pub fn verifier(&self, generation: u64) -> CachedVerifier<'_> {
        let current = self.generation.get();
        if generation > current {
            self.generation.set(generation);
            self.cache.borrow_mut().clear();
            self.tokens.borrow_mut().clear();
            self.answers.borrow_mut().clear();
        }
        CachedVerifier {
            credentials: self,
            generation,
            usable: generation >= current,
        }
    }

    /// The throttle, before the ACL is evaluated for a request that presents Basic
    /// credentials (any key kind: cheap keys are checked inline by the ACL, so this is
    /// their only throttle). `Ok` while nothing is blocked in the process (one relaxed
    /// atomic load, not even a clock read); while the address or the user is blocked,
    /// `Ok` only for credentials known-good on this core, else the throttled answer
    /// (429 with Retry-After, or 401 per `throttled_status`), to be sent after its
    /// `delay`.
    pub fn admit(&self, ip: IpAddr, user: &str, password: &str) -> Result<(), Denial> {
        if !self.limiter.any_blocked() {
            return Ok(());
        }
        self.throttle(ip, user, password, Instant::now())
    }

    /// Remembers that `user`/`password` authenticated, so that they pass a block of their
    /// user or address on this core for [`KNOWN_GOOD_TTL`] after their last success. Call
    /// it when the ACL allowed a request whose user was authenticated by these Basic
    /// credentials (cheap or expensive key), and only then: credentials that merely rode
    /// along on a request allowed without them must not become known-good. Costs a fast
    /// keyed hash, a clock read and a table update on this core; stores no password.
    pub fn remember_success(&self, user: &str, password: &str) {
        let mut known = self.known_good.borrow_mut();
        let fingerprint = known.fingerprint(user, password);
        known.insert(fingerprint, Instant::now());
    }

    /// Stale-while-revalidate for credentials that already verified under this policy: if
    /// `user`/`password` matched `key_id` before, they are accepted again at once (a
    /// provisional entry for [`REVALIDATE_GRACE`]) and the caller re-verifies in the
    /// background. A verdict cannot change without a policy reload, which empties the
    /// cache, so this never accepts anything the policy would refuse; it only keeps a known
    /// client from waiting behind a busy hashing pool when its entry's TTL runs out.
    pub fn accept_known(&self, generation: u64, key_id: u32, user: &str, password: &str) -> bool {
        if generation != self.generation.get() {
            return false;
        }
        let tag = self
            .hasher
            .tag(key_identity(generation, key_id), user, password);
        let known = self.cache.borrow().matched_before(&tag);
        if known {
            let grace = REVALIDATE_GRACE.min(self.cache_settings.ttl);
            self.cache
                .borrow_mut()
                .insert(tag, Verdict::Match, grace, Instant::now());
        }
        known
    }

    /// Computes the pending check on the pool (unless throttled) and caches the verdict if
    /// the policy it was asked under is still current.
    pub async fn verify(
        &self,
        generation: u64,
        pending: Pending,
        user: String,
        password: String,
        ip: IpAddr,
    ) -> Result<Verdict, Denial> {
        let tag = self
            .hasher
            .tag(key_identity(generation, pending.key_id), &user, &password);
        let now = Instant::now();
        // A tag that matched before is the owner refreshing, never a guess: not throttled,
        // so an attack on a user name cannot lock its owner out (nor can it with
        // credentials known-good through another key, see `throttle`).
        if !self.cache.borrow().matched_before(&tag) {
            self.throttle(ip, &user, &password, now)?;
        }
        let handle = self
            .pool
            .submit(tag, pending.key, user, password)
            .map_err(|_| busy())?;
        let verdict = handle.await.map_err(|_| busy())?;
        // A reload during the hash: the verdict belongs to a key that may be gone.
        if self.generation.get() == generation {
            let ttl = pending
                .cache_ttl
                .unwrap_or_else(|| self.cache_settings.ttl_for(verdict));
            self.cache
                .borrow_mut()
                .insert(tag, verdict, ttl, Instant::now());
        }
        Ok(verdict)
    }

    /// Asks an identity service the ACL's question (unless the caller is throttled), and
    /// caches the answer if the policy it was asked under is still current. A service that
    /// cannot answer is an answer too (`Err(Unavailable)`), cached briefly; `Err(Denial)`
    /// is only a throttled caller.
    pub async fn ask(&self, generation: u64, ask: Ask, ip: IpAddr) -> Result<Cached, Denial> {
        let tag = self.answer_tag(generation, ask.service_id, ask.question.asked());
        // Only a password is a guess worth throttling; a known user's answer being
        // refreshed is not one.
        if let Question::Authenticate { user, password, .. } = &ask.question {
            let known = matches!(
                self.answers.borrow().get(&tag, Instant::now()),
                Some(Ok(Answer::Known { .. }))
            );
            if !known {
                self.throttle(ip, user, password, Instant::now())?;
            }
        }
        let flight = self.asking.borrow().get(&tag).cloned();
        let answer = match flight {
            Some(flight) => flight.await,
            None => {
                let flight = ask.service.ask(ask.question).shared();
                self.asking.borrow_mut().insert(tag, flight.clone());
                // Removed however this ends, a dropped connection included: a finished
                // flight left in the map would answer every later question with its result.
                let _landed = Landed {
                    asking: &self.asking,
                    tag,
                };
                flight.await
            }
        };
        if let Err(unavailable) = &answer {
            self.log_unavailable(unavailable);
        }
        if self.generation.get() == generation {
            self.answers
                .borrow_mut()
                .insert(tag, answer.clone(), ask.cache_ttl, Instant::now());
        }
        Ok(answer)
    }

    /// The cause of a service's failure, for the operator (the client's 503 names only the
    /// service): at most one line a second per core, however many requests it fails.
    fn log_unavailable(&self, unavailable: &Unavailable) {
        let now = Instant::now();
        let recent = self
            .unavailable_logged
            .get()
            .is_some_and(|at| now.duration_since(at) < Duration::from_secs(1));
        if !recent {
            self.unavailable_logged.set(Some(now));
            tracing::warn!(reason = %unavailable.reason, "identity service unavailable");
        }
    }

    /// The cache tag of a question to a service. The question's kind is part of the key:
    /// a user's groups, asked without a password, must never answer a password check.
    fn answer_tag(&self, generation: u64, service_id: u32, asked: Asked<'_>) -> CacheTag {
        let (kind, user, password) = match asked {
            Asked::Authenticate {
                user,
                password,
                with_groups,
            } => (1 + u32::from(with_groups), user, password),
            Asked::Groups { user } => (3, user, ""),
        };
        let id = service_id | kind << 30;
        self.hasher
            .tag(key_identity(generation, id), user, password)
    }

    /// Counts one failed login against the address and the user, for the whole process.
    /// The request path calls it once per request refused because it presented Basic
    /// credentials valid for no authentication rule, cheap or expensive key alike: not once
    /// per key tried, not for a throttled answer, not for an internal error or a busy pool.
    /// The same user and password failing again within the window count once (per core).
    pub fn record_failure(&self, ip: IpAddr, user: &str, password: &str) {
        let now = Instant::now();
        let mut recent = self.recent_failures.borrow_mut();
        let fingerprint = recent.fingerprint(user, password);
        if recent.contains(fingerprint, now) {
            return;
        }
        recent.insert(fingerprint, now);
        drop(recent);
        self.limiter.record_failure(ip, Some(user), now);
    }

    /// `Err` with the throttled answer if the address or the user is blocked at `now` and
    /// these credentials are not known-good on this core.
    fn throttle(&self, ip: IpAddr, user: &str, password: &str, now: Instant) -> Result<(), Denial> {
        let Err(throttled) = self.limiter.check(ip, Some(user), now) else {
            return Ok(());
        };
        let known = self.known_good.borrow();
        if known.contains(known.fingerprint(user, password), now) {
            return Ok(());
        }
        self.metrics.throttled();
        Err(self.throttled(throttled))
    }

    fn throttled(&self, throttled: Throttled) -> Denial {
        let Throttled { retry_after, scope } = throttled;
        let scope = match scope {
            ThrottleScope::Address => "this address",
            ThrottleScope::User => "this user",
        };
        Denial::Throttled(Throttle {
            reason: format!("too many failed authentication attempts from {scope}; retry later"),
            retry_after,
            as_unauthorized: self.throttled_status == 401,
            delay: THROTTLED_DELAY.min(retry_after),
        })
    }
}

/// Takes a question's flight out of the map when its asker is done with it.
struct Landed<'a> {
    asking: &'a RefCell<HashMap<CacheTag, Shared<PendingAnswer>>>,
    tag: CacheTag,
}

impl Drop for Landed<'_> {
    fn drop(&mut self) {
        self.asking.borrow_mut().remove(&self.tag);
    }
}

fn busy() -> Denial {
    Denial::Busy {
        reason: "too many credential checks are queued; retry later",
        delay: Some(BUSY_DELAY),
    }
}

impl CredentialGate for Credentials {
    fn admit(&self, ip: IpAddr, user: &str, password: &str) -> Result<(), Denial> {
        Credentials::admit(self, ip, user, password)
    }

    fn succeeded(&self, user: &str, password: &str) {
        self.remember_success(user, password);
    }

    fn failed(&self, ip: IpAddr, user: &str, password: &str) {
        self.record_failure(ip, user, password);
    }
}

/// Answers the ACL from this worker's cache.
pub struct CachedVerifier<'a> {
    credentials: &'a Credentials,
    generation: u64,
    /// False for a request deciding under a policy older than the cache's.
    usable: bool,
}

impl Verifier for CachedVerifier<'_> {
    fn cached(&self, key_id: u32, user: &str, password: &str) -> Option<Verdict> {
        if !self.usable {
            return None;
        }
        let tag =
            self.credentials
                .hasher
                .tag(key_identity(self.generation, key_id), user, password);
        // The clock is read only for a key that needs it (most requests consult none).
        let verdict = self.credentials.cache.borrow().get(&tag, Instant::now());
        self.credentials.metrics.credential_cache(verdict.is_some());
        verdict
    }

    fn jwt(&self, definition: &JwtDefinition, token: &str) -> Option<Arc<VerifiedToken>> {
        if !self.usable {
            return definition.verify(token).ok().map(Arc::new);
        }
        // The same keyed hash as Basic credentials (the token's text is never kept), with
        // the definition's number in place of a key's.
        let tag =
            self.credentials
                .hasher
                .tag(key_identity(self.generation, definition.id), "jwt", token);
        let now = Instant::now();
        if let Some(cached) = self.credentials.tokens.borrow().get(&tag, now) {
            return cached;
        }
        let verified = definition.verify(token).ok().map(Arc::new);
        self.credentials.tokens.borrow_mut().insert(
            tag,
            verified.clone(),
            now,
            std::time::SystemTime::now(),
        );
        verified
    }

    fn remote(&self, service_id: u32, asked: Asked<'_>) -> Option<Result<Answer, Unavailable>> {
        self.remote_answer(service_id, asked)
    }
}

impl CachedVerifier<'_> {
    fn remote_answer(&self, service_id: u32, asked: Asked<'_>) -> Option<Cached> {
        if !self.usable {
            return None;
        }
        let tag = self
            .credentials
            .answer_tag(self.generation, service_id, asked);
        let answer = self.credentials.answers.borrow().get(&tag, Instant::now());
        self.credentials.metrics.credential_cache(answer.is_some());
        answer
    }
}

/// A key's identity across reloads: key numbers restart with every compiled policy.
fn key_identity(generation: u64, key_id: u32) -> u64 {
    generation << 32 | u64::from(key_id)
}

#[cfg(test)]
#[path = "credentials/tests.rs"]
mod tests;
