//! The `gateway:` section: where to listen, where the cluster is, workers and limits.

use super::error::{entries, Diagnostics};
use super::yaml::Node;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub const DEFAULT_MAX_HEADER_BYTES: usize = 16 * 1024;
/// Elasticsearch's own `http.max_content_length` default.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 100 * 1024 * 1024;
/// Per worker: room for a few maximum-size `_bulk` bodies being inspected at once.
pub const DEFAULT_MAX_BUFFERED_BODY_BYTES: u64 = 256 * 1024 * 1024;
pub const DEFAULT_HEADER_TIMEOUT_MS: u64 = 10_000;
pub const DEFAULT_IDLE_TIMEOUT_MS: u64 = 60_000;
pub const DEFAULT_UPSTREAM_CONNECT_TIMEOUT_MS: u64 = 2_000;
pub const DEFAULT_UPSTREAM_RESPONSE_TIMEOUT_MS: u64 = 60_000;
pub const DEFAULT_SHUTDOWN_TIMEOUT_MS: u64 = 30_000;
/// A body must keep arriving: this long for the first bytes, plus one second for every
/// `DEFAULT_MIN_BODY_BYTES_PER_SEC` received (Apache's `mod_reqtimeout` body defaults).
pub const DEFAULT_BODY_TIMEOUT_MS: u64 = 20_000;
pub const DEFAULT_MIN_BODY_BYTES_PER_SEC: u64 = 500;
/// Client connections one worker serves at once; more are closed at accept.
pub const DEFAULT_MAX_CONNECTIONS_PER_WORKER: usize = 16_384;
/// Client connections from one address (IPv6: one /64) across all workers.
pub const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS: usize = 4_096;
/// Requests a client may pipeline before it reads an answer; the answer to the last one
/// closes the connection (the client sends the rest again on a new one).
pub const DEFAULT_MAX_PIPELINED_REQUESTS: u32 = 128;
/// How often the cluster's indices, aliases and data streams are re-read (for narrowing).
pub const DEFAULT_METADATA_REFRESH_MS: u64 = 5_000;
/// How often the policy file is checked for changes.
pub const DEFAULT_POLICY_WATCH_MS: u64 = 2_000;
/// Heads smaller than this cannot hold a realistic request line plus `Host`.
const MIN_HEADER_BYTES: u64 = 1024;

/// Validated `gateway:` settings.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewaySettings {
    pub listen: Vec<ListenAddress>,
    pub upstreams: Vec<UpstreamUrl>,
    /// The listeners' TLS settings (`readonlyrest.ssl`), when enabled.
    pub server_tls: Option<crate::tls::settings::ServerTlsSettings>,
    /// How https upstreams are verified (`gateway.upstream_tls`; `None`: the defaults).
    pub upstream_tls: Option<crate::tls::settings::UpstreamTlsSettings>,
    /// Worker threads; `None` means one per online core.
    pub workers: Option<usize>,
    pub pin_workers: bool,
    pub limits: Limits,
    /// A separate `readonlyrest.yml` holding the ACL, resolved against the config's folder.
    pub acl_file: Option<PathBuf>,
    /// How long in-flight requests may run after SIGTERM before the process exits.
    pub shutdown_timeout: Duration,
    /// Refresh period of the cluster metadata; 0 turns the refresher off.
    pub metadata_refresh: Duration,
    pub auth: AuthSettings,
    /// Status answered while no valid policy has ever loaded: 403 (default) or 503.
    pub not_started_response_code: u16,
    /// How often the policy file is checked for changes (0: only SIGHUP reloads).
    pub policy_watch: Duration,
    /// Connection-level address filter, checked at accept time.
    pub ip_filter: IpFilterSettings,
    /// The `/metrics`, `/health` and `/ready` listener; `None`: not started.
    pub admin: Option<AdminSettings>,
    /// `access_log: true`: one log line per request (target `ringfence::access`).
    pub access_log: bool,
}

/// `gateway.admin`: where the admin listener (metrics and probes) binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminSettings {
    pub listen: SocketAddr,
}

/// `gateway.ip_filter` (like X-Pack's `xpack.security.http.filter`): `allow` wins over
/// `deny`; an address matching neither is accepted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpFilterSettings {
    /// IPs, CIDRs, host names, or `_all`.
    pub allow: Vec<String>,
    pub deny: Vec<String>,
}

