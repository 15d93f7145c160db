use super::*;
use crate::audit::index_template::IndexTemplate;
use crate::audit::settings::{BasicAuthorization, OutputSettings};
use crate::audit::test_support::{allowed_event, sample_event};
use crate::audit::SinkFilter;
use crate::config::UpstreamUrl;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;

const PATIENCE: Duration = Duration::from_secs(5);

fn eventually(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn fast_tuning() -> AuditTuning {
    AuditTuning {
        bulk_max_delay: Duration::from_secs(30),
        bulk_first_backoff: Duration::from_millis(1),
        cluster_timeout: Duration::from_secs(2),
        file_flush_interval: Duration::from_millis(5),
        shutdown_wait: Duration::from_secs(2),
        ..AuditTuning::default()
    }
}

fn settings(kind: OutputKind) -> AuditSettings {
    AuditSettings {
        outputs: vec![OutputSettings {
            name: "out".into(),
            enabled: true,
            serializer: Serializer::DEFAULT,
            kind,
        }],
        ..AuditSettings::default()
    }
}

fn index_output() -> OutputKind {
    OutputKind::Index {
        template: IndexTemplate::parse(IndexTemplate::DEFAULT).unwrap(),
        cluster: None,
    }
}

fn output_stats(audit: &Audit) -> OutputStats {
    audit.stats().outputs[0].clone()
}

fn temp_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ringfence-audit-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("audit.jsonl")
}

fn lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

#[test]
fn disabled_audit_and_disabled_outputs_record_nothing() {
    let audit = Audit::disabled();
    assert!(!audit.recorder(0).enabled());
    audit.recorder(3).record(sample_event());
    assert_eq!(audit.stats(), AuditStats::default());
    let mut off = settings(OutputKind::Log { logger_name: None });
    off.outputs[0].enabled = false;
    let audit = Audit::start(&off, LocalCluster::default(), 2).unwrap();
    assert!(!audit.recorder(0).enabled());
    audit.shutdown();
}

#[test]
fn file_output_appends_lines_and_reopens_after_a_rename() {
    let path = temp_path("rotate");
    let audit = Audit::start_tuned(
        &settings(OutputKind::File { path: path.clone() }),
        LocalCluster::default(),
        2,
        fast_tuning(),
    )
    .unwrap();
    let recorder = audit.recorder(1);
    assert!(recorder.enabled() && !recorder.wants_content());
    recorder.record(sample_event());
    // Skipped by the default serializer: an allowed event from a quiet block.
    recorder.record(allowed_event(false));
    let mut excluded = sample_event();
    excluded.sinks = SinkFilter::Except(Arc::from(vec!["out".to_string()]));
    recorder.record(excluded);
    audit.recorder(0).record(sample_event());
    eventually("two lines", || lines(&path).len() == 2);

    let rotated = path.with_extension("1");
    std::fs::rename(&path, &rotated).unwrap();
    audit.reopen_files();
    recorder.record(allowed_event(true));
    eventually("a line in the new file", || lines(&path).len() == 1);
    let stats = audit.stats();
    audit.shutdown();
    assert_eq!(lines(&rotated).len(), 2);
    assert_eq!(lines(&path)[0]["final_state"], "ALLOWED");
    assert_eq!(
        (stats.enqueued, stats.dropped_full, stats.queued),
        (5, 0, 0)
    );
    assert_eq!(
        stats.outputs,
        [OutputStats {
            name: "out".into(),
            written: 3,
            failed: 0,
            dropped: 0
        }]
    );
}

#[test]
fn file_output_in_a_missing_directory_fails_at_start() {
    let path = temp_path("missing")
        .with_file_name("no-such-dir")
        .join("audit.jsonl");
    let error = Audit::start(
        &settings(OutputKind::File { path }),
        LocalCluster::default(),
        1,
    )
    .err()
    .unwrap();
    assert!(error.to_string().contains("no-such-dir"), "{error}");
}

#[test]
fn shutdown_flushes_what_is_queued() {
    let path = temp_path("shutdown");
    let mut tuning = fast_tuning();
    tuning.file_flush_interval = Duration::from_secs(60);
    let audit = Audit::start_tuned(
        &settings(OutputKind::File { path: path.clone() }),
        LocalCluster::default(),
        1,
        tuning,
    )
    .unwrap();
    for _ in 0..100 {
        audit.recorder(0).record(sample_event());
    }
    audit.shutdown();
    assert_eq!(lines(&path).len(), 100);
}

/// One request as the stub received it.
struct StubRequest {
    head: String,
    body: String,
}

