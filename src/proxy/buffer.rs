//! A connection's read buffer and the ownership-passing IO around it.
//!
//! monoio IO takes buffers by value and hands them back. A [`ReadBuf`] keeps one `Vec` per
//! connection while it serves a request: bytes `[start..len)` have arrived and are not yet
//! consumed; reads append to the spare capacity; writes send a slice of it without copying.
//! Between requests the `Vec` goes back to the worker's pool ([`ReadBuf::release`]) and the
//! connection waits for readability without a buffer ([`wait_readable`]). If a read future
//! is dropped (a timeout), the buffer goes with it; every timeout closes the connection, so
//! that is fine.

use super::deadline;
use super::pool;
use super::stream::Stream;
use monoio::buf::{IoBuf, IoBufMut};
use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};
use std::io;
use std::time::{Duration, Instant};

/// Reads never ask for less than this much spare room; smaller leftovers are compacted first.
const MIN_READ_BYTES: usize = 4096;

/// A connection's received bytes; holds no memory until the first read.
#[derive(Debug, Default)]
pub struct ReadBuf {
    buf: Vec<u8>,
    start: usize,
}

impl ReadBuf {
    pub fn new() -> ReadBuf {
        ReadBuf::default()
    }

    /// Gives the buffer back to the worker's pool when nothing unconsumed is in it: the
    /// connection is about to wait, and an idle connection holds no buffer.
    pub fn release(&mut self) {
        if self.is_empty() && self.buf.capacity() > 0 {
            pool::give_read(std::mem::take(&mut self.buf));
            self.start = 0;
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

    /// Reads more bytes from `stream` within `timeout`; returns how many (0 means the peer
    /// closed).
    pub async fn fill(&mut self, stream: &mut Stream, timeout: Duration) -> io::Result<usize> {
        deadline::timeout(timeout, self.read_more(stream))
            .await
            .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))?
    }

    /// Reads more bytes from `stream`, taking a buffer from the pool if it has none; the
    /// caller bounds the wait.
    pub async fn read_more(&mut self, stream: &mut Stream) -> io::Result<usize> {
        if self.buf.capacity() == 0 {
            self.buf = pool::take_read();
            self.start = 0;
        }
        if self.buf.capacity() - self.buf.len() < MIN_READ_BYTES && self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        if self.buf.capacity() == self.buf.len() {
            self.buf.reserve(MIN_READ_BYTES);
        }
        let len = self.buf.len();
        let capacity = self.buf.capacity();
        match stream {
            Stream::Plain(tcp) => {
                let buf = std::mem::take(&mut self.buf);
                let (result, slice) = tcp.read(buf.slice_mut(len..capacity)).await;
                self.buf = slice.into_inner();
                result
            }
            // Plaintext is copied in: the buffer stays here, a timeout loses nothing of it.
            Stream::Tls(tls) => tls.read_into(&mut self.buf, capacity - len).await,
        }
    }

    /// Writes `data()[..n]` to `stream` within `timeout` and consumes it. A peer that stops
    /// reading (a zero TCP window) times out instead of holding the connection forever; the
    /// buffer is then gone, and so is the connection.
    pub async fn write_prefix(
        &mut self,
        stream: &mut Stream,
        n: usize,
        timeout: Duration,
    ) -> io::Result<()> {
        let range = self.start..self.start + n;
        match stream {
            Stream::Plain(tcp) => {
                let buf = std::mem::take(&mut self.buf);
                let (result, slice) = deadline::timeout(timeout, tcp.write_all(buf.slice(range)))
                    .await
                    .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))?;
                self.buf = slice.into_inner();
                result?;
            }
            Stream::Tls(tls) => deadline::timeout(timeout, tls.write_all(&self.buf[range]))
                .await
                .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??,
        }
        self.consume(n);
        Ok(())
    }
}

/// How long a request body may take to arrive, read, forwarded or drained alike: every read
/// within `timeout`, and the whole body no slower than `timeout` plus one second per
/// `min_rate` bytes received (a client trickling a byte per few seconds is closed).
#[derive(Debug, Clone, Copy)]
pub struct BodyPace {
    started: Instant,
    timeout: Duration,
    /// Bytes per second; 0 turns the rate check off.
    min_rate: u64,
}

impl BodyPace {
    pub fn new(limits: &crate::config::Limits, now: Instant) -> BodyPace {
        BodyPace {
            started: now,
            timeout: limits.body_timeout,
            min_rate: limits.min_body_bytes_per_sec,
        }
    }

    /// How long the next read may take, `received` body bytes in; zero once the body is
    /// already behind the minimum rate.
    pub fn next_read_timeout(&self, received: u64, now: Instant) -> Duration {
        if self.min_rate == 0 {
            return self.timeout;
        }
        let earned = Duration::from_millis(received.saturating_mul(1000) / self.min_rate);
        let deadline = self.started + self.timeout.saturating_add(earned);
        self.timeout.min(deadline.saturating_duration_since(now))
    }

