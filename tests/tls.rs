//! TLS through the whole gateway: listeners (PEM, side by side with plain), protocol limits,
//! client certificates and the PKI identity they give, https upstreams, certificate reload.
//! Certificates are made per test with rcgen (ECDSA P-256).

mod support;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use support::*;

/// A throwaway certificate authority.
struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate and its key, DER and PEM.
struct Leaf {
    cert: CertificateDer<'static>,
    key: Vec<u8>,
    cert_pem: String,
    key_pem: String,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        Ca {
            issuer: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap(),
        }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A server certificate for 127.0.0.1 and localhost.
    fn server(&self) -> Leaf {
        let params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        self.sign(params)
    }

    /// A client certificate with subject `CN=<cn>,OU=ops,O=Example`.
    fn client(&self, cn: &str) -> Leaf {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Example");
        params
            .distinguished_name
            .push(DnType::OrganizationalUnitName, "ops");
        params.distinguished_name.push(DnType::CommonName, cn);
        self.sign(params)
    }

    fn sign(&self, params: CertificateParams) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert: cert.der().clone(),
            key: key.serialize_der(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}

impl Leaf {
    fn private_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::from(PrivatePkcs8KeyDer::from(self.key.clone()))
    }
}

/// Writes the server's files into `dir`: server.pem, server.key, ca.pem. Each is replaced
/// by a rename, as certificate tools do, key first (a watcher may look in between).
fn write_server_files(dir: &Path, ca: &Ca, server: &Leaf) {
    for (name, text) in [
        ("server.key", server.key_pem.clone()),
        ("server.pem", server.cert_pem.clone()),
        ("ca.pem", ca.pem()),
    ] {
        let fresh = dir.join(format!("{name}.new"));
        std::fs::write(&fresh, text).unwrap();
        std::fs::rename(&fresh, dir.join(name)).unwrap();
    }
}

/// The `ssl:` section for the files `write_server_files` wrote, plus `extra` lines.
fn ssl_section(dir: &Path, extra: &str) -> String {
    format!(
        "  ssl:\n    server_certificate_file: {}\n    server_certificate_key_file: {}\n{extra}",
        dir.join("server.pem").display(),
        dir.join("server.key").display()
    )
}

fn client_config(
    ca: &Ca,
    versions: &[&'static rustls::SupportedProtocolVersion],
    identity: Option<&Leaf>,
) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(ca.issuer.der().clone()).unwrap();
    let builder =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots);
    let mut config = match identity {
        Some(leaf) => builder
            .with_client_auth_cert(vec![leaf.cert.clone()], leaf.private_key())
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

const BOTH: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

type Tls = StreamOwned<ClientConnection, TcpStream>;

/// Connects and completes the handshake (an error: the server refused it).
fn connect(addr: SocketAddr, config: Arc<ClientConfig>) -> std::io::Result<Tls> {
    let tcp = TcpStream::connect(addr)?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = StreamOwned::new(ClientConnection::new(config, name).unwrap(), tcp);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock)?;
    }
    // TLS 1.3 servers decide on the client certificate after the client's last flight: a
    // refusal arrives as an alert on the first read.
    tls.write_all(b"")?;
    Ok(tls)
}

/// Sends one GET and reads the response: (status, body).
fn get(tls: &mut Tls, path: &str, authorization: Option<&str>) -> std::io::Result<(u16, String)> {
    let auth = authorization
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    tls.write_all(format!("GET {path} HTTP/1.1\r\nHost: es\r\n{auth}\r\n").as_bytes())?;
    read_response(tls)
}

fn read_response(stream: &mut impl Read) -> std::io::Result<(u16, String)> {
    let mut data = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(end) = find(&data, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).to_string();
            let length = head
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if data.len() >= end + 4 + length {
                let status = head[9..12].parse().unwrap();
                let body = String::from_utf8_lossy(&data[end + 4..end + 4 + length]).to_string();
                return Ok((status, body));
            }
        }
        let n = match stream.read(&mut chunk) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            read => read?,
        };
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        data.extend_from_slice(&chunk[..n]);
    }
}

fn tls_dir(name: &str) -> PathBuf {
    test_dir(&format!("tls-{name}"), &[])
}

