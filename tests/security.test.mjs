// Auth and hostile input: with API_TOKEN set every route but /health needs the token; every route
// survives a bounded fuzz of malformed input with JSON errors, no 5xx but 503, and no change to
// existing sessions.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import { call, uid, useStack } from "./helpers.mjs";

const TOKEN = "test-token-" + uid("t");
const h = useStack({ vars: { API_TOKEN: TOKEN } });
const auth = { authorization: `Bearer ${TOKEN}` };
const REF = uid("fuzz-ref");

// A small seeded generator, so a failure can be replayed.
let seed = 20261123;
const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
const pick = (xs) => xs[Math.floor(rand() * xs.length)];
const randomBytes = (n) => Uint8Array.from({ length: n }, () => Math.floor(rand() * 256));
const deep = (n) => "[".repeat(n) + "]".repeat(n);
const wrongTypes = [0, 1.5, -1, true, null, "", "x", [], {}, [1, "a"], { a: { b: [] } }, "\u0000", "é".repeat(1000)];

/** Bodies that are never valid for the route (so that fuzzing cannot change any state). */
function badBody(fields) {
  const kind = Math.floor(rand() * 7);
  switch (kind) {
    case 0: return randomBytes(1 + Math.floor(rand() * 512));
    case 1: return `{"code": ${deep(10000)}}`;
    case 2: return "x".repeat(3 * 1024 * 1024);
    case 3: {
      const o = {};
      for (const f of fields) o[f] = pick(wrongTypes);
      o[pick(fields)] = pick([0, true, [], {}, null]); // at least one field of the wrong type
      if (o.code === null || typeof o.code === "string") o.code = 7;
      if (o.language === null || typeof o.language === "string") o.language = 7;
      if (o.plugin === null || typeof o.plugin === "string") o.plugin = 7;
      if (fields.includes("default_timeout")) o.default_timeout = pick([0, -1, 301, 1.5, "5", true, []]);
      return JSON.stringify(o);
    }
    case 4: return JSON.stringify(pick([[], "string", 42, null, true]));
    case 5: return "{" + "\"a\":1,".repeat(Math.floor(rand() * 100)) + "oops";
    default: return new Uint8Array([0xff, 0xfe, 0x7b, 0x00, 0x22]);
  }
}
const longName = () => "n".repeat(256 + Math.floor(rand() * 4000));
const longPath = () => Array.from({ length: 16 + Math.floor(rand() * 10) }, () => "d".repeat(200)).join("/");
const oddSegments = ["%00", "..%2F..", "%2e%2e%2Fx", "a%2Fb", "%2F", "x".repeat(5000), "%FF%FE", "%", "a%zz", ".", "%5C", "ok%00ok", "é", "%C3%A9", "-", "_".repeat(65)];

async function snapshot() {
  const s = await call(h.stack, "GET", `/api/sessions/${REF}`, undefined, auth);
  const f = await call(h.stack, "GET", `/api/sessions/${REF}/files`, undefined, auth);
  assert.equal(f.status, 200, `snapshot: ${f.text}`);
  const hashes = {};
  for (const file of f.json.files) {
    const b = await call(h.stack, "GET", `/api/sessions/${REF}/files/${encodeURIComponent(file.path)}`, undefined, auth);
    hashes[file.path] = createHash("sha256").update(b.bytes).digest("hex");
  }
  const { last_run_at, ...obj } = s.json;
  return { obj, last_run_at, files: f.json, hashes };
}

