//! The API's one error type. Invariant: a 5xx body reveals nothing of the cause; the cause is
//! logged instead.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use hoptrail_indexer::IndexError;

/// An error answer: status, stable code, human message.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed (bad parameter, bad query string).
    #[error("{0}")]
    BadRequest(String),
    /// Nothing there (or nothing this caller may see).
    #[error("{0}")]
    NotFound(String),
    /// The route exists but not with this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// Our fault; details are in the log only.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl From<IndexError> for ApiError {
    fn from(e: IndexError) -> Self {
        match e {
            IndexError::Query(message) => ApiError::BadRequest(format!("q: {message}")),
            IndexError::BadCursor => ApiError::BadRequest("cursor: malformed".into()),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if let ApiError::Internal(detail) = &self {
            tracing::error!(error = %detail, "request failed");
        }
        let body = serde_json::json!({"error": {"code": code, "message": self.to_string()}});
        (status, Json(body)).into_response()
    }
}
