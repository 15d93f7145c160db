#!/usr/bin/env python3
"""An open-loop HTTP/1.1 client: sends at a fixed rate whatever the latency, and measures
latency from each request's scheduled time (no coordinated omission), so a stalled server
shows up as latency instead of as a slower send rate. Prints one JSON line.

    paced.py --port 18201 --rate 2000 --duration 10 --header "Authorization: Basic ..."
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time


async def connection(port: int, request: bytes, interval: float, start: float, end: float,
                     latencies: list[float], statuses: dict[int, int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    due = start
    while due < end:
        now = time.perf_counter()
        if due > now:
            await asyncio.sleep(due - now)
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        await reader.readexactly(length)
        latencies.append(time.perf_counter() - due)
        statuses[status] = statuses.get(status, 0) + 1
        due += interval
    writer.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--path", default="/")
    parser.add_argument("--header", action="append", default=[])
    args = parser.parse_args()
    headers = "".join(f"{h}\r\n" for h in args.header)
    request = f"GET {args.path} HTTP/1.1\r\nHost: bench\r\n{headers}\r\n".encode()
    interval = args.connections / args.rate
    start = time.perf_counter() + 0.2
    end = start + args.duration
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    await asyncio.gather(*(
        connection(args.port, request, interval, start + i * interval / args.connections, end,
                   latencies, statuses)
        for i in range(args.connections)))
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else float("nan")
    print(json.dumps({"rps": len(latencies) / args.duration, "p50_ms": pick(0.50), "p99_ms": pick(0.99),
                      "statuses": statuses}))


if __name__ == "__main__":
    asyncio.run(main())
