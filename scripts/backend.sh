#!/usr/bin/env bash
# A real single-node OpenSearch 2.19 or Elasticsearch 7.17 on 127.0.0.1, for tests.
#
#   scripts/backend.sh start|stop|status [--port P]
#                                        [--flavor opensearch|elasticsearch|opensearch-secured]
#                                        [--setting KEY=VALUE]...   (start only; node settings)
#
# opensearch-secured is OpenSearch 2.19.4 with the Security plugin 2.19.4.0: TLS on HTTP and
# transport with certificates made here by openssl (CA, node, admin; kept in <state>/certs/ so
# clients can trust the CA across restarts), internal users admin/$RINGFENCE_SECURED_ADMIN_PASSWORD
# and ringfence/$RINGFENCE_SECURED_SERVICE_PASSWORD (a service user for gateways; both
# all_access), and `start` prints the https URL. Everything comes from Maven Central on first use.
#
# The node runs embedded in a small Java launcher (backend/<flavor>/), built with Maven from
# Maven Central on first use; later starts reuse ~/.m2 and backend/<flavor>/target and need no
# network. The embedded path skips the distribution's bootstrap checks, so it also runs as root.
#
# State (pid file, log, node home with a fresh path.data per start) lives in
#   ${RINGFENCE_STATE:-/tmp/ringfence-backend}/<flavor>-<port>/
# Other knobs: RINGFENCE_BACKEND_HEAP (default 512m), RINGFENCE_BACKEND_TIMEOUT (seconds to wait
# for /_cluster/health, default 120), RINGFENCE_JAVA (default: java on PATH; must be Java 17-21,
# OpenSearch 2.x and ES 7.17 do not run on Java 24+).
set -euo pipefail

usage() {
    echo "usage: $0 start|stop|status [--port P] [--flavor opensearch|elasticsearch|opensearch-secured] [--transport-port P] [--setting K=V]..." >&2
    exit 2
}

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[[ $# -ge 1 ]] || usage
command="$1"
shift

port=9200
flavor=opensearch
# 0 lets the kernel pick a free transport port, so any number of nodes can run side by side;
# a single-node cluster never needs to know it in advance.
transport_port=0
# Extra node settings for `start` (--setting path.repo=/dir), after the script's own.
extra_settings=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --port) port="${2:?}"; shift 2 ;;
        --port=*) port="${1#*=}"; shift ;;
        --flavor) flavor="${2:?}"; shift 2 ;;
        --flavor=*) flavor="${1#*=}"; shift ;;
        --transport-port) transport_port="${2:?}"; shift 2 ;;
        --transport-port=*) transport_port="${1#*=}"; shift ;;
        --setting) extra_settings+=("${2:?}"); shift 2 ;;
        --setting=*) extra_settings+=("${1#*=}"); shift ;;
        *) usage ;;
    esac
done
case "$flavor" in opensearch|elasticsearch|opensearch-secured) ;; *) usage ;; esac
[[ "$port" =~ ^[0-9]+$ ]] || usage

module="$ROOT/backend/$flavor"
state="${RINGFENCE_STATE:-/tmp/ringfence-backend}/$flavor-$port"
pid_file="$state/node.pid"
log_file="$state/node.log"
url="http://127.0.0.1:$port"
# Extra curl arguments for the health checks (the secured node wants TLS and a password).
curl_args=()
if [[ "$flavor" == opensearch-secured ]]; then
    certs="$state/certs"
    url="https://127.0.0.1:$port"
    admin_password="${RINGFENCE_SECURED_ADMIN_PASSWORD:-admin-secret}"
    service_password="${RINGFENCE_SECURED_SERVICE_PASSWORD:-ringfence-secret}"
    curl_args=(--cacert "$certs/root-ca.pem" -u "admin:$admin_password")
fi
heap="${RINGFENCE_BACKEND_HEAP:-512m}"
timeout_s="${RINGFENCE_BACKEND_TIMEOUT:-120}"
java="${RINGFENCE_JAVA:-java}"

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

running_pid() {
    # Prints the pid if the pid file names a live process, else nothing.
    [[ -f "$pid_file" ]] || return 0
    local pid
    pid="$(cat "$pid_file")"
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
        echo "$pid"
    fi
}

healthy() {
    curl -sf -o /dev/null --max-time 2 "${curl_args[@]}" "$url/_cluster/health"
}

