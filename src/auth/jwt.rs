//! JSON Web Tokens for `jwt_authentication`, `jwt_authorization` and `jwt_auth`: one
//! `jwt:` definition of `readonlyrest.yml`, compiled, and the verification of a token
//! against it.
//!
//! Owns: [`JwtDefinition`] (the compiled definition: key or key set, accepted algorithms,
//! audience and issuer, claims, header), [`VerifiedToken`] (a token whose signature and
//! claims checked out) and [`ClaimPath`] (a dotted path into the payload,
//! `realm_access.roles`).
//!
//! Must not: do IO, or hand-write any cryptography. Signatures and times are checked by
//! the `jsonwebtoken` crate; this module only picks what it accepts. Caching verified
//! tokens per core is `auth::jwt::cache`, used through `acl::Verifier::jwt`. Key sets
//! (`jwks_file`, `jwks_url`; Ringfence extensions) are `auth::jwt::jwks`, and fetching
//! one from a URL, on a thread of its own, is `auth::jwt::fetcher`.
//!
//! ```text
//! acl rule ─▶ JwtDefinition::token (header, prefix) ─▶ Verifier::jwt
//!               per-core cache hit: the claims    miss: JwtDefinition::verify
//! ```
//!
//! Security choices:
//! - The algorithm family is the configuration's, never the token's: an `HS256` token
//!   presented to an RSA definition (the public key used as an HMAC secret) is refused,
//!   and `none` is not even an algorithm `jsonwebtoken` can parse.
//! - `exp` and `nbf` are checked when present, with [`CLOCK_LEEWAY_SECS`] of leeway;
//!   ReadonlyREST requires neither. `aud` and `iss` are checked only when the definition
//!   names an `audience` or `issuer` (Ringfence extensions; ReadonlyREST has neither), and
//!   then a token without the claim is refused.
//! - With a key set, the token's header `kid` picks the key (`auth::jwt::jwks`); the
//!   header's `alg` must still be of the configured family.

pub mod cache;
pub mod fetcher;
pub mod jwks;

use fetcher::Fetcher;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use jwks::KeySet;
use std::borrow::Cow;
use std::fmt;

/// Clock skew tolerated on `exp` and `nbf`, in seconds, between the token issuer and the
/// gateway (jsonwebtoken's default is 60; a short one keeps expired tokens out sooner).
pub const CLOCK_LEEWAY_SECS: u64 = 5;

/// ReadonlyREST's default header and prefix.
pub const DEFAULT_HEADER_NAME: &str = "authorization";
pub const DEFAULT_HEADER_PREFIX: &str = "Bearer ";

/// `signature_algo`: which family of algorithms a definition accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureFamily {
    Hmac,
    Rsa,
    Ec,
}

impl SignatureFamily {
    /// ReadonlyREST's names (`HMAC`, `RSA`, `EC`), in any case.
    pub fn parse(text: &str) -> Option<SignatureFamily> {
        match text.to_ascii_uppercase().as_str() {
            "HMAC" => Some(SignatureFamily::Hmac),
            "RSA" => Some(SignatureFamily::Rsa),
            "EC" => Some(SignatureFamily::Ec),
            _ => None,
        }
    }

    /// Every algorithm of the family: a token's `alg` must be one of them.
    fn algorithms(self) -> Vec<Algorithm> {
        use Algorithm::*;
        match self {
            SignatureFamily::Hmac => vec![HS256, HS384, HS512],
            SignatureFamily::Rsa => vec![RS256, RS384, RS512, PS256, PS384, PS512],
            SignatureFamily::Ec => vec![ES256, ES384],
        }
    }

    /// The name `signature_algo` gives the family.
    pub fn label(self) -> &'static str {
        match self {
            SignatureFamily::Hmac => "HMAC",
            SignatureFamily::Rsa => "RSA",
            SignatureFamily::Ec => "EC",
        }
    }
}

/// Why a `signature_key` cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("signature_key is empty")]
    Empty,
    #[error("signature_key is neither a PEM public key nor the base64 of a DER public key")]
    NotBase64,
    #[error("signature_key is not a valid {family} public key: {reason}")]
    Invalid {
        family: &'static str,
        reason: String,
    },
}

/// A dotted path into the token's payload: `sub`, `realm_access.roles`. A leading `$.`
/// (ReadonlyREST's JsonPath spelling) is accepted; filters and wildcards are not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimPath(Vec<String>);

