//! The Worker's fetch handler: auth, routing, validation, then a hop to the session's Durable
//! Object (or the registry). Every error leaves here in the API's JSON shape.
use crate::core::api::{DeletedAll, Health, SessionList};
use crate::core::error::{ApiError, ApiResult};
use crate::core::ids::{check_session_id, session_id_from_bytes};
use crate::core::request::{idempotency, MAX_UPLOAD_BYTES};
use crate::core::request::{
    language, parse_create, parse_duplicate, parse_limit, parse_object, parse_patch, parse_plugin, parse_run, parse_setup,
    parse_stored_code, req_str, CodeSource,
};
use crate::core::route::{parse as parse_route, Asset, Route};
use crate::core::sse::Form;
use crate::core::web::{check_json_type, check_origin, refuses_every_coding};
use crate::ops::{Claim, Done, RegistryOp, SessionOp};
use crate::platform::{error_response, json_response, now_rfc3339, random_bytes};
use crate::registry::client as registry;
use crate::rpc::{internal, session as forward, session_upload};
use edgerun_protocol::ErrorCode;
use worker::{event, Context, Env, Headers, Request, Response, Result};

/// Largest request body accepted on JSON routes (code is ≤ 1 MiB; data 128 KiB; the rest headroom).
const MAX_JSON_BODY: usize = 2 * 1024 * 1024;

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let accept = client_accept_encoding(&req);
    let resp = match route(req, &env).await {
        Ok(r) => r,
        Err(e) => error_response(&e)?,
    };
    if !refuses_every_coding(&accept) {
        return Ok(resp);
    }
    // The platform would refuse this answer with a text 415 (`core::web`): mark it identity.
    let headers = Headers::new();
    for (k, v) in resp.headers().entries() {
        headers.set(&k, &v)?;
    }
    headers.set("content-encoding", "identity")?;
    Ok(resp.with_headers(headers))
}

/// The client's own `Accept-Encoding`: the platform hands the Worker its own value and keeps the
/// client's in `request.cf.clientAcceptEncoding`.
fn client_accept_encoding(req: &Request) -> String {
    let get = |o: &wasm_bindgen::JsValue, k: &str| js_sys::Reflect::get(o, &k.into()).ok().filter(|v| !v.is_undefined() && !v.is_null());
    let from_cf = get(req.inner(), "cf").and_then(|cf| get(&cf, "clientAcceptEncoding")).and_then(|v| v.as_string());
    from_cf.or_else(|| req.headers().get("accept-encoding").ok().flatten()).unwrap_or_default()
}

/// Compares in time that depends only on the lengths, never on where the bytes differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i % b.len().max(1)).copied().unwrap_or(0));
    }
    diff == 0
}

/// The key of signed port addresses (`PORT_URL_SECRET`), when the deployment has one.
fn port_secret(env: &Env) -> Option<String> {
    let s = env.secret("PORT_URL_SECRET").ok().map(|s| s.to_string()).or_else(|| env.var("PORT_URL_SECRET").ok().map(|v| v.to_string()));
    s.filter(|t| !t.is_empty())
}

fn api_token(env: &Env) -> Option<String> {
    let token = env.secret("API_TOKEN").ok().map(|s| s.to_string()).or_else(|| env.var("API_TOKEN").ok().map(|v| v.to_string()));
    token.filter(|t| !t.is_empty())
}

/// With a token: the bearer check. Open (no token): the cross-site check of `core::web`.
fn check_auth(req: &Request, env: &Env) -> ApiResult<()> {
    let Some(token) = api_token(env) else {
        let origin = req.headers().get("origin").ok().flatten();
        let url = req.url().map_err(|e| ApiError::bad(format!("bad url: {e}")))?;
        return check_origin(origin.as_deref(), url.as_str());
    };
    let given = req.headers().get("authorization").ok().flatten().unwrap_or_default();
    let given = given.strip_prefix("Bearer ").unwrap_or("");
    if constant_time_eq(given.as_bytes(), token.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::new(ErrorCode::Unauthorized, "missing or wrong bearer token (Authorization: Bearer <API_TOKEN>)"))
    }
}

