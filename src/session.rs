//! The session Durable Object: one per session id. It owns the session's SQLite state, its packs
//! in R2 and its executor, and serializes the session's runs in arrival order.
//!
//! A run: make sure the executor holds the committed workspace version (inject from R2 when it
//! does not), run, then store the returned delta as one R2 object *before* the SQLite commit that
//! refers to it. A crash between the two leaves an unreferenced object and the previous state.

use crate::core::error::{ApiError, ApiResult};
use crate::core::index::{packs_to_read, rows_from_delta};
use crate::core::request::RunSpec;
use crate::executor::Executor;
use crate::store::{SessionRow, Store};
use edgerun_protocol::{frame, split_frame, ErrorCode, InjectRequest, Language, RunAnswer, RunRequest, RunResult, Segment};
use futures_util::lock::Mutex as AsyncMutex;
use serde_json::{json, Value};
use std::cell::{Cell, RefCell};
use worker::{durable_object, DurableObject, Env, Method, Request, Response, Result, State};

/// Runs that may wait behind the one running.
pub const MAX_WAITING_RUNS: usize = 16;
/// Header carrying the session id from the Worker to its object.
pub const SESSION_HEADER: &str = "x-edgerun-session";

#[durable_object]
pub struct SessionObject {
    state: State,
    env: Env,
    store: RefCell<Option<Store>>,
    queue: AsyncMutex<()>,
    waiting: Cell<usize>,
}

pub fn now_rfc3339() -> String {
    String::from(js_sys::Date::new_0().to_iso_string())
}

pub fn json_response(status: u16, v: &Value) -> Result<Response> {
    Ok(Response::from_json(v)?.with_status(status))
}

pub fn error_response(e: &ApiError) -> Result<Response> {
    let resp = Response::ok(e.to_json())?.with_status(e.status());
    let _ = resp.headers().set("content-type", "application/json");
    Ok(resp)
}

/// What a run produced, for the answer shapes of the two endpoints.
pub struct RunOutcome {
    pub result: RunResult,
    pub data: Value,
}

impl DurableObject for SessionObject {
    fn new(state: State, env: Env) -> Self {
        SessionObject { state, env, store: RefCell::new(None), queue: AsyncMutex::new(()), waiting: Cell::new(0) }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let sid = req.headers().get(SESSION_HEADER)?.unwrap_or_default();
        let path = req.path();
        let body = req.bytes().await.unwrap_or_default();
        let result = match (req.method(), path.as_str()) {
            (Method::Post, "/plugin") => self.handle_plugin(&sid, &body).await,
            _ => Err(ApiError::not_found("no such session operation")),
        };
        match result {
            Ok((status, v)) => json_response(status, &v),
            Err(e) => error_response(&e),
        }
    }
}

impl SessionObject {
    fn with_store<T>(&self, f: impl FnOnce(&Store) -> ApiResult<T>) -> ApiResult<T> {
        let mut slot = self.store.borrow_mut();
        if slot.is_none() {
            *slot = Some(Store::open(self.state.storage().sql())?);
        }
        f(slot.as_ref().expect("opened above"))
    }

    fn executor(&self) -> ApiResult<Executor> {
        let url = self.env.var("EXECUTOR_URL").ok().map(|v| v.to_string());
        let secret = self.env.secret("EXECUTOR_SECRET").ok().map(|v| v.to_string()).or_else(|| self.env.var("EXECUTOR_SECRET").ok().map(|v| v.to_string()));
        Executor::new(self.state.container(), url, secret)
    }

    fn bucket(&self) -> ApiResult<worker::Bucket> {
        self.env.bucket("FILES").map_err(|e| ApiError::new(ErrorCode::Internal, format!("R2 binding FILES: {e}")))
    }

