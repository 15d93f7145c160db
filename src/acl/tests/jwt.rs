//! The JWT rules with tokens signed here: an HMAC secret, and an RSA and an EC key pair
//! generated once per run (no key material is checked in). Key sets (`jwks_file`,
//! `jwks_url`) are written here from those keys' public components.

use super::*;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::json;
use std::sync::OnceLock;

const SECRET: &str = "a-shared-secret-of-at-least-32-bytes!";

struct Keys {
    rsa_private: EncodingKey,
    rsa_public_pem: String,
    rsa_public_der: Vec<u8>,
    ec_private: EncodingKey,
    ec_public_pem: String,
    other_ec_private: EncodingKey,
    /// The RSA public key's modulus and exponent, base64url (a JWK's `n` and `e`).
    rsa_n: String,
    rsa_e: String,
    /// The EC public keys as uncompressed points (`04 || x || y`).
    ec_point: Vec<u8>,
    other_ec_point: Vec<u8>,
}

/// base64url without padding, as JWK members are written (RFC 7518 §6).
fn b64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// RSA-2048 generation takes a while: once for every test of the module.
fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        use rsa::pkcs8::{EncodePublicKey, LineEnding};
        use rsa::traits::PublicKeyParts;
        let rsa = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
        let rsa_public = rsa.to_public_key();
        let ec = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let other_ec = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        Keys {
            rsa_private: EncodingKey::from_rsa_der(rsa.to_pkcs1_der().unwrap().as_bytes()),
            rsa_public_pem: rsa_public.to_public_key_pem(LineEnding::LF).unwrap(),
            rsa_public_der: rsa_public.to_public_key_der().unwrap().as_bytes().to_vec(),
            ec_private: EncodingKey::from_ec_der(&ec.serialize_der()),
            ec_public_pem: ec.public_key_pem(),
            other_ec_private: EncodingKey::from_ec_der(&other_ec.serialize_der()),
            rsa_n: b64url(&rsa_public.n().to_bytes_be()),
            rsa_e: b64url(&rsa_public.e().to_bytes_be()),
            ec_point: ec.public_key_raw().to_vec(),
            other_ec_point: other_ec.public_key_raw().to_vec(),
        }
    })
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn sign(alg: Algorithm, key: &EncodingKey, claims: serde_json::Value) -> String {
    encode(&Header::new(alg), &claims, key).unwrap()
}

fn hmac(claims: serde_json::Value) -> String {
    sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(SECRET.as_bytes()),
        claims,
    )
}

/// A GET of `/logs/_search` with these extra headers.
fn get(headers: &[(&str, String)]) -> Req {
    with_headers("GET", "/logs/_search", headers.to_vec())
}

fn bearer(token: &str) -> (&'static str, String) {
    ("Authorization", format!("Bearer {token}"))
}

const NO_MATCH: &str = "forbid:-:Forbidden by ReadonlyREST";

/// `signature_key: |` followed by the PEM, indented for a `jwt` entry.
fn pem_key(pem: &str) -> String {
    let lines: Vec<String> = pem.lines().map(|l| format!("      {l}")).collect();
    format!("signature_key: |\n{}", lines.join("\n"))
}

const HMAC_POLICY: &str = r#"
readonlyrest:
  access_control_rules:
  - name: admins
    jwt_auth: {name: hmac, groups_all_of: ["admin", "ops"]}
  - name: readers
    jwt_auth: {name: hmac, groups_any_of: ["read*"]}
  - name: not guests
    jwt_auth: {name: hmac, groups_not_any_of: ["guest"]}
    methods: [POST]
  jwt:
  - name: hmac
    signature_algo: HMAC
    signature_key: "a-shared-secret-of-at-least-32-bytes!"
    user_claim: sub
    roles_claim: roles
"#;

