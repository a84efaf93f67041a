//! Calls between the Worker and Durable Objects (and between objects): one request, JSON or
//! bytes in, status and bytes out, errors in the API's shape.
use crate::core::error::{ApiError, ApiResult};
use edgerun_protocol::ErrorCode;
use worker::{Env, Headers, Method, Request, RequestInit, Response};

/// Header carrying the session id from the Worker to its object.
pub const SESSION_HEADER: &str = "x-edgerun-session";
/// Name of the registry object.
pub const REGISTRY: &str = "registry";

#[allow(clippy::needless_pass_by_value, reason = "a `map_err` adapter takes the error by value")]
pub fn internal(e: worker::Error) -> ApiError {
    ApiError::new(ErrorCode::Internal, format!("worker error: {e}"))
}

/// Header carrying an upload's length from the Worker to the object, whether its body arrives
/// whole or as a stream.
pub const LENGTH_HEADER: &str = "x-edgerun-length";

/// Builds a request to an object (the host is ignored by the object).
pub fn object_request(method: Method, path: &str, sid: &str, body: Option<&[u8]>, content_type: &str) -> ApiResult<Request> {
    object_request_with(method, path, sid, body.map(|b| js_sys::Uint8Array::from(b).into()), content_type, None)
}

/// [`object_request`] with any body the runtime takes (bytes or a `ReadableStream`) and, for
/// uploads, the body's length in [`LENGTH_HEADER`].
pub fn object_request_with(
    method: Method,
    path: &str,
    sid: &str,
    body: Option<wasm_bindgen::JsValue>,
    content_type: &str,
    length: Option<u64>,
) -> ApiResult<Request> {
    let headers = Headers::new();
    let _ = headers.set(SESSION_HEADER, sid);
    let _ = headers.set("content-type", content_type);
    if let Some(n) = length {
        let _ = headers.set(LENGTH_HEADER, &n.to_string());
    }
    let mut init = RequestInit::new();
    init.with_method(method).with_headers(headers);
    if let Some(b) = body {
        init.with_body(Some(b));
    }
    Request::new_with_init(&format!("https://object{path}"), &init).map_err(internal)
}

/// Sends a request to the object `name` of `binding` and returns its response as is.
pub async fn send(env: &Env, binding: &str, name: &str, req: Request) -> ApiResult<Response> {
    let ns = env.durable_object(binding).map_err(internal)?;
    let stub = ns.get_by_name(name).map_err(internal)?;
    stub.fetch_with_request(req).await.map_err(|e| ApiError::new(ErrorCode::Internal, format!("{binding} object: {e}")))
}

/// Calls an object with a JSON body and reads a JSON answer; non-2xx answers become errors.
pub async fn call_json(
    env: &Env,
    binding: &str,
    name: &str,
    method: Method,
    path: &str,
    body: &serde_json::Value,
) -> ApiResult<serde_json::Value> {
    let bytes = serde_json::to_vec(body).expect("json serializes");
    let req = object_request(method, path, name, Some(&bytes), "application/json")?;
    let mut resp = send(env, binding, name, req).await?;
    let status = resp.status_code();
    let out = resp.bytes().await.map_err(internal)?;
    if !(200..300).contains(&status) {
        return Err(ApiError::from_body(status, &out));
    }
    serde_json::from_slice(&out).map_err(|e| ApiError::new(ErrorCode::Internal, format!("{binding} answer: {e}")))
}