#[test]
fn https_listener_serves_tls_1_2_and_1_3_beside_a_plain_listener() {
    let upstream = StubUpstream::echo();
    let dir = tls_dir("listener");
    let ca = Ca::new("Test CA");
    write_server_files(&dir, &ca, &ca.server());
    let path = config_file(
        "tls-listener",
        &upstream.url(),
        &format!("  enable: false\n{}", ssl_section(&dir, "")),
        "",
    );
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "  listen: 127.0.0.1:0\n",
        "  listen: [\"https://127.0.0.1:0\", \"http://127.0.0.1:0\"]\n",
    );
    std::fs::write(&path, text).unwrap();
    let config = ringfence::config::Config::load(&path).unwrap();
    let snapshot = ringfence::snapshot::Snapshot::load(&config.policy_source, 1).unwrap();
    let gateway = ringfence::runtime::Gateway::start(
        &config.gateway,
        Arc::new(ringfence::snapshot::PolicyStore::new(snapshot)),
    )
    .unwrap();
    let (tls_addr, plain_addr) = (gateway.local_addrs()[0], gateway.local_addrs()[1]);
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let mut tls = connect(tls_addr, client_config(&ca, &[version], None)).unwrap();
        assert_eq!(tls.conn.protocol_version(), Some(version.version));
        assert_eq!(tls.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
        // Keep-alive: two requests on one connection.
        assert_eq!(get(&mut tls, "/one", None).unwrap().0, 200);
        assert_eq!(get(&mut tls, "/two", None).unwrap().0, 200);
    }
    assert_eq!(upstream.count("/one"), 2);
    let plain = roundtrip(plain_addr, b"GET /plain HTTP/1.1\r\nHost: es\r\n\r\n");
    assert_eq!(plain.status, 200);
    // Plain HTTP on the TLS port: a 400 in plain text, then the end.
    let mut client = Client::connect(tls_addr);
    client.send(b"GET / HTTP/1.1\r\nHost: es\r\n\r\n");
    let (answer, _) = client.read_until_end();
    assert!(
        answer.starts_with(b"HTTP/1.1 400 Bad Request\r\n"),
        "{answer:?}"
    );
    gateway.shutdown();
}

#[test]
fn allowed_protocols_refuse_a_client_that_offers_only_others() {
    let upstream = StubUpstream::echo();
    let dir = tls_dir("protocols");
    let ca = Ca::new("Test CA");
    write_server_files(&dir, &ca, &ca.server());
    let gateway = start_gateway(
        "tls-protocols",
        &upstream.url(),
        &format!(
            "  enable: false\n{}",
            ssl_section(&dir, "    allowed_protocols: [TLSv1.3]\n")
        ),
        "",
    );
    let addr = gateway.local_addrs()[0];
    assert!(connect(addr, client_config(&ca, &[&rustls::version::TLS12], None)).is_err());
    let mut tls = connect(addr, client_config(&ca, &[&rustls::version::TLS13], None)).unwrap();
    assert_eq!(get(&mut tls, "/", None).unwrap().0, 200);
    gateway.shutdown();
}

/// An ACL where the client certificate's CN is the user: pki-alice reads alice-* only.
const PKI_ACL: &str = "  access_control_rules:\n  - name: pki\n    certificate_authentication:\n      username_pattern: \"CN=([^,]+)\"\n    indices: [\"@{user}-*\"]\n";

#[test]
fn a_required_client_certificate_is_the_callers_identity() {
    let upstream = StubUpstream::echo();
    let dir = tls_dir("pki");
    let ca = Ca::new("Test CA");
    let stranger = Ca::new("Other CA");
    write_server_files(&dir, &ca, &ca.server());
    let ssl = ssl_section(
        &dir,
        &format!(
            "    client_authentication: true\n    client_trusted_certificate_file: {}\n",
            dir.join("ca.pem").display()
        ),
    );
    let gateway = start_gateway("tls-pki", &upstream.url(), &format!("{ssl}{PKI_ACL}"), "");
    let addr = gateway.local_addrs()[0];
    let alice = ca.client("alice");
    for versions in [
        &[&rustls::version::TLS13][..],
        &[&rustls::version::TLS12][..],
    ] {
        let mut tls = connect(addr, client_config(&ca, versions, Some(&alice))).unwrap();
        assert_eq!(get(&mut tls, "/alice-logs/_search", None).unwrap().0, 200);
        // Not hers: as ReadonlyREST answers for indices a user may not see, 404.
        assert_eq!(get(&mut tls, "/bob-logs/_search", None).unwrap().0, 404);
    }
    assert_eq!(upstream.count("/bob-logs/_search"), 0);
    // No certificate, or one from a CA nobody trusts: no connection at all.
    let refused = |identity: Option<&Leaf>, ca: &Ca| {
        connect(addr, client_config(ca, BOTH, identity))
            .and_then(|mut tls| get(&mut tls, "/alice-logs/_search", None))
            .is_err()
    };
    assert!(refused(None, &ca));
    let mallory = stranger.client("alice");
    assert!(refused(Some(&mallory), &ca));
    assert_eq!(upstream.count("/alice-logs/_search"), 2);
    let metrics = gateway.metrics().render();
    assert!(
        metrics.contains("ringfence_tls_handshake_failures_total 2"),
        "{metrics}"
    );
    gateway.shutdown();
}

