"""Fixtures for the end-to-end suite: real clients against a real cluster.

Every test sends its client traffic to a *target* URL (later: Ringfence in front of the
cluster) and checks the outcome by asking the cluster *directly*. Environment:

  E2E_TARGET                 URL the clients talk to; default: E2E_DIRECT
  E2E_DIRECT                 URL of the backend itself; default: http://127.0.0.1:9200
  E2E_USER, E2E_PASSWORD     basic auth that every client sends to the target (optional)
  E2E_CA_CERT                CA bundle for an https target (optional)
  E2E_ES_TARGET, E2E_ES_DIRECT
                             the same pair for an Elasticsearch 7.17 node; the tests that need
                             it are skipped when E2E_ES_TARGET is unset
  E2E_WITH_ES=0              run.sh starts no Elasticsearch node: its tests skip, and only
                             those skips are allowed
  E2E_CERTS                  the directory tests/e2e/certs.sh filled (test_tls.py)
  E2E_SECURED_URL, E2E_SECURED_CA, E2E_SECURED_USER, E2E_SECURED_PASSWORD
                             an OpenSearch node with the Security plugin (https, passwords),
                             its CA and the gateway's service user there (test_tls.py)
  E2E_WITH_SECURED=0         run.sh starts no such node: the tests that need it skip, and
                             only those skips are allowed
  E2E_ALLOW_SKIP=1           allow every skip (by default a skipped test fails the run: a
                             test that did not run proved nothing)

The direct URL is always used without credentials (those backends have no security plugin;
the one that has, E2E_SECURED_URL, is only used by test_tls.py).
"""

from __future__ import annotations

import os
import socket
import ssl
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

E2E_DIR = Path(__file__).resolve().parent
DEFAULT_DIRECT = "http://127.0.0.1:9200"
# Cluster-side timeout for the checks made directly against the backend.
DIRECT_TIMEOUT_S = 60


# Skip reasons that can be allowed without E2E_ALLOW_SKIP=1, each by its own switch.
NO_ES_NODE = "E2E_WITH_ES=0: no Elasticsearch 7.17 node in this run"
NO_GATEWAY = "needs Ringfence in front (tests/e2e/run.sh)"
NO_SECURED = "E2E_WITH_SECURED=0: no OpenSearch node with the Security plugin in this run"

# Tests that drive the gateway itself (its users, its errors) and so cannot run against a
# bare backend; they skip when run.sh was told E2E_GATEWAY=0.
requires_gateway = pytest.mark.skipif(os.environ.get("E2E_GATEWAY_CONTROL") != "1", reason=NO_GATEWAY)


def skip_allowed(reason: str) -> bool:
    """Whether a skip with this reason may pass: only the ones the run asked for."""
    if os.environ.get("E2E_ALLOW_SKIP") == "1":
        return True
    if reason == NO_ES_NODE:
        return os.environ.get("E2E_WITH_ES") == "0"
    if reason == NO_GATEWAY:
        return os.environ.get("E2E_GATEWAY") == "0"
    if reason == NO_SECURED:
        return os.environ.get("E2E_WITH_SECURED") == "0"
    return False


_skipped: list[tuple[str, str]] = []


def pytest_runtest_logreport(report) -> None:
    if report.skipped and not hasattr(report, "wasxfail"):
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        _skipped.append((report.nodeid, reason.removeprefix("Skipped: ")))


def _refused_skips() -> list[tuple[str, str]]:
    return [(nodeid, reason) for nodeid, reason in _skipped if not skip_allowed(reason)]


def pytest_sessionfinish(session, exitstatus) -> None:
    """A skip nobody allowed fails the run (in CI a test that did not run is a failure)."""
    if _refused_skips() and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter) -> None:
    refused = _refused_skips()
    if refused:
        terminalreporter.section("skipped tests fail the run", red=True)
        for nodeid, reason in refused:
            terminalreporter.line(f"SKIPPED (not allowed) {nodeid}: {reason}")
        terminalreporter.line("set E2E_ALLOW_SKIP=1 to allow skips (E2E_WITH_ES=0 allows only "
                              "the Elasticsearch ones, E2E_GATEWAY=0 only the gateway ones)")


