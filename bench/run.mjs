// `npm run bench [-- --quick]`: measures the runtime on the local stack against the raw
// interpreters and against its goals, side by side in one run. Every figure comes from this run.
// Writes bench/results/latest.json and docs/benchmarks.md, and prints the table.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { dirname, join } from "node:path";
import { gzipSync } from "node:zlib";
import { r2Diff, r2State } from "../scripts/r2.mjs";
import { freePort, removeDiscarded, root, startContainerStack, startExecutor, startStack, toolEnv } from "../scripts/stack.mjs";
import { percentiles } from "./stats.mjs";

const quick = process.argv.includes("--quick");
// `--containers-only`: just the container mode's cold starts (bench/results/containers.json).
const containersOnly = process.argv.includes("--containers-only");
const N = quick ? 30 : 60; // samples for quoted percentiles (≥ 30)
const env = toolEnv({ EDGERUN_PROFILE: "release" });
process.env.EDGERUN_PROFILE = "release";
const log = (m) => console.error(`[bench] ${m}`);

// ---------- statistics ----------
// Percentiles beyond the median only from 30 samples up.
function summary(xs) {
  const { n, min, median, max, p90, p99 } = percentiles(xs);
  const s = { n, min, median, max };
  if (n >= 30) Object.assign(s, { p90, p99 });
  return s;
}
const fmt = (x, unit = "ms") => (x === undefined || Number.isNaN(x) ? "–" : `${x.toFixed(x < 10 ? 2 : 1)} ${unit}`);
function describe(s, unit = "ms") {
  return s.p90 !== undefined
    ? `median ${fmt(s.median, unit)}, p90 ${fmt(s.p90, unit)}, p99 ${fmt(s.p99, unit)} (n=${s.n})`
    : `min ${fmt(s.min, unit)}, median ${fmt(s.median, unit)}, max ${fmt(s.max, unit)} (n=${s.n})`;
}

// ---------- helpers ----------
async function api(stack, method, path, body) {
  const r = await fetch(stack.url + path, { method, body: body === undefined ? undefined : JSON.stringify(body), headers: { "content-type": "application/json" } });
  const text = await r.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {}
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text.slice(0, 300)}`);
  return json;
}
const time = async (f) => {
  const t = process.hrtime.bigint();
  const v = await f();
  return [Number(process.hrtime.bigint() - t) / 1e6, v];
};
function spawnTime(cmd, args, opts = {}) {
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: "utf8", ...opts });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed: ${r.stderr}`);
  return [ms, r.stdout];
}
function rssKiB(pid) {
  const s = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(s.match(/VmRSS:\s+(\d+)/)[1]);
}

const scratch = mkdtempSync(join(os.tmpdir(), "edgerun-bench-"));
// The raw baseline of each language is the command line its plugin runs (container/src/lang/*.rs),
// bootstrap and loader flags included, so that their start-up is not hidden in the overhead.
const bootPy = readFileSync(join(root, "container/src/lang/python_main.py"), "utf8");
const bootNode = readFileSync(join(root, "container/src/lang/node_main.js"), "utf8");
// bash.rs's WRAPPER: the script named by $1 is read, the parameters cleared, then it runs.
const bashWrapper = 'eval "set --;$(< "$1")"';
const denoMap = join(scratch, "import-map.json");
writeFileSync(denoMap, JSON.stringify({ scopes: {} }));
const hello = {
  python: { code: "print('hello')", file: "main.py", raw: (f) => [env.EDGERUN_PYTHON, ["-P", "-c", bootPy, f]] },
  node: { code: "console.log('hello')", file: "main.js", raw: (f) => [env.EDGERUN_NODE, ["--input-type=commonjs", "-e", bootNode, "--", f, "main.js"]] },
  typescript: {
    code: "const m: string = 'hello'; console.log(m)",
    file: "main.ts",
    raw: (f) => [env.EDGERUN_NODE, ["--experimental-strip-types", "--no-warnings", "--input-type=commonjs", "-e", bootNode, "--", f, "main.ts", "ts"]],
  },
  go: { code: 'package main\nimport "fmt"\nfunc main() { fmt.Println("hello") }', file: "main.go", raw: (f) => [f.replace(/\.go$/, ""), []] },
  deno: { code: "console.log('hello')", file: "main.deno.ts", raw: (f) => [env.EDGERUN_DENO, ["run", "-A", "--no-prompt", `--import-map=${denoMap}`, f]] },
  bash: { code: "echo hello", file: "main.sh", raw: (f) => [env.EDGERUN_BASH, ["-c", bashWrapper, "main.sh", f]] },
};
for (const [lang, h] of Object.entries(hello)) {
  mkdirSync(join(scratch, lang), { recursive: true });
  h.path = join(scratch, lang, h.file);
  writeFileSync(h.path, h.code);
  if (lang === "go") {
    const dir = join(scratch, "gohello");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "main.go"), h.code);
    writeFileSync(join(dir, "go.mod"), "module hello\n\ngo 1.21\n");
    execFileSync(env.EDGERUN_GO, ["build", "-o", join(scratch, "go", "main"), "."], { cwd: dir, env: { ...env, GOTOOLCHAIN: "local", GOFLAGS: "" } });
  }
}

