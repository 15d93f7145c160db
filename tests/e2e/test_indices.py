"""Elasticsearch-aware rules against the real node: a Logstash-style writer restricted to
logstash-* bulk-indexes and nothing else; a reader restricted to logs-* sees only those, in
every form a request can name indices (wildcards, aliases, encodings, multi-requests); denied
requests leave the cluster untouched. Also checks Ringfence's route table against the node's
own view of which REST handler ran."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import requests
from opensearchpy import OpenSearch, helpers
from opensearchpy.exceptions import AuthorizationException

from conftest import Route, requires_gateway
from test_acl import GATEWAY_OWN_CALLS, assert_forbidden, rest_actions, unchanged_handlers

ROOT = Path(__file__).resolve().parents[2]
WRITER = ("logwriter", "logwriter-secret")
READER = ("logreader", "logreader-secret")

pytestmark = requires_gateway


def client(route: Route, auth) -> OpenSearch:
    return OpenSearch(hosts=[route.target.url], http_auth=auth, timeout=60, **route.target.client_tls)


def through(route: Route, method: str, path: str, auth, **kwargs) -> requests.Response:
    return requests.request(method, route.target.url + path, auth=auth, timeout=30,
                            verify=route.target.verify, **kwargs)


def direct(route: Route, method: str, path: str, **kwargs) -> requests.Response:
    return route.direct.request(method, path, **kwargs)


def test_logstash_writer_bulk_indexes_and_nothing_else(main_route: Route):
    tag = uuid.uuid4().hex[:8]
    index, secret = f"logstash-e2e-{tag}", f"secret-e2e-{tag}"
    try:
        writer = client(main_route, WRITER)
        actions = ({"_index": index, "_id": str(i), "_source": {"n": i}} for i in range(1000))
        ok, errors = helpers.bulk(writer, actions, chunk_size=250)
        assert (ok, errors) == (1000, [])
        assert main_route.direct.count(index) == 1000

        # One forbidden item makes the whole bulk forbidden; nothing of it is written.
        mixed = [{"_index": index, "_id": "x", "_source": {}}, {"_index": secret, "_id": "y", "_source": {}}]
        with pytest.raises(AuthorizationException) as refused:
            helpers.bulk(writer, mixed)
        assert (refused.value.status_code, refused.value.error) == (403, "forbidden_response")
        assert main_route.direct.count(index) == 1000
        assert direct(main_route, "GET", f"/{index}/_doc/x").status_code == 404
        assert direct(main_route, "HEAD", f"/{secret}").status_code == 404

        # Nothing but writing: no reads, no deletes, no other index.
        before = rest_actions(main_route)
        for method, path in (("GET", f"/{index}/_search"), ("DELETE", f"/{index}"), ("PUT", f"/{secret}"),
                             ("GET", "/_cat/indices"), ("POST", f"/{index}/_delete_by_query")):
            reply = through(main_route, method, path, WRITER, json={"query": {"match_all": {}}} if method == "POST" else None)
            assert_forbidden(reply)
        unchanged_handlers(before, rest_actions(main_route))
        # The delete, the create and the delete-by-query did not happen.
        assert direct(main_route, "HEAD", f"/{index}").status_code == 200
        assert direct(main_route, "HEAD", f"/{secret}").status_code == 404
        assert main_route.direct.count(index) == 1000
    finally:
        direct(main_route, "DELETE", f"/{index}", params={"ignore_unavailable": "true"})


def test_compressed_bulk_is_inspected_and_forwarded_unchanged(main_route: Route):
    """Logstash's http_compression and Beats send gzip bulk bodies: inspected, not trusted."""
    import gzip

    tag = uuid.uuid4().hex[:8]
    index, secret = f"logstash-e2e-gz-{tag}", f"secret-e2e-gz-{tag}"
    headers = {"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"}
    try:
        good = "".join(f'{{"index":{{"_index":"{index}"}}}}\n{{"n":{i}}}\n' for i in range(100))
        reply = through(main_route, "POST", "/_bulk?refresh=true", WRITER, data=gzip.compress(good.encode()), headers=headers)
        assert reply.status_code == 200 and not reply.json()["errors"], reply.text
        assert main_route.direct.count(index) == 100
        bad = good + f'{{"index":{{"_index":"{secret}"}}}}\n{{"n":0}}\n'
        reply = through(main_route, "POST", "/_bulk", WRITER, data=gzip.compress(bad.encode()), headers=headers)
        assert_forbidden(reply)
        assert direct(main_route, "HEAD", f"/{secret}").status_code == 404
        # Its 100 allowed items were not written either.
        assert main_route.direct.count(index) == 100
        reply = through(main_route, "POST", "/_bulk", WRITER, data=good.encode(),
                        headers={**headers, "Content-Encoding": "br"})
        assert reply.status_code == 415, reply.text
        assert reply.json()["error"]["type"] == "unsupported_content_encoding_exception", reply.text
        assert main_route.direct.count(index) == 100
    finally:
        direct(main_route, "DELETE", f"/{index}", params={"ignore_unavailable": "true"})


