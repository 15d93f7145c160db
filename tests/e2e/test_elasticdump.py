"""elasticdump imports a dump file through the target.

elasticdump reads its own line-delimited format ({"_id": ..., "_source": {...}} per line) and
sends `PUT /<index>/_bulk` with an x-ndjson body; with --esCompress that body is gzip-encoded
(Content-Encoding: gzip), which a gateway that inspects bulk bodies has to cope with.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import E2E_DIR, Route

ELASTICDUMP = E2E_DIR / "node_modules" / ".bin" / "elasticdump"
DOCS = 2_000
RUN_TIMEOUT_S = 120


def source(uid: int) -> dict:
    return {"uid": uid, "user": f"user-{uid % 37}", "text": f"imported line {uid}"}


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_elasticdump_import(route: Route, index_names, tmp_path: Path, compress: bool):
    assert ELASTICDUMP.exists(), f"{ELASTICDUMP} missing: run tests/e2e/setup.sh"
    index = index_names.new(route.direct)
    route.direct.create_index(index)

    dump = tmp_path / "dump.ndjson"
    with dump.open("w") as out:
        for uid in range(DOCS):
            out.write(json.dumps({"_index": "ignored", "_id": f"doc-{uid}", "_source": source(uid)}) + "\n")

    target = route.target
    args = [str(ELASTICDUMP), f"--input={dump}", f"--output={target.url.rstrip('/')}/{index}",
            "--type=data", "--limit=500"]
    if compress:
        args.append("--esCompress")
    env = dict(os.environ)
    if target.user:
        # Read by elasticdump and sent as a Basic header: neither argv nor the URL shows them.
        env.update(ELASTICDUMP_OUTPUT_USERNAME=target.user, ELASTICDUMP_OUTPUT_PASSWORD=target.password or "")
    if target.ca_cert:
        # elasticdump's own --output-ca is only read together with --tlsAuth (client certs).
        env["NODE_EXTRA_CA_CERTS"] = target.ca_cert
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    assert done.returncode == 0, f"elasticdump failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert f"Total Writes: {DOCS}" in done.stdout, done.stdout[-2000:]

    assert route.direct.count(index) == DOCS
    reply = route.direct.request("GET", f"/{index}/_doc/doc-1234")
    assert reply.status_code == 200 and reply.json()["_source"] == source(1234)
