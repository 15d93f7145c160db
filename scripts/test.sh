#!/usr/bin/env bash
# The project's whole test suite (README's second command; .ci/run calls it):
#   1. formatting and lints;
#   2. unit and integration tests (stub upstream in-process), once on io_uring and the proxy
#      tests once more on the epoll fallback; fuzz corpus replay; benches compile;
#   3. the load harness's open-loop client counts answers; the route table matches its generator;
#   4. end to end: real OpenSearch 2.19 and Elasticsearch 7.17 nodes, Ringfence in front,
#      real clients (curl, opensearch-py, elasticsearch-py, opensearch-benchmark,
#      elasticdump, rsyslog) - see tests/e2e/run.sh;
#   5. OpenSearch's own YAML REST suite through the gateway, against failures known to happen
#      on the node itself - see tests/yaml-rest/run.sh;
#   6. README's first command, scripts/demo.sh, answers README's quick start
#      (tests/e2e/test_readme.py).
# Before any of it: the ports of steps 4 and 6 must be free. Each phase's time is printed.
# Arguments go to pytest in step 4.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

now() { date +%s; }
# Each phase's time is printed when the next begins, and all of them at the end.
timings=()
t_phase=""
phase_name=""
end_phase() {
    if [[ -n "$phase_name" ]]; then
        timings+=("$(printf '%5d s  %s' $(( $(now) - t_phase )) "$phase_name")")
        echo "-- $phase_name: $(( $(now) - t_phase )) s"
    fi
}
phase() {
    end_phase
    phase_name="$1"
    t_phase="$(now)"
    echo; echo "== $1"
}
t_start="$(now)"

phase "tools the unit tests drive (openssl and keytool make the TLS keystores they read; slapd serves the LDAP tests)"
missing=()
command -v openssl >/dev/null || missing+=(openssl)
command -v keytool >/dev/null || missing+=(openjdk-17-jdk-headless)
# tests/ldap.rs runs a throwaway slapd (tests/support/slapd.rs) and fails without one.
[[ -x /usr/sbin/slapd && -x /usr/sbin/slapadd ]] || missing+=(slapd ldap-utils)
if [[ ${#missing[@]} -gt 0 ]]; then
    sudo=()
    [[ $(id -u) -eq 0 ]] || sudo=(sudo)
    "${sudo[@]}" apt-get update -q >/dev/null
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
openssl version
keytool -help 2>&1 | head -1
/usr/sbin/slapd -VV 2>&1 | head -1

phase "ports of the end-to-end phases are free (or held by this project's own nodes)"
# Checked first: a clash found only when the end-to-end phase starts would come after some
# 20 minutes of compiling. A node that scripts/backend.sh started is reused; anything else
# listening on these ports (the demo's gateway on 9201, say) stops the run here.
clashes=()
for entry in opensearch:"${E2E_PORT:-9200}" elasticsearch:"${E2E_ES_PORT:-9201}" \
    opensearch:9202 opensearch-secured:"${E2E_SECURED_PORT:-9203}" \
    gateway:"${E2E_GATEWAY_PORT:-9280}" gateway:"${E2E_ES_GATEWAY_PORT:-9281}" \
    gateway-admin:9380 gateway-admin:9381 demo-admin:9290; do
    flavor="${entry%%:*}" port="${entry##*:}"
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        if [[ "$flavor" == gateway* || "$flavor" == demo* ]] ||
            ! scripts/backend.sh status --flavor "$flavor" --port "$port" >/dev/null 2>&1; then
            clashes+=("$port (wanted for $flavor)")
        fi
    fi
done
if [[ ${#clashes[@]} -gt 0 ]]; then
    echo "something else listens on 127.0.0.1 port ${clashes[*]}: stop it first" \
        "(scripts/demo.sh's gateway holds 9201)" >&2
    exit 1
fi

phase "format and lints"
cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings

phase "unit and integration tests (io_uring where available)"
cargo test --locked
phase "proxy integration tests on the epoll driver"
RINGFENCE_DRIVER=legacy cargo test --locked --test proxy
phase "benches compile"
# The dev profile: that they compile is the point here; `cargo bench` builds them optimised.
cargo build --locked --benches

phase "load harness counts answers, not requests (tuning/load/test_paced.py)"
python3 tuning/load/test_paced.py

phase "route table is up to date with its generator"
python3 tools/routes/gen_routes.py --check >/dev/null

phase "end to end with real nodes and real clients"
cargo build --release --locked --bin ringfence
E2E_BUILD= tests/e2e/run.sh "$@"

phase "OpenSearch's YAML REST suite through the gateway"
tests/yaml-rest/run.sh

phase "README's first command (scripts/demo.sh) answers README's quick start"
demo_log="$(mktemp)"
scripts/demo.sh >"$demo_log" 2>&1 &
demo=$!
for _ in $(seq 600); do
    (exec 3<>/dev/tcp/127.0.0.1/9201) 2>/dev/null && break
    kill -0 "$demo" 2>/dev/null || break
    sleep 0.5
done
status=0
(cd tests/e2e && E2E_README_DEMO=1 E2E_GATEWAY_CONTROL=1 .venv/bin/pytest -q \
    test_readme.py -k quick_start) || status=$?
# SIGTERM to the gateway: it drains and exits 0, and demo.sh then stops the node it started.
pkill -TERM -P "$demo" -x ringfence || true
wait "$demo" || status=$?
if [[ "$status" != 0 ]]; then
    cat "$demo_log" >&2
    exit "$status"
fi
end_phase

echo
printf '%s\n' "${timings[@]}"
echo "all tests passed in $(( $(now) - t_start )) s"
