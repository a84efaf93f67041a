// The OpenAPI document: served at /openapi.json without a token, equal to the committed
// docs/openapi.json (which `cargo test -p edgerun --features schema` keeps equal to what the code
// generates), valid OpenAPI 3.1 for an independent validator, and strict enough that the schema
// check of `call()` (tests/helpers.mjs) catches an answer that drifted from it.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { Validator } from "@seriousme/openapi-schema-validator";
import { call, checkAnswer, OPENAPI, uid, useStack } from "./helpers.mjs";

const TOKEN = "openapi-test-token";
const h = useStack({ vars: { API_TOKEN: TOKEN } });
const auth = { authorization: `Bearer ${TOKEN}` };
const committed = readFileSync(new URL("../docs/openapi.json", import.meta.url), "utf8");

test("GET /openapi.json answers the committed document, without a token", async () => {
  const r = await fetch(`${h.stack.url}/openapi.json`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get("content-type"), /^application\/json/);
  assert.equal(r.headers.get("x-content-type-options"), "nosniff");
  assert.equal(await r.text(), committed, "the served document is byte for byte docs/openapi.json");
  // The other open route, and one that is not.
  assert.equal((await fetch(`${h.stack.url}/health`)).status, 200);
  assert.equal((await fetch(`${h.stack.url}/api/sessions`)).status, 401);
  // Other methods are refused like on any route.
  const post = await call(h.stack, "POST", "/openapi.json", "{}");
  assert.equal(post.status, 405);
  assert.equal(post.json.code, "method_not_allowed");
});

test("the document is valid OpenAPI 3.1 for @seriousme/openapi-schema-validator", async () => {
  const served = await (await fetch(`${h.stack.url}/openapi.json`)).json();
  const validator = new Validator();
  const res = await validator.validate(served);
  assert.equal(validator.version, "3.1");
  assert.deepEqual(res.errors ?? [], [], `validator errors: ${JSON.stringify(res.errors, null, 2)}`);
  assert.equal(res.valid, true);
  // Every route of the API, the open ones without security.
  const ops = Object.entries(served.paths).flatMap(([p, item]) => Object.entries(item).map(([m, op]) => ({ p, m, op })));
  assert.equal(ops.length, 26, "every route, the context routes included");
  for (const { p, m, op } of ops) {
    const open = p === "/health" || p === "/openapi.json";
    assert.deepEqual(op.security, open ? [] : [{ bearer: [] }], `${m} ${p}`);
    if (!open) for (const s of ["401", "403"]) assert.ok(op.responses[s], `${m} ${p} lists ${s}`);
  }
});

test("the schema check catches a field added, renamed or mistyped, and an unlisted status", async () => {
  // A real answer passes; the same answer changed the three ways fails, naming the route.
  const id = uid("oa");
  const created = await call(h.stack, "POST", "/api/sessions", { id, language: "bash" }, auth);
  assert.equal(created.status, 201, created.text);
  const run = await call(h.stack, "POST", `/api/sessions/${id}/run`, { code: "echo hi" }, auth);
  assert.equal(run.status, 200, run.text);
  const ct = "application/json";
  const path = `/api/sessions/${id}/run`;
  checkAnswer("POST", path, 200, run.json, ct);
  assert.throws(() => checkAnswer("POST", path, 200, { ...run.json, exit_status: 0 }, ct), /POST \/api\/sessions\/\{id\}\/run \(run\) answered 200.*must NOT have additional properties \{"additionalProperty":"exit_status"\}/s);
  const { stdout, ...rest } = run.json;
  assert.throws(() => checkAnswer("POST", path, 200, { ...rest, output: stdout }, ct), /must have required property 'stdout'.*\n.*"additionalProperty":"output"/);
  assert.throws(() => checkAnswer("POST", path, 200, { ...run.json, duration_ms: String(run.json.duration_ms) }, ct), /\/duration_ms must be number/);
  assert.throws(() => checkAnswer("GET", `/api/sessions/${id}`, 200, { ...created.json, setup_status: "done" }, ct), /\/setup_status must be equal to one of the allowed values/);
  assert.throws(() => checkAnswer("GET", "/health", 418, { error: "x", code: "internal" }, ct), /does not list/);
  assert.throws(() => checkAnswer("GET", `/api/sessions/${id}`, 404, { error: "x", code: "conflict" }, ct), /\/code must be equal to one of the allowed values/);
  // A download is not JSON in the document (even of a .json file); errors of that route are.
  checkAnswer("GET", `/api/sessions/${id}/files/a.json`, 200, { any: "thing" }, ct);
  checkAnswer("GET", `/api/sessions/${id}/files/dir/a.json`, 404, { error: "no file", code: "not_found" }, ct);
  // Requests that reach no operation.
  checkAnswer("PUT", `/api/sessions/${id}`, 405, { error: "no", code: "method_not_allowed" }, ct);
  checkAnswer("GET", "/nope", 404, { error: "no", code: "not_found" }, ct);
  assert.throws(() => checkAnswer("GET", "/nope", 200, {}, ct), /x-unrouted.*does not list/);
  assert.equal(OPENAPI.openapi, "3.1.0");
});
