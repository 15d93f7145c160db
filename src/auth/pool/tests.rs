use super::*;
use crate::auth::cache::KeyedHasher;
use crate::auth::key::KeyKind;
use std::sync::atomic::AtomicUsize;
use std::sync::Barrier;
use std::task::Wake;
use std::time::{Duration, Instant};

/// readonlyrest.md §3.3, the docs' `auth_key_unix` vector for `test:test`.
const UNIX_TEST: &str = "test:$6$rounds=65535$d07dnv4N$QeErsDT9Mz.ZoEPXW3dwQGL7tzwRz.eOrTBepIwfGEwdUAYSy/NirGoOaNyPx8lqiR6DYRSsDzVvVbhP4Y9wf0";
/// Upper bound for anything a test waits on, so a bug fails instead of hanging.
const PATIENCE: Duration = Duration::from_secs(30);

struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Parks the current thread until `future` is ready; the pool wakes it through the
/// `Waker`, exactly as it would wake a monoio task.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        assert!(Instant::now() < deadline, "future never woke");
        std::thread::park_timeout(PATIENCE);
    }
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn tag(n: u32) -> CacheTag {
    KeyedHasher::from_key([1; 32]).tag(u64::from(n), "user", "password")
}

fn credentials(user: &str, password: &str) -> Credentials {
    Credentials {
        user: user.to_owned(),
        password: password.to_owned(),
    }
}

fn unix_key() -> Arc<AuthKey> {
    Arc::new(AuthKey::parse(KeyKind::Unix, UNIX_TEST).unwrap())
}

/// A check that holds its pool thread until `open`, and records what ran where.
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    opened: Condvar,
    calls: AtomicUsize,
    running: AtomicUsize,
    max_running: AtomicUsize,
    threads: Mutex<Vec<String>>,
}

impl Gate {
    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
    }
}

impl Check for Gate {
    fn check(&self, _: &[u8], password: &[u8]) -> Verdict {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let running = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_running.fetch_max(running, Ordering::SeqCst);
        let name = std::thread::current().name().unwrap_or("").to_owned();
        self.threads.lock().unwrap().push(name);
        let open = self.open.lock().unwrap();
        let (_open, timeout) = self
            .opened
            .wait_timeout_while(open, PATIENCE, |open| !*open)
            .unwrap();
        assert!(!timeout.timed_out(), "gate never opened");
        self.running.fetch_sub(1, Ordering::SeqCst);
        if password == b"right" {
            Verdict::Match
        } else {
            Verdict::WrongPassword
        }
    }
}

struct Panics;

impl Check for Panics {
    fn check(&self, _: &[u8], _: &[u8]) -> Verdict {
        panic!("verifier bug (expected by the test)");
    }
}

#[test]
fn identical_concurrent_submissions_cost_one_real_hash() {
    let pool = HashPool::start(1, 8).unwrap();
    // Hold the only thread so that all 16 submissions land before the hash starts:
    // the single flight is then certain, not a race against a 20 ms hash.
    let gate = Arc::new(Gate::default());
    let gated = pool.submit_check(tag(0), gate.clone(), credentials("u", "right"));
    wait_until("gate to run", || gate.calls.load(Ordering::SeqCst) == 1);

    let key = unix_key();
    let unix_tag = KeyedHasher::from_key([1; 32]).tag(9, "test", "test");
    let barrier = Arc::new(Barrier::new(16));
    let submitted = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..16)
        .map(|_| {
            let (pool, key, barrier, submitted) = (
                pool.clone(),
                key.clone(),
                barrier.clone(),
                submitted.clone(),
            );
            std::thread::spawn(move || {
                barrier.wait();
                let handle = pool.submit(unix_tag, key, "test".into(), "test".into());
                submitted.fetch_add(1, Ordering::SeqCst);
                let handle = handle.unwrap();
                let joined = handle.joined();
                (joined, block_on(handle))
            })
        })
        .collect();
    wait_until("16 submissions", || submitted.load(Ordering::SeqCst) == 16);
    assert_eq!(pool.pending(), 2);
    gate.open();
    assert_eq!(block_on(gated.unwrap()), Ok(Verdict::Match));

    let results: Vec<_> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    assert!(results.iter().all(|(_, r)| *r == Ok(Verdict::Match)));
    assert_eq!(results.iter().filter(|(joined, _)| !joined).count(), 1);
    assert_eq!(pool.computations(), 2, "the gate and one unix-crypt hash");
    assert_eq!(pool.pending(), 0);
}

