//! The background processes API of the session object: start, list, read or follow the logs of,
//! write to and end processes that outlive the request that started them. The list and each
//! process's last known state live in the session's SQLite; the processes live in the executor,
//! whose word brings a running row up to date (an executor that does not know it lost it).
use super::events::Events;
use super::{Answer, Session};
use crate::core::answer::{sandbox_error, Record, Records};
use crate::core::api;
use crate::core::error::{ApiError, ApiResult};
use crate::core::processes::{
    ended_since, lifetime, may_start, new_id, plan_tick, ProcessRow, StartSpec, DEFAULT_MAX_SECONDS, MAX_MAX_SECONDS,
};
use crate::core::sse::Form;
use crate::platform::{now_rfc3339, random_hex};
use edgerun_protocol::{ErrorCode, ProcessStart, ProcessState, ProcessStates};
use futures_util::StreamExt;
use std::rc::Rc;

/// How often the workspace is committed while a process runs, unless `PROCESS_COMMIT_MS` says.
const DEFAULT_COMMIT_MS: i64 = 60_000;
/// How often the executor is asked whether a process ended while one runs, unless
/// `PROCESS_POLL_MS` says: a process's final commit comes within this of its end.
const DEFAULT_POLL_MS: i64 = 2000;

/// Largest logs answer read from the executor: two 1 MiB rings, escaped as JSON text (six bytes
/// per byte at worst), with room for a larger configured ring.
const MAX_LOGS_ANSWER: usize = 32 << 20;

fn parse<T: for<'de> serde::Deserialize<'de>>(body: &[u8], what: &str) -> ApiResult<T> {
    serde_json::from_slice(body).map_err(|e| ApiError::new(ErrorCode::SandboxFailed, format!("the sandbox's {what} was refused: {e}")))
}

fn lost(proc: &str) -> ApiError {
    ApiError::new(
        ErrorCode::Conflict,
        format!("process {proc} was lost with its sandbox (see GET …/processes): its input and logs went with it"),
    )
}

impl Session {
    /// The deployment's default and largest process lifetimes (`PROCESS_DEFAULT_SECONDS`,
    /// `PROCESS_MAX_SECONDS`).
    fn process_lifetimes(&self) -> (u64, u64) {
        let var =
            |k: &str, d: u64| self.env.var(k).ok().and_then(|v| v.to_string().trim().parse::<u64>().ok()).filter(|v| *v > 0).unwrap_or(d);
        (var("PROCESS_DEFAULT_SECONDS", DEFAULT_MAX_SECONDS), var("PROCESS_MAX_SECONDS", MAX_MAX_SECONDS))
    }

    /// The session's processes, the running ones brought up to date with the executor's word
    /// (stored as they change). A stopped container has lost them all; a lost one declared
    /// `restart: "on-wake"` is started again (same id and command) instead.
    pub(super) async fn settle_processes(&self, sid: &str) -> ApiResult<Vec<ProcessRow>> {
        Ok(self.settle_and_wake(sid).await?.0)
    }

    /// [`Session::settle_processes`], and whether a process was started again.
    async fn settle_and_wake(&self, sid: &str) -> ApiResult<(Vec<ProcessRow>, bool)> {
        let mut rows = self.with_store(|s| s.processes())?;
        if !rows.iter().any(ProcessRow::running) {
            return Ok((rows, false));
        }
        let exec = self.executor()?;
        let states = if exec.is_up() {
            let a = exec.processes(sid).await?;
            if a.status != 200 {
                return Err(sandbox_error(a.status, &a.body));
            }
            parse::<ProcessStates>(&a.body, "process list")?.processes
        } else {
            Vec::new()
        };
        let now = now_rfc3339();
        let mut woke = false;
        for row in rows.iter_mut() {
            let seen = states.iter().find(|s| s.id == row.id);
            if row.running() && seen.is_none() && row.restarts_on_wake() {
                let env = serde_json::from_str(&row.env).unwrap_or_default();
                match self.launch(sid, &exec, &row.id, &row.command, env, row.max_seconds.max(1) as u64).await {
                    Ok(_) => {
                        row.started_at = now.clone();
                        row.restarts += 1;
                        self.with_store(|s| s.update_process(row))?;
                        woke = true;
                        continue;
                    }
                    Err(e) => worker::console_error!("process {} of {sid} could not be started again: {e}", row.id),
                }
            }
            if let Some(new) = row.settled(seen, &now) {
                self.with_store(|s| s.update_process(&new))?;
                *row = new;
            }
        }
        Ok((rows, woke))
    }

