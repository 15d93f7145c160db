//! Search result entries read without trusting the server, and the DN and filter text the
//! service builds from user input.
//!
//! Must not: panic on any reply (ldap3's own `SearchEntry::construct` panics on a
//! malformed entry, so entries are read here with `Option`s), or put user input into a
//! filter or a DN unescaped (RFC 4515 for filters, RFC 4514 for DNs).

use ldap3::asn1::StructureTag;
use ldap3::{dn_escape, ldap_escape};

/// One entry of a search result: its DN and its text attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Entry {
    pub dn: String,
    attributes: Vec<(String, Vec<String>)>,
}

impl Entry {
    /// The values of `name` (attribute names compare without case, as LDAP's do).
    pub fn values(&self, name: &str) -> &[String] {
        self.attributes
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
            .unwrap_or(&[])
    }

    pub fn first(&self, name: &str) -> Option<&str> {
        self.values(name).first().map(String::as_str)
    }
}

/// Reads a SearchResultEntry (RFC 4511 §4.5.2: `[APPLICATION 4] SEQUENCE { objectName,
/// attributes }`); `None` when it is malformed. Values that are not UTF-8 are skipped
/// (group ids and DNs are text).
pub(super) fn parse(tag: StructureTag) -> Option<Entry> {
    let mut parts = tag.match_id(4)?.expect_constructed()?.into_iter();
    let dn = String::from_utf8(parts.next()?.expect_primitive()?).ok()?;
    let mut attributes = Vec::new();
    for attribute in parts.next()?.expect_constructed()? {
        let mut attribute = attribute.expect_constructed()?.into_iter();
        let name = String::from_utf8(attribute.next()?.expect_primitive()?).ok()?;
        let values = attribute
            .next()?
            .expect_constructed()?
            .into_iter()
            .filter_map(|value| String::from_utf8(value.expect_primitive()?).ok())
            .collect();
        attributes.push((name, values));
    }
    Some(Entry { dn, attributes })
}

/// `(<attribute>=<value>)` with `value` escaped (RFC 4515 §3).
pub(super) fn equality(attribute: &str, value: &str) -> String {
    format!("({attribute}={})", ldap_escape(value))
}

/// `(&<a><b>)`, or `a` alone when `b` is empty.
pub(super) fn and(a: &str, b: &str) -> String {
    if b.is_empty() {
        a.to_string()
    } else {
        format!("(&{a}{b})")
    }
}

/// The DN of a user when `skip_user_search` is on: `<attribute>=<user>,<base>`, the
/// user escaped as an RDN value (RFC 4514 §2.4).
pub(super) fn user_dn(attribute: &str, user: &str, base: &str) -> String {
    if base.is_empty() {
        format!("{attribute}={}", dn_escape(user))
    } else {
        format!("{attribute}={},{base}", dn_escape(user))
    }
}

/// The first RDN's attribute type and value, unescaped (RFC 4514 §3); a multi-valued RDN
/// gives its first part. `None` when the DN does not start with `type=value`.
pub(super) fn first_rdn(dn: &str) -> Option<(&str, String)> {
    let (attribute, rest) = dn.split_once('=')?;
    let attribute = attribute.trim();
    if attribute.is_empty() {
        return None;
    }
    let mut value = Vec::new();
    let mut bytes = rest.trim_start().bytes();
    while let Some(b) = bytes.next() {
        match b {
            b',' | b'+' => break,
            b'\\' => {
                let first = bytes.next()?;
                match hex(first) {
                    Some(high) => value.push(high << 4 | hex(bytes.next()?)?),
                    None => value.push(first),
                }
            }
            _ => value.push(b),
        }
    }
    let value = String::from_utf8(value).ok()?;
    Some((attribute, value.trim_end().to_string()))
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Whether `dn` lies under `base` (RDNs compared without case and without the spaces
/// some servers put after the commas). RDNs are split at unescaped commas only: the entry
/// `cn=admins\,ou=Groups,dc=x` is directly under `dc=x`, not under `ou=Groups,dc=x`.
pub(super) fn is_under(dn: &str, base: &str) -> bool {
    let (dn, base) = (rdns(dn), rdns(base));
    base.is_empty() || (dn.len() >= base.len() && dn[dn.len() - base.len()..] == base[..])
}

/// The RDNs of `dn`, trimmed and in lower case.
fn rdns(dn: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut escaped = false;
    for c in dn.chars() {
        match c {
            ',' if !escaped => out.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
        escaped = c == '\\' && !escaped;
    }
    out.push(current);
    out.iter()
        .map(|rdn| rdn.trim().to_ascii_lowercase())
        .filter(|rdn| !rdn.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_escape_user_input() {
        assert_eq!(equality("uid", "*"), r"(uid=\2a)");
        assert_eq!(
            equality("uid", "cartman)(uid=*"),
            r"(uid=cartman\29\28uid=\2a)"
        );
        assert_eq!(equality("uid", "a\\b\0"), r"(uid=a\5cb\00)");
        assert_eq!(and("(a=1)", "(cn=*)"), "(&(a=1)(cn=*))");
        assert_eq!(and("(a=1)", ""), "(a=1)");
    }

    #[test]
    fn user_dns_escape_the_rdn_value() {
        assert_eq!(
            user_dn("uid", "a,b=c+d", "ou=People,dc=x"),
            r"uid=a\2cb\3dc\2bd,ou=People,dc=x"
        );
        assert_eq!(user_dn("uid", " x ", ""), r"uid=\20x\20");
    }

    #[test]
    fn the_first_rdn_is_unescaped() {
        assert_eq!(
            first_rdn("cn=group1,ou=Groups,dc=example,dc=com"),
            Some(("cn", "group1".to_string()))
        );
        assert_eq!(
            first_rdn(r"CN=Smith\, John,OU=x"),
            Some(("CN", "Smith, John".to_string()))
        );
        assert_eq!(
            first_rdn(r"cn=a\2cb+uid=z,dc=x"),
            Some(("cn", "a,b".to_string()))
        );
        assert_eq!(first_rdn("no rdn here"), None);
        assert_eq!(first_rdn(r"cn=bad\"), None);
        assert_eq!(first_rdn(r"cn=bad\4"), None);
    }

    #[test]
    fn under_compares_without_case_and_spaces() {
        assert!(is_under("cn=g,ou=Groups,dc=x", "ou=groups, dc=X"));
        assert!(!is_under("cn=g,ou=Other,dc=x", "ou=Groups,dc=x"));
        assert!(!is_under("cn=g,xou=Groups,dc=x", "ou=Groups,dc=x"));
        // An escaped comma is part of its RDN: this entry is directly under dc=x.
        assert!(!is_under(r"cn=admins\,ou=Groups,dc=x", "ou=Groups,dc=x"));
        assert!(is_under(r"cn=a\,b,ou=Groups,dc=x", "ou=Groups,dc=x"));
        assert!(is_under("dc=x", ""));
    }
}
