//! Turning an [`Event`] into one JSON line, in ReadonlyREST's or Elastic Common Schema's shape.
//!
//! No IO. Runs on the audit writer thread, never on a worker. Header values are never written:
//! the documents carry header names only (as ReadonlyREST's serializers do), so credentials in
//! `Authorization`, cookies or API-key headers cannot leak through any serializer.
//!
//! The writer streams the document straight into a reused buffer: keys are literals, strings
//! are escaped as they are copied, numbers, addresses and the timestamp are formatted in
//! place. No `serde_json::Value`, no map, no intermediate string; the field order is fixed
//! here and is the order ReadonlyREST's documents have.

use super::event::{Event, EventType, FinalState};
use super::settings::{AllowedEvents, Serializer};
use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

/// The `es_node_name` written in ReadonlyREST-shaped documents.
const NODE_NAME: &str = "ringfence";
/// The ECS version the documents follow.
const ECS_VERSION: &str = "1.6.0";

/// Whether `serializer` leaves the event out: an allowed request from a block that does not
/// log allowed events (ECS is ROR's "based on block settings" mode too: `verbosity: error`
/// hides allowed requests whatever the document shape).
pub fn skips(event: &Event, serializer: &Serializer) -> bool {
    let from_quiet_block = event.final_state == FinalState::Allowed && !event.log_allowed;
    match *serializer {
        Serializer::Standard { allowed, .. } => {
            from_quiet_block && allowed == AllowedEvents::FromBlocksThatLogThem
        }
        Serializer::Ecs { .. } => from_quiet_block,
    }
}

/// Appends the event as one JSON document, without a newline, to `out` (whether or not
/// [`skips`] says the serializer leaves it out).
pub fn write_document(event: &Event, serializer: &Serializer, out: &mut Vec<u8>) {
    let mut json = Json(out);
    match *serializer {
        Serializer::Standard {
            include_content, ..
        } => standard(event, include_content, &mut json),
        Serializer::Ecs {
            include_full_request_content,
        } => ecs(event, include_full_request_content, &mut json),
    }
}

fn standard(event: &Event, include_content: bool, json: &mut Json) {
    let request = &event.request;
    let matched_block = event.matched_block();
    json.raw("{\"match\":");
    json.boolean(matched_block.is_some());
    json.raw(",\"matched_block_names\":");
    json.strings(matched_block);
    json.optional(",\"block\":", matched_block);
    json.raw(",\"id\":");
    json.string(&request.id);
    json.raw(",\"final_state\":");
    json.string(event.final_state.as_str());
    json.raw(",\"@timestamp\":");
    json.timestamp(event.timestamp);
    json.raw(",\"correlation_id\":");
    json.string(request.correlation_id());
    json.raw(",\"processingMillis\":");
    json.number(event.processing.as_millis() as u64);
    json.optional(",\"error_type\":", event.error_type);
    json.optional(",\"error_message\":", event.error_message.as_deref());
    json.raw(",\"content_len\":");
    json.number(event.content_length);
    json.raw(",\"content_len_kb\":");
    json.number(event.content_length / 1024);
    json.raw(",\"type\":");
    json.string(event.event_type.as_str());
    json.raw(",\"origin\":");
    json.address(event.origin.ip());
    json.raw(",\"destination\":");
    json.address(event.destination.ip());
    json.optional(",\"xff\":", request.forwarded_for.as_deref());
    json.raw(",\"req_method\":");
    json.string(request.method);
    json.raw(",\"headers\":");
    json.strings(request.header_names.iter());
    json.raw(",\"path\":");
    json.string(&request.path);
    // `user` is ReadonlyREST's deprecated spelling of `logged_user`; both are written.
    json.optional(",\"user\":", event.logged_user.as_deref());
    json.optional(",\"logged_user\":", event.logged_user.as_deref());
    json.optional(
        ",\"presented_identity\":",
        event.presented_identity.as_deref(),
    );
    json.raw(",\"action\":");
    json.string(event.action);
    json.raw(",\"indices\":");
    json.strings(&event.indices);
    history(event, json);
    if event.status != 0 {
        json.raw(",\"status\":");
        json.number(event.status.into());
    }
    json.optional(",\"upstream_node\":", event.upstream_node.as_deref());
    json.raw(",\"es_node_name\":");
    json.string(NODE_NAME);
    if include_content {
        if let Some(body) = &event.content {
            json.raw(",\"content\":");
            json.string(&String::from_utf8_lossy(body));
        }
    }
    json.raw("}");
}

