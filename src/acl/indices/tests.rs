use super::Narrowing;
use crate::acl::es_rules::EsView;
use crate::acl::test_support::compile;
use crate::acl::{Acl, Decision, NoCache, Request};
use crate::es::metadata::ClusterMetadata;
use crate::es::route::classify;
use crate::es::target::Targets;
use crate::http::request::parse_request_head;
use crate::http::Method;

fn metadata() -> ClusterMetadata {
    ClusterMetadata::from_resolve_response(
        br#"{"indices":[{"name":"logs-1"},{"name":"logs-2"},{"name":"secret"},{"name":"secret-1"},{"name":"team-private"}],
            "aliases":[{"name":"logs-all","indices":["logs-1","secret-1"]},{"name":"pub","indices":["logs-2"]}]}"#,
    )
    .unwrap()
}

/// The decision for `method path` (with `body`, if any) under `policy` (the blocks of a
/// `readonlyrest:` section), summarised: `allow:<block>`, `allow:<block>:path=a,b`,
/// `allow:<block>:sub=[a|-|]` (per sub-request: its list, `-` as written), `forbid:<block>`,
/// `deny`, `404`.
fn decide_with(
    acl: &Acl,
    metadata: &ClusterMetadata,
    method: Method,
    path: &str,
    body: Option<&[u8]>,
) -> String {
    let raw = format!("{} {path} HTTP/1.1\r\nHost: es\r\n\r\n", method.as_str());
    let head = parse_request_head(raw.as_bytes(), 1 << 20)
        .unwrap()
        .unwrap();
    let c = classify(method, path).unwrap();
    let mut targets = Targets::from_path(&c);
    if let Some(body) = body {
        targets.add_body(&c, body).unwrap();
    }
    let decoded = crate::es::index_name::decode_part(path.split('?').next().unwrap()).unwrap();
    let local = std::net::IpAddr::from([127, 0, 0, 1]);
    let mut request = Request::new(
        method,
        &decoded,
        raw.as_bytes(),
        &head.headers,
        local,
        local,
        Some(0),
    )
    .unwrap();
    // `None` is a request without a body: as in `proxy::decide`, there is nothing to wait for.
    request.es = Some(EsView {
        action: c.action,
        unknown: c.is_unknown(),
        targets: Some(&targets),
        metadata,
    });
    match acl.evaluate(&request, &NoCache) {
        Decision::Allow {
            block,
            narrowed: None,
            ..
        } => format!("allow:{}", block.unwrap_or("-")),
        Decision::Allow {
            block,
            narrowed: Some(narrowing),
            ..
        } => format!("allow:{}:{}", block.unwrap_or("-"), summary(&narrowing)),
        Decision::Forbid {
            block: Some(block), ..
        } => format!("forbid:{block}"),
        Decision::Forbid { block: None, .. } => "deny".into(),
        Decision::IndexNotFound => "404".into(),
        other => format!("{other:?}"),
    }
}

fn summary(n: &Narrowing) -> String {
    if let (Some(path), Some(_)) = (&n.path, &n.subrequests) {
        let subs = summary(&Narrowing {
            path: None,
            ..n.clone()
        });
        return format!("path={};{subs}", path.join(","));
    }
    match (&n.path, &n.subrequests) {
        (Some(path), None) => format!("path={}", path.join(",")),
        (None, None) if n.templates.is_some() => {
            format!("templates={}", n.templates.as_ref().unwrap().join(","))
        }
        (None, Some(subs)) => {
            let items: Vec<String> = subs
                .iter()
                .map(|s| s.as_ref().map_or("-".into(), |l| l.join(",")))
                .collect();
            format!("sub=[{}]", items.join("|"))
        }
        other => format!("{other:?}"),
    }
}

fn decide(policy: &str, method: Method, path: &str, body: Option<&[u8]>) -> String {
    let acl = compile(&format!("readonlyrest:\n  access_control_rules:\n{policy}"));
    decide_with(&acl, &metadata(), method, path, body)
}

const READER: &str = "  - name: reader\n    indices: [\"logs-*\", \"pub\"]\n";
const FORBID_SECRET: &str = "  - name: no-secret\n    type: forbid\n    indices: [\"secret*\"]\n";

/// The indices a `GET {path}` by a reader of `logs-*` is narrowed to; `None` when it passes
/// as written, `Err` with the decision when it is not allowed.
fn narrowed(path: &str) -> Result<Option<Vec<String>>, String> {
    let acl = compile(
        "readonlyrest:\n  access_control_rules:\n  - name: reader\n    indices: [\"logs-*\"]\n",
    );
    let metadata = ClusterMetadata::from_resolve_response(
        br#"{"indices":[{"name":"logs-1"},{"name":"logs-2"},{"name":"secret"}]}"#,
    )
    .unwrap();
    match decide_with(&acl, &metadata, Method::Get, path, None).as_str() {
        "allow:reader" => Ok(None),
        text => match text.strip_prefix("allow:reader:path=") {
            Some(list) => Ok(Some(list.split(',').map(str::to_string).collect())),
            None if text == "deny" => Err("Forbid".into()),
            None if text == "404" => Err("IndexNotFound".into()),
            None => Err(text.into()),
        },
    }
}

fn list(names: &[&str]) -> Result<Option<Vec<String>>, String> {
    Ok(Some(names.iter().map(|n| n.to_string()).collect()))
}

#[test]
fn narrowed_lists_keep_first_occurrences() {
    assert_eq!(
        narrowed("/*,*,logs-*,*/_search"),
        list(&["logs-1", "logs-2", "logs-*"])
    );
    assert_eq!(
        narrowed("/logs-2,secret,logs-2,*/_search"),
        list(&["logs-2", "logs-1"])
    );
    assert_eq!(narrowed("/logs-*,logs-1/_search"), Ok(None));
}

#[test]
fn exclusions_apply_to_written_and_expanded_names() {
    // Literal and wildcard exclusions; without a wildcard left they leave the list.
    assert_eq!(narrowed("/logs-1,*,-logs-1/_search"), list(&["logs-2"]));
    assert_eq!(narrowed("/*,-l*2,-x*/_search"), list(&["logs-1"]));
    // With a wildcard left they stay for the node to apply.
    assert_eq!(
        narrowed("/logs-*,secret,-logs-2,-l*1/_search"),
        list(&["logs-*", "-logs-2", "-l*1"])
    );
    // Only exclusions left: nothing allowed is named.
    assert_eq!(
        narrowed("/secret,*,-logs-*/_search"),
        Err("IndexNotFound".into())
    );
    // A wildcard after it does not keep an exclusion: only one before it does (else the
    // node reads `-secret` after `logs-1` as a name; found by the whole-path fuzzer).
    assert_eq!(
        narrowed("/*,-secret,logs-*/_search"),
        list(&["logs-1", "logs-2", "logs-*"])
    );
}

