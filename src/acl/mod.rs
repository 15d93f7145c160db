//! The compiled access-control list and its decisions (no IO).
//!
//! A ReadonlyREST `readonlyrest:` section compiles (`config::policy`) into an [`Acl`]: ordered
//! blocks, each an AND of rules. [`Acl::evaluate`] walks the blocks in order; the first block
//! whose rules all match decides (allow or forbid); no match denies. Rules run in a fixed
//! order inside a block (see [`rule::Phase`]).
//!
//! ```text
//! Request ─▶ block 1 ─▶ block 2 ─▶ … ─▶ no match: 403 (or 401 if credentials were the issue)
//!              │ all rules matched
//!              ▼
//!          allow ▶ forward     forbid ▶ 403 with the block's message
//! ```

pub mod block_audit;
pub mod es_rules;
pub mod groups;
pub mod indices;
pub mod jwt;
pub mod kibana;
pub mod network;
pub mod pattern;
pub mod remote;
pub mod request;
pub mod rule;
pub mod variable;

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;

pub use block_audit::{BlockAudit, BlockSinks};
pub use request::{Basic, Request};
pub use rule::{ByBasic, NoCache, Pending, Verifier};

use crate::auth::remote::{Answer, Asked, Unavailable};
use groups::UsersSection;
use network::HostName;
use remote::Ask;
use rule::{AuthRule, Outcome, Rule, Session};
use std::borrow::Cow;
use std::sync::Arc;

/// ROR's default forbidden message (`GlobalSettings.defaultForbiddenRequestMessage`).
pub const DEFAULT_FORBIDDEN_MESSAGE: &str = "Forbidden by ReadonlyREST";
/// The realm in `WWW-Authenticate`.
pub const REALM: &str = "ringfence";

/// A compiled policy. Immutable once built; shared by all workers through a `Snapshot`.
#[derive(Debug)]
pub struct Acl {
    pub(crate) mode: Mode,
    pub(crate) blocks: Vec<Block>,
    pub(crate) users: UsersSection,
    pub(crate) settings: Settings,
    /// Every host name the rules mention (resolved by `snapshot`, outside the hot path).
    pub(crate) host_names: Vec<Arc<HostName>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `readonlyrest.enable: false`: the ACL is off and everything passes.
    Disabled,
    Enabled,
}

/// `global_settings` (also accepted directly under `readonlyrest:`).
#[derive(Debug, Clone)]
pub struct Settings {
    pub prompt_for_basic_auth: bool,
    pub forbidden_message: String,
    pub username_ignore_case: bool,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            // Ringfence keeps ReadonlyREST's pre-1.60 default: browsers and curl get a prompt.
            prompt_for_basic_auth: true,
            forbidden_message: DEFAULT_FORBIDDEN_MESSAGE.to_string(),
            username_ignore_case: false,
        }
    }
}

/// `type: allow` or `type: forbid` (with an optional message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Policy {
    Allow,
    Forbid { message: Option<String> },
}

#[derive(Debug)]
pub struct Block {
    pub name: String,
    pub policy: Policy,
    /// `verbosity` / `audit`: whether and where the requests this block decides are audited.
    pub audit: BlockAudit,
    /// Sorted by phase.
    pub(crate) rules: Vec<Rule>,
}

impl Block {
    /// Whether a request must prove who sends it to match: an authentication rule, a
    /// `groups` rule (its users authenticate) or `api_keys`.
    pub fn authenticates(&self) -> bool {
        self.rules
            .iter()
            .any(|r| matches!(r, Rule::Auth(_) | Rule::Groups(_) | Rule::ApiKeys(_)))
    }

    /// Whether the block matches only some client addresses (a `hosts` rule).
    pub fn restricts_clients(&self) -> bool {
        self.rules.iter().any(|r| matches!(r, Rule::Hosts { .. }))
    }
}

/// What the ACL says about one request. Borrows from the ACL and the request.
#[derive(Debug, Clone)]
pub enum Decision<'r> {
    Allow {
        /// The matching block's name; `None` when the ACL is disabled.
        block: Option<&'r str>,
        /// The matching block's position in [`Acl::blocks`].
        position: Option<usize>,
        user: Option<Cow<'r, str>>,
        /// A read to rewrite so that it names only what is granted.
        narrowed: Option<indices::Narrowing>,
        /// The user was authenticated by the request's Basic credentials.
        by_basic: ByBasic,
        /// Basic credentials were presented, an earlier block rejected them and they are
        /// valid for no rule of the ACL, though this block let the request in without them
        /// (anonymous access): a failed login all the same, counted by the failure limits.
        credentials_rejected: bool,
    },
    Forbid {
        /// The forbid block that matched; `None` when no block matched.
        block: Option<&'r str>,
        /// Its position in [`Acl::blocks`].
        position: Option<usize>,
        reason: &'r str,
        due_to: &'static str,
        /// Basic credentials were presented and are valid for no rule of the ACL (a failed
        /// login, counted by the failure limits).
        credentials_rejected: bool,
    },
    /// No block matched and the credentials were the problem (Basic credentials valid for
    /// no rule, or none where they were needed): ask for Basic credentials.
    Unauthorized {
        reason: &'r str,
        /// As in `Forbid`: Basic credentials were presented and rejected.
        credentials_rejected: bool,
    },
    /// An expensive hash must be verified first; evaluate again (from the [`Resume`]) once
    /// it is known.
    Verify(Pending, Resume),
    /// An identity service must answer first; evaluate again (from the [`Resume`]) once
    /// its answer is known.
    Ask(Ask, Resume),
    /// An identity service the decision depends on could not answer: a forbid block that
    /// needed it, or no block matched while one that needed it might have (fail closed:
    /// 503, never an allow).
    Unavailable(Unavailable),
    /// The decision depends on indices named in the body: read it, then evaluate again
    /// (from the [`Resume`]).
    ReadBody(Resume),
    /// A read of indices the user may not see: answered as Elasticsearch answers for a
    /// missing index, so that their existence does not leak.
    IndexNotFound,
}

