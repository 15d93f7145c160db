"""opensearch-benchmark runs the local workload in tests/e2e/workload through the target.

The workload bulk-indexes a generated 30,000-document corpus with two clients and then runs two
searches; the run must finish with no request errors and every document must land.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import E2E_DIR, Endpoint, Route

WORKLOAD_DIR = E2E_DIR / "workload"
BENCHMARK = E2E_DIR / ".venv-benchmark" / "bin" / "opensearch-benchmark"
EXPECTED_TASKS = {"bulk-index", "match-all", "errors-by-host"}
# About a minute on 2 cores: each task costs ~6 s of scheduling on top of its requests.
RUN_TIMEOUT_S = 300


def workload_document_count(workload: Path) -> int:
    # workload.json is a Jinja template; the count is the one literal "document-count" line.
    for line in workload.read_text().splitlines():
        if '"document-count"' in line:
            return int(line.split(":")[1].strip().rstrip(","))
    raise AssertionError(f"no document-count in {workload}")


def write_client_options(target: Endpoint, path: Path) -> Path:
    """Client options as a JSON file: the inline key:value form splits on ':' and ',', so a
    password holding either breaks it, and argv would show the password to `ps`."""
    options: dict = {"timeout": 60}
    if target.user:
        options.update(basic_auth_user=target.user, basic_auth_password=target.password or "")
    if target.scheme == "https":
        options.update(use_ssl=True, verify_certs=True)
        if target.ca_cert:
            options["ca_certs"] = target.ca_cert
    # The benchmark reads a file only when the argument has no ':' or ',' and ends in .json.
    assert not set(str(path)) & {":", ","}, path
    path.write_text(json.dumps({"default": options}))
    return path


def test_opensearch_benchmark(main_route: Route, index_names, tmp_path: Path):
    assert BENCHMARK.exists(), f"{BENCHMARK} missing: run tests/e2e/setup.sh"
    # Run from a copy: the benchmark writes offset files next to the corpus.
    workload = tmp_path / "workload"
    workload.mkdir()
    for name in ("workload.json", "index.json"):
        shutil.copy(WORKLOAD_DIR / name, workload / name)
    subprocess.run([sys.executable, str(WORKLOAD_DIR / "make_corpus.py"), str(workload / "documents.json")],
                   check=True, capture_output=True)
    with (workload / "documents.json").open("rb") as corpus:
        lines = sum(1 for _ in corpus)
    assert lines == workload_document_count(workload / "workload.json")

    index = index_names.new(main_route.direct)
    # A private HOME: the benchmark keeps its config, logs and results in ~/.benchmark and
    # writes a default config there on first use, without asking.
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home)}
    args = [
        str(BENCHMARK), "run",
        f"--workload-path={workload}",
        f"--workload-params=index_name:{index}",
        "--pipeline=benchmark-only",
        f"--target-hosts={main_route.target.host}:{main_route.target.port}",
        f"--client-options={write_client_options(main_route.target, tmp_path / 'client-options.json')}",
        "--test-run-id=ringfence-e2e",
        "--offline",
        "--kill-running-processes",
        "--on-error=abort",
    ]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    log = home / ".benchmark" / "logs" / "benchmark.log"
    assert done.returncode == 0, (
        f"opensearch-benchmark failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}\n"
        f"log: {log}"
    )

    results = json.loads((home / ".benchmark" / "benchmarks" / "test-runs" / "ringfence-e2e"
                          / "test_run.json").read_text())["results"]
    error_rates = {m["task"]: m["error_rate"] for m in results["op_metrics"]}
    assert set(error_rates) == EXPECTED_TASKS
    assert all(rate == 0 for rate in error_rates.values()), error_rates
    assert main_route.direct.count(index) == lines
