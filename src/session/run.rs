//! The run pipeline of the session object: queue, setup, inject, run, store the delta, commit.
//!
//! Order of writes: the delta's pack is written to R2 *before* the SQLite commit that refers to
//! it; packs that no file refers to any more are deleted *after* the commit that stopped
//! referring to them. A crash at any point leaves the last committed state whole (at worst an
//! unreferenced object in R2).

use super::events::Events;
use super::{Session, MAX_WAITING_RUNS};
use crate::core::answer::{check_run_answer, check_snapshot, header_len, MAX_HEADER_BYTES, MAX_WORKSPACE_BYTES, MAX_WORKSPACE_FILES};
use crate::core::answer::{Record, Records};
use crate::core::error::{ApiError, ApiResult};
use crate::core::index::{is_upload_key, pack_key, packs_to_read, rows_from_delta};
use crate::core::plan::{answer_data, killed_name, plan_commit, plan_run, CommitPlan, SessionFacts};
use crate::core::request::{Idempotency, RunSpec, SetupSpec, IDEMPOTENCY_MS};
use crate::core::shape::{plugin_answer, run_answer, tail, with_notice};
use crate::executor::{error_from, Body, Executor};
use crate::platform::{failpoint, now_rfc3339, random_hex};
use crate::registry::client as registry;
use crate::store::{RunRow, SessionRow, StoredAnswer};
use edgerun_protocol::{frame, split_frame, Delta, ErrorCode, InjectRequest, Language, RunAnswer, RunRequest, RunResult, Segment};
use futures_util::{stream, StreamExt};
use serde_json::Value;
use std::rc::Rc;
use worker::{ByteStream, FixedLengthStream, Response};

/// Largest setup log kept.
const SETUP_LOG_BYTES: usize = 16 * 1024;
/// What a setup's follower who comes once it started is given first: its latest events, this many bytes.
const SETUP_REPLAY_BYTES: usize = 64 * 1024;
/// Injects up to this size are read whole and sent as one body; larger ones are streamed.
const BUFFERED_INJECT_MAX: u64 = 32 * 1024 * 1024;
/// Live packs beyond which the session's content is compacted into one.
const COMPACT_AFTER_PACKS: usize = 16;
/// How stale the listing's `last_run_at` may get.
const LIST_TOUCH_MS: f64 = 30_000.0;
/// Timeout of a setup (installs can be slow).
const SETUP_TIMEOUT_SECS: u64 = 300;

/// What a run produced.
pub(crate) struct RunOutcome {
    pub result: RunResult,
    /// The public answer of a counted run (what its route answers, and what its run id fetches).
    pub answer: Option<Value>,
}

/// The shape of a counted run's answer.
pub(crate) enum Shape {
    /// `POST …/run` and `/api/execute` (no session id there).
    Run { session_id: Option<String> },
    /// The plugin endpoint.
    Plugin,
}

impl Shape {
    fn answer(&self, result: &RunResult, data: &Value, run_id: &str, context: Option<&str>) -> Value {
        let context = context.map(String::from);
        let v = match self {
            Shape::Run { session_id } => serde_json::to_value(crate::core::api::RunResponse {
                context,
                ..run_answer(result, session_id.as_deref(), &super::data_object(data), run_id)
            }),
            Shape::Plugin => serde_json::to_value(crate::core::api::PluginAnswer { context, ..plugin_answer(result, run_id) }),
        };
        v.expect("answers serialize")
    }
}

/// A counted run: the user's own (setups are not), recorded in the history with its answer.
pub(crate) struct Counted {
    pub shape: Shape,
    pub idempotency: Option<Idempotency>,
}

/// Reads a framed answer's header from a streamed response; the rest of the stream (what was
/// already read past the header, then the remainder) is handed back unread.
async fn read_framed<T: for<'de> serde::Deserialize<'de>>(
    resp: &mut Response,
) -> ApiResult<(T, impl futures_util::Stream<Item = worker::Result<Vec<u8>>> + 'static)> {
    let bad = |m: String| ApiError::new(ErrorCode::SandboxFailed, m);
    let mut body: ByteStream = resp.stream().map_err(|e| bad(format!("sandbox answer: {e}")))?;
    let mut buf = Vec::new();
    loop {
        if buf.len() >= 4 {
            // Refused before buffering a header larger than any honest answer's.
            let len = header_len([buf[0], buf[1], buf[2], buf[3]])?;
            if buf.len() >= 4 + len {
                break;
            }
        }
        match body.next().await {
            Some(Ok(chunk)) => buf.extend_from_slice(&chunk),
            Some(Err(e)) => return Err(bad(format!("reading the sandbox's answer: {e}"))),
            None => break,
        }
    }
    let (header, rest): (T, &[u8]) = split_frame(&buf).map_err(bad)?;
    let rest = rest.to_vec();
    Ok((header, stream::once(async move { Ok::<_, worker::Error>(rest) }).chain(body)))
}

