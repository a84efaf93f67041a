//! The Worker's one error type, mapped to the API's `{"error", "code"}` shape and status.
use edgerun_protocol::{ErrorBody, ErrorCode};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError { code, message: message.into() }
    }
    pub fn bad(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::BadRequest, message)
    }
    pub fn invalid_field(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::InvalidField, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::NotFound, message)
    }
    pub fn status(&self) -> u16 {
        self.code.status()
    }
    pub fn body(&self) -> ErrorBody {
        ErrorBody { error: self.message.clone(), code: self.code }
    }
    /// The answer's body, built from the API's error type ([`super::api::Error`]).
    pub fn to_json(&self) -> String {
        let body = super::api::Error { error: self.message.clone(), code: self.code.as_str().to_string() };
        serde_json::to_string(&body).expect("error bodies serialize")
    }
    /// Rebuilds an error from a JSON error body (from the executor or a Durable Object).
    pub fn from_body(status: u16, body: &[u8]) -> ApiError {
        match serde_json::from_slice::<ErrorBody>(body) {
            Ok(b) => ApiError { code: b.code, message: b.error },
            Err(_) => ApiError::new(
                ErrorCode::SandboxFailed,
                format!("the sandbox answered {status}: {}", String::from_utf8_lossy(&body[..body.len().min(300)])),
            ),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code.as_str())
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_render_the_contract_shape() {
        let e = ApiError::bad("session id is required");
        assert_eq!(e.status(), 400);
        let v: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(v["error"], "session id is required");
        assert_eq!(v["code"], "bad_request");
        let back = ApiError::from_body(400, e.to_json().as_bytes());
        assert_eq!(back, e);
        let opaque = ApiError::from_body(500, b"<html>oops</html>");
        assert_eq!(opaque.code, ErrorCode::SandboxFailed);
    }
}