#[test]
fn a_valid_token_names_the_user_and_its_groups() {
    let acl = compile(HMAC_POLICY);
    let token = hmac(json!({"sub": "alice", "roles": ["admin", "ops"], "exp": now() + 300}));
    assert_eq!(decide(&acl, &get(&[bearer(&token)])), "allow:admins:alice");
    // A single string is one group.
    let token = hmac(json!({"sub": "bob", "roles": "reader"}));
    assert_eq!(decide(&acl, &get(&[bearer(&token)])), "allow:readers:bob");
    // all_of needs both; any_of globs do not match; not_any_of needs POST here.
    let token = hmac(json!({"sub": "carol", "roles": ["admin"]}));
    assert_eq!(decide(&acl, &get(&[bearer(&token)])), NO_MATCH);
    let post = with_headers("POST", "/logs/_search", vec![bearer(&token)]);
    assert_eq!(decide(&acl, &post), "allow:not guests:carol");
    let guest = hmac(json!({"sub": "dan", "roles": ["guest"]}));
    let post = with_headers("POST", "/logs/_search", vec![bearer(&guest)]);
    assert_eq!(decide(&acl, &post), NO_MATCH);
    // `bearer` in any case.
    let token = hmac(json!({"sub": "bob", "roles": "reader"}));
    let lower = ("Authorization", format!("bearer {token}"));
    assert_eq!(decide(&acl, &get(&[lower])), "allow:readers:bob");
}

