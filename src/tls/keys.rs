//! Certificates, private keys and trust anchors from PEM and PKCS#12 files.
//!
//! The only module that reads key material. Everything it returns has been checked as far as
//! can be without a peer: the key parses and matches the leaf certificate, every trust anchor
//! parses. Java keystores (JKS, JCEKS) are refused with the `keytool` command that converts
//! them; PKCS#12 is read by `p12-keystore` (PBES2/AES as written by OpenSSL 3 and Java 17+,
//! and the legacy RC2/3DES encryption of `openssl pkcs12 -legacy` and older Javas).
//! Errors name the file and say what is wrong with it; no password is ever echoed.

use super::error::TlsError;
use super::settings::{IdentitySource, TrustSource};
use p12_keystore::{KeyStore, KeyStoreEntry};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;
use rustls::RootCertStore;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// First four bytes of a Java `JKS` keystore.
const JKS_MAGIC: [u8; 4] = [0xFE, 0xED, 0xFE, 0xED];
/// First four bytes of a Java `JCEKS` keystore.
const JCEKS_MAGIC: [u8; 4] = [0xCE, 0xCE, 0xCE, 0xCE];

/// Reads a whole file, naming it in the error.
pub fn read_file(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// The files a source reads (for change detection).
pub fn identity_files(source: &IdentitySource) -> Vec<&Path> {
    match source {
        IdentitySource::Pem { certificate, key } => vec![certificate, key],
        IdentitySource::Keystore { path, .. } => vec![path],
    }
}

pub fn trust_files(source: &TrustSource) -> Vec<&Path> {
    match source {
        TrustSource::Pem(path) | TrustSource::Truststore { path, .. } => vec![path],
    }
}

/// The server's (or the gateway's client) certificate chain and key, checked to match.
pub fn load_identity(
    source: &IdentitySource,
    provider: &CryptoProvider,
) -> Result<Arc<CertifiedKey>, TlsError> {
    match source {
        IdentitySource::Pem { certificate, key } => {
            let chain = pem_certificates(certificate)?;
            let key_der = pem_private_key(key)?;
            certified_key(chain, key_der, certificate, key, provider)
        }
        IdentitySource::Keystore {
            path,
            password,
            key_password,
            alias,
        } => {
            let store = open_pkcs12(path, password, key_password.as_deref())?;
            let (chain, key_der) = keystore_identity(&store, path, alias.as_deref())?;
            certified_key(chain, key_der, path, path, provider)
        }
    }
}

/// The CAs trusted for client certificates.
pub fn load_trust(source: &TrustSource) -> Result<RootCertStore, TlsError> {
    match source {
        TrustSource::Pem(path) => pem_roots(path),
        TrustSource::Truststore { path, password } => {
            let store = open_pkcs12(path, password, None)?;
            let certificates: Vec<CertificateDer<'static>> = store
                .entries()
                .filter_map(|(_, entry)| match entry {
                    KeyStoreEntry::Certificate(cert) => {
                        Some(CertificateDer::from(cert.as_der().to_vec()))
                    }
                    _ => None,
                })
                .collect();
            if certificates.is_empty() {
                return Err(TlsError::Keystore {
                    path: path.clone(),
                    what: "no trusted certificate entry in it (keytool -importcert writes them; \
                           openssl 3.2+ pkcs12 -export -nokeys needs -jdktrust anyExtendedKeyUsage; or use \
                           client_trusted_certificate_file with a PEM bundle)"
                        .into(),
                });
            }
            roots(certificates, path)
        }
    }
}

/// Every `CERTIFICATE` section of a PEM file, in file order (a chain: leaf first).
pub fn pem_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let data = read_file(path)?;
    let certificates = CertificateDer::pem_slice_iter(&data)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad_pem(path, e))?;
    if certificates.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(certificates)
}