/// Reads a streamed answer: output records go to `events` as they arrive; the answer record's
/// header is checked like a framed one's, and the rest of the body (the tar) is handed back unread.
async fn read_streamed(
    resp: &mut Response,
    events: &Rc<Events>,
) -> ApiResult<(RunAnswer, impl futures_util::Stream<Item = worker::Result<Vec<u8>>> + 'static)> {
    let bad = |m: String| ApiError::new(ErrorCode::SandboxFailed, m);
    let mut body: ByteStream = resp.stream().map_err(|e| bad(format!("sandbox answer: {e}")))?;
    let mut records = Records::default();
    let mut header = None;
    while header.is_none() {
        let chunk = match body.next().await {
            Some(Ok(chunk)) => chunk,
            Some(Err(e)) => return Err(bad(format!("reading the sandbox's answer: {e}"))),
            None => return Err(bad("the sandbox's streamed answer ended before its answer record".into())),
        };
        for r in records.push(&chunk)? {
            match r {
                Record::Output(out, bytes) => events.output(out, &bytes),
                Record::Answer(json) => header = Some(json),
                Record::Error(body) => return Err(crate::core::answer::sandbox_error(500, &body)),
            }
        }
    }
    let answer: RunAnswer =
        serde_json::from_slice(&header.expect("the loop ends with it")).map_err(|e| bad(format!("framed header: {e}")))?;
    let rest = records.rest();
    Ok((answer, stream::once(async move { Ok::<_, worker::Error>(rest) }).chain(body)))
}

/// A `Blob` of `header` followed by the R2 objects `keys`, each read whole by the runtime.
async fn read_packs(bucket: worker::Bucket, header: Vec<u8>, keys: &[String]) -> ApiResult<wasm_bindgen::JsValue> {
    use wasm_bindgen::JsValue;
    use wasm_bindgen_futures::JsFuture;
    let failed = |key: &str, e: String| ApiError::new(ErrorCode::Internal, format!("reading pack {key}: {e}"));
    let parts = js_sys::Array::new();
    parts.push(&js_sys::Uint8Array::from(header.as_slice()));
    for key in keys {
        let obj = bucket.get(key.clone()).execute().await.map_err(|e| failed(key, e.to_string()))?;
        let obj = obj.ok_or_else(|| ApiError::new(ErrorCode::Internal, format!("pack {key} is missing from R2")))?;
        let Some(body) = obj.body() else { continue };
        let worker::ResponseBody::Stream(stream) = body.response_body().map_err(|e| failed(key, e.to_string()))? else { continue };
        let whole = web_sys::Response::new_with_opt_readable_stream(Some(&stream))
            .and_then(|r| r.array_buffer())
            .map_err(|e| failed(key, format!("{e:?}")))?;
        parts.push(&JsFuture::from(whole).await.map_err(|e| failed(key, format!("{e:?}")))?);
    }
    web_sys::Blob::new_with_buffer_source_sequence(&parts)
        .map(JsValue::from)
        .map_err(|e| ApiError::new(ErrorCode::Internal, format!("inject body: {e:?}")))
}

