//! The rules that ask an identity service over the network (`auth::remote`):
//! `ldap_authentication`, `ldap_auth` and `external_authentication` (Basic credentials,
//! checked by the service), `ldap_authorization` and `groups_provider_authorization` (the
//! groups of a user another rule of the block authenticated).
//!
//! Pure, like every rule: the answer comes from the [`Verifier`] (the worker's cache of
//! answers, or this request's own); when it has none, the rule answers
//! [`Outcome::Ask`] and the proxy asks the service, then evaluates again. An answer
//! "unavailable" is [`Outcome::Unavailable`]: never a match (fail closed).

use super::groups::GroupsLogic;
use super::request::Request;
use super::rule::{ByBasic, Outcome, Verifier};
use super::variable::Resolve;
use crate::auth::remote::{Answer, Asked, Question, RemoteService};
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

/// One rule naming a service, with the groups its answer must satisfy (if any).
#[derive(Debug, Clone)]
pub struct RemoteRule {
    pub service: Arc<dyn RemoteService>,
    /// The service's number in its policy (answers are cached by it, per policy).
    pub service_id: u32,
    pub groups: Option<GroupsLogic>,
    /// Whether authenticating also asks for the user's groups: a groups check, or a
    /// `users` entry that maps them to local groups.
    pub with_groups: bool,
    /// The rule's own `cache_ttl`, over the service's.
    pub cache_ttl: Option<Duration>,
    /// As written, for logs and audit.
    pub rule_name: &'static str,
}

/// A question the ACL needs answered before it can decide.
#[derive(Debug, Clone)]
pub struct Ask {
    pub service: Arc<dyn RemoteService>,
    pub service_id: u32,
    pub question: Question,
    /// How long the answer may be cached (the rule's, else the service's `cache_ttl`).
    pub cache_ttl: Option<Duration>,
}

impl RemoteRule {
    fn ask(&self, asked: Asked<'_>) -> Outcome<'static> {
        Outcome::Ask(Ask {
            service: Arc::clone(&self.service),
            service_id: self.service_id,
            question: asked.to_question(),
            cache_ttl: self.cache_ttl.or_else(|| self.service.cache_ttl()),
        })
    }

    /// Whether the groups satisfy the rule's logic (no logic: yes).
    fn groups_hold(&self, groups: &[String], from: &dyn Resolve) -> bool {
        self.groups
            .as_ref()
            .is_none_or(|logic| logic.satisfied_by(groups, from))
    }

    /// `ldap_authentication`, `ldap_auth`, `external_authentication`: the request's Basic
    /// credentials, checked by the service (with the user's groups for `ldap_auth`).
    pub fn authenticate<'r>(
        &self,
        req: &'r Request<'r>,
        verifier: &dyn Verifier,
        from: &dyn Resolve,
    ) -> Outcome<'r> {
        let Some(basic) = &req.basic else {
            return Outcome::BadCredentials;
        };
        // Never asked: to an LDAP server a simple bind with an empty password is an
        // anonymous bind, which succeeds (RFC 4513 5.1.2).
        if basic.password.is_empty() {
            return Outcome::BadCredentials;
        }
        let asked = Asked::Authenticate {
            user: &basic.user,
            password: &basic.password,
            with_groups: self.with_groups,
        };
        match verifier.remote(self.service_id, asked) {
            None => self.ask(asked),
            Some(Err(unavailable)) => Outcome::Unavailable(unavailable),
            Some(Ok(Answer::Rejected)) => Outcome::BadCredentials,
            // Good credentials without the groups: a user who is simply not allowed here
            // (a 403; a password prompt would not help).
            Some(Ok(Answer::Known { groups })) if !self.groups_hold(&groups, from) => {
                Outcome::NoMatch
            }
            Some(Ok(Answer::Known { groups })) => Outcome::Authenticated(
                Cow::Borrowed(&basic.user),
                self.with_groups.then_some(Cow::Owned(groups)),
                ByBasic(true),
            ),
        }
    }

    /// `ldap_authorization`, `groups_provider_authorization`: the groups of `user` (whom
    /// another rule of the block authenticated).
    pub fn authorize(
        &self,
        user: &str,
        verifier: &dyn Verifier,
        from: &dyn Resolve,
    ) -> Outcome<'static> {
        let asked = Asked::Groups { user };
        match verifier.remote(self.service_id, asked) {
            None => self.ask(asked),
            Some(Err(unavailable)) => Outcome::Unavailable(unavailable),
            Some(Ok(Answer::Known { groups })) if self.groups_hold(&groups, from) => {
                Outcome::Authorized(groups)
            }
            Some(Ok(_)) => Outcome::NoMatch,
        }
    }
}
