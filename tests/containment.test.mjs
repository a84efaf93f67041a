// Attacks on the local stack from user code: reading secrets from /proc, reading the persist
// directory (another session's files and data), and reaching wrangler's Local Explorer or a V8
// inspector. Each is attempted from a Python run inside a session, and checked from the test too.
import assert from "node:assert/strict";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { dirname } from "node:path";
import { inflateSync } from "node:zlib";
import { test } from "node:test";
import { call, r2State, uid, useStack } from "./helpers.mjs";

const TOKEN = "containment-token-" + uid("t");
const h = useStack({ vars: { API_TOKEN: TOKEN } });
const auth = { authorization: `Bearer ${TOKEN}` };
const api = (m, p, body) => call(h.stack, m, p, body, auth);

async function py(id, code, timeout = 60) {
  const r = await api("POST", `/api/sessions/${id}/run`, { code, timeout });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.exit_code, 0, `${r.json.stdout}\n${r.json.stderr}`);
  return JSON.parse(r.json.stdout.trim().split("\n").pop());
}

async function session(prefix) {
  const id = uid(prefix);
  assert.equal((await api("POST", "/api/sessions", { id, language: "python" })).status, 201);
  return id;
}

/** Processes of the stack (the wrangler launcher's process group and the executor). */
function stackPids() {
  const group = h.stack.wrangler.pid;
  const pids = [];
  for (const p of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, "utf8");
      const pgrp = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]);
      if (pgrp === group || Number(p) === h.stack.executor.pid) pids.push(Number(p));
    } catch {}
  }
  return pids;
}

/** Loopback TCP ports the stack's processes listen on (from /proc/net/tcp and their fds). */
function stackPorts() {
  const inodes = new Map();
  for (const pid of stackPids()) {
    let fds = [];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {}
    for (const fd of fds) {
      try {
        const m = readlinkSync(`/proc/${pid}/fd/${fd}`).match(/^socket:\[(\d+)\]$/);
        if (m) inodes.set(m[1], pid);
      } catch {}
    }
  }
  const ports = [];
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    for (const line of readFileSync(file, "utf8").split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== "0A") continue; // LISTEN
      if (inodes.has(f[9])) ports.push({ port: parseInt(f[1].split(":")[1], 16), pid: inodes.get(f[9]), cmd: readFileSync(`/proc/${inodes.get(f[9])}/cmdline`, "utf8").split("\0")[0] });
    }
  }
  return ports;
}

test("no secret is on any command line or in any environment user code can read", async () => {
  // From the test (root): no process of the stack has a secret on its command line.
  const pids = stackPids();
  assert.ok(pids.length >= 3, `stack processes: ${pids}`);
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    let cmd = "";
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    } catch {
      continue;
    }
    assert.ok(!cmd.includes(h.stack.secret), `pid ${pid} has the executor secret on its command line`);
    assert.ok(!cmd.includes(TOKEN), `pid ${pid} has the API token on its command line`);
  }
  // From user code: everything under /proc it can read.
  const id = await session("proc");
  const got = await py(id, `
import os, json, zlib, base64
seen, readable, blob = 0, {"cmdline": 0, "environ": 0}, []
for p in os.listdir("/proc"):
    if not p.isdigit():
        continue
    seen += 1
    for kind in ("cmdline", "environ"):
        try:
            with open(f"/proc/{p}/{kind}", "rb") as f:
                blob.append(f.read(1 << 20))
            readable[kind] += 1
        except Exception:
            pass
print(json.dumps({"seen": seen, "readable": readable, "uid": os.getuid(), "z": base64.b64encode(zlib.compress(b"\\n".join(blob))).decode()}))
`);
  assert.ok(got.readable.cmdline >= 1 && got.readable.environ >= 1, `user code read its own /proc entries: ${JSON.stringify(got.readable)}`);
  const text = inflateSync(Buffer.from(got.z, "base64")).toString("latin1");
  assert.ok(!text.includes(h.stack.secret), "the executor secret is readable from user code");
  assert.ok(!text.includes(TOKEN), "the API token is readable from user code");
  assert.doesNotMatch(text, /EDGERUN_SECRET|EXECUTOR_SECRET=/, "secret-named variables are readable from user code");
  console.log(`# user code (uid ${got.uid}) saw ${got.seen} processes, read ${got.readable.cmdline} cmdlines and ${got.readable.environ} environs: no secret`);
});