/// `gateway.auth`: the credential cache, the hashing pool and the failure limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthSettings {
    /// Threads that compute expensive hashes; `None`: half the cores, at least one.
    pub hash_threads: Option<usize>,
    /// Hash computations queued or running at most; beyond that requests get 503 at once.
    pub max_pending_hashes: usize,
    pub cache_ttl: Duration,
    pub negative_cache_ttl: Duration,
    /// Per worker, separately for valid and for failed credentials.
    pub cache_max_entries: usize,
    pub max_failures_per_address: u32,
    pub max_failures_per_user: u32,
    pub failure_window: Duration,
    /// What a throttled client gets: 429 (with Retry-After) or 401.
    pub throttled_status: u16,
}

impl Default for AuthSettings {
    fn default() -> AuthSettings {
        AuthSettings {
            hash_threads: None,
            max_pending_hashes: 64,
            // ReadonlyREST's old auth_cache_ttl_sec default.
            cache_ttl: Duration::from_millis(10_000),
            negative_cache_ttl: Duration::from_millis(10_000),
            cache_max_entries: 10_000,
            max_failures_per_address: 20,
            max_failures_per_user: 50,
            failure_window: Duration::from_millis(60_000),
            throttled_status: 429,
        }
    }
}

/// Per-request limits and timeouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_header_bytes: usize,
    pub max_body_bytes: u64,
    /// Request bodies one worker may hold at once to read the indices they name.
    pub max_buffered_body_bytes: u64,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub upstream_connect_timeout: Duration,
    pub upstream_response_timeout: Duration,
    /// A request body (read, forwarded or drained) must arrive within this time plus one
    /// second per `min_body_bytes_per_sec` bytes received; slower clients are closed (408).
    pub body_timeout: Duration,
    pub min_body_bytes_per_sec: u64,
    /// Client connections per worker (0: no limit).
    pub max_connections_per_worker: usize,
    /// Client connections per address across the process (0: no limit).
    pub max_connections_per_address: usize,
    /// Requests answered in a row from bytes the client sent ahead (0: no limit).
    pub max_pipelined_requests: u32,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_buffered_body_bytes: DEFAULT_MAX_BUFFERED_BODY_BYTES,
            header_timeout: Duration::from_millis(DEFAULT_HEADER_TIMEOUT_MS),
            idle_timeout: Duration::from_millis(DEFAULT_IDLE_TIMEOUT_MS),
            upstream_connect_timeout: Duration::from_millis(DEFAULT_UPSTREAM_CONNECT_TIMEOUT_MS),
            upstream_response_timeout: Duration::from_millis(DEFAULT_UPSTREAM_RESPONSE_TIMEOUT_MS),
            body_timeout: Duration::from_millis(DEFAULT_BODY_TIMEOUT_MS),
            min_body_bytes_per_sec: DEFAULT_MIN_BODY_BYTES_PER_SEC,
            max_connections_per_worker: DEFAULT_MAX_CONNECTIONS_PER_WORKER,
            max_connections_per_address: DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
            max_pipelined_requests: DEFAULT_MAX_PIPELINED_REQUESTS,
        }
    }
}

/// A listen address and whether it speaks TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenAddress {
    pub addr: SocketAddr,
    pub tls: bool,
}

/// An upstream node as written in the config: `http://host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamUrl {
    pub host: String,
    pub port: u16,
    pub tls: bool,
}

impl UpstreamUrl {
    /// Parses `http://host[:port][/]`. TLS to the cluster comes with the TLS work.
    pub fn parse(text: &str) -> Result<UpstreamUrl, String> {
        let rest = text.strip_prefix("http://").ok_or_else(|| {
            format!(
                "upstream `{text}` must start with http:// (https upstreams are not supported yet)"
            )
        })?;
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty() || authority.contains(['/', '?', '#', '@']) {
            return Err(format!(
                "upstream `{text}` must be http://host:port with no path, query or credentials"
            ));
        }
        let (host, port) = match authority.rsplit_once(':') {
            // `[::1]:9200`, `host:9200`; a bare IPv6 literal needs brackets.
            Some((host, port)) if !port.contains(']') => {
                let port = port
                    .parse::<u16>()
                    .map_err(|_| format!("upstream `{text}` has an invalid port `{port}`"))?;
                (host, port)
            }
            _ => (authority, 9200),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(format!("upstream `{text}` has no host"));
        }
        Ok(UpstreamUrl {
            host: host.to_string(),
            port,
            tls: false,
        })
    }

    /// `host:port` with brackets for IPv6, as used in `Host` headers and for resolving.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl std::fmt::Display for UpstreamUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "http://{}", self.authority())
    }
}

