// Live interpreter contexts (#14): variables, imports and definitions that outlive each run, in
// Python and Node; final values and rich outputs; exits, timeouts and cancels that keep the
// interpreter; the plugin endpoint's memory; the bounds; contexts surviving plain runs.
import assert from "node:assert/strict";
import { test } from "node:test";
import { assertError, call, plugin, r2Diff, r2State, stream, uid, useStack } from "./helpers.mjs";

const h = useStack();
const create = (body) => call(h.stack, "POST", "/api/sessions", body);
const newContext = (id, language) => call(h.stack, "POST", `/api/sessions/${id}/contexts`, { language });
const run = (id, body) => call(h.stack, "POST", `/api/sessions/${id}/run`, body);
const pending = async (id) => (await call(h.stack, "GET", `/api/sessions/${id}/contexts`)).json.contexts.filter((c) => c.checkpoint_pending).map((c) => c.id);
/** Waits until every checkpoint of the session is in R2 (CHECKPOINT_FLUSH_MS, 1 s by default). */
async function committed(id) {
  const until = Date.now() + 10_000;
  while ((await pending(id)).length > 0) {
    assert.ok(Date.now() < until, "the held checkpoints were committed within 10 s");
    await new Promise((r) => setTimeout(r, 100));
  }
}

test("a Python context keeps variables, imports and functions; the final expression is the result", async () => {
  const id = uid("ctx-py");
  assert.equal((await create({ id, language: "python" })).status, 201);
  const c = await newContext(id, "python");
  assert.equal(c.status, 201);
  assert.match(c.json.id, /^ctx_[0-9a-f]{24}$/);
  assert.equal(c.json.language, "python");
  assert.equal(c.json.run_count, 0);
  const ctx = c.json.id;

  const first = await run(id, { context: ctx, code: "import json\nx = 41\ndef inc(v):\n    return v + 1\nprint('set')" });
  assert.equal(first.status, 200);
  assert.equal(first.json.stdout, "set\n");
  assert.equal(first.json.context, ctx);
  assert.equal(first.json.result, undefined, "no final expression, no result");
  const second = await run(id, { context: ctx, code: "x = inc(x)\nopen('kept.txt', 'w').write(str(x))\njson.dumps({'x': x})" });
  assert.equal(second.json.exit_code, 0, second.json.stderr);
  assert.equal(second.json.result, `'{"x": 42}'`);
  // The workspace delta of a context run is committed like any run's.
  const file = await call(h.stack, "GET", `/api/sessions/${id}/files/kept.txt`);
  assert.equal(file.status, 200);
  assert.equal(file.text, "42");
  // Rich values: _repr_html_ becomes text/html.
  const html = await run(id, { context: ctx, code: "class T:\n    def _repr_html_(self):\n        return '<b>x</b>'\nT()" });
  assert.deepEqual(html.json.outputs, [{ mime: "text/html", data: "<b>x</b>" }]);
  assert.match(html.json.result, /T object at/);
  // sys.exit ends the run with its code and keeps the interpreter; env is the run's only.
  const exit = await run(id, { context: ctx, env: { ONLY: "here" }, code: "import os, sys\nprint(os.environ['ONLY'])\nsys.exit(3)" });
  assert.equal(exit.json.exit_code, 3);
  assert.equal(exit.json.stdout, "here\n");
  const after = await run(id, { context: ctx, code: "import os\nprint(os.environ.get('ONLY'), x)" });
  assert.equal(after.json.stdout, "None 42\n");
  // A plain run (no context) is a fresh process beside it.
  const plain = await run(id, { code: "print('x' in dir())" });
  assert.equal(plain.json.stdout, "False\n");
  assert.equal(plain.json.context, undefined);
  const still = await run(id, { context: ctx, code: "x" });
  assert.equal(still.json.result, "42", "a plain run between two context runs leaves the context alive");
  const list = await call(h.stack, "GET", `/api/sessions/${id}/contexts`);
  assert.equal(list.status, 200);
  assert.deepEqual(list.json.contexts.map((c) => [c.id, c.run_count, c.default]), [[ctx, 6, false]]);
});

