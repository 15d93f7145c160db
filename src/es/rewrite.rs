//! Rewriting a read request so that it names only the indices the ACL allows (narrowing).
//!
//! The index part of the path is replaced (`/logs-*,secret/_search` → `/logs-1/_search`), or
//! inserted where the API's indexed form has it (`/_search` → `/logs-1/_search`,
//! `/_cat/indices` → `/_cat/indices/logs-1`). Every candidate is classified again and used
//! only if it is the same API naming exactly the narrowed list; otherwise there is no
//! rewrite and the caller denies. The query string is kept as it was.
//!
//! `_msearch` and `_mget` bodies are rewritten per search or document: a search's header
//! gets the narrowed `index` list (or a pattern that matches nothing), a document of an index
//! that is not granted is asked of an index that does not exist (so its entry in the answer
//! is "not found"). Everything else in the body is kept as sent. No IO.

use super::body::BodyError;
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

/// An `_msearch` body (checked by `body::scan_msearch`) with the header of search `i`
/// naming `lists[i]` where that is `Some` (`nothing` when the list is empty).
pub fn rewrite_msearch(
    body: &[u8],
    lists: &[Option<Vec<String>>],
    nothing: &str,
) -> Result<Vec<u8>, BodyError> {
    let mut out = Vec::with_capacity(body.len() + 64);
    // Header and source lines alternate strictly (the scanner refused anything else).
    let mut lines = body.split_inclusive(|&b| b == b'\n');
    let mut search = 0usize;
    while let Some(header) = lines.next() {
        match lists.get(search).and_then(Option::as_ref) {
            None => out.extend_from_slice(header),
            Some(list) => {
                let text = header.strip_suffix(b"\n").unwrap_or(header);
                let mut object = if text.iter().all(u8::is_ascii_whitespace) {
                    serde_json::Map::new()
                } else {
                    match serde_json::from_slice(text) {
                        Ok(serde_json::Value::Object(object)) => object,
                        _ => return Err(BodyError::UnexpectedJson { line: 1 }),
                    }
                };
                object.remove("indices");
                let joined = if list.is_empty() {
                    nothing.to_string()
                } else {
                    list.join(",")
                };
                object.insert("index".into(), serde_json::Value::String(joined));
                let json = serde_json::to_vec(&object)
                    .map_err(|_| BodyError::UnexpectedJson { line: 1 })?;
                out.extend_from_slice(&json);
                out.push(b'\n');
            }
        }
        if let Some(source) = lines.next() {
            out.extend_from_slice(source);
        }
        search += 1;
    }
    Ok(out)
}

/// The largest `_mget` body narrowed per document (larger ones that need it are refused).
pub const MAX_REWRITTEN_MGET_BYTES: usize = 8 << 20;

/// An `_mget` body (checked by `body::scan_mget`) in which document `i` (in body order,
/// `docs` and `ids` entries alike) is asked of `missing` where `denied[i]`. `ids` entries
/// become `docs` entries, in the same order, so that each can name its own index.
pub fn rewrite_mget(body: &[u8], denied: &[bool], missing: &str) -> Result<Vec<u8>, BodyError> {
    let malformed = BodyError::UnexpectedJson { line: 1 };
    // The body is rewritten through a JSON tree (several times its size in memory): only
    // bodies of a size `_mget` is used at are (a larger one to narrow is refused).
    if body.len() > MAX_REWRITTEN_MGET_BYTES {
        return Err(malformed);
    }
    let Ok(serde_json::Value::Object(object)) = serde_json::from_slice(body) else {
        return Err(malformed);
    };
    let mut docs = Vec::new();
    let mut number = 0usize;
    for (key, value) in object {
        let serde_json::Value::Array(items) = value else {
            return Err(malformed);
        };
        for item in items {
            let mut doc = match (key.as_str(), item) {
                ("docs", serde_json::Value::Object(doc)) => doc,
                ("ids", id) => {
                    let mut doc = serde_json::Map::new();
                    doc.insert("_id".into(), id);
                    doc
                }
                _ => return Err(malformed),
            };
            if denied.get(number).copied().unwrap_or(true) {
                doc.insert("_index".into(), serde_json::Value::String(missing.into()));
            }
            docs.push(serde_json::Value::Object(doc));
            number += 1;
        }
    }
    let mut rewritten = serde_json::Map::new();
    rewritten.insert("docs".into(), serde_json::Value::Array(docs));
    serde_json::to_vec(&rewritten).map_err(|_| malformed)
}

