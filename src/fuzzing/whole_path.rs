//! The whole request path without sockets, for the `whole_path` fuzz target.
//!
//! Raw bytes go through exactly what a connection runs: head parse, the rounds of an
//! [`Exchange`] (classification, path and body targets, gzip, the ACL with a generated
//! policy, narrowing), the body collected as `client::read_body` collects it, expensive
//! credentials verified inline instead of on the pool, and the head and body that
//! `proxy::forward` would send upstream. Then three properties are checked:
//!
//! 1. nothing panics (the fuzzer's own check);
//! 2. the forwarded bytes are one request with the client's framing (same method, same
//!    length or chunking, nothing before or after);
//! 3. every index the forwarded request names (read back from the forwarded bytes, as the
//!    node would read them) is allowed by the allow block that matched, and none overlaps a
//!    forbid block placed before it. This oracle is written independently of `acl`: its own
//!    glob matcher, containment and overlap.
//! 4. no scroll or point-in-time id goes out with a request an allow block let through:
//!    the search context store is empty, so no id is anyone's.
//! 5. with `gateway.upstream_auth` (bit 7 of byte 1), the forwarded head carries exactly one
//!    `Authorization`, the gateway's, and an `es-security-runas-user` only as the gateway
//!    wrote it (the user the ACL authenticated): never one the client chose.
//!
//! Input layout: byte 0 picks the policy's blocks, byte 1 the cluster metadata (and bit 7
//! the upstream credentials), the rest is what the client sent on the connection (a head
//! and whatever follows it).

use super::oracle::{grants, overlaps, touched};
use crate::acl::NoCache;
use crate::auth::remote::{Answer, Unavailable};
use crate::config::{yaml, Diagnostics};
use crate::es::body::{inflate_to_vec, ContentEncoding};
use crate::es::index_name::decode_part;
use crate::es::metadata::ClusterMetadata;
use crate::es::route::classify;
use crate::es::search_context::ContextUse;
use crate::es::target::{needs_body, Targets};
use crate::http::chunked::ChunkedDecoder;
use crate::http::request::{
    parse_request_head, write_upstream_head, BodyFraming, RequestHead, RunAs, UpstreamIdentity,
    RUN_AS_HEADER,
};
use crate::proxy::decide::{Context, Verdict};
use crate::proxy::exchange::{BodyCollector, Exchange, Outgoing};
use crate::proxy::search_contexts::SearchContexts;
use crate::snapshot::Snapshot;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

const MAX_HEAD_BYTES: usize = 16 * 1024;
/// The gateway's own credentials when bit 7 of the metadata byte is set.
const GATEWAY_AUTHORIZATION: &str = "ApiKey Z2F0ZXdheTprZXk=";
const MAX_BODY_BYTES: u64 = 1 << 20;

/// One block the policy may contain, with what the oracle knows about it.
struct BlockModel {
    yaml: &'static str,
    forbid: bool,
    /// The index patterns the block allows or forbids; `None`: no `indices` rule.
    patterns: Option<&'static [&'static str]>,
}

/// Blocks in policy order; bit `i` of the first input byte includes block `i`.
const BLOCKS: [BlockModel; 8] = [
    BlockModel {
        yaml: "  - name: b0\n    type: forbid\n    indices: [\"secret*\"]\n",
        forbid: true,
        patterns: Some(&["secret*"]),
    },
    BlockModel {
        yaml: "  - name: b1\n    type: forbid\n    indices: {patterns: [\"*-private\"], must_involve_indices: true}\n",
        forbid: true,
        patterns: Some(&["*-private"]),
    },
    BlockModel {
        yaml: "  - name: b2\n    auth_key: reader:pw\n    indices: [\"logs-*\", \"pub\"]\n",
        forbid: false,
        patterns: Some(&["logs-*", "pub"]),
    },
    BlockModel {
        yaml: "  - name: b3\n    auth_key_sha256: \"logstash:76cd2c0d589e224531fc6af2c5850e3c9b2aca6902d813ce598833c7c1b28bee\"\n    actions: [\"indices:data/write/*\", \"indices:admin/create\"]\n    indices: [\"logs-w*\"]\n",
        forbid: false,
        patterns: Some(&["logs-w*"]),
    },
    BlockModel {
        yaml: "  - name: b4\n    auth_key: alice:pw\n    indices: [\"@{user}-*\"]\n",
        forbid: false,
        patterns: Some(&["alice-*"]),
    },
    BlockModel {
        yaml: "  - name: b5\n    methods: [GET]\n    indices: [\"public-*\"]\n",
        forbid: false,
        patterns: Some(&["public-*"]),
    },
    BlockModel {
        yaml: "  - name: b6\n    auth_key_unix: \"logstash:$6$d07dnv4N$PttFn7LnWkuR38ZlouPX6VpmPVBG0Tj0Ksf.5KsAy/fXAsDwbzQWwVvqTAkx5DeuU3uqbxpzmHBLv9bp5YPbe0\"\n    indices: [\"logs-*\"]\n",
        forbid: false,
        patterns: Some(&["logs-*"]),
    },
    BlockModel {
        yaml: "  - name: b7\n    auth_key: admin:pw\n",
        forbid: false,
        patterns: None,
    },
];

