// `npm run dev`: the local stack on $PORT (default 8787), state kept in .state/dev across restarts.
import { join } from "node:path";
import { buildExecutor, root, startStack, stateParent, toolEnv } from "./stack.mjs";

const port = Number(process.env.PORT ?? 8787);
const t0 = Date.now();
// The release executor, as users' first runs should feel (a debug build adds milliseconds to every
// run); cargo rebuilds it only when its sources changed. EDGERUN_PROFILE=debug picks the debug one.
const profile = process.env.EDGERUN_PROFILE ?? "release";
console.error(`[dev] building the ${profile} executor (the first time takes a few minutes, then it is cached)…`);
const executorBin = buildExecutor(toolEnv({ EDGERUN_PROFILE: profile }));
console.error(`[dev] starting the executor and wrangler dev (first start builds the Worker)…`);
const vars = process.env.API_TOKEN ? { API_TOKEN: process.env.API_TOKEN } : {};
const stack = await startStack({
  port,
  executorBin,
  stateDir: join(root, ".state/dev"),
  workRoot: join(stateParent(), `work-${port}`),
  vars,
  quiet: false,
  watch: true,
});
console.log(`edgerun is listening on http://localhost:${port} (executor at ${stack.executorUrl}), ready in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
console.log(`try: curl -s -X POST 'localhost:${port}/?session=demo' -H 'content-type: application/json' -d '{"plugin":"python","payload":{"code":"print(\\"Hello from the Edge!\\")"}}'`);
const stop = async () => {
  await stack.stop();
  process.exit(0);
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