test("a TypeScript context strips each run's types and keeps its declarations; what stripping cannot erase is an error exit", async () => {
  const id = uid("ctx-ts");
  assert.equal((await create({ id, language: "typescript" })).status, 201);
  const made = await newContext(id, "ts");
  assert.equal(made.status, 201);
  assert.equal(made.json.language, "typescript");
  const ctx = made.json.id;
  const a = await run(id, { context: ctx, code: "interface Point { x: number; y: number }\nconst p: Point = { x: 3, y: 4 };\nfunction norm(q: Point): number { return Math.hypot(q.x, q.y) }\nconsole.log(typeof p)" });
  assert.equal(a.json.stdout, "object\n", a.json.stderr);
  assert.equal(a.json.stderr, "", "no notice of Node's experimental type stripping");
  const b = await run(id, { context: ctx, code: "const n = norm(p) as number;\nconst w: number = await Promise.resolve(n);\nw * 2" });
  assert.equal(b.json.result, "10");
  const bad = await run(id, { context: ctx, code: "enum Color { Red }" });
  assert.equal(bad.json.exit_code, 1);
  assert.match(bad.json.stderr, /enum is not supported in strip-only mode/);
  const after = await run(id, { context: ctx, code: "const m: number = n + 1;\nm" });
  assert.equal(after.json.result, "6", "the context lives on after the error");
  await committed(id);
  await h.stack.restartExecutor({ fresh: true });
  const back = await run(id, { context: ctx, code: "norm({ x: 6, y: 8 } as Point) + m" });
  assert.equal(back.json.restored, true, back.json.stderr);
  assert.equal(back.json.result, "16", "values and functions come back from the checkpoint; the interface was only a type");
});

test("a Node context keeps top-level let, const and function declarations, as the REPL does", async () => {
  const id = uid("ctx-js");
  assert.equal((await create({ id, language: "node" })).status, 201);
  const ctx = (await newContext(id, "node")).json.id;
  const a = await run(id, { context: ctx, code: "let n = 1; const step = 2; function add(p, q) { return p + q }\nconsole.log('ok')" });
  assert.equal(a.json.stdout, "ok\n", a.json.stderr);
  const b = await run(id, { context: ctx, code: "n = add(n, step); ({ n, s: 'str' })" });
  assert.equal(b.json.result, "{ n: 3, s: 'str' }");
  const c = await run(id, { context: ctx, code: "const fs = require('node:fs'); fs.writeFileSync('n.txt', String(n)); Promise.resolve(n * 10)" });
  assert.equal(c.json.result, "30", "a promise completion value is awaited");
  const tla = await run(id, { context: ctx, code: "const later = await new Promise((r) => setTimeout(() => r(n + 1), 50));\nlet twice = await Promise.resolve(later * 2);\ntwice" });
  assert.equal(tla.json.exit_code, 0, tla.json.stderr);
  assert.equal(tla.json.result, "8", "top-level await, as in the REPL");
  assert.equal((await run(id, { context: ctx, code: "later + twice" })).json.result, "12", "its declarations stay");
  assert.equal((await call(h.stack, "GET", `/api/sessions/${id}/files/n.txt`)).text, "3");
  const exit = await run(id, { context: ctx, code: "process.exit(5)" });
  assert.equal(exit.json.exit_code, 5);
  const err = await run(id, { context: ctx, code: "throw new Error('boom')" });
  assert.equal(err.json.exit_code, 1);
  assert.match(err.json.stderr, /Error: boom/);
  assert.equal((await run(id, { context: ctx, code: "n" })).json.result, "3");
});

