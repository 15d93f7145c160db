//! External HTTP identity services: ReadonlyREST's `external_authentication_service_configs`
//! ([`ExternalAuthService`], asked by the `external_authentication` rule) and
//! `user_groups_providers` ([`GroupsProviderService`], asked by
//! `groups_provider_authorization`). Both implement [`RemoteService`].
//!
//! Owns: the HTTP exchange of each service (request shape, status → answer), and the
//! settings compiled from the policy (`config::policy::external` decodes them). `queue`
//! runs the exchanges on each service's own threads; `json_path` reads the groups out of a
//! groups provider's response.
//!
//! Must not: block a worker (ARCHITECTURE rule 4: `ask` only queues), follow redirects,
//! read more than [`MAX_RESPONSE_BYTES`] of a response, or put a password in an error.
//!
//! ## What the services are asked, and what their answers mean
//!
//! `external_authentication`: `GET <authentication_endpoint>` with
//! `Authorization: Basic base64(user:password)`, the request's own credentials, as
//! ReadonlyREST sends them. The response body is not read.
//!
//! | the service answers | [`Answer`] |
//! |---|---|
//! | `success_status_code` (default 204) | `Known { groups: [] }` |
//! | 5xx (other than the success code) | `Unavailable` (a failing service is not a wrong password; counts for the breaker) |
//! | 407, 408, 429 (the service could not judge: a proxy, a timeout, a rate limit) | `Unavailable` (not a failed login) |
//! | any other status (401, 403, 200 when 204 is expected, 3xx: not followed) | `Rejected` |
//! | no connection, timeout, broken HTTP | `Unavailable` (counts for the breaker) |
//!
//! A `Groups` question is answered `Unavailable` at once: this service knows no groups.
//!
//! `groups_provider_authorization`: `GET` (or `POST`, `http_method`) to `groups_endpoint`
//! with the user name as the header `<auth_token_name>: <user>` or the URL-encoded query
//! parameter `<auth_token_name>=<user>` (`auth_token_passed_as`), after the
//! `default_headers` / `default_query_parameters` (POST sends no body, as ReadonlyREST).
//! A groups provider never sees a password: an `Authenticate` question is answered
//! `Unavailable` (it cannot check one), and so is a user name that cannot be written in a
//! header (the provider was not asked: its groups are unknown, not empty).
//!
//! | the service answers | [`Answer`] |
//! |---|---|
//! | 2xx with JSON | `Known { groups }`: the strings (numbers as text) `response_group_ids_json_path` selects; none selected is no groups |
//! | 2xx, not JSON, or more than [`MAX_RESPONSE_BYTES`] | `Unavailable` (ReadonlyREST would see no groups; failing closed keeps a `groups_not_any_of` from allowing on a broken reply) |
//! | 404 (the user is unknown) | `Rejected` (ReadonlyREST fails the rule on any non-2xx) |
//! | any other 4xx (the gateway's own token refused, a rate limit, a timeout: nothing about the user) | `Unavailable`, so that a forbid block with a groups check never fails open |
//! | 5xx, no connection, timeout | `Unavailable` (counts for the breaker) |
//! | 1xx, 3xx (redirects are not followed) | `Unavailable` |
//!
//! ## Threads and timeouts
//!
//! Each service runs `connection_pool_size` threads, at most [`MAX_THREADS`]
//! ([`DEFAULT_THREADS`] when unset: ReadonlyREST's default of 30 sizes an asynchronous
//! client's connection pool; here each thread holds one exchange in flight, and answers are
//! cached by the gateway), started on the first question and named `ringfence-ext-<name>`.
//! `connection_timeout_in_sec` bounds connecting (default 2 s),
//! `connection_request_timeout_in_sec` the whole exchange (default 5 s), as in
//! ReadonlyREST; `socket_timeout_in_sec`, when given, each read. The circuit breaker uses
//! ReadonlyREST's LDAP defaults (10 failures in a row, 10 s), as these sections have no
//! `circuit_breaker` key there.

mod json_path;
mod queue;

pub use json_path::{JsonPath, JsonPathError};
pub use queue::QUEUE_CAPACITY;
/// The header types of [`GroupsProviderConfig`] (ureq's `http` crate).
pub use ureq::http::{HeaderName, HeaderValue};

use crate::auth::remote::{
    self, Answer, CircuitBreaker, PendingAnswer, Question, RemoteService, Unavailable,
};
use base64::Engine;
use queue::{Exchange, Outcome, Queue};
use std::fmt;
use std::time::Duration;
use ureq::http::{Response, Uri};
use ureq::Agent;