fn ecs(event: &Event, include_content: bool, json: &mut Json) {
    let request = &event.request;
    let category = match event.event_type {
        EventType::AuthenticationFailed | EventType::AnonymousAccessDenied => "authentication",
        _ => "web",
    };
    let (event_type, outcome) = if event.final_state == FinalState::Allowed {
        ("[\"access\",\"allowed\"]", "success")
    } else {
        ("[\"access\",\"denied\"]", "failure")
    };
    json.raw("{\"@timestamp\":");
    json.timestamp(event.timestamp);
    json.raw(",\"ecs\":{\"version\":");
    json.string(ECS_VERSION);
    json.raw("},\"event\":{\"kind\":\"event\",\"category\":[");
    json.string(category);
    json.raw("],\"type\":");
    json.raw(event_type);
    json.raw(",\"action\":");
    json.string(event.event_type.as_str());
    json.raw(",\"outcome\":");
    json.string(outcome);
    json.raw(",\"duration\":");
    json.number(event.processing.as_nanos() as u64);
    json.raw(",\"id\":");
    json.string(&request.id);
    json.raw("},\"trace\":{\"id\":");
    json.string(request.correlation_id());
    json.raw("},\"source\":{\"address\":");
    json.address(event.origin.ip());
    json.raw(",\"port\":");
    json.number(event.origin.port().into());
    json.raw("},\"destination\":{\"address\":");
    json.address(event.destination.ip());
    json.raw(",\"port\":");
    json.number(event.destination.port().into());
    json.raw("},\"http\":{\"request\":{\"method\":");
    json.string(request.method);
    json.raw(",\"body\":{\"bytes\":");
    json.number(event.content_length);
    if include_content {
        if let Some(body) = &event.content {
            json.raw(",\"content\":");
            json.string(&String::from_utf8_lossy(body));
        }
    }
    json.raw("}}");
    if event.status != 0 {
        json.raw(",\"response\":{\"status_code\":");
        json.number(event.status.into());
        json.raw("}");
    }
    json.raw("},\"url\":{\"path\":");
    json.string(&request.path);
    json.raw("},\"ringfence\":{\"final_state\":");
    json.string(event.final_state.as_str());
    json.raw(",\"action\":");
    json.string(event.action);
    json.raw(",\"indices\":");
    json.strings(&event.indices);
    json.raw(",\"headers\":");
    json.strings(request.header_names.iter());
    history(event, json);
    json.optional(",\"matched_block\":", event.matched_block());
    json.optional(
        ",\"presented_identity\":",
        event.presented_identity.as_deref(),
    );
    json.optional(",\"xff\":", request.forwarded_for.as_deref());
    json.optional(",\"error_message\":", event.error_message.as_deref());
    json.optional(",\"error_type\":", event.error_type);
    json.optional(",\"upstream_node\":", event.upstream_node.as_deref());
    json.raw("}");
    if let Some(user) = &event.logged_user {
        json.raw(",\"user\":{\"name\":");
        json.string(user);
        json.raw("}");
    }
    json.raw("}");
}

/// `acl_history` (`"[block1->false], [block2->true]"`) and `blocks_history` (one object per
/// block tried), both preceded by a comma.
fn history(event: &Event, json: &mut Json) {
    let blocks = event
        .blocks_history
        .iter()
        .flat_map(|history| history.iter());
    json.raw(",\"acl_history\":\"");
    for (position, block) in blocks.clone().enumerate() {
        if position > 0 {
            json.raw(", ");
        }
        json.raw("[");
        json.escaped(block.name);
        json.raw(if block.matched { "->true]" } else { "->false]" });
    }
    json.raw("\",\"blocks_history\":[");
    for (position, block) in blocks.enumerate() {
        if position > 0 {
            json.raw(",");
        }
        json.raw("{\"name\":");
        json.string(block.name);
        json.raw(if block.matched {
            ",\"matched\":true"
        } else {
            ",\"matched\":false"
        });
        json.optional(",\"forbidden_cause\":", block.cause);
        json.raw("}");
    }
    json.raw("]");
}

/// A JSON writer over a byte buffer; every value written is complete and valid.
struct Json<'a>(&'a mut Vec<u8>);

