//! A TLS connection over a monoio `TcpStream`, driven by a rustls [`Connection`].
//!
//! monoio passes buffers by value; rustls reads and writes through `io::Read`/`io::Write`.
//! The adapter keeps two byte vectors per connection: ciphertext received and not yet given
//! to rustls (`incoming`), and ciphertext rustls produced for the socket (`outgoing`).
//! Plaintext moves between rustls and the caller's own buffer in safe code, one copy each
//! way. A future dropped mid-IO (a timeout) takes the vector in flight with it; the next call
//! starts a fresh one. Every timeout closes the connection, so nothing is lost that matters.
//!
//! A peer that closes TCP without `close_notify` reads as an ordinary end of stream: HTTP's
//! own framing tells a truncated message from a complete one, as it does in plain text.

use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, Connection, ServerConfig, ServerConnection};
use std::io::{self, BufRead, Write};
use std::sync::Arc;

/// Room for one full TLS record (16 KiB of plaintext plus its overhead).
const RECORD_BYTES: usize = 16 * 1024 + 512;
/// Plaintext handed to rustls per write: a large body is encrypted and sent piece by piece
/// instead of all at once into one buffer.
const WRITE_CHUNK_BYTES: usize = 64 * 1024;
/// An outgoing buffer grown past this by a large write is given back once it is sent.
const KEEP_OUTGOING_BYTES: usize = 16 * 1024;
/// The first byte of a TLS handshake record.
const HANDSHAKE_RECORD: u8 = 0x16;

/// Why a handshake did not complete.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The client spoke plain HTTP to a TLS port (answered with a 400 in plain text).
    #[error("plain HTTP on a TLS port")]
    PlainHttp,
    /// The first bytes were not a TLS handshake at all.
    #[error("not a TLS handshake")]
    NotTls,
    /// The peer closed the connection during the handshake.
    #[error("closed during the handshake")]
    Closed,
    /// rustls refused the peer (protocol, cipher, certificate ...); an alert was sent.
    #[error("{0}")]
    Tls(rustls::Error),
    #[error("{0}")]
    Io(io::Error),
}

impl From<io::Error> for HandshakeError {
    fn from(e: io::Error) -> HandshakeError {
        HandshakeError::Io(e)
    }
}

/// An established TLS connection.
pub struct TlsStream {
    tcp: TcpStream,
    conn: Connection,
    incoming: Vec<u8>,
    /// How much of `incoming` rustls has taken.
    fed: usize,
    outgoing: Vec<u8>,
}

/// The plain-text answer to an HTTP request sent to a TLS port.
const PLAIN_HTTP_ANSWER: &[u8] = b"HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\nconnection: close\r\ncontent-length: 47\r\n\r\nThis port speaks HTTPS: use https:// to reach it";

impl TlsStream {
    /// Completes a server handshake on `tcp`. The caller bounds it with a timeout.
    pub async fn accept(
        tcp: TcpStream,
        config: Arc<ServerConfig>,
    ) -> Result<TlsStream, HandshakeError> {
        let conn = ServerConnection::new(config).map_err(HandshakeError::Tls)?;
        let mut stream = TlsStream::new(tcp, Connection::Server(conn));
        if stream.receive().await? == 0 {
            return Err(HandshakeError::Closed);
        }
        match stream.incoming.first() {
            Some(&HANDSHAKE_RECORD) => {}
            Some(first) if first.is_ascii_uppercase() => {
                let _ = stream.tcp.write_all(PLAIN_HTTP_ANSWER).await;
                let _ = stream.tcp.shutdown().await;
                return Err(HandshakeError::PlainHttp);
            }
            _ => return Err(HandshakeError::NotTls),
        }
        stream.handshake().await?;
        Ok(stream)
    }

    /// Completes a client handshake with `name` on `tcp`. The caller bounds it with a timeout.
    pub async fn connect(
        tcp: TcpStream,
        config: Arc<ClientConfig>,
        name: ServerName<'static>,
    ) -> Result<TlsStream, HandshakeError> {
        let conn = ClientConnection::new(config, name).map_err(HandshakeError::Tls)?;
        let mut stream = TlsStream::new(tcp, Connection::Client(conn));
        stream.handshake().await?;
        Ok(stream)
    }

    fn new(tcp: TcpStream, conn: Connection) -> TlsStream {
        TlsStream {
            tcp,
            conn,
            incoming: Vec::new(),
            fed: 0,
            outgoing: Vec::new(),
        }
    }

    pub fn tcp(&self) -> &TcpStream {
        &self.tcp
    }

    /// The peer's certificate chain, leaf first (clients: only a verified one).
    pub fn peer_certificates(&self) -> Option<&[rustls::pki_types::CertificateDer<'static>]> {
        self.conn.peer_certificates()
    }

    /// The negotiated protocol version, for logs and tests.
    pub fn protocol_version(&self) -> Option<rustls::ProtocolVersion> {
        self.conn.protocol_version()
    }

