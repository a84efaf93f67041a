// What a web page the developer visits can do to an open API (no API_TOKEN): a cross-site
// "simple" request (text/plain, form or multipart body, any Origin) is refused and changes
// nothing; JSON routes take application/json only; downloaded files that a browser would render
// (HTML, SVG) come as attachments in a CSP sandbox, with nosniff.
import assert from "node:assert/strict";
import { test } from "node:test";
import { assertError, call, r2State, uid, useStack } from "./helpers.mjs";

const h = useStack();
const EVIL = { origin: "https://evil.example" };

async function snapshot(id) {
  const s = await call(h.stack, "GET", `/api/sessions/${id}`);
  const f = await call(h.stack, "GET", `/api/sessions/${id}/files`);
  const r2 = await r2State(h.stack);
  return { session: s.json, files: f.json, objects: [...r2.objects].sort() };
}

test("a cross-site simple request is refused and changes nothing", async () => {
  const id = uid("csrf");
  assert.equal((await call(h.stack, "POST", "/api/sessions", { id, language: "python" })).status, 201);
  const before = await snapshot(id);
  const code = JSON.stringify({ code: "open('pwned.txt','w').write('x')" });
  const simpleTypes = ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"];
  for (const type of simpleTypes) {
    // From another site: refused for its Origin.
    for (const [m, p, body] of [
      ["POST", `/api/sessions/${id}/run`, code],
      ["POST", "/api/execute", JSON.stringify({ language: "bash", code: "touch /tmp/pwned" })],
      ["POST", `/?session=${id}`, JSON.stringify({ plugin: "python", payload: { code: "print(1)" } })],
      ["POST", "/api/sessions", JSON.stringify({ id: uid("csrf-new"), language: "python" })],
      ["POST", `/api/sessions/${id}/duplicate`, "{}"],
    ]) {
      const r = await call(h.stack, m, p, body, { ...EVIL, "content-type": type });
      assertError(assert, r, 403, "forbidden");
      assert.match(r.json.error, /cross-site/);
    }
    // Without an Origin (curl, scripts) the same body is still refused for its type.
    const r = await call(h.stack, "POST", `/api/sessions/${id}/run`, code, { "content-type": type });
    assertError(assert, r, 415, "unsupported_media_type");
    assert.match(r.json.error, /application\/json/);
  }
  // Other sites may not read either (GET is not refused by the browser, so the API refuses it).
  assertError(assert, await call(h.stack, "GET", `/api/sessions/${id}/files`, undefined, EVIL), 403, "forbidden");
  assertError(assert, await call(h.stack, "GET", `/api/sessions`, undefined, { origin: "null" }), 403, "forbidden");
  // A page on a name rebound to 127.0.0.1: its Origin is not a loopback origin.
  assertError(assert, await call(h.stack, "POST", `/api/sessions/${id}/run`, { code: "1" }, { origin: "http://rebound.evil.example:" + h.stack.port }), 403, "forbidden");
  assert.deepEqual(await snapshot(id), before, "nothing changed");
  // The API's own origin and no Origin at all both work with a JSON body.
  const own = await call(h.stack, "POST", `/api/sessions/${id}/run`, { code: "print('own')" }, { origin: h.stack.url });
  assert.equal(own.status, 200, own.text);
  assert.equal(own.json.stdout, "own\n");
  const files = await call(h.stack, "GET", `/api/sessions/${id}/files`);
  assert.ok(!files.json.files.some((f) => f.path === "pwned.txt"), files.text);
});

test("uploaded HTML and SVG download as sandboxed attachments; inert types inline, all nosniff", async () => {
  const id = uid("dl");
  assert.equal((await call(h.stack, "POST", "/api/sessions", { id, language: "python" })).status, 201);
  const html = "<html><script>fetch('/api/sessions').then(r=>r.text()).then(alert)</script></html>";
  const svg = '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.domain)</script></svg>';
  for (const [path, body] of [["page.html", html], ["img/pic.svg", svg], ["notes.txt", "plain"], ["feed.xml", "<x/>"], ["app.js", "alert(1)"]]) {
    const up = await call(h.stack, "PUT", `/api/sessions/${id}/files/${path}`, body, { "content-type": "application/octet-stream" });
    assert.equal(up.status, 200, up.text);
  }
  for (const [path, type, name] of [["page.html", /^text\/html/, "page.html"], ["img/pic.svg", /^image\/svg\+xml/, "pic.svg"], ["feed.xml", /xml/, "feed.xml"], ["app.js", /javascript/, "app.js"]]) {
    const r = await call(h.stack, "GET", `/api/sessions/${id}/files/${path}`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get("content-type"), type);
    assert.equal(r.headers.get("x-content-type-options"), "nosniff", path);
    assert.equal(r.headers.get("content-security-policy"), "sandbox", path);
    assert.match(r.headers.get("content-disposition") ?? "", new RegExp(`^attachment; filename="${name.replace(".", "\\.")}"`), path);
  }
  const txt = await call(h.stack, "GET", `/api/sessions/${id}/files/notes.txt`);
  assert.equal(txt.text, "plain");
  assert.equal(txt.headers.get("x-content-type-options"), "nosniff");
  assert.equal(txt.headers.get("content-disposition"), null, "plain text is shown inline");
  // JSON answers and errors carry nosniff too.
  assert.equal((await call(h.stack, "GET", `/api/sessions/${id}`)).headers.get("x-content-type-options"), "nosniff");
  assert.equal((await call(h.stack, "GET", `/api/sessions/${id}/files/nope.txt`)).headers.get("x-content-type-options"), "nosniff");
});