thread_local! {
    /// Compiled policies by selector: compiling YAML per input would dominate the run.
    static POLICIES: RefCell<HashMap<u8, Rc<Policy>>> = RefCell::new(HashMap::new());
}

/// A compiled policy and, per block position, the model block it came from.
struct Policy {
    snapshot: Snapshot,
    models: Vec<&'static BlockModel>,
}

fn policy(selector: u8) -> Rc<Policy> {
    POLICIES.with(|policies| {
        Rc::clone(
            policies
                .borrow_mut()
                .entry(selector)
                .or_insert_with(|| Rc::new(compile(selector))),
        )
    })
}

fn compile(selector: u8) -> Policy {
    let models: Vec<&BlockModel> = BLOCKS
        .iter()
        .enumerate()
        .filter(|(i, _)| selector & (1 << i) != 0)
        .map(|(_, b)| b)
        .collect();
    let mut text = String::from("readonlyrest:\n  access_control_rules:\n");
    if models.is_empty() {
        text = "readonlyrest:\n  access_control_rules: []\n".into();
    }
    for model in &models {
        text.push_str(model.yaml);
    }
    let root = yaml::parse(&text).unwrap_or_else(|e| panic!("policy YAML: {e:?}"));
    let mut d = Diagnostics::new(std::path::Path::new("fuzz.yml"));
    let section = root.get("readonlyrest").expect("a readonlyrest section");
    let acl = crate::config::policy::compile(section, &mut d);
    let acl = d
        .finish(acl)
        .unwrap_or_else(|e| panic!("generated policy does not load: {e}"));
    Policy {
        snapshot: Snapshot {
            acl,
            audit: Default::default(),
            generation: 1,
            warnings: Vec::new(),
            not_started: None,
        },
        models,
    }
}

fn metadata(selector: u8) -> ClusterMetadata {
    let mut metadata = ClusterMetadata::default();
    if selector & 1 == 0 {
        return metadata; // not loaded yet
    }
    for (name, hidden) in [
        ("logs-a", false),
        ("logs-b", false),
        ("logs-w1", false),
        ("secret-1", false),
        ("alice-1", false),
        ("public-1", false),
        ("team-private", false),
        (".secret-hidden", true),
    ] {
        metadata.indices.insert(name.into(), hidden);
    }
    metadata
        .aliases
        .insert("logs-all".into(), vec!["logs-a".into(), "secret-1".into()]);
    metadata
        .aliases
        .insert("pub".into(), vec!["public-1".into()]);
    metadata
}

