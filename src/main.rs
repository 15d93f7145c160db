//! The `ringfence` command: parses the command line and calls the library.

use clap::{Parser, Subcommand};
use ringfence::config::{gateway, Config};
use ringfence::logging::{self, LogFormat};
use std::path::PathBuf;
use std::process::ExitCode;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "ringfence",
    version,
    about = "Security gateway for Elasticsearch and OpenSearch",
    after_help = "Examples:
  ringfence run --config /etc/ringfence/gateway.yml
  ringfence run --config examples/gateway.yml --listen 127.0.0.1:9201 --upstream http://127.0.0.1:9200
  ringfence check --config /etc/ringfence/gateway.yml
  printf %s 'the-password' | ringfence hash sha256 --user logstash
  ringfence classify GET '/logs-*/_search?size=1'
  ringfence classify POST /_bulk --body bulk.ndjson"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Run {
        /// The configuration file (gateway: and readonlyrest: sections).
        #[arg(long)]
        config: PathBuf,
        /// Listen on this address instead of gateway.listen (repeatable; `https://IP:PORT`,
        /// `http://IP:PORT`, or `IP:PORT`: TLS when the readonlyrest.ssl section is enabled).
        #[arg(long = "listen", value_name = "ADDR")]
        listen: Vec<String>,
        /// Forward to this node instead of gateway.upstreams (repeatable).
        #[arg(long = "upstream", value_name = "URL")]
        upstream: Vec<String>,
        /// Log lines as `text` or `json` (one object per line); default: $RINGFENCE_LOG_FORMAT,
        /// else text.
        #[arg(long, value_name = "FORMAT")]
        log_format: Option<LogFormat>,
    },
    /// Validate a configuration file and its ACL; print every error as FILE:LINE:COL: message.
    Check {
        #[arg(long)]
        config: PathBuf,
    },
    /// Print the config line for a credential: reads the password from a prompt (or stdin
    /// when it is not a terminal), never from the command line.
    Hash {
        /// sha1, sha256, sha512, pbkdf2, unix ($6$ rounds=65535), bcrypt or argon2 (argon2id).
        scheme: String,
        #[arg(long)]
        user: String,
    },
    /// Show how a request is classified: REST API, transport action and indices (as JSON).
    Classify {
        /// GET, POST, PUT, DELETE, HEAD, ...
        method: String,
        /// The request target, e.g. "/logs-*/_search?size=1".
        target: String,
        /// A body file to read indices from (_bulk, _msearch, _mget, ...).
        #[arg(long)]
        body: Option<PathBuf>,
    },
}

/// The log format when `run --log-format` is not given (and for the other commands).
const LOG_FORMAT_ENV: &str = "RINGFENCE_LOG_FORMAT";

fn main() -> ExitCode {
    let cli = Cli::parse();
    let flag = match &cli.command {
        Command::Run { log_format, .. } => *log_format,
        _ => None,
    };
    match log_format(flag) {
        Ok(format) => logging::init(format),
        Err(message) => {
            eprintln!("ringfence: {message}");
            return ExitCode::FAILURE;
        }
    }
    match cli.command {
        Command::Run {
            config,
            listen,
            upstream,
            log_format: _,
        } => run(config, listen, upstream),
        Command::Check { config } => check(config),
        Command::Hash { scheme, user } => hash(&scheme, &user),
        Command::Classify {
            method,
            target,
            body,
        } => classify(&method, &target, body),
    }
}

/// `run --log-format`, else `RINGFENCE_LOG_FORMAT` (unset or empty: text).
fn log_format(flag: Option<LogFormat>) -> Result<LogFormat, String> {
    if let Some(format) = flag {
        return Ok(format);
    }
    match std::env::var(LOG_FORMAT_ENV) {
        Ok(text) if !text.is_empty() => text.parse().map_err(|e| format!("{LOG_FORMAT_ENV}: {e}")),
        Ok(_) | Err(std::env::VarError::NotPresent) => Ok(LogFormat::Text),
        Err(e) => Err(format!("{LOG_FORMAT_ENV}: {e}")),
    }
}

