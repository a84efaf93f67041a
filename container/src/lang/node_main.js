// The Node and TypeScript plugins' bootstrap, run with `node -e` (so the standard input stays
// the program's): it reads the run's code from the runtime's file (argv[1]) and runs it as if it
// were `<name>` in the workspace (the current directory), without ever putting it there.
//   - CommonJS: a module named `<name>` (what stack traces show), resolving `require` from the
//     workspace, never cached, so `require("./main.js")` loads the user's own file.
//   - ES modules (import/export, import.meta, top-level await: Node's own detection messages):
//     a virtual module `file:///<name>` served by a load hook (named `<name>` in stack traces by
//     a `//# sourceURL` comment); its relative imports resolve against the workspace.
//   - TypeScript (argv[3] === "ts"): types stripped by Node (positions kept), and a resolve hook
//     that finds `.ts` files as tsx does: extensionless, `.js` for `.ts`, directory `index.ts`.
// Everything lives in this function so that nothing leaks into the program's global scope.
(() => {
  "use strict";
  const mod = require("node:module");
  const { readFileSync } = require("node:fs");
  const path = require("node:path");
  const { pathToFileURL } = require("node:url");
  const [, file, name, flavour] = process.argv;
  const ts = flavour === "ts";
  let src = readFileSync(file, "utf8");
  process.argv.splice(1, process.argv.length - 1, name);
  const cwd = process.cwd();
  const wsURL = pathToFileURL(cwd + path.sep).href;
  const virtual = `file:///${name}`;
  // `sourceUrl` names the code in the errors of stripping (`main.ts:2`) and, as a
  // `//# sourceURL` comment after the last line, in stack traces of an ES module too.
  if (ts) src = mod.stripTypeScriptTypes(src, { sourceUrl: name });

  const relative = (s) => s.startsWith("./") || s.startsWith("../") || s.startsWith("/") || s.startsWith("file:");
  const notFound = (e) => e && ["ERR_MODULE_NOT_FOUND", "MODULE_NOT_FOUND", "ERR_UNSUPPORTED_DIR_IMPORT"].includes(e.code);
  // tsx's lookups, in order: the `.ts` twin of a `.js`-family suffix, then added extensions, then
  // a directory's index.
  const candidates = (s) => {
    const twin = { ".js": [".ts"], ".mjs": [".mts"], ".cjs": [".cts"], ".jsx": [".ts"] }[path.extname(s)];
    if (twin) return twin.map((e) => s.slice(0, -path.extname(s).length) + e);
    const exts = [".ts", ".mts", ".cts", ".js", ".mjs", ".cjs", ".json"];
    return [...exts.map((e) => s + e), ...exts.slice(0, 4).map((e) => `${s.replace(/\/$/, "")}/index${e}`)];
  };
  const esmMessages = [
    "Cannot use import statement outside a module",
    "Unexpected token 'export'",
    "Cannot use 'import.meta' outside a module",
    "await is only valid in async functions and the top level bodies of modules",
  ];
  let esm = false;
  try {
    new (require("node:vm").Script)(mod.wrap(src), { filename: name });
  } catch (e) {
    esm = e instanceof SyntaxError && esmMessages.some((m) => e.message.includes(m));
    if (!esm && /^\s*(import|export)\b/m.test(src)) esm = true;
  }

  if (ts || esm) {
    mod.registerHooks({
      resolve(specifier, context, next) {
        if (specifier === virtual) return { url: virtual, format: "module", shortCircuit: true };
        if (context.parentURL === virtual) context = { ...context, parentURL: wsURL + name };
        try {
          return next(specifier, context);
        } catch (e) {
          if (!ts || !notFound(e) || !relative(specifier)) throw e;
          for (const c of candidates(specifier)) {
            try {
              return next(c, context);
            } catch (again) {
              if (!notFound(again)) throw again;
            }
          }
          throw e;
        }
      },
      load(url, context, next) {
        if (url === virtual) return { format: "module", source: src, shortCircuit: true };
        return next(url, context);
      },
    });
  }
  if (esm) {
    if (!ts) src += `\n//# sourceURL=${name}`;
    import(virtual);
    return;
  }
  const m = new mod.Module(".", null);
  m.filename = path.join(cwd, name);
  m.paths = mod.Module._nodeModulePaths(cwd);
  process.mainModule = m;
  m._compile(src, name);
})();
