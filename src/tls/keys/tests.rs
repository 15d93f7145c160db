use super::*;
use crate::tls::fixture::{run, Ca, TempDir};
use rustls::crypto::ring::default_provider;

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn pem_source(certificate: PathBuf, key: PathBuf) -> IdentitySource {
    IdentitySource::Pem { certificate, key }
}

fn keystore(path: &Path, password: &str, alias: Option<&str>) -> IdentitySource {
    IdentitySource::Keystore {
        path: path.to_path_buf(),
        password: password.into(),
        key_password: None,
        alias: alias.map(String::from),
    }
}

fn error(result: Result<impl std::fmt::Debug, TlsError>) -> String {
    result.unwrap_err().to_string()
}

#[test]
fn pem_identity_in_pkcs8_sec1_and_pkcs1() {
    let dir = TempDir::new("keys-pem");
    let ca = Ca::new("ca");
    let leaf = ca.server(&["localhost"]);
    let chain = dir.write("chain.pem", format!("{}{}", leaf.pem, ca.pem));
    let pkcs8 = dir.write("pkcs8.pem", &leaf.key_pem);
    let key = load_identity(
        &pem_source(chain.clone(), pkcs8.clone()),
        &default_provider(),
    )
    .unwrap();
    assert_eq!(key.cert.len(), 2);
    assert_eq!(key.cert[0], leaf.der);

    // SEC1 ("EC PRIVATE KEY"), converted by openssl.
    let sec1 = dir.path().join("sec1.pem");
    run("openssl", &["ec", "-in", s(&pkcs8), "-out", s(&sec1)]);
    assert!(std::fs::read_to_string(&sec1)
        .unwrap()
        .contains("BEGIN EC PRIVATE KEY"));
    load_identity(&pem_source(chain.clone(), sec1), &default_provider()).unwrap();

    // PKCS#1 ("RSA PRIVATE KEY") with a self-signed RSA certificate made by openssl.
    let rsa_key = dir.path().join("rsa.pem");
    let rsa_cert = dir.path().join("rsa-cert.pem");
    let pkcs1 = dir.path().join("pkcs1.pem");
    run(
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=rsa",
            "-days",
            "2",
            "-keyout",
            s(&rsa_key),
            "-out",
            s(&rsa_cert),
        ],
    );
    run(
        "openssl",
        &["rsa", "-in", s(&rsa_key), "-traditional", "-out", s(&pkcs1)],
    );
    assert!(std::fs::read_to_string(&pkcs1)
        .unwrap()
        .contains("BEGIN RSA PRIVATE KEY"));
    load_identity(&pem_source(rsa_cert, pkcs1), &default_provider()).unwrap();
}

#[test]
fn pem_errors_name_the_file_and_the_problem() {
    let dir = TempDir::new("keys-pem-errors");
    let ca = Ca::new("ca");
    let leaf = ca.server(&["localhost"]);
    let other = ca.server(&["localhost"]);
    let cert = dir.write("cert.pem", &leaf.pem);
    let key = dir.write("key.pem", &leaf.key_pem);
    let other_key = dir.write("other-key.pem", &other.key_pem);
    let missing = dir.path().join("missing.pem");
    let provider = default_provider();
    let load = |c: &Path, k: &Path| load_identity(&pem_source(c.into(), k.into()), &provider);

    let e = error(load(&missing, &key));
    assert!(
        e.starts_with(&format!("cannot read {}: ", missing.display())),
        "{e}"
    );
    let e = error(load(&key, &key));
    assert_eq!(
        e,
        format!(
            "{}: no certificate in it (expected PEM `-----BEGIN CERTIFICATE-----` sections)",
            key.display()
        )
    );
    let e = error(load(&cert, &cert));
    assert!(
        e.starts_with(&format!("{}: no private key in it", cert.display())),
        "{e}"
    );
    let e = error(load(&cert, &other_key));
    assert_eq!(
        e,
        format!(
            "the private key in {} does not match the certificate in {}",
            other_key.display(),
            cert.display()
        )
    );
    let broken = dir.write("broken.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n");
    let e = error(load(&broken, &key));
    assert!(
        e.starts_with(&format!("{}: not valid PEM", broken.display())),
        "{e}"
    );

    let encrypted = dir.path().join("encrypted.pem");
    run(
        "openssl",
        &[
            "pkcs8",
            "-topk8",
            "-in",
            s(&key),
            "-out",
            s(&encrypted),
            "-passout",
            "pass:pw",
        ],
    );
    let e = error(load(&cert, &encrypted));
    assert!(
        e.starts_with(&format!(
            "{}: the private key is encrypted",
            encrypted.display()
        )),
        "{e}"
    );
}

