//! Threads, sockets and signals: one monoio runtime per worker thread.
//!
//! Each worker gets its own `SO_REUSEPORT` listener per address (bound here, before the
//! threads start, so that port 0 resolves to one port shared by all workers), its own
//! upstream pools and its own view of the policy. io_uring is used when the kernel offers it,
//! the epoll driver otherwise. Shutdown: the stop channel closes, accept loops end, in-flight
//! requests get `shutdown_timeout_ms` to finish, then the runtime is dropped.

mod admission;
mod ip_filter;
mod listener;
pub mod watch;

use crate::admin::{AdminServer, Readiness, ReadinessCheck};
use crate::audit::settings::BasicAuthorization;
use crate::audit::{Audit, AuditStats, LocalCluster, Recorder};
use crate::config::{Config, ConfigErrors, GatewaySettings};
use crate::es::metadata::ClusterMetadata;
use crate::metrics::{Registry, WorkerMetrics};
use crate::proxy::catch::{self, guarded, WORKER_THREAD_PREFIX};
use crate::proxy::client::RequestIds;
use crate::proxy::{
    connection_event, serve, Accepted, Credentials, NodeAddress, SearchContexts, SharedCredentials,
    Upstreams, Worker,
};
use crate::snapshot::{LocalPolicy, PolicyStore, Snapshot};
use crate::tls::client::client_config;
use crate::tls::failures::HandshakeFailures;
use crate::tls::server::ServerTls;
use crate::tls::TlsError;
use admission::{AddressLimit, Admission, Refused};
use arc_swap::ArcSwap;
use futures_util::FutureExt;
use ip_filter::IpFilter;
use monoio::net::TcpListener;
use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{error, info, warn};

/// Set to `legacy` to force the epoll driver even where io_uring works.
pub const DRIVER_ENV: &str = "RINGFENCE_DRIVER";

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(#[from] ConfigErrors),
    #[error("{context}: {source}")]
    Tls {
        context: &'static str,
        #[source]
        source: TlsError,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
}

fn io_error(context: impl Into<String>) -> impl FnOnce(io::Error) -> StartError {
    move |source| StartError::Io {
        context: context.into(),
        source,
    }
}

fn tls_error(context: &'static str) -> impl FnOnce(TlsError) -> StartError {
    move |source| StartError::Tls { context, source }
}

/// A running gateway: its worker threads and the means to stop them.
pub struct Gateway {
    addrs: Vec<SocketAddr>,
    threads: Vec<std::thread::JoinHandle<()>>,
    /// The audit sinks (flushed at shutdown; files reopened on SIGHUP).
    audit: Option<Arc<Audit>>,
    metrics: Arc<Registry>,
    admin: Option<AdminServer>,
    stop: Option<flume::Sender<()>>,
    policy: Arc<PolicyStore>,
    metadata: Arc<ArcSwap<ClusterMetadata>>,
    metadata_stop: Arc<AtomicBool>,
    credentials: SharedCredentials,
    addresses: Arc<AddressLimit>,
    /// The listeners' certificates (reloaded on SIGHUP and when their files change).
    server_tls: Option<Arc<ServerTls>>,
}

/// Connections refused at accept so far: over the per-worker limit, over the per-address
/// limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefusedConnections {
    pub over_worker_limit: u64,
    pub over_address_limit: u64,
}

