//! Incremental NDJSON line framing shared by the bulk and msearch scanners.
//!
//! Owns: splitting bytes fed in arbitrary chunks into `\n`-terminated lines, counting lines
//! the way Elasticsearch does (every `\n` ends one, empty lines included), and skipping the
//! line after a metadata line without looking at it. Must not: interpret line contents.
//!
//! A line that arrives whole inside one chunk is handed out as a borrow of that chunk; only
//! a metadata line cut by a chunk boundary is copied, into a buffer that is reused. Skipped
//! lines (bulk sources, msearch bodies — nearly all of the bytes) are never copied: finding
//! their `\n` with `memchr` is the whole cost.

use memchr::memchr;

use super::error::BodyError;
use super::MAX_META_LINE_BYTES;

/// What the line after a metadata line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Next {
    /// Another metadata line.
    Meta,
    /// A payload line to skip unread.
    Skip,
}

/// How the body ended, for [`Framer::finish`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// Every line was terminated and no payload line is owed.
    Clean,
    /// The metadata line with this number still expects its payload line.
    PayloadMissing(u32),
}

#[derive(Debug, Default)]
pub(crate) struct Framer {
    /// Bytes of a metadata line cut by a chunk boundary.
    partial: Vec<u8>,
    /// Lines completed so far (1-based number of the last complete line).
    line: u32,
    /// The line being read is a payload line to skip.
    skipping: bool,
    /// Some bytes of the skipped line have been seen (so the body is not merely short
    /// of its last payload line but ends inside one).
    skip_started: bool,
    /// Sticky: after an error every later call fails the same way.
    failed: Option<BodyError>,
}

impl Framer {
    /// Feeds the next chunk, calling `on_line(number, bytes)` for every complete metadata
    /// line (without its `\n`, with any `\r` kept — JSON treats it as whitespace).
    #[inline]
    pub(crate) fn feed(
        &mut self,
        chunk: &[u8],
        on_line: impl FnMut(u32, &[u8]) -> Result<Next, BodyError>,
    ) -> Result<(), BodyError> {
        if let Some(err) = self.failed {
            return Err(err);
        }
        let result = self.feed_inner(chunk, on_line);
        if let Err(err) = result {
            self.failed = Some(err);
        }
        result
    }

    #[inline]
    fn feed_inner(
        &mut self,
        mut chunk: &[u8],
        mut on_line: impl FnMut(u32, &[u8]) -> Result<Next, BodyError>,
    ) -> Result<(), BodyError> {
        while !chunk.is_empty() {
            if self.skipping {
                match memchr(b'\n', chunk) {
                    Some(end) => {
                        self.line = self.line.saturating_add(1);
                        self.skipping = false;
                        self.skip_started = false;
                        chunk = &chunk[end + 1..];
                        continue;
                    }
                    None => {
                        self.skip_started = true;
                        return Ok(());
                    }
                }
            }
            let number = self.line.saturating_add(1);
            let Some(end) = memchr(b'\n', chunk) else {
                if self.partial.len() + chunk.len() > MAX_META_LINE_BYTES {
                    return Err(BodyError::LineTooLong { line: number });
                }
                self.partial.extend_from_slice(chunk);
                return Ok(());
            };
            if self.partial.len() + end > MAX_META_LINE_BYTES {
                return Err(BodyError::LineTooLong { line: number });
            }
            self.line = number;
            let next = if self.partial.is_empty() {
                on_line(number, &chunk[..end])?
            } else {
                // Take the buffer out so `on_line` can borrow it while `self` stays usable;
                // it goes back (emptied, capacity kept) for the next cut line.
                let mut line = std::mem::take(&mut self.partial);
                line.extend_from_slice(&chunk[..end]);
                let next = on_line(number, &line);
                line.clear();
                self.partial = line;
                next?
            };
            self.skipping = next == Next::Skip;
            chunk = &chunk[end + 1..];
        }
        Ok(())
    }

    /// Ends the body: every line must have been terminated by `\n` (Elasticsearch rejects
    /// a body whose last line is not, even a whitespace-only one).
    pub(crate) fn finish(&self) -> Result<End, BodyError> {
        if let Some(err) = self.failed {
            return Err(err);
        }
        let next = self.line.saturating_add(1);
        if !self.partial.is_empty() || (self.skipping && self.skip_started) {
            return Err(BodyError::MissingFinalNewline { line: next });
        }
        if self.skipping {
            return Ok(End::PayloadMissing(self.line));
        }
        Ok(End::Clean)
    }

    /// Lines completed so far.
    pub(crate) fn lines(&self) -> u32 {
        self.line
    }
}
