// The edgerun client: plain ES module JavaScript (no build step, no dependency beyond `fetch`);
// its types are index.d.ts, over the types generated from docs/openapi.json (schema.d.ts).

/** Every error answer of the API (`{"error", "code"}` with its status), and streams that end badly. */
export class EdgerunError extends Error {
  /**
   * @param {string} message
   * @param {{ status: number, code: string, body?: unknown, cause?: unknown }} details
   */
  constructor(message, { status, code, body, cause }) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = "EdgerunError";
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

const ENDINGS = new Set(["exit", "error"]);

/** Percent-encodes a workspace path segment by segment (`/` separates, `%2F` would too). */
const encodePath = (path) => String(path).split("/").map(encodeURIComponent).join("/");

/** Reads an error answer into an EdgerunError (a body that is not the API's shape keeps its text). */
async function errorOf(res) {
  const text = await res.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  if (body && typeof body === "object" && typeof body.error === "string" && typeof body.code === "string") {
    return new EdgerunError(body.error, { status: res.status, code: body.code, body });
  }
  return new EdgerunError(`HTTP ${res.status}${text ? `: ${text.slice(0, 300)}` : ""}`, { status: res.status, code: "http_error", body });
}

/**
 * Server-Sent Events of a response body, as `{event, data}` with `data` parsed as JSON (the
 * WHATWG event-stream rules: `event:`/`data:` fields, an optional space after the colon, several
 * `data:` lines joined by a newline, comments and `id:`/`retry:` ignored, CRLF/LF/CR line ends).
 */
export async function* parseEventStream(body, { signal } = {}) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  let name = "";
  let data = [];
  let pendingCR = false;
  const dispatch = function* () {
    if (data.length) {
      const raw = data.join("\n");
      let parsed;
      try {
        parsed = JSON.parse(raw);
      } catch (e) {
        throw new EdgerunError(`the stream sent an event whose data is not JSON: ${raw.slice(0, 200)}`, { status: 200, code: "bad_event", body: raw, cause: e });
      }
      yield { event: name || "message", data: parsed };
    }
    name = "";
    data = [];
  };
  const line = function* (l) {
    if (l === "") return yield* dispatch();
    if (l.startsWith(":")) return;
    const colon = l.indexOf(":");
    const field = colon < 0 ? l : l.slice(0, colon);
    let value = colon < 0 ? "" : l.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") name = value;
    else if (field === "data") data.push(value);
  };
  try {
    for (;;) {
      if (signal?.aborted) throw signal.reason;
      const { done, value } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      if (pendingCR && buf.startsWith("\n")) buf = buf.slice(1);
      pendingCR = false;
      let m;
      const re = /\r\n|\n|\r/g;
      let start = 0;
      while ((m = re.exec(buf))) {
        // A CR at the very end may be the first half of a CRLF split across chunks.
        if (m[0] === "\r" && m.index === buf.length - 1) pendingCR = true;
        yield* line(buf.slice(start, m.index));
        start = m.index + m[0].length;
      }
      buf = buf.slice(start);
    }
    buf += decoder.decode();
    if (buf) yield* line(buf);
    yield* dispatch();
  } finally {
    // A consumer that stops early (break, return, throw) closes the connection.
    reader.cancel().catch(() => {});
  }
}

/** The client of one edgerun API. */
export class Edgerun {
  /** @param {import("./index.js").EdgerunOptions} [options] */
  constructor({ baseUrl = "http://localhost:8787", token, fetch: fetchImpl, headers } = {}) {
    this.baseUrl = String(baseUrl).replace(/\/+$/, "");
    this.token = token;
    this.headers = { ...headers };
    this._fetch = fetchImpl ?? globalThis.fetch.bind(globalThis);
    this.sessions = new Sessions(this);
  }

