#!/usr/bin/env bash
# Certificates for the end-to-end suite's TLS tests, made with the openssl CLI (and keytool for
# the one JKS keystore). Idempotent: a directory that is complete is left alone.
#
#   tests/e2e/certs.sh [DIR]     # default ${E2E_CERTS:-${RINGFENCE_STATE:-/tmp/ringfence-backend}/e2e-certs}
#
# Prints DIR on its last line. Files (keys are PKCS#8 PEM, unencrypted):
#   ca.pem, ca-key.pem                 the suite's CA (ECDSA P-256)
#   server.pem, server-key.pem         127.0.0.1 / localhost, signed by the CA (leaf only)
#   server-chain.pem                   server.pem followed by ca.pem
#   server.p12                         the same key and chain as PKCS#12, password "changeit",
#                                      alias "server"
#   server.jks                         the same as a JKS keystore (the gateway must refuse it)
#   pki-alice.pem, pki-alice-key.pem   client certificate CN=pki-alice,OU=ops,O=Example
#   pki-bob.pem, pki-bob-key.pem       client certificate CN=pki-bob,OU=ops,O=Example
#   wrong-ca.pem, wrong-ca-key.pem     a second CA nobody trusts
#   wrong-alice.pem, wrong-alice-key.pem
#                                      CN=pki-alice,OU=ops,O=Example again, but signed by the
#                                      wrong CA (same name, untrusted issuer)
set -euo pipefail

dir="${1:-${E2E_CERTS:-${RINGFENCE_STATE:-/tmp/ringfence-backend}/e2e-certs}}"
# Written last: its presence means every file above is there.
done_marker="$dir/.complete"
P12_PASSWORD=changeit

if [[ -f "$done_marker" ]]; then
    echo "$dir"
    exit 0
fi
command -v openssl >/dev/null || { echo "certs.sh: openssl is missing" >&2; exit 1; }
command -v keytool >/dev/null || { echo "certs.sh: keytool (a JDK) is missing" >&2; exit 1; }

tmp="$dir.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

ec_key() {
    openssl genpkey -quiet -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"
}

# ca NAME SUBJECT
ca() {
    ec_key "$1-key.pem"
    openssl req -x509 -new -key "$1-key.pem" -sha256 -days 3650 -subj "$2" -out "$1.pem" \
        -addext basicConstraints=critical,CA:TRUE \
        -addext keyUsage=critical,keyCertSign,cRLSign
}

# leaf NAME SUBJECT ISSUER EXTENDED_KEY_USAGE [SAN]: a random serial each time, so a reissued
# certificate is told apart from the old one by its serial.
leaf() {
    local name="$1" subject="$2" issuer="$3" eku="$4" san="${5:-}"
    local ext="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=$eku"
    [[ -n "$san" ]] && ext="$ext
subjectAltName=$san"
    ec_key "$name-key.pem"
    openssl req -new -key "$name-key.pem" -subj "$subject" -out "$name.csr"
    openssl x509 -req -in "$name.csr" -CA "$issuer.pem" -CAkey "$issuer-key.pem" \
        -set_serial "0x$(openssl rand -hex 16)" -sha256 -days 3650 \
        -extfile <(echo "$ext") -out "$name.pem" 2>/dev/null
    rm "$name.csr"
}

ca ca "/O=Example/OU=Ringfence e2e/CN=Ringfence e2e CA"
ca wrong-ca "/O=Elsewhere/CN=Wrong CA"
leaf server "/O=Example/OU=Ringfence e2e/CN=localhost" ca serverAuth "IP:127.0.0.1,DNS:localhost"
cat server.pem ca.pem >server-chain.pem
# -subj is written most general first; RFC 4514 (what the gateway matches) reads the other way:
# CN=pki-alice,OU=ops,O=Example.
leaf pki-alice "/O=Example/OU=ops/CN=pki-alice" ca clientAuth
leaf pki-bob "/O=Example/OU=ops/CN=pki-bob" ca clientAuth
leaf wrong-alice "/O=Example/OU=ops/CN=pki-alice" wrong-ca clientAuth

openssl pkcs12 -export -name server -inkey server-key.pem -in server.pem -certfile ca.pem \
    -passout "pass:$P12_PASSWORD" -out server.p12
keytool -importkeystore -noprompt \
    -srckeystore server.p12 -srcstoretype PKCS12 -srcstorepass "$P12_PASSWORD" \
    -destkeystore server.jks -deststoretype JKS -deststorepass "$P12_PASSWORD" \
    -destkeypass "$P12_PASSWORD" >/dev/null 2>&1

chmod 600 ./*-key.pem
touch .complete
cd /
rm -rf "$dir"
mkdir -p "$(dirname "$dir")"
mv "$tmp" "$dir"
trap - EXIT
echo "$dir"