impl Gateway {
    /// Binds the listeners and starts the workers.
    pub fn start(
        settings: &GatewaySettings,
        policy: Arc<PolicyStore>,
    ) -> Result<Gateway, StartError> {
        let workers = settings
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        let nodes = NodeAddress::resolve_all(&settings.upstreams)
            .map_err(io_error("cannot resolve an upstream"))?;
        let server_tls = match &settings.server_tls {
            Some(tls) if settings.listen.iter().any(|l| l.tls) => Some(Arc::new(
                ServerTls::load(tls.clone()).map_err(tls_error("readonlyrest.ssl"))?,
            )),
            _ => None,
        };
        let upstream_tls = if settings.upstreams.iter().any(|u| u.tls)
            || policy.current().audit.has_https_cluster()
        {
            let tls = settings.upstream_tls.clone().unwrap_or_default();
            Some(client_config(&tls).map_err(tls_error("gateway.upstream_tls"))?)
        } else {
            None
        };
        let tls_failures = Arc::new(HandshakeFailures::default());
        // The admin port is bound first: once the gateway's own ports take connections,
        // `/ready` and `/metrics` answer too (a probe that connects is never refused).
        let admin_listener = match &settings.admin {
            Some(admin) => Some((
                admin.listen,
                std::net::TcpListener::bind(admin.listen).map_err(io_error(format!(
                    "cannot listen on {} (gateway.admin)",
                    admin.listen
                )))?,
            )),
            None => None,
        };
        let (addrs, mut per_worker) =
            listener::bind_all(&settings.listen, workers).map_err(io_error("cannot listen"))?;
        let cores = if settings.pin_workers {
            core_affinity::get_core_ids().unwrap_or_default()
        } else {
            Vec::new()
        };
        let (stop, stopped) = flume::bounded::<()>(1);
        // Until the refresher first succeeds no index's ingest pipelines are known; without
        // a refresher the gateway knows none (named pipelines are refused, `es::pipeline`).
        let metadata = Arc::new(ArcSwap::from_pointee(
            if !settings.metadata_refresh.is_zero() {
                ClusterMetadata::unread()
            } else {
                ClusterMetadata::default()
            },
        ));
        let metadata_stop = Arc::new(AtomicBool::new(false));
        let credentials = SharedCredentials::start(&settings.auth)
            .map_err(io_error("cannot start the hashing pool"))?;
        let ip_filter =
            IpFilter::build(&settings.ip_filter).map_err(io_error("gateway.ip_filter"))?;
        let addresses = AddressLimit::new(settings.limits.max_connections_per_address);
        let contexts = Arc::new(
            SearchContexts::new().map_err(io_error("cannot key the search context store"))?,
        );
        let metrics = Arc::new(Registry::new(
            workers,
            nodes.iter().map(|n| n.url.authority()).collect(),
        ));
        let local_cluster = LocalCluster {
            nodes: nodes.iter().map(|n| (n.addr, n.url.clone())).collect(),
            authorization: settings
                .upstream_auth
                .as_ref()
                .map(|auth| BasicAuthorization::from_value(auth.authorization.clone())),
            tls: upstream_tls.clone(),
        };
        let audit = Arc::new(
            Audit::start(&policy.current().audit, local_cluster, workers)
                .map_err(io_error("cannot start the audit sinks"))?,
        );
        add_collectors(&metrics, &credentials, &addresses, &policy, &audit);
        add_tls_collector(&metrics, &tls_failures);
        if !settings.metadata_refresh.is_zero() {
            let cluster = crate::proxy::metadata::Cluster {
                nodes: nodes.clone(),
                authorization: settings
                    .upstream_auth
                    .as_ref()
                    .map(|auth| auth.authorization.clone()),
                tls: upstream_tls.clone(),
            };
            crate::proxy::metadata::start(
                cluster,
                Arc::clone(&metadata),
                settings.metadata_refresh,
                settings
                    .limits
                    .upstream_response_timeout
                    .min(Duration::from_secs(10)),
                Arc::clone(&metadata_stop),
            )
            .map_err(io_error("cannot start the metadata refresher"))?;
        }
        let mut threads = Vec::with_capacity(workers);
        for id in (0..workers).rev() {
            let listeners = per_worker.pop().unwrap_or_default();
            let context = WorkerContext {
                id,
                listeners,
                stopped: stopped.clone(),
                nodes: nodes.clone(),
                settings: settings.clone(),
                policy: Arc::clone(&policy),
                metadata: Arc::clone(&metadata),
                credentials: credentials.clone(),
                ip_filter: ip_filter.clone(),
                addresses: Arc::clone(&addresses),
                contexts: Arc::clone(&contexts),
                core: (!cores.is_empty()).then(|| cores[id % cores.len()]),
                metrics: metrics.worker(id),
                audit: audit.recorder(id),
                server_tls: server_tls.clone(),
                upstream_tls: upstream_tls.clone(),
                tls_failures: Arc::clone(&tls_failures),
            };
            let thread = std::thread::Builder::new()
                .name(format!("{WORKER_THREAD_PREFIX}{id}"))
                .spawn(move || context.run())
                .map_err(io_error("cannot start a worker thread"))?;
            threads.push(thread);
        }
        let admin = match admin_listener {
            Some((listen, listener)) => {
                let readiness = readiness(Arc::clone(&policy), Arc::clone(&metrics));
                let server = crate::admin::start(listener, Arc::clone(&metrics), readiness)
                    .map_err(io_error(format!("cannot serve {listen} (gateway.admin)")))?;
                info!(addr = %server.local_addr(), "admin listener (/metrics, /health, /ready)");
                Some(server)
            }
            None => None,
        };
        Ok(Gateway {
            addrs,
            threads,
            audit: Some(audit),
            metrics,
            admin,
            stop: Some(stop),
            policy,
            metadata,
            metadata_stop,
            credentials,
            addresses,
            server_tls,
        })
    }

