// The client libraries (#15) against a real local stack with a token: the TypeScript client
// (clients/typescript: its generated types are what docs/openapi.json generates, its declarations
// type-check, and it runs every scenario), and the Python client (clients/python: installed with
// pip, then its pytest suite, sync and async, against the same stack).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { Edgerun, EdgerunError, parseEventStream } from "../clients/typescript/src/index.js";
import { uid, useStack } from "./helpers.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const tsDir = join(root, "clients/typescript");
const TOKEN = "client-token-" + uid("t");
const h = useStack({ vars: { API_TOKEN: TOKEN, PORT_URL_SECRET: `key-${TOKEN}` } });
const client = () => new Edgerun({ baseUrl: h.stack.url, token: TOKEN });
const RUN_ID = /^run_[0-9a-f]{24}$/;
const PRINT_SLEEP_PRINT = "import time\nprint('a', flush=True)\ntime.sleep(1)\nprint('b', flush=True)";
const LONG_RUN = "import time\nprint('started', flush=True)\ntime.sleep(30)\nprint('never')";

/** Runs `fn` expecting an EdgerunError of that status and code; answers it. */
async function rejects(fn, status, code) {
  try {
    await fn();
  } catch (e) {
    assert.ok(e instanceof EdgerunError, `an EdgerunError, got ${e}`);
    assert.equal(e.status, status, e.message);
    assert.equal(e.code, code, e.message);
    assert.ok(e.message.length > 0);
    return e;
  }
  assert.fail(`expected ${status} ${code}, nothing was thrown`);
}

const node = (args, opts = {}) => spawnSync(process.execPath, args, { cwd: tsDir, encoding: "utf8", ...opts });

