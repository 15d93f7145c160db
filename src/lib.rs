//! Ringfence: a thread-per-core security gateway for Elasticsearch and OpenSearch.
//!
//! Clients talk to Ringfence as they would to port 9200; it checks each request against a
//! ReadonlyREST-compatible access-control list and forwards what is allowed to the cluster.
//!
//! ```text
//! runtime (one monoio runtime per core, SO_REUSEPORT listener each)
//!   └─ proxy::client::serve            per connection
//!        ├─ http::request              parse + validate the head (no IO)
//!        ├─ snapshot → acl::Acl        decide on an immutable policy snapshot (no IO)
//!        └─ proxy::forward             per-core upstream pool, bodies streamed both ways
//! ```
//!
//! Modules: [`config`] (YAML with file:line:col errors), [`http`] (framing on buffers),
//! [`acl`] (the policy), [`snapshot`] (lock-free swap), [`proxy`] (sockets), [`runtime`]
//! (threads and signals), [`logging`] (the process log, text or JSON), [`audit`] (events,
//! serializers, non-blocking sinks), [`metrics`] (per-core counters, Prometheus text),
//! [`admin`] (`/metrics`, `/health`, `/ready` on their own thread).

pub mod acl;
pub mod admin;
pub mod audit;
pub mod auth;
pub mod config;
pub mod es;
pub mod fuzzing;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod proxy;
pub mod runtime;
pub mod snapshot;
pub mod tls;
