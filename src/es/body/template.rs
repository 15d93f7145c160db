//! Index templates: the index patterns a template applies to, the aliases it creates and the
//! component templates it is composed of.
//!
//! Owns: `index_patterns` and alias names of legacy (`_template`), composable
//! (`_index_template`, also `_index_template/_simulate`) and component
//! (`_component_template`) templates, and a composable template's `composed_of`. Must not:
//! look into settings or mappings (skipped; `settings` reads the ingest pipelines set in
//! them).
//!
//! Decisions, with the Elasticsearch behaviour they follow:
//! - `index_patterns`: a string or an array of strings (legacy `PutIndexTemplateRequest`
//!   takes both; the composable object parser takes a single string for the array too).
//!   Split on `,` like every index list (Elasticsearch rejects patterns with `,`, so this
//!   only ever adds names).
//! - Legacy templates also take the pre-6.0 `template` key as a pattern string, which old
//!   clients still send; reporting it can only add patterns.
//! - Aliases are the keys of the `aliases` object: top level for legacy templates,
//!   `template.aliases` for composable and component templates. Names are reported as
//!   written (they may hold the `{index}` placeholder).
//! - `composed_of` (composable templates): an array of component template names; read like
//!   an index list (a string, or names with `,`, which Elasticsearch rejects, only add names).
//!   The settings of those components, ingest pipelines among them, become the template's.
//! - The keys read here may appear once; everything else is skipped as JSON.
//! - An empty pattern list is returned as is (Elasticsearch rejects such a template).

use std::borrow::Cow;

use super::error::{BodyError, Lines, Loc};
use super::json::{Kind, Reader};
use super::names::{expect_kind, index_list, Seen};

/// Which template API the body belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TemplateKind {
    /// `_template` (legacy): top-level `index_patterns` and `aliases`.
    Legacy,
    /// `_index_template`: `index_patterns` and `template.aliases`.
    Composable,
    /// `_component_template`: `template.aliases` only.
    Component,
}

/// What a template body names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexTemplate<'a> {
    pub index_patterns: Vec<Cow<'a, str>>,
    pub aliases: Vec<Cow<'a, str>>,
    pub composed_of: Vec<Cow<'a, str>>,
}

/// Parses a complete template body.
pub fn parse_template(body: &[u8], kind: TemplateKind) -> Result<IndexTemplate<'_>, BodyError> {
    let lines = Lines::new(body);
    let loc = Loc::Body(&lines);
    let json = |e| loc.json(e);
    let mut r = Reader::new(body);
    let mut out = IndexTemplate::default();

    expect_kind(&mut r, loc, Kind::Object)?;
    r.begin_object().map_err(json)?;
    let mut seen = Seen::default();
    let mut first = true;
    while let Some(key) = r.next_key(&mut first).map_err(json)? {
        let line = loc.line(r.token_offset());
        let is_pattern_string = kind == TemplateKind::Legacy
            && *key == *b"template"
            && r.peek().map_err(json)? == Kind::String;
        let bit = match (&*key, kind) {
            (b"index_patterns", TemplateKind::Legacy | TemplateKind::Composable) => 0,
            (b"template", TemplateKind::Legacy) if is_pattern_string => 0,
            (b"aliases", TemplateKind::Legacy) => 1,
            (b"template", TemplateKind::Composable | TemplateKind::Component) => 2,
            (b"composed_of", TemplateKind::Composable) => 3,
            _ => {
                r.skip_value().map_err(json)?;
                continue;
            }
        };
        // `index_patterns` and the legacy `template` share a slot, as two lists would.
        if !seen.first(bit) {
            return Err(BodyError::DuplicateKey { line });
        }
        match bit {
            0 => {
                index_list(&mut r, loc, &mut |name| out.index_patterns.push(name))?;
            }
            1 => alias_names(&mut r, loc, &mut out.aliases)?,
            3 => {
                if !r.take_null().map_err(json)? {
                    index_list(&mut r, loc, &mut |name| out.composed_of.push(name))?;
                }
            }
            _ => {
                if r.take_null().map_err(json)? {
                    continue;
                }
                expect_kind(&mut r, loc, Kind::Object)?;
                r.begin_object().map_err(json)?;
                let mut have_aliases = false;
                let mut tfirst = true;
                while let Some(tkey) = r.next_key(&mut tfirst).map_err(json)? {
                    if *tkey != *b"aliases" {
                        r.skip_value().map_err(json)?;
                        continue;
                    }
                    if have_aliases {
                        return Err(BodyError::DuplicateKey {
                            line: loc.line(r.token_offset()),
                        });
                    }
                    have_aliases = true;
                    alias_names(&mut r, loc, &mut out.aliases)?;
                }
            }
        }
    }
    if !r.at_end() {
        return Err(BodyError::UnexpectedJson {
            line: loc.line(r.token_offset()),
        });
    }
    Ok(out)
}

/// Reads an `aliases` object (`{"name": {...}, ...}`) and collects the names.
fn alias_names<'a>(
    r: &mut Reader<'a>,
    loc: Loc<'_>,
    out: &mut Vec<Cow<'a, str>>,
) -> Result<(), BodyError> {
    let json = |e| loc.json(e);
    if r.take_null().map_err(json)? {
        return Ok(());
    }
    expect_kind(r, loc, Kind::Object)?;
    r.begin_object().map_err(json)?;
    // A repeated alias name is not looked for: reporting a name twice changes nothing.
    let mut first = true;
    while let Some(name) = r.next_key_str(&mut first).map_err(json)? {
        r.skip_value().map_err(json)?;
        out.push(name);
    }
    Ok(())
}

#[cfg(test)]
#[path = "tests/template.rs"]
mod tests;
