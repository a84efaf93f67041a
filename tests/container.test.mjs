// The production path, locally: `wrangler dev` with the container binding on, each session in its
// own Podman container of the image of container/Dockerfile (the executor under tini), reached
// through `state.container()` — start with the Worker's start options, readiness behind the
// stand-in sidecar, `get_tcp_port(8080)`, idle sleep and `destroy`. Run by its own phase of
// `npm test` (scripts/test.sh), which builds the image first; needs root and Podman
// (scripts/bootstrap.sh installs it).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { podman, startContainerStack } from "../scripts/stack.mjs";
import { call, plugin, stream, uid } from "./helpers.mjs";

/** The container's idle time: short, so that the tests see containers sleep and wake. */
const IDLE_MS = 4000;
/** A limit the Worker passes to every container (a file larger than this cannot be written). */
const FILE_SIZE_MB = 8;

const h = {};
before(async () => {
  h.stack = await startContainerStack({ vars: { IDLE_TIMEOUT_MS: String(IDLE_MS), EDGERUN_FILE_SIZE_MB: String(FILE_SIZE_MB) } });
}, { timeout: 30 * 60_000 });
after(async () => {
  await h.stack?.stop();
});

const run = (sid, body) => call(h.stack, "POST", `/api/sessions/${sid}/run`, { timeout: 120, ...body });

/** A new session of `language`; its id. */
async function made(language, extra = {}) {
  const sid = uid(language);
  const r = await call(h.stack, "POST", "/api/sessions", { id: sid, language, ...extra });
  assert.equal(r.status, 201, r.text);
  return sid;
}

/** Python that prints the container's hostname. */
const HOSTNAME_PY = "import socket\nprint(socket.gethostname())";

/** The session container whose hostname a run printed (Podman's hostname is the id's first 12). */
function containerOf(hostname) {
  return h.stack.containers().find((c) => c.Id.startsWith(hostname.trim()));
}

/** Waits until the session's container is gone (slept or destroyed), at most `ms`. */
async function gone(hostname, ms) {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (!containerOf(hostname)) return true;
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}

/** `GET /health` of the executor, asked from inside its container (as root, beside it). */
function healthInside(id) {
  const out = podman(["exec", id, "/usr/bin/python3", "-c", "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:8080/health').read().decode())"], {
    url: h.stack.podman.url,
  });
  return JSON.parse(out);
}

test("the seed example runs in a container of its own, started with the Worker's options, the executor as PID 1 under tini", async () => {
  const sid = uid("seed");
  const seed = await plugin(h.stack, sid, "python", { code: 'print("Hello from the Edge!")' });
  assert.equal(seed.status, 200, seed.text);
  assert.equal(seed.json.output, "Hello from the Edge!\n", seed.text);
  const where = await run(sid, { code: "import os, socket\nprint(socket.gethostname())\nprint('in-container' if os.path.exists('/run/.containerenv') else 'on the host')\nprint(os.getuid())" });
  assert.equal(where.status, 200, where.text);
  const [hostname, marker, runUid] = where.json.stdout.trim().split("\n");
  assert.equal(marker, "in-container");
  assert.notEqual(runUid, "0", "user code never runs as root");
  const c = containerOf(hostname);
  assert.ok(c, `a session container has the run's hostname ${hostname}`);
  const inspect = JSON.parse(podman(["inspect", c.Id], { url: h.stack.podman.url }))[0];
  const env = Object.fromEntries(inspect.Config.Env.map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]));
  assert.equal(env.EDGERUN_SECRET, h.stack.secret, "the container gets EXECUTOR_SECRET as the executor's secret");
  assert.equal(env.EDGERUN_CONTEXT_IDLE_MS, String(IDLE_MS), "and the Worker's idle time for its contexts");
  assert.equal(env.EDGERUN_FILE_SIZE_MB, String(FILE_SIZE_MB), "and the limits the deployment set");
  const pid1 = podman(["exec", c.Id, "cat", "/proc/1/cmdline"], { url: h.stack.podman.url }).split("\0").filter(Boolean);
  assert.deepEqual(pid1, ["/usr/bin/tini", "--", "/usr/local/bin/edgerun-executor"]);
  const health = healthInside(c.Id);
  console.log(`# /health inside the container: ${JSON.stringify(health)}`);
  assert.equal(health.status, "ok");
  assert.match(health.isolation, /^(cgroup|uid)/, "the container's root gives runs their own uid at least");
  assert.match(health.network, /network namespace per session/, "sessions without internet get a namespace of their own");
});

