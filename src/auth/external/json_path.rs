//! The JsonPath subset that ReadonlyREST groups-provider configurations use
//! (`response_group_ids_json_path`), compiled once at load time and evaluated over a
//! `serde_json::Value` on the service's own thread.
//!
//! Supported: `$`, `.key`, `..key` (recursive descent), `.*` / `[*]`, `[n]`, `['key']` /
//! `["key"]`, and the filter `[?(@.field)]` ("has the field"). Anything else (expressions,
//! slices, unions, functions) is refused by [`JsonPath::parse`] with the position of the
//! first character not understood, so a path that loads is a path evaluated as written.
//!
//! Must not: panic on any document (the response body comes from the network).

use serde_json::Value;
use std::fmt;

/// A compiled path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath {
    text: String,
    steps: Vec<Step>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// Applied to the current nodes.
    Child(Selector),
    /// Applied to the current nodes and every node below them (`..`).
    Descendant(Selector),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Selector {
    Key(String),
    Wildcard,
    Index(usize),
    /// `[?(@.field)]`: the elements of an array (or an object itself) that have `field`.
    HasField(String),
}

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPathError {
    pub path: String,
    /// 1-based character position.
    pub at: usize,
    pub problem: &'static str,
}

impl fmt::Display for JsonPathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "JSON path `{}`: {} at character {} (supported: $, .key, ..key, .*, [*], [n], ['key'], [?(@.field)])",
            self.path, self.problem, self.at
        )
    }
}

impl std::error::Error for JsonPathError {}

struct Parser<'a> {
    text: &'a str,
    chars: Vec<char>,
    at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn fail(&self, problem: &'static str) -> JsonPathError {
        JsonPathError {
            path: self.text.to_string(),
            at: self.at + 1,
            problem,
        }
    }

    fn expect(&mut self, c: char, problem: &'static str) -> Result<(), JsonPathError> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(self.fail(problem))
        }
    }

    /// A dotted name: up to the next `.` or `[`.
    fn name(&mut self) -> Result<String, JsonPathError> {
        let start = self.at;
        while let Some(c) = self.peek() {
            if c == '.' || c == '[' {
                break;
            }
            if c.is_whitespace() || matches!(c, ']' | '(' | ')' | '\'' | '"' | '?' | '@') {
                return Err(self.fail("unexpected character in a name"));
            }
            self.at += 1;
        }
        if self.at == start {
            return Err(self.fail("a name is missing"));
        }
        Ok(self.chars[start..self.at].iter().collect())
    }

    /// A quoted key inside brackets, the opening quote not yet eaten.
    fn quoted(&mut self) -> Result<String, JsonPathError> {
        let quote = match self.peek() {
            Some(q @ ('\'' | '"')) => q,
            _ => return Err(self.fail("a quoted key is expected")),
        };
        self.at += 1;
        let start = self.at;
        while let Some(c) = self.peek() {
            if c == quote {
                let key: String = self.chars[start..self.at].iter().collect();
                self.at += 1;
                return Ok(key);
            }
            if c == '\\' {
                return Err(self.fail("escapes in quoted keys are not supported"));
            }
            self.at += 1;
        }
        Err(self.fail("the quoted key is not closed"))
    }

    /// After `[`: `*`, a number, a quoted key or `?(@.field)`, then `]`.
    fn bracket(&mut self) -> Result<Selector, JsonPathError> {
        let selector = match self.peek() {
            Some('*') => {
                self.at += 1;
                Selector::Wildcard
            }
            Some('\'' | '"') => Selector::Key(self.quoted()?),
            Some(c) if c.is_ascii_digit() => {
                let start = self.at;
                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.at += 1;
                }
                let digits: String = self.chars[start..self.at].iter().collect();
                let index = digits
                    .parse()
                    .map_err(|_| self.fail("the index is too large"))?;
                Selector::Index(index)
            }
            Some('?') => {
                self.at += 1;
                self.expect('(', "`(` is expected after `?`")?;
                self.expect('@', "only `@.field` filters are supported")?;
                let field = if self.eat('.') {
                    let start = self.at;
                    while self
                        .peek()
                        .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '-')
                    {
                        self.at += 1;
                    }
                    if self.at == start {
                        return Err(self.fail("a field name is missing"));
                    }
                    self.chars[start..self.at].iter().collect()
                } else if self.eat('[') {
                    let key = self.quoted()?;
                    self.expect(']', "`]` is expected")?;
                    key
                } else {
                    return Err(self.fail("only `@.field` filters are supported"));
                };
                self.expect(
                    ')',
                    "only `[?(@.field)]` filters are supported (no comparisons)",
                )?;
                Selector::HasField(field)
            }
            _ => return Err(self.fail("unsupported bracket expression")),
        };
        self.expect(']', "`]` is expected")?;
        Ok(selector)
    }
}

