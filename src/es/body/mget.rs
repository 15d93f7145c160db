//! `_mget`: the index of every requested document.
//!
//! Owns: reading `{"docs":[...]}` and `{"ids":[...]}` bodies. Must not: accept any shape that
//! Elasticsearch's hand-written `MultiGetRequest` parser reads differently. That parser walks
//! tokens without checking nesting: an unknown object-valued key inside a doc is not skipped,
//! its inner keys are read as the doc's own, so `{"_index":"ok","x":{"_index":"secret"}}`
//! can end up as `secret` there. Hence the strict rules here:
//! - Top level: only `docs` (array of objects) and `ids` (array of scalars); both may appear.
//! - Doc keys: `_index` (string, or `null` = not given), `_id _type routing version
//!   version_type` (scalars), `stored_fields` (scalar or array of scalars), `_source`
//!   (scalar, array of scalars, or an object with only `includes include excludes exclude`
//!   holding a scalar or an array of scalars). Anything else, any deeper nesting, and any
//!   repeated key is an error.
//! - A doc without `_index`, and every `ids` entry, uses the path's index; none is an error.

use std::borrow::Cow;

use super::error::{BodyError, Lines, Loc};
use super::json::{Kind, Reader};
use super::names::{expect_kind, single_index, Seen};

/// One document of an mget body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MgetTarget<'a> {
    /// 0-based number of the document (docs first, then ids, in body order).
    pub doc: u32,
    /// 1-based line of the document in the body.
    pub line: u32,
    pub index: &'a str,
}

/// Counts for a whole mget body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MgetSummary {
    pub docs: u32,
}

const DOC_KEYS: [&[u8]; 8] = [
    b"_index",
    b"_id",
    b"_type",
    b"routing",
    b"version",
    b"version_type",
    b"stored_fields",
    b"_source",
];
const SOURCE_KEYS: [&[u8]; 4] = [b"includes", b"include", b"excludes", b"exclude"];

/// Scans a complete mget body; `default_index` is the `{index}` of `/{index}/_mget`.
pub fn scan_mget(
    body: &[u8],
    default_index: Option<&str>,
    mut each: impl FnMut(MgetTarget<'_>),
) -> Result<MgetSummary, BodyError> {
    let lines = Lines::new(body);
    let loc = Loc::Body(&lines);
    let json = |e| loc.json(e);
    let mut r = Reader::new(body);
    let mut docs = 0u32;
    expect_kind(&mut r, loc, Kind::Object)?;
    r.begin_object().map_err(json)?;
    let mut seen = Seen::default();
    let mut first = true;
    while let Some(key) = r.next_key(&mut first).map_err(json)? {
        let key_at = r.token_offset();
        let bit = match &*key {
            b"docs" => 0,
            b"ids" => 1,
            _ => {
                return Err(BodyError::UnknownParameter {
                    line: loc.line(key_at),
                })
            }
        };
        if !seen.first(bit) {
            return Err(BodyError::DuplicateKey {
                line: loc.line(key_at),
            });
        }
        expect_kind(&mut r, loc, Kind::Array)?;
        r.begin_array().map_err(json)?;
        let mut efirst = true;
        while r.next_element(&mut efirst).map_err(json)? {
            let at = r.token_offset();
            let line = loc.line(at);
            let explicit = if bit == 0 {
                doc(&mut r, loc)?
            } else {
                if !r.peek().map_err(json)?.is_scalar() || r.take_null().map_err(json)? {
                    return Err(BodyError::UnexpectedJson { line });
                }
                r.skip_value().map_err(json)?;
                None
            };
            let index = match (&explicit, default_index) {
                (Some(name), _) => &**name,
                (None, Some(default)) => default,
                (None, None) => return Err(BodyError::MissingIndex { line }),
            };
            each(MgetTarget {
                doc: docs,
                line,
                index,
            });
            docs = docs.saturating_add(1);
        }
    }
    if !r.at_end() {
        return Err(BodyError::UnexpectedJson {
            line: loc.line(r.token_offset()),
        });
    }
    Ok(MgetSummary { docs })
}

/// Reads one `docs` element; returns its explicit `_index`, if any.
fn doc<'a>(r: &mut Reader<'a>, loc: Loc<'_>) -> Result<Option<Cow<'a, str>>, BodyError> {
    let json = |e| loc.json(e);
    expect_kind(r, loc, Kind::Object)?;
    r.begin_object().map_err(json)?;
    let mut index = None;
    let mut seen = Seen::default();
    let mut first = true;
    while let Some(key) = r.next_key(&mut first).map_err(json)? {
        let at = r.token_offset();
        let line = loc.line(at);
        let bit = DOC_KEYS
            .iter()
            .position(|k| *k == &*key)
            .ok_or(BodyError::UnknownParameter { line })? as u32;
        if !seen.first(bit) {
            return Err(BodyError::DuplicateKey { line });
        }
        match DOC_KEYS[bit as usize] {
            b"_index" => index = single_index(r, loc)?,
            b"stored_fields" => scalar_or_scalars(r, loc)?,
            b"_source" => {
                if r.peek().map_err(json)? == Kind::Object {
                    r.begin_object().map_err(json)?;
                    let mut sseen = Seen::default();
                    let mut sfirst = true;
                    while let Some(skey) = r.next_key(&mut sfirst).map_err(json)? {
                        let sline = loc.line(r.token_offset());
                        let sbit = SOURCE_KEYS
                            .iter()
                            .position(|k| *k == &*skey)
                            .ok_or(BodyError::UnknownParameter { line: sline })?
                            as u32;
                        if !sseen.first(sbit) {
                            return Err(BodyError::DuplicateKey { line: sline });
                        }
                        scalar_or_scalars(r, loc)?;
                    }
                } else {
                    scalar_or_scalars(r, loc)?;
                }
            }
            _ => {
                if !r.peek().map_err(json)?.is_scalar() {
                    return Err(BodyError::UnexpectedJson { line });
                }
                r.skip_value().map_err(json)?;
            }
        }
    }
    Ok(index)
}

/// A scalar, or an array whose elements are all scalars.
fn scalar_or_scalars(r: &mut Reader<'_>, loc: Loc<'_>) -> Result<(), BodyError> {
    let json = |e| loc.json(e);
    let kind = r.peek().map_err(json)?;
    if kind.is_scalar() {
        return r.skip_value().map_err(json);
    }
    expect_kind(r, loc, Kind::Array)?;
    r.begin_array().map_err(json)?;
    let mut first = true;
    while r.next_element(&mut first).map_err(json)? {
        if !r.peek().map_err(json)?.is_scalar() {
            return Err(BodyError::UnexpectedJson {
                line: loc.line(r.token_offset()),
            });
        }
        r.skip_value().map_err(json)?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "tests/mget.rs"]
mod tests;
