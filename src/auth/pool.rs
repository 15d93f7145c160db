//! The hashing pool: expensive `auth_key*` checks on a few OS threads, bounded and
//! deduplicated, so that no worker's event loop ever runs a slow hash (rule 4).
//!
//! Owns: [`HashPool`] (one per process, shared by all workers through an `Arc`),
//! [`VerifyHandle`] (a future for one result) and the single-flight map.
//!
//! Must not: block a caller (a full pool answers [`PoolBusy`] at once), cache
//! results (each worker's `CredentialCache` does), or keep a password longer than
//! its computation needs.
//!
//! Where it sits in the walk:
//!
//! ```text
//! acl::evaluate -> Decision::Verify(Pending { key_id, key })
//!   -> tag = KeyedHasher::tag(key_id, user, password)
//!   -> SharedLimiter::check (unless cache.matched_before(tag) or known-good)
//!   -> HashPool::submit(tag, key, user, password) -> VerifyHandle.await
//!   -> cache.insert(tag, verdict); evaluate again
//! ```
//!
//! Single flight: submissions with a tag that is already queued or running (from
//! any worker) join that computation instead of starting another, so N identical
//! concurrent logins cost one hash. Tags include the key id, which only means
//! something within one snapshot; a submission whose tag is in flight for a
//! different `AuthKey` object (a reload raced it) gets `PoolBusy` rather than a
//! verdict computed for another key.
//!
//! Failure semantics (fail closed, rule 5): if the pool shuts down before a queued
//! computation starts, or the verifier panics, every waiter gets
//! `Err(`[`Abandoned`]`)`. That is an internal error, not a wrong password: deny
//! (500/503), and neither cache it nor count it as a failed login. (Every profile
//! unwinds on panic, so a panicking hash must not strand its waiters.)
//!
//! A std `Mutex` guards the queue and the in-flight map. It is taken only on cache
//! misses, a few times per computation of milliseconds, never on the hit path.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::thread::JoinHandle;

use crate::auth::cache::CacheTag;
use crate::auth::key::{AuthKey, Verdict};

/// Waiters one computation accepts. Far above any real burst of identical logins
/// (a connection waits on at most one), it bounds the memory a flood of identical
/// credentials can pin on one computation.
pub const MAX_WAITERS_PER_COMPUTATION: usize = 4096;

/// The pool is full (`max_pending` computations queued or running): deny now
/// (503 + Retry-After) instead of queueing without bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolBusy;

impl fmt::Display for PoolBusy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("credential hashing pool is full")
    }
}

impl std::error::Error for PoolBusy {}

/// The computation ended without a verdict (pool shut down, verifier panicked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Abandoned;

impl fmt::Display for Abandoned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("credential check abandoned")
    }
}

impl std::error::Error for Abandoned {}

/// What the pool runs. Private: production only submits [`AuthKey`]s; tests plug
/// in checks that block or panic on cue.
trait Check: Send + Sync {
    fn check(&self, user: &[u8], password: &[u8]) -> Verdict;
}

impl Check for AuthKey {
    fn check(&self, user: &[u8], password: &[u8]) -> Verdict {
        self.verify(user, password)
    }
}

pub struct HashPool {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl fmt::Debug for HashPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HashPool")
            .field("threads", &self.threads.len())
            .field("pending", &self.pending())
            .field("computations", &self.computations())
            .finish()
    }
}

struct Shared {
    state: Mutex<State>,
    work: Condvar,
    computations: AtomicU64,
    max_pending: usize,
}

struct State {
    /// Tags of flights not started yet, oldest first.
    queue: VecDeque<CacheTag>,
    /// Every queued or running computation.
    flights: HashMap<CacheTag, Flight>,
    closed: bool,
}

struct Flight {
    check: Arc<dyn Check>,
    /// `Some` until a pool thread takes the job.
    credentials: Option<Credentials>,
    waiters: Vec<Completer>,
}

struct Credentials {
    user: String,
    password: String,
}

impl Drop for Credentials {
    /// Best effort: overwrite the password before its memory is freed. Without
    /// `unsafe` (volatile writes) the compiler may in principle drop these stores;
    /// `black_box` makes that unlikely. Copies the caller made are the caller's.
    fn drop(&mut self) {
        let mut bytes = std::mem::take(&mut self.password).into_bytes();
        let capacity = bytes.capacity();
        bytes.resize(capacity, 0);
        bytes.fill(0);
        std::hint::black_box(&bytes);
    }
}

