// Background processes (#18): commands that outlive the request that started them. They take
// input, keep their output, are followed as events, outlive plain and timed-out runs, write into
// the workspace (committed at the next run's end), end with everything they started, serve
// runs of the session on its loopback, are bounded, and are `lost` once their sandbox is gone.
import assert from "node:assert/strict";
import { test } from "node:test";
import { assertError, call, stream, uid, useStack } from "./helpers.mjs";

// Commits while processes run every second here (the default is 60 s).
const h = useStack({ vars: { PROCESS_COMMIT_MS: "1000" } });
const create = (body) => call(h.stack, "POST", "/api/sessions", body);
const start = (id, body) => call(h.stack, "POST", `/api/sessions/${id}/processes`, body);
const list = (id) => call(h.stack, "GET", `/api/sessions/${id}/processes`);
const logs = (id, p) => call(h.stack, "GET", `/api/sessions/${id}/processes/${p}/logs`);
const input = (id, p, body) => call(h.stack, "POST", `/api/sessions/${id}/processes/${p}/stdin`, body);
const stop = (id, p) => call(h.stack, "DELETE", `/api/sessions/${id}/processes/${p}`);
const run = (id, body) => call(h.stack, "POST", `/api/sessions/${id}/run`, body);

/** Polls `get` until `ok` holds of its answer (10 s at most) and answers the last one. */
async function until(get, ok, ms = 10_000) {
  const end = Date.now() + ms;
  for (;;) {
    const r = await get();
    if (ok(r) || Date.now() > end) return r;
    await new Promise((res) => setTimeout(res, 50));
  }
}

const statusOf = async (id, p) => (await list(id)).json.processes.find((x) => x.id === p);

// Whether the processes whose pids the files hold are alive, from a run of the session: "alive"
// or "dead" a line (a zombie, which `kill -0` would still find, is dead: whoever adopted the
// orphans reaps them when it will).
const kidsAlive = (files) =>
  `for f in ${files.join(" ")}; do s=$(cut -d' ' -f3 /proc/$(cat $f)/stat 2>/dev/null); [ -n "$s" ] && [ "$s" != Z ] && echo alive || echo dead; done`;

test("a process takes input, keeps its output, outlives plain and timed-out runs with its children, and ends with DELETE", async () => {
  const id = uid("proc");
  assert.equal((await create({ id, language: "bash" })).status, 201);
  // Three children: one in the process's session, one in a session of its own (its parent the
  // process), one left by a double fork (no longer its child, still in its session).
  const kids = "sleep 300 & echo $! > kid.pid; setsid sleep 301 & echo $! > kid2.pid; (sleep 302 & echo $! > kid3.pid); ";
  const command = `${kids}echo "ready as $GREETING"; while read -r l; do echo "got $l"; echo "$l" >> seen.txt; done`;
  const s = await start(id, { command, env: { GREETING: "hi" }, max_seconds: 600 });
  assert.equal(s.status, 201, s.text);
  assert.match(s.json.id, /^proc_[0-9a-f]{24}$/);
  assert.deepEqual([s.json.status, s.json.command, s.json.exit_code, s.json.killed_by, s.json.max_seconds], ["running", command, null, null, 600]);
  const p = s.json.id;
  const ready = await until(() => logs(id, p), (r) => r.json?.stdout === "ready as hi\n");
  assert.equal(ready.status, 200, ready.text);
  assert.deepEqual([ready.json.stdout, ready.json.stderr, ready.json.stdout_dropped, ready.json.process.status], ["ready as hi\n", "", 0, "running"]);

  const w = await input(id, p, { data: "one\n" });
  assert.equal(w.status, 200, w.text);
  assert.equal(w.json.status, "running");
  assert.equal((await until(() => logs(id, p), (r) => r.json.stdout.includes("got one"))).json.stdout, "ready as hi\ngot one\n");

  // A plain run sees what the process wrote; the file is committed at the run's end.
  const r = await run(id, { code: "cat seen.txt; sleep 0.2 &" });
  assert.equal(r.json.stdout, "one\n", r.text);
  assert.equal((await statusOf(id, p)).status, "running", "the process outlived a plain run");
  const file = await call(h.stack, "GET", `/api/sessions/${id}/files/seen.txt`);
  assert.equal(file.text, "one\n");
  const t = await run(id, { code: "sleep 30", timeout: 1 });
  assert.equal(t.json.killed_by, "timeout");
  assert.equal((await statusOf(id, p)).status, "running", "the process outlived a run that timed out");
  const alive = await run(id, { code: kidsAlive(["kid.pid", "kid2.pid", "kid3.pid"]) });
  assert.equal(alive.json.stdout, "alive\nalive\nalive\n", `its children outlived both runs too: ${alive.text}`);
  await input(id, p, { data: "two\n" });
  await until(() => logs(id, p), (x) => x.json.stdout.includes("got two"));

  const d = await stop(id, p);
  assert.equal(d.status, 200, d.text);
  assert.deepEqual([d.json.status, d.json.killed_by], ["killed", "deleted"]);
  assert.ok(d.json.ended_at);
  assert.equal((await statusOf(id, p)).status, "killed");
  assertError(assert, await input(id, p, { data: "x\n" }), 409, "conflict");
  assert.equal((await stop(id, p)).json.status, "killed", "a DELETE of an ended process answers it as it is");
  assert.equal((await run(id, { code: kidsAlive(["kid.pid", "kid2.pid", "kid3.pid"]) })).json.stdout, "dead\ndead\ndead\n", "its children ended with it");
  // Its logs outlive it.
  assert.equal((await logs(id, p)).json.stdout, "ready as hi\ngot one\ngot two\n");
  const again = await run(id, { code: "cat seen.txt" });
  assert.equal(again.json.stdout, "one\ntwo\n");
});

