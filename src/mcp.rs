//! The MCP endpoints: `POST /mcp` (edgerun's tools) and `POST /mcp/v1` (ERA's tools, for ERA's
//! clients), the Streamable HTTP transport with one JSON-RPC message per request. Answers are
//! JSON, except a tool call that sent a progress token from a client that accepts events: its
//! answer is Server-Sent Events, `notifications/progress` carrying the run's output as it comes,
//! then the response. The server keeps no MCP session (no `Mcp-Session-Id`): every request stands
//! alone, and `GET` (a server-initiated stream) is a 405, as the specification allows.
//!
//! Each tool is an API operation: its arguments go through that route's own parser and its answer
//! comes from the same session object, so a tool refuses what the route refuses.
use crate::core::error::{ApiError, ApiResult};
use crate::core::ids::{check_file_path, check_session_id};
use crate::core::mcp::{self, Call, Flavor, Message};
use crate::core::request::{language, parse_create, parse_limit, parse_object, parse_run, parse_setup, req_str, CodeSource};
use crate::core::sse::{self, Form};
use crate::core::tools::{action, Action, Encoding};
use crate::ops::SessionOp;
use crate::platform::{json_response, random_hex};
use crate::registry::client as registry;
use crate::rpc::{internal, session as forward, session_upload};
use base64::Engine;
use edgerun_protocol::ErrorCode;
use serde_json::{json, Map, Value};
use std::rc::Rc;
use worker::{Env, Request, Response};

/// The tool list, generated from the tools' input types (`core::tools`) by the schema tests.
const TOOLS_JSON: &str = include_str!("../docs/mcp-tools.json");

/// Largest file `read_file` answers (larger ones: the files API).
const MAX_READ_BYTES: usize = 8 * 1024 * 1024;

/// How long `install_packages` waits for the setup by default (it runs on after that).
const INSTALL_WAIT_MS: f64 = 300_000.0;

/// Answers one MCP request.
pub async fn handle(req: Request, env: &Env, flavor: Flavor, body: Vec<u8>) -> ApiResult<Response> {
    let events = req.headers().get("accept").ok().flatten().is_some_and(|a| a.contains("text/event-stream"));
    let msg = match mcp::parse(&body) {
        Ok(m) => m,
        Err(e) => return json_response(200, &e).map_err(internal),
    };
    let Message::Request { id, method, params } = msg else {
        // Notifications and responses: accepted, nothing to answer.
        return Response::empty().map(|r| r.with_status(202)).map_err(internal);
    };
    let tools_doc: Value = serde_json::from_str(TOOLS_JSON).expect("the generated tool list is JSON");
    let tools = mcp::tools(&tools_doc, flavor);
    let result = match method.as_str() {
        "initialize" => mcp::initialize(flavor, &params, env!("CARGO_PKG_VERSION")),
        "ping" => json!({}),
        "tools/list" => tools,
        "resources/list" => json!({"resources": []}),
        "resources/templates/list" => json!({"resourceTemplates": []}),
        "tools/call" => {
            let call = match mcp::call(&params, &tools) {
                Ok(c) => c,
                Err((code, m)) => return json_response(200, &mcp::error(&id, code, &m)).map_err(internal),
            };
            let act = action(flavor, &call.name).expect("listed tools have actions");
            if let (Some(token), true, Action::RunCode | Action::Execute) = (&call.progress, events, act) {
                return progress_stream(env.clone(), id, act, call.arguments.clone(), token.clone());
            }
            let origin = req.url().map(|u| u.origin().ascii_serialization()).unwrap_or_default();
            tool(env, flavor, act, &call, &origin).await
        }
        other => return json_response(200, &mcp::error(&id, mcp::METHOD_NOT_FOUND, &format!("no method {other:?}"))).map_err(internal),
    };
    json_response(200, &mcp::response(&id, result)).map_err(internal)
}

