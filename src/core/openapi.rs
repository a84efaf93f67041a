//! The OpenAPI 3.1 document of the public API, generated from a route table and the schemas of
//! `core::api` (schemars), and compared with the committed `docs/openapi.json`.
//!
//! `cargo test -p edgerun --features schema` fails when the committed file differs from what this
//! generates; `UPDATE_OPENAPI=1` rewrites it. The Worker serves the committed file at
//! `GET /openapi.json` (`include_str!`), so the wasm holds no schema code. The table is checked
//! against the router (`core::route::parse`): every route is in it, and every entry's method and
//! path reach the route it describes.
use super::api;
use super::route::{parse, Route};
use edgerun_protocol::ErrorCode;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use schemars::JsonSchema;
use serde_json::{json, Map, Value};

/// The document's location in the repository, relative to the crate root.
const DOC_PATH: &str = "docs/openapi.json";

/// A query parameter of a route.
struct Query {
    name: &'static str,
    required: bool,
    schema: fn() -> Value,
    description: &'static str,
}

/// What a route reads as its body.
enum Body {
    None,
    /// A JSON body with its schema (`required`: whether an empty body is refused).
    Json(fn(&mut SchemaGenerator) -> Value, bool),
    /// Raw bytes of any type (an upload).
    Raw,
}

/// The events of a Server-Sent Events answer, in `components.schemas` (OpenAPI 3.1 cannot
/// describe a stream of events itself): the answer's media type points at them with `x-events`.
#[derive(Clone, Copy)]
enum EventSet {
    /// `run`, `stdout`, `stderr`, then `exit` (the route's JSON answer) or `error`.
    Api,
    /// ERA's `data:` lines: `start`, `stdout`, `stderr`, then `done` or `error`.
    Era,
}

/// The run routes that also answer events (`accept: text/event-stream` or `?stream=1`), and the
/// schema of their `exit` event.
fn streams(op_id: &str) -> Option<&'static str> {
    match op_id {
        "run" | "execute" => Some("RunResponse"),
        "plugin" => Some("PluginAnswer"),
        "getSetup" => Some("Session"),
        "processLogs" => Some("ProcessInfo"),
        _ => None,
    }
}

fn sse_content(set: EventSet, exit: &str) -> Value {
    let r = |name: &str| json!({"$ref": format!("#/components/schemas/{name}")});
    let events = match set {
        EventSet::Api => json!({
            "run": r("RunStartedEvent"), "stdout": r("OutputEvent"), "stderr": r("OutputEvent"), "log": r("OutputEvent"), "exit": r(exit), "error": r("Error")
        }),
        EventSet::Era => json!({"message": {"oneOf": [r("EraStartEvent"), r("EraOutputEvent"), r("EraDoneEvent"), r("EraErrorEvent")]}}),
    };
    json!({
        "schema": {"type": "string", "description": "Server-Sent Events; a `: keep-alive` comment at least every 15 s. Each event's `data` is one JSON line whose schema `x-events` names, by event name (`message` for unnamed events)."},
        "x-events": events
    })
}

/// ERA's event shapes (hand-written: `done` is the run answer's fields with a `type`).
fn era_event_schemas() -> Vec<(&'static str, Value)> {
    vec![
        (
            "EraStartEvent",
            json!({"type": "object", "required": ["type", "run_id"], "properties": {"type": {"const": "start"}, "run_id": {"type": "string", "pattern": "^run_[0-9a-f]{24}$"}}, "additionalProperties": false}),
        ),
        (
            "EraOutputEvent",
            json!({"type": "object", "required": ["type", "content"], "properties": {"type": {"enum": ["stdout", "stderr", "log"]}, "content": {"type": "string"}}, "additionalProperties": false}),
        ),
        (
            "EraErrorEvent",
            json!({"type": "object", "required": ["type", "error", "code"], "properties": {"type": {"const": "error"}, "error": {"type": "string"}, "code": {"type": "string"}}, "additionalProperties": false}),
        ),
    ]
}

/// An MCP message (JSON-RPC 2.0): described by the MCP specification, not here.
fn mcp_message(_: &mut SchemaGenerator) -> Value {
    json!({
        "type": "object",
        "required": ["jsonrpc"],
        "properties": {"jsonrpc": {"const": "2.0"}, "id": {"type": ["string", "integer"]}, "method": {"type": "string"}, "params": {"type": "object"}},
        "description": "One JSON-RPC 2.0 message of the Model Context Protocol (a request, a notification or a response); the tools are listed by `tools/list` and in docs/mcp-tools.json."
    })
}

