#!/usr/bin/env python3
"""An open-loop HTTP/1.1 client: sends at a fixed rate whatever the latency, and measures
latency from each request's scheduled time (no coordinated omission), so a stalled server
shows up as latency instead of as a slower send rate. Prints one JSON line.

    paced.py --port 18201 --rate 2000 --duration 10 --header "Authorization: Basic ..."

What counts is what came back: `ok` is the number of 2xx answers received within
`--timeout` of their scheduled send time, and `achieved_rps` is `ok / duration`. Requests
scheduled in the window but never sent (the connection was still waiting for an earlier
answer when the window closed), answered too late, answered with another status or lost
to a connection error are counted apart and never as achieved.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import dataclass, field


@dataclass
class Tally:
    scheduled: int = 0
    sent: int = 0
    ok: int = 0
    late: int = 0
    timeouts: int = 0
    errors: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)


async def read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    await reader.readexactly(length)
    return status


async def connection(port: int, request: bytes, dues: list[float], end: float, timeout: float,
                     tally: Tally) -> None:
    """Sends one request at each time in `dues` (after the previous answer, if that is late)."""
    reader = writer = None
    for due in dues:
        now = time.perf_counter()
        if due > now:
            await asyncio.sleep(due - now)
        if time.perf_counter() >= end:
            break  # still busy with an earlier request when the window closed: never sent
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            tally.sent += 1
            # Waiting longer than the timeout cannot count any more; give up on the answer.
            status = await asyncio.wait_for(read_response(reader), due + timeout - time.perf_counter())
        except asyncio.TimeoutError:
            tally.timeouts += 1
            writer.close()
            reader = writer = None
        except (OSError, asyncio.IncompleteReadError, ValueError):
            tally.errors += 1
            if writer is not None:
                writer.close()
            reader = writer = None
        else:
            latency = time.perf_counter() - due
            tally.latencies.append(latency)
            tally.statuses[str(status)] = tally.statuses.get(str(status), 0) + 1
            if 200 <= status < 300:
                if latency <= timeout:
                    tally.ok += 1
                else:
                    tally.late += 1
    if writer is not None:
        writer.close()


async def run(port: int, rate: float, connections: int, duration: float, path: str,
              headers: list[str], timeout: float) -> dict:
    header_lines = "".join(f"{h}\r\n" for h in headers)
    request = f"GET {path} HTTP/1.1\r\nHost: bench\r\n{header_lines}\r\n".encode()
    start = time.perf_counter() + 0.2
    end = start + duration
    # Request j is due at start + j / rate; connection i sends every connections-th one.
    scheduled = round(rate * duration)
    dues = [start + j / rate for j in range(scheduled)]
    tally = Tally(scheduled=scheduled)
    await asyncio.gather(*(connection(port, request, dues[i::connections], end, timeout, tally)
                           for i in range(connections)))
    latencies = sorted(tally.latencies)
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else None
    return {"rate": rate, "duration_s": duration, "timeout_s": timeout,
            "achieved_rps": tally.ok / duration, "scheduled": tally.scheduled, "sent": tally.sent,
            "ok": tally.ok, "late": tally.late, "timeouts": tally.timeouts, "errors": tally.errors,
            "statuses": tally.statuses, "p50_ms": pick(0.50), "p99_ms": pick(0.99)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--path", default="/")
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--timeout", type=float, default=1.0,
                        help="seconds after its scheduled time within which an answer counts")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.port, args.rate, args.connections, args.duration,
                                     args.path, args.header, args.timeout))))


if __name__ == "__main__":
    main()
