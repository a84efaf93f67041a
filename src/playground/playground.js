// The playground: plain browser JavaScript over the public API (no build step). The token, when
// one is needed, stays in this browser (localStorage) and goes only to this origin.
"use strict";
const $ = (id) => document.getElementById(id);
const state = { session: null, running: false };

$("token").value = localStorage.getItem("edgerun.token") ?? "";
$("token").addEventListener("change", () => {
  localStorage.setItem("edgerun.token", $("token").value);
  refresh();
});

function headers(extra = {}) {
  const h = { ...extra };
  const t = $("token").value.trim();
  if (t) h.authorization = `Bearer ${t}`;
  return h;
}

async function api(method, path, body, extra = {}) {
  const init = { method, headers: headers(extra) };
  if (body !== undefined) {
    init.body = body instanceof Blob || body instanceof ArrayBuffer ? body : JSON.stringify(body);
    if (!(body instanceof Blob || body instanceof ArrayBuffer)) init.headers["content-type"] = "application/json";
  }
  const r = await fetch(path, init);
  if (!r.ok) {
    let msg = `${r.status}`;
    try {
      const e = await r.json();
      msg = `${e.code}: ${e.error}`;
    } catch {}
    throw new Error(msg);
  }
  return r;
}

function showError(e) {
  $("error").textContent = e ? String(e.message ?? e) : "";
}

function li(content, current) {
  const el = document.createElement("li");
  if (current) el.className = "current";
  for (const c of content) el.append(c);
  return el;
}

function link(text, onclick) {
  const a = document.createElement("a");
  a.textContent = text;
  a.href = "#";
  a.addEventListener("click", (ev) => {
    ev.preventDefault();
    onclick();
  });
  return a;
}

async function refresh() {
  showError();
  try {
    const list = await (await api("GET", "/api/sessions?limit=50")).json();
    const ul = $("sessions");
    ul.replaceChildren(...list.sessions.map((s) => {
      const meta = document.createElement("span");
      meta.className = "muted";
      meta.textContent = s.language;
      return li([link(s.id, () => select(s.id)), meta], s.id === state.session);
    }));
    if (state.session) await files();
  } catch (e) {
    showError(e);
  }
}

async function files() {
  const sid = state.session;
  const list = await (await api("GET", `/api/sessions/${sid}/files`)).json();
  $("file-count").textContent = `(${list.count})`;
  $("files").replaceChildren(...list.files.map((f) => {
    const size = document.createElement("span");
    size.className = "muted";
    size.textContent = `${f.size} B`;
    return li([link(f.path, () => download(sid, f.path)), size]);
  }));
}

async function download(sid, path) {
  try {
    const r = await api("GET", `/api/sessions/${sid}/files/${path.split("/").map(encodeURIComponent).join("/")}`);
    const url = URL.createObjectURL(await r.blob());
    const a = document.createElement("a");
    a.href = url;
    a.download = path.split("/").pop();
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  } catch (e) {
    showError(e);
  }
}

async function select(sid) {
  state.session = sid;
  $("current").textContent = sid;
  $("run").disabled = false;
  await refresh();
}

function append(kind, text) {
  const span = document.createElement("span");
  span.className = kind;
  span.textContent = text;
  $("output").append(span);
  $("output").scrollTop = $("output").scrollHeight;
}

async function run() {
  if (!state.session || state.running) return;
  showError();
  state.running = true;
  $("run").disabled = true;
  $("cancel").disabled = false;
  $("output").replaceChildren();
  for (const id of ["exit", "killed", "duration"]) $(id).textContent = "…";
  $("state").textContent = "running";
  try {
    const r = await api("POST", `/api/sessions/${state.session}/run`, { code: $("code").value }, { accept: "text/event-stream" });
    const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      let end;
      while ((end = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, end);
        buf = buf.slice(end + 2);
        let event = "message";
        let data;
        for (const line of block.split("\n")) {
          if (line.startsWith("event: ")) event = line.slice(7);
          else if (line.startsWith("data: ")) data = JSON.parse(line.slice(6));
        }
        if (data === undefined) continue;
        if (event === "stdout" || event === "stderr" || event === "log") append(event, data.data);
        else if (event === "exit") {
          $("exit").textContent = String(data.exit_code);
          $("killed").textContent = data.killed_by ?? "none";
          $("duration").textContent = data.duration;
        } else if (event === "error") throw new Error(`${data.code}: ${data.error}`);
      }
    }
    $("state").textContent = "done";
  } catch (e) {
    $("state").textContent = "";
    showError(e);
  } finally {
    state.running = false;
    $("run").disabled = false;
    $("cancel").disabled = true;
    await refresh();
  }
}

$("run").addEventListener("click", run);
$("cancel").addEventListener("click", async () => {
  try {
    await api("POST", `/api/sessions/${state.session}/cancel`);
  } catch (e) {
    showError(e);
  }
});
$("create").addEventListener("click", async () => {
  try {
    const s = await (await api("POST", "/api/sessions", { language: $("language").value })).json();
    await select(s.id);
  } catch (e) {
    showError(e);
  }
});
$("refresh").addEventListener("click", refresh);
$("upload").addEventListener("change", async () => {
  const file = $("upload").files[0];
  if (!file || !state.session) return;
  try {
    await api("PUT", `/api/sessions/${state.session}/files/${encodeURIComponent(file.name)}`, file, { "content-type": "application/octet-stream" });
    $("upload").value = "";
    await files();
  } catch (e) {
    showError(e);
  }
});
document.addEventListener("keydown", (ev) => {
  if ((ev.ctrlKey || ev.metaKey) && ev.key === "Enter") run();
});
refresh();