#[test]
fn real_key_verdicts_are_delivered() {
    let pool = HashPool::start(2, 8).unwrap();
    let hasher = KeyedHasher::from_key([2; 32]);
    let cases = [
        ("test", "test", Verdict::Match),
        ("test", "wrong", Verdict::WrongPassword),
        ("other", "test", Verdict::UserMismatch),
    ];
    let handles: Vec<_> = cases
        .iter()
        .map(|(user, password, _)| {
            let tag = hasher.tag(1, user, password);
            let handle = pool.submit(tag, unix_key(), (*user).into(), (*password).into());
            handle.unwrap()
        })
        .collect();
    for (handle, (_, _, expected)) in handles.into_iter().zip(cases) {
        assert_eq!(block_on(handle), Ok(expected));
    }
    assert_eq!(pool.computations(), 3);
}

#[test]
fn busy_when_max_pending_is_reached_but_joining_is_free() {
    let pool = HashPool::start(1, 2).unwrap();
    let gate = Arc::new(Gate::default());
    let running = pool.submit_check(tag(1), gate.clone(), credentials("u", "right"));
    let queued = pool.submit_check(tag(2), gate.clone(), credentials("u", "wrong"));
    wait_until("first to run", || gate.calls.load(Ordering::SeqCst) == 1);
    assert_eq!(pool.pending(), 2);
    assert_eq!(
        pool.submit_check(tag(3), gate.clone(), credentials("u", "x"))
            .err(),
        Some(PoolBusy)
    );
    // Joining an in-flight computation (queued or running) adds no work.
    let joined_running = pool
        .submit_check(tag(1), gate.clone(), credentials("u", "right"))
        .unwrap();
    let joined_queued = pool
        .submit_check(tag(2), gate.clone(), credentials("u", "wrong"))
        .unwrap();
    assert!(joined_running.joined() && joined_queued.joined());
    gate.open();
    assert_eq!(block_on(running.unwrap()), Ok(Verdict::Match));
    assert_eq!(block_on(joined_running), Ok(Verdict::Match));
    assert_eq!(block_on(queued.unwrap()), Ok(Verdict::WrongPassword));
    assert_eq!(block_on(joined_queued), Ok(Verdict::WrongPassword));
    assert_eq!(gate.calls.load(Ordering::SeqCst), 2);
    wait_until("empty pool", || pool.pending() == 0);
    let later = pool.submit_check(tag(3), gate.clone(), credentials("u", "x"));
    assert_eq!(block_on(later.unwrap()), Ok(Verdict::WrongPassword));
}

#[test]
fn zero_max_pending_refuses_everything() {
    let pool = HashPool::start(1, 0).unwrap();
    let result = pool.submit(tag(1), unix_key(), "test".into(), "test".into());
    assert_eq!(result.err(), Some(PoolBusy));
}

#[test]
fn different_tags_run_in_parallel_up_to_the_thread_count() {
    let pool = HashPool::start(2, 16).unwrap();
    let gate = Arc::new(Gate::default());
    let handles: Vec<_> = (0..5)
        .map(|n| {
            pool.submit_check(tag(n), gate.clone(), credentials("u", "right"))
                .unwrap()
        })
        .collect();
    wait_until("two running", || gate.running.load(Ordering::SeqCst) == 2);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(gate.running.load(Ordering::SeqCst), 2);
    assert_eq!(pool.pending(), 5);
    gate.open();
    for handle in handles {
        assert_eq!(block_on(handle), Ok(Verdict::Match));
    }
    assert_eq!(gate.max_running.load(Ordering::SeqCst), 2);
    assert_eq!(pool.computations(), 5);
    let mut names = gate.threads.lock().unwrap().clone();
    names.sort();
    names.dedup();
    assert_eq!(names, ["ringfence-hash-0", "ringfence-hash-1"]);
}

