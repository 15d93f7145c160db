//! The `index` and `data_stream` outputs: batches of documents sent with `POST /_bulk`.
//!
//! The writer thread hands each document to [`BulkOutput::push`], which never blocks: the
//! documents of one round go over in one chunk, the output holds a bounded number of them,
//! and a chunk beyond that is dropped (and counted). The output's own thread batches by
//! count, bytes and age (1,000 events / 1 MiB / 2 s by default; ReadonlyREST uses 100
//! events / 100 KB), sends round-robin over the nodes, retries with exponential back-off,
//! and drops a batch only after the retries are spent, counting it and warning at most
//! every [`WARN_INTERVAL`].

use super::cluster::{self, ClusterTarget};
use super::index_template::IndexTemplate;
use super::sink::{AuditTuning, OutputCounters};
use std::io;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// At most one warning per output in this interval; the others are counted in it.
const WARN_INTERVAL: Duration = Duration::from_secs(10);
/// Above ES's built-in templates (priority 100) so the stream's own template wins.
const DATA_STREAM_TEMPLATE_PRIORITY: u32 = 200;

/// Where the documents go.
#[derive(Debug, Clone)]
pub enum BulkDestination {
    Index(IndexTemplate),
    DataStream(String),
}

/// The writer thread's handle on one bulk output.
pub struct BulkOutput {
    destination: BulkDestination,
    /// Chunks of bulk items and how many items each holds.
    queue: flume::Sender<Chunk>,
    /// Items handed over and not yet taken by the output's thread (at most
    /// `bulk_queue_events`; beyond, chunks are dropped and counted).
    queued: Arc<AtomicUsize>,
    max_queued: usize,
    /// Items gathered in this round of the writer, handed over together.
    chunk: Chunk,
    max_chunk_events: u64,
    max_chunk_bytes: usize,
    counters: Arc<OutputCounters>,
    /// The last event's action line: index names change at most once a second.
    action: ActionLine,
}

/// Bulk items (action and document lines), and where each ends: the output's thread cuts
/// its batches between items.
#[derive(Default)]
struct Chunk {
    items: Vec<u8>,
    ends: Vec<usize>,
}

/// A bulk action line and the second (since the epoch) it was made for.
#[derive(Default)]
struct ActionLine {
    second: Option<u64>,
    line: Vec<u8>,
}

impl BulkOutput {
    /// Starts the output's thread. `alive` is dropped when the thread ends.
    pub fn start(
        name: &str,
        destination: BulkDestination,
        nodes: Vec<ClusterTarget>,
        tuning: &AuditTuning,
        counters: Arc<OutputCounters>,
        alive: flume::Sender<()>,
    ) -> io::Result<(BulkOutput, JoinHandle<()>)> {
        // Bounded by `queued` (items), not by chunks.
        let (queue, items) = flume::unbounded();
        let queued = Arc::new(AtomicUsize::new(0));
        let sender = BulkSender {
            name: name.to_string(),
            template: match &destination {
                BulkDestination::DataStream(stream) => TemplateState::Unchecked(stream.clone()),
                BulkDestination::Index(_) => TemplateState::NotNeeded,
            },
            nodes,
            next_node: 0,
            tuning: tuning.clone(),
            counters: counters.clone(),
            warnings: WarnLimiter::default(),
            queued: Arc::clone(&queued),
        };
        let thread = std::thread::Builder::new()
            .name(format!("ringfence-audit-{name}"))
            .spawn(move || {
                sender.run(items);
                drop(alive);
            })?;
        Ok((
            BulkOutput {
                destination,
                queue,
                queued,
                max_queued: tuning.bulk_queue_events,
                chunk: Chunk::default(),
                max_chunk_events: tuning.bulk_max_events,
                max_chunk_bytes: tuning.bulk_max_bytes,
                counters,
                action: ActionLine::default(),
            },
            thread,
        ))
    }

