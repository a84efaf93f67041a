// Shared by the end-to-end tests: one local stack per test file, JSON helpers, unique ids.
import { randomBytes } from "node:crypto";
import { after, before } from "node:test";
import { startStack } from "../scripts/stack.mjs";

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
  return { status: r.status, json, text, bytes: buf, headers: r.headers };
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
