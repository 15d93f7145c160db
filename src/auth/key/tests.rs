//! Tests for `auth::key`. The ReadonlyREST vectors come from readonlyrest.md §3.3
//! (ROR's own unit tests and docs). The other crypt vectors were made on this
//! machine with Python's `crypt` (libxcrypt) and `openssl passwd -1/-5`, and the
//! argon2id ones with the reference `argon2` CLI (Debian package `argon2`):
//! `echo -n logstash | argon2 ringfencesalt01 -id -t 2 -k 4096 -p 1 -e`.

use super::crypt::MAX_SHA_CRYPT_PASSWORD_BYTES;
use super::*;

/// (rule, configured value, user, password): every row must be a `Match`.
const MATCHING: &[(KeyKind, &str, &str, &str)] = &[
    // readonlyrest.md §3.3
    (KeyKind::Sha1, "4338fa3ea95532196849ae27615e14dda95c77b1", "logstash", "logstash"),
    (KeyKind::Sha1, "logstash:9208e8476a2e8adc584bf2f613842177a39645b4", "logstash", "logstash"),
    (KeyKind::Sha256, "280ac6f756a64a80143447c980289e7e4c6918b92588c8095c7c3f049a13fbf9", "logstash", "logstash"),
    (KeyKind::Sha256, "logstash:76cd2c0d589e224531fc6af2c5850e3c9b2aca6902d813ce598833c7c1b28bee", "logstash", "logstash"),
    (KeyKind::Sha512, "3586d5752240fd09e967383d3f1bad025bbc6953ba7c6d2135670631b4e326fee0cc8bd81addb9f6de111b9c380505b5ea0531598c21b0906d8e726f24e0dbe2", "logstash", "logstash"),
    (KeyKind::Sha512, "logstash:2963e577145fb7f675c6726800691b3432020f8373cc5a3e8b30ca0856047846d10c96b7cfe64ed750637e09d7266e6eb464628995eed5368ef4780868f230ea", "logstash", "logstash"),
    (KeyKind::Pbkdf2, "KhIxF5EEYkH5GPX51zTRIR4cHqhpRVALSmTaWE18mZEL2KqCkRMeMU4GR848mGq4SDtNvsybtJ/sZBuX6oFaSg==", "logstash", "logstash"),
    (KeyKind::Pbkdf2, "logstash:JltDNAoXNtc7MIBs2FYlW0o1f815ucj+bel3drdAk2yOufg2PNfQ51qr0EQ6RSkojw/DzrDLFDeXONumzwKjOA==", "logstash", "logstash"),
    (KeyKind::Unix, "logstash:$6$rounds=65535$d07dnv4N$jh8an.nDSXG6PZlfVh5ehigYL8.5gtV.9yoXAOYFHTQvwPWhBdEIOxnS8tpbuIAk86shjJiqxeap5o0A1PoFI/", "logstash", "logstash"),
    (KeyKind::Unix, "test:$6$rounds=65535$d07dnv4N$QeErsDT9Mz.ZoEPXW3dwQGL7tzwRz.eOrTBepIwfGEwdUAYSy/NirGoOaNyPx8lqiR6DYRSsDzVvVbhP4Y9wf0", "test", "test"),
    (KeyKind::Sha256, "e0bba5fda92dbb0570fd2e729a3c8ed6b1d52b380581f32427a38e396ba28ec6", "claire", "p455key"),
    (KeyKind::Sha1, "9986e90bf8a4add7a56be873273e6e0997220b0f", "dev3", "test"),
    // Plain auth_key; the password may contain ':' (Basic splits on the first one).
    (KeyKind::Plain, "logstash:logstash", "logstash", "logstash"),
    (KeyKind::Plain, "u:p:w", "u", "p:w"),
    // SHA-512-crypt, default rounds with and without an explicit rounds=5000
    // (openssl passwd -6 / Python crypt).
    (KeyKind::Unix, "logstash:$6$d07dnv4N$PttFn7LnWkuR38ZlouPX6VpmPVBG0Tj0Ksf.5KsAy/fXAsDwbzQWwVvqTAkx5DeuU3uqbxpzmHBLv9bp5YPbe0", "logstash", "logstash"),
    (KeyKind::Unix, "logstash:$6$rounds=5000$d07dnv4N$PttFn7LnWkuR38ZlouPX6VpmPVBG0Tj0Ksf.5KsAy/fXAsDwbzQWwVvqTAkx5DeuU3uqbxpzmHBLv9bp5YPbe0", "logstash", "logstash"),
    (KeyKind::Unix, "u:$6$saltsalt$TQjRhpJdqmLx0U8it3EsUajwkmOMMvw5vhUFc7mohzFFoj/QHrfYUHU1oSkwyCEoTUCDOiAOW135nel3bqtKe.", "u", "pässwörd"),
    // SHA-256-crypt (openssl passwd -5; Python crypt for the rounds= ones).
    (KeyKind::Unix, "logstash:$5$d07dnv4N$CxCja0TjzhB56MFfKudIWCO5unhNMnpNphLQ25LTOw2", "logstash", "logstash"),
    (KeyKind::Unix, "logstash:$5$rounds=10000$d07dnv4N$A3yWG2aGMep6N.vT6R8GA5c1ucpa.RHUsLsGmUbP6Q4", "logstash", "logstash"),
    (KeyKind::Unix, "u:$5$rounds=1000$short$09JEKHG9gjO15kQiTYbA4uVk7w7Mx5xX1wBMlR/8p89", "u", "p:w"),
    // MD5-crypt (openssl passwd -1).
    (KeyKind::Unix, "logstash:$1$d07dnv4N$.cOGTiJYGFq46kdHQrpIm0", "logstash", "logstash"),
    (KeyKind::Unix, "test:$1$x$wX469w1N.92KBhOuLWDWi.", "test", "test"),
    // bcrypt (Python crypt / libxcrypt), all three accepted prefixes.
    (KeyKind::Unix, "logstash:$2b$04$abcdefghijklmnopqrstuudXm8lrlArVZfxcrzVW8FP.YMxCFh9wu", "logstash", "logstash"),
    (KeyKind::Unix, "logstash:$2a$05$abcdefghijklmnopqrstuuDwwIUtE.YytSKstpzMYpV.ld9842Fey", "logstash", "logstash"),
    (KeyKind::Unix, "logstash:$2y$10$abcdefghijklmnopqrstuuCfbcZvNO3ayEYOLDn8478JNHFJ/8CU2", "logstash", "logstash"),
    // argon2id (reference argon2 CLI).
    (KeyKind::Unix, "logstash:$argon2id$v=19$m=4096,t=2,p=1$cmluZ2ZlbmNlc2FsdDAx$vMOellh6cUsmXRSjPd2owPJN/QzaY0eoBr++jRMBtD0", "logstash", "logstash"),
];

