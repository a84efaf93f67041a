// Fails when a crate's modules import each other in a circle. Every reference counts: `use`
// lines, inline `crate::a::b` paths and `super::` paths alike (`self::` and paths into other
// crates do not). A module is a file (`src/a.rs`, `src/a/mod.rs`, `src/a/b.rs` → `a`, `a::b`) or an
// inline `mod x { … }` block's file; a reference names the longest known module its path starts
// with. Comments and string literals are ignored.
//
//   node scripts/check-cycles.mjs [crate-src-dir …]   (default: the Worker and the executor)
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(fileURLToPath(import.meta.url), "../..");

/** Module path of a source file relative to its crate's `src`. */
function modulePath(rel) {
  let parts = rel.replace(/\.rs$/, "").split(sep);
  if (parts.at(-1) === "mod" || (parts.length === 1 && ["lib", "main"].includes(parts[0]))) parts = parts.slice(0, -1);
  return parts.join("::");
}

function files(dir) {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : n.endsWith(".rs") ? [p] : [];
  });
}

/** Source with comments, strings and char literals blanked (lines kept). */
export function strip(src) {
  return src
    .replace(/\/\/[^\n]*/g, "")
    .replace(/\/\*[\s\S]*?\*\//g, (m) => m.replace(/[^\n]/g, " "))
    .replace(/r(#*)"[\s\S]*?"\1/g, (m) => m.replace(/[^\n]/g, " "))
    .replace(/"(?:[^"\\]|\\[\s\S])*"/g, (m) => m.replace(/[^\n]/g, " "))
    .replace(/'(?:[^'\\\n]|\\.)'/g, "' '");
}

/** Ranges of inline `mod x { … }` blocks (their `super` is the file's own module). */
function inlineMods(code) {
  const ranges = [];
  for (const m of code.matchAll(/\bmod\s+\w+\s*\{/g)) {
    let depth = 0;
    for (let i = m.index + m[0].length - 1; i < code.length; i++) {
      if (code[i] === "{") depth++;
      else if (code[i] === "}" && --depth === 0) {
        ranges.push([m.index, i]);
        break;
      }
    }
  }
  return ranges;
}

/** Every module path a file's code refers to, resolved against `self` (its own module). */
export function references(src, self) {
  const code = strip(src);
  const inline = inlineMods(code);
  const depthAt = (i) => inline.filter(([a, b]) => a <= i && i <= b).length;
  const refs = []; // [path, index]
  // `use` trees: expand `a::{b, c::{d}}` into full paths.
  const expand = (prefix, tree) => {
    tree = tree.trim();
    const brace = tree.indexOf("{");
    if (brace < 0) return [prefix + tree.split(/\s+as\s+/)[0].trim()];
    const head = tree.slice(0, brace);
    const body = tree.slice(brace + 1, tree.lastIndexOf("}"));
    const items = [];
    let depth = 0, cur = "";
    for (const ch of body) {
      if (ch === "{") depth++;
      if (ch === "}") depth--;
      if (ch === "," && depth === 0) { items.push(cur); cur = ""; } else cur += ch;
    }
    items.push(cur);
    return items.filter((i) => i.trim()).flatMap((i) => expand(prefix + head, i));
  };
  for (const m of code.matchAll(/\buse\s+([^;]+);/g)) for (const p of expand("", m[1].replace(/\s+/g, " "))) refs.push([p, m.index]);
  for (const m of code.matchAll(/(?<![\w:])(crate|super)((?:::\w+)+)/g)) refs.push([m[1] + m[2], m.index]);
  const out = new Set();
  const mine = self.split("::").filter(Boolean);
  for (let [r, at] of refs) {
    r = r.replace(/\s/g, "");
    let base;
    if (r.startsWith("crate::")) {
      base = [];
      r = r.slice(7);
    } else if (r.startsWith("super::")) {
      let up = -depthAt(at); // inside an inline module the first `super` is this file's module
      while (r.startsWith("super::")) {
        up++;
        r = r.slice(7);
      }
      if (up <= 0) continue; // this file's own module
      base = mine.slice(0, mine.length - up);
    } else continue; // self::, std::, other crates
    out.add([...base, r].filter(Boolean).join("::"));
  }
  return [...out];
}

/** The module graph of one crate: module → modules it refers to. */
export function graph(srcDir) {
  const mods = new Map();
  for (const f of files(srcDir)) mods.set(modulePath(relative(srcDir, f)), readFileSync(f, "utf8"));
  const known = [...mods.keys()];
  const resolve = (path) => {
    const parts = path.split("::");
    for (let n = parts.length; n > 0; n--) {
      const cand = parts.slice(0, n).join("::");
      if (known.includes(cand)) return cand;
    }
    return ""; // the crate root
  };
  const g = new Map();
  for (const [m, src] of mods) {
    const to = new Set(references(src, m).map(resolve).filter((t) => t !== m && t !== ""));
    g.set(m, to);
  }
  return g;
}

/** One cycle (as a list of modules, first = last) or null. */
export function findCycle(g) {
  const state = new Map();
  const stack = [];
  const visit = (m) => {
    state.set(m, 1);
    stack.push(m);
    for (const n of g.get(m) ?? []) {
      if (state.get(n) === 1) return [...stack.slice(stack.indexOf(n)), n];
      if (!state.has(n)) {
        const c = visit(n);
        if (c) return c;
      }
    }
    stack.pop();
    state.set(m, 2);
    return null;
  };
  for (const m of [...g.keys()].sort()) if (!state.has(m)) {
    const c = visit(m);
    if (c) return c;
  }
  return null;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dirs = process.argv.slice(2).length ? process.argv.slice(2) : [join(root, "src"), join(root, "container/src"), join(root, "container/protocol/src")];
  let failed = false;
  for (const d of dirs) {
    const g = graph(d);
    const c = findCycle(g);
    if (c) {
      failed = true;
      console.error(`import cycle in ${relative(root, d)}: ${c.join(" → ")}`);
    } else console.error(`no import cycle in ${relative(root, d)} (${g.size} modules)`);
  }
  process.exit(failed ? 1 : 0);
}
