//! Streaming, bounded decompression of `Content-Encoding: gzip | deflate` request bodies.
//!
//! Owns: turning the compressed bytes of a body, fed in any chunks, into the bytes
//! Elasticsearch will parse, so the scanners see exactly what Elasticsearch sees. The caller
//! forwards the original compressed bytes unchanged; this only inspects. Must not: hold more
//! than one fixed output buffer, or produce more than the configured number of bytes (a zip
//! bomb is an error mapped to 413, not an allocation).
//!
//! Elasticsearch (and OpenSearch) decompress request bodies with Netty's
//! `HttpContentDecompressor`; the decisions below follow it:
//! - `gzip`/`x-gzip` and `deflate`/`x-deflate`, trimmed and case-insensitive; absent, empty
//!   or `identity` means no decoding. Anything else is refused with 415 (Netty would pass
//!   the bytes through undecoded and Elasticsearch would fail on them anyway).
//! - `deflate` is zlib-wrapped or raw, chosen like Netty's `JdkZlibDecoder.looksLikeZlib`
//!   on the first two bytes, so a stream that decodes both ways is read Netty's way.
//! - gzip: header checked (magic, method 8, no reserved flags; optional fields skipped),
//!   CRC-32 and length trailer verified, as Netty does.
//! - Bytes after the end of the compressed stream (a second gzip member, garbage) are an
//!   error: Netty ignores them, so rejecting is the safe side.
//! - A truncated stream is an error at `finish` (Netty would hand Elasticsearch the prefix).

use crc32fast::Hasher as Crc;
use flate2::{Decompress, FlushDecompress, Status};

use super::error::BodyError;

/// Size of the inflater's single output buffer.
const INFLATE_CHUNK_BYTES: usize = 32 * 1024;
/// Compressed bytes inflated at a time into a caller's buffer (a few hundred KiB of output).
const INFLATE_INPUT_SLICE_BYTES: usize = 32 * 1024;

/// A request body's `Content-Encoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentEncoding {
    Identity,
    Gzip,
    Deflate,
}

impl ContentEncoding {
    /// Reads the header value (`None` when the header is absent). The caller must refuse a
    /// request with more than one `Content-Encoding` header (Netty reads only the first).
    pub fn from_header(value: Option<&[u8]>) -> Result<ContentEncoding, BodyError> {
        let Some(value) = value else {
            return Ok(ContentEncoding::Identity);
        };
        let value = value.trim_ascii();
        let is = |name: &str| value.eq_ignore_ascii_case(name.as_bytes());
        if value.is_empty() || is("identity") {
            Ok(ContentEncoding::Identity)
        } else if is("gzip") || is("x-gzip") {
            Ok(ContentEncoding::Gzip)
        } else if is("deflate") || is("x-deflate") {
            Ok(ContentEncoding::Deflate)
        } else {
            Err(BodyError::UnsupportedEncoding)
        }
    }
}

#[derive(Debug)]
enum State {
    Identity,
    /// Reading the gzip header (RFC 1952 §2.3).
    GzipHeader(GzipHeader),
    /// `deflate`: waiting for the first two bytes to tell zlib from raw deflate.
    DeflateSniff(Option<u8>),
    Inflate {
        gzip: bool,
    },
    /// Reading the 8-byte gzip trailer: CRC-32 and ISIZE, little-endian.
    GzipTrailer {
        bytes: [u8; 8],
        len: usize,
    },
    Done,
}

#[derive(Debug, Default)]
struct GzipHeader {
    fixed: [u8; 10],
    fixed_len: usize,
    /// FEXTRA length bytes read so far and the length itself.
    xlen_bytes: usize,
    extra_left: usize,
    /// Remaining optional parts, as FLG bits still to skip.
    pending: u8,
    hcrc_left: usize,
}

const FHCRC: u8 = 0x02;
const FEXTRA: u8 = 0x04;
const FNAME: u8 = 0x08;
const FCOMMENT: u8 = 0x10;
const FRESERVED: u8 = 0xE0;

