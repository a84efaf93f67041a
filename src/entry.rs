//! The Worker's fetch handler: auth, routing, validation, then a hop to the session's Durable
//! Object. Every error leaves here in the API's JSON shape.
use crate::core::error::{ApiError, ApiResult};
use crate::core::ids::check_session_id;
use crate::core::request::parse_plugin;
use crate::session::{error_response, json_response, SESSION_HEADER};
use edgerun_protocol::ErrorCode;
use serde_json::json;
use worker::{event, Context, Env, Headers, Method, Request, RequestInit, Response, Result};

/// Largest request body accepted on JSON routes (code is ≤ 1 MiB; the rest is headroom).
const MAX_JSON_BODY: usize = 2 * 1024 * 1024;

#[event(start)]
fn start() {
    console_error_panic_hook::set_once();
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    match route(req, &env).await {
        Ok(r) => Ok(r),
        Err(e) => error_response(&e),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i % b.len().max(1)).copied().unwrap_or(0));
    }
    diff == 0
}

fn check_auth(req: &Request, env: &Env) -> ApiResult<()> {
    let Some(token) = env.secret("API_TOKEN").ok().map(|s| s.to_string()).or_else(|| env.var("API_TOKEN").ok().map(|v| v.to_string())).filter(|t| !t.is_empty()) else {
        return Ok(());
    };
    let given = req.headers().get("authorization").ok().flatten().unwrap_or_default();
    let given = given.strip_prefix("Bearer ").unwrap_or("");
    if constant_time_eq(given.as_bytes(), token.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::new(ErrorCode::Unauthorized, "missing or wrong bearer token"))
    }
}

async fn read_body(req: &mut Request, limit: usize) -> ApiResult<Vec<u8>> {
    if let Ok(Some(len)) = req.headers().get("content-length") {
        if len.parse::<usize>().map(|l| l > limit).unwrap_or(false) {
            return Err(ApiError::new(ErrorCode::TooLarge, format!("request body over {limit} bytes")));
        }
    }
    let body = req.bytes().await.map_err(|e| ApiError::bad(format!("unreadable body: {e}")))?;
    if body.len() > limit {
        return Err(ApiError::new(ErrorCode::TooLarge, format!("request body over {limit} bytes")));
    }
    Ok(body)
}

async fn route(mut req: Request, env: &Env) -> ApiResult<Response> {
    let path = req.path();
    let method = req.method();
    if path == "/health" {
        if method != Method::Get {
            return Err(ApiError::new(ErrorCode::MethodNotAllowed, "use GET /health"));
        }
        return json_response(200, &json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")})).map_err(internal);
    }
    check_auth(&req, env)?;
    if path == "/" {
        if method != Method::Post {
            return Err(ApiError::new(ErrorCode::MethodNotAllowed, "use POST /?session=<id>"));
        }
        let url = req.url().map_err(|e| ApiError::bad(format!("bad url: {e}")))?;
        let sid = url.query_pairs().find(|(k, _)| k == "session").map(|(_, v)| v.to_string());
        let sid = sid.ok_or_else(|| ApiError::bad("the `session` query parameter is required: POST /?session=<id>"))?;
        check_session_id(&sid)?;
        let body = read_body(&mut req, MAX_JSON_BODY).await?;
        let spec = parse_plugin(&body)?;
        return forward(env, &sid, "/plugin", serde_json::to_vec(&spec).expect("serializes")).await;
    }
    Err(ApiError::not_found(format!("no route for {} {}", method, path)))
}

fn internal(e: worker::Error) -> ApiError {
    ApiError::new(ErrorCode::Internal, format!("worker error: {e}"))
}

/// Hands an already validated request to the session's Durable Object.
async fn forward(env: &Env, sid: &str, op: &str, body: Vec<u8>) -> ApiResult<Response> {
    let ns = env.durable_object("SESSIONS").map_err(internal)?;
    let stub = ns.get_by_name(sid).map_err(internal)?;
    let headers = Headers::new();
    let _ = headers.set(SESSION_HEADER, sid);
    let _ = headers.set("content-type", "application/json");
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_headers(headers).with_body(Some(js_sys::Uint8Array::from(body.as_slice()).into()));
    let req = Request::new_with_init(&format!("https://session{op}"), &init).map_err(internal)?;
    stub.fetch_with_request(req).await.map_err(|e| ApiError::new(ErrorCode::Internal, format!("session object: {e}")))
}
