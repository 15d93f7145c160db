#!/usr/bin/env python3
"""An open-loop HTTP/1.1 client: sends at a fixed rate whatever the latency, and measures
latency from each request's scheduled time (no coordinated omission), so a stalled server
shows up as latency instead of as a slower send rate. Prints one JSON line.

    paced.py --port 18201 --rate 2000 --duration 10 --header "Authorization: Basic ..."

A request that fails (the connection breaks, or no answer within --timeout) is counted in
`errors` and as infinitely slow in the percentiles; the connection is opened again and the
schedule goes on. `good_rps` counts only 2xx answers that arrived within --deadline-ms of
their scheduled time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time


async def exchange(stream: tuple[asyncio.StreamReader, asyncio.StreamWriter],
                   request: bytes) -> int:
    reader, writer = stream
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    await reader.readexactly(length)
    return status


async def connection(port: int, request: bytes, interval: float, start: float, end: float,
                     timeout: float, samples: list[tuple[float, int, float]],
                     errors: dict[str, int]) -> None:
    """One keep-alive connection's share of the schedule; `samples` gets (latency, status,
    scheduled time), status 0 for a failed request."""
    stream = None
    due = start
    while due < end:
        now = time.perf_counter()
        if due > now:
            await asyncio.sleep(due - now)
        try:
            if stream is None:
                stream = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
            status = await asyncio.wait_for(exchange(stream, request), timeout)
            samples.append((time.perf_counter() - due, status, due))
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                asyncio.TimeoutError, ValueError) as e:
            errors[type(e).__name__] = errors.get(type(e).__name__, 0) + 1
            samples.append((float("inf"), 0, due))
            if stream is not None:
                stream[1].close()
                stream = None
        due += interval
    if stream is not None:
        stream[1].close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--path", default="/")
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--timeout", type=float, default=5, help="seconds before a request fails")
    parser.add_argument("--deadline-ms", type=float, default=1000, help="a 2xx later than this is not good")
    parser.add_argument("--samples", help="write every request's wall-clock send time, latency and status here")
    args = parser.parse_args()
    headers = "".join(f"{h}\r\n" for h in args.header)
    request = f"GET {args.path} HTTP/1.1\r\nHost: bench\r\n{headers}\r\n".encode()
    interval = args.connections / args.rate
    start = time.perf_counter() + 0.2
    end = start + args.duration
    samples: list[tuple[float, int, float]] = []
    errors: dict[str, int] = {}
    await asyncio.gather(*(
        connection(args.port, request, interval, start + i * interval / args.connections, end,
                   args.timeout, samples, errors)
        for i in range(args.connections)))
    if args.samples:
        # perf_counter has no fixed origin: convert to wall-clock time for correlating.
        offset = time.time() - time.perf_counter()
        with open(args.samples, "w") as out:
            for latency, status, due in sorted(samples, key=lambda s: s[2]):
                out.write(f"{due + offset:.6f} {latency * 1000:.3f} {status}\n")
    latencies = sorted(latency for latency, _, _ in samples)
    statuses: dict[int, int] = {}
    for _, status, _ in samples:
        if status:
            statuses[status] = statuses.get(status, 0) + 1
    good = sum(1 for latency, status, _ in samples
               if 200 <= status < 300 and latency * 1000 <= args.deadline_ms)
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else float("nan")
    answered = sum(statuses.values())
    print(json.dumps({"rps": answered / args.duration, "good_rps": good / args.duration,
                      "scheduled": len(samples), "p50_ms": pick(0.50), "p99_ms": pick(0.99),
                      "p999_ms": pick(0.999), "statuses": statuses, "errors": errors,
                      "late": sum(1 for latency, status, _ in samples
                                  if 200 <= status < 300 and latency * 1000 > args.deadline_ms)}))


if __name__ == "__main__":
    asyncio.run(main())