/// A tool call's result; refused arguments and failed operations are `isError` results.
async fn tool(env: &Env, flavor: Flavor, act: Action, call: &Call, origin: &str) -> Value {
    match run_tool(env, flavor, act, &call.arguments, origin).await {
        Ok(v) => v,
        Err(e) => mcp::tool_error(&format!("{} ({})", e.message, e.code.as_str())),
    }
}

/// The session id argument.
fn session_arg(args: &Map<String, Value>) -> ApiResult<String> {
    let sid = req_str(args, "session_id")?.to_string();
    check_session_id(&sid)?;
    Ok(sid)
}

/// The arguments without `keys`, as the JSON body the route parses.
fn body_without(args: &Map<String, Value>, keys: &[&str]) -> Vec<u8> {
    let mut m = args.clone();
    for k in keys {
        m.remove(*k);
    }
    serde_json::to_vec(&Value::Object(m)).expect("JSON serializes")
}

/// An object's answer as JSON; an error answer becomes the error it carries.
async fn json_of(mut resp: Response) -> ApiResult<Value> {
    let status = resp.status_code();
    let bytes = resp.bytes().await.map_err(internal)?;
    if !(200..300).contains(&status) {
        return Err(ApiError::from_body(status, &bytes));
    }
    serde_json::from_slice(&bytes).map_err(|e| ApiError::new(ErrorCode::Internal, format!("answer: {e}")))
}

fn json_text(v: &Value) -> String {
    serde_json::to_string_pretty(v).expect("JSON serializes")
}

/// The spec of a run tool: (session id, the op to send).
fn run_op(act: Action, args: &Map<String, Value>, stream: Option<Form>) -> ApiResult<(String, SessionOp)> {
    match act {
        Action::RunCode => {
            let sid = session_arg(args)?;
            let fresh = match args.get("fresh") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => return Err(ApiError::invalid_field("`fresh` must be a boolean")),
            };
            let mut spec = parse_run(&body_without(args, &["session_id", "fresh"]), None, CodeSource::OrStored)?;
            if spec.code.is_none() {
                return Err(ApiError::invalid_field("`code` is required"));
            }
            // In the session's default context unless told otherwise: variables survive calls.
            spec.default_context = true;
            spec.fresh = fresh;
            Ok((sid, SessionOp::Run { spec, idempotency: None, stream }))
        }
        _ => {
            let lang = language(req_str(args, "language")?)?;
            let spec = parse_run(&body_without(args, &[]), Some(lang), CodeSource::Required)?;
            Ok((format!("exec_{}", &random_hex()[..32]), SessionOp::Execute { spec, stream }))
        }
    }
}