@pytest.fixture
def log_indices(main_route: Route):
    """logs-…-a (2 docs), logs-…-b (3 docs), secret-… (4 docs), alias mixed-… over a+secret."""
    tag = uuid.uuid4().hex[:8]
    names = {"a": f"logs-e2e-{tag}-a", "b": f"logs-e2e-{tag}-b", "secret": f"secret-e2e-{tag}", "alias": f"mixed-e2e-{tag}"}
    docs = {"a": 2, "b": 3, "secret": 4}
    for key, count in docs.items():
        main_route.direct.create_index(names[key])
        body = "".join(f'{{"index":{{"_index":"{names[key]}"}}}}\n{{"n":{i},"tag":"{tag}"}}\n' for i in range(count))
        direct(main_route, "POST", "/_bulk?refresh=true", data=body, headers={"Content-Type": "application/x-ndjson"}).raise_for_status()
    direct(main_route, "POST", "/_aliases", json={"actions": [
        {"add": {"index": names["a"], "alias": names["alias"]}},
        {"add": {"index": names["secret"], "alias": names["alias"]}}]}).raise_for_status()
    time.sleep(1.5)  # the gateway's metadata refresh runs every 500 ms in this suite
    yield names, tag
    for key in ("a", "b", "secret"):
        direct(main_route, "DELETE", f"/{names[key]}", params={"ignore_unavailable": "true"})


def hits(reply: requests.Response) -> list[dict]:
    assert reply.status_code == 200, reply.text
    return reply.json()["hits"]["hits"]


def hits_of_each(reply: requests.Response) -> list[list[dict]]:
    """The hits of each search of an _msearch answer."""
    assert reply.status_code == 200, reply.text
    return [response["hits"]["hits"] for response in reply.json()["responses"]]


