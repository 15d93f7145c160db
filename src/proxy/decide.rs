//! Deciding one request: classify it, evaluate the ACL, and turn the decision into what the
//! connection does next. Synchronous and allocation-light; the result owns everything, so
//! the read buffer is free again when it returns.
//!
//! ```text
//! head ─▶ es::route::classify ─▶ Targets (path) ─▶ acl::evaluate ─┬▶ Forward (maybe narrowed)
//!                      body, if read ─▶ Targets (+ body) ─┘        ├▶ Answer (400/401/403/404/413/415)
//!                                                                  ├▶ ReadBody (indices are in it)
//!                                                                  ├▶ Verify (expensive hash)
//!                                                                  └▶ Missing (not the user's scroll)
//! ```
//!
//! An allowed request that names scroll or point-in-time ids is checked against their
//! owners (`search_contexts`); one that addresses every context touches every index.

use super::denial::Denial;
use super::exchange::Decided;
use super::search_contexts::{AfterResponse, Checked, MissingContext, Owner, SearchContexts};
use crate::acl::es_rules::EsView;
use crate::acl::remote::Ask;
use crate::acl::request::MalformedAuthorization;
use crate::acl::{ByBasic, Decision, Pending, Request, Verifier, DEFAULT_FORBIDDEN_MESSAGE};
use crate::es::body::BodyError;
use crate::es::body::{inflate_into, inflated_size_hint, ContentEncoding};
use crate::es::index_name::{decode_part, IndexExpr};
use crate::es::metadata::ClusterMetadata;
use crate::es::rewrite::{narrow_target, narrow_templates, rewrite_mget, rewrite_msearch};
use crate::es::route::{classify, query_param, BodyIndices, Classified};
use crate::es::search_context::ContextUse;
use crate::es::target::{needs_body, template_target, Access, Targets};
use crate::http::request::{is_field_value, BodyFraming, RequestHead};
use crate::http::ClientError;
use crate::snapshot::Snapshot;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

/// What a decision reads besides the request: the policy the request started with, the
/// cluster metadata, the connection's addresses, and the failure limits. Plain references:
/// no IO behind them.
pub struct Context<'a> {
    pub snapshot: &'a Snapshot,
    pub metadata: &'a ClusterMetadata,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    pub gate: &'a dyn CredentialGate,
    /// `gateway.limits.max_body_bytes` (a body in the query is bounded like any other).
    pub max_body_bytes: u64,
    /// Who opened which scroll and point-in-time context.
    pub contexts: &'a SearchContexts,
    /// Record who asked for which indices (audit, access log): costs allocations.
    pub details: bool,
    /// Record the authenticated user even without details: it goes upstream as
    /// `es-security-runas-user` (`gateway.upstream_auth.run_as_logged_user`).
    pub record_user: bool,
    /// The subject DN of the client certificate the connection's TLS handshake verified
    /// (`certificate_authentication`, `@{acl:certificate_dn}`).
    pub certificate_dn: Option<&'a str>,
}

/// The failure limits as a decision sees them (every credential kind, cheap keys too).
pub trait CredentialGate {
    /// Before the ACL is evaluated for a request with Basic credentials: `Err` with the
    /// throttled answer while the address or user is blocked and the credentials are not
    /// known to be good.
    fn admit(&self, ip: IpAddr, user: &str, password: &str) -> Result<(), Denial>;
    /// The ACL allowed a request whose user these Basic credentials authenticated.
    fn succeeded(&self, user: &str, password: &str);
    /// The request was refused because its Basic credentials are valid for no rule.
    fn failed(&self, ip: IpAddr, user: &str, password: &str);
}

/// No failure limits (tests and the fuzzer).
impl CredentialGate for () {
    fn admit(&self, _: IpAddr, _: &str, _: &str) -> Result<(), Denial> {
        Ok(())
    }
    fn succeeded(&self, _: &str, _: &str) {}
    fn failed(&self, _: IpAddr, _: &str, _: &str) {}
}

/// A request whose body was read (to find the indices it names) before forwarding.
pub struct Inspected {
    /// The request head, copied out of the read buffer.
    pub head: Vec<u8>,
    /// The body exactly as received (forwarded unchanged).
    pub raw: Vec<u8>,
    /// The body's payload when it differs from `raw` (de-chunked, inflated).
    pub decoded: Option<Vec<u8>>,
    /// The body came from the `source` query parameter (the request has none of its own):
    /// forwarded as received, the parameter still in the query.
    pub from_query: bool,
}