    /// The listeners' TLS state, if any listener speaks TLS.
    pub fn server_tls(&self) -> Option<&Arc<ServerTls>> {
        self.server_tls.as_ref()
    }

    /// Connections refused at accept so far.
    pub fn refused_connections(&self) -> RefusedConnections {
        let counters = &self.addresses.counters;
        RefusedConnections {
            over_worker_limit: counters.over_worker_limit.load(Ordering::Relaxed),
            over_address_limit: counters.over_address_limit.load(Ordering::Relaxed),
        }
    }

    /// Panics caught on worker threads (each ended only its own request or task).
    pub fn panics_caught(&self) -> u64 {
        catch::panics_caught()
    }

    /// Counters of the audit sinks (tests, metrics).
    pub fn audit_stats(&self) -> Option<AuditStats> {
        self.audit.as_ref().map(|audit| audit.stats())
    }

    /// Reopens the audit files (after logrotate moved them).
    pub fn reopen_audit_files(&self) {
        if let Some(audit) = &self.audit {
            audit.reopen_files();
        }
    }

    /// The metrics as the admin listener renders them.
    pub fn metrics(&self) -> &Arc<Registry> {
        &self.metrics
    }

    /// Where the admin listener listens, if it runs.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(AdminServer::local_addr)
    }

    /// The bound listen addresses (with the real port where 0 was asked for).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    pub fn policy(&self) -> &Arc<PolicyStore> {
        &self.policy
    }

    /// Stops accepting, lets in-flight requests finish (up to the shutdown timeout) and
    /// waits for every worker to exit.
    /// The cluster metadata the ACL narrows with (tests can inspect or set it).
    pub fn metadata(&self) -> &Arc<ArcSwap<ClusterMetadata>> {
        &self.metadata
    }

    /// How many expensive hashes the pool has computed (metrics, tests).
    pub fn hash_computations(&self) -> u64 {
        self.credentials.pool.computations()
    }

    pub fn shutdown(mut self) {
        self.stop.take();
        self.metadata_stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
        if let Some(admin) = self.admin.take() {
            admin.shutdown();
        }
        // The workers (and their recorders) are gone: what is queued is flushed.
        match self.audit.take().map(Arc::try_unwrap) {
            Some(Ok(audit)) => audit.shutdown(),
            Some(Err(_)) => warn!("the audit trail is still in use at shutdown; not flushed"),
            None => {}
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.stop.take();
        self.metadata_stop.store(true, Ordering::Relaxed);
    }
}

/// Everything a worker thread needs, moved into it.
struct WorkerContext {
    id: usize,
    listeners: Vec<listener::Listener>,
    stopped: flume::Receiver<()>,
    nodes: Vec<NodeAddress>,
    settings: GatewaySettings,
    policy: Arc<PolicyStore>,
    metadata: Arc<ArcSwap<ClusterMetadata>>,
    credentials: SharedCredentials,
    ip_filter: IpFilter,
    addresses: Arc<AddressLimit>,
    contexts: Arc<SearchContexts>,
    core: Option<core_affinity::CoreId>,
    metrics: Arc<WorkerMetrics>,
    audit: Recorder,
    server_tls: Option<Arc<ServerTls>>,
    upstream_tls: Option<Arc<rustls::ClientConfig>>,
    tls_failures: Arc<HandshakeFailures>,
}