/// ReadonlyREST's `connection_timeout_in_sec` default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// ReadonlyREST's `connection_request_timeout_in_sec` default: the whole exchange.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Threads per service when `connection_pool_size` is not given.
pub const DEFAULT_THREADS: usize = 2;
/// The most threads one service runs, whatever `connection_pool_size` says.
pub const MAX_THREADS: usize = 8;
/// The most of a groups provider's response that is read; a larger one is `Unavailable`.
pub const MAX_RESPONSE_BYTES: u64 = 1024 * 1024;
/// ReadonlyREST's `success_status_code` default.
pub const DEFAULT_SUCCESS_STATUS: u16 = 204;

/// `http_connection_settings` (and the breaker, which has no key in these sections).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSettings {
    pub connect_timeout: Duration,
    /// The whole exchange: connecting, sending, and reading the response.
    pub request_timeout: Duration,
    /// Each read, when given (`socket_timeout_in_sec`).
    pub read_timeout: Option<Duration>,
    /// Threads, each with one exchange in flight (`connection_pool_size`, capped).
    pub threads: usize,
    /// `validate`: check the service's TLS certificate against the webpki roots.
    pub validate_certificates: bool,
    pub max_retries: u32,
    pub reset_duration: Duration,
}

impl Default for HttpSettings {
    fn default() -> HttpSettings {
        HttpSettings {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            read_timeout: None,
            threads: DEFAULT_THREADS,
            validate_certificates: true,
            max_retries: remote::breaker::DEFAULT_MAX_RETRIES,
            reset_duration: remote::breaker::DEFAULT_RESET_DURATION,
        }
    }
}

impl HttpSettings {
    fn breaker(&self) -> CircuitBreaker {
        CircuitBreaker::new(self.max_retries, self.reset_duration)
    }

    fn threads(&self) -> usize {
        self.threads.clamp(1, MAX_THREADS)
    }

    /// The HTTP client: no redirects, no proxy from the environment, statuses as values.
    fn agent(&self) -> Agent {
        let tls = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::Rustls)
            .root_certs(remote::https_roots())
            .disable_verification(!self.validate_certificates)
            .build();
        Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .proxy(None)
            .user_agent("ringfence")
            .timeout_connect(Some(self.connect_timeout))
            .timeout_global(Some(self.request_timeout))
            .timeout_per_read(self.read_timeout)
            .max_idle_connections(self.threads())
            .max_idle_connections_per_host(self.threads())
            .tls_config(tls)
            .build()
            .new_agent()
    }
}

/// A service's URL: `http` or `https`, a host, no user info.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint(String);

