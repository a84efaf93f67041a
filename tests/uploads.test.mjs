// Uploads through the files API: large bodies stream from the client through the Worker and the
// session's Durable Object into R2 (hashed on the way), so no part of the stack holds a file
// whole; a body cut off midway stores and commits nothing; bodies without a length still work.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import http from "node:http";
import { test } from "node:test";
import { call, r2Diff, r2State, uid, useStack } from "./helpers.mjs";

const h = useStack();
const MiB = 1024 * 1024;
const sha256 = (b) => createHash("sha256").update(b).digest("hex");

/** Pids of the workerd processes under this stack's wrangler. */
function workerdPids(rootPid) {
  const rows = execFileSync("ps", ["-eo", "pid=,ppid=,comm="], { encoding: "utf8" })
    .trim()
    .split("\n")
    .map((l) => l.trim().split(/\s+/));
  const found = [];
  const walk = (pid) => {
    for (const [p, pp, comm] of rows) {
      if (pp === String(pid)) {
        if (comm.startsWith("workerd")) found.push(Number(p));
        walk(p);
      }
    }
  };
  walk(rootPid);
  return found;
}
const peakKiB = (pids) => pids.reduce((a, pid) => a + Number(readFileSync(`/proc/${pid}/status`, "utf8").match(/VmHWM:\s+(\d+)/)[1]), 0);

/** A PUT with a raw socket-level request, for bodies that lie about or omit their length. */
function rawPut(path, { headers, chunks, cutAfter }) {
  return new Promise((resolve) => {
    const url = new URL(h.stack.url + path);
    const req = http.request({ host: url.hostname, port: url.port, path: url.pathname, method: "PUT", headers }, (res) => {
      let text = "";
      res.on("data", (d) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode, text }));
    });
    req.on("error", () => resolve({ status: 0, text: "connection closed" }));
    req.flushHeaders();
    for (const c of chunks) req.write(c);
    if (cutAfter !== undefined) setTimeout(() => { req.destroy(); resolve({ status: 0, text: "cut" }); }, cutAfter);
    else req.end();
  });
}

test("a 90 MiB upload streams through to R2, never held whole by the Worker or the object; bytes and runs see it exact", async () => {
  const id = uid("up");
  await call(h.stack, "POST", "/api/sessions", { id, language: "python" });
  // Warm the paths first, so that the measurement sees the upload, not first-use costs.
  assert.equal((await call(h.stack, "PUT", `/api/sessions/${id}/files/warm.bin`, randomBytes(9 * MiB))).status, 200);
  const pids = workerdPids(h.stack.wrangler.pid);
  assert.ok(pids.length > 0, "workerd found under wrangler");
  const before = peakKiB(pids);
  const body = randomBytes(90 * MiB);
  const put = await call(h.stack, "PUT", `/api/sessions/${id}/files/data/big.bin`, body);
  assert.equal(put.status, 200, put.text);
  assert.deepEqual(put.json, { path: "data/big.bin", size: 90 * MiB });
  const grew = (peakKiB(pids) - before) / 1024;
  console.log(`# 90 MiB upload: workerd peak RSS grew ${grew.toFixed(1)} MiB`);
  // Measured here: local workerd's own ingest of a 90 MiB body peaks at ~92 MiB even when the
  // Worker only counts the bytes (a dev-server artifact outside our code); streamed through the
  // object into local R2 it grew ~144 MiB; holding the body whole (as before streaming) ~447 MiB.
  // Twice the file tells the two apart.
  assert.ok(grew < 180, `a streamed upload must not be held whole: peak grew ${grew.toFixed(1)} MiB for a 90 MiB file`);
  const got = await call(h.stack, "GET", `/api/sessions/${id}/files/data/big.bin`);
  assert.equal(got.bytes.length, body.length);
  assert.equal(sha256(got.bytes), sha256(body));
  const run = await call(h.stack, "POST", `/api/sessions/${id}/run`, {
    code: "import hashlib\nprint(hashlib.sha256(open('data/big.bin', 'rb').read()).hexdigest())",
  });
  assert.equal(run.json.stdout, `${sha256(body)}\n`, run.text.slice(0, 500));
});

test("an upload cut off midway stores and commits nothing; the next upload works", async () => {
  const id = uid("cut");
  await call(h.stack, "POST", "/api/sessions", { id, language: "python" });
  const r2Before = await r2State(h.stack);
  const cut = await rawPut(`/api/sessions/${id}/files/partial.bin`, {
    headers: { "content-length": String(20 * MiB) },
    chunks: [randomBytes(4 * MiB)],
    cutAfter: 300,
  });
  assert.equal(cut.status, 0);
  // Give the object time to see the broken body and fail its R2 write.
  await new Promise((r) => setTimeout(r, 1500));
  const list = await call(h.stack, "GET", `/api/sessions/${id}/files`);
  assert.deepEqual(list.json.files.map((f) => f.path), [], list.text);
  const diff = r2Diff(r2Before, await r2State(h.stack));
  assert.deepEqual(diff.objects.filter(([k]) => k.includes(id)), [], "no object was stored for the cut upload");
  const ok = await call(h.stack, "PUT", `/api/sessions/${id}/files/partial.bin`, "whole");
  assert.equal(ok.status, 200, ok.text);
  assert.equal((await call(h.stack, "GET", `/api/sessions/${id}/files/partial.bin`)).text, "whole");
});

test("an upload without a length (chunked) is stored exactly; one over the limit is refused by its declared length", async () => {
  const id = uid("chunked");
  await call(h.stack, "POST", "/api/sessions", { id, language: "python" });
  const parts = [randomBytes(1 * MiB), randomBytes(3 * MiB), randomBytes(12345)];
  const res = await rawPut(`/api/sessions/${id}/files/chunked.bin`, { headers: { "transfer-encoding": "chunked" }, chunks: parts });
  assert.equal(res.status, 200, res.text);
  const got = await call(h.stack, "GET", `/api/sessions/${id}/files/chunked.bin`);
  assert.equal(sha256(got.bytes), sha256(Buffer.concat(parts)));
  // (The dev server reads a body before it answers, so the over-limit body is sent whole.)
  const big = await call(h.stack, "PUT", `/api/sessions/${id}/files/huge.bin`, new Uint8Array(100 * MiB + 1));
  assert.equal(big.status, 413, big.text);
  assert.equal(big.json.code, "too_large");
  const list = await call(h.stack, "GET", `/api/sessions/${id}/files`);
  assert.deepEqual(list.json.files.map((f) => f.path), ["chunked.bin"]);
});