impl WorkerContext {
    /// Runs the worker; a panic that escapes every task's catcher ends this worker only
    /// (its listeners close and the kernel spreads new connections over the others).
    fn run(self) {
        let id = self.id;
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.run_runtime())).is_err() {
            catch::record("worker runtime");
            error!(worker = id, "the worker stopped after a panic");
        }
    }

    fn run_runtime(self) {
        if let Some(core) = self.core {
            if !core_affinity::set_for_current(core) {
                warn!(
                    worker = self.id,
                    core = core.id,
                    "could not pin the worker to its core"
                );
            }
        }
        let id = self.id;
        let force_legacy = std::env::var(DRIVER_ENV).is_ok_and(|v| v == "legacy");
        if !force_legacy && monoio::utils::detect_uring() {
            match uring_runtime(true).or_else(|_| uring_runtime(false)) {
                Ok(mut runtime) => {
                    info!(worker = id, driver = "io_uring", "worker started");
                    return runtime.block_on(self.main());
                }
                Err(e) => warn!(worker = id, error = %e, "io_uring unavailable; using epoll"),
            }
        }
        match monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
        {
            Ok(mut runtime) => {
                info!(worker = id, driver = "legacy (epoll)", "worker started");
                runtime.block_on(self.main());
            }
            Err(e) => error!(worker = id, error = %e, "cannot start the worker runtime"),
        }
    }

    async fn main(self) {
        let worker = Rc::new(Worker {
            limits: self.settings.limits,
            policy: LocalPolicy::new(self.policy),
            upstreams: Rc::new(Upstreams::new(
                &self.nodes,
                &self.settings.limits,
                self.upstream_tls,
                Arc::clone(&self.metrics),
            )),
            credentials: Credentials::new(
                &self.credentials,
                &self.settings.auth,
                Arc::clone(&self.metrics),
            ),
            metadata: Arc::clone(&self.metadata),
            in_flight: Cell::new(0),
            draining: Cell::new(false),
            buffered_body_bytes: Cell::new(0),
            contexts: self.contexts,
            request_ids: RequestIds::new(self.id),
            metrics: self.metrics,
            audit: self.audit,
            access_log: self.settings.access_log,
            tls_failures: self.tls_failures,
            upstream_auth: self.settings.upstream_auth.clone().map(Arc::new),
        });
        let admission = Rc::new(Admission::new(
            self.settings.limits.max_connections_per_worker,
            self.addresses,
        ));
        let mut accept_loops = Vec::new();
        for listener in self.listeners {
            let tls = if listener.tls {
                self.server_tls.clone()
            } else {
                None
            };
            match TcpListener::from_std(listener.socket) {
                Ok(listener) => accept_loops.push(monoio::spawn(accept_loop(
                    listener,
                    tls,
                    Rc::clone(&worker),
                    Rc::new(self.ip_filter.clone()),
                    Rc::clone(&admission),
                    self.stopped.clone(),
                ))),
                Err(e) => error!(worker = self.id, error = %e, "cannot register a listener"),
            }
        }
        for accept_loop in accept_loops {
            accept_loop.await;
        }
        worker.draining.set(true);
        let deadline = Instant::now() + self.settings.shutdown_timeout;
        while worker.in_flight.get() > 0 && Instant::now() < deadline {
            monoio::time::sleep(Duration::from_millis(10)).await;
        }
        if worker.in_flight.get() > 0 {
            warn!(
                worker = self.id,
                in_flight = worker.in_flight.get(),
                "shutdown timeout: closing requests still in flight"
            );
        }
    }
}

/// An io_uring runtime; `cooperative`: with `IORING_SETUP_COOP_TASKRUN` (Linux 5.19), so
/// that completions are handled when the worker next enters the kernel instead of
/// interrupting it. With the interrupts, a worker's receive ran while the sender still held
/// the socket's lock: on a VM, keep-alive TLS requests spent 18% of the worker spinning on it
/// and served 51k req/s where epoll served 65k; cooperative, 75k (tuning/README.md).
fn uring_runtime(
    cooperative: bool,
) -> io::Result<monoio::Runtime<monoio::time::TimeDriver<monoio::IoUringDriver>>> {
    let mut ring = io_uring::IoUring::builder();
    if cooperative {
        ring.setup_coop_taskrun();
    }
    monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .enable_timer()
        .with_entries(4096)
        .uring_builder(ring)
        .build()
}

/// Accepts connections until the gateway stops. A panic in the loop itself (never in a
/// connection, which has its own catcher) restarts it.
async fn accept_loop(
    listener: TcpListener,
    tls: Option<Arc<ServerTls>>,
    worker: Rc<Worker>,
    filter: Rc<IpFilter>,
    admission: Rc<Admission>,
    stopped: flume::Receiver<()>,
) {
    loop {
        let accepting = accept_connections(
            &listener,
            tls.as_deref(),
            &worker,
            &filter,
            &admission,
            &stopped,
        );
        if guarded("accept loop", accepting).await.is_ok() {
            return;
        }
    }
}

/// Shortest and longest pause after a failed accept (out of file descriptors, ...).
const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

