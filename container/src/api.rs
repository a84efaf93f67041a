//! The executor's HTTP API, spoken only by the Worker (shared secret, constant-time check).
//!
//! - `GET /health` → status, version, how runs are contained (`isolation`) and reach the network (`network`)
//! - `GET /v1/sessions/{sid}` → which workspace version the executor holds
//! - `POST /v1/sessions/{sid}/run` (JSON [`RunRequest`]) → framed [`RunAnswer`] + delta tar; with
//!   `?stream=1`, records of output as it comes, then the answer and the tar (`edgerun_protocol::RECORD_STDOUT`)
//! - `POST /v1/sessions/{sid}/cancel` → ends the session's running run (404 when none runs)
//! - `DELETE /v1/sessions/{sid}/contexts/{ctx}` → stops a live context's interpreter (`{"stopped": bool}`)
//! - `POST /v1/sessions/{sid}/processes` (JSON [`ProcessStart`]) → 201 [`ProcessState`]; `GET` → [`ProcessStates`]
//! - `GET /v1/sessions/{sid}/processes/{proc}/logs` → [`ProcessLogs`]; with `?follow=1`, records
//!   of its output (what is buffered, then as it comes), then one answer record with its final state
//! - `POST /v1/sessions/{sid}/processes/{proc}/stdin` (raw body; `?eof=1` closes it) → its state
//! - `DELETE /v1/sessions/{sid}/processes/{proc}` → ends it and everything it started; its state
//! - any method on `/v1/sessions/{sid}/ports/{port}` (the app's path and query in
//!   [`crate::ports::TARGET_HEADER`]) → the answer of what listens on that port in the session's
//!   network namespace, streamed; 502 when nothing does
//! - `POST /v1/sessions/{sid}/inject` (framed [`InjectRequest`] + packs) → the new state
//! - `POST /v1/sessions/{sid}/apply` (framed [`ApplyRequest`] + file contents) → the new state
//! - `POST /v1/sessions/{sid}/snapshot` (`{"version"}`) → framed full `Delta` + tar of that version
//! - `DELETE /v1/sessions/{sid}`
use crate::error::{AppError, AppResult};
use crate::session::{valid_session_id, Sessions};
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use edgerun_protocol::{
    frame, record, split_frame, ApplyRequest, ErrorBody, ErrorCode, InjectRequest, ProcessLogs, ProcessStart, ProcessState, ProcessStates,
    RunRequest, Segment, SessionState, MAX_TIMEOUT_SECS, MIN_TIMEOUT_SECS, RECORD_ANSWER, RECORD_ERROR, RECORD_LOG, RECORD_STDERR,
    RECORD_STDOUT, SECRET_HEADER,
};
use futures_util::{stream, StreamExt, TryStreamExt};
use std::sync::Arc;
use subtle::ConstantTimeEq;
use tokio::io::AsyncReadExt;
use tokio_util::io::{ReaderStream, StreamReader, SyncIoBridge};

/// What every handler shares: the executor's sessions, one registry for the whole process.
pub type AppState = Arc<Sessions>;

/// Injects up to this size are read into memory before they are applied; larger ones stream.
const IN_MEMORY_INJECT_MAX: u64 = 64 * 1024 * 1024;

