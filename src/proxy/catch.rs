//! Panics stay inside the task that raised them.
//!
//! A worker thread serves thousands of connections; a panic that unwound out of one task
//! would end them all (and, with `panic = "abort"`, the process). The release build unwinds
//! instead, and every task a worker runs is wrapped here: a panic ends only its own request
//! or task, is counted, and is logged once — by the catcher, with what it was doing (the
//! request line), not by the default hook's bare message on stderr.
//!
//! Client input must never panic in the first place (STYLE.md; the whole-path fuzzer checks
//! it); this is the second line.

use futures_util::FutureExt;
use std::cell::RefCell;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use tracing::error;

/// Panics caught on worker threads since the process started.
static PANICS_CAUGHT: AtomicU64 = AtomicU64::new(0);

/// Worker threads are named with this prefix; their panics are logged by the catchers.
pub const WORKER_THREAD_PREFIX: &str = "ringfence-w";

thread_local! {
    /// The message and location of the last panic on this thread, for its catcher.
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs the process's panic hook: on worker threads a panic is recorded for the
/// catcher to log; elsewhere the previous hook (stderr) runs as before.
pub fn install_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let on_worker = std::thread::current()
            .name()
            .is_some_and(|name| name.starts_with(WORKER_THREAD_PREFIX));
        if on_worker {
            LAST_PANIC.with(|last| *last.borrow_mut() = Some(info.to_string()));
        } else {
            previous(info);
        }
    }));
}

/// Panics caught on worker threads so far (all workers).
pub fn panics_caught() -> u64 {
    PANICS_CAUGHT.load(Ordering::Relaxed)
}

/// Counts and logs a panic caught while doing `what`.
pub fn record(what: &str) {
    PANICS_CAUGHT.fetch_add(1, Ordering::Relaxed);
    let message = LAST_PANIC
        .with(|last| last.borrow_mut().take())
        .unwrap_or_else(|| "panic".to_string());
    error!(task = what, panic = %message, "a panic was caught; only this task ended");
}

/// Runs `future`; a panic inside it ends it with `Err(())` after it was recorded. A plain
/// combinator, not an `async fn`: that would hold `future` twice in its state (as its
/// argument and as the awaited future), doubling every connection's task.
pub fn guarded<'a, F: Future + 'a>(
    what: &'a str,
    future: F,
) -> impl Future<Output = Result<F::Output, ()>> + 'a {
    AssertUnwindSafe(future)
        .catch_unwind()
        .map(move |caught| caught.map_err(|_| record(what)))
}

/// Spawns a background task on this worker whose panic ends only that task.
pub fn spawn_guarded<F>(what: &'static str, future: F)
where
    F: Future<Output = ()> + 'static,
{
    monoio::spawn(async move {
        let _ = guarded(what, future).await;
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    #[test]
    fn a_panicking_task_leaves_the_others_running() {
        let mut runtime = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .unwrap();
        let before = panics_caught();
        let done = Rc::new(std::cell::Cell::new(0));
        runtime.block_on({
            let done = Rc::clone(&done);
            async move {
                spawn_guarded("test", async {
                    monoio::time::sleep(std::time::Duration::from_millis(1)).await;
                    panic!("boom");
                });
                for _ in 0..3 {
                    monoio::time::sleep(std::time::Duration::from_millis(2)).await;
                    done.set(done.get() + 1);
                }
                assert!(guarded("inline", async { 7 }).await == Ok(7));
                assert!(guarded("inline", async { panic!("again") }).await.is_err());
            }
        });
        assert_eq!(done.get(), 3);
        assert!(panics_caught() >= before + 2);
    }
}