impl Endpoint {
    pub fn parse(text: &str) -> Result<Endpoint, String> {
        let text = text.trim();
        let uri: Uri = text
            .parse()
            .map_err(|e| format!("`{text}` is not a URL ({e})"))?;
        match uri.scheme_str() {
            Some("http" | "https") => {}
            _ => return Err(format!("`{text}` must be an http:// or https:// URL")),
        }
        let Some(authority) = uri.authority() else {
            return Err(format!("`{text}` has no host"));
        };
        if authority.as_str().contains('@') {
            return Err(format!(
                "`{text}`: credentials in the URL are not supported"
            ));
        }
        if authority.host().is_empty() {
            return Err(format!("`{text}` has no host"));
        }
        Ok(Endpoint(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One `external_authentication_service_configs` entry.
#[derive(Debug, Clone)]
pub struct ExternalAuthConfig {
    pub name: String,
    pub endpoint: Endpoint,
    pub success_status: u16,
    pub cache_ttl: Option<Duration>,
    pub http: HttpSettings,
}

/// An external Basic-auth service.
#[derive(Debug)]
pub struct ExternalAuthService {
    config: ExternalAuthConfig,
    queue: Queue<BasicAuthExchange>,
}

impl ExternalAuthService {
    /// Starts nothing: the threads start on the first question.
    pub fn new(config: ExternalAuthConfig) -> ExternalAuthService {
        let label = format!("external_authentication service `{}`", config.name);
        let exchange = BasicAuthExchange {
            agent: config.http.agent(),
            endpoint: config.endpoint.clone(),
            success_status: config.success_status,
            label: label.clone(),
        };
        ExternalAuthService {
            queue: Queue::new(
                label,
                &config.name,
                config.http.threads(),
                config.http.breaker(),
                exchange,
            ),
            config,
        }
    }

    /// The definition, as compiled.
    pub fn config(&self) -> &ExternalAuthConfig {
        &self.config
    }
}

impl RemoteService for ExternalAuthService {
    fn name(&self) -> &str {
        &self.config.name
    }

    fn ask(&self, question: Question) -> PendingAnswer {
        match question {
            Question::Authenticate { .. } => self.queue.ask(question),
            Question::Groups { .. } => remote::ready(Err(Unavailable {
                reason: format!(
                    "external_authentication service `{}` answers no groups",
                    self.config.name
                ),
            })),
        }
    }

    fn cache_ttl(&self) -> Option<Duration> {
        self.config.cache_ttl
    }
}

struct BasicAuthExchange {
    agent: Agent,
    endpoint: Endpoint,
    success_status: u16,
    label: String,
}

impl Exchange for BasicAuthExchange {
    fn run(&self, question: &Question) -> Outcome {
        let Question::Authenticate { user, password, .. } = question else {
            // `ExternalAuthService::ask` answers `Groups` itself.
            return Outcome::Reply(Err(self.unavailable("answers no groups")));
        };
        let credentials = base64::engine::general_purpose::STANDARD
            .encode(format!("{user}:{password}").as_bytes());
        let response = self
            .agent
            .get(self.endpoint.as_str())
            .header("authorization", format!("Basic {credentials}"))
            .call();
        match response {
            Err(e) => Outcome::Failure(self.unavailable(describe(&e))),
            Ok(response) => {
                let status = response.status().as_u16();
                if status == self.success_status {
                    Outcome::Reply(Ok(Answer::Known { groups: Vec::new() }))
                } else if matches!(status, 407 | 408 | 429) {
                    Outcome::Reply(Err(self.unavailable(format!("answered HTTP {status}"))))
                } else if status >= 500 {
                    Outcome::Failure(self.unavailable(format!("answered HTTP {status}")))
                } else {
                    Outcome::Reply(Ok(Answer::Rejected))
                }
            }
        }
    }
}

impl BasicAuthExchange {
    fn unavailable(&self, why: impl fmt::Display) -> Unavailable {
        Unavailable {
            reason: format!("{}: {why}", self.label),
        }
    }
}

/// `auth_token_passed_as`, with the token's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenPassing {
    Header(HeaderName),
    QueryParameter(String),
}

/// `http_method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpMethod {
    #[default]
    Get,
    Post,
}

/// One `user_groups_providers` entry.
#[derive(Debug, Clone)]
pub struct GroupsProviderConfig {
    pub name: String,
    pub endpoint: Endpoint,
    pub token: TokenPassing,
    pub method: HttpMethod,
    pub group_ids_path: JsonPath,
    /// Values are marked sensitive: `Debug` does not print them (they may be API keys).
    pub default_headers: Vec<(HeaderName, HeaderValue)>,
    pub default_query: Vec<(String, String)>,
    pub cache_ttl: Option<Duration>,
    pub http: HttpSettings,
}

/// A header for `default_headers`: a valid name and value, the value marked sensitive.
pub fn default_header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), String> {
    let header = HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| format!("`{name}` is not a valid header name"))?;
    let mut value = HeaderValue::from_str(value.trim())
        .map_err(|_| format!("the value of header `{name}` is not a valid header value"))?;
    value.set_sensitive(true);
    Ok((header, value))
}

/// A user groups provider.
#[derive(Debug)]
pub struct GroupsProviderService {
    config: GroupsProviderConfig,
    queue: Queue<GroupsExchange>,
}

impl GroupsProviderService {
    /// Starts nothing: the threads start on the first question.
    pub fn new(config: GroupsProviderConfig) -> GroupsProviderService {
        let label = format!("user groups provider `{}`", config.name);
        let exchange = GroupsExchange {
            agent: config.http.agent(),
            endpoint: config.endpoint.clone(),
            token: config.token.clone(),
            method: config.method,
            path: config.group_ids_path.clone(),
            default_headers: config.default_headers.clone(),
            default_query: config.default_query.clone(),
            label: label.clone(),
        };
        GroupsProviderService {
            queue: Queue::new(
                label,
                &config.name,
                config.http.threads(),
                config.http.breaker(),
                exchange,
            ),
            config,
        }
    }

    /// The definition, as compiled.
    pub fn config(&self) -> &GroupsProviderConfig {
        &self.config
    }
}

impl RemoteService for GroupsProviderService {
    fn name(&self) -> &str {
        &self.config.name
    }

