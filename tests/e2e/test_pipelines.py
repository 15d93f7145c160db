"""Ingest pipelines that can reroute writes, against the real node: a Logstash-style writer
(logstash-* only) may not use a pipeline that sets `_index`, by name or as an index's default
pipeline, nor one the gateway does not know; the document never reaches the node, and the
secret index the pipeline points at stays empty. A user who may write anything (the suite's
own, no `indices` rule) is not affected: its write is rerouted, which proves the pipeline
really moves documents."""

from __future__ import annotations

import json
import time
import uuid

import requests

from conftest import Route, requires_gateway
from test_acl import assert_forbidden, rest_actions, unchanged_handlers

WRITER = ("logwriter", "logwriter-secret")
# How long the gateway may take to see new metadata (it refreshes every 500 ms).
REFRESH_WAIT_S = 10

pytestmark = requires_gateway


def through(route: Route, method: str, path: str, auth, **kwargs) -> requests.Response:
    return requests.request(method, route.target.url + path, auth=auth, timeout=30,
                            verify=route.target.verify, **kwargs)


def bulk(route: Route, auth, index: str, pipeline: str | None = None) -> requests.Response:
    action = {"_index": index} | ({"pipeline": pipeline} if pipeline else {})
    body = json.dumps({"index": action}) + '\n{"message": "m"}\n'
    return through(route, "POST", "/_bulk", auth, data=body,
                   headers={"Content-Type": "application/x-ndjson"})


def test_pipeline_that_sets_index_is_refused_to_a_restricted_writer(main_route: Route):
    direct = main_route.direct
    tag = uuid.uuid4().hex[:8]
    secret, logs, routed = f"secret-e2e-{tag}", f"logstash-e2e-{tag}", f"logstash-e2e-routed-{tag}"
    reroute, add_field = f"rf-e2e-reroute-{tag}", f"rf-e2e-add-field-{tag}"
    try:
        direct.create_index(secret)
        direct.create_index(logs)
        # An index whose default pipeline reroutes; created before the pipelines, so the
        # refresh that shows the gateway the pipelines has seen its settings too.
        reply = direct.request("PUT", f"/{routed}", json={"settings": {
            "number_of_shards": 1, "number_of_replicas": 0, "index.default_pipeline": reroute}})
        assert reply.status_code == 200, reply.text
        for name, processor in ((reroute, {"set": {"field": "_index", "value": secret}}),
                                (add_field, {"set": {"field": "tag", "value": "added"}})):
            reply = direct.request("PUT", f"/_ingest/pipeline/{name}", json={"processors": [processor]})
            assert reply.status_code == 200, reply.text

        # The harmless pipeline is usable once the gateway has read it (before, it is unknown).
        deadline = time.monotonic() + REFRESH_WAIT_S
        while True:
            reply = through(main_route, "PUT", f"/{logs}/_doc/1?pipeline={add_field}", WRITER,
                            json={"message": "m"})
            if reply.status_code != 403 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert reply.status_code == 201, reply.text
        assert direct.request("GET", f"/{logs}/_doc/1").json()["_source"]["tag"] == "added"

        before = rest_actions(main_route)
        refused = [
            through(main_route, "PUT", f"/{logs}/_doc/2?pipeline={reroute}", WRITER, json={"message": "m"}),
            through(main_route, "PUT", f"/{logs}/_doc/3?pipeline=rf-e2e-no-such-{tag}", WRITER,
                    json={"message": "m"}),
            bulk(main_route, WRITER, logs, pipeline=reroute),
            through(main_route, "POST", f"/_bulk?pipeline={reroute}", WRITER,
                    data=f'{{"index":{{"_index":"{logs}"}}}}\n{{}}\n',
                    headers={"Content-Type": "application/x-ndjson"}),
            # The index's own default pipeline reroutes.
            through(main_route, "PUT", f"/{routed}/_doc/4", WRITER, json={"message": "m"}),
            bulk(main_route, WRITER, routed),
        ]
        after = rest_actions(main_route)
        for reply in refused:
            assert_forbidden(reply)
        # None of it reached the node: no index or bulk handler ran, nothing landed anywhere.
        unchanged_handlers(before, after)
        assert direct.count(secret) == 0
        assert direct.count(routed) == 0
        assert direct.count(logs) == 1

        # Someone who may write anything is not affected, and the pipeline does move documents.
        reply = through(main_route, "PUT", f"/{routed}/_doc/5", main_route.target.auth, json={"message": "m"})
        assert reply.status_code == 201, reply.text
        assert reply.json()["_index"] == secret
        assert direct.count(secret) == 1
    finally:
        for name in (reroute, add_field):
            direct.request("DELETE", f"/_ingest/pipeline/{name}")
        for index in (secret, logs, routed):
            direct.request("DELETE", f"/{index}", params={"ignore_unavailable": "true"})
