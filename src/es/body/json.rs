//! A strict, allocation-light JSON pull reader for request bodies.
//!
//! Owns: tokenizing the JSON that Elasticsearch would hand to Jackson, so the body scanners
//! can walk exactly the objects they need and skip everything else without building a tree.
//! Must not: recurse (nesting is tracked in a fixed bit stack, so hostile input cannot blow
//! the stack), allocate except to decode a string that contains escapes, or accept anything
//! Jackson with Elasticsearch's settings would read differently.
//!
//! Strictness, compared with Elasticsearch's Jackson configuration (`JsonXContentImpl`):
//! - RFC 8259 grammar; whitespace is exactly space, tab, CR and LF (Jackson rejects other
//!   control characters between tokens too).
//! - Comments: Elasticsearch enables `ALLOW_COMMENTS`; we reject them. A comment can hide or
//!   reveal a key depending on who reads it, so fail closed rather than re-implement Jackson's
//!   comment rules.
//! - Strings must be valid UTF-8 with no raw control characters. Decoded strings (keys and the
//!   values we compare) must not contain lone surrogates: Java would keep them, Rust cannot,
//!   so such input is rejected.
//! - Duplicate keys are not detected here; the callers check the keys they read, which is
//!   where Jackson's `STRICT_DUPLICATE_DETECTION` (enabled by Elasticsearch) matters to us.

use std::borrow::Cow;

/// Deepest nesting `skip_value` accepts; Jackson's default `maxNestingDepth` is 1000.
pub const MAX_JSON_DEPTH: usize = 1000;

/// Words in the nesting bit stack (one bit per level: object or array).
const DEPTH_WORDS: usize = MAX_JSON_DEPTH.div_ceil(64);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JsonErrorKind {
    /// Not JSON, or JSON we refuse (comments, lone surrogates, bad UTF-8).
    Syntax,
    /// Nested deeper than [`MAX_JSON_DEPTH`].
    TooDeep,
}

/// A reader error and the byte offset where it was noticed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct JsonError {
    pub(crate) kind: JsonErrorKind,
    pub(crate) offset: usize,
}

/// The kind of the next value, from its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Object,
    Array,
    String,
    Number,
    Bool,
    Null,
}

impl Kind {
    pub(crate) fn is_scalar(self) -> bool {
        !matches!(self, Kind::Object | Kind::Array)
    }
}

/// A scanned string token: the bytes between its quotes, still escaped.
struct RawString<'a> {
    bytes: &'a [u8],
    escaped: bool,
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Marks (high bit of each byte) the bytes of `w` that need attention inside a string: `"`,
/// `\`, control characters and non-ASCII. SWAR tests can also mark bytes after the first
/// marked one (borrows), but the lowest mark is always exact, which is all we use.
#[inline]
fn special_bytes(w: u64) -> u64 {
    let has_zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let quote = has_zero(w ^ (ONES * u64::from(b'"')));
    let backslash = has_zero(w ^ (ONES * u64::from(b'\\')));
    let control = w.wrapping_sub(ONES * 0x20) & !w & HIGHS;
    quote | backslash | control | (w & HIGHS)
}

