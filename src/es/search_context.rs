//! Scroll and point-in-time (PIT) contexts as requests use them: which requests open one,
//! continue one, clear some or address all of them; the ids and keep-alive they name; and
//! what the node answers when an id names no context.
//!
//! Owns: that classification ([`ContextUse::read`]), Elasticsearch's time values
//! ([`parse_keep_alive`]) and the node's own "missing context" answers ([`NodeAnswer`]).
//! Must not: do IO or remember anything. Who opened which context is the store's
//! (`proxy::search_contexts`), which checks every id a request names before it is forwarded.
//! Sits in the walk in `proxy::decide`, next to `es::target`: the `_all` forms make the
//! request touch every index, so that the `indices` rule decides them.
//!
//! | request | use |
//! |---|---|
//! | `_search?scroll=`, `_search/template?scroll=` | opens a scroll: its `_scroll_id` is recorded |
//! | `POST /{index}/_search/point_in_time` (OpenSearch), `POST /{index}/_pit` (Elasticsearch) | opens a PIT (`pit_id`, `id`) |
//! | `GET/POST /_search/scroll[/{id}]` | continues: the body's `scroll_id`, else those of the path and `?scroll_id=` (all of them) |
//! | `GET/POST /_search` with `pit.id` in the body | continues a PIT (only index-less searches: the node refuses indices with a PIT) |
//! | `DELETE /_search/scroll[/{ids}]`, `DELETE /_search/point_in_time`, `DELETE /_pit` | clears ids (a scroll clear's body, when there is one, replaces the path's and query's) |
//! | any id `_all`, `DELETE /_search/point_in_time/_all`, `GET /_search/point_in_time/_all` | every context of the node |
//!
//! Not read: a `pit` rendered from a search template, `_msearch` lines and async searches
//! carrying one. Those name no index only when the gateway forwards them un-narrowed, that
//! is for users granted every index.

use super::body::{scan_context_ids, scan_search_pit, BodyError};
use super::route::{query_param, Classified, RouteError};
use super::target::Targets;
use base64::Engine as _;
use std::time::Duration;

/// The id that names every context in a clear or delete.
const ALL_CONTEXTS: &str = "_all";

/// Where a response names the context it opened or continued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdField {
    /// `_scroll_id` (searches with `scroll`, scroll continues).
    ScrollId,
    /// `pit_id` (OpenSearch PIT creation; searches with a PIT).
    PitId,
    /// `id` (Elasticsearch `POST /{index}/_pit`).
    Id,
}

impl IdField {
    /// The top-level key of the response.
    pub fn key(self) -> &'static str {
        match self {
            IdField::ScrollId => "_scroll_id",
            IdField::PitId => "pit_id",
            IdField::Id => "id",
        }
    }
}

/// Which answer the node gives to a clear of ids that name no context.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    /// A scroll clear, or Elasticsearch's PIT close: 404 `{"succeeded":true,"num_freed":0}`.
    ClearScroll,
    /// OpenSearch's PIT deletion: 200, each id reported as deleted.
    DeletePit,
}

/// How a request uses search contexts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContextUse {
    /// Not at all.
    None,
    /// Its ids may be in a body that has not been read yet.
    NeedsBody,
    /// It opens a context; the response names it under `field`.
    Open {
        field: IdField,
        keep_alive: Option<Duration>,
    },
    /// It continues the contexts `ids`; the response names the context under `field`
    /// (a PIT id may change).
    Continue {
        ids: Vec<String>,
        field: IdField,
        keep_alive: Option<Duration>,
    },
    /// It frees the contexts `ids`.
    Clear { ids: Vec<String>, missing: Missing },
    /// It reads or frees every context of the node.
    All,
}

/// A request whose ids cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContextError {
    Body(BodyError),
    Query(RouteError),
}

impl ContextError {
    pub fn status(&self) -> u16 {
        match self {
            ContextError::Body(e) => e.status(),
            ContextError::Query(_) => 400,
        }
    }

