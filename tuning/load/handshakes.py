#!/usr/bin/env python3
"""TLS handshakes back to back: every request is a new TCP connection, a handshake, one
`GET /` with `Connection: close`, and the answer read to the server's close. Several
processes run side by side. Prints one JSON line.

    handshakes.py --port 18201 --ca ca.pem --protocol 1.3 --duration 10 --processes 4
    handshakes.py --port 18201 --ca ca.pem --protocol 1.2 --resume ...

Without --resume every handshake is a full one (no session is offered). With --resume each
process offers the session its previous connection ended with: a TLS 1.2 session ID or
ticket, a TLS 1.3 ticket (read with the answer), whichever the server gave. The server's
certificate is verified against --ca for the name `localhost`.

Report: `connections` tried, `ok` (answered 200), `statuses`, `errors` by exception,
`resumed` (the server accepted the session offered), `tickets` (connections that ended with
a session holding a ticket: 0 means TLS 1.2 resumption by session ID), `protocols` and
`ciphers` negotiated, `elapsed` seconds, and the latency of a whole connection (connect to
close) as `p50_ms` and `p99_ms`.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import socket
import ssl
import time
from collections import Counter

REQUEST = b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
PROTOCOLS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


def context(ca: str, protocol: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca)
    ctx.minimum_version = ctx.maximum_version = PROTOCOLS[protocol]
    # A server may close without close_notify once it has sent a complete answer.
    ctx.options |= ssl.OP_IGNORE_UNEXPECTED_EOF
    return ctx


def one_connection(ctx: ssl.SSLContext, port: int, session: ssl.SSLSession | None):
    """Connects, shakes hands, sends the GET and reads to the close. Returns the status, the
    socket's TLS facts and the session to offer next."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        # Without it, the request after a resumed TLS 1.2 handshake waits for the server's
        # delayed ACK of the client's Finished (Nagle): 40 ms per connection.
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with ctx.wrap_socket(raw, server_hostname="localhost", session=session) as tls:
            tls.sendall(REQUEST)
            answer = b""
            while chunk := tls.recv(65536):
                answer += chunk
            status = answer.split(b" ", 2)[1].decode() if answer.startswith(b"HTTP/") else "none"
            return status, tls.session_reused, tls.version(), tls.cipher()[0], tls.session


def worker(args: argparse.Namespace) -> dict:
    ctx = context(args.ca, args.protocol)
    statuses, errors, protocols, ciphers = Counter(), Counter(), Counter(), Counter()
    resumed = tickets = 0
    latencies: list[float] = []
    session = None
    deadline = time.monotonic() + args.duration
    while (started := time.monotonic()) < deadline:
        try:
            status, reused, version, cipher, last = one_connection(ctx, args.port, session)
        except (OSError, ValueError) as e:
            errors[type(e).__name__] += 1
            session = None
            continue
        latencies.append((time.monotonic() - started) * 1000)
        statuses[status] += 1
        protocols[version] += 1
        ciphers[cipher] += 1
        resumed += reused
        tickets += bool(last and last.has_ticket)
        if args.resume:
            session = last
    return {"statuses": statuses, "errors": errors, "protocols": protocols, "ciphers": ciphers,
            "resumed": resumed, "tickets": tickets, "latencies": latencies}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ca", required=True, help="PEM file of the CA that signed the server's certificate")
    parser.add_argument("--protocol", choices=PROTOCOLS, default="1.3")
    parser.add_argument("--resume", action="store_true", help="offer the previous connection's session")
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--processes", type=int, default=4)
    args = parser.parse_args()
    started = time.monotonic()
    with multiprocessing.Pool(args.processes) as pool:
        parts = pool.map(worker, [args] * args.processes)
    elapsed = time.monotonic() - started
    total = {key: sum((Counter(p[key]) for p in parts), Counter())
             for key in ("statuses", "errors", "protocols", "ciphers")}
    latencies = sorted(ms for p in parts for ms in p["latencies"])
    percentile = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else None
    print(json.dumps({
        "connections": len(latencies) + sum(total["errors"].values()),
        "ok": total["statuses"].get("200", 0), **total,
        "resumed": sum(p["resumed"] for p in parts), "tickets": sum(p["tickets"] for p in parts),
        "elapsed": elapsed, "p50_ms": percentile(0.5), "p99_ms": percentile(0.99)}))


if __name__ == "__main__":
    main()
