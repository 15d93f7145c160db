#!/usr/bin/env bash
# Runs the end-to-end suite in one go:
#   1. tests/e2e/setup.sh installs the pinned clients (fast when already done);
#   2. scripts/backend.sh starts OpenSearch (E2E_PORT, default 9200) and Elasticsearch 7.17
#      (E2E_ES_PORT, default 9201), and an OpenSearch node on 9202 for the gateways' audit
#      index, reusing nodes that are already up;
#   3. Ringfence (target/release/ringfence, built if missing; RINGFENCE_BIN overrides) starts
#      on tests/e2e/gateway.yml in front of each node (ports 9280 and 9281), over TLS with the
#      certificates of tests/e2e/certs.sh (E2E_TLS=0: plain HTTP), and the clients talk to it
#      as user e2e, verifying its certificate against the suite's CA (E2E_CA_CERT);
#      E2E_GATEWAY=0 points them at the backends instead. With the gateway, an OpenSearch node
#      with the Security plugin (TLS, passwords) also starts on E2E_SECURED_PORT (9203) for
#      test_tls.py's https-upstream tests (E2E_WITH_SECURED=0 skips it and those tests);
#   4. pytest runs;
#   5. the gateways and the nodes this script started are stopped again.
# Arguments go to pytest (e.g. `tests/e2e/run.sh -k curl -x`).
#
# Environment: E2E_TARGET, E2E_USER, E2E_PASSWORD, E2E_CA_CERT, E2E_ES_TARGET as in conftest.py.
# Setting E2E_DIRECT (or E2E_ES_DIRECT) uses that backend instead of starting one;
# E2E_WITH_ES=0 skips the Elasticsearch node and its tests. Any other skipped test fails the
# run (conftest.py); E2E_ALLOW_SKIP=1 allows skips.
set -euo pipefail
# conftest.py reads these to tell an asked-for skip from one nobody asked for.
export E2E_WITH_ES="${E2E_WITH_ES:-1}" E2E_GATEWAY="${E2E_GATEWAY:-1}" E2E_TLS="${E2E_TLS:-1}"
export E2E_WITH_SECURED="${E2E_WITH_SECURED:-$E2E_GATEWAY}"

E2E="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$E2E/../.." && pwd)"
BACKEND="$ROOT/scripts/backend.sh"

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
timings=()
started=()

stop_started() {
    local entry
    for entry in "${started[@]}"; do
        # shellcheck disable=SC2086  # entry is "--flavor F --port P"
        "$BACKEND" stop $entry || true
    done
}
trap stop_started EXIT

# ensure_backend FLAVOR PORT: starts the node unless it already runs (then it is left running).
ensure_backend() {
    local flavor="$1" port="$2"
    if "$BACKEND" status --flavor "$flavor" --port "$port" >/dev/null 2>&1; then
        echo "reusing $flavor on port $port"
    else
        "$BACKEND" start --flavor "$flavor" --port "$port" >&2
        started+=("--flavor $flavor --port $port")
    fi
}

t0="$(now)"
"$E2E/setup.sh"
# The suite's CA, server, client and keystore files (test_tls.py uses all of them).
E2E_CERTS="$("$E2E/certs.sh" | tail -n 1)"
export E2E_CERTS
timings+=("setup $(since "$t0") s")

t0="$(now)"
if [[ -z "${E2E_DIRECT:-}" ]]; then
    port="${E2E_PORT:-9200}"
    ensure_backend opensearch "$port"
    export E2E_DIRECT="http://127.0.0.1:$port"
fi
export E2E_TARGET="${E2E_TARGET:-$E2E_DIRECT}"
if [[ "$E2E_WITH_ES" == 1 && -z "${E2E_ES_DIRECT:-}" ]]; then
    port="${E2E_ES_PORT:-9201}"
    ensure_backend elasticsearch "$port"
    export E2E_ES_DIRECT="http://127.0.0.1:$port"
fi
if [[ -n "${E2E_ES_DIRECT:-}" ]]; then
    export E2E_ES_TARGET="${E2E_ES_TARGET:-$E2E_ES_DIRECT}"
fi
# The gateways' audit index sink writes into a node of its own: its bulk writes would
# otherwise move the REST handler counters the suite reads to prove a request never reached
# the node (test_acl.py `unchanged_handlers`).
if [[ "$E2E_GATEWAY" == 1 ]]; then
    ensure_backend opensearch 9202
    export E2E_AUDIT_DIRECT="http://127.0.0.1:9202"
fi
# The https upstream with passwords that test_tls.py puts gateways in front of.
if [[ "$E2E_WITH_SECURED" == 1 ]]; then
    port="${E2E_SECURED_PORT:-9203}"
    ensure_backend opensearch-secured "$port"
    export E2E_SECURED_URL="https://127.0.0.1:$port" \
        E2E_SECURED_CA="${RINGFENCE_STATE:-/tmp/ringfence-backend}/opensearch-secured-$port/certs/root-ca.pem" \
        E2E_SECURED_USER=ringfence E2E_SECURED_PASSWORD="${RINGFENCE_SECURED_SERVICE_PASSWORD:-ringfence-secret}" \
        E2E_SECURED_ADMIN_PASSWORD="${RINGFENCE_SECURED_ADMIN_PASSWORD:-admin-secret}"