/// What a route answers on success.
enum Ok200 {
    Json(u16, fn(&mut SchemaGenerator) -> Value),
    /// Bytes whose content type is guessed from the file name (not JSON, even for `.json` files).
    Bytes,
    /// The document itself.
    Document,
    /// Server-Sent Events only.
    Events(EventSet),
    /// MCP: a JSON-RPC response (or events ending with one), or 202 for a notification.
    Mcp,
    /// A static file of this media type.
    Static(&'static str),
    /// Whatever the session's app answers, passed through.
    App,
}

/// One operation of the API.
struct Op {
    method: &'static str,
    path: &'static str,
    id: &'static str,
    summary: &'static str,
    /// Whether a token is needed when `API_TOKEN` is set.
    auth: bool,
    query: &'static [Query],
    body: Body,
    ok: Ok200,
    /// Every error status it can answer (401 and 403 are added for routes with `auth`).
    errors: &'static [u16],
}

fn answer<T: JsonSchema>(g: &mut SchemaGenerator) -> Value {
    g.subschema_for::<T>().to_value()
}

fn limit_schema(default: u32, max: u32) -> Value {
    json!({"type": "integer", "minimum": 1, "maximum": max, "default": default})
}

const SESSION_QUERY: Query = Query {
    name: "session",
    required: true,
    schema: || json!({"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}),
    description: "The session id; the session is created on first use.",
};
const SESSIONS_LIMIT: Query =
    Query { name: "limit", required: false, schema: || limit_schema(100, 1000), description: "Entries per page (a whole number)." };
const CURSOR: Query = Query {
    name: "cursor",
    required: false,
    schema: || json!({"type": "string", "pattern": "^[0-9]{1,18}$"}),
    description: "The `cursor` of the previous page.",
};
const RUNS_LIMIT: Query =
    Query { name: "limit", required: false, schema: || limit_schema(20, 100), description: "Runs to answer (a whole number)." };

/// Every operation, in the order of `docs/api.md`.
fn table() -> Vec<Op> {
    use Body::{Json, Raw};
    vec![
        Op {
            method: "get",
            path: "/health",
            id: "health",
            summary: "Liveness and version",
            auth: false,
            query: &[],
            body: Body::None,
            ok: Ok200::Json(200, answer::<api::Health>),
            errors: &[],
        },
        Op {
            method: "get",
            path: "/openapi.json",
            id: "openapi",
            summary: "This document",
            auth: false,
            query: &[],
            body: Body::None,
            ok: Ok200::Document,
            errors: &[],
        },
        Op {
            method: "get",
            path: "/",
            id: "playground",
            summary: "The playground page (static; its calls need the token like any client's)",
            auth: false,
            query: &[],
            body: Body::None,
            ok: Ok200::Static("text/html"),
            errors: &[],
        },
        Op {
            method: "get",
            path: "/playground.js",
            id: "playgroundScript",
            summary: "The playground's script",
            auth: false,
            query: &[],
            body: Body::None,
            ok: Ok200::Static("text/javascript"),
            errors: &[],
        },
        Op {
            method: "get",
            path: "/playground.css",
            id: "playgroundStyle",
            summary: "The playground's style",
            auth: false,
            query: &[],
            body: Body::None,
            ok: Ok200::Static("text/css"),
            errors: &[],
        },
        Op {
            method: "post",
            path: "/mcp",
            id: "mcp",
            summary: "Model Context Protocol (Streamable HTTP): edgerun's tools",
            auth: true,
            query: &[],
            body: Json(mcp_message, true),
            ok: Ok200::Mcp,
            errors: &[413, 415],
        },
        Op {
            method: "post",
            path: "/mcp/v1",
            id: "mcpEra",
            summary: "Model Context Protocol: ERA's tools, for ERA's clients",
            auth: true,
            query: &[],
            body: Json(mcp_message, true),
            ok: Ok200::Mcp,
            errors: &[413, 415],
        },
        Op {
            method: "post",
            path: "/",
            id: "plugin",
            summary: "Seed-compatible plugin run (creates the session on first use)",
            auth: true,
            query: &[SESSION_QUERY],
            body: Json(answer::<api::PluginRequest>, true),
            ok: Ok200::Json(200, answer::<api::PluginAnswer>),
            errors: &[400, 409, 413, 415, 422, 429, 500, 502, 503],
        },
        Op {
            method: "post",
            path: "/api/sessions",
            id: "createSession",
            summary: "Create a session",
            auth: true,
            query: &[],
            body: Json(answer::<api::CreateSessionRequest>, true),
            ok: Ok200::Json(201, answer::<api::Session>),
            errors: &[400, 409, 413, 415, 422, 500],
        },
        Op {
            method: "get",
            path: "/api/sessions",
            id: "listSessions",
            summary: "List sessions, newest first, paginated",
            auth: true,
            query: &[SESSIONS_LIMIT, CURSOR],
            body: Body::None,
            ok: Ok200::Json(200, answer::<api::SessionList>),
            errors: &[400, 500],
        },
        Op {
            method: "delete",
            path: "/api/sessions",
            id: "deleteAllSessions",
            summary: "Delete every session (the rest in the background when there are many)",
            auth: true,
            query: &[],
            body: Body::None,
            ok: Ok200::Json(200, answer::<api::DeletedAll>),
            // 400: `DELETE /api/sessions/` (an empty session id) deletes nothing.
            errors: &[400, 500],
        },
        Op {
            method: "get",
            path: "/api/sessions/{id}",
            id: "getSession",
            summary: "The session object",
            auth: true,
            query: &[],
            body: Body::None,
            ok: Ok200::Json(200, answer::<api::Session>),
            errors: &[400, 404, 500],
        },
        Op {
            method: "patch",
            path: "/api/sessions/{id}",
            id: "patchSession",
            summary: "Change the session's settings: default_timeout, metadata, allow_internet",
            auth: true,
            query: &[],
            body: Json(answer::<api::PatchSessionRequest>, true),
            ok: Ok200::Json(200, answer::<api::Session>),
            errors: &[400, 404, 413, 415, 422, 500],
        },
        Op {
            method: "delete",
            path: "/api/sessions/{id}",
            id: "deleteSession",
            summary: "Delete a session and everything it holds",
            auth: true,
            query: &[],
            body: Body::None,
            ok: Ok200::Json(200, answer::<api::Deleted>),
            errors: &[400, 404, 500],
        },
        Op {
            method: "post",
            path: "/api/sessions/{id}/run",
            id: "run",
            summary: "Run code in the session",
            auth: true,
            query: &[],
            body: Json(answer::<api::RunRequest>, true),
            ok: Ok200::Json(200, answer::<api::RunResponse>),
            errors: &[400, 404, 409, 413, 415, 422, 429, 500, 502, 503],
        },
        Op {
            method: "put",
            path: "/api/sessions/{id}/code",
            id: "putCode",
            summary: "Store the code that runs without `code` run",
            auth: true,
            query: &[],
            body: Json(answer::<api::StoreCodeRequest>, true),
            ok: Ok200::Json(200, answer::<api::StoredCode>),
            errors: &[400, 404, 413, 415, 422, 500],
        },
        Op {
            method: "get",
            path: "/api/sessions/{id}/code",
            id: "getCode",
            summary: "The session's stored code",
            auth: true,
            query: &[],
            body: Body::None,
            ok: Ok200::Json(200, answer::<api::StoredCode>),
            errors: &[400, 404, 500],
        },
        Op {
            method: "post",
            path: "/api/sessions/{id}/stream",
            id: "streamRun",
            summary: "ERA's streamed run: Server-Sent Events of ERA's form",
            auth: true,
            query: &[],
            body: Json(answer::<api::RunRequest>, true),
            ok: Ok200::Events(EventSet::Era),
            errors: &[400, 404, 409, 413, 415, 422, 429, 500, 502, 503],
        },
        Op {
            method: "post",
            path: "/api/sessions/{id}/cancel",
            id: "cancel",
            summary: "End the session's running run or setup",
            auth: true,
            query: &[],
            body: Body::None,
            ok: Ok200::Json(200, answer::<api::Cancelled>),
            errors: &[400, 404, 409, 500, 502, 503],
        },
        Op {
            method: "get",
            path: "/api/sessions/{id}/runs",
            id: "listRuns",
            summary: "Recent runs, newest first",
            auth: true,
            query: &[RUNS_LIMIT],
            body: Body::None,
            ok: Ok200::Json(200, answer::<api::RunList>),
            errors: &[400, 404, 500],
        },
        Op {
            method: "get",
            path: "/api/sessions/{id}/runs/{run_id}",
            id: "getRun",
            summary: "One of the last 20 runs' answers, by its run id",
            auth: true,
            query: &[],
            body: Body::None,
            ok: Ok200::Json(200, answer::<api::StoredAnswer>),
            errors: &[400, 404, 500],
        },
        Op {
            method: "post",
            path: "/api/sessions/{id}/setup",
            id: "setup",
            summary: "Replace the session's setup and run it in the background",
            auth: true,
            query: &[],
            body: Json(answer::<api::SetupRequest>, true),
            ok: Ok200::Json(202, answer::<api::Session>),
            errors: &[400, 404, 413, 415, 422, 500],
        },
        Op {
            method: "get",
            path: "/api/sessions/{id}/setup",
            id: "getSetup",
            summary: "The setup's status and log; with events, its output as it comes",
            auth: true,
            query: &[],
            body: Body::None,
            ok: Ok200::Json(200, answer::<api::Session>),
            errors: &[400, 404, 500],
        },
        Op {
            method: "post",
            path: "/api/sessions/{id}/duplicate",
            id: "duplicate",
            summary: "Copy the session",
            auth: true,
            query: &[],
            body: Json(answer::<api::DuplicateRequest>, false),
            ok: Ok200::Json(201, answer::<api::Session>),
            errors: &[400, 404, 409, 413, 415, 422, 500],
        },
        Op {
            method: "get",
            path: "/api/sessions/{id}/files",
            id: "listFiles",
            summary: "List the workspace's files and links",
            auth: true,
            query: &[],
            body: Body::None,
            ok: Ok200::Json(200, answer::<api::FileList>),
            errors: &[400, 404, 500],
        },
        Op {
            method: "get",
            path: "/api/sessions/{id}/files/{path}",
            id: "getFile",
            summary: "Download a file",
            auth: true,
            query: &[],
            body: Body::None,
            ok: Ok200::Bytes,
            errors: &[400, 404, 500],
        },
        Op {
            method: "put",
            path: "/api/sessions/{id}/files/{path}",
            id: "putFile",
            summary: "Upload a file (the raw body)",
            auth: true,
            query: &[],
            body: Raw,
            ok: Ok200::Json(200, answer::<api::Uploaded>),
            errors: &[400, 404, 409, 413, 500],
        },
        Op {
            method: "delete",
            path: "/api/sessions/{id}/files/{path}",
            id: "deleteFile",
            summary: "Delete a file or link",
            auth: true,
            query: &[],
            body: Body::None,
            ok: Ok200::Json(200, answer::<api::Deleted>),
            errors: &[400, 404, 500],
        },
        Op {
            method: "post",
            path: "/api/sessions/{id}/contexts",
            id: "createContext",
            summary: "Make a live interpreter context (python, node or typescript) whose variables outlive each run",
            auth: true,
            query: &[],
            body: Json(answer::<api::CreateContextRequest>, true),
            ok: Ok200::Json(201, answer::<api::ContextInfo>),
            errors: &[400, 404, 409, 413, 415, 422, 500],
        },
        Op {
            method: "get",
            path: "/api/sessions/{id}/contexts",
            id: "listContexts",
            summary: "The session's contexts",
            auth: true,
            query: &[],
            body: Body::None,
            ok: Ok200::Json(200, answer::<api::ContextList>),
            errors: &[400, 404, 500],
        },
        Op {
            method: "delete",
            path: "/api/sessions/{id}/contexts/{ctx}",
            id: "deleteContext",
            summary: "End a context and its interpreter",
            auth: true,
            query: &[],
            body: Body::None,
            ok: Ok200::Json(200, answer::<api::ContextDeleted>),
            errors: &[400, 404, 500],
        },
        Op {
            method: "post",
            path: "/api/sessions/{id}/processes",
            id: "startProcess",
            summary: "Start a background process that outlives the request (a dev server, a job)",
            auth: true,
            query: &[],
            body: Json(answer::<api::StartProcessRequest>, true),
            ok: Ok200::Json(201, answer::<api::ProcessInfo>),
            errors: &[400, 404, 409, 413, 415, 422, 500, 502, 503],
        },
        Op {
            method: "get",
            path: "/api/sessions/{id}/processes",
            id: "listProcesses",
            summary: "The session's background processes and how they are",
            auth: true,
            query: &[],
            body: Body::None,
            ok: Ok200::Json(200, answer::<api::ProcessList>),
            errors: &[400, 404, 500, 502, 503],
        },
        Op {
            method: "get",
            path: "/api/sessions/{id}/processes/{proc}",
            id: "getProcess",
            summary: "One background process",
            auth: true,
            query: &[],
            body: Body::None,
            ok: Ok200::Json(200, answer::<api::ProcessInfo>),
            errors: &[400, 404, 500, 502, 503],
        },
        Op {
            method: "delete",
            path: "/api/sessions/{id}/processes/{proc}",
            id: "deleteProcess",
            summary: "End a background process and everything it started",
            auth: true,
            query: &[],
            body: Body::None,
            ok: Ok200::Json(200, answer::<api::ProcessInfo>),
            errors: &[400, 404, 500, 502, 503],
        },
        Op {
            method: "get",
            path: "/api/sessions/{id}/processes/{proc}/logs",
            id: "processLogs",
            summary: "A background process's output (the last 1 MiB of each stream), or followed as events",
            auth: true,
            query: &[],
            body: Body::None,
            ok: Ok200::Json(200, answer::<api::ProcessLogs>),
            errors: &[400, 404, 409, 500, 502, 503],
        },
        Op {
            method: "post",
            path: "/api/sessions/{id}/processes/{proc}/stdin",
            id: "processInput",
            summary: "Write to a background process's standard input",
            auth: true,
            query: &[],
            body: Json(answer::<api::ProcessInput>, true),
            ok: Ok200::Json(200, answer::<api::ProcessInfo>),
            errors: &[400, 404, 409, 413, 415, 422, 500, 502, 503],
        },
        Op {
            method: "post",
            path: "/api/sessions/{id}/ports/{port}/url",
            id: "portUrl",
            summary: "A signed, expiring address of a port that works without the token",
            auth: true,
            query: &[],
            body: Json(answer::<api::PortUrlRequest>, false),
            ok: Ok200::Json(201, answer::<api::PortUrl>),
            errors: &[400, 404, 409, 413, 415, 422, 500],
        },
        Op {
            method: "get",
            path: "/api/sessions/{id}/ports/{port}/{app_path}",
            id: "port",
            summary: "The session's app listening on a port (any method: GET, POST, PUT, PATCH, DELETE, …)",
            auth: true,
            query: &[],
            body: Body::None,
            ok: Ok200::App,
            errors: &[400, 404, 502, 503],
        },
        Op {
            method: "post",
            path: "/api/execute",
            id: "execute",
            summary: "One-shot run; nothing is kept",
            auth: true,
            query: &[],
            body: Json(answer::<api::ExecuteRequest>, true),
            ok: Ok200::Json(200, answer::<api::RunResponse>),
            errors: &[400, 409, 413, 415, 422, 429, 500, 502, 503],
        },
    ]
}

/// The operation id of a parsed route. Exhaustive: a route added to the router fails to compile
/// here until the table describes it.
fn op_id(r: &Route) -> &'static str {
    match r {
        Route::Health => "health",
        Route::Playground(super::route::Asset::Page) => "playground",
        Route::Playground(super::route::Asset::Script) => "playgroundScript",
        Route::Playground(super::route::Asset::Style) => "playgroundStyle",
        Route::Mcp(super::mcp::Flavor::Edgerun) => "mcp",
        Route::Mcp(super::mcp::Flavor::Era) => "mcpEra",
        Route::OpenApi => "openapi",
        Route::Plugin => "plugin",
        Route::CreateSession => "createSession",
        Route::ListSessions => "listSessions",
        Route::DeleteAllSessions => "deleteAllSessions",
        Route::GetSession(_) => "getSession",
        Route::PatchSession(_) => "patchSession",
        Route::DeleteSession(_) => "deleteSession",
        Route::PutCode(_) => "putCode",
        Route::GetCode(_) => "getCode",
        Route::Run(_) => "run",
        Route::Runs(_) => "listRuns",
        Route::StreamRun(_) => "streamRun",
        Route::Cancel(_) => "cancel",
        Route::GetRun(..) => "getRun",
        Route::Setup(_) => "setup",
        Route::GetSetup(_) => "getSetup",
        Route::Duplicate(_) => "duplicate",
        Route::ListFiles(_) => "listFiles",
        Route::GetFile(..) => "getFile",
        Route::PutFile(..) => "putFile",
        Route::DeleteFile(..) => "deleteFile",
        Route::CreateContext(_) => "createContext",
        Route::ListContexts(_) => "listContexts",
        Route::DeleteContext(..) => "deleteContext",
        Route::StartProcess(_) => "startProcess",
        Route::ListProcesses(_) => "listProcesses",
        Route::GetProcess(..) => "getProcess",
        Route::DeleteProcess(..) => "deleteProcess",
        Route::ProcessLogs(..) => "processLogs",
        Route::ProcessInput(..) => "processInput",
        Route::Port(..) => "port",
        Route::PortUrl(..) => "portUrl",
        Route::Execute => "execute",
    }
}

/// A process id for the coverage checks.
const PROC: &str = "proc_0123456789abcdef01234567";

/// One of each route, for the coverage check.
fn every_route() -> Vec<Route> {
    let (s, f) = (|| "s".to_string(), || "f".to_string());
    vec![
        Route::Health,
        Route::OpenApi,
        Route::Playground(super::route::Asset::Page),
        Route::Playground(super::route::Asset::Script),
        Route::Playground(super::route::Asset::Style),
        Route::Mcp(super::mcp::Flavor::Edgerun),
        Route::Mcp(super::mcp::Flavor::Era),
        Route::Plugin,
        Route::CreateSession,
        Route::ListSessions,
        Route::DeleteAllSessions,
        Route::GetSession(s()),
        Route::PatchSession(s()),
        Route::DeleteSession(s()),
        Route::PutCode(s()),
        Route::GetCode(s()),
        Route::Run(s()),
        Route::Runs(s()),
        Route::StreamRun(s()),
        Route::Cancel(s()),
        Route::GetRun(s(), "run_0123456789abcdef01234567".into()),
        Route::Setup(s()),
        Route::GetSetup(s()),
        Route::Duplicate(s()),
        Route::ListFiles(s()),
        Route::GetFile(s(), f()),
        Route::PutFile(s(), f()),
        Route::DeleteFile(s(), f()),
        Route::Execute,
        Route::CreateContext(s()),
        Route::ListContexts(s()),
        Route::DeleteContext(s(), "ctx_0123456789abcdef01234567".into()),
        Route::StartProcess(s()),
        Route::ListProcesses(s()),
        Route::GetProcess(s(), PROC.into()),
        Route::DeleteProcess(s(), PROC.into()),
        Route::ProcessLogs(s(), PROC.into()),
        Route::ProcessInput(s(), PROC.into()),
        Route::Port(s(), 8000, "/".into()),
        Route::PortUrl(s(), 8000),
    ]
}

fn status_text(status: u16) -> &'static str {
    match status {
        400 => "A bad value (`bad_request`) or a body that is not JSON (`invalid_json`).",
        401 => "`API_TOKEN` is set and the bearer token is missing or wrong.",
        403 => "Open API (no `API_TOKEN`): a cross-site `Origin`.",
        404 => "No such route, session or file.",
        405 => "A known path with another method; the message names the allowed ones.",
        409 => "A conflict with the session's state (`conflict`), or the sandbox lost the workspace twice (`workspace_stale`): retry.",
        413 => "A body, `code`, `data`, `metadata`, file or workspace over its limit.",
        415 => "A JSON route got a body not declared `application/json`.",
        422 => "Valid JSON, but not an object, or a field missing or of the wrong type.",
        429 => "16 runs already wait on this session; retry later.",
        500 => "Storage failed; nothing of the request was kept.",
        502 => "The sandbox's answer was refused; nothing was kept.",
        503 => "No sandbox answered; nothing was kept.",
        _ => panic!("no description for status {status}"),
    }
}

/// The codes an error answer of `status` can carry.
fn codes_of(status: u16) -> Vec<&'static str> {
    api::ERROR_CODES.iter().filter(|c| c.status() == status).map(|c| c.as_str()).collect()
}