    /// `POST /?session=`: creates the session on first use, then runs.
    async fn handle_plugin(&self, sid: &str, body: &[u8]) -> ApiResult<(u16, Value)> {
        let spec: RunSpec = serde_json::from_slice(body).map_err(|e| ApiError::new(ErrorCode::Internal, format!("forwarded run: {e}")))?;
        let lang = spec.language.unwrap_or(Language::Python);
        self.with_store(|s| {
            if s.session()?.is_none() {
                s.create_session(sid, lang.as_str(), true, &now_rfc3339(), "{}", "{}")?;
            }
            Ok(())
        })?;
        let out = self.run_queued(sid, spec).await?;
        let r = &out.result;
        let mut logs: Vec<String> = r.logs.clone();
        logs.extend(r.stderr.lines().map(str::to_string));
        let success = r.exit_code == 0 && r.killed_by.is_none();
        let mut answer = json!({
            "success": success,
            "output": r.stdout,
            "logs": logs,
            "exit_code": r.exit_code,
            "signal": r.signal,
            "timed_out": r.timed_out,
            "killed_by": r.killed_by,
            "truncated": r.truncated,
            "duration_ms": r.duration_ms,
        });
        if !success {
            let why = match r.killed_by {
                Some(k) => format!("killed by the {} limit", serde_json::to_value(k).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()),
                None if r.install_failed => "dependency install failed".to_string(),
                None => format!("exited with code {}", r.exit_code),
            };
            let detail = r.stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").to_string();
            answer["error"] = Value::String(if detail.is_empty() { why } else { format!("{why}: {detail}") });
        }
        Ok((200, answer))
    }

    /// Waits for the session's turn (at most [`MAX_WAITING_RUNS`] wait), then runs.
    async fn run_queued(&self, sid: &str, spec: RunSpec) -> ApiResult<RunOutcome> {
        if self.waiting.get() > MAX_WAITING_RUNS {
            return Err(ApiError::new(ErrorCode::TooManyRuns, format!("{MAX_WAITING_RUNS} runs are already waiting on this session")));
        }
        self.waiting.set(self.waiting.get() + 1);
        let guard = self.queue.lock().await;
        self.waiting.set(self.waiting.get() - 1);
        let out = self.run_now(sid, spec).await;
        drop(guard);
        out
    }

    async fn run_now(&self, sid: &str, spec: RunSpec) -> ApiResult<RunOutcome> {
        let session = self.with_store(|s| s.session())?.ok_or_else(|| ApiError::not_found(format!("session {sid} not found")))?;
        let started = now_rfc3339();
        let exec = self.executor()?;
        exec.ensure_ready().await?;
        let data: Value = serde_json::from_str(&session.data).unwrap_or_else(|_| json!({}));
        let mut req = RunRequest {
            language: spec.language,
            commands: Vec::new(),
            code: spec.code,
            timeout_secs: spec.timeout_secs,
            env: spec.env,
            stdin: spec.stdin,
            install: spec.install,
            data: Some(data.clone()),
            expect_version: session.version.clone(),
            restore_after: session.persistent == 0,
        };
        let path = format!("/v1/sessions/{sid}/run");
        let mut ans = exec.send(Method::Post, &path, Some(serde_json::to_vec(&req).expect("serializes")), "application/json").await?;
        if ans.status == 409 && ApiError::from_body(409, &ans.body).code == ErrorCode::WorkspaceStale {
            // The executor does not hold our version (new or restarted): nothing ran; inject, then run.
            let version = self.inject(sid, &exec, &session).await?;
            req.expect_version = Some(version);
            ans = exec.send(Method::Post, &path, Some(serde_json::to_vec(&req).expect("serializes")), "application/json").await?;
        }
        if ans.status != 200 {
            return Err(ApiError::from_body(ans.status, &ans.body));
        }
        let (answer, tar): (RunAnswer, &[u8]) = split_frame(&ans.body).map_err(|m| ApiError::new(ErrorCode::SandboxFailed, m))?;
        let delta = answer.delta;
        let result = answer.result;
        let now = now_rfc3339();
        let changed = !delta.version.is_empty() && Some(&delta.version) != session.version.as_ref() && !delta.is_empty();
        let mut pack = None;
        if changed && !tar.is_empty() {
            let seq = self.with_store(|s| s.next_pack_seq())?;
            let key = format!("packs/{sid}/{seq:010}-{}", delta.version);
            self.bucket()?
                .put(key.clone(), tar.to_vec())
                .execute()
                .await
                .map_err(|e| ApiError::new(ErrorCode::Internal, format!("storing the workspace in R2 failed, the run's changes are not kept: {e}")))?;
            pack = Some((key, seq, tar.len() as u64));
        }
        let rows = pack.as_ref().map(|(k, _, _)| rows_from_delta(&delta, k)).unwrap_or_else(|| if changed { rows_from_delta(&delta, "") } else { Vec::new() });
        let new_data = result.data.clone();
        let data_text = new_data.as_ref().map(|d| d.to_string());
        let language = spec.language.map(|l| l.as_str()).unwrap_or(session.language.as_str()).to_string();
        let killed = result.killed_by.and_then(|k| serde_json::to_value(k).ok()).and_then(|v| v.as_str().map(String::from));
        let deleted = if changed { delta.deleted.clone() } else { Vec::new() };
        self.with_store(|s| {
            s.commit_run(
                pack.as_ref().map(|(k, seq, size)| (k.as_str(), *seq, *size)),
                &rows,
                &deleted,
                if changed { Some(delta.version.as_str()) } else { None },
                data_text.as_deref(),
                &now,
                (&started, result.duration_ms, result.exit_code, killed.as_deref(), &language),
            )
        })?;
        self.collect_dead_packs().await;
        Ok(RunOutcome { data: new_data.unwrap_or(data), result })
    }

