#!/usr/bin/env bash
# One idempotent bootstrap for `npm run dev`, `npm test` and CI: installs what is missing, pinned,
# and writes the resolved tool paths to .state/env. Quick (well under 3 s) when nothing is missing.
#
# Tools go to $EDGERUN_TOOLS (default ~/.cache/edgerun/tools) so that fresh clones reuse them.
# Only package registries are used: crates.io (cargo install), npm, Debian packages.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
t0=$(date +%s%N)
say() { printf '[bootstrap] %s\n' "$*" >&2; }
step() { local s; s=$(date +%s%N); "$@"; say "$1 done in $(( ($(date +%s%N) - s) / 1000000 )) ms"; }

# shellcheck source=../container/runtimes.env
. container/runtimes.env
TOOLS=${EDGERUN_TOOLS:-$HOME/.cache/edgerun/tools}
mkdir -p "$TOOLS/bin" .state
export PATH="$HOME/.cargo/bin:$PATH"

lock_version() { # version of a crate in Cargo.lock
  awk -v n="$1" '$0 == "name = \"" n "\"" { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock
}
WORKER_VERSION=$(lock_version worker)
BINDGEN_VERSION=$(lock_version wasm-bindgen)
[ -n "$WORKER_VERSION" ] && [ -n "$BINDGEN_VERSION" ] || { say "Cargo.lock lacks worker/wasm-bindgen"; exit 1; }

wasm_target() {
  local sysroot; sysroot=$(rustc --print sysroot)
  [ -d "$sysroot/lib/rustlib/wasm32-unknown-unknown/lib" ] && return 0
  say "adding the wasm32-unknown-unknown target"
  if rustup target add wasm32-unknown-unknown >&2; then return 0; fi
  say "rustup could not add the target; using Debian's rust-web packages"
  apt-get update -qq && apt-get install -y -qq rustc-web cargo-web rust-web-src rust-web-llvm lld-22 >&2
  mkdir -p /usr/lib/rustlib/wasm32-unknown-unknown/lib
  cat > .state/env.wasm <<EOT
export RUSTC_BOOTSTRAP="1"
export CARGO_UNSTABLE_BUILD_STD="std,panic_abort"
export PATH="/usr/bin:\$PATH"
EOT
}

cargo_tools() {
  if ! "$TOOLS/bin/worker-build" --version 2>/dev/null | grep -qx "$WORKER_VERSION"; then
    say "installing worker-build $WORKER_VERSION (a few minutes, once)"
    cargo install worker-build --version "$WORKER_VERSION" --locked --root "$TOOLS" --quiet
  fi
  if ! "$TOOLS/bin/wasm-bindgen" --version 2>/dev/null | grep -qx "wasm-bindgen $BINDGEN_VERSION"; then
    say "installing wasm-bindgen-cli $BINDGEN_VERSION (a few minutes, once)"
    cargo install wasm-bindgen-cli --version "$BINDGEN_VERSION" --root "$TOOLS" --quiet
  fi
}

