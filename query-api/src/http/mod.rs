//! The router: one module per resource, merged here.

mod alerts;
mod events;
mod health;
pub(crate) mod openapi;
mod paths;
mod replay;
mod tenant;

use std::time::Duration;

use axum::Router;
use tower_http::timeout::TimeoutLayer;

use crate::{ApiError, AppState};

/// Longest a request may take before it is answered 408.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest request body: the API takes its input in the URL, so anything big is hostile.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// The whole API.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(health::router())
        .merge(events::router())
        .merge(paths::router())
        .merge(alerts::router())
        .merge(openapi::router())
        .merge(replay::router())
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        // Layers wrap each route, so the gate sees the matched route template.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::auth::guard::guard,
        ))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// `/metrics` with no gate: only for a listener the operator keeps private.
pub fn metrics_only_router(state: AppState) -> Router {
    health::metrics_router().with_state(state)
}
