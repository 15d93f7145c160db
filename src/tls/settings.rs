//! The TLS settings as written: ReadonlyREST's `ssl:` section and `gateway.upstream_tls`.
//!
//! Decoding reads no file; files are read when a config is built (`server`, `client`), so
//! that a reload reads them again.

use super::names::{self, Lookup};
use crate::config::error::{entries, Diagnostics};
use crate::config::gateway::{bool_value, string_or_list};
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
#[derive(Clone, PartialEq, Eq)]
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
#[derive(Clone, PartialEq, Eq)]
pub enum TrustSource {
    /// `client_trusted_certificate_file`: a PEM bundle.
    Pem(PathBuf),
    /// `truststore_file` (PKCS#12) with `truststore_pass`.
    Truststore { path: PathBuf, password: String },
}

/// Passwords print as `***` (settings end up in debug logs and test failures).
const MASK: &str = "***";

impl std::fmt::Debug for IdentitySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IdentitySource::Pem { certificate, key } => f
                .debug_struct("Pem")
                .field("certificate", certificate)
                .field("key", key)
                .finish(),
            IdentitySource::Keystore {
                path,
                key_password,
                alias,
                ..
            } => f
                .debug_struct("Keystore")
                .field("path", path)
                .field("password", &MASK)
                .field("key_password", &key_password.as_ref().map(|_| MASK))
                .field("alias", alias)
                .finish(),
        }
    }
}

impl std::fmt::Debug for TrustSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TrustSource::Pem(path) => f.debug_tuple("Pem").field(path).finish(),
            TrustSource::Truststore { path, .. } => f
                .debug_struct("Truststore")
                .field("path", path)
                .field("password", &MASK)
                .finish(),
        }
    }
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

/// What an `https://` upstream gets without `gateway.upstream_tls`: the system's CAs, the
/// host name verified, no client certificate.
impl Default for UpstreamTlsSettings {
    fn default() -> UpstreamTlsSettings {
        UpstreamTlsSettings {
            ca_file: None,
            client_certificate_file: None,
            client_key_file: None,
            verify_hostname: true,
        }
    }
}

const SSL_SECTION: &str = "readonlyrest.ssl";

const SSL_KEYS: &[&str] = &[
    "enable",
    "keystore_file",
    "keystore_pass",
    "key_pass",
    "key_alias",
    "server_certificate_file",
    "server_certificate_key_file",
    "client_authentication",
    "client_trusted_certificate_file",
    "truststore_file",
    "truststore_pass",
    "allowed_protocols",
    "allowed_ciphers",
];

/// Keys of ReadonlyREST's `ssl_internode` section, which a copied block may carry.
const INTERNODE_KEYS: &[&str] = &["certificate_verification", "hostname_verification"];

