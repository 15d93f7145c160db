//! Request bodies held for inspection: the worker's reusable body buffers, and reading a
//! `Content-Length` body straight into one.
//!
//! A body the ACL must read is held whole before anything of it goes to the node. Two costs
//! used to dominate a large `_bulk` body besides the scan and the socket copies (a profile
//! of 5 MB bodies: 31% of the worker's time): appending every 32 KiB read from the
//! connection's buffer to a `Vec` grown by doubling (each growth copied everything so far),
//! and a fresh multi-megabyte allocation per request whose pages faulted in (zeroed) every
//! time. Here a `Content-Length` body gets one buffer of exactly its length, taken from the
//! worker's pool, and the socket reads go straight into it (`fill`): the bytes are copied
//! once, by the kernel.
//!
//! The pool is per worker thread (ARCHITECTURE rule 3), bounded in buffers and by the
//! worker's body budget (`max_buffered_body_bytes`), and emptied when no body came by for
//! [`POOL_IDLE`]: memory taken by a burst of large bulks goes back to the system once the
//! burst is over. A reused buffer still holds an earlier request's bytes past its length;
//! only the bytes a read wrote are ever visible (`Vec`'s length), so nothing of one request
//! can leak into another.
//!
//! Where it sits: `client::read_body` calls [`fill`] instead of `BodyPace::fill` while it
//! collects a body (`exchange::BodyCollector` takes its buffer here), and `forward` gives
//! the buffer back once the body went out.

use super::buffer::{BodyPace, BodyReadError, ReadBuf};
use super::deadline;
use super::exchange::BodyCollector;
use super::stream::Stream;
use monoio::buf::IoBufMut;
use monoio::io::AsyncReadRent;
use std::cell::RefCell;
use std::io;
use std::time::{Duration, Instant};

/// One read of a body asks for at most this much: the worker's body budget and the body
/// pace are checked between reads, and should not be passed by much more than this.
const MAX_DIRECT_READ_BYTES: usize = 1024 * 1024;
/// Buffers smaller than this are not worth keeping (allocating them costs little).
const MIN_POOLED_BYTES: usize = 256 * 1024;
/// Buffers the pool keeps at most; a worker serving more large bodies at once allocates
/// the rest (each buffer is given back when its request is done, and taken again by the
/// next one).
const MAX_POOLED_BUFFERS: usize = 16;
/// A pool not used for this long is emptied.
pub const POOL_IDLE: Duration = Duration::from_secs(2);

/// Reusable body buffers, most recently returned last.
#[derive(Debug, Default)]
pub struct BodyPool {
    buffers: Vec<Vec<u8>>,
    bytes: usize,
    last_used: Option<Instant>,
    /// A task that empties the pool when idle is running (see [`give_back`]).
    trimming: bool,
}

impl BodyPool {
    /// An empty buffer with room for at least `len` bytes: the smallest pooled one that is
    /// large enough, else a new one of exactly `len` (growing a pooled one would copy its
    /// old capacity for nothing).
    pub fn take(&mut self, len: usize, now: Instant) -> Vec<u8> {
        if len < MIN_POOLED_BYTES {
            // Not worth a pooled buffer (which a small body could keep from a large one).
            return Vec::with_capacity(len);
        }
        self.last_used = Some(now);
        let best = self
            .buffers
            .iter()
            .enumerate()
            .filter(|(_, b)| b.capacity() >= len)
            .min_by_key(|(_, b)| b.capacity())
            .map(|(i, _)| i);
        match best {
            Some(i) => {
                let buf = self.buffers.swap_remove(i);
                self.bytes -= buf.capacity();
                buf
            }
            None => {
                // A length the system cannot give at once (a huge `max_body_bytes`) is not
                // reserved; the body then grows as it arrives, as any other body does.
                let mut buf = Vec::new();
                let _ = buf.try_reserve_exact(len);
                buf
            }
        }
    }

    /// The largest pooled buffer (empty), or an empty `Vec` when none is pooled: for a body
    /// whose length is not known in advance.
    pub fn take_largest(&mut self, now: Instant) -> Vec<u8> {
        let largest = self
            .buffers
            .iter()
            .enumerate()
            .max_by_key(|(_, b)| b.capacity())
            .map(|(i, _)| i);
        match largest {
            Some(i) => {
                self.last_used = Some(now);
                let buf = self.buffers.swap_remove(i);
                self.bytes -= buf.capacity();
                buf
            }
            None => Vec::new(),
        }
    }