    async fn handshake(&mut self) -> Result<(), HandshakeError> {
        while self.conn.is_handshaking() {
            if self.conn.wants_write() {
                self.flush().await?;
                continue;
            }
            match self.process() {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => {
                    // The alert that says why (protocol version, certificate required, ...)
                    // goes to the peer before the connection closes.
                    let _ = self.flush().await;
                    return Err(HandshakeError::Tls(e));
                }
            }
            if self.receive().await? == 0 {
                return Err(HandshakeError::Closed);
            }
        }
        // The server's TLS 1.3 session tickets (and a client's last flight) go out now.
        self.flush().await?;
        Ok(())
    }

    /// Reads more ciphertext from the socket (when rustls has taken all there was); 0 at
    /// the end of the stream.
    async fn receive(&mut self) -> io::Result<usize> {
        if self.fed < self.incoming.len() {
            return Ok(self.incoming.len() - self.fed);
        }
        let mut buf = std::mem::take(&mut self.incoming);
        buf.clear();
        buf.reserve(RECORD_BYTES);
        self.fed = 0;
        let (result, buf) = self.tcp.read(buf).await;
        self.incoming = buf;
        let n = result?;
        if n == 0 {
            // Tells rustls the stream ended (a reader then reports the end).
            self.conn.read_tls(&mut io::empty())?;
        }
        Ok(n)
    }

    /// Gives rustls what it can take of `incoming` and processes it. Returns whether any
    /// was taken. A protocol error queues an alert, which is sent before the error returns.
    fn process(&mut self) -> Result<bool, rustls::Error> {
        let mut taken = false;
        while self.fed < self.incoming.len() {
            let mut rest = &self.incoming[self.fed..];
            match self.conn.read_tls(&mut rest) {
                // After `close_notify` nothing more is read: the rest is dropped.
                Ok(0) => {
                    self.fed = self.incoming.len();
                    break;
                }
                // Its plaintext buffer is full: the reader drains it first.
                Err(_) => break,
                Ok(n) => {
                    self.fed += n;
                    taken = true;
                }
            }
            self.conn.process_new_packets()?;
        }
        Ok(taken)
    }