test("a timeout interrupts the run and keeps the state; one that ignores SIGINT is killed and the next run restores the last checkpoint", async () => {
  const id = uid("ctx-to");
  assert.equal((await create({ id, language: "python" })).status, 201);
  const ctx = (await newContext(id, "python")).json.id;
  await run(id, { context: ctx, code: "y = 7" });
  const t0 = Date.now();
  const t = await run(id, { context: ctx, timeout: 1, code: "import time\nwhile True: time.sleep(0.01)" });
  assert.ok(Date.now() - t0 < 4000, `${Date.now() - t0} ms`);
  assert.equal(t.json.killed_by, "timeout");
  assert.equal(t.json.timed_out, true);
  assert.equal(t.json.signal, "SIGINT");
  assert.match(t.json.stderr, /KeyboardInterrupt/);
  assert.equal((await run(id, { context: ctx, code: "y" })).json.result, "7");
  const k = await run(id, { context: ctx, timeout: 1, code: "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(20)" });
  assert.equal(k.json.killed_by, "timeout");
  assert.equal(k.json.signal, "SIGKILL");
  const back = await run(id, { context: ctx, code: "'y' in dir()" });
  assert.equal(back.json.restored, true, "a new interpreter over the last checkpoint");
  assert.equal(back.json.result, "True");
});

test("cancel in a context interrupts the run and the interpreter lives on", async () => {
  const id = uid("ctx-cancel");
  assert.equal((await create({ id, language: "python" })).status, 201);
  const ctx = (await newContext(id, "python")).json.id;
  await run(id, { context: ctx, code: "z = 'kept'" });
  const s = stream(h.stack, "POST", `/api/sessions/${id}/run`, { context: ctx, code: "import time\nprint('go', flush=True)\ntime.sleep(30)" });
  let cancelled;
  for (let i = 0; i < 100 && !cancelled; i++) {
    await new Promise((r) => setTimeout(r, 100));
    const c = await call(h.stack, "POST", `/api/sessions/${id}/cancel`);
    if (c.status === 200) cancelled = c;
  }
  assert.ok(cancelled, "the run was cancelled");
  const exit = (await s).events.at(-1);
  assert.equal(exit.event, "exit");
  assert.equal(exit.data.killed_by, "cancelled");
  assert.equal(exit.data.signal, "SIGINT");
  assert.equal(exit.data.stdout, "go\n");
  assert.equal((await run(id, { context: ctx, code: "z" })).json.result, "'kept'");
});

test("the plugin endpoint keeps memory in the session's default context; fresh: true runs a new process", async () => {
  const id = uid("ctx-plug");
  const set = await plugin(h.stack, id, "python", { code: "x = 42" });
  assert.equal(set.json.success, true, JSON.stringify(set.json));
  const got = await plugin(h.stack, id, "python", { code: "print(x)" });
  assert.equal(got.json.output, "42\n");
  assert.match(got.json.context, /^ctx_/);
  const fresh = await plugin(h.stack, id, "python", { code: "print('x' in dir())", fresh: true });
  assert.equal(fresh.json.output, "False\n");
  assert.equal(fresh.json.context, undefined);
  const js1 = await plugin(h.stack, id, "node", { code: "let k = 'node kept'" });
  assert.equal(js1.json.success, true, JSON.stringify(js1.json));
  assert.equal((await plugin(h.stack, id, "node", { code: "console.log(k)" })).json.output, "node kept\n");
  const bash = await plugin(h.stack, id, "bash", { code: "echo plain" });
  assert.equal(bash.json.output, "plain\n");
  assert.equal(bash.json.context, undefined, "other plugins run as before");
  const list = (await call(h.stack, "GET", `/api/sessions/${id}/contexts`)).json.contexts;
  assert.deepEqual(list.map((c) => [c.language, c.default, c.run_count]), [["python", true, 2], ["node", true, 2]]);
});

