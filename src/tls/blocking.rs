//! Blocking connections for the gateway's own background calls (the metadata refresher,
//! the audit bulks): plain TCP or TLS over it, with rustls's own blocking stream.

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;

pub enum BlockingStream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl BlockingStream {
    /// Wraps a connected socket; with `tls`, the handshake with `host` happens on the first
    /// read or write (within the socket's timeouts).
    pub fn new(
        tcp: TcpStream,
        tls: Option<(&Arc<ClientConfig>, &str)>,
    ) -> io::Result<BlockingStream> {
        let Some((config, host)) = tls else {
            return Ok(BlockingStream::Plain(tcp));
        };
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let conn = ClientConnection::new(Arc::clone(config), name)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        Ok(BlockingStream::Tls(Box::new(StreamOwned::new(conn, tcp))))
    }
}

impl Read for BlockingStream {
    /// Retries a read that a signal interrupted: with a read timeout set, Linux returns
    /// `EINTR` after the process was stopped and continued, even without a signal handler.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let read = match self {
                BlockingStream::Plain(tcp) => tcp.read(buf),
                BlockingStream::Tls(tls) => tls.read(buf),
            };
            match read {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // A peer that closes TCP without `close_notify` ends the stream; HTTP
                // framing tells whether the response was complete.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                other => return other,
            }
        }
    }
}

impl Write for BlockingStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            BlockingStream::Plain(tcp) => tcp.write(buf),
            BlockingStream::Tls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            BlockingStream::Plain(tcp) => tcp.flush(),
            BlockingStream::Tls(tls) => tls.flush(),
        }
    }
}
