//! Configuration: the YAML file, its validation, and where the ACL comes from.
//!
//! A file has two sections, `gateway:` (this gateway's own settings) and `readonlyrest:` (the
//! ReadonlyREST ACL, exactly as in a `readonlyrest.yml`); `gateway.acl_file` may point at an
//! existing `readonlyrest.yml` instead. Reading files is the only IO here. Every mistake is
//! reported as `FILE:LINE:COL: message`, all of them at once. [`policy`] compiles the
//! `readonlyrest:` node into an [`crate::acl::Acl`].

pub mod error;
pub mod exposure;
pub mod gateway;
pub mod policy;
pub mod yaml;

pub use error::{ConfigError, ConfigErrors, Diagnostics};
pub use gateway::{
    AuthSettings, GatewaySettings, IpFilterSettings, Limits, ListenAddress, UpstreamAuth,
    UpstreamUrl,
};

use std::path::{Path, PathBuf};
use yaml::Node;

/// The validated configuration file.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub gateway: GatewaySettings,
    pub policy_source: PolicySource,
    /// Settings that load but deserve attention (an admin listener off loopback, ...).
    pub warnings: Vec<ConfigError>,
}

/// Where the `readonlyrest:` settings live; re-read on every reload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicySource {
    /// The `readonlyrest:` section of the main configuration file.
    Inline(PathBuf),
    /// A separate `readonlyrest.yml` (`gateway.acl_file`).
    File(PathBuf),
}

impl PolicySource {
    pub fn path(&self) -> &Path {
        match self {
            PolicySource::Inline(path) | PolicySource::File(path) => path,
        }
    }
}

impl Config {
    /// Reads and validates the main configuration file (not yet the ACL: see [`read_policy`]).
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        Config::load_noting_policy(path, &mut None)
    }

    /// Like [`Config::load`], and where the ACL is to be read from even when the file has
    /// errors (`None` when that cannot be told): `check` reports the ACL's errors together
    /// with the gateway section's.
    pub fn load_and_policy_source(
        path: &Path,
    ) -> (Result<Config, ConfigErrors>, Option<PolicySource>) {
        let mut source = None;
        let config = Config::load_noting_policy(path, &mut source);
        (config, source)
    }

    fn load_noting_policy(
        path: &Path,
        source: &mut Option<PolicySource>,
    ) -> Result<Config, ConfigErrors> {
        let root = read_yaml(path)?;
        let mut d = Diagnostics::new(path);
        let base_dir = path.parent().unwrap_or(Path::new("."));
        let mut gateway = None;
        let mut inline_policy = false;
        for (key, key_node, value) in error::entries(&root, "the configuration file", &mut d) {
            match key {
                "gateway" => gateway = Some(gateway::decode_parts(value, base_dir, &mut d)),
                "readonlyrest" => inline_policy = true,
                _ => d.unknown_key(
                    key_node,
                    "the configuration file",
                    &["gateway", "readonlyrest"],
                ),
            }
        }
        let Some((mut gateway, listen_entries)) = gateway else {
            if inline_policy {
                *source = Some(PolicySource::Inline(path.to_path_buf()));
            }
            d.error(&root, "the `gateway:` section is missing");
            return Err(d.finish(()).unwrap_err());
        };
        let policy_source = match (&gateway.acl_file, inline_policy) {
            (Some(file), false) => PolicySource::File(file.clone()),
            (None, true) => PolicySource::Inline(path.to_path_buf()),
            (Some(_), true) => {
                let node = root.get("readonlyrest").unwrap_or(&root);
                d.error(
                    node,
                    "use either a `readonlyrest:` section or gateway.acl_file, not both",
                );
                PolicySource::Inline(path.to_path_buf())
            }
            (None, false) => {
                d.error(
                    &root,
                    "no access control list: add a `readonlyrest:` section or set gateway.acl_file",
                );
                PolicySource::Inline(path.to_path_buf())
            }
        };
        if inline_policy || gateway.acl_file.is_some() {
            *source = Some(policy_source.clone());
        }
        // Only explicit `http://` listeners can do without knowing the `ssl` section.
        let needs_ssl = listen_entries
            .iter()
            .any(|e| e.scheme != gateway::ListenScheme::Http);
        let tls = match &policy_source {
            PolicySource::Inline(_) => root
                .get("readonlyrest")
                .and_then(|node| decode_ssl_section(node, path, &mut d)),
            PolicySource::File(file) => match read_yaml(file) {
                Ok(policy) => {
                    let mut policy_d = Diagnostics::new(file);
                    let tls = policy
                        .get("readonlyrest")
                        .and_then(|node| decode_ssl_section(node, file, &mut policy_d));
                    d.extend(policy_d);
                    tls
                }
                // The policy may be fixed later (the gateway answers "not started" until
                // then), but whether a listener speaks TLS cannot change after start:
                // guessing "plain" would serve clear text where TLS was meant.
                Err(errors) if needs_ssl => {
                    for error in errors.0 {
                        d.at(
                            yaml::Mark {
                                line: 1,
                                col: 1,
                            },
                            format!(
                                "{} (needed to know whether gateway.listen speaks TLS): {}:{}:{}: {}",
                                "cannot read the readonlyrest.ssl section",
                                error.file.display(),
                                error.line,
                                error.col,
                                error.message
                            ),
                        );
                    }
                    None
                }
                Err(_) => None,
            },
        };
        gateway.listen = gateway::resolve_listen(&listen_entries, tls.is_some(), &mut d);
        gateway.server_tls = tls;
        let warnings = d.take_warnings();
        d.finish(Config {
            path: path.to_path_buf(),
            gateway,
            policy_source,
            warnings,
        })
    }

    /// A `--listen` override: like a `gateway.listen` entry (a bare address is TLS iff the
    /// `ssl` section is enabled).
    pub fn listen_override(&self, text: &str) -> Result<ListenAddress, String> {
        let (scheme, addr) = gateway::parse_listen_entry(text)?;
        let tls = scheme
            .resolve(self.gateway.server_tls.is_some())
            .map_err(|e| format!("--listen {text}: {e}"))?;
        Ok(ListenAddress { addr, tls })
    }
}

