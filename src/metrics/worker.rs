//! One worker thread's metrics: written by that thread only, read by the scrape.
//!
//! Every method is a handful of relaxed loads and stores on slots allocated when the
//! worker starts; none locks or allocates. Node indexes follow `gateway.upstreams`; an index
//! out of range is ignored rather than trusted (nothing on the request path may panic).

use super::histogram::{Histogram, HistogramTotal};
use super::slot::{self, Slot};
use super::status::{self, STATUS_SLOTS};
use super::{ActionClass, Outcome, UpstreamFailure};
use std::time::Duration;

const OUTCOMES: usize = Outcome::ALL.len();
const CLASSES: usize = ActionClass::ALL.len();
const CAUSES: usize = UpstreamFailure::ALL.len();
/// Request counters: one per outcome × status slot × action class.
pub(crate) const REQUEST_SLOTS: usize = OUTCOMES * STATUS_SLOTS * CLASSES;

/// The slot counting requests with these labels (row-major: outcome, status, class).
pub(crate) fn request_slot(outcome: Outcome, status_slot: usize, class: ActionClass) -> usize {
    (outcome as usize * STATUS_SLOTS + status_slot) * CLASSES + class as usize
}

/// The labels of a request slot, the inverse of [`request_slot`].
pub(crate) fn request_labels(slot: usize) -> (Outcome, usize, ActionClass) {
    let class = ActionClass::ALL[slot % CLASSES];
    let status_slot = slot / CLASSES % STATUS_SLOTS;
    let outcome = Outcome::ALL[slot / CLASSES / STATUS_SLOTS];
    (outcome, status_slot, class)
}

/// One worker's counters and gauges. Aligned so that no other allocation shares its cache
/// lines with another core's writes.
#[derive(Debug)]
#[repr(align(128))]
pub struct WorkerMetrics {
    requests: Box<[Slot]>,
    request_duration: Histogram,
    upstream_duration: Histogram,
    nodes: Box<[NodeMetrics]>,
    credential_cache_hits: Slot,
    credential_cache_misses: Slot,
    throttled: Slot,
    open_connections: Slot,
    bytes_from_clients: Slot,
    bytes_to_clients: Slot,
}

/// One upstream node as one worker sees it.
#[derive(Debug)]
struct NodeMetrics {
    failures: [Slot; CAUSES],
    /// 1 while this worker considers the node up.
    up: Slot,
    idle_connections: Slot,
}

impl WorkerMetrics {
    /// Metrics for a worker talking to `nodes` upstream nodes, all of them assumed up as the
    /// proxy assumes until a connection fails.
    pub fn new(nodes: usize) -> WorkerMetrics {
        WorkerMetrics {
            requests: slot::zeroed(REQUEST_SLOTS),
            request_duration: Histogram::new(),
            upstream_duration: Histogram::new(),
            nodes: (0..nodes)
                .map(|_| NodeMetrics {
                    failures: Default::default(),
                    up: Slot::new(1),
                    idle_connections: Slot::default(),
                })
                .collect(),
            credential_cache_hits: Slot::default(),
            credential_cache_misses: Slot::default(),
            throttled: Slot::default(),
            open_connections: Slot::default(),
            bytes_from_clients: Slot::default(),
            bytes_to_clients: Slot::default(),
        }
    }

    /// Records an answered request: its outcome, the status sent to the client, the action
    /// class, the time the gateway itself added, and the upstream's time if it was forwarded.
    pub fn request(
        &self,
        outcome: Outcome,
        status: u16,
        class: ActionClass,
        gateway: Duration,
        upstream: Option<Duration>,
    ) {
        self.requests[request_slot(outcome, status::slot_of(status), class)].add(1);
        self.request_duration.observe(gateway);
        if let Some(upstream) = upstream {
            self.upstream_duration.observe(upstream);
        }
    }

    pub fn upstream_failure(&self, node: usize, failure: UpstreamFailure) {
        if let Some(node) = self.nodes.get(node) {
            node.failures[failure as usize].add(1);
        }
    }

    /// This worker's view of the node: up, or marked down and being probed.
    pub fn upstream_state(&self, node: usize, up: bool) {
        if let Some(node) = self.nodes.get(node) {
            node.up.set(u64::from(up));
        }
    }

    /// Idle pooled connections this worker holds to the node.
    pub fn pool_idle(&self, node: usize, idle: usize) {
        if let Some(node) = self.nodes.get(node) {
            node.idle_connections.set(idle as u64);
        }
    }

    pub fn credential_cache(&self, hit: bool) {
        if hit {
            self.credential_cache_hits.add(1);
        } else {
            self.credential_cache_misses.add(1);
        }
    }

    /// A request refused because its address or user failed to log in too often.
    pub fn throttled(&self) {
        self.throttled.add(1);
    }

    pub fn connection_opened(&self) {
        self.open_connections.add(1);
    }

    pub fn connection_closed(&self) {
        let open = self.open_connections.get();
        self.open_connections.set(open.saturating_sub(1));
    }

    /// Bytes read from and written to clients.
    pub fn bytes(&self, from_client: u64, to_client: u64) {
        self.bytes_from_clients.add(from_client);
        self.bytes_to_clients.add(to_client);
    }

    // Read side, for the registry's scrape.

    pub(crate) fn requests(&self, slot: usize) -> u64 {
        self.requests[slot].get()
    }

    pub(crate) fn add_durations(
        &self,
        gateway: &mut HistogramTotal,
        upstream: &mut HistogramTotal,
    ) {
        self.request_duration.add_to(gateway);
        self.upstream_duration.add_to(upstream);
    }

    pub(crate) fn upstream_failures(&self, node: usize, failure: UpstreamFailure) -> u64 {
        self.nodes[node].failures[failure as usize].get()
    }

    pub(crate) fn sees_up(&self, node: usize) -> bool {
        self.nodes[node].up.get() == 1
    }

    pub(crate) fn idle_connections(&self, node: usize) -> u64 {
        self.nodes[node].idle_connections.get()
    }

    pub(crate) fn credential_cache_counts(&self) -> (u64, u64) {
        (
            self.credential_cache_hits.get(),
            self.credential_cache_misses.get(),
        )
    }

    pub(crate) fn throttled_count(&self) -> u64 {
        self.throttled.get()
    }

    pub(crate) fn open_connections(&self) -> u64 {
        self.open_connections.get()
    }

    pub(crate) fn client_bytes(&self) -> (u64, u64) {
        (self.bytes_from_clients.get(), self.bytes_to_clients.get())
    }
}
