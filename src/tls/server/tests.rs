//! The whole server path in memory: settings → files → ServerConfig → a handshake with a
//! rustls client, no sockets.

use super::*;
use crate::tls::fixture::{connect, Ca, Failed, Leaf, TempDir};
use crate::tls::settings::{IdentitySource, TrustSource};
use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKeyChain};
use rcgen::DnType;
use rustls::client::Tls12Resumption;
use rustls::crypto::ring::default_provider;
use rustls::{ClientConfig, HandshakeKind, ProtocolVersion, RootCertStore};

const TLS12: &[&SupportedProtocolVersion] = &[&rustls::version::TLS12];
const TLS13: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13];
const BOTH: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13, &rustls::version::TLS12];

/// A server identity as PEM files in `dir`, trusting `client_ca` for client certificates.
fn pem_settings(dir: &TempDir, ca: &Ca, client_ca: &Ca) -> ServerTlsSettings {
    let leaf = ca.server(&["localhost"]);
    ServerTlsSettings {
        identity: IdentitySource::Pem {
            certificate: dir.write("server.pem", format!("{}{}", leaf.pem, ca.pem)),
            key: dir.write("server-key.pem", &leaf.key_pem),
        },
        client_auth: ClientAuth::Off,
        trust: Some(TrustSource::Pem(
            dir.write("clients-ca.pem", &client_ca.pem),
        )),
        protocols: vec![],
        cipher_suites: vec![],
    }
}

fn client(
    ca: &Ca,
    versions: &[&'static SupportedProtocolVersion],
    cert: Option<&Leaf>,
) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(ca.der.clone()).unwrap();
    let builder = ClientConfig::builder_with_provider(Arc::new(default_provider()))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match cert {
        Some(leaf) => builder
            .with_client_auth_cert(vec![leaf.der.clone()], leaf.key())
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(config)
}

fn build(settings: &ServerTlsSettings) -> Arc<ServerConfig> {
    server_config(settings, &Resumption::new().unwrap()).unwrap()
}

#[test]
fn pem_identity_handshakes_on_tls13_and_tls12_with_http11_alpn() {
    let dir = TempDir::new("server-pem");
    let (ca, client_ca) = (Ca::new("server ca"), Ca::new("client ca"));
    let server = build(&pem_settings(&dir, &ca, &client_ca));
    for (versions, expected) in [
        (TLS13, ProtocolVersion::TLSv1_3),
        (TLS12, ProtocolVersion::TLSv1_2),
        (BOTH, ProtocolVersion::TLSv1_3),
    ] {
        let (c, s) = connect(&client(&ca, versions, None), &server, "localhost").unwrap();
        assert_eq!(c.protocol_version(), Some(expected));
        assert_eq!(s.alpn_protocol(), Some(&b"http/1.1"[..]));
        assert_eq!(c.alpn_protocol(), Some(&b"http/1.1"[..]));
        assert!(s.peer_certificates().is_none());
        assert_eq!(c.peer_certificates().unwrap().len(), 2);
    }
    // The server's certificate is checked by the client: another CA fails.
    let other = Ca::new("other");
    assert!(matches!(
        connect(&client(&other, BOTH, None), &server, "localhost"),
        Err(Failed::Client(_))
    ));
}

#[test]
fn pkcs12_identity_handshakes() {
    let dir = TempDir::new("server-p12");
    let ca = Ca::new("server ca");
    let leaf = ca.server(&["localhost"]);
    let chain = [
        Certificate::from_der(&leaf.der).unwrap(),
        Certificate::from_der(&ca.der).unwrap(),
    ];
    let mut store = KeyStore::new();
    store.add_entry(
        "gateway",
        KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(
            leaf.key_der.clone(),
            [1u8; 20],
            chain,
        )),
    );
    let path = dir.write("keystore.p12", store.writer("pw").write().unwrap());
    let settings = ServerTlsSettings {
        identity: IdentitySource::Keystore {
            path,
            password: "pw".into(),
            key_password: None,
            alias: Some("gateway".into()),
        },
        client_auth: ClientAuth::Off,
        trust: None,
        protocols: vec![],
        cipher_suites: vec![],
    };
    let server = build(&settings);
    for versions in [TLS13, TLS12] {
        let (c, _) = connect(&client(&ca, versions, None), &server, "localhost").unwrap();
        assert_eq!(c.peer_certificates().unwrap()[0], leaf.der);
    }
}

