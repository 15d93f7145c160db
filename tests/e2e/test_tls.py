"""TLS on both sides of the gateway (issue 12), with real TLS clients.

Each test starts gateways of its own ($RINGFENCE_BIN, default target/release/ringfence) on free
ports, with a config written for it, in front of the plain node (E2E_DIRECT) or the node with
the Security plugin (E2E_SECURED_URL: https and passwords). Certificates are the ones
tests/e2e/certs.sh made (E2E_CERTS): the suite's CA, a server certificate for 127.0.0.1 and
localhost (PEM, PKCS#12 and JKS), client certificates CN=pki-alice / CN=pki-bob,OU=ops,O=Example
and a pki-alice certificate from a CA nobody trusts.

The TLS clients are curl and `openssl s_client` (what an operator would reach for) and Python's
ssl module for load and raw bytes.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import ssl
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from conftest import E2E_DIR, NO_SECURED, Endpoint, requires_gateway

pytestmark = requires_gateway

ROOT = E2E_DIR.parent.parent
USER, PASSWORD = "e2e", "e2e-secret"
P12_PASSWORD = "changeit"
# A gateway that does not listen within this long did not start.
START_TIMEOUT_S = 20
# Every client call is bounded: a hang is a failure, not a stuck run.
CLIENT_TIMEOUT_S = 15
# What the gateway's watcher is told (gateway.policy_watch_ms) and how long a reload may take.
WATCH_MS = 200
RELOAD_TIMEOUT_S = 10
# ReadonlyREST's documented pattern: the CN of an RFC 4514 DN, most specific first.
CN_PATTERN = "CN=(.*?)(?:,|$)"
ALICE_DN = "CN=pki-alice,OU=ops,O=Example"


@pytest.fixture(scope="module")
def certs() -> Path:
    directory = os.environ.get("E2E_CERTS")
    if not directory:
        directory = subprocess.run([str(E2E_DIR / "certs.sh")], check=True, capture_output=True,
                                   text=True).stdout.strip().splitlines()[-1]
    return Path(directory)


@pytest.fixture(scope="module")
def binary() -> str:
    path = os.environ.get("RINGFENCE_BIN") or str(ROOT / "target/release/ringfence")
    assert os.access(path, os.X_OK), f"{path} is not an executable (cargo build --release)"
    return path


@pytest.fixture(scope="module")
def direct() -> Endpoint:
    return Endpoint(url=os.environ.get("E2E_DIRECT") or "http://127.0.0.1:9200")


@pytest.fixture(scope="module")
def secured() -> Endpoint:
    """The node with the Security plugin, as admin (to prepare and check)."""
    if os.environ.get("E2E_WITH_SECURED") == "0":
        pytest.skip(NO_SECURED)
    url = os.environ.get("E2E_SECURED_URL")
    assert url, "E2E_SECURED_URL is not set: start tests/e2e/run.sh (or scripts/backend.sh " \
                "start --flavor opensearch-secured) or set E2E_WITH_SECURED=0"
    return Endpoint(url=url, user="admin",
                    password=os.environ.get("E2E_SECURED_ADMIN_PASSWORD", "admin-secret"),
                    ca_cert=os.environ["E2E_SECURED_CA"])


def handler_counts(node: Endpoint) -> dict[str, int]:
    """Per-REST-handler counters of the node, summed over nodes (GET /_nodes/usage)."""
    totals: dict[str, int] = {}
    for usage in node.request("GET", "/_nodes/usage").json()["nodes"].values():
        for name, count in usage.get("rest_actions", {}).items():
            totals[name] = totals.get(name, 0) + count
    return totals


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Gateway:
    """One ringfence process on a config of its own; stopped by the `gateways` fixture."""

    binary: str
    workdir: Path
    config_text: str
    port: int = field(default_factory=free_port)
    admin_port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def config(self) -> Path:
        return self.workdir / "ringfence.yml"

    @property
    def log(self) -> Path:
        return self.workdir / "ringfence.log"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"https://{self.address}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def write_config(self) -> None:
        self.config.write_text(fill_ports(self.config_text, self.port, self.admin_port))

    def start(self) -> Gateway:
        self.write_config()
        self.process = subprocess.Popen(
            [self.binary, "run", "--config", str(self.config)],
            stdout=self.log.open("wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=self.workdir,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                pass
            if self.process.poll() is not None:
                pytest.fail(f"ringfence exited with {self.process.returncode}:\n{self.log_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"ringfence did not listen on {self.address}:\n{self.log_text()}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def sighup(self) -> None:
        assert self.process and self.process.poll() is None, self.log_text()
        self.process.send_signal(signal.SIGHUP)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def metric(self, name: str) -> float:
        """The sum of every series of a counter on the admin /metrics page (0 when absent)."""
        text = requests.get(self.admin_url + "/metrics", timeout=CLIENT_TIMEOUT_S).text
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name) and line[len(name):len(name) + 1] in (" ", "{"):
                total += float(line.rsplit(" ", 1)[1])
        return total


@pytest.fixture
def gateways(binary, tmp_path):
    """gateways(config_text) starts a gateway; all of them are stopped after the test."""
    started: list[Gateway] = []

    def start(config_text: str, name: str | None = None) -> Gateway:
        workdir = tmp_path / (name or f"gw{len(started)}")
        workdir.mkdir()
        gateway = Gateway(binary=binary, workdir=workdir, config_text=config_text)
        started.append(gateway)
        return gateway.start()

    yield start
    for gateway in started:
        gateway.stop()


def fill_ports(text: str, port: int, admin_port: int) -> str:
    return text.replace("@PORT@", str(port)).replace("@ADMIN_PORT@", str(admin_port))


def config(*, upstream: str, ssl_lines: str, rules: str | None = None, gateway_lines: str = "",
           listen_scheme: str = "https") -> str:
    """A gateway config; @PORT@ and @ADMIN_PORT@ are filled in by Gateway. `ssl_lines` are the
    keys of readonlyrest.ssl (indented four spaces), `rules` the access_control_rules items."""
    rules = rules or f"""
  - name: "The suite"
    auth_key: "{USER}:{PASSWORD}"