    /// Brings the executor to the committed version: the packs holding live content, oldest first.
    async fn inject(&self, sid: &str, exec: &Executor, session: &SessionRow) -> ApiResult<String> {
        let (rows, packs) = self.with_store(|s| Ok((s.files()?, s.packs()?)))?;
        let keys = packs_to_read(&rows, &packs);
        let bucket = self.bucket()?;
        let mut body = Vec::new();
        let mut segments = Vec::new();
        for key in keys {
            let obj = bucket
                .get(key.clone())
                .execute()
                .await
                .map_err(|e| ApiError::new(ErrorCode::Internal, format!("reading pack {key}: {e}")))?
                .ok_or_else(|| ApiError::new(ErrorCode::Internal, format!("pack {key} is missing from R2")))?;
            let bytes = obj
                .body()
                .ok_or_else(|| ApiError::new(ErrorCode::Internal, format!("pack {key} has no body")))?
                .bytes()
                .await
                .map_err(|e| ApiError::new(ErrorCode::Internal, format!("reading pack {key}: {e}")))?;
            segments.push(Segment::Tar { len: bytes.len() as u64 });
            body.extend_from_slice(&bytes);
        }
        let version = session.version.clone().unwrap_or_else(|| "empty".to_string());
        let req = InjectRequest { version: version.clone(), manifest: rows.into_iter().map(|r| r.entry).collect(), segments };
        let ans = exec.send(Method::Post, &format!("/v1/sessions/{sid}/inject"), Some(frame(&req, &body)), "application/octet-stream").await?;
        if ans.status != 200 {
            return Err(ApiError::from_body(ans.status, &ans.body));
        }
        Ok(version)
    }

    /// Deletes packs no file refers to any more (after the commit that stopped referring to them).
    async fn collect_dead_packs(&self) {
        let Ok(dead) = self.with_store(|s| s.dead_packs()) else { return };
        if dead.is_empty() {
            return;
        }
        let Ok(bucket) = self.bucket() else { return };
        if bucket.delete_multiple(dead.clone()).await.is_ok() {
            let _ = self.with_store(|s| s.forget_packs(&dead));
        }
    }
}
