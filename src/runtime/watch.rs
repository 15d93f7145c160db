//! Reloading the policy: on SIGHUP and when its file changes, off the request path.
//!
//! A background thread compares the policy file's contents every `gateway.policy_watch_ms`
//! with what the last reload read (by SIGHUP or by this watcher) and reloads when they
//! differ; it also re-resolves the host names the rules mention once a minute. A file that
//! does not load is reported, not retried until it changes again, and the previous policy
//! stays.

use crate::config::PolicySource;
use crate::snapshot::PolicyStore;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{error, info};

/// How often host names in the ACL are resolved again.
const HOST_NAME_REFRESH: Duration = Duration::from_secs(60);

/// Reloads from `source`, logging the outcome; `why` says what asked for it.
pub fn reload(store: &PolicyStore, source: &PolicySource, why: &str) {
    let before = store.current();
    match store.reload(source) {
        Ok(generation) => {
            info!(generation, trigger = why, "policy reloaded");
            let now = store.current();
            for warning in &now.warnings {
                tracing::warn!("{warning}");
            }
            // The sinks run on their own threads and keep the outputs they started with.
            if now.audit != before.audit {
                tracing::warn!(
                    "readonlyrest.audit changed: the audit outputs keep their start-up settings until the gateway restarts"
                );
            }
        }
        Err(errors) => error!(
            trigger = why,
            "policy reload failed, keeping the previous policy:\n{errors}"
        ),
    }
}

/// Starts the watcher thread (`interval_ms` 0: host names are still refreshed, the file is
/// not watched).
pub fn start(
    store: Arc<PolicyStore>,
    source: PolicySource,
    interval: Duration,
) -> std::io::Result<()> {
    let tick = if interval.is_zero() {
        HOST_NAME_REFRESH
    } else {
        interval
    };
    // Read before the thread starts, so that a change made right after this call is seen.
    store.mark_seen(&source);
    std::thread::Builder::new()
        .name("ringfence-watch".into())
        .spawn(move || {
            let mut resolved_at = Instant::now();
            loop {
                std::thread::sleep(tick);
                // Compared with what the last reload read, SIGHUP's included: one edit, one load.
                if !interval.is_zero() && store.source_changed(&source) {
                    reload(&store, &source, "file changed");
                }
                if resolved_at.elapsed() >= HOST_NAME_REFRESH {
                    store.current().resolve_host_names();
                    resolved_at = Instant::now();
                }
            }
        })?;
    Ok(())
}
