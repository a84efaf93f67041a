// `node bench/split.mjs [--n 40] [--pause 0|100] [--lang python|bash|…]`: where a warm run's time
// goes through the local stack. A timing proxy sits between wrangler dev and the release
// executor and notes when each executor request arrives and when its answer has gone back, so
// every run through the API splits into: before the executor (the client → wrangler dev →
// Worker → Durable Object path, and the object's work up to its call), the executor (its HTTP
// handling, the run, the scan and delta), and after it (the object reading the answer, its
// SQLite commit, the answer back out). The proxy's own hop (loopback, one copy) counts in
// "before" and "after". It also counts the CPU time each process of the stack spent per run
// (/proc/<pid>/stat over the whole loop: this node process, which is the client and the timing
// proxy; wrangler's node; the workerd that routes requests to the Worker; the workerd that runs
// the Worker and its objects; the executor with the runs' children it waited for): on a machine of
// two cores a warm run's way is CPU more than waiting. Prints one JSON object of medians, p90 and
// p99 in ms. `EDGERUN_BIN=path` measures that executor binary instead of building this tree's
// release one.
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { startExecutorProxy } from "../scripts/executor-proxy.mjs";
import { buildExecutor, freePort, startExecutor, startStack, stateParent, toolEnv } from "../scripts/stack.mjs";
import { percentiles, round2 } from "./stats.mjs";

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

// utime + stime (+ the children's it waited for) of `pid`, in ms; its parent's pid.
const TICK_MS = 10;
function stat(pid) {
  const text = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return { ppid: Number(f[1]), cpu_ms: (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * TICK_MS };
}

// The stack's processes by role: wrangler's node and its two workerd (the one that listens on the
// stack's port routes; the other runs the Worker), and the executor.
function stackProcesses() {
  const roles = { client_and_timing_proxy: process.pid, executor: executor.pid, wrangler_node: stack.wrangler.pid };
  for (const name of readdirSync("/proc").filter((n) => /^\d+$/.test(n))) {
    try {
      if (stat(name).ppid !== stack.wrangler.pid) continue;
      const cmd = readFileSync(`/proc/${name}/cmdline`, "utf8").split("\0");
      if (!cmd[0].endsWith("/workerd")) continue;
      roles[cmd.includes(`--socket-addr=entry=127.0.0.1:${stack.port}`) ? "workerd_entry" : "workerd_runtime"] = Number(name);
    } catch {
      // gone meanwhile
    }
  }
  return roles;
}

async function api(method, path, body) {
  const r = await fetch(stack.url + path, { method, body: body && JSON.stringify(body), headers: { "content-type": "application/json" } });
  const j = await r.json();
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(j)}`);
  return j;
}

function summary(xs) {
  const s = percentiles(xs);
  return { n: s.n, median: round2(s.median), p90: round2(s.p90), p99: round2(s.p99) };
}

try {
  const sid = `split-${lang}-${Date.now()}`;
  await api("POST", "/api/sessions", { id: sid, language: lang });
  for (let i = 0; i < 5; i++) await api("POST", `/api/sessions/${sid}/run`, { code });
  const parts = { total: [], before_executor: [], executor: [], after_executor: [] };
  const roles = stackProcesses();
  const cpuBefore = Object.fromEntries(Object.entries(roles).map(([k, pid]) => [k, stat(pid).cpu_ms]));
  for (let i = 0; i < n; i++) {
    if (pause) await new Promise((r) => setTimeout(r, pause));
    proxy.seen.length = 0;
    const start = now();
    const r = await api("POST", `/api/sessions/${sid}/run`, { code });
    const end = now();
    if (r.stdout !== "hello\n") throw new Error(`unexpected answer ${JSON.stringify(r)}`);
    const [x] = proxy.seen;
    if (proxy.seen.length !== 1 || !x.path.endsWith("/run")) throw new Error(`expected one executor run call, saw ${JSON.stringify(proxy.seen)}`);
    parts.total.push(end - start);
    parts.before_executor.push(x.arrived - start);
    parts.executor.push(x.done - x.arrived);
    parts.after_executor.push(end - x.done);
  }
  const cpu = Object.fromEntries(Object.entries(roles).map(([k, pid]) => [k, +((stat(pid).cpu_ms - cpuBefore[k]) / n).toFixed(2)]));
  const out = {
    lang,
    n,
    pause_ms: pause,
    ms: Object.fromEntries(Object.entries(parts).map(([k, v]) => [k, summary(v)])),
    cpu_ms_per_run: { ...cpu, sum: +Object.values(cpu).reduce((a, b) => a + b, 0).toFixed(2) },
  };
  console.log(JSON.stringify(out, null, 2));
} finally {
  await stack.stop();
  executor.kill("SIGKILL");
  await proxy.close();
  rmSync(join(workRoot, ".."), { recursive: true, force: true });
}
