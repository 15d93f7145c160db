//! ReadonlyREST's startup variables, replaced in the whole tree before anything is decoded.

use crate::config::error::Diagnostics;
use crate::config::yaml::Node;

/// Replaces startup variables in every scalar: `${env:X}`, `@{env:X}`, the legacy `${X}`,
/// and the whole-value prefixes `env:X` and `text:literal` (ReadonlyREST's static variables).
pub(super) fn substitute(root: &mut Node, d: &mut Diagnostics) {
    let mut errors = Vec::new();
    root.for_each_scalar_mut(&mut |value, _plain, mark| {
        if let Some(name) = value.strip_prefix("env:") {
            match std::env::var(name) {
                Ok(v) => *value = v,
                Err(_) => errors.push((mark, format!("environment variable `{name}` is not set"))),
            }
            return;
        }
        if let Some(text) = value.strip_prefix("text:") {
            *value = text.to_string();
            return;
        }
        if !value.contains("${") && !value.contains("@{env:") {
            return;
        }
        let mut out = String::with_capacity(value.len());
        let mut rest = value.as_str();
        while let Some(at) = rest.find("${").into_iter().chain(rest.find("@{env:")).min() {
            out.push_str(&rest[..at]);
            let from = &rest[at..];
            let Some(close) = from.find('}') else {
                out.push_str(from);
                rest = "";
                break;
            };
            let inner = &from[2..close];
            let name = inner.strip_prefix("env:").unwrap_or(inner);
            match std::env::var(name) {
                Ok(v) => out.push_str(&v),
                Err(_) => {
                    errors.push((mark, format!("environment variable `{name}` is not set")));
                    out.push_str(&from[..=close]);
                }
            }
            rest = &from[close + 1..];
        }
        out.push_str(rest);
        *value = out;
    });
    for (mark, message) in errors {
        d.at(mark, message);
    }
}