"""
    return f"""
gateway:
  listen: ["{listen_scheme}://127.0.0.1:@PORT@"]
  upstreams: ["{upstream}"]
  workers: 2
  metadata_refresh_ms: 500
  policy_watch_ms: {WATCH_MS}
  admin:
    listen: "127.0.0.1:@ADMIN_PORT@"
{gateway_lines}
readonlyrest:
  prompt_for_basic_auth: false
  ssl:
    enable: true
{ssl_lines}
  access_control_rules:
{rules}
"""


def pem_lines(certs: Path, cert: str = "server.pem", key: str = "server-key.pem") -> str:
    return f"""    server_certificate_file: "{certs / cert}"
    server_certificate_key_file: "{certs / key}"
"""


# --- clients -------------------------------------------------------------------------------

@dataclass
class CurlResult:
    exit_code: int
    status: int | None
    body: str
    stderr: str


def curl(url: str, *args: str, auth: tuple[str, str] | None = (USER, PASSWORD),
         ca: Path | None = None) -> CurlResult:
    """curl with credentials on stdin (`--config -`), the status code appended to the body."""
    command = ["curl", "-sS", "-v", "--max-time", str(CLIENT_TIMEOUT_S), "--config", "-",
               "-w", "\n%{http_code}"]
    if ca:
        command += ["--cacert", str(ca)]
    command += [*args, url]
    stdin = f'user = "{auth[0]}:{auth[1]}"\n' if auth else ""
    done = subprocess.run(command, input=stdin, capture_output=True, text=True,
                          timeout=CLIENT_TIMEOUT_S + 5)
    body, _, code = done.stdout.rpartition("\n")
    status = int(code) if code.isdigit() and code != "000" else None
    return CurlResult(done.returncode, status, body, done.stderr)


def s_client(address: str, *args: str, ca: Path, request: bytes = b"") -> str:
    """`openssl s_client` output (stdout and stderr). With `request`, it is sent and the
    connection read until the server closes it (-ign_eof), which also collects TLS 1.3
    session tickets."""
    command = ["openssl", "s_client", "-connect", address, "-CAfile", str(ca), "-verify_return_error",
               *args]
    if request:
        command.append("-ign_eof")
    done = subprocess.run(command, input=request, capture_output=True, timeout=CLIENT_TIMEOUT_S + 5)
    return (done.stdout + done.stderr).decode(errors="replace")


def served_serial(address: str, ca: Path) -> str:
    """The serial of the certificate a new connection is served (openssl x509 -serial)."""
    out = subprocess.run(["openssl", "s_client", "-connect", address, "-CAfile", str(ca),
                          "-servername", "localhost"],
                         input=b"", capture_output=True, timeout=CLIENT_TIMEOUT_S).stdout
    serial = subprocess.run(["openssl", "x509", "-noout", "-serial"], input=out,
                            capture_output=True, timeout=CLIENT_TIMEOUT_S)
    assert serial.returncode == 0, serial.stderr
    return serial.stdout.decode().strip().removeprefix("serial=")


def file_serial(path: Path) -> str:
    return subprocess.run(["openssl", "x509", "-noout", "-serial", "-in", str(path)],
                          capture_output=True, text=True, check=True).stdout.strip().removeprefix("serial=")


def issue_server_cert(certs: Path, out_cert: Path, out_key: Path, new_key: bool) -> str:
    """A new certificate for 127.0.0.1/localhost from the suite's CA, with a fresh serial;
    `new_key=False` reuses out_key. Written next to the targets and renamed over them (the key
    first), as a deployment tool would. Returns the serial."""
    work = out_cert.parent
    key = work / "next-key.pem"
    if new_key:
        subprocess.run(["openssl", "genpkey", "-quiet", "-algorithm", "EC", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-out", str(key)], check=True)
    else:
        key.write_bytes(out_key.read_bytes())
    csr = work / "next.csr"
    subprocess.run(["openssl", "req", "-new", "-key", str(key), "-subj",
                    "/O=Example/OU=Ringfence e2e/CN=localhost", "-out", str(csr)], check=True)
    ext = work / "next.ext"
    ext.write_text("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                   "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n")
    cert = work / "next.pem"
    subprocess.run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(certs / "ca.pem"),
                    "-CAkey", str(certs / "ca-key.pem"), "-set_serial",
                    "0x" + uuid.uuid4().hex, "-sha256", "-days", "30", "-extfile", str(ext),
                    "-out", str(cert)], check=True, capture_output=True)
    if new_key:
        key.replace(out_key)
    cert.replace(out_cert)
    return file_serial(out_cert)


def wait_for_serial(gateway: Gateway, ca: Path, serial: str) -> None:
    deadline = time.monotonic() + RELOAD_TIMEOUT_S
    while (seen := served_serial(gateway.address, ca)) != serial:
        assert time.monotonic() < deadline, \
            f"new connections still get serial {seen}, not {serial}:\n{gateway.log_text()}"
        time.sleep(0.2)


# --- protocol versions, ALPN, ciphers, keystores ---------------------------------------------

def test_tls12_and_tls13_with_alpn_http11(gateways, certs, direct):
    gw = gateways(config(upstream=direct.url, ssl_lines=pem_lines(certs)))
    ca = certs / "ca.pem"

    tls12 = curl(gw.url + "/", "--tlsv1.2", "--tls-max", "1.2", ca=ca)
    assert tls12.status == 200, tls12.stderr
    assert "SSL connection using TLSv1.2" in tls12.stderr
    assert json.loads(tls12.body)["version"]["number"]
    tls13 = curl(gw.url + "/", "--tlsv1.3", ca=ca)
    assert tls13.status == 200, tls13.stderr
    assert "SSL connection using TLSv1.3" in tls13.stderr
    # curl offers h2 and http/1.1; the gateway speaks HTTP/1.1 only and says so in ALPN.
    assert "ALPN: server accepted http/1.1" in tls13.stderr

    for flag, protocol in (("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")):
        out = s_client(gw.address, flag, "-alpn", "h2,http/1.1", ca=ca)
        assert f"New, {protocol}, Cipher is" in out, out
        assert "ALPN protocol: http/1.1" in out, out
        assert "Verify return code: 0 (ok)" in out, out
    # The certificate names 127.0.0.1 and localhost; curl checks the name.
    by_name = curl(f"https://localhost:{gw.port}/", "--tlsv1.3", ca=ca)
    assert by_name.status == 200, by_name.stderr


def test_allowed_protocols_tls13_only_refuses_a_tls12_client(gateways, certs, direct):
    gw = gateways(config(upstream=direct.url, ssl_lines=pem_lines(certs) + '    allowed_protocols: ["TLSv1.3"]\n'))
    ca = certs / "ca.pem"
    refused = curl(gw.url + "/", "--tlsv1.2", "--tls-max", "1.2", ca=ca)
    assert refused.status is None and refused.exit_code == 35, refused  # 35: handshake failed
    out = s_client(gw.address, "-tls1_2", ca=ca)
    # No TLS 1.2 session comes out of it, and the client is told why.
    assert "New, (NONE), Cipher is (NONE)" in out and "New, TLSv1.2" not in out, out
    assert "alert protocol version" in out, out
    assert curl(gw.url + "/", "--tlsv1.3", ca=ca).status == 200


def test_allowed_ciphers_refuse_a_client_offering_only_others(gateways, certs, direct):
    allowed = "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"
    gw = gateways(config(upstream=direct.url,
                         ssl_lines=pem_lines(certs) + f'    allowed_ciphers: ["{allowed}"]\n'))
    ca = certs / "ca.pem"
    # The server key is ECDSA; both suites below would do with it.
    refused = curl(gw.url + "/", "--tlsv1.2", "--tls-max", "1.2",
                   "--ciphers", "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256", ca=ca)
    assert refused.status is None and refused.exit_code == 35, refused
    accepted = curl(gw.url + "/", "--tlsv1.2", "--tls-max", "1.2",
                    "--ciphers", "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES256-GCM-SHA384", ca=ca)
    assert accepted.status == 200, accepted.stderr
    assert "ECDHE-ECDSA-AES256-GCM-SHA384" in accepted.stderr
    out = s_client(gw.address, "-tls1_2", ca=ca)
    assert "Cipher is ECDHE-ECDSA-AES256-GCM-SHA384" in out, out


def test_pkcs12_keystore_serves_its_certificate(gateways, certs, direct):
    gw = gateways(config(upstream=direct.url, ssl_lines=f"""    keystore_file: "{certs / 'server.p12'}"
    keystore_pass: "{P12_PASSWORD}"
    key_pass: "{P12_PASSWORD}"
    key_alias: "server"
