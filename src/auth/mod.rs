//! Credentials: the verifiers behind the `auth_key*` rules.
//!
//! `key` holds the pure verifiers (no IO, no caching). The per-core cache and the hashing
//! pool that keep expensive hashes off the event loop build on them.

pub mod key;