#[test]
fn pem_trust_bundle() {
    let dir = TempDir::new("keys-trust-pem");
    let (a, b) = (Ca::new("a"), Ca::new("b"));
    let bundle = dir.write("bundle.pem", format!("{}{}", a.pem, b.pem));
    assert_eq!(load_trust(&TrustSource::Pem(bundle)).unwrap().len(), 2);
    let empty = dir.write("empty.pem", "nothing here\n");
    let e = error(load_trust(&TrustSource::Pem(empty.clone())));
    assert!(
        e.starts_with(&format!("{}: no certificate in it", empty.display())),
        "{e}"
    );
}

/// Writes the leaf, its key and the CA for openssl, returns their paths.
fn pem_files(
    dir: &TempDir,
    ca: &Ca,
) -> (
    PathBuf,
    PathBuf,
    PathBuf,
    rustls::pki_types::CertificateDer<'static>,
) {
    let leaf = ca.server(&["localhost"]);
    (
        dir.write("leaf.pem", &leaf.pem),
        dir.write("leaf-key.pem", &leaf.key_pem),
        dir.write("ca.pem", &ca.pem),
        leaf.der,
    )
}

#[test]
fn pkcs12_from_openssl_modern_and_legacy() {
    let dir = TempDir::new("keys-p12-openssl");
    let ca = Ca::new("ca");
    let (cert, key, ca_pem, leaf_der) = pem_files(&dir, &ca);
    for (name, extra) in [("modern.p12", None), ("legacy.p12", Some("-legacy"))] {
        let out = dir.path().join(name);
        let mut args = vec![
            "pkcs12",
            "-export",
            "-in",
            s(&cert),
            "-inkey",
            s(&key),
            "-certfile",
            s(&ca_pem),
            "-name",
            "gateway",
            "-out",
            s(&out),
            "-passout",
            "pass:store-pw",
        ];
        args.extend(extra);
        run("openssl", &args);
        let info = std::process::Command::new("openssl")
            .args([
                "pkcs12",
                "-info",
                "-noout",
                "-legacy",
                "-in",
                s(&out),
                "-passin",
                "pass:store-pw",
            ])
            .output()
            .unwrap();
        let info = String::from_utf8_lossy(&info.stderr).to_string();
        if extra.is_some() {
            assert!(info.contains("RC2") || info.contains("3DES"), "{info}");
        } else {
            assert!(info.contains("AES-256-CBC"), "{info}");
        }

        let loaded = load_identity(
            &keystore(&out, "store-pw", Some("gateway")),
            &default_provider(),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(loaded.cert[0], leaf_der, "{name}");
        assert_eq!(loaded.cert.len(), 2, "{name}: the CA travels in the chain");
        // No alias: the first (only) key entry.
        load_identity(&keystore(&out, "store-pw", None), &default_provider()).unwrap();

        let e = error(load_identity(
            &keystore(&out, "wrong", None),
            &default_provider(),
        ));
        assert_eq!(
            e,
            format!(
                "{}: wrong password (the PKCS#12 integrity check failed)",
                out.display()
            )
        );
        let e = error(load_identity(
            &keystore(&out, "store-pw", Some("nope")),
            &default_provider(),
        ));
        assert_eq!(
            e,
            format!(
                "{}: no private key entry with alias `nope` (key entries: gateway)",
                out.display()
            )
        );
    }

    // openssl (before 3.2's -jdktrust) writes no trusted-certificate marker: Java, and this
    // reader, see no trusted entry.
    let untrusted = dir.path().join("untrusted.p12");
    run(
        "openssl",
        &[
            "pkcs12",
            "-export",
            "-nokeys",
            "-in",
            s(&ca_pem),
            "-out",
            s(&untrusted),
            "-passout",
            "pass:tpw",
        ],
    );
    let e = error(load_trust(&TrustSource::Truststore {
        path: untrusted.clone(),
        password: "tpw".into(),
    }));
    assert!(
        e.starts_with(&format!(
            "{}: no trusted certificate entry",
            untrusted.display()
        )),
        "{e}"
    );
}

#[test]
fn keystores_from_keytool_pkcs12_and_jks() {
    let dir = TempDir::new("keys-keytool");
    let ca = Ca::new("ca");
    let (cert, key, ca_pem, leaf_der) = pem_files(&dir, &ca);
    // keytool cannot import a PEM key: go through an openssl PKCS#12, then let keytool
    // rewrite it as its own PKCS#12 (Java 17: PBES2/AES-256, HmacSHA256) and as JKS.
    let source = dir.path().join("source.p12");
    run(
        "openssl",
        &[
            "pkcs12",
            "-export",
            "-in",
            s(&cert),
            "-inkey",
            s(&key),
            "-name",
            "gw",
            "-out",
            s(&source),
            "-passout",
            "pass:changeit",
        ],
    );
    let java_p12 = dir.path().join("java.p12");
    let jks = dir.path().join("keystore.jks");
    for (out, kind) in [(&java_p12, "PKCS12"), (&jks, "JKS")] {
        run(
            "keytool",
            &[
                "-importkeystore",
                "-noprompt",
                "-srckeystore",
                s(&source),
                "-srcstoretype",
                "PKCS12",
                "-srcstorepass",
                "changeit",
                "-destkeystore",
                s(out),
                "-deststoretype",
                kind,
                "-deststorepass",
                "changeit",
            ],
        );
    }
    let loaded = load_identity(
        &keystore(&java_p12, "changeit", Some("gw")),
        &default_provider(),
    )
    .unwrap();
    assert_eq!(loaded.cert[0], leaf_der);

    let e = error(load_identity(
        &keystore(&jks, "changeit", None),
        &default_provider(),
    ));
    let command = format!(
        "keytool -importkeystore -srckeystore {} -srcstoretype JKS -destkeystore {} -deststoretype PKCS12",
        jks.display(),
        dir.path().join("keystore.p12").display()
    );
    assert!(e.contains(&command), "{e}");
    assert!(
        e.starts_with(&format!("{}: a Java JKS keystore", jks.display())),
        "{e}"
    );

    // A Java truststore (trusted certificate entry), PKCS#12.
    let trust = dir.path().join("truststore.p12");
    run(
        "keytool",
        &[
            "-importcert",
            "-noprompt",
            "-alias",
            "ca",
            "-file",
            s(&ca_pem),
            "-keystore",
            s(&trust),
            "-storetype",
            "PKCS12",
            "-storepass",
            "changeit",
        ],
    );
    let roots = load_trust(&TrustSource::Truststore {
        path: trust,
        password: "changeit".into(),
    })
    .unwrap();
    assert_eq!(roots.len(), 1);
}

#[test]
fn java_keystore_magic_and_conversion_path() {
    assert_eq!(
        java_keystore_kind(&[0xFE, 0xED, 0xFE, 0xED, 0]),
        Some("JKS")
    );
    assert_eq!(java_keystore_kind(&[0xCE, 0xCE, 0xCE, 0xCE]), Some("JCEKS"));
    assert_eq!(java_keystore_kind(&[0x30, 0x82]), None);
    assert_eq!(pkcs12_path(Path::new("/a/ks.jks")), Path::new("/a/ks.p12"));
    assert_eq!(
        pkcs12_path(Path::new("/a/ks.p12")),
        Path::new("/a/ks-pkcs12.p12")
    );
    assert_eq!(
        reexport_command(Path::new("/a/old.pfx"), true),
        "openssl pkcs12 -legacy -in /a/old.pfx -nodes | openssl pkcs12 -export -out /a/old-aes.p12"
    );
}

#[test]
fn pem_file_given_as_keystore() {
    let dir = TempDir::new("keys-pem-as-p12");
    let ca = Ca::new("ca");
    let path = dir.write("ks.p12", &ca.pem);
    let e = error(load_identity(
        &keystore(&path, "x", None),
        &default_provider(),
    ));
    assert!(
        e.starts_with(&format!("{}: a PEM file, not PKCS#12", path.display())),
        "{e}"
    );
    let path = dir.write("junk.p12", b"\x30\x03\x02\x01\x07");
    let e = error(load_identity(
        &keystore(&path, "x", None),
        &default_provider(),
    ));
    assert!(
        e.starts_with(&format!("{}: not a readable PKCS#12 file", path.display())),
        "{e}"
    );
}
