use super::*;
use crate::config::yaml;

/// Decodes `ssl:` from `text`; returns the settings, the errors and the warnings as
/// `file:line:col: message` lines.
fn ssl(text: &str) -> (Option<ServerTlsSettings>, Vec<String>, Vec<String>) {
    let root = yaml::parse(text).unwrap();
    let mut d = Diagnostics::new(Path::new("ror.yml"));
    let settings = decode_ssl(root.get("ssl").unwrap(), Path::new("/etc/gw"), &mut d);
    let warnings = d.take_warnings().iter().map(|w| w.to_string()).collect();
    let errors = match d.finish(()) {
        Ok(()) => Vec::new(),
        Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
    };
    (settings, errors, warnings)
}

fn upstream(text: &str) -> (UpstreamTlsSettings, Vec<String>) {
    let root = yaml::parse(text).unwrap();
    let mut d = Diagnostics::new(Path::new("gw.yml"));
    let settings = decode_upstream_tls(root.get("tls").unwrap(), Path::new("/etc/gw"), &mut d);
    let errors = match d.finish(()) {
        Ok(()) => Vec::new(),
        Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
    };
    (settings, errors)
}

#[test]
fn pem_identity_with_defaults() {
    let (s, errors, warnings) = ssl(
        "ssl:\n  server_certificate_file: cert.pem\n  server_certificate_key_file: /abs/key.pem\n",
    );
    assert_eq!(errors, Vec::<String>::new());
    assert_eq!(warnings, Vec::<String>::new());
    assert_eq!(
        s.unwrap(),
        ServerTlsSettings {
            identity: IdentitySource::Pem {
                certificate: "/etc/gw/cert.pem".into(),
                key: "/abs/key.pem".into()
            },
            client_auth: ClientAuth::Off,
            trust: None,
            protocols: vec![],
            cipher_suites: vec![],
        }
    );
}

#[test]
fn keystore_identity_and_everything_else() {
    let (s, errors, warnings) = ssl(concat!(
        "ssl:\n",
        "  enable: true\n",
        "  keystore_file: keystore.p12\n",
        "  keystore_pass: \"s3cret\"\n",
        "  key_pass: k\n",
        "  key_alias: gw\n",
        "  client_authentication: optional\n",
        "  truststore_file: trust.p12\n",
        "  truststore_pass: t\n",
        "  allowed_protocols: [TLSv1.3, tlsv1.2, TLSv1.1]\n",
        "  allowed_ciphers: [TLS_AES_256_GCM_SHA384, ECDHE-ECDSA-AES128-GCM-SHA256, TLS_RSA_WITH_AES_128_CBC_SHA]\n",
    ));
    assert_eq!(errors, Vec::<String>::new());
    assert_eq!(
        warnings,
        vec![
            "ror.yml:10:41: readonlyrest.ssl.allowed_protocols: `TLSv1.1` ignored: rustls offers only TLS 1.2 and 1.3",
            "ror.yml:11:76: readonlyrest.ssl.allowed_ciphers: `TLS_RSA_WITH_AES_128_CBC_SHA` ignored, rustls does not implement it",
        ]
    );
    assert_eq!(
        s.unwrap(),
        ServerTlsSettings {
            identity: IdentitySource::Keystore {
                path: "/etc/gw/keystore.p12".into(),
                password: "s3cret".into(),
                key_password: Some("k".into()),
                alias: Some("gw".into()),
            },
            client_auth: ClientAuth::Optional,
            trust: Some(TrustSource::Truststore {
                path: "/etc/gw/trust.p12".into(),
                password: "t".into()
            }),
            protocols: vec![Protocol::Tls13, Protocol::Tls12],
            cipher_suites: vec![
                "TLS_AES_256_GCM_SHA384".into(),
                "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256".into()
            ],
        }
    );
}

