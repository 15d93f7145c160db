//! STUB (replaced by the tls helper's module).
use super::settings::ServerTlsSettings;
use std::sync::Arc;
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TlsError(pub String);
pub struct ServerTls {
    current: arc_swap::ArcSwap<rustls::ServerConfig>,
}
impl ServerTls {
    pub fn load(settings: ServerTlsSettings) -> Result<ServerTls, TlsError> {
        let _ = settings;
        Err(TlsError("stub".into()))
    }
    pub fn config(&self) -> Arc<rustls::ServerConfig> {
        self.current.load_full()
    }
    pub fn reload(&self, settings: ServerTlsSettings) -> Result<bool, TlsError> {
        let _ = settings;
        Ok(false)
    }
    pub fn files_changed(&self) -> bool {
        false
    }
}