/// The executor's router: the session routes behind the secret check, `/health` open, anything
/// else `not_found`; bodies may be up to the workspace limit plus 64 MiB (headers, framing).
pub fn app(state: AppState) -> Router {
    let body_limit = (state.config.max_workspace_bytes + (64 << 20)) as usize;
    Router::new()
        .route("/v1/sessions/{sid}", get(handle_state).delete(handle_delete))
        .route("/v1/sessions/{sid}/run", post(handle_run))
        .route("/v1/sessions/{sid}/cancel", post(handle_cancel))
        .route("/v1/sessions/{sid}/contexts/{ctx}", axum::routing::delete(handle_stop_context))
        .route("/v1/sessions/{sid}/processes", post(handle_start_process).get(handle_list_processes))
        .route("/v1/sessions/{sid}/processes/{proc}", axum::routing::delete(handle_stop_process))
        .route("/v1/sessions/{sid}/processes/{proc}/logs", get(handle_process_logs))
        .route("/v1/sessions/{sid}/processes/{proc}/stdin", post(handle_process_stdin))
        .route("/v1/sessions/{sid}/ports/{port}", axum::routing::any(handle_port))
        .route("/v1/sessions/{sid}/inject", post(handle_inject))
        .route("/v1/sessions/{sid}/snapshot", post(handle_snapshot))
        .route("/v1/sessions/{sid}/apply", post(handle_apply))
        .layer(middleware::from_fn_with_state(state.clone(), require_secret))
        .route("/health", get(handle_health))
        .fallback(|| async { AppError::new(ErrorCode::NotFound, "no such route") })
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

async fn require_secret(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if let Some(secret) = &state.config.secret {
        let given = req.headers().get(SECRET_HEADER).map(|v| v.as_bytes()).unwrap_or_default();
        if !bool::from(given.ct_eq(secret.as_bytes())) {
            return AppError::new(ErrorCode::Unauthorized, "missing or wrong executor secret").into_response();
        }
    }
    next.run(req).await
}

fn check_sid(sid: &str) -> AppResult<()> {
    if valid_session_id(sid) {
        Ok(())
    } else {
        Err(AppError::new(ErrorCode::BadRequest, "session id must match [A-Za-z0-9_-]{1,64}"))
    }
}

async fn handle_health(State(s): State<AppState>) -> impl IntoResponse {
    Json(
        serde_json::json!({"status": "ok", "version": env!("CARGO_PKG_VERSION"), "isolation": s.isolation(), "network": s.network(), "closed_to_sandboxes": s.closed_ports()}),
    )
}

async fn handle_state(State(s): State<AppState>, Path(sid): Path<String>) -> AppResult<Json<SessionState>> {
    check_sid(&sid)?;
    Ok(Json(SessionState { version: s.version(&sid).await }))
}

async fn handle_delete(State(s): State<AppState>, Path(sid): Path<String>) -> AppResult<Json<serde_json::Value>> {
    check_sid(&sid)?;
    s.delete(&sid).await?;
    Ok(Json(serde_json::json!({"deleted": sid})))
}

/// `?stream=1` on a run: answer records (output as it comes, then the answer and its tar).
#[derive(serde::Deserialize)]
struct RunQuery {
    #[serde(default)]
    stream: Option<String>,
}

async fn handle_run(State(s): State<AppState>, Path(sid): Path<String>, Query(q): Query<RunQuery>, body: Bytes) -> AppResult<Response> {
    check_sid(&sid)?;
    let req: RunRequest = serde_json::from_slice(&body).map_err(|e| AppError::new(ErrorCode::InvalidJson, format!("run request: {e}")))?;
    if !(MIN_TIMEOUT_SECS..=MAX_TIMEOUT_SECS).contains(&req.timeout_secs) {
        return Err(AppError::new(ErrorCode::BadRequest, format!("timeout must be {MIN_TIMEOUT_SECS}..{MAX_TIMEOUT_SECS} seconds")));
    }
    req.install.check().map_err(|m| AppError::new(ErrorCode::BadRequest, m))?;
    if q.stream.as_deref() == Some("1") {
        return run_streamed(s, sid, req).await;
    }
    let (answer, tar) = s.run(&sid, req).await?;
    let header = frame(&answer, &[]);
    let tar = tar.filter(|_| answer.delta.tar_len > 0);
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], framed_stream(header, tar)).into_response())
}