impl ClaimPath {
    pub fn parse(text: &str) -> Result<ClaimPath, String> {
        let path = text.strip_prefix("$.").unwrap_or(text);
        if path.is_empty() || path.contains(['[', ']', '*', '?', '(']) {
            return Err(format!(
                "claim path `{text}` must be a dotted path such as `realm_access.roles` (JsonPath filters, indexes and wildcards are not supported)"
            ));
        }
        let segments: Vec<String> = path.split('.').map(str::to_string).collect();
        if segments.iter().any(String::is_empty) {
            return Err(format!("claim path `{text}` has an empty segment"));
        }
        Ok(ClaimPath(segments))
    }

    /// The value at this path in `claims`, if every step is an object holding the key.
    pub fn find<'c>(&self, claims: &'c serde_json::Value) -> Option<&'c serde_json::Value> {
        self.0
            .iter()
            .try_fold(claims, |value, segment| value.as_object()?.get(segment))
    }
}

/// A token whose signature, `exp` and `nbf` checked out: its payload.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedToken {
    pub claims: serde_json::Value,
}

impl VerifiedToken {
    /// `exp` in whole seconds since the epoch (rounded down), when the token has one.
    pub fn expires_at_unix(&self) -> Option<u64> {
        let exp = self.claims.get("exp")?.as_f64()?;
        // `as` saturates: a negative or huge `exp` stays in range.
        Some(exp.max(0.0) as u64)
    }

    /// The text of a string claim (a user name).
    pub fn text(&self, path: &ClaimPath) -> Option<&str> {
        path.find(&self.claims)?.as_str().filter(|s| !s.is_empty())
    }

    /// A claim as text for `@{jwt:...}`: a string as it is, a number or a boolean written
    /// out, an array of those joined with commas (which `@explode{jwt:...}` splits again).
    /// Objects and null have no text.
    pub fn claim_text(&self, path: &ClaimPath) -> Option<Cow<'_, str>> {
        use serde_json::Value;
        let scalar = |value: &Value| match value {
            Value::String(text) => Some(text.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        };
        match path.find(&self.claims)? {
            Value::String(text) => Some(Cow::Borrowed(text)),
            Value::Array(items) => {
                let texts: Option<Vec<String>> = items.iter().map(scalar).collect();
                Some(Cow::Owned(texts?.join(",")))
            }
            other => scalar(other).map(Cow::Owned),
        }
    }

    /// Group ids: an array (its string items) or a single string.
    pub fn groups(&self, path: &ClaimPath) -> Vec<String> {
        match path.find(&self.claims) {
            Some(serde_json::Value::String(one)) => vec![one.clone()],
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .filter_map(|item| item.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// Why a token was refused (for logs; the client only sees the block not match).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRejected {
    /// Bad signature, wrong algorithm family, malformed token, expired or not yet valid.
    Invalid,
    /// `aud` or `iss` missing, or not one the definition accepts.
    WrongAudienceOrIssuer,
    /// The header names a `kid` the key set does not hold.
    UnknownKeyId,
    /// A `jwks_url` whose keys were never fetched (yet): fail closed.
    NoKeys,
}

/// Where a definition's keys come from (the `signature_key` form is [`JwtDefinition::new`]).
#[derive(Debug)]
pub enum JwksSource {
    /// `jwks_file`: read by the config decoder, again on each policy reload.
    File(KeySet),
    /// `jwks_url`: fetched, and fetched again, by a thread of its own.
    Url(Fetcher),
}

/// The keys a definition checks signatures with.
enum Keys {
    /// `signature_key`.
    Static(DecodingKey),
    Jwks(JwksSource),
}

/// One compiled `jwt:` entry.
pub struct JwtDefinition {
    pub name: String,
    /// Unique within one compiled policy: the per-core cache keys tokens by it.
    pub id: u32,
    keys: Keys,
    validation: Validation,
    /// Empty: `aud` is not checked.
    audience: Vec<String>,
    /// Empty: `iss` is not checked.
    issuer: Vec<String>,
    pub user_claim: Option<ClaimPath>,
    pub group_ids_claim: Option<ClaimPath>,
    /// Lower case.
    header_name: String,
    header_prefix: String,
}

impl fmt::Debug for JwtDefinition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtDefinition")
            .field("name", &self.name)
            .field("id", &self.id)
            .field(
                "keys",
                &match &self.keys {
                    Keys::Static(_) => "***",
                    Keys::Jwks(JwksSource::File(_)) => "jwks_file",
                    Keys::Jwks(JwksSource::Url(_)) => "jwks_url",
                },
            )
            .field("algorithms", &self.validation.algorithms)
            .field("audience", &self.audience)
            .field("issuer", &self.issuer)
            .field("user_claim", &self.user_claim)
            .field("group_ids_claim", &self.group_ids_claim)
            .field("header_name", &self.header_name)
            .field("header_prefix", &self.header_prefix)
            .finish()
    }
}

/// The parts of a definition other than its key (all optional in the YAML).
#[derive(Debug, Clone, Default)]
pub struct JwtClaims {
    pub user_claim: Option<ClaimPath>,
    pub group_ids_claim: Option<ClaimPath>,
    /// `None`: [`DEFAULT_HEADER_NAME`].
    pub header_name: Option<String>,
    /// `None`: [`DEFAULT_HEADER_PREFIX`].
    pub header_prefix: Option<String>,
    /// `audience`: the token's `aud` must hold one of them (empty: not checked).
    pub audience: Vec<String>,
    /// `issuer`: the token's `iss` must be one of them (empty: not checked).
    pub issuer: Vec<String>,
}

impl JwtDefinition {
    /// Compiles a definition. `signature_key` is the HMAC secret (its UTF-8 bytes, as
    /// ReadonlyREST reads it) or, for RSA and EC, a PEM public key or the base64 of its
    /// DER (SubjectPublicKeyInfo) encoding.
    pub fn new(
        name: String,
        id: u32,
        family: SignatureFamily,
        signature_key: &str,
        claims: JwtClaims,
    ) -> Result<JwtDefinition, KeyError> {
        let key = decoding_key(family, signature_key)?;
        Ok(JwtDefinition::compile(
            name,
            id,
            family,
            Keys::Static(key),
            claims,
        ))
    }

