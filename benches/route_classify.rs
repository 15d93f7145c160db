//! Benchmark of `es::route::classify` on realistic request targets.
//!
//! Run: `cargo bench --bench route_classify`. Budget: `POST /logs-2024.01.01/_search` well under
//! 200 ns (the whole user-space share of a proxied request is ~2 µs).

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use ringfence::es::route::classify;
use ringfence::http::Method;

fn bench(c: &mut Criterion) {
    let cases: &[(&str, Method, &str)] = &[
        ("search", Method::Post, "/logs-2024.01.01/_search"),
        (
            "search_query",
            Method::Post,
            "/logs-2024.01.01/_search?size=0&track_total_hits=true",
        ),
        ("bulk", Method::Post, "/_bulk"),
        (
            "doc_get",
            Method::Get,
            "/logs-2024.01.01/_doc/Fh8gJ40BOx1YkG5rAq3Z",
        ),
        ("cluster_health", Method::Get, "/_cluster/health"),
        ("cat_indices", Method::Get, "/_cat/indices/logs-*?v"),
        (
            "encoded_date_math",
            Method::Get,
            "/%3Clogs-%7Bnow%2Fd%7D%3E,-logs-old/_search",
        ),
        ("unknown", Method::Get, "/_plugins/_security/api/roles"),
    ];
    let mut group = c.benchmark_group("route_classify");
    for &(name, method, target) in cases {
        group.throughput(Throughput::Bytes(target.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| classify(black_box(method), black_box(target)).map(|c| c.action))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
