//! Emulation of how Elasticsearch picks the REST handler for a path.
//!
//! Owns: a transcription of `PathTrie.retrieve` (ES `server/.../common/path/PathTrie.java`) and of
//! the candidate loop of `RestController.tryAllHandlers`. Must not: allocate or recurse deeper
//! than the path has segments. Works on the static trie in `table.rs`.
//!
//! ES tries four matching modes in order, taking the first candidate that has a handler for the
//! method (`RestController.tryAllHandlers`; `handleNoHandlerFound` only stops the loop with a 405
//! when no candidate of any mode has the method):
//! * `Explicit`: literals only;
//! * `Root`: a `{param}` may stand for the first segment;
//! * `Leaf`: a `{param}` may stand for the last segment;
//! * `Wildcard`: `{param}`s anywhere.
//!
//! Within a mode, a literal child is preferred; when its subtree finds nothing, the `{param}`
//! sibling is tried (one backtrack per level). Two further ES rules are reproduced: at the last
//! segment (modes `Leaf`, `Wildcard`) and at the first (mode `Root`) a literal child *without a
//! handler* yields to the `{param}` sibling; and a raw segment `*` selects the `{param}` child
//! even in `Explicit` mode, because ES stores that child under the key `*`.
//!
//! The trie holds two views: `MODERN` (the current REST layer; OpenSearch 2.x) and `LEGACY`
//! (plus the 7.x typed routes, which ES 8.x still inserts for `compatible-with=7`). `resolve`
//! runs the candidate loop for (A) the modern view, (B) the legacy view with any handler (7.x, or
//! 8.x in compatibility mode) and (C) the legacy view with current handlers only (8.x without
//! compatibility headers: the typed nodes are in its trie but have no current handler).
//!
//! Fast path: while walking the modern view, the walker notes whether it consulted any fact that
//! differs in the legacy view (a legacy-only literal equal to the token, a legacy-only `{param}`
//! child, a handler present in one view only, a legacy-only route). If it did not, (B) and (C)
//! would walk the same nodes and find the same routes, and are skipped. That is the case for
//! nearly all real traffic (`/logs/_search`, `/_bulk`, `/logs/_doc/1`).

use crate::http::Method;

use super::table::{NODES, ROUTES};
use super::{Node, NO_NODE};

/// View bit of the current REST layer.
pub(super) const MODERN: u8 = 1;
/// View bit of the trie with Elasticsearch 7.x typed routes.
pub(super) const LEGACY: u8 = 2;

const ROOT: u16 = 0;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Explicit,
    Root,
    Leaf,
    Wildcard,
}

const MODES: [Mode; 4] = [Mode::Explicit, Mode::Root, Mode::Leaf, Mode::Wildcard];

/// The handler the server runs for a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Resolution {
    /// No route: the server answers 400 or 405 without running an action.
    None,
    /// One route (index into `ROUTES`) under every resolution that finds one.
    Route(u16),
    /// Two resolutions pick different routes.
    Ambiguous,
}

/// Resolves `segs` (raw path segments) under the three views and merges the answers.
pub(super) fn resolve(segs: &[&str], method: Method) -> Resolution {
    let mut modern = Walker::new(MODERN);
    let a = modern.dispatch(segs, method, false);
    if !modern.tainted {
        return a.map_or(Resolution::None, Resolution::Route);
    }
    let (b, c) = Walker::new(LEGACY).dispatch_legacy(segs, method);
    let mut found = None;
    for candidate in [a, b, c].into_iter().flatten() {
        match found {
            None => found = Some(candidate),
            Some(r) if r == candidate => {}
            Some(_) => return Resolution::Ambiguous,
        }
    }
    found.map_or(Resolution::None, Resolution::Route)
}

/// The first 8 bytes of a segment as a big-endian integer, zero-padded. Path bytes are never 0,
/// so comparing keys orders segments like comparing their bytes, up to the 8th byte; the trie's
/// literal lookup compares integers and checks the full bytes only on a key match.
pub(super) fn segment_key(seg: &[u8]) -> u64 {
    let mut key = 0u64;
    for (i, &b) in seg.iter().take(8).enumerate() {
        key |= u64::from(b) << (56 - 8 * i);
    }
    key
}

