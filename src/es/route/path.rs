//! Raw path checks and the split into segments, in one pass over the bytes.
//!
//! Owns: which raw bytes a path may hold, the `/` split with Java `String.split` semantics (ES
//! `PathTrie.retrieve` splits the raw path with `path.split("/")`, which drops trailing empty
//! strings), and the refusal of empty and dot segments. Must not: decode anything (segments are
//! matched raw, see `route`), allocate, or panic.

use smallvec::SmallVec;

use super::{RouteError, MAX_SEGMENTS};

/// What a raw path byte is to `Path::split`.
const BAD: u8 = 0;
const PLAIN: u8 = 1;
const SLASH: u8 = 2;
/// `%` or `,`: the segment's value is not simply its raw bytes.
const MARK: u8 = 3;

/// Printable ASCII is allowed raw in a path, except `\\` and `#` (`?` ends the path).
const fn path_byte_classes() -> [u8; 256] {
    let mut table = [BAD; 256];
    let mut b = 0x21;
    while b < 0x7f {
        table[b] = match b as u8 {
            b'\\' | b'#' => BAD,
            b'/' => SLASH,
            b'%' | b',' => MARK,
            _ => PLAIN,
        };
        b += 1;
    }
    table
}
static PATH_BYTE_CLASS: [u8; 256] = path_byte_classes();

/// The raw segments of a path, as the server's `PathTrie` sees them.
#[derive(Default)]
pub(super) struct Path<'a> {
    /// The first [`MAX_SEGMENTS`] segments.
    pub(super) segs: SmallVec<[&'a str; MAX_SEGMENTS]>,
    /// Bit `i`: segment `i` holds neither `%` nor `,`, so its value is itself, one name.
    pub(super) plain: u16,
    /// The path has more than [`MAX_SEGMENTS`] segments: no route is that long.
    pub(super) too_long: bool,
}

impl<'a> Path<'a> {
    /// Validates `path` (no query) and splits it on '/' in one pass. Trailing '/' are dropped
    /// (Java `String.split`), other empty segments are errors.
    pub(super) fn split(&mut self, path: &'a str) -> Result<(), RouteError> {
        let bytes = path.as_bytes();
        if bytes.first() != Some(&b'/') {
            return Err(RouteError::NotAbsolutePath);
        }
        let mut start = 1;
        let mut plain = true;
        let mut pending_empty = false;
        for (i, &b) in bytes.iter().enumerate().skip(1) {
            match PATH_BYTE_CLASS[usize::from(b)] {
                PLAIN => {}
                SLASH => {
                    self.push(path.get(start..i), plain, &mut pending_empty)?;
                    start = i + 1;
                    plain = true;
                }
                MARK => plain = false,
                _ => return Err(RouteError::InvalidPathByte),
            }
        }
        self.push(path.get(start..), plain, &mut pending_empty)
    }

    fn push(
        &mut self,
        seg: Option<&'a str>,
        plain: bool,
        pending_empty: &mut bool,
    ) -> Result<(), RouteError> {
        // Only printable ASCII reaches here, so every index is a char boundary.
        let seg = seg.ok_or(RouteError::InvalidPathByte)?;
        if seg.is_empty() {
            // Empty: an error unless only empty segments (trailing '/') follow.
            *pending_empty = true;
            return Ok(());
        }
        if *pending_empty {
            return Err(RouteError::EmptySegment);
        }
        if is_dot_segment(seg.as_bytes()) {
            return Err(RouteError::DotSegment);
        }
        let i = self.segs.len();
        if i == MAX_SEGMENTS {
            self.too_long = true;
            return Ok(());
        }
        if plain {
            self.plain |= 1 << i;
        }
        self.segs.push(seg);
        Ok(())
    }
}

/// `.` or `..`, raw or with the dots percent-encoded (`%2e`, `.%2E`, `%2e%2e`, ...).
fn is_dot_segment(seg: &[u8]) -> bool {
    if seg.len() > 6 || !matches!(seg.first(), Some(b'.' | b'%')) {
        return false;
    }
    let mut dots = 0;
    let mut i = 0;
    while i < seg.len() {
        if seg[i] == b'.' {
            i += 1;
        } else if seg[i] == b'%'
            && seg.get(i + 1) == Some(&b'2')
            && matches!(seg.get(i + 2), Some(b'e' | b'E'))
        {
            i += 3;
        } else {
            return false;
        }
        dots += 1;
    }
    dots == 1 || dots == 2
}
