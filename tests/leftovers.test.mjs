// What a session leaves behind, through the public API: bytes where no limit used to count them
// ($HOME, /tmp, /dev/shm), files that outlived their session, a uid handed to a new session after
// an executor restart, and descriptors inherited from the stack. Run as root (as CI is), where
// sessions have uids and private mounts of their own.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { test } from "node:test";
import { call, uid, useStack } from "./helpers.mjs";

const h = useStack();
const root = process.getuid() === 0;

async function session(language = "bash") {
  const id = uid("left");
  assert.equal((await call(h.stack, "POST", "/api/sessions", { id, language })).status, 201);
  return id;
}

async function run(id, code, timeout = 60) {
  const r = await call(h.stack, "POST", `/api/sessions/${id}/run`, { code, timeout });
  assert.equal(r.status, 200, r.text);
  return r.json;
}

test("1.1 GB in $HOME counts against the session's 1 GiB: the run is not kept and $HOME is emptied", { skip: !root }, async () => {
  const id = await session();
  assert.equal((await run(id, "echo kept > kept.txt")).exit_code, 0);
  const r = await run(id, "head -c 550000000 /dev/zero > $HOME/a && head -c 550000000 /dev/zero > $HOME/b && echo lost > lost.txt && echo wrote");
  assert.equal(r.stdout, "wrote\n");
  assert.equal(r.killed_by, "disk", JSON.stringify(r).slice(0, 600));
  assert.match(r.stderr, /over the limit/);
  const after = await run(id, "ls -A $HOME; cat kept.txt; test -e lost.txt && echo lost-kept || echo lost-gone");
  assert.equal(after.stdout, "kept\nlost-gone\n", "the committed workspace is back and $HOME is empty");
});

test("files in /tmp and /dev/shm are the session's own and go with it", { skip: !root }, async () => {
  const a = await session();
  const mark = uid("mark");
  const r = await run(a, `echo a > /tmp/${mark} && echo b > /dev/shm/${mark} && echo c > /var/tmp/${mark}.v && chmod 600 /dev/shm/${mark} && ls /proc | grep -c '^[0-9]'`);
  assert.equal(r.exit_code, 0, r.stderr);
  assert.ok(Number(r.stdout.trim()) <= 4, `user code sees only its own processes: ${r.stdout}`);
  for (const f of [`/tmp/${mark}`, `/dev/shm/${mark}`, `/var/tmp/${mark}.v`]) assert.ok(!existsSync(f), `the machine's ${f} is not the session's`);
  const b = await session();
  const seen = await run(b, `cat /tmp/${mark} /dev/shm/${mark} /var/tmp/${mark}.v 2>&1; true`);
  assert.equal(seen.stdout.match(/No such file/g)?.length, 3, `another session sees none of them: ${seen.stdout}`);
  assert.equal((await run(a, `cat /tmp/${mark} /dev/shm/${mark}`)).stdout, "a\nb\n", "the session keeps them from run to run");
  assert.equal((await call(h.stack, "DELETE", `/api/sessions/${a}`)).status, 200);
  assert.ok(!existsSync(`${h.stack.workRoot}/${a}`), "deleting the session removed its directories, /tmp and /dev/shm included");
});

test("a new session never gets the uid of a deleted one, across an executor restart", { skip: !root }, async () => {
  const a = await session();
  const first = Number((await run(a, "id -u")).stdout);
  assert.equal((await call(h.stack, "DELETE", `/api/sessions/${a}`)).status, 200);
  await h.stack.restartExecutor({ fresh: false });
  const b = await session();
  const second = Number((await run(b, "id -u")).stdout);
  assert.ok(second > first, `uid ${second} after ${first}`);
});

test("user code inherits no descriptor from the stack", async () => {
  const id = await session("python");
  const r = await run(id, "import os\nprint(sorted(int(d) for d in os.listdir('/proc/self/fd')))");
  // 0-2 are stdio; the one more is the listing's own descriptor.
  assert.equal(r.stdout, "[0, 1, 2, 3]\n", r.stderr);
});

test("user code cannot connect to the executor's port nor the API's, even knowing the secret", { skip: !root }, async () => {
  const health = await (await fetch(`${h.stack.executorUrl}/health`)).json();
  const executorPort = Number(new URL(h.stack.executorUrl).port);
  assert.deepEqual(health.closed_to_sandboxes, [executorPort, h.stack.port], JSON.stringify(health));
  const id = await session("python");
  const code = `
import json, socket, urllib.request
out = {}
for name, port in (("executor", ${executorPort}), ("api", ${h.stack.port})):
    try:
        req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/sessions/x", headers={"x-edgerun-secret": ${JSON.stringify(h.stack.secret)}})
        out[name] = urllib.request.urlopen(req, timeout=5).status
    except urllib.error.HTTPError as e:
        out[name] = e.code
    except OSError as e:
        out[name] = type(getattr(e, "reason", e)).__name__
print(json.dumps(out))`;
  const r = await run(id, code);
  assert.deepEqual(JSON.parse(r.stdout), { executor: "ConnectionRefusedError", api: "ConnectionRefusedError" }, r.stderr);
  // The stack itself still reaches both.
  assert.equal((await fetch(`${h.stack.executorUrl}/v1/sessions/x`, { headers: { "x-edgerun-secret": h.stack.secret } })).status, 200);
});
