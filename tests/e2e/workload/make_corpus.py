#!/usr/bin/env python3
"""Writes the benchmark corpus: DOCUMENT_COUNT small log-like JSON documents, one per line.

The output is a pure function of the line number (no `random`, no clock), so every machine
generates the same bytes and workload.json can state the document count. Usage:

    python3 make_corpus.py [OUTPUT]     # default: documents.json next to this script
"""

import json
import sys
from pathlib import Path

# Must equal "document-count" in workload.json (opensearch-benchmark checks the line count).
DOCUMENT_COUNT = 30_000

HOSTS = [f"web-{n:02d}" for n in range(12)]
LEVELS = ["info", "info", "info", "warn", "error"]
PATHS = ["/", "/login", "/search", "/api/orders", "/api/items", "/static/app.js"]
STATUSES = [200, 200, 200, 201, 204, 301, 404, 500]
BASE_EPOCH_S = 1_767_225_600  # 2026-01-01T00:00:00Z


def document(uid: int) -> dict:
    # A multiplicative hash spreads consecutive uids over the value lists.
    h = (uid * 2_654_435_761) & 0xFFFF_FFFF
    ts = BASE_EPOCH_S + uid
    day, rem = divmod(ts - BASE_EPOCH_S, 86_400)
    hh, rem = divmod(rem, 3_600)
    mm, ss = divmod(rem, 60)
    return {
        "@timestamp": f"2026-01-{1 + day:02d}T{hh:02d}:{mm:02d}:{ss:02d}Z",
        "uid": uid,
        "host": HOSTS[h % len(HOSTS)],
        "level": LEVELS[(h >> 4) % len(LEVELS)],
        "path": PATHS[(h >> 8) % len(PATHS)],
        "status": STATUSES[(h >> 12) % len(STATUSES)],
        "bytes": (h >> 16) % 50_000,
        "message": f"request {uid} served by {HOSTS[h % len(HOSTS)]}",
    }


def write_corpus(path: Path) -> None:
    with path.open("w", encoding="utf-8") as out:
        for uid in range(DOCUMENT_COUNT):
            out.write(json.dumps(document(uid), separators=(",", ":")) + "\n")


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("documents.json")
    write_corpus(target)
    print(f"wrote {DOCUMENT_COUNT} documents to {target}")
