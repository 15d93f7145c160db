//! `_reindex`: the indices read (`source.index`) and written (`dest.index`), and where the
//! `source` object is (a search body besides: its query may read other indices from inside,
//! which `lookups` finds there).
//!
//! Owns: those two fields and the facts that change what they mean. Must not: interpret
//! the query, script or remote settings beyond flagging them.
//!
//! Decisions, with the Elasticsearch behaviour they follow (`ReindexRequest` /
//! `RestReindexAction`):
//! - `source.index`: a string or an array of strings (split on `,`, see `names`). Missing,
//!   `null` or empty is an error (Elasticsearch: "use _all if you really want to copy from
//!   all existing indexes").
//! - `dest.index`: one index name, required.
//! - `source.remote` present: the source indices live on another cluster
//!   ([`Reindex::remote`]); the caller decides whether remote reindex is allowed at all.
//! - A `script` can set `ctx._index` and so write to any index, and a `dest.pipeline` can
//!   reroute documents: both are flagged, never silently trusted.
//! - `source`, `dest`, `script`, `source.index`, `source.remote`, `dest.index` and
//!   `dest.pipeline` may each appear once. Other keys are skipped (validated as JSON only);
//!   Elasticsearch's object parser rejects the unknown ones itself.

use std::borrow::Cow;
use std::ops::Range;

use super::error::{BodyError, Lines, Loc};
use super::json::{Kind, Reader};
use super::names::{expect_kind, index_list, single_index, Seen};

/// What a reindex request reads and writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reindex<'a> {
    /// Index expressions read from (on the remote cluster if `remote`).
    pub source_indices: Vec<Cow<'a, str>>,
    /// The index written to.
    pub dest_index: Cow<'a, str>,
    /// `source.remote` is set: reindex from another cluster.
    pub remote: bool,
    /// A `script` is set; it may change `ctx._index` of any document.
    pub script: bool,
    /// `dest.pipeline` is set; an ingest pipeline may reroute documents.
    pub dest_pipeline: bool,
    /// Where the `source` object is in the body: it is searched like a search body
    /// (`ReindexRequest` hands it to `SearchSourceBuilder`), so its query can read other
    /// indices (terms lookups, ...).
    pub source: Range<usize>,
}

/// Parses a complete `_reindex` body.
pub fn parse_reindex(body: &[u8]) -> Result<Reindex<'_>, BodyError> {
    let lines = Lines::new(body);
    let loc = Loc::Body(&lines);
    let json = |e| loc.json(e);
    let mut r = Reader::new(body);
    let mut source_indices = Vec::new();
    let mut dest_index = None;
    let mut remote = false;
    let mut script = false;
    let mut dest_pipeline = false;
    let mut source = 0..0;

    expect_kind(&mut r, loc, Kind::Object)?;
    r.begin_object().map_err(json)?;
    let mut seen = Seen::default();
    let mut first = true;
    while let Some(key) = r.next_key(&mut first).map_err(json)? {
        let line = loc.line(r.token_offset());
        let bit = match &*key {
            b"source" => 0,
            b"dest" => 1,
            b"script" => 2,
            _ => {
                r.skip_value().map_err(json)?;
                continue;
            }
        };
        if !seen.first(bit) {
            return Err(BodyError::DuplicateKey { line });
        }
        match bit {
            0 => {
                expect_kind(&mut r, loc, Kind::Object)?;
                let start = r.token_offset();
                r.begin_object().map_err(json)?;
                let mut sseen = Seen::default();
                let mut sfirst = true;
                while let Some(skey) = r.next_key(&mut sfirst).map_err(json)? {
                    let sline = loc.line(r.token_offset());
                    let sbit = match &*skey {
                        b"index" => 0,
                        b"remote" => 1,
                        _ => {
                            r.skip_value().map_err(json)?;
                            continue;
                        }
                    };
                    if !sseen.first(sbit) {
                        return Err(BodyError::DuplicateKey { line: sline });
                    }
                    if r.take_null().map_err(json)? {
                        continue;
                    }
                    if sbit == 0 {
                        index_list(&mut r, loc, &mut |name| source_indices.push(name))?;
                    } else {
                        remote = true;
                        r.skip_value().map_err(json)?;
                    }
                }
                source = start..r.token_offset();
            }
            1 => {
                expect_kind(&mut r, loc, Kind::Object)?;
                r.begin_object().map_err(json)?;
                let mut dseen = Seen::default();
                let mut dfirst = true;
                while let Some(dkey) = r.next_key(&mut dfirst).map_err(json)? {
                    let dline = loc.line(r.token_offset());
                    let dbit = match &*dkey {
                        b"index" => 0,
                        b"pipeline" => 1,
                        _ => {
                            r.skip_value().map_err(json)?;
                            continue;
                        }
                    };
                    if !dseen.first(dbit) {
                        return Err(BodyError::DuplicateKey { line: dline });
                    }
                    if dbit == 0 {
                        dest_index = single_index(&mut r, loc)?;
                    } else {
                        dest_pipeline = !r.take_null().map_err(json)?;
                        if dest_pipeline {
                            r.skip_value().map_err(json)?;
                        }
                    }
                }
            }
            _ => {
                script = !r.take_null().map_err(json)?;
                if script {
                    r.skip_value().map_err(json)?;
                }
            }
        }
    }
    if !r.at_end() {
        return Err(BodyError::UnexpectedJson {
            line: loc.line(r.token_offset()),
        });
    }
    let missing = BodyError::MissingIndex { line: 1 };
    if source_indices.is_empty() {
        return Err(missing);
    }
    Ok(Reindex {
        source_indices,
        dest_index: dest_index.ok_or(missing)?,
        remote,
        script,
        dest_pipeline,
        source,
    })
}

#[cfg(test)]
#[path = "tests/reindex.rs"]
mod tests;