/// Reads a JSON route's body: refused unless declared `application/json` (when there is one),
/// then as [`read_body`].
async fn read_json(req: &mut Request) -> ApiResult<Vec<u8>> {
    let headers = req.headers().clone();
    let declared = headers.get("content-length").ok().flatten().and_then(|l| l.trim().parse::<u64>().ok());
    let chunked = headers.get("transfer-encoding").ok().flatten().is_some();
    let has_body = declared.map(|l| l > 0).unwrap_or(chunked);
    check_json_type(headers.get("content-type").ok().flatten().as_deref(), has_body)?;
    let body = read_body(req, MAX_JSON_BODY).await?;
    // A body that arrived without a declared length or transfer coding is judged once read.
    if !has_body {
        check_json_type(headers.get("content-type").ok().flatten().as_deref(), !body.is_empty())?;
    }
    Ok(body)
}

/// Reads a body, refusing it before reading when its declared length is over the limit.
async fn read_body(req: &mut Request, limit: usize) -> ApiResult<Vec<u8>> {
    let too_large = || ApiError::new(ErrorCode::TooLarge, format!("request body over {limit} bytes"));
    if let Ok(Some(len)) = req.headers().get("content-length") {
        if len.trim().parse::<u64>().map(|l| l > limit as u64).unwrap_or(false) {
            return Err(too_large());
        }
    }
    let body = req.bytes().await.map_err(|e| ApiError::bad(format!("unreadable body: {e}")))?;
    if body.len() > limit {
        return Err(too_large());
    }
    Ok(body)
}

fn query(req: &Request, key: &str) -> ApiResult<Option<String>> {
    let url = req.url().map_err(|e| ApiError::bad(format!("bad url: {e}")))?;
    Ok(url.query_pairs().find(|(k, _)| k == key).map(|(_, v)| v.to_string()))
}

/// Whether a run route is asked for Server-Sent Events: `accept: text/event-stream`, or
/// `?stream=1` (or `true`) for clients that cannot set headers.
fn stream_form(req: &Request) -> ApiResult<Option<Form>> {
    let accept = req.headers().get("accept").ok().flatten().unwrap_or_default();
    let wants = accept.split(',').any(|t| t.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("text/event-stream"));
    let flag = match query(req, "stream")?.as_deref() {
        None | Some("0") | Some("false") => false,
        Some("1") | Some("true") => true,
        Some(v) => return Err(ApiError::bad(format!("`stream` must be 1, true, 0 or false, got {v:?}"))),
    };
    Ok((wants || flag).then_some(Form::Api))
}

/// The `Idempotency-Key` header, if sent.
fn idempotency_key(req: &Request) -> Option<String> {
    req.headers().get("idempotency-key").ok().flatten()
}

fn new_session_id() -> String {
    session_id_from_bytes(random_bytes())
}

