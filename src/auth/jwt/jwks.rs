//! A JSON Web Key Set (RFC 7517 §5) compiled for one `jwt:` definition, and the choice of
//! the keys one token is checked against. A Ringfence extension: ReadonlyREST has no JWKS.
//!
//! Owns: [`KeySet`] (the usable signature keys of a set, each with its `kid`, `alg` and
//! curve) and [`JwksError`] (why a document is not a usable set).
//!
//! Must not: do IO (`jwks_file` is read by the config decoder, `jwks_url` fetched by
//! `auth::jwt::fetcher`), or hand-write cryptography: keys become `jsonwebtoken`
//! `DecodingKey`s through `DecodingKey::from_jwk`, and `JwtDefinition::verify` hands them
//! to `jsonwebtoken::decode`.
//!
//! Which keys of a set are kept (the others are skipped, not errors: identity providers
//! publish encryption keys and newer key types beside the signing keys):
//! - the key type of the definition's family: `RSA` for RSA, `EC` on P-256 or P-384 for EC
//!   (`oct` secrets are never kept: a shared secret does not belong in a published set);
//! - `use` absent or `sig` (RFC 7517 §4.2), `key_ops` absent or holding `verify` (§4.3);
//! - `alg` absent or one of the family's algorithms (§4.4).
//!
//! Which keys a token is tried against: with a `kid` in its header, the keys with that
//! `kid`; without one, every key; in both cases only keys whose `alg` (when given) is the
//! token's and whose curve fits it (ES256: P-256, ES384: P-384), and at most
//! [`MAX_KEYS_TRIED`] of them (a signature check costs tens of microseconds).

use super::SignatureFamily;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyOperations, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use std::fmt;
use std::str::FromStr;

/// The most keys one token is checked against (a token without `kid` against a set with
/// many keys: each failed check costs a signature verification).
pub const MAX_KEYS_TRIED: usize = 8;

/// Why a document is not a usable JWK Set. The messages never quote the document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwksError {
    #[error("is not JSON ({0})")]
    NotJson(String),
    #[error("is not a JWK Set: it needs a `keys` array")]
    NotASet,
    #[error("has no usable {family} signature key ({total} keys in the set; keys of another type, with `use` other than `sig` or with another `alg` are skipped)")]
    NoUsableKey { family: &'static str, total: usize },
}

/// One usable key of a set.
struct SetKey {
    kid: Option<String>,
    alg: Option<Algorithm>,
    /// EC keys only.
    curve: Option<EllipticCurve>,
    key: DecodingKey,
}

/// The usable signature keys of a JWK Set, for one algorithm family.
pub struct KeySet {
    keys: Vec<SetKey>,
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kids: Vec<&str> = self
            .keys
            .iter()
            .map(|k| k.kid.as_deref().unwrap_or("-"))
            .collect();
        f.debug_struct("KeySet").field("kids", &kids).finish()
    }
}

impl KeySet {
    /// The usable keys of the JWK Set `json` for `family`; an error when the document is no
    /// set or holds no usable key. Total: never panics on any input.
    pub fn parse(json: &[u8], family: SignatureFamily) -> Result<KeySet, JwksError> {
        let document: serde_json::Value =
            serde_json::from_slice(json).map_err(|e| JwksError::NotJson(e.to_string()))?;
        let items = document
            .get("keys")
            .and_then(serde_json::Value::as_array)
            .ok_or(JwksError::NotASet)?;
        let keys: Vec<SetKey> = items
            .iter()
            // A key of a type or algorithm `jsonwebtoken` does not know does not parse.
            .filter_map(|item| serde_json::from_value::<Jwk>(item.clone()).ok())
            .filter_map(|jwk| usable(&jwk, family))
            .collect();
        if keys.is_empty() {
            return Err(JwksError::NoUsableKey {
                family: family.label(),
                total: items.len(),
            });
        }
        Ok(KeySet { keys })
    }

    /// How many usable keys the set holds (never zero).
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// Whether a usable key carries this `kid` (when none does, the set may be older than
    /// the token's key: `jwks_url` fetches it again).
    pub fn knows(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }

    /// The keys a token signed with `alg` (and naming `kid`, if it does) is checked
    /// against, at most [`MAX_KEYS_TRIED`].
    pub fn keys_for<'s>(
        &'s self,
        alg: Algorithm,
        kid: Option<&'s str>,
    ) -> impl Iterator<Item = &'s DecodingKey> + 's {
        self.keys
            .iter()
            .filter(move |k| kid.is_none() || k.kid.as_deref() == kid)
            .filter(move |k| k.alg.is_none_or(|a| a == alg))
            .filter(move |k| match (&k.curve, alg) {
                (None, _) => true,
                (Some(EllipticCurve::P256), Algorithm::ES256) => true,
                (Some(EllipticCurve::P384), Algorithm::ES384) => true,
                (Some(_), _) => false,
            })
            .take(MAX_KEYS_TRIED)
            .map(|k| &k.key)
    }
}

/// `jwk` as a key of the set, when it is a signature key of `family`.
fn usable(jwk: &Jwk, family: SignatureFamily) -> Option<SetKey> {
    let common = &jwk.common;
    if !matches!(common.public_key_use, None | Some(PublicKeyUse::Signature)) {
        return None;
    }
    if let Some(ops) = &common.key_operations {
        if !ops.contains(&KeyOperations::Verify) {
            return None;
        }
    }
    let alg = match common.key_algorithm {
        // `RSA-OAEP` and the like are encryption algorithms: no `Algorithm` of that name.
        Some(alg) => Some(Algorithm::from_str(&alg.to_string()).ok()?),
        None => None,
    };
    if alg.is_some_and(|alg| !family.algorithms().contains(&alg)) {
        return None;
    }
    let curve = match (&jwk.algorithm, family) {
        (AlgorithmParameters::RSA(_), SignatureFamily::Rsa) => None,
        (AlgorithmParameters::EllipticCurve(ec), SignatureFamily::Ec) => match ec.curve {
            EllipticCurve::P256 | EllipticCurve::P384 => Some(ec.curve.clone()),
            _ => return None,
        },
        _ => return None,
    };
    Some(SetKey {
        kid: common.key_id.clone(),
        alg,
        curve,
        key: DecodingKey::from_jwk(jwk).ok()?,
    })
}
