#!/usr/bin/env python3
"""Opens many keep-alive connections, sends one GET on each, reads its answer, and then holds
every connection open and idle until told to close (a line or end of file on stdin), so the
proxy's memory per idle connection can be read meanwhile. Prints one JSON line when all are
open and answered:

    idle.py --port 18201 --connections 10000 [--tls-ca ca.pem] [--header "Name: value"]
    {"opened": 10000, "answered": 10000, "statuses": {"200": 10000}, "errors": {}, "seconds": 3.1}

`--concurrency` connections are being opened at a time (the rest wait), which keeps the
proxy's accept queue short. A connection that fails is counted under `errors` and not
retried; `opened` counts only connections still open after their answer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import sys
import time


async def read_answer(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    await reader.readexactly(length)
    return int(head[9:12])


async def open_one(args: argparse.Namespace, context: ssl.SSLContext | None,
                   gate: asyncio.Semaphore, request: bytes, held: list, tally: dict) -> None:
    async with gate:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", args.port, ssl=context,
                                        server_hostname="localhost" if context else None),
                args.timeout)
            writer.write(request)
            status = await asyncio.wait_for(read_answer(reader), args.timeout)
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError) as e:
            kind = type(e).__name__
            tally["errors"][kind] = tally["errors"].get(kind, 0) + 1
            return
        tally["statuses"][str(status)] = tally["statuses"].get(str(status), 0) + 1
        held.append((reader, writer))


async def main_async(args: argparse.Namespace) -> None:
    context = None
    if args.tls_ca:
        context = ssl.create_default_context(cafile=args.tls_ca)
    headers = "".join(f"{h}\r\n" for h in args.header)
    request = f"GET {args.path} HTTP/1.1\r\nHost: bench\r\n{headers}\r\n".encode()
    gate = asyncio.Semaphore(args.concurrency)
    held: list = []
    tally: dict = {"statuses": {}, "errors": {}}
    started = time.monotonic()
    await asyncio.gather(*(open_one(args, context, gate, request, held, tally)
                           for _ in range(args.connections)))
    # A connection the proxy closed after answering is not idle: count only live ones.
    await asyncio.sleep(0.5)
    alive = [(r, w) for r, w in held if not r.at_eof()]
    print(json.dumps({"opened": len(alive), "answered": len(held), **tally,
                      "seconds": round(time.monotonic() - started, 2)}), flush=True)
    # Hold them until the harness has measured.
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    for _, writer in held:
        writer.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--connections", type=int, default=10000)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--path", default="/")
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--tls-ca", help="connect over TLS, verifying the proxy against this CA")
    parser.add_argument("--timeout", type=float, default=10.0)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
