//! The `rustls::ClientConfig` for https upstreams (`gateway.upstream_tls`).
//!
//! Roots come from `ca_file`, else from the system bundle. `verify_hostname: false` is for
//! clusters whose certificates do not name the address the gateway uses (an IP, an internal
//! alias): the chain, its expiry and its key usage are still verified, only the name check
//! is waived. There is no "trust anything" mode.

use super::error::TlsError;
use super::keys;
use super::server::ALPN_HTTP11;
use super::settings::UpstreamTlsSettings;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::ring;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use std::path::Path;
use std::sync::Arc;

/// Debian/Ubuntu/Alpine's bundle of the system's trusted CAs (`ca-certificates`).
pub const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Builds the upstream client config; reads `ca_file` (or the system bundle) and the client
/// certificate and key.
pub fn client_config(settings: &UpstreamTlsSettings) -> Result<Arc<ClientConfig>, TlsError> {
    build(settings, Path::new(SYSTEM_CA_BUNDLE))
}

fn build(
    settings: &UpstreamTlsSettings,
    system_bundle: &Path,
) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = Arc::new(ring::default_provider());
    let roots = match &settings.ca_file {
        Some(path) => keys::pem_roots(path)?,
        None => system_roots(system_bundle)?,
    };
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| TlsError::ClientVerifier(e.to_string()))?;
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|source| TlsError::Rustls {
            context: "upstream TLS".into(),
            source,
        })?;
    let builder = if settings.verify_hostname {
        builder.with_webpki_verifier(verifier)
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyName(verifier)))
    };
    let mut config = match (&settings.client_certificate_file, &settings.client_key_file) {
        (Some(certificate), Some(key)) => {
            let chain = keys::pem_certificates(certificate)?;
            let key_der = keys::pem_private_key(key)?;
            // Checked here for an error that names the files; rustls checks again.
            keys::certified_key(
                chain.clone(),
                key_der.clone_key(),
                certificate,
                key,
                &provider,
            )?;
            builder
                .with_client_auth_cert(chain, key_der)
                .map_err(|source| TlsError::Rustls {
                    context: format!("{} and {}", certificate.display(), key.display()),
                    source,
                })?
        }
        _ => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![ALPN_HTTP11.to_vec()];
    Ok(Arc::new(config))
}

/// The system bundle; certificates webpki cannot parse are skipped (bundles carry a few).
/// Also the roots of `ldaps://` directories (`auth::ldap`).
pub fn system_roots(path: &Path) -> Result<RootCertStore, TlsError> {
    if !path.exists() {
        return Err(TlsError::NoSystemRoots {
            path: path.to_path_buf(),
        });
    }
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(keys::pem_certificates(path)?);
    if added == 0 {
        return Err(TlsError::NoSystemRoots {
            path: path.to_path_buf(),
        });
    }
    Ok(roots)
}

/// WebPKI verification with the name check waived (`verify_hostname: false`). webpki checks
/// the chain, validity and key usage before the name, so a name error means all else passed.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests;
