//! Indices a search-family body reads from inside its query: terms lookups, `more_like_this`
//! documents, indexed shapes, percolated documents, lookup runtime fields, and the parts the
//! gateway cannot read (stored and text templates, wrapper queries), which stand for `*`.
//!
//! Where it sits in the walk: `es::target::Targets::add_body` calls [`scan_lookups`] for
//! `_search`, `_count`, `_validate/query`, `_explain`, `_delete_by_query`, ... bodies and
//! `_rank_eval` bodies, [`scan_lookups_within`] for the `source` object of a `_reindex` (a
//! search body with `index` and `remote` besides), and [`scan_msearch_lookups`] for the
//! search lines of `_msearch` (and the template lines of `_msearch/template`); every name
//! reported becomes an `Access::Lookup` index, which the
//! `indices` rule requires granted as written (the query cannot be narrowed). Owns: finding
//! those names. Must not: resolve them, look at what is searched (the path), or skip a part of
//! the body it cannot read (that part stands for `*`, or the body is refused).
//!
//! # Reading without knowing the query context
//!
//! Which objects of a body are queries cannot be told from the structure alone: plugins add
//! queries whose per-field options hold queries again (OpenSearch `knn` and `neural` take a
//! `filter` query under a field name), so a field literally named `terms` can sit where a
//! query could. Every object is therefore read as a *possible* query, and each object carries
//! the set of roles its key path gives it (a bit set, several at once: `{"terms": {"terms":
//! ...}}` is both a lookup object and a terms query). A name is reported only on the exact key
//! paths below; a key named `index` anywhere else is not an index (`{"term": {"index": "x"}}`
//! names a field). Reading more roles than Elasticsearch does can only report more names.
//!
//! # What is recognized (Elasticsearch 7.17 / 8.x, OpenSearch 2.19 parsers)
//!
//! | key path (any depth) | reported | server behaviour followed |
//! |---|---|---|
//! | `terms` → *field* (object) → `index` | the value | `TermsQueryBuilder`: an object as a field's value is a `TermsLookup` (a GET of `index`/`id`); `index` is required, a string |
//! | `more_like_this` → `like`/`unlike` → object, or object elements of an array → `_index` | the value | `MoreLikeThisQueryBuilder.Item`; an item without `_index` reads the shard's own index, already a target |
//! | `geo_shape`/`shape`/`xy_shape` → *field* → `indexed_shape` → `index` | the value, `shapes` when absent | `AbstractGeometryQueryBuilder`: GET of `index` (default `DEFAULT_SHAPE_INDEX_NAME` = `shapes`) |
//! | `percolate` → `index` | the value | `PercolateQueryBuilder`: the `index`/`id` form fetches that document; `document(s)` read nothing |
//! | `runtime_mappings` → *field* → `target_index` | the value | Elasticsearch 8.2+ `lookup` runtime fields search `target_index` |
//! | `wrapper` → `{"query": ...}` (exactly that key) | `*` | `WrapperQueryBuilder`: base64 of a query in any XContent format, not read here |
//! | `template` (a query) containing `${` in a key or string | `*` | OpenSearch 2.19 template query: search processors replace `"${name}"` with any JSON value, an object too |
//! | `phrase` → `collate` → `query` | see templates | phrase suggester: `collate.query` is a mustache script run as a query |
//!
//! Nesting is followed everywhere (`bool` clauses, `function_score`, `nested`, `has_child`,
//! `dis_max`, `constant_score`, `knn`/`neural` filters, `post_filter`, `rescore`, `highlight`
//! queries, `inner_hits`, `collapse`, `suggest`, `retriever`, `index_filter` of `_field_caps`
//! and `_terms_enum`, ...) because every object is a possible query.
//!
//! **Aggregations**: under `aggs`/`aggregations` of the top-level object, and of an
//! aggregation, each value is an aggregation definition whose keys are an aggregation type,
//! `aggs`/`aggregations` and `meta` (`AggregatorFactories.parseAggregators`). The type key is
//! not a query name there: a `terms` aggregation's `"order": {"index": "asc"}` orders by a
//! sub-aggregation named `index`. Its body is read as a possible query again (a `filter`
//! aggregation's body is one).
//!
//! **Templates** (`_search/template`, `_msearch/template` lines, phrase `collate.query`),
//! request fields as `SearchTemplateRequest` reads them: `id` (a stored template) → `*`;
//! `source` (or its old names `inline`, `template`) as a string of mustache text → `*`; as an
//! object → read as a search body (a query for `collate`) in *mustache mode*; `params` is data
//! and not read. In mustache mode (Elasticsearch renders templates with JSON escaping):
//! - a string value with only plain variables (`{{name}}`) stays a string: harmless, except as a
//!   lookup index, which is then `*`;
//! - any other tag (`{{{`, `{{&`, sections and functions such as `{{#toJson}}`, partials,
//!   delimiter changes, comments) or an unterminated `{{` can emit or swallow JSON structure: `*`;
//! - a key with a variable may render to any key: it is read as every key at once (as an index
//!   key its string value is reported, as `wrapper` a lone `{"query": ...}` makes `*`, ...).
//!
//! **Ranking evaluation** (`_rank_eval`, `RankEvalSpec`): each `requests[].request` is a search
//! body (a single object in place of the `requests` array too, as `ObjectParser` takes one);
//! `ratings` name documents the hits are compared with, not read. A `templates` member (search
//! templates the requests render with their `params`, stored or inline) stands for `*`
//! whatever it holds.
//!
//! **Lists**: a reported value is split on `,` (empty pieces dropped). Elasticsearch reads
//! these values as one name and fails on a comma; splitting can only add names, and each must
//! be granted. Wildcards, aliases, date math and remote names are passed on as written.
//!
//! **Fail closed** ([`BodyError`], the request is refused with 400): malformed JSON (by the
//! strict `json::Reader`), nesting deeper than [`MAX_JSON_DEPTH`], a top-level value that is
//! not an object, trailing data, and a value on a lookup key path that is not a string
//! (Elasticsearch would read a number or `null` as an index name).
//!
//! Not recognized, deliberately: `terms_set` (it has no lookup form), `pinned.docs._index`
//! (it matches documents of the searched indices, it reads nothing), scripts (Painless cannot
//! read an index), search pipelines set up on the node. Documents embedded in a query
//! (`like.doc`, `percolate.document`) are read like the rest: a document whose fields have a
//! lookup's shape is reported too, which is stricter, never looser.
//!
//! # Cost
//!
//! One pass: the reader consumes every byte once, and each key costs a fixed number of
//! comparisons with the names above (O(key length)); the mustache check of a string is one
//! forward scan of it. No recursion: open containers are an explicit stack of at most
//! [`MAX_JSON_DEPTH`] small frames. So the time is linear in the body and the memory in its
//! depth.