fn key(kind: KeyKind, configured: &str) -> AuthKey {
    match AuthKey::parse(kind, configured) {
        Ok(key) => key,
        Err(e) => panic!("{kind} {configured:?}: {e}"),
    }
}

#[test]
fn every_vector_matches() {
    for &(kind, configured, user, password) in MATCHING {
        let verdict = key(kind, configured).verify(user.as_bytes(), password.as_bytes());
        assert_eq!(verdict, Verdict::Match, "{kind} {configured}");
    }
}

#[test]
fn wrong_password_and_wrong_user_fail_with_the_right_verdict() {
    for &(kind, configured, user, password) in MATCHING {
        let key = key(kind, configured);
        let wrong_password = format!("{password}x");
        assert_eq!(
            key.verify(user.as_bytes(), wrong_password.as_bytes()),
            Verdict::WrongPassword,
            "{kind} {configured}"
        );
        // Full-hash forms have the user inside the hash: a wrong user is just a
        // hash that does not match.
        let expected = match key.username() {
            Some(_) => Verdict::UserMismatch,
            None => Verdict::WrongPassword,
        };
        assert_eq!(
            key.verify(b"intruder", password.as_bytes()),
            expected,
            "{kind} {configured}"
        );
        // Usernames are compared exactly (ROR's default case sensitivity).
        let shouted = user.to_uppercase();
        assert_ne!(
            key.verify(shouted.as_bytes(), password.as_bytes()),
            Verdict::Match
        );
    }
}

