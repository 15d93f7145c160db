//! `auth_key_unix` hash strings: parsing at load time and checking a password.
//!
//! ROR extracts the salt from the configured string, runs commons-codec's
//! `Crypt.crypt(password, salt)` and compares the whole output by string equality
//! (readonlyrest.md §3.2). The parser below accepts exactly the strings for which
//! that comparison can succeed (canonical rounds, salt in the crypt alphabet and
//! of the length crypt keeps, hash of the right length); everything else is a load
//! error. Verifying then compares only the computed hash part, in constant time.
//!
//! All hashing is done by the RustCrypto crates (`sha-crypt`, `bcrypt`, `argon2`)
//! and `crypt3_rs` for MD5-crypt.

use argon2::{PasswordHash, PasswordVerifier};

use super::{ct_eq, AuthKeyError, Secret};

/// SHA-crypt hashes the password once per password byte (drepper's step 14), so
/// its cost grows with the square of the password length: an 8 KiB Basic header
/// would cost ~0.5 s. Longer passwords fail without hashing. (libxcrypt, which
/// `mkpasswd` uses, refuses anything over 511 bytes; commons-codec has no limit.)
pub(super) const MAX_SHA_CRYPT_PASSWORD_BYTES: usize = 1024;

/// Work factors above these are rejected at load: each login would hold a hashing
/// thread for seconds (65,535 SHA-crypt rounds take ~12 ms, bcrypt cost 12 about
/// 250 ms). The crates themselves allow up to 999,999,999 rounds and cost 31.
pub(super) const MAX_SHA_CRYPT_ROUNDS: usize = 10_000_000;
pub(super) const MAX_BCRYPT_COST: u32 = 16;
pub(super) const MAX_ARGON2_MEMORY_KIB: u32 = 1 << 20;
pub(super) const MAX_ARGON2_PASSES: u32 = 16;

const SHA_CRYPT_MAX_SALT: usize = 16;
const MD5_CRYPT_MAX_SALT: usize = 8;

#[derive(Debug, Clone)]
pub(super) enum UnixHash {
    /// `$6$[rounds=N$]salt$hash`.
    Sha512 {
        params: sha_crypt::Sha512Params,
        salt: Secret<Box<str>>,
        hash: Secret<Box<str>>,
    },
    /// `$5$[rounds=N$]salt$hash`.
    Sha256 {
        params: sha_crypt::Sha256Params,
        salt: Secret<Box<str>>,
        hash: Secret<Box<str>>,
    },
    /// `$1$salt$hash`, kept whole: crypt3_rs reads the salt from it.
    Md5(Secret<Box<str>>),
    /// `$2a$`, `$2b$`, `$2y$` + cost + salt and hash, kept whole for `bcrypt::verify`.
    Bcrypt(Secret<Box<str>>),
    /// A PHC string, re-read on each check (microseconds next to the hash itself)
    /// because `PasswordHash` borrows its input.
    Argon2id(Secret<Box<str>>),
}

impl UnixHash {
    pub(super) fn parse(configured: &str) -> Result<UnixHash, AuthKeyError> {
        if let Some(rest) = configured.strip_prefix("$6$") {
            let (rounds, salt, hash) = split_sha_crypt("$6$", rest, 86)?;
            let params = sha_crypt::Sha512Params::new(rounds).map_err(|_| rounds_error("$6$"))?;
            Ok(UnixHash::Sha512 {
                params,
                salt: secret(salt),
                hash: secret(hash),
            })
        } else if let Some(rest) = configured.strip_prefix("$5$") {
            let (rounds, salt, hash) = split_sha_crypt("$5$", rest, 43)?;
            let params = sha_crypt::Sha256Params::new(rounds).map_err(|_| rounds_error("$5$"))?;
            Ok(UnixHash::Sha256 {
                params,
                salt: secret(salt),
                hash: secret(hash),
            })
        } else if let Some(rest) = configured.strip_prefix("$1$") {
            let (salt, hash) = rest.split_once('$').ok_or(AuthKeyError::MalformedCrypt {
                scheme: "$1$",
                format: "$1$salt$hash",
            })?;
            check_crypt_chars("$1$", salt, hash, MD5_CRYPT_MAX_SALT, 22)?;
            Ok(UnixHash::Md5(secret(configured)))
        } else if ["$2a$", "$2b$", "$2y$"]
            .iter()
            .any(|prefix| configured.starts_with(prefix))
        {
            check_bcrypt(configured)?;
            Ok(UnixHash::Bcrypt(secret(configured)))
        } else if configured.starts_with("$argon2") {
            check_argon2id(configured)?;
            Ok(UnixHash::Argon2id(secret(configured)))
        } else {
            Err(AuthKeyError::UnsupportedCrypt)
        }
    }

