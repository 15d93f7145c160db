//! Glob patterns as ReadonlyREST uses them: `*` is any run of characters, `?` exactly one.
//!
//! Matching is on bytes, case-sensitive unless the pattern was compiled case-insensitive
//! (user names with `username_case_sensitivity: case_insensitive`). The common shapes —
//! exact text, `prefix*`, `*suffix`, `*` — take a fast path; the rest use the classic
//! iterative matcher that backtracks only to the last `*` (linear in practice, no recursion).

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    text: Box<str>,
    shape: Shape,
    ignore_case: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Exact,
    Any,
    Prefix,
    Suffix,
    General,
}

impl Glob {
    pub fn new(pattern: &str) -> Glob {
        Glob::with_case(pattern, false)
    }

    pub fn with_case(pattern: &str, ignore_case: bool) -> Glob {
        let bytes = pattern.as_bytes();
        let wild = |b: &u8| *b == b'*' || *b == b'?';
        let stars = bytes.iter().filter(|&&b| b == b'*').count();
        let has_question = bytes.contains(&b'?');
        let shape = if !bytes.iter().any(wild) {
            Shape::Exact
        } else if bytes.iter().all(|&b| b == b'*') {
            Shape::Any
        } else if stars == 1 && !has_question && bytes.last() == Some(&b'*') {
            Shape::Prefix
        } else if stars == 1 && !has_question && bytes.first() == Some(&b'*') {
            Shape::Suffix
        } else {
            Shape::General
        };
        Glob {
            text: pattern.into(),
            shape,
            ignore_case,
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the pattern has no wildcard (it names exactly one value).
    pub fn is_literal(&self) -> bool {
        self.shape == Shape::Exact
    }

    pub fn ignores_case(&self) -> bool {
        self.ignore_case
    }

    pub fn matches(&self, value: &str) -> bool {
        self.matches_bytes(value.as_bytes())
    }

    pub fn matches_bytes(&self, value: &[u8]) -> bool {
        let pattern = self.text.as_bytes();
        let eq = |a: &[u8], b: &[u8]| {
            if self.ignore_case {
                a.eq_ignore_ascii_case(b)
            } else {
                a == b
            }
        };
        match self.shape {
            Shape::Exact => eq(pattern, value),
            Shape::Any => true,
            Shape::Prefix => {
                let prefix = &pattern[..pattern.len() - 1];
                value.len() >= prefix.len() && eq(prefix, &value[..prefix.len()])
            }
            Shape::Suffix => {
                let suffix = &pattern[1..];
                value.len() >= suffix.len() && eq(suffix, &value[value.len() - suffix.len()..])
            }
            Shape::General => general_match(pattern, value, self.ignore_case),
        }
    }
}

/// Length of the UTF-8 sequence starting with `lead`, so `?` and `*` step over whole
/// characters as ReadonlyREST's (UTF-16 based) matcher does for the characters people use.
fn char_len(lead: u8) -> usize {
    match lead {
        0xF0..=0xF7 => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

/// Iterative glob matching with a single backtrack point (the last `*` seen).
fn general_match(pattern: &[u8], value: &[u8], ignore_case: bool) -> bool {
    let same = |p: u8, v: u8| {
        if ignore_case {
            p.eq_ignore_ascii_case(&v)
        } else {
            p == v
        }
    };
    let (mut p, mut v) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while v < value.len() {
        // `v` may step past the end on a truncated UTF-8 sequence; the loop then ends.
        if p < pattern.len() && pattern[p] == b'?' {
            p += 1;
            v += char_len(value[v]);
        } else if p < pattern.len() && pattern[p] != b'*' && same(pattern[p], value[v]) {
            p += 1;
            v += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, v));
            p += 1;
        } else if let Some((star_p, star_v)) = star {
            let next = star_v + char_len(value[star_v]);
            p = star_p + 1;
            v = next;
            star = Some((star_p, next));
        } else {
            return false;
        }
    }
    v >= value.len() && pattern[p..].iter().all(|&b| b == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let cases: &[(&str, &str, bool)] = &[
            ("logs", "logs", true),
            ("logs", "logs2", false),
            ("logs-*", "logs-2024", true),
            ("logs-*", "logs-", true),
            ("logs-*", "log", false),
            ("*-prod", "web-prod", true),
            ("*-prod", "web-dev", false),
            ("*", "", true),
            ("**", "anything", true),
            ("l?gs", "logs", true),
            ("l?gs", "lgs", false),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
            ("*a*", "bab", true),
            ("*.kibana*", ".kibana_1", true),
            ("a*?", "a", false),
            ("a*?", "ab", true),
            ("*x", "xxxx", true),
            ("?", "é", true),
            ("??", "é", false),
            ("*é", "aé", true),
        ];
        for (pattern, value, expected) in cases {
            assert_eq!(
                Glob::new(pattern).matches(value),
                *expected,
                "{pattern} ~ {value}"
            );
        }
    }

    #[test]
    fn case_insensitive_user_names() {
        assert!(Glob::with_case("Admin*", true).matches("ADMINISTRATOR"));
        assert!(!Glob::new("Admin*").matches("ADMINISTRATOR"));
        assert!(Glob::with_case("a?c*", true).matches("ABCD"));
    }

    #[test]
    fn pathological_patterns_stay_linear() {
        let value = "a".repeat(10_000);
        let pattern = format!("{}b", "*a".repeat(50));
        assert!(!Glob::new(&pattern).matches(&value));
    }
}

/// A glob that may contain runtime variables (resolved per request, then matched).
#[derive(Debug, Clone)]
pub enum ValuePattern {
    Static(Glob),
    Dynamic(super::variable::Template, bool),
}

impl ValuePattern {
    /// `ignore_case` applies to user names; `multi` allows `@explode`.
    pub fn parse(text: &str, ignore_case: bool, multi: bool) -> Result<ValuePattern, String> {
        let template = super::variable::Template::parse(text, multi)?;
        Ok(match template.as_static() {
            Some(text) => ValuePattern::Static(Glob::with_case(text, ignore_case)),
            None => ValuePattern::Dynamic(template, ignore_case),
        })
    }

    pub fn needs_user(&self) -> bool {
        matches!(self, ValuePattern::Dynamic(t, _) if t.needs_user())
    }

    pub fn matches(&self, value: &str, from: &dyn super::variable::Resolve) -> bool {
        match self {
            ValuePattern::Static(glob) => glob.matches(value),
            ValuePattern::Dynamic(template, ignore_case) => template
                .resolve(from)
                .iter()
                .any(|p| Glob::with_case(p, *ignore_case).matches(value)),
        }
    }

    /// The pattern's text when it has no variables (for validation messages).
    pub fn as_static(&self) -> Option<&Glob> {
        match self {
            ValuePattern::Static(glob) => Some(glob),
            ValuePattern::Dynamic(..) => None,
        }
    }
}

impl Glob {
    /// Whether every name the index expression `expr` can match (its `*` being a wildcard) is
    /// also matched by this pattern: `logs-*` contains `logs-2024*` but not `log*`. Sound, not
    /// complete: a `?` in the pattern never stands for a `*` of the expression.
    pub fn contains_pattern(&self, expr: &str) -> bool {
        if !expr.contains('*') {
            return self.matches(expr);
        }
        contains(self.text.as_bytes(), expr.as_bytes(), self.ignore_case)
    }
}

impl Glob {
    /// Whether some name is matched both by this pattern and by the index expression `expr`
    /// (whose `*` is a wildcard and `?` a literal): `secret*` overlaps `s*`, `*-private`
    /// overlaps `team-*`, `logs-*` does not overlap `secret-*`. Exact, in O(pattern x expr)
    /// steps over characters.
    pub fn overlaps(&self, expr: &str) -> bool {
        let pattern: Vec<char> = self.text.chars().collect();
        let expr: Vec<char> = expr.chars().collect();
        let same = |a: char, b: char| {
            if self.ignore_case {
                a.eq_ignore_ascii_case(&b)
            } else {
                a == b
            }
        };
        let (np, ne) = (pattern.len(), expr.len());
        // reach[i][j]: some text is produced by pattern[..i] and by expr[..j] alike.
        let mut reach = vec![false; (np + 1) * (ne + 1)];
        let at = |i: usize, j: usize| i * (ne + 1) + j;
        reach[0] = true;
        for i in 0..=np {
            for j in 0..=ne {
                if !reach[at(i, j)] {
                    continue;
                }
                let p = pattern.get(i).copied();
                let e = expr.get(j).copied();
                // A star may produce nothing.
                if p == Some('*') {
                    reach[at(i + 1, j)] = true;
                }
                if e == Some('*') {
                    reach[at(i, j + 1)] = true;
                }
                // One character produced by both sides; a star stays where it is.
                if let (Some(p), Some(e)) = (p, e) {
                    let both = match (p, e) {
                        ('*', _) | (_, '*') | ('?', _) => true,
                        (p, e) => same(p, e),
                    };
                    if both {
                        let i2 = if p == '*' { i } else { i + 1 };
                        let j2 = if e == '*' { j } else { j + 1 };
                        reach[at(i2, j2)] = true;
                    }
                }
            }
        }
        reach[at(np, ne)]
    }
}

/// Matches `expr` (whose `*` can only be absorbed by a `*` of `pattern`) against `pattern`.
fn contains(pattern: &[u8], expr: &[u8], ignore_case: bool) -> bool {
    let same = |p: u8, e: u8| {
        if ignore_case {
            p.eq_ignore_ascii_case(&e)
        } else {
            p == e
        }
    };
    let (mut p, mut e) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while e < expr.len() {
        let literal_ok = p < pattern.len()
            && pattern[p] != b'*'
            && expr[e] != b'*'
            && (pattern[p] == b'?' || same(pattern[p], expr[e]));
        if literal_ok {
            p += 1;
            e += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, e));
            p += 1;
        } else if let Some((star_p, star_e)) = star {
            p = star_p + 1;
            e = star_e + 1;
            star = Some((star_p, star_e + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

#[cfg(test)]
mod containment_tests {
    use super::Glob;

    #[test]
    fn pattern_overlap() {
        let cases: &[(&str, &str, bool)] = &[
            ("secret*", "s*", true),
            ("secret*", "secret-1", true),
            ("secret*", "logs-*", false),
            ("*-private", "team-*", true),
            ("*-private", "team-a", false),
            ("a?c", "abc", true),
            ("a?c", "a*", true),
            ("a?c", "ab", false),
            ("*", "", true),
            ("x", "*", true),
            ("x", "", false),
            ("a*b", "*c", false),
            ("a*b", "*b", true),
            ("?", "é", true),
            ("logs-*", "logs-dc2:secret", true),
        ];
        for (pattern, expr, expected) in cases {
            assert_eq!(
                Glob::new(pattern).overlaps(expr),
                *expected,
                "{pattern} ∩ {expr}"
            );
        }
    }

    #[test]
    fn pattern_containment() {
        let cases: &[(&str, &str, bool)] = &[
            ("logs-*", "logs-2024*", true),
            ("logs-*", "logs-*", true),
            ("logs-*", "log*", false),
            ("logs-*", "*", false),
            ("*", "*", true),
            ("*", "anything*x", true),
            ("logs-*-prod", "logs-*", false),
            ("logs-*-prod", "logs-*-prod", true),
            ("logs-?", "logs-*", false),
            ("logs-?", "logs-a", true),
            ("a*b*c", "a*c", false),
            ("a*c", "a*b*c", true),
        ];
        for (pattern, expr, expected) in cases {
            assert_eq!(
                Glob::new(pattern).contains_pattern(expr),
                *expected,
                "{pattern} ⊇ {expr}"
            );
        }
    }
}
