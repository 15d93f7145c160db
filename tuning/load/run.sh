#!/usr/bin/env bash
# Installs the load tools (Debian packages wrk, nginx-light, haproxy, openssl), builds the release
# binary and runs the load harness. Arguments go to bench.py, e.g. `run.sh --duration 5 proxy`
# or `run.sh --duration 20 hostile` (slowloris and a connection flood); `run.sh reload [ARGS]`
# runs reload.py instead (100 SIGHUPs under load, SIGTERM with requests in flight).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v nginx >/dev/null || missing+=(nginx-light)
command -v haproxy >/dev/null || missing+=(haproxy)
command -v openssl >/dev/null || missing+=(openssl)
if ((${#missing[@]})); then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
(cd "$ROOT" && cargo build --release --locked --bin ringfence)
if [[ "${1:-}" == reload ]]; then
    shift
    exec python3 "$ROOT/tuning/load/reload.py" "$@"
fi
exec python3 "$ROOT/tuning/load/bench.py" "$@"
