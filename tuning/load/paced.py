#!/usr/bin/env python3
"""An open-loop HTTP/1.1 client: sends at a fixed rate whatever the latency, and measures
latency from each request's scheduled time (no coordinated omission), so a stalled server
shows up as latency instead of as a slower send rate. Prints one JSON line.

    paced.py --port 18201 --rate 2000 --duration 10 --header "Authorization: Basic ..."

Request j is due at start + j / rate, for the `scheduled` = rate * duration requests of the
window; each keep-alive connection sends every connections-th one, as soon as it is due or,
when it is still busy with an earlier request, as soon as that one is done. Every scheduled
request ends up in exactly one of these counts:

- `ok`: a 2xx answer received within `--timeout` of its scheduled time. Only these are
  achieved: `achieved_rps` is `ok / duration`.
- `late`: a 2xx answer received after that (no longer than the time it takes to notice).
- other statuses: answered with a non-2xx status (`statuses` lists every answer, 2xx too).
- `timeouts`: no complete answer by the scheduled time plus `--timeout` (connecting
  included); the connection is closed and opened again for the next request.
- `errors`: the connection could not be opened, broke, or the answer was not HTTP
  (`error_kinds` by exception); the connection is opened again for the next request.
- `not_sent`: due in the window, but its connection was still busy with an earlier request
  when the window closed.

`sent` is how many were written to a socket (a refused connection sends nothing). The
percentiles (`p50_ms`, `p99_ms`, `p999_ms`) are over every scheduled request: an answer at
its latency, whatever its status; a timeout, an error or a request never sent as infinitely
slow (`Infinity`), so losing requests cannot make the percentiles look better.

`--samples FILE` writes every request that was attempted, in scheduled order, as
"wall-clock due time, latency ms, status" (latency inf and status 0 for a timeout or error).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import dataclass, field

INF = float("inf")


@dataclass
class Tally:
    scheduled: int = 0
    sent: int = 0
    not_sent: int = 0
    ok: int = 0
    late: int = 0
    timeouts: int = 0
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    # (scheduled time, latency in s or INF, status or 0) for every request attempted.
    samples: list[tuple[float, float, int]] = field(default_factory=list)


async def read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    await reader.readexactly(length)
    return status


class Connection:
    """One keep-alive connection, opened again after a timeout or an error."""

    def __init__(self, port: int, request: bytes, tally: Tally):
        self.port, self.request, self.tally = port, request, tally
        self.stream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def exchange(self) -> int:
        if self.stream is None:
            self.stream = await asyncio.open_connection("127.0.0.1", self.port)
        reader, writer = self.stream
        writer.write(self.request)
        self.tally.sent += 1
        return await read_response(reader)

    def close(self) -> None:
        if self.stream is not None:
            self.stream[1].close()
            self.stream = None


async def connection(port: int, request: bytes, dues: list[float], end: float, timeout: float,
                     tally: Tally) -> None:
    """Sends one request at each time in `dues` (after the previous answer, if that is late)."""
    conn = Connection(port, request, tally)
    for n, due in enumerate(dues):
        now = time.perf_counter()
        if due > now:
            await asyncio.sleep(due - now)
        elif now >= end:
            # Still busy with an earlier request when the window closed: this one and the
            # rest of this connection's share are never sent.
            tally.not_sent += len(dues) - n
            break
        # Waiting past the deadline cannot count any more: give up on the answer then.
        remaining = due + timeout - time.perf_counter()
        try:
            if remaining <= 0:
                raise asyncio.TimeoutError
            status = await asyncio.wait_for(conn.exchange(), remaining)
        except asyncio.TimeoutError:
            tally.timeouts += 1
            tally.samples.append((due, INF, 0))
            conn.close()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as e:
            tally.errors += 1
            kind = type(e).__name__
            tally.error_kinds[kind] = tally.error_kinds.get(kind, 0) + 1
            tally.samples.append((due, INF, 0))
            conn.close()
        else:
            latency = time.perf_counter() - due
            tally.samples.append((due, latency, status))
            tally.statuses[str(status)] = tally.statuses.get(str(status), 0) + 1
            if 200 <= status < 300:
                if latency <= timeout:
                    tally.ok += 1
                else:
                    tally.late += 1
    conn.close()


def percentile(latencies: list[float], q: float) -> float | None:
    """The q-quantile of sorted `latencies` in ms (INF stays INF), None if there are none."""
    if not latencies:
        return None
    return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000


async def run(port: int, rate: float, connections: int, duration: float, path: str,
              headers: list[str], timeout: float) -> tuple[dict, Tally]:
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
    # Requests never sent have no answer either: infinitely slow, like timeouts and errors.
    latencies = sorted([latency for _, latency, _ in tally.samples] + [INF] * tally.not_sent)
    return {"rate": rate, "duration_s": duration, "timeout_s": timeout,
            "achieved_rps": tally.ok / duration, "scheduled": tally.scheduled,
            "sent": tally.sent, "not_sent": tally.not_sent, "ok": tally.ok, "late": tally.late,
            "timeouts": tally.timeouts, "errors": tally.errors, "error_kinds": tally.error_kinds,
            "statuses": tally.statuses, "p50_ms": percentile(latencies, 0.50),
            "p99_ms": percentile(latencies, 0.99), "p999_ms": percentile(latencies, 0.999)}, tally


def write_samples(path: str, tally: Tally) -> None:
    # perf_counter has no fixed origin: convert to wall-clock time for correlating.
    offset = time.time() - time.perf_counter()
    with open(path, "w") as out:
        for due, latency, status in sorted(tally.samples):
            out.write(f"{due + offset:.6f} {latency * 1000:.3f} {status}\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--path", default="/")
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--timeout", type=float, default=1.0,
                        help="seconds after its scheduled time within which an answer counts; "
                             "a request not answered by then is given up (infinitely slow)")
    parser.add_argument("--samples", help="write every attempted request's wall-clock due time, "
                                          "latency and status here")
    args = parser.parse_args()
    out, tally = asyncio.run(run(args.port, args.rate, args.connections, args.duration,
                                 args.path, args.header, args.timeout))
    if args.samples:
        write_samples(args.samples, tally)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
