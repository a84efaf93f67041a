// Persistence: what a run costs in R2 (read from the local R2 persist directory), and that a crash
// between the R2 write and the SQLite commit, a failing R2 write, or restarts lose nothing.
import assert from "node:assert/strict";
import { test } from "node:test";
import { assertError, call, r2Diff, r2State, uid, useStack } from "./helpers.mjs";

const h = useStack();
const run = (id, body) => call(h.stack, "POST", `/api/sessions/${id}/run`, body);

async function snapshot(id) {
  const session = (await call(h.stack, "GET", `/api/sessions/${id}`)).json;
  const files = (await call(h.stack, "GET", `/api/sessions/${id}/files`)).json.files;
  const contents = {};
  for (const f of files) contents[f.path] = Buffer.from((await call(h.stack, "GET", `/api/sessions/${id}/files/${encodeURIComponent(f.path)}`)).bytes).toString("base64");
  return { data: session.data, run_count: session.run_count, files: files.map((f) => [f.path, f.size]), contents };
}

test("R2 writes per run do not grow with the file count, bytes follow what changed", async () => {
  const costs = {};
  for (const n of [10, 1000]) {
    const id = uid(`cost${n}`);
    await call(h.stack, "POST", "/api/sessions", { id, language: "python" });
    const mk = await run(id, { code: `import os\nos.makedirs('d', exist_ok=True)\nfor i in range(${n}):\n    open(f'd/f{i}.txt','w').write('x' * 100)` });
    assert.equal(mk.json.exit_code, 0, mk.text);
    let before = await r2State(h.stack);
    await run(id, { code: "print('no change')" });
    let after = await r2State(h.stack);
    const idle = r2Diff(before, after);
    before = after;
    await run(id, { code: "open('d/f7.txt','w').write('y' * 100)" });
    after = await r2State(h.stack);
    const one = r2Diff(before, after);
    costs[n] = { idle, one };
    assert.equal(idle.writes, 0, `a run that changes nothing writes nothing (${n} files)`);
    assert.equal(idle.bytes, 0);
    assert.equal(one.writes, 1, `one changed file is one R2 object (${n} files)`);
    assert.ok(one.bytes < 4096, `one changed 100-byte file writes ${one.bytes} bytes (${n} files)`);
    const files = (await call(h.stack, "GET", `/api/sessions/${id}/files`)).json;
    assert.equal(files.count, n);
    assert.equal((await call(h.stack, "GET", `/api/sessions/${id}/files/d/f7.txt`)).text, "y".repeat(100));
  }
  assert.equal(costs[10].one.writes, costs[1000].one.writes);
  assert.equal(costs[10].one.bytes, costs[1000].one.bytes, "bytes follow what changed, not the workspace");
});

test("an R2 write that fails keeps the last committed state and the next run works", async () => {
  const id = uid("r2fail");
  await call(h.stack, "POST", "/api/sessions", { id, language: "python", data: { n: 1 } });
  await run(id, { code: "open('a.txt','w').write('v1')" });
  const before = await snapshot(id);
  await h.stack.restartWrangler({ vars: { FAILPOINT: "r2-put" } });
  const failed = await run(id, { code: "import json\nopen('a.txt','w').write('v2')\njson.dump({'n': 2}, open('.session_data.json','w'))" });
  assertError(assert, failed, 500);
  assert.match(failed.json.error, /not kept/);
  await h.stack.restartWrangler({ vars: {} });
  assert.deepEqual(await snapshot(id), before);
  const next = await run(id, { code: "print(open('a.txt').read())" });
  assert.equal(next.json.stdout, "v1\n", next.text);
});

