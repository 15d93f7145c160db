use super::*;
use crate::es::search_context::Missing;
use crate::http::request::parse_request_head;

const MINUTE: Duration = Duration::from_secs(60);

fn store() -> SearchContexts {
    SearchContexts::with_key([1; 32], MAX_ENTRIES)
}

fn continues(id: &str, keep_alive: Option<Duration>) -> ContextUse {
    ContextUse::Continue {
        ids: vec![id.to_string()],
        field: IdField::ScrollId,
        keep_alive,
    }
}

fn clears(id: &str) -> ContextUse {
    ContextUse::Clear {
        ids: vec![id.to_string()],
        missing: Missing::ClearScroll,
    }
}

/// Records `id` as `owner`'s under generation 1, as a response to an open would.
fn open(store: &SearchContexts, id: &str, owner: Owner<'_>, keep_alive: Duration, now: Instant) {
    assert!(store.record(store.id_tag(id), store.owner_tag(owner, 1), keep_alive, now));
}

fn allowed(checked: &Checked) -> bool {
    matches!(checked, Checked::Forward(_))
}

#[test]
fn only_the_owner_continues_or_clears() {
    let store = store();
    let now = Instant::now();
    open(&store, "scroll-a", Owner::User("alice"), MINUTE, now);
    let check = |uses: &ContextUse, owner, generation| store.check(uses, owner, generation, now);
    assert!(allowed(&check(
        &continues("scroll-a", None),
        Owner::User("alice"),
        1
    )));
    assert!(allowed(&check(
        &clears("scroll-a"),
        Owner::User("alice"),
        1
    )));
    for (owner, generation) in [
        (Owner::User("bob"), 1),
        (Owner::User("Alice"), 1),
        // A block named like the user is another owner.
        (Owner::Block("alice"), 1),
        // After a reload, contexts opened before belong to nobody.
        (Owner::User("alice"), 2),
    ] {
        assert!(matches!(
            check(&continues("scroll-a", None), owner, generation),
            Checked::Missing(_)
        ));
        assert!(matches!(
            check(&clears("scroll-a"), owner, generation),
            Checked::Missing(_)
        ));
    }
    // An id nobody opened, or one of several that is not the requester's.
    assert!(matches!(
        check(&continues("scroll-b", None), Owner::User("alice"), 1),
        Checked::Missing(_)
    ));
    let mixed = ContextUse::Clear {
        ids: vec!["scroll-a".into(), "scroll-b".into()],
        missing: Missing::ClearScroll,
    };
    assert!(matches!(
        check(&mixed, Owner::User("alice"), 1),
        Checked::Missing(_)
    ));
}

#[test]
fn nobody_opens_or_uses_anything() {
    let store = store();
    let now = Instant::now();
    open(&store, "s", Owner::User("alice"), MINUTE, now);
    let nobody = |uses: &ContextUse| store.check(uses, Owner::Nobody, 1, now);
    assert!(matches!(nobody(&continues("s", None)), Checked::Missing(_)));
    assert!(matches!(nobody(&clears("s")), Checked::Missing(_)));
    let opens = ContextUse::Open {
        field: IdField::ScrollId,
        keep_alive: None,
    };
    assert!(matches!(
        nobody(&opens),
        Checked::Forward(AfterResponse::Nothing)
    ));
    assert!(matches!(nobody(&ContextUse::NeedsBody), Checked::ReadBody));
}

#[test]
fn uses_without_ids_pass_or_ask_for_the_body() {
    let store = store();
    let now = Instant::now();
    let alice = Owner::User("alice");
    assert!(matches!(
        store.check(&ContextUse::None, alice, 1, now),
        Checked::Forward(AfterResponse::Nothing)
    ));
    assert!(matches!(
        store.check(&ContextUse::All, alice, 1, now),
        Checked::Forward(AfterResponse::Nothing)
    ));
    assert!(matches!(
        store.check(&ContextUse::NeedsBody, alice, 1, now),
        Checked::ReadBody
    ));
    let opened = store.check(
        &ContextUse::Open {
            field: IdField::PitId,
            keep_alive: None,
        },
        alice,
        1,
        now,
    );
    let Checked::Forward(AfterResponse::Record(record)) = opened else {
        panic!("an open is recorded");
    };
    assert_eq!(record.field, IdField::PitId);
    assert_eq!(record.keep_alive, DEFAULT_KEEP_ALIVE);
    assert_eq!(record.owner, store.owner_tag(alice, 1));
}

