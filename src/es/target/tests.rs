use super::*;
use crate::es::route::classify;
use crate::http::Method;

fn names(t: &Targets<'_>) -> Vec<(String, Access)> {
    t.indices
        .iter()
        .map(|i| (i.name.to_string(), i.access))
        .collect()
}

#[test]
fn path_targets() {
    let c = classify(Method::Post, "/logs-1,logs-2/_search").unwrap();
    let t = Targets::from_path(&c);
    assert_eq!(
        names(&t),
        [
            ("logs-1".into(), Access::Read),
            ("logs-2".into(), Access::Read)
        ]
    );
    assert!(t.narrowable && !t.all_indices);

    let c = classify(Method::Get, "/_search").unwrap();
    assert!(Targets::from_path(&c).all_indices);

    let c = classify(Method::Put, "/logs-1").unwrap();
    let t = Targets::from_path(&c);
    assert_eq!(names(&t), [("logs-1".into(), Access::Write)]);
    assert!(!t.narrowable);

    let c = classify(Method::Get, "/").unwrap();
    assert!(!Targets::from_path(&c).involves_indices());
    // Cluster health without an index covers all of them (and can be narrowed).
    let c = classify(Method::Get, "/_cluster/health").unwrap();
    let t = Targets::from_path(&c);
    assert!(t.all_indices && t.narrowable);

    let c = classify(Method::Put, "/_snapshot/repo1/snap1").unwrap();
    let t = Targets::from_path(&c);
    assert_eq!((t.repositories.len(), t.snapshots.len()), (1, 1));
}

#[test]
fn body_targets() {
    let c = classify(Method::Post, "/logstash-x/_bulk").unwrap();
    let mut t = Targets::from_path(&c);
    t.add_body(&c, b"{\"index\":{}}\n{}\n{\"delete\":{\"_index\":\"other\",\"_id\":\"1\"}}\n{\"index\":{}}\n{}\n").unwrap();
    assert_eq!(
        names(&t),
        [
            ("logstash-x".into(), Access::Write),
            ("other".into(), Access::Write)
        ]
    );
    assert_eq!(t.bulk_ops, [BulkOp::Index, BulkOp::Delete]);

    let c = classify(Method::Post, "/_msearch").unwrap();
    let mut t = Targets::from_path(&c);
    t.add_body(&c, b"{\"index\":\"a\"}\n{}\n{}\n{}\n").unwrap();
    assert_eq!(names(&t), [("a".into(), Access::Read)]);
    assert!(t.all_indices, "the second search has no index: all indices");

    let c = classify(Method::Post, "/_reindex").unwrap();
    let mut t = Targets::from_path(&c);
    t.add_body(
        &c,
        b"{\"source\":{\"index\":\"src\"},\"dest\":{\"index\":\"dst\"}}",
    )
    .unwrap();
    assert_eq!(
        names(&t),
        [("src".into(), Access::Read), ("dst".into(), Access::Write)]
    );

    let c = classify(Method::Post, "/_aliases").unwrap();
    let mut t = Targets::from_path(&c);
    t.add_body(
        &c,
        b"{\"actions\":[{\"add\":{\"index\":\"i\",\"alias\":\"a\"}}]}",
    )
    .unwrap();
    assert_eq!(
        names(&t),
        [("i".into(), Access::Write), ("a".into(), Access::Write)]
    );

    let c = classify(Method::Put, "/_index_template/t").unwrap();
    let mut t = Targets::from_path(&c);
    t.add_body(&c, b"{\"index_patterns\":[\"x-*\"]}").unwrap();
    assert_eq!(names(&t), [("x-*".into(), Access::Write)]);

    let c = classify(Method::Put, "/team-1").unwrap();
    let mut t = Targets::from_path(&c);
    t.add_body(
        &c,
        b"{\"aliases\":{\"other-logs\":{\"is_write_index\":true}}}",
    )
    .unwrap();
    assert_eq!(
        names(&t),
        [
            ("team-1".into(), Access::Write),
            ("other-logs".into(), Access::Write)
        ]
    );

    let c = classify(Method::Post, "/_snapshot/r/s/_restore").unwrap();
    let mut t = Targets::from_path(&c);
    t.add_body(&c, b"{\"indices\":\"a,b\"}").unwrap();
    assert_eq!(
        names(&t),
        [("a".into(), Access::Write), ("b".into(), Access::Write)]
    );
    let mut t = Targets::from_path(&c);
    t.add_body(
        &c,
        b"{\"indices\":[\"a\"],\"rename_pattern\":\"(.+)\",\"rename_replacement\":\"x$1\"}",
    )
    .unwrap();
    assert!(t.opaque_indices);
    let mut t = Targets::from_path(&c);
    t.add_body(&c, b"{}").unwrap();
    assert!(t.all_indices && !t.narrowable);

    let c = classify(Method::Put, "/_snapshot/r/s").unwrap();
    let mut t = Targets::from_path(&c);
    t.add_body(&c, b"{\"indices\":[\"secret\"]}").unwrap();
    assert_eq!(names(&t), [("secret".into(), Access::Read)]);
}

