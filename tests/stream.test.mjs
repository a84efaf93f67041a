// Streamed runs and cancel (#14): output as Server-Sent Events while the process still runs, on
// every run route and ERA's stream route; a dropped stream loses nothing; cancel ends a run.
import assert from "node:assert/strict";
import { test } from "node:test";
import { assertError, call, stream, uid, useStack } from "./helpers.mjs";

const h = useStack({ vars: { SSE_KEEP_ALIVE_MS: "300" } });
const create = (body) => call(h.stack, "POST", "/api/sessions", body);
const text = (events, kind) => events.filter((e) => e.event === kind).map((e) => e.data.data).join("");
const PRINT_SLEEP_PRINT = "import time\nprint('a', flush=True)\ntime.sleep(1.5)\nprint('b', flush=True)";

test("a streamed run sends its output while the process runs, then its whole answer", async () => {
  const id = uid("sse");
  assert.equal((await create({ id, language: "python" })).status, 201);
  const t0 = Date.now();
  const s = await stream(h.stack, "POST", `/api/sessions/${id}/run`, { code: PRINT_SLEEP_PRINT });
  assert.equal(s.status, 200);
  assert.match(s.headers.get("content-type"), /^text\/event-stream/);
  const named = s.events.filter((e) => e.event);
  assert.equal(named[0].event, "run", "the run id comes first");
  const a = named.find((e) => e.event === "stdout" && e.data.data.includes("a"));
  const b = named.find((e) => e.event === "stdout" && e.data.data.includes("b"));
  const exit = named.at(-1);
  assert.equal(exit.event, "exit");
  assert.ok(b.at - a.at >= 1000, `"a" arrived ${b.at - a.at} ms before "b": before the sleep ended`);
  assert.ok(a.at - t0 < 5000);
  assert.equal(text(s.events, "stdout"), "a\nb\n");
  assert.equal(exit.data.stdout, "a\nb\n");
  assert.equal(exit.data.exit_code, 0);
  assert.equal(exit.data.run_id, named[0].data.run_id);
  assert.ok(s.events.some((e) => e.comment === "keep-alive"), "a keep-alive comment during the silence");
  const again = await call(h.stack, "GET", `/api/sessions/${id}/runs/${exit.data.run_id}`);
  assert.deepEqual(again.json, exit.data, "the exit event is the run answer");
  // The buffered call is unchanged.
  const plain = await call(h.stack, "POST", `/api/sessions/${id}/run`, { code: "print('plain')" });
  assert.equal(plain.json.stdout, "plain\n");
});

test("output is cut on character boundaries; stderr streams too", async () => {
  const id = uid("utf8");
  assert.equal((await create({ id, language: "python" })).status, 201);
  const code = "import sys, time\nw = sys.stdout.buffer\nw.write(b'\\xc3'); w.flush(); time.sleep(0.4)\nw.write(b'\\xa9\\n'); w.flush()\nprint('warn', file=sys.stderr, flush=True)";
  const s = await stream(h.stack, "POST", `/api/sessions/${id}/run`, { code });
  const out = s.events.filter((e) => e.event === "stdout").map((e) => e.data.data);
  assert.ok(out.every((d) => !d.includes("\ufffd")), JSON.stringify(out));
  assert.equal(out.join(""), "é\n");
  assert.equal(text(s.events, "stderr"), "warn\n");
});

test("?stream=1 streams the execute and plugin routes; ERA's stream route speaks ERA's events", async () => {
  const ex = await stream(h.stack, "POST", "/api/execute?stream=1", { language: "bash", code: "echo one; sleep 1; echo two" }, { accept: "*/*" });
  assert.equal(text(ex.events, "stdout"), "one\ntwo\n");
  assert.equal(ex.events.at(-1).event, "exit");
  assert.equal(ex.events.at(-1).data.stdout, "one\ntwo\n");

  const id = uid("plug");
  const p = await stream(h.stack, "POST", `/?session=${id}&stream=1`, { plugin: "python", payload: { code: PRINT_SLEEP_PRINT } }, { accept: "*/*" });
  const exit = p.events.at(-1);
  assert.equal(exit.event, "exit");
  assert.equal(exit.data.output, "a\nb\n", "the plugin's own answer shape");
  assert.equal(exit.data.success, true);

  const era = await stream(h.stack, "POST", `/api/sessions/${id}/stream`, { code: "print('x', flush=True)\nraise SystemExit(4)" });
  const msgs = era.events.filter((e) => e.event).map((e) => e.data);
  assert.equal(msgs[0].type, "start");
  assert.deepEqual(msgs.filter((m) => m.type === "stdout").map((m) => m.content).join(""), "x\n");
  const done = msgs.at(-1);
  assert.equal(done.type, "done");
  assert.equal(done.exit_code, 4);
  assert.ok(era.events.filter((e) => e.event).every((e) => e.event === "message"), "ERA's events are unnamed data lines");
  assertError(assert, await call(h.stack, "POST", `/api/sessions/${id}/run?stream=maybe`, { code: "1" }), 400, "bad_request");
});

