// A proxy between the Worker and the executor that records every executor request: its path,
// status, when it arrived and when its answer had gone back (bench/split.mjs, tests that check
// how many executor calls a request costs). Bodies pass through as they come.
import http from "node:http";
import { freePort } from "./stack.mjs";

/** Starts the proxy in front of the executor on `executorPort`; `seen` holds what passed. */
export async function startExecutorProxy(executorPort) {
  const port = await freePort();
  const now = () => Number(process.hrtime.bigint()) / 1e6;
  const proxy = {
    port,
    url: `http://127.0.0.1:${port}`,
    /** { path, status, arrived, done } per executor request answered, in order. */
    seen: [],
    close: () => new Promise((r) => server.close(r)),
  };
  const server = http.createServer((req, res) => {
    const arrived = now();
    const up = http.request({ host: "127.0.0.1", port: executorPort, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode, answer.headers);
      answer.pipe(res);
      answer.on("end", () => proxy.seen.push({ path: req.url.split("?")[0], status: answer.statusCode, arrived, done: now() }));
    });
    up.on("error", () => res.destroy());
    req.pipe(up);
  });
  await new Promise((r) => server.listen(port, "127.0.0.1", r));
  return proxy;
}
