//! Turning an [`Event`] into one JSON line, in ReadonlyREST's or Elastic Common Schema's shape.
//!
//! No IO. Runs on the audit writer thread, never on a worker. Header values are never written:
//! the documents carry header names only (as ReadonlyREST's serializers do), so credentials in
//! `Authorization`, cookies or API-key headers cannot leak through any serializer.

use super::event::{Event, EventType, FinalState};
use super::settings::{AllowedEvents, Serializer};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

/// The `es_node_name` written in ReadonlyREST-shaped documents.
const NODE_NAME: &str = "ringfence";
/// The ECS version the documents follow.
const ECS_VERSION: &str = "1.6.0";

/// The event as one JSON document followed by no newline, or `None` when `serializer` skips it
/// (an allowed request from a block that does not log allowed events).
pub fn to_json_line(event: &Event, serializer: &Serializer) -> Option<Vec<u8>> {
    let document = match *serializer {
        Serializer::Standard {
            allowed,
            include_content,
        } => {
            if event.final_state == FinalState::Allowed
                && allowed == AllowedEvents::FromBlocksThatLogThem
                && !event.log_allowed
            {
                return None;
            }
            standard(event, include_content)
        }
        Serializer::Ecs {
            include_full_request_content,
        } => {
            // ECS is ROR's "based on block settings" mode too: `verbosity: error` hides allowed
            // requests whatever the document shape.
            if event.final_state == FinalState::Allowed && !event.log_allowed {
                return None;
            }
            ecs(event, include_full_request_content)
        }
    };
    // Serializing a `Value` built from strings and numbers cannot fail.
    serde_json::to_vec(&document).ok()
}

fn timestamp(event: &Event) -> String {
    DateTime::<Utc>::from(event.timestamp).to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn header_names(event: &Event) -> Vec<&str> {
    event
        .headers
        .iter()
        .map(|(name, _)| name.as_str())
        .collect()
}

fn content(event: &Event) -> Option<String> {
    event
        .content
        .as_deref()
        .map(|body| String::from_utf8_lossy(body).into_owned())
}

/// `[block1->false], [block2->true]`, as ReadonlyREST's `acl_history`.
fn acl_history(event: &Event) -> String {
    let entries: Vec<String> = event
        .blocks_history
        .iter()
        .map(|block| format!("[{}->{}]", block.name, block.matched))
        .collect();
    entries.join(", ")
}

fn blocks_history(event: &Event) -> Value {
    event
        .blocks_history
        .iter()
        .map(|block| {
            let mut entry = Map::new();
            entry.insert("name".into(), block.name.clone().into());
            entry.insert("matched".into(), block.matched.into());
            if let Some(cause) = block.cause {
                entry.insert("forbidden_cause".into(), cause.into());
            }
            Value::Object(entry)
        })
        .collect()
}

/// Inserts `value` unless it is absent (ReadonlyREST leaves out null fields).
fn put(map: &mut Map<String, Value>, key: &str, value: Option<impl Into<Value>>) {
    if let Some(value) = value {
        map.insert(key.to_string(), value.into());
    }
}

fn standard(event: &Event, include_content: bool) -> Value {
    let mut doc = Map::new();
    doc.insert("match".into(), event.matched_block.is_some().into());
    doc.insert(
        "matched_block_names".into(),
        event
            .matched_block
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .into(),
    );
    put(&mut doc, "block", event.matched_block.clone());
    doc.insert("id".into(), event.id.clone().into());
    doc.insert("final_state".into(), event.final_state.as_str().into());
    doc.insert("@timestamp".into(), timestamp(event).into());
    doc.insert("correlation_id".into(), event.correlation_id.clone().into());
    doc.insert(
        "processingMillis".into(),
        (event.processing.as_millis() as u64).into(),
    );
    put(&mut doc, "error_type", event.error_type);
    put(&mut doc, "error_message", event.error_message.clone());
    doc.insert("content_len".into(), event.content_length.into());
    doc.insert(
        "content_len_kb".into(),
        (event.content_length / 1024).into(),
    );
    doc.insert("type".into(), event.event_type.as_str().into());
    doc.insert("origin".into(), event.origin.ip().to_string().into());
    doc.insert(
        "destination".into(),
        event.destination.ip().to_string().into(),
    );
    put(&mut doc, "xff", event.xff.clone());
    doc.insert("req_method".into(), event.method.into());
    doc.insert("headers".into(), header_names(event).into());
    doc.insert("path".into(), event.path.clone().into());
    // `user` is ReadonlyREST's deprecated spelling of `logged_user`; both are written.
    put(&mut doc, "user", event.logged_user.clone());
    put(&mut doc, "logged_user", event.logged_user.clone());
    put(
        &mut doc,
        "presented_identity",
        event.presented_identity.clone(),
    );
    doc.insert("action".into(), event.action.into());
    doc.insert("indices".into(), event.indices.clone().into());
    doc.insert("acl_history".into(), acl_history(event).into());
    doc.insert("blocks_history".into(), blocks_history(event));
    if event.status != 0 {
        doc.insert("status".into(), event.status.into());
    }
    put(&mut doc, "upstream_node", event.upstream_node.clone());
    doc.insert("es_node_name".into(), NODE_NAME.into());
    if include_content {
        put(&mut doc, "content", content(event));
    }
    Value::Object(doc)
}

fn ecs(event: &Event, include_content: bool) -> Value {
    let allowed = event.final_state == FinalState::Allowed;
    let category = match event.event_type {
        EventType::AuthenticationFailed | EventType::AnonymousAccessDenied => "authentication",
        _ => "web",
    };
    let mut request = json!({
        "method": event.method,
        "body": { "bytes": event.content_length },
    });
    if include_content {
        if let Some(body) = content(event) {
            request["body"]["content"] = body.into();
        }
    }
    let (event_type, outcome) = if allowed {
        (["access", "allowed"], "success")
    } else {
        (["access", "denied"], "failure")
    };
    let mut doc = json!({
        "@timestamp": timestamp(event),
        "ecs": { "version": ECS_VERSION },
        "event": {
            "kind": "event",
            "category": [category],
            "type": event_type,
            "action": event.event_type.as_str(),
            "outcome": outcome,
            "duration": event.processing.as_nanos() as u64,
            "id": event.id,
        },
        "trace": { "id": event.correlation_id },
        "source": { "address": event.origin.ip().to_string(), "port": event.origin.port() },
        "destination": {
            "address": event.destination.ip().to_string(),
            "port": event.destination.port(),
        },
        "http": { "request": request },
        "url": { "path": event.path },
        "ringfence": {
            "final_state": event.final_state.as_str(),
            "action": event.action,
            "indices": event.indices,
            "headers": header_names(event),
            "acl_history": acl_history(event),
            "blocks_history": blocks_history(event),
        },
    });
    if event.status != 0 {
        doc["http"]["response"] = json!({ "status_code": event.status });
    }
    if let Some(user) = &event.logged_user {
        doc["user"] = json!({ "name": user });
    }
    let ringfence = &mut doc["ringfence"];
    for (key, value) in [
        ("matched_block", event.matched_block.clone()),
        ("presented_identity", event.presented_identity.clone()),
        ("xff", event.xff.clone()),
        ("error_message", event.error_message.clone()),
        ("error_type", event.error_type.map(str::to_string)),
        ("upstream_node", event.upstream_node.clone()),
    ] {
        if let Some(value) = value {
            ringfence[key] = value.into();
        }
    }
    doc
}

#[cfg(test)]
mod tests;
