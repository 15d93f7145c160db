use super::*;
use crate::audit::test_support::{allowed_event, policy, request_mut, sample_event};
use serde_json::{json, Value};

const EVERY_SERIALIZER: [Serializer; 6] = [
    Serializer::DEFAULT,
    Serializer::Standard {
        allowed: AllowedEvents::FromBlocksThatLogThem,
        include_content: true,
    },
    Serializer::Standard {
        allowed: AllowedEvents::All,
        include_content: false,
    },
    Serializer::Standard {
        allowed: AllowedEvents::All,
        include_content: true,
    },
    Serializer::Ecs {
        include_full_request_content: false,
    },
    Serializer::Ecs {
        include_full_request_content: true,
    },
];

/// The event as `serializer` writes it, or `None` when it leaves the event out.
fn to_json_line(event: &Event, serializer: &Serializer) -> Option<Vec<u8>> {
    if skips(event, serializer) {
        return None;
    }
    let mut line = Vec::new();
    write_document(event, serializer, &mut line);
    Some(line)
}

fn document(event: &Event, serializer: Serializer) -> Value {
    let line = to_json_line(event, &serializer).expect("serialized");
    assert!(!line.contains(&b'\n'), "one line");
    serde_json::from_slice(&line).unwrap()
}

#[test]
fn default_serializer_writes_readonlyrest_fields() {
    let doc = document(&sample_event(), Serializer::DEFAULT);
    let expected = json!({
        "match": false,
        "matched_block_names": [],
        "id": "req-1",
        "final_state": "FORBIDDEN",
        "@timestamp": "2024-03-07T09:05:02.123Z",
        "correlation_id": "corr-1",
        "processingMillis": 2,
        "content_len": 2048,
        "content_len_kb": 2,
        "type": "access_denied",
        "origin": "10.0.0.7",
        "destination": "10.0.0.1",
        "req_method": "GET",
        "headers": ["Authorization", "X-Api-Key", "Content-Type"],
        "path": "/logs-*/_search",
        "user": "alice",
        "logged_user": "alice",
        "presented_identity": "alice",
        "action": "indices:data/read/search",
        "indices": ["logs-*"],
        "acl_history": "[admins->false], [readers->false]",
        "blocks_history": [
            {"name": "admins", "matched": false, "forbidden_cause": "AUTH_FAIL"},
            {"name": "readers", "matched": false, "forbidden_cause": "IDX_NOT_FOUND"}
        ],
        "status": 403,
        "es_node_name": "ringfence"
    });
    assert_eq!(doc, expected);
}

#[test]
fn allowed_events_follow_the_block_unless_the_serializer_is_full() {
    let quiet = allowed_event(false);
    for serializer in EVERY_SERIALIZER {
        let full = matches!(
            serializer,
            Serializer::Standard {
                allowed: AllowedEvents::All,
                ..
            }
        );
        assert_eq!(
            to_json_line(&quiet, &serializer).is_some(),
            full,
            "{serializer:?}"
        );
        assert!(to_json_line(&allowed_event(true), &serializer).is_some());
        assert!(to_json_line(&sample_event(), &serializer).is_some());
    }
    let doc = document(&allowed_event(true), Serializer::DEFAULT);
    assert_eq!(doc["match"], true);
    assert_eq!(doc["matched_block_names"], json!(["readers"]));
    assert_eq!(doc["block"], "readers");
    assert_eq!(doc["final_state"], "ALLOWED");
    assert_eq!(doc["upstream_node"], "127.0.0.1:9200");
}

