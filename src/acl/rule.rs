//! Compiled rules and how each one matches a request.
//!
//! Every rule is pure: it reads the request and the block's session (the user an
//! authentication rule established) and answers with an [`Outcome`]. Expensive password
//! hashes are never computed here: a rule that would need one answers `Pending`, the proxy
//! verifies on the hashing pool and evaluates again with the result cached.

use super::es_rules::{ActionsRule, NameKind, NamesRule};
use super::groups::{GroupsLogic, UsersSection};
use super::indices::{IndicesRule, Narrowing};
use super::jwt::JwtRule;
use super::kibana::KibanaRule;
use super::network::{client_behind_proxies, leftmost_forwarded_for, HostPattern};
use super::pattern::{Glob, ValuePattern};
use super::remote::{Ask, RemoteRule};
use super::request::Request;
use super::variable::{Resolve, Template};
use crate::auth::jwt::{ClaimPath, JwtDefinition, VerifiedToken};
use crate::auth::key::{AuthKey, Cost, Verdict};
use crate::auth::remote::{Answer, Asked, Unavailable};
use ipnet::IpNet;
use std::borrow::Cow;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// When a rule runs inside its block: request-only rules first (cheap, and a request from
/// the wrong host never costs a password hash), then authentication, then authorization,
/// then rules that read the authenticated user. Rules are ANDed, so the order never changes
/// whether a block matches, only what it costs to find out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    Request,
    Authentication,
    Authorization,
    User,
    /// `indices`, `kibana`, per-item bulk action checks and `repositories`/`snapshots`/
    /// `data_streams` (which can wait for a body too): last, as in ReadonlyREST for
    /// `indices`, so that a body is only read for requests whose every other rule already
    /// matched. (ReadonlyREST runs `kibana` earlier; rules are ANDed and neither reads the
    /// other's result, so only the cost differs.)
    Indices,
}

/// Whether a user was authenticated by the request's Basic credentials (a key rule) rather
/// than by a header or a token: only then are those credentials known to be good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ByBasic(pub bool);

/// An expensive credential check the ACL needs done before it can decide.
#[derive(Debug, Clone)]
pub struct Pending {
    pub key_id: u32,
    pub key: Arc<AuthKey>,
    /// How long the verdict may be cached (`auth_cache_ttl_sec` of the block), if set.
    pub cache_ttl: Option<std::time::Duration>,
}

/// Answers for expensive hashes that were already computed (the per-core cache), and
/// JWT verifications.
pub trait Verifier {
    fn cached(&self, key_id: u32, user: &str, password: &str) -> Option<Verdict>;

    /// `token` verified against `definition`, or `None` when it is refused. This default
    /// verifies every time; the proxy's per-core verifier remembers verifications
    /// (`auth::jwt::cache`): an RSA or ECDSA check costs tens of microseconds.
    fn jwt(&self, definition: &JwtDefinition, token: &str) -> Option<Arc<VerifiedToken>> {
        definition.verify(token).ok().map(Arc::new)
    }

    /// The answer of the identity service numbered `service_id` to `asked`, if it is
    /// known (cached, or asked for this request); `None` makes the rule ask.
    fn remote(&self, _service_id: u32, _asked: Asked<'_>) -> Option<Result<Answer, Unavailable>> {
        None
    }
}

/// A verifier that knows nothing (every expensive hash is pending).
pub struct NoCache;

impl Verifier for NoCache {
    fn cached(&self, _: u32, _: &str, _: &str) -> Option<Verdict> {
        None
    }
}

