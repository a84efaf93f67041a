// Per-run accounting through the whole stack: every run answer carries what the run cost,
// `cpu_ms` and `peak_memory_bytes` (from the run's cgroup where runs have one), on the session
// run route and the plugin endpoint alike.
import assert from "node:assert/strict";
import { test } from "node:test";
import { call, plugin, uid, useStack } from "./helpers.mjs";

const h = useStack();

// About 300 ms of CPU while 64 MiB are held, touched.
const COSTLY = "import time\nb = bytearray(64 * 1024 * 1024)\nfor i in range(0, len(b), 4096):\n    b[i] = 1\nt = time.process_time()\nwhile time.process_time() - t < 0.3:\n    pass\nprint('done')";

test("a run answer says how much CPU time and memory the run used", async () => {
  const id = uid("cost");
  assert.equal((await call(h.stack, "POST", "/api/sessions", { id, language: "python" })).status, 201);
  const r = await call(h.stack, "POST", `/api/sessions/${id}/run`, { code: COSTLY });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.stdout, "done\n");
  assert.ok(r.json.cpu_ms >= 280 && r.json.cpu_ms <= r.json.duration_ms * 2 + 50, `cpu_ms ${r.json.cpu_ms} in ${r.json.duration_ms} ms`);
  assert.ok(r.json.peak_memory_bytes >= 64 * 2 ** 20, `peak ${r.json.peak_memory_bytes}`);
  // A cheap run is counted as cheap, and the plugin endpoint carries the same fields, for a
  // fresh process and for a run in the session's default context.
  const p = await plugin(h.stack, id, "python", { code: "print(1)", fresh: true });
  assert.equal(p.status, 200, p.text);
  assert.ok(p.json.cpu_ms >= 0 && p.json.cpu_ms < 200, `cpu_ms ${p.json.cpu_ms}`);
  assert.ok(p.json.peak_memory_bytes > 0 && p.json.peak_memory_bytes < 64 * 2 ** 20, `peak ${p.json.peak_memory_bytes}`);
  const c = await plugin(h.stack, id, "python", { code: COSTLY });
  assert.equal(c.status, 200, c.text);
  assert.equal(c.json.output, "done\n");
  assert.ok(c.json.context, "a context run");
  assert.ok(c.json.cpu_ms >= 250, `context run cpu_ms ${c.json.cpu_ms}`);
});
