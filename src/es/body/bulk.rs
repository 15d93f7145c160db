//! `_bulk` NDJSON: the target index and operation of every item.
//!
//! Owns: reading action/metadata lines exactly as Elasticsearch's `BulkRequestParser` does
//! (8.x/9.x strict mode) and skipping the source line that follows `index`, `create` and
//! `update`. Must not: parse source lines (they are the bulk of the bytes and are skipped with
//! `memchr`), allocate per item, or guess: anything Elasticsearch would read differently from
//! us, or reject, is an error here.
//!
//! Decisions, with the Elasticsearch behaviour they follow:
//! - Lines end at `\n`; a `\r` before it is whitespace. Blank or whitespace-only lines where
//!   an action is expected are skipped (`nextToken() == null`) but counted.
//! - The action line must be exactly one object with one key, the action, whose value is an
//!   object; nothing may follow its closing brace (9.x rejects what 8.x only warned about).
//! - Known parameters: `_index _type _id routing op_type version version_type
//!   retry_on_conflict pipeline _source if_seq_no if_primary_term require_alias
//!   require_data_stream list_executed_pipelines dynamic_templates`. Anything else is an
//!   error, as in Elasticsearch. `_type` is accepted (7.x clients) and ignored: it never
//!   changes the index.
//! - `_index` must be a string (Elasticsearch would also take a number or boolean as text;
//!   we refuse). `null` means "not given", as `VALUE_NULL` is skipped by Elasticsearch, so
//!   the path's default index applies. Missing both is an error (Elasticsearch: "index is
//!   missing").
//! - A repeated key is an error (Jackson's strict duplicate detection is on in
//!   Elasticsearch), so `{"_index":"a","_index":"b"}` never means either.
//! - Keys and values are JSON-decoded before comparison: `"lo\u0067s"` is `logs`.
//! - `{"index":{"op_type":"create"}}` is reported as [`BulkOp::Create`], as Elasticsearch
//!   turns it into a create; any other `op_type` leaves `index`.
//! - The body must end with `\n` ("The bulk request must be terminated by a newline").
//!   An action with no source line at the very end is an error here (Elasticsearch drops it
//!   silently).
//! - Arrays as parameter values are rejected; objects only for `_source` and
//!   `dynamic_templates`, as in Elasticsearch.

use std::borrow::Cow;

use super::error::{BodyError, Loc};
use super::inflate::{ContentEncoding, Inflater};
use super::json::{Kind, Reader};
use super::names::{single_index, Seen};
use super::ndjson::{End, Framer, Next};

/// A bulk item's operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BulkOp {
    Index,
    Create,
    Update,
    Delete,
}

impl BulkOp {
    /// The Elasticsearch name of the operation.
    pub fn as_str(self) -> &'static str {
        match self {
            BulkOp::Index => "index",
            BulkOp::Create => "create",
            BulkOp::Update => "update",
            BulkOp::Delete => "delete",
        }
    }
}

/// One bulk item, handed to the caller's callback; borrows the body or scanner buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BulkItem<'a> {
    /// 1-based line number of the action line.
    pub line: u32,
    pub op: BulkOp,
    /// The target index (explicit `_index`, else the path's default), decoded.
    pub index: &'a str,
    /// The ingest `pipeline` the item names, decoded (a number or boolean as its JSON text,
    /// as Elasticsearch reads it with `parser.text()`). A pipeline can rewrite `_index` (the
    /// `reroute` processor, `ctx._index`), so the index above is where the document is *sent*.
    pub pipeline: Option<&'a str>,
}

/// Counts for a whole bulk body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BulkSummary {
    pub index: u64,
    pub create: u64,
    pub update: u64,
    pub delete: u64,
    /// Items that named an ingest pipeline.
    pub with_pipeline: u64,
    /// Lines in the body (every `\n`, blank lines included).
    pub lines: u32,
}

impl BulkSummary {
    /// All items.
    pub fn items(&self) -> u64 {
        self.index + self.create + self.update + self.delete
    }

    fn count(&mut self, op: BulkOp, pipeline: bool) {
        let slot = match op {
            BulkOp::Index => &mut self.index,
            BulkOp::Create => &mut self.create,
            BulkOp::Update => &mut self.update,
            BulkOp::Delete => &mut self.delete,
        };
        *slot += 1;
        self.with_pipeline += u64::from(pipeline);
    }
}

/// Incremental bulk scanner: feed the body in any number of chunks, then `finish`.
///
/// ```ignore
/// let mut scanner = BulkScanner::new(Some("logs"));
/// for chunk in body_chunks {
///     scanner.feed(chunk, &mut |item| check(item.index, item.op))?;
/// }
/// let summary = scanner.finish()?;
/// ```
#[derive(Debug)]
pub struct BulkScanner<'d> {
    default_index: Option<&'d str>,
    framer: Framer,
    summary: BulkSummary,
    last: LastAction,
}

