// What a run costs in executor calls: a warm run is one call, whether the session's workspace
// is empty or not; only a run that finds the executor without the committed workspace (new to
// it, or restarted empty) injects first. Checked through a proxy in front of the executor that
// records every call the Worker makes.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { startExecutorProxy } from "../scripts/executor-proxy.mjs";
import { buildExecutor, freePort, startExecutor, startStack, stateParent, toolEnv } from "../scripts/stack.mjs";
import { call, uid } from "./helpers.mjs";

const h = {};
before(async () => {
  h.env = toolEnv();
  h.bin = buildExecutor(h.env);
  h.secret = randomBytes(24).toString("hex");
  h.port = await freePort();
  h.workRoot = join(stateParent(), `pipeline-${h.port}`, "executor");
  h.start = () => startExecutor({ bin: h.bin, port: h.port, workRoot: h.workRoot, secret: h.secret, env: h.env, fresh: true });
  h.executor = await h.start();
  h.proxy = await startExecutorProxy(h.port);
  h.stack = await startStack({ executorUrl: h.proxy.url, secret: h.secret });
});
after(async () => {
  await h.stack?.stop();
  if (h.executor && h.executor.exitCode === null && h.executor.signalCode === null) {
    const gone = new Promise((r) => h.executor.once("exit", r));
    h.executor.kill("SIGKILL");
    await gone;
  }
  await h.proxy?.close();
  rmSync(join(h.workRoot, ".."), { recursive: true, force: true });
});

/** Runs `code` and answers the executor calls it cost, as "path-tail status" strings. */
async function callsOf(id, code) {
  h.proxy.seen.length = 0;
  const r = await call(h.stack, "POST", `/api/sessions/${id}/run`, { code });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(r.json.exit_code, 0, JSON.stringify(r.json));
  return h.proxy.seen.map((s) => `${s.path.split("/").pop()} ${s.status}`);
}

test("a warm run in a session whose workspace is still empty is one executor call", async () => {
  const id = uid("empty");
  await call(h.stack, "POST", "/api/sessions", { id, language: "python" });
  await callsOf(id, "print(1)");
  // Before: the empty tree's version was never committed, so the executor's looked stale to
  // every later run, which injected first (three calls a run).
  for (let i = 0; i < 3; i++) assert.deepEqual(await callsOf(id, "print(1)"), ["run 200"], `run ${i + 2}`);
});

test("a warm run in a session with files is one executor call; after an empty restart the first one injects", async () => {
  const id = uid("files");
  await call(h.stack, "POST", "/api/sessions", { id, language: "python" });
  await callsOf(id, "open('a.txt', 'w').write('kept')");
  assert.deepEqual(await callsOf(id, "print(open('a.txt').read())"), ["run 200"]);
  h.executor.kill("SIGKILL");
  await new Promise((r) => h.executor.once("exit", r));
  h.executor = await h.start();
  assert.deepEqual(await callsOf(id, "print(open('a.txt').read())"), ["run 409", "inject 200", "run 200"]);
  assert.deepEqual(await callsOf(id, "print(open('a.txt').read())"), ["run 200"]);
});
