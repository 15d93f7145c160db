//! Large response bodies moved from the node's socket to the client's without passing
//! through user space: `splice(2)` through a pipe of the worker's.
//!
//! Copying a body costs the worker two copies per byte (the read from the node, the write
//! to the client); splicing moves references to the socket's pages instead. The splices
//! are non-blocking system calls made by the worker itself, and a socket that is not ready
//! is waited for on the runtime (a poll operation). io_uring's own `IORING_OP_SPLICE`
//! (monoio's `splice` feature) was measured first: io_uring runs every splice on a kernel
//! worker thread, and two context switches per splice made it dearer than copying at 1 MiB
//! and half again as dear as these system calls at 10 MB (`tuning/README.md`). Both
//! drivers take this path; on io_uring the client's socket is made non-blocking first
//! (accepted sockets are blocking there; io_uring's own operations on it are unaffected, as
//! on the node sockets, which are non-blocking from their connect).
//!
//! Small bodies are cheaper copied: `forward::relay_length` splices only bodies of at least
//! [`SPLICE_MIN_BYTES`], on plain TCP at both ends (TLS has plaintext only in user space),
//! and only what is not in the node connection's buffer already (those bytes are written
//! first). Exactly the bytes the body still misses are taken from the node's socket: a
//! splice never asks for more, so anything after the body stays there. A pipe is reused
//! only when everything spliced into it came out again; after any failure or timeout it is
//! closed, so that no byte of one response can reach another client. Where splicing is not
//! available (`EINVAL` and the like), the first attempt says so before any byte moved and
//! the body is copied; the worker then stops trying.

use super::deadline;
use crate::http::UpstreamError;
use monoio::net::TcpStream;
use nix::errno::Errno;
use nix::fcntl::{fcntl, splice, FcntlArg, OFlag, SpliceFFlags};
use std::cell::{Cell, RefCell};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Response bodies at least this long are spliced. Measured on loopback, one worker, 8
/// connections (`tuning/README.md`): the worker's CPU per MB is lower with splicing from
/// 512 KiB up on both drivers (a third of it at 10 MB); at 64-256 KiB it is about even on
/// io_uring and higher on epoll, where a body arriving in pieces costs a poll per piece.
pub const SPLICE_MIN_BYTES: u64 = 512 * 1024;
/// The size asked for the worker's pipes (Linux allows unprivileged processes up to
/// `/proc/sys/fs/pipe-max-size`, 1 MiB by default); fewer splices per body. A pipe that
/// cannot have it keeps the default 64 KiB.
const PIPE_BYTES: usize = 1 << 20;
/// Idle pipes a worker keeps (each is two descriptors).
const MAX_POOLED_PIPES: usize = 16;

/// Responses whose body was spliced, in all workers (for tests and diagnostics).
static SPLICED_RESPONSES: AtomicU64 = AtomicU64::new(0);

/// Responses whose body was spliced since the process started.
pub fn spliced_responses() -> u64 {
    SPLICED_RESPONSES.load(Ordering::Relaxed)
}

/// The two ends of a pipe, empty whenever it is pooled; closed when dropped.
struct PipePair {
    read: RawFd,
    write: RawFd,
    /// How many bytes it holds at most.
    capacity: usize,
}