fn error_statuses() -> Vec<u16> {
    let mut s: Vec<u16> = api::ERROR_CODES.iter().map(|c| c.status()).collect();
    s.sort_unstable();
    s.dedup();
    s
}

fn error_response(status: u16) -> Value {
    json!({
        "description": status_text(status),
        "content": {"application/json": {"schema": {
            "allOf": [
                {"$ref": "#/components/schemas/Error"},
                {"type": "object", "properties": {"code": {"type": "string", "enum": codes_of(status)}}}
            ]
        }}}
    })
}

fn err_ref(status: u16) -> Value {
    json!({"$ref": format!("#/components/responses/Error{status}")})
}

fn path_params(path: &str) -> Vec<Value> {
    let mut out = Vec::new();
    if path.contains("{id}") {
        out.push(json!({"$ref": "#/components/parameters/SessionId"}));
    }
    if path.contains("{path}") {
        out.push(json!({"$ref": "#/components/parameters/FilePath"}));
    }
    if path.contains("{run_id}") {
        out.push(json!({"$ref": "#/components/parameters/RunId"}));
    }
    if path.contains("{ctx}") {
        out.push(json!({"$ref": "#/components/parameters/ContextId"}));
    }
    if path.contains("{app_path}") {
        out.push(json!({"$ref": "#/components/parameters/AppPath"}));
    }
    if path.contains("{port}") {
        out.push(json!({"$ref": "#/components/parameters/Port"}));
    }
    if path.contains("{proc}") {
        out.push(json!({"$ref": "#/components/parameters/ProcessId"}));
    }
    out
}

