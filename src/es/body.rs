//! Index (and per-item action) extraction from request bodies.
//!
//! Where it sits in the walk: `es::classify` knows the API from method + path; for the APIs
//! whose indices live in the body it calls into this module before `acl::evaluate`.
//!
//! ```text
//! body bytes ──(Content-Encoding)──> inflate::Inflater ──> bulk / msearch scanners (streaming)
//!                                   inflate_to_vec ──────> mget / reindex / aliases / template
//!                                                          settings (pipelines set)
//!                                                          pipeline (a definition)
//!                                                          lookups (search-family bodies)
//! ```
//!
//! Owns: reading every index a body names exactly as Elasticsearch would read it, and
//! failing closed: anything malformed, ambiguous, or read differently by different
//! Elasticsearch versions is a [`BodyError`] (400/413/415), never a silent skip (an ingest
//! pipeline definition that cannot be read is reported as none instead, which the ACL counts
//! as a pipeline that may reroute). Must not:
//! do IO, resolve wildcards or aliases (the ACL does, against cluster metadata), touch the
//! bytes that are forwarded, or panic on any input.
//!
//! Modules:
//! - [`bulk`]: `_bulk` NDJSON, the hot path (streaming, `memchr` over source lines).
//! - [`msearch`]: `_msearch` and `_msearch/template` NDJSON.
//! - [`lookups`]: the indices a query reads from inside (terms lookups, `more_like_this`
//!   documents, indexed shapes, ...) in search-family bodies and `_msearch` search lines.
//! - [`mget`], [`reindex`], [`aliases`], [`template`]: JSON bodies, parsed whole.
//! - [`settings`]: the default and final ingest pipelines set in index settings (index
//!   creation, settings updates, templates, resize, `_create_from`, snapshot restore).
//! - [`pipeline`]: the definition a `PUT /_ingest/pipeline/{id}` gives, read whole as a JSON
//!   tree; a body it cannot read is no definition rather than a [`BodyError`].
//! - [`context_ids`]: scroll and point-in-time ids in request bodies and response heads.
//! - [`inflate`]: bounded gzip/deflate decoding feeding the above.
//! - `json` (strict pull reader), `names` (index values), `ndjson` (line framing),
//!   [`error`].
//!
//! Contract for every scanner: items reported before an error must be discarded; the
//! request as a whole is refused.

// Submodule paths are explicit so this file compiles the same whether it is reached as
// `es/body.rs` from the crate or through a `#[path]` attribute (where Rust would otherwise
// look for the submodules next to this file instead of in `body/`).
#[path = "body/aliases.rs"]
pub mod aliases;
#[path = "body/bulk.rs"]
pub mod bulk;
#[path = "body/context_ids.rs"]
pub mod context_ids;
#[path = "body/error.rs"]
pub mod error;
#[path = "body/inflate.rs"]
pub mod inflate;
#[path = "body/json.rs"]
mod json;
#[path = "body/lookups.rs"]
pub mod lookups;
#[path = "body/mget.rs"]
pub mod mget;
#[path = "body/msearch.rs"]
pub mod msearch;
#[path = "body/names.rs"]
mod names;
#[path = "body/ndjson.rs"]
mod ndjson;
#[path = "body/pipeline.rs"]
pub mod pipeline;
#[path = "body/reindex.rs"]
pub mod reindex;
#[path = "body/settings.rs"]
pub mod settings;
#[path = "body/template.rs"]
pub mod template;

pub use aliases::{parse_aliases, AliasAction, AliasActionKind};
pub use bulk::{scan_bulk, scan_bulk_encoded, BulkItem, BulkOp, BulkScanner, BulkSummary};
pub use context_ids::{response_id, scan_context_ids, scan_search_pit, ContextIds, IdScan};
pub use error::BodyError;
pub use inflate::{inflate_into, inflate_to_vec, inflated_size_hint, ContentEncoding, Inflater};
pub use json::MAX_JSON_DEPTH;
pub use lookups::{scan_lookups, scan_lookups_within, scan_msearch_lookups, SearchBody, ANY_INDEX};
pub use mget::{scan_mget, MgetSummary, MgetTarget};
pub use msearch::{scan_msearch, MsearchScanner, MsearchSummary, MsearchTarget, ALL_INDICES};
pub use pipeline::read_pipeline_definition;
pub use reindex::{parse_reindex, Reindex};
pub use settings::{scan_pipeline_settings, PipelineSettings, SettingsBody};
pub use template::{parse_template, IndexTemplate, TemplateKind};

/// Longest bulk action line or msearch header accepted. Real ones are well under 1 KiB
/// (`_id` is at most 512 bytes); the bound keeps a line split across reads from growing
/// without limit. Source and search-body lines are skipped by the framing and have no such
/// bound (search bodies are read afterwards, in place, by `lookups`).
pub const MAX_META_LINE_BYTES: usize = 64 * 1024;
