// The port route (#18): a server started as a background process answers at
// /api/sessions/{id}/ports/{port}/<path> through the Worker, the session object and the executor,
// inside the session's network namespace: any method, bodies streamed both ways, a 502 in the
// API's error shape within 1 s when nothing listens. Attacked too: the executor's own port, the
// API's port, the host's loopback and another session's namespace are never reached, and the
// API token never reaches the app.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, request } from "node:http";
import { test } from "node:test";
import { assertError, call, uid, useStack } from "./helpers.mjs";

const TOKEN = `tok-${randomBytes(8).toString("hex")}`;
const h = useStack({ vars: { API_TOKEN: TOKEN, PORT_URL_SECRET: randomBytes(24).toString("hex") } });
const auth = { authorization: `Bearer ${TOKEN}` };
const api = (method, path, body) => call(h.stack, method, path, body, auth);

// A Python server: GET serves the workspace's files; POST answers the body's length and sha256
// (read by content-length, in 1 MiB pieces), and the headers it got.
const SERVER = `
import hashlib, http.server, json, sys
class H(http.server.SimpleHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get('content-length') or 0)
        h, left = hashlib.sha256(), n
        while left:
            b = self.rfile.read(min(left, 1 << 20))
            if not b: break
            h.update(b); left -= len(b)
        body = json.dumps({'length': n - left, 'sha256': h.hexdigest(), 'method': self.command, 'path': self.path,
                           'headers': {k.lower(): v for k, v in self.headers.items()}}).encode()
        self.send_response(201)
        self.send_header('content-type', 'application/json')
        self.send_header('content-length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_PUT = do_POST
    do_DELETE = do_POST
http.server.ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()
`;

async function session(files = {}) {
  const id = uid("port");
  assert.equal((await api("POST", "/api/sessions", { id, language: "python" })).status, 201);
  const code = Object.entries({ "srv.py": SERVER, ...files }).map(([k, v]) => `open(${JSON.stringify(k)}, 'w').write(${JSON.stringify(v)})`).join("\n");
  assert.equal((await api("POST", `/api/sessions/${id}/run`, { code })).json.exit_code, 0);
  return id;
}

const port = (id, p, path = "/", init = {}) =>
  fetch(`${h.stack.url}/api/sessions/${id}/ports/${p}${path}`, { ...init, headers: { ...auth, ...(init.headers ?? {}) } });