test("with API_TOKEN, every route but /health refuses a missing or wrong token", async () => {
  assert.equal((await call(h.stack, "GET", "/health")).status, 200);
  const routes = [
    ["POST", `/?session=${REF}`], ["POST", "/api/sessions"], ["GET", "/api/sessions"], ["GET", `/api/sessions/${REF}`],
    ["DELETE", `/api/sessions/${REF}`], ["POST", `/api/sessions/${REF}/run`], ["GET", `/api/sessions/${REF}/runs`],
    ["POST", `/api/sessions/${REF}/setup`], ["POST", `/api/sessions/${REF}/duplicate`], ["GET", `/api/sessions/${REF}/files`],
    ["GET", `/api/sessions/${REF}/files/a.txt`], ["PUT", `/api/sessions/${REF}/files/a.txt`], ["DELETE", `/api/sessions/${REF}/files/a.txt`],
    ["POST", "/api/execute"], ["PATCH", `/api/sessions/${REF}`], ["GET", `/api/sessions/${REF}/code`], ["PUT", `/api/sessions/${REF}/code`],
    ["GET", `/api/sessions/${REF}/runs/run_0123456789abcdef01234567`], ["DELETE", "/api/sessions"], ["POST", "/mcp"], ["POST", "/mcp/v1"],
    ["POST", `/api/sessions/${REF}/stream`], ["POST", `/api/sessions/${REF}/cancel`],
  ];
  for (const [m, p] of routes) {
    for (const headers of [{}, { authorization: "Bearer wrong" }, { authorization: TOKEN }, { authorization: `Bearer ${TOKEN}x` }, { authorization: `Basic ${TOKEN}` }]) {
      const r = await call(h.stack, m, p, m === "GET" || m === "DELETE" ? undefined : "{}", headers);
      assert.equal(r.status, 401, `${m} ${p} with ${JSON.stringify(headers)}: ${r.text}`);
      assert.equal(r.json.code, "unauthorized");
    }
  }
  const ok = await call(h.stack, "POST", "/api/sessions", { id: REF, language: "python", data: { v: 1 } }, auth);
  assert.equal(ok.status, 201, ok.text);
  await call(h.stack, "POST", `/api/sessions/${REF}/run`, { code: "open('ref.txt','w').write('reference')" }, auth);
  await call(h.stack, "PUT", `/api/sessions/${REF}/files/dir/up.bin`, randomBytes(4096), auth);
});

