//! Who opened which scroll and point-in-time context: the ids that passed back through the
//! gateway, each with its owner, so that only the owner can continue or clear it.
//!
//! A scroll continue or a PIT search names no index, so the `indices` rule cannot tell one
//! user's context from another's, and context ids are guessable (the number inside a scroll
//! id counts up). So every id a request names must have been recorded here for the same
//! owner, or the request is answered as the node answers for a context that does not exist
//! and never forwarded; an id the gateway never saw (or could not record) cannot be used
//! through it at all.
//!
//! ```text
//! decide (ACL allowed) ── check ──┬─ every id owned ─▶ Forward + AfterResponse
//!                                 ├─ ids in the body ─▶ ReadBody
//!                                 └─ otherwise ───────▶ the node's own "missing" answer
//! forward ── response head ── AfterResponse::observe ── Record: the id at the body's start
//!                                                       Forget: the ids cleared
//! ```
//!
//! Owns: the store ([`SearchContexts`], one per process, shared by every worker: a scroll
//! opened on one core is continued on another), and reading the id off a response before
//! it is relayed. Must not: keep an id (only a keyed hash of it), buffer a whole response
//! (at most [`MAX_ID_PREFIX_BYTES`] of it), or grow without bound ([`MAX_ENTRIES`]; when
//! full, new contexts are not recorded and so cannot be used through the gateway).
//!
//! An owner is the authenticated user (for a request without one, the allow block that
//! matched) under one policy generation: after a reload, contexts opened before cannot be
//! used through the gateway (the node may still hold them, under rules that are gone).

use super::client::ResponseBytes;
use super::upstream::UpstreamConn;
use crate::es::body::{response_id, IdScan};
use crate::es::search_context::{ContextUse, IdField, NodeAnswer};
use crate::http::canned::reason_phrase;
use crate::http::chunked::ChunkedDecoder;
use crate::http::request::RequestHead;
use crate::http::response::{ResponseFraming, ResponseHead};
use crate::http::UpstreamError;
use sha2::{Digest, Sha256};
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Contexts recorded at most, over all shards. An entry is about 64 bytes in its table.
pub const MAX_ENTRIES: usize = 100_000;
/// The longest keep-alive honoured (Elasticsearch's default `search.max_keep_alive`).
pub const MAX_KEEP_ALIVE: Duration = Duration::from_secs(24 * 60 * 60);
/// For a context opened or continued without a keep-alive the gateway can read
/// (Elasticsearch's `search.default_keep_alive`).
const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(5 * 60);
/// An entry outlives its context by this much: the node restarts its keep-alive when it
/// answers, a moment after the gateway saw the request.
const EXPIRY_SLACK: Duration = Duration::from_secs(60);
/// How much of a response body is read for its id (the id comes first; a scroll id of a
/// search over many shards is a few KiB).
pub const MAX_ID_PREFIX_BYTES: usize = 64 * 1024;
/// Shards of the store: workers recording or checking different ids rarely meet.
const SHARDS: usize = 16;
/// Repeated warnings are logged at most once per this many seconds.
const WARNING_INTERVAL_SECS: u64 = 60;
/// Fills the first SHA-256 block together with the 32-byte key (as in `auth::cache`).
const TAG_DOMAIN: &[u8; 32] = b"ringfence search context tag 1\0\0";

/// 128 bits of a keyed SHA-256 of a context id.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct IdTag([u8; 16]);

/// 128 bits of a keyed SHA-256 of an owner and the policy generation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct OwnerTag([u8; 16]);

impl std::fmt::Debug for IdTag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdTag(***)")
    }
}

impl std::fmt::Debug for OwnerTag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OwnerTag(***)")
    }
}