/// A template listing's target naming exactly the templates `names` (the `{name}` part
/// replaced or appended), or `None` if it cannot be written.
pub fn narrow_templates(method: Method, target: &str, names: &[String]) -> Option<String> {
    let (path, query) = match target.find('?') {
        Some(q) => target.split_at(q),
        None => (target, ""),
    };
    let original = classify(method, target).ok()?;
    let list = encode_list(names);
    let candidate = match original.parts.get("name") {
        Some(_) => {
            let (base, _) = path.trim_end_matches('/').rsplit_once('/')?;
            format!("{base}/{list}{query}")
        }
        None => format!("{}/{list}{query}", path.trim_end_matches('/')),
    };
    let same = {
        let rewritten = classify(method, &candidate).ok()?;
        let same_names = rewritten
            .parts
            .get("name")
            .is_some_and(|part| part.value.split(',').eq(names.iter().map(String::as_str)));
        rewritten.api == original.api && same_names
    };
    same.then_some(candidate)
}

/// `target` without the query parameters named `names` (ES query decoding of the keys).
pub fn without_params(target: &str, names: &[&str]) -> String {
    let Some((path, query)) = target.split_once('?') else {
        return target.to_string();
    };
    let kept: Vec<&str> = query
        .split(['&', ';'])
        .filter(|pair| {
            let key = pair.split('=').next().unwrap_or_default();
            !names.iter().any(|name| {
                super::route::query_param(key.as_bytes(), name).is_ok_and(|v| v.is_some())
            })
        })
        .collect();
    if kept.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", kept.join("&"))
    }
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
    fn msearch_headers_name_their_narrowed_lists() {
        let body = b"{\"index\":\"logs-1,secret\",\"preference\":\"x\"}\n{\"query\":{}}\n\n{}\n{\"indices\":[\"secret\"]}\n{\"size\":1}\n";
        let lists = [Some(vec!["logs-1".to_string()]), None, Some(Vec::new())];
        let out = rewrite_msearch(body, &lists, ".none-*").unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"index\":\"logs-1\",\"preference\":\"x\"}\n{\"query\":{}}\n\n{}\n{\"index\":\".none-*\"}\n{\"size\":1}\n"
        );
    }

    #[test]
    fn mget_documents_of_indices_not_granted_ask_a_missing_index() {
        let body = br#"{"ids":["1","2"],"docs":[{"_index":"logs-1","_id":"3"},{"_index":"secret","_id":"4","routing":"r"}]}"#;
        let out = rewrite_mget(body, &[true, true, false, true], ".none").unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"docs":[{"_id":"1","_index":".none"},{"_id":"2","_index":".none"},{"_index":"logs-1","_id":"3"},{"_index":".none","_id":"4","routing":"r"}]}"#
        );
    }

    #[test]
    fn template_listings_name_their_templates() {
        let names = vec!["logs".to_string(), "logs-2".to_string()];
        assert_eq!(
            narrow_templates(Method::Get, "/_index_template?pretty", &names).as_deref(),
            Some("/_index_template/logs,logs-2?pretty")
        );
        assert_eq!(
            narrow_templates(Method::Get, "/_template/l*", &names).as_deref(),
            Some("/_template/logs,logs-2")
        );
        assert_eq!(
            narrow_templates(Method::Get, "/_cat/templates", &names).as_deref(),
            Some("/_cat/templates/logs,logs-2")
        );
    }

    #[test]
    fn drops_query_parameters() {
        assert_eq!(
            without_params(
                "/_msearch?sour%63e=x&a=1&source_content_type=y",
                &["source", "source_content_type"]
            ),
            "/_msearch?a=1"
        );
        assert_eq!(
            without_params("/_msearch?source=x", &["source"]),
            "/_msearch"
        );
        assert_eq!(without_params("/_msearch", &["source"]), "/_msearch");
    }

    #[test]
    fn refuses_what_it_cannot_express() {
        // APIs without an index form cannot be narrowed.
        assert_eq!(narrow(Method::Get, "/", &["x"]), None);
        assert_eq!(narrow(Method::Get, "/_nodes/stats", &["x"]), None);
    }
}
