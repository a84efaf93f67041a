// Hostile code through the public API: each attempt is stopped by its own limit, well before the
// run's timeout, answers a normal run answer naming the limit, and the session and its
// neighbours stay healthy. Limits are set low here so that a missing limit fails the test, not
// the machine.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";
import { call, uid, useStack } from "./helpers.mjs";

const h = useStack({ executorEnv: { EDGERUN_MEMORY_MB: "512", EDGERUN_MAX_PROCESSES: "64", EDGERUN_FILE_SIZE_MB: "16" } });
const run = (id, body) => call(h.stack, "POST", `/api/sessions/${id}/run`, body);

async function hostile(language, code, timeout = 20) {
  const id = uid("hostile");
  await call(h.stack, "POST", "/api/sessions", { id, language });
  const t = Date.now();
  const r = await run(id, { code, timeout });
  const took = Date.now() - t;
  assert.equal(r.status, 200, r.text);
  // The session works afterwards.
  const next = await run(id, { code: language === "bash" ? "echo ok" : "print('ok')" });
  assert.equal(next.json.stdout, "ok\n", `next run after hostile code: ${next.text}`);
  return { r: r.json, took };
}

function leftovers(pattern) {
  const ps = execFileSync("ps", ["-eo", "args"], { encoding: "utf8" });
  return ps.split("\n").filter((l) => l.includes(pattern) && !l.includes("ps -eo"));
}

test("a fork bomb is stopped by the process limit", async () => {
  const { r, took } = await hostile("bash", ":(){ :|:& };:", 30);
  assert.equal(r.killed_by, "processes", JSON.stringify(r).slice(0, 500));
  assert.equal(r.signal, "SIGKILL");
  assert.equal(r.exit_code, 137);
  assert.ok(took < 20_000, `stopped well before the 30 s timeout (${took} ms)`);
});

test("a memory hog is stopped by the memory limit", async () => {
  const { r, took } = await hostile("python", "x = []\nwhile True:\n    x.append(bytearray(8 * 1024 * 1024))", 30);
  assert.equal(r.killed_by, "memory", JSON.stringify(r).slice(0, 500));
  assert.ok(took < 20_000, `${took} ms`);
});

test("an infinite loop that ignores SIGTERM ends at its timeout", async () => {
  const { r, took } = await hostile("bash", "trap '' TERM INT; while :; do :; done", 1);
  assert.equal(r.killed_by, "timeout");
  assert.equal(r.timed_out, true);
  assert.equal(r.signal, "SIGKILL");
  assert.ok(took < 4000, `answer within 3 s of the 1 s timeout (${took} ms)`);
});

test("a writer that never stops is stopped by the file-size limit", async () => {
  const { r } = await hostile("python", "f = open('big.bin', 'wb')\nwhile True:\n    f.write(b'x' * 1048576)\n    f.flush()");
  assert.equal(r.killed_by, "disk", JSON.stringify(r).slice(0, 500));
  assert.match(r.stderr, /File too large/);
});

test("a daemon started with setsid does not outlive its run", async () => {
  const marker = `sleep ${4000 + Math.floor(Math.random() * 1000)}`;
  const { r } = await hostile("bash", `setsid ${marker} > /dev/null 2>&1 < /dev/null & disown; nohup ${marker} > /dev/null 2>&1 & echo started`);
  assert.equal(r.stdout, "started\n");
  assert.deepEqual(leftovers(marker), []);
});

test("printing 1 GB to stdout is cut at the output cap", async () => {
  const { r, took } = await hostile("python", "import sys\nchunk = 'y' * 1048576\nfor _ in range(1024):\n    sys.stdout.write(chunk)", 60);
  assert.equal(r.killed_by, "output");
  assert.equal(r.truncated, true);
  assert.equal(r.stdout.length, 1024 * 1024);
  assert.ok(took < 20_000, `${took} ms`);
});

test("opening 100,000 files fails at the open-files limit without harming anything", async () => {
  const { r } = await hostile("python", "fs = []\nfor i in range(100000):\n    fs.append(open('.session_data.json' if i == 0 else '/dev/null'))");
  assert.notEqual(r.exit_code, 0);
  assert.match(r.stderr, /Too many open files/);
});

test("user code cannot read another session's workspace or reach the executor without its secret", async () => {
  const a = uid("victim");
  await call(h.stack, "POST", "/api/sessions", { id: a, language: "bash" });
  await run(a, { code: "echo secret-of-a > private.txt" });
  const b = uid("attacker");
  await call(h.stack, "POST", "/api/sessions", { id: b, language: "bash" });
  const snoop = await run(b, { code: `cat ${h.stack.workRoot}/${a}/ws/private.txt 2>&1; ls ${h.stack.workRoot}/${a}/ws 2>&1; echo done` });
  assert.doesNotMatch(snoop.json.stdout, /secret-of-a/);
  assert.match(snoop.json.stdout, /Permission denied/);
  const url = `${h.stack.executorUrl}/v1/sessions/${a}`;
  const viaPython = await call(h.stack, "POST", "/api/execute", { language: "python", code: `import urllib.request\ntry:\n    urllib.request.urlopen('${url}')\n    print('open')\nexcept Exception as e:\n    print(getattr(e, 'code', 'refused'))` });
  // As root the executor's port is closed to sandbox users (nftables); without root the secret
  // is what stops them.
  const closed = (await (await fetch(`${h.stack.executorUrl}/health`)).json()).closed_to_sandboxes ?? [];
  assert.equal(viaPython.json.stdout, closed.length ? "refused\n" : "401\n", viaPython.text);
  const env = await call(h.stack, "POST", "/api/execute", { language: "bash", code: "env" });
  assert.doesNotMatch(env.json.stdout, /EDGERUN_SECRET|EXECUTOR_SECRET|x-edgerun/);
  assert.ok(!env.json.stdout.includes(h.stack.secret), "the executor secret is not in the environment of user code");
});

test("the executor contains runs in the mode asked for, else the strongest there is (cgroups as root)", async () => {
  const health = await (await fetch(`${h.stack.executorUrl}/health`)).json();
  // Root on these machines (and in the container) may make cgroups: the limits above were the
  // kernel's. Without root, the tag fallback is all there is.
  const forced = process.env.EDGERUN_KILL_MODE; // npm test runs these files in every mode
  const mode = forced === "uid" || forced === "tag" ? forced : process.getuid() === 0 ? "cgroup \\(.*memory.*\\)" : "tag";
  const private_ = process.getuid() === 0 ? ", private /tmp /dev/shm /proc" : "";
  assert.match(health.isolation, new RegExp(`^${mode}${private_}$`), JSON.stringify(health));
});