  /**
   * One request. `json` is sent as a JSON body; `body` as is. Answers the Response of a 2xx, and
   * throws EdgerunError for any other status.
   */
  async fetch(method, path, { json, body, query, headers, idempotencyKey, signal } = {}) {
    const h = { ...this.headers, ...headers };
    if (this.token) h.authorization = `Bearer ${this.token}`;
    if (idempotencyKey !== undefined) h["idempotency-key"] = idempotencyKey;
    if (json !== undefined) {
      h["content-type"] = "application/json";
      body = JSON.stringify(json);
    }
    let url = this.baseUrl + path;
    if (query) {
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null) q.set(k, String(v));
      const s = q.toString();
      if (s) url += (url.includes("?") ? "&" : "?") + s;
    }
    const init = { method, headers: h, body, signal };
    // A streamed upload body (a ReadableStream) needs half-duplex in fetch.
    if (body && typeof body === "object" && typeof body.getReader === "function") init.duplex = "half";
    const res = await this._fetch(url, init);
    if (!res.ok) throw await errorOf(res);
    return res;
  }

  /** One request whose answer is JSON. */
  async json(method, path, options) {
    const res = await this.fetch(method, path, options);
    return res.json();
  }

  /**
   * A request answered as Server-Sent Events: yields `{event, data}` as they arrive. A refusal
   * before the stream begins (a 4xx/5xx JSON answer) throws EdgerunError.
   */
  async *events(path, json, { method = "POST", idempotencyKey, signal } = {}) {
    const res = await this.fetch(method, path, { json, idempotencyKey, signal, headers: { accept: "text/event-stream" } });
    const type = res.headers.get("content-type") ?? "";
    if (!type.startsWith("text/event-stream")) {
      await res.body?.cancel();
      throw new EdgerunError(`expected an event stream, got ${type || "no content type"}`, { status: res.status, code: "not_a_stream" });
    }
    let ended = false;
    for await (const ev of parseEventStream(res.body, { signal })) {
      yield ev;
      if (ENDINGS.has(ev.event)) ended = true;
    }
    if (!ended && !signal?.aborted) {
      throw new EdgerunError("the event stream ended before its exit or error event", { status: res.status, code: "stream_ended" });
    }
  }

  /** `POST /api/execute`: runs code once in a throwaway session. */
  execute(request, { signal } = {}) {
    return this.json("POST", "/api/execute", { json: request, signal });
  }

  /** `POST /api/execute`, streamed. */
  executeStream(request, { signal } = {}) {
    return this.events("/api/execute", request, { signal });
  }

  /** `GET /health`. */
  health({ signal } = {}) {
    return this.json("GET", "/health", { signal });
  }
}

/** `client.sessions`: create, list, open and delete sessions. */
export class Sessions {
  constructor(client) {
    this.client = client;
  }

  /** `POST /api/sessions`: a new session (the request as the API takes it). */
  async create(request, { idempotencyKey, signal } = {}) {
    const info = await this.client.json("POST", "/api/sessions", { json: request, idempotencyKey, signal });
    return new Session(this.client, info.id, info);
  }

  /** `GET /api/sessions/{id}`: an existing session (404 → EdgerunError `not_found`). */
  async get(id, { signal } = {}) {
    const s = new Session(this.client, id);
    await s.refresh({ signal });
    return s;
  }

  /** A handle on the session `id` without asking the API anything. */
  session(id) {
    return new Session(this.client, id);
  }

  /** `GET /api/sessions`: one page, newest first. */
  list({ limit, cursor, signal } = {}) {
    return this.client.json("GET", "/api/sessions", { query: { limit, cursor }, signal });
  }

  /** Every session, page after page. */
  async *all({ limit, signal } = {}) {
    let cursor;
    do {
      const page = await this.list({ limit, cursor, signal });
      yield* page.sessions;
      cursor = page.cursor;
    } while (cursor);
  }

  /** `DELETE /api/sessions/{id}`. */
  delete(id, { signal } = {}) {
    return this.client.json("DELETE", `/api/sessions/${sessionPath(id)}`, { signal });
  }

  /** `DELETE /api/sessions`: every session (a batch at once, the rest in the background). */
  deleteAll({ signal } = {}) {
    return this.client.json("DELETE", "/api/sessions", { signal });
  }
}

function sessionPath(id) {
  if (typeof id !== "string" || id === "") throw new TypeError("a session id must be a non-empty string");
  return encodeURIComponent(id);
}

/** The body of a run: `code` (or none: the stored code) and the run's options. */
function runBody(code, options = {}) {
  const { timeout, env, stdin } = options;
  const body = {};
  if (code !== undefined && code !== null) body.code = code;
  if (timeout !== undefined) body.timeout = timeout;
  if (env !== undefined) body.env = env;
  if (stdin !== undefined) body.stdin = stdin;
  return body;
}