    /// Adds one document (one JSON line) recorded at `at` to this round's chunk; a chunk as
    /// large as a bulk is handed over at once.
    pub fn push(&mut self, document: &[u8], at: SystemTime) {
        let second = at.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs());
        let action = &mut self.action;
        if second.is_none() || second != action.second {
            action.line = match &self.destination {
                BulkDestination::Index(template) => format!(
                    "{{\"index\":{{\"_index\":\"{}\"}}}}\n",
                    template.index_name(at)
                ),
                // Data streams take only `create`.
                BulkDestination::DataStream(stream) => {
                    format!("{{\"create\":{{\"_index\":\"{stream}\"}}}}\n")
                }
            }
            .into_bytes();
            action.second = second;
        }
        let chunk = &mut self.chunk;
        chunk.items.extend_from_slice(&action.line);
        chunk.items.extend_from_slice(document);
        chunk.items.push(b'\n');
        chunk.ends.push(chunk.items.len());
        if chunk.ends.len() as u64 >= self.max_chunk_events
            || chunk.items.len() >= self.max_chunk_bytes
        {
            self.hand_over();
        }
    }

    /// Hands this round's items to the output's thread; drops and counts them if it already
    /// holds `bulk_queue_events` items (a cluster that does not keep up).
    pub fn hand_over(&mut self) {
        if self.chunk.ends.is_empty() {
            return;
        }
        let chunk = std::mem::take(&mut self.chunk);
        let count = chunk.ends.len();
        let queued = self.queued.fetch_add(count, Relaxed);
        if queued + count > self.max_queued || self.queue.send(chunk).is_err() {
            self.queued.fetch_sub(count, Relaxed);
            self.counters.dropped.fetch_add(count as u64, Relaxed);
        }
    }
}

enum TemplateState {
    NotNeeded,
    /// The data stream's index template has not been seen yet.
    Unchecked(String),
}

struct BulkSender {
    name: String,
    template: TemplateState,
    nodes: Vec<ClusterTarget>,
    next_node: usize,
    tuning: AuditTuning,
    counters: Arc<OutputCounters>,
    warnings: WarnLimiter,
    /// Items handed over and not taken yet (shared with [`BulkOutput`]).
    queued: Arc<AtomicUsize>,
}

/// Why one attempt at a batch failed.
enum AttemptError {
    /// Worth another attempt (network, 5xx, 429).
    Transient(String),
    /// Another attempt would fail the same way (400, 401, 403...).
    Permanent(String),
}

impl BulkSender {
    fn run(mut self, items: flume::Receiver<Chunk>) {
        let mut batch = Vec::new();
        let mut count = 0;
        let mut oldest: Option<Instant> = None;
        loop {
            let received = match oldest {
                Some(at) => items.recv_deadline(at + self.tuning.bulk_max_delay),
                None => items
                    .recv()
                    .map_err(|_| flume::RecvTimeoutError::Disconnected),
            };
            let closed = match received {
                Ok(chunk) => {
                    self.queued.fetch_sub(chunk.ends.len(), Relaxed);
                    oldest.get_or_insert_with(Instant::now);
                    let mut start = 0;
                    for &end in &chunk.ends {
                        batch.extend_from_slice(&chunk.items[start..end]);
                        start = end;
                        count += 1;
                        if count >= self.tuning.bulk_max_events
                            || batch.len() >= self.tuning.bulk_max_bytes
                        {
                            self.send_batch(&batch, count);
                            batch.clear();
                            count = 0;
                            oldest = None;
                        }
                    }
                    if count > 0 {
                        oldest.get_or_insert_with(Instant::now);
                    }
                    continue;
                }
                Err(flume::RecvTimeoutError::Timeout) => false,
                Err(flume::RecvTimeoutError::Disconnected) => true,
            };
            if count > 0 {
                self.send_batch(&batch, count);
                batch.clear();
                count = 0;
                oldest = None;
            }
            if closed {
                return;
            }
        }
    }

    fn send_batch(&mut self, batch: &[u8], count: u64) {
        let mut backoff = self.tuning.bulk_first_backoff;
        let mut last_error = String::new();
        for attempt in 0..=self.tuning.bulk_retries {
            if attempt > 0 {
                std::thread::sleep(backoff);
                backoff *= 2;
            }
            match self.attempt(batch, count) {
                Ok(()) => return,
                Err(AttemptError::Transient(e)) => last_error = e,
                Err(AttemptError::Permanent(e)) => {
                    last_error = e;
                    break;
                }
            }
        }
        self.counters.dropped.fetch_add(count, Relaxed);
        let name = &self.name;
        self.warnings.warn(|suppressed| {
            tracing::warn!(
                target: "ringfence::audit",
                "audit output `{name}`: dropped {count} events: {last_error} \
                 ({suppressed} similar warnings suppressed)"
            )
        });
    }