fn run(path: PathBuf, listen: Vec<String>, upstream: Vec<String>) -> ExitCode {
    let mut config = match Config::load(&path) {
        Ok(config) => config,
        Err(errors) => {
            eprintln!("{errors}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(message) = apply_overrides(&mut config, &listen, &upstream) {
        eprintln!("ringfence: {message}");
        return ExitCode::FAILURE;
    }
    match ringfence::runtime::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// `--listen` and `--upstream` replace the file's lists when given.
fn apply_overrides(
    config: &mut Config,
    listen: &[String],
    upstream: &[String],
) -> Result<(), String> {
    if !listen.is_empty() {
        config.gateway.listen = listen
            .iter()
            .map(|a| config.listen_override(a))
            .collect::<Result<_, _>>()?;
    }
    if !upstream.is_empty() {
        config.gateway.upstreams = upstream
            .iter()
            .map(|u| gateway::UpstreamUrl::parse(u))
            .collect::<Result<_, _>>()?;
    }
    Ok(())
}

fn check(path: PathBuf) -> ExitCode {
    // Both files' errors at once: the ACL is read even when the gateway section has errors.
    let (config, policy_source) = Config::load_and_policy_source(&path);
    let snapshot = policy_source.map(|source| ringfence::snapshot::Snapshot::load(&source, 1));
    let result = match (config, snapshot) {
        (Ok(config), Some(Ok(snapshot))) => Ok((config, snapshot)),
        (config, snapshot) => {
            let mut errors = config.err().map(|e| e.0).unwrap_or_default();
            if let Some(Err(policy_errors)) = snapshot {
                errors.extend(policy_errors.0);
            }
            Err(ringfence::config::ConfigErrors(errors))
        }
    };
    match result {
        Ok((config, snapshot)) => {
            let tls_errors = check_tls(&config);
            for error in &tls_errors {
                eprintln!("{}: {error}", path.display());
            }
            if !tls_errors.is_empty() {
                return ExitCode::FAILURE;
            }
            for warning in config.warnings.iter().chain(&snapshot.warnings) {
                eprintln!(
                    "{}:{}:{}: warning: {}",
                    warning.file.display(),
                    warning.line,
                    warning.col,
                    warning.message
                );
            }
            for warning in ringfence::config::exposure::warnings(&config.gateway, &snapshot.acl) {
                eprintln!("{}: warning: {warning}", path.display());
            }
            println!(
                "{}: OK (policy from {})",
                path.display(),
                config.policy_source.path().display()
            );
            ExitCode::SUCCESS
        }
        Err(errors) => {
            eprintln!("{errors}");
            ExitCode::FAILURE
        }
    }
}

/// Reads the certificates and keys the TLS settings name, as `run` would: a file that
/// decodes as settings can still be missing, encrypted or a JKS keystore.
fn check_tls(config: &Config) -> Vec<String> {
    let gateway = &config.gateway;
    let mut errors = Vec::new();
    if let Some(settings) = &gateway.server_tls {
        if let Err(e) = ringfence::tls::server::ServerTls::load(settings.clone()) {
            errors.push(format!("readonlyrest.ssl: {e}"));
        }
    }
    if let Some(settings) = &gateway.upstream_tls {
        if let Err(e) = ringfence::tls::client::client_config(settings) {
            errors.push(format!("gateway.upstream_tls: {e}"));
        }
    }
    errors
}

fn classify(method: &str, target: &str, body: Option<PathBuf>) -> ExitCode {
    use ringfence::es::{route, target::Targets};
    let Some(method) = ringfence::http::Method::from_bytes(method.to_ascii_uppercase().as_bytes())
    else {
        eprintln!("ringfence: unknown method `{method}`");
        return ExitCode::FAILURE;
    };
    let classified = match route::classify(method, target) {
        Ok(classified) => classified,
        Err(e) => {
            eprintln!("ringfence: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut targets = Targets::from_path(&classified);
    if let Some(path) = body {
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) => {
                eprintln!("ringfence: {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        };
        if let Err(e) = targets.add_body(&classified, &bytes) {
            eprintln!("ringfence: body: {}", e.reason());
            return ExitCode::FAILURE;
        }
    }
    let indices: Vec<serde_json::Value> = targets
        .indices
        .iter()
        .map(|i| serde_json::json!({"name": i.name, "access": format!("{:?}", i.access).to_lowercase()}))
        .collect();
    let out = serde_json::json!({
        "api": classified.api,
        "action": classified.action,
        "indices": indices,
        "all_indices": targets.all_indices,
        "narrowable": targets.narrowable,
    });
    println!("{out}");
    ExitCode::SUCCESS
}

fn hash(scheme: &str, user: &str) -> ExitCode {
    use ringfence::auth::key::{config_line, HashScheme};
    use std::io::IsTerminal;
    let Some(scheme) = HashScheme::from_name(scheme) else {
        eprintln!("ringfence: unknown scheme `{scheme}` (sha1, sha256, sha512, pbkdf2, unix, bcrypt, argon2)");
        return ExitCode::FAILURE;
    };
    let password = if std::io::stdin().is_terminal() {
        rpassword::prompt_password(format!("password for {user}: "))
    } else {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map(|_| line.trim_end_matches(['\r', '\n']).to_string())
    };
    let password = match password {
        Ok(password) => password,
        Err(e) => {
            eprintln!("ringfence: cannot read the password: {e}");
            return ExitCode::FAILURE;
        }
    };
    match config_line(scheme, user, &password) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("ringfence: {e}");
            ExitCode::FAILURE
        }
    }
}