impl GzipHeader {
    /// Consumes header bytes; returns how many, and whether the header is complete.
    fn advance(&mut self, input: &[u8]) -> Result<(usize, bool), BodyError> {
        let mut used = 0;
        while self.fixed_len < 10 {
            let Some(&b) = input.get(used) else {
                return Ok((used, false));
            };
            self.fixed[self.fixed_len] = b;
            self.fixed_len += 1;
            used += 1;
            if self.fixed_len == 10 {
                let [id1, id2, method, flags, ..] = self.fixed;
                if id1 != 0x1f || id2 != 0x8b || method != 8 || flags & FRESERVED != 0 {
                    return Err(BodyError::CorruptCompressed);
                }
                self.pending = flags & (FEXTRA | FNAME | FCOMMENT | FHCRC);
                self.hcrc_left = 2;
            }
        }
        loop {
            let Some(&b) = input.get(used) else {
                return Ok((used, self.pending == 0));
            };
            if self.pending & FEXTRA != 0 {
                if self.xlen_bytes < 2 {
                    self.extra_left |= usize::from(b) << (8 * self.xlen_bytes);
                    self.xlen_bytes += 1;
                    used += 1;
                } else if self.extra_left > 0 {
                    let take = self.extra_left.min(input.len() - used);
                    self.extra_left -= take;
                    used += take;
                }
                if self.xlen_bytes == 2 && self.extra_left == 0 {
                    self.pending &= !FEXTRA;
                }
            } else if self.pending & (FNAME | FCOMMENT) != 0 {
                used += 1;
                if b == 0 {
                    // FNAME comes before FCOMMENT; clear the lowest pending one.
                    let bit = if self.pending & FNAME != 0 {
                        FNAME
                    } else {
                        FCOMMENT
                    };
                    self.pending &= !bit;
                }
            } else if self.pending & FHCRC != 0 {
                used += 1;
                self.hcrc_left -= 1;
                if self.hcrc_left == 0 {
                    self.pending &= !FHCRC;
                }
            } else {
                return Ok((used, true));
            }
        }
    }
}

/// Push-style inflater: feed compressed chunks, receive inflated chunks through `sink`.
pub struct Inflater {
    state: State,
    decompress: Option<Decompress>,
    out: Box<[u8]>,
    crc: Crc,
    total_in: u64,
    total_out: u64,
    /// Inflated bytes of the current gzip member (for ISIZE).
    member_out: u64,
    max_out: u64,
    failed: Option<BodyError>,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater")
            .field("state", &self.state)
            .field("total_in", &self.total_in)
            .field("total_out", &self.total_out)
            .field("max_out", &self.max_out)
            .finish_non_exhaustive()
    }
}

impl Inflater {
    /// `max_inflated_bytes` bounds the decoded body; past it, [`BodyError::InflatedTooLarge`].
    pub fn new(encoding: ContentEncoding, max_inflated_bytes: u64) -> Inflater {
        let state = match encoding {
            ContentEncoding::Identity => State::Identity,
            ContentEncoding::Gzip => State::GzipHeader(GzipHeader::default()),
            ContentEncoding::Deflate => State::DeflateSniff(None),
        };
        let out = if encoding == ContentEncoding::Identity {
            Box::default()
        } else {
            vec![0u8; INFLATE_CHUNK_BYTES].into_boxed_slice()
        };
        Inflater {
            state,
            decompress: None,
            out,
            crc: Crc::new(),
            total_in: 0,
            total_out: 0,
            member_out: 0,
            max_out: max_inflated_bytes,
            failed: None,
        }
    }

    /// Inflated bytes produced so far.
    pub fn total_out(&self) -> u64 {
        self.total_out
    }

    /// Decodes the next compressed chunk, passing every decoded piece to `sink` (an error
    /// from `sink` stops decoding and is returned). Errors are sticky.
    pub fn feed(
        &mut self,
        input: &[u8],
        mut sink: impl FnMut(&[u8]) -> Result<(), BodyError>,
    ) -> Result<(), BodyError> {
        if let Some(err) = self.failed {
            return Err(err);
        }
        let result = self.feed_inner(input, &mut Out::Sink(&mut sink));
        if let Err(err) = result {
            self.failed = Some(err);
        }
        result
    }