enum Reply {
    Answer(u16, &'static str),
    /// Read the request, never answer.
    Stall,
}

/// A one-request-per-connection HTTP server on loopback that answers with `reply(n, request)`.
fn stub(
    reply: impl Fn(usize, &StubRequest) -> Reply + Send + 'static,
) -> (SocketAddr, flume::Receiver<StubRequest>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let (requests, received) = flume::unbounded();
    std::thread::spawn(move || {
        let mut stalled = Vec::new();
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let request = StubRequest {
                head,
                body: String::from_utf8(body).unwrap(),
            };
            match reply(n, &request) {
                Reply::Answer(status, body) => {
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                }
                Reply::Stall => stalled.push(stream),
            }
            if requests.send(request).is_err() {
                return;
            }
        }
    });
    (address, received)
}

const BULK_OK: &str = r#"{"took":1,"errors":false,"items":[]}"#;

fn next(requests: &flume::Receiver<StubRequest>) -> StubRequest {
    requests.recv_timeout(PATIENCE).expect("a request")
}

fn start_index(address: SocketAddr, kind: OutputKind, tuning: AuditTuning) -> Audit {
    Audit::start_tuned(
        &settings(kind),
        LocalCluster {
            nodes: vec![(address, UpstreamUrl::parse("http://es.local:9200").unwrap())],
            tls: None,
            authorization: None,
        },
        2,
        tuning,
    )
    .unwrap()
}

#[test]
fn index_output_batches_by_count_with_credentials_from_the_cluster_url() {
    let (address, requests) = stub(|_, _| Reply::Answer(200, BULK_OK));
    let kind = OutputKind::Index {
        template: IndexTemplate::parse(IndexTemplate::DEFAULT).unwrap(),
        cluster: Some(vec![crate::audit::settings::ClusterNode {
            url: UpstreamUrl {
                host: "127.0.0.1".into(),
                port: address.port(),
                tls: false,
            },
            authorization: Some(BasicAuthorization::new("writer", "pw")),
        }]),
    };
    let tuning = AuditTuning {
        bulk_max_events: 3,
        ..fast_tuning()
    };
    // No local cluster: the output's own `cluster` is used.
    let audit = Audit::start_tuned(&settings(kind), LocalCluster::default(), 1, tuning).unwrap();
    for _ in 0..6 {
        audit.recorder(0).record(sample_event());
    }
    for _ in 0..2 {
        let request = next(&requests);
        assert!(
            request.head.starts_with("POST /_bulk HTTP/1.1\r\n"),
            "{}",
            request.head
        );
        assert!(request
            .head
            .contains("Content-Type: application/x-ndjson\r\n"));
        assert!(request
            .head
            .contains(&format!("Host: 127.0.0.1:{}\r\n", address.port())));
        assert!(request
            .head
            .contains("Authorization: Basic d3JpdGVyOnB3\r\n"));
        let lines: Vec<&str> = request.body.lines().collect();
        assert_eq!(lines.len(), 6, "{}", request.body);
        for pair in lines.chunks(2) {
            assert_eq!(
                pair[0],
                r#"{"index":{"_index":"readonlyrest_audit-2024-03-07"}}"#
            );
            let doc: serde_json::Value = serde_json::from_str(pair[1]).unwrap();
            assert_eq!(doc["id"], "req-1");
        }
        assert!(request.body.ends_with('\n'));
    }
    eventually("six written", || output_stats(&audit).written == 6);
    audit.shutdown();
}

/// `gateway.upstream_auth` is how the gateway reaches its own cluster: the audit index
/// output writing there sends it too.
#[test]
fn index_output_to_the_local_cluster_sends_the_upstream_credentials() {
    let (address, requests) = stub(|_, _| Reply::Answer(200, BULK_OK));
    let kind = OutputKind::Index {
        template: IndexTemplate::parse(IndexTemplate::DEFAULT).unwrap(),
        cluster: None,
    };
    let local = LocalCluster {
        nodes: vec![(address, UpstreamUrl::parse("http://es.local:9200").unwrap())],
        tls: None,
        authorization: Some(BasicAuthorization::from_value("ApiKey aWQ6a2V5".into())),
    };
    let tuning = AuditTuning {
        bulk_max_events: 1,
        ..fast_tuning()
    };
    let audit = Audit::start_tuned(&settings(kind), local, 1, tuning).unwrap();
    audit.recorder(0).record(sample_event());
    let request = next(&requests);
    assert!(
        request.head.contains("Authorization: ApiKey aWQ6a2V5\r\n"),
        "{}",
        request.head
    );
    eventually("written", || output_stats(&audit).written == 1);
    audit.shutdown();
}