#[test]
fn username_and_cost_follow_the_form() {
    let cases = [
        (KeyKind::Plain, "u:p", Some("u"), Cost::Cheap),
        (KeyKind::Sha256, "e0bba5fda92dbb0570fd2e729a3c8ed6b1d52b380581f32427a38e396ba28ec6", None, Cost::Cheap),
        (KeyKind::Sha1, "dev3:9208e8476a2e8adc584bf2f613842177a39645b4", Some("dev3"), Cost::Cheap),
        (KeyKind::Pbkdf2, "KhIxF5EEYkH5GPX51zTRIR4cHqhpRVALSmTaWE18mZEL2KqCkRMeMU4GR848mGq4SDtNvsybtJ/sZBuX6oFaSg==", None, Cost::Expensive),
        (KeyKind::Unix, "test:$1$x$wX469w1N.92KBhOuLWDWi.", Some("test"), Cost::Expensive),
    ];
    for (kind, configured, user, cost) in cases {
        let key = key(kind, configured);
        assert_eq!(key.kind(), kind);
        assert_eq!(key.username(), user, "{configured}");
        assert_eq!(key.cost(), cost, "{configured}");
    }
}

#[test]
fn pbkdf2_user_form_rejects_an_empty_password() {
    // ROR's PBEKeySpec refuses an empty salt (= the password) before hashing.
    let key = key(KeyKind::Pbkdf2, "logstash:JltDNAoXNtc7MIBs2FYlW0o1f815ucj+bel3drdAk2yOufg2PNfQ51qr0EQ6RSkojw/DzrDLFDeXONumzwKjOA==");
    assert_eq!(key.verify(b"logstash", b""), Verdict::WrongPassword);
}

#[test]
fn sha_crypt_refuses_huge_passwords_without_hashing() {
    // Hash the password ourselves so that only the length cap can make it fail.
    // (libxcrypt refuses passwords over 511 bytes; our cap is more generous.)
    let params = sha_crypt::Sha256Params::new(1000).unwrap();
    for (len, expected) in [
        (MAX_SHA_CRYPT_PASSWORD_BYTES, Verdict::Match),
        (MAX_SHA_CRYPT_PASSWORD_BYTES + 1, Verdict::WrongPassword),
    ] {
        let password = vec![b'a'; len];
        let hash = sha_crypt::sha256_crypt_b64(&password, b"short", &params).unwrap();
        let key = key(KeyKind::Unix, &format!("u:$5$rounds=1000$short${hash}"));
        assert_eq!(key.verify(b"u", &password), expected, "{len} bytes");
    }
}

