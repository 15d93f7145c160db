//! A filled-in event for the audit tests.

use super::event::{BlocksHistory, Event, EventType, FinalState, RequestRecord, SinkFilter};
use crate::config::{self, Diagnostics};
use crate::snapshot::Snapshot;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// A policy with the blocks `names`, in order.
pub fn policy(names: &[&str]) -> Arc<Snapshot> {
    let blocks: String = names
        .iter()
        .map(|name| {
            let quoted = serde_json::to_string(name).unwrap();
            format!("- name: {quoted}\n  indices: [\"logs-*\"]\n")
        })
        .collect();
    let node = config::yaml::parse(&format!("access_control_rules:\n{blocks}")).unwrap();
    let mut d = Diagnostics::new(std::path::Path::new("-"));
    let acl = config::policy::compile(&node, &mut d);
    let names_compiled: Vec<&str> = acl.blocks().iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names_compiled, names, "the test policy compiles");
    Arc::new(Snapshot {
        acl,
        audit: Default::default(),
        generation: 1,
        warnings: Vec::new(),
        not_started: None,
    })
}

/// A denied search by `alice` carrying Basic credentials and an API key.
pub fn sample_event() -> Event {
    Event {
        event_type: EventType::AccessDenied,
        final_state: FinalState::Forbidden,
        // 2024-03-07T09:05:02.123Z
        timestamp: SystemTime::UNIX_EPOCH + Duration::from_millis(1_709_802_302_123),
        request: Arc::new(RequestRecord {
            id: "req-1".into(),
            correlation_id: Some("corr-1".into()),
            method: "GET",
            path: "/logs-*/_search".into(),
            // The values (`Basic dXNlcjpzZWNyZXQ=`, `password=hunter2`) are never kept.
            header_names: ["Authorization", "X-Api-Key", "Content-Type"]
                .into_iter()
                .collect(),
            forwarded_for: None,
            content_length: 2048,
        }),
        processing: Duration::from_micros(2_500),
        status: 403,
        error_type: None,
        error_message: None,
        logged_user: Some("alice".into()),
        presented_identity: Some("alice".into()),
        action: "indices:data/read/search",
        indices: vec!["logs-*".into()],
        origin: "10.0.0.7:51000".parse().unwrap(),
        destination: "10.0.0.1:9201".parse().unwrap(),
        content_length: 2048,
        content: Some(br#"{"query":{"match_all":{}}}"#.to_vec()),
        blocks_history: Some(BlocksHistory {
            policy: policy(&["admins", "readers"]),
            tried: 2,
            matched: None,
            causes: vec![Some("AUTH_FAIL"), Some("IDX_NOT_FOUND")],
        }),
        upstream_node: None,
        log_allowed: true,
        sinks: SinkFilter::All,
    }
}

/// The same request, allowed by `readers`.
pub fn allowed_event(log_allowed: bool) -> Event {
    let mut event = sample_event();
    event.event_type = EventType::AccessGranted;
    event.final_state = FinalState::Allowed;
    event.status = 200;
    let history = event.blocks_history.as_mut().unwrap();
    history.matched = Some(1);
    history.causes[1] = None;
    event.upstream_node = Some("127.0.0.1:9200".into());
    event.log_allowed = log_allowed;
    event
}

/// The event's request record, to change in a test.
pub fn request_mut(event: &mut Event) -> &mut RequestRecord {
    Arc::make_mut(&mut event.request)
}
