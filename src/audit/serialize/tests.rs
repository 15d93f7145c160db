use super::*;
use crate::audit::test_support::{allowed_event, sample_event};
use serde_json::Value;

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
    event.xff = Some("192.0.2.1".into());
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