#[test]
fn bad_tokens_do_not_match_and_never_panic() {
    let acl = compile(HMAC_POLICY);
    let claims = |extra: serde_json::Value| {
        let mut c = json!({"sub": "alice", "roles": ["admin", "ops"]});
        c.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        c
    };
    let wrong_key = sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(b"another-secret-of-at-least-32-bytes!!"),
        claims(json!({})),
    );
    let expired = hmac(claims(json!({"exp": now() - 60})));
    let not_yet = hmac(claims(json!({"nbf": now() + 60})));
    let exp_as_text = hmac(claims(json!({"exp": "9999999999"})));
    let expired_fraction = hmac(claims(json!({"exp": now() as f64 - 60.5})));
    let no_user = hmac(json!({"roles": ["admin", "ops"]}));
    let user_not_text = hmac(json!({"sub": {"id": 1}, "roles": ["admin", "ops"]}));
    let good = hmac(claims(json!({})));
    let (header, payload, signature) = {
        let mut parts = good.split('.');
        (
            parts.next().unwrap().to_string(),
            parts.next().unwrap().to_string(),
            parts.next().unwrap().to_string(),
        )
    };
    use base64::Engine;
    let b64 = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    let unsigned = format!("{}.{payload}.", b64(r#"{"alg":"none","typ":"JWT"}"#));
    let tampered = format!(
        "{header}.{}.{signature}",
        b64(r#"{"sub":"root","roles":["admin","ops"]}"#)
    );
    for token in [
        wrong_key,
        expired,
        not_yet,
        exp_as_text,
        expired_fraction,
        no_user,
        user_not_text,
        unsigned,
        tampered,
        String::new(),
        "a.b.c".into(),
        "..".into(),
        "....".into(),
        format!("{header}.{payload}"),
        "é.é.é".into(),
        "x".repeat(10_000),
    ] {
        assert_eq!(
            decide(&acl, &get(&[bearer(&token)])),
            NO_MATCH,
            "{token:.60}"
        );
    }
    // No header, another scheme, the token without its prefix.
    assert_eq!(decide(&acl, &get(&[])), NO_MATCH);
    let basic = basic("alice", "x");
    assert_eq!(decide(&acl, &get(&[(basic.0, basic.1)])), NO_MATCH);
    assert_eq!(
        decide(&acl, &get(&[("Authorization", good.clone())])),
        NO_MATCH
    );
    // Within the leeway, an expired token still passes; the control token does.
    let just_expired = hmac(claims(json!({"exp": now() - 2})));
    assert_eq!(
        decide(&acl, &get(&[bearer(&just_expired)])),
        "allow:admins:alice"
    );
    assert_eq!(decide(&acl, &get(&[bearer(&good)])), "allow:admins:alice");
}

fn rsa_policy() -> String {
    let k = keys();
    use base64::Engine;
    let der = base64::engine::general_purpose::STANDARD.encode(&k.rsa_public_der);
    format!(
        r#"
readonlyrest:
  access_control_rules:
  - name: rsa
    jwt_authentication: {{name: rsa}}
    headers: ["x-which:pem"]
  - name: rsa der
    jwt_authentication: rsa_der
    headers: ["x-which:der"]
  - name: ec
    jwt_authentication: ec
    headers: ["x-which:ec"]
  jwt:
  - name: rsa
    signature_algo: RSA
    {}
    user_claim: sub
  - name: rsa_der
    signature_algo: rsa
    signature_key: "{der}"
    user_claim: sub
  - name: ec
    signature_algo: EC
    {}
    user_claim: sub
"#,
        pem_key(&k.rsa_public_pem),
        pem_key(&k.ec_public_pem),
    )
}

#[test]
fn rsa_and_ec_keys_in_pem_and_der_and_no_algorithm_confusion() {
    let k = keys();
    let acl = compile(&rsa_policy());
    let to = |which: &str, token: &str| {
        decide(&acl, &get(&[bearer(token), ("X-Which", which.to_string())]))
    };
    let claims = json!({"sub": "svc", "exp": now() + 60});
    let rs256 = sign(Algorithm::RS256, &k.rsa_private, claims.clone());
    let ps384 = sign(Algorithm::PS384, &k.rsa_private, claims.clone());
    let es256 = sign(Algorithm::ES256, &k.ec_private, claims.clone());
    assert_eq!(to("pem", &rs256), "allow:rsa:svc");
    assert_eq!(to("pem", &ps384), "allow:rsa:svc");
    assert_eq!(to("der", &rs256), "allow:rsa der:svc");
    assert_eq!(to("ec", &es256), "allow:ec:svc");
    // Wrong key; another family's token.
    let other_ec = sign(Algorithm::ES256, &k.other_ec_private, claims.clone());
    assert_eq!(to("ec", &other_ec), NO_MATCH);
    assert_eq!(to("pem", &es256), NO_MATCH);
    assert_eq!(to("ec", &rs256), NO_MATCH);
    assert_eq!(to("pem", &hmac(claims.clone())), NO_MATCH);
    // The classic confusion: an HS256 token whose secret is the RSA public key itself.
    for secret in [k.rsa_public_pem.as_bytes(), &k.rsa_public_der] {
        let forged = sign(
            Algorithm::HS256,
            &EncodingKey::from_secret(secret),
            claims.clone(),
        );
        assert_eq!(to("pem", &forged), NO_MATCH);
        assert_eq!(to("der", &forged), NO_MATCH);
    }
    let expired = sign(
        Algorithm::RS256,
        &k.rsa_private,
        json!({"sub": "svc", "exp": now() - 60}),
    );
    assert_eq!(to("pem", &expired), NO_MATCH);
}

#[test]
fn custom_header_nested_claims_authorization_and_variables() {
    let acl = compile(
        r#"
readonlyrest:
  access_control_rules:
  - name: proxied ops
    proxy_auth: "*"
    jwt_authorization: {name: nested, groups: {any_of: ["ops"], not_any_of: ["banned"]}}
  - name: tenant
    jwt_authentication: nested
    uri_re: ["^/t_@{jwt:org.tenant}"]
    indices: ["t_@explode{jwt:org.extra}", "t_@{jwt:org.tenant}"]
  jwt:
  - name: nested
    signature_algo: HMAC
    signature_key: "a-shared-secret-of-at-least-32-bytes!"
    user_claim: "$.user.name"
    group_ids_claim: realm_access.roles
    header_name: X-Token
    header_prefix: "JWT "
"#,
    );
    let token = hmac(json!({
        "user": {"name": "erin"},
        "realm_access": {"roles": ["ops"]},
        "org": {"tenant": "acme", "extra": ["x", "y"]},
    }));
    let at = |path: &str, headers: Vec<(&str, String)>| {
        decide(&acl, &with_headers("GET", path, headers))
    };
    let jwt = ("X-Token", format!("JWT {token}"));
    let proxy = ("X-Forwarded-User", "gw".to_string());
    assert_eq!(
        at("/logs/_search", vec![proxy.clone(), jwt.clone()]),
        "allow:proxied ops:gw"
    );
    // The nested user; the tenant from the token in the URI and the indices.
    assert_eq!(
        at("/t_acme/_search", vec![jwt.clone()]),
        "allow:tenant:erin"
    );
    assert_eq!(
        at("/t_acme,t_y/_search", vec![jwt.clone()]),
        "allow:tenant:erin"
    );
    assert_ne!(at("/t_x/_search", vec![jwt.clone()]), "allow:tenant:erin");
    assert_ne!(
        at("/t_other/_search", vec![jwt.clone()]),
        "allow:tenant:erin"
    );
    // The usual header or the wrong prefix carries no token for this definition.
    assert_eq!(at("/t_acme/_search", vec![bearer(&token)]), NO_MATCH);
    let wrong_prefix = ("X-Token", format!("Bearer {token}"));
    assert_eq!(at("/t_acme/_search", vec![wrong_prefix]), NO_MATCH);
    // A banned ops member fails the combined condition.
    let banned = hmac(json!({"user": {"name": "x"}, "realm_access": {"roles": ["ops", "banned"]}}));
    let banned = ("X-Token", format!("JWT {banned}"));
    assert_eq!(at("/logs/_search", vec![proxy, banned]), NO_MATCH);
}

#[test]
fn jwt_config_errors_name_the_line_and_column() {
    let errors = try_acl(
        r#"
readonlyrest:
  access_control_rules:
  - name: a
    jwt_authentication: nope
  - name: b
    jwt_authentication: groups_only
  - name: c
    jwt_authorization: {name: full, groups_any_of: [g]}
  - name: d
    jwt_authentication: full
    auth_key: "u:p"
  - name: e
    auth_key: "u:p"
    indices: ["@{jwt:tenant}"]
  - name: f
    jwt_auth: {name: hmac, groups_any_of: [g]}
  jwt:
  - name: hmac
    signature_key: "s"
    user_claim: sub
  - name: groups_only
    signature_key: "s"
    groups_claim: roles
  - name: full
    signature_key: "s"
    user_claim: sub
    group_ids_claim: roles
  - name: unsigned
    signature_algo: NONE
    user_claim: sub
  - name: validated
    signature_key: "s"
    external_validator: {url: "http://v"}
  - name: typo
    signature_key: "s"
    user_clam: sub
  - name: bad_rsa
    signature_algo: RSA
    signature_key: "bm90IGEga2V5"
  - name: bad_path
    signature_key: "s"
    user_claim: "roles[0]"
"#,
    )
    .unwrap_err();
    let expected = [
        "readonlyrest.yml:5:25: block `a`: rule `jwt_authentication`: `nope` names no jwt definition (known: hmac, groups_only, full)",
        "readonlyrest.yml:7:25: block `b`: rule `jwt_authentication`: jwt `groups_only` has no user_claim, which authentication needs",
        "readonlyrest.yml:9:5: block `c`: an authorization rule needs an authentication rule in the same block",
        "readonlyrest.yml:12:5: block `d`: only one authentication rule is allowed per block",
        "readonlyrest.yml:15:15: block `e`: @{jwt:...} reads the token a JWT rule verified",
        "readonlyrest.yml:17:28: block `f`: rule `jwt_auth`: jwt `hmac` has no group_ids_claim, which a groups condition needs",
        "readonlyrest.yml:30:21: jwt `unsigned`: signature_algo NONE is not supported",
        "readonlyrest.yml:34:5: jwt entry: external_validator is not supported by Ringfence",
        "readonlyrest.yml:37:5: unknown key `user_clam` in jwt entry",
        "readonlyrest.yml:40:20: jwt `bad_rsa`: signature_key is not a valid RSA public key",
        "readonlyrest.yml:43:17: jwt entry: claim path `roles[0]` must be a dotted path",
    ];
    assert_eq!(errors.len(), expected.len(), "{errors:#?}");
    for (error, prefix) in errors.iter().zip(expected) {
        assert!(
            error.starts_with(prefix),
            "{error}\n  expected to start with\n{prefix}"
        );
    }
    // The key itself is never echoed.
    assert!(errors.iter().all(|e| !e.contains("bm90IGEga2V5")));
}

/// A JWK of the test's RSA public key with these extra members (`kid`, `use`, `alg`).
fn rsa_jwk(extra: serde_json::Value) -> serde_json::Value {
    let k = keys();
    let mut jwk = json!({"kty": "RSA", "n": k.rsa_n, "e": k.rsa_e});
    jwk.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    jwk
}

/// A P-256 JWK of the uncompressed point `point`, with a `kid`.
fn ec_jwk(point: &[u8], kid: &str) -> serde_json::Value {
    json!({"kty": "EC", "crv": "P-256", "kid": kid, "x": b64url(&point[1..33]), "y": b64url(&point[33..65])})
}

/// Writes `content` to a file of its own in the temporary folder; returns its path.
fn temp_file(name: &str, content: &str) -> String {
    let path =
        std::env::temp_dir().join(format!("ringfence-jwks-{}-{name}.json", std::process::id()));
    std::fs::write(&path, content).unwrap();
    path.to_str().unwrap().to_string()
}

/// Signs `claims` with `alg` and a header naming `kid` (if any).
fn sign_kid(
    alg: Algorithm,
    key: &EncodingKey,
    kid: Option<&str>,
    claims: serde_json::Value,
) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_string);
    encode(&header, &claims, key).unwrap()
}