impl HashPool {
    /// Starts `threads` hashing threads (at least one) named `ringfence-hash-N`.
    /// `max_pending` bounds queued plus running computations; 0 refuses every
    /// submission. Fails only if the OS refuses a thread.
    pub fn start(threads: usize, max_pending: usize) -> std::io::Result<Arc<HashPool>> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                flights: HashMap::new(),
                closed: false,
            }),
            work: Condvar::new(),
            computations: AtomicU64::new(0),
            max_pending,
        });
        // Built first so that a failed spawn drops it and stops the threads so far.
        let mut pool = HashPool {
            shared,
            threads: Vec::with_capacity(threads.max(1)),
        };
        for n in 0..threads.max(1) {
            let shared = Arc::clone(&pool.shared);
            let handle = std::thread::Builder::new()
                .name(format!("ringfence-hash-{n}"))
                .spawn(move || {
                    // Lowest CPU priority (nice 19): whenever a worker has a request to
                    // serve, the kernel runs the worker first, so a flood of new
                    // credentials slows other hashes down, never served traffic. Failing
                    // to lower it only loses that protection.
                    let _ = thread_priority::set_current_thread_priority(
                        thread_priority::ThreadPriority::Min,
                    );
                    shared.run()
                })?;
            pool.threads.push(handle);
        }
        Ok(Arc::new(pool))
    }

    /// Queues a check of `user`/`password` against `key`, or joins the computation
    /// already in flight for `tag`. Never blocks. `tag` must be
    /// `KeyedHasher::tag(key_id, user, password)` for this `key`.
    pub fn submit(
        &self,
        tag: CacheTag,
        key: Arc<AuthKey>,
        user: String,
        password: String,
    ) -> Result<VerifyHandle, PoolBusy> {
        self.submit_check(tag, key, Credentials { user, password })
    }

    fn submit_check(
        &self,
        tag: CacheTag,
        check: Arc<dyn Check>,
        credentials: Credentials,
    ) -> Result<VerifyHandle, PoolBusy> {
        let mut state = self.shared.lock();
        if state.closed {
            return Err(PoolBusy);
        }
        if let Some(flight) = state.flights.get_mut(&tag) {
            if !Arc::ptr_eq(&flight.check, &check)
                || flight.waiters.len() >= MAX_WAITERS_PER_COMPUTATION
            {
                return Err(PoolBusy);
            }
            let (completer, handle) = oneshot(true);
            flight.waiters.push(completer);
            return Ok(handle);
        }
        if state.flights.len() >= self.shared.max_pending {
            return Err(PoolBusy);
        }
        let (completer, handle) = oneshot(false);
        state.flights.insert(
            tag,
            Flight {
                check,
                credentials: Some(credentials),
                waiters: vec![completer],
            },
        );
        state.queue.push_back(tag);
        drop(state);
        self.shared.work.notify_one();
        Ok(handle)
    }

    /// Verifies that actually ran (metrics; joined and skipped ones not counted).
    pub fn computations(&self) -> u64 {
        self.shared.computations.load(Ordering::Relaxed)
    }

    /// Computations queued or running.
    pub fn pending(&self) -> usize {
        self.shared.lock().flights.len()
    }
}