/// Action lines longer than this are always parsed (kept, they would cost a copy each).
const MAX_REMEMBERED_ACTION_BYTES: usize = 256;

/// The last action line that named an item, and what it said. Logstash and Beats write the
/// same action line before every document of a batch; a line byte for byte equal to the
/// last one reads the same (an action line's item depends only on its bytes and the path's
/// default index, fixed per scanner), so it is compared instead of parsed again.
#[derive(Debug, Default)]
struct LastAction {
    /// Empty: nothing remembered.
    line: Vec<u8>,
    op: Option<BulkOp>,
    index: String,
    pipeline: Option<String>,
}

impl LastAction {
    #[inline]
    fn item(&self, line: u32, bytes: &[u8]) -> Option<BulkItem<'_>> {
        match self.op {
            Some(op) if self.line == bytes => Some(BulkItem {
                line,
                op,
                index: &self.index,
                pipeline: self.pipeline.as_deref(),
            }),
            _ => None,
        }
    }

    fn remember(&mut self, bytes: &[u8], item: &BulkItem<'_>) {
        if bytes.len() > MAX_REMEMBERED_ACTION_BYTES {
            self.op = None;
            return;
        }
        self.line.clear();
        self.line.extend_from_slice(bytes);
        self.op = Some(item.op);
        self.index.clear();
        self.index.push_str(item.index);
        match (&mut self.pipeline, item.pipeline) {
            (Some(kept), Some(name)) => {
                kept.clear();
                kept.push_str(name);
            }
            (kept, name) => *kept = name.map(str::to_string),
        }
    }
}

impl<'d> BulkScanner<'d> {
    /// `default_index` is the `{index}` of `/{index}/_bulk`, if any.
    pub fn new(default_index: Option<&'d str>) -> Self {
        BulkScanner {
            default_index,
            framer: Framer::default(),
            summary: BulkSummary::default(),
            last: LastAction::default(),
        }
    }

