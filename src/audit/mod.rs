//! Audit: one JSON document per request, written off the request path.
//!
//! ```text
//! worker thread ── Recorder::record(Event) ──► bounded queue per worker (try_send, drop when full)
//!                                                   │
//!                                  `ringfence-audit` writer thread: serialize per output
//!                                   ├─ log          tracing target `ringfence::audit`
//!                                   ├─ file         buffered JSON lines, reopened on SIGHUP
//!                                   └─ index / data_stream ─► bounded queue ─► bulk thread
//!                                                              (batches, `POST /_bulk`, retries)
//! ```
//!
//! [`settings`] decodes the configuration, [`event`] is what the proxy fills in, [`serialize`]
//! turns an event into a line (no IO). A worker never waits for audit: every queue is bounded
//! and what does not fit is dropped and counted in [`AuditStats`].

mod cluster;
pub mod event;
mod file;
mod index;
pub mod index_template;
pub mod serialize;
pub mod settings;
mod sink;
#[cfg(test)]
mod test_support;

pub use event::{
    BlockTrace, BlocksHistory, Event, EventType, FinalState, HeaderNames, RequestRecord, SinkFilter,
};
pub use settings::{decode, AuditSettings, OutputKind, OutputSettings, Serializer};
pub use sink::{Audit, AuditStats, AuditTuning, LocalCluster, OutputStats, Recorder};
