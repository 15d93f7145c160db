//! The process log: one `tracing` subscriber, installed by the `ringfence` command before
//! anything logs, writing to stderr.
//!
//! Text is for people and is coloured only when stderr is a terminal (and `NO_COLOR` is not
//! set), so that logs redirected to a file or a pipe carry no escape sequences. JSON is for
//! log shippers: one object per line, the event's fields at the top level. `RUST_LOG` filters
//! (default `info`). This is the operator's log, not the audit trail.

use std::io::IsTerminal;
use std::str::FromStr;
use tracing_subscriber::EnvFilter;

/// The filter when `RUST_LOG` is unset or invalid.
const DEFAULT_FILTER: &str = "info";

/// rustls's own log lines, whatever `RUST_LOG` says (see `init`).
const RUSTLS_DIRECTIVE: &str = "rustls=error";

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(text: &str) -> Result<LogFormat, String> {
        match text {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(format!("unknown log format `{text}` (text or json)")),
        }
    }
}

/// Installs the process-wide subscriber. Only the first call in a process installs one;
/// later calls change nothing.
pub fn init(format: LogFormat) {
    let mut filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    // ldap3 and ureq turn on rustls's `logging` feature (Cargo features add up), and `log` records
    // reach this subscriber: without this, rustls would warn once per TLS client that
    // sends an IP address as its server name. Handshake failures are logged by the
    // gateway itself (rate-limited), so rustls's own lines are cut to errors.
    if let Ok(rustls) = RUSTLS_DIRECTIVE.parse() {
        filter = filter.add_directive(rustls);
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // `try_init` fails only when a subscriber is already installed: that one stays.
    let _already_installed = match format {
        LogFormat::Text => builder.with_ansi(colours_wanted()).try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_ansi(false)
            .try_init(),
    };
}

/// Colours only for a person at a terminal; <https://no-color.org>: a non-empty `NO_COLOR`
/// turns them off there too.
fn colours_wanted() -> bool {
    std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse_by_name_only() {
        assert_eq!("text".parse(), Ok(LogFormat::Text));
        assert_eq!("json".parse(), Ok(LogFormat::Json));
        for wrong in ["", "JSON", "yaml", "json "] {
            assert!(wrong.parse::<LogFormat>().is_err(), "{wrong:?}");
        }
    }
}
