//! A YAML document as a tree in which every node remembers where it was written.
//!
//! serde's derive stops at the first error and forgets positions; operators need every mistake
//! reported as `file:line:col`. So the file is read once into this small tree (yaml-rust2's
//! event parser supplies the marks) and the decoders in `config` walk it by hand, collecting
//! errors as they go. Scalars stay strings; a decoder asks for the type it needs.

use std::collections::HashMap;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Where a node starts in its file: 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Mark {
    pub line: u32,
    pub col: u32,
}

impl Mark {
    fn from_marker(marker: Marker) -> Mark {
        // yaml-rust2 counts lines from 1 and columns from 0.
        Mark {
            line: marker.line() as u32,
            col: marker.col() as u32 + 1,
        }
    }
}

/// A YAML node with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub mark: Mark,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// A scalar; `plain` is false when it was quoted or a block scalar (so `"true"` stays text).
    Scalar {
        value: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

/// A syntax error in the YAML text itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub mark: Mark,
    pub message: String,
}

impl Node {
    /// The text of a scalar node, or `None` for a sequence or mapping.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { value, .. } => Some(value),
            _ => None,
        }
    }

    /// True for `~`, `null`, `Null`, `NULL` or an empty plain scalar (YAML 1.2 core schema).
    pub fn is_null(&self) -> bool {
        matches!(&self.kind, NodeKind::Scalar { value, plain: true }
            if matches!(value.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// A plain `true`/`false` (YAML 1.2 core schema spellings).
    pub fn as_bool(&self) -> Option<bool> {
        match &self.kind {
            NodeKind::Scalar { value, plain: true } => match value.as_str() {
                "true" | "True" | "TRUE" => Some(true),
                "false" | "False" | "FALSE" => Some(false),
                _ => None,
            },
            _ => None,
        }
    }

    /// A non-negative integer written plainly (or quoted: ROR users often quote numbers).
    pub fn as_u64(&self) -> Option<u64> {
        let text = self.as_str()?;
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        text.parse().ok()
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            NodeKind::Seq(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            NodeKind::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The value under `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    /// A short description of the node's type for error messages.
    pub fn kind_name(&self) -> &'static str {
        match &self.kind {
            NodeKind::Scalar { .. } if self.is_null() => "null",
            NodeKind::Scalar { .. } => "a scalar",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
        }
    }

    /// Applies `f` to every scalar in the tree (used for startup variables).
    pub fn for_each_scalar_mut(&mut self, f: &mut impl FnMut(&mut String, &mut bool, Mark)) {
        let mark = self.mark;
        match &mut self.kind {
            NodeKind::Scalar { value, plain } => f(value, plain, mark),
            NodeKind::Seq(items) => items.iter_mut().for_each(|n| n.for_each_scalar_mut(f)),
            NodeKind::Map(entries) => entries
                .iter_mut()
                .for_each(|(_, v)| v.for_each_scalar_mut(f)),
        }
    }
}

/// Parses one YAML document. An empty document is an empty mapping.
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    let mut builder = TreeBuilder::default();
    let mut parser = Parser::new_from_str(text);
    parser.load(&mut builder, false).map_err(|e| SyntaxError {
        mark: Mark::from_marker(*e.marker()),
        message: e.info().to_string(),
    })?;
    if let Some(message) = builder.error {
        return Err(SyntaxError {
            mark: builder.error_mark,
            message,
        });
    }
    Ok(builder.root.unwrap_or(Node {
        kind: NodeKind::Map(Vec::new()),
        mark: Mark { line: 1, col: 1 },
    }))
}

/// Turns the parser's event stream into a `Node` tree, resolving anchors and aliases.
#[derive(Default)]
struct TreeBuilder {
    /// Open sequences and mappings, innermost last, with the anchor id each was declared with.
    stack: Vec<(Node, usize)>,
    /// A mapping key waiting for its value, per open mapping (parallel to `stack`).
    pending_keys: Vec<Option<Node>>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    error: Option<String>,
    error_mark: Mark,
}

impl TreeBuilder {
    fn push_value(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        let Some((parent, _)) = self.stack.last_mut() else {
            self.root = Some(node);
            return;
        };
        match &mut parent.kind {
            NodeKind::Seq(items) => items.push(node),
            NodeKind::Map(entries) => {
                let pending = self
                    .pending_keys
                    .last_mut()
                    .expect("pending_keys is pushed with every open collection");
                match pending.take() {
                    None => *pending = Some(node),
                    Some(key) => entries.push((key, node)),
                }
            }
            NodeKind::Scalar { .. } => unreachable!("scalars are never pushed on the stack"),
        }
    }
}

impl MarkedEventReceiver for TreeBuilder {
    fn on_event(&mut self, event: Event, marker: Marker) {
        let mark = Mark::from_marker(marker);
        match event {
            Event::Scalar(value, style, anchor, _tag) => {
                let plain = style == TScalarStyle::Plain;
                self.push_value(
                    Node {
                        kind: NodeKind::Scalar { value, plain },
                        mark,
                    },
                    anchor,
                );
            }
            Event::SequenceStart(anchor, _) => {
                self.stack.push((
                    Node {
                        kind: NodeKind::Seq(Vec::new()),
                        mark,
                    },
                    anchor,
                ));
                self.pending_keys.push(None);
            }
            Event::MappingStart(anchor, _) => {
                self.stack.push((
                    Node {
                        kind: NodeKind::Map(Vec::new()),
                        mark,
                    },
                    anchor,
                ));
                self.pending_keys.push(None);
            }
            Event::SequenceEnd | Event::MappingEnd => {
                self.pending_keys.pop();
                if let Some((node, anchor)) = self.stack.pop() {
                    self.push_value(node, anchor);
                }
            }
            Event::Alias(id) => match self.anchors.get(&id).cloned() {
                Some(mut node) => {
                    node.mark = mark;
                    self.push_value(node, 0);
                }
                None if self.error.is_none() => {
                    self.error = Some("alias to an unknown anchor".to_string());
                    self.error_mark = mark;
                }
                None => {}
            },
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_are_one_based_lines_and_columns() {
        let root = parse("gateway:\n  listen: \"0.0.0.0:9201\"\n  workers: 2\n").unwrap();
        let gateway = root.get("gateway").unwrap();
        let (key, value) = &gateway.as_map().unwrap()[1];
        assert_eq!(key.as_str(), Some("workers"));
        assert_eq!(key.mark, Mark { line: 3, col: 3 });
        assert_eq!(value.as_u64(), Some(2));
        assert_eq!(
            gateway.get("listen").unwrap().mark,
            Mark { line: 2, col: 11 }
        );
    }

    #[test]
    fn quoted_scalars_are_not_booleans_or_null() {
        let root = parse("a: \"true\"\nb: true\nc: ''\nd: ~\n").unwrap();
        assert_eq!(root.get("a").unwrap().as_bool(), None);
        assert_eq!(root.get("b").unwrap().as_bool(), Some(true));
        assert!(!root.get("c").unwrap().is_null());
        assert!(root.get("d").unwrap().is_null());
    }

    #[test]
    fn aliases_copy_the_anchored_node() {
        let root = parse("base: &b [x, y]\ncopy: *b\n").unwrap();
        assert_eq!(
            root.get("copy").unwrap().as_seq().unwrap().len(),
            root.get("base").unwrap().as_seq().unwrap().len()
        );
    }

    #[test]
    fn syntax_errors_carry_a_position() {
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.mark.line >= 1, "{err:?}");
        assert!(!err.message.is_empty());
    }

    #[test]
    fn empty_document_is_an_empty_mapping() {
        assert_eq!(parse("").unwrap().as_map().map(|m| m.len()), Some(0));
    }
}