test("bounds: 8 contexts per session, none in non-persistent sessions, unknown ids 404, bad input changes nothing", async () => {
  const id = uid("ctx-bounds");
  assert.equal((await create({ id, language: "python" })).status, 201);
  const made = [];
  for (let i = 0; i < 8; i++) {
    const c = await newContext(id, i % 2 ? "node" : "python");
    assert.equal(c.status, 201);
    made.push(c.json.id);
  }
  assertError(assert, await newContext(id, "python"), 409, "conflict");
  // The plugin's default context counts too.
  assertError(assert, await plugin(h.stack, id, "python", { code: "1" }), 409, "conflict");
  assert.equal((await plugin(h.stack, id, "python", { code: "print(1)", fresh: true })).json.output, "1\n");
  assertError(assert, await newContext(id, "go"), 400, "bad_request");
  assertError(assert, await newContext(id, "cobol"), 400, "bad_request");
  assertError(assert, await call(h.stack, "POST", `/api/sessions/${id}/contexts`, {}), 422, "invalid_field");
  assertError(assert, await newContext(uid("nobody"), "python"), 404, "not_found");
  const del = await call(h.stack, "DELETE", `/api/sessions/${id}/contexts/${made[0]}`);
  assert.equal(del.status, 200);
  assert.equal(del.json.deleted, made[0]);
  assertError(assert, await call(h.stack, "DELETE", `/api/sessions/${id}/contexts/${made[0]}`), 404, "not_found");
  assertError(assert, await run(id, { context: made[0], code: "1" }), 404, "not_found");
  assertError(assert, await run(id, { context: "ctx_nope", code: "1" }), 400, "bad_request");
  assertError(assert, await run(id, { context: 5, code: "1" }), 422, "invalid_field");
  assertError(assert, await run(id, { context: made[1], code: "1", stdin: "in" }), 400, "bad_request");
  assertError(assert, await call(h.stack, "DELETE", `/api/sessions/${id}/contexts/ctx_bad`), 400, "bad_request");
  assert.equal((await call(h.stack, "GET", `/api/sessions/${id}/contexts`)).json.contexts.length, 7);
  const session = await call(h.stack, "GET", `/api/sessions/${id}`);
  assert.equal(session.json.run_count, 1, "refused runs were not counted");

  const np = uid("ctx-np");
  assert.equal((await create({ id: np, language: "python", persistent: false })).status, 201);
  assertError(assert, await newContext(np, "python"), 409, "conflict");
  await call(h.stack, "POST", `/api/sessions/${np}/run`, { code: "x = 1" });
  const r = await call(h.stack, "POST", `/api/sessions/${np}/run`, { code: "print('x' in dir())" });
  assert.equal(r.json.stdout, "False\n");
});

test("a context outlives plain runs (and the daemons they leave) and injects of the workspace", async () => {
  const id = uid("ctx-live");
  assert.equal((await create({ id, language: "python" })).status, 201);
  const ctx = (await newContext(id, "python")).json.id;
  const js = (await newContext(id, "node")).json.id;
  assert.equal((await run(id, { context: ctx, code: "import os\nx = 1\npid = os.getpid()" })).json.exit_code, 0);
  assert.equal((await run(id, { context: js, code: "var m = 'node'" })).json.exit_code, 0);
  // A plain run that leaves a daemon behind: the end-of-run kill takes the daemon, not the contexts.
  const plain = await run(id, { code: "import subprocess\nsubprocess.Popen(['sleep', '30'], start_new_session=True)\nprint('plain')" });
  assert.equal(plain.json.stdout, "plain\n");
  const alive = await run(id, { context: ctx, code: "x += 1\n(x, os.getpid() == pid)" });
  assert.equal(alive.json.result, "(2, True)", "the same interpreter, state kept");
  assert.equal((await run(id, { context: js, code: "m" })).json.result, "'node'");
  // An upload over 8 MiB is not applied to the live executor: the next run injects the workspace.
  const big = new Uint8Array(9 * 1024 * 1024).fill(65);
  assert.equal((await call(h.stack, "PUT", `/api/sessions/${id}/files/big.bin`, big, { "content-type": "application/octet-stream" })).status, 200);
  const injected = await run(id, { context: ctx, code: "(x, os.getpid() == pid, open('big.bin', 'rb').read(3), 'big.bin' in os.listdir('.'))" });
  assert.equal(injected.json.result, "(2, True, b'AAA', True)", injected.json.stderr);
  const bash = await run(id, { code: "ls", language: "bash" });
  assert.equal(bash.status, 200);
  assert.equal((await run(id, { context: js, code: "require('node:fs').statSync('big.bin').size" })).json.result, String(9 * 1024 * 1024));
});

