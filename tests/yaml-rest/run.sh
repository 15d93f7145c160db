#!/usr/bin/env bash
# OpenSearch's own YAML REST suite through Ringfence (see README.md beside this file):
#
#   tests/yaml-rest/run.sh                        # through the gateway; fails on any failure
#                                                 # not listed in known-failures.txt
#   tests/yaml-rest/run.sh --direct               # straight at the node, same comparison
#   tests/yaml-rest/run.sh --direct --update-known   # ... and rewrite known-failures.txt
#
# Each run starts a fresh embedded OpenSearch 2.19.6 node (scripts/backend.sh, fresh path.data)
# on a free port and stops it at the end; in gateway mode Ringfence (target/release/ringfence,
# built if missing; RINGFENCE_BIN overrides) runs in front of it on another free port with an
# allow-everything Basic user (yaml:yaml), and the suite sends those credentials everywhere.
#
# Environment:
#   YAML_REST_SEED   the runner's seed (default: tests.seed in pom.xml, which known-failures.txt
#                    was made with)
#   YAML_REST_SUITE  a subset, as tests.rest.suite: "index,search/10_source_filtering"
#   YAML_REST_NODE   http://host:port of a node to use instead of a fresh one (not stopped;
#                    leftovers of earlier runs may then change results)
#   RINGFENCE_STATE  where logs, the gateway config and report copies go
#                    (default /tmp/ringfence-backend; this script uses yaml-rest/ in it)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BACKEND="$ROOT/scripts/backend.sh"
KNOWN="$HERE/known-failures.txt"

mode=gateway
update_known=0
for arg in "$@"; do
    case "$arg" in
        --direct) mode=direct ;;
        --update-known) update_known=1 ;;
        *) echo "usage: $0 [--direct [--update-known]]" >&2; exit 2 ;;
    esac
done
if [[ $update_known == 1 && $mode != direct ]]; then
    echo "--update-known records failures of the node itself: use it with --direct" >&2
    exit 2
fi

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

state="${RINGFENCE_STATE:-/tmp/ringfence-backend}/yaml-rest"
mkdir -p "$state"
timings=()
node_port=""
gateway_pid=""
watch_pid=""

stop_mvn() { :; }
cleanup() {
    stop_mvn
    if [[ -n "$gateway_pid" ]]; then
        kill -TERM "$gateway_pid" 2>/dev/null && wait "$gateway_pid" 2>/dev/null || true
    fi
    if [[ -n "$node_port" ]]; then
        # The node's home (its data) goes too; backend.sh keeps node.log beside it.
        "$BACKEND" stop --port "$node_port" >/dev/null &&
            rm -rf "${RINGFENCE_STATE:-/tmp/ringfence-backend}/opensearch-$node_port/home" || true
        rm -rf "$state/repo-$node_port"
    fi
    if [[ -n "$watch_pid" ]]; then
        kill "$watch_pid" 2>/dev/null || true
    fi
}
trap cleanup EXIT

# 1. The node.
t0="$(now)"
if [[ -n "${YAML_REST_NODE:-}" ]]; then
    node_url="$YAML_REST_NODE"
    echo "yaml-rest: using the node at $node_url (not a fresh one)"
else
    node_port="$(free_port)"
    # As OpenSearch's own test clusters: a snapshot repository root (the suite registers fs
    # repositories under it) and the node attribute its cat/settings tests look for.
    repo="$state/repo-$node_port"
    rm -rf "$repo"
    mkdir -p "$repo"
    "$BACKEND" start --port "$node_port" --setting "path.repo=$repo" --setting node.attr.testattr=test |
        sed 's/^/yaml-rest: /'
    node_url="http://127.0.0.1:$node_port"
fi
timings+=("node $(since "$t0") s")

# 2. The gateway, with one block that lets an authenticated user do anything. Not `enable:
# false`: authentication, classification and the whole request path must run.
auth=()
target="${node_url#http://}"
if [[ $mode == gateway ]]; then
    t0="$(now)"
    RINGFENCE_BIN="${RINGFENCE_BIN:-$ROOT/target/release/ringfence}"
    if [[ ! -x "$RINGFENCE_BIN" ]]; then
        (cd "$ROOT" && cargo build --release --locked --bin ringfence)
    fi
    gateway_port="$(free_port)"
    cat >"$state/gateway.yml" <<EOF
# Written by tests/yaml-rest/run.sh.
gateway:
  listen: "127.0.0.1:$gateway_port"
  upstreams: ["$node_url"]
  workers: 2
readonlyrest:
  access_control_rules:
  - name: "YAML REST suite: anything, once authenticated"
    auth_key: "yaml:yaml"