/// A streamed run: the stale check answers before anything streams (the Worker injects on it);
/// then records of output as the run writes it, and the answer (or an error) at the end.
async fn run_streamed(s: AppState, sid: String, req: RunRequest) -> AppResult<Response> {
    let held = s.version(&sid).await;
    if req.expect_version != held {
        return Err(AppError::new(
            ErrorCode::WorkspaceStale,
            format!("executor holds version {held:?}, caller expected {:?}", req.expect_version),
        ));
    }
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let run = tokio::spawn(async move { s.run_streamed(&sid, req, Some(tx)).await });
    let output = stream::unfold(rx, |mut rx| async move {
        let (out, bytes) = rx.recv().await?;
        let tag = match out {
            crate::sandbox::Chunk::Stdout => RECORD_STDOUT,
            crate::sandbox::Chunk::Stderr => RECORD_STDERR,
            crate::sandbox::Chunk::Log => RECORD_LOG,
        };
        Some((Ok::<_, std::io::Error>(Bytes::from(record(tag, &bytes))), rx))
    });
    let end = stream::once(async move {
        let answered = match run.await {
            Ok(r) => r,
            Err(e) => Err(AppError::internal(e)),
        };
        match answered {
            Ok((answer, tar)) => {
                let head = Bytes::from(record(RECORD_ANSWER, &serde_json::to_vec(&answer).expect("answers serialize")));
                let tar = tar.filter(|_| answer.delta.tar_len > 0);
                let rest = tar.map(|f| ReaderStream::new(tokio::fs::File::from_std(f)));
                stream::once(async move { Ok(head) }).chain(stream::iter(rest).flatten()).boxed()
            }
            Err(e) => {
                let body = serde_json::to_vec(&ErrorBody { error: e.message, code: e.code }).expect("errors serialize");
                stream::once(async move { Ok(Bytes::from(record(RECORD_ERROR, &body))) }).boxed()
            }
        }
    })
    .flatten();
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], Body::from_stream(output.chain(end))).into_response())
}

async fn handle_cancel(State(s): State<AppState>, Path(sid): Path<String>) -> AppResult<Json<serde_json::Value>> {
    check_sid(&sid)?;
    if s.cancel(&sid) {
        Ok(Json(serde_json::json!({"cancelled": sid})))
    } else {
        Err(AppError::new(ErrorCode::NotFound, "nothing is running in this session"))
    }
}

async fn handle_stop_context(State(s): State<AppState>, Path((sid, ctx)): Path<(String, String)>) -> AppResult<Json<serde_json::Value>> {
    check_sid(&sid)?;
    if !edgerun_protocol::valid_context_id(&ctx) {
        return Err(AppError::new(ErrorCode::BadRequest, "context ids are `ctx_` and 24 hex digits"));
    }
    // Off the async threads: the kill sweeps /proc.
    let stopped = tokio::task::spawn_blocking(move || s.stop_context(&sid, &ctx)).await.map_err(AppError::internal)?;
    Ok(Json(serde_json::json!({"stopped": stopped})))
}

async fn handle_snapshot(State(s): State<AppState>, Path(sid): Path<String>, body: Bytes) -> AppResult<Response> {
    check_sid(&sid)?;
    let state: SessionState =
        serde_json::from_slice(&body).map_err(|e| AppError::new(ErrorCode::InvalidJson, format!("snapshot request: {e}")))?;
    let (delta, tar) = s.snapshot(&sid, state.version).await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], framed_stream(frame(&delta, &[]), Some(tar))).into_response())
}

/// A framed answer whose tar streams from its (unlinked) file, never in memory whole.
fn framed_stream(header: Vec<u8>, tar: Option<std::fs::File>) -> Body {
    match tar {
        Some(file) => {
            let rest = ReaderStream::new(tokio::fs::File::from_std(file));
            Body::from_stream(stream::once(async move { Ok::<_, std::io::Error>(Bytes::from(header)) }).chain(rest))
        }
        None => Body::from(header),
    }
}

