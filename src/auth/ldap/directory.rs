//! The LDAP operations behind each question, on the service's own thread: connections
//! (pooled, reconnected), the user search, the user's bind and the group searches.
//!
//! ```text
//! Authenticate: search the user (service connection) -> bind as the user's DN (a
//!               connection used only for user binds) -> groups (service connection)
//! Groups:       search the user -> groups
//! ```
//!
//! Two kinds of connection, never mixed: *service* connections are bound as `bind_dn`
//! (or anonymous) and only search; *bind* connections only ever carry user binds, each
//! of which replaces the identity of the one before, so a user's identity never leaks
//! into a search. Both are kept idle for reuse (at most `connection_pool_size` each: the
//! worker runs that many questions at once) and dropped on any transport error.
//!
//! Must not: panic on a reply (entries are read by `entry::parse`), put user input in a
//! filter or DN unescaped, bind with an empty password (an unauthenticated bind that
//! succeeds, RFC 4513 §5.1.2), or let a password into an error message.

use super::entry::{self, Entry};
use super::seconds;
use super::settings::{GroupSearch, HaMode, LdapServer, LdapSettings};
use crate::auth::remote::{Answer, Question};
use ldap3::{ldap_escape, Ldap, LdapConnAsync, LdapConnSettings, LdapError, Scope};
use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::future::Future;
use std::io;
use std::sync::Arc;

/// RFC 4511 Appendix A result codes the service tells apart.
const SUCCESS: u32 = 0;
const SIZE_LIMIT_EXCEEDED: u32 = 4;
const REFERRAL: u32 = 10;
const NO_SUCH_OBJECT: u32 = 32;
const INVALID_CREDENTIALS: u32 = 49;

/// `supportedCapabilities` of an Active Directory rootDSE (LDAP_CAP_ACTIVE_DIRECTORY_OID).
const ACTIVE_DIRECTORY_CAPABILITY: &str = "1.2.840.113556.1.4.800";
/// LDAP_MATCHING_RULE_IN_CHAIN: Active Directory follows nested membership itself.
const MATCHING_RULE_IN_CHAIN: &str = "1.2.840.113556.1.4.1941";

/// Why a question got no answer.
#[derive(Debug)]
pub(super) enum Failure {
    /// The directory could not be reached or did not answer in time (counts toward the
    /// circuit breaker).
    Unreachable(String),
    /// The directory answered, but not in a way the service can use: an unexpected
    /// result code, a malformed entry, a refused service bind.
    Refused(String),
}

/// A service connection.
struct Searcher {
    ldap: Ldap,
    /// Whether the server is Active Directory; read from the rootDSE once per connection,
    /// and only when nested groups need it.
    active_directory: Option<bool>,
}

/// What the service learned about a user.
struct User {
    dn: String,
    /// The entry's `user_id_attribute` (what `group_attribute_is_dn: false` matches).
    id: String,
    /// `search_groups_in_user_entries`: the group DNs the entry lists.
    group_dns: Vec<String>,
}

/// The connections and operations of one definition. Lives on the service's thread
/// (tasks run on one `LocalSet`), hence `Cell`/`RefCell`: no borrow lives across an await.
pub(super) struct Directory {
    settings: Arc<super::Shared>,
    next_server: Cell<usize>,
    searchers: RefCell<Vec<Searcher>>,
    binders: RefCell<Vec<Ldap>>,
}

impl Directory {
    pub(super) fn new(settings: Arc<super::Shared>) -> Directory {
        Directory {
            settings,
            next_server: Cell::new(0),
            searchers: RefCell::new(Vec::new()),
            binders: RefCell::new(Vec::new()),
        }
    }

    fn settings(&self) -> &LdapSettings {
        &self.settings.settings
    }

    /// Answers one question. A pooled connection may have been closed since (a directory
    /// restart): a question that fails to reach the directory on one is asked once more
    /// on fresh connections (searches and binds are safe to repeat).
    pub(super) async fn answer(&self, question: &Question) -> Result<Answer, Failure> {
        let mut reused = false;
        match self.attempt(question, &mut reused).await {
            Err(Failure::Unreachable(_)) if reused => {
                self.searchers.borrow_mut().clear();
                self.binders.borrow_mut().clear();
                self.attempt(question, &mut false).await
            }
            outcome => outcome,
        }
    }

