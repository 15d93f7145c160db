//! The `users` section and the groups rules that authenticate through it.
//!
//! ReadonlyREST tries every user definition whose groups fit, hashing against each
//! (issue #309). Here only the definitions whose `username` patterns match the user the
//! request presents are considered, so a wrong password costs at most one hash per
//! matching definition, usually one.
//!
//! An entry whose user is authenticated by an identity service (`ldap_auth`, or an
//! authentication rule with `ldap_authorization` / `groups_provider_authorization`) can
//! map the service's groups to local ones (`groups: [{local: [external patterns]}]`): the
//! user is in each local group one of whose patterns matches one of its external groups.

use super::pattern::{Glob, ValuePattern};
use super::remote::RemoteRule;
use super::request::Request;
use super::rule::{AuthRule, Outcome, Verifier};
use super::variable::Resolve;
use std::borrow::Cow;

/// One entry of the `users` section.
#[derive(Debug, Clone)]
pub struct UserDef {
    pub usernames: Vec<Glob>,
    pub groups: LocalGroups,
    pub auth: AuthRule,
    /// `ldap_authorization` or `groups_provider_authorization` beside `auth`: the
    /// external groups come from it.
    pub authorization: Option<RemoteRule>,
}

/// The local groups of an entry's user.
#[derive(Debug, Clone)]
pub enum LocalGroups {
    /// Every one of these, once authenticated.
    Fixed(Vec<String>),
    /// Those whose external patterns match one of the user's external groups.
    Mapped(Vec<GroupMapping>),
}

/// One local group and the external groups that stand for it.
#[derive(Debug, Clone)]
pub struct GroupMapping {
    pub local: String,
    pub external: Vec<Glob>,
}

impl LocalGroups {
    fn of<'a>(&'a self, external: &[String]) -> Cow<'a, [String]> {
        match self {
            LocalGroups::Fixed(groups) => Cow::Borrowed(groups),
            LocalGroups::Mapped(mappings) => Cow::Owned(
                mappings
                    .iter()
                    .filter(|m| {
                        external
                            .iter()
                            .any(|group| m.external.iter().any(|p| p.matches(group)))
                    })
                    .map(|m| m.local.clone())
                    .collect(),
            ),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct UsersSection {
    pub users: Vec<UserDef>,
    /// Built on first use: which entries can authenticate a given Basic user name.
    index: std::sync::OnceLock<UserIndex>,
}

/// Entries by literal Basic user name; the rest (wildcard names, proxy and token
/// authentication) are always candidates. Keeps a 100-user section from costing 100 glob
/// matches per block.
#[derive(Debug, Clone, Default)]
struct UserIndex {
    by_name: ahash::AHashMap<String, Vec<usize>>,
    /// Some literal name is case-insensitive (keyed in lower case).
    folded: bool,
    always: Vec<usize>,
    /// Some entry authenticates with Basic credentials.
    has_basic: bool,
}

impl UserIndex {
    fn build(users: &[UserDef]) -> UserIndex {
        let mut index = UserIndex::default();
        for (i, def) in users.iter().enumerate() {
            index.has_basic |= def.auth.uses_basic();
            let literal = def.auth.uses_basic() && def.usernames.iter().all(|g| g.is_literal());
            if !literal {
                index.always.push(i);
                continue;
            }
            for glob in &def.usernames {
                index.folded |= glob.ignores_case();
                let key = if glob.ignores_case() {
                    glob.as_str().to_lowercase()
                } else {
                    glob.as_str().to_string()
                };
                index.by_name.entry(key).or_default().push(i);
            }
        }
        index
    }

    /// Entry numbers worth trying for Basic user `user`, in section order.
    fn candidates(&self, user: Option<&str>) -> smallvec::SmallVec<[usize; 8]> {
        let mut out: smallvec::SmallVec<[usize; 8]> = self.always.iter().copied().collect();
        if let Some(user) = user {
            if let Some(list) = self.by_name.get(user) {
                out.extend(list.iter().copied());
            }
            if self.folded {
                if let Some(list) = self.by_name.get(&user.to_lowercase()) {
                    out.extend(list.iter().copied());
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
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
        let index = self.index.get_or_init(|| UserIndex::build(&self.users));
        let candidates = req
            .user_candidates
            .get_or_init(|| index.candidates(req.basic.as_ref().map(|b| b.user.as_str())));
        // Until an entry accepts them, Basic credentials count as unknown (a 401 candidate).
        let outcome = if index.has_basic {
            Outcome::BadCredentials
        } else {
            Outcome::NoMatch
        };
        for def in candidates.iter().map(|&i| &self.users[i]) {
            let Some(presented) = def.auth.presented_user(req) else {
                continue;
            };
            if !def.usernames.iter().any(|u| u.matches(presented)) {
                continue;
            }
            // Fixed groups are known before any credential check: skip the check.
            if let LocalGroups::Fixed(groups) = &def.groups {
                if !logic.satisfied_by(groups, from) {
                    continue;
                }
            }
            let (user, external, by_basic) = match def.auth.check(req, verifier, from) {
                Outcome::Authenticated(user, external, by_basic) => (user, external, by_basic),
                wait @ (Outcome::Pending(_) | Outcome::Ask(_) | Outcome::Unavailable(_)) => {
                    return wait
                }
                _ => continue,
            };
            let external = match &def.authorization {
                None => external.unwrap_or_default(),
                Some(rule) => match rule.authorize(&user, verifier, from) {
                    Outcome::Authorized(groups) => Cow::Owned(groups),
                    wait @ (Outcome::Ask(_) | Outcome::Unavailable(_)) => return wait,
                    _ => continue,
                },
            };
            let local = def.groups.of(&external);
            if logic.satisfied_by(&local, from) {
                return Outcome::Authenticated(user, Some(local), by_basic);
            }
        }
        outcome
    }
}
