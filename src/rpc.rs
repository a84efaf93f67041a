//! The transport of `ops`: one `POST` per operation to a Durable Object, its answer read back as
//! a type (registry) or relayed as it is (session objects answer in the public API's shapes).
use crate::core::error::{ApiError, ApiResult};
use crate::ops::{RegistryOp, SessionOp, OP_HEADER};
use edgerun_protocol::ErrorCode;
use serde::de::DeserializeOwned;
use worker::{Env, Headers, Method, Request, RequestInit, Response};

/// Header carrying the session id from the Worker to its object.
pub const SESSION_HEADER: &str = "x-edgerun-session";
/// Name of the registry object.
pub const REGISTRY: &str = "registry";
/// Binding of the session objects.
const SESSIONS: &str = "SESSIONS";
/// Binding of the registry.
const REGISTRY_BINDING: &str = "REGISTRY";

#[allow(clippy::needless_pass_by_value, reason = "a `map_err` adapter takes the error by value")]
pub fn internal(e: worker::Error) -> ApiError {
    ApiError::new(ErrorCode::Internal, format!("worker error: {e}"))
}

/// Builds an operation's request (the host is ignored by the object): the operation as the JSON
/// body, or, with `payload` (an upload's bytes or stream), in [`OP_HEADER`].
fn op_request(op: &impl serde::Serialize, name: &str, payload: Option<wasm_bindgen::JsValue>) -> ApiResult<Request> {
    let json = serde_json::to_string(op).expect("operations serialize");
    let headers = Headers::new();
    let _ = headers.set(SESSION_HEADER, name);
    let mut init = RequestInit::new();
    init.with_method(Method::Post);
    match payload {
        Some(p) => {
            let _ = headers.set(OP_HEADER, &json);
            let _ = headers.set("content-type", "application/octet-stream");
            init.with_body(Some(p));
        }
        None => {
            let _ = headers.set("content-type", "application/json");
            init.with_body(Some(wasm_bindgen::JsValue::from_str(&json)));
        }
    }
    init.with_headers(headers);
    Request::new_with_init("https://object/op", &init).map_err(internal)
}

/// Sends a request to the object `name` of `binding` and returns its response as is.
async fn send(env: &Env, binding: &str, name: &str, req: Request) -> ApiResult<Response> {
    let ns = env.durable_object(binding).map_err(internal)?;
    let stub = ns.get_by_name(name).map_err(internal)?;
    stub.fetch_with_request(req).await.map_err(|e| ApiError::new(ErrorCode::Internal, format!("{binding} object: {e}")))
}

/// Asks the session object `sid` to do `op` and returns its answer unread (it is in the public
/// API's shape and goes to the client as it is).
pub async fn session(env: &Env, sid: &str, op: &SessionOp) -> ApiResult<Response> {
    send(env, SESSIONS, sid, op_request(op, sid, None)?).await
}

/// [`session`] for an upload: the body (bytes or a `ReadableStream`) is the file.
pub async fn session_upload(env: &Env, sid: &str, op: &SessionOp, body: wasm_bindgen::JsValue) -> ApiResult<Response> {
    send(env, SESSIONS, sid, op_request(op, sid, Some(body))?).await
}

/// [`session`] for a WebSocket upgrade: a `GET` that asks to upgrade, the operation in its
/// header; the object's answer (a `101` with the socket) comes back as it is.
pub async fn session_websocket(env: &Env, sid: &str, op: &SessionOp) -> ApiResult<Response> {
    let json = serde_json::to_string(op).expect("operations serialize");
    let headers = Headers::new();
    let _ = headers.set(SESSION_HEADER, sid);
    let _ = headers.set(OP_HEADER, &json);
    let _ = headers.set("upgrade", "websocket");
    let mut init = RequestInit::new();
    init.with_method(Method::Get).with_headers(headers);
    let req = Request::new_with_init("https://object/op", &init).map_err(internal)?;
    send(env, SESSIONS, sid, req).await
}

/// [`session`] with the answer read as `T`; an error answer becomes the error it carries.
pub async fn session_typed<T: DeserializeOwned>(env: &Env, sid: &str, op: &SessionOp) -> ApiResult<(u16, T)> {
    read_typed(session(env, sid, op).await?, "session").await
}

/// Asks the registry to do `op` and reads its answer as `T`.
pub async fn registry<T: DeserializeOwned>(env: &Env, op: &RegistryOp) -> ApiResult<T> {
    let resp = send(env, REGISTRY_BINDING, REGISTRY, op_request(op, REGISTRY, None)?).await?;
    read_typed(resp, "registry").await.map(|(_, v)| v)
}

async fn read_typed<T: DeserializeOwned>(mut resp: Response, who: &str) -> ApiResult<(u16, T)> {
    let status = resp.status_code();
    let bytes = resp.bytes().await.map_err(internal)?;
    if !(200..300).contains(&status) {
        return Err(ApiError::from_body(status, &bytes));
    }
    let v = serde_json::from_slice(&bytes).map_err(|e| ApiError::new(ErrorCode::Internal, format!("{who} answer: {e}")))?;
    Ok((status, v))
}

/// The object side: reads the operation of a call (and leaves an upload's body unread).
pub async fn read_op<T: DeserializeOwned>(req: &mut Request) -> ApiResult<T> {
    let header = req.headers().get(OP_HEADER).map_err(internal)?;
    let body = if header.is_some() { Vec::new() } else { req.bytes().await.unwrap_or_default() };
    crate::ops::decode(header.as_deref(), &body).map_err(|m| ApiError::new(ErrorCode::Internal, m))
}