use super::error::{BodyError, Lines, Loc};
use super::json::{Kind, Reader, MAX_JSON_DEPTH};
use super::msearch::search_lines;
use super::names::expect_kind;

/// The name reported for a part of a query whose indices cannot be known: only a block that
/// grants `*` allows it, and every forbid block with indices matches it.
pub const ANY_INDEX: &str = "*";

/// The index a shape query reads when `indexed_shape` names none.
const DEFAULT_SHAPE_INDEX: &str = "shapes";

/// How a search-family body is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchBody {
    /// A search request (`query`, `aggs`, `post_filter`, ...), as `_search`, `_count`,
    /// `_validate/query`, `_explain`, `_delete_by_query`, `_field_caps` take it.
    Search,
    /// A search template request (`id` or `source`, `params`), as `_search/template` takes it.
    Template,
    /// A ranking evaluation request (`requests`, `templates`, `metric`), as `_rank_eval`
    /// takes it.
    RankEval,
}

/// Calls `each` for every index a complete search-family body reads from inside its query
/// (module docs). An empty body reads nothing.
pub fn scan_lookups(
    body: &[u8],
    kind: SearchBody,
    each: &mut dyn FnMut(&str),
) -> Result<(), BodyError> {
    let lines = Lines::new(body);
    scan(Reader::new(body), kind, Loc::Body(&lines), each)
}