/// Runs one input through the whole path and checks the properties.
pub fn whole_path(data: &[u8]) {
    let [policy_selector, metadata_selector, request @ ..] = data else {
        return;
    };
    let policy = policy(*policy_selector);
    let metadata = metadata(*metadata_selector);
    let Ok(Some(head)) = parse_request_head(request, MAX_HEAD_BYTES) else {
        return;
    };
    let contexts = SearchContexts::with_key([7; 32], 16);
    let ctx = Context {
        snapshot: &policy.snapshot,
        metadata: &metadata,
        peer: ([10, 0, 0, 7], 40000).into(),
        local: ([10, 0, 0, 1], 9200).into(),
        // As if a client certificate was verified: certificate rules are reached too.
        certificate_dn: Some("CN=fuzz-user,OU=ops,O=Example"),
        gate: &(),
        max_body_bytes: MAX_BODY_BYTES,
        contexts: &contexts,
        details: true,
        record_user: false,
    };
    let upstream_auth = metadata_selector & 0x80 != 0;
    let mut exchange = Exchange::new(std::time::Instant::now());
    let mut body_end = None;
    loop {
        match exchange.step(&ctx, &head, request, &NoCache) {
            Verdict::Deny(_) | Verdict::Missing(_) => return,
            Verdict::ReadBody => {
                if matches!(head.body, BodyFraming::Length(n) if n > MAX_BODY_BYTES) {
                    return; // answered 413 before reading
                }
                let mut body = BodyCollector::new(head.body, MAX_BODY_BYTES);
                let Ok(fed) = body.feed(&request[head.len..]) else {
                    return; // answered 400/413 and closed
                };
                if !fed.done {
                    return; // the connection would wait for the rest
                }
                body_end = Some(head.len + fed.consumed);
                let Ok(inspected) = body.finish(&head, request[..head.len].to_vec()) else {
                    return;
                };
                exchange.body_read(inspected, true);
            }
            Verdict::Verify(_, pending, user, password) => {
                let verdict = pending.key.verify(user.as_bytes(), password.as_bytes());
                exchange.verified(pending.key_id, verdict);
            }
            // No network here: the input chooses what the identity service says.
            Verdict::Ask(_, ask) => {
                let answer = match metadata_selector & 0x60 {
                    0x00 => Ok(Answer::Rejected),
                    0x20 => Err(Unavailable {
                        reason: "fuzz: down".into(),
                    }),
                    _ => Ok(Answer::Known {
                        groups: vec!["fuzz".into(), "ops".into()],
                    }),
                };
                exchange.answered(ask.service_id, ask.question, answer);
            }
            Verdict::Forward {
                target,
                block,
                body: rewritten,
                ..
            } => {
                let (head, inspected, target) = match exchange.outgoing(&head, target, rewritten) {
                    Ok(Outgoing::AsReceived(inspected, target)) => (head, inspected, target),
                    Ok(Outgoing::Rewritten(head, inspected, target)) => {
                        (*head, Some(inspected), target)
                    }
                    Err(e) => panic!("a rewritten body's head does not parse: {e:?}"),
                };
                let user = exchange.decided.user.clone();
                let run_as = match user.as_deref() {
                    // As `forward` does: a name that cannot be written is refused.
                    Some(user) if upstream_auth => match RunAs::new(user) {
                        Some(run_as) => Some(run_as),
                        None => return,
                    },
                    _ => None,
                };
                let identity = upstream_auth.then_some(UpstreamIdentity {
                    authorization: GATEWAY_AUTHORIZATION,
                    run_as,
                });
                let mut upstream = Vec::new();
                let body: &[u8] = match &inspected {
                    Some(inspected) => {
                        write_upstream_head(
                            &mut upstream,
                            &inspected.head,
                            &head,
                            target.as_deref(),
                            "10.0.0.7",
                            "node:9200",
                            identity,
                        );
                        &inspected.raw
                    }
                    None => {
                        write_upstream_head(
                            &mut upstream,
                            request,
                            &head,
                            target.as_deref(),
                            "10.0.0.7",
                            "node:9200",
                            identity,
                        );
                        let Some(body) = streamed_body(&head, &request[head.len..]) else {
                            return; // incomplete or broken: never completely forwarded
                        };
                        body
                    }
                };
                debug_assert!(body_end.is_none() || inspected.is_some());
                upstream.extend_from_slice(body);
                check_one_request(&head, &upstream, body.len());
                if upstream_auth {
                    check_identity(&upstream, user.as_deref());
                }
                check_indices(&policy, &metadata, block, &head, &upstream);
                if block.is_some() {
                    check_no_context_ids(&upstream);
                }
                return;
            }
        }
    }
}

