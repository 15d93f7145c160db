//! Waits for a future on the test's own thread: the identity services' answers are channel
//! receivers, woken from the services' threads. Use with
//! `#[path = "support/block_on.rs"] mod block_on;`.

#![allow(dead_code, reason = "each test file uses a different part")]

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

/// Wakes the thread that waits in [`block_on`].
pub struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// A waker for the current thread.
pub fn waker() -> Waker {
    Waker::from(Arc::new(Unpark(std::thread::current())))
}

pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let waker = waker();
    let mut context = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        // A wake that came before the park is not lost (park returns at once); the timeout
        // only bounds a missed one.
        std::thread::park_timeout(Duration::from_millis(100));
    }
}