/// [`scan_lookups`] for the one JSON value at `span` of a complete body that was already
/// checked to be JSON (the `source` object of a `_reindex`), with line numbers in the body.
pub fn scan_lookups_within(
    body: &[u8],
    span: std::ops::Range<usize>,
    kind: SearchBody,
    each: &mut dyn FnMut(&str),
) -> Result<(), BodyError> {
    let lines = Lines::new(body);
    let value = body.get(..span.end).unwrap_or(body);
    let reader = Reader::starting_at(value, span.start);
    scan(reader, kind, Loc::Body(&lines), each)
}

/// [`scan_lookups`] for every search line of an `_msearch` (or `_msearch/template`) body that
/// `scan_msearch` accepted.
pub fn scan_msearch_lookups(
    body: &[u8],
    kind: SearchBody,
    each: &mut dyn FnMut(&str),
) -> Result<(), BodyError> {
    for (line, bytes) in search_lines(body) {
        scan(Reader::new(bytes), kind, Loc::Line(line), each)?;
    }
    Ok(())
}

/// The roles an object (or array) can have, one bit each (module docs).
type Roles = u32;
/// The top-level object of a search body: `aggs` there holds aggregations.
const ROOT: Roles = 1;
/// A possible query: its keys may be query names.
const QUERY: Roles = 1 << 1;
/// An `aggs` object: every value is an aggregation definition.
const AGGS: Roles = 1 << 2;
/// An aggregation definition: type, `aggs`, `meta`.
const AGG: Roles = 1 << 3;
/// The body of a `terms` query: every object member is a lookup.
const TERMS: Roles = 1 << 4;
/// A terms lookup: `index`.
const LOOKUP: Roles = 1 << 5;
/// The body of `more_like_this`: `like`, `unlike`.
const MLT: Roles = 1 << 6;
/// A `like`/`unlike` value or array element: as an object, an item with `_index`.
const LIKE: Roles = 1 << 7;
/// The body of a shape query: every object member is a field.
const SHAPE: Roles = 1 << 8;
/// A shape query's field: `indexed_shape`.
const SHAPE_FIELD: Roles = 1 << 9;
/// `indexed_shape`: `index`, or the default.
const INDEXED_SHAPE: Roles = 1 << 10;
/// The body of `percolate`: `index`.
const PERCOLATE: Roles = 1 << 11;
/// `runtime_mappings`: every object member is a runtime field.
const RUNTIME: Roles = 1 << 12;
/// A runtime field: `target_index`.
const RUNTIME_FIELD: Roles = 1 << 13;
/// A possible `wrapper` query body.
const WRAPPER: Roles = 1 << 14;
/// A possible OpenSearch `template` query body.
const TEMPLATE_QUERY: Roles = 1 << 15;
/// A phrase suggester: `collate`.
const PHRASE: Roles = 1 << 16;
/// A phrase suggester's `collate`: `query`.
const COLLATE: Roles = 1 << 17;
/// A mustache script (`collate.query`): text, or `source`/`inline`/`id`.
const SCRIPT: Roles = 1 << 18;
/// A search template request: `id`, `source`/`inline`/`template`, `params`.
const TEMPLATE_REQUEST: Roles = 1 << 19;
/// The top-level object of a `_rank_eval` body: `requests`, `templates`.
const RANK_EVAL: Roles = 1 << 20;
/// Its `requests`: as an array, every element is a rated request.
const RANK_REQUESTS: Roles = 1 << 21;
/// A rated request: `request` is a search body.
const RATED_REQUEST: Roles = 1 << 22;

/// How the strings of a subtree may be rewritten by the node before it is parsed.
type Modes = u8;
/// Inside a mustache template (`{{...}}`).
const MUSTACHE: Modes = 1;
/// Inside an OpenSearch template query (`"${...}"`).
const DOLLAR: Modes = 2;

/// A key as the roles match it: as written, or (a template variable) possibly any key.
#[derive(Debug, Clone, Copy)]
enum Key<'k> {
    Literal(&'k [u8]),
    Any,
}

