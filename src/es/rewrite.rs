//! Rewriting a read request so that it names only the indices the ACL allows (narrowing).
//!
//! The index part of the path is replaced (`/logs-*,secret/_search` → `/logs-1/_search`), or
//! inserted where the API's indexed form has it (`/_search` → `/logs-1/_search`,
//! `/_cat/indices` → `/_cat/indices/logs-1`). Every candidate is classified again and used
//! only if it is the same API naming exactly the narrowed list; otherwise there is no
//! rewrite and the caller denies. The query string is kept as it was. No IO.

use super::index_name::decode_part;
use super::route::classify;
use crate::http::Method;

/// The request target naming exactly `indices`, or `None` if it cannot be written.
pub fn narrow_target(method: Method, target: &str, indices: &[String]) -> Option<String> {
    let (path, query) = match target.find('?') {
        Some(q) => target.split_at(q),
        None => (target, ""),
    };
    let original = classify(method, target).ok()?;
    let list = encode_list(indices);
    let segments: Vec<&str> = path.split('/').collect();
    let mut candidates = Vec::new();
    match original
        .parts
        .iter()
        .find(|p| p.role == super::route::Role::Index)
    {
        Some(part) => {
            for (i, segment) in segments.iter().enumerate().skip(1) {
                if decode_part(segment).is_ok_and(|d| d == part.value) {
                    let mut rewritten = segments.clone();
                    rewritten[i] = &list;
                    candidates.push(rewritten.join("/"));
                }
            }
        }
        None => {
            let trimmed = path.trim_end_matches('/');
            candidates.push(format!("/{list}{trimmed}"));
            candidates.push(format!("{trimmed}/{list}"));
        }
    }
    candidates.into_iter().map(|c| c + query).find(|candidate| {
        classify(method, candidate).is_ok_and(|c| {
            c.api == original.api && c.indices().eq(indices.iter().map(String::as_str))
        })
    })
}

/// Comma-joins the names, percent-encoding everything but unreserved characters and `*`.
fn encode_list(names: &[String]) -> String {
    let mut out = String::new();
    for (i, name) in names.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for byte in name.bytes() {
            if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~' | b'*') {
                out.push(byte as char);
            } else {
                out.push_str(&format!("%{byte:02X}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn narrow(method: Method, target: &str, names: &[&str]) -> Option<String> {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        narrow_target(method, target, &names)
    }

    #[test]
    fn replaces_or_inserts_the_index_part() {
        assert_eq!(
            narrow(
                Method::Post,
                "/logs-*,secret/_search?size=1",
                &["logs-1", "logs-2"]
            )
            .as_deref(),
            Some("/logs-1,logs-2/_search?size=1")
        );
        assert_eq!(
            narrow(Method::Get, "/_search", &["logs-1"]).as_deref(),
            Some("/logs-1/_search")
        );
        assert_eq!(
            narrow(Method::Get, "/_cat/indices?format=json", &["logs-*"]).as_deref(),
            Some("/_cat/indices/logs-*?format=json")
        );
        assert_eq!(
            narrow(Method::Get, "/_cluster/health", &["a"]).as_deref(),
            Some("/_cluster/health/a")
        );
        assert_eq!(
            narrow(Method::Get, "/*/_count", &["<logs-{now/d}>"]).as_deref(),
            Some("/%3Clogs-%7Bnow%2Fd%7D%3E/_count")
        );
        assert_eq!(
            narrow(Method::Post, "/_all/_refresh", &["x"]).as_deref(),
            Some("/x/_refresh")
        );
    }

    #[test]
    fn refuses_what_it_cannot_express() {
        // APIs without an index form cannot be narrowed.
        assert_eq!(narrow(Method::Get, "/", &["x"]), None);
        assert_eq!(narrow(Method::Get, "/_nodes/stats", &["x"]), None);
    }
}
