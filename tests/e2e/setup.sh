#!/usr/bin/env bash
# Installs the real clients that the e2e suite drives, all project-local and pinned:
#   tests/e2e/.venv            opensearch-py, elasticsearch-py 7.13.4, pytest, requests
#   tests/e2e/.venv-benchmark  opensearch-benchmark (own venv: it needs opensearch-py<3)
#   tests/e2e/node_modules     elasticdump (package-lock.json)
#   Debian packages            curl, rsyslog, rsyslog-elasticsearch, podman and runc (the
#                              image test, test_image.py) (only when missing)
# Idempotent: each part records a hash of its pin file and is skipped while that matches.
set -euo pipefail

E2E="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON="${PYTHON:-python3}"

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

install_debian_packages() {
    local missing=() pkg
    for pkg in curl rsyslog rsyslog-elasticsearch podman runc; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$pkg")
        fi
    done
    if [[ ${#missing[@]} -eq 0 ]]; then
        echo "debian packages: present"
        return
    fi
    local sudo=()
    [[ $(id -u) -eq 0 ]] || sudo=(sudo)
    echo "debian packages: installing ${missing[*]}"
    "${sudo[@]}" apt-get update -q >/dev/null
    # The rsyslog package would normally start a system daemon; the tests run their own
    # rsyslogd with a private config instead, so nothing here depends on that service.
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

# make_venv DIR REQUIREMENTS: (re)creates DIR when REQUIREMENTS or the Python changed.
make_venv() {
    local venv="$1" requirements="$2"
    local stamp
    stamp="$(sha256sum "$requirements" | cut -d' ' -f1) $("$PYTHON" -c 'import sys; print(sys.version.split()[0])')"
    if [[ -x "$venv/bin/python" && "$(cat "$venv/.ringfence-stamp" 2>/dev/null)" == "$stamp" ]]; then
        echo "$(basename "$venv"): up to date"
        return
    fi
    echo "$(basename "$venv"): installing $(basename "$requirements")"
    "$PYTHON" -m venv --clear "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check --no-input -r "$requirements"
    echo "$stamp" >"$venv/.ringfence-stamp"
}

install_node_modules() {
    local stamp
    stamp="$(sha256sum "$E2E/package-lock.json" | cut -d' ' -f1)"
    if [[ -x "$E2E/node_modules/.bin/elasticdump" \
          && "$(cat "$E2E/node_modules/.ringfence-stamp" 2>/dev/null)" == "$stamp" ]]; then
        echo "node_modules: up to date"
        return
    fi
    echo "node_modules: npm ci"
    # npm ci installs exactly package-lock.json (and fails if it disagrees with package.json).
    (cd "$E2E" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$stamp" >"$E2E/node_modules/.ringfence-stamp"
}

t0="$(now)"
install_debian_packages
make_venv "$E2E/.venv" "$E2E/requirements.txt"
make_venv "$E2E/.venv-benchmark" "$E2E/requirements-benchmark.txt"
install_node_modules
echo "setup done in $(since "$t0") s"
