// The Worker treats the executor's answers as untrusted (in production the container is where
// user code runs, and whatever listens on its port may answer anything). A stack's wrangler is
// pointed at a FAKE executor speaking the executor's framed protocol; it answers one honest run,
// then hostile deltas. Each hostile answer must fail the run with a clear JSON error and change
// nothing: the session's object, its files and their bytes, and what the local R2 holds.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { createServer } from "node:http";
import { after, before, test } from "node:test";
import { freePort, startStack } from "../scripts/stack.mjs";
import { assertError, call, r2State, uid } from "./helpers.mjs";

const hex = (n) => randomBytes(n).toString("hex");
const sha = (b) => createHash("sha256").update(b).digest("hex");

/** Frames a JSON header and a body as the protocol does: u32 BE length, header, body. */
function frame(header, body = Buffer.alloc(0)) {
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(4);
  len.writeUInt32BE(json.length);
  return Buffer.concat([len, json, body]);
}

/** A tar-shaped body holding files one after the other (512-byte header blocks, padded content,
 * 1024-byte trailer) and the index entries pointing into it. */
function pack(files) {
  const parts = [];
  const entries = [];
  let at = 0;
  for (const { path, content } of files) {
    parts.push(Buffer.alloc(512));
    at += 512;
    entries.push({ path, kind: "file", mode: 0o644, mtime_ns: Date.now() * 1e6, size: content.length, hash: sha(content), offset: at });
    const padded = Math.ceil(content.length / 512) * 512;
    parts.push(Buffer.concat([content, Buffer.alloc(padded - content.length)]));
    at += padded;
  }
  parts.push(Buffer.alloc(1024));
  const tar = Buffer.concat(parts);
  return { entries, tar };
}

const result = (extra = {}) => ({ exit_code: 0, signal: null, killed_by: null, stdout: "fake\n", stderr: "", timed_out: false, truncated: false, duration_ms: 1.5, logs: [], data: { k: 1 }, install_failed: false, ...extra });

/** The fake executor: answers each run with whatever `next` builds from the request. */
function fakeExecutor() {
  const fake = { next: null, requests: [], secrets: new Set() };
  fake.server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      fake.secrets.add(req.headers["x-edgerun-secret"] ?? "");
      const body = Buffer.concat(chunks);
      fake.requests.push({ method: req.method, url: req.url });
      if (req.method === "POST" && /^\/v1\/sessions\/[^/]+\/run$/.test(req.url)) {
        const run = JSON.parse(body.toString());
        const out = fake.next(run);
        res.writeHead(200, { "content-type": "application/octet-stream", "content-length": out.length });
        return res.end(out);
      }
      if (req.url === "/health") return res.end(JSON.stringify({ status: "ok" }));
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ version: null }));
    });
  });
  return fake;
}

const fake = fakeExecutor();
const h = {};
before(async () => {
  const port = await freePort();
  await new Promise((r) => fake.server.listen(port, "127.0.0.1", r));
  h.stack = await startStack({ executorUrl: `http://127.0.0.1:${port}` });
}, { timeout: 300_000 });
after(async () => {
  await h.stack?.stop();
  fake.server.close();
});

const A = uid("honest");
const B = uid("other");
const run = (id) => call(h.stack, "POST", `/api/sessions/${id}/run`, { code: "print(1)" });

/** Everything a failed run must leave as it was. */
async function state(id) {
  const s = await call(h.stack, "GET", `/api/sessions/${id}`);
  assert.equal(s.status, 200, s.text);
  const f = await call(h.stack, "GET", `/api/sessions/${id}/files`);
  const bytes = {};
  for (const file of f.json.files) bytes[file.path] = sha((await call(h.stack, "GET", `/api/sessions/${id}/files/${encodeURIComponent(file.path)}`)).bytes);
  const r2 = await r2State(h.stack);
  return { session: s.json, files: f.json, bytes, objects: [...r2.objects].sort(), blobs: [...r2.blobs].sort() };
}

test("an honest answer from the fake executor is stored (the fake speaks the protocol)", async () => {
  for (const id of [A, B]) assert.equal((await call(h.stack, "POST", "/api/sessions", { id, language: "python" })).status, 201);
  for (const [id, text] of [[A, "honest A\n"], [B, "secret of B\n"]]) {
    fake.next = (req) => {
      const { entries, tar } = pack([{ path: "kept.txt", content: Buffer.from(text) }]);
      return frame({ result: result(), delta: { base: req.expect_version ?? null, version: hex(16), entries, deleted: [], tar_len: tar.length } }, tar);
    };
    const r = await run(id);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.stdout, "fake\n");
    const got = await call(h.stack, "GET", `/api/sessions/${id}/files/kept.txt`);
    assert.equal(got.text, text);
  }
  assert.deepEqual([...fake.secrets], [h.stack.secret], "every request carried the stack's secret");
});

