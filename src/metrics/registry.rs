//! All workers' metrics and the process-wide collectors, rendered at scrape time.
//!
//! The registry is built once at start-up, before the workers; each worker takes its own
//! [`WorkerMetrics`] and never touches another's. Rendering reads every worker (relaxed
//! loads, no lock shared with a worker), sums, and then runs the collectors.

use super::exposition::Exposition;
use super::histogram::HistogramTotal;
use super::status;
use super::worker::{self, WorkerMetrics, REQUEST_SLOTS};
use super::UpstreamFailure;
use std::sync::{Arc, Mutex, PoisonError};

/// Reads a process-wide value into the exposition at each scrape.
pub type Collector = Box<dyn Fn(&mut Exposition) + Send + Sync>;

/// Every worker's metrics, the upstream node labels and the collectors.
pub struct Registry {
    workers: Vec<Arc<WorkerMetrics>>,
    /// `host:port` of each node, in `gateway.upstreams` order (the `node` label).
    nodes: Vec<String>,
    /// Locked only to add a collector and at scrape time, never by a worker.
    collectors: Mutex<Vec<Collector>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("workers", &self.workers.len())
            .field("nodes", &self.nodes)
            .finish_non_exhaustive()
    }
}

impl Registry {
    pub fn new(workers: usize, nodes: Vec<String>) -> Registry {
        Registry {
            workers: (0..workers)
                .map(|_| Arc::new(WorkerMetrics::new(nodes.len())))
                .collect(),
            nodes,
            collectors: Mutex::new(Vec::new()),
        }
    }

    /// The metrics of worker `id`, to be written by that worker's thread only.
    ///
    /// # Panics
    /// If `id` is not below the worker count given to [`Registry::new`] (a start-up bug).
    pub fn worker(&self, id: usize) -> Arc<WorkerMetrics> {
        Arc::clone(&self.workers[id])
    }

    /// Adds a source of process-wide values (hash queue depth, audit drops, reloads, ...)
    /// read at every scrape, after the per-worker series. A collector must not call back into
    /// the registry's `add_collector` or `render` (the collector list is locked meanwhile).
    pub fn add_collector(&self, collect: Collector) {
        self.lock_collectors().push(collect);
    }

    /// Whether at least one worker sees at least one node up.
    pub fn any_upstream_up(&self) -> bool {
        (0..self.nodes.len()).any(|node| self.workers.iter().any(|w| w.sees_up(node)))
    }

    /// Every series, summed over workers, in the Prometheus text format 0.0.4.
    pub fn render(&self) -> String {
        let mut out = Exposition::default();
        self.render_requests(&mut out);
        self.render_upstreams(&mut out);
        self.render_clients(&mut out);
        for collect in self.lock_collectors().iter() {
            collect(&mut out);
        }
        out.into_text()
    }

    fn render_requests(&self, out: &mut Exposition) {
        let name = "ringfence_requests_total";
        let help = "Requests answered, by outcome, status sent to the client and action class.";
        // Announced even before any request, so the family always exists for dashboards.
        out.declare_counter(name, help);
        for slot in 0..REQUEST_SLOTS {
            let count = self.sum(|w| w.requests(slot));
            if count == 0 {
                // Most label combinations never occur: a series appears when it first counts.
                continue;
            }
            let (outcome, status_slot, class) = worker::request_labels(slot);
            let status = status::label_of(status_slot);
            let labels = [
                ("outcome", outcome.label()),
                ("status", status.as_str()),
                ("class", class.label()),
            ];
            out.counter(name, help, &labels, count as f64);
        }

        let mut gateway = HistogramTotal::default();
        let mut upstream = HistogramTotal::default();
        for worker in &self.workers {
            worker.add_durations(&mut gateway, &mut upstream);
        }
        out.histogram(
            "ringfence_request_duration_seconds",
            "Time the gateway itself added to a request (parsing, policy, buffering).",
            &[],
            &gateway,
        );
        out.histogram(
            "ringfence_upstream_duration_seconds",
            "Time from sending a request upstream to receiving the whole response.",
            &[],
            &upstream,
        );
    }

    fn render_upstreams(&self, out: &mut Exposition) {
        for (index, node) in self.nodes.iter().enumerate() {
            for cause in UpstreamFailure::ALL {
                out.counter(
                    "ringfence_upstream_failures_total",
                    "Failed requests to an upstream node, by cause.",
                    &[("node", node), ("cause", cause.label())],
                    self.sum(|w| w.upstream_failures(index, cause)) as f64,
                );
            }
        }
        for (index, node) in self.nodes.iter().enumerate() {
            let up = self.workers.iter().any(|w| w.sees_up(index));
            out.gauge(
                "ringfence_upstream_up",
                "1 if at least one worker considers the node up.",
                &[("node", node)],
                if up { 1.0 } else { 0.0 },
            );
        }
        for (index, node) in self.nodes.iter().enumerate() {
            out.gauge(
                "ringfence_upstream_idle_connections",
                "Idle pooled connections to the node, over all workers.",
                &[("node", node)],
                self.sum(|w| w.idle_connections(index)) as f64,
            );
        }
    }

    fn render_clients(&self, out: &mut Exposition) {
        let (hits, misses) = self.sum_pair(WorkerMetrics::credential_cache_counts);
        for (result, count) in [("hit", hits), ("miss", misses)] {
            out.counter(
                "ringfence_credential_cache_requests_total",
                "Credential checks answered from the cache (hit) or computed (miss).",
                &[("result", result)],
                count as f64,
            );
        }
        out.counter(
            "ringfence_throttled_requests_total",
            "Requests refused because their address or user failed to log in too often.",
            &[],
            self.sum(WorkerMetrics::throttled_count) as f64,
        );
        out.gauge(
            "ringfence_connections_open",
            "Client connections open, over all workers.",
            &[],
            self.sum(WorkerMetrics::open_connections) as f64,
        );
        let (from_clients, to_clients) = self.sum_pair(WorkerMetrics::client_bytes);
        for (direction, bytes) in [("in", from_clients), ("out", to_clients)] {
            out.counter(
                "ringfence_client_bytes_total",
                "Bytes read from (in) and written to (out) clients.",
                &[("direction", direction)],
                bytes as f64,
            );
        }
    }

    fn sum(&self, read: impl Fn(&WorkerMetrics) -> u64) -> u64 {
        self.workers
            .iter()
            .fold(0, |total, w| total.wrapping_add(read(w)))
    }

    fn sum_pair(&self, read: impl Fn(&WorkerMetrics) -> (u64, u64)) -> (u64, u64) {
        self.workers.iter().fold((0, 0), |(a, b), w| {
            let (x, y) = read(w);
            (a.wrapping_add(x), b.wrapping_add(y))
        })
    }

    /// A collector that panicked mid-scrape leaves nothing half-written behind the lock.
    fn lock_collectors(&self) -> std::sync::MutexGuard<'_, Vec<Collector>> {
        self.collectors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}
