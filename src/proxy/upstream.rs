//! Upstream nodes from one worker's point of view: health, round-robin, keep-alive pools.
//!
//! Everything here is per worker (ARCHITECTURE rule 3): each core has its own idle
//! connections and its own view of which nodes are down, so no lock or shared counter is
//! touched per request. A node that refuses a connection (or does not accept it within
//! `upstream_connect_timeout_ms`) is marked down and a background task on the same worker
//! probes it until it accepts again. A node that accepted and then failed a request is not
//! marked down: that may be one stale connection, and the next connect tells. Nor is a node
//! whose TLS handshake fails: that is the gateway's trust settings, not the node's health;
//! the request gets a 502 that says so and the log has rustls's reason.

use super::stream::Stream;
use crate::config::{Limits, UpstreamUrl};
use crate::http::UpstreamError;
use crate::metrics::{UpstreamFailure, WorkerMetrics};
use crate::tls::stream::TlsStream;
use monoio::net::TcpStream;
use rustls::pki_types::ServerName;
use socket2::{Domain, Protocol, Socket, Type};
use std::cell::{Cell, RefCell};
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, warn};

/// Idle keep-alive connections kept per node and worker.
const MAX_IDLE_PER_NODE: usize = 256;
/// How often a down node is probed.
const PROBE_INTERVAL_MS: u64 = 1000;

/// A resolved upstream node.
#[derive(Debug, Clone)]
pub struct NodeAddress {
    pub url: UpstreamUrl,
    pub addr: SocketAddr,
}

impl NodeAddress {
    /// Resolves each configured URL once at start-up (DNS is not touched per request).
    pub fn resolve_all(urls: &[UpstreamUrl]) -> io::Result<Vec<NodeAddress>> {
        urls.iter()
            .map(|url| {
                use std::net::ToSocketAddrs;
                let addr = url.authority().to_socket_addrs()?.next().ok_or_else(|| {
                    io::Error::new(io::ErrorKind::NotFound, format!("{url} did not resolve"))
                })?;
                Ok(NodeAddress {
                    url: url.clone(),
                    addr,
                })
            })
            .collect()
    }
}

/// A connection to a node, with its own read buffer.
pub struct UpstreamConn {
    pub stream: Stream,
    /// A second handle on the same socket, used to check a pooled connection without IO
    /// through the runtime (a non-blocking peek).
    probe: std::net::TcpStream,
    pub buf: super::buffer::ReadBuf,
    pub node: usize,
    /// Taken from the idle pool (it may have been closed by the node meanwhile).
    pub reused: bool,
}

impl UpstreamConn {
    /// True if the node closed the connection or sent unsolicited bytes while it was idle
    /// (over TLS, a `close_notify` or a late session ticket: either way not worth keeping).
    fn is_stale(&self) -> bool {
        let mut byte = [0u8; 1];
        match self.probe.peek(&mut byte) {
            Err(e) => e.kind() != io::ErrorKind::WouldBlock,
            Ok(_) => true,
        }
    }
}

struct Node {
    address: NodeAddress,
    /// The name its certificate must carry (https nodes).
    server_name: Option<ServerName<'static>>,
    /// `host:port`, for the `Host` header of HTTP/1.0 clients that sent none.
    authority: String,
    idle: RefCell<Vec<UpstreamConn>>,
    down: Cell<bool>,
}

/// One worker's upstream side.
pub struct Upstreams {
    nodes: Vec<Node>,
    next: Cell<usize>,
    connect_timeout: Duration,
    /// How https nodes are verified (`None` when every node is plain http).
    tls: Option<Arc<rustls::ClientConfig>>,
    /// This worker's counters: node state and idle pool sizes are gauges kept current here.
    metrics: Arc<WorkerMetrics>,
}

