#!/usr/bin/env bash
# Installs the load tools (Debian packages wrk, nginx-light, haproxy, openssl, iproute2,
# gnuplot-nox), builds the release binary (unless RINGFENCE_BIN names one) and the open-loop
# generator (tuning/loadgen), and runs the load harness.
#
#   run.sh all [--duration S]     every scenario in one go; writes tuning/results/<date>-<host>
#                                 .md (tables, date, machine), .json (raw) and .png (plot), and
#                                 copies the tables into tuning/README.md (report.py)
#   run.sh --duration 5 proxy     some scenarios, tables on stdout (arguments go to bench.py)
#   run.sh --duration 20 hostile  slowloris and a connection flood
#   run.sh reload [ARGS]          reload.py: 100 SIGHUPs under load, SIGTERM with requests in flight
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LOAD="$ROOT/tuning/load"
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v nginx >/dev/null || missing+=(nginx-light)
command -v haproxy >/dev/null || missing+=(haproxy)
command -v openssl >/dev/null || missing+=(openssl)
command -v ss >/dev/null || missing+=(iproute2)
command -v gnuplot >/dev/null || missing+=(gnuplot-nox)
if ((${#missing[@]})); then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi
if [[ -z "${RINGFENCE_BIN:-}" ]]; then
    (cd "$ROOT" && cargo build --release --locked --bin ringfence)
fi
cargo build --release --locked --manifest-path "$ROOT/tuning/loadgen/Cargo.toml"
case "${1:-}" in
    reload)
        shift
        exec python3 "$LOAD/reload.py" "$@"
        ;;
    all)
        shift
        mkdir -p "$ROOT/tuning/results"
        out="$ROOT/tuning/results/$(date -u +%F)-$(hostname -s)"
        python3 "$LOAD/bench.py" --json "$out.json" --markdown "$out.md" "$@"
        python3 "$LOAD/report.py" plot "$out.json"
        python3 "$LOAD/report.py" readme "$out.md"
        echo "results: $out.md, $out.json, $out.png"
        ;;
    *)
        exec python3 "$LOAD/bench.py" "$@"
        ;;
esac