impl Drop for PipePair {
    fn drop(&mut self) {
        let _ = nix::unistd::close(self.read);
        let _ = nix::unistd::close(self.write);
    }
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
    upstream: &TcpStream,
    client: &TcpStream,
    length: u64,
    read_timeout: Duration,
    write_timeout: Duration,
    moved: &mut u64,
) -> Result<(), SpliceError> {
    if set_nonblocking(client.as_raw_fd()).is_err() {
        return Err(SpliceError::Unavailable);
    }
    let Some(pipe) = take_pipe() else {
        return Err(SpliceError::Unavailable);
    };
    let mut left = length;
    let mut first = true;
    while left > 0 {
        let want = usize::try_from(left).map_or(pipe.capacity, |l| l.min(pipe.capacity));
        let spliced = match into_pipe(upstream, &pipe, want, read_timeout).await {
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
            match out_of_pipe(client, &pipe, in_pipe, write_timeout).await {
                Ok(0) | Err(_) => return Err(SpliceError::Client),
                Ok(n) => {
                    in_pipe -= n.min(in_pipe);
                    *moved += n as u64;
                }
            }
        }
        left -= spliced as u64;
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

impl From<Errno> for Failure {
    fn from(e: Errno) -> Failure {
        match e {
            Errno::EINVAL | Errno::ENOSYS | Errno::EOPNOTSUPP => Failure::Unsupported,
            _ => Failure::Other,
        }
    }
}

const FLAGS: SpliceFFlags = SpliceFFlags::SPLICE_F_NONBLOCK.union(SpliceFFlags::SPLICE_F_MOVE);

/// Splices up to `want` bytes from the node's socket into the (empty) pipe; 0 when the node
/// closed. Waits for data within `timeout`.
async fn into_pipe(
    upstream: &TcpStream,
    pipe: &PipePair,
    want: usize,
    timeout: Duration,
) -> Result<usize, Failure> {
    let deadline = Instant::now() + timeout;
    loop {
        match splice(upstream.as_raw_fd(), None, pipe.write, None, want, FLAGS) {
            Ok(n) => return Ok(n),
            Err(Errno::EAGAIN) => {
                let left = deadline.saturating_duration_since(Instant::now());
                deadline::timeout(left, upstream.readable(false))
                    .await
                    .map_err(|_| Failure::TimedOut)?
                    .map_err(|_| Failure::Other)?;
            }
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// Splices up to `len` bytes (all in the pipe) to the client's socket, waiting for room
/// within `timeout`.
async fn out_of_pipe(
    client: &TcpStream,
    pipe: &PipePair,
    len: usize,
    timeout: Duration,
) -> Result<usize, Failure> {
    let deadline = Instant::now() + timeout;
    loop {
        match splice(pipe.read, None, client.as_raw_fd(), None, len, FLAGS) {
            Ok(n) => return Ok(n),
            Err(Errno::EAGAIN) => {
                let left = deadline.saturating_duration_since(Instant::now());
                deadline::timeout(left, client.writable(false))
                    .await
                    .map_err(|_| Failure::TimedOut)?
                    .map_err(|_| Failure::Other)?;
            }
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// Makes `fd` non-blocking (a splice must never block the worker; sockets accepted on
/// io_uring are blocking).
fn set_nonblocking(fd: RawFd) -> Result<(), Errno> {
    let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL)?);
    if !flags.contains(OFlag::O_NONBLOCK) {
        fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    }
    Ok(())
}

/// An empty pipe: a pooled one, else a new one (`None` if none can be made: no descriptor
/// left, say; the body is copied then).
fn take_pipe() -> Option<PipePair> {
    if let Some(pipe) = PIPES.with(|pipes| pipes.borrow_mut().pop()) {
        return Some(pipe);
    }
    let (read, write) = match nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK) {
        Ok(ends) => ends,
        Err(e) => {
            tracing::debug!(error = %e, "no pipe for a splice; copying the body");
            return None;
        }
    };
    let size = i32::try_from(PIPE_BYTES).unwrap_or(i32::MAX);
    let capacity = match fcntl(write, FcntlArg::F_SETPIPE_SZ(size)) {
        Ok(granted) => usize::try_from(granted).unwrap_or(DEFAULT_PIPE_BYTES),
        Err(_) => DEFAULT_PIPE_BYTES,
    };
    Some(PipePair {
        read,
        write,
        capacity,
    })
}

/// What a pipe holds unless asked for more (16 pages).
const DEFAULT_PIPE_BYTES: usize = 64 * 1024;

/// Keeps an empty pipe for the next body (or closes it when the worker has enough).
fn give_pipe(pipe: PipePair) {
    PIPES.with(|pipes| {
        let mut pipes = pipes.borrow_mut();
        if pipes.len() < MAX_POOLED_PIPES {
            pipes.push(pipe);
        }
    });
}