/// Parses a listen address such as `0.0.0.0:9201` or `[::]:9201`.
pub fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    text.parse().map_err(|_| {
        format!("listen address `{text}` must be IP:PORT, for example 0.0.0.0:9201 or [::]:9201")
    })
}

const KEYS: &[&str] = &[
    "listen",
    "upstreams",
    "workers",
    "pin_workers",
    "limits",
    "acl_file",
    "shutdown_timeout_ms",
    "metadata_refresh_ms",
    "auth",
    "not_started_response_code",
    "policy_watch_ms",
    "ip_filter",
    "admin",
    "access_log",
];
const AUTH_KEYS: &[&str] = &[
    "hash_threads",
    "max_pending_hashes",
    "cache_ttl_ms",
    "negative_cache_ttl_ms",
    "cache_max_entries",
    "max_failures_per_address",
    "max_failures_per_user",
    "failure_window_ms",
    "throttled_status",
];
const LIMIT_KEYS: &[&str] = &[
    "max_header_bytes",
    "max_body_bytes",
    "max_buffered_body_bytes",
    "header_timeout_ms",
    "idle_timeout_ms",
    "upstream_connect_timeout_ms",
    "upstream_response_timeout_ms",
    "body_timeout_ms",
    "min_body_bytes_per_sec",
    "max_connections_per_worker",
    "max_connections_per_address",
    "max_pipelined_requests",
];

/// Decodes the `gateway:` mapping. `base_dir` resolves a relative `acl_file`.
pub fn decode(node: &Node, base_dir: &std::path::Path, d: &mut Diagnostics) -> GatewaySettings {
    let mut settings = GatewaySettings {
        listen: Vec::new(),
        upstreams: Vec::new(),
        server_tls: None,
        upstream_tls: None,
        workers: None,
        pin_workers: false,
        access_log: false,
        limits: Limits::default(),
        acl_file: None,
        shutdown_timeout: Duration::from_millis(DEFAULT_SHUTDOWN_TIMEOUT_MS),
        metadata_refresh: Duration::from_millis(DEFAULT_METADATA_REFRESH_MS),
        auth: AuthSettings::default(),
        not_started_response_code: 403,
        policy_watch: Duration::from_millis(DEFAULT_POLICY_WATCH_MS),
        ip_filter: IpFilterSettings::default(),
        admin: None,
    };
    let mut saw_listen = false;
    let mut saw_upstreams = false;
    for (key, key_node, value) in entries(node, "gateway", d) {
        match key {
            "listen" => {
                saw_listen = true;
                for item in string_or_list(value, "gateway.listen", d) {
                    match parse_listen(item.as_str().unwrap_or_default()) {
                        Ok(addr) => settings.listen.push(ListenAddress { addr, tls: false }),
                        Err(message) => d.error(item, message),
                    }
                }
            }
            "upstreams" => {
                saw_upstreams = true;
                for item in string_or_list(value, "gateway.upstreams", d) {
                    match UpstreamUrl::parse(item.as_str().unwrap_or_default()) {
                        Ok(url) => settings.upstreams.push(url),
                        Err(message) => d.error(item, message),
                    }
                }
            }
            "workers" => match value.as_u64() {
                Some(n @ 1..=1024) => settings.workers = Some(n as usize),
                _ => d.error(value, "gateway.workers must be an integer from 1 to 1024"),
            },
            "pin_workers" => settings.pin_workers = bool_value(value, "gateway.pin_workers", d),
            "access_log" => settings.access_log = bool_value(value, "gateway.access_log", d),
            "limits" => settings.limits = decode_limits(value, d),
            "acl_file" => match value.as_str() {
                Some(path) if !path.is_empty() && !value.is_null() => {
                    settings.acl_file = Some(base_dir.join(path));
                }
                _ => d.error(value, "gateway.acl_file must be a file path"),
            },
            "shutdown_timeout_ms" => {
                settings.shutdown_timeout =
                    Duration::from_millis(number(value, "gateway.shutdown_timeout_ms", 0, d))
            }
            "metadata_refresh_ms" => {
                settings.metadata_refresh =
                    Duration::from_millis(number(value, "gateway.metadata_refresh_ms", 0, d))
            }
            "auth" => settings.auth = decode_auth(value, d),
            "not_started_response_code" => match value.as_u64() {
                Some(status @ (403 | 503)) => settings.not_started_response_code = status as u16,
                _ => d.error(
                    value,
                    "gateway.not_started_response_code must be 403 or 503",
                ),
            },
            "policy_watch_ms" => {
                settings.policy_watch =
                    Duration::from_millis(number(value, "gateway.policy_watch_ms", 0, d))
            }
            "ip_filter" => settings.ip_filter = decode_ip_filter(value, d),
            "admin" => settings.admin = decode_admin(value, d),
            _ => d.unknown_key(key_node, "gateway", KEYS),
        }
    }
    if !saw_listen {
        d.error(
            node,
            "gateway.listen is required (for example \"0.0.0.0:9201\")",
        );
    }
    if !saw_upstreams {
        d.error(
            node,
            "gateway.upstreams is required (for example [\"http://127.0.0.1:9200\"])",
        );
    }
    settings
}

