//! hoptrail's HTTP API. Invariant: every handler answers JSON (errors included), reads only
//! committed index state, and runs index work off the async runtime's worker threads.

mod api_error;
mod app_state;
mod http;

pub use api_error::ApiError;
pub use app_state::{AppState, Readiness};
pub use http::router;

/// Serves the API on `listener` until `shutdown` resolves, then drains in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