async fn accept_connections(
    listener: &TcpListener,
    tls: Option<&ServerTls>,
    worker: &Rc<Worker>,
    filter: &IpFilter,
    admission: &Admission,
    stopped: &flume::Receiver<()>,
) {
    let mut backoff = ACCEPT_BACKOFF_MIN;
    let mut last_warning: Option<Instant> = None;
    let local = listener
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    loop {
        monoio::select! {
            _ = stopped.recv_async() => return,
            accepted = listener.accept() => match accepted {
                // A filtered address is closed at once: nothing is read from it.
                Ok((_, peer)) if !filter.admits(peer.ip()) => {
                    connection_event(worker, false, peer, local);
                }
                Ok((stream, peer)) => {
                    backoff = ACCEPT_BACKOFF_MIN;
                    // Over a limit: closed at once (dropped), counted by the admission.
                    let permit = match admission.admit(peer.ip()) {
                        Ok(permit) => permit,
                        Err(refused) => {
                            connection_event(worker, false, peer, local);
                            if warn_now(&mut last_warning) {
                                let limit = match refused {
                                    Refused::WorkerFull => "gateway.limits.max_connections_per_worker",
                                    Refused::AddressFull => "gateway.limits.max_connections_per_address",
                                };
                                warn!(%peer, limit, "connection refused: limit reached");
                            }
                            continue;
                        }
                    };
                    connection_event(worker, true, peer, local);
                    let worker = Rc::clone(worker);
                    // The configuration current at accept serves the whole connection.
                    let tls = tls.map(ServerTls::config);
                    let accepted = Box::new(Accepted { worker, tcp: stream, peer, tls });
                    // A combinator, not an `async` block: that would hold the connection's
                    // future and everything it captured side by side for its whole life.
                    monoio::spawn(guarded("connection", serve(accepted)).map(move |_| drop(permit)));
                }
                Err(e) => {
                    // Out of file descriptors or similar: back off instead of spinning;
                    // connections already open keep being served meanwhile.
                    if warn_now(&mut last_warning) {
                        warn!(error = %e, pause_ms = backoff.as_millis() as u64, "accept failed; pausing accepts");
                    }
                    monoio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                }
            }
        }
    }
}

/// Whether a repeated warning may be logged now (at most once a second per accept loop).
fn warn_now(last: &mut Option<Instant>) -> bool {
    let now = Instant::now();
    if last.is_some_and(|at| now.duration_since(at) < Duration::from_secs(1)) {
        return false;
    }
    *last = Some(now);
    true
}

/// Failed TLS handshakes, counted for the whole process.
fn add_tls_collector(metrics: &Registry, failures: &Arc<HandshakeFailures>) {
    let failures = Arc::clone(failures);
    metrics.add_collector(Box::new(move |out| {
        out.counter(
            "ringfence_tls_handshake_failures_total",
            "TLS handshakes with clients that failed (protocol, cipher, certificate, plain HTTP).",
            &[],
            failures.total() as f64,
        );
    }));
}