test("user code cannot list or read the persist directory, nor find another session's bytes", async () => {
  const MARK = `mark-${uid("m")}-${"q".repeat(8)}`;
  const a = await session("victim");
  await py(a, `
import json
open("secret.txt", "w").write(${JSON.stringify(MARK)} * 4)
open(".session_data.json", "w").write(json.dumps({"m": ${JSON.stringify(MARK)}}))
print(json.dumps({"ok": 1}))
`);
  // The marker is on disk: in R2's blobs and the object's SQLite, under the persist directory.
  const r2 = await r2State(h.stack);
  assert.ok([...r2.objects.keys()].some((k) => k.startsWith(`packs/${a}/`)), "A's pack is in local R2");
  const reversed = [...MARK].reverse().join("");
  const b = await session("thief");
  // The workspace itself (".") is searched too, for a canary the run writes: the search reads files.
  const roots = [".", h.stack.persistTo, h.stack.base, dirname(h.stack.base), "/tmp", "/var/tmp", "/dev/shm"];
  const got = await py(b, `
import os, json
marker = ${JSON.stringify(reversed)}[::-1].encode()
canary = ("can" + "ary-" + str(os.getpid())).encode()
open("canary.txt", "wb").write(canary)
listing = {}
for d in ${JSON.stringify([h.stack.persistTo, h.stack.base])}:
    try:
        os.listdir(d)
        listing[d] = "listed"
    except PermissionError:
        listing[d] = "denied"
    except FileNotFoundError:
        listing[d] = "missing"
opened = {}
for f in ("v3", "v3/r2", "v3/do"):
    p = os.path.join(${JSON.stringify(h.stack.persistTo)}, f)
    try:
        os.listdir(p)
        opened[f] = "listed"
    except Exception as e:
        opened[f] = type(e).__name__
found, canaries, scanned, budget = [], [], 0, 512 << 20
for root in ${JSON.stringify(roots)}:
    for dp, dns, fns in os.walk(root, onerror=lambda e: None):
        for fn in fns:
            p = os.path.join(dp, fn)
            try:
                if os.path.islink(p) or not os.path.isfile(p) or os.path.getsize(p) > (8 << 20) or budget <= 0:
                    continue
                with open(p, "rb") as f:
                    data = f.read()
                budget -= len(data)
                scanned += 1
                if marker in data:
                    found.append(p)
                if canary in data:
                    canaries.append(p)
            except Exception:
                pass
print(json.dumps({"listing": listing, "opened": opened, "found": found, "canaries": canaries, "scanned": scanned}))
`, 120);
  assert.equal(got.listing[h.stack.persistTo], "denied", JSON.stringify(got));
  assert.equal(got.listing[h.stack.base], "denied", JSON.stringify(got));
  for (const [f, how] of Object.entries(got.opened)) assert.equal(how, "PermissionError", `${f}: ${how}`);
  assert.deepEqual(got.found, [], `another session's bytes are readable at ${got.found}`);
  assert.ok(got.scanned > 0 && got.canaries.length >= 1, `the search reads files (it found its own canary): ${JSON.stringify(got)}`);
  console.log(`# user code read ${got.scanned} files under ${roots.join(", ")}: no trace of session A`);
});

test("the Local Explorer, local R2 routes and any inspector are not served, to user code or to the test", async () => {
  const ports = stackPorts();
  assert.ok(ports.some((p) => p.port === h.stack.port), `the API port is among ${JSON.stringify(ports)}`);
  // No process of the stack was asked for an inspector.
  for (const pid of stackPids()) {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    assert.doesNotMatch(cmd, /inspector|--inspect/, `pid ${pid}: ${cmd.replace(/\0/g, " ")}`);
  }
  const explorer = [
    "/cdn-cgi/local/explorer",
    "/cdn-cgi/local/explorer/",
    "/cdn-cgi/local/explorer/api/r2/buckets",
    "/cdn-cgi/local/explorer/api/r2/buckets/edgerun-files/objects",
    "/cdn-cgi/local/explorer/api/storage/durable-objects",
    "/cdn-cgi/local/explorer/api/local/workers",
    "/cdn-cgi/local/r2/public/edgerun-files/",
    "/cdn-cgi/local/r2/s3/edgerun-files",
    "/cdn-cgi/local/platform-proxy",
  ];
  const inspector = ["/json", "/json/list", "/json/version"];
  const urls = [];
  for (const { port } of ports) for (const p of [...explorer, ...inspector]) urls.push(`http://127.0.0.1:${port}${p}`);
  // From the test itself.
  for (const u of urls) {
    let status, text;
    try {
      const r = await fetch(u, { signal: AbortSignal.timeout(5000) });
      status = r.status;
      text = await r.text();
    } catch (e) {
      status = "refused";
      text = e.message;
    }
    assert.ok(status !== 200 || !/webSocketDebuggerUrl|"buckets"|"objects"|Browser|edgerun-files/.test(text), `${u} answered ${status}: ${text.slice(0, 200)}`);
    assert.doesNotMatch(String(text), /webSocketDebuggerUrl|devtoolsFrontendUrl/, u);
  }
  // The explorer path on the API's port is the Worker's own JSON 404.
  const own = await call(h.stack, "GET", "/cdn-cgi/local/explorer/api/r2/buckets", undefined, auth);
  assert.equal(own.status, 404);
  assert.equal(own.json.code, "not_found");
  // From user code.
  const id = await session("probe");
  const got = await py(id, `
import json, urllib.request, urllib.error
out = {}
for u in ${JSON.stringify(urls)}:
    try:
        with urllib.request.urlopen(u, timeout=5) as r:
            out[u] = [r.status, r.read(4096).decode("latin1")]
    except urllib.error.HTTPError as e:
        out[u] = [e.code, e.read(4096).decode("latin1")]
    except Exception as e:
        out[u] = ["error", str(e)]
print(json.dumps(out))
`, 120);
  let answered = 0;
  for (const [u, [status, body]] of Object.entries(got)) {
    assert.doesNotMatch(body, /webSocketDebuggerUrl|devtoolsFrontendUrl/, `${u} is an inspector`);
    assert.ok(status !== 200 || !/"buckets"|"objects"|packs\//.test(body), `${u} served ${body.slice(0, 200)}`);
    if (typeof status === "number") answered++;
  }
  assert.ok(answered > 0, "user code reached the stack's ports (the probe is not vacuous)");
  console.log(`# probed ${urls.length} URLs on ${ports.length} listening ports (${ports.map((p) => `${p.port}:${p.cmd.split("/").pop()}`).join(", ")}) from user code and the test: nothing served`);
});
