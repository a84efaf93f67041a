// The idle time a session's container gets from the Worker (EDGERUN_CONTEXT_IDLE_MS, from
// IDLE_TIMEOUT_MS: see core::lifecycle::startup) is the one its executor stops contexts after.
// Checked on a native executor started with that variable, where the context's stop is visible
// apart from the container's (in a container both come at the same time). Run in the container
// phase of `npm test` with tests/container.test.mjs.
import assert from "node:assert/strict";
import { test } from "node:test";
import { call, uid, useStack } from "./helpers.mjs";

const IDLE_MS = 1500;
const h = useStack({ executorEnv: { EDGERUN_CONTEXT_IDLE_MS: String(IDLE_MS) } });

test("a context without a run for EDGERUN_CONTEXT_IDLE_MS is stopped, and its next run restores it", async () => {
  const sid = uid("idle");
  assert.equal((await call(h.stack, "POST", "/api/sessions", { id: sid, language: "python" })).status, 201);
  const ctx = await call(h.stack, "POST", `/api/sessions/${sid}/contexts`, { language: "python" });
  assert.equal(ctx.status, 201, ctx.text);
  const run = (code) => call(h.stack, "POST", `/api/sessions/${sid}/run`, { context: ctx.json.id, code });
  const first = await run("x = 41");
  assert.equal(first.status, 200, first.text);
  const soon = await run("x");
  assert.equal(soon.json.result, "41");
  assert.notEqual(soon.json.restored, true, "a context in use keeps its interpreter");
  // Stopped within the idle time plus one check (every min(idle, 60 s)).
  await new Promise((r) => setTimeout(r, IDLE_MS * 2 + 1000));
  const later = await run("x + 1");
  assert.equal(later.status, 200, later.text);
  assert.equal(later.json.result, "42");
  assert.equal(later.json.restored, true, `the idle context's interpreter was stopped and restored: ${later.text}`);
});

test("an EDGERUN_CONTEXT_IDLE_MS of 0 is refused at start", async () => {
  const bad = await h.stack.restartExecutor({ fresh: false, extraEnv: { EDGERUN_CONTEXT_IDLE_MS: "0" } }).then(
    () => "started",
    (e) => e.message,
  );
  assert.match(bad, /exited with 2/, "the executor exits with status 2 on a bad setting");
  await h.stack.restartExecutor({ fresh: false });
});