// ---------- scenarios ----------
const results = { goals: [] };
const goal = (name, value, limit, unit, comment = "") => results.goals.push({ name, value, limit, unit, pass: value <= limit, comment });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Alternates `n` rounds of: a run sent right after the previous answer ("back to back"), then
 * the raw spawn; a run sent after a 100 ms pause, then the raw spawn. */
async function pairedRounds(n, runOnce, rawOnce) {
  const s = { back_to_back: { through: [], raw: [], overhead: [] }, paused_100ms: { through: [], raw: [], overhead: [] } };
  for (let i = 0; i < n; i++) {
    for (const [k, gap] of [["back_to_back", 0], ["paused_100ms", 100]]) {
      if (gap) await sleep(gap);
      const a = await runOnce();
      const b = rawOnce();
      s[k].through.push(a);
      s[k].raw.push(b);
      s[k].overhead.push(a - b);
    }
  }
  const out = {};
  for (const [k, v] of Object.entries(s)) out[k] = { through: summary(v.through), raw: summary(v.raw), overhead: summary(v.overhead) };
  return out;
}

async function warmOverhead(stack) {
  const out = {};
  for (const [lang, h] of Object.entries(hello)) {
    const id = `bench-warm-${lang}-${Date.now()}`;
    await api(stack, "POST", "/api/sessions", { id, language: lang });
    for (let i = 0; i < 3; i++) await api(stack, "POST", `/api/sessions/${id}/run`, { code: h.code });
    const [cmd, args] = h.raw(h.path);
    out[lang] = await pairedRounds(
      N,
      async () => {
        const [a, r] = await time(() => api(stack, "POST", `/api/sessions/${id}/run`, { code: h.code }));
        if (r.stdout !== "hello\n") throw new Error(`${lang}: ${JSON.stringify(r)}`);
        return a;
      },
      () => {
        const [b, o] = spawnTime(cmd, args, { env: { PATH: env.PATH, HOME: scratch }, cwd: dirname(h.path) });
        if (o !== "hello\n") throw new Error(`${lang} raw: ${o}`);
        return b;
      },
    );
    for (const k of ["back_to_back", "paused_100ms"]) {
      log(`warm ${lang}, ${k}: overhead ${describe(out[lang][k].overhead)}`);
      goal(`warm-run overhead, ${lang} (whole stack, ${k.replace("_", " ").replace("_", " ")})`, out[lang][k].overhead.median, 10, "ms");
    }
  }
  // The executor alone, over its own HTTP API (the Worker and Durable Object hop excluded): the
  // stack's (the strongest containment this machine allows), then one in uid mode beside it.
  const [cmd, args] = hello.python.raw(hello.python.path);
  const raw = () => spawnTime(cmd, args, { cwd: dirname(hello.python.path) })[0];
  out.executor_python = await pairedRounds(N, await executorRuns(stack.executorUrl, stack.secret), raw);
  for (const k of ["back_to_back", "paused_100ms"]) {
    const o = out.executor_python[k].overhead;
    goal(`warm-run overhead, python (executor alone, ${k.replace("_", " ").replace("_", " ")}), median`, o.median, 3, "ms");
    goal(`warm-run overhead, python (executor alone, ${k.replace("_", " ").replace("_", " ")}), p99`, o.p99, 10, "ms");
  }
  const port = await freePort();
  const workRoot = join(stack.base, "executor-uid");
  const uid = await startExecutor({ bin: stack.executorBin, port, workRoot, secret: stack.secret, env, fresh: true, extraEnv: { EDGERUN_KILL_MODE: "uid" } });
  try {
    const url = `http://127.0.0.1:${port}`;
    const isolation = (await (await fetch(`${url}/health`)).json()).isolation;
    out.executor_python_uid = { ...(await pairedRounds(N, await executorRuns(url, stack.secret), raw)), isolation };
  } finally {
    uid.kill("SIGKILL");
  }
  const [c, u] = [out.executor_python.paused_100ms.overhead.median, out.executor_python_uid.paused_100ms.overhead.median];
  log(`executor alone, paused 100 ms: ${results.isolation} ${fmt(c)}, uid mode ${fmt(u)}`);
  goal("executor alone, paused 100ms: the stack's containment over uid mode (median overhead)", c - u, 0, "ms");
  return out;
}