    /// Starts a process on the committed workspace: the executor is brought to it first when it
    /// does not hold it. Answers the executor's state of it.
    async fn launch(
        &self,
        sid: &str,
        exec: &crate::executor::Executor,
        id: &str,
        command: &str,
        env: std::collections::BTreeMap<String, String>,
        max_secs: u64,
    ) -> ApiResult<ProcessState> {
        exec.ensure_ready().await?;
        let row = self.session()?;
        let mut req = ProcessStart { id: id.to_string(), command: command.to_string(), env, max_secs, expect_version: row.version.clone() };
        let mut a = exec.start_process(sid, &req).await?;
        if a.status == 409 {
            let e = sandbox_error(a.status, &a.body);
            if e.code != ErrorCode::WorkspaceStale {
                return Err(e);
            }
            req.expect_version = Some(self.inject(sid, exec, &row).await?);
            a = exec.start_process(sid, &req).await?;
        }
        if a.status != 201 {
            return Err(sandbox_error(a.status, &a.body));
        }
        let state: ProcessState = parse(&a.body, "process start")?;
        if state.id != req.id {
            let _ = exec.stop_process(sid, &req.id).await;
            return Err(ApiError::new(ErrorCode::SandboxFailed, "the sandbox answered the start of another process"));
        }
        Ok(state)
    }

    /// How often the workspace is committed while a process runs (`PROCESS_COMMIT_MS`, default
    /// 60 s, at least 1 s).
    fn commit_interval_ms(&self) -> i64 {
        self.ms_var("PROCESS_COMMIT_MS", DEFAULT_COMMIT_MS, 1000)
    }

    /// How often the alarm asks the executor whether a process ended while one runs
    /// (`PROCESS_POLL_MS`, default 2 s, at least 100 ms): one small `GET` of its process list.
    fn poll_ms(&self) -> i64 {
        self.ms_var("PROCESS_POLL_MS", DEFAULT_POLL_MS, 100)
    }

    fn ms_var(&self, name: &str, default: i64, least: i64) -> i64 {
        let set = self.env.var(name).ok().and_then(|v| v.to_string().trim().parse::<i64>().ok());
        set.unwrap_or(default).max(least)
    }

    /// Arms the object's alarm to ring within `ms`, unless it rings sooner already (an alarm
    /// time already past is the one ringing now, and counts as none).
    async fn arm_within(&self, ms: i64) {
        let now = js_sys::Date::now() as i64;
        let storage = self.state.storage();
        match storage.get_alarm().await {
            Ok(Some(t)) if t > now && t <= now + ms => {}
            _ => {
                let _ = storage.set_alarm(ms).await;
            }
        }
    }

    /// The alarm's work for processes (the queue is held), while one runs or one ended since the
    /// last commit: their states are brought up to date (one `GET` of the executor's list), and
    /// the workspace is committed (a run of nothing, not counted: what the processes wrote since
    /// the last commit is its delta; nothing changed, nothing is written) as soon as one is seen
    /// ended, and at the interval while one runs ([`plan_tick`]); while one runs the next tick
    /// is armed within the poll interval. Answers whether one still runs.
    pub(super) async fn tick_processes(&self, sid: &str) -> bool {
        let Ok(stored) = self.with_store(|s| s.processes()) else { return false };
        let last = self.process_commit_at.borrow().clone();
        if !stored.iter().any(ProcessRow::running) && !ended_since(&stored, last.as_deref()) {
            return false;
        }
        let rows = match self.settle_processes(sid).await {
            Ok(rows) => rows,
            Err(e) => {
                // Taken as they were last seen: a running one keeps the ticks coming.
                worker::console_error!("the processes of {sid} could not be seen: {e}");
                stored
            }
        };
        let (now, interval) = (js_sys::Date::now(), self.commit_interval_ms());
        let due_in = (self.process_commit_due.get() - now) as i64;
        let tick = plan_tick(&rows, last.as_deref(), due_in, self.poll_ms(), interval);
        let mut next = tick.next_in_ms;
        if tick.commit {
            let began = now_rfc3339();
            // A failed commit is retried at the interval (and by the next tick while the end
            // that asked for it is still not committed).
            self.process_commit_due.set(now + interval as f64);
            match self.commit_held_changes(sid).await {
                Ok(()) => *self.process_commit_at.borrow_mut() = Some(began),
                Err(e) => {
                    worker::console_error!("the commit of what the processes of {sid} wrote failed (retried): {e}");
                    next = next.or(Some(interval));
                }
            }
        }
        if let Some(ms) = next {
            self.arm_within(ms).await;
        }
        tick.next_in_ms.is_some()
    }

    /// Whether one of the session's processes runs, as last seen (the idle check keeps the
    /// container up for it).
    pub(super) fn has_running_process(&self) -> bool {
        self.with_store(|s| s.processes()).is_ok_and(|rows| rows.iter().any(ProcessRow::running))
    }

    async fn process_row(&self, sid: &str, proc: &str) -> ApiResult<ProcessRow> {
        self.session()?;
        let rows = self.settle_processes(sid).await?;
        rows.into_iter().find(|r| r.id == proc).ok_or_else(|| ApiError::not_found(format!("no process {proc} in this session")))
    }