async fn route(mut req: Request, env: &Env) -> ApiResult<Response> {
    // The method as sent: workers-rs reads any method it does not know (PROPFIND, FOO) as GET,
    // which would serve them as reads; the router answers them 405 like any other method.
    let route = parse_route(&req.inner().method(), &req.path())?;
    // The two routes that need no token: they hold no secret and touch no session.
    match route {
        Route::Health => return json_response(200, &Health::ok()).map_err(internal),
        Route::OpenApi => return openapi_response().map_err(internal),
        Route::Playground(asset) => return playground(asset).map_err(internal),
        _ => {}
    }
    // A signed address of a port (`core::ports`) stands in for the token on the port route.
    let mut route = route;
    let mut set_cookie = None;
    let signed = match &mut route {
        Route::Port(sid, port, path) => {
            let secret = port_secret(env);
            let now = (js_sys::Date::now() / 1000.0) as u64;
            let refused = || ApiError::new(ErrorCode::Unauthorized, "this signed address is not valid here, or it expired");
            if let Some((token, rest)) = crate::core::ports::split_token(path) {
                let secret = secret.ok_or_else(refused)?;
                if !crate::core::ports::verify(secret.as_bytes(), sid, *port, token, now) {
                    return Err(refused());
                }
                let exp: u64 = token.split_once('.').and_then(|(e, _)| e.parse().ok()).unwrap_or(now);
                let https = req.url().map(|u| u.scheme() == "https").unwrap_or(false);
                set_cookie = Some(crate::core::ports::set_cookie(token, sid, *port, exp.saturating_sub(now), https));
                *path = rest.to_string();
                true
            } else {
                let cookie = req.headers().get("cookie").ok().flatten().unwrap_or_default();
                match (secret, crate::core::ports::cookie_token(&cookie)) {
                    (Some(secret), Some(token)) => crate::core::ports::verify(secret.as_bytes(), sid, *port, token, now),
                    _ => false,
                }
            }
        }
        _ => false,
    };
    if !signed {
        check_auth(&req, env)?;
    }
    match route {
        Route::Health | Route::OpenApi | Route::Playground(_) => unreachable!("answered above"),
        Route::Plugin => {
            let sid =
                query(&req, "session")?.ok_or_else(|| ApiError::bad("the `session` query parameter is required: POST /?session=<id>"))?;
            check_session_id(&sid)?;
            let body = read_json(&mut req).await?;
            let idempotency = idempotency(idempotency_key(&req).as_deref(), "plugin", &body)?;
            let spec = parse_plugin(&body)?;
            forward(env, &sid, &SessionOp::Plugin { spec, idempotency, stream: stream_form(&req)? }).await
        }
        Route::CreateSession => {
            let body = read_json(&mut req).await?;
            let idempotency = idempotency(idempotency_key(&req).as_deref(), "create", &body)?;
            let mut spec = parse_create(&body)?;
            if let Some(i) = &idempotency {
                match crate::rpc::registry::<Claim>(env, &RegistryOp::ClaimKey { key: i.key.clone(), hash: i.hash.clone() }).await? {
                    Claim::Fresh => {}
                    Claim::Replay { answer } => return json_response(201, &answer).map_err(internal),
                    Claim::Busy => {
                        return Err(ApiError::new(ErrorCode::Conflict, "a create with this Idempotency-Key is under way; retry"))
                    }
                    Claim::Mismatch => {
                        return Err(ApiError::new(
                            ErrorCode::Conflict,
                            "this Idempotency-Key was first used with another request; use a new key",
                        ))
                    }
                }
            }
            let sid = spec.id.get_or_insert_with(new_session_id).clone();
            let created = create_session(env, &sid, spec).await;
            let Some(i) = idempotency else { return created };
            // The first answer is kept for retries; a failure frees the key.
            let mut resp = match created {
                Ok(r) => r,
                Err(e) => {
                    let _ = crate::rpc::registry::<Done>(env, &RegistryOp::ReleaseKey { key: i.key }).await;
                    return Err(e);
                }
            };
            let status = resp.status_code();
            let bytes = resp.bytes().await.map_err(internal)?;
            match serde_json::from_slice::<serde_json::Value>(&bytes) {
                Ok(answer) if status == 201 => {
                    crate::rpc::registry::<Done>(env, &RegistryOp::CompleteKey { key: i.key, answer: answer.clone() }).await?;
                    json_response(201, &answer).map_err(internal)
                }
                _ => {
                    let _ = crate::rpc::registry::<Done>(env, &RegistryOp::ReleaseKey { key: i.key }).await;
                    Err(ApiError::from_body(status, &bytes))
                }
            }
        }
        Route::ListSessions => {
            let limit = parse_limit(query(&req, "limit")?.as_deref(), 100, 1000)?;
            let page = registry::list(env, limit, query(&req, "cursor")?.as_deref()).await?;
            json_response(200, &SessionList::new(page.sessions, page.cursor)).map_err(internal)
        }
        Route::DeleteAllSessions => {
            let done: DeletedAll = crate::rpc::registry(env, &crate::ops::RegistryOp::DeleteAll).await?;
            json_response(200, &done).map_err(internal)
        }
        Route::GetSession(sid) => forward(env, &sid, &SessionOp::Get).await,
        Route::PatchSession(sid) => {
            let spec = parse_patch(&read_json(&mut req).await?)?;
            forward(env, &sid, &SessionOp::Patch { spec }).await
        }
        Route::PutCode(sid) => {
            let spec = parse_stored_code(&read_json(&mut req).await?)?;
            forward(env, &sid, &SessionOp::PutCode { spec }).await
        }
        Route::GetCode(sid) => forward(env, &sid, &SessionOp::GetCode).await,
        Route::DeleteSession(sid) => delete_session(env, &sid).await,
        Route::Mcp(flavor) => {
            let body = read_json(&mut req).await?;
            crate::mcp::handle(req, env, flavor, body).await
        }
        Route::Run(sid) => {
            let body = read_json(&mut req).await?;
            let idempotency = idempotency(idempotency_key(&req).as_deref(), "run", &body)?;
            let spec = parse_run(&body, None, CodeSource::OrStored)?;
            forward(env, &sid, &SessionOp::Run { spec, idempotency, stream: stream_form(&req)? }).await
        }
        Route::StreamRun(sid) => {
            let body = read_json(&mut req).await?;
            let idempotency = idempotency(idempotency_key(&req).as_deref(), "stream", &body)?;
            let spec = parse_run(&body, None, CodeSource::OrStored)?;
            forward(env, &sid, &SessionOp::Run { spec, idempotency, stream: Some(Form::Era) }).await
        }
        Route::GetSetup(sid) => forward(env, &sid, &SessionOp::GetSetup { stream: stream_form(&req)? }).await,
        Route::Cancel(sid) => forward(env, &sid, &SessionOp::Cancel).await,
        Route::CreateContext(sid) => {
            let body = read_json(&mut req).await?;
            let language = crate::core::contexts::parse_create(&body)?;
            forward(env, &sid, &SessionOp::CreateContext { language }).await
        }
        Route::ListContexts(sid) => forward(env, &sid, &SessionOp::ListContexts).await,
        Route::DeleteContext(sid, ctx) => forward(env, &sid, &SessionOp::DeleteContext { ctx }).await,
        Route::StartProcess(sid) => {
            let spec = crate::core::processes::parse_start(&read_json(&mut req).await?)?;
            forward(env, &sid, &SessionOp::StartProcess { spec }).await
        }
        Route::ListProcesses(sid) => forward(env, &sid, &SessionOp::ListProcesses).await,
        Route::GetProcess(sid, proc) => forward(env, &sid, &SessionOp::GetProcess { proc }).await,
        Route::DeleteProcess(sid, proc) => forward(env, &sid, &SessionOp::DeleteProcess { proc }).await,
        Route::ProcessLogs(sid, proc) => forward(env, &sid, &SessionOp::ProcessLogs { proc, stream: stream_form(&req)? }).await,
        Route::PortUrl(sid, port) => {
            let expires_in = crate::core::ports::parse_url_request(&read_json(&mut req).await?)?;
            let origin = req.url().map_err(|e| ApiError::bad(format!("bad url: {e}")))?.origin().ascii_serialization();
            port_url(env, &sid, port, expires_in, &origin).await
        }
        Route::Port(sid, port, path) => {
            let query = req.url().map_err(|e| ApiError::bad(format!("bad url: {e}")))?.query().map(|q| format!("?{q}")).unwrap_or_default();
            let mut headers: Vec<(String, String)> = Vec::new();
            for (k, v) in req.headers().entries() {
                if k.eq_ignore_ascii_case("cookie") {
                    // The signed address's cookie is the runtime's, not the app's.
                    headers.extend(crate::core::ports::without_our_cookie(&v).map(|c| (k, c)));
                } else if crate::core::ports::forwardable(&k) {
                    headers.push((k, v));
                }
            }
            let length = req.headers().get("content-length").ok().flatten().and_then(|l| l.trim().parse::<u64>().ok());
            let websocket = req.headers().get("upgrade").ok().flatten().is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
            let op = SessionOp::Port { port, target: format!("{path}{query}"), method: req.inner().method(), headers, length, websocket };
            let resp = match req.inner().body() {
                _ if websocket => crate::rpc::session_websocket(env, &sid, &op).await?,
                Some(body) => session_upload(env, &sid, &op, body.into()).await?,
                None => forward(env, &sid, &op).await?,
            };
            if resp.status_code() == 101 {
                return Ok(resp);
            }
            let Some(cookie) = set_cookie else { return Ok(resp) };
            let h = Headers::new();
            for (k, v) in resp.headers().entries() {
                let _ = h.append(&k, &v);
            }
            let _ = h.append("set-cookie", &cookie);
            Ok(resp.with_headers(h))
        }
        Route::ProcessInput(sid, proc) => {
            let (data, eof) = crate::core::processes::parse_input(&read_json(&mut req).await?)?;
            forward(env, &sid, &SessionOp::ProcessInput { proc, data, eof }).await
        }
        Route::GetRun(sid, run_id) => forward(env, &sid, &SessionOp::GetRun { run_id }).await,
        Route::Runs(sid) => {
            let limit = parse_limit(query(&req, "limit")?.as_deref(), 20, 100)?;
            forward(env, &sid, &SessionOp::Runs { limit }).await
        }
        Route::Setup(sid) => {
            let body = parse_object(&read_json(&mut req).await?)?;
            if !body.contains_key("setup") {
                return Err(ApiError::invalid_field("`setup` is required"));
            }
            let spec = parse_setup(&body)?;
            forward(env, &sid, &SessionOp::Setup { spec }).await
        }
        Route::Duplicate(sid) => {
            let target = parse_duplicate(&read_json(&mut req).await?)?.unwrap_or_else(new_session_id);
            forward(env, &sid, &SessionOp::Duplicate { target }).await
        }
        Route::ListFiles(sid) => forward(env, &sid, &SessionOp::ListFiles).await,
        Route::GetFile(sid, path) => forward(env, &sid, &SessionOp::GetFile { path }).await,
        Route::DeleteFile(sid, path) => forward(env, &sid, &SessionOp::DeleteFile { path }).await,
        Route::PutFile(sid, path) => {
            let declared = req.headers().get("content-length").ok().flatten().and_then(|l| l.trim().parse::<u64>().ok());
            let (body, length): (wasm_bindgen::JsValue, u64) = match declared {
                // A body of known length streams through to R2: no Worker or object holds it whole.
                Some(len) if len <= MAX_UPLOAD_BYTES as u64 => match req.inner().body() {
                    Some(stream) => (stream.into(), len),
                    None => (js_sys::Uint8Array::new_with_length(0).into(), 0),
                },
                Some(_) => return Err(ApiError::new(ErrorCode::TooLarge, format!("a file may be at most {MAX_UPLOAD_BYTES} bytes"))),
                // Chunked, without a length: read (bounded), then sent on with its length.
                None => {
                    let bytes = read_body(&mut req, MAX_UPLOAD_BYTES).await?;
                    let len = bytes.len() as u64;
                    (js_sys::Uint8Array::from(bytes.as_slice()).into(), len)
                }
            };
            session_upload(env, &sid, &SessionOp::PutFile { path, length }, body).await
        }
        Route::Execute => {
            let body = read_json(&mut req).await?;
            let lang = language(req_str(&parse_object(&body)?, "language")?)?;
            let spec = parse_run(&body, Some(lang), CodeSource::Required)?;
            let sid = format!("exec_{}", &new_session_id()[5..]);
            forward(env, &sid, &SessionOp::Execute { spec, stream: stream_form(&req)? }).await
        }
    }
}

