// `node bench/executor-pair.mjs --bin A [--bin B …] [--n 60] [--mode cgroup|uid|tag]`: the
// executor alone, over its own HTTP API, against a raw spawn of the same interpreter, with
// several executor binaries side by side in one sitting (e.g. main's and a branch's): rounds
// alternate between them, and each round times a run sent right after the previous answer
// ("back to back") and one sent after a 100 ms pause ("paused"), each followed by a raw spawn.
// Prints one JSON object: per binary and gap, the run, the raw spawn and the overhead (run minus
// the raw spawn that followed it), with median, p90 and p99.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, startExecutor, stateParent, toolEnv } from "../scripts/stack.mjs";
import { percentiles, round2 } from "./stats.mjs";

const args = process.argv.slice(2);
const bins = [];
let n = 60;
let mode = "";
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--bin") bins.push(args[++i]);
  else if (args[i] === "--n") n = Number(args[++i]);
  else if (args[i] === "--mode") mode = args[++i];
  else throw new Error(`unknown argument ${args[i]}`);
}
if (bins.length === 0) throw new Error("give at least one --bin");
const env = toolEnv();
const scratch = mkdtempSync(join(stateParent(), "pair-"));
// Sandbox uids traverse it to reach their workspaces (as the stack's state directory).
chmodSync(scratch, 0o711);
const script = join(scratch, "h.py");
writeFileSync(script, "print('hello')\n");

function summary(xs) {
  const s = percentiles(xs);
  return { n: s.n, median: round2(s.median), p90: round2(s.p90), p99: round2(s.p99), max: round2(s.max) };
}
const ms = (t) => Number(process.hrtime.bigint() - t) / 1e6;
const sleep = (t) => new Promise((r) => setTimeout(r, t));

const executors = [];
for (const bin of bins) {
  const port = await freePort();
  const secret = randomBytes(16).toString("hex");
  const workRoot = mkdtempSync(join(scratch, "work-"));
  const extraEnv = mode ? { EDGERUN_KILL_MODE: mode } : {};
  const proc = await startExecutor({ bin, port, workRoot, secret, env, fresh: true, extraEnv });
  const health = await (await fetch(`http://127.0.0.1:${port}/health`)).json();
  executors.push({ bin, url: `http://127.0.0.1:${port}`, secret, proc, version: null, sid: `pair-${randomBytes(4).toString("hex")}`, health, s: { 0: { run: [], raw: [], over: [] }, 100: { run: [], raw: [], over: [] } } });
}

async function run(x) {
  const t = process.hrtime.bigint();
  const r = await fetch(`${x.url}/v1/sessions/${x.sid}/run`, {
    method: "POST",
    headers: { "x-edgerun-secret": x.secret, "content-type": "application/json" },
    body: JSON.stringify({ language: "python", code: "print('hello')", expect_version: x.version }),
  });
  const buf = Buffer.from(await r.arrayBuffer());
  const took = ms(t);
  const len = buf.readUInt32BE(0);
  const answer = JSON.parse(buf.subarray(4, 4 + len));
  if (answer.result?.stdout !== "hello\n") throw new Error(`${x.bin}: ${JSON.stringify(answer).slice(0, 300)}`);
  x.version = answer.delta.version;
  return took;
}
function raw() {
  const t = process.hrtime.bigint();
  const r = spawnSync(env.EDGERUN_PYTHON, [script], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(r.stderr);
  return ms(t);
}

try {
  for (const x of executors) for (let i = 0; i < 3; i++) await run(x);
  for (let i = 0; i < n; i++) {
    const order = i % 2 ? [...executors].reverse() : executors;
    for (const x of order) {
      for (const gap of [0, 100]) {
        if (gap) await sleep(gap);
        const a = await run(x);
        const b = raw();
        x.s[gap].run.push(a);
        x.s[gap].raw.push(b);
        x.s[gap].over.push(a - b);
      }
    }
  }
  const out = { n, mode: mode || "auto", cores: (await import("node:os")).cpus().length, loadavg: (await import("node:os")).loadavg(), executors: [] };
  for (const x of executors) {
    const o = { bin: x.bin, isolation: x.health.isolation ?? x.health.containment ?? null };
    for (const gap of [0, 100]) {
      const k = gap ? "paused_100ms" : "back_to_back";
      o[k] = { run: summary(x.s[gap].run), raw: summary(x.s[gap].raw), overhead: summary(x.s[gap].over) };
    }
    out.executors.push(o);
  }
  console.log(JSON.stringify(out, null, 2));
} finally {
  for (const x of executors) x.proc.kill("SIGTERM");
  await sleep(500);
  rmSync(scratch, { recursive: true, force: true });
}