#[test]
fn malformed_values_are_load_errors() {
    use AuthKeyError as E;
    let sha256 = "76cd2c0d589e224531fc6af2c5850e3c9b2aca6902d813ce598833c7c1b28bee";
    let hash512 =
        "jh8an.nDSXG6PZlfVh5ehigYL8.5gtV.9yoXAOYFHTQvwPWhBdEIOxnS8tpbuIAk86shjJiqxeap5o0A1PoFI/";
    let bcrypt_body = "abcdefghijklmnopqrstuudXm8lrlArVZfxcrzVW8FP.YMxCFh9wu";
    let rounds = |scheme| E::CryptRounds {
        scheme,
        min: 1000,
        max: 10_000_000,
    };
    let malformed_sha = |scheme| E::MalformedCrypt {
        scheme,
        format: "[rounds=N$]salt$hash",
    };
    let malformed_bcrypt = E::MalformedCrypt {
        scheme: "bcrypt",
        format: "$2b$NN$ followed by 53 characters (22 salt, 31 hash)",
    };
    let cases: Vec<(KeyKind, String, AuthKeyError)> = vec![
        (KeyKind::Plain, "nocolon".into(), E::MissingUser { kind: KeyKind::Plain, what: "password" }),
        (KeyKind::Plain, ":pw".into(), E::EmptyUser { kind: KeyKind::Plain }),
        (KeyKind::Plain, "user:".into(), E::EmptyPassword { kind: KeyKind::Plain }),
        (KeyKind::Sha256, format!("u:{}", &sha256[1..]), E::HexLength { kind: KeyKind::Sha256, expected: 64, found: 63 }),
        (KeyKind::Sha1, sha256.into(), E::HexLength { kind: KeyKind::Sha1, expected: 40, found: 64 }),
        (KeyKind::Sha256, sha256.to_uppercase(), E::UppercaseHex { kind: KeyKind::Sha256 }),
        (KeyKind::Sha256, format!("u:{}", sha256.replace('c', "g")), E::NotHex { kind: KeyKind::Sha256 }),
        (KeyKind::Sha256, format!(":{sha256}"), E::EmptyUser { kind: KeyKind::Sha256 }),
        (KeyKind::Sha256, format!(" {sha256}"), E::HexLength { kind: KeyKind::Sha256, expected: 64, found: 65 }),
        (KeyKind::Sha512, "é".repeat(64), E::NotHex { kind: KeyKind::Sha512 }),
        (KeyKind::Sha512, "é".repeat(60), E::HexLength { kind: KeyKind::Sha512, expected: 128, found: 60 }),
        (KeyKind::Pbkdf2, "u:KhIxF5EEYkH5GPX51zTRIR4cHqhpRVALSmTaWE18mZEL2KqCkRMeMU4GR848mGq4SDtNvsybtJ/sZBuX6oFaSg".into(), E::Pbkdf2Base64),
        (KeyKind::Pbkdf2, "u:KhIxF5EEYkH5GPX51zTRIR4cHqhpRVALSmTaWE18mZEL2KqCkRMeMU4GR848mGq4SDtNvsybtJ/sZBuX6oFaSh==".into(), E::Pbkdf2Base64),
        (KeyKind::Pbkdf2, "u:AAAA".into(), E::Pbkdf2Base64),
        (KeyKind::Unix, format!("$6$rounds=65535$d07dnv4N${hash512}"), E::MissingUser { kind: KeyKind::Unix, what: "crypt hash" }),
        (KeyKind::Unix, "u:plaintext".into(), E::UnsupportedCrypt),
        (KeyKind::Unix, "u:abSeVrA7bNhCU".into(), E::UnsupportedCrypt), // DES crypt
        (KeyKind::Unix, "u:$apr1$salt$hash".into(), E::UnsupportedCrypt),
        (KeyKind::Unix, "u:$2x$05$abcdefghijklmnopqrstuuDwwIUtE.YytSKstpzMYpV.ld9842Fey".into(), E::UnsupportedCrypt),
        (KeyKind::Unix, "u:$6$".into(), malformed_sha("$6$")),
        (KeyKind::Unix, "u:$6$d07dnv4N".into(), malformed_sha("$6$")),
        (KeyKind::Unix, format!("u:$6$rounds=65535$d07dnv4N${hash512}$"), malformed_sha("$6$")),
        (KeyKind::Unix, format!("u:$6$rounds=999$d07dnv4N${hash512}"), rounds("$6$")),
        (KeyKind::Unix, format!("u:$6$rounds=065535$d07dnv4N${hash512}"), rounds("$6$")),
        (KeyKind::Unix, format!("u:$6$rounds=-5000$d07dnv4N${hash512}"), rounds("$6$")),
        (KeyKind::Unix, format!("u:$6$rounds=$d07dnv4N${hash512}"), rounds("$6$")),
        (KeyKind::Unix, format!("u:$6$rounds=999999999$d07dnv4N${hash512}"), rounds("$6$")),
        (KeyKind::Unix, format!("u:$6$rounds=99999999999999999999999$d07dnv4N${hash512}"), rounds("$6$")),
        (KeyKind::Unix, format!("u:$6$rounds=5000$${hash512}"), E::CryptSalt { scheme: "$6$", max: 16 }),
        (KeyKind::Unix, format!("u:$6$saltsaltsaltsalt1${hash512}"), E::CryptSalt { scheme: "$6$", max: 16 }),
        (KeyKind::Unix, format!("u:$6$salt_salt${hash512}"), E::CryptSalt { scheme: "$6$", max: 16 }),
        (KeyKind::Unix, format!("u:$6$salt${}", &hash512[1..]), E::CryptHash { scheme: "$6$", len: 86 }),
        (KeyKind::Unix, format!("u:$5$salt${}", &hash512[..43].replace('n', "+")), E::CryptHash { scheme: "$5$", len: 43 }),
        (KeyKind::Unix, "u:$5$salt$CxCja0TjzhB56MFfKudIWCO5unhNMnpNphLQ25LTOw".into(), E::CryptHash { scheme: "$5$", len: 43 }),
        (KeyKind::Unix, "u:$1$d07dnv4N.cOGTiJYGFq46kdHQrpIm0".into(), E::MalformedCrypt { scheme: "$1$", format: "$1$salt$hash" }),
        (KeyKind::Unix, "u:$1$d07dnv4Nx$.cOGTiJYGFq46kdHQrpIm0".into(), E::CryptSalt { scheme: "$1$", max: 8 }),
        (KeyKind::Unix, "u:$1$d07dnv4N$.cOGTiJYGFq46kdHQrpIm".into(), E::CryptHash { scheme: "$1$", len: 22 }),
        (KeyKind::Unix, format!("u:$2b$4${bcrypt_body}"), E::BcryptCost { max: 16 }),
        (KeyKind::Unix, format!("u:$2b$03${bcrypt_body}"), E::BcryptCost { max: 16 }),
        (KeyKind::Unix, format!("u:$2b$17${bcrypt_body}"), E::BcryptCost { max: 16 }),
        (KeyKind::Unix, format!("u:$2b$04${}", &bcrypt_body[1..]), malformed_bcrypt),
        (KeyKind::Unix, format!("u:$2b$04${}é", &bcrypt_body[2..]), malformed_bcrypt),
        (KeyKind::Unix, format!("u:$2b$04$${bcrypt_body}"), malformed_bcrypt),
        (KeyKind::Unix, format!("u:$2b$04{bcrypt_body}"), malformed_bcrypt),
        (KeyKind::Unix, "u:$argon2id$v=19$m=4096,t=2,p=1$cmluZ2ZlbmNlc2FsdDAx".into(), E::Argon2("the salt or hash part is missing")),
        (KeyKind::Unix, "u:$argon2i$v=19$m=4096,t=2,p=1$cmluZ2ZlbmNlc2FsdDAx$EegFhO5gZg3wdo+8PzYr/bUqURsvJMxj+TcXYGGjleQ".into(), E::Argon2("only argon2id is supported")),
        (KeyKind::Unix, "u:$argon2id$v=19$m=4096,t=0,p=1$cmluZ2ZlbmNlc2FsdDAx$vMOellh6cUsmXRSjPd2owPJN/QzaY0eoBr++jRMBtD0".into(), E::Argon2("invalid m, t or p parameter")),
        (KeyKind::Unix, "u:$argon2id$v=19$m=4194304,t=2,p=1$cmluZ2ZlbmNlc2FsdDAx$vMOellh6cUsmXRSjPd2owPJN/QzaY0eoBr++jRMBtD0".into(), E::Argon2("m above 1048576 KiB or t above 16 would hold a hashing thread for seconds")),
        (KeyKind::Unix, "u:$argon2id$v=18$m=4096,t=2,p=1$cmluZ2ZlbmNlc2FsdDAx$vMOellh6cUsmXRSjPd2owPJN/QzaY0eoBr++jRMBtD0".into(), E::Argon2("unknown version (expected v=19)")),
        (KeyKind::Unix, "u:$argon2id$garbage".into(), E::Argon2("the salt or hash part is missing")),
        (KeyKind::Unix, "u:$argon2id$v=19$m=4096,t=2,p=1$c2FsdHNhbHQ$not base64".into(), E::Argon2("not a valid PHC string ($argon2id$v=19$m=..,t=..,p=..$salt$hash)")),
        (KeyKind::Unix, "u:$argon2".into(), E::Argon2("only argon2id is supported")),
    ];
    for (kind, configured, expected) in cases {
        match AuthKey::parse(kind, &configured) {
            Ok(_) => panic!("{kind} {configured:?} parsed"),
            Err(e) => assert_eq!(e, expected, "{kind} {configured:?}"),
        }
    }
}

