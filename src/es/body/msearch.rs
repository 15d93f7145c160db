//! `_msearch` and `_msearch/template` NDJSON: the indices of every search.
//!
//! Owns: reading header lines as Elasticsearch's `MultiSearchRequest.readMultiLineFormat`
//! does and skipping the body line after each; [`search_lines`] hands those body lines to
//! `lookups`, which finds the indices read from inside each query. Must not: parse search
//! bodies itself.
//!
//! Decisions, with the Elasticsearch behaviour they follow:
//! - Header and body alternate strictly; blank lines are *not* skipped: an empty or
//!   whitespace-only header means "all defaults" (Elasticsearch's `parser.map()` of nothing).
//! - An empty *first* line is refused: 7.x (and 8.x in v7-compat mode) skip it, 8.x reads
//!   it as an empty header, and the two readings disagree on every later line.
//! - `index` or `indices`: a string (split on `,`) or an array of strings. Both keys in one
//!   header is refused (Elasticsearch keeps whichever its `HashMap` yields last). An empty
//!   list, or no key and no path index, means all indices and is reported as `_all`.
//! - A header without `index` searches the path's indices. They are reported with the first
//!   such search only: every later one names the same indices, and reporting them again would
//!   cost (path indices x searches), a product of the head and the body.
//! - Other known keys are accepted with any value: `search_type searchType
//!   ccs_minimize_roundtrips ccsMinimizeRoundtrips request_cache requestCache preference
//!   routing allow_partial_search_results expand_wildcards expandWildcards ignore_unavailable
//!   ignoreUnavailable allow_no_indices allowNoIndices ignore_throttled ignoreThrottled`, and
//!   `type`/`types` for 7.x clients. Unknown keys are an error ("key [..] is not supported in
//!   the metadata section"); so are repeated keys and headers that are not objects (where
//!   Elasticsearch would quietly read a scalar as "no header").
//! - The body must end with `\n`; a header with no body line after it is an error.

use std::borrow::Cow;

use super::error::{BodyError, Loc};
use super::json::{Kind, Reader};
use super::names::{index_list, Seen};
use super::ndjson::{End, Framer, Next};

/// The name reported when a search targets all indices.
pub const ALL_INDICES: &str = "_all";

/// One index of one search in an msearch body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MsearchTarget<'a> {
    /// 0-based number of the search within the body.
    pub search: u32,
    /// 1-based line number of its header.
    pub line: u32,
    /// Index expression as given (decoded), a path default, or [`ALL_INDICES`].
    pub index: &'a str,
    /// The header names it (`index`/`indices`); otherwise it is a path default or all.
    pub explicit: bool,
}

/// Counts for a whole msearch body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MsearchSummary {
    pub searches: u32,
    pub lines: u32,
}

/// Header keys Elasticsearch accepts; the first two name indices.
const KEYS: [&[u8]; 21] = [
    b"index",
    b"indices",
    b"search_type",
    b"searchType",
    b"ccs_minimize_roundtrips",
    b"ccsMinimizeRoundtrips",
    b"request_cache",
    b"requestCache",
    b"preference",
    b"routing",
    b"allow_partial_search_results",
    b"expand_wildcards",
    b"expandWildcards",
    b"ignore_unavailable",
    b"ignoreUnavailable",
    b"allow_no_indices",
    b"allowNoIndices",
    b"ignore_throttled",
    b"ignoreThrottled",
    b"type",
    b"types",
];

/// Incremental msearch scanner: feed the body in chunks, then `finish`.
#[derive(Debug)]
pub struct MsearchScanner<'d> {
    /// The path's indices, for searches without `index`.
    default_indices: &'d [&'d str],
    /// A search without `index` has been reported.
    defaults_used: bool,
    framer: Framer,
    searches: u32,
}

