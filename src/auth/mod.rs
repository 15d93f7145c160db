//! Credentials: verifiers, the per-core cache, the hashing pool and failure limits.
//!
//! ```text
//! throttle::check (any key kind) ─▶ acl (cheap keys inline) ─▶ Decision::Verify
//!      ─▶ throttle::check ─▶ pool::submit ─▶ cache ─▶ evaluate again, verdict now cached
//! ```
//! `key` holds the pure verifiers; `cache` and `throttle::KnownGood` are per worker and
//! lock-free; `throttle::SharedLimiter` is one failure budget for the process (no lock
//! while nothing is blocked); `pool` is the one shared, bounded set of hashing threads
//! (ARCHITECTURE rule 4). `jwt` verifies JSON Web Tokens (cheap enough to run on the
//! worker, and remembered per core by `jwt::cache`). `remote` is the contract of the
//! identity services asked over the network; `ldap` answers it from LDAP directories,
//! `external` from HTTP services, each on threads of its own per definition.

pub mod bounded;
pub mod cache;
pub mod external;
pub mod jwt;
pub mod key;
pub mod ldap;
pub mod pool;
pub mod remote;
pub mod throttle;