/// Who a context belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner<'a> {
    /// The authenticated user.
    User(&'a str),
    /// No user: the allow block that matched.
    Block(&'a str),
    /// A request that owns nothing (a read of forbidden indices only, sent on to match
    /// nothing): it opens nothing and uses no context.
    Nobody,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    owner: OwnerTag,
    keep_alive: Duration,
    expires_at: Instant,
}

#[derive(Default)]
struct Shard {
    entries: ahash::AHashMap<IdTag, Entry>,
    /// No entry expires before this (a lower bound, exact after a sweep): a full shard is
    /// swept again only once something in it may have expired, so a full store costs a
    /// refused request a lookup, not a scan.
    earliest_expiry: Option<Instant>,
}

impl Shard {
    fn insert(&mut self, id: IdTag, entry: Entry) {
        self.lower_bound(entry.expires_at);
        self.entries.insert(id, entry);
    }

    fn lower_bound(&mut self, expires_at: Instant) {
        self.earliest_expiry = Some(
            self.earliest_expiry
                .map_or(expires_at, |e| e.min(expires_at)),
        );
    }

    /// Drops the expired entries if any may have expired by `now`.
    fn sweep(&mut self, now: Instant) {
        if self.earliest_expiry.is_some_and(|earliest| earliest > now) {
            return;
        }
        self.entries.retain(|_, entry| entry.expires_at > now);
        self.earliest_expiry = self.entries.values().map(|e| e.expires_at).min();
    }
}

/// The process-wide record of contexts and their owners.
pub struct SearchContexts {
    keyed: Sha256,
    shards: Box<[Mutex<Shard>]>,
    max_per_shard: usize,
    epoch: Instant,
    full: Warning,
    unreadable: Warning,
}

/// A warning logged at most once per [`WARNING_INTERVAL_SECS`], with how often it arose.
#[derive(Default)]
struct Warning {
    /// The interval (since the store's epoch, plus one) it was last logged in.
    logged_in: AtomicU64,
    count: AtomicU64,
}

impl Warning {
    /// Counts one occurrence; `Some(total)` when it should be logged now.
    fn arose(&self, epoch: Instant, now: Instant) -> Option<u64> {
        let total = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        let interval = now.saturating_duration_since(epoch).as_secs() / WARNING_INTERVAL_SECS + 1;
        (self.logged_in.swap(interval, Ordering::Relaxed) != interval).then_some(total)
    }
}

/// What the check of a request allowed by the ACL says.
pub enum Checked {
    /// Forward it; then do this with the response.
    Forward(AfterResponse),
    /// Its ids are in its body: read it and decide again.
    ReadBody,
    /// An id is not the requester's: answer as the node answers for a missing context.
    Missing(MissingContext),
}

/// What forwarding does with the response of a checked request.
#[derive(Debug, Default)]
pub enum AfterResponse {
    #[default]
    Nothing,
    /// Record the id the response names (a 2xx) for `owner`.
    Record(Record),
    /// The request cleared these ids: forget them once the node answers 2xx.
    Forget(Vec<IdTag>),
}

#[derive(Debug)]
pub struct Record {
    field: IdField,
    owner: OwnerTag,
    keep_alive: Duration,
    /// Ids the request continued: their context lives on, whichever id names it now.
    renew: Vec<IdTag>,
}

/// The node's answer for a context that does not exist, to send instead of forwarding.
pub struct MissingContext(NodeAnswer);

impl MissingContext {
    /// The status of the node's answer.
    pub fn status(&self) -> u16 {
        self.0.status
    }

    /// The complete response (without `Connection`, which the caller decides), with the
    /// headers OpenSearch sends.
    pub fn response(&self, head: &RequestHead) -> ResponseBytes {
        let NodeAnswer { status, body } = &self.0;
        let mut out = Vec::with_capacity(128 + body.len());
        // Writing into a Vec cannot fail.
        let _ = write!(
            out,
            "HTTP/1.1 {status} {}\r\ncontent-type: application/json; charset=UTF-8\r\ncontent-length: {}\r\n\r\n",
            reason_phrase(*status),
            body.len()
        );
        if !head.is_head() {
            out.extend_from_slice(body);
        }
        ResponseBytes(out)
    }
}

impl SearchContexts {
    /// A store keyed with 32 bytes from the OS generator (a failure must stop startup
    /// rather than fall back to a predictable key).
    pub fn new() -> std::io::Result<SearchContexts> {
        let mut key = [0; 32];
        getrandom::fill(&mut key).map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(SearchContexts::with_key(key, MAX_ENTRIES))
    }

    /// A store with a chosen key and bound: for tests and the fuzzer.
    pub fn with_key(key: [u8; 32], max_entries: usize) -> SearchContexts {
        let mut keyed = Sha256::new();
        keyed.update(key);
        keyed.update(TAG_DOMAIN);
        SearchContexts {
            keyed,
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            max_per_shard: max_entries.div_ceil(SHARDS),
            epoch: Instant::now(),
            full: Warning::default(),
            unreadable: Warning::default(),
        }
    }

    /// `SHA-256(key ‖ TAG_DOMAIN ‖ kind ‖ fields)` truncated to 16 bytes; the encodings
    /// below are injective (fixed-size fields first, the variable one last). Length
    /// extension needs a full digest, and tags never leave the process.
    fn tag(&self, kind: u8, fixed: &[u8], rest: &[u8]) -> [u8; 16] {
        let mut hasher = self.keyed.clone();
        hasher.update([kind]);
        hasher.update(fixed);
        hasher.update(rest);
        let digest = hasher.finalize();
        let mut tag = [0; 16];
        for (out, byte) in tag.iter_mut().zip(digest.iter()) {
            *out = *byte;
        }
        tag
    }

    fn id_tag(&self, id: &str) -> IdTag {
        IdTag(self.tag(0, &[], id.as_bytes()))
    }

    fn owner_tag(&self, owner: Owner<'_>, generation: u64) -> OwnerTag {
        let (kind, name) = match owner {
            Owner::User(name) => (1, name),
            Owner::Block(name) => (2, name),
            // Never recorded (`check` opens nothing for it): a tag of its own all the same.
            Owner::Nobody => (3, ""),
        };
        OwnerTag(self.tag(kind, &generation.to_le_bytes(), name.as_bytes()))
    }

    fn shard(&self, id: &IdTag) -> MutexGuard<'_, Shard> {
        let shard = &self.shards[usize::from(id.0[0]) % self.shards.len()];
        // A panic while the lock was held leaves a table of complete entries: use it.
        shard.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The keep-alive of the context `id` if it is recorded, unexpired, for `owner`.
    fn owned(&self, id: &IdTag, owner: OwnerTag, now: Instant) -> Option<Duration> {
        self.shard(id)
            .entries
            .get(id)
            .filter(|entry| entry.owner == owner && entry.expires_at > now)
            .map(|entry| entry.keep_alive)
    }

    /// Checks a request the ACL allowed for `owner` (under the policy `generation`): every
    /// id it names must be `owner`'s. Requests that name no id cost no hash.
    pub fn check(
        &self,
        uses: &ContextUse,
        owner: Owner<'_>,
        generation: u64,
        now: Instant,
    ) -> Checked {
        let tag = |owner| match owner {
            Owner::Nobody => None,
            owner => Some(self.owner_tag(owner, generation)),
        };
        match uses {
            ContextUse::None | ContextUse::All => Checked::Forward(AfterResponse::Nothing),
            ContextUse::NeedsBody => Checked::ReadBody,
            ContextUse::Open { field, keep_alive } => match tag(owner) {
                Some(owner) => Checked::Forward(AfterResponse::Record(Record {
                    field: *field,
                    owner,
                    keep_alive: keep_alive.unwrap_or(DEFAULT_KEEP_ALIVE),
                    renew: Vec::new(),
                })),
                None => Checked::Forward(AfterResponse::Nothing),
            },
            ContextUse::Continue {
                ids,
                field,
                keep_alive,
            } => {
                let missing =
                    || Checked::Missing(MissingContext(NodeAnswer::continued(ids, *field)));
                let Some(owner) = tag(owner) else {
                    return missing();
                };
                let mut renew = Vec::with_capacity(ids.len());
                let mut inherited = None;
                for id in ids {
                    let id = self.id_tag(id);
                    let Some(kept) = self.owned(&id, owner, now) else {
                        return missing();
                    };
                    inherited = inherited.or(Some(kept));
                    renew.push(id);
                }
                Checked::Forward(AfterResponse::Record(Record {
                    field: *field,
                    owner,
                    keep_alive: keep_alive.or(inherited).unwrap_or(DEFAULT_KEEP_ALIVE),
                    renew,
                }))
            }
            ContextUse::Clear { ids, missing } => {
                let tags: Vec<IdTag> = ids.iter().map(|id| self.id_tag(id)).collect();
                let owned = tag(owner).is_some_and(|owner| {
                    tags.iter().all(|id| self.owned(id, owner, now).is_some())
                });
                if !owned {
                    let answer = NodeAnswer::cleared(ids, *missing);
                    return Checked::Missing(MissingContext(answer));
                }
                Checked::Forward(AfterResponse::Forget(tags))
            }
        }
    }

    /// Records `id` for `owner` until `keep_alive` (at most [`MAX_KEEP_ALIVE`]) after `now`.
    /// Refused (false) when its shard is full of live contexts: the context then cannot be
    /// used through the gateway.
    fn record(&self, id: IdTag, owner: OwnerTag, keep_alive: Duration, now: Instant) -> bool {
        let keep_alive = keep_alive.min(MAX_KEEP_ALIVE);
        let entry = Entry {
            owner,
            keep_alive,
            expires_at: now + keep_alive + EXPIRY_SLACK,
        };
        let mut shard = self.shard(&id);
        if !shard.entries.contains_key(&id) && shard.entries.len() >= self.max_per_shard {
            shard.sweep(now);
            if shard.entries.len() >= self.max_per_shard {
                drop(shard);
                if let Some(total) = self.full.arose(self.epoch, now) {
                    tracing::warn!(
                        max_entries = self.max_per_shard * self.shards.len(),
                        refused_so_far = total,
                        "the search context store is full: a new scroll or point in time \
                         cannot be continued through the gateway"
                    );
                }
                return false;
            }
        }
        shard.insert(id, entry);
        true
    }

    /// Extends the contexts `ids` of `owner` (a continue answered with another id).
    fn renew(&self, ids: &[IdTag], owner: OwnerTag, keep_alive: Duration, now: Instant) {
        for id in ids {
            let mut shard = self.shard(id);
            if let Some(entry) = shard.entries.get_mut(id).filter(|e| e.owner == owner) {
                entry.keep_alive = keep_alive.min(MAX_KEEP_ALIVE);
                entry.expires_at = now + entry.keep_alive + EXPIRY_SLACK;
                let expires_at = entry.expires_at;
                shard.lower_bound(expires_at);
            }
        }
    }

    /// Forgets cleared contexts.
    fn forget(&self, ids: &[IdTag]) {
        for id in ids {
            self.shard(id).entries.remove(id);
        }
    }

    /// Contexts recorded (expired ones included until they are swept).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| {
                shard
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .entries
                    .len()
            })
            .sum()
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A response whose id could not be read: the context is not recorded.
    fn unreadable(&self, why: &'static str, now: Instant) {
        if let Some(total) = self.unreadable.arose(self.epoch, now) {
            tracing::warn!(
                reason = why,
                unrecorded_so_far = total,
                "a scroll or point-in-time id was not found at the start of the response: \
                 the context cannot be continued through the gateway"
            );
        }
    }
}

