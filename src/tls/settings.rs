//! The TLS settings as written: ReadonlyREST's `ssl:` section and `gateway.upstream_tls`.
//!
//! Decoding reads no file; files are read when a config is built (`server`, `client`), so
//! that a reload reads them again.

use crate::config::error::Diagnostics;
use crate::config::yaml::Node;
use std::path::{Path, PathBuf};

/// Whether and how clients present certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// No certificate is asked for.
    Off,
    /// A certificate is asked for; a connection without one is served (PKI rules do not match).
    Optional,
    /// A connection without a valid certificate fails its handshake.
    Required,
}

/// Where the server's certificate chain and key come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentitySource {
    /// `server_certificate_file` (chain, leaf first) and `server_certificate_key_file`.
    Pem { certificate: PathBuf, key: PathBuf },
    /// `keystore_file` (PKCS#12) with `keystore_pass`, `key_pass` and `key_alias`.
    Keystore {
        path: PathBuf,
        password: String,
        key_password: Option<String>,
        alias: Option<String>,
    },
}

/// Where the CAs trusted for client certificates come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustSource {
    /// `client_trusted_certificate_file`: a PEM bundle.
    Pem(PathBuf),
    /// `truststore_file` (PKCS#12) with `truststore_pass`.
    Truststore { path: PathBuf, password: String },
}

/// TLS protocol versions, in the names Java uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    Tls12,
    Tls13,
}

/// `readonlyrest.ssl`, when enabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTlsSettings {
    pub identity: IdentitySource,
    pub client_auth: ClientAuth,
    /// Required when `client_auth` is not `Off`.
    pub trust: Option<TrustSource>,
    /// Empty: TLS 1.2 and 1.3.
    pub protocols: Vec<Protocol>,
    /// IANA names of the suites allowed, in preference order; empty: rustls's defaults.
    pub cipher_suites: Vec<String>,
}

/// `gateway.upstream_tls`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamTlsSettings {
    /// PEM bundle of the CAs the cluster's certificates chain to; `None`: the system's.
    pub ca_file: Option<PathBuf>,
    /// The gateway's own certificate and key, for clusters that require client certificates.
    pub client_certificate_file: Option<PathBuf>,
    pub client_key_file: Option<PathBuf>,
    /// Whether the certificate must name the host of the upstream URL (default true).
    pub verify_hostname: bool,
}

/// Decodes `readonlyrest.ssl`; `None` when the section says `enable: false`. Relative paths
/// are resolved against `base_dir` (the directory of the file the section is in).
pub fn decode_ssl(node: &Node, base_dir: &Path, d: &mut Diagnostics) -> Option<ServerTlsSettings> {
    let _ = (node, base_dir, d);
    unimplemented!("helper: tls settings")
}

/// Decodes `gateway.upstream_tls`.
pub fn decode_upstream_tls(
    node: &Node,
    base_dir: &Path,
    d: &mut Diagnostics,
) -> UpstreamTlsSettings {
    let _ = (node, base_dir, d);
    unimplemented!("helper: tls settings")
}
