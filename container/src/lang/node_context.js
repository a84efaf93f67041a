// The driver of a live Node context, run with `node -e` (on nobody's module path). The
// executor speaks to it in frames (a u32 big-endian length, then that much JSON): requests on
// its standard input, replies on descriptor 3. The user's output goes to the real stdout and
// stderr (synchronous pipes on Linux); after each run the driver writes the run's end marker
// (a nonce from the request) on both, so that the executor knows it has all of the run's output.
//
// A run is compiled as a script and run in the main context, as Node's REPL does: top-level
// `var`, `let`, `const`, `function` and `class` declarations stay for the next run, and the
// completion value is answered as `result` (util.inspect); a completion value that is a promise
// is awaited first. Code with top-level `await` is rewritten as the REPL rewrites it (Node's own
// `processTopLevelAwait`, reached with `--expose-internals`): its declarations are hoisted to the
// context's scope and the rest runs in an async function whose value is the completion value. `process.exit(n)` ends the run with exit code n and keeps the interpreter.
// SIGINT breaks a running script (and a promise being awaited); between runs it is ignored.
//
// TypeScript contexts (the driver's argument `typescript`) strip each run's types first, with
// Node's own `module.stripTypeScriptTypes` (erasable syntax only, as the TypeScript plugin's
// `--experimental-strip-types`: positions are kept, so errors point at the user's lines).
//
// Checkpoints: after a run the driver saves the context's names (its global lexical scope, read
// through the inspector protocol, and the global properties runs added) into the workspace:
// values `v8.serialize` carries, functions as their source (re-created on restore by evaluating
// that source, which runs none of the user's code), the names of the rest as lost.
(() => {
  "use strict";
  const fs = require("node:fs");
  const vm = require("node:vm");
  const util = require("node:util");
  const path = require("node:path");
  const { createRequire, stripTypeScriptTypes } = require("node:module");
  const typescript = process.argv[1] === "typescript";
  let topLevelAwait = null;
  try {
    topLevelAwait = require("internal/repl/await").processTopLevelAwait;
  } catch {}
  const cwd = process.cwd();
  const v8 = require("node:v8");
  const inspector = require("node:inspector");
  const session = new inspector.Session();
  session.connect();
  const lexicalNames = () => {
    let names = [];
    session.post("Runtime.globalLexicalScopeNames", {}, (e, r) => {
      if (!e) names = r.names;
    });
    return names;
  };
  globalThis.require = createRequire(path.join(cwd, "main.js"));
  globalThis.__filename = "main.js";
  globalThis.__dirname = ".";
  process.argv.splice(1, process.argv.length - 1, "main.js");
  const baseline = new Set([...Object.getOwnPropertyNames(globalThis), "_"]);

  const checkpoint = (rel, limit) => {
    const names = new Set([...lexicalNames(), ...Object.getOwnPropertyNames(globalThis).filter((n) => !baseline.has(n))]);
    const values = {};
    const functions = {};
    const lost = [];
    const sizes = [];
    for (const name of names) {
      let v;
      try {
        v = vm.runInThisContext(name);
      } catch {
        continue; // declared, not yet initialised
      }
      if (typeof v === "function") {
        const src = Function.prototype.toString.call(v);
        if (/^class\b/.test(src) || /\[native code\]\s*\}$/.test(src)) {
          lost.push(name);
          continue;
        }
        try {
          new vm.Script(`(${src})`);
          functions[name] = src;
          sizes.push([src.length, name]);
        } catch {
          lost.push(name);
        }
        continue;
      }
      try {
        values[name] = v8.serialize(v);
        sizes.push([values[name].length, name]);
      } catch {
        lost.push(name);
      }
    }
    const total = sizes.reduce((a, [n]) => a + n, 0);
    if (total > limit) {
      const largest = sizes.sort((a, b) => b[0] - a[0]).slice(0, 5).map(([n, k]) => [k, n]);
      return { written: false, reason: `the state is ${total} bytes serialized, over the checkpoint limit of ${limit}`, largest, lost };
    }
    const data = v8.serialize({ format: 1, values, functions, lost });
    const full = path.join(cwd, rel);
    try {
      if (fs.readFileSync(full).equals(data)) return { written: true, bytes: data.length, lost, unchanged: true };
    } catch {}
    fs.mkdirSync(path.dirname(full), { recursive: true });
    fs.writeFileSync(full + ".tmp", data);
    fs.renameSync(full + ".tmp", full);
    return { written: true, bytes: data.length, lost };
  };

  const restore = (rel) => {
    const full = path.join(cwd, rel);
    if (!fs.existsSync(full)) return { restored: null };
    let state;
    try {
      state = v8.deserialize(fs.readFileSync(full));
      if (!state || state.format !== 1) throw new Error("not a checkpoint of this runtime");
    } catch (e) {
      return { restored: false, reason: `the checkpoint could not be read (${e && e.message}); the context starts empty` };
    }
    const lost = [...(state.lost || [])];
    for (const [name, src] of Object.entries(state.functions || {})) {
      try {
        globalThis[name] = new vm.Script(`(${src})`).runInThisContext();
      } catch {
        lost.push(name);
      }
    }
    for (const [name, bytes] of Object.entries(state.values || {})) {
      try {
        globalThis[name] = v8.deserialize(bytes);
      } catch {
        lost.push(name);
      }
    }
    return { restored: true, lost: [...new Set(lost)].sort() };
  };

  class Exit {
    constructor(code) {
      this.code = code;
    }
  }
  const realExit = process.exit.bind(process);
  let running = false;
  let interrupt = null;
  process.exit = (code) => {
    if (!running) realExit(code);
    throw new Exit(code === undefined ? (process.exitCode ?? 0) : Number(code) & 0xff);
  };
  process.on("SIGINT", () => {
    if (interrupt) interrupt();
  });
  // Errors thrown later by callbacks of earlier runs are reported, never fatal.
  process.on("uncaughtException", (e) => {
    if (e instanceof Exit) return;
    process.stderr.write(`${e && e.stack ? e.stack : String(e)}\n`);
  });
  process.on("unhandledRejection", (e) => {
    process.stderr.write(`Unhandled rejection: ${e && e.stack ? e.stack : String(e)}\n`);
  });

  const reply = (obj) => {
    const data = Buffer.from(JSON.stringify(obj));
    const head = Buffer.alloc(4);
    head.writeUInt32BE(data.length);
    fs.writeSync(3, Buffer.concat([head, data]));
  };
  const report = (e) => {
    const text = e && e.stack ? e.stack : `Uncaught ${util.inspect(e)}`;
    // The driver's own frames say nothing about the user's code.
    const lines = String(text).split("\n").filter((l) => !/\[eval\]|node:vm|node:internal/.test(l));
    process.stderr.write(lines.join("\n") + "\n");
  };
  const rich = (v) => {
    const outs = [];
    if (v !== null && (typeof v === "object" || typeof v === "function")) {
      for (const [m, mime] of [["_repr_html_", "text/html"], ["_repr_svg_", "image/svg+xml"]]) {
        try {
          if (typeof v[m] === "function") {
            const d = v[m]();
            if (d != null) outs.push({ mime, data: String(d) });
          }
        } catch {}
      }
    }
    return outs;
  };

  async function run(req) {
    const name = `<cell ${req.n}>`;
    const env = req.env || {};
    const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
    Object.assign(process.env, env);
    const out = { exit_code: 0, outputs: [] };
    // Each run starts in the workspace, entered by its path (an inject may have put a new
    // directory there since the last run).
    process.chdir(cwd);
    try {
      let script;
      let awaited = null;
      try {
        const source = typescript ? stripTypeScriptTypes(req.code, { mode: "strip" }) : req.code;
        if (topLevelAwait && source.includes("await")) {
          try {
            awaited = topLevelAwait(source);
          } catch {} // not JavaScript it can parse: compiled as is, for Node's own error
        }
        script = new vm.Script(awaited ?? source, { filename: name });
      } catch (e) {
        report(e);
        out.exit_code = 1;
        return out;
      }
      running = true;
      let value = script.runInThisContext({ breakOnSigint: true, displayErrors: false });
      const settle = (p) =>
        new Promise((resolve, reject) => {
          interrupt = () => reject(new Error("Script execution was interrupted by `SIGINT`"));
          p.then(resolve, reject);
        });
      if (awaited !== null) value = (await settle(value))?.value;
      if (value && typeof value.then === "function") value = await settle(value);
      if (value !== undefined) {
        globalThis._ = value;
        out.result = typeof value === "string" ? util.inspect(value) : util.inspect(value, { depth: 4 });
        out.outputs = rich(value);
      }
    } catch (e) {
      if (e instanceof Exit) {
        out.exit_code = e.code;
      } else if (e && /interrupted by `SIGINT`/.test(e.message || "")) {
        process.stderr.write("KeyboardInterrupt: the run was interrupted\n");
        out.exit_code = 130;
        out.interrupted = true;
      } else {
        report(e);
        out.exit_code = 1;
      }
    } finally {
      running = false;
      interrupt = null;
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      process.exitCode = undefined;
    }
    return out;
  }

  let buf = Buffer.alloc(0);
  let busy = Promise.resolve();
  const take = () => {
    while (buf.length >= 4) {
      const n = buf.readUInt32BE(0);
      if (buf.length < 4 + n) return;
      const req = JSON.parse(buf.subarray(4, 4 + n).toString());
      buf = buf.subarray(4 + n);
      busy = busy.then(async () => {
        if (req.op === "restore") {
          try {
            return reply(restore(req.checkpoint));
          } catch (e) {
            return reply({ restored: false, reason: `restoring failed: ${e && e.message}` });
          }
        }
        if (req.op !== "run") return reply({ error: `unknown operation ${req.op}` });
        const out = await run(req);
        if (req.checkpoint) {
          try {
            out.checkpoint = checkpoint(req.checkpoint, req.checkpoint_max ?? 64 << 20);
          } catch (e) {
            out.checkpoint = { written: false, reason: String(e && e.message) };
          }
        }
        const end = `\x1e${req.nonce}\x1e`;
        fs.writeSync(1, end);
        fs.writeSync(2, end);
        reply(out);
      });
    }
  };
  process.stdin.on("data", (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    take();
  });
  process.stdin.on("end", () => realExit(0));
  reply({ ready: true, pid: process.pid });
})();