    /// Reads more of a body into `buf` within the pace; `received` body bytes so far.
    pub async fn fill(
        &self,
        buf: &mut ReadBuf,
        stream: &mut Stream,
        received: u64,
    ) -> Result<usize, BodyReadError> {
        let timeout = self.next_read_timeout(received, Instant::now());
        if timeout.is_zero() {
            return Err(BodyReadError::TooSlow);
        }
        match buf.fill(stream, timeout).await {
            Ok(0) => Err(BodyReadError::Closed),
            Ok(n) => Ok(n),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => Err(BodyReadError::TooSlow),
            Err(_) => Err(BodyReadError::Closed),
        }
    }
}

/// Why a body read ended early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyReadError {
    /// The client closed or reset the connection.
    Closed,
    /// The body arrived slower than [`BodyPace`] allows (408).
    TooSlow,
}

/// Writes all of `buf` within `timeout` and hands the buffer back (empty after a timeout,
/// when the connection is closed anyway).
pub async fn write_all(
    stream: &mut Stream,
    buf: Vec<u8>,
    timeout: Duration,
) -> (io::Result<()>, Vec<u8>) {
    match stream {
        Stream::Plain(tcp) => match deadline::timeout(timeout, tcp.write_all(buf)).await {
            Ok((result, buf)) => (result.map(|_| ()), buf),
            Err(_) => (Err(io::ErrorKind::TimedOut.into()), Vec::new()),
        },
        Stream::Tls(tls) => match deadline::timeout(timeout, tls.write_all(&buf)).await {
            Ok(result) => (result, buf),
            Err(_) => (Err(io::ErrorKind::TimedOut.into()), buf),
        },
    }
}

impl Drop for ReadBuf {
    fn drop(&mut self) {
        if self.buf.capacity() > 0 {
            pool::give_read(std::mem::take(&mut self.buf));
        }
    }
}

/// Waits until `stream` has something to read, holding no buffer meanwhile: readiness of the
/// socket, or plaintext and ciphertext a TLS connection already holds. The caller bounds
/// the wait.
pub async fn wait_readable(stream: &mut Stream) -> io::Result<()> {
    match stream {
        Stream::Plain(tcp) => tcp.readable(false).await,
        Stream::Tls(tls) => {
            if tls.has_buffered() {
                return Ok(());
            }
            tls.release_idle();
            tls.tcp().readable(false).await
        }
    }
}

/// Ends the sending side: `close_notify` on TLS, then a TCP half-close.
pub async fn shutdown(stream: &mut Stream) {
    match stream {
        Stream::Plain(tcp) => {
            let _ = tcp.shutdown().await;
        }
        Stream::Tls(tls) => {
            let _ = deadline::timeout(Duration::from_secs(1), tls.shutdown()).await;
        }
    }
}

/// Closes a connection the client may still be sending on: answer first, then read and
/// discard for a moment so the kernel does not reset the connection (and destroy the answer
/// in flight) because unread bytes were pending at close. RFC 9112 §9.6.
pub async fn linger_close(stream: &mut Stream, buf: &mut ReadBuf) {
    const LINGER: Duration = Duration::from_millis(2000);
    const LINGER_BYTES: usize = 4 * 1024 * 1024;
    shutdown(stream).await;
    let drain = async {
        let mut discarded = 0;
        while discarded < LINGER_BYTES {
            match buf.fill(stream, LINGER).await {
                Ok(n) if n > 0 => {
                    discarded += n;
                    buf.consume(buf.len());
                }
                _ => break,
            }
        }
    };
    let _ = deadline::timeout(LINGER, drain).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_pace_earns_time_with_bytes() {
        let limits = crate::config::Limits {
            body_timeout: Duration::from_secs(10),
            min_body_bytes_per_sec: 1000,
            ..Default::default()
        };
        let start = Instant::now();
        let pace = BodyPace::new(&limits, start);
        let s = Duration::from_secs;
        assert_eq!(pace.next_read_timeout(0, start), s(10));
        // 5 s in with nothing received: 5 s left.
        assert_eq!(pace.next_read_timeout(0, start + s(5)), s(5));
        // 20 s in, 15 kB received: 10 + 15 = 25 s earned, but one read waits 10 s at most.
        assert_eq!(pace.next_read_timeout(15_000, start + s(20)), s(5));
        assert_eq!(pace.next_read_timeout(100_000, start + s(20)), s(10));
        // Behind the rate: no more time.
        assert_eq!(pace.next_read_timeout(1_000, start + s(12)), Duration::ZERO);
        let off = BodyPace::new(
            &crate::config::Limits {
                min_body_bytes_per_sec: 0,
                ..limits
            },
            start,
        );
        assert_eq!(off.next_read_timeout(0, start + s(3600)), s(10));
    }
}