impl Inspected {
    /// What the body says, for inspection.
    pub fn payload(&self) -> &[u8] {
        self.decoded.as_deref().unwrap_or(&self.raw)
    }

    /// Bytes held for this request.
    pub fn held_bytes(&self) -> u64 {
        (self.head.len() + self.raw.len() + self.decoded.as_ref().map_or(0, Vec::len)) as u64
    }
}

/// What to do with a request. Owns its data.
pub enum Verdict {
    /// Forward, with this request target instead of the original one if set.
    Forward {
        target: Option<String>,
        /// The position of the allow block that matched (`None`: the ACL is disabled).
        block: Option<usize>,
        /// A rewritten body (`_msearch`/`_mget` narrowed per search or document), sent
        /// instead of the one received, as identity with its own length.
        body: Option<Vec<u8>>,
        /// What the response tells the search context store.
        contexts: AfterResponse,
    },
    /// Refused (or failed) without the node's answer.
    Deny(Denial),
    /// A scroll or point-in-time id that is not the requester's: answered as the node
    /// answers for a context that does not exist.
    Missing(MissingContext),
    ReadBody,
    /// Check these Basic credentials against the pending key (of the policy with this
    /// generation), then decide again.
    Verify(u64, Pending, String, String),
    /// Ask an identity service (for the policy with this generation), then decide again.
    Ask(u64, Ask),
}

