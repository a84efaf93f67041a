//! The executor's one error type, rendered to the API's JSON error shape in exactly one place.
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use edgerun_protocol::{ErrorBody, ErrorCode};

#[derive(Debug)]
pub struct AppError {
    pub code: ErrorCode,
    pub message: String,
}

impl AppError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        AppError { code, message: message.into() }
    }
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

pub type AppResult<T> = Result<T, AppError>;