fn operation(op: &Op, out: &mut SchemaGenerator, inp: &mut SchemaGenerator) -> Value {
    let mut o = Map::new();
    o.insert("operationId".into(), json!(op.id));
    o.insert("summary".into(), json!(op.summary));
    o.insert("description".into(), json!(format!("See docs/api.md for `{} {}`.", op.method.to_uppercase(), op.path)));
    let mut params = path_params(op.path);
    for q in op.query {
        params.push(json!({"name": q.name, "in": "query", "required": q.required, "description": q.description, "schema": (q.schema)()}));
    }
    if !params.is_empty() {
        o.insert("parameters".into(), Value::Array(params));
    }
    match &op.body {
        Body::None => {}
        Body::Json(schema, required) => {
            let mut rb = json!({
                "required": required,
                "content": {"application/json": {"schema": schema(inp)}}
            });
            if !required {
                rb["description"] = json!("May be empty (no `content-type` needed then).");
            }
            o.insert("requestBody".into(), rb);
        }
        Body::Raw => {
            o.insert(
                "requestBody".into(),
                json!({
                    "required": true,
                    "description": "The file's exact bytes, at most 100 MiB; any content type (it is ignored).",
                    "content": {"application/octet-stream": {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}}
                }),
            );
        }
    }
    let mut responses = Map::new();
    match &op.ok {
        Ok200::Json(status, schema) => {
            let desc = match status {
                201 => "Created.",
                202 => "Accepted: the setup is scheduled.",
                _ => "OK.",
            };
            let mut content = json!({"application/json": {"schema": schema(out)}});
            if let Some(exit) = streams(op.id) {
                content["text/event-stream"] = sse_content(EventSet::Api, exit);
            }
            responses.insert(status.to_string(), json!({"description": desc, "content": content}));
        }
        Ok200::Mcp => {
            let rpc = json!({"type": "object", "required": ["jsonrpc"], "properties": {"jsonrpc": {"const": "2.0"}}, "description": "A JSON-RPC 2.0 response: `result`, or `error` for a malformed message, an unknown method or an unknown tool."});
            responses.insert(
                "200".into(),
                json!({"description": "The response to a request.", "content": {
                    "application/json": {"schema": rpc},
                    "text/event-stream": {"schema": {"type": "string", "description": "For a tools/call with a progressToken from a client that accepts events: `notifications/progress` messages carrying the run's output, then the response; each a `message` event."}}
                }}),
            );
            responses.insert("202".into(), json!({"description": "A notification or a response was accepted; no body."}));
        }
        Ok200::Static(media) => {
            let mut content = Map::new();
            content.insert(media.to_string(), json!({"schema": {"type": "string"}}));
            responses.insert("200".into(), json!({"description": "The file.", "content": content}));
        }
        Ok200::Events(set) => {
            responses.insert(
                "200".into(),
                json!({"description": "The run's events, as they happen.", "content": {"text/event-stream": sse_content(*set, "RunResponse")}}),
            );
        }
        Ok200::App => {
            responses.insert(
                "200".into(),
                json!({
                    "description": "What the app listening on the port answered, as it answered it: any status, headers and body (streamed). Errors of the route itself (no such session, a bad port, nothing listening: 502 within 1 s) are in the API's JSON error shape.",
                    "content": {"*/*": {"schema": {"type": "string"}}}
                }),
            );
        }
        Ok200::Bytes => {
            responses.insert(
                "200".into(),
                json!({
                    "description": "The file's exact bytes, streamed. The content type is guessed from the name; the answer carries `x-content-type-options: nosniff` and `content-security-policy: sandbox`, and all but inert types an attachment `content-disposition`.",
                    "content": {"application/octet-stream": {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}}
                }),
            );
        }
        Ok200::Document => {
            responses.insert(
                "200".into(),
                json!({
                    "description": "This OpenAPI 3.1 document (the committed docs/openapi.json).",
                    "content": {"application/json": {"schema": {
                        "type": "object",
                        "required": ["openapi", "info", "paths", "components"],
                        "properties": {
                            "openapi": {"type": "string", "const": "3.1.0"},
                            "info": {"type": "object"},
                            "servers": {"type": "array"},
                            "security": {"type": "array"},
                            "paths": {"type": "object"},
                            "components": {"type": "object"},
                            "x-unrouted": {"type": "object"}
                        },
                        "additionalProperties": false
                    }}}
                }),
            );
        }
    }
    let mut errors: Vec<u16> = op.errors.to_vec();
    if op.auth {
        errors.extend([401, 403]);
    }
    errors.sort_unstable();
    errors.dedup();
    for s in errors {
        responses.insert(s.to_string(), err_ref(s));
    }
    o.insert("responses".into(), Value::Object(responses));
    o.insert("security".into(), if op.auth { json!([{"bearer": []}]) } else { json!([]) });
    Value::Object(o)
}

