"""README's quick start, executed: every command of the block marked `readme-test` runs
against a gateway on examples/gateway.yml (ports moved to free ones, upstream the suite's
OpenSearch node, as in the demo), and each answer must have the status written after its `#`.
With E2E_README_DEMO=1 the commands go to README's own address instead, where scripts/test.sh
has started README's first command, scripts/demo.sh.
A README that drifts from the example, or an example that opens more than the README says,
fails here.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from conftest import E2E_DIR, requires_gateway
from test_tls import binary, direct, gateways  # noqa: F401 (fixtures)

pytestmark = requires_gateway

ROOT = E2E_DIR.parent.parent
README = ROOT / "README.md"
EXAMPLE = ROOT / "examples/gateway.yml"
MARKER = "<!-- readme-test:"
# Where README's commands send their requests (the demo's gateway).
DEMO_URL = "http://127.0.0.1:9201"
# The index the quick start writes to.
DEMO_INDEX = "logs-demo"


def readme_commands() -> list[tuple[str, str]]:
    """(command, expected answer) for each line of the fenced block after the marker."""
    text = README.read_text()
    assert text.count(MARKER) == 1, f"README.md should have one {MARKER} block"
    after = text[text.index(MARKER):]
    block = re.search(r"```sh\n(.*?)```", after, re.S)
    assert block, f"no ```sh block after {MARKER}"
    commands = []
    for line in block.group(1).splitlines():
        if not line.strip():
            continue
        command, sep, expected = line.partition("  # ")
        assert sep, f"a README command without its answer after '  # ': {line!r}"
        commands.append((command.strip(), expected.strip()))
    return commands


def example_config() -> str:
    """examples/gateway.yml with its three addresses replaced (each must be there)."""
    text = EXAMPLE.read_text()
    replacements = {
        'listen: "127.0.0.1:9201"': 'listen: "127.0.0.1:@PORT@"',
        'upstreams: ["http://127.0.0.1:9200"]': "upstreams: [@UPSTREAM@]",
        'listen: "127.0.0.1:9290"': 'listen: "127.0.0.1:@ADMIN_PORT@"',
    }
    for old, new in replacements.items():
        assert text.count(old) == 1, f"examples/gateway.yml no longer has {old!r}"
        text = text.replace(old, new)
    return text


def run_curl(command: str, url: str) -> tuple[int, dict[str, str]]:
    """Runs a README curl command against `url`: its status and response headers."""
    argv = shlex.split(command)
    assert argv[0] == "curl", f"only curl commands are runnable: {command!r}"
    argv = [arg.replace(DEMO_URL, url) for arg in argv]
    # The answer's head on stdout; the body (and -i's copy of the head) discarded.
    argv += ["-s", "-o", "/dev/null", "-D", "-", "--max-time", "15"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, f"{command}: curl exit {out.returncode}: {out.stderr}"
    head = out.stdout.splitlines()
    status = int(head[0].split()[1])
    headers = {}
    for line in head[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return status, headers


def test_quick_start_answers_as_the_readme_says(gateways, direct):  # noqa: F811 (fixtures)
    commands = readme_commands()
    assert len(commands) >= 5, commands
    if os.environ.get("E2E_README_DEMO"):
        # scripts/test.sh's last phase: README's own first command (scripts/demo.sh) runs the
        # gateway, on the README's address.
        url, log = DEMO_URL, lambda: "(the demo's log is in scripts/test.sh's output)"
    else:
        config = example_config().replace("@UPSTREAM@", f'"{direct.url}"')
        gw = gateways(config, name="readme")
        url, log = f"http://{gw.address}", gw.log_text
    direct.request("DELETE", f"/{DEMO_INDEX}")
    try:
        for command, expected in commands:
            wanted = re.match(r"(\d{3})\b", expected)
            assert wanted, f"the answer of {command!r} should start with its status: {expected!r}"
            status, headers = run_curl(command, url)
            assert status == int(wanted.group(1)), \
                f"{command}\n  README: {expected}\n  got {status}\n{log()[-3000:]}"
            if "challenge" in expected:
                assert headers.get("www-authenticate", "").startswith("Basic "), headers
    finally:
        direct.request("DELETE", f"/{DEMO_INDEX}")


def test_the_demo_script_runs_the_example_it_names():
    """scripts/demo.sh and the README's first command agree on the config and the ports."""
    demo = (ROOT / "scripts/demo.sh").read_text()
    assert "--config examples/gateway.yml" in demo
    assert "--port 9200" in demo
    assert 'listen: "127.0.0.1:9201"' in EXAMPLE.read_text()
    assert "examples/gateway.yml" in README.read_text().splitlines()[2]
