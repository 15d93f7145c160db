//! The subject DN of a client certificate, as PKI rules compare it.
//!
//! The string form is RFC 4514's, which is also what Java's `X500Principal.getName()`
//! returns (and so what Elasticsearch's PKI realm and Search Guard print): the most specific
//! RDN first (`CN=alice,OU=ops,O=Example,C=US`), no space after commas, multi-valued RDNs
//! joined with `+` in their encoded order, special characters escaped (RFC 4514 §2.4), and
//! attributes without a short name written as a dotted OID with the hex of the DER value
//! (§2.4, `1.2.840.113549.1.9.1=#1611…`). Called only on a chain rustls has verified.

use x509_parser::asn1_rs::{Tag, ToDer};
use x509_parser::prelude::{AttributeTypeAndValue, FromDer, X509Certificate};

/// Short names RFC 4514 §3 defines, plus the ones Java's `X500Principal` prints by name.
const SHORT_NAMES: &[(&str, &str)] = &[
    ("2.5.4.3", "CN"),
    ("2.5.4.7", "L"),
    ("2.5.4.8", "ST"),
    ("2.5.4.10", "O"),
    ("2.5.4.11", "OU"),
    ("2.5.4.6", "C"),
    ("2.5.4.9", "STREET"),
    ("0.9.2342.19200300.100.1.25", "DC"),
    ("0.9.2342.19200300.100.1.1", "UID"),
];

/// The subject DN of a DER certificate in RFC 4514 form; `None` if it does not parse.
pub fn subject_dn(cert_der: &[u8]) -> Option<String> {
    let (_, cert) = X509Certificate::from_der(cert_der).ok()?;
    let rdns: Vec<_> = cert.subject().iter_rdn().collect();
    let mut out = String::new();
    for (i, rdn) in rdns.iter().rev().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for (j, attribute) in rdn.iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            write_attribute(&mut out, attribute)?;
        }
    }
    Some(out)
}

fn write_attribute(out: &mut String, attribute: &AttributeTypeAndValue<'_>) -> Option<()> {
    let oid = attribute.attr_type().to_id_string();
    let short = SHORT_NAMES
        .iter()
        .find(|(dotted, _)| *dotted == oid)
        .map(|(_, name)| *name);
    match (short, string_value(attribute)) {
        (Some(name), Some(value)) => {
            out.push_str(name);
            out.push('=');
            escape(out, &value);
        }
        // RFC 4514 §2.4: no short name (or not a string), the BER encoding in hex.
        (name, _) => {
            out.push_str(name.unwrap_or(&oid));
            out.push_str("=#");
            for byte in attribute.attr_value().to_der_vec().ok()? {
                out.push_str(&format!("{byte:02x}"));
            }
        }
    }
    Some(())
}

/// The value of a directory string (RFC 5280 §4.1.2.4), decoded.
fn string_value(attribute: &AttributeTypeAndValue<'_>) -> Option<String> {
    let value = attribute.attr_value();
    let data = value.data;
    match value.tag() {
        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String | Tag::NumericString => {
            std::str::from_utf8(data).ok().map(str::to_string)
        }
        // T.61 in practice carries Latin-1.
        Tag::TeletexString => Some(data.iter().map(|&b| char::from(b)).collect()),
        Tag::BmpString if data.len() % 2 == 0 => {
            let units: Vec<u16> = data
                .chunks_exact(2)
                .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        Tag::UniversalString if data.len() % 4 == 0 => data
            .chunks_exact(4)
            .map(|quad| char::from_u32(u32::from_be_bytes([quad[0], quad[1], quad[2], quad[3]])))
            .collect(),
        _ => None,
    }
}

/// RFC 4514 §2.4: `"+,;<>\` anywhere, `#` or space first, space last, NUL as `\00`.
fn escape(out: &mut String, value: &str) {
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            '\0' => out.push_str("\\00"),
            _ => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::fixture::{run, Ca, TempDir};
    use rcgen::DnType;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;

    fn dn(subject: &[(DnType, &str)]) -> String {
        let leaf = Ca::new("ca").client(subject);
        subject_dn(&leaf.der).unwrap()
    }

    #[test]
    fn most_specific_first_without_spaces() {
        assert_eq!(
            dn(&[
                (DnType::CountryName, "US"),
                (DnType::OrganizationName, "Example"),
                (DnType::OrganizationalUnitName, "ops"),
                (DnType::CommonName, "alice"),
            ]),
            "CN=alice,OU=ops,O=Example,C=US"
        );
        assert_eq!(
            dn(&[
                (
                    DnType::CustomDnType(vec![0, 9, 2342, 19200300, 100, 1, 25]),
                    "com"
                ),
                (DnType::StateOrProvinceName, "IDF"),
                (DnType::LocalityName, "Paris"),
                (DnType::CustomDnType(vec![2, 5, 4, 9]), "1 rue X"),
                (
                    DnType::CustomDnType(vec![0, 9, 2342, 19200300, 100, 1, 1]),
                    "u1"
                ),
            ]),
            "UID=u1,STREET=1 rue X,L=Paris,ST=IDF,DC=com"
        );
    }

    #[test]
    fn special_characters_are_escaped() {
        for (value, escaped) in [
            ("Smith, John", "Smith\\, John"),
            ("a+b", "a\\+b"),
            ("x=\"y\";<z>\\", "x=\\\"y\\\"\\;\\<z\\>\\\\"),
            ("#hash", "\\#hash"),
            ("mid#hash", "mid#hash"),
            (" padded ", "\\ padded\\ "),
            ("é ü", "é ü"),
        ] {
            assert_eq!(
                dn(&[(DnType::OrganizationName, "O"), (DnType::CommonName, value)]),
                format!("CN={escaped},O=O"),
                "{value}"
            );
        }
    }

    #[test]
    fn unnamed_attributes_are_dotted_oids_with_hex_values() {
        // emailAddress (1.2.840.113549.1.9.1), UTF8String "a@b" → 0c 03 61 40 62.
        assert_eq!(
            dn(&[
                (DnType::CommonName, "alice"),
                (
                    DnType::CustomDnType(vec![1, 2, 840, 113549, 1, 9, 1]),
                    "a@b"
                ),
            ]),
            "1.2.840.113549.1.9.1=#0c03614062,CN=alice"
        );
    }

    #[test]
    fn multi_valued_rdns_from_openssl() {
        // rcgen writes one attribute per RDN; openssl writes `+` joined ones.
        let dir = TempDir::new("identity-multi");
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        run(
            "openssl",
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-days",
                "1",
                "-multivalue-rdn",
                "-subj",
                "/C=US/O=Example/OU=ops+UID=42/CN=bob",
                "-keyout",
                key.to_str().unwrap(),
                "-out",
                cert.to_str().unwrap(),
            ],
        );
        let der = CertificateDer::from_pem_file(&cert).unwrap();
        assert_eq!(
            subject_dn(&der).unwrap(),
            "CN=bob,OU=ops+UID=42,O=Example,C=US"
        );
    }

    #[test]
    fn garbage_is_none() {
        assert_eq!(subject_dn(b"not a certificate"), None);
        assert_eq!(subject_dn(&[]), None);
    }
}
