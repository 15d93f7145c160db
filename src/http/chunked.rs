//! The chunked transfer coding (RFC 9112 §7.1) as an incremental, IO-free decoder.
//!
//! The proxy streams chunked bodies through unchanged, but it must know exactly where each
//! body ends (the next pipelined request starts there) and refuse malformed framing rather
//! than guess. The decoder is fed whatever bytes have arrived; it reports how many belong to
//! the body, hands out the chunk data (for dechunking or inspection) and says when the
//! message, including its trailer section, is complete. Line endings must be CRLF: a bare LF
//! is read differently by different servers, so it is rejected.

use super::error::ClientError;

/// Longest chunk-size line (size plus extensions) or trailer line we accept.
pub const MAX_CHUNK_LINE_BYTES: usize = 4096;
/// Largest trailer section we accept.
pub const MAX_TRAILER_BYTES: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading hex digits of a chunk size.
    Size {
        value: u64,
        digits: u8,
    },
    /// After the digits: optional whitespace, then `;` extensions or CRLF.
    AfterSize {
        value: u64,
    },
    Extension {
        value: u64,
    },
    SizeLf {
        value: u64,
    },
    Data {
        remaining: u64,
    },
    DataCr,
    DataLf,
    /// At the start of a trailer line, or of the final empty line.
    TrailerStart,
    TrailerLine,
    TrailerLf,
    FinalLf,
    Done,
}

/// How far a call to [`ChunkedDecoder::decode`] got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes of the input that belong to the chunked body.
    pub consumed: usize,
    /// The body (with its trailer section) is complete.
    pub done: bool,
}

/// Incremental decoder for one chunked body.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: State,
    line_bytes: usize,
    trailer_bytes: usize,
    data_bytes: u64,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        ChunkedDecoder::new()
    }
}

impl ChunkedDecoder {
    pub fn new() -> ChunkedDecoder {
        ChunkedDecoder {
            state: State::Size {
                value: 0,
                digits: 0,
            },
            line_bytes: 0,
            trailer_bytes: 0,
            data_bytes: 0,
        }
    }

