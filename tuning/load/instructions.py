#!/usr/bin/env python3
"""User-space instructions per proxied request, counted by valgrind (callgrind): the same
binary, inputs and environment give the same count whatever else the machine does, unlike
timings on a shared 2-core box.

Runs `target/release/ringfence` under callgrind (epoll driver: valgrind does not model
io_uring) in front of a static nginx, sends N keep-alive requests for two values of N, and
reports the difference per request, so start-up costs cancel out. SHA-256 runs in its
portable form under valgrind (no SHA-NI), which inflates the credential rows by ~3k.

    tuning/load/instructions.py
    RINGFENCE_BIN=/path/to/other/ringfence tuning/load/instructions.py   # another build

The audit rows add the audit trail (a JSON-lines file; and an index sink bulk-writing to the
static upstream, which answers every bulk with 200) to the `auth_key_sha256 + indices` case;
callgrind counts every thread, so the audit writer's work is included.
"""

from __future__ import annotations

import base64
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BINARY = Path(os.environ.get("RINGFENCE_BIN", ROOT / "target/release/ringfence"))
UPSTREAM, GATEWAY = 18080, 18201
UNIX = "test:$6$rounds=65535$d07dnv4N$QeErsDT9Mz.ZoEPXW3dwQGL7tzwRz.eOrTBepIwfGEwdUAYSy/NirGoOaNyPx8lqiR6DYRSsDzVvVbhP4Y9wf0"
SHA256_LOGSTASH = "logstash:76cd2c0d589e224531fc6af2c5850e3c9b2aca6902d813ce598833c7c1b28bee"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


AUDIT = ("  audit:\n    enabled: true\n    outputs:\n    - type: file\n      path: {work}/audit.jsonl\n"
         f"    - type: index\n      cluster: [\"http://127.0.0.1:{UPSTREAM}\"]\n")
CASES = {
    "ACL disabled (pure proxy)": ("  enable: false\n", basic("test", "test")),
    "auth_key (plain)": ("  access_control_rules:\n  - name: p\n    auth_key: \"test:test\"\n", basic("test", "test")),
    "auth_key_unix $6$ 65535, cached": (f"  access_control_rules:\n  - name: u\n    auth_key_unix: \"{UNIX}\"\n", basic("test", "test")),
    "auth_key_sha256 + indices": (f"  access_control_rules:\n  - name: s\n    auth_key_sha256: \"{SHA256_LOGSTASH}\"\n    indices: [\"logs-*\"]\n", basic("logstash", "logstash")),
    "auth_key_sha256 + indices, audit to a file and an index": (
        AUDIT + f"  access_control_rules:\n  - name: s\n    auth_key_sha256: \"{SHA256_LOGSTASH}\"\n    indices: [\"logs-*\"]\n",
        basic("logstash", "logstash")),
}


def send(n: int, auth: str) -> None:
    conn = socket.create_connection(("127.0.0.1", GATEWAY))
    request = f"GET /logs-1/_search HTTP/1.1\r\nHost: b\r\nAuthorization: {auth}\r\n\r\n".encode()
    buf = b""
    for _ in range(n):
        conn.sendall(request)
        while b"\r\n\r\n" not in buf:
            buf += conn.recv(65536)
        head, buf = buf.split(b"\r\n\r\n", 1)
        if not head.startswith(b"HTTP/1.1 200"):
            sys.exit(f"unexpected response: {head!r}")
        length = int(next(l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")).split(b":")[1])
        while len(buf) < length:
            buf += conn.recv(65536)
        buf = buf[length:]
    conn.close()


def count(work: Path, acl: str, auth: str, n: int) -> int:
    config = work / "gateway.yml"
    config.write_text(f"gateway:\n  listen: 127.0.0.1:{GATEWAY}\n  upstreams: [\"http://127.0.0.1:{UPSTREAM}\"]\n"
                      f"  workers: 1\n  metadata_refresh_ms: 0\n  policy_watch_ms: 0\nreadonlyrest:\n"
                      + acl.replace("{work}", str(work)))
    proc = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={work}/out.{n}",
                             str(BINARY), "run", "--config", str(config)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "RINGFENCE_DRIVER": "legacy"})
    for _ in range(600):
        try:
            socket.create_connection(("127.0.0.1", GATEWAY), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    send(n, auth)
    proc.terminate()
    collected = re.search(r"Collected : (\d+)", proc.communicate()[1].decode())
    return int(collected.group(1))


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="ringfence-callgrind-"))
    work.chmod(0o755)
    (work / "upstream.conf").write_text(
        f"worker_processes 1; daemon off; pid {work}/up.pid; error_log stderr error;\n"
        "events { worker_connections 1024; }\n"
        f"http {{ access_log off; server {{ listen 127.0.0.1:{UPSTREAM}; location / {{\n"
        "  default_type application/json; return 200 '{\"took\":1,\"hits\":{\"total\":0,\"hits\":[]}}'; } } }\n")
    upstream = subprocess.Popen(["nginx", "-c", str(work / "upstream.conf")])
    time.sleep(0.5)
    try:
        print("| case | instructions per request |\n|---|---:|")
        for name, (acl, auth) in CASES.items():
            low, high = count(work, acl, auth, 300), count(work, acl, auth, 1300)
            print(f"| {name} | {(high - low) / 1000:,.0f} |")
    finally:
        upstream.terminate()


if __name__ == "__main__":
    main()