/// The first private key of a PEM file: PKCS#8, PKCS#1 (RSA) or SEC1 (EC).
pub fn pem_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let data = read_file(path)?;
    match PrivateKeyDer::from_pem_slice(&data) {
        Ok(key) => Ok(key),
        Err(pem::Error::NoItemsFound) if is_encrypted_pem_key(&data) => {
            Err(TlsError::EncryptedKey {
                path: path.to_path_buf(),
            })
        }
        Err(pem::Error::NoItemsFound) => Err(TlsError::NoPrivateKey {
            path: path.to_path_buf(),
        }),
        Err(e) => Err(bad_pem(path, e)),
    }
}

/// A root store from a PEM bundle.
pub fn pem_roots(path: &Path) -> Result<RootCertStore, TlsError> {
    roots(pem_certificates(path)?, path)
}

fn roots(
    certificates: Vec<CertificateDer<'static>>,
    path: &Path,
) -> Result<RootCertStore, TlsError> {
    let mut store = RootCertStore::empty();
    for (i, certificate) in certificates.into_iter().enumerate() {
        store
            .add(certificate)
            .map_err(|e| TlsError::BadCertificate {
                path: path.to_path_buf(),
                index: i + 1,
                detail: e.to_string(),
            })?;
    }
    Ok(store)
}

/// Pairs a chain with its key, refusing a key the provider cannot use or that belongs to
/// another certificate.
pub fn certified_key(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    certificate_path: &Path,
    key_path: &Path,
    provider: &CryptoProvider,
) -> Result<Arc<CertifiedKey>, TlsError> {
    let signing_key =
        provider
            .key_provider
            .load_private_key(key)
            .map_err(|e| TlsError::UnusableKey {
                path: key_path.to_path_buf(),
                detail: e.to_string(),
            })?;
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        Ok(()) => Ok(Arc::new(certified)),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            Err(TlsError::KeyMismatch {
                key: key_path.to_path_buf(),
                certificate: certificate_path.to_path_buf(),
            })
        }
        // The provider cannot tell (no public key for this key type): the handshake will.
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
            Ok(Arc::new(certified))
        }
        Err(e) => Err(TlsError::BadCertificate {
            path: certificate_path.to_path_buf(),
            index: 1,
            detail: e.to_string(),
        }),
    }
}

/// Opens a PKCS#12 file; Java keystores and unreadable encryption get an actionable error.
pub fn open_pkcs12(
    path: &Path,
    password: &str,
    key_password: Option<&str>,
) -> Result<KeyStore, TlsError> {
    let data = read_file(path)?;
    if let Some(kind) = java_keystore_kind(&data) {
        return Err(TlsError::JavaKeystore {
            path: path.to_path_buf(),
            kind,
            command: keytool_command(path, kind),
        });
    }
    if data.starts_with(b"-----BEGIN") {
        return Err(TlsError::Keystore {
            path: path.to_path_buf(),
            what: "a PEM file, not PKCS#12 (for PEM use server_certificate_file and \
                   server_certificate_key_file, or client_trusted_certificate_file)"
                .into(),
        });
    }
    match KeyStore::from_pkcs12(&data, password) {
        Ok(store) => Ok(store),
        Err(e) => Err(pkcs12_error(
            path,
            e,
            key_password.is_some_and(|k| k != password),
        )),
    }
}

fn pkcs12_error(
    path: &Path,
    error: p12_keystore::error::Error,
    own_key_password: bool,
) -> TlsError {
    use p12_keystore::error::Error as P12;
    let path_buf = path.to_path_buf();
    match error {
        P12::MacError(_) => TlsError::WrongPassword { path: path_buf },
        // The integrity check passed, so the store password is right, but a bag did not
        // decrypt with it: a key with its own password, which this reader cannot open.
        P12::UnpadError | P12::Pkcs5Error(_) if own_key_password => TlsError::UnsupportedPkcs12 {
            path: path_buf,
            detail: "the key has a password of its own (key_pass); only keys encrypted with \
                     keystore_pass can be read"
                .into(),
            command: reexport_command(path, false),
        },
        P12::UnpadError | P12::Pkcs5Error(_) => TlsError::WrongPassword { path: path_buf },
        P12::UnsupportedEncryptionScheme | P12::UnsupportedMacAlgorithm => {
            TlsError::UnsupportedPkcs12 {
                path: path_buf,
                detail: format!("unsupported PKCS#12 encryption ({error})"),
                command: reexport_command(path, true),
            }
        }
        other => TlsError::Keystore {
            path: path_buf,
            what: format!("not a readable PKCS#12 file ({other})"),
        },
    }
}