fn generator(serialize: bool) -> SchemaGenerator {
    let settings = SchemaSettings::draft2020_12().with(|s| {
        s.definitions_path = "/components/schemas".into();
        s.meta_schema = None;
    });
    if serialize {
        settings.for_serialize().into_generator()
    } else {
        settings.for_deserialize().into_generator()
    }
}

/// Objects with their keys sorted, whatever serde_json's map keeps, so the file is stable.
fn canonical(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut pairs: Vec<(String, Value)> = m.into_iter().collect();
            pairs.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(pairs.into_iter().map(|(k, v)| (k, canonical(v))).collect())
        }
        Value::Array(a) => Value::Array(a.into_iter().map(canonical).collect()),
        v => v,
    }
}

/// The whole document.
fn document() -> Value {
    // Answers are described as serialized (every field always written is required), requests as
    // deserialized (optional fields, unknown ones ignored).
    let mut out = generator(true);
    let mut inp = generator(false);
    let error = answer::<api::Error>(&mut out);
    assert_eq!(error, json!({"$ref": "#/components/schemas/Error"}));
    // The event schemas the `x-events` of streamed answers point at.
    for events in [answer::<api::OutputEvent>, answer::<api::RunStartedEvent>, answer::<api::PluginAnswer>, answer::<api::RunResponse>] {
        events(&mut out);
    }
    let mut paths = Map::new();
    for op in table() {
        let item = paths.entry(op.path.to_string()).or_insert_with(|| json!({}));
        item[op.method] = operation(&op, &mut out, &mut inp);
    }
    let mut schemas = out.take_definitions(true);
    for (name, schema) in inp.take_definitions(true) {
        if let Some(existing) = schemas.get(&name) {
            assert_eq!(existing, &schema, "{name} is both a request and an answer type, described differently");
        }
        schemas.insert(name, schema);
    }
    for (name, schema) in era_event_schemas() {
        schemas.insert(name.to_string(), schema);
    }
    // ERA's `done`: the run answer's fields and `"type": "done"`.
    let mut done = schemas["RunResponse"].clone();
    done["properties"]["type"] = json!({"const": "done"});
    done["required"].as_array_mut().expect("RunResponse lists its required fields").insert(0, json!("type"));
    done["description"] = json!("ERA's last event: the run answer's fields, with `\"type\": \"done\"`.");
    schemas.insert("EraDoneEvent".into(), done);
    let responses: Map<String, Value> = error_statuses().into_iter().map(|s| (format!("Error{s}"), error_response(s))).collect();
    let description = "Stateful code sessions on the edge: send code over HTTP, it runs in a sandbox whose files, packages and data \
        are kept from one request to the next. The reference in prose is docs/api.md. Generated from the code (src/core/api.rs, \
        src/core/openapi.rs); never edit by hand.\n\nWith `API_TOKEN` set, every route but `GET /health` and `GET /openapi.json` \
        needs `Authorization: Bearer <API_TOKEN>`; without it the API is open but refuses cross-site browser requests (403). \
        Every error answer is `{\"error\", \"code\"}`; `code` fixes the status. A request that names no route (`x-unrouted`) \
        gets 404, 405 for another method on a known path, or 400 for a malformed id or file path in the URL.";
    let doc = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "edgerun",
            "version": env!("CARGO_PKG_VERSION"),
            "description": description,
            "license": {"name": "MIT", "identifier": "MIT"}
        },
        "servers": [{"url": "http://localhost:8787", "description": "npm run dev"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": responses,
            "parameters": {
                "SessionId": {
                    "name": "id", "in": "path", "required": true,
                    "description": "The session id (percent-decoded once).",
                    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}
                },
                "FilePath": {
                    "name": "path", "in": "path", "required": true,
                    "description": "The rest of the URL after `/files/`: a relative, `/`-separated path, percent-decoded once (`a%2Fb` is `a/b`). It may span several segments.",
                    "x-multi-segment": true,
                    "schema": {"type": "string", "minLength": 1, "maxLength": 4096}
                },
                "RunId": {
                    "name": "run_id", "in": "path", "required": true,
                    "description": "A run id from a run answer (`run_id`).",
                    "schema": {"type": "string", "pattern": "^run_[0-9a-f]{24}$"}
                },
                "ContextId": {
                    "name": "ctx", "in": "path", "required": true,
                    "description": "A context id from `POST …/contexts` (`id`).",
                    "schema": {"type": "string", "pattern": "^ctx_[0-9a-f]{24}$"}
                },
                "AppPath": {
                    "name": "app_path", "in": "path", "required": true,
                    "description": "The rest of the URL's path, passed to the app as it was sent (with the query); `…/ports/{port}/` is the app's `/`.",
                    "x-multi-segment": true,
                    "schema": {"type": "string"}
                },
                "Port": {
                    "name": "port", "in": "path", "required": true,
                    "description": "A port the session's app listens on, inside the session's network namespace.",
                    "schema": {"type": "integer", "minimum": 1024, "maximum": 65535}
                },
                "ProcessId": {
                    "name": "proc", "in": "path", "required": true,
                    "description": "A process id from `POST …/processes` (`id`).",
                    "schema": {"type": "string", "pattern": "^proc_[0-9a-f]{24}$"}
                }
            },
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "`API_TOKEN`, when it is set."}
            }
        },
        "x-unrouted": {
            "description": "What a request answers when its path matches no route (400 for a malformed id or path in the URL, else 404), or its method is not one of the path's (405).",
            "responses": {"400": err_ref(400), "404": err_ref(404), "405": err_ref(405)}
        }
    });
    canonical(doc)
}

