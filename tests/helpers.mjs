// Shared by the end-to-end tests: one local stack per test file, JSON helpers, unique ids, and
// the schema check every answer of `call()` goes through.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { after, before } from "node:test";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { startStack } from "../scripts/stack.mjs";

/** The committed OpenAPI document (generated from src/core/api.rs by `cargo test --features schema`). */
export const OPENAPI = JSON.parse(readFileSync(new URL("../docs/openapi.json", import.meta.url), "utf8"));

// ajv reads the document as one schema resource so the answers' `$ref`s (#/components/schemas/…)
// resolve inside it; the document's own top-level members are declared as (inert) keywords, so
// strict mode still refuses anything unknown inside the schemas themselves.
const ajv = new Ajv2020({ allErrors: true, strict: true, keywords: ["openapi", "info", "servers", "security", "paths", "components", "x-unrouted"] });
addFormats(ajv, ["date-time"]);
// The integer and number formats schemars writes (OpenAPI's int32/int64/double, and uint64).
const numberFormat = (ok) => ({ type: "number", validate: ok });
ajv.addFormat("int32", numberFormat((n) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31));
ajv.addFormat("int64", numberFormat((n) => Number.isInteger(n)));
ajv.addFormat("uint64", numberFormat((n) => Number.isInteger(n) && n >= 0));
ajv.addFormat("double", numberFormat((n) => Number.isFinite(n)));
const DOC_ID = "openapi.json";
ajv.addSchema({ $id: DOC_ID, ...OPENAPI });

const esc = (s) => s.replaceAll("~", "~0").replaceAll("/", "~1");
const deref = (obj, ptr) => {
  while (obj && typeof obj.$ref === "string") {
    ptr = obj.$ref;
    obj = ptr.slice(2).split("/").map((p) => p.replaceAll("~1", "/").replaceAll("~0", "~")).reduce((o, k) => o?.[k], OPENAPI);
  }
  return [obj, ptr];
};

// Templated paths, literal ones first; `{name}` takes one segment unless its parameter says
// `x-multi-segment` (a file path).
const ROUTES = Object.entries(OPENAPI.paths)
  .map(([template, item]) => {
    const multi = new Set();
    for (const op of Object.values(item)) {
      for (const p of op.parameters ?? []) {
        const [param] = deref(p, "");
        if (param.in === "path" && param["x-multi-segment"]) multi.add(param.name);
      }
    }
    const source = template.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\{(\w+)\}/g, (_, n) => (multi.has(n) ? "(.+)" : "([^/]+)"));
    return { template, item, re: new RegExp(`^${source}$`), params: (template.match(/\{/g) ?? []).length };
  })
  .sort((a, b) => a.params - b.params);

/** ajv's errors, one a line, with what each is about (`additionalProperty`, `missingProperty`, …). */
const explain = (errors) => errors.map((e) => `${e.instancePath || "(the body)"} ${e.message} ${JSON.stringify(e.params)}`).join("\n  ");

const validators = new Map();
function validatorFor(ptr) {
  if (!validators.has(ptr)) validators.set(ptr, ajv.compile({ $ref: `${DOC_ID}${ptr}` }));
  return validators.get(ptr);
}

/**
 * Checks one JSON answer against the document: the operation of its method and templated path,
 * the response of its status, the schema of that response. A request that reaches no operation
 * is checked against `x-unrouted` (400/404/405). A 2xx answer's JSON request body is checked
 * against the operation's request schema too. Throws with the route, status and ajv's errors.
 */
function operationOf(method, path) {
  let pathname = new URL(path, "http://x").pathname;
  if (pathname.length > 1 && pathname.endsWith("/")) pathname = pathname.slice(0, -1); // `…/` is the same route
  const route = ROUTES.find((r) => r.re.test(pathname));
  return { pathname, route, op: route?.item[method.toLowerCase()] };
}

export function checkAnswer(method, path, status, json, contentType, requestBody) {
  const { pathname, route, op } = operationOf(method, path);
  const m = method.toLowerCase();
  const where = op ? `${method} ${route.template} (${op.operationId})` : `${method} ${pathname} (no operation: x-unrouted)`;
  const base = op ? `#/paths/${esc(route.template)}/${m}/responses` : "#/x-unrouted/responses";
  const responses = op ? op.responses : OPENAPI["x-unrouted"].responses;
  if (!(String(status) in responses)) {
    throw new Error(`schema check: ${where} answered ${status}, a status the OpenAPI document does not list for it: ${JSON.stringify(json).slice(0, 300)}`);
  }
  const [response, ptr] = deref(responses[status], `${base}/${status}`);
  const media = response.content?.["application/json"];
  if (!media) return; // documented as not JSON (a download): nothing to check
  if (!/^application\/json\b/i.test(contentType ?? "")) {
    throw new Error(`schema check: ${where} ${status} is JSON but came as content-type ${contentType}`);
  }
  const validate = validatorFor(`${ptr}/content/application~1json/schema`);
  if (!validate(json)) {
    throw new Error(`schema check: ${where} answered ${status} with a body its schema refuses:\n  ${explain(validate.errors)}\n  body: ${JSON.stringify(json).slice(0, 500)}`);
  }
  const reqMedia = op?.requestBody?.content?.["application/json"];
  if (status < 300 && reqMedia && requestBody !== undefined) {
    const validateReq = validatorFor(`#/paths/${esc(route.template)}/${m}/requestBody/content/application~1json/schema`);
    if (!validateReq(requestBody)) {
      throw new Error(`schema check: ${where} accepted (${status}) a request body its schema refuses:\n  ${explain(validateReq.errors)}\n  body: ${JSON.stringify(requestBody).slice(0, 500)}`);
    }
  }
}

