//! Credential verifiers for the ReadonlyREST `auth_key*` rules.
//!
//! Owns: compiling one configured credential (`auth_key`, `auth_key_sha1|256|512`,
//! `auth_key_pbkdf2`, `auth_key_unix`) into an [`AuthKey`], checking Basic-auth
//! credentials against it, and writing rule lines for `ringfence hash`
//! ([`config_line`]).
//!
//! Must not: do IO, spawn threads, cache results or import monoio. [`AuthKey::cost`]
//! tells the caller which checks are slow enough to leave the worker's event loop;
//! the hashing pool and the per-core caches live elsewhere in `auth`.
//!
//! Where it sits in the walk:
//!
//! ```text
//! acl::evaluate -> auth::Verifier -> auth::cache (hit: done)
//!                                      miss -> AuthKey::verify (inline if Cheap,
//!                                                               on the pool if Expensive)
//! ```
//!
//! ReadonlyREST compatibility (shared/reference/readonlyrest.md §1.1, §3):
//! - Hashed rules have two forms, split on the first `:`. `<digest>` is the hash of
//!   `"user:password"`, so the user is only known once it matches; `user:<digest>`
//!   compares the user first and then hashes the password alone.
//! - Strings are hashed as the raw bytes of the Basic credentials. ROR hashes Java
//!   strings in the JVM charset (UTF-8), so valid UTF-8 behaves identically; ROR
//!   would turn invalid UTF-8 into U+FFFD first, we hash the bytes as sent.
//! - Anything ROR accepts but can never match (uppercase hex, unpadded Base64, a
//!   crypt string its crypt() would print differently) is a load error here, so a
//!   dead rule is visible instead of silently denying.
//! - Stricter than ROR on purpose: an empty user (`:hash`) or an empty plain
//!   password is a load error; crypt work factors that would take seconds per
//!   login and SHA-crypt passwords over 1 KiB (its cost is quadratic in the
//!   password length) are refused (see `key/crypt.rs`). DES crypt is not supported.
//! - `auth_key_unix` also takes bcrypt (`$2a$`, `$2b$`, `$2y$`) and argon2id PHC
//!   strings, which ROR rejects at runtime: such configs do not go back to ROR.

// Explicit paths: a file that is itself loaded with `#[path]` (as the scratch and
// fuzz crates do) would otherwise look for its children beside it, not in `key/`.
#[path = "key/crypt.rs"]
mod crypt;
#[path = "key/generate.rs"]
mod generate;
#[cfg(test)]
#[path = "key/tests.rs"]
mod tests;

pub use generate::{config_line, HashError, HashScheme, BCRYPT_COST, UNIX_SHA512_ROUNDS};

use std::fmt;

use base64::Engine as _;
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq;

/// PBKDF2 parameters fixed by ROR's `Hasher.scala`: HMAC-SHA512, 10,000 iterations,
/// a 64-byte key; the salt is the hashed input itself.
const PBKDF2_ROUNDS: u32 = 10_000;
const PBKDF2_KEY_BYTES: usize = 64;
/// SHA-512, the longest digest the `auth_key_sha*` rules use.
const MAX_DIGEST_BYTES: usize = 64;

/// Which rule a credential came from; decides how its value is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// `auth_key: user:password`.
    Plain,
    /// `auth_key_sha1: <hex>` or `user:<hex>`.
    Sha1,
    /// `auth_key_sha256: <hex>` or `user:<hex>`.
    Sha256,
    /// `auth_key_sha512: <hex>` or `user:<hex>`.
    Sha512,
    /// `auth_key_pbkdf2: <base64>` or `user:<base64>`.
    Pbkdf2,
    /// `auth_key_unix: user:<crypt string>`.
    Unix,
}

impl KeyKind {
    pub const ALL: [KeyKind; 6] = [
        KeyKind::Plain,
        KeyKind::Sha1,
        KeyKind::Sha256,
        KeyKind::Sha512,
        KeyKind::Pbkdf2,
        KeyKind::Unix,
    ];