fn rendered() -> String {
    let mut s = serde_json::to_string_pretty(&document()).expect("serializes");
    s.push('\n');
    s
}

#[test]
fn the_table_covers_every_route_and_reaches_it() {
    let table = table();
    for r in every_route() {
        assert!(table.iter().any(|op| op.id == op_id(&r)), "{r:?} is not in the table");
    }
    for op in &table {
        let path = op
            .path
            .replace("{id}", "s1")
            .replace("{path}", "dir/a.txt")
            .replace("{run_id}", "run_0123456789abcdef01234567")
            .replace("{ctx}", "ctx_0123456789abcdef01234567")
            .replace("{proc}", PROC)
            .replace("{port}", "8000")
            .replace("{app_path}", "index.html");
        let route = parse(&op.method.to_uppercase(), &path).unwrap_or_else(|e| panic!("{} {path}: {e}", op.method));
        assert_eq!(op_id(&route), op.id, "{} {path}", op.method);
        assert_eq!(
            op.auth,
            !matches!(route, Route::Health | Route::OpenApi | Route::Playground(_)),
            "{}: only /health, /openapi.json and the playground's files are open",
            op.id
        );
    }
    let mut ids: Vec<&str> = table.iter().map(|op| op.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), table.len(), "operation ids are unique");
}