/** A function that sends one warm python run to the executor at `url` and answers its time. */
async function executorRuns(url, secret) {
  const sid = `bench-exec-${Date.now()}`;
  let version = null;
  const direct = async () => {
    const [a, buf] = await time(async () => {
      const r = await fetch(`${url}/v1/sessions/${sid}/run`, {
        method: "POST",
        headers: { "x-edgerun-secret": secret, "content-type": "application/json" },
        body: JSON.stringify({ language: "python", code: hello.python.code, expect_version: version }),
      });
      return Buffer.from(await r.arrayBuffer());
    });
    const len = buf.readUInt32BE(0);
    version = JSON.parse(buf.subarray(4, 4 + len)).delta.version;
    return a;
  };
  for (let i = 0; i < 3; i++) await direct();
  return direct;
}

/** A warm run in a workspace of 10,000 files against the same run in one of 10, alternating. */
async function bigWorkspace(stack) {
  const ids = {};
  for (const files of [10, 10000]) {
    const id = `bench-ws-${files}-${Date.now()}`;
    await api(stack, "POST", "/api/sessions", { id, language: "python" });
    await api(stack, "POST", `/api/sessions/${id}/run`, { timeout: 300, code: `import os\nfor i in range(${files}):\n    d = f'd{i % 100}'\n    os.makedirs(d, exist_ok=True)\n    open(f'{d}/f{i}.txt','w').write('x' * 100)` });
    for (let i = 0; i < 3; i++) await api(stack, "POST", `/api/sessions/${id}/run`, { code: hello.python.code });
    ids[files] = id;
  }
  const small = [], big = [];
  for (let i = 0; i < N; i++) {
    small.push((await time(() => api(stack, "POST", `/api/sessions/${ids[10]}/run`, { code: hello.python.code })))[0]);
    big.push((await time(() => api(stack, "POST", `/api/sessions/${ids[10000]}/run`, { code: hello.python.code })))[0]);
  }
  const out = { files_10: summary(small), files_10000: summary(big) };
  goal("warm run in a workspace of 10,000 files over one of 10", out.files_10000.median - out.files_10.median, 5, "ms");
  return out;
}

async function firstResult(stack) {
  const samples = [], raw = [];
  for (let i = 0; i < (quick ? 5 : 10); i++) {
    const [a, r] = await time(async () => {
      const s = await api(stack, "POST", "/api/sessions", { language: "python" });
      return api(stack, "POST", `/api/sessions/${s.id}/run`, { code: hello.python.code });
    });
    if (r.stdout !== "hello\n") throw new Error("first run");
    samples.push(a);
    const [cmd, args] = hello.python.raw(hello.python.path);
    raw.push(spawnTime(cmd, args, { cwd: dirname(hello.python.path) })[0]);
  }
  const s = summary(samples), r = summary(raw);
  goal("time to first result (create + first run) minus raw spawn", s.median - r.median, 30, "ms");
  return { create_and_run: s, raw_spawn: r };
}

// Live sessions (#14): a context run against a GET of the same session (no process is spawned
// for it), beside a fresh-process run; and the delay to the first chunk of a streamed run.
async function liveSessions(stack) {
  const id = (await api(stack, "POST", "/api/sessions", { language: "python" })).id;
  const ctx = (await api(stack, "POST", `/api/sessions/${id}/contexts`, { language: "python" })).id;
  await api(stack, "POST", `/api/sessions/${id}/run`, { context: ctx, code: "x = 0" });
  const health = [], get = [], inCtx = [], fresh = [];
  for (let i = 0; i < N; i++) {
    // What local `wrangler dev` costs by itself (its proxy and the Worker, no Durable Object).
    health.push((await time(() => api(stack, "GET", "/health")))[0]);
    get.push((await time(() => api(stack, "GET", `/api/sessions/${id}`)))[0]);
    inCtx.push((await time(() => api(stack, "POST", `/api/sessions/${id}/run`, { context: ctx, code: "x += 1" })))[0]);
  }
  // Fresh runs apart: one right after a context run would commit that run's held checkpoint.
  await settled(stack, id);
  for (let i = 0; i < N; i++) fresh.push((await time(() => api(stack, "POST", `/api/sessions/${id}/run`, { code: "x = 1" })))[0]);
  const g = summary(get), c = summary(inCtx), f = summary(fresh);
  goal("context run of `x += 1` over GET of the session", c.median - g.median, 5, "ms");
  const restore = await contextRestore(stack);
  // First byte: print("a", flush=True), then sleep 1 s; the chunk must come before the sleep ends.
  const first = [];
  for (let i = 0; i < (quick ? 5 : 10); i++) {
    const t = process.hrtime.bigint();
    const r = await fetch(`${stack.url}/api/sessions/${id}/run`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream" },
      body: JSON.stringify({ code: "import time\nprint('a', flush=True)\ntime.sleep(1)\nprint('b')" }),
    });
    const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    let at;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
      if (at === undefined && text.includes('"data":"a')) at = Number(process.hrtime.bigint() - t) / 1e6;
    }
    if (at === undefined) throw new Error("no first chunk");
    first.push(at);
  }
  const fb = summary(first);
  goal("first streamed chunk before a following 1 s sleep ends", fb.median, 1000, "ms");
  return { health: summary(health), get: g, context_run: c, fresh_run: f, first_chunk: fb, restore };
}

