//! Reading index names out of JSON values, with Elasticsearch's list semantics.
//!
//! Owns: the two shapes an index can take in a body, and the duplicate-key bookkeeping the
//! scanners share. Must not: resolve wildcards, aliases or date math (that is the ACL's job
//! against cluster metadata); names are passed on exactly as decoded.
//!
//! - A *single* index (`_index` in bulk and mget, `dest.index` in reindex) must be a string.
//!   Empty names and names containing `,` are refused: Elasticsearch rejects them as invalid
//!   index names too, and refusing here keeps a name like `"logs,secret"` from ever reaching
//!   code that might split it.
//! - An index *list* (msearch `index`, reindex `source.index`, alias actions, template
//!   patterns) is a string or an array of strings. Every string is split on `,` and empty
//!   pieces are dropped. Elasticsearch splits only the string form (`Strings.splitStringByCommaToArray`);
//!   splitting array elements as well can only add names, so the ACL sees a superset of what
//!   Elasticsearch resolves, never less.

use std::borrow::Cow;

use super::error::{BodyError, Loc};
use super::json::{Kind, Reader};

/// Reads a single-index value: a non-empty string without `,`, or `null` (returned as
/// `None`, which Elasticsearch treats as "not given").
pub(crate) fn single_index<'a>(
    r: &mut Reader<'a>,
    loc: Loc<'_>,
) -> Result<Option<Cow<'a, str>>, BodyError> {
    let at = r.token_offset();
    match r.peek().map_err(|e| loc.json(e))? {
        Kind::Null => {
            r.take_null().map_err(|e| loc.json(e))?;
            Ok(None)
        }
        Kind::String => {
            let name = r.string().map_err(|e| loc.json(e))?;
            if name.is_empty() || name.contains(',') {
                return Err(BodyError::InvalidIndexName { line: loc.line(at) });
            }
            Ok(Some(name))
        }
        _ => Err(BodyError::UnexpectedJson { line: loc.line(at) }),
    }
}

/// Reads an index list (a string or an array of strings) and passes each non-empty,
/// comma-separated name to `each`. Returns how many names were passed.
pub(crate) fn index_list<'a>(
    r: &mut Reader<'a>,
    loc: Loc<'_>,
    each: &mut dyn FnMut(Cow<'a, str>),
) -> Result<u32, BodyError> {
    let mut count = 0u32;
    match r.peek().map_err(|e| loc.json(e))? {
        Kind::String => split_into(r.string().map_err(|e| loc.json(e))?, &mut count, each),
        Kind::Array => {
            r.begin_array().map_err(|e| loc.json(e))?;
            let mut first = true;
            while r.next_element(&mut first).map_err(|e| loc.json(e))? {
                let at = r.token_offset();
                if r.peek().map_err(|e| loc.json(e))? != Kind::String {
                    return Err(BodyError::UnexpectedJson { line: loc.line(at) });
                }
                split_into(r.string().map_err(|e| loc.json(e))?, &mut count, each);
            }
        }
        _ => {
            return Err(BodyError::UnexpectedJson {
                line: loc.line(r.token_offset()),
            })
        }
    }
    Ok(count)
}

fn split_into<'a>(names: Cow<'a, str>, count: &mut u32, each: &mut dyn FnMut(Cow<'a, str>)) {
    match names {
        Cow::Borrowed(s) => {
            for name in s.split(',').filter(|n| !n.is_empty()) {
                *count = count.saturating_add(1);
                each(Cow::Borrowed(name));
            }
        }
        Cow::Owned(s) => {
            for name in s.split(',').filter(|n| !n.is_empty()) {
                *count = count.saturating_add(1);
                each(Cow::Owned(name.to_owned()));
            }
        }
    }
}

/// Fails with `UnexpectedJson` unless the next value is of `kind` (or `MalformedJson` if
/// there is no value at all).
pub(crate) fn expect_kind(r: &mut Reader<'_>, loc: Loc<'_>, kind: Kind) -> Result<(), BodyError> {
    let at = r.token_offset();
    if r.peek().map_err(|e| loc.json(e))? == kind {
        Ok(())
    } else {
        Err(BodyError::UnexpectedJson { line: loc.line(at) })
    }
}

/// Which of a small set of keys an object already had; Elasticsearch's Jackson runs with
/// `STRICT_DUPLICATE_DETECTION`, so a repeated key is an error there and here.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Seen(u32);

impl Seen {
    /// Marks key number `bit` (< 32) as seen; `false` if it already was.
    #[inline]
    pub(crate) fn first(&mut self, bit: u32) -> bool {
        let mask = 1u32 << bit;
        let fresh = self.0 & mask == 0;
        self.0 |= mask;
        fresh
    }
}