fi
timings+=("backends $(since "$t0") s")

# Put Ringfence in front of each backend (E2E_GATEWAY=0 tests the backends directly).
gateway_pids=()
stop_gateways() {
    local pid
    for pid in "${gateway_pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
    done
    gateway_pids=()
}
# https (the default) or http (E2E_TLS=0) for the gateways' client listeners. Plain runs drop
# the ssl section from the config and listen on a bare address (plain without an ssl section).
scheme=https listen_prefix=https:// drop_ssl=
if [[ "$E2E_TLS" != 1 ]]; then
    scheme=http listen_prefix= drop_ssl='/^  ssl:$/,/server_certificate_key_file:/d'
fi
# start_gateway NAME LISTEN UPSTREAM ADMIN: runs ringfence on tests/e2e/gateway.yml in the
# background, listening on $scheme://LISTEN, with its admin listener on ADMIN, its log in
# $logs/NAME.log and its audit file in $logs/NAME-audit.jsonl (both emptied first).
start_gateway() {
    local name="$1" listen="$2" upstream="$3" admin="$4"
    local log="$logs/$name.log" config="$logs/$name.yml"
    : >"$log"
    : >"$logs/$name-audit.jsonl"
    sed -e "s/127.0.0.1:9380/$admin/" -e "$drop_ssl" "$E2E/gateway.yml" >"$config"
    RINGFENCE_AUDIT_FILE="$logs/$name-audit.jsonl" \
        RINGFENCE_TLS_CERT="$E2E_CERTS/server.pem" RINGFENCE_TLS_KEY="$E2E_CERTS/server-key.pem" \
        "$RINGFENCE_BIN" run --config "$config" --listen "$listen_prefix$listen" --upstream "$upstream" \
        >"$log" 2>&1 &
    gateway_pids+=("$!")
    for _ in $(seq 100); do
        curl -s -o /dev/null --cacert "$E2E_CERTS/ca.pem" "$scheme://$listen/" && return 0
        sleep 0.1
    done
    echo "ringfence on $listen did not start:" >&2
    cat "$log" >&2
    return 1
}
if [[ "$E2E_GATEWAY" == 1 ]]; then
    t0="$(now)"
    RINGFENCE_BIN="${RINGFENCE_BIN:-$ROOT/target/release/ringfence}"
    export RINGFENCE_BIN  # test_tls.py starts gateways of its own
    if [[ ! -x "$RINGFENCE_BIN" || -n "${E2E_BUILD:-}" ]]; then
        (cd "$ROOT" && cargo build --release --locked --bin ringfence)
    fi
    trap 'stop_gateways; stop_started' EXIT
    logs="${RINGFENCE_STATE:-/tmp/ringfence-backend}/gateway-logs"
    mkdir -p "$logs"
    start_gateway main 127.0.0.1:"${E2E_GATEWAY_PORT:-9280}" "$E2E_DIRECT" 127.0.0.1:9380
    export E2E_TARGET="$scheme://127.0.0.1:${E2E_GATEWAY_PORT:-9280}"
    export E2E_AUDIT_FILE="$logs/main-audit.jsonl" E2E_GATEWAY_LOG="$logs/main.log" \
        E2E_ADMIN_URL="http://127.0.0.1:9380"
    if [[ -n "${E2E_ES_DIRECT:-}" ]]; then
        start_gateway es 127.0.0.1:"${E2E_ES_GATEWAY_PORT:-9281}" "$E2E_ES_DIRECT" 127.0.0.1:9381
        export E2E_ES_TARGET="$scheme://127.0.0.1:${E2E_ES_GATEWAY_PORT:-9281}"
        export E2E_ES_AUDIT_FILE="$logs/es-audit.jsonl" E2E_ES_GATEWAY_LOG="$logs/es.log" \
            E2E_ES_ADMIN_URL="http://127.0.0.1:9381"
    fi
    export E2E_USER=e2e E2E_PASSWORD=e2e-secret E2E_GATEWAY_CONTROL=1
    if [[ "$E2E_TLS" == 1 ]]; then
        export E2E_CA_CERT="$E2E_CERTS/ca.pem"
    fi
    timings+=("gateway $(since "$t0") s")
fi

echo "E2E_TARGET=$E2E_TARGET E2E_DIRECT=$E2E_DIRECT" \
     "E2E_ES_TARGET=${E2E_ES_TARGET:-unset} E2E_ES_DIRECT=${E2E_ES_DIRECT:-unset}"
t0="$(now)"
status=0
(cd "$E2E" && .venv/bin/pytest "$@") || status=$?
timings+=("pytest $(since "$t0") s")

t0="$(now)"
stop_gateways
stop_started
started=()
timings+=("stop $(since "$t0") s")

summary="$(printf '%s, ' "${timings[@]}")"
echo "timings: ${summary%, }"
exit "$status"
