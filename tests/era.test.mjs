// What clients written for the ERA agent ran into (issue 13, the executor's side): code runs as
// the workspace's `main.<ext>` (relative imports from the workspace, user files never shadowed,
// tracebacks without host paths), TypeScript resolved as tsx does, non-persistent sessions that
// forget a run's files in every order, stored names the filesystem cannot hold, and the run's
// environment naming its session and language.
import assert from "node:assert/strict";
import { test } from "node:test";
import { call, uid, useStack } from "./helpers.mjs";

const h = useStack();

async function session(language, extra = {}) {
  const id = uid(language.slice(0, 4));
  const r = await call(h.stack, "POST", "/api/sessions", { id, language, ...extra });
  assert.equal(r.status, 201, r.text);
  return id;
}
const put = async (id, path, content) => {
  const r = await call(h.stack, "PUT", `/api/sessions/${id}/files/${path}`, content, { "content-type": "application/octet-stream" });
  assert.equal(r.status, 200, r.text);
};
const run = async (id, code, extra = {}) => {
  const r = await call(h.stack, "POST", `/api/sessions/${id}/run`, { code, timeout: 120, ...extra });
  assert.equal(r.status, 200, r.text);
  return r.json;
};
/** No host path of the executor (its work root, the session's code directory) in `text`. */
const noHostPath = (text, what) => {
  assert.ok(!text.includes(h.stack.workRoot), `${what} shows the work root ${h.stack.workRoot}: ${text}`);
  assert.ok(!/(?<!\/run\/edgerun)\/code\/main\./.test(text), `${what} shows the code directory: ${text}`);
};

