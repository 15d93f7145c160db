"""Authorization bypasses found against a real OpenSearch 2.19 node (issue 10), each replayed
through the gateway against the real node: the forbidden documents are not in the answer and
the forbidden write did not happen (checked on the node directly, and with its REST handler
counters where the gateway must answer by itself). The cases where Elasticsearch 7.17 reads a
request differently (date math, remote names, _msearch/_mget bodies) run against both nodes.

Every secret document carries a marker (`TOPSECRET-<tag>`, upper case, so it is never part of
an index name an error message may repeat): "no secret data" is "the marker is not in the
answer"."""

from __future__ import annotations

import gzip
import json
import time
import uuid
from base64 import b64encode
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import pytest
import requests

from conftest import Route, requires_gateway
from test_acl import assert_forbidden, rest_actions, unchanged_handlers

pytestmark = requires_gateway

MIXER = ("mixer", "mixer-secret")  # forbid secret*, then anything
READER = ("logreader", "logreader-secret")  # reads logs-*, everything else narrowed away
ADMIN = ("logadmin", "logadmin-secret")  # anything, on logs-* only
SMALL = ("smallbody", "smallbody-secret")  # logs-*, bodies up to 1000 bytes
SUITE = ("e2e", "e2e-secret")  # anything
MIXER_MESSAGE = "secret indices are off limits"
NDJSON = {"Content-Type": "application/x-ndjson"}
# The gateway refreshes its view of the cluster every 500 ms in this suite (gateway.yml).
METADATA_REFRESH_S = 1.5


def through(route: Route, method: str, path: str, auth, **kwargs) -> requests.Response:
    return requests.request(method, route.target.url + path, auth=auth, timeout=30,
                            verify=route.target.verify, **kwargs)


def direct(route: Route, method: str, path: str, **kwargs) -> requests.Response:
    return route.direct.request(method, path, **kwargs)


def ndjson(*lines: dict) -> str:
    return "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines)


def seed(route: Route, index: str, docs: list[dict]) -> None:
    """Creates `index` directly with `docs` (ids "0", "1", ...), searchable at once."""
    route.direct.create_index(index)
    body = "".join(ndjson({"index": {"_index": index, "_id": str(i)}}, doc) for i, doc in enumerate(docs))
    reply = direct(route, "POST", "/_bulk?refresh=true", data=body, headers=NDJSON)
    assert reply.status_code == 200 and not reply.json()["errors"], reply.text


def exists(route: Route, index: str) -> bool:
    status = direct(route, "HEAD", f"/{index}").status_code
    assert status in (200, 404), status
    return status == 200


def delete_indices(route: Route, *names: str) -> None:
    for name in names:
        direct(route, "DELETE", f"/{name}", params={"ignore_unavailable": "true"})


def forbidden_by_mixer_block(reply: requests.Response) -> None:
    error = assert_forbidden(reply, "FORBIDDEN_BY_BLOCK")
    assert error["reason"] == MIXER_MESSAGE, reply.text


class Data:
    """logs-e2e-<tag>-a (2 docs), secret-e2e-<tag>-1 (3 docs with the marker), their names."""

    def __init__(self, route: Route):
        self.tag = uuid.uuid4().hex[:8]
        self.marker = f"TOPSECRET-{self.tag}"
        self.logs = f"logs-e2e-{self.tag}-a"
        self.secret = f"secret-e2e-{self.tag}-1"
        self.created = [self.logs, self.secret]
        seed(route, self.logs, [{"n": i, "tag": self.tag} for i in range(2)])
        seed(route, self.secret, [{"n": i, "tag": self.tag, "secret": self.marker} for i in range(3)])

    def no_secret(self, reply: requests.Response) -> None:
        assert self.marker not in reply.text, reply.text


@pytest.fixture
def data(route: Route):
    made = Data(route)
    time.sleep(METADATA_REFRESH_S)
    yield made
    delete_indices(route, *made.created)


@pytest.fixture
def main_data(main_route: Route):
    made = Data(main_route)
    time.sleep(METADATA_REFRESH_S)
    yield made
    delete_indices(main_route, *made.created)