    /// Decodes the next compressed chunk straight into the spare room of `out` (grown when
    /// full, never by more than the limit still allows), with no copy through the
    /// inflater's own buffer. Errors are sticky.
    pub fn feed_into(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), BodyError> {
        if let Some(err) = self.failed {
            return Err(err);
        }
        let result = self.feed_inner(input, &mut Out::Vec(out));
        if let Err(err) = result {
            self.failed = Some(err);
        }
        result
    }

    /// Ends the body: the compressed stream must be complete. An empty body is fine (there
    /// is nothing to decode, and Elasticsearch sees an empty body too).
    pub fn finish(&mut self) -> Result<u64, BodyError> {
        if let Some(err) = self.failed {
            return Err(err);
        }
        match self.state {
            State::Identity | State::Done => Ok(self.total_out),
            _ if self.total_in == 0 => Ok(0),
            _ => {
                self.failed = Some(BodyError::CorruptCompressed);
                Err(BodyError::CorruptCompressed)
            }
        }
    }

    fn feed_inner(&mut self, mut input: &[u8], out: &mut Out<'_>) -> Result<(), BodyError> {
        self.total_in += input.len() as u64;
        while !input.is_empty() {
            match &mut self.state {
                State::Identity => {
                    self.total_out += input.len() as u64;
                    if self.total_out > self.max_out {
                        return Err(BodyError::InflatedTooLarge);
                    }
                    return match out {
                        Out::Sink(sink) => sink(input),
                        Out::Vec(v) => {
                            v.extend_from_slice(input);
                            Ok(())
                        }
                    };
                }
                State::GzipHeader(header) => {
                    let (used, done) = header.advance(input)?;
                    input = &input[used..];
                    if done {
                        self.decompress = Some(Decompress::new(false));
                        self.state = State::Inflate { gzip: true };
                    }
                }
                State::DeflateSniff(first) => match *first {
                    None => {
                        *first = Some(input[0]);
                        input = &input[1..];
                    }
                    Some(b0) => {
                        // Netty: zlib when (cmf_flg & 0x7800) == 0x7800 && cmf_flg % 31 == 0,
                        // computed on a Java (signed) short.
                        let cmf_flg = i16::from_be_bytes([b0, input[0]]);
                        let zlib = cmf_flg & 0x7800 == 0x7800 && cmf_flg % 31 == 0;
                        self.decompress = Some(Decompress::new(zlib));
                        self.state = State::Inflate { gzip: false };
                        self.inflate(&[b0], false, out)?;
                    }
                },
                State::Inflate { gzip } => {
                    let gzip = *gzip;
                    input = self.inflate(input, gzip, out)?;
                }
                State::GzipTrailer { bytes, len } => {
                    let take = (8 - *len).min(input.len());
                    bytes[*len..*len + take].copy_from_slice(&input[..take]);
                    *len += take;
                    input = &input[take..];
                    if *len == 8 {
                        let [c0, c1, c2, c3, s0, s1, s2, s3] = *bytes;
                        let crc = u32::from_le_bytes([c0, c1, c2, c3]);
                        let size = u32::from_le_bytes([s0, s1, s2, s3]);
                        // ISIZE is the length modulo 2^32 (RFC 1952 §2.3.1).
                        if crc != self.crc.clone().finalize() || size != self.member_out as u32 {
                            return Err(BodyError::CorruptCompressed);
                        }
                        self.state = State::Done;
                    }
                }
                State::Done => return Err(BodyError::CorruptCompressed),
            }
        }
        Ok(())
    }