"""))
    ca = certs / "ca.pem"
    reply = curl(gw.url + "/", ca=ca)
    assert reply.status == 200, reply.stderr
    assert served_serial(gw.address, ca) == file_serial(certs / "server.pem")


def test_jks_keystore_is_refused_with_the_conversion_command(binary, certs, direct, tmp_path):
    text = config(upstream=direct.url, ssl_lines=f"""    keystore_file: "{certs / 'server.jks'}"
    keystore_pass: "{P12_PASSWORD}"
""")
    text = fill_ports(text, free_port(), free_port())
    path = tmp_path / "jks.yml"
    path.write_text(text)
    check = subprocess.run([binary, "check", "--config", str(path)], capture_output=True, text=True,
                           timeout=CLIENT_TIMEOUT_S)
    assert check.returncode != 0, check
    assert "keytool -importkeystore" in check.stdout + check.stderr, check
    run = subprocess.run([binary, "run", "--config", str(path)], capture_output=True, text=True,
                         timeout=CLIENT_TIMEOUT_S)
    assert run.returncode != 0, run
    assert "keytool -importkeystore" in run.stdout + run.stderr, run


# --- client certificates ---------------------------------------------------------------------

def client_auth_lines(certs: Path, mode: str) -> str:
    return pem_lines(certs) + f"""    client_authentication: {mode}
    client_trusted_certificate_file: "{certs / 'ca.pem'}"