/// A signed, expiring address of a session's port (`core::ports`), under `origin`.
pub(crate) async fn port_url(env: &Env, sid: &str, port: u16, expires_in: u64, origin: &str) -> ApiResult<Response> {
    let secret = port_secret(env)
        .ok_or_else(|| ApiError::new(ErrorCode::Conflict, "signed port addresses are off: this deployment has no PORT_URL_SECRET"))?;
    let exists = forward(env, sid, &SessionOp::Get).await?;
    if exists.status_code() != 200 {
        return Ok(exists);
    }
    let exp = (js_sys::Date::now() / 1000.0) as u64 + expires_in;
    let token = crate::core::ports::sign(secret.as_bytes(), sid, port, exp);
    let expires_at = String::from(js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(exp as f64 * 1000.0)).to_iso_string());
    let answer = crate::core::api::PortUrl {
        url: format!("{origin}/api/sessions/{sid}/ports/{port}/{}{token}/", crate::core::ports::TOKEN_SEGMENT),
        expires_at,
        port: u64::from(port),
    };
    json_response(201, &answer).map_err(internal)
}

/// Deletes a session; it leaves the list only once it is gone (or was never there).
pub(crate) async fn delete_session(env: &Env, sid: &str) -> ApiResult<Response> {
    let resp = forward(env, sid, &SessionOp::Delete).await?;
    if resp.status_code() == 200 || resp.status_code() == 404 {
        registry::remove(env, sid).await?;
    }
    Ok(resp)
}

