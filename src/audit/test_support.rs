//! A filled-in event for the audit tests.

use super::event::{BlockTrace, Event, EventType, FinalState, SinkFilter};
use std::time::{Duration, SystemTime};

/// A denied search by `alice` carrying Basic credentials and an API key.
pub fn sample_event() -> Event {
    Event {
        event_type: EventType::AccessDenied,
        final_state: FinalState::Forbidden,
        // 2024-03-07T09:05:02.123Z
        timestamp: SystemTime::UNIX_EPOCH + Duration::from_millis(1_709_802_302_123),
        id: "req-1".into(),
        correlation_id: "corr-1".into(),
        processing: Duration::from_micros(2_500),
        status: 403,
        error_type: None,
        error_message: None,
        matched_block: None,
        logged_user: Some("alice".into()),
        presented_identity: Some("alice".into()),
        action: "indices:data/read/search",
        indices: vec!["logs-*".into()],
        method: "GET",
        path: "/logs-*/_search".into(),
        headers: vec![
            ("Authorization".into(), "Basic dXNlcjpzZWNyZXQ=".into()),
            ("X-Api-Key".into(), "password=hunter2".into()),
            ("Content-Type".into(), "application/json".into()),
        ],
        origin: "10.0.0.7:51000".parse().unwrap(),
        destination: "10.0.0.1:9201".parse().unwrap(),
        xff: None,
        content_length: 2048,
        content: Some(br#"{"query":{"match_all":{}}}"#.to_vec()),
        blocks_history: vec![
            BlockTrace {
                name: "admins".into(),
                matched: false,
                cause: Some("AUTH_FAIL"),
            },
            BlockTrace {
                name: "readers".into(),
                matched: false,
                cause: Some("IDX_NOT_FOUND"),
            },
        ],
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
    event.matched_block = Some("readers".into());
    event.blocks_history[1].matched = true;
    event.blocks_history[1].cause = None;
    event.upstream_node = Some("127.0.0.1:9200".into());
    event.log_allowed = log_allowed;
    event
}
