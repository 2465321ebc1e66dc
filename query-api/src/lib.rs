//! hoptrail's HTTP API. Invariant: every handler answers JSON (errors included), reads only
//! committed index state of the caller's tenant, and runs index work off the async runtime's
//! worker threads; every route but the probes sits behind the key gate in `auth`.

mod api_error;
mod app_state;
pub mod audit_log;
pub mod auth;
mod http;
pub mod tls;

pub use api_error::ApiError;
pub use app_state::{AppState, Readiness};
pub use http::openapi::document as openapi_document;
pub use http::router;
pub use tls::TlsFiles;

/// Serves the API on `listener` until `shutdown` resolves, then drains in-flight requests
/// (for at most `drain`). With `tls`, the listener speaks HTTPS only.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    tls: Option<TlsFiles>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let Some(files) = tls else {
        return axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await;
    };
    let config = tls::load(&files).await?;
    let handle = axum_server::Handle::new();
    let on_stop = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        on_stop.graceful_shutdown(Some(DRAIN_TIMEOUT));
    });
    axum_server::from_tcp_rustls(listener.into_std()?, config)?
        .handle(handle)
        .serve(app)
        .await
}

/// Longest wait for in-flight requests after a shutdown signal, on the TLS listener.
const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Serves `/metrics` alone, without a key, for a Prometheus on a private interface.
pub async fn serve_metrics(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, http::metrics_only_router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