impl JsonPath {
    /// Compiles `text`, refusing any syntax outside the supported subset.
    pub fn parse(text: &str) -> Result<JsonPath, JsonPathError> {
        let mut p = Parser {
            text,
            chars: text.trim().chars().collect(),
            at: 0,
        };
        p.expect('$', "a path starts with `$`")?;
        let mut steps = Vec::new();
        while let Some(c) = p.peek() {
            let step = match c {
                '.' => {
                    p.at += 1;
                    let descendant = p.eat('.');
                    let selector = if p.eat('*') {
                        Selector::Wildcard
                    } else if descendant && p.eat('[') {
                        p.bracket()?
                    } else {
                        Selector::Key(p.name()?)
                    };
                    if descendant {
                        Step::Descendant(selector)
                    } else {
                        Step::Child(selector)
                    }
                }
                '[' => {
                    p.at += 1;
                    Step::Child(p.bracket()?)
                }
                _ => return Err(p.fail("`.` or `[` is expected")),
            };
            steps.push(step);
        }
        Ok(JsonPath {
            text: text.to_string(),
            steps,
        })
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The nodes the path selects, in document order.
    pub fn select<'v>(&self, root: &'v Value) -> Vec<&'v Value> {
        let mut current = vec![root];
        for step in &self.steps {
            let mut next = Vec::new();
            match step {
                Step::Child(selector) => {
                    for node in current {
                        apply(selector, node, &mut next);
                    }
                }
                Step::Descendant(selector) => {
                    for node in current {
                        descend(selector, node, &mut next);
                    }
                }
            }
            current = next;
        }
        current
    }

    /// The strings the path selects, as ReadonlyREST reads a list of group ids: each
    /// selected string (a number as its text); a selected array contributes its string and
    /// number elements; anything else is skipped. Empty strings and repeats are dropped.
    pub fn strings(&self, root: &Value) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        // Repeats found by hash, not by scanning: a 1 MiB reply holds some 150,000 ids.
        let mut seen = std::collections::HashSet::new();
        let mut push = |value: &Value| {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => return,
            };
            if !text.is_empty() && seen.insert(text.clone()) {
                out.push(text);
            }
        };
        for node in self.select(root) {
            match node {
                Value::Array(items) => items.iter().for_each(&mut push),
                other => push(other),
            }
        }
        out
    }
}

fn apply<'v>(selector: &Selector, node: &'v Value, out: &mut Vec<&'v Value>) {
    match (selector, node) {
        (Selector::Key(key), Value::Object(map)) => out.extend(map.get(key)),
        (Selector::Wildcard, Value::Object(map)) => out.extend(map.values()),
        (Selector::Wildcard, Value::Array(items)) => out.extend(items),
        (Selector::Index(i), Value::Array(items)) => out.extend(items.get(*i)),
        (Selector::HasField(field), Value::Array(items)) => out.extend(
            items
                .iter()
                .filter(|item| item.as_object().is_some_and(|m| m.contains_key(field))),
        ),
        (Selector::HasField(field), Value::Object(map)) if map.contains_key(field) => {
            out.push(node)
        }
        _ => {}
    }
}

/// `selector` applied to `node` and to every node below it, in document order.
fn descend<'v>(selector: &Selector, node: &'v Value, out: &mut Vec<&'v Value>) {
    let mut stack = vec![node];
    while let Some(node) = stack.pop() {
        // A filter picks elements from arrays only here, so that an object is not selected
        // twice (once as an element of its array, once as itself).
        match (selector, node) {
            (Selector::HasField(_), Value::Object(_)) => {}
            _ => apply(selector, node, out),
        }
        match node {
            Value::Object(map) => stack.extend(map.values().rev()),
            Value::Array(items) => stack.extend(items.iter().rev()),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn strings(path: &str, doc: Value) -> Vec<String> {
        JsonPath::parse(path).unwrap().strings(&doc)
    }

    #[test]
    fn the_paths_readonlyrest_configurations_use() {
        let doc = json!({
            "user": "alice",
            "groups": [
                {"id": "g1", "name": "Group 1"},
                {"id": "g2"},
                {"name": "only a name"},
                "loose"
            ],
            "nested": {"groups": [{"id": 7, "name": "Seven"}]}
        });
        assert_eq!(
            strings("$..groups[?(@.name)].name", doc.clone()),
            ["Group 1", "only a name", "Seven"]
        );
        assert_eq!(
            strings("$..groups[?(@.id)].id", doc.clone()),
            ["g1", "g2", "7"]
        );
        assert_eq!(strings("$.groups[*].id", doc.clone()), ["g1", "g2"]);
        assert_eq!(strings("$.groups[3]", doc.clone()), ["loose"]);
        assert_eq!(strings("$['nested'].groups[0].id", doc.clone()), ["7"]);
        assert_eq!(strings("$.user", doc.clone()), ["alice"]);
        assert_eq!(strings("$.missing.path", doc), Vec::<String>::new());
    }

    #[test]
    fn an_array_at_the_end_gives_its_elements() {
        let doc = json!({"a": {"b": ["x", "y", 3, null, {"o": 1}, ["nested"], ""]}});
        assert_eq!(strings("$.a.b", doc.clone()), ["x", "y", "3"]);
        // `[*]` selects the nested array too, which gives its elements.
        assert_eq!(strings("$..b[*]", doc.clone()), ["x", "y", "3", "nested"]);
        assert_eq!(
            strings("$..groups[*]", json!({"groups": ["a", "a", "b"]})),
            ["a", "b"]
        );
        assert_eq!(strings("$.*", json!({"k": "v", "l": ["w"]})), ["v", "w"]);
    }

    #[test]
    fn refused_syntax_names_the_position() {
        for (path, at) in [
            ("groups", 1),
            ("$.a[?(@.id == 'x')]", 11),
            ("$.a[0:2]", 6),
            ("$.a['k','l']", 8),
            ("$.a[-1]", 5),
            ("$..", 4),
            ("$.a b", 4),
            ("$.a[?(@.length()>1)]", 15),
            ("$.a[", 5),
            ("$.a['open", 10),
        ] {
            let e = JsonPath::parse(path).unwrap_err();
            assert_eq!(e.at, at, "{path}: {e}");
            assert!(e.to_string().contains(path), "{e}");
        }
    }
}