impl Drop for HashPool {
    /// Queued computations are abandoned (their waiters get `Err(Abandoned)`);
    /// running ones finish and deliver. Joins the threads, so dropping the last
    /// `Arc` can wait for at most one hash per thread.
    fn drop(&mut self) {
        let queued: Vec<Flight> = {
            let mut state = self.shared.lock();
            state.closed = true;
            state.queue.clear();
            let tags: Vec<CacheTag> = state
                .flights
                .iter()
                .filter(|(_, flight)| flight.credentials.is_some())
                .map(|(tag, _)| *tag)
                .collect();
            tags.iter()
                .filter_map(|tag| state.flights.remove(tag))
                .collect()
        };
        // Waking happens outside the lock, as the flights' completers drop.
        drop(queued);
        self.shared.work.notify_all();
        for thread in self.threads.drain(..) {
            // A thread can only have died from a panic outside `check`, which
            // `catch_unwind` does not cover; there is nothing left to clean up.
            let _ = thread.join();
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock, so a poisoned state is still
        // consistent; refusing service over it would turn a bug into an outage.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One pool thread: take the oldest flight, check, deliver, repeat.
    fn run(&self) {
        while let Some((tag, check, credentials)) = self.next_job() {
            self.computations.fetch_add(1, Ordering::Relaxed);
            let verdict = catch_unwind(AssertUnwindSafe(|| {
                check.check(credentials.user.as_bytes(), credentials.password.as_bytes())
            }))
            .ok();
            drop(credentials);
            let waiters = self
                .lock()
                .flights
                .remove(&tag)
                .map(|flight| flight.waiters)
                .unwrap_or_default();
            for waiter in waiters {
                match verdict {
                    Some(verdict) => waiter.complete(verdict),
                    // Dropping a completer delivers `Err(Abandoned)`.
                    None => drop(waiter),
                }
            }
        }
    }

    /// Blocks until there is work; `None` once the pool is closed.
    fn next_job(&self) -> Option<(CacheTag, Arc<dyn Check>, Credentials)> {
        let mut state = self.lock();
        loop {
            if state.closed {
                return None;
            }
            while let Some(tag) = state.queue.pop_front() {
                let Some(flight) = state.flights.get_mut(&tag) else {
                    continue;
                };
                if flight.waiters.iter().all(Completer::is_abandoned) {
                    // Every client gave up (disconnected) before it started: an
                    // attacker cannot make the pool hash for nobody.
                    state.flights.remove(&tag);
                    continue;
                }
                if let Some(credentials) = flight.credentials.take() {
                    return Some((tag, Arc::clone(&flight.check), credentials));
                }
            }
            state = self
                .work
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// The result of one submission. Resolves on any executor: the pool thread wakes
/// the `Waker` of the last poll (monoio needs its `sync` feature for that).
#[derive(Debug)]
pub struct VerifyHandle {
    slot: Arc<Slot>,
    joined: bool,
}

impl VerifyHandle {
    /// Whether this submission joined a computation started by another one, so that
    /// it cost no hash of its own.
    pub fn joined(&self) -> bool {
        self.joined
    }
}

impl Future for VerifyHandle {
    type Output = Result<Verdict, Abandoned>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.slot.lock();
        match &mut *state {
            SlotState::Ready(result) => {
                let result = *result;
                *state = SlotState::Taken;
                Poll::Ready(result)
            }
            SlotState::Waiting(waker) => {
                match waker {
                    Some(waker) if waker.will_wake(cx.waker()) => {}
                    _ => *waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            // Polled again after it returned: fail closed rather than panic.
            SlotState::Taken => Poll::Ready(Err(Abandoned)),
        }
    }
}

#[derive(Debug)]
struct Slot(Mutex<SlotState>);

#[derive(Debug)]
enum SlotState {
    Waiting(Option<Waker>),
    Ready(Result<Verdict, Abandoned>),
    Taken,
}

impl Slot {
    fn lock(&self) -> MutexGuard<'_, SlotState> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn finish(&self, result: Result<Verdict, Abandoned>) {
        let waker = {
            let mut state = self.lock();
            match &mut *state {
                SlotState::Waiting(waker) => {
                    let waker = waker.take();
                    *state = SlotState::Ready(result);
                    waker
                }
                SlotState::Ready(_) | SlotState::Taken => None,
            }
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// The pool's end of a [`VerifyHandle`]. Dropping it undelivered delivers
/// `Err(Abandoned)`, so no path (shutdown, panic, early return) leaves a waiter
/// hanging.
struct Completer(Option<Arc<Slot>>);

fn oneshot(joined: bool) -> (Completer, VerifyHandle) {
    let slot = Arc::new(Slot(Mutex::new(SlotState::Waiting(None))));
    (
        Completer(Some(Arc::clone(&slot))),
        VerifyHandle { slot, joined },
    )
}

impl Completer {
    fn complete(mut self, verdict: Verdict) {
        if let Some(slot) = self.0.take() {
            slot.finish(Ok(verdict));
        }
    }

    /// The handle was dropped: nobody will read the result. (Only the handle and
    /// this completer hold the slot, so the count cannot rise again.)
    fn is_abandoned(&self) -> bool {
        self.0
            .as_ref()
            .is_none_or(|slot| Arc::strong_count(slot) == 1)
    }
}

impl Drop for Completer {
    fn drop(&mut self) {
        if let Some(slot) = self.0.take() {
            slot.finish(Err(Abandoned));
        }
    }
}

#[cfg(test)]
#[path = "pool/tests.rs"]
mod tests;