    /// Runs the decompressor over `input` until it needs more input or the stream ends;
    /// returns the unconsumed rest (non-empty only after the end of the stream).
    fn inflate<'i>(
        &mut self,
        mut input: &'i [u8],
        gzip: bool,
        out: &mut Out<'_>,
    ) -> Result<&'i [u8], BodyError> {
        let Some(decompress) = self.decompress.as_mut() else {
            return Err(BodyError::CorruptCompressed);
        };
        loop {
            let (in_before, out_before) = (decompress.total_in(), decompress.total_out());
            // Where this round's output starts in the caller's buffer, and the room it had.
            let (start, room) = match out {
                Out::Sink(_) => (0, self.out.len()),
                Out::Vec(v) => {
                    if v.len() == v.capacity() {
                        // Double, but never past what the limit still allows (+1 to see it
                        // passed).
                        let allowed = self
                            .max_out
                            .saturating_sub(self.total_out)
                            .saturating_add(1);
                        let allowed = usize::try_from(allowed).unwrap_or(usize::MAX);
                        v.reserve_exact(v.len().max(INFLATE_CHUNK_BYTES).min(allowed));
                    }
                    (v.len(), v.capacity() - v.len())
                }
            };
            let status = match out {
                Out::Sink(_) => decompress.decompress(input, &mut self.out, FlushDecompress::None),
                // A slice of the input at a time: its output is checksummed while it is still
                // in the cache.
                Out::Vec(v) => {
                    let slice = &input[..input.len().min(INFLATE_INPUT_SLICE_BYTES)];
                    decompress.decompress_vec(slice, v, FlushDecompress::None)
                }
            }
            .map_err(|_| BodyError::CorruptCompressed)?;
            let used = usize::try_from(decompress.total_in() - in_before)
                .map_err(|_| BodyError::CorruptCompressed)?;
            let produced = usize::try_from(decompress.total_out() - out_before)
                .map_err(|_| BodyError::CorruptCompressed)?;
            input = input.get(used..).ok_or(BodyError::CorruptCompressed)?;
            if produced > 0 {
                self.total_out += produced as u64;
                if self.total_out > self.max_out {
                    return Err(BodyError::InflatedTooLarge);
                }
                let piece = match out {
                    Out::Sink(_) => self.out.get(..produced),
                    Out::Vec(v) => v.get(start..start + produced),
                }
                .ok_or(BodyError::CorruptCompressed)?;
                if gzip {
                    self.crc.update(piece);
                    self.member_out += produced as u64;
                }
                if let Out::Sink(sink) = out {
                    sink(&self.out[..produced])?;
                }
            }
            if status == Status::StreamEnd {
                self.state = if gzip {
                    State::GzipTrailer {
                        bytes: [0; 8],
                        len: 0,
                    }
                } else {
                    State::Done
                };
                return Ok(input);
            }
            if produced == room {
                continue; // the decoder may hold more output
            }
            if input.is_empty() {
                return Ok(input);
            }
            if used == 0 && produced == 0 {
                return Err(BodyError::CorruptCompressed);
            }
        }
    }
}

/// Where inflated bytes go.
enum Out<'a> {
    /// Through the inflater's own buffer, piece by piece.
    Sink(&'a mut dyn FnMut(&[u8]) -> Result<(), BodyError>),
    /// Straight into the spare room of a buffer.
    Vec(&'a mut Vec<u8>),
}

/// Decodes a whole body into memory (for the small JSON bodies: mget, reindex, aliases,
/// templates), bounded by `max_inflated_bytes`.
pub fn inflate_to_vec(
    encoding: ContentEncoding,
    body: &[u8],
    max_inflated_bytes: u64,
) -> Result<Vec<u8>, BodyError> {
    let mut out = Vec::new();
    inflate_into(encoding, body, max_inflated_bytes, &mut out)?;
    Ok(out)
}

/// Decodes a whole body, appending it to `out` (a buffer the caller reserved, see
/// [`inflated_size_hint`]), bounded by `max_inflated_bytes`.
pub fn inflate_into(
    encoding: ContentEncoding,
    body: &[u8],
    max_inflated_bytes: u64,
    out: &mut Vec<u8>,
) -> Result<(), BodyError> {
    let mut inflater = Inflater::new(encoding, max_inflated_bytes);
    inflater.feed_into(body, out)?;
    inflater.finish()?;
    Ok(())
}

/// What a complete body says its inflated length is, to reserve room for it once: a gzip
/// body ends with the length of its (last) member modulo 2^32 (ISIZE, RFC 1952 §2.3.1).
/// Only a hint: the client wrote it, and it is checked only while inflating. `None` for
/// other encodings.
pub fn inflated_size_hint(encoding: ContentEncoding, body: &[u8]) -> Option<u64> {
    match (encoding, body.len().checked_sub(4)) {
        (ContentEncoding::Gzip, Some(at)) => {
            let mut isize = [0u8; 4];
            isize.copy_from_slice(&body[at..]);
            Some(u64::from(u32::from_le_bytes(isize)))
        }
        _ => None,
    }
}

#[cfg(test)]
#[path = "tests/inflate.rs"]
mod tests;
