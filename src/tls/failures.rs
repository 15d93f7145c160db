//! STUB (replaced by the tls helper's module).
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
#[derive(Default)]
pub struct HandshakeFailures {
    total: AtomicU64,
}
impl HandshakeFailures {
    pub fn record(&self, peer: IpAddr, reason: &str) {
        self.total.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(%peer, reason, "TLS handshake failed");
    }
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }
}
