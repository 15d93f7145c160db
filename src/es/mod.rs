//! Elasticsearch knowledge, without IO: which action a request is and which indices it
//! touches, from the path and from `_bulk`/`_msearch`/`_mget`/... bodies.

pub mod body;
