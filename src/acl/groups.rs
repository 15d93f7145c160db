//! The `users` section and the groups rules that authenticate through it.
//!
//! ReadonlyREST tries every user definition whose groups fit, hashing against each
//! (issue #309). Here only the definitions whose `username` patterns match the user the
//! request presents are considered, so a wrong password costs at most one hash per
//! matching definition, usually one.

use super::pattern::{Glob, ValuePattern};
use super::request::Request;
use super::rule::{AuthRule, Outcome, Verifier};
use super::variable::Resolve;

/// One entry of the `users` section.
#[derive(Debug, Clone)]
pub struct UserDef {
    pub usernames: Vec<Glob>,
    /// Local group ids.
    pub groups: Vec<String>,
    pub auth: AuthRule,
}

#[derive(Debug, Clone, Default)]
pub struct UsersSection {
    pub users: Vec<UserDef>,
}

/// Which groups a user must (not) have. Group patterns are globs and may hold variables.
#[derive(Debug, Clone)]
pub enum GroupsLogic {
    AnyOf(Vec<ValuePattern>),
    AllOf(Vec<ValuePattern>),
    NotAnyOf(Vec<ValuePattern>),
    NotAllOf(Vec<ValuePattern>),
    /// A positive and a negative condition, both required.
    Combined(Box<GroupsLogic>, Box<GroupsLogic>),
}

impl GroupsLogic {
    pub fn satisfied_by(&self, groups: &[String], from: &dyn Resolve) -> bool {
        let matched = |p: &ValuePattern| groups.iter().any(|g| p.matches(g, from));
        match self {
            GroupsLogic::AnyOf(patterns) => patterns.iter().any(matched),
            GroupsLogic::AllOf(patterns) => patterns.iter().all(matched),
            GroupsLogic::NotAnyOf(patterns) => !patterns.iter().any(matched),
            GroupsLogic::NotAllOf(patterns) => !patterns.iter().all(matched),
            GroupsLogic::Combined(positive, negative) => {
                positive.satisfied_by(groups, from) && negative.satisfied_by(groups, from)
            }
        }
    }
}

impl UsersSection {
    /// Authenticates the request through the first user definition that names the
    /// presented user, has groups satisfying `logic`, and whose credentials check out.
    pub fn authenticate<'r>(
        &'r self,
        logic: &GroupsLogic,
        req: &'r Request<'r>,
        verifier: &dyn Verifier,
        from: &dyn Resolve,
    ) -> Outcome<'r> {
        let mut outcome = Outcome::NoMatch;
        for def in &self.users {
            let Some(presented) = def.auth.presented_user(req) else {
                if def.auth.uses_basic() {
                    outcome = Outcome::BadCredentials;
                }
                continue;
            };
            if !def.usernames.iter().any(|u| u.matches(presented)) {
                if def.auth.uses_basic() && matches!(outcome, Outcome::NoMatch) {
                    outcome = Outcome::BadCredentials;
                }
                continue;
            }
            if !logic.satisfied_by(&def.groups, from) {
                continue;
            }
            match def.auth.check(req, verifier, from) {
                Outcome::Authenticated(user, _) => {
                    return Outcome::Authenticated(user, Some(&def.groups))
                }
                pending @ Outcome::Pending(_) => return pending,
                Outcome::BadCredentials => outcome = Outcome::BadCredentials,
                _ => {}
            }
        }
        outcome
    }
}
