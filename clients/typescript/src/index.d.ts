// Types of the hand-shaped layer (index.js), over the types generated from docs/openapi.json.
import type { components, operationEvents, paths } from "./schema.js";

export type { components, operationEvents, paths } from "./schema.js";

type S = components["schemas"];

/** The session object (create, get, PATCH, setup, duplicate). */
export type SessionInfo = S["Session"];
export type SessionSummary = S["SessionSummary"];
export type SessionList = S["SessionList"];
export type CreateSessionRequest = S["CreateSessionRequest"];
export type PatchSessionRequest = S["PatchSessionRequest"];
export type Setup = S["Setup"];
/** A language or one of its aliases, as create and execute take them. */
export type Language = CreateSessionRequest["language"];
export type RunRequest = S["RunRequest"];
/** The run answer of `…/run` and `/api/execute`. */
export type RunResponse = S["RunResponse"];
/** What a run of the plugin endpoint answered. */
export type PluginAnswer = S["PluginAnswer"];
/** `GET …/runs/{run_id}`: the answer the run gave, as its route gave it. */
export type StoredAnswer = S["StoredAnswer"];
export type RunList = S["RunList"];
export type RunEntry = S["RunEntry"];
export type ExecuteRequest = S["ExecuteRequest"];
export type StoredCode = S["StoredCode"];
export type FileList = S["FileList"];
export type FileInfo = S["FileInfo"];
export type Uploaded = S["Uploaded"];
export type Deleted = S["Deleted"];
export type DeletedAll = S["DeletedAll"];
export type Cancelled = S["Cancelled"];
/** A background process (`POST …/processes`). */
export type ProcessInfo = S["ProcessInfo"];
export type ProcessList = S["ProcessList"];
export type ProcessLogs = S["ProcessLogs"];
/** A signed, expiring address of a port. */
export type PortUrl = S["PortUrl"];
export type Health = S["Health"];
export type Limit = S["Limit"];
/** The API's error body, `{"error", "code"}`. */
export type ErrorBody = S["Error"];
/** The machine-readable codes of the API's errors. */
export type ErrorCode = ErrorBody["code"];

/**
 * The events of a streamed operation, as a union discriminated by `event`: for a run,
 * `run` (its id), `stdout`/`stderr` (`{data}`), then `exit` (the run answer) or `error`.
 */
export type StreamEvent<Op extends keyof operationEvents> = {
  [E in keyof operationEvents[Op]]: { event: E; data: operationEvents[Op][E] };
}[keyof operationEvents[Op]];
/** A streamed run's events (`POST …/run`, `POST /api/execute`). */
export type RunEvent = StreamEvent<"run">;
/** A setup's events (`GET …/setup` with events). */
export type SetupEvent = StreamEvent<"getSetup">;
/** A followed process's events (`GET …/processes/{proc}/logs` with events). */
export type ProcessEvent = StreamEvent<"processLogs">;

/** Every error answer of the API, and streams that end badly. */
export declare class EdgerunError extends Error {
  name: "EdgerunError";
  /** The HTTP status (200 for a stream that broke after it began). */
  status: number;
  /**
   * The API's `code`; or, from the client itself, `http_error` (an error answer not in the
   * API's shape), `not_a_stream`, `stream_ended` (the stream closed before `exit`/`error`) or
   * `bad_event` (an event whose data is not JSON).
   */
  code: ErrorCode | "http_error" | "not_a_stream" | "stream_ended" | "bad_event";
  /** The parsed error body (or its text). */
  body: unknown;
  constructor(message: string, details: { status: number; code: string; body?: unknown; cause?: unknown });
}

export interface EdgerunOptions {
  /** Where the API is served; default `http://localhost:8787` (`npm run dev`). */
  baseUrl?: string;
  /** The API token (`API_TOKEN`), sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** A fetch of your own (default: the global one). */
  fetch?: typeof globalThis.fetch;
  /** Headers added to every request. */
  headers?: Record<string, string>;
}