npm_deps() {
  local want have
  want=$(sha256sum package-lock.json | cut -c1-64)
  have=$(cat node_modules/.edgerun-lock 2>/dev/null || true)
  if [ "$want" != "$have" ]; then
    say "installing npm packages (package-lock.json changed)"
    # `npm install --no-save` installs exactly the locked versions; `npm ci` would refuse this lock
    # because the registry reachable here lacks other platforms' optional binaries (deno, workerd).
    npm install --no-save --no-audit --no-fund --loglevel=error >&2
    echo "$want" > node_modules/.edgerun-lock
  fi
  local name var pinned
  for pair in node:NODE_VERSION deno:DENO_VERSION; do
    name=${pair%%:*} var=${pair##*:}
    pinned=$(sed -n "s/^ *\"$name\": \"\(.*\)\",\{0,1\}$/\1/p" package.json)
    if [ "$pinned" != "${!var}" ]; then
      say "package.json pins $name@$pinned but container/runtimes.env says ${!var}"; exit 1
    fi
  done
}

reachable() {
  local p; p=$(readlink -f "$1")
  while [ "$p" != "/" ]; do
    p=$(dirname "$p")
    [ "$(( $(stat -c '%a' "$p" | sed 's/^/0/') & 1 ))" = 1 ] || return 1
  done
}

# Copies a binary where sandbox users can run it when it sits under a private directory.
expose() {
  local src=$1 name=$2 dest
  if reachable "$src"; then readlink -f "$src"; return; fi
  dest=${EDGERUN_RUNTIME_DIR:-/opt/edgerun/runtimes}/$name
  if ! cmp -s "$src" "$dest/$(basename "$src")" 2>/dev/null; then
    mkdir -p "$dest" && cp "$src" "$dest/" && chmod 755 "$dest" "$dest/$(basename "$src")"
  fi
  echo "$dest/$(basename "$src")"
}

runtimes() {
  NODE_BIN=$(expose "$root/node_modules/node/bin/node" "node-$NODE_VERSION")
  "$NODE_BIN" --version | grep -q "^v$NODE_VERSION$" || { say "node $NODE_VERSION missing"; exit 1; }
  DENO_BIN=$(expose "$root/node_modules/deno/deno" "deno-$DENO_VERSION")
  NPM_CLI=$(readlink -f "$(dirname "$(readlink -f "$(command -v npm)")")/npm-cli.js")
  [ -f "$NPM_CLI" ] || NPM_CLI=$(readlink -f /usr/lib/node_modules/npm/bin/npm-cli.js)
  GO_BIN=$(command -v go || true)
  [ -n "$GO_BIN" ] || { [ -x /usr/local/go/bin/go ] && GO_BIN=/usr/local/go/bin/go; } || true
  if [ -z "$GO_BIN" ]; then
    say "installing Go from Debian packages"
    apt-get update -qq && apt-get install -y -qq golang-go >&2
    GO_BIN=$(command -v go)
  fi
  GO_BIN=$(readlink -f "$GO_BIN")
  GOTOOLCHAIN=local "$GO_BIN" version | grep -q "go$GO_VERSION" || say "warning: $("$GO_BIN" version) is not Go $GO_VERSION"
  PY_BIN=""
  for c in "/usr/bin/python$PYTHON_VERSION" /usr/bin/python3 /usr/local/bin/python3 "$(command -v python3 || true)"; do
    [ -n "$c" ] && [ -x "$c" ] || continue
    c=$("$c" -c 'import sys; print(sys.executable)' 2>/dev/null) || continue
    if reachable "$c"; then PY_BIN=$(readlink -f "$c"); break; fi
  done
  if [ -z "$PY_BIN" ]; then
    say "installing python3 from Debian packages"
    apt-get update -qq && apt-get install -y -qq python3 python3-pip >&2
    PY_BIN=$(readlink -f /usr/bin/python3)
  fi
  # nftables closes the executor's port to sandbox users (needs root; without it only the secret guards it).
  if [ "$(id -u)" = 0 ] && ! command -v nft >/dev/null; then
    say "installing nftables from Debian packages"
    { apt-get install -y -qq nftables || { apt-get update -qq && apt-get install -y -qq nftables; }; } >&2
  fi
  "$PY_BIN" -m pip --version >/dev/null 2>&1 || { say "installing pip for $PY_BIN"; apt-get update -qq && apt-get install -y -qq python3-pip >&2; }
  # The context driver's serializer, in a directory of its own that sandbox users can read
  # (never on a user's sys.path): world-readable under /usr/local as root, else with the tools.
  if [ "$(id -u)" = 0 ]; then PY_CTX_LIB="/usr/local/lib/edgerun/python-$CLOUDPICKLE_VERSION"; else PY_CTX_LIB="$TOOLS/python-$CLOUDPICKLE_VERSION"; fi
  if [ ! -f "$PY_CTX_LIB/cloudpickle/__init__.py" ]; then
    say "installing cloudpickle $CLOUDPICKLE_VERSION for context checkpoints"
    "$PY_BIN" -m pip install --quiet --no-deps --disable-pip-version-check --target "$PY_CTX_LIB.tmp" "cloudpickle==$CLOUDPICKLE_VERSION" >&2
    chmod -R a+rX "$PY_CTX_LIB.tmp" && mv "$PY_CTX_LIB.tmp" "$PY_CTX_LIB"
  fi
  ESBUILD=$(ls "$root"/node_modules/@esbuild/*/bin/esbuild | head -n 1)
  cat > .state/env.tmp <<EOT
# Written by scripts/bootstrap.sh; do not edit.
export EDGERUN_TOOLS_BIN="$TOOLS/bin"
export WASM_BINDGEN_BIN="$TOOLS/bin/wasm-bindgen"
export WASM_OPT_BIN="$root/node_modules/.bin/wasm-opt"
export ESBUILD_BIN="$ESBUILD"
export EDGERUN_NODE="$NODE_BIN"
export EDGERUN_NPM_CLI="$NPM_CLI"
export EDGERUN_DENO="$DENO_BIN"
export EDGERUN_GO="$GO_BIN"
export EDGERUN_PYTHON="$PY_BIN"
export EDGERUN_CLIENTS_PYTHON="$TOOLS/python-clients/bin/python"
export EDGERUN_MCP_PYTHON="$TOOLS/python-mcp/bin/python"
export EDGERUN_PY_CONTEXT_LIB="$PY_CTX_LIB"
export EDGERUN_BASH="$(readlink -f "$(command -v bash)")"
export WRANGLER_SEND_METRICS="false"
export PATH="$(dirname "$NODE_BIN"):$root/node_modules/.bin:$TOOLS/bin:\$PATH"
EOT
  [ -f .state/env.wasm ] && cat .state/env.wasm >> .state/env.tmp
  mv .state/env.tmp .state/env
}

# The client libraries' test tools: clients/typescript's npm packages (openapi-typescript and tsc,
# exactly its lock) and a venv in $TOOLS with the Python client's httpx and pytest, pinned in
# clients/python/requirements-test.txt (tests/clients.test.mjs installs the client itself there).
client_deps() {
  local want have venv="$TOOLS/python-clients"
  want=$(sha256sum clients/typescript/package-lock.json | cut -c1-64)
  have=$(cat clients/typescript/node_modules/.edgerun-lock 2>/dev/null || true)
  if [ "$want" != "$have" ]; then
    say "installing clients/typescript's npm packages (its package-lock.json changed)"
    (cd clients/typescript && npm ci --no-audit --no-fund --loglevel=error >&2)
    echo "$want" > clients/typescript/node_modules/.edgerun-lock
  fi
  want=$({ cat clients/python/requirements-test.txt; echo "$PY_BIN"; } | sha256sum | cut -c1-64)
  have=$(cat "$venv/.edgerun-lock" 2>/dev/null || true)
  if [ "$want" != "$have" ]; then
    say "installing the Python client's test packages into $venv"
    rm -rf "$venv"
    "$PY_BIN" -m venv "$venv" >&2 || { apt-get update -qq && apt-get install -y -qq python3-venv >&2 && "$PY_BIN" -m venv "$venv" >&2; }
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -r clients/python/requirements-test.txt >&2
    echo "$want" > "$venv/.edgerun-lock"
  fi
}

# What the tests drive the stack with besides the clients: headless Chromium (Debian's package,
# for tests/playground.test.mjs, root only) and the official MCP Python SDK in a venv of its own
# (tests/mcp.test.mjs), pinned in tests/mcp/requirements.txt.
test_tools() {
  if [ "$(id -u)" = 0 ] && ! command -v chromium >/dev/null; then
    say "installing chromium from Debian packages (the browser test)"
    { apt-get install -y -qq chromium || { apt-get update -qq && apt-get install -y -qq chromium; }; } >&2
  fi
  local want have venv="$TOOLS/python-mcp"
  want=$({ cat tests/mcp/requirements.txt; echo "$PY_BIN"; } | sha256sum | cut -c1-64)
  have=$(cat "$venv/.edgerun-lock" 2>/dev/null || true)
  if [ "$want" != "$have" ]; then
    say "installing the MCP Python SDK into $venv"
    rm -rf "$venv"
    "$PY_BIN" -m venv "$venv" >&2 || { apt-get update -qq && apt-get install -y -qq python3-venv >&2 && "$PY_BIN" -m venv "$venv" >&2; }
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -r tests/mcp/requirements.txt >&2
    echo "$want" > "$venv/.edgerun-lock"
  fi
}

# Local container mode (`npm run dev -- --containers`, the container phase of `npm test`): Podman
# driven by wrangler through scripts/podman/docker (its settings in scripts/podman/containers.conf,
# named by CONTAINERS_CONF; /etc is never written), runc (crun refuses this kind of machine's
# hybrid cgroups), and mmdebstrap for the local base image (scripts/podman/base-image.sh; Docker
# Hub is out of reach). Debian packages, as root only; without root it says what is missing.
container_tools() {
  local missing=() c
  for c in podman:podman runc:runc mmdebstrap:mmdebstrap; do
    command -v "${c%%:*}" >/dev/null || missing+=("${c##*:}")
  done
  [ ${#missing[@]} = 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    say "container mode needs ${missing[*]} (Debian packages; run the bootstrap as root to install them)"
    return 0
  fi
  say "installing ${missing[*]} from Debian packages (the local container mode)"
  { apt-get install -y -qq "${missing[@]}" || { apt-get update -qq && apt-get install -y -qq "${missing[@]}"; }; } >&2
}

if [ "${EDGERUN_BOOTSTRAP_VERBOSE:-}" = 1 ]; then
  step wasm_target; step cargo_tools; step npm_deps; step runtimes; step client_deps; step test_tools; step container_tools
else
  wasm_target; cargo_tools; npm_deps; runtimes; client_deps; test_tools; container_tools
fi
say "ready in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