    /// True if `password` produces the configured hash.
    pub(super) fn matches(&self, password: &[u8]) -> bool {
        match self {
            UnixHash::Sha512 { params, salt, hash } => {
                password.len() <= MAX_SHA_CRYPT_PASSWORD_BYTES
                    && sha_crypt::sha512_crypt_b64(password, salt.0.as_bytes(), params)
                        .is_ok_and(|computed| ct_eq(computed.as_bytes(), hash.0.as_bytes()))
            }
            UnixHash::Sha256 { params, salt, hash } => {
                password.len() <= MAX_SHA_CRYPT_PASSWORD_BYTES
                    && sha_crypt::sha256_crypt_b64(password, salt.0.as_bytes(), params)
                        .is_ok_and(|computed| ct_eq(computed.as_bytes(), hash.0.as_bytes()))
            }
            UnixHash::Md5(configured) => {
                // crypt3_rs marks MD5-crypt deprecated for new passwords; we only
                // check existing ones. Its own `verify` compares with `==`, so we
                // recompute the full string and compare it ourselves.
                #[allow(deprecated)]
                let computed = crypt3_rs::crypt::md5::hash_with(&*configured.0, password);
                computed.is_ok_and(|c| ct_eq(c.as_str().as_bytes(), configured.0.as_bytes()))
            }
            // bcrypt::verify compares with subtle; it truncates passwords at 72
            // bytes like every other bcrypt, so hashes made elsewhere keep working.
            UnixHash::Bcrypt(configured) => {
                bcrypt::verify(password, &configured.0).unwrap_or(false)
            }
            // verify_password takes the algorithm and parameters from the PHC string
            // and compares the output in constant time.
            UnixHash::Argon2id(configured) => PasswordHash::new(&configured.0).is_ok_and(|hash| {
                argon2::Argon2::default()
                    .verify_password(password, &hash)
                    .is_ok()
            }),
        }
    }
}

fn secret(s: &str) -> Secret<Box<str>> {
    Secret(Box::from(s))
}

fn rounds_error(scheme: &'static str) -> AuthKeyError {
    AuthKeyError::CryptRounds {
        scheme,
        min: sha_crypt::ROUNDS_MIN,
        max: MAX_SHA_CRYPT_ROUNDS,
    }
}

/// Splits `[rounds=N$]salt$hash` (after `$6$`/`$5$`) and checks each part.
fn split_sha_crypt<'a>(
    scheme: &'static str,
    rest: &'a str,
    hash_len: usize,
) -> Result<(usize, &'a str, &'a str), AuthKeyError> {
    let malformed = AuthKeyError::MalformedCrypt {
        scheme,
        format: "[rounds=N$]salt$hash",
    };
    let mut parts = rest.split('$');
    let mut salt = parts.next().ok_or(malformed)?;
    let rounds = match salt.strip_prefix("rounds=") {
        Some(digits) => {
            salt = parts.next().ok_or(malformed)?;
            parse_rounds(digits).ok_or(rounds_error(scheme))?
        }
        None => sha_crypt::ROUNDS_DEFAULT,
    };
    let hash = parts.next().ok_or(malformed)?;
    if parts.next().is_some() {
        return Err(malformed);
    }
    check_crypt_chars(scheme, salt, hash, SHA_CRYPT_MAX_SALT, hash_len)?;
    Ok((rounds, salt, hash))
}

