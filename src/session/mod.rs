//! The session Durable Object: one per session id. It owns the session's SQLite state, its packs
//! in R2 and its executor, and serializes the session's runs, setups and uploads in arrival order.
//!
//! The run pipeline itself is in `run.rs`, the files API in `files.rs` (child modules, which see
//! the object's private fields); this file
//! dispatches operations and holds the session lifecycle (create, get, setup, duplicate, delete).

mod contexts;
mod events;
mod files;
mod processes;
mod run;

use crate::core::api;
use crate::core::error::{ApiError, ApiResult};
use crate::core::index::listed_files;
use crate::core::lifecycle::{idle_action, IdleAction};
use crate::core::request::{Change, CreateSpec, Idempotency, RunSpec, SettingsSpec, SetupSpec, StoredCodeSpec};
use crate::core::sse::Form;
use crate::ops::{Bundle, PacksHeld, SessionOp};
use crate::platform::{error_response, json_response, now_rfc3339};
use crate::registry::client as registry;
use crate::rpc::{self, read_op, SESSION_HEADER};
use crate::store::{PackRow, SessionRow, Store};
use edgerun_protocol::{ErrorCode, Language};
use events::Events;
use futures_util::lock::Mutex as AsyncMutex;
use run::{Counted, Shape};
use serde_json::Value;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

/// Runs that may wait behind the one running.
pub const MAX_WAITING_RUNS: usize = 16;

/// The Durable Object: a handle on its [`Session`], which streamed answers share with the work
/// that goes on after the answer's head went out.
#[durable_object]
pub struct SessionObject {
    inner: Rc<Session>,
}

/// One session's object state.
pub struct Session {
    state: State,
    env: Env,
    store: RefCell<Option<Store>>,
    queue: AsyncMutex<()>,
    waiting: Cell<usize>,
    setup_active: Cell<bool>,
    last_activity_ms: Cell<f64>,
    swept: Cell<bool>,
    last_touch_ms: Cell<f64>,
    /// The run (its run id) or setup (`"setup"`) the executor is running now, for cancel.
    running: RefCell<Option<String>>,
    /// The events of the pending or running setup, while someone may follow it.
    setup_events: RefCell<Option<Rc<Events>>>,
    /// Contexts whose last checkpoint the executor holds back (`run::checkpoint_flush_ms`): in
    /// its workspace, not yet in R2. Committed by the flush alarm or the next run that holds nothing.
    held: RefCell<std::collections::BTreeSet<String>>,
    /// Nothing this instance knows rules out checkpoints held back before it started (an
    /// evicted instance's): its first flush asks the executor anyway.
    held_unknown: Cell<bool>,
    /// When the last commit of what background processes wrote began (RFC 3339); `None` on a
    /// fresh instance, whose first tick commits once if any process ended (`processes::tick`).
    process_commit_at: RefCell<Option<String>>,
    /// When the next periodic commit is due while a process runs (ms since the epoch).
    process_commit_due: Cell<f64>,
}