impl Json<'_> {
    /// Copies `text` as is: a literal key, punctuation, or a constant that needs no escaping.
    fn raw(&mut self, text: &str) {
        self.0.extend_from_slice(text.as_bytes());
    }

    fn boolean(&mut self, value: bool) {
        self.raw(if value { "true" } else { "false" });
    }

    fn number(&mut self, mut value: u64) {
        if value < 10 {
            // Most numbers here are small (address octets, sizes, milliseconds).
            self.0.push(b'0' + value as u8);
            return;
        }
        let mut digits = [0u8; 20];
        let mut start = digits.len();
        while value > 0 {
            start -= 1;
            digits[start] = b'0' + (value % 10) as u8;
            value /= 10;
        }
        self.0.extend_from_slice(&digits[start..]);
    }

    fn string(&mut self, text: &str) {
        self.0.push(b'"');
        self.escaped(text);
        self.0.push(b'"');
    }

    /// `key` (a literal with its leading comma and trailing colon) and the string, when there
    /// is one: ReadonlyREST leaves out null fields.
    fn optional(&mut self, key: &str, value: Option<&str>) {
        if let Some(value) = value {
            self.raw(key);
            self.string(value);
        }
    }

    fn strings<S: AsRef<str>>(&mut self, values: impl IntoIterator<Item = S>) {
        self.0.push(b'[');
        for (position, value) in values.into_iter().enumerate() {
            if position > 0 {
                self.0.push(b',');
            }
            self.string(value.as_ref());
        }
        self.0.push(b']');
    }

    /// The inside of a JSON string (RFC 8259 section 7), escaped as `serde_json` does: quote,
    /// backslash and control characters only; everything else, non-ASCII included, is copied.
    fn escaped(&mut self, text: &str) {
        let mut rest = text.as_bytes();
        while let Some(position) = first_to_escape(rest) {
            self.0.extend_from_slice(&rest[..position]);
            self.escape(rest[position]);
            rest = &rest[position + 1..];
        }
        self.0.extend_from_slice(rest);
    }

    fn escape(&mut self, byte: u8) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let short = match byte {
            b'"' => b'"',
            b'\\' => b'\\',
            b'\n' => b'n',
            b'\r' => b'r',
            b'\t' => b't',
            0x08 => b'b',
            0x0c => b'f',
            _ => {
                let hex = [HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 0xf)]];
                self.0
                    .extend_from_slice(&[b'\\', b'u', b'0', b'0', hex[0], hex[1]]);
                return;
            }
        };
        self.0.extend_from_slice(&[b'\\', short]);
    }

    /// The address as a JSON string, `10.0.0.7` or `2001:db8::7`.
    fn address(&mut self, address: IpAddr) {
        self.0.push(b'"');
        match address {
            IpAddr::V4(v4) => {
                for (position, octet) in v4.octets().into_iter().enumerate() {
                    if position > 0 {
                        self.0.push(b'.');
                    }
                    self.number(octet.into());
                }
            }
            IpAddr::V6(v6) => {
                use std::io::Write;
                // Writing into a `Vec` cannot fail.
                let _ = write!(self.0, "{v6}");
            }
        }
        self.0.push(b'"');
    }

    /// `"2024-03-07T09:05:02.123Z"`: RFC 3339, UTC, milliseconds.
    fn timestamp(&mut self, at: SystemTime) {
        let millis = match at.duration_since(UNIX_EPOCH) {
            Ok(since) => since.as_millis() as i64,
            Err(before) => -(before.duration().as_millis() as i64),
        };
        let (days, millis_of_day) = (millis.div_euclid(86_400_000), millis.rem_euclid(86_400_000));
        let (year, month, day) = civil_date(days);
        let seconds_of_day = millis_of_day / 1000;
        let mut text = *b"\"0000-00-00T00:00:00.000Z\"";
        put_digits(&mut text[1..5], year);
        put_digits(&mut text[6..8], month);
        put_digits(&mut text[9..11], day);
        put_digits(&mut text[12..14], seconds_of_day / 3600);
        put_digits(&mut text[15..17], seconds_of_day / 60 % 60);
        put_digits(&mut text[18..20], seconds_of_day % 60);
        put_digits(&mut text[21..24], millis_of_day % 1000);
        self.0.extend_from_slice(&text);
    }
}

/// Where the first byte a JSON string must escape (a control character, `"` or `\\`) is.
/// Looks at eight bytes at a time: audit strings rarely hold any.
fn first_to_escape(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGH_BITS: u64 = u64::from_ne_bytes([0x80; 8]);
    /// High bit set in each byte of `word` that is below `limit` (at most 0x80); exact for
    /// the lowest such byte, which is all [`first_to_escape`] reads.
    fn below(word: u64, limit: u8) -> u64 {
        word.wrapping_sub(ONES * u64::from(limit)) & !word & HIGH_BITS
    }
    let mut chunks = bytes.chunks_exact(8);
    for (index, chunk) in chunks.by_ref().enumerate() {
        let word = u64::from_le_bytes(chunk.try_into().expect("chunks of eight bytes"));
        let found = below(word, 0x20)
            | below(word ^ (ONES * u64::from(b'"')), 1)
            | below(word ^ (ONES * u64::from(b'\\')), 1);
        if found != 0 {
            // Little-endian: the lowest flagged byte comes first in the text.
            return Some(index * 8 + found.trailing_zeros() as usize / 8);
        }
    }
    let rest = chunks.remainder();
    let position = rest
        .iter()
        .position(|&byte| byte < 0x20 || byte == b'"' || byte == b'\\')?;
    Some(bytes.len() - rest.len() + position)
}

/// Writes the last `slot.len()` decimal digits of `value` (which is not negative) into `slot`.
fn put_digits(slot: &mut [u8], mut value: i64) {
    for digit in slot.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

/// (year, month, day) of the proleptic Gregorian calendar for a count of days since
/// 1970-01-01 (Howard Hinnant's `civil_from_days`), for years 0 to 9999.
fn civil_date(days_since_epoch: i64) -> (i64, i64, i64) {
    let days = days_since_epoch + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year.clamp(0, 9999), month, day)
}

#[cfg(test)]
mod tests;