#[test]
fn client_authentication_spellings() {
    for (value, expected) in [
        ("true", ClientAuth::Required),
        ("\"required\"", ClientAuth::Required),
        ("REQUIRED", ClientAuth::Required),
        ("optional", ClientAuth::Optional),
        ("false", ClientAuth::Off),
        ("none", ClientAuth::Off),
    ] {
        let (s, errors, _) = ssl(&format!(
            "ssl:\n  keystore_file: k.p12\n  client_trusted_certificate_file: ca.pem\n  client_authentication: {value}\n"
        ));
        assert_eq!(errors, Vec::<String>::new(), "{value}");
        let s = s.unwrap();
        assert_eq!(s.client_auth, expected, "{value}");
        assert_eq!(s.trust, Some(TrustSource::Pem("/etc/gw/ca.pem".into())));
    }
    let (_, errors, _) = ssl("ssl:\n  keystore_file: k.p12\n  client_authentication: sometimes\n");
    assert_eq!(
        errors,
        vec!["ror.yml:3:26: readonlyrest.ssl.client_authentication must be true, false, \"required\", \"optional\" or \"none\""]
    );
}

#[test]
fn disabled_section_is_none_and_still_checked_for_unknown_keys() {
    let (s, errors, _) = ssl("ssl:\n  enable: false\n");
    assert_eq!((s, errors), (None, vec![]));
    let (s, errors, _) = ssl("ssl:\n  enable: false\n  keystore_fil: x\n");
    assert_eq!(s, None);
    assert_eq!(errors.len(), 1);
    assert!(errors[0].starts_with("ror.yml:3:3: unknown key `keystore_fil` in readonlyrest.ssl (expected one of: enable, keystore_file,"), "{errors:?}");
}

#[test]
fn internode_keys_are_tolerated_with_a_warning() {
    let (s, errors, warnings) = ssl(
        "ssl:\n  keystore_file: k.p12\n  certificate_verification: true\n  hostname_verification: false\n",
    );
    assert!(s.is_some());
    assert_eq!(errors, Vec::<String>::new());
    assert_eq!(warnings.len(), 2);
    assert!(
        warnings[0]
            .starts_with("ror.yml:3:3: readonlyrest.ssl.certificate_verification is ignored"),
        "{warnings:?}"
    );
}

#[test]
fn identity_combinations() {
    for (text, expected) in [
        (
            "ssl:\n  allowed_protocols: [TLSv1.2]\n",
            "ror.yml:2:20: readonlyrest.ssl needs keystore_file, or server_certificate_file and server_certificate_key_file",
        ),
        (
            "ssl:\n  server_certificate_file: c.pem\n",
            "ror.yml:2:3: readonlyrest.ssl: server_certificate_file needs server_certificate_key_file",
        ),
        (
            "ssl:\n  server_certificate_key_file: k.pem\n",
            "ror.yml:2:3: readonlyrest.ssl: server_certificate_key_file needs server_certificate_file",
        ),
        (
            "ssl:\n  keystore_file: k.p12\n  server_certificate_file: c.pem\n  server_certificate_key_file: k.pem\n",
            "ror.yml:4:3: readonlyrest.ssl: set either keystore_file, or server_certificate_file with server_certificate_key_file, not both",
        ),
        (
            "ssl:\n  keystore_file: k.p12\n  client_authentication: true\n",
            "ror.yml:3:3: readonlyrest.ssl.client_authentication needs the CAs to trust: client_trusted_certificate_file or truststore_file",
        ),
        (
            "ssl:\n  keystore_file: k.p12\n  truststore_file: t.p12\n  client_trusted_certificate_file: ca.pem\n",
            "ror.yml:3:3: readonlyrest.ssl: set either client_trusted_certificate_file or truststore_file, not both",
        ),
        (
            "ssl:\n  keystore_file: \"\"\n",
            "ror.yml:2:18: readonlyrest.ssl.keystore_file must be a file path",
        ),
    ] {
        let (s, errors, _) = ssl(text);
        assert_eq!(errors.first().map(String::as_str), Some(expected), "{text}");
        assert!(s.is_none() || !errors.is_empty());
    }
}