    /// Compiles a definition whose keys are a JWK Set (`jwks_file` or `jwks_url`). The
    /// family restricts the token's `alg` as with a `signature_key`; the config decoder
    /// refuses HMAC here.
    pub fn with_jwks(
        name: String,
        id: u32,
        family: SignatureFamily,
        source: JwksSource,
        claims: JwtClaims,
    ) -> JwtDefinition {
        JwtDefinition::compile(name, id, family, Keys::Jwks(source), claims)
    }

    fn compile(
        name: String,
        id: u32,
        family: SignatureFamily,
        keys: Keys,
        claims: JwtClaims,
    ) -> JwtDefinition {
        let mut validation = Validation::new(family.algorithms()[0]);
        validation.algorithms = family.algorithms();
        // `exp` is checked when present, never required (ReadonlyREST requires none).
        validation.required_spec_claims.clear();
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = false;
        validation.leeway = CLOCK_LEEWAY_SECS;
        JwtDefinition {
            name,
            id,
            keys,
            validation,
            audience: claims.audience,
            issuer: claims.issuer,
            user_claim: claims.user_claim,
            group_ids_claim: claims.group_ids_claim,
            header_name: claims
                .header_name
                .map(|h| h.to_ascii_lowercase())
                .unwrap_or_else(|| DEFAULT_HEADER_NAME.to_string()),
            header_prefix: claims
                .header_prefix
                .unwrap_or_else(|| DEFAULT_HEADER_PREFIX.to_string()),
        }
    }

