//! The process-wide audit service: per-worker queues, the writer thread and its outputs.
//!
//! Workers only [`Recorder::record`]: a `try_send` into their own bounded queue. They wake
//! the writer only when their queue is a quarter full since the last wake: the
//! `ringfence-audit` thread otherwise wakes on its own every [`AuditTuning::writer_tick`],
//! so a busy gateway pays no wake-up (a futex call and a context switch) per event. The
//! writer drains the queues in turn, serializes each event once per distinct serializer and
//! hands the same bytes to every output that uses it (a file and an index with the default
//! serializer share one document); a bulk output gets its documents in chunks, one hand-off
//! per round or per full bulk, not one per event.
//! Nothing here blocks a worker; everything dropped is counted in [`AuditStats`].

use super::cluster::{ClusterTarget, TargetTls};
use super::event::Event;
use super::file::FileOutput;
use super::index::{BulkDestination, BulkOutput, WarnLimiter};
use super::serialize::{skips, write_document};
use super::settings::{AuditSettings, BasicAuthorization, ClusterNode, OutputKind, Serializer};
use crate::config::UpstreamUrl;
use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant, SystemTime};

/// Events the writer takes from one queue before it looks at the next.
const MAX_EVENTS_PER_TURN: usize = 256;

/// Queue sizes, batching and timing. [`Default`] batches bulks by 1,000 events, 1 MiB or
/// 2 s: ReadonlyREST's 100 events / 100 KB made a bulk request (and a connection) per 100
/// events, which alone cost the gateway about 3 µs of CPU per event
/// (`tuning/load/bench.py audit`).
#[derive(Debug, Clone)]
pub struct AuditTuning {
    pub worker_queue_events: usize,
    pub bulk_queue_events: usize,
    pub bulk_max_events: u64,
    pub bulk_max_bytes: usize,
    pub bulk_max_delay: Duration,
    pub bulk_retries: u32,
    pub bulk_first_backoff: Duration,
    /// Connect, read and write timeout for each request to the audit cluster.
    pub cluster_timeout: Duration,
    pub file_flush_interval: Duration,
    /// How often the writer drains the queues when no worker woke it (the longest an
    /// event waits in its queue on a quiet gateway).
    pub writer_tick: Duration,
    /// How long [`Audit::shutdown`] waits for queued events to be written.
    pub shutdown_wait: Duration,
}

impl Default for AuditTuning {
    fn default() -> Self {
        AuditTuning {
            worker_queue_events: 8192,
            bulk_queue_events: 10_000,
            bulk_max_events: 1000,
            bulk_max_bytes: 1024 * 1024,
            bulk_max_delay: Duration::from_secs(2),
            bulk_retries: 3,
            bulk_first_backoff: Duration::from_millis(200),
            cluster_timeout: Duration::from_secs(10),
            file_flush_interval: Duration::from_secs(1),
            writer_tick: Duration::from_millis(20),
            shutdown_wait: Duration::from_secs(5),
        }
    }
}

/// Counters of one output, shared between its threads and [`Audit::stats`].
#[derive(Debug, Default)]
pub struct OutputCounters {
    pub written: AtomicU64,
    pub failed: AtomicU64,
    pub dropped: AtomicU64,
}

#[derive(Debug, Default)]
struct QueueCounters {
    enqueued: AtomicU64,
    dropped_full: AtomicU64,
}

/// A snapshot of the audit counters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditStats {
    /// Events waiting in the worker queues now.
    pub queued: u64,
    pub enqueued: u64,
    /// Events dropped because a worker queue was full.
    pub dropped_full: u64,
    pub outputs: Vec<OutputStats>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputStats {
    pub name: String,
    /// Events stored (logged, appended, or acknowledged by the cluster).
    pub written: u64,
    /// Events the output could not store (IO errors, bulk items rejected by the cluster).
    pub failed: u64,
    /// Events dropped before reaching the output (its queue full, or retries exhausted).
    pub dropped: u64,
}

