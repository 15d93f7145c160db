#!/usr/bin/env bash
# Installs Ringfence on this machine as a systemd service (run as root):
#   /usr/local/bin/ringfence               the release binary (built here with cargo, or the
#                                          one RINGFENCE_BIN names)
#   /etc/ringfence/gateway.yml             examples/gateway.yml, only if no gateway.yml is
#                                          there yet (an existing config is never replaced)
#   /etc/systemd/system/ringfence.service  tuning/ringfence.service
#   a `ringfence` system user and group    the service runs as that user
# then `ringfence check` on the installed config. It does not start the service:
#   systemctl enable --now ringfence
#
# DESTDIR=/some/dir installs under that directory instead (for packaging, and for the test in
# tests/cli.rs `install_script_puts_binary_config_and_unit_in_place`); it then creates no user
# and does not call systemctl.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DESTDIR="${DESTDIR:-}"

if [[ -z "$DESTDIR" && $(id -u) -ne 0 ]]; then
    echo "scripts/install.sh: run as root (or set DESTDIR to install under a directory)" >&2
    exit 1
fi

binary="${RINGFENCE_BIN:-}"
if [[ -z "$binary" ]]; then
    (cd "$ROOT" && cargo build --release --locked --bin ringfence)
    binary="$ROOT/target/release/ringfence"
fi

install -D -m 0755 "$binary" "$DESTDIR/usr/local/bin/ringfence"
install -D -m 0644 "$ROOT/tuning/ringfence.service" "$DESTDIR/etc/systemd/system/ringfence.service"
config="$DESTDIR/etc/ringfence/gateway.yml"
if [[ -e "$config" ]]; then
    echo "keeping the existing $config"
else
    # Readable by the service's group only: it holds password hashes.
    install -D -m 0640 "$ROOT/examples/gateway.yml" "$config"
fi

if [[ -z "$DESTDIR" ]]; then
    if ! getent passwd ringfence >/dev/null; then
        useradd --system --user-group --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin ringfence
    fi
    chgrp ringfence "$config"
    # Not on a machine (or in a container) that systemd does not run.
    if [[ -d /run/systemd/system ]]; then
        systemctl daemon-reload
    fi
fi

"$DESTDIR/usr/local/bin/ringfence" check --config "$config"
echo "installed; start it with: systemctl enable --now ringfence"