/// Decodes `readonlyrest.ssl`; `None` when the section says `enable: false`. Relative paths
/// are resolved against `base_dir` (the directory of the file the section is in).
pub fn decode_ssl(node: &Node, base_dir: &Path, d: &mut Diagnostics) -> Option<ServerTlsSettings> {
    let mut enable = true;
    let mut keystore: Option<PathBuf> = None;
    let mut keystore_pass: Option<String> = None;
    let mut key_pass: Option<String> = None;
    let mut key_alias: Option<String> = None;
    let mut certificate: Option<PathBuf> = None;
    let mut key: Option<PathBuf> = None;
    let mut client_auth = ClientAuth::Off;
    let mut trusted_pem: Option<PathBuf> = None;
    let mut truststore: Option<PathBuf> = None;
    let mut truststore_pass: Option<String> = None;
    let mut protocols = Vec::new();
    let mut cipher_suites = Vec::new();
    // Where to point errors about combinations: the first key of each kind, else the section.
    let mut identity_node = node;
    let mut identity_keys: Vec<&str> = Vec::new();
    let mut trust_node: Option<&Node> = None;
    let mut auth_node = node;
    let mut ciphers_node: Option<&Node> = None;
    for (name, key_node, value) in entries(node, SSL_SECTION, d) {
        let full = format!("{SSL_SECTION}.{name}");
        match name {
            "enable" => enable = bool_value(value, &full, d),
            "keystore_file" => {
                identity_node = key_node;
                identity_keys.push(name);
                keystore = path_value(value, &full, base_dir, d);
            }
            "keystore_pass" => keystore_pass = string_value(value, &full, d),
            "key_pass" => key_pass = string_value(value, &full, d),
            "key_alias" => key_alias = string_value(value, &full, d),
            "server_certificate_file" => {
                identity_node = key_node;
                identity_keys.push(name);
                certificate = path_value(value, &full, base_dir, d);
            }
            "server_certificate_key_file" => {
                identity_node = key_node;
                identity_keys.push(name);
                key = path_value(value, &full, base_dir, d);
            }
            "client_authentication" => {
                auth_node = key_node;
                client_auth = client_auth_value(value, d);
            }
            "client_trusted_certificate_file" => {
                trust_node.get_or_insert(key_node);
                trusted_pem = path_value(value, &full, base_dir, d);
            }
            "truststore_file" => {
                trust_node.get_or_insert(key_node);
                truststore = path_value(value, &full, base_dir, d);
            }
            "truststore_pass" => truststore_pass = string_value(value, &full, d),
            "allowed_protocols" => {
                protocols = protocols_value(value, d);
            }
            "allowed_ciphers" => {
                ciphers_node = Some(value);
                cipher_suites = ciphers_value(value, d);
            }
            _ if INTERNODE_KEYS.contains(&name) => d.warn(
                key_node,
                format!(
                    "{full} is ignored: it belongs to ReadonlyREST's ssl_internode section; \
                     the gateway does not speak the transport protocol"
                ),
            ),
            _ => d.unknown_key(key_node, SSL_SECTION, SSL_KEYS),
        }
    }
    if !enable {
        return None;
    }

    // Decided on which keys are present: a present key with a bad value is reported already.
    let present = (
        identity_keys.contains(&"keystore_file"),
        identity_keys.contains(&"server_certificate_file"),
        identity_keys.contains(&"server_certificate_key_file"),
    );
    let identity = match present {
        (true, false, false) => keystore.map(|path| IdentitySource::Keystore {
            path,
            password: keystore_pass.unwrap_or_default(),
            key_password: key_pass,
            alias: key_alias,
        }),
        (false, true, true) => {
            if keystore_pass.is_some() || key_pass.is_some() || key_alias.is_some() {
                d.warn(
                    identity_node,
                    "keystore_pass, key_pass and key_alias are ignored without keystore_file",
                );
            }
            certificate
                .zip(key)
                .map(|(certificate, key)| IdentitySource::Pem { certificate, key })
        }
        (true, _, _) => {
            d.error(
                identity_node,
                "readonlyrest.ssl: set either keystore_file, or server_certificate_file with \
                 server_certificate_key_file, not both",
            );
            None
        }
        (false, true, false) => {
            d.error(
                identity_node,
                "readonlyrest.ssl: server_certificate_file needs server_certificate_key_file",
            );
            None
        }
        (false, false, true) => {
            d.error(
                identity_node,
                "readonlyrest.ssl: server_certificate_key_file needs server_certificate_file",
            );
            None
        }
        (false, false, false) => {
            d.error(
                node,
                "readonlyrest.ssl needs keystore_file, or server_certificate_file and \
                 server_certificate_key_file",
            );
            None
        }
    };

    let trust = match (trusted_pem, truststore) {
        (Some(path), None) => Some(TrustSource::Pem(path)),
        (None, Some(path)) => Some(TrustSource::Truststore {
            path,
            password: truststore_pass.unwrap_or_default(),
        }),
        (Some(_), Some(_)) => {
            d.error(
                trust_node.unwrap_or(node),
                "readonlyrest.ssl: set either client_trusted_certificate_file or \
                 truststore_file, not both",
            );
            None
        }
        (None, None) => {
            if client_auth != ClientAuth::Off && trust_node.is_none() {
                d.error(
                    auth_node,
                    "readonlyrest.ssl.client_authentication needs the CAs to trust: \
                     client_trusted_certificate_file or truststore_file",
                );
            }
            None
        }
    };

    if let (Some(at), false, false) = (ciphers_node, cipher_suites.is_empty(), protocols.is_empty())
    {
        let offered = cipher_suites.iter().any(|name: &String| {
            names::find_suite(name).is_some_and(|s| protocols.contains(&names::suite_protocol(&s)))
        });
        if !offered {
            d.error(
                at,
                "readonlyrest.ssl.allowed_ciphers has no suite for the allowed_protocols",
            );
        }
    }

    Some(ServerTlsSettings {
        identity: identity?,
        client_auth,
        trust,
        protocols,
        cipher_suites,
    })
}

/// A string; a quoted empty one is kept (an empty password is a password).
fn string_value(value: &Node, name: &str, d: &mut Diagnostics) -> Option<String> {
    match value.as_str() {
        Some(text) if !value.is_null() => Some(text.to_string()),
        _ => {
            d.error(value, format!("{name} must be a string"));
            None
        }
    }
}

