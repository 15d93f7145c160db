//! `auth::ldap::LdapService` against a real slapd (tests/support/slapd.rs, loaded with
//! tests/ldap/fixture.ldif): binds, both group modes, nested groups, injection, and the
//! failure paths (server down, circuit breaker, restart, full queue, thread end).
//!
//! Tests run one at a time (`serial`): each starts its own slapd, and the last one
//! counts the process's LDAP threads.

#[path = "support/block_on.rs"]
mod block_on;
#[path = "support/slapd.rs"]
mod slapd;

use block_on::block_on;
use ringfence::auth::ldap::{
    BindCredentials, GroupSearch, HaMode, LdapServer, LdapService, LdapSettings, UserSearch,
};
use ringfence::auth::remote::{Answer, PendingAnswer, Question, RemoteService, Unavailable};
use slapd::Slapd;
use std::future::Future;
use std::net::TcpListener;
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

const GROUPS: &str = "ou=Groups,dc=example,dc=com";

fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The answer if the future is complete at once (a full queue, an open circuit).
fn ready_now(future: &mut PendingAnswer) -> Option<Result<Answer, Unavailable>> {
    let waker = block_on::waker();
    match Pin::new(future).poll(&mut Context::from_waker(&waker)) {
        Poll::Ready(answer) => Some(answer),
        Poll::Pending => None,
    }
}

fn server(port: u16) -> LdapServer {
    LdapServer {
        host: "127.0.0.1".into(),
        port,
        tls: false,
    }
}

/// Users under the whole suffix (so `stan` is ambiguous), groups in group entries.
fn settings(port: u16) -> LdapSettings {
    LdapSettings {
        name: "ldap1".into(),
        servers: vec![server(port)],
        ha: HaMode::Failover,
        bind: Some(BindCredentials {
            dn: slapd::ROOT_DN.into(),
            password: slapd::ROOT_PASSWORD.into(),
        }),
        users: UserSearch {
            base_dn: slapd::SUFFIX.into(),
            id_attribute: "uid".into(),
            skip_search: false,
        },
        groups: Some(GroupSearch::InGroupEntries {
            base_dn: GROUPS.into(),
            id_attribute: "cn".into(),
            member_attribute: "uniqueMember".into(),
            filter: "(cn=*)".into(),
            member_is_dn: true,
        }),
        nested_groups_depth: 0,
        pool_size: 4,
        connection_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(2),
        max_retries: 3,
        reset_duration: Duration::from_millis(500),
        cache_ttl: None,
        trust_all_certs: false,
    }
}

fn service(settings: LdapSettings) -> LdapService {
    LdapService::new(settings).expect("LdapService::new")
}

fn authenticate(service: &LdapService, user: &str, password: &str) -> Result<Answer, Unavailable> {
    block_on(service.ask(Question::Authenticate {
        user: user.into(),
        password: password.into(),
        with_groups: true,
    }))
}

fn groups_of(service: &LdapService, user: &str) -> Result<Answer, Unavailable> {
    block_on(service.ask(Question::Groups { user: user.into() }))
}

/// `Known` with these groups, in any order.
fn known(answer: Result<Answer, Unavailable>) -> Vec<String> {
    match answer {
        Ok(Answer::Known { mut groups }) => {
            groups.sort();
            groups
        }
        other => panic!("expected Known, got {other:?}"),
    }
}

fn list(groups: &[&str]) -> Vec<String> {
    groups.iter().map(ToString::to_string).collect()
}

#[test]
fn a_good_password_is_known_with_the_groups_of_group_entries() {
    let _serial = serial();
    let slapd = Slapd::start();
    let ldap = service(settings(slapd.port()));
    assert_eq!(ldap.name(), "ldap1");
    assert_eq!(
        known(authenticate(&ldap, "cartman", "user1")),
        list(&["group1", "group2"])
    );
    assert_eq!(
        known(authenticate(&ldap, "bong", "user2")),
        list(&["group1"])
    );
    assert_eq!(known(authenticate(&ldap, "morgan", "user3")), list(&[]));
    let without_groups = block_on(ldap.ask(Question::Authenticate {
        user: "cartman".into(),
        password: "user1".into(),
        with_groups: false,
    }));
    assert_eq!(without_groups, Ok(Answer::Known { groups: vec![] }));
    assert_eq!(
        known(groups_of(&ldap, "cartman")),
        list(&["group1", "group2"])
    );
    assert_eq!(known(groups_of(&ldap, "morgan")), list(&[]));
}

