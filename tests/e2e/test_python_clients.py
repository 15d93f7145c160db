"""The official Python clients bulk-index 10,000 documents through the target.

The documents carry no _id, so the cluster generates one per copy it receives: a request that
the path between client and cluster duplicated or replayed shows up as extra documents, and a
dropped one as missing documents. Each document has a unique `uid`, checked directly on the
backend by count, cardinality and sum.
"""

from __future__ import annotations

import elasticsearch
import elasticsearch.helpers
import opensearchpy
import opensearchpy.helpers
import pytest

from conftest import Endpoint, Route

DOCS = 10_000
CHUNK_DOCS = 500
CLIENT_TIMEOUT_S = 60


def actions(index: str):
    for uid in range(DOCS):
        yield {"_index": index, "_source": {"uid": uid, "body": f"message number {uid}"}}


def assert_each_uid_once(direct: Endpoint, index: str) -> None:
    assert direct.count(index) == DOCS
    # cardinality is exact below its precision_threshold (max 40000), so it counts distinct
    # uids here; with count == DOCS and the sum of 0..DOCS-1, every uid is present exactly once.
    query = {
        "size": 0,
        "aggs": {
            "distinct": {"cardinality": {"field": "uid", "precision_threshold": 40_000}},
            "sum": {"sum": {"field": "uid"}},
            "min": {"min": {"field": "uid"}},
            "max": {"max": {"field": "uid"}},
        },
    }
    reply = direct.request("POST", f"/{index}/_search", json=query)
    reply.raise_for_status()
    aggs = reply.json()["aggregations"]
    assert aggs["distinct"]["value"] == DOCS
    assert aggs["sum"]["value"] == DOCS * (DOCS - 1) / 2
    assert (aggs["min"]["value"], aggs["max"]["value"]) == (0, DOCS - 1)


def client_kwargs(target: Endpoint) -> dict:
    kwargs = {"hosts": [target.url], "timeout": CLIENT_TIMEOUT_S}
    if target.auth:
        kwargs["http_auth"] = target.auth
    if target.scheme == "https":
        kwargs.update(use_ssl=True, verify_certs=True, ca_certs=target.ca_cert)
    return kwargs


def test_opensearch_py_bulk(main_route: Route, index_names):
    index = index_names.new(main_route.direct)
    client = opensearchpy.OpenSearch(**client_kwargs(main_route.target))
    assert "version" in client.info()
    client.indices.create(index=index, body={"settings": {"number_of_shards": 1, "number_of_replicas": 0}})

    ok, errors = opensearchpy.helpers.bulk(client, actions(index), chunk_size=CHUNK_DOCS)
    assert (ok, errors) == (DOCS, [])
    client.indices.refresh(index=index)
    assert client.count(index=index)["count"] == DOCS
    assert_each_uid_once(main_route.direct, index)


# elasticsearch-py 7.13.4 is the newest 7.x client that does not require the
# X-Elastic-Product header, so it also talks to OpenSearch; run it against both clusters.
@pytest.mark.parametrize("route", ["es", "main"], indirect=True)
def test_elasticsearch_py_bulk(route: Route, index_names):
    index = index_names.new(route.direct)
    client = elasticsearch.Elasticsearch(**client_kwargs(route.target))
    assert "version" in client.info()
    client.indices.create(index=index, body={"settings": {"number_of_shards": 1, "number_of_replicas": 0}})

    ok, errors = elasticsearch.helpers.bulk(client, actions(index), chunk_size=CHUNK_DOCS)
    assert (ok, errors) == (DOCS, [])
    client.indices.refresh(index=index)
    assert client.count(index=index)["count"] == DOCS
    assert_each_uid_once(route.direct, index)
