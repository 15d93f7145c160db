"""The ACL through the gateway, against the real node: who may do what, and proof that a
denied request never reached the cluster (the node's own REST handler counters and its data
are unchanged)."""

from __future__ import annotations

import json

import requests

from conftest import Route, requires_gateway

pytestmark = requires_gateway


# Handlers that run between two counter reads without any test request: our own
# _nodes/usage reads, and the gateway's background metadata refresh (_resolve/index, the
# indices' pipeline settings, the index and component templates, the ingest pipelines).
GATEWAY_OWN_CALLS = {
    "nodes_usage_action",
    "resolve_index_action",
    "get_settings_action",
    "get_composable_index_template_action",
    "get_index_template_action",
    "get_component_template_action",
    "ingest_get_pipeline_action",
}


def rest_actions(route: Route) -> dict[str, int]:
    """Per-REST-handler counters of the node, summed over nodes (GET /_nodes/usage)."""
    usage = route.direct.request("GET", "/_nodes/usage").json()
    totals: dict[str, int] = {}
    for node in usage["nodes"].values():
        for name, count in node.get("rest_actions", {}).items():
            totals[name] = totals.get(name, 0) + count
    return totals


def through(route: Route, method: str, path: str, auth=None, **kwargs) -> requests.Response:
    return requests.request(method, route.target.url + path, auth=auth, timeout=30,
                            verify=route.target.verify, **kwargs)


def assert_forbidden(reply: requests.Response, due_to: str = "OPERATION_NOT_ALLOWED") -> dict:
    """The gateway's own 403: ReadonlyREST's `forbidden_response` JSON error."""
    assert reply.status_code == 403, f"{reply.status_code} {reply.text}"
    error = reply.json()["error"]
    assert (error["type"], error["root_cause"][0]["type"]) == ("forbidden_response", "forbidden_response"), reply.text
    assert error["due_to"] == due_to, reply.text
    assert reply.json()["status"] == 403, reply.text
    return error


def unchanged_handlers(before: dict[str, int], after: dict[str, int]) -> None:
    """No REST handler of the node ran between the two reads but the gateway's own calls."""
    changed = {k for k in set(before) | set(after) if before.get(k, 0) != after.get(k, 0)}
    assert changed <= GATEWAY_OWN_CALLS, changed


def test_no_credentials_and_wrong_password_get_a_basic_challenge(main_route: Route):
    for auth in (None, ("e2e", "wrong"), ("nobody", "x")):
        reply = through(main_route, "GET", "/_cluster/health", auth=auth)
        assert reply.status_code == 401, reply.text
        assert reply.headers["www-authenticate"] == 'Basic realm="ringfence"'
        error = reply.json()["error"]
        assert error["type"] == "forbidden_response"
        assert error["root_cause"][0]["type"] == "forbidden_response"


def test_reader_reads_but_cannot_write(main_route: Route, index_names):
    index = index_names.new(main_route.direct)
    reader = ("reader", "reader-secret")
    assert through(main_route, "GET", "/_cluster/health", auth=reader).status_code == 200

    before = rest_actions(main_route)
    created = through(main_route, "PUT", f"/{index}", auth=reader, json={})
    bulk = through(main_route, "POST", "/_bulk", auth=reader,
                   data=f'{{"index":{{"_index":"{index}"}}}}\n{{"a":1}}\n',
                   headers={"Content-Type": "application/x-ndjson"})
    after = rest_actions(main_route)

    for reply in (created, bulk):
        assert_forbidden(reply, "OPERATION_NOT_ALLOWED")
    assert main_route.direct.request("HEAD", f"/{index}").status_code == 404
    # Nothing reached the node: the create-index and bulk handlers did not run.
    unchanged_handlers(before, after)


def test_forbid_block_message_and_other_users_pass(main_route: Route, index_names):
    protected = index_names.new(main_route.direct, "x").replace("rf-e2e", "protected-rf-e2e")
    writer = ("writer", "writer-secret")
    before = rest_actions(main_route)
    reply = through(main_route, "PUT", f"/{protected}", auth=writer, json={})
    after = rest_actions(main_route)
    error = assert_forbidden(reply, "FORBIDDEN_BY_BLOCK")
    assert error["reason"] == "protected indices are read-only"
    assert main_route.direct.request("HEAD", f"/{protected}").status_code == 404
    unchanged_handlers(before, after)

    ordinary = index_names.new(main_route.direct)
    reply = through(main_route, "PUT", f"/{ordinary}", auth=writer,
                    json={"settings": {"number_of_replicas": 0}})
    assert reply.status_code == 200, reply.text
    assert main_route.direct.request("HEAD", f"/{ordinary}").status_code == 200


def test_bad_framing_is_refused_before_the_cluster(main_route: Route):
    """A request smuggling attempt gets a 400 JSON error from the gateway itself."""
    raw = (b"POST /_bulk HTTP/1.1\r\nHost: x\r\nAuthorization: Basic ZTJlOmUyZS1zZWNyZXQ=\r\n"
           b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    with main_route.target.connect(timeout=10) as conn:
        conn.sendall(raw)
        reply = b""
        while chunk := conn.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), head
    error = json.loads(body)["error"]
    assert error["type"] == "illegal_argument_exception", body
    assert error["reason"] == "request has both Content-Length and Transfer-Encoding", body
