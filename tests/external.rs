//! The external authentication and groups provider services against a real HTTP service
//! started here (tests/support/http_service.rs): the requests they send, the answers they
//! make of each reply, and how they fail (service down, slow, failing, huge replies), the
//! circuit breaker, the queue bound, and the threads' lifetime.

#[path = "support/block_on.rs"]
mod block_on;
#[path = "support/http_service.rs"]
mod http_service;

use base64::Engine;
use block_on::block_on;
use http_service::{HttpService, Reply, Request};
use ringfence::auth::external::{
    default_header, Endpoint, ExternalAuthConfig, ExternalAuthService, GroupsProviderConfig,
    GroupsProviderService, HeaderName, HttpMethod, HttpSettings, JsonPath, TokenPassing,
    QUEUE_CAPACITY,
};
use ringfence::auth::remote::{Answer, Question, RemoteService, Unavailable};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn authenticate(user: &str, password: &str) -> Question {
    Question::Authenticate {
        user: user.to_string(),
        password: password.to_string(),
        with_groups: false,
    }
}

fn groups_of(user: &str) -> Question {
    Question::Groups {
        user: user.to_string(),
    }
}

fn known(groups: &[&str]) -> Result<Answer, Unavailable> {
    Ok(Answer::Known {
        groups: groups.iter().map(ToString::to_string).collect(),
    })
}

fn basic(user: &str, password: &str) -> String {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {token}")
}

fn auth_service(name: &str, url: &str, http: HttpSettings) -> ExternalAuthService {
    ExternalAuthService::new(ExternalAuthConfig {
        name: name.to_string(),
        endpoint: Endpoint::parse(url).unwrap(),
        success_status: 204,
        cache_ttl: None,
        http,
    })
}

fn groups_config(name: &str, url: &str, path: &str) -> GroupsProviderConfig {
    GroupsProviderConfig {
        name: name.to_string(),
        endpoint: Endpoint::parse(url).unwrap(),
        token: TokenPassing::QueryParameter("user".to_string()),
        method: HttpMethod::Get,
        group_ids_path: JsonPath::parse(path).unwrap(),
        default_headers: Vec::new(),
        default_query: Vec::new(),
        cache_ttl: None,
        http: HttpSettings::default(),
    }
}

