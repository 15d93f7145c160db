//! The compiled `ldaps:` definition: plain data, built by `config::policy::ldap` and read by
//! the service's thread.
//!
//! Must not: do IO, start threads, or print the bind password (its `Debug` is `***`).

use std::fmt;
use std::time::Duration;

/// ReadonlyREST's defaults (docs, "LDAP connector").
pub const DEFAULT_PORT: u16 = 389;
pub const DEFAULT_SSL_PORT: u16 = 636;
pub const DEFAULT_POOL_SIZE: usize = 30;
pub const DEFAULT_CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_USER_ID_ATTRIBUTE: &str = "uid";
pub const DEFAULT_GROUP_ID_ATTRIBUTE: &str = "cn";
pub const DEFAULT_MEMBER_ATTRIBUTE: &str = "uniqueMember";
pub const DEFAULT_GROUP_SEARCH_FILTER: &str = "(cn=*)";
pub const DEFAULT_GROUPS_FROM_USER_ATTRIBUTE: &str = "memberOf";

/// One `ldaps:` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdapSettings {
    pub name: String,
    /// Tried in order (`Failover`) or starting at the next one each time (`RoundRobin`).
    pub servers: Vec<LdapServer>,
    pub ha: HaMode,
    /// The service account; `None` searches anonymously.
    pub bind: Option<BindCredentials>,
    pub users: UserSearch,
    /// `None`: the definition resolves no groups (only `ldap_authentication` can use it).
    pub groups: Option<GroupSearch>,
    /// `nested_groups_depth`: 0 follows no group-in-group membership.
    pub nested_groups_depth: u32,
    /// Questions asked at the same time (each holds one connection while it runs).
    pub pool_size: usize,
    pub connection_timeout: Duration,
    pub request_timeout: Duration,
    pub max_retries: u32,
    pub reset_duration: Duration,
    pub cache_ttl: Option<Duration>,
    /// `ssl_trust_all_certs`: any server certificate is accepted (the handshake signature
    /// is still checked). For test directories only.
    pub trust_all_certs: bool,
}

/// One directory server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LdapServer {
    pub host: String,
    pub port: u16,
    /// `ldaps://` (TLS from the first byte); StartTLS is not offered.
    pub tls: bool,
}

impl LdapServer {
    /// The URL ldap3 connects to (IPv6 literals in brackets).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "ldaps" } else { "ldap" };
        if self.host.contains(':') {
            format!("{scheme}://[{}]:{}", self.host, self.port)
        } else {
            format!("{scheme}://{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for LdapServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HaMode {
    #[default]
    Failover,
    RoundRobin,
}

/// `bind_dn` and `bind_password`.
#[derive(Clone, PartialEq, Eq)]
pub struct BindCredentials {
    pub dn: String,
    pub password: String,
}

impl fmt::Debug for BindCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BindCredentials")
            .field("dn", &self.dn)
            .field("password", &"***")
            .finish()
    }
}

/// How a user id becomes an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSearch {
    /// `search_user_base_DN`.
    pub base_dn: String,
    /// `user_id_attribute` (`uid`; Active Directory: `sAMAccountName` or
    /// `userPrincipalName`, which are searched like any other attribute).
    pub id_attribute: String,
    /// `skip_user_search`: the DN is `<id_attribute>=<user>,<base_dn>` (the user escaped
    /// per RFC 4514), without asking the directory.
    pub skip_search: bool,
}

/// Where a user's groups are found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupSearch {
    /// `search_groups_in_group_entries`: groups under `base_dn` whose `member_attribute`
    /// holds the user's DN (or, with `member_is_dn: false`, the user's id), and that
    /// match `filter`; a group's id is its `id_attribute`.
    InGroupEntries {
        base_dn: String,
        id_attribute: String,
        member_attribute: String,
        filter: String,
        member_is_dn: bool,
    },
    /// `search_groups_in_user_entries`: the user entry's `user_attribute` lists group DNs;
    /// only those under `base_dn` count. A group's id is the DN's first RDN value when
    /// that RDN's type is `id_attribute` (`cn=admins,ou=Groups,...` is `admins`),
    /// otherwise the group entry is read for `id_attribute`.
    InUserEntries {
        base_dn: String,
        id_attribute: String,
        user_attribute: String,
    },
}
