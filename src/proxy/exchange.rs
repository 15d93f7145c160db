//! One request from head to completion, without IO: what the request carries between rounds
//! of deciding, what is known about it for the completion point (audit, metrics, access
//! log), and the request body as it is collected for inspection.
//!
//! A decision can take several rounds: the ACL may need the body (the indices are in it) or
//! an expensive credential check first. [`Exchange`] keeps what earlier rounds learned (the
//! inspected body, this request's own hash verdicts) and answers each round with a
//! [`Verdict`]; the connection (`client::handle`) performs the IO a verdict asks for, and
//! the whole-path fuzzer (`fuzzing::whole_path`) drives the very same rounds on a buffer.
//! The decision, the answer or the upstream leg, and the bytes moved are written into the
//! same `Exchange`, which `client::serve` hands to `completion::complete` once per request.
//!
//! ```text
//! step ─▶ ReadBody ─▶ BodyCollector::feed … finish ─▶ Exchange::body_read ─▶ step
//!      ─▶ Verify   ─▶ hash (pool, or inline in the fuzzer) ─▶ Exchange::verified ─▶ step
//!      ─▶ Forward / Answer: done
//! ```

use super::decide::{body_from_query, decide, decode_for_inspection, Context, Inspected, Verdict};
use super::denial::Denial;
use crate::acl::{Decision, Request, Resume, Verifier};
use crate::auth::key::Verdict as HashVerdict;
use crate::auth::remote::cache::Cached;
use crate::auth::remote::{Asked, Question};
use crate::es::rewrite::without_params;
use crate::es::route::query_param;
use crate::es::target::Targets;
use crate::http::chunked::ChunkedDecoder;
use crate::http::request::{with_rewritten_body, BodyFraming, RequestHead};
use crate::http::ClientError;
use smallvec::SmallVec;
use std::time::Instant;

/// A safety net on decision rounds for one request: one to learn the body is needed, one
/// per expensive key the credentials must be checked against (each key at most once), one
/// with everything known.
const MAX_DECISION_ROUNDS: usize = 256;

/// Framing bytes a chunked body may carry beyond twice its data.
const CHUNK_FRAMING_ALLOWANCE: u64 = 64 * 1024;

/// One request: what it learned on its way to a decision, and how it ended.
pub struct Exchange {
    inspected: Option<Inspected>,
    /// Verdicts of this request's own hash checks, consulted before the cache, so that a
    /// request never depends on the cache keeping what it just computed.
    verdicts: SmallVec<[(u32, HashVerdict); 4]>,
    /// Answers of the identity services this request asked, likewise.
    answers: Vec<(u32, Question, Cached)>,
    rounds: usize,
    /// When its head was complete.
    pub started: Instant,
    pub decided: Decided,
    /// Why it was not forwarded, or why forwarding failed; `None`: the node answered.
    pub denial: Option<Denial>,
    /// A scroll or point-in-time id that is not the requester's was answered as missing.
    pub context_missing: bool,
    /// The status the client got (0: none was sent).
    pub status: u16,
    pub upstream: Option<UpstreamLeg>,
    /// Body bytes from the client and response bytes to it.
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// The request body as read for inspection, kept for an audit serializer that logs it.
    pub content: Option<Vec<u8>>,
}

/// The trip to a node.
#[derive(Debug, Clone, Copy)]
pub struct UpstreamLeg {
    pub node: usize,
    /// When the request started going out.
    pub sent: Instant,
    /// When the response head arrived.
    pub answered: Option<Instant>,
}

/// What the decision learned about the request, for the completion point.
#[derive(Debug, Default)]
pub struct Decided {
    /// The transport action (`""` until classified).
    pub action: &'static str,
    /// The position of the block that matched (allow or forbid).
    pub block: Option<usize>,
    /// Basic credentials were presented.
    pub presented: bool,
    /// They are valid for no rule of the ACL.
    pub credentials_rejected: bool,
    /// With details only: the authenticated user (also when it is sent upstream as the
    /// run-as user), the presented user name, the indices.
    pub user: Option<String>,
    pub presented_user: Option<String>,
    pub indices: Vec<String>,
    /// Where the ACL picks up in the next round (after the body was read or a hash checked).
    pub resume: Resume,
}

