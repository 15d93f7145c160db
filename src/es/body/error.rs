//! The one error type of body inspection, and its mapping to HTTP.
//!
//! Every variant is caused by the client (the gateway inspects, it never fails on its own), is
//! `Copy`, and carries at most a 1-based line number of the body (for JSON bodies, the line of
//! the offending token). The http layer turns it into a response with [`BodyError::status`],
//! [`BodyError::es_type`] and [`BodyError::reason`]; audit uses [`BodyError::audit_reason`].

use std::cell::Cell;

use super::json::{JsonError, JsonErrorKind};

/// Why a request body was refused. Fail closed: the request must not be forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// Not JSON (or JSON we refuse to interpret: comments, bad UTF-8, lone surrogates).
    #[error("Failed to parse the JSON on line [{line}]")]
    MalformedJson { line: u32 },
    /// JSON nested deeper than Jackson's default limit.
    #[error("JSON on line [{line}] is nested too deeply")]
    JsonTooDeep { line: u32 },
    /// Valid JSON of the wrong shape (for example an action line that is not
    /// `{"<action>":{...}}`, a value of the wrong type, or trailing data).
    #[error("Malformed request body on line [{line}]")]
    UnexpectedJson { line: u32 },
    /// A bulk action other than `index`, `create`, `update` or `delete`.
    #[error(
        "Malformed action/metadata line [{line}], expected field [create], [delete], [index] or [update]"
    )]
    UnknownBulkAction { line: u32 },
    /// A key Elasticsearch does not accept at that place.
    #[error("Unknown parameter on line [{line}]")]
    UnknownParameter { line: u32 },
    /// The same key twice in one object (Elasticsearch's Jackson rejects duplicates too).
    #[error("Duplicate field on line [{line}]")]
    DuplicateKey { line: u32 },
    /// No index in the item and no default index in the path.
    #[error("index is missing (line [{line}])")]
    MissingIndex { line: u32 },
    /// An index that can only name one index is empty or contains `,`.
    #[error("Invalid index name on line [{line}]")]
    InvalidIndexName { line: u32 },
    /// A bulk `index`/`create`/`update` line, or an msearch header, is the last line.
    #[error("Action/metadata line [{line}] has no following source line")]
    MissingSourceLine { line: u32 },
    /// The last line does not end in `\n`, which Elasticsearch rejects.
    #[error("The request body must be terminated by a newline [\\n] (line [{line}])")]
    MissingFinalNewline { line: u32 },
    /// An msearch body starting with an empty line: Elasticsearch 7 skips it, 8+ reads it as
    /// an empty header, so the two disagree on every following line.
    #[error("The msearch request must not start with an empty line")]
    EmptyFirstLine,
    /// A metadata/header line longer than [`super::MAX_META_LINE_BYTES`].
    #[error("Action/metadata line [{line}] is too long")]
    LineTooLong { line: u32 },
    /// The inflated body is larger than the configured bound (zip bomb or just too big).
    #[error("The decompressed request body is too large")]
    InflatedTooLarge,
    /// A `Content-Encoding` other than identity, gzip or deflate.
    #[error("Unsupported Content-Encoding")]
    UnsupportedEncoding,
    /// The compressed body is corrupt, truncated or followed by extra bytes.
    #[error("The compressed request body is corrupt")]
    CorruptCompressed,
}

impl BodyError {
    /// The HTTP status for the response.
    pub fn status(&self) -> u16 {
        match self {
            BodyError::InflatedTooLarge => 413,
            BodyError::UnsupportedEncoding => 415,
            _ => 400,
        }
    }