/// Slot of a literal in a node's hash table (before masking); the generator computes the same.
pub(super) fn slot_hash(key: u64, len: usize) -> usize {
    let mixed = (key ^ len as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
    usize::try_from(mixed).unwrap_or_default()
}

fn node(id: u16) -> Option<&'static Node> {
    NODES.get(usize::from(id))
}

/// A `{param}` child as seen from one view.
enum ParamChild {
    Visible(u16),
    /// Present only in the other (legacy) view.
    Hidden(u16),
    Absent,
}

/// One walk over one view; `tainted` records (in the modern view) whether a consulted fact
/// differs in the legacy view.
struct Walker {
    view: u8,
    tainted: bool,
    /// `explicit_child(ROOT, first segment)`, looked up once for all four modes: the root has
    /// by far the most literals.
    root_child: Option<Option<u16>>,
}

impl Walker {
    fn new(view: u8) -> Walker {
        Walker {
            view,
            tainted: false,
            root_child: None,
        }
    }

    /// The candidate loop.
    fn dispatch(&mut self, segs: &[&str], method: Method, current_only: bool) -> Option<u16> {
        for mode in MODES {
            if let Some(found) = self.retrieve(segs, mode) {
                if let Some(route) = self.route_for(found, method, current_only) {
                    return Some(route);
                }
            }
        }
        None
    }

    /// The candidate loop over the legacy view, for any handler (B) and current ones (C) at once.
    fn dispatch_legacy(&mut self, segs: &[&str], method: Method) -> (Option<u16>, Option<u16>) {
        let (mut any, mut current) = (None, None);
        for mode in MODES {
            if let Some(found) = self.retrieve(segs, mode) {
                if any.is_none() {
                    any = self.route_for(found, method, false);
                }
                if current.is_none() {
                    current = self.route_for(found, method, true);
                }
                if any.is_some() && current.is_some() {
                    break;
                }
            }
        }
        (any, current)
    }

    fn route_for(&mut self, at: u16, method: Method, current_only: bool) -> Option<u16> {
        let n = node(at)?;
        if self.view == MODERN && n.legacy_routes {
            self.tainted = true;
        }
        n.routes.iter().copied().find(|&r| {
            ROUTES.get(usize::from(r)).is_some_and(|route| {
                route.method == method
                    && route.views & self.view != 0
                    && (!current_only || route.views & MODERN != 0)
            })
        })
    }

    /// `PathTrie.retrieve`: the node the path reaches in `mode`, if that node has any handler.
    fn retrieve(&mut self, segs: &[&str], mode: Mode) -> Option<u16> {
        if segs.is_empty() {
            // ES: an empty or all-'/' path returns the root value in every mode.
            return self.has_value(ROOT).then_some(ROOT);
        }
        self.retrieve_at(ROOT, segs, 0, mode)
    }

