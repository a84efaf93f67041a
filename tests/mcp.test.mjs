// The MCP endpoints (#15), driven by the official TypeScript SDK's client (`@modelcontextprotocol/sdk`,
// Streamable HTTP) and, for ERA's `/mcp/v1`, by plain JSON-RPC posts as ERA's own test-mcp.sh sends them.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { call, useStack } from "./helpers.mjs";

const h = useStack();

async function connect() {
  const client = new Client({ name: "edgerun-test", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${h.stack.url}/mcp`)));
  return client;
}
const textOf = (r) => r.content.filter((c) => c.type === "text").map((c) => c.text).join("\n");

test("the official TypeScript client lists the tools and uses sessions, runs and files", async () => {
  const client = await connect();
  assert.equal(client.getServerVersion().name, "edgerun");
  const { tools } = await client.listTools();
  const names = tools.map((t) => t.name);
  for (const n of ["create_session", "run_code", "execute", "list_files", "read_file", "write_file", "delete_file", "list_sessions", "get_session", "delete_session", "install_packages", "cancel", "create_context", "delete_context"]) {
    assert.ok(names.includes(n), `${n} in ${names}`);
  }
  for (const t of tools) assert.equal(t.inputSchema.type, "object", t.name);

  const created = await client.callTool({ name: "create_session", arguments: { language: "python" } });
  assert.equal(created.isError, false, textOf(created));
  const sid = created.structuredContent.id;
  assert.match(sid, /^sess_[0-9a-f]{32}$/);

  const ran = await client.callTool({ name: "run_code", arguments: { session_id: sid, code: "open('n.txt','w').write('41')\nprint('written')" } });
  assert.equal(ran.isError, false, textOf(ran));
  assert.equal(ran.content[0].text, "written\n");
  assert.match(textOf(ran), /exit_code: 0, killed_by: null/);
  const again = await client.callTool({ name: "run_code", arguments: { session_id: sid, code: "print(int(open('n.txt').read()) + 1)" } });
  assert.equal(again.content[0].text, "42\n", "the workspace is kept between calls");
  // Variables too: run_code runs in the session's default context.
  await client.callTool({ name: "run_code", arguments: { session_id: sid, code: "x = 41\ndef inc(v):\n    return v + 1" } });
  const kept = await client.callTool({ name: "run_code", arguments: { session_id: sid, code: "print(inc(x))" } });
  assert.equal(kept.content[0].text, "42\n", "a variable and a function survive between calls");
  const fresh = await client.callTool({ name: "run_code", arguments: { session_id: sid, code: "print('x' in globals())", fresh: true } });
  assert.equal(fresh.content[0].text, "False\n", "fresh: a new process");
  const ctx = await client.callTool({ name: "create_context", arguments: { session_id: sid, language: "python" } });
  assert.equal(ctx.isError, false, textOf(ctx));
  const cid = ctx.structuredContent.id;
  await client.callTool({ name: "run_code", arguments: { session_id: sid, context: cid, code: "y = 'own'" } });
  const own = await client.callTool({ name: "run_code", arguments: { session_id: sid, context: cid, code: "print(y, 'x' in globals())" } });
  assert.equal(own.content[0].text, "own False\n", "a context of its own");
  assert.equal((await client.callTool({ name: "delete_context", arguments: { session_id: sid, context: cid } })).isError, false);

  const w = await client.callTool({ name: "write_file", arguments: { session_id: sid, path: "dir/hello.txt", content: "hi there" } });
  assert.equal(w.isError, false, textOf(w));
  const r = await client.callTool({ name: "read_file", arguments: { session_id: sid, path: "dir/hello.txt" } });
  assert.equal(r.content[0].text, "hi there");
  const bin = await client.callTool({ name: "write_file", arguments: { session_id: sid, path: "b.bin", content: Buffer.from([0, 255, 1]).toString("base64"), encoding: "base64" } });
  assert.equal(bin.isError, false, textOf(bin));
  const rb = await client.callTool({ name: "read_file", arguments: { session_id: sid, path: "b.bin" } });
  assert.equal(rb.content[0].type, "resource");
  assert.deepEqual([...Buffer.from(rb.content[0].resource.blob, "base64")], [0, 255, 1]);
  const files = await client.callTool({ name: "list_files", arguments: { session_id: sid } });
  assert.deepEqual(files.structuredContent.files.map((f) => f.path).sort(), ["b.bin", "dir/hello.txt", "n.txt"]);

  const failed = await client.callTool({ name: "run_code", arguments: { session_id: sid, code: "raise SystemExit(3)" } });
  assert.equal(failed.isError, true, "a failed run is an error result");
  assert.match(textOf(failed), /exit_code: 3/);
  const bad = await client.callTool({ name: "run_code", arguments: { session_id: sid } });
  assert.equal(bad.isError, true, "a missing argument is an error result");
  assert.match(textOf(bad), /`code` is required/);
  const missing = await client.callTool({ name: "get_session", arguments: { session_id: "no-such-session" } });
  assert.equal(missing.isError, true);
  assert.match(textOf(missing), /not_found/);
  await assert.rejects(client.callTool({ name: "format_disk", arguments: {} }), /unknown tool/i, "an unknown tool is a JSON-RPC error");

  const ex = await client.callTool({ name: "execute", arguments: { language: "bash", code: "echo once" } });
  assert.equal(ex.content[0].text, "once\n");
  const listed = await client.callTool({ name: "list_sessions", arguments: {} });
  assert.ok(listed.structuredContent.sessions.some((s) => s.id === sid));
  const del = await client.callTool({ name: "delete_session", arguments: { session_id: sid } });
  assert.equal(del.isError, false, textOf(del));
  assert.equal((await call(h.stack, "GET", `/api/sessions/${sid}`)).status, 404);
  await client.close();
});

test("a run with a progress token sends its output as progress notifications while it runs", async () => {
  const client = await connect();
  const sid = (await client.callTool({ name: "create_session", arguments: { language: "python" } })).structuredContent.id;
  const seen = [];
  const result = await client.callTool(
    { name: "run_code", arguments: { session_id: sid, code: "import time\nprint('a', flush=True)\ntime.sleep(1.5)\nprint('b', flush=True)" } },
    undefined,
    { onprogress: (p) => seen.push({ ...p, at: Date.now() }) },
  );
  const done = Date.now();
  assert.equal(result.content[0].text, "a\nb\n");
  const first = seen.find((p) => p.message.includes("a"));
  assert.ok(first, JSON.stringify(seen));
  assert.ok(done - first.at >= 1000, `the first chunk came ${done - first.at} ms before the result`);
  assert.ok(seen.every((p, i) => p.progress === i + 1), "progress counts up");
  await client.close();
});

test("the transport's edges: notifications 202, GET 405, malformed messages are JSON-RPC errors", async () => {
  const post = (body, path = "/mcp") => fetch(`${h.stack.url}${path}`, { method: "POST", headers: { "content-type": "application/json", accept: "application/json, text/event-stream" }, body });
  const n = await post(JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }));
  assert.equal(n.status, 202);
  assert.equal((await fetch(`${h.stack.url}/mcp`)).status, 405);
  for (const [body, code] of [["{nope", -32700], ["[]", -32600], [JSON.stringify({ jsonrpc: "2.0", id: 1, method: "nope/nope" }), -32601]]) {
    const r = await post(body);
    assert.equal(r.status, 200);
    assert.equal((await r.json()).error.code, code, body);
  }
  const ping = await (await post(JSON.stringify({ jsonrpc: "2.0", id: "p", method: "ping" }))).json();
  assert.deepEqual(ping, { jsonrpc: "2.0", id: "p", result: {} });
});

test("ERA's MCP at /mcp/v1 answers as ERA's test-mcp.sh expects", async () => {
  let n = 0;
  const rpc = async (method, params = {}) => {
    const r = await fetch(`${h.stack.url}/mcp/v1`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: ++n, method, params }) });
    assert.equal(r.status, 200);
    return (await r.json()).result;
  };
  const init = await rpc("initialize", { protocolVersion: "0.1.0", clientInfo: { name: "test-client", version: "1.0.0" } });
  assert.equal(init.serverInfo.name, "era-agent-mcp");
  const tools = (await rpc("tools/list")).tools;
  assert.equal(tools.length, 9);
  const ex = await rpc("tools/call", { name: "era_execute_code", arguments: { code: 'print("Hello from CF MCP!")', language: "python" } });
  assert.match(ex.content[0].text, /Hello from CF MCP/);
  assert.ok(Array.isArray((await rpc("resources/list")).resources));
  const created = await rpc("tools/call", { name: "era_create_session", arguments: { language: "python" } });
  const sid = created.content[0].text.match(/Session ID: ([a-zA-Z0-9-]*)/)[1];
  assert.equal((await call(h.stack, "GET", `/api/sessions/${sid}`)).status, 200, "the id ERA's grep reads back is the whole id");
  const run = await rpc("tools/call", { name: "era_run_in_session", arguments: { session_id: sid, code: "x = 42\nprint(f'Value: {x}')" } });
  assert.match(run.content[0].text, /Value: 42/);
  const listed = await rpc("tools/call", { name: "era_list_sessions", arguments: {} });
  assert.match(listed.content[0].text, new RegExp(sid));
  const up = await rpc("tools/call", { name: "era_upload_file", arguments: { session_id: sid, path: "a.txt", content: "era" } });
  assert.equal(up.isError, false);
  assert.equal((await rpc("tools/call", { name: "era_read_file", arguments: { session_id: sid, path: "a.txt" } })).content[0].text, "era");
  assert.equal((await rpc("tools/call", { name: "era_delete_session", arguments: { session_id: sid } })).isError, false);
});

test("the official Python SDK (mcp on PyPI) lists the tools, keeps the workspace, sees isError and progress", async () => {
  const { spawnSync } = await import("node:child_process");
  const py = process.env.EDGERUN_MCP_PYTHON;
  assert.ok(py, "scripts/bootstrap.sh installs the MCP Python SDK and names it in .state/env");
  const r = spawnSync(py, [new URL("./mcp/python_client.py", import.meta.url).pathname, `${h.stack.url}/mcp`], { encoding: "utf8", timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr.slice(-3000));
  const seen = JSON.parse(r.stdout.trim().split("\n").at(-1));
  assert.equal(seen.server, "edgerun");
  assert.ok(seen.tools.includes("run_code") && seen.tools.includes("read_file"), seen.tools.join());
  assert.deepEqual(seen.runs, ["set\n", "42 set\n"], "a variable and the workspace both survive between calls");
  assert.equal(seen.read, "from python");
  assert.equal(seen.failed.isError, true);
  assert.match(seen.failed.text, /exit_code: 5/);
  assert.equal(seen.streamed, "a\nb\n");
  const a = seen.progress.find((p) => p.message.includes("a"));
  assert.ok(a && a.before_end_ms >= 1000, `the first output arrived before the sleep ended: ${JSON.stringify(seen.progress)}`);
  assert.deepEqual(seen.progress.map((p) => p.progress), seen.progress.map((_, i) => i + 1));
  assert.equal((await call(h.stack, "GET", `/api/sessions/${seen.session}`)).status, 200);
});
