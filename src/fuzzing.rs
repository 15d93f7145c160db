//! Entry points for the fuzz targets in `fuzz/` and the corpus replay in `tests/`.
//!
//! Each takes arbitrary bytes and must never panic: these are the parsers that see what
//! clients and operators send.

pub(crate) mod oracle;
mod whole_path;

pub use whole_path::whole_path;

use crate::config::{gateway, yaml, Diagnostics};
use crate::http::chunked::ChunkedDecoder;
use crate::http::request::{parse_request_head, write_upstream_head};

/// Parses a request head and, if it parses, writes the head that would go upstream; a
/// refused one is read as the audit trail reads it.
pub fn request_head(data: &[u8]) {
    match parse_request_head(data, 16 * 1024) {
        Ok(Some(head)) => {
            let mut out = Vec::new();
            write_upstream_head(&mut out, data, &head, None, "127.0.0.1", "x", None);
            assert!(out.ends_with(b"\r\n\r\n"));
        }
        // A refused head is still read for the audit trail.
        Err(_) => {
            crate::proxy::completion::Seen::capture_refused(data, "fuzz".into());
        }
        Ok(None) => {}
    }
}

/// Decodes a chunked body whole and split in two halves; both ways must agree exactly.
pub fn chunked(data: &[u8]) {
    let mut whole = Vec::new();
    let first = ChunkedDecoder::new().decode(data, |d| whole.extend_from_slice(d));
    let mut decoder = ChunkedDecoder::new();
    let mut parts = Vec::new();
    let (head, tail) = data.split_at(data.len() / 2);
    let split = decoder
        .decode(head, |d| parts.extend_from_slice(d))
        .and_then(|a| match a.done {
            true => Ok(a.consumed),
            false => decoder
                .decode(tail, |d| parts.extend_from_slice(d))
                .map(|b| a.consumed + b.consumed),
        });
    match (first, split) {
        (Ok(first), Ok(consumed)) => {
            assert_eq!((first.consumed, first.done), (consumed, decoder.is_done()));
            assert_eq!(whole, parts);
        }
        (Err(a), Err(b)) => assert_eq!(a, b),
        (first, split) => panic!("whole {first:?} and split {split:?} disagree"),
    }
}

/// Parses text as YAML and decodes a `gateway:` section and compiles a `readonlyrest:` section
/// (ACL and audit settings) from it.
pub fn config_yaml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(root) = yaml::parse(text) {
        let mut d = Diagnostics::new(std::path::Path::new("fuzz.yml"));
        if let Some(section) = root.get("gateway") {
            gateway::decode(section, std::path::Path::new("."), &mut d);
        }
        // The policy, the audit settings and the blocks' audit keys.
        if let Some(section) = root.get("readonlyrest") {
            crate::config::policy::compile_with_audit(section, &mut d);
        }
    }
}

/// An Elasticsearch request: the first byte picks the method, then the target up to the
/// first newline, then the body. Classifies, extracts the indices from path and body, and
/// narrows the target to what it named.
pub fn es_request(data: &[u8]) {
    use crate::es::{rewrite, route, target::Targets};
    use crate::http::Method;
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let methods = [
        Method::Get,
        Method::Post,
        Method::Put,
        Method::Delete,
        Method::Head,
    ];
    let method = methods[usize::from(first) % methods.len()];
    let (target, body) = match memchr::memchr(b'\n', rest) {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (rest, &[][..]),
    };
    let Ok(target) = std::str::from_utf8(target) else {
        return;
    };
    let Ok(classified) = route::classify(method, target) else {
        return;
    };
    let mut targets = Targets::from_path(&classified);
    let _ = targets.add_body(&classified, body);
    let names: Vec<String> = targets
        .indices
        .iter()
        .map(|i| i.name.to_string())
        .take(4)
        .collect();
    if !names.is_empty() {
        if let Some(narrowed) = rewrite::narrow_target(method, target, &names) {
            assert!(route::classify(method, &narrowed).is_ok(), "{narrowed}");
        }
    }
}