#[test]
fn contexts_expire_with_their_keep_alive() {
    let store = store();
    let t0 = Instant::now();
    let alice = Owner::User("alice");
    open(&store, "s", alice, MINUTE, t0);
    let at = |later: Duration| allowed(&store.check(&continues("s", None), alice, 1, t0 + later));
    assert!(at(MINUTE + EXPIRY_SLACK - Duration::from_millis(1)));
    assert!(!at(MINUTE + EXPIRY_SLACK));
    // A keep-alive is capped.
    open(&store, "long", alice, 2 * MAX_KEEP_ALIVE, t0);
    let long = |later| allowed(&store.check(&continues("long", None), alice, 1, t0 + later));
    assert!(long(MAX_KEEP_ALIVE));
    assert!(!long(MAX_KEEP_ALIVE + EXPIRY_SLACK));
}

#[test]
fn a_continue_keeps_or_replaces_the_keep_alive() {
    let store = store();
    let t0 = Instant::now();
    let alice = Owner::User("alice");
    open(&store, "s", alice, 10 * MINUTE, t0);
    let keep_alive = |uses: &ContextUse| match store.check(uses, alice, 1, t0) {
        Checked::Forward(AfterResponse::Record(record)) => {
            assert_eq!(record.renew, vec![store.id_tag("s")]);
            record.keep_alive
        }
        _ => panic!("the owner continues"),
    };
    assert_eq!(keep_alive(&continues("s", None)), 10 * MINUTE);
    assert_eq!(keep_alive(&continues("s", Some(MINUTE))), MINUTE);
    // Renewed (the node answered with another id): the old id lives on.
    store.renew(
        &[store.id_tag("s")],
        store.owner_tag(alice, 1),
        MINUTE,
        t0 + 9 * MINUTE,
    );
    let later = t0 + 9 * MINUTE + MINUTE + EXPIRY_SLACK / 2;
    assert!(allowed(&store.check(
        &continues("s", None),
        alice,
        1,
        later
    )));
    // Never for another owner.
    store.renew(
        &[store.id_tag("s")],
        store.owner_tag(Owner::User("bob"), 1),
        100 * MINUTE,
        later,
    );
    let after = t0 + 10 * MINUTE + 2 * EXPIRY_SLACK;
    assert!(!allowed(&store.check(
        &continues("s", None),
        alice,
        1,
        after
    )));
}

#[test]
fn cleared_contexts_are_forgotten() {
    let store = store();
    let now = Instant::now();
    let alice = Owner::User("alice");
    open(&store, "s", alice, MINUTE, now);
    let Checked::Forward(AfterResponse::Forget(tags)) = store.check(&clears("s"), alice, 1, now)
    else {
        panic!("the owner clears");
    };
    store.forget(&tags);
    assert!(store.is_empty());
    assert!(!allowed(&store.check(&continues("s", None), alice, 1, now)));
}

#[test]
fn a_full_store_refuses_new_contexts_until_some_expire() {
    let store = SearchContexts::with_key([2; 32], 2 * SHARDS);
    let t0 = Instant::now();
    let alice = store.owner_tag(Owner::User("alice"), 1);
    let recorded: Vec<bool> = (0..200)
        .map(|n| store.record(store.id_tag(&format!("s{n}")), alice, MINUTE, t0))
        .collect();
    let accepted = recorded.iter().filter(|r| **r).count();
    assert_eq!(store.len(), accepted);
    assert_eq!(accepted, 2 * SHARDS, "two per shard");
    let refused = recorded.iter().position(|r| !r).unwrap();
    let refused_id = store.id_tag(&format!("s{refused}"));
    // Still full of live contexts: refused; an entry already there can be renewed.
    assert!(!store.record(refused_id, alice, MINUTE, t0 + MINUTE));
    assert!(store.record(store.id_tag("s0"), alice, MINUTE, t0 + MINUTE));
    // Once they expire, they make room.
    assert!(store.record(refused_id, alice, MINUTE, t0 + 3 * MINUTE));
    assert!(store.len() <= 2 * SHARDS);
}

