"""The node behind the gateway is killed with requests in flight, stays down a while and comes
back; the gateway answers the in-flight and the new requests with JSON errors meanwhile (never
a success it made up) and recovers by itself. Named test_zz_* so it runs last: restarting the
node wipes its data (scripts/backend.sh starts every node on a fresh data path)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from conftest import Route, requires_gateway

ROOT = Path(__file__).resolve().parents[2]

pytestmark = requires_gateway

# How long the node holds each in-flight request; it is killed long before.
HELD_S = 30
# Time for the held requests to reach the node before it is killed.
IN_FLIGHT_S = 2


def flavor(route: Route) -> str:
    return "opensearch" if route.name == "main" else "elasticsearch"


def backend(command: str, route: Route) -> None:
    subprocess.run([str(ROOT / "scripts/backend.sh"), command, "--flavor", flavor(route),
                    "--port", str(route.direct.port)], check=True, timeout=300)


def kill_node(route: Route) -> None:
    """SIGKILL, as a crash or the OOM killer would: no shutdown hook, no goodbye on the
    node's connections (the pid file is where scripts/backend.sh keeps it)."""
    state = Path(os.environ.get("RINGFENCE_STATE", "/tmp/ringfence-backend"))
    pid = int((state / f"{flavor(route)}-{route.direct.port}" / "node.pid").read_text())
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while requests_reach(route.direct.url):
        assert time.monotonic() < deadline, "the killed node still answers"
        time.sleep(0.2)


def requests_reach(url: str) -> bool:
    try:
        requests.get(url, timeout=1)
        return True
    except requests.RequestException:
        return False


def assert_gateway_error(reply: requests.Response, statuses: tuple[int, ...]) -> None:
    assert reply.status_code in statuses, f"{reply.status_code} {reply.text}"
    body = reply.json()
    assert body["status"] == reply.status_code
    assert body["error"]["type"] == {
        502: "bad_gateway_exception",
        503: "no_upstream_available_exception",
        504: "gateway_timeout_exception",
    }[reply.status_code]


def test_node_killed_mid_request_then_restarted(main_route: Route, index_names):
    target, auth = main_route.target, main_route.target.auth
    assert requests.get(target.url + "/", auth=auth, timeout=10, verify=target.verify).status_code == 200
    # One node cannot hold a replica, so a write that waits for two active copies waits
    # until its timeout; so does a health check that waits for a second node.
    index = index_names.new(main_route.direct)
    reply = main_route.direct.request(
        "PUT", f"/{index}", json={"settings": {"number_of_shards": 1, "number_of_replicas": 1}}
    )
    assert reply.status_code == 200, reply.text
    held = {
        "read": ("GET", f"/_cluster/health?wait_for_nodes=2&timeout={HELD_S}s", None),
        "write": ("POST", f"/{index}/_doc?wait_for_active_shards=2&timeout={HELD_S}s",
                  {"field": "value"}),
    }

    def send(request):
        method, path, body = request
        started = time.monotonic()
        reply = requests.request(method, target.url + path, json=body, auth=auth, verify=target.verify,
                                 timeout=HELD_S + 30)
        return reply, time.monotonic() - started

    with ThreadPoolExecutor(len(held)) as pool:
        futures = {name: pool.submit(send, request) for name, request in held.items()}
        time.sleep(IN_FLIGHT_S)
        assert not any(f.done() for f in futures.values()), "the node did not hold the requests"
        kill_node(main_route)
        try:
            for name, future in futures.items():
                reply, took = future.result()
                # The node's own answer would take HELD_S; a 200 here would be made up.
                assert took < HELD_S / 2, f"{name}: {took:.1f} s"
                assert_gateway_error(reply, (502,))

            for _ in range(3):
                reply = requests.get(target.url + "/", auth=auth, timeout=10, verify=target.verify)
                assert_gateway_error(reply, (502, 503))
        finally:
            backend("stop", main_route)  # clears the dead node's pid file
            backend("start", main_route)

    # The same gateway process finds the node again by itself. Each worker keeps its own
    # view of the node and probes it every second (src/proxy/upstream.rs), so one worker may
    # still answer 503 for up to a second after another is through: recovered means every
    # answer on new connections is a 200 for two seconds in a row.
    deadline = time.monotonic() + 30
    healthy_since = None
    while healthy_since is None or time.monotonic() - healthy_since < 2:
        reply = requests.get(target.url + "/_cluster/health", auth=auth, timeout=10,
                             verify=target.verify)
        if reply.status_code != 200:
            healthy_since = None
            assert time.monotonic() < deadline, f"gateway did not recover: {reply.status_code} {reply.text}"
        elif healthy_since is None:
            healthy_since = time.monotonic()
        time.sleep(0.2)
    reply = requests.post(target.url + f"/{index}/_doc?refresh=true", json={"after": "restart"},
                          auth=auth, timeout=30, verify=target.verify)
    assert reply.status_code == 201, reply.text