fn decode_limits(node: &Node, d: &mut Diagnostics) -> Limits {
    let mut limits = Limits::default();
    for (key, key_node, value) in entries(node, "gateway.limits", d) {
        let name = format!("gateway.limits.{key}");
        match key {
            "max_header_bytes" => {
                limits.max_header_bytes = number(value, &name, MIN_HEADER_BYTES, d) as usize
            }
            "max_body_bytes" => limits.max_body_bytes = number(value, &name, 0, d),
            "max_buffered_body_bytes" => {
                limits.max_buffered_body_bytes = number(value, &name, 0, d)
            }
            "header_timeout_ms" => {
                limits.header_timeout = Duration::from_millis(number(value, &name, 1, d))
            }
            "idle_timeout_ms" => {
                limits.idle_timeout = Duration::from_millis(number(value, &name, 1, d))
            }
            "upstream_connect_timeout_ms" => {
                limits.upstream_connect_timeout = Duration::from_millis(number(value, &name, 1, d))
            }
            "upstream_response_timeout_ms" => {
                limits.upstream_response_timeout = Duration::from_millis(number(value, &name, 1, d))
            }
            "body_timeout_ms" => {
                limits.body_timeout = Duration::from_millis(number(value, &name, 1, d))
            }
            "min_body_bytes_per_sec" => limits.min_body_bytes_per_sec = number(value, &name, 0, d),
            "max_connections_per_worker" => {
                limits.max_connections_per_worker = number(value, &name, 0, d) as usize
            }
            "max_connections_per_address" => {
                limits.max_connections_per_address = number(value, &name, 0, d) as usize
            }
            "max_pipelined_requests" => {
                limits.max_pipelined_requests =
                    number(value, &name, 0, d).min(u64::from(u32::MAX)) as u32
            }
            _ => d.unknown_key(key_node, "gateway.limits", LIMIT_KEYS),
        }
    }
    limits
}

fn decode_ip_filter(node: &Node, d: &mut Diagnostics) -> IpFilterSettings {
    let mut filter = IpFilterSettings::default();
    for (key, key_node, value) in entries(node, "gateway.ip_filter", d) {
        let list = match key {
            "allow" => &mut filter.allow,
            "deny" => &mut filter.deny,
            _ => {
                d.unknown_key(key_node, "gateway.ip_filter", &["allow", "deny"]);
                continue;
            }
        };
        for item in string_or_list(value, &format!("gateway.ip_filter.{key}"), d) {
            let text = item.as_str().unwrap_or_default();
            if text.contains('*') && text != "*" {
                d.error(item, format!("`{text}`: host name wildcards would need a reverse DNS lookup for every connection; use IPs or CIDR ranges"));
            } else {
                list.push(text.to_string());
            }
        }
    }
    filter
}

/// `gateway.admin`; `None` (after an error) when `listen` is missing or invalid.
fn decode_admin(node: &Node, d: &mut Diagnostics) -> Option<AdminSettings> {
    let mut listen = None;
    let mut saw_listen = false;
    for (key, key_node, value) in entries(node, "gateway.admin", d) {
        if key != "listen" {
            d.unknown_key(key_node, "gateway.admin", &["listen"]);
            continue;
        }
        saw_listen = true;
        match parse_listen(value.as_str().unwrap_or_default()) {
            Ok(addr) if addr.ip().is_loopback() => listen = Some(addr),
            Ok(addr) => {
                // The admin endpoints answer without authentication.
                d.warn(value, format!("gateway.admin.listen `{addr}` is not a loopback address: /metrics and /ready answer anyone who can reach it"));
                listen = Some(addr);
            }
            Err(message) => d.error(value, format!("gateway.admin.listen: {message}")),
        }
    }
    if !saw_listen {
        d.error(
            node,
            "gateway.admin.listen is required (for example \"127.0.0.1:9280\")",
        );
    }
    listen.map(|listen| AdminSettings { listen })
}