impl<'d> MsearchScanner<'d> {
    /// `default_indices` are the path's `{index}` expressions, already split on `,`
    /// (empty for `/_msearch`).
    pub fn new(default_indices: &'d [&'d str]) -> Self {
        MsearchScanner {
            default_indices,
            defaults_used: false,
            framer: Framer::default(),
            searches: 0,
        }
    }

    /// Scans the next chunk, calling `each` for every index of every complete header (the
    /// path's indices only for the first header without `index`).
    pub fn feed(
        &mut self,
        chunk: &[u8],
        each: &mut impl FnMut(MsearchTarget<'_>),
    ) -> Result<(), BodyError> {
        let defaults = self.default_indices;
        let defaults_used = &mut self.defaults_used;
        let searches = &mut self.searches;
        self.framer.feed(chunk, |line, bytes| {
            if line == 1 && bytes.is_empty() {
                return Err(BodyError::EmptyFirstLine);
            }
            let fresh_defaults = if *defaults_used { &[][..] } else { defaults };
            *defaults_used |= header_line(line, bytes, *searches, defaults, fresh_defaults, each)?;
            *searches = searches.saturating_add(1);
            Ok(Next::Skip)
        })
    }

    /// Ends the body; fails if it was cut short.
    pub fn finish(&self) -> Result<MsearchSummary, BodyError> {
        match self.framer.finish()? {
            End::Clean => Ok(MsearchSummary {
                searches: self.searches,
                lines: self.framer.lines(),
            }),
            End::PayloadMissing(line) => Err(BodyError::MissingSourceLine { line }),
        }
    }
}

/// Scans a complete msearch (or msearch template) body.
pub fn scan_msearch(
    body: &[u8],
    default_indices: &[&str],
    mut each: impl FnMut(MsearchTarget<'_>),
) -> Result<MsearchSummary, BodyError> {
    let mut scanner = MsearchScanner::new(default_indices);
    scanner.feed(body, &mut each)?;
    scanner.finish()
}

/// The search lines (every second line, with its 1-based number) of a body that
/// [`scan_msearch`] accepted: headers and searches alternate strictly there, and no line is
/// skipped, so the split is the one the scanner made.
pub(crate) fn search_lines(body: &[u8]) -> impl Iterator<Item = (u32, &[u8])> {
    body.split(|&b| b == b'\n')
        .enumerate()
        .skip(1)
        .step_by(2)
        .map(|(i, line)| (u32::try_from(i + 1).unwrap_or(u32::MAX), line))
}

/// Reads one header; reports `fresh_defaults` (the path's indices, or none once reported) if
/// it names no index. Returns whether it used the path's indices.
fn header_line(
    line: u32,
    bytes: &[u8],
    search: u32,
    defaults: &[&str],
    fresh_defaults: &[&str],
    each: &mut impl FnMut(MsearchTarget<'_>),
) -> Result<bool, BodyError> {
    let loc = Loc::Line(line);
    let json = |e| loc.json(e);
    let mut emit = |index: &str, explicit: bool| {
        each(MsearchTarget {
            search,
            line,
            index,
            explicit,
        })
    };
    let mut r = Reader::new(bytes);
    let mut explicit = false;
    let mut names = 0u32;
    if !r.at_end() {
        if r.peek().map_err(json)? != Kind::Object {
            return Err(BodyError::UnexpectedJson { line });
        }
        r.begin_object().map_err(json)?;
        let mut seen = Seen::default();
        let mut first = true;
        while let Some(key) = r.next_key(&mut first).map_err(json)? {
            let bit = KEYS
                .iter()
                .position(|k| *k == &*key)
                .ok_or(BodyError::UnknownParameter { line })? as u32;
            // `index` and `indices` share one slot: both in one header is a duplicate.
            if !seen.first(bit.max(1)) {
                return Err(BodyError::DuplicateKey { line });
            }
            if bit <= 1 {
                explicit = true;
                names = index_list(&mut r, loc, &mut |name: Cow<'_, str>| emit(&name, true))?;
            } else {
                r.skip_value().map_err(json)?;
            }
        }
        if !r.at_end() {
            return Err(BodyError::UnexpectedJson { line });
        }
    }
    if !explicit {
        for index in fresh_defaults {
            emit(index, false);
        }
        names = u32::try_from(defaults.len()).unwrap_or(u32::MAX);
    }
    if names == 0 {
        emit(ALL_INDICES, explicit);
    }
    Ok(!explicit && names > 0)
}

#[cfg(test)]
#[path = "tests/msearch.rs"]
mod tests;