/// Decides `head` (parsed from `buf`). `inspected` is the body, once read; `verifier`
/// answers for expensive credentials already checked.
pub fn decide(
    ctx: &Context<'_>,
    head: &RequestHead,
    buf: &[u8],
    inspected: Option<&Inspected>,
    verifier: &dyn Verifier,
    decided: &mut Decided,
) -> Verdict {
    // The head parser admits only printable ASCII in the target.
    let target = head.target(buf);
    let Ok(target) = std::str::from_utf8(&target) else {
        return Verdict::Deny(ClientError::InvalidTarget.into());
    };
    let classified = match classify(head.method, target) {
        Ok(classified) => classified,
        Err(e) => return Verdict::Deny(Denial::Route(e.reason().to_string())),
    };
    decided.action = classified.action;
    let path = head.path_text(buf);
    let Ok(path) = decode_part(std::str::from_utf8(&path).unwrap_or_default()) else {
        return Verdict::Deny(ClientError::InvalidPathEncoding.into());
    };
    let metadata = ctx.metadata;
    let mut targets = Targets::from_path(&classified);
    // Overwriting or deleting a template changes the indices its existing patterns match.
    if let Some(key) = template_target(&classified) {
        if let Some(patterns) = metadata.templates.get(&(key.0, key.1.to_string())) {
            targets.add_existing_template(patterns);
        }
    }
    let has_body = head.body != BodyFraming::None || has_source_param(head, buf);
    // Elasticsearch reads `source` when the body is empty (`contentOrSourceParam`): an empty
    // body read from the connection would hide the one the node reads.
    if inspected.is_some_and(|i| !i.from_query && i.payload().is_empty())
        && has_source_param(head, buf)
    {
        return Verdict::Deny(Denial::bad_request(
            "an empty request body and a source parameter: send the body in one place",
        ));
    }
    let body_pending = needs_body(&classified) && has_body;
    if let (true, Some(inspected)) = (body_pending, inspected) {
        if let Err(denial) = check_inspectable_media_type(head, buf, inspected.from_query) {
            return Verdict::Deny(denial);
        }
        if let Err(e) = targets.add_body(&classified, inspected.payload()) {
            return Verdict::Deny(e.into());
        }
    }
    // A search both names indices in its body and may continue a point in time.
    let uses = match context_use(head, buf, &classified, &path, inspected, has_body) {
        Ok(uses) => uses,
        Err(denial) => return Verdict::Deny(denial),
    };
    uses.restrict(&mut targets);
    let content_length = match (head.body, inspected) {
        (BodyFraming::None, _) => Some(0),
        (_, Some(inspected)) => Some(inspected.payload().len() as u64),
        (BodyFraming::Length(n), None) if head.header(buf, "content-encoding").is_none() => Some(n),
        _ => None,
    };
    let mut request = match Request::new(
        head.method,
        &path,
        buf,
        &head.headers,
        ctx.peer.ip(),
        ctx.local.ip(),
        content_length,
    ) {
        Ok(request) => request,
        Err(MalformedAuthorization) => {
            return Verdict::Deny(ClientError::MalformedAuthorization.into())
        }
    };
    request.certificate_dn = ctx.certificate_dn;
    request.es = Some(EsView {
        action: classified.action,
        unknown: classified.is_unknown(),
        targets: (!body_pending || inspected.is_some()).then_some(&targets),
        metadata,
    });
    let snapshot = ctx.snapshot;
    if let Some(status) = snapshot.not_started {
        return Verdict::Deny(Denial::NotStarted { status });
    }
    let ip = ctx.peer.ip().to_canonical();
    if let Some(basic) = &request.basic {
        if let Err(denial) = ctx.gate.admit(ip, &basic.user, &basic.password) {
            return Verdict::Deny(denial);
        }
    }
    let decision = snapshot
        .acl
        .evaluate_from(&request, verifier, decided.resume.clone());
    decided.record(&decision, &request, &targets, ctx.details, ctx.record_user);
    if let Some(basic) = &request.basic {
        match decision {
            Decision::Allow {
                by_basic: ByBasic(true),
                ..
            } => ctx.gate.succeeded(&basic.user, &basic.password),
            Decision::Allow {
                credentials_rejected: true,
                ..
            }
            | Decision::Forbid {
                credentials_rejected: true,
                ..
            }
            | Decision::Unauthorized {
                credentials_rejected: true,
                ..
            } => ctx.gate.failed(ip, &basic.user, &basic.password),
            _ => {}
        }
    }
    let owner = match &decision {
        Decision::Allow {
            block: Some(block),
            user,
            ..
        } => Some(match user {
            Some(user) => Owner::User(user),
            None => Owner::Block(block),
        }),
        // Goes out to match nothing (forbidden indices only): no context is its to use.
        Decision::IndexNotFound => Some(Owner::Nobody),
        _ => None,
    };
    let contexts = match owner {
        // Neither opens nor names a context: nothing to check (and no clock to read).
        Some(_) if matches!(uses, ContextUse::None | ContextUse::All) => AfterResponse::Nothing,
        Some(owner) => match ctx
            .contexts
            .check(&uses, owner, snapshot.generation, Instant::now())
        {
            Checked::Forward(after) => after,
            Checked::ReadBody => return Verdict::ReadBody,
            Checked::Missing(missing) => return Verdict::Missing(missing),
        },
        None => AfterResponse::Nothing,
    };
    match decision {
        Decision::Allow {
            narrowed: None,
            position,
            ..
        } => Verdict::Forward {
            target: None,
            block: position,
            body: None,
            contexts,
        },
        Decision::Allow {
            narrowed: Some(narrowing),
            position,
            ..
        } => {
            let refused = || {
                Verdict::Deny(Denial::NoMatch {
                    reason: snapshot.acl.settings().forbidden_message.clone(),
                })
            };
            let none;
            let target = match (&narrowing.path, &narrowing.templates) {
                (Some(indices), _) => {
                    let indices = if indices.is_empty() {
                        none = vec![format!(".rf-none-{}-*", nonce())];
                        &none
                    } else {
                        indices
                    };
                    match narrow_target(head.method, target, indices) {
                        Some(target) => Some(target),
                        None => return refused(),
                    }
                }
                (None, Some(templates)) => {
                    let names = if templates.is_empty() {
                        none = vec![format!(".rf-none-{}*", nonce())];
                        &none
                    } else {
                        templates
                    };
                    match narrow_templates(head.method, target, names) {
                        Some(target) => Some(target),
                        None => return refused(),
                    }
                }
                (None, None) => None,
            };
            let body = match (&narrowing.subrequests, inspected) {
                (None, _) => None,
                (Some(lists), Some(inspected)) => {
                    match rewrite_subrequests(&classified, inspected.payload(), lists) {
                        Ok(body) => Some(body),
                        Err(_) => return refused(),
                    }
                }
                (Some(_), None) => return refused(),
            };
            Verdict::Forward {
                target,
                block: position,
                body,
                contexts,
            }
        }
        Decision::Forbid {
            reason,
            position: Some(_),
            ..
        } => Verdict::Deny(Denial::Forbidden {
            reason: reason.to_string(),
        }),
        Decision::Forbid { reason, .. } => Verdict::Deny(Denial::NoMatch {
            reason: reason.to_string(),
        }),
        Decision::Unauthorized { reason, .. } => Verdict::Deny(Denial::Unauthorized {
            reason: reason.to_string(),
        }),
        Decision::IndexNotFound => index_not_found(head, target, &targets),
        Decision::ReadBody(resume) if inspected.is_none() => {
            decided.resume = resume;
            Verdict::ReadBody
        }
        Decision::ReadBody(_) => {
            Verdict::Deny(Denial::Internal("the ACL asked for the body twice"))
        }
        Decision::Ask(ask, resume) => {
            decided.resume = resume;
            Verdict::Ask(snapshot.generation, ask)
        }
        Decision::Unavailable(unavailable) => Verdict::Deny(Denial::Unavailable {
            reason: unavailable.reason,
        }),
        Decision::Verify(pending, resume) => match &request.basic {
            Some(basic) => {
                decided.resume = resume;
                Verdict::Verify(
                    snapshot.generation,
                    pending,
                    basic.user.clone(),
                    basic.password.clone(),
                )
            }
            None => Verdict::Deny(Denial::NoMatch {
                reason: DEFAULT_FORBIDDEN_MESSAGE.into(),
            }),
        },
    }
}

