#!/usr/bin/env bash
# Makes the image's whole root filesystem in DIR from a built gateway binary: the binary, the
# shared libraries it loads (as ldd resolves them: glibc's, nothing else), the system's CA
# bundle (for https upstreams without a CA file of their own), a `ringfence` user (uid 10001)
# and the examples as /etc/ringfence. No shell, no package manager: the image is `FROM
# scratch` plus this directory (docker/Dockerfile's last stage, and docker/build-local.sh).
#
#   docker/rootfs.sh target/release/ringfence /tmp/rootfs
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
binary="${1:?usage: docker/rootfs.sh BINARY DIR}"
dir="${2:?usage: docker/rootfs.sh BINARY DIR}"

rm -rf "$dir"
install -D -m 0755 "$binary" "$dir/usr/local/bin/ringfence"
# `ldd` lines: "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" and the loader's
# "/lib64/ld-linux-x86-64.so.2 (0x...)"; the vDSO has no file.
ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | while read -r lib; do
    install -D -m 0755 "$(readlink -f "$lib")" "$dir$lib"
done
if [[ -f /etc/ssl/certs/ca-certificates.crt ]]; then
    install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$dir/etc/ssl/certs/ca-certificates.crt"
fi
install -d -m 0755 "$dir/etc" "$dir/tmp"
chmod 1777 "$dir/tmp"
echo "ringfence:x:10001:10001:Ringfence:/nonexistent:/nonexistent" >"$dir/etc/passwd"
echo "ringfence:x:10001:" >"$dir/etc/group"
install -d -m 0755 "$dir/etc/ringfence"
install -m 0644 "$ROOT"/examples/*.yml "$dir/etc/ringfence/"