const programs = {
  python: ["open('note.txt','w').write('-py')", "import sys\nprint(sys.stdin.read().upper() + open('note.txt').read())"],
  node: ["require('fs').writeFileSync('note.txt','-js')", "const fs=require('fs');console.log(fs.readFileSync(0,'utf8').toUpperCase()+fs.readFileSync('note.txt','utf8'))"],
  typescript: ["import { writeFileSync } from 'node:fs';\nwriteFileSync('note.txt', '-ts' as string)", "import { readFileSync } from 'node:fs';\nconst s: string = readFileSync(0, 'utf8');\nconsole.log(s.toUpperCase() + readFileSync('note.txt', 'utf8'))"],
  go: ["package main\nimport \"os\"\nfunc main() { os.WriteFile(\"note.txt\", []byte(\"-go\"), 0644) }", "package main\nimport (\"fmt\"; \"io\"; \"os\"; \"strings\")\nfunc main() { b, _ := io.ReadAll(os.Stdin); n, _ := os.ReadFile(\"note.txt\"); fmt.Println(strings.ToUpper(string(b)) + string(n)) }"],
  deno: ["Deno.writeTextFileSync('note.txt', '-deno')", "const s = await new Response(Deno.stdin.readable).text();\nconsole.log(s.toUpperCase() + Deno.readTextFileSync('note.txt'))"],
  bash: ["printf -- '-sh' > note.txt", "read -r line; echo \"${line^^}$(cat note.txt)\""],
};

test("every language runs in the image, its files surviving the container's idle sleep", async () => {
  const sessions = {};
  for (const [lang, [write]] of Object.entries(programs)) {
    const sid = await made(lang);
    sessions[lang] = sid;
    const w = await run(sid, { code: write });
    assert.equal(w.status, 200, w.text);
    assert.equal(w.json.exit_code, 0, `${lang}: ${w.text}`);
  }
  // Every session's container sleeps after IDLE_MS without a request (its files are in R2).
  const until = Date.now() + IDLE_MS + 20_000;
  while (h.stack.containers().length > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 250));
  assert.deepEqual(h.stack.containers().map((c) => c.Id.slice(0, 12)), [], "idle containers were stopped");
  for (const [lang, [, read]] of Object.entries(programs)) {
    const r = await run(sessions[lang], { code: read, stdin: "hi" });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.stdout, `HI-${{ python: "py", node: "js", typescript: "ts", go: "go", deno: "deno", bash: "sh" }[lang]}\n`, `${lang}: ${r.text}`);
  }
});

test("requirements install inside the container and stay installed after it is destroyed", async () => {
  const sid = uid("req");
  const first = await plugin(h.stack, sid, "python", { code: "import tabulate; print(tabulate.tabulate([[1, 2]]))", requirements: ["tabulate==0.9.0"], timeout: 180 });
  assert.equal(first.json.success, true, first.text);
  assert.match(first.json.output, /1\s+2/);
  const host = (await run(sid, { code: HOSTNAME_PY })).json.stdout;
  assert.ok(await gone(host, IDLE_MS + 20_000), "the container slept");
  const again = await plugin(h.stack, sid, "python", { code: "import tabulate; print(tabulate.__version__)" });
  assert.equal(again.json.output, "0.9.0\n", again.text);
});

test("a streamed run's output arrives through the container as it is written", async () => {
  const sid = await made("python");
  const r = await stream(h.stack, "POST", `/api/sessions/${sid}/run`, { code: "import time\nprint(1, flush=True)\ntime.sleep(1)\nprint(2)" });
  assert.equal(r.status, 200);
  const out = r.events.filter((e) => e.event === "stdout");
  assert.ok(out.length >= 2, JSON.stringify(r.events));
  assert.ok(out[out.length - 1].at - out[0].at >= 800, "the first chunk came before the sleep");
  const exit = r.events.find((e) => e.event === "exit");
  assert.equal(exit.data.exit_code, 0);
});

test("a context's variables survive the container's destruction", async () => {
  const sid = await made("python");
  const ctx = await call(h.stack, "POST", `/api/sessions/${sid}/contexts`, { language: "python" });
  assert.equal(ctx.status, 201, ctx.text);
  const set = await run(sid, { context: ctx.json.id, code: "import socket\nx = 41\nsocket.gethostname()" });
  assert.equal(set.status, 200, set.text);
  const host = JSON.parse(set.json.result.replaceAll("'", '"'));
  assert.ok(await gone(host, IDLE_MS + 20_000), "the container slept");
  const get = await run(sid, { context: ctx.json.id, code: "import socket\n(x + 1, socket.gethostname())" });
  assert.equal(get.status, 200, get.text);
  const [value, newHost] = JSON.parse(get.json.result.replace("(", "[").replace(")", "]").replaceAll("'", '"'));
  assert.equal(value, 42, "x came back from the checkpoint");
  assert.notEqual(newHost, host, "in a new container");
});

