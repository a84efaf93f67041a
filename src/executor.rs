//! The session's executor, reached through the Durable Object's container or, where no container
//! binding exists (local development, tests), through `EXECUTOR_URL`.
//!
//! Only "not ready" is retried (a container still starting), within a bounded budget with
//! backoff, then the caller gets a 503. A request that may already have run is never retried.

use crate::core::error::{ApiError, ApiResult};
use crate::core::lifecycle::{self, Health, Sandbox, Sleeper, Startup, READY_BUDGET};
use edgerun_protocol::{frame, ApplyRequest, ErrorCode, RunRequest, SessionState, SECRET_HEADER};
use worker::{Container, Delay, Fetch, Headers, Method, Request, RequestInit};

/// Bound of answers whose body only says how things went (health, apply, delete).
const SMALL_ANSWER: usize = 64 * 1024;

/// The executor's path of one session's route (`suffix` empty for the session itself).
fn session_path(sid: &str, suffix: &str) -> String {
    format!("/v1/sessions/{sid}{suffix}")
}

pub enum Target {
    Url(String),
    Container(Container),
}

pub struct Executor {
    target: Target,
    secret: Option<String>,
    /// The container's start options (containers only; refused when no secret is configured).
    startup: Option<Startup>,
}

pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

/// A request body: bytes, a value the runtime holds (a `Blob` of R2 packs, never copied through
/// wasm), or a stream (an inject assembled from R2 packs as they are read).
pub enum Body {
    Bytes(Vec<u8>),
    Js(wasm_bindgen::JsValue),
    Stream(web_sys::ReadableStream),
}

/// Turns a Rust byte stream into a JS `ReadableStream` usable as a request body.
pub fn js_stream(stream: impl futures_util::Stream<Item = worker::Result<Vec<u8>>> + 'static) -> web_sys::ReadableStream {
    use futures_util::TryStreamExt;
    let js = stream
        .map_ok(|v| wasm_bindgen::JsValue::from(js_sys::Uint8Array::from(v.as_slice())))
        .map_err(|e| wasm_bindgen::JsValue::from(e.to_string()));
    wasm_streams::ReadableStream::from_stream(js).into_raw()
}

impl Executor {
    pub fn new(container: Option<Container>, url: Option<String>, settings: lifecycle::StartSettings) -> ApiResult<Executor> {
        let startup = match &container {
            Some(_) => Some(lifecycle::startup(&settings)?),
            None => None,
        };
        let secret = settings.secret;
        let target = match (container, url) {
            (Some(c), _) => Target::Container(c),
            (None, Some(u)) if !u.is_empty() => Target::Url(u.trim_end_matches('/').to_string()),
            _ => {
                return Err(ApiError::new(
                    ErrorCode::SandboxUnavailable,
                    "no sandbox is configured: deploy with a container binding, or set EXECUTOR_URL (`npm run dev` starts a local executor and sets it)",
                ))
            }
        };
        Ok(Executor { target, secret, startup })
    }

    fn request(&self, base: &str, method: Method, path: &str, body: Option<Body>, content_type: &str) -> ApiResult<Request> {
        let headers = Headers::new();
        let _ = headers.set("content-type", content_type);
        if let Some(s) = &self.secret {
            let _ = headers.set(SECRET_HEADER, s);
        }
        let mut init = RequestInit::new();
        init.with_method(method).with_headers(headers);
        match body {
            Some(Body::Bytes(b)) => {
                init.with_body(Some(js_sys::Uint8Array::from(b.as_slice()).into()));
            }
            Some(Body::Js(v)) => {
                init.with_body(Some(v));
            }
            Some(Body::Stream(s)) => {
                init.with_body(Some(s.into()));
            }
            None => {}
        }
        Request::new_with_init(&format!("{base}{path}"), &init)
            .map_err(|e| ApiError::new(ErrorCode::Internal, format!("building executor request: {e}")))
    }

    /// Makes sure a container is running and its executor answers `/health` (the rules and their
    /// tests are in `core::lifecycle`).
    pub async fn ensure_ready(&self) -> ApiResult<()> {
        let Target::Container(c) = &self.target else { return Ok(()) };
        lifecycle::ensure_ready(&ContainerSandbox { exec: self, container: c }, &WorkerSleeper, READY_BUDGET).await
    }

    /// `POST /v1/sessions/{sid}/run`: the answer unread (its header is checked and its tar
    /// streamed on by the caller).
    pub async fn run(&self, sid: &str, req: &RunRequest) -> ApiResult<worker::Response> {
        let body = Body::Bytes(serde_json::to_vec(req).expect("requests serialize"));
        self.fetch(Method::Post, &session_path(sid, "/run"), Some(body), "application/json").await
    }