/** Waits until the session's context checkpoints are in R2 (`checkpoint_pending`). */
async function settled(stack, id) {
  while ((await api(stack, "GET", `/api/sessions/${id}/contexts`)).contexts.some((c) => c.checkpoint_pending)) await new Promise((r) => setTimeout(r, 50));
}

// A context holding 10 MB of plain Python objects, restored after the sandbox was recycled (the
// executor restarted with an empty work root). After each restart a plain run brings the
// workspace back (the inject, measured apart); the next context run then restores the
// checkpoint; its cost is that run against a warm context run.
async function contextRestore(stack) {
  const id = (await api(stack, "POST", "/api/sessions", { language: "python" })).id;
  const ctx = (await api(stack, "POST", `/api/sessions/${id}/contexts`, { language: "python" })).id;
  const make = "rows = [{'i': i, 'name': f'row {i}', 'tags': ['a', 'b']} for i in range(60000)]\nnums = list(range(300000))\nblob = b'x' * (6 << 20)\ntable = {str(i): i * 0.5 for i in range(40000)}";
  const made = await api(stack, "POST", `/api/sessions/${id}/run`, { context: ctx, code: make, timeout: 120 });
  if (made.exit_code !== 0) throw new Error(`making the state: ${made.stderr}`);
  await settled(stack, id);
  const sized = await api(stack, "POST", `/api/sessions/${id}/run`, { code: `import os\nprint(os.path.getsize('.sandbox/contexts/${ctx}/state.pickle'))` });
  const bytes = Number(sized.stdout);
  if (!(bytes > 0)) throw new Error(`the checkpoint's size: ${sized.stdout} ${sized.stderr}`);
  const probe = "len(rows) + len(nums) + len(blob) + len(table)";
  const warm = [];
  for (let i = 0; i < N; i++) warm.push((await time(() => api(stack, "POST", `/api/sessions/${id}/run`, { context: ctx, code: probe })))[0]);
  const inject = [], restored = [];
  for (let i = 0; i < (quick ? 3 : 5); i++) {
    await stack.restartExecutor({ fresh: true });
    inject.push((await time(() => api(stack, "POST", `/api/sessions/${id}/run`, { language: "bash", code: "true" })))[0]);
    const [ms, r] = await time(() => api(stack, "POST", `/api/sessions/${id}/run`, { context: ctx, code: probe }));
    if (r.restored !== true) throw new Error(`not restored: ${JSON.stringify(r).slice(0, 300)}`);
    restored.push(ms);
  }
  const w = summary(warm), rs = summary(restored);
  log(`context restore: checkpoint ${(bytes / 1048576).toFixed(1)} MiB, restored run ${describe(rs)}, warm ${describe(w)}`);
  goal("restoring a context of 10 MB of plain objects, over a warm context run", rs.median - w.median, 300, "ms");
  return { checkpoint_bytes: bytes, warm_run: w, restored_run: rs, inject_plain_run: summary(inject) };
}

/** Background processes and the port route (#18): start to first 200, and the route's cost. */
async function ports(stack) {
  // From POST …/processes (python -m http.server 8000) to a 200 through /ports/8000/.
  const startTo200 = [];
  for (let i = 0; i < (quick ? 5 : 10); i++) {
    const id = (await api(stack, "POST", "/api/sessions", { language: "python", allow_internet: false })).id;
    const t = process.hrtime.bigint();
    await api(stack, "POST", `/api/sessions/${id}/processes`, { command: "exec python3 -m http.server 8000 --bind 127.0.0.1" });
    for (;;) {
      const r = await fetch(`${stack.url}/api/sessions/${id}/ports/8000/`);
      await r.arrayBuffer();
      if (r.status === 200) break;
      await new Promise((res) => setTimeout(res, 10));
    }
    startTo200.push(Number(process.hrtime.bigint() - t) / 1e6);
    await api(stack, "DELETE", `/api/sessions/${id}`);
  }
  // A GET through the route against the same GET from inside the session (a run in its network
  // namespace, on loopback), both of the same file of the same server, in the same run.
  const id = (await api(stack, "POST", "/api/sessions", { language: "python", allow_internet: false })).id;
  await api(stack, "POST", `/api/sessions/${id}/run`, { code: "open('f.txt', 'w').write('x' * 1024)" });
  await api(stack, "POST", `/api/sessions/${id}/processes`, { command: "exec python3 -m http.server 8000 --bind 127.0.0.1" });
  for (;;) {
    const r = await fetch(`${stack.url}/api/sessions/${id}/ports/8000/f.txt`);
    await r.arrayBuffer();
    if (r.status === 200) break;
    await new Promise((res) => setTimeout(res, 10));
  }
  const route = [];
  for (let i = 0; i < N; i++) {
    route.push(
      (
        await time(async () => {
          const r = await fetch(`${stack.url}/api/sessions/${id}/ports/8000/f.txt`);
          if ((await r.text()).length !== 1024) throw new Error("the port route answered another body");
        })
      )[0],
    );
  }
  const code = `import http.client, json, time\nout = []\nfor i in range(${N}):\n    t = time.perf_counter()\n    c = http.client.HTTPConnection('127.0.0.1', 8000)\n    c.request('GET', '/f.txt')\n    assert len(c.getresponse().read()) == 1024\n    c.close()\n    out.append((time.perf_counter() - t) * 1000)\nprint(json.dumps(out))`;
  const direct = JSON.parse((await api(stack, "POST", `/api/sessions/${id}/run`, { code })).stdout);
  await api(stack, "DELETE", `/api/sessions/${id}`);
  const s2 = summary(startTo200), r = summary(route), d = summary(direct);
  goal("port route: GET over the same GET on the session's loopback (median)", r.median - d.median, 5, "ms");
  return { start_to_200: s2, through_route: r, direct_loopback: d };
}

