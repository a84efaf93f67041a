// The local stack: the native executor on a free loopback port, then `wrangler dev` (local
// Durable Objects and R2, containers disabled) pointed at it. Used by `npm run dev`, the
// end-to-end tests and the benchmarks, so all three run the same thing.
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
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

async function waitFor(url, ms, proc, what) {
  const until = Date.now() + ms;
  let last = "";
  while (Date.now() < until) {
    if (proc.exitCode !== null) throw new Error(`${what} exited with ${proc.exitCode} before it was ready`);
    try {
      const r = await fetch(url);
      if (r.ok) return;
      last = `status ${r.status}`;
    } catch (e) {
      last = e.cause?.code ?? e.message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} not ready at ${url} after ${ms} ms (${last})`);
}

/** Builds the executor binary once (debug unless EDGERUN_PROFILE=release). */
export function buildExecutor(env = toolEnv()) {
  const release = env.EDGERUN_PROFILE === "release";
  const args = ["build", "-q", "-p", "edgerun-executor", ...(release ? ["--release"] : [])];
  const r = spawnSync("cargo", args, { cwd: root, env, stdio: "inherit" });
  if (r.status !== 0) throw new Error("building the executor failed");
  return join(root, "target", release ? "release" : "debug", "edgerun-executor");
}

/**
 * Starts the executor. `workRoot` is wiped when `fresh` (a restart "with an empty work root").
 */
export async function startExecutor({ bin, port, workRoot, secret, env = toolEnv(), fresh = false, extraEnv = {} }) {
  if (fresh) rmSync(workRoot, { recursive: true, force: true });
  mkdirSync(workRoot, { recursive: true });
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

/** Starts `wrangler dev` on `port` against the executor at `executorUrl`. */
export async function startWrangler({ port, persistTo, executorUrl, secret, env = toolEnv(), vars = {}, quiet = true }) {
  const inspector = await freePort();
  const args = [
    "dev", "--port", String(port), "--ip", "127.0.0.1", "--inspector-port", String(inspector),
    "--persist-to", persistTo, "--show-interactive-dev-session=false", "--log-level", quiet ? "error" : "info",
    "--var", `EXECUTOR_URL:${executorUrl}`, "--var", `EXECUTOR_SECRET:${secret}`,
  ];
  for (const [k, v] of Object.entries(vars)) args.push("--var", `${k}:${v}`);
  const proc = spawn(join(root, "node_modules/.bin/wrangler"), args, {
    cwd: root,
    env: { ...env, EDGERUN_FAST_BUILD: "1", CI: "true", WRANGLER_SEND_METRICS: "false" },
    stdio: ["ignore", quiet ? "ignore" : "inherit", "inherit"],
    detached: true,
  });
  proc.detachedGroup = true;
  await waitFor(`http://127.0.0.1:${port}/health`, 240_000, proc, "wrangler dev");
  return proc;
}

/**
 * The whole stack on free ports (or the given ones). Returns its URL and handles to restart parts.
 */
export async function startStack(opts = {}) {
  const env = toolEnv();
  const bin = opts.executorBin ?? buildExecutor(env);
  const secret = opts.secret ?? randomBytes(24).toString("hex");
  const port = opts.port ?? (await freePort());
  const executorPort = opts.executorPort ?? (await freePort());
  const base = opts.stateDir ?? join(tmpdir(), `edgerun-stack-${port}`);
  const workRoot = opts.workRoot ?? join(base, "executor");
  const persistTo = opts.persistTo ?? join(base, "wrangler");
  const executorUrl = `http://127.0.0.1:${executorPort}`;
  const stack = {
    url: `http://127.0.0.1:${port}`,
    executorUrl,
    secret,
    persistTo,
    workRoot,
    executor: await startExecutor({ bin, port: executorPort, workRoot, secret, env, fresh: true, extraEnv: opts.executorEnv }),
    wrangler: null,
    async restartExecutor({ fresh = true, signal = "SIGKILL", extraEnv = {} } = {}) {
      await stopProc(this.executor, signal);
      this.executor = await startExecutor({ bin, port: executorPort, workRoot, secret, env, fresh, extraEnv: { ...opts.executorEnv, ...extraEnv } });
    },
    async restartWrangler({ signal = "SIGTERM", vars = opts.vars } = {}) {
      await stopProc(this.wrangler, signal);
      this.wrangler = await startWrangler({ port, persistTo, executorUrl, secret, env, vars, quiet: opts.quiet ?? true });
    },
    async stop() {
      await Promise.all([stopProc(this.wrangler), stopProc(this.executor)]);
      if (!opts.stateDir) rmSync(base, { recursive: true, force: true });
    },
  };
  try {
    stack.wrangler = await startWrangler({ port, persistTo, executorUrl, secret, env, vars: opts.vars, quiet: opts.quiet ?? true });
  } catch (e) {
    await stack.stop();
    throw e;
  }
  return stack;
}