/** Starts a stack before the file's tests and stops it after them. */
export function useStack(opts = {}) {
  const holder = {};
  before(async () => {
    holder.stack = await startStack(opts);
  }, { timeout: 300_000 });
  after(async () => {
    await holder.stack?.stop();
  });
  return holder;
}

export const uid = (prefix = "t") => `${prefix}-${randomBytes(6).toString("hex")}`;

/** Sends a request and returns {status, json, text, headers}. */
export async function call(stack, method, path, body, headers = {}) {
  const init = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === "string" || body instanceof Uint8Array ? body : JSON.stringify(body);
    if (!init.headers["content-type"]) init.headers["content-type"] = "application/json";
  }
  const r = await fetch(stack.url + path, init);
  const buf = new Uint8Array(await r.arrayBuffer());
  const text = new TextDecoder().decode(buf);
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  // Every JSON answer must be what the OpenAPI document says (answers that are not JSON, such as
  // downloads or the platform's own refusals, are not the Worker's JSON and are skipped).
  if (json !== undefined && method !== "HEAD") {
    let sent;
    if (body !== undefined && typeof body === "string") {
      try {
        sent = JSON.parse(body);
      } catch {
        sent = undefined;
      }
    } else if (body !== undefined && !(body instanceof Uint8Array)) sent = body;
    checkAnswer(method, path, r.status, json, r.headers.get("content-type"), sent);
  }
  return { status: r.status, json, text, bytes: buf, headers: r.headers };
}

/**
 * Sends a request asking for Server-Sent Events and reads them as they arrive: each event is
 * `{event, data, at}` (`at`: when it was read; comments are `{comment}`), `onEvent` sees it at
 * once, and its data is checked against the schema the document's `x-events` names for it. An
 * answer that is not an event stream (an error before the run began) is read as JSON and checked
 * like `call()`'s.
 */
export async function stream(stack, method, path, body, headers = {}, onEvent = () => {}) {
  const init = { method, headers: { "content-type": "application/json", accept: "text/event-stream", ...headers } };
  if (body !== undefined) init.body = JSON.stringify(body);
  if (headers.signal) {
    init.signal = headers.signal;
    delete init.headers.signal;
  }
  const r = await fetch(stack.url + path, init);
  const type = r.headers.get("content-type") ?? "";
  if (!type.startsWith("text/event-stream")) {
    const text = await r.text();
    const json = JSON.parse(text);
    checkAnswer(method, path, r.status, json, type, body);
    return { status: r.status, headers: r.headers, json, text, events: [] };
  }
  const { route, op } = operationOf(method, path);
  const media = op?.responses?.["200"]?.content?.["text/event-stream"];
  if (!media) throw new Error(`schema check: ${method} ${path} streamed, but the document lists no text/event-stream answer for it`);
  const events = [];
  const decoder = new TextDecoder();
  let buf = "";
  for await (const chunk of r.body) {
    buf += decoder.decode(chunk, { stream: true });
    let end;
    while ((end = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, end);
      buf = buf.slice(end + 2);
      let name = "message";
      let data;
      let comment;
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) comment = line.slice(1).trim();
        else if (line.startsWith("event: ")) name = line.slice(7);
        else if (line.startsWith("data: ")) data = JSON.parse(line.slice(6));
      }
      const ev = data === undefined ? { comment, at: Date.now() } : { event: name, data, at: Date.now() };
      if (data !== undefined) {
        if (!(name in media["x-events"])) throw new Error(`schema check: ${method} ${route.template} sent an event ${name} its x-events do not list`);
        const validate = validatorFor(`#/paths/${esc(route.template)}/${method.toLowerCase()}/responses/200/content/text~1event-stream/x-events/${name}`);
        if (!validate(data)) throw new Error(`schema check: event ${name} of ${method} ${route.template} refused:\n  ${explain(validate.errors)}\n  data: ${JSON.stringify(data).slice(0, 400)}`);
      }
      events.push(ev);
      onEvent(ev);
    }
  }
  return { status: r.status, headers: r.headers, events };
}

export const plugin = (stack, session, plugin, payload) => call(stack, "POST", `/?session=${session}`, { plugin, payload });

/** Asserts the API's error shape. */
export function assertError(assert, res, status, code) {
  assert.equal(res.status, status, `status for ${res.text}`);
  assert.equal(typeof res.json?.error, "string", `error sentence in ${res.text}`);
  assert.ok(res.json.error.length > 0);
  if (code) assert.equal(res.json.code, code);
  else assert.equal(typeof res.json.code, "string");
}

export { r2Diff, r2State } from "../scripts/r2.mjs";
