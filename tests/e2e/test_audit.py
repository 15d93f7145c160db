"""The audit trail and the admin listener against a real node (issue 11): requests from real
clients (opensearch-py, requests, a raw socket for a smuggling attempt) through the gateway
appear in both sinks, a JSON-lines file and an index on a separate audit node, with the right event
type and fields; no password or Authorization value appears in any output; `/metrics` parses
with the Prometheus text parser and its counters move with traffic; `/health` and `/ready`
answer.

run.sh starts each gateway with its own audit file (E2E_AUDIT_FILE, E2E_ES_AUDIT_FILE), its own
admin port (E2E_ADMIN_URL, E2E_ES_ADMIN_URL) and its log (E2E_GATEWAY_LOG); both write their
audit index on the node at E2E_AUDIT_DIRECT."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

import pytest
import requests
from opensearchpy import OpenSearch
from opensearchpy.exceptions import AuthorizationException
from prometheus_client.parser import text_string_to_metric_families

from conftest import Route, requires_gateway

pytestmark = requires_gateway

SUITE = ("e2e", "e2e-secret")
READER = ("reader", "reader-secret")  # GET/HEAD only; its block has `verbosity: error`
PASSWORDS = ["e2e-secret", "reader-secret", "writer-secret", "not-the-password"]
# The index sink batches for up to 2 s; the node refreshes every second.
INDEX_WAIT_S = 30


def env_path(route: Route, name: str) -> Path:
    prefix = "E2E_ES_" if route.name == "es" else "E2E_"
    return Path(os.environ[prefix + name])


def admin_url(route: Route) -> str:
    return os.environ["E2E_ES_ADMIN_URL" if route.name == "es" else "E2E_ADMIN_URL"]


def correlated(route: Route, method: str, path: str, auth, correlation: str, **kwargs):
    headers = {"x-ror-correlation-id": correlation, **kwargs.pop("headers", {})}
    return requests.request(method, route.target.url + path, auth=auth, headers=headers, timeout=30,
                            verify=route.target.verify, **kwargs)


def file_events(route: Route, correlation: str, count: int = 1) -> list[dict]:
    """The events in the audit file with this correlation id (waits for the writer's flush)."""
    path = env_path(route, "AUDIT_FILE")
    deadline = time.monotonic() + 10
    while True:
        events = [json.loads(line) for line in path.read_text().splitlines() if correlation in line]
        events = [e for e in events if e.get("correlation_id") == correlation]
        if len(events) >= count or time.monotonic() > deadline:
            return events
        time.sleep(0.2)


def index_events(correlation: str, count: int = 1) -> list[dict]:
    """The events the index sink wrote, found directly on the audit node."""
    audit = os.environ["E2E_AUDIT_DIRECT"]
    deadline = time.monotonic() + INDEX_WAIT_S
    while True:
        requests.post(audit + "/ringfence_audit-*/_refresh", timeout=30)
        found = requests.post(
            audit + "/ringfence_audit-*/_search", timeout=30,
            json={"query": {"term": {"correlation_id.keyword": correlation}}, "size": 50})
        hits = found.json().get("hits", {}).get("hits", []) if found.status_code == 200 else []
        if len(hits) >= count or time.monotonic() > deadline:
            return [hit["_source"] for hit in hits]
        time.sleep(0.5)


def client(route: Route, auth, correlation: str) -> OpenSearch:
    return OpenSearch([route.target.url], http_auth=auth, timeout=30,
                      headers={"x-ror-correlation-id": correlation}, **route.target.client_tls)


def test_allowed_and_denied_requests_from_real_clients_reach_both_sinks(route: Route) -> None:
    granted, denied = f"granted-{uuid.uuid4()}", f"denied-{uuid.uuid4()}"
    assert client(route, SUITE, granted).info()
    with pytest.raises(AuthorizationException):
        client(route, READER, denied).indices.create(index=f"rf-e2e-audit-{uuid.uuid4().hex}")
    [allowed] = file_events(route, granted)
    assert allowed["type"] == "access_granted"
    assert allowed["final_state"] == "ALLOWED"
    assert allowed["matched_block_names"] == ["The suite's clients"]
    assert allowed["logged_user"] == "e2e"
    assert allowed["action"] == "cluster:monitor/main"
    assert allowed["req_method"] == "GET"
    assert allowed["path"] == "/"
    assert allowed["origin"].startswith("127.0.0.1")
    assert allowed["processingMillis"] >= 0
    assert "authorization" in [h.lower() for h in allowed["headers"]]
    [refused] = file_events(route, denied)
    assert refused["type"] == "access_denied"
    assert refused["final_state"] == "FORBIDDEN"
    assert refused["presented_identity"] == "reader"
    assert refused["action"] == "indices:admin/create"
    assert refused["status"] in (401, 403)
    assert [e["type"] for e in index_events(granted)] == ["access_granted"]
    assert [e["type"] for e in index_events(denied)] == ["access_denied"]


def test_each_event_type_has_its_cause(route: Route) -> None:
    wrong, anonymous, tampered = (f"{kind}-{uuid.uuid4()}" for kind in ("wrong", "anonymous", "tampered"))
    assert correlated(route, "GET", "/", ("e2e", "not-the-password"), wrong).status_code == 401
    assert correlated(route, "GET", "/", None, anonymous).status_code == 401
    with route.target.connect(timeout=10) as raw:
        raw.sendall(f"POST /_bulk HTTP/1.1\r\nHost: x\r\nx-ror-correlation-id: {tampered}\r\n"
                    "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".encode())
        assert raw.recv(4096).startswith(b"HTTP/1.1 400")
    [failed] = file_events(route, wrong)
    assert failed["type"] == "authentication_failed"
    assert failed["presented_identity"] == "e2e"
    assert "logged_user" not in failed or failed["logged_user"] is None
    [anon] = file_events(route, anonymous)
    assert anon["type"] == "anonymous_access_denied"
    [smuggled] = file_events(route, tampered)
    assert smuggled["type"] == "tampered_request"
    assert smuggled["final_state"] == "ERRORED"
    assert smuggled["status"] == 400


def test_allowed_events_of_a_quiet_block_are_not_logged_but_its_denials_are(route: Route) -> None:
    quiet, loud = f"quiet-{uuid.uuid4()}", f"loud-{uuid.uuid4()}"
    # One connection, so one worker and one queue: the denial is written after the allowed
    # request would have been.
    with requests.Session() as session:
        for method, path, correlation, statuses in (("GET", "/", quiet, (200,)),
                                                    ("DELETE", "/rf-e2e-nothing-here", loud, (401, 403))):
            reply = session.request(method, route.target.url + path, auth=READER, timeout=30,
                                    verify=route.target.verify,
                                    headers={"x-ror-correlation-id": correlation})
            assert reply.status_code in statuses, reply.text
    assert len(file_events(route, loud)) == 1
    assert quiet not in env_path(route, "AUDIT_FILE").read_text()


def test_no_credential_appears_in_any_output(route: Route) -> None:
    marker = f"secret-sweep-{uuid.uuid4()}"
    for auth in (SUITE, READER, ("e2e", "not-the-password")):
        correlated(route, "GET", "/_search", auth, marker)
    assert file_events(route, marker, 3)
    outputs = {
        "audit file": env_path(route, "AUDIT_FILE").read_text(),
        "gateway log": env_path(route, "GATEWAY_LOG").read_text(),
        "audit index": json.dumps(index_events(marker, 3)),
    }
    tokens = [requests.auth._basic_auth_str(*auth).split(" ", 1)[1]
              for auth in (SUITE, READER, ("e2e", "not-the-password"))]
    for name, text in outputs.items():
        for secret in PASSWORDS + tokens:
            assert secret not in text, f"{secret!r} in the {name}"


def scrape(route: Route) -> dict[tuple[str, tuple], float]:
    text = requests.get(admin_url(route) + "/metrics", timeout=10).text
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def total(samples: dict, name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in samples.items()
               if n == name and all(dict(ls).get(k) == want for k, want in labels.items()))


def test_metrics_parse_and_move_with_traffic(route: Route) -> None:
    before = scrape(route)
    for _ in range(5):
        assert correlated(route, "GET", "/", SUITE, "metrics").status_code == 200
        assert correlated(route, "PUT", "/rf-e2e-metrics", READER, "metrics").status_code in (401, 403)
    def moved(after: dict) -> tuple[float, float]:
        allowed = total(after, "ringfence_requests_total", outcome="allowed") - \
            total(before, "ringfence_requests_total", outcome="allowed")
        denied = sum(total(after, "ringfence_requests_total", outcome=o) - total(before, "ringfence_requests_total", outcome=o)
                     for o in ("forbidden", "no_match", "unauthorized"))
        return allowed, denied

    # A request is counted once complete, just after its answer went out.
    deadline = time.monotonic() + 5
    after = scrape(route)
    while min(moved(after)) < 5 and time.monotonic() < deadline:
        time.sleep(0.1)
        after = scrape(route)
    allowed, denied = moved(after)
    assert allowed >= 5
    assert denied >= 5
    assert total(after, "ringfence_request_duration_seconds_count") > \
        total(before, "ringfence_request_duration_seconds_count")
    assert total(after, "ringfence_upstream_up") >= 1


def test_health_and_readiness(route: Route) -> None:
    health = requests.get(admin_url(route) + "/health", timeout=10)
    assert health.status_code == 200
    ready = requests.get(admin_url(route) + "/ready", timeout=10)
    assert ready.status_code == 200, ready.text
