// A context used as a notebook with the real libraries (#14): pandas and matplotlib installed from
// PyPI by the session's setup, a DataFrame's HTML table and a figure's PNG in the run's `outputs`,
// and both surviving the sandbox (the frame from the checkpoint, the modules re-imported by name).
// Its own file: the install (about 20 s) runs once, not once per containment mode.
import assert from "node:assert/strict";
import { test } from "node:test";
import { call, uid, useStack } from "./helpers.mjs";

const h = useStack();
const run = (id, body) => call(h.stack, "POST", `/api/sessions/${id}/run`, body);

async function settledSetup(id) {
  for (const until = Date.now() + 240_000; Date.now() < until; ) {
    const s = (await call(h.stack, "GET", `/api/sessions/${id}`)).json;
    if (s.setup_status !== "pending" && s.setup_status !== "running") return s;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error("the setup did not end within 4 minutes");
}

test("pandas and matplotlib in a context: an HTML table and a PNG figure, kept across the sandbox", async () => {
  const id = uid("ctx-notebook");
  assert.equal((await call(h.stack, "POST", "/api/sessions", { id, language: "python", setup: { pip: ["pandas==2.3.3", "matplotlib==3.10.8"] } })).status, 201);
  const setup = await settledSetup(id);
  assert.equal(setup.setup_status, "completed", setup.setup_log);
  const ctx = (await call(h.stack, "POST", `/api/sessions/${id}/contexts`, { language: "python" })).json.id;

  const table = await run(id, { context: ctx, code: "import pandas as pd\ndf = pd.DataFrame({'city': ['Oslo', 'Lima'], 'temp': [3.5, 19.0]})\ndf" });
  assert.equal(table.json.exit_code, 0, table.json.stderr);
  assert.match(table.json.result, /city\s+temp/);
  const html = table.json.outputs.find((o) => o.mime === "text/html");
  assert.ok(html, JSON.stringify(table.json.outputs));
  assert.match(html.data, /<table[^>]*class="dataframe"/);
  assert.match(html.data, /<td>Oslo<\/td>/);

  const fig = await run(id, { context: ctx, code: "import matplotlib.pyplot as plt\nplt.plot(df['temp'])\nplt.title('t')\nprint('drawn')" });
  assert.equal(fig.json.exit_code, 0, fig.json.stderr);
  assert.equal(fig.json.stdout, "drawn\n");
  const pngs = fig.json.outputs.filter((o) => o.mime === "image/png");
  assert.equal(pngs.length, 1, "the open figure, drawn once");
  const bytes = Buffer.from(pngs[0].data, "base64");
  assert.deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], "a real PNG");
  assert.ok(bytes.length > 2000, `a drawn figure, not an empty one (${bytes.length} bytes)`);
  const after = await run(id, { context: ctx, code: "len(df)" });
  assert.equal(after.json.result, "2");
  assert.equal(after.json.outputs, undefined, "a closed figure is not drawn again");

  // The sandbox is recycled: the frame comes back from the checkpoint, the modules by name.
  for (let i = 0; i < 100 && (await call(h.stack, "GET", `/api/sessions/${id}/contexts`)).json.contexts.some((c) => c.checkpoint_pending); i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  await h.stack.restartExecutor({ fresh: true });
  const back = await run(id, { context: ctx, code: "df2 = df.assign(f=df['temp'] * 9 / 5 + 32)\nplt.bar(df2['city'], df2['f'])\nlist(df2['f'])" });
  assert.equal(back.json.restored, true, back.json.stderr);
  assert.equal(back.json.lost, undefined, "pandas frames and modules are carried: nothing lost");
  assert.equal(back.json.result, "[38.3, 66.2]");
  assert.equal(back.json.outputs.filter((o) => o.mime === "image/png").length, 1);
});