export interface RequestOptions {
  signal?: AbortSignal;
}

export interface RunOptions extends RequestOptions {
  /** Whole seconds 1–300; default: the session's `default_timeout`, else 30. */
  timeout?: number;
  env?: Record<string, string>;
  stdin?: string;
  /** `Idempotency-Key`: a retry with the same key answers the first run's answer. */
  idempotencyKey?: string;
}

export interface FetchOptions extends RequestOptions {
  json?: unknown;
  body?: string | Uint8Array | ArrayBuffer | Blob | ReadableStream<Uint8Array> | null;
  query?: Record<string, string | number | boolean | null | undefined>;
  headers?: Record<string, string>;
  idempotencyKey?: string;
}

export declare class Edgerun {
  constructor(options?: EdgerunOptions);
  readonly baseUrl: string;
  token: string | undefined;
  readonly sessions: Sessions;
  /** One request: the Response of a 2xx; any other status throws EdgerunError. */
  fetch(method: string, path: string, options?: FetchOptions): Promise<Response>;
  /** One request whose answer is JSON. */
  json<T = unknown>(method: string, path: string, options?: FetchOptions): Promise<T>;
  /** A POST answered as Server-Sent Events. */
  events<Op extends keyof operationEvents = "run">(path: string, json: unknown, options?: RequestOptions & { method?: string; idempotencyKey?: string }): AsyncGenerator<StreamEvent<Op>, void, undefined>;
  /** `POST /api/execute`: runs code once in a throwaway session. */
  execute(request: ExecuteRequest, options?: RequestOptions): Promise<RunResponse>;
  /** `POST /api/execute`, streamed. */
  executeStream(request: ExecuteRequest, options?: RequestOptions): AsyncGenerator<StreamEvent<"execute">, void, undefined>;
  /** `GET /health`. */
  health(options?: RequestOptions): Promise<Health>;
}

export declare class Sessions {
  readonly client: Edgerun;
  /** `POST /api/sessions`. */
  create(request: CreateSessionRequest, options?: RequestOptions & { idempotencyKey?: string }): Promise<Session>;
  /** `GET /api/sessions/{id}` (404 → EdgerunError `not_found`). */
  get(id: string, options?: RequestOptions): Promise<Session>;
  /** A handle on a session without asking the API anything. */
  session(id: string): Session;
  /** `GET /api/sessions`: one page, newest first. */
  list(options?: RequestOptions & { limit?: number; cursor?: string }): Promise<SessionList>;
  /** Every session, page after page. */
  all(options?: RequestOptions & { limit?: number }): AsyncGenerator<SessionSummary, void, undefined>;
  /** `DELETE /api/sessions/{id}`. */
  delete(id: string, options?: RequestOptions): Promise<Deleted>;
  /** `DELETE /api/sessions`. */
  deleteAll(options?: RequestOptions): Promise<DeletedAll>;
}

