//! Reloading the policy and the listeners' certificates: on SIGHUP and when their files
//! change, off the request path.
//!
//! A background thread compares the policy file's contents every `gateway.policy_watch_ms`
//! with what the last reload read (by SIGHUP or by this watcher) and reloads when they
//! differ; it also re-resolves the host names the rules mention once a minute. A file that
//! does not load is reported, not retried until it changes again, and the previous policy
//! stays.
//!
//! Certificates have a watcher of their own: it reloads when a file the TLS settings read
//! changes, or when the configuration files (which hold `readonlyrest.ssl`) do. New
//! connections get the new certificates; open ones keep theirs. A certificate that does not
//! load is reported once and the previous one stays.

use crate::config::{Config, PolicySource};
use crate::snapshot::PolicyStore;
use crate::tls::server::ServerTls;
use std::path::{Path, PathBuf};
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

/// Reloads the listeners' TLS settings and certificates from the configuration at
/// `config_path`, logging the outcome; `why` says what asked for it.
pub fn reload_tls(tls: &ServerTls, config_path: &Path, why: &str) {
    let settings = match Config::load(config_path) {
        Ok(config) => config.gateway.server_tls,
        Err(errors) => {
            error!(
                trigger = why,
                "TLS reload failed (the configuration does not load), keeping the previous certificates:\n{errors}"
            );
            return;
        }
    };
    let Some(settings) = settings else {
        tracing::warn!(
            trigger = why,
            "readonlyrest.ssl is no longer enabled: TLS listeners change only at restart"
        );
        return;
    };
    match tls.reload(settings) {
        Ok(true) => info!(trigger = why, "TLS certificates reloaded"),
        Ok(false) => {}
        Err(e) => error!(
            trigger = why,
            "TLS reload failed, keeping the previous certificates: {e}"
        ),
    }
}

/// Starts the certificate watcher (`interval` zero: only SIGHUP reloads).
pub fn start_tls(tls: Arc<ServerTls>, config: &Config, interval: Duration) -> std::io::Result<()> {
    if interval.is_zero() {
        return Ok(());
    }
    let config_path = config.path.clone();
    let mut files: Vec<PathBuf> = vec![config_path.clone()];
    if let PolicySource::File(path) = &config.policy_source {
        files.push(path.clone());
    }
    let mut seen = contents(&files);
    std::thread::Builder::new()
        .name("ringfence-tls-watch".into())
        .spawn(move || loop {
            std::thread::sleep(interval);
            let now = contents(&files);
            if tls.files_changed() || now != seen {
                seen = now;
                reload_tls(&tls, &config_path, "file changed");
            }
        })?;
    Ok(())
}

/// The configuration files' contents (an unreadable file reads as empty).
fn contents(files: &[PathBuf]) -> Vec<Vec<u8>> {
    files
        .iter()
        .map(|file| std::fs::read(file).unwrap_or_default())
        .collect()
}
