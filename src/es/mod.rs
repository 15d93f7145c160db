//! Elasticsearch knowledge, without IO: which action a request is and which indices it
//! touches, from the path (`route`, `index_name`) and from `_bulk`/`_msearch`/`_mget`/...
//! bodies (`body`); the scroll and point-in-time contexts a request opens, continues or clears
//! (`search_context`); what the cluster has (`metadata`) and which ingest pipelines can send a
//! write elsewhere (`pipeline`).

pub mod body;
pub mod date_math;
pub mod index_name;
pub mod metadata;
pub mod pipeline;
pub mod rewrite;
pub mod route;
pub mod search_context;
pub mod target;
