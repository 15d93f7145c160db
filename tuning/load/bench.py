#!/usr/bin/env python3
"""Load harness: Ringfence against the direct upstream, nginx and haproxy, measured in one run.

Every scenario puts the proxy under test on CPU 0 and the load generator (wrk) and the
upstream (a static nginx answering like an Elasticsearch node) on CPU 1, so the proxy's own
CPU time per request can be read from /proc and compared. Results are ratios against
references measured in the same run; absolute numbers on a shared 2-core machine are noise.

    tuning/load/bench.py                       # all scenarios, 10 s each
    tuning/load/bench.py --duration 5 proxy    # some scenarios only
    tuning/load/bench.py --duration 20 --repeat 3 --rt hostile attack

On a machine shared with other work, the proxy's latency is mostly how long it waits for a
CPU (hostile rows report it, from /proc/PID/task/*/schedstat). --rt runs everything the
harness starts under SCHED_FIFO (root), so that only this harness's own processes compete;
it takes CPU time from everything else first (the kernel still caps real-time tasks at 95%
of each second). Under --rt the gateway's hashing threads lose their nice 19: use it for
hostile and attack, not for auth or flood.

Scenarios:
  proxy   direct upstream vs ringfence (ACL off, and a realistic ACL) vs nginx vs haproxy
  audit   the realistic ACL with the audit trail off, to a file, and to a file and an index
  auth    per-request CPU of cached auth_key_unix ($6$, 65535 rounds) and auth_key_pbkdf2 vs
          plain auth_key; throughput vs nginx auth_basic with the same $6$ hash
  flood   a valid auth_key_unix client with and without a random-credential flood
  hostile a well-behaved client at a fixed rate alone, with 1,000 slowloris connections
          (heads and bodies), and with those plus a connection flood (hostile.py), through
          ringfence, nginx and haproxy with comparable timeouts; p99 ratios against alone
  attack  the same attacks with no client: CPU time and context switches they cost each
          proxy (ringfence with io_uring and with epoll)
  tls     nginx vs ringfence terminating TLS (ECDSA P-256, certificates made per run):
          keep-alive requests over https, and new connections with full and with resumed
          TLS 1.3 and 1.2 handshakes (handshakes.py): CPU per request or handshake
Needs wrk, nginx, haproxy and openssl (Debian packages; tuning/load/run.sh installs them).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RINGFENCE = Path(os.environ.get("RINGFENCE_BIN", ROOT / "target" / "release" / "ringfence"))
UPSTREAM_PORT, RINGFENCE_PORT, NGINX_PORT, HAPROXY_PORT = 18080, 18201, 18202, 18203
PROXY_CPU, LOAD_CPU = "0", "1"
# How every process the harness starts is scheduled (--rt). Hostile clients get
# ATTACK_PRIORITY, below the client that measures, so that on the shared load CPU the
# attack delays the measuring client only when it has nothing to do. (`nice -n -10` instead
# was tried: the proxies still waited for a CPU a quarter of the time.)
PRIORITY: list[str] = []
ATTACK_PRIORITY: list[str] = []
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# What the static upstream answers: the size of a typical small Elasticsearch response.
ES_BODY = json.dumps({
    "name": "bench-node", "cluster_name": "bench", "cluster_uuid": "x" * 22,
    "version": {"number": "2.19.6", "distribution": "opensearch", "build_type": "tar",
                "lucene_version": "9.12.2"},
    "tagline": "The OpenSearch Project: https://opensearch.org/"})
# ReadonlyREST's documented test vectors (readonlyrest.md section 3.3): test:test, logstash:logstash.
UNIX_TEST = "test:$6$rounds=65535$d07dnv4N$QeErsDT9Mz.ZoEPXW3dwQGL7tzwRz.eOrTBepIwfGEwdUAYSy/NirGoOaNyPx8lqiR6DYRSsDzVvVbhP4Y9wf0"
PBKDF2_LOGSTASH = "logstash:JltDNAoXNtc7MIBs2FYlW0o1f815ucj+bel3drdAk2yOufg2PNfQ51qr0EQ6RSkojw/DzrDLFDeXONumzwKjOA=="


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass
class Certificates:
    """An ECDSA P-256 server certificate for localhost and 127.0.0.1, and the CA that signed it."""
    ca: Path
    chain: Path
    key: Path


@dataclass
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    cpu_us_per_req: float | None = None
    p999_ms: float | None = None
    notes: list[str] = field(default_factory=list)
    # The proxy's CPU use during the measurement, in cores.
    proxy_busy: float | None = None


class Harness:
    def __init__(self, duration: int, connections: int, repeat: int = 1):
        self.duration, self.connections, self.repeat = duration, connections, repeat
        self.dir = Path(tempfile.mkdtemp(prefix="ringfence-load-"))
        # nginx workers run as nobody and must read the htpasswd file in here.
        self.dir.chmod(0o755)
        self.procs: list[subprocess.Popen] = []

    # -- processes ---------------------------------------------------------------------
    def start(self, args: list[str], cpu: str, port: int, name: str,
              env: dict[str, str] | None = None) -> subprocess.Popen:
        log = open(self.dir / f"{name}.log", "w")
        proc = subprocess.Popen([*PRIORITY, "taskset", "-c", cpu, *args], stdout=log, stderr=log,
                                env={**os.environ, **(env or {})})
        self.procs.append(proc)
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return proc
            except OSError:
                if proc.poll() is not None:
                    sys.exit(f"{name} exited: {(self.dir / f'{name}.log').read_text()}")
                time.sleep(0.05)
        sys.exit(f"{name} did not listen on {port}")

    def stop(self, proc: subprocess.Popen) -> None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        self.procs.remove(proc)

    def stop_all(self) -> None:
        for proc in list(self.procs):
            self.stop(proc)

    def upstream(self) -> subprocess.Popen:
        # Like Elasticsearch, the upstream reads a request body before it answers: `return`
        # alone would answer at once and drop the body. Requests with a body take a detour
        # through a proxy_pass to this same server, and nginx reads the whole body before
        # it proxies (proxy_request_buffering).
        conf = self.nginx_conf("upstream", UPSTREAM_PORT, f"""
            location / {{ default_type application/json;
                         error_page 418 = @body;
                         if ($http_content_length) {{ return 418; }}
                         if ($http_transfer_encoding) {{ return 418; }}
                         return 200 '{ES_BODY}'; }}
            location @body {{ rewrite ^ /_body_read break; proxy_pass http://127.0.0.1:{UPSTREAM_PORT}; }}
            location = /_body_read {{ default_type application/json;
                                     return 200 '{{"took":1,"errors":false,"items":[]}}'; }}""")
        return self.start(["nginx", "-c", str(conf)], LOAD_CPU, UPSTREAM_PORT, "upstream")

    def nginx_conf(self, name: str, port: int, locations: str, extra_http: str = "",
                   listen_options: str = "") -> Path:
        conf = self.dir / f"{name}.conf"
        conf.write_text(f"""
            worker_processes 1; daemon off; pid {self.dir}/{name}.pid; error_log stderr error;
            events {{ worker_connections 4096; }}
            http {{
                access_log off; keepalive_requests 1000000; keepalive_timeout 60s;
                client_body_temp_path {self.dir}/{name}-body;
                proxy_temp_path {self.dir}/{name}-proxy;
                {extra_http}
                server {{ listen 127.0.0.1:{port}{listen_options}; {locations} }}
            }}""")
        return conf

    def ringfence(self, acl: str, name: str, auth: str = "",
                  env: dict[str, str] | None = None,
                  tls: Certificates | None = None) -> subprocess.Popen:
        conf = self.dir / f"{name}.yml"
        scheme = "https://" if tls else ""
        ssl = (f"  ssl:\n    enable: true\n    server_certificate_file: {tls.chain}\n"
               f"    server_certificate_key_file: {tls.key}\n") if tls else ""
        conf.write_text(
            f"gateway:\n  listen: \"{scheme}127.0.0.1:{RINGFENCE_PORT}\"\n"
            f"  upstreams: [\"http://127.0.0.1:{UPSTREAM_PORT}\"]\n  workers: 1\n"
            f"  metadata_refresh_ms: 0\n  policy_watch_ms: 0\n{auth}readonlyrest:\n{ssl}{acl}")
        return self.start([str(RINGFENCE), "run", "--config", str(conf)], PROXY_CPU, RINGFENCE_PORT,
                          name, env)

    def nginx_proxy(self, auth_file: Path | None = None, extra_http: str = "",
                    tls: Certificates | None = None) -> subprocess.Popen:
        auth = f'auth_basic "es"; auth_basic_user_file {auth_file};' if auth_file else ""
        if tls:
            extra_http += (f"ssl_certificate {tls.chain}; ssl_certificate_key {tls.key};"
                           " ssl_protocols TLSv1.2 TLSv1.3; ssl_session_cache shared:SSL:10m;"
                           " ssl_session_tickets on;")
        conf = self.nginx_conf("nginx-proxy", NGINX_PORT, f"""
            location / {{ {auth} proxy_pass http://es; proxy_http_version 1.1;
                         proxy_set_header Connection ""; }}""",
                               f"upstream es {{ server 127.0.0.1:{UPSTREAM_PORT}; keepalive 64; }}"
                               + extra_http, " ssl" if tls else "")
        return self.start(["nginx", "-c", str(conf)], PROXY_CPU, NGINX_PORT, "nginx-proxy")

    def certificates(self) -> Certificates:
        """A CA and a server certificate it signs, ECDSA P-256, made with the openssl CLI."""
        certs = Certificates(self.dir / "ca.pem", self.dir / "server.pem", self.dir / "server.key")
        ca_key, csr, ext = self.dir / "ca.key", self.dir / "server.csr", self.dir / "server.ext"
        ext.write_text("subjectAltName = DNS:localhost, IP:127.0.0.1\nbasicConstraints = CA:FALSE\n"
                       "extendedKeyUsage = serverAuth\n")
        new_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        for args in (["req", "-x509", *new_key, "-keyout", ca_key, "-out", certs.ca, "-days", "2",
                      "-subj", "/CN=ringfence bench CA"],
                     ["req", *new_key, "-keyout", certs.key, "-out", csr, "-subj", "/CN=localhost"],
                     ["x509", "-req", "-in", csr, "-CA", certs.ca, "-CAkey", ca_key, "-set_serial", "1",
                      "-days", "2", "-extfile", ext, "-out", certs.chain]):
            subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)
        return certs

    def haproxy(self, client_timeouts: str = "timeout client 60s") -> subprocess.Popen:
        conf = self.dir / "haproxy.cfg"
        conf.write_text(f"""
global
    maxconn 4096
    nbthread 1
defaults
    mode http
    option http-keep-alive
    timeout connect 5s
    {client_timeouts}
    timeout server 60s
frontend f
    bind 127.0.0.1:{HAPROXY_PORT}
    default_backend b
backend b
    http-reuse always
    server s1 127.0.0.1:{UPSTREAM_PORT} maxconn 1000
""")
        return self.start(["haproxy", "-f", str(conf)], PROXY_CPU, HAPROXY_PORT, "haproxy")

    # -- measuring ---------------------------------------------------------------------
    @staticmethod
    def cpu_ticks(proc: subprocess.Popen) -> int:
        """utime + stime of the process and its children (nginx workers), in clock ticks."""
        total = 0
        pids = [str(proc.pid)]
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
        if children.exists():
            pids += children.read_text().split()
        # taskset execs the command, so proc.pid is the proxy itself.
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
            except (FileNotFoundError, IndexError):
                pass
        return total

    @staticmethod
    def threads(proc: subprocess.Popen) -> list[Path]:
        """/proc entries of every thread of the process and of its children (nginx workers)."""
        pids = [str(proc.pid)]
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
        if children.exists():
            pids += children.read_text().split()
        return [task for pid in pids for task in Path(f"/proc/{pid}/task").glob("*")]

    @classmethod
    def run_delay_ms(cls, proc: subprocess.Popen) -> float:
        """Time the threads of the process and its children spent runnable but waiting for a
        CPU (/proc/.../schedstat), in ms: how much other work on the machine delayed it."""
        total = 0
        for task in cls.threads(proc):
            try:
                total += int((task / "schedstat").read_text().split()[1])
            except (FileNotFoundError, IndexError, ValueError):
                pass
        return total / 1e6

    def wrk(self, port: int, path: str = "/", headers: dict[str, str] | None = None,
            script: Path | None = None, connections: int | None = None,
            duration: int | None = None, rate_cpu: str = LOAD_CPU,
            scheme: str = "http") -> subprocess.Popen:
        args = [*PRIORITY, "taskset", "-c", rate_cpu, "wrk", "-t1", f"-c{connections or self.connections}",
                f"-d{duration or self.duration}s", "--latency", "--timeout", "5s"]
        for name, value in (headers or {}).items():
            args += ["-H", f"{name}: {value}"]
        if script:
            args += ["-s", str(script)]
        args.append(f"{scheme}://127.0.0.1:{port}{path}")
        return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def measure(self, name: str, port: int, proxy: subprocess.Popen | None, **wrk_args) -> Result:
        # Warm up connections and caches first (cached credentials, pooled upstream sockets).
        self.wrk(port, duration=2, **{k: v for k, v in wrk_args.items() if k != "duration"}).wait()
        before = self.cpu_ticks(proxy) if proxy else 0
        out = self.wrk(port, **wrk_args).communicate()[0]
        after = self.cpu_ticks(proxy) if proxy else 0
        result = parse_wrk(name, out)
        if proxy and result.rps:
            result.proxy_busy = (after - before) / CLOCK_TICKS / (wrk_args.get("duration") or self.duration)
            result.cpu_us_per_req = result.proxy_busy / result.rps * 1e6
        return result


def parse_wrk(name: str, out: str) -> Result:
    def latency(label: str) -> float:
        m = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not m:
            return float("nan")
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    result = Result(name, float(rps.group(1)) if rps else 0.0, latency("50"), latency("99"),
                    int(non2xx.group(1)) if non2xx else 0)
    if not rps:
        result.notes.append("wrk: " + " / ".join(out.strip().splitlines()[-3:]))
    if errors:
        result.notes.append(errors.group(0))
    return result


def random_credentials_script(path: Path, count: int = 20000) -> Path:
    """A wrk script sending Basic credentials for random users and passwords."""
    rng = random.Random(7)
    values = [basic("test" if i % 2 else f"u{rng.getrandbits(32):x}", f"{rng.getrandbits(64):x}")
              for i in range(count)]
    path.write_text(
        "local creds = {" + ",".join(f'"{v}"' for v in values) + "}\n"
        "local n = 0\n"
        "request = function()\n"
        "  n = n % #creds + 1\n"
        "  return wrk.format('GET', '/', {['Authorization'] = creds[n]})\n"
        "end\n")
    return path


ACL_OFF = "  enable: false\n"
ACL_REALISTIC = """  access_control_rules:
  - name: health
    hosts: ["10.0.0.0/8"]
    methods: [GET]
    uri_re: ["^/_cluster/health"]
  - name: writers
    auth_key_sha256: "logstash:76cd2c0d589e224531fc6af2c5850e3c9b2aca6902d813ce598833c7c1b28bee"
    actions: ["indices:data/write/*"]
    indices: ["logstash-*"]
  - name: readers
    auth_key_sha256: "logstash:76cd2c0d589e224531fc6af2c5850e3c9b2aca6902d813ce598833c7c1b28bee"
    indices: ["logs-*", "logstash-*"]
"""


def scenario_proxy(h: Harness) -> list[Result]:
    results = []
    upstream = h.upstream()
    results.append(h.measure("direct upstream (reference)", UPSTREAM_PORT, None))
    rf = h.ringfence(ACL_OFF, "ringfence-open")
    results.append(h.measure("ringfence, ACL disabled", RINGFENCE_PORT, rf))
    h.stop(rf)
    rf = h.ringfence(ACL_REALISTIC, "ringfence-acl")
    results.append(h.measure("ringfence, sha256 user + indices ACL, GET /logs-1/_search",
                             RINGFENCE_PORT, rf, path="/logs-1/_search",
                             headers={"Authorization": basic("logstash", "logstash")}))
    h.stop(rf)
    ng = h.nginx_proxy()
    results.append(h.measure("nginx proxy_pass (keepalive upstream)", NGINX_PORT, ng))
    h.stop(ng)
    ha = h.haproxy()
    results.append(h.measure("haproxy (http-reuse always)", HAPROXY_PORT, ha))
    h.stop(ha)
    h.stop(upstream)
    return results


def scenario_audit(h: Harness) -> list[Result]:
    """The realistic ACL with the audit trail off, to a JSON-lines file, to a file and an index
    (bulk-written to the static upstream, which answers 200), and to an index whose cluster
    never answers (events are dropped and counted; requests must not slow down): the
    gateway's CPU per request includes its audit threads (they share the proxy's CPU)."""
    results = []
    upstream = h.upstream()
    file_output = f"    - type: file\n      path: {h.dir / 'audit.jsonl'}\n"
    index_output = (f"    - type: index\n      cluster: [\"http://127.0.0.1:{UPSTREAM_PORT}\"]\n")
    with_audit = lambda outputs: f"  audit:\n    enabled: true\n    outputs:\n{outputs}{ACL_REALISTIC}"
    # A cluster that accepts connections (in the kernel's backlog) and never answers.
    stalled = socket.socket()
    stalled.bind(("127.0.0.1", 0))
    stalled.listen(1024)
    stalled_output = (f"    - type: index\n      cluster: [\"http://127.0.0.1:{stalled.getsockname()[1]}\"]\n")
    for label, acl in (("audit off", ACL_REALISTIC),
                       ("audit to a file", with_audit(file_output)),
                       ("audit to a file and an index", with_audit(file_output + index_output)),
                       ("audit to a stalled index", with_audit(stalled_output))):
        rf = h.ringfence(acl, "ringfence-" + label.replace(" ", "-"))
        results.append(h.measure(f"ringfence, sha256 user + indices ACL, {label}", RINGFENCE_PORT, rf,
                                 path="/logs-1/_search",
                                 headers={"Authorization": basic("logstash", "logstash")}))
        h.stop(rf)
    stalled.close()
    h.stop(upstream)
    return results


def scenario_auth(h: Harness) -> list[Result]:
    results = []
    upstream = h.upstream()
    acl = ("  access_control_rules:\n  - name: plain\n    auth_key: \"test:test\"\n"
           f"  - name: unix\n    auth_key_unix: \"{UNIX_TEST.replace('test:', 'unix:', 1)}\"\n"
           f"  - name: pbkdf2\n    auth_key_pbkdf2: \"{PBKDF2_LOGSTASH}\"\n")
    # The unix vector is for password "test"; the user name is ours to choose.
    rf = h.ringfence(acl, "ringfence-auth")
    for label, user, password in (("auth_key (plain)", "test", "test"),
                                  ("auth_key_unix $6$ rounds=65535, cached", "unix", "test"),
                                  ("auth_key_pbkdf2, cached", "logstash", "logstash")):
        results.append(h.measure(f"ringfence {label}", RINGFENCE_PORT, rf,
                                 headers={"Authorization": basic(user, password)}))
    h.stop(rf)
    htpasswd = h.dir / "htpasswd"
    htpasswd.write_text(UNIX_TEST + "\n")
    ng = h.nginx_proxy(htpasswd)
    results.append(h.measure("nginx auth_basic, same $6$ rounds=65535 hash", NGINX_PORT, ng,
                             headers={"Authorization": basic("test", "test")}))
    h.stop(ng)
    h.stop(upstream)
    return results


def paced(h: Harness, name: str, rate: int, headers: dict[str, str],
          port: int = RINGFENCE_PORT, path: str = "/", duration: int | None = None) -> Result:
    """The valid client at a fixed rate (open loop), on the load CPU. Its req/s is the rate of
    2xx answers received within paced.py's timeout (1 s), not the rate it asked for; its
    percentiles count requests without an answer as infinitely slow."""
    args = [*PRIORITY, "taskset", "-c", LOAD_CPU, sys.executable, str(Path(__file__).with_name("paced.py")),
            "--port", str(port), "--rate", str(rate), "--duration", str(duration or h.duration),
            "--path", path]
    for header, value in headers.items():
        args += ["--header", f"{header}: {value}"]
    out = json.loads(subprocess.run(args, check=True, capture_output=True, text=True).stdout)
    non_2xx = sum(n for status, n in out["statuses"].items() if not status.startswith("2"))
    ms = lambda key: float("nan") if out[key] is None else out[key]
    result = Result(name, out["achieved_rps"], ms("p50_ms"), ms("p99_ms"), non_2xx,
                    p999_ms=ms("p999_ms"))
    result.notes.append(f"asked for {rate} req/s, kept {out['achieved_rps'] / rate * 100:.0f}%: "
                        f"{out['ok']} of {out['scheduled']} answered 2xx in time")
    if out["late"] or out["timeouts"] or out["errors"] or out["not_sent"]:
        kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(out["error_kinds"].items()))
        result.notes.append(f"failed: late {out['late']}, timeouts {out['timeouts']}, "
                            f"errors {out['errors']}" + (f" ({kinds})" if kinds else "")
                            + f", not sent {out['not_sent']}")
    return result


def scenario_flood(h: Harness) -> list[Result]:
    """A valid auth_key_unix client while one attacker sends random credentials as fast as it
    can. Generators and upstream share the load CPU, the gateway has CPU 0 to itself."""
    results = []
    upstream = h.upstream()
    acl = f"  access_control_rules:\n  - name: unix\n    auth_key_unix: \"{UNIX_TEST}\"\n"
    flood_script = random_credentials_script(h.dir / "flood.lua")
    valid = {"Authorization": basic("test", "test")}
    rate = 2000
    for label, auth in (("throttling on (defaults)", ""),
                        ("throttling off: only the hashing budget",
                         "  auth:\n    max_failures_per_address: 0\n    max_failures_per_user: 0\n")):
        rf = h.ringfence(acl, "ringfence-flood", auth)
        quiet = h.measure(f"valid client, closed loop, alone [{label}]", RINGFENCE_PORT, rf,
                          headers=valid, connections=8)
        quiet_paced = paced(h, f"valid client, {rate}/s open loop, alone [{label}]", rate, valid)
        # Long enough to cover both measurements below; it ends by itself and reports.
        flood = h.wrk(RINGFENCE_PORT, script=flood_script, connections=64,
                      duration=2 * h.duration + 7)
        time.sleep(2)
        flooded = h.measure(f"valid client, closed loop, during flood [{label}]", RINGFENCE_PORT,
                            rf, headers=valid, connections=8)
        flooded.notes.append(f"{flooded.rps / quiet.rps * 100:.0f}% of alone" if quiet.rps else "")
        flooded_paced = paced(h, f"valid client, {rate}/s open loop, during flood [{label}]", rate, valid)
        flooded_paced.notes.append(f"{flooded_paced.rps / quiet_paced.rps * 100:.0f}% of alone"
                                   if quiet_paced.rps else "")
        attack = parse_wrk(f"the flood itself [{label}]", flood.communicate()[0])
        results += [quiet, flooded, quiet_paced, flooded_paced, attack]
        h.stop(rf)
    h.stop(upstream)
    return results


# The well-behaved client of the hostile scenario, and the attack: 1,000 slowloris
# connections (half heads, half bodies, a byte every 3 s) and a flood of new connections.
HOSTILE_RATE = 1000
SLOWLORIS = ["--slow-heads", "500", "--slow-bodies", "500", "--byte-interval", "3"]
FLOOD_RATE = 500
# Slow connections are all open and trickling before the measurement starts.
HOSTILE_SETTLE_S = 4
# Timeouts comparable to Ringfence's defaults (head within 10 s, body within 20 s plus 1 s
# per 500 bytes). Neither has a whole-body deadline or a minimum rate: their body timeout is
# the longest pause between two reads, which a byte every 3 s never reaches.
NGINX_TIMEOUTS = "client_header_timeout 10s; client_body_timeout 20s;"
HAPROXY_TIMEOUTS = "timeout http-request 10s\n    timeout client 20s"


def hostile_phase(h: Harness, proxy: subprocess.Popen, port: int, label: str,
                  attack: list[str], client: dict,
                  client_port: int | None = None) -> tuple[Result, dict | None, float, float]:
    """The well-behaved client at HOSTILE_RATE on `client_port` (default `port`), with
    `attack` (hostile.py arguments) aimed at `port` from before it starts until after it
    ends. Returns the client's result, the attack's report, the proxy's CPU use meanwhile
    (in cores) and how long it waited for a CPU (ms per second)."""
    attacker = None
    if attack:
        attacker = subprocess.Popen(
            [*ATTACK_PRIORITY, "taskset", "-c", LOAD_CPU, sys.executable, str(Path(__file__).with_name("hostile.py")),
             "--port", str(port), "--duration", str(HOSTILE_SETTLE_S + h.duration + 2), *attack],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(HOSTILE_SETTLE_S)
    before, waited, started = h.cpu_ticks(proxy), h.run_delay_ms(proxy), time.time()
    result = paced(h, label, HOSTILE_RATE, port=client_port or port, **client)
    elapsed = time.time() - started
    cpu = (h.cpu_ticks(proxy) - before) / CLOCK_TICKS / elapsed
    waited = (h.run_delay_ms(proxy) - waited) / elapsed
    if attacker is None:
        return result, None, cpu, waited
    out, err = attacker.communicate()
    if attacker.returncode:
        sys.exit(f"hostile.py failed: {err}")
    return result, json.loads(out), cpu, waited


def attack_notes(report: dict) -> str:
    parts = []
    for kind in ("slow_heads", "slow_bodies", "flood_close", "flood_garbage"):
        k = report[kind]
        if not k["opened"]:
            continue
        closed = (f", closed by the proxy after p50 {k['lifetime_s_p50']} s"
                  if k["lifetime_s_p50"] is not None and kind.startswith("slow") else "")
        answers = ", ".join(f"{s}: {n}" for s, n in sorted(k["answers"].items()))
        parts.append(f"{kind}: {k['opened']} opened, {k['connect_errors']} refused{closed}"
                     + (f" (answers {answers})" if answers else ""))
    if report["flood_skipped"]:
        parts.append(f"flood: {report['flood_skipped']} not started (too many open)")
    return "; ".join(parts)


def scenario_hostile(h: Harness) -> list[Result]:
    """A well-behaved client at a fixed rate (a) alone, (b) with 1,000 slowloris connections,
    (c) with those and a connection flood; attack and client on the load CPU, proxy on its
    own. The target: p99 under attack at most 2x p99 alone. With --repeat N every proxy runs
    a, b, c N times, the proxies taking turns, so that a slow spell of a shared machine hits
    one run of one proxy rather than all runs of it; rows show medians and every run's p99."""
    valid = {"Authorization": basic("logstash", "logstash")}
    flood = ["--flood-rate", str(FLOOD_RATE)]
    # (name, port attacked, start, client arguments, attack extras, port of the client)
    targets = [
        # Control: what the attack and the client sharing the load CPU cost by themselves.
        # The client goes straight to the upstream while the attack hits an idle ringfence.
        ("control: direct upstream, attack on an idle ringfence", RINGFENCE_PORT,
         lambda: h.ringfence(ACL_OFF, "ringfence-hostile-control"), {"headers": {}}, [],
         UPSTREAM_PORT),
        ("ringfence, ACL disabled: slow bodies stream upstream", RINGFENCE_PORT,
         lambda: h.ringfence(ACL_OFF, "ringfence-hostile"), {"headers": {}}, [], None),
        ("ringfence, sha256 + indices ACL: slow bodies are _bulk, read for inspection",
         RINGFENCE_PORT, lambda: h.ringfence(ACL_REALISTIC, "ringfence-hostile-acl"),
         {"headers": valid, "path": "/logs-1/_search"},
         ["--body-path", "/_bulk", "--header", f"Authorization: {valid['Authorization']}"], None),
        ("nginx proxy_pass", NGINX_PORT, lambda: h.nginx_proxy(extra_http=NGINX_TIMEOUTS),
         {"headers": {}}, [], None),
        ("haproxy", HAPROXY_PORT, lambda: h.haproxy(HAPROXY_TIMEOUTS), {"headers": {}}, [], None),
    ]
    phases = [("(a) alone", lambda extra: []),
              ("(b) 1,000 slowloris", lambda extra: SLOWLORIS + extra),
              (f"(c) slowloris + {FLOOD_RATE} new connections/s", lambda extra: SLOWLORIS + extra + flood)]
    runs: dict[tuple[str, str], list[tuple[Result, dict | None, float, float]]] = {}
    upstream = h.upstream()
    for _ in range(h.repeat):
        for name, port, start, client, extra, client_port in targets:
            proxy = start()
            # Warm the proxy's upstream pool and the client path.
            paced(h, "warm-up", HOSTILE_RATE, port=client_port or port, duration=2, **client)
            for phase, attack in phases:
                runs.setdefault((name, phase), []).append(hostile_phase(
                    h, proxy, port, f"{name}: {phase}", attack(extra), client, client_port))
            h.stop(proxy)
    h.stop(upstream)

    def median(values: list[float]) -> float:
        values = sorted(values)
        middle = len(values) // 2
        return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2

    results = []
    for name, *_ in targets:
        alone = [r for r, *_ in runs[(name, phases[0][0])]]
        for phase, _ in phases:
            done = runs[(name, phase)]
            rows = [r for r, *_ in done]
            row = Result(f"{name}: {phase}", min(r.rps for r in rows),
                         median([r.p50_ms for r in rows]), median([r.p99_ms for r in rows]),
                         sum(r.non_2xx for r in rows), p999_ms=median([r.p999_ms for r in rows]))
            if phase != phases[0][0]:
                p99 = [r.p99_ms / a.p99_ms for r, a in zip(rows, alone)]
                p999 = [r.p999_ms / a.p999_ms for r, a in zip(rows, alone)]
                row.notes.append(f"**p99 {median(p99):.2f}x alone** (runs: "
                                 + ", ".join(f"{x:.2f}" for x in p99)
                                 + f"), p99.9 {median(p999):.2f}x")
            if len(rows) > 1:
                row.notes.append("p99 per run: " + ", ".join(f"{r.p99_ms:.1f}" for r in rows))
            # What each run noticed: failures, the proxy's CPU use.
            row.notes += sorted({note for r in rows for note in r.notes
                                 if note.startswith("failed")})
            row.notes.append("proxy CPU " + ", ".join(f"{cpu * 100:.0f}" for _, _, cpu, _ in done)
                             + "% of a core, waited for a CPU "
                             + ", ".join(f"{waited:.0f}" for *_, waited in done) + " ms/s")
            if done[-1][1]:
                row.notes.append(attack_notes(done[-1][1]))
            results.append(row)
    return results


def scenario_attack(h: Harness) -> list[Result]:
    """What the hostile attacks alone cost each proxy: CPU (user and system) and context
    switches per second, over the middle of a run that covers the 10 s head timeout."""
    def counters(proc: subprocess.Popen) -> tuple[int, int, int]:
        user = system = switches = 0
        for task in h.threads(proc):
            try:
                fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
                status = (task / "status").read_text()
            except FileNotFoundError:
                continue
            user, system = user + int(fields[11]), system + int(fields[12])
            # voluntary_ctxt_switches and nonvoluntary_ctxt_switches
            switches += sum(int(line.split()[1]) for line in status.splitlines()
                            if "ctxt_switches:" in line)
        return user, system, switches

    targets = [
        ("ringfence (io_uring)", RINGFENCE_PORT, lambda: h.ringfence(ACL_OFF, "ringfence-attack")),
        ("ringfence (epoll)", RINGFENCE_PORT,
         lambda: h.ringfence(ACL_OFF, "ringfence-attack-epoll", env={"RINGFENCE_DRIVER": "legacy"})),
        ("nginx proxy_pass", NGINX_PORT, lambda: h.nginx_proxy(extra_http=NGINX_TIMEOUTS)),
        ("haproxy", HAPROXY_PORT, lambda: h.haproxy(HAPROXY_TIMEOUTS)),
    ]
    attacks = [("1,000 slowloris", SLOWLORIS),
               (f"{FLOOD_RATE} new connections/s", ["--slow-heads", "0", "--slow-bodies", "0",
                                                    "--flood-rate", str(FLOOD_RATE)])]
    results = []
    upstream = h.upstream()
    for name, port, start in targets:
        proxy = start()
        for label, attack in attacks:
            attacker = subprocess.Popen(
                [*ATTACK_PRIORITY, "taskset", "-c", LOAD_CPU, sys.executable,
                 str(Path(__file__).with_name("hostile.py")), "--port", str(port),
                 "--duration", str(h.duration + 5), *attack],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            time.sleep(3)
            before, started = counters(proxy), time.time()
            time.sleep(h.duration)
            after, elapsed = counters(proxy), time.time() - started
            attacker.communicate()
            user, system, switches = ((a - b) / elapsed for a, b in zip(after, before))
            result = Result(f"{name}: {label}", 0, float("nan"), float("nan"), 0)
            result.notes.append(f"proxy CPU {(user + system) / CLOCK_TICKS * 100:.1f}% of a core "
                                f"(user {user / CLOCK_TICKS * 100:.1f}%, system "
                                f"{system / CLOCK_TICKS * 100:.1f}%), {switches:,.0f} context switches/s")
            results.append(result)
        h.stop(proxy)
    h.stop(upstream)
    return results


# The TLS scenario's ACL: one block that lets every local client through.
ACL_LOCAL = "  access_control_rules:\n  - name: local clients\n    hosts: [\"127.0.0.1\"]\n"
HANDSHAKE_PROCESSES = 4
# A proxy busy less than this share of a core was not what limited the rate: the client was.
CLIENT_BOUND = 0.9


def handshakes(h: Harness, name: str, port: int, proxy: subprocess.Popen, certs: Certificates,
               protocol: str, resume: bool) -> Result:
    """New connections back to back (handshakes.py on the load CPU): the proxy's CPU per
    connection (handshake, one GET, close) and the rate, after a 2 s warm-up."""
    args = [*PRIORITY, "taskset", "-c", LOAD_CPU, sys.executable, str(Path(__file__).with_name("handshakes.py")),
            "--port", str(port), "--ca", str(certs.ca), "--protocol", protocol,
            "--processes", str(HANDSHAKE_PROCESSES)] + (["--resume"] if resume else [])
    run = lambda duration: json.loads(subprocess.run(
        [*args, "--duration", str(duration)], check=True, capture_output=True, text=True).stdout)
    run(2)
    before = h.cpu_ticks(proxy)
    out = run(h.duration)
    cpu_s = (h.cpu_ticks(proxy) - before) / CLOCK_TICKS
    non_200 = sum(n for status, n in out["statuses"].items() if status != "200")
    ms = lambda key: float("nan") if out[key] is None else out[key]
    result = Result(name, out["ok"] / out["elapsed"], ms("p50_ms"), ms("p99_ms"), non_200)
    result.proxy_busy = cpu_s / out["elapsed"]
    result.notes.append(", ".join(f"{v} {n}" for v, n in out["protocols"].items())
                        + " (" + ", ".join(out["ciphers"]) + ")")
    if resume:
        result.notes.append(f"resumed {out['resumed']} of {out['connections']}, "
                            + ("by ticket" if out["tickets"] else "by session ID"))
    if out["connections"]:
        result.cpu_us_per_req = cpu_s / out["connections"] * 1e6
        result.notes.append(f"{1e6 / result.cpu_us_per_req:,.0f}/s per core of the proxy")
    if out["errors"]:
        result.notes.append("errors: " + ", ".join(f"{k} {n}" for k, n in out["errors"].items()))
    return result


def scenario_tls(h: Harness) -> list[Result]:
    """nginx and ringfence terminating TLS (ECDSA P-256) in front of the static upstream:
    keep-alive requests (wrk over https, 64 connections), full handshakes (TLS 1.3 and 1.2)
    and resumed ones, each a new connection with one GET. Ringfence rows carry their ratio
    to nginx's row."""
    certs = h.certificates()
    measurements = [
        ("keep-alive requests, wrk https, 64 connections",
         lambda port, proxy, name: h.measure(name, port, proxy, scheme="https", connections=64)),
        *((f"{'resumed' if resume else 'full'} TLS {protocol} handshakes + GET, "
           f"{HANDSHAKE_PROCESSES} clients",
           lambda port, proxy, name, protocol=protocol, resume=resume:
               handshakes(h, name, port, proxy, certs, protocol, resume))
          for resume in (False, True) for protocol in ("1.3", "1.2")),
    ]
    proxies = [("nginx", NGINX_PORT, lambda: h.nginx_proxy(tls=certs)),
               ("ringfence", RINGFENCE_PORT, lambda: h.ringfence(ACL_LOCAL, "ringfence-tls", tls=certs))]
    rows: dict[tuple[str, str], Result] = {}
    upstream = h.upstream()
    for proxy_name, port, start in proxies:
        proxy = start()
        for label, measure in measurements:
            rows[(proxy_name, label)] = measure(port, proxy, f"{proxy_name}: {label}")
        h.stop(proxy)
    h.stop(upstream)
    results = []
    for label, _ in measurements:
        pair = nginx, ringfence = rows[("nginx", label)], rows[("ringfence", label)]
        client_bound = any(r.proxy_busy is not None and r.proxy_busy < CLIENT_BOUND for r in pair)
        for r in pair:
            if r.proxy_busy is not None:
                r.notes.append(f"proxy busy {r.proxy_busy * 100:.0f}% of a core"
                               + (" (client-bound)" if r.proxy_busy < CLIENT_BOUND else ""))
        if nginx.cpu_us_per_req and ringfence.cpu_us_per_req and nginx.rps:
            ringfence.notes.insert(0, f"**ringfence/nginx: CPU per request "
                                      f"{ringfence.cpu_us_per_req / nginx.cpu_us_per_req:.2f}x**, "
                                      f"rate {ringfence.rps / nginx.rps:.2f}x"
                                      + (" (the clients' rate)" if client_bound else ""))
        results += pair
    return results


SCENARIOS = {"proxy": scenario_proxy, "audit": scenario_audit, "auth": scenario_auth, "flood": scenario_flood,
             "hostile": scenario_hostile, "attack": scenario_attack, "tls": scenario_tls}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIO",
                        help=f"any of {', '.join(SCENARIOS)} (default: all)")
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--repeat", type=int, default=1,
                        help="hostile: run each proxy's phases this many times, taking turns")
    parser.add_argument("--rt", action="store_true",
                        help="SCHED_FIFO for everything the harness starts (root): other work on "
                             "a shared machine no longer delays it; it takes the CPUs first")
    args = parser.parse_args()
    if args.rt:
        PRIORITY[:], ATTACK_PRIORITY[:] = ["chrt", "-f", "20"], ["chrt", "-f", "10"]
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    args.scenarios = args.scenarios or list(SCENARIOS)
    for tool in ("wrk", "nginx", "haproxy", "taskset", "openssl"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing: run tuning/load/run.sh, which installs it")
    if not RINGFENCE.exists():
        sys.exit("build first: cargo build --release")
    harness = Harness(args.duration, args.connections, args.repeat)
    all_results: dict[str, list[Result]] = {}
    try:
        for name in args.scenarios:
            all_results[name] = SCENARIOS[name](harness)
    finally:
        harness.stop_all()
    for name, results in all_results.items():
        print(f"\n## {name}\n")
        if all(r.rps == 0 for r in results):
            print("| scenario | measured |\n|---|---|")
            for r in results:
                print(f"| {r.name} | {'; '.join(r.notes)} |")
            continue
        # Open-loop rows (paced.py) count 2xx answers received in time and have a p99.9.
        with_p999 = any(r.p999_ms is not None for r in results)
        print("| scenario | req/s | p50 ms | p99 ms |" + (" p99.9 ms |" if with_p999 else "")
              + " non-2xx | proxy CPU µs/req | notes |")
        print("|---|---:|---:|---:|" + ("---:|" if with_p999 else "") + "---:|---:|---|")
        for r in results:
            cpu = f"{r.cpu_us_per_req:.1f}" if r.cpu_us_per_req is not None else "-"
            p999 = (f" {r.p999_ms:.2f} |" if r.p999_ms is not None else " - |") if with_p999 else ""
            print(f"| {r.name} | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} |{p999} {r.non_2xx} | {cpu} | {'; '.join(r.notes)} |")
    if args.json:
        args.json.write_text(json.dumps({k: [r.__dict__ for r in v] for k, v in all_results.items()}, indent=2))


if __name__ == "__main__":
    main()