/// The RSA set: an encryption key and an RS256 signing key (the same public key, by
/// different `kid`s), an HMAC secret and an RSA-OAEP key, both skipped.
fn rsa_set_file() -> String {
    let set = json!({"keys": [
        rsa_jwk(json!({"kid": "enc-1", "use": "enc"})),
        rsa_jwk(json!({"kid": "rsa-1", "use": "sig", "alg": "RS256"})),
        {"kty": "oct", "kid": "hmac", "k": b64url(SECRET.as_bytes())},
        rsa_jwk(json!({"kid": "wrap", "alg": "RSA-OAEP"})),
    ]});
    temp_file("rsa", &set.to_string())
}

fn jwks_policy() -> String {
    let k = keys();
    let ec_set = json!({"keys": [ec_jwk(&k.ec_point, "ec-1"), ec_jwk(&k.other_ec_point, "ec-2")]});
    format!(
        r#"
readonlyrest:
  access_control_rules:
  - name: rsa set
    jwt_authentication: rsa_set
    headers: ["x-which:rsa"]
  - name: ec set
    jwt_authentication: ec_set
    headers: ["x-which:ec"]
  - name: audience
    jwt_authentication: audience
    headers: ["x-which:aud"]
  jwt:
  - name: rsa_set
    signature_algo: RSA
    jwks_file: "{}"
    user_claim: sub
  - name: ec_set
    signature_algo: EC
    jwks_file: "{}"
    user_claim: sub
  - name: audience
    signature_algo: EC
    jwks_file: "{}"
    audience: [es-gateway, other]
    issuer: "https://idp.example.com/"
    user_claim: sub
"#,
        rsa_set_file(),
        temp_file("ec", &ec_set.to_string()),
        temp_file(
            "ec-one",
            &json!({"keys": [ec_jwk(&k.ec_point, "ec-1")]}).to_string()
        ),
    )
}