test("logs are followed as events while the process prints, ending with its exit", async () => {
  const id = uid("proc-sse");
  assert.equal((await create({ id, language: "bash" })).status, 201);
  const p = (await start(id, { command: "for i in 1 2 3 4; do echo line $i; sleep 0.4; done; echo done >&2; exit 3" })).json.id;
  const started = Date.now();
  const s = await stream(h.stack, "GET", `/api/sessions/${id}/processes/${p}/logs`);
  assert.equal(s.status, 200);
  const out = s.events.filter((e) => e.event === "stdout");
  assert.equal(out.map((e) => e.data.data).join(""), "line 1\nline 2\nline 3\nline 4\n");
  assert.equal(s.events.filter((e) => e.event === "stderr").map((e) => e.data.data).join(""), "done\n");
  const exit = s.events.find((e) => e.event === "exit");
  assert.deepEqual([exit.data.id, exit.data.status, exit.data.exit_code, exit.data.killed_by], [p, "exited", 3, null]);
  const first = out.find((e) => e.data.data.includes("line 1") || e.data.data.includes("line 2"));
  assert.ok(exit.at - first.at >= 600, `output came as it was printed (first ${first.at - started} ms, exit ${exit.at - started} ms)`);
  assert.deepEqual([(await statusOf(id, p)).status, (await statusOf(id, p)).exit_code], ["exited", 3]);
  // A follower of an ended process gets what is kept, then its exit.
  const late = await stream(h.stack, "GET", `/api/sessions/${id}/processes/${p}/logs`);
  assert.equal(late.events.filter((e) => e.event === "stdout").map((e) => e.data.data).join(""), "line 1\nline 2\nline 3\nline 4\n");
  assert.equal(late.events.at(-1).event, "exit");
});

test("DELETE takes the process's children with it; its lifetime bound kills it", async () => {
  const id = uid("proc-tree");
  assert.equal((await create({ id, language: "bash" })).status, 201);
  const mark = 5000 + Math.floor(Math.random() * 4000);
  const p = (await start(id, { command: `sleep ${mark}1 & (setsid sleep ${mark}2 &); sleep ${mark}3` })).json.id;
  const count = `n=0; for c in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $c 2>/dev/null | grep -q '^sleep ${mark}[123] ' && n=$((n+1)); done; echo $n`;
  const before = await until(() => run(id, { code: count }), (r) => r.json.stdout === "3\n", 5000);
  assert.equal(before.json.stdout, "3\n", "its three sleeps run, beside the runs");
  assert.equal((await stop(id, p)).json.status, "killed");
  assert.equal((await run(id, { code: count })).json.stdout, "0\n", "none outlived DELETE");

  const b = await start(id, { command: "sleep 60", max_seconds: 1 });
  const ended = await until(() => statusOf(id, b.json.id), (x) => x.status !== "running", 5000);
  assert.deepEqual([ended.status, ended.killed_by, ended.max_seconds], ["killed", "timeout", 1]);
});