#[test]
fn tags_are_keyed_and_distinct() {
    let (a, b) = (
        SearchContexts::with_key([1; 32], 8),
        SearchContexts::with_key([2; 32], 8),
    );
    assert_eq!(a.id_tag("s1"), a.id_tag("s1"));
    assert_ne!(a.id_tag("s1"), a.id_tag("s2"));
    assert_ne!(a.id_tag("s1"), b.id_tag("s1"));
    let owners = [
        a.owner_tag(Owner::User("x"), 1),
        a.owner_tag(Owner::Block("x"), 1),
        a.owner_tag(Owner::User("x"), 2),
        a.owner_tag(Owner::User("xy"), 1),
        b.owner_tag(Owner::User("x"), 1),
    ];
    for (i, x) in owners.iter().enumerate() {
        for y in &owners[i + 1..] {
            assert_ne!(x, y);
        }
    }
    // Two stores from the OS generator do not share a key.
    let (c, d) = (
        SearchContexts::new().unwrap(),
        SearchContexts::new().unwrap(),
    );
    assert_ne!(c.id_tag("s1"), d.id_tag("s1"));
    assert_eq!(format!("{:?}", a.id_tag("s1")), "IdTag(***)");
}

#[test]
fn warnings_are_rate_limited() {
    let warning = Warning::default();
    let t0 = Instant::now();
    assert_eq!(warning.arose(t0, t0), Some(1));
    assert_eq!(warning.arose(t0, t0 + Duration::from_secs(59)), None);
    assert_eq!(warning.arose(t0, t0 + Duration::from_secs(61)), Some(3));
    assert_eq!(warning.arose(t0, t0 + Duration::from_secs(62)), None);
}

#[test]
fn missing_answers_are_written_whole() {
    let raw = b"GET /_search/scroll/x HTTP/1.1\r\nHost: es\r\n\r\n";
    let head = parse_request_head(raw, 4096).unwrap().unwrap();
    let answer = MissingContext(NodeAnswer::cleared(&["x".into()], Missing::ClearScroll));
    let text = String::from_utf8(answer.response(&head).0).unwrap();
    let (top, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(top.starts_with("HTTP/1.1 404 Not Found\r\n"), "{top}");
    assert!(top.contains(&format!("content-length: {}", body.len())));
    assert_eq!(body, r#"{"succeeded":true,"num_freed":0}"#);
    let head_request = b"HEAD /_search/scroll/x HTTP/1.1\r\nHost: es\r\n\r\n";
    let head = parse_request_head(head_request, 4096).unwrap().unwrap();
    let text = String::from_utf8(answer.response(&head).0).unwrap();
    assert!(text.ends_with("\r\n\r\n") && text.contains("content-length: 32"));
}

#[test]
fn recorded_responses_are_asked_for_as_identity() {
    let raw = b"GET /logs/_search?scroll=1m HTTP/1.1\r\nHost: es\r\nAccept-Encoding: gzip\r\naccept-encoding: br\r\nX-Other: 1\r\n\r\n";
    let head = parse_request_head(raw, 4096).unwrap().unwrap();
    let record = AfterResponse::Record(Record {
        field: IdField::ScrollId,
        owner: store().owner_tag(Owner::User("a"), 1),
        keep_alive: MINUTE,
        renew: Vec::new(),
    });
    let identity = record.upstream_head(&head, raw).unwrap();
    assert_eq!(identity.headers.len(), head.headers.len() - 2);
    assert_eq!(identity.header(raw, "accept-encoding"), None);
    assert!(identity.header(raw, "x-other").is_some());
    assert!(AfterResponse::Nothing.upstream_head(&head, raw).is_none());
    assert!(AfterResponse::Forget(Vec::new())
        .upstream_head(&head, raw)
        .is_none());
}

#[test]
fn a_context_renewed_shorter_frees_its_place_when_it_expires() {
    let store = SearchContexts::with_key([3; 32], SHARDS);
    let t0 = Instant::now();
    let alice = store.owner_tag(Owner::User("alice"), 1);
    let shard_of = |id: &IdTag| usize::from(id.0[0]) % SHARDS;
    let first = store.id_tag("s0");
    assert!(store.record(first, alice, MINUTE, t0));
    // Another id of the same shard, which is now full (one entry per shard).
    let other = (1..)
        .map(|n| store.id_tag(&format!("s{n}")))
        .find(|id| shard_of(id) == shard_of(&first))
        .unwrap();
    assert!(!store.record(other, alice, MINUTE, t0));
    // Renewed for a second only, it expires long before the minute it was recorded for.
    store.renew(&[first], alice, Duration::from_secs(1), t0);
    let later = t0 + Duration::from_secs(1) + EXPIRY_SLACK + Duration::from_millis(1);
    assert!(store.record(other, alice, MINUTE, later));
}