#[test]
fn pipelines_named_by_path_query_and_bulk_items() {
    let named = |t: &Targets<'_>| -> Vec<String> {
        t.pipelines.named.iter().map(|n| n.to_string()).collect()
    };
    let c = classify(Method::Post, "/logs/_bulk?pipeline=q").unwrap();
    let mut t = Targets::from_path(&c);
    assert!(t.pipelines.documents);
    t.add_body(
        &c,
        b"{\"index\":{\"pipeline\":\"a\"}}\n{}\n{\"index\":{\"pipeline\":\"q\"}}\n{}\n\
          {\"create\":{\"pipeline\":\"a\"}}\n{}\n{\"index\":{\"pipeline\":\"_none\"}}\n{}\n\
          {\"index\":{}}\n{}\n",
    )
    .unwrap();
    assert_eq!(named(&t), ["q", "a"], "each once, `_none` left out");
    assert!(!t.opaque_indices);

    let c = classify(Method::Put, "/logs/_doc/1?pipeline=p").unwrap();
    let t = Targets::from_path(&c);
    assert_eq!(named(&t), ["p"]);
    assert!(t.pipelines.documents);
    // Reads run no pipeline, whatever their query says.
    let c = classify(Method::Get, "/logs/_search?pipeline=p").unwrap();
    let t = Targets::from_path(&c);
    assert!(named(&t).is_empty() && !t.pipelines.documents);
    // A parameter that cannot be read: the indices rule cannot be satisfied.
    let c = classify(Method::Put, "/logs/_doc/1?pipeline=a&pipeline=b").unwrap();
    assert!(Targets::from_path(&c).opaque_indices);
}

#[test]
fn body_names_are_kept_once_in_first_seen_order() {
    let c = classify(Method::Post, "/_bulk").unwrap();
    let mut t = Targets::from_path(&c);
    let bulk = b"{\"index\":{\"_index\":\"b\"}}\n{}\n{\"delete\":{\"_index\":\"a\"}}\n\
        {\"index\":{\"_index\":\"a\"}}\n{}\n{\"index\":{\"_index\":\"b\"}}\n{}\n\
        {\"delete\":{\"_index\":\"a\"}}\n";
    t.add_body(&c, bulk).unwrap();
    // One entry per distinct (index, operation) pair.
    let w = |n: &str| (n.to_string(), Access::Write);
    assert_eq!(names(&t), [w("b"), w("a"), w("a")]);
    assert_eq!(t.bulk_ops, [BulkOp::Index, BulkOp::Delete]);

    let c = classify(Method::Post, "/d/_msearch").unwrap();
    let mut t = Targets::from_path(&c);
    t.add_body(
        &c,
        b"{\"index\":\"c,a\"}\n{}\n{}\n{}\n{\"index\":[\"a\",\"d\"]}\n{}\n",
    )
    .unwrap();
    let r = |n: &str| (n.to_string(), Access::Read);
    assert_eq!(names(&t), [r("c"), r("a"), r("d")]);

    let c = classify(Method::Post, "/d/_mget").unwrap();
    let mut t = Targets::from_path(&c);
    t.add_body(
        &c,
        b"{\"docs\":[{\"_index\":\"b\",\"_id\":\"1\"},{\"_id\":\"2\"},{\"_index\":\"b\",\"_id\":\"3\"}],\"ids\":[\"4\"]}",
    )
    .unwrap();
    assert_eq!(names(&t), [r("b"), r("d")]);
}

// Issue 9: every per-request computation is linear (or n log n) in the size of the request.
// A body that names many distinct indices once cost O(n²) here (a `_bulk` of 80k names: ~19 s
// of a core). The check below never compares a time with a constant, which a shared machine
// would break: each step has 4x the items of the step before and may take at most 8x its time
// (linear work takes ~4x, quadratic ~16x). It stops at the first step that fails, so quadratic
// code fails at 25k items, in seconds, without ever reaching 100k.

/// Items of each step; the last bulk body is about 5 MB.
const STEPS: [usize; 3] = [6_250, 25_000, 100_000];
/// Allowed growth of time from one step to the next (4x the items).
const MAX_STEP_RATIO: u32 = 8;
/// Runs per step, against noise from other work on the machine.
const ATTEMPTS: usize = 3;

fn allow_logs() -> crate::acl::Acl {
    let text =
        "readonlyrest:\n  access_control_rules:\n  - name: logs\n    indices: [\"logs-*\"]\n";
    let root = crate::config::yaml::parse(text).unwrap();
    let mut d = crate::config::Diagnostics::new(std::path::Path::new("linear.yml"));
    let acl = crate::acl::Acl::compile(root.get("readonlyrest").unwrap(), &mut d);
    d.finish(acl).unwrap()
}