test("allow_internet: false cuts the session's code off inside the container", async () => {
  const sid = await made("python", { allow_internet: false });
  const probe = "import socket\ntry:\n    socket.create_connection(('1.1.1.1', 443), timeout=3); print('online')\nexcept OSError as e:\n    print(type(e).__name__)\ntry:\n    socket.getaddrinfo('pypi.org', 443); print('dns')\nexcept OSError as e:\n    print(type(e).__name__)";
  const r = await run(sid, { code: probe });
  assert.equal(r.status, 200, r.text);
  const [connect, dns] = r.json.stdout.trim().split("\n");
  assert.notEqual(connect, "online", r.text);
  assert.equal(dns, "gaierror", r.text);
});

test("the Worker's limits hold inside the container", async () => {
  const sid = await made("python");
  const r = await run(sid, { code: `open('big','wb').write(b'x' * ${(FILE_SIZE_MB + 1) << 20})` });
  assert.equal(r.status, 200, r.text);
  assert.notEqual(r.json.exit_code, 0, "a file past EDGERUN_FILE_SIZE_MB cannot be written");
  assert.match(r.json.stderr, /File too large|SIGXFSZ|Errno 27/i, r.text);
});

test("the session's code cannot use the sidecar's ingress to reach the executor", async () => {
  const sid = await made("python");
  const host = (await run(sid, { code: HOSTNAME_PY })).json.stdout.trim();
  const c = containerOf(host);
  assert.ok(c, host);
  const name = [c.Names].flat()[0];
  const sidecar = JSON.parse(podman(["inspect", `${name}-proxy`], { url: h.stack.podman.url }))[0];
  const args = [sidecar.Path, ...sidecar.Args];
  const ingress = args[args.indexOf("--http-ingress-address") + 1];
  const port = Number(ingress.split(":").pop());
  assert.ok(port > 0, `the sidecar's ingress port in ${args.join(" ")}`);
  const probe = `import socket
own = socket.gethostbyname(socket.gethostname())
for addr in ("127.0.0.1", own):
    try:
        s = socket.create_connection((addr, ${port}), timeout=3)
        s.sendall(b"CONNECT 127.0.0.1:8080 HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
        print(addr == own and "own" or "loopback", repr(s.recv(100)))
    except OSError as e:
        print(addr == own and "own" or "loopback", type(e).__name__)`;
  const r = await run(sid, { code: probe });
  assert.equal(r.status, 200, r.text);
  for (const line of r.json.stdout.trim().split("\n")) {
    assert.match(line, /^(loopback|own) (b''|ConnectionResetError|ConnectionRefusedError|TimeoutError)$/, `no tunnel answered: ${r.text}`);
  }
});

test("concurrent sessions each get a container of their own", async () => {
  const sids = await Promise.all([made("bash"), made("bash"), made("bash")]);
  const answers = await Promise.all(sids.map((sid) => run(sid, { code: "hostname" })));
  for (const a of answers) assert.equal(a.status, 200, a.text);
  const hosts = answers.map((a) => a.json.stdout.trim());
  assert.equal(new Set(hosts).size, 3, `three containers: ${hosts}`);
  for (const host of hosts) assert.ok(containerOf(host), `${host} is a session container`);
});

test("deleting a session destroys its container; a killed container is started again with the files", async () => {
  const sid = await made("bash");
  const w = await run(sid, { code: "echo kept > f.txt; hostname" });
  assert.equal(w.status, 200, w.text);
  const host = w.json.stdout.trim();
  podman(["kill", containerOf(host).Id], { url: h.stack.podman.url });
  assert.ok(await gone(host, 10_000), "the container was killed");
  const again = await run(sid, { code: "cat f.txt; hostname" });
  assert.equal(again.status, 200, again.text);
  const [content, newHost] = again.json.stdout.trim().split("\n");
  assert.equal(content, "kept");
  assert.notEqual(newHost, host);
  const del = await call(h.stack, "DELETE", `/api/sessions/${sid}`);
  assert.ok(del.status === 200 || del.status === 204, del.text);
  assert.ok(await gone(newHost, 10_000), "deleting the session destroyed its container");
});
