//! Finds where an HTTP/1.1 response ends, fed in pieces as they are read (RFC 9112).
//!
//! Owns only framing: the status code, whether the server will close the connection, and
//! the end of the body (`Content-Length` or chunked, section 6.3). Bodies are counted, not
//! kept, so a 10 MB response costs no memory. Responses framed by the connection's close
//! are refused: every server the harness measures frames its answers.

/// Longest head or chunk-size line accepted.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    HeadTooLarge,
    BadStatusLine,
    BadContentLength,
    BadChunkSize,
    /// Neither `Content-Length` nor chunked: the body would end at the close.
    Unframed,
}

/// What a piece of input did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// All of it belongs to a response not yet complete.
    NeedMore,
    /// The response ended after `used` bytes of this piece.
    Done {
        status: u16,
        close: bool,
        used: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Head,
    Body {
        remaining: u64,
    },
    ChunkSize,
    ChunkData {
        remaining: u64,
    },
    /// The CRLF after a chunk's data; `seen` of its two bytes read.
    ChunkEnd {
        seen: u8,
    },
    /// Trailer lines after the last chunk, up to an empty line.
    Trailers,
}

/// The framing state of one response; [`ResponseParser::reset`] before the next.
#[derive(Debug)]
pub struct ResponseParser {
    phase: Phase,
    /// The head, a chunk-size line or a trailer line read so far.
    line: Vec<u8>,
    status: u16,
    close: bool,
}

impl Default for ResponseParser {
    fn default() -> Self {
        ResponseParser {
            phase: Phase::Head,
            line: Vec::new(),
            status: 0,
            close: false,
        }
    }
}

impl ResponseParser {
    pub fn reset(&mut self) {
        self.phase = Phase::Head;
        self.line.clear();
        self.status = 0;
        self.close = false;
    }

    /// Takes the next bytes read from the connection.
    pub fn feed(&mut self, data: &[u8]) -> Result<Progress, ParseError> {
        let mut at = 0;
        loop {
            let rest = &data[at..];
            match self.phase {
                Phase::Head => {
                    let Some(used) = self.take_until(rest, b"\r\n\r\n")? else {
                        return Ok(Progress::NeedMore);
                    };
                    at += used;
                    self.phase = self.parse_head()?;
                    self.line.clear();
                }
                Phase::Body { remaining } => {
                    let n = remaining.min(rest.len() as u64);
                    at += n as usize;
                    if n == remaining {
                        return Ok(Progress::Done {
                            status: self.status,
                            close: self.close,
                            used: at,
                        });
                    }
                    self.phase = Phase::Body {
                        remaining: remaining - n,
                    };
                    return Ok(Progress::NeedMore);
                }
                Phase::ChunkSize => {
                    let Some(used) = self.take_until(rest, b"\n")? else {
                        return Ok(Progress::NeedMore);
                    };
                    at += used;
                    let size = chunk_size(&self.line)?;
                    self.line.clear();
                    self.phase = if size == 0 {
                        Phase::Trailers
                    } else {
                        Phase::ChunkData { remaining: size }
                    };
                }
                Phase::ChunkData { remaining } => {
                    let n = remaining.min(rest.len() as u64);
                    at += n as usize;
                    if n < remaining {
                        self.phase = Phase::ChunkData {
                            remaining: remaining - n,
                        };
                        return Ok(Progress::NeedMore);
                    }
                    self.phase = Phase::ChunkEnd { seen: 0 };
                }
                Phase::ChunkEnd { seen } => {
                    let n = (2 - seen as usize).min(rest.len());
                    at += n;
                    if seen as usize + n < 2 {
                        self.phase = Phase::ChunkEnd {
                            seen: seen + n as u8,
                        };
                        return Ok(Progress::NeedMore);
                    }
                    self.phase = Phase::ChunkSize;
                }
                Phase::Trailers => {
                    let Some(used) = self.take_until(rest, b"\n")? else {
                        return Ok(Progress::NeedMore);
                    };
                    at += used;
                    let empty = self.line == b"\r\n" || self.line == b"\n";
                    self.line.clear();
                    if empty {
                        return Ok(Progress::Done {
                            status: self.status,
                            close: self.close,
                            used: at,
                        });
                    }
                }
            }
        }
    }

