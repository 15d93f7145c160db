//! TLS on both sides of the gateway, with rustls (ring provider).
//!
//! ```text
//! settings  the `readonlyrest.ssl` section and `gateway.upstream_tls`, decoded (no IO)
//! keys      certificates, keys and trust anchors from PEM and PKCS#12 files (JKS refused)
//! names     Java/IANA/OpenSSL protocol and cipher-suite names → rustls values
//! server    the listener's rustls::ServerConfig, rebuilt on reload and swapped lock-free
//! client    the rustls::ClientConfig for https upstreams
//! identity  the subject DN of a verified client certificate (PKI identity)
//! failures  handshake failures: counted, logged once per client address per minute
//! stream    a TLS connection over a monoio TcpStream (owned buffers, safe code)
//! blocking  plain or TLS std streams for the background calls (metadata, audit bulks)
//! error     TlsError: what went wrong building a config, naming the file
//! fixture   (tests) throwaway CAs, temp dirs, in-memory handshakes
//! ```

pub mod blocking;
pub mod client;
pub mod error;
pub mod failures;
pub mod identity;
pub mod keys;
pub mod names;
pub mod server;
pub mod settings;
pub mod stream;

#[cfg(test)]
pub(crate) mod fixture;

pub use error::TlsError;