    fn retrieve_at(&mut self, at: u16, segs: &[&str], i: usize, mode: Mode) -> Option<u16> {
        let token = segs.get(i)?.as_bytes();
        let last = i + 1 == segs.len();
        let first = i == 0;
        let (child, used_param) = match self.explicit_child(at, token) {
            None => {
                let allowed = match mode {
                    Mode::Explicit => false,
                    Mode::Root => first,
                    Mode::Leaf => last,
                    Mode::Wildcard => true,
                };
                if !allowed {
                    return None;
                }
                match self.param_child(at) {
                    ParamChild::Visible(p) => (p, true),
                    ParamChild::Hidden(p) => {
                        self.probe_hidden(p, segs, i, mode);
                        return None;
                    }
                    ParamChild::Absent => return None,
                }
            }
            Some(child) => {
                let yield_to_param = (last && matches!(mode, Mode::Leaf | Mode::Wildcard))
                    || (first && mode == Mode::Root);
                let param = match yield_to_param && !self.has_value(child) {
                    true => self.param_child(at),
                    false => ParamChild::Absent,
                };
                match param {
                    ParamChild::Visible(p) => (p, true),
                    ParamChild::Hidden(_) => {
                        // The legacy walk would turn to the `{param}` child here.
                        self.tainted = true;
                        (child, token == b"*")
                    }
                    ParamChild::Absent => (child, token == b"*"),
                }
            }
        };
        if last {
            return self.has_value(child).then_some(child);
        }
        let found = self.retrieve_at(child, segs, i + 1, mode);
        if found.is_none() && !used_param && mode != Mode::Explicit {
            match self.param_child(at) {
                ParamChild::Visible(p) => return self.retrieve_at(p, segs, i + 1, mode),
                ParamChild::Hidden(p) => self.probe_hidden(p, segs, i, mode),
                ParamChild::Absent => {}
            }
        }
        found
    }

    /// The modern walk gives up where the legacy walk would descend into the legacy-only
    /// `{param}` child `p` (bound to segment `i`). The two agree iff that descent finds nothing.
    fn probe_hidden(&mut self, p: u16, segs: &[&str], i: usize, mode: Mode) {
        let mut legacy = Walker::new(LEGACY);
        let hit = if i + 1 == segs.len() {
            legacy.has_value(p)
        } else {
            legacy.retrieve_at(p, segs, i + 1, mode).is_some()
        };
        self.tainted |= hit;
    }

    /// ES `children.get(token)`: a literal child, or the `{param}` child for the token `*`.
    fn explicit_child(&mut self, at: u16, token: &[u8]) -> Option<u16> {
        if token == b"*" {
            return match self.param_child(at) {
                ParamChild::Visible(p) => Some(p),
                ParamChild::Hidden(_) => {
                    self.tainted = true;
                    None
                }
                ParamChild::Absent => None,
            };
        }
        if at == ROOT {
            if let Some(cached) = self.root_child {
                return cached;
            }
            let found = self.literal_child(at, token);
            self.root_child = Some(found);
            return found;
        }
        self.literal_child(at, token)
    }

    fn literal_child(&mut self, at: u16, token: &[u8]) -> Option<u16> {
        let n = node(at)?;
        let mask = n.slots.len().checked_sub(1)?;
        let key = segment_key(token);
        let mut slot = slot_hash(key, token.len()) & mask;
        // The table is at most half full, so an empty slot ends every probe sequence.
        for _ in 0..n.slots.len() {
            let idx = *n.slots.get(slot)?;
            let &(k, lit, child) = n.lits.get(usize::from(idx))?;
            // Equal keys: the first 8 bytes agree (tokens hold no NUL), so compare the rest.
            if k == key && lit.len() == token.len() && lit.get(8..) == token.get(8..) {
                return self.visible(child);
            }
            slot = (slot + 1) & mask;
        }
        None
    }

    fn param_child(&self, at: u16) -> ParamChild {
        match node(at).map(|n| n.param) {
            Some(p) if p != NO_NODE => match node(p) {
                Some(n) if n.views & self.view != 0 => ParamChild::Visible(p),
                Some(_) => ParamChild::Hidden(p),
                None => ParamChild::Absent,
            },
            _ => ParamChild::Absent,
        }
    }

    /// The node if it is in this walk's view. A node in the legacy view only is invisible to the
    /// modern walk, and seeing it there taints the walk.
    fn visible(&mut self, id: u16) -> Option<u16> {
        let views = node(id)?.views;
        if views & self.view != 0 {
            return Some(id);
        }
        self.tainted = true;
        None
    }

    /// ES `node.value != null`: a handler for any method is registered at the node.
    fn has_value(&mut self, id: u16) -> bool {
        let value = node(id).map_or(0, |n| n.value);
        if self.view == MODERN && (value & MODERN != 0) != (value & LEGACY != 0) {
            self.tainted = true;
        }
        value & self.view != 0
    }
}