EOF
    "$RINGFENCE_BIN" run --config "$state/gateway.yml" >"$state/gateway.log" 2>&1 &
    gateway_pid=$!
    for _ in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:$gateway_port/" && break
        kill -0 "$gateway_pid" 2>/dev/null || break
        sleep 0.1
    done
    if ! curl -sf -o /dev/null -u yaml:yaml "http://127.0.0.1:$gateway_port/_cluster/health"; then
        echo "yaml-rest: ringfence did not start on port $gateway_port:" >&2
        cat "$state/gateway.log" >&2
        exit 1
    fi
    target="127.0.0.1:$gateway_port"
    auth=("-Dringfence.basic_auth=yaml:yaml")
    timings+=("gateway $(since "$t0") s")
fi

# 3a. In gateway mode, nothing but the gateway may talk to the node: the runner learns the
# node's own address from GET _nodes/http, and a client built from it (the stock runner does
# this for node_selector steps) would bypass the gateway unnoticed. Every connection to the
# node's port is sampled while the suite runs (the runner's clients keep theirs open).
connections="$state/node-connections.txt"
: >"$connections"
if [[ $mode == gateway ]]; then
    if command -v ss >/dev/null; then
        node_tcp_port="${node_url##*:}"
        node_tcp_port="${node_tcp_port%%/*}"
        (
            while :; do
                ss -tnpH state established "( dport = :$node_tcp_port )" >>"$connections" 2>/dev/null || true
                sleep 0.5
            done
        ) &
        watch_pid=$!
    else
        echo "yaml-rest: note: no ss (iproute2): not checking that only the gateway reaches the node"
    fi
fi

# 3b. The suite. Surefire never fails on a failing test here (testFailureIgnore); a non-zero
# exit is a build or runner problem.
seed_args=()
[[ -n "${YAML_REST_SEED:-}" ]] && seed_args=("-Dtests.seed=$YAML_REST_SEED")
suite_args=()
[[ -n "${YAML_REST_SUITE:-}" ]] && suite_args=("-Dtests.rest.suite=$YAML_REST_SUITE")
reports="$state/reports-$mode"
rm -rf "$reports"
echo "yaml-rest: running the suite ($mode) against $target; Maven log: $state/mvn-$mode.log"
t0="$(now)"
mvn -B -f "$HERE/pom.xml" test "-Dyaml.reports=$reports" \
    "-Dtests.rest.cluster=$target" "${auth[@]}" "${seed_args[@]}" "${suite_args[@]}" \
    >"$state/mvn-$mode.log" 2>&1 &
mvn_pid=$!
# The suite's JVM notices a vanished Maven and exits; Maven itself is ours to stop.
stop_mvn() { kill -TERM "$mvn_pid" 2>/dev/null || true; }
# A line a minute, so a long run does not look hung (the runner logs "before test" per test).
while kill -0 "$mvn_pid" 2>/dev/null; do
    for _ in $(seq 60); do
        kill -0 "$mvn_pid" 2>/dev/null || break
        sleep 1
    done
    if kill -0 "$mvn_pid" 2>/dev/null; then
        # Surefire writes the runner's log in blocks, so this count lags.
        done_count="$(grep -c '\] before test$' "$reports"/*-output.txt 2>/dev/null || true)"
        echo "yaml-rest: $(since "$t0") s, ${done_count:-0} tests logged"
    fi
done
mvn_status=0
wait "$mvn_pid" || mvn_status=$?
stop_mvn() { :; }
timings+=("suite $(since "$t0") s")
if [[ -n "$watch_pid" ]]; then
    kill "$watch_pid" 2>/dev/null || true
    watch_pid=""
fi
if [[ $mvn_status != 0 ]]; then
    sed 's/\x1b\[[0-9;]*m//g' "$state/mvn-$mode.log" | grep -v '^\s*at ' | tail -n 40 >&2
    echo "yaml-rest: mvn failed (exit $mvn_status); see $state/mvn-$mode.log" >&2
    exit 1
fi

# 4. The verdict.
report_args=(--write-failures "$state/failures-$mode.txt")
[[ $update_known == 1 ]] && report_args+=(--update-known)
status=0
python3 "$HERE/report.py" "$reports" "$KNOWN" "${report_args[@]}" || status=$?
# A socket sampled while it closes may show no process: only attributed ones count (the
# runner's clients keep theirs open across many samples).
bypass="$(grep 'users:' "$connections" | grep -v "pid=$gateway_pid," | sort -u || true)"
if [[ -n "$bypass" ]]; then
    echo "FAIL: something other than the gateway (pid $gateway_pid) connected to the node:"
    echo "$bypass" | head -n 10
    status=1
fi
if [[ $status != 0 && $mode == gateway ]]; then
    echo "yaml-rest: failure details in $reports/, gateway log $state/gateway.log"
fi

t0="$(now)"
cleanup
gateway_pid=""
node_port=""
timings+=("stop $(since "$t0") s")
summary="$(printf '%s, ' "${timings[@]}")"
echo "yaml-rest timings: ${summary%, }"
exit "$status"
