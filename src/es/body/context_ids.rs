//! Scroll and point-in-time ids in JSON: the ones a request body names, and the one a
//! response names at its beginning.
//!
//! Owns: reading `{"scroll_id": ..., "scroll": ...}` (scroll continue and clear),
//! `{"pit_id": [...]}` and `{"id": ...}` (point-in-time deletion), a search body's
//! `{"pit": {"id": ..., "keep_alive": ...}}`, and the id at the head of a response
//! (`_scroll_id`, `pit_id`, `id`). Must not: decide anything (`es::search_context` and the
//! store in `proxy::search_contexts` do), or accept an id in a shape it does not read: an id
//! must be a string (Elasticsearch takes any scalar's text, and a number or `null` is never
//! a valid id, so refusing them loses nothing).
//!
//! Ids are collected from every occurrence of their key. Elasticsearch rejects duplicate
//! keys; reading all of them means a check of every id can never miss the one the node uses.

use super::error::{BodyError, Lines, Loc};
use super::json::{Kind, Reader};
use super::names::expect_kind;

/// What a body names: context ids and the keep-alive it asks for (as written).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContextIds {
    pub ids: Vec<String>,
    pub keep_alive: Option<String>,
}

/// Reads the top-level `id_key` (a string or an array of strings) and `keep_alive_key` of
/// a JSON object body; other keys are skipped. An empty body names nothing, as
/// Elasticsearch reads it (no content: the parameters alone).
pub fn scan_context_ids(
    body: &[u8],
    id_key: &str,
    keep_alive_key: Option<&str>,
) -> Result<ContextIds, BodyError> {
    let mut found = ContextIds::default();
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(found);
    }
    let lines = Lines::new(body);
    let loc = Loc::Body(&lines);
    let mut r = Reader::new(body);
    members(&mut r, loc, id_key, keep_alive_key, &mut found)?;
    end(&mut r, loc)?;
    Ok(found)
}

/// The `pit` object of a search body (`id`, `keep_alive`), `None` if it has none.
pub fn scan_search_pit(body: &[u8]) -> Result<Option<ContextIds>, BodyError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let lines = Lines::new(body);
    let loc = Loc::Body(&lines);
    let json = |e| loc.json(e);
    let mut r = Reader::new(body);
    expect_kind(&mut r, loc, Kind::Object)?;
    r.begin_object().map_err(json)?;
    let mut pit: Option<ContextIds> = None;
    let mut first = true;
    while let Some(key) = r.next_key(&mut first).map_err(json)? {
        if *key == *b"pit" {
            members(
                &mut r,
                loc,
                "id",
                Some("keep_alive"),
                pit.get_or_insert_with(ContextIds::default),
            )?;
        } else {
            r.skip_value().map_err(json)?;
        }
    }
    end(&mut r, loc)?;
    Ok(pit)
}

/// The members of one object: ids under `id_key`, the keep-alive under `keep_alive_key`.
fn members(
    r: &mut Reader<'_>,
    loc: Loc<'_>,
    id_key: &str,
    keep_alive_key: Option<&str>,
    found: &mut ContextIds,
) -> Result<(), BodyError> {
    let json = |e| loc.json(e);
    expect_kind(r, loc, Kind::Object)?;
    r.begin_object().map_err(json)?;
    let mut first = true;
    while let Some(key) = r.next_key(&mut first).map_err(json)? {
        if *key == *id_key.as_bytes() {
            ids(r, loc, &mut found.ids)?;
        } else if keep_alive_key.is_some_and(|k| *key == *k.as_bytes())
            && r.peek().map_err(json)? == Kind::String
        {
            found.keep_alive = Some(r.string().map_err(json)?.into_owned());
        } else {
            r.skip_value().map_err(json)?;
        }
    }
    Ok(())
}

/// An id or an array of ids, all strings.
fn ids(r: &mut Reader<'_>, loc: Loc<'_>, out: &mut Vec<String>) -> Result<(), BodyError> {
    let json = |e| loc.json(e);
    let at = r.token_offset();
    match r.peek().map_err(json)? {
        Kind::String => out.push(r.string().map_err(json)?.into_owned()),
        Kind::Array => {
            r.begin_array().map_err(json)?;
            let mut first = true;
            while r.next_element(&mut first).map_err(json)? {
                expect_kind(r, loc, Kind::String)?;
                out.push(r.string().map_err(json)?.into_owned());
            }
        }
        _ => return Err(BodyError::UnexpectedJson { line: loc.line(at) }),
    }
    Ok(())
}

/// Nothing but whitespace may follow the object.
fn end(r: &mut Reader<'_>, loc: Loc<'_>) -> Result<(), BodyError> {
    if r.at_end() {
        Ok(())
    } else {
        Err(BodyError::UnexpectedJson {
            line: loc.line(r.token_offset()),
        })
    }
}

/// What the beginning of a response body says about the id under a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdScan {
    /// The top-level key holds this string.
    Found(String),
    /// The object ended without it.
    Absent,
    /// The bytes end (or stop being JSON) before the key was found: more of the body may
    /// tell, the whole of it cannot.
    Incomplete,
}

/// Looks for the top-level `key` in `prefix`, the first bytes of a JSON object response.
/// Elasticsearch and OpenSearch write `_scroll_id`, `pit_id` and `id` first, so this
/// usually reads one key.
pub fn response_id(prefix: &[u8], key: &str) -> IdScan {
    let mut r = Reader::new(prefix);
    let mut scan = || -> Result<IdScan, super::json::JsonError> {
        r.begin_object()?;
        let mut first = true;
        while let Some(name) = r.next_key(&mut first)? {
            if *name == *key.as_bytes() && r.peek()? == Kind::String {
                return Ok(IdScan::Found(r.string()?.into_owned()));
            }
            r.skip_value()?;
        }
        Ok(IdScan::Absent)
    };
    scan().unwrap_or(IdScan::Incomplete)
}

#[cfg(test)]
#[path = "tests/context_ids.rs"]
mod tests;
