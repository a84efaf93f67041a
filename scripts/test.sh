#!/usr/bin/env bash
# `npm test`: native tests of every crate, lints, the deploy dry run (which builds the Worker to
# wasm) and the end-to-end suite against a local stack it starts and stops itself.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. .state/env
phase() { printf '\n[test] == %s\n' "$1" >&2; T=$(date +%s); }
took() { printf '[test] %s took %ss\n' "$1" "$(( $(date +%s) - T ))" >&2; }
T_ALL=$(date +%s)

phase "cargo test (native: protocol, Worker core, executor with real interpreters)"
cargo test --workspace --quiet 2>&1 | grep -vE '^\s*$' >&2
took "cargo test"

phase "OpenAPI document (cargo test -p edgerun --features schema: docs/openapi.json is what the code generates)"
cargo test -p edgerun --features schema --quiet 2>&1 | grep -vE '^\s*$' >&2
# An independent validator of OpenAPI 3.1 (tests/openapi.test.mjs also runs it on the served document).
validate-api docs/openapi.json | tr -d '\n\t ' | grep -qx '{"valid":true}' || { validate-api docs/openapi.json >&2; exit 1; }
took "openapi"

phase "executor containment and network namespaces in the uid and tag modes (cgroup mode ran above)"
for mode in uid tag; do
  EDGERUN_KILL_MODE=$mode cargo test --quiet -p edgerun-executor --test containment --test links --test network 2>&1 | grep -vE '^\s*$' >&2
done
took "containment modes"

phase "cargo fmt --check"
cargo fmt --all -- --check
took "fmt"

phase "cargo clippy --all-targets (the workspace lints of Cargo.toml)"
cargo clippy --workspace --all-targets --quiet -- -D warnings
took "clippy"

phase "deploy configuration (wrangler deploy --dry-run, no image build)"
out=$(mktemp -d)
EDGERUN_FAST_BUILD=1 wrangler deploy --dry-run --containers-rollout=none --outdir "$out" > "$out/log" 2>&1 || { cat "$out/log" >&2; exit 1; }
grep -q "env.SESSIONS (SessionObject)" "$out/log" && grep -q "env.FILES" "$out/log" && grep -q "container/Dockerfile" "$out/log" \
  || { echo "dry run did not show the bindings and the container" >&2; cat "$out/log" >&2; exit 1; }
if grep -q "FAILPOINT" "$out/log"; then echo "a test failpoint is configured for deploy" >&2; exit 1; fi
rm -rf "$out"
took "deploy dry run"

phase "end-to-end (workerd + local R2 + executor + real interpreters)"
# tests/container*.test.mjs run in the container phase below.
mapfile -t e2e < <(ls tests/*.test.mjs | grep -v '^tests/container')
node --test --test-concurrency=1 "${e2e[@]}"
took "end-to-end"

phase "end-to-end attacks on the sandbox in the uid and tag modes (the suite above ran in the strongest)"
for mode in uid tag; do
  EDGERUN_KILL_MODE=$mode node --test --test-concurrency=1 tests/hostile.test.mjs tests/leftovers.test.mjs tests/containment.test.mjs tests/network.test.mjs tests/contexts.test.mjs tests/processes.test.mjs
done
took "end-to-end modes"
phase "container mode: the image of container/Dockerfile, then the subset through wrangler's container binding (Podman)"
if [ "$(id -u)" = 0 ]; then
  command -v podman >/dev/null || { echo "[test] podman is missing (scripts/bootstrap.sh installs it)" >&2; exit 1; }
  export CONTAINERS_CONF="$PWD/scripts/podman/containers.conf"
  bash scripts/podman/images.sh >/dev/null
  T_IMAGE=$(date +%s)
  # Built as wrangler builds it (scripts/podman/docker): its build in the stack comes from the cache.
  scripts/podman/docker build -q -t localhost/edgerun-session:local -f container/Dockerfile . >/dev/null
  printf '[test] session image built in %ss (Podman layer cache and cargo cache mounts kept between runs)\n' "$(( $(date +%s) - T_IMAGE ))" >&2
  node --test --test-concurrency=1 tests/container*.test.mjs
  took "container mode"
else
  echo "[test] NOT RUN: the container mode needs root (Podman's containers, the executor's sandbox users)" >&2
fi
printf '\n[test] all done in %ss\n' "$(( $(date +%s) - T_ALL ))" >&2