impl Decided {
    /// Notes what `decision` says about `request`; `details` adds what costs allocations,
    /// `user` the authenticated user alone.
    pub fn record(
        &mut self,
        decision: &Decision<'_>,
        request: &Request<'_>,
        targets: &Targets<'_>,
        details: bool,
        user_too: bool,
    ) {
        self.presented = request.basic.is_some();
        let (block, user, rejected) = match decision {
            Decision::Allow {
                position,
                user,
                credentials_rejected,
                ..
            } => (*position, user.as_deref(), *credentials_rejected),
            Decision::Forbid {
                position,
                credentials_rejected,
                ..
            } => (*position, None, *credentials_rejected),
            Decision::Unauthorized {
                credentials_rejected,
                ..
            } => (None, None, *credentials_rejected),
            _ => (None, None, false),
        };
        self.block = block;
        self.credentials_rejected = rejected;
        if details || user_too {
            self.user = user.map(str::to_string);
        }
        if details {
            self.presented_user = request.basic.as_ref().map(|b| b.user.clone());
            self.indices = targets.indices.iter().map(|i| i.name.to_string()).collect();
        }
    }
}

impl Exchange {
    /// A request whose head was complete at `started`.
    pub fn new(started: Instant) -> Exchange {
        Exchange {
            inspected: None,
            verdicts: SmallVec::new(),
            answers: Vec::new(),
            rounds: 0,
            started,
            decided: Decided::default(),
            denial: None,
            context_missing: false,
            status: 0,
            upstream: None,
            bytes_in: 0,
            bytes_out: 0,
            content: None,
        }
    }

    /// The next round: decide `head` (parsed from `buf`, the connection's buffer) with what
    /// is known so far. `cache` answers for credentials checked by earlier requests.
    pub fn step(
        &mut self,
        ctx: &Context<'_>,
        head: &RequestHead,
        buf: &[u8],
        cache: &dyn Verifier,
    ) -> Verdict {
        self.rounds += 1;
        if self.rounds > MAX_DECISION_ROUNDS {
            return undecidable();
        }
        let verifier = OwnFirst {
            own: &self.verdicts,
            answers: &self.answers,
            cache,
        };
        let head_buf = match &self.inspected {
            Some(inspected) => &inspected.head[..],
            None => buf,
        };
        let inspected = self.inspected.as_ref();
        match decide(ctx, head, head_buf, inspected, &verifier, &mut self.decided) {
            // A key this request already checked cannot be pending again; deciding on
            // would loop.
            Verdict::Verify(_, pending, _, _)
                if self.verdicts.iter().any(|(id, _)| *id == pending.key_id) =>
            {
                undecidable()
            }
            // Likewise a question this request already had answered.
            Verdict::Ask(_, ask)
                if self
                    .answers
                    .iter()
                    .any(|(id, q, _)| *id == ask.service_id && *q == ask.question) =>
            {
                undecidable()
            }
            Verdict::ReadBody if self.inspected.is_some() => undecidable(),
            // No body of its own: the one in its `source` parameter, without IO.
            Verdict::ReadBody if head.body == BodyFraming::None => {
                match body_from_query(head, buf, ctx.max_body_bytes) {
                    Ok(inspected) => {
                        self.inspected = Some(inspected);
                        self.step(ctx, head, buf, cache)
                    }
                    Err(denial) => Verdict::Deny(denial),
                }
            }
            verdict => verdict,
        }
    }

    /// The request ends with `denial`: recorded for the completion point, and its answer
    /// returned for the client.
    pub fn deny(&mut self, denial: Denial) -> super::denial::Answer {
        let answer = denial.answer();
        self.status = answer.status;
        self.denial = Some(denial);
        answer
    }

    /// The body was read and decoded; `keep` a copy of it for the audit trail.
    pub fn body_read(&mut self, inspected: Inspected, keep: bool) {
        if keep {
            self.content = Some(inspected.payload().to_vec());
        }
        self.inspected = Some(inspected);
    }

    /// A pending key was checked.
    pub fn verified(&mut self, key_id: u32, verdict: HashVerdict) {
        self.verdicts.push((key_id, verdict));
    }

    /// An identity service answered a question of this request.
    pub fn answered(&mut self, service_id: u32, question: Question, answer: Cached) {
        self.answers.push((service_id, question, answer));
    }

    /// Whether the body has been read from the connection (and must not be read again): a
    /// body taken from the query leaves the request in the connection's buffer.
    pub fn body_was_read(&self) -> bool {
        self.inspected.as_ref().is_some_and(|i| !i.from_query)
    }

    /// Whether the body inspected is the one in the `source` query parameter.
    pub fn body_in_query(&self) -> bool {
        self.inspected.as_ref().is_some_and(|i| i.from_query)
    }

