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

/**
 * What the local R2 holds, read from wrangler's persist directory (not from our own counters):
 * object keys with sizes (Miniflare's object index), and the blob files on disk.
 */
export async function r2State(stack) {
  const { DatabaseSync } = await import("node:sqlite");
  const { readdirSync, statSync, existsSync } = await import("node:fs");
  const { join } = await import("node:path");
  const base = join(stack.persistTo, "v3/r2");
  const objects = new Map();
  const dir = join(base, "miniflare-R2BucketObject");
  if (existsSync(dir)) {
    for (const f of readdirSync(dir).filter((f) => f.endsWith(".sqlite") && f !== "metadata.sqlite")) {
      const db = new DatabaseSync(join(dir, f), { readOnly: true });
      for (const row of db.prepare("SELECT key, size FROM _mf_objects").all()) objects.set(row.key, Number(row.size));
      db.close();
    }
  }
  const blobs = new Map();
  const blobDir = join(base, "edgerun-files/blobs");
  if (existsSync(blobDir)) for (const b of readdirSync(blobDir)) blobs.set(b, statSync(join(blobDir, b)).size);
  return { objects, blobs };
}

/** Objects and blobs that appeared between two snapshots. */
export function r2Diff(before, after) {
  const newObjects = [...after.objects].filter(([k]) => !before.objects.has(k));
  const newBlobs = [...after.blobs].filter(([k]) => !before.blobs.has(k));
  return {
    writes: newBlobs.length,
    bytes: newBlobs.reduce((a, [, s]) => a + s, 0),
    objects: newObjects,
  };
}