    /// The `error.type` of an Elasticsearch-shaped error body. Parse errors use the types
    /// Elasticsearch reports for the same input; 413/415 have no Elasticsearch equivalent
    /// (Elasticsearch answers those from Netty), so those names are ours.
    pub fn es_type(&self) -> &'static str {
        match self {
            BodyError::MalformedJson { .. } | BodyError::JsonTooDeep { .. } => {
                "x_content_parse_exception"
            }
            BodyError::MissingIndex { .. } => "action_request_validation_exception",
            BodyError::InvalidIndexName { .. } => "invalid_index_name_exception",
            BodyError::InflatedTooLarge => "content_too_long_exception",
            BodyError::UnsupportedEncoding => "unsupported_content_encoding_exception",
            _ => "illegal_argument_exception",
        }
    }

    /// The `error.reason` text (the `Display` text).
    pub fn reason(&self) -> String {
        self.to_string()
    }

    /// A short stable code for audit records and metrics labels.
    pub fn audit_reason(&self) -> &'static str {
        match self {
            BodyError::MalformedJson { .. } => "body_malformed_json",
            BodyError::JsonTooDeep { .. } => "body_json_too_deep",
            BodyError::UnexpectedJson { .. } => "body_unexpected_json",
            BodyError::UnknownBulkAction { .. } => "body_unknown_bulk_action",
            BodyError::UnknownParameter { .. } => "body_unknown_parameter",
            BodyError::DuplicateKey { .. } => "body_duplicate_key",
            BodyError::MissingIndex { .. } => "body_missing_index",
            BodyError::InvalidIndexName { .. } => "body_invalid_index_name",
            BodyError::MissingSourceLine { .. } => "body_missing_source_line",
            BodyError::MissingFinalNewline { .. } => "body_missing_final_newline",
            BodyError::EmptyFirstLine => "body_empty_first_line",
            BodyError::LineTooLong { .. } => "body_line_too_long",
            BodyError::InflatedTooLarge => "body_inflated_too_large",
            BodyError::UnsupportedEncoding => "body_unsupported_encoding",
            BodyError::CorruptCompressed => "body_corrupt_compressed",
        }
    }

    /// The line number carried by the error, if any.
    pub fn line(&self) -> Option<u32> {
        match *self {
            BodyError::MalformedJson { line }
            | BodyError::JsonTooDeep { line }
            | BodyError::UnexpectedJson { line }
            | BodyError::UnknownBulkAction { line }
            | BodyError::UnknownParameter { line }
            | BodyError::DuplicateKey { line }
            | BodyError::MissingIndex { line }
            | BodyError::InvalidIndexName { line }
            | BodyError::MissingSourceLine { line }
            | BodyError::MissingFinalNewline { line }
            | BodyError::LineTooLong { line } => Some(line),
            BodyError::EmptyFirstLine
            | BodyError::InflatedTooLarge
            | BodyError::UnsupportedEncoding
            | BodyError::CorruptCompressed => None,
        }
    }
}

/// Where a reader's byte offsets live, to turn them into line numbers: one NDJSON line
/// (whose number is known) or a whole JSON body.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Loc<'b> {
    Line(u32),
    Body(&'b Lines<'b>),
}

impl Loc<'_> {
    pub(crate) fn line(self, offset: usize) -> u32 {
        match self {
            Loc::Line(line) => line,
            Loc::Body(lines) => lines.line_of(offset),
        }
    }

    /// Maps a reader error.
    pub(crate) fn json(self, err: JsonError) -> BodyError {
        let line = self.line(err.offset);
        match err.kind {
            JsonErrorKind::Syntax => BodyError::MalformedJson { line },
            JsonErrorKind::TooDeep => BodyError::JsonTooDeep { line },
        }
    }
}

/// Line numbers of byte offsets in one JSON body. The JSON scanners ask for the line of every
/// document, action and key they read, at increasing offsets; counting from the start of the
/// body each time made a body of n items cost O(n²) (an `_mget` of 100k documents: minutes of
/// a core). So the last answer is kept, and only the newlines between it and the next offset
/// are counted: one pass over the body in all.
#[derive(Debug)]
pub(crate) struct Lines<'b> {
    body: &'b [u8],
    /// The last offset asked for (at most `body.len()`) and the newlines before it.
    mark: Cell<(usize, usize)>,
}

impl<'b> Lines<'b> {
    pub(crate) fn new(body: &'b [u8]) -> Lines<'b> {
        Lines {
            body,
            mark: Cell::new((0, 0)),
        }
    }

    /// 1-based line of `offset` (offsets past the end count as the last line).
    pub(crate) fn line_of(&self, offset: usize) -> u32 {
        let offset = offset.min(self.body.len());
        let (at, before) = self.mark.get();
        let newlines = |from: usize, to: usize| {
            memchr::memchr_iter(b'\n', self.body.get(from..to).unwrap_or_default()).count()
        };
        // Offsets usually grow; an error may point back into the token just read.
        let before = if offset >= at {
            before + newlines(at, offset)
        } else {
            before - newlines(offset, at)
        };
        self.mark.set((offset, before));
        u32::try_from(before + 1).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping() {
        let e = BodyError::UnknownBulkAction { line: 3 };
        assert_eq!(e.status(), 400);
        assert_eq!(e.es_type(), "illegal_argument_exception");
        assert!(e.reason().contains("[3]"));
        assert_eq!(e.line(), Some(3));
        assert_eq!(BodyError::InflatedTooLarge.status(), 413);
        assert_eq!(BodyError::UnsupportedEncoding.status(), 415);
        assert_eq!(BodyError::CorruptCompressed.line(), None);
        assert_eq!(
            BodyError::MissingFinalNewline { line: 2 }.reason(),
            "The request body must be terminated by a newline [\\n] (line [2])"
        );
        assert_eq!(Loc::Body(&Lines::new(b"{\n\n x")).line(4), 3);
    }

    #[test]
    fn line_numbers_in_any_order() {
        let lines = Lines::new(b"a\nb\nc");
        for (offset, line) in [
            (0, 1),
            (2, 2),
            (4, 3),
            (99, 3),
            (1, 1),
            (2, 2),
            (0, 1),
            (5, 3),
        ] {
            assert_eq!(lines.line_of(offset), line, "offset {offset}");
        }
    }
}