    /// Keeps `buf` for a later body, if it is worth keeping and the pool stays within
    /// [`MAX_POOLED_BUFFERS`] and `max_bytes` (the oldest buffers make room).
    pub fn give(&mut self, mut buf: Vec<u8>, now: Instant, max_bytes: usize) {
        self.last_used = Some(now);
        let capacity = buf.capacity();
        if !(MIN_POOLED_BYTES..=max_bytes).contains(&capacity) {
            return;
        }
        buf.clear();
        while !self.buffers.is_empty()
            && (self.buffers.len() >= MAX_POOLED_BUFFERS || self.bytes + capacity > max_bytes)
        {
            let oldest = self.buffers.remove(0);
            self.bytes -= oldest.capacity();
        }
        self.bytes += capacity;
        self.buffers.push(buf);
    }

    /// Empties the pool if it was not used for [`POOL_IDLE`] by `now`; true if it is empty.
    pub fn trim(&mut self, now: Instant) -> bool {
        let idle = self
            .last_used
            .is_none_or(|at| now.saturating_duration_since(at) >= POOL_IDLE);
        if idle {
            self.buffers = Vec::new();
            self.bytes = 0;
        }
        self.buffers.is_empty()
    }

    /// Bytes held for later bodies.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

thread_local! {
    /// This worker's pool (a worker is one thread).
    static POOL: RefCell<BodyPool> = RefCell::new(BodyPool::default());
}

/// A buffer for a body of `len` bytes from this worker's pool (see [`BodyPool::take`]).
pub fn take(len: usize) -> Vec<u8> {
    POOL.with(|pool| pool.borrow_mut().take(len, Instant::now()))
}

/// The largest buffer in this worker's pool (see [`BodyPool::take_largest`]).
pub fn take_largest() -> Vec<u8> {
    POOL.with(|pool| pool.borrow_mut().take_largest(Instant::now()))
}

/// Gives a body buffer back to this worker's pool, which keeps at most `max_bytes` (the
/// worker's body budget, `max_buffered_body_bytes`: the bodies held and the buffers kept
/// for them each stay within it). Must run on a worker's runtime: the first buffer kept
/// starts the task that empties the pool once it is idle.
pub fn give_back(buf: Vec<u8>, max_bytes: u64) {
    if buf.capacity() < MIN_POOLED_BYTES {
        return;
    }
    let max_bytes = usize::try_from(max_bytes).unwrap_or(usize::MAX);
    let start_trimmer = POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        pool.give(buf, Instant::now(), max_bytes);
        let start = !pool.trimming && pool.bytes() > 0;
        pool.trimming |= start;
        start
    });
    if start_trimmer {
        monoio::spawn(async {
            loop {
                monoio::time::sleep(POOL_IDLE).await;
                let done = POOL.with(|pool| {
                    let mut pool = pool.borrow_mut();
                    let empty = pool.trim(Instant::now());
                    pool.trimming = !empty;
                    empty
                });
                if done {
                    return;
                }
            }
        });
    }
}

