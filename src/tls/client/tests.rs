use super::*;
use crate::tls::fixture::{connect, Ca, Failed, Leaf, TempDir};
use crate::tls::server::{server_config, Resumption};
use crate::tls::settings::{ClientAuth, IdentitySource, ServerTlsSettings, TrustSource};
use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose};
use rustls::ServerConfig;

/// A server presenting `leaf` (signed by `ca`), optionally requiring certificates from
/// `client_ca`.
fn server(dir: &TempDir, ca: &Ca, leaf: &Leaf, client_ca: Option<&Ca>) -> Arc<ServerConfig> {
    let settings = ServerTlsSettings {
        identity: IdentitySource::Pem {
            certificate: dir.write("server.pem", format!("{}{}", leaf.pem, ca.pem)),
            key: dir.write("server-key.pem", &leaf.key_pem),
        },
        client_auth: match client_ca {
            Some(_) => ClientAuth::Required,
            None => ClientAuth::Off,
        },
        trust: client_ca.map(|ca| TrustSource::Pem(dir.write("clients-ca.pem", &ca.pem))),
        protocols: vec![],
        cipher_suites: vec![],
    };
    server_config(&settings, &Resumption::new().unwrap()).unwrap()
}

fn upstream(ca_file: Option<std::path::PathBuf>, verify_hostname: bool) -> UpstreamTlsSettings {
    UpstreamTlsSettings {
        ca_file,
        client_certificate_file: None,
        client_key_file: None,
        verify_hostname,
    }
}

fn client_error(result: Result<impl Sized, Failed>) -> rustls::Error {
    match result {
        Err(Failed::Client(e)) => e,
        Err(Failed::Server(e)) => panic!("the server failed first: {e}"),
        Ok(_) => panic!("the handshake succeeded"),
    }
}

#[test]
fn the_right_ca_verifies_and_a_wrong_one_does_not() {
    let dir = TempDir::new("client-ca");
    let ca = Ca::new("cluster ca");
    let server = server(&dir, &ca, &ca.server(&["es1.internal", "10.0.0.7"]), None);
    let good = client_config(&upstream(Some(dir.write("ca.pem", &ca.pem)), true)).unwrap();
    for name in ["es1.internal", "10.0.0.7"] {
        let (c, _) = connect(&good, &server, name).unwrap();
        assert_eq!(c.alpn_protocol(), Some(&b"http/1.1"[..]));
    }
    let wrong = client_config(&upstream(
        Some(dir.write("wrong.pem", Ca::new("x").pem)),
        true,
    ))
    .unwrap();
    assert_eq!(
        client_error(connect(&wrong, &server, "es1.internal")),
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)
    );
}

#[test]
fn a_wrong_name_fails_unless_verify_hostname_is_off() {
    let dir = TempDir::new("client-name");
    let ca = Ca::new("cluster ca");
    let server = server(&dir, &ca, &ca.server(&["es1.internal"]), None);
    let ca_file = dir.write("ca.pem", &ca.pem);
    let strict = client_config(&upstream(Some(ca_file.clone()), true)).unwrap();
    assert!(matches!(
        client_error(connect(&strict, &server, "127.0.0.1")),
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
        )
    ));
    let lax = client_config(&upstream(Some(ca_file), false)).unwrap();
    connect(&lax, &server, "127.0.0.1").unwrap();
    connect(&lax, &server, "other.example").unwrap();

    // The chain is still verified: a wrong CA fails with verify_hostname off.
    let wrong = client_config(&upstream(
        Some(dir.write("wrong.pem", Ca::new("x").pem)),
        false,
    ))
    .unwrap();
    assert_eq!(
        client_error(connect(&wrong, &server, "127.0.0.1")),
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)
    );
}

#[test]
fn expiry_is_verified_with_verify_hostname_off() {
    let dir = TempDir::new("client-expired");
    let ca = Ca::new("cluster ca");
    let mut params = CertificateParams::new(vec!["es1.internal".to_string()]).unwrap();
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.not_before = rcgen::date_time_ymd(2001, 1, 1);
    params.not_after = rcgen::date_time_ymd(2002, 1, 1);
    let server = server(&dir, &ca, &ca.sign(params), None);
    let lax = client_config(&upstream(Some(dir.write("ca.pem", &ca.pem)), false)).unwrap();
    assert!(matches!(
        client_error(connect(&lax, &server, "es1.internal")),
        rustls::Error::InvalidCertificate(
            CertificateError::Expired | CertificateError::ExpiredContext { .. }
        )
    ));
}

#[test]
fn client_certificate_for_clusters_that_require_one() {
    let dir = TempDir::new("client-mtls");
    let (ca, gateway_ca) = (Ca::new("cluster ca"), Ca::new("gateway ca"));
    let server = server(&dir, &ca, &ca.server(&["es1.internal"]), Some(&gateway_ca));
    let me = gateway_ca.client(&[(DnType::CommonName, "ringfence")]);
    let mut settings = upstream(Some(dir.write("ca.pem", &ca.pem)), true);
    let anonymous = client_config(&settings).unwrap();
    assert!(connect(&anonymous, &server, "es1.internal").is_err());

    settings.client_certificate_file = Some(dir.write("me.pem", &me.pem));
    settings.client_key_file = Some(dir.write("me-key.pem", &me.key_pem));
    let (_, s) = connect(&client_config(&settings).unwrap(), &server, "es1.internal").unwrap();
    assert_eq!(s.peer_certificates().unwrap()[0], me.der);

    let other_key = dir.write("other-key.pem", gateway_ca.client(&[]).key_pem);
    settings.client_key_file = Some(other_key.clone());
    let e = client_config(&settings).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!(
            "the private key in {} does not match",
            other_key.display()
        )),
        "{e}"
    );
}

#[test]
fn system_bundle() {
    let dir = TempDir::new("client-system");
    let missing = dir.path().join("none.crt");
    let e = build(&upstream(None, true), &missing)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        format!(
            "{}: no system CA bundle; set gateway.upstream_tls.ca_file",
            missing.display()
        )
    );
    let ca = Ca::new("pretend system ca");
    let bundle = dir.write("bundle.crt", &ca.pem);
    let config = build(&upstream(None, true), &bundle).unwrap();
    let server = server(&dir, &ca, &ca.server(&["es1.internal"]), None);
    connect(&config, &server, "es1.internal").unwrap();
}