async fn handle_apply(State(s): State<AppState>, Path(sid): Path<String>, body: Bytes) -> AppResult<Json<SessionState>> {
    check_sid(&sid)?;
    let (req, rest): (ApplyRequest, &[u8]) = split_frame(&body).map_err(|m| AppError::new(ErrorCode::BadRequest, m))?;
    let rest = rest.to_vec();
    s.apply(&sid, req, rest).await?;
    Ok(Json(SessionState { version: s.version(&sid).await }))
}

/// The inject body is applied as it arrives: header first, then the segments, read by the
/// blocking extractor straight from the request stream.
async fn handle_inject(State(s): State<AppState>, Path(sid): Path<String>, body: Body) -> AppResult<Json<SessionState>> {
    check_sid(&sid)?;
    let mut reader = StreamReader::new(body.into_data_stream().map_err(std::io::Error::other));
    let bad = |e: std::io::Error| AppError::new(ErrorCode::BadRequest, format!("inject body: {e}"));
    let len = reader.read_u32().await.map_err(bad)? as usize;
    if len > 256 << 20 {
        return Err(AppError::new(ErrorCode::TooLarge, "inject header too large"));
    }
    let mut head = vec![0u8; len];
    reader.read_exact(&mut head).await.map_err(bad)?;
    let req: InjectRequest =
        serde_json::from_slice(&head).map_err(|e| AppError::new(ErrorCode::BadRequest, format!("inject header: {e}")))?;
    let total: u64 = req
        .segments
        .iter()
        .map(|seg| match seg {
            Segment::Tar { len } | Segment::Raw { len, .. } => *len,
        })
        .sum();
    let body: Box<dyn std::io::Read + Send> = if total <= IN_MEMORY_INJECT_MAX {
        // Measured here: extracting from memory is several times faster than from the bridged
        // request stream, so workspaces up to this size are read whole first.
        let mut all = Vec::with_capacity(total as usize);
        reader.read_to_end(&mut all).await.map_err(bad)?;
        Box::new(std::io::Cursor::new(all))
    } else {
        Box::new(std::io::BufReader::with_capacity(1 << 20, SyncIoBridge::new(reader)))
    };
    s.inject(&sid, req, body).await?;
    Ok(Json(SessionState { version: s.version(&sid).await }))
}

fn check_proc(sid: &str, id: &str) -> AppResult<()> {
    check_sid(sid)?;
    if edgerun_protocol::valid_process_id(id) {
        Ok(())
    } else {
        Err(AppError::new(ErrorCode::BadRequest, "process ids are `proc_` and 24 hex digits"))
    }
}

fn no_process(id: &str) -> AppError {
    AppError::new(ErrorCode::NotFound, format!("this executor has no process {id} in the session"))
}

async fn handle_start_process(State(s): State<AppState>, Path(sid): Path<String>, body: Bytes) -> AppResult<Response> {
    let req: ProcessStart =
        serde_json::from_slice(&body).map_err(|e| AppError::new(ErrorCode::InvalidJson, format!("process request: {e}")))?;
    check_proc(&sid, &req.id)?;
    if req.command.is_empty() || req.command.len() > edgerun_protocol::MAX_CODE_BYTES || req.command.contains('\0') {
        return Err(AppError::new(ErrorCode::BadRequest, "a process's command is 1 byte to 1 MiB, without NUL"));
    }
    if req.max_secs == 0 {
        return Err(AppError::new(ErrorCode::BadRequest, "max_secs must be at least 1"));
    }
    let state = s.start_process(&sid, req).await?;
    Ok((axum::http::StatusCode::CREATED, Json(state)).into_response())
}

async fn handle_list_processes(State(s): State<AppState>, Path(sid): Path<String>) -> AppResult<Json<ProcessStates>> {
    check_sid(&sid)?;
    Ok(Json(ProcessStates { processes: s.processes().list(&sid) }))
}

async fn handle_stop_process(State(s): State<AppState>, Path((sid, id)): Path<(String, String)>) -> AppResult<Json<ProcessState>> {
    check_proc(&sid, &id)?;
    s.processes().stop(&sid, &id).await.map(Json).ok_or_else(|| no_process(&id))
}

