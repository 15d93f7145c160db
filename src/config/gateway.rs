//! The `gateway:` section: where to listen, where the cluster is, workers and limits.

use super::error::{entries, Diagnostics};
use super::yaml::Node;
use crate::tls::settings::{ServerTlsSettings, UpstreamTlsSettings};
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
    /// Where clients connect. A bare `IP:PORT` entry is provisionally plain here and made
    /// TLS by [`crate::config::Config::load`] when the `readonlyrest.ssl` section is enabled.
    pub listen: Vec<ListenAddress>,
    pub upstreams: Vec<UpstreamUrl>,
    /// `readonlyrest.ssl` when enabled: the TLS listeners' certificates (read from the file
    /// holding the `readonlyrest:` section, relative paths resolved against its folder).
    /// Which listeners speak TLS is fixed at start; certificates reload (`runtime::watch`).
    pub server_tls: Option<ServerTlsSettings>,
    /// `gateway.upstream_tls`: how `https://` upstreams are verified. `None` with an
    /// `https://` upstream means the defaults: the system's roots, the host name verified,
    /// no client certificate.
    pub upstream_tls: Option<UpstreamTlsSettings>,
    /// `gateway.upstream_auth`: the credentials the gateway sends upstream instead of the
    /// client's (`None`: the client's `Authorization` passes unchanged).
    pub upstream_auth: Option<UpstreamAuth>,
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

/// One `gateway.listen` entry: an address and whether clients speak TLS to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenAddress {
    pub addr: SocketAddr,
    pub tls: bool,
}

impl std::fmt::Display for ListenAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.tls { "https" } else { "http" };
        write!(f, "{scheme}://{}", self.addr)
    }
}

/// The scheme a `gateway.listen` entry was written with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenScheme {
    /// `http://IP:PORT`: plain, whatever the `ssl` section says.
    Http,
    /// `https://IP:PORT`: TLS; needs an enabled `readonlyrest.ssl` section.
    Https,
    /// `IP:PORT`: TLS when the `readonlyrest.ssl` section is enabled (as the HTTP port of a
    /// ReadonlyREST node), plain otherwise.
    Bare,
}

impl ListenScheme {
    /// Whether the listener speaks TLS, given whether an `ssl` section is enabled; `Err`
    /// for `https://` without one.
    pub fn resolve(self, ssl_enabled: bool) -> Result<bool, &'static str> {
        match (self, ssl_enabled) {
            (ListenScheme::Http, _) => Ok(false),
            (ListenScheme::Https, true) => Ok(true),
            (ListenScheme::Https, false) => Err("an https:// listener needs an enabled `readonlyrest.ssl` section (server certificate and key)"),
            (ListenScheme::Bare, ssl) => Ok(ssl),
        }
    }
}

/// `gateway.upstream_auth`: the gateway authenticates to the cluster as itself.
#[derive(Clone, PartialEq, Eq)]
pub struct UpstreamAuth {
    /// The whole `Authorization` value sent upstream: `Basic …` or `ApiKey …`.
    pub authorization: String,
    /// Send `es-security-runas-user: <the user the ACL authenticated>` (Elasticsearch's
    /// run-as: the gateway's account needs the `run_as` privilege). A request allowed
    /// without an authenticated user goes as the gateway's account.
    pub run_as_logged_user: bool,
}

impl std::fmt::Debug for UpstreamAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = self.authorization.split(' ').next().unwrap_or_default();
        f.debug_struct("UpstreamAuth")
            .field("authorization", &format_args!("{scheme} ***"))
            .field("run_as_logged_user", &self.run_as_logged_user)
            .finish()
    }
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

/// An upstream node as written in the config: `http://host:port` or `https://host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamUrl {
    pub host: String,
    pub port: u16,
    /// `https://`: the gateway speaks TLS to this node (`gateway.upstream_tls`).
    pub tls: bool,
}

