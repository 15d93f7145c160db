//! Rule lines for `ringfence hash <scheme> --user U`: the CLI reads the password
//! and prints what [`config_line`] returns. Salts come from the hashing crates'
//! own OS-seeded generators; the SHA and PBKDF2 rules are unsalted by ROR's design.

use std::fmt;

use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHasher, SaltString};

use super::crypt::MAX_SHA_CRYPT_PASSWORD_BYTES;
use super::{pbkdf2_self_salted, KeyKind, ShaAlg, MAX_DIGEST_BYTES};

/// SHA-512-crypt rounds for new `auth_key_unix` lines: the value in ROR's docs.
pub const UNIX_SHA512_ROUNDS: usize = 65_535;
/// bcrypt cost for new lines (~250 ms per check on one core here).
pub const BCRYPT_COST: u32 = 12;
/// bcrypt reads at most 72 bytes including its NUL terminator; a longer password
/// would be silently cut, so generating one is refused.
const MAX_BCRYPT_PASSWORD_BYTES: usize = 71;

/// A scheme `ringfence hash` can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashScheme {
    Sha1,
    Sha256,
    Sha512,
    Pbkdf2,
    /// SHA-512-crypt with [`UNIX_SHA512_ROUNDS`] rounds (`$6$rounds=...`).
    Unix,
    /// bcrypt `$2b$` with [`BCRYPT_COST`]; Ringfence only, ROR cannot read it.
    Bcrypt,
    /// argon2id with the argon2 crate's defaults (m=19456 KiB, t=2, p=1);
    /// Ringfence only.
    Argon2,
}

impl HashScheme {
    pub const ALL: [HashScheme; 7] = [
        HashScheme::Sha1,
        HashScheme::Sha256,
        HashScheme::Sha512,
        HashScheme::Pbkdf2,
        HashScheme::Unix,
        HashScheme::Bcrypt,
        HashScheme::Argon2,
    ];

    /// The CLI name: `sha1`, `sha256`, `sha512`, `pbkdf2`, `unix`, `bcrypt`, `argon2`.
    pub fn name(self) -> &'static str {
        match self {
            HashScheme::Sha1 => "sha1",
            HashScheme::Sha256 => "sha256",
            HashScheme::Sha512 => "sha512",
            HashScheme::Pbkdf2 => "pbkdf2",
            HashScheme::Unix => "unix",
            HashScheme::Bcrypt => "bcrypt",
            HashScheme::Argon2 => "argon2",
        }
    }

    pub fn from_name(name: &str) -> Option<HashScheme> {
        HashScheme::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The rule the generated line belongs to.
    pub fn key_kind(self) -> KeyKind {
        match self {
            HashScheme::Sha1 => KeyKind::Sha1,
            HashScheme::Sha256 => KeyKind::Sha256,
            HashScheme::Sha512 => KeyKind::Sha512,
            HashScheme::Pbkdf2 => KeyKind::Pbkdf2,
            HashScheme::Unix | HashScheme::Bcrypt | HashScheme::Argon2 => KeyKind::Unix,
        }
    }
}

impl fmt::Display for HashScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why no line could be generated. Never includes the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    #[error("the username is empty")]
    EmptyUser,
    #[error("the username contains ':', which Basic auth uses to separate user and password")]
    ColonInUser,
    #[error("the username contains '\"', '\\' or a control character")]
    UnquotableUser,
    #[error("the password is empty")]
    EmptyPassword,
    #[error("{scheme}: passwords longer than {max} bytes are not supported")]
    PasswordTooLong { scheme: HashScheme, max: usize },
    #[error("{0}: the hashing library failed (no OS random source?)")]
    Backend(HashScheme),
}

/// The YAML rule line for `user`/`password`, e.g.
/// `auth_key_sha256: "u:<hex>"` or `auth_key_unix: "u:$6$rounds=65535$<salt>$<hash>"`.
/// Always the `user:<hash>` form, which lets a wrong user fail without hashing.
pub fn config_line(scheme: HashScheme, user: &str, password: &str) -> Result<String, HashError> {
    check_user(user)?;
    if password.is_empty() {
        return Err(HashError::EmptyPassword);
    }
    let too_long = |max: usize| {
        if password.len() > max {
            Err(HashError::PasswordTooLong { scheme, max })
        } else {
            Ok(())
        }
    };
    let password_bytes = password.as_bytes();
    let hash = match scheme {
        HashScheme::Sha1 => sha_hex(ShaAlg::Sha1, password_bytes),
        HashScheme::Sha256 => sha_hex(ShaAlg::Sha256, password_bytes),
        HashScheme::Sha512 => sha_hex(ShaAlg::Sha512, password_bytes),
        HashScheme::Pbkdf2 => {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(pbkdf2_self_salted(password_bytes))
        }
        HashScheme::Unix => {
            too_long(MAX_SHA_CRYPT_PASSWORD_BYTES)?;
            sha_crypt::Sha512Params::new(UNIX_SHA512_ROUNDS)
                .and_then(|params| sha_crypt::sha512_simple(password, &params))
                .map_err(|_| HashError::Backend(scheme))?
        }
        HashScheme::Bcrypt => {
            too_long(MAX_BCRYPT_PASSWORD_BYTES)?;
            bcrypt::hash(password_bytes, BCRYPT_COST).map_err(|_| HashError::Backend(scheme))?
        }
        HashScheme::Argon2 => {
            // try_fill_bytes, unlike SaltString::generate, reports a missing OS
            // random source instead of panicking.
            let mut salt = [0u8; 16];
            OsRng
                .try_fill_bytes(&mut salt)
                .map_err(|_| HashError::Backend(scheme))?;
            let salt = SaltString::encode_b64(&salt).map_err(|_| HashError::Backend(scheme))?;
            argon2::Argon2::default()
                .hash_password(password_bytes, &salt)
                .map_err(|_| HashError::Backend(scheme))?
                .to_string()
        }
    };
    Ok(format!("{}: \"{user}:{hash}\"", scheme.key_kind()))
}

/// The user goes inside a double-quoted YAML scalar unescaped, and must be one
/// Basic auth can send.
fn check_user(user: &str) -> Result<(), HashError> {
    if user.is_empty() {
        Err(HashError::EmptyUser)
    } else if user.contains(':') {
        Err(HashError::ColonInUser)
    } else if user
        .chars()
        .any(|c| c == '"' || c == '\\' || c.is_control())
    {
        Err(HashError::UnquotableUser)
    } else {
        Ok(())
    }
}

fn sha_hex(alg: ShaAlg, password: &[u8]) -> String {
    let mut buf = [0; MAX_DIGEST_BYTES];
    lower_hex(alg.digest(&[password], &mut buf))
}

fn lower_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}
