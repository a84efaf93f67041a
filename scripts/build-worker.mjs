// Builds the Worker (Rust → wasm) with worker-build, using only local tools: the bootstrap
// writes their paths to .state/env. `EDGERUN_FAST_BUILD=1` (local stack, tests) skips wasm-opt.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const env = { ...process.env };
for (const line of readFileSync(join(root, ".state/env"), "utf8").split("\n")) {
  const m = line.match(/^export ([A-Z_0-9]+)="(.*)"$/);
  if (m && env[m[1]] === undefined) env[m[1]] = m[2];
}
env.PATH = `${env.EDGERUN_TOOLS_BIN}:${env.PATH}`;
const args = ["--release"];
if (env.EDGERUN_FAST_BUILD === "1") args.push("--no-opt");
const t0 = Date.now();
const r = spawnSync(join(env.EDGERUN_TOOLS_BIN, "worker-build"), args, { cwd: root, env, stdio: ["ignore", "inherit", "inherit"] });
if (r.status !== 0) {
  console.error(`worker build failed (exit ${r.status ?? r.signal})`);
  process.exit(1);
}
console.error(`[build] worker built in ${((Date.now() - t0) / 1000).toFixed(1)}s${args.includes("--no-opt") ? " (no wasm-opt)" : ""}`);