#[test]
fn jwks_files_pick_the_key_by_kid_and_skip_keys_not_for_signing() {
    let k = keys();
    let acl = compile(&jwks_policy());
    let to = |which: &str, token: &str| {
        decide(&acl, &get(&[bearer(token), ("X-Which", which.to_string())]))
    };
    let claims = json!({"sub": "svc", "exp": now() + 60});
    let rs = |alg, kid| sign_kid(alg, &k.rsa_private, kid, claims.clone());
    assert_eq!(
        to("rsa", &rs(Algorithm::RS256, Some("rsa-1"))),
        "allow:rsa set:svc"
    );
    // Without `kid`: every usable key is tried.
    assert_eq!(to("rsa", &rs(Algorithm::RS256, None)), "allow:rsa set:svc");
    // The key's `alg` is RS256: a PS256 signature by the same key is refused.
    assert_eq!(to("rsa", &rs(Algorithm::PS256, Some("rsa-1"))), NO_MATCH);
    assert_eq!(to("rsa", &rs(Algorithm::PS256, None)), NO_MATCH);
    // The same public key published for encryption (`use: enc`) or RSA-OAEP is skipped.
    assert_eq!(to("rsa", &rs(Algorithm::RS256, Some("enc-1"))), NO_MATCH);
    assert_eq!(to("rsa", &rs(Algorithm::RS256, Some("wrap"))), NO_MATCH);
    assert_eq!(to("rsa", &rs(Algorithm::RS256, Some("unknown"))), NO_MATCH);
    // The set's `oct` secret never verifies an HMAC token.
    let secret = EncodingKey::from_secret(SECRET.as_bytes());
    let hs = sign_kid(Algorithm::HS256, &secret, Some("hmac"), claims.clone());
    assert_eq!(to("rsa", &hs), NO_MATCH);
    let expired = sign_kid(
        Algorithm::RS256,
        &k.rsa_private,
        Some("rsa-1"),
        json!({"sub": "svc", "exp": now() - 60}),
    );
    assert_eq!(to("rsa", &expired), NO_MATCH);

    // EC: the `kid` picks the key; a signature by the other key under that `kid` fails.
    let es = |key, kid| sign_kid(Algorithm::ES256, key, kid, claims.clone());
    assert_eq!(
        to("ec", &es(&k.ec_private, Some("ec-1"))),
        "allow:ec set:svc"
    );
    assert_eq!(
        to("ec", &es(&k.other_ec_private, Some("ec-2"))),
        "allow:ec set:svc"
    );
    assert_eq!(to("ec", &es(&k.other_ec_private, None)), "allow:ec set:svc");
    assert_eq!(to("ec", &es(&k.other_ec_private, Some("ec-1"))), NO_MATCH);
    assert_eq!(to("ec", &rs(Algorithm::RS256, Some("ec-1"))), NO_MATCH);
    for garbage in ["", "a.b.c", "e30.e30.", "x".repeat(5_000).as_str()] {
        assert_eq!(to("ec", garbage), NO_MATCH, "{garbage:.20}");
    }
}