#[test]
fn wrong_empty_unknown_ambiguous_and_injected_credentials_are_rejected() {
    let _serial = serial();
    let slapd = Slapd::start();
    let ldap = service(settings(slapd.port()));
    for (user, password) in [
        ("cartman", "user2"),
        ("cartman", ""),
        ("cartman", "USER1"),
        ("nobody", "user1"),
        ("", "user1"),
        // Two entries have uid=stan: never a guess.
        ("stan", "user4"),
        // Filter injection: escaped, these match no uid.
        ("*", "user1"),
        ("cartman)(uid=*", "user1"),
        ("cartman)(|(uid=*", "user1"),
        ("c*", "user1"),
        // Spellings the directory matches to cartman but the gateway's rules would not:
        // only the directory's own spelling authenticates.
        ("CARTMAN", "user1"),
        (" cartman", "user1"),
        ("ｃａｒｔｍａｎ", "user1"),
    ] {
        assert_eq!(
            authenticate(&ldap, user, password),
            Ok(Answer::Rejected),
            "{user:?} / {password:?}"
        );
    }
    for user in ["nobody", "*", "cartman)(uid=*", "stan"] {
        assert_eq!(groups_of(&ldap, user), Ok(Answer::Rejected), "{user:?}");
    }
    // The service still works after all that.
    assert_eq!(
        known(authenticate(&ldap, "cartman", "user1")),
        list(&["group1", "group2"])
    );
}

#[test]
fn an_empty_password_is_rejected_without_asking_the_directory() {
    let _serial = serial();
    // No server at all: a question that reached the directory would be Unavailable.
    let port = closed_port();
    let ldap = service(settings(port));
    let mut answer = ldap.ask(Question::Authenticate {
        user: "cartman".into(),
        password: String::new(),
        with_groups: true,
    });
    assert_eq!(ready_now(&mut answer), Some(Ok(Answer::Rejected)));
}

#[test]
fn nested_groups_breadth_first_and_cycle_safe() {
    let _serial = serial();
    let slapd = Slapd::start();
    for (depth, cartman, bong) in [
        (
            1,
            &["group1", "group2", "group3", "group5"][..],
            &["group1", "group3"][..],
        ),
        (
            2,
            &["group1", "group2", "group3", "group4", "group5", "group6"][..],
            &["group1", "group3", "group4"][..],
        ),
        (
            10,
            &["group1", "group2", "group3", "group4", "group5", "group6"][..],
            &["group1", "group3", "group4"][..],
        ),
    ] {
        let ldap = service(LdapSettings {
            nested_groups_depth: depth,
            ..settings(slapd.port())
        });
        assert_eq!(
            known(authenticate(&ldap, "cartman", "user1")),
            list(cartman),
            "depth {depth}"
        );
        assert_eq!(known(groups_of(&ldap, "bong")), list(bong), "depth {depth}");
    }
}

#[test]
fn groups_of_names_with_a_filter() {
    let _serial = serial();
    let slapd = Slapd::start();
    let ldap = service(LdapSettings {
        groups: Some(GroupSearch::InGroupEntries {
            base_dn: slapd::SUFFIX.into(),
            id_attribute: "cn".into(),
            member_attribute: "member".into(),
            filter: "(objectClass=groupOfNames)".into(),
            member_is_dn: true,
        }),
        ..settings(slapd.port())
    });
    assert_eq!(
        known(authenticate(&ldap, "cartman", "user1")),
        list(&["team-red"])
    );
    assert_eq!(known(authenticate(&ldap, "bong", "user2")), list(&[]));
}