    /// `POST /v1/sessions/{sid}/run?stream=1`: the answer as records (output as it comes, then
    /// the answer and its tar; see `edgerun_protocol::RECORD_STDOUT`), unread.
    pub async fn run_streamed(&self, sid: &str, req: &RunRequest) -> ApiResult<worker::Response> {
        let body = Body::Bytes(serde_json::to_vec(req).expect("requests serialize"));
        self.fetch(Method::Post, &session_path(sid, "/run?stream=1"), Some(body), "application/json").await
    }

    /// `POST /v1/sessions/{sid}/cancel`: ends the session's running run (404 when none runs).
    pub async fn cancel(&self, sid: &str) -> ApiResult<Answer> {
        self.send(Method::Post, &session_path(sid, "/cancel"), None, "application/json", SMALL_ANSWER).await
    }

    /// `POST /v1/sessions/{sid}/inject`: a framed [`edgerun_protocol::InjectRequest`] and its
    /// packs, as bytes or a stream.
    pub async fn inject(&self, sid: &str, framed: Body) -> ApiResult<worker::Response> {
        self.fetch(Method::Post, &session_path(sid, "/inject"), Some(framed), "application/octet-stream").await
    }

    /// `POST /v1/sessions/{sid}/apply`: an upload or delete, applied to the version it expects.
    pub async fn apply(&self, sid: &str, req: &ApplyRequest, content: &[u8]) -> ApiResult<Answer> {
        self.send(Method::Post, &session_path(sid, "/apply"), Some(frame(req, content)), "application/octet-stream", SMALL_ANSWER).await
    }

    /// `POST /v1/sessions/{sid}/snapshot`: the whole workspace at `version`, read up to `limit`.
    pub async fn snapshot(&self, sid: &str, version: &str, limit: usize) -> ApiResult<Answer> {
        let body = serde_json::to_vec(&SessionState { version: Some(version.to_string()) }).expect("requests serialize");
        self.send(Method::Post, &session_path(sid, "/snapshot"), Some(body), "application/json", limit).await
    }

    /// `DELETE /v1/sessions/{sid}/contexts/{ctx}`: the context's interpreter is stopped.
    pub async fn stop_context(&self, sid: &str, ctx: &str) -> ApiResult<Answer> {
        self.send(Method::Delete, &session_path(sid, &format!("/contexts/{ctx}")), None, "application/json", SMALL_ANSWER).await
    }

    /// `POST /v1/sessions/{sid}/processes`: starts a background process on the version it expects.
    pub async fn start_process(&self, sid: &str, req: &edgerun_protocol::ProcessStart) -> ApiResult<Answer> {
        let body = serde_json::to_vec(req).expect("requests serialize");
        self.send(Method::Post, &session_path(sid, "/processes"), Some(body), "application/json", SMALL_ANSWER).await
    }

    /// `GET /v1/sessions/{sid}/processes`: the states of the processes the executor holds.
    pub async fn processes(&self, sid: &str) -> ApiResult<Answer> {
        self.send(Method::Get, &session_path(sid, "/processes"), None, "application/json", SMALL_ANSWER).await
    }

    /// `DELETE /v1/sessions/{sid}/processes/{proc}`: ends it and everything it started.
    pub async fn stop_process(&self, sid: &str, proc: &str) -> ApiResult<Answer> {
        self.send(Method::Delete, &session_path(sid, &format!("/processes/{proc}")), None, "application/json", SMALL_ANSWER).await
    }

    /// `GET /v1/sessions/{sid}/processes/{proc}/logs`: its rings, read up to `limit`.
    pub async fn process_logs(&self, sid: &str, proc: &str, limit: usize) -> ApiResult<Answer> {
        self.send(Method::Get, &session_path(sid, &format!("/processes/{proc}/logs")), None, "application/json", limit).await
    }

    /// `GET /v1/sessions/{sid}/processes/{proc}/logs?follow=1`: records of its output until it
    /// ends, unread.
    pub async fn follow_process(&self, sid: &str, proc: &str) -> ApiResult<worker::Response> {
        self.fetch(Method::Get, &session_path(sid, &format!("/processes/{proc}/logs?follow=1")), None, "application/json").await
    }