impl AfterResponse {
    /// The head to send instead of `head` (its fields in `buf`): a response whose id is
    /// recorded must come back as identity, so `Accept-Encoding` is dropped (the node then
    /// does not compress it).
    pub fn upstream_head(&self, head: &RequestHead, buf: &[u8]) -> Option<RequestHead> {
        let AfterResponse::Record(_) = self else {
            return None;
        };
        let mut identity = head.clone();
        identity
            .headers
            .retain(|field| !field.name.get(buf).eq_ignore_ascii_case(b"accept-encoding"));
        Some(identity)
    }

    /// Reads what the store needs from `response` (its head parsed from the front of
    /// `conn.buf`), before the response is relayed: the id it names, from at most
    /// [`MAX_ID_PREFIX_BYTES`] of its body, which stays in `conn.buf` for the relay. A read
    /// that fails leaves `conn` unusable: the caller answers with the error.
    pub async fn observe(
        &self,
        store: &SearchContexts,
        conn: &mut UpstreamConn,
        response: &ResponseHead,
        timeout: Duration,
    ) -> Result<(), UpstreamError> {
        if !(200..300).contains(&response.status) {
            return Ok(());
        }
        let record = match self {
            AfterResponse::Nothing => return Ok(()),
            AfterResponse::Forget(ids) => {
                store.forget(ids);
                return Ok(());
            }
            AfterResponse::Record(record) => record,
        };
        let encoded = response.headers.iter().any(|field| {
            field
                .name
                .get(conn.buf.data())
                .eq_ignore_ascii_case(b"content-encoding")
                && !field
                    .value
                    .get(conn.buf.data())
                    .eq_ignore_ascii_case(b"identity")
        });
        if encoded {
            store.unreadable("the response is compressed", Instant::now());
            return Ok(());
        }
        let id = read_id(conn, response, record.field, timeout).await?;
        let now = Instant::now();
        match id {
            Some(id) => {
                store.renew(&record.renew, record.owner, record.keep_alive, now);
                store.record(store.id_tag(&id), record.owner, record.keep_alive, now);
            }
            None => store.unreadable("no id in the first bytes of the body", now),
        }
        Ok(())
    }
}

