#!/usr/bin/env bash
# Runs Ringfence on examples/gateway.yml in front of a local OpenSearch node:
#   OpenSearch 2.19 on 127.0.0.1:9200 (scripts/backend.sh), Ringfence on 127.0.0.1:9201.
# Try it from another shell:
#   curl -u admin:admin-secret http://127.0.0.1:9201/_cluster/health
#   curl -u reader:reader http://127.0.0.1:9201/_cat/indices     (reads only)
#   curl -i http://127.0.0.1:9201/                                 (401 without credentials)
# Ctrl-C stops the gateway, and the node if this script started it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# Built first: the node would otherwise sit idle through the build (minutes, the first time).
cargo build --release --locked --bin ringfence

started_backend=0
if ! scripts/backend.sh status --port 9200 >/dev/null 2>&1; then
    scripts/backend.sh start --port 9200
    started_backend=1
fi
cleanup() {
    if [[ "$started_backend" == 1 ]]; then
        scripts/backend.sh stop --port 9200 || true
    fi
}
trap cleanup EXIT

echo "Ringfence on http://127.0.0.1:9201 (users: admin/admin-secret, logstash/logstash, reader/reader)"
# Not exec: the trap must run after the gateway exits.
target/release/ringfence run --config examples/gateway.yml