#[test]
fn errors_and_debug_never_show_secrets() {
    for &(kind, configured, user, _) in MATCHING {
        let key = key(kind, configured);
        let debug = format!("{key:?}");
        let secret = configured.split_once(':').map_or(configured, |(_, s)| s);
        // The longest `$`-separated piece is the hash (or the plain password).
        let longest = secret.split('$').max_by_key(|s| s.len()).unwrap_or(secret);
        if longest != user {
            assert!(!debug.contains(longest), "{debug}");
        }
        assert!(debug.contains("***"), "{debug}");
    }
    let err = AuthKey::parse(
        KeyKind::Unix,
        "u:$2b$04$secretsecretsecretsecretsecretsecret",
    )
    .unwrap_err();
    assert!(!err.to_string().contains("secret"), "{err}");
}

#[test]
fn auth_key_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<AuthKey>();
    assert_send_sync::<AuthKeyError>();
}

#[test]
fn rule_and_scheme_names_round_trip() {
    for kind in KeyKind::ALL {
        assert_eq!(KeyKind::from_rule_name(kind.rule_name()), Some(kind));
    }
    assert_eq!(KeyKind::from_rule_name("auth_key_sha384"), None);
    for scheme in HashScheme::ALL {
        assert_eq!(HashScheme::from_name(scheme.name()), Some(scheme));
    }
}