    /// Scans the next chunk, calling `each` for every complete item in it. After an error
    /// every later call returns the same error.
    pub fn feed(
        &mut self,
        chunk: &[u8],
        each: &mut impl FnMut(BulkItem<'_>),
    ) -> Result<(), BodyError> {
        let default_index = self.default_index;
        let summary = &mut self.summary;
        let last = &mut self.last;
        self.framer.feed(chunk, |line, bytes| {
            if let Some(item) = last.item(line, bytes) {
                summary.count(item.op, item.pipeline.is_some());
                each(item);
                return Ok(next_after(item.op));
            }
            action_line(line, bytes, default_index, &mut |item| {
                summary.count(item.op, item.pipeline.is_some());
                last.remember(bytes, &item);
                each(item);
            })
        })
    }

    /// Ends the body; fails if it was cut short.
    pub fn finish(&self) -> Result<BulkSummary, BodyError> {
        match self.framer.finish()? {
            End::Clean => Ok(BulkSummary {
                lines: self.framer.lines(),
                ..self.summary
            }),
            End::PayloadMissing(line) => Err(BodyError::MissingSourceLine { line }),
        }
    }
}

/// Scans a complete bulk body.
pub fn scan_bulk(
    body: &[u8],
    default_index: Option<&str>,
    mut each: impl FnMut(BulkItem<'_>),
) -> Result<BulkSummary, BodyError> {
    let mut scanner = BulkScanner::new(default_index);
    scanner.feed(body, &mut each)?;
    scanner.finish()
}

/// Scans a complete bulk body sent with `encoding`, inflating it on the fly (never holding
/// more than one inflate buffer) and refusing more than `max_inflated_bytes` of it.
pub fn scan_bulk_encoded(
    body: &[u8],
    encoding: ContentEncoding,
    default_index: Option<&str>,
    max_inflated_bytes: u64,
    mut each: impl FnMut(BulkItem<'_>),
) -> Result<BulkSummary, BodyError> {
    let mut scanner = BulkScanner::new(default_index);
    let mut inflater = Inflater::new(encoding, max_inflated_bytes);
    inflater.feed(body, |piece| scanner.feed(piece, &mut each))?;
    inflater.finish()?;
    scanner.finish()
}

/// Parameter keys of an action line, as bit numbers for duplicate detection (a `match` on
/// the bytes compiles to a dispatch on length, cheaper than a table scan per key).
#[inline]
fn key_bit(key: &[u8]) -> Option<u32> {
    Some(match key {
        b"_index" => K_INDEX,
        b"_type" => 1,
        b"_id" => 2,
        b"routing" => 3,
        b"op_type" => K_OP_TYPE,
        b"version" => 5,
        b"version_type" => 6,
        b"retry_on_conflict" => 7,
        b"pipeline" => K_PIPELINE,
        b"_source" => K_SOURCE,
        b"if_seq_no" => 10,
        b"if_primary_term" => 11,
        b"require_alias" => 12,
        b"require_data_stream" => 13,
        b"list_executed_pipelines" => 14,
        b"dynamic_templates" => K_DYNAMIC_TEMPLATES,
        _ => return None,
    })
}
const K_INDEX: u32 = 0;
const K_OP_TYPE: u32 = 4;
const K_PIPELINE: u32 = 8;
const K_SOURCE: u32 = 9;
const K_DYNAMIC_TEMPLATES: u32 = 15;

/// Parses one action line and reports its item; says whether a source line follows.
#[inline]
fn action_line(
    line: u32,
    bytes: &[u8],
    default_index: Option<&str>,
    each: &mut dyn FnMut(BulkItem<'_>),
) -> Result<Next, BodyError> {
    let loc = Loc::Line(line);
    let json = |e| loc.json(e);
    let shape = || BodyError::UnexpectedJson { line };
    let mut r = Reader::new(bytes);
    if r.at_end() {
        return Ok(Next::Meta);
    }
    if r.peek().map_err(json)? != Kind::Object {
        return Err(shape());
    }
    r.begin_object().map_err(json)?;
    let mut first = true;
    let action = r.next_key(&mut first).map_err(json)?.ok_or_else(shape)?;
    let mut op = match &*action {
        b"index" => BulkOp::Index,
        b"create" => BulkOp::Create,
        b"update" => BulkOp::Update,
        b"delete" => BulkOp::Delete,
        _ => return Err(BodyError::UnknownBulkAction { line }),
    };
    if r.peek().map_err(json)? != Kind::Object {
        return Err(shape());
    }
    r.begin_object().map_err(json)?;

    let mut index: Option<Cow<'_, str>> = None;
    let mut pipeline: Option<Cow<'_, str>> = None;
    let mut seen = Seen::default();
    let mut pfirst = true;
    while let Some(key) = r.next_key(&mut pfirst).map_err(json)? {
        let bit = key_bit(&key).ok_or(BodyError::UnknownParameter { line })?;
        if !seen.first(bit) {
            return Err(BodyError::DuplicateKey { line });
        }
        let kind = r.peek().map_err(json)?;
        match bit {
            K_INDEX => index = single_index(&mut r, loc)?,
            K_SOURCE if kind != Kind::Array => r.skip_value().map_err(json)?,
            K_DYNAMIC_TEMPLATES if matches!(kind, Kind::Object | Kind::Null) => {
                r.skip_value().map_err(json)?
            }
            K_SOURCE | K_DYNAMIC_TEMPLATES => return Err(shape()),
            _ if !kind.is_scalar() => return Err(shape()),
            K_OP_TYPE if kind == Kind::String => {
                // Only `op_type` on an `index` action changes the operation.
                if r.string().map_err(json)? == "create" && op == BulkOp::Index {
                    op = BulkOp::Create;
                }
            }
            K_PIPELINE if kind == Kind::String => pipeline = Some(r.string().map_err(json)?),
            K_PIPELINE if kind != Kind::Null => {
                let start = r.token_offset();
                r.skip_value().map_err(json)?;
                // A scalar token is ASCII; its text is what Elasticsearch names the pipeline.
                let token = bytes.get(start..r.token_offset()).ok_or_else(shape)?;
                let text = std::str::from_utf8(token).map_err(|_| shape())?;
                pipeline = Some(Cow::Borrowed(text.trim_end()));
            }
            _ => r.skip_value().map_err(json)?,
        }
    }
    // Exactly one action per line, and nothing after it.
    if r.next_key(&mut first).map_err(json)?.is_some() || !r.at_end() {
        return Err(shape());
    }

    let index = match (&index, default_index) {
        (Some(explicit), _) => &**explicit,
        (None, Some(default)) => default,
        (None, None) => return Err(BodyError::MissingIndex { line }),
    };
    each(BulkItem {
        line,
        op,
        index,
        pipeline: pipeline.as_deref(),
    });
    Ok(next_after(op))
}

/// What follows an action line: a source line, except after `delete`.
#[inline]
fn next_after(op: BulkOp) -> Next {
    if op == BulkOp::Delete {
        Next::Meta
    } else {
        Next::Skip
    }
}

#[cfg(test)]
#[path = "tests/bulk.rs"]
mod tests;
