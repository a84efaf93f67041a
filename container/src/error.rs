//! The executor's one error type, rendered to the API's JSON error shape in exactly one place.
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use edgerun_protocol::{ErrorBody, ErrorCode};

/// An error the API answers with: a code (and so the HTTP status) and a message.
#[derive(Debug)]
pub struct AppError {
    /// Machine-readable code; decides the answer's HTTP status.
    pub code: ErrorCode,
    /// Human-readable explanation, sent as the body's `error`.
    pub message: String,
}

impl AppError {
    /// An error answered with `code` and `message` as given.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        AppError { code, message: message.into() }
    }
    /// An `internal` error for an unexpected failure, logged here at `error` level: the caller sees
    /// only `executor error: <e>`.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "internal error");
        AppError::new(ErrorCode::Internal, format!("executor error: {e}"))
    }
}

impl From<std::io::Error> for AppError {
    fn from(e: std::io::Error) -> Self {
        AppError::internal(e)
    }
}

impl From<crate::workspace::SyncError> for AppError {
    fn from(e: crate::workspace::SyncError) -> Self {
        match e {
            crate::workspace::SyncError::Refused(m) => AppError::new(ErrorCode::BadRequest, m),
            crate::workspace::SyncError::Io(e) => AppError::internal(e),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(ErrorBody { error: self.message, code: self.code })).into_response()
    }
}

/// What handlers and session operations return: their value, or the error they answer with.
pub type AppResult<T> = Result<T, AppError>;