impl Upstreams {
    pub fn new(
        addresses: &[NodeAddress],
        limits: &Limits,
        tls: Option<Arc<rustls::ClientConfig>>,
        metrics: Arc<WorkerMetrics>,
    ) -> Upstreams {
        Upstreams {
            nodes: addresses
                .iter()
                .map(|address| Node {
                    authority: address.url.authority(),
                    server_name: address
                        .url
                        .tls
                        .then(|| ServerName::try_from(address.url.host.clone()).ok())
                        .flatten(),
                    address: address.clone(),
                    idle: RefCell::new(Vec::new()),
                    down: Cell::new(false),
                })
                .collect(),
            next: Cell::new(0),
            connect_timeout: limits.upstream_connect_timeout,
            tls,
            metrics,
        }
    }

    pub fn authority(&self, node: usize) -> &str {
        &self.nodes[node].authority
    }

    /// A connection to the next healthy node in round-robin order: an idle pooled one if
    /// there is a live one, else a new one. A node that refuses is marked down and the next
    /// one is tried; nothing has been sent yet, so this retry is always safe.
    pub async fn checkout(self: &Rc<Self>) -> Result<UpstreamConn, UpstreamError> {
        let mut tried = false;
        let mut refused_tls = false;
        for index in self.round_robin() {
            let node = &self.nodes[index];
            if node.down.get() {
                continue;
            }
            tried = true;
            loop {
                let (conn, idle) = {
                    let mut pool = node.idle.borrow_mut();
                    (pool.pop(), pool.len())
                };
                let Some(conn) = conn else { break };
                if !conn.is_stale() {
                    self.metrics.pool_idle(index, idle);
                    return Ok(conn);
                }
            }
            self.metrics.pool_idle(index, 0);
            match self.connect_node(index).await {
                Ok(conn) => return Ok(conn),
                Err(ConnectError::Tls) => refused_tls = true,
                Err(ConnectError::Tcp) => {}
            }
        }
        Err(if refused_tls {
            UpstreamError::Tls
        } else if tried {
            UpstreamError::Unreachable
        } else {
            UpstreamError::Unavailable
        })
    }

    /// A connection to send a bodiless read again on after its connection to `failed` went
    /// away before any response byte (see `forward`'s header): a new connection to another
    /// healthy node, else, when the failed connection came from the pool (so it may only
    /// have been stale), a new one to `failed`. Never a pooled one: this is the last
    /// attempt, and a pooled connection can be stale without showing it.
    pub async fn replay_connection(
        self: &Rc<Self>,
        failed: usize,
        failed_was_pooled: bool,
    ) -> Option<UpstreamConn> {
        for index in self.round_robin() {
            if index != failed && !self.nodes[index].down.get() {
                if let Ok(conn) = self.connect_node(index).await {
                    return Some(conn);
                }
            }
        }
        if failed_was_pooled && !self.nodes[failed].down.get() {
            return self.connect_node(failed).await.ok();
        }
        None
    }

    /// Every node index once, starting at the next in round-robin order (which advances).
    fn round_robin(&self) -> impl Iterator<Item = usize> {
        let count = self.nodes.len();
        let first = self.next.get();
        self.next.set((first + 1) % count);
        (0..count).map(move |offset| (first + offset) % count)
    }

