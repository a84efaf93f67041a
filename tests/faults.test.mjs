// Faults at the executor: killed (SIGKILL) in the middle of a run, of an inject and of an extract.
// After each, the session shows its last committed state exactly, the failed run reports a clear
// error, and the next run succeeds.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { assertError, call, uid, useStack } from "./helpers.mjs";

const h = useStack();
const run = (id, body) => call(h.stack, "POST", `/api/sessions/${id}/run`, body);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function snapshot(id) {
  const s = (await call(h.stack, "GET", `/api/sessions/${id}`)).json;
  const files = (await call(h.stack, "GET", `/api/sessions/${id}/files`)).json.files;
  const hashes = {};
  for (const f of files) hashes[f.path] = createHash("sha256").update((await call(h.stack, "GET", `/api/sessions/${id}/files/${encodeURIComponent(f.path)}`)).bytes).digest("hex");
  return { data: s.data, run_count: s.run_count, hashes };
}

async function committedSession() {
  const id = uid("fault");
  await call(h.stack, "POST", "/api/sessions", { id, language: "python", data: { n: 1 } });
  const r = await run(id, { code: "import os\nos.makedirs('d', exist_ok=True)\nfor i in range(300):\n    open(f'd/{i}.txt','w').write(str(i) * 100)\nopen('a.txt','w').write('v1')" });
  assert.equal(r.json.exit_code, 0, r.text);
  return { id, before: await snapshot(id) };
}

async function afterKill(id, before, pending) {
  await h.stack.restartExecutor({ fresh: false });
  const failed = await pending;
  assertError(assert, failed, 503);
  assert.match(failed.json.error, /did not answer|no executor answered/);
  const now = await snapshot(id);
  assert.deepEqual({ ...now, run_count: undefined }, { ...before, run_count: undefined }, "the last committed state, exactly");
  assert.equal(now.run_count, before.run_count, "the failed run is not counted");
  const next = await run(id, { code: "import json\nprint(open('a.txt').read(), len(open('d/7.txt').read()))" });
  assert.equal(next.json.stdout, "v1 100\n", next.text);
  assert.deepEqual(next.json.data, { n: 1 });
}

/** Starts a run on a committed session (with the executor paused at `failpoint`, if given),
 * kills the executor 1.5 s in, and checks what is left. */
async function killedMidway(code, { failpoint, fresh = false } = {}) {
  const { id, before } = await committedSession();
  if (failpoint) await h.stack.restartExecutor({ fresh, extraEnv: { EDGERUN_FAILPOINT: failpoint } });
  const pending = run(id, { code });
  await sleep(1500);
  await afterKill(id, before, pending);
  return id;
}

test("executor killed in the middle of a run", async () => {
  const id = await killedMidway("import json, time\nopen('a.txt','w').write('v2')\njson.dump({'n': 2}, open('.session_data.json','w'))\ntime.sleep(30)");
  // The run's processes are found by their working directory, the session's workspace (their
  // command line names the code as the run sees it, which under private mounts is a fixed path).
  const inWorkspace = readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return readlinkSync(`/proc/${p}/cwd`).includes(`/${id}/ws`);
      } catch {
        return false;
      }
    });
  assert.deepEqual(inWorkspace, [], "the run's processes were killed when the executor started again");
});

test("executor killed in the middle of an inject", async () => {
  const id = await killedMidway("print('never')", { failpoint: "inject-before-swap", fresh: true });
  const root = join(h.stack.workRoot, id);
  assert.ok(!existsSync(join(root, "ws.new")) && !existsSync(join(root, "ws.old")), readdirSync(root).join(","));
});

test("executor killed in the middle of an extract", async () => {
  await killedMidway("import json\nopen('a.txt','w').write('v2')\nopen('new.txt','w').write('x')\njson.dump({'n': 2}, open('.session_data.json','w'))", { failpoint: "run-before-extract" });
});
