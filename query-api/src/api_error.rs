//! The API's one error type. Invariant: a 5xx body reveals nothing of the cause; the cause is
//! logged instead.

use axum::http::{header, HeaderValue, StatusCode};
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
    /// No key, or a key that is malformed, unknown, revoked or expired: deliberately one answer.
    #[error("missing or invalid API key")]
    Unauthorized,
    /// A valid key whose role does not cover the route.
    #[error("this key's role does not allow this route")]
    Forbidden,
    /// The key used up its request budget; retry after the duration.
    #[error("rate limit exceeded; retry later")]
    RateLimited(std::time::Duration),
    /// The query string is longer than the API accepts.
    #[error("query string too long")]
    UriTooLong,
    /// The request took longer than the API allows.
    #[error("the request took longer than {0:?}; narrow it")]
    Timeout(std::time::Duration),
    /// A dependency of answering is down (the audit log).
    #[error("{0}")]
    Unavailable(&'static str),
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
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::RateLimited(_) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::UriTooLong => (StatusCode::URI_TOO_LONG, "uri_too_long"),
            ApiError::Timeout(_) => (StatusCode::REQUEST_TIMEOUT, "timeout"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl From<IndexError> for ApiError {
    fn from(e: IndexError) -> Self {
        match e {
            IndexError::Query(message) => ApiError::BadRequest(format!("q: {message}")),
            IndexError::BadCursor => ApiError::BadRequest("cursor: malformed".into()),
            e @ IndexError::TooBroad { .. } => ApiError::BadRequest(e.to_string()),
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
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        match &self {
            ApiError::Unauthorized => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"hoptrail\""),
                );
            }
            ApiError::RateLimited(wait) => {
                // Whole seconds, rounded up, never 0: a client retrying at once would be refused again.
                let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                headers.insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
            }
            _ => {}
        }
        response
    }
}