test("python: imports and open() resolve from the workspace, main.py is the user's, tracebacks say main.py", async () => {
  const id = await session("python");
  await put(id, "helper.py", "X = 5\n");
  await put(id, "main.py", "MARK = 'user main'\n");
  await put(id, "data.txt", "payload");
  const ok = await run(id, "import sys, helper, main\nprint(helper.X, main.MARK, open('data.txt').read(), sys.stdin.read(), __name__)", { stdin: "in" });
  assert.equal(ok.stdout, "5 user main payload in __main__\n", JSON.stringify(ok));
  const bad = await run(id, "def f():\n    raise ValueError('bad')\nf()\n");
  assert.equal(bad.exit_code, 1);
  assert.match(bad.stderr, /File "main\.py", line 2, in f\n    raise ValueError\('bad'\)/, bad.stderr);
  noHostPath(bad.stderr, "a traceback");
  const syntax = await run(id, "x = (\n");
  assert.match(syntax.stderr, /File "main\.py", line 1\n    x = \(/, syntax.stderr);
  noHostPath(syntax.stderr, "a syntax error");
  const files = await call(h.stack, "GET", `/api/sessions/${id}/files`);
  assert.deepEqual(files.json.files.map((f) => f.path), ["data.txt", "helper.py", "main.py"], "the run's code is not in the workspace");
});

test("node: require resolves from the workspace, ./main.js is the user's, stack traces say main.js (CommonJS and ES modules)", async () => {
  const id = await session("node");
  await put(id, "index.js", "exports.x = 42;\n");
  await put(id, "main.js", "module.exports = 'user main';\n");
  await put(id, "lib.mjs", "export const y = 7;\n");
  const cjs = await run(id, "const fs = require('fs');\nconsole.log(require('./index.js').x, require('./main.js'), fs.readFileSync(0, 'utf8'), require.main === module)", { stdin: "in" });
  assert.equal(cjs.stdout, "42 user main in true\n", JSON.stringify(cjs));
  const esm = await run(id, "import { y } from './lib.mjs';\nconst m = await import('./main.js');\nconsole.log(y, m.default)");
  assert.equal(esm.stdout, "7 user main\n", JSON.stringify(esm));
  const bad = await run(id, "function f() {\n  throw new Error('boom');\n}\nf();\n");
  assert.equal(bad.exit_code, 1);
  assert.match(bad.stderr, /at f \(main\.js:2:9\)/, bad.stderr);
  noHostPath(bad.stderr, "a stack trace");
  const badEsm = await run(id, "import { y } from './lib.mjs';\nthrow new Error('esm boom ' + y);\n");
  assert.match(badEsm.stderr, /Error: esm boom 7\n    at main\.js:2:7/, badEsm.stderr);
  noHostPath(badEsm.stderr, "an ES module's stack trace");
});

test("typescript: extensionless, .js-suffixed and directory imports, npm packages (CommonJS interop), require in .ts", async () => {
  const id = await session("typescript");
  await put(id, "utils/string.ts", "export const shout = (s: string): string => s.toUpperCase();\n");
  await put(id, "lib/index.ts", "export const answer: number = 42;\n");
  await put(id, "legacy.ts", "const pkg = require('cjspkg');\nexport const viaRequire: string = pkg.hello();\n");
  await put(id, "main.ts", "export const userMain: string = 'user main';\n");
  await put(id, "node_modules/cjspkg/package.json", JSON.stringify({ name: "cjspkg", version: "1.0.0", main: "index.js" }));
  await put(id, "node_modules/cjspkg/index.js", "exports.hello = () => 'cjs hello';\n");
  const code = [
    "import { shout } from './utils/string';",
    "import { shout as again } from './utils/string.js';",
    "import { answer } from './lib';",
    "import pkg, { hello } from 'cjspkg';",
    "import { viaRequire } from './legacy';",
    "import { userMain } from './main';",
    "interface P { n: number }",
    "const p: P = { n: answer };",
    "console.log(shout('a'), again('b'), p.n, pkg.hello(), hello(), viaRequire, userMain);",
  ].join("\n");
  const r = await run(id, code);
  assert.equal(r.stdout, "A B 42 cjs hello cjs hello cjs hello user main\n", JSON.stringify(r));
  const cjs = await run(id, "const { shout } = require('./utils/string');\nconst n: number = 1;\nconsole.log(shout('c'), n);");
  assert.equal(cjs.stdout, "C 1\n", JSON.stringify(cjs));
  const bad = await run(id, "const n: number = 1;\nthrow new Error('ts boom ' + n);\n");
  assert.match(bad.stderr, /Error: ts boom 1\n    at Object\.<anonymous> \(main\.ts:2:7\)/, bad.stderr);
  noHostPath(bad.stderr, "a stack trace");
  const badEsm = await run(id, "import { answer } from './lib';\nconst n: number = answer;\nthrow new Error('ts esm boom ' + n);\n");
  assert.match(badEsm.stderr, /Error: ts esm boom 42\n    at main\.ts:3:7/, badEsm.stderr);
  noHostPath(badEsm.stderr, "an ES module's stack trace");
  const unsupported = await run(id, "enum E { A }\nconsole.log(E.A);\n");
  assert.equal(unsupported.exit_code, 1);
  assert.match(unsupported.stderr, /^main\.ts:1\n[\s\S]*TypeScript enum is not supported in strip-only mode/, unsupported.stderr);
});

test("deno: relative imports resolve from the workspace and ./main.ts is the user's", async () => {
  const id = await session("deno");
  await put(id, "util.ts", "export const twice = (n: number): number => n * 2;\n");
  await put(id, "main.ts", "export const userMain = 'user main';\n");
  const r = await run(id, "import { twice } from './util.ts';\nimport { userMain } from './main.ts';\nconst s = await new Response(Deno.stdin.readable).text();\nconsole.log(twice(21), userMain, s, Deno.readTextFileSync('util.ts').length > 0);", { stdin: "in" });
  assert.equal(r.stdout, "42 user main in true\n", JSON.stringify(r));
  // Deno names modules by absolute URL only: under private mounts (root) the code directory is
  // bound at a fixed path, so the trace shows that instead of the work root.
  const health = await (await fetch(`${h.stack.executorUrl}/health`)).json();
  const bad = await run(id, "const n: number = 1;\nthrow new Error('deno boom ' + n);\n");
  assert.match(bad.stderr, /deno boom 1/, bad.stderr);
  if (/private/.test(health.isolation)) {
    assert.match(bad.stderr, /file:\/\/\/run\/edgerun\/code\/main\.ts:2:7/, bad.stderr);
    noHostPath(bad.stderr, "a Deno stack trace");
  }
});

test("bash: $0 and error messages say main.sh, sourcing resolves from the workspace, stdin is the script's", async () => {
  const id = await session("bash");
  await put(id, "lib.sh", "greet() { echo \"hi $1\"; }\n");
  const r = await run(id, "source ./lib.sh\ngreet \"$(cat)\"\necho \"$0 $#\"\nno_such_command_x\n", { stdin: "ada" });
  assert.equal(r.stdout, "hi ada\nmain.sh 0\n", JSON.stringify(r));
  assert.match(r.stderr, /^main\.sh: line 4: no_such_command_x: command not found$/m, r.stderr);
  noHostPath(r.stderr, "an error message");
});

test("go: files resolve from the workspace and a panic's trace shows no host path", async () => {
  const id = await session("go");
  await put(id, "main.go", "this is the user's file, not Go\n");
  await put(id, "in.txt", "payload");
  const r = await run(id, 'package main\nimport ("fmt"; "os")\nfunc main() {\n\tb, _ := os.ReadFile("in.txt")\n\tfmt.Println(string(b))\n\tpanic("boom")\n}\n');
  assert.equal(r.stdout, "payload\n", JSON.stringify(r));
  assert.equal(r.exit_code, 2);
  assert.match(r.stderr, /panic: boom[\s\S]*main\.go:6/, r.stderr);
  noHostPath(r.stderr, "a panic");
});

test("non-persistent sessions forget a run's files in every order of setup, uploads and runs", async () => {
  const write = "open('t.txt','w').write('x')";
  const look = "import os; print(os.path.exists('t.txt'), sorted(f for f in os.listdir('.') if not f.startswith('.')))";
  // run, run
  let id = await session("python", { persistent: false });
  await run(id, write);
  assert.equal((await run(id, look)).stdout, "False []\n");
  // upload, run, run
  id = await session("python", { persistent: false });
  await put(id, "kept.txt", "k");
  await run(id, write);
  assert.equal((await run(id, look)).stdout, "False ['kept.txt']\n");
  // run, upload, run, run
  id = await session("python", { persistent: false });
  await run(id, write);
  await put(id, "kept.txt", "k");
  assert.equal((await run(id, look)).stdout, "False ['kept.txt']\n");
  await run(id, write);
  assert.equal((await run(id, look)).stdout, "False ['kept.txt']\n");
  // setup, run, run
  id = await session("python", { persistent: false });
  const s = await call(h.stack, "POST", `/api/sessions/${id}/setup`, { setup: { commands: ["echo ready > ready.txt"] } });
  assert.equal(s.status, 202, s.text);
  await run(id, write);
  assert.equal((await run(id, look)).stdout, "False ['ready.txt']\n");
  // the one-shot route is non-persistent too, and each call starts empty
  const one = await call(h.stack, "POST", "/api/execute", { language: "python", code: look });
  assert.equal(one.json.stdout, "False []\n", one.text);
});

test("every run's environment names its session and language", async () => {
  const id = await session("python");
  const r = await run(id, "import os\nprint(*[os.environ.get(k) for k in ['SESSION_ID','ERA_SESSION_ID','ERA_SESSION','SESSION_LANGUAGE','ERA_LANGUAGE']])");
  assert.equal(r.stdout, `${id} ${id} ${id} python python\n`, JSON.stringify(r));
  const b = await session("bash");
  const rb = await run(b, 'echo "$SESSION_ID $ERA_LANGUAGE"; env | grep -ci secret || true');
  assert.equal(rb.stdout, `${b} bash\n0\n`, JSON.stringify(rb));
  const one = await call(h.stack, "POST", "/api/execute", { language: "ts", code: "console.log(process.env.SESSION_ID, process.env.ERA_LANGUAGE)" });
  assert.match(one.json.stdout, /^exec_[0-9a-f]{32} typescript\n$/, one.text);
  const viaPlugin = await call(h.stack, "POST", `/?session=${b}`, { plugin: "node", payload: { code: "console.log(process.env.ERA_SESSION, process.env.SESSION_LANGUAGE)" } });
  assert.equal(viaPlugin.json.output, `${b} node\n`, viaPlugin.text);
});

// The executor's own protocol, as the Worker speaks it.
async function executor(method, path, body, type = "application/json") {
  const r = await fetch(h.stack.executorUrl + path, { method, headers: { "x-edgerun-secret": h.stack.secret, "content-type": type }, body });
  return { status: r.status, bytes: Buffer.from(await r.arrayBuffer()) };
}
const framed = (bytes) => {
  const len = bytes.readUInt32BE(0);
  return JSON.parse(bytes.subarray(4, 4 + len).toString());
};

test("a stored name the filesystem cannot hold is skipped by the executor and every later run says so and works", async () => {
  const id = await session("python");
  await put(id, "ok.txt", "fine");
  assert.equal((await run(id, "print(1)")).stdout, "1\n"); // the executor now holds the committed version
  const long = "n".repeat(300);
  const stored = await call(h.stack, "PUT", `/api/sessions/${id}/files/${long}`, "x", { "content-type": "application/octet-stream" });
  if (stored.status === 200) {
    // Stored by a Worker that does not refuse such names: the session must keep running, both
    // when the upload reached the live executor (an apply) and after a restart (an inject).
    for (let i = 0; i < 4; i++) {
      if (i === 2) await h.stack.restartExecutor({ fresh: true }); // the next run injects the whole workspace
      const r = await run(id, "print(open('ok.txt').read())");
      assert.equal(r.exit_code, 0, JSON.stringify(r));
      assert.equal(r.stdout, "fine\n");
      assert.match(r.stderr, /\[edgerun\] 1 of the session's stored entries cannot be placed in the workspace and were skipped/, r.stderr);
      assert.match(r.stderr, /a name of 300 bytes; the filesystem holds names of at most 255 bytes/, r.stderr);
    }
    const files = await call(h.stack, "GET", `/api/sessions/${id}/files`);
    assert.ok(files.json.files.some((f) => f.path === long), "the entry stays stored");
  } else {
    assert.equal(stored.status, 400, stored.text);
  }

  // Straight to the executor: an inject holding such names (a file, and a directory with a file
  // in it), then runs against the versions it answers.
  const sid = uid("longname");
  const content = Buffer.from("fine");
  // A first run writes ok.txt: its delta gives the entry as the executor records it (blake3).
  const hashRun = await executor("POST", `/v1/sessions/${sid}/run`, JSON.stringify({ language: "python", code: "open('ok.txt','w').write('fine')", expect_version: null }));
  assert.equal(hashRun.status, 200, hashRun.bytes.toString());
  const first = framed(hashRun.bytes);
  const okEntry = first.delta.entries.find((e) => e.path === "ok.txt");
  assert.ok(okEntry, JSON.stringify(first.delta));
  const { offset: _o, ...okPlain } = okEntry;
  const entry = (path, kind) => ({ path, kind, mode: kind === "dir" ? 0o755 : 0o644, mtime_ns: okEntry.mtime_ns, size: kind === "file" ? content.length : 0, hash: kind === "file" ? okEntry.hash : "" });
  const longDir = "d".repeat(256);
  const manifest = [okPlain, entry(long, "file"), entry(longDir, "dir"), entry(`${longDir}/inner.txt`, "file")];
  const segments = manifest.filter((e) => e.kind === "file").map((e) => ({ kind: "raw", path: e.path, len: content.length }));
  const header = Buffer.from(JSON.stringify({ version: "v-long-1", manifest, segments }));
  const len = Buffer.alloc(4);
  len.writeUInt32BE(header.length);
  const body = Buffer.concat([len, header, ...segments.map(() => content)]);
  const inj = await executor("POST", `/v1/sessions/${sid}/inject`, body, "application/octet-stream");
  assert.equal(inj.status, 200, inj.bytes.toString());
  let version = "v-long-1";
  for (let i = 0; i < 2; i++) {
    const r = await executor("POST", `/v1/sessions/${sid}/run`, JSON.stringify({ language: "python", code: "import os\nprint(sorted(os.listdir('.')), open('ok.txt').read())", expect_version: version }));
    assert.equal(r.status, 200, r.bytes.toString());
    const a = framed(r.bytes);
    assert.equal(a.result.exit_code, 0, JSON.stringify(a.result));
    assert.equal(a.result.stdout, "['ok.txt'] fine\n");
    assert.match(a.result.stderr, /3 of the session's stored entries cannot be placed in the workspace and were skipped/, a.result.stderr);
    assert.deepEqual(a.delta.deleted, [], "a skipped entry is not deleted by the run");
    version = a.delta.version;
  }
  const del = await executor("DELETE", `/v1/sessions/${sid}`);
  assert.equal(del.status, 200);
});

test("code of 1 MiB runs in every language (it is never an argument: a single one is limited to 128 KiB)", async () => {
  const filler = (prefix) => `${prefix}${"x".repeat(1024 * 1024 - 200)}\n`;
  const cases = {
    python: [filler("# "), "print('big')"],
    node: [filler("// "), "console.log('big')"],
    typescript: [filler("// "), "const s: string = 'big'; console.log(s)"],
    deno: [filler("// "), "console.log('big')"],
    bash: [filler("# "), "echo big"],
  };
  for (const [language, [pad, code]] of Object.entries(cases)) {
    const id = await session(language);
    const src = pad + code;
    assert.ok(src.length > 1024 * 1024 - 200 && src.length <= 1024 * 1024, `${src.length}`);
    const r = await run(id, src);
    assert.equal(r.stdout, "big\n", `${language}: ${r.stderr.slice(0, 300)}`);
  }
});