test("workerd killed between the R2 write and the SQLite commit: the previous state reads back and the orphan is collected", async () => {
  const id = uid("crash");
  await call(h.stack, "POST", "/api/sessions", { id, language: "python", data: { n: 1 } });
  await run(id, { code: "open('a.txt','w').write('v1')" });
  const before = await snapshot(id);
  const r2Before = await r2State(h.stack);
  await h.stack.restartWrangler({ vars: { FAILPOINT: "hang-after-r2-put" } });
  const pending = run(id, { code: "import json\nopen('a.txt','w').write('v2')\nopen('b.txt','w').write('new')\njson.dump({'n': 2}, open('.session_data.json','w'))" }).catch((e) => e);
  const until = Date.now() + 60_000;
  let orphan;
  while (!orphan && Date.now() < until) {
    const now = await r2State(h.stack);
    orphan = [...now.objects.keys()].find((k) => !r2Before.objects.has(k) && k.startsWith(`packs/${id}/`));
    if (!orphan) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(orphan, "the run's pack reached R2");
  await h.stack.restartWrangler({ signal: "SIGKILL", vars: {} });
  await pending;
  assert.deepEqual(await snapshot(id), before, "the last committed state, exactly");
  const after = await r2State(h.stack);
  assert.ok(!after.objects.has(orphan), "the orphaned pack was collected");
  const next = await run(id, { code: "import os\nprint(open('a.txt').read(), os.path.exists('b.txt'))" });
  assert.equal(next.json.stdout, "v1 False\n", next.text);
  assert.deepEqual(next.json.data, { n: 1 });
});

test("sessions survive restarts of wrangler dev and of the executor together", async () => {
  const id = uid("both");
  await call(h.stack, "POST", "/api/sessions", { id, language: "node", data: { k: "v" } });
  await run(id, { code: "require('fs').writeFileSync('keep.json', JSON.stringify({ok: true}))" });
  await h.stack.restartWrangler({ vars: {} });
  await h.stack.restartExecutor({ fresh: true });
  const r = await run(id, { code: "console.log(require('fs').readFileSync('keep.json','utf8'))" });
  assert.equal(r.json.stdout, '{"ok":true}\n', r.text);
  assert.deepEqual(r.json.data, { k: "v" });
  const list = await call(h.stack, "GET", "/api/sessions?limit=1000");
  assert.ok(list.json.sessions.some((s) => s.id === id));
});

test("many small changes are compacted: live packs stay bounded and everything reads back", async () => {
  const id = uid("compact");
  await call(h.stack, "POST", "/api/sessions", { id, language: "python" });
  for (let i = 0; i < 24; i++) {
    const r = await run(id, { code: `open('f${i}.txt','w').write('content ${i}')` });
    assert.equal(r.json.exit_code, 0, r.text);
  }
  const objects = [...(await r2State(h.stack)).objects.keys()].filter((k) => k.startsWith(`packs/${id}/`));
  assert.ok(objects.length <= 17, `${objects.length} packs after 24 runs`);
  assert.ok(objects.some((k) => k.endsWith("-compact")), objects.join(", "));
  await h.stack.restartExecutor({ fresh: true });
  const r = await run(id, { code: "print(sum(1 for i in range(24) if open(f'f{i}.txt').read() == f'content {i}'))" });
  assert.equal(r.json.stdout, "24\n", r.text);
  assert.equal((await call(h.stack, "GET", `/api/sessions/${id}/files/f3.txt`)).text, "content 3");
});

test("uploads and deletions reach a running executor as small deltas, without a full inject", async () => {
  const { statSync } = await import("node:fs");
  const id = uid("apply");
  await call(h.stack, "POST", "/api/sessions", { id, language: "python" });
  await run(id, { code: "import os\nos.makedirs('big', exist_ok=True)\nfor i in range(500):\n    open(f'big/{i}','w').write('x' * 1000)" });
  const ws = `${h.stack.workRoot}/${id}/ws`;
  const inode = statSync(ws).ino;
  const put = await call(h.stack, "PUT", `/api/sessions/${id}/files/new/dir/up.txt`, "uploaded");
  assert.equal(put.status, 200);
  assert.equal((await call(h.stack, "DELETE", `/api/sessions/${id}/files/big/7`)).status, 200);
  const r = await run(id, { code: "import os\nprint(open('new/dir/up.txt').read(), os.path.exists('big/7'), len(os.listdir('big')))" });
  assert.equal(r.json.stdout, "uploaded False 499\n", r.text);
  assert.equal(statSync(ws).ino, inode, "the workspace was updated in place, not re-injected");
  await h.stack.restartExecutor({ fresh: true });
  const again = await run(id, { code: "import os\nprint(open('new/dir/up.txt').read(), os.path.exists('big/7'))" });
  assert.equal(again.json.stdout, "uploaded False\n", again.text);
});

test("the periodic sweep collects what a failed deletion left behind and keeps shared packs", async () => {
  const id = uid("sweep");
  await call(h.stack, "POST", "/api/sessions", { id, language: "python" });
  await run(id, { code: "open('a.txt','w').write('doomed')" });
  const tpl = uid("sweeptpl");
  await call(h.stack, "POST", "/api/sessions", { id: tpl, language: "python" });
  await run(tpl, { code: "open('shared.txt','w').write('shared')" });
  const copy = (await call(h.stack, "POST", `/api/sessions/${tpl}/duplicate`, {})).json.id;
  const keysOf = async (sid) => [...(await r2State(h.stack)).objects.keys()].filter((k) => k.startsWith(`packs/${sid}/`));
  await h.stack.restartWrangler({ vars: { FAILPOINT: "keep-packs-on-delete" } });
  assert.equal((await call(h.stack, "DELETE", `/api/sessions/${id}`)).status, 200);
  assert.ok((await keysOf(id)).length > 0, "the failed deletion left its packs behind");
  await h.stack.restartWrangler({ vars: { SWEEP_INTERVAL_MS: "500", ORPHAN_MIN_AGE_MS: "0" } });
  await call(h.stack, "POST", "/api/sessions", { language: "bash" }); // wakes the registry, which schedules its sweep
  const until = Date.now() + 30_000;
  while ((await keysOf(id)).length > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 250));
  assert.deepEqual(await keysOf(id), [], "orphaned packs collected by the sweep");
  assert.ok((await keysOf(tpl)).length > 0, "packs held by a template and its copy are kept");
  await h.stack.restartWrangler({ vars: {} });
  assert.equal((await call(h.stack, "DELETE", `/api/sessions/${tpl}`)).status, 200);
  await h.stack.restartExecutor({ fresh: true });
  const r = await run(copy, { code: "print(open('shared.txt').read())" });
  assert.equal(r.json.stdout, "shared\n", r.text);
});
