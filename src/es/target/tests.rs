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

/// A terms query that reads `index` through a lookup.
fn lookup_query(index: &str) -> String {
    format!(r#"{{"terms":{{"f":{{"index":"{index}","id":"1","path":"p"}}}}}}"#)
}

fn lookup_body(index: &str) -> String {
    format!(r#"{{"query":{}}}"#, lookup_query(index))
}

#[test]
fn search_bodies_add_lookups() {
    let lookup = |n: &str| (n.to_string(), Access::Lookup);
    let read = |n: &str| (n.to_string(), Access::Read);

    // The path stays a narrowable read; the lookup is added as written.
    let c = classify(Method::Post, "/logs-1/_search").unwrap();
    let mut t = Targets::from_path(&c);
    assert!(t.narrowable && needs_body(&c));
    t.add_body(&c, lookup_body("secret-1").as_bytes()).unwrap();
    assert_eq!(names(&t), [read("logs-1"), lookup("secret-1")]);
    assert!(t.narrowable && !t.all_indices);

    // `GET /_search` with a body still reads all indices.
    let c = classify(Method::Get, "/_search").unwrap();
    let mut t = Targets::from_path(&c);
    let body = format!(
        r#"{{"query":{{"bool":{{"must":[{},{}],"should":{}}}}}}}"#,
        lookup_query("a"),
        lookup_query("b"),
        lookup_query("a"),
    );
    t.add_body(&c, body.as_bytes()).unwrap();
    assert_eq!(names(&t), [lookup("a"), lookup("b")], "each name once");
    assert!(t.all_indices && t.narrowable);

    // Writes by query: the path is a write, the lookup a lookup.
    let c = classify(Method::Post, "/logs-1/_delete_by_query").unwrap();
    let mut t = Targets::from_path(&c);
    t.add_body(&c, lookup_body("x").as_bytes()).unwrap();
    assert_eq!(names(&t), [("logs-1".into(), Access::Write), lookup("x")]);
    assert!(!t.narrowable);

    // `_field_caps` reads its `index_filter`.
    let c = classify(Method::Post, "/logs-1/_field_caps").unwrap();
    let mut t = Targets::from_path(&c);
    let filter = lookup_body("x").replace("\"query\"", "\"index_filter\"");
    t.add_body(&c, filter.as_bytes()).unwrap();
    assert_eq!(names(&t), [read("logs-1"), lookup("x")]);

    // Search templates: stored ones stand for every index.
    let c = classify(Method::Post, "/logs-1/_search/template").unwrap();
    let mut t = Targets::from_path(&c);
    t.add_body(&c, br#"{"id":"t","params":{}}"#).unwrap();
    assert_eq!(names(&t), [read("logs-1"), lookup("*")]);
    assert!(t.narrowable);

    // A refused body adds nothing.
    let c = classify(Method::Post, "/logs-1/_search").unwrap();
    let mut t = Targets::from_path(&c);
    let refused = t.add_body(&c, br#"{"query":{"terms":{"f":{"index":1}}}}"#);
    assert_eq!(refused, Err(BodyError::UnexpectedJson { line: 1 }));
    assert_eq!(names(&t), [read("logs-1")]);
}

#[test]
fn reindex_and_rank_eval_queries_add_lookups() {
    let lookup = |n: &str| (n.to_string(), Access::Lookup);
    // `_reindex` searches its source with the `source` object as the search body.
    let c = classify(Method::Post, "/_reindex").unwrap();
    let mut t = Targets::from_path(&c);
    let body = format!(
        r#"{{"source":{{"index":"logs-1","query":{}}},"dest":{{"index":"logs-copy"}}}}"#,
        lookup_query("secret")
    );
    t.add_body(&c, body.as_bytes()).unwrap();
    assert_eq!(
        names(&t),
        [
            ("logs-1".into(), Access::Read),
            ("logs-copy".into(), Access::Write),
            lookup("secret")
        ]
    );
    // Only the source is a search body.
    let mut t = Targets::from_path(&c);
    let body = format!(
        r#"{{"source":{{"index":"logs-1"}},"dest":{{"index":"logs-copy","x":{}}}}}"#,
        lookup_query("secret")
    );
    t.add_body(&c, body.as_bytes()).unwrap();
    assert_eq!(names(&t).len(), 2);

    // `_rank_eval` searches the path's indices (narrowable) with each rated request.
    let c = classify(Method::Post, "/logs-1/_rank_eval").unwrap();
    assert_eq!(c.body, BodyIndices::RankEval);
    let mut t = Targets::from_path(&c);
    assert!(needs_body(&c) && t.narrowable);
    let body = br#"{"requests":[{"id":"q","request":{"query":{"percolate":{"field":"q","index":"secret","id":"1"}}},"ratings":[]}],"metric":{"precision":{}}}"#;
    t.add_body(&c, body).unwrap();
    assert_eq!(
        names(&t),
        [("logs-1".into(), Access::Read), lookup("secret")]
    );
    assert!(t.narrowable);
    let c = classify(Method::Get, "/_rank_eval").unwrap();
    let mut t = Targets::from_path(&c);
    t.add_body(&c, br#"{"templates":[],"requests":[]}"#)
        .unwrap();
    assert_eq!(names(&t), [lookup("*")]);
    assert!(t.all_indices);
}

#[test]
fn msearch_searches_add_lookups() {
    let c = classify(Method::Post, "/_msearch").unwrap();
    let mut t = Targets::from_path(&c);
    let body = format!(
        "{{\"index\":\"logs-1\"}}\n{}\n{{\"index\":\"logs-2\"}}\n{{}}\n",
        lookup_body("secret-1")
    );
    t.add_body(&c, body.as_bytes()).unwrap();
    assert_eq!(
        names(&t),
        [
            ("logs-1".into(), Access::Read),
            ("logs-2".into(), Access::Read),
            ("secret-1".into(), Access::Lookup)
        ]
    );
    // The searches themselves are still narrowed one by one.
    assert_eq!(t.subrequests, [vec!["logs-1"], vec!["logs-2"]]);

    let c = classify(Method::Post, "/_msearch/template").unwrap();
    assert_eq!(c.body, BodyIndices::MsearchTemplate);
    let mut t = Targets::from_path(&c);
    t.add_body(&c, b"{\"index\":\"logs-1\"}\n{\"id\":\"t\"}\n")
        .unwrap();
    assert_eq!(
        names(&t),
        [
            ("logs-1".into(), Access::Read),
            ("*".into(), Access::Lookup)
        ]
    );
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
// of a core). The check never compares a time with a constant, which a shared machine would
// break. Each step decides bodies of 4x the items of the step before, and a decision may take
// at most 8x as long (linear: ~4x, a little more as tables outgrow the caches; quadratic:
// ~16x). Each step repeats its decision so that every step does the same work if it is
// linear, long against the scheduler's 4 ms clock; a step gives up as soon as it is over its
// limit, so quadratic code fails at 25k items in seconds, without ever reaching 100k.

/// Items of each step's body, and how many times it is decided. The last bulk body is about
/// 5 MB and names 100k distinct indices.
const STEPS: [(usize, u32); 3] = [(6_250, 16), (25_000, 4), (100_000, 1)];
/// How much longer one decision may take than one of the step before (4x the items).
const MAX_STEP_RATIO: u32 = 8;
/// Tries per step, against noise from other work on the machine.
const ATTEMPTS: usize = 3;

fn allow_logs() -> crate::acl::Acl {
    let text =
        "readonlyrest:\n  access_control_rules:\n  - name: logs\n    indices: [\"logs-*\"]\n";
    let root = crate::config::yaml::parse(text).unwrap();
    let mut d = crate::config::Diagnostics::new(std::path::Path::new("linear.yml"));
    let acl = crate::config::policy::compile(root.get("readonlyrest").unwrap(), &mut d);
    d.finish(acl).unwrap()
}

/// What `proxy::decide` does once the body is read: targets from path and body, then the ACL
/// (an `indices` rule that allows every name). Returns the index entries checked.
fn decide(acl: &crate::acl::Acl, method: Method, target: &str, body: &[u8]) -> usize {
    use crate::acl::{es_rules::EsView, Decision, NoCache, Request};
    let raw = format!("{} {target} HTTP/1.1\r\nHost: es\r\n\r\n", method.as_str());
    // Long paths are part of the test; the head limit is configuration, not complexity.
    let head = crate::http::request::parse_request_head(raw.as_bytes(), 1 << 20)
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

/// A clock for the work of this thread: the CPU time the scheduler accounts to it where Linux
/// reports it (`/proc/thread-self/schedstat`, ns), which does not run while other work holds
/// the cores of a shared machine; the elapsed time elsewhere.
struct WorkClock {
    cpu_start: Option<u64>,
    start: std::time::Instant,
}

impl WorkClock {
    fn start() -> WorkClock {
        WorkClock {
            cpu_start: Self::cpu_ns(),
            start: std::time::Instant::now(),
        }
    }

    fn cpu_ns() -> Option<u64> {
        let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
        text.split_whitespace().next()?.parse().ok()
    }

    fn elapsed(&self) -> std::time::Duration {
        match (self.cpu_start, Self::cpu_ns()) {
            (Some(from), Some(to)) => std::time::Duration::from_nanos(to.saturating_sub(from)),
            _ => self.start.elapsed(),
        }
    }
}

/// Decides `runs` times; the time of one decision, or `None` as soon as the decisions so far
/// took more than `limit` each.
fn time_decisions(
    runs: u32,
    limit: Option<std::time::Duration>,
    decide: &dyn Fn(),
) -> Option<std::time::Duration> {
    let clock = WorkClock::start();
    for done in 1..=runs {
        decide();
        if limit.is_some_and(|limit| clock.elapsed() > limit * done) {
            return None;
        }
    }
    Some(clock.elapsed() / runs)
}

/// A request of every size in `STEPS`: `request(n)` is a target and body of size ~n and the
/// number of distinct indices they name. Fails when one decision takes more than
/// `MAX_STEP_RATIO` times one of the step before.
fn assert_linear(what: &str, method: Method, request: impl Fn(usize) -> (String, String, usize)) {
    let acl = allow_logs();
    let mut previous: Option<std::time::Duration> = None;
    for (items, runs) in STEPS {
        let (target, body, indices) = request(items);
        let decide = || assert_eq!(decide(&acl, method, &target, body.as_bytes()), indices);
        let limit = previous.map(|p| p * MAX_STEP_RATIO);
        // The first step is the yardstick: its best time. Later steps must stay within their
        // limit once.
        let mut best: Option<std::time::Duration> = None;
        for _ in 0..ATTEMPTS {
            if let Some(time) = time_decisions(runs, limit, &decide) {
                best = Some(best.map_or(time, |b| b.min(time)));
                if limit.is_some() {
                    break;
                }
            }
        }
        let Some(time) = best else {
            panic!(
                "{what}: deciding {items} items took more than {MAX_STEP_RATIO}x the {:?} \
                 of {} items, {ATTEMPTS} times: not linear",
                previous.unwrap_or_default(),
                items / 4
            );
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
    assert_linear("_bulk", Method::Post, |n| {
        let body = (0..n)
            .map(|i| {
                format!(
                    "{{\"index\":{{\"_index\":\"{}\"}}}}\n{{\"n\":{i}}}\n",
                    logs(i)
                )
            })
            .collect();
        ("/_bulk".into(), body, n)
    });
}

#[test]
fn msearch_decision_is_linear_in_distinct_indices() {
    assert_linear("_msearch", Method::Post, |n| {
        let body = (0..n)
            .map(|i| format!("{{\"index\":\"{}\"}}\n{{}}\n", logs(i)))
            .collect();
        ("/_msearch".into(), body, n)
    });
}

/// Searches without `index` use the path's indices: a long path and a long body together must
/// not cost their product.
#[test]
fn msearch_decision_is_linear_in_path_indices_times_searches() {
    assert_linear("_msearch with path indices", Method::Post, |n| {
        let path: Vec<String> = (0..n / 100).map(logs).collect();
        let target = format!("/{}/_msearch", path.join(","));
        (target, "{}\n{}\n".repeat(4 * n), n / 100)
    });
}

#[test]
fn mget_decision_is_linear_in_distinct_indices() {
    // One document a line: the line of every document is looked up.
    assert_linear("_mget", Method::Post, |n| {
        let docs: Vec<String> = (0..n)
            .map(|i| format!("{{\"_index\":\"{}\",\"_id\":\"{i}\"}}", logs(i)))
            .collect();
        (
            "/_mget".into(),
            format!("{{\"docs\":[\n{}\n]}}", docs.join(",\n")),
            n,
        )
    });
}

#[test]
fn search_decision_is_linear_in_distinct_lookups() {
    // A query with n - 1 distinct terms lookups on a search of one index: n names checked.
    assert_linear("_search", Method::Post, |n| {
        let clauses: Vec<String> = (1..n).map(|i| lookup_query(&logs(i))).collect();
        let body = format!(
            "{{\"query\":{{\"bool\":{{\"should\":[\n{}\n]}}}}}}",
            clauses.join(",\n")
        );
        ("/logs-0/_search".into(), body, n)
    });
}