    /// The rule's name in `readonlyrest.yml`.
    pub fn rule_name(self) -> &'static str {
        match self {
            KeyKind::Plain => "auth_key",
            KeyKind::Sha1 => "auth_key_sha1",
            KeyKind::Sha256 => "auth_key_sha256",
            KeyKind::Sha512 => "auth_key_sha512",
            KeyKind::Pbkdf2 => "auth_key_pbkdf2",
            KeyKind::Unix => "auth_key_unix",
        }
    }

    /// The kind for a rule name, or `None` if it is not an `auth_key*` rule.
    pub fn from_rule_name(name: &str) -> Option<KeyKind> {
        KeyKind::ALL
            .into_iter()
            .find(|kind| kind.rule_name() == name)
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.rule_name())
    }
}

/// How much CPU one [`AuthKey::verify`] takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cost {
    /// At most a few SHA blocks (well under a microsecond): check inline.
    Cheap,
    /// A deliberately slow hash (milliseconds to hundreds of milliseconds): send it
    /// to the hashing pool and cache the result.
    Expensive,
}

/// Outcome of checking one set of Basic credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    Match,
    /// The configured user differs; no hash was computed (ROR: "Username mismatch").
    UserMismatch,
    /// The user matched (or is part of the hash) but the credentials did not.
    /// Full-hash forms cannot tell a wrong user from a wrong password and always
    /// report this.
    WrongPassword,
}

/// Why a configured credential was rejected at load time. Messages name the rule
/// and what is wrong, never the configured value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthKeyError {
    #[error("{kind}: expected \"user:{what}\"")]
    MissingUser { kind: KeyKind, what: &'static str },
    #[error("{kind}: the username before ':' is empty")]
    EmptyUser { kind: KeyKind },
    #[error("{kind}: the password after ':' is empty")]
    EmptyPassword { kind: KeyKind },
    #[error("{kind}: expected {expected} hex digits, found {found} characters")]
    HexLength {
        kind: KeyKind,
        expected: usize,
        found: usize,
    },
    #[error(
        "{kind}: the digest must be lowercase hex (ReadonlyREST compares lowercase \
         hex strings, so an uppercase digest never matches there either)"
    )]
    UppercaseHex { kind: KeyKind },
    #[error("{kind}: the digest contains a character that is not a hex digit")]
    NotHex { kind: KeyKind },
    #[error(
        "auth_key_pbkdf2: expected standard Base64 with padding of a 64-byte key \
         (88 characters)"
    )]
    Pbkdf2Base64,
    #[error(
        "auth_key_unix: unsupported hash; expected $6$ or $5$ (SHA-crypt), $1$ \
         (MD5-crypt), $2a$/$2b$/$2y$ (bcrypt) or $argon2id$"
    )]
    UnsupportedCrypt,
    #[error("auth_key_unix: malformed {scheme} hash; expected {format}")]
    MalformedCrypt {
        scheme: &'static str,
        format: &'static str,
    },
    #[error(
        "auth_key_unix: {scheme} rounds must be a decimal number from {min} to {max} \
         without leading zeros"
    )]
    CryptRounds {
        scheme: &'static str,
        min: usize,
        max: usize,
    },
    #[error("auth_key_unix: {scheme} salt must be 1 to {max} characters from [./0-9A-Za-z]")]
    CryptSalt { scheme: &'static str, max: usize },
    #[error("auth_key_unix: {scheme} hash part must be {len} characters from [./0-9A-Za-z]")]
    CryptHash { scheme: &'static str, len: usize },
    #[error("auth_key_unix: bcrypt cost must be two digits from 04 to {max}")]
    BcryptCost { max: u32 },
    #[error("auth_key_unix: argon2: {0}")]
    Argon2(&'static str),
}

/// Secret material (digests, crypt strings). `Debug` prints `***` so that keys,
/// and the config structs holding them, can be logged.
#[derive(Clone, PartialEq, Eq)]
struct Secret<T>(T);

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// One compiled `auth_key*` credential. Immutable after [`AuthKey::parse`]; cheap
/// to share between cores behind the config snapshot's `Arc`.
#[derive(Debug, Clone)]
pub struct AuthKey {
    kind: KeyKind,
    /// `None` for the full-hash forms, where the user is inside the hash.
    user: Option<Box<str>>,
    check: Check,
}

#[derive(Debug, Clone)]
enum Check {
    /// SHA-256 of the configured password: comparing fixed-size digests keeps both
    /// the content and the length of the password out of the timing.
    Plain(Secret<[u8; 32]>),
    /// Decoded digest of the configured hex, of the algorithm's length.
    Sha(ShaAlg, Secret<Box<[u8]>>),
    Pbkdf2(Secret<[u8; PBKDF2_KEY_BYTES]>),
    Unix(crypt::UnixHash),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ShaAlg {
    Sha1,
    Sha256,
    Sha512,
}

impl ShaAlg {
    fn digest_bytes(self) -> usize {
        match self {
            ShaAlg::Sha1 => 20,
            ShaAlg::Sha256 => 32,
            ShaAlg::Sha512 => 64,
        }
    }

    /// Hashes the concatenation of `parts` into `out` and returns the digest.
    /// Feeding the parts in turn and using a stack buffer keeps the cheap check
    /// free of allocations.
    fn digest<'a>(self, parts: &[&[u8]], out: &'a mut [u8; MAX_DIGEST_BYTES]) -> &'a [u8] {
        fn run<'a, D: Digest>(parts: &[&[u8]], out: &'a mut [u8]) -> &'a [u8] {
            let mut hasher = D::new();
            for part in parts {
                hasher.update(part);
            }
            let digest = hasher.finalize();
            // Every ShaAlg digest fits MAX_DIGEST_BYTES, so the slice is in bounds.
            let out = &mut out[..digest.len()];
            out.copy_from_slice(&digest);
            out
        }
        match self {
            ShaAlg::Sha1 => run::<Sha1>(parts, out),
            ShaAlg::Sha256 => run::<Sha256>(parts, out),
            ShaAlg::Sha512 => run::<Sha512>(parts, out),
        }
    }
}