/** Starts the Python server on `p` and waits (5 s at most) until the port route reaches it. */
async function serve(id, p) {
  const s = await api("POST", `/api/sessions/${id}/processes`, { command: `exec python3 srv.py ${p}` });
  assert.equal(s.status, 201, s.text);
  const end = Date.now() + 5000;
  for (;;) {
    const r = await port(id, p, "/srv.py");
    if (r.status === 200) return s.json.id;
    await r.arrayBuffer();
    if (Date.now() > end) throw new Error(`the server on ${p} never answered (${r.status})`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

test("a Python server answers GET and POST through the port route; the token stays behind", async () => {
  const id = await session({ "index.html": "<h1>hello</h1>" });
  await serve(id, 8000);
  const t0 = performance.now();
  const g = await port(id, 8000, "/index.html");
  assert.equal(g.status, 200);
  assert.equal(await g.text(), "<h1>hello</h1>");
  assert.match(g.headers.get("content-type"), /text\/html/);
  const direct = performance.now() - t0;
  assert.ok(direct < 2000, `${direct} ms`);
  const body = "name=edgerun&n=1";
  const p = await port(id, 8000, "/submit?x=1", { method: "POST", body, headers: { "content-type": "application/x-www-form-urlencoded", "x-custom": "yes" } });
  assert.equal(p.status, 201);
  const got = await p.json();
  assert.equal(got.length, body.length);
  assert.equal(got.sha256, createHash("sha256").update(body).digest("hex"));
  assert.deepEqual([got.method, got.path], ["POST", "/submit?x=1"]);
  assert.equal(got.headers["x-custom"], "yes");
  assert.equal(got.headers["content-type"], "application/x-www-form-urlencoded");
  assert.equal(got.headers["x-forwarded-prefix"], `/api/sessions/${id}/ports/8000`);
  assert.equal(got.headers.authorization, undefined, "the API token never reaches the app");
  assert.equal(got.headers["x-edgerun-secret"], undefined, "nor the executor's secret");
  assert.ok(!Object.keys(got.headers).some((k) => k.startsWith("x-edgerun-")), JSON.stringify(got.headers));
  assert.equal(got.headers.host, "127.0.0.1:8000");
  const put = await port(id, 8000, "/a%20b/c", { method: "PUT", body: "x" });
  assert.deepEqual([put.status, (await put.json()).path], [201, "/a%20b/c"]);
  const del = await port(id, 8000, "/thing", { method: "DELETE" });
  assert.deepEqual([del.status, (await del.json()).method], [201, "DELETE"]);
  // The app's own errors are its own.
  const missing = await port(id, 8000, "/nope.txt");
  assert.equal(missing.status, 404);
  assert.match(await missing.text(), /File not found/);
  // The route needs the token like every route.
  const open = await fetch(`${h.stack.url}/api/sessions/${id}/ports/8000/index.html`);
  assert.equal(open.status, 401);
  assert.equal((await open.json()).code, "unauthorized");
});

/** A /proc/<pid>/status figure in KiB (VmRSS, VmHWM). */
const statusKib = (pid, field) => Number(readFileSync(`/proc/${pid}/status`, "utf8").match(new RegExp(`^${field}:\\s+(\\d+) kB`, "m"))[1]);

/**
 * The workerd processes of the stack's `wrangler dev` (children of scripts/wrangler-dev.mjs,
 * whose pid the stack holds): the one whose entry socket is the stack's port is wrangler's proxy,
 * which hands each request on to the other, the runtime running the Worker and its objects.
 */
function workerds(stack) {
  const found = [];
  for (const d of readdirSync("/proc").filter((n) => /^\d+$/.test(n))) {
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const args = readFileSync(`/proc/${d}/cmdline`, "utf8").split("\0");
      if (ppid !== stack.wrangler.pid || !args[0].endsWith("/workerd")) continue;
      found.push({ pid: Number(d), role: args.includes(`--socket-addr=entry=127.0.0.1:${stack.port}`) ? "proxy" : "runtime" });
    } catch {
      // gone while it was read
    }
  }
  return found;
}

test("a 50 MB upload streams through to the app whole, workerd's memory growing far less than the body", async (t) => {
  const id = await session();
  await serve(id, 8000);
  const big = randomBytes(50 * 1024 * 1024);
  // workerd's resident memory, sampled every 20 ms while the body goes through, and its peak
  // (VmHWM, reset to the current size first through clear_refs where that is allowed).
  const procs = workerds(h.stack);
  assert.deepEqual(procs.map((p) => p.role).sort(), ["proxy", "runtime"], "wrangler dev's two workerd processes are found");
  for (const p of procs) {
    try {
      writeFileSync(`/proc/${p.pid}/clear_refs`, "5");
      p.hwmReset = true;
    } catch {
      p.hwmReset = false;
    }
    p.before = statusKib(p.pid, "VmRSS");
    p.peak = p.before;
  }
  let samples = 0;
  const sample = () => {
    samples++;
    for (const p of procs) p.peak = Math.max(p.peak, statusKib(p.pid, "VmRSS"));
  };
  const timer = setInterval(sample, 20);
  let r, got;
  const t0 = Date.now();
  try {
    r = await port(id, 8000, "/upload", { method: "POST", body: big, headers: { "content-type": "application/octet-stream" } });
    got = await r.json();
  } finally {
    clearInterval(timer);
  }
  const took = Date.now() - t0;
  sample();
  assert.equal(r.status, 201);
  assert.equal(got.length, big.length);
  assert.equal(got.sha256, createHash("sha256").update(big).digest("hex"));
  const mib = (k) => (k / 1024).toFixed(1);
  for (const p of procs) {
    if (p.hwmReset) p.peak = Math.max(p.peak, statusKib(p.pid, "VmHWM"));
    const how = `${p.hwmReset ? "VmHWM reset before it, and " : ""}${samples} samples of VmRSS in ${took} ms`;
    t.diagnostic(`workerd ${p.role} (pid ${p.pid}): RSS ${mib(p.before)} MiB before, peak ${mib(p.peak)} MiB during the upload (+${mib(p.peak - p.before)} MiB; ${how})`);
  }
  // A Worker (or proxy) that held the body would grow by about its size (50 MiB) or more.
  for (const p of procs) assert.ok(p.peak - p.before < 25 * 1024, `workerd's ${p.role} grew by ${mib(p.peak - p.before)} MiB during a 50 MiB upload`);
});

test("a chunked answer streams: its first chunk comes before the app has finished answering", async () => {
  const id = await session({
    "chunks.js": `require('http').createServer((req, res) => { res.writeHead(200, {'content-type': 'text/plain'}); res.write('first\\n'); setTimeout(() => res.end('second\\n'), 1000); }).listen(8100, '127.0.0.1', () => console.log('up'));`,
  });
  const s = await api("POST", `/api/sessions/${id}/processes`, { command: "exec node chunks.js" });
  assert.equal(s.status, 201);
  let r;
  for (let i = 0; i < 100; i++) {
    r = await port(id, 8100, "/");
    if (r.status === 200) break;
    await r.arrayBuffer();
    await new Promise((res) => setTimeout(res, 50));
  }
  assert.equal(r.status, 200);
  const reader = r.body.getReader();
  const dec = new TextDecoder();
  const first = await reader.read();
  const at = performance.now();
  assert.equal(dec.decode(first.value), "first\n");
  let rest = "";
  for (;;) {
    const c = await reader.read();
    if (c.done) break;
    rest += dec.decode(c.value);
  }
  const gap = performance.now() - at;
  assert.equal(rest, "second\n");
  assert.ok(gap >= 700, `the first chunk came ${gap.toFixed(0)} ms before the end`);
});

test("nothing listening is a 502 in the error shape within 1 s; bad ports are 400", async () => {
  const id = await session();
  // No process yet: no namespace, nothing listens.
  const t0 = performance.now();
  assertError(assert, await api("GET", `/api/sessions/${id}/ports/8000/x`), 502, "sandbox_failed");
  await serve(id, 8000);
  const t1 = performance.now();
  const closed = await api("GET", `/api/sessions/${id}/ports/8001/x`);
  const took = performance.now() - t1;
  assertError(assert, closed, 502, "sandbox_failed");
  assert.match(closed.json.error, /port 8001/);
  assert.ok(took < 1000, `the 502 came in ${took.toFixed(0)} ms`);
  assert.ok(t1 - t0 > 0);
  for (const bad of ["80", "1023", "65536", "abc", "8000x"]) {
    assertError(assert, await api("GET", `/api/sessions/${id}/ports/${bad}/x`), 400, "bad_request");
  }
  assertError(assert, await api("GET", `/api/sessions/${uid("nobody")}/ports/8000/x`), 404, "not_found");
});

test("two sessions' servers on port 8000 each answer their own, and neither reaches the other", async () => {
  const a = await session({ "who.txt": "a" });
  const b = await session({ "who.txt": "b" });
  await serve(a, 8000);
  await serve(b, 8000);
  assert.equal(await (await port(a, 8000, "/who.txt")).text(), "a");
  assert.equal(await (await port(b, 8000, "/who.txt")).text(), "b");
  // a's server on 8200 is not b's.
  await serve(a, 8200);
  assert.equal((await port(a, 8200, "/who.txt")).status, 200);
  assertError(assert, await api("GET", `/api/sessions/${b}/ports/8200/who.txt`), 502, "sandbox_failed");
});

test("the executor's port, the API's port and the host's loopback are never reached", async () => {
  const id = await session();
  await serve(id, 8000);
  // A server on the host's loopback, where the executor's own network is.
  let hits = 0;
  const host = createServer((req, res) => {
    hits++;
    res.end("host");
  });
  await new Promise((res) => host.listen(0, "127.0.0.1", res));
  const hostPort = host.address().port;
  try {
    if (hostPort >= 1024) {
      const r = await api("GET", `/api/sessions/${id}/ports/${hostPort}/x`);
      assertError(assert, r, 502, "sandbox_failed");
    }
    const execPort = Number(new URL(h.stack.executorUrl).port);
    const e = await api("GET", `/api/sessions/${id}/ports/${execPort}/health`);
    assertError(assert, e, 403, "forbidden");
    assert.ok(!e.text.includes('"version"'), "the executor's health never answers through the route");
    const w = await api("GET", `/api/sessions/${id}/ports/${h.stack.port}/health`);
    assert.ok(w.status === 403 || w.status === 502, `the API's port: ${w.status} ${w.text}`);
    assert.equal(hits, 0, "the host's loopback was never dialled");
  } finally {
    host.close();
  }
});

test("a signed address works without the token until it expires, and never for another session or port", async () => {
  const id = await session({ "index.html": "signed" });
  const other = await session({ "index.html": "other" });
  await serve(id, 8000);
  await serve(id, 8300);
  await serve(other, 8000);
  const made = await api("POST", `/api/sessions/${id}/ports/8000/url`, { expires_in: 3 });
  assert.equal(made.status, 201, made.text);
  assert.equal(made.json.port, 8000);
  assert.ok(Date.parse(made.json.expires_at) - Date.now() <= 3000);
  const url = new URL(made.json.url);
  assert.match(url.pathname, new RegExp(`^/api/sessions/${id}/ports/8000/\\.edgerun-token\\.[0-9]+\\.[0-9a-f]{64}/$`));
  const token = url.pathname.split("/")[6];
  // Without the API token: the app's page, and a cookie scoped to the prefix.
  const g = await fetch(`${h.stack.url}${url.pathname}index.html`);
  assert.equal(g.status, 200);
  assert.equal(await g.text(), "signed");
  const cookie = g.headers.get("set-cookie");
  assert.match(cookie, new RegExp(`^edgerun_port=${token.slice(".edgerun-token.".length).replace(".", "\\.")}; Path=/api/sessions/${id}/ports/8000/; Max-Age=[0-3]; HttpOnly; SameSite=Lax`));
  const jar = cookie.split(";")[0];
  // The cookie alone lets the app's other paths through, and never reaches the app.
  const echo = await fetch(`${h.stack.url}/api/sessions/${id}/ports/8000/echo`, { method: "POST", body: "x", headers: { cookie: `${jar}; app=1` } });
  assert.equal(echo.status, 201);
  assert.equal((await echo.json()).headers.cookie, "app=1", "the app sees its own cookies only");
  // Another port, another session, a tampered token: refused, the app not reached.
  const wrongPort = await fetch(`${h.stack.url}/api/sessions/${id}/ports/8300/${token}/index.html`);
  assert.equal(wrongPort.status, 401);
  assert.equal((await wrongPort.json()).code, "unauthorized");
  const wrongSession = await fetch(`${h.stack.url}/api/sessions/${other}/ports/8000/${token}/index.html`);
  assert.equal(wrongSession.status, 401);
  const cookieElsewhere = await fetch(`${h.stack.url}/api/sessions/${other}/ports/8000/index.html`, { headers: { cookie: jar } });
  assert.equal(cookieElsewhere.status, 401, "the cookie is worth nothing for another session");
  const tampered = token.slice(0, -1) + (token.endsWith("0") ? "1" : "0");
  assert.equal((await fetch(`${h.stack.url}/api/sessions/${id}/ports/8000/${tampered}/`)).status, 401);
  // Nor does it open the rest of the API.
  assert.equal((await fetch(`${h.stack.url}/api/sessions/${id}`, { headers: { cookie: jar } })).status, 401);
  // Bounds of the request.
  assertError(assert, await api("POST", `/api/sessions/${id}/ports/8000/url`, { expires_in: 86_401 }), 400, "bad_request");
  assertError(assert, await api("POST", `/api/sessions/${uid("nobody")}/ports/8000/url`, {}), 404, "not_found");
  assert.equal((await fetch(`${h.stack.url}/api/sessions/${id}/ports/8000/url`, { method: "POST" })).status, 401, "making one needs the token");
  // Once it expired, neither the address nor the cookie works.
  await new Promise((res) => setTimeout(res, Math.max(0, Date.parse(made.json.expires_at) - Date.now()) + 1100));
  assert.equal((await fetch(`${h.stack.url}${url.pathname}index.html`)).status, 401);
  assert.equal((await fetch(`${h.stack.url}/api/sessions/${id}/ports/8000/index.html`, { headers: { cookie: jar } })).status, 401);
});

test("MCP: start_process, process_logs, port_url and stop_process", async () => {
  const id = await session({ "index.html": "via mcp" });
  let n = 0;
  const tool = async (name, args) => {
    const r = await fetch(`${h.stack.url}/mcp`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: ++n, method: "tools/call", params: { name, arguments: args } }),
    });
    const j = await r.json();
    assert.equal(j.result?.isError, false, JSON.stringify(j));
    return j.result.structuredContent;
  };
  const p = await tool("start_process", { session_id: id, command: "echo started; exec python3 srv.py 8000" });
  assert.match(p.id, /^proc_[0-9a-f]{24}$/);
  const u = await tool("port_url", { session_id: id, port: 8000, expires_in: 60 });
  let got;
  for (let i = 0; i < 100; i++) {
    got = await fetch(`${u.url}index.html`);
    if (got.status === 200) break;
    await got.arrayBuffer();
    await new Promise((res) => setTimeout(res, 50));
  }
  assert.equal(await got.text(), "via mcp", "the signed address works without the token");
  const l = await tool("process_logs", { session_id: id, process: p.id });
  assert.deepEqual([l.process.status, l.stdout], ["running", "started\n"]);
  assert.match(l.stderr, /GET \/index\.html/);
  const s = await tool("stop_process", { session_id: id, process: p.id });
  assert.deepEqual([s.status, s.killed_by], ["killed", "deleted"]);
});

