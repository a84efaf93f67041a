// The local stack: the native executor on a free loopback port, then `wrangler dev` (local
// Durable Objects and R2, containers disabled) pointed at it. Used by `npm run dev`, the
// end-to-end tests and the benchmarks, so all three run the same thing.
//
// The container mode (`startContainerStack`, `npm run dev -- --containers`) runs the production
// path instead: `wrangler dev` with the container binding on, each session in its own container
// of the image of container/Dockerfile, driven through a Podman service the stack starts and
// stops itself (scripts/podman/: the `docker` wrangler calls, Podman's settings, the local images).
//
// Containment of the stack itself (user code runs on this machine as sandbox uids):
// - no secret on a command line: the executor gets EDGERUN_SECRET in its environment, wrangler
//   its vars on stdin (scripts/wrangler-dev.mjs); /proc/<pid>/environ is readable by its uid only;
// - wrangler's Local Explorer and local observability off, workerd's inspector off;
// - the state directory is 0711 (sandbox uids traverse it to reach the executor's work root but
//   cannot list it), the persist directory 0700, and wrangler runs under umask 077.
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/** Environment with the bootstrap's resolved tool paths (.state/env). */
export function toolEnv(extra = {}) {
  const env = { ...process.env };
  for (const line of readFileSync(join(root, ".state/env"), "utf8").split("\n")) {
    const m = line.match(/^export ([A-Z_0-9]+)="(.*)"$/);
    if (m) env[m[1]] = m[2].replace("$PATH", process.env.PATH ?? "");
  }
  return { ...env, ...extra };
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Waits until `url` answers 200 with a JSON body that `is` takes for `what`'s own. */
async function waitFor(url, ms, proc, what, is = () => true) {
  const until = Date.now() + ms;
  let last = "";
  while (Date.now() < until) {
    if (proc.exitCode !== null) throw new Error(`${what} exited with ${proc.exitCode} before it was ready`);
    try {
      const r = await fetch(url);
      const body = await r.json().catch(() => null);
      if (r.ok && is(body)) return;
      last = r.ok ? `another server answers there: ${JSON.stringify(body)}` : `status ${r.status}`;
    } catch (e) {
      last = e.cause?.code ?? e.message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} not ready at ${url} after ${ms} ms (${last})`);
}

/**
 * Where stacks keep their state. Not under /tmp or /var/tmp: an executor running as root gives
 * every run a private /tmp and /var/tmp, which would hide a work root kept there (it refuses
 * one). Without root there are no private mounts and the usual temporary directory serves.
 */
export function stateParent() {
  const dir = process.getuid?.() === 0 ? "/var/lib/edgerun-dev" : join(tmpdir(), "edgerun-dev");
  mkdirSync(dir, { recursive: true, mode: 0o711 });
  chmodSync(dir, 0o711);
  return dir;
}

/** Builds the executor binary once (debug unless EDGERUN_PROFILE=release). */
export function buildExecutor(env = toolEnv()) {
  const release = env.EDGERUN_PROFILE === "release";
  const args = ["build", "-q", "-p", "edgerun-executor", ...(release ? ["--release"] : [])];
  const r = spawnSync("cargo", args, { cwd: root, env, stdio: "inherit" });
  if (r.status !== 0) throw new Error("building the executor failed");
  return join(root, "target", release ? "release" : "debug", "edgerun-executor");
}

/** Where [`startExecutor`] puts the work roots it discards (removed by [`removeDiscarded`]). */
const discardedDir = (workRoot) => join(dirname(workRoot), ".discarded");

/** Removes the work roots discarded beside `workRoot`. */
export function removeDiscarded(workRoot) {
  rmSync(discardedDir(workRoot), { recursive: true, force: true });
}

/**
 * Starts the executor. When `fresh` (a restart "with an empty work root", as a recycled sandbox
 * gets a new disk), the old work root is moved aside rather than deleted: this machine's ext4 has
 * no journal, and there a file created within 60 s (360 s while its inode block is dirty) of
 * others being deleted in the same block group makes the kernel walk past every such inode
 * (`recently_deleted` in its inode allocator), which made a restore right after deleting the
 * last one's files several times slower than on a new disk. The caller removes them at the end.
 */
export async function startExecutor({ bin, port, workRoot, secret, env = toolEnv(), fresh = false, extraEnv = {} }) {
  if (fresh && existsSync(workRoot)) {
    mkdirSync(discardedDir(workRoot), { recursive: true, mode: 0o700 });
    renameSync(workRoot, join(discardedDir(workRoot), `${basename(workRoot)}-${Date.now()}-${randomBytes(4).toString("hex")}`));
  }
  // The work root's mode is the executor's to set (0711: sandbox uids reach their own workspace).
  mkdirSync(workRoot, { recursive: true, mode: 0o711 });
  const proc = spawn(bin, [], {
    cwd: root,
    env: { ...env, EDGERUN_LISTEN: `127.0.0.1:${port}`, EDGERUN_WORK_ROOT: workRoot, EDGERUN_SECRET: secret, ...extraEnv },
    stdio: ["ignore", "ignore", "inherit"],
  });
  await waitFor(`http://127.0.0.1:${port}/health`, 15_000, proc, "executor");
  return proc;
}

function stopProc(proc, signal = "SIGTERM") {
  return new Promise((resolve) => {
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return resolve();
    const t = setTimeout(() => {
      try {
        process.kill(proc.detachedGroup ? -proc.pid : proc.pid, "SIGKILL");
      } catch {
        proc.kill("SIGKILL");
      }
    }, 5000);
    proc.once("exit", () => {
      clearTimeout(t);
      resolve();
    });
    try {
      process.kill(proc.detachedGroup ? -proc.pid : proc.pid, signal);
    } catch {
      resolve();
    }
  });
}

/** Environment of the dev server: the Local Explorer (which answers before the Worker's auth and
 * reads and writes every R2 object) and local observability off, no metrics. */
export function wranglerEnv(env = toolEnv()) {
  return { ...env, EDGERUN_FAST_BUILD: "1", CI: "true", WRANGLER_SEND_METRICS: "false", X_LOCAL_EXPLORER: "false", X_LOCAL_OBSERVABILITY: "false" };
}

/** Vars that are secrets: handed to wrangler as secret bindings, never logged. */
const SECRET_VARS = new Set(["EXECUTOR_SECRET", "API_TOKEN"]);

/**
 * Starts `wrangler dev` on `port` against the executor at `executorUrl` (scripts/wrangler-dev.mjs:
 * vars on stdin, inspector off, umask 077). `persistTo` is made 0700.
 */
export async function startWrangler({ port, persistTo, executorUrl, secret, env = toolEnv(), vars = {}, quiet = true, watch = false, containers = null, readyMs = 240_000 }) {
  mkdirSync(persistTo, { recursive: true, mode: 0o700 });
  chmodSync(persistTo, 0o700);
  const all = { EXECUTOR_URL: executorUrl, EXECUTOR_SECRET: secret, ...vars };
  const plain = {};
  const secrets = {};
  for (const [k, v] of Object.entries(all)) (SECRET_VARS.has(k) ? secrets : plain)[k] = String(v);
  const proc = spawn(process.execPath, [join(root, "scripts/wrangler-dev.mjs")], {
    cwd: root,
    env: wranglerEnv(env),
    stdio: ["pipe", quiet ? "ignore" : "inherit", "inherit"],
    detached: true,
  });
  proc.detachedGroup = true;
  proc.stdin.end(JSON.stringify({ port, persistTo, vars: plain, secrets, logLevel: quiet ? "error" : "info", watch, containers }));
  // The Worker's own health answer, not an executor's (which tells its isolation) that would
  // hold the port: a stack whose port went to another server must fail, not test that server.
  await waitFor(`http://127.0.0.1:${port}/health`, readyMs, proc, "wrangler dev", (b) => b?.status === "ok" && !("isolation" in b));
  return proc;
}

/**
 * The whole stack on free ports (or the given ones). Returns its URL and handles to restart parts.
 */
export async function startStack(opts = {}) {
  const env = toolEnv();
  // An external executor (`opts.executorUrl`): nothing is built or started for it.
  const external = opts.executorUrl ?? null;
  const bin = external ? null : (opts.executorBin ?? buildExecutor(env));
  const secret = opts.secret ?? randomBytes(24).toString("hex");
  const port = opts.port ?? (await freePort());
  let executorPort = external ? null : (opts.executorPort ?? (await freePort()));
  // Two probes of free ports may name the same one (it was free again by the second).
  while (executorPort === port && !opts.executorPort) executorPort = await freePort();
  const base = opts.stateDir ?? join(stateParent(), `stack-${port}`);
  const workRoot = opts.workRoot ?? join(base, "executor");
  const persistTo = opts.persistTo ?? join(base, "wrangler");
  // Traversable, not listable: sandbox uids pass through it to the work root inside (when there
  // is one), nobody but root lists or reads what else is there.
  mkdirSync(base, { recursive: true, mode: 0o711 });
  chmodSync(base, workRoot.startsWith(base + "/") ? 0o711 : 0o700);
  const executorUrl = external ?? `http://127.0.0.1:${executorPort}`;
  // The executor closes its own port and the API's to its sandbox users (nftables, as root):
  // user code has no business with either, and the API's port also serves Miniflare's local
  // R2 routes, which answer before the Worker.
  const closed = { EDGERUN_CLOSED_PORTS: String(port) };
  const startExec = (extraEnv) => startExecutor({ bin, port: executorPort, workRoot, secret, env, fresh: true, extraEnv: { ...closed, ...extraEnv } });
  const stack = {
    url: `http://127.0.0.1:${port}`,
    port,
    executorUrl,
    executorBin: bin,
    secret,
    base,
    persistTo,
    workRoot,
    executor: external ? null : await startExec(opts.executorEnv),
    wrangler: null,
    async restartExecutor({ fresh = true, signal = "SIGKILL", extraEnv = {} } = {}) {
      if (external) throw new Error("this stack uses an external executor");
      await stopProc(this.executor, signal);
      this.executor = await startExecutor({ bin, port: executorPort, workRoot, secret, env, fresh, extraEnv: { ...closed, ...opts.executorEnv, ...extraEnv } });
    },
    async restartWrangler({ signal = "SIGTERM", vars = opts.vars } = {}) {
      await stopProc(this.wrangler, signal);
      this.wrangler = await startWrangler({ port, persistTo, executorUrl, secret, env, vars, quiet: opts.quiet ?? true, watch: opts.watch });
    },
    async stop() {
      await Promise.all([stopProc(this.wrangler), stopProc(this.executor)]);
      removeDiscarded(workRoot);
      if (!opts.stateDir) rmSync(base, { recursive: true, force: true });
    },
  };
  try {
    stack.wrangler = await startWrangler({ port, persistTo, executorUrl, secret, env, vars: opts.vars, quiet: opts.quiet ?? true, watch: opts.watch });
  } catch (e) {
    await stack.stop();
    throw e;
  }
  return stack;
}

// ---- The container mode ----

const podmanDir = join(root, "scripts/podman");
/** Podman's settings for the container mode (never /etc/containers). */
export const containersConf = join(podmanDir, "containers.conf");

function podmanEnv(env = process.env) {
  return { ...env, CONTAINERS_CONF: containersConf };
}

/** `podman …` with the container mode's settings; its stdout, or an error with its stderr. */
export function podman(args, { url } = {}) {
  const r = spawnSync("podman", [...(url ? ["--url", url] : []), ...args], { env: podmanEnv(), encoding: "utf8" });
  if (r.status !== 0) throw new Error(`podman ${args.join(" ")} failed: ${(r.stderr || r.error?.message || "").trim()}`);
  return r.stdout;
}

function pingSocket(socket) {
  return new Promise((resolve) => {
    const req = httpRequest({ socketPath: socket, path: "/_ping", timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on("error", () => resolve(false));
    req.on("timeout", () => req.destroy());
    req.end();
  });
}

/**
 * A Podman API service of the stack's own on a socket in `dir` (wrangler and workerd speak the
 * Docker API to it through DOCKER_HOST). Its containers share the machine's Podman storage, so
 * the layer cache serves every stack.
 */
export async function startPodman(dir) {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const socket = join(dir, "podman.sock");
  rmSync(socket, { force: true });
  // Its log (each wait workerd cancels is an "error" line there) goes to a file beside the socket.
  const logFd = openSync(join(dir, "service.log"), "a", 0o600);
  const proc = spawn("podman", ["system", "service", "--time=0", `unix://${socket}`], {
    env: podmanEnv(),
    stdio: ["ignore", "ignore", logFd],
    detached: true,
  });
  closeSync(logFd);
  proc.detachedGroup = true;
  const until = Date.now() + 30_000;
  while (!(await pingSocket(socket))) {
    if (proc.exitCode !== null) throw new Error(`podman system service exited with ${proc.exitCode}`);
    if (Date.now() > until) {
      await stopProc(proc);
      throw new Error("podman system service did not answer on its socket within 30 s");
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { proc, socket, url: `unix://${socket}`, stop: () => stopProc(proc) };
}

/** Makes the base and sidecar images (scripts/podman/images.sh); the sidecar image's name. */
export function localImages() {
  const r = spawnSync("bash", [join(podmanDir, "images.sh")], { env: podmanEnv(), encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  if (r.status !== 0) throw new Error("making the local images failed (scripts/podman/images.sh)");
  return r.stdout.trim();
}

/** Builds the session image of container/Dockerfile as `tag` the way wrangler does (through
 * scripts/podman/docker, so wrangler's own build afterwards comes from the layer cache). */
export function buildSessionImage(tag = "localhost/edgerun-session:local", { quiet = false } = {}) {
  const r = spawnSync(join(podmanDir, "docker"), ["build", "-t", tag, "-f", "container/Dockerfile", "."], {
    cwd: root,
    env: podmanEnv(),
    stdio: ["ignore", quiet ? "ignore" : "inherit", "inherit"],
  });
  if (r.status !== 0) throw new Error("building the session image failed");
  return tag;
}

/** The session containers workerd runs on this stack's Podman service, as `podman ps` shows them
 * (the stand-in sidecars left out). */
export function sessionContainers(url) {
  const all = JSON.parse(podman(["ps", "--format", "json"], { url }) || "[]");
  return all.filter((c) => !String(c.Image ?? "").includes("edgerun-sidecar"));
}

/**
 * The whole stack in container mode: a Podman service, the local images, then `wrangler dev`
 * with the container binding on (EXECUTOR_URL empty). A first start builds the session image,
 * which takes minutes; later ones come from Podman's layer cache.
 */
export async function startContainerStack(opts = {}) {
  const env = toolEnv();
  const secret = opts.secret ?? randomBytes(24).toString("hex");
  const port = opts.port ?? (await freePort());
  const base = opts.stateDir ?? join(stateParent(), `stack-${port}`);
  const persistTo = opts.persistTo ?? join(base, "wrangler");
  mkdirSync(base, { recursive: true, mode: 0o700 });
  chmodSync(base, 0o700);
  const podmanService = await startPodman(join(base, "podman"));
  let sidecar;
  try {
    sidecar = localImages();
  } catch (e) {
    await podmanService.stop();
    throw e;
  }
  const dockerPath = join(podmanDir, "docker");
  const hostCa = "/etc/ssl/certs/ca-certificates.crt";
  const wenv = {
    ...podmanEnv(env),
    WRANGLER_DOCKER_BIN: dockerPath,
    DOCKER_HOST: podmanService.url,
    MINIFLARE_CONTAINER_EGRESS_IMAGE: sidecar,
    ...(existsSync(hostCa) ? { EDGERUN_HOST_CA_BUNDLE: hostCa } : {}),
  };
  // The build id names the image wrangler tags for this start (`cloudflare-dev/sessionobject:<id>`),
  // untagged again when the stack stops (its layers stay in the cache).
  const buildId = randomBytes(4).toString("hex");
  const containers = { dockerPath, engine: podmanService.url, buildId };
  const start = (vars) =>
    startWrangler({ port, persistTo, executorUrl: "", secret, env: wenv, vars, quiet: opts.quiet ?? true, watch: opts.watch, containers, readyMs: 30 * 60_000 });
  const stack = {
    url: `http://127.0.0.1:${port}`,
    port,
    secret,
    base,
    persistTo,
    podman: podmanService,
    wrangler: null,
    /** The session containers running now. */
    containers: () => sessionContainers(podmanService.url),
    async restartWrangler({ signal = "SIGTERM", vars = opts.vars } = {}) {
      await stopProc(this.wrangler, signal);
      this.wrangler = await start(vars);
    },
    async stop() {
      await stopProc(this.wrangler);
      // What workerd left behind (its session containers and their sidecars) goes with the stack.
      try {
        const left = JSON.parse(podman(["ps", "-a", "--format", "json"], { url: podmanService.url }) || "[]").map((c) => c.Id);
        if (left.length) podman(["rm", "-f", "--depend", "-t", "2", ...left], { url: podmanService.url });
      } catch (e) {
        console.error(`[stack] removing the stack's containers: ${e.message}`);
      }
      try {
        const tags = podman(["images", "--format", "{{.Repository}}:{{.Tag}}"]).split("\n").filter((t) => t.endsWith(`/sessionobject:${buildId}`));
        if (tags.length) podman(["untag", ...tags.flatMap((t) => [t])]);
      } catch (e) {
        console.error(`[stack] untagging this start's image: ${e.message}`);
      }
      await podmanService.stop();
      if (!opts.stateDir) rmSync(base, { recursive: true, force: true });
    },
  };
  try {
    stack.wrangler = await start(opts.vars);
  } catch (e) {
    await stack.stop();
    throw e;
  }
  return stack;
}