#[test]
fn every_error_code_and_status_is_described() {
    let doc = document();
    let responses = doc["components"]["responses"].as_object().unwrap();
    let mut listed: Vec<String> = Vec::new();
    for (name, r) in responses {
        let status: u16 = name.trim_start_matches("Error").parse().unwrap();
        for c in r["content"]["application/json"]["schema"]["allOf"][1]["properties"]["code"]["enum"].as_array().unwrap() {
            let code: ErrorCode = serde_json::from_value(c.clone()).unwrap();
            assert_eq!(code.status(), status, "{code:?}");
            listed.push(code.as_str().to_string());
        }
    }
    listed.sort();
    let mut all: Vec<String> = api::ERROR_CODES.iter().map(|c| c.as_str().to_string()).collect();
    all.sort();
    assert_eq!(listed, all);
    // every status an operation refers to has its response
    for item in doc["paths"].as_object().unwrap().values() {
        for op in item.as_object().unwrap().values() {
            for (status, r) in op["responses"].as_object().unwrap() {
                if let Some(target) = r["$ref"].as_str() {
                    assert_eq!(target, format!("#/components/responses/Error{status}"));
                    assert!(responses.contains_key(&format!("Error{status}")), "{status}");
                }
            }
        }
    }
}

#[test]
fn answer_schemas_are_closed_and_list_their_required_fields() {
    let doc = document();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in [
        "Health",
        "Session",
        "SessionSummary",
        "SessionList",
        "RunResponse",
        "PluginAnswer",
        "RunEntry",
        "RunList",
        "FileInfo",
        "FileList",
        "Uploaded",
        "Deleted",
        "DeletedAll",
        "StoredCode",
        "Error",
        "ContextInfo",
        "ContextList",
        "ContextDeleted",
        "RichOutput",
        "ProcessInfo",
        "ProcessList",
        "ProcessLogs",
        "PortUrl",
    ] {
        let s = &schemas[name];
        assert_eq!(s["additionalProperties"], json!(false), "{name}");
        let props: Vec<&String> = s["properties"].as_object().unwrap().keys().collect();
        let required: Vec<&str> = s["required"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
        for p in props {
            let optional = matches!(
                (name, p.as_str()),
                ("RunResponse", "session_id")
                    | ("PluginAnswer", "error")
                    | ("RunResponse" | "PluginAnswer", "context" | "result" | "outputs" | "restored" | "restore_error" | "lost")
                    | ("RunResponse" | "PluginAnswer", "cpu_ms" | "peak_memory_bytes")
            );
            assert_eq!(required.contains(&p.as_str()), !optional, "{name}.{p}");
        }
    }
    // Requests are open: unknown fields are ignored.
    for name in [
        "RunRequest",
        "PluginRequest",
        "CreateSessionRequest",
        "ExecuteRequest",
        "SetupRequest",
        "DuplicateRequest",
        "PatchSessionRequest",
        "StoreCodeRequest",
        "StartProcessRequest",
        "ProcessInput",
        "PortUrlRequest",
    ] {
        assert!(schemas[name].get("additionalProperties").is_none(), "{name}");
    }
    assert_eq!(schemas["RunRequest"].get("required"), None, "without `code`, the stored code runs");
    assert_eq!(schemas["ExecuteRequest"]["required"], json!(["language", "code"]));
    assert_eq!(schemas["StoreCodeRequest"]["required"], json!(["code"]));
    assert_eq!(schemas["PatchSessionRequest"].get("required"), None, "every field of a PATCH is optional");
    assert_eq!(schemas["CreateSessionRequest"]["required"], json!(["language"]));
}

#[test]
fn refs_point_into_components() {
    fn walk(v: &Value, doc: &Value) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    let ptr = r.strip_prefix('#').unwrap_or_else(|| panic!("{r} is not local"));
                    assert!(ptr.starts_with("/components/"), "{r}");
                    assert!(doc.pointer(ptr).is_some(), "{r} points at nothing");
                }
                m.values().for_each(|x| walk(x, doc));
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, doc)),
            _ => {}
        }
    }
    let doc = document();
    walk(&doc, &doc);
}