/// The audit service; one per process.
pub struct Audit {
    running: Option<Running>,
}

struct Running {
    queues: Vec<flume::Sender<Event>>,
    writer: Thread,
    threads: Vec<JoinHandle<()>>,
    counters: Arc<QueueCounters>,
    outputs: Vec<(String, Arc<OutputCounters>)>,
    file_generation: Arc<AtomicU64>,
    stopping: Arc<AtomicBool>,
    /// Disconnects when every audit thread has ended.
    all_ended: flume::Receiver<()>,
    wants_content: bool,
    /// Events each worker queue holds.
    queue_capacity: usize,
    shutdown_wait: Duration,
}

/// The cluster behind the gateway: where `index`/`data_stream` outputs without a `cluster`
/// write.
#[derive(Debug, Clone, Default)]
pub struct LocalCluster {
    /// Per node: its address and its URL (`Host` header, scheme, TLS server name).
    pub nodes: Vec<(SocketAddr, UpstreamUrl)>,
    /// `gateway.upstream_auth`: the gateway's own credentials for the cluster.
    pub authorization: Option<BasicAuthorization>,
    /// How `https://` nodes are verified, local or an output's `cluster`
    /// (`gateway.upstream_tls`).
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl Audit {
    /// Starts the writer and output threads. `local_cluster` is where
    /// `index`/`data_stream` outputs without a `cluster` write.
    pub fn start(
        settings: &AuditSettings,
        local_cluster: LocalCluster,
        workers: usize,
    ) -> io::Result<Audit> {
        Audit::start_tuned(settings, local_cluster, workers, AuditTuning::default())
    }

    /// [`Audit::start`] with explicit queue, batch and timing settings.
    pub fn start_tuned(
        settings: &AuditSettings,
        local_cluster: LocalCluster,
        workers: usize,
        tuning: AuditTuning,
    ) -> io::Result<Audit> {
        let enabled: Vec<_> = settings.outputs.iter().filter(|o| o.enabled).collect();
        if enabled.is_empty() {
            return Ok(Audit::disabled());
        }
        let authorization = local_cluster.authorization;
        let tls = local_cluster.tls;
        let local: Vec<ClusterTarget> = local_cluster
            .nodes
            .into_iter()
            .map(|(address, url)| {
                Ok(ClusterTarget {
                    host: address.ip().to_string(),
                    port: address.port(),
                    host_header: url.authority(),
                    authorization: authorization.clone(),
                    tls: TargetTls::for_url(&url, tls.as_ref())?,
                })
            })
            .collect::<io::Result<_>>()?;
        let file_generation = Arc::new(AtomicU64::new(0));
        let (alive, all_ended) = flume::bounded::<()>(0);
        let mut threads = Vec::new();
        let mut outputs = Vec::new();
        let mut documents: Vec<SharedDocument> = Vec::new();
        let mut stats = Vec::new();
        for output in &enabled {
            let counters = Arc::new(OutputCounters::default());
            // An index or data-stream output runs on its own thread.
            let mut start_bulk = |destination, cluster: &Option<Vec<ClusterNode>>| {
                let nodes =
                    cluster_targets(&output.name, cluster.as_deref(), &local, tls.as_ref())?;
                let (bulk, thread) = BulkOutput::start(
                    &output.name,
                    destination,
                    nodes,
                    &tuning,
                    counters.clone(),
                    alive.clone(),
                )?;
                threads.push(thread);
                io::Result::Ok(Sink::Bulk(bulk))
            };
            let sink = match &output.kind {
                OutputKind::Log { logger_name } => Sink::Log {
                    logger_name: logger_name.clone().unwrap_or_else(|| output.name.clone()),
                },
                OutputKind::File { path } => {
                    Sink::File(FileOutput::open(path, 0, tuning.file_flush_interval)?)
                }
                OutputKind::Index { template, cluster } => {
                    start_bulk(BulkDestination::Index(template.clone()), cluster)?
                }
                OutputKind::DataStream { name, cluster } => {
                    start_bulk(BulkDestination::DataStream(name.clone()), cluster)?
                }
            };
            stats.push((output.name.clone(), counters.clone()));
            let document = match documents
                .iter()
                .position(|d| d.serializer == output.serializer)
            {
                Some(shared) => shared,
                None => {
                    documents.push(SharedDocument::new(output.serializer));
                    documents.len() - 1
                }
            };
            outputs.push(Output {
                name: output.name.clone(),
                document,
                sink,
                counters,
                warnings: WarnLimiter::default(),
            });
        }
        let wants_content = enabled.iter().any(|o| o.serializer.includes_content());
        let (queues, receivers): (Vec<_>, Vec<_>) = (0..workers.max(1))
            .map(|_| flume::bounded(tuning.worker_queue_events))
            .unzip();
        let stopping = Arc::new(AtomicBool::new(false));
        let writer = Writer {
            receivers,
            outputs,
            documents,
            file_generation: file_generation.clone(),
            stopping: stopping.clone(),
            idle_wait: tuning.writer_tick.min(tuning.file_flush_interval / 2),
        };
        let writer_thread = std::thread::Builder::new()
            .name("ringfence-audit".to_string())
            .spawn(move || {
                writer.run();
                drop(alive);
            })?;
        let writer_handle = writer_thread.thread().clone();
        threads.push(writer_thread);
        Ok(Audit {
            running: Some(Running {
                queues,
                writer: writer_handle,
                threads,
                counters: Arc::default(),
                outputs: stats,
                file_generation,
                stopping,
                all_ended,
                wants_content,
                queue_capacity: tuning.worker_queue_events,
                shutdown_wait: tuning.shutdown_wait,
            }),
        })
    }

    /// No outputs: recorders say `enabled() == false` and drop nothing because they get nothing.
    pub fn disabled() -> Audit {
        Audit { running: None }
    }

    /// The recorder for worker `worker` (workers beyond the count given at start share queues).
    pub fn recorder(&self, worker: usize) -> Recorder {
        match &self.running {
            None => Recorder { queue: None },
            Some(running) => Recorder {
                queue: Some(RecorderQueue {
                    sender: running.queues[worker % running.queues.len()].clone(),
                    writer: running.writer.clone(),
                    counters: running.counters.clone(),
                    wants_content: running.wants_content,
                    wake_every: (running.queue_capacity / 4).max(1),
                    since_wake: Cell::new(0),
                }),
            },
        }
    }

    /// Makes every `file` output reopen its path before its next write (SIGHUP, logrotate).
    pub fn reopen_files(&self) {
        if let Some(running) = &self.running {
            running.file_generation.fetch_add(1, Relaxed);
            running.writer.unpark();
        }
    }

    pub fn stats(&self) -> AuditStats {
        let Some(running) = &self.running else {
            return AuditStats::default();
        };
        AuditStats {
            queued: running.queues.iter().map(|q| q.len() as u64).sum(),
            enqueued: running.counters.enqueued.load(Relaxed),
            dropped_full: running.counters.dropped_full.load(Relaxed),
            outputs: running
                .outputs
                .iter()
                .map(|(name, counters)| OutputStats {
                    name: name.clone(),
                    written: counters.written.load(Relaxed),
                    failed: counters.failed.load(Relaxed),
                    dropped: counters.dropped.load(Relaxed),
                })
                .collect(),
        }
    }

    /// Writes what is queued and stops the threads, waiting at most `shutdown_wait`.
    pub fn shutdown(self) {
        let Some(running) = self.running else {
            return;
        };
        running.stopping.store(true, Relaxed);
        running.writer.unpark();
        let deadline = Instant::now() + running.shutdown_wait;
        match running.all_ended.recv_deadline(deadline) {
            Err(flume::RecvTimeoutError::Timeout) => tracing::warn!(
                target: "ringfence::audit",
                "audit outputs did not finish within {:?}; queued events may be lost",
                running.shutdown_wait
            ),
            // Nothing is ever sent: the channel only disconnects when every thread has ended.
            Ok(()) | Err(flume::RecvTimeoutError::Disconnected) => {
                for thread in running.threads {
                    let _ = thread.join();
                }
            }
        }
    }
}

fn cluster_targets(
    output: &str,
    cluster: Option<&[ClusterNode]>,
    local: &[ClusterTarget],
    tls: Option<&Arc<rustls::ClientConfig>>,
) -> io::Result<Vec<ClusterTarget>> {
    let targets: Vec<ClusterTarget> = match cluster {
        None => local.to_vec(),
        Some(nodes) => nodes
            .iter()
            .map(|node| {
                Ok(ClusterTarget {
                    host: node.url.host.clone(),
                    port: node.url.port,
                    host_header: node.url.authority(),
                    authorization: node.authorization.clone(),
                    tls: TargetTls::for_url(&node.url, tls)?,
                })
            })
            .collect::<io::Result<_>>()?,
    };
    if targets.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("audit output `{output}` has no cluster node to write to"),
        ));
    }
    Ok(targets)
}

