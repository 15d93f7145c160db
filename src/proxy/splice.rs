//! Large response bodies moved from the node's socket to the client's without passing
//! through user space: `splice(2)` through a pipe (`IORING_OP_SPLICE` on io_uring, the
//! system call on the epoll driver).
//!
//! Copying a body costs the worker two copies per byte (the read from the node, the write
//! to the client); splicing moves references to the socket's pages instead. Each splice is
//! one more operation than a read or write is (io_uring runs it on a kernel worker thread),
//! so small bodies are cheaper copied: `forward::relay_length` splices only bodies of at
//! least [`SPLICE_MIN_BYTES`], on plain TCP at both ends (TLS has plaintext only in user
//! space), and only what is not in the node connection's buffer already (those bytes are
//! written first).
//!
//! Exactly the bytes the body still misses are taken from the node's socket: a read never
//! asks for more, so anything after the body stays there. A pipe is reused only when
//! everything spliced into it came out again; after any failure or timeout (an operation
//! the kernel may still finish after it was given up) it is closed, so that no byte of one
//! response can reach another client. Where splicing is not available (an old kernel:
//! `EINVAL`), the first attempt says so before any byte moved and the body is copied; the
//! worker then stops trying.

use crate::http::UpstreamError;
use monoio::io::splice::{SpliceDestination, SpliceSource};
use monoio::net::unix::{new_pipe, Pipe};
use monoio::net::TcpStream;
use std::cell::{Cell, RefCell};
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Response bodies at least this long are spliced. Below it the operations a splice costs
/// more than the two copies it saves (measured: see `tuning/README.md`).
pub const SPLICE_MIN_BYTES: u64 = 64 * 1024;
/// One splice asks for at most this much; the pipe (64 KiB by default) takes what fits.
const MAX_SPLICE_BYTES: u32 = 1 << 20;
/// Idle pipes a worker keeps (each is two descriptors).
const MAX_POOLED_PIPES: usize = 16;

/// Responses whose body was spliced, in all workers (for tests and diagnostics).
static SPLICED_RESPONSES: AtomicU64 = AtomicU64::new(0);

/// Responses whose body was spliced since the process started.
pub fn spliced_responses() -> u64 {
    SPLICED_RESPONSES.load(Ordering::Relaxed)
}

/// The two ends of a pipe, empty whenever it is pooled.
struct PipePair {
    read: Pipe,
    write: Pipe,
}

thread_local! {
    /// This worker's idle pipes.
    static PIPES: RefCell<Vec<PipePair>> = const { RefCell::new(Vec::new()) };
    /// Cleared when the kernel refused a splice as unsupported: the worker copies from then on.
    static AVAILABLE: Cell<bool> = const { Cell::new(true) };
}

/// Why a body was not (completely) spliced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpliceError {
    /// Splicing is not possible here; nothing was moved, copy instead.
    Unavailable,
    /// Writing to the client failed: it went away or stopped reading.
    Client,
    /// The node closed, reset or stalled before the end of the body.
    Upstream(UpstreamError),
}

/// Whether this worker may try to splice.
pub fn available() -> bool {
    AVAILABLE.with(Cell::get)
}