#[test]
fn protocol_restriction_refuses_the_other_version() {
    let dir = TempDir::new("server-protocols");
    let (ca, client_ca) = (Ca::new("server ca"), Ca::new("client ca"));
    let mut settings = pem_settings(&dir, &ca, &client_ca);
    settings.protocols = vec![Protocol::Tls13];
    let server = build(&settings);
    assert!(connect(&client(&ca, TLS13, None), &server, "localhost").is_ok());
    assert!(matches!(
        connect(&client(&ca, TLS12, None), &server, "localhost"),
        Err(Failed::Server(rustls::Error::PeerIncompatible(_)))
    ));
    settings.protocols = vec![Protocol::Tls12];
    let server = build(&settings);
    let (c, _) = connect(&client(&ca, BOTH, None), &server, "localhost").unwrap();
    assert_eq!(c.protocol_version(), Some(ProtocolVersion::TLSv1_2));
    assert!(connect(&client(&ca, TLS13, None), &server, "localhost").is_err());
}

#[test]
fn cipher_restriction_is_honoured() {
    let dir = TempDir::new("server-ciphers");
    let (ca, client_ca) = (Ca::new("server ca"), Ca::new("client ca"));
    let mut settings = pem_settings(&dir, &ca, &client_ca);
    for (suite, versions) in [
        ("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", TLS12),
        ("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", TLS12),
        ("TLS_AES_256_GCM_SHA384", TLS13),
        ("TLS_CHACHA20_POLY1305_SHA256", TLS13),
    ] {
        settings.cipher_suites = vec![suite.to_string()];
        let server = build(&settings);
        let (c, _) = connect(&client(&ca, versions, None), &server, "localhost").unwrap();
        let negotiated = names::iana_name(&c.negotiated_cipher_suite().unwrap());
        assert_eq!(negotiated, suite);
    }
    // Only a TLS 1.2 suite: a TLS 1.3-only client finds nothing in common.
    settings.cipher_suites = vec!["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256".into()];
    let server = build(&settings);
    assert!(connect(&client(&ca, TLS13, None), &server, "localhost").is_err());
}

#[test]
fn required_client_certificate() {
    let dir = TempDir::new("server-mtls");
    let (ca, client_ca) = (Ca::new("server ca"), Ca::new("client ca"));
    let mut settings = pem_settings(&dir, &ca, &client_ca);
    settings.client_auth = ClientAuth::Required;
    let server = build(&settings);
    let alice = client_ca.client(&[(DnType::CommonName, "alice")]);
    for versions in [TLS13, TLS12] {
        assert!(matches!(
            connect(&client(&ca, versions, None), &server, "localhost"),
            Err(Failed::Server(rustls::Error::NoCertificatesPresented))
        ));
        let (_, s) = connect(&client(&ca, versions, Some(&alice)), &server, "localhost").unwrap();
        assert_eq!(s.peer_certificates().unwrap()[0], alice.der);
        // A certificate from a CA the server does not trust.
        let mallory = Ca::new("client ca").client(&[(DnType::CommonName, "alice")]);
        assert!(matches!(
            connect(&client(&ca, versions, Some(&mallory)), &server, "localhost"),
            Err(Failed::Server(rustls::Error::InvalidCertificate(_)))
        ));
    }
}

#[test]
fn optional_client_certificate() {
    let dir = TempDir::new("server-optional");
    let (ca, client_ca) = (Ca::new("server ca"), Ca::new("client ca"));
    let mut settings = pem_settings(&dir, &ca, &client_ca);
    settings.client_auth = ClientAuth::Optional;
    let server = build(&settings);
    let bob = client_ca.client(&[(DnType::CommonName, "bob")]);
    for versions in [TLS13, TLS12] {
        let (_, s) = connect(&client(&ca, versions, None), &server, "localhost").unwrap();
        assert!(s.peer_certificates().is_none());
        let (_, s) = connect(&client(&ca, versions, Some(&bob)), &server, "localhost").unwrap();
        assert_eq!(s.peer_certificates().unwrap()[0], bob.der);
    }
}

/// Connects twice with the same client config: the second handshake must resume.
fn assert_resumes(client: &Arc<ClientConfig>, server: &ServerTls, what: &str) {
    let (c, s) = connect(client, &server.config(), "localhost").unwrap();
    assert_eq!(
        c.handshake_kind(),
        Some(HandshakeKind::Full),
        "{what}: first"
    );
    drop((c, s));
    let (c, s) = connect(client, &server.config(), "localhost").unwrap();
    assert_eq!(
        c.handshake_kind(),
        Some(HandshakeKind::Resumed),
        "{what}: client"
    );
    assert_eq!(
        s.handshake_kind(),
        Some(HandshakeKind::Resumed),
        "{what}: server"
    );
}