    /// Appends `rest` to `line` up to and including the first `end` (which may begin in
    /// `line`); returns how many bytes of `rest` that took, or None if all of them.
    fn take_until(&mut self, rest: &[u8], end: &[u8]) -> Result<Option<usize>, ParseError> {
        // A terminator that begins in `line` and ends in `rest` comes before any that lies
        // wholly in `rest` (`line` never holds a whole one).
        let carry = self.line.len().min(end.len() - 1);
        let mut joint = [0u8; 8];
        let head = rest.len().min(end.len() - 1);
        joint[..carry].copy_from_slice(&self.line[self.line.len() - carry..]);
        joint[carry..carry + head].copy_from_slice(&rest[..head]);
        let found = joint[..carry + head]
            .windows(end.len())
            .position(|w| w == end)
            .map(|p| p + end.len() - carry)
            .or_else(|| {
                rest.windows(end.len())
                    .position(|w| w == end)
                    .map(|p| p + end.len())
            });
        let used = found.unwrap_or(rest.len());
        if self.line.len() + used > MAX_HEAD_BYTES {
            return Err(ParseError::HeadTooLarge);
        }
        self.line.extend_from_slice(&rest[..used]);
        Ok(found)
    }

    /// Reads the status and framing from the complete head in `line`.
    fn parse_head(&mut self) -> Result<Phase, ParseError> {
        let head = &self.line;
        let mut lines = head.split(|&b| b == b'\n').map(trim_cr);
        let status_line = lines.next().unwrap_or_default();
        if !status_line.starts_with(b"HTTP/1.") || status_line.len() < 12 {
            return Err(ParseError::BadStatusLine);
        }
        self.status = std::str::from_utf8(&status_line[9..12])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or(ParseError::BadStatusLine)?;
        // HTTP/1.0 closes unless it says keep-alive; the harness only meets 1.1.
        self.close = status_line.starts_with(b"HTTP/1.0");
        let mut length = None;
        let mut chunked = false;
        for line in lines {
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                continue;
            };
            let (name, value) = (&line[..colon], trim(&line[colon + 1..]));
            if name.eq_ignore_ascii_case(b"content-length") {
                let n = std::str::from_utf8(value)
                    .ok()
                    .and_then(|s| s.parse::<u64>().ok())
                    .ok_or(ParseError::BadContentLength)?;
                if length.is_some_and(|l| l != n) {
                    return Err(ParseError::BadContentLength);
                }
                length = Some(n);
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                chunked = contains_token(value, b"chunked");
            } else if name.eq_ignore_ascii_case(b"connection") {
                self.close = contains_token(value, b"close");
            }
        }
        // No body: 1xx, 204 and 304 (RFC 9112 section 6.3, rule 1).
        if self.status < 200 || self.status == 204 || self.status == 304 {
            return Ok(Phase::Body { remaining: 0 });
        }
        // Transfer-Encoding overrides Content-Length (rule 3).
        match (chunked, length) {
            (true, _) => Ok(Phase::ChunkSize),
            (false, Some(n)) => Ok(Phase::Body { remaining: n }),
            (false, None) => Err(ParseError::Unframed),
        }
    }
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn trim(value: &[u8]) -> &[u8] {
    let start = value.iter().position(|b| !b.is_ascii_whitespace());
    let end = value.iter().rposition(|b| !b.is_ascii_whitespace());
    match (start, end) {
        (Some(s), Some(e)) => &value[s..=e],
        _ => &[],
    }
}

fn contains_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| trim(t).eq_ignore_ascii_case(token))
}

/// The size in a chunk-size line (hex, extensions after `;` ignored).
fn chunk_size(line: &[u8]) -> Result<u64, ParseError> {
    let line = trim(trim_cr(line.strip_suffix(b"\n").unwrap_or(line)));
    let digits = line
        .split(|&b| b == b';')
        .next()
        .map(trim)
        .unwrap_or_default();
    if digits.is_empty() || digits.len() > 15 {
        return Err(ParseError::BadChunkSize);
    }
    std::str::from_utf8(digits)
        .ok()
        .and_then(|s| u64::from_str_radix(s, 16).ok())
        .ok_or(ParseError::BadChunkSize)
}

#[cfg(test)]
mod tests;