"""


def with_cert(certs: Path, name: str) -> tuple[str, ...]:
    return ("--cert", str(certs / f"{name}.pem"), "--key", str(certs / f"{name}-key.pem"))


@pytest.mark.parametrize("version", ["--tlsv1.2 --tls-max 1.2", "--tlsv1.3"])
def test_required_client_certificate(gateways, certs, direct, version):
    gw = gateways(config(upstream=direct.url, ssl_lines=client_auth_lines(certs, '"required"')))
    ca, flags = certs / "ca.pem", version.split()
    before = gw.metric("ringfence_tls_handshake_failures_total")

    # The gateway's alert says why: curl 98 ("client certificate required") or 35; under
    # TLS 1.3 the client may learn of it only after its side of the handshake is done: 56.
    refused = (35, 98) if "--tls-max" in flags else (35, 56, 98)
    no_cert = curl(gw.url + "/", *flags, ca=ca)
    assert no_cert.status is None and no_cert.exit_code in refused, no_cert
    wrong_ca = curl(gw.url + "/", *flags, *with_cert(certs, "wrong-alice"), ca=ca)
    assert wrong_ca.status is None and wrong_ca.exit_code in refused, wrong_ca
    good = curl(gw.url + "/", *flags, *with_cert(certs, "pki-alice"), ca=ca)
    assert good.status == 200, good.stderr

    # Both refusals are counted (the counter is scraped a moment later: the failure is
    # recorded by the worker after the client has gone).
    deadline = time.monotonic() + 5
    while gw.metric("ringfence_tls_handshake_failures_total") < before + 2:
        assert time.monotonic() < deadline, requests.get(gw.admin_url + "/metrics", timeout=5).text
        time.sleep(0.2)


def test_optional_client_certificate(gateways, certs, direct):
    gw = gateways(config(upstream=direct.url, ssl_lines=client_auth_lines(certs, '"optional"')))
    ca = certs / "ca.pem"
    assert curl(gw.url + "/", ca=ca).status == 200
    assert curl(gw.url + "/", *with_cert(certs, "pki-alice"), ca=ca).status == 200
    # A certificate from an untrusted CA is not "no certificate": the handshake fails.
    wrong = curl(gw.url + "/", "--tlsv1.2", "--tls-max", "1.2", *with_cert(certs, "wrong-alice"), ca=ca)
    assert wrong.status is None, wrong


def test_pki_block_lets_alice_read_only_her_indices(gateways, certs, direct):
    rules = f"""
  - name: "PKI alice"
    certificate_authentication:
      username_pattern: "{CN_PATTERN}"
    users: ["pki-alice"]
    indices: ["pki-alice-*"]