    async fn attempt(&self, question: &Question, reused: &mut bool) -> Result<Answer, Failure> {
        if question.user().is_empty() {
            return Ok(Answer::Rejected);
        }
        if let Question::Authenticate { password, .. } = question {
            if password.is_empty() {
                return Ok(Answer::Rejected);
            }
        }
        let mut searcher = self.searcher(reused).await?;
        let outcome = self.ask(&mut searcher, question, reused).await;
        if !matches!(outcome, Err(Failure::Unreachable(_))) {
            self.searchers.borrow_mut().push(searcher);
        }
        outcome
    }

    async fn ask(
        &self,
        searcher: &mut Searcher,
        question: &Question,
        reused: &mut bool,
    ) -> Result<Answer, Failure> {
        let (user, with_groups) = match question {
            Question::Authenticate {
                user,
                password,
                with_groups,
            } => {
                let Some(found) = self.find_user(searcher, user).await? else {
                    return Ok(Answer::Rejected);
                };
                if !self.bind_as_user(&found.dn, password, reused).await? {
                    return Ok(Answer::Rejected);
                }
                (found, *with_groups)
            }
            Question::Groups { user } => match self.find_user(searcher, user).await? {
                Some(found) => (found, true),
                None => return Ok(Answer::Rejected),
            },
        };
        let groups = if with_groups {
            self.groups(searcher, &user).await?
        } else {
            Vec::new()
        };
        if groups.len() > crate::auth::remote::MAX_GROUPS {
            return Err(Failure::Refused(format!(
                "`{}` is in {} groups, more than {}",
                user.id,
                groups.len(),
                crate::auth::remote::MAX_GROUPS
            )));
        }
        Ok(Answer::Known { groups })
    }

    /// The user's entry; `None` when no entry or more than one matches (never a guess).
    async fn find_user(
        &self,
        searcher: &mut Searcher,
        user: &str,
    ) -> Result<Option<User>, Failure> {
        let users = &self.settings().users;
        let group_attribute = match &self.settings().groups {
            Some(GroupSearch::InUserEntries { user_attribute, .. }) => {
                Some(user_attribute.as_str())
            }
            _ => None,
        };
        if users.skip_search {
            let dn = entry::user_dn(&users.id_attribute, user, &users.base_dn);
            let Some(attribute) = group_attribute else {
                return Ok(Some(User {
                    dn,
                    id: user.to_string(),
                    group_dns: Vec::new(),
                }));
            };
            let entries = self
                .search(searcher, &dn, Scope::Base, "(objectClass=*)", &[attribute])
                .await?;
            return Ok(entries.first().map(|found| User {
                group_dns: found.values(attribute).to_vec(),
                dn,
                id: user.to_string(),
            }));
        }
        let mut attributes = vec![users.id_attribute.as_str()];
        attributes.extend(group_attribute);
        let filter = entry::equality(&users.id_attribute, user);
        let entries = self
            .search(
                searcher,
                &users.base_dn,
                Scope::Subtree,
                &filter,
                &attributes,
            )
            .await?;
        let [found] = entries.as_slice() else {
            return Ok(None);
        };
        // LDAP matching ignores case, spaces and Unicode width (`ADMIN`, ` admin `, full-width
        // letters all find `admin`); the gateway's rules compare names exactly. Only the
        // directory's own spelling authenticates, so that no variant slips past a `users`
        // rule or a forbid block written for it.
        if found.first(&users.id_attribute) != Some(user) {
            return Ok(None);
        }
        Ok(Some(User {
            dn: found.dn.clone(),
            id: user.to_string(),
            group_dns: group_attribute
                .map(|a| found.values(a).to_vec())
                .unwrap_or_default(),
        }))
    }