    fn attempt(&mut self, batch: &[u8], count: u64) -> Result<(), AttemptError> {
        let target = &self.nodes[self.next_node % self.nodes.len()];
        self.next_node = self.next_node.wrapping_add(1);
        let timeout = self.tuning.cluster_timeout;
        if let TemplateState::Unchecked(stream) = &self.template {
            ensure_data_stream_template(target, stream, timeout)?;
            self.template = TemplateState::NotNeeded;
        }
        let body = Some(("application/x-ndjson", batch));
        let response = cluster::send(target, "POST", "/_bulk", body, timeout)
            .map_err(|e| AttemptError::Transient(format!("{}: {e}", target.host_header)))?;
        check_status(target, "POST /_bulk", response.status)?;
        let failed = failed_items(&response.body).min(count);
        self.counters.written.fetch_add(count - failed, Relaxed);
        self.counters.failed.fetch_add(failed, Relaxed);
        Ok(())
    }
}

fn check_status(target: &ClusterTarget, request: &str, status: u16) -> Result<(), AttemptError> {
    let error = format!("{request} on {} answered {status}", target.host_header);
    match status {
        200..=299 => Ok(()),
        429 | 500.. => Err(AttemptError::Transient(error)),
        _ => Err(AttemptError::Permanent(error)),
    }
}

/// Items of a bulk response that were not stored (`errors: true` and an item status >= 300).
fn failed_items(body: &[u8]) -> u64 {
    let Ok(response) = serde_json::from_slice::<serde_json::Value>(body) else {
        return 0;
    };
    if response["errors"] != true {
        return 0;
    }
    let Some(items) = response["items"].as_array() else {
        return 0;
    };
    items
        .iter()
        .filter_map(|item| item.as_object()?.values().next()?["status"].as_u64())
        .filter(|&status| status >= 300)
        .count() as u64
}

/// Creates the stream's index template unless one exists (`GET` first: an operator's own
/// template must not be overwritten).
fn ensure_data_stream_template(
    target: &ClusterTarget,
    stream: &str,
    timeout: Duration,
) -> Result<(), AttemptError> {
    let path = format!("/_index_template/{stream}");
    let transient = |e: io::Error| AttemptError::Transient(format!("{}: {e}", target.host_header));
    let existing = cluster::send(target, "GET", &path, None, timeout).map_err(transient)?;
    if existing.status == 200 {
        return Ok(());
    }
    if existing.status != 404 {
        check_status(target, &format!("GET {path}"), existing.status)?;
    }
    // The pattern is the stream's exact name: `<name>*` would also catch the `index` output's
    // default `readonlyrest_audit-<date>` indices and turn them into data streams.
    let template = serde_json::json!({
        "index_patterns": [stream],
        "data_stream": {},
        "priority": DATA_STREAM_TEMPLATE_PRIORITY,
    });
    let body = template.to_string();
    let created = cluster::send(
        target,
        "PUT",
        &path,
        Some(("application/json", body.as_bytes())),
        timeout,
    )
    .map_err(transient)?;
    check_status(target, &format!("PUT {path}"), created.status)
}

/// Lets one warning through per [`WARN_INTERVAL`] and counts the rest.
#[derive(Default)]
pub struct WarnLimiter {
    last: Option<Instant>,
    suppressed: u64,
}

impl WarnLimiter {
    /// Calls `emit` with the number of warnings suppressed since the last one, if it is time.
    pub fn warn(&mut self, emit: impl FnOnce(u64)) {
        if self.last.is_some_and(|last| last.elapsed() < WARN_INTERVAL) {
            self.suppressed += 1;
            return;
        }
        emit(self.suppressed);
        self.last = Some(Instant::now());
        self.suppressed = 0;
    }
}
