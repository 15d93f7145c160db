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
  idle    memory per idle keep-alive connection: 10,000 connections (idle.py), each after
          one request, held open; the proxy's RSS and PSS before and after, per connection:
          ringfence, nginx, haproxy, and ringfence and nginx over TLS
  bulk    _bulk ingest of 1, 5, 25 and 100 MB NDJSON bodies on 8 keep-alive connections
          (loadgen, closed loop): MB/s and proxy CPU per MB, direct upstream vs ringfence
          with the ACL off (body streamed) and with an indices rule (body inspected), and
          gzip bodies (MB/s of inflated data)
  large   a 10 MB search response on 4 connections: proxy CPU per MB, ringfence vs nginx
          with proxy_buffering on and off, and haproxy
  openloop each proxy's capacity (wrk, 64 connections), then the open-loop generator
          (loadgen, latency from the scheduled time) at 50, 70 and 90% of it: p50, p99, p99.9
  scaling ringfence with 1 and 2 workers: req/s and CPU per request, pinned and unpinned
  ldap    ldap_auth against a real slapd (tests/ldap/slapd.sh, 1,000 users in one group,
          random user per request): warm (answers cached per core) and cold (cache_ttl 0:
          every request is a user search, a bind and a group search), against plain
          auth_key; the proxy's and slapd's CPU per request
