#!/usr/bin/env python3
"""Policy reloads and shutdown under load, with the release binary.

    tuning/load/reload.py                      # both parts
    tuning/load/reload.py --reloads 100 reload # one part

reload    wrk drives GET /logs-1/_search (valid credentials) for the whole run while the
          ACL file is rewritten 100 times, alternating between two valid policies that both
          allow that request, each rewrite followed by a SIGHUP. The watcher (every 50 ms)
          sees the same rewrites. After every SIGHUP a probe that only policy B allows
          checks that the policy in force is the one just written. Once more the file is
          only touched (same bytes): the watcher must not reload for that. Reported: wrk's
          requests, non-2xx and socket errors (must be 0), the reloads the log shows by
          trigger, probe mismatches.
shutdown  a slow upstream (a threaded Python server answering after 500 ms) behind the
          gateway; 64 clients send requests back to back on keep-alive connections and
          SIGTERM arrives while all 64 are in flight. Reported: the outcome of every request
          sent before SIGTERM (must all be 2xx, with `connection: close`), connection
          attempts after it (must be refused), and the time to exit (must be under
          shutdown_timeout_ms plus a margin). Then the same with an upstream slower than
          shutdown_timeout_ms: the process must still exit on time.
Needs wrk and nginx (tuning/load/run.sh installs them).
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import bench
from bench import Harness, basic, parse_wrk

GATEWAY_PORT, SLOW_PORT = 18211, 18212
AUTH = basic("logstash", "logstash")
SHA256_LOGSTASH = "logstash:76cd2c0d589e224531fc6af2c5850e3c9b2aca6902d813ce598833c7c1b28bee"
# Both allow the load (GET /logs-1/_search as logstash); only B allows the probe index.
POLICY_A = f"""readonlyrest:
  access_control_rules:
  - name: "A: readers"
    auth_key_sha256: "{SHA256_LOGSTASH}"
    indices: ["logs-*"]
"""
POLICY_B = """readonlyrest:
  access_control_rules:
  - name: "B: readers and probe"
    auth_key: "logstash:logstash"
    indices: ["logs-*", "probe-b"]
