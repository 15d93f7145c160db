use crate::acl::test_support::compile;
use crate::acl::{Decision, NoCache, Request};
use crate::es::metadata::ClusterMetadata;
use crate::es::route::classify;
use crate::es::target::Targets;
use crate::http::request::parse_request_head;
use crate::http::Method;

use super::EsView;

/// The indices a `GET {path}` by a reader of `logs-*` is narrowed to; `None` when it passes
/// as written, `Err` with the decision when it is not allowed.
fn narrowed(path: &str) -> Result<Option<Vec<String>>, String> {
    let acl = compile(
        "readonlyrest:\n  access_control_rules:\n  - name: reader\n    indices: [\"logs-*\"]\n",
    );
    let metadata = ClusterMetadata::from_resolve_response(
        br#"{"indices":[{"name":"logs-1"},{"name":"logs-2"},{"name":"secret"}]}"#,
    )
    .unwrap();
    let raw = format!("GET {path} HTTP/1.1\r\nHost: es\r\n\r\n");
    let head = parse_request_head(raw.as_bytes(), 1 << 20)
        .unwrap()
        .unwrap();
    let c = classify(Method::Get, path).unwrap();
    let targets = Targets::from_path(&c);
    let local = std::net::IpAddr::from([127, 0, 0, 1]);
    let mut request = Request::new(
        Method::Get,
        path,
        raw.as_bytes(),
        &head.headers,
        local,
        local,
        Some(0),
    )
    .unwrap();
    request.es = Some(EsView {
        action: c.action,
        unknown: c.is_unknown(),
        targets: Some(&targets),
        metadata: &metadata,
    });
    match acl.evaluate(&request, &NoCache) {
        Decision::Allow { narrowed, .. } => Ok(narrowed),
        Decision::Forbid { .. } => Err("Forbid".into()),
        other => Err(format!("{other:?}")),
    }
}

fn list(names: &[&str]) -> Result<Option<Vec<String>>, String> {
    Ok(Some(names.iter().map(|n| n.to_string()).collect()))
}

#[test]
fn narrowed_lists_keep_first_occurrences() {
    assert_eq!(
        narrowed("/*,*,logs-*,*/_search"),
        list(&["logs-1", "logs-2", "logs-*"])
    );
    assert_eq!(
        narrowed("/logs-2,secret,logs-2,*/_search"),
        list(&["logs-2", "logs-1"])
    );
    assert_eq!(narrowed("/logs-*,logs-1/_search"), Ok(None));
}

#[test]
fn exclusions_apply_to_written_and_expanded_names() {
    // Literal and wildcard exclusions; without a wildcard left they leave the list.
    assert_eq!(narrowed("/logs-1,*,-logs-1/_search"), list(&["logs-2"]));
    assert_eq!(narrowed("/*,-l*2,-x*/_search"), list(&["logs-1"]));
    // With a wildcard left they stay for the node to apply.
    assert_eq!(
        narrowed("/logs-*,secret,-logs-2,-l*1/_search"),
        list(&["logs-*", "-logs-2", "-l*1"])
    );
    // Only exclusions left: nothing allowed is named.
    assert_eq!(
        narrowed("/secret,*,-logs-*/_search"),
        Err("IndexNotFound".into())
    );
}

/// Wildcard exclusions times written names, both from the path, are bounded
/// (`MAX_EXCLUSION_WORK`): past it the block does not match instead of costing O(path²).
#[test]
fn exclusion_work_is_bounded() {
    let path = |names: usize, exclusions: usize| {
        let mut path = String::from("/logs-*,secret");
        for i in 0..names {
            path.push_str(&format!(",logs-{i:04}"));
        }
        for i in 0..exclusions {
            path.push_str(&format!(",-*{i:04}*z"));
        }
        path + "/_search"
    };
    // 10 names (90 bytes) x 10 exclusions (80 bytes): narrowed, every exclusion kept.
    let small = narrowed(&path(10, 10)).unwrap().unwrap();
    assert_eq!(small.len(), 1 + 10 + 10);
    // 1000 x 1000 (9 KB x 8 KB): refused before any of the 10^6 pairs is matched.
    let big = narrowed(&path(1000, 1000)).map(|list| list.map(|names| names.len()));
    assert_eq!(big, Err("Forbid".into()), "(the number of names kept)");
}