impl Key<'_> {
    fn is(self, name: &[u8]) -> bool {
        match self {
            Key::Literal(key) => key == name,
            Key::Any => true,
        }
    }

    /// The key is exactly `name` (not merely possibly).
    fn is_literal(self, name: &[u8]) -> bool {
        matches!(self, Key::Literal(key) if key == name)
    }

    fn is_aggs(self) -> bool {
        self.is(b"aggs") || self.is(b"aggregations")
    }
}

/// What a value names when it is a string on a lookup key path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Name {
    /// Not on a lookup key path.
    No,
    /// On one: must be a string.
    Required,
    /// Possibly on one (the key is a template variable): reported if it is a string.
    Possible,
}

/// What the scanner knows about the value it is about to read.
#[derive(Debug, Clone, Copy)]
struct Value {
    roles: Roles,
    modes: Modes,
    name: Name,
    /// A stored template or script is named (`id`): `*`, whatever the value.
    stored: bool,
    /// A template source: an object is read with these roles in mustache mode; anything else
    /// is template text, `*`.
    source: Option<Roles>,
}

impl Value {
    fn new(roles: Roles, modes: Modes) -> Value {
        Value {
            roles,
            modes,
            name: Name::No,
            stored: false,
            source: None,
        }
    }
}

/// One open object or array.
#[derive(Debug)]
struct Frame {
    roles: Roles,
    modes: Modes,
    object: bool,
    first: bool,
    /// `INDEXED_SHAPE`: an `index` key was read (so the default index is not used).
    names_index: bool,
    /// `WRAPPER`: keys read so far (saturating), and whether the first was `query`.
    keys: u8,
    query_first: bool,
}

fn scan(
    mut r: Reader<'_>,
    kind: SearchBody,
    loc: Loc<'_>,
    each: &mut dyn FnMut(&str),
) -> Result<(), BodyError> {
    let json = |e| loc.json(e);
    if r.at_end() {
        return Ok(());
    }
    expect_kind(&mut r, loc, Kind::Object)?;
    let top = match kind {
        SearchBody::Search => ROOT,
        SearchBody::Template => TEMPLATE_REQUEST,
        SearchBody::RankEval => RANK_EVAL,
    };
    let mut stack: Vec<Frame> = Vec::new();
    let mut next = Some(Value::new(top, 0));
    loop {
        if let Some(value) = next.take() {
            read_value(&mut r, loc, &mut stack, value, each)?;
        }
        let Some(frame) = stack.last_mut() else {
            break;
        };
        if frame.object {
            match r.next_key(&mut frame.first).map_err(json)? {
                Some(key) => next = Some(member(frame, &key, each)),
                None => {
                    if let Some(frame) = stack.pop() {
                        close_object(&frame, each);
                    }
                }
            }
        } else if r.next_element(&mut frame.first).map_err(json)? {
            next = Some(element(frame));
        } else {
            stack.pop();
        }
    }
    if !r.at_end() {
        return Err(BodyError::UnexpectedJson {
            line: loc.line(r.token_offset()),
        });
    }
    Ok(())
}

/// Reads the next value: reports what it names, opens a frame for a container.
fn read_value(
    r: &mut Reader<'_>,
    loc: Loc<'_>,
    stack: &mut Vec<Frame>,
    value: Value,
    each: &mut dyn FnMut(&str),
) -> Result<(), BodyError> {
    let json = |e| loc.json(e);
    let at = r.token_offset();
    let kind = r.peek().map_err(json)?;
    if value.stored {
        each(ANY_INDEX);
    }
    let (mut roles, mut modes) = (value.roles, value.modes);
    if let Some(source) = value.source {
        if kind == Kind::Object {
            roles |= source;
            modes |= MUSTACHE;
        } else {
            each(ANY_INDEX);
        }
    }
    let unexpected = || BodyError::UnexpectedJson { line: loc.line(at) };
    match kind {
        Kind::Object | Kind::Array => {
            if value.name == Name::Required {
                return Err(unexpected());
            }
            if stack.len() >= MAX_JSON_DEPTH {
                return Err(BodyError::JsonTooDeep { line: loc.line(at) });
            }
            let object = kind == Kind::Object;
            if object {
                r.begin_object().map_err(json)?;
                if roles & TEMPLATE_QUERY != 0 {
                    modes |= DOLLAR;
                }
            } else {
                r.begin_array().map_err(json)?;
            }
            stack.push(Frame {
                roles,
                modes,
                object,
                first: true,
                names_index: false,
                keys: 0,
                query_first: false,
            });
        }
        Kind::String if value.name != Name::No || modes != 0 || roles & SCRIPT != 0 => {
            let text = r.string().map_err(json)?;
            if roles & SCRIPT != 0 {
                // `collate.query` given as mustache text.
                each(ANY_INDEX);
            }
            if placeholder_may_emit_structure(text.as_bytes(), modes) {
                each(ANY_INDEX);
            }
            if value.name != Name::No {
                report(&text, modes, each);
            }
        }
        _ => {
            if value.name == Name::Required {
                return Err(unexpected());
            }
            r.skip_value().map_err(json)?;
        }
    }
    Ok(())
}

