#!/usr/bin/env bash
# The local images the container mode needs besides the session's own (which wrangler builds from
# container/Dockerfile through scripts/podman/docker): the base image (base-image.sh) and the
# stand-in network sidecar (container/sidecar), built with Podman's layer cache (about a second
# when nothing changed). Prints the sidecar's image name, for MINIFLARE_CONTAINER_EGRESS_IMAGE.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export CONTAINERS_CONF=${CONTAINERS_CONF:-$root/scripts/podman/containers.conf}
bash "$root/scripts/podman/base-image.sh"
image=localhost/edgerun-sidecar:local
podman build --quiet --layers -t "$image" "$root/container/sidecar" >/dev/null
echo "$image"
