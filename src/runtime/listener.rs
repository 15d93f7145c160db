//! Listening sockets: one per worker and per address, spread by `SO_REUSEPORT`.
//!
//! `SO_REUSEPORT` would as readily let a second process (a second gateway, with another
//! policy) bind the same address and take a share of its connections without a word; so an
//! address something else already listens on is refused first ([`refuse_if_served`]).

use crate::config::ListenAddress;
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::SocketAddr;

/// Accept backlog per listener.
const BACKLOG: i32 = 4096;

/// A bound listening socket and whether its connections start with a TLS handshake.
pub struct Listener {
    pub socket: std::net::TcpListener,
    pub tls: bool,
}

/// Binds `workers` listeners per address. Returns the real addresses (port 0 resolved once,
/// then shared by all workers) and, per worker, its listeners.
pub fn bind_all(
    addresses: &[ListenAddress],
    workers: usize,
) -> io::Result<(Vec<SocketAddr>, Vec<Vec<Listener>>)> {
    let mut bound = Vec::with_capacity(addresses.len());
    let mut per_worker: Vec<Vec<Listener>> = (0..workers).map(|_| Vec::new()).collect();
    for address in addresses {
        refuse_if_served(address.addr)?;
        let first = bind(address.addr)?;
        let actual = first.local_addr()?;
        per_worker[0].push(Listener {
            socket: first,
            tls: address.tls,
        });
        for listeners in per_worker.iter_mut().skip(1) {
            listeners.push(Listener {
                socket: bind(actual)?,
                tls: address.tls,
            });
        }
        bound.push(actual);
    }
    Ok((bound, per_worker))
}

/// Fails when some socket already listens on `address` (or on a wildcard covering it): a
/// probe without `SO_REUSEPORT` cannot share the port with it. `SO_REUSEADDR` lets the probe
/// past connections of an earlier run still in TIME_WAIT, never past a listener.
fn refuse_if_served(address: SocketAddr) -> io::Result<()> {
    if address.port() == 0 {
        return Ok(());
    }
    match reusable_socket(address)?.bind(&address.into()) {
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!(
                "{address} is in use by another process (another gateway still running?); \
                 two processes would split its connections between them"
            ),
        )),
        other => other,
    }
}

fn bind(address: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = reusable_socket(address)?;
    socket.set_reuse_port(true)?;
    // Accepted sockets inherit TCP_NODELAY from the listener on Linux: no syscall per accept.
    socket.set_nodelay(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// A TCP socket for `address`'s family with `SO_REUSEADDR` set.
fn reusable_socket(address: SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    Ok(socket)
}
