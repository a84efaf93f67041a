// Every language through the public API, both endpoints; and the 503 when no sandbox answers.
import assert from "node:assert/strict";
import { test } from "node:test";
import { assertError, call, plugin, uid, useStack } from "./helpers.mjs";

const h = useStack();

const programs = {
  python: ["import sys\nprint(sys.stdin.read().upper() + open('note.txt').read())", "open('note.txt','w').write('-py')"],
  node: ["const fs=require('fs');console.log(fs.readFileSync(0,'utf8').toUpperCase()+fs.readFileSync('note.txt','utf8'))", "require('fs').writeFileSync('note.txt','-js')"],
  typescript: ["import { readFileSync } from 'node:fs';\nconst s: string = readFileSync(0, 'utf8');\nconsole.log(s.toUpperCase() + readFileSync('note.txt', 'utf8'))", "import { writeFileSync } from 'node:fs';\nwriteFileSync('note.txt', '-ts' as string)"],
  go: ["package main\nimport (\"fmt\"; \"io\"; \"os\"; \"strings\")\nfunc main() { b, _ := io.ReadAll(os.Stdin); n, _ := os.ReadFile(\"note.txt\"); fmt.Println(strings.ToUpper(string(b)) + string(n)) }", "package main\nimport \"os\"\nfunc main() { os.WriteFile(\"note.txt\", []byte(\"-go\"), 0644) }"],
  deno: ["const s = await new Response(Deno.stdin.readable).text();\nconsole.log(s.toUpperCase() + Deno.readTextFileSync('note.txt'))", "Deno.writeTextFileSync('note.txt', '-deno')"],
  bash: ["read -r line; echo \"${line^^}$(cat note.txt)\"", "printf -- '-sh' > note.txt"],
};
const suffix = { python: "-py", node: "-js", typescript: "-ts", go: "-go", deno: "-deno", bash: "-sh" };

for (const [lang, [read, write]] of Object.entries(programs)) {
  test(`${lang}: plugin endpoint and session runs, files persisting across an executor restart`, async () => {
    const s = uid(lang);
    const w = await plugin(h.stack, s, lang, { code: write, timeout: 120 });
    assert.equal(w.json.success, true, w.text);
    await h.stack.restartExecutor({ fresh: true });
    const r = await call(h.stack, "POST", `/api/sessions/${s}/run`, { code: read, stdin: "hi", timeout: 120 });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.stdout, `HI${suffix[lang]}\n`, r.text);
    assert.equal(r.json.exit_code, 0);
    const session = await call(h.stack, "GET", `/api/sessions/${s}`);
    assert.equal(session.json.language, lang);
    assert.equal(session.json.run_count, 2);
  });
}

test("npm requirements install once and import after a restart without them", async () => {
  const s = uid("npmreq");
  const first = await plugin(h.stack, s, "node", { code: "console.log(require('is-number')(3))", requirements: ["is-number@7.0.0"], timeout: 120 });
  assert.equal(first.json.output, "true\n", first.text);
  await h.stack.restartExecutor({ fresh: true });
  const again = await plugin(h.stack, s, "node", { code: "console.log(require.resolve('is-number').includes('/ws/node_modules/'))" });
  assert.equal(again.json.output, "true\n", again.text);
});

test("with no executor reachable, runs answer 503 saying how to start one", async () => {
  const s = uid("down");
  await call(h.stack, "POST", "/api/sessions", { id: s, language: "bash" });
  h.stack.executor.kill("SIGKILL");
  await new Promise((r) => h.stack.executor.once("exit", r));
  const r = await call(h.stack, "POST", `/api/sessions/${s}/run`, { code: "echo hi" });
  assertError(assert, r, 503, "sandbox_unavailable");
  assert.match(r.json.error, /npm run dev/);
  const session = await call(h.stack, "GET", `/api/sessions/${s}`);
  assert.equal(session.json.run_count, 0, "a failed run changes nothing");
  await h.stack.restartExecutor({ fresh: true });
  const ok = await call(h.stack, "POST", `/api/sessions/${s}/run`, { code: "echo hi" });
  assert.equal(ok.json.stdout, "hi\n");
});
