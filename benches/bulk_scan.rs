//! Index extraction from a realistic 5 MB Logstash/Beats-style `_bulk` body.
//!
//! The body is generated deterministically (fixed-seed xorshift): action lines as Logstash
//! and Filebeat write them, followed by 300–800 byte ECS-like documents. Throughput is
//! reported in bytes of the *uncompressed* body for every case, so plain and gzip compare.
//!
//! `cargo bench --bench bulk_scan` (short measurement times: the CI machine has 2 shared
//! cores). `memchr_lines` is the floor: just finding every `\n`.

use std::hint::black_box;
use std::io::Write;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use flate2::write::GzEncoder;
use flate2::Compression;
use ringfence::es::body::{scan_bulk, scan_bulk_encoded, BulkScanner, ContentEncoding};

const BODY_BYTES: usize = 5 * 1024 * 1024;
const READ_CHUNK_BYTES: usize = 64 * 1024;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn bulk_body() -> Vec<u8> {
    const WORDS: [&str; 12] = [
        "GET",
        "POST",
        "/api/v1/orders",
        "/static/app.js",
        "Mozilla/5.0",
        "(X11; Linux x86_64)",
        "upstream",
        "timeout",
        "user=alice",
        "status=200",
        "bytes=5321",
        "\\\"quoted\\\"",
    ];
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let mut body = Vec::with_capacity(BODY_BYTES + 4096);
    let mut n = 0u64;
    while body.len() < BODY_BYTES {
        n += 1;
        let day = 10 + rng.below(5);
        match rng.below(10) {
            0..=4 => writeln!(body, "{{\"index\":{{\"_index\":\"logstash-2024.05.{day}\"}}}}"),
            5..=7 => writeln!(body, "{{\"create\":{{\"_index\":\"logs-nginx.access-default\"}}}}"),
            _ => writeln!(
                body,
                "{{\"index\":{{\"_index\":\"filebeat-8.13.4\",\"_id\":\"{:020x}\",\"pipeline\":\"filebeat-8.13.4-nginx-access-pipeline\"}}}}",
                rng.next()
            ),
        }
        .unwrap();
        let target = 300 + rng.below(500) as usize;
        let start = body.len();
        write!(
            body,
            "{{\"@timestamp\":\"2024-05-{day}T12:{:02}:{:02}.{:03}Z\",\"host\":{{\"name\":\"web-{:02}\",\"ip\":[\"10.0.{}.{}\"]}},\
             \"agent\":{{\"type\":\"filebeat\",\"version\":\"8.13.4\"}},\"event\":{{\"dataset\":\"nginx.access\",\"sequence\":{n}}},\
             \"tags\":[\"beats_input_codec_plain_applied\"],\"message\":\"",
            rng.below(60),
            rng.below(60),
            rng.below(1000),
            rng.below(40),
            rng.below(256),
            rng.below(256),
        )
        .unwrap();
        while body.len() - start < target {
            body.extend_from_slice(WORDS[rng.below(WORDS.len() as u64) as usize].as_bytes());
            body.push(b' ');
        }
        body.extend_from_slice(b"\"}\n");
    }
    body
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// What a caller does per item: notice index changes (ACL checks run per distinct index).
fn scan_plain(body: &[u8]) -> (u64, u64) {
    let mut last = String::new();
    let mut changes = 0u64;
    let summary = scan_bulk(body, None, |item| {
        if item.index != last {
            last.clear();
            last.push_str(item.index);
            changes += 1;
        }
    })
    .unwrap();
    (summary.items(), changes)
}

fn bench(c: &mut Criterion) {
    let body = bulk_body();
    let gz = gzip(&body);
    let (items, _) = scan_plain(&body);
    eprintln!(
        "bulk body: {} bytes, {} items, gzip {} bytes",
        body.len(),
        items,
        gz.len()
    );

    let mut group = c.benchmark_group("bulk_scan");
    group
        .throughput(Throughput::Bytes(body.len() as u64))
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));

    group.bench_function("memchr_lines", |b| {
        b.iter(|| memchr::memchr_iter(b'\n', black_box(&body)).count())
    });
    group.bench_function("plain", |b| b.iter(|| scan_plain(black_box(&body))));
    group.bench_function("plain_64k_reads", |b| {
        b.iter(|| {
            let mut scanner = BulkScanner::new(None);
            let mut items = 0u64;
            for chunk in black_box(&body).chunks(READ_CHUNK_BYTES) {
                scanner.feed(chunk, &mut |_| items += 1).unwrap();
            }
            scanner.finish().unwrap();
            items
        })
    });
    group.bench_function("gzip", |b| {
        b.iter(|| {
            scan_bulk_encoded(black_box(&gz), ContentEncoding::Gzip, None, 1 << 30, |_| {}).unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