    /// The token in the request's header, after the prefix. The prefix is compared without
    /// regard to ASCII case (`bearer` works, as RFC 9110 §11.1 makes auth schemes
    /// case-insensitive); a header without it carries no token for this definition.
    pub fn token<'v>(&self, header_value: &'v str) -> Option<&'v str> {
        let prefix = self.header_prefix.as_bytes();
        let value = header_value.trim_start();
        let head = value.as_bytes().get(..prefix.len())?;
        if !head.eq_ignore_ascii_case(prefix) {
            return None;
        }
        // `prefix.len()` is a char boundary: the bytes before it equal the prefix's.
        let token = value.get(prefix.len()..)?.trim();
        (!token.is_empty()).then_some(token)
    }

    /// The header that carries the token, in lower case.
    pub fn header_name(&self) -> &str {
        &self.header_name
    }

    /// Checks the signature (with an algorithm of the configured family only), `exp`,
    /// `nbf`, and `aud` and `iss` when configured. Total: any input is an `Ok` or an
    /// `Err`, never a panic. With a `jwks_url` the first call starts the fetching thread
    /// (`auth::jwt::fetcher`); it never waits for it.
    pub fn verify(&self, token: &str) -> Result<VerifiedToken, TokenRejected> {
        let claims = match &self.keys {
            Keys::Static(key) => self.decode(token, key)?,
            Keys::Jwks(JwksSource::File(set)) => self.decode_with_set(token, set)?,
            Keys::Jwks(JwksSource::Url(fetcher)) => {
                let set = fetcher.current().ok_or(TokenRejected::NoKeys)?;
                let decoded = self.decode_with_set(token, &set);
                if matches!(decoded, Err(TokenRejected::UnknownKeyId)) {
                    // Perhaps a rotated key: the fetcher rate-limits these.
                    fetcher.ask_refresh();
                }
                decoded?
            }
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        if !times_hold(&claims, now) {
            return Err(TokenRejected::Invalid);
        }
        let audience_holds = one_of(claims.get("aud"), &self.audience, Arrays::Allowed);
        let issuer_holds = one_of(claims.get("iss"), &self.issuer, Arrays::Refused);
        if !audience_holds || !issuer_holds {
            return Err(TokenRejected::WrongAudienceOrIssuer);
        }
        Ok(VerifiedToken { claims })
    }

    fn decode(&self, token: &str, key: &DecodingKey) -> Result<serde_json::Value, TokenRejected> {
        jsonwebtoken::decode::<serde_json::Value>(token, key, &self.validation)
            .map(|data| data.claims)
            .map_err(|_| TokenRejected::Invalid)
    }

    /// The token checked against the keys of `set` its header picks (`auth::jwt::jwks`).
    fn decode_with_set(
        &self,
        token: &str,
        set: &KeySet,
    ) -> Result<serde_json::Value, TokenRejected> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenRejected::Invalid)?;
        if !self.validation.algorithms.contains(&header.alg) {
            return Err(TokenRejected::Invalid);
        }
        let kid = header.kid.as_deref();
        if kid.is_some_and(|kid| !set.knows(kid)) {
            return Err(TokenRejected::UnknownKeyId);
        }
        let claims = set
            .keys_for(header.alg, kid)
            .find_map(|key| self.decode(token, key).ok());
        claims.ok_or(TokenRejected::Invalid)
    }
}

/// Whether a claim may be an array of strings: `aud` may (RFC 7519 §4.1.3), `iss` is one
/// string (§4.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arrays {
    Allowed,
    Refused,
}

/// Whether `claim` is, or with [`Arrays::Allowed`] holds, one of `accepted`, compared
/// exactly; no accepted values: yes, whatever the claim.
fn one_of(claim: Option<&serde_json::Value>, accepted: &[String], arrays: Arrays) -> bool {
    use serde_json::Value;
    if accepted.is_empty() {
        return true;
    }
    let is_accepted = |value: &Value| {
        value
            .as_str()
            .is_some_and(|v| accepted.iter().any(|a| a == v))
    };
    match claim {
        Some(Value::Array(values)) if arrays == Arrays::Allowed => values.iter().any(is_accepted),
        Some(value) => is_accepted(value),
        None => false,
    }
}

/// `exp` and `nbf` once more, for the values `jsonwebtoken` skips: it checks whole seconds
/// only, while RFC 7519 §2 lets a NumericDate have a fraction, and a time that is not a
/// number at all must not pass as "no time".
fn times_hold(claims: &serde_json::Value, now: f64) -> bool {
    let leeway = CLOCK_LEEWAY_SECS as f64;
    let time = |name: &str| claims.get(name).map(serde_json::Value::as_f64);
    let exp_holds = match time("exp") {
        None => true,
        Some(exp) => exp.is_some_and(|exp| exp + leeway >= now),
    };
    let nbf_holds = match time("nbf") {
        None => true,
        Some(nbf) => nbf.is_some_and(|nbf| nbf - leeway <= now),
    };
    exp_holds && nbf_holds
}