test("typescript: src/schema.d.ts is what docs/openapi.json generates, and --check fails when it is stale", () => {
  const ok = node(["scripts/generate.mjs", "--check"]);
  assert.equal(ok.status, 0, `the generated types are stale:\n${ok.stderr}`);
  // A document with one more field: the committed types no longer match it.
  const doc = JSON.parse(readFileSync(join(root, "docs/openapi.json"), "utf8"));
  doc.components.schemas.RunResponse.properties.extra_field = { type: "string" };
  const dir = mkdtempSync(join(tmpdir(), "edgerun-openapi-"));
  try {
    writeFileSync(join(dir, "openapi.json"), JSON.stringify(doc));
    const stale = node(["scripts/generate.mjs", "--check", "--schema", join(dir, "openapi.json")]);
    assert.equal(stale.status, 1, stale.stdout + stale.stderr);
    assert.match(stale.stderr, /is stale/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const schema = readFileSync(join(tsDir, "src/schema.d.ts"), "utf8");
  assert.match(schema, /export interface operationEvents \{/);
  assert.match(schema, /run: \{\n\s+"error": components\["schemas"\]\["Error"\];\n\s+"exit": components\["schemas"\]\["RunResponse"\];/, "the run's x-events are typed");
});

test("typescript: the declarations type-check with the generated types (tsc, strict), @ts-expect-error lines included", () => {
  const tsc = node([join(tsDir, "node_modules/typescript/bin/tsc"), "-p", "."]);
  assert.equal(tsc.status, 0, `tsc:\n${tsc.stdout}${tsc.stderr}`);
});

test("typescript: the packed package installs by name; a TypeScript program using it runs under Node's type stripping and type-checks", async () => {
  const dir = mkdtempSync(join(tmpdir(), "edgerun-tsclient-"));
  try {
    const npm = (args) => spawnSync(process.execPath, [process.env.EDGERUN_NPM_CLI, ...args, "--no-audit", "--no-fund", "--loglevel=error"], { cwd: dir, encoding: "utf8" });
    const pack = npm(["pack", "--silent", "--pack-destination", dir, tsDir]);
    assert.equal(pack.status, 0, pack.stderr);
    writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module", private: true }));
    const install = npm(["install", "--offline", `./${pack.stdout.trim()}`]);
    assert.equal(install.status, 0, install.stderr);
    writeFileSync(
      join(dir, "main.ts"),
      `import { Edgerun, EdgerunError, type RunResponse } from "@edgerun/client";
const client = new Edgerun({ baseUrl: process.env.EDGERUN_URL!, token: process.env.EDGERUN_TOKEN });
const s = await client.sessions.create({ language: "bash" });
const r: RunResponse = await s.run("echo from-typescript");
let streamed = "";
for await (const ev of s.stream("echo streamed")) if (ev.event === "stdout") streamed += ev.data.data;
await s.delete();
const e = await client.sessions.get(s.id).catch((e: unknown) => e);
console.log(JSON.stringify({ out: r.stdout, streamed, gone: e instanceof EdgerunError ? e.code : null }));
`,
    );
    writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({ compilerOptions: { strict: true, noEmit: true, module: "nodenext", moduleResolution: "nodenext", target: "es2022", lib: ["es2022", "dom"], types: [] }, files: ["main.ts", "env.d.ts"] }));
    writeFileSync(join(dir, "env.d.ts"), "declare const process: { env: Record<string, string | undefined> };\n");
    const tsc = spawnSync(process.execPath, [join(tsDir, "node_modules/typescript/bin/tsc"), "-p", "."], { cwd: dir, encoding: "utf8" });
    assert.equal(tsc.status, 0, `tsc:\n${tsc.stdout}${tsc.stderr}`);
    const run = spawnSync(process.execPath, ["main.ts"], { cwd: dir, encoding: "utf8", env: { ...process.env, EDGERUN_URL: h.stack.url, EDGERUN_TOKEN: TOKEN } });
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), { out: "from-typescript\n", streamed: "streamed\n", gone: "not_found" });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("typescript: create, run, a failed run, history, getRun, idempotency, delete", async () => {
  const c = client();
  const s = await c.sessions.create({ language: "python", id: uid("ts-run"), metadata: { owner: "ada" } });
  assert.equal(s.info.language, "python");
  assert.deepEqual(s.info.metadata, { owner: "ada" });
  const r = await s.run("print(1)");
  assert.equal(r.stdout, "1\n");
  assert.equal(r.exit_code, 0);
  assert.equal(r.killed_by, null);
  assert.equal(r.session_id, s.id);
  assert.match(r.run_id, RUN_ID);
  const failed = await s.run("import sys\nprint('oops', file=sys.stderr)\nraise SystemExit(3)");
  assert.equal(failed.exit_code, 3);
  assert.equal(failed.stderr, "oops\n");
  assert.deepEqual(await s.getRun(failed.run_id), failed);
  assert.deepEqual((await s.runs()).runs.map((e) => e.run_id), [failed.run_id, r.run_id]);
  assert.deepEqual((await s.runs({ limit: 1 })).runs.map((e) => e.exit_code), [3]);
  const key = uid("key");
  const first = await s.run("import uuid; print(uuid.uuid4())", { idempotencyKey: key });
  const again = await s.run("import uuid; print(uuid.uuid4())", { idempotencyKey: key });
  assert.deepEqual(again, first, "a retry with the same key answers the first answer");
  assert.equal((await s.refresh()).run_count, 3);
  assert.ok((await c.sessions.list({ limit: 1000 })).sessions.some((x) => x.id === s.id));
  assert.deepEqual(await s.delete(), { deleted: s.id });
  await rejects(() => c.sessions.get(s.id), 404, "not_found");
});

test("typescript: a streamed run yields its first line while the program sleeps, then the rest and exit", async () => {
  const s = await client().sessions.create({ language: "python", id: uid("ts-sse") });
  const t0 = Date.now();
  const seen = [];
  for await (const ev of s.stream(PRINT_SLEEP_PRINT)) seen.push({ ...ev, at: Date.now() });
  assert.equal(seen[0].event, "run");
  assert.match(seen[0].data.run_id, RUN_ID);
  const out = seen.filter((e) => e.event === "stdout");
  assert.equal(out.map((e) => e.data.data).join(""), "a\nb\n");
  const a = out.find((e) => e.data.data.includes("a"));
  const b = out.find((e) => e.data.data.includes("b"));
  assert.ok(b.at - a.at >= 900, `"a" was read ${b.at - a.at} ms before "b": not before "b" was printed`);
  assert.ok(a.at - t0 < 5000);
  const exit = seen.at(-1);
  assert.equal(exit.event, "exit");
  assert.equal(exit.data.stdout, "a\nb\n");
  assert.equal(exit.data.run_id, seen[0].data.run_id);
  assert.deepEqual(await s.getRun(exit.data.run_id), exit.data);
  // A consumer that stops early closes the stream; the run still ends and is kept.
  let runId;
  for await (const ev of s.stream("import time\nprint('x', flush=True)\ntime.sleep(1)\nprint('y')")) {
    if (ev.event === "run") runId = ev.data.run_id;
    if (ev.event === "stdout") break;
  }
  let kept;
  for (let i = 0; i < 50 && !kept; i++) {
    kept = await s.getRun(runId).catch((e) => (e.status === 404 ? null : Promise.reject(e)));
    if (!kept) await new Promise((r) => setTimeout(r, 200));
  }
  assert.equal(kept?.stdout, "x\ny\n");
  // Refusals before the stream begins throw.
  await rejects(async () => {
    for await (const _ of client().sessions.session(uid("nobody")).stream("print(1)"));
  }, 404, "not_found");
  await s.delete();
});

test("typescript: files write, read, list and delete", async () => {
  const s = await client().sessions.create({ language: "python", id: uid("ts-files") });
  assert.deepEqual(await s.files.write("dir/notes é.txt", "kept\n"), { path: "dir/notes é.txt", size: 5 });
  const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
  assert.equal((await s.files.write("blob.bin", bytes)).size, 256);
  assert.equal(await s.files.readText("dir/notes é.txt"), "kept\n");
  assert.deepEqual(await s.files.read("blob.bin"), bytes);
  const listing = await s.files.list();
  assert.deepEqual(listing.files.map((f) => [f.path, f.size]), [["blob.bin", 256], ["dir/notes é.txt", 5]]);
  assert.equal(listing.count, 2);
  assert.equal((await s.run("print(open('dir/notes é.txt').read(), end='')")).stdout, "kept\n", "a run sees the upload");
  assert.deepEqual(await s.files.delete("dir/notes é.txt"), { deleted: "dir/notes é.txt" });
  assert.deepEqual((await s.files.list()).files.map((f) => f.path), ["blob.bin"]);
  await rejects(() => s.files.read("dir/notes é.txt"), 404, "not_found");
  await s.delete();
});

test("typescript: PATCH a setting, setup (waited for, and followed as events), stored code", async () => {
  const s = await client().sessions.create({ language: "python", id: uid("ts-set") });
  const info = await s.patch({ default_timeout: 1, metadata: { team: "data" } });
  assert.equal(info.default_timeout, 1);
  assert.deepEqual(info.metadata, { team: "data" });
  assert.equal((await s.refresh()).default_timeout, 1);
  const slow = await s.run("import time; time.sleep(5)");
  assert.equal(slow.killed_by, "timeout", "the patched default_timeout applies");
  assert.equal((await s.patch({ default_timeout: null })).default_timeout, null);

  const done = await s.setup({ commands: ["echo prepared > ready.txt"] }, { wait: true });
  assert.equal(done.setup_status, "completed", done.setup_log);
  assert.equal(s.info, done);
  assert.equal(await s.files.readText("ready.txt"), "prepared\n");
  await s.setup({ commands: ["echo step one", "sleep 2", "echo step two"] });
  const seen = [];
  for await (const ev of s.setupEvents()) seen.push({ ...ev, at: Date.now() });
  const one = seen.find((e) => e.event === "stdout" && e.data.data.includes("step one"));
  const two = seen.find((e) => e.event === "stdout" && e.data.data.includes("step two"));
  assert.ok(two.at - one.at >= 800, `${two.at - one.at} ms between the setup's lines: its output streams as it comes`);
  assert.equal(seen.at(-1).event, "exit");
  assert.equal(seen.at(-1).data.setup_status, "completed");
  assert.equal(seen.at(-1).data.id, s.id);
  const after = [];
  for await (const ev of s.setupEvents()) after.push(ev.event);
  assert.deepEqual(after, ["exit"], "once over, the events answer at once");

  await rejects(() => s.run(), 422, "invalid_field");
  await rejects(() => s.getCode(), 404, "not_found");
  const stored = await s.setCode("print('from stored code')", { description: "greets" });
  assert.equal(stored.code_length, "print('from stored code')".length);
  assert.equal(stored.description, "greets");
  assert.equal((await s.getCode()).code, "print('from stored code')");
  assert.equal((await s.run()).stdout, "from stored code\n");
  assert.equal((await s.run("print('given')")).stdout, "given\n");
  const copy = await s.duplicate();
  assert.equal((await copy.run()).stdout, "from stored code\n", "the copy has the stored code");
  await copy.delete();
  await s.delete();
});

test("typescript: cancel ends the running run", async () => {
  const s = await client().sessions.create({ language: "python", id: uid("ts-cancel") });
  await rejects(() => s.cancel(), 409, "conflict");
  let runId, cancelled, at, last;
  let out = "";
  for await (const ev of s.stream(LONG_RUN)) {
    if (ev.event === "run") runId = ev.data.run_id;
    if (ev.event === "stdout") out += ev.data.data;
    if (out === "started\n" && !cancelled) {
      // The whole line is out: the program sleeps.
      cancelled = await s.cancel();
      at = Date.now();
    }
    last = ev;
  }
  assert.deepEqual(cancelled, { cancelled: runId });
  assert.ok(Date.now() - at < 5000);
  assert.equal(last.event, "exit");
  assert.equal(last.data.killed_by, "cancelled");
  assert.equal(last.data.exit_code, 137);
  assert.equal(last.data.signal, "SIGKILL");
  assert.equal(last.data.stdout, "started\n");
  await s.delete();
});

test("typescript: errors carry the API's code and status; execute", async () => {
  const c = client();
  const missing = await rejects(() => c.sessions.get(uid("missing")), 404, "not_found");
  assert.equal(missing.body.code, "not_found");
  const noLanguage = await rejects(() => c.sessions.create({}), 422, "invalid_field");
  assert.match(noLanguage.message, /language/);
  await rejects(() => c.sessions.create({ language: "cobol" }), 400, "bad_request");
  await rejects(() => new Edgerun({ baseUrl: h.stack.url, token: "wrong" }).sessions.list(), 401, "unauthorized");
  const anonymous = new Edgerun({ baseUrl: h.stack.url });
  assert.equal((await anonymous.health()).status, "ok", "health needs no token");
  await rejects(() => anonymous.sessions.list(), 401, "unauthorized");

  const r = await c.execute({ language: "python", code: "print(6 * 7)" });
  assert.equal(r.stdout, "42\n");
  assert.equal(r.session_id, undefined);
  const events = [];
  for await (const ev of c.executeStream({ language: "bash", code: "echo one; echo two >&2; exit 2" })) events.push(ev);
  assert.equal(events[0].event, "run");
  assert.equal(events.filter((e) => e.event === "stdout").map((e) => e.data.data).join(""), "one\n");
  assert.equal(events.filter((e) => e.event === "stderr").map((e) => e.data.data).join(""), "two\n");
  assert.equal(events.at(-1).event, "exit");
  assert.equal(events.at(-1).data.exit_code, 2);
});

test("typescript: the event-stream parser follows the spec (CRLF split across chunks, joined data lines, comments)", async () => {
  const chunks = [": keep-alive\r", "\nevent: stdout\r\ndata:{\"data\":\r\n", "data: \"x\"}\r\nid: 7\r\n\r", "\ndata: [1]\n\nevent: lonely\n\n"];
  const body = new ReadableStream({
    start(ctl) {
      for (const c of chunks) ctl.enqueue(new TextEncoder().encode(c));
      ctl.close();
    },
  });
  const got = [];
  for await (const ev of parseEventStream(body)) got.push(ev);
  assert.deepEqual(got, [{ event: "stdout", data: { data: "x" } }, { event: "message", data: [1] }]);
});

test("typescript: background processes, their logs followed, input, their port and a signed address", async () => {
  const s = await client().sessions.create({ language: "python", id: uid("ts-proc") });
  await s.run("open('index.html', 'w').write('from ts')");
  const server = await s.startProcess("exec python3 -m http.server 8000 --bind 127.0.0.1", { maxSeconds: 600 });
  assert.match(server.id, /^proc_[0-9a-f]{24}$/);
  assert.equal(server.status, "running");
  let page;
  for (let i = 0; i < 100 && !page; i++) {
    try {
      page = await s.port(8000, "/index.html");
    } catch (e) {
      if (e.code !== "sandbox_failed") throw e;
      await new Promise((res) => setTimeout(res, 50));
    }
  }
  assert.equal(await page.text(), "from ts");
  const u = await s.portUrl(8000, { expiresIn: 60 });
  assert.equal(await (await fetch(`${u.url}index.html`)).text(), "from ts", "the signed address needs no token");
  const ticks = await s.startProcess("for i in 1 2; do echo tick $i; sleep 0.2; done");
  const events = [];
  for await (const ev of s.followProcess(ticks.id)) events.push(ev);
  assert.equal(events.filter((e) => e.event === "stdout").map((e) => e.data.data).join(""), "tick 1\ntick 2\n");
  assert.deepEqual([events.at(-1).event, events.at(-1).data.status], ["exit", "exited"]);
  const cat = await s.startProcess("cat");
  assert.equal((await s.processInput(cat.id, "hi\n", { eof: true })).id, cat.id);
  let logs;
  for (let i = 0; i < 100; i++) {
    logs = await s.processLogs(cat.id);
    if (logs.process.status !== "running") break;
    await new Promise((res) => setTimeout(res, 50));
  }
  assert.deepEqual([logs.stdout, logs.process.status, logs.process.exit_code], ["hi\n", "exited", 0]);
  assert.deepEqual((await s.processes()).processes.map((p) => p.id), [server.id, ticks.id, cat.id]);
  assert.equal((await s.process(server.id)).status, "running");
  const stopped = await s.stopProcess(server.id);
  assert.deepEqual([stopped.status, stopped.killed_by], ["killed", "deleted"]);
  await rejects(() => s.port(8000, "/index.html"), 502, "sandbox_failed");
  await s.delete();
});

test("python: pip installs clients/python, and its pytest suite (sync and async) passes against the stack", { timeout: 300_000 }, () => {
  const py = process.env.EDGERUN_CLIENTS_PYTHON;
  assert.ok(py, "EDGERUN_CLIENTS_PYTHON is unset: run scripts/bootstrap.sh and source .state/env");
  const dir = mkdtempSync(join(tmpdir(), "edgerun-pyclient-"));
  try {
    // Built from a copy, so that the build leaves nothing in the source tree.
    const src = join(dir, "src");
    cpSync(join(root, "clients/python"), src, { recursive: true, filter: (p) => !/(__pycache__|\.egg-info|\/build)$/.test(p) });
    const target = join(dir, "site-packages");
    const pip = spawnSync(py, ["-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--disable-pip-version-check", "--target", target, src], { encoding: "utf8" });
    assert.equal(pip.status, 0, `pip install ./clients/python:\n${pip.stdout}${pip.stderr}`);
    const env = { ...process.env, PYTHONPATH: target, EDGERUN_CLIENT_TARGET: target, EDGERUN_URL: h.stack.url, EDGERUN_TOKEN: TOKEN, PYTHONDONTWRITEBYTECODE: "1" };
    const run = spawnSync(py, ["-m", "pytest", "-p", "no:cacheprovider", "-q", "-rfEs", join(root, "clients/python/tests")], { cwd: dir, env, encoding: "utf8", timeout: 280_000 });
    const output = run.stdout + run.stderr;
    console.log(output.trim().split("\n").slice(-3).join("\n"));
    assert.equal(run.status, 0, `pytest failed:\n${output}`);
    const summary = output.split("\n").findLast((l) => / passed/.test(l)) ?? "";
    assert.ok(Number(/(\d+) passed/.exec(summary)?.[1]) >= 9, `pytest ran too few tests:\n${output}`);
    assert.doesNotMatch(summary, /failed|skipped|error|xfail/, "every test ran and passed");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