#[test]
fn sessions_resume_on_both_versions_and_survive_a_reload() {
    let dir = TempDir::new("server-resume");
    let (ca, client_ca) = (Ca::new("server ca"), Ca::new("client ca"));
    let settings = pem_settings(&dir, &ca, &client_ca);
    let server = ServerTls::load(settings.clone()).unwrap();

    let tls13 = client(&ca, TLS13, None);
    let tickets = client(&ca, TLS12, None);
    let mut ids = (*client(&ca, TLS12, None)).clone();
    ids.resumption = rustls::client::Resumption::in_memory_sessions(16)
        .tls12_resumption(Tls12Resumption::SessionIdOnly);
    let ids = Arc::new(ids);
    assert_resumes(&tls13, &server, "TLS 1.3 tickets");
    assert_resumes(&tickets, &server, "TLS 1.2 tickets");
    assert_resumes(&ids, &server, "TLS 1.2 session IDs");

    // A new certificate from the same CA: sessions made before the reload still resume.
    let leaf = ca.server(&["localhost"]);
    dir.write("server.pem", &leaf.pem);
    dir.write("server-key.pem", &leaf.key_pem);
    assert!(server.files_changed());
    assert!(server.reload(settings.clone()).unwrap());
    assert!(!server.files_changed());
    for (config, what) in [
        (&tls13, "TLS 1.3"),
        (&tickets, "TLS 1.2 tickets"),
        (&ids, "IDs"),
    ] {
        let (c, s) = connect(config, &server.config(), "localhost").unwrap();
        assert_eq!(
            c.handshake_kind(),
            Some(HandshakeKind::Resumed),
            "{what} after reload"
        );
        assert_eq!(
            s.handshake_kind(),
            Some(HandshakeKind::Resumed),
            "{what} after reload"
        );
    }
    // A fresh client sees the new certificate.
    let (c, _) = connect(&client(&ca, BOTH, None), &server.config(), "localhost").unwrap();
    assert_eq!(c.peer_certificates().unwrap()[0], leaf.der);
}

#[test]
fn reload_keeps_the_old_config_on_error_and_reports_a_broken_file_once() {
    let dir = TempDir::new("server-reload");
    let (ca, client_ca) = (Ca::new("server ca"), Ca::new("client ca"));
    let settings = pem_settings(&dir, &ca, &client_ca);
    let server = ServerTls::load(settings.clone()).unwrap();
    let before = server.config();
    assert!(!server.files_changed());
    assert!(!server.reload(settings.clone()).unwrap(), "nothing changed");
    assert!(Arc::ptr_eq(&before, &server.config()));

    // A key that belongs to another certificate.
    let key = dir.write("server-key.pem", ca.server(&["x"]).key_pem);
    assert!(server.files_changed());
    let e = server.reload(settings.clone()).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!(
            "the private key in {} does not match",
            key.display()
        )),
        "{e}"
    );
    assert!(
        Arc::ptr_eq(&before, &server.config()),
        "the old config stays"
    );
    assert!(!server.files_changed(), "the broken file is reported once");
    connect(&client(&ca, BOTH, None), &server.config(), "localhost").unwrap();

    // Deleting the file is a change too; fixing it reloads.
    std::fs::remove_file(&key).unwrap();
    assert!(server.files_changed());
    assert!(server.reload(settings.clone()).is_err());
    assert!(!server.files_changed());
    let leaf = ca.server(&["localhost"]);
    dir.write("server.pem", &leaf.pem);
    dir.write("server-key.pem", &leaf.key_pem);
    assert!(server.files_changed());
    assert!(server.reload(settings.clone()).unwrap());
    assert!(!Arc::ptr_eq(&before, &server.config()));
    let (c, _) = connect(&client(&ca, BOTH, None), &server.config(), "localhost").unwrap();
    assert_eq!(c.peer_certificates().unwrap()[0], leaf.der);

    // New settings (client certificates required) count as a change without file changes.
    let mut required = settings;
    required.client_auth = ClientAuth::Required;
    assert!(server.reload(required).unwrap());
    assert!(connect(&client(&ca, BOTH, None), &server.config(), "localhost").is_err());
}