/** One session: its runs, files, setup, settings and stored code. */
export class Session {
  constructor(client, id, info) {
    this.client = client;
    this.id = id;
    /** The session object as the API last answered it (create, get, patch, setup, refresh). */
    this.info = info;
    this.files = new Files(this);
    this._path = `/api/sessions/${sessionPath(id)}`;
  }

  /** `GET /api/sessions/{id}`: the session object now (also kept as `info`). */
  async refresh({ signal } = {}) {
    this.info = await this.client.json("GET", this._path, { signal });
    return this.info;
  }

  /** `POST …/run`: runs `code` (omitted: the stored code) and answers the run answer. */
  run(code, options = {}) {
    const { idempotencyKey, signal } = options;
    return this.client.json("POST", `${this._path}/run`, { json: runBody(code, options), idempotencyKey, signal });
  }

  /** `POST …/run` streamed: the run's events (`run`, `stdout`, `stderr`, then `exit` or `error`). */
  stream(code, options = {}) {
    const { idempotencyKey, signal } = options;
    return this.client.events(`${this._path}/run`, runBody(code, options), { idempotencyKey, signal });
  }

  /** `POST …/cancel`: ends the running run (409 `conflict` when none runs). */
  cancel({ signal } = {}) {
    return this.client.json("POST", `${this._path}/cancel`, { signal });
  }

  /** `GET …/runs`: the latest runs, newest first. */
  runs({ limit, signal } = {}) {
    return this.client.json("GET", `${this._path}/runs`, { query: { limit }, signal });
  }

  /** `GET …/runs/{run_id}`: one of the last 20 runs' answers. */
  getRun(runId, { signal } = {}) {
    return this.client.json("GET", `${this._path}/runs/${encodeURIComponent(runId)}`, { signal });
  }

  /**
   * `POST …/setup`: replaces the session's setup and starts it. With `wait`, follows the setup
   * (`setupEvents`) until it is `completed` or `failed` and answers the session then.
   */
  async setup(setup, { wait = false, signal } = {}) {
    this.info = await this.client.json("POST", `${this._path}/setup`, { json: { setup }, signal });
    return wait ? this.waitForSetup({ signal }) : this.info;
  }

  /**
   * `GET …/setup` with events: the setup's progress as it comes (installers' output as `log`,
   * commands' `stdout`/`stderr`), then `exit` with the session once the setup ended (at once
   * when none is pending or running).
   */
  setupEvents({ signal } = {}) {
    return this.client.events(`${this._path}/setup`, undefined, { method: "GET", signal });
  }

  /** Follows the setup to its end; answers the session then (also kept as `info`). */
  async waitForSetup({ signal } = {}) {
    for await (const ev of this.setupEvents({ signal })) {
      if (ev.event === "exit") this.info = ev.data;
      else if (ev.event === "error") throw new EdgerunError(ev.data.error, { status: 200, code: ev.data.code, body: ev.data });
    }
    return this.info;
  }

  /** `PATCH /api/sessions/{id}`: changes `default_timeout`, `metadata`, `allow_internet`. */
  async patch(changes, { signal } = {}) {
    this.info = await this.client.json("PATCH", this._path, { json: changes, signal });
    return this.info;
  }

  /** `PUT …/code`: stores the code a run without code runs. */
  setCode(code, { description, signal } = {}) {
    const json = description === undefined ? { code } : { code, description };
    return this.client.json("PUT", `${this._path}/code`, { json, signal });
  }

  /** `GET …/code`: the stored code (404 `not_found` when none is stored). */
  getCode({ signal } = {}) {
    return this.client.json("GET", `${this._path}/code`, { signal });
  }

  /** `POST …/duplicate`: a copy of this session (a generated id unless `id` is given). */
  async duplicate({ id, signal } = {}) {
    const info = await this.client.json("POST", `${this._path}/duplicate`, { json: id === undefined ? {} : { id }, signal });
    return new Session(this.client, info.id, info);
  }

  /** `POST …/processes`: starts a background process (`bash -c command`) that outlives the call. */
  startProcess(command, { env, maxSeconds, restart, signal } = {}) {
    const json = { command };
    if (env !== undefined) json.env = env;
    if (maxSeconds !== undefined) json.max_seconds = maxSeconds;
    if (restart !== undefined) json.restart = restart;
    return this.client.json("POST", `${this._path}/processes`, { json, signal });
  }

