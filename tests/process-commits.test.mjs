// The final commit of a background process (#18) comes when it ends, not at the next periodic
// commit: the session object's alarm asks the executor how its processes are every
// PROCESS_POLL_MS (default 2 s) while one runs, and commits as soon as one is seen ended (or was
// seen ended by a request, such as its DELETE). The periodic commits are set ten minutes apart
// here, so only that can bring the files to R2 within the test's bounds.
import assert from "node:assert/strict";
import { test } from "node:test";
import { call, uid, useStack } from "./helpers.mjs";

const h = useStack({ vars: { PROCESS_COMMIT_MS: "600000" } });
const api = (method, path, body) => call(h.stack, method, path, body);

/** Polls the committed file (GET …/files reads the session's index and R2, never the sandbox)
 * every 100 ms until it is there, up to `ms`; answers it and when it was first seen. */
async function committed(id, path, ms = 10_000) {
  const end = Date.now() + ms;
  for (;;) {
    const r = await api("GET", `/api/sessions/${id}/files/${path}`);
    if (r.status === 200 || Date.now() > end) return { r, at: Date.now() };
    await new Promise((res) => setTimeout(res, 100));
  }
}

test("what a process wrote is committed within seconds of its end, with the periodic commit ten minutes off", async (t) => {
  const id = uid("proc-end");
  assert.equal((await api("POST", "/api/sessions", { id, language: "bash" })).status, 201);
  // One that runs on (the ticks would go on for it anyway) and writes at once...
  const long = await api("POST", `/api/sessions/${id}/processes`, { command: "echo a > long.txt; sleep 300" });
  assert.equal(long.status, 201, long.text);
  // ...and one that writes, notes when it ends (ms, this machine's clock) and exits.
  const short = await api("POST", `/api/sessions/${id}/processes`, { command: "sleep 1; echo done > end.txt; date +%s%3N > ended.txt" });
  assert.equal(short.status, 201, short.text);
  const { r, at } = await committed(id, "end.txt");
  assert.equal(r.status, 200, `end.txt was not committed within 10 s of the process's start: ${r.text}`);
  assert.equal(r.text, "done\n");
  const ended = Number((await api("GET", `/api/sessions/${id}/files/ended.txt`)).text);
  t.diagnostic(`committed ${at - ended} ms after the process ended (seen by polling the file every 100 ms)`);
  assert.ok(at - ended < 10_000, `committed ${at - ended} ms after its end`);
  assert.equal((await api("GET", `/api/sessions/${id}/files/long.txt`)).text, "a\n", "the running one's file came with it");

  // The last live one ends by DELETE: its files are committed too, and no tick is owed after.
  const w = await api("POST", `/api/sessions/${id}/processes`, { command: "echo late > late.txt; sleep 300" });
  assert.equal(w.status, 201, w.text);
  await new Promise((res) => setTimeout(res, 500));
  for (const p of [long.json.id, w.json.id]) assert.equal((await api("DELETE", `/api/sessions/${id}/processes/${p}`)).status, 200);
  const stopped = Date.now();
  const late = await committed(id, "late.txt");
  assert.equal(late.r.status, 200, `late.txt was not committed within 10 s of the DELETE: ${late.r.text}`);
  t.diagnostic(`committed ${late.at - stopped} ms after the DELETE of the last live process`);
  const s = await api("GET", `/api/sessions/${id}`);
  assert.equal(s.json.run_count, 0, "the commits are not runs");
});
