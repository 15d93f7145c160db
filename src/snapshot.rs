//! The immutable policy snapshot every worker reads lock-free, and how a new one is built.
//!
//! A load reads the ACL source, compiles it, and only if that succeeds swaps the result in
//! (ARCHITECTURE rule 2). Each worker keeps its own `Rc` of the current snapshot
//! ([`LocalPolicy`]) and only compares a generation number per request, so the hot path
//! touches no shared reference count; a request keeps the `Rc` it started with, so a swap
//! never changes a decision half-way.

use crate::acl::Acl;
use crate::audit::AuditSettings;
use crate::config::{self, ConfigError, ConfigErrors, Diagnostics, PolicySource};
use arc_swap::ArcSwap;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Everything a decision needs, compiled once.
#[derive(Debug)]
pub struct Snapshot {
    pub acl: Acl,
    /// `readonlyrest.audit`: the outputs the audit sinks start with.
    pub audit: AuditSettings,
    /// Increases by one with every successful load (visible in logs).
    pub generation: u64,
    /// Things that loaded but deserve attention (ignored sections, ...).
    pub warnings: Vec<ConfigError>,
    /// `Some(status)` while no valid policy has ever loaded: every request gets that status
    /// (403 or 503, `gateway.not_started_response_code`), as ReadonlyREST answers before its
    /// settings load.
    pub not_started: Option<u16>,
}

impl Snapshot {
    /// Reads and compiles the policy from its source, and resolves the host names it names.
    pub fn load(source: &PolicySource, generation: u64) -> Result<Snapshot, ConfigErrors> {
        let node = config::read_policy(source)?;
        let mut d = Diagnostics::new(source.path());
        let (acl, audit) = config::policy::compile_with_audit(&node, &mut d);
        let warnings = d.take_warnings();
        let snapshot = d.finish(Snapshot {
            acl,
            audit,
            generation,
            warnings,
            not_started: None,
        })?;
        snapshot.resolve_host_names();
        Ok(snapshot)
    }

    /// The stand-in used until a valid policy loads: it denies everything with `status`.
    pub fn not_started(status: u16) -> Snapshot {
        let empty = config::yaml::parse("access_control_rules: []")
            .unwrap_or_else(|_| unreachable!("a constant document"));
        let mut d = Diagnostics::new(std::path::Path::new("-"));
        Snapshot {
            acl: config::policy::compile(&empty, &mut d),
            audit: AuditSettings::default(),
            generation: 0,
            warnings: Vec::new(),
            not_started: Some(status),
        }
    }

    /// Resolves every host name the rules mention (`hosts`, `x_forwarded_for`, ...). Runs
    /// when a policy loads and from the background refresher, never on the request path; a
    /// name that does not resolve matches nothing (fail closed).
    pub fn resolve_host_names(&self) {
        use std::net::ToSocketAddrs;
        for name in self.acl.host_names() {
            let addrs = (name.name.as_str(), 0)
                .to_socket_addrs()
                .map(|addrs| addrs.map(|a| a.ip().to_canonical()).collect())
                .unwrap_or_else(|e| {
                    tracing::warn!(host = %name.name, error = %e, "host name in the ACL does not resolve");
                    Vec::new()
                });
            name.set_addrs(addrs);
        }
    }
}

/// The current snapshot, swappable while serving.
#[derive(Debug)]
pub struct PolicyStore {
    current: ArcSwap<Snapshot>,
    generation: AtomicU64,
    /// Reloads come from SIGHUP and from the file watcher; one at a time. Holds the policy
    /// file's bytes as the last reload read them, so that the watcher reloads only what no
    /// reload has seen yet (a SIGHUP after an edit is not followed by a second load).
    reloading: std::sync::Mutex<Option<Vec<u8>>>,
    /// Reloads that swapped a new policy in, and reloads that failed (metrics).
    pub reloads: AtomicU64,
    pub reload_failures: AtomicU64,
}

impl PolicyStore {
    pub fn new(snapshot: Snapshot) -> PolicyStore {
        PolicyStore {
            generation: AtomicU64::new(snapshot.generation),
            current: ArcSwap::from_pointee(snapshot),
            reloading: std::sync::Mutex::new(None),
            reloads: AtomicU64::new(0),
            reload_failures: AtomicU64::new(0),
        }
    }

    /// The snapshot to decide the next request with.
    pub fn current(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Rebuilds from `source`; on success swaps it in and returns the new generation. On
    /// failure the old snapshot stays and the errors are returned.
    pub fn reload(&self, source: &PolicySource) -> Result<u64, ConfigErrors> {
        let mut seen = self.reloading.lock().unwrap_or_else(|e| e.into_inner());
        *seen = std::fs::read(source.path()).ok();
        let generation = self.current.load().generation + 1;
        let snapshot = Snapshot::load(source, generation).inspect_err(|_| {
            self.reload_failures.fetch_add(1, Ordering::Relaxed);
        })?;
        self.reloads.fetch_add(1, Ordering::Relaxed);
        self.current.store(Arc::new(snapshot));
        self.generation.store(generation, Ordering::Release);
        Ok(generation)
    }
}

impl PolicyStore {
    /// Whether the policy file differs from what the last reload (or `mark_seen`) read.
    pub fn source_changed(&self, source: &PolicySource) -> bool {
        let now = std::fs::read(source.path()).ok();
        let seen = self.reloading.lock().unwrap_or_else(|e| e.into_inner());
        now.is_some() && now != *seen
    }

    /// Records the file's current bytes as seen (the policy the process started with).
    pub fn mark_seen(&self, source: &PolicySource) {
        let mut seen = self.reloading.lock().unwrap_or_else(|e| e.into_inner());
        if seen.is_none() {
            *seen = std::fs::read(source.path()).ok();
        }
    }
}

/// A worker's own handle on the current snapshot.
#[derive(Debug)]
pub struct LocalPolicy {
    store: Arc<PolicyStore>,
    // The `Rc` is the point: cloning it per request is a plain increment on this core,
    // where cloning the `Arc` would bounce its shared counter between cores.
    #[allow(clippy::redundant_allocation)]
    cached: RefCell<(u64, Rc<Arc<Snapshot>>)>,
}

impl LocalPolicy {
    pub fn new(store: Arc<PolicyStore>) -> LocalPolicy {
        let current = store.current();
        LocalPolicy {
            cached: RefCell::new((current.generation, Rc::new(current))),
            store,
        }
    }

    /// The snapshot to decide the next request with: one atomic load when nothing changed.
    pub fn current(&self) -> Rc<Arc<Snapshot>> {
        let generation = self.store.generation.load(Ordering::Acquire);
        let mut cached = self.cached.borrow_mut();
        if cached.0 != generation {
            let current = self.store.current();
            *cached = (current.generation, Rc::new(current));
        }
        cached.1.clone()
    }
}