#[test]
fn the_committed_document_is_the_generated_one() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(DOC_PATH);
    let want = rendered();
    if std::env::var_os("UPDATE_OPENAPI").is_some_and(|v| v == "1") {
        std::fs::write(&path, &want).expect("writes docs/openapi.json");
        return;
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    if have != want {
        let line = have.lines().zip(want.lines()).position(|(a, b)| a != b).unwrap_or(have.lines().count().min(want.lines().count()));
        panic!(
            "{DOC_PATH} differs from what the code generates (first at line {}: {:?} vs generated {:?}); \
             run `UPDATE_OPENAPI=1 cargo test -p edgerun --features schema openapi` and commit it",
            line + 1,
            have.lines().nth(line).unwrap_or(""),
            want.lines().nth(line).unwrap_or("")
        );
    }
}

/// The MCP tool list, generated from the tools' input types (`core::tools`), self-contained
/// schemas (MCP clients resolve no `$ref`), committed as `docs/mcp-tools.json` and served by the
/// Worker's MCP endpoints.
fn mcp_tools() -> Value {
    use super::mcp::Flavor;
    use super::tools::{input_schema, table};
    let settings = SchemaSettings::draft2020_12().with(|s| {
        s.inline_subschemas = true;
        s.meta_schema = None;
    });
    let mut doc = Map::new();
    for (key, flavor) in [("edgerun", Flavor::Edgerun), ("era", Flavor::Era)] {
        let tools: Vec<Value> = table(flavor)
            .iter()
            .map(|(name, action, description)| {
                let mut g = SchemaGenerator::new(settings.clone());
                let mut schema = input_schema(&mut g, *action).to_value();
                if let Some(o) = schema.as_object_mut() {
                    o.remove("title");
                }
                json!({"name": name, "description": description, "inputSchema": schema})
            })
            .collect();
        doc.insert(key.into(), Value::Array(tools));
    }
    canonical(Value::Object(doc))
}

#[test]
fn the_committed_mcp_tool_list_is_what_the_code_generates() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/mcp-tools.json");
    let generated = serde_json::to_string_pretty(&mcp_tools()).unwrap() + "\n";
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(committed == generated, "docs/mcp-tools.json is stale: run UPDATE_OPENAPI=1 cargo test -p edgerun --features schema");
    // Every input is an object schema without references, as MCP clients expect.
    let doc: Value = serde_json::from_str(&committed).unwrap();
    for t in doc["edgerun"].as_array().unwrap().iter().chain(doc["era"].as_array().unwrap()) {
        assert_eq!(t["inputSchema"]["type"], "object", "{}", t["name"]);
        assert!(!t["inputSchema"].to_string().contains("$ref"), "{} has a $ref", t["name"]);
    }
}