    /// `POST /v1/sessions/{sid}/processes/{proc}/stdin`: writes `data` (and closes the input with `eof`).
    pub async fn process_input(&self, sid: &str, proc: &str, data: &[u8], eof: bool) -> ApiResult<Answer> {
        let path = session_path(sid, &format!("/processes/{proc}/stdin{}", if eof { "?eof=1" } else { "" }));
        self.send(Method::Post, &path, Some(data.to_vec()), "application/octet-stream", SMALL_ANSWER).await
    }

    /// Any method on `/v1/sessions/{sid}/ports/{port}`: the request for the session's app on
    /// `port` (its path and query in the target header, its headers as the client's that may go
    /// on, its body streamed: with its length when the client gave one), answered unread.
    #[allow(clippy::too_many_arguments, reason = "one HTTP request, in its parts")]
    pub async fn port(
        &self,
        sid: &str,
        port: u16,
        target: &str,
        prefix: &str,
        method: &str,
        headers: &[(String, String)],
        body: Option<web_sys::ReadableStream>,
        length: Option<u64>,
    ) -> ApiResult<worker::Response> {
        use wasm_bindgen::JsCast;
        let bad = |e: wasm_bindgen::JsValue| ApiError::new(ErrorCode::Internal, format!("building the port request: {e:?}"));
        let h = Headers::new();
        for (k, v) in headers {
            // A header the runtime will not take is left out rather than failing the request.
            let _ = h.append(k, v);
        }
        if let Some(s) = &self.secret {
            let _ = h.set(SECRET_HEADER, s);
        }
        let _ = h.set(edgerun_protocol::PORT_TARGET_HEADER, target);
        let _ = h.set(edgerun_protocol::PORT_PREFIX_HEADER, prefix);
        let init = web_sys::RequestInit::new();
        init.set_method(method);
        init.set_headers(&h.0.into());
        let body = match (body, length) {
            (Some(b), Some(len)) => {
                // A known length goes on as the request's `content-length` (apps read bodies by it).
                let fixed = worker::worker_sys::FixedLengthStream::new_big_int(js_sys::BigInt::from(len)).map_err(bad)?;
                let piped = b.pipe_to(&fixed.writable());
                wasm_bindgen_futures::spawn_local(async move {
                    let _ = wasm_bindgen_futures::JsFuture::from(piped).await;
                });
                Some(fixed.readable())
            }
            (b, _) => b,
        };
        if let Some(b) = &body {
            init.set_body(b.unchecked_ref());
        }
        let base = match &self.target {
            Target::Url(u) => u.clone(),
            Target::Container(_) => "http://container".to_string(),
        };
        let url = format!("{base}{}", session_path(sid, &format!("/ports/{port}")));
        let req: Request = web_sys::Request::new_with_str_and_init(&url, &init).map_err(bad)?.into();
        let sent = match &self.target {
            Target::Url(_) => Fetch::Request(req).send().await,
            Target::Container(c) => {
                let fetcher =
                    c.get_tcp_port(8080).map_err(|e| ApiError::new(ErrorCode::SandboxUnavailable, format!("sandbox port: {e}")))?;
                fetcher.fetch_request(req).await
            }
        };
        sent.map_err(|e| ApiError::new(ErrorCode::SandboxUnavailable, format!("the sandbox did not answer the port request ({e})")))
    }

    /// `DELETE /v1/sessions/{sid}`: the session's files, user and groups are removed.
    pub async fn delete(&self, sid: &str) -> ApiResult<Answer> {
        self.send(Method::Delete, &session_path(sid, ""), None, "application/json", SMALL_ANSWER).await
    }

    /// `GET /health`.
    async fn health(&self) -> ApiResult<Answer> {
        self.send(Method::Get, "/health", None, "application/json", SMALL_ANSWER).await
    }

    /// Sends one request, once, and reads the whole answer, refused past `limit` bytes (the
    /// answer is untrusted: see `core::answer`).
    async fn send(&self, method: Method, path: &str, body: Option<Vec<u8>>, content_type: &str, limit: usize) -> ApiResult<Answer> {
        let mut resp = self.fetch(method, path, body.map(Body::Bytes), content_type).await?;
        let status = resp.status_code();
        let body = read_bounded(&mut resp, limit).await?;
        Ok(Answer { status, body })
    }