    /// Sends everything rustls has queued for the socket.
    async fn flush(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            let mut out = std::mem::take(&mut self.outgoing);
            out.clear();
            self.conn.write_tls(&mut out)?;
            let (result, out) = self.tcp.write_all(out).await;
            if out.capacity() <= KEEP_OUTGOING_BYTES {
                self.outgoing = out;
            }
            result?;
        }
        Ok(())
    }

    /// Appends up to `max` bytes of plaintext to `out`; 0 at the end of the stream.
    pub async fn read_into(&mut self, out: &mut Vec<u8>, max: usize) -> io::Result<usize> {
        loop {
            let mut reader = self.conn.reader();
            match reader.fill_buf() {
                Ok(chunk) if !chunk.is_empty() => {
                    let n = chunk.len().min(max);
                    out.extend_from_slice(&chunk[..n]);
                    reader.consume(n);
                    return Ok(n);
                }
                // The end, with `close_notify` (Ok) or without it (UnexpectedEof).
                Ok(_) => return Ok(0),
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) if e.kind() != io::ErrorKind::WouldBlock => return Err(e),
                Err(_) => {}
            }
            if self.fed < self.incoming.len() {
                if let Err(e) = self.process() {
                    let _ = self.flush().await;
                    return Err(io::Error::new(io::ErrorKind::InvalidData, e));
                }
                // A key update may want an answer.
                self.flush().await?;
            } else {
                self.receive().await?;
            }
        }
    }

    /// Whether a read can make progress without the socket: ciphertext not yet given to
    /// rustls, plaintext rustls holds, or the end of the stream already seen.
    pub fn has_buffered(&mut self) -> bool {
        if self.fed < self.incoming.len() {
            return true;
        }
        let mut reader = self.conn.reader();
        !matches!(reader.fill_buf(), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }

    /// Frees the ciphertext vectors of a connection about to wait idle (nothing in them is
    /// still needed); the next read or write allocates them again.
    pub fn release_idle(&mut self) {
        if self.fed == self.incoming.len() {
            self.incoming = Vec::new();
            self.fed = 0;
        }
        if !self.conn.wants_write() {
            self.outgoing = Vec::new();
        }
    }

    /// Encrypts and sends all of `data`.
    pub async fn write_all(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let chunk = &data[..data.len().min(WRITE_CHUNK_BYTES)];
            let n = self.conn.writer().write(chunk)?;
            data = &data[n..];
            if n == 0 && !self.conn.wants_write() {
                return Err(io::ErrorKind::WriteZero.into());
            }
            self.flush().await?;
        }
        Ok(())
    }

    /// Sends `close_notify`, then shuts the socket's write side.
    pub async fn shutdown(&mut self) -> io::Result<()> {
        self.conn.send_close_notify();
        let flushed = self.flush().await;
        let _ = self.tcp.shutdown().await;
        flushed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

    /// A server and a client configuration around one self-signed certificate for localhost,
    /// each limited to `versions`.
    fn configs_for(
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> (Arc<ServerConfig>, Arc<ClientConfig>) {
        let key = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let cert = CertificateDer::from(key.cert.der().to_vec());
        let private =
            PrivateKeyDer::from(PrivatePkcs8KeyDer::from(key.signing_key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(versions)
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.clone()], private)
            .unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(cert).unwrap();
        let client = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        (Arc::new(server), Arc::new(client))
    }

    fn configs() -> (Arc<ServerConfig>, Arc<ClientConfig>) {
        configs_for(rustls::DEFAULT_VERSIONS)
    }

    fn run<F: std::future::Future>(future: F) -> F::Output {
        monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .unwrap()
            .block_on(future)
    }

    /// Reads until `want` bytes arrived or the stream ends.
    async fn read_all(stream: &mut TlsStream, want: usize) -> Vec<u8> {
        let mut got = Vec::with_capacity(want);
        while got.len() < want {
            if stream.read_into(&mut got, 64 * 1024).await.unwrap() == 0 {
                break;
            }
        }
        got
    }

    #[test]
    fn large_messages_cross_both_ways_and_close_notify_ends_the_stream() {
        let (server_config, client_config) = configs();
        run(async move {
            let listener = monoio::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let message: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
            let expected = message.clone();
            let server = monoio::spawn(async move {
                let (tcp, _) = listener.accept().await.unwrap();
                let mut tls = TlsStream::accept(tcp, server_config).await.unwrap();
                let received = read_all(&mut tls, expected.len()).await;
                assert_eq!(received, expected);
                tls.write_all(&received).await.unwrap();
                tls.shutdown().await.unwrap();
            });
            let tcp = TcpStream::connect(addr).await.unwrap();
            let name = ServerName::try_from("localhost").unwrap();
            let mut tls = TlsStream::connect(tcp, client_config, name).await.unwrap();
            assert_eq!(
                tls.protocol_version(),
                Some(rustls::ProtocolVersion::TLSv1_3)
            );
            tls.write_all(&message).await.unwrap();
            let echoed = read_all(&mut tls, message.len()).await;
            assert_eq!(echoed.len(), message.len());
            assert!(echoed == message);
            let mut rest = Vec::new();
            assert_eq!(tls.read_into(&mut rest, 1024).await.unwrap(), 0);
            server.await;
        });
    }

    #[test]
    fn plain_http_on_a_tls_port_gets_a_400_in_plain_text() {
        let (server_config, _) = configs();
        run(async move {
            let listener = monoio::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let server = monoio::spawn(async move {
                let (tcp, _) = listener.accept().await.unwrap();
                TlsStream::accept(tcp, server_config).await.err()
            });
            let mut tcp = TcpStream::connect(addr).await.unwrap();
            let (sent, _) = tcp
                .write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n".to_vec())
                .await;
            sent.unwrap();
            let mut answer = Vec::new();
            loop {
                let (n, buf) = tcp.read(Vec::with_capacity(4096)).await;
                if n.unwrap() == 0 {
                    break;
                }
                answer.extend_from_slice(&buf);
            }
            assert!(answer.starts_with(b"HTTP/1.1 400 Bad Request\r\n"));
            assert!(answer.ends_with(b"use https:// to reach it"));
            assert!(matches!(server.await, Some(HandshakeError::PlainHttp)));
        });
    }

    /// Runs one handshake between a client with `client` and a server with `server`:
    /// the client's result and the server's error, if any.
    fn handshake_between(
        server: Arc<ServerConfig>,
        client: Arc<ClientConfig>,
    ) -> (Result<TlsStream, HandshakeError>, Option<HandshakeError>) {
        run(async move {
            let listener = monoio::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let accepting = monoio::spawn(async move {
                let (tcp, _) = listener.accept().await.unwrap();
                TlsStream::accept(tcp, server).await.err()
            });
            let tcp = TcpStream::connect(addr).await.unwrap();
            let name = ServerName::try_from("localhost").unwrap();
            let connected = TlsStream::connect(tcp, client, name).await;
            (connected, accepting.await)
        })
    }

    #[test]
    fn a_refused_client_is_told_why_by_an_alert() {
        let (tls13_only, _) = configs_for(&[&rustls::version::TLS13]);
        let (_, tls12_only) = configs_for(&[&rustls::version::TLS12]);
        let (refused, server) = handshake_between(tls13_only, tls12_only);
        assert!(
            matches!(
                refused,
                Err(HandshakeError::Tls(rustls::Error::AlertReceived(
                    rustls::AlertDescription::ProtocolVersion
                )))
            ),
            "{:?}",
            refused.err()
        );
        assert!(server.is_some());
    }

    #[test]
    fn a_client_that_does_not_trust_the_server_fails_its_handshake() {
        let (server_config, _) = configs();
        let (_, other_client) = configs();
        let (refused, server) = handshake_between(server_config, other_client);
        assert!(matches!(refused, Err(HandshakeError::Tls(_))));
        // The server saw the client's alert, not a hang.
        assert!(server.is_some());
    }
}
