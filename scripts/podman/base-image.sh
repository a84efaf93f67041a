#!/usr/bin/env bash
# Makes the local base image `localhost/debian:bookworm-slim` that container/Dockerfile starts
# from, where no registry serves it (Docker Hub is out of reach here): a minbase Debian bookworm
# root made by mmdebstrap from Debian's own mirrors, imported into Podman. Both of the Dockerfile's
# stages start from it, so it is made once per machine (about 20 s) and kept in Podman's storage.
# Nothing is done when the image exists. Needs root, podman and mmdebstrap (scripts/bootstrap.sh).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export CONTAINERS_CONF=${CONTAINERS_CONF:-$root/scripts/podman/containers.conf}
image=localhost/debian:bookworm-slim
podman image exists "$image" && exit 0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
t0=$(date +%s)
# The security suite is in the sources so that images built on it get Debian's security updates.
mmdebstrap --quiet --variant=minbase --format=tar \
  --setup-hook='mkdir -p "$1/etc/apt/sources.list.d"' \
  bookworm "$work/rootfs.tar" \
  "deb http://deb.debian.org/debian bookworm main" \
  "deb http://deb.debian.org/debian bookworm-updates main" \
  "deb http://deb.debian.org/debian-security bookworm-security main"
podman import --quiet --change 'CMD ["bash"]' "$work/rootfs.tar" "$image" >/dev/null
printf '[base-image] %s made in %ss\n' "$image" "$(( $(date +%s) - t0 ))" >&2
