// The walking skeleton: Worker → session Durable Object → executor, persistence through R2.
import assert from "node:assert/strict";
import { test } from "node:test";
import { assertError, call, plugin, uid, useStack } from "./helpers.mjs";

const h = useStack();

test("health answers ok with a version", async () => {
  const r = await call(h.stack, "GET", "/health");
  assert.equal(r.status, 200);
  assert.equal(r.json.status, "ok");
  assert.match(r.json.version, /^\d+\.\d+\.\d+/);
});

test("the seed example prints Hello from the Edge!", async () => {
  const r = await plugin(h.stack, uid("seed"), "python", { code: 'print("Hello from the Edge!")' });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.success, true);
  assert.equal(r.json.output, "Hello from the Edge!\n");
  assert.deepEqual(r.json.logs, []);
  assert.equal(r.json.exit_code, 0);
  assert.equal(r.json.timed_out, false);
  assert.equal(r.json.killed_by, null);
  assert.equal(typeof r.json.duration_ms, "number");
});

test("files survive an executor restart with an empty work root", async () => {
  const s = uid("restart");
  const w = await plugin(h.stack, s, "python", { code: "open('notes.txt','w').write('kept across restarts')\nprint('written')" });
  assert.equal(w.json.output, "written\n", w.text);
  await h.stack.restartExecutor({ fresh: true });
  const r = await plugin(h.stack, s, "python", { code: "print(open('notes.txt').read())" });
  assert.equal(r.json.success, true, r.text);
  assert.equal(r.json.output, "kept across restarts\n");
});

test("a failing program is a 200 with success false and an error", async () => {
  const r = await plugin(h.stack, uid("fail"), "python", { code: "import sys\nprint('partial')\nsys.exit(3)" });
  assert.equal(r.status, 200);
  assert.equal(r.json.success, false);
  assert.equal(r.json.exit_code, 3);
  assert.equal(r.json.output, "partial\n");
  assert.equal(typeof r.json.error, "string");
});

test("bad input gets the JSON error shape", async () => {
  const s = uid("bad");
  assertError(assert, await call(h.stack, "POST", `/?session=${s}`, "{not json"), 400, "invalid_json");
  assertError(assert, await call(h.stack, "POST", `/?session=${s}`, { plugin: "cobol", payload: { code: "x" } }), 400);
  assertError(assert, await call(h.stack, "POST", `/?session=${s}`, { payload: { code: "x" } }), 422);
  assertError(assert, await call(h.stack, "POST", `/?session=${s}`, { plugin: "python", payload: { code: 5 } }), 422);
  assertError(assert, await call(h.stack, "POST", `/`, { plugin: "python", payload: { code: "1" } }), 400);
  assertError(assert, await call(h.stack, "POST", `/?session=a%2Fb`, { plugin: "python", payload: { code: "1" } }), 400);
  assertError(assert, await call(h.stack, "PUT", `/?session=${s}`), 405);
  assertError(assert, await call(h.stack, "GET", `/nope`), 404);
  // Nothing was created by the refused requests: the first real run starts from an empty workspace.
  const r = await plugin(h.stack, s, "python", { code: "import os; print([f for f in os.listdir('.') if f not in ('.sandbox', '.session_data.json')])" });
  assert.equal(r.json.output, "[]\n", r.text);
});

test("requirements install once, persist through R2, and import after a restart without them", async () => {
  const s = uid("pip");
  const code = "import tabulate, os\nprint(tabulate.tabulate([[1, 2]]))\nprint(os.path.relpath(tabulate.__file__))";
  const first = await plugin(h.stack, s, "python", { code, requirements: ["tabulate==0.9.0"], timeout: 120 });
  assert.equal(first.json.success, true, first.text);
  assert.match(first.json.output, /^.*1 {2}2/m);
  assert.match(first.json.output, /^\.deps\/pip\/tabulate/m, "imported from the workspace");
  assert.ok(first.json.logs.some((l) => /Successfully installed tabulate/.test(l)), first.json.logs.join("\n"));
  const again = await plugin(h.stack, s, "python", { code: "print('again')", requirements: ["tabulate==0.9.0"] });
  assert.ok(again.json.logs.some((l) => /already installed/.test(l)), again.text);
  await h.stack.restartExecutor({ fresh: true });
  const after = await plugin(h.stack, s, "python", { code });
  assert.equal(after.json.success, true, after.text);
  assert.match(after.json.output, /^\.deps\/pip\/tabulate/m);
});