#[test]
fn index_output_sends_a_partial_batch_after_the_delay() {
    let (address, requests) = stub(|_, _| Reply::Answer(200, BULK_OK));
    let tuning = AuditTuning {
        bulk_max_delay: Duration::from_millis(30),
        ..fast_tuning()
    };
    let audit = start_index(address, index_output(), tuning);
    let started = Instant::now();
    audit.recorder(0).record(sample_event());
    audit.recorder(1).record(sample_event());
    let request = next(&requests);
    assert!(started.elapsed() >= Duration::from_millis(30));
    assert_eq!(request.body.lines().count(), 4);
    assert!(request.head.contains("Host: es.local:9200\r\n"));
    assert!(!request.head.contains("Authorization"));
    audit.shutdown();
}

#[test]
fn index_output_retries_after_a_500() {
    let (address, requests) = stub(|n, _| match n {
        0 => Reply::Answer(500, "{}"),
        _ => Reply::Answer(200, BULK_OK),
    });
    let tuning = AuditTuning {
        bulk_max_events: 1,
        ..fast_tuning()
    };
    let audit = start_index(address, index_output(), tuning);
    audit.recorder(0).record(sample_event());
    let (first, second) = (next(&requests), next(&requests));
    assert_eq!(first.body, second.body);
    eventually("written", || output_stats(&audit).written == 1);
    assert_eq!(output_stats(&audit).dropped, 0);
    audit.shutdown();
}

#[test]
fn index_output_drops_and_counts_a_batch_after_the_last_retry() {
    let (address, requests) = stub(|_, _| Reply::Answer(503, "{}"));
    let tuning = AuditTuning {
        bulk_max_events: 2,
        bulk_retries: 2,
        ..fast_tuning()
    };
    let audit = start_index(address, index_output(), tuning);
    audit.recorder(0).record(sample_event());
    audit.recorder(0).record(sample_event());
    eventually("dropped", || output_stats(&audit).dropped == 2);
    assert_eq!(requests.len(), 3, "one attempt and two retries");
    assert_eq!(output_stats(&audit).written, 0);
    audit.shutdown();
}

#[test]
fn index_output_counts_items_the_cluster_rejected() {
    let (address, _requests) = stub(|_, _| {
        Reply::Answer(
            200,
            r#"{"errors":true,"items":[{"index":{"status":201}},{"index":{"status":400,"error":{}}}]}"#,
        )
    });
    let tuning = AuditTuning {
        bulk_max_events: 2,
        ..fast_tuning()
    };
    let audit = start_index(address, index_output(), tuning);
    audit.recorder(0).record(sample_event());
    audit.recorder(0).record(sample_event());
    eventually("counted", || output_stats(&audit).failed == 1);
    assert_eq!(output_stats(&audit).written, 1);
    audit.shutdown();
}

#[test]
fn a_stalled_cluster_never_slows_record() {
    let (address, _requests) = stub(|_, _| Reply::Stall);
    let tuning = AuditTuning {
        bulk_max_events: 1,
        bulk_queue_events: 4,
        worker_queue_events: 64,
        cluster_timeout: Duration::from_secs(30),
        shutdown_wait: Duration::from_millis(100),
        ..fast_tuning()
    };
    let audit = start_index(address, index_output(), tuning);
    let recorder = audit.recorder(0);
    let mut slowest = Duration::ZERO;
    for _ in 0..2_000 {
        let event = sample_event();
        let started = Instant::now();
        recorder.record(event);
        slowest = slowest.max(started.elapsed());
    }
    eventually("drops at the output", || output_stats(&audit).dropped > 0);
    // Generous for a shared machine; a blocking record would take the 30 s cluster timeout.
    assert!(
        slowest < Duration::from_millis(100),
        "slowest record: {slowest:?}"
    );
    let stats = audit.stats();
    assert_eq!(stats.enqueued + stats.dropped_full, 2_000);
    let started = Instant::now();
    audit.shutdown();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "shutdown is bounded"
    );
}