"""
    gw = gateways(config(upstream=direct.url, ssl_lines=client_auth_lines(certs, '"optional"'),
                         rules=rules))
    ca = certs / "ca.pem"
    tag = uuid.uuid4().hex[:8]
    mine, other = f"pki-alice-{tag}", f"pki-other-{tag}"
    try:
        for index in (mine, other):
            direct.create_index(index)
            reply = direct.request("POST", f"/{index}/_doc?refresh=true", json={"owner": index})
            assert reply.status_code == 201, reply.text

        searches_before = handler_counts(direct).get("search_action", 0)
        alice = with_cert(certs, "pki-alice")
        reply = curl(f"{gw.url}/{mine}/_search", *alice, auth=None, ca=ca)
        assert reply.status == 200, reply.body
        assert [h["_source"]["owner"] for h in json.loads(reply.body)["hits"]["hits"]] == [mine]

        # An index outside her pattern does not exist for her: the gateway's own 404, as for
        # any ReadonlyREST `indices` rule (the node is not asked; checked below).
        refused = curl(f"{gw.url}/{other}/_search", *alice, auth=None, ca=ca)
        assert refused.status == 404, refused.body
        assert json.loads(refused.body)["error"]["type"] == "index_not_found_exception", refused.body
        bob = curl(f"{gw.url}/{mine}/_search", *with_cert(certs, "pki-bob"), auth=None, ca=ca)
        assert bob.status == 403, bob.body
        anonymous = curl(f"{gw.url}/{mine}/_search", auth=None, ca=ca)
        assert anonymous.status == 403, anonymous.body
        for answer in (refused, bob, anonymous):
            assert '"owner"' not in answer.body, answer.body
        # The refused searches never reached the node (the allowed one did, once).
        assert handler_counts(direct).get("search_action", 0) == searches_before + 1
    finally:
        for index in (mine, other):
            direct.request("DELETE", f"/{index}", params={"ignore_unavailable": "true"})


def test_certificate_dn_variable(gateways, certs, direct):
    """@{acl:certificate_dn} is the verified subject in RFC 4514 form, most specific first: a
    `uri_re` built from it lets alice through only with her own DN in the path."""
    rules = f"""
  - name: "PKI by DN"
    certificate_authentication:
      username_pattern: "{CN_PATTERN}"
    uri_re: ['^/_cat/indices/@{{acl:certificate_dn}}$']