/// Process-wide values the admin listener reads on scrape, beside the per-core counters.
fn add_collectors(
    metrics: &Registry,
    credentials: &SharedCredentials,
    addresses: &Arc<AddressLimit>,
    policy: &Arc<PolicyStore>,
    audit: &Arc<Audit>,
) {
    let pool = Arc::clone(&credentials.pool);
    metrics.add_collector(Box::new(move |out| {
        out.gauge(
            "ringfence_hash_queue",
            "Credential checks waiting for a hashing thread.",
            &[],
            pool.pending() as f64,
        );
        out.counter(
            "ringfence_hashes_total",
            "Expensive password hashes computed.",
            &[],
            pool.computations() as f64,
        );
        out.counter(
            "ringfence_panics_caught_total",
            "Panics caught on worker threads (each ended only its own request or task).",
            &[],
            catch::panics_caught() as f64,
        );
    }));
    let addresses = Arc::clone(addresses);
    metrics.add_collector(Box::new(move |out| {
        let refused = &addresses.counters;
        for (limit, counter) in [
            ("worker", &refused.over_worker_limit),
            ("address", &refused.over_address_limit),
        ] {
            out.counter(
                "ringfence_connections_refused_total",
                "Connections closed at accept over a connection limit.",
                &[("limit", limit)],
                counter.load(Ordering::Relaxed) as f64,
            );
        }
    }));
    let policy = Arc::clone(policy);
    metrics.add_collector(Box::new(move |out| {
        let help = "Policy reloads by result.";
        let reloads = policy.reloads.load(Ordering::Relaxed) as f64;
        let failures = policy.reload_failures.load(Ordering::Relaxed) as f64;
        out.counter(
            "ringfence_reloads_total",
            help,
            &[("result", "ok")],
            reloads,
        );
        out.counter(
            "ringfence_reloads_total",
            help,
            &[("result", "failed")],
            failures,
        );
        out.gauge(
            "ringfence_policy_generation",
            "The generation of the policy in use (0: none loaded yet).",
            &[],
            policy.current().generation as f64,
        );
    }));
    // Weak: at shutdown the gateway must be the audit's only owner to flush it.
    let audit = Arc::downgrade(audit);
    metrics.add_collector(Box::new(move |out| {
        let Some(stats) = audit.upgrade().map(|audit| audit.stats()) else {
            return;
        };
        out.gauge(
            "ringfence_audit_queue",
            "Audit events waiting for the writer.",
            &[],
            stats.queued as f64,
        );
        out.counter(
            "ringfence_audit_events_total",
            "Audit events queued.",
            &[],
            stats.enqueued as f64,
        );
        out.counter(
            "ringfence_audit_dropped_total",
            "Audit events dropped because a worker's queue was full.",
            &[],
            stats.dropped_full as f64,
        );
        for output in &stats.outputs {
            let labels = [("output", output.name.as_str())];
            let help = "Audit events per output and result.";
            for (result, value) in [
                ("written", output.written),
                ("failed", output.failed),
                ("dropped", output.dropped),
            ] {
                out.counter(
                    "ringfence_audit_output_events_total",
                    help,
                    &[labels[0], ("result", result)],
                    value as f64,
                );
            }
        }
    }));
}

/// `/ready`: a policy is loaded and at least one upstream node is up.
fn readiness(policy: Arc<PolicyStore>, metrics: Arc<Registry>) -> ReadinessCheck {
    Arc::new(move || Readiness {
        policy_loaded: policy.current().not_started.is_none(),
        upstream_up: metrics.any_upstream_up(),
    })
}

/// Raises the soft limit on open files to the hard limit: every client connection and
/// every upstream connection is a descriptor, and the usual soft default (1024) is far
/// below what the connection limits allow.
fn raise_open_files_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => info!(open_files = limit, "open files limit"),
        Err(e) => warn!(error = %e, "could not raise the open files limit"),
    }
}

/// Runs the gateway for `config` until SIGTERM or SIGINT. SIGHUP and changes to the policy
/// file reload the policy. A policy that does not load at start-up leaves the gateway
/// answering `not_started_response_code` to everything until a valid one loads.
pub fn run(config: Config) -> Result<(), StartError> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    catch::install_hook();
    raise_open_files_limit();
    for warning in &config.warnings {
        warn!("{warning}");
    }
    let snapshot = match Snapshot::load(&config.policy_source, 1) {
        Ok(snapshot) => snapshot,
        Err(errors) => {
            error!(
                "the policy did not load; answering {} to every request until it does:\n{errors}",
                config.gateway.not_started_response_code
            );
            Snapshot::not_started(config.gateway.not_started_response_code)
        }
    };
    for warning in &snapshot.warnings {
        warn!("{warning}");
    }
    let store = Arc::new(PolicyStore::new(snapshot));
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP])
        .map_err(io_error("cannot install signal handlers"))?;
    let gateway = Gateway::start(&config.gateway, Arc::clone(&store))?;
    for (addr, listen) in gateway.local_addrs().iter().zip(&config.gateway.listen) {
        info!(%addr, tls = listen.tls, upstreams = ?config.gateway.upstreams.iter().map(ToString::to_string).collect::<Vec<_>>(), "listening");
    }
    watch::start(
        Arc::clone(&store),
        config.policy_source.clone(),
        config.gateway.policy_watch,
    )
    .map_err(io_error("cannot start the policy watcher"))?;
    if let Some(tls) = gateway.server_tls() {
        watch::start_tls(Arc::clone(tls), &config, config.gateway.policy_watch)
            .map_err(io_error("cannot start the certificate watcher"))?;
    }
    for signal in signals.forever() {
        if signal == SIGHUP {
            watch::reload(&store, &config.policy_source, "SIGHUP");
            if let Some(tls) = gateway.server_tls() {
                watch::reload_tls(tls, &config.path, "SIGHUP");
            }
            gateway.reopen_audit_files();
            continue;
        }
        info!("shutting down");
        break;
    }
    gateway.shutdown();
    Ok(())
}
