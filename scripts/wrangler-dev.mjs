// `wrangler dev` for the local stack, started through wrangler's own API (`unstable_startWorker`)
// rather than its command line, for three reasons:
// - the vars (EXECUTOR_SECRET, API_TOKEN, …) arrive as JSON on stdin, so no secret is ever in a
//   process's command line (/proc/*/cmdline is readable by every uid, sandbox uids included);
// - the V8 inspector is off (`dev.inspector: false`): the CLI always opens one for workerd, and
//   anyone on the machine who reaches its loopback port can evaluate code inside the Worker;
// - files it creates (the persist directory's SQLite and blobs) get umask 077.
// The Local Explorer and local observability are switched off by the environment the stack sets
// (X_LOCAL_EXPLORER=false, X_LOCAL_OBSERVABILITY=false); they are checked here as well.
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { root } from "./stack.mjs";

process.umask(0o077);
for (const v of ["X_LOCAL_EXPLORER", "X_LOCAL_OBSERVABILITY"]) {
  if (process.env[v] !== "false") {
    console.error(`[wrangler-dev] ${v} must be "false" (the stack sets it)`);
    process.exit(2);
  }
}

let raw = "";
for await (const chunk of process.stdin) raw += chunk;
const { port, persistTo, vars, secrets, logLevel, watch, containers } = JSON.parse(raw);

const { unstable_startWorker, unstable_readConfig } = await import("wrangler");
const bindings = {};
for (const [k, v] of Object.entries(vars ?? {})) bindings[k] = { type: "plain_text", value: String(v) };
for (const [k, v] of Object.entries(secrets ?? {})) bindings[k] = { type: "secret_text", value: String(v) };

// The container mode turns wrangler.toml's `[dev] enable_containers` on for this start only
// (wrangler takes the container engine's socket only when the configuration enables them).
const configPath = join(root, "wrangler.toml");
let config = configPath;
if (containers) {
  config = unstable_readConfig({ config: configPath });
  config.dev = { ...config.dev, enable_containers: true };
}
const worker = await unstable_startWorker({
  config,
  bindings,
  dev: {
    server: { hostname: "127.0.0.1", port },
    inspector: false,
    persist: persistTo,
    logLevel: logLevel ?? "error",
    watch: Boolean(watch),
    registry: undefined,
    // The container mode (scripts/stack.mjs `startContainerStack`): the container binding on,
    // driven through the stack's Podman service.
    // The build id names this start's image tag (`cloudflare-dev/sessionobject:<id>`), as the CLI's.
    ...(containers
      ? { enableContainers: true, dockerPath: containers.dockerPath, containerEngine: containers.engine, containerBuildId: containers.buildId ?? randomUUID().slice(0, 8) }
      : { enableContainers: false }),
  },
});
await worker.ready;
const url = await worker.url;
console.error(`[wrangler-dev] ready on ${url.href} (inspector off, explorer off)`);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  try {
    await worker.dispose();
  } finally {
    process.exit(0);
  }
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