/// Pull reader over one complete JSON text (or one NDJSON line).
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// A reader of the value that starts at `start` of `buf` and ends with it; offsets (and
    /// so line numbers) stay those of `buf`.
    pub(crate) fn starting_at(buf: &'a [u8], start: usize) -> Self {
        Reader {
            buf,
            pos: start.min(buf.len()),
        }
    }

    /// Offset of the next token (after whitespace), for the line of the value about to be read.
    pub(crate) fn token_offset(&mut self) -> usize {
        self.skip_ws();
        self.pos
    }

    fn syntax(&self) -> JsonError {
        self.syntax_at(self.pos)
    }

    fn syntax_at(&self, offset: usize) -> JsonError {
        JsonError {
            kind: JsonErrorKind::Syntax,
            offset,
        }
    }

    #[inline]
    fn skip_ws(&mut self) {
        while let Some(&b) = self.buf.get(self.pos) {
            if matches!(b, b' ' | b'\t' | b'\r' | b'\n') {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    #[inline]
    fn expect(&mut self, byte: u8) -> Result<(), JsonError> {
        self.skip_ws();
        if self.buf.get(self.pos) == Some(&byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.syntax())
        }
    }

    /// True when only whitespace is left.
    pub(crate) fn at_end(&mut self) -> bool {
        self.skip_ws();
        self.pos >= self.buf.len()
    }

    /// Kind of the next value, without consuming it.
    pub(crate) fn peek(&mut self) -> Result<Kind, JsonError> {
        self.skip_ws();
        Ok(match self.buf.get(self.pos) {
            Some(b'{') => Kind::Object,
            Some(b'[') => Kind::Array,
            Some(b'"') => Kind::String,
            Some(b'-' | b'0'..=b'9') => Kind::Number,
            Some(b't' | b'f') => Kind::Bool,
            Some(b'n') => Kind::Null,
            _ => return Err(self.syntax()),
        })
    }

    pub(crate) fn begin_object(&mut self) -> Result<(), JsonError> {
        self.expect(b'{')
    }

    /// The next key of the current object, or `None` after its closing brace.
    /// `first` starts as `true` for each object and is maintained here. Keys come back as
    /// decoded bytes (valid UTF-8), so matching them against ASCII names needs no `&str`.
    #[inline]
    pub(crate) fn next_key(
        &mut self,
        first: &mut bool,
    ) -> Result<Option<Cow<'a, [u8]>>, JsonError> {
        self.skip_ws();
        if self.buf.get(self.pos) == Some(&b'}') {
            self.pos += 1;
            return Ok(None);
        }
        if !*first {
            self.expect(b',')?;
            self.skip_ws();
        }
        *first = false;
        let start = self.pos;
        let raw = self.raw_string()?;
        let key = if raw.escaped {
            let text = std::str::from_utf8(raw.bytes).map_err(|_| self.syntax_at(start))?;
            Cow::Owned(
                decode_escapes(text)
                    .ok_or(self.syntax_at(start))?
                    .into_bytes(),
            )
        } else {
            Cow::Borrowed(raw.bytes)
        };
        self.expect(b':')?;
        Ok(Some(key))
    }

    /// Like [`Reader::next_key`], for keys that are names the caller keeps (alias names).
    pub(crate) fn next_key_str(
        &mut self,
        first: &mut bool,
    ) -> Result<Option<Cow<'a, str>>, JsonError> {
        let at = self.pos;
        Ok(match self.next_key(first)? {
            None => None,
            Some(Cow::Borrowed(b)) => Some(Cow::Borrowed(
                std::str::from_utf8(b).map_err(|_| self.syntax_at(at))?,
            )),
            Some(Cow::Owned(v)) => Some(Cow::Owned(
                String::from_utf8(v).map_err(|_| self.syntax_at(at))?,
            )),
        })
    }

    pub(crate) fn begin_array(&mut self) -> Result<(), JsonError> {
        self.expect(b'[')
    }

    /// Whether another element follows in the current array (consumes `,` or `]`).
    pub(crate) fn next_element(&mut self, first: &mut bool) -> Result<bool, JsonError> {
        self.skip_ws();
        if self.buf.get(self.pos) == Some(&b']') {
            self.pos += 1;
            return Ok(false);
        }
        if !*first {
            self.expect(b',')?;
        }
        *first = false;
        Ok(true)
    }

    /// Reads a string and decodes its escapes. Borrows when there are none.
    #[inline]
    pub(crate) fn string(&mut self) -> Result<Cow<'a, str>, JsonError> {
        let start = self.pos;
        let raw = self.raw_string()?;
        let text = std::str::from_utf8(raw.bytes).map_err(|_| self.syntax_at(start))?;
        if !raw.escaped {
            return Ok(Cow::Borrowed(text));
        }
        decode_escapes(text)
            .map(Cow::Owned)
            .ok_or(self.syntax_at(start))
    }

    /// Scans a string token: escapes well-formed, no raw control characters, valid UTF-8.
    /// Returns the raw (still escaped) bytes between the quotes.
    #[inline]
    fn raw_string(&mut self) -> Result<RawString<'a>, JsonError> {
        self.skip_ws();
        if self.buf.get(self.pos) != Some(&b'"') {
            return Err(self.syntax());
        }
        let start = self.pos + 1;
        let mut i = start;
        let mut escaped = false;
        let mut ascii = true;
        loop {
            // Eight bytes at a time to the next byte that needs a look (usually the quote).
            while let Some(word) = self.buf.get(i..i + 8) {
                let mut bytes = [0u8; 8];
                bytes.copy_from_slice(word);
                let special = special_bytes(u64::from_le_bytes(bytes));
                if special != 0 {
                    i += (special.trailing_zeros() / 8) as usize;
                    break;
                }
                i += 8;
            }
            let Some(&b) = self.buf.get(i) else {
                return Err(self.syntax_at(i));
            };
            match b {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    match self.buf.get(i + 1) {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => i += 2,
                        Some(b'u') => {
                            let hex = self.buf.get(i + 2..i + 6);
                            if !hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) {
                                return Err(self.syntax_at(i));
                            }
                            i += 6;
                        }
                        _ => return Err(self.syntax_at(i)),
                    }
                }
                0x00..=0x1f => return Err(self.syntax_at(i)),
                0x80.. => {
                    ascii = false;
                    i += 1;
                }
                _ => i += 1,
            }
        }
        let bytes = &self.buf[start..i];
        // Escapes are ASCII, so the raw bytes are valid UTF-8 exactly when the decoded
        // text is; pure ASCII needs no check.
        if !ascii && std::str::from_utf8(bytes).is_err() {
            return Err(self.syntax_at(start));
        }
        self.pos = i + 1;
        Ok(RawString { bytes, escaped })
    }

    fn number(&mut self) -> Result<(), JsonError> {
        let b = self.buf;
        let mut i = self.pos;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        match b.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => {
                while b.get(i).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                }
            }
            _ => {
                self.pos = i;
                return Err(self.syntax());
            }
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            let digits = i;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            if i == digits {
                self.pos = i;
                return Err(self.syntax());
            }
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            let digits = i;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            if i == digits {
                self.pos = i;
                return Err(self.syntax());
            }
        }
        self.pos = i;
        Ok(())
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), JsonError> {
        if self.buf.get(self.pos..self.pos + word.len()) == Some(word) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(self.syntax())
        }
    }

    /// Consumes one scalar (string, number, boolean or null).
    fn scalar(&mut self) -> Result<(), JsonError> {
        match self.peek()? {
            Kind::String => self.raw_string().map(|_| ()),
            Kind::Number => self.number(),
            Kind::Bool => {
                if self.buf.get(self.pos) == Some(&b't') {
                    self.literal(b"true")
                } else {
                    self.literal(b"false")
                }
            }
            Kind::Null => self.literal(b"null"),
            Kind::Object | Kind::Array => Err(self.syntax()),
        }
    }

    /// Consumes `null` if it is next; tells whether it did.
    pub(crate) fn take_null(&mut self) -> Result<bool, JsonError> {
        if self.peek()? == Kind::Null {
            self.literal(b"null")?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    /// Consumes one complete value of any kind, validating it, without recursion.
    pub(crate) fn skip_value(&mut self) -> Result<(), JsonError> {
        // One bit per open container: 1 = object, 0 = array.
        let mut stack = [0u64; DEPTH_WORDS];
        let mut depth = 0usize;
        loop {
            // A value is expected here.
            match self.peek()? {
                Kind::Object | Kind::Array => {
                    let is_object = self.buf[self.pos] == b'{';
                    if depth == MAX_JSON_DEPTH {
                        return Err(JsonError {
                            kind: JsonErrorKind::TooDeep,
                            offset: self.pos,
                        });
                    }
                    self.pos += 1;
                    let (word, bit) = (depth / 64, 1u64 << (depth % 64));
                    if is_object {
                        stack[word] |= bit;
                    } else {
                        stack[word] &= !bit;
                    }
                    depth += 1;
                    self.skip_ws();
                    let close = if is_object { b'}' } else { b']' };
                    if self.buf.get(self.pos) == Some(&close) {
                        self.pos += 1;
                        depth -= 1;
                    } else {
                        if is_object {
                            self.raw_string()?;
                            self.expect(b':')?;
                        }
                        continue;
                    }
                }
                _ => self.scalar()?,
            }
            // After a value: close containers or move to the next member.
            loop {
                if depth == 0 {
                    return Ok(());
                }
                let top = depth - 1;
                let in_object = stack[top / 64] & (1u64 << (top % 64)) != 0;
                self.skip_ws();
                match self.buf.get(self.pos) {
                    Some(b',') => {
                        self.pos += 1;
                        if in_object {
                            self.raw_string()?;
                            self.expect(b':')?;
                        }
                        break;
                    }
                    Some(b'}') if in_object => {
                        self.pos += 1;
                        depth -= 1;
                    }
                    Some(b']') if !in_object => {
                        self.pos += 1;
                        depth -= 1;
                    }
                    _ => return Err(self.syntax()),
                }
            }
        }
    }
}

/// Decodes JSON escapes in an already validated raw string. `None` for lone surrogates.
fn decode_escapes(raw: &str) -> Option<String> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let esc = &rest[at + 1..];
        let (ch, used) = match esc.as_bytes().first()? {
            b'"' => ('"', 1),
            b'\\' => ('\\', 1),
            b'/' => ('/', 1),
            b'b' => ('\u{8}', 1),
            b'f' => ('\u{c}', 1),
            b'n' => ('\n', 1),
            b'r' => ('\r', 1),
            b't' => ('\t', 1),
            b'u' => {
                let hi = hex4(esc.get(1..5)?)?;
                if (0xD800..0xDC00).contains(&hi) {
                    // A high surrogate must be followed by an escaped low surrogate.
                    let lo = esc
                        .get(5..7)
                        .filter(|s| *s == "\\u")
                        .and_then(|_| hex4(esc.get(7..11)?))?;
                    if !(0xDC00..0xE000).contains(&lo) {
                        return None;
                    }
                    let code = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                    (char::from_u32(code)?, 11)
                } else {
                    (char::from_u32(hi)?, 5)
                }
            }
            _ => return None,
        };
        out.push(ch);
        rest = &esc[used..];
    }
    out.push_str(rest);
    Some(out)
}

fn hex4(s: &str) -> Option<u32> {
    if s.len() == 4 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        u32::from_str_radix(s, 16).ok()
    } else {
        None
    }
}

#[cfg(test)]
#[path = "tests/json.rs"]
mod tests;
