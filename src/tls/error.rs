//! What can go wrong while building a TLS configuration from files.
//!
//! Setup errors only (config load and reload): every message names the file and what is wrong
//! with it, and none echoes a password. Handshake failures are not here (`failures`).

use std::path::PathBuf;

/// A TLS configuration that could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {what}", path.display())]
    BadPem { path: PathBuf, what: String },
    #[error("{}: no certificate in it (expected PEM `-----BEGIN CERTIFICATE-----` sections)", path.display())]
    NoCertificate { path: PathBuf },
    #[error("{}: no private key in it (expected PEM `PRIVATE KEY`, `RSA PRIVATE KEY` or `EC PRIVATE KEY`)", path.display())]
    NoPrivateKey { path: PathBuf },
    #[error("{}: the private key is encrypted; rustls needs it in clear, for example: openssl pkey -in {} -out key-clear.pem (and keep that file readable by the gateway only)", path.display(), path.display())]
    EncryptedKey { path: PathBuf },
    #[error("{}: the private key cannot be used: {detail}", path.display())]
    UnusableKey { path: PathBuf, detail: String },
    #[error("the private key in {} does not match the certificate in {}", key.display(), certificate.display())]
    KeyMismatch { key: PathBuf, certificate: PathBuf },
    #[error("{}: certificate #{index} is not a usable trust anchor: {detail}", path.display())]
    BadCertificate {
        path: PathBuf,
        index: usize,
        detail: String,
    },
    #[error("{}: {what}", path.display())]
    Keystore { path: PathBuf, what: String },
    #[error("{}: wrong password (the PKCS#12 integrity check failed)", path.display())]
    WrongPassword { path: PathBuf },
    #[error("{}: a Java {kind} keystore; rustls reads PKCS#12 only. Convert it with: {command}", path.display())]
    JavaKeystore {
        path: PathBuf,
        kind: &'static str,
        command: String,
    },
    #[error("{}: {detail}; re-export it with modern encryption (AES-256, PBKDF2): {command}", path.display())]
    UnsupportedPkcs12 {
        path: PathBuf,
        detail: String,
        command: String,
    },
    #[error("{}: no system CA bundle; set gateway.upstream_tls.ca_file", path.display())]
    NoSystemRoots { path: PathBuf },
    #[error("{context}: {source}")]
    Rustls {
        context: String,
        source: rustls::Error,
    },
    #[error("client certificates: {0}")]
    ClientVerifier(String),
}