/// A read of forbidden indices only, answered as Elasticsearch answers for indices that do
/// not exist: a literal name gets the exact `index_not_found_exception` 404; wildcards are
/// forwarded with a pattern that matches nothing, so the node gives its own empty answer.
fn index_not_found(head: &RequestHead, target: &str, targets: &Targets<'_>) -> Verdict {
    let literal = targets
        .indices
        .iter()
        .filter(|i| i.access == Access::Read)
        .map(|i| IndexExpr::parse(&i.name))
        .find(|e| !e.wildcard && !e.exclusion && !e.is_all());
    if let Some(expr) = literal {
        let name = expr.raw.to_string();
        return Verdict::Deny(Denial::IndexNotFound { name });
    }
    let none = vec![format!(".rf-none-{}-*", nonce())];
    match narrow_target(head.method, target, &none) {
        Some(target) => Verdict::Forward {
            target: Some(target),
            block: None,
            body: None,
            contexts: AfterResponse::Nothing,
        },
        None => Verdict::Deny(Denial::NoMatch {
            reason: DEFAULT_FORBIDDEN_MESSAGE.into(),
        }),
    }
}

/// The `_msearch`/`_mget` body with each search or document narrowed per `lists`.
fn rewrite_subrequests(
    classified: &Classified<'_>,
    payload: &[u8],
    lists: &[Option<Vec<String>>],
) -> Result<Vec<u8>, BodyError> {
    let missing = format!(".rf-none-{}", nonce());
    match classified.body {
        BodyIndices::Msearch | BodyIndices::MsearchTemplate => {
            rewrite_msearch(payload, lists, &format!("{missing}-*"))
        }
        BodyIndices::Mget => {
            // A document is read from one index: one not granted as named is not read.
            let denied: Vec<bool> = lists.iter().map(Option::is_some).collect();
            rewrite_mget(payload, &denied, &missing)
        }
        _ => Err(BodyError::UnexpectedJson { line: 1 }),
    }
}

/// A value that differs between calls, for index names that must not exist.
fn nonce() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    format!(
        "{:x}",
        time ^ COUNTER.fetch_add(1, Ordering::Relaxed).rotate_left(40)
    )
}

/// How the request uses scroll and point-in-time contexts. Ids in a body are read like
/// indices in one (JSON only), and only for the APIs that take them there: a body read for
/// another reason (`max_body_length`) is not judged by its type here.
fn context_use(
    head: &RequestHead,
    buf: &[u8],
    classified: &Classified<'_>,
    path: &str,
    inspected: Option<&Inspected>,
    has_body: bool,
) -> Result<ContextUse, Denial> {
    let query = head.query.map(|q| q.get(buf));
    let uses = ContextUse::read(classified, path, query, None, has_body)?;
    match (uses, inspected) {
        (ContextUse::NeedsBody, Some(inspected)) => {
            check_inspectable_media_type(head, buf, inspected.from_query)?;
            let body = Some(inspected.payload());
            Ok(ContextUse::read(classified, path, query, body, has_body)?)
        }
        (uses, _) => Ok(uses),
    }
}

/// Media types whose bodies the inspectors read (Elasticsearch also parses YAML, CBOR and
/// SMILE; those are refused rather than read differently).
const INSPECTABLE_TYPES: [&str; 4] = [
    "application/json",
    "application/x-ndjson",
    "application/vnd.elasticsearch+json",
    "application/vnd.elasticsearch+x-ndjson",
];