    pub fn es_type(&self) -> &'static str {
        match self {
            ContextError::Body(e) => e.es_type(),
            ContextError::Query(_) => "illegal_argument_exception",
        }
    }

    pub fn reason(&self) -> String {
        match self {
            ContextError::Body(e) => e.reason(),
            ContextError::Query(e) => e.reason().to_string(),
        }
    }
}

impl From<BodyError> for ContextError {
    fn from(e: BodyError) -> ContextError {
        ContextError::Body(e)
    }
}

impl From<RouteError> for ContextError {
    fn from(e: RouteError) -> ContextError {
        ContextError::Query(e)
    }
}

impl ContextUse {
    /// How the classified request uses contexts. `path` is its decoded path, `query` the
    /// bytes after `?`, `body` its payload once read, and `has_body` whether it has one
    /// (its own, or in the `source` parameter).
    pub fn read(
        classified: &Classified<'_>,
        path: &str,
        query: Option<&[u8]>,
        body: Option<&[u8]>,
        has_body: bool,
    ) -> Result<ContextUse, ContextError> {
        let param = |name| -> Result<Option<String>, RouteError> {
            let value = match query {
                Some(query) => query_param(query, name)?,
                None => None,
            };
            Ok(value.map(|v| String::from_utf8_lossy(&v).into_owned()))
        };
        let keep_alive = |name| -> Result<Option<Duration>, RouteError> {
            Ok(param(name)?.as_deref().and_then(parse_keep_alive))
        };
        let unread = has_body && body.is_none();
        let body = body.unwrap_or_default();
        Ok(match classified.api {
            "search" if has_body && classified.indices().next().is_none() => {
                if unread {
                    return Ok(ContextUse::NeedsBody);
                }
                match scan_search_pit(body)? {
                    Some(pit) => ContextUse::Continue {
                        ids: pit.ids,
                        field: IdField::PitId,
                        keep_alive: pit.keep_alive.as_deref().and_then(parse_keep_alive),
                    },
                    None => opens_scroll(param("scroll")?),
                }
            }
            "search" | "search_template" => opens_scroll(param("scroll")?),
            "scroll" => {
                if unread {
                    return Ok(ContextUse::NeedsBody);
                }
                let found = scan_context_ids(body, "scroll_id", Some("scroll"))?;
                // A `scroll_id` in the body replaces the parameter (`SearchScrollRequest::
                // fromXContent` after the parameters).
                let ids: Vec<String> = if found.ids.is_empty() {
                    classified
                        .parts
                        .get("scroll_id")
                        .map(|part| part.value.to_string())
                        .into_iter()
                        .chain(param("scroll_id")?)
                        .collect()
                } else {
                    found.ids
                };
                let keep_alive = match found.keep_alive {
                    Some(text) => parse_keep_alive(&text),
                    None => keep_alive("scroll")?,
                };
                ContextUse::Continue {
                    ids,
                    field: IdField::ScrollId,
                    keep_alive,
                }
            }
            "clear_scroll" => {
                if unread {
                    return Ok(ContextUse::NeedsBody);
                }
                // A body (or `source`) replaces the parameter's ids, whatever it holds
                // (`ClearScrollRequest::fromXContent` starts with none).
                if !body.is_empty() {
                    let ids = scan_context_ids(body, "scroll_id", None)?.ids;
                    return Ok(clears(ids, Missing::ClearScroll));
                }
                // The path and the query hold comma lists (`splitStringByCommaToArray`).
                let listed = classified
                    .parts
                    .get("scroll_id")
                    .map(|part| part.value.to_string())
                    .into_iter()
                    .chain(param("scroll_id")?);
                let ids: Vec<String> = listed
                    .flat_map(|list| {
                        list.split(',')
                            .filter(|id| !id.is_empty())
                            .map(str::to_string)
                            .collect::<Vec<_>>()
                    })
                    .collect();
                clears(ids, Missing::ClearScroll)
            }
            "opensearch.delete_pit" => {
                if path.trim_end_matches('/').ends_with("/_all") {
                    return Ok(ContextUse::All);
                }
                if unread {
                    return Ok(ContextUse::NeedsBody);
                }
                let ids = scan_context_ids(body, "pit_id", None)?.ids;
                clears(ids, Missing::DeletePit)
            }
            "close_point_in_time" => {
                if unread {
                    return Ok(ContextUse::NeedsBody);
                }
                let ids = scan_context_ids(body, "id", None)?.ids;
                clears(ids, Missing::ClearScroll)
            }
            "opensearch.create_pit" => ContextUse::Open {
                field: IdField::PitId,
                keep_alive: keep_alive("keep_alive")?,
            },
            "open_point_in_time" => ContextUse::Open {
                field: IdField::Id,
                keep_alive: keep_alive("keep_alive")?,
            },
            // Segments of every PIT, or of those named in the body: neither is read per id.
            "opensearch.get_all_pits" | "cat.pit_segments" => ContextUse::All,
            _ => ContextUse::None,
        })
    }