async function coldRestore(stack) {
  const out = {};
  // [name, files, size of file i as a Python expression, the size of d7/f7.bin]
  for (const [name, files, size, size7] of [["1000 files / 20 MB", 1000, "20 * 1024", 20 * 1024], ["10000 small files (1–4 KiB)", 10000, "1024 + (i * 7919) % 3072", 1024 + ((7 * 7919) % 3072)]]) {
    const id = `bench-cold-${files}-${Date.now()}`;
    await api(stack, "POST", "/api/sessions", { id, language: "python" });
    await api(stack, "POST", `/api/sessions/${id}/run`, {
      timeout: 300,
      code: `import os\nfor i in range(${files}):\n    d = f'd{i % 50}'\n    os.makedirs(d, exist_ok=True)\n    open(f'{d}/f{i}.bin','wb').write(os.urandom(${size}))`,
    });
    const times = [];
    for (let i = 0; i < (quick ? 3 : 5); i++) {
      await stack.restartExecutor({ fresh: true });
      const [t, r] = await time(() => api(stack, "POST", `/api/sessions/${id}/run`, { code: "print(len(open('d7/f7.bin','rb').read()))" }));
      if (r.stdout !== `${size7}\n`) throw new Error(`cold restore read ${r.stdout}`);
      times.push(t);
    }
    out[name] = summary(times);
    log(`cold restore ${name}: ${describe(out[name])}`);
    if (files === 1000) {
      // The same after deleting the trees discarded so far, just before the restart (see
      // `startExecutor`: this disk's ext4 has no journal, and new inodes then skip recently freed ones).
      const after = [];
      for (let i = 0; i < (quick ? 3 : 5); i++) {
        removeDiscarded(stack.workRoot);
        await stack.restartExecutor({ fresh: true });
        after.push((await time(() => api(stack, "POST", `/api/sessions/${id}/run`, { code: "print(len(open('d7/f7.bin','rb').read()))" })))[0]);
      }
      out[`${name}, right after deleting the discarded trees`] = summary(after);
      log(`cold restore ${name} after deleting: ${describe(summary(after))}`);
    }
  }
  goal("cold restore, 1000 files / 20 MB, then a run", out["1000 files / 20 MB"].median, 300, "ms");
  goal("cold restore, 10,000 small files (1–4 KiB), then a run", out["10000 small files (1–4 KiB)"].median, 1000, "ms");
  return out;
}

async function persistenceCost(stack) {
  const out = {};
  for (const files of [10, 1000, 10000]) {
    const id = `bench-r2-${files}-${Date.now()}`;
    await api(stack, "POST", "/api/sessions", { id, language: "python" });
    await api(stack, "POST", `/api/sessions/${id}/run`, { timeout: 300, code: `import os\nos.makedirs('d', exist_ok=True)\nfor i in range(${files}):\n    open(f'd/f{i}','w').write('x' * 100)` });
    let before = await r2State(stack);
    await api(stack, "POST", `/api/sessions/${id}/run`, { code: "pass" });
    let after = await r2State(stack);
    const none = r2Diff(before, after);
    before = after;
    await api(stack, "POST", `/api/sessions/${id}/run`, { code: "open('d/f3','w').write('y' * 100)" });
    after = await r2State(stack);
    const one = r2Diff(before, after);
    out[files] = { unchanged: { writes: none.writes, bytes: none.bytes }, one_changed: { writes: one.writes, bytes: one.bytes } };
    log(`R2 per run, ${files} files: nothing changed ${none.writes} writes/${none.bytes} B; one changed ${one.writes} writes/${one.bytes} B`);
    goal(`R2 writes per run, one file changed, ${files} files`, one.writes, 3, "writes");
    goal(`R2 bytes per run, nothing changed, ${files} files`, none.bytes, 0, "bytes");
  }
  return out;
}