    /// A new connection to node `index` (with its TLS handshake done); a node that refuses
    /// the connection is marked down.
    async fn connect_node(self: &Rc<Self>, index: usize) -> Result<UpstreamConn, ConnectError> {
        let node = &self.nodes[index];
        let mut conn = match connect(node.address.addr, self.connect_timeout).await {
            Ok(conn) => conn,
            Err(e) => {
                warn!(upstream = %node.address.url, error = %e, "upstream node refused a connection; marking it down");
                self.mark_down(index);
                return Err(ConnectError::Tcp);
            }
        };
        conn.node = index;
        if !node.address.url.tls {
            return Ok(conn);
        }
        let (Some(config), Some(name)) = (&self.tls, &node.server_name) else {
            warn!(upstream = %node.address.url, "no TLS settings for an https upstream");
            return Err(ConnectError::Tls);
        };
        let Stream::Plain(tcp) = conn.stream else {
            return Err(ConnectError::Tls);
        };
        let handshake = TlsStream::connect(tcp, Arc::clone(config), name.clone());
        match super::deadline::timeout(self.connect_timeout, handshake).await {
            Ok(Ok(tls)) => {
                conn.stream = Stream::Tls(Box::new(tls));
                Ok(conn)
            }
            Ok(Err(e)) => {
                self.metrics.upstream_failure(index, UpstreamFailure::Tls);
                warn!(upstream = %node.address.url, error = %e, "TLS handshake with the upstream node failed");
                Err(ConnectError::Tls)
            }
            Err(_) => {
                self.metrics.upstream_failure(index, UpstreamFailure::Tls);
                warn!(upstream = %node.address.url, "TLS handshake with the upstream node timed out");
                Err(ConnectError::Tls)
            }
        }
    }

    /// Returns a connection whose last response was read completely.
    pub fn checkin(&self, mut conn: UpstreamConn) {
        let node = &self.nodes[conn.node];
        let mut idle = node.idle.borrow_mut();
        if idle.len() < MAX_IDLE_PER_NODE && conn.buf.is_empty() {
            // An idle connection holds no buffer (nor TLS vectors): the next request's
            // read takes one from the worker's pool.
            conn.buf.release();
            if let Stream::Tls(tls) = &mut conn.stream {
                tls.release_idle();
            }
            conn.reused = true;
            let index = conn.node;
            idle.push(conn);
            self.metrics.pool_idle(index, idle.len());
        }
    }

    /// Marks `index` down, drops its idle connections and starts probing it.
    pub fn mark_down(self: &Rc<Self>, index: usize) {
        let node = &self.nodes[index];
        node.idle.borrow_mut().clear();
        self.metrics.pool_idle(index, 0);
        if node.down.replace(true) {
            return;
        }
        self.metrics.upstream_state(index, false);
        let upstreams = Rc::clone(self);
        super::catch::spawn_guarded("upstream probe", async move {
            let node = &upstreams.nodes[index];
            loop {
                monoio::time::sleep(Duration::from_millis(PROBE_INTERVAL_MS)).await;
                if let Ok(mut conn) = connect(node.address.addr, upstreams.connect_timeout).await {
                    info!(upstream = %node.address.url, "upstream node accepts connections again");
                    node.down.set(false);
                    upstreams.metrics.upstream_state(index, true);
                    // Pooled connections are ready for a request: an https node's probe
                    // (no handshake) is closed again.
                    if !node.address.url.tls {
                        conn.node = index;
                        node.idle.borrow_mut().push(conn);
                        upstreams.metrics.pool_idle(index, node.idle.borrow().len());
                    }
                    break;
                }
            }
        });
    }
}

/// Why a new upstream connection could not be used.
enum ConnectError {
    /// Refused, or not accepted in time (the node is marked down).
    Tcp,
    /// Connected, but the TLS handshake failed.
    Tls,
}

/// Connects without blocking the worker: a non-blocking socket2 connect, then waiting for
/// writability on the runtime. Keeps a duplicate handle for the staleness check.
async fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<UpstreamConn> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    socket.set_nodelay(true)?;
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    let std_stream: std::net::TcpStream = socket.into();
    let probe = std_stream.try_clone()?;
    let stream = TcpStream::from_std(std_stream)?;
    super::deadline::timeout(timeout, stream.writable(false))
        .await
        .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
    if let Some(e) = probe.take_error()? {
        return Err(e);
    }
    // A refused connect can also surface only as "not connected".
    probe.peer_addr()?;
    Ok(UpstreamConn {
        stream: Stream::Plain(stream),
        probe,
        buf: super::buffer::ReadBuf::new(),
        node: 0,
        reused: false,
    })
}