/// A stream of `header` followed by the R2 objects `keys`, each piped in as R2 streams it.
fn pipe_packs(bucket: worker::Bucket, header: Vec<u8>, keys: Vec<String>) -> ApiResult<web_sys::ReadableStream> {
    use wasm_bindgen::JsValue;
    use wasm_bindgen_futures::JsFuture;
    let js_err = |e: JsValue| ApiError::new(ErrorCode::Internal, format!("inject stream: {e:?}"));
    let pipe = web_sys::TransformStream::new().map_err(js_err)?;
    let readable = pipe.readable();
    let writable = pipe.writable();
    wasm_bindgen_futures::spawn_local(async move {
        let fed: Result<(), JsValue> = async {
            let writer = writable.get_writer()?;
            JsFuture::from(writer.write_with_chunk(&js_sys::Uint8Array::from(header.as_slice()))).await?;
            writer.release_lock();
            let options = web_sys::StreamPipeOptions::new();
            options.set_prevent_close(true);
            for key in keys {
                let missing = || JsValue::from(format!("pack {key} is missing from R2"));
                let obj = bucket.get(key.clone()).execute().await.map_err(|e| JsValue::from(e.to_string()))?.ok_or_else(missing)?;
                match obj.body().ok_or_else(missing)?.response_body().map_err(|e| JsValue::from(e.to_string()))? {
                    worker::ResponseBody::Stream(s) => JsFuture::from(s.pipe_to_with_options(&writable, &options)).await?,
                    worker::ResponseBody::Body(b) => {
                        let writer = writable.get_writer()?;
                        let chunk = JsFuture::from(writer.write_with_chunk(&js_sys::Uint8Array::from(b.as_slice()))).await?;
                        writer.release_lock();
                        chunk
                    }
                    worker::ResponseBody::Empty => JsValue::UNDEFINED,
                };
            }
            JsFuture::from(writable.close()).await?;
            Ok(())
        }
        .await;
        if let Err(e) = fed {
            worker::console_error!("inject stream failed: {e:?}");
            let _ = writable.abort_with_reason(&e);
        }
    });
    Ok(readable)
}

impl Session {
    /// Waits for the session's turn (at most [`MAX_WAITING_RUNS`] wait), settles a pending setup,
    /// then runs.
    pub(crate) async fn run_queued(&self, sid: &str, spec: RunSpec, counted: Counted, events: Option<&Rc<Events>>) -> ApiResult<Value> {
        if self.waiting.get() >= MAX_WAITING_RUNS {
            return Err(ApiError::new(
                ErrorCode::TooManyRuns,
                format!("{MAX_WAITING_RUNS} runs are already waiting on this session; retry later"),
            ));
        }
        self.waiting.set(self.waiting.get() + 1);
        let guard = self.queue.lock().await;
        self.waiting.set(self.waiting.get() - 1);
        let out = async {
            // A retry behind the queue sees the first request's answer once it is committed.
            if let Some(first) = self.replay(counted.idempotency.as_ref())? {
                return Ok(first);
            }
            self.settle_setup(sid).await?;
            let row = self.session()?;
            let out = self.run_now(sid, &row, spec, Vec::new(), Some(&counted), events).await?;
            Ok(out.answer.expect("a counted run has an answer"))
        }
        .await;
        drop(guard);
        out
    }