// A WebSocket echo server in plain Node (the handshake and unfragmented frames, enough for a test).
const WS_ECHO = `
const http = require('http'), crypto = require('crypto');
const s = http.createServer((q, r) => r.end('http'));
s.on('upgrade', (req, sock) => {
  const accept = crypto.createHash('sha1').update(req.headers['sec-websocket-key'] + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
  sock.write('HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\nSec-WebSocket-Accept: ' + accept + '\\r\\n\\r\\n');
  let buf = Buffer.alloc(0);
  sock.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 2) {
      const op = buf[0] & 15; let len = buf[1] & 127, at = 2;
      if (len === 126) { len = buf.readUInt16BE(2); at = 4; } else if (len === 127) { len = Number(buf.readBigUInt64BE(2)); at = 10; }
      const masked = buf[1] & 128; const mask = masked ? buf.subarray(at, at + 4) : null; if (masked) at += 4;
      if (buf.length < at + len) return;
      const data = Buffer.from(buf.subarray(at, at + len)); if (mask) for (let i = 0; i < len; i++) data[i] ^= mask[i & 3];
      buf = buf.subarray(at + len);
      if (op === 8) { sock.end(Buffer.from([0x88, 0])); return; }
      if (op !== 1) continue;
      const out = Buffer.from('echo: ' + data.toString());
      const head = out.length < 126 ? Buffer.from([0x81, out.length]) : Buffer.from([0x81, 126, out.length >> 8, out.length & 255]);
      sock.write(Buffer.concat([head, out]));
    }
  });
});
s.listen(8400, '127.0.0.1');
`;