/// Whether the request has a `source` query parameter (a body given in the query; one that
/// does not decode counts, and is refused when it is read).
fn has_source_param(head: &RequestHead, buf: &[u8]) -> bool {
    head.query
        .is_some_and(|q| !matches!(query_param(q.get(buf), "source"), Ok(None)))
}

/// The body a request carries in its `source` query parameter (ES
/// `RestRequest.contentOrSourceParam`: only when it has no body of its own), read as a body
/// (and bounded like one).
pub fn body_from_query(
    head: &RequestHead,
    buf: &[u8],
    max_body_bytes: u64,
) -> Result<Inspected, Denial> {
    let bad = |e: crate::es::route::RouteError| Denial::Route(e.reason().to_string());
    let query = head.query.map(|q| q.get(buf)).unwrap_or_default();
    let source = query_param(query, "source")
        .map_err(bad)?
        .unwrap_or_default();
    if source.len() as u64 > max_body_bytes {
        return Err(ClientError::BodyTooLarge.into());
    }
    Ok(Inspected {
        head: buf[..head.len].to_vec(),
        raw: source,
        decoded: None,
        from_query: true,
    })
}

/// Refuses a body whose indices must be read unless it is JSON or NDJSON (its type is
/// `Content-Type`, or `source_content_type` for a body in the query).
fn check_inspectable_media_type(
    head: &RequestHead,
    head_buf: &[u8],
    from_query: bool,
) -> Result<(), Denial> {
    let from_query_type;
    let content_type = if from_query {
        let query = head.query.map(|q| q.get(head_buf)).unwrap_or_default();
        from_query_type = query_param(query, "source_content_type").ok().flatten();
        // Elasticsearch requires the parameter with `source`.
        match from_query_type.as_deref() {
            // It becomes the `Content-Type` of a rewritten request.
            Some(value) if !is_field_value(value) => {
                return Err(Denial::bad_request(
                    "source_content_type holds bytes a header value cannot",
                ))
            }
            Some(value) => value,
            None => {
                return Err(Denial::bad_request(
                    "source and source_content_type parameters are required",
                ))
            }
        }
    } else {
        match head.header(head_buf, "content-type") {
            Some(value) => value,
            None => return Ok(()),
        }
    };
    let media = content_type
        .split(|&b| b == b';')
        .next()
        .unwrap_or_default();
    let media = String::from_utf8_lossy(media).trim().to_ascii_lowercase();
    if INSPECTABLE_TYPES.contains(&media.as_str()) {
        return Ok(());
    }
    Err(Denial::Body {
        status: 415,
        error_type: "media_type_not_supported_exception",
        reason: format!(
            "the gateway reads the indices in this body and accepts it only as JSON or NDJSON, not [{media}]"
        ),
    })
}

/// How many times its compressed length a deflate body is guessed to inflate to (JSON logs
/// compress 5-20 times).
const INFLATE_RATIO_GUESS: u64 = 8;

/// Inflates a body read for the decision per its `Content-Encoding`, bounded by `max`
/// bytes. `Ok(None)`: the payload is `data` itself.
pub fn decode_for_inspection(
    head: &RequestHead,
    head_buf: &[u8],
    data: &[u8],
    max: u64,
) -> Result<Option<Vec<u8>>, Denial> {
    // Netty reads only the first Content-Encoding; two of them would be read differently.
    let encodings = head
        .headers
        .iter()
        .filter(|h| {
            h.name
                .get(head_buf)
                .eq_ignore_ascii_case(b"content-encoding")
        })
        .count();
    if encodings > 1 {
        return Err(Denial::bad_request("more than one Content-Encoding header"));
    }
    let encoding = ContentEncoding::from_header(head.header(head_buf, "content-encoding"))
        .map_err(Denial::from)?;
    if encoding == ContentEncoding::Identity {
        return Ok(None);
    }
    // Room for all of it once (from the worker's pool), not a buffer grown by doubling; a
    // gzip body says how long it is, other bodies get a guess, and both are only hints.
    let hint = inflated_size_hint(encoding, data)
        .unwrap_or_else(|| (data.len() as u64).saturating_mul(INFLATE_RATIO_GUESS))
        .min(max);
    let mut out = super::body::take(usize::try_from(hint).unwrap_or(0));
    inflate_into(encoding, data, max, &mut out).map_err(Denial::from)?;
    Ok(Some(out))
}