test("errors before the run began are plain JSON errors; after, an error event", async () => {
  const missing = await stream(h.stack, "POST", `/api/sessions/${uid("none")}/run`, { code: "1" });
  assertError(assert, missing, 404, "not_found");
  const id = uid("nocode");
  assert.equal((await create({ id, language: "bash" })).status, 201);
  assertError(assert, await stream(h.stack, "POST", `/api/sessions/${id}/run`, {}), 422, "invalid_field");
  assertError(assert, await stream(h.stack, "POST", `/api/sessions/${id}/run`, { code: "1", timeout: 0 }), 400);
});

test("a dropped stream loses nothing: the run ends, is committed, and its answer is there by run id", async () => {
  const id = uid("drop");
  assert.equal((await create({ id, language: "bash" })).status, 201);
  const ctl = new AbortController();
  let runId;
  const read = stream(h.stack, "POST", `/api/sessions/${id}/run`, { code: "echo start; sleep 2; echo kept > kept.txt; echo end" }, { signal: ctl.signal }, (ev) => {
    if (ev.event === "run") runId = ev.data.run_id;
    if (ev.event === "stdout") ctl.abort();
  }).catch((e) => e);
  assert.equal((await read).name, "AbortError");
  assert.match(runId, /^run_/);
  let answer;
  const until = Date.now() + 20_000;
  while (Date.now() < until) {
    const r = await call(h.stack, "GET", `/api/sessions/${id}/runs/${runId}`);
    if (r.status === 200) {
      answer = r.json;
      break;
    }
    assertError(assert, r, 404, "not_found");
    await new Promise((res) => setTimeout(res, 200));
  }
  assert.equal(answer?.stdout, "start\nend\n");
  assert.equal((await call(h.stack, "GET", `/api/sessions/${id}/files/kept.txt`)).text, "kept\n");
});

test("cancel ends the running run within a second, keeps what it wrote, and is a 409 with nothing running", async () => {
  const id = uid("cancel");
  assert.equal((await create({ id, language: "bash" })).status, 201);
  assertError(assert, await call(h.stack, "POST", `/api/sessions/${id}/cancel`), 409, "conflict");
  let cancelled;
  let runId;
  const s = await stream(h.stack, "POST", `/api/sessions/${id}/run`, { code: "echo partial > partial.txt; echo go; sleep 30; echo never" }, {}, (ev) => {
    if (ev.event === "run") runId = ev.data.run_id;
    if (ev.event === "stdout" && !cancelled) cancelled = call(h.stack, "POST", `/api/sessions/${id}/cancel`).then((c) => ({ c, at: Date.now() }));
  });
  const { c, at } = await cancelled;
  assert.equal(c.status, 200, c.text);
  assert.deepEqual(c.json, { cancelled: runId });
  const exit = s.events.at(-1);
  assert.equal(exit.event, "exit");
  assert.ok(exit.at - at < 3000, `ended ${exit.at - at} ms after the cancel`);
  assert.equal(exit.data.killed_by, "cancelled");
  assert.equal(exit.data.signal, "SIGKILL");
  assert.equal(exit.data.timed_out, false);
  assert.equal(exit.data.stdout, "go\n");
  assert.equal((await call(h.stack, "GET", `/api/sessions/${id}/files/partial.txt`)).text, "partial\n", "what it wrote is committed");
  const hist = (await call(h.stack, "GET", `/api/sessions/${id}/runs`)).json.runs;
  assert.equal(hist[0].killed_by, "cancelled");
  assertError(assert, await call(h.stack, "POST", `/api/sessions/${id}/cancel`), 409, "conflict");
  // A buffered run is cancelled the same way.
  const slow = call(h.stack, "POST", `/api/sessions/${id}/run`, { code: "sleep 30" });
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal((await call(h.stack, "POST", `/api/sessions/${id}/cancel`)).status, 200);
  assert.equal((await slow).json.killed_by, "cancelled");
});

