// The crates' modules import each other without cycles (scripts/check-cycles.mjs), and the check
// catches a planted cycle of each form: `use` lines, inline `crate::` paths, `super::` paths.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { findCycle, graph } from "../scripts/check-cycles.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

function crate(files) {
  const dir = mkdtempSync(join(tmpdir(), "edgerun-cycles-"));
  for (const [path, src] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), src);
  }
  return dir;
}

function cycleIn(files) {
  const dir = crate(files);
  try {
    return findCycle(graph(dir));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("neither crate has an import cycle", () => {
  for (const d of ["src", "container/src", "container/protocol/src"]) {
    assert.equal(findCycle(graph(join(root, d))), null, d);
  }
});

test("a planted cycle of each form is caught, and comments, strings and test modules are not counted", () => {
  const lib = "mod a;\nmod b;\nmod p;\n";
  assert.deepEqual(cycleIn({ "lib.rs": lib, "a.rs": "use crate::b::X;\npub struct Y;", "b.rs": "use crate::{a::Y, p};\npub struct X;" }), ["a", "b", "a"]);
  assert.deepEqual(cycleIn({ "lib.rs": lib, "a.rs": "pub fn f() { crate::b::g() }", "b.rs": "pub fn g() { let _ = crate::a::f; }" }), ["a", "b", "a"]);
  assert.deepEqual(cycleIn({ "lib.rs": lib, "p/mod.rs": "mod y;\nuse crate::p::y::g;\npub fn f() {}", "p/y.rs": "pub fn g() { super::f() }" }), ["p", "p::y", "p"]);
  assert.equal(
    cycleIn({
      "lib.rs": lib,
      "a.rs": '// use crate::b::X;\n/* crate::b::X */\nconst S: &str = "crate::b::X";\npub fn f() {}\n#[cfg(test)]\nmod tests {\n    use super::*;\n}\n',
      "b.rs": "use crate::a::f;",
    }),
    null,
  );
});
