//! ACL evaluation on ReadonlyREST's own worst-case yardstick: 100 blocks, 100 groups, 120
//! index patterns. Reports ns per decision for the first, middle and last matching block
//! and for no match (every block evaluated).
//!
//! Run: `cargo bench --bench acl_eval`.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use ringfence::acl::es_rules::EsView;
use ringfence::acl::{Acl, Decision, NoCache, Request};
use ringfence::config::{yaml, Diagnostics};
use ringfence::es::metadata::ClusterMetadata;
use ringfence::es::route::classify;
use ringfence::es::target::Targets;
use ringfence::http::request::parse_request_head;
use sha2::{Digest, Sha256};

const BLOCKS: usize = 100;

fn policy() -> Acl {
    let mut text = String::from("readonlyrest:\n  access_control_rules:\n");
    for i in 0..BLOCKS {
        // 120 patterns in all: every fifth block has a second one.
        let extra = if i % 5 == 0 {
            format!(", \"metrics-{i}-*\"")
        } else {
            String::new()
        };
        text.push_str(&format!(
            "  - name: \"team {i}\"\n    methods: [GET, POST]\n    groups: [\"group{i}\"]\n    indices: [\"logs-{i}-*\"{extra}]\n"
        ));
    }
    text.push_str("  users:\n");
    for i in 0..BLOCKS {
        let hash = hex(&Sha256::digest(format!("password{i}").as_bytes()));
        text.push_str(&format!(
            "  - username: user{i}\n    groups: [\"group{i}\"]\n    auth_key_sha256: \"user{i}:{hash}\"\n"
        ));
    }
    let root = yaml::parse(&text).unwrap();
    let mut d = Diagnostics::new(std::path::Path::new("bench.yml"));
    let acl = ringfence::config::policy::compile(root.get("readonlyrest").unwrap(), &mut d);
    d.finish(acl).unwrap()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn search(user: usize, index: &str) -> Vec<u8> {
    use base64::Engine;
    let token =
        base64::engine::general_purpose::STANDARD.encode(format!("user{user}:password{user}"));
    format!("POST /{index}/_search HTTP/1.1\r\nHost: es\r\nAuthorization: Basic {token}\r\nContent-Length: 2\r\n\r\n").into_bytes()
}

/// The whole per-request decision as the proxy makes it: classify, build the view, evaluate.
fn decide(acl: &Acl, raw: &[u8], metadata: &ClusterMetadata) -> bool {
    let head = parse_request_head(raw, 16384).unwrap().unwrap();
    let target = std::str::from_utf8(head.path_and_query().get(raw)).unwrap();
    let classified = classify(head.method, target).unwrap();
    let targets = Targets::from_path(&classified);
    let path = std::str::from_utf8(head.path.get(raw)).unwrap();
    let mut request = Request::new(
        head.method,
        path,
        raw,
        &head.headers,
        [127, 0, 0, 1].into(),
        [127, 0, 0, 1].into(),
        Some(2),
    )
    .unwrap();
    request.es = Some(EsView {
        action: classified.action,
        unknown: classified.is_unknown(),
        targets: Some(&targets),
        metadata,
    });
    matches!(acl.evaluate(&request, &NoCache), Decision::Allow { .. })
}

fn bench(c: &mut Criterion) {
    let acl = policy();
    let metadata = ClusterMetadata::default();
    let mut group = c.benchmark_group("acl_eval_100_blocks");
    let cases = [
        ("first_block", search(0, "logs-0-2024.01.01"), true),
        ("middle_block", search(50, "logs-50-2024.01.01"), true),
        ("last_block", search(99, "logs-99-2024.01.01"), true),
        ("no_match", search(99, "secret"), false),
    ];
    for (name, raw, allowed) in &cases {
        assert_eq!(decide(&acl, raw, &metadata), *allowed, "{name}");
        group.bench_function(*name, |b| {
            b.iter(|| decide(&acl, black_box(raw), &metadata))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