/// A file path, resolved against `base_dir` when relative.
fn path_value(value: &Node, name: &str, base_dir: &Path, d: &mut Diagnostics) -> Option<PathBuf> {
    match value.as_str() {
        Some(path) if !path.is_empty() && !value.is_null() => Some(base_dir.join(path)),
        _ => {
            d.error(value, format!("{name} must be a file path"));
            None
        }
    }
}

/// `true` (ROR: required), `false`, or `required` / `optional` / `none`.
fn client_auth_value(value: &Node, d: &mut Diagnostics) -> ClientAuth {
    let text = value.as_str().unwrap_or_default().to_ascii_lowercase();
    match text.as_str() {
        _ if value.as_seq().is_some() || value.as_map().is_some() => {}
        "true" | "required" => return ClientAuth::Required,
        "false" | "none" => return ClientAuth::Off,
        "optional" => return ClientAuth::Optional,
        _ => {}
    }
    d.error(
        value,
        "readonlyrest.ssl.client_authentication must be true, false, \"required\", \
         \"optional\" or \"none\"",
    );
    ClientAuth::Off
}

fn protocols_value(value: &Node, d: &mut Diagnostics) -> Vec<Protocol> {
    let name = "readonlyrest.ssl.allowed_protocols";
    let items = string_or_list(value, name, d);
    let mut out = Vec::new();
    for item in &items {
        let text = item.as_str().unwrap_or_default();
        match names::protocol(text) {
            Lookup::Usable(protocol) if !out.contains(&protocol) => out.push(protocol),
            Lookup::Usable(_) => {}
            Lookup::Ignored(why) => d.warn(item, format!("{name}: `{text}` {why}")),
            Lookup::Unknown => d.error(
                item,
                format!("{name}: unknown protocol `{text}` (expected TLSv1.2 or TLSv1.3)"),
            ),
        }
    }
    if out.is_empty() && !items.is_empty() {
        d.error(
            value,
            format!("{name} leaves no protocol rustls offers (TLSv1.2, TLSv1.3)"),
        );
    }
    out
}

fn ciphers_value(value: &Node, d: &mut Diagnostics) -> Vec<String> {
    let name = "readonlyrest.ssl.allowed_ciphers";
    let items = string_or_list(value, name, d);
    let mut out: Vec<String> = Vec::new();
    for item in &items {
        let text = item.as_str().unwrap_or_default();
        match names::cipher_suite(text) {
            Lookup::Usable(suite) if !out.contains(&suite) => out.push(suite),
            Lookup::Usable(_) => {}
            Lookup::Ignored(why) => d.warn(item, format!("{name}: `{text}` {why}")),
            Lookup::Unknown => d.error(
                item,
                format!(
                    "{name}: unknown cipher suite `{text}` (expected an IANA/Java name such as \
                     TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 or an OpenSSL name such as \
                     ECDHE-ECDSA-AES128-GCM-SHA256)"
                ),
            ),
        }
    }
    if out.is_empty() && !items.is_empty() {
        d.error(
            value,
            format!("{name} leaves no cipher suite rustls implements"),
        );
    }
    out
}

const UPSTREAM_SECTION: &str = "gateway.upstream_tls";

const UPSTREAM_KEYS: &[&str] = &[
    "ca_file",
    "client_certificate_file",
    "client_key_file",
    "verify_hostname",
];

/// Decodes `gateway.upstream_tls`.
pub fn decode_upstream_tls(
    node: &Node,
    base_dir: &Path,
    d: &mut Diagnostics,
) -> UpstreamTlsSettings {
    let mut settings = UpstreamTlsSettings::default();
    let mut pair_node = node;
    for (name, key_node, value) in entries(node, UPSTREAM_SECTION, d) {
        let full = format!("{UPSTREAM_SECTION}.{name}");
        match name {
            "ca_file" => settings.ca_file = path_value(value, &full, base_dir, d),
            "client_certificate_file" => {
                pair_node = key_node;
                settings.client_certificate_file = path_value(value, &full, base_dir, d);
            }
            "client_key_file" => {
                pair_node = key_node;
                settings.client_key_file = path_value(value, &full, base_dir, d);
            }
            "verify_hostname" => settings.verify_hostname = bool_value(value, &full, d),
            _ => d.unknown_key(key_node, UPSTREAM_SECTION, UPSTREAM_KEYS),
        }
    }
    match (&settings.client_certificate_file, &settings.client_key_file) {
        (Some(_), None) => d.error(
            pair_node,
            "gateway.upstream_tls.client_certificate_file needs client_key_file",
        ),
        (None, Some(_)) => d.error(
            pair_node,
            "gateway.upstream_tls.client_key_file needs client_certificate_file",
        ),
        _ => {}
    }
    settings
}

#[cfg(test)]
mod tests;