  /** `GET …/processes`: the session's background processes, oldest first. */
  processes({ signal } = {}) {
    return this.client.json("GET", `${this._path}/processes`, { signal });
  }

  /** `GET …/processes/{proc}`. */
  process(id, { signal } = {}) {
    return this.client.json("GET", `${this._path}/processes/${encodeURIComponent(id)}`, { signal });
  }

  /** `GET …/processes/{proc}/logs`: the last of its stdout and stderr, and its state. */
  processLogs(id, { signal } = {}) {
    return this.client.json("GET", `${this._path}/processes/${encodeURIComponent(id)}/logs`, { signal });
  }

  /** `GET …/processes/{proc}/logs` streamed: `stdout`/`stderr` as it prints, then `exit` with the process. */
  followProcess(id, { signal } = {}) {
    return this.client.events(`${this._path}/processes/${encodeURIComponent(id)}/logs`, undefined, { method: "GET", signal });
  }

  /** `POST …/processes/{proc}/stdin`: writes `data` (and closes its input with `eof`). */
  processInput(id, data, { eof, signal } = {}) {
    const json = { data };
    if (eof !== undefined) json.eof = eof;
    return this.client.json("POST", `${this._path}/processes/${encodeURIComponent(id)}/stdin`, { json, signal });
  }

  /** `DELETE …/processes/{proc}`: ends it and everything it started. */
  stopProcess(id, { signal } = {}) {
    return this.client.json("DELETE", `${this._path}/processes/${encodeURIComponent(id)}`, { signal });
  }

  /** `POST …/ports/{port}/url`: a signed address of the port that works without the token until it expires. */
  portUrl(port, { expiresIn, signal } = {}) {
    return this.client.json("POST", `${this._path}/ports/${Number(port)}/url`, { json: expiresIn === undefined ? {} : { expires_in: expiresIn }, signal });
  }

  /**
   * A request to the session's app on `port` (`…/ports/{port}{path}`): the app's Response. As
   * every call of the client, a status outside 2xx throws EdgerunError (the app's, or the
   * route's own 502 when nothing listens).
   */
  port(port, path = "/", { method = "GET", body, headers, signal } = {}) {
    const p = String(path).startsWith("/") ? String(path) : `/${path}`;
    return this.client.fetch(method, `${this._path}/ports/${Number(port)}${p}`, { body, headers, signal });
  }

  /** `DELETE /api/sessions/{id}`. */
  delete({ signal } = {}) {
    return this.client.json("DELETE", this._path, { signal });
  }
}

/** `session.files`: the session's workspace files. */
export class Files {
  constructor(session) {
    this.session = session;
  }

  get _base() {
    return `${this.session._path}/files`;
  }

  /** `GET …/files`: every file, sorted by path (`{files, count}`). */
  list({ signal } = {}) {
    return this.session.client.json("GET", this._base, { signal });
  }

  /** `GET …/files/{path}`: the file's bytes. */
  async read(path, { signal } = {}) {
    const res = await this.session.client.fetch("GET", `${this._base}/${encodePath(path)}`, { signal });
    return new Uint8Array(await res.arrayBuffer());
  }

  /** `GET …/files/{path}` as UTF-8 text. */
  async readText(path, { signal } = {}) {
    const res = await this.session.client.fetch("GET", `${this._base}/${encodePath(path)}`, { signal });
    return res.text();
  }

  /** `GET …/files/{path}`: the Response, to stream a large file's body. */
  download(path, { signal } = {}) {
    return this.session.client.fetch("GET", `${this._base}/${encodePath(path)}`, { signal });
  }

  /** `PUT …/files/{path}`: stores `data` (text as UTF-8, bytes, a Blob or a ReadableStream). */
  write(path, data, { signal } = {}) {
    return this.session.client.json("PUT", `${this._base}/${encodePath(path)}`, {
      body: data,
      headers: { "content-type": "application/octet-stream" },
      signal,
    });
  }

  /** `DELETE …/files/{path}`. */
  delete(path, { signal } = {}) {
    return this.session.client.json("DELETE", `${this._base}/${encodePath(path)}`, { signal });
  }
}