#[test]
fn audience_and_issuer_are_checked_when_configured() {
    let k = keys();
    let acl = compile(&jwks_policy());
    let with = |extra: serde_json::Value| {
        let mut claims =
            json!({"sub": "svc", "aud": "es-gateway", "iss": "https://idp.example.com/"});
        let object = claims.as_object_mut().unwrap();
        for (name, value) in extra.as_object().unwrap() {
            if value.is_null() {
                object.remove(name);
            } else {
                object.insert(name.clone(), value.clone());
            }
        }
        let token = sign_kid(Algorithm::ES256, &k.ec_private, Some("ec-1"), claims);
        decide(
            &acl,
            &get(&[bearer(&token), ("X-Which", "aud".to_string())]),
        )
    };
    assert_eq!(with(json!({})), "allow:audience:svc");
    assert_eq!(with(json!({"aud": ["x", "other"]})), "allow:audience:svc");
    for refused in [
        json!({"aud": null}),
        json!({"aud": "x"}),
        json!({"aud": []}),
        json!({"aud": ["ES-GATEWAY"]}),
        json!({"aud": 1}),
        json!({"iss": null}),
        json!({"iss": "https://idp.example.com"}),
        json!({"iss": ["https://idp.example.com/"]}),
    ] {
        assert_eq!(with(refused.clone()), NO_MATCH, "{refused}");
    }
    // Without `audience`/`issuer`, neither claim is looked at.
    let token = sign_kid(
        Algorithm::ES256,
        &k.ec_private,
        Some("ec-1"),
        json!({"sub": "svc", "aud": "anyone", "iss": "anybody"}),
    );
    let to_ec = get(&[bearer(&token), ("X-Which", "ec".to_string())]);
    assert_eq!(decide(&acl, &to_ec), "allow:ec set:svc");
}

#[test]
fn a_jwks_url_is_fetched_only_when_a_token_needs_it() {
    use crate::auth::jwt::fetcher::tests::{eventually, JwksServer, Reply};
    let k = keys();
    let server = JwksServer::start(Reply::json(
        &json!({"keys": [ec_jwk(&k.ec_point, "ec-1")]}).to_string(),
    ));
    let acl = compile(&format!(
        r#"
readonlyrest:
  access_control_rules:
  - name: idp
    jwt_authentication: idp
  jwt:
  - name: idp
    signature_algo: EC
    jwks_url: "{}"
    jwks_refresh: 10 min
    user_claim: sub
"#,
        server.url()
    ));
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert_eq!(server.hits(), 0, "compiling the policy fetches nothing");
    let token = sign_kid(
        Algorithm::ES256,
        &k.ec_private,
        Some("ec-1"),
        json!({"sub": "svc"}),
    );
    assert!(eventually(5, || decide(&acl, &get(&[bearer(&token)]))
        == "allow:idp:svc"));
    let forged = sign_kid(
        Algorithm::ES256,
        &k.other_ec_private,
        Some("ec-1"),
        json!({"sub": "svc"}),
    );
    assert_eq!(decide(&acl, &get(&[bearer(&forged)])), NO_MATCH);
    assert_eq!(server.hits(), 1);
}