#[derive(Debug, Clone)]
pub enum Outcome<'r> {
    Match,
    NoMatch,
    /// Credentials were missing or wrong for a rule that reads `Authorization: Basic`
    /// (counts towards answering 401 instead of 403).
    BadCredentials,
    /// The user this rule authenticated (and its groups, from a `users` entry or an
    /// identity service), and whether the request's Basic credentials were what proved it.
    Authenticated(Cow<'r, str>, Option<Cow<'r, [String]>>, ByBasic),
    /// An authorization rule found the authenticated user's groups (from a service) to
    /// satisfy it: they are the block's groups from here on.
    Authorized(Vec<String>),
    /// A JWT rule verified the request's token: the user it names (`None` for
    /// `jwt_authorization`, which authenticates nobody), and the token for `@{jwt:...}`.
    Token {
        user: Option<String>,
        token: Arc<VerifiedToken>,
    },
    Pending(Pending),
    /// An identity service must answer first.
    Ask(Ask),
    /// An identity service needed to decide could not answer: never a match.
    Unavailable(Unavailable),
    /// The indices are in the body, which has not been read yet.
    NeedsBody,
    /// Matches once the request names only what is granted (a narrowed read).
    Narrowed(Narrowing),
    /// A read that names only indices this rule forbids: answered like a missing index.
    IndexNotFound,
}

/// An authentication rule (in a block, or the one of a `users` entry).
#[derive(Debug, Clone)]
pub enum AuthRule {
    Key {
        id: u32,
        key: Arc<AuthKey>,
        cache_ttl: Option<std::time::Duration>,
    },
    Proxy {
        header: String,
        users: Vec<ValuePattern>,
    },
    Token {
        header: String,
        token: Box<[u8]>,
        username: String,
    },
    /// `certificate_authentication`: the user is the first capture group of `pattern` in
    /// the subject DN of the verified client certificate.
    Certificate { pattern: regex::Regex },
    /// `jwt_authentication` (no groups) and `jwt_auth` (with groups).
    Jwt(JwtRule),
    /// `ldap_authentication`, `ldap_auth`, `external_authentication`.
    Remote(RemoteRule),
}

/// `certificate_authentication: true`: the first CN of the subject DN. Anchored at an RDN
/// boundary: an `OU=CN=admin` attribute (RFC 4514 does not escape `=`) names nobody.
pub const DEFAULT_CERTIFICATE_USERNAME_PATTERN: &str = "(?:^|,)CN=([^,]+)";

impl AuthRule {
    /// The user name the request claims for this rule, before any check.
    pub fn presented_user<'r>(&'r self, req: &'r Request<'r>) -> Option<&'r str> {
        match self {
            AuthRule::Key { .. } | AuthRule::Remote(_) => {
                req.basic.as_ref().map(|b| b.user.as_str())
            }
            AuthRule::Proxy { header, .. } => req.header(header),
            // A static token stands for the user name configured with it.
            AuthRule::Token { username, .. } => Some(username),
            AuthRule::Certificate { pattern } => certificate_user(pattern, req.certificate_dn?),
            // Only a verified token names a user; the decoder keeps JWT rules out of the
            // `users` section, the one caller that asks before checking.
            AuthRule::Jwt(_) => None,
        }
    }

    pub fn uses_basic(&self) -> bool {
        matches!(self, AuthRule::Key { .. } | AuthRule::Remote(_))
    }

    pub fn check<'r>(
        &self,
        req: &'r Request<'r>,
        verifier: &dyn Verifier,
        from: &dyn Resolve,
    ) -> Outcome<'r> {
        match self {
            AuthRule::Key { id, key, cache_ttl } => {
                let Some(basic) = &req.basic else {
                    return Outcome::BadCredentials;
                };
                if key.username().is_some_and(|u| u != basic.user) {
                    return Outcome::BadCredentials;
                }
                let verdict = match key.cost() {
                    Cost::Cheap => key.verify(basic.user.as_bytes(), basic.password.as_bytes()),
                    Cost::Expensive => match verifier.cached(*id, &basic.user, &basic.password) {
                        Some(verdict) => verdict,
                        None => {
                            return Outcome::Pending(Pending {
                                key_id: *id,
                                key: Arc::clone(key),
                                cache_ttl: *cache_ttl,
                            })
                        }
                    },
                };
                match verdict {
                    Verdict::Match => {
                        Outcome::Authenticated(Cow::Borrowed(&basic.user), None, ByBasic(true))
                    }
                    _ => Outcome::BadCredentials,
                }
            }
            AuthRule::Proxy { header, users } => match req.header(header) {
                Some(user) if users.iter().any(|p| p.matches(user, from)) => {
                    Outcome::Authenticated(Cow::Borrowed(user), None, ByBasic(false))
                }
                _ => Outcome::NoMatch,
            },
            AuthRule::Token {
                header,
                token,
                username,
            } => match req.headers(header).next() {
                Some(value) if bool::from(value.ct_eq(token)) => {
                    Outcome::Authenticated(Cow::Owned(username.clone()), None, ByBasic(false))
                }
                _ => Outcome::NoMatch,
            },
            // No certificate is no credential for this rule, not a wrong one: a Basic
            // prompt would not help (NoMatch, never BadCredentials).
            AuthRule::Certificate { pattern } => {
                match req
                    .certificate_dn
                    .and_then(|dn| certificate_user(pattern, dn))
                {
                    Some(user) => Outcome::Authenticated(Cow::Borrowed(user), None, ByBasic(false)),
                    None => Outcome::NoMatch,
                }
            }
            AuthRule::Jwt(rule) => rule.authenticate(req, verifier, from),
            AuthRule::Remote(rule) => rule.authenticate(req, verifier, from),
        }
    }
}

