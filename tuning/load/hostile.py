#!/usr/bin/env python3
"""Hostile clients for the `hostile` scenario of bench.py: slowloris connections and a
connection flood, for a fixed time. Prints one JSON line of what the server did to them.

    hostile.py --port 18201 --slow-heads 500 --slow-bodies 500 --flood-rate 500 --duration 30

Slow heads send a request line and then one header byte every `--byte-interval` seconds,
never ending the head. Slow bodies send a complete head (`Content-Length: 100000`) and then
one body byte per interval. Both open a new connection as soon as the server closes one, so
the count stays up for the whole run (what a real slowloris does). The flood opens
`--flood-rate` connections a second; half close at once, half send a line of garbage, read
whatever comes back and close.

Start times and byte times are spread evenly, so the server sees a steady trickle rather
than bursts; a slow connection the server ends early is replaced one interval after it
opened, not at once. One asyncio task per connection, woken once per interval: the attack itself
costs a few percent of one CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import socket
import time
from dataclasses import dataclass, field

SLOW_HEAD = b"GET / HTTP/1.1\r\nHost: bench\r\nX-Slow: "
SLOW_BODY_LENGTH = 100_000
GARBAGE = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http at all\r\n\r\n"
# Flood connections still open beyond this are not started (a stalled server would
# otherwise pile up tasks in this process and measure the generator instead).
MAX_FLOOD_OPEN = 2000


@dataclass
class Kind:
    """What happened to one kind of hostile connection."""
    opened: int = 0
    connect_errors: int = 0
    closed_by_server: int = 0
    answers: dict[str, int] = field(default_factory=dict)
    lifetimes: list[float] = field(default_factory=list)
    open_now: int = 0
    open_max: int = 0

    def opened_one(self) -> None:
        self.opened += 1
        self.open_now += 1
        self.open_max = max(self.open_max, self.open_now)

    def answered(self, data: bytes) -> None:
        status = data[9:12].decode("latin-1") if data.startswith(b"HTTP/") else "other"
        self.answers[status] = self.answers.get(status, 0) + 1

    def summary(self) -> dict:
        lifetimes = sorted(self.lifetimes)
        pick = lambda q: round(lifetimes[min(len(lifetimes) - 1, int(q * len(lifetimes)))], 2) if lifetimes else None
        return {"opened": self.opened, "connect_errors": self.connect_errors,
                "closed_by_server": self.closed_by_server, "answers": self.answers,
                "open_at_end": self.open_now, "open_max": self.open_max,
                "lifetime_s_p50": pick(0.5), "lifetime_s_max": lifetimes[-1] if lifetimes else None}


async def open_socket(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    except OSError:
        sock.close()
        raise
    return sock


async def trickler(port: int, first: bytes, drip: bytes, interval: float, delay: float,
                   end: float, kind: Kind) -> None:
    """Keeps one slow connection open until `end`: `first` at once, then one byte of `drip`
    per interval; reconnects when the server closes."""
    loop = asyncio.get_running_loop()
    await asyncio.sleep(delay)
    while time.monotonic() < end:
        try:
            sock = await open_socket(port)
        except OSError:
            kind.connect_errors += 1
            await asyncio.sleep(interval)
            continue
        kind.opened_one()
        opened = time.monotonic()
        closed = False
        try:
            await loop.sock_sendall(sock, first)
            sent = 0
            while time.monotonic() < end:
                # Waiting for the server doubles as the pause between bytes.
                try:
                    data = await asyncio.wait_for(loop.sock_recv(sock, 4096), interval)
                except asyncio.TimeoutError:
                    await loop.sock_sendall(sock, drip[sent % len(drip):sent % len(drip) + 1])
                    sent += 1
                    continue
                if data:
                    kind.answered(data)
                closed = True
                break
        except OSError:
            closed = True
        finally:
            sock.close()
            kind.open_now -= 1
        if closed:
            kind.closed_by_server += 1
            kind.lifetimes.append(time.monotonic() - opened)
            # A server that answers or closes at once must not turn this into a flood
            # (and this process into the load CPU's bottleneck): at most one connection
            # per interval.
            await asyncio.sleep(max(0.0, opened + interval - time.monotonic()))


async def flood_one(port: int, garbage: bool, kind: Kind) -> None:
    loop = asyncio.get_running_loop()
    try:
        sock = await open_socket(port)
    except OSError:
        kind.connect_errors += 1
        return
    kind.opened_one()
    try:
        if garbage:
            await loop.sock_sendall(sock, GARBAGE)
            data = await asyncio.wait_for(loop.sock_recv(sock, 4096), 5)
            if data:
                kind.answered(data)
            else:
                kind.closed_by_server += 1
    except (OSError, asyncio.TimeoutError):
        kind.closed_by_server += 1
    finally:
        sock.close()
        kind.open_now -= 1


async def flood(port: int, rate: float, end: float, kinds: tuple[Kind, Kind]) -> int:
    """Starts `rate` connections a second until `end`; returns how many were skipped."""
    tasks: set[asyncio.Task] = set()
    interval, due, n, skipped = 1 / rate, time.monotonic(), 0, 0
    while due < end:
        now = time.monotonic()
        if due > now:
            await asyncio.sleep(due - now)
        if len(tasks) < MAX_FLOOD_OPEN:
            task = asyncio.create_task(flood_one(port, n % 2 == 1, kinds[n % 2]))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        else:
            skipped += 1
        n += 1
        due += interval
    if tasks:
        await asyncio.wait(tasks, timeout=6)
    return skipped


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--slow-heads", type=int, default=500)
    parser.add_argument("--slow-bodies", type=int, default=500)
    parser.add_argument("--byte-interval", type=float, default=3.0, help="seconds between bytes")
    parser.add_argument("--body-path", default="/logs-1/_doc", help="target of the slow bodies")
    parser.add_argument("--header", action="append", default=[], help="added to slow bodies' heads")
    parser.add_argument("--flood-rate", type=float, default=0, help="new connections per second")
    parser.add_argument("--ramp", type=float, default=2.0, help="seconds over which slow connections open")
    parser.add_argument("--duration", type=float, default=30)
    args = parser.parse_args()
    start = time.monotonic()
    end = start + args.duration
    heads, bodies, closing, garbage = Kind(), Kind(), Kind(), Kind()
    rng = random.Random(1)
    slow = [trickler(args.port, SLOW_HEAD, b"abcdefghij", args.byte_interval,
                     args.ramp * i / max(1, args.slow_heads), end, heads)
            for i in range(args.slow_heads)]
    body = bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(64))
    body_head = (f"POST {args.body_path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                 + "".join(f"{h}\r\n" for h in args.header)
                 + f"Content-Length: {SLOW_BODY_LENGTH}\r\n\r\n").encode()
    slow += [trickler(args.port, body_head, body, args.byte_interval,
                      args.ramp * (i + 0.5) / max(1, args.slow_bodies), end, bodies)
             for i in range(args.slow_bodies)]
    jobs = [asyncio.gather(*slow)]
    if args.flood_rate > 0:
        jobs.append(flood(args.port, args.flood_rate, end, (closing, garbage)))
    results = await asyncio.gather(*jobs)
    skipped = results[1] if args.flood_rate > 0 else 0
    print(json.dumps({"slow_heads": heads.summary(), "slow_bodies": bodies.summary(),
                      "flood_close": closing.summary(), "flood_garbage": garbage.summary(),
                      "flood_skipped": skipped}))


if __name__ == "__main__":
    asyncio.run(main())
