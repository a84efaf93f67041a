// `npm run dev`: the local stack on $PORT (default 8787), state kept in .state/dev across restarts.
// `npm run dev -- --containers`: the same with the container binding on (the production path: each
// session in its own Podman container of container/Dockerfile's image; root and Podman needed,
// which scripts/bootstrap.sh installs; the first start builds the image, a few minutes).
import { join } from "node:path";
import { buildExecutor, root, startContainerStack, startStack, stateParent, toolEnv } from "./stack.mjs";

const args = process.argv.slice(2);
const unknown = args.filter((a) => a !== "--containers");
if (unknown.length) {
  console.error(`[dev] unknown argument ${unknown.join(" ")} (the one known is --containers)`);
  process.exit(2);
}
const containers = args.includes("--containers");

const port = Number(process.env.PORT ?? 8787);
const t0 = Date.now();
const vars = process.env.API_TOKEN ? { API_TOKEN: process.env.API_TOKEN } : {};
let stack;
if (containers) {
  console.error(`[dev] starting Podman and wrangler dev with the container binding (a first start builds the image)…`);
  stack = await startContainerStack({ port, stateDir: join(root, ".state/dev-containers"), vars, quiet: false, watch: true });
  console.log(`edgerun is listening on http://localhost:${port} (sessions in containers, Podman at ${stack.podman.url}), ready in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
} else {
  // The release executor, as users' first runs should feel (a debug build adds milliseconds to
  // every run); cargo rebuilds it only when its sources changed. EDGERUN_PROFILE=debug picks the
  // debug one.
  const profile = process.env.EDGERUN_PROFILE ?? "release";
  console.error(`[dev] building the ${profile} executor (the first time takes a few minutes, then it is cached)…`);
  const executorBin = buildExecutor(toolEnv({ EDGERUN_PROFILE: profile }));
  console.error(`[dev] starting the executor and wrangler dev (first start builds the Worker)…`);
  stack = await startStack({
    port,
    executorBin,
    stateDir: join(root, ".state/dev"),
    workRoot: join(stateParent(), `work-${port}`),
    vars,
    quiet: false,
    watch: true,
  });
  console.log(`edgerun is listening on http://localhost:${port} (executor at ${stack.executorUrl}), ready in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
}
console.log(`try: curl -s -X POST 'localhost:${port}/?session=demo' -H 'content-type: application/json' -d '{"plugin":"python","payload":{"code":"print(\\"Hello from the Edge!\\")"}}'`);
const stop = async () => {
  await stack.stop();
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