test("a context's state survives an executor restart with an empty work root, and a duplicate", async () => {
  const id = uid("ctx-restart");
  assert.equal((await create({ id, language: "python" })).status, 201);
  const ctx = (await newContext(id, "python")).json.id;
  const code = "import json, socket\nclass P:\n    def __init__(self, v): self.v = v\ndef twice(v):\n    return 2 * v\ndata = {'k': list(range(5))}\np = P(21)\ngen = (i for i in range(3))\nconn = socket.socket()";
  const first = await run(id, { context: ctx, code });
  assert.equal(first.json.exit_code, 0, first.json.stderr);
  assert.deepEqual(first.json.lost, ["conn", "gen"], "what the checkpoint cannot hold is named at once");
  await plugin(h.stack, id, "python", { code: "x = 42" });
  const js = (await newContext(id, "node")).json.id;
  const jsFirst = await run(id, { context: js, code: "let n = 5; const m = new Map([['k', [1, 2]]]); function dbl(v) { return v * 2 }" });
  assert.equal(jsFirst.json.exit_code, 0, jsFirst.json.stderr);
  await committed(id);
  await h.stack.restartExecutor({ fresh: true });
  const jsBack = await run(id, { context: js, code: "dbl(n) + m.get('k').length" });
  assert.equal(jsBack.json.restored, true, jsBack.json.stderr);
  assert.equal(jsBack.json.result, "12");
  const again = await run(id, { context: ctx, code: "(twice(p.v), json.dumps(data), 'conn' in dir())" });
  assert.equal(again.status, 200);
  assert.equal(again.json.restored, true);
  assert.deepEqual(again.json.lost, ["conn", "gen"]);
  assert.equal(again.json.result, `(42, '{"k": [0, 1, 2, 3, 4]}', False)`);
  assert.equal((await plugin(h.stack, id, "python", { code: "print(x)" })).json.output, "42\n", "the plugin endpoint's memory too");
  const next = await run(id, { context: ctx, code: "p.v" });
  assert.equal(next.json.restored, undefined, "a live context restores nothing");
  // A duplicate starts its contexts from the source's checkpoints.
  const dup = uid("ctx-dup");
  assert.equal((await call(h.stack, "POST", `/api/sessions/${id}/duplicate`, { id: dup })).status, 201);
  const listed = (await call(h.stack, "GET", `/api/sessions/${dup}/contexts`)).json.contexts.map((c) => c.id);
  assert.ok(listed.includes(ctx), JSON.stringify(listed));
  const copy = await run(dup, { context: ctx, code: "twice(p.v) + 1" });
  assert.equal(copy.json.restored, true);
  assert.equal(copy.json.result, "43");
});

