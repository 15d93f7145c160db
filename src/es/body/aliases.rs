//! `POST /_aliases`: the indices and aliases of every action.
//!
//! Owns: `{"actions":[{"add":{...}}, {"remove":{...}}, {"remove_index":{...}}]}`. Must not:
//! judge alias filters or routing (skipped as JSON).
//!
//! Decisions, with the Elasticsearch behaviour they follow (`IndicesAliasesRequest`,
//! `AliasActions` object parsers):
//! - Each action element is an object with exactly one key, `add`, `remove` or
//!   `remove_index`; anything else is an error.
//! - `index` or `indices`, and `alias` or `aliases`: a string or an array of strings (the
//!   object parser takes a single string for the array forms too). Both forms of one pair
//!   in the same action is an error ("Only one of [index] and [indices] is supported").
//!   Names are split on `,` (see `names`): a superset of what Elasticsearch resolves.
//! - An action without indices is an error; `remove_index` must not name aliases.
//! - Other action keys (`filter`, `routing`, `is_write_index`, `must_exist`, ...) are
//!   skipped; the top level may hold only `actions`.

use std::borrow::Cow;

use super::error::{BodyError, Lines, Loc};
use super::json::{Kind, Reader};
use super::names::{expect_kind, index_list, Seen};

/// The kind of an alias action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AliasActionKind {
    Add,
    Remove,
    RemoveIndex,
}

/// One action of an `_aliases` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasAction<'a> {
    pub kind: AliasActionKind,
    /// 1-based line of the action in the body.
    pub line: u32,
    pub indices: Vec<Cow<'a, str>>,
    /// Empty for `remove_index`.
    pub aliases: Vec<Cow<'a, str>>,
}

/// Parses a complete `_aliases` body.
pub fn parse_aliases(body: &[u8]) -> Result<Vec<AliasAction<'_>>, BodyError> {
    let lines = Lines::new(body);
    let loc = Loc::Body(&lines);
    let json = |e| loc.json(e);
    let mut r = Reader::new(body);
    let mut actions = Vec::new();
    let mut have_actions = false;

    expect_kind(&mut r, loc, Kind::Object)?;
    r.begin_object().map_err(json)?;
    let mut first = true;
    while let Some(key) = r.next_key(&mut first).map_err(json)? {
        let line = loc.line(r.token_offset());
        if *key != *b"actions" {
            return Err(BodyError::UnknownParameter { line });
        }
        if have_actions {
            return Err(BodyError::DuplicateKey { line });
        }
        have_actions = true;
        expect_kind(&mut r, loc, Kind::Array)?;
        r.begin_array().map_err(json)?;
        let mut efirst = true;
        while r.next_element(&mut efirst).map_err(json)? {
            actions.push(action(&mut r, loc)?);
        }
    }
    if !r.at_end() {
        return Err(BodyError::UnexpectedJson {
            line: loc.line(r.token_offset()),
        });
    }
    Ok(actions)
}

fn action<'a>(r: &mut Reader<'a>, loc: Loc<'_>) -> Result<AliasAction<'a>, BodyError> {
    let json = |e| loc.json(e);
    expect_kind(r, loc, Kind::Object)?;
    let line = loc.line(r.token_offset());
    r.begin_object().map_err(json)?;
    let mut first = true;
    let name = r
        .next_key(&mut first)
        .map_err(json)?
        .ok_or(BodyError::UnexpectedJson { line })?;
    let kind = match &*name {
        b"add" => AliasActionKind::Add,
        b"remove" => AliasActionKind::Remove,
        b"remove_index" => AliasActionKind::RemoveIndex,
        _ => return Err(BodyError::UnknownParameter { line }),
    };
    let mut out = AliasAction {
        kind,
        line,
        indices: Vec::new(),
        aliases: Vec::new(),
    };
    expect_kind(r, loc, Kind::Object)?;
    r.begin_object().map_err(json)?;
    let mut seen = Seen::default();
    let mut pfirst = true;
    while let Some(key) = r.next_key(&mut pfirst).map_err(json)? {
        let kline = loc.line(r.token_offset());
        // `index`/`indices` share slot 0, `alias`/`aliases` slot 1.
        let (slot, target) = match &*key {
            b"index" | b"indices" => (0, &mut out.indices),
            b"alias" | b"aliases" => (1, &mut out.aliases),
            _ => {
                r.skip_value().map_err(json)?;
                continue;
            }
        };
        if !seen.first(slot) {
            return Err(BodyError::DuplicateKey { line: kline });
        }
        index_list(r, loc, &mut |name| target.push(name))?;
    }
    // Exactly one action per element.
    if r.next_key(&mut first).map_err(json)?.is_some() {
        return Err(BodyError::UnexpectedJson { line });
    }
    if out.indices.is_empty() {
        return Err(BodyError::MissingIndex { line });
    }
    if kind == AliasActionKind::RemoveIndex && !out.aliases.is_empty() {
        return Err(BodyError::UnknownParameter { line });
    }
    Ok(out)
}

#[cfg(test)]
#[path = "tests/aliases.rs"]
mod tests;