test("a WebSocket through the port route echoes both ways, with the token or a signed address", async () => {
  const id = await session({ "ws.js": WS_ECHO });
  assert.equal((await api("POST", `/api/sessions/${id}/processes`, { command: "exec node ws.js" })).status, 201);
  for (let i = 0; i < 100; i++) {
    const r = await port(id, 8400, "/");
    if (r.status === 200) break;
    await r.arrayBuffer();
    await new Promise((res) => setTimeout(res, 50));
  }
  // A minimal WebSocket client over node:http (the machine's Node may lack the global one):
  // sends each text message masked, answers the text messages it got once it has `n` of them.
  const talk = (path, messages, headers = {}) =>
    new Promise((resolve, reject) => {
      const key = randomBytes(16).toString("base64");
      const req = request(`${h.stack.url}${path}`, { headers: { ...headers, connection: "Upgrade", upgrade: "websocket", "sec-websocket-version": "13", "sec-websocket-key": key } });
      req.on("response", (r) => reject(new Error(`no upgrade: ${r.statusCode}`)));
      req.on("error", reject);
      req.on("upgrade", (res, sock) => {
        const accept = createHash("sha1").update(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest("base64");
        if (res.headers["sec-websocket-accept"] !== accept) return reject(new Error("a wrong sec-websocket-accept"));
        for (const m of messages) {
          const data = Buffer.from(m);
          const mask = randomBytes(4);
          const head = data.length < 126 ? Buffer.from([0x81, 0x80 | data.length]) : Buffer.from([0x81, 0x80 | 126, data.length >> 8, data.length & 255]);
          const body = Buffer.from(data.map((b, i) => b ^ mask[i & 3]));
          sock.write(Buffer.concat([head, mask, body]));
        }
        const got = [];
        let buf = Buffer.alloc(0);
        sock.on("data", (d) => {
          buf = Buffer.concat([buf, d]);
          while (buf.length >= 2) {
            let len = buf[1] & 127;
            let at = 2;
            if (len === 126) {
              len = buf.readUInt16BE(2);
              at = 4;
            }
            if (buf.length < at + len) return;
            if ((buf[0] & 15) === 1) got.push(buf.subarray(at, at + len).toString());
            buf = buf.subarray(at + len);
          }
          if (got.length === messages.length) {
            sock.end(Buffer.from([0x88, 0x80, 0, 0, 0, 0]));
            resolve(got);
          }
        });
        sock.on("error", reject);
      });
      req.end();
    });
  const signed = new URL((await api("POST", `/api/sessions/${id}/ports/8400/url`, { expires_in: 60 })).json.url);
  const got = await talk(signed.pathname, ["one", "x".repeat(300)]);
  assert.deepEqual(got, ["echo: one", `echo: ${"x".repeat(300)}`]);
  assert.deepEqual(await talk(`/api/sessions/${id}/ports/8400/`, ["with the token"], auth), ["echo: with the token"]);
  await assert.rejects(talk(`/api/sessions/${id}/ports/8400/`, ["no token"]), /no upgrade: 401/);
});
