//! A connection the proxy reads and writes: plain TCP or TLS over it.
//!
//! The two cases are matched once per IO call; plain connections keep passing their buffers
//! to the kernel by value, TLS connections copy plaintext through rustls (`tls::stream`).

use crate::tls::stream::TlsStream;
use monoio::net::TcpStream;

pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
}

impl Stream {
    /// The socket under the connection (addresses, socket options).
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(tcp) => tcp,
            Stream::Tls(tls) => tls.tcp(),
        }
    }
}
