//! Index settings in request bodies: the default and final ingest pipelines a body sets.
//!
//! Owns: finding `index.default_pipeline` and `index.final_pipeline` in every body that sets
//! index settings, in every spelling Elasticsearch accepts, and reporting their values
//! (`acl::indices` treats a pipeline that may reroute as a write of every index). Must not:
//! read any other setting, or report a value it cannot read as no pipeline.
//!
//! Where the settings are, by API ([`SettingsBody`]):
//! - index creation, rollover, shrink/split/clone: `settings` (`CreateIndexRequest.source`,
//!   which rejects any other top-level key than `settings`/`mappings`/`aliases`);
//! - settings update (`PUT /_settings`, `PUT /{index}/_settings`) and data stream settings:
//!   the body itself, or its `settings` object (`UpdateSettingsRequest.fromXContent` unwraps
//!   it when it is an object). Both are read: reading more only costs precision;
//! - legacy templates: `settings`; composable and component templates: `template.settings`;
//! - `_create_from`: `settings_override`; snapshot restore: `index_settings`.
//!
//! How a settings object is read, as Elasticsearch reads it (`Settings.fromXContent`, then
//! `Settings.Builder.normalizePrefix("index.")`, which every one of those APIs applies):
//! - nested objects flatten into dotted keys, so `{"index":{"default_pipeline":"p"}}`,
//!   `{"index.default_pipeline":"p"}` are the same key, and keys may mix both forms;
//! - a key that does not start with `index.` (nor `archived.`, nor ends with `*`) gets the
//!   prefix: `{"default_pipeline":"p"}` sets `index.default_pipeline`;
//! - a string is a pipeline name, reported as written (`es::pipeline` reads `_none` and `""`
//!   as no pipeline); `null` resets the setting (no pipeline) and is not reported;
//! - anything else at the key (a number or boolean, which Elasticsearch turns into a name, a
//!   list, an object) and any non-null value under it (`index.default_pipeline.0`, which
//!   `Settings.Builder` folds into a list at the key) is reported as unreadable.
//!
//! A key is looked into only while it can still lead to one of the two settings, so the
//! recursion is at most three objects deep whatever the body. A body that is not JSON, or
//! whose settings (or the objects around them) are not objects, is a [`BodyError`]; an empty
//! body sets nothing.

use std::borrow::Cow;

use super::error::{BodyError, Lines, Loc};
use super::json::{Kind, Reader};
use super::names::expect_kind;

/// Which API's body it is, hence where its settings are (module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingsBody {
    /// Index creation, rollover and resize: `settings`.
    NewIndex,
    /// Settings update and data stream settings: the body, or its `settings` object.
    Update,
    /// Legacy template (`_template`): `settings`.
    LegacyTemplate,
    /// Composable (`_index_template`) and component (`_component_template`) templates:
    /// `template.settings`.
    Template,
    /// `_create_from`: `settings_override`.
    CreateFrom,
    /// Snapshot restore: `index_settings`.
    Restore,
}

impl SettingsBody {
    /// The keys from the top of the body to its settings object.
    fn path(self) -> &'static [&'static [u8]] {
        match self {
            SettingsBody::NewIndex | SettingsBody::LegacyTemplate => &[b"settings"],
            SettingsBody::Update => &[],
            SettingsBody::Template => &[b"template", b"settings"],
            SettingsBody::CreateFrom => &[b"settings_override"],
            SettingsBody::Restore => &[b"index_settings"],
        }
    }
}

/// The default and final pipelines a body sets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PipelineSettings<'a> {
    /// Each name set, as written and as often as it is set (a `null` is not a name).
    pub names: Vec<Cow<'a, str>>,
    /// A value at (or under) one of the two keys is neither a string nor `null`.
    pub unreadable: bool,
}

/// The flattened keys (before the `index.` prefix is added) that are the two settings.
const PIPELINE_KEYS: [&str; 4] = [
    "index.default_pipeline",
    "index.final_pipeline",
    "default_pipeline",
    "final_pipeline",
];

/// What a flattened key is to the reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// One of the two settings.
    Pipeline,
    /// Under one of them (`index.default_pipeline.0`).
    Under,
    /// A dotted prefix of one of them (`index`): an object here is looked into.
    Above,
    /// Anything else.
    Elsewhere,
}

