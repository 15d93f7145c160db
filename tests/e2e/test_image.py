"""The container image, built and run here: docker/build-local.sh makes it with podman from this
run's binary (docker/Dockerfile's last stage: `FROM scratch`, no shell, uid 10001), and the
container, on the host's network in front of the suite's OpenSearch node with
examples/gateway.yml, must answer README's quick start as the binary does, run as uid 10001,
and stop cleanly on `podman stop` (SIGTERM).

podman runs with runc and cgroupfs: on this machine's hybrid cgroup hierarchy crun refuses to
start containers. Its default limits (open files, processes) are above this sandbox's hard
limits, so the run sets its own.
"""

from __future__ import annotations

import socket
import subprocess
import time
import uuid

import pytest

from conftest import E2E_DIR, requires_gateway
from test_readme import DEMO_INDEX, example_config, readme_commands, run_curl
from test_tls import binary, direct, free_port  # noqa: F401 (fixtures)

pytestmark = requires_gateway

ROOT = E2E_DIR.parent.parent
PODMAN = ["podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs"]
IMAGE = "ringfence:e2e"
START_TIMEOUT_S = 30


def podman(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*PODMAN, *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def image(binary) -> str:  # noqa: F811 (fixture)
    built = subprocess.run([str(ROOT / "docker/build-local.sh"), binary, IMAGE],
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    return built.stdout.strip()


def wait_listening(port: int, name: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            pass
        state = podman("inspect", "--format", "{{.State.Status}}", name).stdout.strip()
        assert state == "running" and time.monotonic() < deadline, \
            f"container {state}:\n{podman('logs', name).stderr}"
        time.sleep(0.2)


def test_the_image_serves_the_quick_start_as_a_non_root_user(image, direct, tmp_path):  # noqa: F811
    port, admin_port = free_port(), free_port()
    config = tmp_path / "gateway.yml"
    config.write_text(example_config().replace("@PORT@", str(port))
                      .replace("@ADMIN_PORT@", str(admin_port))
                      .replace("@UPSTREAM@", f'"{direct.url}"'))
    config.chmod(0o644)  # read by the container's uid 10001
    name = f"ringfence-e2e-{uuid.uuid4().hex[:8]}"
    started = podman("run", "-d", "--name", name, "--network", "host",
                     "--ulimit", "nofile=10000:10000", "--ulimit", "nproc=4096:4096",
                     "-v", f"{config}:/config/gateway.yml:ro",
                     image, "run", "--config", "/config/gateway.yml")
    assert started.returncode == 0, started.stderr
    direct.request("DELETE", f"/{DEMO_INDEX}")
    try:
        wait_listening(port, name)
        pid = podman("inspect", "--format", "{{.State.Pid}}", name).stdout.strip()
        status = open(f"/proc/{pid}/status").read()
        assert "\nUid:\t10001\t10001\t10001\t10001\n" in status, status
        url = f"http://127.0.0.1:{port}"
        for command, expected in readme_commands():
            got, headers = run_curl(command, url)
            assert got == int(expected[:3]), f"{command}\n  README: {expected}\n  got {got}\n" \
                                             f"{podman('logs', name).stderr[-3000:]}"
        stopped = podman("stop", "-t", "20", name)
        assert stopped.returncode == 0, stopped.stderr
        exit_code = podman("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip()
        logs = podman("logs", name).stderr
        assert exit_code == "0", logs
        assert "shutting down" in logs, logs
    finally:
        podman("rm", "-f", name)
        direct.request("DELETE", f"/{DEMO_INDEX}")
