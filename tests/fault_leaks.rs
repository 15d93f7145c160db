//! 10,000 upstream faults of mixed kinds through one gateway leave no descriptor and no memory
//! behind. A test binary of its own: `/proc/self` counts the whole process, so nothing else
//! may run beside it.
//!
//!     cargo test --test fault_leaks -- --nocapture     # prints the numbers

mod support;

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::*;

const FAULTS: usize = 10_000;
const WARM_UP_FAULTS: usize = 1_000;
const CLIENT_THREADS: usize = 16;
/// The gateway's response timeout; the slow kind answers well after it.
const RESPONSE_TIMEOUT_MS: u64 = 60;
const SLOW_ANSWER: Duration = Duration::from_millis(200);
/// Descriptors that may come and go between two quiet moments (none are expected).
const FD_SLACK: usize = 4;
/// RSS growth allowed over 10,000 faults after a warm-up of 1,000 (which grows the
/// allocator's arenas and thread-stack cache to their working size). Runs here moved by
/// -0.2 to +1 MiB; 4 MiB is ~420 bytes a fault, so any leaked buffer (a 32 KiB connection
/// buffer, a ~1 KiB upstream head, an upstream connection) fails it, a leak of a few bytes
/// a fault would not. Descriptors are counted exactly.
const RSS_GROWTH_LIMIT_KIB: u64 = 4 * 1024;

/// The faults, chosen by the request path `/k{kind}-{n}`.
const KINDS: [&str; 9] = [
    "close before answering",
    "reset before answering",
    "garbage head",
    "partial head, then close",
    "short Content-Length, then close",
    "chunked body cut, then reset",
    "slow answer (timeout)",
    "POST with a body, then reset",
    "over-long head",
];

fn fault_reply(kind: usize) -> Reply {
    match kind {
        0 => Reply::close(),
        1 => Reply::reset(),
        2 => Reply::Bytes(b"\x00garbage\r\n\r\n".to_vec()),
        3 => Reply::BytesThenClose(b"HTTP/1.1 200 OK\r\ncontent-le".to_vec()),
        4 => Reply::BytesThenClose(
            b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n{\"partial\":".to_vec(),
        ),
        5 => Reply::Steps(vec![
            Step::Write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n40\r\n{".to_vec()),
            Step::Reset,
        ]),
        6 => Reply::after(SLOW_ANSWER, ok_json("{}")),
        7 => Reply::reset(),
        _ => {
            let mut head = b"HTTP/1.1 200 OK\r\nX-Long: ".to_vec();
            head.extend(std::iter::repeat_n(b'a', 70 * 1024));
            Reply::Bytes(head)
        }
    }
}

fn request(kind: usize, n: usize) -> Vec<u8> {
    if kind == 7 {
        let body = "x".repeat(4096);
        format!(
            "POST /k{kind}-{n}/_doc HTTP/1.1\r\nHost: es\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    } else {
        format!("GET /k{kind}-{n} HTTP/1.1\r\nHost: es\r\n\r\n").into_bytes()
    }
}

/// What a client saw for one fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    /// A gateway-made JSON error with this status.
    Error(u16),
    /// A response head went out, then the connection was reset.
    Cut,
}

/// Sends one faulting request on a new connection; panics on anything but a JSON 502/504 or
/// a reset after a response head (a fabricated success).
fn one_fault(addr: std::net::SocketAddr, kind: usize, n: usize) -> Outcome {
    let mut client = Client::connect(addr);
    client.send(&request(kind, n));
    let (bytes, ending) = read_answer(&mut client.stream);
    let text = String::from_utf8_lossy(&bytes);
    let status: u16 = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    match status {
        502 | 504 => {
            let body = &bytes[support::find(&bytes, b"\r\n\r\n").unwrap() + 4..];
            let json: serde_json::Value = serde_json::from_slice(body)
                .unwrap_or_else(|e| panic!("kind {kind}: not JSON ({e}): {text}"));
            assert_eq!(json["status"], status, "kind {kind}: {text}");
            Outcome::Error(status)
        }
        200 if ending == PeerState::Reset => Outcome::Cut,
        _ => panic!("kind {kind} ({}): {ending:?} after {text}", KINDS[kind]),
    }
}

/// Reads until a complete response that has a Content-Length, or the end of the
/// connection; the bytes and how the connection ended (`Open` after a whole response).
fn read_answer(stream: &mut std::net::TcpStream) -> (Vec<u8>, PeerState) {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        if let Some(end) = support::find(&bytes, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&bytes[..end]).to_ascii_lowercase();
            let length = head
                .split("\r\n")
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok());
            if length.is_some_and(|length| bytes.len() >= end + 4 + length) {
                return (bytes, PeerState::Open);
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) => return (bytes, PeerState::Eof),
            Ok(n) => bytes.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return (bytes, PeerState::Reset)
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => panic!("reading an answer: {e}"),
        }
    }
}