    /// Stores what the executor answered of a process and answers the row.
    fn take_state(&self, row: &ProcessRow, state: Option<&ProcessState>) -> ApiResult<ProcessRow> {
        match row.settled(state, &now_rfc3339()) {
            Some(new) => {
                self.with_store(|s| s.update_process(&new))?;
                Ok(new)
            }
            None => Ok(row.clone()),
        }
    }

    /// Starts a process between runs (the queue is held, so no run or inject is under way), on
    /// the committed workspace: the executor is brought to it first when it does not hold it.
    pub(super) async fn handle_start_process(&self, sid: &str, spec: StartSpec) -> ApiResult<Answer> {
        let row = self.session()?;
        may_start(row.persistent != 0, 0)?;
        let (default, max) = self.process_lifetimes();
        let max_secs = lifetime(spec.max_seconds, default, max)?;
        let _guard = self.queue.lock().await;
        self.settle_setup(sid).await?;
        let live = self.settle_processes(sid).await?.iter().filter(|r| r.running()).count();
        may_start(true, live)?;
        let exec = self.executor()?;
        self.last_activity_ms.set(js_sys::Date::now());
        let id = new_id(&random_hex());
        let env_json = serde_json::to_string(&spec.env).expect("serializes");
        self.launch(sid, &exec, &id, &spec.command, spec.env, max_secs).await?;
        let row = ProcessRow {
            id: id.clone(),
            command: spec.command,
            started_at: now_rfc3339(),
            ended_at: None,
            status: "running".into(),
            exit_code: None,
            killed_by: None,
            max_seconds: max_secs as i64,
            restart: if spec.on_wake { "on-wake" } else { "never" }.into(),
            restarts: 0,
            env: env_json,
        };
        if let Err(e) = self.with_store(|s| s.insert_process(&row)) {
            // Nothing refers to it: it must not run unlisted.
            let _ = exec.stop_process(sid, &id).await;
            return Err(e);
        }
        if live == 0 {
            // The first live process: the periodic commits start from its start.
            self.process_commit_due.set(js_sys::Date::now() + self.commit_interval_ms() as f64);
        }
        self.arm_within(self.poll_ms().min(self.commit_interval_ms())).await;
        Ok(Answer::json(201, &row.info()))
    }

    pub(super) async fn handle_list_processes(&self, sid: &str) -> ApiResult<Answer> {
        self.session()?;
        let processes = self.settle_processes(sid).await?.iter().map(ProcessRow::info).collect();
        Ok(Answer::json(200, &api::ProcessList { processes }))
    }

    pub(super) async fn handle_get_process(&self, sid: &str, proc: &str) -> ApiResult<Answer> {
        Ok(Answer::json(200, &self.process_row(sid, proc).await?.info()))
    }

    /// Ends a process and everything it started; a process that already ended is answered as it is.
    pub(super) async fn handle_delete_process(&self, sid: &str, proc: &str) -> ApiResult<Answer> {
        let row = self.process_row(sid, proc).await?;
        if !row.running() {
            return Ok(Answer::json(200, &row.info()));
        }
        let a = self.executor()?.stop_process(sid, proc).await?;
        let row = match a.status {
            200 => self.take_state(&row, Some(&parse::<ProcessState>(&a.body, "process state")?))?,
            404 => self.take_state(&row, None)?,
            s => return Err(sandbox_error(s, &a.body)),
        };
        Ok(Answer::json(200, &row.info()))
    }

    pub(super) async fn handle_process_input(&self, sid: &str, proc: &str, data: &str, eof: bool) -> ApiResult<Answer> {
        let row = self.process_row(sid, proc).await?;
        if row.status == "lost" {
            return Err(lost(proc));
        }
        if !row.running() {
            return Err(ApiError::new(ErrorCode::Conflict, format!("process {proc} has ended: it takes no input")));
        }
        let a = self.executor()?.process_input(sid, proc, data.as_bytes(), eof).await?;
        match a.status {
            200 => {
                let row = self.take_state(&row, Some(&parse::<ProcessState>(&a.body, "process state")?))?;
                Ok(Answer::json(200, &row.info()))
            }
            404 => {
                self.take_state(&row, None)?;
                Err(lost(proc))
            }
            s => Err(sandbox_error(s, &a.body)),
        }
    }

