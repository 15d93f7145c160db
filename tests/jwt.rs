//! JWT rules through the gateway, against the stub upstream: a valid Bearer token is
//! forwarded (again from the per-core cache), a bad one is refused with ReadonlyREST's 403
//! and never reaches the upstream.

mod support;

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::json;
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