/// The id under `field` at the start of the response body, reading more of it (up to
/// [`MAX_ID_PREFIX_BYTES`]) while the bytes so far cannot tell. Nothing is consumed.
async fn read_id(
    conn: &mut UpstreamConn,
    response: &ResponseHead,
    field: IdField,
    timeout: Duration,
) -> Result<Option<String>, UpstreamError> {
    let start = response.len;
    // Chunked bodies are de-chunked as they arrive, from `raw` bytes after the head on.
    let mut chunks = ChunkedDecoder::new();
    let mut raw = 0;
    let mut payload = Vec::new();
    loop {
        let body = conn.buf.data().get(start..).unwrap_or_default();
        let (prefix, complete): (&[u8], bool) = match response.framing {
            ResponseFraming::None => return Ok(None),
            ResponseFraming::Length(n) => {
                let have = body.len().min(usize::try_from(n).unwrap_or(usize::MAX));
                (&body[..have], have as u64 == n)
            }
            ResponseFraming::UntilClose => (body, false),
            ResponseFraming::Chunked => {
                let fresh = body.get(raw..).unwrap_or_default();
                let Ok(progress) = chunks.decode(fresh, |d| payload.extend_from_slice(d)) else {
                    // Bad framing: the relay reports it.
                    return Ok(None);
                };
                raw += progress.consumed;
                (&payload, progress.done)
            }
        };
        let limited = prefix.len() >= MAX_ID_PREFIX_BYTES;
        match response_id(
            &prefix[..prefix.len().min(MAX_ID_PREFIX_BYTES)],
            field.key(),
        ) {
            IdScan::Found(id) => return Ok(Some(id)),
            IdScan::Absent => return Ok(None),
            IdScan::Incomplete if complete || limited => return Ok(None),
            IdScan::Incomplete => {}
        }
        match conn.buf.fill(&mut conn.stream, timeout).await {
            // The body ends here; a cut one is the relay's to report.
            Ok(0) => return Ok(None),
            Ok(_) => {}
            // A timed-out read takes the buffer with it: the connection is done.
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                return Err(UpstreamError::Timeout)
            }
            Err(_) => return Err(UpstreamError::ClosedEarly),
        }
    }
}

#[cfg(test)]
#[path = "search_contexts/tests.rs"]
mod tests;
