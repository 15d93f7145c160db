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