async fn run_tool(env: &Env, flavor: Flavor, act: Action, args: &Map<String, Value>, origin: &str) -> ApiResult<Value> {
    match act {
        Action::CreateSession => {
            let mut body = args.clone();
            if flavor == Flavor::Era && !body.contains_key("id") && !body.contains_key("session_id") {
                // ERA's clients read the id back with [a-zA-Z0-9-]: no underscore in it.
                body.insert("id".into(), json!(format!("era-{}", random_hex())));
            }
            let mut spec = parse_create(&serde_json::to_vec(&Value::Object(body)).expect("JSON serializes"))?;
            let sid = spec.id.get_or_insert_with(|| format!("sess_{}", random_hex())).clone();
            let created = json_of(crate::entry::create_session(env, &sid, spec).await?).await?;
            Ok(mcp::tool_result(&[format!("Session ID: {sid}"), json_text(&created)], Some(created), false))
        }
        Action::RunCode | Action::Execute => {
            let (sid, op) = run_op(act, args, None)?;
            Ok(mcp::run_result(&json_of(forward(env, &sid, &op).await?).await?))
        }
        Action::ListSessions => {
            let limit = match args.get("limit") {
                None | Some(Value::Null) => None,
                Some(v) => Some(v.to_string()),
            };
            let limit = parse_limit(limit.as_deref(), 100, 1000)?;
            let cursor = args.get("cursor").and_then(Value::as_str);
            let page = registry::list(env, limit, cursor).await?;
            let list = serde_json::to_value(crate::core::api::SessionList::new(page.sessions, page.cursor)).expect("serializes");
            let ids: Vec<&str> = list["sessions"].as_array().into_iter().flatten().filter_map(|s| s["id"].as_str()).collect();
            Ok(mcp::tool_result(&[format!("{} sessions: {}", ids.len(), ids.join(", ")), json_text(&list)], Some(list.clone()), false))
        }
        Action::GetSession => {
            let s = json_of(forward(env, &session_arg(args)?, &SessionOp::Get).await?).await?;
            Ok(mcp::tool_result(&[json_text(&s)], Some(s), false))
        }
        Action::DeleteSession => {
            let d = json_of(crate::entry::delete_session(env, &session_arg(args)?).await?).await?;
            Ok(mcp::tool_result(&[json_text(&d)], Some(d), false))
        }
        Action::ListFiles => {
            let f = json_of(forward(env, &session_arg(args)?, &SessionOp::ListFiles).await?).await?;
            let paths: Vec<&str> = f["files"].as_array().into_iter().flatten().filter_map(|e| e["path"].as_str()).collect();
            Ok(mcp::tool_result(&[paths.join("\n"), json_text(&f)], Some(f.clone()), false))
        }
        Action::ReadFile => read_file(env, args).await,
        Action::WriteFile => {
            let sid = session_arg(args)?;
            let path = req_str(args, "path")?.to_string();
            check_file_path(&path)?;
            let content = req_str(args, "content")?;
            let encoding: Option<Encoding> = match args.get("encoding") {
                None | Some(Value::Null) => None,
                Some(v) => Some(serde_json::from_value(v.clone()).map_err(|_| ApiError::bad("`encoding` must be utf8 or base64"))?),
            };
            let bytes = match encoding {
                Some(Encoding::Base64) => base64::engine::general_purpose::STANDARD
                    .decode(content)
                    .map_err(|e| ApiError::bad(format!("`content` is not base64: {e}")))?,
                _ => content.as_bytes().to_vec(),
            };
            let op = SessionOp::PutFile { path, length: bytes.len() as u64 };
            let body = js_sys::Uint8Array::from(bytes.as_slice()).into();
            let up = json_of(session_upload(env, &sid, &op, body).await?).await?;
            Ok(mcp::tool_result(&[json_text(&up)], Some(up), false))
        }
        Action::DeleteFile => {
            let sid = session_arg(args)?;
            let path = req_str(args, "path")?.to_string();
            check_file_path(&path)?;
            let d = json_of(forward(env, &sid, &SessionOp::DeleteFile { path }).await?).await?;
            Ok(mcp::tool_result(&[json_text(&d)], Some(d), false))
        }
        Action::Install => install(env, args).await,
        Action::CreateContext => {
            let sid = session_arg(args)?;
            let language = crate::core::contexts::parse_create(&body_without(args, &["session_id"]))?;
            let c = json_of(forward(env, &sid, &SessionOp::CreateContext { language }).await?).await?;
            Ok(mcp::tool_result(&[format!("Context ID: {}", c["id"].as_str().unwrap_or("")), json_text(&c)], Some(c), false))
        }
        Action::DeleteContext => {
            let sid = session_arg(args)?;
            let ctx = req_str(args, "context")?.to_string();
            if !edgerun_protocol::valid_context_id(&ctx) {
                return Err(ApiError::bad(format!("invalid context id {ctx:?}: context ids are `ctx_` and 24 hex digits")));
            }
            let d = json_of(forward(env, &sid, &SessionOp::DeleteContext { ctx }).await?).await?;
            Ok(mcp::tool_result(&[json_text(&d)], Some(d), false))
        }
        Action::StartProcess => {
            let sid = session_arg(args)?;
            let spec = crate::core::processes::parse_start(&body_without(args, &["session_id"]))?;
            let p = json_of(forward(env, &sid, &SessionOp::StartProcess { spec }).await?).await?;
            Ok(mcp::tool_result(&[format!("Process ID: {}", p["id"].as_str().unwrap_or("")), json_text(&p)], Some(p), false))
        }
        Action::ProcessLogs | Action::StopProcess => {
            let sid = session_arg(args)?;
            let proc = req_str(args, "process")?.to_string();
            if !edgerun_protocol::valid_process_id(&proc) {
                return Err(ApiError::bad(format!("invalid process id {proc:?}: process ids are `proc_` and 24 hex digits")));
            }
            if act == Action::StopProcess {
                let d = json_of(forward(env, &sid, &SessionOp::DeleteProcess { proc }).await?).await?;
                return Ok(mcp::tool_result(&[json_text(&d)], Some(d), false));
            }
            let l = json_of(forward(env, &sid, &SessionOp::ProcessLogs { proc, stream: None }).await?).await?;
            let p = &l["process"];
            let head = format!("status: {}, exit_code: {}, killed_by: {}", p["status"], p["exit_code"], p["killed_by"]);
            let texts = [
                head,
                format!("stdout:\n{}", l["stdout"].as_str().unwrap_or("")),
                format!("stderr:\n{}", l["stderr"].as_str().unwrap_or("")),
            ];
            Ok(mcp::tool_result(&texts, Some(l), false))
        }
        Action::PortUrl => {
            let sid = session_arg(args)?;
            let port = match args.get("port") {
                Some(Value::Number(n)) => crate::core::route::parse_port(&n.to_string())?,
                _ => return Err(ApiError::invalid_field("`port` is required: a number from 1024 to 65535")),
            };
            let expires_in = crate::core::ports::parse_url_request(&body_without(args, &["session_id", "port"]))?;
            let u = json_of(crate::entry::port_url(env, &sid, port, expires_in, origin).await?).await?;
            Ok(mcp::tool_result(&[u["url"].as_str().unwrap_or("").to_string(), json_text(&u)], Some(u), false))
        }
        Action::Cancel => {
            let c = json_of(forward(env, &session_arg(args)?, &SessionOp::Cancel).await?).await?;
            Ok(mcp::tool_result(&[json_text(&c)], Some(c), false))
        }
    }
}

