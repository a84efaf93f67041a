// Compiled (never run) by `tsc -p .` in tests/clients.test.mjs: the declarations type-check, read
// naturally, and refuse what the API refuses. Each @ts-expect-error must be an error, else tsc fails.
import { Edgerun, EdgerunError, type RunEvent, type RunResponse, type SessionInfo } from "../src/index.js";

export async function usage(): Promise<void> {
  const client = new Edgerun({ baseUrl: "http://localhost:8787", token: "t" });
  const s = await client.sessions.create({ language: "python", metadata: { owner: "ada" } });
  const r: RunResponse = await s.run("print(1)", { timeout: 10, idempotencyKey: "k1" });
  const code: number = r.exit_code;
  const killed: "timeout" | "memory" | "processes" | "output" | "disk" | "cancelled" | null = r.killed_by;
  void code, killed;

  for await (const ev of s.stream("print(2)")) {
    switch (ev.event) {
      case "run":
        ev.data.run_id satisfies string;
        break;
      case "stdout":
      case "stderr":
        ev.data.data satisfies string;
        break;
      case "exit":
        ev.data.stdout satisfies string;
        // @ts-expect-error the exit event is the run answer, which has no `data` of text
        ev.data.data satisfies string;
        break;
      case "error":
        ev.data.code satisfies string;
        break;
    }
  }
  // The events every streamed run has (more may be added: the switch above need not be exhaustive).
  (["run", "stdout", "stderr", "exit", "error"] as const) satisfies readonly RunEvent["event"][];
  const one: RunEvent = { event: "stdout", data: { data: "x" } };
  // @ts-expect-error an event's data has the schema of its name
  const wrong: RunEvent = { event: "stdout", data: { run_id: "run_x" } };
  void one, wrong;

  const ex = await client.execute({ language: "js", code: "console.log(1)" });
  ex.stdout satisfies string;
  for await (const ev of client.executeStream({ language: "bash", code: "echo 1" })) if (ev.event === "exit") ev.data.exit_code satisfies number;

  const info: SessionInfo = await s.patch({ default_timeout: 10, allow_internet: false });
  info.default_timeout satisfies number | null;
  await s.setup({ pip: ["six"], commands: ["true"] }, { wait: true });
  for await (const ev of s.setupEvents()) {
    if (ev.event === "log") ev.data.data satisfies string;
    if (ev.event === "exit") ev.data.setup_status satisfies "none" | "pending" | "running" | "completed" | "failed";
  }
  await s.setCode("print(3)", { description: "three" });
  (await s.getCode()).code_length satisfies number;
  const runs = await s.runs({ limit: 5 });
  const answer = await s.getRun(runs.runs[0]!.run_id!);
  if ("success" in answer) answer.output satisfies string;
  else answer.stdout satisfies string;
  (await s.cancel()).cancelled satisfies string;

  await s.files.write("a.txt", "text");
  await s.files.write("b.bin", new Uint8Array([1, 2]));
  (await s.files.list()).files[0]!.path satisfies string;
  (await s.files.read("b.bin")) satisfies Uint8Array;
  (await s.files.readText("a.txt")) satisfies string;
  (await s.files.delete("a.txt")).deleted satisfies string;
  (await s.delete()).deleted satisfies string;

  // @ts-expect-error an unknown language
  await client.sessions.create({ language: "cobol" });
  // @ts-expect-error `language` is required
  await client.sessions.create({});
  // @ts-expect-error PATCH cannot change the language
  await s.patch({ language: "go" });

  try {
    await client.sessions.get("missing");
  } catch (e) {
    if (e instanceof EdgerunError) {
      e.status satisfies number;
      if (e.code === "not_found") return;
      // @ts-expect-error not a code of the API or the client
      if (e.code === "no_such_code") return;
    }
  }
}