/// Reads more of the body `collector` is collecting, within `pace`. A `Content-Length`
/// body whose buffered part was taken already is read straight into the collector's
/// buffer, at most up to its end (what follows it stays in the socket for the next
/// request); anything else is read into the connection's buffer `buf`, for `feed`.
pub async fn fill(
    collector: &mut BodyCollector,
    pace: &BodyPace,
    buf: &mut ReadBuf,
    stream: &mut Stream,
) -> Result<usize, BodyReadError> {
    let received = collector.received_bytes();
    let room = collector.raw_mut().spare_capacity_mut().len();
    let missing = match collector.missing_length_bytes() {
        // The collector reserved room for the whole body (unless the system could not give
        // that much at once: then it is read as any other body).
        Some(missing) if missing > 0 && missing <= room && buf.is_empty() => {
            missing.min(MAX_DIRECT_READ_BYTES)
        }
        _ => return pace.fill(buf, stream, received).await,
    };
    let timeout = pace.next_read_timeout(received, Instant::now());
    if timeout.is_zero() {
        return Err(BodyReadError::TooSlow);
    }
    let raw = collector.raw_mut();
    let result = match stream {
        Stream::Plain(tcp) => {
            let body = std::mem::take(raw);
            let start = body.len();
            let end = start + missing;
            let read = tcp.read(body.slice_mut(start..end));
            // A timeout drops the read and the buffer with it: the connection is answered
            // 408 and closed, and the body is never used.
            let (result, slice) = deadline::timeout(timeout, read)
                .await
                .map_err(|_| BodyReadError::TooSlow)?;
            *raw = slice.into_inner();
            result
        }
        Stream::Tls(tls) => deadline::timeout(timeout, tls.read_into(raw, missing))
            .await
            .map_err(|_| BodyReadError::TooSlow)?,
    };
    match result {
        Ok(0) => Err(BodyReadError::Closed),
        Ok(n) => Ok(n),
        Err(e) if e.kind() == io::ErrorKind::TimedOut => Err(BodyReadError::TooSlow),
        Err(_) => Err(BodyReadError::Closed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: usize = 1024 * 1024;
    const LIMIT: usize = 64 * MB;

    #[test]
    fn takes_the_smallest_buffer_that_fits_and_keeps_its_pages() {
        let now = Instant::now();
        let mut pool = BodyPool::default();
        let mut big = pool.take(8 * MB, now);
        assert!(big.capacity() >= 8 * MB);
        big.extend_from_slice(&[7; 100]);
        let big_at = big.as_ptr();
        pool.give(big, now, LIMIT);
        pool.give(Vec::with_capacity(MB), now, LIMIT);
        assert_eq!(pool.bytes(), 9 * MB);
        let small = pool.take(MB / 2, now);
        assert_eq!(small.capacity(), MB);
        // A small body gets a buffer of its own.
        assert_eq!(pool.take(1000, now).capacity(), 1000);
        let again = pool.take(5 * MB, now);
        assert_eq!(again.as_ptr(), big_at, "the same allocation");
        assert!(again.is_empty(), "no bytes of the earlier body are visible");
        // Nothing large enough left: a new buffer of exactly the length asked for.
        assert_eq!(pool.take(3 * MB, now).capacity(), 3 * MB);
        // A body of unknown length gets the largest.
        pool.give(Vec::with_capacity(2 * MB), now, LIMIT);
        pool.give(Vec::with_capacity(MB), now, LIMIT);
        assert_eq!(pool.take_largest(now).capacity(), 2 * MB);
        assert_eq!(pool.take_largest(now).capacity(), MB);
        assert_eq!(pool.take_largest(now).capacity(), 0);
    }

    #[test]
    fn is_bounded_in_buffers_and_bytes() {
        let now = Instant::now();
        let mut pool = BodyPool::default();
        for _ in 0..MAX_POOLED_BUFFERS + 3 {
            pool.give(Vec::with_capacity(MB), now, LIMIT);
        }
        assert_eq!(pool.bytes(), MAX_POOLED_BUFFERS * MB);
        pool.give(Vec::with_capacity(LIMIT - 2 * MB), now, LIMIT);
        assert_eq!(pool.bytes(), LIMIT);
        // A smaller budget since: the oldest make room.
        pool.give(Vec::with_capacity(MB), now, 3 * MB);
        assert_eq!(pool.bytes(), MB);
        // Too small or too large to keep.
        let mut pool = BodyPool::default();
        pool.give(Vec::with_capacity(MIN_POOLED_BYTES - 1), now, LIMIT);
        pool.give(Vec::with_capacity(LIMIT + 1), now, LIMIT);
        assert_eq!(pool.bytes(), 0);
    }

    #[test]
    fn is_emptied_when_idle() {
        let now = Instant::now();
        let mut pool = BodyPool::default();
        pool.give(Vec::with_capacity(MB), now, LIMIT);
        assert!(!pool.trim(now + POOL_IDLE / 2));
        assert_eq!(pool.bytes(), MB);
        let _ = pool.take(MB, now + POOL_IDLE / 2);
        pool.give(Vec::with_capacity(MB), now + POOL_IDLE / 2, LIMIT);
        assert!(!pool.trim(now + POOL_IDLE));
        assert!(pool.trim(now + POOL_IDLE * 2));
        assert_eq!(pool.bytes(), 0);
    }
}