async fn read_file(env: &Env, args: &Map<String, Value>) -> ApiResult<Value> {
    let sid = session_arg(args)?;
    let path = req_str(args, "path")?.to_string();
    check_file_path(&path)?;
    let mut resp = forward(env, &sid, &SessionOp::GetFile { path: path.clone() }).await?;
    let status = resp.status_code();
    if status != 200 {
        let bytes = resp.bytes().await.map_err(internal)?;
        return Err(ApiError::from_body(status, &bytes));
    }
    let mime = resp.headers().get("content-type").ok().flatten().unwrap_or_else(|| "application/octet-stream".into());
    let bytes = crate::executor::read_bounded(&mut resp, MAX_READ_BYTES).await.map_err(|_| {
        ApiError::new(
            ErrorCode::TooLarge,
            format!("{path} is over {MAX_READ_BYTES} bytes: download it with GET /api/sessions/{sid}/files/{path}"),
        )
    })?;
    match String::from_utf8(bytes) {
        Ok(text) => Ok(mcp::tool_result(&[text], None, false)),
        Err(e) => {
            let blob = base64::engine::general_purpose::STANDARD.encode(e.as_bytes());
            let uri = format!("edgerun://sessions/{sid}/files/{path}");
            Ok(json!({"content": [{"type": "resource", "resource": {"uri": uri, "mimeType": mime, "blob": blob}}], "isError": false}))
        }
    }
}

