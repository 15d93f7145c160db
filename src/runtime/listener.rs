//! Listening sockets: one per worker and per address, spread by `SO_REUSEPORT`.

use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::SocketAddr;

/// Accept backlog per listener.
const BACKLOG: i32 = 4096;

/// Binds `workers` listeners per address. Returns the real addresses (port 0 resolved once,
/// then shared by all workers) and, per worker, its listeners.
pub fn bind_all(
    addresses: &[SocketAddr],
    workers: usize,
) -> io::Result<(Vec<SocketAddr>, Vec<Vec<std::net::TcpListener>>)> {
    let mut bound = Vec::with_capacity(addresses.len());
    let mut per_worker: Vec<Vec<std::net::TcpListener>> =
        (0..workers).map(|_| Vec::new()).collect();
    for &address in addresses {
        let first = bind(address)?;
        let actual = first.local_addr()?;
        per_worker[0].push(first);
        for listeners in per_worker.iter_mut().skip(1) {
            listeners.push(bind(actual)?);
        }
        bound.push(actual);
    }
    Ok((bound, per_worker))
}

fn bind(address: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    // Accepted sockets inherit TCP_NODELAY from the listener on Linux: no syscall per accept.
    socket.set_nodelay(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}
