"""paced.py counts what came back, not what it scheduled: against a stub server that answers
200, 503 or nothing, the achieved rate is the 2xx answers received in time, every scheduled
request is counted exactly once, and requests without an answer are infinitely slow in the
percentiles.

    python3 tuning/load/test_paced.py        # or pytest tuning/load/test_paced.py
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import threading
from pathlib import Path

PACED = Path(__file__).with_name("paced.py")
RATE, DURATION_S = 200, 1.0


class StubServer:
    """Answers each request on a thread of its own event loop: `answer(n)` gives the status
    for the n-th request overall, or None for no answer at all (the connection stays open)."""

    def __init__(self, answer):
        self.answer = answer
        self.count = 0
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        threading.Thread(target=self._run, args=(ready,), daemon=True).start()
        ready.wait()

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
        self.port = self.server.sockets[0].getsockname()[1]
        ready.set()
        self.loop.run_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                status = self.answer(self.count)
                self.count += 1
                if status is None:
                    continue
                writer.write(f"HTTP/1.1 {status} X\r\ncontent-length: 2\r\n\r\n{{}}".encode())
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.server.close)


def paced(port: int, timeout: float = 0.3) -> dict:
    out = subprocess.run([sys.executable, str(PACED), "--port", str(port), "--rate", str(RATE),
                          "--connections", "4", "--duration", str(DURATION_S),
                          "--timeout", str(timeout)],
                         check=True, capture_output=True, text=True, timeout=30).stdout
    out = json.loads(out)
    # Each scheduled request is in exactly one count; only the ones attempted were sent.
    answered = sum(out["statuses"].values())
    assert (answered + out["timeouts"] + out["errors"] + out["not_sent"]
            == out["scheduled"]), out
    assert answered <= out["sent"] <= out["scheduled"] - out["not_sent"], out
    assert out["ok"] + out["late"] == sum(n for s, n in out["statuses"].items()
                                          if s.startswith("2")), out
    return out


def infinite(ms) -> bool:
    return ms == float("inf")


def test_a_server_that_answers_everything_gets_the_full_rate():
    server = StubServer(lambda n: 200)
    try:
        out = paced(server.port)
    finally:
        server.stop()
    assert out["scheduled"] == RATE * DURATION_S, out
    assert out["ok"] == out["sent"] == out["scheduled"], out
    assert out["achieved_rps"] == RATE, out
    assert out["statuses"] == {"200": out["ok"]}, out
    assert out["not_sent"] == out["timeouts"] == out["errors"] == 0, out
    assert 0 < out["p50_ms"] <= out["p99_ms"] <= out["p999_ms"] < 300, out


def test_errors_are_not_achieved():
    server = StubServer(lambda n: 200 if n % 2 else 503)
    try:
        out = paced(server.port)
    finally:
        server.stop()
    assert out["sent"] == out["scheduled"] == RATE * DURATION_S, out
    assert out["ok"] == out["statuses"]["200"] == out["scheduled"] // 2, out
    assert out["achieved_rps"] == RATE / 2, out
    # A 503 is an answer: it has a latency, and is listed, but not achieved.
    assert out["statuses"]["503"] == out["scheduled"] // 2, out
    assert not infinite(out["p999_ms"]), out


def test_unanswered_requests_are_not_achieved():
    # The first 20 requests are answered, then the server goes silent.
    server = StubServer(lambda n: 200 if n < 20 else None)
    try:
        out = paced(server.port, timeout=0.2)
    finally:
        server.stop()
    assert out["ok"] == 20, out
    assert out["achieved_rps"] == 20 / DURATION_S, out
    assert out["timeouts"] > 0 and out["sent"] < out["scheduled"], out
    assert out["not_sent"] > 0 and out["statuses"] == {"200": 20}, out
    # 20 answers of 200: the median and above are requests that never got one.
    assert infinite(out["p50_ms"]) and infinite(out["p99_ms"]) and infinite(out["p999_ms"]), out


def test_a_closed_port_achieves_nothing():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = paced(port)
    assert (out["ok"], out["achieved_rps"]) == (0, 0), out
    assert out["errors"] == out["scheduled"] and out["sent"] == 0, out
    assert out["error_kinds"] == {"ConnectionRefusedError": out["scheduled"]}, out
    assert infinite(out["p50_ms"]), out


if __name__ == "__main__":
    for name, test in list(globals().items()):
        if name.startswith("test_"):
            test()
            print(f"{name} ok")