test("every route under malformed input: JSON errors, never a 5xx but 503, no session changed", async () => {
  const before = await snapshot();
  const platform = [];
  const routes = [
    { m: "POST", p: () => `/?session=${pick([REF, uid("f"), ...oddSegments])}`, fields: ["plugin", "payload"] },
    { m: "POST", p: () => "/api/sessions", fields: ["id", "language", "persistent", "data", "metadata", "setup"] },
    { m: "GET", p: () => `/api/sessions?limit=${pick(["0", "-1", "1001", "x", "1e3", "%00", ""])}&cursor=${pick(["zz", "-1", "%FF", "9".repeat(30)])}` },
    { m: "GET", p: () => `/api/sessions/${pick(oddSegments)}` },
    { m: "DELETE", p: () => `/api/sessions/${pick(oddSegments)}` },
    { m: "POST", p: () => `/api/sessions/${pick([REF, ...oddSegments])}/run`, fields: ["code", "timeout", "env", "stdin"] },
    { m: "GET", p: () => `/api/sessions/${pick([REF, ...oddSegments])}/runs?limit=${pick(["0", "101", "x", "-5", "%00"])}` },
    { m: "POST", p: () => `/api/sessions/${pick([REF, ...oddSegments])}/setup`, fields: ["setup"] },
    { m: "POST", p: () => `/api/sessions/${pick([REF, ...oddSegments])}/duplicate`, fields: ["id"] },
    { m: "GET", p: () => `/api/sessions/${pick([REF, ...oddSegments])}/files` },
    { m: "GET", p: () => `/api/sessions/${REF}/files/${pick(oddSegments)}` },
    // Bare ".." segments are resolved by the HTTP client itself (…/files/.. is …/{id}), so the
    // traversal attempts that reach the server are the encoded ones.
    { m: "PUT", p: () => `/api/sessions/${REF}/files/${pick(["%00", "..%2Fx", "a%2F..%2F..%2Fb", "%2Fetc", ".sandbox/x", ".session_data.json", "a%5Cb", "%FF", "a//b", "dir", "ref.txt/x"])}`, raw: true },
    { m: "DELETE", p: () => `/api/sessions/${REF}/files/${pick(["%00", "..%2Fx", "a%2F..%2F..%2Fb", "%2F", ".sandbox/x", "dir", "nope.txt", "%FF"])}` },
    { m: "POST", p: () => "/api/execute", fields: ["language", "code", "timeout"] },
    { m: "PATCH", p: () => `/api/sessions/${pick([REF, ...oddSegments])}`, fields: ["default_timeout", "metadata", "allow_internet", "allowInternetAccess"] },
    { m: "PUT", p: () => `/api/sessions/${pick([REF, ...oddSegments])}/code`, fields: ["code", "description"] },
    { m: "GET", p: () => `/api/sessions/${pick([REF, ...oddSegments])}/${pick(["code", "runs/run_x", "runs/run_0123456789abcdef01234567", `runs/${pick(oddSegments)}`])}` },
    // Names and paths no workspace can hold: refused before anything is stored.
    { m: "PUT", p: () => `/api/sessions/${REF}/files/${pick([longName(), longPath(), `dir/${longName()}`, `${"é".repeat(128)}.txt`])}`, raw: true },
    { m: () => pick(["PATCH", "OPTIONS", "PROPFIND", "FOO"]), p: () => pick(["/", "/api/sessions", `/api/sessions/${REF}`, `/api/sessions/${REF}/files/ref.txt`]) },
  ];
  let sent = 0;
  for (const r of routes) {
    for (let i = 0; i < 50; i++) {
      const method = typeof r.m === "function" ? r.m() : r.m;
      const path = r.p();
      const hasBody = !["GET", "DELETE", "OPTIONS", "TRACE"].includes(method);
      const body = hasBody ? (r.raw ? randomBytes(64) : badBody(r.fields ?? ["x"])) : undefined;
      const headers = { ...auth };
      if (rand() < 0.1) headers["x-junk"] = "h".repeat(8000);
      let res;
      try {
        res = await call(h.stack, method, path, body, headers);
      } catch (e) {
        // workerd answers a method HTTP does not define (FOO) with its own 501 and closes the
        // connection, which can cut a large body short: the platform's refusal, not ours.
        if (method === "FOO" && e.message === "fetch failed") {
          platform.push(`${method} ${path.slice(0, 60)} → connection closed by the platform`);
          continue;
        }
        throw new Error(`${method} ${path.slice(0, 60)}: no answer (${e.message})`);
      }
      sent++;
      if (res.json === undefined) {
        // Not our answer (the Worker always answers JSON): refused by workerd/wrangler before the Worker ran.
        platform.push(`${method} ${path.slice(0, 60)} → ${res.status} ${res.text.slice(0, 60).trim()}`);
        continue;
      }
      assert.ok(res.status < 500 || res.status === 503, `${method} ${path.slice(0, 80)} → ${res.status} ${res.text.slice(0, 300)}`);
      if (res.status >= 300) {
        assert.equal(typeof res.json.error, "string", `${method} ${path.slice(0, 80)}: ${res.text.slice(0, 200)}`);
        assert.equal(typeof res.json.code, "string");
      }
    }
  }
  assert.ok(sent >= 50 * routes.length * 0.9, `sent ${sent}`);
  const after = await snapshot();
  assert.deepEqual(after, before, "fuzzing changed the reference session");
  // And every session still runs.
  const listed = (await call(h.stack, "GET", "/api/sessions?limit=1000", undefined, auth)).json.sessions;
  assert.ok(listed.some((s) => s.id === REF));
  for (const s of listed) {
    const r = await call(h.stack, "POST", `/api/sessions/${s.id}/run`, { code: s.language === "bash" ? "echo ok" : "print('ok')" }, auth);
    assert.equal(r.status, 200, `${s.id}: ${r.text}`);
    assert.equal(r.json.exit_code, 0, `${s.id}: ${r.text}`);
  }
  if (platform.length) console.log(`# answered by the platform before the Worker ran (${platform.length}):\n# ${[...new Set(platform)].slice(0, 20).join("\n# ")}`);
});