impl AuthKey {
    /// Compiles the value of an `auth_key*` rule. Done once at config load.
    pub fn parse(kind: KeyKind, configured: &str) -> Result<AuthKey, AuthKeyError> {
        let (user, check) = match kind {
            KeyKind::Plain => {
                let (user, password) = split_user(kind, configured, "password")?;
                if password.is_empty() {
                    return Err(AuthKeyError::EmptyPassword { kind });
                }
                let digest = Sha256::digest(password.as_bytes()).into();
                (Some(user), Check::Plain(Secret(digest)))
            }
            KeyKind::Sha1 | KeyKind::Sha256 | KeyKind::Sha512 => {
                let alg = match kind {
                    KeyKind::Sha1 => ShaAlg::Sha1,
                    KeyKind::Sha256 => ShaAlg::Sha256,
                    _ => ShaAlg::Sha512,
                };
                let (user, hex) = split_optional_user(kind, configured)?;
                let digest = decode_lower_hex(kind, hex, alg.digest_bytes())?;
                (user, Check::Sha(alg, Secret(digest)))
            }
            KeyKind::Pbkdf2 => {
                let (user, encoded) = split_optional_user(kind, configured)?;
                // STANDARD decodes only canonical padded Base64, so equal bytes here
                // means equal strings in ROR.
                let key = base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .ok()
                    .and_then(|bytes| <[u8; PBKDF2_KEY_BYTES]>::try_from(bytes).ok())
                    .ok_or(AuthKeyError::Pbkdf2Base64)?;
                (user, Check::Pbkdf2(Secret(key)))
            }
            KeyKind::Unix => {
                let (user, hash) = split_user(kind, configured, "crypt hash")?;
                (Some(user), Check::Unix(crypt::UnixHash::parse(hash)?))
            }
        };
        Ok(AuthKey {
            kind,
            user: user.map(Box::from),
            check,
        })
    }

    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// The configured user, or `None` for full-hash forms (`auth_key_sha256: <hex>`),
    /// where any user can match and only the hash tells.
    pub fn username(&self) -> Option<&str> {
        self.user.as_deref()
    }