/// The roles and duties of the value of `key` in the object `frame` (module docs).
fn member(frame: &mut Frame, key: &[u8], each: &mut dyn FnMut(&str)) -> Value {
    let key = if has_placeholder(key, frame.modes) {
        if placeholder_may_emit_structure(key, frame.modes) {
            each(ANY_INDEX);
        }
        Key::Any
    } else {
        Key::Literal(key)
    };
    let parent = frame.roles;
    let has = |role: Roles| parent & role != 0;
    let mut value = Value::new(0, frame.modes);
    if has(ROOT) {
        if key.is_aggs() {
            value.roles |= AGGS;
        }
        if !(key.is_literal(b"aggs") || key.is_literal(b"aggregations")) {
            value.roles |= query_member(key);
        }
    }
    if has(QUERY) {
        value.roles |= query_member(key);
    }
    if has(AGGS) {
        value.roles |= AGG;
    }
    if has(AGG) {
        if key.is_aggs() {
            value.roles |= AGGS;
        }
        // The aggregation type's body (or `meta`): not a query of that name, but it may hold
        // queries (`filter`, `filters`, `background_filter`, `top_hits` highlights).
        if !(key.is_literal(b"aggs") || key.is_literal(b"aggregations")) {
            value.roles |= QUERY;
        }
    }
    if has(TERMS) {
        value.roles |= LOOKUP;
    }
    if has(MLT) && (key.is(b"like") || key.is(b"unlike")) {
        value.roles |= LIKE;
    }
    if has(SHAPE) {
        value.roles |= SHAPE_FIELD;
    }
    if has(SHAPE_FIELD) && key.is(b"indexed_shape") {
        value.roles |= INDEXED_SHAPE;
    }
    if has(RUNTIME) {
        value.roles |= RUNTIME_FIELD;
    }
    if has(PHRASE) && key.is(b"collate") {
        value.roles |= COLLATE;
    }
    if has(COLLATE) && key.is(b"query") {
        value.roles |= SCRIPT;
    }
    let index_key = (has(LOOKUP) || has(PERCOLATE) || has(INDEXED_SHAPE)) && key.is(b"index");
    if index_key
        || (has(LIKE) && key.is(b"_index"))
        || (has(RUNTIME_FIELD) && key.is(b"target_index"))
    {
        value.name = match key {
            Key::Literal(_) => Name::Required,
            Key::Any => Name::Possible,
        };
    }
    if has(INDEXED_SHAPE) && key.is_literal(b"index") {
        frame.names_index = true;
    }
    if has(SCRIPT) {
        if key.is(b"source") || key.is(b"inline") {
            value.source = Some(QUERY);
        }
        value.stored |= key.is(b"id");
    }
    if has(RANK_EVAL) {
        if key.is(b"requests") {
            // One rated request may stand in for the array.
            value.roles |= RANK_REQUESTS | RATED_REQUEST;
        }
        // Templates the requests render (stored or inline): not read.
        value.stored |= key.is(b"templates");
    }
    if has(RATED_REQUEST) && key.is(b"request") {
        value.roles |= ROOT;
    }
    if has(TEMPLATE_REQUEST) {
        if key.is(b"source") || key.is(b"inline") || key.is(b"template") {
            value.source = Some(ROOT);
        }
        value.stored |= key.is(b"id");
        // `params` (and `explain`, `profile`) are data: roles stay empty, nothing is reported.
    }
    if has(WRAPPER) {
        frame.keys = frame.keys.saturating_add(1);
        if frame.keys == 1 {
            frame.query_first = key.is(b"query");
        }
    }
    value
}

