//! The real binary under load: 100 SIGHUP reloads (and the file watcher seeing the same
//! rewrites) while clients send requests that both policies allow. No request may fail,
//! every reload must be logged, and each must put in force the policy just written. Then
//! SIGTERM ends the process cleanly. The slow version with wrk and timings is
//! `tuning/load/reload.py`.

mod support;

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{Client, StubUpstream};

const RELOADS: usize = 100;
const CLIENTS: usize = 4;
const AUTH: &str = "Authorization: Basic bG9nc3Rhc2g6bG9nc3Rhc2g=\r\n"; // logstash:logstash
/// Both allow the load (`GET /logs-1/_search` as logstash); only B allows the probe index.
const POLICY_A: &str = "readonlyrest:\n  access_control_rules:\n  - name: a\n    auth_key_sha256: \"logstash:76cd2c0d589e224531fc6af2c5850e3c9b2aca6902d813ce598833c7c1b28bee\"\n    indices: [\"logs-*\"]\n";
const POLICY_B: &str = "readonlyrest:\n  access_control_rules:\n  - name: b\n    auth_key: \"logstash:logstash\"\n    indices: [\"logs-*\", \"probe-b\"]\n";

/// Kills the gateway if the test fails half-way.
struct Gateway(Child);

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name} failed");
}

/// Replaces the file in one rename, as a deployment tool should: the gateway reads the old
/// bytes or the new ones, never half a file.
fn write_atomically(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Reloads the log reports, by trigger: (SIGHUP, file changed, failed).
fn reloads(log: &Path) -> (usize, usize, usize) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let reloaded = |trigger: &str| {
        text.lines()
            .filter(|l| l.contains("policy reloaded") && l.contains(trigger))
            .count()
    };
    let failed = text.matches("policy reload failed").count();
    (reloaded("SIGHUP"), reloaded("file changed"), failed)
}

fn status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: es\r\n{AUTH}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply).ok()?;
    reply.get(9..12)?.parse().ok()
}

#[test]
fn a_hundred_sighups_under_load_fail_no_request() {
    let upstream = StubUpstream::echo();
    let dir = std::env::temp_dir().join(format!("ringfence-reload-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let acl = dir.join("readonlyrest.yml");
    std::fs::write(&acl, POLICY_A).unwrap();
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = dir.join("gateway.yml");
    std::fs::write(
        &config,
        format!(
            "gateway:\n  listen: {addr}\n  upstreams: [\"{}\"]\n  workers: 2\n  metadata_refresh_ms: 0\n  policy_watch_ms: 20\n  shutdown_timeout_ms: 2000\n  acl_file: readonlyrest.yml\n",
            upstream.url()
        ),
    )
    .unwrap();
    let log = dir.join("gateway.log");
    let mut gateway = Gateway(
        Command::new(env!("CARGO_BIN_EXE_ringfence"))
            .args(["run", "--config"])
            .arg(&config)
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while status(addr, "/logs-1/_search") != Some(200) {
        assert!(Instant::now() < deadline, "the gateway did not start");
        std::thread::sleep(Duration::from_millis(20));
    }

    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (stop, done, failures) = (stop.clone(), done.clone(), failures.clone());
            std::thread::spawn(move || {
                let mut client = Client::connect(addr);
                let request = format!("GET /logs-1/_search HTTP/1.1\r\nHost: es\r\n{AUTH}\r\n");
                while !stop.load(Ordering::Relaxed) {
                    // `read_response` panics on a closed connection: that is a failure too.
                    client.send(request.as_bytes());
                    if client.read_response(false).status != 200 {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();

    let started = Instant::now();
    let mut wrong_policy = Vec::new();
    for i in 0..RELOADS {
        let b = i % 2 == 0;
        write_atomically(&acl, if b { POLICY_B } else { POLICY_A });
        signal(&gateway.0, "HUP");
        let deadline = Instant::now() + Duration::from_secs(5);
        while reloads(&log).0 < i + 1 {
            assert!(Instant::now() < deadline, "SIGHUP {} was not logged", i + 1);
            std::thread::sleep(Duration::from_millis(1));
        }
        // The reload on the signal thread is done when it is logged: the probe must see it.
        // Under A the probe is a read of a forbidden index only: 404, as Elasticsearch says.
        let probe = status(addr, "/probe-b/_search");
        if probe != Some(if b { 200 } else { 404 }) {
            wrong_policy.push((i + 1, probe));
        }
    }
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().expect("a client failed (connection closed?)");
    }

    let (sighup, watched, failed) = reloads(&log);
    assert_eq!(sighup, RELOADS);
    assert_eq!(failed, 0, "{}", std::fs::read_to_string(&log).unwrap());
    assert_eq!(failures.load(Ordering::Relaxed), 0, "failed requests");
    assert!(wrong_policy.is_empty(), "{wrong_policy:?}");
    let requests = done.load(Ordering::Relaxed);
    assert!(requests >= 200, "only {requests} requests in {elapsed:?}");
    eprintln!(
        "{RELOADS} SIGHUP and {watched} watcher reloads in {elapsed:?}, {requests} requests, none failed"
    );

    signal(&gateway.0, "TERM");
    let deadline = Instant::now() + Duration::from_secs(5);
    let exit = loop {
        if let Some(exit) = gateway.0.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "no exit 5 s after SIGTERM");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(exit.success(), "{exit:?}");
}