#[test]
fn data_stream_output_creates_its_template_when_missing() {
    let (address, requests) = stub(|_, request| {
        if request
            .head
            .starts_with("GET /_index_template/audit_stream ")
        {
            Reply::Answer(404, "{}")
        } else if request
            .head
            .starts_with("PUT /_index_template/audit_stream ")
        {
            Reply::Answer(200, r#"{"acknowledged":true}"#)
        } else {
            Reply::Answer(200, BULK_OK)
        }
    });
    let kind = OutputKind::DataStream {
        name: "audit_stream".into(),
        cluster: None,
    };
    let tuning = AuditTuning {
        bulk_max_events: 1,
        ..fast_tuning()
    };
    let audit = start_index(address, kind, tuning);
    audit.recorder(0).record(sample_event());
    audit.recorder(0).record(sample_event());
    let get = next(&requests);
    assert!(get.head.starts_with("GET /_index_template/audit_stream "));
    let put = next(&requests);
    assert!(put.head.starts_with("PUT /_index_template/audit_stream "));
    let template: serde_json::Value = serde_json::from_str(&put.body).unwrap();
    assert_eq!(
        template["index_patterns"],
        serde_json::json!(["audit_stream"])
    );
    assert_eq!(template["data_stream"], serde_json::json!({}));
    for _ in 0..2 {
        let bulk = next(&requests);
        assert!(
            bulk.head.starts_with("POST /_bulk "),
            "checked once: {}",
            bulk.head
        );
        assert!(bulk
            .body
            .starts_with(r#"{"create":{"_index":"audit_stream"}}"#));
    }
    eventually("written", || output_stats(&audit).written == 2);
    audit.shutdown();
}

#[test]
fn data_stream_output_keeps_an_existing_template() {
    let (address, requests) = stub(|_, _| Reply::Answer(200, BULK_OK));
    let kind = OutputKind::DataStream {
        name: "audit_stream".into(),
        cluster: None,
    };
    let tuning = AuditTuning {
        bulk_max_events: 1,
        ..fast_tuning()
    };
    let audit = start_index(address, kind, tuning);
    audit.recorder(0).record(sample_event());
    assert!(next(&requests)
        .head
        .starts_with("GET /_index_template/audit_stream "));
    assert!(next(&requests).head.starts_with("POST /_bulk "));
    audit.shutdown();
}

#[test]
fn outputs_sharing_a_serializer_get_the_same_document_and_the_index_its_day() {
    let (address, requests) = stub(|_, _| Reply::Answer(200, BULK_OK));
    let (plain, ecs) = (temp_path("shared-plain"), temp_path("shared-ecs"));
    let output = |name: &str, serializer, kind| OutputSettings {
        name: name.into(),
        enabled: true,
        serializer,
        kind,
    };
    let ecs_serializer = Serializer::Ecs {
        include_full_request_content: false,
    };
    let settings = AuditSettings {
        outputs: vec![
            output(
                "plain",
                Serializer::DEFAULT,
                OutputKind::File {
                    path: plain.clone(),
                },
            ),
            output(
                "ecs",
                ecs_serializer,
                OutputKind::File { path: ecs.clone() },
            ),
            output("index", Serializer::DEFAULT, index_output()),
        ],
        ..AuditSettings::default()
    };
    let tuning = AuditTuning {
        bulk_max_events: 3,
        ..fast_tuning()
    };
    let audit = Audit::start_tuned(
        &settings,
        LocalCluster {
            nodes: vec![(address, UpstreamUrl::parse("http://es.local:9200").unwrap())],
            tls: None,
            authorization: None,
        },
        1,
        tuning,
    )
    .unwrap();
    let mut next_day = allowed_event(true);
    next_day.timestamp += Duration::from_secs(86_400);
    let mut not_to_the_file = sample_event();
    not_to_the_file.sinks = SinkFilter::Except(Arc::from(vec!["plain".to_string()]));
    for event in [sample_event(), next_day, not_to_the_file] {
        audit.recorder(0).record(event);
    }
    let request = next(&requests);
    eventually("the files written", || {
        lines(&plain).len() == 2 && lines(&ecs).len() == 3
    });
    audit.shutdown();

    let bulk: Vec<&str> = request.body.lines().collect();
    assert_eq!(
        [bulk[0], bulk[2], bulk[4]],
        [
            r#"{"index":{"_index":"readonlyrest_audit-2024-03-07"}}"#,
            r#"{"index":{"_index":"readonlyrest_audit-2024-03-08"}}"#,
            r#"{"index":{"_index":"readonlyrest_audit-2024-03-07"}}"#,
        ]
    );
    let file_text = std::fs::read_to_string(&plain).unwrap();
    let file_lines: Vec<&str> = file_text.lines().collect();
    assert_eq!(file_lines, [bulk[1], bulk[3]], "the same bytes");
    assert_eq!(lines(&plain)[1]["final_state"], "ALLOWED");
    let with_ecs = lines(&ecs);
    assert_eq!(with_ecs[0]["ecs"]["version"], "1.6.0");
    assert_eq!(with_ecs[1]["@timestamp"], "2024-03-08T09:05:02.123Z");
}
