//! STUB (replaced by the tls helper's module).
use super::server::TlsError;
use super::settings::UpstreamTlsSettings;
use std::sync::Arc;
pub fn client_config(
    settings: &UpstreamTlsSettings,
) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let _ = settings;
    Err(TlsError("stub".into()))
}
