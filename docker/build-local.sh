#!/usr/bin/env bash
# Builds the image with podman from this machine's release binary, without a registry:
# docker/rootfs.sh makes the root filesystem, docker/Containerfile.rootfs (docker/Dockerfile's
# last stage) turns it into an image. Prints the image's name.
#
#   docker/build-local.sh [BINARY] [TAG]     defaults: target/release/ringfence, ringfence:local
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
binary="${1:-$ROOT/target/release/ringfence}"
tag="${2:-ringfence:local}"
context="$(mktemp -d)"
trap 'rm -rf "$context"' EXIT
"$ROOT/docker/rootfs.sh" "$binary" "$context/rootfs"
podman build --quiet -f "$ROOT/docker/Containerfile.rootfs" -t "$tag" "$context" >/dev/null
echo "$tag"