#[test]
fn groups_from_user_entries() {
    let _serial = serial();
    let slapd = Slapd::start();
    let user_entries = |depth| {
        service(LdapSettings {
            groups: Some(GroupSearch::InUserEntries {
                base_dn: GROUPS.into(),
                id_attribute: "cn".into(),
                user_attribute: "memberOf".into(),
            }),
            nested_groups_depth: depth,
            ..settings(slapd.port())
        })
    };
    // team-red is not under ou=Groups: not counted.
    let ldap = user_entries(0);
    assert_eq!(
        known(authenticate(&ldap, "cartman", "user1")),
        list(&["group1", "group2"])
    );
    assert_eq!(known(groups_of(&ldap, "morgan")), list(&[]));
    assert_eq!(authenticate(&ldap, "cartman", "nope"), Ok(Answer::Rejected));
    // group1's own memberOf names group3.
    let nested = user_entries(1);
    assert_eq!(
        known(authenticate(&nested, "cartman", "user1")),
        list(&["group1", "group2", "group3"])
    );
}

#[test]
fn skip_user_search_builds_an_escaped_dn_and_anonymous_searches_work() {
    let _serial = serial();
    let slapd = Slapd::start();
    let ldap = service(LdapSettings {
        bind: None,
        users: UserSearch {
            base_dn: "ou=People,dc=example,dc=com".into(),
            id_attribute: "uid".into(),
            skip_search: true,
        },
        ..settings(slapd.port())
    });
    assert_eq!(
        known(authenticate(&ldap, "cartman", "user1")),
        list(&["group1", "group2"])
    );
    assert_eq!(
        authenticate(&ldap, "cartman", "user2"),
        Ok(Answer::Rejected)
    );
    // A DN injection attempt: the comma is escaped, so this is no one's DN.
    assert_eq!(
        authenticate(&ldap, "cartman,ou=People,dc=example,dc=com", "user1"),
        Ok(Answer::Rejected)
    );
    assert_eq!(authenticate(&ldap, "nobody", "user1"), Ok(Answer::Rejected));
}

#[test]
fn a_refused_service_bind_is_unavailable_without_the_password() {
    let _serial = serial();
    let slapd = Slapd::start();
    let ldap = service(LdapSettings {
        bind: Some(BindCredentials {
            dn: slapd::ROOT_DN.into(),
            password: "not-the-admin-secret".into(),
        }),
        ..settings(slapd.port())
    });
    let error = authenticate(&ldap, "cartman", "user1").expect_err("Unavailable");
    assert!(
        error
            .reason
            .starts_with("LDAP ldap1: the service bind as `cn=admin,dc=example,dc=com` failed"),
        "{error}"
    );
    assert!(
        !error.reason.contains("not-the-admin-secret") && !error.reason.contains("user1"),
        "{error}"
    );
}

#[test]
fn a_server_down_is_unavailable_fast_then_the_circuit_opens_then_it_recovers() {
    let _serial = serial();
    let mut slapd = Slapd::start();
    let port = slapd.port();
    let ldap = service(settings(port));
    assert_eq!(
        known(authenticate(&ldap, "bong", "user2")),
        list(&["group1"])
    );
    slapd.stop();
    // max_retries 3: three questions reach for the server (the first finds its pooled
    // connection closed and tries a fresh one), each refused at once.
    for _ in 0..3 {
        let started = Instant::now();
        let error = authenticate(&ldap, "bong", "user2").expect_err("Unavailable");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        assert!(
            error.reason.starts_with(&format!(
                "LDAP ldap1: cannot connect to 127.0.0.1:{port}: connection refused"
            )),
            "{error}"
        );
        assert!(!error.reason.contains("user2"), "{error}");
    }
    // Open: answered at once, before any connection attempt.
    let mut answer = ldap.ask(Question::Groups {
        user: "bong".into(),
    });
    let error = ready_now(&mut answer)
        .expect("answered at once")
        .expect_err("Unavailable");
    assert_eq!(
        error.reason,
        "LDAP ldap1: circuit open after 3 consecutive failures; retrying every 0.5 s"
    );
    slapd.start_again();
    // Still open until reset_duration has passed since it opened.
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(
        known(authenticate(&ldap, "bong", "user2")),
        list(&["group1"]),
        "the trial reconnects"
    );
    assert_eq!(
        known(groups_of(&ldap, "cartman")),
        list(&["group1", "group2"]),
        "closed again"
    );
}