#[test]
fn an_optional_client_certificate_lets_other_rules_serve_callers_without_one() {
    let upstream = StubUpstream::echo();
    let dir = tls_dir("optional");
    let ca = Ca::new("Test CA");
    write_server_files(&dir, &ca, &ca.server());
    let ssl = ssl_section(
        &dir,
        &format!(
            "    client_authentication: optional\n    client_trusted_certificate_file: {}\n",
            dir.join("ca.pem").display()
        ),
    );
    let acl = format!("{PKI_ACL}  - name: basic\n    auth_key: u:p\n");
    let gateway = start_gateway("tls-optional", &upstream.url(), &format!("{ssl}{acl}"), "");
    let addr = gateway.local_addrs()[0];
    let mut anonymous = connect(addr, client_config(&ca, BOTH, None)).unwrap();
    assert_eq!(
        get(&mut anonymous, "/alice-logs/_search", None).unwrap().0,
        401
    );
    assert_eq!(
        get(&mut anonymous, "/alice-logs/_search", Some("Basic dTpw"))
            .unwrap()
            .0,
        200
    );
    let alice = ca.client("alice");
    let mut tls = connect(addr, client_config(&ca, BOTH, Some(&alice))).unwrap();
    assert_eq!(get(&mut tls, "/alice-logs/_search", None).unwrap().0, 200);
    gateway.shutdown();
}

/// A TLS upstream on its own thread: answers every request with a small JSON body.
fn tls_upstream(ca: &Ca) -> SocketAddr {
    let server = ca.server();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![server.cert.clone()], server.private_key())
    .unwrap();
    let config = Arc::new(config);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(tcp) = tcp else { return };
            let config = Arc::clone(&config);
            std::thread::spawn(move || {
                let conn = rustls::ServerConnection::new(config).unwrap();
                let mut tls = StreamOwned::new(conn, tcp);
                let mut data = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    while let Some(end) = find(&data, b"\r\n\r\n") {
                        data.drain(..end + 4);
                        let body = br#"{"secured":true}"#;
                        let head = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                            body.len()
                        );
                        if tls.write_all(head.as_bytes()).is_err() || tls.write_all(body).is_err() {
                            return;
                        }
                    }
                    match tls.read(&mut chunk) {
                        Ok(n) if n > 0 => data.extend_from_slice(&chunk[..n]),
                        _ => return,
                    }
                }
            });
        }
    });
    addr
}

#[test]
fn an_https_upstream_is_verified_and_a_wrong_ca_is_a_clear_502() {
    let ca = Ca::new("Cluster CA");
    let upstream = tls_upstream(&ca);
    let dir = tls_dir("upstream");
    std::fs::write(dir.join("cluster-ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("other-ca.pem"), Ca::new("Other CA").pem()).unwrap();
    let url = format!("https://localhost:{}", upstream.port());
    for (ca_file, status) in [("cluster-ca.pem", 200), ("other-ca.pem", 502)] {
        let gateway = start_gateway(
            &format!("tls-upstream-{status}"),
            &url,
            ALLOW_ALL,
            &format!(
                "  upstream_tls:\n    ca_file: {}\n",
                dir.join(ca_file).display()
            ),
        );
        let response = roundtrip(
            gateway.local_addrs()[0],
            b"GET / HTTP/1.1\r\nHost: es\r\n\r\n",
        );
        assert_eq!(response.status, status);
        let body = String::from_utf8_lossy(&response.body).to_string();
        if status == 200 {
            assert_eq!(body, r#"{"secured":true}"#);
        } else {
            assert!(
                body.contains("TLS handshake with the upstream node failed"),
                "{body}"
            );
        }
        gateway.shutdown();
    }
}

#[test]
fn certificates_reload_on_change_and_open_connections_keep_going() {
    let upstream = StubUpstream::echo();
    let dir = tls_dir("reload");
    let ca = Ca::new("Test CA");
    let first = ca.server();
    write_server_files(&dir, &ca, &first);
    let config = config_file(
        "tls-reload",
        &upstream.url(),
        &format!("  enable: false\n{}", ssl_section(&dir, "")),
        "  policy_watch_ms: 100\n",
    );
    let binary = Binary::start(&config);
    // A new client each time: a resumed session would show the certificate it began with.
    let fresh = || connect(binary.addr, client_config(&ca, BOTH, None)).unwrap();
    let served_certificate = |tls: &Tls| tls.conn.peer_certificates().unwrap()[0].clone();
    let mut open = fresh();
    assert_eq!(served_certificate(&open), first.cert);
    assert_eq!(get(&mut open, "/", None).unwrap().0, 200);

    // A broken certificate file is reported and the old certificate stays.
    std::fs::write(dir.join("server.pem"), "not a certificate").unwrap();
    binary.wait_for_log("keeping the previous certificates", Duration::from_secs(10));
    assert_eq!(served_certificate(&fresh()), first.cert);

    // A good one replaces it for new connections; the open one keeps working.
    let second = ca.server();
    write_server_files(&dir, &ca, &second);
    binary.wait_for_log("TLS certificates reloaded", Duration::from_secs(10));
    assert_eq!(served_certificate(&fresh()), second.cert);
    assert_eq!(get(&mut open, "/", None).unwrap().0, 200);

    // SIGHUP reloads too.
    let third = ca.server();
    write_server_files(&dir, &ca, &third);
    binary.signal("HUP");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if served_certificate(&fresh()) == third.cert {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{}", binary.log());
        std::thread::sleep(Duration::from_millis(50));
    }
}