    /// A simple bind as `dn` on a bind connection: `true` when the password is right,
    /// `false` on invalidCredentials.
    async fn bind_as_user(
        &self,
        dn: &str,
        password: &str,
        reused: &mut bool,
    ) -> Result<bool, Failure> {
        if password.is_empty() || dn.is_empty() {
            return Ok(false);
        }
        let idle = pop_open(&mut self.binders.borrow_mut(), |ldap| ldap.is_closed());
        let mut ldap = match idle {
            Some(ldap) => {
                *reused = true;
                ldap
            }
            None => self.connect().await?,
        };
        let result = self
            .timed("user bind", ldap.simple_bind(dn, password))
            .await?;
        self.binders.borrow_mut().push(ldap);
        match result.rc {
            SUCCESS => Ok(true),
            INVALID_CREDENTIALS => Ok(false),
            _ => Err(Failure::Refused(format!(
                "the bind as `{dn}` failed: {result}"
            ))),
        }
    }

    /// An idle service connection, or a new one bound as `bind_dn`.
    async fn searcher(&self, reused: &mut bool) -> Result<Searcher, Failure> {
        if let Some(searcher) = pop_open(&mut self.searchers.borrow_mut(), |s| s.ldap.is_closed()) {
            *reused = true;
            return Ok(searcher);
        }
        let mut ldap = self.connect().await?;
        if let Some(bind) = &self.settings().bind {
            let result = self
                .timed("service bind", ldap.simple_bind(&bind.dn, &bind.password))
                .await?;
            if result.rc != SUCCESS {
                return Err(Failure::Refused(format!(
                    "the service bind as `{}` failed: {result}",
                    bind.dn
                )));
            }
        }
        Ok(Searcher {
            ldap,
            active_directory: None,
        })
    }

    /// A new connection to the first server that takes it (`FAILOVER`), or starting at
    /// the next server each time (`ROUND_ROBIN`).
    async fn connect(&self) -> Result<Ldap, Failure> {
        let servers = &self.settings().servers;
        let start = match self.settings().ha {
            HaMode::Failover => 0,
            HaMode::RoundRobin => {
                let next = self.next_server.get();
                self.next_server.set(next.wrapping_add(1));
                next
            }
        };
        let mut causes = Vec::with_capacity(servers.len());
        for i in 0..servers.len() {
            let server = &servers[start.wrapping_add(i) % servers.len()];
            match self.connect_to(server).await {
                Ok(ldap) => return Ok(ldap),
                Err(cause) => causes.push(format!("cannot connect to {server}: {cause}")),
            }
        }
        if causes.is_empty() {
            causes.push("no server is configured".to_string());
        }
        Err(Failure::Unreachable(causes.join("; ")))
    }

    async fn connect_to(&self, server: &LdapServer) -> Result<Ldap, String> {
        let timeout = self.settings().connection_timeout;
        let mut options = LdapConnSettings::new().set_conn_timeout(timeout);
        if server.tls {
            match &self.settings.tls {
                Some(config) => options = options.set_config(config.clone()),
                None => return Err("no TLS configuration".to_string()),
            }
        }
        let url = server.url();
        match tokio::time::timeout(timeout, LdapConnAsync::with_settings(options, &url)).await {
            Err(_) => Err(format!("no connection within {}", seconds(timeout))),
            Ok(Err(e)) => Err(cause(&e)),
            Ok(Ok((connection, ldap))) => {
                // Ends when the last handle is dropped or the server closes the socket
                // (the handle then reports `is_closed`).
                tokio::task::spawn_local(async move {
                    let _ended = connection.drive().await;
                });
                Ok(ldap)
            }
        }
    }