def raw_exchange(route: Route, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Sends `request` bytes on a fresh connection to the gateway; status, headers, body."""
    with route.target.connect(timeout=30) as conn:
        conn.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            assert chunk, f"connection closed before a response head: {data!r}"
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = conn.recv(65536)
            assert chunk, f"connection closed inside the body: {body!r}"
            body += chunk
    return status, headers, body[:length]


def basic(auth: tuple[str, str]) -> bytes:
    return b"Authorization: Basic " + b64encode(f"{auth[0]}:{auth[1]}".encode()) + b"\r\n"


# 1. A forbid block matches when the request touches any name it matches: next to allowed
#    names, in an _msearch/_mget/_bulk body, in a DELETE list, through an alias or a wildcard.


def test_forbid_block_matches_any_overlap(route: Route, data: Data):
    other = f"other-e2e-{data.tag}-1"
    secret_x = f"secret-e2e-{data.tag}-x"
    alias = f"logs-all-e2e-{data.tag}"
    data.created += [other, secret_x]
    route.direct.create_index(other)
    route.direct.create_index(secret_x)
    direct(route, "POST", "/_aliases", json={"actions": [{"add": {"index": data.secret, "alias": alias}}]}).raise_for_status()
    time.sleep(METADATA_REFRESH_S)

    # Control: the allow block after the forbid block lets the mixer read logs, also through
    # a wildcard that does not match the alias.
    for path in (f"/{data.logs}/_search", f"/logs-e2e-{data.tag}*/_search"):
        reply = through(route, "GET", path, MIXER)
        assert reply.status_code == 200 and len(reply.json()["hits"]["hits"]) == 2, f"{path}: {reply.text}"

    before = rest_actions(route)
    refused = {
        "msearch, one search naming both": through(
            route, "POST", "/_msearch", MIXER, headers=NDJSON,
            data=ndjson({"index": f"{data.secret},{data.logs}"}, {})),
        "msearch, one search each": through(
            route, "POST", "/_msearch", MIXER, headers=NDJSON,
            data=ndjson({"index": data.logs}, {}, {"index": data.secret}, {})),
        "msearch, secret in the path": through(
            route, "POST", f"/{data.logs},{data.secret}/_msearch", MIXER, headers=NDJSON, data=ndjson({}, {})),
        "mget": through(route, "POST", "/_mget", MIXER, json={"docs": [
            {"_index": data.logs, "_id": "0"}, {"_index": data.secret, "_id": "0"}]}),
        "bulk": through(route, "POST", "/_bulk", MIXER, headers=NDJSON, data=ndjson(
            {"index": {"_index": data.logs, "_id": "new"}}, {"n": 9},
            {"index": {"_index": data.secret, "_id": "new"}}, {"n": 9})),
        "delete, literal and wildcard": through(route, "DELETE", f"/{secret_x},other-e2e-{data.tag}*", MIXER),
        "delete, overlapping wildcard": through(route, "DELETE", f"/other-e2e-{data.tag}*,sec*-e2e-{data.tag}-*", MIXER),
        "alias by name": through(route, "GET", f"/{alias}/_search", MIXER),
        "alias through a wildcard": through(route, "GET", "/logs-*/_search", MIXER),
    }
    after = rest_actions(route)
    for what, reply in refused.items():
        try:
            forbidden_by_mixer_block(reply)
        except AssertionError as e:
            raise AssertionError(f"{what}: {e}") from None
        data.no_secret(reply)
    unchanged_handlers(before, after)
    # Nothing written, nothing deleted.
    assert exists(route, secret_x) and exists(route, other)
    assert exists(route, data.secret) and exists(route, data.logs)
    assert direct(route, "GET", f"/{data.logs}/_doc/new").status_code == 404
    assert direct(route, "GET", f"/{data.secret}/_doc/new").status_code == 404
    assert (route.direct.count(data.logs), route.direct.count(data.secret)) == (2, 3)


# 2. _msearch and _mget are narrowed search by search and document by document.


def test_msearch_and_mget_are_narrowed_per_subrequest(route: Route, data: Data):
    by_tag = {"query": {"term": {"tag": data.tag}}, "size": 100}
    reply = through(route, "POST", "/_msearch", READER, headers=NDJSON, data=ndjson(
        {"index": "logs-*"}, by_tag, {"index": data.secret}, by_tag))
    assert reply.status_code == 200, reply.text
    data.no_secret(reply)
    logs, secret = reply.json()["responses"]
    assert sorted(h["_index"] for h in logs["hits"]["hits"]) == [data.logs] * 2, reply.text
    # The secret search was rewritten to a pattern that matches nothing: the node's empty
    # answer, no shard searched.
    assert (secret["status"], secret["_shards"]["total"], secret["hits"]["hits"]) == (200, 0, []), reply.text

    reply = through(route, "POST", "/_mget", READER, json={"docs": [
        {"_index": data.logs, "_id": "0"}, {"_index": data.secret, "_id": "0"}]})
    assert reply.status_code == 200, reply.text
    data.no_secret(reply)
    logs_doc, secret_doc = reply.json()["docs"]
    assert (logs_doc["_index"], logs_doc["found"], logs_doc["_source"]["n"]) == (data.logs, True, 0), reply.text
    # The secret document was asked from an index that does not exist.
    assert "_source" not in secret_doc and "found" not in secret_doc, reply.text
    assert (secret_doc["_id"], secret_doc["error"]["type"]) == ("0", "index_not_found_exception"), reply.text

    # Searches that name no index read the path's indices, or all indices: only logs.
    for path in ("/_msearch", f"/{data.logs},{data.secret}/_msearch", "/*/_msearch"):
        reply = through(route, "POST", path, READER, headers=NDJSON, data=ndjson({}, by_tag))
        assert reply.status_code == 200, f"{path}: {reply.text}"
        data.no_secret(reply)
        (only,) = reply.json()["responses"]
        assert sorted(h["_index"] for h in only["hits"]["hits"]) == [data.logs] * 2, f"{path}: {reply.text}"
    # _mget with the secret index in the path and documents that name none.
    reply = through(route, "POST", f"/{data.secret}/_mget", READER, json={"ids": ["0", "1"]})
    assert reply.status_code == 200, reply.text
    data.no_secret(reply)
    docs = reply.json()["docs"]
    assert [(d["_id"], d["error"]["type"]) for d in docs] == [("0", "index_not_found_exception"), ("1", "index_not_found_exception")], reply.text


# 3. Remote-cluster names: a local pattern never grants `cluster:index`.


@pytest.fixture
def remote_to_itself(route: Route):
    """The node's remote cluster `logs-dc2` is the node itself (so `logs-dc2:secret-…` is
    really the secret index); removed afterwards."""
    nodes = direct(route, "GET", "/_nodes/_local/transport").json()["nodes"]
    (address,) = [node["transport"]["publish_address"] for node in nodes.values()]
    settings = {"persistent": {"cluster.remote.logs-dc2.seeds": [address]}}
    direct(route, "PUT", "/_cluster/settings", json=settings).raise_for_status()
    try:
        yield "logs-dc2"
    finally:
        settings = {"persistent": {"cluster.remote.logs-dc2.seeds": None}}
        direct(route, "PUT", "/_cluster/settings", json=settings).raise_for_status()
        assert direct(route, "GET", "/_remote/info").json() == {}


def test_remote_cluster_names_never_reach_a_remote(route: Route, data: Data, remote_to_itself: str):
    remote = f"{remote_to_itself}:{data.secret}"
    # The node itself answers the remote name with the secret documents: what the old
    # bypass forwarded.
    native = direct(route, "GET", f"/{remote}/_search")
    assert native.status_code == 200 and data.marker in native.text, native.text

    before = rest_actions(route)
    named = through(route, "GET", f"/{remote}/_search", READER)
    after = rest_actions(route)
    # Only a name it does not grant: the gateway's own index_not_found, the node never asked.
    assert named.status_code == 404, named.text
    assert named.json()["error"]["type"] == "index_not_found_exception", named.text
    assert named.json()["error"]["index"] == remote, named.text
    data.no_secret(named)
    unchanged_handlers(before, after)

    # A remote wildcard is narrowed to a local pattern that matches nothing: the node's
    # empty answer, without the `_clusters` section every cross-cluster search has.
    for path in ("/logs-*:*/_search", f"/{remote_to_itself}:*/_search", f"/{data.logs},*:secret*/_search"):
        reply = through(route, "GET", path, READER)
        assert reply.status_code == 200, f"{path}: {reply.text}"
        data.no_secret(reply)
        assert "_clusters" not in reply.json(), f"{path}: {reply.text}"
        assert all(h["_index"] == data.logs for h in reply.json()["hits"]["hits"]), f"{path}: {reply.text}"

    # In an _msearch body too.
    reply = through(route, "POST", "/_msearch", READER, headers=NDJSON, data=ndjson(
        {"index": remote}, {}, {"index": "logs-*:*"}, {}))
    assert reply.status_code == 200, reply.text
    data.no_secret(reply)
    for response in reply.json()["responses"]:
        assert "_clusters" not in response and response.get("hits", {}).get("hits", []) == [], reply.text

    # A forbid block on secret* matches a remote name whose index part it could match.
    before = rest_actions(route)
    for path in (f"/{remote}/_search", "/*:secret*/_search", f"/{remote_to_itself}:s*/_search"):
        reply = through(route, "GET", path, MIXER)
        forbidden_by_mixer_block(reply)
    unchanged_handlers(before, rest_actions(route))


# 4. Date math: evaluated as the node evaluates it, denied when it cannot be evaluated.


def test_date_math_is_evaluated_or_denied(route: Route, data: Data):
    now = datetime.now(timezone.utc)
    # The node evaluates {now/d} a moment after the test: near midnight, have both days.
    days = [now] + ([now + timedelta(days=1)] if now.hour == 23 and now.minute >= 55 else [])
    for day in days:
        stamp = day.strftime("%Y.%m.%d")
        logs_day, secret_day = f"logs-e2e-{data.tag}-{stamp}", f"secret-e2e-{data.tag}-{stamp}"
        data.created += [logs_day, secret_day]
        seed(route, logs_day, [{"n": i, "tag": data.tag} for i in range(2)])
        seed(route, secret_day, [{"n": 0, "secret": data.marker}])
    # {now/d{yyyy|Europe/Paris}}: the year in Paris (differs from UTC's an hour a year).
    paris_years = {(now + timedelta(hours=h)).strftime("%Y") for h in (1, 2)}
    for year in paris_years:
        data.created.append(f"logs-e2e-{data.tag}-{year}")
        seed(route, f"logs-e2e-{data.tag}-{year}", [{"n": 0, "tag": data.tag}])
    time.sleep(METADATA_REFRESH_S)

    secret_today = quote(f"<secret-e2e-{data.tag}-{{now/d}}>", safe="")
    logs_today = quote(f"<logs-e2e-{data.tag}-{{now/d}}>", safe="")
    logs_paris = quote(f"<logs-e2e-{data.tag}-{{now/d{{yyyy|Europe/Paris}}}}>", safe="")
    # What the names mean to the node.
    native = direct(route, "GET", f"/{secret_today}/_search")
    assert native.status_code == 200 and data.marker in native.text, native.text
    native = direct(route, "GET", f"/{logs_paris}/_search")
    assert native.status_code == 200 and len(native.json()["hits"]["hits"]) == 1, native.text

    before = rest_actions(route)
    secret = through(route, "GET", f"/{secret_today}/_search", MIXER)
    # A forbid block matches date math it cannot evaluate, whatever its prefix.
    paris_by_mixer = through(route, "GET", f"/{logs_paris}/_search", MIXER)
    paris_by_reader = through(route, "GET", f"/{logs_paris}/_search", READER)
    after = rest_actions(route)
    forbidden_by_mixer_block(secret)
    forbidden_by_mixer_block(paris_by_mixer)
    # An allow block does not grant it: a read of nothing granted, answered as a missing index.
    assert paris_by_reader.status_code == 404, paris_by_reader.text
    assert paris_by_reader.json()["error"]["type"] == "index_not_found_exception", paris_by_reader.text
    for reply in (secret, paris_by_mixer, paris_by_reader):
        data.no_secret(reply)
    unchanged_handlers(before, after)

    reply = through(route, "GET", f"/{logs_today}/_search", READER)
    assert reply.status_code == 200, reply.text
    found = reply.json()["hits"]["hits"]
    assert len(found) == 2 and all(h["_index"].startswith(f"logs-e2e-{data.tag}-20") for h in found), reply.text


# 5. A Connection header that names Content-Encoding would have the body forwarded undecoded
#    after the gateway inspected it decoded.


def test_connection_naming_content_encoding_is_refused(main_route: Route, index_names):
    index = index_names.new(main_route.direct)
    body = gzip.compress(ndjson({"index": {"_index": index}}, {"n": 1}).encode())
    request = (b"POST /_bulk HTTP/1.1\r\nHost: x\r\n" + basic(SUITE)
               + b"Content-Type: application/x-ndjson\r\nContent-Encoding: gzip\r\n"
               + b"Connection: content-encoding\r\n"
               + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    before = rest_actions(main_route)
    status, _, reply = raw_exchange(main_route, request)
    after = rest_actions(main_route)
    assert status == 400, reply
    error = json.loads(reply)["error"]
    assert error["type"] == "illegal_argument_exception", reply
    assert "Content-Encoding" in error["reason"] and "Connection" in error["reason"], reply
    unchanged_handlers(before, after)
    assert not exists(main_route, index)
    # Control: the same request without that Connection header goes through.
    status, _, reply = raw_exchange(main_route, request.replace(b"Connection: content-encoding", b"Connection: close"))
    assert status == 200 and not json.loads(reply)["errors"], reply
    assert main_route.direct.count(index) == 1


# 6. max_body_length limits the body the node reads, inflated.


def test_max_body_length_counts_the_decoded_body(main_route: Route, main_data: Data):
    def search(pad: int) -> bytes:
        query = {"query": {"bool": {"must_not": [{"term": {"pad": "x" * pad}}]}}}
        return json.dumps(query).encode()

    large, small = search(5000), search(440)
    assert len(large) > 5000 and len(gzip.compress(large)) < 1000 and len(small) <= 500
    path = f"/{main_data.logs}/_search"
    before = rest_actions(main_route)
    for body, headers in ((gzip.compress(large), {"Content-Encoding": "gzip"}), (large, {})):
        reply = through(main_route, "POST", path, SMALL, data=body,
                        headers={"Content-Type": "application/json", **headers})
        assert_forbidden(reply)
    unchanged_handlers(before, rest_actions(main_route))
    for body, headers in ((small, {}), (gzip.compress(small), {"Content-Encoding": "gzip"})):
        reply = through(main_route, "POST", path, SMALL, data=body,
                        headers={"Content-Type": "application/json", **headers})
        assert reply.status_code == 200 and len(reply.json()["hits"]["hits"]) == 2, reply.text


# 7. Request targets without a leading slash: the node reads `_cluster/health` as
#    `/_cluster/health` and `*` as every index.


def test_slashless_targets_mean_what_the_node_reads(main_route: Route, main_data: Data):
    status, _, body = raw_exchange(main_route, b"GET _cluster/health HTTP/1.1\r\nHost: x\r\n"
                                   + basic(SUITE) + b"Connection: close\r\n\r\n")
    assert status == 200 and json.loads(body)["status"] in ("green", "yellow"), body

    before = rest_actions(main_route)
    status, _, body = raw_exchange(main_route, b"DELETE * HTTP/1.1\r\nHost: x\r\n"
                                   + basic(ADMIN) + b"Connection: close\r\n\r\n")
    after = rest_actions(main_route)
    assert status == 403, body
    error = json.loads(body)["error"]
    assert (error["type"], error["due_to"]) == ("forbidden_response", "OPERATION_NOT_ALLOWED"), body
    unchanged_handlers(before, after)
    assert exists(main_route, main_data.logs) and exists(main_route, main_data.secret)
    assert main_route.direct.count(main_data.secret) == 3

    # Control: a slash-less delete of a logs index the admin may delete is done.
    status, _, body = raw_exchange(main_route, f"DELETE {main_data.logs} HTTP/1.1\r\nHost: x\r\n".encode()
                                   + basic(ADMIN) + b"Connection: close\r\n\r\n")
    assert status == 200 and json.loads(body) == {"acknowledged": True}, body
    assert not exists(main_route, main_data.logs)


# 8. A body in the `source` query parameter is read like a request body.


def source_msearch(data: Data) -> dict[str, str]:
    by_tag = {"query": {"term": {"tag": data.tag}}, "size": 100}
    source = ndjson({"index": data.logs}, by_tag, {"index": data.secret}, by_tag)
    return {"source": source, "source_content_type": "application/x-ndjson"}


def assert_only_logs_answered(reply: requests.Response, data: Data) -> None:
    data.no_secret(reply)
    assert reply.status_code == 200, reply.text
    logs, secret = reply.json()["responses"]
    assert [h["_index"] for h in logs["hits"]["hits"]] == [data.logs] * 2, reply.text
    assert (secret["status"], secret["_shards"]["total"], secret["hits"]["hits"]) == (200, 0, []), reply.text


def test_source_parameter_bodies_are_narrowed(route: Route, data: Data):
    # The client also states the type as a header: the node reads the rewritten body with it.
    reply = through(route, "GET", "/_msearch", READER, params=source_msearch(data),
                    headers={"Content-Type": "application/x-ndjson"})
    assert_only_logs_answered(reply, data)

    # Elasticsearch requires source_content_type with source; the gateway asks for it too.
    params = source_msearch(data)
    del params["source_content_type"]
    before = rest_actions(route)
    reply = through(route, "GET", "/_msearch", READER, params=params)
    after = rest_actions(route)
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert (error["type"], error["reason"]) == (
        "illegal_argument_exception", "source and source_content_type parameters are required"), reply.text
    unchanged_handlers(before, after)


def test_source_parameter_without_content_type_header(route: Route, data: Data):
    # How clients send it: the type only in source_content_type.
    reply = through(route, "GET", "/_msearch", READER, params=source_msearch(data))
    data.no_secret(reply)
    assert_only_logs_answered(reply, data)


# 9. Template listings show only the templates whose index patterns the reader is granted.


@pytest.fixture
def templates(main_route: Route):
    tag = uuid.uuid4().hex[:8]
    names = {"logs": f"logs-t-{tag}", "secret": f"secret-t-{tag}"}
    patterns = {"logs": f"logs-e2e-{tag}-*", "secret": f"secret-e2e-{tag}-*"}
    for key in names:
        body = {"index_patterns": [patterns[key]], "template": {"settings": {"number_of_replicas": 0}}}
        direct(main_route, "PUT", f"/_index_template/{names[key]}", json=body).raise_for_status()
    time.sleep(METADATA_REFRESH_S)
    yield names
    for name in names.values():
        direct(main_route, "DELETE", f"/_index_template/{name}")


def test_template_listings_show_only_granted_templates(main_route: Route, templates: dict):
    # logreader's actions (@read) include no template reads; logadmin (anything on logs-*)
    # is the reader here.
    natively = {t["name"] for t in direct(main_route, "GET", "/_index_template").json()["index_templates"]}
    assert {templates["logs"], templates["secret"]} <= natively

    reply = through(main_route, "GET", "/_index_template", ADMIN)
    assert reply.status_code == 200, reply.text
    listed = {t["name"] for t in reply.json()["index_templates"]}
    assert templates["logs"] in listed and templates["secret"] not in listed, reply.text
    reply = through(main_route, "GET", "/_cat/templates", ADMIN, params={"format": "json"})
    assert reply.status_code == 200, reply.text
    listed = {t["name"] for t in reply.json()}
    assert templates["logs"] in listed and templates["secret"] not in listed, reply.text
    assert "secret-e2e" not in reply.text, reply.text
    reply = through(main_route, "GET", f"/_index_template/*-t-{templates['logs'][7:]}", ADMIN)
    assert reply.status_code == 200, reply.text
    assert [t["name"] for t in reply.json()["index_templates"]] == [templates["logs"]], reply.text

    # A forbid block on secret* matches a listing that would show its patterns.
    before = rest_actions(main_route)
    for path in ("/_index_template", "/_cat/templates?format=json"):
        forbidden_by_mixer_block(through(main_route, "GET", path, MIXER))
    assert_forbidden(through(main_route, "GET", "/_index_template", READER))
    unchanged_handlers(before, rest_actions(main_route))
