//! Whether a request may run an ingest pipeline that can send documents to another index
//! (or one the gateway does not know): the pipelines it names, and the default and final
//! pipelines of every index it writes documents to, looked up in the cluster metadata. Also
//! whether it makes later writes run one: the default and final pipelines it sets in index
//! settings (an index's, a template's, a component template's), those of the index whose
//! settings it copies into a new one (shrink/split/clone, `_create_from`; looked up as for a
//! write of that index), and those of the component templates a composable template it
//! stores is composed of; and the new definition of a pipeline it defines (`PUT
//! /_ingest/pipeline/{id}`, analysed against the metadata's verdicts for the pipelines it
//! calls, `Ingest::definition_may_reroute`). The metadata learns of those only at its next
//! refresh, so until then the request that sets them is the only place to refuse them; a
//! value or definition it cannot read counts as rerouting.
//!
//! What an index written to runs, by the kind of name (`es::pipeline` says which pipelines
//! count):
//! - an index: its own `index.default_pipeline`/`index.final_pipeline`;
//! - an alias or data stream: those of every member (the write index is one of them);
//! - a wildcard or `_all` (`update_by_query`): those of everything it matches, hidden
//!   names included; all indices: those of every index;
//! - date math: those of the names it takes now and [`super::DATE_MATH_SKEW`] later; one
//!   that cannot be evaluated counts as rerouting;
//! - a name the metadata does not know (it would be created, or was created since the last
//!   refresh): what every index template matching it sets, composable ones with their
//!   component templates (all matching templates, not only the one the node would pick);
//! - a remote name: counts as rerouting (another cluster's pipelines are not read);
//! - an exclusion (`-x`): nothing, it only removes.
//!
//! Before the metadata was first read ([`Ingest::unread`]) every document write, every
//! pipeline named or set, every copy of an index's settings and every composition counts as
//! rerouting, and so does a definition that calls another pipeline. No IO; each written name
//! (and each pipeline named or set) costs a lookup, a wildcard a pass over the cluster's
//! names, an unknown name a pass over the index patterns of the templates that may reroute
//! (compiled once per check), a definition a pass over its processors and a lookup per
//! pipeline it calls.

use crate::acl::pattern::Glob;
use crate::es::index_name::IndexExpr;
use crate::es::metadata::ClusterMetadata;
use crate::es::pipeline::Ingest;
use crate::es::target::{Access, Targets};

/// Whether the request may run, or make later writes run, a pipeline that is not known never
/// to change `_index` (one it runs, sets, or gives a new definition).
pub(super) fn may_reroute(targets: &Targets<'_>, metadata: &ClusterMetadata) -> bool {
    let ingest = &metadata.ingest;
    let uses = &targets.pipelines;
    if uses.set_unreadable {
        return true;
    }
    if uses
        .defines
        .as_ref()
        .is_some_and(|definition| ingest.definition_may_reroute(definition))
    {
        return true;
    }
    if uses
        .named
        .iter()
        .chain(&uses.set)
        .any(|name| !ingest.never_reroutes(name))
    {
        return true;
    }
    if !uses.documents && uses.copied_from.is_empty() && uses.composed_of.is_empty() {
        return false;
    }
    if ingest.unread {
        return true;
    }
    if uses
        .composed_of
        .iter()
        .any(|c| ingest.component_may_reroute(c))
    {
        return true;
    }
    let written = Written::new(metadata);
    if uses
        .copied_from
        .iter()
        .any(|source| written.may_reroute(source))
    {
        return true;
    }
    if !uses.documents {
        return false;
    }
    if targets.all_indices && ingest.some_index_may_reroute() {
        return true;
    }
    targets
        .indices
        .iter()
        .filter(|i| i.access == Access::Write)
        .any(|i| written.may_reroute(&i.name))
}

/// The metadata, with the index patterns of the templates that may reroute compiled once per
/// check (most clusters have none, so a name the cluster does not know costs nothing).
struct Written<'m> {
    metadata: &'m ClusterMetadata,
    rerouting_templates: Vec<Glob>,
}

impl<'m> Written<'m> {
    fn new(metadata: &'m ClusterMetadata) -> Written<'m> {
        let ingest: &Ingest = &metadata.ingest;
        let rerouting_templates = ingest
            .templates
            .keys()
            .filter(|key| ingest.template_may_reroute(key))
            .filter_map(|key| metadata.templates.get(key))
            .flatten()
            .map(|pattern| Glob::new(pattern))
            .collect();
        Written {
            metadata,
            rerouting_templates,
        }
    }

    /// One index expression written to (module docs).
    fn may_reroute(&self, expression: &str) -> bool {
        let expr = IndexExpr::parse(expression);
        if expr.remote.is_some() {
            return true;
        }
        if expr.exclusion {
            return false;
        }
        if expr.date_math {
            return match super::date_math_names(expr.name) {
                Some(names) => names.iter().any(|n| self.name_may_reroute(n)),
                None => true,
            };
        }
        if expr.wildcard || expr.is_all() {
            let glob = Glob::new(if expr.is_all() { "*" } else { expr.name });
            return self
                .metadata
                .names()
                .filter(|(name, _)| glob.matches(name))
                .any(|(name, _)| self.name_may_reroute(name));
        }
        self.name_may_reroute(expr.name)
    }

    /// A concrete name: an index, an alias or data stream, or one that does not exist yet.
    fn name_may_reroute(&self, name: &str) -> bool {
        let ingest = &self.metadata.ingest;
        if self.metadata.indices.contains_key(name) {
            return ingest.index_may_reroute(name);
        }
        if let Some(members) = self.metadata.members(name) {
            return members.iter().any(|m| ingest.index_may_reroute(m));
        }
        self.rerouting_templates.iter().any(|p| p.matches(name))
    }
}