# Builds the launcher when its classpath file is missing, older than the sources, or names a
# jar that is no longer in the local Maven repository.
build() {
    local cp="$module/target/classpath.txt"
    local stale=0
    if [[ ! -f "$cp" || ! -d "$module/target/classes" ]]; then
        stale=1
    elif [[ "$flavor" == opensearch-secured && ! -f "$module/target/opensearch-security/plugin-descriptor.properties" ]]; then
        stale=1
    elif [[ -n "$(find "$module/pom.xml" "$module/src" -newer "$cp" -print -quit)" ]]; then
        stale=1
    else
        local jar
        while IFS= read -r jar; do
            [[ -f "$jar" ]] || { stale=1; break; }
        done < <(tr ':' '\n' < "$cp")
    fi
    if [[ $stale -eq 1 ]]; then
        local t0
        t0="$(now)"
        echo "building $flavor launcher (mvn package; first run downloads from Maven Central)..."
        # Output goes to a file (Maven 3.8 prints stray colour codes even with -q -B) and is
        # shown only when the build fails.
        if ! mvn -q -B -f "$module/pom.xml" package >"$state/build.log" 2>&1; then
            cat "$state/build.log" >&2
            echo "building the $flavor launcher failed; see above ($state/build.log)" >&2
            return 1
        fi
        # build-classpath leaves an unchanged file untouched; its time stamp marks the build.
        touch "$cp"
        echo "built $flavor launcher in $(since "$t0") s"
    fi
}

# make_certs: a CA, the node's certificate (SAN IP:127.0.0.1, DNS:localhost; also its
# transport identity) and an admin certificate (the plugin's admin_dn), once per state dir.
# RSA keys in PKCS#8 PEM: the plugin reads no other key format.
make_certs() {
    [[ -f "$certs/admin.pem" ]] && return 0
    local tmp="$certs.tmp"
    rm -rf "$tmp"
    mkdir -p "$tmp"
    (
        cd "$tmp"
        openssl genpkey -quiet -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out root-ca-key.pem
        openssl req -x509 -new -key root-ca-key.pem -sha256 -days 3650 -out root-ca.pem \
            -subj "/O=Ringfence/OU=test/CN=Ringfence secured backend CA" \
            -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
        local name subject ext
        for name in node admin; do
            subject="/O=Ringfence/OU=test/CN=$name"
            ext="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth,clientAuth"
            if [[ $name == node ]]; then
                ext="$ext
subjectAltName=IP:127.0.0.1,DNS:localhost"
            fi
            openssl genpkey -quiet -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$name-key.pem"
            openssl req -new -key "$name-key.pem" -subj "$subject" -out "$name.csr"
            openssl x509 -req -in "$name.csr" -CA root-ca.pem -CAkey root-ca-key.pem \
                -CAcreateserial -sha256 -days 3650 -extfile <(echo "$ext") -out "$name.pem" 2>/dev/null
            rm "$name.csr"
        done
    )
    rm -rf "$certs"
    mv "$tmp" "$certs"
}

