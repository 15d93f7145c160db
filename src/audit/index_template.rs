//! Audit index names from a Java `DateTimeFormatter` pattern, as ReadonlyREST writes them.
//!
//! `'readonlyrest_audit-'yyyy-MM-dd` is the default. Only the pieces audit templates use are
//! supported: quoted literals (`''` is a quote), `yyyy`, `yy`, `MM`, `dd`, `HH`, `mm`, `ss` and
//! non-letter characters; any other letter is refused when the configuration is read, so a
//! template never silently produces a different name than ReadonlyREST would. Times are UTC.

use chrono::{DateTime, Datelike, Timelike, Utc};
use std::fmt::Write;
use std::time::SystemTime;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(String),
    Year4,
    Year2,
    Month,
    Day,
    Hour,
    Minute,
    Second,
}

/// A parsed index-name template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexTemplate {
    pieces: Vec<Piece>,
}

/// Characters Elasticsearch refuses in index names.
const FORBIDDEN_INDEX_CHARS: &[char] =
    &['\\', '/', '*', '?', '"', '<', '>', '|', ' ', ',', '#', ':'];

impl IndexTemplate {
    pub const DEFAULT: &'static str = "'readonlyrest_audit-'yyyy-MM-dd";

    /// Parses a pattern; the error says which part is not supported.
    pub fn parse(pattern: &str) -> Result<IndexTemplate, String> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let chars: Vec<char> = pattern.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c == '\'' {
                if chars.get(i + 1) == Some(&'\'') {
                    literal.push('\'');
                    i += 2;
                    continue;
                }
                // A quoted literal; inside it `''` is one quote.
                i += 1;
                loop {
                    match (chars.get(i), chars.get(i + 1)) {
                        (None, _) => {
                            return Err(format!("index template `{pattern}` has an unclosed quote"))
                        }
                        (Some('\''), Some('\'')) => {
                            literal.push('\'');
                            i += 2;
                        }
                        (Some('\''), _) => {
                            i += 1;
                            break;
                        }
                        (Some(&c), _) => {
                            literal.push(c);
                            i += 1;
                        }
                    }
                }
                continue;
            }
            if !c.is_ascii_alphabetic() {
                literal.push(c);
                i += 1;
                continue;
            }
            let run = chars[i..].iter().take_while(|&&r| r == c).count();
            let piece = match (c, run) {
                ('y', 4) => Piece::Year4,
                ('y', 2) => Piece::Year2,
                ('M', 2) => Piece::Month,
                ('d', 2) => Piece::Day,
                ('H', 2) => Piece::Hour,
                ('m', 2) => Piece::Minute,
                ('s', 2) => Piece::Second,
                _ => {
                    let field: String = chars[i..i + run].iter().collect();
                    return Err(format!(
                        "index template `{pattern}`: `{field}` is not supported (use yyyy, yy, \
                         MM, dd, HH, mm, ss and 'quoted' text)"
                    ));
                }
            };
            if !literal.is_empty() {
                pieces.push(Piece::Literal(std::mem::take(&mut literal)));
            }
            pieces.push(piece);
            i += run;
        }
        if !literal.is_empty() {
            pieces.push(Piece::Literal(literal));
        }
        for piece in &pieces {
            if let Piece::Literal(text) = piece {
                check_index_name_part(text)
                    .map_err(|e| format!("index template `{pattern}`: {e}"))?;
            }
        }
        if pieces.is_empty() {
            return Err("the index template must not be empty".to_string());
        }
        Ok(IndexTemplate { pieces })
    }

    /// The index name for an event recorded at `at` (UTC).
    pub fn index_name(&self, at: SystemTime) -> String {
        let at: DateTime<Utc> = at.into();
        let mut name = String::with_capacity(32);
        for piece in &self.pieces {
            // Writing to a String cannot fail.
            let _ = match piece {
                Piece::Literal(text) => name.write_str(text),
                Piece::Year4 => write!(name, "{:04}", at.year()),
                Piece::Year2 => write!(name, "{:02}", at.year().rem_euclid(100)),
                Piece::Month => write!(name, "{:02}", at.month()),
                Piece::Day => write!(name, "{:02}", at.day()),
                Piece::Hour => write!(name, "{:02}", at.hour()),
                Piece::Minute => write!(name, "{:02}", at.minute()),
                Piece::Second => write!(name, "{:02}", at.second()),
            };
        }
        name
    }
}

/// Refuses text Elasticsearch would not accept in an index or data stream name.
pub fn check_index_name_part(text: &str) -> Result<(), String> {
    if text
        .chars()
        .any(|c| c.is_uppercase() || FORBIDDEN_INDEX_CHARS.contains(&c))
    {
        return Err(format!(
            "`{text}` is not valid in an index name (lowercase, no spaces or any of \\ / * ? \" < > | , # :)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    // 2024-03-07T09:05:02Z
    fn at() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_709_802_302)
    }

    #[test]
    fn default_template_names_the_utc_day() {
        let template = IndexTemplate::parse(IndexTemplate::DEFAULT).unwrap();
        assert_eq!(template.index_name(at()), "readonlyrest_audit-2024-03-07");
    }

    #[test]
    fn every_supported_field_and_quote_forms() {
        let template = IndexTemplate::parse("'a''b_'yy.MM.dd-HH:mm:ss").unwrap_err();
        assert!(template.contains("`:`"), "{template}");
        let template = IndexTemplate::parse("'audit''s-'yyyy_yy.MM.dd-HHmmss").unwrap();
        assert_eq!(template.index_name(at()), "audit's-2024_24.03.07-090502");
    }

    #[test]
    fn unsupported_letters_and_bad_literals_are_refused() {
        for (pattern, needle) in [
            ("'x-'yyyy-MMM", "`MMM`"),
            ("'x-'YYYY", "`YYYY`"),
            ("audit-yyyy", "`a`"),
            ("'Audit-'yyyy", "`Audit-`"),
            ("'x-'yyyy'", "unclosed"),
            ("", "empty"),
        ] {
            let error = IndexTemplate::parse(pattern).unwrap_err();
            assert!(error.contains(needle), "{pattern}: {error}");
        }
    }
}
