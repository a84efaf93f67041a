// Run ids and idempotency (#14): every run answer has a run id that fetches it again; a retry
// with the same Idempotency-Key answers the first answer instead of running again; a client that
// goes away loses nothing.
import assert from "node:assert/strict";
import { test } from "node:test";
import { assertError, call, plugin, uid, useStack } from "./helpers.mjs";

const h = useStack();
const create = (body, headers) => call(h.stack, "POST", "/api/sessions", body, headers);
const run = (id, body, headers) => call(h.stack, "POST", `/api/sessions/${id}/run`, body, headers);
const getRun = (id, runId) => call(h.stack, "GET", `/api/sessions/${id}/runs/${runId}`);
const RUN_ID = /^run_[0-9a-f]{24}$/;

test("every run answer has a run id that fetches the same answer; the last 20 are kept", async () => {
  const id = uid("runid");
  assert.equal((await create({ id, language: "bash" })).status, 201);
  const first = await run(id, { code: "echo one; echo err >&2; exit 3" });
  assert.equal(first.status, 200, first.text);
  assert.match(first.json.run_id, RUN_ID);
  assert.deepEqual((await getRun(id, first.json.run_id)).json, first.json, "the whole answer, as it was given");

  const p = await plugin(h.stack, id, "bash", { code: "echo plugged" });
  assert.match(p.json.run_id, RUN_ID);
  assert.deepEqual((await getRun(id, p.json.run_id)).json, p.json, "a plugin run answers in the plugin's shape");
  const ex = await call(h.stack, "POST", "/api/execute", { language: "bash", code: "echo once" });
  assert.match(ex.json.run_id, RUN_ID, "one-shot runs carry one too");

  const history = await call(h.stack, "GET", `/api/sessions/${id}/runs`);
  assert.deepEqual(history.json.runs.map((r) => r.run_id), [p.json.run_id, first.json.run_id]);

  const ids = [first.json.run_id, p.json.run_id];
  for (let i = 0; i < 19; i++) ids.push((await run(id, { code: `echo ${i}` })).json.run_id);
  assertError(assert, await getRun(id, ids[0]), 404, "not_found");
  for (const r of ids.slice(1)) assert.equal((await getRun(id, r)).status, 200, `${r} is one of the last 20`);
  assertError(assert, await getRun(id, "run_0123456789abcdef01234567"), 404, "not_found");
  assertError(assert, await getRun(id, "not-a-run"), 400, "bad_request");
  assertError(assert, await getRun(uid("missing"), ids[5]), 404, "not_found");
});

test("a retry with the same Idempotency-Key answers the first answer; it never runs twice", async () => {
  const id = uid("idem");
  assert.equal((await create({ id, language: "bash" })).status, 201);
  const body = { code: "echo x >> count.txt; wc -l < count.txt" };
  const key = { "idempotency-key": `k-${uid()}` };
  const a = await run(id, body, key);
  assert.equal(a.json.stdout, "1\n", a.text);
  const b = await run(id, body, key);
  assert.deepEqual(b.json, a.json, "the first answer, run id included");
  // Retries sent together: one runs, the other waits behind it and answers the same.
  const key2 = { "idempotency-key": `k-${uid()}` };
  const slow = { code: "sleep 1; echo x >> count.txt; wc -l < count.txt" };
  const [c, d] = await Promise.all([run(id, slow, key2), run(id, slow, key2)]);
  assert.deepEqual(c.json, d.json);
  assert.equal(c.json.stdout, "2\n");
  assert.equal((await run(id, { code: "wc -l < count.txt" })).json.stdout, "2\n", "two runs wrote, not four");

  assertError(assert, await run(id, { code: "echo other" }, key), 409, "conflict");
  assertError(assert, await run(id, body, { "idempotency-key": "has space" }), 400, "bad_request");
  const pk = { "idempotency-key": `p-${uid()}` };
  const p1 = await call(h.stack, "POST", `/?session=${id}`, { plugin: "bash", payload: { code: "echo x >> count.txt; wc -l < count.txt" } }, pk);
  const p2 = await call(h.stack, "POST", `/?session=${id}`, { plugin: "bash", payload: { code: "echo x >> count.txt; wc -l < count.txt" } }, pk);
  assert.deepEqual(p2.json, p1.json);
  assert.equal(p1.json.output, "3\n");
});

test("a create retried with the same Idempotency-Key answers the first session, even with a generated id", async () => {
  const key = { "idempotency-key": `c-${uid()}` };
  const body = { language: "python", metadata: { job: "nightly" } };
  const before = (await call(h.stack, "GET", "/api/sessions?limit=1000")).json.count;
  const a = await create(body, key);
  assert.equal(a.status, 201, a.text);
  const b = await create(body, key);
  assert.equal(b.status, 201, b.text);
  assert.deepEqual(b.json, a.json, "the first answer");
  assert.equal((await call(h.stack, "GET", "/api/sessions?limit=1000")).json.count, before + 1, "one session, not two");
  assertError(assert, await create({ language: "node" }, key), 409, "conflict");
  // A create that failed frees its key.
  const k2 = { "idempotency-key": `c-${uid()}` };
  assertError(assert, await create({ id: a.json.id, language: "python" }, k2), 409, "conflict");
  const fresh = await create({ id: uid("after"), language: "bash" }, k2);
  assert.equal(fresh.status, 201, `the key is free again: ${fresh.text}`);
});

test("a client that goes away loses nothing: the run ends, is committed, and a retry gets its answer", async () => {
  const id = uid("gone");
  assert.equal((await create({ id, language: "bash" })).status, 201);
  const key = `g-${uid()}`;
  const body = JSON.stringify({ code: "sleep 2; echo done > done.txt; echo finished" });
  const ctl = new AbortController();
  const sent = fetch(`${h.stack.url}/api/sessions/${id}/run`, {
    method: "POST",
    body,
    headers: { "content-type": "application/json", "idempotency-key": key },
    signal: ctl.signal,
  }).catch((e) => e);
  await new Promise((r) => setTimeout(r, 500));
  ctl.abort();
  assert.equal((await sent).name, "AbortError");
  const retry = await run(id, JSON.parse(body), { "idempotency-key": key });
  assert.equal(retry.status, 200, retry.text);
  assert.equal(retry.json.stdout, "finished\n");
  const runs = (await call(h.stack, "GET", `/api/sessions/${id}/runs`)).json.runs;
  assert.equal(runs.length, 1, "the first request ran; the retry did not run again");
  assert.equal(runs[0].run_id, retry.json.run_id);
  const file = await call(h.stack, "GET", `/api/sessions/${id}/files/done.txt`);
  assert.equal(file.text, "done\n", "and it was committed");
});