    /// What goes upstream for a `Forward` verdict: the request as received (with `target`
    /// if narrowed), or with the `rewritten` body and the head re-stated for it. A body read
    /// from the `source` parameter goes as it came, in the query, unless it was rewritten:
    /// then it is sent as the body and the parameter leaves the query.
    pub fn outgoing(
        &mut self,
        head: &RequestHead,
        target: Option<String>,
        rewritten: Option<Vec<u8>>,
    ) -> Result<Outgoing, ClientError> {
        let (Some(body), Some(inspected)) = (rewritten, self.inspected.as_ref()) else {
            let inspected = self.inspected.take().filter(|i| !i.from_query);
            return Ok(Outgoing::AsReceived(inspected, target));
        };
        // A body leaving the query takes its type along: from `source_content_type` to
        // `Content-Type` (the node refuses a body without one).
        let mut content_type = None;
        let target = match (inspected.from_query, target) {
            (false, target) => target,
            (true, target) => {
                let query = head
                    .query
                    .map(|q| q.get(&inspected.head))
                    .unwrap_or_default();
                content_type = query_param(query, "source_content_type").ok().flatten();
                let written = target.unwrap_or_else(|| {
                    String::from_utf8_lossy(&head.target(&inspected.head)).into_owned()
                });
                Some(without_params(&written, &["source", "source_content_type"]))
            }
        };
        let (bytes, new_head) = with_rewritten_body(
            &inspected.head,
            head,
            body.len() as u64,
            content_type.as_deref(),
        )?;
        Ok(Outgoing::Rewritten(
            Box::new(new_head),
            Inspected {
                head: bytes,
                raw: body,
                decoded: None,
                from_query: false,
            },
            target,
        ))
    }
}

/// The request to forward, with the request target to send instead of the received one.
pub enum Outgoing {
    /// As received; the body too if it was read.
    AsReceived(Option<Inspected>, Option<String>),
    /// With a rewritten body, under its own head (boxed: a head is large and this is rare).
    Rewritten(Box<RequestHead>, Inspected, Option<String>),
}

fn undecidable() -> Verdict {
    Verdict::Deny(Denial::Internal("the request could not be decided"))
}

/// This request's own verdicts and answers first, then the cache.
struct OwnFirst<'a> {
    own: &'a [(u32, HashVerdict)],
    answers: &'a [(u32, Question, Cached)],
    cache: &'a dyn Verifier,
}

impl Verifier for OwnFirst<'_> {
    fn cached(&self, key_id: u32, user: &str, password: &str) -> Option<HashVerdict> {
        match self.own.iter().find(|(id, _)| *id == key_id) {
            Some((_, verdict)) => Some(*verdict),
            None => self.cache.cached(key_id, user, password),
        }
    }

    fn jwt(
        &self,
        definition: &crate::auth::jwt::JwtDefinition,
        token: &str,
    ) -> Option<std::sync::Arc<crate::auth::jwt::VerifiedToken>> {
        self.cache.jwt(definition, token)
    }

    fn remote(&self, service_id: u32, asked: Asked<'_>) -> Option<Cached> {
        match self
            .answers
            .iter()
            .find(|(id, q, _)| *id == service_id && q.asked() == asked)
        {
            Some((_, _, answer)) => Some(answer.clone()),
            None => self.cache.remote(service_id, asked),
        }
    }
}

/// A request body being collected for inspection: kept exactly as received (it is
/// forwarded unchanged) and, when chunked, de-chunked as it arrives.
pub struct BodyCollector {
    framing: BodyFraming,
    raw: Vec<u8>,
    /// The de-chunked payload (chunked bodies only).
    data: Vec<u8>,
    decoder: ChunkedDecoder,
    max_body_bytes: u64,
}

/// How far [`BodyCollector::feed`] got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fed {
    /// Bytes taken from the front of the input (the rest belongs to the next request).
    pub consumed: usize,
    pub done: bool,
}

impl BodyCollector {
    /// A collector for a body framed as `framing`, refusing more than `max_body_bytes` of
    /// payload. A `Content-Length` above the limit is the caller's to refuse before the
    /// body is read (the answer then does not need to close the connection).
    pub fn new(framing: BodyFraming, max_body_bytes: u64) -> BodyCollector {
        // A `Content-Length` body gets room for all of it at once, from the worker's pool:
        // it is read straight into it, never moved (`body::fill`). A chunked body's length is
        // unknown: it and its payload start in the largest pooled buffers, if any.
        let (raw, data) = match framing {
            BodyFraming::Length(n) => {
                let len = n.min(max_body_bytes);
                let raw = super::body::take(usize::try_from(len).unwrap_or(usize::MAX));
                (raw, Vec::new())
            }
            BodyFraming::Chunked => (super::body::take_largest(), super::body::take_largest()),
            BodyFraming::None => (Vec::new(), Vec::new()),
        };
        BodyCollector {
            framing,
            raw,
            data,
            decoder: ChunkedDecoder::new(),
            max_body_bytes,
        }
    }