def test_reader_sees_only_logs_indices(main_route: Route, log_indices):
    names, tag = log_indices
    query = {"query": {"term": {"tag": tag}}, "size": 100}
    # A search over everything returns only the logs-* documents.
    for path in ("/*/_search", "/_search", "/_all/_search", f"/*e2e-{tag}*/_search"):
        found = hits(through(main_route, "POST", path, READER, json=query))
        assert sorted(h["_index"] for h in found) == sorted([names["a"]] * 2 + [names["b"]] * 3), path
    # An alias over allowed and forbidden indices yields the allowed part.
    found = hits(through(main_route, "POST", f"/{names['alias']}/_search", READER, json=query))
    assert {h["_index"] for h in found} == {names["a"]}
    # Mixed lists, also percent-encoded, are narrowed.
    for path in (f"/{names['a']},{names['secret']}/_count", f"/{names['a']}%2C{names['secret']}/_count"):
        reply = through(main_route, "GET", path, READER)
        assert (reply.status_code, reply.json().get("count")) == (200, 2), f"{path}: {reply.text}"
    # Only forbidden: exactly what the node says about a missing index.
    missing = f"nonexistent-e2e-{tag}"
    for forbidden in (names["secret"], names["secret"].replace("s", "%73", 1)):
        reply = through(main_route, "GET", f"/{forbidden}/_search", READER)
        native = direct(main_route, "GET", f"/{missing}/_search")
        assert reply.status_code == native.status_code == 404
        ours, theirs = reply.json(), native.json()
        assert ours["error"]["type"] == theirs["error"]["type"] == "index_not_found_exception"
        assert ours["error"]["reason"] == theirs["error"]["reason"].replace(missing, names["secret"])
    # A forbidden wildcard finds nothing, as a wildcard matching nothing does.
    assert hits(through(main_route, "POST", f"/secret-e2e-{tag}*/_search", READER, json=query)) == []
    # Writes are denied outright.
    assert_forbidden(through(main_route, "PUT", f"/{names['a']}/_doc/9", READER, json={}))
    assert direct(main_route, "GET", f"/{names['a']}/_doc/9").status_code == 404
    assert main_route.direct.count(names["a"]) == 2
    # _msearch and _mget are narrowed search by search and document by document (more in
    # test_bypass.py).
    msearch = f'{{"index":"{names["a"]}"}}\n{{}}\n{{"index":"{names["secret"]}"}}\n{{}}\n'
    reply = through(main_route, "POST", "/_msearch", READER, data=msearch, headers={"Content-Type": "application/x-ndjson"})
    allowed, forbidden = hits_of_each(reply)
    assert ({h["_index"] for h in allowed}, forbidden) == ({names["a"]}, []), reply.text
    secret_id = direct(main_route, "GET", f"/{names['secret']}/_search").json()["hits"]["hits"][0]["_id"]
    mget = {"docs": [{"_index": names["a"], "_id": "1"}, {"_index": names["secret"], "_id": secret_id}]}
    reply = through(main_route, "POST", "/_mget", READER, json=mget)
    assert reply.status_code == 200, reply.text
    assert all("_source" not in doc for doc in reply.json()["docs"]), reply.text
    assert reply.json()["docs"][1]["error"]["type"] == "index_not_found_exception", reply.text
    allowed_mget = {"docs": [{"_index": names["a"], "_id": "nope"}]}
    assert through(main_route, "POST", "/_mget", READER, json=allowed_mget).status_code == 200
    # Copying the forbidden index into an allowed one is a read of the forbidden one.
    admin = ("logadmin", "logadmin-secret")
    reindex = {"source": {"index": names["secret"]}, "dest": {"index": names["b"]}}
    assert_forbidden(through(main_route, "POST", "/_reindex?refresh=true", admin, json=reindex))
    assert main_route.direct.count(names["b"]) == 3
    reindex = {"source": {"index": names["a"]}, "dest": {"index": names["b"]}}
    reply = through(main_route, "POST", "/_reindex?refresh=true", admin, json=reindex)
    assert reply.status_code == 200, reply.text
    assert main_route.direct.count(names["b"]) == 5
    # Aliases: pointing an allowed alias at the forbidden index is a write on it.
    actions = {"actions": [{"add": {"index": names["secret"], "alias": f"logs-alias-{tag}"}}]}
    assert_forbidden(through(main_route, "POST", "/_aliases", admin, json=actions))
    assert direct(main_route, "HEAD", f"/_alias/logs-alias-{tag}").status_code == 404


def test_denied_requests_never_reach_the_node(main_route: Route, log_indices):
    names, _ = log_indices
    before = rest_actions(main_route)
    deleted = through(main_route, "DELETE", f"/{names['secret']}", READER)
    bulk = through(main_route, "POST", "/_bulk", WRITER, data=f'{{"index":{{"_index":"{names["secret"]}"}}}}\n{{}}\n',
                   headers={"Content-Type": "application/x-ndjson"})
    searched = through(main_route, "GET", f"/{names['secret']}/_search", READER)
    after = rest_actions(main_route)
    assert_forbidden(deleted)
    assert_forbidden(bulk)
    # A read of only a forbidden index looks like a missing one, answered by the gateway.
    assert searched.status_code == 404, searched.text
    assert searched.json()["error"]["type"] == "index_not_found_exception", searched.text
    unchanged_handlers(before, after)
    assert direct(main_route, "HEAD", f"/{names['secret']}").status_code == 200
    assert main_route.direct.count(names["secret"]) == 4


# Our API name -> the REST handler the node runs for it (RestHandler#getName()).
HANDLERS = {
    "info": "main_action",
    "cluster.health": "cluster_health_action",
    "cluster.get_settings": "cluster_get_settings_action",
    "cluster.state": "cluster_state_action",
    "nodes.info": "nodes_info_action",
    "nodes.stats": "nodes_stats_action",
    "indices.create": "create_index_action",
    "indices.exists": "get_indices_action",
    "indices.get": "get_indices_action",
    "indices.delete": "delete_index_action",
    "indices.refresh": "refresh_action",
    "indices.stats": "indices_stats_action",
    "indices.get_mapping": "get_mapping_action",
    "indices.put_mapping": "put_mapping_action",
    "indices.update_aliases": "indices_aliases_action",
    "indices.get_alias": "get_aliases_action",
    "index": "document_index_action",
    "create": "document_create_action",
    "get": "document_get_action",
    "delete": "document_delete_action",
    "update": "document_update_action",
    "bulk": "bulk_action",
    "search": "search_action",
    "count": "count_action",
    "msearch": "msearch_action",
    "mget": "document_mget_action",
    "cat.indices": "cat_indices_action",
    "cat.health": "cat_health_action",
    "delete_by_query": "delete_by_query_action",
    "reindex": "reindex_action",
    "field_caps": "field_capabilities_action",
}