/// A worker's handle on the audit service.
pub struct Recorder {
    queue: Option<RecorderQueue>,
}

struct RecorderQueue {
    sender: flume::Sender<Event>,
    writer: Thread,
    counters: Arc<QueueCounters>,
    wants_content: bool,
    /// Events queued between two wakes of the writer, at most.
    wake_every: usize,
    since_wake: Cell<usize>,
}

impl Recorder {
    /// Whether any output is enabled; build events only then.
    pub fn enabled(&self) -> bool {
        self.queue.is_some()
    }

    /// Whether some output's serializer writes the request body ([`Event::content`]).
    pub fn wants_content(&self) -> bool {
        self.queue.as_ref().is_some_and(|q| q.wants_content)
    }

    /// Queues the event; never blocks. A full queue drops it and counts it.
    pub fn record(&self, event: Event) {
        let Some(queue) = &self.queue else {
            return;
        };
        match queue.sender.try_send(event) {
            Ok(()) => {
                queue.counters.enqueued.fetch_add(1, Relaxed);
                let queued = queue.since_wake.get() + 1;
                if queued >= queue.wake_every {
                    queue.writer.unpark();
                    queue.since_wake.set(0);
                } else {
                    queue.since_wake.set(queued);
                }
            }
            Err(_) => {
                queue.counters.dropped_full.fetch_add(1, Relaxed);
            }
        }
    }
}