@dataclass(frozen=True)
class Endpoint:
    """One HTTP endpoint of a cluster, with the credentials a client should send to it."""

    url: str
    user: str | None = None
    password: str | None = None
    ca_cert: str | None = None

    @property
    def scheme(self) -> str:
        return urlsplit(self.url).scheme

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        parts = urlsplit(self.url)
        return parts.port or (443 if parts.scheme == "https" else 80)

    @property
    def auth(self) -> tuple[str, str] | None:
        return (self.user, self.password or "") if self.user else None

    @property
    def verify(self) -> str | bool:
        return self.ca_cert or True

    @property
    def client_tls(self) -> dict:
        """Keyword arguments that make opensearch-py / elasticsearch-py verify an https target."""
        if self.scheme != "https":
            return {}
        return {"use_ssl": True, "verify_certs": True, "ca_certs": self.ca_cert}

    def connect(self, timeout: float) -> socket.socket:
        """A raw connection for hand-written requests: TLS, verified against ca_cert, for https."""
        conn = socket.create_connection((self.host, self.port), timeout=timeout)
        if self.scheme != "https":
            return conn
        context = ssl.create_default_context(cafile=self.ca_cert)
        return context.wrap_socket(conn, server_hostname=self.host)

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        """A plain `requests` call, used for setup and for checking results."""
        kwargs.setdefault("timeout", DIRECT_TIMEOUT_S)
        return requests.request(
            method, self.url.rstrip("/") + path, auth=self.auth, verify=self.verify, **kwargs
        )

    def count(self, index: str) -> int:
        self.request("POST", f"/{index}/_refresh").raise_for_status()
        reply = self.request("GET", f"/{index}/_count")
        reply.raise_for_status()
        return reply.json()["count"]

    def create_index(self, index: str, mappings: dict | None = None) -> None:
        # One shard, no replica: a single node turns green and search order is stable.
        body: dict = {"settings": {"number_of_shards": 1, "number_of_replicas": 0}}
        if mappings:
            body["mappings"] = mappings
        reply = self.request("PUT", f"/{index}", json=body)
        assert reply.status_code == 200, reply.text


@dataclass(frozen=True)
class Route:
    """A cluster as seen through the target and directly."""

    name: str
    target: Endpoint
    direct: Endpoint


def _route_from_env(name: str, target_var: str, direct_var: str, direct_default: str | None):
    direct_url = os.environ.get(direct_var) or direct_default
    target_url = os.environ.get(target_var) or direct_url
    if not target_url:
        return None
    target = Endpoint(
        url=target_url,
        user=os.environ.get("E2E_USER") or None,
        password=os.environ.get("E2E_PASSWORD"),
        ca_cert=os.environ.get("E2E_CA_CERT") or None,
    )
    return Route(name=name, target=target, direct=Endpoint(url=direct_url or target_url))


def _check_reachable(route: Route) -> None:
    try:
        requests.get(route.direct.url, timeout=5).raise_for_status()
    except requests.RequestException as exc:
        pytest.fail(
            f"{route.name}: backend {route.direct.url} does not answer ({exc}); "
            "start it with scripts/backend.sh start or use tests/e2e/run.sh"
        )


@pytest.fixture(scope="session")
def main_route() -> Route:
    """E2E_TARGET / E2E_DIRECT: the cluster the gateway fronts (OpenSearch by default)."""
    route = _route_from_env("main", "E2E_TARGET", "E2E_DIRECT", DEFAULT_DIRECT)
    _check_reachable(route)
    return route


@pytest.fixture(scope="session")
def es_route() -> Route:
    """E2E_ES_TARGET / E2E_ES_DIRECT: an Elasticsearch 7.17 node."""
    route = _route_from_env("es", "E2E_ES_TARGET", "E2E_ES_DIRECT", None)
    if route is None and os.environ.get("E2E_WITH_ES") == "0":
        pytest.skip(NO_ES_NODE)
    if route is None:
        pytest.skip(
            "E2E_ES_TARGET is not set: no Elasticsearch 7.17 node to test against "
            "(scripts/backend.sh start --flavor elasticsearch --port 9201, then "
            "E2E_ES_TARGET=http://127.0.0.1:9201)"
        )
    _check_reachable(route)
    return route


@pytest.fixture(params=["main", "es"])
def route(request) -> Route:
    """Runs a test once against each configured cluster ("es" is skipped when not set)."""
    return request.getfixturevalue(f"{request.param}_route")


class IndexNames:
    """Hands out unique index names and deletes those indices (directly) after the test."""

    def __init__(self, label: str):
        self._label = label
        self._created: list[tuple[Endpoint, str]] = []

    def new(self, direct: Endpoint, suffix: str = "") -> str:
        name = f"rf-e2e-{self._label}{'-' + suffix if suffix else ''}-{uuid.uuid4().hex[:8]}"
        self._created.append((direct, name))
        return name

    def cleanup(self) -> None:
        for direct, name in self._created:
            try:
                direct.request("DELETE", f"/{name}", params={"ignore_unavailable": "true"})
            except requests.RequestException:
                pass  # the backend may be gone; a fresh start wipes its data anyway


@pytest.fixture
def index_names(request):
    # The test's own name (without parameters) makes leftover indices easy to attribute.
    names = IndexNames(request.node.originalname.removeprefix("test_").replace("_", "-")[:30])
    yield names
    names.cleanup()