    /// The answer of the run first asked with this idempotency key (within 24 h); a 409 when the
    /// key came with another request.
    fn replay(&self, idempotency: Option<&Idempotency>) -> ApiResult<Option<Value>> {
        let Some(i) = idempotency else { return Ok(None) };
        let since = js_sys::Date::now() - IDEMPOTENCY_MS;
        let Some((run_id, hash)) = self.with_store(|s| s.answer_by_key(&i.key, since))? else { return Ok(None) };
        if hash != i.hash {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!("Idempotency-Key {:?} was first used with another request (run {run_id}); use a new key", i.key),
            ));
        }
        let text = self.with_store(|s| s.answer(&run_id))?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    /// Runs a pending (or interrupted) setup now. Call with the queue held.
    pub(crate) async fn settle_setup(&self, sid: &str) -> ApiResult<()> {
        let row = self.session()?;
        if row.setup_status != "pending" && row.setup_status != "running" {
            return Ok(());
        }
        let Some(spec) = row.setup_spec.as_deref().and_then(|j| serde_json::from_str::<SetupSpec>(j).ok()) else {
            return self.with_store(|s| s.set_setup("completed", None, Some(None)));
        };
        self.setup_active.set(true);
        self.with_store(|s| s.set_setup("running", None, None))?;
        let run = RunSpec {
            language: Language::parse(&row.language),
            code: None,
            timeout_secs: Some(SETUP_TIMEOUT_SECS),
            env: Default::default(),
            stdin: String::new(),
            install: spec.install.clone(),
            context: None,
            fresh: false,
            default_context: false,
        };
        // Whoever follows the setup (GET …/setup with events) reads its output from these.
        let events = self.setup_events();
        let outcome = self.run_now(sid, &row, run, spec.commands.clone(), None, Some(&events)).await;
        self.setup_active.set(false);
        let (status, log) = match outcome {
            Ok(o) => {
                let r = o.result;
                let mut log = r.logs.join("\n");
                for part in [&r.stdout, &r.stderr] {
                    if !part.is_empty() {
                        if !log.is_empty() {
                            log.push('\n');
                        }
                        log.push_str(part);
                    }
                }
                let ok = r.exit_code == 0 && r.killed_by.is_none();
                (if ok { "completed" } else { "failed" }, log)
            }
            Err(e) => ("failed", format!("setup could not run: {}", e.message)),
        };
        let stored = self.with_store(|s| s.set_setup(status, Some(&tail(&log, SETUP_LOG_BYTES)), Some(None)));
        let answer =
            stored.clone().and_then(|()| self.session_object(&self.session()?)).map(|o| serde_json::to_value(o).expect("serializes"));
        self.setup_events.borrow_mut().take();
        events.finish(answer);
        stored
    }

    /// The events of the session's setup, made when a setup runs or someone asks to follow one; a
    /// follower who comes later is first given what the setup sent so far (its latest 64 KiB).
    pub(crate) fn setup_events(&self) -> Rc<Events> {
        let make = || Events::replaying(crate::core::sse::Form::Api, self.keep_alive_ms(), SETUP_REPLAY_BYTES);
        self.setup_events.borrow_mut().get_or_insert_with(make).clone()
    }

    /// Runs once the queue is held. `counted` runs go into `run_count` and the history.
    ///
    /// The pipeline: plan (pure, `core::plan`) → execute on the committed workspace (injecting it
    /// first when the executor does not hold it) → store the delta's pack → commit → chores.
    pub(crate) async fn run_now(
        &self,
        sid: &str,
        row: &SessionRow,
        spec: RunSpec,
        commands: Vec<String>,
        counted: Option<&Counted>,
        events: Option<&Rc<Events>>,
    ) -> ApiResult<RunOutcome> {
        let started = now_rfc3339();
        let run_id = counted.map(|_| format!("run_{}", &random_hex()[..24]));
        self.last_activity_ms.set(js_sys::Date::now());
        let facts = SessionFacts {
            version: row.version.as_deref(),
            data: &row.data,
            persistent: row.persistent != 0,
            language: &row.language,
            default_timeout: row.default_timeout.map(|t| t as u64),
            allow_internet: row.allow_internet != 0,
        };
        let context = spec.context.clone();
        let mut plan = plan_run(facts, spec, commands, counted.is_some());
        if let Some(id) = &context {
            // A context run: the context's interpreter, whatever the session's language.
            let c = self.with_store(|s| s.context(id))?.ok_or_else(|| ApiError::not_found(format!("no context {id} in this session")))?;
            let lang = Language::parse(&c.language).ok_or_else(|| ApiError::new(ErrorCode::Internal, "a stored context's language"))?;
            if matches!(lang, Language::Node | Language::Typescript) && !plan.request.stdin.is_empty() {
                return Err(ApiError::bad(
                    "`stdin` cannot be given to a Node context (its interpreter's standard input is the runtime's); run without `context`",
                ));
            }
            plan.request.language = Some(lang);
            plan.request.context = Some(edgerun_protocol::ContextRef { id: id.clone(), language: lang });
            plan.language = c.language;
        }
        // A context run that changes nothing but its checkpoint costs no R2 write on its way.
        plan.request.hold_checkpoints = context.is_some() && self.checkpoint_flush_ms() > 0;
        let exec = self.executor()?;
        exec.ensure_ready().await?;
        if let (Some(ev), Some(id)) = (events, run_id.as_deref()) {
            ev.send(&crate::core::sse::started(ev.form(), id));
        }
        *self.running.borrow_mut() = Some(run_id.clone().unwrap_or_else(|| "setup".to_string()));
        let executed = self.execute_on_committed(sid, &exec, row, plan.request.clone(), events).await;
        *self.running.borrow_mut() = None;
        let (mut answer, tar) = executed?;
        let notice = (counted.is_some() && row.setup_status == "failed")
            .then_some("[edgerun] the session's setup failed (see setup_log); this run proceeded without it");
        answer.result = with_notice(answer.result, notice);
        let public = counted
            .zip(run_id.as_deref())
            .map(|(c, id)| (c, id, c.shape.answer(&answer.result, &answer_data(&answer.result, &plan), id, context.as_deref())));
        let commit = plan_commit(&answer.delta, row.version.as_deref());
        let pack = if commit.needs_pack { Some(self.store_pack(sid, &answer.delta, tar).await?) } else { None };
        let now = now_rfc3339();
        let history = public.as_ref().map(|(c, id, text)| {
            let run = RunRow {
                started_at: started,
                duration_ms: answer.result.duration_ms,
                exit_code: answer.result.exit_code as i64,
                killed_by: answer.result.killed_by.map(killed_name),
                language: plan.language.clone(),
                run_id: Some(id.to_string()),
            };
            (run, text.to_string(), c.idempotency.as_ref())
        });
        self.commit_answer(&answer, &commit, pack.as_ref(), history.as_ref().map(|(r, t, i)| (r, t.as_str(), *i)), &now)?;
        if let Some(id) = &context {
            self.with_store(|s| s.count_context_run(id))?;
        }
        self.note_held(&answer, context.as_deref()).await;
        self.after_commit(sid, &exec, row, &answer.delta, &commit, counted.is_some(), now).await;
        Ok(RunOutcome { answer: public.map(|(_, _, v)| v), result: answer.result })
    }

    /// Execute: asks the executor to run against the committed version; when it does not hold it
    /// (new or restarted: it answers 409 `workspace_stale` and nothing ran), injects the workspace
    /// and asks again. The answer's header is read and checked whole (the sandbox may answer
    /// anything); its tar stays unread, to be streamed on.
    async fn execute_on_committed(
        &self,
        sid: &str,
        exec: &Executor,
        row: &SessionRow,
        mut req: RunRequest,
        events: Option<&Rc<Events>>,
    ) -> ApiResult<(RunAnswer, futures_util::stream::LocalBoxStream<'static, worker::Result<Vec<u8>>>)> {
        let streamed = events.is_some();
        let mut resp = if streamed { exec.run_streamed(sid, &req).await? } else { exec.run(sid, &req).await? };
        if resp.status_code() == 409 {
            let e = error_from(&mut resp).await;
            if e.code != ErrorCode::WorkspaceStale {
                return Err(e);
            }
            req.expect_version = Some(self.inject(sid, exec, row).await?);
            resp = if streamed { exec.run_streamed(sid, &req).await? } else { exec.run(sid, &req).await? };
        }
        if resp.status_code() != 200 {
            return Err(error_from(&mut resp).await);
        }
        let (answer, tar) = match events {
            Some(ev) => {
                let (a, t) = read_streamed(&mut resp, ev).await?;
                (a, t.boxed_local())
            }
            None => {
                let (a, t) = read_framed::<RunAnswer>(&mut resp).await?;
                (a, t.boxed_local())
            }
        };
        check_run_answer(&answer, req.expect_version.as_deref())?;
        Ok((answer, tar))
    }

    /// Store: streams the delta's tar into R2 as one pack, under a key the Worker chooses, before
    /// anything refers to it. Answers (key, sequence number, size).
    async fn store_pack(
        &self,
        sid: &str,
        delta: &Delta,
        tar: impl futures_util::Stream<Item = worker::Result<Vec<u8>>> + 'static,
    ) -> ApiResult<(String, i64, u64)> {
        let seq = self.with_store(|s| s.next_pack_seq())?;
        let key = pack_key(sid, seq, &delta.version, &random_hex());
        if failpoint(&self.env, "r2-put") {
            return Err(ApiError::new(
                ErrorCode::Internal,
                "storing the workspace in R2 failed (failpoint r2-put); the run's changes are not kept",
            ));
        }
        // Counted on the way: a body that is not the length its header says is the
        // sandbox's fault (the R2 write fails and nothing is committed either way).
        let sent = std::rc::Rc::new(std::cell::Cell::new(0u64));
        let tap = sent.clone();
        let tar = tar.inspect(move |c| {
            if let Ok(c) = c {
                tap.set(tap.get() + c.len() as u64);
            }
        });
        let put = self.bucket()?.put(key.clone(), FixedLengthStream::wrap(tar, delta.tar_len)).execute().await;
        if let Err(e) = put {
            return Err(if sent.get() != delta.tar_len {
                ApiError::new(
                    ErrorCode::SandboxFailed,
                    format!(
                        "the sandbox's answer was refused, nothing was kept: its tar body is not the {} bytes its header says ({} came)",
                        delta.tar_len,
                        sent.get()
                    ),
                )
            } else {
                ApiError::new(ErrorCode::Internal, format!("storing the workspace in R2 failed, the run's changes are not kept: {e}"))
            });
        }
        if failpoint(&self.env, "hang-after-r2-put") {
            // Stops between the R2 write and the SQLite commit so that a test can kill workerd there.
            worker::Delay::from(std::time::Duration::from_secs(3600)).await;
        }
        Ok((key, seq, delta.tar_len))
    }

    /// Commit: one SQLite transaction with the new file rows, deletions, version and data, and
    /// (for counted runs, started at `started`) the run's history row.
    fn commit_answer(
        &self,
        answer: &RunAnswer,
        commit: &CommitPlan,
        pack: Option<&(String, i64, u64)>,
        history: Option<(&RunRow, &str, Option<&Idempotency>)>,
        now: &str,
    ) -> ApiResult<()> {
        let (delta, result) = (&answer.delta, &answer.result);
        let rows = if commit.changed { rows_from_delta(delta, pack.map(|(k, _, _)| k.as_str()).unwrap_or("")) } else { Vec::new() };
        let deleted: &[String] = if commit.changed { &delta.deleted } else { &[] };
        self.with_store(|s| {
            s.commit_run(
                pack.map(|(k, seq, size)| (k.as_str(), *seq, *size)),
                &rows,
                deleted,
                commit.changed.then_some(delta.version.as_str()),
                result.data.as_ref().map(|d| d.to_string()).as_deref(),
                now,
                history.map(|(r, _, _)| r),
            )?;
            // The answer, in the same transaction: a run that is committed can be fetched by its id.
            if let Some((run, text, idempotency)) = history {
                let run_id = run.run_id.as_deref().unwrap_or_default();
                s.save_answer(&StoredAnswer { run_id, text, idempotency, created_ms: js_sys::Date::now() })?;
            }
            Ok(())
        })
    }

    /// Chores after a commit: collect packs nothing refers to, compact when the session spreads
    /// over too many, refresh the listing's `last_run_at`, and arm the idle check.
    #[allow(clippy::too_many_arguments, reason = "one step of the pipeline, reading its inputs")]
    async fn after_commit(
        &self,
        sid: &str,
        exec: &Executor,
        row: &SessionRow,
        delta: &Delta,
        commit: &CommitPlan,
        counted: bool,
        now: String,
    ) {
        if commit.changed {
            self.collect_dead_packs().await;
            if counted && row.persistent != 0 {
                if let Err(e) = self.compact_if_needed(sid, exec, &delta.version).await {
                    // The run is committed either way; compaction is retried after the next run.
                    worker::console_error!("compaction of {sid} skipped: {e}");
                }
            }
        }
        if counted {
            // The listing's last_run_at, refreshed at most every LIST_TOUCH_MS (a registry hop costs
            // a few ms per run); the session object's own last_run_at is always exact.
            let now_ms = js_sys::Date::now();
            if row.last_run_at.is_none() || now_ms - self.last_touch_ms.get() >= LIST_TOUCH_MS {
                self.last_touch_ms.set(now_ms);
                let env = self.env.clone();
                let id = sid.to_string();
                self.state.wait_until(async move {
                    let _ = registry::touch(&env, &id, &now).await;
                });
            }
            let _ = self.schedule_idle_check().await;
        }
    }

    /// How long a context's checkpoint may stay in the sandbox before its commit
    /// (`CHECKPOINT_FLUSH_MS`, default 1000; 0 commits it with its run, as any change).
    pub(crate) fn checkpoint_flush_ms(&self) -> i64 {
        self.env.var("CHECKPOINT_FLUSH_MS").ok().and_then(|v| v.to_string().parse().ok()).unwrap_or(1000).max(0)
    }

    /// Keeps track of checkpoints held back: a run that held them arms the flush; one that kept
    /// its changes without holding took them all along.
    async fn note_held(&self, answer: &RunAnswer, context: Option<&str>) {
        if answer.held_checkpoints {
            if let Some(id) = context {
                self.held.borrow_mut().insert(id.to_string());
            }
            if let Err(e) = self.arm_flush().await {
                worker::console_error!("arming the checkpoint commit failed (the next run takes them along): {e}");
            }
        } else if !answer.delta.version.is_empty() {
            self.held.borrow_mut().clear();
            self.held_unknown.set(false);
        }
    }

    /// Arms the alarm for the flush, unless it is armed sooner.
    pub(crate) async fn arm_flush(&self) -> worker::Result<()> {
        let ms = self.checkpoint_flush_ms();
        let at = js_sys::Date::now() as i64 + ms;
        match self.state.storage().get_alarm().await? {
            Some(t) if t <= at => Ok(()),
            _ => self.state.storage().set_alarm(ms).await,
        }
    }

    /// Commits the checkpoints the executor holds back (see [`Session::commit_held_changes`]).
    /// Call with the queue held.
    pub(crate) async fn flush_checkpoints(&self, sid: &str) -> ApiResult<()> {
        if self.held.borrow().is_empty() && !self.held_unknown.replace(false) {
            return Ok(());
        }
        self.commit_held_changes(sid).await
    }

    /// Commits what the executor's workspace holds beyond the committed version (held
    /// checkpoints, what background processes wrote): a run without code that holds nothing, not
    /// counted. Call with the queue held. An executor that does not hold the committed version
    /// (restarted, recycled) holds nothing of ours: nothing is lost there that this could save,
    /// and nothing is injected for it.
    pub(crate) async fn commit_held_changes(&self, sid: &str) -> ApiResult<()> {
        let row = self.session()?;
        let exec = self.executor()?;
        if row.persistent == 0 || !exec.is_up() {
            self.held.borrow_mut().clear();
            return Ok(());
        }
        let req = RunRequest { expect_version: row.version.clone(), ..RunRequest::default() };
        let mut resp = exec.run(sid, &req).await?;
        if resp.status_code() == 409 {
            self.held.borrow_mut().clear();
            return Ok(());
        }
        if resp.status_code() != 200 {
            return Err(error_from(&mut resp).await);
        }
        let (answer, tar) = read_framed::<RunAnswer>(&mut resp).await?;
        check_run_answer(&answer, row.version.as_deref())?;
        let commit = plan_commit(&answer.delta, row.version.as_deref());
        let pack = if commit.needs_pack { Some(self.store_pack(sid, &answer.delta, tar).await?) } else { None };
        let now = now_rfc3339();
        self.commit_answer(&answer, &commit, pack.as_ref(), None, &now)?;
        self.note_held(&answer, None).await;
        self.after_commit(sid, &exec, &row, &answer.delta, &commit, false, now).await;
        Ok(())
    }

    async fn schedule_idle_check(&self) -> worker::Result<()> {
        if self.state.container().is_none() {
            return Ok(());
        }
        let idle = self.idle_ms();
        if self.state.storage().get_alarm().await?.is_none() {
            self.state.storage().set_alarm(idle).await?;
        }
        Ok(())
    }

    /// When the live content is spread over too many packs (each read on a cold restore), rewrites
    /// it into one: the executor snapshots the committed version, the snapshot is stored as one
    /// pack, the index is repointed in one commit, and the old packs are collected.
    async fn compact_if_needed(&self, sid: &str, exec: &Executor, version: &str) -> ApiResult<()> {
        let live = self.with_store(|s| s.all_packs())?.len();
        if live <= COMPACT_AFTER_PACKS {
            return Ok(());
        }
        // A snapshot is at most the workspace, its tar overhead and its header.
        let limit = (MAX_WORKSPACE_BYTES as usize).saturating_add(MAX_WORKSPACE_FILES * 12 * 1024).saturating_add(MAX_HEADER_BYTES);
        let ans = exec.snapshot(sid, version, limit).await?;
        if ans.status != 200 {
            return Err(crate::core::answer::sandbox_error(ans.status, &ans.body));
        }
        if ans.body.len() >= 4 {
            header_len([ans.body[0], ans.body[1], ans.body[2], ans.body[3]])?;
        }
        let (snap, tar): (edgerun_protocol::Delta, &[u8]) =
            split_frame(&ans.body).map_err(|m| ApiError::new(ErrorCode::SandboxFailed, m))?;
        check_snapshot(&snap, version, tar.len() as u64)?;
        let seq = self.with_store(|s| s.next_pack_seq())?;
        let key = pack_key(sid, seq, version, &format!("{}-compact", random_hex()));
        self.bucket()?
            .put(key.clone(), tar.to_vec())
            .execute()
            .await
            .map_err(|e| ApiError::new(ErrorCode::Internal, format!("storing the compacted pack: {e}")))?;
        let rows = rows_from_delta(&snap, &key);
        let now = now_rfc3339();
        self.with_store(|s| {
            // Only if nothing was committed in between (the queue is held, so nothing was).
            if s.session()?.and_then(|r| r.version).as_deref() != Some(version) {
                return Err(ApiError::new(ErrorCode::Conflict, "the session moved on during compaction"));
            }
            s.commit_run(Some((&key, seq, tar.len() as u64)), &rows, &[], None, None, &now, None)
        })?;
        self.collect_dead_packs().await;
        Ok(())
    }

    /// Brings the executor to the committed version: the packs holding live content, oldest first.
    pub(crate) async fn inject(&self, sid: &str, exec: &Executor, session: &SessionRow) -> ApiResult<String> {
        let (rows, packs) = self.with_store(|s| Ok((s.files()?, s.all_packs()?)))?;
        let seqs = packs.iter().map(|p| (p.key.clone(), p.seq)).collect();
        let sizes: std::collections::BTreeMap<String, u64> = packs.iter().map(|p| (p.key.clone(), p.size as u64)).collect();
        let keys = packs_to_read(&rows, &seqs);
        let mut segments = Vec::new();
        for key in &keys {
            let len = *sizes.get(key).ok_or_else(|| ApiError::new(ErrorCode::Internal, format!("pack {key} has no size")))?;
            // An upload is stored as the file's raw bytes; a run's delta as a tar.
            let raw_path = if is_upload_key(key) { rows.iter().find(|r| &r.pack == key).map(|r| r.entry.path.clone()) } else { None };
            segments.push(match raw_path {
                Some(path) => Segment::Raw { path, len },
                None => Segment::Tar { len },
            });
        }
        let version = session.version.clone().unwrap_or_else(|| "empty".to_string());
        let req = InjectRequest { version: version.clone(), manifest: rows.into_iter().map(|r| r.entry).collect(), segments };
        let total: u64 = req
            .segments
            .iter()
            .map(|s| match s {
                Segment::Tar { len } | Segment::Raw { len, .. } => *len,
            })
            .sum();
        let body = if total <= BUFFERED_INJECT_MAX {
            // Small workspaces: the packs read whole and sent as one body (the fastest path
            // measured here), held by the runtime: their bytes never enter wasm memory, which
            // would keep its high-water mark for the object's lifetime.
            Body::Js(read_packs(self.bucket()?, frame(&req, &[]), &keys).await?)
        } else {
            // Large ones: one streamed request, each pack piped from R2 as it arrives; the bytes
            // stay in the runtime's streams (never copied through wasm, never all in memory).
            Body::Stream(pipe_packs(self.bucket()?, frame(&req, &[]), keys)?)
        };
        let mut resp = exec.inject(sid, body).await?;
        if resp.status_code() != 200 {
            return Err(error_from(&mut resp).await);
        }
        Ok(version)
    }

    /// Collects R2 objects under this session's prefix that no committed state refers to: packs
    /// written by a run whose commit never happened (a crash between the two writes). Runs once
    /// per object instance, with the queue held so no run is between its two writes.
    pub(crate) async fn sweep_orphans(&self, sid: &str) -> ApiResult<usize> {
        let known: std::collections::BTreeSet<String> = self.with_store(|s| s.all_packs())?.into_iter().map(|p| p.key).collect();
        let bucket = self.bucket()?;
        let prefix = format!("packs/{sid}/");
        let mut candidates = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut list = bucket.list().prefix(prefix.clone());
            if let Some(c) = cursor.take() {
                list = list.cursor(c);
            }
            let page = list.execute().await.map_err(|e| ApiError::new(ErrorCode::Internal, format!("listing packs: {e}")))?;
            candidates.extend(page.objects().into_iter().map(|o| o.key()).filter(|k| !known.contains(k)));
            match (page.truncated(), page.cursor()) {
                (true, Some(c)) => cursor = Some(c),
                _ => break,
            }
        }
        if candidates.is_empty() {
            return Ok(0);
        }
        let used = registry::referenced(&self.env, &candidates).await?;
        let orphans: Vec<String> = candidates.into_iter().filter(|k| !used.contains(k)).collect();
        if !orphans.is_empty() {
            bucket
                .delete_multiple(orphans.clone())
                .await
                .map_err(|e| ApiError::new(ErrorCode::Internal, format!("deleting orphans: {e}")))?;
        }
        Ok(orphans.len())
    }

    /// Deletes packs no file refers to any more (after the commit that stopped referring to them).
    pub(crate) async fn collect_dead_packs(&self) {
        let Ok(dead) = self.with_store(|s| s.dead_packs()) else { return };
        if dead.is_empty() {
            return;
        }
        let keys: Vec<String> = dead.iter().map(|p| p.key.clone()).collect();
        let _ = self.with_store(|s| s.forget_packs(&keys));
        self.release_packs(&dead).await;
    }
}
