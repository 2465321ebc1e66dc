//! The one identifier a route takes in its URL path. axum's own `Path` answers a malformed one
//! (percent-encoding that is not UTF-8) in plain text; every answer of this API is JSON.

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;

use crate::ApiError;

/// The route's single path parameter, percent-decoded.
pub(crate) struct PathId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<String>::from_request_parts(parts, state).await {
            Ok(Path(id)) => Ok(PathId(id)),
            Err(rejection) => Err(ApiError::BadRequest(format!(
                "path: {}",
                rejection.body_text()
            ))),
        }
    }
}
