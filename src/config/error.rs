//! Configuration errors: every one names the file, line, column and what is wrong.
//!
//! Decoders never stop at the first mistake; they push onto a `Diagnostics` list so that
//! `ringfence check` can print them all at once as `FILE:LINE:COL: message`.

use super::yaml::{Mark, Node};
use std::fmt;
use std::path::{Path, PathBuf};

/// One mistake in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: u32,
    pub col: u32,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.col,
            self.message
        )
    }
}

/// All the mistakes found while loading a configuration, in file order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

/// Collects errors for one file while its tree is decoded.
#[derive(Debug)]
pub struct Diagnostics {
    file: PathBuf,
    errors: Vec<ConfigError>,
    warnings: Vec<ConfigError>,
}

impl Diagnostics {
    pub fn new(file: &Path) -> Diagnostics {
        Diagnostics {
            file: file.to_path_buf(),
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Records an error at `mark`.
    pub fn at(&mut self, mark: Mark, message: impl Into<String>) {
        self.errors.push(ConfigError {
            file: self.file.clone(),
            line: mark.line,
            col: mark.col,
            message: message.into(),
        });
    }

    /// Records an error at `node`'s position.
    pub fn error(&mut self, node: &Node, message: impl Into<String>) {
        self.at(node.mark, message);
    }

    /// Records something that loads but deserves the operator's attention.
    pub fn warn(&mut self, node: &Node, message: impl Into<String>) {
        self.warnings.push(ConfigError {
            file: self.file.clone(),
            line: node.mark.line,
            col: node.mark.col,
            message: message.into(),
        });
    }

    /// The warnings recorded so far, leaving none behind.
    pub fn take_warnings(&mut self) -> Vec<ConfigError> {
        std::mem::take(&mut self.warnings)
    }

    /// Records an unknown key, listing the keys that are accepted there.
    pub fn unknown_key(&mut self, key: &Node, section: &str, known: &[&str]) {
        let name = key.as_str().unwrap_or("?");
        self.error(
            key,
            format!(
                "unknown key `{name}` in {section} (expected one of: {})",
                known.join(", ")
            ),
        );
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// Errors recorded so far (a decoder compares counts to learn whether a part failed).
    pub fn error_count(&self) -> usize {
        self.errors.len()
    }

    /// Adds errors found in another file (for example an included `acl_file`).
    pub fn extend(&mut self, other: Diagnostics) {
        self.errors.extend(other.errors);
        self.warnings.extend(other.warnings);
    }

    /// `Ok(value)` when nothing was recorded, otherwise every error, sorted by position.
    pub fn finish<T>(mut self, value: T) -> Result<T, ConfigErrors> {
        if self.errors.is_empty() {
            return Ok(value);
        }
        self.errors
            .sort_by(|a, b| (&a.file, a.line, a.col).cmp(&(&b.file, b.line, b.col)));
        self.errors.dedup();
        Err(ConfigErrors(self.errors))
    }
}

/// Reads a mapping's entries, reporting a non-mapping or a non-scalar key once.
///
/// Returns the `(key, value)` pairs whose key is a plain string; decoders match on the key
/// and call [`Diagnostics::unknown_key`] for the rest.
pub fn entries<'a>(
    node: &'a Node,
    section: &str,
    diagnostics: &mut Diagnostics,
) -> Vec<(&'a str, &'a Node, &'a Node)> {
    let Some(map) = node.as_map() else {
        if !node.is_null() {
            diagnostics.error(
                node,
                format!("{section} must be a mapping, found {}", node.kind_name()),
            );
        }
        return Vec::new();
    };
    let mut seen: Vec<&str> = Vec::with_capacity(map.len());
    let mut out = Vec::with_capacity(map.len());
    for (key, value) in map {
        match key.as_str() {
            Some(name) if seen.contains(&name) => {
                diagnostics.error(key, format!("duplicate key `{name}` in {section}"));
            }
            Some(name) => {
                seen.push(name);
                out.push((name, key, value));
            }
            None => diagnostics.error(key, format!("keys in {section} must be strings")),
        }
    }
    out
}
