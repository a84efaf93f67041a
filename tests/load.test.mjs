// Load: 32 sessions running back to back plus 10 concurrent writers on one session, for
// LOAD_SECONDS (default 120). No error, no lost update, and the executor's RSS after warm-up grows
// by at most 10 %.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { call, useStack } from "./helpers.mjs";

const h = useStack();
const SECONDS = Number(process.env.LOAD_SECONDS ?? 120);
const rss = (pid) => Number(readFileSync(`/proc/${pid}/status`, "utf8").match(/VmRSS:\s+(\d+)/)[1]);
const inc = "import json\nd=json.load(open('.session_data.json'))\nd['n']+=1\njson.dump(d,open('.session_data.json','w'))";

test(`32 sessions × runs plus 10 writers on one session for ${SECONDS} s: no error, no lost update, bounded RSS`, { timeout: (SECONDS + 120) * 1000 }, async () => {
  const create = async () => (await call(h.stack, "POST", "/api/sessions", { language: "python", data: { n: 0 } })).json.id;
  const sessions = [];
  for (let i = 0; i < 32; i++) sessions.push(await create());
  const shared = await create();
  const done = new Map(sessions.map((id) => [id, 0]));
  let sharedDone = 0;
  const errors = [];
  const until = Date.now() + SECONDS * 1000;
  let warmRss = null;
  const warmAt = Date.now() + Math.min(20, SECONDS / 4) * 1000;
  const sampler = setInterval(() => {
    if (warmRss === null && Date.now() >= warmAt) warmRss = rss(h.stack.executor.pid);
  }, 500);
  const runOnce = async (id) => {
    const r = await call(h.stack, "POST", `/api/sessions/${id}/run`, { code: inc });
    if (r.status !== 200 || r.json.exit_code !== 0) {
      errors.push(`${id}: ${r.status} ${r.text.slice(0, 200)}`);
      return false;
    }
    return true;
  };
  const sessionWorker = async (id) => {
    while (Date.now() < until) if (await runOnce(id)) done.set(id, done.get(id) + 1);
  };
  const sharedWriter = async () => {
    while (Date.now() < until) if (await runOnce(shared)) sharedDone++;
  };
  await Promise.all([...sessions.map(sessionWorker), ...Array.from({ length: 10 }, sharedWriter)]);
  clearInterval(sampler);
  await new Promise((r) => setTimeout(r, 2000)); // let in-flight answers finish and their buffers go
  const endRss = rss(h.stack.executor.pid);
  assert.deepEqual(errors, []);
  for (const id of sessions) {
    const s = (await call(h.stack, "GET", `/api/sessions/${id}`)).json;
    assert.equal(s.data.n, done.get(id), `lost update on ${id}`);
    assert.ok(done.get(id) >= Math.min(20, SECONDS / 6), `${id} made progress (${done.get(id)} runs)`);
  }
  assert.equal((await call(h.stack, "GET", `/api/sessions/${shared}`)).json.data.n, sharedDone, "lost update on the shared session");
  const total = [...done.values()].reduce((a, b) => a + b, 0) + sharedDone;
  console.log(`# load: ${total} runs in ${SECONDS} s (${(total / SECONDS).toFixed(1)}/s), shared session ${sharedDone}, executor RSS ${warmRss} KiB after warm-up, ${endRss} KiB at the end`);
  assert.ok(warmRss !== null);
  assert.ok(endRss <= warmRss * 1.1, `executor RSS grew from ${warmRss} to ${endRss} KiB`);
});