/// A handler's answer: JSON with a status (built with [`Answer::json`] from a `core::api` type,
/// or an internal type), or raw bytes with a content type.
pub enum Answer {
    Json(u16, Value),
    /// A file's bytes with its download headers (`core::web::download_headers`).
    Stream(worker::ByteStream, Vec<(&'static str, String)>),
    /// Server-Sent Events, written while the run goes on (`events`).
    Events(web_sys::ReadableStream),
    /// A response relayed as it came (the port route's: the session's app answered it).
    Raw(Response),
}

impl Answer {
    /// A JSON answer serialized from a typed body.
    pub fn json(status: u16, body: &impl serde::Serialize) -> Answer {
        Answer::Json(status, serde_json::to_value(body).expect("answers serialize"))
    }
}

/// The data of a run's outcome as the answer's object (it is always one: checked on the way in).
fn data_object(v: &Value) -> api::JsonObject {
    v.as_object().cloned().unwrap_or_default()
}

impl DurableObject for SessionObject {
    fn new(state: State, env: Env) -> Self {
        SessionObject { inner: Rc::new(Session::new(state, env)) }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        self.inner.fetch(req).await
    }

    async fn alarm(&self) -> Result<Response> {
        self.inner.alarm().await
    }
}

impl Session {
    fn new(state: State, env: Env) -> Self {
        Session {
            state,
            env,
            store: RefCell::new(None),
            queue: AsyncMutex::new(()),
            waiting: Cell::new(0),
            setup_active: Cell::new(false),
            last_activity_ms: Cell::new(js_sys::Date::now()),
            swept: Cell::new(false),
            last_touch_ms: Cell::new(0.0),
            running: RefCell::new(None),
            setup_events: RefCell::new(None),
            held: RefCell::new(Default::default()),
            held_unknown: Cell::new(true),
            process_commit_at: RefCell::new(None),
            process_commit_due: Cell::new(0.0),
        }
    }

    async fn fetch(self: &Rc<Self>, mut req: Request) -> Result<Response> {
        let sid = req.headers().get(SESSION_HEADER)?.unwrap_or_default();
        let op: SessionOp = match read_op(&mut req).await {
            Ok(op) => op,
            Err(e) => return error_response(&e),
        };
        if !matches!(op, SessionOp::Packs) {
            self.resume_interrupted_setup().await;
            self.sweep_once(&sid).await;
        }
        let result = match op {
            SessionOp::Create { spec } => self.handle_create(&sid, spec).await,
            SessionOp::Plugin { spec, idempotency, stream } => self.handle_plugin(&sid, spec, idempotency, stream).await,
            SessionOp::Execute { spec, stream } => self.handle_execute(&sid, spec, stream).await,
            SessionOp::Get => self.handle_get(),
            SessionOp::Patch { spec } => self.handle_patch(spec).await,
            SessionOp::PutCode { spec } => self.handle_put_code(&spec),
            SessionOp::GetCode => self.handle_get_code(),
            SessionOp::Delete => self.handle_delete(&sid).await,
            SessionOp::Run { spec, idempotency, stream } => self.handle_run(&sid, spec, idempotency, stream).await,
            SessionOp::GetRun { run_id } => self.handle_get_run(&run_id),
            SessionOp::Cancel => self.handle_cancel(&sid).await,
            SessionOp::Runs { limit } => self.handle_runs(limit),
            SessionOp::Setup { spec } => self.handle_setup(spec).await,
            SessionOp::GetSetup { stream } => self.handle_get_setup(stream).await,
            SessionOp::Duplicate { target } => self.handle_duplicate(&sid, target).await,
            SessionOp::Import { bundle } => self.handle_import(&sid, &bundle),
            SessionOp::ListFiles => self.handle_list_files(),
            SessionOp::Packs => self.handle_packs(),
            SessionOp::GetFile { path } => self.handle_get_file(&path).await,
            SessionOp::PutFile { path, length } => self.handle_put_file(&sid, &path, length, req).await,
            SessionOp::DeleteFile { path } => self.handle_delete_file(&sid, &path).await,
            SessionOp::CreateContext { language } => self.handle_create_context(language),
            SessionOp::ListContexts => self.handle_list_contexts(),
            SessionOp::DeleteContext { ctx } => self.handle_delete_context(&sid, &ctx).await,
            SessionOp::StartProcess { spec } => self.handle_start_process(&sid, spec).await,
            SessionOp::ListProcesses => self.handle_list_processes(&sid).await,
            SessionOp::GetProcess { proc } => self.handle_get_process(&sid, &proc).await,
            SessionOp::DeleteProcess { proc } => self.handle_delete_process(&sid, &proc).await,
            SessionOp::ProcessLogs { proc, stream } => self.handle_process_logs(&sid, &proc, stream).await,
            SessionOp::ProcessInput { proc, data, eof } => self.handle_process_input(&sid, &proc, &data, eof).await,
            SessionOp::Port { port, target, method, headers, length, websocket } => {
                self.handle_port(&sid, port, &target, &method, &headers, length, websocket, &req).await
            }
        };
        match result {
            Ok(Answer::Json(status, v)) => json_response(status, &v),
            Ok(Answer::Raw(resp)) => Ok(resp),
            Ok(Answer::Events(body)) => {
                let resp = Response::from_body(worker::ResponseBody::Stream(body))?;
                let _ = resp.headers().set("content-type", "text/event-stream; charset=utf-8");
                let _ = resp.headers().set("cache-control", "no-cache, no-transform");
                // Never compressed on the way (a compressor would hold events back).
                let _ = resp.headers().set("content-encoding", "identity");
                let _ = resp.headers().set("x-content-type-options", "nosniff");
                Ok(resp)
            }
            Ok(Answer::Stream(stream, headers)) => {
                let resp = Response::from_stream(stream)?;
                for (k, v) in headers {
                    let _ = resp.headers().set(k, &v);
                }
                Ok(resp)
            }
            Err(e) => error_response(&e),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        // A pending (or interrupted) setup runs here, after the create answer went out.
        let guard = self.queue.lock().await;
        let sid = self.with_store(|s| s.session()).ok().flatten().map(|s| s.id);
        let mut processes_run = false;
        if let Some(sid) = sid {
            if let Err(e) = self.settle_setup(&sid).await {
                worker::console_error!("setup of {sid} failed to run: {e}");
            }
            // Checkpoints held back by context runs go to R2 (before the container may sleep).
            match self.flush_checkpoints(&sid).await {
                Ok(()) => {}
                // A sandbox that cannot be reached holds nothing a later answer could take:
                // its next run injects the committed state.
                Err(e) if e.code == ErrorCode::SandboxUnavailable => self.held.borrow_mut().clear(),
                Err(e) => {
                    worker::console_error!("committing the held checkpoints of {sid} failed, retried: {e}");
                    let _ = self.arm_flush().await;
                }
            }
            // What background processes wrote is committed at the interval and once one ended
            // (while one runs, the next tick is armed within `PROCESS_POLL_MS`).
            processes_run = self.tick_processes(&sid).await;
        }
        drop(guard);
        if processes_run {
            // The container stays awake for them.
            return Response::ok("");
        }
        // Let an idle container sleep: its workspace is committed in R2.
        let idle = self.idle_ms();
        if self.state.container().is_some() {
            match idle_action(js_sys::Date::now(), self.last_activity_ms.get(), idle) {
                // A running background process keeps the container awake.
                IdleAction::Sleep if self.has_running_process() => {
                    let _ = self.state.storage().set_alarm(idle).await;
                }
                IdleAction::Sleep => {
                    if let Ok(exec) = self.executor() {
                        exec.destroy().await;
                    }
                }
                IdleAction::CheckIn(ms) => {
                    let _ = self.state.storage().set_alarm(ms).await;
                }
            }
        }
        Response::ok("")
    }
}

impl Session {
    pub(crate) fn with_store<T>(&self, f: impl FnOnce(&Store) -> ApiResult<T>) -> ApiResult<T> {
        let mut slot = self.store.borrow_mut();
        if slot.is_none() {
            *slot = Some(Store::open(self.state.storage().sql())?);
        }
        f(slot.as_ref().expect("opened above"))
    }

    pub(crate) fn session(&self) -> ApiResult<SessionRow> {
        self.with_store(|s| s.session())?.ok_or_else(|| ApiError::not_found("session not found"))
    }

    pub(crate) fn bucket(&self) -> ApiResult<worker::Bucket> {
        self.env.bucket("FILES").map_err(|e| ApiError::new(ErrorCode::Internal, format!("R2 binding FILES: {e}")))
    }

    /// The container's idle time (`IDLE_TIMEOUT_MS`; an unusable value counts as the default
    /// here, and is refused in words when a container is started with it).
    pub(crate) fn idle_ms(&self) -> i64 {
        let v = self.env.var("IDLE_TIMEOUT_MS").ok().map(|v| v.to_string());
        crate::core::lifecycle::idle_ms(v.as_deref()).unwrap_or(crate::core::lifecycle::DEFAULT_IDLE_MS)
    }

    pub(crate) fn executor(&self) -> ApiResult<crate::executor::Executor> {
        use crate::core::lifecycle::{StartSettings, EXECUTOR_LIMITS};
        let var = |k: &str| self.env.var(k).ok().map(|v| v.to_string());
        let url = var("EXECUTOR_URL");
        let secret =
            self.env.secret("EXECUTOR_SECRET").ok().map(|v| v.to_string()).or_else(|| var("EXECUTOR_SECRET")).filter(|s| !s.is_empty());
        let settings = StartSettings {
            secret,
            internet: var("SANDBOX_INTERNET"),
            idle_ms: var("IDLE_TIMEOUT_MS"),
            limits: EXECUTOR_LIMITS.iter().filter_map(|k| var(k).map(|v| (*k, v))).collect(),
        };
        crate::executor::Executor::new(self.state.container(), url, settings)
    }

    /// The session object of the API.
    pub(crate) fn session_object(&self, row: &SessionRow) -> ApiResult<api::Session> {
        let files = self.with_store(|s| s.files())?;
        let listed = listed_files(&files);
        let total: u64 = listed.iter().map(|r| r.entry.size).sum();
        let object = |j: &str| serde_json::from_str::<api::JsonObject>(j).unwrap_or_default();
        Ok(api::Session {
            id: row.id.clone(),
            language: row.language.clone(),
            persistent: row.persistent != 0,
            created_at: row.created_at.clone(),
            last_run_at: row.last_run_at.clone(),
            run_count: row.run_count.max(0) as u64,
            file_count: listed.len() as u64,
            total_size_bytes: total,
            metadata: object(&row.metadata),
            data: object(&row.data),
            setup_status: row.setup_status.clone(),
            setup_log: row.setup_log.clone(),
            default_timeout: row.default_timeout.map(|t| t as u64),
            allow_internet: row.allow_internet != 0,
        })
    }

    /// Once per instance: collect orphaned packs left by a crash of a previous instance.
    async fn sweep_once(&self, sid: &str) {
        if self.swept.replace(true) || sid.is_empty() {
            return;
        }
        if !matches!(self.with_store(|s| s.session()), Ok(Some(_))) {
            return;
        }
        let guard = self.queue.lock().await;
        match self.sweep_orphans(sid).await {
            Ok(0) => {}
            Ok(n) => worker::console_log!("collected {n} orphaned pack(s) of {sid}"),
            Err(e) => {
                self.swept.set(false);
                worker::console_error!("orphan sweep of {sid} failed, retried later: {e}");
            }
        }
        drop(guard);
    }

    /// A setup found `running` in a fresh instance was interrupted by eviction: run it again.
    async fn resume_interrupted_setup(&self) {
        if self.setup_active.get() {
            return;
        }
        let Ok(Some(row)) = self.with_store(|s| s.session()) else { return };
        if row.setup_status == "running" || row.setup_status == "pending" {
            let _ = self.state.storage().set_alarm(0).await;
        }
    }

    async fn handle_create(&self, sid: &str, spec: CreateSpec) -> ApiResult<Answer> {
        let _guard = self.queue.lock().await;
        if self.with_store(|s| s.session())?.is_some() {
            return Err(ApiError::new(ErrorCode::Conflict, format!("session {sid} already exists")));
        }
        let setup_json = (!spec.setup.is_empty()).then(|| serde_json::to_string(&spec.setup).expect("serializes"));
        self.with_store(|s| {
            s.create_session(
                sid,
                spec.language.as_str(),
                spec.persistent,
                &now_rfc3339(),
                &spec.metadata.to_string(),
                &spec.data.to_string(),
            )?;
            s.set_settings(spec.default_timeout, spec.allow_internet, None)?;
            if let Some(j) = &setup_json {
                s.set_setup("pending", Some(""), Some(Some(j)))?;
            }
            Ok(())
        })?;
        if setup_json.is_some() {
            self.state.storage().set_alarm(0).await.map_err(|e| ApiError::new(ErrorCode::Internal, format!("scheduling setup: {e}")))?;
        }
        Ok(Answer::json(201, &self.session_object(&self.session()?)?))
    }

    /// For the registry's sweep: which packs this session holds (and whether it exists at all).
    fn handle_packs(&self) -> ApiResult<Answer> {
        let exists = self.with_store(|s| s.session())?.is_some();
        let keys: Vec<String> = if exists { self.with_store(|s| s.all_packs())?.into_iter().map(|p| p.key).collect() } else { Vec::new() };
        Ok(Answer::json(200, &PacksHeld { exists, keys }))
    }

    fn handle_get(&self) -> ApiResult<Answer> {
        Ok(Answer::json(200, &self.session_object(&self.session()?)?))
    }

    /// Changes the settings between runs (the queue is held): runs started after the answer
    /// see them.
    async fn handle_patch(&self, spec: SettingsSpec) -> ApiResult<Answer> {
        let _guard = self.queue.lock().await;
        let row = self.session()?;
        let default_timeout = match spec.default_timeout {
            Change::Keep => row.default_timeout.map(|t| t as u64),
            Change::Unset => None,
            Change::Set(t) => Some(t),
        };
        let allow_internet = spec.allow_internet.unwrap_or(row.allow_internet != 0);
        let metadata = spec.metadata.as_ref().map(Value::to_string);
        self.with_store(|s| s.set_settings(default_timeout, allow_internet, metadata.as_deref()))?;
        Ok(Answer::json(200, &self.session_object(&self.session()?)?))
    }

    fn handle_put_code(&self, spec: &StoredCodeSpec) -> ApiResult<Answer> {
        self.session()?;
        self.with_store(|s| s.set_code(&spec.code, &spec.description, &now_rfc3339()))?;
        self.handle_get_code()
    }

    fn handle_get_code(&self) -> ApiResult<Answer> {
        self.session()?;
        let code = self.with_store(|s| s.stored_code())?.ok_or_else(|| ApiError::not_found("this session has no stored code"))?;
        Ok(Answer::json(
            200,
            &api::StoredCode {
                code_length: code.code.len() as u64,
                code: code.code,
                description: code.description,
                updated_at: code.updated_at,
            },
        ))
    }

    async fn handle_setup(&self, spec: SetupSpec) -> ApiResult<Answer> {
        self.session()?;
        let j = serde_json::to_string(&spec).expect("serializes");
        self.with_store(|s| s.set_setup("pending", Some(""), Some(Some(&j))))?;
        self.state.storage().set_alarm(0).await.map_err(|e| ApiError::new(ErrorCode::Internal, format!("scheduling setup: {e}")))?;
        Ok(Answer::json(202, &self.session_object(&self.session()?)?))
    }

    async fn handle_plugin(
        self: &Rc<Self>,
        sid: &str,
        mut spec: RunSpec,
        idempotency: Option<Idempotency>,
        stream: Option<Form>,
    ) -> ApiResult<Answer> {
        let lang = spec.language.unwrap_or(Language::Python);
        if self.with_store(|s| s.session())?.is_none() {
            // Listed first, then created: a session that exists is never missing from the list.
            let now = now_rfc3339();
            registry::add(&self.env, sid, lang.as_str(), &now).await?;
            self.with_store(|s| {
                if s.session()?.is_none() {
                    s.create_session(sid, lang.as_str(), true, &now, "{}", "{}")?;
                }
                Ok(())
            })?;
        }
        // Python and Node keep their memory: the session's default context of the language.
        spec.context = self.plugin_context(lang, spec.fresh, &spec.stdin)?;
        self.answer_run(sid, spec, Counted { shape: Shape::Plugin, idempotency }, stream, false).await
    }

    async fn handle_run(
        self: &Rc<Self>,
        sid: &str,
        mut spec: RunSpec,
        idempotency: Option<Idempotency>,
        stream: Option<Form>,
    ) -> ApiResult<Answer> {
        let row = self.session()?;
        if spec.language.is_none() {
            spec.language = Language::parse(&row.language);
        }
        if spec.code.is_none() {
            let stored = self.with_store(|s| s.stored_code())?.ok_or_else(|| {
                ApiError::invalid_field(format!("`code` is required: session {sid} has no stored code (PUT /api/sessions/{sid}/code)"))
            })?;
            spec.code = Some(stored.code);
        }
        if spec.default_context && spec.context.is_none() {
            let lang = spec.language.unwrap_or(Language::Python);
            spec.context = self.plugin_context(lang, spec.fresh, &spec.stdin)?;
        }
        self.answer_run(sid, spec, Counted { shape: Shape::Run { session_id: Some(sid.to_string()) }, idempotency }, stream, false).await
    }

    /// One-shot: a throwaway session that is deleted once the run answered.
    async fn handle_execute(self: &Rc<Self>, sid: &str, spec: RunSpec, stream: Option<Form>) -> ApiResult<Answer> {
        let lang = spec.language.unwrap_or(Language::Python);
        self.with_store(|s| s.create_session(sid, lang.as_str(), false, &now_rfc3339(), "{}", "{}"))?;
        self.answer_run(sid, spec, Counted { shape: Shape::Run { session_id: None }, idempotency: None }, stream, true).await
    }

    /// Runs and answers: buffered, or (with `stream`) as events from a task of its own, so that
    /// the answer's head goes out at once. `throwaway` sessions are deleted after their run.
    async fn answer_run(
        self: &Rc<Self>,
        sid: &str,
        spec: RunSpec,
        counted: Counted,
        stream: Option<Form>,
        throwaway: bool,
    ) -> ApiResult<Answer> {
        let Some(form) = stream else {
            let answer = self.run_queued(sid, spec, counted, None).await;
            if throwaway {
                self.destroy(sid).await?;
            }
            return Ok(Answer::Json(200, answer?));
        };
        let (events, body) = Events::open(form, self.keep_alive_ms())?;
        let (this, sid) = (self.clone(), sid.to_string());
        wasm_bindgen_futures::spawn_local(async move {
            let mut answer = this.run_queued(&sid, spec, counted, Some(&events)).await;
            if throwaway {
                if let Err(e) = this.destroy(&sid).await {
                    answer = answer.and(Err(e));
                }
            }
            events.finish(answer);
        });
        Ok(Answer::Events(body))
    }

    /// The keep-alive interval of event streams.
    fn keep_alive_ms(&self) -> u64 {
        let set = self.env.var("SSE_KEEP_ALIVE_MS").ok().and_then(|v| v.to_string().parse().ok()).unwrap_or(events::KEEP_ALIVE_MS);
        set.clamp(10, events::KEEP_ALIVE_MS)
    }

    /// The session's setup: its status and log (the session object), or with events, its
    /// installers' and commands' output as it comes, then the session object once it ended.
    async fn handle_get_setup(&self, stream: Option<Form>) -> ApiResult<Answer> {
        let row = self.session()?;
        let Some(_) = stream else { return Ok(Answer::json(200, &self.session_object(&row)?)) };
        if row.setup_status == "pending" || row.setup_status == "running" {
            return Ok(Answer::Events(self.setup_events().attach()?));
        }
        // Over already: one event with how it ended.
        let (events, body) = Events::open(Form::Api, self.keep_alive_ms())?;
        let object = serde_json::to_value(self.session_object(&row)?).expect("serializes");
        events.finish(Ok(object));
        Ok(Answer::Events(body))
    }

    /// Ends the running run or setup (not queued runs): it answers `killed_by: "cancelled"`.
    async fn handle_cancel(&self, sid: &str) -> ApiResult<Answer> {
        self.session()?;
        let nothing = || ApiError::new(ErrorCode::Conflict, "nothing is running in this session");
        let running = self.running.borrow().clone().ok_or_else(nothing)?;
        let a = self.executor()?.cancel(sid).await?;
        match a.status {
            200 => Ok(Answer::json(200, &api::Cancelled { cancelled: running })),
            404 => Err(nothing()),
            s => Err(crate::core::answer::sandbox_error(s, &a.body)),
        }
    }

    /// One of the last runs' answers, by its id.
    fn handle_get_run(&self, run_id: &str) -> ApiResult<Answer> {
        self.session()?;
        let text = self.with_store(|s| s.answer(run_id))?.ok_or_else(|| {
            ApiError::not_found(format!(
                "no run {run_id} in this session (the answers of its last {} runs are kept)",
                crate::store::KEPT_ANSWERS
            ))
        })?;
        let v: Value = serde_json::from_str(&text).map_err(|e| ApiError::new(ErrorCode::Internal, format!("stored answer: {e}")))?;
        Ok(Answer::Json(200, v))
    }

    fn handle_runs(&self, limit: u32) -> ApiResult<Answer> {
        self.session()?;
        let runs = self.with_store(|s| s.runs(limit))?;
        let runs = runs
            .into_iter()
            .map(|r| api::RunEntry {
                started_at: r.started_at,
                duration_ms: r.duration_ms,
                exit_code: r.exit_code,
                killed_by: r.killed_by,
                language: r.language,
                run_id: r.run_id,
            })
            .collect();
        Ok(Answer::json(200, &api::RunList::new(runs)))
    }

    async fn handle_delete(&self, sid: &str) -> ApiResult<Answer> {
        self.session()?;
        let guard = self.queue.lock().await;
        self.destroy(sid).await?;
        drop(guard);
        Ok(Answer::json(200, &api::Deleted { deleted: sid.to_string() }))
    }

    /// Removes everything of the session: its rows (first, so no half state can be read), then
    /// its packs in R2 (shared ones only when no other session uses them), then its sandbox.
    async fn destroy(&self, sid: &str) -> ApiResult<()> {
        let packs = self.with_store(|s| s.all_packs())?;
        self.state
            .storage()
            .delete_all()
            .await
            .map_err(|e| ApiError::new(ErrorCode::Internal, format!("deleting the session state: {e}")))?;
        let _ = self.state.storage().delete_alarm().await;
        *self.store.borrow_mut() = None;
        self.release_packs(&packs).await;
        if let Ok(exec) = self.executor() {
            let _ = exec.delete(sid).await;
            exec.destroy().await;
        }
        Ok(())
    }

    /// Deletes packs from R2; shared packs only once the registry says no session uses them.
    pub(crate) async fn release_packs(&self, packs: &[PackRow]) {
        let (shared, own): (Vec<&PackRow>, Vec<&PackRow>) = packs.iter().partition(|p| p.shared != 0);
        let mut free: Vec<String> = own.iter().map(|p| p.key.clone()).collect();
        if !shared.is_empty() {
            let keys: Vec<String> = shared.iter().map(|p| p.key.clone()).collect();
            match registry::decref(&self.env, &keys).await {
                Ok(f) => free.extend(f),
                Err(e) => worker::console_error!("pack reference counts not updated: {e}"),
            }
        }
        if free.is_empty() || crate::platform::failpoint(&self.env, "keep-packs-on-delete") {
            return;
        }
        if let Ok(bucket) = self.bucket() {
            if let Err(e) = bucket.delete_multiple(free).await {
                worker::console_error!("deleting packs failed (left for the sweep): {e}");
            }
        }
    }

    /// Source side of `duplicate`: shares this session's packs with a new session.
    async fn handle_duplicate(&self, sid: &str, target: String) -> ApiResult<Answer> {
        if target == sid {
            return Err(ApiError::new(ErrorCode::Conflict, "a session cannot be duplicated onto itself"));
        }
        let guard = self.queue.lock().await;
        // The copy starts its contexts from the latest checkpoints: those held back go to R2 first.
        self.flush_checkpoints(sid).await?;
        let row = self.session()?;
        let (files, packs, code, contexts) = self.with_store(|s| Ok((s.files()?, s.all_packs()?, s.stored_code()?, s.contexts()?)))?;
        let now = now_rfc3339();
        if !registry::add(&self.env, &target, &row.language, &now).await? {
            return Err(ApiError::new(ErrorCode::Conflict, format!("session {target} already exists")));
        }
        let keys: Vec<String> = packs.iter().map(|p| p.key.clone()).collect();
        if !keys.is_empty() {
            registry::addref(&self.env, &keys).await?;
            self.with_store(|s| s.mark_packs_shared())?;
        }
        let import = SessionOp::Import { bundle: Bundle { session: row, files, packs, code, contexts } };
        let copied = rpc::session_typed::<api::Session>(&self.env, &target, &import).await;
        drop(guard);
        match copied {
            Ok((_, copy)) => Ok(Answer::json(201, &copy)),
            Err(e) => {
                if !keys.is_empty() {
                    let _ = registry::decref(&self.env, &keys).await;
                }
                if e.code != ErrorCode::Conflict {
                    let _ = registry::remove(&self.env, &target).await;
                }
                Err(e)
            }
        }
    }

    /// Target side of `duplicate`.
    fn handle_import(&self, sid: &str, b: &Bundle) -> ApiResult<Answer> {
        if self.with_store(|s| s.session())?.is_some() {
            return Err(ApiError::new(ErrorCode::Conflict, format!("session {sid} already exists")));
        }
        let now = now_rfc3339();
        self.with_store(|s| {
            s.import_session(sid, &b.session, b.code.as_ref(), &now)?;
            s.insert_shared_packs(&b.packs, &now)?;
            for c in &b.contexts {
                s.insert_context(c)?;
            }
            s.upsert_files(&b.files, &now)
        })?;
        Ok(Answer::json(201, &self.session_object(&self.session()?)?))
    }
}