fn unavailable(answer: Result<Answer, Unavailable>) -> String {
    match answer {
        Err(Unavailable { reason }) => reason,
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

/// A service that knows alice:secret (and a password with a colon and non-ASCII).
fn credentials_service() -> HttpService {
    HttpService::start(|request: &Request| {
        let good = [basic("alice", "secret"), basic("bob", "pä:ss wörd")];
        match request.header("authorization") {
            Some(header) if request.method == "GET" && good.iter().any(|g| g == header) => {
                Reply::Body(204, String::new())
            }
            _ => Reply::Body(401, "{\"error\":\"unauthorized\"}".to_string()),
        }
    })
}

#[test]
fn good_credentials_are_known_and_wrong_ones_rejected() {
    let server = credentials_service();
    let service = auth_service("ext", &server.url("/auth?realm=a"), HttpSettings::default());
    assert_eq!(
        block_on(service.ask(authenticate("alice", "secret"))),
        known(&[])
    );
    assert_eq!(
        block_on(service.ask(authenticate("alice", "wrong"))),
        Ok(Answer::Rejected)
    );
    assert_eq!(
        block_on(service.ask(Question::Authenticate {
            user: "bob".to_string(),
            password: "pä:ss wörd".to_string(),
            with_groups: true,
        })),
        known(&[])
    );
    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    // Exactly as ReadonlyREST sends it: standard base64 of `user:password`, padded.
    assert_eq!(
        requests[0].header("authorization"),
        Some("Basic YWxpY2U6c2VjcmV0")
    );
    assert_eq!(requests[0].method, "GET");
    assert_eq!(requests[0].target, "/auth?realm=a");
}

#[test]
fn only_the_configured_success_status_authenticates() {
    let server = credentials_service();
    let mut config = ExternalAuthConfig {
        name: "ext200".to_string(),
        endpoint: Endpoint::parse(&server.url("/")).unwrap(),
        success_status: 200,
        cache_ttl: Some(Duration::from_secs(60)),
        http: HttpSettings::default(),
    };
    let service = ExternalAuthService::new(config.clone());
    assert_eq!(service.cache_ttl(), Some(Duration::from_secs(60)));
    assert_eq!(
        block_on(service.ask(authenticate("alice", "secret"))),
        Ok(Answer::Rejected),
        "204 is not the configured 200"
    );
    config.success_status = 401;
    let inverted = ExternalAuthService::new(config);
    assert_eq!(block_on(inverted.ask(authenticate("eve", "x"))), known(&[]));
}

#[test]
fn a_failing_service_is_unavailable_not_a_wrong_password() {
    let server = HttpService::start(|_: &Request| Reply::Body(503, "busy".to_string()));
    let service = auth_service("ext503", &server.url("/"), HttpSettings::default());
    let reason = unavailable(block_on(service.ask(authenticate("alice", "s3cr3t-pw"))));
    assert!(
        reason.contains("`ext503`") && reason.contains("503"),
        "{reason}"
    );
    assert!(!reason.contains("s3cr3t-pw"), "{reason}");
    // A rate limit is no verdict on the password either (not a failed login).
    let limited = HttpService::start(|_: &Request| Reply::Body(429, String::new()));
    let service = auth_service("ext429", &limited.url("/"), HttpSettings::default());
    let reason = unavailable(block_on(service.ask(authenticate("alice", "secret"))));
    assert!(reason.contains("429"), "{reason}");
}

#[test]
fn the_authentication_service_answers_no_groups_without_asking() {
    let server = credentials_service();
    let service = auth_service("extgroups", &server.url("/"), HttpSettings::default());
    let reason = unavailable(block_on(service.ask(groups_of("alice"))));
    assert!(reason.contains("answers no groups"), "{reason}");
    assert_eq!(server.count(), 0);
}

#[test]
fn a_service_that_is_down_is_unavailable_at_once() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let service = auth_service(
        "extdown",
        &format!("http://127.0.0.1:{port}/"),
        HttpSettings::default(),
    );
    let started = Instant::now();
    let reason = unavailable(block_on(service.ask(authenticate("alice", "secret"))));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(reason.contains("cannot reach"), "{reason}");
}

#[test]
fn a_slow_service_is_unavailable_after_the_request_timeout() {
    let server = HttpService::start(|_: &Request| Reply::After(Duration::from_secs(3), 204));
    let http = HttpSettings {
        request_timeout: Duration::from_millis(300),
        ..HttpSettings::default()
    };
    let service = auth_service("extslow", &server.url("/"), http);
    let started = Instant::now();
    let reason = unavailable(block_on(service.ask(authenticate("alice", "secret"))));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_millis(2500),
        "{took:?}"
    );
    assert!(reason.contains("no answer in time"), "{reason}");
}

#[test]
fn the_breaker_opens_after_max_retries_and_closes_after_the_reset() {
    let status = Arc::new(AtomicU16::new(500));
    let server = {
        let status = Arc::clone(&status);
        HttpService::start(move |_: &Request| {
            Reply::Body(status.load(Ordering::SeqCst), String::new())
        })
    };
    let http = HttpSettings {
        max_retries: 3,
        reset_duration: Duration::from_millis(400),
        ..HttpSettings::default()
    };
    let service = auth_service("extbreaker", &server.url("/"), http);
    for _ in 0..3 {
        let reason = unavailable(block_on(service.ask(authenticate("alice", "secret"))));
        assert!(reason.contains("HTTP 500"), "{reason}");
    }
    assert_eq!(server.count(), 3);
    for _ in 0..5 {
        let reason = unavailable(block_on(service.ask(authenticate("alice", "secret"))));
        assert!(reason.contains("circuit open"), "{reason}");
    }
    assert_eq!(server.count(), 3, "no request while the circuit is open");
    std::thread::sleep(Duration::from_millis(450));
    status.store(204, Ordering::SeqCst);
    assert_eq!(
        block_on(service.ask(authenticate("alice", "secret"))),
        known(&[])
    );
    assert_eq!(server.count(), 4, "the trial");
    for _ in 0..3 {
        assert_eq!(
            block_on(service.ask(authenticate("alice", "secret"))),
            known(&[])
        );
    }
    assert_eq!(server.count(), 7, "closed again");
}