impl UpstreamUrl {
    /// Parses `http://host[:port][/]` or `https://host[:port][/]` (port 9200 by default for
    /// both, as Elasticsearch serves both on its HTTP port).
    pub fn parse(text: &str) -> Result<UpstreamUrl, String> {
        let (tls, rest) = if let Some(rest) = text.strip_prefix("http://") {
            (false, rest)
        } else if let Some(rest) = text.strip_prefix("https://") {
            (true, rest)
        } else {
            return Err(format!(
                "upstream `{text}` must start with http:// or https://"
            ));
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty() || authority.contains(['/', '?', '#', '@']) {
            return Err(format!(
                "upstream `{text}` must be http(s)://host:port with no path, query or credentials"
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
            tls,
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
        let scheme = if self.tls { "https" } else { "http" };
        write!(f, "{scheme}://{}", self.authority())
    }
}

/// Parses a listen address such as `0.0.0.0:9201` or `[::]:9201`.
pub fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    text.parse().map_err(|_| {
        format!("listen address `{text}` must be IP:PORT, for example 0.0.0.0:9201 or [::]:9201")
    })
}

/// Parses a `gateway.listen` entry: `IP:PORT`, `http://IP:PORT` or `https://IP:PORT`.
pub fn parse_listen_entry(text: &str) -> Result<(ListenScheme, SocketAddr), String> {
    let (scheme, rest) = if let Some(rest) = text.strip_prefix("https://") {
        (ListenScheme::Https, rest)
    } else if let Some(rest) = text.strip_prefix("http://") {
        (ListenScheme::Http, rest)
    } else {
        (ListenScheme::Bare, text)
    };
    let addr = rest.strip_suffix('/').unwrap_or(rest).parse().map_err(|_| {
        format!("listen address `{text}` must be [http:// or https://]IP:PORT, for example 0.0.0.0:9201, https://0.0.0.0:9443 or [::]:9201")
    })?;
    Ok((scheme, addr))
}

/// A `gateway.listen` entry as written, before the `ssl` section says what a bare one is.
#[derive(Debug, Clone, Copy)]
pub struct ListenEntry<'n> {
    pub scheme: ListenScheme,
    pub addr: SocketAddr,
    /// Where it is written (errors).
    pub node: &'n Node,
}

/// The listeners of `entries`, bare ones TLS iff `ssl_enabled`; an `https://` entry without
/// an enabled `ssl` section is an error at its position.
pub fn resolve_listen(
    entries: &[ListenEntry<'_>],
    ssl_enabled: bool,
    d: &mut Diagnostics,
) -> Vec<ListenAddress> {
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        match entry.scheme.resolve(ssl_enabled) {
            Ok(tls) => out.push(ListenAddress {
                addr: entry.addr,
                tls,
            }),
            Err(message) => d.error(entry.node, format!("gateway.listen: {message}")),
        }
    }
    out
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
    "upstream_tls",
    "upstream_auth",
];
const UPSTREAM_AUTH_KEYS: &[&str] = &["username", "password", "api_key", "run_as_logged_user"];
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

/// Decodes the `gateway:` mapping. `base_dir` resolves a relative `acl_file`. Bare listen
/// entries come out plain: [`decode_parts`] keeps them for [`resolve_listen`].
pub fn decode(node: &Node, base_dir: &std::path::Path, d: &mut Diagnostics) -> GatewaySettings {
    decode_parts(node, base_dir, d).0
}

/// [`decode`], and the listen entries as written (for the `ssl` section to resolve).
pub fn decode_parts<'n>(
    node: &'n Node,
    base_dir: &std::path::Path,
    d: &mut Diagnostics,
) -> (GatewaySettings, Vec<ListenEntry<'n>>) {
    let mut listen_entries = Vec::new();
    let mut settings = GatewaySettings {
        listen: Vec::new(),
        upstreams: Vec::new(),
        server_tls: None,
        upstream_tls: None,
        upstream_auth: None,
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
                    match parse_listen_entry(item.as_str().unwrap_or_default()) {
                        Ok((scheme, addr)) => listen_entries.push(ListenEntry {
                            scheme,
                            addr,
                            node: item,
                        }),
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
            "upstream_tls" => {
                let tls = crate::tls::settings::decode_upstream_tls(value, base_dir, d);
                if !tls.verify_hostname {
                    d.warn(value, "gateway.upstream_tls.verify_hostname is false: any certificate the trusted CAs signed is accepted for every upstream, whatever host it names");
                }
                settings.upstream_tls = Some(tls);
            }
            "upstream_auth" => settings.upstream_auth = decode_upstream_auth(value, d),
            _ => d.unknown_key(key_node, "gateway", KEYS),
        }
    }
    // Provisional: `Config::load` decides bare entries once the `ssl` section is known.
    settings.listen = listen_entries
        .iter()
        .map(|e| ListenAddress {
            addr: e.addr,
            tls: e.scheme == ListenScheme::Https,
        })
        .collect();
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
    if let (Some(_), Some(at)) = (&settings.upstream_auth, node.get("upstream_auth")) {
        if let Some(plain) = settings.upstreams.iter().find(|u| !u.tls) {
            d.warn(
                at,
                format!("gateway.upstream_auth: the gateway's credentials go to {plain} in clear text; use https:// upstreams"),
            );
        }
    }
    if settings.upstream_tls.is_some() && !settings.upstreams.iter().any(|u| u.tls) {
        if let Some(at) = node.get("upstream_tls") {
            d.warn(
                at,
                "gateway.upstream_tls has no effect: no upstream is https://",
            );
        }
    }
    (settings, listen_entries)
}

/// `gateway.upstream_auth`: `{username, password}` or `{api_key}` (either `id:key`, encoded
/// here, or the encoded value Elasticsearch returned), and `run_as_logged_user`.
fn decode_upstream_auth(node: &Node, d: &mut Diagnostics) -> Option<UpstreamAuth> {
    use base64::Engine;
    let (mut username, mut password, mut api_key) = (None, None, None);
    let mut run_as_logged_user = false;
    let mut ok = true;
    for (key, key_node, value) in entries(node, "gateway.upstream_auth", d) {
        let text = || value.as_str().filter(|t| !t.is_empty() && !value.is_null());
        let slot = match key {
            "username" => &mut username,
            "password" => &mut password,
            "api_key" => &mut api_key,
            "run_as_logged_user" => {
                match value.as_bool() {
                    Some(flag) => run_as_logged_user = flag,
                    None => {
                        d.error(
                            value,
                            "gateway.upstream_auth.run_as_logged_user must be true or false",
                        );
                        ok = false;
                    }
                }
                continue;
            }
            _ => {
                d.unknown_key(key_node, "gateway.upstream_auth", UPSTREAM_AUTH_KEYS);
                ok = false;
                continue;
            }
        };
        match text() {
            // A value that would end the header line early must never reach a request head.
            Some(t) if t.bytes().any(|b| b.is_ascii_control()) => {
                d.error(
                    value,
                    format!("gateway.upstream_auth.{key} must not contain control characters"),
                );
                ok = false;
            }
            Some(t) => *slot = Some(t.to_string()),
            None => {
                d.error(
                    value,
                    format!("gateway.upstream_auth.{key} must be a non-empty string"),
                );
                ok = false;
            }
        }
    }
    if node.as_map().is_none() && !node.is_null() {
        return None;
    }
    let authorization = match (username, password, api_key) {
        (Some(user), Some(password), None) => {
            if user.contains(':') {
                d.error(node, "gateway.upstream_auth.username must not contain `:` (Basic credentials are user:password)");
                return None;
            }
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            format!("Basic {token}")
        }
        (None, None, Some(key)) => {
            // `id:key` as Elasticsearch's create-API-key answer lists them; otherwise the
            // `encoded` field of that answer, sent as it is.
            let encoded = if key.contains(':') {
                base64::engine::general_purpose::STANDARD.encode(&key)
            } else {
                key
            };
            if encoded.contains(' ') {
                d.error(node, "gateway.upstream_auth.api_key must be `id:key` or the encoded key, without spaces");
                return None;
            }
            format!("ApiKey {encoded}")
        }
        _ if !ok => return None,
        (None, None, None) => {
            d.error(
                node,
                "gateway.upstream_auth needs `username` and `password`, or `api_key`",
            );
            return None;
        }
        (Some(_), Some(_), Some(_)) | (Some(_), None, Some(_)) | (None, Some(_), Some(_)) => {
            d.error(node, "gateway.upstream_auth: use either `username` and `password`, or `api_key`, not both");
            return None;
        }
        (Some(_), None, None) | (None, Some(_), None) => {
            d.error(
                node,
                "gateway.upstream_auth needs both `username` and `password`",
            );
            return None;
        }
    };
    ok.then_some(UpstreamAuth {
        authorization,
        run_as_logged_user,
    })
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
            "gateway:\n  listen: \"nowhere\"\n  upstreams: [\"ftp://x:1\", \"http://x:99999\"]\n  workers: 0\n  pin_workers: maybe\n",
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

    #[test]
    fn https_upstreams_keep_their_scheme() {
        let url = UpstreamUrl::parse("https://es.example:9243/").unwrap();
        assert_eq!(
            (url.host.as_str(), url.port, url.tls),
            ("es.example", 9243, true)
        );
        assert_eq!(url.to_string(), "https://es.example:9243");
        let url = UpstreamUrl::parse("https://[::1]").unwrap();
        assert_eq!((url.port, url.tls), (9200, true));
        assert_eq!(url.to_string(), "https://[::1]:9200");
        assert_eq!(
            UpstreamUrl::parse("http://es").unwrap().to_string(),
            "http://es:9200"
        );
        assert!(UpstreamUrl::parse("ftp://es").is_err());
        assert!(UpstreamUrl::parse("https://u:p@es").is_err());
    }

    #[test]
    fn listen_entries_carry_their_scheme() {
        let addr: SocketAddr = "0.0.0.0:9443".parse().unwrap();
        assert_eq!(
            parse_listen_entry("https://0.0.0.0:9443"),
            Ok((ListenScheme::Https, addr))
        );
        assert_eq!(
            parse_listen_entry("http://0.0.0.0:9443/"),
            Ok((ListenScheme::Http, addr))
        );
        assert_eq!(
            parse_listen_entry("0.0.0.0:9443"),
            Ok((ListenScheme::Bare, addr))
        );
        assert_eq!(
            parse_listen_entry("[::]:1").map(|e| e.0),
            Ok(ListenScheme::Bare)
        );
        assert!(parse_listen_entry("https://localhost:9443").is_err());
        assert!(parse_listen_entry("tcp://0.0.0.0:1").is_err());
        assert_eq!(ListenScheme::Bare.resolve(true), Ok(true));
        assert_eq!(ListenScheme::Bare.resolve(false), Ok(false));
        assert_eq!(ListenScheme::Http.resolve(true), Ok(false));
        assert!(ListenScheme::Https.resolve(false).is_err());
        let listen = ListenAddress { addr, tls: true };
        assert_eq!(listen.to_string(), "https://0.0.0.0:9443");
        // `decode` alone knows no ssl section: bare entries are plain, https ones TLS.
        let (s, errors) = decode_text(
            "gateway:\n  listen: [\"https://0.0.0.0:9443\", \"127.0.0.1:9201\"]\n  upstreams: http://es\n",
        );
        assert_eq!(errors, Vec::<String>::new());
        assert_eq!(
            s.listen.iter().map(|l| l.tls).collect::<Vec<_>>(),
            [true, false]
        );
    }

    fn upstream_auth(yaml: &str) -> (Option<UpstreamAuth>, Vec<String>) {
        let (s, errors) = decode_text(&format!(
            "gateway:\n  listen: 127.0.0.1:9201\n  upstreams: https://es\n  upstream_auth: {yaml}\n"
        ));
        (s.upstream_auth, errors)
    }

    #[test]
    fn upstream_auth_decodes_basic_and_api_keys() {
        let (auth, errors) = upstream_auth("{username: ringfence, password: \"s3cret\"}");
        assert_eq!(errors, Vec::<String>::new());
        let auth = auth.unwrap();
        // base64("ringfence:s3cret")
        assert_eq!(auth.authorization, "Basic cmluZ2ZlbmNlOnMzY3JldA==");
        assert!(!auth.run_as_logged_user);
        let debug = format!("{auth:?}");
        assert!(debug.contains("Basic ***"), "{debug}");
        assert!(
            !debug.contains("cmluZ2ZlbmNl") && !debug.contains("s3cret"),
            "{debug}"
        );

        // `id:key` is encoded as Elasticsearch expects; an encoded key is sent as it is.
        let (auth, errors) = upstream_auth(
            "{api_key: \"VuaCfGcBCdbkQm-e5aOx:ui2lp2axTNmsyakw9tvNnw\", run_as_logged_user: true}",
        );
        assert_eq!(errors, Vec::<String>::new());
        let auth = auth.unwrap();
        assert_eq!(
            auth.authorization,
            "ApiKey VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="
        );
        assert!(auth.run_as_logged_user);
        assert!(!format!("{auth:?}").contains("VnVh"));
        let (auth, _) = upstream_auth(
            "{api_key: \"VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==\"}",
        );
        assert_eq!(
            auth.unwrap().authorization,
            "ApiKey VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="
        );
        let (s, _) = decode_text("gateway:\n  listen: 127.0.0.1:9201\n  upstreams: http://es\n");
        assert_eq!((s.upstream_auth, s.upstream_tls), (None, None));
        let text = "gateway:\n  listen: 127.0.0.1:9201\n  upstreams: [https://a, http://b]\n  upstream_auth: {api_key: \"i:k\"}\n";
        let root = yaml::parse(text).unwrap();
        let mut d = Diagnostics::new(std::path::Path::new("g.yml"));
        decode(
            root.get("gateway").unwrap(),
            std::path::Path::new("/etc"),
            &mut d,
        );
        let warnings: Vec<String> = d.take_warnings().iter().map(|w| w.to_string()).collect();
        assert_eq!(
            warnings,
            ["g.yml:4:18: gateway.upstream_auth: the gateway's credentials go to http://b:9200 in clear text; use https:// upstreams"]
        );
    }

    #[test]
    fn upstream_auth_errors_are_positioned() {
        for (yaml, expected) in [
            (
                "{}",
                "g.yml:4:18: gateway.upstream_auth needs `username` and `password`, or `api_key`",
            ),
            (
                "{username: a, password: b, api_key: \"x:y\"}",
                "g.yml:4:18: gateway.upstream_auth: use either",
            ),
            (
                "{username: a}",
                "g.yml:4:18: gateway.upstream_auth needs both `username` and `password`",
            ),
            (
                "{api_key: k, user: a}",
                "g.yml:4:31: unknown key `user` in gateway.upstream_auth",
            ),
            (
                "{api_key: \"\"}",
                "g.yml:4:28: gateway.upstream_auth.api_key must be a non-empty string",
            ),
            (
                "{api_key: k, run_as_logged_user: yes please}",
                "g.yml:4:51: gateway.upstream_auth.run_as_logged_user must be true or false",
            ),
            (
                "{username: \"a:b\", password: c}",
                "g.yml:4:18: gateway.upstream_auth.username must not contain `:`",
            ),
            (
                "{username: a, password: \"b\\r\\nx: y\"}",
                "g.yml:4:42: gateway.upstream_auth.password must not contain control characters",
            ),
            ("[a]", "g.yml:4:18: gateway.upstream_auth must be a mapping"),
        ] {
            let (auth, errors) = upstream_auth(yaml);
            assert!(
                errors.iter().any(|e| e.starts_with(expected)),
                "{yaml}: {errors:?}"
            );
            assert!(auth.is_none(), "{yaml}");
        }
    }
}