/// `install_packages`: the setup route, then (unless `wait` is false) the session until its setup ends.
async fn install(env: &Env, args: &Map<String, Value>) -> ApiResult<Value> {
    let sid = session_arg(args)?;
    let wait = match args.get("wait") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(ApiError::invalid_field("`wait` must be a boolean")),
    };
    let mut setup = args.clone();
    for k in ["session_id", "wait"] {
        setup.remove(k);
    }
    let spec = parse_setup(&parse_object(&serde_json::to_vec(&json!({"setup": setup})).expect("serializes"))?)?;
    let mut s = json_of(forward(env, &sid, &SessionOp::Setup { spec }).await?).await?;
    let until = js_sys::Date::now() + INSTALL_WAIT_MS;
    while wait && matches!(s["setup_status"].as_str(), Some("pending" | "running")) && js_sys::Date::now() < until {
        worker::Delay::from(std::time::Duration::from_millis(500)).await;
        s = json_of(forward(env, &sid, &SessionOp::Get).await?).await?;
    }
    let status = s["setup_status"].as_str().unwrap_or("").to_string();
    let log = s["setup_log"].as_str().unwrap_or("").to_string();
    Ok(mcp::tool_result(&[format!("setup {status}"), log], Some(s), status == "failed"))
}

/// A run tool with a progress token: its output as `notifications/progress` while it runs, then
/// the response, as Server-Sent Events written from a task of its own.
fn progress_stream(env: Env, id: Value, act: Action, args: Map<String, Value>, token: Value) -> ApiResult<Response> {
    let js_err = |e: wasm_bindgen::JsValue| ApiError::new(ErrorCode::Internal, format!("event stream: {e:?}"));
    let pipe = web_sys::TransformStream::new().map_err(js_err)?;
    let writer = Rc::new(pipe.writable().get_writer().map_err(js_err)?);
    let send = {
        let writer = writer.clone();
        move |msg: &Value| {
            let chunk = js_sys::Uint8Array::from(format!("event: message\ndata: {msg}\n\n").as_bytes());
            let _ = writer.write_with_chunk(&chunk);
        }
    };
    wasm_bindgen_futures::spawn_local(async move {
        let result = async {
            let (sid, op) = run_op(act, &args, Some(Form::Api))?;
            let mut resp = forward(&env, &sid, &op).await?;
            if !resp.headers().get("content-type").ok().flatten().is_some_and(|t| t.starts_with("text/event-stream")) {
                return Ok(mcp::run_result(&json_of(resp).await?));
            }
            let mut body = resp.stream().map_err(internal)?;
            let mut parser = sse::Parser::default();
            let mut n = 0u64;
            use futures_util::StreamExt;
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(internal)?;
                for (event, data) in parser.push(&String::from_utf8_lossy(&chunk)) {
                    let data: Value = serde_json::from_str(&data).unwrap_or(Value::Null);
                    match event.as_str() {
                        "stdout" | "stderr" => {
                            n += 1;
                            let text = data["data"].as_str().unwrap_or("");
                            send(&mcp::progress(&token, n, &format!("{event}: {text}")));
                        }
                        "exit" => return Ok(mcp::run_result(&data)),
                        "error" => return Err(ApiError::from_body(500, data.to_string().as_bytes())),
                        _ => {}
                    }
                }
            }
            Err(ApiError::new(ErrorCode::SandboxFailed, "the run's events ended before its answer"))
        }
        .await;
        let result = result.unwrap_or_else(|e| mcp::tool_error(&format!("{} ({})", e.message, e.code.as_str())));
        send(&mcp::response(&id, result));
        let _ = wasm_bindgen_futures::JsFuture::from(writer.close()).await;
    });
    let resp = Response::from_body(worker::ResponseBody::Stream(pipe.readable())).map_err(internal)?;
    let _ = resp.headers().set("content-type", "text/event-stream; charset=utf-8");
    let _ = resp.headers().set("cache-control", "no-cache, no-transform");
    let _ = resp.headers().set("content-encoding", "identity");
    Ok(resp)
}