def test_route_table_agrees_with_the_node(main_route: Route):
    index = f"rf-e2e-classify-{uuid.uuid4().hex[:8]}"
    dest = index + "-dest"
    ndjson = {"Content-Type": "application/x-ndjson"}
    steps = [
        ("GET", "/", None, {}),
        ("GET", "/_cluster/health", None, {}),
        ("GET", "/_cluster/settings", None, {}),
        ("GET", "/_cluster/state/master_node", None, {}),
        ("GET", "/_nodes/_all", None, {}),
        ("GET", "/_nodes/stats/_all", None, {}),
        ("PUT", f"/{index}", {"settings": {"number_of_replicas": 0}}, {}),
        ("HEAD", f"/{index}", None, {}),
        ("GET", f"/{index}", None, {}),
        ("PUT", f"/{index}/_mapping", {"properties": {"n": {"type": "long"}}}, {}),
        ("GET", f"/{index}/_mapping", None, {}),
        ("PUT", f"/{index}/_doc/1", {"n": 1}, {}),
        ("PUT", f"/{index}/_create/2", {"n": 2}, {}),
        ("POST", f"/{index}/_update/1", {"doc": {"n": 3}}, {}),
        ("GET", f"/{index}/_doc/1", None, {}),
        ("POST", "/_bulk", f'{{"index":{{"_index":"{index}"}}}}\n{{"n":4}}\n', ndjson),
        ("POST", "/_all/_refresh", None, {}),
        ("POST", f"/{index}/_search", {"query": {"match_all": {}}}, {}),
        ("GET", f"/{index}/_count", None, {}),
        ("POST", "/_msearch", f'{{"index":"{index}"}}\n{{}}\n', ndjson),
        ("POST", "/_mget", {"docs": [{"_index": index, "_id": "1"}]}, {}),
        ("GET", f"/{index}/_field_caps?fields=n", None, {}),
        ("GET", f"/{index}/_stats/_all?level=shards", None, {}),
        ("GET", "/_cat/indices?format=json", None, {}),
        ("GET", "/_cat/health", None, {}),
        ("POST", "/_aliases", {"actions": [{"add": {"index": index, "alias": index + "-alias"}}]}, {}),
        ("GET", f"/{index}/_alias", None, {}),
        ("POST", "/_reindex?refresh=true", {"source": {"index": index}, "dest": {"index": dest}}, {}),
        ("POST", f"/{index}/_delete_by_query", {"query": {"match_all": {}}}, {}),
        ("DELETE", f"/{index}/_doc/2", None, {}),
        ("DELETE", f"/{index},{dest}", None, {}),
    ]
    mismatches = []
    for method, path, body, headers in steps:
        with_body = body if isinstance(body, str) else (json.dumps(body) if body is not None else None)
        cli = [str(ROOT / "target/release/ringfence"), "classify", method, path]
        if with_body is not None:
            body_file = ROOT / "target" / "classify-body.json"
            body_file.write_text(with_body)
            cli += ["--body", str(body_file)]
        ours = json.loads(subprocess.run(cli, check=True, capture_output=True, text=True).stdout)
        before = rest_actions(main_route)
        reply = direct(main_route, method, path, data=with_body,
                       headers=headers or ({"Content-Type": "application/json"} if with_body else {}))
        assert reply.status_code < 500, f"{method} {path}: {reply.text}"
        after = rest_actions(main_route)
        ran = {k for k in after if after.get(k, 0) != before.get(k, 0)} - GATEWAY_OWN_CALLS
        expected = HANDLERS.get(ours["api"])
        if ran != {expected}:
            mismatches.append(f"{method} {path}: ringfence says {ours['api']} ({ours['action']}), node ran {sorted(ran)}")
    assert not mismatches, "\n".join(mismatches)
