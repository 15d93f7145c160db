#!/usr/bin/env python3
"""A tiny logging pass-through proxy: a stand-in for the gateway while it does not exist yet.

It lets the suite run with E2E_TARGET != E2E_DIRECT, checks the basic auth that every client
must send (when --user is given), and writes one JSON line per request showing what each client
really sends (method, path, headers, body size), e.g.:

    tests/e2e/.venv/bin/python tests/e2e/record_proxy.py --listen 127.0.0.1:9280 \
        --upstream http://127.0.0.1:9200 --user alice --password secret --log /tmp/requests.jsonl
    E2E_TARGET=http://127.0.0.1:9280 E2E_USER=alice E2E_PASSWORD=secret tests/e2e/run.sh

Bodies are buffered whole (fine for tests, not for production) and forwarded byte for byte,
gzip-encoded ones included. Test tool only: no TLS, no limits.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import http.server
import json
import threading
import time
from urllib.parse import urlsplit

# RFC 9110 section 7.6.1: connection-specific fields are not forwarded.
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer",
              "transfer-encoding", "upgrade", "expect"}


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive to the clients, like a real gateway
    upstream: tuple[str, int]
    expected_auth: str | None
    log_file = None
    log_lock = threading.Lock()

    def log_message(self, format, *args):  # noqa: A002 - signature from the base class
        pass  # the JSON log below replaces the default stderr line

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _reply(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response_only(status)
        for name, value in headers:
            self.send_header(name, value)
        if self.command != "HEAD":
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self) -> None:
        started = time.monotonic()
        body = self._read_body()
        record = {
            "client": self.headers.get("User-Agent", ""),
            "method": self.command,
            "path": self.path,
            "headers": {k: ("<redacted>" if k.lower() == "authorization" else v)
                        for k, v in self.headers.items()},
            "body_bytes": len(body),
        }
        if self.expected_auth and self.headers.get("Authorization") != self.expected_auth:
            status = 401
            self._reply(401, [("WWW-Authenticate", 'Basic realm="record_proxy"'),
                              ("Content-Type", "application/json")],
                        b'{"error":"record_proxy: missing or wrong basic auth","status":401}')
        else:
            # Names compare case-insensitively: elasticdump sends "content-length" in lower case.
            forward = {k: v for k, v in self.headers.items()
                       if k.lower() not in HOP_BY_HOP | {"authorization", "content-length"}}
            if body or self.command in ("POST", "PUT"):
                forward["Content-Length"] = str(len(body))
            conn = http.client.HTTPConnection(*self.upstream, timeout=120)
            try:
                conn.request(self.command, self.path, body=body or None, headers=forward)
                resp = conn.getresponse()
                payload = resp.read()
                status = resp.status
                headers = [(k, v) for k, v in resp.getheaders()
                           if k.lower() not in HOP_BY_HOP
                           and (k.lower() != "content-length" or self.command == "HEAD")]
            finally:
                conn.close()
            self._reply(status, headers, payload)
        record.update(status=status, ms=round((time.monotonic() - started) * 1000, 1))
        if self.log_file:
            with self.log_lock:
                self.log_file.write(json.dumps(record) + "\n")
                self.log_file.flush()

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _handle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="127.0.0.1:9280")
    parser.add_argument("--upstream", default="http://127.0.0.1:9200")
    parser.add_argument("--user", help="require this basic-auth user (and strip the header)")
    parser.add_argument("--password", default="")
    parser.add_argument("--log", help="append one JSON line per request to this file")
    args = parser.parse_args()

    upstream = urlsplit(args.upstream)
    Proxy.upstream = (upstream.hostname, upstream.port or 80)
    if args.user:
        token = base64.b64encode(f"{args.user}:{args.password}".encode()).decode()
        Proxy.expected_auth = f"Basic {token}"
    else:
        Proxy.expected_auth = None
    if args.log:
        Proxy.log_file = open(args.log, "a", encoding="utf-8")  # noqa: SIM115 - lives as long as the server
    host, port = args.listen.rsplit(":", 1)
    server = http.server.ThreadingHTTPServer((host, int(port)), Proxy)
    print(f"record_proxy: {args.listen} -> {args.upstream}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
