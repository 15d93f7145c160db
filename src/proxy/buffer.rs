//! A connection's read buffer and the ownership-passing IO around it.
//!
//! monoio IO takes buffers by value and hands them back. A [`ReadBuf`] keeps one `Vec` per
//! connection: bytes `[start..len)` have arrived and are not yet consumed; reads append to the
//! spare capacity; writes send a slice of it without copying. If a read future is dropped
//! (a timeout), the buffer goes with it; every timeout closes the connection, so that is fine.

use monoio::buf::{IoBuf, IoBufMut};
use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use std::io;
use std::time::Duration;

/// Reads never ask for less than this much spare room; smaller leftovers are compacted first.
const MIN_READ_BYTES: usize = 4096;

#[derive(Debug)]
pub struct ReadBuf {
    buf: Vec<u8>,
    start: usize,
}

impl ReadBuf {
    pub fn with_capacity(capacity: usize) -> ReadBuf {
        ReadBuf {
            buf: Vec::with_capacity(capacity),
            start: 0,
        }
    }

    /// Bytes received and not yet consumed.
    pub fn data(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    pub fn len(&self) -> usize {
        self.buf.len() - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.buf.len()
    }

    pub fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.len());
        self.start += n;
        if self.start == self.buf.len() {
            self.start = 0;
            self.buf.clear();
        }
    }

    /// Whether a read would have no room left without growing (the data fills the buffer).
    pub fn is_full(&self) -> bool {
        self.len() >= self.buf.capacity()
    }

    /// Reads more bytes from `stream`; returns how many (0 means the peer closed).
    pub async fn fill(&mut self, stream: &mut TcpStream, timeout: Duration) -> io::Result<usize> {
        if self.buf.capacity() - self.buf.len() < MIN_READ_BYTES && self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        if self.buf.capacity() == self.buf.len() {
            self.buf.reserve(MIN_READ_BYTES);
        }
        let len = self.buf.len();
        let capacity = self.buf.capacity();
        let buf = std::mem::take(&mut self.buf);
        let read = stream.read(buf.slice_mut(len..capacity));
        let (result, slice) = monoio::time::timeout(timeout, read)
            .await
            .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))?;
        self.buf = slice.into_inner();
        result
    }

    /// Writes `data()[..n]` to `stream` within `timeout` and consumes it. A peer that stops
    /// reading (a zero TCP window) times out instead of holding the connection forever; the
    /// buffer is then gone, and so is the connection.
    pub async fn write_prefix(
        &mut self,
        stream: &mut TcpStream,
        n: usize,
        timeout: Duration,
    ) -> io::Result<()> {
        let range = self.start..self.start + n;
        let buf = std::mem::take(&mut self.buf);
        let (result, slice) = monoio::time::timeout(timeout, stream.write_all(buf.slice(range)))
            .await
            .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))?;
        self.buf = slice.into_inner();
        result?;
        self.consume(n);
        Ok(())
    }
}

/// Writes all of `buf` within `timeout` and hands the buffer back (empty after a timeout,
/// when the connection is closed anyway).
pub async fn write_all(
    stream: &mut TcpStream,
    buf: Vec<u8>,
    timeout: Duration,
) -> (io::Result<()>, Vec<u8>) {
    match monoio::time::timeout(timeout, stream.write_all(buf)).await {
        Ok((result, buf)) => (result.map(|_| ()), buf),
        Err(_) => (Err(io::ErrorKind::TimedOut.into()), Vec::new()),
    }
}

/// Closes a connection the client may still be sending on: answer first, then read and
/// discard for a moment so the kernel does not reset the connection (and destroy the answer
/// in flight) because unread bytes were pending at close. RFC 9112 §9.6.
pub async fn linger_close(mut stream: TcpStream, mut buf: ReadBuf) {
    const LINGER: Duration = Duration::from_millis(2000);
    const LINGER_BYTES: usize = 4 * 1024 * 1024;
    let _ = stream.shutdown().await;
    let drain = async {
        let mut discarded = 0;
        while discarded < LINGER_BYTES {
            match buf.fill(&mut stream, LINGER).await {
                Ok(n) if n > 0 => {
                    discarded += n;
                    buf.consume(buf.len());
                }
                _ => break,
            }
        }
    };
    let _ = monoio::time::timeout(LINGER, drain).await;
}
