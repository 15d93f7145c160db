//! The whole decision on a `_bulk` body that names a distinct index in every item, at 1, 5
//! and 20 MB: classify, `Targets::from_path`, `Targets::add_body` (scan and deduplication),
//! then `Acl::evaluate` with an `indices` rule over every name.
//!
//! Issue 9: deduplicating with a linear scan made this quadratic (1.8 MB took ~3 s of a
//! core), so the time per MB grew with the size. Now it must stay near flat: it still grows
//! a little (~2x from 1 to 20 MB in CPU time) as the table of 20k to 400k names outgrows the
//! caches, where a quadratic cost grows 20x. `scan_only` is the same body through the bare
//! scanner, the floor the decision is compared with (`benches/bulk_scan.rs` measures the
//! scanner on a realistic body with few indices).
//!
//! `cargo bench --bench bulk_decide -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::io::Write;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ringfence::acl::es_rules::EsView;
use ringfence::acl::{Acl, Decision, NoCache, Request};
use ringfence::config::{yaml, Diagnostics};
use ringfence::es::body::scan_bulk;
use ringfence::es::metadata::ClusterMetadata;
use ringfence::es::route::classify;
use ringfence::es::target::Targets;
use ringfence::http::request::parse_request_head;

// The allocator of the `ringfence` binary: every distinct name is allocated, so the allocator
// is part of what is measured.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const MB: usize = 1024 * 1024;

const POLICY: &str = r#"readonlyrest:
  access_control_rules:
  - name: "Logstash writer"
    auth_key: "logstash:logstash"
    actions: ["indices:data/write/*"]
    indices: ["logs-*"]
"#;

/// `Authorization: Basic logstash:logstash`.
const HEAD: &[u8] = b"POST /_bulk HTTP/1.1\r\nHost: es\r\nAuthorization: Basic bG9nc3Rhc2g6bG9nc3Rhc2g=\r\nContent-Type: application/x-ndjson\r\n\r\n";

fn policy() -> Acl {
    let root = yaml::parse(POLICY).unwrap();
    let mut d = Diagnostics::new(std::path::Path::new("bench.yml"));
    let acl = ringfence::config::policy::compile(root.get("readonlyrest").unwrap(), &mut d);
    d.finish(acl).unwrap()
}

/// A bulk body of about `bytes` whose every item indexes a small document into its own
/// index (about 50 bytes an item: 5 MB is 100k distinct names).
fn bulk_body(bytes: usize) -> (Vec<u8>, usize) {
    let mut body = Vec::with_capacity(bytes + 128);
    let mut items = 0;
    while body.len() < bytes {
        writeln!(
            body,
            "{{\"index\":{{\"_index\":\"logs-app-{items:07}\"}}}}\n{{\"n\":{items}}}"
        )
        .unwrap();
        items += 1;
    }
    (body, items)
}

/// The decision as `proxy::decide` makes it once the body is read; returns the number of
/// (index, operation) pairs checked, so the work cannot be optimised away.
fn decide(acl: &Acl, body: &[u8], metadata: &ClusterMetadata) -> usize {
    let head = parse_request_head(HEAD, 16384).unwrap().unwrap();
    let target = std::str::from_utf8(head.path_and_query().get(HEAD)).unwrap();
    let classified = classify(head.method, target).unwrap();
    let mut targets = Targets::from_path(&classified);
    targets.add_body(&classified, body).unwrap();
    let path = std::str::from_utf8(head.path.get(HEAD)).unwrap();
    let mut request = Request::new(
        head.method,
        path,
        HEAD,
        &head.headers,
        [127, 0, 0, 1].into(),
        [127, 0, 0, 1].into(),
        Some(body.len() as u64),
    )
    .unwrap();
    request.es = Some(EsView {
        action: classified.action,
        unknown: classified.is_unknown(),
        targets: Some(&targets),
        metadata,
    });
    assert!(matches!(
        acl.evaluate(&request, &NoCache),
        Decision::Allow { .. }
    ));
    targets.indices.len()
}

fn bench(c: &mut Criterion) {
    let acl = policy();
    let metadata = ClusterMetadata::default();
    let mut group = c.benchmark_group("bulk_decide");
    group.sample_size(10);
    for mb in [1, 5, 20] {
        let (body, items) = bulk_body(mb * MB);
        assert_eq!(
            decide(&acl, &body, &metadata),
            items,
            "every name is distinct"
        );
        eprintln!("{mb} MB: {} bytes, {items} distinct indices", body.len());
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(format!("decide_{mb}mb"), |b| {
            b.iter(|| decide(&acl, black_box(&body), &metadata))
        });
        if mb == 5 {
            group.bench_function("scan_only_5mb", |b| {
                b.iter(|| scan_bulk(black_box(&body), None, |_| {}).unwrap().items())
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