test("a server started as a process answers the session's runs on its loopback", async () => {
  const id = uid("proc-http");
  assert.equal((await create({ id, language: "python", allow_internet: false })).status, 201);
  assert.equal((await run(id, { code: "open('hello.txt', 'w').write('served')" })).json.exit_code, 0);
  const p = (await start(id, { command: "exec python3 -m http.server 8000 --bind 127.0.0.1" })).json.id;
  const get = "import urllib.request\nprint(urllib.request.urlopen('http://127.0.0.1:8000/hello.txt', timeout=2).read().decode())";
  const r = await until(() => run(id, { code: get }), (x) => x.json.stdout === "served\n", 8000);
  assert.equal(r.json.stdout, "served\n", r.json.stderr);
  const l = await until(() => logs(id, p), (x) => x.json.stderr.includes("GET /hello.txt"));
  assert.match(l.json.stderr, /"GET \/hello\.txt HTTP\/1\.1" 200/);
  assert.equal((await stop(id, p)).json.status, "killed");
});

test("bounds: persistent sessions only, eight live at once, the lifetime maximum, bad bodies and ids", async () => {
  const eph = uid("proc-eph");
  assert.equal((await create({ id: eph, language: "bash", persistent: false })).status, 201);
  assertError(assert, await start(eph, { command: "sleep 1" }), 409, "conflict");
  const id = uid("proc-bounds");
  assert.equal((await create({ id, language: "bash" })).status, 201);
  assertError(assert, await start(id, {}), 422);
  assertError(assert, await start(id, { command: 1 }), 422);
  assertError(assert, await start(id, { command: " " }), 400, "bad_request");
  assertError(assert, await start(id, { command: "sleep 1", max_seconds: 0 }), 400, "bad_request");
  assertError(assert, await start(id, { command: "sleep 1", max_seconds: 86_401 }), 400, "bad_request");
  assertError(assert, await start(id, { command: "sleep 1", env: { "A=B": "1" } }), 400, "bad_request");
  assertError(assert, await call(h.stack, "POST", `/api/sessions/${id}/processes`, "nope"), 400, "invalid_json");
  assertError(assert, await call(h.stack, "GET", `/api/sessions/${id}/processes/proc_x`), 400, "bad_request");
  assertError(assert, await call(h.stack, "GET", `/api/sessions/${id}/processes/proc_0123456789abcdef01234567`), 404, "not_found");
  assertError(assert, await call(h.stack, "PUT", `/api/sessions/${id}/processes`), 405);
  assertError(assert, await start(uid("nobody"), { command: "sleep 1" }), 404, "not_found");
  assert.deepEqual((await list(id)).json.processes, [], "nothing was started by the refusals");
  const ids = [];
  for (let i = 0; i < 8; i++) {
    const s = await start(id, { command: "sleep 300" });
    assert.equal(s.status, 201, s.text);
    ids.push(s.json.id);
  }
  assertError(assert, await start(id, { command: "sleep 300" }), 409, "conflict");
  const p = ids[0];
  assertError(assert, await input(id, p, {}), 422);
  assertError(assert, await input(id, p, { data: "x".repeat((1 << 20) + 1) }), 413, "too_large");
  assert.equal((await stop(id, p)).status, 200);
  assert.equal((await start(id, { command: "sleep 300" })).status, 201, "room again once one ended");
  assert.equal((await list(id)).json.processes.filter((x) => x.status === "running").length, 8);
  // Deleting the session ends them all.
  assert.equal((await call(h.stack, "DELETE", `/api/sessions/${id}`)).status, 200);
});

test("files a background process writes are committed at the interval and once it ended, without a run", async () => {
  const id = uid("proc-commit");
  assert.equal((await create({ id, language: "bash" })).status, 201);
  const file = (p) => call(h.stack, "GET", `/api/sessions/${id}/files/${p}`);
  const p = (await start(id, { command: "echo a > bg.txt; sleep 2; echo b >> bg.txt; sleep 300" })).json.id;
  const first = await until(() => file("bg.txt"), (r) => r.status === 200, 8000);
  assert.equal(first.text, "a\n", "committed while the process runs");
  assert.equal((await until(() => file("bg.txt"), (r) => r.text === "a\nb\n", 8000)).text, "a\nb\n", "and again at the next interval");
  const q = (await start(id, { command: "sleep 1; echo done > end.txt" })).json.id;
  assert.equal((await until(() => file("end.txt"), (r) => r.status === 200, 8000)).text, "done\n", "committed once it ended");
  assert.equal((await statusOf(id, q)).status, "exited");
  const session = await call(h.stack, "GET", `/api/sessions/${id}`);
  assert.equal(session.json.run_count, 0, "the commits are not runs");
  assert.equal((await stop(id, p)).status, 200);
});

