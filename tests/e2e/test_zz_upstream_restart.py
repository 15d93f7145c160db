"""The node behind the gateway goes away and comes back; the gateway answers with JSON errors
meanwhile and recovers by itself. Named test_zz_* so it runs last: restarting the node wipes
its data (scripts/backend.sh starts every node on a fresh data path)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import requests

from conftest import Route, requires_gateway

ROOT = Path(__file__).resolve().parents[2]

pytestmark = requires_gateway


def backend(command: str, route: Route) -> None:
    flavor = "opensearch" if route.name == "main" else "elasticsearch"
    subprocess.run([str(ROOT / "scripts/backend.sh"), command, "--flavor", flavor,
                    "--port", str(route.direct.port)], check=True, timeout=300)


def test_upstream_stop_and_restart(main_route: Route):
    auth = main_route.target.auth
    assert requests.get(main_route.target.url + "/", auth=auth, timeout=10).status_code == 200
    backend("stop", main_route)
    try:
        for _ in range(3):
            reply = requests.get(main_route.target.url + "/", auth=auth, timeout=10)
            assert reply.status_code in (502, 503), reply.text
            body = reply.json()
            assert body["status"] == reply.status_code
            assert body["error"]["type"] in ("bad_gateway_exception", "no_upstream_available_exception")
    finally:
        backend("start", main_route)
    deadline = time.monotonic() + 30
    while True:
        reply = requests.get(main_route.target.url + "/_cluster/health", auth=auth, timeout=10)
        if reply.status_code == 200:
            break
        assert time.monotonic() < deadline, f"gateway did not recover: {reply.status_code} {reply.text}"
        time.sleep(0.5)
