"""curl through the target must give the same answers as curl straight to the backend.

Read-only requests go to the same index through both URLs and must match exactly. A write can
only be sent once, so writes are *mirrored*: the same request goes through the target to index
A and straight to the backend for index B, and the two answers must match once the index names
are masked. Both indices then hold the same documents, which the reads check too.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from conftest import Endpoint, Route

# Keys whose values legitimately differ between two identical requests or two twin indices.
VOLATILE_KEYS = {"took", "uuid", "index_uuid", "creation_date"}
# Response headers a gateway must pass through unchanged.
COMPARED_HEADERS = ("content-type", "x-elastic-product")
CURL_TIMEOUT_S = 60


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


def curl(endpoint: Endpoint, method: str, path: str, tmp: Path, body: bytes | None = None,
         content_type: str = "application/json") -> Reply:
    """Runs the real curl binary and returns status, headers and body."""
    head_file, body_file = tmp / "curl.head", tmp / "curl.body"
    args = ["curl", "--silent", "--show-error", "--max-time", str(CURL_TIMEOUT_S),
            "--dump-header", str(head_file), "--output", str(body_file),
            "--write-out", "%{http_code}", "--config", "-"]
    # HEAD needs --head: with -X HEAD curl would wait for a body that never comes.
    args += ["--head"] if method == "HEAD" else ["--request", method]
    if body is not None:
        (tmp / "curl.req").write_bytes(body)
        args += ["--header", f"Content-Type: {content_type}", "--data-binary", f"@{tmp / 'curl.req'}"]
    if endpoint.ca_cert:
        args += ["--cacert", endpoint.ca_cert]
    args.append(endpoint.url.rstrip("/") + path)
    # Credentials go through stdin (--config -), not argv, so `ps` does not show them.
    config = ""
    if endpoint.user:
        escaped = f"{endpoint.user}:{endpoint.password or ''}".replace("\\", "\\\\").replace('"', '\\"')
        config = f'user = "{escaped}"\n'
    done = subprocess.run(args, input=config, capture_output=True, text=True, timeout=CURL_TIMEOUT_S + 10)
    assert done.returncode == 0, f"curl {method} {path} failed: {done.stderr}"
    headers = {}
    for line in head_file.read_text(errors="replace").splitlines()[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    # With --head curl writes the headers to --output as well; a HEAD reply has no body.
    payload = b"" if method == "HEAD" else body_file.read_bytes()
    return Reply(status=int(done.stdout), headers=headers, body=payload)


def normalise(reply: Reply, mask: tuple[str, ...] = ()) -> tuple:
    """What must be equal between two replies: status, key headers and the JSON body."""
    text = reply.body.decode()
    for name in mask:
        text = text.replace(name, "<index>")
    body = _drop_volatile(json.loads(text)) if text.strip() else None
    headers = {name: reply.headers.get(name) for name in COMPARED_HEADERS}
    return reply.status, headers, body


def _drop_volatile(value):
    if isinstance(value, dict):
        return {k: _drop_volatile(v) for k, v in value.items() if k not in VOLATILE_KEYS}
    if isinstance(value, list):
        return [_drop_volatile(v) for v in value]
    return value


class Compare:
    """Sends each read-only request through the target and directly; answers must match."""

    def __init__(self, route: Route, tmp: Path):
        self.route = route
        self.tmp = tmp

    def same(self, method: str, path: str, body: bytes | None = None, **kw) -> Reply:
        through = curl(self.route.target, method, path, self.tmp, body, **kw)
        direct = curl(self.route.direct, method, path, self.tmp, body, **kw)
        assert normalise(through) == normalise(direct), f"{method} {path}"
        return through


class Twins(Compare):
    """Index A written through the target, index B written directly, by the same requests."""

    def __init__(self, route: Route, tmp: Path, names):
        super().__init__(route, tmp)
        self.via_target = names.new(route.direct, "t")
        self.via_direct = names.new(route.direct, "d")

    def mirror(self, method: str, path: str, body: bytes | None = None, **kw) -> Reply:
        """`path` holds `{index}`: A through the target, B directly; answers must match."""
        names = (self.via_target, self.via_direct)
        through = curl(self.route.target, method, path.format(index=self.via_target), self.tmp, body, **kw)
        direct = curl(self.route.direct, method, path.format(index=self.via_direct), self.tmp, body, **kw)
        assert normalise(through, names) == normalise(direct, names), f"{method} {path}"
        return through


def doc(uid: int) -> dict:
    return {"uid": uid, "title": f"document {uid}", "tag": ["red", "green", "blue"][uid % 3]}


def test_curl_matches_direct(route: Route, index_names, tmp_path: Path):
    t = Twins(route, tmp_path, index_names)
    ndjson = "application/x-ndjson"

    root = t.same("GET", "/")
    assert root.status == 200 and "number" in root.json()["version"]

    settings = {"settings": {"number_of_shards": 1, "number_of_replicas": 0}}
    created = t.mirror("PUT", "/{index}", json.dumps(settings).encode())
    assert created.status == 200 and created.json()["acknowledged"] is True

    exists = t.mirror("HEAD", "/{index}")
    assert exists.status == 200 and exists.body == b""

    one = t.mirror("PUT", "/{index}/_doc/1?refresh=true", json.dumps(doc(1)).encode())
    assert one.status == 201 and one.json()["result"] == "created"

    lines = []
    for uid in range(2, 52):
        lines += [json.dumps({"index": {"_id": str(uid)}}), json.dumps(doc(uid))]
    bulk = t.mirror("POST", "/{index}/_bulk?refresh=true", ("\n".join(lines) + "\n").encode(),
                    content_type=ndjson)
    assert bulk.status == 200 and bulk.json()["errors"] is False and len(bulk.json()["items"]) == 50

    # Reads of the index written through the target, through both URLs.
    count = t.same("GET", f"/{t.via_target}/_count")
    assert count.json()["count"] == 51
    query = {"query": {"term": {"tag": "red"}}, "sort": [{"uid": "asc"}], "size": 100}
    # GET with a body, as many clients send searches.
    hits = t.same("GET", f"/{t.via_target}/_search", json.dumps(query).encode())
    assert [h["_source"]["uid"] for h in hits.json()["hits"]["hits"]] == [u for u in range(1, 52) if u % 3 == 0]
    t.same("POST", f"/{t.via_target}/_search", json.dumps(query).encode())
    got = t.same("GET", f"/{t.via_target}/_doc/1")
    assert got.json()["_source"] == doc(1)
    t.same("GET", f"/{t.via_target}/_mapping")

    # The twin indices hold the same documents.
    t.mirror("GET", "/{index}/_search", json.dumps(query).encode())
    t.mirror("GET", "/{index}")

    deleted = t.mirror("DELETE", "/{index}/_doc/2?refresh=true")
    assert deleted.status == 200 and deleted.json()["result"] == "deleted"
    assert t.mirror("GET", "/{index}/_count").json()["count"] == 50

    dropped = t.mirror("DELETE", "/{index}")
    assert dropped.status == 200 and dropped.json()["acknowledged"] is True
    assert t.mirror("HEAD", "/{index}").status == 404


def test_curl_errors_match_direct(route: Route, tmp_path: Path):
    t = Compare(route, tmp_path)
    missing = "rf-e2e-no-such-index"
    assert t.same("HEAD", f"/{missing}").status == 404
    error = t.same("GET", f"/{missing}/_search")
    assert error.status == 404 and error.json()["error"]["type"] == "index_not_found_exception"
    bad = t.same("POST", f"/{missing}/_search", b'{"query": {"no_such_query": {}}}')
    assert bad.status == 400
