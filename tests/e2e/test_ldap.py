"""LDAP users in front of the real node (issue 15): a readonlyrest.yml with an `ldaps:`
definition and `ldap_auth` / `ldap_authentication` + `ldap_authorization` blocks, a real slapd
(tests/ldap/slapd.sh with tests/ldap/fixture.ldif), and opensearch-py as the client.

cartman is in group1 and group2 (the admins block: anything); bong is in group3 through group1
(nested: reads `e2e-ldap-*` only); morgan is in no group. With the directory stopped, users the
gateway already knows keep working from its cache; anyone else gets 503 naming the directory.
"""

from __future__ import annotations

import socket
import subprocess
import time
import uuid

import opensearchpy
import pytest

from conftest import E2E_DIR, requires_gateway
from test_tls import binary, direct, free_port, gateways  # noqa: F401 (fixtures)

pytestmark = requires_gateway

SLAPD = E2E_DIR.parent / "ldap" / "slapd.sh"


@pytest.fixture
def directory(tmp_path):
    """A slapd on a free port; `directory.stop()` / `directory.start()` for the down phase."""

    class Directory:
        port = free_port()
        process: subprocess.Popen | None = None

        def start(self) -> None:
            log = (tmp_path / "slapd.log").open("ab")
            self.process = subprocess.Popen([str(SLAPD), str(tmp_path / "slapd"), str(self.port)],
                                            stdout=log, stderr=log, stdin=subprocess.DEVNULL)
            deadline = time.monotonic() + 10
            while True:
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                    return
                except OSError:
                    assert self.process.poll() is None, (tmp_path / "slapd.log").read_text()
                    assert time.monotonic() < deadline, "slapd did not listen"
                    time.sleep(0.05)

        def stop(self) -> None:
            if self.process and self.process.poll() is None:
                self.process.kill()
                self.process.wait()

    d = Directory()
    d.start()
    yield d
    d.stop()


def policy(upstream: str, ldap_port: int) -> str:
    return f"""
gateway:
  listen: ["127.0.0.1:@PORT@"]
  upstreams: ["{upstream}"]
  workers: 1
  admin:
    listen: "127.0.0.1:@ADMIN_PORT@"
readonlyrest:
  access_control_rules:
  - name: admins
    ldap_auth: {{name: ldap1, groups_all_of: ["group1", "group2"]}}
  - name: nested readers
    ldap_authentication: ldap1
    ldap_authorization: {{name: ldap1, groups_any_of: ["group3"]}}
    actions: ["indices:data/read/*", "indices:admin/get", "indices:monitor/*"]
    indices: ["e2e-ldap-*"]
  ldaps:
  - name: ldap1
    host: 127.0.0.1
    port: {ldap_port}
    ssl_enabled: false
    bind_dn: "cn=admin,dc=example,dc=com"
    bind_password: "admin-secret"
    search_user_base_DN: "ou=People,dc=example,dc=com"
    user_id_attribute: uid
    search_groups_base_DN: "ou=Groups,dc=example,dc=com"
    unique_member_attribute: uniqueMember
    nested_groups_depth: 1
    connection_timeout: 1 s
    request_timeout: 2 s
    circuit_breaker: {{max_retries: 2, reset_duration: 2 s}}
"""


def client(gateway, user: str, password: str) -> opensearchpy.OpenSearch:
    return opensearchpy.OpenSearch(f"http://{gateway.address}", http_auth=(user, password),
                                   timeout=15, max_retries=0)


def test_ldap_users_index_and_search_through_the_gateway(gateways, direct, directory):
    gateway = gateways(policy(direct.url, directory.port))
    index = f"e2e-ldap-{uuid.uuid4().hex[:8]}"
    admin = client(gateway, "cartman", "user1")
    try:
        admin.index(index=index, body={"message": "from an LDAP user"}, id="1", refresh=True)
        reader = client(gateway, "bong", "user2")
        assert reader.search(index=index)["hits"]["total"]["value"] == 1
        with pytest.raises(opensearchpy.AuthorizationException):
            reader.index(index=index, body={"message": "a reader writes"}, id="2")
        with pytest.raises(opensearchpy.AuthorizationException):
            client(gateway, "morgan", "user3").search(index=index)
        for user, password in (("cartman", "wrong"), ("cartman", ""), ("*", "user1")):
            with pytest.raises(opensearchpy.AuthenticationException):
                client(gateway, user, password).search(index=index)

        # The directory goes down: known users are served from the cache, anyone else gets a
        # clear 503 at once.
        directory.stop()
        assert reader.search(index=index)["hits"]["total"]["value"] == 1
        started = time.monotonic()
        with pytest.raises(opensearchpy.TransportError) as down:
            client(gateway, "stan", "user4").search(index=index)
        assert down.value.status_code == 503
        assert "LDAP ldap1" in str(down.value.info), down.value.info
        assert time.monotonic() - started < 5

        # Back: after the breaker's reset the directory answers again (stan is in no group).
        directory.start()
        deadline = time.monotonic() + 15
        while True:
            try:
                client(gateway, "stan", "user4").search(index=index)
                pytest.fail("stan is in no group")
            except opensearchpy.AuthorizationException:
                break
            except opensearchpy.TransportError as e:
                assert e.status_code == 503 and time.monotonic() < deadline, e
                time.sleep(0.2)
    finally:
        opensearchpy.OpenSearch(direct.url).indices.delete(index=index, ignore_unavailable=True)
