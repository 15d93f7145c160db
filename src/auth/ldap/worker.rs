//! The service's thread: one current-thread tokio runtime (ldap3 needs tokio), named
//! `ringfence-ldap-<name>`, started by the first question.
//!
//! ```text
//! LdapService::ask ──bounded queue──▶ serve: take a permit (connection_pool_size),
//!                                     then a question ─▶ spawn: Directory::answer
//!                                     ─▶ breaker ─▶ reply (a one-slot channel)
//! ```
//!
//! Questions wait in the queue while every permit is taken, so a full queue really means
//! a busy directory and `ask` can refuse at once. The loop ends when the queue closes (the
//! last `LdapService` was dropped: a reload replaced the policy); the questions already
//! taken are answered first, then the thread ends.
//!
//! Must not: hold a reference to the `LdapService` (the thread would keep it alive), or
//! block: everything here is async on the thread's own runtime.

use super::directory::{Directory, Failure};
use super::Shared;
use crate::auth::remote::{Answer, Question, Unavailable};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Semaphore;

/// One queued question and where its answer goes.
pub(super) struct Job {
    pub question: Question,
    pub reply: flume::Sender<Result<Answer, Unavailable>>,
}

/// Starts the thread; its queue holds `capacity` questions.
pub(super) fn start(shared: Arc<Shared>, capacity: usize) -> Result<flume::Sender<Job>, String> {
    let (sender, receiver) = flume::bounded(capacity);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start its runtime: {e}"))?;
    std::thread::Builder::new()
        .name(crate::auth::remote::thread_name(
            "ringfence-ldap",
            &shared.settings.name,
        ))
        .spawn(move || {
            let tasks = tokio::task::LocalSet::new();
            tasks.block_on(&runtime, serve(shared, receiver));
        })
        .map_err(|e| format!("cannot start its thread: {e}"))?;
    Ok(sender)
}

async fn serve(shared: Arc<Shared>, queue: flume::Receiver<Job>) {
    let pool_size = shared.settings.pool_size.max(1);
    let permits = Arc::new(Semaphore::new(pool_size));
    let directory = Rc::new(Directory::new(shared.clone()));
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let Ok(job) = queue.recv_async().await else {
            break;
        };
        if job.reply.is_disconnected() {
            // Nobody waits for this answer any more (the request ended).
            continue;
        }
        let (shared, directory) = (shared.clone(), directory.clone());
        tokio::task::spawn_local(async move {
            let answer = answer(&shared, &directory, &job.question).await;
            drop(permit);
            let _gone = job.reply.send(answer);
        });
    }
    // The queue closed: let the questions in flight finish before the runtime drops them.
    let _all = permits.acquire_many(pool_size as u32).await;
}

async fn answer(
    shared: &Shared,
    directory: &Directory,
    question: &Question,
) -> Result<Answer, Unavailable> {
    match directory.answer(question).await {
        Ok(answer) => {
            shared.breaker.success();
            Ok(answer)
        }
        Err(Failure::Refused(cause)) => {
            // The directory is up and answering: not a reason to stop asking it.
            shared.breaker.success();
            Err(shared.unavailable(cause))
        }
        Err(Failure::Unreachable(cause)) => {
            shared.breaker.failure(Instant::now());
            Err(shared.unavailable(cause))
        }
    }
}