enum Sink {
    Log { logger_name: String },
    File(FileOutput),
    Bulk(BulkOutput),
}

struct Output {
    name: String,
    /// Its serializer's entry in [`Writer::documents`].
    document: usize,
    sink: Sink,
    counters: Arc<OutputCounters>,
    warnings: WarnLimiter,
}

impl Output {
    fn write(&mut self, line: &[u8], at: SystemTime, generation: u64) {
        match &mut self.sink {
            Sink::Log { logger_name } => {
                let line = String::from_utf8_lossy(line);
                tracing::info!(target: "ringfence::audit", logger = %logger_name, "{line}");
                self.counters.written.fetch_add(1, Relaxed);
            }
            Sink::File(file) => {
                let result = file.write_line(line, generation);
                self.count_file_result(result);
            }
            Sink::Bulk(bulk) => bulk.push(line, at),
        }
    }

    /// The writer drained the queues once: a bulk output hands over what it gathered, a
    /// file flushes if its interval is up.
    fn end_round(&mut self, generation: u64) {
        match &mut self.sink {
            Sink::Bulk(bulk) => bulk.hand_over(),
            Sink::File(_) => self.tick(generation),
            Sink::Log { .. } => {}
        }
    }

    fn tick(&mut self, generation: u64) {
        if let Sink::File(file) = &mut self.sink {
            if let Err(e) = file.tick(generation) {
                self.warn_file_error(&e);
            }
        }
    }