/// `?follow=1` on logs; `?eof=1` on stdin.
#[derive(serde::Deserialize)]
struct ProcessQuery {
    #[serde(default)]
    follow: Option<String>,
    #[serde(default)]
    eof: Option<String>,
}

async fn handle_process_logs(
    State(s): State<AppState>,
    Path((sid, id)): Path<(String, String)>,
    Query(q): Query<ProcessQuery>,
) -> AppResult<Response> {
    check_proc(&sid, &id)?;
    if q.follow.as_deref() != Some("1") {
        let logs: ProcessLogs = s.processes().logs(&sid, &id).ok_or_else(|| no_process(&id))?;
        return Ok(Json(logs).into_response());
    }
    let (first, rx, end) = s.processes().follow(&sid, &id).ok_or_else(|| no_process(&id))?;
    let head = stream::iter(first.into_iter().map(|(tag, b)| Ok::<_, std::io::Error>(Bytes::from(record(tag, &b)))));
    let live = stream::unfold(rx, |rx| async move {
        let mut rx = rx?;
        match rx.recv().await {
            Ok((tag, b)) => Some((Ok(Bytes::from(record(tag, &b))), Some(rx))),
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                let note =
                    format!("\n[edgerun] this follower fell behind: {n} chunks of output were skipped (GET the logs for what is kept)\n");
                Some((Ok(Bytes::from(record(RECORD_STDERR, note.as_bytes()))), Some(rx)))
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => None,
        }
    });
    let tail = stream::once(async move {
        let state = end.wait().await;
        Ok(Bytes::from(record(RECORD_ANSWER, &serde_json::to_vec(&state).expect("states serialize"))))
    });
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], Body::from_stream(head.chain(live).chain(tail))).into_response())
}

async fn handle_process_stdin(
    State(s): State<AppState>,
    Path((sid, id)): Path<(String, String)>,
    Query(q): Query<ProcessQuery>,
    body: Bytes,
) -> AppResult<Json<ProcessState>> {
    check_proc(&sid, &id)?;
    match s.processes().write_stdin(&sid, &id, &body, q.eof.as_deref() == Some("1")).await {
        Ok(Some(state)) => Ok(Json(state)),
        Ok(None) => Err(no_process(&id)),
        Err(m) => Err(AppError::new(ErrorCode::Conflict, m)),
    }
}

/// The port route ([`crate::ports`]): the request goes to `127.0.0.1:{port}` in the session's
/// network namespace; what answers there answers.
async fn handle_port(State(s): State<AppState>, Path((sid, port)): Path<(String, String)>, mut req: Request) -> AppResult<Response> {
    check_sid(&sid)?;
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p >= crate::ports::MIN_PORT)
        .ok_or_else(|| AppError::new(ErrorCode::BadRequest, "ports are 1024 to 65535"))?;
    if s.port_refused(port) {
        return Err(AppError::new(ErrorCode::Forbidden, format!("port {port} is the runtime's, not the session's")));
    }
    let target = crate::ports::target(req.headers()).map_err(|m| AppError::new(ErrorCode::BadRequest, m))?;
    let closed = |why: String| AppError::new(ErrorCode::SandboxFailed, format!("nothing answers on port {port} in the session ({why})"));
    let Some(net) = s.session_netns(&sid) else {
        return Err(closed("the session has started no process".into()));
    };
    let stream = crate::ports::connect(&net, port).await.map_err(|e| closed(e.to_string()))?;
    let upgrade = crate::ports::is_websocket(req.headers()).then(|| hyper::upgrade::on(&mut req));
    let (parts, body) = req.into_parts();
    let mut out = axum::http::Request::builder().method(parts.method).uri(target).body(body).map_err(|e| closed(e.to_string()))?;
    *out.headers_mut() = crate::ports::forwarded_headers(&parts.headers, port);
    crate::ports::send(stream, out, upgrade).await.map_err(closed)
}