"""
PROBE = f"GET /probe-b/_search HTTP/1.1\r\nHost: bench\r\nAuthorization: {AUTH}\r\nConnection: close\r\n\r\n"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
SHUTDOWN_MARGIN_MS = 500


def gateway_config(work: Path, upstream_port: int, policy: str, extra: str = "") -> Path:
    (work / "readonlyrest.yml").write_text(policy)
    config = work / "gateway.yml"
    config.write_text(
        f"gateway:\n  listen: 127.0.0.1:{GATEWAY_PORT}\n"
        f"  upstreams: [\"http://127.0.0.1:{upstream_port}\"]\n  workers: 2\n"
        f"  metadata_refresh_ms: 0\n  acl_file: readonlyrest.yml\n{extra}")
    return config


def start_gateway(h: Harness, config: Path, name: str) -> subprocess.Popen:
    """The gateway, unpinned (two workers), logging to `name`.log."""
    log = open(h.dir / f"{name}.log", "w")
    proc = subprocess.Popen([str(bench.RINGFENCE), "run", "--config", str(config)],
                            stdout=log, stderr=log, env={**os.environ, "NO_COLOR": "1"})
    h.procs.append(proc)
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", GATEWAY_PORT), timeout=0.2).close()
            return proc
        except OSError:
            if proc.poll() is not None:
                sys.exit(f"{name} exited: {(h.dir / f'{name}.log').read_text()}")
            time.sleep(0.05)
    sys.exit(f"{name} did not listen on {GATEWAY_PORT}")


def log_text(h: Harness, name: str) -> str:
    return ANSI.sub("", (h.dir / f"{name}.log").read_text())


def reloads_by_trigger(text: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for trigger in re.findall(r'policy reloaded generation=\d+ trigger="?([^"\n]+)"?', text):
        counts[trigger] = counts.get(trigger, 0) + 1
    return counts


def status_of(request: str, port: int = GATEWAY_PORT) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(request.encode())
        return int(conn.recv(64)[9:12])


def write_atomically(path: Path, text: str) -> None:
    """As a deployment tool should: readers see the old file or the new one, never half."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def part_reload(h: Harness, reloads: int) -> dict:
    h.upstream()
    config = gateway_config(h.dir, bench.UPSTREAM_PORT, POLICY_A, "  policy_watch_ms: 50\n")
    gateway = start_gateway(h, config, "reload")
    acl = h.dir / "readonlyrest.yml"
    # Long enough for the reloads; stopped when they are done.
    load = subprocess.Popen(
        ["wrk", "-t2", "-c32", "-d600s", "--latency", "--timeout", "5s", "-H",
         f"Authorization: {AUTH}", f"http://127.0.0.1:{GATEWAY_PORT}/logs-1/_search"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(1)
    mismatches, started = [], time.time()
    for i in range(reloads):
        policy_b = i % 2 == 0
        write_atomically(acl, POLICY_B if policy_b else POLICY_A)
        gateway.send_signal(signal.SIGHUP)
        # SIGHUP reloads synchronously on the signal thread: wait for its log line.
        deadline = time.time() + 5
        while reloads_by_trigger(log_text(h, "reload")).get("SIGHUP", 0) < i + 1:
            if time.time() > deadline:
                sys.exit(f"reload {i + 1} was not logged:\n{log_text(h, 'reload')[-2000:]}")
            time.sleep(0.002)
        # Under A the probe reads a forbidden index only: 404, as Elasticsearch would say.
        probe = status_of(PROBE)
        if probe != (200 if policy_b else 404):
            mismatches.append((i + 1, "B" if policy_b else "A", probe))
        time.sleep(0.05)
    elapsed = time.time() - started
    # Let the watcher catch up with the last rewrite, then touch the file without changing it.
    time.sleep(0.3)
    before_touch = reloads_by_trigger(log_text(h, "reload"))
    acl.touch()
    time.sleep(0.3)
    after_touch = reloads_by_trigger(log_text(h, "reload"))
    load.send_signal(signal.SIGINT)
    out = load.communicate()[0]
    result = parse_wrk("wrk during reloads", out)
    requests = re.search(r"(\d+) requests in", out)
    text = log_text(h, "reload")
    h.stop(gateway)
    h.stop_all()
    return {
        "reloads_sent": reloads, "seconds": round(elapsed, 1),
        "requests": int(requests.group(1)) if requests else 0, "wrk_rps": round(result.rps), "wrk_p99_ms": result.p99_ms,
        "non_2xx": result.non_2xx, "socket_errors": result.notes,
        "reloads_logged": after_touch,
        "reload_failures_logged": text.count("policy reload failed"),
        "watcher_reloads_on_touch": after_touch.get("file changed", 0) - before_touch.get("file changed", 0),
        "probe_mismatches": mismatches,
    }


class SlowHandler(http.server.BaseHTTPRequestHandler):
    """Answers every GET after `delay` seconds with a small JSON body; counts the requests
    it is sitting on."""
    protocol_version = "HTTP/1.1"
    delay = 0.5
    waiting = 0
    lock = threading.Lock()

    def do_GET(self) -> None:
        with SlowHandler.lock:
            SlowHandler.waiting += 1
        time.sleep(self.delay)
        with SlowHandler.lock:
            SlowHandler.waiting -= 1
        body = bench.ES_BODY.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


class SlowClient(threading.Thread):
    """Sends GETs back to back on one keep-alive connection, opening a new one when the
    gateway says `connection: close`, until told to stop or refused. Records, per request,
    when it was sent and how it ended."""

    def __init__(self, stop: threading.Event):
        super().__init__(daemon=True)
        self.stop, self.outcomes, self.refused_at = stop, [], None

    def run(self) -> None:
        conn = None
        while not self.stop.is_set():
            if conn is None:
                try:
                    conn = socket.create_connection(("127.0.0.1", GATEWAY_PORT), timeout=10)
                except OSError as e:
                    self.refused_at = (time.time(), type(e).__name__)
                    return
            sent = time.time()
            try:
                conn.sendall(f"GET /logs-1/_search HTTP/1.1\r\nHost: bench\r\nAuthorization: {AUTH}\r\n\r\n".encode())
                head, body = read_response(conn)
                status = int(head[9:12])
                close = b"connection: close" in head.lower()
                self.outcomes.append((sent, time.time(), status, close))
            except (OSError, ValueError) as e:
                what = str(e) if isinstance(e, ValueError) else type(e).__name__
                self.outcomes.append((sent, time.time(), what, True))
                close = True
            if close:
                conn.close()
                conn = None


def read_response(conn: socket.socket) -> tuple[bytes, bytes]:
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = conn.recv(65536)
        if not chunk:
            raise ValueError("closed before a response")
        buf += chunk
    head, body = buf.split(b"\r\n\r\n", 1)
    length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            raise ValueError(f"closed inside a body after {head[:12]!r}")
        body += chunk
    return head, body


class SlowServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog (5) drops the gateway's SYNs when 64 requests arrive at once,
    # and the retransmits would spread the requests over seconds.
    request_queue_size = 256

    def handle_error(self, request, client_address) -> None:
        # The gateway closing its upstream connections at the shutdown timeout is expected.
        pass


def shutdown_run(h: Harness, delay: float, timeout_ms: int, clients: int, name: str) -> dict:
    SlowHandler.delay, SlowHandler.waiting = delay, 0
    server = SlowServer(("127.0.0.1", SLOW_PORT), SlowHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    config = gateway_config(h.dir, SLOW_PORT, POLICY_A,
                            f"  shutdown_timeout_ms: {timeout_ms}\n  policy_watch_ms: 0\n")
    gateway = start_gateway(h, config, name)
    stop = threading.Event()
    threads = [SlowClient(stop) for _ in range(clients)]
    for t in threads:
        t.start()
    # A couple of rounds, then SIGTERM once every client has a request at the upstream.
    time.sleep(delay * 2 + 0.1)
    deadline = time.time() + delay * 4 + 5
    while SlowHandler.waiting < clients and time.time() < deadline:
        time.sleep(0.002)
    signalled = time.time()
    gateway.send_signal(signal.SIGTERM)
    # New connections after SIGTERM: each client that gets `connection: close` tries one.
    probes = []
    time.sleep(0.05)
    for _ in range(20):
        try:
            socket.create_connection(("127.0.0.1", GATEWAY_PORT), timeout=1).close()
            probes.append("accepted")
        except OSError as e:
            probes.append(type(e).__name__)
        time.sleep(0.01)
    try:
        code = gateway.wait(timeout=timeout_ms / 1000 + 10)
    except subprocess.TimeoutExpired:
        code = "still running"
    exited = time.time()
    h.procs.remove(gateway)
    stop.set()
    for t in threads:
        t.join(timeout=15)
    server.shutdown()
    server.server_close()
    in_flight = [o for t in threads for o in t.outcomes if o[0] < signalled and o[1] >= signalled]
    statuses: dict[str, int] = {}
    for _, _, status, close in in_flight:
        key = f"{status}{' close' if close and isinstance(status, int) else ''}"
        statuses[key] = statuses.get(key, 0) + 1
    sent_after = [o[2] for t in threads for o in t.outcomes if o[0] >= signalled]
    after = [t.refused_at[1] for t in threads if t.refused_at and t.refused_at[0] >= signalled]
    return {
        "upstream_delay_ms": int(delay * 1000), "shutdown_timeout_ms": timeout_ms,
        "in_flight_at_sigterm": len(in_flight), "in_flight_outcomes": statuses,
        "last_answer_after_sigterm_ms": round((max((o[1] for o in in_flight), default=signalled) - signalled) * 1000),
        "exit_after_sigterm_ms": round((exited - signalled) * 1000), "exit_code": code,
        "new_connections_after_sigterm": {p: probes.count(p) for p in set(probes)},
        "requests_sent_after_sigterm": {str(s): sent_after.count(s) for s in set(sent_after)},
        "clients_reconnecting_after_sigterm": {p: after.count(p) for p in set(after)},
        "log_tail": [line for line in log_text(h, name).splitlines()
                     if "shutting down" in line or "shutdown timeout" in line],
    }


def part_shutdown(h: Harness) -> dict:
    return {
        "drain": shutdown_run(h, 0.5, 3000, 64, "shutdown-drain"),
        "timeout": shutdown_run(h, 5.0, 1000, 16, "shutdown-timeout"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("parts", nargs="*", metavar="PART", help="reload, shutdown (default: both)")
    parser.add_argument("--reloads", type=int, default=100)
    args = parser.parse_args()
    parts = args.parts or ["reload", "shutdown"]
    if not bench.RINGFENCE.exists():
        sys.exit("build first: cargo build --release")
    h = Harness(10, 32)
    results = {}
    try:
        if "reload" in parts:
            results["reload"] = part_reload(h, args.reloads)
        if "shutdown" in parts:
            results["shutdown"] = part_shutdown(h)
    finally:
        h.stop_all()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