"""
    gw = gateways(config(upstream=direct.url, ssl_lines=client_auth_lines(certs, '"optional"'),
                         rules=rules))
    ca = certs / "ca.pem"
    alice = with_cert(certs, "pki-alice")
    # Let through, the node answers itself (there is no index named like a DN).
    before = handler_counts(direct).get("cat_indices_action", 0)
    passed = curl(f"{gw.url}/_cat/indices/{ALICE_DN}?format=json", *alice, auth=None, ca=ca)
    assert passed.status == 404, passed.body
    assert handler_counts(direct).get("cat_indices_action", 0) == before + 1
    for dn in ("CN=pki-bob,OU=ops,O=Example", "O=Example,OU=ops,CN=pki-alice"):
        refused = curl(f"{gw.url}/_cat/indices/{dn}?format=json", *alice, auth=None, ca=ca)
        assert refused.status == 403, refused.body
        assert json.loads(refused.body)["error"]["type"] == "forbidden_response", refused.body
    assert handler_counts(direct).get("cat_indices_action", 0) == before + 1


# --- sessions, plain HTTP on the TLS port ------------------------------------------------------

@pytest.mark.parametrize("protocol", ["-tls1_2", "-tls1_3"])
def test_session_resumption(gateways, certs, direct, tmp_path, protocol):
    gw = gateways(config(upstream=direct.url, ssl_lines=pem_lines(certs)))
    ca, session = certs / "ca.pem", tmp_path / "session.pem"
    request = b"GET /_ping-nothing HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    first = s_client(gw.address, protocol, "-sess_out", str(session), ca=ca, request=request)
    assert "New, TLSv1." in first, first
    assert session.exists() and session.stat().st_size > 0, first
    second = s_client(gw.address, protocol, "-sess_in", str(session), ca=ca, request=request)
    assert "Reused, TLSv1." in second, second


def test_plain_http_to_the_tls_port_gets_400_and_a_close(gateways, certs, direct):
    gw = gateways(config(upstream=direct.url, ssl_lines=pem_lines(certs)))
    with socket.create_connection(("127.0.0.1", gw.port), timeout=CLIENT_TIMEOUT_S) as conn:
        conn.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        started, reply = time.monotonic(), b""
        while chunk := conn.recv(65536):  # a hang raises socket.timeout
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 400 "), reply
    assert time.monotonic() - started < CLIENT_TIMEOUT_S
    head, _, body = reply.partition(b"\r\n\r\n")
    assert b"text/plain" in head.lower(), head
    assert body, reply
    plain = curl(f"http://{gw.address}/", ca=None)
    assert plain.status == 400, plain


# --- reloads ---------------------------------------------------------------------------------

class Load:
    """Requests in background threads until stopped: one keeps its connection alive, one opens
    a new connection (and handshake) for every request. Counts answers and failures."""

    def __init__(self, url: str, ca: Path):
        self.url, self.ca = url, ca
        self.stop = threading.Event()
        self.ok = 0
        self.failures: list[str] = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, args=(keep_alive,), daemon=True)
                        for keep_alive in (True, False)]

    def run(self, keep_alive: bool) -> None:
        session = requests.Session() if keep_alive else None
        while not self.stop.is_set():
            try:
                client = session or requests
                reply = client.get(self.url + "/_cluster/health", auth=(USER, PASSWORD),
                                   verify=str(self.ca), timeout=CLIENT_TIMEOUT_S,
                                   headers={} if keep_alive else {"Connection": "close"})
                with self.lock:
                    if reply.status_code == 200:
                        self.ok += 1
                    else:
                        self.failures.append(f"{reply.status_code} {reply.text[:200]}")
            except requests.RequestException as exc:
                with self.lock:
                    self.failures.append(repr(exc))

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(CLIENT_TIMEOUT_S + 5)


def reload_gateway(tmp_path: Path, certs: Path, gateways, direct) -> tuple[Gateway, Path, Path]:
    """A gateway on copies of the server certificate and key that the test may replace."""
    live = tmp_path / "live"
    live.mkdir()
    cert, key = live / "server.pem", live / "server-key.pem"
    cert.write_bytes((certs / "server.pem").read_bytes())
    key.write_bytes((certs / "server-key.pem").read_bytes())
    gw = gateways(config(upstream=direct.url, ssl_lines=pem_lines(live, "server.pem", "server-key.pem")))
    return gw, cert, key


def test_certificate_reload_under_load(gateways, certs, direct, tmp_path):
    gw, cert, key = reload_gateway(tmp_path, certs, gateways, direct)
    ca = certs / "ca.pem"
    assert served_serial(gw.address, ca) == file_serial(certs / "server.pem")
    with Load(gw.url, ca) as load:
        time.sleep(1)
        # SIGHUP after the files changed (same key, new certificate).
        serial = issue_server_cert(certs, cert, key, new_key=False)
        gw.sighup()
        wait_for_serial(gw, ca, serial)
        time.sleep(1)
        # No signal: the watcher notices a new key and certificate by itself.
        serial = issue_server_cert(certs, cert, key, new_key=True)
        wait_for_serial(gw, ca, serial)
        time.sleep(1)
    assert load.failures == [], load.failures[:5]
    assert load.ok > 20, load.ok


@pytest.mark.parametrize("breakage", ["garbage", "mismatched-key"])
def test_broken_certificate_keeps_the_old_one(gateways, certs, direct, tmp_path, breakage):
    gw, cert, key = reload_gateway(tmp_path, certs, gateways, direct)
    ca = certs / "ca.pem"
    old = served_serial(gw.address, ca)
    log_before = len(gw.log_text())
    if breakage == "garbage":
        cert.write_text("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
    else:
        # A valid certificate from the CA, but for a key the gateway does not have.
        other = tmp_path / "other"
        other.mkdir()
        issue_server_cert(certs, other / "server.pem", other / "server-key.pem", new_key=True)
        cert.write_bytes((other / "server.pem").read_bytes())
    gw.sighup()
    deadline = time.monotonic() + RELOAD_TIMEOUT_S
    while str(cert) not in gw.log_text()[log_before:]:
        assert time.monotonic() < deadline, f"nothing logged about {cert}:\n{gw.log_text()}"
        time.sleep(0.2)
    for _ in range(5):
        reply = requests.get(gw.url + "/", auth=(USER, PASSWORD), verify=str(ca), timeout=CLIENT_TIMEOUT_S)
        assert reply.status_code == 200, reply.text
    assert served_serial(gw.address, ca) == old
    assert gw.process.poll() is None


# --- https upstream ----------------------------------------------------------------------------

def upstream_lines(ca_file: Path, service_password: str | None = None) -> str:
    lines = f"""  upstream_tls:
    ca_file: "{ca_file}"
    verify_hostname: true
