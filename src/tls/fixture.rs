//! Test fixtures: throwaway CAs and certificates (rcgen, ECDSA P-256), temporary directories,
//! and an in-memory handshake that pumps bytes between a rustls client and server (no sockets).

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, ServerConfig, ServerConnection};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A certificate authority that signs leaves.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pub pem: String,
    pub der: CertificateDer<'static>,
}

/// A certificate with its key.
pub struct Leaf {
    pub pem: String,
    pub der: CertificateDer<'static>,
    pub key_pem: String,
    pub key_der: Vec<u8>,
}

impl Leaf {
    pub fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
    }
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca {
            issuer: Issuer::new(params, key),
            pem: cert.pem(),
            der: cert.der().clone(),
        }
    }

    /// A server certificate for `names` (DNS names or IP addresses).
    pub fn server(&self, names: &[&str]) -> Leaf {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params.distinguished_name.push(DnType::CommonName, "server");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign(params)
    }

    /// A client certificate with the given subject (most general attribute first).
    pub fn client(&self, subject: &[(DnType, &str)]) -> Leaf {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        // rcgen starts with a CN; a subject is written in the order given here.
        params.distinguished_name = DistinguishedName::new();
        for (ty, value) in subject {
            params.distinguished_name.push(ty.clone(), *value);
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params)
    }

    pub fn sign(&self, params: CertificateParams) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            pem: cert.pem(),
            der: cert.der().clone(),
            key_pem: key.serialize_pem(),
            key_der: key.serialize_der(),
        }
    }
}

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("ringfence-tls-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs a command that must succeed (openssl, keytool), showing its output when it does not.
pub fn run(program: &str, args: &[&str]) {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} (it is required by these tests): {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Which side a handshake failed on.
#[derive(Debug)]
pub enum Failed {
    Client(rustls::Error),
    Server(rustls::Error),
}

/// Pumps TLS records between the two ends until neither has anything to send (so the
/// client also receives TLS 1.3 session tickets sent after the handshake).
pub fn pump(client: &mut ClientConnection, server: &mut ServerConnection) -> Result<(), Failed> {
    for _ in 0..100 {
        let mut moved = false;
        let mut buffer = Vec::new();
        while client.wants_write() {
            client.write_tls(&mut buffer).unwrap();
        }
        if !buffer.is_empty() {
            moved = true;
            let mut slice = &buffer[..];
            while !slice.is_empty() {
                server.read_tls(&mut slice).unwrap();
                if let Err(e) = server.process_new_packets() {
                    // Deliver the alert so the client sees why.
                    let mut alert = Vec::new();
                    while server.wants_write() {
                        server.write_tls(&mut alert).unwrap();
                    }
                    let _ = client.read_tls(&mut &alert[..]);
                    let _ = client.process_new_packets();
                    return Err(Failed::Server(e));
                }
            }
        }
        buffer.clear();
        while server.wants_write() {
            server.write_tls(&mut buffer).unwrap();
        }
        if !buffer.is_empty() {
            moved = true;
            let mut slice = &buffer[..];
            while !slice.is_empty() {
                client.read_tls(&mut slice).unwrap();
                if let Err(e) = client.process_new_packets() {
                    let mut alert = Vec::new();
                    while client.wants_write() {
                        client.write_tls(&mut alert).unwrap();
                    }
                    let _ = server.read_tls(&mut &alert[..]);
                    let _ = server.process_new_packets();
                    return Err(Failed::Client(e));
                }
            }
        }
        if !moved {
            return Ok(());
        }
    }
    panic!("handshake did not settle in 100 rounds");
}

/// One connection from `client` to `server` for `name`, handshaken in memory.
pub fn connect(
    client: &Arc<ClientConfig>,
    server: &Arc<ServerConfig>,
    name: &str,
) -> Result<(ClientConnection, ServerConnection), Failed> {
    let name = ServerName::try_from(name.to_string()).unwrap();
    let mut c = ClientConnection::new(client.clone(), name).unwrap();
    let mut s = ServerConnection::new(server.clone()).unwrap();
    pump(&mut c, &mut s)?;
    assert!(!c.is_handshaking() && !s.is_handshaking());
    Ok((c, s))
}