    /// A request that addresses every context touches every index: only a block that
    /// grants them all (or has no `indices` rule) allows it, and it is never narrowed.
    pub fn restrict(&self, targets: &mut Targets<'_>) {
        if *self == ContextUse::All {
            targets.all_indices = true;
            targets.narrowable = false;
        }
    }
}

fn opens_scroll(scroll: Option<String>) -> ContextUse {
    match scroll {
        Some(keep_alive) => ContextUse::Open {
            field: IdField::ScrollId,
            keep_alive: parse_keep_alive(&keep_alive),
        },
        None => ContextUse::None,
    }
}

/// `_all` among the ids frees every context (the node does so when it is the only id, and
/// refuses it otherwise).
fn clears(ids: Vec<String>, missing: Missing) -> ContextUse {
    if ids.iter().any(|id| id == ALL_CONTEXTS) {
        ContextUse::All
    } else {
        ContextUse::Clear { ids, missing }
    }
}

/// A response as the node writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeAnswer {
    pub status: u16,
    /// JSON.
    pub body: Vec<u8>,
}

impl NodeAnswer {
    /// The answer to a continue of `ids` (named as `field`) whose contexts are gone.
    pub fn continued(ids: &[String], field: IdField) -> NodeAnswer {
        let id = ids
            .first()
            .filter(|_| field == IdField::ScrollId)
            .and_then(|id| first_scroll_context(id))
            .unwrap_or(0);
        NodeAnswer::search_context_missing(id)
    }

    /// The answer to a clear of `ids` whose contexts are gone.
    pub fn cleared(ids: &[String], missing: Missing) -> NodeAnswer {
        match missing {
            Missing::DeletePit => NodeAnswer::pits_deleted(ids),
            Missing::ClearScroll => NodeAnswer {
                status: 404,
                body: br#"{"succeeded":true,"num_freed":0}"#.to_vec(),
            },
        }
    }

    /// OpenSearch 2.x's answer to a scroll continue whose context is gone (Elasticsearch
    /// 7.17 answers the same; for a PIT the node also names the shard's index and node,
    /// which the gateway does not know, and the number inside the id is not read: 0).
    fn search_context_missing(id: i64) -> NodeAnswer {
        let cause = serde_json::json!({
            "type": "search_context_missing_exception",
            "reason": format!("No search context found for id [{id}]"),
        });
        let body = serde_json::json!({
            "error": {
                "root_cause": [cause],
                "type": "search_phase_execution_exception",
                "reason": "all shards failed",
                "phase": "query",
                "grouped": true,
                "failed_shards": [{"shard": -1, "index": null, "reason": cause}],
                "caused_by": cause,
            },
            "status": 404,
        });
        NodeAnswer {
            status: 404,
            body: body.to_string().into_bytes(),
        }
    }

