//! Request-head parsing and chunked decoding on realistic Elasticsearch traffic.
//!
//! Run: `cargo bench --bench http_parse`. Reports bytes/s (criterion `Throughput::Bytes`).

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use ringfence::http::chunked::ChunkedDecoder;
use ringfence::http::request::parse_request_head;

/// What opensearch-py / elasticsearch-py send for a search with a JSON body.
const SEARCH: &[u8] = b"POST /logs-2024.01.01/_search?typed_keys=true&size=20 HTTP/1.1\r\n\
Host: 127.0.0.1:9201\r\n\
Accept-Encoding: identity\r\n\
User-Agent: opensearch-py/2.6.0 (Python 3.11.7)\r\n\
authorization: Basic bG9nc3Rhc2g6bG9nc3Rhc2g=\r\n\
content-type: application/json\r\n\
Connection: keep-alive\r\n\
Content-Length: 98\r\n\r\n";

/// Logstash's `_bulk` head (the 5 MB body follows it).
const BULK_HEAD: &[u8] = b"POST /_bulk HTTP/1.1\r\n\
Connection: Keep-Alive\r\n\
Content-Type: application/json\r\n\
Content-Length: 5242880\r\n\
Host: 127.0.0.1:9201\r\n\
User-Agent: Logstash/8.13.0 (Manticore 0.9.1; JRuby 9.4.5.0)\r\n\
Authorization: Basic bG9nc3Rhc2g6bG9nc3Rhc2g=\r\n\
Accept-Encoding: gzip,deflate\r\n\r\n";

fn heads(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse_request_head");
    for (name, head) in [("search", SEARCH), ("bulk_head", BULK_HEAD)] {
        group.throughput(Throughput::Bytes(head.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                parse_request_head(black_box(head), 16 * 1024)
                    .unwrap()
                    .unwrap()
            })
        });
    }
    group.finish();
}

/// A 5 MB bulk body as Beats sends it: chunked, in 16 KiB chunks.
fn chunked_bulk() -> Vec<u8> {
    let line = b"{\"index\":{\"_index\":\"filebeat-8.13.0\"}}\n{\"@timestamp\":\"2024-01-01T00:00:00Z\",\"message\":\"GET /index.html 200 1234\",\"host\":{\"name\":\"web-01\"}}\n";
    let mut body = Vec::new();
    while body.len() < 5 * 1024 * 1024 {
        body.extend_from_slice(line);
    }
    let mut out = Vec::with_capacity(body.len() + 4096);
    for chunk in body.chunks(16 * 1024) {
        out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

fn chunked(c: &mut Criterion) {
    let body = chunked_bulk();
    let mut group = c.benchmark_group("chunked_decode");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("bulk_5mb", |b| {
        b.iter(|| {
            let mut decoder = ChunkedDecoder::new();
            let progress = decoder.decode(black_box(&body), |_| {}).unwrap();
            assert!(progress.done);
        })
    });
    group.finish();
}

criterion_group!(benches, heads, chunked);
criterion_main!(benches);