    pub fn cost(&self) -> Cost {
        match self.check {
            Check::Plain(_) | Check::Sha(..) => Cost::Cheap,
            Check::Pbkdf2(_) | Check::Unix(_) => Cost::Expensive,
        }
    }

    /// Checks Basic credentials (already split on the first `:`). The user is
    /// compared first, so a user mismatch never costs a hash. Secret comparisons
    /// are constant-time; the username is not a secret.
    pub fn verify(&self, user: &[u8], password: &[u8]) -> Verdict {
        if let Some(expected) = &self.user {
            if expected.as_bytes() != user {
                return Verdict::UserMismatch;
            }
        }
        let full_form = self.user.is_none();
        let matched = match &self.check {
            Check::Plain(expected) => ct_eq(&Sha256::digest(password), &expected.0),
            Check::Sha(alg, expected) => {
                let mut buf = [0; MAX_DIGEST_BYTES];
                let actual = if full_form {
                    alg.digest(&[user, b":", password], &mut buf)
                } else {
                    alg.digest(&[password], &mut buf)
                };
                ct_eq(actual, &expected.0)
            }
            Check::Pbkdf2(expected) => {
                if full_form {
                    let input = [user, b":", password].concat();
                    ct_eq(&pbkdf2_self_salted(&input), &expected.0)
                } else if password.is_empty() {
                    // ROR's PBEKeySpec rejects an empty salt, and the salt is the
                    // password: such a login fails there without a hash.
                    false
                } else {
                    ct_eq(&pbkdf2_self_salted(password), &expected.0)
                }
            }
            Check::Unix(hash) => hash.matches(password),
        };
        if matched {
            Verdict::Match
        } else {
            Verdict::WrongPassword
        }
    }
}

/// ROR's `Hasher.scala`: PBKDF2-HMAC-SHA512 with the input as both password and salt.
fn pbkdf2_self_salted(input: &[u8]) -> [u8; PBKDF2_KEY_BYTES] {
    pbkdf2::pbkdf2_hmac_array::<Sha512, PBKDF2_KEY_BYTES>(input, input, PBKDF2_ROUNDS)
}

/// Constant-time equality. Callers pass equal lengths (fixed by parsing); a length
/// difference returns false without leaking anything but the lengths.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// `user:rest`, split on the first `:`; the user is required.
fn split_user<'a>(
    kind: KeyKind,
    configured: &'a str,
    what: &'static str,
) -> Result<(&'a str, &'a str), AuthKeyError> {
    match split_optional_user(kind, configured)? {
        (Some(user), rest) => Ok((user, rest)),
        (None, _) => Err(AuthKeyError::MissingUser { kind, what }),
    }
}

/// `user:rest` or a bare `rest`, split on the first `:` as ROR does. Basic auth
/// splits on the first `:` too, so a user can never contain one.
fn split_optional_user(
    kind: KeyKind,
    configured: &str,
) -> Result<(Option<&str>, &str), AuthKeyError> {
    match configured.split_once(':') {
        None => Ok((None, configured)),
        Some(("", _)) => Err(AuthKeyError::EmptyUser { kind }),
        Some((user, rest)) => Ok((Some(user), rest)),
    }
}

/// Decodes a lowercase hex digest of exactly `bytes` bytes.
fn decode_lower_hex(kind: KeyKind, hex: &str, bytes: usize) -> Result<Box<[u8]>, AuthKeyError> {
    if hex.len() != bytes * 2 {
        return Err(AuthKeyError::HexLength {
            kind,
            expected: bytes * 2,
            found: hex.chars().count(),
        });
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Err(AuthKeyError::UppercaseHex { kind }),
        _ => Err(AuthKeyError::NotHex { kind }),
    };
    hex.as_bytes()
        .chunks_exact(2)
        .map(|pair| Ok(nibble(pair[0])? << 4 | nibble(pair[1])?))
        .collect()
}