    /// Sends one request, once, and hands back the answer unread (to be streamed on).
    async fn fetch(&self, method: Method, path: &str, body: Option<Body>, content_type: &str) -> ApiResult<worker::Response> {
        let result = match &self.target {
            Target::Url(base) => {
                let req = self.request(base, method, path, body, content_type)?;
                Fetch::Request(req).send().await
            }
            Target::Container(c) => {
                let fetcher =
                    c.get_tcp_port(8080).map_err(|e| ApiError::new(ErrorCode::SandboxUnavailable, format!("sandbox port: {e}")))?;
                let req = self.request("http://container", method, path, body, content_type)?;
                fetcher.fetch_request(req).await
            }
        };
        result.map_err(|e| {
            let hint = match &self.target {
                Target::Url(u) => format!("no executor answered at {u} ({e}); start the local stack with `npm run dev`"),
                Target::Container(_) => format!("the sandbox container did not answer ({e})"),
            };
            ApiError::new(ErrorCode::SandboxUnavailable, hint)
        })
    }

    /// Whether a sandbox is up right now (a local executor always counts as up).
    pub fn is_up(&self) -> bool {
        match &self.target {
            Target::Url(_) => true,
            Target::Container(c) => c.running(),
        }
    }

    /// Destroys the container (session deleted); a no-op for a shared local executor.
    pub async fn destroy(&self) {
        if let Target::Container(c) = &self.target {
            let _ = c.destroy(None).await;
        }
    }
}

/// Reads an answer's body, failing (`sandbox_failed`) once it runs past `limit` bytes rather
/// than holding whatever the sandbox chose to send.
pub async fn read_bounded(resp: &mut worker::Response, limit: usize) -> ApiResult<Vec<u8>> {
    use futures_util::StreamExt;
    let failed = |m: String| ApiError::new(ErrorCode::SandboxFailed, m);
    let mut stream = match resp.stream() {
        Ok(s) => s,
        Err(_) => return Ok(Vec::new()), // no body
    };
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| failed(format!("reading the sandbox's answer: {e}")))?;
        if out.len() + chunk.len() > limit {
            return Err(failed(format!("the sandbox's answer runs past {limit} bytes")));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// An error answer of the sandbox, read (bounded) and relayed with a bounded message.
pub async fn error_from(resp: &mut worker::Response) -> ApiError {
    let status = resp.status_code();
    match read_bounded(resp, crate::core::answer::MAX_ERROR_BODY).await {
        Ok(b) => crate::core::answer::sandbox_error(status, &b),
        Err(e) => e,
    }
}

/// The session's container as `core::lifecycle` sees it.
struct ContainerSandbox<'a> {
    exec: &'a Executor,
    container: &'a Container,
}

impl Sandbox for ContainerSandbox<'_> {
    fn running(&self) -> bool {
        self.container.running()
    }
    fn start(&self) -> Result<(), String> {
        let startup = self.exec.startup.as_ref().ok_or("no start options (no EXECUTOR_SECRET)")?;
        start_container(self.container, startup)
    }
    async fn destroy(&self) {
        let _ = self.container.destroy(None).await;
    }
    async fn health(&self) -> Health {
        match self.exec.health().await {
            Ok(a) if a.status == 200 => Health::Ready,
            Ok(a) if a.status >= 500 => Health::NotReady(format!("health answered {}", a.status)),
            Ok(a) => Health::Failed(format!("health answered {}", a.status)),
            Err(e) => lifecycle::classify(&e.message),
        }
    }
}

/// Calls the runtime's `container.start(options)` with a plain object: `env` must be a record of
/// strings (workers-rs 0.8.7's `ContainerStartupOptions` hands over a JS `Map`, whose entries are
/// not an object's properties, so the environment would arrive empty).
fn start_container(container: &Container, startup: &Startup) -> Result<(), String> {
    use wasm_bindgen::{JsCast, JsValue};
    let js_err = |e: JsValue| format!("{e:?}");
    let env = js_sys::Object::new();
    for (k, v) in &startup.env {
        js_sys::Reflect::set(&env, &JsValue::from_str(k), &JsValue::from_str(v)).map_err(js_err)?;
    }
    let options = js_sys::Object::new();
    js_sys::Reflect::set(&options, &JsValue::from_str("env"), &env).map_err(js_err)?;
    js_sys::Reflect::set(&options, &JsValue::from_str("enableInternet"), &JsValue::from_bool(startup.enable_internet)).map_err(js_err)?;
    let this: &JsValue = container.as_ref();
    let start = js_sys::Reflect::get(this, &JsValue::from_str("start")).map_err(js_err)?;
    let start = start.dyn_into::<js_sys::Function>().map_err(|_| "container.start is not a function".to_string())?;
    start.call1(this, &options).map(|_| ()).map_err(js_err)
}

struct WorkerSleeper;

impl Sleeper for WorkerSleeper {
    async fn sleep(&self, ms: u64) {
        Delay::from(std::time::Duration::from_millis(ms)).await;
    }
}
