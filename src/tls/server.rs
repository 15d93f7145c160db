//! The listener's `rustls::ServerConfig`: built from `ServerTlsSettings`, rebuilt on reload,
//! read lock-free by every worker.
//!
//! Session resumption state (the session-ID cache for TLS 1.2 and the ticket keys for both
//! versions) lives in `Resumption`, created once per process and handed to every rebuild, so
//! a certificate reload does not force every client through a full handshake again.
//! `ServerTls` is the holder shared by the workers: `config()` is an `ArcSwap` load, `reload`
//! builds a new config off the hot path and swaps it in only when it is complete (an invalid
//! file never replaces a working config), and `files_changed` tells a file watcher cheaply
//! whether a reload is worth trying.

use super::error::TlsError;
use super::keys;
use super::names;
use super::settings::{ClientAuth, Protocol, ServerTlsSettings};
use arc_swap::ArcSwap;
use rustls::crypto::ring;
use rustls::server::{
    ProducesTickets, ServerSessionMemoryCache, StoresServerSessions, WebPkiClientVerifier,
};
use rustls::sign::SingleCertAndKey;
use rustls::{ServerConfig, SupportedProtocolVersion};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

/// TLS 1.2 sessions remembered by ID (a few hundred bytes each).
pub const SESSION_CACHE_ENTRIES: usize = 16_384;

/// TLS 1.3 tickets sent after each full handshake: one per connection a client pool is
/// likely to open in parallel is wasteful; two lets a client resume twice (RFC 8446 §C.4
/// advises single use) and is rustls's default.
pub const TLS13_TICKETS_PER_HANDSHAKE: usize = 2;

/// The ALPN protocol offered: the gateway speaks HTTP/1.1 only (RFC 7301).
pub const ALPN_HTTP11: &[u8] = b"http/1.1";

/// Session-resumption state that outlives config rebuilds.
pub struct Resumption {
    cache: Arc<dyn StoresServerSessions>,
    ticketer: Arc<dyn ProducesTickets>,
}

impl Resumption {
    /// A session cache of `SESSION_CACHE_ENTRIES` and a rotating ticketer (ChaCha20-Poly1305
    /// keys from the system RNG, rotated every 6 hours by rustls).
    pub fn new() -> Result<Resumption, TlsError> {
        let ticketer = ring::Ticketer::new().map_err(|source| TlsError::Rustls {
            context: "session ticket keys".into(),
            source,
        })?;
        Ok(Resumption {
            cache: ServerSessionMemoryCache::new(SESSION_CACHE_ENTRIES),
            ticketer,
        })
    }
}

/// Builds the server config: reads the identity (and trust anchors when client certificates
/// are asked for), restricts suites and versions, and plugs in `resumption`.
pub fn server_config(
    settings: &ServerTlsSettings,
    resumption: &Resumption,
) -> Result<Arc<ServerConfig>, TlsError> {
    let mut provider = ring::default_provider();
    if !settings.cipher_suites.is_empty() {
        // In the operator's order: with rustls's default server preference, the first suite
        // both sides support wins.
        provider.cipher_suites = settings
            .cipher_suites
            .iter()
            .filter_map(|name| names::find_suite(name))
            .collect();
    }
    let provider = Arc::new(provider);
    let versions = protocol_versions(&settings.protocols);
    let certified_key = keys::load_identity(&settings.identity, &provider)?;

    let verifier = match settings.client_auth {
        ClientAuth::Off => WebPkiClientVerifier::no_client_auth(),
        auth @ (ClientAuth::Optional | ClientAuth::Required) => {
            let Some(trust) = &settings.trust else {
                return Err(TlsError::ClientVerifier(
                    "client_authentication is on but no CA is trusted".into(),
                ));
            };
            let roots = keys::load_trust(trust)?;
            let builder =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
            let builder = match auth {
                ClientAuth::Optional => builder.allow_unauthenticated(),
                _ => builder,
            };
            builder
                .build()
                .map_err(|e| TlsError::ClientVerifier(e.to_string()))?
        }
    };

    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|source| TlsError::Rustls {
            context: "readonlyrest.ssl allowed_protocols and allowed_ciphers".into(),
            source,
        })?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(Arc::new(SingleCertAndKey::from(certified_key)));
    config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
    config.session_storage = resumption.cache.clone();
    config.ticketer = resumption.ticketer.clone();
    config.send_tls13_tickets = TLS13_TICKETS_PER_HANDSHAKE;
    Ok(Arc::new(config))
}

fn protocol_versions(protocols: &[Protocol]) -> Vec<&'static SupportedProtocolVersion> {
    if protocols.is_empty() {
        return vec![&rustls::version::TLS13, &rustls::version::TLS12];
    }
    protocols
        .iter()
        .map(|protocol| match protocol {
            Protocol::Tls12 => &rustls::version::TLS12,
            Protocol::Tls13 => &rustls::version::TLS13,
        })
        .collect()
}

/// What a file looked like: the SHA-256 of its contents, or `None` when it could not be read.
type Fingerprint = (PathBuf, Option<[u8; 32]>);

fn fingerprints(settings: &ServerTlsSettings) -> Vec<Fingerprint> {
    let mut files = keys::identity_files(&settings.identity);
    if let Some(trust) = &settings.trust {
        files.extend(keys::trust_files(trust));
    }
    files
        .into_iter()
        .map(|path| {
            let digest = std::fs::read(path)
                .ok()
                .map(|data| Sha256::digest(data).into());
            (path.to_path_buf(), digest)
        })
        .collect()
}

/// The listener's TLS config, shared by all workers and replaced on reload.
pub struct ServerTls {
    current: ArcSwap<ServerConfig>,
    resumption: Resumption,
    state: Mutex<ReloadState>,
}

struct ReloadState {
    /// The settings and files the current config was built from.
    active: (ServerTlsSettings, Vec<Fingerprint>),
    /// The settings and files of the last attempt, successful or not: a broken file is
    /// reported once, and again only after it changes.
    watched: (ServerTlsSettings, Vec<Fingerprint>),
}

impl ServerTls {
    /// Builds the first config; an error here is a startup error.
    pub fn load(settings: ServerTlsSettings) -> Result<ServerTls, TlsError> {
        let resumption = Resumption::new()?;
        let prints = fingerprints(&settings);
        let config = server_config(&settings, &resumption)?;
        Ok(ServerTls {
            current: ArcSwap::new(config),
            resumption,
            state: Mutex::new(ReloadState {
                active: (settings.clone(), prints.clone()),
                watched: (settings, prints),
            }),
        })
    }

    /// The config for a new connection (lock-free).
    pub fn config(&self) -> Arc<ServerConfig> {
        self.current.load_full()
    }

    /// Rebuilds from `settings` and the files they name. `Ok(false)`: nothing changed since
    /// the current config was built, so it is kept. On error the current config stays.
    pub fn reload(&self, settings: ServerTlsSettings) -> Result<bool, TlsError> {
        // Fingerprint before reading: a file rewritten during the build shows up as changed
        // on the next check instead of being missed.
        let prints = fingerprints(&settings);
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.watched = (settings.clone(), prints.clone());
        if state.active == state.watched {
            return Ok(false);
        }
        let config = server_config(&settings, &self.resumption)?;
        self.current.store(config);
        state.active = (settings, prints);
        Ok(true)
    }

    /// Whether a file read by the last load or reload attempt differs from what it saw.
    pub fn files_changed(&self) -> bool {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        fingerprints(&state.watched.0) != state.watched.1
    }
}

#[cfg(test)]
mod tests;
