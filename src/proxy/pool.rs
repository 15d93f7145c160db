//! Per-worker free lists of IO buffers.
//!
//! A connection holds a read buffer and its write vectors only while it serves a request:
//! an idle keep-alive connection (client or pooled upstream) gives them back here and waits
//! for readability without any buffer. The lists are thread-local, which on this
//! thread-per-core runtime means one per worker, touched without locks (ARCHITECTURE rule 3).
//! They are bounded: after a burst, at most [`MAX_FREE_READ`] read buffers stay allocated.

use std::cell::RefCell;
use std::ops::{Deref, DerefMut};

/// Size of a pooled read buffer: one request head or a slice of a streamed body. A buffer
/// grown past it (a large head, an inspected body) is freed instead of kept.
pub const READ_BUFFER_BYTES: usize = 32 * 1024;
/// Initial capacity of a pooled write vector (answers, upstream heads, small bodies).
const WRITE_BUFFER_BYTES: usize = 1024;
/// A write vector grown past this is freed instead of kept.
const KEEP_WRITE_BYTES: usize = 64 * 1024;
/// Free buffers kept per worker.
const MAX_FREE_READ: usize = 32;
const MAX_FREE_WRITE: usize = 64;

thread_local! {
    static FREE_READ: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
    static FREE_WRITE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// An empty read buffer of [`READ_BUFFER_BYTES`] capacity.
pub fn take_read() -> Vec<u8> {
    FREE_READ
        .with(|free| free.borrow_mut().pop())
        .unwrap_or_else(|| Vec::with_capacity(READ_BUFFER_BYTES))
}

/// Gives a read buffer back; one that grew (or shrank) is freed.
pub fn give_read(mut buf: Vec<u8>) {
    if buf.capacity() != READ_BUFFER_BYTES {
        return;
    }
    buf.clear();
    FREE_READ.with(|free| {
        let mut free = free.borrow_mut();
        if free.len() < MAX_FREE_READ {
            free.push(buf);
        }
    });
}

/// A write vector taken from the worker's free list and given back when dropped. It is
/// empty when taken.
#[derive(Debug)]
pub struct WriteBuf(Vec<u8>);

impl WriteBuf {
    pub fn take() -> WriteBuf {
        let buf = FREE_WRITE
            .with(|free| free.borrow_mut().pop())
            .unwrap_or_else(|| Vec::with_capacity(WRITE_BUFFER_BYTES));
        WriteBuf(buf)
    }
}

impl Drop for WriteBuf {
    fn drop(&mut self) {
        let mut buf = std::mem::take(&mut self.0);
        if buf.capacity() == 0 || buf.capacity() > KEEP_WRITE_BYTES {
            return;
        }
        buf.clear();
        FREE_WRITE.with(|free| {
            let mut free = free.borrow_mut();
            if free.len() < MAX_FREE_WRITE {
                free.push(buf);
            }
        });
    }
}

impl Deref for WriteBuf {
    type Target = Vec<u8>;

    fn deref(&self) -> &Vec<u8> {
        &self.0
    }
}

impl DerefMut for WriteBuf {
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        &mut self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_buffers_are_reused_and_grown_ones_freed() {
        let mut buf = take_read();
        buf.extend_from_slice(b"GET / HTTP/1.1\r\n");
        let at = buf.as_ptr();
        give_read(buf);
        let again = take_read();
        assert_eq!(again.as_ptr(), at, "the same allocation comes back");
        assert!(again.is_empty());
        let mut grown = again;
        grown.reserve(READ_BUFFER_BYTES + 1);
        give_read(grown);
        assert_eq!(
            FREE_READ.with(|free| free.borrow().len()),
            0,
            "a grown one is freed"
        );
        assert_eq!(take_read().capacity(), READ_BUFFER_BYTES);
    }

    #[test]
    fn write_buffers_return_empty_on_drop() {
        let mut out = WriteBuf::take();
        out.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
        let at = out.as_ptr();
        drop(out);
        let again = WriteBuf::take();
        assert_eq!(again.as_ptr(), at);
        assert!(again.is_empty());
    }

    #[test]
    fn the_free_lists_are_bounded() {
        let taken: Vec<_> = (0..MAX_FREE_READ + 10).map(|_| take_read()).collect();
        taken.into_iter().for_each(give_read);
        assert_eq!(FREE_READ.with(|free| free.borrow().len()), MAX_FREE_READ);
    }
}