fn decoding_key(family: SignatureFamily, text: &str) -> Result<DecodingKey, KeyError> {
    if text.trim().is_empty() {
        return Err(KeyError::Empty);
    }
    let (pem, label) = match family {
        // The secret's exact bytes, as ReadonlyREST takes them (no trimming).
        SignatureFamily::Hmac => return Ok(DecodingKey::from_secret(text.as_bytes())),
        SignatureFamily::Rsa => (public_key_pem(text)?, "RSA"),
        SignatureFamily::Ec => (public_key_pem(text)?, "EC"),
    };
    let key = match family {
        SignatureFamily::Rsa => DecodingKey::from_rsa_pem(pem.as_bytes()),
        _ => DecodingKey::from_ec_pem(pem.as_bytes()),
    };
    key.map_err(|e| KeyError::Invalid {
        family: label,
        reason: e.to_string(),
    })
}

/// A PEM text as given, or the base64 of a DER public key (ReadonlyREST's other accepted
/// form) wrapped as a `PUBLIC KEY` PEM for `jsonwebtoken` to parse.
fn public_key_pem(text: &str) -> Result<String, KeyError> {
    use base64::Engine;
    let text = text.trim();
    if text.contains("-----BEGIN") {
        return Ok(text.to_string());
    }
    let compact: String = text.split_whitespace().collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(&compact)
        .map_err(|_| KeyError::NotBase64)?;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
    // PEM lines are 64 characters (RFC 7468 §2); base64 text is ASCII, so bytes are chars.
    for line in body.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END PUBLIC KEY-----\n");
    Ok(pem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_paths_walk_objects() {
        let claims = serde_json::json!({"sub": "alice", "realm_access": {"roles": ["a", 1, "b"]}});
        let token = VerifiedToken { claims };
        let roles = ClaimPath::parse("$.realm_access.roles").unwrap();
        assert_eq!(token.groups(&roles), ["a", "b"]);
        assert_eq!(token.text(&ClaimPath::parse("sub").unwrap()), Some("alice"));
        assert_eq!(token.text(&ClaimPath::parse("sub.x").unwrap()), None);
        assert!(token
            .groups(&ClaimPath::parse("missing").unwrap())
            .is_empty());
        assert_eq!(token.claim_text(&roles).as_deref(), Some("a,1,b"));
        let realm = ClaimPath::parse("realm_access").unwrap();
        assert_eq!(token.claim_text(&realm), None, "an object has no text");
        for bad in ["", "a..b", "roles[0]", "$..x", "a.*"] {
            assert!(ClaimPath::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn times_that_are_fractions_or_not_numbers_are_checked_too() {
        let now = 1_000_000.0;
        let holds = |claims: serde_json::Value| times_hold(&claims, now);
        assert!(holds(serde_json::json!({"sub": "a"})));
        assert!(holds(
            serde_json::json!({"exp": 1_000_010.5, "nbf": 999_990.5})
        ));
        assert!(
            holds(serde_json::json!({"exp": 999_996})),
            "within the leeway"
        );
        assert!(!holds(serde_json::json!({"exp": 999_990.5})));
        assert!(!holds(serde_json::json!({"nbf": 1_000_010.5})));
        assert!(!holds(serde_json::json!({"exp": "2999-01-01"})));
        assert!(!holds(serde_json::json!({"nbf": null})));
        let token = VerifiedToken {
            claims: serde_json::json!({"exp": 12.9}),
        };
        assert_eq!(token.expires_at_unix(), Some(12));
    }

    #[test]
    fn the_prefix_is_case_insensitive_and_required() {
        let def = JwtDefinition::new(
            "j".into(),
            1,
            SignatureFamily::Hmac,
            "secret",
            JwtClaims::default(),
        )
        .unwrap();
        assert_eq!(def.token("Bearer abc"), Some("abc"));
        assert_eq!(def.token("bearer  abc "), Some("abc"));
        assert_eq!(def.token("Basic abc"), None);
        assert_eq!(def.token("Bearer "), None);
        assert_eq!(def.token("Bé"), None);
        assert_eq!(def.token(""), None);
    }

    #[test]
    fn keys_that_are_not_keys_are_refused() {
        let new = |family, key: &str| {
            JwtDefinition::new("j".into(), 1, family, key, JwtClaims::default()).map(|_| ())
        };
        assert_eq!(new(SignatureFamily::Hmac, " "), Err(KeyError::Empty));
        assert_eq!(
            new(SignatureFamily::Rsa, "not base64!"),
            Err(KeyError::NotBase64)
        );
        assert!(matches!(
            new(SignatureFamily::Ec, "AAAA"),
            Err(KeyError::Invalid { .. })
        ));
    }
}