export declare class Session {
  readonly client: Edgerun;
  readonly id: string;
  /** The session object as the API last answered it (undefined for a handle never fetched). */
  info: SessionInfo | undefined;
  readonly files: Files;
  /** `GET /api/sessions/{id}`: the session object now (also kept as `info`). */
  refresh(options?: RequestOptions): Promise<SessionInfo>;
  /** `POST …/run`: runs `code`, or the stored code when it is omitted. */
  run(code?: string | null, options?: RunOptions): Promise<RunResponse>;
  /** `POST …/run` streamed: `run`, `stdout`/`stderr` as written, then `exit` or `error`. */
  stream(code?: string | null, options?: RunOptions): AsyncGenerator<RunEvent, void, undefined>;
  /** `POST …/cancel`: ends the running run or setup (409 `conflict` when none runs). */
  cancel(options?: RequestOptions): Promise<Cancelled>;
  /** `GET …/runs`. */
  runs(options?: RequestOptions & { limit?: number }): Promise<RunList>;
  /** `GET …/runs/{run_id}`. */
  getRun(runId: string, options?: RequestOptions): Promise<StoredAnswer>;
  /** `POST …/setup`; with `wait`, answers once the setup is `completed` or `failed`. */
  setup(setup: Setup, options?: RequestOptions & { wait?: boolean }): Promise<SessionInfo>;
  /** `GET …/setup` streamed: `log` (installers), `stdout`/`stderr` (commands), then `exit` with the session. */
  setupEvents(options?: RequestOptions): AsyncGenerator<SetupEvent, void, undefined>;
  /** Follows the setup to its end and answers the session then (an `error` event throws). */
  waitForSetup(options?: RequestOptions): Promise<SessionInfo>;
  /** `PATCH /api/sessions/{id}`. */
  patch(changes: PatchSessionRequest, options?: RequestOptions): Promise<SessionInfo>;
  /** `PUT …/code`. */
  setCode(code: string, options?: RequestOptions & { description?: string }): Promise<StoredCode>;
  /** `GET …/code`. */
  getCode(options?: RequestOptions): Promise<StoredCode>;
  /** `POST …/duplicate`. */
  duplicate(options?: RequestOptions & { id?: string }): Promise<Session>;
  /** `POST …/processes`: a background process (`bash -c command`) that outlives the call. */
  startProcess(command: string, options?: RequestOptions & { env?: Record<string, string>; maxSeconds?: number; restart?: "never" | "on-wake" }): Promise<ProcessInfo>;
  /** `GET …/processes`. */
  processes(options?: RequestOptions): Promise<ProcessList>;
  /** `GET …/processes/{proc}`. */
  process(id: string, options?: RequestOptions): Promise<ProcessInfo>;
  /** `GET …/processes/{proc}/logs`. */
  processLogs(id: string, options?: RequestOptions): Promise<ProcessLogs>;
  /** `GET …/processes/{proc}/logs` streamed: output as it comes, then `exit` with the process. */
  followProcess(id: string, options?: RequestOptions): AsyncGenerator<ProcessEvent>;
  /** `POST …/processes/{proc}/stdin`. */
  processInput(id: string, data: string, options?: RequestOptions & { eof?: boolean }): Promise<ProcessInfo>;
  /** `DELETE …/processes/{proc}`: ends it and everything it started. */
  stopProcess(id: string, options?: RequestOptions): Promise<ProcessInfo>;
  /** `POST …/ports/{port}/url`: a signed address that works without the token until it expires. */
  portUrl(port: number, options?: RequestOptions & { expiresIn?: number }): Promise<PortUrl>;
  /** A request to the session's app on `port`: its Response (non-2xx throws EdgerunError). */
  port(port: number, path?: string, options?: RequestOptions & { method?: string; body?: BodyInit; headers?: Record<string, string> }): Promise<Response>;
  /** `DELETE /api/sessions/{id}`. */
  delete(options?: RequestOptions): Promise<Deleted>;
}

export declare class Files {
  readonly session: Session;
  /** `GET …/files`. */
  list(options?: RequestOptions): Promise<FileList>;
  /** `GET …/files/{path}`: the bytes. */
  read(path: string, options?: RequestOptions): Promise<Uint8Array>;
  /** `GET …/files/{path}` as UTF-8 text. */
  readText(path: string, options?: RequestOptions): Promise<string>;
  /** `GET …/files/{path}`: the Response, to stream its body. */
  download(path: string, options?: RequestOptions): Promise<Response>;
  /** `PUT …/files/{path}`. */
  write(path: string, data: string | Uint8Array | ArrayBuffer | Blob | ReadableStream<Uint8Array>, options?: RequestOptions): Promise<Uploaded>;
  /** `DELETE …/files/{path}`. */
  delete(path: string, options?: RequestOptions): Promise<Deleted>;
}

/** Parses a Server-Sent Events body into `{event, data}` (data parsed as JSON). */
export declare function parseEventStream(body: ReadableStream<Uint8Array>, options?: RequestOptions): AsyncGenerator<{ event: string; data: unknown }, void, undefined>;
