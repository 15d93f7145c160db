//! The forwarding path: client connections, upstream pools, streaming in both directions.
//!
//! ```text
//! client::serve ── read head ─ decide (snapshot ACL) ─┬─ deny: canned answer
//!                                                      └─ forward::forward ── upstream::checkout
//!                                                           head+body up, response down
//! ```
//! All state is per worker thread (`Rc`, `Cell`), except the record of scroll and
//! point-in-time owners (`search_contexts`): a scroll opened on one core continues on another.

mod body;
mod buffer;
pub mod catch;
pub mod client;
pub(crate) mod completion;
mod credentials;
mod deadline;
pub(crate) mod decide;
pub(crate) mod denial;
pub(crate) mod exchange;
#[cfg(feature = "fault-injection")]
mod fault_injection;
mod forward;
pub mod metadata;
mod pool;
pub mod search_contexts;
pub mod splice;
pub mod stream;
pub mod upstream;

pub use client::{serve, Accepted, Worker};
pub use completion::connection as connection_event;
pub use credentials::{Credentials, SharedCredentials};
pub use search_contexts::SearchContexts;
pub use upstream::{NodeAddress, Upstreams};
