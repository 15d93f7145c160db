//! JWT rules through the gateway, against the stub upstream: a valid Bearer token is
//! forwarded (again from the per-core cache), a bad one is refused with ReadonlyREST's 403
//! and never reaches the upstream. With a `jwks_url`, served by a small HTTP server of the
//! test's own: keys rotate when a token names a new `kid`, and a gateway whose key server
//! is down refuses every token.

mod support;

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::json;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::*;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn policy(public_key_pem: &str) -> String {
    let key: Vec<String> = public_key_pem
        .lines()
        .map(|l| format!("      {l}"))
        .collect();
    format!(
        r#"  access_control_rules:
  - name: "Token readers"
    jwt_auth: {{name: idp, groups_any_of: ["readers"]}}
    indices: ["logs-*"]
  jwt:
  - name: idp
    signature_algo: EC
    signature_key: |
{}
    user_claim: preferred_username
    group_ids_claim: realm_access.roles
"#,
        key.join("\n")
    )
}

fn search(token: &str) -> Vec<u8> {
    format!(
        "GET /logs-1/_search HTTP/1.1\r\nHost: es\r\nAuthorization: Bearer {token}\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

#[test]
fn a_valid_bearer_token_is_forwarded_and_a_bad_one_never_reaches_the_upstream() {
    let idp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let impostor = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let upstream = StubUpstream::echo();
    let gateway = start_gateway("jwt", &upstream.url(), &policy(&idp.public_key_pem()), "");
    let addr = gateway.local_addrs()[0];
    let sign = |key: &rcgen::KeyPair, claims: serde_json::Value| {
        let key = EncodingKey::from_ec_der(&key.serialize_der());
        encode(&Header::new(Algorithm::ES256), &claims, &key).unwrap()
    };
    let claims = json!({
        "preferred_username": "alice",
        "realm_access": {"roles": ["readers"]},
        "exp": now() + 300,
    });

    let good = sign(&idp, claims.clone());
    // The second request is answered from the worker's token cache.
    for _ in 0..2 {
        assert_decided(addr, &upstream, &search(&good), 200);
    }

    let forged = sign(&impostor, claims.clone());
    let expired = sign(
        &idp,
        json!({"preferred_username": "alice", "realm_access": {"roles": ["readers"]}, "exp": now() - 60}),
    );
    let not_a_reader = sign(
        &idp,
        json!({"preferred_username": "bob", "realm_access": {"roles": ["writers"]}}),
    );
    for token in [forged.as_str(), &expired, &not_a_reader, "not.a.token", ""] {
        let refused = assert_decided(addr, &upstream, &search(token), 403);
        let body = refused.json();
        assert_eq!(body["error"]["type"], "forbidden_response", "{body}");
        assert_eq!(
            body["error"]["reason"], "Forbidden by ReadonlyREST",
            "{body}"
        );
    }
    // Allowed user, index outside the grant.
    let other = format!(
        "GET /secret/_search HTTP/1.1\r\nHost: es\r\nAuthorization: Bearer {good}\r\nContent-Length: 0\r\n\r\n"
    );
    let refused = roundtrip(addr, other.as_bytes());
    assert_ne!(refused.status, 200);
    assert_eq!(upstream.requests().len(), 2, "only the two good searches");
}

/// A JWK Set server: every request gets the current body (a JWK Set), then the connection
/// closes.
struct JwksServer {
    url: String,
    body: Arc<Mutex<String>>,
}

impl JwksServer {
    fn start(body: String) -> JwksServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://{}/.well-known/jwks.json",
            listener.local_addr().unwrap()
        );
        let body = Arc::new(Mutex::new(body));
        let served = Arc::clone(&body);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
                    head.push(byte[0]);
                }
                let body = served.lock().unwrap().clone();
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        JwksServer { url, body }
    }

    fn publish(&self, body: String) {
        *self.body.lock().unwrap() = body;
    }
}

/// A P-256 key pair and its `kid`.
struct IdpKey {
    kid: &'static str,
    pair: rcgen::KeyPair,
}

impl IdpKey {
    fn new(kid: &'static str) -> IdpKey {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        IdpKey { kid, pair }
    }