    fn finish(&mut self) {
        if let Sink::File(file) = &mut self.sink {
            if let Err(e) = file.flush() {
                self.warn_file_error(&e);
            }
        }
    }

    fn count_file_result(&mut self, result: io::Result<()>) {
        match result {
            Ok(()) => {
                self.counters.written.fetch_add(1, Relaxed);
            }
            Err(e) => {
                self.counters.failed.fetch_add(1, Relaxed);
                self.warn_file_error(&e);
            }
        }
    }

    fn warn_file_error(&mut self, error: &io::Error) {
        let Sink::File(file) = &self.sink else {
            return;
        };
        let (name, path) = (&self.name, file.path().display());
        self.warnings.warn(|suppressed| {
            tracing::warn!(
                target: "ringfence::audit",
                "audit output `{name}` ({path}): {error} ({suppressed} similar warnings suppressed)"
            )
        });
    }
}

/// One serializer's document for the event being written, made at most once per event
/// whatever the number of outputs using it, in a buffer reused from event to event.
struct SharedDocument {
    serializer: Serializer,
    bytes: Vec<u8>,
    state: DocumentState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DocumentState {
    /// Not made yet for the current event.
    Pending,
    Written,
    /// The serializer leaves the current event out.
    Skipped,
}

impl SharedDocument {
    fn new(serializer: Serializer) -> SharedDocument {
        SharedDocument {
            serializer,
            bytes: Vec::new(),
            state: DocumentState::Pending,
        }
    }

    /// The document for `event`, made on first use since [`SharedDocument::reset`].
    fn for_event(&mut self, event: &Event) -> Option<&[u8]> {
        if self.state == DocumentState::Pending {
            self.bytes.clear();
            self.state = if skips(event, &self.serializer) {
                DocumentState::Skipped
            } else {
                write_document(event, &self.serializer, &mut self.bytes);
                DocumentState::Written
            };
        }
        (self.state == DocumentState::Written).then_some(self.bytes.as_slice())
    }

    /// Forgets the document: the next event gets its own.
    fn reset(&mut self) {
        self.state = DocumentState::Pending;
    }
}

/// The `ringfence-audit` thread's state.
struct Writer {
    receivers: Vec<flume::Receiver<Event>>,
    outputs: Vec<Output>,
    /// One per distinct serializer among the outputs.
    documents: Vec<SharedDocument>,
    file_generation: Arc<AtomicU64>,
    stopping: Arc<AtomicBool>,
    idle_wait: Duration,
}

impl Writer {
    fn run(mut self) {
        loop {
            // Read before draining: events queued before shutdown was asked are all written.
            let stopping = self.stopping.load(Relaxed);
            let generation = self.file_generation.load(Relaxed);
            let mut handled = 0;
            for receiver in &self.receivers {
                for event in receiver.try_iter().take(MAX_EVENTS_PER_TURN) {
                    for output in &mut self.outputs {
                        if !event.sinks.allows(&output.name) {
                            continue;
                        }
                        let document = &mut self.documents[output.document];
                        if let Some(line) = document.for_event(&event) {
                            output.write(line, event.timestamp, generation);
                        }
                    }
                    for document in &mut self.documents {
                        document.reset();
                    }
                    handled += 1;
                }
            }
            for output in &mut self.outputs {
                output.end_round(generation);
            }
            if handled > 0 {
                continue;
            }
            if stopping {
                break;
            }
            std::thread::park_timeout(self.idle_wait);
        }
        for output in &mut self.outputs {
            output.finish();
        }
        // Dropping the outputs closes the bulk queues: their threads send what they hold.
    }
}

#[cfg(test)]
mod tests;
