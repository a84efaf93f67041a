//! The little the Worker takes from its platform, in one place: JSON responses in the API's
//! shapes, the clock, randomness and the test failpoints. Every other module may use it; it
//! uses only `core`.
use crate::core::error::ApiError;
use worker::{Response, Result};

/// The time now, as RFC 3339 (what the API shows).
pub fn now_rfc3339() -> String {
    String::from(js_sys::Date::new_0().to_iso_string())
}

/// A JSON answer with `status`, serialized from a typed body (`core::api`).
pub fn json_response<T: serde::Serialize>(status: u16, v: &T) -> Result<Response> {
    let resp = Response::from_json(v)?.with_status(status);
    let _ = resp.headers().set("x-content-type-options", "nosniff");
    Ok(resp)
}

/// The API's error shape, `{"error", "code"}`, with the code's status.
pub fn error_response(e: &ApiError) -> Result<Response> {
    let resp = Response::ok(e.to_json())?.with_status(e.status());
    let _ = resp.headers().set("content-type", "application/json");
    let _ = resp.headers().set("x-content-type-options", "nosniff");
    Ok(resp)
}

/// 16 random bytes from the platform's CSPRNG.
pub fn random_bytes() -> [u8; 16] {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).expect("the platform has a random source");
    b
}

/// 32 hex digits from [`random_bytes`].
pub fn random_hex() -> String {
    random_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether the test failpoint `name` is set (the `FAILPOINT` var, which `npm test` checks is never
/// configured for deploy).
/// A test-only failpoint, switched on by the `FAILPOINT` var (the deploy dry run asserts it unset).
pub fn failpoint(env: &worker::Env, name: &str) -> bool {
    env.var("FAILPOINT").map(|v| v.to_string().split(',').any(|f| f == name)).unwrap_or(false)
}
