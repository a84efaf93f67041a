// A session without internet, against the real executor binary (no Worker: the session setting
// that sends `allow_internet` is the Worker's; this posts the executor's own run request). Its
// runs are in the session's network namespace, where the executor's port does not exist: the
// firewall that closes that port to sandbox uids holds for runs on the machine's network, and in
// the namespace a run can even open a server of its own on that port number. No public address
// is dialled: pypi.org is only resolved, which fails.
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { randomBytes } from "node:crypto";
import { buildExecutor, freePort, startExecutor, stateParent, toolEnv } from "../scripts/stack.mjs";
import { uid } from "./helpers.mjs";

const root = process.getuid() === 0;
const h = {};

before(async () => {
  const env = toolEnv();
  h.port = await freePort();
  h.closed = await freePort();
  h.secret = randomBytes(24).toString("hex");
  h.workRoot = join(stateParent(), `network-${h.port}`);
  h.url = `http://127.0.0.1:${h.port}`;
  h.proc = await startExecutor({ bin: buildExecutor(env), port: h.port, workRoot: h.workRoot, secret: h.secret, env, fresh: true, extraEnv: { EDGERUN_CLOSED_PORTS: String(h.closed) } });
}, { timeout: 300_000 });

after(async () => {
  h.proc?.kill("SIGTERM");
  await new Promise((r) => (h.proc && h.proc.exitCode === null ? h.proc.once("exit", r) : r()));
  rmSync(h.workRoot, { recursive: true, force: true });
});

/** Posts a run to the executor and answers its result (the framed answer's header). */
async function run(sid, body) {
  const res = await fetch(`${h.url}/v1/sessions/${sid}/run`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-edgerun-secret": h.secret },
    body: JSON.stringify({ timeout_secs: 30, ...body }),
  });
  const bytes = Buffer.from(await res.arrayBuffer());
  if (res.status !== 200) return { status: res.status, error: JSON.parse(bytes.toString()) };
  const len = bytes.readUInt32BE(0);
  return { status: 200, ...JSON.parse(bytes.subarray(4, 4 + len).toString()) };
}

/** Python that tries the executor's port (with the secret) and the closed port, opens a server
 * of its own on the executor's port number, and resolves pypi.org; one JSON line. */
const probe = () => `
import json, socket, time, urllib.request
out = {}
for name, port in (("executor", ${h.port}), ("closed", ${h.closed})):
    t = time.monotonic()
    try:
        req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/sessions/x", headers={"x-edgerun-secret": ${JSON.stringify(h.secret)}})
        out[name] = urllib.request.urlopen(req, timeout=5).status
    except urllib.error.HTTPError as e:
        out[name] = e.code
    except OSError as e:
        out[name] = type(getattr(e, "reason", e)).__name__
    out[name + "_fast"] = time.monotonic() - t < 2
try:
    srv = socket.socket()
    srv.bind(("127.0.0.1", ${h.port}))
    srv.listen(1)
    socket.create_connection(("127.0.0.1", ${h.port}), timeout=2).close()
    out["own_server"] = "ok"
except OSError as e:
    out["own_server"] = type(e).__name__
t = time.monotonic()
try:
    socket.getaddrinfo("pypi.org", 443)
    out["dns"] = "resolved"
except OSError as e:
    out["dns"] = type(e).__name__
out["dns_fast"] = time.monotonic() - t < 2
print(json.dumps(out))`;

test("the executor's /health names how runs reach the network", async () => {
  const health = await (await fetch(`${h.url}/health`)).json();
  if (root) {
    assert.match(health.network, /network namespace per session \(loopback only\)/, JSON.stringify(health));
    assert.deepEqual(health.closed_to_sandboxes, [h.port, h.closed], JSON.stringify(health));
  } else {
    assert.match(health.network, /runs without internet are refused/, JSON.stringify(health));
  }
});

test("without internet the executor's port does not exist for the session; with it the firewall closes it", { skip: !root }, async () => {
  const sid = uid("net");
  const offline = await run(sid, { language: "python", code: probe(), allow_internet: false });
  assert.equal(offline.status, 200, JSON.stringify(offline));
  assert.equal(offline.result.exit_code, 0, offline.result.stderr);
  assert.deepEqual(
    JSON.parse(offline.result.stdout),
    { executor: "ConnectionRefusedError", executor_fast: true, closed: "ConnectionRefusedError", closed_fast: true, own_server: "ok", dns: "gaierror", dns_fast: true },
    "in the namespace nothing listens on the executor's port until the session's own server does",
  );
  const online = await run(sid, { language: "python", code: probe(), expect_version: offline.delta.version });
  assert.equal(online.status, 200, JSON.stringify(online));
  const seen = JSON.parse(online.result.stdout);
  // On the machine's network the port is the executor's: taken, and refused to sandbox uids.
  assert.equal(seen.executor, "ConnectionRefusedError", JSON.stringify(seen));
  assert.equal(seen.closed, "ConnectionRefusedError", JSON.stringify(seen));
  assert.equal(seen.own_server, "OSError", JSON.stringify(seen));
  // The test itself still reaches the executor.
  assert.equal((await fetch(`${h.url}/v1/sessions/x`, { headers: { "x-edgerun-secret": h.secret } })).status, 200);
  const del = await fetch(`${h.url}/v1/sessions/${sid}`, { method: "DELETE", headers: { "x-edgerun-secret": h.secret } });
  assert.equal(del.status, 200);
});

test("without root a run without internet is refused, with the reason, and nothing runs", { skip: root }, async () => {
  const r = await run(uid("net"), { language: "bash", code: "echo ran", allow_internet: false });
  assert.equal(r.status, 400, JSON.stringify(r));
  assert.equal(r.error.code, "bad_request");
  assert.match(r.error.error, /allow_internet: false needs a network namespace per session.*nothing ran/);
});