test("a log the process keeps appending to never fails a run, a commit or a restore", async () => {
  const id = uid("proc-log");
  assert.equal((await create({ id, language: "python" })).status, 201);
  const writer = "import time\nf = open('app.log', 'a')\nwhile True:\n    for i in range(200):\n        f.write('a line of the log\\n')\n    f.flush()\n    time.sleep(0.002)";
  assert.equal((await run(id, { code: `open('writer.py', 'w').write(${JSON.stringify(writer)})` })).json.exit_code, 0);
  const p = (await start(id, { command: "exec python3 writer.py" })).json.id;
  await until(() => call(h.stack, "GET", `/api/sessions/${id}/files/app.log`), (r) => r.status === 200, 8000);
  for (let i = 0; i < 5; i++) {
    const r = await run(id, { code: "import os\nprint(os.path.getsize('app.log') > 0)" });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual([r.json.exit_code, r.json.stdout], [0, "True\n"], r.text);
  }
  const stored = await call(h.stack, "GET", `/api/sessions/${id}/files/app.log`);
  assert.equal(stored.status, 200);
  assert.ok(stored.text.length > 0 && stored.text.split("\n").slice(0, -1).every((l) => l === "a line of the log"), "what is stored is whole lines of what was written");
  assert.equal((await stop(id, p)).status, 200);
  await h.stack.restartExecutor({ fresh: true });
  const r = await run(id, { code: "print(open('app.log').read().count('\\n') > 0)" });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.stdout, "True\n", "restored from R2");
});

test("an executor restarted with an empty work root has lost the processes, and says so", async () => {
  const id = uid("proc-lost");
  assert.equal((await create({ id, language: "bash" })).status, 201);
  assert.equal((await run(id, { code: "echo kept > kept.txt" })).json.exit_code, 0);
  const p = (await start(id, { command: "sleep 300" })).json.id;
  assert.equal((await statusOf(id, p)).status, "running");
  await h.stack.restartExecutor({ fresh: true });
  const seen = await statusOf(id, p);
  assert.deepEqual([seen.status, seen.exit_code, seen.killed_by], ["lost", null, null]);
  assert.ok(seen.ended_at);
  assertError(assert, await logs(id, p), 409, "conflict");
  assertError(assert, await input(id, p, { data: "x" }), 409, "conflict");
  // The session goes on: a new process starts on the committed workspace.
  const again = await start(id, { command: "cat kept.txt" });
  assert.equal(again.status, 201, again.text);
  const out = await until(() => logs(id, again.json.id), (x) => x.json.process.status === "exited");
  assert.equal(out.json.stdout, "kept\n");
});

test("restart: on-wake brings a server back, with its id, when its port is asked for after the sandbox was recycled", async () => {
  const id = uid("proc-wake");
  assert.equal((await create({ id, language: "python" })).status, 201);
  assert.equal((await run(id, { code: "open('index.html', 'w').write('back again')" })).json.exit_code, 0);
  const s = await start(id, { command: "exec python3 -m http.server 8000 --bind 127.0.0.1", restart: "on-wake" });
  assert.equal(s.status, 201, s.text);
  assert.deepEqual([s.json.restart, s.json.restarts], ["on-wake", 0]);
  const page = () => fetch(`${h.stack.url}/api/sessions/${id}/ports/8000/index.html`);
  const up = await until(page, (r) => r.status === 200);
  assert.equal(await up.text(), "back again");
  const plain = (await start(id, { command: "sleep 300" })).json.id;
  await h.stack.restartExecutor({ fresh: true });
  const t0 = Date.now();
  const back = await page();
  assert.equal(back.status, 200, `the port request woke it (${Date.now() - t0} ms)`);
  assert.equal(await back.text(), "back again", "over the committed workspace");
  const seen = await statusOf(id, s.json.id);
  assert.deepEqual([seen.status, seen.restarts, seen.restart], ["running", 1, "on-wake"]);
  assert.equal((await statusOf(id, plain)).status, "lost", "one without restart is lost");
  assertError(assert, await start(id, { command: "true", restart: "always" }), 400, "bad_request");
  assert.equal((await stop(id, s.json.id)).json.status, "killed");
});