#[test]
fn zero_threads_still_means_one() {
    let pool = HashPool::start(0, 4).unwrap();
    let gate = Arc::new(Gate::default());
    gate.open();
    let handle = pool.submit_check(tag(1), gate, credentials("u", "right"));
    assert_eq!(block_on(handle.unwrap()), Ok(Verdict::Match));
}

#[test]
fn a_panicking_check_fails_closed_and_the_pool_survives() {
    let pool = HashPool::start(1, 4).unwrap();
    let panics: Arc<dyn Check> = Arc::new(Panics);
    let first = pool.submit_check(tag(1), panics.clone(), credentials("u", "p"));
    let second = pool.submit_check(tag(1), panics, credentials("u", "p"));
    assert_eq!(block_on(first.unwrap()), Err(Abandoned));
    // Joined the first flight, or started its own if the panic came first: either
    // way it fails closed.
    assert_eq!(block_on(second.unwrap()), Err(Abandoned));
    let gate = Arc::new(Gate::default());
    gate.open();
    let after = pool.submit_check(tag(2), gate, credentials("u", "right"));
    assert_eq!(block_on(after.unwrap()), Ok(Verdict::Match));
    assert_eq!(pool.pending(), 0);
}

#[test]
fn a_tag_in_flight_for_another_key_is_not_joined() {
    let pool = HashPool::start(1, 4).unwrap();
    let gate = Arc::new(Gate::default());
    let first = pool.submit_check(tag(1), gate.clone(), credentials("u", "right"));
    let other: Arc<dyn Check> = Arc::new(Gate::default());
    let second = pool.submit_check(tag(1), other, credentials("u", "right"));
    assert_eq!(second.err(), Some(PoolBusy));
    gate.open();
    assert_eq!(block_on(first.unwrap()), Ok(Verdict::Match));
}

#[test]
fn work_nobody_waits_for_is_skipped() {
    let pool = HashPool::start(1, 4).unwrap();
    let gate = Arc::new(Gate::default());
    let running = pool.submit_check(tag(1), gate.clone(), credentials("u", "right"));
    wait_until("gate to run", || gate.calls.load(Ordering::SeqCst) == 1);
    let skipped = Arc::new(Gate::default());
    let handle = pool.submit_check(tag(2), skipped.clone(), credentials("u", "right"));
    drop(handle);
    gate.open();
    assert_eq!(block_on(running.unwrap()), Ok(Verdict::Match));
    wait_until("empty pool", || pool.pending() == 0);
    assert_eq!(skipped.calls.load(Ordering::SeqCst), 0);
    assert_eq!(pool.computations(), 1);
}

#[test]
fn shutdown_abandons_queued_work_and_finishes_running_work() {
    let pool = HashPool::start(1, 4).unwrap();
    let gate = Arc::new(Gate::default());
    let running = pool.submit_check(tag(1), gate.clone(), credentials("u", "right"));
    wait_until("gate to run", || gate.calls.load(Ordering::SeqCst) == 1);
    let queued = pool.submit_check(tag(2), gate.clone(), credentials("u", "right"));
    let shared = Arc::clone(&pool.shared);
    // The last `Arc` drops on another thread: `Drop` joins the pool threads, which
    // waits for the running check.
    let dropper = std::thread::spawn(move || drop(pool));
    assert_eq!(block_on(queued.unwrap()), Err(Abandoned));
    gate.open();
    assert_eq!(block_on(running.unwrap()), Ok(Verdict::Match));
    dropper.join().unwrap();
    // Every pool thread has exited and released its reference.
    assert_eq!(Arc::strong_count(&shared), 1);
    assert_eq!(gate.calls.load(Ordering::SeqCst), 1);
}

#[test]
fn polling_after_completion_fails_closed() {
    let pool = HashPool::start(1, 4).unwrap();
    let gate = Arc::new(Gate::default());
    gate.open();
    let mut handle = pool
        .submit_check(tag(1), gate, credentials("u", "right"))
        .unwrap();
    assert_eq!(block_on(&mut handle), Ok(Verdict::Match));
    assert_eq!(block_on(&mut handle), Err(Abandoned));
}