/// Moves exactly `length` bytes from `upstream` to `client`: each read from the node within
/// `read_timeout`, each write to the client within `write_timeout`; `moved` counts the bytes
/// that reached the client.
pub async fn relay(
    upstream: &mut TcpStream,
    client: &mut TcpStream,
    length: u64,
    read_timeout: Duration,
    write_timeout: Duration,
    moved: &mut u64,
) -> Result<(), SpliceError> {
    let Some(mut pipe) = take_pipe() else {
        return Err(SpliceError::Unavailable);
    };
    let mut left = length;
    let mut first = true;
    while left > 0 {
        let want = u32::try_from(left).map_or(MAX_SPLICE_BYTES, |l| l.min(MAX_SPLICE_BYTES));
        let spliced = match into_pipe(upstream, &mut pipe, want, read_timeout).await {
            Ok(0) => {
                // The node closed early; the pipe is empty and can be used again.
                give_pipe(pipe);
                return Err(SpliceError::Upstream(UpstreamError::ClosedEarly));
            }
            Ok(n) => n,
            Err(Failure::Unsupported) if first => {
                AVAILABLE.with(|a| a.set(false));
                tracing::info!("splice is not available; response bodies are copied");
                give_pipe(pipe);
                return Err(SpliceError::Unavailable);
            }
            Err(Failure::TimedOut) => return Err(SpliceError::Upstream(UpstreamError::Timeout)),
            Err(_) => return Err(SpliceError::Upstream(UpstreamError::ClosedEarly)),
        };
        first = false;
        let mut in_pipe = spliced;
        while in_pipe > 0 {
            match out_of_pipe(client, &mut pipe, in_pipe, write_timeout).await {
                Ok(0) | Err(_) => return Err(SpliceError::Client),
                Ok(n) => {
                    in_pipe -= n.min(in_pipe);
                    *moved += u64::from(n);
                }
            }
        }
        left -= u64::from(spliced);
    }
    give_pipe(pipe);
    SPLICED_RESPONSES.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// How one splice failed.
enum Failure {
    TimedOut,
    /// The kernel cannot splice these descriptors.
    Unsupported,
    Other,
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Failure {
        match e.raw_os_error() {
            Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP) => Failure::Unsupported,
            _ => Failure::Other,
        }
    }
}

/// Splices up to `want` bytes from the node's socket into the (empty) pipe.
async fn into_pipe(
    upstream: &mut TcpStream,
    pipe: &mut PipePair,
    want: u32,
    timeout: Duration,
) -> Result<u32, Failure> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let spliced = monoio::time::timeout(left, upstream.splice_to_pipe(&mut pipe.write, want))
            .await
            .map_err(|_| Failure::TimedOut)?;
        match spliced {
            Ok(n) => return Ok(n),
            // The node's socket is non-blocking (io_uring runs a splice on a kernel worker
            // without waiting for readiness): wait for data, then again.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let left = deadline.saturating_duration_since(Instant::now());
                monoio::time::timeout(left, upstream.readable(false))
                    .await
                    .map_err(|_| Failure::TimedOut)?
                    .map_err(|_| Failure::Other)?;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// Splices up to `len` bytes (all in the pipe) to the client's socket.
async fn out_of_pipe(
    client: &mut TcpStream,
    pipe: &mut PipePair,
    len: u32,
    timeout: Duration,
) -> Result<u32, Failure> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let spliced = monoio::time::timeout(left, client.splice_from_pipe(&mut pipe.read, len))
            .await
            .map_err(|_| Failure::TimedOut)?;
        match spliced {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let left = deadline.saturating_duration_since(Instant::now());
                monoio::time::timeout(left, client.writable(false))
                    .await
                    .map_err(|_| Failure::TimedOut)?
                    .map_err(|_| Failure::Other)?;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// An empty pipe: a pooled one, else a new one (`None` if none can be made: no descriptor
/// left, say; the body is copied then).
fn take_pipe() -> Option<PipePair> {
    if let Some(pipe) = PIPES.with(|pipes| pipes.borrow_mut().pop()) {
        return Some(pipe);
    }
    match new_pipe() {
        Ok((read, write)) => Some(PipePair { read, write }),
        Err(e) => {
            tracing::debug!(error = %e, "no pipe for a splice; copying the body");
            None
        }
    }
}

/// Keeps an empty pipe for the next body (or closes it when the worker has enough).
fn give_pipe(pipe: PipePair) {
    PIPES.with(|pipes| {
        let mut pipes = pipes.borrow_mut();
        if pipes.len() < MAX_POOLED_PIPES {
            pipes.push(pipe);
        }
    });
}
