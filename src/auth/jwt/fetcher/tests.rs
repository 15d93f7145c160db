//! The fetcher against a small HTTP server started by the test: nothing is fetched before
//! a token needs keys, an unknown `kid` fetches again (rate-limited), a failed fetch keeps
//! the last good set, oversized and redirected answers are refused, and the thread ends
//! with its definition.

use super::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// What the test server answers, the same to every request.
#[derive(Clone)]
pub(crate) struct Reply {
    pub status: u16,
    pub headers: String,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(body: &str) -> Reply {
        Reply {
            status: 200,
            headers: "Content-Type: application/json\r\n".into(),
            body: body.as_bytes().to_vec(),
        }
    }
}

/// A one-thread HTTP/1.1 server answering every request with its current [`Reply`] and
/// closing the connection; it counts the requests. It lives as long as the test process.
pub(crate) struct JwksServer {
    pub addr: SocketAddr,
    reply: Arc<Mutex<Reply>>,
    hits: Arc<AtomicUsize>,
}

impl JwksServer {
    pub fn start(reply: Reply) -> JwksServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let reply = Arc::new(Mutex::new(reply));
        let hits = Arc::new(AtomicUsize::new(0));
        let (served, counted) = (Arc::clone(&reply), Arc::clone(&hits));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
                    head.push(byte[0]);
                }
                counted.fetch_add(1, Ordering::SeqCst);
                let reply = served.lock().unwrap().clone();
                let _ = write!(
                    stream,
                    "HTTP/1.1 {} X\r\n{}Content-Length: {}\r\nConnection: close\r\n\r\n",
                    reply.status,
                    reply.headers,
                    reply.body.len()
                );
                let _ = stream.write_all(&reply.body);
            }
        });
        JwksServer { addr, reply, hits }
    }

    pub fn url(&self) -> String {
        format!("http://{}/jwks.json", self.addr)
    }

    pub fn set(&self, reply: Reply) {
        *self.reply.lock().unwrap() = reply;
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// Polls `f` until it holds, for at most `seconds`.
pub(crate) fn eventually(seconds: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

/// A JWK Set of P-256 keys named by `kids` (fresh keys: only the names matter here).
fn set_of(kids: &[&str]) -> String {
    use base64::Engine;
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let keys: Vec<String> = kids
        .iter()
        .map(|kid| {
            let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
            let point = pair.public_key_raw();
            format!(
                r#"{{"kty":"EC","crv":"P-256","kid":"{kid}","use":"sig","x":"{}","y":"{}"}}"#,
                b64(&point[1..33]),
                b64(&point[33..65])
            )
        })
        .collect();
    format!(r#"{{"keys":[{}]}}"#, keys.join(","))
}

fn fetcher(server: &JwksServer, refresh: Duration) -> Fetcher {
    Fetcher::new("t".into(), server.url(), refresh, SignatureFamily::Ec)
}

fn knows(fetcher: &Fetcher, kid: &str) -> bool {
    fetcher.current().is_some_and(|set| set.knows(kid))
}

#[test]
fn nothing_is_fetched_until_keys_are_needed_then_an_unknown_kid_fetches_again_once() {
    let server = JwksServer::start(Reply::json(&set_of(&["a"])));
    let fetcher = fetcher(&server, DEFAULT_JWKS_REFRESH);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(server.hits(), 0, "a decoded definition fetches nothing");
    assert!(format!("{fetcher:?}").contains("started: false"));
    assert!(eventually(5, || knows(&fetcher, "a")));
    assert_eq!(server.hits(), 1);

    // Rotation: the server now publishes `b` only; a token naming `b` asks for a fetch.
    server.set(Reply::json(&set_of(&["b"])));
    fetcher.ask_refresh();
    assert!(eventually(5, || knows(&fetcher, "b")));
    assert!(!knows(&fetcher, "a"));
    assert_eq!(server.hits(), 2);
    // Another ask within MIN_ASKED_INTERVAL waits for it.
    server.set(Reply::json(&set_of(&["c"])));
    fetcher.ask_refresh();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(server.hits(), 2, "asked fetches are rate-limited");
    assert!(knows(&fetcher, "b"));
}

#[test]
fn failed_oversized_and_redirected_answers_keep_the_last_good_set() {
    let server = JwksServer::start(Reply::json(&set_of(&["good"])));
    let fetcher = fetcher(&server, Duration::from_millis(100));
    assert!(eventually(5, || knows(&fetcher, "good")));
    let fresh = set_of(&["new"]);
    // Valid JSON naming a new key, but past the size cap.
    let mut oversized = fresh.clone();
    oversized.push_str(&" ".repeat(MAX_JWKS_BYTES as usize));
    let failures = [
        Reply {
            status: 500,
            ..Reply::json(&fresh)
        },
        Reply {
            status: 302,
            headers: format!("Location: http://{}/other\r\n", server.addr),
            body: Vec::new(),
        },
        Reply::json("<html>not json</html>"),
        Reply::json(r#"{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}"#),
        Reply::json(&oversized),
    ];
    for failure in failures {
        let before = server.hits();
        server.set(failure);
        assert!(
            eventually(5, || server.hits() >= before + 2),
            "fetched again"
        );
        assert!(knows(&fetcher, "good"), "the last good set stays");
        assert!(!knows(&fetcher, "new"));
    }
    server.set(Reply::json(&fresh));
    assert!(eventually(5, || knows(&fetcher, "new")));
}

#[test]
fn until_a_fetch_succeeds_there_are_no_keys() {
    // A port nothing listens on.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let url = format!("http://{closed}/jwks.json");
    let fetcher = Fetcher::new(
        "down".into(),
        url,
        DEFAULT_JWKS_REFRESH,
        SignatureFamily::Ec,
    );
    for _ in 0..10 {
        assert!(fetcher.current().is_none());
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_thread_ends_with_its_definition() {
    let server = JwksServer::start(Reply::json(&set_of(&["a"])));
    let fetcher = fetcher(&server, Duration::from_millis(50));
    assert!(eventually(5, || knows(&fetcher, "a") && server.hits() >= 3));
    drop(fetcher);
    std::thread::sleep(Duration::from_millis(200));
    let after = server.hits();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        server.hits(),
        after,
        "no fetch after the definition is gone"
    );
}