/// The roles of an array element: a rated request in `_rank_eval`'s `requests`; elsewhere
/// arrays in a query hold queries (`must`, `should`, `queries`) or values.
fn element(frame: &Frame) -> Value {
    let roles = if frame.roles & RANK_REQUESTS != 0 {
        RATED_REQUEST
    } else if frame.roles == 0 {
        0
    } else {
        QUERY | (frame.roles & LIKE)
    };
    Value::new(roles, frame.modes)
}

/// The roles a member of a possible query gets from its key: another possible query, plus the
/// query it names, if any.
fn query_member(key: Key<'_>) -> Roles {
    let mut roles = QUERY;
    if key.is(b"terms") {
        roles |= TERMS;
    }
    if key.is(b"more_like_this") {
        roles |= MLT;
    }
    if key.is(b"geo_shape") || key.is(b"shape") || key.is(b"xy_shape") {
        roles |= SHAPE;
    }
    if key.is(b"percolate") {
        roles |= PERCOLATE;
    }
    if key.is(b"runtime_mappings") {
        roles |= RUNTIME;
    }
    if key.is(b"wrapper") {
        roles |= WRAPPER;
    }
    if key.is(b"template") {
        roles |= TEMPLATE_QUERY;
    }
    if key.is(b"phrase") {
        roles |= PHRASE;
    }
    roles
}

/// What an object names once all of its keys are known.
fn close_object(frame: &Frame, each: &mut dyn FnMut(&str)) {
    if frame.roles & INDEXED_SHAPE != 0 && !frame.names_index {
        each(DEFAULT_SHAPE_INDEX);
    }
    // `WrapperQueryBuilder` takes exactly one key, `query`.
    if frame.roles & WRAPPER != 0 && frame.keys == 1 && frame.query_first {
        each(ANY_INDEX);
    }
}

/// Reports a lookup's index value: `*` if the node fills it in, else every `,`-separated name.
fn report(text: &str, modes: Modes, each: &mut dyn FnMut(&str)) {
    if has_placeholder(text.as_bytes(), modes) {
        each(ANY_INDEX);
        return;
    }
    for name in text.split(',').filter(|name| !name.is_empty()) {
        each(name);
    }
}

/// Whether the node rewrites this text before it parses the query.
fn has_placeholder(text: &[u8], modes: Modes) -> bool {
    (modes & MUSTACHE != 0 && contains(text, b"{{"))
        || (modes & DOLLAR != 0 && contains(text, b"${"))
}

/// Whether rendering this key or string value can change the JSON around it (module docs):
/// any `${` in a template query; in a mustache template, any tag other than a plain variable.
fn placeholder_may_emit_structure(text: &[u8], modes: Modes) -> bool {
    (modes & DOLLAR != 0 && contains(text, b"${"))
        || (modes & MUSTACHE != 0 && !only_plain_variables(text))
}

/// Every `{{` opens a variable `{{ name }}` closed in the same text (names: letters, digits,
/// `_`, `.`, `-`). One forward scan: each search starts where the last one ended.
fn only_plain_variables(text: &[u8]) -> bool {
    let mut rest = text;
    while let Some(open) = memchr::memmem::find(rest, b"{{") {
        let after = &rest[open + 2..];
        let Some(close) = memchr::memmem::find(after, b"}}") else {
            return false;
        };
        let name = after[..close].trim_ascii();
        let plain = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-');
        if name.is_empty() || !name.iter().all(plain) {
            return false;
        }
        rest = &after[close + 2..];
    }
    true
}

fn contains(text: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(text, needle).is_some()
}

#[cfg(test)]
#[path = "tests/lookups.rs"]
mod tests;