fn decode_auth(node: &Node, d: &mut Diagnostics) -> AuthSettings {
    let mut auth = AuthSettings::default();
    for (key, key_node, value) in entries(node, "gateway.auth", d) {
        let name = format!("gateway.auth.{key}");
        match key {
            "hash_threads" => auth.hash_threads = Some(number(value, &name, 1, d) as usize),
            "max_pending_hashes" => auth.max_pending_hashes = number(value, &name, 1, d) as usize,
            "cache_ttl_ms" => auth.cache_ttl = Duration::from_millis(number(value, &name, 0, d)),
            "negative_cache_ttl_ms" => {
                auth.negative_cache_ttl = Duration::from_millis(number(value, &name, 0, d))
            }
            "cache_max_entries" => auth.cache_max_entries = number(value, &name, 0, d) as usize,
            "max_failures_per_address" => {
                auth.max_failures_per_address =
                    number(value, &name, 0, d).min(u32::MAX.into()) as u32
            }
            "max_failures_per_user" => {
                auth.max_failures_per_user = number(value, &name, 0, d).min(u32::MAX.into()) as u32
            }
            "failure_window_ms" => {
                auth.failure_window = Duration::from_millis(number(value, &name, 1, d))
            }
            "throttled_status" => match value.as_u64() {
                Some(status @ (401 | 429)) => auth.throttled_status = status as u16,
                _ => d.error(value, format!("{name} must be 429 or 401")),
            },
            _ => d.unknown_key(key_node, "gateway.auth", AUTH_KEYS),
        }
    }
    auth
}

/// A scalar or a list of scalars (ROR's "string or list" convention).
pub fn string_or_list<'a>(node: &'a Node, name: &str, d: &mut Diagnostics) -> Vec<&'a Node> {
    let items: Vec<&Node> = match node.as_seq() {
        Some(items) => items.iter().collect(),
        None => vec![node],
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if item.as_str().is_some() && !item.is_null() {
            out.push(item);
        } else {
            d.error(
                item,
                format!(
                    "{name} must be a string or a list of strings, found {}",
                    item.kind_name()
                ),
            );
        }
    }
    if out.is_empty() && node.as_seq().is_some_and(|s| s.is_empty()) {
        d.error(node, format!("{name} must not be empty"));
    }
    out
}

pub fn bool_value(node: &Node, name: &str, d: &mut Diagnostics) -> bool {
    node.as_bool().unwrap_or_else(|| {
        d.error(node, format!("{name} must be true or false"));
        false
    })
}