#[test]
fn generated_lines_verify() {
    let password = "s3cret: pässwörd";
    for scheme in HashScheme::ALL {
        let line =
            config_line(scheme, "alice", password).unwrap_or_else(|e| panic!("{scheme}: {e}"));
        let rule = format!("{}: \"", scheme.key_kind());
        let value = line
            .strip_prefix(&rule)
            .and_then(|rest| rest.strip_suffix('"'))
            .unwrap_or_else(|| panic!("{line}"));
        let key = key(scheme.key_kind(), value);
        assert_eq!(key.username(), Some("alice"));
        assert_eq!(
            key.verify(b"alice", password.as_bytes()),
            Verdict::Match,
            "{line}"
        );
        assert_eq!(
            key.verify(b"alice", b"wrong"),
            Verdict::WrongPassword,
            "{line}"
        );
        let expected_prefix = match scheme {
            HashScheme::Unix => "alice:$6$rounds=65535$",
            HashScheme::Bcrypt => "alice:$2b$12$",
            HashScheme::Argon2 => "alice:$argon2id$v=19$m=19456,t=2,p=1$",
            _ => "alice:",
        };
        assert!(value.starts_with(expected_prefix), "{line}");
    }
}

#[test]
fn generated_unsalted_lines_equal_ror_vectors() {
    let cases = [
        (HashScheme::Sha1, "auth_key_sha1: \"logstash:9208e8476a2e8adc584bf2f613842177a39645b4\""),
        (HashScheme::Sha256, "auth_key_sha256: \"logstash:76cd2c0d589e224531fc6af2c5850e3c9b2aca6902d813ce598833c7c1b28bee\""),
        (HashScheme::Pbkdf2, "auth_key_pbkdf2: \"logstash:JltDNAoXNtc7MIBs2FYlW0o1f815ucj+bel3drdAk2yOufg2PNfQ51qr0EQ6RSkojw/DzrDLFDeXONumzwKjOA==\""),
    ];
    for (scheme, expected) in cases {
        assert_eq!(
            config_line(scheme, "logstash", "logstash").as_deref(),
            Ok(expected)
        );
    }
}

