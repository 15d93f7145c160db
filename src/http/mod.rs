//! HTTP/1.1 on buffers: request heads, body framing, upstream response heads, canned errors.
//!
//! Nothing here does IO or knows about monoio (ARCHITECTURE rule 1): functions take the bytes
//! that have arrived and return values, with "need more bytes" as `Ok(None)`. The proxy owns
//! the sockets and calls in.

pub mod canned;
pub mod chunked;
pub mod error;
mod method;
pub mod request;
pub mod response;

pub use error::{ClientError, Fault, UpstreamError};
pub use method::Method;
