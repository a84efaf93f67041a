// ERA's session settings and forms (#13): PATCH, stored code, setup's manifest forms, deleting
// every session, names the workspace cannot hold, and refusals that must stay in the JSON shape.
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { test } from "node:test";
import { assertError, call, uid, useStack } from "./helpers.mjs";

// A small batch, so that deleting every session needs the background part.
const h = useStack({ vars: { PURGE_BATCH: "3" } });
const create = (body) => call(h.stack, "POST", "/api/sessions", body);
const get = (id) => call(h.stack, "GET", `/api/sessions/${id}`);
const patch = (id, body) => call(h.stack, "PATCH", `/api/sessions/${id}`, body);
const run = (id, body) => call(h.stack, "POST", `/api/sessions/${id}/run`, body);

async function waitSetup(id, ms = 180_000) {
  const until = Date.now() + ms;
  for (;;) {
    const s = await get(id);
    if (!["pending", "running"].includes(s.json.setup_status)) return s.json;
    if (Date.now() > until) throw new Error(`setup still ${s.json.setup_status}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

test("PATCH changes default_timeout, metadata and allow_internet; a bad value changes nothing", async () => {
  const id = uid("patch");
  const c = await create({ id, language: "python", metadata: { owner: "a" } });
  assert.equal(c.status, 201, c.text);
  assert.equal(c.json.default_timeout, null);
  assert.equal(c.json.allow_internet, true);

  const p = await patch(id, { default_timeout: 2, metadata: { team: "b" }, allowInternetAccess: false });
  assert.equal(p.status, 200, p.text);
  assert.equal(p.json.default_timeout, 2);
  assert.deepEqual(p.json.metadata, { team: "b" }, "metadata is replaced, not merged");
  assert.equal(p.json.allow_internet, false, "ERA's allowInternetAccess is the same field");
  assert.deepEqual((await get(id)).json, p.json, "GET shows what PATCH answered");

  // A run without a timeout gets the session's default: killed near 2 s, not 30.
  const t0 = Date.now();
  const slow = await run(id, { code: "import time\ntime.sleep(20)" });
  assert.equal(slow.status, 200, slow.text);
  assert.equal(slow.json.killed_by, "timeout", slow.text);
  assert.ok(Date.now() - t0 < 8_000, `killed after ${Date.now() - t0} ms`);
  // Its own timeout still wins.
  const own = await run(id, { code: "import time\ntime.sleep(3)\nprint('done')", timeout: 20 });
  assert.equal(own.json.stdout, "done\n", own.text);

  for (const bad of [{ default_timeout: -1 }, { default_timeout: 0 }, { default_timeout: 301 }, { default_timeout: 1.5 }, { language: "go" }, { persistent: false }, { allow_internet: true, allowInternetAccess: false }]) {
    assertError(assert, await patch(id, bad), 400);
  }
  for (const bad of [{ default_timeout: "5" }, { allow_internet: "yes" }, { metadata: [1] }]) {
    assertError(assert, await patch(id, bad), 422, "invalid_field");
  }
  assertError(assert, await patch(id, { metadata: { x: "a".repeat(17 * 1024) } }), 413, "too_large");
  assertError(assert, await call(h.stack, "PATCH", `/api/sessions/${id}`, "{not json"), 400, "invalid_json");
  const settings = (s) => ({ default_timeout: s.default_timeout, metadata: s.metadata, allow_internet: s.allow_internet, language: s.language, persistent: s.persistent });
  assert.deepEqual(settings((await get(id)).json), settings(p.json), "refused changes left everything as it was");

  const unset = await patch(id, { default_timeout: null, allow_internet: true });
  assert.equal(unset.status, 200, unset.text);
  assert.equal(unset.json.default_timeout, null);
  assert.equal(unset.json.allow_internet, true);
  assert.deepEqual(unset.json.metadata, { team: "b" }, "absent fields stay");
  assertError(assert, await patch(uid("missing"), { default_timeout: 5 }), 404, "not_found");

  const made = await create({ language: "bash", default_timeout: 7, allow_internet: false });
  assert.equal(made.status, 201, made.text);
  assert.equal(made.json.default_timeout, 7);
  assert.equal(made.json.allow_internet, false);
  assertError(assert, await create({ language: "bash", default_timeout: 0 }), 400);
});

test("allow_internet: false gives runs and setup commands loopback only, installers still work; PATCH turns it back", async () => {
  // A listener on the host's loopback: reachable with the network, not from the session's own.
  let arrived = 0;
  const server = createServer((sock) => {
    arrived++;
    sock.end("hello\n");
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const port = server.address().port;
  try {
    const probe = `import socket, time
t = time.time()
for what, go in [("dns", lambda: socket.getaddrinfo("pypi.org", 443)), ("host", lambda: socket.create_connection(("127.0.0.1", ${port}), timeout=5).recv(6))]:
    try:
        print(what, "ok", go())
    except OSError as e:
        print(what, "refused", type(e).__name__, round(time.time() - t, 1) < 2)
`;
    const id = uid("offline");
    const c = await create({ id, language: "python", allow_internet: false, setup: { pip: ["six==1.16.0"], commands: ["python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", " + port + "), timeout=5)' 2> net.txt; echo $? > rc.txt"] } });
    assert.equal(c.status, 201, c.text);
    const s = await waitSetup(id);
    assert.equal(s.setup_status, "completed", s.setup_log);
    const r = await run(id, { code: `import six\nprint(open("rc.txt").read().strip() != "0", "ConnectionRefused" in open("net.txt").read())\n${probe}` });
    assert.equal(r.status, 200, r.text);
    const lines = r.json.stdout.trim().split("\n");
    assert.equal(lines[0], "True True", `setup commands had no network either: ${r.text}`);
    assert.match(lines[1], /^dns refused \w+ True$/, r.text);
    assert.match(lines[2], /^host refused ConnectionRefusedError True$/, r.text);
    assert.equal(arrived, 0, "nothing reached the host's listener");

    // The installers have the machine's network, so they run no package code for an offline
    // session: a package whose install script dials the listener is installed, its script not run.
    const evil = { name: "evil", version: "1.0.0", scripts: { install: `node -e "require('net').connect(${port}, '127.0.0.1')"` } };
    await call(h.stack, "POST", `/api/sessions/${id}/setup`, { setup: { commands: [`mkdir -p evil && echo '${JSON.stringify(evil)}' > evil/package.json`] } });
    assert.equal((await waitSetup(id)).setup_status, "completed");
    await call(h.stack, "POST", `/api/sessions/${id}/setup`, { setup: { npm: ["./evil"] } });
    const installed = await waitSetup(id);
    assert.equal(installed.setup_status, "completed", installed.setup_log);
    assert.equal((await run(id, { code: "import os\nprint(os.path.exists('node_modules/evil/package.json'))" })).json.stdout, "True\n");
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(arrived, 0, "the package's install script did not run");

    const on = await patch(id, { allow_internet: true });
    assert.equal(on.json.allow_internet, true);
    const r2 = await run(id, { code: probe });
    assert.match(r2.json.stdout, /host ok b'hello\\n'/, r2.text);
    assert.equal(arrived, 1);
  } finally {
    server.close();
  }
});

test("stored code: PUT and GET it; a run without code runs it; none stored is a 422", async () => {
  const id = uid("code");
  assert.equal((await create({ id, language: "python" })).status, 201);
  assertError(assert, await run(id, {}), 422, "invalid_field");
  assertError(assert, await call(h.stack, "GET", `/api/sessions/${id}/code`), 404, "not_found");

  const code = "import sys\nprint('stored', sys.argv[1:] if len(sys.argv) > 1 else '')";
  const put = await call(h.stack, "PUT", `/api/sessions/${id}/code`, { code, description: "greets" });
  assert.equal(put.status, 200, put.text);
  assert.equal(put.json.code, code);
  assert.equal(put.json.description, "greets");
  assert.equal(put.json.code_length, Buffer.byteLength(code));
  assert.match(put.json.updated_at, /^\d{4}-\d\d-\d\dT/);
  const got = await call(h.stack, "GET", `/api/sessions/${id}/code`);
  assert.deepEqual(got.json, put.json);

  const r = await run(id, {});
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.stdout, "stored \n");
  const given = await run(id, { code: "print('given')" });
  assert.equal(given.json.stdout, "given\n", "code in the request wins");

  // The copy of a session carries its stored code.
  const copy = await call(h.stack, "POST", `/api/sessions/${id}/duplicate`, {});
  assert.equal(copy.status, 201, copy.text);
  assert.equal((await run(copy.json.id, {})).json.stdout, "stored \n");

  assertError(assert, await call(h.stack, "PUT", `/api/sessions/${id}/code`, { description: "no code" }), 422, "invalid_field");
  assertError(assert, await call(h.stack, "PUT", `/api/sessions/${id}/code`, { code: "x".repeat(1024 * 1024 + 1) }), 413, "too_large");
  assertError(assert, await call(h.stack, "PUT", `/api/sessions/${uid("missing")}/code`, { code: "1" }), 404, "not_found");
  assertError(assert, await call(h.stack, "POST", `/api/sessions/${id}/code`, { code: "1" }), 405);
  assert.deepEqual((await call(h.stack, "GET", `/api/sessions/${id}/code`)).json, put.json, "refused writes changed nothing");
});

test("setup takes a requirements file and a package.json, with the same idempotence", async () => {
  const py = uid("reqs");
  const requirements = "# what the job needs\n\ntabulate==0.9.0 ; python_version >= \"3.8\"  # tables\nsix>=1.16\n";
  const c = await create({ id: py, language: "python", setup: { pip: { requirements } } });
  assert.equal(c.status, 201, c.text);
  const s = await waitSetup(py);
  assert.equal(s.setup_status, "completed", s.setup_log);
  const r = await run(py, { code: "import tabulate, six\nprint(tabulate.__version__)" });
  assert.equal(r.json.stdout, "0.9.0\n", r.text);
  // The same text again installs nothing.
  await call(h.stack, "POST", `/api/sessions/${py}/setup`, { setup: { pip: { requirements } } });
  const again = await waitSetup(py);
  assert.equal(again.setup_status, "completed");
  assert.match(again.setup_log, /already installed/i, again.setup_log);

  const bad = await call(h.stack, "POST", `/api/sessions/${py}/setup`, { setup: { pip: { requirements: "six\n-r other.txt\n" } } });
  assertError(assert, bad, 400, "bad_request");
  assert.match(bad.json.error, /line 2/);
  assertError(assert, await create({ language: "python", setup: { pip: { requirements: "--index-url https://example.invalid/simple" } } }), 400);
  assertError(assert, await create({ language: "python", setup: { pip: { requirement: "six" } } }), 400);
  assertError(assert, await create({ language: "python", setup: { pip: {} } }), 422);

  const js = uid("pkgjson");
  const packageJson = JSON.stringify({ name: "job", private: true, dependencies: { ms: "2.1.3" } });
  assert.equal((await create({ id: js, language: "node", setup: { npm: { packageJson } } })).status, 201);
  const n = await waitSetup(js);
  assert.equal(n.setup_status, "completed", n.setup_log);
  const out = await run(js, { code: "const ms = require('ms'); const p = JSON.parse(require('fs').readFileSync('package.json', 'utf8')); console.log(ms('2h'), p.name)" });
  assert.equal(out.json.stdout, "7200000 job\n", out.text);
  assertError(assert, await create({ language: "node", setup: { npm: { packageJson: "[1]" } } }), 400);
  assertError(assert, await create({ language: "node", setup: { npm: { packageJson: "{\"dependencies\":{\"--x\":\"1\"}}" } } }), 400);
});

test("a name the workspace cannot hold is refused before anything is stored", async () => {
  const id = uid("names");
  assert.equal((await create({ id, language: "python" })).status, 201);
  const put = (path) => call(h.stack, "PUT", `/api/sessions/${id}/files/${path}`, "x", { "content-type": "application/octet-stream" });
  assertError(assert, await put("n".repeat(300)), 400, "bad_request");
  assertError(assert, await put(`d/${"é".repeat(128)}`), 400, "bad_request");
  assertError(assert, await put(Array(16).fill("d".repeat(200)).join("/")), 400, "bad_request");
  assert.equal((await put("n".repeat(255))).status, 200, "255 bytes is a name Linux holds");
  const files = await call(h.stack, "GET", `/api/sessions/${id}/files`);
  assert.deepEqual(files.json.files.map((f) => f.path), ["n".repeat(255)]);
  const r = await run(id, { code: "import os\nprint(max(len(n) for n in os.listdir('.')))" });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.stdout, "255\n");
});

test("a request that refuses every content coding still gets the JSON error shape", async () => {
  const r = await fetch(`${h.stack.url}/api/sessions/${uid("none")}`, { headers: { "accept-encoding": "br;q=0, *;q=0" } });
  const text = await r.text();
  assert.equal(r.status, 404, text);
  assert.match(r.headers.get("content-type") ?? "", /application\/json/);
  assert.equal(JSON.parse(text).code, "not_found");
});

// Last: it deletes every session of this stack.
test("DELETE /api/sessions deletes every session, the rest in the background; later sessions stay", async () => {
  for (let i = 0; i < 5; i++) assert.equal((await create({ id: uid("many"), language: "bash" })).status, 201);
  const before = (await call(h.stack, "GET", "/api/sessions?limit=1000")).json.sessions.map((s) => s.id);
  assert.ok(before.length >= 8, `${before.length} sessions`);

  const d = await call(h.stack, "DELETE", "/api/sessions");
  assert.equal(d.status, 200, d.text);
  assert.equal(d.json.deleted_count, 3, "one batch while the request is answered");
  assert.equal(d.json.remaining, before.length - 3);
  assert.equal(d.json.continuing, true);
  const later = uid("later");
  assert.equal((await create({ id: later, language: "bash" })).status, 201);

  const until = Date.now() + 60_000;
  let left;
  do {
    await new Promise((r) => setTimeout(r, 250));
    left = (await call(h.stack, "GET", "/api/sessions?limit=1000")).json.sessions.map((s) => s.id);
  } while (left.length > 1 && Date.now() < until);
  assert.deepEqual(left, [later], "every session listed at the request is gone, the later one stays");
  for (const id of before) assertError(assert, await get(id), 404, "not_found");
  const r = await run(later, { code: "echo alive" });
  assert.equal(r.json.stdout, "alive\n");

  const last = await call(h.stack, "DELETE", "/api/sessions");
  assert.deepEqual(last.json, { deleted_count: 1, remaining: 0, continuing: false });
  assert.deepEqual((await call(h.stack, "GET", "/api/sessions")).json.sessions, []);
});