#[test]
fn a_restarted_server_is_reconnected_to_without_an_error() {
    let _serial = serial();
    let mut slapd = Slapd::start();
    let ldap = service(settings(slapd.port()));
    assert_eq!(
        known(authenticate(&ldap, "cartman", "user1")),
        list(&["group1", "group2"])
    );
    slapd.start_again();
    // The pooled connections died with the old process; the question is asked again on
    // fresh ones.
    assert_eq!(
        known(authenticate(&ldap, "cartman", "user1")),
        list(&["group1", "group2"])
    );
    assert_eq!(authenticate(&ldap, "cartman", "bad"), Ok(Answer::Rejected));
}

#[test]
fn failover_skips_a_dead_server() {
    let _serial = serial();
    let slapd = Slapd::start();
    let ldap = service(LdapSettings {
        servers: vec![server(closed_port()), server(slapd.port())],
        ..settings(slapd.port())
    });
    assert_eq!(
        known(authenticate(&ldap, "bong", "user2")),
        list(&["group1"])
    );
    let round_robin = service(LdapSettings {
        servers: vec![server(slapd.port()), server(closed_port())],
        ha: HaMode::RoundRobin,
        ..settings(slapd.port())
    });
    for _ in 0..3 {
        assert_eq!(known(groups_of(&round_robin, "bong")), list(&["group1"]));
    }
}

#[test]
fn a_full_queue_is_unavailable_at_once_and_the_thread_ends_with_the_service() {
    let _serial = serial();
    // A server that accepts connections and never answers: every question waits for
    // request_timeout while holding the only connection slot.
    let hung = TcpListener::bind("127.0.0.1:0").expect("listener");
    let port = hung.local_addr().expect("address").port();
    let ldap = service(LdapSettings {
        pool_size: 1,
        request_timeout: Duration::from_secs(1),
        ..settings(port)
    });
    let capacity = ringfence::auth::ldap::QUEUED_QUESTIONS_PER_CONNECTION;
    let mut pending: Vec<PendingAnswer> = (0..capacity + 10)
        .map(|_| {
            ldap.ask(Question::Groups {
                user: "cartman".into(),
            })
        })
        .collect();
    let refused: Vec<Unavailable> = pending
        .iter_mut()
        .filter_map(ready_now)
        .map(|answer| answer.expect_err("only refusals are ready"))
        .collect();
    assert!(refused.len() >= 9, "{} refused at once", refused.len());
    for error in &refused {
        assert!(
            error
                .reason
                .starts_with("LDAP ldap1: too many questions waiting"),
            "{error}"
        );
    }
    // The question in flight times out (the breaker counts it).
    let first = block_on(pending.remove(0)).expect_err("the hung server never answers");
    assert!(error_mentions_timeout(&first), "{first}");
    drop(pending);
    assert!(ldap_threads() >= 1);
    drop(ldap);
    let deadline = Instant::now() + Duration::from_secs(10);
    while ldap_threads() > 0 {
        assert!(
            Instant::now() < deadline,
            "the LDAP thread outlived its service"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn error_mentions_timeout(error: &Unavailable) -> bool {
    error
        .reason
        .starts_with("LDAP ldap1: no answer to the service bind within 1 s")
}

/// Threads named `ringfence-ldap-*` in this process (/proc cuts names to 15 bytes).
fn ldap_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .flatten()
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm"))
                .is_ok_and(|name| name.starts_with("ringfence-ldap"))
        })
        .count()
}

/// A port that refuses connections.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a port")
        .port()
}
