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

use crate::config::{Config, ConfigErrors, GatewaySettings};
use crate::es::metadata::ClusterMetadata;
use crate::proxy::catch::{self, guarded, WORKER_THREAD_PREFIX};
use crate::proxy::{
    serve, Credentials, NodeAddress, SearchContexts, SharedCredentials, Upstreams, Worker,
};
use crate::snapshot::{LocalPolicy, PolicyStore, Snapshot};
use admission::{AddressLimit, Admission, Refused};
use arc_swap::ArcSwap;
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

/// A running gateway: its worker threads and the means to stop them.
pub struct Gateway {
    addrs: Vec<SocketAddr>,
    threads: Vec<std::thread::JoinHandle<()>>,
    stop: Option<flume::Sender<()>>,
    policy: Arc<PolicyStore>,
    metadata: Arc<ArcSwap<ClusterMetadata>>,
    metadata_stop: Arc<AtomicBool>,
    credentials: SharedCredentials,
    addresses: Arc<AddressLimit>,
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
        let metadata = Arc::new(ArcSwap::from_pointee(if settings.metadata_refresh_ms > 0 {
            ClusterMetadata::unread()
        } else {
            ClusterMetadata::default()
        }));
        let metadata_stop = Arc::new(AtomicBool::new(false));
        let credentials = SharedCredentials::start(&settings.auth)
            .map_err(io_error("cannot start the hashing pool"))?;
        let ip_filter =
            IpFilter::build(&settings.ip_filter).map_err(io_error("gateway.ip_filter"))?;
        let addresses = AddressLimit::new(settings.limits.max_connections_per_address);
        let contexts = Arc::new(
            SearchContexts::new().map_err(io_error("cannot key the search context store"))?,
        );
        if settings.metadata_refresh_ms > 0 {
            crate::proxy::metadata::start(
                nodes.iter().map(|n| n.addr).collect(),
                Arc::clone(&metadata),
                Duration::from_millis(settings.metadata_refresh_ms),
                Duration::from_millis(settings.limits.upstream_response_timeout_ms.min(10_000)),
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
            };
            let thread = std::thread::Builder::new()
                .name(format!("{WORKER_THREAD_PREFIX}{id}"))
                .spawn(move || context.run())
                .map_err(io_error("cannot start a worker thread"))?;
            threads.push(thread);
        }
        Ok(Gateway {
            addrs,
            threads,
            stop: Some(stop),
            policy,
            metadata,
            metadata_stop,
            credentials,
            addresses,
        })
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
    listeners: Vec<std::net::TcpListener>,
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
            match monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
                .enable_timer()
                .with_entries(4096)
                .build()
            {
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
            upstreams: Rc::new(Upstreams::new(&self.nodes, &self.settings.limits)),
            credentials: Credentials::new(&self.credentials, &self.settings.auth),
            metadata: Arc::clone(&self.metadata),
            in_flight: Cell::new(0),
            draining: Cell::new(false),
            buffered_body_bytes: Cell::new(0),
            contexts: self.contexts,
        });
        let admission = Rc::new(Admission::new(
            self.settings.limits.max_connections_per_worker,
            self.addresses,
        ));
        let mut accept_loops = Vec::new();
        for listener in self.listeners {
            match TcpListener::from_std(listener) {
                Ok(listener) => accept_loops.push(monoio::spawn(accept_loop(
                    listener,
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
        let deadline = Instant::now() + Duration::from_millis(self.settings.shutdown_timeout_ms);
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

/// Accepts connections until the gateway stops. A panic in the loop itself (never in a
/// connection, which has its own catcher) restarts it.
async fn accept_loop(
    listener: TcpListener,
    worker: Rc<Worker>,
    filter: Rc<IpFilter>,
    admission: Rc<Admission>,
    stopped: flume::Receiver<()>,
) {
    loop {
        let accepting = accept_connections(&listener, &worker, &filter, &admission, &stopped);
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
    worker: &Rc<Worker>,
    filter: &IpFilter,
    admission: &Admission,
    stopped: &flume::Receiver<()>,
) {
    let mut backoff = ACCEPT_BACKOFF_MIN;
    let mut last_warning: Option<Instant> = None;
    loop {
        monoio::select! {
            _ = stopped.recv_async() => return,
            accepted = listener.accept() => match accepted {
                // A filtered address is closed at once: nothing is read from it.
                Ok((_, peer)) if !filter.admits(peer.ip()) => {}
                Ok((stream, peer)) => {
                    backoff = ACCEPT_BACKOFF_MIN;
                    // Over a limit: closed at once (dropped), counted by the admission.
                    let permit = match admission.admit(peer.ip()) {
                        Ok(permit) => permit,
                        Err(refused) => {
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
                    let worker = Rc::clone(worker);
                    monoio::spawn(async move {
                        let _permit = permit;
                        let _ = guarded("connection", serve(worker, stream, peer)).await;
                    });
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
    for addr in gateway.local_addrs() {
        info!(%addr, upstreams = ?config.gateway.upstreams.iter().map(ToString::to_string).collect::<Vec<_>>(), "listening");
    }
    watch::start(
        Arc::clone(&store),
        config.policy_source.clone(),
        config.gateway.policy_watch_ms,
    )
    .map_err(io_error("cannot start the policy watcher"))?;
    for signal in signals.forever() {
        if signal == SIGHUP {
            watch::reload(&store, &config.policy_source, "SIGHUP");
            continue;
        }
        info!("shutting down");
        break;
    }
    gateway.shutdown();
    Ok(())
}