# security_classpath CLASSPATH: the jars of the unpacked plugin zip, less those whose artifact
# (file name without its version) CLASSPATH already has (netty, transport-netty4-client, ...):
# two versions of one library on a flat classpath would be a silent jar hell.
security_classpath() {
    local have jar base out=()
    have="$(tr ':' '\n' <<<"$1" | sed -E 's#.*/##; s#-[0-9][^/]*\.jar$##' | sort -u)"
    for jar in "$module"/target/opensearch-security/*.jar; do
        base="$(basename "$jar" | sed -E 's#-[0-9][^/]*\.jar$##')"
        grep -qxF "$base" <<<"$have" || out+=("$jar")
    done
    local IFS=:
    echo "${out[*]}"
}

# bcrypt_hash PASSWORD CLASSPATH: the plugin's own hasher (tools/hash.sh runs the same class).
bcrypt_hash() {
    "$java" -cp "$2" org.opensearch.security.tools.Hasher -p "$1" | tail -n 1
}

# prepare_secured HOME CLASSPATH: certificates, opensearch.yml with the security settings and
# the security config (config/opensearch-security/, loaded into the security index on first
# start because of allow_default_init_securityindex).
prepare_secured() {
    local home="$1" classpath="$2"
    make_certs
    cp "$certs"/root-ca.pem "$certs"/node.pem "$certs"/node-key.pem "$home/config/"
    cat >"$home/config/opensearch.yml" <<YML
plugins.security.ssl.transport.pemcert_filepath: node.pem
plugins.security.ssl.transport.pemkey_filepath: node-key.pem
plugins.security.ssl.transport.pemtrustedcas_filepath: root-ca.pem
plugins.security.ssl.transport.enforce_hostname_verification: false
plugins.security.ssl.http.enabled: true
plugins.security.ssl.http.pemcert_filepath: node.pem
plugins.security.ssl.http.pemkey_filepath: node-key.pem
plugins.security.ssl.http.pemtrustedcas_filepath: root-ca.pem
plugins.security.allow_default_init_securityindex: true
plugins.security.authcz.admin_dn: ["CN=admin,OU=test,O=Ringfence"]
plugins.security.nodes_dn: ["CN=node,OU=test,O=Ringfence"]
plugins.security.audit.type: noop
plugins.security.restapi.roles_enabled: ["all_access"]
YML
    local sec="$home/config/opensearch-security"
    mkdir -p "$sec"
    cp "$module"/target/opensearch-security/config/*.yml "$sec/"
    local admin_hash service_hash
    admin_hash="$(bcrypt_hash "$admin_password" "$classpath")"
    service_hash="$(bcrypt_hash "$service_password" "$classpath")"
    cat >"$sec/internal_users.yml" <<YML
---
_meta:
  type: "internalusers"
  config_version: 2
admin:
  hash: "$admin_hash"
  backend_roles: ["admin"]
  description: "The suite's administrator"
ringfence:
  hash: "$service_hash"
  backend_roles: ["admin"]
  description: "The service user a gateway sends upstream (gateway.upstream_auth)"
YML
}

start() {
    local pid
    pid="$(running_pid)"
    if [[ -n "$pid" ]]; then
        if healthy; then
            echo "$flavor already running on $url (pid $pid)"
            echo "$url"
            return 0
        fi
        echo "$flavor pid $pid is alive but $url does not answer; stop it first" >&2
        return 1
    fi
    if healthy; then
        echo "something else already answers on $url; pick another --port" >&2
        return 1
    fi

    local t0
    t0="$(now)"
    build

    # A fresh home and path.data per start: a reused data dir keeps old indices and a crashed
    # node's lock ("failed to obtain node locks").
    local home="$state/home"
    rm -rf "$home"
    mkdir -p "$home/config" "$home/data" "$home/logs"

    local classpath
    classpath="$module/target/classes:$(cat "$module/target/classpath.txt")"
    if [[ "$flavor" == opensearch-secured ]]; then
        classpath="$classpath:$(security_classpath "$classpath")"
        prepare_secured "$home" "$classpath"
    fi
    # setsid: the node must not share the caller's process group, so a Ctrl-C in a test run
    # does not kill it behind `stop`'s back.
    # -Djava.locale.providers=SPI,COMPAT as in both distributions' jvm.options (their date
    # formats rely on it). Log4j's own shutdown hook is off so the node can still log while
    # our hook closes it.
    setsid "$java" \
        "-Xms$heap" "-Xmx$heap" \
        -XX:+ExitOnOutOfMemoryError \
        -Djava.locale.providers=SPI,COMPAT \
        -Dlog4j.shutdownHookEnabled=false \
        -Dlog4j2.disable.jmx=true \
        -Djava.io.tmpdir="$home" \
        -cp "$classpath" \
        ringfence.backend.EmbeddedNode \
        "node.name=ringfence-$flavor-$port" \
        "path.home=$home" \
        "path.data=$home/data" \
        "path.logs=$home/logs" \
        "http.port=$port" \
        "transport.port=$transport_port" \
        "${extra_settings[@]}" \
        >"$log_file" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$pid_file"

    local deadline=$((SECONDS + timeout_s))
    until healthy; do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "$flavor node exited during startup; last log lines ($log_file):" >&2
            tail -n 30 "$log_file" >&2
            rm -f "$pid_file"
            return 1
        fi
        if ((SECONDS >= deadline)); then
            echo "$flavor node did not answer $url/_cluster/health within ${timeout_s}s; see $log_file" >&2
            stop_node
            return 1
        fi
        sleep 0.5
    done
    echo "$flavor started on $url (pid $pid) in $(since "$t0") s; log: $log_file"
    echo "$url"
}

stop_node() {
    local pid
    pid="$(running_pid)"
    if [[ -z "$pid" ]]; then
        rm -f "$pid_file"
        echo "$flavor on port $port is not running"
        return 0
    fi
    # SIGTERM runs the launcher's shutdown hook, which closes the node cleanly.
    kill -TERM "$pid"
    local deadline=$((SECONDS + 30))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
        sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "$flavor pid $pid ignored SIGTERM for 30 s; killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pid_file"
    echo "$flavor on port $port stopped"
}

status() {
    local pid
    pid="$(running_pid)"
    if [[ -z "$pid" ]]; then
        echo "$flavor on port $port: stopped"
        return 3
    fi
    local rss_kb health
    rss_kb="$(ps -o rss= -p "$pid" | tr -d ' ')"
    health="$(curl -sf --max-time 2 "${curl_args[@]}" "$url/_cluster/health" | sed -n 's/.*"status":"\([a-z]*\)".*/\1/p')"
    echo "$flavor on port $port: running, pid $pid, rss $((rss_kb / 1024)) MiB, health ${health:-no answer}, $url"
    echo "log: $log_file"
}

mkdir -p "$state"
case "$command" in
    start) start ;;
    stop) stop_node ;;
    status) status ;;
    *) usage ;;
esac