    async fn search(
        &self,
        searcher: &mut Searcher,
        base: &str,
        scope: Scope,
        filter: &str,
        attributes: &[&str],
    ) -> Result<Vec<Entry>, Failure> {
        let ldap3::SearchResult(entries, result) = self
            .timed(
                "search",
                searcher
                    .ldap
                    .search(base, scope, filter, attributes.to_vec()),
            )
            .await?;
        match result.rc {
            SUCCESS => {}
            NO_SUCH_OBJECT => return Ok(Vec::new()),
            // A cut-off or redirected search is not the whole answer: a group past the cut
            // could be the one a forbid block looks for (fail closed).
            SIZE_LIMIT_EXCEEDED | REFERRAL => {
                return Err(Failure::Refused(format!(
                    "the search under `{base}` was incomplete: {result}"
                )))
            }
            _ => {
                return Err(Failure::Refused(format!(
                    "the search under `{base}` failed: {result}"
                )))
            }
        }
        entries
            .into_iter()
            .map(|found| {
                entry::parse(found.0).ok_or_else(|| {
                    Failure::Refused(format!("a malformed entry in a search under `{base}`"))
                })
            })
            .collect()
    }

    /// `operation` within `request_timeout`; a timeout or a broken connection is
    /// `Unreachable`, an error result `Refused`.
    async fn timed<T>(
        &self,
        operation: &str,
        future: impl Future<Output = ldap3::result::Result<T>>,
    ) -> Result<T, Failure> {
        let timeout = self.settings().request_timeout;
        match tokio::time::timeout(timeout, future).await {
            Err(_) => Err(Failure::Unreachable(format!(
                "no answer to the {operation} within {}",
                seconds(timeout)
            ))),
            Ok(Err(LdapError::LdapResult { result })) => Err(Failure::Refused(format!(
                "the {operation} failed: {result}"
            ))),
            Ok(Err(LdapError::FilterParsing)) => Err(Failure::Refused(format!(
                "the {operation} filter does not parse"
            ))),
            Ok(Err(e)) => Err(Failure::Unreachable(format!(
                "the {operation} failed: {}",
                cause(&e)
            ))),
            Ok(Ok(value)) => Ok(value),
        }
    }

    /// The user's group ids, in the order found, without repeats.
    async fn groups(&self, searcher: &mut Searcher, user: &User) -> Result<Vec<String>, Failure> {
        let depth = self.settings().nested_groups_depth;
        match &self.settings().groups {
            None => Ok(Vec::new()),
            Some(GroupSearch::InGroupEntries {
                base_dn,
                id_attribute,
                member_attribute,
                filter,
                member_is_dn,
            }) => {
                let attributes = [id_attribute.as_str()];
                // The in-chain rule follows DNs: with members listed by id it does not apply.
                if depth > 0 && *member_is_dn && self.is_active_directory(searcher).await? {
                    // One search: AD walks the whole chain (any depth).
                    let chain = format!(
                        "({member_attribute}:{MATCHING_RULE_IN_CHAIN}:={})",
                        ldap_escape(&user.dn)
                    );
                    let found = self
                        .search(
                            searcher,
                            base_dn,
                            Scope::Subtree,
                            &entry::and(&chain, filter),
                            &attributes,
                        )
                        .await?;
                    return Ok(ids(&found, id_attribute));
                }
                let member = if *member_is_dn { &user.dn } else { &user.id };
                let direct = entry::and(&entry::equality(member_attribute, member), filter);
                let mut found = self
                    .search(searcher, base_dn, Scope::Subtree, &direct, &attributes)
                    .await?;
                // Breadth first: the groups whose members include a group of the last
                // round; a group seen before is not followed again (cycles end).
                let mut seen: HashSet<String> =
                    found.iter().map(|g| g.dn.to_ascii_lowercase()).collect();
                let mut frontier: Vec<String> = found.iter().map(|g| g.dn.clone()).collect();
                for _ in 0..depth {
                    if frontier.is_empty() {
                        break;
                    }
                    let any: String = frontier
                        .iter()
                        .map(|dn| entry::equality(member_attribute, dn))
                        .collect();
                    let parents = self
                        .search(
                            searcher,
                            base_dn,
                            Scope::Subtree,
                            &entry::and(&format!("(|{any})"), filter),
                            &attributes,
                        )
                        .await?;
                    frontier.clear();
                    for parent in parents {
                        if seen.insert(parent.dn.to_ascii_lowercase()) {
                            frontier.push(parent.dn.clone());
                            found.push(parent);
                        }
                    }
                }
                Ok(ids(&found, id_attribute))
            }
            Some(GroupSearch::InUserEntries {
                base_dn,
                id_attribute,
                user_attribute,
            }) => {
                // Nested: a group entry lists the groups it is in with the same attribute
                // (what slapd's memberof overlay and Active Directory maintain).
                let mut seen = HashSet::new();
                let mut all = Vec::new();
                let mut frontier = user.group_dns.clone();
                for level in 0..=depth {
                    let mut next = Vec::new();
                    for dn in frontier {
                        if !seen.insert(dn.to_ascii_lowercase()) {
                            continue;
                        }
                        if level < depth {
                            let found = self
                                .search(
                                    searcher,
                                    &dn,
                                    Scope::Base,
                                    "(objectClass=*)",
                                    &[user_attribute.as_str()],
                                )
                                .await?;
                            next.extend(
                                found
                                    .iter()
                                    .flat_map(|g| g.values(user_attribute).iter().cloned()),
                            );
                        }
                        all.push(dn);
                    }
                    frontier = next;
                }
                let mut groups = Vec::new();
                for dn in all.iter().filter(|dn| entry::is_under(dn, base_dn)) {
                    let id = match entry::first_rdn(dn) {
                        Some((kind, value)) if kind.eq_ignore_ascii_case(id_attribute) => {
                            Some(value)
                        }
                        _ => self
                            .search(
                                searcher,
                                dn,
                                Scope::Base,
                                "(objectClass=*)",
                                &[id_attribute.as_str()],
                            )
                            .await?
                            .first()
                            .and_then(|g| g.first(id_attribute).map(str::to_string)),
                    };
                    if let Some(id) = id.filter(|id| !groups.contains(id)) {
                        groups.push(id);
                    }
                }
                Ok(groups)
            }
        }
    }