/// How one block fared.
enum BlockResult<'r> {
    Matched(Option<Cow<'r, str>>, Option<indices::Narrowing>, ByBasic),
    NotMatched {
        bad_credentials: bool,
        index_not_found: bool,
    },
    Pending(Pending),
    Ask(Ask),
    Unavailable(Unavailable),
    NeedsBody,
}

/// Where an evaluation that stopped for a hash or for the body picks up again: every block
/// before `block` was tried and did not match on rules that need neither (a rule that needs
/// an unknown hash or the body stops the walk at its own block), so neither can change them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resume {
    block: usize,
    /// What the blocks before it said about the credentials and the indices.
    bad_credentials: bool,
    index_not_found: bool,
    /// The first identity service a block before it could not ask.
    unavailable: Option<Unavailable>,
}

impl Acl {
    /// Decides one request.
    pub fn evaluate<'r>(
        &'r self,
        req: &'r Request<'r>,
        verifier: &'r dyn Verifier,
    ) -> Decision<'r> {
        self.evaluate_from(req, verifier, Resume::default())
    }

    /// Decides one request, starting where an earlier evaluation of it stopped.
    pub fn evaluate_from<'r>(
        &'r self,
        req: &'r Request<'r>,
        verifier: &'r dyn Verifier,
        resume: Resume,
    ) -> Decision<'r> {
        if self.mode == Mode::Disabled {
            return Decision::Allow {
                block: None,
                position: None,
                user: None,
                narrowed: None,
                by_basic: ByBasic(false),
                credentials_rejected: false,
            };
        }
        let mut bad_credentials = resume.bad_credentials;
        let mut index_not_found = resume.index_not_found;
        let mut unavailable = resume.unavailable;
        for (position, block) in self.blocks.iter().enumerate().skip(resume.block) {
            let stopped = || Resume {
                block: position,
                bad_credentials,
                index_not_found,
                unavailable: unavailable.clone(),
            };
            match self.evaluate_block(block, req, verifier) {
                BlockResult::Matched(user, narrowed, by_basic) => {
                    // A guess an earlier block rejected is a failed login even when a later
                    // block needs no credentials (else the anonymous answer is an unthrottled
                    // oracle for guesses). Valid credentials of a later block whose expensive
                    // hash was never verified count too, once: a repeated password counts once.
                    // A block that authenticated these credentials itself settles it (no
                    // second look at every key for each request of a later block's user).
                    let credentials_rejected = bad_credentials
                        && !by_basic.0
                        && req.basic.is_some()
                        && !self.recognises(req, verifier);
                    return match &block.policy {
                        Policy::Allow => Decision::Allow {
                            block: Some(&block.name),
                            position: Some(position),
                            user,
                            narrowed,
                            by_basic,
                            credentials_rejected,
                        },
                        Policy::Forbid { message } => Decision::Forbid {
                            block: Some(&block.name),
                            position: Some(position),
                            reason: message
                                .as_deref()
                                .unwrap_or(&self.settings.forbidden_message),
                            due_to: "FORBIDDEN_BY_BLOCK",
                            credentials_rejected,
                        },
                    };
                }
                BlockResult::NotMatched {
                    bad_credentials: bad,
                    index_not_found: missing,
                } => {
                    bad_credentials |= bad;
                    index_not_found |= missing;
                }
                BlockResult::Pending(pending) => return Decision::Verify(pending, stopped()),
                BlockResult::Ask(ask) => return Decision::Ask(ask, stopped()),
                BlockResult::NeedsBody => return Decision::ReadBody(stopped()),
                // A forbid block that cannot be decided denies (rule 5); an allow block
                // that cannot be decided does not allow, and later blocks may still.
                BlockResult::Unavailable(reason) => match block.policy {
                    Policy::Forbid { .. } => return Decision::Unavailable(reason),
                    Policy::Allow => {
                        unavailable.get_or_insert(reason);
                    }
                },
            }
        }
        if let Some(reason) = unavailable {
            return Decision::Unavailable(reason);
        }
        let rejected = bad_credentials && !self.recognises(req, verifier);
        let credentials_rejected = rejected && req.basic.is_some();
        if rejected && self.settings.prompt_for_basic_auth {
            return Decision::Unauthorized {
                reason: &self.settings.forbidden_message,
                credentials_rejected,
            };
        }
        if index_not_found && !credentials_rejected {
            return Decision::IndexNotFound;
        }
        Decision::Forbid {
            block: None,
            position: None,
            reason: &self.settings.forbidden_message,
            due_to: "OPERATION_NOT_ALLOWED",
            credentials_rejected,
        }
    }

    fn evaluate_block<'r>(
        &'r self,
        block: &'r Block,
        req: &'r Request<'r>,
        verifier: &'r dyn Verifier,
    ) -> BlockResult<'r> {
        let mut session = Session {
            req,
            verifier,
            users: &self.users,
            user: None,
            groups: None,
            jwt: None,
        };
        let not_matched = |bad_credentials, index_not_found| BlockResult::NotMatched {
            bad_credentials,
            index_not_found,
        };
        let mut narrowed = None;
        let mut by_basic = ByBasic(false);
        for rule in &block.rules {
            match rule.check(&session) {
                Outcome::Match => {}
                Outcome::Authenticated(user, groups, basic) => {
                    by_basic = basic;
                    session.user = Some(user);
                    if groups.is_some() {
                        session.groups = groups;
                    }
                }
                Outcome::Authorized(groups) => session.groups = Some(Cow::Owned(groups)),
                Outcome::Token { user, token } => {
                    if let Some(user) = user {
                        by_basic = ByBasic(false);
                        session.user = Some(Cow::Owned(user));
                    }
                    session.jwt = Some(token);
                }
                Outcome::Narrowed(indices) => narrowed = Some(indices),
                Outcome::NoMatch => return not_matched(false, false),
                Outcome::BadCredentials => return not_matched(true, false),
                Outcome::IndexNotFound => return not_matched(false, true),
                Outcome::Pending(pending) => return BlockResult::Pending(pending),
                Outcome::Ask(ask) => return BlockResult::Ask(ask),
                Outcome::Unavailable(reason) => return BlockResult::Unavailable(reason),
                Outcome::NeedsBody => return BlockResult::NeedsBody,
            }
        }
        BlockResult::Matched(session.user, narrowed, by_basic)
    }

    /// Whether the request's Basic credentials are valid for any authentication rule of the
    /// ACL. A known user who is simply not allowed gets 403; a prompt would not help them.
    /// Expensive keys count only when their verdict is already cached: this question is
    /// never worth a hash.
    fn recognises(&self, req: &Request<'_>, verifier: &dyn Verifier) -> bool {
        let Some(basic) = &req.basic else {
            return false;
        };
        let block_rules = self
            .blocks
            .iter()
            .flat_map(|b| &b.rules)
            .filter_map(|r| match r {
                Rule::Auth(auth) => Some(auth),
                _ => None,
            });
        let user_rules = self
            .users
            .users
            .iter()
            .filter(|u| u.usernames.iter().any(|g| g.matches(&basic.user)))
            .map(|u| &u.auth);
        block_rules.chain(user_rules).any(|auth| match auth {
            AuthRule::Key { id, key, .. } => {
                let verdict = match key.cost() {
                    crate::auth::key::Cost::Cheap => {
                        Some(key.verify(basic.user.as_bytes(), basic.password.as_bytes()))
                    }
                    crate::auth::key::Cost::Expensive => {
                        verifier.cached(*id, &basic.user, &basic.password)
                    }
                };
                verdict == Some(crate::auth::key::Verdict::Match)
            }
            AuthRule::Remote(rule) => {
                let asked = Asked::Authenticate {
                    user: &basic.user,
                    password: &basic.password,
                    with_groups: rule.with_groups,
                };
                matches!(
                    verifier.remote(rule.service_id, asked),
                    Some(Ok(Answer::Known { .. }))
                )
            }
            _ => false,
        })
    }

    /// Host names to resolve (by `snapshot`, off the hot path).
    pub fn host_names(&self) -> &[Arc<HostName>] {
        &self.host_names
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    /// The block at `position` (as a [`Decision`] names it); `None` when this ACL has no
    /// such block (a position taken from another snapshot's decision).
    pub fn block(&self, position: usize) -> Option<&Block> {
        self.blocks.get(position)
    }

    /// Every `(block name, sink name)` the blocks' `enabled_audit_sinks` and
    /// `disabled_audit_sinks` mention, in block order, for checking against the configured
    /// audit outputs (the reserved [`block_audit::DEFAULT_ACL_LOG_SINK`] included).
    pub fn audit_sink_references(&self) -> impl Iterator<Item = (&str, &str)> {
        self.blocks.iter().flat_map(|block| {
            block
                .audit
                .sinks
                .named()
                .iter()
                .map(move |sink| (block.name.as_str(), sink.as_str()))
        })
    }

    /// Whether any block or user definition authenticates with `Authorization: Basic`.
    pub fn uses_basic_auth(&self) -> bool {
        self.blocks
            .iter()
            .flat_map(|b| &b.rules)
            .any(|r| matches!(r, Rule::Auth(AuthRule::Key { .. }) | Rule::Groups(_)))
    }
}