async function installs(stack) {
  const out = {};
  const npmDir = join(scratch, "npm-raw");
  mkdirSync(npmDir, { recursive: true });
  const [rawNpm] = spawnTime(env.EDGERUN_NODE, [env.EDGERUN_NPM_CLI, "install", "--no-audit", "--no-fund", "--prefix", npmDir, "lodash@4.17.21"], { env: { ...process.env, HOME: scratch } });
  const id = `bench-npm-${Date.now()}`;
  const [viaApi, r] = await time(() => api(stack, "POST", `/?session=${id}`, { plugin: "node", payload: { code: "console.log(require('lodash').VERSION)", requirements: ["lodash@4.17.21"], timeout: 300 } }));
  if (r.output !== "4.17.21\n") throw new Error(`lodash: ${JSON.stringify(r)}`);
  const files = (await api(stack, "GET", `/api/sessions/${id}/files`)).count;
  await stack.restartExecutor({ fresh: true });
  const [reuse, r2] = await time(() => api(stack, "POST", `/api/sessions/${id}/run`, { code: "console.log(require('lodash').VERSION)" }));
  if (r2.stdout !== "4.17.21\n") throw new Error("lodash after restore");
  out.npm_lodash = { files, raw_installer_ms: rawNpm, install_and_persist_ms: viaApi, persist_overhead_ms: viaApi - rawNpm, cold_restore_and_import_ms: reuse };
  goal("npm lodash: persisting adds over the installer's own time", viaApi - rawNpm, 1000, "ms", "single sample each; installer time varies with the registry");
  const pipDir = join(scratch, "pip-raw");
  const [rawPip] = spawnTime(env.EDGERUN_PYTHON, ["-m", "pip", "install", "-q", "--target", pipDir, "tabulate==0.9.0"]);
  const pid = `bench-pip-${Date.now()}`;
  const [viaPip] = await time(() => api(stack, "POST", `/?session=${pid}`, { plugin: "python", payload: { code: "import tabulate", requirements: ["tabulate==0.9.0"], timeout: 300 } }));
  out.pip_tabulate = { raw_installer_ms: rawPip, install_and_persist_ms: viaPip, persist_overhead_ms: viaPip - rawPip };
  return out;
}

async function concurrency(stack) {
  const sessions = 32, runs = 10;
  const ids = [];
  for (let i = 0; i < sessions; i++) ids.push((await api(stack, "POST", "/api/sessions", { language: "python", data: { n: 0 } })).id);
  const code = "import json\nd=json.load(open('.session_data.json'))\nd['n']+=1\njson.dump(d,open('.session_data.json','w'))";
  const lat = [];
  let errors = 0;
  const [wall] = await time(() =>
    Promise.all(ids.map(async (id) => {
      for (let i = 0; i < runs; i++) {
        try {
          const [t, r] = await time(() => api(stack, "POST", `/api/sessions/${id}/run`, { code }));
          if (r.exit_code !== 0) errors++;
          lat.push(t);
        } catch {
          errors++;
        }
      }
    })),
  );
  let lost = 0;
  for (const id of ids) lost += runs - (await api(stack, "GET", `/api/sessions/${id}`)).data.n;
  goal("concurrency 32×10: errors", errors, 0, "errors");
  goal("concurrency 32×10: lost updates", lost, 0, "updates");
  return { sessions, runs, wall_ms: wall, throughput_per_s: (sessions * runs) / (wall / 1000), errors, lost_updates: lost, latency: summary(lat) };
}

async function memory(stack) {
  const idle = rssKiB(stack.executor.pid);
  const id = (await api(stack, "POST", "/api/sessions", { language: "python" })).id;
  for (let i = 0; i < 100; i++) await api(stack, "POST", `/api/sessions/${id}/run`, { code: "print(1)" });
  const after = rssKiB(stack.executor.pid);
  const wasm = readFileSync(join(root, "build/index_bg.wasm"));
  const js = readFileSync(join(root, "build/index.js"));
  goal("executor idle RSS", idle / 1024, 15, "MiB");
  return { executor_rss_idle_kib: idle, executor_rss_after_100_runs_kib: after, worker_wasm_bytes: wasm.length, worker_wasm_gzip_bytes: gzipSync(wasm).length, worker_js_bytes: js.length };
}