/// Property 5: the gateway's credentials replace the client's, and the run-as user is the
/// authenticated one or none.
fn check_identity(upstream: &[u8], user: Option<&str>) {
    let head = parse_request_head(upstream, 4 * MAX_HEAD_BYTES)
        .ok()
        .flatten()
        .expect("checked by check_one_request");
    let values = |name: &str| -> Vec<&[u8]> {
        head.headers
            .iter()
            .filter(|f| f.name.get(upstream).eq_ignore_ascii_case(name.as_bytes()))
            .map(|f| f.value.get(upstream))
            .collect()
    };
    assert_eq!(values("authorization"), [GATEWAY_AUTHORIZATION.as_bytes()]);
    let run_as: Vec<&[u8]> = user.map(str::as_bytes).into_iter().collect();
    assert_eq!(values(RUN_AS_HEADER), run_as);
}

/// Property 4: the forwarded request continues or clears no scroll or point-in-time
/// context (none is recorded), and never took ids in a body out unread.
fn check_no_context_ids(upstream: &[u8]) {
    let head = parse_request_head(upstream, 4 * MAX_HEAD_BYTES)
        .ok()
        .flatten()
        .expect("checked by check_one_request");
    let target = head.target(upstream);
    let target = std::str::from_utf8(&target).expect("ASCII target");
    let Ok(classified) = classify(head.method, target) else {
        return;
    };
    let path = head.path_text(upstream);
    let Ok(path) = decode_part(std::str::from_utf8(&path).unwrap_or_default()) else {
        return;
    };
    let has_body = head.body != BodyFraming::None;
    let body = if has_body {
        match payload(&head, upstream) {
            Some(payload) => Some(payload),
            None => return, // a body that does not decode has no ids the node reads
        }
    } else {
        None
    };
    let query = head.query.map(|q| q.get(upstream));
    match ContextUse::read(&classified, &path, query, body.as_deref(), has_body) {
        Ok(ContextUse::Continue { ids, .. } | ContextUse::Clear { ids, .. }) => {
            assert!(
                ids.is_empty(),
                "forwarded with context ids {ids:?}: {target}"
            )
        }
        Ok(ContextUse::NeedsBody) => unreachable!("the body was given"),
        _ => {}
    }
}

/// The body bytes `forward::send_body` streams after the head, if complete.
fn streamed_body<'a>(head: &RequestHead, rest: &'a [u8]) -> Option<&'a [u8]> {
    match head.body {
        BodyFraming::None => Some(&[]),
        BodyFraming::Length(n) => rest.get(..usize::try_from(n).ok()?),
        BodyFraming::Chunked => {
            let progress = ChunkedDecoder::new().decode(rest, |_| {}).ok()?;
            progress.done.then(|| &rest[..progress.consumed])
        }
    }
}

/// Property 2: the forwarded bytes are exactly one request framed like the client's.
fn check_one_request(client: &RequestHead, upstream: &[u8], body_len: usize) {
    let head = match parse_request_head(upstream, 4 * MAX_HEAD_BYTES) {
        Ok(Some(head)) => head,
        other => panic!(
            "forwarded head does not parse ({other:?}): {}",
            String::from_utf8_lossy(upstream)
        ),
    };
    assert_eq!(head.method, client.method, "method changed");
    assert_eq!(head.body, client.body, "framing changed");
    assert_eq!(
        head.len + body_len,
        upstream.len(),
        "bytes outside the request"
    );
    let body = &upstream[head.len..];
    match head.body {
        BodyFraming::None => assert!(body.is_empty()),
        BodyFraming::Length(n) => assert_eq!(body.len() as u64, n),
        BodyFraming::Chunked => {
            let progress = ChunkedDecoder::new()
                .decode(body, |_| {})
                .expect("forwarded chunked body decodes");
            assert!(progress.done && progress.consumed == body.len());
        }
    }
}