#[test]
fn protocol_and_cipher_errors_are_positioned() {
    let (_, errors, _) = ssl(
        "ssl:\n  keystore_file: k.p12\n  allowed_protocols:\n    - TLSv1.3\n    - TLSv9\n  allowed_ciphers: [TLS_AES_128_GCM_SHA256, NOPE]\n",
    );
    assert_eq!(
        errors,
        vec![
            "ror.yml:5:7: readonlyrest.ssl.allowed_protocols: unknown protocol `TLSv9` (expected TLSv1.2 or TLSv1.3)",
            "ror.yml:6:45: readonlyrest.ssl.allowed_ciphers: unknown cipher suite `NOPE` (expected an IANA/Java name such as TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 or an OpenSSL name such as ECDHE-ECDSA-AES128-GCM-SHA256)",
        ]
    );
}

#[test]
fn nothing_usable_is_an_error() {
    let (_, errors, warnings) =
        ssl("ssl:\n  keystore_file: k.p12\n  allowed_protocols: [TLSv1, TLSv1.1]\n");
    assert_eq!(warnings.len(), 2);
    assert_eq!(
        errors,
        vec!["ror.yml:3:22: readonlyrest.ssl.allowed_protocols leaves no protocol rustls offers (TLSv1.2, TLSv1.3)"]
    );
    let (_, errors, _) =
        ssl("ssl:\n  keystore_file: k.p12\n  allowed_ciphers: TLS_RSA_WITH_AES_256_CBC_SHA\n");
    assert_eq!(
        errors,
        vec!["ror.yml:3:20: readonlyrest.ssl.allowed_ciphers leaves no cipher suite rustls implements"]
    );
    let (_, errors, _) = ssl(
        "ssl:\n  keystore_file: k.p12\n  allowed_protocols: [TLSv1.3]\n  allowed_ciphers: [ECDHE-RSA-AES128-GCM-SHA256]\n",
    );
    assert_eq!(
        errors,
        vec![
            "ror.yml:4:20: readonlyrest.ssl.allowed_ciphers has no suite for the allowed_protocols"
        ]
    );
}

#[test]
fn upstream_tls() {
    let (s, errors) = upstream(
        "tls:\n  ca_file: ca.pem\n  client_certificate_file: /x/c.pem\n  client_key_file: k.pem\n  verify_hostname: false\n",
    );
    assert_eq!(errors, Vec::<String>::new());
    assert_eq!(
        s,
        UpstreamTlsSettings {
            ca_file: Some("/etc/gw/ca.pem".into()),
            client_certificate_file: Some("/x/c.pem".into()),
            client_key_file: Some("/etc/gw/k.pem".into()),
            verify_hostname: false,
        }
    );
    let (s, errors) = upstream("tls: {}\n");
    assert_eq!(errors, Vec::<String>::new());
    assert!(s.verify_hostname && s.ca_file.is_none());
    let (_, errors) = upstream("tls:\n  client_certificate_file: c.pem\n  verify: true\n");
    assert_eq!(
        errors,
        vec![
            "gw.yml:2:3: gateway.upstream_tls.client_certificate_file needs client_key_file",
            "gw.yml:3:3: unknown key `verify` in gateway.upstream_tls (expected one of: ca_file, client_certificate_file, client_key_file, verify_hostname)",
        ]
    );
    let (_, errors) = upstream("tls:\n  client_key_file: k.pem\n");
    assert_eq!(
        errors,
        vec!["gw.yml:2:3: gateway.upstream_tls.client_key_file needs client_certificate_file"]
    );
}

#[test]
fn debug_output_masks_passwords() {
    let (s, errors, _) = ssl(
        "ssl:\n  keystore_file: k.p12\n  keystore_pass: hunter2\n  key_pass: hunter3\n  truststore_file: t.p12\n  truststore_pass: hunter4\n",
    );
    assert_eq!(errors, Vec::<String>::new());
    let text = format!("{s:?}");
    assert!(!text.contains("hunter"), "{text}");
    assert!(text.contains("password: \"***\""), "{text}");
}