/// Decodes `readonlyrest.ssl` of the file at `file` (its folder resolves relative paths).
fn decode_ssl_section(
    readonlyrest: &Node,
    file: &Path,
    d: &mut Diagnostics,
) -> Option<crate::tls::settings::ServerTlsSettings> {
    let mut ssl = readonlyrest.get("ssl")?.clone();
    policy::substitute_startup_variables(&mut ssl, d);
    let base_dir = file.parent().unwrap_or(Path::new("."));
    crate::tls::settings::decode_ssl(&ssl, base_dir, d)
}

/// Reads the file holding the ACL and returns its `readonlyrest:` node.
pub fn read_policy(source: &PolicySource) -> Result<Node, ConfigErrors> {
    let path = source.path();
    let root = read_yaml(path)?;
    let mut d = Diagnostics::new(path);
    if let PolicySource::File(_) = source {
        for (key, key_node, _) in error::entries(&root, "the ACL file", &mut d) {
            if key != "readonlyrest" {
                d.unknown_key(key_node, "the ACL file", &["readonlyrest"]);
            }
        }
    }
    match root.get("readonlyrest") {
        Some(node) => d.finish(node.clone()),
        None => {
            d.error(&root, "the `readonlyrest:` section is missing");
            Err(d.finish(()).unwrap_err())
        }
    }
}

