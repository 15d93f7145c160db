//! STUB (replaced by the tls helper's module).
pub fn subject_dn(cert_der: &[u8]) -> Option<String> {
    let _ = cert_der;
    None
}