// ---------- main ----------
/**
 * The container mode's cold starts, through the real binding (scripts/stack.mjs
 * `startContainerStack`; root and Podman): a new session's first answer (create, then a run that
 * starts its container and waits for its executor), and a woken session's first answer after its
 * container slept (idle time 3 s). Only where the container mode can run.
 */
async function containerColdStart() {
  if (process.getuid?.() !== 0 || spawnSync("podman", ["--version"]).status !== 0) {
    log("container cold start: not measured (needs root and podman)");
    return null;
  }
  const idle = 3000;
  const stack = await startContainerStack({ vars: { IDLE_TIMEOUT_MS: String(idle) } });
  try {
    const fresh = [];
    const woken = [];
    const samples = quick ? 5 : 10;
    for (let i = 0; i < samples; i++) {
      const id = `bench-container-${i}-${Date.now()}`;
      const [t, r] = await time(async () => {
        await api(stack, "POST", "/api/sessions", { id, language: "python" });
        return api(stack, "POST", `/api/sessions/${id}/run`, { code: "print('hello')" });
      });
      if (r.stdout !== "hello\n") throw new Error(`container run printed ${r.stdout}`);
      fresh.push(t);
      const until = Date.now() + idle + 30_000;
      while (stack.containers().length > 0 && Date.now() < until) await new Promise((res) => setTimeout(res, 100));
      if (stack.containers().length > 0) throw new Error("the session's container did not sleep");
      const [tw, rw] = await time(() => api(stack, "POST", `/api/sessions/${id}/run`, { code: "print('again')" }));
      if (rw.stdout !== "again\n") throw new Error(`woken run printed ${rw.stdout}`);
      woken.push(tw);
      await api(stack, "DELETE", `/api/sessions/${id}`);
    }
    const out = { new_session: summary(fresh), woken: summary(woken), idle_ms: idle };
    log(`container cold start, new session (create + first run): ${describe(out.new_session)}`);
    log(`container cold start, woken after idle sleep (first run): ${describe(out.woken)}`);
    return out;
  } finally {
    await stack.stop();
  }
}

const t0 = Date.now();
if (containersOnly) {
  const c = await containerColdStart();
  mkdirSync(join(root, "bench/results"), { recursive: true });
  writeFileSync(join(root, "bench/results/containers.json"), JSON.stringify({ date: new Date().toISOString(), mode: quick ? "quick" : "full", container_cold_start: c }, null, 2));
  process.exit(c ? 0 : 1);
}
log(`${quick ? "quick" : "full"} run: starting the local stack (release executor)…`);
const stack = await startStack({ executorBin: undefined });
try {
  results.isolation = (await (await fetch(`${stack.executorUrl}/health`)).json()).isolation;
  log(`runs contained by: ${results.isolation}`);
  results.warm = await warmOverhead(stack);
  results.big_workspace = await bigWorkspace(stack);
  results.first_result = await firstResult(stack);
  results.live = await liveSessions(stack);
  results.ports = await ports(stack);
  results.cold_restore = await coldRestore(stack);
  results.persistence = await persistenceCost(stack);
  results.installs = await installs(stack);
  results.concurrency = await concurrency(stack);
  results.memory = await memory(stack);
} finally {
  await stack.stop();
  rmSync(scratch, { recursive: true, force: true });
}
results.container_cold_start = await containerColdStart();
const commit = spawnSync("git", ["rev-parse", "--short", "HEAD"], { cwd: root, encoding: "utf8" }).stdout.trim();
results.machine = { cores: os.cpus().length, memory_gib: +(os.totalmem() / 2 ** 30).toFixed(1), os: `${os.type()} ${os.release()}`, cpu: os.cpus()[0]?.model };
results.date = new Date().toISOString();
results.commit = commit;
results.mode = quick ? "quick" : "full";
results.seconds = (Date.now() - t0) / 1000;