/// Reads and parses a YAML file, turning IO and syntax errors into positioned errors.
pub fn read_yaml(path: &Path) -> Result<Node, ConfigErrors> {
    let mut d = Diagnostics::new(path);
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => {
            d.at(
                yaml::Mark { line: 1, col: 1 },
                format!("cannot read the file: {e}"),
            );
            return Err(d.finish(()).unwrap_err());
        }
    };
    match yaml::parse(&text) {
        Ok(node) => Ok(node),
        Err(e) => {
            d.at(e.mark, format!("YAML syntax error: {}", e.message));
            Err(d.finish(()).unwrap_err())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("ringfence-config-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn inline_and_file_policy_sources() {
        let dir = temp_dir("sources");
        let inline = write(
            &dir,
            "inline.yml",
            "gateway:\n  listen: 127.0.0.1:0\n  upstreams: http://127.0.0.1:9200\nreadonlyrest:\n  enable: false\n",
        );
        let config = Config::load(&inline).unwrap();
        assert_eq!(config.policy_source, PolicySource::Inline(inline.clone()));
        assert!(read_policy(&config.policy_source)
            .unwrap()
            .get("enable")
            .is_some());

        write(
            &dir,
            "readonlyrest.yml",
            "readonlyrest:\n  access_control_rules: []\n",
        );
        let external = write(
            &dir,
            "external.yml",
            "gateway:\n  listen: 127.0.0.1:0\n  upstreams: http://127.0.0.1:9200\n  acl_file: readonlyrest.yml\n",
        );
        let config = Config::load(&external).unwrap();
        assert_eq!(
            config.policy_source,
            PolicySource::File(dir.join("readonlyrest.yml"))
        );
        assert!(read_policy(&config.policy_source)
            .unwrap()
            .get("access_control_rules")
            .is_some());
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let dir = temp_dir("errors");
        let path = write(
            &dir,
            "bad.yml",
            "gateway:\n  listen: 127.0.0.1:0\n  upstream: http://127.0.0.1:9200\nreadonlyrest: {}\nextra: 1\n",
        );
        let errors = Config::load(&path).unwrap_err().to_string();
        let file = path.display();
        assert!(
            errors.contains(&format!("{file}:3:3: unknown key `upstream` in gateway")),
            "{errors}"
        );
        assert!(
            errors.contains(&format!("{file}:5:1: unknown key `extra`")),
            "{errors}"
        );
        assert!(errors.contains("gateway.upstreams is required"), "{errors}");
    }

    #[test]
    fn syntax_and_io_errors_are_positioned() {
        let dir = temp_dir("syntax");
        let path = write(&dir, "broken.yml", "gateway:\n  listen: [1\n");
        let errors = Config::load(&path).unwrap_err();
        assert!(
            errors.0[0].message.starts_with("YAML syntax error"),
            "{errors}"
        );
        let missing = Config::load(&dir.join("nope.yml")).unwrap_err();
        assert!(missing
            .to_string()
            .contains("nope.yml:1:1: cannot read the file"));
    }

    /// Without an `ssl` section a bare listener is plain and an `https://` one an error at
    /// its own position. (Configs with an `ssl` section need `tls::settings::decode_ssl`;
    /// their resolution is tested with that module.)
    #[test]
    fn listeners_without_an_ssl_section() {
        let dir = temp_dir("listen");
        let path = write(
            &dir,
            "plain.yml",
            "gateway:\n  listen: [\"127.0.0.1:9201\", \"http://127.0.0.1:9202\"]\n  upstreams: https://127.0.0.1:9200\nreadonlyrest:\n  enable: false\n",
        );
        let config = Config::load(&path).unwrap();
        assert_eq!(config.gateway.server_tls, None);
        assert_eq!(
            config
                .gateway
                .listen
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["http://127.0.0.1:9201", "http://127.0.0.1:9202"]
        );
        assert!(config.gateway.upstreams[0].tls);
        assert_eq!(
            config.listen_override("127.0.0.1:1").unwrap().to_string(),
            "http://127.0.0.1:1"
        );
        assert!(config
            .listen_override("https://127.0.0.1:1")
            .unwrap_err()
            .contains("readonlyrest.ssl"));

        let path = write(
            &dir,
            "https.yml",
            "gateway:\n  listen:\n  - 127.0.0.1:9201\n  - \"https://0.0.0.0:9443\"\n  upstreams: http://127.0.0.1:9200\nreadonlyrest:\n  enable: false\n",
        );
        let errors = Config::load(&path).unwrap_err().to_string();
        assert!(
            errors.contains(&format!(
                "{}:4:5: gateway.listen: an https:// listener needs an enabled `readonlyrest.ssl` section",
                path.display()
            )),
            "{errors}"
        );
    }

    /// Whether a bare listener speaks TLS is read from the ACL file at start; a file that
    /// cannot be read then is an error (guessing plain would serve clear text), unless every
    /// listener says `http://`.
    #[test]
    fn an_unreadable_acl_file_leaves_bare_listeners_undecided() {
        let dir = temp_dir("listen-acl");
        let bare = write(
            &dir,
            "bare.yml",
            "gateway:\n  listen: 127.0.0.1:9201\n  upstreams: http://127.0.0.1:9200\n  acl_file: missing.yml\n",
        );
        let errors = Config::load(&bare).unwrap_err().to_string();
        assert!(
            errors.contains("cannot read the readonlyrest.ssl section"),
            "{errors}"
        );
        let explicit = write(
            &dir,
            "explicit.yml",
            "gateway:\n  listen: http://127.0.0.1:9201\n  upstreams: http://127.0.0.1:9200\n  acl_file: missing.yml\n",
        );
        let config = Config::load(&explicit).unwrap();
        assert!(!config.gateway.listen[0].tls);
        // A readable ACL file without `ssl`: plain.
        write(
            &dir,
            "acl.yml",
            "readonlyrest:\n  access_control_rules: []\n",
        );
        let with_acl = write(
            &dir,
            "with-acl.yml",
            "gateway:\n  listen: 127.0.0.1:9201\n  upstreams: http://127.0.0.1:9200\n  acl_file: acl.yml\n",
        );
        assert!(!Config::load(&with_acl).unwrap().gateway.listen[0].tls);
    }
}