test("a setup's progress streams: installers' output, commands' output, then the session once it ended", async () => {
  const id = uid("setup");
  const c = await create({ id, language: "python", setup: { pip: ["six==1.16.0"], commands: ["echo step one", "sleep 1", "echo step two"] } });
  assert.equal(c.status, 201, c.text);
  const s = await stream(h.stack, "GET", `/api/sessions/${id}/setup`);
  assert.equal(s.status, 200);
  const named = s.events.filter((e) => e.event);
  assert.match(named.filter((e) => e.event === "log").map((e) => e.data.data).join(""), /six/i, "pip's output streams as log events");
  const one = named.find((e) => e.event === "stdout" && e.data.data.includes("step one"));
  const two = named.find((e) => e.event === "stdout" && e.data.data.includes("step two"));
  assert.ok(two.at - one.at >= 800, `${two.at - one.at} ms between the commands' lines`);
  const exit = named.at(-1);
  assert.equal(exit.event, "exit");
  assert.equal(exit.data.setup_status, "completed");
  assert.equal(exit.data.id, id);
  // Without events, the same route answers the session; once over, events answer at once.
  const plain = await call(h.stack, "GET", `/api/sessions/${id}/setup`);
  assert.equal(plain.json.setup_status, "completed");
  const after = await stream(h.stack, "GET", `/api/sessions/${id}/setup`);
  assert.deepEqual(after.events.filter((e) => e.event).map((e) => e.event), ["exit"]);
  assertError(assert, await call(h.stack, "GET", `/api/sessions/${uid("none")}/setup`), 404, "not_found");
});

test("a setup's follower who comes once it started is given what it sent so far (its latest 64 KiB), then the rest", async () => {
  const id = uid("setup-late");
  // About 90 KiB of output, then a pause, then one more line.
  const lines = 'for i in $(seq 1 2000); do echo "line $i of the setup, padded to some forty bytes"; done';
  const c = await create({ id, language: "bash", setup: { commands: [lines, "sleep 2", "echo the last line"] } });
  assert.equal(c.status, 201, c.text);
  let late;
  let first = "";
  const early = stream(h.stack, "GET", `/api/sessions/${id}/setup`, undefined, {}, (ev) => {
    if (ev.event !== "stdout" || late) return;
    first += ev.data.data;
    // The first follower has seen every line of the loop: a second one comes now, mid-setup.
    if (first.includes("line 2000 ")) late = stream(h.stack, "GET", `/api/sessions/${id}/setup`);
  });
  const [a, b] = await Promise.all([early, early.then(() => late)]);
  assert.ok(late, "the first follower saw the loop's lines as they came");
  const out = (s) => s.events.filter((e) => e.event === "stdout");
  const textOf = (s) => out(s).map((e) => e.data.data).join("");
  assert.match(textOf(a), /^line 1 of the setup/, "a follower from the create sees the setup from its start");
  const replayed = out(b).filter((e) => !e.data.data.includes("the last line"));
  const last = out(b).find((e) => e.data.data.includes("the last line"));
  const given = replayed.map((e) => e.data.data).join("");
  assert.match(given, /line 2000 of the setup, padded to some forty bytes\n$/, "the late follower is given the latest output at once");
  assert.doesNotMatch(given, /^line 1 of/, "no more than the latest 64 KiB of events");
  assert.ok(given.length > 32 * 1024 && given.length <= 64 * 1024, `${given.length} bytes replayed`);
  assert.ok(last && last.at - replayed.at(-1).at >= 1000, "the replay came when the follower did, the last line two seconds later");
  assert.equal(b.events.filter((e) => e.event).at(-1).data.setup_status, "completed");
});