/// crypt() clamps rounds into range and prints them without leading zeros, so
/// ROR's string comparison only ever matches canonical in-range values.
fn parse_rounds(digits: &str) -> Option<usize> {
    if digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let rounds = digits.parse().ok()?;
    (sha_crypt::ROUNDS_MIN..=MAX_SHA_CRYPT_ROUNDS)
        .contains(&rounds)
        .then_some(rounds)
}

/// The crypt base-64 alphabet (commons-codec's salt pattern `[./a-zA-Z0-9]`).
fn is_crypt_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'.' || b == b'/'
}

fn check_crypt_chars(
    scheme: &'static str,
    salt: &str,
    hash: &str,
    max_salt: usize,
    hash_len: usize,
) -> Result<(), AuthKeyError> {
    // Longer salts are cut by crypt() and then never compare equal in ROR.
    if salt.is_empty() || salt.len() > max_salt || !salt.bytes().all(is_crypt_char) {
        return Err(AuthKeyError::CryptSalt {
            scheme,
            max: max_salt,
        });
    }
    if hash.len() != hash_len || !hash.bytes().all(is_crypt_char) {
        return Err(AuthKeyError::CryptHash {
            scheme,
            len: hash_len,
        });
    }
    Ok(())
}

/// `$2b$12$` + 22 salt + 31 hash characters, in bcrypt's own Base64 alphabet.
/// The bcrypt crate's parser is more lenient (it skips empty `$` fields) and its
/// errors quote the whole hash, so the shape is checked here.
fn check_bcrypt(configured: &str) -> Result<(), AuthKeyError> {
    let malformed = AuthKeyError::MalformedCrypt {
        scheme: "bcrypt",
        format: "$2b$NN$ followed by 53 characters (22 salt, 31 hash)",
    };
    // The caller checked the 4-byte `$2x$` prefix.
    let rest = configured.get(4..).ok_or(malformed)?;
    let (cost, body) = rest.split_once('$').ok_or(malformed)?;
    let cost_error = AuthKeyError::BcryptCost {
        max: MAX_BCRYPT_COST,
    };
    if cost.len() != 2 || !cost.bytes().all(|b| b.is_ascii_digit()) {
        return Err(cost_error);
    }
    let cost: u32 = cost.parse().map_err(|_| cost_error)?;
    if !(4..=MAX_BCRYPT_COST).contains(&cost) {
        return Err(cost_error);
    }
    if body.len() != 53 || !body.is_char_boundary(22) {
        return Err(malformed);
    }
    // Both parts must decode (canonically), or every verify would fail.
    let (salt, hash) = body.split_at(22);
    let decodes = |part: &str, bytes: usize| {
        use base64::Engine as _;
        bcrypt::BASE_64
            .decode(part)
            .is_ok_and(|decoded| decoded.len() == bytes)
    };
    if !decodes(salt, 16) || !decodes(hash, 23) {
        return Err(malformed);
    }
    Ok(())
}

/// A PHC string for argon2id with parameters the argon2 crate accepts.
fn check_argon2id(configured: &str) -> Result<(), AuthKeyError> {
    let hash = PasswordHash::new(configured).map_err(|_| {
        AuthKeyError::Argon2("not a valid PHC string ($argon2id$v=19$m=..,t=..,p=..$salt$hash)")
    })?;
    if hash.algorithm != argon2::Algorithm::Argon2id.ident() {
        return Err(AuthKeyError::Argon2("only argon2id is supported"));
    }
    if hash.salt.is_none() || hash.hash.is_none() {
        return Err(AuthKeyError::Argon2("the salt or hash part is missing"));
    }
    if let Some(version) = hash.version {
        argon2::Version::try_from(version)
            .map_err(|_| AuthKeyError::Argon2("unknown version (expected v=19)"))?;
    }
    let params = argon2::Params::try_from(&hash)
        .map_err(|_| AuthKeyError::Argon2("invalid m, t or p parameter"))?;
    if params.m_cost() > MAX_ARGON2_MEMORY_KIB || params.t_cost() > MAX_ARGON2_PASSES {
        return Err(AuthKeyError::Argon2(
            "m above 1048576 KiB or t above 16 would hold a hashing thread for seconds",
        ));
    }
    Ok(())
}