/// What `proxy::decide` does once the body is read: targets from path and body, then the ACL
/// (an `indices` rule that allows every name). Returns the index entries checked.
fn decide(acl: &crate::acl::Acl, method: Method, target: &str, body: &[u8]) -> usize {
    use crate::acl::{es_rules::EsView, Decision, NoCache, Request};
    let raw = format!("{} {target} HTTP/1.1\r\nHost: es\r\n\r\n", method.as_str());
    let head = crate::http::request::parse_request_head(raw.as_bytes(), 16384)
        .unwrap()
        .unwrap();
    let c = classify(method, target).unwrap();
    let mut t = Targets::from_path(&c);
    t.add_body(&c, body).unwrap();
    let local = std::net::IpAddr::from([127, 0, 0, 1]);
    let len = Some(body.len() as u64);
    let mut request = Request::new(
        method,
        target,
        raw.as_bytes(),
        &head.headers,
        local,
        local,
        len,
    )
    .unwrap();
    let metadata = crate::es::metadata::ClusterMetadata::default();
    request.es = Some(EsView {
        action: c.action,
        unknown: c.is_unknown(),
        targets: Some(&t),
        metadata: &metadata,
    });
    assert!(matches!(
        acl.evaluate(&request, &NoCache),
        Decision::Allow { .. }
    ));
    t.indices.len()
}

/// The time `job` takes on this thread: the CPU time the scheduler accounts to it where Linux
/// reports it (`/proc/thread-self/schedstat`, in ns), which does not grow while other work
/// holds the cores; the elapsed time elsewhere.
fn time_of(job: impl FnOnce()) -> std::time::Duration {
    let cpu = || {
        let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
        let ns = text.split_whitespace().next()?.parse().ok()?;
        Some(std::time::Duration::from_nanos(ns))
    };
    let (cpu_start, start) = (cpu(), std::time::Instant::now());
    job();
    match (cpu_start, cpu()) {
        (Some(from), Some(to)) if to > from => to - from,
        _ => start.elapsed(),
    }
}

/// Decides a body of every size in `STEPS` (`body(n)` names n distinct indices) and fails
/// when a step takes more than `MAX_STEP_RATIO` times the one before.
fn assert_linear(what: &str, method: Method, target: &str, body: impl Fn(usize) -> String) {
    let acl = allow_logs();
    let mut previous: Option<std::time::Duration> = None;
    for items in STEPS {
        let body = body(items);
        let run = || time_of(|| assert_eq!(decide(&acl, method, target, body.as_bytes()), items));
        let time = match previous {
            // The first step is the yardstick: its best time.
            None => (0..ATTEMPTS).map(|_| run()).min().unwrap_or_default(),
            // Later steps must stay within their limit once.
            Some(previous) => {
                let limit = previous * MAX_STEP_RATIO;
                let mut over = Vec::new();
                loop {
                    let time = run();
                    if time <= limit {
                        break time;
                    }
                    over.push(time);
                    assert!(
                        over.len() < ATTEMPTS,
                        "{what}: {items} items took {over:?}, more than {MAX_STEP_RATIO}x the \
                         {previous:?} of {} items: not linear",
                        items / 4
                    );
                }
            }
        };
        previous = Some(time);
    }
}

/// `logs-app-0000000`, `logs-app-0000001`, ...: the i-th distinct index name.
fn logs(i: usize) -> String {
    format!("logs-app-{i:07}")
}

#[test]
fn bulk_decision_is_linear_in_distinct_indices() {
    // About 51 bytes an item: the last step is a 5 MB body naming 100k distinct indices.
    assert_linear("_bulk", Method::Post, "/_bulk", |n| {
        (0..n)
            .map(|i| {
                format!(
                    "{{\"index\":{{\"_index\":\"{}\"}}}}\n{{\"n\":{i}}}\n",
                    logs(i)
                )
            })
            .collect()
    });
}

#[test]
fn msearch_decision_is_linear_in_distinct_indices() {
    assert_linear("_msearch", Method::Post, "/_msearch", |n| {
        (0..n)
            .map(|i| format!("{{\"index\":\"{}\"}}\n{{}}\n", logs(i)))
            .collect()
    });
}

#[test]
fn mget_decision_is_linear_in_distinct_indices() {
    // One document a line: the line of every document is looked up.
    assert_linear("_mget", Method::Post, "/_mget", |n| {
        let docs: Vec<String> = (0..n)
            .map(|i| format!("{{\"_index\":\"{}\",\"_id\":\"{i}\"}}", logs(i)))
            .collect();
        format!("{{\"docs\":[\n{}\n]}}", docs.join(",\n"))
    });
}