/// Open descriptors of this process.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Resident set size of this process, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Runs `count` faults from several client threads; returns the outcomes by kind.
fn run_faults(
    addr: std::net::SocketAddr,
    first: usize,
    count: usize,
) -> BTreeMap<(usize, Outcome), usize> {
    let next = Arc::new(AtomicUsize::new(first));
    let tally = Arc::new(Mutex::new(BTreeMap::new()));
    let threads: Vec<_> = (0..CLIENT_THREADS)
        .map(|_| {
            let (next, tally) = (next.clone(), tally.clone());
            std::thread::spawn(move || loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= first + count {
                    return;
                }
                let kind = n % KINDS.len();
                let outcome = one_fault(addr, kind, n);
                *tally.lock().unwrap().entry((kind, outcome)).or_insert(0) += 1;
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    Arc::try_unwrap(tally).unwrap().into_inner().unwrap()
}

/// Waits for the closes still under way on other threads (the slow kind's node threads sleep
/// through their answer): until the descriptor count is at most `at_most`, or, without a
/// target, until it holds still for a moment; at most 10 s.
fn settle(at_most: Option<usize>) -> usize {
    let deadline = Instant::now() + Duration::from_secs(10);
    std::thread::sleep(SLOW_ANSWER * 2);
    let mut last = open_fds();
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let fds = open_fds();
        let settled = match at_most {
            Some(at_most) => fds <= at_most,
            None => fds == last,
        };
        if settled || Instant::now() > deadline {
            return fds;
        }
        last = fds;
    }
}

#[test]
fn ten_thousand_faults_leak_no_descriptor_and_no_memory() {
    let node = StubUpstream::start(|req| {
        let path = req.head_text().split(' ').nth(1).unwrap_or("").to_string();
        let kind = path[2..path.find('-').unwrap()].parse().unwrap();
        fault_reply(kind)
    });
    let limits = limits_yaml(&[("upstream_response_timeout_ms", RESPONSE_TIMEOUT_MS)]);
    // 10,000 kept requests would be memory growth of the test's own making.
    node.stop_recording();
    let gateway = start_gateway("fault-leaks", &node.url(), ALLOW_ALL, &limits);
    let addr = gateway.local_addrs()[0];

    run_faults(addr, 0, WARM_UP_FAULTS);
    let fds_before = settle(None);
    let rss_before = rss_kib();

    let started = Instant::now();
    let tally = run_faults(addr, WARM_UP_FAULTS, FAULTS);
    let took = started.elapsed();
    let fds_after = settle(Some(fds_before));
    let rss_after = rss_kib();

    eprintln!("{FAULTS} faults in {took:.1?} ({CLIENT_THREADS} clients, one worker):");
    for ((kind, outcome), count) in &tally {
        eprintln!("  {:<34} {outcome:?}: {count}", KINDS[*kind]);
    }
    eprintln!("open descriptors: {fds_before} before, {fds_after} after");
    eprintln!(
        "VmRSS: {rss_before} KiB before, {rss_after} KiB after ({:+} KiB)",
        rss_after as i64 - rss_before as i64
    );
    assert_eq!(tally.values().sum::<usize>(), FAULTS);
    assert!(
        fds_after <= fds_before + FD_SLACK,
        "descriptors leaked: {fds_before} -> {fds_after}"
    );
    assert!(
        rss_after.saturating_sub(rss_before) <= RSS_GROWTH_LIMIT_KIB,
        "RSS grew from {rss_before} KiB to {rss_after} KiB"
    );
    for (kind, name) in KINDS.iter().enumerate() {
        assert!(tally.keys().any(|(k, _)| *k == kind), "no {name}");
    }
    // Only a node that sent a response head can leave a cut response; every other fault
    // ends in a gateway-made error.
    for (kind, outcome) in tally.keys() {
        if *outcome == Outcome::Cut {
            assert!(matches!(kind, 4 | 5), "{} ended cut", KINDS[*kind]);
        }
    }
}
