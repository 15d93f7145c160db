#!/usr/bin/env python3
"""Generate the REST route table `src/es/route/table.rs` (Python 3, standard library only).

Inputs, all in this folder:
  es-rest-api.json   API name -> URL paths + methods (Apache-2.0, elastic/elasticsearch-specification;
                     see NOTICE.md)
  api_actions.tsv    API name -> transport action string (hand-maintained)
  extra_routes.tsv   ReadonlyREST, OpenSearch-only and Elasticsearch 7.x typed routes

Usage (from the repository root):
  python3 tools/routes/gen_routes.py            # writes src/es/route/table.rs
  python3 tools/routes/gen_routes.py --check    # exits 1 if the checked-in file is stale

The generator also contains an independent, dictionary-based transcription of Elasticsearch's
`PathTrie.retrieve` (the four TrieMatchingModes) and `RestController.tryAllHandlers`. It uses it to
compute the expected API of every spec path with sample values (emitted as SPEC_PATHS for the Rust
tests) and to prove that no route can pick up a stale path parameter from a failed trie branch.
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(REPO, "src", "es", "route", "table.rs")

METHODS = {"GET": "Get", "HEAD": "Head", "POST": "Post", "PUT": "Put", "DELETE": "Delete",
           "OPTIONS": "Options", "PATCH": "Patch"}

MODERN = 1  # routes of the current Elasticsearch / OpenSearch REST layer
LEGACY = 2  # Elasticsearch 7.x typed routes (8.x keeps them for compatible-with=7)
ALL_VIEWS = MODERN | LEGACY

# ---------------------------------------------------------------------------------------------
# Part roles: which path parts name indices (or aliases, data streams, repositories, snapshots).

ALIAS_APIS = {"indices.put_alias", "indices.delete_alias", "indices.get_alias",
              "indices.exists_alias", "cat.aliases"}
INDEX_NAME_APIS = {"indices.resolve_index", "indices.resolve_cluster",
                   "indices.simulate_index_template"}
DATA_STREAM_APIS = {
    "indices.create_data_stream", "indices.delete_data_stream", "indices.get_data_stream",
    "indices.data_streams_stats", "indices.delete_data_lifecycle", "indices.get_data_lifecycle",
    "indices.put_data_lifecycle", "indices.delete_data_stream_options",
    "indices.get_data_stream_options", "indices.put_data_stream_options",
    "indices.get_data_stream_settings", "indices.put_data_stream_settings",
    "indices.get_data_stream_mappings", "indices.put_data_stream_mappings",
    "indices.migrate_to_data_stream", "indices.promote_data_stream",
}


def role_of(api, part):
    if part in ("index", "alias", "new_index", "target_index"):
        return "Index"
    if part == "target":
        return "Other" if api == "cluster.info" else "Index"
    if part in ("source", "dest") and api == "indices.create_from":
        return "Index"
    if part == "name":
        if api in ALIAS_APIS or api in INDEX_NAME_APIS:
            return "Index"
        if api in DATA_STREAM_APIS:
            return "DataStream"
    if part == "repository":
        return "Repository"
    if part in ("snapshot", "target_snapshot"):
        return "Snapshot"
    return "Other"


ROLE_BITS = {"Index": 1, "DataStream": 2, "Repository": 4, "Snapshot": 8}

# Which APIs carry index names in the body (a hint for the body extractors).
BODY = {
    "bulk": "Bulk",
    "mget": "Mget",
    "msearch": "Msearch", "msearch_template": "MsearchTemplate", "fleet.msearch": "Msearch",
    "mtermvectors": "Mtermvectors",
    "reindex": "Reindex",
    "indices.update_aliases": "UpdateAliases",
    "indices.create": "NewIndexAliases", "indices.rollover": "NewIndexAliases",
    "indices.shrink": "NewIndexAliases", "indices.split": "NewIndexAliases",
    "indices.clone": "NewIndexAliases",
    "indices.put_template": "IndexTemplate", "indices.put_index_template": "IndexTemplate",
    "indices.simulate_template": "IndexTemplate", "cluster.put_component_template": "IndexTemplate",
    # Bodies that set index settings (ingest pipelines among them) and name no index.
    "indices.put_settings": "IndexSettings", "indices.put_data_stream_settings": "IndexSettings",
    "indices.create_from": "IndexSettings",
    # A pipeline definition names no index, but later writes that run the pipeline run it.
    "ingest.put_pipeline": "PipelineDefinition",
    "snapshot.create": "SnapshotCreate", "snapshot.restore": "SnapshotRestore",
    "sql.query": "QueryText", "sql.translate": "QueryText", "esql.query": "QueryText",
    "esql.async_query": "QueryText",
    "cluster.allocation_explain": "AllocationExplain",
    # Search-family bodies: the searched indices are in the path; the query may read more
    # from inside (terms lookups, more_like_this documents, indexed shapes, ...).
    "search": "Search", "count": "Search", "cat.count": "Search", "explain": "Search",
    "indices.validate_query": "Search", "delete_by_query": "Search", "update_by_query": "Search",
    "field_caps": "Search", "terms_enum": "Search", "knn_search": "Search",
    "async_search.submit": "Search", "search_mvt": "Search", "eql.search": "Search",
    "fleet.search": "Search", "rollup.rollup_search": "Search", "open_point_in_time": "Search",
    "graph.explore": "Search",
    "search_template": "SearchTemplate",
    # Ranking evaluation: every rated request is a search body of the path's indices.
    "rank_eval": "RankEval",
}

# APIs that read or write indices named where the gateway does not look: in a body it does not
# parse, or in a stored definition they create, preview, start or run (transforms, datafeeds,
# data frame analytics, enrich policies, watches, rollup jobs, snapshot lifecycle policies,
# search applications, ES|QL views, a remote leader index, a mounted snapshot, the `index`
# query parameter of find_field_structure). Mostly those with index privileges in the spec and
# no index in the path; an `indices` rule cannot grant them (es::target `opaque_indices`).
UNREAD = [
    "transform.preview_transform", "transform.put_transform", "transform.update_transform",
    "transform.start_transform", "transform.schedule_now_transform",
    "ml.preview_datafeed", "ml.put_datafeed", "ml.update_datafeed", "ml.start_datafeed",
    "ml.put_job", "ml.update_job", "ml.evaluate_data_frame",
    "ml.put_data_frame_analytics", "ml.update_data_frame_analytics",
    "ml.start_data_frame_analytics", "ml.explain_data_frame_analytics",
    "ml.preview_data_frame_analytics",
    "enrich.put_policy", "enrich.execute_policy",
    "watcher.put_watch", "watcher.execute_watch", "watcher.activate_watch",
    "scripts_painless_execute",
    "search_application.search", "search_application.put", "search_application.render_query",
    "ccr.follow", "ccr.put_auto_follow_pattern", "rollup.put_job", "rollup.start_job",
    "slm.put_lifecycle", "slm.execute_lifecycle", "searchable_snapshots.mount",
    "text_structure.find_field_structure", "esql.put_view", "esql.put_dataset",
    # Bodies that name indices to change: backing indices, shard allocation, simulated
    # documents' `_index`, reindexed streams, connectors' target indices; and stored
    # definitions that delete or rewrite indices (a transform's destination, ILM policies).
    "indices.modify_data_stream", "indices.migrate_reindex", "cluster.reroute",
    "simulate.ingest", "transform.delete_transform", "transform.reset_transform",
    "ccr.resume_auto_follow_pattern", "ilm.put_lifecycle", "connector.put", "connector.post",
    "connector.update_index_name", "connector.sync_job_post", "migration.post_feature_upgrade",
]
BODY.update({api: "Unread" for api in UNREAD})

# Bodies that add to the indices the path names rather than name the targets themselves: a
# path without an index still means all indices.
PATH_TARGETS = {"QueryText", "Search", "SearchTemplate", "RankEval", "IndexSettings"}

# Two APIs of the spec that share a path shape and a method: the server has one handler there.
# Every such group must map to one action; the first name listed here (or else the
# alphabetically first name) is reported as the API.
PREFERRED = {"inference.put", "nodes.info"}

# ---------------------------------------------------------------------------------------------


def die(msg):
    sys.stderr.write("gen_routes: " + msg + "\n")
    sys.exit(2)


def parse_template(path):
    if not path.startswith("/"):
        die("path must start with '/': " + path)
    segs = []
    for s in path.split("/")[1:]:
        if s == "":
            if path != "/":
                die("empty segment in " + path)
            continue
        if s.startswith("{") and s.endswith("}"):
            segs.append((None, s[1:-1]))
        elif "{" in s or "}" in s or "%" in s:
            die("unsupported segment " + s + " in " + path)
        else:
            segs.append((s, None))
    return segs


def load_actions():
    actions = {}
    with open(os.path.join(HERE, "api_actions.tsv"), encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            cols = line.split("\t")
            if len(cols) != 3:
                die("api_actions.tsv:%d: want 3 columns" % n)
            api, action, _prov = cols
            if api in actions:
                die("api_actions.tsv:%d: duplicate %s" % (n, api))
            actions[api] = None if action == "-" else action
    return actions


def load_routes(actions):
    with open(os.path.join(HERE, "es-rest-api.json"), encoding="utf-8") as f:
        spec = json.load(f)
    routes = []  # (views, method, template, api)
    for api, entry in spec.items():
        if api not in actions:
            die("api %s has no row in api_actions.tsv" % api)
        for p in entry["paths"]:
            for m in p["methods"]:
                routes.append((ALL_VIEWS, m, p["path"], api, "spec"))
    for api in actions:
        if api not in spec:
            die("api_actions.tsv names %s, which is not in the spec" % api)
    with open(os.path.join(HERE, "extra_routes.tsv"), encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            cols = line.split("\t")
            if len(cols) != 5:
                die("extra_routes.tsv:%d: want 5 columns" % n)
            view, methods, path, api, action = cols
            views = {"all": ALL_VIEWS, "legacy": LEGACY}.get(view)
            if views is None:
                die("extra_routes.tsv:%d: bad view %s" % (n, view))
            if action == "=":
                if api not in actions:
                    die("extra_routes.tsv:%d: %s has no action to inherit" % (n, api))
            else:
                new = None if action == "-" else action
                if api in actions and actions[api] != new:
                    die("extra_routes.tsv:%d: %s action disagrees" % (n, api))
                actions[api] = new
            for m in methods.split(","):
                routes.append((views, m, path, api, "extra"))
    for r in routes:
        if r[1] not in METHODS:
            die("bad method %s" % r[1])
    return routes


class TNode:
    def __init__(self, key):
        self.key = key  # literal string, or None for the {param} child
        self.lits = {}
        self.param = None
        self.views = 0
        self.routes = {}  # method -> route dict
        self.names = set()  # parameter names of the templates through a {param} node
        self.id = None


def shape_of(template):
    return tuple(lit for lit, _ in parse_template(template))


def build(routes, actions):
    # Group by (method, shape) to resolve spec duplicates.
    groups = {}
    for views, m, path, api, origin in routes:
        key = (m, shape_of(path))
        groups.setdefault(key, []).append((views, path, api, origin))
    resolved = []
    for (m, shape), items in sorted(groups.items(), key=lambda kv: (kv[0][0], [x or "" for x in kv[0][1]])):
        apis = sorted({api for _, _, api, _ in items})
        if len(apis) > 1:
            acts = {actions[a] for a in apis}
            if len(acts) != 1:
                die("method %s shape %s: APIs %s disagree on the action" % (m, shape, apis))
            pref = [a for a in apis if a in PREFERRED]
            api = pref[0] if pref else apis[0]
        else:
            api = apis[0]
        views = 0
        paths = []
        for v, path, a, _ in items:
            views |= v
            if a == api:
                paths.append(path)
        resolved.append({"method": m, "shape": shape, "api": api, "views": views,
                         "template": sorted(paths)[0]})
    return resolved


def api_part_names(resolved):
    """API -> names of its parts that name indices, data streams, repositories or snapshots."""
    names = {}
    for r in resolved:
        for lit, name in parse_template(r["template"]):
            if name is not None and role_of(r["api"], name) != "Other":
                names.setdefault(r["api"], set()).add(name)
    return names


def make_trie(resolved):
    root = TNode("")
    for r in resolved:
        node = root
        node.views |= r["views"]
        for lit, name in parse_template(r["template"]):
            if lit is not None:
                node = node.lits.setdefault(lit, TNode(lit))
            else:
                if node.param is None:
                    node.param = TNode(None)
                node = node.param
                node.names.add(name)
            node.views |= r["views"]
        if r["method"] in node.routes:
            die("two routes for %s %s" % (r["method"], r["template"]))
        node.routes[r["method"]] = r
    return root


# ---------------------------------------------------------------------------------------------
# Transcription of Elasticsearch's PathTrie.retrieve + RestController.tryAllHandlers, with the
# params map kept exactly as ES keeps it (so stale entries from failed branches are visible).

EXPLICIT, ROOT, LEAF, WILDCARD = range(4)


def es_child(node, token, view):
    if token == "*":
        c = node.param
    else:
        c = node.lits.get(token)
    return c if c is not None and c.views & view else None


def es_param(node, view):
    c = node.param
    return c if c is not None and c.views & view else None


def has_value(node, view):
    return any(r["views"] & view for r in node.routes.values())


def es_retrieve(node, toks, i, view, mode, params):
    token = toks[i]
    last = i + 1 == len(toks)
    first = i == 0
    child = es_child(node, token, view)
    if child is None:
        allowed = (mode == WILDCARD or (mode == ROOT and first) or (mode == LEAF and last))
        if not allowed:
            return None
        child = es_param(node, view)
        if child is None:
            return None
        used_wildcard = True
    else:
        p = es_param(node, view)
        if last and not has_value(child, view) and p is not None and mode in (LEAF, WILDCARD):
            child, used_wildcard = p, True
        elif first and not has_value(child, view) and p is not None and mode == ROOT:
            child, used_wildcard = p, True
        else:
            used_wildcard = token == "*"
    if child.key is None:
        params[id(child)] = child
    if last:
        return child if has_value(child, view) else None
    res = es_retrieve(child, toks, i + 1, view, mode, params)
    if res is None and not used_wildcard and mode != EXPLICIT:
        p = es_param(node, view)
        if p is not None:
            params[id(p)] = p
            res = es_retrieve(p, toks, i + 1, view, mode, params)
    return res


def es_dispatch(root, toks, view, method, modern_only):
    """Returns (route, params) of the handler the server would run, or (None, None)."""
    for mode in (EXPLICIT, ROOT, LEAF, WILDCARD):
        params = {}
        if not toks:
            node = root if has_value(root, view) else None
        else:
            node = es_retrieve(root, toks, 0, view, mode, params)
        if node is None:
            continue
        r = node.routes.get(method)
        if r is None or not (r["views"] & view):
            continue
        if modern_only and not (r["views"] & MODERN):
            continue
        return r, params
    return None, None


def resolve(root, toks, method):
    """Mirror of route.rs: modern view (A), legacy trie with any handler (B) and legacy trie
    with modern handlers only (C). Returns a route, None, or "ambiguous"."""
    found = []
    for view, modern_only in ((MODERN, True), (LEGACY, False), (LEGACY, True)):
        r, params = es_dispatch(root, toks, view, method, modern_only)
        if r is not None:
            found.append((r, params))
    if not found:
        return None, None
    first = found[0][0]
    for r, _ in found[1:]:
        if r is not first:
            return "ambiguous", None
    return first, found[0][1]


def path_nodes(root, template):
    nodes = []
    node = root
    for lit, _ in parse_template(template):
        node = node.lits[lit] if lit is not None else node.param
        nodes.append(node)
    return nodes


def sample_value(name, i):
    return "v%d%s" % (i, name.replace("_", ""))


def spec_samples(resolved):
    out = []
    for r in resolved:
        if not (r["views"] & MODERN):
            continue
        toks = []
        for i, (lit, name) in enumerate(parse_template(r["template"])):
            toks.append(lit if lit is not None else sample_value(name, i))
        out.append((r, toks))
    return out


def check_stale_params(root, resolved, part_names):
    """Build probe paths that first walk one template and then fall back to another; report any
    dispatch whose params map holds a parameter that the winning template does not set but that
    its API reads in another template (a stale parameter ES would hand to the handler). Parameter
    names of a trie node are the union over all templates through it, so this over-reports."""
    literals_at = {}
    for r in resolved:
        for i, (lit, _) in enumerate(parse_template(r["template"])):
            if lit is not None:
                literals_at.setdefault(i, set()).add(lit)
    probes = set()
    for r in resolved:
        segs = parse_template(r["template"])
        base = [lit if lit is not None else sample_value(name, i)
                for i, (lit, name) in enumerate(segs)]
        probes.add(tuple(base))
        for i, (lit, name) in enumerate(segs):
            if name is not None:
                for alt in sorted(literals_at.get(i, ())):
                    p = list(base)
                    p[i] = alt
                    probes.add(tuple(p))
            for extra in ("x", "_x"):
                probes.add(tuple(base[: i + 1] + [extra]))
        probes.add(tuple(base + ["x"]))
    stale = []
    for toks in sorted(probes):
        for method in METHODS:
            for view, modern_only in ((MODERN, True), (LEGACY, False), (LEGACY, True)):
                r, params = es_dispatch(root, list(toks), view, method, modern_only)
                if r is None:
                    continue
                own = set()
                node = root
                for lit, name in parse_template(r["template"]):
                    node = node.lits[lit] if lit is not None else node.param
                    own |= node.names
                visited = set()
                for key, pnode in params.items():
                    if pnode not in path_nodes(root, r["template"]):
                        visited |= pnode.names
                extra = (visited - own) & part_names.get(r["api"], set())
                if extra:
                    stale.append((method, "/" + "/".join(toks), r["template"], sorted(extra)))
    return stale, len(probes)


# ---------------------------------------------------------------------------------------------
# Emission


def lit_key(s):
    """The first 8 bytes, big-endian, zero-padded: orders like the bytes (see trie.rs)."""
    return int.from_bytes(s.encode()[:8].ljust(8, b"\0"), "big")


MASK64 = (1 << 64) - 1
NO_SLOT = 0xFFFF


def slot_hash(lit_bytes):
    """Must match `trie::slot_hash`: the 8-byte key mixed with the length, Fibonacci hashing."""
    key = int.from_bytes(lit_bytes[:8].ljust(8, b"\0"), "big")
    return (((key ^ len(lit_bytes)) * 0x9E3779B97F4A7C15) & MASK64) >> 32


def hash_slots(lits):
    """Open-addressing table (linear probing) over the literal indices; size a power of two at
    least twice the number of literals, empty for a node without literals."""
    if not lits:
        return []
    size = 2
    while size < 2 * len(lits):
        size *= 2
    slots = [NO_SLOT] * size
    for idx, lit in enumerate(lits):
        h = slot_hash(lit.encode()) & (size - 1)
        while slots[h] != NO_SLOT:
            h = (h + 1) & (size - 1)
        slots[h] = idx
    return slots


def rust_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def rust_bytes(s):
    return 'b"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def emit(root, resolved, actions, part_names, samples):
    apis = sorted({r["api"] for r in resolved})
    api_idx = {a: i for i, a in enumerate(apis)}

    # Implicit "all" bits and query guards, per API over all its templates.
    api_roles = {}
    for r in resolved:
        for lit, name in parse_template(r["template"]):
            if name is not None:
                role = role_of(r["api"], name)
                if role != "Other":
                    api_roles.setdefault(r["api"], {}).setdefault(role, set()).add(name)

    nodes = []

    def number(n):
        n.id = len(nodes)
        nodes.append(n)
        for k in sorted(n.lits):
            number(n.lits[k])
        if n.param is not None:
            number(n.param)

    number(root)

    route_list = []
    for n in nodes:
        for m in sorted(n.routes):
            r = n.routes[m]
            r["id"] = len(route_list)
            route_list.append(r)

    lines = []
    w = lines.append
    w("// @generated by tools/routes/gen_routes.py from tools/routes/es-rest-api.json,")
    w("// tools/routes/api_actions.tsv and tools/routes/extra_routes.tsv. Do not edit by hand.")
    w("//")
    w("// Route data derived from elastic/elasticsearch-specification (Apache-2.0); see")
    w("// tools/routes/NOTICE.md.")
    w("")
    w("use super::{Api, BodyIndices, Node, Param, Role, Route, NO_NODE};")
    w("use crate::http::Method;")
    w("")
    max_params = max(sum(1 for lit, _ in parse_template(r["template"]) if lit is None)
                     for r in resolved)
    w("/// The most `{parts}` any route has.")
    w("#[cfg(test)]")
    w("pub(super) const MAX_PARAMS: usize = %d;" % max_params)
    w("")
    w("pub(super) static APIS: [Api; %d] = [" % len(apis))
    for a in apis:
        act = actions[a]
        w("    Api { name: %s, action: %s, body: BodyIndices::%s }," % (
            rust_str(a), rust_str(act) if act else "super::UNKNOWN_ACTION", BODY.get(a, "None")))
    w("];")
    w("")
    w("pub(super) static ROUTES: [Route; %d] = [" % len(route_list))
    for r in route_list:
        params = []
        present = set()
        for i, (lit, name) in enumerate(parse_template(r["template"])):
            if name is not None:
                role = role_of(r["api"], name)
                params.append("Param { pos: %d, name: %s, role: Role::%s }" % (
                    i, rust_str(name), role))
                present.add(name)
        implicit = 0
        guard = set()
        for role, names in api_roles.get(r["api"], {}).items():
            if not (names & present):
                implicit |= ROLE_BITS[role]
            guard |= names - present
        if r["api"] in BODY and BODY[r["api"]] not in PATH_TARGETS:
            implicit &= ~ROLE_BITS["Index"]
        w("    // %s %s" % (r["method"], r["template"]))
        w("    Route { method: Method::%s, views: %d, api: %d, params: &[%s], implicit_all: %d, guard: &[%s] }," % (
            METHODS[r["method"]], r["views"], api_idx[r["api"]], ", ".join(params), implicit,
            ", ".join(rust_str(g) for g in sorted(guard))))
    w("];")
    w("")
    w("pub(super) static NODES: [Node; %d] = [" % len(nodes))
    for n in nodes:
        lits = ", ".join("(0x%016x, %s, %d)" % (lit_key(k), rust_bytes(k), n.lits[k].id)
                         for k in sorted(n.lits, key=lambda s: s.encode()))
        param = str(n.param.id) if n.param is not None else "NO_NODE"
        routes = ", ".join(str(n.routes[m]["id"]) for m in sorted(n.routes))
        value = 0
        for r in n.routes.values():
            value |= r["views"]
        legacy_routes = any(not (r["views"] & MODERN) for r in n.routes.values())
        slots = hash_slots([k for k in sorted(n.lits, key=lambda s: s.encode())])
        w("    Node { lits: &[%s], slots: &[%s], param: %s, views: %d, value: %d, legacy_routes: %s, routes: &[%s] }," % (
            lits, ", ".join(str(x) for x in slots), param, n.views, value,
            "true" if legacy_routes else "false", routes))
    w("];")
    w("")
    w("/// Every modern route with sample part values, and the API the server's path trie picks for")
    w("/// it (computed by the generator's independent transcription of `PathTrie`).")
    w("#[cfg(test)]")
    w("pub(super) static SPEC_PATHS: [(Method, &str, &str); %d] = [" % len(samples))
    for m, path, expect in samples:
        w("    (Method::%s, %s, %s)," % (METHODS[m], rust_str(path), rust_str(expect)))
    w("];")
    return "\n".join(lines) + "\n"


def main():
    check = "--check" in sys.argv[1:]
    actions = load_actions()
    routes = load_routes(actions)
    resolved = build(routes, actions)
    root = make_trie(resolved)
    part_names = api_part_names(resolved)

    samples = []
    moved = []
    for r, toks in spec_samples(resolved):
        got, _ = resolve(root, toks, r["method"])
        expect = got["api"] if isinstance(got, dict) else ("unknown" if got is None else got)
        path = "/" + "/".join(toks)
        samples.append((r["method"], path, expect))
        if expect != r["api"]:
            moved.append((r["method"], r["template"], r["api"], expect))

    stale, nprobes = check_stale_params(root, resolved, part_names)
    if stale:
        for s in stale[:40]:
            sys.stderr.write("stale param: %s %s -> %s %s\n" % s)
        die("%d probe dispatches would hand a stale path parameter to a handler" % len(stale))

    text = emit(root, resolved, actions, part_names, samples)
    if check:
        with open(OUT, encoding="utf-8") as f:
            if f.read() != text:
                sys.stderr.write("gen_routes: %s is stale; run tools/routes/gen_routes.py\n" % OUT)
                sys.exit(1)
    else:
        with open(OUT, "w", encoding="utf-8") as f:
            f.write(text)

    apis = {r["api"] for r in resolved}
    known = sorted(a for a in apis if actions.get(a))
    unknown = sorted(a for a in apis if not actions.get(a))
    print("routes: %d (method, path shape) pairs, %d trie nodes, %d APIs: %d with an action, %d unknown"
          % (len(resolved), sum(1 for _ in iter_nodes(root)), len(apis), len(known), len(unknown)))
    print("unknown APIs: " + ", ".join(unknown))
    print("stale-parameter probes: %d paths x %d methods, none stale" % (nprobes, len(METHODS)))
    for m, t, a, e in moved:
        print("note: %s %s (%s) resolves to %s" % (m, t, a, e))


def iter_nodes(n):
    yield n
    for c in n.lits.values():
        yield from iter_nodes(c)
    if n.param is not None:
        yield from iter_nodes(n.param)


if __name__ == "__main__":
    main()
