//! The JWT rules: `jwt_authentication` (the user is the token's `user_claim`), `jwt_auth`
//! (the same plus a groups check) and `jwt_authorization` (a groups check of the token
//! alone, after another authentication rule of the block).
//!
//! Pure, like every rule: the token is read from the request and verified through the
//! [`Verifier`] (the proxy's verifier remembers verified tokens per core, see
//! `auth::jwt::cache`). A missing or malformed header, a bad signature, an expired token or
//! a missing claim is a rule that does not match, as in ReadonlyREST: never an error, and
//! never a Basic prompt (a password would not help).

use super::groups::GroupsLogic;
use super::request::Request;
use super::rule::{Outcome, Verifier};
use super::variable::Resolve;
use crate::auth::jwt::{JwtDefinition, VerifiedToken};
use std::sync::Arc;

/// One JWT rule: the definition it names and, for `jwt_auth`/`jwt_authorization`, the
/// groups the token's `group_ids_claim` must satisfy.
#[derive(Debug, Clone)]
pub struct JwtRule {
    pub definition: Arc<JwtDefinition>,
    pub groups: Option<GroupsLogic>,
    /// `jwt_authentication`, `jwt_auth` or `jwt_authorization`, as written (`jwt_auth`
    /// without groups authenticates like `jwt_authentication`, and keeps its name in logs).
    pub rule_name: &'static str,
}

impl JwtRule {
    /// The request's token for this definition, verified; `None` when there is none or it
    /// was refused.
    fn verified(&self, req: &Request<'_>, verifier: &dyn Verifier) -> Option<Arc<VerifiedToken>> {
        let value = req.header(self.definition.header_name())?;
        let token = self.definition.token(value)?;
        verifier.jwt(&self.definition, token)
    }

    /// Whether the token's groups satisfy the rule's groups logic (no logic: yes).
    fn groups_hold(&self, token: &VerifiedToken, from: &dyn Resolve) -> bool {
        let Some(logic) = &self.groups else {
            return true;
        };
        // The decoder refuses a groups check without `group_ids_claim`; without a path
        // the token has no groups.
        let groups = match &self.definition.group_ids_claim {
            Some(path) => token.groups(path),
            None => Vec::new(),
        };
        logic.satisfied_by(&groups, from)
    }

    /// `jwt_authentication` and `jwt_auth`: the user is the token's `user_claim`.
    pub fn authenticate<'r>(
        &self,
        req: &'r Request<'r>,
        verifier: &dyn Verifier,
        from: &dyn Resolve,
    ) -> Outcome<'r> {
        let Some(token) = self.verified(req, verifier) else {
            return Outcome::NoMatch;
        };
        let user = self
            .definition
            .user_claim
            .as_ref()
            .and_then(|path| token.text(path))
            .map(str::to_string);
        match user {
            Some(user) if self.groups_hold(&token, from) => Outcome::Token {
                user: Some(user),
                token,
            },
            _ => Outcome::NoMatch,
        }
    }

    /// `jwt_authorization`: the token's groups, whoever the block authenticated.
    pub fn authorize<'r>(
        &self,
        req: &'r Request<'r>,
        verifier: &dyn Verifier,
        from: &dyn Resolve,
    ) -> Outcome<'r> {
        match self.verified(req, verifier) {
            Some(token) if self.groups_hold(&token, from) => Outcome::Token { user: None, token },
            _ => Outcome::NoMatch,
        }
    }
}