    /// OpenSearch 2.x's answer to deleting PITs that no longer exist: 200, each deleted.
    fn pits_deleted(ids: &[String]) -> NodeAnswer {
        let pits: Vec<serde_json::Value> = ids
            .iter()
            .map(|id| serde_json::json!({"successful": true, "pit_id": id}))
            .collect();
        NodeAnswer {
            status: 200,
            body: serde_json::json!({ "pits": pits }).to_string().into_bytes(),
        }
    }
}

/// An Elasticsearch time value (`TimeValue.parseTimeValue`): an integer and one of the
/// units `d h m s ms micros nanos`, case-insensitive. `None` for anything else, for `-1`
/// and for values too large to hold; the node refuses those or keeps its default.
pub fn parse_keep_alive(text: &str) -> Option<Duration> {
    let normalized = text.trim().to_ascii_lowercase();
    // Longest suffixes first: `ms` before `s` and `m`, `nanos` and `micros` before `s`.
    const UNITS: [(&str, u64); 7] = [
        ("nanos", 1),
        ("micros", 1_000),
        ("ms", 1_000_000),
        ("s", 1_000_000_000),
        ("m", 60_000_000_000),
        ("h", 3_600_000_000_000),
        ("d", 86_400_000_000_000),
    ];
    if normalized.chars().all(|c| c == '0') && !normalized.is_empty() {
        return Some(Duration::ZERO);
    }
    let (number, nanos_per_unit) = UNITS
        .iter()
        .find_map(|(unit, nanos)| Some((normalized.strip_suffix(unit)?, *nanos)))?;
    let number = number.trim();
    let digits = number.strip_prefix('+').unwrap_or(number);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value: u64 = digits.parse().ok()?;
    Some(Duration::from_nanos(value.checked_mul(nanos_per_unit)?))
}

/// The number of the first shard context a scroll id names, as the node reports it in
/// "No search context found for id [N]". The id is Base64 (URL alphabet) of the node's
/// stream encoding (`TransportSearchHelper.buildScrollId`): an optional
/// `include_context_uuid` marker, the search type, the number of shards, then per shard
/// (a context UUID if marked,) the context number and the node.
pub fn first_scroll_context(id: &str) -> Option<i64> {
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let bytes = engine.decode(id).ok()?;
    let mut stream = JavaStream(&bytes);
    let first = stream.skip_string()?;
    let marked = first == b"include_context_uuid";
    if marked {
        stream.skip_string()?;
    }
    if stream.vint()? == 0 {
        return None;
    }
    if marked {
        stream.skip_string()?;
    }
    stream.long()
}

/// Reads what a Java `StreamOutput` wrote.
struct JavaStream<'a>(&'a [u8]);

impl<'a> JavaStream<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = rest;
        Some(head)
    }

    /// A variable-length int: 7 bits per byte, low groups first, at most 5 bytes.
    fn vint(&mut self) -> Option<u32> {
        let mut value = 0u32;
        for shift in (0..35).step_by(7) {
            let byte = *self.take(1)?.first()?;
            value |= u32::from(byte & 0x7f).checked_shl(shift)?;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    /// A string (`writeString`: a char count, then each char in one to three bytes);
    /// returns its bytes.
    fn skip_string(&mut self) -> Option<&'a [u8]> {
        let chars = self.vint()?;
        let start = self.0;
        let mut len = 0usize;
        for _ in 0..chars {
            let lead = *start.get(len)?;
            len += match lead >> 4 {
                0..=7 => 1,
                12 | 13 => 2,
                14 => 3,
                _ => return None,
            };
        }
        self.take(len)
    }

    fn long(&mut self) -> Option<i64> {
        let bytes: [u8; 8] = self.take(8)?.try_into().ok()?;
        Some(i64::from_be_bytes(bytes))
    }
}

#[cfg(test)]
mod tests;
