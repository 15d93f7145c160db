//! Protocol and cipher-suite names as operators write them (Java/IANA, OpenSSL) → rustls values.
//!
//! ReadonlyREST passes `allowed_protocols` and `allowed_ciphers` to the JVM, so existing configs
//! use Java names (`TLSv1.2`, `TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256`, which are the IANA
//! names). OpenSSL spellings (`ECDHE-ECDSA-AES128-GCM-SHA256`) are accepted too. The decision
//! "usable / ignored with a warning / error" is made here, without IO; `settings` reports it.

use super::settings::Protocol;
use rustls::crypto::ring::default_provider;
use rustls::SupportedCipherSuite;

/// What a name in `allowed_protocols` or `allowed_ciphers` means here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup<T> {
    Usable(T),
    /// A real name rustls does not offer; the message says why it is ignored.
    Ignored(&'static str),
    Unknown,
}

/// Looks up a protocol name (case-insensitive; `TLSv1.2` and `TLS1.2` alike).
pub fn protocol(name: &str) -> Lookup<Protocol> {
    let upper = name.trim().to_ascii_uppercase();
    match upper.as_str() {
        "TLSV1.2" | "TLS1.2" => Lookup::Usable(Protocol::Tls12),
        "TLSV1.3" | "TLS1.3" => Lookup::Usable(Protocol::Tls13),
        "TLSV1" | "TLS1" | "TLSV1.0" | "TLS1.0" | "TLSV1.1" | "TLS1.1" | "SSLV3" | "SSLV2HELLO" => {
            Lookup::Ignored("ignored: rustls offers only TLS 1.2 and 1.3")
        }
        _ => Lookup::Unknown,
    }
}

/// OpenSSL names of the suites the ring provider implements, with their IANA names.
/// TLS 1.3 suites have one name in both worlds.
const OPENSSL_NAMES: &[(&str, &str)] = &[
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    ),
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    ),
    (
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
    (
        "ECDHE-RSA-AES256-GCM-SHA384",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    ),
    (
        "ECDHE-RSA-AES128-GCM-SHA256",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    ),
    (
        "ECDHE-RSA-CHACHA20-POLY1305",
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    ),
];

/// The IANA name of a rustls suite: rustls spells TLS 1.3 suites `TLS13_…`, IANA `TLS_…`.
pub fn iana_name(suite: &SupportedCipherSuite) -> String {
    let name = suite.suite().as_str().unwrap_or("unknown");
    match name.strip_prefix("TLS13_") {
        Some(rest) => format!("TLS_{rest}"),
        None => name.to_string(),
    }
}

/// Looks up a cipher-suite name among the ring provider's suites; `Usable` carries the
/// canonical IANA name.
pub fn cipher_suite(name: &str) -> Lookup<String> {
    let upper = name.trim().to_ascii_uppercase();
    let iana = OPENSSL_NAMES
        .iter()
        .find(|(openssl, _)| *openssl == upper)
        .map_or(upper.as_str(), |(_, iana)| iana);
    if let Some(suite) = find_suite(iana) {
        return Lookup::Usable(iana_name(&suite));
    }
    if is_well_formed_suite_name(iana) {
        Lookup::Ignored("ignored, rustls does not implement it")
    } else {
        Lookup::Unknown
    }
}

/// The ring provider's suite with this IANA name.
pub fn find_suite(iana: &str) -> Option<SupportedCipherSuite> {
    default_provider()
        .cipher_suites
        .into_iter()
        .find(|suite| iana_name(suite).eq_ignore_ascii_case(iana))
}

/// The protocol version a suite belongs to.
pub fn suite_protocol(suite: &SupportedCipherSuite) -> Protocol {
    match suite {
        SupportedCipherSuite::Tls12(_) => Protocol::Tls12,
        SupportedCipherSuite::Tls13(_) => Protocol::Tls13,
    }
}

/// `TLS_…`/`SSL_…` names shaped like the IANA/Java registry's: `…_WITH_…` (TLS 1.2 and
/// older), a TLS 1.3 AEAD name, or a signalling value (`TLS_EMPTY_RENEGOTIATION_INFO_SCSV`).
fn is_well_formed_suite_name(upper: &str) -> bool {
    let Some(rest) = upper
        .strip_prefix("TLS_")
        .or_else(|| upper.strip_prefix("SSL_"))
    else {
        return false;
    };
    let charset_ok = !rest.is_empty()
        && rest
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    charset_ok
        && (rest.contains("_WITH_")
            || rest.ends_with("_SCSV")
            || (upper.starts_with("TLS_")
                && (rest.starts_with("AES_") || rest.starts_with("CHACHA20_"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols() {
        for (name, expected) in [
            ("TLSv1.2", Lookup::Usable(Protocol::Tls12)),
            ("tlsv1.3", Lookup::Usable(Protocol::Tls13)),
            ("TLS1.2", Lookup::Usable(Protocol::Tls12)),
            (
                "TLSv1.1",
                Lookup::Ignored("ignored: rustls offers only TLS 1.2 and 1.3"),
            ),
            (
                "SSLv2Hello",
                Lookup::Ignored("ignored: rustls offers only TLS 1.2 and 1.3"),
            ),
            ("TLSv1.4", Lookup::Unknown),
            ("", Lookup::Unknown),
        ] {
            assert_eq!(protocol(name), expected, "{name}");
        }
    }

    #[test]
    fn cipher_suites() {
        let usable = |s: &str| Lookup::Usable(s.to_string());
        let ignored = Lookup::Ignored("ignored, rustls does not implement it");
        for (name, expected) in [
            (
                "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
                usable("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"),
            ),
            ("TLS_AES_256_GCM_SHA384", usable("TLS_AES_256_GCM_SHA384")),
            (
                "tls_chacha20_poly1305_sha256",
                usable("TLS_CHACHA20_POLY1305_SHA256"),
            ),
            (
                "ECDHE-ECDSA-AES128-GCM-SHA256",
                usable("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"),
            ),
            (
                "ECDHE-RSA-CHACHA20-POLY1305",
                usable("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"),
            ),
            ("TLS_RSA_WITH_AES_128_CBC_SHA", ignored.clone()),
            ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", ignored.clone()),
            ("SSL_RSA_WITH_3DES_EDE_CBC_SHA", ignored.clone()),
            ("TLS_EMPTY_RENEGOTIATION_INFO_SCSV", ignored.clone()),
            ("TLS_AES_128_CCM_SHA256", ignored),
            ("TLS_FOO", Lookup::Unknown),
            ("AES128-SHA", Lookup::Unknown),
            ("TLS_ECDHE-RSA WITH", Lookup::Unknown),
            ("", Lookup::Unknown),
        ] {
            assert_eq!(cipher_suite(name), expected, "{name}");
        }
    }

    #[test]
    fn every_ring_suite_has_an_iana_name_that_round_trips() {
        for suite in default_provider().cipher_suites {
            let name = iana_name(&suite);
            assert!(
                name.starts_with("TLS_") && !name.starts_with("TLS13_"),
                "{name}"
            );
            assert_eq!(cipher_suite(&name), Lookup::Usable(name.clone()));
        }
    }
}
