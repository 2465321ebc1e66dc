//! Liveness, readiness and metrics.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

pub(crate) fn metrics_router() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "`{\"status\": \"ok\"}`", body = Object)))]
pub(crate) async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// Readiness: the index is open and the consumer (when configured) runs.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, body = Object), (status = 503, description = "The consumer stopped", body = Object)))]
pub(crate) async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let consumer = state.readiness.consumer();
    let body = json!({
        "index": "open",
        "events": state.searcher.num_docs(),
        "consumer": match consumer { None => "not configured", Some(true) => "running", Some(false) => "stopped" },
    });
    let status = if consumer == Some(false) {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (status, Json(body))
}

/// Prometheus metrics (admin keys; or unauthenticated on `--metrics-listen`).
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain"),
        (status = 401, body = super::openapi::ErrorBody), (status = 403, body = super::openapi::ErrorBody)),
    security(("api_key" = [])))]
pub(crate) async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let body = state.metrics.render(state.searcher.num_docs());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}