"""
    if service_password is not None:
        lines += f"""  upstream_auth:
    username: "{os.environ.get('E2E_SECURED_USER', 'ringfence')}"
    password: "{service_password}"
"""
    return lines


def test_https_upstream_with_a_service_user(gateways, certs, secured):
    service_password = os.environ.get("E2E_SECURED_PASSWORD", "ringfence-secret")
    gw = gateways(config(upstream=secured.url, ssl_lines=pem_lines(certs),
                         gateway_lines=upstream_lines(Path(secured.ca_cert), service_password)))
    ca = certs / "ca.pem"
    # The node refuses the suite's user (it does not know it) and anonymous requests ...
    node = Endpoint(url=secured.url, ca_cert=secured.ca_cert)
    assert node.request("GET", "/").status_code == 401
    assert requests.get(secured.url + "/", auth=(USER, PASSWORD), verify=secured.ca_cert,
                        timeout=CLIENT_TIMEOUT_S).status_code == 401
    # ... the gateway serves it, as its service user.
    index = f"rf-e2e-secured-{uuid.uuid4().hex[:8]}"
    try:
        reply = curl(f"{gw.url}/{index}", "-X", "PUT", "-H", "Content-Type: application/json",
                     "-d", '{"settings":{"number_of_shards":1,"number_of_replicas":0}}', ca=ca)
        assert reply.status == 200, reply.body
        reply = curl(f"{gw.url}/{index}/_doc?refresh=true", "-X", "POST",
                     "-H", "Content-Type: application/json", "-d", '{"via": "gateway"}', ca=ca)
        assert reply.status == 201, reply.body
        assert secured.count(index) == 1
        who = curl(f"{gw.url}/_plugins/_security/authinfo", ca=ca)
        assert who.status == 200, who.body
        assert json.loads(who.body)["user_name"] == os.environ.get("E2E_SECURED_USER", "ringfence")
        # The gateway still checks its own users first.
        wrong = curl(f"{gw.url}/", auth=(USER, "not-the-password"), ca=ca)
        assert wrong.status in (401, 403), wrong.body
    finally:
        secured.request("DELETE", f"/{index}", params={"ignore_unavailable": "true"})


def test_https_upstream_with_the_wrong_ca_is_a_502(gateways, certs, secured):
    gw = gateways(config(upstream=secured.url, ssl_lines=pem_lines(certs),
                         gateway_lines=upstream_lines(certs / "ca.pem", "whatever")))
    reply = curl(gw.url + "/_cluster/health", ca=certs / "ca.pem")
    assert reply.status == 502, reply
    error = json.loads(reply.body)["error"]
    assert error["type"] == "bad_gateway_exception", reply.body
    assert re.search(r"certificate|tls|TLS", error["reason"]), reply.body
