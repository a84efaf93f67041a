// `npm run dev`: the local stack on $PORT (default 8787), state kept in .state/dev across restarts.
import { join } from "node:path";
import { root, startStack, stateParent } from "./stack.mjs";

const port = Number(process.env.PORT ?? 8787);
const t0 = Date.now();
console.error(`[dev] starting the executor and wrangler dev (first start builds the Worker)…`);
const vars = process.env.API_TOKEN ? { API_TOKEN: process.env.API_TOKEN } : {};
const stack = await startStack({
  port,
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
