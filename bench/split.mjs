// `node bench/split.mjs [--n 40] [--pause 0|100] [--lang python|bash|…]`: where a warm run's time
// goes through the local stack. A timing proxy sits between wrangler dev and the release
// executor and notes when each executor request arrives and when its answer has gone back, so
// every run through the API splits into: before the executor (the client → wrangler dev →
// Worker → Durable Object path, and the object's work up to its call), the executor (its HTTP
// handling, the run, the scan and delta), and after it (the object reading the answer, its
// SQLite commit, the answer back out). The proxy's own hop (loopback, one copy) counts in
// "before" and "after". Prints one JSON object of medians, p90 and p99 in ms. `EDGERUN_BIN=path`
// measures that executor binary instead of building this tree's release one.
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { startExecutorProxy } from "../scripts/executor-proxy.mjs";
import { buildExecutor, freePort, startExecutor, startStack, stateParent, toolEnv } from "../scripts/stack.mjs";

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const n = Number(opt("n", 40));
const pause = Number(opt("pause", 0));
const lang = opt("lang", "python");
const code = { python: "print('hello')", bash: "echo hello", node: "console.log('hello')" }[lang] ?? "print('hello')";

const env = toolEnv({ EDGERUN_PROFILE: "release" });
const bin = process.env.EDGERUN_BIN ?? buildExecutor(env);
const secret = randomBytes(24).toString("hex");
const executorPort = await freePort();
const workRoot = join(stateParent(), `split-${executorPort}`, "executor");
const executor = await startExecutor({ bin, port: executorPort, workRoot, secret, env, fresh: true });
const now = () => Number(process.hrtime.bigint()) / 1e6;
const proxy = await startExecutorProxy(executorPort);
const stack = await startStack({ executorUrl: proxy.url, secret });

async function api(method, path, body) {
  const r = await fetch(stack.url + path, { method, body: body && JSON.stringify(body), headers: { "content-type": "application/json" } });
  const j = await r.json();
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(j)}`);
  return j;
}

function summary(xs) {
  const v = [...xs].sort((a, b) => a - b);
  const q = (p) => +v[Math.min(v.length - 1, Math.round((v.length - 1) * p))].toFixed(2);
  return { n: v.length, median: q(0.5), p90: q(0.9), p99: q(0.99) };
}

try {
  const sid = `split-${lang}-${Date.now()}`;
  await api("POST", "/api/sessions", { id: sid, language: lang });
  for (let i = 0; i < 5; i++) await api("POST", `/api/sessions/${sid}/run`, { code });
  const parts = { total: [], before_executor: [], executor: [], after_executor: [] };
  for (let i = 0; i < n; i++) {
    if (pause) await new Promise((r) => setTimeout(r, pause));
    proxy.seen.length = 0;
    const start = now();
    const r = await api("POST", `/api/sessions/${sid}/run`, { code });
    const end = now();
    if (r.stdout !== "hello\n") throw new Error(`unexpected answer ${JSON.stringify(r)}`);
    const runs = proxy.seen.filter((s) => s.path.endsWith("/run"));
    if (proxy.seen.length !== 1) throw new Error(`expected one executor call, saw ${JSON.stringify(proxy.seen)}`);
    const [x] = runs;
    parts.total.push(end - start);
    parts.before_executor.push(x.arrived - start);
    parts.executor.push(x.done - x.arrived);
    parts.after_executor.push(end - x.done);
  }
  const out = { lang, n, pause_ms: pause, ms: Object.fromEntries(Object.entries(parts).map(([k, v]) => [k, summary(v)])) };
  console.log(JSON.stringify(out, null, 2));
} finally {
  await stack.stop();
  executor.kill("SIGKILL");
  await proxy.close();
  rmSync(join(workRoot, ".."), { recursive: true, force: true });
}
