#!/bin/sh
# Installs the runtimes of container/runtimes.env into the image (Debian bookworm, amd64).
set -eu
. /tmp/runtimes.env
apt-get update
apt-get install -y --no-install-recommends ca-certificates curl xz-utils tini bash nftables \
  "python${PYTHON_VERSION}" python3-pip python3-venv
curl -fsSL "https://nodejs.org/dist/v${NODE_VERSION}/node-v${NODE_VERSION}-linux-x64.tar.xz" \
  | tar -xJ -C /usr/local --strip-components=1
npm install -g "deno@${DENO_VERSION}"
ln -sf "$(npm root -g)/deno/deno" /usr/local/bin/deno
curl -fsSL "https://go.dev/dl/go${GO_VERSION}.linux-amd64.tar.gz" | tar -xz -C /usr/local
# The context driver's serializer, apart from every user's sys.path (EDGERUN_PY_CONTEXT_LIB).
"python${PYTHON_VERSION}" -m pip install --no-deps --target "/usr/local/lib/edgerun/python-${CLOUDPICKLE_VERSION}" "cloudpickle==${CLOUDPICKLE_VERSION}"
ln -s "/usr/local/lib/edgerun/python-${CLOUDPICKLE_VERSION}" /usr/local/lib/edgerun/python
apt-get purge -y curl xz-utils && apt-get autoremove -y && rm -rf /var/lib/apt/lists/*