    /// The public key as a JWK (RFC 7518 §6.2: `x` and `y`, base64url).
    fn jwk(&self) -> serde_json::Value {
        use base64::Engine;
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let point = self.pair.public_key_raw();
        json!({"kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": self.kid,
               "x": b64(&point[1..33]), "y": b64(&point[33..65])})
    }

    fn sign(&self, claims: serde_json::Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.to_string());
        let key = EncodingKey::from_ec_der(&self.pair.serialize_der());
        encode(&header, &claims, &key).unwrap()
    }
}

fn set_of(keys: &[&IdpKey]) -> String {
    let keys: Vec<serde_json::Value> = keys.iter().map(|k| k.jwk()).collect();
    json!({ "keys": keys }).to_string()
}

fn jwks_policy(url: &str) -> String {
    format!(
        r#"  access_control_rules:
  - name: "Token readers"
    jwt_auth: {{name: idp, groups_any_of: ["readers"]}}
    indices: ["logs-*"]
  jwt:
  - name: idp
    signature_algo: EC
    jwks_url: "{url}"
    jwks_refresh: 5 min
    audience: es-gateway
    issuer: "https://idp.example.com/"
    user_claim: preferred_username
    group_ids_claim: realm_access.roles
"#
    )
}

fn reader_claims(user: &str) -> serde_json::Value {
    json!({
        "preferred_username": user,
        "realm_access": {"roles": ["readers"]},
        "aud": ["es-gateway"],
        "iss": "https://idp.example.com/",
        "exp": now() + 300,
    })
}

/// Sends `token` until the gateway answers 200, for at most `seconds`; the refusals before
/// must not reach the upstream. The status last seen.
fn status_within(
    addr: std::net::SocketAddr,
    upstream: &StubUpstream,
    token: &str,
    seconds: u64,
) -> u16 {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        let before = upstream.requests().len();
        let status = roundtrip(addr, &search(token)).status;
        let reached = upstream.requests().len() - before;
        assert_eq!(reached, usize::from(status == 200), "status {status}");
        if status == 200 || Instant::now() >= deadline {
            return status;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn jwks_url_keys_rotate_on_an_unknown_kid() {
    let (a, b) = (IdpKey::new("key-a"), IdpKey::new("key-b"));
    let jwks = JwksServer::start(set_of(&[&a]));
    let upstream = StubUpstream::echo();
    let gateway = start_gateway("jwks", &upstream.url(), &jwks_policy(&jwks.url), "");
    let addr = gateway.local_addrs()[0];

    // The first token starts the fetch; until it lands, tokens are refused.
    let alice = a.sign(reader_claims("alice"));
    assert_eq!(status_within(addr, &upstream, &alice, 5), 200);
    // Audience and issuer are checked.
    let mut wrong_audience = reader_claims("alice");
    wrong_audience["aud"] = json!("kibana");
    assert_decided(addr, &upstream, &search(&a.sign(wrong_audience)), 403);

    // Rotation: the identity provider now publishes B only. A token of B names a `kid`
    // the gateway does not know, which fetches the set again.
    jwks.publish(set_of(&[&b]));
    let bob = b.sign(reader_claims("bob"));
    assert_eq!(status_within(addr, &upstream, &bob, 5), 200);
    // A's key is gone: a new token of A (not in any cache) is refused.
    let carol = a.sign(reader_claims("carol"));
    assert_decided(addr, &upstream, &search(&carol), 403);
}

#[test]
fn with_the_jwks_server_down_every_token_is_refused() {
    let a = IdpKey::new("key-a");
    let upstream = StubUpstream::echo();
    let url = format!("{}/jwks.json", closed_port_url());
    let gateway = start_gateway("jwks-down", &upstream.url(), &jwks_policy(&url), "");
    let addr = gateway.local_addrs()[0];
    let deadline = Instant::now() + Duration::from_millis(1_500);
    let mut user = 0;
    while Instant::now() < deadline {
        // A new token each time: no cached refusal answers for it.
        user += 1;
        let token = a.sign(reader_claims(&format!("user{user}")));
        let refused = assert_decided(addr, &upstream, &search(&token), 403);
        assert_eq!(
            refused.json()["error"]["reason"],
            "Forbidden by ReadonlyREST"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(upstream.requests().len(), 0, "nothing reached the upstream");
}