test("a run that changes only the context's state writes nothing on its way; its checkpoint follows in a second, or with the next change", async () => {
  const id = uid("ctx-held");
  assert.equal((await create({ id, language: "python" })).status, 201);
  const ctx = (await newContext(id, "python")).json.id;
  assert.equal((await run(id, { context: ctx, code: "x = 1" })).json.exit_code, 0);
  await committed(id);
  // Objects of this session only (other tests' sessions write at the same time).
  const writes = (a, b) => r2Diff(a, b).objects.filter(([key]) => key.includes(id)).length;
  const before = await r2State(h.stack);
  const r = await run(id, { context: ctx, code: "x += 1\nx" });
  assert.equal(r.json.result, "2");
  assert.equal(writes(before, await r2State(h.stack)), 0, "the answer did not wait for R2");
  assert.deepEqual(await pending(id), [ctx], "the checkpoint is pending, and said so");
  await committed(id);
  const mid = await r2State(h.stack);
  assert.equal(writes(before, mid), 1, "one write for the checkpoint");
  // A run that changes a file takes the checkpoint along in its own write.
  const both = await run(id, { context: ctx, code: "x += 1\nopen('f.txt', 'w').write(str(x))" });
  assert.equal(both.json.exit_code, 0, both.json.stderr);
  assert.deepEqual(await pending(id), [], "committed with the file");
  assert.equal(writes(mid, await r2State(h.stack)), 1, "one write for both");
  await h.stack.restartExecutor({ fresh: true });
  const back = await run(id, { context: ctx, code: "x" });
  assert.equal(back.json.restored, true, back.json.stderr);
  assert.equal(back.json.result, "3", "the state of the last run, from R2");
});

test("a corrupt checkpoint gives a fresh interpreter with restored: false and the reason", async () => {
  const id = uid("ctx-corrupt");
  assert.equal((await create({ id, language: "python" })).status, 201);
  const ctx = (await newContext(id, "python")).json.id;
  assert.equal((await run(id, { context: ctx, code: "kept = 1" })).json.exit_code, 0);
  const spoil = await run(id, { code: `open('.sandbox/contexts/${ctx}/state.pickle', 'wb').write(b'not a pickle')` });
  assert.equal(spoil.json.exit_code, 0, spoil.json.stderr);
  await h.stack.restartExecutor({ fresh: true });
  const r = await run(id, { context: ctx, code: "'kept' in dir()" });
  assert.equal(r.status, 200);
  assert.equal(r.json.exit_code, 0);
  assert.equal(r.json.restored, false);
  assert.match(r.json.restore_error, /could not be read/);
  assert.equal(r.json.result, "False");
  const after = await run(id, { context: ctx, code: "kept = 2\nkept" });
  assert.equal(after.json.result, "2", "the context goes on, and its next checkpoint replaces the corrupt one");
});

test("rich outputs: _repr_png_ values and the figures matplotlib holds come back as image/png", async () => {
  const id = uid("ctx-rich");
  assert.equal((await create({ id, language: "python" })).status, 201);
  const ctx = (await newContext(id, "python")).json.id;
  const png = await run(id, { context: ctx, code: "class Img:\n    def _repr_png_(self):\n        return b'\\x89PNG-bytes'\nImg()" });
  assert.deepEqual(png.json.outputs, [{ mime: "image/png", data: Buffer.from("\x89PNG-bytes", "latin1").toString("base64") }]);
  // A stand-in for matplotlib.pyplot (the real one is in tests/notebook.test.mjs, installed by
  // a setup): open figures are drawn as PNG after the run and closed.
  const fake = "import sys, types\nplt = types.ModuleType('matplotlib.pyplot')\nopen_figs = [1, 2]\nclass Fig:\n    def __init__(self, n): self.n = n\n    def savefig(self, buf, format): buf.write(b'figure %d' % self.n)\nplt.get_fignums = lambda: list(open_figs)\nplt.figure = Fig\nplt.close = lambda which: open_figs.clear()\nsys.modules['matplotlib.pyplot'] = plt";
  const figs = await run(id, { context: ctx, code: fake });
  assert.equal(figs.json.exit_code, 0, figs.json.stderr);
  assert.deepEqual(figs.json.outputs.map((o) => [o.mime, Buffer.from(o.data, "base64").toString()]), [["image/png", "figure 1"], ["image/png", "figure 2"]]);
  const none = await run(id, { context: ctx, code: "1 + 1" });
  assert.equal(none.json.result, "2");
  assert.equal(none.json.outputs, undefined, "closed figures are not drawn again");
});