#[test]
fn jwks_config_errors_name_the_line_and_column() {
    let rsa = rsa_set_file();
    let not_a_set = temp_file("not-a-set", r#"{"x": 1}"#);
    let errors = try_acl(&format!(
        r#"
readonlyrest:
  access_control_rules:
  - name: a
    auth_key: "u:p"
  jwt:
  - name: both
    signature_algo: RSA
    signature_key: "x"
    jwks_file: "{rsa}"
  - name: missing_file
    signature_algo: RSA
    jwks_file: "/nonexistent/ringfence/jwks.json"
  - name: not_a_set
    signature_algo: RSA
    jwks_file: "{not_a_set}"
  - name: no_usable
    signature_algo: EC
    jwks_file: "{rsa}"
  - name: bad_url
    signature_algo: RSA
    jwks_url: "ftp://idp.example.com/jwks"
  - name: relative_url
    signature_algo: RSA
    jwks_url: "/jwks.json"
  - name: bad_refresh
    signature_algo: RSA
    jwks_url: "https://idp.example.com/jwks"
    jwks_refresh: soon
  - name: zero_refresh
    signature_algo: RSA
    jwks_url: "https://idp.example.com/jwks"
    jwks_refresh: 0
  - name: refresh_without_url
    signature_algo: RSA
    jwks_file: "{rsa}"
    jwks_refresh: 5 min
  - name: hmac_set
    jwks_file: "{rsa}"
  - name: bad_audience
    signature_algo: RSA
    jwks_url: "https://idp.example.com/jwks"
    audience: []
    issuer: {{a: b}}
  - name: fine
    signature_algo: RSA
    jwks_url: "http://idp.example.com:8080/jwks"
    jwks_refresh: 60
    audience: es-gateway
    issuer: ["https://a/", "https://b/"]
"#
    ))
    .unwrap_err();
    let expected = [
        "readonlyrest.yml:10:5: jwt `both`: give exactly one of signature_key, jwks_file and jwks_url",
        "readonlyrest.yml:13:16: jwt `missing_file`: jwks_file `/nonexistent/ringfence/jwks.json` cannot be read",
        "readonlyrest.yml:16:16: jwt `not_a_set`: jwks_file ",
        "readonlyrest.yml:19:16: jwt `no_usable`: jwks_file ",
        "readonlyrest.yml:22:15: jwt entry: jwks_url must be an absolute http:// or https:// URL",
        "readonlyrest.yml:25:15: jwt entry: jwks_url must be an absolute http:// or https:// URL",
        "readonlyrest.yml:29:19: jwt entry: jwks_refresh must be a duration",
        "readonlyrest.yml:33:19: jwt entry: jwks_refresh must be a duration",
        "readonlyrest.yml:37:5: jwt `refresh_without_url`: jwks_refresh needs jwks_url",
        "readonlyrest.yml:39:16: jwt `hmac_set`: a key set (jwks_file, jwks_url) needs signature_algo RSA or EC",
        "readonlyrest.yml:43:15: jwt entry: audience must be a non-empty string or a list of them",
        "readonlyrest.yml:44:13: jwt entry: issuer must be a non-empty string or a list of them",
    ];
    assert_eq!(errors.len(), expected.len(), "{errors:#?}");
    for (error, prefix) in errors.iter().zip(expected) {
        assert!(
            error.starts_with(prefix),
            "{error}\n  expected to start with\n{prefix}"
        );
    }
    assert!(
        errors[2].ends_with("is not a JWK Set: it needs a `keys` array"),
        "{}",
        errors[2]
    );
    assert!(
        errors[3].contains("has no usable EC signature key (4 keys in the set"),
        "{}",
        errors[3]
    );
}