fn number(node: &Node, name: &str, min: u64, d: &mut Diagnostics) -> u64 {
    match node.as_u64() {
        Some(n) if n >= min => n,
        _ => {
            d.error(node, format!("{name} must be an integer >= {min}"));
            min
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::yaml;

    fn decode_text(text: &str) -> (GatewaySettings, Vec<String>) {
        let root = yaml::parse(text).unwrap();
        let mut d = Diagnostics::new(std::path::Path::new("g.yml"));
        let settings = decode(
            root.get("gateway").unwrap(),
            std::path::Path::new("/etc"),
            &mut d,
        );
        let errors = match d.finish(()) {
            Ok(()) => Vec::new(),
            Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
        };
        (settings, errors)
    }

    #[test]
    fn full_section_decodes() {
        let (s, errors) = decode_text(
            "gateway:\n  listen: [\"0.0.0.0:9201\", \"[::1]:9202\"]\n  upstreams: [\"http://127.0.0.1:9200\", \"http://es2:9202/\"]\n  workers: 2\n  pin_workers: true\n  acl_file: readonlyrest.yml\n  limits:\n    max_header_bytes: 8192\n    upstream_response_timeout_ms: 5000\n",
        );
        assert_eq!(errors, Vec::<String>::new());
        assert_eq!(s.listen.len(), 2);
        assert_eq!(
            s.upstreams[1],
            UpstreamUrl {
                host: "es2".into(),
                port: 9202,
                tls: false,
            }
        );
        assert_eq!(s.workers, Some(2));
        assert!(s.pin_workers);
        assert_eq!(s.acl_file, Some(PathBuf::from("/etc/readonlyrest.yml")));
        assert_eq!(s.limits.max_header_bytes, 8192);
        assert_eq!(
            s.limits.upstream_response_timeout,
            Duration::from_millis(5000)
        );
        assert_eq!(
            s.limits.idle_timeout,
            Duration::from_millis(DEFAULT_IDLE_TIMEOUT_MS)
        );
        assert_eq!(s.admin, None);
    }

    /// The settings, errors and warnings of a `gateway:` section with `admin` as given.
    fn decode_admin_text(admin: &str) -> (GatewaySettings, Vec<String>, Vec<String>) {
        let text = format!("gateway:\n  listen: 127.0.0.1:9201\n  upstreams: http://127.0.0.1:9200\n  admin: {admin}\n");
        let root = yaml::parse(&text).unwrap();
        let mut d = Diagnostics::new(std::path::Path::new("g.yml"));
        let settings = decode(
            root.get("gateway").unwrap(),
            std::path::Path::new("/etc"),
            &mut d,
        );
        let warnings = d.take_warnings().iter().map(|w| w.to_string()).collect();
        let errors = match d.finish(()) {
            Ok(()) => Vec::new(),
            Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
        };
        (settings, errors, warnings)
    }

    #[test]
    fn admin_listener_decodes_and_warns_off_loopback() {
        let (s, errors, warnings) = decode_admin_text("{listen: \"127.0.0.1:9280\"}");
        assert_eq!((errors, warnings), (Vec::new(), Vec::new()));
        assert_eq!(
            s.admin,
            Some(AdminSettings {
                listen: "127.0.0.1:9280".parse().unwrap()
            })
        );
        let (s, errors, warnings) = decode_admin_text("{listen: \"[::1]:9280\"}");
        assert_eq!((errors.len(), warnings.len()), (0, 0));
        assert!(s.admin.is_some());

        let (s, errors, warnings) = decode_admin_text("{listen: \"0.0.0.0:9280\"}");
        assert_eq!(errors, Vec::<String>::new());
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].starts_with(
                "g.yml:4:19: gateway.admin.listen `0.0.0.0:9280` is not a loopback address"
            ),
            "{warnings:?}"
        );
        assert_eq!(s.admin.map(|a| a.listen.port()), Some(9280));
    }

    #[test]
    fn admin_listener_errors_are_positioned() {
        for (admin, expected) in [
            (
                "{listen: 9280}",
                "g.yml:4:19: gateway.admin.listen: listen address `9280` must be IP:PORT",
            ),
            (
                "{listen: \"127.0.0.1:9280\", port: 1}",
                "g.yml:4:37: unknown key `port` in gateway.admin",
            ),
            ("{}", "g.yml:4:10: gateway.admin.listen is required"),
            ("", "g.yml:5:1: gateway.admin.listen is required"),
            (
                "[127.0.0.1:9280]",
                "g.yml:4:10: gateway.admin must be a mapping",
            ),
        ] {
            let (_, errors, _) = decode_admin_text(admin);
            assert!(
                errors.iter().any(|e| e.starts_with(expected)),
                "{admin}: {errors:?}"
            );
        }
    }

    #[test]
    fn misspelled_keys_are_reported_with_line_and_column() {
        let (_, errors) = decode_text(
            "gateway:\n  listen: \"0.0.0.0:9201\"\n  upstreams: \"http://127.0.0.1:9200\"\n  limits:\n    max_heder_bytes: 1\n  wokers: 3\n",
        );
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors[0].starts_with("g.yml:5:5: unknown key `max_heder_bytes`"),
            "{errors:?}"
        );
        assert!(
            errors[1].starts_with("g.yml:6:3: unknown key `wokers`"),
            "{errors:?}"
        );
    }

    #[test]
    fn every_bad_value_is_reported() {
        let (_, errors) = decode_text(
            "gateway:\n  listen: \"nowhere\"\n  upstreams: [\"https://x:1\", \"http://x:99999\"]\n  workers: 0\n  pin_workers: maybe\n",
        );
        assert_eq!(errors.len(), 5, "{errors:?}");
    }

    #[test]
    fn upstream_urls() {
        assert_eq!(
            UpstreamUrl::parse("http://[::1]:9200").unwrap(),
            UpstreamUrl {
                host: "::1".into(),
                port: 9200,
                tls: false,
            }
        );
        assert_eq!(UpstreamUrl::parse("http://es").unwrap().port, 9200);
        assert!(UpstreamUrl::parse("http://u:p@es:9200").is_err());
        assert!(UpstreamUrl::parse("http://es:9200/prefix").is_err());
        assert_eq!(
            UpstreamUrl::parse("http://[::1]:9200").unwrap().authority(),
            "[::1]:9200"
        );
    }
}