/// Lists, then creates a session (a session that exists is never missing from the list); a
/// create the object failed is taken off the list again.
pub(crate) async fn create_session(env: &Env, sid: &str, spec: crate::core::request::CreateSpec) -> ApiResult<Response> {
    let added = registry::add(env, sid, spec.language.as_str(), &now_rfc3339()).await?;
    let resp = forward(env, sid, &SessionOp::Create { spec }).await?;
    if resp.status_code() >= 500 && added {
        let _ = registry::remove(env, sid).await;
    }
    Ok(resp)
}

/// The playground: a static page and its script and style, served without a token (they hold
/// no secret; every call the page makes needs the token like any client's). Scripts run only from
/// this origin, and the page cannot be framed.
fn playground(asset: Asset) -> Result<Response> {
    let (body, content_type) = match asset {
        Asset::Page => (include_str!("playground/index.html"), "text/html; charset=utf-8"),
        Asset::Script => (include_str!("playground/playground.js"), "text/javascript; charset=utf-8"),
        Asset::Style => (include_str!("playground/playground.css"), "text/css; charset=utf-8"),
    };
    let resp = Response::ok(body)?;
    let h = resp.headers();
    h.set("content-type", content_type)?;
    h.set("x-content-type-options", "nosniff")?;
    h.set(
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    )?;
    h.set("cache-control", "no-cache")?;
    Ok(resp)
}

/// The API's OpenAPI document: the committed file, which a test keeps equal to what the code
/// generates (`core::openapi`, `--features schema`); served as is, so the Worker holds no schema code.
const OPENAPI_JSON: &str = include_str!("../docs/openapi.json");

fn openapi_response() -> Result<Response> {
    let resp = Response::ok(OPENAPI_JSON)?;
    let _ = resp.headers().set("content-type", "application/json");
    let _ = resp.headers().set("x-content-type-options", "nosniff");
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"", b"secret"));
        assert!(!constant_time_eq(b"secret", b""));
        assert!(!constant_time_eq(b"secretsecret", b"secret"));
        let long = vec![b'a'; 256];
        assert!(!constant_time_eq(b"", &long), "lengths that differ by 256 must not compare equal");
    }
}