// ---------- report ----------
const lines = [];
lines.push(`# Benchmarks`, "", `Generated by \`npm run bench${quick ? " -- --quick" : ""}\` on ${results.date} at commit ${commit}; machine: ${results.machine.cores} cores, ${results.machine.memory_gib} GiB, ${results.machine.os} (${results.machine.cpu}); runs contained by ${results.isolation}. Every figure below comes from that run.`, "");
lines.push("## Goals", "", "| goal | measured | limit | |", "| --- | --- | --- | --- |");
for (const g of results.goals) lines.push(`| ${g.name} | ${g.value.toFixed(2)} ${g.unit} | ≤ ${g.limit} ${g.unit} | ${g.pass ? "pass" : "**MISS**"}${g.comment ? ` (${g.comment})` : ""} |`);
lines.push("", `## Warm runs (hello world), alternating A/B with the raw interpreter (runs contained by ${results.isolation})`, "", "Each round sends one run right after the previous answer (back to back) and one after a 100 ms pause, each followed by a raw spawn of the plugin's own command line.", "", "| language | requests | through the stack | raw spawn | overhead |", "| --- | --- | --- | --- | --- |");
for (const [lang, w] of Object.entries(results.warm)) for (const k of ["back_to_back", "paused_100ms"]) lines.push(`| ${lang} | ${k.replaceAll("_", " ")} | ${describe(w[k].through)} | ${describe(w[k].raw)} | ${describe(w[k].overhead)} |`);
lines.push("", "## Other figures", "", "| scenario | figure |", "| --- | --- |");
lines.push(`| warm run, workspace of 10 files | ${describe(results.big_workspace.files_10)} |`, `| warm run, workspace of 10,000 files | ${describe(results.big_workspace.files_10000)} |`);
lines.push(`| time to first result (create + run) | ${describe(results.first_result.create_and_run)}; raw spawn ${describe(results.first_result.raw_spawn)} |`);
const live = results.live;
lines.push(`| wrangler dev by itself: GET /health (the Worker, no Durable Object) | ${describe(live.health)} |`, `| live session: GET of the session | ${describe(live.get)} |`, `| live session: context run of \`x += 1\` | ${describe(live.context_run)} |`, `| live session: fresh-process run | ${describe(live.fresh_run)} |`, `| streamed run: first chunk, before a 1 s sleep | ${describe(live.first_chunk)} |`, `| context restore: checkpoint of ${(live.restore.checkpoint_bytes / 1048576).toFixed(1)} MiB, warm context run | ${describe(live.restore.warm_run)} |`, `| context restore: first run after the sandbox was recycled (checkpoint loaded) | ${describe(live.restore.restored_run)} |`, `| context restore: the plain run before it, which injects the workspace | ${describe(live.restore.inject_plain_run)} |`);
const pr = results.ports;
lines.push(`| background process: POST …/processes (python -m http.server 8000) to a 200 through /ports/8000/ | ${describe(pr.start_to_200)} |`, `| port route: GET of a 1 KiB file through /ports/8000/ | ${describe(pr.through_route)} |`, `| the same GET from inside the session, on its loopback | ${describe(pr.direct_loopback)} |`);
for (const [k, v] of Object.entries(results.cold_restore)) lines.push(`| cold restore (executor restarted empty), ${k}, then a run | ${describe(v)} |`);
for (const [k, v] of Object.entries(results.persistence)) lines.push(`| R2 per run, ${k} files | nothing changed: ${v.unchanged.writes} writes, ${v.unchanged.bytes} B; one file changed: ${v.one_changed.writes} writes, ${v.one_changed.bytes} B |`);
const n = results.installs.npm_lodash;
lines.push(`| npm lodash (${n.files} files) | installer alone ${n.raw_installer_ms.toFixed(0)} ms; install + persist through the API ${n.install_and_persist_ms.toFixed(0)} ms; after an empty restart, restore + import ${n.cold_restore_and_import_ms.toFixed(0)} ms |`);
const p = results.installs.pip_tabulate;
lines.push(`| pip tabulate | installer alone ${p.raw_installer_ms.toFixed(0)} ms; install + persist through the API ${p.install_and_persist_ms.toFixed(0)} ms |`);
const c = results.concurrency;
lines.push(`| concurrency ${c.sessions} sessions × ${c.runs} runs | ${c.throughput_per_s.toFixed(1)} runs/s, ${c.errors} errors, ${c.lost_updates} lost updates, latency ${describe(c.latency)} |`);
const m = results.memory;
lines.push(`| memory | executor RSS idle ${(m.executor_rss_idle_kib / 1024).toFixed(1)} MiB, after 100 runs ${(m.executor_rss_after_100_runs_kib / 1024).toFixed(1)} MiB; Worker wasm ${(m.worker_wasm_bytes / 1024).toFixed(0)} KiB (${(m.worker_wasm_gzip_bytes / 1024).toFixed(0)} KiB gzipped) |`);
const cc = results.container_cold_start;
if (cc) {
  lines.push(`| container mode: new session's first answer (create + run; container start, executor ready behind the sidecar) | ${describe(cc.new_session)} |`);
  lines.push(`| container mode: woken session's first answer after its container slept (idle ${cc.idle_ms} ms) | ${describe(cc.woken)} |`);
} else lines.push("| container mode cold starts | not measured (needs root and Podman) |");
const table = lines.join("\n") + "\n";
console.log(table);
mkdirSync(join(root, "bench/results"), { recursive: true });
writeFileSync(join(root, "bench/results/latest.json"), JSON.stringify(results, null, 2));
const notesPath = join(root, "docs/benchmarks-notes.md");
let notes = "";
try {
  notes = "\n" + readFileSync(notesPath, "utf8");
} catch {}
writeFileSync(join(root, "docs/benchmarks.md"), table + notes);
log(`done in ${results.seconds.toFixed(0)} s; wrote bench/results/latest.json and docs/benchmarks.md`);