Needs wrk, nginx, haproxy and openssl (Debian packages; tuning/load/run.sh installs them),
and for the new scenarios the generator in tuning/loadgen (run.sh builds it).
"""

from __future__ import annotations

import argparse
import base64
import datetime
import gzip
import json
import os
import platform
import random
import re
import resource
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
LOADGEN = Path(os.environ.get("LOADGEN_BIN", ROOT / "tuning" / "loadgen" / "target" / "release" / "loadgen"))
UPSTREAM_PORT, RINGFENCE_PORT, NGINX_PORT, HAPROXY_PORT = 18080, 18201, 18202, 18203
LDAP_PORT = 18389
PROXY_CPU, LOAD_CPU = "0", "1"
# How every process the harness starts is scheduled (--rt). Hostile clients get
# ATTACK_PRIORITY, below the client that measures, so that on the shared load CPU the
# attack delays the measuring client only when it has nothing to do. (`nice -n -10` instead
# was tried: the proxies still waited for a CPU a quarter of the time.)
PRIORITY: list[str] = []
ATTACK_PRIORITY: list[str] = []
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# Descriptors for every process the harness starts (idle: 10,000 connections per process).
NOFILE = 65536
# The upstream's connections: the idle scenario's proxies may keep one per client.
UPSTREAM_CONNECTIONS = 20000
# The large scenario's search response.
BIG_RESPONSE_BYTES = 10_000_000
MB = 1_000_000

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
    # The user-space share of cpu_us_per_req (what the proxy's own code costs; the rest is
    # the kernel's socket work).
    user_us_per_req: float | None = None
    p999_ms: float | None = None
    notes: list[str] = field(default_factory=list)
    # The proxy's CPU use during the measurement, in cores.
    proxy_busy: float | None = None
    # Scenarios with their own columns (idle, bulk, large, openloop): name -> value, in
    # order; such a scenario's table shows these instead of req/s and latency.
    columns: dict[str, object] = field(default_factory=dict)


class Harness:
    def __init__(self, duration: int, connections: int, repeat: int = 1):
        self.duration, self.connections, self.repeat = duration, connections, repeat
        self.dir = Path(tempfile.mkdtemp(prefix="ringfence-load-"))
        # nginx workers run as nobody and must read the htpasswd file in here.
        self.dir.chmod(0o755)
        self.procs: list[subprocess.Popen] = []
        # Every process started inherits this: 10,000 idle connections need more than the
        # usual 1,024 descriptors. Raising the hard limit needs CAP_SYS_RESOURCE, which a
        # container may not have: then the soft limit goes up to the hard one.
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        for limit in ((NOFILE, NOFILE), (min(NOFILE, hard), hard)):
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, limit)
                break
            except (ValueError, OSError):
                continue

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

    def upstream(self, cpu: str = LOAD_CPU) -> subprocess.Popen:
        # Like Elasticsearch, the upstream reads a request body before it answers: `return`
        # alone would answer at once and drop the body. Requests with a body take a detour
        # through a proxy_pass to this same server, and nginx reads the whole body before
        # it proxies (proxy_request_buffering), into memory (client_body_buffer_size, up to
        # 128 MB: no temporary file), of any size (client_max_body_size 0); the detour
        # itself carries no body (proxy_pass_request_body off).
        # GET /big/_search (or /<anything>big/_search) answers a 10 MB search response
        # from a file (the large scenario).
        big = self.big_response()
        conf = self.nginx_conf("upstream", UPSTREAM_PORT, f"""
            location / {{ default_type application/json;
                         error_page 418 = @body;
                         if ($http_content_length) {{ return 418; }}
                         if ($http_transfer_encoding) {{ return 418; }}
                         return 200 '{ES_BODY}'; }}
            location @body {{ rewrite ^ /_body_read break;
                             proxy_pass_request_body off; proxy_set_header Content-Length "";
                             proxy_set_header Transfer-Encoding "";
                             proxy_pass http://127.0.0.1:{UPSTREAM_PORT}; }}
            location = /_body_read {{ default_type application/json;
                                     return 200 '{{"took":1,"errors":false,"items":[]}}'; }}
            location ~ ^/[^/]*big/_search$ {{ default_type application/json; root {big.parent};
                                             rewrite ^ /{big.name} break; }}""",
                               "client_max_body_size 0; client_body_buffer_size 128m;"
                               " sendfile on; tcp_nopush on;",
                               worker_connections=UPSTREAM_CONNECTIONS)
        return self.start(["nginx", "-c", str(conf)], cpu, UPSTREAM_PORT, "upstream")

    def big_response(self) -> Path:
        """A search response of BIG_RESPONSE_BYTES: log documents as hits."""
        path = self.dir / "big.json"
        if not path.exists():
            rng = random.Random(11)
            hits, size, i = [], 0, 0
            while size < BIG_RESPONSE_BYTES - 200:
                hit = json.dumps({"_index": "logs-2026.11.30", "_id": f"{i:020d}", "_score": 1.0,
                                  "_source": log_document(rng, i)}, separators=(",", ":"))
                hits.append(hit)
                size += len(hit) + 1
                i += 1
            path.write_text('{"took":12,"timed_out":false,"_shards":{"total":1,"successful":1,'
                            '"skipped":0,"failed":0},"hits":{"total":{"value":%d,"relation":"eq"},'
                            '"max_score":1.0,"hits":[%s]}}' % (i, ",".join(hits)))
            path.chmod(0o644)
        return path

    def nginx_conf(self, name: str, port: int, locations: str, extra_http: str = "",
                   listen_options: str = "", worker_connections: int = 4096,
                   keepalive_timeout: str = "60s") -> Path:
        conf = self.dir / f"{name}.conf"
        conf.write_text(f"""
            worker_processes 1; daemon off; pid {self.dir}/{name}.pid; error_log stderr error;
            worker_rlimit_nofile {min(2 * worker_connections + 100, resource.getrlimit(resource.RLIMIT_NOFILE)[1])};
            events {{ worker_connections {worker_connections}; }}
            http {{
                access_log off; keepalive_requests 1000000; keepalive_timeout {keepalive_timeout};
                client_body_temp_path {self.dir}/{name}-body;
                proxy_temp_path {self.dir}/{name}-proxy;
                {extra_http}
                server {{ listen 127.0.0.1:{port}{listen_options}; {locations} }}
            }}""")
        return conf

    def ringfence(self, acl: str, name: str, auth: str = "",
                  env: dict[str, str] | None = None,
                  tls: Certificates | None = None, gateway: str = "", workers: int = 1,
                  cpu: str = PROXY_CPU) -> subprocess.Popen:
        """`auth` and `gateway` are more lines of the `gateway:` section (`  auth: ...`,
        `  limits: ...`)."""
        conf = self.dir / f"{name}.yml"
        scheme = "https://" if tls else ""
        ssl = (f"  ssl:\n    enable: true\n    server_certificate_file: {tls.chain}\n"
               f"    server_certificate_key_file: {tls.key}\n") if tls else ""
        conf.write_text(
            f"gateway:\n  listen: \"{scheme}127.0.0.1:{RINGFENCE_PORT}\"\n"
            f"  upstreams: [\"http://127.0.0.1:{UPSTREAM_PORT}\"]\n  workers: {workers}\n"
            f"  metadata_refresh_ms: 0\n  policy_watch_ms: 0\n{auth}{gateway}readonlyrest:\n{ssl}{acl}")
        return self.start([str(RINGFENCE), "run", "--config", str(conf)], cpu, RINGFENCE_PORT,
                          name, env)

    def nginx_proxy(self, auth_file: Path | None = None, extra_http: str = "",
                    tls: Certificates | None = None, location_extra: str = "",
                    worker_connections: int = 4096, keepalive_timeout: str = "60s") -> subprocess.Popen:
        auth = f'auth_basic "es"; auth_basic_user_file {auth_file};' if auth_file else ""
        if tls:
            extra_http += (f"ssl_certificate {tls.chain}; ssl_certificate_key {tls.key};"
                           " ssl_protocols TLSv1.2 TLSv1.3; ssl_session_cache shared:SSL:10m;"
                           " ssl_session_tickets on;")
        conf = self.nginx_conf("nginx-proxy", NGINX_PORT, f"""
            location / {{ {auth} proxy_pass http://es; proxy_http_version 1.1;
                         proxy_set_header Connection ""; {location_extra} }}""",
                               f"upstream es {{ server 127.0.0.1:{UPSTREAM_PORT}; keepalive 64; }}"
                               + extra_http, " ssl" if tls else "", worker_connections,
                               keepalive_timeout)
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

    def haproxy(self, client_timeouts: str = "timeout client 60s",
                maxconn: int = 4096) -> subprocess.Popen:
        conf = self.dir / "haproxy.cfg"
        # haproxy asks for two descriptors per connection (client and server side) and
        # refuses to start when the hard limit is lower; the idle scenario's clients share
        # a few server connections, so the limit the harness has is enough.
        limit = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        ulimit = f"\n    ulimit-n {limit}" if 2 * maxconn + 100 > limit else ""
        conf.write_text(f"""
global
    maxconn {maxconn}{ulimit}
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
    def cpu_ticks(proc: subprocess.Popen, user_only: bool = False) -> int:
        """utime + stime (or utime alone) of the process and its children (nginx workers), in
        clock ticks."""
        total = 0
        pids = [str(proc.pid)]
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
        if children.exists():
            pids += children.read_text().split()
        # taskset execs the command, so proc.pid is the proxy itself.
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + (0 if user_only else int(fields[12]))
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

    @staticmethod
    def memory_kb(proc: subprocess.Popen) -> tuple[int, int]:
        """RSS and PSS of the process and its children (nginx workers), in KiB. PSS shares
        pages mapped by several processes among them (nginx's master and worker)."""
        pids = [str(proc.pid)]
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
        if children.exists():
            pids += children.read_text().split()
        rss = pss = 0
        for pid in pids:
            try:
                status = Path(f"/proc/{pid}/status").read_text()
                rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
            except FileNotFoundError:
                continue
            rss += int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.M).group(1))
            pss += int(re.search(r"^Pss:\s+(\d+) kB", rollup, re.M).group(1))
        return rss, pss

    def loadgen(self, port: int, path: str = "/", rate: float = 0, connections: int = 64,
                duration: float | None = None, headers: dict[str, str] | None = None,
                method: str = "GET", body: Path | None = None, timeout: float = 2.0,
                cpu: str = LOAD_CPU) -> dict:
        """The Rust generator (tuning/loadgen) on the load CPU: open loop at `rate` req/s,
        or closed loop with rate 0. Returns its JSON report."""
        args = [*PRIORITY, "taskset", "-c", cpu, str(LOADGEN), "-c", str(connections),
                "-R", str(rate), "-d", str(duration or self.duration), "--timeout", str(timeout),
                "-m", method]
        for name, value in (headers or {}).items():
            args += ["-H", f"{name}: {value}"]
        if body:
            args += ["--body", str(body)]
        args.append(f"http://127.0.0.1:{port}{path}")
        run = subprocess.run(args, capture_output=True, text=True)
        if run.returncode:
            sys.exit(f"loadgen failed: {run.stderr}")
        return json.loads(run.stdout)

    def wrk(self, port: int, path: str = "/", headers: dict[str, str] | None = None,
            script: Path | None = None, connections: int | None = None,
            duration: int | None = None, rate_cpu: str = LOAD_CPU,
            scheme: str = "http", threads: int = 1) -> subprocess.Popen:
        args = [*PRIORITY, "taskset", "-c", rate_cpu, "wrk", f"-t{threads}", f"-c{connections or self.connections}",
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
        ticks = lambda: (self.cpu_ticks(proxy), self.cpu_ticks(proxy, user_only=True))
        before = ticks() if proxy else (0, 0)
        out = self.wrk(port, **wrk_args).communicate()[0]
        after = ticks() if proxy else (0, 0)
        result = parse_wrk(name, out)
        if proxy and result.rps:
            seconds = wrk_args.get("duration") or self.duration
            result.proxy_busy = (after[0] - before[0]) / CLOCK_TICKS / seconds
            result.cpu_us_per_req = result.proxy_busy / result.rps * 1e6
            user_busy = (after[1] - before[1]) / CLOCK_TICKS / seconds
            result.user_us_per_req = user_busy / result.rps * 1e6
            result.notes.append(f"user {result.user_us_per_req:.1f} µs/req")
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
    compare_cpu(results)
    return results


def compare_cpu(results: list[Result]) -> None:
    """Notes on each ringfence row: its CPU per request (total and user) as a ratio of
    haproxy's and nginx's in the same run (issue 13's targets: user <= 0.4x and total <= 0.8x
    haproxy's, total <= 0.6x nginx's)."""
    def reference(prefix: str) -> Result | None:
        return next((r for r in results if r.name.startswith(prefix) and r.cpu_us_per_req), None)
    haproxy, nginx = reference("haproxy"), reference("nginx")
    for r in results:
        if not r.name.startswith("ringfence") or not r.cpu_us_per_req:
            continue
        ratios = []
        if haproxy:
            ratios.append(f"{r.cpu_us_per_req / haproxy.cpu_us_per_req:.2f}x haproxy")
            if r.user_us_per_req is not None and haproxy.user_us_per_req:
                ratios.append(f"user {r.user_us_per_req / haproxy.user_us_per_req:.2f}x haproxy")
        if nginx:
            ratios.append(f"{r.cpu_us_per_req / nginx.cpu_us_per_req:.2f}x nginx")
        r.notes.insert(0, "**" + ", ".join(ratios) + "**")


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


LDAP_USERS = 1000


def ldap_fixture(path: Path) -> Path:
    """A directory of LDAP_USERS users (u0000..., password pw-<n>), all in group `readers`."""
    people = "".join(
        f"dn: uid=u{n:04},ou=People,dc=example,dc=com\nobjectClass: inetOrgPerson\n"
        f"uid: u{n:04}\ncn: u{n:04}\nsn: bench\nuserPassword: pw-{n}\n\n" for n in range(LDAP_USERS))
    members = "".join(f"uniqueMember: uid=u{n:04},ou=People,dc=example,dc=com\n"
                      for n in range(LDAP_USERS))
    path.write_text(
        "dn: dc=example,dc=com\nobjectClass: dcObject\nobjectClass: organization\no: Bench\n"
        "dc: example\n\n"
        "dn: ou=People,dc=example,dc=com\nobjectClass: organizationalUnit\nou: People\n\n"
        "dn: ou=Groups,dc=example,dc=com\nobjectClass: organizationalUnit\nou: Groups\n\n"
        + people +
        f"dn: cn=readers,ou=Groups,dc=example,dc=com\nobjectClass: groupOfUniqueNames\n"
        f"cn: readers\n{members}")
    return path


def ldap_users_script(path: Path) -> Path:
    """A wrk script sending the Basic credentials of a random directory user per request."""
    values = [basic(f"u{n:04}", f"pw-{n}") for n in range(LDAP_USERS)]
    path.write_text(
        "local creds = {" + ",".join(f'"{v}"' for v in values) + "}\n"
        "math.randomseed(7)\n"
        "request = function()\n"
        "  return wrk.format('GET', '/', {['Authorization'] = creds[math.random(#creds)]})\n"
        "end\n")
    return path


def scenario_ldap(h: Harness) -> list[Result]:
    results = []
    upstream = h.upstream()
    data = h.dir / "slapd"
    shutil.rmtree(data, ignore_errors=True)
    slapd = h.start([str(ROOT / "tests" / "ldap" / "slapd.sh"), str(data), str(LDAP_PORT),
                     str(ldap_fixture(h.dir / "bench.ldif"))], LOAD_CPU, LDAP_PORT, "slapd")
    script = ldap_users_script(h.dir / "ldap-users.lua")
    definition = (f"  ldaps:\n  - name: ldap1\n    host: 127.0.0.1\n    port: {LDAP_PORT}\n"
                  "    ssl_enabled: false\n    bind_dn: \"cn=admin,dc=example,dc=com\"\n"
                  "    bind_password: admin-secret\n"
                  "    search_user_base_DN: \"ou=People,dc=example,dc=com\"\n"
                  "    search_groups_base_DN: \"ou=Groups,dc=example,dc=com\"\n"
                  "    connection_pool_size: 16\n")
    for label, ttl in (("warm: answers cached per core", ""), ("cold: cache_ttl 0", ", cache_ttl: 0")):
        acl = ("  access_control_rules:\n  - name: plain\n    auth_key: \"test:test\"\n"
               f"  - name: directory\n    ldap_auth: {{name: ldap1, groups_any_of: [\"readers\"]{ttl}}}\n"
               + definition)
        rf = h.ringfence(acl, "ringfence-ldap")
        if not results:
            results.append(h.measure("ringfence auth_key (plain), reference", RINGFENCE_PORT, rf,
                                     headers={"Authorization": basic("test", "test")}))
        before = h.cpu_ticks(slapd)
        result = h.measure(f"ringfence ldap_auth, {LDAP_USERS} random users, {label}", RINGFENCE_PORT,
                           rf, script=script)
        # slapd's CPU over the warm-up and the measurement (measure's warm-up is 2 s).
        slapd_seconds = (h.cpu_ticks(slapd) - before) / CLOCK_TICKS
        requests = result.rps * (h.duration + 2)
        if requests:
            result.notes.append(f"slapd {slapd_seconds / requests * 1e6:.1f} µs/req")
        results.append(result)
        h.stop(rf)
    h.stop(slapd)
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


# -- idle, bulk, large, openloop, scaling ----------------------------------------------

def log_document(rng: random.Random, i: int) -> dict:
    """A log event like Logstash ships (about 300 bytes as JSON)."""
    return {"@timestamp": f"2026-11-30T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}."
                          f"{rng.randrange(1000):03d}Z",
            "host": {"name": f"web-{rng.randrange(40):02d}"},
            "service": rng.choice(["checkout", "search", "auth", "cart", "gateway"]),
            "log": {"level": rng.choice(["INFO", "INFO", "INFO", "WARN", "ERROR", "DEBUG"])},
            "http": {"method": rng.choice(["GET", "POST"]),
                     "status": rng.choice([200, 200, 200, 201, 304, 404, 500]),
                     "path": f"/api/v1/items/{rng.randrange(100000)}",
                     "duration_ms": rng.randrange(1, 2000)},
            "client": {"ip": f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}"},
            "message": "request handled for user " + "".join(
                rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(40)),
            "trace_id": f"{rng.getrandbits(128):032x}"}


def count_established(port: int) -> int:
    """Established TCP connections whose local port is `port` (the proxy's side)."""
    out = subprocess.run(["ss", "-Htn", "state", "established", f"( sport = :{port} )"],
                         capture_output=True, text=True).stdout
    return len(out.splitlines())


def nan_if_none(value: float | None) -> float:
    return float("nan") if value is None else value


IDLE_CONNECTIONS = 10_000
# Ringfence: no per-address limit (every client here is 127.0.0.1), idle for 10 minutes.
IDLE_GATEWAY = "  limits:\n    max_connections_per_address: 0\n    idle_timeout_ms: 600000\n"
IDLE_TIMEOUT = "600s"


def idle_memory(h: Harness, name: str, port: int, proxy: subprocess.Popen, path: str,
                headers: dict[str, str], certs: Certificates | None = None,
                connections: int = IDLE_CONNECTIONS) -> Result:
    """The proxy's memory before and after `connections` keep-alive connections (idle.py
    on the load CPU), each after one request: per connection, in KiB."""
    # First-use allocations (caches, pools, the upstream connections) belong in the baseline.
    h.wrk(port, path=path, headers=headers, connections=8, duration=1,
          scheme="https" if certs else "http").wait()
    time.sleep(0.5)
    rss0, pss0 = h.memory_kb(proxy)
    args = [*PRIORITY, "taskset", "-c", LOAD_CPU, sys.executable,
            str(Path(__file__).with_name("idle.py")), "--port", str(port),
            "--connections", str(connections), "--path", path]
    for header, value in headers.items():
        args += ["--header", f"{header}: {value}"]
    if certs:
        args += ["--tls-ca", str(certs.ca)]
    client = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    line = client.stdout.readline()
    if not line:
        sys.exit(f"idle.py failed: {client.communicate()[1]}")
    report = json.loads(line)
    time.sleep(1)
    rss1, pss1 = h.memory_kb(proxy)
    established = count_established(port)
    client.communicate("\n", timeout=60)
    held = report["opened"]
    per = lambda before, after: (after - before) / held if held else float("nan")
    non_200 = sum(n for status, n in report["statuses"].items() if status != "200")
    result = Result(name, 0, float("nan"), float("nan"), non_200)
    result.columns = {"connections held": held, "RSS before MiB": rss0 / 1024,
                      "RSS after MiB": rss1 / 1024, "KiB/conn (RSS)": per(rss0, rss1),
                      "KiB/conn (PSS)": per(pss0, pss1)}
    result.notes.append(f"{established:,} established at the proxy's port (ss); opened in "
                        f"{report['seconds']} s")
    if report["errors"] or non_200:
        result.notes.append("failed: " + json.dumps(report["errors"]) + f", non-200 {non_200}")
    return result


def scenario_idle(h: Harness) -> list[Result]:
    """Memory per idle keep-alive connection: IDLE_CONNECTIONS connections, each after one
    request (GET /logs-1/_search with valid credentials), then idle; RSS and PSS of every
    process of the proxy before and after, divided by the connections held. Kernel socket
    buffers are not in either. Ringfence rows carry their ratio to nginx's."""
    valid = {"Authorization": basic("logstash", "logstash")}
    path = "/logs-1/_search"
    certs = h.certificates()
    haproxy_timeouts = f"timeout client {IDLE_TIMEOUT}\n    timeout http-keep-alive {IDLE_TIMEOUT}"
    # haproxy reserves two descriptors per connection (maxconn) and will not start past the
    # hard limit, which an unprivileged container cannot raise: fewer connections then.
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    haproxy_maxconn = min(IDLE_CONNECTIONS + 500, (limit - 100) // 2)
    haproxy_connections = min(IDLE_CONNECTIONS, haproxy_maxconn - 50)
    targets = [
        ("ringfence, sha256 user + indices ACL", RINGFENCE_PORT, None,
         lambda: h.ringfence(ACL_REALISTIC, "ringfence-idle", gateway=IDLE_GATEWAY)),
        ("nginx proxy_pass", NGINX_PORT, None,
         lambda: h.nginx_proxy(worker_connections=UPSTREAM_CONNECTIONS,
                               keepalive_timeout=IDLE_TIMEOUT)),
        ("haproxy", HAPROXY_PORT, None,
         lambda: h.haproxy(haproxy_timeouts, maxconn=haproxy_maxconn)),
        ("ringfence over TLS 1.3, same ACL", RINGFENCE_PORT, certs,
         lambda: h.ringfence(ACL_REALISTIC, "ringfence-idle-tls", gateway=IDLE_GATEWAY,
                             tls=certs)),
        ("nginx over TLS 1.3", NGINX_PORT, certs,
         lambda: h.nginx_proxy(tls=certs, worker_connections=UPSTREAM_CONNECTIONS,
                               keepalive_timeout=IDLE_TIMEOUT)),
    ]
    results = []
    upstream = h.upstream()
    for name, port, tls, start in targets:
        proxy = start()
        connections = haproxy_connections if port == HAPROXY_PORT else IDLE_CONNECTIONS
        results.append(idle_memory(h, name, port, proxy, path, valid, tls, connections))
        if connections < IDLE_CONNECTIONS:
            results[-1].notes.append(f"{connections:,} connections: maxconn {haproxy_maxconn:,} "
                                     f"is what the descriptor limit ({limit:,}) allows haproxy")
        h.stop(proxy)
    h.stop(upstream)
    by_name = {r.name: r for r in results}
    for ringfence, nginx in (("ringfence, sha256 user + indices ACL", "nginx proxy_pass"),
                             ("ringfence over TLS 1.3, same ACL", "nginx over TLS 1.3")):
        rf, ng = by_name[ringfence].columns, by_name[nginx].columns
        if ng["KiB/conn (RSS)"] > 0:
            by_name[ringfence].notes.insert(
                0, f"**{rf['KiB/conn (RSS)'] / ng['KiB/conn (RSS)']:.2f}x nginx** (RSS), "
                   f"{rf['KiB/conn (PSS)'] / ng['KiB/conn (PSS)']:.2f}x (PSS)")
    return results


BULK_SIZES_MB = (1, 5, 25, 100)
BULK_CONNECTIONS = 8
# Bodies up to 200 MiB; 8 of 100 MB inspected at once fit the buffering budget.
BULK_GATEWAY = ("  limits:\n    max_body_bytes: 209715200\n"
                "    max_buffered_body_bytes: 2147483648\n")
ACL_BULK = """  access_control_rules:
  - name: logstash
    auth_key_sha256: "logstash:76cd2c0d589e224531fc6af2c5850e3c9b2aca6902d813ce598833c7c1b28bee"
    actions: ["indices:data/write/*"]
    indices: ["logs-*"]
"""


@dataclass
class BulkBody:
    raw: Path
    gzip: Path
    size: int
    gzip_size: int


def bulk_body(h: Harness, mb: int) -> BulkBody:
    """An NDJSON `_bulk` body of about `mb` MB as Logstash sends it (an index action and a
    ~300-byte document per item), and the same gzipped at level 1 (Logstash's default)."""
    rng = random.Random(5)
    # 2,000 distinct documents (600 KB) cycle: more than gzip's 32 KB window remembers.
    pool = [json.dumps(log_document(rng, i), separators=(",", ":")) for i in range(2000)]
    action = '{"index":{"_index":"logs-2026.11.30"}}\n'
    parts, size, i = [], 0, 0
    while True:
        item = action + pool[i % len(pool)] + "\n"
        if size + len(item) > mb * MB:
            break
        parts.append(item)
        size += len(item)
        i += 1
    data = "".join(parts).encode()
    raw, packed = h.dir / f"bulk-{mb}mb.ndjson", h.dir / f"bulk-{mb}mb.ndjson.gz"
    raw.write_bytes(data)
    compressed = gzip.compress(data, compresslevel=1)
    packed.write_bytes(compressed)
    return BulkBody(raw, packed, len(data), len(compressed))


def bulk_run(h: Harness, name: str, port: int, proxy: subprocess.Popen | None,
             upstream: subprocess.Popen, body: BulkBody, encoding: str,
             headers: dict[str, str]) -> Result:
    """BULK_CONNECTIONS keep-alive connections posting `body` back to back for the duration
    (after a 1 s warm-up): MB/s of (inflated) NDJSON and CPU per MB."""
    headers = {**headers, **({"Content-Encoding": "gzip"} if encoding == "gzip" else {})}
    payload = body.gzip if encoding == "gzip" else body.raw
    run = lambda duration: h.loadgen(port, "/_bulk", connections=BULK_CONNECTIONS,
                                     duration=duration, headers=headers, method="POST",
                                     body=payload, timeout=120)
    run(1)
    before = (h.cpu_ticks(proxy) if proxy else 0, h.cpu_ticks(upstream))
    out = run(h.duration)
    proxy_s = (h.cpu_ticks(proxy) - before[0]) / CLOCK_TICKS if proxy else None
    upstream_s = (h.cpu_ticks(upstream) - before[1]) / CLOCK_TICKS
    mb = out["ok"] * body.size / MB
    result = Result(f"{name}: {body.size / MB:.0f} MB{', gzip' if encoding == 'gzip' else ''}",
                    out["achieved_rps"], nan_if_none(out["p50_ms"]), nan_if_none(out["p99_ms"]),
                    out["non_2xx"], p999_ms=nan_if_none(out["p999_ms"]))
    result.columns = {
        "MB/s": mb / out["elapsed_s"] if out["elapsed_s"] else 0.0,
        "bodies/s": out["achieved_rps"],
        "proxy CPU ms/MB": proxy_s * 1000 / mb if proxy_s is not None and mb else None,
        "proxy busy": f"{proxy_s / out['elapsed_s'] * 100:.0f}%" if proxy_s is not None else None,
        "upstream CPU ms/MB": upstream_s * 1000 / mb if mb else None,
        "non-2xx": out["non_2xx"]}
    if encoding == "gzip":
        result.notes.append(f"{body.gzip_size / MB:.1f} MB on the wire ({body.size / body.gzip_size:.1f}:1); "
                            "MB/s counts inflated bytes")
    lost = out["errors"] + out["timeouts"]
    if lost or out["non_2xx"]:
        result.notes.append(f"failed: {json.dumps(out['statuses'])}, errors {out['errors']} "
                            f"{json.dumps(out['error_kinds'])}, timeouts {out['timeouts']}")
    return result


def scenario_bulk(h: Harness) -> list[Result]:
    """`_bulk` ingest: NDJSON bodies of 1, 5, 25 and 100 MB posted back to back on
    BULK_CONNECTIONS keep-alive connections (loadgen, closed loop), to the upstream directly
    and through Ringfence with the ACL off (the body is streamed) and with a `logs-*`
    indices rule (the body is read and every action's index checked), plain and gzipped.
    The upstream reads every body into memory before it answers."""
    headers = {"Authorization": basic("logstash", "logstash"),
               "Content-Type": "application/x-ndjson"}
    bodies = {mb: bulk_body(h, mb) for mb in BULK_SIZES_MB}
    direct = "direct upstream"
    inspected = "ringfence, logs-* indices rule (body inspected)"
    targets = [
        (direct, UPSTREAM_PORT, None, ("identity", "gzip")),
        ("ringfence, ACL disabled (body streamed)", RINGFENCE_PORT,
         lambda: h.ringfence(ACL_OFF, "ringfence-bulk-open", gateway=BULK_GATEWAY), ("identity",)),
        (inspected, RINGFENCE_PORT,
         lambda: h.ringfence(ACL_BULK, "ringfence-bulk-acl", gateway=BULK_GATEWAY),
         ("identity", "gzip")),
    ]
    rows: dict[tuple[str, int, str], Result] = {}
    upstream = h.upstream()
    for name, port, start, encodings in targets:
        proxy = start() if start else None
        for mb in BULK_SIZES_MB:
            for encoding in encodings:
                rows[(name, mb, encoding)] = bulk_run(h, name, port, proxy, upstream,
                                                      bodies[mb], encoding, headers)
        if proxy:
            h.stop(proxy)
    h.stop(upstream)
    # 170 MB of bodies: the harness leaves its directory behind for the logs, not these.
    for body in bodies.values():
        body.raw.unlink()
        body.gzip.unlink()
    results = []
    for mb in BULK_SIZES_MB:
        plain = rows[(direct, mb, "identity")].columns["MB/s"]
        for encoding in ("identity", "gzip"):
            reference = rows.get((direct, mb, encoding))
            for name, *_ in targets:
                row = rows.get((name, mb, encoding))
                if row is None:
                    continue
                if row is not reference and reference and reference.columns["MB/s"]:
                    ratio = f"**{row.columns['MB/s'] / reference.columns['MB/s']:.2f}x direct MB/s**"
                    if encoding == "gzip" and plain:
                        # The static upstream does not inflate: direct gzip only moves the
                        # compressed bytes. Against the plain body too (same NDJSON).
                        ratio += f" ({row.columns['MB/s'] / plain:.2f}x direct plain)"
                    row.notes.insert(0, ratio)
                results.append(row)
    return results


LARGE_CONNECTIONS = 4


def scenario_large(h: Harness) -> list[Result]:
    """A 10 MB search response (a static file at the upstream) fetched back to back on
    LARGE_CONNECTIONS keep-alive connections (loadgen, closed loop): MB/s and the proxy's
    CPU per MB. nginx buffers responses by default (proxy_buffering on: past its buffers, to
    a temporary file); Ringfence rows carry their ratio to both nginx rows."""
    valid = {"Authorization": basic("logstash", "logstash")}
    targets = [
        ("direct upstream (reference)", UPSTREAM_PORT, None, {}, "/big/_search"),
        ("ringfence, ACL disabled", RINGFENCE_PORT,
         lambda: h.ringfence(ACL_OFF, "ringfence-large-open"), {}, "/big/_search"),
        ("ringfence, sha256 user + indices ACL", RINGFENCE_PORT,
         lambda: h.ringfence(ACL_REALISTIC, "ringfence-large-acl"), valid, "/logs-big/_search"),
        ("nginx proxy_buffering on (default)", NGINX_PORT, lambda: h.nginx_proxy(), {},
         "/big/_search"),
        ("nginx proxy_buffering off", NGINX_PORT,
         lambda: h.nginx_proxy(location_extra="proxy_buffering off;"), {}, "/big/_search"),
        ("haproxy", HAPROXY_PORT, lambda: h.haproxy(), {}, "/big/_search"),
    ]
    results = []
    upstream = h.upstream()
    size = h.big_response().stat().st_size
    for name, port, start, headers, path in targets:
        proxy = start() if start else None
        run = lambda duration: h.loadgen(port, path, connections=LARGE_CONNECTIONS,
                                         duration=duration, headers=headers, timeout=30)
        run(1)
        before = h.cpu_ticks(proxy) if proxy else 0
        out = run(h.duration)
        cpu_s = (h.cpu_ticks(proxy) - before) / CLOCK_TICKS if proxy else None
        mb = out["bytes_received"] / MB
        result = Result(name, out["achieved_rps"], nan_if_none(out["p50_ms"]),
                        nan_if_none(out["p99_ms"]), out["non_2xx"])
        result.columns = {"MB/s": mb / out["elapsed_s"] if out["elapsed_s"] else 0.0,
                          "responses/s": out["achieved_rps"],
                          "p50 ms": result.p50_ms, "p99 ms": result.p99_ms,
                          "proxy CPU ms/MB": cpu_s * 1000 / mb if cpu_s is not None and mb else None,
                          "proxy busy": f"{cpu_s / out['elapsed_s'] * 100:.0f}%" if cpu_s is not None else None,
                          "non-2xx": out["non_2xx"]}
        if out["errors"] or out["timeouts"] or out["non_2xx"]:
            result.notes.append(f"failed: {json.dumps(out['statuses'])}, errors {out['errors']} "
                                f"{json.dumps(out['error_kinds'])}, timeouts {out['timeouts']}")
        results.append(result)
        if proxy:
            h.stop(proxy)
    h.stop(upstream)
    results[0].notes.append(f"response {size / MB:.1f} MB")
    cpu = {r.name: r.columns["proxy CPU ms/MB"] for r in results}
    for r in results[1:3]:
        on, off = cpu["nginx proxy_buffering on (default)"], cpu["nginx proxy_buffering off"]
        if r.columns["proxy CPU ms/MB"] and on and off:
            r.notes.insert(0, f"**CPU/MB {r.columns['proxy CPU ms/MB'] / on:.2f}x nginx buffering on, "
                              f"{r.columns['proxy CPU ms/MB'] / off:.2f}x off**")
    return results


OPENLOOP_LEVELS = (50, 70, 90)
OPENLOOP_CONNECTIONS = 64


def scenario_openloop(h: Harness) -> list[Result]:
    """Latency under a constant rate: each proxy's capacity first (wrk, closed loop,
    OPENLOOP_CONNECTIONS connections), then loadgen at 50, 70 and 90% of that capacity on as
    many connections, latency from each request's scheduled time. A request not answered
    (or not sent) within 2 s of its time counts as infinitely slow."""
    valid = {"Authorization": basic("logstash", "logstash")}
    path = "/logs-1/_search"
    targets = [
        ("ringfence, sha256 user + indices ACL", RINGFENCE_PORT,
         lambda: h.ringfence(ACL_REALISTIC, "ringfence-openloop")),
        ("nginx proxy_pass", NGINX_PORT, lambda: h.nginx_proxy()),
        ("haproxy", HAPROXY_PORT, lambda: h.haproxy()),
    ]
    results = []
    upstream = h.upstream()
    for name, port, start in targets:
        proxy = start()
        capacity = h.measure(f"{name}: capacity", port, proxy, path=path, headers=valid,
                             connections=OPENLOOP_CONNECTIONS)
        capacity.columns = {"load": "wrk", "asked req/s": None, "req/s": capacity.rps,
                            "p50 ms": capacity.p50_ms, "p99 ms": capacity.p99_ms,
                            "p99.9 ms": None, "max ms": None,
                            "proxy CPU µs/req": capacity.cpu_us_per_req, "lost": 0,
                            "non-2xx": capacity.non_2xx}
        capacity.notes.append("closed loop: latency from the send, as wrk measures it")
        results.append(capacity)
        for level in OPENLOOP_LEVELS:
            rate = round(capacity.rps * level / 100)
            before, started = h.cpu_ticks(proxy), time.time()
            out = h.loadgen(port, path, rate=rate, connections=OPENLOOP_CONNECTIONS,
                            headers=valid, timeout=2)
            cpu_s = (h.cpu_ticks(proxy) - before) / CLOCK_TICKS
            row = Result(f"{name}: {level}% of capacity", out["achieved_rps"],
                         nan_if_none(out["p50_ms"]), nan_if_none(out["p99_ms"]), out["non_2xx"],
                         p999_ms=nan_if_none(out["p999_ms"]))
            answered = out["ok"] + out["non_2xx"]
            row.cpu_us_per_req = cpu_s / answered * 1e6 if answered else None
            row.proxy_busy = cpu_s / (time.time() - started)
            lost = out["errors"] + out["timeouts"] + out["not_sent"]
            row.columns = {"load": f"{level}%", "asked req/s": rate, "req/s": out["achieved_rps"],
                           "p50 ms": out["p50_ms"], "p99 ms": out["p99_ms"],
                           "p99.9 ms": out["p999_ms"], "max ms": out["max_ms"],
                           "proxy CPU µs/req": row.cpu_us_per_req, "lost": lost,
                           "non-2xx": out["non_2xx"]}
            if lost:
                row.notes.append(f"errors {out['errors']} {json.dumps(out['error_kinds'])}, "
                                 f"timeouts {out['timeouts']}, not sent {out['not_sent']}")
            results.append(row)
        h.stop(proxy)
    h.stop(upstream)
    return results


def scenario_scaling(h: Harness) -> list[Result]:
    """Ringfence with 1 and 2 workers (sha256 user + indices ACL, 64 connections). On 2
    cores the load generator and the upstream need CPU too: either they keep CPU 1 and the
    second worker shares it with them, or nothing is pinned and the scheduler spreads
    everything over both cores. CPU per request is the gateway's, whatever core it ran on."""
    valid = {"Authorization": basic("logstash", "logstash")}
    # (name, workers, gateway CPUs, wrk and upstream CPUs, wrk threads)
    targets = [
        ("1 worker on CPU 0; wrk (1 thread) and upstream on CPU 1", 1, PROXY_CPU, LOAD_CPU, 1),
        ("2 workers on CPUs 0-1; wrk (1 thread) and upstream on CPU 1", 2, "0,1", LOAD_CPU, 1),
        ("1 worker, nothing pinned; wrk 2 threads", 1, "0,1", "0,1", 2),
        ("2 workers, nothing pinned; wrk 2 threads", 2, "0,1", "0,1", 2),
    ]
    results = []
    for name, workers, cpu, load_cpu, threads in targets:
        upstream = h.upstream(cpu=load_cpu)
        proxy = h.ringfence(ACL_REALISTIC, f"ringfence-scaling-{workers}-{len(results)}",
                            workers=workers, cpu=cpu)
        row = h.measure(name, RINGFENCE_PORT, proxy, path="/logs-1/_search", headers=valid,
                        connections=64, rate_cpu=load_cpu, threads=threads)
        row.notes.append(f"gateway used {row.proxy_busy or 0:.2f} cores")
        results.append(row)
        h.stop(proxy)
        h.stop(upstream)
    for base, other in ((results[0], results[1]), (results[2], results[3])):
        if base.rps and base.cpu_us_per_req and other.cpu_us_per_req:
            other.notes.insert(0, f"**{other.rps / base.rps:.2f}x req/s of 1 worker**, CPU/req "
                                  f"{other.cpu_us_per_req / base.cpu_us_per_req:.2f}x")
    return results


def cell(value: object) -> str:
    """A table cell: counts with separators, small numbers with two decimals."""
    if value is None:
        return "-"
    if isinstance(value, bool) or isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value:
            return "-"
        if value == float("inf"):
            return "∞"
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"
    return str(value)


def render_markdown(all_results: dict[str, list[Result]]) -> str:
    """Every scenario's table, as bench.py prints them."""
    lines = []
    for name, results in all_results.items():
        lines.append(f"\n## {name}\n")
        if any(r.columns for r in results):
            keys = list(dict.fromkeys(k for r in results for k in r.columns))
            lines.append("| scenario | " + " | ".join(keys) + " | notes |")
            lines.append("|---|" + "---:|" * len(keys) + "---|")
            for r in results:
                lines.append(f"| {r.name} | " + " | ".join(cell(r.columns.get(k)) for k in keys)
                             + f" | {'; '.join(r.notes)} |")
            continue
        if all(r.rps == 0 for r in results):
            lines.append("| scenario | measured |\n|---|---|")
            for r in results:
                lines.append(f"| {r.name} | {'; '.join(r.notes)} |")
            continue
        # Open-loop rows (paced.py) count 2xx answers received in time and have a p99.9.
        with_p999 = any(r.p999_ms is not None for r in results)
        lines.append("| scenario | req/s | p50 ms | p99 ms |" + (" p99.9 ms |" if with_p999 else "")
                     + " non-2xx | proxy CPU µs/req | notes |")
        lines.append("|---|---:|---:|---:|" + ("---:|" if with_p999 else "") + "---:|---:|---|")
        for r in results:
            cpu = f"{r.cpu_us_per_req:.1f}" if r.cpu_us_per_req is not None else "-"
            p999 = (f" {r.p999_ms:.2f} |" if r.p999_ms is not None else " - |") if with_p999 else ""
            lines.append(f"| {r.name} | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} |{p999} "
                         f"{r.non_2xx} | {cpu} | {'; '.join(r.notes)} |")
    return "\n".join(lines) + "\n"


def machine() -> dict[str, str]:
    """What the results were measured on."""
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True).stdout.strip()
    except OSError:
        commit = ""
    return {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "host": platform.node(), "cpu": cpu, "cores": str(os.cpu_count()),
            "kernel": platform.release(), "load_average": " ".join(f"{x:.2f}" for x in os.getloadavg()),
            "ringfence": str(RINGFENCE), "tuning_commit": commit}


SCENARIOS = {"proxy": scenario_proxy, "audit": scenario_audit, "auth": scenario_auth, "flood": scenario_flood,
             "hostile": scenario_hostile, "attack": scenario_attack, "tls": scenario_tls,
             "idle": scenario_idle, "bulk": scenario_bulk, "large": scenario_large,
             "openloop": scenario_openloop, "scaling": scenario_scaling, "ldap": scenario_ldap}
# Scenarios that run the Rust generator (tuning/loadgen).
NEEDS_LOADGEN = {"bulk", "large", "openloop"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIO",
                        help=f"any of {', '.join(SCENARIOS)} (default: all)")
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--json", type=Path, help="also write the raw results here (after "
                                                  "every scenario, with the machine)")
    parser.add_argument("--markdown", type=Path, help="also write the tables here, under the "
                                                      "date and the machine")
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
    for tool in ("wrk", "nginx", "haproxy", "taskset", "openssl", "ss"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing: run tuning/load/run.sh, which installs it")
    if not RINGFENCE.exists():
        sys.exit("build first: cargo build --release")
    if NEEDS_LOADGEN & set(args.scenarios) and not LOADGEN.exists():
        sys.exit("build the generator first: cargo build --release --manifest-path "
                 "tuning/loadgen/Cargo.toml (run.sh does)")
    harness = Harness(args.duration, args.connections, args.repeat)
    meta = {**machine(), "duration_s": args.duration, "scenarios": args.scenarios}
    all_results: dict[str, list[Result]] = {}

    def write_files() -> None:
        if args.json:
            args.json.write_text(json.dumps(
                {"meta": meta, "scenarios": {k: [r.__dict__ for r in v] for k, v in all_results.items()}},
                indent=2))
        if args.markdown:
            args.markdown.write_text(
                f"# Load results, {meta['date']}, {meta['host']}\n\n"
                f"- machine: {meta['cpu']}, {meta['cores']} cores, kernel {meta['kernel']}\n"
                f"- load average (1, 5, 15 min) at the start: {meta['load_average']}"
                + (f", at the end: {meta['load_average_end']}" if "load_average_end" in meta else "")
                + " (other work on the machine delays every process measured)\n"
                f"- gateway: `{meta['ringfence']}`; harness at {meta['tuning_commit']}; "
                f"{args.duration} s per measurement\n"
                f"- `tuning/load/bench.py {' '.join(sys.argv[1:]).replace(str(ROOT) + '/', '')}`\n"
                + render_markdown(all_results))

    try:
        for name in args.scenarios:
            all_results[name] = SCENARIOS[name](harness)
            # A long run that fails later keeps what it measured so far.
            write_files()
    finally:
        harness.stop_all()
    meta["load_average_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    write_files()
    print(render_markdown(all_results))

if __name__ == "__main__":
    main()