#[test]
fn generation_rejects_bad_input() {
    let long = "x".repeat(72);
    let cases = [
        (HashScheme::Sha256, "", "pw", HashError::EmptyUser),
        (HashScheme::Sha256, "a:b", "pw", HashError::ColonInUser),
        (HashScheme::Sha256, "a\"b", "pw", HashError::UnquotableUser),
        (HashScheme::Sha256, "a\nb", "pw", HashError::UnquotableUser),
        (HashScheme::Sha256, "a", "", HashError::EmptyPassword),
        (
            HashScheme::Bcrypt,
            "a",
            &long,
            HashError::PasswordTooLong {
                scheme: HashScheme::Bcrypt,
                max: 71,
            },
        ),
    ];
    for (scheme, user, password, expected) in cases {
        assert_eq!(
            config_line(scheme, user, password),
            Err(expected),
            "{user:?}"
        );
    }
}

/// Keys whose check is cheap enough to run hundreds of times in a debug build.
fn fuzz_keys() -> Vec<AuthKey> {
    [
        (KeyKind::Plain, "logstash:logstash"),
        (KeyKind::Sha1, "4338fa3ea95532196849ae27615e14dda95c77b1"),
        (KeyKind::Sha256, "logstash:76cd2c0d589e224531fc6af2c5850e3c9b2aca6902d813ce598833c7c1b28bee"),
        (KeyKind::Sha512, "3586d5752240fd09e967383d3f1bad025bbc6953ba7c6d2135670631b4e326fee0cc8bd81addb9f6de111b9c380505b5ea0531598c21b0906d8e726f24e0dbe2"),
        (KeyKind::Unix, "logstash:$1$d07dnv4N$.cOGTiJYGFq46kdHQrpIm0"),
        (KeyKind::Unix, "logstash:$2b$04$abcdefghijklmnopqrstuudXm8lrlArVZfxcrzVW8FP.YMxCFh9wu"),
    ]
    .into_iter()
    .map(|(kind, configured)| key(kind, configured))
    .collect()
}

/// xorshift64*: a tiny deterministic generator, so the random-input tests need
/// no extra dependency and fail reproducibly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, max_len: usize) -> Vec<u8> {
        let len = self.below(max_len + 1);
        (0..len).map(|_| self.next() as u8).collect()
    }
}

#[test]
fn parse_never_panics_on_random_or_mutated_values() {
    let mut rng = Rng(0x5eed);
    let chars: Vec<char> = "$./:=,0123456789abcdefABCDEFrounds+é\0".chars().collect();
    for _ in 0..3000 {
        // Mutating a valid value reaches deeper parser branches than pure noise.
        let (_, base, _, _) = MATCHING[rng.below(MATCHING.len())];
        let mut value: Vec<char> = base.chars().collect();
        for _ in 0..=rng.below(3) {
            let at = rng.below(value.len() + 1);
            let c = chars[rng.below(chars.len())];
            match rng.below(3) {
                0 if at < value.len() => value[at] = c,
                1 if at < value.len() => {
                    value.remove(at);
                }
                _ => value.insert(at, c),
            }
        }
        let value: String = value.into_iter().collect();
        let noise = String::from_utf8_lossy(&rng.bytes(64)).into_owned();
        for kind in KeyKind::ALL {
            let _ = AuthKey::parse(kind, &value);
            let _ = AuthKey::parse(kind, &noise);
        }
    }
}

#[test]
fn verify_never_panics_on_random_bytes() {
    let mut rng = Rng(0xbad_5eed);
    let keys = fuzz_keys();
    for _ in 0..300 {
        let user = rng.bytes(40);
        let password = rng.bytes(100);
        for key in &keys {
            assert_ne!(key.verify(&user, &password), Verdict::Match);
            assert_ne!(key.verify(b"logstash", &password), Verdict::Match);
        }
    }
}