    /// The port route: the request goes to the executor, which hands it to what listens on the
    /// port in the session's network namespace; the answer comes back as the app gave it.
    /// Not queued: an app answers while runs go on.
    #[allow(clippy::too_many_arguments, reason = "one HTTP request, in its parts")]
    pub(super) async fn handle_port(
        &self,
        sid: &str,
        port: u16,
        target: &str,
        method: &str,
        headers: &[(String, String)],
        length: Option<u64>,
        websocket: bool,
        req: &worker::Request,
    ) -> ApiResult<Answer> {
        self.session()?;
        let exec = self.executor()?;
        exec.ensure_ready().await?;
        self.last_activity_ms.set(js_sys::Date::now());
        // A request to a port wakes the session's processes; one started again gets up to 10 s
        // to listen (a request without a body may be sent again meanwhile).
        let woke = self.has_running_process() && self.settle_and_wake(sid).await.is_ok_and(|(_, w)| w);
        if woke && !websocket && length.unwrap_or(0) == 0 {
            let until = js_sys::Date::now() + 10_000.0;
            while js_sys::Date::now() < until {
                let probe = exec.port(sid, port, target, "", "HEAD", &[], None, None).await?;
                if probe.status_code() != 502 {
                    break;
                }
                worker::Delay::from(std::time::Duration::from_millis(100)).await;
            }
        }
        // The body is the client's only when the operation came in its header (else the body
        // was the operation, and is read).
        let body = if !websocket && req.headers().get(crate::ops::OP_HEADER).ok().flatten().is_some() { req.inner().body() } else { None };
        let prefix = format!("/api/sessions/{sid}/ports/{port}");
        let mut headers = headers.to_vec();
        if websocket {
            headers.push(("upgrade".into(), "websocket".into()));
        }
        let method = if websocket { "GET" } else { method };
        let resp = exec.port(sid, port, target, &prefix, method, &headers, body, length).await?;
        if resp.status_code() == 101 || resp.headers().has("content-encoding").unwrap_or(false) {
            return Ok(Answer::Raw(resp));
        }
        // Marked as not to be compressed on the way: a compressor holds a streamed answer back.
        let h = worker::Headers::new();
        for (k, v) in resp.headers().entries() {
            let _ = h.append(&k, &v);
        }
        let _ = h.set("content-encoding", "identity");
        Ok(Answer::Raw(resp.with_headers(h)))
    }

    /// Its logs: the rings as they are, or (`stream`) what they hold and then its output as it
    /// comes, as events (`stdout`, `stderr`), ending with an `exit` event of the process once it
    /// ended. A follower's stream carries at most 64 MiB of output; reconnect for more.
    pub(super) async fn handle_process_logs(self: &Rc<Self>, sid: &str, proc: &str, stream: Option<Form>) -> ApiResult<Answer> {
        let row = self.process_row(sid, proc).await?;
        if row.status == "lost" {
            return Err(lost(proc));
        }
        let exec = self.executor()?;
        let Some(form) = stream else {
            let a = exec.process_logs(sid, proc, MAX_LOGS_ANSWER).await?;
            if a.status == 404 {
                self.take_state(&row, None)?;
                return Err(lost(proc));
            }
            if a.status != 200 {
                return Err(sandbox_error(a.status, &a.body));
            }
            let logs: edgerun_protocol::ProcessLogs = parse(&a.body, "process logs")?;
            let row = self.take_state(&row, Some(&logs.process))?;
            return Ok(Answer::json(
                200,
                &api::ProcessLogs {
                    stdout: logs.stdout,
                    stderr: logs.stderr,
                    stdout_dropped: logs.stdout_dropped,
                    stderr_dropped: logs.stderr_dropped,
                    process: row.info(),
                },
            ));
        };
        let mut resp = exec.follow_process(sid, proc).await?;
        if resp.status_code() == 404 {
            self.take_state(&row, None)?;
            return Err(lost(proc));
        }
        if resp.status_code() != 200 {
            return Err(crate::executor::error_from(&mut resp).await);
        }
        let mut body = resp.stream().map_err(|e| ApiError::new(ErrorCode::SandboxFailed, format!("the sandbox's log stream: {e}")))?;
        let (events, out) = Events::open(form, self.keep_alive_ms())?;
        let this = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let mut records = Records::default();
            let ended: ApiResult<serde_json::Value> = async {
                while let Some(chunk) = body.next().await {
                    let chunk =
                        chunk.map_err(|e| ApiError::new(ErrorCode::SandboxFailed, format!("reading the sandbox's log stream: {e}")))?;
                    for r in records.push(&chunk)? {
                        match r {
                            Record::Output(o, bytes) => events.output(o, &bytes),
                            Record::Answer(json) => {
                                let state: ProcessState = parse(&json, "process state")?;
                                let row = this.take_state(&row, Some(&state))?;
                                return Ok(serde_json::to_value(row.info()).expect("serializes"));
                            }
                            Record::Error(b) => return Err(sandbox_error(500, &b)),
                        }
                    }
                }
                Err(ApiError::new(ErrorCode::SandboxFailed, "the sandbox's log stream ended before the process did"))
            }
            .await;
            events.finish(ended);
        });
        Ok(Answer::Events(out))
    }
}