/// Wildcard exclusions times written names, both from the path, are bounded
/// (`MAX_EXCLUSION_WORK`): past it the block does not match instead of costing O(path²).
#[test]
fn exclusion_work_is_bounded() {
    let path = |names: usize, exclusions: usize| {
        let mut path = String::from("/logs-*,secret");
        for i in 0..names {
            path.push_str(&format!(",logs-{i:04}"));
        }
        for i in 0..exclusions {
            path.push_str(&format!(",-*{i:04}*z"));
        }
        path + "/_search"
    };
    // 10 names (90 bytes) x 10 exclusions (80 bytes): narrowed, every exclusion kept.
    let small = narrowed(&path(10, 10)).unwrap().unwrap();
    assert_eq!(small.len(), 1 + 10 + 10);
    // 1000 x 1000 (9 KB x 8 KB): refused before any of the 10^6 pairs is matched.
    let big = narrowed(&path(1000, 1000)).map(|list| list.map(|names| names.len()));
    assert_eq!(big, Err("Forbid".into()), "(the number of names kept)");
}

#[test]
fn forbid_blocks_match_on_any_overlap() {
    let policy = format!("{FORBID_SECRET}{READER}  - name: admin\n    auth_key: a:a\n");
    let cases: &[(Method, &str, Option<&[u8]>, &str)] = &[
        // Mixed with allowed names: the forbid block still matches.
        (Method::Get, "/logs-1,secret-1/_search", None, "forbid:no-secret"),
        (Method::Delete, "/secret-x,other*", None, "forbid:no-secret"),
        // A wildcard that could reach a forbidden name.
        (Method::Get, "/s*/_search", None, "forbid:no-secret"),
        (Method::Get, "/*/_search", None, "forbid:no-secret"),
        (Method::Get, "/_search", None, "forbid:no-secret"),
        // An alias with a forbidden member, by name or through a wildcard.
        (Method::Get, "/logs-all/_search", None, "forbid:no-secret"),
        // Remote and date math names the block cannot rule out.
        (Method::Get, "/dc2:secret-1/_search", None, "forbid:no-secret"),
        (Method::Get, "/dc2:*/_search", None, "forbid:no-secret"),
        (Method::Get, "/%3Csecret-%7Bnow%2Fd%7D%3E/_search", None, "forbid:no-secret"),
        (
            Method::Get,
            "/%3Clogs-%7Bnow%2Fd%7BEurope%2FParis%7D%7D%3E/_search",
            None,
            "forbid:no-secret",
        ),
        // Bodies.
        (
            Method::Post,
            "/_msearch",
            Some(b"{\"index\":\"secret-1,logs-1\"}\n{}\n"),
            "forbid:no-secret",
        ),
        (
            Method::Post,
            "/_mget",
            Some(br#"{"docs":[{"_index":"logs-1","_id":"1"},{"_index":"secret","_id":"2"}]}"#),
            "forbid:no-secret",
        ),
        (
            Method::Post,
            "/_bulk",
            Some(b"{\"index\":{\"_index\":\"logs-1\"}}\n{}\n{\"delete\":{\"_index\":\"secret\",\"_id\":\"1\"}}\n"),
            "forbid:no-secret",
        ),
        // Not touching a forbidden name: the next blocks decide.
        (Method::Get, "/logs-1/_search", None, "allow:reader"),
        // `logs-*` also expands to the alias `logs-all`, which holds `secret-1`.
        (Method::Get, "/logs-*/_search", None, "forbid:no-secret"),
        (Method::Get, "/logs-1*/_search", None, "allow:reader"),
        (Method::Get, "/%3Clogs-%7Bnow%2Fd%7D%3E/_search", None, "allow:reader"),
        (Method::Get, "/pub/_search", None, "allow:reader"),
    ];
    for (method, path, body, expected) in cases {
        assert_eq!(
            decide(&policy, *method, path, *body),
            *expected,
            "{} {path}",
            method.as_str()
        );
    }
    // An index-less request matches the forbid block (ReadonlyREST's rule passes those)
    // unless it must involve indices.
    assert_eq!(decide(&policy, Method::Get, "/", None), "forbid:no-secret");
    let must = "  - name: no-secret\n    type: forbid\n    indices: {patterns: [\"secret*\"], must_involve_indices: true}\n  - name: all\n    auth_key: a:a\n  - name: anon\n    methods: [GET]\n";
    assert_eq!(decide(must, Method::Get, "/", None), "allow:anon");
    assert_eq!(
        decide(must, Method::Get, "/secret/_doc/1", None),
        "forbid:no-secret"
    );
}

#[test]
fn local_patterns_never_grant_remote_names() {
    let remote = "  - name: remote-reader\n    indices: [\"logs-*\", \"dc*:logs-*\"]\n";
    let cases = [
        ("/logs-dc2:secret-1/_search", READER, "404"),
        ("/logs-*:*/_search", READER, "404"),
        (
            "/logs-1,logs-dc2:secret-1/_search",
            READER,
            "allow:reader:path=logs-1",
        ),
        ("/dc2:logs-1/_search", remote, "allow:remote-reader"),
        ("/dc2:logs-*,logs-1/_search", remote, "allow:remote-reader"),
        ("/dc2:secret/_search", remote, "404"),
        ("/other:logs-1/_search", remote, "404"),
        ("/*:logs-1/_search", remote, "404"),
    ];
    for (path, policy, expected) in cases {
        assert_eq!(decide(policy, Method::Get, path, None), expected, "{path}");
    }
    // A remote write is never granted by a local pattern.
    let writer = "  - name: writer\n    indices: [\"logs-*\"]\n";
    assert_eq!(
        decide(writer, Method::Put, "/logs-dc2:x/_doc/1", None),
        "deny"
    );
}

#[test]
fn date_math_is_checked_by_the_names_it_stands_for() {
    let today = crate::es::date_math::resolve(
        "<logs-{now/d}>",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64,
    )
    .unwrap();
    let literal = format!("  - name: today\n    indices: [\"{today}\"]\n");
    // Unless it is within two minutes of midnight, both evaluations agree.
    let path = "/%3Clogs-%7Bnow%2Fd%7D%3E/_search";
    let decision = decide(&literal, Method::Get, path, None);
    assert!(decision == "allow:today" || decision == "404", "{decision}");
    assert_eq!(
        decide(
            READER,
            Method::Put,
            "/%3Clogs-%7Bnow%2Fd%7D%3E/_doc/1",
            None
        ),
        "allow:reader"
    );
    assert_eq!(
        decide(
            READER,
            Method::Put,
            "/%3Csecret-%7Bnow%2Fd%7D%3E/_doc/1",
            None
        ),
        "deny"
    );
    // Not evaluable (a region time zone): never granted.
    assert_eq!(
        decide(
            READER,
            Method::Put,
            "/%3Clogs-%7Bnow%2Fd%7Byyyy%7CEurope%2FParis%7D%7D%3E/_doc/1",
            None
        ),
        "deny"
    );
}

#[test]
fn msearch_and_mget_narrow_each_subrequest() {
    let body = b"{\"index\":\"logs-1\"}\n{}\n{\"index\":\"secret,logs-2\"}\n{}\n{\"index\":\"secret\"}\n{}\n{}\n{}\n";
    assert_eq!(
        decide(READER, Method::Post, "/_msearch", Some(body)),
        // The search without an index reads all indices: narrowed once, in the path. The
        // alias `logs-all` is granted by name, as in ReadonlyREST.
        "allow:reader:path=logs-1,logs-2,logs-all,pub;sub=[-|logs-2||-]"
    );
    let all_allowed = b"{\"index\":\"logs-1\"}\n{}\n{\"index\":\"logs-*\"}\n{}\n";
    assert_eq!(
        decide(READER, Method::Post, "/_msearch", Some(all_allowed)),
        "allow:reader"
    );
    let mget =
        br#"{"docs":[{"_index":"logs-1","_id":"1"},{"_index":"secret","_id":"2"}],"ids":["3"]}"#;
    assert_eq!(
        decide(READER, Method::Post, "/logs-2/_mget", Some(mget)),
        "allow:reader:sub=[-||-]"
    );
}

#[test]
fn names_and_bulk_actions_in_forbid_blocks_match_on_any() {
    let repos = "  - name: no-prod-repo\n    type: forbid\n    repositories: [\"prod*\"]\n  - name: all\n    methods: [GET, PUT, POST, DELETE]\n";
    assert_eq!(
        decide(repos, Method::Get, "/_snapshot/dev,prod-1", None),
        "forbid:no-prod-repo"
    );
    assert_eq!(
        decide(repos, Method::Get, "/_snapshot", None),
        "forbid:no-prod-repo"
    );
    assert_eq!(
        decide(repos, Method::Get, "/_snapshot/dev", None),
        "allow:all"
    );
    let no_deletes = "  - name: no-deletes\n    type: forbid\n    actions: [\"@delete\"]\n  - name: all\n    methods: [POST]\n";
    let mixed =
        b"{\"index\":{\"_index\":\"a\"}}\n{}\n{\"delete\":{\"_index\":\"a\",\"_id\":\"1\"}}\n";
    assert_eq!(
        decide(no_deletes, Method::Post, "/_bulk", Some(mixed)),
        "forbid:no-deletes"
    );
}

/// Random policies (allow and forbid blocks, methods, local and remote patterns) against
/// random requests (path lists with wildcards, aliases, remote names, date math and
/// exclusions; writes; `_msearch` and `_mget` bodies). The property, checked with the
/// independent oracle of `fuzzing::oracle`: what the gateway forwards names only what the
/// allow block that matched grants, and nothing a forbid block before it (whose other rules
/// held) could touch.
#[test]
fn randomized_policies_never_forward_what_they_do_not_grant() {
    use crate::fuzzing::oracle::{grants, overlaps};
    const PATTERNS: [&str; 8] = [
        "logs-*",
        "logs-1",
        "pub",
        "secret*",
        "s*",
        "*-private",
        "dc*:logs-*",
        "*",
    ];
    const NAMES: [&str; 16] = [
        "logs-1",
        "logs-2",
        "logs-*",
        "secret-1",
        "s*",
        "*",
        "_all",
        "logs-all",
        "pub",
        "team-private",
        "dc2:logs-1",
        "dc2:secret-1",
        "logs-dc2:secret-1",
        "%3Clogs-%7Bnow%2Fd%7D%3E",
        "%3Csecret-%7Bnow%2Fd%7D%3E",
        "-logs-2",
    ];
    let metadata = metadata();
    let mut seed: u64 = 0x2545F4914F6CDD1D;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let mut forwarded = 0;
    for _ in 0..200 {
        // (name, forbid, method, patterns)
        type ModelBlock = (
            String,
            bool,
            Option<&'static str>,
            Option<Vec<&'static str>>,
        );
        let mut blocks: Vec<ModelBlock> = Vec::new();
        let mut yaml = String::from("readonlyrest:\n  access_control_rules:\n");
        for b in 0..(1 + next(4)) {
            let forbid = next(3) == 0;
            let method = (next(3) == 0).then(|| ["GET", "POST", "PUT"][next(3) as usize]);
            let patterns = (forbid || next(4) != 0).then(|| {
                let mut list: Vec<&str> = (0..1 + next(2))
                    .map(|_| PATTERNS[next(PATTERNS.len() as u64) as usize])
                    .collect();
                list.dedup();
                list
            });
            if method.is_none() && patterns.is_none() {
                continue;
            }
            yaml.push_str(&format!(
                "  - name: b{b}\n    type: {}\n",
                if forbid { "forbid" } else { "allow" }
            ));
            if let Some(m) = method {
                yaml.push_str(&format!("    methods: [{m}]\n"));
            }
            if let Some(p) = &patterns {
                let quoted: Vec<String> = p.iter().map(|p| format!("\"{p}\"")).collect();
                yaml.push_str(&format!("    indices: [{}]\n", quoted.join(", ")));
            }
            blocks.push((format!("b{b}"), forbid, method, patterns));
        }
        if blocks.is_empty() {
            continue;
        }
        let acl = compile(&yaml);
        for _ in 0..30 {
            let pick = |next: &mut dyn FnMut(u64) -> u64| {
                let count = 1 + next(3) as usize;
                let list: Vec<&str> = (0..count)
                    .map(|_| NAMES[next(NAMES.len() as u64) as usize])
                    .collect();
                list.join(",")
            };
            let (method, path, body): (Method, String, Option<Vec<u8>>) = match next(4) {
                0 => (Method::Get, format!("/{}/_search", pick(&mut next)), None),
                1 => {
                    let name = NAMES[next(NAMES.len() as u64) as usize];
                    (Method::Put, format!("/{name}/_doc/1"), None)
                }
                2 => {
                    let mut body = String::new();
                    for _ in 0..1 + next(3) {
                        let list = pick(&mut next)
                            .replace("%3C", "<")
                            .replace("%7B", "{")
                            .replace("%2F", "/")
                            .replace("%7D", "}")
                            .replace("%3E", ">");
                        body.push_str(&format!("{{\"index\":\"{list}\"}}\n{{}}\n"));
                    }
                    (Method::Post, "/_msearch".into(), Some(body.into_bytes()))
                }
                _ => {
                    let mut docs = Vec::new();
                    for i in 0..1 + next(3) {
                        let name = ["logs-1", "secret-1", "pub", "logs-all"][next(4) as usize];
                        docs.push(format!("{{\"_index\":\"{name}\",\"_id\":\"{i}\"}}"));
                    }
                    let body = format!("{{\"docs\":[{}]}}", docs.join(","));
                    (Method::Post, "/_mget".into(), Some(body.into_bytes()))
                }
            };
            let Ok(c) = classify(method, &path) else {
                continue; // an exclusion where Elasticsearch refuses it, say
            };
            let decision = decide_with(&acl, &metadata, method, &path, body.as_deref());
            let Some(rest) = decision.strip_prefix("allow:") else {
                continue;
            };
            let block_name = rest.split(':').next().unwrap();
            let position = blocks.iter().position(|b| b.0 == block_name).unwrap();
            // What goes out: the path's names, or each sub-request's, as narrowed.
            let mut targets = Targets::from_path(&c);
            if let Some(body) = &body {
                targets.add_body(&c, body).unwrap();
            }
            let mut out: Vec<String> = Vec::new();
            let narrowing = rest.split_once(':').map(|(_, n)| n);
            // The path's list (narrowed, else as written) for searches without their own.
            let (path_list, subs) = match narrowing {
                Some(n) if n.starts_with("path=") => {
                    let (path, subs) = n["path=".len()..]
                        .split_once(';')
                        .unwrap_or((n["path=".len()..].into(), ""));
                    (
                        Some(path.to_string()),
                        subs.strip_prefix("sub=[")
                            .map(|s| s.trim_end_matches(']').to_string()),
                    )
                }
                Some(n) if n.starts_with("sub=[") => {
                    (None, Some(n["sub=[".len()..n.len() - 1].to_string()))
                }
                _ => (None, None),
            };
            let defaults: Vec<String> = match &path_list {
                Some(list) => list
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect(),
                None if targets.subrequest_defaults.is_empty() => vec!["*".into()],
                None => targets
                    .subrequest_defaults
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
            };
            match (path_list.is_some(), subs) {
                (_, Some(subs)) => {
                    for (i, list) in subs.split('|').enumerate() {
                        match list {
                            "-" if targets.subrequests[i].is_empty() => {
                                out.extend(defaults.clone())
                            }
                            "-" => out.extend(targets.subrequests[i].iter().map(|s| s.to_string())),
                            "" => {}
                            l => out.extend(l.split(',').map(str::to_string)),
                        }
                    }
                }
                (true, None) => out.extend(defaults.clone()),
                _ if !targets.subrequests.is_empty() => {
                    for list in &targets.subrequests {
                        if list.is_empty() {
                            out.extend(defaults.clone());
                        }
                        out.extend(list.iter().map(|s| s.to_string()));
                    }
                }
                _ => {
                    out.extend(targets.indices.iter().map(|i| i.name.to_string()));
                    if targets.all_indices {
                        out.push("*".into());
                    }
                }
            }
            forwarded += 1;
            let out: Vec<String> = out
                .into_iter()
                .filter(|n| !n.starts_with('-'))
                .map(|n| if n == "_all" { "*".into() } else { n })
                .collect();
            let (_, _, _, granted) = &blocks[position];
            let applies =
                |method_rule: &Option<&str>| method_rule.is_none_or(|m| m == method.as_str());
            for name in &out {
                if let Some(patterns) = granted {
                    assert!(
                        patterns.iter().any(|p| grants(p, name)),
                        "{yaml}\n{} {path} {:?}: forwarded `{name}` not granted by {block_name} ({decision})",
                        method.as_str(),
                        body.as_ref().map(|b| String::from_utf8_lossy(b).into_owned())
                    );
                }
                for (forbid_name, forbid, method_rule, patterns) in &blocks[..position] {
                    let (true, Some(patterns)) = (*forbid, patterns) else {
                        continue;
                    };
                    if !applies(method_rule) {
                        continue;
                    }
                    for p in patterns {
                        assert!(
                            !overlaps(name, p, &metadata),
                            "{yaml}\n{} {path}: forwarded `{name}` overlaps `{p}` of {forbid_name} ({decision})",
                            method.as_str()
                        );
                    }
                }
            }
        }
    }
    assert!(forwarded > 500, "only {forwarded} requests were forwarded");
}

#[test]
fn template_listings_show_only_templates_whose_patterns_are_granted() {
    use crate::es::metadata::TemplateKind::*;
    let mut metadata = metadata();
    for (kind, name, patterns) in [
        (Composable, "logs-t", vec!["logs-*"]),
        (Composable, "secret-t", vec!["secret-*"]),
        (Composable, "mixed", vec!["logs-x*", "secret-x*"]),
        (Legacy, "old-logs", vec!["logs-old-*"]),
    ] {
        let patterns = patterns.into_iter().map(str::to_string).collect();
        metadata
            .templates
            .insert((kind, name.to_string()), patterns);
    }
    let decide = |policy: &str, path: &str| {
        let acl = compile(&format!("readonlyrest:\n  access_control_rules:\n{policy}"));
        decide_with(&acl, &metadata, Method::Get, path, None)
    };
    assert_eq!(
        decide(READER, "/_index_template"),
        "allow:reader:templates=logs-t"
    );
    assert_eq!(
        decide(READER, "/_index_template/s*"),
        "allow:reader:templates="
    );
    assert_eq!(
        decide(READER, "/_cat/templates"),
        "allow:reader:templates=logs-t,old-logs"
    );
    assert_eq!(
        decide(READER, "/_template"),
        "allow:reader:templates=old-logs"
    );
    let forbid = format!("{FORBID_SECRET}{READER}");
    assert_eq!(decide(&forbid, "/_index_template"), "forbid:no-secret");
    assert_eq!(
        decide(&forbid, "/_template"),
        "allow:reader:templates=old-logs"
    );
}

/// A search body whose query reads `index` through a terms lookup.
fn lookup_body(index: &str) -> Vec<u8> {
    format!(
        r#"{{"query":{{"bool":{{"filter":[{{"terms":{{"user":{{"index":"{index}","id":"1","path":"name"}}}}}}]}}}}}}"#
    )
    .into_bytes()
}

#[test]
fn indices_read_from_inside_a_query_must_be_granted_as_written() {
    let secret = lookup_body("secret-1");
    let logs = lookup_body("logs-2");
    let cases: &[(Method, &str, &[u8], &str)] = &[
        // Issue 10: a field of `secret-1/_doc/1` printed through `_validate/query?explain`.
        (Method::Post, "/logs-*/_validate/query?explain", &secret, "deny"),
        (Method::Post, "/logs-*/_validate/query?explain", &logs, "allow:reader"),
        (Method::Get, "/logs-1/_search", &secret, "deny"),
        (Method::Post, "/logs-1/_count", &secret, "deny"),
        (Method::Get, "/logs-1/_explain/1", &secret, "deny"),
        (Method::Post, "/logs-1/_delete_by_query", &secret, "deny"),
        (Method::Post, "/logs-1/_field_caps?fields=*", br#"{"index_filter":{"terms":{"f":{"index":"secret-1","id":"1","path":"p"}}}}"#, "deny"),
        // The path is still narrowed; the lookup is not, it must be granted.
        (Method::Get, "/logs-1,secret/_search", &logs, "allow:reader:path=logs-1"),
        (Method::Get, "/logs-1,secret/_search", &secret, "deny"),
        // A wildcard lookup is granted only if the block grants the whole of it.
        (Method::Get, "/logs-1/_search", &lookup_body("logs-*"), "allow:reader"),
        (Method::Get, "/logs-1/_search", &lookup_body("*"), "deny"),
        // An alias granted by name, as in the path.
        (Method::Get, "/logs-1/_search", &lookup_body("pub"), "allow:reader"),
        // A field named `index` names no index.
        (Method::Get, "/logs-1/_search", br#"{"query":{"term":{"index":"secret-1"}}}"#, "allow:reader"),
        // The searches of an `_msearch` are read too.
        (Method::Post, "/_msearch", b"{\"index\":\"logs-1\"}\n{\"query\":{\"terms\":{\"f\":{\"index\":\"secret-1\",\"id\":\"1\",\"path\":\"p\"}}}}\n", "deny"),
        (Method::Post, "/_msearch", b"{\"index\":\"logs-1\"}\n{\"query\":{\"terms\":{\"f\":{\"index\":\"logs-2\",\"id\":\"1\",\"path\":\"p\"}}}}\n", "allow:reader"),
    ];
    for (method, path, body, expected) in cases {
        assert_eq!(
            decide(READER, *method, path, Some(body)),
            *expected,
            "{} {path} {}",
            method.as_str(),
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn forbid_blocks_match_what_a_query_reads_from_inside() {
    let policy = format!("{FORBID_SECRET}{READER}");
    let cases: &[(&str, &[u8], &str)] = &[
        (
            "/logs-1/_search",
            &lookup_body("secret-1"),
            "forbid:no-secret",
        ),
        ("/logs-1/_search", &lookup_body("s*"), "forbid:no-secret"),
        // The alias `logs-all` holds `secret-1`.
        (
            "/logs-1/_search",
            &lookup_body("logs-all"),
            "forbid:no-secret",
        ),
        ("/logs-1/_search", &lookup_body("logs-2"), "allow:reader"),
        (
            "/logs-1/_search",
            br#"{"query":{"more_like_this":{"like":[{"_index":"secret","_id":"1"}]}}}"#,
            "forbid:no-secret",
        ),
        (
            "/logs-1/_search",
            br#"{"query":{"geo_shape":{"loc":{"indexed_shape":{"index":"secret","id":"1"}}}}}"#,
            "forbid:no-secret",
        ),
        // A wrapper query is not read: it stands for every index.
        (
            "/logs-1/_search",
            br#"{"query":{"wrapper":{"query":"e30="}}}"#,
            "forbid:no-secret",
        ),
    ];
    for (path, body, expected) in cases {
        assert_eq!(
            decide(&policy, Method::Get, path, Some(body)),
            *expected,
            "{path} {}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn a_stored_search_template_needs_every_index() {
    let all = "  - name: all\n    indices: [\"*\"]\n";
    let stored = br#"{"id":"my-template","params":{"q":"x"}}"#;
    assert_eq!(
        decide(
            READER,
            Method::Post,
            "/logs-1/_search/template",
            Some(stored)
        ),
        "deny"
    );
    assert_eq!(
        decide(all, Method::Post, "/logs-1/_search/template", Some(stored)),
        "allow:all"
    );
    let forbid_then_all = format!("{FORBID_SECRET}{all}");
    assert_eq!(
        decide(
            &forbid_then_all,
            Method::Post,
            "/logs-1/_search/template",
            Some(stored)
        ),
        "forbid:no-secret"
    );
    // The same for mustache text and for `_msearch/template`.
    let text = br#"{"source":"{\"query\":{\"match_all\":{}}}"}"#;
    assert_eq!(
        decide(READER, Method::Post, "/logs-1/_search/template", Some(text)),
        "deny"
    );
    let msearch = b"{\"index\":\"logs-1\"}\n{\"id\":\"my-template\"}\n";
    assert_eq!(
        decide(READER, Method::Post, "/_msearch/template", Some(msearch)),
        "deny"
    );
    // An inline template is read: what it looks up must be granted.
    let inline = |index: &str| {
        format!(
            r#"{{"source":{{"query":{{"terms":{{"f":{{"index":"{index}","id":"{{{{id}}}}","path":"p"}}}}}}}},"params":{{"id":"1"}}}}"#
        )
    };
    assert_eq!(
        decide(
            READER,
            Method::Post,
            "/logs-1/_search/template",
            Some(inline("logs-2").as_bytes())
        ),
        "allow:reader"
    );
    assert_eq!(
        decide(
            READER,
            Method::Post,
            "/logs-1/_search/template",
            Some(inline("secret-1").as_bytes())
        ),
        "deny"
    );
    assert_eq!(
        decide(
            READER,
            Method::Post,
            "/logs-1/_search/template",
            Some(inline("{{index}}").as_bytes())
        ),
        "deny"
    );
}

/// A cluster with ingest pipelines: `add-field` cannot reroute, `reroute-to-secret` can.
/// `logs-routed` (and through it the alias `logs-alias`) and the data stream `logs-ds` run
/// `reroute-to-secret` by default, `logs-safe` runs `add-field`; new `logs-new-*` indices
/// would get `reroute-to-secret` from a component template, new `logs-plain-*` ones
/// `add-field` from a legacy template.
fn ingest_metadata() -> ClusterMetadata {
    let mut m = ClusterMetadata::from_resolve_response(
        br#"{"indices":[{"name":"logs-1"},{"name":"logs-routed","aliases":["logs-alias"]},
            {"name":"logs-safe"},{"name":"secret"},
            {"name":".ds-logs-ds-000001","attributes":["hidden"],"data_stream":"logs-ds"}],
            "aliases":[{"name":"logs-alias","indices":["logs-routed"]}],
            "data_streams":[{"name":"logs-ds","backing_indices":[".ds-logs-ds-000001"]}]}"#,
    )
    .unwrap();
    m.add_index_settings(
        br#"{"logs-routed":{"settings":{"index.default_pipeline":"reroute-to-secret"}},
            "logs-safe":{"settings":{"index.default_pipeline":"add-field","index.final_pipeline":"add-field"}},
            ".ds-logs-ds-000001":{"settings":{"index.final_pipeline":"reroute-to-secret"}}}"#,
    )
    .unwrap();
    m.add_templates(
        crate::es::metadata::TemplateKind::Composable,
        br#"{"index_templates":[{"name":"new","index_template":{"index_patterns":["logs-new-*"],"composed_of":["routing"]}}]}"#,
    )
    .unwrap();
    m.add_templates(
        crate::es::metadata::TemplateKind::Legacy,
        br#"{"plain":{"index_patterns":["logs-plain-*"],"settings":{"index":{"default_pipeline":"add-field"}}}}"#,
    )
    .unwrap();
    m.add_component_templates(
        br#"{"component_templates":[{"name":"routing","component_template":{"template":{"settings":{"index":{"default_pipeline":"reroute-to-secret"}}}}}]}"#,
    )
    .unwrap();
    m.add_pipelines(
        br#"{"add-field":{"processors":[{"set":{"field":"tag","value":"x"}}]},
            "reroute-to-secret":{"processors":[{"set":{"field":"_index","value":"secret"}}]}}"#,
    )
    .unwrap();
    m
}

const WRITER: &str = "  - name: writer\n    indices: [\"logs-*\"]\n";
const EVERYTHING: &str = "  - name: all\n    indices: [\"*\"]\n";

/// (method, path, body, by the `logs-*` writer, by the `*` writer, with `secret*` forbidden)
type PipelineCase = (
    Method,
    &'static str,
    Option<Vec<u8>>,
    &'static str,
    &'static str,
    &'static str,
);

/// Decides every case under the three policies its columns name.
fn check_pipeline_cases(cases: &[PipelineCase]) {
    let writer = compile(&format!("readonlyrest:\n  access_control_rules:\n{WRITER}"));
    let all = compile(&format!(
        "readonlyrest:\n  access_control_rules:\n{EVERYTHING}"
    ));
    let forbid = compile(&format!(
        "readonlyrest:\n  access_control_rules:\n{FORBID_SECRET}{EVERYTHING}"
    ));
    let m = ingest_metadata();
    for (method, path, body, by_writer, by_all, with_forbid) in cases {
        let decide = |acl: &Acl| decide_with(acl, &m, *method, path, body.as_deref());
        let what = format!(
            "{} {path} {:?}",
            method.as_str(),
            body.as_deref().map(String::from_utf8_lossy)
        );
        assert_eq!(decide(&writer), *by_writer, "logs-* writer: {what}");
        assert_eq!(decide(&all), *by_all, "* writer: {what}");
        assert_eq!(decide(&forbid), *with_forbid, "secret* forbidden: {what}");
    }
}

#[test]
fn pipelines_that_may_reroute_need_a_grant_of_every_index() {
    let bulk = |index: &str, pipeline: &str| {
        Some(format!("{{\"index\":{{\"_index\":\"{index}\"{pipeline}}}}}\n{{}}\n").into_bytes())
    };
    let with = |name: &str| format!(",\"pipeline\":\"{name}\"");
    let (w, a, f) = ("allow:writer", "allow:all", "forbid:no-secret");
    #[rustfmt::skip]
    let cases: &[PipelineCase] = &[
        (Method::Put, "/logs-1/_doc/1", None, w, a, a),
        (Method::Put, "/logs-1/_doc/1?pipeline=add-field", None, w, a, a),
        (Method::Put, "/logs-1/_doc/1?pipeline=_none", None, w, a, a),
        (Method::Put, "/logs-1/_doc/1?pipeline=reroute-to-secret", None, "deny", a, f),
        (Method::Put, "/logs-1/_create/1?pipeline=reroute-to-secret", None, "deny", a, f),
        (Method::Put, "/logs-1/_doc/1?pipeline=no-such", None, "deny", a, f),
        (Method::Put, "/logs-1/_doc/1?pipeline=", None, "deny", a, f),
        // The index's own pipelines.
        (Method::Put, "/logs-routed/_doc/1", None, "deny", a, f),
        (Method::Post, "/logs-routed/_update/1", None, "deny", a, f),
        (Method::Put, "/logs-safe/_doc/1", None, w, a, a),
        (Method::Post, "/logs-alias/_doc", None, "deny", a, f),
        (Method::Post, "/logs-ds/_doc", None, "deny", a, f),
        (Method::Post, "/logs-*/_update_by_query", None, "deny", a, f),
        (Method::Post, "/logs-s*/_update_by_query?pipeline=add-field", None, w, a, a),
        (Method::Post, "/_all/_update_by_query", None, "deny", a, f),
        // Names that would be created: what the matching templates set.
        (Method::Post, "/logs-new-1/_doc", None, "deny", a, f),
        (Method::Post, "/logs-plain-1/_doc", None, w, a, a),
        (Method::Post, "/logs-other/_doc", None, w, a, a),
        // No pipeline runs: deletes, reads, simulations.
        (Method::Delete, "/logs-routed/_doc/1", None, w, a, a),
        (Method::Get, "/logs-routed/_search", None, w, a, a),
        (Method::Post, "/_ingest/pipeline/reroute-to-secret/_simulate", None, w, a, f),
        // Bulk: items' pipelines, the parameter, the indices written.
        (Method::Post, "/_bulk", bulk("logs-1", ""), w, a, a),
        (Method::Post, "/_bulk", bulk("logs-1", &with("add-field")), w, a, a),
        (Method::Post, "/_bulk", bulk("logs-1", &with("reroute-to-secret")), "deny", a, f),
        (Method::Post, "/_bulk", bulk("logs-1", &with("no-such")), "deny", a, f),
        (Method::Post, "/_bulk?pipeline=reroute-to-secret", bulk("logs-1", ""), "deny", a, f),
        (Method::Post, "/_bulk", bulk("logs-routed", ""), "deny", a, f),
        (Method::Post, "/_bulk", bulk("logs-new-1", ""), "deny", a, f),
    ];
    check_pipeline_cases(cases);
}

/// A request that sets a default or final pipeline (or copies an index's) makes later writes
/// run it before the metadata knows: it is decided as if it ran it.
#[test]
fn pipelines_set_in_settings_need_a_grant_of_every_index() {
    let body = |text: &str| Some(text.as_bytes().to_vec());
    let (w, a, f) = ("allow:writer", "allow:all", "forbid:no-secret");
    #[rustfmt::skip]
    let cases: &[PipelineCase] = &[
        // Index creation, every spelling.
        (Method::Put, "/logs-x", body(r#"{"settings":{"index.default_pipeline":"reroute-to-secret"}}"#), "deny", a, f),
        (Method::Put, "/logs-x", body(r#"{"settings":{"index":{"default_pipeline":"reroute-to-secret"}}}"#), "deny", a, f),
        (Method::Put, "/logs-x", body(r#"{"settings":{"final_pipeline":"reroute-to-secret"}}"#), "deny", a, f),
        (Method::Put, "/logs-x", body(r#"{"settings":{"index":{"final_pipeline":"no-such"}}}"#), "deny", a, f),
        (Method::Put, "/logs-x", body(r#"{"settings":{"index.default_pipeline":7}}"#), "deny", a, f),
        (Method::Put, "/logs-x", body(r#"{"settings":{"index":{"default_pipeline":"add-field"}}}"#), w, a, a),
        (Method::Put, "/logs-x", body(r#"{"settings":{"index.default_pipeline":null,"final_pipeline":"_none"}}"#), w, a, a),
        (Method::Put, "/logs-x", body(r#"{"mappings":{"properties":{"default_pipeline":{"type":"keyword"}}}}"#), w, a, a),
        // Settings updates, bare or wrapped.
        (Method::Put, "/logs-1/_settings", body(r#"{"index.final_pipeline":"reroute-to-secret"}"#), "deny", a, f),
        (Method::Put, "/logs-1/_settings", body(r#"{"settings":{"default_pipeline":"reroute-to-secret"}}"#), "deny", a, f),
        (Method::Put, "/logs-1/_settings", body(r#"{"settings":{"index":{"default_pipeline":"add-field"}}}"#), w, a, a),
        (Method::Put, "/logs-1/_settings", body(r#"{"index":{"number_of_replicas":2}}"#), w, a, a),
        (Method::Put, "/_settings", body(r#"{"default_pipeline":"add-field"}"#), "deny", a, f),
        // Templates: index, legacy, component (which names no index), and a simulation.
        (Method::Put, "/_index_template/t", body(r#"{"index_patterns":["logs-t-*"],"template":{"settings":{"index.default_pipeline":"reroute-to-secret"}}}"#), "deny", a, f),
        (Method::Put, "/_index_template/t", body(r#"{"index_patterns":["logs-t-*"],"template":{"settings":{"index":{"default_pipeline":"add-field"}}}}"#), w, a, a),
        (Method::Put, "/_template/t", body(r#"{"index_patterns":["logs-t-*"],"settings":{"default_pipeline":"reroute-to-secret"}}"#), "deny", a, f),
        (Method::Put, "/_component_template/c", body(r#"{"template":{"settings":{"index":{"final_pipeline":"reroute-to-secret"}}}}"#), "deny", a, f),
        (Method::Put, "/_component_template/c", body(r#"{"template":{"settings":{"index":{"final_pipeline":"add-field"}}}}"#), w, a, f),
        // Composed of a component template that sets one.
        (Method::Put, "/_index_template/t", body(r#"{"index_patterns":["logs-t-*"],"composed_of":["routing"]}"#), "deny", a, f),
        (Method::Put, "/_index_template/t", body(r#"{"index_patterns":["logs-t-*"],"composed_of":["other"]}"#), w, a, a),
        (Method::Post, "/_index_template/_simulate", body(r#"{"index_patterns":["logs-t-*"],"template":{"settings":{"index.default_pipeline":"reroute-to-secret"}}}"#), w, a, a),
        // Resize, rollover and `_create_from`: the body's settings, and the source's pipelines.
        (Method::Post, "/logs-routed/_shrink/logs-small", None, "deny", a, f),
        (Method::Post, "/logs-1/_clone/logs-2", None, w, a, a),
        (Method::Post, "/logs-1/_split/logs-2", body(r#"{"settings":{"index.default_pipeline":"reroute-to-secret"}}"#), "deny", a, f),
        (Method::Post, "/logs-w/_rollover", body(r#"{"settings":{"index.final_pipeline":"no-such"}}"#), "deny", a, f),
        (Method::Post, "/_create_from/logs-routed/logs-copy", None, "deny", a, f),
        (Method::Post, "/_create_from/logs-1/logs-copy", body(r#"{"settings_override":{"index.default_pipeline":"add-field"}}"#), w, a, a),
        (Method::Post, "/_create_from/logs-1/logs-copy", body(r#"{"settings_override":{"default_pipeline":"reroute-to-secret"}}"#), "deny", a, f),
        // Snapshot restore: `index_settings`.
        (Method::Post, "/_snapshot/r/s/_restore", body(r#"{"indices":"logs-1","index_settings":{"index.default_pipeline":"reroute-to-secret"}}"#), "deny", a, f),
        (Method::Post, "/_snapshot/r/s/_restore", body(r#"{"indices":"logs-1","index_settings":{"index.number_of_replicas":0}}"#), w, a, a),
    ];
    check_pipeline_cases(cases);
    // Before the metadata is read, no pipeline is known never to reroute.
    let writer = compile(&format!("readonlyrest:\n  access_control_rules:\n{WRITER}"));
    let unread = ClusterMetadata::unread();
    let create = br#"{"settings":{"index":{"default_pipeline":"add-field"}}}"#;
    assert_eq!(
        decide_with(&writer, &unread, Method::Put, "/logs-x", Some(create)),
        "deny"
    );
    assert_eq!(
        decide_with(
            &writer,
            &unread,
            Method::Post,
            "/logs-1/_clone/logs-2",
            None
        ),
        "deny"
    );
}

/// A pipeline definition changes what every write that runs the pipeline runs before the
/// metadata knows: one that may reroute is decided as if the request ran it.
#[test]
fn pipeline_definitions_that_may_reroute_need_a_grant_of_every_index() {
    let body = |text: &str| Some(text.as_bytes().to_vec());
    // A forbid block with `indices` matches every request that names no index.
    let (w, a, f) = ("allow:writer", "allow:all", "forbid:no-secret");
    #[rustfmt::skip]
    let cases: &[PipelineCase] = &[
        // `logs-safe` runs `add-field`: redefined, it would send its documents to `secret`.
        (Method::Put, "/_ingest/pipeline/add-field", body(r#"{"processors":[{"set":{"field":"_index","value":"secret"}}]}"#), "deny", a, f),
        (Method::Put, "/_ingest/pipeline/add-field", body(r#"{"processors":[{"script":{"source":"ctx._index = 'secret'"}}]}"#), "deny", a, f),
        (Method::Put, "/_ingest/pipeline/add-field", body(r#"{"processors":[{"pipeline":{"name":"reroute-to-secret"}}]}"#), "deny", a, f),
        (Method::Put, "/_ingest/pipeline/add-field", body(r#"{"processors":[{"set":{"field":"tag","value":"y"}}]}"#), w, a, f),
        (Method::Put, "/_ingest/pipeline/new", body(r#"{"processors":[{"pipeline":{"name":"add-field"}}]}"#), w, a, f),
        (Method::Put, "/_ingest/pipeline/new", body(r#"{"processors":[{"pipeline":{"name":"no-such"}}]}"#), "deny", a, f),
        (Method::Put, "/_ingest/pipeline/reroute-to-secret", body(r#"{"processors":[]}"#), w, a, f),
        // What cannot be read may reroute.
        (Method::Put, "/_ingest/pipeline/add-field", body("processors: []"), "deny", a, f),
        (Method::Put, "/_ingest/pipeline/add-field", None, "deny", a, f),
    ];
    check_pipeline_cases(cases);
}

#[test]
fn before_the_metadata_is_read_every_document_write_may_reroute() {
    let writer = compile(&format!("readonlyrest:\n  access_control_rules:\n{WRITER}"));
    let all = compile(&format!(
        "readonlyrest:\n  access_control_rules:\n{EVERYTHING}"
    ));
    let unread = ClusterMetadata::unread();
    let decide = |acl: &Acl, method, path| decide_with(acl, &unread, method, path, None);
    assert_eq!(decide(&writer, Method::Put, "/logs-1/_doc/1"), "deny");
    assert_eq!(decide(&all, Method::Put, "/logs-1/_doc/1"), "allow:all");
    assert_eq!(
        decide(&writer, Method::Get, "/logs-1/_search"),
        "allow:writer"
    );
    assert_eq!(
        decide(&writer, Method::Delete, "/logs-1/_doc/1"),
        "allow:writer"
    );
    // Known empty (the default): no index runs a pipeline, but none can be named either.
    let empty = ClusterMetadata::default();
    let decide = |path| decide_with(&writer, &empty, Method::Put, path, None);
    assert_eq!(decide("/logs-1/_doc/1"), "allow:writer");
    assert_eq!(decide("/logs-1/_doc/1?pipeline=add-field"), "deny");
}

/// `-x` excludes only after a wildcard; first in a list, Elasticsearch reads it as the name
/// `-x` (no valid index), so no pattern grants it (the whole-path fuzzer found `-logs-1`
/// passing a reader of `logs-*` as `logs-1`).
#[test]
fn a_leading_minus_is_a_name_not_an_exclusion() {
    assert_eq!(decide(READER, Method::Get, "/-logs-1/_search", None), "404");
    assert_eq!(decide(READER, Method::Delete, "/-logs-1", None), "deny");
    let writer = "  - name: writer\n    indices: [\"logs-*\"]\n";
    assert_eq!(
        decide(writer, Method::Delete, "/logs-*,-logs-keep", None),
        "allow:writer"
    );
    // A forbid block cannot tell which of the two it is once lists are merged: the name
    // `-x` counts wherever a pattern could match it.
    let forbid =
        format!("  - name: no-private\n    type: forbid\n    indices: [\"*-private\"]\n{writer}");
    assert_eq!(
        decide(&forbid, Method::Delete, "/-x-private", None),
        "forbid:no-private"
    );
}

/// Findings of the review of issue 10: remote date math and `cluster:_all`, unread metadata,
/// backing indices, over-long expressions, and the cost of many sub-requests.
#[test]
fn remote_date_math_and_remote_all_are_checked_like_remote_names() {
    let remote = "  - name: remote-reader\n    indices: [\"dc*:logs-*\"]\n";
    let dm = "/dc2:%3Clogs-%7Bnow%2Fd%7D%3E/_search";
    assert_eq!(decide(READER, Method::Get, dm, None), "404");
    assert_eq!(decide(remote, Method::Get, dm, None), "allow:remote-reader");
    let forbid_remote = format!(
        "  - name: no-remote-secret\n    type: forbid\n    indices: [\"dc2:secret-*\"]\n{READER}"
    );
    let secret_dm = "/dc2:%3Csecret-%7Bnow%2Fd%7D%3E/_search";
    assert_eq!(
        decide(&forbid_remote, Method::Get, secret_dm, None),
        "forbid:no-remote-secret"
    );
    assert_eq!(
        decide(&forbid_remote, Method::Get, "/dc2:_all/_search", None),
        "forbid:no-remote-secret"
    );
    let forbid_local = format!("{FORBID_SECRET}{READER}");
    assert_eq!(
        decide(&forbid_local, Method::Get, "/dc2:_all/_search", None),
        "forbid:no-secret"
    );
}

#[test]
fn forbid_blocks_match_everything_named_until_the_metadata_is_read() {
    let acl = compile(&format!(
        "readonlyrest:\n  access_control_rules:\n{FORBID_SECRET}  - name: all\n    indices: [\"*\"]\n"
    ));
    let unread = ClusterMetadata::unread();
    // An alias of a forbidden index is unknown yet: it could be one.
    assert_eq!(
        decide_with(&acl, &unread, Method::Get, "/maybe-alias/_search", None),
        "forbid:no-secret"
    );
    // A data stream's backing index belongs to the stream.
    let stream = "  - name: no-stream\n    type: forbid\n    indices: [\"secret-logs\"]\n  - name: all\n    indices: [\"*\"]\n";
    assert_eq!(
        decide(
            stream,
            Method::Get,
            "/.ds-secret-logs-2026.11.30-000001/_search",
            None
        ),
        "forbid:no-stream"
    );
    assert_eq!(
        decide(
            stream,
            Method::Get,
            "/.ds-other-2026.11.30-000001/_search",
            None
        ),
        "allow:all"
    );
}

#[test]
fn over_long_expressions_are_not_evaluated() {
    let long = format!("/{}x/_search", "*".repeat(2000));
    assert_eq!(decide(READER, Method::Get, &long, None), "deny");
    let forbid = format!("{FORBID_SECRET}  - name: all\n    indices: [\"*\"]\n");
    assert_eq!(
        decide(&forbid, Method::Get, &long, None),
        "forbid:no-secret"
    );
}

#[test]
fn many_subrequests_against_a_large_cluster_stay_bounded() {
    let mut metadata = metadata();
    for i in 0..2000 {
        metadata.indices.insert(format!("logs-app-{i:05}"), false);
    }
    let acl = compile(&format!("readonlyrest:\n  access_control_rules:\n{READER}"));
    // 10 searches of `*`: each narrowed (once) to the granted names.
    let few = "{\"index\":\"*\"}\n{}\n".repeat(10);
    let decision = decide_with(
        &acl,
        &metadata,
        Method::Post,
        "/_msearch",
        Some(few.as_bytes()),
    );
    assert!(
        decision.starts_with("allow:reader:sub=["),
        "{}",
        decision.chars().take(80).collect::<String>()
    );
    // 20,000 of them would rewrite to ~700 MB of names (computed once): refused.
    let many = "{\"index\":\"*\"}\n{}\n".repeat(20_000);
    let decision = decide_with(
        &acl,
        &metadata,
        Method::Post,
        "/_msearch",
        Some(many.as_bytes()),
    );
    assert_eq!(decision, "deny");
    // `_mget` documents are not expanded: a document of `*` reads nothing.
    let docs =
        "{\"docs\":[{\"_index\":\"*\",\"_id\":\"1\"},{\"_index\":\"logs-1\",\"_id\":\"2\"}]}";
    assert_eq!(
        decide_with(
            &acl,
            &metadata,
            Method::Post,
            "/_mget",
            Some(docs.as_bytes())
        ),
        "allow:reader:sub=[|-]"
    );
}