/// The user name `pattern` finds in `dn`: its first capture group, when not empty.
fn certificate_user<'d>(pattern: &regex::Regex, dn: &'d str) -> Option<&'d str> {
    let user = pattern.captures(dn)?.get(1)?.as_str();
    (!user.is_empty()).then_some(user)
}

/// How `x_forwarded_for` finds the address to check.
#[derive(Debug, Clone)]
pub enum ForwardedMode {
    /// ReadonlyREST: the leftmost entry (written by the client; spoofable).
    Leftmost,
    /// The right-most entry not written by one of these proxies.
    TrustedProxies(Vec<IpNet>),
}

/// One `headers_and`/`headers_or` item: `name:glob`, or `~name:glob` for "no such header".
#[derive(Debug, Clone)]
pub struct HeaderItem {
    pub name: String,
    pub value: Glob,
    pub negated: bool,
}

impl HeaderItem {
    fn holds(&self, req: &Request<'_>) -> bool {
        let mut values = req.headers(&self.name);
        let found = values.any(|v| self.value.matches_bytes(v));
        found != self.negated
    }
}

/// A compiled `uri_re` pattern.
#[derive(Debug, Clone)]
pub enum UriPattern {
    Static(regex::Regex),
    Dynamic(Template),
}

#[derive(Debug, Clone)]
pub enum Rule {
    Hosts {
        hosts: Vec<HostPattern>,
        accept_forwarded_for: bool,
    },
    HostsLocal(Vec<HostPattern>),
    ForwardedFor {
        hosts: Vec<HostPattern>,
        mode: ForwardedMode,
    },
    /// Bit set of [`method_bit`]s.
    Methods(u8),
    Headers {
        all: bool,
        items: Vec<HeaderItem>,
    },
    UriRe(Vec<UriPattern>),
    MaxBodyLength(u64),
    ApiKeys(Vec<Box<[u8]>>),
    Auth(AuthRule),
    Groups(GroupsLogic),
    /// `jwt_authorization`: the token's groups (its block has another authentication rule).
    JwtAuthorization(JwtRule),
    /// `ldap_authorization`, `groups_provider_authorization`: the authenticated user's
    /// groups, from a service.
    RemoteGroups(RemoteRule),
    Users(Vec<ValuePattern>),
    Actions(ActionsRule),
    Indices(IndicesRule),
    Names(NamesRule),
    Kibana(KibanaRule),
}

/// The bit of a method in a `methods` set; HEAD counts as GET, as Elasticsearch reads it.
pub fn method_bit(method: crate::http::Method) -> u8 {
    use crate::http::Method::*;
    match method {
        Get => 1,
        Head => 2,
        Post => 4,
        Put => 8,
        Delete => 16,
        Options => 32,
        Patch => 64,
    }
}