#[test]
fn query_variants_add_the_body_and_the_others_do_not() {
    for serializer in EVERY_SERIALIZER {
        let doc = document(&sample_event(), serializer);
        let body = match serializer {
            Serializer::Standard { .. } => doc.get("content"),
            Serializer::Ecs { .. } => doc["http"]["request"]["body"].get("content"),
        };
        let expected = serializer
            .includes_content()
            .then(|| json!(r#"{"query":{"match_all":{}}}"#));
        assert_eq!(body, expected.as_ref(), "{serializer:?}");
    }
}

#[test]
fn ecs_document_fields() {
    let mut event = allowed_event(true);
    request_mut(&mut event).forwarded_for = Some("192.0.2.1".into());
    let doc = document(
        &event,
        Serializer::Ecs {
            include_full_request_content: false,
        },
    );
    assert_eq!(doc["@timestamp"], "2024-03-07T09:05:02.123Z");
    assert_eq!(doc["ecs"]["version"], ECS_VERSION);
    assert_eq!(
        doc["event"],
        json!({
            "kind": "event",
            "category": ["web"],
            "type": ["access", "allowed"],
            "action": "access_granted",
            "outcome": "success",
            "duration": 2_500_000,
            "id": "req-1"
        })
    );
    assert_eq!(doc["trace"]["id"], "corr-1");
    assert_eq!(doc["user"]["name"], "alice");
    assert_eq!(doc["source"], json!({"address": "10.0.0.7", "port": 51000}));
    assert_eq!(doc["destination"]["port"], 9201);
    assert_eq!(
        doc["http"],
        json!({"request": {"method": "GET", "body": {"bytes": 2048}}, "response": {"status_code": 200}})
    );
    assert_eq!(doc["url"]["path"], "/logs-*/_search");
    let ringfence = &doc["ringfence"];
    assert_eq!(ringfence["matched_block"], "readers");
    assert_eq!(ringfence["indices"], json!(["logs-*"]));
    assert_eq!(ringfence["action"], "indices:data/read/search");
    assert_eq!(ringfence["xff"], "192.0.2.1");
    assert_eq!(
        ringfence["blocks_history"][1],
        json!({"name": "readers", "matched": true})
    );

    let mut failed = sample_event();
    failed.event_type = EventType::AuthenticationFailed;
    let doc = document(
        &failed,
        Serializer::Ecs {
            include_full_request_content: false,
        },
    );
    assert_eq!(doc["event"]["category"], json!(["authentication"]));
    assert_eq!(doc["event"]["outcome"], "failure");
}

#[test]
fn connection_events_leave_out_the_status() {
    let mut event = sample_event();
    event.event_type = EventType::ConnectionDenied;
    event.status = 0;
    event.action = "";
    for serializer in [
        Serializer::DEFAULT,
        Serializer::Ecs {
            include_full_request_content: false,
        },
    ] {
        let doc = document(&event, serializer);
        assert!(doc.get("status").is_none() && doc["http"].get("response").is_none());
    }
}

#[test]
fn credentials_appear_in_no_serializer_output() {
    let secrets = [
        "dXNlcjpzZWNyZXQ=",
        "secret",
        "user:secret",
        "hunter2",
        "password=hunter2",
    ];
    for event in [sample_event(), allowed_event(true)] {
        for serializer in EVERY_SERIALIZER {
            let line = to_json_line(&event, &serializer).unwrap();
            let text = String::from_utf8(line).unwrap();
            for secret in secrets {
                assert!(
                    !text.contains(secret),
                    "{serializer:?} leaked `{secret}`: {text}"
                );
            }
        }
    }
}

#[test]
fn strings_are_escaped_and_round_trip() {
    let odd_path = "/l\"o\\g\u{1}s-é/_search\u{7f}\t";
    let odd_user = "ali\"ce\u{0}\u{1f}é😀\r\n";
    let odd_blocks = ["ad\"min\\é", "rea\nders"];
    let mut event = allowed_event(true);
    event.blocks_history.as_mut().unwrap().policy = policy(&odd_blocks);
    let request = request_mut(&mut event);
    request.path = odd_path.into();
    request.header_names = ["X-\"Odd", "", "Ünï"].into_iter().collect();
    request.correlation_id = Some("c\u{8}\u{c}".into());
    event.logged_user = Some(odd_user.into());
    event.presented_identity = Some("bob\\".into());
    event.error_message = Some("forbidden \"x\"".into());
    event.indices = vec!["a\"b".into(), "ç".into()];
    event.origin = "[2001:db8::7]:5".parse().unwrap();
    event.content = Some(b"{\"q\":\"\x01\xff\"}".to_vec());

    let line = to_json_line(&event, &Serializer::DEFAULT).unwrap();
    let text = std::str::from_utf8(&line).unwrap();
    assert!(
        text.contains(r#""path":"/l\"o\\g\u0001s-é/_search"#),
        "control characters as \\u00XX, non-ASCII as is: {text}"
    );
    let doc = document(&event, Serializer::DEFAULT);
    assert_eq!(doc["path"], odd_path);
    assert_eq!(doc["user"], odd_user);
    assert_eq!(doc["logged_user"], odd_user);
    assert_eq!(doc["presented_identity"], "bob\\");
    assert_eq!(doc["correlation_id"], "c\u{8}\u{c}");
    assert_eq!(doc["error_message"], "forbidden \"x\"");
    assert_eq!(doc["headers"], json!(["X-\"Odd", "", "Ünï"]));
    assert_eq!(doc["indices"], json!(["a\"b", "ç"]));
    assert_eq!(doc["origin"], "2001:db8::7");
    assert_eq!(doc["block"], odd_blocks[1]);
    assert_eq!(doc["matched_block_names"], json!([odd_blocks[1]]));
    assert_eq!(
        doc["acl_history"],
        format!("[{}->false], [{}->true]", odd_blocks[0], odd_blocks[1])
    );
    assert_eq!(doc["blocks_history"][0]["name"], odd_blocks[0]);
    assert_eq!(doc["blocks_history"][1]["name"], odd_blocks[1]);

    let content = Serializer::Standard {
        allowed: AllowedEvents::All,
        include_content: true,
    };
    assert_eq!(
        document(&event, content)["content"],
        "{\"q\":\"\u{1}\u{fffd}\"}"
    );
    let ecs = document(
        &event,
        Serializer::Ecs {
            include_full_request_content: true,
        },
    );
    assert_eq!(ecs["url"]["path"], odd_path);
    assert_eq!(ecs["user"]["name"], odd_user);
    assert_eq!(ecs["ringfence"]["matched_block"], odd_blocks[1]);
    assert_eq!(ecs["source"]["address"], "2001:db8::7");
}

#[test]
fn every_control_character_is_escaped_as_serde_json_does() {
    let every_ascii: String = (0u8..=0x7f).map(char::from).collect();
    let text = format!("{every_ascii}é😀");
    let mut written = Vec::new();
    Json(&mut written).string(&text);
    assert_eq!(written, serde_json::to_vec(&text).unwrap());
    // Every special byte at every position around the eight-byte steps, among plain ASCII,
    // non-ASCII (high bits set) and bytes just above the limits.
    for filler in ['a', 'é', ' ', '#', ']', '\u{7f}'] {
        for special in ['"', '\\', '\n', '\u{0}', '\u{1f}'] {
            for length in 0..20 {
                for position in 0..=length {
                    let text: String = (0..length)
                        .map(|i| if i == position { special } else { filler })
                        .collect();
                    written.clear();
                    Json(&mut written).string(&text);
                    assert_eq!(written, serde_json::to_vec(&text).unwrap(), "{text:?}");
                }
            }
        }
    }
}

#[test]
fn timestamps_match_chrono_across_calendar_edges() {
    use chrono::{DateTime, SecondsFormat, Utc};
    let days = [
        0, 59, 60, 365, 10_956, 11_016, 11_017, 19_789, 47_540, 2_932_896,
    ];
    for day in days {
        for millis in [0, 1, 999, 86_399_999] {
            let at = UNIX_EPOCH + std::time::Duration::from_millis(day * 86_400_000 + millis);
            let mut written = Vec::new();
            Json(&mut written).timestamp(at);
            let expected = DateTime::<Utc>::from(at).to_rfc3339_opts(SecondsFormat::Millis, true);
            assert_eq!(
                written,
                format!("\"{expected}\"").into_bytes(),
                "{day} {millis}"
            );
        }
    }
}