    /// Takes what belongs to the body from the front of `bytes`. An error leaves the
    /// connection unreadable: answer and close.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Fed, ClientError> {
        match self.framing {
            BodyFraming::None => Ok(Fed {
                consumed: 0,
                done: true,
            }),
            BodyFraming::Length(n) => {
                let missing = n.saturating_sub(self.raw.len() as u64);
                let take = usize::try_from(missing).map_or(bytes.len(), |m| m.min(bytes.len()));
                self.raw.extend_from_slice(&bytes[..take]);
                Ok(Fed {
                    consumed: take,
                    done: self.raw.len() as u64 == n,
                })
            }
            BodyFraming::Chunked => {
                let data = &mut self.data;
                let progress = self.decoder.decode(bytes, |d| data.extend_from_slice(d))?;
                self.raw.extend_from_slice(&bytes[..progress.consumed]);
                if self.decoder.data_bytes() > self.max_body_bytes {
                    return Err(ClientError::BodyTooLarge);
                }
                // Chunk sizes and extensions are a few bytes per chunk; a body that is mostly
                // framing would make `raw` grow without bound against a small data limit.
                if self.raw.len() as u64 > 2 * self.decoder.data_bytes() + CHUNK_FRAMING_ALLOWANCE {
                    return Err(ClientError::ChunkOverhead);
                }
                Ok(Fed {
                    consumed: progress.consumed,
                    done: progress.done,
                })
            }
        }
    }

    /// How many bytes a `Content-Length` body still misses (`None` for other framings).
    pub fn missing_length_bytes(&self) -> Option<usize> {
        match self.framing {
            BodyFraming::Length(n) => {
                let missing = n.saturating_sub(self.raw.len() as u64);
                Some(usize::try_from(missing).unwrap_or(usize::MAX))
            }
            _ => None,
        }
    }

    /// The body as received so far, for a read that appends to it (`body::fill`).
    pub fn raw_mut(&mut self) -> &mut Vec<u8> {
        &mut self.raw
    }

    /// Bytes held so far (for the worker's body budget).
    pub fn held_bytes(&self) -> u64 {
        (self.raw.len() + self.data.len()) as u64
    }

    /// Bytes of the body as received so far (for the minimum body rate).
    pub fn received_bytes(&self) -> u64 {
        self.raw.len() as u64
    }

    /// The complete body, checked to be JSON/NDJSON and inflated for inspection.
    pub fn finish(self, head: &RequestHead, head_bytes: Vec<u8>) -> Result<Inspected, Denial> {
        let chunked = self.framing == BodyFraming::Chunked;
        let payload = if chunked { &self.data } else { &self.raw };
        let inflated = decode_for_inspection(head, &head_bytes, payload, self.max_body_bytes)?;
        let decoded = inflated.or_else(|| chunked.then_some(self.data));
        Ok(Inspected {
            head: head_bytes,
            raw: self.raw,
            decoded,
            from_query: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_length_bodies_in_pieces_and_leaves_the_next_request() {
        let mut body = BodyCollector::new(BodyFraming::Length(5), 100);
        assert_eq!(
            body.feed(b"ab").unwrap(),
            Fed {
                consumed: 2,
                done: false
            }
        );
        assert_eq!(
            body.feed(b"cdeGET").unwrap(),
            Fed {
                consumed: 3,
                done: true
            }
        );
        assert_eq!(body.received_bytes(), 5);
    }

    #[test]
    fn chunked_bodies_are_bounded_by_payload_and_by_framing() {
        let mut body = BodyCollector::new(BodyFraming::Chunked, 4);
        assert_eq!(body.feed(b"5\r\nabcde\r\n"), Err(ClientError::BodyTooLarge));
        let mut body = BodyCollector::new(BodyFraming::Chunked, 1 << 30);
        let mut framing_only = Vec::new();
        while framing_only.len() < 80 * 1024 {
            framing_only.extend_from_slice(b"1;aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\nx\r\n");
        }
        assert_eq!(body.feed(&framing_only), Err(ClientError::ChunkOverhead));
    }
}
