// The ERA-compatible sessions API end to end: every route, its error cases, and the ERA examples.
import assert from "node:assert/strict";
import { test } from "node:test";
import { assertError, call, uid, useStack } from "./helpers.mjs";

const h = useStack();
const run = (id, body) => call(h.stack, "POST", `/api/sessions/${id}/run`, body);
const create = (body) => call(h.stack, "POST", "/api/sessions", body);

async function waitSetup(id, ms = 120_000) {
  const until = Date.now() + ms;
  for (;;) {
    const s = await call(h.stack, "GET", `/api/sessions/${id}`);
    if (!["pending", "running"].includes(s.json.setup_status)) return s.json;
    if (Date.now() > until) throw new Error(`setup still ${s.json.setup_status}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

test("create answers the session object; a taken id is 409; generated ids are unguessable", async () => {
  const id = uid("create");
  const c = await create({ id, language: "python", metadata: { owner: "t" }, data: { count: 0 } });
  assert.equal(c.status, 201, c.text);
  for (const k of ["id", "language", "persistent", "created_at", "last_run_at", "run_count", "file_count", "total_size_bytes", "metadata", "data", "setup_status", "setup_log"]) {
    assert.ok(k in c.json, `${k} in ${c.text}`);
  }
  assert.equal(c.json.id, id);
  assert.equal(c.json.persistent, true);
  assert.equal(c.json.run_count, 0);
  assert.equal(c.json.last_run_at, null);
  assert.equal(c.json.setup_status, "none");
  assert.equal(c.json.setup_log, "");
  assert.deepEqual(c.json.metadata, { owner: "t" });
  assert.match(c.json.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
  assertError(assert, await create({ id, language: "node" }), 409, "conflict");
  const g = await create({ language: "bash" });
  assert.equal(g.status, 201);
  assert.match(g.json.id, /^sess_[0-9a-f]{32}$/);
  const alias = await create({ session_id: uid("alias"), language: "go" });
  assert.equal(alias.status, 201);
});

test("create and run refuse bad input with the contract's statuses and change nothing", async () => {
  assertError(assert, await create("{"), 400, "invalid_json");
  assertError(assert, await create({}), 422);
  assertError(assert, await create({ language: "cobol" }), 400);
  assertError(assert, await create({ language: "python", id: "no spaces" }), 400);
  assertError(assert, await create({ language: "python", persistent: "yes" }), 422);
  assertError(assert, await create({ language: "python", data: { big: "x".repeat(130 * 1024) } }), 413);
  assertError(assert, await create({ language: "python", metadata: { big: "x".repeat(17 * 1024) } }), 413);
  const id = uid("badrun");
  await create({ id, language: "python" });
  assertError(assert, await run(id, {}), 422);
  assertError(assert, await run(id, { code: "1", timeout: 0 }), 400);
  assertError(assert, await run(id, { code: "1", timeout: 301 }), 400);
  assertError(assert, await run(id, { code: "1", env: { A: 1 } }), 422);
  assertError(assert, await run(id, { code: "x".repeat(1024 * 1024 + 1) }), 413);
  assertError(assert, await run(uid("missing"), { code: "1" }), 404);
  const s = await call(h.stack, "GET", `/api/sessions/${id}`);
  assert.equal(s.json.run_count, 0, "refused runs are not counted");
  assertError(assert, await call(h.stack, "GET", `/api/sessions/${uid("nope")}`), 404, "not_found");
  assertError(assert, await call(h.stack, "PUT", `/api/sessions/${id}`), 405);
  assertError(assert, await call(h.stack, "PATCH", `/api/sessions/${id}`), 400, "invalid_json");
});

test("ERA counter: data persists across runs and the run answer has the ERA shape", async () => {
  const id = uid("counter");
  await create({ id, language: "python", data: { count: 0 } });
  const code = "import json\nd = json.load(open('.session_data.json'))\nd['count'] += 1\njson.dump(d, open('.session_data.json','w'))\nprint(d['count'])";
  for (let i = 1; i <= 3; i++) {
    const r = await run(id, { code });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.stdout, `${i}\n`);
    assert.deepEqual(r.json.data, { count: i });
    assert.equal(r.json.session_id, id);
    assert.equal(r.json.exit_code, 0);
    assert.equal(r.json.signal, null);
    assert.equal(r.json.killed_by, null);
    assert.equal(r.json.truncated, false);
    assert.match(r.json.duration, /^[\d.]+(ns|µs|ms|s)$/);
  }
  const s = await call(h.stack, "GET", `/api/sessions/${id}`);
  assert.equal(s.json.run_count, 3);
  assert.deepEqual(s.json.data, { count: 3 });
  assert.ok(s.json.last_run_at);
  const runs = await call(h.stack, "GET", `/api/sessions/${id}/runs?limit=2`);
  assert.equal(runs.json.count, 2);
  assert.equal(runs.json.runs.length, 2);
  assert.equal(runs.json.runs[0].language, "python");
  assert.equal(runs.json.runs[0].exit_code, 0);
  assertError(assert, await call(h.stack, "GET", `/api/sessions/${id}/runs?limit=101`), 400);
  assertError(assert, await call(h.stack, "GET", `/api/sessions/${id}/runs?limit=0`), 400);
  // Invalid JSON in the data file keeps the old data and says why.
  const bad = await run(id, { code: "open('.session_data.json','w').write('{oops')" });
  assert.deepEqual(bad.json.data, { count: 3 });
  assert.match(bad.json.stderr, /not valid JSON/);
});

test("ERA shopping cart in node: env, stdin and files between runs", async () => {
  const id = uid("cart");
  await create({ id, language: "node", data: { cart: [] } });
  const add = `const fs=require('fs');const d=JSON.parse(fs.readFileSync('.session_data.json'));const item=require('fs').readFileSync(0,'utf8').trim();d.cart.push({item, by: process.env.SHOPPER});fs.writeFileSync('.session_data.json',JSON.stringify(d));fs.appendFileSync('orders.log', item+'\\n');console.log(d.cart.length)`;
  await run(id, { code: add, stdin: "apple\n", env: { SHOPPER: "ada" } });
  const r = await run(id, { code: add, stdin: "pear", env: { SHOPPER: "bob" } });
  assert.equal(r.json.stdout, "2\n", r.text);
  assert.deepEqual(r.json.data.cart, [{ item: "apple", by: "ada" }, { item: "pear", by: "bob" }]);
  const log = await call(h.stack, "GET", `/api/sessions/${id}/files/orders.log`);
  assert.equal(log.text, "apple\npear\n");
});

test("files: upload, list, download exact bytes, delete; the next run sees them", async () => {
  const id = uid("files");
  await create({ id, language: "python" });
  const bytes = new Uint8Array(300_000).map((_, i) => (i * 7) % 256);
  const put = await call(h.stack, "PUT", `/api/sessions/${id}/files/data/in%20put.bin`, bytes, { "content-type": "application/octet-stream" });
  assert.equal(put.status, 200, put.text);
  assert.deepEqual(put.json, { path: "data/in put.bin", size: bytes.length });
  const csv = await call(h.stack, "PUT", `/api/sessions/${id}/files/sales.csv`, "region,amount\nnorth,10\nsouth,32\n", { "content-type": "text/csv" });
  assert.equal(csv.status, 200);
  const r = await run(id, { code: "import csv\nrows=list(csv.DictReader(open('sales.csv')))\ntotal=sum(int(r['amount']) for r in rows)\nopen('report.txt','w').write(f'total={total}')\nprint(len(open('data/in put.bin','rb').read()))" });
  assert.equal(r.json.stdout, "300000\n", r.text);
  const list = await call(h.stack, "GET", `/api/sessions/${id}/files`);
  assert.deepEqual(list.json.files.map((f) => f.path), ["data/in put.bin", "report.txt", "sales.csv"]);
  assert.equal(list.json.count, 3);
  assert.ok(list.json.files.every((f) => typeof f.uploaded === "string"));
  const s = await call(h.stack, "GET", `/api/sessions/${id}`);
  assert.equal(s.json.file_count, 3);
  assert.equal(s.json.total_size_bytes, list.json.files.reduce((a, f) => a + f.size, 0));
  const got = await call(h.stack, "GET", `/api/sessions/${id}/files/data/in%20put.bin`);
  assert.equal(got.status, 200);
  assert.deepEqual(got.bytes, bytes);
  const report = await call(h.stack, "GET", `/api/sessions/${id}/files/report.txt`);
  assert.equal(report.text, "total=42");
  assert.match(report.headers.get("content-type"), /text\/plain/);
  const del = await call(h.stack, "DELETE", `/api/sessions/${id}/files/sales.csv`);
  assert.deepEqual(del.json, { deleted: "sales.csv" });
  assertError(assert, await call(h.stack, "GET", `/api/sessions/${id}/files/sales.csv`), 404);
  const after = await run(id, { code: "import os; print(os.path.exists('sales.csv'), os.path.exists('report.txt'))" });
  assert.equal(after.json.stdout, "False True\n");
  for (const bad of ["..%2Fx", "%2Fetc%2Fpasswd", ".session_data.json", ".sandbox/x", "a%00b", "a%5Cb"]) {
    assertError(assert, await call(h.stack, "PUT", `/api/sessions/${id}/files/${bad}`, "x"), 400);
    assertError(assert, await call(h.stack, "GET", `/api/sessions/${id}/files/${bad}`), 400);
  }
  assertError(assert, await call(h.stack, "GET", `/api/sessions/${id}/files/nope.txt`), 404);
  assertError(assert, await call(h.stack, "DELETE", `/api/sessions/${id}/files/nope.txt`), 404);
  assertError(assert, await call(h.stack, "PUT", `/api/sessions/${id}/files/report.txt/below`, "x"), 409);
  assertError(assert, await call(h.stack, "GET", `/api/sessions/${uid("nobody")}/files`), 404);
});

test("modes, symlinks, empty directories and mtimes survive a restore", async () => {
  const id = uid("modes");
  await create({ id, language: "bash" });
  await run(id, { code: "mkdir -p empty/inner tools && printf '#!/bin/sh\\necho tool\\n' > tools/t && chmod 755 tools/t && ln -s tools/t link && touch -d '2001-02-03 04:05:06' tools/t" });
  await h.stack.restartExecutor({ fresh: true });
  const r = await run(id, { code: "ls -d empty/inner && ./link && stat -c '%a %Y' tools/t && readlink link" });
  assert.equal(r.json.stdout, `empty/inner\ntool\n755 ${Date.UTC(2001, 1, 3, 4, 5, 6) / 1000}\ntools/t\n`, r.text);
});

test("template → duplicate: independent copies sharing packs", async () => {
  const tpl = uid("tpl");
  await create({ id: tpl, language: "python", data: { n: 1 }, metadata: { kind: "template" } });
  await run(tpl, { code: "open('base.txt','w').write('template')" });
  const dup = await call(h.stack, "POST", `/api/sessions/${tpl}/duplicate`, { id: uid("copy") });
  assert.equal(dup.status, 201, dup.text);
  const copy = dup.json.id;
  assert.equal(dup.json.run_count, 0);
  assert.equal(dup.json.last_run_at, null);
  assert.deepEqual(dup.json.data, { n: 1 });
  assert.equal(dup.json.language, "python");
  assert.equal(dup.json.file_count, 1);
  const rc = await run(copy, { code: "print(open('base.txt').read()); open('base.txt','w').write('copy')" });
  assert.equal(rc.json.stdout, "template\n", rc.text);
  assert.equal((await call(h.stack, "GET", `/api/sessions/${tpl}/files/base.txt`)).text, "template");
  assert.equal((await call(h.stack, "GET", `/api/sessions/${copy}/files/base.txt`)).text, "copy");
  // Deleting the template leaves the copy's files intact (shared packs are reference-counted).
  await run(copy, { code: "open('other.txt','w').write('x')" });
  const other = await call(h.stack, "POST", `/api/sessions/${tpl}/duplicate`, {});
  assert.equal(other.status, 201);
  assert.match(other.json.id, /^sess_/);
  assert.equal((await call(h.stack, "DELETE", `/api/sessions/${tpl}`)).status, 200);
  assert.equal((await call(h.stack, "GET", `/api/sessions/${other.json.id}/files/base.txt`)).text, "template");
  await h.stack.restartExecutor({ fresh: true });
  const back = await run(other.json.id, { code: "print(open('base.txt').read())" });
  assert.equal(back.json.stdout, "template\n", back.text);
  assertError(assert, await call(h.stack, "POST", `/api/sessions/${copy}/duplicate`, { id: other.json.id }), 409);
});

test("list: newest first with cursor pagination, delete removes the entry", async () => {
  const ids = [uid("l1"), uid("l2"), uid("l3")];
  for (const id of ids) await create({ id, language: "bash" });
  const page1 = await call(h.stack, "GET", "/api/sessions?limit=2");
  assert.equal(page1.status, 200);
  assert.equal(page1.json.count, 2);
  assert.deepEqual(page1.json.sessions.map((s) => s.id), [ids[2], ids[1]]);
  assert.ok(page1.json.cursor);
  for (const k of ["id", "language", "created_at", "last_run_at"]) assert.ok(k in page1.json.sessions[0]);
  const page2 = await call(h.stack, "GET", `/api/sessions?limit=1&cursor=${page1.json.cursor}`);
  assert.deepEqual(page2.json.sessions.map((s) => s.id), [ids[0]]);
  assertError(assert, await call(h.stack, "GET", "/api/sessions?limit=0"), 400);
  assertError(assert, await call(h.stack, "GET", "/api/sessions?limit=1001"), 400);
  assertError(assert, await call(h.stack, "GET", "/api/sessions?cursor=zzz"), 400);
  const del = await call(h.stack, "DELETE", `/api/sessions/${ids[2]}`);
  assert.deepEqual(del.json, { deleted: ids[2] });
  assertError(assert, await call(h.stack, "GET", `/api/sessions/${ids[2]}`), 404);
  assertError(assert, await call(h.stack, "DELETE", `/api/sessions/${ids[2]}`), 404);
  const after = await call(h.stack, "GET", "/api/sessions?limit=1");
  assert.equal(after.json.sessions[0].id, ids[1]);
});

test("setup runs after the answer; runs wait for it; failures are reported", async () => {
  const id = uid("setup");
  const c = await create({ id, language: "python", setup: { pip: ["tabulate==0.9.0"], commands: ["echo prepared > ready.txt"] } });
  assert.equal(c.status, 201);
  assert.ok(["pending", "running", "completed"].includes(c.json.setup_status), c.text);
  // A run sent right away waits for the setup.
  const r = await run(id, { code: "import tabulate; print(open('ready.txt').read().strip())" });
  assert.equal(r.json.stdout, "prepared\n", r.text);
  const s = await waitSetup(id);
  assert.equal(s.setup_status, "completed");
  assert.match(s.setup_log, /tabulate/);
  const again = await call(h.stack, "POST", `/api/sessions/${id}/setup`, { setup: { commands: ["exit 7"] } });
  assert.equal(again.status, 202);
  const failed = await waitSetup(id);
  assert.equal(failed.setup_status, "failed");
  const after = await run(id, { code: "print('still runs')" });
  assert.equal(after.json.stdout, "still runs\n");
  assert.match(after.json.stderr, /setup failed/);
  assertError(assert, await call(h.stack, "POST", `/api/sessions/${id}/setup`, {}), 422);
});

test("non-persistent sessions return to their state after setup and uploads, keeping data", async () => {
  const id = uid("ephemeral");
  await create({ id, language: "python", persistent: false, data: { n: 0 } });
  await call(h.stack, "PUT", `/api/sessions/${id}/files/keep.txt`, "uploaded");
  const code = "import json,os\nd=json.load(open('.session_data.json'))\nd['n']+=1\njson.dump(d,open('.session_data.json','w'))\nprint(sorted(f for f in os.listdir('.') if not f.startswith('.')))\nopen('scratch.txt','w').write('x')";
  const a = await run(id, { code });
  assert.equal(a.json.stdout, "['keep.txt']\n", a.text);
  const b = await run(id, { code });
  assert.equal(b.json.stdout, "['keep.txt']\n", b.text);
  assert.deepEqual(b.json.data, { n: 2 });
});

test("one-shot execute keeps nothing", async () => {
  const r = await call(h.stack, "POST", "/api/execute", { language: "bash", code: "echo once; touch left.txt" });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.stdout, "once\n");
  assert.ok(!("session_id" in r.json));
  assertError(assert, await call(h.stack, "POST", "/api/execute", { code: "1" }), 422);
  assertError(assert, await call(h.stack, "POST", "/api/execute", { language: "cobol", code: "1" }), 400);
});

test("runs of one session are serialized: 10 concurrent increments end at exactly 10", async () => {
  const id = uid("concurrent");
  await create({ id, language: "python", data: { count: 0 } });
  const code = "import json,time\nd=json.load(open('.session_data.json'))\ntime.sleep(0.02)\nd['count']+=1\njson.dump(d,open('.session_data.json','w'))";
  const all = await Promise.all(Array.from({ length: 10 }, () => run(id, { code })));
  assert.ok(all.every((r) => r.status === 200), all.map((r) => r.text).join("\n"));
  const s = await call(h.stack, "GET", `/api/sessions/${id}`);
  assert.deepEqual(s.json.data, { count: 10 });
  assert.equal(s.json.run_count, 10);
});

test("more than 16 waiting runs on one session get 429", async () => {
  const id = uid("queue");
  await create({ id, language: "bash" });
  const all = await Promise.all(Array.from({ length: 24 }, () => run(id, { code: "sleep 0.3" })));
  const statuses = all.map((r) => r.status);
  assert.ok(statuses.includes(429), statuses.join(","));
  assert.ok(statuses.filter((s) => s === 200).length >= 17, statuses.join(","));
  for (const r of all.filter((r) => r.status === 429)) assertError(assert, r, 429, "too_many_runs");
});

test("8 sessions × 5 runs in parallel finish with no error", async () => {
  const ids = Array.from({ length: 8 }, () => uid("par"));
  await Promise.all(ids.map((id) => create({ id, language: "python", data: { n: 0 } })));
  const code = "import json\nd=json.load(open('.session_data.json'))\nd['n']+=1\njson.dump(d,open('.session_data.json','w'))";
  const results = await Promise.all(ids.map(async (id) => {
    const out = [];
    for (let i = 0; i < 5; i++) out.push(await run(id, { code }));
    return out;
  }));
  assert.ok(results.flat().every((r) => r.status === 200 && r.json.exit_code === 0));
  for (const id of ids) assert.deepEqual((await call(h.stack, "GET", `/api/sessions/${id}`)).json.data, { n: 5 });
});