    async fn is_active_directory(&self, searcher: &mut Searcher) -> Result<bool, Failure> {
        if let Some(known) = searcher.active_directory {
            return Ok(known);
        }
        let capabilities = "supportedCapabilities";
        let known = match self
            .search(
                searcher,
                "",
                Scope::Base,
                "(objectClass=*)",
                &[capabilities],
            )
            .await
        {
            Ok(root) => root.iter().any(|dse| {
                dse.values(capabilities)
                    .iter()
                    .any(|c| c == ACTIVE_DIRECTORY_CAPABILITY)
            }),
            // A rootDSE the service account may not read: not Active Directory.
            Err(Failure::Refused(_)) => false,
            Err(unreachable) => return Err(unreachable),
        };
        searcher.active_directory = Some(known);
        Ok(known)
    }
}

/// The last idle connection that is still open (closed ones are dropped).
fn pop_open<T>(idle: &mut Vec<T>, mut is_closed: impl FnMut(&mut T) -> bool) -> Option<T> {
    while let Some(mut connection) = idle.pop() {
        if !is_closed(&mut connection) {
            return Some(connection);
        }
    }
    None
}

/// Each entry's first `attribute` value, without repeats.
fn ids(entries: &[Entry], attribute: &str) -> Vec<String> {
    let mut ids: Vec<String> = Vec::with_capacity(entries.len());
    let mut seen = std::collections::HashSet::with_capacity(entries.len());
    for id in entries.iter().filter_map(|e| e.first(attribute)) {
        if seen.insert(id) {
            ids.push(id.to_string());
        }
    }
    ids
}

/// A transport error in a few words ("connection refused", "timed out").
fn cause(error: &LdapError) -> String {
    match error {
        LdapError::Io { source } => match source.kind() {
            io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
            io::ErrorKind::TimedOut => "timed out".to_string(),
            io::ErrorKind::ConnectionReset => "connection reset".to_string(),
            _ => source.to_string(),
        },
        LdapError::OpSend { .. } | LdapError::ResultRecv { .. } | LdapError::EndOfStream => {
            "the connection was closed".to_string()
        }
        other => other.to_string(),
    }
}