    /// Total chunk data decoded so far (the body's length without framing).
    pub fn data_bytes(&self) -> u64 {
        self.data_bytes
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Consumes framing and data from `input`, calling `on_data` for each data slice.
    pub fn decode<'a>(
        &mut self,
        input: &'a [u8],
        mut on_data: impl FnMut(&'a [u8]),
    ) -> Result<Progress, ClientError> {
        let mut pos = 0;
        while pos < input.len() {
            if let State::Data { remaining } = self.state {
                let take = remaining.min((input.len() - pos) as u64) as usize;
                on_data(&input[pos..pos + take]);
                pos += take;
                self.data_bytes += take as u64;
                let remaining = remaining - take as u64;
                self.state = if remaining == 0 {
                    State::DataCr
                } else {
                    State::Data { remaining }
                };
                continue;
            }
            if self.state == State::Done {
                break;
            }
            self.step(input[pos])?;
            pos += 1;
        }
        Ok(Progress {
            consumed: pos,
            done: self.state == State::Done,
        })
    }

    /// Advances the framing state machine by one byte.
    fn step(&mut self, byte: u8) -> Result<(), ClientError> {
        use ClientError::{BadChunkFraming, BadChunkSize, ChunkLineTooLong};
        self.line_bytes += 1;
        if self.line_bytes > MAX_CHUNK_LINE_BYTES {
            return Err(ChunkLineTooLong);
        }
        self.state = match self.state {
            State::Size { value, digits } => match hex_value(byte) {
                Some(d) if digits < 16 => State::Size {
                    value: value << 4 | u64::from(d),
                    digits: digits + 1,
                },
                Some(_) => return Err(BadChunkSize),
                None if digits == 0 => return Err(BadChunkSize),
                None => return self.after_size(value, byte),
            },
            State::AfterSize { value } => return self.after_size(value, byte),
            State::Extension { value } => match byte {
                b'\r' => State::SizeLf { value },
                b'\t' => State::Extension { value },
                0..=0x1f | 0x7f => return Err(BadChunkSize),
                _ => State::Extension { value },
            },
            State::SizeLf { value } => match byte {
                b'\n' => {
                    self.line_bytes = 0;
                    if value == 0 {
                        State::TrailerStart
                    } else {
                        State::Data { remaining: value }
                    }
                }
                _ => return Err(BadChunkSize),
            },
            State::DataCr => match byte {
                b'\r' => State::DataLf,
                _ => return Err(BadChunkFraming),
            },
            State::DataLf => match byte {
                b'\n' => {
                    self.line_bytes = 0;
                    State::Size {
                        value: 0,
                        digits: 0,
                    }
                }
                _ => return Err(BadChunkFraming),
            },
            State::TrailerStart => match byte {
                b'\r' => State::FinalLf,
                // A trailer line starting with whitespace would be obs-fold (RFC 9112 §5.2).
                b' ' | b'\t' | b'\n' => return Err(BadChunkFraming),
                _ => self.trailer_byte(byte)?,
            },
            State::TrailerLine => self.trailer_byte(byte)?,
            State::TrailerLf => match byte {
                b'\n' => {
                    self.line_bytes = 0;
                    State::TrailerStart
                }
                _ => return Err(BadChunkFraming),
            },
            State::FinalLf => match byte {
                b'\n' => State::Done,
                _ => return Err(BadChunkFraming),
            },
            State::Data { .. } | State::Done => unreachable!("handled by decode"),
        };
        Ok(())
    }

    fn after_size(&mut self, value: u64, byte: u8) -> Result<(), ClientError> {
        self.state = match byte {
            b' ' | b'\t' => State::AfterSize { value },
            b';' => State::Extension { value },
            b'\r' => State::SizeLf { value },
            _ => return Err(ClientError::BadChunkSize),
        };
        Ok(())
    }

    fn trailer_byte(&mut self, byte: u8) -> Result<State, ClientError> {
        self.trailer_bytes += 1;
        if self.trailer_bytes > MAX_TRAILER_BYTES {
            return Err(ClientError::ChunkLineTooLong);
        }
        match byte {
            b'\r' => Ok(State::TrailerLf),
            b'\n' | 0 => Err(ClientError::BadChunkFraming),
            _ => Ok(State::TrailerLine),
        }
    }
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8]) -> Result<(Vec<u8>, Progress), ClientError> {
        let mut data = Vec::new();
        let progress = ChunkedDecoder::new().decode(input, |d| data.extend_from_slice(d))?;
        Ok((data, progress))
    }

    const BODY: &[u8] = b"5\r\nhello\r\n1a;ext=\"v\"\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Trailer: t\r\n\r\nGET /next";

    #[test]
    fn decodes_data_extensions_and_trailers() {
        let (data, progress) = decode_all(BODY).unwrap();
        assert_eq!(data, b"helloabcdefghijklmnopqrstuvwxyz");
        assert!(progress.done);
        assert_eq!(&BODY[progress.consumed..], b"GET /next");
    }

    #[test]
    fn every_split_point_gives_the_same_result() {
        let end = BODY.len() - b"GET /next".len();
        for split in 0..=end {
            let mut decoder = ChunkedDecoder::new();
            let mut data = Vec::new();
            let first = decoder
                .decode(&BODY[..split], |d| data.extend_from_slice(d))
                .unwrap();
            assert_eq!(first.consumed, split);
            assert_eq!(first.done, split == end, "split {split}");
            let second = decoder
                .decode(&BODY[split..], |d| data.extend_from_slice(d))
                .unwrap();
            assert!(second.done);
            assert_eq!(split + second.consumed, end);
            assert_eq!(data, b"helloabcdefghijklmnopqrstuvwxyz");
            assert_eq!(decoder.data_bytes(), 31);
        }
    }

    #[test]
    fn byte_at_a_time() {
        let mut decoder = ChunkedDecoder::new();
        let mut data = Vec::new();
        let mut consumed = 0;
        for byte in BODY.chunks(1) {
            consumed += decoder
                .decode(byte, |d| data.extend_from_slice(d))
                .unwrap()
                .consumed;
            if decoder.is_done() {
                break;
            }
        }
        assert_eq!(consumed, BODY.len() - b"GET /next".len());
        assert_eq!(data.len(), 31);
    }

    #[test]
    fn rejects_bad_framing() {
        use ClientError::*;
        let cases: &[(&[u8], ClientError)] = &[
            (b"x\r\n", BadChunkSize),
            (b"\r\n", BadChunkSize),
            (b"-1\r\n", BadChunkSize),
            (b"0x5\r\n", BadChunkSize),
            (b"5 5\r\n", BadChunkSize),
            (b"5\n", BadChunkSize),
            (b"5\rX", BadChunkSize),
            (b"11111111111111111\r\n", BadChunkSize),
            (b"5;a\x00b\r\n", BadChunkSize),
            (b"5\r\nhelloX\r\n", BadChunkFraming),
            (b"5\r\nhello\n0\r\n\r\n", BadChunkFraming),
            (b"0\r\n\n", BadChunkFraming),
            (b"0\r\n folded\r\n\r\n", BadChunkFraming),
            (b"0\r\nX: a\nb\r\n\r\n", BadChunkFraming),
        ];
        for (raw, expected) in cases {
            assert_eq!(
                decode_all(raw).err(),
                Some(*expected),
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[test]
    fn accepts_whitespace_before_extensions_and_max_size() {
        let (_, p) = decode_all(b"0 ;x\r\n\r\n").unwrap();
        assert!(p.done);
        // 16 hex digits fit in a u64: a header line like this is valid even if never served.
        let mut decoder = ChunkedDecoder::new();
        let p = decoder.decode(b"FFFFFFFFFFFFFFFF\r\nab", |_| {}).unwrap();
        assert!(!p.done);
    }

    #[test]
    fn long_lines_are_refused() {
        let mut line = b"5;".to_vec();
        line.extend(std::iter::repeat_n(b'x', MAX_CHUNK_LINE_BYTES));
        assert_eq!(decode_all(&line).err(), Some(ClientError::ChunkLineTooLong));
    }
}