fn place(key: &str) -> Place {
    let below = |longer: &str, shorter: &str| {
        longer
            .strip_prefix(shorter)
            .is_some_and(|rest| rest.starts_with('.'))
    };
    if PIPELINE_KEYS.contains(&key) {
        Place::Pipeline
    } else if PIPELINE_KEYS.iter().any(|p| below(key, p)) {
        Place::Under
    } else if PIPELINE_KEYS.iter().any(|p| below(p, key)) {
        Place::Above
    } else {
        Place::Elsewhere
    }
}

/// Reads the default and final pipelines a complete body sets.
pub fn scan_pipeline_settings(
    body: &[u8],
    shape: SettingsBody,
) -> Result<PipelineSettings<'_>, BodyError> {
    let mut out = PipelineSettings::default();
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(out);
    }
    let lines = Lines::new(body);
    let loc = Loc::Body(&lines);
    let mut r = Reader::new(body);
    let unwrap_settings = shape == SettingsBody::Update;
    settings_within(&mut r, loc, shape.path(), unwrap_settings, &mut out)?;
    if !r.at_end() {
        return Err(BodyError::UnexpectedJson {
            line: loc.line(r.token_offset()),
        });
    }
    Ok(out)
}

/// Follows `path` (keys of nested objects; `null` anywhere on it sets nothing) to the
/// settings object and reads it.
fn settings_within<'a>(
    r: &mut Reader<'a>,
    loc: Loc<'_>,
    path: &[&[u8]],
    unwrap_settings: bool,
    out: &mut PipelineSettings<'a>,
) -> Result<(), BodyError> {
    let json = |e| loc.json(e);
    if r.take_null().map_err(json)? {
        return Ok(());
    }
    let Some((step, rest)) = path.split_first() else {
        return settings_object(r, loc, "", unwrap_settings, out);
    };
    expect_kind(r, loc, Kind::Object)?;
    r.begin_object().map_err(json)?;
    let mut first = true;
    while let Some(key) = r.next_key(&mut first).map_err(json)? {
        if *key == **step {
            settings_within(r, loc, rest, unwrap_settings, out)?;
        } else {
            r.skip_value().map_err(json)?;
        }
    }
    Ok(())
}

/// Reads a settings object whose keys flatten to `prefix` + key. With `unwrap_settings`, a
/// `settings` object in it is read as settings too (a settings update's wrapper).
fn settings_object<'a>(
    r: &mut Reader<'a>,
    loc: Loc<'_>,
    prefix: &str,
    unwrap_settings: bool,
    out: &mut PipelineSettings<'a>,
) -> Result<(), BodyError> {
    let json = |e| loc.json(e);
    expect_kind(r, loc, Kind::Object)?;
    r.begin_object().map_err(json)?;
    let mut first = true;
    while let Some(key) = r.next_key_str(&mut first).map_err(json)? {
        let flat = format!("{prefix}{key}");
        let kind = r.peek().map_err(json)?;
        match place(&flat) {
            Place::Pipeline => pipeline_value(r, loc, out)?,
            Place::Under if kind != Kind::Null => {
                out.unreadable = true;
                r.skip_value().map_err(json)?;
            }
            Place::Above if kind == Kind::Object => {
                settings_object(r, loc, &format!("{flat}."), false, out)?;
            }
            _ if unwrap_settings && key == "settings" && kind == Kind::Object => {
                settings_object(r, loc, "", false, out)?;
            }
            _ => r.skip_value().map_err(json)?,
        }
    }
    Ok(())
}

/// The value of `index.default_pipeline` or `index.final_pipeline`.
fn pipeline_value<'a>(
    r: &mut Reader<'a>,
    loc: Loc<'_>,
    out: &mut PipelineSettings<'a>,
) -> Result<(), BodyError> {
    let json = |e| loc.json(e);
    match r.peek().map_err(json)? {
        Kind::String => {
            out.names.push(r.string().map_err(json)?);
        }
        Kind::Null => {
            r.take_null().map_err(json)?;
        }
        _ => {
            out.unreadable = true;
            r.skip_value().map_err(json)?;
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "tests/settings.rs"]
mod tests;
