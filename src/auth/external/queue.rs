//! One external service's bounded queue and its own threads, where the blocking HTTP
//! exchanges happen.
//!
//! Owns: starting the threads on the first question (never before: `ringfence check` and a
//! policy that is loaded but never asks start none), the circuit breaker's bookkeeping, and
//! handing each answer back through a one-shot channel that any executor can await.
//!
//! Must not: block the caller. `ask` only checks the breaker and `try_send`s; a full queue
//! or an open circuit is answered `Unavailable` at once. The threads hold the receiving end
//! of the queue and the exchange, not the service: when the service's last `Arc` drops, the
//! queue closes and each thread ends after the exchange it is in (bounded by the timeouts).

use crate::auth::remote::{self, Answer, CircuitBreaker, PendingAnswer, Question, Unavailable};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

/// Questions waiting for a thread, per service. Beyond this the service is answered
/// `Unavailable` at once: a slow service must not pile up requests without bound.
pub const QUEUE_CAPACITY: usize = 256;

/// What one exchange with the service came to.
#[derive(Debug)]
pub enum Outcome {
    /// The service answered, whatever it said (the circuit closes).
    Reply(Result<Answer, Unavailable>),
    /// The service could not be reached, timed out, or failed (5xx): counts toward
    /// opening the circuit.
    Failure(Unavailable),
}

/// One HTTP exchange per question, run on the service's threads.
pub trait Exchange: Send + Sync + 'static {
    fn run(&self, question: &Question) -> Outcome;
}

struct Job {
    question: Question,
    reply: flume::Sender<Result<Answer, Unavailable>>,
}

/// The queue in front of a service's threads.
pub struct Queue<E: Exchange> {
    /// `external_authentication service `x`` or `groups provider `x``, for reasons.
    label: String,
    /// Thread names: `ringfence-ext-<name>`.
    thread_name: String,
    threads: usize,
    breaker: Arc<CircuitBreaker>,
    exchange: Arc<E>,
    /// Set on the first question: the queue's sending end, or why no thread started.
    started: OnceLock<Result<flume::Sender<Job>, String>>,
}

impl<E: Exchange> std::fmt::Debug for Queue<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("label", &self.label)
            .field("threads", &self.threads)
            .field("started", &self.started.get().is_some())
            .field("circuit_open", &self.breaker.is_open())
            .finish()
    }
}

impl<E: Exchange> Queue<E> {
    pub fn new(
        label: String,
        name: &str,
        threads: usize,
        breaker: CircuitBreaker,
        exchange: E,
    ) -> Queue<E> {
        Queue {
            label,
            thread_name: crate::auth::remote::thread_name("ringfence-ext", name),
            threads: threads.max(1),
            breaker: Arc::new(breaker),
            exchange: Arc::new(exchange),
            started: OnceLock::new(),
        }
    }

    fn unavailable(&self, why: impl std::fmt::Display) -> Unavailable {
        Unavailable {
            reason: format!("{}: {why}", self.label),
        }
    }

    /// Queues `question`; never blocks.
    pub fn ask(&self, question: Question) -> PendingAnswer {
        if !self.breaker.allow(Instant::now()) {
            return remote::ready(Err(self.unavailable(
                "circuit open after repeated failures (questions are refused for a while)",
            )));
        }
        let sender = match self.started.get_or_init(|| self.start()) {
            Ok(sender) => sender,
            Err(why) => return remote::ready(Err(self.unavailable(why))),
        };
        let (reply, answer) = flume::bounded(1);
        match sender.try_send(Job { question, reply }) {
            Ok(()) => {
                let lost = self.unavailable("the service thread ended without an answer");
                Box::pin(async move { answer.into_recv_async().await.unwrap_or(Err(lost)) })
            }
            Err(flume::TrySendError::Full(_)) => remote::ready(Err(
                self.unavailable(format!("too many questions waiting ({QUEUE_CAPACITY})"))
            )),
            Err(flume::TrySendError::Disconnected(_)) => {
                remote::ready(Err(self.unavailable("no service thread is running")))
            }
        }
    }

    /// Starts the threads; an error when not even one could be started.
    fn start(&self) -> Result<flume::Sender<Job>, String> {
        let (sender, receiver) = flume::bounded::<Job>(QUEUE_CAPACITY);
        let mut started = 0;
        let mut last_error = None;
        for _ in 0..self.threads {
            let receiver = receiver.clone();
            let exchange = Arc::clone(&self.exchange);
            let breaker = Arc::clone(&self.breaker);
            let label = self.label.clone();
            let spawned = std::thread::Builder::new()
                .name(self.thread_name.clone())
                .spawn(move || serve(&receiver, &*exchange, &breaker, &label));
            match spawned {
                Ok(_) => started += 1,
                Err(e) => last_error = Some(e),
            }
        }
        match (started, last_error) {
            (0, Some(e)) => Err(format!("cannot start a service thread: {e}")),
            (_, Some(e)) => {
                tracing::warn!(service = %self.label, started, error = %e, "fewer service threads than configured");
                Ok(sender)
            }
            _ => Ok(sender),
        }
    }
}

/// A service thread: one question at a time until the queue closes.
fn serve<E: Exchange>(
    receiver: &flume::Receiver<Job>,
    exchange: &E,
    breaker: &CircuitBreaker,
    label: &str,
) {
    while let Ok(job) = receiver.recv() {
        if job.reply.is_disconnected() {
            // The asker gave up (its request ended): nothing to ask the service for.
            continue;
        }
        // A panic in the HTTP stack must cost one answer, not the thread.
        let outcome = catch_unwind(AssertUnwindSafe(|| exchange.run(&job.question)))
            .unwrap_or_else(|_| {
                Outcome::Failure(Unavailable {
                    reason: format!("{label}: internal error while asking the service"),
                })
            });
        let answer = match outcome {
            Outcome::Reply(answer) => {
                breaker.success();
                answer
            }
            Outcome::Failure(unavailable) => {
                breaker.failure(Instant::now());
                Err(unavailable)
            }
        };
        // The asker may have given up meanwhile.
        let _ = job.reply.send(answer);
    }
}
