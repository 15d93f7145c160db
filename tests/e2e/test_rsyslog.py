"""rsyslog's omelasticsearch ships log lines through the target.

A private rsyslogd (own config, pid file and work directory; no system sockets) tails a file
with imfile and sends each line as a JSON document to the target in bulk mode
(`POST /_bulk`, Content-Type application/json). esVersion.major=8 makes it leave out `_type`,
which both OpenSearch 2.x and Elasticsearch 7.x accept.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

from conftest import Route

LINES = 200
LAND_TIMEOUT_S = 60

CONFIG = """
global(workDirectory="{work}")
module(load="imfile")
module(load="omelasticsearch")

template(name="rf-json" type="list" option.jsonf="on") {{
  property(outname="message" name="msg" format="jsonf")
  property(outname="@timestamp" name="timereported" dateFormat="rfc3339" format="jsonf")
}}

input(type="imfile" file="{source}" tag="rf-e2e:" ruleset="to-search")

ruleset(name="to-search") {{
  action(type="omelasticsearch"
         server="{host}" serverport="{port}" {tls}
         searchIndex="{index}" template="rf-json"
         esVersion.major="8" bulkmode="on"
         {auth}
         errorFile="{work}/es-errors.json")
}}
"""


def rsyslog_config(route: Route, index: str, work: Path, source: Path) -> str:
    target = route.target
    auth = f'uid="{target.user}" pwd="{target.password or ""}"' if target.user else ""
    tls = ""
    if target.scheme == "https":
        tls = 'usehttps="on"' + (f' tls.cacert="{target.ca_cert}"' if target.ca_cert else "")
    return CONFIG.format(work=work, source=source, host=target.host, port=target.port, tls=tls,
                         index=index, auth=auth)


def test_rsyslog_omelasticsearch(route: Route, index_names, tmp_path: Path):
    rsyslogd = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
    assert Path(rsyslogd).exists(), "rsyslogd missing: run tests/e2e/setup.sh"
    index = index_names.new(route.direct)
    route.direct.create_index(index, {"properties": {"message": {"type": "keyword"}}})

    work = tmp_path / "work"
    work.mkdir()
    source = tmp_path / "app.log"
    lines = [f"rf-e2e line {n:04d}" for n in range(LINES)]
    source.write_text("".join(line + "\n" for line in lines))
    config = tmp_path / "rsyslog.conf"
    config.write_text(rsyslog_config(route, index, work, source))

    check = subprocess.run([rsyslogd, "-N1", "-f", str(config)], capture_output=True, text=True)
    assert check.returncode == 0, f"rsyslog rejects the config:\n{check.stderr}"

    # -n: stay in the foreground as our child; -i: a private pid file (the default one is the
    # system daemon's).
    daemon = subprocess.Popen([rsyslogd, "-n", "-f", str(config), "-i", str(tmp_path / "rsyslogd.pid")],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + LAND_TIMEOUT_S
        landed = 0
        while time.monotonic() < deadline:
            landed = route.direct.count(index)
            if landed >= LINES or daemon.poll() is not None:
                break
            time.sleep(0.5)
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            output, _ = daemon.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            daemon.kill()
            output, _ = daemon.communicate()
    errors = work / "es-errors.json"
    detail = f"rsyslogd output:\n{output}\nerror file:\n{errors.read_text() if errors.exists() else '-'}"
    assert landed == LINES, f"{landed} of {LINES} lines landed\n{detail}"

    query = {"size": LINES, "sort": [{"message": "asc"}], "_source": ["message"]}
    reply = route.direct.request("POST", f"/{index}/_search", json=query)
    reply.raise_for_status()
    assert [hit["_source"]["message"] for hit in reply.json()["hits"]["hits"]] == lines