    /// `Authenticate` is answered `Unavailable` (by the exchange): the provider never
    /// checks a password.
    fn ask(&self, question: Question) -> PendingAnswer {
        self.queue.ask(question)
    }

    fn cache_ttl(&self) -> Option<Duration> {
        self.config.cache_ttl
    }
}

struct GroupsExchange {
    agent: Agent,
    endpoint: Endpoint,
    token: TokenPassing,
    method: HttpMethod,
    path: JsonPath,
    default_headers: Vec<(HeaderName, HeaderValue)>,
    default_query: Vec<(String, String)>,
    label: String,
}

impl GroupsExchange {
    fn unavailable(&self, why: impl fmt::Display) -> Unavailable {
        Unavailable {
            reason: format!("{}: {why}", self.label),
        }
    }

    fn prepare<B>(
        &self,
        mut request: ureq::RequestBuilder<B>,
        user: &str,
    ) -> ureq::RequestBuilder<B> {
        for (name, value) in &self.default_headers {
            request = request.header(name, value);
        }
        for (key, value) in &self.default_query {
            request = request.query(key, value);
        }
        match &self.token {
            TokenPassing::Header(name) => request.header(name, user),
            TokenPassing::QueryParameter(key) => request.query(key, user),
        }
    }

    fn send(&self, user: &str) -> Result<Response<ureq::Body>, ureq::Error> {
        let endpoint = self.endpoint.as_str();
        match self.method {
            HttpMethod::Get => self.prepare(self.agent.get(endpoint), user).call(),
            HttpMethod::Post => self.prepare(self.agent.post(endpoint), user).send_empty(),
        }
    }

    fn groups(&self, mut response: Response<ureq::Body>) -> Outcome {
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BYTES)
            .read_to_vec();
        let body = match body {
            Ok(body) => body,
            Err(ureq::Error::BodyExceedsLimit(_)) => {
                return Outcome::Reply(Err(self.unavailable(format!(
                    "the response is larger than {MAX_RESPONSE_BYTES} bytes"
                ))))
            }
            Err(e) => return Outcome::Failure(self.unavailable(describe(&e))),
        };
        match serde_json::from_slice::<serde_json::Value>(&body) {
            Ok(json) => {
                let groups = self.path.strings(&json);
                if groups.len() > remote::MAX_GROUPS {
                    return Outcome::Reply(Err(self.unavailable(format!(
                        "names {} groups, more than {} (every request would copy them)",
                        groups.len(),
                        remote::MAX_GROUPS
                    ))));
                }
                Outcome::Reply(Ok(Answer::Known { groups }))
            }
            Err(e) => Outcome::Reply(Err(
                self.unavailable(format!("the response is not JSON ({e})"))
            )),
        }
    }
}

impl Exchange for GroupsExchange {
    fn run(&self, question: &Question) -> Outcome {
        let Question::Groups { user } = question else {
            // Never asked by a rule: a groups provider cannot check a password.
            return Outcome::Reply(Err(self.unavailable("checks no passwords")));
        };
        if matches!(self.token, TokenPassing::Header(_)) && HeaderValue::from_str(user).is_err() {
            // Not asked, so its groups are unknown (not none): fail closed.
            return Outcome::Reply(Err(
                self.unavailable("the user name cannot be sent in a header")
            ));
        }
        match self.send(user) {
            Err(e) => Outcome::Failure(self.unavailable(describe(&e))),
            Ok(response) => match response.status().as_u16() {
                200..=299 => self.groups(response),
                404 => Outcome::Reply(Ok(Answer::Rejected)),
                status @ 400..=499 => Outcome::Reply(Err(self.unavailable(format!(
                    "answered HTTP {status}, which says nothing about the user"
                )))),
                status @ 500.. => {
                    Outcome::Failure(self.unavailable(format!("answered HTTP {status}")))
                }
                status => Outcome::Reply(Err(self.unavailable(format!(
                    "answered HTTP {status}, which is not an answer (redirects are not followed)"
                )))),
            },
        }
    }
}

/// What went wrong, for a reason: the kind of failure and its cause (never a header).
fn describe(error: &ureq::Error) -> String {
    match error {
        ureq::Error::Timeout(which) => format!("no answer in time ({which})"),
        ureq::Error::Io(e) => format!("cannot reach the service ({e})"),
        ureq::Error::HostNotFound => "cannot reach the service (host not found)".to_string(),
        ureq::Error::ConnectionFailed => "cannot reach the service (connection failed)".to_string(),
        other => format!("the exchange failed ({other})"),
    }
}