/// Property 3, on the request as the node reads it from the forwarded bytes.
fn check_indices(
    policy: &Policy,
    metadata: &ClusterMetadata,
    block: Option<usize>,
    client: &RequestHead,
    upstream: &[u8],
) {
    let head = parse_request_head(upstream, 4 * MAX_HEAD_BYTES)
        .ok()
        .flatten()
        .expect("checked by check_one_request");
    let target = head.target(upstream);
    let target = std::str::from_utf8(&target).expect("ASCII target");
    let classified = classify(head.method, target)
        .unwrap_or_else(|e| panic!("forwarded target {target} does not classify: {e:?}"));
    let mut targets = Targets::from_path(&classified);
    if needs_body(&classified) && head.body != BodyFraming::None {
        let Some(payload) = payload(&head, upstream) else {
            return; // a body that does not decode never passed an `indices` rule
        };
        if targets.add_body(&classified, &payload).is_err() {
            return;
        }
    }
    let names = touched(&targets);
    let Some(position) = block else {
        // No block allowed it: only the "missing index" rewrite may go out, and it names
        // nothing that exists.
        if !policy.models.is_empty() {
            assert!(
                names.iter().all(|n| n.starts_with(".rf-none-")),
                "forwarded without an allow block: {target}"
            );
        }
        return;
    };
    let model = policy.models[position];
    assert!(!model.forbid, "a forbid block forwarded {target}");
    // Every forbid block before the one that allowed: no overlap at all.
    for earlier in &policy.models[..position] {
        let (true, Some(forbidden)) = (earlier.forbid, earlier.patterns) else {
            continue;
        };
        for name in &names {
            for pattern in forbidden {
                assert!(
                    !overlaps(name, pattern, metadata),
                    "{} {target}: `{name}` overlaps the forbidden `{pattern}`",
                    client.method.as_str()
                );
            }
        }
    }
    let Some(allowed) = model.patterns else {
        return;
    };
    assert!(
        !targets.opaque_indices,
        "uninspected indices forwarded: {target}"
    );
    for name in names.iter().filter(|n| !n.starts_with(".rf-none-")) {
        // (`.rf-none-…` is the gateway's name for "nothing granted": it matches no index.)
        assert!(
            allowed.iter().any(|p| grants(p, name)),
            "{} {target}: `{name}` is not allowed by {allowed:?}",
            client.method.as_str()
        );
    }
}

/// The forwarded body's payload (de-chunked, inflated), as the node reads it.
fn payload(head: &RequestHead, upstream: &[u8]) -> Option<Vec<u8>> {
    let body = &upstream[head.len..];
    let mut data = Vec::new();
    match head.body {
        BodyFraming::Chunked => {
            ChunkedDecoder::new()
                .decode(body, |d| data.extend_from_slice(d))
                .ok()?;
        }
        _ => data.extend_from_slice(body),
    }
    let encoding = ContentEncoding::from_header(head.header(upstream, "content-encoding")).ok()?;
    match encoding {
        ContentEncoding::Identity => Some(data),
        encoding => inflate_to_vec(encoding, &data, MAX_BODY_BYTES).ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::super::oracle::*;

    #[test]
    fn the_oracle_globs() {
        assert!(glob_match("logs-*", "logs-a") && !glob_match("logs-*", "log"));
        assert!(glob_match("a?c", "abc") && glob_match("*", ""));
        assert!(glob_covers("logs-*", "logs-a*") && !glob_covers("logs-a*", "logs-*"));
        assert!(!glob_covers("logs-?", "logs-*") && glob_covers("*", "?x*"));
        assert!(glob_covers("a?", "a?") && !is_remote("<x-{now/d{yyyy|+01:00}}>"));
        assert!(glob_overlap("secret*", "s*") && glob_overlap("*-private", "team*"));
        assert!(!glob_overlap("secret*", "logs-*") && glob_overlap("*", "x"));
        assert!(!glob_overlap("a?", "abc") && glob_overlap("a*c", "ab*"));
        assert_eq!(date_math_prefix("<logs-{now/d}>").as_deref(), Some("logs-"));
        assert!(!grants("logs-*", "logs-dc2:secret-1"));
    }

    /// Property 5 on a request that is forwarded: the client's credentials and run-as user
    /// are replaced (a broken writer makes `check_identity` panic here).
    #[test]
    fn upstream_credentials_replace_the_clients() {
        let mut input = vec![1 << 2, 0x81];
        input.extend_from_slice(b"GET /logs-a/_search HTTP/1.1\r\nHost: x\r\nAuthorization: Basic cmVhZGVyOnB3\r\nes-security-runas-user: admin\r\n\r\n");
        whole_path(&input);
    }

    #[test]
    fn every_generated_policy_loads() {
        for selector in 0..=u8::MAX {
            compile(selector);
        }
    }
}
