#!/usr/bin/env node
// Generates src/schema.d.ts from the repository's OpenAPI document (docs/openapi.json) with
// openapi-typescript (pinned in package.json), and adds what that generator does not read: the
// Server-Sent Events each streamed operation lists under `x-events` of its `text/event-stream`
// answer, as `operationEvents`.
//
//   node scripts/generate.mjs            rewrite src/schema.d.ts
//   node scripts/generate.mjs --check    exit 1 when src/schema.d.ts is not what the document generates
//   --schema <file>                      another document (the tests use it to see --check fail)
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import openapiTS, { astToString } from "openapi-typescript";

const here = dirname(fileURLToPath(import.meta.url));
const pkgDir = resolve(here, "..");
const repo = resolve(pkgDir, "../..");
const args = process.argv.slice(2);
const check = args.includes("--check");
const schemaArg = args.indexOf("--schema");
const schemaPath = schemaArg >= 0 ? resolve(args[schemaArg + 1]) : join(repo, "docs/openapi.json");
const out = join(pkgDir, "src/schema.d.ts");
const generatorVersion = JSON.parse(readFileSync(join(pkgDir, "node_modules/openapi-typescript/package.json"), "utf8")).version;

const source = readFileSync(schemaPath, "utf8");
const doc = JSON.parse(source);
// openapi-typescript resolves the document it is given in place: hand it a copy of its own.
const ast = await openapiTS(JSON.parse(source), { silent: true });

// An event's schema: a reference to a component schema, or a oneOf/anyOf of them (a union).
const eventType = (schema) => {
  const alts = schema.oneOf ?? schema.anyOf;
  if (alts) return alts.map(eventType).join(" | ");
  const m = /^#\/components\/schemas\/(.+)$/.exec(schema.$ref ?? "");
  if (!m) throw new Error(`x-events: an event's schema must reference #/components/schemas/…, got ${JSON.stringify(schema)}`);
  return `components["schemas"][${JSON.stringify(m[1])}]`;
};
const events = [];
for (const item of Object.values(doc.paths)) {
  for (const op of Object.values(item)) {
    if (!op || typeof op !== "object" || !op.responses) continue;
    const xEvents = op.responses["200"]?.content?.["text/event-stream"]?.["x-events"];
    if (!xEvents) continue;
    const lines = Object.entries(xEvents)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([name, schema]) => `        ${JSON.stringify(name)}: ${eventType(schema)};`);
    events.push([op.operationId, `    ${op.operationId}: {\n${lines.join("\n")}\n    };`]);
  }
}
events.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

const text = `/**
 * Generated from docs/openapi.json by clients/typescript/scripts/generate.mjs
 * (openapi-typescript ${generatorVersion}); do not edit. \`node clients/typescript/scripts/generate.mjs\`
 * rewrites it, and tests/clients.test.mjs fails when it is stale.
 */

${astToString(ast)}
/**
 * The Server-Sent Events of each streamed operation (its \`text/event-stream\` answer's
 * \`x-events\`), by operation id and event name (\`message\` for unnamed events): the schema of
 * each event's \`data\`.
 */
export interface operationEvents {
${events.map(([, t]) => t).join("\n")}
}
`;

if (check) {
  let have = "";
  try {
    have = readFileSync(out, "utf8");
  } catch {}
  if (have !== text) {
    console.error(`${relative(repo, out)} is stale: it is not what ${relative(repo, schemaPath)} generates. Run \`node clients/typescript/scripts/generate.mjs\` (its packages come with scripts/bootstrap.sh) and commit it.`);
    process.exit(1);
  }
  console.log(`${relative(repo, out)} is up to date`);
} else {
  writeFileSync(out, text);
  console.log(`wrote ${relative(repo, out)}`);
}