/// The key entry named `alias` (exactly, else ignoring case), or the first one by alias.
fn keystore_identity(
    store: &KeyStore,
    path: &Path,
    alias: Option<&str>,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let keys: Vec<(&String, &p12_keystore::PrivateKeyChain)> = store
        .entries()
        .filter_map(|(name, entry)| match entry {
            KeyStoreEntry::PrivateKeyChain(chain) => Some((name, chain)),
            _ => None,
        })
        .collect();
    let chosen = match alias {
        Some(alias) => keys
            .iter()
            .find(|(name, _)| name.as_str() == alias)
            .or_else(|| {
                keys.iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case(alias))
            }),
        None => keys.first(),
    };
    let Some((_, entry)) = chosen else {
        let names: Vec<&str> = keys.iter().map(|(name, _)| name.as_str()).collect();
        let what = match alias {
            Some(alias) if !names.is_empty() => format!(
                "no private key entry with alias `{alias}` (key entries: {})",
                names.join(", ")
            ),
            _ => "no private key entry in it".to_string(),
        };
        return Err(TlsError::Keystore {
            path: path.to_path_buf(),
            what,
        });
    };
    if alias.is_none() && keys.len() > 1 {
        tracing::warn!(
            file = %path.display(),
            alias = %keys[0].0,
            "the keystore holds several keys; using the first alias (set key_alias to choose)"
        );
    }
    let chain: Vec<CertificateDer<'static>> = entry
        .chain()
        .iter()
        .map(|cert| CertificateDer::from(cert.as_der().to_vec()))
        .collect();
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(entry.key().to_vec()));
    Ok((chain, key))
}

fn java_keystore_kind(data: &[u8]) -> Option<&'static str> {
    match data.get(..4)? {
        magic if magic == JKS_MAGIC => Some("JKS"),
        magic if magic == JCEKS_MAGIC => Some("JCEKS"),
        _ => None,
    }
}

/// The path a converted keystore should be written to: `x.jks` → `x.p12`.
fn pkcs12_path(path: &Path) -> PathBuf {
    let converted = path.with_extension("p12");
    if converted == path {
        let stem = path.file_stem().unwrap_or_default().to_string_lossy();
        path.with_file_name(format!("{stem}-pkcs12.p12"))
    } else {
        converted
    }
}

fn keytool_command(path: &Path, kind: &str) -> String {
    format!(
        "keytool -importkeystore -srckeystore {} -srcstoretype {kind} -destkeystore {} -deststoretype PKCS12",
        path.display(),
        pkcs12_path(path).display()
    )
}

fn reexport_command(path: &Path, legacy: bool) -> String {
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    let modern = path.with_file_name(format!("{stem}-aes.p12"));
    format!(
        "openssl pkcs12 {}-in {} -nodes | openssl pkcs12 -export -out {}",
        if legacy { "-legacy " } else { "" },
        path.display(),
        modern.display()
    )
}

fn is_encrypted_pem_key(data: &[u8]) -> bool {
    let contains = |needle: &[u8]| data.windows(needle.len()).any(|w| w == needle);
    contains(b"-----BEGIN ENCRYPTED PRIVATE KEY-----") || contains(b"Proc-Type: 4,ENCRYPTED")
}

fn bad_pem(path: &Path, error: pem::Error) -> TlsError {
    TlsError::BadPem {
        path: path.to_path_buf(),
        what: format!("not valid PEM ({error})"),
    }
}

#[cfg(test)]
mod tests;
