// Reads what the local R2 holds straight from wrangler's persist directory, for tests and benchmarks.
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