#[test]
fn a_full_queue_is_unavailable_at_once_and_abandoned_questions_are_not_sent() {
    let server = HttpService::start(|_: &Request| Reply::After(Duration::from_millis(500), 204));
    let http = HttpSettings {
        threads: 1,
        ..HttpSettings::default()
    };
    let service = auth_service("extqueue", &server.url("/"), http);
    let first = service.ask(authenticate("alice", "secret"));
    // Wait until the one thread holds the first question, so the queue is empty.
    let deadline = Instant::now() + Duration::from_secs(2);
    while server.count() == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let queued: Vec<_> = (0..QUEUE_CAPACITY)
        .map(|_| service.ask(authenticate("alice", "secret")))
        .collect();
    let reason = unavailable(block_on(service.ask(authenticate("alice", "secret"))));
    assert!(reason.contains("too many questions waiting"), "{reason}");
    drop(queued);
    assert_eq!(block_on(first), known(&[]));
    // The thread skips the questions whose askers gave up (they hold their places in the
    // queue until it gets to them, a moment after the first answer).
    let deadline = Instant::now() + Duration::from_secs(2);
    let answer = loop {
        let answer = block_on(service.ask(authenticate("alice", "secret")));
        if answer.is_ok() || Instant::now() > deadline {
            break answer;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(answer, known(&[]));
    assert_eq!(server.count(), 2);
}

/// Counts this process's threads whose (15-byte) name starts with `prefix`.
fn threads_named(prefix: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim_end().starts_with(prefix))
        .count()
}

#[test]
fn threads_start_on_the_first_question_and_end_when_the_service_is_dropped() {
    // Only this test names a service starting with `Z`: `ringfence-ext-Z` is what the
    // kernel keeps of the thread name.
    let server = credentials_service();
    let http = HttpSettings {
        threads: 3,
        ..HttpSettings::default()
    };
    let service = Arc::new(auth_service("Zdrop", &server.url("/"), http));
    assert_eq!(
        threads_named("ringfence-ext-Z"),
        0,
        "none before a question"
    );
    assert_eq!(
        block_on(service.ask(authenticate("alice", "secret"))),
        known(&[])
    );
    // A new thread takes its name when it first runs.
    let deadline = Instant::now() + Duration::from_secs(2);
    while threads_named("ringfence-ext-Z") < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(threads_named("ringfence-ext-Z"), 3);
    let answer = service.ask(authenticate("alice", "secret"));
    drop(service);
    assert_eq!(
        block_on(answer),
        known(&[]),
        "a queued question is still answered"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while threads_named("ringfence-ext-Z") > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(threads_named("ringfence-ext-Z"), 0);
}

/// A groups service: the user from the `user` query parameter or the `x-user` header.
fn groups_service() -> HttpService {
    HttpService::start(|request: &Request| {
        let from_query = request
            .query()
            .into_iter()
            .find(|(k, _)| k == "user")
            .map(|(_, v)| v);
        let user = from_query.or(request.header("x-user").map(str::to_string));
        match user.as_deref() {
            Some("alice") | Some("j%C3%B6%20h%2Bn%26x%3D1") => Reply::Body(
                200,
                r#"{"user":"alice","groups":[{"id":"g1","name":"Admins"},{"id":2,"name":"Ops"},{"id":"g3"}]}"#
                    .to_string(),
            ),
            Some("nogroups") => Reply::Body(200, r#"{"groups":[]}"#.to_string()),
            Some("text") => Reply::Body(200, "not json".to_string()),
            Some("moved") => Reply::Body(302, String::new()),
            Some("broken") => Reply::Body(500, String::new()),
            Some("limited") => Reply::Body(429, String::new()),
            Some("token-expired") => Reply::Body(401, String::new()),
            _ => Reply::Body(404, r#"{"error":"no such user"}"#.to_string()),
        }
    })
}

#[test]
fn groups_from_the_json_path_with_the_user_as_a_query_parameter() {
    let server = groups_service();
    let mut config = groups_config(
        "groups",
        &server.url("/groups?realm=corp"),
        "$..groups[?(@.name)].name",
    );
    config.default_query = vec![("v".to_string(), "2".to_string())];
    let service = GroupsProviderService::new(config);
    assert_eq!(
        block_on(service.ask(groups_of("alice"))),
        known(&["Admins", "Ops"])
    );
    // URL-encoded: a user name cannot add parameters of its own.
    assert_eq!(
        block_on(service.ask(groups_of("jö h+n&x=1"))),
        known(&["Admins", "Ops"])
    );
    let requests = server.requests();
    assert_eq!(requests[0].method, "GET");
    assert_eq!(requests[0].target, "/groups?realm=corp&v=2&user=alice");
    assert_eq!(
        requests[1].target,
        "/groups?realm=corp&v=2&user=j%C3%B6%20h%2Bn%26x%3D1"
    );
    let ids = GroupsProviderService::new(groups_config(
        "ids",
        &server.url("/groups"),
        "$.groups[*].id",
    ));
    assert_eq!(
        block_on(ids.ask(groups_of("alice"))),
        known(&["g1", "2", "g3"])
    );
}

#[test]
fn groups_by_post_with_the_user_in_a_header_and_default_headers() {
    let server = groups_service();
    let mut config = groups_config("posted", &server.url("/groups"), "$..groups[?(@.id)].id");
    config.method = HttpMethod::Post;
    config.token = TokenPassing::Header(HeaderName::from_static("x-user"));
    config.default_headers = vec![
        default_header("x-api-key", "k-123").unwrap(),
        default_header("accept", "application/json").unwrap(),
    ];
    let service = GroupsProviderService::new(config);
    assert_eq!(
        block_on(service.ask(groups_of("alice"))),
        known(&["g1", "2", "g3"])
    );
    // A groups provider checks no password: never "authenticated" by it.
    let reason = unavailable(block_on(service.ask(authenticate("alice", "any"))));
    assert!(reason.contains("checks no passwords"), "{reason}");
    // A user name that cannot be a header value is not sent: its groups are unknown.
    let reason = unavailable(block_on(service.ask(groups_of("evil\r\nx-user: alice"))));
    assert!(reason.contains("cannot be sent in a header"), "{reason}");
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.target, "/groups");
    assert_eq!(request.header("x-user"), Some("alice"));
    assert_eq!(request.header("x-api-key"), Some("k-123"));
    assert_eq!(request.header("accept"), Some("application/json"));
}

#[test]
fn what_each_groups_reply_means() {
    let server = groups_service();
    let service = GroupsProviderService::new(groups_config(
        "meaning",
        &server.url("/g"),
        "$.groups[*].id",
    ));
    assert_eq!(block_on(service.ask(groups_of("nogroups"))), known(&[]));
    assert_eq!(
        block_on(service.ask(groups_of("stranger"))),
        Ok(Answer::Rejected),
        "404"
    );
    let reason = unavailable(block_on(service.ask(groups_of("text"))));
    assert!(reason.contains("not JSON"), "{reason}");
    // A 4xx other than 404 says nothing about the user (the gateway's own token refused, a
    // rate limit): unknown groups, so that a forbid block never fails open.
    for (user, status) in [("limited", "429"), ("token-expired", "401")] {
        let reason = unavailable(block_on(service.ask(groups_of(user))));
        assert!(reason.contains(status), "{reason}");
    }
    let reason = unavailable(block_on(service.ask(groups_of("moved"))));
    assert!(
        reason.contains("302") && reason.contains("redirects"),
        "{reason}"
    );
    let reason = unavailable(block_on(service.ask(groups_of("broken"))));
    assert!(
        reason.contains("`meaning`") && reason.contains("500"),
        "{reason}"
    );
}

#[test]
fn a_huge_reply_is_unavailable_without_reading_it_all() {
    let server = HttpService::start(|_: &Request| Reply::Huge(200, 10 * 1024 * 1024));
    let service = GroupsProviderService::new(groups_config("huge", &server.url("/g"), "$.groups"));
    let reason = unavailable(block_on(service.ask(groups_of("alice"))));
    assert!(reason.contains("larger than 1048576 bytes"), "{reason}");
}
