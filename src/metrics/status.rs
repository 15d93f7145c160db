//! The bounded set of `status` label values: the codes the gateway and Elasticsearch
//! commonly answer, each kept exactly, and one "other" bucket per class (`2xx`, `4xx`, ...).
//!
//! A fixed table keeps per-worker storage a flat array and recording allocation-free; a
//! status outside it still counts, under its class.

/// Statuses kept as their exact code.
const EXACT: [u16; 17] = [
    200, 201, 204, 400, 401, 403, 404, 405, 408, 413, 415, 429, 431, 500, 502, 503, 504,
];
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Number of distinct `status` label values.
pub(crate) const STATUS_SLOTS: usize = EXACT.len() + CLASSES.len();

/// The slot of `status`: its own for a code in the table, else its class's (a code below
/// 200 counts as `1xx`, one above 599 as `5xx`).
pub(crate) fn slot_of(status: u16) -> usize {
    match EXACT.binary_search(&status) {
        Ok(index) => index,
        Err(_) => EXACT.len() + usize::from(status.clamp(100, 599) / 100 - 1),
    }
}

/// The label value of a slot below [`STATUS_SLOTS`], as returned by [`slot_of`].
pub(crate) fn label_of(slot: usize) -> String {
    match EXACT.get(slot) {
        Some(code) => code.to_string(),
        None => CLASSES[slot - EXACT.len()].to_string(),
    }
}