test("hostile run answers fail with a clear JSON error and change nothing", async () => {
  const before = await state(A);
  const other = await state(B);
  const objectsBefore = before.objects;
  const okFile = (path = "x.txt", content = Buffer.from("x")) => pack([{ path, content }]);
  const delta = (req, d) => ({ base: req.expect_version ?? null, version: hex(16), deleted: [], ...d });
  const cases = {
    "a path with ..": (req) => {
      const { entries, tar } = okFile("../x");
      return frame({ result: result(), delta: delta(req, { entries, tar_len: tar.length }) }, tar);
    },
    "an entry whose bytes run past the tar": (req) => {
      const { entries, tar } = okFile();
      entries[0].size = 1 << 20;
      return frame({ result: result(), delta: delta(req, { entries, tar_len: tar.length }) }, tar);
    },
    "a path into another session": (req) => {
      const { entries, tar } = okFile(`../../${B}/ws/kept.txt`);
      return frame({ result: result(), delta: delta(req, { entries, tar_len: tar.length }) }, tar);
    },
    "an absolute path": (req) => {
      const { entries, tar } = okFile("/etc/passwd");
      return frame({ result: result(), delta: delta(req, { entries, tar_len: tar.length }) }, tar);
    },
    "a version naming another session's packs": (req) => {
      const { entries, tar } = okFile();
      return frame({ result: result(), delta: delta(req, { version: `../../packs/${B}/0000000001-x`, entries, tar_len: tar.length }) }, tar);
    },
    "a version that passes for an upload": (req) => {
      const { entries, tar } = okFile();
      return frame({ result: result(), delta: delta(req, { version: "x-upload-y", entries, tar_len: tar.length }) }, tar);
    },
    "a huge count of entries": (req) => {
      const entries = Array.from({ length: 100_001 }, (_, i) => ({ path: `d${i}`, kind: "dir", mode: 0o755, mtime_ns: 1, size: 0, hash: "", offset: 0 }));
      const tar = Buffer.alloc(512 * 2);
      return frame({ result: result(), delta: delta(req, { entries, tar_len: tar.length }) }, tar);
    },
    "a deleted path ..": (req) => frame({ result: result(), delta: delta(req, { entries: [], deleted: [".."], tar_len: 0 }) }),
    "the data file as an entry": (req) => {
      const { entries, tar } = okFile(".session_data.json");
      return frame({ result: result(), delta: delta(req, { entries, tar_len: tar.length }) }, tar);
    },
    "a delta from another base": (req) => {
      const { entries, tar } = okFile();
      return frame({ result: result(), delta: delta(req, { base: hex(16), entries, tar_len: tar.length }) }, tar);
    },
    "overlapping entries": (req) => {
      const { entries, tar } = pack([{ path: "a", content: Buffer.from("aaaa") }, { path: "b", content: Buffer.from("bbbb") }]);
      entries[1].offset = entries[0].offset;
      return frame({ result: result(), delta: delta(req, { entries, tar_len: tar.length }) }, tar);
    },
    "data that is not an object": (req) => frame({ result: result({ data: [1, 2, 3] }), delta: delta(req, { entries: [], deleted: ["kept.txt"], tar_len: 0 }) }),
    "an absurd duration": (req) => frame({ result: result({ duration_ms: -5 }), delta: delta(req, { entries: [], deleted: ["kept.txt"], tar_len: 0 }) }),
    "a header length past any honest answer": () => {
      const b = Buffer.alloc(8);
      b.writeUInt32BE(0xffffffff);
      return b;
    },
    "a tar body shorter than its header says": (req) => {
      const { entries, tar } = okFile("short.txt", Buffer.alloc(4096, 1));
      return frame({ result: result(), delta: delta(req, { entries, tar_len: tar.length }) }, tar.subarray(0, 2048));
    },
    "not a frame at all": () => Buffer.from("<html>hello</html>"),
  };
  for (const [name, answer] of Object.entries(cases)) {
    fake.next = answer;
    const r = await run(A);
    assertError(assert, r, 502, "sandbox_failed");
    assert.ok(r.json.error.length > 10, `${name}: ${r.text}`);
    if (name !== "not a frame at all") assert.match(r.json.error, /refused|not the|header/, `${name}: ${r.json.error}`);
    const now = await state(A);
    if (name === "a tar body shorter than its header says") {
      // The R2 write started and failed: no object exists. Local R2 (Miniflare) keeps the bytes it
      // had received as a blob no object refers to; R2 itself keeps nothing of a failed put.
      assert.deepEqual({ ...now, blobs: before.blobs }, before, `${name}: session A changed`);
      before.blobs = now.blobs;
      other.blobs = now.blobs;
    } else {
      assert.deepEqual(now, before, `${name}: session A changed`);
    }
  }
  assert.deepEqual(await state(B), other, "session B as it was");
  const r2 = await r2State(h.stack);
  assert.deepEqual([...r2.objects].sort(), objectsBefore, "no R2 object was written or removed by any hostile answer");
  // B's file is still B's and readable only through B.
  assert.equal((await call(h.stack, "GET", `/api/sessions/${B}/files/kept.txt`)).text, "secret of B\n");
  assertError(assert, await call(h.stack, "GET", `/api/sessions/${A}/files/${encodeURIComponent(`../../${B}/ws/kept.txt`)}`), 400);
});

test("after hostile answers, an honest one is stored again (the session is not poisoned)", async () => {
  fake.next = (req) => {
    const { entries, tar } = pack([{ path: "later.txt", content: Buffer.from("later\n") }]);
    return frame({ result: result(), delta: { base: req.expect_version ?? null, version: hex(16), entries, deleted: [], tar_len: tar.length } }, tar);
  };
  const r = await run(A);
  assert.equal(r.status, 200, r.text);
  assert.equal((await call(h.stack, "GET", `/api/sessions/${A}/files/later.txt`)).text, "later\n");
  assert.equal((await call(h.stack, "GET", `/api/sessions/${A}/files/kept.txt`)).text, "honest A\n");
});