impl Rule {
    /// The ReadonlyREST name of the rule (for logs and audit).
    pub fn name(&self) -> &'static str {
        match self {
            Rule::Hosts { .. } => "hosts",
            Rule::HostsLocal(_) => "hosts_local",
            Rule::ForwardedFor { .. } => "x_forwarded_for",
            Rule::Methods(_) => "methods",
            Rule::Headers { all: true, .. } => "headers_and",
            Rule::Headers { all: false, .. } => "headers_or",
            Rule::UriRe(_) => "uri_re",
            Rule::MaxBodyLength(_) => "max_body_length",
            Rule::ApiKeys(_) => "api_keys",
            Rule::Auth(AuthRule::Key { key, .. }) => key.kind().rule_name(),
            Rule::Auth(AuthRule::Proxy { .. }) => "proxy_auth",
            Rule::Auth(AuthRule::Token { .. }) => "token_authentication",
            Rule::Auth(AuthRule::Certificate { .. }) => "certificate_authentication",
            Rule::Auth(AuthRule::Jwt(rule)) | Rule::JwtAuthorization(rule) => rule.rule_name,
            Rule::Auth(AuthRule::Remote(rule)) | Rule::RemoteGroups(rule) => rule.rule_name,
            Rule::Groups(_) => "groups",
            Rule::Users(_) => "users",
            Rule::Actions(_) => "actions",
            Rule::Indices(_) => "indices",
            Rule::Names(n) => match n.kind {
                NameKind::Repositories => "repositories",
                NameKind::Snapshots => "snapshots",
                NameKind::DataStreams => "data_streams",
            },
            Rule::Kibana(k) => k.name(),
        }
    }

    /// Whether the rule reads the authenticated user (`users`, `@{user}` in any value), so
    /// its block needs an authentication rule.
    pub fn reads_user(&self) -> bool {
        match self {
            Rule::Indices(rule) => rule.needs_user(),
            Rule::Names(n) => n.patterns.iter().any(ValuePattern::needs_user),
            _ => self.phase() == Phase::User,
        }
    }

    pub fn phase(&self) -> Phase {
        let needs_user = match self {
            Rule::Hosts { hosts, .. }
            | Rule::HostsLocal(hosts)
            | Rule::ForwardedFor { hosts, .. } => hosts.iter().any(HostPattern::needs_user),
            Rule::UriRe(patterns) => patterns
                .iter()
                .any(|p| matches!(p, UriPattern::Dynamic(t) if t.needs_user())),
            _ => false,
        };
        match self {
            // `repositories`, `snapshots`, `data_streams` may wait for a body too.
            Rule::Indices(_) | Rule::Names(_) => Phase::Indices,
            // May need the body to know the decoded length: read only once the rest matched.
            Rule::MaxBodyLength(_) => Phase::Indices,
            Rule::Actions(a) if a.check_bulk_items => Phase::Indices,
            // Reads the request's indices, which may be in the body (`_bulk` into `.kibana`).
            Rule::Kibana(k) if k.reads_indices() => Phase::Indices,
            _ if needs_user => Phase::User,
            Rule::Auth(_) => Phase::Authentication,
            Rule::Groups(_) | Rule::JwtAuthorization(_) | Rule::RemoteGroups(_) => {
                Phase::Authorization
            }
            Rule::Users(_) => Phase::User,
            _ => Phase::Request,
        }
    }

    pub fn check<'r>(&'r self, s: &Session<'r>) -> Outcome<'r> {
        let req = s.req;
        let yes = |b: bool| if b { Outcome::Match } else { Outcome::NoMatch };
        match self {
            Rule::Hosts {
                hosts,
                accept_forwarded_for,
            } => {
                let forwarded = accept_forwarded_for
                    .then(|| {
                        req.header("x-forwarded-for")
                            .and_then(leftmost_forwarded_for)
                    })
                    .flatten();
                let ip = forwarded.unwrap_or(req.peer);
                yes(hosts.iter().any(|h| h.matches(ip, s)))
            }
            Rule::HostsLocal(hosts) => yes(hosts.iter().any(|h| h.matches(req.local, s))),
            Rule::ForwardedFor { hosts, mode } => {
                let client = match mode {
                    ForwardedMode::Leftmost => req
                        .header("x-forwarded-for")
                        .and_then(leftmost_forwarded_for),
                    ForwardedMode::TrustedProxies(trusted) => {
                        let entries: Vec<&str> = req
                            .headers("x-forwarded-for")
                            .filter_map(|v| std::str::from_utf8(v).ok())
                            .flat_map(|v| v.split(','))
                            .collect();
                        client_behind_proxies(req.peer, entries.into_iter(), trusted)
                    }
                };
                yes(client.is_some_and(|ip| hosts.iter().any(|h| h.matches(ip, s))))
            }
            Rule::Methods(bits) => {
                let bit = method_bit(req.method);
                let head_as_get = req.method == crate::http::Method::Head
                    && bits & method_bit(crate::http::Method::Get) != 0;
                yes(bits & bit != 0 || head_as_get)
            }
            Rule::Headers { all: true, items } => yes(items.iter().all(|i| i.holds(req))),
            Rule::Headers { all: false, items } => yes(items.iter().any(|i| i.holds(req))),
            Rule::UriRe(patterns) => yes(patterns.iter().any(|p| match p {
                UriPattern::Static(re) => re.is_match(req.path),
                UriPattern::Dynamic(template) => template
                    .resolve(s)
                    .iter()
                    .filter_map(|text| regex::Regex::new(text).ok())
                    .any(|re| re.is_match(req.path)),
            })),
            // The decoded length (de-chunked, inflated) is what the node reads; until the
            // body has been read it is unknown for chunked or compressed bodies.
            Rule::MaxBodyLength(max) => match req.content_length {
                Some(n) => yes(n <= *max),
                None => Outcome::NeedsBody,
            },
            Rule::ApiKeys(keys) => {
                let presented = req.headers("x-api-key").next();
                yes(presented.is_some_and(|p| {
                    keys.iter()
                        .fold(false, |found, k| found | bool::from(k.as_ref().ct_eq(p)))
                }))
            }
            Rule::Auth(auth) => auth.check(req, s.verifier, s),
            Rule::Groups(logic) => s.users.authenticate(logic, req, s.verifier, s),
            Rule::JwtAuthorization(rule) => rule.authorize(req, s.verifier, s),
            Rule::RemoteGroups(rule) => match &s.user {
                Some(user) => rule.authorize(user, s.verifier, s),
                None => Outcome::NoMatch,
            },
            Rule::Users(patterns) => match &s.user {
                Some(user) => yes(patterns.iter().any(|p| p.matches(user, s))),
                None => Outcome::NoMatch,
            },
            Rule::Actions(rule) => rule.check(req.es.as_ref()),
            Rule::Indices(rule) => rule.check(s),
            Rule::Names(rule) => rule.check(s),
            Rule::Kibana(rule) => rule.check(s),
        }
    }
}

/// One block's evaluation of one request: the request and what earlier rules established.
pub struct Session<'r> {
    pub req: &'r Request<'r>,
    pub verifier: &'r dyn Verifier,
    pub users: &'r UsersSection,
    pub user: Option<Cow<'r, str>>,
    pub groups: Option<Cow<'r, [String]>>,
    /// The token a JWT rule of the block verified (`@{jwt:...}` reads it).
    pub jwt: Option<Arc<VerifiedToken>>,
}

impl Resolve for Session<'_> {
    fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    fn header(&self, lower_name: &str) -> Option<&str> {
        self.req.header(lower_name)
    }

    fn current_group(&self) -> Option<&str> {
        let group = self.req.header("x-ror-current-group")?;
        self.groups
            .as_ref()?
            .iter()
            .any(|g| g == group)
            .then_some(group)
    }

    fn certificate_dn(&self) -> Option<&str> {
        self.req.certificate_dn
    }

    fn jwt_claim(&self, path: &ClaimPath) -> Option<Cow<'_, str>> {
        self.jwt.as_deref()?.claim_text(path)
    }
}
