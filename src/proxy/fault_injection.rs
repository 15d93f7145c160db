//! Faults on purpose, for the tests that prove the gateway survives them. Compiled only with
//! the `fault-injection` feature, which the test suite enables (Cargo.toml's self
//! dev-dependency) and release builds never have.

use crate::http::request::RequestHead;

/// The path whose request panics in the middle of deciding.
pub const PANIC_PATH: &[u8] = b"/_ringfence_fault/panic";

/// Panics when the request asks for it.
pub fn before_decision(head: &RequestHead, buf: &[u8]) {
    if *head.path_text(buf) == *PANIC_PATH {
        panic!("fault injected by {}", String::from_utf8_lossy(PANIC_PATH));
    }
}
